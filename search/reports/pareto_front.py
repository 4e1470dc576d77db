"""Multi-objective report: the Pareto front of the ok max-budget results (per seed and pooled over seeds),
front.csv / front.json, the configurations on the pooled front as files, pareto.png, and the hypervolume
(mean ± std over seeds) against evaluations, search wall time and total budget (the sum of every result's
budget: epochs when training, so multi-fidelity runs compare with full-budget ones at equal cost) with its
reference point stated; for several budgets, the hypervolume once 25/50/75/100 % of the total budget is spent;
with a known true front, the fraction of the true front's hypervolume reached after 50, 100 and 200
evaluations.

Reference point, in this order: the known one (settings "known": {"reference": ...}), the search's own
(settings "reference_point"), else the pooled ok max-budget results' nadir plus 10 % of their range
(`search.pareto.reference_point`). One point serves every seed, so their hypervolumes compare. Results at
smaller budgets are drawn but never on a front (as the single-objective incumbent rule).
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any

import numpy as np

from ..pareto import hypervolume, pareto_front, reference_point
from .configs import ConfigWriter
from .markdown import Output, config_text, fmt, mean_std, table
from .plots import band, integer_ticks, objective_axes, plain_ticks, pyplot, steps_on_grid
from .run import Run, config_key

__all__ = ["front_points", "hypervolume_trace", "reference", "section", "CHECKPOINTS", "BUDGET_SHARES"]

CHECKPOINTS = (50, 100, 200)
BUDGET_SHARES = (0.25, 0.5, 0.75, 1.0)
TABLE_ROWS = 50


def front_points(run: Run, seed: int) -> list[list[float] | None]:
    """Per result of a seed: its objective vector when it may be on the front (ok, max budget), else None."""
    return [run.objective_values(r) if run.at_max_budget(r) else None for r in run.results.get(seed, [])]


def hypervolume_trace(points: list[list[float] | None], ref: np.ndarray) -> np.ndarray:
    """The hypervolume (w.r.t. `ref`) of the points seen up to each position (None: nothing new).

    Incremental: a new non-dominated point adds its exclusive contribution, the volume of its box up to `ref`
    less the hypervolume of the front clipped to that box (the clipped set is small, so fronts of hundreds of
    points in three objectives stay fast; recomputing the whole front each time took minutes)."""
    ref = np.asarray(ref, dtype=np.float64)
    front = np.empty((0, len(ref)))  # the non-dominated points strictly inside ref
    hv, out = 0.0, []
    for y in points:
        if y is not None:
            y = np.asarray(y, dtype=np.float64)
            if np.all(y < ref) and not (front.size and np.any(np.all(front <= y, axis=1))):
                hv += float(np.prod(ref - y)) - (hypervolume(np.maximum(front, y), ref) if front.size else 0.0)
                front = np.vstack([front[~np.all(y <= front, axis=1)], y])
        out.append(hv)
    return np.asarray(out, dtype=np.float64)


def reference(run: Run, pooled: np.ndarray) -> tuple[np.ndarray, str]:
    """The reference point and where it comes from (see the module docstring)."""
    if run.known.get("reference") is not None:
        return np.asarray(run.known["reference"], dtype=np.float64), "the known reference point"
    if run.settings.get("reference_point") is not None:
        return np.asarray(run.settings["reference_point"], dtype=np.float64), "the search's reference point"
    return reference_point(pooled, 0.1), "nadir of the pooled max-budget results + 10 % of their range"


def section(run: Run, out: Output, writer: ConfigWriter) -> tuple[str, dict[str, Any]]:
    """The Markdown of the multi-objective section and its numbers."""
    names = run.objectives
    seeds = [s for s in run.seeds if run.results.get(s)]
    per_seed = {s: front_points(run, s) for s in seeds}
    records, seen = [], set()
    for s in seeds:  # the same configuration with the same values (found by several seeds) is pooled once
        for r, y in zip(run.results[s], per_seed[s]):
            if y is not None and (key := (config_key(r["config"]), tuple(y))) not in seen:
                seen.add(key)
                records.append((s, r, y))
    title = "## Pareto front\n\n"
    data: dict[str, Any] = {"objectives": names}
    if not records:
        at = f" at the max budget ({fmt(run.max_budget)})" if run.multi_fidelity else ""
        return title + f"No ok evaluation with every objective{at} yet: no front.", data
    pooled = np.asarray([y for _, _, y in records], dtype=np.float64)
    ref, source = reference(run, pooled)
    _, idx = pareto_front(pooled, return_index=True)
    idx = sorted(idx, key=lambda i: tuple(pooled[i]))
    traces = {s: hypervolume_trace(per_seed[s], ref) for s in seeds}
    seed_fronts = {}
    for s in seeds:
        Y = np.asarray([y for y in per_seed[s] if y is not None], dtype=np.float64).reshape(-1, len(names))
        seed_fronts[s] = pareto_front(Y) if len(Y) else Y
    data.update(reference=ref, reference_source=source, hypervolume=traces,
                pooled_hypervolume=hypervolume(pooled, ref), pooled_front_size=len(idx),
                front_size={s: len(seed_fronts[s]) for s in seeds},
                final_hypervolume={s: float(traces[s][-1]) for s in seeds})
    ref_text = ", ".join(f"{n} = {fmt(v)}" for n, v in zip(names, ref))

    rows = []
    for k, i in enumerate(idx, 1):
        s, r, y = records[i]
        rows.append({"rank": k, "seed": s, "job": r.get("job"), "budget": r.get("budget"),
                     **dict(zip(names, y)),
                     **{m: v for m, v in (r.get("metrics") or {}).items() if m not in names},
                     "config_file": writer.write(out, f"front_{k:02d}", r), "config": r["config"]})
    _write_front(out, run, rows, ref, source, seed_fronts, data)
    extra = [m for m in ("test_error",) if any(m in row for row in rows)]
    text = [title + f"All objectives minimised: {', '.join(names)}. The front of the ok results at the max budget"
            + (f" ({fmt(run.max_budget)}; smaller budgets are drawn but never on the front)" if run.multi_fidelity
               else "") + f": {len(idx)} of {len(pooled)} pooled over {len(seeds)} seed(s)"
            + (" (test_error was never shown to the search)" if extra else "") + ". Per seed: "
            + ", ".join(f"seed {s}: {len(seed_fronts[s])} points" for s in seeds) + ".",
            f"![Pareto front]({_plot_front(run, out, pooled, idx, ref)})",
            table(["rank", "seed", "job", *names, *extra, "configuration", "file"],
                  [(row["rank"], row["seed"], row["job"], *[row[n] for n in names], *[row.get(m) for m in extra],
                    config_text(row["config"]),
                    f"`{row['config_file']}`" if not row["config_file"].startswith("-") else row["config_file"])
                   for row in rows[:TABLE_ROWS]])
            + (f"\n\n({len(rows) - TABLE_ROWS} more points in front.csv)" if len(rows) > TABLE_ROWS else ""),
            "`front.csv` and `front.json` hold the pooled front (and each seed's front). " +
            writer.usage([row["config_file"] for row in rows])]
    text.append(_hypervolume(run, out, seeds, traces, ref, ref_text, source, data))
    return "\n\n".join(text), data


def _write_front(out: Output, run: Run, rows: list[dict[str, Any]], ref: np.ndarray, source: str,
                 seed_fronts: dict[int, np.ndarray], data: dict[str, Any]) -> None:
    names = run.objectives
    others = sorted({k for row in rows for k in row} - set(names) - {"rank", "seed", "job", "budget", "config",
                                                                    "config_file"})
    columns = ["rank", "seed", "job", "budget", *names, *others, "config_file", "config"]
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(columns)
    for row in rows:
        w.writerow([json.dumps(row.get(c), sort_keys=True) if isinstance(row.get(c), (dict, list))
                    else ("" if row.get(c) is None else row.get(c)) for c in columns])
    out.text("front.csv", buf.getvalue())
    out.json("front.json", {"objectives": names, "minimised": True, "reference_point": ref,
                            "reference_source": source, "pooled_hypervolume": data["pooled_hypervolume"],
                            "front": rows, "per_seed": {s: {"front": f, "hypervolume": data["final_hypervolume"][s]}
                                                        for s, f in seed_fronts.items()}})


def _plot_front(run: Run, out: Output, pooled: np.ndarray, idx: list[int], ref: np.ndarray) -> str:
    plt = pyplot()
    names = run.objectives
    pairs = [(0, k) for k in range(1, len(names))]
    fig, axes = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 4.6), squeeze=False)
    everything = [(float(r["budget"]), y) for rs in run.results.values() for r in rs
                  if (y := run.objective_values(r)) is not None]
    budgets = sorted({b for b, _ in everything})
    true_front = np.asarray(run.known.get("front") or [], dtype=np.float64)
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.85, max(len(budgets), 1)))
    front = pooled[idx]
    for ax, (a, b) in zip(axes[0], pairs):
        for colour, budget in zip(colours, budgets):
            P = np.asarray([y for bb, y in everything if bb == budget], dtype=np.float64)
            label = f"budget {fmt(budget)} ({len(P)})" if len(budgets) > 1 else f"ok evaluations ({len(P)})"
            ax.scatter(P[:, a], P[:, b], s=14, color=colour if len(budgets) > 1 else "0.55", alpha=0.7,
                       label=label)
        if len(names) == 2:
            order = np.argsort(front[:, a], kind="stable")
            ax.step(front[order, a], front[order, b], where="post", color="crimson", lw=1.2)
        ax.scatter(front[:, a], front[:, b], s=60, facecolors="none", edgecolors="crimson", lw=1.3,
                   label=("Pareto front" if len(names) == 2 else "Pareto-optimal in all objectives")
                   + f", pooled over seeds ({len(front)})")
        if len(true_front) and len(names) == 2:
            order = np.argsort(true_front[:, a], kind="stable")
            ax.step(true_front[order, a], true_front[order, b], where="post", color="k", ls="--", lw=1,
                    label="true Pareto front")
        ax.scatter([ref[a]], [ref[b]], marker="x", color="k", s=40, label="reference point")
        objective_axes(ax, names, a, b, np.asarray([y for _, y in everything]))
        ax.legend(fontsize=8, title="colour = budget" if len(budgets) > 1 else None, title_fontsize=8)
    fig.suptitle(f"{run.settings.get('strategy')} on {run.settings.get('space')}: ok evaluations and the "
                 f"Pareto front at the max budget (all objectives minimised)")
    return out.figure(fig, "pareto.png")


def _hypervolume(run: Run, out: Output, seeds: list[int], traces: dict[int, np.ndarray], ref: np.ndarray,
                 ref_text: str, source: str, data: dict[str, Any]) -> str:
    plt = pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    horizon = min(len(traces[s]) for s in seeds)
    band(axes[0], np.arange(1, horizon + 1), np.vstack([traces[s][:horizon] for s in seeds]), seeds=seeds)
    integer_ticks(axes[0].xaxis)
    axes[0].set_xlabel("evaluations")
    data["cumulative_budget"] = {s: np.cumsum([float(r["budget"]) for r in run.results[s]]) for s in seeds}
    data["wall_s"] = {s: run.elapsed[s] for s in seeds}
    for ax, key, what in ((axes[1], "wall_s", "search wall time (s)"),
                          (axes[2], "cumulative_budget", "total budget (sum of budgets)")):
        xs = [np.asarray(data[key][s], dtype=np.float64) for s in seeds]
        end = min(float(np.nanmax(v)) if np.isfinite(v).any() else 0.0 for v in xs)
        grid = np.linspace(0.0, end, 300)
        band(ax, grid, steps_on_grid(xs, [traces[s] for s in seeds], grid), seeds=seeds)
        ax.set_xlabel(what)
        plain_ticks(ax, "x")
    lines = [f"## Hypervolume\n\nHypervolume of the max-budget front against evaluations, search wall time and "
             f"total budget (every result's budget counts, smaller budgets included), reference point ({ref_text}) "
             f"[{source}]. Final hypervolume per seed: {mean_std(data['final_hypervolume'].values())}; pooled over "
             f"seeds: {fmt(data['pooled_hypervolume'])}."]
    true_front = run.known.get("front")
    true_hv = hypervolume(np.asarray(true_front, dtype=np.float64), ref) if true_front else None
    if run.multi_fidelity:
        lines.append(_budget_table(seeds, traces, data, true_hv))
    if true_hv is not None:
        data["true_hypervolume"] = true_hv
        for ax in axes:
            ax.axhline(true_hv, color="k", ls="--", lw=1, label=f"true front's hypervolume ({fmt(true_hv)})")
        fractions = {}
        for n in CHECKPOINTS:
            per = {s: (float(traces[s][n - 1] / true_hv) if len(traces[s]) >= n and true_hv > 0 else None)
                   for s in seeds}
            got = [v for v in per.values() if v is not None]
            fractions[str(n)] = {"mean": float(np.mean(got)) if got else None,
                                 "std": float(np.std(got)) if got else None, "n": len(got), "per_seed": per}
        data["fraction_of_true_hypervolume"] = fractions
        lines.append(f"Fraction of the true front's hypervolume ({fmt(true_hv)}, same reference point) reached "
                     "after a number of evaluations (mean ± std over the seeds that made that many):\n\n"
                     + table(["evaluations", "fraction of true hypervolume", "seeds"],
                             [(n, "-" if f["mean"] is None else f"{fmt(f['mean'])} ± {fmt(f['std'])}", f["n"])
                              for n, f in fractions.items()]))
    for ax in axes:
        ax.set_ylabel("hypervolume")
        plain_ticks(ax, "y")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"{run.settings.get('strategy')} on {run.settings.get('space')}: hypervolume of the max-budget "
                 f"front, reference point ({ref_text})", fontsize=10)
    lines.insert(1, f"![hypervolume]({out.figure(fig, 'hypervolume.png')})")
    return "\n\n".join(lines)


def _budget_table(seeds: list[int], traces: dict[int, np.ndarray], data: dict[str, Any],
                  true_hv: float | None) -> str:
    """Hypervolume once each share of the total budget is spent (of the smallest total over seeds), and its
    fraction of the true front's hypervolume when that is known."""
    total = min(float(data["cumulative_budget"][s][-1]) for s in seeds)
    rows, at = [], {}
    for share in BUDGET_SHARES:
        budget = share * total
        values = []
        for s in seeds:
            n = int(np.searchsorted(data["cumulative_budget"][s], budget * (1 + 1e-9), side="right"))
            values.append(float(traces[s][n - 1]) if n else 0.0)
        at[str(share)] = {"budget": budget, "mean": float(np.mean(values)), "std": float(np.std(values)),
                          "per_seed": dict(zip(seeds, values))}
        fraction = [mean_std([v / true_hv for v in values])] if true_hv else []
        rows.append((f"{share:.0%}", budget, mean_std(values), *fraction))
    data["hypervolume_at_budget"] = at
    return ("Hypervolume once a share of the total budget is spent (the smallest total over seeds; mean ± std):"
            "\n\n" + table(["share", "total budget", "hypervolume",
                             *(["fraction of true hypervolume"] if true_hv else [])], rows))
