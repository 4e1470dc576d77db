"""USeMO acquisition, hard local penalisation and the MOBOProposer on cheap synthetic problems."""
import numpy as np
import pytest

from search.mobo.acquisition import Candidates, hvi_batch, log_uncertainty_volume, nsga2, usemo_candidates
from search.objectives import Objective, get_objective, objective_matrix, objectives_from_names
from search.mobo.penalisation import (estimate_lipschitz, finite_difference_gradient, hard_penaliser,
                                      penalisation_radii, select_batch)
from search.mobo.proposer import MOBOProposer, default_surrogate_factory
from search.pareto import hypervolume, pareto_front


def pairwise_ok(X, radii):
    """For every pair i > j: ||x_i - x_j|| >= r_j (the hard-penalisation guarantee)."""
    for i in range(len(X)):
        for j in range(i):
            if np.linalg.norm(X[i] - X[j]) < radii[j] - 1e-12:
                return False
    return True


# --------------------------------------------------------------------------------------------------- penalisation


def clustered_pool(rng, n=400, dim=2):
    """Candidates whose score peaks sharply at (0.3, 0.3): an unpenalised greedy batch would all sit there."""
    X = rng.random((n, dim))
    X[: n // 2] = 0.3 + 0.01 * rng.normal(size=(n // 2, dim))
    X = np.clip(X, 0, 1)
    score = -np.linalg.norm(X - 0.3, axis=1)
    return X, score


def test_batch_points_are_spread_by_the_penalisation_radius():
    rng = np.random.default_rng(0)
    X, score = clustered_pool(rng)
    front = np.zeros(len(X), dtype=int)
    radius = lambda P: np.full(len(P), 0.15)  # noqa: E731
    sel = select_batch(X, score, front, 8, radius, lambda P: np.zeros(len(P)), rng=rng)
    assert sel.X.shape == (8, 2) and sel.halvings == 0
    assert pairwise_ok(sel.X, sel.radii)
    d = np.linalg.norm(sel.X[:, None] - sel.X[None], axis=-1)[np.triu_indices(8, 1)]
    assert d.min() >= 0.15
    # the first point is the unpenalised best, as in USeMO
    assert sel.index[0] == int(np.argmax(score))
    # control: without penalisation the same greedy rule stacks the batch inside the cluster
    sel0 = select_batch(X, score, front, 8, lambda P: np.zeros(len(P)), lambda P: np.zeros(len(P)), rng=rng)
    d0 = np.linalg.norm(sel0.X[:, None] - sel0.X[None], axis=-1)[np.triu_indices(8, 1)]
    assert d0.max() < 0.1


def test_selection_prefers_lower_fronts_and_respects_pending_points():
    rng = np.random.default_rng(1)
    X = rng.random((300, 2))
    front = (X[:, 0] > 0.5).astype(int)  # front 0 = left half
    score = X[:, 1]
    pending = np.array([[0.25, 0.95]])
    radius = lambda P: np.full(len(P), 0.2)  # noqa: E731
    sel = select_batch(X, score, front, 4, radius, lambda P: np.zeros(len(P)), rng=rng, pending=pending)
    assert np.all(sel.X[:, 0] <= 0.5)  # plenty of room in front 0
    assert np.all(np.linalg.norm(sel.X - pending, axis=1) >= 0.2)
    assert pairwise_ok(np.vstack([pending, sel.X]), np.concatenate([sel.pending_radii, sel.radii]))


def test_selection_falls_back_and_halves_radii_when_the_pool_runs_out():
    rng = np.random.default_rng(2)
    X = rng.random((3, 2))
    score = np.arange(3.0)
    # radius 0.3: the 3 candidates cannot fill a batch of 6, fresh points are drawn outside the balls
    sel = select_batch(X, score, np.zeros(3, dtype=int), 6, lambda P: np.full(len(P), 0.3),
                       lambda P: -P[:, 0], rng=rng)
    assert (sel.index == -1).sum() >= 3 and pairwise_ok(sel.X, sel.radii)
    # radius 2 covers the unit square: radii are halved until the batch fits, and the guarantee holds for them
    sel = select_batch(X, score, np.zeros(3, dtype=int), 6, lambda P: np.full(len(P), 2.0),
                       lambda P: np.zeros(len(P)), rng=rng)
    assert sel.halvings >= 1 and len(sel.X) == 6
    assert np.allclose(sel.radii, 2.0 / 2 ** sel.halvings)
    assert pairwise_ok(sel.X, sel.radii)


def test_radius_formula_and_hard_penaliser():
    mean = np.array([[1.0, 5.0]])
    std = np.array([[0.5, 0.1]])
    best = np.array([0.0, 4.0])
    L = np.array([3.0, 11.0])
    # objective 0: (1 + 0.5) / 3 = 0.5 ; objective 1: (1 + 0.1) / 11 = 0.1 ; min = 0.1
    r = penalisation_radii(mean, std, best, L, np.array([True, True]))
    assert r[0] == pytest.approx(0.1)
    assert penalisation_radii(mean, std, best, L, np.array([True, False]))[0] == pytest.approx(0.5)
    assert penalisation_radii(mean, std, best, L, np.array([True, True]), min_radius=0.2)[0] == pytest.approx(0.2)
    phi = hard_penaliser(np.array([[0.0, 0.0], [0.05, 0.0], [0.5, 0.0]]), np.array([[0.0, 0.0]]), np.array([0.1]))
    np.testing.assert_allclose(phi, [0.0, 0.5, 1.0])


def test_lipschitz_estimate_of_a_linear_function():
    w = np.array([3.0, -4.0])
    rng = np.random.default_rng(0)
    grad = lambda X: finite_difference_gradient(lambda Z: Z @ w, X)  # noqa: E731
    assert estimate_lipschitz(grad, 2, rng=rng, n_samples=16) == pytest.approx(5.0, rel=1e-6)
    assert estimate_lipschitz(lambda X: np.zeros_like(X), 2, rng=rng, floor=1e-3) == 1e-3


# --------------------------------------------------------------------------------------------------- acquisition


def test_nsga2_approaches_a_known_front():
    # f1 = x0, f2 = g * (1 - sqrt(x0 / g)), g = 1 + 9 * mean(x1..): true front at x1.. = 0, f2 = 1 - sqrt(f1)
    def zdt1(X):
        g = 1 + 9 * X[:, 1:].mean(axis=1)
        return np.column_stack([X[:, 0], g * (1 - np.sqrt(X[:, 0] / g))])

    rng = np.random.default_rng(0)
    X, F = nsga2(zdt1, 3, pop_size=40, generations=40, rng=rng)
    front = pareto_front(F)
    gap = front[:, 1] - (1 - np.sqrt(front[:, 0]))
    assert np.median(gap) < 0.15 and len(front) >= 10
    # better than the same number of random points
    Fr = zdt1(rng.random((len(X), 3)))
    assert hypervolume(F, (1.1, 11.0)) > hypervolume(Fr, (1.1, 11.0))


def test_usemo_picks_the_pareto_point_with_the_largest_uncertainty_volume():
    # LCB_1 = x - 0.4 rises and LCB_2 = 1 - x - 2 s(x) falls on [0, 0.95]: all Pareto-optimal, and the
    # volume (2 * 2 * 0.2 * s) peaks with the bump of s at x = 0.7. Beyond 0.95 the means are far worse
    # (dominated in LCB space) although the uncertainty there is much larger: USeMO must not pick it.
    def predict(X):
        x = X[:, 0]
        far = x > 0.95
        mean = np.column_stack([x + 20.0 * far, 1 - x + 10.0 * far])
        std = np.column_stack([0.2 + 3.0 * far, 0.1 + 0.1 * np.exp(-((x - 0.7) ** 2) / 0.1)])
        return mean, std

    cands = usemo_candidates(predict, 1, np.array([True, True]), kappa=2.0, inner="random", n_random=500,
                             rng=np.random.default_rng(0))
    far = cands.X[:, 0] > 0.95
    assert np.all(cands.front[~far] == 0) and np.all(cands.front[far] > 0)
    assert cands.log_volume[far].min() > cands.log_volume[~far].max()
    assert cands.X[cands.best(), 0] == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(cands.acquisition, cands.mean - 2.0 * cands.std)
    # an exact objective (std 0) must not zero the volume
    lv = log_uncertainty_volume(np.array([[0.5, 0.0]]), 2.0, np.array([True, False]))
    assert lv[0] == pytest.approx(np.log(2.0))
    with pytest.raises(ValueError):
        usemo_candidates(predict, 1, np.array([False, False]), rng=np.random.default_rng(0))


def test_hvi_batch_fills_the_largest_gap_then_believes_its_pick():
    observed = np.array([[0.0, 1.0], [1.0, 0.0], [0.9, 0.9]])  # front (0, 1), (1, 0); ref (1.1, 1.1)
    # candidates 0 and 1 sit in the same gap, 1 slightly better; candidate 2 is in the corner with a smaller
    # gain; candidate 3 is dominated even optimistically
    lcb_ = np.array([[0.5, 0.5], [0.45, 0.45], [0.2, 0.9], [1.0, 1.0]])
    mean = lcb_ + 0.05
    cands = Candidates(X=np.eye(4), mean=mean, std=np.full((4, 2), 0.05), acquisition=lcb_,
                       front=np.array([0, 0, 0, 1]), log_volume=np.zeros(4))
    order = hvi_batch(cands, observed, 3)
    # after believing candidate 1 at (0.5, 0.5), candidate 0 adds nothing and the corner point comes next
    assert order.tolist()[:2] == [1, 2]
    # a pending point believed at the gap sends the first pick to the corner
    assert hvi_batch(cands, observed, 1, believed=np.array([[0.4, 0.4]])).tolist() == [2]

    # with nothing left to improve, the pick is USeMO's: best front, largest uncertainty volume
    cands.log_volume[:] = [0.0, 0.0, 1.0, 5.0]
    assert hvi_batch(cands, observed, 1, believed=np.array([[0.0, 0.0]])).tolist() == [2]


def test_hvi_batch_measures_volumes_in_the_units_given():
    """A cost modelled on a log scale (front (0, 1000), (1, 10)): in log units the candidate near the cheap end
    gains more, in raw units (what reports measure) the one in the middle: 0.5 x 500 against 0.1 x 989."""
    observed = np.array([[0.0, np.log(1000.0)], [1.0, np.log(10.0)]])
    lcb_ = np.array([[0.5, np.log(500.0)], [0.9, np.log(11.0)]])
    cands = Candidates(X=np.eye(2), mean=lcb_, std=np.zeros((2, 2)), acquisition=lcb_,
                       front=np.zeros(2, dtype=int), log_volume=np.zeros(2))
    assert hvi_batch(cands, observed, 1).tolist() == [1]
    raw = hvi_batch(cands, observed, 1, units=lambda A: np.column_stack([A[:, 0], np.exp(A[:, 1])]))
    assert raw.tolist() == [0]


# --------------------------------------------------------------------------------------------------- objectives

def test_objectives_declare_learned_or_exact():
    objs = objectives_from_names(["error", "memory", "params"], compute={"params": lambda c: 1e6})
    assert [o.learned for o in objs] == [True, True, False]
    assert objs[2].evaluate_exact(None) == 1e6
    with pytest.raises(ValueError, match="no compute"):
        get_objective("macs").evaluate_exact(None)
    Y = objective_matrix([{"val_accuracy": 0.9, "memory": 2.0}, {"error": 0.3, "memory": float("nan")}],
                         objs[:2])
    np.testing.assert_allclose(Y[0], [0.1, 2.0])
    assert Y[1, 0] == 0.3 and np.isnan(Y[1, 1])
    np.testing.assert_allclose(objs[1].forward([np.e, -1.0]), [1.0, np.nan])
    # the result shape of search.evaluation.evaluate
    ok = {"status": "ok", "loss": 0.25, "info": {"memory_mb_per_sample": 3.5, "params": 1000, "val_accuracy": 0.75}}
    failed = {"status": "failed", "loss": None, "info": {"params": 1000}}
    np.testing.assert_allclose(objective_matrix([ok, failed], objs[:2]), [[0.25, 3.5], [np.nan, np.nan]])
    with pytest.raises(ValueError):
        get_objective("accuracy")


# --------------------------------------------------------------------------------------------------- proposer

REF = np.array([1.1, 11.0])


def zdt_f2(X, rng):
    g = 1 + 9 * X[:, 1:].mean(axis=1)
    return g * (1 - np.sqrt(X[:, 0] / g)) + 0.05 * rng.normal(size=len(X))


def test_proposer_improves_hypervolume_over_random_proposals():
    """f1 = x0 is exact (computed from the decoded config, no surrogate); f2 (noisy ZDT1) is learned."""
    decoded = []

    def decode(x):
        decoded.append(x)
        return {"x0": float(x[0])}

    objectives = [Objective("f1", learned=False, compute=lambda cfg: cfg["x0"]), Objective("f2")]
    factory = default_surrogate_factory(num_steps=1000, num_burn_in_steps=500, keep_every=25)
    proposer = MOBOProposer(3, objectives, decode=decode, batch_size=4, n_initial=8, surrogate_factory=factory,
                            seed=0)
    rng = np.random.default_rng(100)
    X = proposer.propose(batch_size=8)
    assert proposer.last_info.initial_design
    # Latin hypercube: one point in each eighth of every axis
    assert all(sorted(np.floor(X[:, k] * 8).astype(int).tolist()) == list(range(8)) for k in range(3))
    proposer.tell(X, np.column_stack([np.full(8, np.nan), zdt_f2(X, rng)]))  # the exact f1 is filled in
    np.testing.assert_allclose(proposer.Y[:, 0], X[:, 0])
    for _ in range(3):
        X = proposer.propose()
        info = proposer.last_info
        assert not info.initial_design and X.shape == (4, 3) and np.all((X >= 0) & (X <= 1))
        assert pairwise_ok(X, info.radii) and np.all(info.radii > 0)
        assert np.isnan(info.lipschitz[0]) and info.lipschitz[1] > 0
        assert set(info.fit_time_s) == {"f2"}
        proposer.tell(X, [{"f2": v} for v in zdt_f2(X, rng)])
    assert decoded  # the exact objective went through decode
    its, hv = proposer.hypervolume_history(REF)
    assert its.tolist() == [1, 2, 3, 4] and np.all(np.diff(hv) >= 0) and hv[-1] > hv[0]
    # random proposals with the same budget after the same initial design
    hv_random = []
    for r in range(20):
        rr = np.random.default_rng(1000 + r)
        Xr = rr.random((12, 3))
        hv_random.append(hypervolume(np.vstack([proposer.Y[:8], np.column_stack([Xr[:, 0], zdt_f2(Xr, rr)])]),
                                     REF))
    assert hv[-1] > np.percentile(hv_random, 90), (hv, np.percentile(hv_random, [50, 90]))


def test_two_learned_objectives_warm_start_and_spread_batch():
    rng = np.random.default_rng(3)
    X0 = rng.random((12, 2))
    Y0 = np.column_stack([X0[:, 0] + 0.02 * rng.normal(size=12), zdt_f2(X0, rng)])
    evaluations = [(x.tolist(), {"f1": a, "f2": b}) for x, (a, b) in zip(X0, Y0)]
    evaluations.append(([0.5, 0.5], {"f1": 0.5, "f2": float("nan")}))  # a failed job is kept but not modelled
    factory = default_surrogate_factory(num_steps=600, num_burn_in_steps=300, keep_every=20)
    proposer = MOBOProposer(2, [Objective("f1"), Objective("f2")], batch_size=6, n_initial=10,
                            surrogate_factory=factory, min_radius=0.05, seed=1)
    proposer.warm_start(evaluations)
    assert proposer.X.shape == (13, 2) and proposer.iterations.tolist() == [0] * 13
    X = proposer.propose(pending=np.array([[0.1, 0.1]]))
    info = proposer.last_info
    assert not info.initial_design and X.shape == (6, 2)
    assert np.all(info.lipschitz > 0) and np.all(info.radii >= 0.05)
    assert pairwise_ok(np.vstack([[0.1, 0.1], X]), np.concatenate([info.pending_radii, info.radii]))
    assert np.all(np.isfinite(info.log_volume[info.front >= 0]))
    assert set(info.fit_time_s) == {"f1", "f2"}
    Xp, Yp = proposer.pareto_front()
    assert np.all(np.isfinite(Yp)) and len(Xp) >= 1


def test_proposer_argument_checks():
    with pytest.raises(ValueError):
        MOBOProposer(2, ["error"])
    with pytest.raises(ValueError, match="learned"):
        MOBOProposer(2, [get_objective("params", compute=len), get_objective("macs", compute=len)])
    p = MOBOProposer(2, ["error", "memory"])
    with pytest.raises(ValueError):
        p.tell([[0.5, 1.5]], [[0.1, 1.0]])
    with pytest.raises(ValueError):
        p.tell([[0.5, 0.5]], [[0.1, 1.0, 3.0]])
