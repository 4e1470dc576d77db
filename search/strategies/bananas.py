"""`bananas`: BANANAS (White, Neiswanger and Savani, 2021): Bayesian optimisation with an ensemble of neural
predictors, single-objective, on any space.

After `num_init` (10) successful random points, each model step:

1. encodes every told point (`encoding`: `path_contracted` on cell spaces, see below; BANANAS's own `path`,
   `path_trunc` and `adjacency` are there too; on spaces without path encodings, such as hnag and rnag, the
   only one is `vector`, the unit-hypercube coordinates, which is then the default) and fits an ensemble of
   `n_models` (5) MLPs to minus their loss (`predictors.MLPEnsemble`, retrained from scratch every
   `fit_every` told results, default every one);
2. makes candidates, deduplicated among themselves and against every point proposed before (pending ones
   included):
   - `num_candidates` (100) single mutations (`space.mutate`) of the best `num_parents` (10) told points,
     round robin, best first (`max_edits` > 1 allows up to that many successive mutations per candidate;
     `parents="tournament"` draws parents as BONAS's evolutionary sampler does instead). When those give fewer
     than `num_candidates` new points, the parents widen to the next best told points (ranks 11-20, then
     21-40, ...) until the pool is full or every told point was a parent;
   - the unproposed points met on greedy walks of `walk_steps` (3) steps on the predicted mean from each of the
     best `num_parents` points (each step moves to the neighbour, `space.neighbours`, with the best
     prediction, seen or not);
   - `num_random` (10) random new points;
3. scores them with the acquisition and proposes the best ones (`batch_size` per fit, default 1; a batch of n
   asked at once is the best n of one fit).

Acquisitions (of minus the loss, to maximise), with mu and sigma the ensemble's mean and standard deviation:
``its`` (default) independent Thompson sampling, one draw from N(mu, sigma^2) per candidate; ``ucb`` mu +
`ucb_kappa` sigma; ``ei`` expected improvement over the best told value.

Pending jobs and failures (the rule for this sequential method): the model is fitted on told results only, and
pending points are never candidates again; results may be told in any order. A failed result is fitted with
the worst finite loss told so far (see `sampling.model_targets`).

The stall, and why the candidates go beyond single mutations of the top 10. With only single mutations of the
best 10 points (the previous version), every candidate is one edit from the current best points. When those
sit in another basin than the optimum and the search has proposed their whole neighbourhood (at most 240
points on NAS-Bench-201), the pool is empty and every later step was a blind random point: BANANAS became
random search, whose mean on NAS-Bench-201 is about 7,700 queries. It happens when the optimum's own
neighbours are not among the best 10 points found, e.g. when the best validation score is a good architecture
with a lucky draw of validation noise, as on data sets with small validation sets. Widening the parents keeps
every step model-guided (the guaranteed part: the pool is empty only when every neighbour of every told point
was proposed); greedy walks on the predictor reach points two or three edits away that it already rates
highly, and random candidates let it jump to another basin when it rates one higher.

Measured on the NAS-Bench-201 CIFAR-10 table (sequential, at most 1,000 queries; queries until an
architecture of the best validation score; "before" is the previous version, with single mutations of the
top 10 only; each cell: seeds that found it within 300 / within 1,000 queries, mean (median) queries of those):

| landscape searched | seeds | before | after |
|---|---|---|---|
| validation accuracy (%) + N(0, 0.3^2) noise, one draw (seed 1015) | 10 | 5 / 5, 149 (147) | 10 / 10, 100.5 (100) |
| validation accuracy + N(0, 0.3^2) noise, a draw per seed | 20 | 18 / 19, 106 (88) | 18 / 20, 171 (138.5) |
| validation accuracy (the table's) | 20 | 20 / 20, 90.4 (67) | 19 / 20, 78.1 (54.5) |
| test accuracy, as if it were the validation metric | 20 | 20 / 20, 71.0 (46) | 20 / 20, 71.9 (56.5) |

On the first landscape the optimum is the 14th best architecture by the table's own validation accuracy and
its best neighbour is the 20th after the noise; the seeds that stalled fell back to random points from query
276-323 on. Each part alone is not enough: widening alone (`walk_steps=0`, `num_random=0`) found that optimum
in every seed (185.5 queries on average) but stalled on one of the first 15 landscapes with a draw per seed,
and widening with random candidates (`walk_steps=0`) stalled on one of the first 10. The price of never
stalling in these runs: on the landscapes with a draw per seed, the seeds that the previous version did not
lose needed more queries (median 138.5 against 88).

Encoding. The default on cells is the path encoding with skip connections contracted: a path is the sequence
of its non-identity ops, so ``conv3x3 -> skip`` and a lone ``conv3x3`` edge (the same function) share a
feature. On NAS-Bench-101 there is no identity op and it equals BANANAS's path encoding. On NAS-Bench-201
BANANAS's path encoding gives every skip placement its own features; trained on the architectures a search has
queried (one region of the space) the ensemble then rated the best architecture below thousands of others
(mean queries to the best architecture above 200 on 10 seeds, against about 60 with the contracted encoding).

Differences from the authors' code (naszilla): the predictor is 3 x 32 wide (theirs 10 x 20) and trained full
batch for 200 Adam steps (theirs 200 epochs of batch 32), which ranks as well on NAS-Bench-201 at a fraction of
the cost; candidates are single mutations plus walks and random points (theirs mutate each edge with
probability 1/4, so a candidate is 0 to 6 edits away); one point is proposed per model fit by default (theirs
10).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np
from scipy.stats import norm

from .base import StrategyError, register
from .predictors import MLPEnsemble
from .sampling import ModelBasedStrategy, check_int

__all__ = ["BANANAS", "ACQUISITIONS", "acquisition_scores", "default_encoding"]

ACQUISITIONS = ("its", "ucb", "ei")


def acquisition_scores(mean: np.ndarray, std: np.ndarray, kind: str, best: float, rng: np.random.Generator,
                       ucb_kappa: float = 1.0) -> np.ndarray:
    """Scores of candidates whose predicted value (to maximise) is N(mean, std^2); higher is better for every
    kind. `best` is the best value told so far (for EI)."""
    if kind == "its":
        return rng.normal(mean, np.maximum(std, 1e-12))
    if kind == "ucb":
        return mean + ucb_kappa * std
    if kind == "ei":
        s = np.maximum(std, 1e-12)
        z = (mean - best) / s
        return (mean - best) * norm.cdf(z) + s * norm.pdf(z)
    raise ValueError(f"acquisition: must be one of {', '.join(ACQUISITIONS)}, got {kind!r}")


def default_encoding(space: Any) -> str:
    """`path_contracted` where the space has it (cells), else `vector`."""
    return "path_contracted" if "path_contracted" in getattr(space, "encodings", ()) else "vector"


@register
class BANANAS(ModelBasedStrategy):
    """BANANAS (see the module docstring).

    Options: num_init (>= 2, default 10), num_candidates (>= 1, 100), num_parents (>= 1, 10), acquisition
    (its | ucb | ei), encoding (None: `default_encoding`), batch_size (>= 1, 1), fit_every (>= 1, 1), ucb_kappa
    (>= 0, 1.0), max_edits (>= 1, 1), parents (top | tournament), population_size (>= 1, 30) and
    tournament_size (>= 1, 10) for tournament parents, walk_steps (>= 0, 3), num_random (>= 0, 10), predictor
    (keyword arguments of `MLPEnsemble`, e.g. {"steps": 100}).
    """

    name = "bananas"

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                 num_init: int = 10, num_candidates: int = 100, num_parents: int = 10, acquisition: str = "its",
                 encoding: str | None = None, batch_size: int = 1, fit_every: int = 1, ucb_kappa: float = 1.0,
                 max_edits: int = 1, parents: str = "top", population_size: int = 30, tournament_size: int = 10,
                 walk_steps: int = 3, num_random: int = 10, predictor: Mapping[str, Any] | None = None) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact, num_init=num_init, batch_size=batch_size)
        if acquisition not in ACQUISITIONS:
            raise StrategyError(f"bananas option acquisition: must be one of {', '.join(ACQUISITIONS)}, "
                                f"got {acquisition!r}")
        encoding = default_encoding(space) if encoding is None else encoding
        allowed = ("vector",) + tuple(e for e in space.encodings if e != "vector")
        if encoding not in allowed:
            raise StrategyError(f"bananas option encoding: must be one of {', '.join(allowed)} on space "
                                f"{space.name}, got {encoding!r}")
        if parents not in ("top", "tournament"):
            raise StrategyError(f"bananas option parents: must be top or tournament, got {parents!r}")
        if isinstance(ucb_kappa, bool) or not isinstance(ucb_kappa, (int, float)) or ucb_kappa < 0:
            raise StrategyError(f"bananas option ucb_kappa: must be a number >= 0, got {ucb_kappa!r}")
        self.num_candidates = check_int(self.name, "num_candidates", num_candidates, 1)
        self.num_parents = check_int(self.name, "num_parents", num_parents, 1)
        self.fit_every = check_int(self.name, "fit_every", fit_every, 1)
        self.max_edits = check_int(self.name, "max_edits", max_edits, 1)
        self.population_size = check_int(self.name, "population_size", population_size, 1)
        self.tournament_size = check_int(self.name, "tournament_size", tournament_size, 1)
        self.walk_steps = check_int(self.name, "walk_steps", walk_steps, 0)
        self.num_random = check_int(self.name, "num_random", num_random, 0)
        self.acquisition, self.encoding, self.parents = acquisition, encoding, parents
        self.ucb_kappa = float(ucb_kappa)
        try:
            self.model = MLPEnsemble(seed=self.seed, **dict(predictor or {}))
        except (TypeError, ValueError) as exc:
            raise StrategyError(f"bananas option predictor: {exc}") from None
        self._fitted_at = -1

    def _encode(self, points: Sequence[Any]) -> np.ndarray:
        return np.stack([self.space.encode(p, self.encoding) for p in points])

    def _fit(self) -> None:
        self.model.fit(self._encode([o.point for o in self.history]), self.targets())
        self._fitted_at = len(self.history)

    # -- candidates ---------------------------------------------------------------------------------------
    def candidates(self) -> list[tuple[Any, str]]:
        """The candidate pool (see the module docstring): (point, where it came from)."""
        keys: set[str] = set()
        ranked = [o.point for o in self.best(len(self.history))]
        if self.parents == "top":
            pool = [(p, "mutation") for p in self.mutation_candidates(
                ranked[:self.num_parents], self.num_candidates, max_edits=self.max_edits, exclude=keys)]
            lo, hi = self.num_parents, 2 * self.num_parents
        else:
            pool = [(p, "mutation") for p in self.tournament_candidates(
                self.num_candidates, self.population_size, self.tournament_size, exclude=keys)]
            lo, hi = 0, self.num_parents
        while len(pool) < self.num_candidates and lo < len(ranked):  # widen the parents (see the docstring)
            pool += [(p, "wider mutation") for p in self.mutation_candidates(
                ranked[lo:hi], self.num_candidates - len(pool), max_edits=self.max_edits, exclude=keys)]
            lo, hi = hi, 2 * hi
        pool += [(p, "walk") for p in self._walks(ranked[:self.num_parents], keys)]
        for _ in range(self.num_random):
            point = self.random_new()
            if point is None:
                break
            if self.space.hash(point) not in keys:
                keys.add(self.space.hash(point))
                pool.append((point, "random"))
        return pool

    def _walks(self, starts: Sequence[Any], keys: set[str]) -> list[Any]:
        """Unproposed points met on greedy walks (on the predicted mean) from `starts`."""
        out = []
        for cur in starts:
            for _ in range(self.walk_steps):
                nbrs = self.space.neighbours(cur, self.rng)
                if not nbrs:
                    break
                mean, _ = self.model.predict(self._encode(nbrs))
                cur = nbrs[int(np.argmax(mean))]
                h = self.space.hash(cur)
                if self.is_new(cur) and h not in keys:
                    keys.add(h)
                    out.append(cur)
        return out

    def _ranked(self, k: int) -> list[tuple[Any, dict[str, Any]]]:
        if self._fitted_at < 0 or len(self.history) - self._fitted_at >= self.fit_every:
            self._fit()
        pool = self.candidates()
        if not pool:
            return []
        mean, std = self.model.predict(self._encode([p for p, _ in pool]))
        scores = acquisition_scores(mean, std, self.acquisition, float(self.targets().max()), self.rng,
                                    self.ucb_kappa)
        order = np.argsort(-scores, kind="stable")[:k]
        return [(pool[i][0], {"origin": "model", "candidate": pool[i][1], "predicted_loss": float(-mean[i])})
                for i in (int(j) for j in order)]
