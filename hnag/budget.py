"""Channel solver: absolute widths that bring a network within a tolerance of its parameter budget.

Widths are `[first, w_1, ..., w_m]`: the first width (the stem) and the widths bound by a pattern (HNAG's
stage widths follow the channel ratios, RNAG's stages double). The solver:

1. bisects a real base width on `widths_for(base)`, the pattern with every width rounded and at least one
   channel. The base starts where every width is one channel, so a budget below the ratio-following
   `[1, r_1, r_2, ...]` widths is still met, with the narrowest widths clipped to one channel (the ratios are
   then kept only as far as whole channels allow);
2. tries the two patterns that straddle the budget, then moves the pattern-bound widths, fewest channels moved
   first, in three tiers that each allow more distortion than the last, until one lands within the tolerance:

   | tier | each pattern-bound width moves by at most | channels moved in all | free first width (p: the pattern's) |
   |---|---|---|---|
   | 1 | 1 channel | 2 | p/2 .. 3p/2 |
   | 2 | 2 channels | 3 | p/4 .. 4p + 8 |
   | 3 | 3 channels | 4 | 1 .. 64 (p + 2) |

3. when the first width is free (`free_first`, HNAG's stem unless `stem_channels` fixes it), solves it exactly
   for every candidate: the count is affine in it (the stem's conv and BN and every op or projection that reads
   the stem are linear in its width) except where it equals another width (a projection disappears), so two
   counts give the line and the whole channels around its root, the pattern's value and the equal-width
   points are counted exactly; the one nearest the pattern's value within the tolerance wins.

The stem is the fine knob: no ratio binds it and one stem channel costs a few dozen to a few thousand
parameters, while one channel of a stage with hundreds of ops can cost a quarter of a small budget. Tiers 2 and
3 exist for narrow networks (a 20k budget for a topology of several hundred ops gives stage widths of one to
four channels); they may give such networks a stem many times wider than their first stage, which is the
price of meeting the budget instead of refusing it. Wide networks are met in tier 1 (all 400 of the 1M-parameter
networks in `experiments/bench_factory.py`'s table, whose refusal shares at 20k, 50k and 1M went from 55%, 23%
and 0% to 0%).

A budget that no tier meets is an error, never a silent miss. Parameter counts come from the spec (no module is
built) and each distinct width vector is counted once.

Departure from the paper's code (a closed-form channel multiplier, up to about 8% off): exact counts and a
search, so the error is at most the tolerance (1% by default).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Callable, Iterator

Widths = list[int]
TIERS = (1, 2, 3)  # a tier's number is the most channels one pattern-bound width may move in it


@dataclass(frozen=True)
class BudgetSolution:
    widths: Widths
    params: int
    budget: int

    @property
    def relative_error(self) -> float:
        return (self.params - self.budget) / self.budget


def first_width_range(pattern_first: int, tier: int) -> tuple[int, int]:
    """The widths a free first width may take in `tier` (1, 2 or 3) when the pattern gives it `pattern_first`."""
    if tier == 1:
        return max(1, pattern_first // 2), pattern_first + max(1, pattern_first // 2)
    if tier == 2:
        return max(1, pattern_first // 4), 4 * pattern_first + 8
    return 1, 64 * (pattern_first + 2)


def _offsets(size: int, each: int, total: int) -> list[tuple[int, ...]]:
    """Every offset vector of `size` entries in [-each, each] moving at most `total` channels in all, fewest
    moved first (ties in a fixed order)."""
    def grow(prefix: tuple[int, ...], left: int) -> Iterator[tuple[int, ...]]:
        if len(prefix) == size:
            yield prefix
            return
        for o in range(-min(each, left), min(each, left) + 1):
            yield from grow(prefix + (o,), left - abs(o))
    return sorted(grow((), total), key=lambda o: (sum(map(abs, o)), o))


class _Solver:
    """Counts (each width vector once) and remembers the closest widths seen, for the error message."""

    def __init__(self, count: Callable[[Widths], int], budget: int, limit: float, free_first: bool) -> None:
        self._count, self.budget, self.limit, self.free_first = count, budget, limit, free_first
        self._cache: dict[tuple[int, ...], int] = {}
        self.closest: Widths | None = None

    def count(self, widths: Widths) -> int:
        key = tuple(widths)
        if key not in self._cache:
            self._cache[key] = self._count(list(widths))
            if self.closest is None or self.error(widths) < self.error(self.closest):
                self.closest = list(widths)
        return self._cache[key]

    def error(self, widths: Widths) -> int:
        return abs(self.count(widths) - self.budget)

    def fits(self, widths: Widths) -> bool:
        return self.error(widths) <= self.limit

    def with_first(self, rest: Widths, pattern_first: int, tier: int) -> Widths:
        """`rest` with the free first width: the one nearest `pattern_first` within the tolerance, else the one
        closest to the budget."""
        lo, hi = first_width_range(pattern_first, tier)
        generic = [f for f in range(lo, hi + 1) if f not in rest][:2]  # away from the equal-width kinks
        if len(generic) < 2:
            choices = set(range(lo, hi + 1))
        else:
            (fa, fb), (pa, pb) = generic, [self.count([f, *rest]) for f in generic]
            slope = (pb - pa) / (fb - fa)
            root = fa + (self.budget - pa) / slope if slope > 0 else fa
            choices = {min(max(f, lo), hi) for f in (math.floor(root), math.ceil(root), pattern_first, *rest)}

        def rank(f: int) -> tuple[bool, int]:
            fits = self.fits([f, *rest])
            return (not fits, abs(f - pattern_first) if fits else self.error([f, *rest]))

        return [min(sorted(choices), key=rank), *rest]

    def candidates(self, pattern: Widths, tier: int) -> Iterator[Widths]:
        for offset in _offsets(len(pattern) - 1, tier, tier + 1):
            rest = [w + o for w, o in zip(pattern[1:], offset)]
            if min(rest, default=1) >= 1:
                yield self.with_first(rest, pattern[0], tier) if self.free_first else [pattern[0], *rest]


def solve_widths(count: Callable[[Widths], int], widths_for: Callable[[float], Widths], budget: int,
                 tolerance: float, max_base: float = 4096.0, free_first: bool = True) -> BudgetSolution:
    """Widths whose parameter count is within `tolerance` (relative) of `budget`, by the rules above.

    count: exact parameters of a width vector; widths_for: the pattern for a real base width (non-decreasing in
    it, as the count must be along it); free_first: whether the first width is free (else the pattern's).
    Raises a one-line ValueError naming `param_budget` when no allowed widths get there."""
    solver = _Solver(count, budget, tolerance * budget, free_first)
    lo = 0.4 / max(1, max(widths_for(1.0)))  # every rounded width is then max(1, 0) = 1 channel
    narrowest = widths_for(lo)
    if solver.count(narrowest) > budget + solver.limit:
        raise ValueError(f"param_budget: must be at least {solver.count(narrowest)} for this architecture (its "
                         f"narrowest widths {narrowest} already have that many parameters), got {budget}")
    hi = max_base
    if solver.count(widths_for(hi)) < budget - solver.limit:
        raise ValueError(f"param_budget: must be at most {solver.count(widths_for(hi))} for this architecture, "
                         f"got {budget}")
    for _ in range(40):
        mid = (lo + hi) / 2
        if solver.count(widths_for(mid)) < budget:
            lo = mid
        else:
            hi = mid
    patterns = [widths_for(lo), widths_for(hi)]
    found = next((p for p in patterns if solver.fits(p)), None)
    for tier in TIERS:
        if found is not None:
            break
        # Both patterns' candidates interleaved, so the fewest channels moved from either comes first.
        streams = [solver.candidates(p, tier) for p in patterns]
        for widths in itertools.chain.from_iterable(itertools.zip_longest(*streams)):
            if widths is not None and solver.fits(widths):
                found = widths
                break
    if found is None:
        closest = solver.closest or narrowest
        raise ValueError(f"param_budget: no widths meet {budget} within {tolerance:.1%} for this architecture "
                         f"(closest: {solver.count(closest)} at widths {closest}); allowed: a budget this "
                         f"architecture's width steps can reach, or a larger budget_tolerance")
    return BudgetSolution(found, solver.count(found), budget)
