"""Multi-objective runs with `--final-samples K`: each Pareto-optimal configuration of the search was trained K
more times on new networks sampled from it (phase "final", `search.final`). This section groups those results
by the search result they re-sample (`info["of_job"]` and seed), gives each configuration's mean ± std of every
objective over its ok samples, and the Pareto front of the means: resampled.png draws the means with one
standard deviation as error bars, each joined by a dotted line to the value the search saw; the table lists
every configuration (the front of means first) with its file under configs/ (`nago train --config`).

A configuration's mean is taken over the samples with every objective finite; one whose samples all failed is
listed without a mean and is never on the front of means. The spread is the population standard deviation
(numpy's), as elsewhere in the reports.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..pareto import non_dominated_mask
from .configs import ConfigWriter
from .markdown import Output, config_text, fmt, table
from .plots import objective_axes, pyplot
from .run import Run, config_key

__all__ = ["groups", "section"]


def groups(run: Run) -> list[dict[str, Any]]:
    """One entry per re-sampled search result: seed, job, config, the search's values ("search"), the ok
    samples' values ("samples", rows in objective order), "mean", "std" (None without an ok sample) and
    "failed" (samples that were not ok); in the order the samples were logged."""
    by_job = {(s, r.get("job")): r for s, rs in run.results.items() for r in rs}
    out: dict[tuple[Any, Any], dict[str, Any]] = {}
    for r in run.other:
        if r.get("phase") != "final":
            continue
        seed, of = int(r.get("seed") or 0), (r.get("info") or {}).get("of_job")
        key = (seed, of if of is not None else config_key(r["config"]))
        searched = by_job.get((seed, of))
        entry = out.setdefault(key, {"seed": seed, "job": of, "config": r["config"], "samples": [], "failed": 0,
                                     "search": run.objective_values(searched) if searched else None,
                                     "record": searched or r})  # the file is the searched network's
        values = run.objective_values(r)
        if values is None:
            entry["failed"] += 1
        else:
            entry["samples"].append(values)
    result = []
    for entry in out.values():
        Y = np.asarray(entry["samples"], dtype=np.float64).reshape(-1, len(run.objectives))
        entry["mean"] = Y.mean(axis=0).tolist() if len(Y) else None
        entry["std"] = Y.std(axis=0).tolist() if len(Y) else None
        result.append(entry)
    return result


def section(run: Run, out: Output, writer: ConfigWriter) -> tuple[str, dict[str, Any]] | None:
    """The Markdown of the re-sampled front and its numbers (None when the run has no final samples)."""
    entries = groups(run)
    if not entries:
        return None
    names = run.objectives
    with_mean = [i for i, e in enumerate(entries) if e["mean"] is not None]
    front: set[int] = set()
    if with_mean:
        mask = non_dominated_mask(np.asarray([entries[i]["mean"] for i in with_mean], dtype=np.float64))
        front = {i for i, on in zip(with_mean, mask) if on}
    order = sorted(range(len(entries)), key=lambda i: (i not in front, entries[i]["mean"] is None,
                                                       tuple(entries[i]["mean"] or ()), entries[i]["seed"]))
    rows, listed = [], []
    for rank, i in enumerate(order, 1):
        e = entries[i]
        path = writer.write(out, f"final_{rank:02d}", e["record"])
        listed.append({"rank": rank, "seed": e["seed"], "job": e["job"], "on_front_of_means": i in front,
                       "samples": len(e["samples"]), "failed": e["failed"], "mean": e["mean"], "std": e["std"],
                       "search": e["search"], "config": e["config"], "config_file": path})
        cells = (["-"] * len(names) if e["mean"] is None
                 else [f"{fmt(m)} ± {fmt(sd)}" for m, sd in zip(e["mean"], e["std"])])
        rows.append((rank, e["seed"], e["job"], "yes" if i in front else "", len(e["samples"]), e["failed"], *cells,
                     config_text(e["config"]), f"`{path}`" if not path.startswith("-") else path))
    k = max(len(e["samples"]) + e["failed"] for e in entries)
    text = [f"## Re-sampled Pareto set\n\nEach Pareto-optimal configuration of the search was trained {k} more "
            "times at the max budget on new networks sampled from it (phase final). Mean ± std over its ok samples "
            f"of {', '.join(names)}; {len(front)} of {len(entries)} configurations are on the front of the means.",
            f"![re-sampled front]({_plot(run, out, entries, front)})",
            table(["rank", "seed", "job", "on front of means", "ok samples", "failed", *names, "configuration",
                   "file"], rows),
            writer.usage([row["config_file"] for row in listed])]
    return "\n\n".join(t for t in text if t), {"objectives": names, "configurations": listed,
                                              "front_of_means": sum(row["on_front_of_means"] for row in listed)}


def _plot(run: Run, out: Output, entries: list[dict[str, Any]], front: set[int]) -> str:
    plt = pyplot()
    names = run.objectives
    pairs = [(0, k) for k in range(1, len(names))]
    fig, axes = plt.subplots(1, len(pairs), figsize=(6 * len(pairs), 4.6), squeeze=False)
    for ax, (a, b) in zip(axes[0], pairs):
        seen = np.asarray([e["search"] for e in entries if e["search"] is not None], dtype=np.float64)
        if len(seen):
            ax.scatter(seen[:, a], seen[:, b], marker="x", color="0.55", s=30, label="value seen by the search")
        for i, e in enumerate(entries):
            if e["mean"] is None:
                continue
            on = i in front
            if e["search"] is not None:  # where the search saw it -> where its new networks land on average
                ax.plot([e["search"][a], e["mean"][a]], [e["search"][b], e["mean"][b]], ls=":", lw=0.8, color="0.6")
            ax.errorbar(e["mean"][a], e["mean"][b], xerr=e["std"][a], yerr=e["std"][b], fmt="o",
                        color="crimson" if on else "tab:blue", ms=6 if on else 4, capsize=3, lw=1,
                        label=("on the front of means" if on else "dominated mean") + " ± std")
        means = np.asarray([entries[i]["mean"] for i in sorted(front)], dtype=np.float64)
        if len(names) == 2 and len(means):
            order = np.argsort(means[:, a], kind="stable")
            ax.step(means[order, a], means[order, b], where="post", color="crimson", lw=1)
        values = np.asarray([v for e in entries for v in e["samples"]] + seen.tolist(), dtype=np.float64)
        objective_axes(ax, names, a, b, values)
        handles, labels = ax.get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        ax.legend(unique.values(), unique.keys(), fontsize=8)
    fig.suptitle(f"{run.settings.get('strategy')} on {run.settings.get('space')}: re-sampled Pareto set, mean ± "
                 "std over new networks (all objectives minimised)")
    return out.figure(fig, "resampled.png")
