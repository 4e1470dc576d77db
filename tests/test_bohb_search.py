"""BOHB search with real components: hnag networks trained on digits for fractions of an epoch, a real Pyro4
name server on 127.0.0.1 and real worker processes (CPU only, 2 cores)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from search.bohb import hyperband_schedule, schedule_jobs
from search.engine.pyro import Engine, open_run
from search.evaluation import evaluate
from search.runstore import RunStore, job_key
from helpers import processes_with

# Tiny networks: one job takes about a second on one CPU thread.
TINY = {"top_n": [3, 5], "mid_n": [1, 3], "bottom_n": [3, 5], "base_channels": 4}
TINY_CLI = ["--space-option", "top_n=[3,5]", "--space-option", "mid_n=[1,3]", "--space-option", "bottom_n=[3,5]",
            "--space-option", "base_channels=4"]
CONFIG = {"top_n": 4, "top_k": 2, "top_p": 0.5, "mid_n": 2, "mid_p": 0.5, "bottom_n": 3, "bottom_k": 2,
          "bottom_p": 0.5}
DIVERGE = {"train_overrides": {"lr": 1e30, "grad_clip": None, "schedule": "constant"}}
REPO = Path(__file__).resolve().parents[1]


# -- evaluation ---------------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_evaluate_ok_failed_and_diverged():
    ok = evaluate(CONFIG, 0.25, space="hnag", space_options=TINY, dataset="digits", seed=0, device="cpu")
    assert ok["status"] == "ok" and 0.0 <= ok["loss"] <= 1.0
    info = ok["info"]
    for key in ("params", "macs", "memory_mb_per_sample", "train_time_s", "spec_hash", "test_accuracy",
                "val_accuracy", "generator_params"):
        assert info[key] is not None, key
    assert ok["loss"] == pytest.approx(1.0 - info["val_accuracy"])
    assert json.loads(json.dumps(ok)) == ok  # built-in types only

    invalid = evaluate({**CONFIG, "top_k": 4}, 0.25, space="hnag", space_options=TINY, dataset="digits", seed=0,
                       device="cpu")
    assert invalid["status"] == "failed" and invalid["loss"] is None
    assert "top_k" in invalid["info"]["error"]

    diverged = evaluate(CONFIG, 0.25, space="hnag", space_options=TINY, dataset="digits", seed=0, device="cpu",
                        train_overrides=DIVERGE["train_overrides"])
    assert diverged["status"] == "failed" and diverged["info"]["error"].startswith("diverged")
    assert diverged["info"]["params"] > 0  # what was measured is kept

    bad_budget = evaluate(CONFIG, 0.0, space="hnag", space_options=TINY, dataset="digits", seed=0, device="cpu")
    assert bad_budget["status"] == "failed" and "budget" in bad_budget["info"]["error"]


# -- engine: BOHB, a batch with a diverging job, a worker killed mid-job -----------------------------------
@pytest.mark.timeout(300)
def test_engine_bohb_batch_and_worker_killed_mid_job(tmp_path):
    run_dir = tmp_path / "run"
    settings = {"min_budget": 0.25, "max_budget": 1.0, "eta": 2, "iterations": 3}
    store = open_run("bohb", run_dir, space="hnag", dataset="digits", settings=settings, space_options=TINY)
    expected_jobs = schedule_jobs(hyperband_schedule(0.25, 1.0, 2), 3)
    with store, Engine(store, workers=2, device="cpu", threads=1, ping_interval=1) as engine:
        assert len(engine.worker_pids()) == 2
        records = engine.run_bohb(min_budget=0.25, max_budget=1.0, eta=2, iterations=3)
        assert len(records) == expected_jobs == 13
        assert all(r["status"] == "ok" for r in records), [r["error"] for r in records]
        keys = [job_key(r["job_id"], r["budget"]) for r in records]
        assert len(set(keys)) == len(keys)
        assert sorted({r["budget"] for r in records}) == [0.25, 0.5, 1.0]
        assert {r["worker"] for r in records} and len({r["worker"] for r in records}) == 2  # both workers worked
        for r in records:
            assert {"params", "macs", "memory_mb_per_sample", "train_time_s", "spec_hash",
                    "test_accuracy"} <= set(r["info"])
        best = engine.incumbent()
        assert best["budget"] == 1.0 and best["loss"] == min(r["loss"] for r in records if r["budget"] == 1.0)

        # A generic proposer's batch: one diverging job is recorded as failed, the others run normally.
        batch = engine.evaluate_batch([(CONFIG, 0.25), (CONFIG, 0.25, DIVERGE), (CONFIG, 0.25, {"seed": 5})],
                                      phase="proposer")
        assert [r["status"] for r in batch] == ["ok", "failed", "ok"]
        assert batch[1]["error"].startswith("diverged") and batch[1]["loss"] is None
        assert batch[2]["seed"] == 5 and batch[0]["seed"] == 0

        # Kill a worker in the middle of a job of a running search: the job runs again on another worker
        # and the search completes.
        out: dict = {}
        search = threading.Thread(
            target=lambda: out.setdefault("records", engine.run_random(budget=3.0, evaluations=2, phase="kill")))
        search.start()
        victim = None
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            for job_id, worker in engine.running_jobs().items():
                if worker:
                    victim = (job_id, int(worker.split(".")[-2]))
                    break
            time.sleep(0.05)
        assert victim is not None, "no job started"
        os.kill(victim[1], signal.SIGKILL)
        search.join(240)
        assert not search.is_alive()
        killed = out["records"]
        assert [r["status"] for r in killed] == ["ok", "ok"]
        retried = [r for r in killed if tuple(r["job_id"]) == tuple(victim[0])]
        assert retried and retried[0]["attempts"] == 2
        assert int(retried[0]["worker"].split(".")[-2]) != victim[1]  # finished by another worker
        assert len(engine.worker_pids()) == 2  # the dead worker was replaced

    # Everything is in the run directory, once.
    stored = RunStore.open(run_dir).results()
    assert len(stored) == 13 + 3 + 2
    journal = RunStore.open(run_dir).journal()
    assert len(journal) == 13 + 3 + 2


# -- kill the master mid-run, resume ------------------------------------------------------------------------
def _search_cmd(run_dir: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "nago.cli", "search", "bohb", "--run-dir", str(run_dir), "--workers", "2",
            "--device", "cpu", "--threads", "1", "--ping-interval", "1", *extra]


def _lines(path: Path) -> list[str]:
    return [line for line in path.read_text().split("\n") if line.strip()]


@pytest.mark.timeout(400)
def test_kill_master_then_resume_keeps_every_finished_evaluation(tmp_path):
    run_dir = tmp_path / "run"
    cmd = _search_cmd(run_dir, "--min-budget", "0.25", "--max-budget", "1", "--eta", "2", "--iterations", "3",
                      *TINY_CLI)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = run_dir / "results.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and len(_lines(results)) >= 5:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    run_id = json.loads((run_dir / "search.json").read_text())["run_id"]
    before = results.read_bytes()
    finished = [json.loads(line) for line in before.decode().split("\n")[:-1] if line.strip()]
    journal = [json.loads(line) for line in _lines(run_dir / "jobs.jsonl")]
    done_keys = {job_key(r["job_id"], r["budget"]) for r in finished}
    in_flight = {job_key(e["job_id"], e["budget"]): e for e in journal}
    in_flight = {k: e for k, e in in_flight.items() if k not in done_keys}
    assert 5 <= len(finished) < 13

    # The killed master's workers notice and exit on their own.
    deadline = time.monotonic() + 30
    while processes_with(f"--run-id\x00{run_id}") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not processes_with(f"--run-id\x00{run_id}")

    # Resume: the same directory, no settings repeated.
    resumed = subprocess.run(_search_cmd(run_dir, "--resume"), cwd=REPO, capture_output=True, text=True,
                             timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    after = results.read_bytes()
    assert after.startswith(before.rsplit(b"\n", 1)[0])  # nothing lost or rewritten
    records = [json.loads(line) for line in _lines(results)]
    keys = [job_key(r["job_id"], r["budget"]) for r in records]
    assert len(keys) == len(set(keys)) == 13  # complete, nothing run twice
    new = [r for r in records if r["session"] == 1]
    assert {job_key(r["job_id"], r["budget"]) for r in new} == set(keys) - done_keys
    for key, entry in in_flight.items():  # the jobs that were running are run again, exactly those
        rerun = [r for r in new if job_key(r["job_id"], r["budget"]) == key]
        assert rerun and rerun[0]["config"] == entry["config"]
    assert "13 evaluations" in resumed.stdout

    # The report of the resumed run, and its best configuration as a `nago train` input.
    from nago.cli import main

    assert main(["report", str(run_dir)]) == 0
    for name in ("summary.md", "trajectory.png", "budget_correlation.png", "best_config.json"):
        assert (run_dir / "report" / name).is_file()
    best = json.loads((run_dir / "report" / "best_config.json").read_text())
    import hnag

    seed = best.pop("seed")
    params = hnag.GeneratorParams.from_dict(best).validate()
    assert seed == 0 and params.base_channels == 4 and params.input_shape == (1, 8, 8)
