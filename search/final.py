"""The paper's protocol for judging a generator: re-sample networks from the best generator and train each.

After the search, the incumbent of every seed (its best successful evaluation at the largest budget) is trained
`final_samples` more times at the largest budget, each network sampled with a new architecture seed (search seed
+ 1, + 2, ...). The results are logged with phase "final" (job ids -1, -2, ...), which the search's replay
ignores; a resume runs only the samples that have no result yet. The report shows their mean and spread.
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from .engine.store import RunLog
from .spaces.base import canonical_json

__all__ = ["final_samples", "incumbent"]


def incumbent(results: list[Mapping[str, Any]], objective: str) -> Mapping[str, Any] | None:
    """The best successful search result at the largest budget that has one (hpbandster's incumbent rule)."""
    ok = [r for r in results if r["status"] == "ok" and isinstance((r.get("metrics") or {}).get(objective),
                                                                     (int, float))]
    if not ok:
        return None
    top = max(float(r["budget"]) for r in ok)
    return min((r for r in ok if math.isclose(float(r["budget"]), top)), key=lambda r: r["metrics"][objective])


def final_samples(pool: Any, log: RunLog, settings: Mapping[str, Any],
                  on_result: Callable[[dict[str, Any]], None] | None = None) -> list[dict[str, Any]]:
    """Train each seed's incumbent `settings["final_samples"]` times on new architecture seeds (see above)."""
    k = int(settings["final_samples"])
    objective = settings["objectives"][0]
    events = log.events()
    out: list[dict[str, Any]] = []
    for seed in settings["seeds"]:
        results = [e for e in events if e["event"] == "result" and e.get("seed") == seed]
        best = incumbent([r for r in results if r.get("phase", "search") == "search"], objective)
        if best is None:
            continue
        done = {int(r["job"]): r for r in results if r.get("phase") == "final"
                and canonical_json(r["config"]) == canonical_json(best["config"])}
        todo = {}
        for i in range(k):
            job = -(i + 1)
            if job in done:
                out.append(done[job])
                continue
            todo[job] = seed + 1 + i
        for job, arch_seed in todo.items():
            pool.submit(job, best["config"], float(settings["max_budget"]), arch_seed)
        while todo:
            for finished in pool.wait():
                arch_seed = todo.pop(finished.job_id)
                ev = finished.evaluation
                record = log.append({
                    "event": "result", "seed": seed, "phase": "final", "job": finished.job_id,
                    "config": best["config"], "budget": float(settings["max_budget"]), "status": ev.status,
                    "metrics": {k2: (v if not isinstance(v, float) or math.isfinite(v) else None)
                                for k2, v in ev.metrics.items()},
                    "error": ev.error, "info": {**ev.info, "architecture_seed": arch_seed, "of_job": best["job"]},
                    "worker": finished.worker, "eval_s": round(float(finished.eval_s), 6)})
                out.append(record)
                if on_result is not None:
                    on_result(record)
    return out
