"""Benchmark of the search front-ends at equal total epochs on a small real data set (scikit-learn's digits).

Compares HNAG-BOHB, HNAG random search (HNAG-RS) and RNAG-BOHB over several seeds: best validation error of
the incumbent (mean ± std over seeds), its test accuracy, and the optimiser's own overhead (time the master
spends proposing configurations and updating its model) as a fraction of the search's wall time, next to the
worker pool's idle fraction (start-up, dispatch latency, waiting at Successive Halving barriers).

Every method gets the same total training epochs: BOHB's Hyperband schedule fixes its total (no failures
assumed), and random search evaluates total / max_budget configurations at the max budget. Both generators are
held to the same parameter budget. The ranges are narrowed (space options) so that a run takes minutes on a
CPU; the full paper ranges are one flag away (--full-ranges).

    uv run python experiments/bench_search.py                      # 2 seeds, budgets 0.5..4.5 epochs, 2 workers
    uv run python experiments/bench_search.py --seeds 3 --iterations 8 --workers 4 --out runs/bench
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from search.bohb import hyperband_schedule, schedule_epochs, schedule_jobs
from search.bohb import run_bohb
from search.random_search import run_random
from search.runstore import RunStore

PARAM_BUDGET = 20_000
HNAG_SMALL = {"top_n": [3, 6], "mid_n": [1, 4], "bottom_n": [3, 6]}
RNAG_SMALL = {"n_0": [8, 16], "n_1": [8, 16], "n_2": [8, 16]}


def space_options(generator: str, full: bool, budget: int) -> dict[str, Any]:
    fixed = {"param_budget": budget, "budget_tolerance": 0.1}
    if generator == "hnag":
        return {**({} if full else HNAG_SMALL), **fixed}
    return {**({} if full else RNAG_SMALL), "channels": 16, "head_channels": 128, **fixed}


def run_metrics(run_dir: Path, summary: dict[str, Any], workers: int) -> dict[str, Any]:
    store = RunStore.open(run_dir)
    records = [r for r in store.results() if r.get("phase") == "search"]
    proposals = [e for e in store.journal() if e.get("phase") == "search" and e["job_id"][1] == 0]
    first = {tuple(e["job_id"]): e for e in proposals}  # one proposal per configuration
    model_picks = sum(bool((e.get("config_info") or {}).get("model_based_pick")) for e in first.values())
    submitted = [r["timestamps"].get("submitted") for r in records if r.get("timestamps")]
    finished = [r["timestamps"].get("finished") for r in records if r.get("timestamps")]
    search_wall = (max(finished) - min(submitted)) if submitted and finished else float("nan")
    busy = sum((r.get("info") or {}).get("eval_time_s") or 0.0 for r in records)
    best = summary["incumbent"] or {}
    return {
        "best_val_error": best.get("loss"), "best_budget": best.get("budget"),
        "test_accuracy": best.get("test_accuracy"), "evaluations": len(records),
        "failed": sum(r["status"] != "ok" for r in records), "epochs": sum(float(r["budget"]) for r in records),
        "wall_s": summary["session_wall_time_s"], "search_wall_s": search_wall,
        "optimizer_s": summary["optimizer_time_s"],
        "optimizer_fraction": summary["optimizer_time_s"] / search_wall if search_wall > 0 else float("nan"),
        "idle_fraction": 1.0 - busy / (workers * search_wall) if search_wall > 0 else float("nan"),
        "model_pick_fraction": model_picks / len(first) if first else 0.0,
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    values = [v for v in values if v is not None]
    if not values:
        return float("nan"), float("nan")
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--min-budget", type=float, default=0.5)
    parser.add_argument("--max-budget", type=float, default=4.5)
    parser.add_argument("--eta", type=float, default=3.0)
    parser.add_argument("--iterations", type=int, default=9, help="BOHB brackets (default 9: three Hyperband "
                        "rounds of budgets 0.5, 1.5, 4.5; BOHB's KDE needs more than twice (dimensions + 1) "
                        "results on one budget, so with fewer rounds it never leaves the prior)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--param-budget", type=int, default=PARAM_BUDGET)
    parser.add_argument("--full-ranges", action="store_true", help="the paper's ranges instead of narrowed ones")
    parser.add_argument("--dataset", default="digits")
    parser.add_argument("--out", default=None, help="where the run directories go (default: a temporary one)")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="nago-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    schedule = hyperband_schedule(args.min_budget, args.max_budget, args.eta)
    total = schedule_epochs(schedule, args.iterations)
    n_random = max(1, round(total / args.max_budget))
    print(f"equal budget: {total:g} epochs per run (BOHB: {schedule_jobs(schedule, args.iterations)} evaluations "
          f"over {args.iterations} brackets; random search: {n_random} x {args.max_budget:g} epochs); "
          f"{args.seeds} seed(s), {args.workers} worker(s), parameter budget {args.param_budget}; runs in {out}",
          flush=True)
    common = dict(dataset=args.dataset, workers=args.workers, device=args.device, ping_interval=2.0,
                  threads=1 if args.device == "cpu" else None)
    methods = {
        "HNAG-BOHB": lambda d, s: run_bohb(
            str(d), space="hnag", min_budget=args.min_budget, max_budget=args.max_budget, eta=args.eta,
            iterations=args.iterations, seed=s, space_options=space_options("hnag", args.full_ranges,
                                                                            args.param_budget), **common),
        "HNAG-RS": lambda d, s: run_random(
            str(d), space="hnag", budget=args.max_budget, evaluations=n_random, seed=s,
            space_options=space_options("hnag", args.full_ranges, args.param_budget), **common),
        "RNAG-BOHB": lambda d, s: run_bohb(
            str(d), space="rnag", min_budget=args.min_budget, max_budget=args.max_budget, eta=args.eta,
            iterations=args.iterations, seed=s, space_options=space_options("rnag", args.full_ranges,
                                                                            args.param_budget), **common),
    }
    start = time.time()
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in methods}
    for seed in range(args.seeds):
        for name, run in methods.items():
            run_dir = out / f"{name.lower()}-seed{seed}"
            t0 = time.time()
            summary = run(run_dir, seed)
            metrics = run_metrics(run_dir, summary, args.workers)
            results[name].append({"seed": seed, "run_dir": str(run_dir), **metrics})
            if not args.quiet:
                print(f"  {name} seed {seed}: best val error {metrics['best_val_error']:.4f} "
                      f"({metrics['evaluations']} evaluations, {metrics['failed']} failed, "
                      f"{metrics['epochs']:g} epochs, {time.time() - t0:.0f} s)", flush=True)
    wall = time.time() - start

    header = (f"{'method':<10} {'best val error':>17} {'test acc':>17} {'evals':>6} {'epochs':>7} "
              f"{'search s':>9} {'optimiser':>10} {'pool idle':>10} {'model picks':>12}")
    lines = [header, "-" * len(header)]
    for name, rows in results.items():
        err, err_sd = mean_std([r["best_val_error"] for r in rows])
        acc, acc_sd = mean_std([r["test_accuracy"] for r in rows])
        lines.append(
            f"{name:<10} {err:>8.4f} ± {err_sd:<6.4f} {acc:>8.4f} ± {acc_sd:<6.4f} "
            f"{statistics.fmean(r['evaluations'] for r in rows):>6.1f} "
            f"{statistics.fmean(r['epochs'] for r in rows):>7.1f} "
            f"{statistics.fmean(r['search_wall_s'] for r in rows):>9.1f} "
            f"{100 * statistics.fmean(r['optimizer_fraction'] for r in rows):>9.2f}% "
            f"{100 * statistics.fmean(r['idle_fraction'] for r in rows):>9.1f}% "
            f"{100 * statistics.fmean(r['model_pick_fraction'] for r in rows):>11.0f}%")
    table = "\n".join(lines)
    print()
    print(f"digits, equal total epochs ({total:g} per run), mean ± std over {args.seeds} seed(s); best val error = "
          f"the incumbent's validation error (largest budget); optimiser = master time proposing/updating the "
          f"model / search wall time; pool idle = 1 - evaluation time / (workers x search wall time); model picks = "
          f"share of configurations proposed by BOHB's KDE model rather than sampled from the prior")
    print(table)
    print(f"\nbenchmark wall time: {wall:.0f} s")
    (out / "bench_results.json").write_text(json.dumps({"args": vars(args), "total_epochs": total,
                                                        "wall_s": wall, "results": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
