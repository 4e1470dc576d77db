"""`nago worker`: join a running search as an evaluation worker (from another terminal or machine)."""
from __future__ import annotations

import argparse
import logging
from typing import Any


def _run(args: argparse.Namespace) -> int:
    from search.engine.worker import run_from_args

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("search.worker").setLevel(logging.INFO)  # "serving run ..." is news, not a warning
    return run_from_args(args)


def register(subparsers: Any) -> None:
    from search.engine.worker import add_arguments

    parser = subparsers.add_parser(
        "worker", help="join a running search as an evaluation worker",
        description="Serve a running search: `nago worker --run-dir DIR` (finds the search's name server, also "
                    "after it was resumed) or `nago worker --nameserver HOST:PORT --run-id ID`. The worker "
                    "listens on 127.0.0.1 unless --host says otherwise; a search on another machine needs an "
                    "address it can reach, and choosing one is up to you. A search with --backend dask is "
                    "served by `dask worker ADDRESS --nthreads 1` (or --scheduler-file RUN_DIR/scheduler.json) "
                    "instead.")
    add_arguments(parser)
    parser.set_defaults(func=_run)
