"""Pareto tools: dominance, non-dominated sorting, fronts, crowding distance and hypervolume.

Convention: every objective is MINIMISED (negate a maximised objective, e.g. use error = 1 - accuracy). Points
are rows of an array ``Y`` of shape (N, M). A point ``a`` dominates ``b`` when ``a <= b`` in every objective and
``a < b`` in at least one; identical points do not dominate each other and land on the same front.

Hypervolume is the Lebesgue measure of the region dominated by a set and bounded by a reference point ``ref``
(every objective of ``ref`` must be worse than the points that should count): points that are not strictly
better than ``ref`` in every objective contribute nothing. Always report the reference point with the number.
``hypervolume`` is exact in any dimension: a dedicated sweep in 1-D and 2-D, and for M >= 3 the HSO slicing
algorithm (slice along the last objective, recurse on the (M-1)-D fronts of each slice), which is fine for
the small fronts of a search run (hundreds of points in 3-D, tens in 4-5-D).
"""
from __future__ import annotations

import bisect
from typing import Sequence

import numpy as np

__all__ = [
    "dominates",
    "non_dominated_mask",
    "hypervolume_improvements",
    "pareto_front",
    "non_dominated_sort",
    "crowding_distance",
    "hypervolume",
    "hypervolume_2d",
    "hypervolume_per_iteration",
    "reference_point",
]


def _as_points(Y) -> np.ndarray:
    Y = np.asarray(Y, dtype=np.float64)
    if Y.ndim == 1:
        Y = Y.reshape(1, -1) if Y.size else Y.reshape(0, 1)
    if Y.ndim != 2:
        raise ValueError(f"expected points of shape (N, M), got {Y.shape}")
    if Y.size and not np.all(np.isfinite(Y)):
        raise ValueError("points must be finite (drop failed evaluations before Pareto analysis)")
    return Y


def dominates(a, b) -> bool:
    """True when ``a`` Pareto-dominates ``b`` (minimisation)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_mask(Y) -> np.ndarray:
    """Boolean mask of the points of ``Y`` that no other point dominates (the first front)."""
    Y = _as_points(Y)
    n = Y.shape[0]
    mask = np.ones(n, dtype=bool)
    if n == 0:
        return mask
    if Y.shape[1] == 2:
        return _fronts_2d(Y) == 0
    # Process in lexicographic order: a point can only be dominated by points before it in that order.
    order = np.lexsort(Y.T[::-1])
    front: list[int] = []
    for i in order:
        y = Y[i]
        if front:
            F = Y[front]
            if np.any(np.all(F <= y, axis=1) & np.any(F < y, axis=1)):
                mask[i] = False
                continue
        front.append(i)
    return mask


def pareto_front(Y, return_index: bool = False):
    """The non-dominated points of ``Y`` (in their original order); with ``return_index`` also their indices."""
    Y = _as_points(Y)
    idx = np.flatnonzero(non_dominated_mask(Y))
    return (Y[idx], idx) if return_index else Y[idx]


def non_dominated_sort(Y) -> list[np.ndarray]:
    """All fronts: a list of index arrays, front 0 = non-dominated, front k = non-dominated once 0..k-1 are gone."""
    Y = _as_points(Y)
    if Y.shape[1] == 2:
        rank = _fronts_2d(Y)
        return [np.flatnonzero(rank == r) for r in range(int(rank.max()) + 1)] if rank.size else []
    remaining = np.arange(Y.shape[0])
    fronts: list[np.ndarray] = []
    while remaining.size:
        mask = non_dominated_mask(Y[remaining])
        fronts.append(remaining[mask])
        remaining = remaining[~mask]
    return fronts


def _fronts_2d(Y: np.ndarray) -> np.ndarray:
    """The front index of every row of a two-objective ``Y`` in O(N log N): in lexicographic order a point is
    dominated only by earlier points, and front k's earlier members all have second objective >= that of its
    latest member, whose values increase with k; so a point joins the first front whose latest member is
    strictly worse in the second objective, or the front of an identical predecessor."""
    order = np.lexsort((Y[:, 1], Y[:, 0]))
    rank = np.empty(Y.shape[0], dtype=int)
    tails: list[float] = []  # second objective of each front's latest member (increasing)
    previous = None
    for i in order:
        y = (Y[i, 0], Y[i, 1])
        if y == previous:  # identical points do not dominate each other
            rank[i] = rank[last]
            continue
        k = bisect.bisect_right(tails, y[1])
        if k == len(tails):
            tails.append(y[1])
        else:
            tails[k] = y[1]
        rank[i], previous, last = k, y, i
    return rank


def crowding_distance(Y) -> np.ndarray:
    """NSGA-II crowding distance of each point within one front (boundary points get +inf)."""
    Y = _as_points(Y)
    n, m = Y.shape
    dist = np.zeros(n)
    if n <= 2:
        dist[:] = np.inf
        return dist
    for k in range(m):
        order = np.argsort(Y[:, k], kind="stable")
        span = Y[order[-1], k] - Y[order[0], k]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span <= 0:
            continue
        dist[order[1:-1]] += (Y[order[2:], k] - Y[order[:-2], k]) / span
    return dist


# --------------------------------------------------------------------------------------------------- hypervolume


def _hv2d_sorted(P: np.ndarray, ref: np.ndarray) -> float:
    """2-D hypervolume of points already strictly inside ``ref``."""
    P = P[np.lexsort((P[:, 1], P[:, 0]))]
    volume, best_y = 0.0, ref[1]
    for x, y in P:
        if y < best_y:
            volume += (ref[0] - x) * (best_y - y)
            best_y = y
    return float(volume)


def _hso(P: np.ndarray, ref: np.ndarray) -> float:
    """Exact hypervolume by slicing along the last objective (points strictly inside ``ref``)."""
    n, m = P.shape
    if n == 0:
        return 0.0
    if m == 1:
        return float(ref[0] - P[:, 0].min())
    if m == 2:
        return _hv2d_sorted(P, ref)
    P = P[np.argsort(P[:, -1], kind="stable")]
    volume = 0.0
    for i in range(n):
        upper = P[i + 1, -1] if i + 1 < n else ref[-1]
        depth = upper - P[i, -1]
        if depth <= 0:
            continue
        S = P[: i + 1, :-1]
        S = S[non_dominated_mask(S)]
        volume += depth * _hso(S, ref[:-1])
    return float(volume)


def _inside(Y, ref) -> tuple[np.ndarray, np.ndarray]:
    Y = _as_points(Y)
    ref = np.asarray(ref, dtype=np.float64).reshape(-1)
    if Y.shape[0] and Y.shape[1] != ref.shape[0]:
        raise ValueError(f"reference point has {ref.shape[0]} objectives, points have {Y.shape[1]}")
    if not np.all(np.isfinite(ref)):
        raise ValueError("reference point must be finite")
    if Y.shape[0] == 0:
        return Y.reshape(0, ref.shape[0]), ref
    P = Y[np.all(Y < ref, axis=1)]
    if P.shape[0]:
        P = P[non_dominated_mask(P)]
    return P, ref


def hypervolume_2d(Y, ref) -> float:
    """Exact 2-D hypervolume dominated by ``Y`` and bounded by ``ref`` (minimisation)."""
    P, ref = _inside(Y, ref)
    if ref.shape[0] != 2:
        raise ValueError("hypervolume_2d needs two objectives")
    return _hv2d_sorted(P, ref) if P.shape[0] else 0.0


def hypervolume(Y, ref) -> float:
    """Exact hypervolume dominated by ``Y`` and bounded by ``ref`` in any number of objectives (minimisation)."""
    P, ref = _inside(Y, ref)
    return _hso(P, ref) if P.shape[0] else 0.0


def hypervolume_improvements(C, Y, ref) -> np.ndarray:
    """For each row of ``C``: the hypervolume that adding it to the points ``Y`` would gain (bounded by
    ``ref``, minimisation); 0 for a row that ``Y`` weakly dominates or that lies outside ``ref``."""
    C = _as_points(C)
    P, ref = _inside(Y, ref)
    if C.shape[1] == 2:
        return _improvements_2d(C, P, ref)
    base = _hso(P, ref) if P.shape[0] else 0.0
    gain = np.zeros(C.shape[0])
    inside = np.all(C < ref, axis=1)
    if P.shape[0]:  # weakly dominated rows gain nothing: skip the exact computation for them
        inside &= ~np.any(np.all(P[None, :, :] <= C[:, None, :], axis=2), axis=1)
    for i in np.flatnonzero(inside):
        S = np.vstack([P, C[i]])
        gain[i] = _hso(S[non_dominated_mask(S)], ref) - base
    return np.maximum(gain, 0.0)


def _improvements_2d(C: np.ndarray, P: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """`hypervolume_improvements` for two objectives in one vectorised step: the region that ``P`` leaves
    undominated is a staircase of height h_j over [lo_j, hi_j) of the second objective; a candidate (c1, c2)
    gains the sum over the steps of max(0, h_j - c1) times the part of the step right of c2."""
    F = P[non_dominated_mask(P)] if P.shape[0] else P.reshape(0, 2)
    F = F[np.argsort(F[:, 1])]
    lo = np.concatenate([[-np.inf], F[:, 1]])
    hi = np.concatenate([F[:, 1], [ref[1]]])
    height = np.concatenate([[ref[0]], F[:, 0]])
    width = np.clip(hi[None, :] - np.maximum(lo[None, :], C[:, 1:2]), 0.0, None)
    gain = (width * np.clip(height[None, :] - C[:, 0:1], 0.0, None)).sum(axis=1)
    return np.where(np.all(C < ref, axis=1), gain, 0.0)


def reference_point(Y, margin: float = 0.1) -> np.ndarray:
    """A reference point from data: the worst value of each objective plus ``margin`` times its range.

    Use it to fix a reference point once (e.g. from the initial design or from all runs being compared), state
    it in reports, and reuse the same point for every hypervolume that is compared.
    """
    Y = _as_points(Y)
    if Y.shape[0] == 0:
        raise ValueError("reference_point needs at least one point")
    lo, hi = Y.min(axis=0), Y.max(axis=0)
    span = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
    return hi + margin * span


def hypervolume_per_iteration(Y, iterations: Sequence[int], ref) -> tuple[np.ndarray, np.ndarray]:
    """Hypervolume of all points evaluated up to and including each iteration.

    ``iterations[i]`` is the iteration in which point ``Y[i]`` was evaluated. Returns ``(its, hv)`` with the
    sorted distinct iteration numbers and the cumulative hypervolume (w.r.t. ``ref``) after each of them.
    Rows with non-finite values (failed evaluations) are ignored.
    """
    Y = np.asarray(Y, dtype=np.float64)
    it = np.asarray(iterations).reshape(-1)
    if Y.ndim != 2 or Y.shape[0] != it.shape[0]:
        raise ValueError("Y must be (N, M) and iterations must have N entries")
    ok = np.all(np.isfinite(Y), axis=1)
    Y, it_ok = Y[ok], it[ok]
    its = np.unique(it)
    hv = np.array([hypervolume(Y[it_ok <= t], ref) for t in its])
    return its, hv


def rank_and_crowding(F) -> tuple[np.ndarray, np.ndarray]:
    """Per row of F (N, M): its non-dominated front (0 = Pareto set) and its crowding distance in that front
    (NSGA-II's selection keys)."""
    F = np.asarray(F, dtype=np.float64)
    rank = np.empty(F.shape[0], dtype=int)
    crowd = np.empty(F.shape[0])
    for r, idx in enumerate(non_dominated_sort(F)):
        rank[idx] = r
        crowd[idx] = crowding_distance(F[idx])
    return rank, crowd
