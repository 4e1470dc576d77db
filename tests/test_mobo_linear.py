"""The pairwise Bayesian linear surrogate of MOBO on cell spaces (`search.mobo.linear`)."""
from __future__ import annotations

import numpy as np
import pytest

from search.mobo.linear import PairwiseBLR, one_hot_groups
from search.spaces import make_space


def one_hot(rng, n: int, coords: int = 6, k: int = 5) -> np.ndarray:
    return np.eye(k)[rng.integers(k, size=(n, coords))].reshape(n, coords * k)


def test_features_are_the_vector_and_its_cross_coordinate_pairs():
    space = make_space("nb201")
    groups = one_hot_groups(space.vector_kinds)
    assert groups.tolist() == [c for c in range(6) for _ in range(5)]
    x = space.one_hot_vector(space.sample(np.random.default_rng(0)))
    f = PairwiseBLR(groups).features(x)
    assert f.shape == (1, 30 + 15 * 25)
    # one op per edge: exactly one product per pair of edges is on; none within an edge
    assert f[0, :30].sum() == 6 and f[0, 30:].sum() == 15
    assert one_hot_groups([0, 2, 4]).tolist() == [0, 1, 2, 2, 2, 2]


def test_a_pairwise_function_is_learned_and_a_linear_one_is_not_enough():
    """Evidence (can fail): y depends on which ops sit together on edges 0 and 1; 300 training points.
    The held-out error of the pairwise model is a fraction of the one of a plain linear model."""
    rng = np.random.default_rng(0)
    X, Xt = one_hot(rng, 300), one_hot(rng, 500)
    table = rng.normal(size=(5, 5))

    def f(X):
        a, b = X[:, :5].argmax(1), X[:, 5:10].argmax(1)
        return 1.0 + 0.3 * X[:, 10:15] @ np.arange(5.0) + table[a, b]

    y = f(X) + rng.normal(0, 0.05, size=300)
    pair = PairwiseBLR(one_hot_groups([5] * 6), log_targets=False).fit(X, y)
    plain = PairwiseBLR(np.zeros(30, dtype=int), log_targets=False).fit(X, y)  # one group: no products
    err_pair = np.sqrt(np.mean((pair.predict(Xt)[0] - f(Xt)) ** 2))
    err_plain = np.sqrt(np.mean((plain.predict(Xt)[0] - f(Xt)) ** 2))
    assert err_pair < 0.2 and err_pair < 0.25 * err_plain, (err_pair, err_plain)
    mean, var = pair.predict(Xt)
    assert np.all(var > 0) and 0.5 < np.mean(np.abs(mean - f(Xt)) / np.sqrt(var)) < 2.0


def test_positive_targets_are_modelled_on_a_log_scale():
    rng = np.random.default_rng(1)
    X = one_hot(rng, 80)
    y = np.exp(X @ rng.normal(size=30))
    model = PairwiseBLR(one_hot_groups([5] * 6)).fit(X, y)
    mean, var = model.predict(X)
    assert np.all(mean > 0) and np.all(var > 0)
    assert np.allclose(np.log(mean), np.log(y), atol=0.1)
    # a target with a non-positive value is modelled as it is
    y[0] = -1.0
    assert np.isclose(PairwiseBLR(one_hot_groups([5] * 6)).fit(X, y).predict(X[:1])[0][0], -1.0, atol=0.3)


def test_misuse_is_one_line():
    with pytest.raises(RuntimeError, match="call fit before predict"):
        PairwiseBLR().predict(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="groups: 2 entries for 3 input columns"):
        PairwiseBLR([0, 1]).fit(np.zeros((4, 3)), np.ones(4))
