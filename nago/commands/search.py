"""`nago search bohb|random|space ...`: search the generator hyperparameters.

Other strategies add sub-commands of `nago search` without editing this file, as a module
`nago/commands/search_<name>.py` defining `register_search(search_subparsers)`, found automatically.
`add_common_arguments`, `common_options`, `engine_options` and `print_progress` give them the same run-directory,
worker, data and space options as `bohb` and `random`; `run_guarded` runs them the same way.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import pkgutil
import signal
import sys
import threading
import warnings
from typing import Any, Callable

from nago.params_io import parse_pairs


@contextlib.contextmanager
def one_line_warnings(prefix: str):
    """Show warnings (e.g. a truncated log line skipped on resume) as one line each."""
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        warnings.showwarning = lambda message, *args, **kwargs: print(f"{prefix}: warning: {message}",
                                                                      file=sys.stderr, flush=True)
        yield


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    run = parser.add_argument_group("run directory")
    run.add_argument("--run-dir", required=True, help="directory of this search (created; must be new or empty "
                     "unless --resume)")
    run.add_argument("--resume", action="store_true", help="continue the search in --run-dir: finished "
                     "evaluations are kept, jobs that were running are run again")
    space = parser.add_argument_group("space and data")
    space.add_argument("--space", default=None, help="hnag (default), hnag-ops, hnag-ratios, hnag-full, rnag, "
                       "or a ConfigSpace .json file")
    space.add_argument("--space-option", metavar="KEY=VALUE", action="append", dest="space_options",
                       help="narrow a range (top_n=[3,5]), fix a hyperparameter (mid_n=1) or a generator field "
                            "(param_budget=50000, base_channels=4); repeatable")
    space.add_argument("--dataset", default=None, help="digits (default), cifar10, cifar100, mnist, "
                       "fashion-mnist, svhn, imagefolder:PATH")
    space.add_argument("--data-dir", default=None, help="where data sets live (default ~/.cache/nago/data)")
    space.add_argument("--seed", type=int, default=None, help="architecture and training seed of every "
                       "evaluation, and the optimiser's seed (default 0)")
    space.add_argument("--train", metavar="KEY=VALUE", action="append", dest="train_options",
                       help="training option for every evaluation: lr=0.1, batch_size=128, schedule=cosine, "
                            "cutout=16, val_fraction=0.2, limit=1000, ...; repeatable")
    workers = parser.add_argument_group("workers")
    workers.add_argument("--workers", type=int, default=None, help="local worker processes (default: one per "
                         "GPU, else 1; 0 = only workers started with `nago worker`)")
    workers.add_argument("--device", default="auto", help="device of the local workers (auto, cpu, cuda, ...)")
    workers.add_argument("--threads", type=int, default=None, help="torch threads per local worker "
                         "(default: cores / workers)")
    workers.add_argument("--host", default="127.0.0.1", help="interface of the name server (default 127.0.0.1; "
                         "another interface lets workers on other machines join: your explicit choice)")
    workers.add_argument("--port", type=int, default=0, help="name server port (default: any free port)")
    workers.add_argument("--ping-interval", type=float, default=10.0,
                         help="seconds between worker checks (a dead worker's job is rerun after this)")
    parser.add_argument("--quiet", action="store_true", help="no line per evaluation")


def common_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of `search.engine.open_run` / `run_search` from the common arguments."""
    return {"space": args.space, "dataset": args.dataset, "resume": args.resume, "seed": args.seed,
            "space_options": parse_pairs(args.space_options, "--space-option") or None,
            "train_overrides": parse_pairs(args.train_options, "--train") or None, "data_dir": args.data_dir}


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of `search.engine.Engine` from the common arguments."""
    return {"workers": args.workers, "device": args.device, "threads": args.threads, "host": args.host,
            "port": args.port, "ping_interval": args.ping_interval,
            "progress": None if args.quiet else print_progress}


def print_progress(record: dict, engine: Any) -> None:
    from search.engine.pyro import format_record

    print(format_record(record, engine), flush=True)


def _on_start(engine: Any) -> None:
    done = len(engine.records)
    print(f"search {engine.store.run_id} in {engine.store.path}: name server {engine.ns_host}:{engine.ns_port}, "
          f"{engine.n_workers} local worker(s)" + (f", {done} evaluation(s) already in the log" if done else ""),
          flush=True)
    print(f"  more workers: nago worker --run-dir {engine.store.path}   (or --nameserver "
          f"{engine.ns_host}:{engine.ns_port} --run-id {engine.store.run_id})", flush=True)


def report_outcome(summary: dict[str, Any]) -> None:
    print(f"done: {summary['evaluations']} evaluations ({summary['ok']} ok, {summary['failed']} failed, "
          f"{summary['crashed']} crashed), {summary['total_epochs']:.4g} epochs; "
          f"{summary.get('new_evaluations', 0)} run in this session")
    best = summary.get("incumbent")
    if best:
        test = best.get("test_accuracy")
        print(f"incumbent: validation error {best['loss']:.4f} at {best['budget']:.4g} epochs (job "
              f"{','.join(map(str, best['job_id']))}, test accuracy {'-' if test is None else f'{test:.4f}'}): "
              f"{json.dumps(best['config'], sort_keys=True)}")
    final = summary.get("final")
    if final:
        if final["val_error_mean"] is not None:
            print(f"best generator on {final['ok']}/{final['samples']} new seeds at {final['budget']:.4g} epochs: "
                  f"validation error {final['val_error_mean']:.4f} ± {final['val_error_std']:.4f}, test accuracy "
                  f"{final['test_accuracy_mean']:.4f} ± {final['test_accuracy_std']:.4f}")
        else:
            print(f"best generator: all {final['samples']} new samples failed: {final['failures'][:1]}")
    print(f"report: nago report {summary['run_dir']}")


def run_guarded(strategy: str, run: Callable[[], dict[str, Any]], report: Callable[[dict[str, Any]], None]) -> int:
    """Run a search so that `kill` stops it as cleanly as Ctrl-C, warnings print as one line (hpbandster's own
    deprecation noise dropped) and a search that cannot go on (RuntimeError) ends with one line and exit 1."""
    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, interrupt) if main_thread else None
    try:
        with one_line_warnings(f"nago search {strategy}"):
            warnings.filterwarnings("ignore", message=r"isSet\(\) is deprecated")
            warnings.filterwarnings("ignore", message="invalid escape sequence")
            summary = run()
    except RuntimeError as exc:
        print(f"nago search {strategy}: error: {exc}", file=sys.stderr)
        return 1
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)
    report(summary)
    return 0


def _run(strategy: str, args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from search.engine.pyro import run_search

    return run_guarded(strategy, lambda: run_search(
        strategy, args.run_dir, settings=settings, final_samples=args.final_samples, final_budget=args.final_budget,
        on_start=None if args.quiet else _on_start, **common_options(args), **engine_options(args)), report_outcome)


def _add_final_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("judging the best generator (after the search)")
    group.add_argument("--final-samples", type=int, default=0, help="sample this many networks from the best "
                       "generator (new seeds) and train each to the full budget; reports mean ± std")
    group.add_argument("--final-budget", type=float, default=None, help="epochs of those runs (default: the "
                       "search's largest budget)")


def _bohb(args: argparse.Namespace) -> int:
    settings = {"min_budget": args.min_budget, "max_budget": args.max_budget, "eta": args.eta,
                "iterations": args.iterations, "bohb": parse_pairs(args.bohb_options, "--bohb-option") or None}
    return _run("bohb", args, settings)


def _random(args: argparse.Namespace) -> int:
    from nago.commands.cellsearch import CELL_SPACES, run_cell_random

    if args.space in CELL_SPACES:  # random search in a NAS-Bench cell space: a table lookup, or training
        args.train = args.benchmark is None
        return run_cell_random(args)
    return _run("random", args, {"budget": args.budget, "evaluations": args.evaluations})


def _space(args: argparse.Namespace) -> int:
    from search.spaces import build_space, save_space

    space = build_space(args.name, parse_pairs(args.space_options, "--space-option"), seed=args.seed)
    if args.save:
        path = save_space(space, args.save)
        print(f"saved {path}", file=sys.stderr)
    print(space.to_json() if args.json else space.describe())
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("search", help="search generator hyperparameters (BOHB, random search, ...)",
                                   description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="strategy", required=True, metavar="STRATEGY")

    bohb = sub.add_parser("bohb", help="BOHB (Bayesian optimisation + Hyperband) over a space",
                          description="BOHB over generator hyperparameters; budgets are training epochs "
                                      "(fractions allowed).")
    add_common_arguments(bohb)
    group = bohb.add_argument_group("BOHB")
    group.add_argument("--min-budget", type=float, default=None, help="smallest budget in epochs")
    group.add_argument("--max-budget", type=float, default=None, help="largest budget in epochs")
    group.add_argument("--eta", type=float, default=None, help="Successive Halving's reduction factor (>= 2, "
                       "default 3)")
    group.add_argument("--iterations", type=int, default=None, help="Successive Halving brackets (default 1; "
                       "on --resume, a larger number extends the search)")
    group.add_argument("--bohb-option", metavar="KEY=VALUE", action="append", dest="bohb_options",
                       help="min_points_in_model, top_n_percent, num_samples, random_fraction, "
                            "bandwidth_factor, min_bandwidth")
    _add_final_arguments(bohb)
    bohb.set_defaults(func=_bohb)

    rand = sub.add_parser("random", help="random search (HNAG-RS): configurations from the prior, one budget",
                          description="Random search over generator hyperparameters, same workers and run format.")
    add_common_arguments(rand)
    group = rand.add_argument_group("random search")
    group.add_argument("--budget", type=float, default=None, help="epochs of every evaluation")
    group.add_argument("--evaluations", type=int, default=None, help="number of configurations (on --resume, a "
                       "larger number extends the search)")
    cells = rand.add_argument_group("cell spaces (--space nb201 or nb101; see `nago search bananas --help`)")
    cells.add_argument("--benchmark", metavar="FILE", default=None, help="table to look architectures up in "
                       "(without it, every architecture is trained on --dataset for --budget epochs)")
    cells.add_argument("--seeds", type=int, default=1, help="independent runs (seeds --seed, --seed + 1, ...)")
    cells.add_argument("--until-best", action="store_true", help="with a table: continue past --evaluations "
                       "until the table's best-validation architecture is found")
    _add_final_arguments(rand)
    rand.set_defaults(func=_random)

    space = sub.add_parser("space", help="print or save a search space as ConfigSpace JSON")
    space.add_argument("name", help="hnag, hnag-ops, hnag-ratios, hnag-full, rnag, or a .json file")
    space.add_argument("--space-option", metavar="KEY=VALUE", action="append", dest="space_options")
    space.add_argument("--seed", type=int, default=None)
    space.add_argument("--json", action="store_true", help="print the ConfigSpace JSON instead of a summary")
    space.add_argument("--save", metavar="FILE", help="write the ConfigSpace JSON to FILE (must not exist)")
    space.set_defaults(func=_space)

    import nago.commands as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name.startswith("search_"):
            mod = importlib.import_module(f"nago.commands.{module.name}")
            if hasattr(mod, "register_search"):
                mod.register_search(sub)
