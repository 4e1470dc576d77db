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


def plain_merge(kind: str, xs: list[torch.Tensor], channels: int) -> torch.Tensor:
    """Combine a node's (already resized and projected) inputs by a merge without weights: sum, mean, concat,
    truncate_sum (each input sliced to its first `channels` channels); one input passes through."""
    if len(xs) == 1:
        return xs[0]
    if kind == "concat":
        return torch.cat(xs, dim=1)
    if kind == "truncate_sum":
        xs = [x[:, :channels] for x in xs]
    out = xs[0]
    for x in xs[1:]:
        out = out + x
    return out / len(xs) if kind == "mean" else out


class Merge(nn.Module):
    """A merge with learnable weights: weighted_sum (sigmoid of one weight per input, as RandWire) or attention
    (softmax over inputs of a shared Linear(width, 1) applied to each globally pooled input). The other merges
    have no weights and need no module (`plain_merge`), which keeps compiling large networks cheap."""

    def __init__(self, kind: str, n_inputs: int, width: int) -> None:
        super().__init__()
        if not has_weights(kind, n_inputs):
            raise ValueError(f"merge: a Merge module needs weighted_sum or attention over several inputs, got "
                             f"{kind!r} over {n_inputs}")
        self.kind = kind
        if kind == "weighted_sum":
            self.weight = nn.Parameter(torch.ones(n_inputs))
        else:
            self.score = nn.Linear(width, 1)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if self.kind == "weighted_sum":
            w = torch.sigmoid(self.weight)
            out = w[0] * xs[0]
            for i in range(1, len(xs)):
                out = out + w[i] * xs[i]
            return out
        stacked = torch.stack(xs, dim=1)                                    # B, n, C, H, W
        scores = self.score(stacked.mean(dim=(3, 4))).squeeze(-1)            # B, n
        weights = torch.softmax(scores, dim=1).to(stacked.dtype)[:, :, None, None, None]
        return (weights * stacked).sum(dim=1)


def has_weights(kind: str, n_inputs: int) -> bool:
    """Whether a merge of `n_inputs` inputs has learnable weights (then it is a `Merge` module)."""
    return n_inputs > 1 and kind in ("weighted_sum", "attention")


def resize_to(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Average-pool x down to `size`: by a whole factor when the sizes allow one, else adaptively (an odd side
    halved and rounded up)."""
    if x.shape[-2:] == size:
        return x
    h, w = x.shape[-2:]
    if h % size[0] == 0 and w % size[1] == 0 and h // size[0] == w // size[1]:
        return F.avg_pool2d(x, h // size[0])
    return F.adaptive_avg_pool2d(x, size)
