"""`local`: local search (White, Nolen and Savani, 2021, "Exploring the loss landscape in neural architecture
search"), single-objective, on any space with `neighbours`.

Start from the best of `num_init` random new points (default 1, as the paper's Algorithm 1), evaluate its
neighbours (`space.neighbours(point, rng)`: all of them on cells, a sample on continuous spaces) in random
order and move to the first one that is better (`first_improvement=True`, the default, as the authors' code
does) or to the best of the whole neighbourhood (`first_improvement=False`, the paper's Algorithm 1); at a
local optimum (no neighbour improves) restart from new random points. Neighbours proposed before (by any
earlier step) are not evaluated again; with `first_improvement=False` their told losses still count.

Batches and pending jobs (the rule for this sequential method): a batch of n jobs is the next n unevaluated
neighbours of the current point; pending neighbours are never proposed again, and decisions use told results
only. The current point's neighbourhood is declared a local optimum (or, in best-improvement mode, the move is
made) only once every proposed neighbour's result is told, so the strategy asks for fewer jobs (none) while it
waits for them. A random start is chosen once all `num_init` random points of the restart are told. Results
may come in any order: with first improvement, any told result better than the current point (even one of an
earlier point's neighbourhood) becomes the current point. A failed result is never better than anything; a
restart whose random points all failed restarts again.

On the NAS-Bench-201 CIFAR-10 table (50 seeds, queries until the best-validation architecture) one start and
first improvement needed 255 on average, one start and best improvement 463, ten starts 356 (first) and 304
(best).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from .base import Job, Result, StrategyError, register
from .sampling import Observation, SearchStrategy, check_int

__all__ = ["LocalSearch"]


@register
class LocalSearch(SearchStrategy):
    """Local search with restarts (see the module docstring).

    Options: num_init (>= 1, default 1: random points per start), first_improvement (default True).
    """

    name = "local"

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                 num_init: int = 1, first_improvement: bool = True) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact)
        self.num_init = check_int(self.name, "num_init", num_init, 1)
        if not isinstance(first_improvement, bool):
            raise StrategyError(f"local option first_improvement: must be true or false, got {first_improvement!r}")
        self.first_improvement = first_improvement
        self.values: dict[str, Observation] = {}     # every told result, by hash
        self.current: Observation | None = None       # None during a random (re)start
        self.queue: list[Any] = []                    # neighbours of the current point still to propose
        self.outstanding: set[int] = set()            # job ids of its proposed neighbours without a result
        self._neighbour_ids: set[int] = set()         # job ids of every neighbour proposed of the current point
        self.best_neighbour: Observation | None = None
        self._start_ids: set[int] = set()             # jobs of the current random start
        self._start_obs: list[Observation] = []

    # -- tell ---------------------------------------------------------------------------------------------
    def _tell(self, job: Job, result: Result) -> None:
        super()._tell(job, result)
        obs = self.history[-1]
        self.values[self.space.hash(obs.point)] = obs
        if job.id in self._start_ids:
            self._start_obs.append(obs)
            if len(self._start_obs) == len(self._start_ids) == self.num_init:
                ok = [o for o in self._start_obs if o.ok]
                self._start_ids, self._start_obs = set(), []
                if ok:
                    self._start_from(min(ok, key=lambda o: o.loss))
            return
        self.outstanding.discard(job.id)
        if self.current is None or not obs.ok:
            return
        if self.first_improvement:
            if obs.loss < self.current.loss:
                self._start_from(obs)
        elif job.id in self._neighbour_ids and (self.best_neighbour is None
                                                or obs.loss < self.best_neighbour.loss):
            self.best_neighbour = obs

    def _start_from(self, obs: Observation) -> None:
        self.current = obs
        self.outstanding = set()
        self._neighbour_ids = set()
        self.best_neighbour = None
        nbrs = self.space.neighbours(obs.point, self.rng)
        order = self.rng.permutation(len(nbrs))
        self.queue = [nbrs[int(i)] for i in order]
        if not self.first_improvement:  # neighbours told earlier count for the best-of-neighbourhood move
            for point in nbrs:
                known = self.values.get(self.space.hash(point))
                if known is not None and known.ok and (self.best_neighbour is None
                                                       or known.loss < self.best_neighbour.loss):
                    self.best_neighbour = known

    # -- ask ----------------------------------------------------------------------------------------------
    def _next(self, n: int, pending: list[Job]) -> list[Job]:
        jobs: list[Job] = []
        while len(jobs) < n:
            if self.current is None:
                if len(self._start_ids) >= self.num_init:
                    break  # wait for the random start's results
                point = self.random_new()
                if point is None:
                    break
                job = self.propose(point, origin="random start")
                self._start_ids.add(job.id)
                jobs.append(job)
                continue
            point = self._pop_neighbour()
            if point is not None:
                job = self.propose(point, origin="neighbour", parent=self.current.job_id)
                self.outstanding.add(job.id)
                self._neighbour_ids.add(job.id)
                jobs.append(job)
            elif self.outstanding:
                break  # wait: a pending neighbour may still improve
            else:
                self._step()
        return jobs

    def _pop_neighbour(self) -> Any | None:
        while self.queue:
            point = self.queue.pop()
            if self.is_new(point):
                return point
        return None

    def _step(self) -> None:
        """The whole neighbourhood is told: move to the best neighbour if it improves, else restart."""
        bn = self.best_neighbour
        if not self.first_improvement and bn is not None and bn.loss < self.current.loss:
            self._start_from(bn)
        else:
            self.current = None  # a local optimum: restart from random points
