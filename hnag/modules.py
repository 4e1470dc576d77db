"""Torch modules for the primitive ops and merges (names and counts as in `hnag.primitives`)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ReLUConvBN(nn.Sequential):
    def __init__(self, i: int, o: int, k: int, stride: int = 1) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(i, o, k, stride, k // 2, bias=False), nn.BatchNorm2d(o))


class ConvBN(nn.Sequential):
    def __init__(self, i: int, o: int, k: int, stride: int = 1, relu: bool = False) -> None:
        layers: list[nn.Module] = [nn.Conv2d(i, o, k, stride, k // 2, bias=False), nn.BatchNorm2d(o)]
        super().__init__(*layers, *([nn.ReLU(inplace=True)] if relu else []))


class SepConv(nn.Sequential):
    """ReLU, depthwise k x k, pointwise 1 x 1, BN (RandWire's node operation)."""

    def __init__(self, i: int, o: int, k: int, stride: int = 1) -> None:
        super().__init__(nn.ReLU(inplace=False), nn.Conv2d(i, i, k, stride, k // 2, groups=i, bias=False),
                         nn.Conv2d(i, o, 1, bias=False), nn.BatchNorm2d(o))


class Zero(nn.Module):
    def __init__(self, stride: int) -> None:
        super().__init__()
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, :: self.stride, :: self.stride].mul(0.0)


def build_primitive(name: str, i: int, o: int, stride: int) -> nn.Module:
    if name in ("conv1x1", "conv3x3", "conv5x5"):
        return ReLUConvBN(i, o, int(name[4]), stride)
    if name in ("sep_conv3x3", "sep_conv5x5"):
        return SepConv(i, o, int(name[8]), stride)
    if name in ("conv1x1_bn_relu", "conv3x3_bn_relu"):
        return ConvBN(i, o, int(name[4]), stride, relu=True)
    if name == "conv3x3_bn":
        return ConvBN(i, o, 3, stride)
    if name == "conv1x1_plain":
        return nn.Conv2d(i, o, 1, stride, bias=False)
    if name == "max_pool3x3":
        return nn.MaxPool2d(3, stride, 1)
    if name == "avg_pool3x3":
        return nn.AvgPool2d(3, stride, 1, count_include_pad=False)
    if name in ("max_pool2x2", "avg_pool2x2"):
        return nn.MaxPool2d(2, 2) if name.startswith("max") else nn.AvgPool2d(2, 2)
    if name == "identity":
        return nn.Identity() if stride == 1 else nn.AvgPool2d(1, stride)
    if name == "zero":
        return Zero(stride)
    if name == "bn_relu":
        return nn.Sequential(nn.BatchNorm2d(o), nn.ReLU(inplace=False))
    raise ValueError(f"op: unknown primitive {name!r}")


def projection(i: int, o: int) -> nn.Module:
    return ReLUConvBN(i, o, 1)


class Merge(nn.Module):
    """Combines a node's (already resized and projected) inputs."""

    def __init__(self, kind: str, n_inputs: int, width: int, channels: int) -> None:
        super().__init__()
        self.kind = kind if n_inputs > 1 else "single"
        self.channels = channels
        if self.kind == "weighted_sum":
            self.weight = nn.Parameter(torch.ones(n_inputs))
        elif self.kind == "attention":
            self.score = nn.Linear(width, 1)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        kind = self.kind
        if kind == "single":
            return xs[0]
        if kind == "concat":
            return torch.cat(xs, dim=1)
        if kind == "truncate_sum":
            xs = [x[:, : self.channels] for x in xs]
        if kind == "weighted_sum":
            w = torch.sigmoid(self.weight)
            out = w[0] * xs[0]
            for i in range(1, len(xs)):
                out = out + w[i] * xs[i]
            return out
        if kind == "attention":
            stacked = torch.stack(xs, dim=1)                                    # B, n, C, H, W
            scores = self.score(stacked.mean(dim=(3, 4))).squeeze(-1)            # B, n
            weights = torch.softmax(scores, dim=1).to(stacked.dtype)[:, :, None, None, None]
            return (weights * stacked).sum(dim=1)
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out / len(xs) if kind == "mean" else out


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Average-pool x down to `size` (inputs of different resolution meet at the smallest)."""
    if x.shape[-2:] == size:
        return x
    h, w = x.shape[-2:]
    if h % size[0] == 0 and w % size[1] == 0 and h // size[0] == w // size[1]:
        return F.avg_pool2d(x, h // size[0])
    return F.adaptive_avg_pool2d(x, size)
