"""Search spaces: ranges, conditions, forbidden clauses, JSON round trips, options, and the BOHB proposer."""
from __future__ import annotations

import json

import ConfigSpace as CS
import numpy as np
import pytest
import serpent

import hnag
from search import spaces

pytestmark = pytest.mark.timeout(120)
WS_PAIRS = {"hnag": [("top_k", "top_n"), ("bottom_k", "bottom_n")],
            "rnag": [("k_0", "n_0"), ("k_1", "n_1"), ("k_2", "n_2")]}


@pytest.mark.parametrize("name", spaces.SPACE_NAMES)
def test_every_sample_is_valid(name):
    space = spaces.build_space(name, seed=1)
    generator = space.generator
    for config in space.sample(400, seed=2):
        for k, n in WS_PAIRS[generator]:
            assert config[k] < config[n]
        assert all(type(v) in (int, float) for v in config.values())
        params = space.to_params(config, (3, 32, 32), 10)  # validates
        assert type(params) is (hnag.GeneratorParams if generator == "hnag" else hnag.RNAGParams)
    for config in space.sample(5, seed=3):  # the generator accepts them (topology only: cheap)
        hnag.generate(space.to_params(config, (1, 8, 8), 10), 0)


def test_paper_ranges_and_condition():
    space = spaces.build_space("hnag").space
    ranges = {hp.name: (hp.lower, hp.upper) for hp in space.values()}
    assert ranges == {"top_n": (3, 10), "top_k": (2, 5), "top_p": (0.1, 1.0), "mid_n": (1, 10),
                      "mid_p": (0.1, 1.0), "bottom_n": (3, 10), "bottom_k": (2, 5), "bottom_p": (0.1, 1.0)}
    configs = spaces.build_space("hnag", seed=0).sample(500, seed=0)
    assert any(c["mid_n"] == 1 for c in configs)  # the single-node middle level is reachable
    assert all(("mid_p" in c) == (c["mid_n"] > 1) for c in configs)
    # Forbidden: K >= N is rejected by ConfigSpace itself.
    assert not spaces.is_valid(space, {**configs[0], "top_n": 4, "top_k": 4})
    assert spaces.is_valid(space, configs[0])


def test_expanded_spaces_add_their_hyperparameters():
    ops = set(spaces.build_space("hnag-ops").hyperparameter_names)
    assert {f"merge_{m}" for m in hnag.MERGE_OPTIONS} | {f"op_{o}" for o in hnag.OPERATIONS} <= ops
    ratios = set(spaces.build_space("hnag-ratios").hyperparameter_names)
    assert {"stage_ratio_0", "stage_ratio_2", "channel_ratio_0", "channel_ratio_2"} <= ratios
    full = set(spaces.build_space("hnag-full").hyperparameter_names)
    assert ops | ratios == full
    assert set(spaces.build_space("rnag").hyperparameter_names) == {f"{p}_{i}" for p in "nkp" for i in range(3)}
    config = spaces.build_space("hnag-full").sample(1, seed=4)[0]
    params = spaces.build_space("hnag-full").to_params(config, (1, 8, 8), 10)
    assert set(params.op_probs) <= set(hnag.OPERATIONS) and len(params.stage_ratios) == 3


def test_options_narrow_fix_and_validate():
    space = spaces.build_space("hnag", {"top_n": [3, 5], "mid_n": 1, "param_budget": 20000, "bottom_k": 2})
    names = space.hyperparameter_names
    assert "mid_n" not in names and "mid_p" not in names and "bottom_k" not in names
    assert space.fixed == {"mid_n": 1, "param_budget": 20000, "bottom_k": 2}
    hp = space.space["top_n"]
    assert (hp.lower, hp.upper) == (3, 5)
    params = space.to_params(space.sample(1, seed=0)[0], (1, 8, 8), 10)
    assert params.mid_n == 1 and params.param_budget == 20000 and params.input_shape == (1, 8, 8)
    # A fixed N narrows its K (no forbidden clause needed).
    fixed_n = spaces.build_space("hnag", {"top_n": 3})
    assert "top_k" not in fixed_n.hyperparameter_names and fixed_n.fixed["top_k"] == 2
    rnag = spaces.build_space("rnag", {"channels": 8, "head_channels": 64, "n_0": [8, 10]})
    assert rnag.to_params(rnag.sample(1, seed=0)[0], (1, 8, 8), 10).stem_stride == 1  # rnag-cifar base
    for bad, words in [({"top_n": [3]}, "range"), ({"top_k": [5, 6], "top_n": [3, 5]}, "top_k"),
                       ({"nope": 1}, "unknown"), ({"input_shape": [1, 2, 3]}, "data set"),
                       ({"preset": "rnag-cifar"}, "rnag preset"), ({"param_budget": 10}, "param_budget"),
                       ({"top_k": 3, "top_n": 3}, "top_k < top_n")]:
        with pytest.raises(ValueError, match=words) as info:
            spaces.build_space("hnag", bad)
        assert "\n" not in str(info.value)
    with pytest.raises(ValueError, match="space: must be one of"):
        spaces.build_space("resnet")


def test_json_round_trip_save_and_custom_space(tmp_path):
    space = spaces.build_space("hnag-ops", {"top_n": [3, 6]})
    text = space.to_json()
    assert spaces.space_from_json(text) == space.space
    path = spaces.save_space(space, tmp_path / "space.json")
    assert spaces.load_space(path) == space.space
    with pytest.raises(FileExistsError):
        spaces.save_space(space, path)
    # An edited file is a custom space; its generator is inferred.
    data = json.loads(path.read_text())
    data["name"] = None
    for hp in data["hyperparameters"]:
        if hp["name"] == "top_n":
            hp["upper"], hp["default_value"] = 4, 4
        if hp["name"] == "top_k":
            hp["default_value"] = 2
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    custom = spaces.build_space(str(edited), {"base_channels": 4})
    assert custom.generator == "hnag" and custom.name == "custom:edited.json"
    assert all(c["top_n"] <= 4 and c["top_k"] < c["top_n"] for c in custom.sample(100, seed=0))
    with pytest.raises(ValueError, match="cannot read"):
        spaces.space_from_json("{not json")


def test_to_builtin_makes_values_safe_for_serpent():
    value = {"a": np.float64(9.0), "b": np.str_("sum"), "c": (np.int64(3), np.bool_(True)), "d": np.arange(2)}
    out = spaces.to_builtin(value)
    assert out == {"a": 9.0, "b": "sum", "c": [3, True], "d": [0, 1]}
    assert [type(v) for v in (out["a"], out["b"], out["c"][0], out["c"][1])] == [float, str, int, bool]
    assert b"np." not in serpent.dumps(out)
    assert b"np." in serpent.dumps({"x": np.float64(9.0)})  # the trap this guards against


def test_bohb_on_hnag_follows_its_model_and_never_proposes_forbidden_pairs():
    """BOHB's KDE on the generator space: candidates that violate K < N are skipped, not replaced at random."""
    from search.spaces import make_space
    from search.strategies import Result, make_strategy

    space = make_space("hnag")
    bohb = make_strategy("bohb", space, objectives=["error"], seed=0, max_budget=1.0, min_budget=1.0,
                         iterations=200, random_fraction=0.0, num_samples=32)
    rng = np.random.default_rng(0)
    for _ in range(60):  # a model that likes small top_n: many KDE candidates near top_n = 3 break top_k < top_n
        job = bohb.ask(1)[0]
        c = job.point
        bohb.tell(job, Result.success({"error": 0.1 * c["top_n"] + 0.3 * c["top_k"] + 0.05 * rng.random()}))
    picks = [bohb.ask(1)[0] for _ in range(40)]
    assert sum(j.info["model_based"] for j in picks) >= 38
    for job in picks:
        c = job.point
        assert c["top_k"] < c["top_n"] and c["bottom_k"] < c["bottom_n"] and space.is_valid(c)
        assert all(type(v) in (int, float) for v in c.values())
    assert np.mean([j.point["top_n"] for j in picks]) < 6  # the proposals follow the model (prior mean 6.5)


def test_configspace_api_assumptions():
    """What the adapters rely on in ConfigSpace 1.x: vectors follow `space.keys()`, and a vector that violates a
    forbidden clause is caught by `check_valid_configuration`."""
    space = spaces.build_space("hnag").space
    config = space.sample_configuration()
    assert list(dict(config)) == [k for k in space.keys() if k in dict(config)]
    vector = np.array([0.5] * len(space))
    names = list(space.keys())
    vector[names.index("top_k")], vector[names.index("top_n")] = 1.0, 0.0  # top_k = 5, top_n = 3
    with pytest.raises(Exception):
        CS.Configuration(space, vector=vector).check_valid_configuration()


@pytest.mark.parametrize("name", ["hnag-full", "nb201", "nb101"])
def test_one_hot_vectors_round_trip_and_order_nothing(name):
    space = spaces.make_space(name)
    rng = np.random.default_rng(0)
    for _ in range(20):
        point = space.sample(rng)
        f = space.one_hot_vector(point)
        assert f.shape == (space.one_hot_size,) and np.all((f >= 0) & (f <= 1))
        assert space.hash(space.from_one_hot_vector(f)) == space.hash(point)
    # every categorical of k > 2 values is k coordinates, exactly one of them set
    kinds = space.vector_kinds
    f = space.one_hot_vector(space.sample(rng))
    at = 0
    for k in kinds:
        if k > 2:
            assert sorted(f[at:at + k].tolist()) == [0.0] * (k - 1) + [1.0]
        at += k if k > 2 else 1
    with pytest.raises(ValueError, match="one-hot vector"):
        space.from_one_hot_vector(np.zeros(space.one_hot_size + 1))
