"""Cell search: tables, predictors, the five strategies, the runner and report, the CLI sub-commands."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from search.cells.nb201 import NB201Cell, NB201Space
from search.cells.predictors import GCN, GCNBLR, BayesianLinearRegression, MLPEnsemble, correlations
from search.cells.runner import load_trajectories, run_seeds, write_report
from search.cells.strategies import STRATEGIES, make_searcher, run
from search.cells.tables import Evaluation, RestrictedSpace, TableOracle, load_table

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
NB201_CSV = SHARED / "nb201" / "nb201_cifar10.csv"
NB101_JSON = SHARED / "nb101" / "nb101_500.json"
needs_nb201 = pytest.mark.skipif(not NB201_CSV.is_file(), reason=f"NAS-Bench-201 table not found at {NB201_CSV} "
                                 "(../shared/data is absent beside this checkout)")
needs_nb101 = pytest.mark.skipif(not NB101_JSON.is_file(), reason=f"NAS-Bench-101 table not found at {NB101_JSON} "
                                 "(../shared/data is absent beside this checkout)")

SPACE = NB201Space()


def synthetic_value(cell: NB201Cell) -> float:
    """A smooth made-up accuracy: convolutions help, `none` on the skip edge hurts, a bonus for one cell."""
    w = {"none": 0.0, "skip_connect": 1.0, "nor_conv_1x1": 2.0, "nor_conv_3x3": 3.0, "avg_pool_3x3": 0.5}
    v = 70.0 + sum(w[op] * (1 + 0.3 * i) for i, op in enumerate(cell.ops))
    return v + (5.0 if cell.ops[3] == "skip_connect" else 0.0)


def write_csv(path: Path, cells, extra_rows: list[str] = ()) -> Path:
    lines = ["nb201_index,arch_str,cifar10_valid_acc,cifar10_test_acc"]
    for i, c in enumerate(cells):
        v = synthetic_value(c)
        lines.append(f"{i},{c.to_str()},{v:.3f},{v + 1.5:.3f}")
    lines += list(extra_rows)
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def full_synthetic(tmp_path_factory):
    path = write_csv(tmp_path_factory.mktemp("tab") / "full.csv", SPACE.all_cells())
    return load_table(path, SPACE)


# ------------------------------------------------------------------------------------------------ tables

def test_table_loads_once_and_looks_up(full_synthetic):
    again = load_table(full_synthetic.path, "nb201")
    assert again is full_synthetic  # cached: one copy shared by every space, oracle and searcher
    assert len(full_synthetic) == 15625 and full_synthetic.val_column == "cifar10_valid_acc"
    oracle = TableOracle(full_synthetic, SPACE)
    cell = NB201Cell(("nor_conv_3x3",) * 3 + ("skip_connect",) + ("nor_conv_3x3",) * 2)
    ev = oracle(cell)
    assert ev.val == pytest.approx(synthetic_value(cell), abs=1e-3) and ev.test == pytest.approx(ev.val + 1.5)
    assert oracle.is_best_val(cell)


def test_malformed_table_lines_and_columns(tmp_path):
    cells = [SPACE.sample(np.random.default_rng(i)) for i in range(3)]
    bad = write_csv(tmp_path / "bad.csv", cells, ["3,|nor_conv_3x3~0|+|oops~0|none~1|+|none~0|none~1|none~2|,1,2"])
    with pytest.raises(ValueError, match=r"line 5: .*unknown op 'oops'") as err:
        load_table(bad, SPACE)
    assert "\n" not in str(err.value)
    nonnum = write_csv(tmp_path / "nonnum.csv", cells, [f"3,{cells[0].to_str()},high,2"])
    with pytest.raises(ValueError, match="line 5: column 'cifar10_valid_acc' is not a number"):
        load_table(nonnum, SPACE)
    ok = write_csv(tmp_path / "ok.csv", cells)
    with pytest.raises(ValueError, match="no column 'val_top1'"):
        load_table(ok, SPACE, val_column="val_top1")
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("arch,acc\nx,1\n")
    with pytest.raises(ValueError, match="no column 'arch_str'"):
        load_table(nocol, SPACE)
    with pytest.raises(FileNotFoundError):
        load_table(tmp_path / "missing.csv", SPACE)


def test_nb101_json_table(tmp_path):
    good = {"cifar10": {str(tuple([0, 1, 0, 0, 0, 1, 0, 0, 0] + [0, 4, 1])): {"val_accuracy": 90.0},
                        str(tuple([0, 0, 1, 0, 0, 0, 0, 0, 0] + [0, 3, 1])): {"val_accuracy": 80.0}}}
    p = tmp_path / "t.json"
    p.write_text(json.dumps(good))
    t = load_table(p, "nb101")
    assert len(t) == 2 and not t.has_test and t.val[t.best_val_index] == 90.0
    bad = {"cifar10": {"(0, 1, 2)": {"val_accuracy": 1.0}}}
    p2 = tmp_path / "bad.json"
    p2.write_text(json.dumps(bad))
    with pytest.raises(ValueError, match="entry 1: malformed architecture key"):
        load_table(p2, "nb101")


@needs_nb101
def test_shared_nb101_table_merges_duplicate_architectures():
    t = load_table(NB101_JSON, "nb101")
    assert len(t) + t.duplicates == 500 and len(t) < 500


# -------------------------------------------------------------------------------------------- predictors

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


# -------------------------------------------------------------------------------------------- strategies

class SyntheticOracle:
    def __init__(self, table):
        self.table = table
        self.calls = []

    def __call__(self, cell):
        self.calls.append(SPACE.hash(cell))
        v = synthetic_value(cell)
        return Evaluation(val=v, test=v + 1.5)


FAST = {"bananas": {"predictor": {"steps": 60}}, "bonas": {"gcn": {"epochs": 30}}}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_never_repeats_and_improves(strategy, full_synthetic):
    oracle = SyntheticOracle(full_synthetic)
    queries = 30
    out = run(strategy, SPACE, oracle, queries=queries, seed=3, **FAST.get(strategy, {}))
    assert len(out) == queries
    assert len(set(oracle.calls)) == queries  # unique queries only
    vals = [ev.val for _, ev in out]
    assert max(vals) >= max(vals[:10])
    again = run(strategy, SPACE, SyntheticOracle(full_synthetic), queries=15, seed=3, **FAST.get(strategy, {}))
    assert [SPACE.hash(c) for c, _ in again] == [SPACE.hash(c) for c, _ in out[:15]]  # reproducible


def test_strategy_parameters_are_checked():
    with pytest.raises(ValueError, match="acquisition"):
        make_searcher("bananas", SPACE, acquisition="pi")
    with pytest.raises(ValueError, match="strategy must be one of"):
        make_searcher("darts", SPACE)
    with pytest.raises(ValueError, match="bad parameters"):
        make_searcher("evolution", SPACE, colour="red")


@pytest.mark.parametrize("acq", ["ucb", "ei"])
def test_bananas_other_acquisitions(acq, full_synthetic):
    out = run("bananas", SPACE, SyntheticOracle(full_synthetic), queries=16, seed=0, acquisition=acq,
              predictor={"steps": 60})
    assert len({SPACE.hash(c) for c, _ in out}) == 16


def test_restricted_space_for_partial_tables(tmp_path):
    cells = [SPACE.sample(np.random.default_rng(i)) for i in range(60)]
    table = load_table(write_csv(tmp_path / "part.csv", cells), SPACE)
    space = RestrictedSpace(SPACE, table)
    oracle = TableOracle(table, space)
    out = run("evolution", space, oracle, queries=30, seed=0, population_size=10, tournament_size=3)
    assert len({space.hash(c) for c, _ in out}) == 30 and all(oracle.contains(c) for c, _ in out)


# ---------------------------------------------------------------------------------------- runner, report

def test_runner_until_best_writes_trajectories_and_report(tmp_path, full_synthetic):
    oracle = TableOracle(full_synthetic, SPACE)
    trajs = run_seeds("local", SPACE, oracle, seeds=[0, 1], queries=30, run_dir=tmp_path, until_best=True,
                      max_queries=2000, workers=2)
    assert all(t.found_at is not None and len(t.records) >= 30 for t in trajs)
    back = load_trajectories(tmp_path, "local")
    assert [len(t.records) for t in back] == [len(t.records) for t in trajs]
    rec = back[0].records[-1]
    assert {"query", "arch", "val", "test", "best_val", "best_test"} <= set(rec)
    summary = write_report({"local": trajs}, tmp_path / "report", horizon=30, checkpoints=(10, 30))
    assert summary["local"]["queries_to_best_mean"] == pytest.approx(np.mean([t.found_at for t in trajs]))
    assert (tmp_path / "report" / "best_so_far.png").stat().st_size > 1000
    assert "| local |" in (tmp_path / "report" / "report.md").read_text()


# --------------------------------------------------------------------------------------------------- CLI

def _parser():
    from nago.commands.cellsearch import register_cell_methods

    p = argparse.ArgumentParser()
    register_cell_methods(p.add_subparsers(dest="strategy", required=True))
    return p


def test_cli_on_a_partial_table(tmp_path, capsys):
    cells = [SPACE.sample(np.random.default_rng(i)) for i in range(80)]
    csv = write_csv(tmp_path / "t.csv", cells)
    args = _parser().parse_args(["evolution", "--benchmark", str(csv), "--queries", "20", "--seeds", "2",
                                 "--run-dir", str(tmp_path / "run"), "--population-size", "10",
                                 "--tournament-size", "3"])
    assert args.func(args) == 0
    assert len(list((tmp_path / "run" / "evolution").glob("seed_*.jsonl"))) == 2
    assert "report:" in capsys.readouterr().out
    with pytest.raises(FileExistsError):
        args.func(args)


def test_cli_bad_input(tmp_path):
    from nago.commands.cellsearch import run_cell_random

    p = _parser()
    with pytest.raises(ValueError, match="--space must be nb201 or nb101"):
        a = p.parse_args(["local", "--space", "darts", "--benchmark", "x.csv", "--run-dir", str(tmp_path)])
        a.func(a)
    with pytest.raises(ValueError, match="give --benchmark FILE"):
        a = p.parse_args(["bananas", "--run-dir", str(tmp_path)])
        a.func(a)
    ns = argparse.Namespace(space="nb201", benchmark=str(tmp_path / "none.csv"), run_dir=str(tmp_path / "r"))
    with pytest.raises(FileNotFoundError):
        run_cell_random(ns)
    ns = argparse.Namespace(space="nb201", dataset="digits", run_dir=str(tmp_path / "r2"), train_options=["colour=red"],
                            queries=1)
    with pytest.raises(ValueError, match="training options"):
        run_cell_random(ns)


def test_training_oracle_end_to_end(tmp_path):
    from nago.commands.cellsearch import run_cell_random

    ns = argparse.Namespace(space="nb201", train=True, dataset="digits", epochs=0.2, channels=4, cells=1,
                            queries=2, seeds=1, run_dir=str(tmp_path / "r"), device="cpu", quiet=True,
                            train_options=["lr=0.05", "batch_size=32"])
    assert run_cell_random(ns) == 0
    recs = [json.loads(x) for x in (tmp_path / "r" / "random" / "seed_0.jsonl").read_text().splitlines()]
    assert len(recs) == 2 and all(0 <= r["val"] <= 100 and r["info"]["params"] > 0 for r in recs)


# ------------------------------------------------------------------------------------- the shared table

@needs_nb201
def test_short_search_on_the_shared_nb201_table(tmp_path):
    table = load_table(NB201_CSV, SPACE)
    assert len(table) == 15625 and table.has_test
    oracle = TableOracle(table, SPACE)
    results = {}
    for strategy in ("random", "bananas", "bonas"):
        results[strategy] = run_seeds(strategy, SPACE, oracle, seeds=[0], queries=30, run_dir=tmp_path)
    summary = write_report(results, tmp_path, horizon=30, checkpoints=(30,))
    for strategy, s in summary.items():
        assert 85.0 < s["at"][30]["val_mean"] <= 91.61
        assert s["at"][30]["test_mean"] is not None
    assert summary["bananas"]["at"][30]["val_mean"] >= 89.0
