"""A run directory as the reports see it: settings, the search phase's results per seed, sessions, and the
search's wall time at every result. Read from the run store's files only (see `search.engine.store`).

Wall time leaves out the time between sessions (a search stopped on Friday and resumed on Monday did not run
over the weekend). Within one session, a seed's clock runs from the session's start when that seed was the
first to act in the session (seeds run side by side all start there), or from the seed's own first event when
another seed acted before it (seeds run one after another in one session), to the seed's last event.

A result counts as *ok* when its status is "ok" and it has a finite value of every objective; an "ok" result
that lacks one is counted as failed, as the engine told the strategy (`search.engine.driver.to_result`).
"""
from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from ..engine.store import SESSIONS_FILE, read_jsonl, read_log, read_settings

__all__ = ["Run", "load_run", "config_key", "metric"]

STATUSES = ("ok", "failed", "crashed")


def config_key(config: Mapping[str, Any]) -> str:
    """The identity of a configuration across log lines (its canonical JSON)."""
    return json.dumps(config, sort_keys=True, separators=(",", ":"))


def metric(record: Mapping[str, Any], name: str) -> float | None:
    """A finite metric of a result line, else None."""
    v = (record.get("metrics") or {}).get(name)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        return None
    return float(v)


@dataclass
class Run:
    """What a report reads from a run directory.

    results: per seed (ascending), the search phase's result lines in log order;
    elapsed: per seed, the search's wall time (s) at each of those results (see the module docstring);
    wall_s: per seed, its total wall time; unfinished: per seed, jobs asked for and without a result (they were
    running when the last session ended); other: result lines of other phases (e.g. "final")."""

    path: Path
    settings: dict[str, Any]
    sessions: list[dict[str, Any]]
    results: dict[int, list[dict[str, Any]]]
    elapsed: dict[int, np.ndarray]
    wall_s: dict[int, float]
    unfinished: dict[int, int]
    other: list[dict[str, Any]] = field(default_factory=list)

    # -- settings -----------------------------------------------------------------------------------------
    @property
    def objectives(self) -> list[str]:
        return [str(o) for o in self.settings["objectives"]]

    @property
    def primary(self) -> str:
        return self.objectives[0]

    @property
    def seeds(self) -> list[int]:
        return sorted(set(int(s) for s in self.settings.get("seeds") or []) | set(self.results))

    @property
    def known(self) -> dict[str, Any]:
        return dict(self.settings.get("known") or {})

    @property
    def budgets(self) -> list[float]:
        """The distinct budgets of the search's results, ascending."""
        return sorted({float(r["budget"]) for rs in self.results.values() for r in rs})

    @property
    def max_budget(self) -> float | None:
        """The settings' max_budget, else the largest budget evaluated (None when nothing was)."""
        if self.settings.get("max_budget") is not None:
            return float(self.settings["max_budget"])
        return self.budgets[-1] if self.budgets else None

    @property
    def multi_fidelity(self) -> bool:
        return len(self.budgets) > 1

    @property
    def run_wall_s(self) -> float:
        """The run's wall time: each session from its start to its last result, gaps left out."""
        starts = {s.get("session"): float(s["started"]) for s in self.sessions if "started" in s}
        last: dict[Any, float] = {}
        first: dict[Any, float] = {}
        for rs in self.results.values():
            for r in rs:
                if r.get("t") is not None:
                    s = r.get("session")
                    last[s] = max(last.get(s, -math.inf), float(r["t"]))
                    first[s] = min(first.get(s, math.inf), float(r["t"]))
        return float(sum(max(0.0, t - starts.get(s, first[s])) for s, t in last.items()))

    # -- results ------------------------------------------------------------------------------------------
    def status(self, record: Mapping[str, Any]) -> str:
        """"ok", "failed" or "crashed" (an ok line without every objective is failed)."""
        s = str(record.get("status"))
        if s == "ok" and self.objective_values(record) is None:
            return "failed"
        return s if s in STATUSES else "failed"

    def reason(self, record: Mapping[str, Any]) -> str:
        """Why a result is not ok (its error's first line, or the missing objective)."""
        if record.get("status") == "ok":
            missing = [o for o in self.objectives if metric(record, o) is None]
            return f"objective {missing[0]}: no finite value in the evaluation" if missing else ""
        text = str(record.get("error") or record.get("status") or "unknown").strip()
        return text.splitlines()[0][:160] if text else "unknown"

    def objective_values(self, record: Mapping[str, Any]) -> list[float] | None:
        """Every objective of an ok result, or None."""
        if record.get("status") != "ok":
            return None
        values = [metric(record, o) for o in self.objectives]
        return None if any(v is None for v in values) else values  # type: ignore[return-value]

    def at_max_budget(self, record: Mapping[str, Any]) -> bool:
        top = self.max_budget
        return top is not None and math.isclose(float(record["budget"]), top, rel_tol=1e-9, abs_tol=1e-12)

    def counts(self, seed: int | None = None) -> dict[str, int]:
        """Results per status ("ok", "failed", "crashed") of one seed or of all."""
        rs = self.results.get(seed, []) if seed is not None else [r for v in self.results.values() for r in v]
        c = Counter(self.status(r) for r in rs)
        return {s: int(c.get(s, 0)) for s in STATUSES}

    def total_budget(self, seed: int | None = None) -> float:
        rs = self.results.get(seed, []) if seed is not None else [r for v in self.results.values() for r in v]
        return float(sum(float(r["budget"]) for r in rs))


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory (search.json, log.jsonl, sessions.jsonl); never writes to it.

    A truncated last log line (a killed master) is skipped with a warning; a search.json without
    "objectives" is an error (one line)."""
    path = Path(run_dir)
    settings = read_settings(path)
    objectives = settings.get("objectives")
    if not isinstance(objectives, list) or not objectives:
        raise ValueError(f"objectives: {path}/search.json must list at least one objective name, got "
                         f"{objectives!r}")
    sessions = read_jsonl(path / SESSIONS_FILE)
    events = read_log(path)
    results: dict[int, list[dict[str, Any]]] = {}
    seed_events: dict[int, list[dict[str, Any]]] = {}
    asked: Counter[int] = Counter()
    other = []
    for e in events:
        if e.get("phase", "search") != "search":
            if e["event"] == "result":
                other.append(e)
            continue
        seed = int(e.get("seed") or 0)
        seed_events.setdefault(seed, []).append(e)
        if e["event"] == "ask":
            asked[seed] += len(e.get("jobs") or [])
        elif e["event"] == "result":
            results.setdefault(seed, []).append(e)
    results = {s: results[s] for s in sorted(results)}
    elapsed, wall = _wall_times(seed_events, results, sessions)
    unfinished = {s: max(0, asked[s] - len(results.get(s, []))) for s in sorted(seed_events)}
    return Run(path, settings, sessions, results, elapsed, wall, unfinished, other)


def _wall_times(seed_events: Mapping[int, list[dict[str, Any]]], results: Mapping[int, list[dict[str, Any]]],
                sessions: list[dict[str, Any]]) -> tuple[dict[int, np.ndarray], dict[int, float]]:
    """Per seed, the wall time at each result and in total (see the module docstring)."""
    starts = {s.get("session"): float(s["started"]) for s in sessions if "started" in s}
    first_in_session: dict[Any, float] = {}
    for events in seed_events.values():
        for e in events:
            if e.get("t") is not None:
                s = e.get("session")
                first_in_session[s] = min(first_in_session.get(s, math.inf), float(e["t"]))
    elapsed, wall = {}, {}
    for seed, events in seed_events.items():
        segments: dict[Any, list[float]] = {}  # session -> [start, last event], in order of appearance
        for e in events:
            if e.get("t") is None:
                continue
            s, t = e.get("session"), float(e["t"])
            if s not in segments:
                start = starts.get(s, t) if t <= first_in_session[s] else t
                segments[s] = [min(start, t), t]
            segments[s][1] = max(segments[s][1], t)
        offsets, total = {}, 0.0
        for s, (lo, hi) in segments.items():
            offsets[s] = total - lo
            total += hi - lo
        elapsed[seed] = np.array([float(r["t"]) + offsets[r.get("session")] if r.get("t") is not None
                                  else np.nan for r in results.get(seed, [])], dtype=np.float64)
        wall[seed] = float(total)
    return elapsed, wall
