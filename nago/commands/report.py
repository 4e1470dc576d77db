"""`nago report DIR`: plots and a Markdown summary of a search, and its best configuration as JSON."""
from __future__ import annotations

import argparse
import warnings
from typing import Any


def _run(args: argparse.Namespace) -> int:
    from search.report import build_report

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        result = build_report(args.run_dir, args.out)
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"nago report: warning: {message}")
    for path in result["files"]:
        print(path)
    if result["best_config"] is not None:
        print(f"train the best configuration: nago train --config {result['best_config']}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report", help="report of a search: trajectory, best configurations, budget rank correlation",
        description="Write <run-dir>/report/: trajectory.png (incumbent validation error against cumulative "
                    "epochs and wall time), budget_correlation.png, summary.md (best configurations, rank "
                    "correlation between consecutive budgets, final multi-seed evaluation) and "
                    "best_config.json (accepted by `nago train --config`). The run's own files are only read.")
    parser.add_argument("run_dir", help="run directory of a search")
    parser.add_argument("--out", default=None, help="output directory (default: <run-dir>/report)")
    parser.set_defaults(func=_run)
