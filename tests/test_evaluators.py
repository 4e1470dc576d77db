"""The evaluators: NAS-Bench tables, the tabular evaluator (exact costs, true fronts), the training evaluator,
and rebuilding any of them from its context."""
import json
import math
import time

import numpy as np
import pytest

import hnag
from hnag.counting import count_macs
from search.evaluators import from_context, make_evaluator
from search.evaluators.tables import RestrictedSpace, load_table, restrict_to_table
from search.evaluators.tabular import TabularEvaluator
from search.evaluators.training import (TrainingEvaluator, architecture_seed, build_and_train, check_train_overrides,
                                       load_bundle)
from search.pareto import dominates
from search.spaces import make_space
from search.spaces.base import SpaceError

NB201 = make_space("nb201")
NB101 = make_space("nb101")


def accuracy(cell) -> float:
    """A made-up validation accuracy (%) of an NB201 cell, with a unique best cell."""
    w = {"none": 0.0, "skip_connect": 1.0, "nor_conv_1x1": 2.0, "nor_conv_3x3": 3.0, "avg_pool_3x3": 0.5}
    return 70.0 + sum(w[op] * (1 + 0.3 * i) for i, op in enumerate(cell.ops)) + 5.0 * (cell.ops[3] == "skip_connect")


def write_csv(path, cells, extra_rows=()):
    lines = ["nb201_index,arch_str,cifar10_valid_acc,cifar10_test_acc"]
    lines += [f"{i},{c.to_str()},{accuracy(c):.3f},{accuracy(c) + 1.5:.3f}" for i, c in enumerate(cells)]
    path.write_text("\n".join([*lines, *extra_rows]) + "\n")
    return path


@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    """An NB201 table of 300 cells (a partial table)."""
    cells = NB201.all_points()
    rng = np.random.default_rng(0)
    return write_csv(tmp_path_factory.mktemp("tab") / "small.csv", [cells[i] for i in rng.choice(len(cells), 300,
                                                                                               replace=False)])


@pytest.fixture(scope="module")
def cost_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("costs")


# ------------------------------------------------------------------------------------------------ tables

def test_tables_load_once_and_refuse_malformed_lines(small_table, tmp_path):
    table = load_table(small_table, "nb201")
    assert load_table(small_table, NB201) is table and len(table) == 300 and table.has_test
    assert table.val_column == "cifar10_valid_acc" and len(table.sha1) == 40
    cells = table.cells[:3]
    bad = write_csv(tmp_path / "bad.csv", cells, ["3,|nor_conv_3x3~0|+|oops~0|none~1|+|none~0|none~1|none~2|,1,2"])
    with pytest.raises(ValueError, match=r"line 5: .*unknown op 'oops'") as err:
        load_table(bad, NB201)
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="line 5: column 'cifar10_valid_acc' is not a number"):
        load_table(write_csv(tmp_path / "nan.csv", cells, [f"3,{cells[0].to_str()},high,2"]), NB201)
    with pytest.raises(ValueError, match=r"must be an accuracy in % in \[0, 100\]"):
        load_table(write_csv(tmp_path / "big.csv", cells, [f"3,{cells[0].to_str()},101,2"]), NB201)
    fractions = tmp_path / "fractions.csv"
    fractions.write_text(f"arch_str,val_acc\n{cells[0].to_str()},0.9\n")
    with pytest.raises(ValueError, match=r"fractions\? multiply by 100"):
        load_table(fractions, NB201)
    with pytest.raises(ValueError, match="no column 'val_top1'"):
        load_table(small_table, NB201, val_column="val_top1")
    with pytest.raises(FileNotFoundError):
        load_table(tmp_path / "missing.csv", NB201)
    with pytest.raises(ValueError, match="nb201 or nb101"):
        load_table(small_table, "hnag")


def test_nb101_json_table_merges_duplicates(tmp_path):
    conv3 = [0, 1, 0, 0, 0, 1, 0, 0, 0] + [0, 4, 1]
    # the same network with a dangling conv1x1 vertex (pruned away): one architecture, metrics averaged
    dangling = [0, 1, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0] + [0, 4, 3, 1]
    conv1 = [0, 1, 0, 0, 0, 1, 0, 0, 0] + [0, 3, 1]
    data = {"format": "a note", "cifar10": {str(tuple(conv3)): {"val_accuracy": 90.0},
                                            str(tuple(conv1)): {"val_accuracy": 80.0},
                                            str(tuple(dangling)): {"val_accuracy": 70.0}}}
    path = tmp_path / "t.json"
    path.write_text(json.dumps(data))
    table = load_table(path, "nb101")
    assert table.dataset == "cifar10" and not table.has_test
    assert len(table) == 2 and table.duplicates == 1 and sorted(table.val) == [80.0, 80.0]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"cifar10": {"(0, 1, 2)": {"val_accuracy": 1.0}}}))
    with pytest.raises(ValueError, match="entry 1: malformed architecture key"):
        load_table(bad, "nb101")


def test_restricted_space_stays_in_its_table(small_table):
    table = load_table(small_table, NB201)
    space = restrict_to_table(NB201, table, k=4)
    assert isinstance(space, RestrictedSpace) and space.size == 300
    rng = np.random.default_rng(1)
    inside = set(table.keys)
    for _ in range(20):
        p = space.sample(rng)
        assert space.hash(p) in inside and space.hash(space.mutate(p, rng)) in inside
        near = space.neighbours(p)
        assert len(near) == 4 and all(space.hash(q) in inside and space.hash(q) != space.hash(p) for q in near)
    outside = next(c for c in NB201.all_points() if NB201.hash(c) not in inside)
    assert not space.is_valid(outside) and space.from_vector(NB201.to_vector(outside)) is None
    with pytest.raises(SpaceError, match="is not one of the 300 cells"):
        space.from_config(NB201.to_config(outside))
    assert space.from_vector(NB201.to_vector(table.cells[5])) == table.cells[5]
    with pytest.raises(ValueError, match="k: .* integer >= 1"):
        restrict_to_table(NB201, table, k=0)


# ------------------------------------------------------------------------------------------------ tabular

def test_tabular_metrics_costs_failures_and_context(small_table, cost_cache):
    ev = make_evaluator("tabular", space=NB201, table_path=str(small_table), cache_dir=cost_cache)
    assert ev.kind == "tabular" and ev.in_process and ev.metrics == ("error", "test_error", "params", "macs")
    table = ev.table
    for row in (0, 7, 299):
        cell = table.cells[row]
        e = ev.evaluate(NB201.to_config(cell), 1.0, 0)
        spec = NB201.to_spec(cell, seed=0, input_shape=(3, 32, 32), num_classes=10)
        assert e.status == "ok"
        assert e.metrics["error"] == pytest.approx(1 - accuracy(cell) / 100, abs=1e-5)
        assert e.metrics["test_error"] == pytest.approx(e.metrics["error"] - 0.015, abs=1e-5)
        assert e.metrics["params"] == hnag.count_params(spec) and e.metrics["macs"] == count_macs(spec)
        assert ev.exact()["params"](cell) == e.metrics["params"] and ev.exact()["macs"](cell) == e.metrics["macs"]
    outside = next(c for c in NB201.all_points() if NB201.hash(c) not in table.index)
    e = ev.evaluate(NB201.to_config(outside), 1.0, 0)
    assert e.status == "failed" and "is not in the table" in e.error and "\n" not in e.error
    assert ev.exact()["params"](outside) == hnag.count_params(NB201.to_spec(outside))  # costs need no table
    for config, budget, words in (({"arch": "|x~0|"}, 1.0, "config arch"), ({"cell": 1}, 1.0, "config"),
                                  (NB201.to_config(table.cells[0]), 0, "budget"), ("nonsense", 1.0, "config")):
        e = ev.evaluate(config, budget, 0)
        assert e.status == "failed" and e.error.startswith(words) and "\n" not in e.error
    ctx = json.loads(json.dumps(ev.context()))
    assert ctx["kind"] == "tabular" and ctx["space"] == NB201.context() and ctx["table"] == str(small_table)
    again = from_context(ctx)
    assert again.context() == ev.context() and from_context(ctx) is again
    assert again.evaluate(NB201.to_config(table.cells[3]), 1, 0).metrics == ev.evaluate(
        NB201.to_config(table.cells[3]), 1, 0).metrics
    cifar100 = TabularEvaluator(NB201, small_table, num_classes=100, cache_dir=cost_cache)
    assert cifar100.evaluate(NB201.to_config(table.cells[0]), 1, 0).metrics["params"] == hnag.count_params(
        NB201.to_spec(table.cells[0], num_classes=100))


def test_tabular_optimum_and_front_against_brute_force(small_table, cost_cache):
    ev = TabularEvaluator(NB201, small_table, cache_dir=cost_cache)
    table = ev.table
    best = ev.optimum(["error"])
    b = table.best_val_index
    assert best["optimum"] == pytest.approx(1 - table.val[b] / 100) and best["config"] == NB201.to_config(
        table.cells[b])
    assert best["test_error"] == pytest.approx(1 - table.test[b] / 100)
    known = ev.known(["error", "params"])
    Y = np.array([[ev.evaluate(NB201.to_config(c), 1, 0).metrics[k] for k in ("error", "params")]
                  for c in table.cells])
    expected = {tuple(y) for i, y in enumerate(Y) if not any(dominates(z, y) for z in Y)}
    front = np.asarray(known["front"])
    assert {tuple(y) for y in front} == expected
    assert np.all(np.diff(front[:, 0]) >= 0) and len(known["front_configs"]) == len(front)
    lo, hi = front.min(axis=0), front.max(axis=0)
    assert known["reference"] == pytest.approx(list(hi + 0.1 * (hi - lo)))
    json.dumps(known)
    with pytest.raises(ValueError, match="test_error is for reports only"):
        ev.optimum(["error", "test_error"])


def test_cost_file_is_reused_and_a_stale_one_recounted(small_table, tmp_path):
    params, macs = TabularEvaluator(NB201, small_table, cache_dir=tmp_path).all_costs()
    (file,) = tmp_path.glob("nb201-*.json")
    data = json.loads(file.read_text())
    assert data["params"] == params.tolist() and "a cache, safe to delete" in data["note"]
    assert np.array_equal(TabularEvaluator(NB201, small_table, cache_dir=tmp_path).all_costs()[1], macs)
    data["params"] = [p + 1 for p in data["params"]]  # as if counted under other rules
    file.write_text(json.dumps(data))
    assert np.array_equal(TabularEvaluator(NB201, small_table, cache_dir=tmp_path).all_costs()[0], params)
    assert json.loads(file.read_text())["params"] == params.tolist()
    file.write_text("{not json")
    assert np.array_equal(TabularEvaluator(NB201, small_table, cache_dir=tmp_path).all_costs()[0], params)


def test_restricted_tabular_context_round_trip(small_table, cost_cache):
    table = load_table(small_table, NB201)
    ev = TabularEvaluator(restrict_to_table(NB201, table, k=3), small_table, cache_dir=cost_cache)
    again = from_context(ev.context())
    assert isinstance(again.space, RestrictedSpace) and again.space.k == 3 and again.space.table is table


def test_nb201_benchmark_table(shared_data, tmp_path):
    path = shared_data / "nb201" / "nb201_cifar10.csv"
    ev = TabularEvaluator(NB201, path, cache_dir=tmp_path)
    rows = {line.split(",")[1]: line.strip().split(",") for line in path.read_text().splitlines()[1:]}
    rng = np.random.default_rng(0)
    configs = [NB201.to_config(NB201.sample(rng)) for _ in range(200)]
    for config in configs[:5]:
        e = ev.evaluate(config, 1.0, 0)
        row = rows[config["arch"]]
        assert e.metrics["error"] == 1 - float(row[2]) / 100 and e.metrics["test_error"] == 1 - float(row[3]) / 100
        assert e.metrics["params"] == hnag.count_params(NB201.to_spec(NB201.from_config(config)))
    for config in configs:  # warm-up: every cell's costs counted once
        ev.evaluate(config, 1.0, 0)
    start = time.perf_counter()
    for config in configs:
        ev.evaluate(config, 1.0, 0)
    assert (time.perf_counter() - start) / len(configs) < 0.005

    start = time.perf_counter()
    known = ev.optimum(["error", "params"])
    first_s = time.perf_counter() - start
    front = np.asarray(known["front"])
    assert all(not dominates(a, b) for a in front for b in front)
    params, _ = ev.all_costs()
    errors = 1 - ev.table.val / 100
    rows = np.flatnonzero(errors == errors.min())
    best = rows[np.argmin(params[rows])]                 # the best-error cell (the smallest of ties)
    rows = np.flatnonzero(params == params.min())
    smallest = rows[np.argmin(errors[rows])]             # the smallest cell (the best of ties)
    assert [errors[best], params[best]] in front.tolist() and [errors[smallest], params[smallest]] in front.tolist()
    assert known["optimum"] == errors.min() and known["config"] == NB201.to_config(ev.table.cells[np.argmin(errors)])
    assert known["test_error"] == 1 - ev.table.test[np.argmin(errors)] / 100
    # the whole table's costs were written to the cache: a new evaluator reads them instead of counting
    again = TabularEvaluator(NB201, path, cache_dir=tmp_path)
    start = time.perf_counter()
    assert again.optimum(["error", "params"]) == known
    assert time.perf_counter() - start < first_s / 3
    assert len(list(tmp_path.glob("nb201-*.json"))) == 1


def test_nb101_sample_table(shared_data, cost_cache):
    path = shared_data / "nb101" / "nb101_500.json"
    ev = TabularEvaluator(NB101, path, cache_dir=cost_cache)
    assert ev.metrics == ("error", "params", "macs") and len(ev.table) + ev.table.duplicates == 500
    cell = ev.table.cells[0]
    e = ev.evaluate(NB101.to_config(cell), 1.0, 0)
    spec = NB101.to_spec(cell)
    assert e.status == "ok" and e.metrics["error"] == 1 - ev.table.val[0] / 100
    assert e.metrics["params"] == hnag.count_params(spec) and e.metrics["macs"] == count_macs(spec)
    restricted = restrict_to_table(NB101, ev.table)
    rng = np.random.default_rng(0)
    point = restricted.mutate(restricted.sample(rng), rng)
    assert ev.evaluate(restricted.to_config(point), 1.0, 0).status == "ok"


# ------------------------------------------------------------------------------------------------ training

SMALL_HNAG = {"param_budget": 50_000, "top_n": 3, "top_k": 2, "mid_n": 1, "bottom_n": 3, "bottom_k": 2}


@pytest.fixture(scope="module")
def hnag_evaluator():
    return TrainingEvaluator(make_space("hnag", SMALL_HNAG), "digits", train_overrides={"batch_size": 32},
                             device="cpu")


def test_training_evaluator_gives_every_metric(hnag_evaluator):
    ev = hnag_evaluator
    space = ev.space
    assert ev.kind == "training" and not ev.in_process and (ev.input_shape, ev.num_classes) == ((1, 8, 8), 10)
    point = space.sample(np.random.default_rng(0))
    e = ev.evaluate(space.to_config(point), 0.3, 0)
    assert e.status == "ok", e.error
    assert set(e.metrics) == set(ev.metrics)
    assert all(math.isfinite(v) for v in e.metrics.values()) and 0 <= e.metrics["error"] <= 1
    # the network was re-sampled for this job: its seed derives from (seed 0, configuration, budget 0.3)
    arch_seed = architecture_seed(space.to_config(point), 0.3, 0)
    assert e.info["architecture_seed"] == arch_seed != 0
    spec = space.to_spec(point, seed=arch_seed, input_shape=(1, 8, 8), num_classes=10)
    assert e.metrics["params"] == hnag.count_params(spec) and abs(e.metrics["params"] / 50_000 - 1) <= 0.01
    assert e.metrics["macs"] == count_macs(spec) == e.info["macs_flop_counter"]
    assert e.metrics["memory"] > 0 and e.metrics["latency"] > 0
    assert e.info["spec_hash"] == spec.hash() and e.info["seed"] == 0 and e.info["epochs"] == pytest.approx(0.3,
                                                                                                            abs=0.05)
    assert e.info["memory_method"] == "cpu-saved-tensors" and e.info["threads"] >= 1
    assert e.info["generator_params"]["top_n"] == 3
    json.dumps(e.to_dict())
    # exact costs are those of the seed-0 network (`exact_seed`), whichever network a job samples
    seed0 = space.to_spec(point, seed=0, input_shape=(1, 8, 8), num_classes=10)
    assert ev.exact()["params"](point) == hnag.count_params(seed0) and ev.exact()["macs"](point) == count_macs(seed0)


def test_training_failures_are_one_line(hnag_evaluator):
    ev = hnag_evaluator
    good = ev.space.to_config(ev.space.sample(np.random.default_rng(1)))
    for config, budget, words in (({**good, "top_p": 7.0}, 0.3, "config"), ({"nope": 1}, 0.3, "config"),
                                  (good, 0, "budget"), (good, float("nan"), "budget")):
        e = ev.evaluate(config, budget, 0)
        assert e.status == "failed" and e.error.startswith(words) and "\n" not in e.error
    # the space's default fits 2000 parameters, this large configuration cannot: the width solver refuses it
    tight = TrainingEvaluator(make_space("hnag", {"param_budget": 2000}), "digits", device="cpu")
    large = {"top_n": 6, "top_k": 5, "top_p": 0.2, "mid_n": 4, "mid_p": 0.8, "bottom_n": 9, "bottom_k": 5,
             "bottom_p": 0.8}
    e = tight.evaluate(large, 0.3, 0)
    assert e.status == "failed" and e.error.startswith("param_budget: must be at least") and "\n" not in e.error
    assert tight.exact()["params"](large) == math.inf
    diverging = TrainingEvaluator(ev.space, "digits", train_overrides={"lr": 1e9, "grad_clip": None}, device="cpu")
    e = diverging.evaluate(good, 0.3, 0)
    assert e.status == "failed" and e.error.startswith("diverged") and "\n" not in e.error


def test_training_on_a_cell_space_and_context_round_trip():
    space = make_space("nb201", {"channels": 4, "cells_per_stage": 1})
    ev = make_evaluator("training", space=space, dataset="digits", train_overrides={"limit": 256}, device="cpu")
    cell = space.sample(np.random.default_rng(0))
    e = ev.evaluate(space.to_config(cell), 0.3, 2)
    assert e.status == "ok" and set(e.metrics) == set(ev.metrics), e.error
    assert e.metrics["params"] == hnag.count_params(space.to_spec(cell, input_shape=(1, 8, 8), num_classes=10))
    ctx = json.loads(json.dumps(ev.context()))
    assert ctx == {"kind": "training", "space": space.context(), "dataset": "digits", "data_dir": None,
                   "train_overrides": {"limit": 256}, "device": "cpu", "exact_seed": 0,
                   "fixed_architecture": False}
    again = from_context(ctx)
    assert isinstance(again, TrainingEvaluator) and again.context() == ctx and from_context(ctx) is again
    assert again.evaluate(space.to_config(cell), 0.3, 2).metrics["error"] == e.metrics["error"]


def test_training_options_are_checked_when_built():
    with pytest.raises(ValueError, match="train option epochs: unknown"):
        check_train_overrides({"epochs": 3})
    with pytest.raises(ValueError, match="lr: must be a number > 0"):
        TrainingEvaluator(make_space("nb201"), "digits", train_overrides={"lr": -1})
    with pytest.raises(ValueError, match="dataset"):
        TrainingEvaluator(make_space("nb201"), "no-such-data")
    with pytest.raises(ValueError, match="val_fraction"):
        TrainingEvaluator(make_space("nb201"), "digits", train_overrides={"val_fraction": 0.0})
    with pytest.raises(ValueError, match="evaluator kind: must be one of"):
        make_evaluator("oracle")


def test_build_and_train_refuses_a_spec_for_other_data():
    import training

    bundle = load_bundle("digits")
    spec = make_space("nb201", {"channels": 4, "cells_per_stage": 1}).to_spec(NB201.all_points()[0])
    with pytest.raises(ValueError, match=r"spec: built for input \(3, 32, 32\)"):
        build_and_train(spec, 0, bundle, training.TrainConfig(epochs=0.1))
