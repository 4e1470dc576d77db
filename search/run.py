"""One search, any strategy on any space: check the request, create (or reopen) the run directory, start the
pool, drive the strategy for each seed, and judge the result.

    summary = run_search(SearchRequest(strategy="bananas", space="hnag", dataset="digits", run_dir="runs/b",
                                       evaluations=20, workers=2))

Where a request's pairing makes no sense (BONAS on generator hyperparameters, a table for a space it does not
describe, a synthetic problem with another space) it is refused with one line that says why, before anything
is written. Everything is checked before the run directory is created; a resume checks that the request agrees
with the directory and only lets `evaluations` and the strategy's `iterations` grow.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from .engine.driver import InlinePool, drive
from .engine.store import RunLog, RunStoreError
from .evaluators.base import REPORT_ONLY, Evaluator
from .spaces import make_space
from .spaces.base import Space
from .strategies import make_strategy, strategy_class

__all__ = ["SearchRequest", "run_search", "prepare", "DEFAULT_EVALUATIONS", "DEFAULT_MAX_BUDGET"]

#: evaluations per seed when the request names none (strategies with brackets stop by themselves)
DEFAULT_EVALUATIONS = {"training": 10, "tabular": 150, "synthetic": 100}
#: the largest budget when the request names none (epochs for training; tables hold one fidelity)
DEFAULT_MAX_BUDGET = {"training": 3.0, "tabular": 1.0}
#: objectives of a multi-objective strategy when the request names none
DEFAULT_MO_OBJECTIVES = {"training": ["error", "memory"], "tabular": ["error", "params"]}
#: settings a resume may change (the search then goes on further)
EXTENDABLE = ("evaluations", "iterations")


@dataclass
class SearchRequest:
    """What `nago search` asks for (the CLI fills it from its arguments; the Python API takes it directly).

    Exactly one source of evaluations: `dataset` (train every network), `benchmark` (a NAS-Bench table file)
    or `problem` (a synthetic test problem)."""

    strategy: str
    run_dir: str
    space: str | None = None
    space_options: dict[str, Any] = field(default_factory=dict)
    dataset: str | None = None
    data_dir: str | None = None
    train_overrides: dict[str, Any] = field(default_factory=dict)
    benchmark: str | None = None
    val_column: str | None = None
    test_column: str | None = None
    problem: str | None = None
    objectives: list[str] | None = None
    seed: int = 0
    seeds: int = 1
    evaluations: int | None = None
    min_budget: float | None = None
    max_budget: float | None = None
    options: dict[str, Any] = field(default_factory=dict)
    workers: int = 1
    resume: bool = False
    final_samples: int = 0
    warm_start: str | None = None
    #: training: every job's network from the run seed itself, not re-sampled per (configuration, budget)
    fixed_architecture: bool = False
    #: a named set of search settings (`search.presets`) filling the fields left unset; explicit fields win
    preset: str | None = None
    # pool (training only)
    host: str = "127.0.0.1"
    port: int = 0
    device: str = "auto"
    threads: int | None = None
    job_timeout: float | None = None
    #: MB of memory a job may add to its worker process (Linux)
    job_memory: float | None = None
    #: where jobs run: "pyro" (default for a new search) or "dask"; None on resume: the backend of search.json
    backend: str | None = None
    #: a running Dask scheduler's address (backend "dask"; None: a local cluster)
    scheduler: str | None = None


@dataclass
class Prepared:
    """A checked request: everything built, nothing written yet."""

    settings: dict[str, Any]
    space: Space
    evaluator: Evaluator
    seeds: list[int]
    created_options: dict[str, Any]     # the strategy options the search was created with


# ------------------------------------------------------------------------------------------ checking
def _int_at_least(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")
    return value


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name}: must be a number > 0, got {value!r}")
    return float(value)


def _sources(req: SearchRequest) -> str:
    given = [k for k in ("dataset", "benchmark", "problem") if getattr(req, k) is not None]
    if len(given) > 1:
        raise ValueError(f"{' and '.join('--' + g for g in given)}: give one source of evaluations, not "
                         f"{len(given)}")
    return given[0] if given else "dataset"


def build_evaluator(req: SearchRequest) -> tuple[Space, Evaluator]:
    """The space and evaluator of a request (loading the data set or table once, to fail early)."""
    source = _sources(req)
    if source == "problem":
        from .evaluators.synthetic import SyntheticEvaluator, make_problem

        problem = make_problem(req.problem)
        if req.space is not None and req.space != problem.space.name:
            raise ValueError(f"space: the synthetic problem {req.problem} has its own space; drop --space "
                             f"{req.space}")
        if req.space_options:
            raise ValueError("space-option: a synthetic problem's space takes no options")
        return problem.space, SyntheticEvaluator(req.problem)
    if source == "benchmark":
        from .evaluators.tabular import TabularEvaluator

        name = req.space or ("nb101" if str(req.benchmark).endswith(".json") else "nb201")
        if name not in ("nb201", "nb101"):
            raise ValueError(f"space: a NAS-Bench table describes nb201 or nb101 cells, not {name} (train "
                             "generator spaces on a --dataset instead)")
        from .evaluators.tables import load_table, restrict_to_table

        space = make_space(name, req.space_options)
        table = load_table(req.benchmark, space, val_column=req.val_column, test_column=req.test_column)
        if space.size is None or len(table) < space.size:
            # a partial table (the NB101 sample) answers only for its own cells: search among them
            space = restrict_to_table(space, table)
        evaluator = TabularEvaluator(space, req.benchmark, val_column=req.val_column, test_column=req.test_column)
        return evaluator.space, evaluator
    from .evaluators.training import TrainingEvaluator

    space = make_space(req.space or "hnag", req.space_options)
    evaluator = TrainingEvaluator(space, req.dataset or "digits", data_dir=req.data_dir,
                                  train_overrides=req.train_overrides, device=req.device,
                                  fixed_architecture=req.fixed_architecture)
    return evaluator.space, evaluator


def _objectives(req: SearchRequest, evaluator: Evaluator, multi: bool) -> list[str]:
    names = req.objectives
    if names is None:
        if evaluator.kind == "synthetic":
            names = list(evaluator.problem.objectives)
            if not multi:
                names = names[:1]
        else:
            names = DEFAULT_MO_OBJECTIVES[evaluator.kind] if multi else ["error"]
    names = [str(n).strip() for n in names]
    for n in names:
        if n in REPORT_ONLY:
            raise ValueError(f"objectives: {n} is for reports only (a search must never see it)")
        if n not in evaluator.metrics:
            raise ValueError(f"objectives: {n} is not measured by the {evaluator.kind} evaluator (it gives "
                             f"{', '.join(m for m in evaluator.metrics if m not in REPORT_ONLY)})")
    if len(set(names)) != len(names):
        raise ValueError(f"objectives: {','.join(names)} names one objective twice")
    exact = evaluator.exact()
    if len(names) > 1 and all(n in exact for n in names):
        raise ValueError(f"objectives: {','.join(names)} are all computed exactly from the spec; at least one "
                         "must come from an evaluation")
    return names


def prepare(req: SearchRequest) -> Prepared:
    """Check a new request completely and build its parts; nothing is written."""
    preset_filled = None
    if req.preset is not None:
        from .presets import apply_preset

        preset_filled = apply_preset(req)
    _int_at_least("seed", req.seed, 0)
    _int_at_least("seeds", req.seeds, 1)
    _int_at_least("workers", req.workers, 1 if _sources(req) != "dataset" else 0)
    _int_at_least("final-samples", req.final_samples, 0)
    if req.evaluations is not None:
        _int_at_least("evaluations", req.evaluations, 1)
    _check_pool(req, req.backend or "pyro")
    cls = strategy_class(req.strategy)
    space, evaluator = build_evaluator(req)
    _check_backend(req, evaluator)
    cls.check_space(space)
    if evaluator.kind == "training" and not space.has_spec:
        raise ValueError(f"space: {space.name} points are not networks; nothing to train")
    if req.final_samples and evaluator.kind != "training":
        raise ValueError("final-samples: re-sampling networks needs training (--dataset), not a "
                         f"{evaluator.kind} evaluator")
    if req.fixed_architecture and evaluator.kind != "training":
        raise ValueError("fixed-architecture: only training (--dataset) samples networks, not a "
                         f"{evaluator.kind} evaluator")
    objectives = _objectives(req, evaluator, cls.min_objectives > 1)
    max_budget, min_budget = _budgets(req, evaluator, cls.multi_fidelity)
    seeds = list(range(req.seed, req.seed + req.seeds))
    evaluations = req.evaluations
    if evaluations is None and not cls.multi_fidelity:
        evaluations = DEFAULT_EVALUATIONS[evaluator.kind]
    notes = []
    if req.warm_start is not None:
        if "warm_start" not in strategy_option_names(req.strategy):
            raise ValueError(f"warm-start: {req.strategy} takes no earlier evaluations (mobo does)")
        entries, note = warm_start_entries(req.warm_start, space, objectives, max_budget,
                                           needed=max(2, 2 * max(1, req.workers)))
        req.options = {**req.options, "warm_start": entries}
        notes.append(note)
    # building the strategy checks its options (one line for an unknown or bad one); the defaults it resolved
    # for its pinned options are stored, so a later change of default does not change this search's replay
    built = make_strategy(req.strategy, space, objectives=objectives, seed=seeds[0], max_budget=max_budget,
                          min_budget=min_budget, **req.options)
    req.options = {**built.resolved_options(), **req.options}
    settings = {
        "strategy": req.strategy, "options": dict(req.options), "space": space.name,
        "space_options": dict(req.space_options), "space_context": space.context(),
        "evaluator": evaluator.context(),
        "objectives": objectives, "seeds": seeds, "evaluations": evaluations, "max_budget": max_budget,
        "min_budget": min_budget, "final_samples": req.final_samples, "notes": notes,
    }
    if req.preset is not None:
        settings.update(preset=req.preset, preset_filled=preset_filled)
    settings.update(_known(evaluator, objectives))
    if evaluator.kind == "training":
        settings.update(dataset=req.dataset or "digits", input_shape=list(evaluator.input_shape),
                        num_classes=int(evaluator.num_classes), backend=req.backend or "pyro")
    return Prepared(settings, space, evaluator, seeds, dict(req.options))


def _check_pool(req: SearchRequest, backend: str) -> None:
    from .engine.driver import check_pool_options

    check_pool_options(workers=req.workers, port=req.port, threads=req.threads, job_timeout=req.job_timeout,
                       job_memory=req.job_memory, backend=backend, scheduler=req.scheduler)


def _check_backend(req: SearchRequest, evaluator: Evaluator) -> None:
    if evaluator.in_process and (req.backend == "dask" or req.scheduler is not None):
        raise ValueError(f"backend: {evaluator.kind} jobs run in the search's own process; --backend dask and "
                         "--scheduler are for training (--dataset)")


def strategy_option_names(name: str) -> tuple[str, ...]:
    import inspect

    return tuple(inspect.signature(strategy_class(name).__init__).parameters)


def warm_start_entries(run_dir: str, space: Space, objectives: Sequence[str], budget: float, needed: int
                       ) -> tuple[list[dict[str, Any]], str]:
    """Earlier evaluations of another run as warm-start entries, and a one-line note of what was used.

    The evaluations at `budget` come first; when fewer than `needed` of them succeeded, those of other budgets
    are added too, each marked with its budget (a model then mixes fidelities: the note says so)."""
    from .engine.store import read_log, read_settings

    def usable(r: Mapping[str, Any]) -> bool:
        m = r.get("metrics") or {}
        return r["status"] == "ok" and any(isinstance(m.get(o), (int, float)) for o in objectives)

    try:
        source = read_settings(run_dir).get("space")
        results = [e for e in read_log(run_dir) if e["event"] == "result" and usable(e)]
    except RunStoreError as exc:
        raise ValueError(f"warm-start: {exc}") from None
    if source != space.name:
        raise ValueError(f"warm-start: {run_dir} searched space {source}, not {space.name}")
    if not results:
        raise ValueError(f"warm-start: {run_dir} holds no successful evaluation with {', '.join(objectives)}")
    same = [r for r in results if math.isclose(float(r["budget"]), budget)]
    other = [r for r in results if not math.isclose(float(r["budget"]), budget)]
    chosen = same + (other if len(same) < needed else [])
    entries = [{"config": r["config"], "objectives": {o: r["metrics"].get(o) for o in objectives},
                "budget": float(r["budget"])} for r in chosen]
    note = f"warm start from {run_dir}: {len(same)} evaluation(s) at budget {budget:g}"
    if len(same) < needed and other:
        budgets = sorted({float(r["budget"]) for r in other})
        note += (f"; fewer than the {needed} the model needs, so {len(other)} more from budget(s) "
                 f"{', '.join(f'{b:g}' for b in budgets)} are used too (marked with their budget)")
    return entries, note


def _budgets(req: SearchRequest, evaluator: Evaluator, multi_fidelity: bool) -> tuple[float, float | None]:
    problem = getattr(evaluator, "problem", None)
    default_max = problem.max_budget if problem is not None else DEFAULT_MAX_BUDGET[evaluator.kind]
    max_budget = _positive("max-budget", req.max_budget) if req.max_budget is not None else float(default_max)
    if not multi_fidelity:
        if req.min_budget is not None:
            raise ValueError(f"min-budget: {req.strategy} evaluates every job at one budget (--max-budget); "
                             "use hyperband or bohb for several budgets")
        return max_budget, None
    if evaluator.kind == "tabular":  # the tables hold one fidelity: brackets of one rung
        if req.min_budget is not None and req.min_budget != max_budget:
            raise ValueError("min-budget: a NAS-Bench table holds one fidelity; leave --min-budget out")
        return max_budget, max_budget
    if req.min_budget is not None:
        min_budget = _positive("min-budget", req.min_budget)
    elif problem is not None:
        min_budget = float(problem.min_budget)
    else:
        min_budget = max_budget / 9.0
    if min_budget > max_budget:
        raise ValueError(f"min-budget: must be at most the max budget {max_budget:g}, got {min_budget:g}")
    return max_budget, min_budget


def _known(evaluator: Evaluator, objectives: Sequence[str]) -> dict[str, Any]:
    """The known optimum or true front the report measures against (tables and synthetic problems)."""
    known = getattr(evaluator, "known", None)
    if known is None:
        return {}
    info = known(list(objectives))
    if not info:
        return {}
    out: dict[str, Any] = {"known": info}
    if len(objectives) == 1 and info.get("config") is not None:
        out["best_key"] = info["config"]  # the report counts evaluations until this configuration is met
    return out


# ------------------------------------------------------------------------------------------ running
def _open(req: SearchRequest) -> tuple[RunLog, Prepared]:
    if not req.resume:
        prepared = prepare(req)
        RunLog.check_new(req.run_dir)
        fsync = prepared.evaluator.kind == "training"
        return RunLog.create(req.run_dir, prepared.settings, fsync=fsync), prepared
    log = RunLog.open(req.run_dir, writable=True)
    try:
        prepared = _reopen(req, log.settings)
    except BaseException:
        log.close()
        raise
    log.fsync = prepared.evaluator.kind == "training"
    return log, prepared


def _reopen(req: SearchRequest, stored: Mapping[str, Any]) -> Prepared:
    """Rebuild a stored search; the request may only extend it (evaluations, iterations)."""
    if req.strategy and req.strategy != stored["strategy"]:
        raise RunStoreError(f"strategy: {req.run_dir} holds a {stored['strategy']} search, not {req.strategy}")
    given = {"space": req.space, "space_options": req.space_options or None, "objectives": req.objectives,
             "max_budget": req.max_budget, "min_budget": req.min_budget, "preset": req.preset,
             "seeds": None if req.seeds == 1 and req.seed == 0 else list(range(req.seed, req.seed + req.seeds))}
    for key, value in given.items():
        if value is not None and value != stored.get(key):
            raise RunStoreError(f"{key.replace('_', '-')}: {req.run_dir} holds a search with {stored.get(key)!r}, "
                                f"not {value!r} (a resumed search keeps its settings)")
    # a search stored before an option was pinned ran with that option's old default
    created = {**stored["options"], **strategy_class(stored["strategy"]).legacy_options(stored["options"])}
    options = dict(created)
    for key, value in req.options.items():
        if key in EXTENDABLE:
            options[key] = _int_at_least(key, value, 1)
        elif key not in options or options[key] != value:
            raise RunStoreError(f"option {key}: a resumed search keeps its options (only "
                                f"{', '.join(EXTENDABLE)} may grow)")
    evaluations = stored.get("evaluations")
    if req.evaluations is not None:
        evaluations = _int_at_least("evaluations", req.evaluations, 1)
    ctx = dict(stored["evaluator"])
    # the stored rule is kept (absent from a training context: a run from before the rule, on the run seed)
    if req.fixed_architecture and not (ctx.get("kind") == "training" and ctx.get("fixed_architecture", True)):
        raise RunStoreError(f"fixed-architecture: {req.run_dir} holds a search without it (a resumed search "
                            "keeps its settings)")
    if req.data_dir is not None and ctx.get("kind") == "training":
        ctx["data_dir"] = req.data_dir
    if ctx.get("kind") == "training":
        ctx["device"] = req.device
    from .evaluators import from_context

    evaluator = from_context(ctx)
    space = evaluator.space if hasattr(evaluator, "space") else make_space(stored["space"],
                                                                           stored["space_options"])
    settings = {**dict(stored), "options": options, "evaluations": evaluations}
    if req.backend is not None:  # told otherwise: this session runs elsewhere (search.json keeps the first)
        settings["backend"] = req.backend
    _check_pool(req, settings.get("backend", "pyro"))
    _check_backend(req, evaluator)
    return Prepared(settings, space, evaluator, list(stored["seeds"]), created)


def run_search(req: SearchRequest, *, on_result: Callable[[dict[str, Any]], None] | None = None,
               on_start: Callable[[Any, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Run (or resume) a search; returns a summary (new evaluations, wall time, run directory, settings).

    `on_result(record)` sees every logged result; `on_start(pool, settings)` runs once the pool is up."""
    log, prepared = _open(req)
    s = prepared.settings
    start = time.time()
    try:
        extend = {k: v for k, v in s["options"].items() if k in EXTENDABLE}
        log.start_session(strategy=s["strategy"], resume=req.resume, extend=extend, backend=s.get("backend"))
        pool = _make_pool(req, log, prepared)
        try:
            if on_start is not None:
                on_start(pool, s)
            new = 0
            for seed in prepared.seeds:
                # built as the search was created; a resume's larger iterations are applied by the replay
                strategy = make_strategy(s["strategy"], prepared.space, objectives=s["objectives"], seed=seed,
                                         max_budget=s["max_budget"], min_budget=s["min_budget"],
                                         exact=prepared.evaluator.exact(), **prepared.created_options)
                new += drive(strategy, pool, log, seed=seed, evaluations=s["evaluations"], on_result=on_result,
                             extend={k: v for k, v in extend.items() if k in strategy.extendable})
            final = None
            if s.get("final_samples"):
                from .final import final_samples

                final = final_samples(pool, log, s, on_result=on_result)
        finally:
            close = getattr(pool, "close", None)
            if close is not None:
                close()
        return {"run_dir": str(log.path), "new_evaluations": new, "wall_time_s": time.time() - start,
                "final": final, "settings": s}
    finally:
        log.close()


def _make_pool(req: SearchRequest, log: RunLog, prepared: Prepared) -> Any:
    if prepared.evaluator.in_process:
        return InlinePool(prepared.evaluator, capacity=max(1, req.workers))
    options = dict(workers=req.workers, host=req.host, port=req.port, device=req.device, threads=req.threads,
                   job_timeout=req.job_timeout, job_memory=req.job_memory)
    if prepared.settings.get("backend", "pyro") == "dask":
        from .engine.dask_pool import DaskPool

        return DaskPool(log, prepared.settings["evaluator"], scheduler=req.scheduler, **options).start()
    from .engine.pyro import PyroPool

    return PyroPool(log, prepared.settings["evaluator"], **options).start()
