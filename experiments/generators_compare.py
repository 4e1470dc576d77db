"""HNAG against RNAG against RNAG-D at equal parameters (NAGO paper, Table 4's protocol) at a CPU's scale.

    uv run python experiments/generators_compare.py                                  # the presets
    uv run python experiments/generators_compare.py --from-run runs/hnag-bohb --from-run runs/rnag-bohb

Three generators, each judged as the paper judges a generator: K networks sampled from it (architecture seeds
0 .. K - 1), each trained and tested; the table gives the mean and std over the K networks of test accuracy,
validation accuracy, parameters and training memory per sample. Every network has the same parameter budget.

- HNAG: the best configuration of a BOHB run over an hnag space (`--from-run DIR`: the lowest validation error
  at the run's largest budget, read from its log via `search.reports`), else the hnag space's default
  configuration (`GeneratorParams()`'s values: 6 cells, 3-node middle graphs, 5-node bottom graphs);
- RNAG: the best configuration of a BOHB run over the rnag space, else the rnag space's default configuration
  (the rnag-cifar preset: three WS(16, 4, 0.75) stages);
- RNAG-D: RandWire's recommended setting, WS(N=32, K=4, P=0.75) in every stage (the paper's "small regime"
  graphs), with the rnag-cifar stem and head for small inputs.

A run directory's space decides which row it replaces (hnag, hnag-ops, ... -> HNAG; rnag -> RNAG); its fixed
space options are kept and its parameter budget is replaced by this script's, so all rows stay equal in size.

Differences from the paper: digits instead of CIFAR-10/100 and the large-image sets, a few epochs instead of
full training, a 50,000-parameter budget, K = 3 (the paper: 8); without `--from-run` no search is involved,
and then the RNAG row (N = 16) differs from RNAG-D only in the node count.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from expressiveness import sample_networks, spread  # noqa: E402

TRAIN_OPTIONS = {"batch_size": 32, "lr": 0.05, "augment": False}
RNAG_D = {**{f"n_{i}": 32 for i in range(3)}, **{f"k_{i}": 4 for i in range(3)}, **{f"p_{i}": 0.75 for i in range(3)}}


def best_config(run_dir: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(space name, space options, configuration) of the lowest validation error at a run's largest budget."""
    from search.reports.run import load_run, metric

    run = load_run(run_dir)
    rows = [r for rs in run.results.values() for r in rs if r["status"] == "ok" and run.at_max_budget(r)
            and metric(r, "error") is not None]
    if not rows:
        raise ValueError(f"from-run: {run_dir} holds no successful evaluation at its largest budget")
    best = min(rows, key=lambda r: metric(r, "error"))
    context = run.settings.get("space_context") or {}
    return str(run.settings["space"]), dict(context.get("options") or run.settings.get("space_options") or {}), \
        dict(best["config"])


def generators(runs: Sequence[str]) -> dict[str, tuple[str, dict[str, Any], dict[str, Any] | None, str]]:
    """Row name -> (space, space options, configuration or None for the space's default, where it came from)."""
    rows: dict[str, tuple[str, dict[str, Any], dict[str, Any] | None, str]] = {
        "HNAG": ("hnag", {}, None, "hnag space default"),
        "RNAG": ("rnag", {}, None, "rnag space default (rnag-cifar)"),
        "RNAG-D": ("rnag", {}, RNAG_D, "RandWire WS(32, 4, 0.75)"),
    }
    for run_dir in runs:
        space, options, config = best_config(run_dir)
        row = "RNAG" if space == "rnag" else "HNAG" if space.startswith("hnag") else None
        if row is None:
            raise ValueError(f"from-run: {run_dir} searched space {space}; need an hnag or rnag space")
        rows[row] = (space, options, config, f"best of {run_dir}")
    return rows


def compare(runs: Sequence[str], *, dataset: str, budget: int, networks: int, epochs: float,
            progress: bool = True) -> list[dict[str, Any]]:
    """Train `networks` networks of each generator at `budget` parameters; one row of spreads per generator."""
    from search.evaluators.training import TrainingEvaluator
    from search.spaces import make_space, to_builtin

    out = []
    for name, (space_name, options, config, source) in generators(runs).items():
        space = make_space(space_name, {**options, "param_budget": budget})
        if config is None:
            config = to_builtin(dict(space.search_space.space.get_default_configuration()))
        evaluator = TrainingEvaluator(space, dataset, train_overrides=TRAIN_OPTIONS, device="cpu",
                                      fixed_architecture=True)
        nets = [n for n in sample_networks(evaluator, config, networks, epochs, name if progress else "")
                if n["status"] == "ok"]
        if not nets:
            raise ValueError(f"{name}: every network failed to train")
        out.append({"generator": name, "source": source, "config": config, "n": len(nets),
                    **{k: spread([f(n) for n in nets]) for k, f in (
                        ("test_accuracy", lambda n: 1 - n["test_error"]), ("val_accuracy", lambda n: 1 - n["error"]),
                        ("params", lambda n: n["params"]), ("memory", lambda n: n["memory"]))}})
    return out


def format_table(rows: Sequence[Mapping[str, Any]]) -> str:
    lines = ["| generator | from | networks | test accuracy | validation accuracy | params | memory MiB/sample |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = {k: f"{r[k]['mean']:.3f} +- {r[k]['std']:.3f}" for k in ("test_accuracy", "val_accuracy")}
        lines.append(f"| {r['generator']} | {r['source']} | {r['n']} | {ms['test_accuracy']} | {ms['val_accuracy']} "
                     f"| {r['params']['mean']:,.0f} | {r['memory']['mean']:.4f} +- {r['memory']['std']:.4f} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from-run", action="append", default=[], metavar="DIR",
                    help="a BOHB run over an hnag or rnag space; its best configuration replaces that row's preset")
    ap.add_argument("--networks", type=int, default=3, help="networks sampled per generator, K (default 3)")
    ap.add_argument("--epochs", type=float, default=2.0, help="training epochs per network (default 2)")
    ap.add_argument("--param-budget", type=int, default=50_000, help="parameters of every network")
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--json", help="write the rows to this file")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    try:
        rows = compare(args.from_run, dataset=args.dataset, budget=args.param_budget, networks=args.networks,
                       epochs=args.epochs, progress=not args.quiet)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{args.networks} networks per generator, {args.dataset}, {args.epochs:g} epoch(s), "
          f"{args.param_budget:,} parameters; {time.perf_counter() - start:.0f} s")
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
