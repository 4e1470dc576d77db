"""HNAG between stages and at the stem: the built top level is the sampled Watts-Strogatz graph, stages pool
(or stride) down exactly one resolution level each, and large inputs get a stem that reduces by 4."""
from dataclasses import replace

import networkx as nx
import numpy as np
import pytest
import torch

import hnag
from hnag.graphs import rng_for
from hnag.spec import Graph
from search.spaces import make_space
from training.measure import flop_counter_macs

MODES = ("pool", "stride")
# The NAGO paper's parameter limit for its large-image tasks (SPORT8, MIT67, Flowers102).
LARGE_IMAGE_BUDGET = 5_000_000


def params_for(seed: int, **fields) -> hnag.GeneratorParams:
    """Small networks over many top-level shapes: 3 or 4 stages with random sizes, sparse to dense graphs."""
    rng = np.random.default_rng(seed)
    top_n = int(rng.integers(4, 11))
    stages = int(rng.integers(3, 5))
    return hnag.GeneratorParams(
        top_n=top_n, top_k=int(rng.integers(2, min(5, top_n - 1) + 1)), top_p=float(rng.uniform(0.1, 1)),
        mid_n=int(rng.integers(1, 3)), bottom_n=3, bottom_k=2, base_channels=3,
        stage_ratios=tuple(rng.uniform(0.1, 1.0, stages)), channel_ratios=(1.0, 2.0, 3.0, 4.0)[:stages],
        merge_probs={m: 1.0 for m in hnag.MERGE_OPTIONS}, op_probs={o: 1.0 for o in hnag.OPERATIONS},
        input_shape=(3, 16, 16), **fields)


def sampled_top_edges(params: hnag.GeneratorParams, seed: int) -> set[tuple[int, int]]:
    """The Watts-Strogatz graph drawn straight from networkx with the generator's seed, oriented low -> high."""
    nx_seed = int(rng_for(seed, "top").integers(0, 2**31 - 1))
    graph = nx.watts_strogatz_graph(params.top_n, params.top_k, params.top_p, seed=nx_seed)
    return {(min(u, v), max(u, v)) for u, v in graph.edges()}


def cells(spec: hnag.ArchitectureSpec) -> list:
    return [n for n in spec.network.nodes if n.label.startswith("cell ")]


@pytest.mark.parametrize("mode", MODES)
def test_the_built_top_level_is_the_sampled_watts_strogatz_graph(mode):
    for seed in range(60):
        params = params_for(seed, downsample=mode)
        spec = hnag.generate(params, seed)
        nodes = cells(spec)
        positions = [i for i, n in enumerate(spec.network.nodes) if n.label.startswith("cell ")]
        assert positions == list(range(1, params.top_n + 1))  # the stem is node 0
        built = {(j - 1, i) for i, n in enumerate(nodes) for j in n.inputs if j > 0}
        edges = sampled_top_edges(params, seed)
        assert built == edges, seed
        # the cells that read the stem are exactly those without a sampled predecessor
        assert {i for i, n in enumerate(nodes) if 0 in n.inputs} == set(range(params.top_n)) - {v for _, v in edges}


def stage_of(node) -> int:
    return int(node.label.split("stage ")[1].rstrip(")"))


@pytest.mark.parametrize("mode", MODES)
def test_every_cell_runs_at_its_stage_resolution_and_stage_jumps_are_pooled(mode):
    jumps = 0
    for seed in range(12):
        params = params_for(seed, downsample=mode)
        spec = hnag.generate(params, seed)
        model = hnag.compile_spec(spec)
        seen: dict[int, tuple[int, int]] = {}
        for index, node in enumerate(spec.network.nodes):
            if node.label.startswith("cell "):
                model.body.nodes[index].register_forward_hook(
                    lambda m, args, out, i=index: seen.__setitem__(i, tuple(out.shape[-2:])))
        model(torch.randn(1, *params.input_shape))
        for index, node in enumerate(spec.network.nodes):
            if node.label.startswith("cell "):
                side = -(-16 // 2 ** stage_of(node))
                assert seen[index] == (side, side), (seed, node.label)
                inputs = [stage_of(spec.network.nodes[j]) if j > 0 else 0 for j in node.inputs]
                jumps += stage_of(node) - max(inputs) >= 2
        assert numel(model) == hnag.count_params(spec)
        assert hnag.count_macs(spec) == flop_counter_macs(model, tuple(params.input_shape), torch.device("cpu"))
    assert jumps > 0  # the seeds include nodes two or more stages below all their inputs


def numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_pooling_keeps_cells_at_stride_one_and_striding_strides_their_input_ops():
    params = replace(hnag.PRESETS["hnag-default"], top_k=2, top_p=0.0)  # a chain: each stage's first cell drops
    pooled, strided = (hnag.generate(replace(params, downsample=m), 0) for m in MODES)
    for p_node, s_node in zip(cells(pooled), cells(strided)):
        dropping = stage_of(p_node) > max(stage_of(pooled.network.nodes[j]) if j else 0 for j in p_node.inputs)
        assert p_node.stride == (2 if dropping else 1) and s_node.stride == 1
        assert all(n.stride == 1 for n in p_node.op.primitive_nodes())
        strides = {n.stride for n in s_node.op.primitive_nodes()}
        assert strides == ({1, 2} if dropping else {1})
    # same widths, same parameters: only where the resolution drops differs
    assert pooled.meta["widths"] == strided.meta["widths"]
    assert hnag.count_params(pooled) == hnag.count_params(strided)


@pytest.mark.parametrize("mode", MODES)
def test_both_modes_train_a_step_with_exact_counts(mode):
    params = replace(params_for(3, downsample=mode), param_budget=20_000)
    spec = hnag.generate(params, 3)
    model = hnag.compile_spec(spec)
    assert numel(model) == hnag.count_params(spec)
    assert abs(hnag.count_params(spec) - 20_000) <= 200
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(4, 3, 16, 16)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


@pytest.mark.parametrize("side,expected", [(8, 1), (32, 1), (39, 1), (40, 4), (224, 4)])
def test_the_stem_reduces_large_inputs_by_four_by_default(side, expected):
    params = replace(hnag.PRESETS["hnag-tiny"], input_shape=(3, side, side))
    assert params.resolved_stem_stride == expected
    stem = hnag.generate(params).network.nodes[0]
    assert stem.label == "stem"
    strides = [n.stride for n in stem.op.nodes] if isinstance(stem.op, Graph) else [stem.stride]
    assert int(np.prod(strides)) == expected


def test_the_stem_stride_can_be_set():
    params = replace(hnag.PRESETS["hnag-tiny"], input_shape=(3, 48, 48), stem_stride=2)
    model = hnag.compile_spec(hnag.generate(params))
    assert model.body.nodes[0]([torch.randn(1, 3, 48, 48)]).shape[-1] == 24
    assert replace(params, stem_stride=1).resolved_stem_stride == 1


@pytest.mark.parametrize("field,value,message", [
    ("downsample", "avg", "downsample: must be 'pool' or 'stride', got 'avg'"),
    ("stem_stride", 3, "stem_stride: must be one of 1, 2, 4, or null for the automatic rule, got 3"),
])
def test_bad_downsampling_fields_give_one_line_errors(field, value, message):
    with pytest.raises(ValueError) as err:
        hnag.generate(replace(hnag.PRESETS["hnag-tiny"], **{field: value}))
    assert str(err.value) == message


def test_a_224_pixel_network_at_the_large_image_budget_trains_a_step():
    params = replace(hnag.PRESETS["hnag-default"], input_shape=(3, 224, 224), num_classes=102,
                     param_budget=LARGE_IMAGE_BUDGET)
    spec = hnag.generate(params, 0)
    model = hnag.compile_spec(spec)
    assert abs(numel(model) - LARGE_IMAGE_BUDGET) <= 0.01 * LARGE_IMAGE_BUDGET
    # stage 0 runs at 56 x 56: about 2.2 G multiply-accumulates (35 G with a stride-1 stem)
    assert 1.5e9 < hnag.count_macs(spec) < 3e9
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 224, 224)), torch.tensor([0, 101]))
    loss.backward()
    opt.step()
    assert torch.isfinite(loss)


def test_search_spaces_pass_the_fields_through():
    space = make_space("hnag", {"downsample": "stride", "stem_stride": 2, "base_channels": 4})
    spec = space.to_spec(space.sample(np.random.default_rng(0)), seed=0, input_shape=(3, 32, 32), num_classes=10)
    assert spec.meta["params"]["downsample"] == "stride" and spec.network.nodes[0].stride == 2
