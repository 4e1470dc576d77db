"""`nago report DIR`: plots and a Markdown summary of a search, and its best configuration as JSON."""
from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path
from typing import Any, Callable


def _builder(run_dir: str) -> Callable[..., dict]:
    """The report builder for the run's kind: multi-objective runs (strategy "mobo") add the Pareto front."""
    try:
        strategy = json.loads((Path(run_dir) / "search.json").read_text()).get("strategy")
    except (OSError, ValueError, AttributeError):
        strategy = None  # build_report says what is wrong with the directory
    if strategy == "mobo":
        from search.mobo_report import build_mobo_report

        return build_mobo_report
    from search.report import build_report

    return build_report


def _run(args: argparse.Namespace) -> int:
    build_report = _builder(args.run_dir)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        result = build_report(args.run_dir, args.out)
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"nago report: warning: {message}")
    for path in result["files"]:
        print(path)
    if result["best_config"] is not None:
        print(f"train the best configuration: nago train --config {result['best_config']}")
    if result.get("pareto_configs"):
        print(f"train a Pareto-optimal configuration: nago train --config {result['pareto_configs'][0]}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report", help="report of a search: trajectory, best configurations, budget rank correlation, Pareto front",
        description="Write <run-dir>/report/: trajectory.png (incumbent validation error against cumulative "
                    "epochs and wall time), budget_correlation.png, summary.md (best configurations, rank "
                    "correlation between consecutive budgets, final multi-seed evaluation) and "
                    "best_config.json (accepted by `nago train --config`); for a multi-objective (mobo) run also "
                    "pareto.csv, pareto.json, pareto.png, hypervolume.png and pareto_configs/*.json. The run's own "
                    "files are only read.")
    parser.add_argument("run_dir", help="run directory of a search")
    parser.add_argument("--out", default=None, help="output directory (default: <run-dir>/report)")
    parser.set_defaults(func=_run)
