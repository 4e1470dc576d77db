"""Channel solver: absolute widths that bring a network within a tolerance of its parameter budget.

The widths follow `widths_for(base)` (the channel ratios applied to a real-valued base width); bisection on the
base finds the closest pattern, then a local search moves one width, or two widths at once, by one channel
while that reduces the error (pairs let one width grow while another shrinks, which single steps cannot). A
stage width first moves at most 5% (at least one channel) from the ratio pattern; only when that cannot meet
the tolerance (very narrow networks, where one channel is a big step) is it allowed two, then three channels.
The first width (the stem, which no ratio binds) may move by half its value; a budget those steps cannot meet within the tolerance is an error, never a silent miss. Parameter counts come from the spec, so no module is built while searching.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

Widths = list[int]


@dataclass(frozen=True)
class BudgetSolution:
    widths: Widths
    params: int
    budget: int

    @property
    def relative_error(self) -> float:
        return (self.params - self.budget) / self.budget


def _moves(n: int) -> list[tuple[int, ...]]:
    singles = [tuple(s if j == i else 0 for j in range(n)) for i in range(n) for s in (-1, 1)]
    pairs = [tuple(a if j == i else b if j == k else 0 for j in range(n))
             for i in range(n) for k in range(i + 1, n) for a in (-1, 1) for b in (-1, 1)]
    return singles + pairs


def _local_search(count: Callable[[Widths], int], budget: int, start: Widths, best: Widths, best_err: int,
                  drift: list[int]) -> tuple[Widths, int]:
    moves = _moves(len(best))
    improved = True
    while improved and best_err > 0:
        improved = False
        for move in moves:
            trial = [w + m for w, m in zip(best, move)]
            if min(trial) < 1 or any(abs(t - s) > d for t, s, d in zip(trial, start, drift)):
                continue
            err = abs(count(trial) - budget)
            if err < best_err:
                best, best_err, improved = trial, err, True
    return best, best_err


def solve_widths(count: Callable[[Widths], int], widths_for: Callable[[float], Widths], budget: int,
                 tolerance: float, max_base: float = 4096.0) -> BudgetSolution:
    smallest = count(widths_for(1.0))
    if smallest > budget * (1 + tolerance):
        raise ValueError(f"param_budget: must be at least {smallest} for this architecture (its smallest "
                         f"widths {widths_for(1.0)} already have that many parameters), got {budget}")
    lo, hi = 1.0, max_base
    if count(widths_for(hi)) < budget:
        raise ValueError(f"param_budget: must be at most {count(widths_for(hi))} for this architecture, got {budget}")
    for _ in range(40):  # count is non-decreasing in the base
        mid = (lo + hi) / 2
        if count(widths_for(mid)) < budget:
            lo = mid
        else:
            hi = mid
    best = min((widths_for(lo), widths_for(hi)), key=lambda w: abs(count(w) - budget))
    best_err = abs(count(best) - budget)
    start = list(best)
    for floor in (1, 2, 3):
        if best_err <= tolerance * budget:
            break
        drift = [max(floor, int((0.5 if i == 0 else 0.05) * w)) for i, w in enumerate(start)]
        best, best_err = _local_search(count, budget, start, best, best_err, drift)
    solution = BudgetSolution(best, count(best), budget)
    if abs(solution.relative_error) > tolerance:
        raise ValueError(f"param_budget: no widths meet {budget} within {tolerance:.1%} for this architecture "
                         f"(closest: {solution.params} at widths {best}); allowed: a budget this "
                         f"architecture's width steps can reach, or a larger budget_tolerance")
    return solution
