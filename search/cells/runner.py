"""Run a cell-search strategy for many seeds, keep every query, and report.

`run_seeds(...)` runs one strategy for each seed (in worker processes if asked), writes each seed's trajectory
as JSON lines to ``<run_dir>/<strategy>/seed_<seed>.jsonl`` (one line per query: query number, architecture,
validation and test accuracy, running best validation accuracy and the test accuracy of the architecture with
that best validation accuracy) and returns the trajectories. `summarise` and `write_report` turn trajectories
into numbers, a Markdown summary (`report.md`) and a plot (`best_so_far.png`): best-so-far validation and test
accuracy against queries (mean and standard deviation over seeds), and, when the oracle is a table, the number
of queries until the architecture with the table's best validation accuracy was found.

The search sees validation accuracy only; test accuracy is recorded for the report (the test accuracy of the
best-by-validation architecture, as the NAS benchmarks are used).
"""
from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .strategies import STRATEGIES, make_searcher, run

__all__ = ["Trajectory", "run_seeds", "summarise", "write_report", "load_trajectories"]


@dataclass
class Trajectory:
    strategy: str
    seed: int
    records: list[dict] = field(default_factory=list)
    found_at: int | None = None      # query number (1-based) of the table's best-validation architecture
    wall_s: float = 0.0

    @property
    def val(self) -> np.ndarray:
        return np.array([r["val"] for r in self.records], dtype=np.float64)

    def best_val_curve(self) -> np.ndarray:
        return np.array([r["best_val"] for r in self.records], dtype=np.float64)

    def best_test_curve(self) -> np.ndarray:
        return np.array([np.nan if r["best_test"] is None else r["best_test"] for r in self.records],
                        dtype=np.float64)


# ------------------------------------------------------------------------------------------- running

_WORKER: dict[str, Any] = {}


def _one_seed(seed: int) -> Trajectory:
    w = _WORKER
    space, oracle, strategy = w["space"], w["oracle"], w["strategy"]
    best_key = w["best_key"]
    queries, max_queries = w["queries"], w["max_queries"]
    path = w["out_dir"] / f"seed_{seed}.jsonl" if w["out_dir"] is not None else None
    traj = Trajectory(strategy, seed)
    best_val, best_test = -math.inf, None
    t0 = time.time()
    fh = open(path, "w") if path is not None else None
    try:
        def stop(cell, ev) -> bool:
            nonlocal best_val, best_test
            n = len(traj.records) + 1
            key = space.hash(cell)
            if ev.val > best_val:
                best_val, best_test = ev.val, ev.test
            rec = {"query": n, "arch": space.to_str(cell), "val": ev.val, "test": ev.test,
                   "best_val": best_val, "best_test": best_test, "cost_s": round(ev.cost_s, 4)}
            if ev.info:
                rec["info"] = ev.info
            traj.records.append(rec)
            if fh is not None:
                fh.write(json.dumps(rec) + "\n")
                fh.flush()
            if best_key is not None and key == best_key and traj.found_at is None:
                traj.found_at = n
            if n < queries:
                return False
            return not w["until_best"] or traj.found_at is not None or n >= max_queries

        run(strategy, space, oracle, queries=max(queries, max_queries), seed=seed, stop=stop, **w["params"])
    finally:
        if fh is not None:
            fh.close()
    traj.wall_s = time.time() - t0
    return traj


def run_seeds(strategy: str, space, oracle, *, seeds, queries: int = 150, run_dir: str | os.PathLike | None = None,
              params: dict | None = None, until_best: bool = False, max_queries: int | None = None,
              workers: int = 1, best_key: str | None = None,
              progress: Callable[[Trajectory], None] | None = None) -> list[Trajectory]:
    """Run `strategy` once per seed.

    Every run makes `queries` queries; with `until_best` (table oracles) it goes on until the table's
    best-validation architecture (`best_key`, default the oracle table's) is found or `max_queries` is reached.
    `workers` > 1 runs seeds in forked processes (the table is shared, not copied per seed).
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    if queries < 1:
        raise ValueError(f"queries must be >= 1, got {queries}")
    make_searcher(strategy, space, 0, **(params or {}))  # validates the parameters before any work
    table = getattr(oracle, "table", None)
    if best_key is None and table is not None:
        best_key = table.best_val_key
    if until_best and best_key is None:
        raise ValueError("until_best needs a table oracle (the best architecture must be known)")
    limit = int(queries)
    if until_best:
        limit = max(limit, int(max_queries or space.size or queries))
    out_dir = None
    if run_dir is not None:
        out_dir = Path(run_dir) / strategy
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "config.json").write_text(json.dumps({
            "strategy": strategy, "space": space.name, "seeds": seeds, "queries": queries,
            "until_best": until_best, "max_queries": limit, "params": params or {},
            "oracle": type(oracle).__name__, "table": getattr(table, "path", None),
        }, indent=2, default=str))
    _WORKER.update(space=space, oracle=oracle, strategy=strategy, params=dict(params or {}), queries=int(queries),
                   max_queries=limit, until_best=until_best, best_key=best_key, out_dir=out_dir)
    results: list[Trajectory] = []
    if workers > 1 and len(seeds) > 1:
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        with ctx.Pool(min(workers, len(seeds)), initializer=_quiet_worker) as pool:
            for traj in pool.imap(_one_seed, seeds):
                results.append(traj)
                if progress:
                    progress(traj)
    else:
        for s in seeds:
            traj = _one_seed(s)
            results.append(traj)
            if progress:
                progress(traj)
    return results


def _quiet_worker() -> None:
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass


def load_trajectories(run_dir: str | os.PathLike, strategy: str) -> list[Trajectory]:
    """Read back the JSON lines a `run_seeds` call wrote."""
    d = Path(run_dir) / strategy
    out = []
    for p in sorted(d.glob("seed_*.jsonl"), key=lambda q: int(q.stem.split("_")[1])):
        recs = [json.loads(line) for line in p.read_text().splitlines() if line.strip()]
        out.append(Trajectory(strategy, int(p.stem.split("_")[1]), recs))
    return out


# ------------------------------------------------------------------------------------------- reporting

def _curves(trajs: list[Trajectory], horizon: int, which: str) -> np.ndarray:
    """(seeds, horizon) best-so-far curves, each held at its last value past its end."""
    rows = []
    for t in trajs:
        c = t.best_val_curve() if which == "val" else t.best_test_curve()
        c = c[:horizon]
        if len(c) == 0:
            c = np.full(horizon, np.nan)
        elif len(c) < horizon:
            c = np.concatenate([c, np.full(horizon - len(c), c[-1])])
        rows.append(c)
    return np.vstack(rows)


def summarise(trajs: list[Trajectory], checkpoints=(50, 100, 150)) -> dict:
    """Numbers for one strategy: queries to the best-validation architecture, and best-by-validation
    validation/test accuracy at the checkpoints (mean and standard deviation over seeds)."""
    found = [t.found_at for t in trajs]
    known = [f for f in found if f is not None]
    out: dict[str, Any] = {"strategy": trajs[0].strategy if trajs else "", "seeds": len(trajs),
                           "queries_max": max((len(t.records) for t in trajs), default=0),
                           "wall_s_mean": float(np.mean([t.wall_s for t in trajs])) if trajs else 0.0}
    out["found"] = len(known)
    out["queries_to_best_mean"] = float(np.mean(known)) if known and len(known) == len(found) else None
    out["queries_to_best_median"] = float(np.median(known)) if known and len(known) == len(found) else None
    out["queries_to_best_mean_found"] = float(np.mean(known)) if known else None
    at = {}
    for q in checkpoints:
        v = _curves(trajs, q, "val")[:, -1]
        t = _curves(trajs, q, "test")[:, -1]
        at[q] = {"val_mean": float(np.nanmean(v)), "val_std": float(np.nanstd(v)),
                 "test_mean": None if np.all(np.isnan(t)) else float(np.nanmean(t)),
                 "test_std": None if np.all(np.isnan(t)) else float(np.nanstd(t))}
    out["at"] = at
    return out


def _fmt(x, nd=2) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def write_report(results: dict[str, list[Trajectory]], out_dir: str | os.PathLike, *, horizon: int = 150,
                 checkpoints=(50, 100, 150), title: str = "Cell search", notes: str = "") -> dict:
    """Write `report.md`, `summary.json` and `best_so_far.png` for one or more strategies into out_dir."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summaries = {name: summarise(trajs, checkpoints) for name, trajs in results.items() if trajs}
    (out_dir / "summary.json").write_text(json.dumps(summaries, indent=2))
    lines = [f"# {title}", ""]
    if notes:
        lines += [notes, ""]
    lines += ["Queries until the architecture with the table's best validation accuracy is found "
              "(per seed; mean and median over seeds), and the validation / test accuracy of the "
              "best-by-validation architecture after a number of queries (mean ± std over seeds).", ""]
    head = "| strategy | seeds | queries to best: mean | median | found |"
    sep = "|---|---|---|---|---|"
    for q in checkpoints:
        head += f" val@{q} | test@{q} |"
        sep += "---|---|"
    lines += [head, sep]
    for name, s in summaries.items():
        row = (f"| {name} | {s['seeds']} | {_fmt(s['queries_to_best_mean'], 1)} | "
               f"{_fmt(s['queries_to_best_median'], 1)} | {s['found']}/{s['seeds']} |")
        for q in checkpoints:
            a = s["at"][q]
            test = "-" if a["test_mean"] is None else f"{a['test_mean']:.2f} ± {a['test_std']:.2f}"
            row += f" {a['val_mean']:.2f} ± {a['val_std']:.2f} | {test} |"
        lines.append(row)
    lines += ["", "![best so far](best_so_far.png)", ""]
    (out_dir / "report.md").write_text("\n".join(lines))
    _plot(results, out_dir / "best_so_far.png", horizon)
    return summaries


def _plot(results: dict[str, list[Trajectory]], path: Path, horizon: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    found = any(t.found_at is not None for trajs in results.values() for t in trajs)
    fig, axes = plt.subplots(1, 3 if found else 2, figsize=(16 if found else 11, 4))
    x = np.arange(1, horizon + 1)
    lows, highs = [], []
    for name, trajs in results.items():
        if not trajs:
            continue
        for ax, which in zip(axes, ("val", "test")):
            c = _curves(trajs, horizon, which)
            if np.all(np.isnan(c)):
                continue
            m, s = np.nanmean(c, axis=0), np.nanstd(c, axis=0)
            line, = ax.plot(x, m, label=name)
            ax.fill_between(x, m - s, m + s, alpha=0.12, color=line.get_color())
            k = min(10, horizon) - 1  # the first few random queries would squash the interesting range
            lows.append((which, m[k] - s[k]))
            highs.append((which, float(np.nanmax((m + s)[k:]))))
        if found:
            q = np.sort([t.found_at if t.found_at is not None else np.inf for t in trajs])
            axes[2].step(q, np.arange(1, len(q) + 1) / len(q), where="post", label=name)
    for ax, which, title in zip(axes, ("val", "test"), ("best validation accuracy so far",
                                                         "test accuracy of the best-by-validation architecture")):
        lo = [v for w, v in lows if w == which]
        hi = [v for w, v in highs if w == which]
        if lo and hi and np.isfinite(min(lo)) and np.isfinite(max(hi)):
            ax.set_ylim(min(lo) - 0.2, max(hi) + 0.1)
        ax.set_title(title)
        ax.set_xlabel("queries")
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(loc="lower right")
    if found:
        axes[2].set_xscale("log")
        axes[2].set_title("seeds that found the best-validation architecture")
        axes[2].set_xlabel("queries")
        axes[2].set_ylabel("fraction of seeds")
        axes[2].set_ylim(0, 1.02)
        axes[2].grid(alpha=0.3)
        axes[2].legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
