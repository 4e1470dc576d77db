"""`nago search`, `nago worker`, `nago report`: bad input, reports, and a random search served by a worker that
joins from another process."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

import hnag
from nago.cli import build_parser, main
from search.runstore import RunStore

REPO = Path(__file__).resolve().parents[1]
TINY_CLI = ["--space-option", "top_n=[3,5]", "--space-option", "mid_n=[1,3]", "--space-option", "bottom_n=[3,5]",
            "--space-option", "base_channels=4"]


def snapshot(path: Path) -> dict[str, str]:
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file() and p.name != ".lock"}


def synthetic_run(tmp_path: Path) -> Path:
    """A finished BOHB run (budgets 1, 3, 9; two sessions; a failure; two final samples), without training."""
    run = tmp_path / "run"
    params = hnag.GeneratorParams(top_n=3, top_k=2, base_channels=4, input_shape=(1, 8, 8)).to_dict()
    settings = {"strategy": "bohb", "space": "hnag", "dataset": "digits", "seed": 0, "min_budget": 1.0,
                "max_budget": 9.0, "eta": 3, "iterations": 1, "input_shape": [1, 8, 8], "num_classes": 10,
                "space_context": {"space": "hnag", "generator": "hnag", "fixed": {"base_channels": 4},
                                  "preset": None}}
    losses = {1.0: [0.5, 0.4, 0.3, 0.6, 0.7, 0.2, 0.8, 0.9, 0.45], 3.0: [0.35, 0.25, 0.15], 9.0: [0.1]}
    promoted = {3.0: [2, 5, 1], 9.0: [5]}
    t = 1000.0
    RunStore.create(run, settings, "{}").close()
    (run / "sessions.jsonl").write_text(json.dumps({"session": 0, "started": 900.0}) + "\n"
                                        + json.dumps({"session": 1, "started": 5000.0}) + "\n")
    lines = []
    for budget, values in losses.items():
        ids = range(len(values)) if budget == 1.0 else promoted[budget]
        for i, loss in zip(ids, values):
            t += 10
            session = 0 if t < 1100 else 1
            finished = t if session == 0 else 5000 + (t - 1100)
            status = "failed" if (budget, i) == (1.0, 7) else "ok"
            lines.append({"job_id": [0, 0, i], "phase": "search", "config": {"top_n": 3 + i % 5, "top_k": 2},
                          "budget": budget, "seed": 0, "status": status, "loss": loss if status == "ok" else None,
                          "error": None if status == "ok" else "diverged: nan", "session": session,
                          "info": {"generator_params": {**params, "top_n": 3 + i % 5}, "test_accuracy": 1 - loss,
                                   "params": 1000 + i},
                          "timestamps": {"finished": finished}})
    for seed, loss in ((1, 0.12), (2, 0.14)):
        lines.append({"job_id": [0, 1, seed - 1], "phase": "final", "config": lines[-1]["config"], "budget": 9.0,
                      "seed": seed, "status": "ok", "loss": loss, "error": None, "session": 1,
                      "info": {"test_accuracy": 1 - loss, "params": 1005}, "timestamps": {"finished": 6000.0}})
    (run / "results.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    return run


# -- bad input --------------------------------------------------------------------------------------------
BAD_NEW = [
    (["--min-budget", "3", "--max-budget", "1"], "max budget: must be at least the min budget"),
    (["--min-budget", "1", "--max-budget", "3", "--eta", "1.5"], "eta: must be a number >= 2"),
    (["--min-budget", "1", "--max-budget", "3", "--space", "resnet"], "space: must be one of"),
    (["--min-budget", "1", "--max-budget", "3", "--dataset", "imagenet-21k"], "dataset: unknown data set"),
    (["--min-budget", "1", "--max-budget", "3", "--space-option", "top_n"], "--space-option: expected KEY=VALUE"),
    (["--min-budget", "1", "--max-budget", "3", "--train", "optimizer=adam"], "train option optimizer: unknown"),
    (["--max-budget", "3"], "needs --min-budget and --max-budget"),
]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("args,message", BAD_NEW)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    run = tmp_path / "new"
    assert main(["search", "bohb", "--run-dir", str(run), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and message in err, err
    assert not run.exists()


@pytest.mark.timeout(60)
def test_existing_run_directories_are_never_overwritten(tmp_path, capsys):
    run = synthetic_run(tmp_path)
    before = snapshot(run)
    cases = [
        (["search", "bohb", "--run-dir", str(run), "--min-budget", "1", "--max-budget", "9"], "already holds a search"),
        (["search", "random", "--run-dir", str(run), "--resume"], "belongs to another search (its strategy is 'bohb'"),
        (["search", "bohb", "--run-dir", str(run), "--resume", "--dataset", "cifar10"], "its dataset is 'digits'"),
        (["search", "bohb", "--run-dir", str(run), "--resume", "--eta", "2"], "its eta is 3"),
        (["search", "bohb", "--run-dir", str(tmp_path / "nope"), "--resume"], "does not exist"),
        (["search", "bohb", "--run-dir", str(run), "--resume", "--iterations", "0"], "iterations: must be"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and message in err, (argv, err)
    assert snapshot(run) == before

    log = run / "results.jsonl"
    lines = log.read_text().split("\n")
    lines[3] = "{broken"
    log.write_text("\n".join(lines))
    before = snapshot(run)
    assert main(["search", "bohb", "--run-dir", str(run), "--resume"]) == 2
    err = capsys.readouterr().err.strip()
    assert "corrupt log, line 4" in err and err.count("\n") == 0
    assert main(["report", str(run)]) == 2
    assert "corrupt log" in capsys.readouterr().err
    assert snapshot(run) == before


@pytest.mark.timeout(60)
def test_worker_needs_a_search(tmp_path, capsys):
    assert main(["worker"]) == 2
    assert "--run-dir" in capsys.readouterr().err
    run = synthetic_run(tmp_path)
    assert main(["worker", "--run-dir", str(run)]) == 2  # no search is running there
    assert "no search is running" in capsys.readouterr().err
    assert main(["worker", "--nameserver", "localhost", "--run-id", "x"]) == 2
    assert "HOST:PORT" in capsys.readouterr().err


# -- report -----------------------------------------------------------------------------------------------
@pytest.mark.timeout(120)
def test_report_of_a_run(tmp_path, capsys):
    run = synthetic_run(tmp_path)
    with open(run / "results.jsonl", "a") as fh:
        fh.write('{"job_id": [1, 0')  # truncated by a crash: skipped with a warning
    before = snapshot(run)
    assert main(["report", str(run)]) == 0
    out = capsys.readouterr().out
    assert "warning" in out and "truncated" in out
    report = run / "report"
    for name in ("summary.md", "trajectory.png", "budget_correlation.png", "best_config.json"):
        assert (report / name).stat().st_size > 0
    assert {k: v for k, v in snapshot(run).items() if not k.startswith("report/")} == before
    summary = (report / "summary.md").read_text()
    for heading in ("## Overview", "## Incumbent trajectory", "## Best configurations",
                    "## Rank correlation between budgets", "## Best generator, new samples",
                    "## Failed and crashed evaluations"):
        assert heading in summary
    assert "0.1300 ± 0.0141" in summary  # final samples: mean ± std of validation error
    best = json.loads((report / "best_config.json").read_text())
    assert best["seed"] == 0 and best["top_n"] == 3 + 5 % 5
    seedless = {k: v for k, v in best.items() if k != "seed"}
    assert hnag.GeneratorParams.from_dict(seedless).validate().base_channels == 4

    from search.report import budget_rank_correlations, incumbent_trajectory

    records = RunStore.open(run).results()
    search = [r for r in records if r["phase"] == "search"]
    traj = incumbent_trajectory(search, RunStore.open(run).sessions())
    assert [p["loss"] for p in traj] == [0.5, 0.4, 0.3, 0.2, 0.35, 0.25, 0.15, 0.1]
    assert traj[-1]["cumulative_epochs"] == pytest.approx(9 * 1 + 3 * 3 + 9)
    # wall time leaves out the gap between sessions: session 0 ran 900 -> 1090, session 1 from 5000
    assert traj[0]["wall_time_s"] == pytest.approx(1010 - 900)
    assert traj[-1]["wall_time_s"] == pytest.approx(190 + 30)
    corr = budget_rank_correlations(search)
    assert [(c["budget_low"], c["budget_high"], c["n"]) for c in corr] == [(1.0, 3.0, 3), (3.0, 9.0, 1)]
    # configurations 1, 2, 5: losses 0.4, 0.3, 0.2 at 1 epoch, then 0.15, 0.35, 0.25 at 3 epochs
    assert corr[0]["spearman"] == pytest.approx(-0.5) and corr[1]["spearman"] is None


# -- space sub-command and the extension hook ---------------------------------------------------------------
@pytest.mark.timeout(60)
def test_space_command_prints_and_saves(tmp_path, capsys):
    target = tmp_path / "space.json"
    assert main(["search", "space", "hnag-ops", "--space-option", "top_n=[3,6]", "--save", str(target)]) == 0
    out = capsys.readouterr().out
    assert "merge_concat" in out and "Forbidden: top_k == top_n" in out
    from search.spaces import build_space, load_space

    assert load_space(target) == build_space("hnag-ops", {"top_n": [3, 6]}).space
    assert main(["search", "space", "hnag", "--save", str(target)]) == 2  # never overwrites
    assert "exists" in capsys.readouterr().err
    assert main(["search", "space", "rnag", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hyperparameters"]


def test_search_modules_add_their_commands():
    # nago/commands/search_<name>.py modules are found without being listed anywhere
    args = build_parser().parse_args(["search", "mobo", "--run-dir", "x"])
    assert args.strategy == "mobo" and args.func.__module__ == "nago.commands.search_mobo"


# -- a random search served by a worker from another process ---------------------------------------------
@pytest.mark.timeout(300)
def test_random_search_served_by_a_joining_worker(tmp_path):
    run = tmp_path / "run"
    search = subprocess.Popen(
        [sys.executable, "-m", "nago.cli", "search", "random", "--run-dir", str(run), "--budget", "0.25",
         "--evaluations", "3", "--workers", "0", "--ping-interval", "1", "--final-samples", "2", *TINY_CLI],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    worker = subprocess.Popen(
        [sys.executable, "-m", "nago.cli", "worker", "--run-dir", str(run), "--wait", "240", "--device", "cpu",
         "--threads", "1"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = search.communicate(timeout=280)
        assert search.returncode == 0, out
        worker_out, _ = worker.communicate(timeout=30)  # the search shuts its workers down when it ends
    finally:
        for proc in (search, worker):
            if proc.poll() is None:
                proc.kill()
    assert worker.returncode == 0, worker_out
    assert "done: 3 evaluations (3 ok" in out
    assert "best generator on 2/2 new seeds at 0.25 epochs" in out and "±" in out
    records = RunStore.open(run).results()
    assert [r["phase"] for r in records] == ["search"] * 3 + ["final"] * 2
    assert {r["budget"] for r in records} == {0.25}
    assert len({json.dumps(r["config"], sort_keys=True) for r in records[:3]}) == 3
    assert [r["seed"] for r in records[3:]] == [1, 2]
    assert not (run / "nameserver.json").exists()


def test_random_search_in_a_cell_space_uses_the_table(tmp_path, shared_data):
    table = shared_data / "nb201" / "nb201_cifar10.csv"
    result = subprocess.run([sys.executable, "-m", "nago.cli", "search", "random", "--space", "nb201", "--benchmark",
                             str(table), "--evaluations", "20", "--seeds", "2", "--run-dir", str(tmp_path / "run")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "random" / "report.md").is_file()
    assert len(list((tmp_path / "run" / "random").glob("seed_*.jsonl"))) == 2
