"""One architecture per generator, re-sampled (the NAGO paper's protocol): every job of a training search gets its
own network from a seed derived from (run seed, configuration, budget); `fixed_architecture` keeps the run seed;
the seed is recorded in every result and a resumed search keeps its rule."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from itertools import product

import numpy as np
import pytest

import nago
from helpers import drive_to_log
from nago.cli import build_parser
from nago.commands.search import request_from_args
from search.engine.store import RunStoreError, read_settings
from search.evaluators import from_context
from search.evaluators.training import TrainingEvaluator, architecture_seed
from search.run import SearchRequest, _open
from search.spaces import make_space
from search.strategies import make_strategy

SMALL = {"param_budget": 20_000, "base_channels": 4, "top_n": [3, 5], "bottom_n": [3, 5]}
TRAIN = {"limit": 128, "batch_size": 32}


@pytest.fixture(scope="module")
def space():
    return make_space("hnag", SMALL)


@pytest.fixture(scope="module")
def configs(space):
    rng = np.random.default_rng(0)
    return [space.to_config(space.sample(rng)) for _ in range(3)]


def test_seed_differs_across_budgets_configurations_and_run_seeds(configs):
    seeds = {(i, b, s): architecture_seed(c, b, s) for (i, c), b, s in product(enumerate(configs), (1, 2, 4), (0, 1))}
    assert len(set(seeds.values())) == len(seeds) == 18
    assert all(isinstance(v, int) and 0 <= v < 2**31 for v in seeds.values())
    c = configs[0]
    assert architecture_seed(c, 3, 0) == architecture_seed(c, 3.0, 0)                # one budget, int or float
    assert architecture_seed(dict(reversed(list(c.items()))), 2, 1) == seeds[(0, 2, 1)]  # key order is no part
    assert architecture_seed({**c, "top_p": c["top_p"] + 1e-9}, 2, 1) != seeds[(0, 2, 1)]
    # the documented formula, pinned: a resumed run re-submits unfinished jobs, which must get the same networks
    text = b'{"budget":3.0,"config":{"merge":"sum","top_n":4,"top_p":0.5},"seed":0}'
    assert architecture_seed({"top_n": 4, "top_p": 0.5, "merge": "sum"}, 3, 0) == 927990577 == int.from_bytes(
        hashlib.sha256(text).digest()[:8], "big") % 2**31


def test_seed_is_the_same_in_another_process(configs):
    code = ("import json, sys; from search.evaluators.training import architecture_seed; "
            "print(json.dumps([architecture_seed(c, b, s) for c, b, s in json.loads(sys.stdin.read())]))")
    jobs = [[c, b, s] for c, b, s in product(configs, (0.5, 4), (0, 7))]
    mine = [architecture_seed(c, b, s) for c, b, s in jobs]
    # another process with another PYTHONHASHSEED (which changes Python's own hash() of strings)
    hash_seed = "124" if os.environ.get("PYTHONHASHSEED") == "123" else "123"
    out = subprocess.run([sys.executable, "-c", code], input=json.dumps(jobs), capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": hash_seed}, check=True).stdout
    assert json.loads(out) == mine


def test_the_evaluator_builds_the_network_of_that_seed_or_of_the_run_seed(space, configs):
    resampled = TrainingEvaluator(space, "digits", train_overrides=TRAIN, device="cpu")
    fixed = TrainingEvaluator(space, "digits", train_overrides=TRAIN, device="cpu", fixed_architecture=True)
    config = configs[1]
    spec_hash = {}
    for ev, budget in product((resampled, fixed), (0.1, 0.2)):
        e = ev.evaluate(config, budget, 5)
        assert e.status == "ok", e.error
        want = 5 if ev.fixed_architecture else architecture_seed(config, budget, 5)
        assert e.info["architecture_seed"] == want and e.info["seed"] == 5
        spec = space.to_spec(space.from_config(config), seed=want, input_shape=(1, 8, 8), num_classes=10)
        assert e.info["spec_hash"] == spec.hash()
        spec_hash[ev.fixed_architecture, budget] = spec.hash()
    assert spec_hash[True, 0.1] == spec_hash[True, 0.2]     # one network at every budget
    assert spec_hash[False, 0.1] != spec_hash[False, 0.2]   # a network re-sampled at the higher budget
    # the rule travels with the context; a context written before the rule existed keeps the run seed
    assert from_context(resampled.context()).fixed_architecture is False
    old = {k: v for k, v in resampled.context().items() if k != "fixed_architecture"}
    assert from_context(old).fixed_architecture is True
    with pytest.raises(ValueError, match="fixed_architecture: must be true or false, got 'yes'"):
        TrainingEvaluator(space, "digits", fixed_architecture="yes")


def search_args(run_dir, *extra):
    args = ["search", "random", "--space", "hnag", "--dataset", "digits", "--run-dir", str(run_dir), "--seed", "3"]
    for key, value in {**SMALL, "top_n": "[3,5]", "bottom_n": "[3,5]"}.items():
        args += ["--space-option", f"{key}={value}"]
    for key, value in TRAIN.items():
        args += ["--train", f"{key}={value}"]
    return args + list(extra)


def created(run_dir, *extra):
    """Create a run directory as `nago search` does (checks, settings), without starting its worker pool."""
    req = request_from_args(build_parser().parse_args(search_args(run_dir, *extra)))
    log, prepared = _open(req)
    log.close()
    return prepared


def test_every_result_records_its_seed_and_a_promoted_configuration_is_resampled(tmp_path):
    """Hyperband at budgets 0.1 and 0.2 (eta 2): two configurations, the better one promoted."""
    ev = created(tmp_path / "spec").evaluator
    assert ev.fixed_architecture is False
    st = make_strategy("hyperband", ev.space, objectives=["error"], seed=3, max_budget=0.2, min_budget=0.1,
                       eta=2, iterations=1)
    events = drive_to_log(st, ev, tmp_path / "r", capacity=1, evaluations=3, seed=3)
    done = [e for e in events if e["event"] == "result"]
    assert [r["budget"] for r in done] == [0.1, 0.1, 0.2] and all(r["status"] == "ok" for r in done)
    for r in done:
        assert r["info"]["architecture_seed"] == architecture_seed(r["config"], r["budget"], 3)
    promoted = [r for r in done[:2] if r["config"] == done[2]["config"]]
    assert len(promoted) == 1 and promoted[0]["info"]["spec_hash"] != done[2]["info"]["spec_hash"]


def test_the_rule_is_in_the_settings_and_a_resume_keeps_it(tmp_path):
    assert created(tmp_path / "fixed", "--fixed-architecture").evaluator.fixed_architecture is True
    assert read_settings(tmp_path / "fixed")["evaluator"]["fixed_architecture"] is True
    created(tmp_path / "per-job")
    assert read_settings(tmp_path / "per-job")["evaluator"]["fixed_architecture"] is False
    # resumed without the flag: the stored rule goes on
    log, again = _open(SearchRequest(strategy="random", run_dir=str(tmp_path / "fixed"), resume=True))
    log.close()
    assert again.evaluator.fixed_architecture is True
    # a search that re-samples cannot be resumed as a fixed one
    with pytest.raises(RunStoreError, match="fixed-architecture: .* holds a search without it"):
        nago.search("random", tmp_path / "per-job", resume=True, evaluations=3, fixed_architecture=True)
    # only training samples networks
    with pytest.raises(ValueError, match="fixed-architecture: only training"):
        nago.search("random", tmp_path / "table", problem="counting-ones", fixed_architecture=True)
    assert not (tmp_path / "table").exists()
