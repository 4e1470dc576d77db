"""The one report path: the report of any run directory (any strategy, any space, one or several objectives,
one or several seeds), read from the run's records only (search.json, log.jsonl, sessions.jsonl).

    summary = build_report("runs/bohb-hnag")      # writes runs/bohb-hnag/report/
    run = load_run("runs/bohb-hnag")              # the records, for benchmarks

report/ holds report.md, summary.json (what `build_report` returns), PNG plots and configs/*.json:

- overview: settings, evaluations per seed (ok / failed / crashed, unfinished), total budget, wall time
  (gaps between sessions left out), failure reasons grouped and counted (`run`);
- one objective: best-so-far against evaluations, wall time and cumulative budget (mean ± std over seeds;
  hpbandster's incumbent rule: only ok results at the max budget count), the best configurations, and with a
  known optimum the regret and the evaluations each seed needed to find it (`trajectory`);
- several objectives: the Pareto front of the ok max-budget results per seed and pooled, front.csv/front.json,
  pareto.png, hypervolume against evaluations, wall time and total budget with the reference point stated (and
  at 25/50/75/100 % of the total budget when there are several budgets), and with a known front the fraction
  of its hypervolume reached after 50/100/200 evaluations (`pareto_front`);
- several objectives with `--final-samples`: each re-sampled Pareto-optimal configuration's mean ± std, the
  front of the means with error bars, resampled.png (`resampled`);
- several budgets: Spearman rank correlation between every pair of budgets (`fidelity`);
- results of other phases (e.g. "final"), counted and averaged.

Configurations on the front, or the best ones, are written as files (`configs`): generator hyperparameters
plus seed for generator spaces (`nago train --config FILE`), {"arch": ...} for cells.
"""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from . import fidelity, pareto_front, resampled, trajectory
from .configs import ConfigWriter
from .markdown import Output, fmt, jsonable, mean_std, table
from .run import Run, load_run, metric

__all__ = ["build_report", "load_run", "Run"]

REPORT_FILE = "report.md"
SUMMARY_FILE = "summary.json"


def build_report(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Write the report of a run directory into `out_dir` (default <run_dir>/report; the run's own files are
    only read) and return its JSON-able summary (also written as summary.json): the overview numbers, "single"
    (per-seed best-so-far, wall time and budget arrays, incumbents, evaluations to the optimum) or "multi"
    (reference point, per-seed hypervolume, cumulative budget and wall time arrays, front sizes, fraction of the
    true front's hypervolume) and "resampled" (final samples of a multi-objective run), "budget_correlation",
    and the paths written ("report", "configs", "best_config", "files"). Seeds are string keys (JSON), missing
    values None."""
    run = load_run(run_dir)
    out = Output(Path(out_dir) if out_dir is not None else run.path / "report")
    # configuration files of an earlier report of this run
    for pattern in ("best_*.json", "front_*.json", "final_*.json"):
        for stale in (out.root / "configs").glob(pattern):
            stale.unlink()
    writer = ConfigWriter(run)
    summary: dict[str, Any] = _overview_data(run)
    parts = [f"# Search report: {run.path.name}\n\nFrom the records of `{run.path}`.", _overview(run, summary)]
    if len(run.objectives) == 1:
        text, summary["single"] = trajectory.section(run, out, writer)
    else:
        text, summary["multi"] = pareto_front.section(run, out, writer)
        again = resampled.section(run, out, writer)
        if again is not None:
            text += "\n\n" + again[0]
            summary["resampled"] = again[1]
    parts.append(text)
    correlation = fidelity.section(run, out)
    if correlation is not None:
        parts.append(correlation[0])
        summary["budget_correlation"] = correlation[1]["pairs"]
    if run.other:
        parts.append(_other_phases(run))
    report = out.text(REPORT_FILE, "\n\n".join(parts) + "\n")
    configs = [str(p) for p in out.files if p.parent.name == "configs"]
    summary.update(report=str(report), configs=configs, best_config=configs[0] if configs else None)
    summary["files"] = [str(p) for p in out.files] + [str(out.root / SUMMARY_FILE)]
    out.json(SUMMARY_FILE, summary)
    return json.loads(json.dumps(jsonable(summary), allow_nan=False))


def _overview_data(run: Run) -> dict[str, Any]:
    failures: Counter[tuple[str, str]] = Counter()
    seeds_of: dict[tuple[str, str], set[int]] = {}
    for seed, rs in run.results.items():
        for r in rs:
            status = run.status(r)
            if status != "ok":
                key = (status, run.reason(r))
                failures[key] += 1
                seeds_of.setdefault(key, set()).add(seed)
    evaluator = run.settings.get("evaluator") or {}
    return {
        "run_dir": str(run.path), "strategy": run.settings.get("strategy"), "space": run.settings.get("space"),
        "evaluator": evaluator.get("kind") if isinstance(evaluator, dict) else evaluator,
        "objectives": run.objectives, "seeds": run.seeds, "max_budget": run.max_budget, "budgets": run.budgets,
        "counts": run.counts(), "evaluations": sum(run.counts().values()), "total_budget": run.total_budget(),
        "wall_s": run.run_wall_s, "sessions": len(run.sessions),
        "per_seed": {s: {"evaluations": len(run.results.get(s, [])), **run.counts(s),
                         "unfinished": run.unfinished.get(s, 0), "budget": run.total_budget(s),
                         "wall_s": run.wall_s.get(s, 0.0)} for s in run.seeds},
        "failures": [{"status": st, "reason": reason, "count": n, "seeds": sorted(seeds_of[(st, reason)])}
                     for (st, reason), n in failures.most_common()],
    }


def _overview(run: Run, data: dict[str, Any]) -> str:
    s = run.settings
    evaluator = s.get("evaluator") or {}
    rows = [("strategy", s.get("strategy")), ("space", s.get("space")),
            ("space options", json.dumps(s.get("space_options") or {}, sort_keys=True)),
            ("evaluator", json.dumps(evaluator, sort_keys=True) if isinstance(evaluator, dict) else evaluator),
            ("objectives (minimised, first = primary)", ", ".join(run.objectives)),
            ("seeds", ", ".join(map(str, run.seeds)) or "-"),
            ("max budget", run.max_budget), ("budgets evaluated", ", ".join(fmt(b) for b in run.budgets) or "-"),
            ("run id", s.get("run_id")), ("sessions", len(run.sessions))]
    c = data["counts"]
    rows += [("evaluations", f"{data['evaluations']} ({c['ok']} ok, {c['failed']} failed, {c['crashed']} crashed)"),
             ("total budget (sum of budgets)", data["total_budget"]),
             ("wall time (gaps between sessions left out)", f"{fmt(data['wall_s'])} s")]
    parts = ["## Overview", table(["setting", "value"], [(k, "-" if v is None else v if isinstance(v, str)
                                                          else fmt(v)) for k, v in rows])]
    if not data["evaluations"]:
        parts.append("No evaluation has finished yet.")
        return "\n\n".join(parts)
    parts.append(table(["seed", "evaluations", "ok", "failed", "crashed", "unfinished", "budget", "wall time (s)"],
                       [(seed, d["evaluations"], d["ok"], d["failed"], d["crashed"], d["unfinished"], d["budget"],
                         d["wall_s"]) for seed, d in data["per_seed"].items()]))
    if any(d["unfinished"] for d in data["per_seed"].values()):
        parts.append("Unfinished: jobs asked for without a result (running when the last session ended; a resume "
                     "runs them again).")
    if data["failures"]:
        parts.append("### Failures\n\n" + table(["status", "reason", "count", "seeds"],
                                                 [(f["status"], f["reason"], f["count"],
                                                   ", ".join(map(str, f["seeds"]))) for f in data["failures"]]))
    return "\n\n".join(parts)


def _other_phases(run: Run) -> str:
    names = run.objectives + [m for m in ("test_error",) if m not in run.objectives]
    phases: dict[str, list[dict[str, Any]]] = {}
    for r in run.other:
        phases.setdefault(str(r.get("phase")), []).append(r)
    rows = []
    for phase, rs in phases.items():
        ok = [r for r in rs if r.get("status") == "ok"]
        rows.append((phase, len(rs), len(ok), *[mean_std(metric(r, n) for r in ok) for n in names]))
    return ("## Other phases\n\nResults outside the search (e.g. the best configuration retrained with new "
            "seeds): mean ± std over the ok ones.\n\n"
            + table(["phase", "results", "ok", *names], rows))
