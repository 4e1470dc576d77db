"""Predictor study in the format of BONAS's Table 1: rank and linear correlation between predicted and true
validation accuracy, for the GCN (BONAS) and the MLP ensemble on path encodings (BANANAS), at several sizes of
the training set.

Training architectures are drawn uniformly from the table; the test set is a disjoint uniform sample (NB201:
2,000 architectures; NB101's 500-cell table: the rest of it). Each cell of the tables is the mean over
--repeats draws of Kendall tau / Spearman rho / Pearson r.

    uv run python experiments/predictor_study.py                 # NB201 (and NB101 if its table is there)
    uv run python experiments/predictor_study.py --sizes 50 100 --repeats 3
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from search.evaluators.tables import load_table  # noqa: E402
from search.spaces import make_space  # noqa: E402
from search.strategies.predictors import GCN, GCNBLR, MLPEnsemble, correlations  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def predictors(space_name: str):
    """name -> (input kind, factory(seed))."""
    out = {
        "MLP ensemble, path (BANANAS)": ("path", lambda s: MLPEnsemble(seed=s)),
        "MLP ensemble, truncated path": ("path_trunc", lambda s: MLPEnsemble(seed=s)),
        "MLP ensemble, adjacency one-hot": ("adjacency", lambda s: MLPEnsemble(seed=s)),
        "GCN (BONAS, exp-weighted loss)": ("gcn", lambda s: GCN(seed=s, clip_quantile=0.1)),
        "GCN + BLR (BONAS surrogate)": ("gcn+blr", lambda s: GCNBLR(GCN(seed=s, clip_quantile=0.1))),
    }
    if space_name == "nb201":
        out = {"MLP ensemble, contracted path (ours)": ("path_contracted", lambda s: MLPEnsemble(seed=s)), **out}
    return out


def evaluate(space, table, sizes, repeats, test_size):
    n = len(table)
    results: dict[str, dict[int, list[dict]]] = {}
    times: dict[str, list[float]] = {}
    feats: dict[str, np.ndarray] = {}
    graphs = [space.gcn_graph(c) for c in table.cells]
    for name, (kind, make) in predictors(space.name).items():
        results[name] = {}
        for size in sizes:
            runs = []
            for r in range(repeats):
                rng = np.random.default_rng(1000 * r + size)
                perm = rng.permutation(n)
                tr, te = perm[:size], perm[size:size + test_size]
                if len(te) < 10:
                    continue
                y = table.val
                t0 = time.time()
                model = make(r)
                if kind in ("gcn", "gcn+blr"):
                    g_tr, g_te = [graphs[i] for i in tr], [graphs[i] for i in te]
                    if kind == "gcn":
                        pred = model.fit(g_tr, y[tr]).predict(g_te)[0]
                    else:
                        pred = model.fit_embedding(g_tr, y[tr]).fit(g_tr, y[tr]).predict(g_te)[0]
                else:
                    if kind not in feats:
                        feats[kind] = np.stack([space.encode(c, kind) for c in table.cells])
                    X = feats[kind]
                    pred = model.fit(X[tr], y[tr]).predict(X[te])[0]
                times.setdefault(name, []).append(time.time() - t0)
                runs.append(correlations(pred, y[te]))
            results[name][size] = runs
        print(f"  {name}: done ({np.mean(times.get(name, [0])):.2f} s per fit)", flush=True)
    return results, times


def table_md(results, sizes, title) -> str:
    lines = [f"### {title}", "", "Kendall tau / Spearman rho / Pearson r (mean over repeats)", "",
             "| predictor | " + " | ".join(f"n={s}" for s in sizes) + " |",
             "|---|" + "---|" * len(sizes)]
    for name, by_size in results.items():
        cells = []
        for s in sizes:
            runs = by_size.get(s, [])
            if not runs:
                cells.append("-")
                continue
            m = {k: np.mean([r[k] for r in runs]) for k in ("kendall", "spearman", "pearson")}
            cells.append(f"{m['kendall']:.3f} / {m['spearman']:.3f} / {m['pearson']:.3f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nb201", default=str(DATA / "nb201" / "nb201_cifar10.csv"))
    ap.add_argument("--nb101", default=str(DATA / "nb101" / "nb101_500.json"))
    ap.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200, 500])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=None, help="also write the tables to this Markdown file")
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    start = time.time()
    parts = []
    for name, path, test_size in (("nb201", args.nb201, 2000), ("nb101", args.nb101, 10_000)):
        if not Path(path).is_file():
            print(f"{name}: table not found at {path}, skipped", flush=True)
            continue
        space = make_space(name).cells  # the cell space itself: encodings and GCN graphs
        table = load_table(path, space)
        sizes = [s for s in args.sizes if s < len(table) - 10]
        print(f"{name}: {table.summary()}", flush=True)
        results, _ = evaluate(space, table, sizes, args.repeats,
                              test_size if name == "nb201" else len(table))
        md = table_md(results, sizes, f"{name.upper()}: {len(table)} architectures, test set "
                                      f"{min(test_size, len(table) - max(sizes))}+ held out")
        print("\n" + md + "\n", flush=True)
        parts.append(md)
    print(f"total {time.time() - start:.0f} s")
    if args.out:
        Path(args.out).write_text("# Predictor study\n\n" + "\n\n".join(parts) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
