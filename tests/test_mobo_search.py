"""`nago search mobo` and its report: encoding, objectives, bad input, a report of a synthetic run, an end-to-end
run with real workers (digits, tiny networks, fractions of an epoch) warm-started from another run, and a
resume after the master was killed."""
from __future__ import annotations

import hashlib
import json
import math
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import hnag
from nago.cli import main
from search.mobo_search import (PROPOSALS_FILE, WARM_START_FILE, VectorEncoding, canonical_objectives,
                                evaluated_points, front_and_hypervolume, make_proposer, objective_values,
                                spec_params_fn)
from search.runstore import RunStore
from search.spaces import build_space, is_valid, params_from_config
from helpers import processes_with

REPO = Path(__file__).resolve().parents[1]
TINY = {"top_n": [3, 5], "mid_n": [1, 3], "bottom_n": [3, 5], "base_channels": 4}
TINY_CLI = ["--space-option", "top_n=[3,5]", "--space-option", "mid_n=[1,3]", "--space-option", "bottom_n=[3,5]",
            "--space-option", "base_channels=4"]
# A small, fast proposer: few SGHMC steps, a small NSGA-II.
FAST_CLI = ["--surrogate-option", "num_steps=300", "--surrogate-option", "num_burn_in_steps=100",
            "--surrogate-option", "keep_every=10", "--mobo-option", "pop_size=16", "--mobo-option", "generations=4",
            "--mobo-option", "lipschitz_samples=64"]
CONTEXT = {"space": "hnag", "generator": "hnag", "fixed": {"base_channels": 4}, "preset": None}


def snapshot(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != ".lock"}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().split("\n") if line.strip()]


def record(config: dict, budget: float, loss: float | None, memory: float | None, job_id: list, **extra) -> dict:
    params = params_from_config(CONTEXT, config, (1, 8, 8), 10)
    info = {"generator_params": params.to_dict(), "params": hnag.count_params(hnag.generate(params, 0)),
            "test_accuracy": None if loss is None else 1 - loss}
    if memory is not None:
        info["memory_mb_per_sample"] = memory
    return {"job_id": job_id, "phase": "search", "config": config, "budget": budget, "seed": 0,
            "status": "ok" if loss is not None else "failed", "loss": loss,
            "error": None if loss is not None else "diverged: nan", "info": info,
            "timestamps": {"finished": 1000.0 + len(job_id)}, "session": 0, **extra}


def synthetic_init_run(tmp_path: Path) -> Path:
    """A finished BOHB-like run in the tiny space (budgets 0.25 and 1), without training."""
    run = tmp_path / "bohb"
    space = build_space("hnag", TINY)
    settings = {"strategy": "bohb", "space": "hnag", "space_options": TINY, "dataset": "digits", "seed": 0,
                "min_budget": 0.25, "max_budget": 1.0, "eta": 4, "iterations": 1, "input_shape": [1, 8, 8],
                "num_classes": 10, "space_context": space.context(), "train_overrides": {}}
    RunStore.create(run, settings, space.to_json()).close()
    rng = np.random.default_rng(0)
    lines = []
    for i, config in enumerate(space.sample(8, seed=3)):
        lines.append(record(config, 0.25, float(rng.uniform(0.3, 0.9)), float(rng.uniform(0.01, 0.08)), [0, 0, i]))
    lines.append(record(lines[0]["config"], 1.0, 0.2, lines[0]["info"]["memory_mb_per_sample"], [0, 0, 0]))
    (run / "results.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run


# -- objectives, encoding, the exact objective -----------------------------------------------------------------
def test_objective_names_and_values():
    assert canonical_objectives("error,memory") == ["val_error", "memory_mb"]
    assert canonical_objectives(["val_error", "params", "latency"]) == ["val_error", "params", "latency_ms"]
    assert canonical_objectives(None) == ["val_error", "memory_mb"]
    for bad, message in (("error,accuracy", "unknown objective 'accuracy'"), ("error", "at least two"),
                         ("error,error", "twice"), ("params,params", "twice")):
        with pytest.raises(ValueError, match=message):
            canonical_objectives(bad)
    ok = {"status": "ok", "loss": 0.25, "info": {"memory_mb_per_sample": 1.5, "params": 1000, "macs": 7,
                                                   "latency_ms": 0.3}}
    assert objective_values(ok, ["val_error", "memory_mb", "params", "macs", "latency_ms"]) == [0.25, 1.5, 1000, 7, 0.3]
    diverged = {"status": "failed", "loss": None, "info": {"memory_mb_per_sample": 1.5}}
    values = objective_values(diverged, ["val_error", "memory_mb", "params"])
    assert math.isnan(values[0]) and values[1] == 1.5 and math.isnan(values[2])


@pytest.mark.parametrize("name,options", [("hnag", TINY), ("hnag", None), ("hnag-ratios", None), ("rnag", None)])
def test_encoding_round_trip_and_decoded_configurations_are_valid(name, options):
    space = build_space(name, options)
    enc = VectorEncoding(space)
    assert enc.dim == len(space.hyperparameter_names)
    for config in space.sample(30, seed=1):
        x = enc.encode(config)
        assert x.shape == (enc.dim,) and np.all((x >= 0) & (x <= 1))
        back = enc.decode(x)
        assert set(back) == set(config)
        for key, value in config.items():
            assert back[key] == pytest.approx(value, rel=1e-9), key
            assert type(back[key]) is type(value)
    rng = np.random.default_rng(0)
    corners = rng.integers(0, 2, (50, enc.dim)).astype(float)
    for x in np.vstack([rng.random((200, enc.dim)), corners]):
        config = enc.decode(x)
        assert is_valid(space.space, config), config  # K < N repaired, inactive mid_p dropped
        json.dumps(config)  # built-in types only


def test_exact_params_objective_in_the_proposer():
    space = build_space("hnag", TINY)
    count = spec_params_fn(space.context(), (1, 8, 8), 10, seed=0)
    config = space.sample(1, seed=2)[0]
    model = hnag.compile_spec(hnag.generate(space.to_params(config, (1, 8, 8), 10), 0))
    assert count(config) == sum(p.numel() for p in model.parameters())
    assert count({**config, "top_k": 9}) == 1e12  # no valid network: infeasible, never NaN

    settings = {"objectives": ["val_error", "params"], "batch_size": 3, "seed": 0, "input_shape": [1, 8, 8],
                "num_classes": 10, "surrogate": "homoscedastic",
                "surrogate_options": {"num_steps": 300, "num_burn_in_steps": 100, "keep_every": 10},
                "mobo_options": {"pop_size": 12, "generations": 3, "lipschitz_samples": 32}}
    proposer, enc = make_proposer(settings, space)
    rng = np.random.default_rng(0)
    X = rng.random((8, enc.dim))
    proposer.warm_start([(x, {"val_error": float(0.3 + 0.5 * x[0])}) for x in X])  # params: computed exactly
    assert np.array_equal(proposer.Y[:, 1], [count(enc.decode(x)) for x in X])
    batch = proposer.propose()
    assert batch.shape == (3, enc.dim) and not proposer.last_info.initial_design
    assert set(proposer.surrogates) == {"val_error"}  # no surrogate for the exact objective
    predicted = np.exp(proposer.last_info.mean[:, 1])
    assert predicted == pytest.approx([count(enc.decode(x)) for x in batch], rel=1e-9)


# -- bad input --------------------------------------------------------------------------------------------------
BAD = [
    (["--objectives", "error,accuracy", "--budget", "1"], "unknown objective 'accuracy'"),
    (["--objectives", "error", "--budget", "1"], "at least two"),
    (["--batch-size", "0", "--budget", "1"], "batch size: must be an integer >= 1"),
    (["--iterations", "0", "--budget", "1"], "iterations: must be an integer >= 1"),
    (["--budget", "0"], "budget: must be a number of epochs > 0"),
    ([], "needs --budget"),
    (["--budget", "1", "--surrogate-option", "steps=3"], "surrogate option steps: unknown"),
    (["--budget", "1", "--mobo-option", "uncertainty=some"], "mobo options: uncertainty must be"),
    (["--budget", "1", "--mobo-option", "n_initial=1"], "mobo option n_initial: must be an integer >= 2"),
    (["--budget", "1", "--reference-point", "1,2,3"], "reference point: needs 2 finite numbers"),
    (["--init-from", "{init}", "--init-budget", "3"], "no successful evaluations at budget 3 epochs (budgets with "
                                                      "evaluations: 0.25, 1)"),
    (["--init-from", "{tmp}/nope"], "init-from: run directory"),
    (["--init-from", "{init}", "--dataset", "mnist"], "was trained on data set 'digits'"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("args,message", BAD)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    init = synthetic_init_run(tmp_path)
    before = snapshot(init)
    run = tmp_path / "new"
    args = [a.format(init=init, tmp=tmp_path) for a in args]
    assert main(["search", "mobo", "--run-dir", str(run), *TINY_CLI, *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert not run.exists()
    assert snapshot(init) == before


@pytest.mark.timeout(60)
def test_resume_of_another_kind_of_run_is_refused(tmp_path, capsys):
    init = synthetic_init_run(tmp_path)
    before = snapshot(init)
    assert main(["search", "mobo", "--run-dir", str(init), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "its strategy is 'bohb'" in err
    assert snapshot(init) == before


# -- report of a synthetic MOBO run (no training) -------------------------------------------------------------
def synthetic_mobo_run(tmp_path: Path) -> Path:
    run = tmp_path / "mobo"
    space = build_space("hnag", TINY)
    settings = {"strategy": "mobo", "space": "hnag", "space_options": TINY, "dataset": "digits", "seed": 0,
                "objectives": ["val_error", "memory_mb"], "batch_size": 2, "iterations": 2, "budget": 0.25,
                "surrogate": "heteroscedastic", "surrogate_options": {}, "mobo_options": {},
                "init_from": "/elsewhere/bohb", "init_budget": 0.25, "init_evaluations": 2,
                "reference_point": None, "input_shape": [1, 8, 8], "num_classes": 10,
                "space_context": space.context(), "train_overrides": {}}
    RunStore.create(run, settings, space.to_json()).close()
    configs = space.sample(7, seed=5)
    warm = [record(configs[0], 0.25, 0.5, 2.0, [0, 0, 0]), record(configs[1], 0.25, 0.6, 1.0, [0, 0, 1])]
    (run / WARM_START_FILE).write_text("".join(json.dumps(x) + "\n" for x in warm))
    own = [record(configs[2], 0.25, 0.4, 3.0, [0, 0, 0], batch=0, position=0),
           record(configs[3], 0.25, 0.7, 0.5, [0, 0, 1], batch=0, position=1),
           record(configs[4], 0.25, 0.45, 1.5, [1, 0, 0], batch=1, position=0),
           record(configs[5], 0.25, 0.8, 4.0, [1, 0, 1], batch=1, position=1),
           record(configs[6], 0.25, None, 0.1, [1, 0, 2], batch=1, position=2)]  # failed: no error value
    (run / "results.jsonl").write_text("".join(json.dumps(x) + "\n" for x in own))
    (run / "sessions.jsonl").write_text(json.dumps({"session": 0, "started": 900.0}) + "\n")
    (run / PROPOSALS_FILE).write_text("".join(json.dumps(
        {"iteration": i, "X": [[0.5] * 8] * 2, "configs": [configs[2 * i], configs[2 * i + 1]],
         "initial_design": False, "fit_time_s": {"val_error": 1.5, "memory_mb": 2.5}, "propose_time_s": 5.0,
         "n_candidates": 90, "radii": [0.1, 0.2]}) + "\n" for i in (1, 2)))
    return run


@pytest.mark.timeout(120)
def test_report_of_a_synthetic_mobo_run(tmp_path, capsys):
    run = synthetic_mobo_run(tmp_path)
    before = snapshot(run)
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "pareto_configs/pareto_01.json" in out
    assert snapshot(run) == {**before, **{k: v for k, v in snapshot(run).items() if k.startswith("report/")}}
    report = run / "report"
    for name in ("summary.md", "pareto.csv", "pareto.json", "pareto.png", "hypervolume.png", "best_config.json"):
        assert (report / name).stat().st_size > 0, name
    doc = json.loads((report / "pareto.json").read_text())
    # front over warm start + own evaluations: (0.4, 3), (0.45, 1.5), (0.6, 1), (0.7, 0.5)
    assert [(p["val_error"], p["memory_mb"]) for p in doc["front"]] == [(0.4, 3.0), (0.45, 1.5), (0.6, 1.0),
                                                                        (0.7, 0.5)]
    assert [p["iteration"] for p in doc["front"]] == [1, 2, 0, 1]
    assert doc["reference_point"] == pytest.approx([0.84, 4.35])  # worst + 10 % of the range
    hv = {h["iteration"]: h["hypervolume"] for h in doc["hypervolume_per_iteration"]}
    assert hv == pytest.approx({0: 1.039, 1: 1.244, 2: 1.369})
    assert doc["hypervolume"] == pytest.approx(1.369)
    csv_lines = (report / "pareto.csv").read_text().strip().split("\n")
    assert csv_lines[0].startswith("rank,iteration,source,job_id,budget,seed,val_error,memory_mb")
    assert len(csv_lines) == 1 + 4
    files = sorted((report / "pareto_configs").glob("pareto_*.json"))
    assert [f.name for f in files] == [f"pareto_0{i}.json" for i in range(1, 5)]
    for f, point in zip(files, doc["front"]):
        params = json.loads(f.read_text())
        assert params.pop("seed") == 0
        assert hnag.GeneratorParams.from_dict(params).validate().top_n == point["config"]["top_n"]
    summary = (report / "summary.md").read_text()
    for heading in ("## Multi-objective search", "## Pareto front", "## Hypervolume per iteration",
                    "## Proposals and surrogate fits", "## Overview", "## Failed and crashed evaluations"):
        assert heading in summary, heading
    assert "reference point (val_error = 0.8400, memory_mb = 4.3500)" in summary
    # A stale configuration file of an earlier report is not left behind.
    (report / "pareto_configs" / "pareto_09.json").write_text("{}")
    assert main(["report", str(run)]) == 0
    assert len(list((report / "pareto_configs").glob("*.json"))) == 4

    store = RunStore.open(run)
    points = evaluated_points(store.settings, store.results(), _lines(run / WARM_START_FILE))
    assert [p["iteration"] for p in points] == [0, 0, 1, 1, 2, 2, 2] and not points[-1]["complete"]
    given = front_and_hypervolume(points, [1.0, 5.0])
    assert given["reference_source"] == "given" and given["hypervolume"] > doc["hypervolume"]


# -- end to end with real workers -------------------------------------------------------------------------------
@pytest.mark.timeout(300)
def test_mobo_search_with_warm_start_end_to_end(tmp_path, capsys):
    init = synthetic_init_run(tmp_path)
    run = tmp_path / "run"
    argv = ["search", "mobo", "--run-dir", str(run), "--objectives", "error,memory,params", "--batch-size", "2",
            "--iterations", "2", "--init-from", str(init), "--init-budget", "0.25", "--workers", "2",
            "--device", "cpu", "--threads", "1", "--ping-interval", "1", *FAST_CLI]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "iteration 2: 2 evaluations" in out and "Pareto front:" in out
    settings = json.loads((run / "search.json").read_text())
    assert settings["budget"] == 0.25 and settings["space_options"] == TINY  # taken from the warm-start run
    assert settings["objectives"] == ["val_error", "memory_mb", "params"]
    warm = _lines(run / WARM_START_FILE)
    assert len(warm) == 8 and {r["budget"] for r in warm} == {0.25}
    records = _lines(run / "results.jsonl")
    assert len(records) == 4 and all(r["status"] == "ok" for r in records), [r.get("error") for r in records]
    assert [(r["batch"], r["position"]) for r in sorted(records, key=lambda r: (r["batch"], r["position"]))] == [
        (0, 0), (0, 1), (1, 0), (1, 1)]
    proposals = _lines(run / PROPOSALS_FILE)
    assert [p["iteration"] for p in proposals] == [1, 2]
    assert not proposals[0]["initial_design"]  # 8 warm-start evaluations: the BNNs are used at once
    assert set(proposals[0]["fit_time_s"]) == {"val_error", "memory_mb"}  # params are exact
    for p in proposals:
        got = [r["config"] for r in records if r["batch"] == p["iteration"] - 1]
        assert sorted(map(json.dumps, got)) == sorted(map(json.dumps, p["configs"]))
    for r in records:  # the exact objective is what the worker measured on the compiled network
        assert spec_params_fn(settings["space_context"], (1, 8, 8), 10, 0)(r["config"]) == r["info"]["params"]

    assert main(["report", str(run)]) == 0
    capsys.readouterr()
    report = run / "report"
    for name in ("summary.md", "pareto.csv", "pareto.json", "pareto.png", "hypervolume.png"):
        assert (report / name).stat().st_size > 0, name
    doc = json.loads((report / "pareto.json").read_text())
    assert doc["objectives"] == ["val_error", "memory_mb", "params"] and len(doc["reference_point"]) == 3
    assert [h["iteration"] for h in doc["hypervolume_per_iteration"]] == [0, 1, 2]
    hv = [h["hypervolume"] for h in doc["hypervolume_per_iteration"]]
    assert hv == sorted(hv) and hv[0] > 0
    files = sorted((report / "pareto_configs").glob("*.json"))
    assert len(files) == len(doc["front"]) >= 1
    assert main(["train", "--config", str(files[0]), "--epochs", "0.05", "--no-progress"]) == 0
    assert "status            ok" in capsys.readouterr().out


@pytest.mark.timeout(420)
def test_kill_master_then_resume_keeps_every_finished_evaluation(tmp_path):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "nago.cli", "search", "mobo", "--run-dir", str(run), "--workers", "2", "--device",
           "cpu", "--threads", "1", "--ping-interval", "1"]
    proc = subprocess.Popen(cmd + ["--batch-size", "2", "--iterations", "3", "--budget", "0.25", "--mobo-option",
                                   "n_initial=2", *TINY_CLI, *FAST_CLI],
                            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    results = run / "results.jsonl"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and len(_lines(results)) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.stdout.read()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    proc.stdout.close()
    before = results.read_bytes()
    finished = _lines(results)
    assert 3 <= len(finished) < 6
    done = {(r["batch"], r["position"]) for r in finished}
    journal = _lines(run / "jobs.jsonl")
    in_flight = {(e["batch"], e["position"]): e["config"] for e in journal if (e["batch"], e["position"]) not in done}
    run_id = json.loads((run / "search.json").read_text())["run_id"]
    deadline = time.monotonic() + 30
    while processes_with(f"--run-id\x00{run_id}") and time.monotonic() < deadline:
        time.sleep(0.2)

    resumed = subprocess.run(cmd + ["--resume"], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "proposal: from the log" in resumed.stdout and "6 evaluations (6 ok" in resumed.stdout
    after = results.read_bytes()
    assert after.startswith(before)  # nothing lost or rewritten
    records = _lines(results)
    keys = [(r["batch"], r["position"]) for r in records]
    assert sorted(keys) == [(b, p) for b in range(3) for p in range(2)]  # complete, nothing run twice
    new = [r for r in records if r["session"] == 1]
    assert {(r["batch"], r["position"]) for r in new} == set(keys) - done
    for key, config in in_flight.items():  # jobs that were running are run again with their configuration
        assert [r["config"] for r in new if (r["batch"], r["position"]) == key] == [config]
    proposals = _lines(run / PROPOSALS_FILE)
    assert [p["iteration"] for p in proposals] == [1, 2, 3]  # no iteration proposed twice
    for p in proposals:
        assert [r["config"] for r in sorted((r for r in records if r["batch"] == p["iteration"] - 1),
                                            key=lambda r: r["position"])] == p["configs"]
