"""The one strategy interface: asynchronous ask/tell with batches, budgets and pending jobs.

    strategy = make_strategy("bananas", space, objectives=["error"], seed=0, budget=ScheduleBudget(...))
    jobs = strategy.ask(4, pending=[])           # up to 4 new jobs (fewer when it must wait for results)
    strategy.tell(jobs[2], Result.ok({"error": 0.1}))   # in any order, failures included
    strategy.done                                 # True when the strategy has nothing more to propose

Rules every strategy keeps (the engine relies on them):
- `ask(n, pending)` returns at most n jobs; an empty list means "nothing until a pending job finishes" (or,
  when `done`, nothing ever again). `pending` are the jobs asked for earlier and not yet told.
- it is deterministic given its seed, the space and the sequence of ask/tell calls: the engine's resume replays
  the run store's log through a new strategy and reaches exactly the state (random streams included) of an
  uninterrupted run;
- it never imports the engine, and it sees only the objectives it was built with, all minimised;
- a failed job (`Result.status != "ok"`) is told like any other; the strategy documents what it does with it.

A strategy that is sequential by nature documents, in its module, what it does with pending jobs when asked for
a batch (e.g. exclude pending candidates from the next proposals, or constant liar).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Mapping, Sequence

import numpy as np

__all__ = ["Job", "Result", "Strategy", "StrategyError", "register", "STRATEGIES", "make_strategy",
           "strategy_class", "name_word"]


class StrategyError(ValueError):
    """A strategy that cannot run on this space / objective set / option (one line, says why)."""


@dataclass(frozen=True)
class Job:
    """One evaluation a strategy asks for. `id` is unique within one strategy instance (0, 1, ...);
    `point` is the space's native object; `info` is JSON data the strategy wants logged (bracket, rung,
    whether the pick was model-based, ...)."""

    id: int
    point: Any
    budget: float
    info: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """The outcome of a job: status "ok" with every objective the strategy asked for (minimised), or
    "failed"/"crashed" with a reason (objectives may then be empty)."""

    status: str
    objectives: Mapping[str, float] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @classmethod
    def success(cls, objectives: Mapping[str, float]) -> "Result":
        return cls("ok", dict(objectives))

    @classmethod
    def failure(cls, error: str, status: str = "failed") -> "Result":
        return cls(status, {}, error)


class Strategy:
    """Base class. Subclasses set `name`, the class flags, and implement `_ask` (and usually `_tell`).

    Class flags: `multi_objective` (may be built with several objectives; single-objective strategies use
    exactly one), `min_objectives` (2 for strategies that only make sense with several), `multi_fidelity` (uses budgets below the maximum), `requires` (space capabilities such as
    "graph" or "moves"; the registry refuses a pairing with one line that says why).
    """

    name: ClassVar[str] = "base"
    multi_objective: ClassVar[bool] = False
    min_objectives: ClassVar[int] = 1
    multi_fidelity: ClassVar[bool] = False
    requires: ClassVar[tuple[str, ...]] = ()
    #: options a resumed search may grow (`extend`)
    extendable: ClassVar[tuple[str, ...]] = ()
    #: options whose defaults changed, with the value that searches created before then used. A new search
    #: stores what it resolved (`resolved_options`); a resumed search that stored nothing gets the old value,
    #: so its replay makes the same proposals.
    pinned: ClassVar[Mapping[str, Any]] = {}

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None,
                 exact: Mapping[str, Callable[[Any], float]] | None = None) -> None:
        objectives = list(objectives)
        if not objectives:
            raise StrategyError(f"{self.name}: needs at least one objective")
        if len(objectives) < self.min_objectives:
            raise StrategyError(f"{self.name}: needs at least {self.min_objectives} objectives, got "
                                f"{', '.join(objectives)} (for one objective use a single-objective strategy, "
                                "e.g. bohb or bananas)")
        if len(objectives) > 1 and not self.multi_objective:
            raise StrategyError(f"{self.name}: is single-objective; got objectives {', '.join(objectives)} "
                                "(use a multi-objective strategy, e.g. mobo, or one objective)")
        self.space = space
        self.objectives = objectives
        self.seed = int(seed)
        self.max_budget = float(max_budget)
        self.min_budget = float(min_budget) if min_budget is not None else self.max_budget
        # objectives computable from a point without evaluating it (e.g. params from the compiled spec)
        self.exact = {k: v for k, v in dict(exact or {}).items() if k in objectives}
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, name_word(self.name)]))
        self._next_id = 0
        self.done = False

    # -- the interface ------------------------------------------------------------------------------------
    def resolved_options(self) -> dict[str, Any]:
        """The value of every `pinned` option this strategy runs with (defaults resolved)."""
        return {name: getattr(self, name) for name in self.pinned}

    @classmethod
    def legacy_options(cls, stored: Mapping[str, Any]) -> dict[str, Any]:
        """What a search stored with the options `stored` ran with beyond them: the `pinned` options it lacks,
        at their old defaults."""
        return {name: value for name, value in cls.pinned.items() if name not in stored}

    def ask(self, n: int, pending: Sequence[Job] = ()) -> list[Job]:
        if n < 1 or self.done:
            return []
        jobs = self._ask(int(n), list(pending))
        if len(jobs) > n:
            raise RuntimeError(f"{self.name}: asked for {n} jobs, proposed {len(jobs)}")
        return jobs

    def tell(self, job: Job, result: Result) -> None:
        self._tell(job, result)

    def extend(self, **options: Any) -> None:
        """Let the search go further (e.g. more brackets); only `extendable` options, never shrinking."""
        bad = sorted(set(options) - set(self.extendable))
        if bad:
            raise StrategyError(f"{self.name} option {bad[0]}: cannot change on resume (extendable: "
                                f"{', '.join(self.extendable) or 'none'})")
        if options:
            self._extend(**options)

    # -- for subclasses -----------------------------------------------------------------------------------
    def _extend(self, **options: Any) -> None:
        raise NotImplementedError
    def _ask(self, n: int, pending: list[Job]) -> list[Job]:
        raise NotImplementedError

    def _tell(self, job: Job, result: Result) -> None:
        pass

    def new_job(self, point: Any, budget: float | None = None, **info: Any) -> Job:
        job = Job(self._next_id, point, float(self.max_budget if budget is None else budget), info)
        self._next_id += 1
        return job

    def loss(self, result: Result) -> float:
        """The single objective of a result (inf for a failure): what single-objective strategies minimise."""
        if not result.ok:
            return float("inf")
        value = result.objectives.get(self.objectives[0])
        return float("inf") if value is None else float(value)

    @classmethod
    def check_space(cls, space: Any) -> None:
        """Refuse (one line) a space that lacks a capability this strategy needs."""
        if "graph" in cls.requires and not getattr(space, "has_graph", False):
            raise StrategyError(f"{cls.name}: needs a graph view of each architecture (adjacency and one-hot "
                                f"operations for its GCN); space {space.name} has none: its points are "
                                "generator hyperparameters, not fixed graphs (use bananas there)")


STRATEGIES: dict[str, type[Strategy]] = {}


def register(cls: type[Strategy]) -> type[Strategy]:
    """Class decorator: make a strategy available by its `name` (as timm registers models)."""
    if cls.name in STRATEGIES and STRATEGIES[cls.name] is not cls:
        raise RuntimeError(f"strategy {cls.name}: registered twice")
    STRATEGIES[cls.name] = cls
    return cls


def strategy_class(name: str) -> type[Strategy]:
    from . import load_all

    load_all()
    if name not in STRATEGIES:
        raise StrategyError(f"strategy: must be one of {', '.join(sorted(STRATEGIES))}, got {name!r}")
    return STRATEGIES[name]


def make_strategy(name: str, space: Any, *, objectives: Sequence[str], seed: int = 0, max_budget: float = 1.0,
                  min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                  **options: Any) -> Strategy:
    """Build a registered strategy; unknown or ill-typed options are a one-line `StrategyError`."""
    cls = strategy_class(name)
    cls.check_space(space)
    try:
        return cls(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                   exact=exact, **options)
    except TypeError as exc:
        raise StrategyError(f"{name}: bad option ({exc})") from None


def name_word(name: str) -> int:
    """A stable integer of a strategy name (so two strategies with one seed draw different streams)."""
    return int.from_bytes(name.encode()[:8].ljust(8, b"\0"), "little")

