"""BOHB's model: TPE-style good/bad kernel density estimates per budget, and the proposal rule that samples
from the good one and keeps the candidate with the best density ratio.

Falkner, Klein and Hutter, 2018, "BOHB: robust and efficient hyperparameter optimization at scale", ICML
(sec. 3.1 and algorithm 2), as hpbandster 0.7.4 implements it (`optimizers/config_generators/bohb.py`):

- every told result is kept per budget as (vector, loss); a failed result has loss inf (hpbandster: "we
  decided to assign a +inf loss and count them as bad configurations"), so it sorts last and lands in the bad
  set. A result on a budget below the largest budget that already has a model is ignored, as in hpbandster;
- once a budget holds n >= min_points_in_model results (default d + 1 for d coordinates), the n_good =
  max(min_points_in_model, top_n_percent * n // 100) best form the good set and the next n_bad =
  max(min_points_in_model, (100 - top_n_percent) * n // 100) the bad set; both are refitted after every result
  (only when each set has more than d rows);
- each density is a product kernel over the coordinates (statsmodels' `KDEMultivariate` as hpbandster uses it):
  a Gaussian kernel for a continuous coordinate, Aitchison-Aitken for a categorical one (1 - h on the same
  value, h / (k - 1) on each other), bandwidths by the normal-reference rule h = 1.06 sigma n^(-1/(4+d)),
  clipped below at min_bandwidth;
- a proposal is a random draw from the prior with probability random_fraction (always, while no budget has a
  model); otherwise num_samples candidates are drawn from the good density of the largest budget with a model,
  its continuous bandwidths widened by bandwidth_factor (truncated to [0, 1]; a categorical coordinate keeps
  the datum's value with probability 1 - h, else takes a uniform value), and the candidate with the smallest
  max(g(x), 1e-32) / max(l(x), 1e-32) (bad over good density) is taken.

The model works on `Space.to_vector` coordinates (0 = continuous in [0, 1], k = a categorical index with k
values), so it runs on every space. Pending jobs are not modelled: like hpbandster, the model sees told
results only. Departures from hpbandster, and why:
- a categorical kernel uses the coordinate's k values, and its bandwidth is at most (k - 1) / k (the uniform
  kernel); statsmodels counts the values present in the fitted data instead and bounds h by 1, which divides
  by zero when a good set holds one value only (hpbandster's "sampled vector has EI value inf" branch) and
  gives negative kernel values when h > (k - 1) / k;
- inactive coordinates need no imputation: `to_vector` gives them their default's coordinate (hpbandster
  imputes NaNs from random rows with numpy's global generator);
- candidates are ranked by the density ratio on their sampled vectors (as hpbandster) and the best one that
  decodes to a valid point (`from_vector`) is taken, so a candidate that violates a forbidden clause is skipped
  instead of throwing the whole model-based pick away for a random one; when none decodes, the pick is random;
- every random number comes from the caller's generator.
"""
from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from scipy.special import logsumexp, ndtr, ndtri

__all__ = ["KDE", "KDEProposer", "KDE_OPTIONS"]

#: hpbandster's floor on both densities in the ratio
_LOG_FLOOR = math.log(1e-32)
_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
KDE_OPTIONS = ("min_points_in_model", "top_n_percent", "num_samples", "random_fraction", "bandwidth_factor",
               "min_bandwidth")


class KDE:
    """A product-kernel density over vectors of mixed coordinates (see the module docstring).

    `data` (n, d): the fitted vectors; `kinds`: per coordinate 0 (continuous) or k (categorical with k values)."""

    def __init__(self, data: np.ndarray, kinds: Sequence[int], min_bandwidth: float) -> None:
        self.data = np.asarray(data, dtype=np.float64)
        if self.data.ndim != 2 or self.data.shape[0] < 1 or self.data.shape[1] != len(kinds):
            raise ValueError(f"kde data: must have shape (n >= 1, {len(kinds)}), got {self.data.shape}")
        self.kinds = np.asarray(kinds, dtype=int)
        self.continuous = self.kinds == 0
        n, d = self.data.shape
        bw = 1.06 * self.data.std(axis=0) * n ** (-1.0 / (4 + d))
        bw = np.maximum(bw, min_bandwidth)
        cat = ~self.continuous
        bw[cat] = np.minimum(bw[cat], (np.maximum(self.kinds[cat], 2) - 1) / np.maximum(self.kinds[cat], 2))
        self.bw = bw

    def log_pdf(self, X: np.ndarray) -> np.ndarray:
        """The log density at each row of X (m, d)."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        diff = X[:, None, :] - self.data[None, :, :]            # (m, n, d)
        logk = np.empty_like(diff)
        c, h = self.continuous, self.bw
        logk[..., c] = -0.5 * (diff[..., c] / h[c]) ** 2 - _LOG_SQRT_2PI - np.log(h[c])
        cat = ~c
        if cat.any():
            k = self.kinds[cat]
            same = np.abs(diff[..., cat]) < 0.5
            other = np.where(k > 1, h[cat] / np.maximum(k - 1, 1), 1.0)  # a one-value coordinate: kernel 1
            logk[..., cat] = np.where(same, np.log1p(-h[cat]) * (k > 1), np.log(other))
        return logsumexp(logk.sum(axis=2), axis=1) - math.log(self.data.shape[0])

    def sample_widened(self, rng: np.random.Generator, size: int, factor: float) -> np.ndarray:
        """`size` vectors around random rows of the data: continuous coordinates from a normal with the
        bandwidth times `factor`, truncated to [0, 1]; a categorical one keeps the row's value with probability
        1 - h, else takes a uniform value (hpbandster's candidate sampling)."""
        rows = self.data[rng.integers(self.data.shape[0], size=size)]
        X = rows.copy()
        c = self.continuous
        if c.any():
            m, s = rows[:, c], factor * self.bw[c]
            lo, hi = ndtr(-m / s), ndtr((1.0 - m) / s)        # the mean lies in [0, 1]: no tail troubles
            u = lo + (hi - lo) * rng.random(m.shape)
            X[:, c] = np.clip(m + s * ndtri(u), 0.0, 1.0)
        cat = ~c
        if cat.any():
            keep = rng.random((size, int(cat.sum()))) < 1.0 - self.bw[cat]
            other = rng.integers(0, np.maximum(self.kinds[cat], 1), size=(size, int(cat.sum())))
            X[:, cat] = np.where(keep, rows[:, cat], other)
        return X


class KDEProposer:
    """BOHB's model over one space's vectors: `observe` told results, `propose` new points.

    Options (hpbandster's names and defaults): min_points_in_model (None: d + 1; at least d + 1),
    top_n_percent (15), num_samples (64), random_fraction (1/3), bandwidth_factor (3), min_bandwidth (1e-3)."""

    def __init__(self, kinds: Sequence[int], *, min_points_in_model: int | None = None, top_n_percent: float = 15,
                 num_samples: int = 64, random_fraction: float = 1 / 3, bandwidth_factor: float = 3.0,
                 min_bandwidth: float = 1e-3) -> None:
        self.kinds = [int(k) for k in kinds]
        d = len(self.kinds)
        if min_points_in_model is None:
            min_points_in_model = d + 1
        _check_int("min_points_in_model", min_points_in_model, d + 1, f" (the space has {d} coordinates)")
        _check_int("num_samples", num_samples, 1)
        _check_range("top_n_percent", top_n_percent, 0, 100, "a number in (0, 100)", low_open=True, high_open=True)
        _check_range("random_fraction", random_fraction, 0, 1, "a number in [0, 1]")
        _check_range("bandwidth_factor", bandwidth_factor, 0, math.inf, "a number > 0", low_open=True)
        _check_range("min_bandwidth", min_bandwidth, 0, math.inf, "a number > 0", low_open=True)
        self.min_points_in_model = int(min_points_in_model)
        self.top_n_percent = float(top_n_percent)
        self.num_samples = int(num_samples)
        self.random_fraction = float(random_fraction)
        self.bandwidth_factor = float(bandwidth_factor)
        self.min_bandwidth = float(min_bandwidth)
        self.vectors: dict[float, list[np.ndarray]] = {}
        self.losses: dict[float, list[float]] = {}
        self.models: dict[float, tuple[KDE, KDE]] = {}   # budget -> (good, bad)

    def observe(self, vector: np.ndarray, loss: float, budget: float) -> None:
        """Add one told result (loss inf for a failure) and refit that budget's densities when they can be."""
        budget = float(budget)
        if self.models and max(self.models) > budget:
            return
        loss = float(loss) if math.isfinite(loss) else math.inf
        self.vectors.setdefault(budget, []).append(np.asarray(vector, dtype=np.float64))
        self.losses.setdefault(budget, []).append(loss)
        n, d = len(self.losses[budget]), len(self.kinds)
        if n < self.min_points_in_model:
            return
        n_good = max(self.min_points_in_model, int(self.top_n_percent * n // 100))
        n_bad = max(self.min_points_in_model, int((100 - self.top_n_percent) * n // 100))
        order = np.argsort(np.asarray(self.losses[budget]), kind="stable")
        X = np.asarray(self.vectors[budget])
        good, bad = X[order[:n_good]], X[order[n_good:n_good + n_bad]]
        if good.shape[0] <= d or bad.shape[0] <= d:
            return
        self.models[budget] = (KDE(good, self.kinds, self.min_bandwidth), KDE(bad, self.kinds, self.min_bandwidth))

    def propose(self, space: Any, rng: np.random.Generator) -> tuple[Any, bool]:
        """A new point of `space` and whether the model chose it (False: a draw from the prior)."""
        if not self.models or rng.random() < self.random_fraction:
            return space.sample(rng), False
        good, bad = self.models[max(self.models)]
        X = good.sample_widened(rng, self.num_samples, self.bandwidth_factor)
        ratio = np.maximum(bad.log_pdf(X), _LOG_FLOOR) - np.maximum(good.log_pdf(X), _LOG_FLOOR)
        for i in np.argsort(ratio, kind="stable"):
            point = space.from_vector(X[i])
            if point is not None:
                return point, True
        return space.sample(rng), False


def _check_int(name: str, value: Any, low: int, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"bohb option {name}: must be an integer >= {low}{why}, got {value!r}")


def _check_range(name: str, value: Any, low: float, high: float, what: str, *, low_open: bool = False,
                 high_open: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        raise ValueError(f"bohb option {name}: must be {what}, got {value!r}")
