"""`evolution`: regularized (aging) evolution (Real, Aggarwal, Huang and Le, 2019, "Regularized evolution for
image classifier architecture search"), single-objective, on any space with `mutate`.

- Initial population: random new points until `population_size` successful results are told.
- Then every job is a child: a tournament of `tournament_size` members drawn without replacement from the
  population picks the one of least loss as parent (the earliest told on ties), and the child is one
  `space.mutate` move of it, re-drawn from the parent (never chained) until it was never proposed before; a
  random new point after `patience` draws that all were.
- Aging: each successful result joins the population and, once it holds more than `population_size` members,
  the oldest (first told) leaves.

Asynchronous batches, as in the paper's distributed workers: a batch of n jobs is n independent tournaments on
the current population; pending jobs take no part in selection until their result is told (results in any
order), and are never proposed again. A failed result does not join the population (it has no fitness), so
the initial phase lasts until `population_size` results succeeded.

Defaults (population 50, tournament 20) were tuned on the NAS-Bench-201 CIFAR-10 table (grid P in 10..100,
T in 2..20, 50 seeds, queries until the best-validation architecture: 178 on average; P=30, T=10 gives 185,
T=2 or 5 300 to 1,300). On continuous spaces `space.mutate` changes one hyperparameter (a Gaussian step for
numbers; see the space).
"""
from __future__ import annotations

from collections import deque
from typing import Any, Callable, Mapping, Sequence

from .base import Job, Result, StrategyError, register
from .sampling import Observation, SearchStrategy, check_int

__all__ = ["RegularizedEvolution"]


@register
class RegularizedEvolution(SearchStrategy):
    """Regularized evolution (see the module docstring).

    Options: population_size (>= 2, default 50), tournament_size (1..population_size, default 20),
    patience (>= 1, default 100: mutation draws before a random new point).
    """

    name = "evolution"

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                 population_size: int = 50, tournament_size: int = 20, patience: int = 100) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact)
        self.population_size = check_int(self.name, "population_size", population_size, 2)
        self.tournament_size = check_int(self.name, "tournament_size", tournament_size, 1)
        if self.tournament_size > self.population_size:
            raise StrategyError(f"evolution option tournament_size: must be in 1..population_size "
                                f"({self.population_size}), got {tournament_size}")
        self.patience = check_int(self.name, "patience", patience, 1)
        self.population: deque[Observation] = deque()

    def _tell(self, job: Job, result: Result) -> None:
        super()._tell(job, result)
        if self.history[-1].ok:
            self.population.append(self.history[-1])
            if len(self.population) > self.population_size:
                self.population.popleft()

    def _next(self, n: int, pending: list[Job]) -> list[Job]:
        if self.successes < self.population_size:
            return self.random_jobs(n, origin="initial population")
        jobs = []
        for _ in range(n):
            job = self._child()
            if job is None:
                break
            jobs.append(job)
        return jobs

    def _child(self) -> Job | None:
        members = list(self.population)
        picks = self.rng.choice(len(members), size=self.tournament_size, replace=False)
        parent = min((members[int(i)] for i in sorted(picks)), key=lambda o: o.loss)
        for _ in range(self.patience):
            child = self.space.mutate(parent.point, self.rng)
            if self.is_new(child):
                return self.propose(child, origin="mutation", parent=parent.job_id)
        point = self.random_new()
        if point is None:
            return None
        return self.propose(point, origin="random", reason=f"{self.patience} mutations of the tournament winner "
                            "were all proposed before")
