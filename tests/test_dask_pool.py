"""The Dask backend beside Pyro4: the options' one-line errors (the install hint included), the per-job memory
limit in a process, and a search on a Dask cluster that the user started (`dask scheduler`, `dask worker`)
that logs exactly what the in-process engine logs. Kill/resume, hung and killed workers and multi-host runs of
both backends are in test_search_pool.py and test_multihost.py."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from helpers import drive_to_log
from search.engine.driver import check_pool_options, drive
from search.engine.store import RunLog
from search.engine.worker import address_space_limit, evaluate_job
from search.evaluators.synthetic import SyntheticEvaluator
from search.strategies import make_strategy

REPO = Path(__file__).resolve().parents[1]
needs_dask = pytest.mark.skipif(importlib.util.find_spec("distributed") is None,
                                reason="distributed is not installed (the dask extra)")


@pytest.mark.parametrize("options, message", [
    ({"backend": "ray"}, "backend: must be one of pyro, dask, got 'ray'"),
    ({"scheduler": "tcp://10.0.0.1:8786"}, "scheduler: a Dask scheduler's address needs --backend dask"),
    ({"backend": "pyro", "scheduler": "tcp://10.0.0.1:8786"}, "needs --backend dask"),
    ({"job_memory": 0}, "job-memory: must be a number of MB > 0, got 0"),
    ({"job_memory": float("nan")}, "job-memory: must be a number of MB > 0"),
    ({"job_timeout": -1}, "job-timeout: must be a number of seconds > 0, got -1"),
])
def test_pool_options_are_refused_in_one_line(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")) as info:
        check_pool_options(**options)
    assert "\n" not in str(info.value)


def test_a_missing_dask_says_how_to_install_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "distributed"
                        else real(name, *a))
    with pytest.raises(ValueError, match=r"backend: dask needs the distributed package: pip install 'nago\[dask\]'"):
        check_pool_options(backend="dask")
    check_pool_options(backend="pyro")  # Pyro4 needs nothing more


def test_the_cli_refuses_dask_where_jobs_run_in_process(tmp_path, capsys):
    from nago.cli import main

    code = main(["search", "random", "--problem", "zdt1", "--run-dir", str(tmp_path / "r"), "--backend", "dask"])
    assert code == 2 and not (tmp_path / "r").exists()
    assert "backend: synthetic jobs run in the search's own process" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the memory limit needs Linux")
def test_a_memory_limit_fails_the_allocation_past_it_and_is_lifted_afterwards():
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)
    with address_space_limit(64):
        small = np.ones(2**20)  # 8 MB
        with pytest.raises(MemoryError):
            np.ones(2**24)  # 128 MB
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    del small
    big = np.ones(2**24)
    assert big.sum() == 2**24
    # a job within its limit is untouched
    ctx = {"evaluator": SyntheticEvaluator("counting-ones").context(), "seed": 0, "memory_mb": 64}
    config = SyntheticEvaluator("counting-ones").space.to_config(
        SyntheticEvaluator("counting-ones").space.sample(np.random.default_rng(0)))
    assert evaluate_job(ctx, config, 1.0).status == "ok"


@needs_dask
@pytest.mark.timeout(180)
def test_a_search_on_a_users_dask_cluster_logs_what_the_in_process_engine_logs(tmp_path):
    """`dask scheduler` and `dask worker` started by the user (as dask-jobqueue would): the pool joins with
    --scheduler, waits for its worker, and the log holds the same asks and results as an in-process run."""
    from search.engine.dask_pool import DaskPool

    file = tmp_path / "scheduler.json"
    env_cmd = [sys.executable, "-m", "dask"]
    scheduler = subprocess.Popen([*env_cmd, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                                  "--scheduler-file", str(file)], cwd=REPO, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
    worker = subprocess.Popen([*env_cmd, "worker", "--scheduler-file", str(file), "--nthreads", "1", "--host",
                               "127.0.0.1", "--no-dashboard"], cwd=REPO, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(file.read_text())["address"]
        evaluator = SyntheticEvaluator("zdt1")

        def strategy():
            return make_strategy("random", evaluator.space, objectives=["f1", "f2"], seed=3, max_budget=1.0)

        log = RunLog.create(tmp_path / "dask", {"strategy": "random"})
        log.start_session()
        with DaskPool(log, evaluator.context(), scheduler=address, workers=1) as pool:
            assert pool.capacity == 1 and pool.worker_pids() == []  # no local worker: the user's one
            assert pool.describe().startswith(f"Dask scheduler {address} (the cluster's workers)")
            drive(strategy(), pool, log, seed=0, evaluations=6)
        events = log.events()
        log.close()
        inline = drive_to_log(strategy(), evaluator, tmp_path / "inline", capacity=1, evaluations=6)

        def same(e: dict) -> dict:  # where and when it ran, and how often (a pool's "attempts") aside
            out = {k: v for k, v in e.items() if k not in ("t", "session", "worker", "eval_s")}
            if "info" in out:
                out["info"] = {k: v for k, v in out["info"].items() if k != "attempts"}
            return out

        assert [same(e) for e in events] == [same(e) for e in inline]
        workers = {e["worker"] for e in events if e["event"] == "result"}
        assert len(workers) == 1 and ".dask-tcp-127-0-0-1-" in workers.pop()
    finally:
        for p in (worker, scheduler):
            p.terminate()
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
