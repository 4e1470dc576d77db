"""BNN surrogates (pybnn Bohamiann + SGHMC): the heteroscedastic model must beat the homoscedastic one on data
with input-dependent noise, and the posterior must be sensible."""
import importlib.util
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from search.mobo.surrogates import HeteroscedasticBNN, HomoscedasticBNN, gaussian_nll, rmse

ROOT = Path(__file__).resolve().parents[1]
STEPS = dict(num_steps=2000, num_burn_in_steps=1000, keep_every=20)  # 49 kept samples (steps 1020..1980)


def truth(x):
    return np.sin(6.0 * x[:, 0])


def noise_std(x):
    return 0.01 + 0.5 * x[:, 0] ** 2


def make_data(n, rng, lo=0.0, hi=0.8):
    X = rng.uniform(lo, hi, size=(n, 1))
    return X, truth(X) + noise_std(X) * rng.normal(size=n)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X, y = make_data(60, rng)
    Xt, yt = make_data(2000, rng)
    return X, y, Xt, yt


@pytest.fixture(scope="module")
def hetero(data):
    X, y, _, _ = data
    return HeteroscedasticBNN(seed=0, **STEPS).fit(X, y)


@pytest.fixture(scope="module")
def homo(data):
    X, y, _, _ = data
    return HomoscedasticBNN(seed=0, **STEPS).fit(X, y)


def test_heteroscedastic_beats_homoscedastic_in_heldout_nll(data, hetero, homo):
    _, _, Xt, yt = data
    nll_het = gaussian_nll(yt, *hetero.predict(Xt))
    nll_hom = gaussian_nll(yt, *homo.predict(Xt))
    # measured here with seeds 0-4 of this setup: gaps of 0.38 to 0.68 nats per point (seed 0: -0.80 against
    # -0.41); require a real margin
    assert nll_het < nll_hom - 0.25, (nll_het, nll_hom)
    # and it does not pay for it with a worse mean
    assert rmse(yt, hetero.predict(Xt)[0]) < rmse(yt, homo.predict(Xt)[0]) + 0.03


def test_posterior_is_sensible(data, hetero, homo):
    X, _, Xt, yt = data
    assert hetero.num_samples == 49  # pybnn keeps steps burn_in + k * keep_every, k >= 1, below num_steps
    p = hetero.predict_components(Xt)
    np.testing.assert_allclose(p.var, p.epistemic + p.aleatoric, rtol=1e-12)
    assert np.all(p.epistemic >= 0) and np.all(p.aleatoric > 0)
    # the mean follows the function (the noise std reaches 0.33 at the right edge)
    assert rmse(truth(Xt), p.mean) < 0.12
    # calibrated-ish 95 % intervals on held-out data
    z = np.abs(yt - p.mean) / np.sqrt(p.var)
    coverage = float(np.mean(z < 1.96))
    assert 0.85 <= coverage <= 0.995, coverage
    # the noise model tracks the input-dependent noise: quiet on the left, loud on the right
    lo, hi = Xt[:, 0] < 0.2, Xt[:, 0] > 0.6
    assert np.sqrt(p.aleatoric[hi]).mean() > 3.0 * np.sqrt(p.aleatoric[lo]).mean()
    est, true = np.sqrt(p.aleatoric), noise_std(Xt)
    assert np.corrcoef(est, true)[0, 1] > 0.8
    # the homoscedastic model has one noise level everywhere
    q = homo.predict_components(Xt)
    assert np.ptp(q.aleatoric) <= 1e-9 * q.aleatoric.mean()
    # epistemic uncertainty grows away from the data (training inputs lie in [0, 0.8])
    inside = hetero.predict_components(np.linspace(0.1, 0.7, 50)[:, None]).epistemic.mean()
    outside = hetero.predict_components(np.linspace(1.3, 1.6, 50)[:, None]).epistemic.mean()
    assert outside > 3.0 * inside, (inside, outside)


def test_predict_matches_pybnn_combination(data, hetero):
    """Our split into epistemic/aleatoric must sum to what pybnn's own Bohamiann.predict returns."""
    _, _, Xt, _ = data
    mean_ref, var_ref = hetero.model.predict(Xt[:200])
    mean, var = hetero.predict(Xt[:200])
    np.testing.assert_allclose(mean, mean_ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(var, var_ref, rtol=1e-10, atol=1e-14)


def test_mean_gradient_matches_finite_differences(hetero):
    X = np.array([[0.1], [0.35], [0.7]])
    h = 1e-5
    fd = (hetero.predict(X + h)[0] - hetero.predict(X - h)[0]) / (2 * h)
    np.testing.assert_allclose(hetero.mean_gradient(X)[:, 0], fd, rtol=1e-4, atol=1e-6)


def test_fit_is_reproducible_and_leaves_global_state_alone():
    rng = np.random.default_rng(1)
    X = rng.random((30, 3))
    X[:, 2] = 0.5  # a constant column must not produce NaNs (pybnn would divide by a zero std)
    y = X[:, 0] - X[:, 1] + 0.05 * rng.normal(size=30)
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    threads = torch.get_num_threads()
    kw = dict(num_steps=200, num_burn_in_steps=100, keep_every=10, seed=7)
    a = HeteroscedasticBNN(**kw).fit(X, y).predict(X)
    b = HeteroscedasticBNN(**kw).fit(X, y).predict(X)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.get_num_threads() == threads
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert np.all(np.isfinite(a[0])) and np.all(np.isfinite(a[1]))
    c = HeteroscedasticBNN(**{**kw, "seed": 8}).fit(X, y).predict(X)
    assert not np.array_equal(a[0], c[0])
    # constant targets are fine too
    m, v = HomoscedasticBNN(**kw).fit(X, np.full(30, 2.0)).predict(X)
    assert np.all(np.isfinite(m)) and np.all(np.isfinite(v))


def test_diverged_chains_are_caught_not_passed_on():
    """A blown-up SGHMC chain (here forced by a far too large step) must never reach the acquisition."""
    rng = np.random.default_rng(0)
    X = rng.random((20, 2))
    model = HeteroscedasticBNN(num_steps=200, num_burn_in_steps=100, keep_every=10, lr=1.0, max_retries=1)
    with pytest.warns(RuntimeWarning, match="re-running the sampler"), pytest.raises(RuntimeError, match="diverged"):
        model.fit(X, X[:, 0])
    assert model.model is None
    # a step that blows up some samples: those are dropped, the rest is finite
    model = HeteroscedasticBNN(num_steps=200, num_burn_in_steps=100, keep_every=10, lr=0.1).fit(X, X[:, 0])
    assert model.dropped_samples + model.num_samples == 9 and model.num_samples >= 4
    assert np.all(np.isfinite(model.predict(X)[1]))


def test_invalid_arguments():
    with pytest.raises(ValueError, match="counts burn-in"):
        HeteroscedasticBNN(num_steps=1000, num_burn_in_steps=1000)
    with pytest.raises(ValueError):
        HeteroscedasticBNN(num_steps=1100, num_burn_in_steps=1000, keep_every=100)
    with pytest.raises(ValueError, match="non-finite"):
        HeteroscedasticBNN(num_steps=300, num_burn_in_steps=150, keep_every=10).fit(
            np.zeros((5, 1)), np.array([0.0, 1.0, np.nan, 2.0, 3.0]))
    with pytest.raises(RuntimeError):
        HeteroscedasticBNN().predict(np.zeros((1, 1)))


def test_gaussian_nll_formula():
    assert gaussian_nll([0.0], [0.0], [1.0]) == pytest.approx(0.5 * math.log(2 * math.pi))
    assert gaussian_nll([1.0, 3.0], [0.0, 1.0], [4.0, 4.0]) == pytest.approx(
        0.5 * math.log(2 * math.pi * 4.0) + 0.5 * (0.25 + 1.0) / 2)


def test_surrogate_table_script_runs_on_a_jsonl_file(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("surrogate_table", ROOT / "experiments" / "surrogate_table.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    records = mod.synthetic_evaluations(n=30, dim=3, seed=0)
    records[3]["objectives"]["memory"] = None  # a failed measurement is dropped for that objective only
    path = tmp_path / "evals.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path / "table.json"
    rc = mod.main(["--data", str(path), "--splits", "2", "--num-steps", "200", "--burn-in", "100",
                   "--keep-every", "10", "--out", str(out), "--quiet"])
    assert rc == 0
    text = capsys.readouterr().out
    assert "| error | raw | heteroscedastic |" in text and "| memory | log | homoscedastic |" in text
    assert "| memory | log | blr |" in text
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 6
    assert {r["n"] for r in rows if r["objective"] == "memory"} == {29}
    assert all(len(r["nll"]) == 2 and np.isfinite(r["nll_median"]) for r in rows)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": [0.1]}\n')
    assert mod.main(["--data", str(bad), "--quiet"]) == 2
