"""Report of a multi-objective (MOBO) run: the Pareto front and its hypervolume.

`build_mobo_report(run_dir)` writes, besides the sections every search gets (`search.report`):

    pareto.csv, pareto.json     the Pareto-optimal evaluations (all objectives, budget, seed, configuration,
                                iteration; the JSON also holds the reference point and the hypervolume per
                                iteration)
    pareto.png                  every successful evaluation, coloured by iteration (warm start in grey), with
                                the front drawn (one panel per pair: first objective against each other one)
    hypervolume.png             hypervolume of all evaluations up to each iteration (iteration 0 = warm start)
    pareto_configs/pareto_NN.json  each front configuration as generator hyperparameters + seed, accepted by
                                `nago train --config FILE`
    summary.md                  with the sections "Multi-objective search", "Pareto front", "Hypervolume per
                                iteration" and "Proposals and surrogate fits"

The front is taken over the warm-start evaluations and the run's own ones together (the warm start is part of
what the search knows). The hypervolume's reference point is the run's `--reference-point` when one was
given, otherwise the worst value of each objective over all complete evaluations plus 10 % of its range; it is
always stated next to the number. Importing this module registers its sections (for runs whose strategy is
"mobo"); `nago report` dispatches here for such runs.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Mapping

from .mobo_search import (OBJECTIVE_LABELS, STRATEGY, evaluated_points, front_and_hypervolume, read_proposals,
                          read_warm_start)
from .report import ReportContext, _fmt, _table, build_report, register_section

PARETO_CSV = "pareto.csv"
PARETO_JSON = "pareto.json"
PARETO_PNG = "pareto.png"
HYPERVOLUME_PNG = "hypervolume.png"
CONFIG_DIR = "pareto_configs"
LOG_SCALE = {"memory_mb", "latency_ms", "params", "macs"}


def _points(ctx: ReportContext) -> tuple[list[str], list[dict[str, Any]], dict[str, Any]]:
    if "_mobo" not in ctx.data:
        names = list(ctx.settings.get("objectives") or [])
        warm = read_warm_start(ctx.run_dir)
        points = evaluated_points(ctx.settings, ctx.records, warm)
        ctx.data["_mobo"] = (names, points, front_and_hypervolume(points, ctx.settings.get("reference_point")))
    return ctx.data["_mobo"]


def config_params(record: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """Generator hyperparameters + seed of an evaluation: a dict `nago train --config` accepts."""
    params = (record.get("info") or {}).get("generator_params")
    if params is None:
        from .spaces import params_from_config

        shape = tuple(settings.get("input_shape") or (3, 32, 32))
        params = params_from_config(settings["space_context"], record["config"], shape,
                                    int(settings.get("num_classes", 10))).to_dict()
    return {**params, "seed": int(record.get("seed", settings.get("seed", 0)) or 0)}


# ---------------------------------------------------------------------------------------------------------
# sections
# ---------------------------------------------------------------------------------------------------------
def _settings_section(ctx: ReportContext) -> str:
    s = ctx.settings
    names, points, _ = _points(ctx)
    warm = [p for p in points if p["iteration"] == 0]
    rows = [("objectives (minimised)", ", ".join(names)), ("batch size", s.get("batch_size")),
            ("iterations", s.get("iterations")), ("budget (epochs)", s.get("budget")),
            ("surrogate", f"{s.get('surrogate')} BNN" + (f" {json.dumps(s['surrogate_options'], sort_keys=True)}"
                                                          if s.get("surrogate_options") else "")),
            ("proposer options", json.dumps(s.get("mobo_options") or {}, sort_keys=True)),
            ("warm start", f"{len(warm)} evaluations of {s.get('init_from')} at {_fmt(s.get('init_budget'), 3)} "
                           "epochs" if s.get("init_from") else "none")]
    exact = [n for n in names if n == "params"]
    note = ("\n\nExact objectives (computed from the generated spec, no surrogate): " + ", ".join(exact)
            if exact else "")
    return "## Multi-objective search\n\n" + _table(["setting", "value"], [(k, str(v)) for k, v in rows]) + note


def _front_rows(ctx: ReportContext) -> list[dict[str, Any]]:
    names, points, fh = _points(ctx)
    rows = []
    for i in sorted(fh["front"], key=lambda i: tuple(points[i]["values"])):
        p = points[i]
        r = p["record"]
        info = r.get("info") or {}
        rows.append({"iteration": p["iteration"], "source": p["source"], "job_id": r.get("job_id"),
                     "status": r.get("status"), "budget": r.get("budget"), "seed": r.get("seed"),
                     **{n: v for n, v in zip(names, p["values"])},
                     "test_accuracy": info.get("test_accuracy"), "params": info.get("params"),
                     "macs": info.get("macs"), "memory_mb_per_sample": info.get("memory_mb_per_sample"),
                     "latency_ms": info.get("latency_ms"), "spec_hash": info.get("spec_hash"),
                     "config": r.get("config"), "_record": r})
    return rows


def _write_front(ctx: ReportContext, rows: list[dict[str, Any]]) -> None:
    names, _, fh = _points(ctx)
    config_dir = ctx.out_dir / CONFIG_DIR
    config_dir.mkdir(exist_ok=True)
    for stale in config_dir.glob("pareto_*.json"):
        stale.unlink()
    for k, row in enumerate(rows, 1):
        path = config_dir / f"pareto_{k:02d}.json"
        try:
            params = config_params(row["_record"], ctx.settings)
        except (KeyError, ValueError) as exc:  # no valid hyperparameters for this record: leave it out
            row["config_file"] = f"- ({exc})"
            continue
        path.write_text(json.dumps(params, indent=1) + "\n")
        ctx.files.append(path)
        row["config_file"] = str(path.relative_to(ctx.out_dir))
        row["rank"] = k
    plain = [{k: v for k, v in row.items() if not k.startswith("_")} for row in rows]
    columns = (["rank", "iteration", "source", "job_id", "budget", "seed", *names]
               + [c for c in ("test_accuracy", "params", "macs", "memory_mb_per_sample", "latency_ms")
                  if c not in names] + ["spec_hash", "config_file", "config"])
    with open(ctx.out_dir / PARETO_CSV, "w", newline="") as fh_csv:
        writer = csv.writer(fh_csv)
        writer.writerow(columns)
        for row in plain:
            writer.writerow([json.dumps(row.get(c), sort_keys=True) if isinstance(row.get(c), (dict, list))
                             else ("" if row.get(c) is None else row.get(c)) for c in columns])
    ctx.files.append(ctx.out_dir / PARETO_CSV)
    doc = {"run_dir": str(ctx.run_dir), "objectives": names, "minimised": True,
           "reference_point": fh["reference_point"], "reference_point_source": fh["reference_source"],
           "hypervolume": fh["hypervolume"],
           "hypervolume_per_iteration": [{"iteration": i, "hypervolume": h}
                                         for i, h in zip(fh["iterations"], fh["hypervolume_per_iteration"])],
           "front": plain}
    (ctx.out_dir / PARETO_JSON).write_text(json.dumps(_json_safe(doc), indent=1) + "\n")
    ctx.files.append(ctx.out_dir / PARETO_JSON)
    ctx.data["pareto"] = doc


def _json_safe(value: Any) -> Any:
    from .evaluation import json_safe

    return json_safe(value)


def _plot_front(ctx: ReportContext, rows: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    names, points, _ = _points(ctx)
    complete = [p for p in points if p["complete"]]
    pairs = [(0, k) for k in range(1, len(names))]
    fig, axes = plt.subplots(1, len(pairs), figsize=(5.6 * len(pairs), 4.4), squeeze=False)
    its = [p["iteration"] for p in complete]
    top = max(its + [1])
    front = np.array([[row[n] for n in names] for row in rows], dtype=np.float64).reshape(len(rows), len(names))
    for ax, (a, b) in zip(axes[0], pairs):
        warm = [p for p in complete if p["iteration"] == 0]
        own = [p for p in complete if p["iteration"] > 0]
        if warm:
            ax.scatter([p["values"][a] for p in warm], [p["values"][b] for p in warm], s=18, marker="x",
                       color="0.6", label="warm start")
        if own:
            sc = ax.scatter([p["values"][a] for p in own], [p["values"][b] for p in own], s=22,
                            c=[p["iteration"] for p in own], cmap=plt.get_cmap("viridis", max(top, 2)),
                            vmin=0.5, vmax=max(top, 2) + 0.5,
                            label="evaluations")
            from matplotlib.ticker import MaxNLocator

            bar = fig.colorbar(sc, ax=ax, label="iteration")
            bar.locator = MaxNLocator(integer=True)
            bar.update_ticks()
        if len(front):
            if len(names) == 2:
                order = np.argsort(front[:, a], kind="stable")
                ax.step(front[order, a], front[order, b], where="post", color="crimson", lw=1.2,
                        label="Pareto front")
            ax.scatter(front[:, a], front[:, b], s=70, facecolors="none", edgecolors="crimson", lw=1.3,
                       label="Pareto-optimal" if len(names) == 2 else "Pareto-optimal (all objectives)")
        for axis, k in (("x", a), ("y", b)):
            values = [p["values"][k] for p in complete]
            if names[k] in LOG_SCALE and values and min(values) > 0 and max(values) / min(values) > 10:
                (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
        ax.set_xlabel(OBJECTIVE_LABELS.get(names[a], names[a]))
        ax.set_ylabel(OBJECTIVE_LABELS.get(names[b], names[b]))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"MOBO on {ctx.settings.get('dataset')} ({ctx.settings.get('space')}): {len(complete)} "
                 f"evaluations, {len(rows)} Pareto-optimal")
    ctx.save_figure(fig, PARETO_PNG)


def _pareto_section(ctx: ReportContext) -> str:
    names, points, fh = _points(ctx)
    rows = _front_rows(ctx)
    _write_front(ctx, rows)
    if not rows:
        return "## Pareto front\n\nNo evaluation with every objective yet."
    _plot_front(ctx, rows)
    missing = sum(not p["complete"] for p in points)
    table = _table(["rank", "iteration", *names, "test acc", "params", "configuration file"],
                   [(row.get("rank", "-"), row["iteration"], *[row[n] for n in names], row["test_accuracy"],
                     row["params"], f"`{row['config_file']}`") for row in rows])
    ref = ", ".join(f"{n} = {_fmt(v)}" for n, v in zip(names, fh["reference_point"]))
    return (f"## Pareto front\n\n{len(rows)} of {len(points) - missing} complete evaluations are Pareto-optimal "
            f"(all objectives minimised; warm start included"
            + (f"; {missing} evaluations without every objective left out" if missing else "")
            + f"). Hypervolume {_fmt(fh['hypervolume'], 6)} with reference point ({ref}) "
            f"[{fh['reference_source']}].\n\n![Pareto front]({PARETO_PNG})\n\n" + table
            + f"\n\n`{PARETO_CSV}` and `{PARETO_JSON}` hold the front; each configuration file is accepted by "
              f"`nago train --config {ctx.out_dir / CONFIG_DIR}/pareto_01.json`.")


def _hypervolume_section(ctx: ReportContext) -> str | None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names, points, fh = _points(ctx)
    if fh["reference_point"] is None or not fh["iterations"]:
        return None
    counts: dict[int, int] = {}
    for p in points:
        counts[p["iteration"]] = counts.get(p["iteration"], 0) + 1
    fig, ax = plt.subplots(figsize=(5.6, 3.6))
    ax.plot(fh["iterations"], fh["hypervolume_per_iteration"], marker="o")
    ax.set_xlabel("iteration (0 = warm start)" if 0 in counts else "iteration")
    ax.set_ylabel("hypervolume")
    ax.grid(alpha=0.3)
    ref = ", ".join(f"{n}={_fmt(v, 3)}" for n, v in zip(names, fh["reference_point"]))
    ax.set_title(f"reference point ({ref})", fontsize=9)
    ctx.save_figure(fig, HYPERVOLUME_PNG)
    cumulative, rows = 0, []
    for it, hv in zip(fh["iterations"], fh["hypervolume_per_iteration"]):
        cumulative += counts.get(it, 0)
        rows.append((it, counts.get(it, 0), cumulative, hv))
    ref_text = ", ".join(f"{n} = {_fmt(v)}" for n, v in zip(names, fh["reference_point"]))
    return (f"## Hypervolume per iteration\n\nHypervolume (raw objective units) dominated by all evaluations up "
            f"to each iteration; reference point ({ref_text}) [{fh['reference_source']}].\n\n"
            f"![hypervolume]({HYPERVOLUME_PNG})\n\n"
            + _table(["iteration", "evaluations", "cumulative", "hypervolume"], rows))


def _proposals_section(ctx: ReportContext) -> str | None:
    names, points, _ = _points(ctx)
    proposals = read_proposals(ctx.run_dir)
    if not proposals:
        return None
    learned = [n for n in names if n != "params"]
    by_it: dict[int, list[dict[str, Any]]] = {}
    for p in points:
        by_it.setdefault(p["iteration"], []).append(p)
    rows = []
    fits = []
    for it in sorted(proposals):
        line = proposals[it]
        fit = line.get("fit_time_s") or {}
        if fit:
            fits.append(sum(v for v in fit.values() if isinstance(v, (int, float))))
        radii = line.get("radii") or []
        done = by_it.get(it, [])
        rows.append((it, "initial design" if line.get("initial_design") else "BNN + USeMO",
                     f"{sum(p['record'].get('status') == 'ok' for p in done)}/{len(line['configs'])}",
                     *[fit.get(n) for n in learned], line.get("propose_time_s"), line.get("n_candidates"),
                     (sum(radii) / len(radii)) if radii else None))
    mean_fit = (f" Mean surrogate fit time per model-based iteration: {_fmt(sum(fits) / len(fits), 3)} s "
                f"(all learned objectives)." if fits else "")
    return ("## Proposals and surrogate fits\n\nOne line per iteration (from `mobo.jsonl`): fit time of each "
            f"learned objective's {ctx.settings.get('surrogate')} BNN, total proposal time (fits, acquisition, "
            "batch selection), candidates scored, mean penalisation radius (unit hypercube)." + mean_fit + "\n\n"
            + _table(["iteration", "proposal", "ok", *[f"fit {n} (s)" for n in learned], "propose (s)",
                      "candidates", "mean radius"], rows))


register_section("mobo_settings", _settings_section, order=1, strategies=(STRATEGY,))
register_section("pareto", _pareto_section, order=2, strategies=(STRATEGY,))
register_section("hypervolume", _hypervolume_section, order=3, strategies=(STRATEGY,))
register_section("mobo_proposals", _proposals_section, order=4, strategies=(STRATEGY,))


def build_mobo_report(run_dir: str | Path, out_dir: str | Path | None = None) -> dict[str, Any]:
    """`search.report.build_report` with the multi-objective sections; returns its dict plus "pareto" (the
    content of pareto.json) and "pareto_configs" (paths of the exported configuration files)."""
    result = build_report(run_dir, out_dir)
    data = result["data"]
    data.pop("_mobo", None)
    result["pareto"] = data.get("pareto")
    result["pareto_configs"] = [p for p in result["files"] if Path(p).parent.name == CONFIG_DIR]
    return result


def is_mobo_run(run_dir: str | Path) -> bool:
    """True when `run_dir` holds a multi-objective search (read from search.json; False when unreadable)."""
    try:
        settings = json.loads((Path(run_dir) / "search.json").read_text())
    except (OSError, ValueError):
        return False
    return isinstance(settings, dict) and settings.get("strategy") == STRATEGY

