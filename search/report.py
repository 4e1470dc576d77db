"""Reports of a run directory: incumbent trajectory, best configurations, rank correlation of losses between
consecutive budgets, final multi-seed evaluation; PNG plots, a Markdown summary and the best configuration as
a JSON file that `nago train --config` accepts.

Extending: a module registers more sections with `register_section(name, fn, strategies=(...))`; `fn(ctx)`
returns Markdown (and may save figures with `ctx.save_figure`). `build_report` imports `search.<strategy>.report`
and `search.report_<strategy>` when they exist, so a strategy's own report module only has to exist to be used.
"""
from __future__ import annotations

import importlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

from .runstore import RunStore, budget_key

BEST_CONFIG_FILE = "best_config.json"
SUMMARY_FILE = "summary.md"


@dataclass
class ReportContext:
    run_dir: Path
    out_dir: Path
    settings: dict[str, Any]
    records: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    files: list[Path] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # what sections computed (returned by build_report)

    @property
    def strategy(self) -> str:
        return str(self.settings.get("strategy", ""))

    def phase(self, name: str = "search") -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("phase", "search") == name]

    def save_figure(self, fig: Any, name: str) -> Path:
        import matplotlib.pyplot as plt

        path = self.out_dir / name
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        self.files.append(path)
        return path


Section = Callable[[ReportContext], "str | None"]
_SECTIONS: list[tuple[int, str, Section, tuple[str, ...] | None]] = []


def register_section(name: str, fn: Section, *, order: int = 100, strategies: Iterable[str] | None = None) -> None:
    """Add a report section (replacing one of the same name). `strategies`: only for runs of these."""
    _SECTIONS[:] = [s for s in _SECTIONS if s[1] != name]
    _SECTIONS.append((order, name, fn, tuple(strategies) if strategies is not None else None))
    _SECTIONS.sort(key=lambda s: (s[0], s[1]))


# ---------------------------------------------------------------------------------------------------------
# computations (plain functions, used by the sections, the benchmark and tests)
# ---------------------------------------------------------------------------------------------------------
def session_offsets(records: Sequence[Mapping[str, Any]], sessions: Sequence[Mapping[str, Any]]
                    ) -> dict[int, tuple[float, float]]:
    """session -> (its start time, search wall time elapsed before it), so that the wall time of a resumed
    search leaves out the time it was dead."""
    starts = {int(s["session"]): float(s["started"]) for s in sessions}
    last: dict[int, float] = {}
    for r in records:
        sess = r.get("session")
        fin = (r.get("timestamps") or {}).get("finished")
        if sess is not None and fin is not None:
            last[int(sess)] = max(last.get(int(sess), fin), fin)
    out, elapsed = {}, 0.0
    for sess in sorted(starts):
        out[sess] = (starts[sess], elapsed)
        if sess in last:
            elapsed += max(0.0, last[sess] - starts[sess])
    return out


def wall_time(record: Mapping[str, Any], offsets: Mapping[int, tuple[float, float]]) -> float | None:
    fin = (record.get("timestamps") or {}).get("finished")
    sess = record.get("session")
    if fin is None or sess is None or int(sess) not in offsets:
        return None
    start, before = offsets[int(sess)]
    return before + max(0.0, fin - start)


def incumbent_trajectory(records: Sequence[Mapping[str, Any]], sessions: Sequence[Mapping[str, Any]] = ()
                         ) -> list[dict[str, Any]]:
    """Points where the incumbent changed, in log order: a result becomes the incumbent when its budget is
    larger than the incumbent's, or equal with a lower loss (hpbandster's trajectory). Each point holds the
    cumulative epochs of all evaluations so far and the search's wall time."""
    offsets = session_offsets(records, sessions)
    points, epochs, best = [], 0.0, None
    for r in records:
        epochs += float(r["budget"])
        if r.get("status") != "ok" or r.get("loss") is None:
            continue
        b = budget_key(r["budget"])
        if best is None or b > best[0] or (b == best[0] and r["loss"] < best[1]):
            best = (b, r["loss"])
            points.append({"cumulative_epochs": epochs, "wall_time_s": wall_time(r, offsets), "loss": r["loss"],
                           "budget": r["budget"], "job_id": r["job_id"]})
    return points


def best_records(records: Sequence[Mapping[str, Any]], n: int = 10) -> list[dict[str, Any]]:
    """Successful evaluations, largest budget first, then lowest loss."""
    ok = [r for r in records if r.get("status") == "ok" and r.get("loss") is not None]
    return [dict(r) for r in sorted(ok, key=lambda r: (-budget_key(r["budget"]), r["loss"]))[:n]]


def budget_rank_correlations(records: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Spearman and Kendall rank correlation of the losses of the same configurations (same job id, as
    Successive Halving promotes them) on consecutive budgets."""
    from scipy import stats

    by_budget: dict[float, dict[tuple, float]] = {}
    for r in records:
        if r.get("status") == "ok" and r.get("loss") is not None:
            by_budget.setdefault(budget_key(r["budget"]), {})[tuple(r["job_id"])] = r["loss"]
    budgets = sorted(by_budget)
    out = []
    for lo, hi in zip(budgets, budgets[1:]):
        common = sorted(set(by_budget[lo]) & set(by_budget[hi]))
        x = [by_budget[lo][c] for c in common]
        y = [by_budget[hi][c] for c in common]
        rho = tau = None
        if len(common) >= 3 and len(set(x)) > 1 and len(set(y)) > 1:
            rho = float(stats.spearmanr(x, y).statistic)
            tau = float(stats.kendalltau(x, y).statistic)
        out.append({"budget_low": lo, "budget_high": hi, "n": len(common), "spearman": rho, "kendall": tau,
                    "losses": list(zip(x, y))})
    return out


def best_params(ctx_or_records: Any, settings: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """The incumbent's generator hyperparameters with its seed: a dict `nago train --config` accepts."""
    from .engine.pyro import incumbent

    records = ctx_or_records.phase("search") if isinstance(ctx_or_records, ReportContext) else ctx_or_records
    settings = ctx_or_records.settings if isinstance(ctx_or_records, ReportContext) else (settings or {})
    best = incumbent(records)
    if best is None:
        return None
    params = (best.get("info") or {}).get("generator_params")
    if params is None:
        from .spaces import params_from_config

        shape = tuple(settings.get("input_shape") or (3, 32, 32))
        params = params_from_config(settings["space_context"], best["config"], shape,
                                    int(settings.get("num_classes", 10))).to_dict()
    return {**params, "seed": int(best.get("seed", 0))}


# ---------------------------------------------------------------------------------------------------------
# formatting helpers
# ---------------------------------------------------------------------------------------------------------
def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        if abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-3):
            return f"{value:.{digits}g}"
        return f"{value:.{digits}f}"
    return str(value)


def _config_text(config: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={_fmt(v, 3) if isinstance(v, float) else v}" for k, v in sorted(config.items()))


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(_fmt(v) if not isinstance(v, str) else v for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------------------
# built-in sections
# ---------------------------------------------------------------------------------------------------------
def _overview(ctx: ReportContext) -> str:
    s = ctx.settings
    search = ctx.phase("search")
    counts = {k: sum(r["status"] == k for r in search) for k in ("ok", "failed", "crashed")}
    offsets = session_offsets(ctx.records, ctx.sessions)
    walls = [w for w in (wall_time(r, offsets) for r in search) if w is not None]
    strategy_keys = [k for k in ("min_budget", "max_budget", "eta", "iterations", "budget", "evaluations")
                     if k in s]
    rows = [("strategy", s.get("strategy")), ("space", s.get("space")), ("dataset", s.get("dataset")),
            ("seed", s.get("seed")), ("run id", s.get("run_id")),
            *[(k.replace("_", " "), s.get(k)) for k in strategy_keys]]
    if s.get("space_options"):
        rows.append(("space options", json.dumps(s["space_options"], sort_keys=True)))
    if s.get("train_overrides"):
        rows.append(("training options", json.dumps(s["train_overrides"], sort_keys=True)))
    rows += [("evaluations", f"{len(search)} ({counts['ok']} ok, {counts['failed']} failed, "
                             f"{counts['crashed']} crashed)"),
             ("total epochs", _fmt(sum(float(r["budget"]) for r in search), 3)),
             ("search wall time", f"{max(walls):.1f} s" if walls else "-"),
             ("sessions", str(len(ctx.sessions)))]
    ctx.data["counts"] = counts
    return "## Overview\n\n" + _table(["setting", "value"], [(str(k), str(v)) for k, v in rows])


def _trajectory(ctx: ReportContext) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    search = ctx.phase("search")
    points = incumbent_trajectory(search, ctx.sessions)
    ctx.data["trajectory"] = points
    if not points:
        return "## Incumbent trajectory\n\nNo successful evaluation yet."
    total_epochs = sum(float(r["budget"]) for r in search)
    offsets = session_offsets(ctx.records, ctx.sessions)
    total_wall = max((wall_time(r, offsets) or 0.0 for r in search), default=0.0)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, key, end, label in ((axes[0], "cumulative_epochs", total_epochs, "cumulative epochs"),
                                (axes[1], "wall_time_s", total_wall, "wall time (s)")):
        xs = [p[key] for p in points if p[key] is not None]
        ys = [p["loss"] for p in points if p[key] is not None]
        if xs:
            ax.step(xs + [max(end, xs[-1])], ys + [ys[-1]], where="post")
            ax.scatter(xs, ys, s=12)
        ax.set_xlabel(label)
        ax.set_ylabel("incumbent validation error")
        ax.grid(alpha=0.3)
    fig.suptitle(f"{ctx.settings.get('strategy')} on {ctx.settings.get('dataset')} ({ctx.settings.get('space')})")
    ctx.save_figure(fig, "trajectory.png")
    rows = [(",".join(map(str, p["job_id"])), p["budget"], p["loss"], p["cumulative_epochs"], p["wall_time_s"])
            for p in points]
    return ("## Incumbent trajectory\n\n![trajectory](trajectory.png)\n\n"
            + _table(["job", "budget (epochs)", "validation error", "cumulative epochs", "wall time (s)"], rows))


def _best(ctx: ReportContext) -> str:
    rows = []
    best = best_records(ctx.phase("search"), 10)
    ctx.data["best"] = best
    for i, r in enumerate(best, 1):
        info = r.get("info") or {}
        rows.append((i, ",".join(map(str, r["job_id"])), r["budget"], r["loss"], info.get("test_accuracy"),
                     info.get("params"), info.get("macs"), info.get("memory_mb_per_sample"),
                     _config_text(r["config"])))
    if not rows:
        return "## Best configurations\n\nNo successful evaluation yet."
    return "## Best configurations\n\n" + _table(
        ["rank", "job", "budget", "val error", "test acc", "params", "MACs", "MB/sample", "configuration"], rows)


def _correlation(ctx: ReportContext) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pairs = budget_rank_correlations(ctx.phase("search"))
    ctx.data["rank_correlations"] = [{k: v for k, v in p.items() if k != "losses"} for p in pairs]
    if not pairs:
        return "## Rank correlation between budgets\n\nOnly one budget was evaluated."
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.6 * len(pairs), 3.4), squeeze=False)
    for ax, p in zip(axes[0], pairs):
        if p["losses"]:
            x, y = zip(*p["losses"])
            ax.scatter(x, y, s=14)
        ax.set_xlabel(f"val error @ {_fmt(p['budget_low'], 3)} ep")
        ax.set_ylabel(f"val error @ {_fmt(p['budget_high'], 3)} ep")
        ax.set_title(f"Spearman {_fmt(p['spearman'], 2)} (n={p['n']})", fontsize=9)
        ax.grid(alpha=0.3)
    ctx.save_figure(fig, "budget_correlation.png")
    rows = [(p["budget_low"], p["budget_high"], p["n"], p["spearman"], p["kendall"]) for p in pairs]
    return ("## Rank correlation between budgets\n\nSame configurations (Successive Halving promotions) on "
            "consecutive budgets; '-' where fewer than 3 share both budgets.\n\n"
            "![budget correlation](budget_correlation.png)\n\n"
            + _table(["budget low", "budget high", "configs", "Spearman", "Kendall tau"], rows))


def _final(ctx: ReportContext) -> str | None:
    from .engine.pyro import summarize_final

    final = ctx.phase("final")
    if not final:
        return None
    summary = summarize_final(final)
    ctx.data["final"] = summary
    rows = [(r.get("seed"), r["status"], r.get("loss"), (r.get("info") or {}).get("test_accuracy"),
             (r.get("info") or {}).get("params"), r.get("error") or "") for r in final]
    head = (f"## Best generator, new samples\n\n{summary['ok']} of {summary['samples']} networks sampled from "
            f"the best generator (new seeds), each trained for {_fmt(summary['budget'], 3)} epochs: validation "
            f"error {_fmt(summary['val_error_mean'])} ± {_fmt(summary['val_error_std'])}, test accuracy "
            f"{_fmt(summary['test_accuracy_mean'])} ± {_fmt(summary['test_accuracy_std'])} (mean ± std).\n\n")
    return head + _table(["seed", "status", "val error", "test acc", "params", "error"], rows)


def _failures(ctx: ReportContext) -> str | None:
    bad = [r for r in ctx.records if r["status"] != "ok"]
    if not bad:
        return None
    rows = [(r.get("phase", "search"), ",".join(map(str, r["job_id"])), r["budget"], r["status"],
             (r.get("error") or "")[:120]) for r in bad[:50]]
    more = f"\n\n({len(bad) - 50} more in results.jsonl)" if len(bad) > 50 else ""
    return "## Failed and crashed evaluations\n\n" + _table(["phase", "job", "budget", "status", "reason"], rows) + more


register_section("overview", _overview, order=0)
register_section("trajectory", _trajectory, order=10)
register_section("best", _best, order=20)
register_section("correlation", _correlation, order=30)
register_section("final", _final, order=40)
register_section("failures", _failures, order=90)


def _load_plugins(strategy: str) -> None:
    for name in (f"search.{strategy}.report", f"search.report_{strategy}"):
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is None or not name.startswith(exc.name):
                raise


def build_report(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Write the report of a run directory into `out_dir` (default: <run_dir>/report; its files are
    regenerated, the run's own files are only read). Returns {"summary": path, "best_config": path or None,
    "files": [...], "data": {...}}."""
    store = RunStore.open(run_dir)  # read-only: validates, skips a truncated last line with a warning
    out = Path(out_dir) if out_dir is not None else store.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    ctx = ReportContext(store.path, out, store.settings, store.results(), store.sessions())
    _load_plugins(ctx.strategy)
    parts = [f"# NAGO search report: {store.path.name}\n\nGenerated {time.strftime('%Y-%m-%d %H:%M:%S')} "
             f"from `{store.path}`."]
    for _, _, fn, strategies in list(_SECTIONS):
        if strategies is not None and ctx.strategy not in strategies:
            continue
        text = fn(ctx)
        if text:
            parts.append(text)
    best_path = None
    params = best_params(ctx) if ctx.phase("search") else None
    if params is not None:
        best_path = out / BEST_CONFIG_FILE
        best_path.write_text(json.dumps(params, indent=1) + "\n")
        ctx.files.append(best_path)
        parts.append(f"## Best configuration\n\n`{BEST_CONFIG_FILE}` holds the incumbent's generator "
                     f"hyperparameters and seed; train it with `nago train --config {best_path}`.")
    summary = out / SUMMARY_FILE
    summary.write_text("\n\n".join(parts) + "\n")
    ctx.files.append(summary)
    return {"summary": summary, "best_config": best_path, "files": ctx.files, "data": ctx.data}
