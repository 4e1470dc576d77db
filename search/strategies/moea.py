"""`moea`: a steady-state multi-objective evolution (NSGA-II's selection) on any space.

NSGA-II (Deb, Pratap, Agarwal and Meyarivan, 2002, "A fast and elitist multiobjective genetic algorithm:
NSGA-II", IEEE TEC 6(2)) keeps a population of P points ranked by non-dominated sorting, with the crowding
distance as the tie-break inside a front, chooses parents by binary tournaments on (rank, crowding) and breeds
children by crossover and mutation. This strategy keeps that selection and departs from the generational
algorithm as follows, for the asynchronous ask/tell engine and for search spaces without a crossover:

- steady-state ((P + 1) survival, as in Durillo et al., 2009, "On the effect of the steady-state selection
  scheme in multi-objective genetic algorithms"): each successful result joins the population at once, and
  when it holds more than P points the worst one leaves (last front, smallest crowding distance, the earliest
  evaluated on ties), so workers never wait for a generation to finish;
- mutation only: a child is one `space.mutate` move from a tournament winner (every space has one; no
  crossover, which cells and conditional generator spaces have no natural form of). A child whose point was
  already proposed is thrown away and the parent is chosen and mutated again (each try mutates the parent,
  never the rejected child, so moves do not chain); after `mutation_tries` such tries the job is a random new
  point;
- the first P jobs (and any job asked while fewer than two results exist) are random new points of the
  space's prior.

Pending jobs take no part in selection until their result comes in; like every proposed point, they are never
proposed again (points are remembered by hash). Failed results do not join the population. Each job's info
says where it came from: {"origin": "initial population" | "mutation" | "random: ...", "parent": job id}.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..pareto import crowding_distance, non_dominated_sort, rank_and_crowding
from .base import Job, Result, Strategy, StrategyError, register
from .mobo import draw_new_point

__all__ = ["MOEA"]


@register
class MOEA(Strategy):
    """Steady-state NSGA-II with mutation only (see the module docstring).

    Options: population_size (P >= 2, default 20), mutation_tries (>= 1, default 20).
    """

    name = "moea"
    multi_objective = True
    min_objectives = 2

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                 population_size: int = 20, mutation_tries: int = 20) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact)
        for key, value, low in (("population_size", population_size, 2), ("mutation_tries", mutation_tries, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise StrategyError(f"moea option {key}: must be an integer >= {low}, got {value!r}")
        self.population_size = population_size
        self.mutation_tries = mutation_tries
        self.population: list[tuple[int, Any, np.ndarray]] = []   # (job id, point, objective values)
        self._seen: set[str] = set()
        self._proposed = 0

    def _tell(self, job: Job, result: Result) -> None:
        if not result.ok:
            return
        values = np.array([result.objectives[name] for name in self.objectives], dtype=np.float64)
        self.population.append((job.id, job.point, values))
        if len(self.population) > self.population_size:
            F = np.array([f for _, _, f in self.population])
            last = non_dominated_sort(F)[-1]
            ids = np.array([self.population[i][0] for i in last])
            worst = last[np.lexsort((ids, crowding_distance(F[last])))[0]]
            del self.population[int(worst)]

    def _ask(self, n: int, pending: list[Job]) -> list[Job]:
        rank = crowd = None
        if len(self.population) >= 2:
            rank, crowd = rank_and_crowding(np.array([f for _, _, f in self.population]))
        jobs: list[Job] = []
        while len(jobs) < n:
            if self._proposed < self.population_size:
                job = self._random("initial population")
            elif rank is None:
                job = self._random("random: fewer than 2 successful evaluations to select parents from")
            else:
                job = self._child(rank, crowd)
            if job is None:
                break
            jobs.append(job)
        return jobs

    def _tournament(self, rank: np.ndarray, crowd: np.ndarray) -> int:
        """NSGA-II's crowded comparison between two distinct random members: lower rank, then larger crowding."""
        a, b = (int(i) for i in self.rng.choice(len(rank), size=2, replace=False))
        if rank[a] != rank[b]:
            return a if rank[a] < rank[b] else b
        return a if crowd[a] >= crowd[b] else b

    def _child(self, rank: np.ndarray, crowd: np.ndarray) -> Job | None:
        for _ in range(self.mutation_tries):
            i = self._tournament(rank, crowd)
            parent_id, parent, _ = self.population[i]
            child = self.space.mutate(parent, self.rng)
            h = self.space.hash(child)
            if h not in self._seen:
                self._seen.add(h)
                self._proposed += 1
                return self.new_job(child, origin="mutation", parent=parent_id)
        return self._random(f"random: {self.mutation_tries} mutations of tournament winners were all proposed "
                            "before")

    def _random(self, origin: str) -> Job | None:
        point = draw_new_point(self.space, self.rng, self._seen)
        if point is None:
            if self.space.size is not None and len(self._seen) >= self.space.size:
                self.done = True
            return None
        self._seen.add(self.space.hash(point))
        self._proposed += 1
        return self.new_job(point, origin=origin)
