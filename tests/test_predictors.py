"""The predictors of the cell strategies: BANANAS's MLP ensemble, BONAS's GCN and Bayesian linear regression."""
from __future__ import annotations

import numpy as np
import pytest

from search.spaces.nb201 import NB201Cell, NB201Space
from search.strategies.predictors import GCN, GCNBLR, BayesianLinearRegression, MLPEnsemble, correlations

SPACE = NB201Space()


def synthetic_value(cell: NB201Cell) -> float:
    """A smooth made-up accuracy: convolutions help, `none` on the skip edge hurts, a bonus for one cell."""
    w = {"none": 0.0, "skip_connect": 1.0, "nor_conv_1x1": 2.0, "nor_conv_3x3": 3.0, "avg_pool_3x3": 0.5}
    v = 70.0 + sum(w[op] * (1 + 0.3 * i) for i, op in enumerate(cell.ops))
    return v + (5.0 if cell.ops[3] == "skip_connect" else 0.0)


class _Cells:
    def __init__(self) -> None:
        self.cells = SPACE.all_cells()
        self.val = np.array([synthetic_value(c) for c in self.cells])

    def __len__(self) -> int:
        return len(self.cells)


@pytest.fixture(scope="module")
def full_synthetic():
    return _Cells()


def test_mlp_ensemble_learns_and_is_reproducible(full_synthetic):
    rng = np.random.default_rng(0)
    idx = rng.choice(len(full_synthetic), 260, replace=False)
    X = np.stack([SPACE.encode(full_synthetic.cells[i], "adjacency") for i in idx])
    y = full_synthetic.val[idx]
    m = MLPEnsemble(seed=1, steps=150).fit(X[:60], y[:60])
    mean, std = m.predict(X[60:])
    assert correlations(mean, y[60:])["kendall"] > 0.6
    assert std.shape == mean.shape and np.all(std >= 0)
    mean2, _ = MLPEnsemble(seed=1, steps=150).fit(X[:60], y[:60]).predict(X[60:])
    assert np.allclose(mean, mean2)


def test_gcn_learns_on_small_data(full_synthetic):
    rng = np.random.default_rng(1)
    idx = rng.choice(len(full_synthetic), 300, replace=False)
    graphs = [SPACE.gcn_graph(full_synthetic.cells[i]) for i in idx]
    y = full_synthetic.val[idx]
    model = GCNBLR(GCN(seed=0, epochs=60, batch_size=32, lr=3e-3))
    model.fit_embedding(graphs[:100], y[:100]).fit(graphs[:100], y[:100])
    mean, std = model.predict(graphs[100:])
    assert correlations(mean, y[100:])["kendall"] > 0.5
    assert np.all(std > 0)


def test_blr_evidence_maximisation_recovers_noise():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    w = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    y = X @ w + 4.0 + rng.normal(scale=0.1, size=400)
    blr = BayesianLinearRegression().fit(X, y)
    mean, std = blr.predict(X[:10])
    assert np.allclose(mean, y[:10], atol=0.4)
    assert 1 / np.sqrt(blr.beta) == pytest.approx(0.1, rel=0.2)
    far = blr.predict(100 * np.ones((1, 5)))[1][0]
    assert far > std.max()  # more uncertain far from the data



class RecordingBLR(BayesianLinearRegression):
    """Keeps the targets of its last fit."""

    def fit(self, Phi, t):
        self.t = np.asarray(t, dtype=np.float64).copy()
        return super().fit(Phi, t)


def test_blr_keeps_new_bests_told_between_gcn_refits(full_synthetic):
    """BONAS retrains the GCN every few results but refits the BLR at every step. Two results better than any
    the GCN was trained on must stay the two best targets, in their order. (The earlier version scaled the
    BLR's targets with the last GCN fit's range and clipped them to [0, 1]: both became 1.0, flattened.)"""
    rng = np.random.default_rng(0)
    idx = rng.choice(len(full_synthetic), 32, replace=False)
    graphs = [SPACE.gcn_graph(full_synthetic.cells[i]) for i in idx]
    y = full_synthetic.val[idx].copy()
    model = GCNBLR(GCN(seed=0, epochs=30, batch_size=32, lr=3e-3, clip_quantile=0.1), RecordingBLR())
    model.fit_embedding(graphs[:30], y[:30])
    top, span = y[:30].max(), np.ptp(y[:30])
    y[30], y[31] = top + 0.2 * span, top + 0.5 * span   # new bests, told after the GCN's fit
    model.fit(graphs, y)
    t = model.blr.t
    assert t[31] > t[30] > t[:30].max(), t[29:]
    floor = np.quantile(y, 0.1)   # above the floor the targets keep the order of y
    above = y >= floor
    assert np.array_equal(np.argsort(t[above], kind="stable"), np.argsort(y[above], kind="stable"))
    assert model.hi > y.max() and model.lo < floor   # predictions are mapped back with this fit's range
    mean, std = model.predict(graphs)
    assert mean.shape == std.shape == (32,) and np.all(std > 0)
