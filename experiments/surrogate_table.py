"""Table 1 of the NAGO paper at small scale: heteroscedastic against homoscedastic BNN surrogates, and the
pairwise Bayesian linear regression that MOBO uses on cell spaces (`search.mobo.linear`; on synthetic data
every column is its own coordinate: the columns and the products of every two of them).

For every objective, 10 random 80/20 splits of the evaluations; on each split every surrogate is fitted on the 80 %
and scored on the 20 % by the Gaussian negative log-likelihood (nats per point, predictive mean and total
variance) and the RMSE. The table shows the median over splits (and the interquartile range).

Input: a JSON-lines file of evaluations, one object per line::

    {"x": [0.12, 0.5, ...], "objectives": {"error": 0.23, "memory": 1.8}}

(``x`` may also be called ``config_vector``; ``objectives`` may also be ``y``, either a mapping or a list in the
order of ``--objectives``). ``--nb201 [TABLE]`` draws ``--n`` (default 150, the paper's Table 1 size) random
cells of the NAS-Bench-201 CIFAR-10 table instead (default ``../shared/data/nb201/nb201_cifar10.csv``), looked up
through the search's tabular evaluator: x is the one-hot encoding of the cell's six edge operations, the
objective its validation error (harder than digits, and a real benchmark's noise: the error of poor cells
varies far more than that of good ones). Without either, the script generates evaluations of a synthetic
two-objective function with input-dependent noise (``--write-synthetic`` saves them in the format above).

Values are modelled, and NLL/RMSE reported, in each objective's modelling units: the log of the raw value
for the built-in objectives declared with ``transform="log"`` (memory, latency, params, MACs) when
``--transform auto`` (the default), raw values with ``--transform none``.

    uv run python experiments/surrogate_table.py                      # synthetic data
    uv run python experiments/surrogate_table.py --data runs/evals.jsonl --objectives error memory
    uv run python experiments/surrogate_table.py --nb201 --splits 5     # 150 NB201 CIFAR-10 cells
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from search.objectives import OBJECTIVES
from search.mobo.linear import PairwiseBLR, one_hot_groups
from search.mobo.surrogates import HeteroscedasticBNN, HomoscedasticBNN, gaussian_nll, rmse

SURROGATES = ("heteroscedastic", "homoscedastic", "blr")


def make_surrogate(name: str, seed: int, bnn_kwargs: dict, groups: np.ndarray | None) -> Any:
    """A fresh surrogate: one of the BNNs, or the pairwise BLR (MOBO's default on cells) with the input's
    coordinate groups (None: every column its own coordinate: the columns and the products of every two)."""
    if name == "blr":
        return PairwiseBLR(groups, seed=seed)
    return {"heteroscedastic": HeteroscedasticBNN, "homoscedastic": HomoscedasticBNN}[name](seed=seed, **bnn_kwargs)
NB201_TABLE = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "nb201" / "nb201_cifar10.csv"


# --------------------------------------------------------------------------------------------------- data


def synthetic_evaluations(n: int = 150, dim: int = 4, seed: int = 0) -> list[dict[str, Any]]:
    """Evaluations of a smooth two-objective function on [0, 1]^dim whose noise depends on the input.

    "error": a bumpy error surface, noise std 0.005 + 0.08 * x0^2 (noisy where x0 is large);
    "memory": exp of a smooth function, multiplicative noise whose std grows with x1.
    """
    rng = np.random.default_rng(seed)
    X = rng.random((n, dim))
    err = 0.3 + 0.15 * np.sin(5.0 * X[:, 0]) * np.cos(3.0 * X[:, 1]) + 0.1 * X[:, 2:].mean(axis=1)
    err = err + (0.005 + 0.08 * X[:, 0] ** 2) * rng.normal(size=n)
    log_mem = 0.5 + 1.5 * X[:, 1] + 0.5 * X[:, 2:].sum(axis=1) / max(dim - 2, 1)
    mem = np.exp(log_mem + (0.02 + 0.3 * X[:, 1] ** 2) * rng.normal(size=n))
    return [{"x": X[i].tolist(), "objectives": {"error": float(err[i]), "memory": float(mem[i])}}
            for i in range(n)]


def nb201_evaluations(table: str | Path = NB201_TABLE, n: int = 150, seed: int = 0) -> list[dict[str, Any]]:
    """`n` distinct random NB201 cells looked up in `table` by the tabular evaluator: x = one-hot of the six
    edge operations, objective "error" (1 - validation accuracy)."""
    from search.evaluators.tabular import TabularEvaluator

    evaluator = TabularEvaluator("nb201", table)
    space = evaluator.space
    rng = np.random.default_rng(seed)
    records: dict[str, dict[str, Any]] = {}
    while len(records) < n:
        point = space.sample(rng)
        key = space.hash(point)
        if key in records:
            continue
        result = evaluator.evaluate(space.to_config(point), 1.0, 0)
        if result.status != "ok":
            raise ValueError(f"{table}: cell {space.to_config(point)} failed ({result.error})")
        onehot = [float(v == j) for v, k in zip(space.to_vector(point), space.vector_kinds) for j in range(k)]
        records[key] = {"x": onehot, "objectives": {"error": float(result.metrics["error"])}}
    return list(records.values())


def load_evaluations(path: str | Path) -> list[dict[str, Any]]:
    records = []
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            line = line.strip()
            if not line:
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
    if not records:
        raise ValueError(f"{path}: no evaluations")
    return records


def to_arrays(records: Sequence[dict[str, Any]], objectives: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """(X (N, d), Y (N, M)) from evaluation records; NaN where a value is missing or not finite."""
    X, Y = [], []
    for i, r in enumerate(records):
        x = r.get("x", r.get("config_vector"))
        y = r.get("objectives", r.get("y"))
        if x is None or y is None:
            raise ValueError(f"evaluation {i}: needs 'x' (or 'config_vector') and 'objectives' (or 'y')")
        if isinstance(y, dict):
            row = [y.get(name) for name in objectives]
        else:
            if len(y) != len(objectives):
                raise ValueError(f"evaluation {i}: {len(y)} values for {len(objectives)} objectives")
            row = list(y)
        X.append([float(v) for v in x])
        Y.append([float(v) if v is not None else math.nan for v in row])
    X_arr = np.asarray(X, dtype=np.float64)
    if X_arr.ndim != 2:
        raise ValueError("all config vectors must have the same length")
    Y_arr = np.asarray(Y, dtype=np.float64)
    Y_arr[~np.isfinite(Y_arr)] = np.nan
    return X_arr, Y_arr


def modelling_units(name: str, values: np.ndarray, transform: str) -> np.ndarray:
    if transform == "auto" and name in OBJECTIVES:
        return OBJECTIVES[name].forward(values)
    return np.asarray(values, dtype=np.float64)


# --------------------------------------------------------------------------------------------------- table


def surrogate_table(X: np.ndarray, Y: np.ndarray, objectives: Sequence[str], *, splits: int = 10,
                    test_fraction: float = 0.2, seed: int = 0, transform: str = "auto",
                    bnn_kwargs: dict | None = None, groups: np.ndarray | None = None,
                    progress: bool = False) -> list[dict[str, Any]]:
    """One row per (objective, surrogate) with median/quartiles of NLL and RMSE over random splits."""
    bnn_kwargs = dict(bnn_kwargs or {})
    rows = []
    for k, name in enumerate(objectives):
        y = modelling_units(name, Y[:, k], transform)
        ok = np.isfinite(y)
        Xk, yk = X[ok], y[ok]
        n = Xk.shape[0]
        n_test = max(1, int(round(test_fraction * n)))
        if n - n_test < 2:
            raise ValueError(f"objective {name!r}: only {n} finite evaluations, too few to split")
        scores: dict[str, dict[str, list[float]]] = {s: {"nll": [], "rmse": [], "fit_s": []} for s in SURROGATES}
        for split in range(splits):
            perm = np.random.default_rng([seed, split]).permutation(n)
            test, train = perm[:n_test], perm[n_test:]
            for sname in SURROGATES:
                model = make_surrogate(sname, seed * 1000 + split, bnn_kwargs, groups).fit(Xk[train], yk[train])
                mean, var = model.predict(Xk[test])
                scores[sname]["nll"].append(gaussian_nll(yk[test], mean, var))
                scores[sname]["rmse"].append(rmse(yk[test], mean))
                scores[sname]["fit_s"].append(model.fit_time_s)
            if progress:
                print(f"  {name}: split {split + 1}/{splits} done", file=sys.stderr, flush=True)
        for sname, s in scores.items():
            nll, err = np.asarray(s["nll"]), np.asarray(s["rmse"])
            rows.append({
                "objective": name, "surrogate": sname, "n": int(n), "n_test": int(n_test), "splits": splits,
                "units": "log" if (transform == "auto" and name in OBJECTIVES
                                   and OBJECTIVES[name].transform == "log") else "raw",
                "nll_median": float(np.median(nll)), "nll_q25": float(np.percentile(nll, 25)),
                "nll_q75": float(np.percentile(nll, 75)),
                "rmse_median": float(np.median(err)), "rmse_q25": float(np.percentile(err, 25)),
                "rmse_q75": float(np.percentile(err, 75)),
                "fit_s_median": float(np.median(s["fit_s"])),
                "nll": nll.tolist(), "rmse": err.tolist(),
            })
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| objective | units | surrogate | NLL median [IQR] | RMSE median [IQR] | n (test) |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['objective']} | {r['units']} | {r['surrogate']} "
            f"| {r['nll_median']:.3f} [{r['nll_q25']:.3f}, {r['nll_q75']:.3f}] "
            f"| {r['rmse_median']:.4f} [{r['rmse_q25']:.4f}, {r['rmse_q75']:.4f}] | {r['n']} ({r['n_test']}) |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", help="JSON-lines evaluations file (default: generate synthetic data)")
    ap.add_argument("--nb201", nargs="?", const=str(NB201_TABLE), default=None, metavar="TABLE",
                    help=f"random cells of an NB201 table (default table: {NB201_TABLE})")
    ap.add_argument("--n", type=int, default=150, help="cells drawn with --nb201 (default 150)")
    ap.add_argument("--objectives", nargs="+", default=None,
                    help="objective names, in file order when values are lists (default: error memory)")
    ap.add_argument("--splits", type=int, default=10)
    ap.add_argument("--test-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--transform", choices=["auto", "none"], default="auto")
    ap.add_argument("--num-steps", type=int, default=2000, help="SGHMC steps including burn-in")
    ap.add_argument("--burn-in", type=int, default=1000)
    ap.add_argument("--keep-every", type=int, default=20)
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--batch-size", type=int, default=20)
    ap.add_argument("--mdecay", type=float, default=0.05)
    ap.add_argument("--synthetic-n", type=int, default=150)
    ap.add_argument("--synthetic-dim", type=int, default=4)
    ap.add_argument("--write-synthetic", help="save the generated synthetic evaluations to this JSON-lines file")
    ap.add_argument("--out", help="write the rows (with per-split scores) as JSON to this file")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)

    from search.spaces import make_space

    objectives = args.objectives or (["error"] if args.nb201 else ["error", "memory"])
    try:
        if args.data and args.nb201:
            raise ValueError("--data and --nb201: give one source of evaluations")
        if args.nb201:
            records = nb201_evaluations(args.nb201, args.n, args.seed)
            source = f"NB201 {Path(args.nb201).name} ({args.n} random cells, seed {args.seed})"
        elif args.data:
            records = load_evaluations(args.data)
            source = args.data
        else:
            records = synthetic_evaluations(args.synthetic_n, args.synthetic_dim, args.seed)
            source = f"synthetic (n={args.synthetic_n}, dim={args.synthetic_dim}, seed={args.seed})"
            if args.write_synthetic:
                with open(args.write_synthetic, "w") as fh:
                    fh.writelines(json.dumps(r) + "\n" for r in records)
        X, Y = to_arrays(records, objectives)
        start = time.perf_counter()
        rows = surrogate_table(
            X, Y, objectives, splits=args.splits, test_fraction=args.test_fraction, seed=args.seed,
            transform=args.transform, progress=not args.quiet,
            groups=one_hot_groups(make_space("nb201").vector_kinds) if args.nb201 else None,
            bnn_kwargs=dict(num_steps=args.num_steps, num_burn_in_steps=args.burn_in, keep_every=args.keep_every,
                            lr=args.lr, batch_size=args.batch_size, mdecay=args.mdecay))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Data: {source}; {args.splits} random {1 - args.test_fraction:.0%}/{args.test_fraction:.0%} splits; "
          f"SGHMC {args.num_steps} steps ({args.burn_in} burn-in, keep every {args.keep_every}); "
          f"{time.perf_counter() - start:.1f} s")
    print(format_table(rows))
    if args.out:
        with open(args.out, "w") as fh:
            json.dump({"source": source, "objectives": objectives, "rows": rows}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
