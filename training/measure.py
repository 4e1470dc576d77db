"""Cost measurements of a model: parameters, MACs (two counters), training memory per sample, latency."""

from __future__ import annotations

import copy
import statistics
import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from training.modes import model_device, preserved_modes, usable_device

MIB = 2**20
LATENCY_WARMUP = 3
LATENCY_RUNS = 10

METHOD_CUDA = "cuda-peak-slope"
METHOD_CPU = "cpu-saved-tensors"


@dataclass
class Measurements:
    """Costs of one model for one input shape (see `measure` for the definitions)."""

    params: int
    macs: int
    macs_flop_counter: int
    memory_mb_per_sample: float
    memory_method: str
    latency_ms: float
    device: str = "cpu"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure(
    model: nn.Module,
    input_shape: tuple[int, int, int],
    device: str | torch.device = "cpu",
    batch_size: int = 8,
) -> Measurements:
    """Measure a model's costs for inputs of shape (C, H, W).

    params: number of trainable parameters (sum of `numel` over parameters with requires_grad).
    macs: multiply-accumulates of one forward pass of one sample, counted by thop 0.1.1 on a deep copy of the
      model (thop leaves `total_ops`/`total_params` buffers in the model it profiles). thop also counts
      BatchNorm, pooling and some activations, but counts functional ops (F.conv2d, matmul, attention) as 0.
    macs_flop_counter: the same from `torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2): counts every
      convolution and matrix product, including functional ones, and nothing else. On a network made only of
      nn.Conv/nn.Linear layers the two counts agree; neither counts bias additions.
    memory_mb_per_sample: peak training activation memory per sample, in MiB (2**20 bytes), float32, no
      autocast. It excludes everything that does not grow with the batch (weights, gradients, optimizer state,
      workspaces). Its measurement depends on the device, named by memory_method:
      - "cuda-peak-slope": a training step (forward + backward of the summed output) is run at batch sizes
        `batch_size` and `2 * batch_size` after a warm-up step, and the result is the slope
        (peak(2b) - peak(b)) / b of `torch.cuda.max_memory_allocated()`. It includes the input batch, the
        tensors saved for backward, and the transient gradient buffers live at the peak of the step.
      - "cpu-saved-tensors": one forward pass at `batch_size` in training mode; the bytes of the unique
        storages (deduplicated by `untyped_storage().data_ptr()`) that autograd saves for backward, excluding
        the parameters' own storages, divided by `batch_size`. This is the memory the autograd graph holds
        at the end of the forward pass (the input batch included when the first layer saves it); it omits
        the transient buffers of the backward pass, so it is a lower bound of the CUDA number.
    latency_ms: median over LATENCY_RUNS runs (after LATENCY_WARMUP warm-up runs) of the wall time of one
      eval-mode forward pass of a batch of 1 on `device`, under torch.inference_mode.

    Forward passes that would change the model (training-mode BatchNorm statistics, gradients) run on a deep
    copy. The model is measured on `device` and moved back to its original device; the train/eval mode of every
    submodule is restored.
    """
    shape = _check_shape(input_shape)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: must be an integer >= 1, got {batch_size!r}")
    dev = usable_device(device)
    original_device = model_device(model)
    with preserved_modes(model):
        try:
            model.to(dev)
            params = count_trainable_params(model)
            macs = thop_macs(model, shape, dev)
            macs_fc = flop_counter_macs(model, shape, dev)
            if dev.type == "cuda":
                memory, method = cuda_memory_per_sample(model, shape, dev, batch_size), METHOD_CUDA
            else:
                memory, method = cpu_saved_memory_per_sample(model, shape, dev, batch_size), METHOD_CPU
            latency = latency_ms(model, shape, dev)
        finally:
            model.to(original_device)
    return Measurements(
        params=params,
        macs=macs,
        macs_flop_counter=macs_fc,
        memory_mb_per_sample=memory / MIB,
        memory_method=method,
        latency_ms=latency,
        device=str(dev),
    )


def _check_shape(input_shape: Any) -> tuple[int, ...]:
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape: must be (C, H, W) with positive sizes, got {input_shape!r}")
    return shape


def _first_tensor(out: Any) -> torch.Tensor:
    """The main output of models that return (logits, auxiliary, ...)."""
    while isinstance(out, (tuple, list)):
        out = out[0]
    return out


def count_trainable_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def thop_macs(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> int:
    """MACs of one sample by thop, profiled on a deep copy (thop leaves buffers behind)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # thop imports distutils
        from thop import profile

    clone = copy.deepcopy(model).eval()
    x = torch.randn(1, *input_shape, device=device)
    macs, _ = profile(clone, inputs=(x,), verbose=False)
    return round(float(macs))


def flop_counter_macs(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> int:
    """MACs of one sample as FLOPs / 2 from torch's FlopCounterMode (eval mode, no grad)."""
    from torch.utils.flop_counter import FlopCounterMode  # imports triton where installed: only when counting

    x = torch.randn(1, *input_shape, device=device)
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


def cpu_saved_memory_per_sample(
    model: nn.Module, input_shape: tuple[int, ...], device: torch.device, batch_size: int
) -> float:
    """Bytes per sample of the unique non-parameter storages saved for backward in one forward pass."""
    clone = copy.deepcopy(model).train()
    param_ptrs = {p.untyped_storage().data_ptr() for p in clone.parameters()}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        try:
            storage = t.untyped_storage()
        except (RuntimeError, NotImplementedError):  # tensors without storage (e.g. mkldnn)
            return t
        ptr = storage.data_ptr()
        if ptr and ptr not in param_ptrs:
            saved[ptr] = max(saved.get(ptr, 0), storage.nbytes())
        return t

    x = torch.randn(batch_size, *input_shape, device=device)
    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = clone(x)  # keep `out` (and with it the graph) alive while counting: addresses stay unique
    total = sum(saved.values())
    del out
    return total / batch_size


def cuda_memory_per_sample(
    model: nn.Module, input_shape: tuple[int, ...], device: torch.device, batch_size: int
) -> float:
    """Slope in bytes per sample of the peak allocated CUDA memory of a training step over the batch size."""
    clone = copy.deepcopy(model).train()
    peaks = []
    for n in (batch_size, batch_size, 2 * batch_size):  # the first run is a warm-up (lazy init, cuDNN)
        clone.zero_grad(set_to_none=True)
        x = torch.randn(n, *input_shape, device=device)
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        _first_tensor(clone(x)).float().sum().backward()
        torch.cuda.synchronize(device)
        peaks.append(torch.cuda.max_memory_allocated(device))
        del x
    clone.zero_grad(set_to_none=True)
    del clone
    return max(0.0, (peaks[2] - peaks[1]) / batch_size)


def latency_ms(model: nn.Module, input_shape: tuple[int, ...], device: torch.device) -> float:
    """Median eval-mode latency of a batch of one, in milliseconds."""
    x = torch.randn(1, *input_shape, device=device)
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(LATENCY_WARMUP + LATENCY_RUNS):
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            if i >= LATENCY_WARMUP:
                times.append((time.perf_counter() - start) * 1000.0)
    return statistics.median(times)
