"""The multi-objective strategies `mobo` (BNN surrogates, USeMO, local penalisation) and `moea` (steady-state
NSGA-II) on the ask/tell engine, on ZDT1 (Zitzler, Deb and Thiele, 2000) and on the NB201 cell space."""
from __future__ import annotations

import math

import numpy as np
import pytest
from ConfigSpace import ConfigurationSpace

from helpers import asked, drive_to_log
from search.engine.driver import InlinePool, drive
from search.engine.store import RunLog
from search.evaluators.base import Evaluation, Evaluator
from search.pareto import hypervolume, non_dominated_mask, pareto_front
from search.spaces import make_space
from search.spaces.configspace import ConfigSpaceSpace
from search.strategies.base import Result, StrategyError
from search.strategies.mobo import MOBO
from search.strategies.moea import MOEA

# small sampler and inner optimiser: the tests check the wiring, not the posterior (about 0.2 s per fit)
FAST = dict(num_steps=200, num_burn_in_steps=100, keep_every=5, pop_size=16, generations=5)
ZDT_REF = [1.1, 11.0]


def zdt1(config) -> tuple[float, float]:
    x = np.array([config[f"x{i}"] for i in range(len(config))])
    g = 1.0 + 9.0 * x[1:].mean()
    return float(x[0]), float(g * (1.0 - math.sqrt(x[0] / g)))


class ZDT1(Evaluator):
    """ZDT1 as metrics f1, f2; configurations with x1 > `fail_above` fail."""

    kind = "zdt1"
    metrics = ("f1", "f2")

    def __init__(self, fail_above: float = 2.0) -> None:
        self.fail_above = fail_above

    def evaluate(self, config, budget, seed) -> Evaluation:
        if config["x1"] > self.fail_above:
            return Evaluation("failed", error="x1 too large")
        f1, f2 = zdt1(config)
        return Evaluation("ok", {"f1": f1, "f2": f2})


def zdt_space(dim: int = 4) -> ConfigSpaceSpace:
    return ConfigSpaceSpace("zdt1", ConfigurationSpace({f"x{i}": (0.0, 1.0) for i in range(dim)}), has_spec=False)


class LowerBoundSpace(ConfigSpaceSpace):
    """ZDT1's space without x0 < 0.3 (where f1 is best): vectors there decode to None."""

    def __init__(self) -> None:
        super().__init__("zdt1-cut", zdt_space().configspace, has_spec=False)
        self.none_decodes = 0

    def sample(self, rng):
        while True:
            point = super().sample(rng)
            if point["x0"] >= 0.3:
                return point

    def from_vector(self, vector):
        point = super().from_vector(vector)
        if point is not None and point["x0"] < 0.3:
            self.none_decodes += 1
            return None
        return point


def hashes(space, events) -> list[str]:
    return [space.hash(space.from_config(job["config"])) for job in asked(events)]


def ok_front(events) -> np.ndarray:
    return np.array([[e["metrics"]["f1"], e["metrics"]["f2"]] for e in events
                     if e["event"] == "result" and e["status"] == "ok"])


def mobo(space, seed=0, **options) -> MOBO:
    return MOBO(space, objectives=["f1", "f2"], seed=seed, max_budget=1.0, **{**FAST, **options})


def tell_all(strategy, jobs) -> None:
    for job in jobs:
        f1, f2 = zdt1(strategy.space.to_config(job.point))
        strategy.tell(job, Result.success({"f1": f1, "f2": f2}))


# --------------------------------------------------------------------------------------------------- mobo


def test_initial_design_reason_then_model_based_batches_with_pending(tmp_path):
    space = zdt_space()
    events = drive_to_log(mobo(space, n_initial=6), ZDT1(), tmp_path / "r", capacity=3, evaluations=11)
    jobs = asked(events)
    assert len(jobs) == 11 and len(set(hashes(space, events))) == 11
    # three jobs run at a time: random points until 6 results exist, i.e. 8 of them
    first = [j["info"] for j in jobs[:8]]
    assert all(not i["model_based"] for i in first)
    assert first[0]["reason"] == "initial design: 0 of 6 successful evaluations needed"
    assert first[-1]["reason"] == "initial design: 5 of 6 successful evaluations needed"
    later = [j["info"] for j in jobs[8:]]
    assert later and all(i["model_based"] and i["fit_s"] > 0 for i in later)
    assert "penalised around 2 pending" in later[-1]["reason"]

    # pending jobs are the centres of penalisation balls that the new batch keeps out of
    s = mobo(space, seed=1, n_initial=6)
    tell_all(s, s.ask(6))
    running = s.ask(2)
    new = s.ask(3, pending=running)
    info = s.proposer.last_info
    assert len(new) == 3 and all(j.info["model_based"] for j in new)
    assert info.pending_radii.shape == (2,) and np.all(info.pending_radii > 0)
    centres = np.array([space.unit_vector(j.point) for j in running])
    for job in new:
        x = space.unit_vector(job.point)
        assert np.all(np.linalg.norm(centres - x, axis=1) >= info.pending_radii - 1e-6)


def test_same_seed_same_jobs_and_resume_replays_exactly(tmp_path):
    space = zdt_space()
    options = dict(n_initial=4, batch_size=2)
    a = drive_to_log(mobo(space, seed=3, **options), ZDT1(), tmp_path / "a", capacity=2, evaluations=8, seed=3)
    b = drive_to_log(mobo(space, seed=3, **options), ZDT1(), tmp_path / "b", capacity=2, evaluations=8, seed=3)
    c = drive_to_log(mobo(space, seed=4, **options), ZDT1(), tmp_path / "c", capacity=2, evaluations=8, seed=4)

    def configs(events):
        return [j["config"] for j in asked(events)]

    assert configs(a) == configs(b)
    assert configs(a) != configs(c)
    assert any(j["info"].get("queued") for j in asked(a))  # batch_size 2: one fit, two jobs
    # resume: a fresh strategy replays the log (each ask must propose the same jobs) and goes on
    log = RunLog.open(tmp_path / "a", writable=True)
    try:
        drive(mobo(space, seed=3, **options), InlinePool(ZDT1(), 2), log, seed=3, evaluations=10)
        events = log.events()
    finally:
        log.close()
    assert configs(events)[:8] == configs(a)
    assert sum(e["event"] == "result" for e in events) == 10
    assert len(set(hashes(space, events))) == 10


def test_exact_objective_is_computed_not_modelled():
    space = zdt_space()
    calls = []

    def f1(point):
        calls.append(point)
        return point["x0"]

    s = MOBO(space, objectives=["f1", "f2"], seed=0, max_budget=1.0, exact={"f1": f1}, n_initial=5, **FAST)
    tell_all(s, s.ask(5))
    jobs = s.ask(2)
    assert all(j.info["model_based"] for j in jobs)
    assert [o.learned for o in s.proposer.objectives] == [False, True]
    assert set(s.proposer.surrogates) == {"f2"}
    assert len(calls) > 50  # the acquisition candidates (16 x 6 with FAST), not a surrogate


def test_failures_are_not_fitted_nor_proposed_again(tmp_path):
    space = zdt_space()
    s = mobo(space, n_initial=5, batch_size=2)
    events = drive_to_log(s, ZDT1(fail_above=0.6), tmp_path / "r", capacity=2, evaluations=14)
    results = [e for e in events if e["event"] == "result"]
    ok = [e for e in results if e["status"] == "ok"]
    assert 0 < len(ok) < len(results)
    assert s.proposer.X.shape[0] == len(ok)
    assert len(set(hashes(space, events))) == len(results)
    # the initial design lasts until 5 *successful* evaluations exist
    jobs = asked(events)
    first_model = next(i for i, j in enumerate(jobs) if j["info"]["model_based"])
    assert first_model >= 5 + sum(e["status"] != "ok" for e in results[:first_model])


def test_vectors_that_decode_to_no_point_are_skipped(tmp_path):
    space = LowerBoundSpace()
    events = drive_to_log(mobo(space, n_initial=6, batch_size=3), ZDT1(), tmp_path / "r", capacity=3, evaluations=15)
    jobs = asked(events)
    assert len(jobs) == 15 and all(j["config"]["x0"] >= 0.3 for j in jobs)
    assert space.none_decodes > 0  # the model did aim below 0.3: those candidates were skipped
    assert any(j["info"]["model_based"] for j in jobs)


def test_warm_start_counts_towards_the_initial_design():
    space = zdt_space()
    rng = np.random.default_rng(5)
    warm = []
    for _ in range(6):
        config = space.sample(rng)
        f1, f2 = zdt1(config)
        warm.append({"config": config, "objectives": {"f1": f1, "f2": f2}})
    s = mobo(space, n_initial=6, warm_start=warm)
    jobs = s.ask(3)
    assert all(j.info["model_based"] for j in jobs) and s.proposer.X.shape[0] == 6
    assert not {space.hash(j.point) for j in jobs} & {space.hash(w["config"]) for w in warm}


def test_mobo_reaches_more_hypervolume_than_random_sampling(tmp_path):
    """Evidence (can fail): 24 evaluations of 4-D ZDT1, 4 workers, batches of 4. MOBO's random initial design
    (11 points: 8 needed results plus the 3 asked while they ran) is continued by its 13 model-based points,
    or by 13 random points (20 continuations per seed). Measured: MOBO beat 80 %, 100 %, 100 % of them on
    seeds 0-2 (75-100 % on seeds 0-5)."""
    space = zdt_space()
    beaten = []
    for seed in range(3):
        events = drive_to_log(mobo(space, seed=seed, n_initial=8, batch_size=4), ZDT1(), tmp_path / f"m{seed}",
                     capacity=4, evaluations=24, seed=seed)
        initial = [zdt1(j["config"]) for j in asked(events) if not j["info"]["model_based"]]
        assert len(initial) == 11
        rng = np.random.default_rng(100 + seed)
        randoms = np.array([hypervolume(initial + [zdt1(space.sample(rng)) for _ in range(13)], ZDT_REF)
                            for _ in range(20)])
        hv = hypervolume(ok_front(events), ZDT_REF)
        assert hv > np.median(randoms), (seed, hv, np.median(randoms))
        beaten.append(float(np.mean(hv > randoms)))
    assert np.mean(beaten) >= 0.75, beaten


@pytest.mark.parametrize("options, message", [
    (dict(kappa=0), "mobo option kappa: must be a number > 0, got 0"),
    (dict(batch_size=0), "mobo option batch_size: must be an integer >= 1, got 0"),
    (dict(n_initial=1), "mobo option n_initial: must be an integer >= 2, got 1"),
    (dict(surrogate="gp"), "mobo option surrogate: must be heteroscedastic or homoscedastic or blr, got 'gp'"),
    (dict(num_steps=100, num_burn_in_steps=100), "mobo sampler options: num_steps (100) counts burn-in"),
    (dict(warm_start=[{"config": {"x9": 0.1}, "objectives": {}}]), "mobo option warm_start[0]: config: x9"),
])
def test_bad_mobo_options_are_one_line(options, message):
    with pytest.raises(StrategyError) as info:
        MOBO(zdt_space(), objectives=["f1", "f2"], seed=0, max_budget=1.0, **options)
    assert str(info.value).startswith(message) and "\n" not in str(info.value)


def test_mobo_refuses_one_objective_or_only_exact_ones():
    with pytest.raises(StrategyError, match="needs at least 2 objectives"):
        MOBO(zdt_space(), objectives=["f1"], seed=0, max_budget=1.0)
    with pytest.raises(StrategyError, match="every objective is exact"):
        MOBO(zdt_space(), objectives=["f1", "f2"], seed=0, max_budget=1.0,
             exact={"f1": lambda p: 0.0, "f2": lambda p: 1.0})


# --------------------------------------------------------------------------------------------------- moea


class Grid(Evaluator):
    """Two conflicting objectives on a 4 x 4 x 2 grid of categorical values."""

    kind = "grid"
    metrics = ("f1", "f2")

    def evaluate(self, config, budget, seed) -> Evaluation:
        a, b, c = int(config["a"]), int(config["b"]), int(config["c"])
        return Evaluation("ok", {"f1": float(a + c), "f2": float((3 - a) ** 2 + b + (1 - c))})


def test_moea_never_reproposes_and_keeps_the_pareto_set(tmp_path):
    space = ConfigSpaceSpace("grid", ConfigurationSpace({"a": ["0", "1", "2", "3"], "b": ["0", "1", "2", "3"],
                                                         "c": ["0", "1"]}), has_spec=False)
    s = MOEA(space, objectives=["f1", "f2"], seed=0, max_budget=1.0, population_size=6)
    events = drive_to_log(s, Grid(), tmp_path / "r", capacity=3, evaluations=28)
    jobs = asked(events)
    assert len(jobs) == 28 and len(set(hashes(space, events))) == 28  # of 32 points: many mutations collide
    assert [j["info"]["origin"] for j in jobs[:6]] == ["initial population"] * 6
    assert sum(j["info"]["origin"] == "mutation" for j in jobs) >= 10
    # elitism: the population holds every Pareto-optimal result (there are fewer than P of them)
    Y = ok_front(events)
    best = {tuple(y) for y in Y[non_dominated_mask(Y)]}
    assert len(best) <= 6 and best <= {tuple(f) for _, _, f in s.population}
    assert len(s.population) == 6


def test_moea_deterministic_and_bad_option(tmp_path):
    space = zdt_space()
    a = drive_to_log(MOEA(space, objectives=["f1", "f2"], seed=2, max_budget=1.0, population_size=5), ZDT1(),
            tmp_path / "a", capacity=2, evaluations=15)
    b = drive_to_log(MOEA(space, objectives=["f1", "f2"], seed=2, max_budget=1.0, population_size=5), ZDT1(),
            tmp_path / "b", capacity=2, evaluations=15)
    assert [j["config"] for j in asked(a)] == [j["config"] for j in asked(b)]
    with pytest.raises(StrategyError, match=r"^moea option population_size: must be an integer >= 2, got 1$"):
        MOEA(space, objectives=["f1", "f2"], seed=0, max_budget=1.0, population_size=1)


# --------------------------------------------------------------------------------------------------- nb201


class CellCosts(Evaluator):
    """Synthetic NB201 objectives: convolutions lower an error-like f1 and raise a cost-like f2."""

    kind = "cell-costs"
    metrics = ("f1", "f2")

    def __init__(self, space) -> None:
        self.space = space

    def evaluate(self, config, budget, seed) -> Evaluation:
        idx = np.asarray(self.space.from_config(config).indices)
        conv = (idx == 3).sum() + 0.4 * (idx == 2).sum()
        return Evaluation("ok", {"f1": float(1.0 / (1.0 + conv) + 0.05 * (idx == 0).sum()),
                                 "f2": float(1.0 + conv + 0.1 * (idx == 4).sum())})


@pytest.mark.parametrize("name", ["mobo", "mobo-bnn", "mobo-bnn-hvi", "moea"])
def test_nb201_runs_without_duplicates(tmp_path, name):
    space = make_space("nb201")
    if name.startswith("mobo"):
        options = {"mobo": {}, "mobo-bnn": dict(surrogate="heteroscedastic"),
                   "mobo-bnn-hvi": dict(surrogate="heteroscedastic", acquisition="hvi")}[name]
        s = mobo(space, n_initial=6, batch_size=4, **options)
        assert s.inner == "pool" and s.proposer.dim == 30  # six edges, five one-hot ops each
        assert s.acquisition == ("usemo" if name == "mobo-bnn" else "hvi")
    else:
        s = MOEA(space, objectives=["f1", "f2"], seed=0, max_budget=1.0, population_size=8)
    events = drive_to_log(s, CellCosts(space), tmp_path / "r", capacity=4, evaluations=18)
    assert len(set(hashes(space, events))) == len(asked(events)) == 18
    if name.startswith("mobo"):
        assert sum(j["info"]["model_based"] for j in asked(events)) >= 8


# --------------------------------------------------------------------------------------------------- hnag


class GeneratorCosts(Evaluator):
    """Synthetic hnag objectives named like the real ones: bigger graphs lower "error" and raise "params"."""

    kind = "generator-costs"
    metrics = ("error", "params")

    @staticmethod
    def params(config) -> float:
        return float(1000 * config["top_n"] * config["bottom_n"] * config["mid_n"])

    def evaluate(self, config, budget, seed) -> Evaluation:
        size = config["top_n"] + config["bottom_n"] + config["mid_n"]
        return Evaluation("ok", {"error": 1.0 / size + 0.1 * config["top_p"], "params": self.params(config)})


def test_hnag_known_objectives_exact_params_and_invalid_vectors(tmp_path):
    space = make_space("hnag")  # about 30 % of its unit vectors have K >= N: they decode to None
    s = MOBO(space, objectives=["error", "params"], seed=0, max_budget=1.0,
             exact={"params": GeneratorCosts.params}, n_initial=6, batch_size=3, **FAST)
    assert [(o.name, o.learned, o.transform) for o in s.proposer.objectives] == [
        ("error", True, "none"), ("params", False, "log")]
    events = drive_to_log(s, GeneratorCosts(), tmp_path / "r", capacity=3, evaluations=14)
    jobs = asked(events)
    assert len(set(hashes(space, events))) == len(jobs) == 14
    assert all(space.is_valid(j["config"]) for j in jobs)
    assert sum(j["info"]["model_based"] for j in jobs) >= 4 and set(s.proposer.surrogates) == {"error"}


def test_default_mobo_on_the_nb201_table_beats_random_search(shared_data, tmp_path):
    """Evidence (can fail): validation error and exact params on the real NB201 table, 100 evaluations in
    batches of 8, seeds 0-2. The bar, 0.88 of the true front's hypervolume, is random search's 20-seed mean
    (0.847) plus 1.4 sd of a 3-seed mean; random search at the same seeds is shown to miss it."""
    from search.evaluators.tabular import TabularEvaluator
    from search.strategies.random import RandomSearch

    space = make_space("nb201")
    table = TabularEvaluator(space, shared_data / "nb201" / "nb201_cifar10.csv")
    known = table.optimum(["error", "params"])
    ref = np.asarray(known["reference"], dtype=np.float64)
    true_hv = hypervolume(np.asarray(known["front"], dtype=np.float64), ref)

    def fraction(strategy, seed) -> float:
        events = drive_to_log(strategy, table, tmp_path / f"{type(strategy).__name__}{seed}", capacity=8,
                              evaluations=100, seed=seed)
        points = [[e["metrics"]["error"], e["metrics"]["params"]] for e in events
                  if e.get("event") == "result" and e["status"] == "ok"]
        return hypervolume(pareto_front(np.asarray(points)), ref) / true_hv

    ours = [fraction(MOBO(space, objectives=["error", "params"], seed=s, max_budget=1.0, exact=table.exact(),
                          batch_size=8), s) for s in range(3)]
    randoms = [fraction(RandomSearch(space, objectives=["error", "params"], seed=s, max_budget=1.0), s)
               for s in range(3)]
    assert np.mean(ours) > 0.88 > np.mean(randoms), (ours, randoms)
