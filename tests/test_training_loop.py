"""Tests of training.loop: a real CNN learns digits, divergence is reported, budgets and schedules behave."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from training import TrainConfig, evaluate_accuracy, load_dataset, lr_at, train
from training.datasets import DatasetBundle




@pytest.fixture(scope="module")
def digits() -> DatasetBundle:
    return load_dataset("digits")


def small_cnn(width: int = 16) -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1, bias=False),
        nn.BatchNorm2d(width),
        nn.ReLU(),
        nn.Conv2d(width, 2 * width, 3, padding=1, stride=2, bias=False),
        nn.BatchNorm2d(2 * width),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2 * width, 10),
    )


class NaNModel(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x.flatten(1)) * float("nan")


class ConstantModel(nn.Module):
    """Always predicts `label` (a parameter keeps it trainable and gives it a device)."""

    def __init__(self, label: int) -> None:
        super().__init__()
        self.label = label
        self.bias = nn.Parameter(torch.zeros(10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.zeros(len(x), 10) + self.bias
        logits[:, self.label] = 1.0
        return logits


def cpu_config(**kwargs) -> TrainConfig:
    defaults = {"epochs": 4, "lr": 0.1, "batch_size": 32, "device": "cpu"}
    defaults.update(kwargs)
    return TrainConfig(**defaults)


def test_a_small_cnn_learns_digits(digits):
    torch.manual_seed(0)
    model = small_cnn()
    result = train(model, digits, cpu_config())
    assert result.status == "ok" and result.reason == ""
    assert result.val_accuracy > 0.6 and result.test_accuracy > 0.6  # chance is 0.1
    assert result.epochs == 4 and len(result.history) == 4
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    assert [h["epoch"] for h in result.history] == [1.0, 2.0, 3.0, 4.0]
    assert result.train_loss == result.history[-1]["train_loss"]
    assert result.val_accuracy == result.history[-1]["val_accuracy"]
    assert result.train_time_s > 0 and result.samples_per_s > 0
    assert result.steps == 4 * (len(digits.train) // 32)  # the last partial batch is dropped
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert payload["status"] == "ok" and len(payload["history"]) == 4
    # the reported test accuracy is what evaluate_accuracy gives for the trained model
    assert evaluate_accuracy(model, digits.test, 100, "cpu") == pytest.approx(result.test_accuracy)


def test_training_is_reproducible_and_leaves_the_global_rng_alone(digits):
    results = []
    for _ in range(2):
        torch.manual_seed(1)
        model = small_cnn(8)
        state = torch.get_rng_state()
        results.append(train(model, digits, cpu_config(epochs=1, seed=7)))
        assert torch.equal(torch.get_rng_state(), state)
    assert results[0].train_loss == results[1].train_loss
    assert results[0].val_accuracy == results[1].val_accuracy
    torch.manual_seed(1)
    other = train(small_cnn(8), digits, cpu_config(epochs=1, seed=8))
    assert other.train_loss != results[0].train_loss  # the seed changes the data order


def test_thread_count_is_recorded_and_changes_results_only_by_rounding(digits):
    """The documented tolerance (training.loop's docstring): after a few steps, 1 and 2 threads agree to 1e-5."""
    before = torch.get_num_threads()
    weights, results = [], []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            torch.manual_seed(1)
            model = small_cnn(8)
            results.append(train(model, digits, cpu_config(epochs=1, max_batches_per_epoch=5)))
            weights.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    finally:
        torch.set_num_threads(before)
    assert [r.threads for r in results] == [1, 2] and results[0].to_dict()["threads"] == 1
    assert torch.allclose(weights[0], weights[1], rtol=0, atol=1e-5)
    assert results[0].train_loss == pytest.approx(results[1].train_loss, abs=1e-5)


def test_nan_loss_gives_diverged_without_raising(digits):
    result = train(NaNModel(), digits, cpu_config(epochs=2))
    assert result.status == "diverged"
    assert "non-finite" in result.reason and "step 1 " in result.reason
    assert result.steps == 1 and result.val_accuracy is None and result.test_accuracy is None
    assert math.isnan(result.train_loss)
    payload = json.loads(json.dumps(result.to_dict(), allow_nan=False))  # strict JSON: NaN becomes null
    assert payload["train_loss"] is None and payload["status"] == "diverged"


def test_fractional_epochs_train_a_fraction_of_the_batches(digits):
    batches_per_epoch = len(digits.train) // 64
    result = train(small_cnn(4), digits, cpu_config(epochs=0.5, batch_size=64))
    assert result.status == "ok"
    assert result.steps == round(0.5 * batches_per_epoch)
    assert result.epochs == pytest.approx(result.steps / batches_per_epoch)
    assert len(result.history) == 1 and result.val_accuracy is not None


def test_max_batches_per_epoch_caps_each_epoch(digits):
    result = train(small_cnn(4), digits, cpu_config(epochs=2.5, max_batches_per_epoch=4))
    assert result.steps == 10
    assert [h["steps"] for h in result.history] == [4, 8, 10]
    assert result.epochs == 2.5


def test_no_validation_split(digits):
    bundle = load_dataset("digits", val_fraction=0, limit=200)
    result = train(small_cnn(4), bundle, cpu_config(epochs=1))
    assert result.val_accuracy is None and result.history[0]["val_accuracy"] is None
    assert 0 <= result.test_accuracy <= 1


def test_schedule_values():
    cosine = cpu_config(lr=0.2, schedule="cosine")
    assert lr_at(cosine, 0, 100) == pytest.approx(0.2)
    assert lr_at(cosine, 50, 100) == pytest.approx(0.1)
    assert lr_at(cosine, 100, 100) == pytest.approx(0.0, abs=1e-12)
    assert lr_at(cosine, 99, 100) < 0.001 * 0.2
    step = cpu_config(lr=0.2, schedule="step", step_milestones=(0.5, 0.75))
    assert [lr_at(step, s, 100) for s in (0, 49, 50, 74, 75, 99)] == pytest.approx(
        [0.2, 0.2, 0.02, 0.02, 0.002, 0.002]
    )
    constant = cpu_config(lr=0.2, schedule="constant")
    assert {lr_at(constant, s, 10) for s in range(11)} == {0.2}


def test_the_optimizer_follows_the_schedule(digits):
    bundle = load_dataset("digits", limit=320)  # 10 batches of 32 per epoch
    cosine = train(small_cnn(4), bundle, cpu_config(epochs=2, lr=0.1))
    total = cosine.steps
    assert cosine.history[0]["lr"] == pytest.approx(lr_at(cpu_config(lr=0.1), total // 2 - 1, total))
    assert cosine.history[-1]["lr"] < 0.01 * 0.1  # the last step's lr: near 0 at the end of a cosine
    step = train(small_cnn(4), bundle, cpu_config(epochs=2, lr=0.1, schedule="step"))
    assert step.history[-1]["lr"] == pytest.approx(0.001)


def test_evaluate_accuracy_is_exact_and_restores_modes(digits):
    model = ConstantModel(label=3)
    model.train()
    labels = [digits.test[i][1] for i in range(len(digits.test))]
    accuracy = evaluate_accuracy(model, digits.test, batch_size=50, device="cpu")
    assert accuracy == pytest.approx(labels.count(3) / len(labels))
    assert model.training


def test_train_restores_mixed_modes(digits):
    model = small_cnn(4)
    model[1].eval()  # e.g. a frozen BatchNorm
    train(model, load_dataset("digits", limit=64), cpu_config(epochs=1))
    assert model.training and not model[1].training


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": float("nan")}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": -1.0}, "lr"),
        ({"momentum": 1.0}, "momentum"),
        ({"weight_decay": -1e-4}, "weight_decay"),
        ({"schedule": "linear"}, "schedule"),
        ({"step_milestones": (0.8, 0.5)}, "step_milestones"),
        ({"step_milestones": (1.5,)}, "step_milestones"),
        ({"step_milestones": 0.5}, "step_milestones"),  # a scalar, as `--train step_milestones=0.5` gives
        ({"grad_clip": 0.0}, "grad_clip"),
        ({"device": "tpu:x"}, "device"),
        ({"seed": -1}, "seed"),
        ({"num_workers": -1}, "num_workers"),
        ({"label_smoothing": 1.0}, "label_smoothing"),
        ({"max_batches_per_epoch": 0}, "max_batches_per_epoch"),
    ],
)
def test_bad_config_raises_value_error_naming_the_field(kwargs, field):
    args = {"epochs": 1, **kwargs}
    with pytest.raises(ValueError) as err:
        TrainConfig(**args)
    assert str(err.value).startswith(field + ":") and "\n" not in str(err.value)


def test_config_defaults():
    config = TrainConfig(epochs=1)
    assert (config.batch_size, config.lr, config.momentum, config.weight_decay) == (64, 0.05, 0.9, 3e-4)
    assert config.schedule == "cosine" and config.nesterov and config.amp and config.device == "auto"
    assert config.grad_clip == 5.0 and config.step_milestones == (0.5, 0.75)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_with_amp(digits):
    torch.manual_seed(0)
    result = train(small_cnn(), digits, cpu_config(device="cuda", amp=True))
    assert result.status == "ok" and result.device.startswith("cuda")
    assert result.val_accuracy > 0.6


def test_progress_bar(digits, capsys):
    result = train(small_cnn(4), digits, cpu_config(epochs=1, max_batches_per_epoch=3, progress=True))
    assert result.steps == 3
    assert "3/3" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_without_cuda_is_a_one_line_value_error(digits):
    config = TrainConfig(epochs=1, device="cuda")  # a config may be written on a machine without the GPU
    with pytest.raises(ValueError, match="^device: 'cuda' was requested but CUDA is not available"):
        train(small_cnn(4), digits, config)
