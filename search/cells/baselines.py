"""Baselines for cell search: random search, regularized evolution, local search.

All three query each architecture at most once (the base `Searcher` refuses repeats), so "queries" always
means distinct architectures evaluated.

- `RandomSearch`: uniform sampling without replacement.
- `RegularizedEvolution` (Real et al. 2019): the first `population_size` queries are random; then a tournament
  of `tournament_size` members drawn without replacement from the population picks the best as parent, its
  child is one `space.mutate` of it (re-drawn from the parent, never chained, until it is new; a random new
  cell if `patience` draws fail), and the oldest member dies when the child joins. The defaults (population
  50, tournament 20) were tuned on the NAS-Bench-201 CIFAR-10 table (grid P in 10..100, T in 2..20, 50 seeds,
  queries until the best-validation architecture: 178 on average; P=30, T=10 gives 185, T=2 or 5 300 to
  1,300); `experiments/bench_cell_search.py --tune` reruns the grid.
- `LocalSearch` (White, Nolen, Savani 2021, "Local search is state of the art for NAS benchmarks"): start from
  the best of `num_init` random architectures (default 1, as the paper's Algorithm 1), evaluate its
  neighbours (`space.neighbours`) in random order and move to the first one that is better
  (`first_improvement=True`, the default, as the authors' code does) or to the best of the whole
  neighbourhood (`first_improvement=False`, the paper's Algorithm 1); at a local optimum (no unqueried
  neighbour improves) restart from new random architectures. On the NAS-Bench-201 table (50 seeds, queries
  until the best-validation architecture) one start and first improvement needed 255 on average, one start
  and best improvement 463, ten starts 356 (first) and 304 (best).
"""
from __future__ import annotations

from collections import deque

from .strategies import Searcher


class RandomSearch(Searcher):
    name = "random"

    def _propose(self):
        return self.random_new()


class RegularizedEvolution(Searcher):
    name = "evolution"

    def __init__(self, space, seed: int = 0, population_size: int = 50, tournament_size: int = 20,
                 patience: int = 100) -> None:
        if population_size < 2 or not 1 <= tournament_size <= population_size:
            raise ValueError(f"evolution: need population_size >= 2 and 1 <= tournament_size <= population_size "
                             f"(got {population_size}, {tournament_size})")
        super().__init__(space, seed)
        self.population_size, self.tournament_size, self.patience = population_size, tournament_size, patience
        self.population: deque = deque()

    def _propose(self):
        if len(self.history) < self.population_size:
            return self.random_new()
        members = list(self.population)
        picks = self.rng.choice(len(members), size=self.tournament_size, replace=False)
        parent = max((members[int(i)] for i in picks), key=lambda m: m[1])[0]
        for _ in range(self.patience):
            child = self.space.mutate(parent, self.rng)
            if self.is_new(child):
                return child
        return self.random_new()

    def _observe(self, cell, val: float) -> None:
        self.population.append((cell, val))
        if len(self.population) > self.population_size:
            self.population.popleft()


class LocalSearch(Searcher):
    name = "local"

    def __init__(self, space, seed: int = 0, num_init: int = 1, first_improvement: bool = True) -> None:
        if num_init < 1:
            raise ValueError(f"local: num_init must be >= 1, got {num_init}")
        super().__init__(space, seed)
        self.num_init, self.first_improvement = num_init, first_improvement
        self.values: dict[str, float] = {}
        self.restart_at = 0                 # history index where the current restart's random phase began
        self.current = None                 # (cell, val) of the current point, None during a random phase
        self.queue: list = []               # neighbours of the current point still to evaluate
        self.best_neighbour = None          # best evaluated neighbour of the current point (full mode)

    def _start_from(self, cell, val) -> None:
        self.current = (cell, val)
        self.best_neighbour = None
        nbrs = [c for c in self.space.neighbours(cell) if self.is_new(c)]
        order = self.rng.permutation(len(nbrs))
        self.queue = [nbrs[int(i)] for i in order]
        if not self.first_improvement:  # already known neighbours count for the best-of-neighbourhood move
            for c in self.space.neighbours(cell):
                v = self.values.get(self.space.hash(c))
                if v is not None and (self.best_neighbour is None or v > self.best_neighbour[1]):
                    self.best_neighbour = (c, v)

    def _step(self) -> None:
        """Neighbourhood exhausted: move to the best neighbour if it improves, else restart."""
        while self.current is not None and not self.queue:
            bn = self.best_neighbour
            if not self.first_improvement and bn is not None and bn[1] > self.current[1]:
                self._start_from(*bn)
            else:
                self.current = None  # local optimum: restart
                self.restart_at = len(self.history)

    def _propose(self):
        self._step()
        while self.queue:
            cell = self.queue.pop()
            if self.is_new(cell):
                return cell
            self._step()
        return self.random_new()

    def _observe(self, cell, val: float) -> None:
        self.values[self.space.hash(cell)] = val
        if self.current is None:
            if len(self.history) - self.restart_at >= self.num_init:
                start = max(self.history[self.restart_at:], key=lambda cv: cv[1])
                self._start_from(*start)
            return
        if self.first_improvement:
            if val > self.current[1]:
                self._start_from(cell, val)
        elif self.best_neighbour is None or val > self.best_neighbour[1]:
            self.best_neighbour = (cell, val)
