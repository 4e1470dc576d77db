"""Which strategy is best on which space: every strategy of the one search stack, beside outside anchors, on
ground where methods differ. One run prints every table; README.md records them.

    uv run --group bench python experiments/bench_strategies.py                     # every part
    uv run --group bench python experiments/bench_strategies.py --parts nb201,mf    # some parts

Parts:
- `nb201`: single objective on the NAS-Bench-201 CIFAR-10 table (../shared/data/nb201): queries until the
  best-validation architecture is evaluated (a seed stops there, or at --max-queries), mean / median over
  seeds, and the share of seeds that found it within 300 and 1,000 queries. Random search's expectation is
  (N + 1) / 2 = 7,813 queries; its runs are capped like the others.
- `nb201-mo`: two objectives on the same table, validation error and parameters (exact, counted by the
  project's compiler on each cell's network). The true Pareto front comes from all 15,625 cells; reference
  point: its nadir plus 10% of its range. Metric: the fraction of the true front's hypervolume reached after
  50, 100 and 200 evaluations (mean ± std over seeds). Outside anchors: Optuna's NSGAIISampler and its
  multi-objective TPESampler, on the same six categorical edge choices and the same evaluator.
- `mf`: multi-fidelity synthetic problems with known optima: BOHB against Hyperband and random search (at the
  largest budget) at equal total budget; the regret of the incumbent at the end, mean ± std over seeds.
- `digits`: real training on digits over the hnag space on the worker pool: BANANAS against BOHB and random
  search at equal total epochs; the incumbent's validation error (and the test error it never saw).
- `overhead`: engine time per evaluation for tabular jobs (driver, log and pool, without the strategy and the
  evaluator), in-process.

Outside anchors live in the `bench` dependency group; a missing one is reported as such, never silently
skipped.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

from search.engine.driver import InlinePool, drive
from search.engine.store import RunLog
from search.evaluators.tabular import TabularEvaluator
from search.pareto import hypervolume, pareto_front
from search.spaces import make_space
from search.strategies import make_strategy

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
NB201 = DATA / "nb201" / "nb201_cifar10.csv"
CHECKPOINTS = (50, 100, 200)


# ------------------------------------------------------------------------------------------ helpers
def mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def run_one(strategy: str, space: Any, evaluator: Any, seed: int, evaluations: int, workdir: Path, *,
            objectives: list[str], options: dict[str, Any] | None = None, workers: int = 1,
            stop: Callable[[list[dict]], bool] | None = None, max_budget: float = 1.0,
            min_budget: float | None = None, prepare: Callable[[Any], None] | None = None) -> list[dict]:
    """One seed of one strategy through the engine's driver; returns its result records in order.
    `prepare(strategy)` runs before the first ask (a study may swap a part of the strategy)."""
    log = RunLog.create(workdir / f"{strategy}-{seed}-{time.monotonic_ns()}", {"strategy": strategy})
    log.start_session()
    records: list[dict] = []
    strat = make_strategy(strategy, space, objectives=objectives, seed=seed, max_budget=max_budget,
                          min_budget=min_budget, exact=evaluator.exact(), **(options or {}))
    if prepare is not None:
        prepare(strat)
    drive(strat, InlinePool(evaluator, capacity=workers), log, seed=seed, evaluations=evaluations,
          on_result=records.append, stop=None if stop is None else (lambda: stop(records)))
    log.close()
    return records


# ------------------------------------------------------------------------------------------ NB201, one objective
def part_nb201(args: argparse.Namespace, workdir: Path) -> str:
    space = make_space("nb201")
    evaluator = TabularEvaluator(space, NB201)
    best = evaluator.optimum(["error"])
    best_arch = best["config"]["arch"]

    def found(records: list[dict]) -> bool:
        return bool(records) and records[-1]["config"]["arch"] == best_arch

    rows = []
    strategies = [("random", {}), ("evolution", {}), ("local", {}), ("bananas", {}), ("bonas", {}),
                  ("bohb", {"iterations": args.max_queries})]
    for name, options in strategies:
        hits, walls = [], []
        for seed in range(args.seeds):
            t0 = time.perf_counter()
            recs = run_one(name, space, evaluator, seed, args.max_queries, workdir, objectives=["error"],
                           options=options, stop=found)
            walls.append(time.perf_counter() - t0)
            hits.append(len(recs) if found(recs) else None)
        got = [h for h in hits if h is not None]
        rows.append([name, args.seeds,
                     f"{statistics.fmean(got):.1f}" if len(got) == len(hits) else
                     f"> {statistics.fmean([h or args.max_queries for h in hits]):.1f}",
                     f"{statistics.median([h or math.inf for h in hits]):.1f}",
                     f"{sum(h is not None and h <= 300 for h in hits)}/{len(hits)}",
                     f"{sum(h is not None and h <= 1000 for h in hits)}/{len(hits)}",
                     f"{statistics.fmean(walls):.1f}"])
        print(f"  nb201 {name}: {rows[-1]}", file=sys.stderr, flush=True)
    n = space.size
    head = (f"NAS-Bench-201 CIFAR-10, single objective (validation error), {args.seeds} seeds, at most "
            f"{args.max_queries} queries per seed; random search's expectation: (N + 1) / 2 = {(n + 1) / 2:.0f}.")
    return head + "\n\n" + table(["strategy", "seeds", "mean queries to best", "median", "within 300",
                                  "within 1000", "s per seed"], rows)


# ------------------------------------------------------------------------------------------ NB201, two objectives
def true_front(evaluator: TabularEvaluator) -> tuple[np.ndarray, float, dict[str, Any]]:
    """The reference point, the true front's hypervolume and the optimum record (error, params) of a table."""
    known = evaluator.optimum(["error", "params"])
    ref = np.asarray(known["reference"], dtype=np.float64)
    return ref, hypervolume(np.asarray(known["front"], dtype=np.float64), ref), known


def error_params(records: list[dict]) -> list[tuple[float, float]]:
    """(error, params) of each result in order; a failed job counts as (inf, inf)."""
    return [(r["metrics"].get("error", math.inf), r["metrics"].get("params", math.inf))
            if r["status"] == "ok" else (math.inf, math.inf) for r in records]


def hv_fractions(points: list[tuple[float, float]], true_hv: float, ref: np.ndarray) -> dict[int, float]:
    out = {}
    for k in CHECKPOINTS:
        pts = np.asarray([p for p in points[:k] if all(math.isfinite(v) for v in p)], dtype=np.float64)
        out[k] = hypervolume(pareto_front(pts), ref) / true_hv if len(pts) else 0.0
    return out


def optuna_nb201(sampler_name: str, evaluator: TabularEvaluator, seed: int, n: int) -> list[tuple[float, float]]:
    import optuna

    from search.spaces.cells import CellSpace

    space = evaluator.space
    assert isinstance(space, CellSpace)
    ops = list(range(space.vector_kinds[0]))
    sampler = (optuna.samplers.NSGAIISampler(seed=seed) if sampler_name == "nsga2"
               else optuna.samplers.TPESampler(seed=seed, multivariate=True))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)
    points: list[tuple[float, float]] = []

    def objective(trial: Any) -> tuple[float, float]:
        vector = [trial.suggest_categorical(f"edge{i}", ops) for i in range(len(space.vector_kinds))]
        config = space.to_config(space.from_vector(vector))
        ev = evaluator.evaluate(config, 1.0, seed)
        points.append((ev.metrics["error"], ev.metrics["params"]))
        return points[-1]

    study.optimize(objective, n_trials=n)
    return points


def part_nb201_mo(args: argparse.Namespace, workdir: Path) -> str:
    space = make_space("nb201")
    evaluator = TabularEvaluator(space, NB201)
    ref, true_hv, known = true_front(evaluator)
    n = max(CHECKPOINTS)
    methods: list[tuple[str, Callable[[int], list[tuple[float, float]]], int]] = []

    def ours(name: str, options: dict[str, Any], workers: int) -> Callable[[int], list[tuple[float, float]]]:
        def run(seed: int) -> list[tuple[float, float]]:
            return error_params(run_one(name, space, evaluator, seed, n, workdir, objectives=["error", "params"],
                                        options=options, workers=workers))
        return run

    methods.append(("random", ours("random", {}, 1), args.seeds))
    methods.append(("moea", ours("moea", {}, 1), args.seeds))
    mobo = {"batch_size": args.mobo_batch, "num_steps": args.mobo_steps, "num_burn_in_steps": args.mobo_steps // 2}
    methods.append(("mobo default on cells (pairwise BLR, HVI, kappa 0.5)",
                    ours("mobo", {"batch_size": args.mobo_batch}, args.mobo_batch), args.seeds))
    bnn = {**mobo, "surrogate": "heteroscedastic", "acquisition": "usemo", "kappa": 1.0}
    methods.append(("mobo (heteroscedastic BNN, USeMO: the paper's)", ours("mobo", bnn, args.mobo_batch),
                    args.mobo_seeds))
    methods.append(("mobo (heteroscedastic BNN, HVI, kappa 0.5)",
                    ours("mobo", {**bnn, "acquisition": "hvi", "kappa": 0.5}, args.mobo_batch), args.mobo_seeds))
    methods.append(("mobo (homoscedastic BNN, USeMO)", ours("mobo", {**bnn, "surrogate": "homoscedastic"},
                                                            args.mobo_batch), args.mobo_seeds))
    methods.append(("mobo (heteroscedastic BNN, USeMO, unit-hypercube vectors as in the paper)",
                    ours("mobo", {**bnn, "encoding": "unit", "inner": "nsga2"}, args.mobo_batch),
                    args.mobo_seeds))
    missing = []
    try:
        import optuna  # noqa: F401

        methods.append(("Optuna NSGAIISampler", lambda s: optuna_nb201("nsga2", evaluator, s, n), args.seeds))
        methods.append(("Optuna TPESampler (multi-objective)", lambda s: optuna_nb201("tpe", evaluator, s, n),
                        args.seeds))
    except ImportError:
        missing.append("optuna (NSGAIISampler, TPESampler): not installed; run with `uv run --group bench`")
    rows = []
    for name, run, seeds in methods:
        t0 = time.perf_counter()
        fr = [hv_fractions(run(seed), true_hv, ref) for seed in range(seeds)]
        wall = (time.perf_counter() - t0) / seeds
        rows.append([name, seeds] + [mean_std([f[k] for f in fr]) for k in CHECKPOINTS] + [f"{wall:.1f}"])
        print(f"  nb201-mo {name}: {rows[-1]}", file=sys.stderr, flush=True)
    head = ("NAS-Bench-201 CIFAR-10, two objectives (validation error, parameters counted from the compiled "
            f"cell network); fraction of the true front's hypervolume ({len(known['front'])} Pareto-optimal "
            f"cells of 15,625; reference: {known['reference_rule']}); MOBO: batches of {args.mobo_batch}, "
            f"BNN rows {args.mobo_steps} SGHMC steps.")
    text = head + "\n\n" + table(["method", "seeds"] + [f"after {k}" for k in CHECKPOINTS] + ["s per seed"], rows)
    if missing:
        text += "\n\nMissing anchors: " + "; ".join(missing)
    return text


# ------------------------------------------------------------------------------------------ multi-fidelity
def incumbent_true(records: list[dict], max_budget: float) -> float:
    """The noise-free value of the best result at the largest budget (what the search would return)."""
    top = [r for r in records if r["status"] == "ok" and math.isclose(r["budget"], max_budget)]
    if not top:
        return math.inf
    best = min(top, key=lambda r: r["metrics"]["f"])
    return float(best["info"].get("true", {}).get("f", best["metrics"]["f"]))


def part_mf(args: argparse.Namespace, workdir: Path) -> str:
    from search.evaluators.synthetic import SyntheticEvaluator, make_problem
    from search.strategies.hyperband import hyperband_schedule, schedule_totals

    blocks = []
    for name in ("counting-ones", "branin-mf"):
        problem = make_problem(name)
        evaluator = SyntheticEvaluator(problem)
        lo, hi, eta = float(problem.min_budget), float(problem.max_budget), 3.0
        rounds = 3
        brackets = rounds * len(hyperband_schedule(lo, hi, eta)(0)[0])  # one round = as many brackets as rungs
        _, total = schedule_totals(hyperband_schedule(lo, hi, eta), brackets)
        n_random = int(total // hi)
        rows = []
        for label, strategy, options, evals, budgets in [
                ("random search (max budget)", "random", {}, n_random, (hi, None)),
                ("hyperband", "hyperband", {"iterations": brackets, "eta": eta}, None, (hi, lo)),
                ("bohb", "bohb", {"iterations": brackets, "eta": eta}, None, (hi, lo))]:
            regrets, used = [], []
            for seed in range(args.seeds):
                recs = run_one(strategy, problem.space, evaluator, seed, evals, workdir, objectives=["f"],
                               options=options, max_budget=budgets[0], min_budget=budgets[1])
                regrets.append(incumbent_true(recs, hi) - float(problem.optimum))
                used.append(sum(r["budget"] for r in recs))
            rows.append([label, args.seeds, f"{statistics.fmean(used):.0f}", mean_std(regrets)])
            print(f"  mf {name} {label}: {rows[-1]}", file=sys.stderr, flush=True)
        blocks.append(f"**{name}** (budgets {lo:g} .. {hi:g}, eta 3, {rounds} Hyperband rounds = {brackets} "
                      f"brackets; random search: {n_random} evaluations at {hi:g}; optimum {problem.optimum:g})"
                      "\n\n" + table(["method", "seeds", "total budget", "regret of the incumbent (true value)"],
                                       rows))
    return ("Multi-fidelity synthetic problems at equal total budget; regret = the incumbent's noise-free value "
            "minus the known optimum (lower is better), mean ± std over seeds.\n\n" + "\n\n".join(blocks))


# ------------------------------------------------------------------------------------------ real training
def part_digits(args: argparse.Namespace, workdir: Path) -> str:
    """BANANAS over hnag against BOHB and random search, real training on digits on the worker pool."""
    from search.run import SearchRequest, run_search
    from search.strategies.hyperband import hyperband_schedule, schedule_totals

    space_options = {"base_channels": 4, "top_n": [3, 6], "bottom_n": [3, 6]}
    hi, eta, brackets = float(args.digits_epochs), 3.0, args.digits_brackets
    lo = hi / 9
    _, total = schedule_totals(hyperband_schedule(lo, hi, eta), brackets)
    n = int(total // hi)
    rows = []
    for label, strategy, options, evals, min_budget in [
            ("random search", "random", {}, n, None), ("bananas", "bananas", {"num_init": 5}, n, None),
            ("bohb", "bohb", {"iterations": brackets}, None, lo)]:
        errs, tests, epochs, walls = [], [], [], []
        for seed in range(args.digits_seeds):
            run_dir = workdir / f"digits-{strategy}-{seed}"
            t0 = time.perf_counter()
            run_search(SearchRequest(strategy=strategy, run_dir=str(run_dir), space="hnag", dataset="digits",
                                     space_options=space_options, seed=seed, evaluations=evals, max_budget=hi,
                                     min_budget=min_budget, options=options, workers=2, threads=1))
            walls.append(time.perf_counter() - t0)
            recs = [e for e in RunLog.open(run_dir).events() if e["event"] == "result"]
            epochs.append(sum(r["budget"] for r in recs))
            top = [r for r in recs if r["status"] == "ok" and math.isclose(r["budget"], hi)]
            best = min(top, key=lambda r: r["metrics"]["error"])
            errs.append(best["metrics"]["error"])
            tests.append(best["metrics"].get("test_error", math.nan))
        rows.append([label, args.digits_seeds, f"{statistics.fmean(epochs):.1f}", mean_std(errs), mean_std(tests),
                     f"{statistics.fmean(walls):.0f}"])
        print(f"  digits {label}: {rows[-1]}", file=sys.stderr, flush=True)
    return (f"Real training on digits, hnag space ({space_options}), 2 local workers, equal total epochs "
            f"(BOHB: {brackets} brackets between {lo:.3g} and {hi:g} epochs, eta 3; the others {n} networks at "
            f"{hi:g} epoch). The incumbent's validation error, and its test error (never seen by the search).\n\n"
            + table(["method", "seeds", "epochs", "validation error", "test error", "s per seed"], rows))


# ------------------------------------------------------------------------------------------ overhead
def part_overhead(args: argparse.Namespace, workdir: Path) -> str:
    """Engine time per tabular evaluation: wall time minus the strategy's and the evaluator's own time."""
    space = make_space("nb201")
    evaluator = TabularEvaluator(space, NB201)
    spent = {"evaluate": 0.0, "strategy": 0.0}

    class Timed:
        def __init__(self, inner: Any, key: str, methods: tuple[str, ...]) -> None:
            self._inner, self._key, self._methods = inner, key, methods

        def __getattr__(self, name: str) -> Any:
            attr = getattr(self._inner, name)
            if name not in self._methods:
                return attr

            def timed(*a: Any, **k: Any) -> Any:
                t0 = time.perf_counter()
                try:
                    return attr(*a, **k)
                finally:
                    spent[self._key] += time.perf_counter() - t0
            return timed

    n = 2000
    strategy = make_strategy("random", space, objectives=["error"], seed=0, max_budget=1.0)
    log = RunLog.create(workdir / "overhead", {"strategy": "random"})
    log.start_session()
    t0 = time.perf_counter()
    drive(Timed(strategy, "strategy", ("ask", "tell")), InlinePool(Timed(evaluator, "evaluate", ("evaluate",))),
          log, seed=0, evaluations=n)
    wall = time.perf_counter() - t0
    log.close()
    engine = (wall - spent["evaluate"] - spent["strategy"]) / n * 1e3
    return table(["evaluations", "wall s", "evaluator ms/eval", "strategy ms/eval", "engine ms/eval"],
                 [[n, f"{wall:.2f}", f"{spent['evaluate'] / n * 1e3:.3f}", f"{spent['strategy'] / n * 1e3:.3f}",
                   f"{engine:.3f}"]])


PARTS = {"nb201": part_nb201, "nb201-mo": part_nb201_mo, "mf": part_mf, "digits": part_digits,
         "overhead": part_overhead}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma-separated: {', '.join(PARTS)}")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--max-queries", type=int, default=1000)
    parser.add_argument("--mobo-seeds", type=int, default=10, help="seeds of the BNN rows of nb201-mo (about a minute per seed each)")
    parser.add_argument("--digits-seeds", type=int, default=3)
    parser.add_argument("--digits-epochs", type=float, default=3.0, help="digits: the largest budget (epochs)")
    parser.add_argument("--digits-brackets", type=int, default=9, help="digits: BOHB's brackets (sets the total "
                        "epochs every method gets)")
    parser.add_argument("--mobo-batch", type=int, default=8)
    parser.add_argument("--mobo-steps", type=int, default=500,
                        help="SGHMC steps per fit (half burn-in); 500 measured as good as 1,500 on nb201-mo")
    parser.add_argument("--json", default=None, help="also write the tables to this JSON file")
    args = parser.parse_args(argv)
    parts = [p.strip() for p in args.parts.split(",") if p.strip()]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)} (choose from {', '.join(PARTS)})")
    if any(p.startswith("nb201") or p == "overhead" for p in parts) and not NB201.is_file():
        print(f"bench_strategies: the NB201 table is missing ({NB201}); those parts need ../shared/data",
              file=sys.stderr)
        return 2
    run_parts(parts, lambda part, workdir: PARTS[part](args, workdir), args.json, "nago-bench-")
    return 0


def run_parts(parts: list[str], run: Callable[[str, Path], Any], json_path: str | None, prefix: str) -> None:
    """Run each part in one temporary work directory and print its table under a heading with its time; `run`
    returns the table's text, or (text, data) with more to keep. With `json_path`, also write
    {part: {"table": text, **data}} there."""
    out = {}
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        for part in parts:
            t0 = time.perf_counter()
            result = run(part, Path(tmp))
            text, data = result if isinstance(result, tuple) else (result, {})
            out[part] = {"table": text, **data}
            print(f"\n## {part} ({time.perf_counter() - t0:.0f} s)\n\n{text}\n", flush=True)
    if json_path:
        Path(json_path).write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    sys.exit(main())
