"""Arguments shared by commands that take generator hyperparameters or training settings."""
from __future__ import annotations

import argparse

import hnag
import training
from nago.params_io import load_params, load_seed, parse_pairs

# Torch CPU threads of `nago train` unless --threads says otherwise. One thread: results do not depend on how
# many cores the machine has (see training.loop on thread counts), and on a loaded 2-core machine the main job
# took 73 s with 2 threads (torch's default there: all cores; OpenMP threads waiting for each other) against
# 17 s with one.
DEFAULT_THREADS = 1


def add_params_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("generator hyperparameters (preset, then --config, then --set)")
    group.add_argument("--preset", choices=sorted(hnag.PRESETS), default=None,
                       help="starting point (default: hnag-small, or rnag-cifar for a config with generator: rnag)")
    group.add_argument("--config", metavar="FILE", help="YAML or JSON file of hyperparameters (e.g. a "
                       "best_config.json exported by `nago report`; its seed is used unless --seed is given)")
    group.add_argument("--set", metavar="KEY=VALUE", action="append", dest="overrides",
                       help="override one hyperparameter, e.g. --set top_n=8 --set channel_ratios=[1,2,4] "
                            "--set param_budget=100000 (repeatable)")
    group.add_argument("--seed", type=int, default=None, help="architecture seed (default 0)")


def params_from_args(args: argparse.Namespace) -> tuple[hnag.GeneratorParams | hnag.RNAGParams, int]:
    """Hyperparameters and seed from --preset, --config, --set and --seed; one-line ValueErrors."""
    if args.seed is not None and args.seed < 0:
        raise ValueError(f"seed: must be an integer >= 0, got {args.seed}")
    params = load_params(args.config, preset=args.preset, overrides=parse_pairs(args.overrides, "--set"))
    seed = args.seed if args.seed is not None else load_seed(args.config, 0)
    return params, seed


def add_training_arguments(parser: argparse.ArgumentParser, epochs: float = 10) -> None:
    group = parser.add_argument_group("data and training")
    group.add_argument("--dataset", default="digits", help="digits (built in, default), cifar10, cifar100, mnist, "
                       "fashion-mnist, svhn, or imagefolder:PATH")
    group.add_argument("--data-dir", default=None, help="where datasets live (default ~/.cache/nago/data)")
    group.add_argument("--epochs", type=float, default=epochs, help=f"training epochs (default {epochs})")
    group.add_argument("--batch-size", type=int, default=64)
    group.add_argument("--lr", type=float, default=0.05)
    group.add_argument("--schedule", choices=training.loop.SCHEDULES, default="cosine")
    group.add_argument("--cutout", type=int, default=0, help="cutout size in pixels (0: off)")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    group.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                       help=f"torch CPU threads (default {DEFAULT_THREADS}: results that do not depend on the "
                            "machine's core count, and the fastest for small networks on a shared machine; more "
                            "threads help large networks on idle cores)")
    group.add_argument("--no-progress", action="store_true",
                       help="no progress output (a bar on a terminal, one line per epoch in a file or a pipe)")


def set_threads(threads: int) -> int:
    """Use `threads` torch CPU threads in this process (one-line ValueError below 1); returns it."""
    if threads < 1:
        raise ValueError(f"threads: must be an integer >= 1, got {threads}")
    import torch

    torch.set_num_threads(threads)
    return threads


def train_config_from_args(args: argparse.Namespace, seed: int) -> training.TrainConfig:
    return training.TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, schedule=args.schedule,
                                device=args.device, seed=seed, progress=not args.no_progress)
