"""Rank correlation between budgets (the NAGO paper's Fig. 5b and Appendix I), at a scale a CPU allows.

    uv run python experiments/rank_correlation.py                         # 12 configurations, 1/2/4 epochs
    uv run python experiments/rank_correlation.py --configs 20 --budgets 1,3,9 --json out.json

Random HNAG generator configurations (a narrowed hnag space: small graphs, 20,000 parameters) are trained on
digits at every budget through the search's own training evaluator, under two rules for the network a job
trains:

- `resampled` (the default of `nago search`, and the paper's protocol): each (configuration, budget) samples its
  own network from the generator (`search.evaluators.training.architecture_seed`), so a low budget must predict
  how *another* network of the same generator does at the high budget;
- `fixed` (`--fixed-architecture`): one network per configuration, trained from scratch at every budget.

For every pair of budgets it prints Spearman's rho between the validation errors of the configurations (as
the report's budget correlation section computes it) and the mean validation error per budget. Differences
from the paper: digits instead of CIFAR-10, 1/2/4 epochs instead of 30/60/120 (eta = 2 as in Appendix I),
narrowed graph sizes, and no augmentation (`augment=False`, batch 32, lr 0.05) so that one epoch already
separates configurations; a dozen configurations give a rho with a wide interval (about +-0.3 at 95 %).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

SPACE_OPTIONS = {"param_budget": 20_000, "top_n": [3, 6], "mid_n": [1, 2], "bottom_n": [3, 6]}
TRAIN_OPTIONS = {"batch_size": 32, "lr": 0.05, "augment": False}
RULES = ("resampled", "fixed")


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rho, None when either side is constant."""
    from scipy import stats

    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return float(stats.spearmanr(x, y).statistic)


def measure(configs: int, budgets: list[float], seed: int, rules: list[str]) -> dict[str, Any]:
    """Train every configuration at every budget under every rule; returns the errors and the correlations."""
    import torch

    from search.evaluators.training import TrainingEvaluator
    from search.spaces import make_space

    torch.set_num_threads(1)
    space = make_space("hnag", SPACE_OPTIONS)
    rng = np.random.default_rng(seed)
    points = [space.to_config(space.sample(rng)) for _ in range(configs)]
    out: dict[str, Any] = {"configs": points, "budgets": budgets, "seed": seed, "rules": {}}
    for rule in rules:
        ev = TrainingEvaluator(space, "digits", train_overrides=TRAIN_OPTIONS, device="cpu",
                               fixed_architecture=rule == "fixed")
        errors: dict[float, list[float | None]] = {b: [] for b in budgets}
        seeds: dict[float, list[int | None]] = {b: [] for b in budgets}
        t0 = time.perf_counter()
        for i, config in enumerate(points):
            for b in budgets:
                e = ev.evaluate(config, b, seed)
                errors[b].append(e.metrics["error"] if e.status == "ok" else None)
                seeds[b].append(e.info.get("architecture_seed"))
            print(f"  {rule}: configuration {i + 1}/{configs} done ({time.perf_counter() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
        pairs = []
        for lo, hi in combinations(budgets, 2):
            ok = [i for i in range(configs) if errors[lo][i] is not None and errors[hi][i] is not None]
            pairs.append({"budgets": [lo, hi], "n": len(ok),
                          "spearman": spearman([errors[lo][i] for i in ok], [errors[hi][i] for i in ok])})
        out["rules"][rule] = {"errors": errors, "architecture_seeds": seeds, "pairs": pairs,
                              "wall_s": time.perf_counter() - t0}
    return out


def markdown(result: dict[str, Any]) -> str:
    """The tables: Spearman rho per pair of budgets and rule, mean validation error per budget and rule."""
    rules = list(result["rules"])
    budgets = result["budgets"]
    n = len(result["configs"])
    lines = [f"{n} random HNAG configurations on digits, run seed {result['seed']}; Spearman rho of the "
             "validation error between budgets (epochs).", "",
             "| budgets | " + " | ".join(rules) + " |", "|---|" + "---|" * len(rules)]
    for k, pair in enumerate(result["rules"][rules[0]]["pairs"]):
        cells = []
        for rule in rules:
            p = result["rules"][rule]["pairs"][k]
            cells.append("-" if p["spearman"] is None else f"{p['spearman']:.2f} (n = {p['n']})")
        lines.append(f"| {pair['budgets'][0]:g} vs {pair['budgets'][1]:g} | " + " | ".join(cells) + " |")
    lines += ["", "| budget | " + " | ".join(f"mean error, {r}" for r in rules) + " |",
              "|---|" + "---|" * len(rules)]
    for b in budgets:
        cells = []
        for rule in rules:
            vals = [v for v in result["rules"][rule]["errors"][b] if v is not None]
            cells.append(f"{np.mean(vals):.3f} ± {np.std(vals):.3f}" if vals else "-")
        lines.append(f"| {b:g} | " + " | ".join(cells) + " |")
    walls = ", ".join(f"{r} {result['rules'][r]['wall_s']:.0f} s" for r in rules)
    return "\n".join(lines + ["", f"Wall time: {walls}."])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=12, help="random generator configurations (default 12)")
    parser.add_argument("--budgets", default="1,2,4", help="comma-separated epochs (default 1,2,4)")
    parser.add_argument("--seed", type=int, default=0, help="run seed: configurations and networks (default 0)")
    parser.add_argument("--rules", default=",".join(RULES), help=f"comma-separated: {', '.join(RULES)}")
    parser.add_argument("--json", default=None, help="also write every number to this JSON file")
    args = parser.parse_args(argv)
    try:
        budgets = [float(b) for b in args.budgets.split(",") if b.strip()]
    except ValueError:
        parser.error(f"--budgets: comma-separated numbers of epochs, got {args.budgets!r}")
    if len(budgets) < 2 or any(b <= 0 for b in budgets) or len(set(budgets)) != len(budgets):
        parser.error(f"--budgets: at least two distinct numbers of epochs > 0, got {args.budgets!r}")
    rules = [r.strip() for r in args.rules.split(",") if r.strip()]
    if not rules or any(r not in RULES for r in rules):
        parser.error(f"--rules: one or more of {', '.join(RULES)}, got {args.rules!r}")
    if args.configs < 3:
        parser.error(f"--configs: must be an integer >= 3, got {args.configs}")
    result = measure(args.configs, sorted(budgets), args.seed, rules)
    print(markdown(result))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
