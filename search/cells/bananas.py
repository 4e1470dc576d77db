"""BANANAS (White, Neiswanger, Savani 2021): Bayesian optimisation with an ensemble of neural predictors.

Each step after `num_init` random architectures (default 10):

1. encode every observed architecture (`encoding`, default `path_contracted`, see below; BANANAS's own
   `path`, `path_trunc` and `adjacency` are there too) and fit an ensemble of `n_models` (5) MLPs to their
   validation accuracy (`search.cells.predictors.MLPEnsemble`, retrained from scratch every `fit_every`
   queries, default every one);
2. make `num_candidates` (100) candidates by single mutations of the best `num_parents` (10) architectures
   observed so far (round robin, best first), deduplicated among themselves and against everything
   already queried (`max_edits` > 1 allows up to that many successive mutations per candidate;
   `parents="tournament"` draws parents as BONAS's evolutionary sampler does instead);
3. score them with the acquisition function and query the best `batch_size` (default 1) of them.

Option `walk_steps` (default 0, off): also score the unqueried architectures met on greedy walks of that many
steps on the predicted mean, from each of the best `num_parents` architectures (each step moves to the
neighbour with the highest prediction). Mutations alone never reach an architecture more than one edit from
the best ones, so a search whose best architectures sit in another basin waits for them to change even when
the predictor already ranks the optimum near the top (seen on NAS-Bench-201). With `walk_steps=3`, on the
NAS-Bench-201 CIFAR-10 table (50 seeds) the mean number of queries to the best-validation architecture went
from 88.3 to 67.5 (median 66.5 to 60.5, worst seed 722 to 254).

Acquisitions (of accuracy, to maximise), with mu and sigma the ensemble's mean and standard deviation:
``its`` (default) independent Thompson sampling, one draw from N(mu, sigma^2) per candidate;
``ucb`` mu + `ucb_kappa` sigma; ``ei`` expected improvement over the best observed accuracy.

Encoding. The default is the path encoding with skip connections contracted: a path is the sequence of its
non-identity ops, so ``conv3x3 -> skip`` and a lone ``conv3x3`` edge (the same function) share a feature. In
NAS-Bench-101 there is no identity op and it equals BANANAS's path encoding. On NAS-Bench-201 BANANAS's
path encoding gives every skip placement its own features; trained on the architectures a search has
queried (one region of the space) the ensemble then rated the best architecture below thousands of others
and the search stalled in other basins (mean queries to the best architecture above 200 on 10 seeds, against
about 60 with the contracted encoding; `experiments/predictor_study.py` and `bench_cell_search.py --param
encoding=path` reproduce the comparison).

Differences from the authors' code (naszilla): the predictor is 3 x 32 wide (theirs 10 x 20) and trained full
batch for 200 Adam steps (theirs 200 epochs of batch 32): the study in `experiments/predictor_study.py` finds
it ranks as well on NAS-Bench-201 at a fraction of the cost; candidates are single mutations (theirs mutate
each edge with probability 1/4, so a candidate is 0 to 6 edits away); one architecture is queried per model
fit by default (theirs 10).
"""
from __future__ import annotations

import numpy as np
from scipy.stats import norm

from .predictors import MLPEnsemble
from .strategies import Searcher

ACQUISITIONS = ("its", "ucb", "ei")


def acquisition_scores(mean: np.ndarray, std: np.ndarray, kind: str, best: float, rng: np.random.Generator,
                       ucb_kappa: float = 1.0) -> np.ndarray:
    """Higher is better for every kind."""
    if kind == "its":
        return rng.normal(mean, np.maximum(std, 1e-12))
    if kind == "ucb":
        return mean + ucb_kappa * std
    if kind == "ei":
        s = np.maximum(std, 1e-12)
        z = (mean - best) / s
        return (mean - best) * norm.cdf(z) + s * norm.pdf(z)
    raise ValueError(f"acquisition must be one of {', '.join(ACQUISITIONS)}, got {kind!r}")


class BANANAS(Searcher):
    name = "bananas"

    def __init__(self, space, seed: int = 0, num_init: int = 10, num_candidates: int = 100,
                 num_parents: int = 10, acquisition: str = "its", encoding: str = "path_contracted",
                 batch_size: int = 1, fit_every: int = 1, ucb_kappa: float = 1.0, max_edits: int = 1,
                 parents: str = "top", population_size: int = 30, tournament_size: int = 10, walk_steps: int = 0,
                 predictor: dict | None = None) -> None:
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"bananas: acquisition must be one of {', '.join(ACQUISITIONS)}, got {acquisition!r}")
        if encoding not in space.encodings:
            raise ValueError(f"bananas: encoding must be one of {', '.join(space.encodings)}, got {encoding!r}")
        if parents not in ("top", "tournament"):
            raise ValueError(f"bananas: parents must be 'top' or 'tournament', got {parents!r}")
        if num_init < 2 or num_candidates < 1 or num_parents < 1 or batch_size < 1 or fit_every < 1:
            raise ValueError("bananas: num_init >= 2, num_candidates, num_parents, batch_size, fit_every >= 1")
        super().__init__(space, seed)
        self.num_init, self.num_candidates, self.num_parents = num_init, num_candidates, num_parents
        self.acquisition, self.encoding, self.batch_size = acquisition, encoding, batch_size
        self.fit_every, self.ucb_kappa, self.max_edits = fit_every, ucb_kappa, max_edits
        self.parents, self.population_size, self.tournament_size = parents, population_size, tournament_size
        self.walk_steps = walk_steps
        self.model = MLPEnsemble(seed=seed, **(predictor or {}))
        self._fitted_at = -1
        self._queue: list = []

    def _fit(self) -> None:
        X = np.stack([self.space.encode(c, self.encoding) for c, _ in self.history])
        y = np.array([v for _, v in self.history])
        self.model.fit(X, y)
        self._fitted_at = len(self.history)

    def _walks(self, cands: list) -> list:
        """Unqueried architectures met on greedy walks (on the predicted mean) from the best parents."""
        keys = {self.space.hash(c) for c in cands}
        extra = []
        for parent, _ in self.best(self.num_parents):
            cur = parent
            for _ in range(self.walk_steps):
                nbrs = self.space.neighbours(cur)
                mean, _ = self.model.predict(np.stack([self.space.encode(c, self.encoding) for c in nbrs]))
                cur = nbrs[int(np.argmax(mean))]
                h = self.space.hash(cur)
                if h not in self.seen and h not in keys:
                    keys.add(h)
                    extra.append(cur)
        return extra

    def _propose(self):
        early = self.initial_or_queued(self.num_init, self._queue)
        if early is not None:
            return early
        if self._fitted_at < 0 or len(self.history) - self._fitted_at >= self.fit_every:
            self._fit()
        if self.parents == "top":
            parents = [c for c, _ in self.best(self.num_parents)]
            cands = self.mutation_candidates(parents, self.num_candidates, max_edits=self.max_edits)
        else:
            cands = self.tournament_candidates(self.num_candidates, self.population_size, self.tournament_size)
        if self.walk_steps > 0:
            cands += self._walks(cands)
        if not cands:
            return self.random_new()
        mean, std = self.model.predict(np.stack([self.space.encode(c, self.encoding) for c in cands]))
        best = max(v for _, v in self.history)
        scores = acquisition_scores(mean, std, self.acquisition, best, self.rng, self.ucb_kappa)
        order = np.argsort(-scores, kind="stable")
        self._queue = [cands[int(i)] for i in order[1:self.batch_size]]
        return cands[int(order[0])]
