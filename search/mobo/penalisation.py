"""Batch selection by hard local penalisation (after Alvi et al., 2019, "Asynchronous Batch Bayesian
Optimisation with Improved Local Penalisation", PLAyBOOK's hard penaliser).

The single-objective rule: once ``x_j`` is in the batch, the objective is expected to be about ``mu(x_j)``
there, and a function with Lipschitz constant ``L`` cannot reach the best observed value ``M`` within
``(mu(x_j) - M) / L`` of ``x_j``; Alvi et al. widen that ball by ``sigma(x_j) / L`` and penalise the
acquisition with ``phi_j(x) = min(||x - x_j|| / r_j, 1)``, ``r_j = (|mu(x_j) - M| + sigma(x_j)) / L``.

Our multi-objective version, applied to USeMO's uncertainty volume (see :mod:`search.mobo.acquisition`):

* ``L_k`` -- an estimate of the Lipschitz constant of objective k's surrogate mean on ``[0, 1]^d``: the
  largest gradient norm of the predictive mean over a uniform random sample of the hypercube plus the observed
  points (Gonzalez et al., 2016's estimator, by autograd through the sampled networks or by central finite
  differences when a surrogate exposes no gradient). A flat model (``L_k`` below ``lipschitz_floor``) gets the
  floor so that radii stay finite.
* ``r_jk = (|mu_k(x_j) - M_k| + sigma_k(x_j)) / L_k`` per learned objective, all in that objective's modelling
  units (the units cancel: r is a distance in the hypercube), with ``M_k`` its best (smallest) observed value.
* ``r_j = max(min_k r_jk, min_radius)``: the minimum over objectives keeps only the ball in which *no*
  objective is expected to beat its incumbent (a point good in one objective may still extend the front), and
  ``min_radius`` stops a batch from collapsing onto one point when an incumbent's neighbourhood is predicted
  to be flat and certain. Radii are capped at ``max_radius``.
* Selection is greedy: the next batch point is the candidate with the largest uncertainty volume among those
  of the best remaining acquisition front, **excluding** every candidate within ``r_j`` of an earlier batch
  point ``x_j`` (the hard penaliser's penalised region is removed outright, which is what guarantees the
  spacing: for i > j, ``||x_i - x_j|| >= r_j``). Pending points (jobs still running) act as earlier batch
  points, which is the asynchronous use in PLAyBOOK.
* If every candidate is excluded before the batch is full, fresh uniform points outside the balls are
  drawn; if the balls cover those too, every radius is halved (the returned radii are the ones in force at the
  end, so the guarantee holds for them) and the selection continues.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

__all__ = ["estimate_lipschitz", "finite_difference_gradient", "penalisation_radii", "hard_penaliser",
           "BatchSelection", "select_batch"]


def finite_difference_gradient(f: Callable[[np.ndarray], np.ndarray], X: np.ndarray, h: float = 1e-4) -> np.ndarray:
    """Central differences of a vectorised scalar function ``f(X) -> (n,)`` at the rows of X, shape (n, d)."""
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    n, d = X.shape
    G = np.empty((n, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = h
        G[:, i] = (np.asarray(f(X + e)) - np.asarray(f(X - e))) / (2.0 * h)
    return G


def estimate_lipschitz(gradient: Callable[[np.ndarray], np.ndarray], dim: int, *, rng: np.random.Generator,
                       n_samples: int = 256, extra: np.ndarray | None = None, floor: float = 1e-6) -> float:
    """``max ||grad mu(x)||`` over ``n_samples`` uniform points of [0, 1]^dim and the rows of ``extra``."""
    X = rng.random((n_samples, dim))
    if extra is not None and len(extra):
        X = np.vstack([X, np.atleast_2d(np.asarray(extra, dtype=np.float64))])
    G = np.asarray(gradient(X), dtype=np.float64)
    norms = np.linalg.norm(G, axis=1)
    norms = norms[np.isfinite(norms)]
    L = float(norms.max()) if norms.size else 0.0
    return max(L, floor)


def penalisation_radii(mean: np.ndarray, std: np.ndarray, best: np.ndarray, lipschitz: np.ndarray,
                       learned: np.ndarray, *, min_radius: float = 0.0, max_radius: float = np.inf) -> np.ndarray:
    """``r_j = clip(min_k (|mu_k(x_j) - M_k| + sigma_k(x_j)) / L_k, min_radius, max_radius)`` for rows j."""
    mean, std = np.atleast_2d(mean), np.atleast_2d(std)
    learned = np.asarray(learned, dtype=bool)
    r = (np.abs(mean[:, learned] - np.asarray(best)[learned]) + std[:, learned]) / np.asarray(lipschitz)[learned]
    return np.clip(np.min(r, axis=1), min_radius, max_radius)


def hard_penaliser(X: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Alvi et al.'s hard penaliser ``prod_j min(||x - x_j|| / r_j, 1)`` at the rows of X (1 = unpenalised)."""
    X = np.atleast_2d(X)
    if len(centres) == 0:
        return np.ones(X.shape[0])
    D = np.linalg.norm(X[:, None, :] - np.atleast_2d(centres)[None, :, :], axis=-1)
    radii = np.maximum(np.asarray(radii, dtype=np.float64), 1e-300)
    return np.prod(np.minimum(D / radii[None, :], 1.0), axis=1)


@dataclass
class BatchSelection:
    X: np.ndarray          # (B, d) chosen points, in order
    radii: np.ndarray      # (B,) penalisation radius of each chosen point (after any halving)
    index: np.ndarray      # (B,) index into the candidate pool, or -1 for a point drawn by the fallback
    pending_radii: np.ndarray  # radii of the pending points, after any halving
    halvings: int          # how many times every radius was halved to fill the batch


def select_batch(X: np.ndarray, log_score: np.ndarray, front: np.ndarray, batch_size: int,
                 radius_of: Callable[[np.ndarray], np.ndarray], score_of: Callable[[np.ndarray], np.ndarray],
                 *, rng: np.random.Generator, pending: np.ndarray | None = None, n_fallback: int = 512,
                 max_halvings: int = 30, fresh: bool = True) -> BatchSelection:
    """Greedy batch selection with hard exclusion balls (see the module docstring).

    X, log_score, front: the candidate pool (points, log uncertainty volume, acquisition front index).
    radius_of(P) -> radii of points P; score_of(P) -> log scores of fresh fallback points P.
    fresh: False for a pool of valid points of a discrete space, where a uniform vector means nothing: when
    the balls cover the remaining candidates the radii are halved instead, and the batch may come back shorter
    than asked once every candidate is taken.
    """
    X = np.atleast_2d(np.asarray(X, dtype=np.float64))
    dim = X.shape[1]
    log_score = np.asarray(log_score, dtype=np.float64)
    front = np.asarray(front)
    if batch_size < 1:
        raise ValueError("batch_size must be >= 1")
    centres: list[np.ndarray] = []
    radii: list[float] = []
    n_pending = 0
    if pending is not None and len(pending):
        pending = np.atleast_2d(np.asarray(pending, dtype=np.float64))
        centres.extend(pending)
        radii.extend(np.asarray(radius_of(pending), dtype=np.float64).tolist())
        n_pending = pending.shape[0]
    chosen_X: list[np.ndarray] = []
    chosen_idx: list[int] = []
    available = np.ones(X.shape[0], dtype=bool)
    halvings = 0

    def outside(P: np.ndarray) -> np.ndarray:
        if not centres:
            return np.ones(P.shape[0], dtype=bool)
        D = np.linalg.norm(P[:, None, :] - np.asarray(centres)[None, :, :], axis=-1)
        return np.all(D >= np.asarray(radii)[None, :], axis=1)

    while len(chosen_X) < batch_size and (fresh or available.any()):
        ok = available & outside(X)
        if ok.any():
            best_front = front[ok].min()
            pool = np.flatnonzero(ok & (front == best_front))
            i = int(pool[np.argmax(log_score[pool])])
            x = X[i]
            available[i] = False
            chosen_idx.append(i)
        else:
            P = rng.random((n_fallback, dim)) if fresh else np.zeros((0, dim))
            P = P[outside(P)]
            if P.shape[0] == 0:
                if halvings >= max_halvings:
                    raise RuntimeError("could not place a batch point outside the penalisation balls")
                radii = [r / 2.0 for r in radii]
                halvings += 1
                continue
            s = np.asarray(score_of(P), dtype=np.float64)
            x = P[int(np.argmax(np.where(np.isfinite(s), s, -np.inf)))]
            chosen_idx.append(-1)
        chosen_X.append(x)
        centres.append(x)
        radii.append(float(np.asarray(radius_of(x[None, :])).reshape(-1)[0]) / (2.0 ** halvings))
    r = np.asarray(radii)
    return BatchSelection(X=np.asarray(chosen_X).reshape(-1, dim), radii=r[n_pending:], index=np.asarray(chosen_idx),
                          pending_radii=r[:n_pending], halvings=halvings)
