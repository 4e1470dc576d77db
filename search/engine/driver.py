"""The ask/tell loop that runs any strategy on any pool of evaluators, with exact resume.

    results = drive(strategy, pool, log, seed=0, evaluations=100)

The loop keeps the pool full: whenever it has room, it asks the strategy for that many jobs (given the jobs
still pending), logs the ask, submits the jobs, waits for results, logs each result and tells the strategy.
Every ask is logged, even one that returned no job, so that a replay makes exactly the same calls.

Resume is a replay: the events of the log (for this seed) are fed to a fresh strategy in their original order
(each logged ask is asked again and must propose the same configurations, each logged result is told), which
brings the strategy to the state an uninterrupted run had, random streams included. Jobs asked for and without
a result (running when the master died) are submitted again; nothing else is repeated. The engine knows no
strategy by name: everything it needs is the `Strategy` interface.
"""
from __future__ import annotations

import importlib.util
import math
import sys
import time
from typing import Any, Callable, Mapping, Protocol, Sequence

from ..spaces.base import canonical_json
from ..strategies.base import Job, Result, Strategy
from .store import RunLog, RunStoreError

__all__ = ["Pool", "Finished", "Done", "drive", "to_result", "ReplayMismatch", "BACKENDS", "check_pool_options",
           "ServedPool"]

#: where jobs of an evaluator that needs workers run: hpbandster's Pyro4 (`.pyro`) or Dask (`.dask_pool`)
BACKENDS = ("pyro", "dask")


class ReplayMismatch(RunStoreError):
    """The strategy proposed something else than the log holds (its code or options changed)."""


class Finished(Protocol):
    job_id: int
    evaluation: Any          # search.evaluators.base.Evaluation
    worker: str
    eval_s: float


class Pool(Protocol):
    """Where jobs run: in this process (`InlinePool`), on Pyro4 workers (`PyroPool`) or on Dask workers
    (`DaskPool`)."""

    capacity: int

    def submit(self, job_id: int, config: Mapping[str, Any], budget: float, seed: int) -> None: ...

    def wait(self) -> list[Finished]:
        """Block until at least one submitted job has finished; return every finished one."""
        ...


def to_result(status: str, metrics: Mapping[str, Any], error: str | None, objectives: Sequence[str]) -> Result:
    """The strategy's view of an evaluation: its objectives only; an ok evaluation that lacks one (or has a
    non-finite value) counts as failed."""
    if status != "ok":
        return Result.failure(error or status, status="crashed" if status == "crashed" else "failed")
    values = {}
    for name in objectives:
        v = metrics.get(name)
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
            return Result.failure(f"objective {name}: no finite value in the evaluation")
        values[name] = float(v)
    return Result.success(values)


def _check_same(logged: Sequence[Mapping[str, Any]], jobs: Sequence[Job], strategy: Strategy, seed: int) -> None:
    mine = [(j.id, canonical_json(strategy.space.to_config(j.point)), float(j.budget)) for j in jobs]
    theirs = [(int(e["id"]), canonical_json(e["config"]), float(e["budget"])) for e in logged]
    if mine != theirs:
        raise ReplayMismatch(f"resume: seed {seed}: the {strategy.name} strategy proposes other jobs than the "
                             "log holds (were its options or the code changed?); resume with the same version, "
                             "or start a new run")


def replay(strategy: Strategy, events: Sequence[Mapping[str, Any]], seed: int,
           session_options: Mapping[int, Mapping[str, Any]] | None = None) -> tuple[dict[int, Job], int]:
    """Feed logged events to a fresh strategy; returns (pending jobs, number of results).

    `session_options`: the extendable options each session ran with (session -> options); the strategy is
    extended to them as the replay reaches that session, so each ask replays under the limits it had."""
    pending: dict[int, Job] = {}
    finished = 0
    applied: Mapping[str, Any] = {}
    for e in events:
        opts = (session_options or {}).get(e.get("session"))
        if opts and opts != applied:
            strategy.extend(**opts)
            applied = opts
        if e["event"] == "ask":
            jobs = strategy.ask(int(e["n"]), list(pending.values()))
            _check_same(e["jobs"], jobs, strategy, seed)
            pending.update((j.id, j) for j in jobs)
        elif e["event"] == "result":
            job = pending.pop(int(e["job"]), None)
            if job is None:
                raise RunStoreError(f"resume: seed {seed}: result of job {e['job']} that was never asked for")
            strategy.tell(job, to_result(e["status"], e.get("metrics") or {}, e.get("error"), strategy.objectives))
            finished += 1
    return pending, finished


def drive(strategy: Strategy, pool: Pool, log: RunLog, *, seed: int, evaluations: int | None = None,
          on_result: Callable[[dict[str, Any]], None] | None = None,
          stop: Callable[[], bool] | None = None, extend: Mapping[str, Any] | None = None) -> int:
    """Run `strategy` for one seed until it is done or `evaluations` results exist (resuming from the log).

    Returns the number of new results of this session. `on_result(record)` sees each logged result line;
    `stop()` (checked between results) ends the loop early, leaving pending jobs to a later resume.
    `extend`: extendable options of this session (e.g. more iterations), applied after the replay; earlier
    sessions' values come from the run's sessions.jsonl ("extend")."""
    space = strategy.space
    events = [e for e in log.events() if e.get("seed") == seed and e.get("phase", "search") == "search"]
    by_session = {int(s["session"]): s["extend"] for s in log.sessions() if s.get("extend")}
    pending, finished = replay(strategy, events, seed, by_session)
    if extend:
        strategy.extend(**extend)
    configs = {job.id: space.to_config(job.point) for job in pending.values()}
    for job in pending.values():  # running when the last session ended: run again
        pool.submit(job.id, configs[job.id], job.budget, seed)
    new = 0
    while True:
        room = pool.capacity - len(pending)
        left = None if evaluations is None else evaluations - finished - len(pending)
        if room > 0 and (left is None or left > 0) and not strategy.done:
            n = room if left is None else min(room, left)
            jobs = strategy.ask(n, list(pending.values()))
            configs.update((j.id, space.to_config(j.point)) for j in jobs)
            log.append({"event": "ask", "seed": seed, "n": n,
                        "jobs": [{"id": j.id, "config": configs[j.id], "budget": j.budget, "info": dict(j.info)}
                                 for j in jobs]})
            for job in jobs:
                pending[job.id] = job
                pool.submit(job.id, configs[job.id], job.budget, seed)
        if not pending or (stop is not None and stop()):
            return new
        for done in pool.wait():
            job = pending.pop(done.job_id)
            ev = done.evaluation
            record = log.append({
                "event": "result", "seed": seed, "phase": "search", "job": job.id,
                "config": configs.pop(job.id), "budget": job.budget, "status": ev.status,
                "metrics": _finite(ev.metrics), "error": ev.error, "info": {**dict(job.info), **ev.info},
                "worker": done.worker, "eval_s": round(float(done.eval_s), 6)})
            strategy.tell(job, to_result(ev.status, ev.metrics, ev.error, strategy.objectives))
            finished += 1
            new += 1
            if on_result is not None:
                on_result(record)


def _finite(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """JSON has no NaN or infinity: such values are logged as null."""
    out = {}
    for k, v in metrics.items():
        if isinstance(v, float) and not math.isfinite(v):
            v = None
        out[k] = v
    return out


class ServedPool:
    """Base of the pools that start servers or processes: `with SomePool(...) as pool:` calls `start()` and,
    on the way out, `close()`."""

    def start(self) -> "ServedPool":
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> "ServedPool":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class InlinePool:
    """Runs jobs in this process, one at a time, in submission order (tabular and synthetic evaluators).

    `capacity` is how many jobs the strategy is asked to keep pending: batch strategies get batches of that
    size, exactly as with that many workers."""

    def __init__(self, evaluator: Any, capacity: int = 1) -> None:
        if capacity < 1:
            raise ValueError(f"workers: must be an integer >= 1, got {capacity!r}")
        self.evaluator = evaluator
        self.capacity = int(capacity)
        self._queue: list[tuple[int, Mapping[str, Any], float, int]] = []

    def submit(self, job_id: int, config: Mapping[str, Any], budget: float, seed: int) -> None:
        self._queue.append((job_id, config, budget, seed))

    def wait(self) -> list["Done"]:
        job_id, config, budget, seed = self._queue.pop(0)
        start = time.perf_counter()
        evaluation = self.evaluator.evaluate(config, budget, seed)
        return [Done(job_id, evaluation, "inline", time.perf_counter() - start)]

    def close(self) -> None:
        self._queue.clear()


class Done:
    """A finished job as every pool returns it (the `Finished` protocol)."""

    __slots__ = ("job_id", "evaluation", "worker", "eval_s")

    def __init__(self, job_id: int, evaluation: Any, worker: str, eval_s: float) -> None:
        self.job_id, self.evaluation, self.worker, self.eval_s = job_id, evaluation, worker, eval_s


def check_pool_options(*, workers: Any = 1, port: Any = 0, threads: Any = None, job_timeout: Any = None,
                       job_memory: Any = None, backend: Any = None, scheduler: Any = None) -> None:
    """Check a worker pool's options before anything is written (one line naming the option and its range)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers: must be an integer >= 0, got {workers!r}")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port < 65536:
        raise ValueError(f"port: must be an integer in [0, 65535] (0 = any free port), got {port!r}")
    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads: must be an integer >= 1, got {threads!r}")
    for name, value in (("job-timeout", job_timeout), ("job-memory", job_memory)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or not value > 0):
            unit = "seconds" if name == "job-timeout" else "MB"
            raise ValueError(f"{name}: must be a number of {unit} > 0, got {value!r}")
    if job_memory is not None and not sys.platform.startswith("linux"):
        raise ValueError(f"job-memory: needs Linux (an address-space limit per job), not {sys.platform}")
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"backend: must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if scheduler is not None and backend != "dask":
        raise ValueError("scheduler: a Dask scheduler's address needs --backend dask")
    if backend == "dask" and importlib.util.find_spec("distributed") is None:
        raise ValueError("backend: dask needs the distributed package: pip install 'nago[dask]' (or uv sync "
                         "--extra dask)")
