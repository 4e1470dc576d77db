"""`nago train`: generate a network, train it, evaluate and measure it, write everything to --out."""
from __future__ import annotations

import argparse

import nago
from nago.commands.common import (add_params_arguments, add_training_arguments, params_from_args,
                                  set_threads, train_config_from_args)
from nago.outputs import written_dir


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("train", help="generate a network, train and evaluate it (the main job)")
    add_params_arguments(parser)
    add_training_arguments(parser)
    parser.add_argument("--val-fraction", type=float, default=0.1, help="training data held out for validation")
    parser.add_argument("--limit", type=int, default=None, help="use only this many training examples")
    parser.add_argument("--out", default=None, help="output directory (must be new or empty); "
                        "default: print the metrics only")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    params, seed = params_from_args(args)
    config = train_config_from_args(args, seed)
    set_threads(args.threads)  # recorded by the training loop as metrics["threads"]
    metrics = nago.train(params, seed, dataset=args.dataset, config=config, data_dir=args.data_dir,
                         val_fraction=args.val_fraction, cutout=args.cutout, limit=args.limit, out_dir=args.out)
    print(format_metrics(metrics))
    if args.out:
        print(f"wrote {written_dir(args.out)}/metrics.json, params.json, model.pt, spec.json, summary.txt, "
              "architecture.png")
    return 0 if metrics["status"] == "ok" else 1


def format_metrics(m: dict) -> str:
    def pct(v: float | None) -> str:
        return "n/a" if v is None else f"{100 * v:.2f}%"

    lines = [f"status            {m['status']}{' (' + m['reason'] + ')' if m.get('reason') else ''}",
             f"val accuracy      {pct(m.get('val_accuracy'))}",
             f"test accuracy     {pct(m.get('test_accuracy'))}",
             f"params            {m['cost_params']:,}",
             f"MACs              {m['cost_macs']:,} (thop) / {m['cost_macs_flop_counter']:,} (flop counter)",
             f"memory/sample     {m['cost_memory_mb_per_sample']:.4f} MB ({m['cost_memory_method']})",
             f"latency           {m['cost_latency_ms']:.2f} ms (batch 1)",
             f"train time        {m['train_time_s']:.1f} s for {m['epochs']:g} epochs "
             f"({m['samples_per_s']:.0f} samples/s, {m.get('threads', '?')} CPU thread(s))",
             f"spec hash         {m['spec_hash']}"]
    return "\n".join(lines)
