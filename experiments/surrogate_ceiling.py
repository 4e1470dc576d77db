"""Where MOBO's hypervolume on NB201 is lost: the model class, or the data it is fitted on?

    uv run python experiments/surrogate_ceiling.py [--seeds 10]

The two-objective NB201 search (validation error, exact params; `bench_strategies.py --parts nb201-mo`) is run
with the real `mobo` strategy and its default settings on cells (greedy optimistic HVI, kappa 0.5, batches of
8, the candidate pool), but its error surrogate is replaced by a *frozen* model: fitted once on many cells of
the whole table, then used unchanged at every ask (its `fit` ignores the search's data). A frozen model shows
the ceiling of its model class: how far the search gets when data are not the limit. Rows:

- `in the loop`: the default, the pairwise Bayesian linear regression refitted on the search's own results;
- `pairwise, all cells`: the same model class fitted on all 15,625 cells;
- `pairwise, good cells`: fitted on the cells with validation error under --good (default 15 %);
- `third order, good cells`: one-hot, pairwise and three-edge products (2,905 features), fitted on the same
  good cells.

Fraction of the true front's hypervolume after 50 / 100 / 200 evaluations, mean ± std over seeds. If a row
fitted on all cells is no better than the loop, more data would not help that model class: its features (or
a global fit dominated by broken cells) are the limit.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench_strategies import (CHECKPOINTS, NB201, error_params, hv_fractions, mean_std, run_one, table,  # sibling
                              true_front)
from search.evaluators.tabular import TabularEvaluator
from search.mobo.linear import PairwiseBLR, one_hot_groups
from search.spaces import make_space


class ThirdOrderBLR(PairwiseBLR):
    """`PairwiseBLR` plus the products of every three columns of three different coordinates."""

    def __init__(self, groups: np.ndarray, **kwargs: Any) -> None:
        super().__init__(groups, **kwargs)
        triples = [t for t in itertools.combinations(range(len(self.groups)), 3)
                   if len({self.groups[c] for c in t}) == 3]
        self._triples = tuple(np.array(column) for column in zip(*triples))

    def features(self, X: np.ndarray) -> np.ndarray:
        X = np.atleast_2d(np.asarray(X, dtype=np.float64))
        i, j, k = self._triples
        return np.hstack([super().features(X), X[:, i] * X[:, j] * X[:, k]])


class Frozen:
    """A surrogate that was fitted before the search: `fit` ignores the search's data."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def fit(self, X: np.ndarray, y: np.ndarray) -> "Frozen":
        return self

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.model.predict(X)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--good", type=float, default=0.15, help="validation error under which a cell is good")
    args = parser.parse_args(argv)
    if not NB201.is_file():
        print(f"surrogate_ceiling: no NB201 table at {NB201}; nothing to measure", file=sys.stderr)
        return 1
    space = make_space("nb201")
    evaluator = TabularEvaluator(space, NB201)
    ref, true_hv, _ = true_front(evaluator)
    X = np.array([space.one_hot_vector(cell) for cell in evaluator.table.cells])
    error = 1.0 - np.asarray(evaluator.table.val, dtype=np.float64) / 100.0
    good = error < args.good
    groups = one_hot_groups(space.vector_kinds)
    frozen = {
        "pairwise, all cells": PairwiseBLR(groups).fit(X, error),
        f"pairwise, good cells (error < {args.good:g}, {good.sum()} cells)": PairwiseBLR(groups).fit(X[good],
                                                                                                 error[good]),
        f"third order, good cells (error < {args.good:g})": ThirdOrderBLR(groups).fit(X[good], error[good]),
    }
    rows = []
    with tempfile.TemporaryDirectory(prefix="nago-ceiling-") as tmp:
        for label, model in [("in the loop (the default)", None)] + list(frozen.items()):
            t0 = time.perf_counter()
            fractions = []
            for seed in range(args.seeds):
                patch = None if model is None else (lambda strategy, m=model: setattr(
                    strategy.proposer, "surrogate_factory", lambda objective, s: Frozen(m)))
                recs = run_one("mobo", space, evaluator, seed, max(CHECKPOINTS), Path(tmp),
                               objectives=["error", "params"], options={"batch_size": 8}, workers=8,
                               prepare=patch)
                fractions.append(hv_fractions(error_params(recs), true_hv, ref))
            rows.append([label, args.seeds] + [mean_std([f[k] for f in fractions]) for k in CHECKPOINTS]
                        + [f"{(time.perf_counter() - t0) / args.seeds:.1f}"])
            print(f"  {rows[-1]}", file=sys.stderr, flush=True)
    print("NB201 CIFAR-10, two objectives (validation error, params); mobo's default on cells with its error "
          "surrogate frozen after a fit on table cells; fraction of the true front's hypervolume.\n")
    print(table(["error surrogate", "seeds"] + [f"after {k}" for k in CHECKPOINTS] + ["s per seed"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
