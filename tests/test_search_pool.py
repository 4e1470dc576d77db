"""Searches on real workers of both backends (Pyro4 and Dask): hnag networks trained on digits for fractions of
an epoch, a real name server or scheduler on 127.0.0.1, real worker processes (CPU, one thread each). A worker
killed mid-job, a job past its time limit, a job past its memory limit, the master killed with SIGKILL and
resumed, an extra `nago worker`."""
from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import descendants, processes_with
from search.engine.driver import drive
from search.engine.pyro import PyroPool
from search.engine.store import RunLog, read_log
from search.evaluators.training import TrainingEvaluator
from search.spaces import make_space
from search.strategies import make_strategy

REPO = Path(__file__).resolve().parents[1]
HAVE_DASK = importlib.util.find_spec("distributed") is not None
BACKENDS = ["pyro", pytest.param("dask", marks=pytest.mark.skipif(not HAVE_DASK, reason="distributed is not "
                                                                   "installed (the dask extra)"))]
# Tiny networks: one job takes about a second on one CPU thread.
TINY = {"top_n": [3, 5], "mid_n": [1, 3], "bottom_n": [3, 5], "base_channels": 4}
TINY_CLI = ["--space-option", "top_n=[3,5]", "--space-option", "mid_n=[1,3]", "--space-option", "bottom_n=[3,5]",
            "--space-option", "base_channels=4"]


def nago(*args: str) -> list[str]:
    return [sys.executable, "-m", "nago.cli", *args]


def results(run_dir: Path, phase: str = "search") -> list[dict]:
    return [e for e in read_log(run_dir) if e["event"] == "result" and e.get("phase", "search") == phase]


def kill_after(proc: subprocess.Popen, run_dir: Path, n: int) -> list[int]:
    """SIGKILL a running search's master once its log holds `n` results; returns the processes it had started
    (its descendants just before)."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if (run_dir / "log.jsonl").exists() and len(results(run_dir)) >= n:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read()
    started = descendants(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    return started


def make_pool(backend: str, log: RunLog, evaluator: dict, **options):
    """A started pool of `backend` (the Pyro4 dispatcher pings its workers every second)."""
    if backend == "pyro":
        return PyroPool(log, evaluator, ping_interval=1, **options).start()
    from search.engine.dask_pool import DaskPool

    return DaskPool(log, evaluator, **options).start()


def worker_pid(name: str) -> int:
    """The process id in a worker's name in the log (second to last part, on both backends)."""
    return int(name.split(".")[-2])


def asked_configs(run_dir: Path) -> list[str]:
    return [json.dumps(j["config"], sort_keys=True) for e in read_log(run_dir) if e["event"] == "ask"
            for j in e["jobs"]]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", BACKENDS)
def test_worker_killed_mid_job_and_jobs_past_their_time_and_memory_limits(tmp_path, backend):
    """A worker that dies mid-job: its job runs again elsewhere. A job that runs past its time limit: failed with
    the reason, its worker replaced. A job that needs more than its memory limit: failed with the reason, its
    worker lives on. The search goes on after each."""
    space = make_space("hnag", TINY)
    evaluator = TrainingEvaluator(space, "digits")
    log = RunLog.create(tmp_path / "run", {"strategy": "random"})
    log.start_session()
    with make_pool(backend, log, evaluator.context(), workers=2, device="cpu", threads=1) as pool:
        assert len(pool.worker_pids()) == 2
        victim: dict = {}

        def kill_one() -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                for job_id, worker in pool.running().items():
                    if worker and worker_pid(worker) not in (0, 1, os.getpid()):
                        victim.update(job=job_id, pid=worker_pid(worker))
                        os.kill(victim["pid"], signal.SIGKILL)
                        return
                time.sleep(0.02)

        killer = threading.Thread(target=kill_one)
        killer.start()
        strategy = make_strategy("random", space, objectives=["error"], seed=0, max_budget=2.0)
        drive(strategy, pool, log, seed=0, evaluations=2)
        killer.join()
        assert victim, "no job started"
        done = results(tmp_path / "run")
        assert [r["status"] for r in done] == ["ok", "ok"], [r["error"] for r in done]
        rerun = [r for r in done if r["job"] == victim["job"]][0]
        assert rerun["info"]["attempts"] == 2 and worker_pid(rerun["worker"]) != victim["pid"]
        deadline = time.monotonic() + 60
        while len(pool.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert len(pool.worker_pids()) == 2  # the dead worker was replaced

        # A job that cannot finish in time (200 epochs), then a normal one.
        pool.job_timeout = 3.0
        before = set(pool.worker_pids())
        long = make_strategy("random", space, objectives=["error"], seed=1, max_budget=200.0)
        drive(long, pool, log, seed=1, evaluations=1)
        timed_out = results(tmp_path / "run")[-1]
        assert timed_out["status"] == "failed" and "job timeout" in timed_out["error"], timed_out
        pool.job_timeout = None
        short = make_strategy("random", space, objectives=["error"], seed=2, max_budget=0.2)
        drive(short, pool, log, seed=2, evaluations=1)
        assert results(tmp_path / "run")[-1]["status"] == "ok"
        deadline = time.monotonic() + 60
        while len(pool.worker_pids()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert set(pool.worker_pids()) != before and len(pool.worker_pids()) == 2

        # A network too wide for 400 MB (it would take about 1 GB), then a tiny one on the same workers.
        pool.job_memory = 400
        before = set(pool.worker_pids())
        wide = make_space("hnag", {**TINY, "base_channels": 256})
        pool.evaluator = TrainingEvaluator(wide, "digits", train_overrides={"batch_size": 1024}).context()
        drive(make_strategy("random", wide, objectives=["error"], seed=3, max_budget=0.05), pool, log, seed=3,
              evaluations=1)
        too_big = results(tmp_path / "run")[-1]
        assert too_big["status"] == "failed" and too_big["error"].startswith("job memory limit: needed more "
                                                                              "than 400 MB"), too_big
        pool.evaluator = evaluator.context()
        drive(make_strategy("random", space, objectives=["error"], seed=4, max_budget=0.2), pool, log, seed=4,
              evaluations=1)
        assert results(tmp_path / "run")[-1]["status"] == "ok"
        assert set(pool.worker_pids()) == before  # no worker died of it
    log.close()


@pytest.mark.timeout(500)
@pytest.mark.parametrize("backend", BACKENDS)
def test_master_killed_then_resumed_continues_the_uninterrupted_search(tmp_path, backend):
    """kill -9 of a search's master, then --resume (on the backend in search.json): no finished evaluation is
    lost or repeated, the jobs that were running run again, and the configurations are those of an
    uninterrupted run with the same seed. (The replay is the driver's, the same on both backends: the
    comparison with an uninterrupted run and the extension run on Pyro4 only, to keep the suite short.)"""
    common = ["--space", "hnag", "--dataset", "digits", "--max-budget", "0.3", "--evaluations", "8", "--workers",
              "2", "--device", "cpu", "--threads", "1", "--quiet", *TINY_CLI]
    whole = tmp_path / "whole"
    if backend == "pyro":
        done = subprocess.run(nago("search", "random", "--run-dir", str(whole), *common), cwd=REPO,
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr

    run_dir = tmp_path / "cut"
    proc = subprocess.Popen(nago("search", "random", "--run-dir", str(run_dir), "--backend", backend, *common),
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    workers = kill_after(proc, run_dir, 3)
    before = (run_dir / "log.jsonl").read_bytes()
    finished = {r["job"] for r in results(run_dir)}
    assert 3 <= len(finished) < 8
    run_id = json.loads((run_dir / "search.json").read_text())["run_id"]
    assert json.loads((run_dir / "search.json").read_text())["backend"] == backend

    def orphans() -> list[int]:
        alive = [pid for pid in workers if Path(f"/proc/{pid}").exists()
                 and "zombie" not in Path(f"/proc/{pid}/status").read_text(errors="replace").lower()]
        return alive + processes_with(f"--run-id\x00{run_id}")

    deadline = time.monotonic() + 30  # the killed master's workers notice and exit on their own
    while orphans() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not orphans()

    resumed = subprocess.run(nago("search", "random", "--run-dir", str(run_dir), "--resume", "--workers", "2",
                                  "--threads", "1", "--quiet"), cwd=REPO, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    sessions = [json.loads(line) for line in (run_dir / "sessions.jsonl").read_text().splitlines()]
    assert [s["backend"] for s in sessions] == [backend, backend]
    assert (run_dir / "log.jsonl").read_bytes().startswith(before.rsplit(b"\n", 1)[0])  # nothing rewritten
    jobs = [r["job"] for r in results(run_dir)]
    assert sorted(jobs) == list(range(8))  # complete, nothing run twice
    if backend != "pyro":
        return
    assert asked_configs(run_dir) == asked_configs(whole)

    # Extending the finished search continues the random stream: no configuration comes back.
    more = subprocess.run(nago("search", "random", "--run-dir", str(run_dir), "--resume", "--evaluations", "10",
                               "--workers", "2", "--threads", "1", "--quiet"), cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    assert more.returncode == 0, more.stdout + more.stderr
    configs = [json.dumps(r["config"], sort_keys=True) for r in results(run_dir)]
    assert len(configs) == 10 and len(set(configs)) == 10


@pytest.mark.timeout(300)
def test_an_extra_nago_worker_takes_jobs(tmp_path):
    """A search with no local worker of its own (--workers 0) is served by a `nago worker --run-dir`."""
    run_dir = tmp_path / "run"
    search = subprocess.Popen(nago("search", "random", "--run-dir", str(run_dir), "--space", "hnag", "--dataset",
                                   "digits", "--max-budget", "0.2", "--evaluations", "2", "--workers", "0",
                                   "--quiet", *TINY_CLI), cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    worker = subprocess.Popen(nago("worker", "--run-dir", str(run_dir), "--wait", "120", "--threads", "1"),
                              cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = search.communicate(timeout=240)
        assert search.returncode == 0, out
        done = results(run_dir)
        assert len(done) == 2 and all(r["status"] == "ok" for r in done)
        assert all(r["worker"].split(".")[4] == str(worker.pid) for r in done)
        worker.wait(60)  # the search shut its worker down
        log = worker.stdout.read()
        assert "serving run" in log and "WARNING" not in log.split("serving run")[0].splitlines()[-1]
    finally:
        for p in (search, worker):
            if p.poll() is None:
                p.kill()


@pytest.mark.timeout(500)
def test_bananas_with_training_on_local_workers_and_a_nago_worker_survives_kill_and_resume(tmp_path):
    """The cell-search strategies run on the worker pool now: BANANAS over hnag with 2 local workers and one
    `nago worker`, the master killed with SIGKILL mid-search, then resumed: every finished evaluation is kept,
    none is repeated, and the search completes."""
    run_dir = tmp_path / "run"
    cmd = nago("search", "bananas", "--run-dir", str(run_dir), "--space", "hnag", "--dataset", "digits",
               "--max-budget", "0.3", "--evaluations", "8", "--workers", "2", "--threads", "1", "--quiet",
               "--option", "num_init=3", *TINY_CLI)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    extra = subprocess.Popen(nago("worker", "--run-dir", str(run_dir), "--wait", "120", "--threads", "1"),
                             cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        kill_after(proc, run_dir, 4)
        finished = {r["job"]: r for r in results(run_dir)}
        assert 4 <= len(finished) < 8
        resumed = subprocess.run(nago("search", "bananas", "--run-dir", str(run_dir), "--resume", "--workers", "2",
                                      "--threads", "1", "--quiet"), cwd=REPO, capture_output=True, text=True,
                                 timeout=300)
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
        done = results(run_dir)
        assert sorted(r["job"] for r in done) == list(range(8))
        for job, record in finished.items():  # kept as they were
            assert [r for r in done if r["job"] == job] == [record]
        assert str(extra.pid) in {r["worker"].split(".")[4] for r in done}  # the extra worker served it
    finally:
        for p in (proc, extra):
            if p.poll() is None:
                p.kill()
