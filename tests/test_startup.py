"""What a user of the command line sees first: `nago ... --help` imports only what building the parser needs
(checked through sys.modules in a fresh process, not by timing, so it holds on a loaded machine; the timing is
experiments/bench_startup.py), and training progress is a bar on a terminal but one line per epoch in a file."""
from __future__ import annotations

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import torch
from torch import nn

from training import TrainConfig, load_dataset, train

COMMANDS = ("generate", "train", "search", "report", "worker")

# Imported by the commands that use them, never by parsing arguments: each costs seconds on a loaded machine
# (torchvision's model zoo pulls in torch's compiler stack, ConfigSpace pulls in scipy.stats).
DEFERRED = ("torchvision", "torch._dynamo", "triton", "matplotlib", "networkx", "scipy", "sklearn", "pybnn",
            "ConfigSpace", "hpbandster.core.master", "hpbandster.optimizers", "statsmodels", "search.run", "search.spaces",
            "search.evaluators", "search.strategies.base", "search.reports")


def test_help_of_every_command_defers_the_heavy_imports():
    script = textwrap.dedent(f"""
        import contextlib, io, json, sys
        import nago.cli
        assert "torch" not in sys.modules, "import nago imports torch"  # the API imports it when it trains
        for argv in [["--help"], *[[c, "--help"] for c in {COMMANDS!r}], ["search", "random", "--help"]]:
            with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
                nago.cli.main(argv)
        print(json.dumps([m for m in {DEFERRED!r} if m in sys.modules]))
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []


def test_nago_help_end_to_end():
    script = Path(sys.executable).with_name("nago")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "nago.cli"]
    result = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert all(name in result.stdout for name in COMMANDS)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def tiny_run(epochs: int) -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(4, 10))
    bundle = load_dataset("digits", limit=256)
    config = TrainConfig(epochs=epochs, batch_size=16, device="cpu", progress=True, max_batches_per_epoch=6)
    assert train(model, bundle, config).status == "ok"


def test_progress_is_one_line_per_epoch_when_not_a_terminal(capsys):
    tiny_run(epochs=3)  # pytest's captured stderr is not a terminal
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert len(lines) == 3
    assert [line.split(":")[0] for line in lines] == ["train epoch 1/3", "train epoch 2/3", "train epoch 3/3"]
    assert "step 18/18" in lines[-1] and "val accuracy" in lines[-1]


def test_progress_is_a_bar_on_a_terminal(monkeypatch):
    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    tiny_run(epochs=3)
    text = terminal.getvalue()
    assert "18/18" in text and "\r" in text  # tqdm redraws its bar in place
    assert "train epoch" not in text
