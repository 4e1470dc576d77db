"""Benchmark of batch multi-objective BO (MOBO) against random search at equal evaluations, on a small real
data set (scikit-learn's digits), and Table 1 (heteroscedastic vs homoscedastic BNN) on real evaluations.

Mode `compare` (default): for every seed, one MOBO run (B configurations per iteration, T iterations, the
first iteration a Latin-hypercube design, the others from the BNN surrogates) and one random search with the
same number of evaluations B*T, the same budget (epochs), space, data set and seed, on the same kind of worker
pool. Printed:
- the hypervolume of the (validation error, memory per sample) front after every B evaluations, mean ± std
  over seeds, with one reference point for every run (stated: the worst value of each objective over all
  runs' evaluations plus 10 % of its range);
- per seed: final hypervolume, front size, wall time of each run;
- the surrogate fit time per iteration (one BNN per learned objective) and the whole proposal time.
With `--table1`, Table 1 (`experiments/surrogate_table.py`) is then computed on all the runs' evaluations.

Mode `table1`: Table 1 on the evaluations of existing run directories (any strategy: BOHB, random, MOBO),
converted with `search.mobo_search.export_evaluations` (unit-hypercube vectors of the configurations and
their raw objective values; one budget, default the largest).

    uv run python experiments/bench_mobo.py                                  # 3 seeds, B=4, T=4, 2 epochs
    uv run python experiments/bench_mobo.py --seeds 0 1 --batch-size 3 --iterations 3 --budget 1 --table1
    uv run python experiments/bench_mobo.py table1 --runs runs/bohb runs/mobo --splits 10
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
from typing import Any, Sequence

import numpy as np

from search.mobo_search import (export_evaluations, objective_values, read_proposals,
                                run_mobo)
from search.pareto import hypervolume, non_dominated_mask, reference_point
from search.random_search import run_random
from search.runstore import RunStore

OBJECTIVES = ["val_error", "memory_mb"]
SMALL_SPACE = {"top_n": [3, 6], "mid_n": [1, 3], "bottom_n": [3, 6], "base_channels": 6}


def _records(run_dir: Path) -> list[dict[str, Any]]:
    return [r for r in RunStore.open(run_dir).results() if r.get("phase", "search") == "search"]


def _values(records: Sequence[dict[str, Any]]) -> np.ndarray:
    return np.array([objective_values(r, OBJECTIVES) for r in records], dtype=np.float64).reshape(-1, 2)


def _mobo_order(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (r["batch"], r["position"]))


def _hv_curve(Y: np.ndarray, ref: np.ndarray, step: int) -> list[float]:
    """Hypervolume of the first k evaluations, k = step, 2 step, ... (failed ones count, add nothing)."""
    out = []
    for k in range(step, Y.shape[0] + 1, step):
        P = Y[:k]
        P = P[np.all(np.isfinite(P), axis=1)]
        out.append(hypervolume(P, ref) if len(P) else 0.0)
    return out


def _mean_std(values: Sequence[float]) -> str:
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4g} ± {sd:.2g}"


def compare(args: argparse.Namespace) -> dict[str, Any]:
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_mobo_"))
    out.mkdir(parents=True, exist_ok=True)
    n_eval = args.batch_size * args.iterations
    engine = {"workers": args.workers, "device": args.device, "threads": 1, "ping_interval": 1, "progress": None}
    common = {"space": "hnag", "dataset": args.dataset, "space_options": SMALL_SPACE}
    runs: dict[str, dict[int, dict[str, Any]]] = {}
    for seed in args.seeds:
        for surrogate in args.surrogates:
            name = f"MOBO ({surrogate} BNN)"
            run_dir = out / f"mobo-{surrogate}-s{seed}"
            start = time.time()
            run_mobo(run_dir, objectives=OBJECTIVES, batch_size=args.batch_size, iterations=args.iterations,
                     budget=args.budget, surrogate=surrogate, seed=seed, resume=(run_dir / "search.json").exists(),
                     surrogate_options={"num_steps": args.bnn_steps, "num_burn_in_steps": args.bnn_burn_in,
                                        "keep_every": args.bnn_keep_every},
                     mobo_options={"n_initial": args.batch_size}, **common, **engine)
            records = _mobo_order(_records(run_dir))
            proposals = read_proposals(run_dir)
            runs.setdefault(name, {})[seed] = {
                "dir": str(run_dir), "wall_s": time.time() - start, "Y": _values(records),
                "fit": {it: p.get("fit_time_s") or {} for it, p in proposals.items()},
                "propose": {it: p.get("propose_time_s") for it, p in proposals.items()}}
            print(f"seed {seed}: {name} done in {time.time() - start:.0f} s", file=sys.stderr, flush=True)
        run_dir = out / f"random-s{seed}"
        start = time.time()
        run_random(str(run_dir), budget=args.budget, evaluations=n_eval, seed=seed,
                   resume=(run_dir / "search.json").exists(), **common, **engine)
        records = sorted(_records(run_dir), key=lambda r: r["timestamps"].get("finished", 0.0))
        runs.setdefault("random search", {})[seed] = {"dir": str(run_dir), "wall_s": time.time() - start,
                                                      "Y": _values(records)}
        print(f"seed {seed}: random search done in {time.time() - start:.0f} s", file=sys.stderr, flush=True)

    everything = np.vstack([r["Y"] for per_seed in runs.values() for r in per_seed.values()])
    everything = everything[np.all(np.isfinite(everything), axis=1)]
    ref = reference_point(everything, 0.1)
    for per_seed in runs.values():
        for r in per_seed.values():
            r["hv"] = _hv_curve(r["Y"], ref, args.batch_size)
            ok = r["Y"][np.all(np.isfinite(r["Y"]), axis=1)]
            r["front"] = int(non_dominated_mask(ok).sum()) if len(ok) else 0
            r["best_error"] = float(ok[:, 0].min()) if len(ok) else None
            r["min_memory"] = float(ok[:, 1].min()) if len(ok) else None

    ks = list(range(args.batch_size, n_eval + 1, args.batch_size))
    lines = [f"MOBO vs random search on {args.dataset}: space hnag {json.dumps(SMALL_SPACE, sort_keys=True)}, "
             f"{args.budget:g} epochs per evaluation, {n_eval} evaluations per run (B={args.batch_size}, "
             f"T={args.iterations}), seeds {', '.join(map(str, args.seeds))}, {args.workers} workers",
             f"objectives: validation error, memory per sample (MB), both minimised; hypervolume reference point: "
             f"val_error={ref[0]:.4g}, memory_mb={ref[1]:.4g} (worst over all runs + 10% of the range)", "",
             "| method | " + " | ".join(f"HV @ {k} evals" for k in ks) + " | front size | best error | wall (s) |",
             "|---|" + "---|" * (len(ks) + 3)]
    for name, per_seed in runs.items():
        curves = [r["hv"] for r in per_seed.values()]
        cells = [_mean_std([c[i] for c in curves if i < len(c)]) for i in range(len(ks))]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {_mean_std([r['front'] for r in per_seed.values()])} "
                     f"| {_mean_std([r['best_error'] for r in per_seed.values()])} "
                     f"| {_mean_std([r['wall_s'] for r in per_seed.values()])} |")
    lines += ["", "Per seed (final hypervolume, front size, wall time):", "",
              "| seed | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    for seed in args.seeds:
        cells = []
        for per_seed in runs.values():
            r = per_seed[seed]
            cells.append(f"{r['hv'][-1] if r['hv'] else float('nan'):.4g} ({r['front']} pts, {r['wall_s']:.0f} s)")
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    for name, per_seed in runs.items():
        if not name.startswith("MOBO"):
            continue
        its = sorted({it for r in per_seed.values() for it in r["fit"]})
        lines += ["", f"{name}: surrogate fit time per iteration (s, mean over seeds; SGHMC {args.bnn_steps} steps, "
                      f"{args.bnn_burn_in} burn-in, one BNN per objective) and whole proposal time:", "",
                  "| iteration | design | " + " | ".join(f"fit {o}" for o in OBJECTIVES) + " | fit total | propose |",
                  "|---|---|" + "---|" * (len(OBJECTIVES) + 2)]
        for it in its:
            fits = [r["fit"].get(it) or {} for r in per_seed.values()]
            model = any(fits)
            per_obj = [_mean_std([f.get(o) for f in fits if o in f]) for o in OBJECTIVES]
            total = _mean_std([sum(f.values()) for f in fits if f])
            lines.append(f"| {it} | {'BNN' if model else 'Latin hypercube'} | " + " | ".join(per_obj)
                         + f" | {total} | {_mean_std([r['propose'].get(it) for r in per_seed.values()])} |")
    text = "\n".join(lines)
    print(text)
    result = {"reference_point": ref.tolist(), "evaluations": n_eval, "out": str(out),
              "runs": {name: {str(s): {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in r.items()}
                              for s, r in per_seed.items()} for name, per_seed in runs.items()}}
    (out / "bench_mobo.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    (out / "bench_mobo.md").write_text(text + "\n")
    if args.table1:
        dirs = [r["dir"] for per_seed in runs.values() for r in per_seed.values()]
        table1(dirs, args, out)
    return result


def table1(run_dirs: Sequence[str], args: argparse.Namespace, out: Path | None = None) -> None:
    from experiments.surrogate_table import format_table, surrogate_table, to_arrays, load_evaluations

    out = Path(out or tempfile.mkdtemp(prefix="table1_"))
    out.mkdir(parents=True, exist_ok=True)
    data = out / "evaluations.jsonl"
    exported = export_evaluations(run_dirs, data, objectives=OBJECTIVES, budget=args.table1_budget)
    X, Y = to_arrays(load_evaluations(data), OBJECTIVES)
    start = time.perf_counter()
    rows = surrogate_table(X, Y, OBJECTIVES, splits=args.splits, seed=0,
                           bnn_kwargs={"num_steps": args.table1_steps, "num_burn_in_steps": args.table1_steps // 2,
                                       "keep_every": args.bnn_keep_every, "lr": 1e-2, "batch_size": 20,
                                       "mdecay": 0.05})
    print(f"\nTable 1 on real evaluations: {exported['evaluations']} evaluations at {exported['budget']:g} epochs "
          f"from {len(run_dirs)} run(s) ({exported['path']}); {args.splits} random 80/20 splits, median [IQR]; "
          f"SGHMC {args.table1_steps} steps ({args.table1_steps // 2} burn-in); memory in log units; "
          f"{time.perf_counter() - start:.0f} s")
    print(format_table(rows))
    (out / "table1.json").write_text(json.dumps({"source": exported, "rows": rows}, indent=1) + "\n")


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("mode", nargs="?", choices=("compare", "table1"), default="compare")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--iterations", type=int, default=4)
    ap.add_argument("--budget", type=float, default=2.0, help="epochs of every evaluation")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--surrogates", nargs="+", default=["heteroscedastic"],
                    choices=("heteroscedastic", "homoscedastic"), help="MOBO variants to run")
    ap.add_argument("--bnn-steps", type=int, default=2000, help="SGHMC steps of the MOBO surrogates")
    ap.add_argument("--bnn-burn-in", type=int, default=1000)
    ap.add_argument("--bnn-keep-every", type=int, default=20)
    ap.add_argument("--out", default=None, help="directory of the runs and results (default: a temporary one; "
                    "existing runs there are resumed)")
    ap.add_argument("--table1", action="store_true", help="compare: then run Table 1 on all runs' evaluations")
    ap.add_argument("--runs", nargs="+", default=None, help="table1: run directories whose evaluations to use")
    ap.add_argument("--table1-budget", type=float, default=None, help="table1: budget (default: the largest)")
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--table1-steps", type=int, default=2000)
    args = ap.parse_args(argv)
    start = time.time()
    try:
        if args.mode == "table1":
            if not args.runs:
                raise ValueError("table1: give --runs DIR [DIR ...]")
            table1(args.runs, args, Path(args.out) if args.out else None)
        else:
            compare(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"\nbenchmark wall time: {time.time() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
