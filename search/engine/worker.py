"""The evaluation worker: an hpbandster `Worker` that serves any NAGO search.

A job carries its evaluator's JSON context (kind, space, data set or table, training options) and its seed, so
one worker process can serve any search on the same name server. `compute` never raises for a bad or
diverging configuration: the evaluator turns those into failed evaluations (loss = inf for hpbandster, the
evaluation in `info`), and the worker lives on. Evaluators are rebuilt once per context and kept
(`search.evaluators.from_context`).

Run one with `nago worker --run-dir DIR` (finds the name server of the search running in DIR, also after the
search was resumed on another port) or `nago worker --nameserver HOST:PORT --run-id ID`; a search started
with `--workers N` spawns N of them itself (`python -m search.engine.worker ...`).

`evaluate_job` is the one place where a worker of either backend (this one, or a Dask worker running
`search.engine.dask_pool`'s task) turns a job into an evaluation, under the job's memory limit when the search
set one (`--job-memory`: RLIMIT_AS over the worker's address space at the job's start, Linux only).
"""
from __future__ import annotations

import argparse
import contextlib
import ipaddress
import logging
import os
import re
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

import Pyro4
from hpbandster.core.worker import Worker as _HPBandSterWorker

from .store import read_nameserver

LOOPBACK = "127.0.0.1"
log = logging.getLogger("search.worker")


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def parse_address(text: str) -> tuple[str, int]:
    host, sep, port = str(text).rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"nameserver: must be HOST:PORT, got {text!r}")
    return host, int(port)


def reachable(host: str, port: int, timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# Messages of an allocation refused by the address-space limit: Python's MemoryError, torch's and numpy's.
_ALLOCATION_FAILED = re.compile(r"MemoryError|can't allocate memory|Cannot allocate memory|Unable to allocate|"
                                r"bad_alloc|can't start new thread")
#: RLIMIT_AS is per process: jobs with a memory limit run one at a time in a process (a Dask worker may have
#: several threads)
_LIMIT_LOCK = threading.Lock()


def _address_space() -> int:
    """This process's virtual address space in bytes (Linux)."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def address_space_limit(megabytes: float | None) -> Iterator[None]:
    """Let the code inside add at most `megabytes` MB of address space to this process (None: no limit).

    The limit is relative to the address space at entry because a process that imported torch already maps
    gigabytes it never touches; an allocation past it fails (MemoryError, or torch's "can't allocate memory")
    instead of taking the machine down. The earlier limit is restored on exit."""
    if megabytes is None:
        yield
        return
    import resource

    with _LIMIT_LOCK:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = _address_space() + int(float(megabytes) * 2**20)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
        try:
            yield
        finally:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def evaluate_job(context: Mapping[str, Any], config: Mapping[str, Any], budget: float, *, device: str = "auto",
                 data_dir: str | None = None) -> Any:
    """Evaluate one job sent by a search: `context` holds the evaluator's JSON context ("evaluator"), the run
    seed ("seed") and the job's memory limit in MB ("memory_mb", optional). `device` and `data_dir` are this
    machine's (default: the search's). Returns a `search.evaluators.Evaluation`; a job that needed more memory
    than its limit is a failed evaluation that says so."""
    from ..evaluators import Evaluation, from_context

    ctx = dict(context["evaluator"])
    if data_dir and ctx.get("kind") == "training":
        ctx["data_dir"] = data_dir  # where this machine keeps the data
    if device != "auto" and ctx.get("kind") == "training":
        ctx["device"] = device
    evaluator = from_context(ctx)  # built (data loaded) outside the job's limit: it is kept for later jobs
    memory_mb = context.get("memory_mb")
    try:
        with address_space_limit(memory_mb):
            evaluation = evaluator.evaluate(dict(config), float(budget), int(context.get("seed", 0)))
    except MemoryError as exc:  # raised outside an evaluator's own handling (e.g. while building its result)
        evaluation = Evaluation("failed", error=f"MemoryError: {exc}")
    if memory_mb is not None and evaluation.status != "ok" and _ALLOCATION_FAILED.search(
            f"{evaluation.error} {evaluation.info.get('traceback', '')}"):
        evaluation.error = f"job memory limit: needed more than {float(memory_mb):g} MB ({evaluation.error})"
    return evaluation


class NagoWorker(_HPBandSterWorker):
    """Evaluates (config, budget, context) jobs with the evaluator that the context describes.

    device: this worker's device ("auto", "cpu", "cuda", "cuda:1"); data_dir: where this machine keeps data
    sets (default: the search's `data_dir`).
    """

    def __init__(self, run_id: str, *, nameserver: str, nameserver_port: int, host: str = LOOPBACK,
                 device: str = "auto", data_dir: str | None = None, name: str | None = None) -> None:
        quiet = logging.getLogger("search.worker.hpbandster")
        quiet.setLevel(logging.WARNING)  # hpbandster's per-job chatter
        super().__init__(run_id, nameserver=nameserver, nameserver_port=nameserver_port, host=host, id=name,
                         logger=quiet)
        self.device = device
        self.data_dir = data_dir
        self.jobs_done = 0

    def compute(self, config_id: Any, config: Mapping[str, Any], budget: float, working_directory: str,
                context: Mapping[str, Any] | None = None) -> dict[str, Any]:
        if not context or "evaluator" not in context:
            info = {"status": "failed", "error": "job without an evaluator context (not sent by a NAGO search)"}
            return {"loss": float("inf"), "info": info}
        evaluation = evaluate_job(context, config, budget, device=self.device, data_dir=self.data_dir)
        self.jobs_done += 1
        loss = evaluation.metrics.get("error", 0.0) if evaluation.status == "ok" else float("inf")
        # hpbandster counts a non-finite loss as a crashed trial; the driver reads the evaluation in `info`.
        return {"loss": float(loss if loss is not None else float("inf")), "info": evaluation.to_dict()}

    # -- keeping in touch with the search ------------------------------------------------------------------
    def reregister(self, host: str, port: int) -> None:
        """Register with a (new) name server and ask its dispatchers to discover this worker."""
        self.nameserver, self.nameserver_port = host, port
        uri = self.pyro_daemon.uriFor(self.worker_id)
        with Pyro4.locateNS(host=host, port=port) as ns:
            ns.register(self.worker_id, uri)
        self._call_dispatchers()

    def announce(self, timeout: float = 60.0) -> None:
        """Once this worker is registered, ask the dispatchers to discover it. (hpbandster asks them before it
        registers, so a new worker used to wait for the dispatcher's next round: up to a ping interval.)"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if getattr(self, "pyro_daemon", None) is not None:
                try:
                    with Pyro4.locateNS(host=self.nameserver, port=self.nameserver_port) as ns:
                        ns.lookup(self.worker_id)
                    self._call_dispatchers()
                    return
                except Pyro4.errors.NamingError:
                    pass
            time.sleep(0.1)

    def _call_dispatchers(self) -> None:
        with Pyro4.locateNS(host=self.nameserver, port=self.nameserver_port) as ns:
            dispatchers = ns.list(prefix=f"hpbandster.run_{self.run_id}.dispatcher")
        for uri in dispatchers.values():
            try:
                with Pyro4.Proxy(uri) as proxy:
                    proxy.trigger_discover_worker()
            except Pyro4.errors.PyroError:
                pass


def _watchdog(worker: NagoWorker, *, parent_pid: int | None, run_dir: str | None, ns_timeout: float,
              interval: float = 1.0) -> None:
    """Exit when the parent (the search that spawned this worker) dies, or when the name server has been
    unreachable for `ns_timeout` seconds; follow a run directory's name server when the search is resumed."""
    lost_since: float | None = None
    last_check = 0.0
    while True:
        time.sleep(interval)
        if parent_pid is not None and os.getppid() != parent_pid:
            log.warning("worker: the search that started this worker is gone; exiting")
            os._exit(0)
        now = time.monotonic()
        if now - last_check < 5.0:
            continue
        last_check = now
        host, port = worker.nameserver, worker.nameserver_port
        if run_dir is not None:
            ns = read_nameserver(run_dir)
            if ns is not None and ns["run_id"] == worker.run_id and (ns["host"], ns["port"]) != (host, port):
                try:
                    worker.reregister(ns["host"], int(ns["port"]))
                    log.warning("worker: joined the resumed search at %s:%s", ns["host"], ns["port"])
                    lost_since = None
                    continue
                except Pyro4.errors.PyroError:
                    pass
        if reachable(host, port):
            lost_since = None
            continue
        lost_since = lost_since or now
        if now - lost_since > ns_timeout:
            log.warning("worker: name server %s:%s unreachable for %.0f s; exiting", host, port, ns_timeout)
            os._exit(0)


def serve(*, run_id: str, nameserver: str, port: int, host: str = LOOPBACK, device: str = "auto",
          data_dir: str | None = None, threads: int | None = None, name: str | None = None,
          parent_pid: int | None = None, run_dir: str | None = None, ns_timeout: float = 120.0) -> int:
    """Run one worker until the search shuts it down (or its parent / name server disappears)."""
    if is_loopback(host) and not is_loopback(nameserver):
        log.warning("worker: listening on %s only; a search on another machine cannot reach this worker "
                    "(pass --host with an address it can reach)", host)
    threads = threads or 1  # several workers usually share a machine: never all cores each
    os.environ["OMP_NUM_THREADS"] = str(threads)
    # Import the heavy modules before registering, so that the first job's timing is not the imports'.
    import torch

    import training  # noqa: F401

    from .. import evaluators  # noqa: F401

    torch.set_num_threads(int(threads))
    if not reachable(nameserver, port):
        raise ValueError(f"nameserver: nothing listens at {nameserver}:{port}")
    worker = NagoWorker(run_id, nameserver=nameserver, nameserver_port=port, host=host, device=device,
                        data_dir=data_dir, name=name)
    threading.Thread(target=_watchdog, name="nago-worker-watchdog", daemon=True,
                     kwargs=dict(worker=worker, parent_pid=parent_pid, run_dir=run_dir, ns_timeout=ns_timeout)
                     ).start()
    threading.Thread(target=worker.announce, name="nago-worker-announce", daemon=True).start()
    log.info("worker %s: serving run %s via %s:%s on %s (device %s, %d thread(s))", worker.worker_id, run_id,
             nameserver, port, host, device, threads)
    try:
        worker.run(background=False)
    except Pyro4.errors.PyroError as exc:  # the search's name server ended first: nothing left to clean
        log.info("worker: %s", exc)
    log.info("worker %s: shut down after %d jobs", worker.worker_id, worker.jobs_done)
    return 0


def resolve(run_dir: str | None, nameserver: str | None, run_id: str | None, wait_s: float = 0.0
            ) -> tuple[str, int, str]:
    """(host, port, run_id) of the search to join, from a run directory or an explicit address."""
    if run_dir is not None:
        deadline = time.monotonic() + wait_s
        while True:  # a name server file left by a killed search is not a running search: wait for a live one
            ns = read_nameserver(run_dir)
            if ns is not None and reachable(str(ns["host"]), int(ns["port"]), timeout=1.0):
                break
            if time.monotonic() >= deadline:
                break
            time.sleep(0.5)
        if not (Path(run_dir) / "search.json").is_file():
            raise ValueError(f"run-dir: {run_dir} holds no search")
        if ns is None:
            raise ValueError(f"run-dir: no search is running in {run_dir} (no nameserver.json)")
        if run_id is not None and run_id != ns["run_id"]:
            raise ValueError(f"run-id: {run_dir} runs search {ns['run_id']}, not {run_id}")
        return str(ns["host"]), int(ns["port"]), str(ns["run_id"])
    if nameserver is None or run_id is None:
        raise ValueError("worker: give --run-dir DIR, or --nameserver HOST:PORT with --run-id ID")
    host, port = parse_address(nameserver)
    return host, port, run_id


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run-dir", help="run directory of the search to join (finds its name server)")
    parser.add_argument("--nameserver", metavar="HOST:PORT", help="name server of the search to join")
    parser.add_argument("--run-id", help="run id of the search (in its search.json; with --nameserver)")
    parser.add_argument("--host", default=LOOPBACK,
                        help=f"interface this worker listens on (default {LOOPBACK}; binding to another "
                             "interface, e.g. to serve a search on another machine, is your explicit choice)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    parser.add_argument("--data-dir", default=None, help="where data sets live on this machine")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default 1: workers usually "
                        "share a machine; a search's own local workers get cores / workers)")
    parser.add_argument("--name", default=None, help="suffix of the worker's name")
    parser.add_argument("--wait", type=float, default=0.0,
                        help="with --run-dir: seconds to wait for the search to start")
    parser.add_argument("--ns-timeout", type=float, default=120.0,
                        help="exit when the name server has been unreachable this long (seconds)")
    parser.add_argument("--parent-pid", type=int, default=None, help=argparse.SUPPRESS)


def run_from_args(args: argparse.Namespace) -> int:
    if args.threads is not None and args.threads < 1:
        raise ValueError(f"threads: must be an integer >= 1, got {args.threads}")
    host, port, run_id = resolve(args.run_dir, args.nameserver, args.run_id, wait_s=args.wait)
    return serve(run_id=run_id, nameserver=host, port=port, host=args.host, device=args.device,
                 data_dir=args.data_dir, threads=args.threads, name=args.name, parent_pid=args.parent_pid,
                 run_dir=args.run_dir, ns_timeout=args.ns_timeout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m search.engine.worker", description="NAGO evaluation worker")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("search.worker").setLevel(logging.INFO)  # "serving run ..." is news, not a warning
    try:
        return run_from_args(args)
    except ValueError as exc:
        print(f"worker: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
