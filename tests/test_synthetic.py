"""Synthetic test problems: known optima and fronts, fidelities, deterministic noise, and the evaluator."""
from __future__ import annotations

import math

import numpy as np
import pytest

from search.evaluators import from_context, make_evaluator
from search.evaluators.synthetic import PROBLEMS, SyntheticEvaluator, make_problem, true_front
from search.pareto import hypervolume, pareto_front


def samples(problem, n, seed=0):
    rng = np.random.default_rng(seed)
    return [problem.space.sample(rng) for _ in range(n)]


def test_registry_builds_every_problem_and_refuses_an_unknown_one():
    assert set(PROBLEMS) >= {"counting-ones", "branin-mf", "zdt1", "zdt1-mf", "park-mf"}
    for name in PROBLEMS:
        problem = make_problem(name)
        assert problem.name == problem.space.name == name and not problem.space.has_spec
        assert 0 < problem.min_budget <= problem.max_budget and problem.source
        assert (problem.optimum is not None) == (len(problem.objectives) == 1)
    with pytest.raises(ValueError, match="problem: must be one of counting-ones, .*got 'nope'"):
        make_problem("nope")


@pytest.mark.parametrize("name", ["counting-ones", "branin-mf"])
def test_single_objective_optimum_is_reached_at_its_config_and_never_beaten(name):
    ev = SyntheticEvaluator(name)
    p = ev.problem
    best = ev.evaluate(p.optimum_config(), p.max_budget, seed=0)
    assert best.status == "ok" and best.metrics["f"] == pytest.approx(p.optimum, abs=1e-12)
    values = [ev.evaluate(c, p.max_budget, seed=1).info["true"]["f"] for c in samples(p, 300)]
    assert min(values) > p.optimum


def test_counting_ones_is_exact_at_the_optimum_and_unbiased_with_less_noise_at_higher_budgets():
    ev = SyntheticEvaluator("counting-ones")
    p = ev.problem
    assert p.objectives == ("f",) and (p.min_budget, p.max_budget) == (9, 729) and p.optimum == -16
    assert len([k for k in p.space.vector_kinds if k == 2]) == 8 and p.space.vector_kinds.count(0) == 8
    for budget in (9, 81, 729):
        assert ev.evaluate(p.optimum_config(), budget, seed=5).metrics["f"] == -16.0
    config = samples(p, 1)[0]
    truth = p.true_values(config)["f"]
    low = np.array([ev.evaluate(config, 9, seed=s).metrics["f"] for s in range(400)])
    high = np.array([ev.evaluate(config, 729, seed=s).metrics["f"] for s in range(400)])
    assert abs(low.mean() - truth) < 4 * low.std() / math.sqrt(400)
    assert abs(high.mean() - truth) < 4 * high.std() / math.sqrt(400)
    assert high.std() < low.std() / 5                                  # sqrt(729 / 9) = 9 times less noise
    # one job, one value: the stream depends on (seed, configuration, budget) only
    assert ev.evaluate(config, 27, seed=3).metrics == ev.evaluate(dict(config), 27.000000000000004, seed=3).metrics
    assert ev.evaluate(config, 27, seed=3).metrics != ev.evaluate(config, 27, seed=4).metrics
    assert ev.evaluate(config, 27, seed=3).metrics != ev.evaluate(config, 81, seed=3).metrics


def test_branin_mf_is_branin_at_max_budget_and_biased_below():
    ev = SyntheticEvaluator("branin-mf")
    p = ev.problem
    for x1, x2 in ((-math.pi, 12.275), (math.pi, 2.275), (3 * math.pi, 2.475)):  # Branin's three minimisers
        assert ev.evaluate({"x1": x1, "x2": x2}, 27, seed=0).metrics["f"] == pytest.approx(5 / (4 * math.pi),
                                                                                            abs=1e-9)
    config = {"x1": 8.0, "x2": 1.0}
    values = [ev.evaluate(config, b, seed=0).metrics["f"] for b in (1, 3, 9, 27)]
    assert values[-1] == p.true_values(config)["f"]
    assert len(set(values)) == 4 and abs(values[0] - values[-1]) > 0.1
    assert values == [ev.evaluate(config, b, seed=9).metrics["f"] for b in (1, 3, 9, 27)]  # no noise


def test_zdt1_front_is_exact_non_dominated_and_bounds_every_point():
    front = true_front("zdt1", 50)
    assert front.shape == (50, 2)
    assert np.allclose(front[:, 1], 1 - np.sqrt(front[:, 0])) and front[0, 0] == 0 and front[-1, 0] == 1
    assert len(pareto_front(front)) == 50
    ev = SyntheticEvaluator("zdt1")
    p = ev.problem
    assert p.objectives == ("f1", "f2") and len(p.space.vector_kinds) == 6
    on_set = ev.evaluate({"x1": 0.36, **{f"x{i}": 0.0 for i in range(2, 7)}}, 1, seed=0).metrics
    assert on_set["f1"] == 0.36 and on_set["f2"] == pytest.approx(1 - 0.6)
    for config in samples(p, 200):
        m = ev.evaluate(config, 1, seed=0).metrics
        assert m["f2"] >= 1 - math.sqrt(m["f1"]) - 1e-12
    # hypervolume of the exact front w.r.t. (11, 11): 11 * 11 - integral of (1 - sqrt(f1)) = 121 - 1/3
    assert hypervolume(true_front("zdt1", 2000), np.array(p.reference)) == pytest.approx(121 - 1 / 3, abs=1e-3)
    with pytest.raises(ValueError, match="n: must be an integer >= 2"):
        true_front("zdt1", 1)
    with pytest.raises(NotImplementedError, match="has one objective"):
        true_front("counting-ones", 10)


def test_zdt1_mf_is_zdt1_at_max_budget_with_bias_and_noise_below():
    mf, base = SyntheticEvaluator("zdt1-mf"), SyntheticEvaluator("zdt1")
    assert (mf.problem.min_budget, mf.problem.max_budget) == (1, 27)
    assert np.array_equal(true_front("zdt1-mf", 30), true_front("zdt1", 30))
    for config in samples(mf.problem, 20):
        assert mf.evaluate(config, 27, seed=1).metrics == base.evaluate(config, 1, seed=1).metrics
        low = mf.evaluate(config, 1, seed=1).metrics
        assert low["f1"] == config["x1"] and low["f2"] != base.evaluate(config, 1, seed=1).metrics["f2"]
        assert low == mf.evaluate(config, 1, seed=1).metrics and low != mf.evaluate(config, 1, seed=2).metrics
    # at low fidelity the best points sit at x_i = 0.25 (1 - 1/27), not at the true Pareto set x_i = 0
    shifted = {"x1": 0.5, **{f"x{i}": 0.25 * (1 - 1 / 27) for i in range(2, 7)}}
    true_set = {"x1": 0.5, **{f"x{i}": 0.0 for i in range(2, 7)}}
    mean = lambda c: np.mean([mf.evaluate(c, 1, seed=s).metrics["f2"] for s in range(50)])  # noqa: E731
    assert mean(shifted) < mean(true_set)


def test_park_mf_front_is_not_dominated_by_any_sampled_point_and_low_fidelities_rank_alike():
    ev = SyntheticEvaluator("park-mf")
    p = ev.problem
    front = true_front("park-mf", 200)
    assert front.shape == (200, 2) and np.all(np.diff(front[:, 0]) > 0) and np.all(np.diff(front[:, 1]) < 0)
    # the paper's functions, by hand at one point (x4 = 0.8 and x3 = 0.5 make the transformed x3, x4 equal 1)
    m = ev.evaluate({"x1": 0.6, "x2": 0.0, "x3": 0.5, "x4": 0.8}, 27, seed=0).metrics
    t1 = 0.5 * math.sqrt(1 + 1 / (1 + 1e-4))
    assert m["f1"] == pytest.approx(-((t1 + 4 * math.e ** (1 + math.sin(1))) / 22 - 0.8), rel=1e-12)
    assert m["f2"] == pytest.approx(-((5 - 2 / 3 * math.e + math.sin(1) - 1) / 4 - 0.7), rel=1e-12)
    # 20,000 random points and a grid through the Pareto set: none dominates a front point by more than 1e-6
    rng = np.random.default_rng(0)
    x = rng.random((20000, 4))
    axis = np.linspace(0, 1, 25)
    grid = np.stack(np.meshgrid(axis, axis, axis), axis=-1).reshape(-1, 3)
    x = np.vstack([x, np.column_stack([grid, np.full(len(grid), 0.8)])])
    points = np.array([list(p.true_values(dict(zip(["x1", "x2", "x3", "x4"], row))).values()) for row in x])
    points = points[np.argsort(points[:, 0])]
    best_f2 = np.minimum.accumulate(points[:, 1])   # the least f2 of the points up to each f1
    upto = np.searchsorted(points[:, 0], front[:, 0] - 1e-6, side="right") - 1
    assert np.all(best_f2[upto[upto >= 0]] >= front[upto >= 0, 1] - 1e-6)
    hv = hypervolume(front, np.array(p.reference))
    assert 0.0893 < hv < hypervolume(pareto_front(np.vstack([front, points])), np.array(p.reference)) + 1e-6
    # the fidelity scales and shifts: 300 points keep their order at budget 1 almost exactly
    configs = samples(p, 300)
    low = np.array([ev.evaluate(c, 1, seed=0).metrics["f1"] for c in configs])
    high = np.array([ev.evaluate(c, 27, seed=0).metrics["f1"] for c in configs])
    assert np.corrcoef(np.argsort(np.argsort(low)), np.argsort(np.argsort(high)))[0, 1] > 0.99
    assert not np.allclose(low, high)


def test_evaluator_fails_bad_configs_and_budgets_without_raising():
    ev = SyntheticEvaluator("branin-mf")
    assert ev.metrics == ("f",) and ev.in_process and ev.kind == "synthetic"
    bad = ev.evaluate({"x1": 20.0, "x2": 1.0}, 27, seed=0)
    assert bad.status == "failed" and "x1" in bad.error
    assert ev.evaluate({"x1": 1.0, "x2": 1.0, "x3": 0.0}, 27, seed=0).status == "failed"
    for budget in (0, -1, 28, float("nan")):
        out = ev.evaluate({"x1": 1.0, "x2": 1.0}, budget, seed=0)
        assert out.status == "failed" and out.error.startswith("budget: must be a number in (0, 27]")


def test_evaluator_context_rebuilds_it_and_known_states_optimum_or_front():
    ev = make_evaluator("synthetic", problem="counting-ones")
    assert ev.context() == {"kind": "synthetic", "problem": "counting-ones"}
    again = from_context(ev.context())
    assert again.problem.name == "counting-ones" and from_context(ev.context()) is again
    known = ev.known(["f"])
    assert known["optimum"] == -16 and ev.evaluate(known["config"], 729, seed=0).metrics["f"] == -16
    zdt = SyntheticEvaluator("zdt1")
    both = zdt.known(["f1", "f2"])
    assert both["reference"] == [11.0, 11.0] and len(both["front"]) == SyntheticEvaluator.FRONT_POINTS
    assert np.allclose(np.array(both["front"])[:, 1], 1 - np.sqrt(np.array(both["front"])[:, 0]))
    swapped = np.array(zdt.known(["f2", "f1"])["front"])
    assert np.all(np.diff(swapped[:, 0]) >= 0) and np.allclose(swapped[:, 0], 1 - np.sqrt(swapped[:, 1]))
    assert zdt.known(["f2"]) == {"objectives": ["f2"], "source": zdt.problem.source, "optimum": 0.0}
    with pytest.raises(ValueError, match="objectives: must be among f1, f2 for problem zdt1, got error"):
        zdt.known(["error"])
