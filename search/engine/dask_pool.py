"""Jobs on Dask workers: the engine's second execution backend, beside hpbandster's Pyro4 (`.pyro`), behind the
same `submit` / `wait` interface, so the run store, replay/resume and reports are the same.

    with DaskPool(log, evaluator_context, workers=2) as pool:       # a scheduler + 2 local worker processes
        drive(strategy, pool, log, seed=0, evaluations=20)
    DaskPool(log, ctx, scheduler="tcp://10.0.0.1:8786", workers=0)    # an existing cluster (dask-jobqueue, ...)

Why a second backend: hpbandster has had no release since 2019 and its users report name-server hangs on
clusters; Dask is maintained, and cluster users start it with `dask-jobqueue` (SLURMCluster, ...).

What it guarantees (as the Pyro4 pool does):
- a job carries the evaluator's JSON context, so any Dask worker of the cluster that can import this package
  evaluates it (`dask worker ADDRESS`, or `dask worker --scheduler-file RUN_DIR/scheduler.json`), through the
  same `worker.evaluate_job` as a Pyro4 worker; nothing of a job is pickled but plain data and this module's
  task function;
- a worker that dies mid-job: its job runs again (`max_retries` times) on a worker that lives, and the worker is
  restarted by its nanny; our own scheduler is told to give up on a task at its first dead worker
  (allowed_failures=0), so that this pool counts the attempts (an external scheduler retries by its own
  `distributed.scheduler.allowed-failures` first);
- a job that runs longer than `job_timeout` seconds is recorded as failed with that reason, and its worker is
  replaced: a local worker is killed and its nanny starts a fresh one (the way a worker that dies mid-job comes
  back; asking the scheduler to restart it lost the worker now and then on a loaded 2-core machine, the
  scheduler's call being cut off mid-restart), a cluster's worker is restarted through the scheduler (a worker
  started with --no-nanny cannot be restarted: it is left as it is);
- a job over `job_memory` MB fails with that reason and its worker lives on (`worker.address_space_limit`; one
  limited job at a time in a worker process, so start remote workers with `--nthreads 1`);
- the scheduler and local workers listen only on the address they were given (127.0.0.1 by default), the
  scheduler's HTTP server included; no dashboard is started.

Departure from Dask's defaults: the local workers run one thread each (one job per process, as Pyro4 workers
do) with `threads` torch threads, and the scheduler keeps a task back until a worker thread is free
(worker-saturation 1.0), so no job waits on a busy worker while another is idle.
"""
from __future__ import annotations

import logging
import os
import queue
import re
import signal
import socket
import threading
import time
from typing import Any, Mapping

import dask
import distributed
from distributed.diagnostics.plugin import WorkerPlugin

from ..spaces.base import to_builtin
from .driver import Done, ServedPool, check_pool_options
from .pyro import LOOPBACK, gpu_ids, last_line
from .store import RunLog

log = logging.getLogger("search.engine")
SCHEDULER_FILE = "scheduler.json"

__all__ = ["DaskPool", "run_job", "SCHEDULER_FILE"]


def worker_name(worker: Any) -> str:
    """A Dask worker's name in the run log: host.pid.dask-NAME (the pid second to last, as with Pyro4)."""
    tag = re.sub(r"[^A-Za-z0-9]+", "-", str(worker.name)).strip("-")
    return f"{socket.gethostname()}.{os.getpid()}.dask-{tag}"


def run_job(context: Mapping[str, Any], config: Mapping[str, Any], budget: float, topic: str,
            key: str) -> dict[str, Any]:
    """The task a Dask worker runs for one job: announce its start on `topic` (for the pool's time limit),
    evaluate (`worker.evaluate_job`), return the evaluation as plain data."""
    from .worker import evaluate_job

    worker = distributed.get_worker()
    name = worker_name(worker)
    # (the scheduler adds "worker": the address, to every event a worker logs)
    worker.log_event(topic, {"key": key, "address": worker.address, "name": name})
    start = time.perf_counter()
    evaluation = evaluate_job(context, config, budget)
    return {"evaluation": evaluation.to_dict(), "worker": name, "eval_s": time.perf_counter() - start}


class _WarmUp(WorkerPlugin):
    """Imports the heavy modules when a worker starts (also a restarted or a remote one), so that neither the
    first job's time nor its time limit pays for them."""

    name = "nago-warm-up"

    def setup(self, worker: Any) -> None:
        import torch  # noqa: F401

        import training  # noqa: F401

        from .. import evaluators  # noqa: F401


class _Job:
    __slots__ = ("job_id", "seed", "config", "budget", "attempt", "future")

    def __init__(self, job_id: int, seed: int, config: dict[str, Any], budget: float, attempt: int) -> None:
        self.job_id, self.seed, self.config, self.budget, self.attempt = job_id, seed, config, budget, attempt
        self.future: Any = None


class DaskPool(ServedPool):
    """A Dask cluster (local or given) behind the driver's `Pool` interface.

    log: the writable run log (`scheduler.json` in its directory while a local scheduler runs).
    evaluator: the evaluator's JSON `context()`; every job carries it.
    workers: without `scheduler`, local worker processes (one thread each; default one per GPU, else 1; 0 =
      only workers that join by themselves); with `scheduler`, how many workers to wait for at the start.
      With GPUs, local worker i sees only GPU i (CUDA_VISIBLE_DEVICES).
    scheduler: the address of a running Dask scheduler (None: start one in this process).
    host, port: where our own scheduler listens (default 127.0.0.1, a free port).
    device: the jobs' device as the search asked (the evaluator context carries it); "auto" or "cuda" spreads
      the local workers over the GPUs. threads: torch CPU threads per local worker (default: cores / workers).
    max_retries: how often a job whose worker died runs again before it is logged as crashed.
    job_timeout: seconds a job may run before it is failed and its worker restarted (None: no limit).
    job_memory: MB of memory a job may add to its worker process (None: no limit; Linux).
    `capacity` (jobs kept running) is the larger of the local workers and the cluster's worker threads.
    """

    def __init__(self, log: RunLog, evaluator: Mapping[str, Any], *, workers: int | None = None,
                 scheduler: str | None = None, host: str = LOOPBACK, port: int = 0, device: str = "auto",
                 threads: int | None = None, max_retries: int = 1, job_timeout: float | None = None,
                 job_memory: float | None = None, worker_timeout: float = 600.0) -> None:
        self.gpus = gpu_ids(device) if scheduler is None else []
        if workers is None:
            workers = max(1, len(self.gpus)) if scheduler is None else 0
        check_pool_options(workers=workers, port=port, threads=threads, job_timeout=job_timeout,
                           job_memory=job_memory, backend="dask", scheduler=scheduler)
        self.log = log
        self.evaluator = to_builtin(dict(evaluator))
        self.n_workers = workers
        self.scheduler = scheduler
        self.host, self.port = host, port
        self.threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
        self.max_retries = max_retries
        self.job_timeout = job_timeout
        self.job_memory = job_memory
        self.worker_timeout = worker_timeout
        self.topic = f"nago-{log.run_id}-s{log.session}"
        self.address = ""
        self._cluster: Any = None
        self._client: Any = None
        self._threads_seen = 0
        self._checked = 0.0
        self._no_worker_since: float | None = None
        self._jobs: dict[str, _Job] = {}                       # key -> job, submitted and not yet reported
        self._attempts: dict[int, int] = {}
        self._started: dict[str, tuple[float, str, str]] = {}  # key -> (monotonic start, address, worker name)
        self._lock = threading.Lock()
        self._finished: "queue.Queue[Any]" = queue.Queue()     # futures that ended (any state), or a Done
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> "DaskPool":
        logging.getLogger("distributed").setLevel(logging.ERROR)  # the pool logs what matters itself
        try:
            if self.scheduler is None:
                self._cluster = self._local_cluster()
                self._client = distributed.Client(self._cluster, set_as_default=False)
            else:
                try:
                    self._client = distributed.Client(self.scheduler, timeout=30, set_as_default=False)
                except Exception as exc:  # refused, timed out, or not a Dask scheduler (garbage on the wire)
                    raise ValueError(f"scheduler: cannot reach a Dask scheduler at {self.scheduler} "
                                     f"({type(exc).__name__}: {last_line(exc)})") from None
            self.address = self._client.scheduler.address
            self._client.subscribe_topic(self.topic, self._on_event)
            self._client.register_plugin(_WarmUp())
            if self.n_workers:
                try:
                    self._client.wait_for_workers(self.n_workers, timeout=self.worker_timeout)
                except TimeoutError:
                    raise RuntimeError(f"{self.n_workers} Dask worker(s) did not start within "
                                       f"{self.worker_timeout:.0f} s") from None
        except BaseException:
            self.close()
            raise
        return self

    def _local_cluster(self) -> Any:
        http = f"[{self.host}]:0" if ":" in self.host else f"{self.host}:0"
        scheduler = {"cls": distributed.Scheduler, "options": {
            "host": self.host, "port": self.port, "dashboard": False, "dashboard_address": http,
            "allowed_failures": 0, "scheduler_file": str(self.log.path / SCHEDULER_FILE)}}
        workers = {}
        for i in range(self.n_workers):
            env = {"OMP_NUM_THREADS": str(self.threads)}
            if self.gpus:
                env["CUDA_VISIBLE_DEVICES"] = self.gpus[i % len(self.gpus)]
            workers[i] = {"cls": distributed.Nanny, "options": {
                "host": LOOPBACK, "nthreads": 1, "env": env, "dashboard": False,
                "local_directory": str(self.log.path / "logs" / "dask"), "silence_logs": logging.ERROR}}
        # read when the scheduler and nannies start: a task waits on the scheduler until a worker thread is free;
        # no statistical profiler in the workers (it samples the job's thread every 10 ms, for a dashboard
        # that is not there)
        with dask.config.set({"distributed.scheduler.worker-saturation": 1.0,
                              "distributed.worker.profile.enabled": False}):
            try:
                return distributed.SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR)
            except RuntimeError as exc:  # distributed wraps the cause (an address in use, ...) twice
                cause = exc.__cause__ or exc
                while cause.__cause__ is not None:
                    cause = cause.__cause__
                why = f"{type(cause).__name__}: {last_line(cause)}"
                if "Scheduler failed" in str(exc):
                    raise ValueError(f"host/port: cannot start a Dask scheduler on {self.host}:{self.port} "
                                     f"({why})") from None
                raise RuntimeError(f"engine: the local Dask workers did not start ({why})") from None

    def describe(self) -> str:
        """One line for the user: where the scheduler listens and how to add workers."""
        if self._cluster is None:
            return (f"Dask scheduler {self.address} (the cluster's workers); more workers: dask worker "
                    f"{self.address} --nthreads 1")
        return (f"Dask scheduler {self.address}, {self.n_workers} local worker(s); more workers: dask worker "
                f"--scheduler-file {self.log.path / SCHEDULER_FILE} --nthreads 1")

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            if self._client is not None:
                self._client.close(timeout=30)
        finally:
            if self._cluster is not None:
                self._cluster.close(timeout=30)
                try:
                    (self.log.path / SCHEDULER_FILE).unlink()
                except FileNotFoundError:
                    pass

    # -- the pool interface -------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Jobs to keep running: one per worker thread of the cluster (at least one, and the local workers)."""
        return max(1, self.n_workers, self._threads_seen)

    def submit(self, job_id: int, config: Mapping[str, Any], budget: float, seed: int) -> None:
        assert self._client is not None, "DaskPool.start() first"
        attempt = self._attempts.setdefault(job_id, 1)
        job = _Job(int(job_id), int(seed), to_builtin(dict(config)), float(budget), attempt)
        key = f"nago-{self.log.run_id}-s{self.log.session}-{seed}-{job_id}-{attempt}"
        context = {"evaluator": self.evaluator, "seed": int(seed)}
        if self.job_memory is not None:
            context["memory_mb"] = float(self.job_memory)
        with self._lock:
            self._jobs[key] = job
        job.future = self._client.submit(run_job, context, job.config, job.budget, self.topic, key, key=key,
                                         pure=False)
        job.future.add_done_callback(self._finished.put)

    def wait(self) -> list[Done]:
        """Block until a job finishes (enforcing time limits meanwhile); every finished job."""
        out: list[Done] = []
        while not out:
            try:
                future = self._finished.get(timeout=0.5)
            except queue.Empty:
                self._supervise()
                continue
            while True:
                done = self._collect(future)
                if done is not None:
                    out.append(done)
                try:
                    future = self._finished.get_nowait()
                except queue.Empty:
                    break
        return out

    def running(self) -> dict[int, str]:
        """job id -> worker name, for the jobs running now."""
        with self._lock:
            return {self._jobs[k].job_id: name for k, (_, _, name) in self._started.items() if k in self._jobs}

    def worker_pids(self) -> list[int]:
        """The process ids of the local workers."""
        if self._cluster is None:
            return []
        local = [a for a, w in self._client.scheduler_info(n_workers=-1)["workers"].items()
                 if w.get("name") in self._cluster.workers]
        return sorted(self._client.run(os.getpid, workers=local).values()) if local else []

    # -- results ------------------------------------------------------------------------------------------
    def _on_event(self, event: tuple[float, Mapping[str, Any]]) -> None:
        msg = event[1]
        with self._lock:
            if msg.get("key") in self._jobs:
                self._started[msg["key"]] = (time.monotonic(), str(msg["address"]), str(msg["name"]))

    def _collect(self, future: Any) -> Done | None:
        """The finished job of a future, or None when it was given up (timed out) or runs again."""
        from ..evaluators.base import Evaluation

        if isinstance(future, Done):  # failed by the pool itself (time limit)
            return future
        with self._lock:
            job = self._jobs.pop(future.key, None)
            where = self._started.pop(future.key, None)
        if job is None:  # failed by its time limit already
            return None
        name = where[2] if where else "?"
        if future.status == "finished":
            result = future.result()
            evaluation = Evaluation.from_dict(result["evaluation"])
            name, eval_s = str(result["worker"]), float(result["eval_s"])
        else:
            exc = future.exception() if future.status == "error" else None
            if isinstance(exc, distributed.KilledWorker) and job.attempt <= self.max_retries and not self._closing:
                log.warning("engine: the worker of job %s died; running it again (attempt %d)", job.job_id,
                            job.attempt + 1)
                self._attempts[job.job_id] = job.attempt + 1
                self.submit(job.job_id, job.config, job.budget, job.seed)
                return None
            if future.status == "cancelled":  # not by us: the scheduler was lost or restarted
                raise RuntimeError(f"engine: the Dask scheduler at {self.address} dropped job {job.job_id}; "
                                   "resume the search to run its pending jobs again")
            if isinstance(exc, distributed.KilledWorker):
                reason = "worker died while running the job"
            elif exc is not None:
                reason = last_line(f"{type(exc).__name__}: {exc}") or "crashed"
            else:
                reason = f"the job ended as {future.status!r} on the Dask cluster"
            evaluation = Evaluation("crashed", error=reason, info={"traceback": repr(exc)[-2000:]})
            eval_s = time.monotonic() - where[0] if where else 0.0
        evaluation.info["attempts"] = job.attempt
        return Done(job.job_id, evaluation, name, eval_s)

    # -- supervision --------------------------------------------------------------------------------------
    def _supervise(self) -> None:
        """Enforce job time limits; follow the cluster's size (a second at most between looks); fail when the
        local cluster has had no worker for `worker_timeout` seconds (a nanny restarts a dead worker, forever)."""
        if self._closing:
            return
        if self.job_timeout is not None:
            self._enforce_timeout()
        now = time.monotonic()
        if now - self._checked >= 1.0:
            self._checked = now
            self._threads_seen = sum(self._client.nthreads().values())
            if self._threads_seen or self._cluster is None or not self.n_workers:
                self._no_worker_since = None
            elif self._no_worker_since is None:
                self._no_worker_since = now
            elif now - self._no_worker_since > self.worker_timeout:
                raise RuntimeError(f"engine: no Dask worker has been up for {self.worker_timeout:.0f} s (their "
                                   "errors are on this search's standard error)")

    def _enforce_timeout(self) -> None:
        from ..evaluators.base import Evaluation

        now = time.monotonic()
        with self._lock:
            late = [(k, self._jobs.pop(k), self._started.pop(k)) for k, (t, _, _) in list(self._started.items())
                    if now - t > self.job_timeout and k in self._jobs]
        for _, job, (_, address, name) in late:
            log.warning("engine: job %s ran past its %.0f s limit on %s; failing it, restarting the worker",
                        job.job_id, self.job_timeout, name)
            job.future.cancel()
            # the job's thread cannot be stopped inside the worker: its nanny restarts the whole process
            threading.Thread(target=self._restart, args=(address,), daemon=True).start()
            self._finished.put(Done(job.job_id, Evaluation(
                "failed", error=f"job timeout: ran longer than {self.job_timeout:g} s (worker {name} restarted)",
                info={"attempts": job.attempt}), name, float(self.job_timeout)))

    def _restart(self, address: str) -> None:
        nannies = self._cluster.workers.values() if self._cluster is not None else ()
        pid = next((n.pid for n in nannies if n.worker_address == address and n.pid), None)
        try:
            if pid is not None:  # a local worker: its nanny sees the process die and starts a new one
                os.kill(pid, signal.SIGKILL)
            else:
                self._client.restart_workers([address], raise_for_error=True)
        except Exception as exc:  # e.g. a worker without a nanny: it keeps its hung thread
            log.warning("engine: could not restart Dask worker %s (%s)", address, last_line(exc))
