"""Multi-objective multi-fidelity search at equal total budget: MO-BOHB (`mobohb`) against MOBO at the full
budget, multi-objective random search, MOASHA-style successive halving and Optuna's NSGAIISampler. One run prints
every table; README.md records them.

    uv run --group bench python experiments/bench_mobohb.py --parts synthetic            # part (a), CPU
    uv run --group bench python experiments/bench_mobohb.py --parts training \\
        --dataset cifar10 --seeds 3 --device cuda                                         # part (b), a GPU

Parts:
- `synthetic` (= `zdt1-mf,park-mf`), one table per problem of `search.evaluators.synthetic`. park-mf is MOMF Park
  (Irshad, Karsch and Döpp, 2021, arXiv:2112.13901), whose cheap evaluations rank points almost as the max
  budget does; its true hypervolume is taken on a 2,000-point front. zdt1-mf is ZDT1 (of
  Zitzler, Deb and Thiele, 2000, "Comparison of multiobjective evolutionary algorithms: empirical results",
  Evolutionary Computation 8(2), in 6 dimensions, with our low-fidelity bias and noise that vanish at the max
  budget 27; budgets 1 .. 27, eta 3). Every method gets the same total budget: `--rounds` full Hyperband rounds
  of that schedule (4 rounds = 16 brackets = 1,620 budget units = 60 evaluations at the max budget). Metric:
  the fraction of the true front's hypervolume (reference point (11, 11), BoTorch's) reached by the ok results
  at the max budget once a given total budget is spent (results in the order they came back), mean ± std over
  `--seeds`; and the total budget each method needs for MOBO's final hypervolume (on the mean curves).
- `training`: real training, HNAG space, objectives validation error and memory per sample, on a CIFAR-10
  subset (the JPEG copy in ../shared/data/cifar10, unpacked once into `--data-dir`) or any `--dataset`;
  hypervolume against total epochs, with one reference point for every method and seed (the nadir of all their
  max-budget results plus 10 % of the range), at least 3 seeds. It runs on the worker pool (`--workers`,
  `--device`); the defaults are a GPU-sized run, `--smoke` a check of the whole path on a CPU (1.2 epochs of
  tiny networks on 256 images per method; about 2 minutes per method on the loaded 2-core machine, mostly
  starting worker pools and indexing the 50,000 images).

Methods (all through the one engine, `search.engine.driver.drive`):
- `mobohb` (default options: KDE sampler, random_fraction 1/12, promotion by hypervolume contribution among every
  result at the rung's budget) and, as ablations, the earlier defaults (`promotion=crowding`,
  `promotion_context=rung`, `random_fraction` 1/3: BOHB's) and `sampler=mobo` (BNN + USeMO inside the brackets;
  fewer seeds, it is slow on a CPU);
- MOBO (`mobo`) at the max budget, batches of `--mobo-batch` with `--mobo-steps` SGHMC steps (fewer than the
  strategy's 1000 to keep it affordable: said in the table's heading);
- multi-objective random search (`random`) at the max budget;
- MOASHA-style: `mobohb` with `sampler=random` (synchronous Hyperband brackets, random new points, the default
  promotion: non-dominated sorting among every result at the rung's budget, as ASHA ranks a rung, with
  hypervolume-contribution ties). Syne Tune's own MOASHA cannot be the anchor: syne-tune 0.16 has
  none (its multiobjective package only holds MultiObjectiveRegularizedEvolution), and older releases drive
  their own trial backend; the table's notes say what the installed version has;
- Optuna's NSGAIISampler (population `--nsga-population`) at the max budget, driven by ask/tell through the same
  engine on the space's vector coordinates; reported as missing when optuna is not installed (run with
  `uv run --group bench`).
"""
from __future__ import annotations

import argparse
import functools
import json
import math
import statistics
import sys
import tarfile
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from search.engine.driver import InlinePool, drive
from search.engine.store import RunLog
from search.pareto import hypervolume, reference_point
from search.reports.pareto_front import hypervolume_trace
from search.strategies import make_strategy
from search.strategies.base import Job, Result, Strategy
from search.strategies.hyperband import hyperband_schedule, schedule_totals
from search.strategies.mobohb import MOBOHB
from bench_strategies import mean_std, run_parts, table  # the same helpers (a sibling script)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CIFAR_TAR = DATA / "cifar10" / "cifar10-jpeg.tar.gz"
GRID_POINTS = 200
FRONT_POINTS = 2000


# ------------------------------------------------------------------------------------------ helpers
class OptunaNSGA2(Strategy):
    """Optuna's NSGAIISampler behind the ask/tell interface (not registered: an outside anchor of this script).

    Each trial suggests the space's vector coordinates (a float in [0, 1] for a continuous one, a categorical
    index otherwise) and is decoded by `space.from_vector`; a vector that decodes to no valid point is told to
    Optuna as failed at once and another trial is asked (at most 100 times). Failed jobs are failed trials."""

    name = "optuna-nsga2"
    multi_objective = True
    min_objectives = 2

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 population_size: int = 20) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._fail = optuna.trial.TrialState.FAIL
        sampler = optuna.samplers.NSGAIISampler(seed=seed, population_size=population_size)
        self.study = optuna.create_study(directions=["minimize"] * len(self.objectives), sampler=sampler)
        self.trials: dict[int, Any] = {}

    def _ask(self, n: int, pending: list[Job]) -> list[Job]:
        jobs = []
        for _ in range(n):
            for _ in range(100):
                trial = self.study.ask()
                vector = [trial.suggest_float(f"v{i}", 0.0, 1.0) if k == 0 else
                          trial.suggest_categorical(f"v{i}", list(range(k)))
                          for i, k in enumerate(self.space.vector_kinds)]
                point = self.space.from_vector(vector)
                if point is not None:
                    break
                self.study.tell(trial, state=self._fail)
            else:
                return jobs
            job = self.new_job(point)
            self.trials[job.id] = trial
            jobs.append(job)
        return jobs

    def _tell(self, job: Job, result: Result) -> None:
        trial = self.trials.pop(job.id)
        if result.ok:
            self.study.tell(trial, [result.objectives[name] for name in self.objectives])
        else:
            self.study.tell(trial, state=self._fail)


def moasha_note() -> str:
    """Whether Syne Tune's MOASHA can be the anchor here, and why not (ours runs instead)."""
    try:
        import syne_tune
    except ImportError:
        return "syne-tune is not installed (run with `uv run --group bench`)"
    try:
        from syne_tune.optimizer.schedulers.multiobjective import MOASHA  # noqa: F401
    except ImportError:
        return (f"syne-tune {syne_tune.__version__} has no MOASHA scheduler (its multiobjective package holds "
                "only MultiObjectiveRegularizedEvolution)")
    return (f"syne-tune {syne_tune.__version__} has MOASHA, but it drives its own trial backend and cannot run on "
            "this engine's jobs")


def run_records(strategy: Strategy, make_pool: Callable[[RunLog], Any], workdir: Path, seed: int,
                evaluations: int | None) -> list[dict]:
    """One seed of one strategy through the engine on a new pool; its result records in the order they came
    back."""
    log = RunLog.create(workdir / f"{strategy.name}-{seed}-{time.monotonic_ns()}", {"strategy": strategy.name})
    log.start_session()
    records: list[dict] = []
    pool = make_pool(log)
    try:
        drive(strategy, pool, log, seed=seed, evaluations=evaluations, on_result=records.append)
    finally:
        close = getattr(pool, "close", None)
        if close is not None:
            close()
        log.close()
    return records


def max_budget_points(records: list[dict], objectives: Sequence[str], max_budget: float) -> list[list[float] | None]:
    """Per record: its objective vector when ok at the max budget, else None."""
    out = []
    for r in records:
        m = r.get("metrics") or {}
        ok = r["status"] == "ok" and math.isclose(float(r["budget"]), max_budget) and all(
            isinstance(m.get(o), (int, float)) and math.isfinite(m[o]) for o in objectives)
        out.append([float(m[o]) for o in objectives] if ok else None)
    return out


def hypervolume_at(records: list[dict], objectives: Sequence[str], max_budget: float, ref: np.ndarray,
                   grid: np.ndarray) -> np.ndarray:
    """The hypervolume of the ok max-budget results once each total budget of `grid` is spent (a result counts
    when the cumulative budget up to and including it is within the grid value)."""
    spent = np.cumsum([float(r["budget"]) for r in records])
    trace = hypervolume_trace(max_budget_points(records, objectives, max_budget), ref)
    upto = np.searchsorted(spent, grid + 1e-9, side="right")   # results within each grid budget
    return np.where(upto > 0, trace[np.maximum(upto - 1, 0)] if len(trace) else 0.0, 0.0)


def budget_to_reach(grid: np.ndarray, mean_curve: np.ndarray, target: float) -> float | None:
    """The first grid budget where a mean curve reaches `target` (None: never)."""
    hit = np.flatnonzero(mean_curve >= target - 1e-12)
    return float(grid[hit[0]]) if hit.size else None


# ------------------------------------------------------------------------------------------ methods
def methods(args: argparse.Namespace, space: Any, objectives: list[str], max_budget: float, min_budget: float,
            iterations: int, full_evaluations: int, exact: Mapping[str, Any]) -> tuple[list[tuple], list[str]]:
    """(label, seed -> strategy, evaluations, workers, seeds) per method, and the notes on missing anchors."""
    def ours(name: str, mf: bool, **options: Any) -> Callable[[int], Strategy]:
        return lambda seed: make_strategy(name, space, objectives=objectives, seed=seed, max_budget=max_budget,
                                          min_budget=min_budget if mf else None, exact=exact, **options)

    mf = {"eta": args.eta, "iterations": iterations}
    mobo = {"batch_size": args.mobo_batch, "num_steps": args.mobo_steps, "num_burn_in_steps": args.mobo_steps // 2}
    notes = []
    earlier = {k: v for k, v in MOBOHB.pinned.items() if k != "mobo"}   # the defaults before their change
    out = [("mobohb (KDE, hypervolume promotion among the budget's results, random_fraction 1/12)",
            ours("mobohb", True, **mf), None, 1, args.seeds),
           ("mobohb, the earlier defaults (crowding, the rung alone, random_fraction 1/3)",
            ours("mobohb", True, **earlier, **mf), None, 1, args.seeds)]
    if args.mobohb_mobo_seeds:
        out.append((f"mobohb, sampler=mobo ({args.mobo_steps} SGHMC steps, batches of {args.mobo_batch})",
                    ours("mobohb", True, sampler="mobo", mobo=mobo, **mf), None, 1, args.mobohb_mobo_seeds))
    out.append((f"MOBO at the max budget ({args.mobo_steps} SGHMC steps, batches of {args.mobo_batch})",
                ours("mobo", False, **mobo), full_evaluations, args.mobo_batch, args.mobo_seeds))
    out.append(("random search at the max budget", ours("random", False), full_evaluations, 1, args.seeds))
    notes.append(f"MOASHA: {moasha_note()}; the row is `mobohb` with sampler=random (synchronous Hyperband "
                 "brackets, random new points, the default promotion)")
    out.append(("MOASHA-style (mobohb, sampler=random)", ours("mobohb", True, sampler="random", **mf), None, 1,
                args.seeds))
    try:
        import optuna  # noqa: F401

        out.append((f"Optuna NSGAIISampler at the max budget (population {args.nsga_population})",
                     lambda seed: OptunaNSGA2(space, objectives=objectives, seed=seed, max_budget=max_budget,
                                              population_size=args.nsga_population),
                     full_evaluations, 1, args.seeds))
    except ImportError:
        notes.append("Optuna NSGAIISampler: optuna is not installed (run with `uv run --group bench`)")
    return out, notes


def compare(args: argparse.Namespace, rows_of: list[tuple], pool: Callable[[int], Callable[[RunLog], Any]],
            workdir: Path,
            objectives: list[str], max_budget: float, total: float, ref: np.ndarray | None,
            scale: float | None, what: str) -> tuple[str, dict[str, Any]]:
    """Run every method and seed; the table of hypervolume (divided by `scale`) at 25/50/75/100 % of `total`."""
    grid = np.linspace(0.0, total, GRID_POINTS + 1)
    runs: dict[str, list[list[dict]]] = {}
    walls: dict[str, float] = {}
    for label, factory, evaluations, workers, seeds in rows_of:
        t0 = time.perf_counter()
        runs[label] = [run_records(factory(seed), pool(workers), workdir, seed, evaluations)
                       for seed in range(args.first_seed, args.first_seed + seeds)]
        walls[label] = (time.perf_counter() - t0) / max(seeds, 1)
        print(f"  {what}: {label}: {seeds} seeds, {walls[label]:.1f} s per seed", file=sys.stderr, flush=True)
    if ref is None:  # one reference point for every method and seed
        pooled = [p for rs in runs.values() for recs in rs for p in max_budget_points(recs, objectives, max_budget)
                  if p is not None]
        ref = reference_point(np.asarray(pooled), 0.1)
        scale = max(hypervolume(np.asarray(pooled), ref), 1e-300)
    curves = {label: np.vstack([hypervolume_at(recs, objectives, max_budget, ref, grid) / scale for recs in rs])
              for label, rs in runs.items()}
    anchor = next(label for label in curves if label.startswith("MOBO"))
    target = float(curves[anchor][:, -1].mean())
    checkpoints = [GRID_POINTS // 4, GRID_POINTS // 2, 3 * GRID_POINTS // 4, GRID_POINTS]
    rows = []
    for label, c in curves.items():
        reach = budget_to_reach(grid, c.mean(axis=0), target)
        spent = [sum(float(r["budget"]) for r in recs) for recs in runs[label]]
        rows.append([label, c.shape[0], f"{statistics.fmean(spent):.4g}"]
                    + [mean_std(list(c[:, k])) for k in checkpoints]
                    + ["-" if reach is None else f"{reach:.4g} ({reach / total:.0%})", f"{walls[label]:.1f}"])
    headers = (["method", "seeds", "budget used"] + [f"at {grid[k]:.4g} ({k / GRID_POINTS:.0%})" for k in checkpoints]
               + [f"budget to MOBO's final {target:.3f}", "s per seed"])
    data = {"reference": [float(v) for v in ref], "scale": float(scale), "grid": grid.tolist(), "target": target,
            "curves": {label: c.mean(axis=0).tolist() for label, c in curves.items()}}
    return table(headers, rows), data


# ------------------------------------------------------------------------------------------ (a) synthetic
def part_synthetic(name: str, args: argparse.Namespace, workdir: Path) -> tuple[str, dict[str, Any]]:
    """One synthetic problem's table (`name`: zdt1-mf or park-mf)."""
    from search.evaluators.synthetic import SyntheticEvaluator, true_front

    evaluator = SyntheticEvaluator(name)
    problem = evaluator.problem
    objectives = list(problem.objectives)
    lo, hi = float(problem.min_budget), float(problem.max_budget)
    rungs = len(hyperband_schedule(lo, hi, args.eta)(0)[0])
    iterations = args.rounds * rungs
    _, total = schedule_totals(hyperband_schedule(lo, hi, args.eta), iterations)
    known = evaluator.known(objectives)
    ref = np.asarray(known["reference"], dtype=np.float64)
    # a dense front: the staircase of 200 points misses 0.5 % of park-mf's hypervolume (2,000: under 0.05 %)
    true_hv = hypervolume(true_front(problem, FRONT_POINTS), ref)
    rows_of, notes = methods(args, problem.space, objectives, hi, lo, iterations, int(total // hi), evaluator.exact())
    text, data = compare(args, rows_of, lambda workers: lambda log: InlinePool(evaluator, capacity=workers),
                         workdir, objectives, hi, total, ref, true_hv, "synthetic")
    head = (f"{name} ({problem.source}; budgets {lo:g} .. {hi:g}, eta {args.eta:g}): fraction of the true front's "
            f"hypervolume ({true_hv:.4f}, reference point ({', '.join(f'{v:g}' for v in ref)}): "
            f"{known['reference_rule']}) of the ok results at the max budget once a total budget is spent, mean ± "
            f"std over seeds. Total budget {total:.0f} = {args.rounds} Hyperband rounds ({iterations} brackets) = "
            f"{int(total // hi)} evaluations at the max budget. Hyperband-based methods run with 1 worker; MOBO in "
            f"batches of {args.mobo_batch} with {args.mobo_steps} SGHMC steps per fit (the strategy's default is "
            "1000; fewer to keep 20 seeds affordable on a CPU).")
    return head + "\n\n" + text + "".join(f"\n- {n}" for n in notes), data


# ------------------------------------------------------------------------------------------ (b) training
def cifar_folder(data_dir: Path) -> Path:
    """The CIFAR-10 ImageFolder copy (train/ and test/ class folders), unpacked from the shared JPEG tar once."""
    folder = data_dir / "cifar10-jpg"
    if (folder / "train").is_dir() and (folder / "test").is_dir():
        return folder
    if not CIFAR_TAR.is_file():
        raise SystemExit(f"bench_mobohb: no CIFAR-10 copy in {data_dir} and no {CIFAR_TAR} to unpack; give "
                         "--data-dir with cifar10-jpg/{train,test} or another --dataset")
    data_dir.mkdir(parents=True, exist_ok=True)
    print(f"unpacking {CIFAR_TAR} into {data_dir} (once)", file=sys.stderr, flush=True)
    with tarfile.open(CIFAR_TAR) as tar:
        tar.extractall(data_dir, filter="data")
    return folder


def part_training(args: argparse.Namespace, workdir: Path) -> tuple[str, dict[str, Any]]:
    from search.engine.pyro import PyroPool
    from search.evaluators.training import TrainingEvaluator
    from search.spaces import make_space

    data_dir = None
    if args.dataset == "cifar10":
        data_dir = str(cifar_folder(Path(args.data_dir).expanduser()))
    space_options = json.loads(args.space_options)
    space = make_space("hnag", space_options)
    overrides = json.loads(args.train_options)
    evaluator = TrainingEvaluator(space, args.dataset, data_dir=data_dir, train_overrides=overrides,
                                  device=args.device)
    objectives = ["error", "memory"]
    hi, lo = args.max_epochs, args.min_epochs
    rungs = len(hyperband_schedule(lo, hi, args.eta)(0)[0])
    iterations = args.rounds * rungs
    _, total = schedule_totals(hyperband_schedule(lo, hi, args.eta), iterations)
    rows_of, notes = methods(args, space, objectives, hi, lo, iterations, int(round(total / hi)), evaluator.exact())

    def pool(workers: int) -> Callable[[RunLog], Any]:
        # one pool per run (its log holds the workers' files), with --workers workers whatever the method's batch
        return lambda log: PyroPool(log, evaluator.context(), workers=args.workers, device=args.device,
                                    threads=args.threads).start()

    text, data = compare(args, rows_of, pool, workdir, objectives, hi, total, None, None, "training")
    head = (f"Real training: hnag space {json.dumps(space_options)}, data set {args.dataset} (training options "
            f"{json.dumps(overrides)}), objectives validation error and memory per sample (MiB); budgets "
            f"{lo:g} .. {hi:g} epochs, eta {args.eta:g}; total {total:.4g} epochs = {args.rounds} Hyperband rounds "
            f"({iterations} brackets) = {int(round(total / hi))} trainings at {hi:g} epochs; {args.workers} "
            f"worker(s) on {args.device}. Hypervolume of the ok {hi:g}-epoch results once a number of epochs is "
            f"spent, as a fraction of the hypervolume of all methods' pooled results (reference point: their "
            f"nadir + 10 % of the range, {', '.join(f'{v:.4g}' for v in data['reference'])}).")
    return head + "\n\n" + text + "".join(f"\n- {n}" for n in notes), data


PARTS = {"zdt1-mf": functools.partial(part_synthetic, "zdt1-mf"),
         "park-mf": functools.partial(part_synthetic, "park-mf"), "training": part_training}
GROUPS = {"synthetic": ["zdt1-mf", "park-mf"]}
SMOKE = {"rounds": 1, "seeds": 1, "mobo_seeds": 1, "mobohb_mobo_seeds": 0, "mobo_steps": 100, "mobo_batch": 2,
         "max_epochs": 0.3, "min_epochs": 0.1, "workers": 2, "threads": 1, "device": "cpu",
         "space_options": json.dumps({"base_channels": 4, "top_n": [3, 5], "mid_n": [1, 3], "bottom_n": [3, 5]}),
         "train_options": json.dumps({"limit": 256, "val_fraction": 0.01, "batch_size": 64})}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", default="synthetic", help=f"comma-separated: {', '.join([*GROUPS, *PARTS])} "
                        "(default synthetic = zdt1-mf,park-mf; training needs a GPU at its default size)")
    parser.add_argument("--seeds", type=int, default=20, help="seeds per method (20 for synthetic; 3 for training)")
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from this one (20 with --seeds 20: "
                        "seeds 20-39, a second sample)")
    parser.add_argument("--mobo-seeds", type=int, default=None, help="seeds of MOBO (default --seeds)")
    parser.add_argument("--mobohb-mobo-seeds", type=int, default=3, help="seeds of mobohb with sampler=mobo (0: "
                        "leave it out)")
    parser.add_argument("--mobo-batch", type=int, default=8)
    parser.add_argument("--mobo-steps", type=int, default=500)
    parser.add_argument("--nsga-population", type=int, default=20)
    parser.add_argument("--eta", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=4, help="total budget in full Hyperband rounds")
    training = parser.add_argument_group("training part")
    training.add_argument("--dataset", default="cifar10")
    training.add_argument("--data-dir", default="~/.cache/nago/data", help="where the CIFAR-10 copy is unpacked")
    training.add_argument("--max-epochs", type=float, default=9.0)
    training.add_argument("--min-epochs", type=float, default=1.0)
    training.add_argument("--workers", type=int, default=1)
    training.add_argument("--threads", type=int, default=None)
    training.add_argument("--device", default="auto")
    training.add_argument("--space-options", default=json.dumps({"base_channels": 16}), help="hnag space options, "
                          "JSON")
    training.add_argument("--train-options", default=json.dumps({"limit": 10000, "val_fraction": 0.1,
                                                                  "batch_size": 128}),
                          help="training overrides, JSON (limit: training images of the subset)")
    parser.add_argument("--smoke", action="store_true", help="tiny settings (seconds per run, CPU): "
                        + ", ".join(f"{k}={v}" for k, v in SMOKE.items()))
    parser.add_argument("--json", default=None, help="also write the tables and mean curves to this JSON file")
    args = parser.parse_args(argv)
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    if args.mobo_seeds is None:
        args.mobo_seeds = args.seeds
    parts = [q for p in args.parts.split(",") if p.strip() for q in GROUPS.get(p.strip(), [p.strip()])]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"--parts: unknown {', '.join(unknown)} (choose from {', '.join([*GROUPS, *PARTS])})")
    run_parts(parts, lambda part, workdir: PARTS[part](args, workdir), args.json, "nago-bench-mobohb-")
    return 0


if __name__ == "__main__":
    sys.exit(main())
