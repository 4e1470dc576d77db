"""The expressiveness study (NAGO paper, Fig. 2 and Appendix G) at a scale a CPU allows.

    uv run python experiments/expressiveness.py                             # 4 generators x 3 networks, 1 epoch
    uv run python experiments/expressiveness.py --generators 8 --networks 5 --epochs 3 --json out.json

Random HNAG generator hyperparameters (the hnag space, narrowed to small graphs) are drawn; each generator
samples several networks (architecture seeds 0, 1, ...), all at one parameter budget, and every network is
trained on digits through the search's own training evaluator (`fixed_architecture=True`, so the job seed is
the architecture seed). The paper's claim: networks of one generator perform alike, while different generators
differ; so the spread of validation accuracy and of training memory per sample within a generator (std and
range over its networks) should be small against the spread across generators (std and range of the
generators' means). The table gives one row per generator and two summary rows.

Differences from the paper: digits (8x8) instead of CIFAR-10 and the large-image data sets, 1 epoch instead of
full training, a 20,000-parameter budget, top and bottom graphs of 3 to 6 nodes and middle graphs of 1 or 2,
no augmentation; a handful of generators and networks, so the spreads are rough.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, Mapping, Sequence

import numpy as np

SPACE_OPTIONS = {"param_budget": 20_000, "top_n": [3, 6], "mid_n": [1, 2], "bottom_n": [3, 6]}
TRAIN_OPTIONS = {"batch_size": 32, "lr": 0.05, "augment": False}


def sample_networks(evaluator: Any, config: Mapping[str, Any], networks: int, epochs: float,
                    progress: str = "") -> list[dict[str, Any]]:
    """Train `networks` networks of one generator configuration (architecture seeds 0 .. networks - 1) with a
    training evaluator built with `fixed_architecture=True`; the metrics of each (failed ones included, with
    their error)."""
    out = []
    for seed in range(networks):
        e = evaluator.evaluate(dict(config), epochs, seed)
        if progress:
            what = f"error {e.metrics['error']:.3f}" if e.status == "ok" else f"{e.status}: {e.error}"
            print(f"  {progress} network {seed}: {what}", file=sys.stderr, flush=True)
        out.append({"seed": seed, "status": e.status, "error": e.error, **(e.metrics or {})})
    return out


def spread(values: Sequence[float]) -> dict[str, float]:
    """mean, std (population) and range of a list of numbers."""
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std()), "range": float(v.max() - v.min())}


def summarise(generators: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Per generator: spread of accuracy (1 - error) and memory over its networks; across generators: the
    spread of the generators' means, and the mean within-generator spread."""
    rows = []
    for g in generators:
        ok = [n for n in g["networks"] if n["status"] == "ok"]
        if not ok:
            continue
        rows.append({"generator": g["index"], "config": g["config"], "n": len(ok),
                     "accuracy": spread([1 - n["error"] for n in ok]), "memory": spread([n["memory"] for n in ok]),
                     "params": spread([n["params"] for n in ok])})
    summary = {}
    for metric in ("accuracy", "memory"):
        means = [r[metric]["mean"] for r in rows]
        summary[metric] = {"within_std": float(np.mean([r[metric]["std"] for r in rows])),
                           "within_range": float(np.mean([r[metric]["range"] for r in rows])),
                           "across_std": float(np.std(means)),
                           "across_range": float(max(means) - min(means))}
    return {"rows": rows, "summary": summary}


def format_table(result: Mapping[str, Any]) -> str:
    lines = ["| generator | networks | accuracy mean | accuracy std | accuracy range | memory MiB/sample mean "
             "| memory std | memory range | params mean |", "|---|---|---|---|---|---|---|---|---|"]
    for r in result["rows"]:
        a, m = r["accuracy"], r["memory"]
        lines.append(f"| {r['generator']} | {r['n']} | {a['mean']:.3f} | {a['std']:.3f} | {a['range']:.3f} "
                     f"| {m['mean']:.4f} | {m['std']:.4f} | {m['range']:.4f} | {r['params']['mean']:,.0f} |")
    s = result["summary"]
    lines.append(f"| **within** (mean per generator) | | | {s['accuracy']['within_std']:.3f} "
                 f"| {s['accuracy']['within_range']:.3f} | | {s['memory']['within_std']:.4f} "
                 f"| {s['memory']['within_range']:.4f} | |")
    lines.append(f"| **across** (generator means) | | | {s['accuracy']['across_std']:.3f} "
                 f"| {s['accuracy']['across_range']:.3f} | | {s['memory']['across_std']:.4f} "
                 f"| {s['memory']['across_range']:.4f} | |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--generators", type=int, default=4, help="random generator configurations (default 4)")
    ap.add_argument("--networks", type=int, default=3, help="networks sampled per generator (default 3)")
    ap.add_argument("--epochs", type=float, default=1.0, help="training epochs per network (default 1)")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--seed", type=int, default=0, help="seed of the generator draws")
    ap.add_argument("--json", help="write the numbers to this file")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    if args.generators < 2 or args.networks < 2:
        print("error: --generators and --networks: must be at least 2 (a spread needs two values)", file=sys.stderr)
        return 2

    from search.evaluators.training import TrainingEvaluator
    from search.spaces import make_space

    space = make_space("hnag", SPACE_OPTIONS)
    evaluator = TrainingEvaluator(space, args.dataset, train_overrides=TRAIN_OPTIONS, device="cpu",
                                  fixed_architecture=True)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    generators = []
    for i in range(args.generators):
        config = space.to_config(space.sample(rng))
        generators.append({"index": i, "config": config,
                           "networks": sample_networks(evaluator, config, args.networks, args.epochs,
                                                       "" if args.quiet else f"generator {i}")})
    result = summarise(generators)
    print(f"{args.generators} random hnag generators x {args.networks} networks, {args.dataset}, {args.epochs:g} "
          f"epoch(s), {SPACE_OPTIONS['param_budget']:,} parameters; {time.perf_counter() - start:.0f} s")
    print(format_table(result))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"generators": generators, **result}, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
