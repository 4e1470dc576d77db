"""Every strategy on every space, through the one command form and the one run directory: NB201/NB101 tables,
synthetic problems, the generator spaces (with a cheap evaluator that builds each network's spec), and real
training; refusals that make no sense say why in one line and write nothing."""
from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

import hnag
import nago
from nago.cli import main
from nago.commands.search import strategy_names
from search.engine.driver import InlinePool, drive
from search.engine.store import RunLog, read_log
from search.evaluators.base import Evaluation, Evaluator
from search.spaces import make_space
from search.strategies import STRATEGIES, load_all, make_strategy

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
NB201 = SHARED / "nb201" / "nb201_cifar10.csv"
NB101 = SHARED / "nb101" / "nb101_500.json"
SINGLE = ["random", "evolution", "local", "bananas", "bonas", "hyperband", "bohb"]
MULTI = ["random", "moea", "mobo", "mobohb"]
# small settings for the slow model-based strategies (mobohb: brackets enough for the evaluations asked for)
FAST = {"mobo": {"num_steps": 200, "num_burn_in_steps": 100, "n_initial": 4},
        "bananas": {"num_init": 4}, "bonas": {"num_init": 4}, "mobohb": {"iterations": 12}}


def results(run_dir: Path) -> list[dict]:
    return [e for e in read_log(run_dir) if e["event"] == "result" and e.get("phase", "search") == "search"]


def test_strategy_modules_are_named_after_their_strategy():
    load_all()
    assert sorted(STRATEGIES) == strategy_names()
    assert set(SINGLE) | set(MULTI) == set(STRATEGIES)


@pytest.mark.parametrize("strategy", SINGLE)
def test_single_objective_strategies_on_the_nb201_table(strategy, tmp_path, shared_data):
    options = dict(FAST.get(strategy, {}))
    if strategy in ("hyperband", "bohb"):
        options["iterations"] = 12
    summary = nago.search(strategy, tmp_path / "r", benchmark=str(NB201), evaluations=12, seeds=2,
                          options=options)
    done = results(tmp_path / "r")
    assert summary["new_evaluations"] == len(done) == 24
    for seed in (0, 1):
        archs = [r["config"]["arch"] for r in done if r["seed"] == seed]
        assert len(set(archs)) == len(archs) == 12  # never the same cell twice
    report = nago.report(tmp_path / "r")
    assert report["single"] is not None


@pytest.mark.parametrize("strategy", MULTI)
def test_multi_objective_strategies_on_the_nb201_table(strategy, tmp_path, shared_data):
    nago.search(strategy, tmp_path / "r", benchmark=str(NB201), objectives=["error", "params"], evaluations=8,
                workers=4, options=dict(FAST.get(strategy, {})))
    done = results(tmp_path / "r")
    assert len(done) == 8 and all(r["metrics"]["params"] == hnag.count_params(
        make_space("nb201").to_spec(make_space("nb201").from_config(r["config"]))) for r in done)
    report = nago.report(tmp_path / "r")
    assert report["multi"]["fraction_of_true_hypervolume"] is not None


@pytest.mark.parametrize("strategy", ["random", "evolution", "local", "bananas", "bonas", "bohb", "moea"])
def test_strategies_on_the_nb101_sample(strategy, tmp_path, shared_data):
    objectives = ["error", "params"] if strategy == "moea" else None
    options = {**FAST.get(strategy, {}), **({"iterations": 10} if strategy == "bohb" else {})}
    nago.search(strategy, tmp_path / "r", benchmark=str(NB101), evaluations=8, objectives=objectives,
                options=options)
    done = results(tmp_path / "r")
    assert len(done) == 8 and all(r["status"] == "ok" for r in done), [r["error"] for r in done]


@pytest.mark.parametrize("strategy,problem", [(s, "counting-ones") for s in SINGLE if s != "bonas"]
                         + [(s, "zdt1") for s in MULTI])
def test_strategies_on_synthetic_problems(strategy, problem, tmp_path):
    options = {**FAST.get(strategy, {}), **({"iterations": 2} if strategy in ("hyperband", "bohb") else {})}
    nago.search(strategy, tmp_path / "r", problem=problem, evaluations=10, options=options)
    assert 1 <= len(results(tmp_path / "r")) <= 10
    settings = json.loads((tmp_path / "r" / "search.json").read_text())
    assert settings["known"]  # the report measures against the known optimum or front
    nago.report(tmp_path / "r")


class SpecCost(Evaluator):
    """Builds each point's network spec (no training): error = a smooth function of the hyperparameters,
    params counted. Exercises every strategy x generator space pairing in seconds."""

    kind = "synthetic"
    metrics = ("error", "params")

    def __init__(self, space):
        self.space = space

    def evaluate(self, config, budget, seed):
        point = self.space.from_config(config)
        spec = self.space.to_spec(point, seed=seed, input_shape=(1, 8, 8), num_classes=10)
        u = self.space.unit_vector(point)
        return Evaluation("ok", {"error": float(((u - 0.3) ** 2).mean() / budget),
                                 "params": float(hnag.count_params(spec))})


@pytest.mark.parametrize("space_name", ["hnag", "hnag-ops", "hnag-ratios", "hnag-full", "rnag"])
@pytest.mark.parametrize("strategy", ["random", "evolution", "local", "bananas", "hyperband", "bohb", "mobo",
                                      "moea", "mobohb"])
def test_every_strategy_on_every_generator_space(strategy, space_name, tmp_path):
    space = make_space(space_name, {"base_channels": 4} if space_name.startswith("hnag") else {"channels": 4})
    objectives = ["error", "params"] if strategy in ("mobo", "moea", "mobohb") else ["error"]
    options = {**FAST.get(strategy, {}), **({"iterations": 1} if strategy in ("hyperband", "bohb") else {})}
    strat = make_strategy(strategy, space, objectives=objectives, seed=0, max_budget=9.0, min_budget=1.0,
                          **options)
    log = RunLog.create(tmp_path / "r", {"strategy": strategy})
    log.start_session()
    drive(strat, InlinePool(SpecCost(space), capacity=2), log, seed=0, evaluations=8)
    log.close()
    done = results(tmp_path / "r")
    assert 1 <= len(done) <= 8 and all(r["status"] == "ok" for r in done)
    hashes = [space.hash(space.from_config(r["config"])) + str(r["budget"]) for r in done]
    assert len(set(hashes)) == len(hashes)


@pytest.mark.timeout(400)
@pytest.mark.parametrize("strategy", ["bananas", "bohb"])
def test_real_training_on_digits(strategy, tmp_path):
    args = ["search", strategy, "--space", "hnag", "--dataset", "digits", "--run-dir", str(tmp_path / "r"),
            "--workers", "2", "--threads", "1", "--max-budget", "0.3", "--quiet", "--space-option",
            "base_channels=4", "--space-option", "top_n=[3,5]", "--space-option", "bottom_n=[3,5]"]
    if strategy == "bohb":
        args += ["--min-budget", "0.1", "--iterations", "1"]
    else:
        args += ["--evaluations", "5", "--option", "num_init=3"]
    assert main(args) == 0
    done = results(tmp_path / "r")
    assert done and all(r["status"] == "ok" for r in done), [r["error"] for r in done]
    assert {"error", "test_error", "params", "macs", "memory"} <= set(done[0]["metrics"])
    report = nago.report(tmp_path / "r")
    best = json.loads(Path(report["best_config"]).read_text())
    best.pop("seed")
    assert hnag.GeneratorParams.from_dict(best).validate().base_channels == 4


def test_hyperband_iterations_grow_on_resume_with_several_workers(tmp_path):
    nago.search("hyperband", tmp_path / "r", problem="counting-ones", workers=3, options={"iterations": 2})
    first = len(results(tmp_path / "r"))
    nago.search("hyperband", tmp_path / "r", resume=True, workers=3, options={"iterations": 4})
    assert len(results(tmp_path / "r")) > first
    whole = tmp_path / "whole"
    nago.search("hyperband", whole, problem="counting-ones", workers=3, options={"iterations": 2})
    assert [r["config"] for r in results(whole)] == [r["config"] for r in results(tmp_path / "r")][:first]


@pytest.mark.parametrize("argv,message", [
    (["bonas", "--space", "hnag"], "bonas: needs a graph view"),
    (["random", "--space", "hnag", "--benchmark", "x.csv"], "space: a NAS-Bench table describes nb201 or nb101"),
    (["random", "--space", "nb201", "--problem", "zdt1"], "synthetic problem zdt1 has its own space"),
    (["bananas", "--problem", "zdt1", "--objectives", "f1,f2"], "bananas: is single-objective"),
    (["mobo", "--problem", "counting-ones"], "mobo: needs at least 2 objectives"),
    (["random", "--problem", "zdt1", "--objectives", "error"], "objectives: error is not measured"),
    (["bananas", "--problem", "zdt1", "--option", "colour=red"], "bananas: bad option"),
    (["random", "--workers", "-1"], "workers: must be an integer >= 0"),
    (["random", "--port", "70000"], "port: must be an integer in [0, 65535]"),
    (["random", "--threads", "-1"], "threads: must be an integer >= 1"),
    (["random", "--dataset", "digits", "--benchmark", "x.csv"], "give one source of evaluations"),
    (["random", "--problem", "zdt1", "--final-samples", "2"], "final-samples: re-sampling networks needs"),
])
def test_impossible_requests_are_refused_in_one_line_and_write_nothing(argv, message, tmp_path, capsys):
    run_dir = tmp_path / "r"
    code = main(["search", *argv, "--run-dir", str(run_dir)])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert not run_dir.exists()


def test_a_corrected_command_runs_after_a_refused_one(tmp_path):
    run_dir = tmp_path / "r"
    assert main(["search", "random", "--problem", "zdt1", "--workers", "-1", "--run-dir", str(run_dir)]) == 2
    assert main(["search", "random", "--problem", "zdt1", "--evaluations", "3", "--run-dir", str(run_dir),
                 "--quiet"]) == 0
    assert len(results(run_dir)) == 3 and all(math.isfinite(r["metrics"]["f1"]) for r in results(run_dir))


def test_mobo_warm_start_says_what_it_used(tmp_path, capsys):
    """Warm start from a Hyperband run: too few evaluations at the largest budget, so the others are used too,
    and the run says so; the strategy's jobs say why the model is (not) used."""
    nago.search("hyperband", tmp_path / "hb", problem="zdt1-mf", objectives=["f1"], options={"iterations": 1})
    assert main(["search", "mobo", "--problem", "zdt1-mf", "--warm-start", str(tmp_path / "hb"), "--evaluations",
                 "2", "--option", "num_steps=200", "--option", "num_burn_in_steps=100", "--run-dir",
                 str(tmp_path / "mo")]) == 0
    out = capsys.readouterr().out
    assert "fewer than the 2 the model needs" not in out or "more from budget(s)" in out
    assert f"warm start from {tmp_path / 'hb'}:" in out
    asks = [j for e in read_log(tmp_path / "mo") if e["event"] == "ask" for j in e["jobs"]]
    assert asks and all(j["info"].get("reason") for j in asks)
    assert main(["search", "mobo", "--problem", "zdt1", "--warm-start", str(tmp_path / "hb"),
                 "--run-dir", str(tmp_path / "bad")]) == 2


def test_changed_defaults_are_pinned_and_old_searches_resume_with_the_old_ones(tmp_path):
    """MOBO's defaults on cells changed (pairwise BLR, HVI in raw units). A new search stores what it resolved;
    a search stored before that (its search.json without those options) resumes with the old defaults and its
    replay makes the same proposals."""
    if not NB201.is_file():
        pytest.skip(f"shared data not found at {NB201}")
    new = tmp_path / "new"
    nago.search("mobo", new, space="nb201", benchmark=NB201, objectives=["error", "params"], evaluations=20,
                options={"batch_size": 4})
    stored = json.loads((new / "search.json").read_text())["options"]
    assert stored == {"batch_size": 4, "surrogate": "blr", "acquisition": "hvi", "kappa": 0.5, "hvi_units": "raw"}

    old = tmp_path / "old"
    legacy = {"surrogate": "heteroscedastic", "acquisition": "usemo", "kappa": 1.0, "hvi_units": "modelling"}
    nago.search("mobo", old, space="nb201", benchmark=NB201, objectives=["error", "params"], evaluations=14,
                options={"batch_size": 4, "num_steps": 60, "num_burn_in_steps": 30, **legacy})
    settings = json.loads((old / "search.json").read_text())
    for key in legacy:  # as a search created before the options were stored
        del settings["options"][key]
    (old / "search.json").write_text(json.dumps(settings))
    nago.search("mobo", old, resume=True, evaluations=18)
    done = results(old)
    assert len(done) == 18 and len({json.dumps(r["config"], sort_keys=True) for r in done}) == 18
    asks = [j for e in read_log(old) if e["event"] == "ask" for j in e["jobs"]]
    assert any("USeMO batch" in j["info"].get("reason", "") for j in asks[14:])
