"""hnag.counting.count_macs: analytic MACs of a spec equal torch's flop counter on the compiled module."""
import time

import numpy as np
import pytest
import torch

import hnag
from hnag.counting import count_macs
from hnag.primitives import PRIMITIVES
from hnag.spec import ArchitectureSpec, Graph, Node
from search.spaces import make_space
from training.measure import flop_counter_macs

CPU = torch.device("cpu")


def measured(spec: ArchitectureSpec) -> int:
    return flop_counter_macs(hnag.compile_spec(spec), tuple(spec.input_shape), CPU)


def spec_of(nodes, input_shape=(3, 11, 9), num_classes=5) -> ArchitectureSpec:
    return ArchitectureSpec("test", tuple(input_shape), num_classes, Graph(tuple(nodes), "network"))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("op", sorted(PRIMITIVES))
def test_every_primitive_on_an_odd_non_square_input(op, stride):
    # a conv stem first, so that channel-preserving ops see the width they keep
    spec = spec_of([Node("conv3x3_bn", (-1,), 6, label="stem"), Node(op, (0,), 6 if PRIMITIVES[op][0] else 10,
                                                                     stride)])
    assert count_macs(spec) == measured(spec)


def test_merges_resizing_projections_adapters_and_nested_graphs():
    inner = Graph((Node("sep_conv5x5", (-1,), 8, stride=2), Node("conv1x1", (-1,), 8),
                   Node("identity", (0, 1), 8, merge="attention")), "inner")
    nodes = [Node("conv3x3_bn", (-1,), 6),                      # 0: 13 x 10
             Node("conv3x3", (0,), 8, stride=2),                 # 1: 7 x 5
             Node("max_pool2x2", (0,), 6),                       # 2: 6 x 5 (the smallest: inputs meet here)
             Node("conv5x5", (1, 2), 12, merge="concat"),        # 3: concat 8 + 6 at 6 x 5
             Node("avg_pool3x3", (1, 3), 12, merge="sum"),       # 4: 8 is projected to 12; identity-like op
             Node("max_pool3x3", (2, 3), 8, merge="weighted_sum"),  # 5: both projected to 8
             Node("identity", (3, 4), 10, merge="mean"),         # 6: equal widths, adapter 12 -> 10
             Node("conv1x1", (4, 6), 10, merge="truncate_sum"),  # 7: truncated to 10
             Node(inner, (5, 7), 8, merge="attention"),          # 8: projections + attention, nested graph
             Node("bn_relu", (8,), 8, stride=2)]                 # 9: BN never strides
    spec = spec_of(nodes, input_shape=(2, 13, 10), num_classes=7)
    assert count_macs(spec) == measured(spec)


@pytest.mark.parametrize("name", sorted(hnag.PRESETS))
def test_presets(name):
    spec = hnag.generate(hnag.preset(name), 0)
    if spec.input_shape[1] > 64:  # ImageNet-sized presets: count on a smaller image (same rules, faster)
        spec = ArchitectureSpec(spec.generator, (3, 64, 64), spec.num_classes, spec.network)
    assert count_macs(spec) == measured(spec)


def test_random_generator_configurations_on_several_input_shapes():
    rng = np.random.default_rng(3)
    shapes = [(3, 32, 32), (1, 28, 28), (3, 17, 23), (2, 9, 9)]
    hnag_space = make_space("hnag-full", {"base_channels": 4})
    for i, shape in enumerate(shapes):
        spec = hnag_space.to_spec(hnag_space.sample(rng), seed=i, input_shape=shape, num_classes=7)
        assert count_macs(spec) == measured(spec), (i, shape)
    rnag_space = make_space("rnag", {"channels": 6})
    for i in range(2):
        spec = rnag_space.to_spec(rnag_space.sample(rng), seed=i, input_shape=(3, 33, 31), num_classes=5)
        assert count_macs(spec) == measured(spec)


@pytest.mark.parametrize("name,options", [("nb201", {}), ("nb101", {"stem_channels": 16})])
def test_cell_networks(name, options):
    space = make_space(name, options)
    rng = np.random.default_rng(0)
    for _ in range(3):
        spec = space.to_spec(space.sample(rng), seed=0, input_shape=(3, 32, 32), num_classes=10)
        assert count_macs(spec) == measured(spec)


def test_counts_only_convolutions_and_linear_layers():
    # stem 3x3 conv on 8x8 (3 -> 4 channels), 2x2 max pool, classifier 4 -> 2: pooling and BN count nothing
    spec = spec_of([Node("conv3x3_bn", (-1,), 4), Node("max_pool2x2", (0,), 4), Node("bn_relu", (1,), 4)],
                   input_shape=(3, 8, 8), num_classes=2)
    assert count_macs(spec) == 8 * 8 * 4 * 3 * 9 + 4 * 2


def test_a_resolution_that_vanishes_is_refused_with_the_node():
    spec = spec_of([Node("max_pool2x2", (-1,), 3), Node("max_pool2x2", (0,), 3)], input_shape=(3, 2, 2))
    with pytest.raises(ValueError, match=r"network node 1: input resolution 1 x 1 is too small") as err:
        count_macs(spec)
    assert "\n" not in str(err.value)


def test_fast_enough_for_whole_tables():
    space = make_space("nb201")
    specs = [space.to_spec(c) for c in space.all_points()[:200]]
    start = time.perf_counter()
    for spec in specs:
        count_macs(spec)
    assert (time.perf_counter() - start) / len(specs) < 0.005  # about 0.2 ms here
