"""`nago generate`: hyperparameters -> spec.json, summary.txt, architecture.png."""
from __future__ import annotations

import argparse

import nago
from hnag.render import summary
from nago.commands.common import add_params_arguments, params_from_args
from nago.outputs import written_dir


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("generate", help="generate an architecture and write its spec, summary and drawing")
    add_params_arguments(parser)
    parser.add_argument("--out", required=True, help="output directory (must be new or empty)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    params, seed = params_from_args(args)
    spec = nago.generate(params, seed, out_dir=args.out)
    print(summary(spec))
    print(f"wrote {written_dir(args.out)}/spec.json, summary.txt, architecture.png")
    return 0
