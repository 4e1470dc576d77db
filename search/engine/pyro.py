"""Jobs on Pyro4 workers: hpbandster's name server, dispatcher and worker processes behind one small pool
(`PyroPool`) that the ask/tell driver uses exactly like the in-process pool. Nothing else touches hpbandster.

    with PyroPool(log, evaluator_context, workers=2) as pool:   # name server + 2 local worker processes
        drive(strategy, pool, log, seed=0, evaluations=20)

What it guarantees:
- everything that crosses Pyro4 is a built-in Python type (numpy floats and np.str_ make serpent hang silently);
  the wire format stays serpent;
- a worker that dies mid-job is noticed at the next ping; its job runs again on another worker (`max_retries`
  times), and a local worker process that died is restarted (bounded); the dispatcher never dies with a worker;
- a job that runs longer than `job_timeout` seconds is recorded as failed with that reason, its local worker is
  killed and replaced, and the search goes on; a job that needs more than `job_memory` MB is recorded as failed
  by its worker (`worker.evaluate_job`), which lives on;
- workers started elsewhere (`nago worker --run-dir DIR` or `--nameserver HOST:PORT --run-id ID`) join the
  same pool, and the pool keeps as many jobs running as there are workers; the name server and dispatcher
  listen only on the address they were given (127.0.0.1 by default).
"""
from __future__ import annotations

import logging
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import Pyro4
import Pyro4.errors
import Pyro4.naming
from hpbandster.core.dispatcher import Dispatcher, Job
from hpbandster.core.dispatcher import Worker as _PoolWorker

from ..spaces.base import to_builtin
from .driver import Done, ServedPool, check_pool_options
from .store import RunLog

log = logging.getLogger("search.engine")
LOOPBACK = "127.0.0.1"
WORKER_DIED = "Worker died unexpectedly."

__all__ = ["PyroPool", "LOOPBACK"]


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


@dataclass
class _LocalWorker:
    proc: subprocess.Popen
    tag: str  # the suffix of its hpbandster name: hpbandster.run_<id>.worker.<host>.<pid>.<tag>
    log_path: Path


def gpu_ids(device: str) -> list[str]:
    """GPUs to spread local workers over (one per worker), without importing torch."""
    if device not in ("auto", "cuda"):
        return []
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [v.strip() for v in visible.split(",") if v.strip() and v.strip() != "-1"]
    return sorted((m.group(1) for m in (re.fullmatch(r"nvidia(\d+)", n) for n in os.listdir("/dev")
                                        if n.startswith("nvidia")) if m), key=int) if os.path.isdir("/dev") else []


class PyroPool(ServedPool):
    """Name server + dispatcher + local worker processes; `submit` / `wait` as the driver's `Pool`.

    log: the writable run log (its directory holds nameserver.json and the workers' logs).
    evaluator: the evaluator's JSON `context()`; every job carries it, so any `nago worker` can serve any run.
    workers: local worker processes (default: one per GPU, else 1; 0 = only workers that join by themselves).
      With GPUs, worker i sees only GPU i (CUDA_VISIBLE_DEVICES). `capacity` (jobs kept running) is the larger
      of this and the number of workers that joined.
    host, port: where the name server and dispatcher listen (default 127.0.0.1, a free port).
    device, threads: the local workers' device and torch CPU threads (default: cores / workers, at least 1).
    ping_interval: seconds between the dispatcher's worker checks (how fast a dead worker is noticed).
    max_retries: how often a job whose worker died runs again before it is logged as crashed.
    job_timeout: seconds a job may run before it is failed and its worker replaced (None: no limit).
    job_memory: MB of memory a job may add to its worker process (None: no limit; Linux).
    """

    def __init__(self, log: RunLog, evaluator: Mapping[str, Any], *, workers: int | None = None,
                 host: str = LOOPBACK, port: int = 0, device: str = "auto", threads: int | None = None,
                 ping_interval: float = 10.0, max_retries: int = 1, job_timeout: float | None = None,
                 job_memory: float | None = None, worker_timeout: float = 600.0,
                 max_respawns: int | None = None) -> None:
        self.gpus = gpu_ids(device)
        if workers is None:
            workers = max(1, len(self.gpus))
        check_pool_options(workers=workers, port=port, threads=threads, job_timeout=job_timeout,
                           job_memory=job_memory)
        self.log = log
        self.evaluator = to_builtin(dict(evaluator))
        self.n_workers = workers
        self.host, self.port = host, port
        self.device = device
        self.threads = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
        self.ping_interval = max(1, int(round(ping_interval)))
        self.max_retries = max_retries
        self.job_timeout = job_timeout
        self.job_memory = job_memory
        self.worker_timeout = worker_timeout
        self.respawns_left = 2 * max(workers, 1) if max_respawns is None else max_respawns
        self._done: "queue.Queue[Done]" = queue.Queue()
        self._attempts: dict[int, int] = {}
        self._procs: list[_LocalWorker | None] = []
        self._logs: list[Any] = []
        self._ns: _NameServer | None = None
        self._dispatcher: _Dispatcher | None = None
        self._thread: threading.Thread | None = None
        self._closing = False

    # -- lifecycle ----------------------------------------------------------------------------------------
    def start(self) -> "PyroPool":
        logging.getLogger("hpbandster").setLevel(logging.ERROR)
        self._ns = _NameServer(self.host, self.port)
        try:
            self.ns_host, self.ns_port = self._ns.start()
        except OSError as exc:
            raise ValueError(f"host/port: cannot listen on {self.host}:{self.port} ({exc})") from None
        self.log.write_nameserver(self.ns_host, self.ns_port)
        try:
            self._dispatcher = _Dispatcher(self._on_result, queue_callback=None, run_id=self.log.run_id,
                                           ping_interval=self.ping_interval, nameserver=self.ns_host,
                                           nameserver_port=self.ns_port, host=self.ns_host)
            self._thread = threading.Thread(target=self._dispatcher.run, name="nago-dispatcher", daemon=True)
            self._thread.start()
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
            if self._dispatcher is not None:
                self._dispatcher.shutdown(False)
                if self._thread is not None:
                    self._thread.join(30)  # hpbandster joins without a timeout: a stuck thread would hang us
            self._shutdown_workers()
        finally:
            for proc in (w.proc for w in self._procs if w is not None):
                _stop(proc)
            for fh in self._logs:
                fh.close()
            if self._ns is not None:
                self._ns.shutdown()
            self.log.clear_nameserver()

    def describe(self) -> str:
        """One line for the user: where the pool listens and how to add workers."""
        return (f"name server {self.ns_host}:{self.ns_port}, {self.n_workers} local worker(s); more workers: "
                f"nago worker --run-dir {self.log.path}")

    # -- the pool interface -------------------------------------------------------------------------------
    @property
    def capacity(self) -> int:
        """Jobs to keep running: one per worker, local or joined (at least one, so a search waits for some)."""
        joined = len(self._dispatcher.worker_pool) if self._dispatcher is not None else 0
        return max(1, self.n_workers, joined)

    def submit(self, job_id: int, config: Mapping[str, Any], budget: float, seed: int) -> None:
        assert self._dispatcher is not None, "PyroPool.start() first"
        attempt = self._attempts.setdefault(job_id, 1)
        context = {"evaluator": self.evaluator, "seed": int(seed)}
        if self.job_memory is not None:
            context["memory_mb"] = float(self.job_memory)
        self._dispatcher.submit_job((int(seed), int(job_id), attempt), config=to_builtin(dict(config)),
                                    budget=float(budget), working_directory=str(self.log.path), context=context)

    def wait(self) -> list[Done]:
        """Block until a job finishes (supervising workers and time limits meanwhile); every finished job."""
        while True:
            try:
                first = self._done.get(timeout=0.5)
                break
            except queue.Empty:
                self._supervise()
        out = [first]
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                return out

    def running(self) -> dict[int, str]:
        """job id -> worker name, for the jobs running now."""
        if self._dispatcher is None:
            return {}
        with self._dispatcher.runner_cond:
            return {jid[1]: job.worker_name for jid, job in self._dispatcher.running_jobs.items()}

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._procs if w is not None and w.proc.poll() is None]

    # -- results ------------------------------------------------------------------------------------------
    def _on_result(self, job: Job) -> None:
        from ..evaluators.base import Evaluation

        seed, job_id, attempt = job.id
        if job.result is None and job.exception == WORKER_DIED and attempt <= self.max_retries \
                and not self._closing:
            log.warning("engine: the worker of job %s died; running it again (attempt %d)", job_id, attempt + 1)
            self._attempts[job_id] = attempt + 1
            self.submit(job_id, job.kwargs["config"], job.kwargs["budget"], seed)
            return
        if job.result is None:
            reason = str(job.exception or "crashed")
            if reason == WORKER_DIED:
                reason = "worker died while running the job"
            evaluation = Evaluation("crashed", error=last_line(reason) or "crashed",
                                    info={"traceback": str(job.exception)[-2000:]})
        else:
            evaluation = Evaluation.from_dict(job.result.get("info") or {"status": "failed",
                                                                          "error": "empty result"})
        started, finished = job.timestamps.get("started"), job.timestamps.get("finished")
        eval_s = float(finished - started) if started and finished else 0.0
        evaluation.info["attempts"] = attempt
        self._done.put(Done(job_id, evaluation, str(job.worker_name or "?"), eval_s))

    # -- workers ------------------------------------------------------------------------------------------
    def _shutdown_workers(self) -> None:
        if self._ns is None or self._ns.daemon is None:
            return
        for uri in self._list_workers().values():
            try:
                with Pyro4.Proxy(uri) as proxy:
                    proxy._pyroTimeout = 5
                    proxy.shutdown()
            except (Pyro4.errors.PyroError, OSError):
                pass

    def _list_workers(self) -> dict[str, str]:
        try:
            with Pyro4.locateNS(host=self.ns_host, port=self.ns_port) as ns:
                return ns.list(prefix=f"hpbandster.run_{self.log.run_id}.worker.")
        except (Pyro4.errors.PyroError, OSError):
            return {}

    def _spawn(self, slot: int) -> "_LocalWorker":
        tag = f"s{self.log.session}w{len(self._logs)}"
        cmd = [sys.executable, "-m", "search.engine.worker", "--nameserver", f"{self.ns_host}:{self.ns_port}",
               "--run-id", self.log.run_id, "--host", LOOPBACK, "--parent-pid", str(os.getpid()),
               "--device", self.device, "--threads", str(self.threads), "--name", tag, "--ns-timeout", "60"]
        env = dict(os.environ)
        if self.gpus:
            env["CUDA_VISIBLE_DEVICES"] = self.gpus[slot % len(self.gpus)]
        env["OMP_NUM_THREADS"] = str(self.threads)
        log_path = self.log.path / "logs" / f"worker-{tag}.log"
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
                                   f"(see {self.log.path / 'logs'})")
            time.sleep(0.2)

    def _supervise(self) -> None:
        """Enforce job time limits; restart local workers that died (bounded); fail when none is left."""
        if self._closing:
            return
        if self.job_timeout is not None:
            self._enforce_timeout()
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
                               f"{self.log.path / 'logs'})")

    def _enforce_timeout(self) -> None:
        from ..evaluators.base import Evaluation

        assert self._dispatcher is not None
        now = time.time()
        with self._dispatcher.runner_cond:
            late = [(jid, job) for jid, job in self._dispatcher.running_jobs.items()
                    if job.timestamps.get("started") and now - job.timestamps["started"] > self.job_timeout]
            for jid, _ in late:
                del self._dispatcher.running_jobs[jid]
        for jid, job in late:
            seed, job_id, attempt = jid
            name = str(job.worker_name or "?")
            log.warning("engine: job %s ran past its %.0f s limit on %s; failing it, replacing the worker",
                        job_id, self.job_timeout, name)
            self._kill_worker(name)
            self._done.put(Done(job_id, Evaluation(
                "failed", error=f"job timeout: ran longer than {self.job_timeout:g} s (worker {name} replaced)",
                info={"attempts": attempt}), name, float(self.job_timeout)))

    def _kill_worker(self, name: str) -> None:
        """Kill a local worker by its hpbandster name (a remote one is only dropped from the pool)."""
        for w in self._procs:
            if w is not None and name.endswith(f".{w.proc.pid}.{w.tag}") and w.proc.poll() is None:
                os.killpg(w.proc.pid, signal.SIGKILL)
                w.proc.wait()
        assert self._dispatcher is not None
        with self._dispatcher.discover_cond:
            worker = self._dispatcher.worker_pool.pop(name, None)
            self._dispatcher.idle_workers.discard(name)
            if worker is not None:
                self._dispatcher._dead.add(name)


def _stop(proc: subprocess.Popen) -> None:
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



def last_line(text: Any) -> str:
    """The last non-empty line of a text (an exception's message, a traceback), stripped."""
    lines = [line for line in str(text or "").strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def _tail(path: Path, n: int = 3) -> str:
    try:
        lines = [line for line in Path(path).read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:]) or "(empty log)"
