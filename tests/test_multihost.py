"""Two machines for real: two network namespaces joined by a veth pair that the test creates (10.231.0.1 and
10.231.0.2, nothing else reachable between them). The search's master (name server and dispatcher, or Dask
scheduler) runs in one, a worker (`nago worker --nameserver HOST:PORT`, or `dask worker ADDRESS`) in the other.
The remote worker takes jobs, it is killed mid-job and a second one finishes the search with nothing lost, and
the master listens on no address but the one it was given (and loopback)."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import descendants
from search.engine.store import read_log

REPO = Path(__file__).resolve().parents[1]
MASTER, WORKER = "10.231.0.1", "10.231.0.2"
TINY_CLI = ["--space-option", "top_n=[3,5]", "--space-option", "mid_n=[1,3]", "--space-option", "bottom_n=[3,5]",
            "--space-option", "base_channels=4"]
HAVE_DASK = importlib.util.find_spec("distributed") is not None


def _ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)


@pytest.fixture
def namespaces():
    """(master namespace, worker namespace), joined by a veth pair; removed afterwards with every process
    still running in them."""
    if os.geteuid() != 0:
        pytest.skip("creating network namespaces needs root")
    if shutil.which("ip") is None or shutil.which("ss") is None:
        pytest.skip("creating network namespaces needs iproute2 (ip, ss)")
    tag = f"{os.getpid() % 100000}"
    a, b = f"nago{tag}a", f"nago{tag}b"
    made = []
    try:
        for ns in (a, b):
            done = _ip("netns", "add", ns)
            if done.returncode != 0:
                pytest.skip(f"cannot create a network namespace: {done.stderr.strip()}")
            made.append(ns)
        steps = [("link", "add", f"nv{tag}a", "netns", a, "type", "veth", "peer", "name", f"nv{tag}b", "netns", b)]
        for ns, dev, addr in ((a, f"nv{tag}a", MASTER), (b, f"nv{tag}b", WORKER)):
            steps += [("-n", ns, "addr", "add", f"{addr}/24", "dev", dev), ("-n", ns, "link", "set", dev, "up"),
                      ("-n", ns, "link", "set", "lo", "up")]
        for step in steps:
            done = _ip(*step)
            if done.returncode != 0:
                pytest.skip(f"cannot join the namespaces (ip {' '.join(step)}): {done.stderr.strip()}")
        yield a, b
    finally:
        for ns in made:
            pids = _ip("netns", "pids", ns).stdout.split()
            for pid in pids:
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", ns)  # the veth pair goes with its namespaces


def in_ns(ns: str, *cmd: str, **kw) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(["ip", "netns", "exec", ns, *cmd], cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True, **kw)


def wait_for(check, what: str, proc: subprocess.Popen, timeout: float = 120.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        assert proc.poll() is None, f"exited while waiting for {what}: {proc.stdout.read()}"
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time of the processes (those gone count 0)."""
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def tree(pid: int) -> list[int]:
    """`pid` and every process below it."""
    return [pid] + descendants(pid)


def listeners(ns: str) -> list[str]:
    """Local addresses of the TCP sockets listening in namespace `ns`."""
    out = subprocess.run(["ip", "netns", "exec", ns, "ss", "-ltnH"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return [line.split()[3] for line in out.stdout.splitlines() if line.strip()]


def results(run_dir: Path) -> list[dict]:
    return [e for e in read_log(run_dir) if e["event"] == "result"]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["pyro", pytest.param("dask", marks=pytest.mark.skipif(
    not HAVE_DASK, reason="distributed is not installed (the dask extra)"))])
def test_a_worker_on_another_host_takes_jobs_dies_mid_job_and_loses_nothing(tmp_path, namespaces, backend):
    ns_master, ns_worker = namespaces
    run_dir = tmp_path / "run"
    master = in_ns(ns_master, sys.executable, "-m", "nago.cli", "search", "random", "--run-dir", str(run_dir),
                   "--space", "hnag", "--dataset", "digits", "--max-budget", "2", "--evaluations", "3",
                   "--workers", "0", "--host", MASTER, "--backend", backend, "--quiet", *TINY_CLI)
    procs = [master]
    try:
        if backend == "pyro":
            ns = wait_for(lambda: _json(run_dir / "nameserver.json"), "the name server", master)
            assert ns["host"] == MASTER
            join = ["-m", "nago.cli", "worker", "--nameserver", f"{MASTER}:{ns['port']}", "--run-id", ns["run_id"],
                    "--host", WORKER, "--threads", "1"]
        else:
            sched = wait_for(lambda: _json(run_dir / "scheduler.json"), "the scheduler", master)
            assert sched["address"].startswith(f"tcp://{MASTER}:")
            join = ["-m", "dask", "worker", sched["address"], "--nthreads", "1", "--host", WORKER,
                    "--no-dashboard", "--death-timeout", "60"]
        first = in_ns(ns_worker, sys.executable, *join)
        procs.append(first)

        # The remote worker takes a job, then the next: kill it, whole, while it computes that one.
        wait_for(lambda: results(run_dir), "a result from the remote worker", first, timeout=180)
        before = cpu_seconds(tree(first.pid))
        wait_for(lambda: cpu_seconds(tree(first.pid)) > before + 0.5, "the worker's second job", first)
        first_pids = tree(first.pid)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait()
        assert len(results(run_dir)) == 1, "the second job finished before the worker was killed"

        # The master listens on its address and loopback only.
        bound = listeners(ns_master)
        assert bound and all(addr.rsplit(":", 1)[0] in (MASTER, "127.0.0.1") for addr in bound), bound

        second = in_ns(ns_worker, sys.executable, *join)
        procs.append(second)
        out, _ = master.communicate(timeout=240)
        assert master.returncode == 0, out
        second_pids = tree(second.pid)  # a Dask worker outlives the search; a Pyro one is shut down by it
        done = {r["job"]: r for r in results(run_dir)}
        assert sorted(done) == [0, 1, 2] and all(r["status"] == "ok" for r in done.values()), done
        assert done[0]["info"]["pid"] in first_pids and done[0]["info"]["attempts"] == 1
        assert done[1]["info"]["attempts"] == 2  # the job the first worker died in, run again
        assert {done[1]["info"]["pid"], done[2]["info"]["pid"]} <= set(second_pids)
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
