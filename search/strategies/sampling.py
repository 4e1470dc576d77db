"""Shared parts of the single-objective strategies (random, evolution, local, bananas, bonas), on any space.

`SearchStrategy` is a `Strategy` without a name of its own that keeps what they all need:

- `seen`: the hash (`space.hash`) of every point it ever proposed, pending jobs included, so no point is
  proposed twice; on a finite space (`space.size`) the strategy is `done` once every point was proposed.
  Continuous spaces (hnag) refuse duplicates by hash too (floats rounded to 10 digits).
- `history`: the told results, in the order they were told (results may come back in any order), as
  `Observation(job_id, point, loss)` with `loss = Strategy.loss(result)` (inf for a failure).
- candidate generation: `random_new` (a new point from the space's prior, or from the enumerated rest of a
  small finite space once rejection sampling gets slow), `fresh`, `mutation_candidates`,
  `tournament_candidates` (all deduplicated among themselves and against `seen`).

`ModelBasedStrategy` adds the schedule BANANAS and BONAS share: random new points until `num_init`
*successful* results are told, then, per model fit, the best `max(n, batch_size)` candidates by acquisition
(the first n are asked for, the rest queued for the next asks), random new points when no candidate is left.
Models are fitted on told results only: pending jobs are never fitted (they have no value yet), and they are
never candidates again (they are in `seen`). A failed result is fitted with the worst finite loss told so far
(`model_targets`): a failure is at least as bad as the worst success, and an infinite target would blow up
the standardisation of every model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .base import Job, Result, Strategy, StrategyError

__all__ = ["Observation", "SearchStrategy", "ModelBasedStrategy", "model_targets", "check_int"]


@dataclass(frozen=True)
class Observation:
    """A told result: the job's id, its point and its loss (inf for a failure)."""

    job_id: int
    point: Any
    loss: float

    @property
    def ok(self) -> bool:
        return bool(np.isfinite(self.loss))


def check_int(strategy: str, name: str, value: Any, low: int) -> int:
    """`value` as an int >= `low`, or a one-line StrategyError naming the option and the allowed range."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise StrategyError(f"{strategy} option {name}: must be an integer >= {low}, got {value!r}")
    return int(value)


def model_targets(losses: Sequence[float]) -> np.ndarray:
    """Scores to maximise for a predictor: minus each loss, a failure (inf) counting as the worst finite loss.

    Raises ValueError when no loss is finite (nothing to fit)."""
    loss = np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(loss)
    if not finite.any():
        raise ValueError("model targets: no finite loss to fit")
    return -np.where(finite, loss, loss[finite].max())


class SearchStrategy(Strategy):
    """Base of the single-objective strategies (see the module docstring). Subclasses implement `_next`."""

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None,
                 exact: Mapping[str, Callable[[Any], float]] | None = None) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact)
        self.seen: set[str] = set()
        self.history: list[Observation] = []
        self._remaining: list[Any] | None = None   # unproposed points of a finite space, once sampling is slow

    # -- the ask/tell plumbing ----------------------------------------------------------------------------
    def _ask(self, n: int, pending: list[Job]) -> list[Job]:
        for job in pending:  # already proposed by this strategy; kept here so no caller can get it twice
            self.seen.add(self.space.hash(job.point))
        if self.exhausted:
            self.done = True
            return []
        jobs = self._next(n, pending)
        if self.exhausted:
            self.done = True
        return jobs

    def _next(self, n: int, pending: list[Job]) -> list[Job]:
        raise NotImplementedError

    def _tell(self, job: Job, result: Result) -> None:
        self.history.append(Observation(job.id, job.point, self.loss(result)))

    @property
    def exhausted(self) -> bool:
        """Whether every point of a finite space was proposed."""
        return self.space.size is not None and len(self.seen) >= self.space.size

    @property
    def successes(self) -> int:
        return sum(o.ok for o in self.history)

    def propose(self, point: Any, **info: Any) -> Job:
        """A job at the maximum budget for a point that was never proposed (remembered from now on)."""
        h = self.space.hash(point)
        if h in self.seen:  # a strategy bug, never a silent repeat
            raise RuntimeError(f"{self.name}: proposed {self.space.describe(point)} twice")
        self.seen.add(h)
        return self.new_job(point, **info)

    def is_new(self, point: Any) -> bool:
        return self.space.hash(point) not in self.seen

    def best(self, k: int = 1) -> list[Observation]:
        """The k best successful observations, best first (the earliest told first on ties)."""
        ok = [o for o in self.history if o.ok]
        return sorted(ok, key=lambda o: o.loss)[:k]   # sorted() is stable: earliest first on ties

    # -- candidate generation -----------------------------------------------------------------------------
    def random_new(self, tries: int = 200) -> Any | None:
        """A point of the space's prior never proposed before; None when none is left (or, on a space that
        cannot be enumerated, when `tries` samples were all proposed before)."""
        if self._remaining is None:
            for _ in range(tries):
                point = self.space.sample(self.rng)
                if self.is_new(point):
                    return point
            if self.space.size is None:
                return None
            try:  # rejection sampling has become slow: draw from the explicit list of what is left
                points = self.space.all_points()
            except NotImplementedError:
                return None
            self._remaining = [p for p in points if self.is_new(p)]
        while self._remaining:  # a uniform pick; points proposed since are dropped as they are met
            i = int(self.rng.integers(len(self._remaining)))
            point = self._remaining[i]
            if self.is_new(point):
                return point
            self._remaining[i] = self._remaining[-1]
            self._remaining.pop()
        return None

    def random_jobs(self, n: int, **info: Any) -> list[Job]:
        """Up to n jobs of random new points (fewer when the space runs out)."""
        jobs = []
        for _ in range(n):
            point = self.random_new()
            if point is None:
                break
            jobs.append(self.propose(point, **info))
        return jobs

    def fresh(self, make: Callable[[int], Any], n: int, tries: int, exclude: set[str] | None = None) -> list[Any]:
        """Up to n distinct points from make(t), t = 0, 1, ..., tries - 1, skipping those proposed before
        and those whose hash is in `exclude` (which is updated with the hashes taken)."""
        out: list[Any] = []
        keys = exclude if exclude is not None else set()
        for t in range(tries):
            if len(out) >= n:
                break
            point = make(t)
            h = self.space.hash(point)
            if h not in self.seen and h not in keys:
                keys.add(h)
                out.append(point)
        return out

    def mutation_candidates(self, parents: Sequence[Any], n: int, patience: int = 10, max_edits: int = 1,
                            exclude: set[str] | None = None) -> list[Any]:
        """Up to n new, distinct mutants of `parents` (drawn round robin, best parent first), each 1 to
        `max_edits` successive `space.mutate` moves away from its parent (uniformly); `patience` draws per
        candidate (or per parent, when there are more parents than candidates wanted)."""
        if not parents:
            return []

        def mutant(t: int) -> Any:
            child = parents[t % len(parents)]
            for _ in range(1 if max_edits <= 1 else int(self.rng.integers(1, max_edits + 1))):
                child = self.space.mutate(child, self.rng)
            return child

        return self.fresh(mutant, n, max(n, len(parents)) * patience, exclude)

    def tournament_candidates(self, n: int, population_size: int, tournament_size: int, patience: int = 10,
                              exclude: set[str] | None = None) -> list[Any]:
        """Up to n new, distinct single mutations of tournament winners, as an evolutionary sampler makes them.

        The population is the `population_size` most recently told successful results (aging); each candidate
        mutates the best of `tournament_size` members drawn without replacement.
        """
        pop = [o for o in self.history if o.ok][-population_size:]
        if not pop:
            return []
        size = min(tournament_size, len(pop))

        def winner_mutant(_: int) -> Any:
            picks = self.rng.choice(len(pop), size=size, replace=False)
            parent = min((pop[int(i)] for i in picks), key=lambda o: o.loss).point
            return self.space.mutate(parent, self.rng)

        return self.fresh(winner_mutant, n, n * patience, exclude)


class ModelBasedStrategy(SearchStrategy):
    """The schedule shared by BANANAS and BONAS (see the module docstring). Subclasses implement `_ranked`."""

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                 num_init: int = 10, batch_size: int = 1) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact)
        self.num_init = check_int(self.name, "num_init", num_init, 2)
        self.batch_size = check_int(self.name, "batch_size", batch_size, 1)
        self._queue: list[tuple[Any, dict[str, Any]]] = []

    def _next(self, n: int, pending: list[Job]) -> list[Job]:
        ok = self.successes
        if ok < self.num_init:
            return self.random_jobs(n, origin="initial design", reason=f"{ok} of {self.num_init} successful "
                                    "results told")
        jobs: list[Job] = []
        while self._queue and len(jobs) < n:
            point, info = self._queue.pop(0)
            if self.is_new(point):
                jobs.append(self.propose(point, **info, queued=True))
        if len(jobs) < n:
            ranked = self._ranked(max(n - len(jobs), self.batch_size))
            take, self._queue = ranked[:n - len(jobs)], ranked[n - len(jobs):]
            jobs += [self.propose(point, **info) for point, info in take]
        if len(jobs) < n:
            jobs += self.random_jobs(n - len(jobs), origin="random", reason="no new candidate left")
        return jobs

    def _ranked(self, k: int) -> list[tuple[Any, dict[str, Any]]]:
        """Up to k distinct new points, best first by the acquisition, each with its job info."""
        raise NotImplementedError

    def targets(self) -> np.ndarray:
        """What the models fit: `model_targets` of the told losses, in told order."""
        return model_targets([o.loss for o in self.history])
