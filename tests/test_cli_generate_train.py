"""`nago generate` and `nago train` end to end, as a user runs them (a real process, real files)."""
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

import nago
import training
from nago.cli import main
from search.evaluators.training import build_and_train


def run_nago(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nago.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_generate_writes_spec_summary_and_drawing(tmp_path):
    out = tmp_path / "arch"
    result = run_nago("generate", "--preset", "hnag-mixed", "--seed", "3", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert {p.name for p in out.iterdir()} == {"spec.json", "summary.txt", "architecture.png"}
    spec = json.loads((out / "spec.json").read_text())
    assert spec["meta"]["seed"] == 3 and spec["generator"] == "hnag"
    assert (out / "architecture.png").read_bytes()[:4] == b"\x89PNG"
    assert nago.generate(nago.load_params(preset="hnag-mixed"), 3).to_json(indent=1) == (out / "spec.json").read_text()


def test_train_reaches_well_above_chance_and_writes_everything(tmp_path):
    out = tmp_path / "run"
    config = tmp_path / "params.yaml"
    config.write_text(yaml.safe_dump({"generator": "hnag", "top_n": 3, "top_k": 2, "mid_n": 1, "bottom_n": 3,
                                      "param_budget": 20000}))
    result = run_nago("train", "--config", str(config), "--epochs", "6", "--lr", "0.1", "--no-progress",
                      "--out", str(out))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "ok" and metrics["val_accuracy"] > 0.6  # 10 classes: chance is 0.1
    assert abs(metrics["cost_params"] - 20000) <= 200
    assert metrics["cost_macs"] > 0 and metrics["cost_memory_mb_per_sample"] > 0
    assert {p.name for p in out.iterdir()} >= {"metrics.json", "params.json", "model.pt", "spec.json"}
    assert "val accuracy" in result.stdout and "memory/sample" in result.stdout
    assert metrics["threads"] == 1 and "1 CPU thread(s)" in result.stdout  # the default of --threads
    # the exported hyperparameters rebuild the same architecture
    again = run_nago("generate", "--config", str(out / "params.json"), "--out", str(tmp_path / "again"))
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "again" / "spec.json").read_text())["network"] == \
        json.loads((out / "spec.json").read_text())["network"]


@pytest.mark.parametrize("args,message", [
    (["--set", "top_k=9"], "top_k: must be an integer in [2, 3], got 9"),
    (["--set", "param_budget=500"], "param_budget: must be an integer in [1000, inf], got 500"),
    (["--set", "bogus=1"], "bogus: unknown GeneratorParams field"),
    (["--set", "top_n"], "--set: expected KEY=VALUE"),
    (["--config", "/nonexistent.yaml"], "config: no such file"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert main(["generate", *args, "--out", str(out)]) == 2  # in process: the messages, not the start-up
    stderr = capsys.readouterr().err
    assert stderr.strip().count("\n") == 0 and message in stderr
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_unknown_dataset_and_occupied_output_directory_are_refused(tmp_path, capsys):
    assert main(["train", "--dataset", "nope", "--epochs", "1"]) == 2
    stderr = capsys.readouterr().err
    assert "dataset: must be one of" in stderr and stderr.count("\n") == 1
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    assert main(["generate", "--out", str(occupied)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert [p.name for p in occupied.iterdir()] == ["keep.txt"]


def test_python_api_mirrors_the_cli():
    params = nago.load_params(preset="hnag-tiny", overrides={"top_n": 4})
    bundle = training.load_dataset("digits", seed=0, limit=128)
    spec = nago.generate(replace(params, input_shape=bundle.input_shape, num_classes=bundle.num_classes), seed=0)
    _, result, measurements = build_and_train(spec, 0, bundle, training.TrainConfig(epochs=0.5, batch_size=32))
    assert result.status == "ok"
    assert measurements.params == nago.count_params(spec)
