"""USeMO acquisition (Belakaria et al., 2020, "Uncertainty-aware search framework for multi-objective Bayesian
optimization") on the unit hypercube, with numpy only.

One iteration of USeMO:

1. one cheap acquisition per objective -- here the lower confidence bound ``LCB_k(x) = mu_k(x) - kappa *
   sigma_k(x)`` (every objective is minimised; an exact objective has sigma = 0, so its "acquisition" is its
   value);
2. the Pareto set of the vector ``(LCB_1(x), ..., LCB_M(x))`` over ``[0, 1]^d``, approximated by a small
   NSGA-II run (or by random sampling + non-dominated sorting); every point the inner optimiser evaluated is
   kept as a candidate together with its non-dominated front index in acquisition space;
3. the candidate of the Pareto set with the largest **uncertainty volume**
   ``prod_k (UCB_k(x) - LCB_k(x)) = prod_k 2 kappa sigma_k(x)`` over the *learned* objectives (exact objectives
   have no uncertainty and would zero the product). We work with its logarithm for numerical range.

Batches come from :mod:`search.mobo.penalisation`, which picks several candidates by the same volume with hard
local penalisation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from search.pareto import (crowding_distance, hypervolume_improvements, non_dominated_mask, non_dominated_sort,
                           rank_and_crowding)

__all__ = ["Candidates", "hvi_batch", "lcb", "log_uncertainty_volume", "nsga2", "random_search_archive", "usemo_candidates"]

PredictFn = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]


def lcb(mean: np.ndarray, std: np.ndarray, kappa: float) -> np.ndarray:
    """Lower confidence bound (optimistic value of a minimised objective)."""
    return np.asarray(mean) - kappa * np.asarray(std)


def log_uncertainty_volume(std: np.ndarray, kappa: float, learned: np.ndarray) -> np.ndarray:
    """``log prod_k 2 kappa sigma_k`` over the learned objectives, for std of shape (N, M)."""
    std = np.asarray(std, dtype=np.float64)
    learned = np.asarray(learned, dtype=bool)
    with np.errstate(divide="ignore"):
        return np.sum(np.log(2.0 * kappa * np.maximum(std[:, learned], 0.0)), axis=1)


# --------------------------------------------------------------------------------------------------- NSGA-II


def _sbx(p1: np.ndarray, p2: np.ndarray, eta: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Simulated binary crossover on [0, 1]^d (each variable crosses with probability 0.5)."""
    u = rng.random(p1.shape)
    e = 1.0 / (eta + 1.0)
    beta = np.where(u <= 0.5, (2.0 * u) ** e, (1.0 / (2.0 * (1.0 - u) + 1e-300)) ** e)
    cross = rng.random(p1.shape) < 0.5
    beta = np.where(cross, beta, 1.0)
    c1 = 0.5 * ((1.0 + beta) * p1 + (1.0 - beta) * p2)
    c2 = 0.5 * ((1.0 - beta) * p1 + (1.0 + beta) * p2)
    return np.clip(c1, 0.0, 1.0), np.clip(c2, 0.0, 1.0)


def _polynomial_mutation(x: np.ndarray, eta: float, prob: float, rng: np.random.Generator) -> np.ndarray:
    u = rng.random(x.shape)
    delta = np.where(u < 0.5, (2.0 * u) ** (1.0 / (eta + 1.0)) - 1.0, 1.0 - (2.0 * (1.0 - u)) ** (1.0 / (eta + 1.0)))
    mutate = rng.random(x.shape) < prob
    return np.clip(x + np.where(mutate, delta, 0.0), 0.0, 1.0)


def _survive(F: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n survivors: whole fronts first, the last partial front by crowding distance."""
    chosen: list[int] = []
    for idx in non_dominated_sort(F):
        if len(chosen) + idx.size <= n:
            chosen.extend(idx.tolist())
        else:
            crowd = crowding_distance(F[idx])
            chosen.extend(idx[np.argsort(-crowd, kind="stable")][: n - len(chosen)].tolist())
        if len(chosen) >= n:
            break
    return np.asarray(chosen, dtype=int)


def nsga2(evaluate: Callable[[np.ndarray], np.ndarray], dim: int, *, pop_size: int = 48, generations: int = 20,
          rng: np.random.Generator, initial: np.ndarray | None = None, eta_crossover: float = 15.0,
          eta_mutation: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """A compact NSGA-II over [0, 1]^dim minimising ``evaluate(X) -> F`` (shape (n, M)).

    ``initial`` seeds the first population (the rest is uniform random). Returns the archive of every evaluated
    point and its objective vector, ``(X_all, F_all)``, so the caller can take any front of it.
    """
    if pop_size < 4:
        raise ValueError("pop_size must be at least 4")
    pop_size += pop_size % 2
    X = rng.random((pop_size, dim))
    if initial is not None and len(initial):
        init = np.clip(np.atleast_2d(np.asarray(initial, dtype=np.float64)), 0.0, 1.0)[:pop_size]
        X[: init.shape[0]] = init
    F = np.asarray(evaluate(X), dtype=np.float64)
    archive_X, archive_F = [X], [F]
    for _ in range(generations):
        rank, crowd = rank_and_crowding(F)
        # binary tournaments: lower rank wins, then larger crowding distance
        a, b = rng.integers(0, pop_size, (2, pop_size))
        a_wins = (rank[a] < rank[b]) | ((rank[a] == rank[b]) & (crowd[a] >= crowd[b]))
        parents = X[np.where(a_wins, a, b)]
        c1, c2 = _sbx(parents[0::2], parents[1::2], eta_crossover, rng)
        children = _polynomial_mutation(np.vstack([c1, c2]), eta_mutation, 1.0 / max(dim, 1), rng)
        Fc = np.asarray(evaluate(children), dtype=np.float64)
        archive_X.append(children)
        archive_F.append(Fc)
        X_all, F_all = np.vstack([X, children]), np.vstack([F, Fc])
        keep = _survive(F_all, pop_size)
        X, F = X_all[keep], F_all[keep]
    return np.vstack(archive_X), np.vstack(archive_F)


def random_search_archive(evaluate: Callable[[np.ndarray], np.ndarray], dim: int, *, n: int,
                          rng: np.random.Generator, initial: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Uniform random points (plus ``initial``) and their objective vectors."""
    X = rng.random((n, dim))
    if initial is not None and len(initial):
        X = np.vstack([np.clip(np.atleast_2d(initial), 0.0, 1.0), X])
    return X, np.asarray(evaluate(X), dtype=np.float64)


# --------------------------------------------------------------------------------------------------- USeMO


@dataclass
class Candidates:
    """Candidate points of one USeMO step and everything computed for them (N candidates, M objectives)."""

    X: np.ndarray            # (N, d) points in [0, 1]^d
    mean: np.ndarray         # (N, M) predictive means (exact values for exact objectives), modelling units
    std: np.ndarray          # (N, M) predictive standard deviations used by the acquisition (0 for exact)
    acquisition: np.ndarray  # (N, M) LCB per objective
    front: np.ndarray        # (N,) non-dominated front index in acquisition space (0 = the Pareto set)
    log_volume: np.ndarray   # (N,) log uncertainty volume over the learned objectives

    def best(self) -> int:
        """USeMO's choice: the Pareto-set candidate with the largest uncertainty volume."""
        pareto = np.flatnonzero(self.front == 0)
        return int(pareto[np.argmax(self.log_volume[pareto])])


def usemo_candidates(predict: PredictFn, dim: int, learned: np.ndarray, *, kappa: float = 1.0,
                     inner: str = "nsga2", pop_size: int = 48, generations: int = 20, n_random: int = 2000,
                     initial: np.ndarray | None = None, pool: np.ndarray | None = None,
                     rng: np.random.Generator) -> Candidates:
    """Run steps 1-2 of USeMO and score every candidate for step 3.

    ``predict(X) -> (mean, std)`` returns arrays of shape (n, M) in modelling units for all objectives (std = 0
    for exact ones); ``learned`` is the boolean mask of learned objectives. ``inner`` is "nsga2", "random" or
    "pool": the rows of ``pool`` are the candidates as they are (a discrete space's caller builds them from
    valid points, where a continuous optimiser would mostly propose vectors that round to a few points).
    """
    learned = np.asarray(learned, dtype=bool)
    if not learned.any():
        raise ValueError("USeMO needs at least one learned objective (exact ones have no uncertainty)")
    if kappa <= 0:
        raise ValueError("kappa must be > 0")
    cache: dict[str, list[np.ndarray]] = {"X": [], "mean": [], "std": []}

    def evaluate(X: np.ndarray) -> np.ndarray:
        mean, std = predict(X)
        mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
        cache["X"].append(X)
        cache["mean"].append(mean)
        cache["std"].append(std)
        return lcb(mean, std, kappa)

    if inner == "nsga2":
        nsga2(evaluate, dim, pop_size=pop_size, generations=generations, rng=rng, initial=initial)
    elif inner == "random":
        random_search_archive(evaluate, dim, n=n_random, rng=rng, initial=initial)
    elif inner == "pool":
        if pool is None or len(pool) == 0:
            raise ValueError("inner optimiser 'pool' needs a non-empty pool of candidates")
        evaluate(np.atleast_2d(np.asarray(pool, dtype=np.float64)))
    else:
        raise ValueError(f"inner optimiser must be 'nsga2', 'random' or 'pool', got {inner!r}")

    X = np.vstack(cache["X"])
    mean, std = np.vstack(cache["mean"]), np.vstack(cache["std"])
    X, first = np.unique(X, axis=0, return_index=True)
    mean, std = mean[first], std[first]
    acq = lcb(mean, std, kappa)
    finite = np.all(np.isfinite(acq), axis=1)
    X, mean, std, acq = X[finite], mean[finite], std[finite], acq[finite]
    if X.shape[0] == 0:
        raise RuntimeError("every candidate had a non-finite prediction")
    front = np.empty(X.shape[0], dtype=int)
    for r, idx in enumerate(non_dominated_sort(acq)):
        front[idx] = r
    return Candidates(X=X, mean=mean, std=std, acquisition=acq, front=front,
                      log_volume=log_uncertainty_volume(std, kappa, learned))


# --------------------------------------------------------------------------------------------------- HVI
def hvi_batch(cands: Candidates, observed: np.ndarray, batch_size: int,
              believed: np.ndarray | None = None,
              units: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """Indices of up to ``batch_size`` candidates chosen greedily by optimistic hypervolume improvement.

    Each pick maximises the hypervolume that the candidate's LCB vector would add to the front of ``observed``
    (the reference point is their worst value plus 10% of the range) and of the points believed so far; the
    pick is then believed at its predictive mean (the kriging believer), so the next pick looks elsewhere.
    ``believed``: the predicted means of pending points, believed from the start. When no candidate improves
    the believed front, the pick is USeMO's: the largest uncertainty volume in the best remaining acquisition
    front. ``units`` maps (n, M) modelling values to the units the volumes are measured in (the proposer
    passes the objectives' raw units, the ones reports use; None: modelling units).
    """
    to = units or (lambda A: A)
    observed = to(np.atleast_2d(np.asarray(observed, dtype=np.float64)))
    acquisition, mean = to(cands.acquisition), to(cands.mean)
    lo, hi = observed.min(axis=0), observed.max(axis=0)
    ref = hi + 0.1 * np.where(hi > lo, hi - lo, 1.0)
    front = observed[non_dominated_mask(observed)]
    if believed is not None and len(believed):
        front = np.vstack([front, to(np.atleast_2d(believed))])
    available = np.ones(cands.X.shape[0], dtype=bool)
    chosen: list[int] = []
    while len(chosen) < batch_size and available.any():
        idx = np.flatnonzero(available)
        gain = hypervolume_improvements(acquisition[idx], front, ref)
        if gain.max() > 0:
            i = int(idx[np.argmax(gain)])
        else:
            best = idx[cands.front[idx] == cands.front[idx].min()]
            i = int(best[np.argmax(cands.log_volume[best])])
        chosen.append(i)
        available[i] = False
        front = np.vstack([front, mean[i]])
    return np.asarray(chosen, dtype=int)
