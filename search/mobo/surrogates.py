"""Bayesian-neural-network surrogates for multi-objective BO, sampled with SGHMC through pybnn's ``Bohamiann``.

Two models share one interface (``fit(X, y)``, ``predict(X) -> (mean, var)``, ``predict_components(X)``):

* :class:`HeteroscedasticBNN` -- a fully connected tanh network (default: 3 hidden layers of 10 units) with two
  outputs, the mean and the log noise variance, both functions of the input.
* :class:`HomoscedasticBNN` -- the same body with one output (the mean) and a single learned, input-independent
  log noise variance (pybnn's classic ``AppendLayer`` design).

Both run in float64 on the CPU. The predictive distribution of a point is the mixture of the sampled networks'
Gaussians, summarised by its mean and variance::

    mean      = mean_s mu_s(x)
    epistemic = mean_s (mu_s(x) - mean)^2          (spread of the sampled networks' means)
    aleatoric = mean_s exp(log_var_s(x))            (the networks' own noise estimate)
    var       = epistemic + aleatoric               (what pybnn's ``predict`` returns)

What we checked in pybnn 0.0.5 (installed) and how this module deals with it:

* ``train`` defaults ``lr=1e-5``; the adaptive SGHMC step moves by ``lr**2``, so that default barely moves the
  weights. Every sampler argument (num_steps, num_burn_in_steps, keep_every, lr, batch_size, mdecay, verbose)
  is passed explicitly here; ``num_steps`` counts the burn-in steps too, and a sample is kept at steps
  ``num_burn_in_steps + keep_every * i`` (i >= 1) below ``num_steps``, i.e.
  ``(num_steps - num_burn_in_steps - 1) // keep_every`` samples (49 for 2000 / 1000 / 20).
* ``Bohamiann`` normalises inputs and outputs to zero mean and unit variance (column-wise); a constant column
  (one value in a dimension, or constant targets) divides by zero. :class:`_Bohamiann` overrides the two
  ``normalize_*`` hooks to use a unit scale for such columns.
* ``train`` adds a fixed prior on the network's log-variance output, centred at ``log(1e-6)`` with variance
  0.01 (standard deviation 0.1 in log space). Measured here, it pins the predicted noise near zero and the
  held-out NLL is very poor (about 16 nats per point on a smooth 2-D function with noise of 0.05..0.55).
  We cancel that term exactly through the documented ``likelihood_function`` hook (it receives the same
  network outputs on the same batch) and put a weak prior of our own in its place: a Gaussian on the
  log noise variance (normalised output units) with mean ``noise_prior_mean`` and standard deviation
  ``noise_prior_std`` (default ``log(1e-2)`` and 3). The training loop, the data loader and the sampler
  remain pybnn's.
* Its training loop draws from torch's global RNG (data shuffling, weight initialisation, sampler noise).
  ``fit`` runs inside ``torch.random.fork_rng`` with ``torch.manual_seed(seed)``: results are reproducible and
  the caller's global RNG state is untouched.
* The network is tiny; with torch's default intra-op thread pool each small op took about 3.6 ms here
  (OpenMP hand-off) against 0.06 ms with one thread, so ``fit``/``predict`` run with one torch thread and
  restore the previous setting afterwards (not thread-safe: torch's thread count is process-global).
* With few points the heteroscedastic network can drive its noise towards the floor and, rarely, the chain
  then blows up after burn-in (the preconditioner is frozen; seen once in about 100 fits here, weights going
  1e1 -> 1e22 -> NaN). ``fit`` drops weight samples that are not finite or leave sane bounds on the training
  inputs (|mean| < 1e3, log variance < 50, normalised units), and if fewer than half survive it re-runs the
  sampler with another seed (``max_retries``, with a ``RuntimeWarning``), then raises ``RuntimeError``.
  ``dropped_samples`` and ``retries`` record what happened.
* pybnn's ``network_weights`` getter copies with ``torch.tensor(tensor)``, which warns on every sample in
  torch 2.x; we silence that one warning while training. Nothing else needed changing for torch 2.15 and
  numpy 2.
"""
from __future__ import annotations

import contextlib
import math
import time
import warnings
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from pybnn.bohamiann import Bohamiann
from pybnn.priors import log_variance_prior as _pybnn_log_variance_prior

__all__ = [
    "Surrogate",
    "Prediction",
    "BNNSurrogate",
    "HeteroscedasticBNN",
    "HomoscedasticBNN",
    "HeteroscedasticMLP",
    "HomoscedasticMLP",
    "gaussian_nll",
    "rmse",
]

_LOG_2PI = math.log(2.0 * math.pi)


class Surrogate(Protocol):
    """What the MOBO proposer needs from a surrogate."""

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Surrogate": ...

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass(frozen=True)
class Prediction:
    """Predictive mean and variance at N points, with the variance split into its two parts (all shape (N,))."""

    mean: np.ndarray
    var: np.ndarray
    epistemic: np.ndarray
    aleatoric: np.ndarray


# --------------------------------------------------------------------------------------------------- networks


def _soft_lower_bound(raw: torch.Tensor, floor: float) -> torch.Tensor:
    """``floor + softplus(raw - floor)``: about ``raw`` well above the floor, never below it (keeps exp finite)."""
    return floor + nn.functional.softplus(raw - floor)


class _Body(nn.Sequential):
    def __init__(self, n_inputs: int, n_hidden: int, n_layers: int):
        layers: list[nn.Module] = []
        width = n_inputs
        for _ in range(n_layers):
            layers += [nn.Linear(width, n_hidden), nn.Tanh()]
            width = n_hidden
        super().__init__(*layers)


class HeteroscedasticMLP(nn.Module):
    """``n_layers`` tanh layers of ``n_hidden`` units, then a linear head with two columns: mean, log variance."""

    def __init__(self, n_inputs: int, n_hidden: int = 10, n_layers: int = 3,
                 init_log_var: float = math.log(1e-2), min_log_var: float = math.log(1e-6)):
        super().__init__()
        self.body = _Body(n_inputs, n_hidden, n_layers)
        self.head = nn.Linear(n_hidden if n_layers > 0 else n_inputs, 2)
        self.min_log_var = float(min_log_var)
        with torch.no_grad():
            self.head.weight[1].mul_(0.1)
            self.head.bias[1].fill_(init_log_var)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.head(self.body(x))
        return torch.stack((out[:, 0], _soft_lower_bound(out[:, 1], self.min_log_var)), dim=1)


class HomoscedasticMLP(nn.Module):
    """The same body with a one-column mean head, plus one learned log noise variance shared by every input."""

    def __init__(self, n_inputs: int, n_hidden: int = 10, n_layers: int = 3,
                 init_log_var: float = math.log(1e-2), min_log_var: float = math.log(1e-6)):
        super().__init__()
        self.body = _Body(n_inputs, n_hidden, n_layers)
        self.head = nn.Linear(n_hidden if n_layers > 0 else n_inputs, 1)
        self.log_var = nn.Parameter(torch.tensor([float(init_log_var)]))
        self.min_log_var = float(min_log_var)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = self.head(self.body(x))[:, 0]
        log_var = _soft_lower_bound(self.log_var, self.min_log_var).expand_as(mean)
        return torch.stack((mean, log_var), dim=1)


# --------------------------------------------------------------------------------------------------- pybnn glue


class _Bohamiann(Bohamiann):
    """pybnn's Bohamiann with normalisation that survives constant columns (see the module docstring)."""

    @staticmethod
    def _safe(x: np.ndarray, m=None, s=None):
        x = np.asarray(x, dtype=np.float64)
        if m is None:
            m = np.mean(x, axis=0)
        if s is None:
            s = np.std(x, axis=0)
            s = np.where(s > 1e-12, s, 1.0) if np.ndim(s) else (s if s > 1e-12 else 1.0)
        return (x - m) / s, m, s

    def normalize_input(self, x, m=None, s=None):
        return self._safe(x, m, s)

    def normalize_output(self, x, m=None, s=None):
        return self._safe(x, m, s)


def _make_likelihood(num_datapoints: int, prior_mean: float, prior_std: float):
    """Gaussian NLL (pybnn's form) that also swaps pybnn's hard-coded log-variance prior for a weak one.

    pybnn's ``train`` computes ``loss = likelihood(out, y) - log_variance_prior(out[:, 1]) / N - weight_prior / N``
    on the same batch with the same weights. Adding ``log_variance_prior(out[:, 1]) / N`` here cancels its term
    exactly; ``- our_prior(out[:, 1]) / N`` puts ours in (same scaling: the prior counts as one data point).
    """
    n = float(num_datapoints)

    def likelihood(input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        mean = input[:, 0]
        log_var = input[:, 1]
        nll = 0.5 * (target.view(-1) - mean) ** 2 * torch.exp(-log_var) + 0.5 * log_var
        loss = nll.mean()
        lv = log_var.view(-1, 1)
        ours = torch.mean(-0.5 * ((lv - prior_mean) / prior_std) ** 2)
        return loss + (_pybnn_log_variance_prior(lv) - ours) / n

    return likelihood


@contextlib.contextmanager
def _torch_single_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# --------------------------------------------------------------------------------------------------- surrogates


class BNNSurrogate:
    """A BNN regression surrogate sampled with adaptive SGHMC (pybnn ``Bohamiann``).

    Parameters mirror pybnn's ``train`` and are all passed on explicitly. ``num_steps`` includes the burn-in;
    ``(num_steps - num_burn_in_steps - 1) // keep_every`` weight samples are kept. ``seed`` makes ``fit``
    reproducible. After ``fit``, ``fit_time_s`` holds the wall time of the sampling run.
    """

    heteroscedastic: bool = True

    def __init__(self, *, n_hidden: int = 10, n_layers: int = 3,
                 num_steps: int = 2000, num_burn_in_steps: int = 1000, keep_every: int = 20,
                 lr: float = 1e-2, batch_size: int = 20, mdecay: float = 0.05,
                 noise_prior_mean: float = math.log(1e-2), noise_prior_std: float = 3.0,
                 init_log_var: float = math.log(1e-2), min_log_var: float = math.log(1e-6),
                 seed: int = 0, max_retries: int = 2, verbose: bool = False):
        if num_steps <= num_burn_in_steps:
            raise ValueError(f"num_steps ({num_steps}) counts burn-in too and must exceed num_burn_in_steps "
                             f"({num_burn_in_steps})")
        if keep_every < 1 or (num_steps - num_burn_in_steps - 1) // keep_every < 2:
            raise ValueError("keep_every leaves fewer than 2 posterior samples; lower it or add steps")
        if lr <= 0 or batch_size < 1 or not 0 < mdecay < 1 or noise_prior_std <= 0:
            raise ValueError("lr and noise_prior_std must be > 0, batch_size >= 1 and mdecay in (0, 1)")
        self.n_hidden, self.n_layers = int(n_hidden), int(n_layers)
        self.num_steps, self.num_burn_in_steps = int(num_steps), int(num_burn_in_steps)
        self.keep_every = int(keep_every)
        self.lr, self.batch_size, self.mdecay = float(lr), int(batch_size), float(mdecay)
        self.noise_prior_mean, self.noise_prior_std = float(noise_prior_mean), float(noise_prior_std)
        self.init_log_var, self.min_log_var = float(init_log_var), float(min_log_var)
        self.seed = int(seed)
        self.max_retries = int(max_retries)
        self.verbose = bool(verbose)
        self.retries = 0
        self.dropped_samples = 0
        self.model: _Bohamiann | None = None
        self.fit_time_s: float | None = None

    # -- construction
    def _network(self, input_dimensionality: int) -> nn.Module:
        cls = HeteroscedasticMLP if self.heteroscedastic else HomoscedasticMLP
        return cls(input_dimensionality, self.n_hidden, self.n_layers, self.init_log_var, self.min_log_var)

    @property
    def num_samples(self) -> int:
        return 0 if self.model is None else len(self.model.sampled_weights)

    # -- fitting
    def fit(self, X: np.ndarray, y: np.ndarray) -> "BNNSurrogate":
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise ValueError(f"fit expects X of shape (N, d) and y of shape (N,), got {X.shape} and {y.shape}")
        if X.shape[0] < 2:
            raise ValueError("fit needs at least 2 observations")
        if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y))):
            raise ValueError("fit got non-finite inputs or targets; drop failed evaluations first")
        start = time.perf_counter()
        self.retries = 0
        seed = self.seed
        while True:
            model = self._run_sampler(X, y, seed)
            kept, total = self._drop_diverged(model, X)
            if kept >= max(2, total // 2):
                break
            if self.retries >= self.max_retries:
                self.model = None
                raise RuntimeError(f"SGHMC diverged: only {kept} of {total} weight samples stayed finite and "
                                   f"bounded after {self.retries + 1} runs; lower lr or raise min_log_var")
            self.retries += 1
            seed += 1_000_003
            warnings.warn(f"SGHMC diverged ({total - kept} of {total} samples blew up); re-running the sampler "
                          f"with seed {seed} (retry {self.retries} of {self.max_retries})", RuntimeWarning,
                          stacklevel=2)
        self.fit_time_s = time.perf_counter() - start
        return self

    def _run_sampler(self, X: np.ndarray, y: np.ndarray, seed: int) -> _Bohamiann:
        model = _Bohamiann(
            get_network=lambda input_dimensionality: self._network(input_dimensionality),
            normalize_input=True, normalize_output=True, sampling_method="adaptive_sghmc",
            use_double_precision=True,
            likelihood_function=_make_likelihood(X.shape[0], self.noise_prior_mean, self.noise_prior_std),
            print_every_n_steps=max(1, self.num_steps // 10),
        )
        with torch.random.fork_rng(devices=[]), _torch_single_thread(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="To copy construct from a tensor")
            torch.manual_seed(seed)
            model.train(X, y, num_steps=self.num_steps, num_burn_in_steps=self.num_burn_in_steps,
                        keep_every=self.keep_every, lr=self.lr, batch_size=min(self.batch_size, X.shape[0]),
                        mdecay=self.mdecay, verbose=self.verbose)
        return model

    def _drop_diverged(self, model: _Bohamiann, X: np.ndarray) -> tuple[int, int]:
        """Remove weight samples whose chain blew up; returns (kept, total).

        A sample is dropped when a weight is not finite, or when on the training inputs its mean leaves
        +-1e3 or its log variance exceeds 50 (normalised units: the targets have unit variance there).
        """
        self.model = model
        total = len(model.sampled_weights)
        with np.errstate(all="ignore"):
            out = self._sample_outputs(X)
        ok = [bool(all(np.all(np.isfinite(w)) for w in weights)) for weights in model.sampled_weights]
        ok = np.asarray(ok) & np.all(np.isfinite(out), axis=(1, 2))
        ok &= np.all(np.abs(np.nan_to_num(out[:, :, 0], nan=np.inf)) < 1e3, axis=1)
        ok &= np.all(np.nan_to_num(out[:, :, 1], nan=np.inf) < 50.0, axis=1)
        model.sampled_weights[:] = [w for w, keep in zip(model.sampled_weights, ok, strict=True) if keep]
        self.dropped_samples = int(total - ok.sum())
        return int(ok.sum()), total

    # -- prediction
    def _require_fit(self) -> _Bohamiann:
        if self.model is None:
            raise RuntimeError("call fit(X, y) before predicting")
        return self.model

    def _sample_outputs(self, X: np.ndarray) -> np.ndarray:
        """Raw network outputs for every kept sample, in normalised units: shape (S, N, 2)."""
        model = self._require_fit()
        Xn, _, _ = model.normalize_input(np.asarray(X, dtype=np.float64), model.x_mean, model.x_std)
        xt = torch.from_numpy(np.ascontiguousarray(Xn, dtype=np.float64))
        params = list(model.model.parameters())
        outs = []
        with torch.no_grad(), _torch_single_thread():
            for weights in model.sampled_weights:
                for p, w in zip(params, weights):
                    p.copy_(torch.from_numpy(w))
                outs.append(model.model(xt).numpy())
        return np.stack(outs)

    def predict_components(self, X: np.ndarray) -> Prediction:
        """Mean, total variance and its epistemic and aleatoric parts, in the units of the fitted targets."""
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        model = self._require_fit()
        out = self._sample_outputs(X)
        means, log_vars = out[:, :, 0], out[:, :, 1]
        mean_n = means.mean(axis=0)
        epistemic_n = np.mean((means - mean_n) ** 2, axis=0)
        aleatoric_n = np.mean(np.exp(log_vars), axis=0)
        y_mean, y_std = float(model.y_mean), float(model.y_std)
        scale = y_std ** 2
        return Prediction(mean=mean_n * y_std + y_mean, var=(epistemic_n + aleatoric_n) * scale,
                          epistemic=epistemic_n * scale, aleatoric=aleatoric_n * scale)

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Predictive mean and total (epistemic + aleatoric) variance, shape (N,) each."""
        p = self.predict_components(X)
        return p.mean, p.var

    def mean_gradient(self, X: np.ndarray) -> np.ndarray:
        """Gradient of the predictive mean with respect to the (unnormalised) inputs, shape (N, d)."""
        model = self._require_fit()
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        Xn, _, _ = model.normalize_input(X, model.x_mean, model.x_std)
        params = list(model.model.parameters())
        grad = np.zeros_like(Xn)
        with _torch_single_thread():
            for weights in model.sampled_weights:
                with torch.no_grad():
                    for p, w in zip(params, weights):
                        p.copy_(torch.from_numpy(w))
                xt = torch.from_numpy(np.ascontiguousarray(Xn)).requires_grad_(True)
                (g,) = torch.autograd.grad(model.model(xt)[:, 0].sum(), xt)
                grad += g.numpy()
        grad /= len(model.sampled_weights)
        return grad * float(model.y_std) / np.asarray(model.x_std, dtype=np.float64)


class HeteroscedasticBNN(BNNSurrogate):
    """BNN whose network predicts a mean and an input-dependent log noise variance."""

    heteroscedastic = True


class HomoscedasticBNN(BNNSurrogate):
    """BNN with one learned, input-independent noise variance (the comparison baseline)."""

    heteroscedastic = False


# --------------------------------------------------------------------------------------------------- metrics


def gaussian_nll(y: np.ndarray, mean: np.ndarray, var: np.ndarray) -> float:
    """Average negative log-likelihood of ``y`` under independent Gaussians N(mean, var) (nats per point)."""
    y, mean, var = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (y, mean, var))
    var = np.maximum(var, 1e-300)
    return float(np.mean(0.5 * (_LOG_2PI + np.log(var) + (y - mean) ** 2 / var)))


def rmse(y: np.ndarray, mean: np.ndarray) -> float:
    y, mean = (np.asarray(a, dtype=np.float64).reshape(-1) for a in (y, mean))
    return float(np.sqrt(np.mean((y - mean) ** 2)))
