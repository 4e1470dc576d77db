"""`nago` command line: parses arguments, calls the public API, prints.

Each sub-command lives in `nago/commands/<name>.py` and exposes `register(subparsers)`, which adds its
parser and sets `func` (called with the parsed namespace, returns an exit code).  Errors a user can fix
(bad hyperparameters, bad paths, bad ranges) are `ValueError`s raised with a message naming the field and
its allowed range; they are printed as one line and the process exits with code 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("generate", "train", "search", "worker", "report")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nago", description="Neural architecture search by generator optimisation.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(f"nago.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"nago {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nago {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
