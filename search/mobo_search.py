"""`nago search mobo`: batch multi-objective Bayesian optimisation over generator hyperparameters.

    from search.mobo_search import run_mobo
    summary = run_mobo("runs/mobo", objectives=["error", "memory"], batch_size=8, iterations=10, budget=9,
                       init_from="runs/bohb", workers=2)

One iteration proposes B configurations (`search.mobo.MOBOProposer`: one BNN surrogate per learned objective,
USeMO acquisition, hard local penalisation), trains them in parallel on the same worker pool and run log as
BOHB (`Engine.evaluate_batch`, phase "search", batch = iteration - 1) and tells the proposer their objective
values. Every evaluation uses the same budget (epochs) and the run's seed.

Encoding. A configuration is a vector in the unit hypercube, one coordinate per hyperparameter of the space in
ConfigSpace's order (`list(space.values())`), ConfigSpace's own normalised value (`hp.to_vector`: log ranges
are log-scaled, integers map to [0, 1] and round back). A hyperparameter that is inactive in a configuration
(`mid_p` when `mid_n == 1`) is encoded at its default's coordinate. Decoding maps each coordinate back
(`hp.to_value`), repairs the Watts-Strogatz pairs (K < N: K is lowered, else N raised, within their ranges),
drops inactive hyperparameters, and returns built-in Python types.

Objectives (all minimised; CLI names in brackets): validation error [error], memory per sample in MB
[memory], latency in ms [latency] and MACs [macs] come back from the evaluation and are modelled by a
surrogate; the parameter count [params] is computed exactly from the generated spec (`hnag.count_params`, a
few ms per candidate) and needs no training and no surrogate. MACs are not computable from the spec without
compiling a module (0.1-0.8 s each, too slow for the thousand candidates of one acquisition), so they are
learned. A failed evaluation contributes NaN for what it did not measure; the proposer ignores missing values.

Warm start (`init_from`): the successful search evaluations of an earlier run (BOHB, random or MOBO) at one
budget (`init_budget`, default: the largest budget with successful evaluations) are copied into the new run's
`warm_start.jsonl` and told to the proposer as iteration 0, as the paper does. A new run takes the earlier
run's space, space options, data set and training options unless given.

Run directory (besides the run store's files, see `search.runstore`):

    warm_start.jsonl   the warm-start evaluations (copied once when the run is created)
    mobo.jsonl         one line per iteration, appended (fsynced) before its jobs are dispatched: the proposed
                       vectors, their configurations, the proposer's random state afterwards, surrogate fit
                       times, penalisation radii, predictions at the batch

Resume is exact: the proposer is rebuilt from the warm start; an iteration found in `mobo.jsonl` is not
proposed again (its vectors and configurations are taken from the log and the proposer's random state is
restored), its batch goes to `evaluate_batch`, which answers finished jobs from the results log and runs only
the ones that were running when the master died; later iterations are proposed exactly as in an uninterrupted
run. `iterations` may grow on resume.
"""
from __future__ import annotations

import inspect
import json
import math
import os
import time
import warnings
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from .runstore import RunStore, RunStoreError, budget_key, read_jsonl
from .spaces import SearchSpace, build_space, params_from_config, to_builtin

STRATEGY = "mobo"
PHASE = "search"
PROPOSALS_FILE = "mobo.jsonl"
WARM_START_FILE = "warm_start.jsonl"

# CLI name or registry name -> registry name (search.mobo.objectives.OBJECTIVES)
OBJECTIVE_ALIASES = {"error": "val_error", "val_error": "val_error", "memory": "memory_mb",
                     "memory_mb": "memory_mb", "latency": "latency_ms", "latency_ms": "latency_ms",
                     "params": "params", "macs": "macs"}
CLI_OBJECTIVES = ("error", "memory", "params", "macs", "latency")
DEFAULT_OBJECTIVES = ("val_error", "memory_mb")
# where a result record holds each objective (val_error: the record's loss)
RECORD_FIELDS = {"val_error": "loss", "memory_mb": "memory_mb_per_sample", "latency_ms": "latency_ms",
                 "params": "params", "macs": "macs"}
EXACT_OBJECTIVES = ("params",)  # computed from the generated spec
OBJECTIVE_LABELS = {"val_error": "validation error", "memory_mb": "memory per sample (MB)",
                    "latency_ms": "latency (ms)", "params": "parameters", "macs": "MACs"}
SURROGATES = ("heteroscedastic", "homoscedastic")
# Penalty for a candidate whose spec cannot be generated (an exact objective must stay finite).
INVALID_EXACT_VALUE = 1e12
# (K, N) pairs that need K < N
_PAIRS = [("top_k", "top_n"), ("bottom_k", "bottom_n")] + [(f"k_{i}", f"n_{i}") for i in range(3)]


# ---------------------------------------------------------------------------------------------------------
# objectives
# ---------------------------------------------------------------------------------------------------------
def canonical_objectives(names: str | Sequence[str] | None) -> list[str]:
    """CLI or registry names (a comma-separated string or a list) -> registry names; one-line errors."""
    if names is None:
        return list(DEFAULT_OBJECTIVES)
    if isinstance(names, str):
        names = [n for n in names.split(",")]
    out = []
    for raw in names:
        name = str(raw).strip().lower()
        if name not in OBJECTIVE_ALIASES:
            raise ValueError(f"objectives: unknown objective {str(raw).strip()!r} (choose from "
                             f"{', '.join(CLI_OBJECTIVES)})")
        out.append(OBJECTIVE_ALIASES[name])
    if len(out) < 2:
        raise ValueError(f"objectives: a multi-objective search needs at least two, got {','.join(out) or 'none'}")
    if len(set(out)) != len(out):
        raise ValueError(f"objectives: {','.join(out)} names one objective twice")
    if all(n in EXACT_OBJECTIVES for n in out):
        raise ValueError("objectives: at least one must come from training or measurement (error, memory, "
                         "latency, macs); params alone are computed exactly")
    return out


def spec_params_fn(context: Mapping[str, Any], input_shape: Sequence[int], num_classes: int, seed: int
                   ) -> Callable[[Mapping[str, Any]], float]:
    """config -> the exact parameter count of the network the worker would build (same seed), without
    training; INVALID_EXACT_VALUE when the configuration makes no valid network."""
    import hnag

    shape = tuple(int(v) for v in input_shape)
    cache: dict[str, float] = {}

    def count(config: Mapping[str, Any]) -> float:
        key = json.dumps(to_builtin(dict(config)), sort_keys=True)
        if key not in cache:
            try:
                params = params_from_config(context, config, shape, int(num_classes))
                cache[key] = float(hnag.count_params(hnag.generate(params, int(seed))))
            except Exception:  # noqa: BLE001 - any failure to build makes the candidate infeasible
                cache[key] = INVALID_EXACT_VALUE
            if len(cache) > 20000:
                cache.clear()
        return cache[key]

    return count


def build_objectives(names: Sequence[str], exact: Mapping[str, Callable[[Any], float]] | None = None) -> list:
    """Objective objects for the proposer: params exact (with `exact["params"]`), everything else learned."""
    from search.mobo.objectives import get_objective

    exact = dict(exact or {})
    out = []
    for name in names:
        if name in EXACT_OBJECTIVES:
            out.append(get_objective(name, learned=False, compute=exact.get(name), key=name))
        else:
            out.append(get_objective(name, learned=True, key=name))
    return out


def objective_values(record: Mapping[str, Any], names: Sequence[str]) -> list[float]:
    """Raw objective values of a result record (NaN where it holds none): val_error is the loss of a
    successful evaluation; the others are its measurements (kept for a diverged run, too)."""
    info = record.get("info") or {}
    out = []
    for name in names:
        if name == "val_error":
            value = record.get("loss") if record.get("status") == "ok" else None
        else:
            value = info.get(RECORD_FIELDS[name])
        try:
            v = float(value)
        except (TypeError, ValueError):
            v = math.nan
        out.append(v if math.isfinite(v) else math.nan)
    return out


# ---------------------------------------------------------------------------------------------------------
# encoding
# ---------------------------------------------------------------------------------------------------------
class VectorEncoding:
    """Configurations <-> vectors in [0, 1]^d (see the module docstring)."""

    def __init__(self, space: SearchSpace) -> None:
        self.space = space
        self.hps = list(space.space.values())
        self.names = [hp.name for hp in self.hps]
        self.dim = len(self.hps)
        if self.dim == 0:
            raise ValueError(f"space {space.name}: has no hyperparameter to search")
        default = dict(space.space.get_default_configuration())
        self._fill = np.array([float(hp.to_vector(default[hp.name])) if hp.name in default else 0.5
                               for hp in self.hps], dtype=np.float64)

    def encode(self, config: Mapping[str, Any]) -> np.ndarray:
        x = self._fill.copy()
        for i, hp in enumerate(self.hps):
            value = config.get(hp.name)
            if value is None:
                continue
            if hasattr(hp, "lower") and hasattr(hp, "upper"):
                # a value outside this space's range (another run's) is clipped
                value = min(max(value, hp.lower), hp.upper)
                if type(hp).__name__.endswith("IntegerHyperparameter"):
                    value = int(round(value))
            try:
                v = float(hp.to_vector(value))
            except Exception:  # noqa: BLE001 - a value this space does not know: its default's coordinate
                v = math.nan
            x[i] = min(max(v, 0.0), 1.0) if math.isfinite(v) else self._fill[i]
        return x

    def decode(self, x: Sequence[float]) -> dict[str, Any]:
        import ConfigSpace.util

        x = np.clip(np.asarray(x, dtype=np.float64).reshape(-1), 0.0, 1.0)
        if x.shape[0] != self.dim:
            raise ValueError(f"vector: expected {self.dim} coordinates, got {x.shape[0]}")
        values = {hp.name: to_builtin(hp.to_value(np.float64(x[i]))) for i, hp in enumerate(self.hps)}
        by_name = {hp.name: hp for hp in self.hps}
        for k, n in _PAIRS:
            if k in values and n in values and values[k] >= values[n]:
                if values[n] - 1 >= by_name[k].lower:
                    values[k] = values[n] - 1
                elif values[k] + 1 <= by_name[n].upper:
                    values[n] = values[k] + 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                values = dict(ConfigSpace.util.deactivate_inactive_hyperparameters(values, self.space.space))
        except Exception:  # noqa: BLE001 - a custom forbidden clause: the worker reports it as failed
            pass
        return to_builtin(values)


# ---------------------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------------------
def _option_names(cls: Any, exclude: Iterable[str]) -> tuple[str, ...]:
    params = inspect.signature(cls.__init__).parameters
    return tuple(n for n, p in params.items() if n != "self" and n not in set(exclude)
                 and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD))


def surrogate_option_names() -> tuple[str, ...]:
    from search.mobo.surrogates import BNNSurrogate

    return _option_names(BNNSurrogate, ("seed", "verbose"))


def proposer_option_names() -> tuple[str, ...]:
    from search.mobo.proposer import MOBOProposer

    return _option_names(MOBOProposer, ("dim", "objectives", "decode", "batch_size", "surrogate_factory", "seed"))


def _int_at_least(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name}: must be an integer >= {low}, got {value!r}")
    return value


def check_options(*, objectives: Sequence[str], batch_size: Any, iterations: Any, budget: Any, surrogate: Any,
                  surrogate_options: Mapping[str, Any] | None, mobo_options: Mapping[str, Any] | None,
                  reference_point: Any) -> None:
    """Validate MOBO settings (one-line ValueErrors); None means 'not given' and is skipped."""
    if batch_size is not None:
        _int_at_least("batch size", batch_size, 1)
    if iterations is not None:
        _int_at_least("iterations", iterations, 1)
    if budget is not None and (isinstance(budget, bool) or not isinstance(budget, (int, float))
                               or not (math.isfinite(budget) and budget > 0)):
        raise ValueError(f"budget: must be a number of epochs > 0, got {budget!r}")
    if surrogate is not None and surrogate not in SURROGATES:
        raise ValueError(f"surrogate: must be {' or '.join(SURROGATES)}, got {surrogate!r}")
    if surrogate_options:
        allowed = surrogate_option_names()
        for key in surrogate_options:
            if key not in allowed:
                raise ValueError(f"surrogate option {key}: unknown (allowed: {', '.join(allowed)})")
        from search.mobo.surrogates import HeteroscedasticBNN

        try:
            HeteroscedasticBNN(**dict(surrogate_options))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"surrogate options: {str(exc).splitlines()[0]}") from None
    if mobo_options:
        allowed = proposer_option_names()
        for key in mobo_options:
            if key not in allowed:
                raise ValueError(f"mobo option {key}: unknown (allowed: {', '.join(allowed)})")
        from search.mobo.proposer import MOBOProposer

        n_initial = mobo_options.get("n_initial")
        if n_initial is not None:  # the surrogates need two observations to fit
            _int_at_least("mobo option n_initial", n_initial, 2)
        try:
            MOBOProposer(2, build_objectives(["val_error", "memory_mb"]), batch_size=int(batch_size or 1),
                         **dict(mobo_options))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"mobo options: {str(exc).splitlines()[0]}") from None
    if reference_point is not None:
        ref = list(reference_point) if isinstance(reference_point, (list, tuple)) else None
        if (ref is None or len(ref) != len(objectives)
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                           for v in ref)):
            raise ValueError(f"reference point: needs {len(objectives)} finite numbers (one per objective: "
                             f"{', '.join(objectives)}), got {reference_point!r}")


def parse_reference_point(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in str(text).split(",")]
    except ValueError:
        raise ValueError(f"reference point: expected comma-separated numbers, got {text!r}") from None


# ---------------------------------------------------------------------------------------------------------
# warm start
# ---------------------------------------------------------------------------------------------------------
def load_init_evaluations(init_from: str | Path, budget: float | None = None
                          ) -> tuple[list[dict[str, Any]], float, dict[str, Any]]:
    """The successful search evaluations of run `init_from` at `budget` (default: the largest budget with
    one), that budget, and the run's settings. The run is only read. One-line errors."""
    path = Path(init_from)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a truncated last line is simply skipped
        try:
            store = RunStore.open(path)
        except RunStoreError as exc:
            raise ValueError(f"init-from: {exc}") from None
        records = store.results()
    ok = [r for r in records if r.get("phase", "search") == "search" and r.get("status") == "ok"
          and r.get("loss") is not None]
    budgets = sorted({budget_key(r["budget"]) for r in ok})
    if budget is None:
        if not budgets:
            raise ValueError(f"init-from: run {path} has no successful evaluations to start from")
        budget = budgets[-1]
    elif isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise ValueError(f"init budget: must be a number of epochs > 0, got {budget!r}")
    chosen = [dict(r) for r in ok if budget_key(r["budget"]) == budget_key(budget)]
    if not chosen:
        have = ", ".join(f"{b:g}" for b in budgets) or "none"
        raise ValueError(f"init-from: run {path} has no successful evaluations at budget {budget:g} epochs "
                         f"(budgets with evaluations: {have})")
    return chosen, float(budget), dict(store.settings)


def _warm_start_lines(records: Sequence[Mapping[str, Any]], source: Path, budget: float) -> list[dict]:
    keep = ("job_id", "phase", "config", "budget", "seed", "status", "loss", "error", "info")
    return [{**{k: r.get(k) for k in keep}, "source": str(source), "init_budget": budget} for r in records]


def _write_jsonl(path: Path, lines: Iterable[Mapping[str, Any]], mode: str = "a") -> None:
    from .evaluation import json_safe

    text = "".join(json.dumps(json_safe(dict(line)), sort_keys=True, allow_nan=False) + "\n" for line in lines)
    with open(path, mode) as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def read_warm_start(run_dir: str | Path) -> list[dict[str, Any]]:
    return read_jsonl(Path(run_dir) / WARM_START_FILE, required=("config", "budget"))


def read_proposals(run_dir: str | Path, repair: bool = False) -> dict[int, dict[str, Any]]:
    """iteration -> its line of mobo.jsonl (the first one, should an iteration appear twice)."""
    out: dict[int, dict[str, Any]] = {}
    for line in read_jsonl(Path(run_dir) / PROPOSALS_FILE, repair=repair, required=("iteration", "X", "configs")):
        out.setdefault(int(line["iteration"]), line)
    return out


# ---------------------------------------------------------------------------------------------------------
# evaluated points (shared with the report and the benchmark)
# ---------------------------------------------------------------------------------------------------------
def evaluated_points(settings: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                     warm: Sequence[Mapping[str, Any]] = ()) -> list[dict[str, Any]]:
    """Every evaluation of a multi-objective run as {"iteration" (0 = warm start), "source", "record",
    "values" (raw objective values, NaN where missing), "complete"} in log order, warm start first."""
    names = list(settings.get("objectives") or DEFAULT_OBJECTIVES)
    points = []
    for r in warm:
        values = objective_values(r, names)
        points.append({"iteration": 0, "source": "warm-start", "record": dict(r), "values": values,
                       "complete": all(math.isfinite(v) for v in values)})
    for r in records:
        if r.get("phase", "search") != PHASE:
            continue
        values = objective_values(r, names)
        it = int(r["batch"]) + 1 if r.get("batch") is not None else int(r["job_id"][0]) + 1
        points.append({"iteration": it, "source": settings.get("strategy", STRATEGY), "record": dict(r),
                       "values": values, "complete": all(math.isfinite(v) for v in values)})
    return points


def front_and_hypervolume(points: Sequence[Mapping[str, Any]], reference: Sequence[float] | None = None
                          ) -> dict[str, Any]:
    """Pareto front (indices into `points`), reference point (given, else the worst value of each objective
    plus 10 % of its range over all complete points) and hypervolume after each iteration."""
    from .pareto import hypervolume, hypervolume_per_iteration, non_dominated_mask, reference_point

    complete = [i for i, p in enumerate(points) if p["complete"]]
    if not complete:
        return {"front": [], "reference_point": None if reference is None else list(reference),
                "reference_source": "given" if reference is not None else None, "hypervolume": None,
                "iterations": [], "hypervolume_per_iteration": []}
    Y = np.array([points[i]["values"] for i in complete], dtype=np.float64)
    front = [complete[j] for j in np.flatnonzero(non_dominated_mask(Y))]
    ref = np.asarray(reference, dtype=np.float64) if reference is not None else reference_point(Y, 0.1)
    all_Y = np.array([p["values"] for p in points], dtype=np.float64)
    its, hv = hypervolume_per_iteration(all_Y, [p["iteration"] for p in points], ref)
    return {"front": front, "reference_point": [float(v) for v in ref],
            "reference_source": "given" if reference is not None else "worst + 10% of range",
            "hypervolume": float(hypervolume(Y, ref)), "iterations": [int(i) for i in its],
            "hypervolume_per_iteration": [float(h) for h in hv]}


# ---------------------------------------------------------------------------------------------------------
# the search
# ---------------------------------------------------------------------------------------------------------
def make_proposer(settings: Mapping[str, Any], space: SearchSpace):
    """The run's proposer and encoding, from its settings (deterministic given the settings)."""
    from search.mobo.proposer import MOBOProposer, default_surrogate_factory

    encoding = VectorEncoding(space)
    names = list(settings["objectives"])
    exact = {}
    if "params" in names:
        exact["params"] = spec_params_fn(space.context(), settings["input_shape"], settings["num_classes"],
                                         int(settings.get("seed", 0)))
    factory = default_surrogate_factory(settings.get("surrogate", "heteroscedastic"),
                                        **dict(settings.get("surrogate_options") or {}))
    proposer = MOBOProposer(encoding.dim, build_objectives(names, exact), decode=encoding.decode,
                            batch_size=int(settings["batch_size"]), surrogate_factory=factory,
                            seed=int(settings.get("seed", 0)), **dict(settings.get("mobo_options") or {}))
    return proposer, encoding


def _info_line(proposer: Any, propose_time: float) -> dict[str, Any]:
    info = getattr(proposer, "last_info", None)
    out: dict[str, Any] = {"propose_time_s": propose_time}
    if info is None:
        return out
    out.update(initial_design=bool(info.initial_design), fit_time_s=dict(info.fit_time_s or {}),
               n_candidates=int(info.n_candidates), halvings=int(info.halvings))
    for key in ("radii", "lipschitz", "mean", "std"):
        value = getattr(info, key, None)
        if value is not None and np.size(value):
            out[key] = np.asarray(value, dtype=np.float64).tolist()
    return out


def _rng_state(proposer: Any) -> Any:
    rng = getattr(proposer, "rng", None)
    return to_builtin(rng.bit_generator.state) if rng is not None else None


class MOBOSearch:
    """The iteration loop of a MOBO run on an engine (anything with `evaluate_batch(jobs, phase=...)`)."""

    def __init__(self, store: RunStore, engine: Any, *, on_iteration: Callable[[dict], None] | None = None
                 ) -> None:
        from .engine.pyro import space_from_store

        self.store, self.engine, self.on_iteration = store, engine, on_iteration
        self.settings = store.settings
        self.space = space_from_store(store)
        self.proposer, self.encoding = make_proposer(self.settings, self.space)
        self.names = list(self.settings["objectives"])
        self.budget = float(self.settings["budget"])
        self.warm = read_warm_start(store.path)
        if self.warm:
            self.proposer.warm_start([(self.encoding.encode(r["config"]), objective_values(r, self.names))
                                      for r in self.warm])
        self.proposals = read_proposals(store.path, repair=store.writable)
        self.iterations: list[dict[str, Any]] = []
        self.optimizer_time_s = 0.0

    def run(self, iterations: int) -> list[dict[str, Any]]:
        for it in range(1, int(iterations) + 1):
            self.step(it)
        return self.iterations

    def step(self, it: int) -> dict[str, Any]:
        logged = self.proposals.get(it)
        replayed = logged is not None
        if replayed:
            X = np.asarray(logged["X"], dtype=np.float64)
            configs = [dict(c) for c in logged["configs"]]
            if logged.get("rng_state") is not None and getattr(self.proposer, "rng", None) is not None:
                self.proposer.rng.bit_generator.state = logged["rng_state"]
            self.proposer.iteration = it
            line = logged
        else:
            start = time.perf_counter()
            self.proposer.iteration = it - 1
            X = np.asarray(self.proposer.propose(), dtype=np.float64)
            configs = [self.encoding.decode(x) for x in X]
            elapsed = time.perf_counter() - start
            self.optimizer_time_s += elapsed
            line = {"iteration": it, "X": X.tolist(), "configs": configs, "rng_state": _rng_state(self.proposer),
                    "budget": self.budget, "time": time.time(), "session": self.store.session,
                    **_info_line(self.proposer, elapsed)}
            _write_jsonl(self.store.path / PROPOSALS_FILE, [line])
            self.proposals[it] = line
        records = self.engine.evaluate_batch([(c, self.budget) for c in configs], phase=PHASE)
        values = [objective_values(r, self.names) for r in records]
        self.proposer.tell(X, np.array(values, dtype=np.float64).reshape(len(records), len(self.names)),
                           iteration=it)
        summary = {"iteration": it, "replayed_proposal": replayed, "records": records, "values": values,
                   "initial_design": line.get("initial_design"), "fit_time_s": line.get("fit_time_s") or {},
                   "propose_time_s": line.get("propose_time_s")}
        self.iterations.append(summary)
        if self.on_iteration is not None:
            self.on_iteration(summary)
        return summary


def _settings_from_init(init_settings: Mapping[str, Any], space: Any, space_options: Any, dataset: Any,
                        train_overrides: Any, init_path: Path) -> tuple[Any, Any, Any, Any]:
    """Take the warm-start run's space, options, data set and training options where none are given; refuse
    a different data set or space (their objective values would not be comparable)."""
    init_space = init_settings.get("space")
    if space is None:
        if str(init_space).startswith("custom:"):
            space = str(init_path / "space.json")
        else:
            space = init_space
        if space_options is None:
            space_options = init_settings.get("space_options") or None
    elif not str(space).endswith(".json") and init_space is not None and space != init_space:
        raise ValueError(f"init-from: run {init_path} searched space {init_space!r}, not {space!r}")
    if dataset is None:
        dataset = init_settings.get("dataset")
    elif init_settings.get("dataset") is not None and dataset != init_settings.get("dataset"):
        raise ValueError(f"init-from: run {init_path} was trained on data set {init_settings.get('dataset')!r}, "
                         f"not {dataset!r}")
    if train_overrides is None:
        train_overrides = init_settings.get("train_overrides") or None
    return space, space_options, dataset, train_overrides


def run_mobo(run_dir: str | Path, *, space: str | None = None, dataset: str | None = None,
             objectives: str | Sequence[str] | None = None, batch_size: int | None = None,
             iterations: int | None = None, budget: float | None = None, init_from: str | Path | None = None,
             init_budget: float | None = None, surrogate: str | None = None,
             surrogate_options: Mapping[str, Any] | None = None, mobo_options: Mapping[str, Any] | None = None,
             reference_point: Sequence[float] | None = None, resume: bool = False,
             space_options: Mapping[str, Any] | None = None, seed: int | None = None,
             train_overrides: Mapping[str, Any] | None = None, data_dir: str | None = None,
             on_start: Callable[[Any], None] | None = None, on_iteration: Callable[[dict], None] | None = None,
             **engine_options: Any) -> dict[str, Any]:
    """Run (or, with `resume`, continue) a MOBO search in `run_dir`; returns a summary dict.

    objectives: CLI or registry names (default error, memory). batch_size: B (default 8). iterations: T
    (default 1; may grow on resume). budget: epochs of every evaluation (default: the warm start's budget).
    init_from / init_budget: warm start from another run's evaluations at that budget. surrogate:
    "heteroscedastic" (default) or "homoscedastic"; surrogate_options go to the BNN (num_steps, ...),
    mobo_options to `MOBOProposer` (n_initial, kappa, pop_size, generations, ...). reference_point: of the
    reported hypervolume (default: from the data). engine_options: `search.engine.Engine`'s (workers, device,
    threads, host, port, ping_interval, progress, ...). Bad input raises ValueError before anything is
    written."""
    from .engine.pyro import Engine, open_run

    names = canonical_objectives(objectives) if (objectives is not None or not resume) else None
    ref = list(reference_point) if reference_point is not None else None
    check_options(objectives=names or [], batch_size=batch_size, iterations=iterations, budget=budget,
                  surrogate=surrogate, surrogate_options=surrogate_options, mobo_options=mobo_options,
                  reference_point=ref if names is not None else None)
    if resume:
        given = {"objectives": names, "batch_size": batch_size, "budget": budget, "surrogate": surrogate,
                 "surrogate_options": dict(surrogate_options) if surrogate_options else None,
                 "mobo_options": dict(mobo_options) if mobo_options else None,
                 "init_from": str(Path(init_from).resolve()) if init_from is not None else None,
                 "init_budget": init_budget, "reference_point": ref, "iterations": iterations}
        store = open_run(STRATEGY, run_dir, space=space, dataset=dataset, settings=given, resume=True,
                         space_options=space_options, seed=seed, train_overrides=train_overrides,
                         data_dir=data_dir)
        if store.settings.get("strategy") != STRATEGY:
            store.close()
            raise ValueError(f"run directory {run_dir}: is not a MOBO search")
        if ref is not None and len(ref) != len(store.settings["objectives"]):
            store.close()
            raise ValueError("reference point: needs one value per objective")
        if store.settings.get("init_from") and not (store.path / WARM_START_FILE).exists():
            # the master died right after creating the run: take the warm start again
            records, b, _ = load_init_evaluations(store.settings["init_from"], store.settings.get("init_budget"))
            _write_jsonl(store.path / WARM_START_FILE, _warm_start_lines(records, Path(store.settings["init_from"]), b))
    else:
        warm_records: list[dict[str, Any]] = []
        init_path = None
        if init_from is not None:
            init_path = Path(init_from).resolve()
            if init_path == Path(run_dir).resolve():
                raise ValueError("init-from: must be another run directory than --run-dir")
            warm_records, init_budget, init_settings = load_init_evaluations(init_path, init_budget)
            space, space_options, dataset, train_overrides = _settings_from_init(
                init_settings, space, space_options, dataset, train_overrides, init_path)
            if budget is None:
                budget = init_budget
        elif init_budget is not None:
            raise ValueError("init budget: only with --init-from")
        if budget is None:
            raise ValueError("budget: a MOBO search needs --budget (epochs of every evaluation)")
        settings = {"objectives": names, "batch_size": 8 if batch_size is None else batch_size,
                    "iterations": 1 if iterations is None else iterations, "budget": float(budget),
                    "surrogate": surrogate or "heteroscedastic",
                    "surrogate_options": to_builtin(dict(surrogate_options or {})),
                    "mobo_options": to_builtin(dict(mobo_options or {})),
                    "init_from": str(init_path) if init_path is not None else None,
                    "init_budget": init_budget if init_path is not None else None,
                    "init_evaluations": len(warm_records), "reference_point": ref}
        check_options(objectives=names, batch_size=settings["batch_size"], iterations=settings["iterations"],
                      budget=settings["budget"], surrogate=settings["surrogate"], surrogate_options=None,
                      mobo_options=settings["mobo_options"], reference_point=ref)
        if init_path is not None:  # the warm start's generator must be the one searched now
            target = build_space(space or "hnag", space_options, seed=seed)
            VectorEncoding(target)
            init_gen = (init_settings.get("space_context") or {}).get("generator")
            if init_gen is not None and init_gen != target.generator:
                raise ValueError(f"init-from: run {init_path} searched {init_gen} generators, this search "
                                 f"{target.generator}")
        else:
            VectorEncoding(build_space(space or "hnag", space_options, seed=seed))
        store = open_run(STRATEGY, run_dir, space=space, dataset=dataset, settings=settings,
                         space_options=space_options, seed=seed, train_overrides=train_overrides,
                         data_dir=data_dir)
        if init_path is not None:
            _write_jsonl(store.path / WARM_START_FILE, _warm_start_lines(warm_records, init_path, init_budget))
    start = time.time()
    try:
        total = int(store.settings["iterations"])
        with Engine(store, session_info={"strategy": STRATEGY, "resume": resume}, **engine_options) as engine:
            if on_start is not None:
                on_start(engine)
            search = MOBOSearch(store, engine, on_iteration=on_iteration)
            search.run(total)
            engine.optimizer_time_s += search.optimizer_time_s
            summary = mobo_summary(store.path, store.settings, engine.phase_records(PHASE), search.warm)
            summary.update(run_dir=str(store.path), strategy=STRATEGY, session_wall_time_s=time.time() - start,
                           optimizer_time_s=search.optimizer_time_s, new_evaluations=engine.new_results,
                           iterations_done=total, final=None)
            return summary
    finally:
        store.close()


def mobo_summary(run_dir: str | Path, settings: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                 warm: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """Counts (as `search.engine.search_summary`), the Pareto front and its hypervolume."""
    from .engine.pyro import search_summary

    summary = search_summary(list(records))
    points = evaluated_points(settings, records, warm)
    fh = front_and_hypervolume(points, settings.get("reference_point"))
    summary.update(objectives=list(settings["objectives"]), warm_start=len(warm),
                   reference_point=fh["reference_point"], hypervolume=fh["hypervolume"],
                   hypervolume_per_iteration=dict(zip(fh["iterations"], fh["hypervolume_per_iteration"])),
                   front=[{"iteration": points[i]["iteration"], "source": points[i]["source"],
                           "job_id": points[i]["record"].get("job_id"),
                           "values": dict(zip(settings["objectives"], points[i]["values"])),
                           "config": points[i]["record"].get("config")} for i in fh["front"]])
    return summary


# ---------------------------------------------------------------------------------------------------------
# surrogate data from real runs (Table 1)
# ---------------------------------------------------------------------------------------------------------
def export_evaluations(run_dirs: Sequence[str | Path], out: str | Path,
                       objectives: Sequence[str] = ("val_error", "memory_mb"), budget: float | None = None,
                       include_warm_start: bool = True) -> dict[str, Any]:
    """Write the evaluations of one or more runs (any strategy; search phase; one budget: `budget`, default
    the largest one) as the JSON-lines input of `experiments/surrogate_table.py`:
    {"x": unit-hypercube vector, "objectives": {name: raw value}, "run": dir, "job_id": [...]}.
    All runs must search the same hyperparameters (each is encoded with its own space)."""
    from .engine.pyro import space_from_store

    names = canonical_objectives(list(objectives))
    rows: list[dict[str, Any]] = []
    hp_names = None
    for run_dir in run_dirs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            store = RunStore.open(run_dir)
            records = [r for r in store.results() if r.get("phase", "search") == PHASE]
        if include_warm_start and store.settings.get("strategy") == STRATEGY:
            records = read_warm_start(store.path) + records
        encoding = VectorEncoding(space_from_store(store))
        if hp_names is None:
            hp_names = encoding.names
        elif encoding.names != hp_names:
            raise ValueError(f"export: run {run_dir} searches {', '.join(encoding.names)}, not "
                             f"{', '.join(hp_names)}")
        for r in records:
            rows.append({"x": encoding.encode(r["config"]).tolist(),
                         "objectives": dict(zip(names, objective_values(r, names))), "budget": float(r["budget"]),
                         "run": str(store.path), "job_id": r.get("job_id"), "status": r.get("status")})
    if not rows:
        raise ValueError("export: the runs hold no evaluations")
    if budget is None:
        budget = max(r["budget"] for r in rows)
    rows = [r for r in rows if budget_key(r["budget"]) == budget_key(budget)]
    from .evaluation import json_safe

    with open(out, "w") as fh:
        for r in rows:
            fh.write(json.dumps(json_safe(r), sort_keys=True) + "\n")
    return {"path": str(out), "evaluations": len(rows), "budget": float(budget), "objectives": names,
            "hyperparameters": hp_names}
