"""Benchmark the cell-search strategies on the NAS-Bench-201 CIFAR-10 table.

For each strategy and seed, search until the architecture with the table's best validation accuracy is found
(at least 150 queries, so that every run also has its best-by-validation test accuracy after 50, 100 and 150
queries). Prints, per strategy, the mean and median number of queries to that architecture and the mean test
accuracy of the best-by-validation architecture after 50, 100 and 150 queries; writes trajectories, `report.md`,
`summary.json` and `best_so_far.png` to --out.

    uv run python experiments/bench_cell_search.py                 # all five strategies, 50 seeds, 2 processes
    uv run python experiments/bench_cell_search.py --tune          # also the evolution / local search grids
    uv run python experiments/bench_cell_search.py --strategies bananas --seeds 10 --param encoding=path

The table is read from ../shared/data/nb201/nb201_cifar10.csv beside the checkout unless --table is given.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from search.cells.runner import run_seeds, summarise, write_report  # noqa: E402
from search.cells.strategies import STRATEGIES  # noqa: E402
from search.cells.tables import TableOracle, get_space, load_table  # noqa: E402

DEFAULT_TABLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb201" / "nb201_cifar10.csv"
EVOLUTION_GRID = [(p, t) for p in (10, 20, 30, 50, 100) for t in (2, 5, 10, 20) if t < p]
LOCAL_GRID = [(n, fi) for n in (1, 10) for fi in (True, False)]


def _value(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def bench(strategy, space, oracle, seeds, workers, out, params=None, cap=3000, name=None):
    t0 = time.time()
    trajs = run_seeds(strategy, space, oracle, seeds=seeds, queries=150, run_dir=out / (name or strategy) if out
                      else None, params=params or {}, until_best=True,
                      max_queries=None if strategy == "random" else cap, workers=workers)
    wall = time.time() - t0
    s = summarise(trajs)
    s["wall_s"] = wall
    return trajs, s


def line(name, s) -> str:
    q = s["queries_to_best_mean"]
    qm = s["queries_to_best_median"]
    at = s["at"]
    return (f"| {name} | {'-' if q is None else f'{q:.1f}'} | {'-' if qm is None else f'{qm:.1f}'} | "
            f"{s['found']}/{s['seeds']} | " + " | ".join(f"{at[k]['test_mean']:.2f}" for k in (50, 100, 150))
            + f" | {s['wall_s']:.0f} |")


HEADER = ("| strategy | queries to best-val arch: mean | median | found | test@50 | test@100 | test@150 | wall s |\n"
          "|---|---|---|---|---|---|---|---|")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--table", default=str(DEFAULT_TABLE))
    ap.add_argument("--seeds", type=int, default=50)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--strategies", nargs="+", default=list(STRATEGIES), choices=STRATEGIES)
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="strategy parameter for every strategy run (e.g. encoding=path for bananas)")
    ap.add_argument("--cap", type=int, default=3000, help="most queries per run (random search: the whole space)")
    ap.add_argument("--tune", action="store_true", help="run the evolution and local search grids first")
    ap.add_argument("--ablations", action="store_true", help="also run BANANAS with BANANAS's own path encoding "
                    "and BANANAS with predictor walks (walk_steps=3), at most 1000 queries per run")
    ap.add_argument("--ablation-seeds", type=int, default=10, help="seeds of the ablation runs (default 10: "
                    "BANANAS with the plain path encoding often needs hundreds of queries, each refitting the "
                    "ensemble)")
    ap.add_argument("--out", default="/tmp/nago_bench_cell_search")
    args = ap.parse_args(argv)

    if not Path(args.table).is_file():
        print(f"table not found: {args.table} (give --table)", file=sys.stderr)
        return 2
    import torch

    torch.set_num_threads(1)
    space = get_space("nb201")
    table = load_table(args.table, space)
    oracle = TableOracle(table, space)
    seeds = list(range(args.seeds))
    out = Path(args.out)
    params = dict(kv.split("=", 1) for kv in args.param)
    params = {k: _value(v) for k, v in params.items()}
    print(f"{table.summary()}; {len(seeds)} seeds, {args.workers} processes", flush=True)
    start = time.time()

    if args.tune:
        print("\nregularized evolution: population P, tournament T (mean / median queries to the best-val arch)")
        rows = []
        for p, t in EVOLUTION_GRID:
            _, s = bench("evolution", space, oracle, seeds, args.workers, None,
                         {"population_size": p, "tournament_size": t}, args.cap)
            rows.append((s["queries_to_best_mean_found"], p, t, s))
            print(f"  P={p:3d} T={t:2d}: mean {s['queries_to_best_mean_found']:.1f}, median "
                  f"{s['queries_to_best_median'] or float('nan'):.1f}, found {s['found']}/{s['seeds']}", flush=True)
        best = min(rows, key=lambda r: (r[3]["found"] < r[3]["seeds"], r[0]))
        print(f"  best: P={best[1]} T={best[2]} ({best[0]:.1f})")
        print("\nlocal search: random architectures per restart, first or best improvement")
        for n, fi in LOCAL_GRID:
            _, s = bench("local", space, oracle, seeds, args.workers, None,
                         {"num_init": n, "first_improvement": fi}, args.cap)
            print(f"  num_init={n:2d} {'first' if fi else 'best '} improvement: mean "
                  f"{s['queries_to_best_mean_found']:.1f}, median {s['queries_to_best_median'] or float('nan'):.1f}, "
                  f"found {s['found']}/{s['seeds']}", flush=True)

    results, summaries = {}, {}
    print("\n" + HEADER, flush=True)
    for strategy in args.strategies:
        ps = dict(params) if strategy != "random" else {}
        try:
            trajs, s = bench(strategy, space, oracle, seeds, args.workers, out, ps, args.cap)
        except ValueError as exc:  # a --param that this strategy does not take
            print(f"| {strategy} | skipped: {exc} |")
            continue
        results[strategy], summaries[strategy] = trajs, s
        print(line(strategy, s), flush=True)
    if args.ablations:
        for name, ps in (("bananas-path", {"encoding": "path"}), ("bananas-walk3", {"walk_steps": 3})):
            trajs, s = bench("bananas", space, oracle, seeds[:args.ablation_seeds], args.workers, out, ps,
                             min(args.cap, 1000), name=name)
            results[name], summaries[name] = trajs, s
            print(line(name, s), flush=True)
    write_report(results, out, horizon=150, title="Cell search on NAS-Bench-201 CIFAR-10",
                 notes=f"{table.summary()}; {len(seeds)} seeds; every run continues until the best-validation "
                       f"architecture is found (at most {args.cap} queries; random search: the whole space).")
    print(f"\ntotal {time.time() - start:.0f} s; report in {out / 'report.md'}")
    medians = {k: v["queries_to_best_median"] for k, v in summaries.items()}
    if medians:
        print("medians:", {k: (None if v is None else round(v, 1)) for k, v in medians.items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
