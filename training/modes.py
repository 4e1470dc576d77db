"""Remember and restore the train/eval flag of every submodule (a single `model.train(flag)` would lose mixed
modes such as a frozen, eval-mode BatchNorm inside a training model)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn


@contextmanager
def preserved_modes(model: nn.Module) -> Iterator[nn.Module]:
    modes = [(m, m.training) for m in model.modules()]
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


def model_device(model: nn.Module) -> torch.device:
    """Device of the model's first parameter or buffer (CPU for a model with neither)."""
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def resolve_device(device: str | torch.device) -> torch.device:
    """ "auto" means CUDA when available, else CPU; anything else is parsed by torch.device."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def usable_device(device: str | torch.device) -> torch.device:
    """`resolve_device`, plus a one-line ValueError when CUDA is asked for but absent. Checked when work starts,
    not when a config is made: configs may be written on a machine without the GPU that will run them."""
    dev = resolve_device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {str(device)!r} was requested but CUDA is not available here")
    return dev
