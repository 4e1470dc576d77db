"""`hyperband`: Hyperband on the ask/tell interface, and the successive-halving bracket machinery that `bohb`
(and any other sampler) shares.

Hyperband: Li, Jamieson, DeSalvo, Rostamizadeh and Talwalkar, 2018, "Hyperband: a novel bandit-based approach
to hyperparameter optimization", JMLR 18(185). Brackets, budgets and the asynchronous schedule are those of
hpbandster 0.7.4 (`optimizers/hyperband.py`, `core/master.py`, `core/base_iteration.py`), so that a search here
and one with hpbandster's Master make the same decisions:

- with S = floor(log_eta(max_budget / min_budget)) + 1 rungs, the budgets are max_budget * eta^-k
  (k = S-1, ..., 0); bracket i (0-based) has s = S - 1 - (i mod S) promotions, n0 = floor(S / (s + 1)) * eta^s
  points at budget max_budget * eta^-s and max(int(n0 * eta^-r), 1) points at its rung r;
- `ask(n)` hands out up to n jobs, taking from the active (unfinished) brackets in the order they were opened:
  first the promoted points of the current rung not yet run, then new points for the rung's empty slots;
- a rung is complete when every one of its jobs has been told; its best successful jobs (by the objective,
  `Strategy.loss`) are then promoted, as many as the next rung holds: the SAME points run again, as new jobs,
  at the next budget (info {"bracket", "rung", "promoted_from": the job id at the lower rung}); failed jobs are
  never promoted;
- as in hpbandster, a rung that received fewer promoted points than its size (because jobs failed) is filled up
  with new points at its own budget;
- when no active bracket can give a job (its current rung is running) and fewer than `iterations` brackets were
  opened, the next bracket opens, so several brackets run at once rather than leave workers idle; when every
  bracket is finished the strategy is `done`.

New points come from `propose(budget)`: here a draw from the space's prior with this strategy's own random
stream; `bohb` proposes from its KDE model instead, and a multi-objective variant would override `select` (the
promotion rule) too. The brackets keep their own record of running jobs, so `pending` is not needed.

Departures from hpbandster, and why:
- the number of rungs is floor(log(max/min) / log(eta) + 1e-9) + 1: hpbandster truncates
  -log(min/max)/log(eta) towards zero, which loses a rung when rounding puts 3 at 2.9999999999999996 (min 1,
  max 1000, eta 10 gives it 3 rungs instead of 4);
- ties in a promotion go to the earlier job (hpbandster's `np.argsort` leaves their order unspecified);
- random points come from the strategy's own seeded generator (hpbandster samples with numpy's global state).

Resume: replaying the log reproduces the brackets exactly. `iterations` may grow on resume (`extend`): the
engine replays each session with the number of brackets that session had, so an ask that came back short
because every bracket was open replays the same way, and only then are the new brackets allowed.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping, Sequence

from .base import Job, Result, Strategy, StrategyError, register

__all__ = ["Bracket", "Hyperband", "check_budgets", "hyperband_budgets", "hyperband_schedule", "schedule_totals"]

#: the schedule of a Hyperband run: bracket index -> (points per rung, budget per rung)
Schedule = Callable[[int], tuple[list[int], list[float]]]


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def check_budgets(min_budget: float, max_budget: float, eta: float) -> None:
    """Raise a one-line `StrategyError` for budgets or an eta that Hyperband cannot use."""
    if not _number(min_budget) or min_budget <= 0:
        raise StrategyError(f"min_budget: must be a number > 0, got {min_budget!r}")
    if not _number(max_budget) or max_budget < min_budget:
        raise StrategyError(f"max_budget: must be a number >= the min budget {min_budget:g}, got {max_budget!r}")
    if not _number(eta) or eta < 2:
        raise StrategyError(f"eta: must be a number >= 2, got {eta!r}")


def hyperband_budgets(min_budget: float, max_budget: float, eta: float) -> list[float]:
    """The budgets of the rungs, smallest first: max_budget * eta^-k for k = S-1, ..., 0 (see the module
    docstring); the smallest is the smallest such budget >= min_budget (up to rounding)."""
    check_budgets(min_budget, max_budget, eta)
    rungs = int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9)) + 1
    return [float(max_budget * eta ** (-k)) for k in range(rungs - 1, -1, -1)]


def hyperband_schedule(min_budget: float, max_budget: float, eta: float) -> Schedule:
    """bracket index -> (number of points per rung, budget per rung) of that successive-halving bracket,
    as hpbandster's `HyperBand.get_next_iteration` computes them."""
    budgets = hyperband_budgets(min_budget, max_budget, eta)
    rungs = len(budgets)

    def schedule(iteration: int) -> tuple[list[int], list[float]]:
        s = rungs - 1 - (iteration % rungs)
        n0 = int(math.floor(rungs / (s + 1)) * eta ** s)
        return [max(int(n0 * eta ** (-r)), 1) for r in range(s + 1)], budgets[rungs - 1 - s:]

    return schedule


def schedule_totals(schedule: Schedule, iterations: int) -> tuple[int, float]:
    """(jobs, total budget) of the first `iterations` brackets when no job fails."""
    jobs, budget = 0, 0.0
    for i in range(iterations):
        sizes, budgets = schedule(i)
        jobs += sum(sizes)
        budget += sum(n * b for n, b in zip(sizes, budgets))
    return jobs, budget


#: the promotion rule: (successful jobs of a complete rung with their results, how many) -> the promoted jobs
Select = Callable[[list[tuple[Job, Result]], int], list[Job]]
#: where new points come from: budget -> (point, info to log with its job)
Propose = Callable[[float], tuple[Any, Mapping[str, Any]]]


class Bracket:
    """One successive-halving bracket: `sizes[r]` points at `budgets[r]`, rung after rung.

    `next_job` gives the bracket's next runnable job (a promoted point, or a new point from `propose` for an
    empty slot) or None while its current rung is running; `tell` records a result and, once the rung is
    complete, promotes with `select`. `promotions[r]` lists the ids of the jobs of rung r that were promoted."""

    def __init__(self, index: int, sizes: Sequence[int], budgets: Sequence[float], select: Select) -> None:
        if not sizes or len(sizes) != len(budgets):
            raise ValueError(f"bracket {index}: needs one size per budget, got {len(sizes)} sizes and "
                             f"{len(budgets)} budgets")
        self.index = index
        self.sizes = [int(n) for n in sizes]
        self.budgets = [float(b) for b in budgets]
        self.select = select
        self.rung = 0
        self.filled = [0] * len(self.sizes)        # points assigned to each rung (promoted or new)
        self.queue: list[Job] = []                 # jobs of the rung below whose points wait to run again
        self.running: set[int] = set()
        self.told: list[tuple[Job, Result]] = []   # results of the current rung
        self.promotions: list[list[int]] = []
        self.finished = False

    @property
    def budget(self) -> float:
        return self.budgets[self.rung]

    def next_job(self, new_job: Callable[..., Job], propose: Propose) -> Job | None:
        """The next job of the current rung (made with `new_job(point, budget, **info)`), or None."""
        if self.finished:
            return None
        info = {"bracket": self.index, "rung": self.rung}
        if self.queue:
            parent = self.queue.pop(0)
            job = new_job(parent.point, self.budget, **info, promoted_from=parent.id)
        elif self.filled[self.rung] < self.sizes[self.rung]:
            point, extra = propose(self.budget)
            self.filled[self.rung] += 1
            job = new_job(point, self.budget, **info, **dict(extra))
        else:
            return None
        self.running.add(job.id)
        return job

    def tell(self, job: Job, result: Result) -> None:
        """Record the result of one of this bracket's running jobs (promoting when the rung is complete)."""
        if job.id not in self.running:
            raise StrategyError(f"bracket {self.index}: job {job.id} is not running in it")
        self.running.discard(job.id)
        self.told.append((job, result))
        if not self.running and not self.queue and self.filled[self.rung] == self.sizes[self.rung]:
            self._complete_rung()

    def _complete_rung(self) -> None:
        self.rung += 1
        if self.rung == len(self.sizes):
            self.finished = True
            return
        ok = [(job, result) for job, result in self.told if result.ok]
        # the promoted points run in the order they entered the bracket, as in hpbandster
        chosen = sorted(self.select(ok, self.sizes[self.rung]), key=lambda j: j.id)
        self.promotions.append([j.id for j in chosen])
        self.queue = chosen
        self.filled[self.rung] = len(chosen)
        self.told = []


@register
class Hyperband(Strategy):
    """Hyperband with random sampling (see the module docstring).

    Options: eta (successive halving's factor, a number >= 2, default 3), iterations (brackets, an integer
    >= 1; default one full Hyperband round, i.e. one bracket per rung count). Without a min_budget the only
    budget is max_budget: every bracket is then one point at the max budget (random search)."""

    name = "hyperband"
    multi_fidelity = True
    extendable = ("iterations",)

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                 eta: float = 3, iterations: int | None = None) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact)
        check_budgets(self.min_budget, self.max_budget, eta)
        if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, int)
                                       or iterations < 1):
            raise StrategyError(f"{self.name} option iterations: must be an integer >= 1, got {iterations!r}")
        self.eta = float(eta)
        self.budgets = hyperband_budgets(self.min_budget, self.max_budget, self.eta)
        self.schedule = hyperband_schedule(self.min_budget, self.max_budget, self.eta)
        self.iterations = len(self.budgets) if iterations is None else iterations
        self.brackets: list[Bracket] = []
        self._running: dict[int, Bracket] = {}

    # -- what subclasses change -----------------------------------------------------------------------------
    def propose(self, budget: float) -> tuple[Any, Mapping[str, Any]]:
        """A new point for an empty slot at `budget`, and what to log about it: here a draw from the prior."""
        return self.space.sample(self.rng), {}

    def select(self, told: list[tuple[Job, Result]], k: int) -> list[Job]:
        """The k best successful jobs of a complete rung by the objective (ties: the earlier job)."""
        ranked = sorted(told, key=lambda jr: (self.loss(jr[1]), jr[0].id))
        return [job for job, _ in ranked[:k]]

    # -- the interface --------------------------------------------------------------------------------------
    def _ask(self, n: int, pending: list[Job]) -> list[Job]:
        jobs: list[Job] = []
        while len(jobs) < n:
            job = None
            for bracket in self.brackets:
                job = bracket.next_job(self.new_job, self.propose)
                if job is not None:
                    self._running[job.id] = bracket
                    break
            if job is not None:
                jobs.append(job)
            elif len(self.brackets) < self.iterations:
                sizes, budgets = self.schedule(len(self.brackets))
                self.brackets.append(Bracket(len(self.brackets), sizes, budgets, self.select))
            else:
                break
        return jobs

    def _extend(self, iterations: int) -> None:
        if isinstance(iterations, bool) or not isinstance(iterations, int) or iterations < len(self.brackets):
            raise StrategyError(f"{self.name} option iterations: must be an integer >= {len(self.brackets)} "
                                f"(the brackets already opened), got {iterations!r}")
        self.iterations = iterations
        self.done = len(self.brackets) == self.iterations and all(b.finished for b in self.brackets)

    def _tell(self, job: Job, result: Result) -> None:
        bracket = self._running.pop(job.id, None)
        if bracket is None:
            raise StrategyError(f"{self.name}: job {job.id} is not running (never asked for, or told twice)")
        bracket.tell(job, result)
        if len(self.brackets) == self.iterations and all(b.finished for b in self.brackets):
            self.done = True
