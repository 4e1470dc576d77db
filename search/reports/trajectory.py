"""Single-objective report: best-so-far of the primary objective (against evaluations, wall time and cumulative
budget; mean ± std over seeds), the best configurations, and, when the optimum is known, regret and how many
evaluations each seed needed to find it.

Incumbent rule (hpbandster's, "the best at the largest budget"): only ok results at the run's max budget
count, so a low-fidelity estimate never becomes the incumbent, and a failed result (a configuration refused in
a second) never counts whatever it reports. Before a seed's first such result its best-so-far is undefined,
and the mean ± std band is drawn only where every seed has a value.

Departures from the old reports (search/report.py, search/cells/runner.py), and why: the trajectory is one
value per evaluation (not only the points where the incumbent changed), so that seeds average point by point;
cumulative budget counts every result's budget, failures included (the log records what was asked for, not
how much of a failed evaluation ran); curves of seeds of different lengths are averaged over the evaluations
every seed reached (a stopped seed is not extended).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .configs import ConfigWriter
from .markdown import Output, config_text, fmt, mean_std, table
from .plots import band, integer_ticks, plain_ticks, pyplot, readable_log, steps_on_grid
from .run import Run, config_key, metric

__all__ = ["incumbent_values", "best_so_far", "found_at", "section"]

CHECKPOINTS = (300, 1000)
TOP = 10
REPORT_ONLY = ("test_error",)


def incumbent_values(run: Run, seed: int) -> np.ndarray:
    """Per result of a seed: its primary objective when it may be the incumbent (ok, max budget), else NaN."""
    out = []
    for r in run.results.get(seed, []):
        values = run.objective_values(r)
        out.append(values[0] if values is not None and run.at_max_budget(r) else np.nan)
    return np.asarray(out, dtype=np.float64)


def best_so_far(run: Run, seed: int) -> np.ndarray:
    """Per result of a seed: the incumbent's primary objective after it (NaN before the first incumbent)."""
    v = incumbent_values(run, seed)
    return np.fmin.accumulate(v) if v.size else v


def found_at(run: Run, seed: int) -> int | None:
    """The evaluation (1-based, every result counted) at which a seed first reached the known optimum (within
    known["tolerance"], default 1e-9 relative) or evaluated settings["best_key"]; None if it never did."""
    optimum = run.known.get("optimum")
    best_key = run.settings.get("best_key")
    if optimum is None and best_key is None:
        return None
    tol = float(run.known.get("tolerance", 1e-9 * max(1.0, abs(float(optimum or 0.0)))))
    key = config_key(best_key) if isinstance(best_key, dict) else None
    for i, (r, v) in enumerate(zip(run.results.get(seed, []), incumbent_values(run, seed)), 1):
        if math.isnan(v):
            continue
        if (optimum is not None and v <= float(optimum) + tol) or (key is not None and config_key(r["config"]) == key):
            return i
    return None


def _best_records(run: Run) -> list[dict[str, Any]]:
    """The ok max-budget results of every seed, best first."""
    rows = [r for rs in run.results.values() for r in rs if run.objective_values(r) is not None
            and run.at_max_budget(r)]
    return sorted(rows, key=lambda r: (metric(r, run.primary), r.get("seed", 0), r.get("job", 0)))


def section(run: Run, out: Output, writer: ConfigWriter) -> tuple[str, dict[str, Any]]:
    """The Markdown of the single-objective section and its numbers."""
    seeds = [s for s in run.seeds if run.results.get(s)]
    primary = run.primary
    curves = {s: best_so_far(run, s) for s in seeds}
    data: dict[str, Any] = {
        "max_budget": run.max_budget,
        "best_so_far": {s: curves[s] for s in seeds},
        "cumulative_budget": {s: np.cumsum([float(r["budget"]) for r in run.results[s]]) for s in seeds},
        "wall_s": {s: run.elapsed[s] for s in seeds},
    }
    at = f" at the max budget ({fmt(run.max_budget)})" if run.multi_fidelity else ""
    title = f"## Best {primary} so far\n\n"
    if not any(np.isfinite(c).any() for c in curves.values()):
        return title + f"No successful evaluation{at} yet: nothing to show.", data
    parts = [title + f"Best {primary} (minimised) among the ok results{at} after each evaluation"
             + ("; results at smaller budgets never become the incumbent" if run.multi_fidelity else "")
             + ". Failed and crashed evaluations count as evaluations but never as the incumbent."]
    # a seed without any max-budget result has no curve: the band is over the others, and says so
    drawn = [s for s in seeds if np.isfinite(curves[s]).any()]
    label = f"{len(drawn)} of {len(seeds)} seeds (the others have no ok result{at})" if len(drawn) < len(seeds) \
        else ""
    parts.append(f"![best so far]({_plot(run, out, drawn, curves, data, label)})")

    incumbents, finals, tests = {}, [], []
    for s in seeds:
        v = incumbent_values(run, s)
        if not np.isfinite(v).any():
            incumbents[s] = None
            continue
        i = int(np.nanargmin(v))
        r = run.results[s][i]
        incumbents[s] = {"value": float(v[i]), "evaluation": i + 1, "job": r.get("job"),
                         "test_error": metric(r, "test_error"), "config": r["config"]}
        finals.append(float(v[i]))
        tests.append(metric(r, "test_error"))
    data["incumbent"] = incumbents
    data["final_best"] = _stats(finals)
    data["final_test_error"] = _stats([t for t in tests if t is not None])
    has_test = any(t is not None for t in tests)
    rows = [(s, len(run.results[s]), *[(incumbents[s] or {}).get(k) for k in ("value", "evaluation")],
             *([(incumbents[s] or {}).get("test_error")] if has_test else [])) for s in seeds]
    parts.append(f"Final incumbent per seed; over seeds: {primary} {mean_std(finals)}"
                 + (f", test error (never seen by the search) {mean_std([t for t in tests if t is not None])}"
                    if has_test else "") + ".\n\n"
                 + table(["seed", "evaluations", f"best {primary}", "incumbent's evaluation",
                          *(["test error"] if has_test else [])], rows))

    parts.append(_best_table(run, out, writer, data))
    if run.known.get("optimum") is not None or run.settings.get("best_key") is not None:
        parts.append(_optimum(run, out, seeds, curves, data))
    return "\n\n".join(parts), data


def _stats(values: list[float]) -> dict[str, Any]:
    v = np.asarray(values, dtype=np.float64)
    return {"mean": float(v.mean()) if v.size else None, "std": float(v.std()) if v.size else None, "n": int(v.size)}


def _plot(run: Run, out: Output, seeds: list[int], curves: dict[int, np.ndarray], data: dict[str, Any],
          label: str) -> str:
    plt = pyplot()
    primary = run.primary
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    horizon = min(len(curves[s]) for s in seeds)
    x = np.arange(1, horizon + 1)
    band(axes[0], x, np.vstack([curves[s][:horizon] for s in seeds]), seeds=seeds, label=label)
    axes[0].set_xlabel("evaluations" + (f" (first {horizon}, reached by every seed)"
                                        if any(len(curves[s]) > horizon for s in seeds) else ""))
    integer_ticks(axes[0].xaxis)
    axes[0].set_title(f"best {primary} so far against evaluations")
    for ax, key, what in ((axes[1], "wall_s", "search wall time (s)"),
                          (axes[2], "cumulative_budget", "cumulative budget (sum of budgets)")):
        xs = [np.asarray(data[key][s], dtype=np.float64) for s in seeds]
        end = min(float(np.nanmax(v)) if np.isfinite(v).any() else 0.0 for v in xs)
        grid = np.linspace(0.0, end, 300)
        band(ax, grid, steps_on_grid(xs, [curves[s] for s in seeds], grid), seeds=seeds, label=label)
        ax.set_xlabel(what)
        ax.set_title(f"best {primary} so far against {what.split(' (')[0]}")
        plain_ticks(ax, "x")
    for ax in axes:
        ax.set_ylabel(f"best {primary} so far" + (f" (budget {fmt(run.max_budget)})" if run.multi_fidelity else ""))
        ax.grid(alpha=0.3)
        plain_ticks(ax, "y")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(f"{run.settings.get('strategy')} on {run.settings.get('space')}: best {primary} so far "
                 f"(minimised)")
    return out.figure(fig, "trajectory.png")


def _best_table(run: Run, out: Output, writer: ConfigWriter, data: dict[str, Any]) -> str:
    best = _best_records(run)[:TOP]
    names = sorted({k for r in best for k in (r.get("metrics") or {})})
    order = run.objectives + [m for m in REPORT_ONLY if m in names and m not in run.objectives] \
        + [m for m in names if m not in run.objectives and m not in REPORT_ONLY]
    rows, listed = [], []
    for k, r in enumerate(best, 1):
        path = writer.write(out, f"best_{k:02d}", r)
        listed.append({"rank": k, "seed": r.get("seed"), "job": r.get("job"), "budget": r.get("budget"),
                       "metrics": r.get("metrics"), "config": r["config"], "config_file": path})
        rows.append((k, r.get("seed"), r.get("job"), *[metric(r, m) for m in order], config_text(r["config"]),
                     f"`{path}`" if not path.startswith("-") else path))
    data["best"] = listed
    head = [f"## Best configurations\n\nThe {len(best)} best ok results at the max budget over all seeds"
            + (" (test_error was never shown to the search)" if "test_error" in order else "") + "."]
    head.append(table(["rank", "seed", "job", *order, "configuration", "file"], rows))
    head.append(writer.usage([row["config_file"] for row in listed]))
    return "\n\n".join(h for h in head if h)


def _optimum(run: Run, out: Output, seeds: list[int], curves: dict[int, np.ndarray], data: dict[str, Any]) -> str:
    optimum = run.known.get("optimum")
    found = {s: found_at(run, s) for s in seeds}
    hit = [v for v in found.values() if v is not None]
    data["known_optimum"] = optimum
    data["evaluations_to_optimum"] = found
    data["evaluations_to_optimum_mean"] = float(np.mean(hit)) if hit else None
    data["evaluations_to_optimum_median"] = float(np.median(hit)) if hit else None
    data["found"] = len(hit)
    data["reached_within"] = {str(n): sum(v is not None and v <= n for v in found.values()) / len(seeds)
                              for n in CHECKPOINTS}
    what = f"the known optimum {run.primary} = {fmt(optimum)}" if optimum is not None \
        else "the known best configuration"
    lines = [f"## Reaching the optimum\n\nEvaluations until each seed first evaluated {what} at the max budget: "
             f"{len(hit)} of {len(seeds)} seeds found it"
             + (f"; mean {fmt(data['evaluations_to_optimum_mean'])}, median "
                f"{fmt(data['evaluations_to_optimum_median'])} evaluations (over the seeds that found it)"
                if hit else "") + ". Share of seeds that found it within "
             + ", ".join(f"{n} evaluations: {fmt(data['reached_within'][str(n)])}" for n in CHECKPOINTS) + ".",
             table(["seed", "evaluations", "found at evaluation"],
                   [(s, len(run.results[s]), found[s] if found[s] is not None else "not found") for s in seeds])]
    if optimum is not None:
        regret = {s: curves[s] - float(optimum) for s in seeds}
        data["regret"] = regret
        drawn = [s for s in seeds if np.isfinite(regret[s]).any()]
        if drawn:
            lines.append(f"![regret]({_plot_regret(run, out, drawn, regret)})")
    return "\n\n".join(lines)


def _plot_regret(run: Run, out: Output, seeds: list[int], regret: dict[int, np.ndarray]) -> str:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    horizon = min(len(regret[s]) for s in seeds)
    Y = np.vstack([regret[s][:horizon] for s in seeds])
    band(ax, np.arange(1, horizon + 1), Y, seeds=seeds)
    integer_ticks(ax.xaxis)
    positive = Y[np.isfinite(Y) & (Y > 0)]
    note = ""
    if positive.size and positive.max() / positive.min() > 20:
        readable_log(ax, "y")
        if (Y <= 0).any():
            note = " (log scale: the curve ends where the mean regret is 0)"
    ax.set_xlabel("evaluations")
    ax.set_ylabel(f"regret of {run.primary} (best so far - optimum)")
    ax.set_title(f"Regret against evaluations{note}", fontsize=10)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return out.figure(fig, "regret.png")
