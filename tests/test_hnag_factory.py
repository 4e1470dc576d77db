"""The factory: determinism, presets, exact parameter counting, budgets, graph rules, compilation modes."""
import gc
import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

import hnag
from hnag.graphs import erdos_renyi_dag, rng_for, stage_sizes
from hnag.hnag_generator import _Categorical
from hnag.modules import build_primitive
from hnag.primitives import PRIMITIVES
from hnag.spec import ArchitectureSpec, Graph, Node

SMALL_INPUT = {"hnag": (3, 32, 32), "rnag": (3, 64, 64)}


def random_params(rng: np.random.Generator, budget: int | None = None, mixed: bool = False) -> hnag.GeneratorParams:
    """A configuration from the paper's ranges (the expanded spaces when mixed)."""
    top_n, bottom_n = int(rng.integers(3, 11)), int(rng.integers(3, 11))
    extra = {}
    if mixed:
        extra = dict(merge_probs={m: float(rng.uniform(0, 1)) for m in hnag.MERGE_OPTIONS},
                     op_probs={o: float(rng.uniform(0, 1)) for o in hnag.OPERATIONS},
                     stage_ratios=tuple(rng.uniform(0.2, 1.0, 3)), channel_ratios=(1.0, float(rng.uniform(1, 3)), 4.0))
    return hnag.GeneratorParams(
        top_n=top_n, top_k=int(rng.integers(2, min(5, top_n - 1) + 1)), top_p=float(rng.uniform(0.1, 1)),
        mid_n=int(rng.integers(1, 11)), mid_p=float(rng.uniform(0.1, 1)),
        bottom_n=bottom_n, bottom_k=int(rng.integers(2, min(5, bottom_n - 1) + 1)),
        bottom_p=float(rng.uniform(0.1, 1)), param_budget=budget, **extra)


def numel(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_same_params_and_seed_give_the_same_spec_in_another_process():
    params = hnag.PRESETS["hnag-mixed"]
    here = hnag.generate(params, seed=7).to_json()
    code = ("import hnag, sys; hnag.generate(hnag.PRESETS['hnag-default'], seed=1); "  # build something else first
            "sys.stdout.write(hnag.generate(hnag.PRESETS['hnag-mixed'], seed=7).to_json())")
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert there == here
    assert hnag.generate(params, seed=8).hash() != hnag.generate(params, seed=7).hash()


def test_spec_round_trips_through_json_with_a_stable_hash():
    spec = hnag.generate(hnag.PRESETS["hnag-mixed"], seed=2)
    again = ArchitectureSpec.from_json(spec.to_json())
    assert again == spec and again.hash() == spec.hash()
    assert json.loads(spec.to_json())["format"] == "nago-spec/1"


@pytest.mark.parametrize("name", sorted(hnag.PRESETS))
def test_every_preset_compiles_and_runs_forward_and_backward(name):
    params = hnag.PRESETS[name]
    if params.input_shape[1] > 64:  # ImageNet-sized presets: same graphs, smaller input to keep CI fast
        params = replace(params, input_shape=SMALL_INPUT[type(params).__name__[:4].lower()], num_classes=10)
    spec = hnag.generate(params, seed=0)
    model = hnag.compile_spec(spec)
    assert numel(model) == hnag.count_params(spec)
    x = torch.randn(2, *params.input_shape)
    out = model(x)
    assert out.shape == (2, params.num_classes)
    out.logsumexp(1).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, params.num_classes)


def test_parameter_count_from_the_spec_is_exact_on_random_expanded_configurations():
    rng = np.random.default_rng(0)
    for i in range(12):
        params = replace(random_params(rng, mixed=True), base_channels=int(rng.integers(3, 12)))
        spec = hnag.generate(params, seed=i)
        assert numel(hnag.compile_spec(spec)) == hnag.count_params(spec)


@pytest.mark.parametrize("name", sorted(PRIMITIVES))
def test_each_primitive_count_matches_its_module(name):
    preserving, count = PRIMITIVES[name]
    i, o = (6, 6) if preserving else (5, 7)
    assert numel(build_primitive(name, i, o, 1)) == count(i, o)


def test_budget_solver_lands_within_one_percent():
    rng = np.random.default_rng(1)
    for i, budget in enumerate([500_000, 1_000_000, 3_000_000] * 3):
        spec = hnag.generate(random_params(rng, budget=budget), seed=i)
        assert abs(hnag.count_params(spec) - budget) <= 0.01 * budget
        assert spec.meta["budget"]["params"] == hnag.count_params(spec)


def test_rnag_budget_and_paper_sizes():
    small = hnag.generate(hnag.PRESETS["rnag-small"], seed=0)
    assert 5.3e6 < hnag.count_params(small) < 6.0e6  # the paper: 5.6M parameters for the small regime, C=78
    regular = hnag.generate(hnag.PRESETS["rnag-regular"], seed=0)
    assert 30e6 < hnag.count_params(regular) < 33e6  # the paper: 31.9M for the regular regime, C=109
    spec = hnag.generate(replace(hnag.PRESETS["rnag-cifar"], param_budget=200_000), seed=0)
    assert abs(hnag.count_params(spec) - 200_000) <= 2_000


def test_rnag_stages_are_seeded_independently():
    spec = hnag.generate(hnag.PRESETS["rnag-cifar"], seed=0)
    stages = [n.op for n in spec.network.nodes if isinstance(n.op, Graph)]
    wiring = [[n.inputs for n in stage.nodes] for stage in stages]
    assert wiring[0] != wiring[1] != wiring[2]  # equal (N, K, P), different graphs


@pytest.mark.parametrize("field,value,message", [
    ("top_k", 6, "top_k: must be an integer in [2, 5]"),
    ("top_n", 2, "top_n: must be an integer in [3, inf]"),
    ("mid_p", 1.5, "mid_p: must be a number in [0, 1]"),
    ("bottom_p", -0.1, "bottom_p: must be a number in [0, 1]"),
    ("channel_ratios", (1.0, 2.0), "channel_ratios: must be 3 values"),
    ("stage_ratios", (1.0, 0.0, 1.0), "stage_ratios: must be positive finite numbers"),
    ("op_probs", {"conv7x7": 1.0}, "op_probs: must be keys among"),
    ("merge_probs", {"sum": 0.0}, "merge_probs: must be weights with a positive sum"),
    ("param_budget", 10, "param_budget: must be an integer in [1000, inf]"),
])
def test_bad_hyperparameters_give_one_line_errors_naming_the_field(field, value, message):
    with pytest.raises(ValueError) as err:
        hnag.generate(replace(hnag.PRESETS["hnag-default"], **{field: value}))
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_a_budget_no_width_can_meet_is_refused():
    with pytest.raises(ValueError, match=r"param_budget: must be at least \d+"):
        hnag.generate(replace(hnag.PRESETS["hnag-default"], param_budget=1_000))


def test_narrow_networks_meet_small_budgets_through_the_free_stem():
    # 900 conv3x3 ops: the ratio-following narrowest widths [1, 1, 2, 4] have ~47k parameters, so the code
    # before issue 11 refused 20k ("must be at least"); widths clipped to one channel and the stem meet it.
    params = hnag.GeneratorParams(top_n=10, top_k=4, mid_n=9, bottom_n=10, bottom_k=4, param_budget=20_000,
                                  input_shape=(1, 8, 8))
    spec = hnag.generate(params, seed=0)
    assert abs(hnag.count_params(spec) - 20_000) <= 0.01 * 20_000
    assert min(spec.meta["widths"][1:]) == 1
    fixed = hnag.generate(replace(hnag.PRESETS["hnag-default"], stem_channels=16, param_budget=300_000), seed=0)
    assert fixed.meta["widths"][0] == 16 and abs(fixed.meta["budget"]["relative_error"]) <= 0.01


def test_wide_networks_keep_the_stem_near_the_first_stage():
    rng = np.random.default_rng(5)
    for i in range(4):
        spec = hnag.generate(random_params(rng, budget=1_000_000), seed=i)
        stem, first = spec.meta["widths"][:2]
        assert first // 2 <= stem <= first + max(1, first // 2)  # tier 1 of hnag.budget


def test_stage_sizes_follow_normalised_ratios():
    assert stage_sizes(10, (1, 1, 1)) == [4, 3, 3]
    assert stage_sizes(10, (2, 1, 1)) == [5, 3, 2]
    assert stage_sizes(4, (1, 1, 1, 1)) == [1, 1, 1, 1]
    assert stage_sizes(7, (0.1, 0.1, 10)) == [1, 1, 5]
    assert sum(stage_sizes(9, (3.0, 5.0))) == 9  # unnormalised ratios work for any number of stages


def test_stages_downsample_and_widen():
    params = replace(hnag.PRESETS["hnag-default"], top_n=8, stage_ratios=(1, 1, 1, 1), channel_ratios=(1, 2, 4, 8))
    spec = hnag.generate(params, seed=3)
    body = hnag.compile_spec(spec).body
    assert body(torch.randn(1, 3, 32, 32)).shape == (1, 128, 4, 4)  # four stages: 32 -> 16 -> 8 -> 4


def test_single_node_middle_level_and_sparse_erdos_renyi_graphs():
    two_level = hnag.generate(hnag.PRESETS["hnag-two-level"], seed=0)
    cells = [n.op for n in two_level.network.nodes if isinstance(n.op, Graph)]
    assert all(len(c.nodes) == 1 for c in cells)
    dag = erdos_renyi_dag(6, 0.0, rng_for(0, "t"))  # no edges: six parallel branches, none dropped
    assert dag.sinks == tuple(range(6)) and all(p == () for p in dag.predecessors)
    sparse = replace(hnag.PRESETS["hnag-default"], mid_n=6, mid_p=0.1)
    spec = hnag.generate(sparse, seed=0)
    assert hnag.compile_spec(spec)(torch.randn(1, 3, 32, 32)).shape == (1, 10)


def test_compiles_under_autocast_and_in_eval_mode():
    spec = hnag.generate(hnag.PRESETS["hnag-mixed"], seed=4)
    model = hnag.compile_spec(spec)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 10) and torch.isfinite(out.float()).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU on this machine")
def test_compiles_on_gpu():
    model = hnag.compile_spec(hnag.generate(hnag.PRESETS["hnag-mixed"], seed=4)).cuda()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        assert model(torch.randn(2, 3, 32, 32, device="cuda")).shape == (2, 10)


def test_invalid_specs_are_refused_with_the_node_named():
    bad = Graph((Node("conv3x3", (-1,), 8), Node("conv3x3", (5,), 8, label="late")), "network")
    with pytest.raises(ValueError, match=r"network node 1 \(late\): inputs must be -1 or earlier"):
        hnag.compile_spec(ArchitectureSpec("hnag", (3, 8, 8), 10, bad))
    bad_op = Graph((Node("conv9x9", (-1,), 8),), "network")
    with pytest.raises(ValueError, match="unknown op 'conv9x9'"):
        hnag.count_params(ArchitectureSpec("hnag", (3, 8, 8), 10, bad_op))
    # planned (and memoised) per merge, op and widths: the error still names the node that asked
    narrow = Graph((Node("conv3x3", (-1,), 4), Node("conv3x3", (-1,), 8),
                    Node("conv1x1", (0, 1), 6, merge="truncate_sum", label="narrow")), "network")
    for _ in range(2):
        with pytest.raises(ValueError, match=r"network node 2 \(narrow\): truncate_sum needs inputs at least 6"):
            hnag.count_params(ArchitectureSpec("hnag", (3, 8, 8), 10, narrow))
    bad_stride = Graph((Node(Graph((Node("conv3x3", (-1,), 4),)), (-1,), 4, stride=3),), "network")
    with pytest.raises(ValueError, match=r"network node 0: stride must be 1 or 2 \(for a nested graph a power of"):
        hnag.count_params(ArchitectureSpec("hnag", (3, 8, 8), 10, bad_stride))


def test_categorical_draws_are_numpys_choice_in_one_call():
    probs = {"b": 0.5, "a": 0.0, "c": 2.0, "d": 1.0}
    names = sorted(probs)
    weights = np.array([probs[n] for n in names])
    for seed in range(20):
        ours, numpys = np.random.default_rng(seed), np.random.default_rng(seed)
        drawn = _Categorical(probs).draw(ours, 25)
        assert drawn == tuple(names[int(numpys.choice(4, p=weights / weights.sum()))] for _ in range(25))
        assert ours.random() == numpys.random()  # the streams stay in step


def test_the_garbage_collector_is_paused_only_while_building(monkeypatch):
    import hnag.compiler
    import hnag.hnag_generator

    states = []

    def spy(module, name):
        original = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *a, **k: states.append(gc.isenabled()) or original(*a, **k))

    spy(hnag.hnag_generator, "sample_topology")
    spy(hnag.compiler, "build_primitive")
    hnag.compile_spec(hnag.generate(hnag.PRESETS["hnag-tiny"]))
    assert states and not any(states) and gc.isenabled()
    gc.disable()
    try:
        hnag.generate(hnag.PRESETS["hnag-tiny"])
        assert not gc.isenabled()  # a caller's choice is left alone
    finally:
        gc.enable()


def test_only_parts_with_parameters_are_modules():
    nodes = (Node("conv3x3_bn", (-1,), 4), Node("conv3x3", (0,), 6),
             Node("max_pool3x3", (0, 1), 6, merge="sum", label="projects input 0"),
             Node("conv1x1", (1, 2), 6, merge="weighted_sum"))
    model = hnag.compile_spec(ArchitectureSpec("hnag", (3, 8, 8), 10, Graph(nodes, "network")))
    assert not any(isinstance(m, torch.nn.Identity) for m in model.modules())
    names = {n for n, _ in model.named_parameters()}
    assert {"body.nodes.2.projections.0.1.weight", "body.nodes.3.merge.weight"} <= names
    assert not any(n.startswith("body.nodes.1.projections") for n in names)
    assert numel(model) == hnag.count_params(ArchitectureSpec("hnag", (3, 8, 8), 10, Graph(nodes, "network")))


def test_flat_search_space_keys_map_onto_the_parameters():
    params = hnag.GeneratorParams.from_dict({"top_n": 5, "stage_ratio_1": 2.0, "channel_ratio_2": 3.0,
                                             "merge_concat": 0.5, "merge_sum": 0.5, "op_conv5x5": 1.0})
    assert params.top_n == 5 and params.stage_ratios == (1.0, 2.0, 1.0) and params.channel_ratios == (1.0, 2.0, 3.0)
    assert params.merge_probs == {"concat": 0.5, "sum": 0.5} and params.op_probs == {"conv5x5": 1.0}
    with pytest.raises(ValueError, match="nonsense: unknown GeneratorParams field"):
        hnag.GeneratorParams.from_dict({"nonsense": 1})
    rnag = hnag.RNAGParams.from_dict({"n_0": 10, "k_2": 2}, base=hnag.PRESETS["rnag-cifar"])
    assert rnag.n == (10, 16, 16) and rnag.k == (4, 4, 2)
