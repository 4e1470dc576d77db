"""`nago report DIR`: the report of any search run (any strategy, space, objectives, seeds)."""
from __future__ import annotations

import argparse
import warnings
from typing import Any


def _run(args: argparse.Namespace) -> int:
    from search.reports import build_report

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        summary = build_report(args.run_dir, args.out)
    for message in dict.fromkeys(str(w.message) for w in caught):
        print(f"nago report: warning: {message}")
    for path in summary["files"]:
        print(path)
    if summary.get("best_config"):
        print(f"train the best configuration: nago train --config {summary['best_config']}")
    return 0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "report", help="report of a search: best so far, Pareto front and hypervolume, budget correlation",
        description="Write <run-dir>/report/: report.md and summary.json; best-so-far against evaluations, "
                    "wall time and budget (mean ± std over seeds); for several objectives the Pareto front "
                    "(front.csv, front.json, pareto.png) and hypervolume per evaluation; rank correlation "
                    "between budgets; configs/ with the best (or Pareto-optimal) configurations, accepted by "
                    "`nago train --config` for generator spaces. The run's own files are only read.")
    parser.add_argument("run_dir", help="run directory of a search")
    parser.add_argument("--out", default=None, help="output directory (default: <run-dir>/report)")
    parser.set_defaults(func=_run)
