"""The paper's protocol for judging a generator: re-sample networks from the best generator and train each.

After the search, the incumbent of every seed (its best successful evaluation at the largest budget) is trained
`final_samples` more times at the largest budget, each job given a new seed (search seed + 1, + 2, ...) from
which the evaluator's rule draws a new network: the seed itself with `fixed_architecture`, else a seed derived
from (seed, configuration, budget) (`search.evaluators.training.architecture_seed`); the evaluation records it
in `info["architecture_seed"]`. The results are logged with phase "final" (job ids -1, -2, ...), which the
search's replay ignores; a resume runs only the samples that have no result yet. The report shows their mean
and spread.

With several objectives there is no single incumbent: every Pareto-optimal configuration of a seed (its
successful results at the largest budget that has one, non-dominated in all objectives, one per configuration,
in log order) is re-sampled `final_samples` times, the m-th of them with job ids -(m K + 1) .. -(m K + K); the
report shows the front of their means with the spread as error bars.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Iterator, Mapping

from .engine.store import RunLog
from .spaces.base import canonical_json

__all__ = ["final_samples", "incumbent", "pareto_set"]


def incumbent(results: list[Mapping[str, Any]], objective: str) -> Mapping[str, Any] | None:
    """The best successful search result at the largest budget that has one (hpbandster's incumbent rule)."""
    ok = [r for r in results if r["status"] == "ok" and isinstance((r.get("metrics") or {}).get(objective),
                                                                     (int, float))]
    if not ok:
        return None
    top = max(float(r["budget"]) for r in ok)
    return min((r for r in ok if math.isclose(float(r["budget"]), top)), key=lambda r: r["metrics"][objective])


def pareto_set(results: list[Mapping[str, Any]], objectives: list[str]) -> list[Mapping[str, Any]]:
    """The successful results at the largest budget that has one that are Pareto-optimal in `objectives`, in log
    order, the first of each configuration."""
    from .pareto import non_dominated_mask

    def values(r: Mapping[str, Any]) -> list[float] | None:
        m = r.get("metrics") or {}
        v = [m.get(o) for o in objectives]
        ok = all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in v)
        return [float(x) for x in v] if ok else None

    ok = [r for r in results if r["status"] == "ok" and values(r) is not None]
    if not ok:
        return []
    top = max(float(r["budget"]) for r in ok)
    ok = [r for r in ok if math.isclose(float(r["budget"]), top)]
    keep = non_dominated_mask([values(r) for r in ok])
    first: dict[str, Mapping[str, Any]] = {}
    for r, on_front in zip(ok, keep):
        if on_front:
            first.setdefault(canonical_json(r["config"]), r)
    return list(first.values())


def _targets(events: list[dict[str, Any]], settings: Mapping[str, Any]
             ) -> Iterator[tuple[int, int, Mapping[str, Any]]]:
    """(seed, index m, result) of each configuration to re-sample: the incumbent, or each Pareto-optimal one."""
    objectives = list(settings["objectives"])
    for seed in settings["seeds"]:
        search = [e for e in events if e["event"] == "result" and e.get("seed") == seed
                  and e.get("phase", "search") == "search"]
        if len(objectives) > 1:
            chosen = pareto_set(search, objectives)
        else:
            best = incumbent(search, objectives[0])
            chosen = [best] if best is not None else []
        for m, record in enumerate(chosen):
            yield seed, m, record


def final_samples(pool: Any, log: RunLog, settings: Mapping[str, Any],
                  on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Train each seed's incumbent (with several objectives: each Pareto-optimal configuration)
    `settings["final_samples"]` times on new seeds (see above)."""
    k = int(settings["final_samples"])
    events = log.events()
    out: list[dict[str, Any]] = []
    for seed, m, best in _targets(events, settings):
        results = [e for e in events if e["event"] == "result" and e.get("seed") == seed]
        done = {int(r["job"]): r for r in results if r.get("phase") == "final"
                and canonical_json(r["config"]) == canonical_json(best["config"])}
        todo = {}
        for i in range(k):
            job = -(m * k + i + 1)
            if job in done:
                out.append(done[job])
                continue
            todo[job] = seed + 1 + i
        for job, sample_seed in todo.items():
            pool.submit(job, best["config"], float(settings["max_budget"]), sample_seed)
        while todo:
            for finished in pool.wait():
                todo.pop(finished.job_id)
                ev = finished.evaluation
                record = log.append({
                    "event": "result", "seed": seed, "phase": "final", "job": finished.job_id,
                    "config": best["config"], "budget": float(settings["max_budget"]), "status": ev.status,
                    "metrics": {k2: (v if not isinstance(v, float) or math.isfinite(v) else None)
                                for k2, v in ev.metrics.items()},
                    "error": ev.error, "info": {**ev.info, "of_job": best["job"]},
                    "worker": finished.worker, "eval_s": round(float(finished.eval_s), 6)})
                out.append(record)
                if on_result is not None:
                    on_result(record)
    return out
