"""Tests of training.measure: parameter and MAC counts, memory per sample, latency, no side effects."""

from __future__ import annotations

import copy
import json

import pytest
import torch
from torch import nn

from training import Measurements, measure




def conv_linear_net() -> nn.Module:
    # input 3x8x8 -> conv 3->8 (3x3, pad 1) -> 8x8x8 -> linear 512 -> 10
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=True),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 8 * 8, 10),
    )


def plain_net(width: int) -> nn.Module:
    """Every activation has `width` channels at 16x16; only the 1-channel input does not scale."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(width, 10),
    )


def bn_net() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )


def test_params_are_the_trainable_numel():
    model = bn_net()
    m = measure(model, (3, 8, 8))
    assert isinstance(m, Measurements)
    assert m.params == sum(p.numel() for p in model.parameters()) == 3 * 8 * 9 + 16 + 8 * 10 + 10
    model[0].weight.requires_grad_(False)
    assert measure(model, (3, 8, 8)).params == 16 + 8 * 10 + 10


def test_thop_and_flop_counter_agree_with_a_hand_count():
    expected = (8 * 8 * 8) * (3 * 3 * 3) + 512 * 10  # conv: output elements x (C_in x k x k); linear: in x out
    m = measure(conv_linear_net(), (3, 8, 8))
    assert m.macs == m.macs_flop_counter == expected == 18944


def test_macs_do_not_scale_with_the_batch_size():
    assert (
        measure(conv_linear_net(), (3, 8, 8), batch_size=2).macs
        == measure(conv_linear_net(), (3, 8, 8), batch_size=16).macs
    )


def test_no_thop_buffers_are_left_in_the_model():
    model = bn_net()
    keys = set(model.state_dict())
    measure(model, (3, 8, 8))
    assert set(model.state_dict()) == keys
    assert not any("total_ops" in k or "total_params" in k for k in model.state_dict())
    copy.deepcopy(bn_net()).load_state_dict(model.state_dict(), strict=True)


def test_measure_has_no_side_effects_on_the_model():
    model = bn_net()
    model.train()
    model[1].eval()  # mixed modes must survive
    before = {k: v.clone() for k, v in model.state_dict().items()}
    measure(model, (3, 8, 8))
    assert model.training and model[0].training and not model[1].training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # BatchNorm statistics untouched
    assert all(p.grad is None for p in model.parameters())


def test_cpu_memory_per_sample_is_the_saved_activations():
    m = measure(plain_net(16), (1, 16, 16), batch_size=4)
    assert m.memory_method == "cpu-saved-tensors"
    # saved for backward (float32): the input (1x16x16, by conv 1), the two ReLU outputs (16x16x16 each; conv 2
    # and the pooling save the same storages) and the pooled 16 features (by the linear layer); the weights
    # the convolutions and the linear layer save are parameters and do not count
    expected = (1 * 256 + 2 * 16 * 256 + 16) * 4
    assert m.memory_mb_per_sample * 2**20 == pytest.approx(expected)


def test_memory_roughly_doubles_with_the_activations():
    narrow = measure(plain_net(32), (1, 16, 16), batch_size=4).memory_mb_per_sample
    wide = measure(plain_net(64), (1, 16, 16), batch_size=4).memory_mb_per_sample
    assert narrow > 0
    assert 1.8 < wide / narrow < 2.2


def test_latency_and_to_dict():
    m = measure(conv_linear_net(), (3, 8, 8))
    assert m.latency_ms > 0
    payload = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert set(payload) >= {
        "params",
        "macs",
        "macs_flop_counter",
        "memory_mb_per_sample",
        "memory_method",
        "latency_ms",
    }


def test_models_returning_tuples_are_measured():
    class TwoHeads(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = conv_linear_net()

        def forward(self, x):
            out = self.body(x)
            return out, out.detach()

    assert measure(TwoHeads(), (3, 8, 8)).macs_flop_counter == 18944


@pytest.mark.parametrize("shape", [(3, 8), (3, 0, 8), "abc"])
def test_bad_input_shape(shape):
    with pytest.raises(ValueError, match="^input_shape:"):
        measure(conv_linear_net(), shape)


def test_bad_batch_size():
    with pytest.raises(ValueError, match="^batch_size:"):
        measure(conv_linear_net(), (3, 8, 8), batch_size=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_memory_slope_tracks_the_activations():
    model = plain_net(32)
    narrow = measure(model, (1, 16, 16), device="cuda", batch_size=32)
    wide = measure(plain_net(64), (1, 16, 16), device="cuda", batch_size=32)
    assert narrow.memory_method == "cuda-peak-slope" and narrow.device.startswith("cuda")
    assert next(model.parameters()).device.type == "cpu"  # moved back
    cpu = measure(model, (1, 16, 16), batch_size=32).memory_mb_per_sample
    # the CUDA number adds transient backward buffers to the saved tensors: at least the CPU count
    assert narrow.memory_mb_per_sample >= 0.9 * cpu
    assert 1.5 < wide.memory_mb_per_sample / narrow.memory_mb_per_sample < 2.5
