"""The execution engine of every search: hpbandster's Pyro4 name server, dispatcher and workers, behind a small
interface that the rest of NAGO uses (nothing else touches hpbandster's quirks).

    store = open_run("mobo", "runs/x", space="hnag", dataset="digits", settings={...})
    with Engine(store, workers=2) as engine:                 # name server + 2 local worker processes
        engine.run_bohb(min_budget=1, max_budget=9, eta=3, iterations=4)
        engine.run_random(budget=9, evaluations=20)
        records = engine.evaluate_batch([(config, 9.0), (config2, 9.0, {"seed": 3})], phase="mobo")

What it guarantees:
- everything that crosses Pyro4 is a built-in Python type (numpy floats and np.str_ make serpent hang
  silently); the wire format stays serpent;
- every dispatched job is journalled (jobs.jsonl) before it leaves, every finished one is appended to
  results.jsonl (fsynced) before the optimiser sees it;
- resume is an exact replay: the brackets are rebuilt in order, a job whose result is in the log is answered
  from the log (the optimiser's model sees it, nothing runs), a journalled job without a result (running when
  the master died) runs again with its journalled configuration, and nothing else is repeated. This is the
  warm start of hpbandster's `previous_result` made exact: crashed trials are replayed as crashed (never fed
  to `np.isfinite(None)`), and the interrupted bracket continues instead of being dropped;
- a worker that dies mid-job is noticed at the next ping; its job runs again on another worker (once, by
  default), and a local worker process that died is restarted; the dispatcher never dies with a worker;
- `evaluate_batch` hands any proposer's jobs to the same worker pool and log; a proposer that is
  deterministic given its seed and the results it has seen resumes for free (a job already in the log for
  the same batch number, position, configuration, budget and overrides is answered from the log).
"""
from __future__ import annotations

import json
import logging
import math
import os
import re
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import Pyro4
import Pyro4.errors
import Pyro4.naming
from hpbandster.core.dispatcher import Dispatcher, Job
from hpbandster.core.dispatcher import Worker as _PoolWorker
from hpbandster.core.master import Master
from hpbandster.optimizers.iterations import SuccessiveHalving

from ..runstore import RunStore, RunStoreError, budget_key, job_key
from ..spaces import SearchSpace, build_space, space_from_json, to_builtin

log = logging.getLogger("search.engine")
LOOPBACK = "127.0.0.1"
WORKER_DIED = "Worker died unexpectedly."
Progress = Callable[[dict, "Engine"], None]


def canon(value: Any) -> str:
    return json.dumps(to_builtin(value), sort_keys=True, separators=(",", ":"))


# ---------------------------------------------------------------------------------------------------------
# hpbandster adapters
# ---------------------------------------------------------------------------------------------------------
class _NameServer:
    """A Pyro4 name server in a thread of this process, bound to exactly `host` (no broadcast responder)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.daemon = None
        self.thread: threading.Thread | None = None

    def start(self) -> tuple[str, int]:
        _, self.daemon, _ = Pyro4.naming.startNS(host=self.host, port=self.port, enableBroadcast=False)
        host, port = self.daemon.locationStr.rsplit(":", 1)
        self.host, self.port = host.strip("[]"), int(port)
        self.thread = threading.Thread(target=self.daemon.requestLoop, name="nago-nameserver", daemon=True)
        self.thread.start()
        return self.host, self.port

    def shutdown(self) -> None:
        if self.daemon is not None:
            self.daemon.shutdown()
            if self.thread is not None:
                self.thread.join(5)
            self.daemon = None


def _alive(worker: _PoolWorker) -> bool:
    try:
        worker.proxy._pyroReconnect(1)
        return True
    except Pyro4.errors.PyroError:
        return False
    except OSError:
        return False


def _busy(worker: _PoolWorker) -> bool | None:
    try:
        return bool(worker.is_busy())
    except (Pyro4.errors.PyroError, OSError):
        return None


class _Dispatcher(Dispatcher):
    """hpbandster's Dispatcher, made robust:
    - job arguments are cast to built-in types before they cross Pyro4;
    - a worker that vanishes between discovery and dispatch, or during a ping, is dropped (its job goes back
      to the queue, or is reported as 'Worker died unexpectedly.') instead of killing the dispatcher's
      threads, which would hang the search silently;
    - a worker is only marked idle when it runs no job of ours;
    - dead workers are removed from the name server."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._dead: set[str] = set()
        self.ready = threading.Event()

    def submit_job(self, id: Any, **kwargs: Any) -> None:  # noqa: A002 (hpbandster's name)
        super().submit_job(tuple(to_builtin(list(id))), **to_builtin(kwargs))

    def run(self) -> None:
        # Dispatcher.run creates the Pyro daemon inside; mark readiness once it exists (for shutdown).
        waiter = threading.Thread(target=self._mark_ready, daemon=True)
        waiter.start()
        super().run()

    def _mark_ready(self) -> None:
        for _ in range(600):
            if getattr(self, "pyro_daemon", None) is not None:
                self.ready.set()
                return
            time.sleep(0.05)

    def shutdown(self, shutdown_workers: bool = False) -> None:
        self.ready.wait(30)
        if getattr(self, "pyro_daemon", None) is not None:
            super().shutdown(shutdown_workers)

    def job_runner(self) -> None:
        self.runner_cond.acquire()
        while True:
            while self.waiting_jobs.empty() or len(self.idle_workers) == 0:
                self.runner_cond.wait()
                if self.shutdown_all_threads:
                    self.discover_cond.notify()
                    self.runner_cond.release()
                    return
            job = self.waiting_jobs.get()
            wn = self.idle_workers.pop()
            worker = self.worker_pool.get(wn)
            if worker is None:
                self.waiting_jobs.put(job)
                continue
            job.time_it("started")
            worker.runs_job = job.id
            try:
                worker.proxy.start_computation(self, job.id, **job.kwargs)
            except (Pyro4.errors.PyroError, OSError) as exc:
                log.warning("dispatcher: worker %s unreachable (%s); job %s goes back to the queue", wn, exc,
                            job.id)
                worker.runs_job = None
                self.worker_pool.pop(wn, None)
                self._dead.add(wn)
                self.waiting_jobs.put(job)
                continue
            job.worker_name = wn
            self.running_jobs[job.id] = job

    def discover_workers(self) -> None:
        self.discover_cond.acquire()
        while True:
            update = False
            try:
                with Pyro4.locateNS(host=self.nameserver, port=self.nameserver_port) as ns:
                    names = ns.list(prefix="hpbandster.run_%s.worker." % self.run_id)
                    for wn in [n for n in names if n in self._dead]:
                        ns.remove(wn)
            except (Pyro4.errors.PyroError, OSError) as exc:
                log.debug("dispatcher: name server unreachable (%s)", exc)
                names = {}
            for wn, uri in names.items():
                if wn in self.worker_pool or wn in self._dead:
                    continue
                w = _PoolWorker(wn, uri)
                if not _alive(w):
                    self._dead.add(wn)
                    continue
                update = True
                log.info("dispatcher: discovered worker %s", wn)
                self.worker_pool[wn] = w
            crashed_jobs = set()
            for wn in list(self.worker_pool):
                w = self.worker_pool[wn]
                busy = _busy(w) if _alive(w) else None
                if busy is None:
                    log.warning("dispatcher: worker %s is gone%s", wn,
                                f" (it was running job {w.runs_job})" if w.runs_job is not None else "")
                    update = True
                    if w.runs_job is not None:
                        crashed_jobs.add(w.runs_job)
                    del self.worker_pool[wn]
                    self.idle_workers.discard(wn)
                    self._dead.add(wn)
                    continue
                if not busy and w.runs_job is None:
                    self.idle_workers.add(wn)
            if update:
                if self.queue_callback is not None:
                    self.discover_cond.release()
                    self.queue_callback(len(self.worker_pool))
                    self.discover_cond.acquire()
                self.runner_cond.notify()
            for job_id in crashed_jobs:
                self.discover_cond.release()
                if job_id in self.running_jobs:
                    self.register_result(job_id, {"result": None, "exception": WORKER_DIED})
                self.discover_cond.acquire()
            self.discover_cond.wait(self.ping_interval)
            if self.shutdown_all_threads:
                self.runner_cond.notify()
                self.discover_cond.release()
                return


class _ReplaySH(SuccessiveHalving):
    """Successive Halving whose configurations come from the journal when the job id was dispatched before."""

    def __init__(self, *args: Any, replay_configs: Mapping[tuple, tuple[dict, dict]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.replay_configs = replay_configs

    def add_configuration(self, config: Any = None, config_info: Any = None) -> tuple:
        if config is None and self.stage < len(self.num_configs):
            config_id = (self.HPB_iter, self.stage, self.actual_num_configs[self.stage])
            if config_id in self.replay_configs:
                config, config_info = self.replay_configs[config_id]
        if config is None:
            config, config_info = self.config_sampler(self.budgets[self.stage])
        return super().add_configuration(config, dict(config_info or {}))


class _EngineMaster(Master):
    """hpbandster's Master with our dispatcher, journal, log, replay and retries. `schedule(iteration)` gives
    the Successive Halving bracket (configurations per rung, budgets per rung) of each iteration."""

    def __init__(self, engine: "Engine", config_generator: Any, schedule: Callable, phase: str,
                 replay_results: Mapping[tuple, dict], replay_configs: Mapping[tuple, tuple[dict, dict]]) -> None:
        # Master.__init__ without its plain Dispatcher (same attributes).
        self.working_directory = str(engine.store.path)
        self.logger = logging.getLogger("hpbandster")
        self.result_logger = None
        self.config_generator = config_generator
        self.time_ref = None
        self.iterations: list = []
        self.jobs: list = []
        self.num_running_jobs = 0
        self.job_queue_sizes = self.user_job_queue_sizes = (-1, 0)
        self.dynamic_queue_size = True
        self.warmstart_iteration: list = []
        self.thread_cond = threading.Condition()
        self.config = {"time_ref": None}
        self.engine, self.schedule, self.phase = engine, schedule, phase
        self.replay_results, self.replay_configs = replay_results, replay_configs
        self.replayed = 0
        self.dispatcher = engine._make_dispatcher(self.job_callback, self.adjust_queue_size)
        self.dispatcher_thread = threading.Thread(target=self.dispatcher.run, name="nago-dispatcher", daemon=True)
        self.dispatcher_thread.start()

    def shutdown(self, shutdown_workers: bool = False) -> None:
        self.dispatcher.shutdown(shutdown_workers)
        self.dispatcher_thread.join(30)  # hpbandster joins without a timeout: a stuck thread would hang us

    def get_next_iteration(self, iteration: int, iteration_kwargs: Mapping[str, Any] | None = None) -> Any:
        ns, budgets = self.schedule(iteration)
        return _ReplaySH(HPB_iter=iteration, num_configs=list(ns), budgets=[float(b) for b in budgets],
                         config_sampler=self.config_generator.get_config, replay_configs=self.replay_configs,
                         **dict(iteration_kwargs or {}))

    def _submit_job(self, config_id: tuple, config: dict, budget: float) -> None:
        with self.thread_cond:
            self.num_running_jobs += 1
            record = self.replay_results.get(job_key(config_id, budget))
            if record is not None:
                self.replayed += 1
                self.job_callback(self.engine._replayed_job(config_id, config, budget, record))
                return
            info = self.iterations[config_id[0]].data[config_id].config_info
            kwargs = self.engine._prepare_job(config_id, self.phase, config, budget, config_info=info)
            self.dispatcher.submit_job(config_id, **kwargs)

    def job_callback(self, job: Job) -> None:
        if not getattr(job, "replayed", False):
            if self.engine._should_retry(job, self.phase):
                self.dispatcher.submit_job(job.id, **job.kwargs)
                return
            self.engine._finish(job, self.phase)
        if job.result is not None:
            loss = job.result.get("loss")
            if not isinstance(loss, (int, float)) or not math.isfinite(loss):
                job.result = {**job.result, "loss": math.inf}
        with self.thread_cond:
            self.num_running_jobs -= 1
            self.iterations[job.id[0]].register_result(job)
            self.config_generator.new_result(job)
            if self.num_running_jobs <= self.job_queue_sizes[0]:
                self.thread_cond.notify()


class _BatchRunner:
    """A dispatcher without a Master: runs arbitrary (config, budget) jobs handed over by a proposer."""

    def __init__(self, engine: "Engine") -> None:
        self.engine = engine
        self.cond = threading.Condition()
        self.finished: dict[tuple, dict] = {}
        self.meta: dict[tuple, tuple[str, dict]] = {}
        self.dispatcher = engine._make_dispatcher(self._on_result, None)
        self.thread = threading.Thread(target=self.dispatcher.run, name="nago-batch-dispatcher", daemon=True)
        self.thread.start()

    def submit(self, job_id: tuple, phase: str, kwargs: dict, extra: dict) -> None:
        self.meta[job_id] = (phase, extra)
        self.dispatcher.submit_job(job_id, **kwargs)

    def _on_result(self, job: Job) -> None:
        phase, extra = self.meta[job.id]
        if self.engine._should_retry(job, phase):
            self.dispatcher.submit_job(job.id, **job.kwargs)
            return
        record = self.engine._finish(job, phase, extra)
        with self.cond:
            self.finished[job.id] = record
            self.cond.notify_all()

    def shutdown(self) -> None:
        self.dispatcher.shutdown(False)
        self.thread.join(30)


@dataclass
class _LocalWorker:
    proc: subprocess.Popen
    tag: str  # the suffix of its hpbandster name: hpbandster.run_<id>.worker.<host>.<pid>.<tag>
    log_path: Path


def _gpu_ids(device: str) -> list[str]:
    """GPUs to spread local workers over (one per worker), without importing torch."""
    if device not in ("auto", "cuda"):
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    return sorted((m.group(1) for m in (re.fullmatch(r"nvidia(\d+)", n) for n in os.listdir("/dev")
                                        if n.startswith("nvidia")) if m), key=int) if os.path.isdir("/dev") else []


# ---------------------------------------------------------------------------------------------------------
# the engine
# ---------------------------------------------------------------------------------------------------------
class Engine:
    """Name server + local worker processes + the run store; runs strategies' jobs (see the module docstring).

    store: a writable RunStore (from `open_run`); its settings give the space, data set, seed, training options.
    workers: local worker processes to start (default: one per GPU, else 1; 0 = only workers that join with
      `nago worker`). With GPUs, worker i sees only GPU i (CUDA_VISIBLE_DEVICES).
    host, port: where the name server and dispatcher listen (default 127.0.0.1, a random port); anything but
      loopback is an explicit choice. Local workers always listen on 127.0.0.1.
    device, threads: the local workers' device and torch CPU threads (default: cores / workers).
    ping_interval: seconds between the dispatcher's worker checks (how fast a dead worker is noticed).
    max_retries: how often a job whose worker died is run again before it is logged as crashed.
    progress: called as progress(record, engine) after every finished evaluation.
    """

    def __init__(self, store: RunStore, *, workers: int | None = None, host: str = LOOPBACK, port: int = 0,
                 device: str = "auto", threads: int | None = None, ping_interval: float = 10.0,
                 max_retries: int = 1, progress: Progress | None = None, worker_timeout: float = 600.0,
                 max_respawns: int | None = None, session_info: Mapping[str, Any] | None = None) -> None:
        if not store.writable:
            raise RunStoreError(f"run directory {store.path}: the engine needs it opened for writing")
        self.gpus = _gpu_ids(device)
        if workers is None:
            workers = max(1, len(self.gpus))
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers: must be an integer >= 0, got {workers!r}")
        if not isinstance(port, int) or not 0 <= port < 65536:
            raise ValueError(f"port: must be an integer in [0, 65535] (0 = any free port), got {port!r}")
        self.store = store
        self.space = space_from_store(store)
        s = store.settings
        self.context = to_builtin({
            "space": self.space.context(), "dataset": s["dataset"], "seed": int(s.get("seed", 0)),
            "data_dir": s.get("data_dir"), "train_overrides": dict(s.get("train_overrides") or {}),
        })
        self.n_workers = workers
        self.host, self.port = host, port
        self.device = device
        self.threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
        self.ping_interval = max(1, int(round(ping_interval)))
        self.max_retries = max_retries
        self.progress = progress
        self.worker_timeout = worker_timeout
        self.respawns_left = 2 * workers if max_respawns is None else max_respawns
        self.session_info = dict(session_info or {})
        self.session: int | None = None
        self.records: list[dict] = []
        self.new_results = 0
        self.started_at: float | None = None
        self._lock = threading.RLock()
        self._attempts: dict[tuple, int] = {}
        self._batch_counter: dict[str, int] = {}
        self._procs: list[_LocalWorker | None] = []
        self._logs: list[Any] = []
        self._ns: _NameServer | None = None
        self._runner: _BatchRunner | None = None
        self._master: _EngineMaster | None = None
        self._closing = False
        self.optimizer_time_s = 0.0

    # -- lifecycle -----------------------------------------------------------------------------------------
    def __enter__(self) -> "Engine":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def start(self) -> "Engine":
        logging.getLogger("hpbandster").setLevel(logging.ERROR)
        self.records = list(self.store.results())
        self.session = self.store.start_session(pid=os.getpid(), argv=list(sys.argv), **self.session_info)
        self.started_at = time.time()
        self._ns = _NameServer(self.host, self.port)
        try:
            self.ns_host, self.ns_port = self._ns.start()
        except OSError as exc:
            raise ValueError(f"host/port: cannot listen on {self.host}:{self.port} ({exc})") from None
        self.store.write_nameserver(self.ns_host, self.ns_port)
        try:
            self._procs = [self._spawn(i) for i in range(self.n_workers)]
            self._wait_for_local_workers()
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        try:
            if self._runner is not None:
                self._runner.shutdown()
                self._runner = None
            if self._master is not None:
                self._master.shutdown(shutdown_workers=False)
                self._master = None
            self._shutdown_workers()
        finally:
            for proc in (w.proc for w in self._procs if w is not None):
                if proc.poll() is None:
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.terminate()
                        try:
                            proc.wait(5)
                        except subprocess.TimeoutExpired:
                            proc.kill()
                            proc.wait()
            for fh in self._logs:
                fh.close()
            if self._ns is not None:
                self._ns.shutdown()
            self.store.clear_nameserver()

    def _shutdown_workers(self) -> None:
        if self._ns is None or self._ns.daemon is None:
            return
        for name, uri in self._list_workers().items():
            try:
                with Pyro4.Proxy(uri) as proxy:
                    proxy._pyroTimeout = 5
                    proxy.shutdown()
            except (Pyro4.errors.PyroError, OSError):
                pass

    def _list_workers(self) -> dict[str, str]:
        try:
            with Pyro4.locateNS(host=self.ns_host, port=self.ns_port) as ns:
                return ns.list(prefix=f"hpbandster.run_{self.store.run_id}.worker.")
        except (Pyro4.errors.PyroError, OSError):
            return {}

    def _spawn(self, slot: int) -> "_LocalWorker":
        tag = f"s{self.session}w{len(self._logs)}"
        cmd = [sys.executable, "-m", "search.worker", "--nameserver", f"{self.ns_host}:{self.ns_port}",
               "--run-id", self.store.run_id, "--host", LOOPBACK, "--parent-pid", str(os.getpid()),
               "--device", self.device, "--threads", str(self.threads), "--name", tag, "--ns-timeout", "60"]
        env = dict(os.environ)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        if self.threads:
            env["OMP_NUM_THREADS"] = str(self.threads)
        log_path = self.store.path / "logs" / f"worker-{tag}.log"
        fh = open(log_path, "ab")
        self._logs.append(fh)
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                                start_new_session=True)
        return _LocalWorker(proc, tag, log_path)

    def _wait_for_local_workers(self) -> None:
        deadline = time.monotonic() + self.worker_timeout
        while True:
            names = self._list_workers()
            missing = [w for w in self._procs if w is not None
                       and not any(n.endswith(f".{w.proc.pid}.{w.tag}") for n in names)]
            if not missing:
                return
            for w in missing:
                if w.proc.poll() is not None:
                    raise RuntimeError(f"worker {w.tag} exited with code {w.proc.returncode} while starting: "
                                       f"{_tail(w.log_path)}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(missing)} worker(s) did not start within {self.worker_timeout:.0f} s "
                                   f"(see {self.store.path / 'logs'})")
            time.sleep(0.2)

    def _supervise(self) -> None:
        """Restart local workers that died (bounded); fail when no worker is left at all."""
        if self._closing:
            return
        for i, worker in enumerate(self._procs):
            if worker is None or worker.proc.poll() is None:
                continue
            log.warning("engine: worker %s exited with code %s", worker.tag, worker.proc.returncode)
            self._procs[i] = None
            if self.respawns_left > 0:
                self.respawns_left -= 1
                self._procs[i] = self._spawn(i)
        if self.n_workers and all(p is None for p in self._procs) and not self._list_workers():
            raise RuntimeError("engine: every worker died and none is left to restart (see "
                               f"{self.store.path / 'logs'})")

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._procs if w is not None and w.proc.poll() is None]

    def running_jobs(self) -> dict[tuple, str]:
        """job id -> worker name, for the jobs running now."""
        owner = self._master or self._runner
        if owner is None:
            return {}
        dispatcher = owner.dispatcher
        with dispatcher.runner_cond:
            return {jid: job.worker_name for jid, job in dispatcher.running_jobs.items()}

    # -- jobs, results, replay -----------------------------------------------------------------------------
    def _make_dispatcher(self, callback: Callable, queue_callback: Callable | None) -> _Dispatcher:
        return _Dispatcher(callback, queue_callback=queue_callback, run_id=self.store.run_id,
                           ping_interval=self.ping_interval, nameserver=self.ns_host,
                           nameserver_port=self.ns_port, host=self.ns_host)

    def _job_context(self, overrides: Mapping[str, Any] | None) -> dict[str, Any]:
        context = dict(self.context)
        if overrides:
            if "seed" in overrides:
                context["seed"] = int(overrides["seed"])
            if overrides.get("train_overrides"):
                context["train_overrides"] = {**context["train_overrides"], **overrides["train_overrides"]}
        return context

    def _prepare_job(self, job_id: tuple, phase: str, config: Mapping[str, Any], budget: float, *,
                     config_info: Mapping[str, Any] | None = None, overrides: Mapping[str, Any] | None = None,
                     extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        context = self._job_context(overrides)
        entry = {"job_id": list(job_id), "phase": phase, "config": to_builtin(dict(config)),
                 "budget": float(budget), "seed": context["seed"], "config_info": to_builtin(dict(config_info or {})),
                 "submitted": time.time(), **to_builtin(dict(extra or {}))}
        with self._lock:
            self.store.append_job(entry)
        return {"config": entry["config"], "budget": float(budget), "working_directory": str(self.store.path),
                "context": context}

    def _should_retry(self, job: Job, phase: str) -> bool:
        if job.result is not None or job.exception != WORKER_DIED:
            return False
        key = (phase, tuple(job.id), budget_key(job.kwargs["budget"]))
        with self._lock:
            attempts = self._attempts.get(key, 1)
            if attempts > self.max_retries:
                return False
            self._attempts[key] = attempts + 1
        log.warning("engine: the worker of job %s died; running the job again (attempt %d)", job.id, attempts + 1)
        return True

    def _finish(self, job: Job, phase: str, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        kw = job.kwargs
        if job.result is None:
            status, loss, info = "crashed", None, {"traceback": str(job.exception)}
            error = ("worker died while running the job" if job.exception == WORKER_DIED
                     else _last_line(job.exception) or "crashed")
        else:
            info = dict(job.result.get("info") or {})
            loss = job.result.get("loss")
            ok = info.get("status", "ok") == "ok" and isinstance(loss, (int, float)) and math.isfinite(loss)
            status = "ok" if ok else "failed"
            error = None if ok else (info.get("error") or "non-finite loss")
            loss = float(loss) if ok else None
        key = (phase, tuple(job.id), budget_key(kw["budget"]))
        record = {
            "job_id": list(job.id), "phase": phase, "config": to_builtin(kw["config"]),
            "budget": float(kw["budget"]), "seed": kw["context"]["seed"], "status": status, "loss": loss,
            "error": error, "info": to_builtin(info), "worker": job.worker_name,
            "attempts": self._attempts.get(key, 1),
            "timestamps": {k: float(v) for k, v in job.timestamps.items()}, **to_builtin(dict(extra or {})),
        }
        with self._lock:
            self.store.append_result(record)
            self.records.append(record)
            self.new_results += 1
        if self.progress is not None:
            try:
                self.progress(record, self)
            except Exception:  # a broken progress printer must not stop the search
                log.exception("engine: progress callback failed")
        return record

    def _replayed_job(self, job_id: tuple, config: dict, budget: float, record: Mapping[str, Any]) -> Job:
        job = Job(tuple(job_id), config=config, budget=budget, working_directory=str(self.store.path),
                  context=self.context)
        job.timestamps = dict(record.get("timestamps") or {})
        job.worker_name = record.get("worker")
        if record["status"] == "crashed":
            job.result, job.exception = None, record.get("error") or "crashed"
        else:
            loss = record["loss"] if record["status"] == "ok" and record.get("loss") is not None else math.inf
            job.result, job.exception = {"loss": loss, "info": record.get("info") or {}}, None
        job.replayed = True  # type: ignore[attr-defined]
        return job

    def _replay_state(self, phase: str) -> tuple[dict[tuple, dict], dict[tuple, tuple[dict, dict]]]:
        results = {job_key(r["job_id"], r["budget"]): r for r in self.records if r.get("phase") == phase}
        configs: dict[tuple, tuple[dict, dict]] = {}
        for entry in self.store.journal():
            if entry.get("phase") == phase:
                configs.setdefault(tuple(entry["job_id"]), (entry["config"], entry.get("config_info") or {}))
        return results, configs

    # -- strategies ----------------------------------------------------------------------------------------
    def _stop_runner(self) -> None:
        if self._runner is not None:
            self._runner.shutdown()
            self._runner = None

    def run_master(self, config_generator: Any, schedule: Callable[[int], tuple[list[int], list[float]]],
                   iterations: int, phase: str = "search") -> list[dict]:
        """Run `iterations` Successive Halving brackets (`schedule`) with any hpbandster-style config
        generator (get_config(budget) -> (config, info); new_result(job)). Returns the phase's records."""
        self._stop_runner()
        results, configs = self._replay_state(phase)
        master = _EngineMaster(self, config_generator, schedule, phase, results, configs)
        self._master = master
        outcome: dict[str, Any] = {}

        def target() -> None:
            try:
                master.run(n_iterations=iterations, min_n_workers=1, iteration_kwargs={})
            except BaseException as exc:  # surfaced in the caller's thread
                outcome["error"] = exc

        thread = threading.Thread(target=target, name="nago-master", daemon=True)
        thread.start()
        try:
            while thread.is_alive():
                thread.join(0.5)
                self._supervise()
        finally:
            self._master = None
            master.shutdown(shutdown_workers=False)
            self.optimizer_time_s += getattr(config_generator, "optimizer_time_s", 0.0)
        if "error" in outcome:
            raise outcome["error"]
        return [r for r in self.records if r.get("phase") == phase]

    def run_bohb(self, *, min_budget: float, max_budget: float, eta: float = 3, iterations: int = 1,
                 phase: str = "search", seed: int | None = None, **bohb_options: Any) -> list[dict]:
        """BOHB (hpbandster's schedule and KDE model; see search.bohb). Returns the phase's records."""
        from ..bohb import BOHBConfigGenerator, check_budgets, hyperband_schedule

        check_budgets(min_budget, max_budget, eta, iterations)
        cg = BOHBConfigGenerator(self.space.space, seed=self.context["seed"] if seed is None else seed,
                                 **bohb_options)
        return self.run_master(cg, hyperband_schedule(min_budget, max_budget, eta), iterations, phase)

    def run_random(self, *, budget: float, evaluations: int, phase: str = "search",
                   seed: int | None = None) -> list[dict]:
        """Random search: `evaluations` configurations from the space's prior, each trained for `budget`."""
        from ..random_search import RandomConfigGenerator, random_schedule

        schedule = random_schedule(budget, evaluations)
        cg = RandomConfigGenerator(self.space.space, seed=self.context["seed"] if seed is None else seed)
        return self.run_master(cg, schedule, 1, phase)

    def evaluate_batch(self, jobs: Iterable[Sequence[Any]], *, phase: str = "batch") -> list[dict]:
        """Evaluate a batch of jobs on the worker pool and return their records in order.

        jobs: (config, budget) or (config, budget, overrides) with overrides {"seed": int,
          "train_overrides": {...}}; config holds the space's flat keys (values outside the space's ranges
          are allowed: they only need to make valid generator hyperparameters).
        A record is a results.jsonl line: status ("ok" | "failed" | "crashed"), loss (validation error or
        None), error, info (params, macs, memory_mb_per_sample, test_accuracy, spec_hash, ...), config,
        budget, seed, job_id, phase, batch, position. Jobs whose result is already in the run directory (same
        phase, batch number, position, config, budget and overrides; e.g. after a resume) are not run again.
        """
        items = []
        for item in jobs:
            if not isinstance(item, (list, tuple)) or len(item) not in (2, 3) or not isinstance(item[0], Mapping):
                raise ValueError(f"job: must be (config dict, budget) or (config, budget, overrides), got {item!r}")
            overrides = dict(item[2]) if len(item) == 3 and item[2] else {}
            unknown = sorted(set(overrides) - {"seed", "train_overrides"})
            if unknown:
                raise ValueError(f"job overrides: unknown key {unknown[0]!r} (allowed: seed, train_overrides)")
            budget = item[1]
            if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
                raise ValueError(f"job budget: must be a number of epochs > 0, got {budget!r}")
            items.append((to_builtin(dict(item[0])), float(budget), to_builtin(overrides)))
        batch = self._batch_counter.get(phase, 0)
        self._batch_counter[phase] = batch + 1
        done: dict[int, dict] = {}
        logged = {}
        for r in self.records:
            if r.get("phase") == phase and r.get("batch") == batch:
                logged[(r.get("position"), canon(r["config"]), budget_key(r["budget"]),
                        canon(r.get("overrides") or {}))] = r
        pending: dict[tuple, int] = {}
        for i, (config, budget, overrides) in enumerate(items):
            record = logged.get((i, canon(config), budget_key(budget), canon(overrides)))
            if record is not None:
                done[i] = record
                continue
            if self._runner is None:
                self._runner = _BatchRunner(self)
            job_id = (batch, int(self.session or 0), i)
            extra = {"batch": batch, "position": i, "overrides": overrides}
            kwargs = self._prepare_job(job_id, phase, config, budget, overrides=overrides, extra=extra)
            pending[job_id] = i
            self._runner.submit(job_id, phase, kwargs, extra)
        runner = self._runner
        while pending:
            assert runner is not None
            with runner.cond:
                for job_id in [j for j in pending if j in runner.finished]:
                    done[pending.pop(job_id)] = runner.finished.pop(job_id)
                if pending:
                    runner.cond.wait(0.5)
            self._supervise()
        return [done[i] for i in range(len(items))]

    # -- summaries -----------------------------------------------------------------------------------------
    def phase_records(self, phase: str = "search") -> list[dict]:
        return [r for r in self.records if r.get("phase") == phase]

    def incumbent(self, phase: str = "search") -> dict | None:
        return incumbent(self.phase_records(phase))

    def final_evaluation(self, samples: int, budget: float | None = None, *, phase: str = "final",
                         config: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The paper's protocol for judging a generator: sample `samples` networks from the best generator
        (seeds search seed + 1, + 2, ...) and train each for `budget` epochs (default: the largest budget of
        the search). Returns mean and standard deviation of validation error and test accuracy."""
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"final samples: must be an integer >= 1, got {samples!r}")
        best = self.incumbent()
        if config is None:
            if best is None:
                raise RuntimeError("final evaluation: the search has no successful evaluation")
            config = best["config"]
        if budget is None:
            budget = max((r["budget"] for r in self.phase_records()), default=None)
            if budget is None:
                raise ValueError("final budget: give one (the search has no evaluation to take it from)")
        seeds = [self.context["seed"] + 1 + i for i in range(samples)]
        records = self.evaluate_batch([(config, budget, {"seed": s}) for s in seeds], phase=phase)
        return summarize_final(records)


# ---------------------------------------------------------------------------------------------------------
# helpers shared with the report and the strategies
# ---------------------------------------------------------------------------------------------------------
def _last_line(text: Any) -> str:
    lines = [line for line in str(text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:]) or "(empty log)"


def incumbent(records: Iterable[Mapping[str, Any]]) -> dict | None:
    """The best successful evaluation on the largest budget that has one (hpbandster's incumbent)."""
    ok = [r for r in records if r.get("status") == "ok" and r.get("loss") is not None]
    if not ok:
        return None
    top = max(budget_key(r["budget"]) for r in ok)
    return dict(min((r for r in ok if budget_key(r["budget"]) == top), key=lambda r: r["loss"]))


def summarize_final(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    import statistics

    ok = [r for r in records if r.get("status") == "ok"]

    def stats(values: list[float]) -> tuple[float | None, float | None]:
        if not values:
            return None, None
        return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)

    val_err = [r["loss"] for r in ok]
    test_acc = [r["info"].get("test_accuracy") for r in ok if r["info"].get("test_accuracy") is not None]
    params = [r["info"].get("params") for r in ok if r["info"].get("params") is not None]
    m_val, s_val = stats(val_err)
    m_test, s_test = stats(test_acc)
    return {"samples": len(records), "ok": len(ok), "seeds": [r.get("seed") for r in records],
            "budget": records[0]["budget"] if records else None, "config": records[0]["config"] if records else None,
            "val_error_mean": m_val, "val_error_std": s_val, "test_accuracy_mean": m_test,
            "test_accuracy_std": s_test, "params_mean": stats(params)[0],
            "failures": [r.get("error") for r in records if r.get("status") != "ok"]}


def space_from_store(store: RunStore) -> SearchSpace:
    ctx = store.settings.get("space_context") or {}
    return SearchSpace(name=str(ctx.get("space", store.settings.get("space"))), generator=str(ctx["generator"]),
                       space=space_from_json(store.space_json()), fixed=dict(ctx.get("fixed") or {}),
                       preset=ctx.get("preset"))


def check_dataset(dataset: str, data_dir: str | None = None, seed: int = 0) -> tuple[tuple[int, int, int], int]:
    """Fail early (one line) on an unknown or unavailable data set; returns (input_shape, num_classes)."""
    import training

    known = [n for n in training.DATASET_NAMES if "<" not in n]
    if not isinstance(dataset, str) or not (dataset in known or dataset.startswith("imagefolder:")):
        raise ValueError(f"dataset: unknown data set {dataset!r}; allowed: {', '.join(training.DATASET_NAMES)}")
    bundle = training.load_dataset(dataset, data_dir=data_dir, seed=seed)
    return tuple(bundle.input_shape), int(bundle.num_classes)  # type: ignore[return-value]


STRATEGY_KEYS = {"bohb": ("min_budget", "max_budget", "eta", "iterations", "bohb"),
                 "random": ("budget", "evaluations")}
# Settings a resume may change (the search then goes on further).
EXTENDABLE = ("iterations", "evaluations")


def open_run(strategy: str, run_dir: str | Path, *, space: str | None = None, dataset: str | None = None,
             settings: Mapping[str, Any] | None = None, resume: bool = False,
             space_options: Mapping[str, Any] | None = None, seed: int | None = None,
             train_overrides: Mapping[str, Any] | None = None, data_dir: str | None = None) -> RunStore:
    """Create a run directory for a new search (validating everything first), or reopen one to resume it.

    On resume, every argument that is not None must match what the directory holds (otherwise it belongs to
    another search: an error); `iterations` / `evaluations` may grow. The returned store is locked; close it
    (or use it as a context manager) when done."""
    from ..evaluation import check_train_overrides

    settings = {k: v for k, v in dict(settings or {}).items()}
    if resume:
        expect = {"strategy": strategy, "space": space, "dataset": dataset, "seed": seed,
                  "space_options": dict(space_options) if space_options else None,
                  "train_overrides": dict(train_overrides) if train_overrides else None,
                  **{k: v for k, v in settings.items() if k not in EXTENDABLE}}
        if space is not None and str(space).endswith(".json"):
            expect["space"] = f"custom:{Path(space).name}"
        if strategy in STRATEGY_KEYS:
            _check_extension(strategy, settings)
        store = RunStore.open(run_dir, writable=True, expect=expect)
        # In memory only (search.json is never rewritten): how far to go this time, where the data lives here.
        for key in EXTENDABLE:
            if settings.get(key) is not None:
                store.settings[key] = settings[key]
        if data_dir is not None:
            store.settings["data_dir"] = data_dir
        return store
    space = space or "hnag"
    dataset = dataset or "digits"
    seed = 0 if seed is None else seed
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
    if strategy in STRATEGY_KEYS:
        _check_strategy(strategy, settings)
    # Everything that can be checked before anything is written.
    path = Path(run_dir)
    RunStore.check_new(path)
    search_space = build_space(space, space_options, seed=seed)
    overrides = check_train_overrides(train_overrides)
    shape, classes = check_dataset(dataset, data_dir, seed)
    search_space.to_params(to_builtin(dict(search_space.space.get_default_configuration())), shape, classes)
    full = {"strategy": strategy, "space": space if not str(space).endswith(".json") else search_space.name,
            "space_options": to_builtin(dict(space_options or {})), "space_context": search_space.context(),
            "dataset": dataset, "input_shape": list(shape), "num_classes": classes, "seed": seed,
            "data_dir": data_dir, "train_overrides": to_builtin(overrides), **to_builtin(settings)}
    return RunStore.create(path, full, search_space.to_json())


def _check_extension(strategy: str, settings: Mapping[str, Any]) -> None:
    for key in EXTENDABLE:
        value = settings.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"{key}: must be an integer >= 1, got {value!r}")


def _check_strategy(strategy: str, settings: dict[str, Any]) -> None:
    if strategy == "bohb":
        from ..bohb import bohb_options, check_budgets

        for key, default in (("eta", 3), ("iterations", 1)):
            if settings.get(key) is None:
                settings[key] = default
        if settings.get("min_budget") is None or settings.get("max_budget") is None:
            raise ValueError("budgets: a BOHB search needs --min-budget and --max-budget")
        check_budgets(settings["min_budget"], settings["max_budget"], settings["eta"], settings["iterations"])
        settings["bohb"] = bohb_options(settings.get("bohb"))
    elif strategy == "random":
        from ..random_search import check_random

        if settings.get("budget") is None or settings.get("evaluations") is None:
            raise ValueError("random search: needs --budget and --evaluations")
        check_random(settings["budget"], settings["evaluations"])


def run_search(strategy: str, run_dir: str | Path, *, space: str | None = None, dataset: str | None = None,
               settings: Mapping[str, Any] | None = None, iterations: int | None = None, resume: bool = False,
               space_options: Mapping[str, Any] | None = None, seed: int | None = None,
               train_overrides: Mapping[str, Any] | None = None, data_dir: str | None = None,
               final_samples: int = 0, final_budget: float | None = None,
               on_start: Callable[["Engine"], None] | None = None, **engine_options: Any) -> dict[str, Any]:
    """Create (or resume) the run directory, start the engine, run the strategy, optionally judge the best
    generator on `final_samples` new seeds at `final_budget` epochs, and return a summary dict."""
    settings = dict(settings or {})
    if iterations is not None:
        settings["iterations"] = iterations
    if final_samples and (isinstance(final_samples, bool) or not isinstance(final_samples, int)
                          or final_samples < 0):
        raise ValueError(f"final samples: must be an integer >= 0, got {final_samples!r}")
    if final_budget is not None and (not isinstance(final_budget, (int, float)) or not final_budget > 0):
        raise ValueError(f"final budget: must be a number of epochs > 0, got {final_budget!r}")
    store = open_run(strategy, run_dir, space=space, dataset=dataset, settings=settings, resume=resume,
                     space_options=space_options, seed=seed, train_overrides=train_overrides, data_dir=data_dir)
    start = time.time()
    try:
        with Engine(store, session_info={"strategy": strategy, "resume": resume}, **engine_options) as engine:
            if on_start is not None:
                on_start(engine)
            s = store.settings
            if strategy == "bohb":
                engine.run_bohb(min_budget=s["min_budget"], max_budget=s["max_budget"], eta=s["eta"],
                                iterations=int(s["iterations"]), **dict(s.get("bohb") or {}))
            elif strategy == "random":
                engine.run_random(budget=s["budget"], evaluations=int(s["evaluations"]))
            else:
                raise ValueError(f"strategy: run_search knows bohb and random, not {strategy!r}")
            final = engine.final_evaluation(final_samples, final_budget) if final_samples else None
            summary = search_summary(engine.phase_records("search"))
            summary.update(run_dir=str(store.path), strategy=strategy, final=final,
                           session_wall_time_s=time.time() - start, optimizer_time_s=engine.optimizer_time_s,
                           new_evaluations=engine.new_results)
            return summary
    finally:
        store.close()


def search_summary(records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    best = incumbent(records)
    return {
        "evaluations": len(records), "ok": sum(r["status"] == "ok" for r in records),
        "failed": sum(r["status"] == "failed" for r in records),
        "crashed": sum(r["status"] == "crashed" for r in records),
        "total_epochs": sum(float(r["budget"]) for r in records),
        "incumbent": None if best is None else {k: best.get(k) for k in ("job_id", "budget", "loss", "config", "seed")}
        | {"test_accuracy": best["info"].get("test_accuracy"), "params": best["info"].get("params")},
    }


def format_record(record: Mapping[str, Any], engine: "Engine | None" = None) -> str:
    """One progress line: evaluation, its outcome, and the incumbent."""
    jid = ",".join(str(v) for v in record["job_id"])
    if record["status"] == "ok":
        what = f"val error {record['loss']:.4f}"
    else:
        what = f"{record['status'].upper()}: {record.get('error') or ''}"[:90]
    secs = record.get("info", {}).get("eval_time_s")
    text = f"[{record.get('phase', 'search')} {jid}] budget {record['budget']:.4g} ep  {what}" + (
        f"  ({secs:.1f} s)" if isinstance(secs, (int, float)) else "")
    if engine is not None:
        phase_records = engine.phase_records(record.get("phase", "search"))
        best = incumbent(phase_records)
        text = f"{len(phase_records):4d} done | " + text
        if best is not None:
            text += f" | incumbent {best['loss']:.4f} @ {best['budget']:.4g} ep ({','.join(map(str, best['job_id']))})"
    return text
