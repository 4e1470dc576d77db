"""Search presets (`--preset paper`) and the generator spaces' default parameter limit."""
import numpy as np
import pytest

import hnag
from nago.cli import main
from search.presets import preset_for
from search.run import SearchRequest, prepare
from search.spaces import make_space
from search.spaces.generator_space import PARAM_LIMITS, default_param_budget


def request(tmp_path, **fields) -> SearchRequest:
    return SearchRequest(**{"strategy": "bohb", "run_dir": str(tmp_path / "run"), "dataset": "digits",
                            "preset": "paper", **fields})


def test_paper_preset_fills_unset_fields(tmp_path):
    s = prepare(request(tmp_path)).settings
    assert (s["min_budget"], s["max_budget"]) == (30.0, 120.0)
    assert s["options"] == {"eta": 2.0, "iterations": 50}
    assert s["space_options"] == {"param_budget": PARAM_LIMITS["tiny"]}
    assert s["evaluator"]["train_overrides"] == {"batch_size": 128, "lr": 0.1, "momentum": 0.9,
                                                 "weight_decay": 1e-4, "cutout": 0}
    # search.json records the preset and what it filled
    assert s["preset"] == "paper" and s["preset_filled"]["max_budget"] == 120.0
    assert preset_for("paper", "cifar10").param_budget == 4_000_000
    assert preset_for("paper", "imagefolder:/data/sport8").param_budget == 5_000_000


def test_explicit_flags_win_and_lr_scales_with_batch(tmp_path):
    s = prepare(request(tmp_path, max_budget=8.0, min_budget=2.0, options={"eta": 4.0},
                        space_options={"base_channels": 4}, train_overrides={"batch_size": 32})).settings
    assert (s["min_budget"], s["max_budget"]) == (2.0, 8.0)
    assert s["options"] == {"eta": 4.0, "iterations": 50}
    assert s["space_options"] == {"base_channels": 4}           # a fixed width is the user's choice of size
    train = s["evaluator"]["train_overrides"]
    assert train["batch_size"] == 32 and train["lr"] == pytest.approx(0.1 * 32 / 128)
    assert "max_budget" not in s["preset_filled"] and "space_options" not in s["preset_filled"]


def test_single_fidelity_strategy_gets_only_the_largest_budget(tmp_path):
    s = prepare(request(tmp_path, strategy="random", evaluations=3)).settings
    assert s["max_budget"] == 120.0 and s["min_budget"] is None and s["options"] == {}


@pytest.mark.parametrize("fields, message", [
    ({"preset": "nope"}, "preset: must be one of paper, got 'nope'"),
    ({"dataset": None, "benchmark": "table.csv"}, "preset paper: needs training (--dataset)"),
])
def test_bad_preset_is_one_line(tmp_path, fields, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)")) as info:
        prepare(request(tmp_path, **fields))
    assert "\n" not in str(info.value)


def test_cli_bad_preset_name(tmp_path, capsys):
    code = main(["search", "bohb", "--preset", "nope", "--dataset", "digits", "--run-dir", str(tmp_path / "r")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.endswith("preset: must be one of paper, got 'nope'") and "\n" not in err
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("space_name", ["hnag", "rnag"])
@pytest.mark.parametrize("shape", [(1, 8, 8), (3, 32, 32)])
def test_space_applies_default_param_budget(space_name, shape):
    space = make_space(space_name)
    budget = default_param_budget(shape)
    for seed in range(2):
        point = space.sample(np.random.default_rng(seed))
        count = hnag.count_params(space.to_spec(point, seed=seed, input_shape=shape, num_classes=10))
        assert abs(count - budget) <= 0.01 * budget, (count, budget)


def test_default_budget_gives_way_to_an_explicit_size():
    point = {"top_n": 6, "top_k": 4, "top_p": 0.5, "mid_n": 3, "mid_p": 0.5, "bottom_n": 5, "bottom_k": 2,
             "bottom_p": 0.5}
    unbounded = make_space("hnag", {"param_budget": None}).to_params(point, (1, 8, 8), 10)
    narrow = make_space("hnag", {"base_channels": 4}).to_params(point, (1, 8, 8), 10)
    own = make_space("hnag", {"param_budget": 20_000}).to_params(point, (1, 8, 8), 10)
    preset = make_space("hnag", {"preset": "hnag-small"}).to_params(point, (1, 8, 8), 10)
    assert (unbounded.param_budget, narrow.param_budget, own.param_budget) == (None, None, 20_000)
    assert preset.param_budget == hnag.PRESETS["hnag-small"].param_budget
    # without a preset, a search pins the default into the space context it records (workers, reports, resume)
    s = prepare(SearchRequest(strategy="random", run_dir="unused", dataset="digits", evaluations=1)).settings
    assert s["space_options"] == {} and s["space_context"]["options"] == {"param_budget": PARAM_LIMITS["tiny"]}
