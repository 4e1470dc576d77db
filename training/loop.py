"""The training loop: SGD with momentum and a per-step learning-rate schedule, for any nn.Module.

Reproducibility and CPU threads: with the same seed, data and thread count, training is bitwise reproducible
(the thread count is recorded in `TrainResult.threads`). Across thread counts it is not, and torch offers no
switch for it: on the CPU, oneDNN's convolution weight gradients sum over the batch in per-thread partial
sums, so 1 and 2 threads differ by float rounding (about 1e-6 in a gradient; `torch.use_deterministic_algorithms`
does not change this, and disabling oneDNN makes the differences larger and training several times slower).
The documented tolerance, held by a test: after five SGD steps the weights of 1- and 2-thread runs agree to
1e-5 (measured: 6e-8). Over a long run such differences grow like any perturbation of SGD: hnag-small on
digits reached 0.861 / 0.854 validation accuracy after 2 epochs with 1 / 2 threads. Callers that compare runs
(`nago train`, search workers) therefore fix the thread count (one by default) and record it.
"""

from __future__ import annotations

import itertools
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm
from tqdm.autonotebook import tqdm as _auto_tqdm
from tqdm.std import tqdm as _terminal_tqdm

from training.datasets import DatasetBundle
from training.modes import preserved_modes, resolve_device, usable_device

SCHEDULES = ("cosine", "step", "constant")
STEP_DECAY = 0.1  # the "step" schedule multiplies the learning rate by this at every milestone
EVAL_BATCH_SIZE = 256
# How often (in steps) the loss is copied to the host to look for NaN/inf. Every step on the CPU costs nothing;
# on CUDA each check is a synchronisation, so it is done less often (a few wasted steps after a divergence).
_CHECK_EVERY = {"cpu": 1, "cuda": 10}
# tqdm picked its notebook widget: a Jupyter kernel, whose stderr is no terminal but shows a bar well.
_IN_NOTEBOOK = _auto_tqdm is not _terminal_tqdm


@dataclass
class TrainConfig:
    """Hyperparameters of `train`. Fields are validated on construction (one-line ValueErrors).

    epochs: training budget in epochs; fractional budgets train that fraction of an epoch's batches.
    schedule: "cosine" (to 0 at the last step), "step" (x0.1 at each fraction of training in
      `step_milestones`) or "constant"; the learning rate is set before every step.
    grad_clip: max global gradient norm (None = no clipping).
    amp: mixed precision on CUDA only (bfloat16 where supported, else float16 with a GradScaler).
    device: "auto" (CUDA when available), "cpu", "cuda", "cuda:1", ...
    max_batches_per_epoch: cap on the batches of one epoch (None = the whole training split).
    progress: report progress on stderr: a bar on a terminal, one line per epoch elsewhere (files, pipes).
    """

    epochs: float
    batch_size: int = 64
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 3e-4
    nesterov: bool = True
    schedule: str = "cosine"
    step_milestones: tuple[float, ...] = (0.5, 0.75)
    grad_clip: float | None = 5.0
    amp: bool = True
    device: str = "auto"
    seed: int = 0
    progress: bool = False
    num_workers: int = 0
    label_smoothing: float = 0.0
    max_batches_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.step_milestones, (list, tuple)):  # a scalar is left for validate() to name
            self.step_milestones = tuple(self.step_milestones)
        self.validate()

    def validate(self) -> None:
        def is_int(v: Any) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        def is_num(v: Any) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        if not is_num(self.epochs) or self.epochs <= 0:
            raise ValueError(f"epochs: must be a number > 0 (fractions allowed), got {self.epochs!r}")
        if not is_int(self.batch_size) or self.batch_size < 1:
            raise ValueError(f"batch_size: must be an integer >= 1, got {self.batch_size!r}")
        if not is_num(self.lr) or self.lr <= 0:
            raise ValueError(f"lr: must be a number > 0, got {self.lr!r}")
        if not is_num(self.momentum) or not 0 <= self.momentum < 1:
            raise ValueError(f"momentum: must be in [0, 1), got {self.momentum!r}")
        if not is_num(self.weight_decay) or self.weight_decay < 0:
            raise ValueError(f"weight_decay: must be a number >= 0, got {self.weight_decay!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule: must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        ms = self.step_milestones
        if not isinstance(ms, tuple) or not all(is_num(m) and 0 < m < 1 for m in ms) or list(ms) != sorted(ms):
            raise ValueError(f"step_milestones: must be increasing fractions of training in (0, 1), got {ms!r}")
        if self.grad_clip is not None and (not is_num(self.grad_clip) or self.grad_clip <= 0):
            raise ValueError(f"grad_clip: must be None or a number > 0, got {self.grad_clip!r}")
        try:
            resolve_device(self.device)
        except (RuntimeError, TypeError, ValueError):
            raise ValueError(f"device: must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {self.device!r}") from None
        if not is_int(self.seed) or self.seed < 0:
            raise ValueError(f"seed: must be an integer >= 0, got {self.seed!r}")
        if not is_int(self.num_workers) or self.num_workers < 0:
            raise ValueError(f"num_workers: must be an integer >= 0, got {self.num_workers!r}")
        if not is_num(self.label_smoothing) or not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing: must be in [0, 1), got {self.label_smoothing!r}")
        mb = self.max_batches_per_epoch
        if mb is not None and (not is_int(mb) or mb < 1):
            raise ValueError(f"max_batches_per_epoch: must be None or an integer >= 1, got {mb!r}")


@dataclass
class TrainResult:
    """Outcome of `train`.

    status: "ok" or "diverged" (a NaN/inf training loss stopped training; `reason` says when).
    train_loss: mean training loss of the last epoch (NaN when diverged).
    val_accuracy / test_accuracy: accuracies in [0, 1] after training; None when diverged, and val_accuracy is
      None when the bundle has no validation split.
    epochs: epochs actually trained (steps / batches per epoch).
    train_time_s: wall time of the training steps (evaluation excluded); samples_per_s: training throughput.
    history: one dict per epoch: epoch, steps, train_loss, val_accuracy, lr (of the epoch's last step),
      epoch_time_s, time_s (cumulative training time).
    threads: torch's CPU threads during training (`torch.get_num_threads()`; see the module docstring).
    """

    status: str
    reason: str
    train_loss: float
    val_accuracy: float | None
    test_accuracy: float | None
    epochs: float
    train_time_s: float
    samples_per_s: float
    history: list[dict[str, Any]] = field(default_factory=list)
    steps: int = 0
    device: str = "cpu"
    threads: int = 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (non-finite floats become None: JSON has no NaN)."""
        return _json_safe(asdict(self))


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def lr_at(config: TrainConfig, step: int, total_steps: int) -> float:
    """Learning rate for `step` (0-based) out of `total_steps`; `step == total_steps` gives the final value."""
    fraction = min(max(step / max(total_steps, 1), 0.0), 1.0)
    if config.schedule == "cosine":
        return config.lr * 0.5 * (1.0 + math.cos(math.pi * fraction))
    if config.schedule == "step":
        return config.lr * STEP_DECAY ** sum(fraction >= m for m in config.step_milestones)
    return config.lr


def evaluate_accuracy(
    model: nn.Module,
    dataset: Dataset,
    batch_size: int = EVAL_BATCH_SIZE,
    device: str | torch.device = "auto",
) -> float:
    """Top-1 accuracy of `model` on `dataset` in eval mode (the model is moved to `device`; its train/eval
    modes are restored afterwards)."""
    if len(dataset) == 0:  # type: ignore[arg-type]
        raise ValueError("dataset: is empty, accuracy is undefined")
    dev = usable_device(device)
    model.to(dev)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, pin_memory=dev.type == "cuda")
    correct = total = 0
    with preserved_modes(model), torch.inference_mode():
        model.eval()
        correct_t = torch.zeros((), dtype=torch.int64, device=dev)
        for x, y in loader:
            x = x.to(dev, non_blocking=True)
            y = y.to(dev, non_blocking=True)
            correct_t += (model(x).argmax(dim=1) == y).sum()
            total += len(y)
        correct = int(correct_t.item())
    return correct / total


def train(model: nn.Module, bundle: DatasetBundle, config: TrainConfig) -> TrainResult:
    """Train `model` in place on `bundle.train` and evaluate it on `bundle.val` (every epoch) and `bundle.test`
    (at the end). The model stays on the training device. A NaN/inf loss ends training with
    status "diverged" instead of raising. The caller's global RNG state is left untouched."""
    config.validate()
    if len(bundle.train) == 0:  # type: ignore[arg-type]
        raise ValueError("bundle: the training split is empty")
    device = usable_device(config.device)
    model.to(device)
    fork_devices = (
        [device.index if device.index is not None else torch.cuda.current_device()]
        if (device.type == "cuda")
        else []
    )
    with torch.random.fork_rng(devices=fork_devices), preserved_modes(model):
        torch.manual_seed(config.seed)  # augmentation, dropout
        return _train(model, bundle, config, device)


def _train(model: nn.Module, bundle: DatasetBundle, config: TrainConfig, device: torch.device) -> TrainResult:
    use_amp = config.amp and device.type == "cuda"
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(
        params,
        lr=config.lr,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=config.nesterov and config.momentum > 0,  # torch rejects nesterov without momentum
    )
    criterion = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    loader = DataLoader(
        bundle.train,
        batch_size=config.batch_size,
        shuffle=True,
        generator=torch.Generator().manual_seed(config.seed),  # the data order depends on the seed only
        # A last batch of one sample breaks BatchNorm in training mode.
        drop_last=len(bundle.train) > config.batch_size,  # type: ignore[arg-type]
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
        persistent_workers=config.num_workers > 0,
    )
    batches_per_epoch = len(loader)
    if config.max_batches_per_epoch is not None:
        batches_per_epoch = min(batches_per_epoch, config.max_batches_per_epoch)
    total_steps = max(1, round(config.epochs * batches_per_epoch))
    check_every = _CHECK_EVERY.get(device.type, 1)

    history: list[dict[str, Any]] = []
    status, reason = "ok", ""
    step = samples = 0
    train_time = 0.0
    lr = config.lr
    epoch_loss = float("nan")
    progress = _Progress(config.progress, total_steps, math.ceil(total_steps / batches_per_epoch))
    model.train()
    epoch = 0
    while step < total_steps and status == "ok":
        epoch += 1
        _sync(device)
        start = time.perf_counter()
        loss_sum = torch.zeros((), dtype=torch.float32, device=device)
        batches = 0
        for x, y in itertools.islice(loader, min(batches_per_epoch, total_steps - step)):
            lr = lr_at(config, step, total_steps)
            for group in optimizer.param_groups:
                group["lr"] = lr
            x = x.to(device, non_blocking=True)
            y = y.to(device, non_blocking=True)
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                logits = model(x)
            loss = criterion(logits.float(), y)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            if config.grad_clip is not None:
                scaler.unscale_(optimizer)
                nn.utils.clip_grad_norm_(params, config.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            # The loss is non-negative, so the running sum is non-finite iff some loss was.
            loss_sum += loss.detach().float()
            step += 1
            batches += 1
            samples += len(y)
            progress.step()
            if step % check_every == 0 or batches == batches_per_epoch or step == total_steps:
                total = loss_sum.item()
                if not math.isfinite(total):
                    status = "diverged"
                    reason = f"non-finite training loss ({total}) by step {step} (epoch {epoch})"
                    break
                progress.postfix(total / batches, lr)
        _sync(device)
        epoch_time = time.perf_counter() - start
        train_time += epoch_time
        epoch_loss = loss_sum.item() / max(batches, 1)
        val_acc = None
        if status == "ok" and bundle.val is not None:
            val_acc = evaluate_accuracy(model, bundle.val, EVAL_BATCH_SIZE, device)
            model.train()
        history.append(
            {
                "epoch": step / batches_per_epoch,
                "steps": step,
                "train_loss": epoch_loss,
                "val_accuracy": val_acc,
                "lr": lr,
                "epoch_time_s": epoch_time,
                "time_s": train_time,
            }
        )
        progress.epoch_done(history[-1], epoch)
    progress.close()

    val_acc = test_acc = None
    if status == "ok":
        val_acc = history[-1]["val_accuracy"]
        test_acc = evaluate_accuracy(model, bundle.test, EVAL_BATCH_SIZE, device)
    return TrainResult(
        status=status,
        reason=reason,
        train_loss=epoch_loss,
        val_accuracy=val_acc,
        test_accuracy=test_acc,
        epochs=step / batches_per_epoch,
        train_time_s=train_time,
        samples_per_s=samples / train_time if train_time > 0 else 0.0,
        history=history,
        steps=step,
        device=str(device),
        threads=torch.get_num_threads(),
    )


class _Progress:
    """Training progress on stderr when `enabled`: tqdm's bar on a terminal (or its widget in a notebook);
    elsewhere (a file, a pipe, a job's log) one line per epoch, since a bar redrawn at every step fills a log
    with hundreds of lines."""

    def __init__(self, enabled: bool, total_steps: int, total_epochs: int) -> None:
        self.total_steps, self.total_epochs = total_steps, total_epochs
        self.stream = sys.stderr
        self.bar = tqdm(total=total_steps, desc="train", unit="step", file=self.stream) \
            if enabled and (_is_terminal(self.stream) or _IN_NOTEBOOK) else None
        self.lines = enabled and self.bar is None

    def step(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def postfix(self, loss: float, lr: float) -> None:
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{lr:.4g}")

    def epoch_done(self, record: dict[str, Any], epoch: int) -> None:
        if not self.lines:
            return
        val = record["val_accuracy"]
        parts = [f"train epoch {epoch}/{self.total_epochs}: step {record['steps']}/{self.total_steps}",
                 f"loss {record['train_loss']:.4f}", *([f"val accuracy {val:.4f}"] if val is not None else []),
                 f"lr {record['lr']:.4g}", f"{record['epoch_time_s']:.1f} s"]
        print(", ".join(parts), file=self.stream, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
