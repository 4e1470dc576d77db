"""How well a small budget ranks configurations as the large one does: Spearman rank correlation of the primary
objective between every pair of budgets, over the configurations evaluated (ok) at both.

A configuration is identified by its seed and its JSON, so a configuration Successive Halving promoted is
paired with itself; repeated evaluations at one budget are averaged. With fewer than 3 pairs no correlation is
given ("too few pairs"). The old report compared consecutive budgets only; every pair is shown here because the
pair (smallest, largest) is the one that says whether the low fidelity is worth its savings.
"""
from __future__ import annotations

import math
from itertools import combinations
from typing import Any

import numpy as np

from .markdown import Output, fmt, table
from .plots import pyplot
from .run import Run, config_key, metric

__all__ = ["budget_correlations", "correlation_title", "section"]

MIN_PAIRS = 3


def budget_correlations(run: Run) -> list[dict[str, Any]]:
    """One entry per pair of budgets (low < high): n, Spearman rho (None with n < 3 or constant values), and
    the paired values."""
    from scipy import stats

    by_budget: dict[float, dict[tuple[int, str], list[float]]] = {}
    for seed, rs in run.results.items():
        for r in rs:
            v = metric(r, run.primary) if r.get("status") == "ok" else None
            if v is not None:
                by_budget.setdefault(float(r["budget"]), {}).setdefault((seed, config_key(r["config"])), []).append(v)
    out = []
    for lo, hi in combinations(sorted(by_budget), 2):
        common = sorted(set(by_budget[lo]) & set(by_budget[hi]))
        x = [float(np.mean(by_budget[lo][c])) for c in common]
        y = [float(np.mean(by_budget[hi][c])) for c in common]
        rho = None
        if len(common) >= MIN_PAIRS and len(set(x)) > 1 and len(set(y)) > 1:
            rho = float(stats.spearmanr(x, y).statistic)
            rho = rho if math.isfinite(rho) else None
        out.append({"budgets": [lo, hi], "n": len(common), "spearman": rho, "pairs": list(zip(x, y))})
    return out


def correlation_title(entry: dict[str, Any]) -> str:
    """'Spearman rho = 0.71 (n = 12)', or why there is no number."""
    n = entry["n"]
    if n < MIN_PAIRS:
        return f"too few pairs (n = {n})"
    if entry["spearman"] is None:
        return f"Spearman rho undefined: constant values (n = {n})"
    return f"Spearman rho = {entry['spearman']:.2f} (n = {n})"


def section(run: Run, out: Output) -> tuple[str, dict[str, Any]] | None:
    """The Markdown of the budget correlation section and its numbers (None for a single-budget run)."""
    if not run.multi_fidelity:
        return None
    entries = budget_correlations(run)
    data = [{k: v for k, v in e.items() if k != "pairs"} for e in entries]
    head = "## Rank correlation between budgets\n\n"
    if not entries:
        return head + "Fewer than two budgets have ok results: nothing to correlate.", {"pairs": data}
    plt = pyplot()
    cols = min(3, len(entries))
    rows = math.ceil(len(entries) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.9 * rows), squeeze=False)
    for ax in axes.flat[len(entries):]:
        ax.set_visible(False)
    for ax, e in zip(axes.flat, entries):
        lo, hi = e["budgets"]
        if e["pairs"]:
            x, y = zip(*e["pairs"])
            ax.scatter(x, y, s=14)
        ax.set_xlabel(f"{run.primary} at budget {fmt(lo)}")
        ax.set_ylabel(f"{run.primary} at budget {fmt(hi)}")
        ax.set_title(correlation_title(e), fontsize=10)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{run.primary} of the same configuration at two budgets (one point per configuration and seed)")
    fig.tight_layout()
    image = out.figure(fig, "budget_correlation.png")
    text = (head + f"Spearman rank correlation of {run.primary} between budgets, over the configurations "
            f"(per seed) evaluated ok at both; '-' where fewer than {MIN_PAIRS} pairs exist or values are "
            f"constant.\n\n![budget correlation]({image})\n\n"
            + table(["budget low", "budget high", "pairs (n)", "Spearman rho"],
                    [(e["budgets"][0], e["budgets"][1], e["n"], e["spearman"]) for e in entries]))
    return text, {"pairs": data}
