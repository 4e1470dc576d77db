"""`nago search STRATEGY --space SPACE (--dataset D | --benchmark TABLE | --problem NAME) --run-dir DIR`.

Every strategy on every space, one command form: the arguments become a `search.run.SearchRequest`; the search
itself, its checks and its run directory live in `search`. `nago search space NAME` prints a space.
"""
from __future__ import annotations

import argparse
import contextlib
import pkgutil
import signal
import sys
import threading
import warnings
from typing import Any

from nago.params_io import parse_pairs

# Strategy modules are named after their strategy (checked by the tests); listing them imports nothing.
_SHARED_MODULES = {"base", "predictors", "kde", "sampling"}


def strategy_names() -> list[str]:
    import importlib.util

    spec = importlib.util.find_spec("search.strategies")
    assert spec is not None and spec.submodule_search_locations is not None
    return sorted(m.name for m in pkgutil.iter_modules(spec.submodule_search_locations)
                  if m.name not in _SHARED_MODULES and not m.name.startswith("_"))


@contextlib.contextmanager
def one_line_warnings(prefix: str):
    """Show warnings (e.g. a truncated log line skipped on resume) as one line each."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.filterwarnings("ignore", message=r"isSet\(\) is deprecated")
        warnings.filterwarnings("ignore", message="invalid escape sequence")
        warnings.showwarning = lambda message, *args, **kwargs: print(f"{prefix}: warning: {message}",
                                                                      file=sys.stderr, flush=True)
        yield


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [t.strip() for t in text.split(",") if t.strip()]


def request_from_args(args: argparse.Namespace) -> Any:
    from search.run import SearchRequest

    options = parse_pairs(args.options, "--option")
    for key in ("eta", "iterations"):
        value = getattr(args, key)
        if value is not None:
            options[key] = value
    return SearchRequest(
        strategy=args.strategy, run_dir=args.run_dir, space=args.space,
        space_options=parse_pairs(args.space_options, "--space-option"), dataset=args.dataset,
        data_dir=args.data_dir, train_overrides=parse_pairs(args.train_options, "--train"),
        benchmark=args.benchmark, val_column=args.val_column, test_column=args.test_column, problem=args.problem,
        objectives=_split(args.objectives), seed=args.seed, seeds=args.seeds, evaluations=args.evaluations,
        min_budget=args.min_budget, max_budget=args.max_budget, options=options, workers=args.workers,
        resume=args.resume, final_samples=args.final_samples, host=args.host, port=args.port, device=args.device,
        threads=args.threads, job_timeout=args.job_timeout, job_memory=args.job_memory, backend=args.backend,
        scheduler=args.scheduler, warm_start=args.warm_start,
        fixed_architecture=args.fixed_architecture, preset=args.preset)


def format_result(record: dict[str, Any], objectives: list[str]) -> str:
    """One progress line per finished evaluation."""
    where = f"[seed {record['seed']} {record.get('phase', 'search')} {record['job']}]"
    if record["status"] == "ok":
        metrics = record.get("metrics") or {}
        what = "  ".join(f"{name} {metrics.get(name):.4g}" for name in objectives
                         if isinstance(metrics.get(name), (int, float)))
    else:
        what = f"{record['status'].upper()}: {record.get('error') or ''}"[:100]
    return f"{where} budget {record['budget']:.4g}  {what}  ({record.get('eval_s', 0.0):.2f} s)"


def _run(args: argparse.Namespace) -> int:
    from search.run import run_search

    prefix = f"nago search {args.strategy}"
    req = request_from_args(args)
    objectives: list[str] = []

    def on_start(pool: Any, settings: dict[str, Any]) -> None:
        objectives[:] = settings["objectives"]
        for note in settings.get("notes") or ():
            print(note, flush=True)
        if args.quiet:
            return
        if hasattr(pool, "describe"):
            print(f"search in {args.run_dir}: {pool.describe()}", flush=True)

    def on_result(record: dict[str, Any]) -> None:
        if not args.quiet:
            print(format_result(record, objectives), flush=True)

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, interrupt) if main_thread else None
    try:
        with one_line_warnings(prefix):
            summary = run_search(req, on_result=on_result, on_start=on_start)
    except RuntimeError as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"{prefix}: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    print(f"done: {summary['new_evaluations']} evaluation(s) in this session ({summary['wall_time_s']:.1f} s); "
          f"report: nago report {summary['run_dir']}")
    return 0


def _space(args: argparse.Namespace) -> int:
    from search.spaces.generators import build_space, save_space

    space = build_space(args.name, parse_pairs(args.space_options, "--space-option"), seed=args.seed)
    if args.save:
        path = save_space(space, args.save)
        print(f"saved {path}", file=sys.stderr)
    print(space.to_json() if args.json else space.describe())
    return 0


def add_search_arguments(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group("run directory")
    run.add_argument("--run-dir", required=True, help="directory of this search (created; must be new or empty "
                     "unless --resume)")
    run.add_argument("--resume", action="store_true", help="continue the search in --run-dir: finished "
                     "evaluations are kept, jobs that were running are run again, the strategy continues where "
                     "it stopped; --evaluations and --iterations may grow")
    where = parser.add_argument_group("space and evaluations (one of --dataset, --benchmark, --problem)")
    where.add_argument("--space", default=None, help="hnag (default), hnag-ops, hnag-ratios, hnag-full, rnag, "
                       "a ConfigSpace .json file, nb201, nb101")
    where.add_argument("--space-option", metavar="KEY=VALUE", action="append", dest="space_options",
                       help="narrow a range (top_n=[3,5]), fix a hyperparameter (mid_n=1) or a generator field "
                            "(param_budget=50000); nb201: channels, cells_per_stage; repeatable")
    where.add_argument("--dataset", default=None, help="train every network: digits (default), cifar10, "
                       "cifar100, mnist, fashion-mnist, svhn, imagefolder:PATH")
    where.add_argument("--data-dir", default=None, help="where data sets live (default ~/.cache/nago/data)")
    where.add_argument("--train", metavar="KEY=VALUE", action="append", dest="train_options",
                       help="training option: lr=0.1, batch_size=128, cutout=16, limit=1000, ...; repeatable")
    where.add_argument("--benchmark", metavar="TABLE", default=None, help="look architectures up in a NAS-Bench "
                       "table (CSV for nb201, NASLib JSON for nb101)")
    where.add_argument("--val-column", default=None, help="the table's validation column (default: guessed)")
    where.add_argument("--test-column", default=None, help="the table's test column (default: guessed)")
    where.add_argument("--problem", default=None, help="a synthetic test problem with a known optimum or front "
                       "(counting-ones, zdt1, ...)")
    search = parser.add_argument_group("search")
    search.add_argument("--preset", default=None, help="fill the settings left unset from a named preset: paper "
                        "(the NAGO paper's BOHB protocol: 30/60/120 epochs, eta 2, 50 iterations, its parameter "
                        "limit, batch 128 with lr scaled linearly; see search/presets.py); explicit flags win")
    search.add_argument("--objectives", default=None, help="comma-separated, minimised: error, params, macs, "
                        "memory, latency (synthetic problems: their own); default error, or error,memory "
                        "(training) / error,params (tables) for multi-objective strategies")
    search.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    search.add_argument("--seeds", type=int, default=1, help="independent searches, seeds --seed, --seed + 1, ...")
    search.add_argument("--evaluations", type=int, default=None, help="evaluations per seed (default: 10 when "
                        "training, 150 on tables, 100 on problems; hyperband, bohb and mobohb stop after --iterations)")
    search.add_argument("--max-budget", "--budget", dest="max_budget", type=float, default=None,
                        help="largest budget (epochs when training; default 3)")
    search.add_argument("--min-budget", type=float, default=None, help="smallest budget (hyperband, bohb, mobohb; "
                        "default max / 9)")
    search.add_argument("--eta", type=float, default=None, help="successive halving's factor (hyperband, bohb, "
                        "mobohb)")
    search.add_argument("--iterations", type=int, default=None, help="successive halving brackets (hyperband, "
                        "bohb, mobohb)")
    search.add_argument("--option", metavar="KEY=VALUE", action="append", dest="options",
                        help="strategy option (e.g. num_candidates=100, acquisition=ucb, kappa=2); repeatable")
    search.add_argument("--warm-start", metavar="RUN_DIR", default=None, help="mobo: start from another run's "
                        "evaluations of the same space (those at --max-budget first; others only when too few)")
    search.add_argument("--final-samples", type=int, default=0, help="after the search, train the best generator "
                        "(with several objectives: each Pareto-optimal one) this many more times on new architecture "
                        "seeds at the largest budget")
    search.add_argument("--fixed-architecture", action="store_true", help="training: build every job's network "
                        "from the run seed, so a configuration is the same network at every budget (default: a "
                        "network re-sampled per configuration and budget, as in the NAGO paper)")
    pool = parser.add_argument_group("workers (training)")
    pool.add_argument("--workers", type=int, default=1, help="local worker processes (0 = only workers started "
                      "with `nago worker`); on tables and problems: the batch size a strategy is asked for")
    pool.add_argument("--device", default="auto", help="device of the local workers (auto, cpu, cuda, ...)")
    pool.add_argument("--threads", type=int, default=None, help="torch threads per local worker (default: "
                      "cores / workers)")
    pool.add_argument("--job-timeout", type=float, default=None, help="seconds a job may run; a job past it is "
                      "failed and its worker replaced")
    pool.add_argument("--job-memory", type=float, default=None, metavar="MB", help="memory a job may add to its "
                      "worker process (Linux); a job past it is failed and its worker lives on")
    pool.add_argument("--backend", default=None, help="where jobs run: pyro (hpbandster's Pyro4 workers, the "
                      "default) or dask (needs the dask extra); a resume keeps the search's backend unless this "
                      "says otherwise")
    pool.add_argument("--scheduler", default=None, metavar="ADDRESS", help="with --backend dask: a running Dask "
                      "scheduler (e.g. tcp://10.0.0.1:8786); --workers is then how many workers to wait for "
                      "(default: a local cluster of --workers processes)")
    pool.add_argument("--host", default="127.0.0.1", help="interface of the name server or Dask scheduler "
                      "(default 127.0.0.1; another interface lets workers on other machines join: your explicit "
                      "choice)")
    pool.add_argument("--port", type=int, default=0, help="name server or scheduler port (default: any free port)")
    parser.add_argument("--quiet", action="store_true", help="no line per evaluation")


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("search", help="search a space with any strategy (random, bohb, bananas, ...)",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="strategy", required=True, metavar="STRATEGY")
    for name in strategy_names():
        p = sub.add_parser(name, help=f"the {name} strategy", description=f"nago search {name}: see "
                           "`nago search --help`; strategy options via --option KEY=VALUE.")
        add_search_arguments(p)
        p.set_defaults(func=_run)
    space = sub.add_parser("space", help="print or save a generator search space as ConfigSpace JSON")
    space.add_argument("name", help="hnag, hnag-ops, hnag-ratios, hnag-full, rnag, or a .json file")
    space.add_argument("--space-option", metavar="KEY=VALUE", action="append", dest="space_options")
    space.add_argument("--seed", type=int, default=None)
    space.add_argument("--json", action="store_true", help="print the ConfigSpace JSON instead of a summary")
    space.add_argument("--save", metavar="FILE", help="write the ConfigSpace JSON to FILE (must not exist)")
    space.set_defaults(func=_space)
