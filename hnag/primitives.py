"""Primitive operations: their width behaviour and their exact parameter counts, without torch.

`hnag.modules` builds the torch module for each name; a test checks that every count here equals the
module's `sum(p.numel())`. Convolutions have no bias; batch norm is affine (2 parameters per channel).
"""
from __future__ import annotations

from typing import Callable


def _conv_bn(k: int) -> Callable[[int, int], int]:
    return lambda i, o: k * k * i * o + 2 * o


def _sep_conv_bn(k: int) -> Callable[[int, int], int]:
    return lambda i, o: k * k * i + i * o + 2 * o


def _free(i: int, o: int) -> int:
    return 0


# name -> (channel preserving?, parameter count as a function of (in width, out width))
PRIMITIVES: dict[str, tuple[bool, Callable[[int, int], int]]] = {
    "conv1x1": (False, _conv_bn(1)),          # ReLU-Conv-BN
    "conv3x3": (False, _conv_bn(3)),
    "conv5x5": (False, _conv_bn(5)),
    "sep_conv3x3": (False, _sep_conv_bn(3)),  # ReLU-depthwise-pointwise-BN
    "sep_conv5x5": (False, _sep_conv_bn(5)),
    "conv1x1_bn_relu": (False, _conv_bn(1)),  # Conv-BN-ReLU (NAS-Bench-101)
    "conv3x3_bn_relu": (False, _conv_bn(3)),
    "conv3x3_bn": (False, _conv_bn(3)),       # Conv-BN (stems)
    "conv1x1_plain": (False, lambda i, o: i * o),
    "max_pool3x3": (True, _free),
    "avg_pool3x3": (True, _free),
    "max_pool2x2": (True, _free),
    "avg_pool2x2": (True, _free),
    "identity": (True, _free),
    "zero": (True, _free),
    "bn_relu": (True, lambda i, o: 2 * o),
}


def projection_params(i: int, o: int) -> int:
    """ReLU-Conv1x1-BN used to change a width."""
    return i * o + 2 * o


def merge_params(merge: str, n_inputs: int, width: int) -> int:
    if n_inputs < 2:
        return 0
    if merge == "weighted_sum":
        return n_inputs
    if merge == "attention":
        return width + 1
    return 0


def head_params(width: int, num_classes: int) -> int:
    return width * num_classes + num_classes
