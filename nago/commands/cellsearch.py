"""`nago search bananas|bonas|evolution|local --space nb201|nb101 ...`: search NAS-Bench cell spaces.

Two ways to evaluate an architecture:
- a table (`--benchmark FILE`): a CSV with the architecture string and metric columns (for example NAS-Bench-201's
  `nb201_index, arch_str, cifar10_valid_acc, cifar10_test_acc`) or NASLib's NAS-Bench-101 JSON; the search sees
  the validation column only, results also report the test column;
- real training (`--train --dataset NAME`): the cell's network is compiled by hnag and trained for `--epochs`
  (small budgets; `--channels` and `--cells` shrink the network).

Every seed's queries are written as JSON lines to `<run-dir>/<strategy>/seed_<n>.jsonl`; `report.md`,
`summary.json` and `best_so_far.png` (best-so-far validation and test accuracy against queries, mean and spread
over seeds, and queries until the table's best-validation architecture was found) go to `<run-dir>/<strategy>/`.

`register_cell_methods(search_subparsers)` adds the four sub-commands; `run_cell_random(args)` is what
`nago search random --space nb201|nb101` runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from nago.params_io import parse_pairs

CELL_SPACES = ("nb201", "nb101")
CELL_METHODS = ("bananas", "bonas", "evolution", "local")


def _add_arguments(parser: argparse.ArgumentParser, strategy: str) -> None:
    g = parser.add_argument_group("space and evaluation")
    g.add_argument("--space", default="nb201", help="nb201 (default) or nb101")
    g.add_argument("--benchmark", metavar="FILE", default=None,
                   help="table of results to look architectures up in (CSV, or NAS-Bench-101 JSON)")
    g.add_argument("--val-column", default=None, help="the table's validation metric column (default: the one "
                   "column whose name contains 'valid' or 'val_')")
    g.add_argument("--test-column", default=None, help="the table's test metric column (default: the one "
                   "containing 'test', if any)")
    g.add_argument("--train", action="store_true", help="train every architecture instead of a table lookup")
    g.add_argument("--dataset", default=None, help="with --train: digits (default), cifar10, mnist, ...")
    g.add_argument("--data-dir", default=None, help="with --train: where data sets live")
    g.add_argument("--epochs", type=float, default=1.0, help="with --train: epochs per architecture (default 1)")
    g.add_argument("--channels", type=int, default=None, help="with --train: NB201 initial channels (16) / "
                   "NB101 stem channels (128)")
    g.add_argument("--cells", type=int, default=None, help="with --train: cells per stage (NB201, 5) / per "
                   "stack (NB101, 3)")
    g.add_argument("--limit", type=int, default=None, help="with --train: use only this many training examples")
    g.add_argument("--device", default="auto", help="with --train: auto, cpu, cuda, ...")
    g.add_argument("--train-option", metavar="KEY=VALUE", action="append", dest="train_options",
                   help="with --train: a training.TrainConfig field (lr=0.1, batch_size=128, schedule=cosine, ...); "
                        "repeatable")
    r = parser.add_argument_group("run")
    r.add_argument("--queries", type=int, default=150, help="architectures evaluated per seed (default 150)")
    r.add_argument("--seeds", type=int, default=50, help="number of seeds (default 50)")
    r.add_argument("--first-seed", type=int, default=0, help="seeds are first-seed, first-seed + 1, ...")
    r.add_argument("--run-dir", required=True, help="directory for trajectories and the report")
    r.add_argument("--until-best", action="store_true", help="with a table: keep going past --queries until "
                   "the table's best-validation architecture is found (at most --max-queries)")
    r.add_argument("--max-queries", type=int, default=None, help="cap for --until-best (default: the space)")
    r.add_argument("--workers", type=int, default=1, help="seeds run in parallel processes (default 1)")
    r.add_argument("--quiet", action="store_true", help="no line per seed")
    s = parser.add_argument_group(f"{strategy}")
    if strategy == "bananas":
        s.add_argument("--acquisition", default="its", help="its (default), ucb or ei")
        s.add_argument("--encoding", default="path_contracted", help="path_contracted (default: paths with "
                       "skip connections contracted), path (BANANAS's), path_trunc or adjacency")
        s.add_argument("--num-init", type=int, default=None, help="random architectures first (default 10)")
        s.add_argument("--candidates", type=int, default=None, help="mutations scored per step (default 100)")
        s.add_argument("--walk-steps", type=int, default=None, help="also score architectures met on greedy "
                       "walks of this many steps on the predictor from the best ones (default 0: off; 3 helps)")
    elif strategy == "bonas":
        s.add_argument("--num-init", type=int, default=None, help="random architectures first (default 10)")
        s.add_argument("--candidates", type=int, default=None, help="candidate pool per step (default 100)")
        s.add_argument("--gcn-every", type=int, default=None, help="retrain the GCN every k queries (default 10)")
        s.add_argument("--population-size", type=int, default=None, help="sampler population (default 30)")
        s.add_argument("--tournament-size", type=int, default=None, help="sampler tournament (default 10)")
    elif strategy == "evolution":
        s.add_argument("--population-size", type=int, default=None, help="population (default 50)")
        s.add_argument("--tournament-size", type=int, default=None, help="tournament (default 20)")
    elif strategy == "local":
        s.add_argument("--num-init", type=int, default=None, help="random architectures per restart (default 1)")
        s.add_argument("--best-improvement", action="store_true",
                       help="evaluate the whole neighbourhood before moving (default: move at the first improvement)")


def _strategy_params(strategy: str, args: argparse.Namespace) -> dict[str, Any]:
    p: dict[str, Any] = {}
    names = {"num_init": "num_init", "candidates": "num_candidates", "gcn_every": "gcn_every",
             "walk_steps": "walk_steps", "population_size": "population_size", "tournament_size": "tournament_size"}
    for attr, key in names.items():
        v = getattr(args, attr, None)
        if v is not None:
            p[key] = v
    if strategy == "bananas":
        p["acquisition"], p["encoding"] = args.acquisition, args.encoding
    if strategy == "local" and getattr(args, "best_improvement", False):
        p["first_improvement"] = False
    return p


def _build(args: argparse.Namespace):
    """(space, oracle, description) from the parsed arguments."""
    from search.cells.tables import RestrictedSpace, TableOracle, TrainingOracle, get_space, load_table

    name = getattr(args, "space", None) or "nb201"
    if name not in CELL_SPACES:
        raise ValueError(f"--space must be nb201 or nb101 for cell search, got {name!r}")
    space = get_space(name)
    benchmark = getattr(args, "benchmark", None)
    train = getattr(args, "train", False) is True
    if benchmark and train:
        raise ValueError("give either --benchmark FILE (table lookup) or --train (real training), not both")
    if benchmark:
        table = load_table(benchmark, space, val_column=getattr(args, "val_column", None),
                           test_column=getattr(args, "test_column", None))
        if space.size is not None and len(table) < space.size:
            space = RestrictedSpace(space, table)
        return space, TableOracle(table, space), table.summary()
    if not train and not getattr(args, "dataset", None):
        raise ValueError("give --benchmark FILE (a table) or --train --dataset NAME (train every architecture)")
    dataset = getattr(args, "dataset", None) or "digits"
    epochs = float(getattr(args, "epochs", None) or getattr(args, "budget", None) or 1.0)
    if epochs <= 0:
        raise ValueError(f"--epochs must be > 0, got {epochs}")
    spec: dict[str, Any] = {}
    channels, cells = getattr(args, "channels", None), getattr(args, "cells", None)
    if channels is not None:
        spec["channels" if name == "nb201" else "stem_channels"] = channels
    if cells is not None:
        spec["cells_per_stage" if name == "nb201" else "cells_per_stack"] = cells
    train_kwargs = {"device": getattr(args, "device", None) or "auto", **parse_pairs(getattr(args, "train_options", None), "--train-option")}
    oracle = TrainingOracle(space, dataset, data_dir=getattr(args, "data_dir", None), epochs=epochs,
                            spec_kwargs=spec, limit=getattr(args, "limit", None), train_kwargs=train_kwargs)
    return space, oracle, f"training on {dataset} for {epochs:g} epoch(s) per architecture"


def run_cell_search(strategy: str, args: argparse.Namespace) -> int:
    from search.cells.runner import run_seeds, write_report

    queries = int(getattr(args, "queries", None) or getattr(args, "evaluations", None) or 150)
    n_seeds = int(getattr(args, "seeds", None) or 1)
    first = int(getattr(args, "first_seed", None) or getattr(args, "seed", None) or 0)
    workers = int(getattr(args, "workers", None) or 1)
    if queries < 1 or n_seeds < 1 or workers < 1:
        raise ValueError(f"--queries, --seeds and --workers must be >= 1 (got {queries}, {n_seeds}, {workers})")
    run_dir = getattr(args, "run_dir", None)
    if not run_dir:
        raise ValueError("--run-dir is required")
    out = Path(run_dir) / strategy
    if out.exists() and any(out.glob("seed_*.jsonl")):
        raise FileExistsError(f"{out} already holds {strategy} results; use a new --run-dir")
    space, oracle, what = _build(args)
    until_best = bool(getattr(args, "until_best", False))
    if until_best and not hasattr(oracle, "table"):
        raise ValueError("--until-best needs --benchmark (a table knows its best architecture)")
    quiet = bool(getattr(args, "quiet", False))
    if not quiet:
        print(f"{strategy} on {space.name}: {what}; {n_seeds} seed(s) x {queries} queries", flush=True)

    def progress(t) -> None:
        if quiet:
            return
        best = t.records[-1] if t.records else {}
        found = f", best-validation architecture at query {t.found_at}" if t.found_at else ""
        test = best.get("best_test")
        print(f"seed {t.seed}: {len(t.records)} queries, best val {best.get('best_val', float('nan')):.2f}"
              f"{'' if test is None else f' (its test {test:.2f})'}{found} [{t.wall_s:.1f}s]", flush=True)

    trajs = run_seeds(strategy, space, oracle, seeds=range(first, first + n_seeds), queries=queries,
                      run_dir=run_dir, params=_strategy_params(strategy, args), until_best=until_best,
                      max_queries=getattr(args, "max_queries", None), workers=workers, progress=progress)
    summary = write_report({strategy: trajs}, out, horizon=queries,
                           checkpoints=tuple(q for q in (50, 100, 150) if q <= queries) or (queries,),
                           title=f"{strategy} on {space.name}", notes=what)[strategy]
    q = summary["queries_to_best_mean"]
    last = summary["at"][max(summary["at"])]
    print(f"{strategy}: best-by-validation after {max(summary['at'])} queries: val {last['val_mean']:.2f} ± "
          f"{last['val_std']:.2f}" + ("" if last["test_mean"] is None else
                                      f", test {last['test_mean']:.2f} ± {last['test_std']:.2f}")
          + ("" if not hasattr(oracle, "table") else
             f"; queries to the table's best-validation architecture: mean {q:.1f}, median "
             f"{summary['queries_to_best_median']:.1f}" if q is not None else
             f"; the table's best-validation architecture was found in {summary['found']}/{summary['seeds']} seeds"))
    print(f"report: {out / 'report.md'}")
    return 0


def run_cell_random(args: argparse.Namespace) -> int:
    """`nago search random --space nb201|nb101 ...`: random search (without repeats) in a cell space.

    Reads from `args`: space, run_dir and either benchmark (table) or train/dataset (training); optionally
    queries (or evaluations), seeds, first_seed (or seed), workers, until_best, max_queries, val_column,
    test_column, epochs (or budget), channels, cells, limit, data_dir, device, train_options (KEY=VALUE strings for
    training.TrainConfig), quiet. Missing attributes take the defaults of the cell sub-commands.
    """
    return run_cell_search("random", args)


def _handler(strategy: str):
    return lambda args: run_cell_search(strategy, args)


def register_cell_methods(search_subparsers: Any) -> None:
    """Add `bananas`, `bonas`, `evolution` and `local` to the sub-parsers of `nago search`."""
    helps = {"bananas": "BANANAS (path-encoding MLP ensemble, Thompson sampling) on a NAS-Bench cell space",
             "bonas": "BONAS (GCN + Bayesian linear regression, EI, evolutionary sampler) on a NAS-Bench cell space",
             "evolution": "regularized evolution on a NAS-Bench cell space",
             "local": "local search on a NAS-Bench cell space"}
    for strategy in CELL_METHODS:
        p = search_subparsers.add_parser(strategy, help=helps[strategy], description=helps[strategy] + ".")
        _add_arguments(p, strategy)
        p.set_defaults(func=_handler(strategy))


if __name__ == "__main__":  # pragma: no cover - `python -m nago.commands.cellsearch bananas ...`
    parser = argparse.ArgumentParser(prog="cellsearch")
    register_cell_methods(parser.add_subparsers(dest="strategy", required=True))
    a = parser.parse_args()
    try:
        sys.exit(a.func(a))
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"cellsearch: error: {exc}", file=sys.stderr)
        sys.exit(2)
