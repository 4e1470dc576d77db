"""The run directory: creation, ownership, append-only logs, truncated and corrupt logs, locking."""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path

import pytest

from search.runstore import (
    RESULTS_FILE,
    RunStore,
    RunStoreError,
    read_jsonl,
    read_nameserver,
)

pytestmark = pytest.mark.timeout(60)
SETTINGS = {"strategy": "bohb", "space": "hnag", "dataset": "digits", "seed": 0, "min_budget": 1.0,
            "max_budget": 9.0, "eta": 3, "iterations": 2}


def record(i: int, budget: float = 1.0, status: str = "ok", loss: float | None = 0.5) -> dict:
    return {"job_id": [0, 0, i], "phase": "search", "config": {"top_n": 3 + i}, "budget": budget, "seed": 0,
            "status": status, "loss": loss, "error": None, "info": {}, "timestamps": {"finished": 10.0 + i}}


def snapshot(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != ".lock"}


def make_run(tmp_path: Path, n: int = 3) -> Path:
    run = tmp_path / "run"
    with RunStore.create(run, SETTINGS, "{}") as store:
        store.start_session()
        for i in range(n):
            store.append_job({"job_id": [0, 0, i], "config": {"top_n": 3 + i}, "budget": 1.0})
            store.append_result(record(i))
    return run


def test_create_writes_settings_and_empty_logs(tmp_path):
    run = make_run(tmp_path, n=2)
    settings = json.loads((run / "search.json").read_text())
    assert settings["strategy"] == "bohb" and len(settings["run_id"]) == 12
    store = RunStore.open(run)
    assert [r["job_id"] for r in store.results()] == [[0, 0, 0], [0, 0, 1]]
    assert all(r["session"] == 0 for r in store.results())
    assert len(store.journal()) == 2 and len(store.sessions()) == 1
    with pytest.raises(RunStoreError, match="read-only"):
        store.append_result(record(5))


def test_new_search_refuses_used_directories_and_changes_nothing(tmp_path):
    run = make_run(tmp_path)
    before = snapshot(run)
    with pytest.raises(RunStoreError, match="already holds a search"):
        RunStore.create(run, SETTINGS, "{}")
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(RunStoreError, match="not empty"):
        RunStore.create(other, SETTINGS, "{}")
    assert snapshot(run) == before and (other / "notes.txt").read_text() == "mine"
    empty = tmp_path / "empty"
    empty.mkdir()
    RunStore.create(empty, SETTINGS, "{}").close()  # an empty directory is fine


def test_open_checks_ownership(tmp_path):
    run = make_run(tmp_path)
    before = snapshot(run)
    with pytest.raises(RunStoreError, match="belongs to another search .*dataset"):
        RunStore.open(run, writable=True, expect={"dataset": "cifar10"})
    with pytest.raises(RunStoreError, match="belongs to another search .*strategy"):
        RunStore.open(run, writable=True, expect={"strategy": "random", "dataset": None})
    RunStore.open(run, writable=True, expect={"max_budget": 9, "eta": 3.0, "seed": None}).close()
    with pytest.raises(RunStoreError, match="does not exist"):
        RunStore.open(tmp_path / "missing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunStoreError, match="holds no search"):
        RunStore.open(tmp_path / "plain")
    assert snapshot(run) == before


def test_truncated_last_line_is_skipped_and_repaired_on_resume(tmp_path):
    run = make_run(tmp_path)
    log = run / RESULTS_FILE
    with open(log, "a") as fh:
        fh.write('{"job_id": [0, 0, 3], "budg')  # the master died mid-write
    damaged = log.read_bytes()
    with pytest.warns(RuntimeWarning, match="truncated last line"):
        assert len(RunStore.open(run).results()) == 3
    assert log.read_bytes() == damaged  # reading never modifies
    with pytest.warns(RuntimeWarning, match="truncated last line"):
        store = RunStore.open(run, writable=True)
    assert (run / f"{RESULTS_FILE}.partial-1").read_text() == '{"job_id": [0, 0, 3], "budg'
    store.start_session()
    store.append_result(record(3))
    store.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        records = RunStore.open(run).results()
    assert [r["job_id"][2] for r in records] == [0, 1, 2, 3] and records[-1]["session"] == 1
    assert log.read_bytes().startswith(damaged[: damaged.rindex(b"\n") + 1])


def test_corrupt_log_is_an_error_and_nothing_changes(tmp_path):
    run = make_run(tmp_path)
    log = run / RESULTS_FILE
    lines = log.read_text().split("\n")
    lines[1] = lines[1][:20]  # damage a line in the middle
    log.write_text("\n".join(lines))
    before = snapshot(run)
    for writable in (False, True):
        with pytest.raises(RunStoreError, match="corrupt log, line 2"):
            RunStore.open(run, writable=writable)
    assert snapshot(run) == before
    log.write_text(json.dumps({"job_id": [0, 0, 0], "status": "weird", "config": {}, "budget": 1}) + "\n")
    with pytest.raises(RunStoreError, match="corrupt log"):
        RunStore.open(run)
    (run / "search.json").write_text("{")
    with pytest.raises(RunStoreError, match="search.json is corrupt"):
        RunStore.open(run)


def test_unterminated_but_complete_last_line_is_kept(tmp_path):
    run = make_run(tmp_path)
    log = run / RESULTS_FILE
    log.write_bytes(log.read_bytes()[:-1])  # no trailing newline, but valid JSON
    store = RunStore.open(run, writable=True)
    store.start_session()
    store.append_result(record(7))
    store.close()
    assert [r["job_id"][2] for r in RunStore.open(run).results()] == [0, 1, 2, 7]


def test_one_master_per_run_directory(tmp_path):
    run = make_run(tmp_path)
    first = RunStore.open(run, writable=True)
    with pytest.raises(RunStoreError, match="in use"):
        RunStore.open(run, writable=True)
    RunStore.open(run).results()  # readers are welcome
    first.close()
    RunStore.open(run, writable=True).close()


def test_results_are_json_lines_with_non_finite_losses_as_null(tmp_path):
    run = make_run(tmp_path, n=0)
    store = RunStore.open(run, writable=True)
    store.start_session()
    store.append_result(record(0, status="failed", loss=float("inf")))
    with pytest.raises(ValueError):
        store.append_result({"job_id": [0, 0, 1], "status": "ok"})
    store.close()
    (rec,) = read_jsonl(run / RESULTS_FILE)
    assert rec["loss"] is None and rec["status"] == "failed"


def test_nameserver_file(tmp_path):
    run = make_run(tmp_path)
    assert read_nameserver(run) is None
    store = RunStore.open(run, writable=True)
    store.write_nameserver("127.0.0.1", 4242)
    assert read_nameserver(run) == {"host": "127.0.0.1", "port": 4242, "run_id": store.run_id, "pid": os.getpid()}
    store.clear_nameserver()
    assert read_nameserver(run) is None
    store.close()
