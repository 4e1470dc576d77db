"""`mobo`: batch multi-objective Bayesian optimisation, the NAGO paper's search (Ru, Esperanca and Carlucci,
2020, "Neural Architecture Generator Optimization"), on any space through its one-hot vectors.

    strategy = make_strategy("mobo", space, objectives=["error", "params"], seed=0, exact=evaluator.exact())

The method's parts live in `search.mobo` (`MOBOProposer`): one Bayesian neural network per learned objective
(heteroscedastic by default, SGHMC through pybnn), the USeMO acquisition (Belakaria et al., 2020: LCB per
objective, their Pareto set by NSGA-II, the candidate of largest uncertainty volume) and a batch by hard local
penalisation (Alvi et al., 2019). This module maps the ask/tell interface onto it:

- Encoding (`encoding`): the surrogates see `space.one_hot_vector(point)` by default: every categorical
  coordinate of k > 2 values becomes k one-hot coordinates, continuous ones stay in [0, 1]. Departure from
  the paper, whose generator space is continuous: with the paper's unit-hypercube vector (`encoding="unit"`,
  categorical indices scaled to [0, 1]) a categorical is given an order that it does not have. Measured on
  NB201 (error of 1,000 held-out cells after fitting 100, heteroscedastic BNN, 500 SGHMC steps): Spearman
  0.007 with "unit" (the BNN learns nothing) against 0.72 with "onehot". On a continuous space both are the
  same vector.
- Candidates (`inner`): on a space whose coordinates are all categorical (cells) the acquisition is maximised
  over a pool of valid points (`inner="pool"`, the default there): every neighbour and one two-step mutation
  of each Pareto-optimal observed point and `pool_random` (200) draws from the prior, points already
  proposed left out. A continuous inner optimiser would mostly propose vectors that round to few points.
  Elsewhere NSGA-II (`inner="nsga2"`, the paper's) or random search runs on the encoded hypercube; a vector
  that decodes to no valid point (NB101, K >= N on hnag) or to a point already proposed is skipped: the
  proposer is asked for `oversample` times more points than needed and the first valid new ones in its
  greedy order are taken; slots still empty get random new points from the space's prior (`model_based`
  false, with the reason). Exact objectives see such a candidate as infeasible (value 1e12).
- Surrogate (`surrogate`): "heteroscedastic" (the paper's BNN, default on spaces with a continuous
  coordinate), "homoscedastic" (BNN), or "blr" (`search.mobo.linear.PairwiseBLR`: Bayesian linear regression
  on the one-hot vector and its cross-coordinate pairwise products, default on all-categorical spaces, with
  acquisition "hvi" and kappa 0.5 unless set). Departure from the paper on cells, measured on NB201 with two
  objectives (README, "Two objectives"): the BLR reached 0.853 / 0.923 / 0.962 of the true hypervolume after
  50 / 100 / 200 evaluations (20 seeds) against the BNN's 0.834 / 0.902 / 0.948 (20 seeds, USeMO), at 3.4 s
  per run against 29 s or more (a BLR fit takes milliseconds). On continuous generator spaces the paper's
  BNN stays the default: no measurement there says otherwise.
- Acquisition (`acquisition`): "usemo" (default with a BNN, the paper's: LCB Pareto set, largest
  uncertainty volume, batch by hard local penalisation) or "hvi" (greedy optimistic hypervolume improvement
  of the LCB vector, each pick believed at its mean; see `search.mobo.acquisition.hvi_batch`; default with
  "blr"). Volumes are measured in the objectives' raw units (`hvi_units="raw"`), as reports measure them (a
  log-modelled cost counts by its value).
  Measured with the BLR on NB201 (error, params; batches of 8, fraction of the true hypervolume after 50 / 100
  / 200 evaluations, 20 seeds): kappa 0.25 / 0.5 / 1 gave 0.862 / 0.924 / 0.958, 0.853 / 0.923 / 0.962 and
  0.834 / 0.909 / 0.960; USeMO 0.845 / 0.900 / 0.948 (8 seeds); volumes in log-params units 0.827 / 0.905 /
  0.958 (`hvi_units="modelling"`, the rule before); n_initial 8 instead of 16 and batches of 4 changed
  nothing beyond 0.005.
- Resume across versions: surrogate, acquisition, kappa and hvi_units are `pinned`: a new search stores the
  values it resolved, and a search created before they were stored resumes with the old defaults
  (heteroscedastic, usemo, 1, modelling), so its replay makes the same proposals.
- Initial design: until `n_initial` successful evaluations exist (default 2 x batch size; the first ask's n
  when `batch_size` is not given), jobs are random new points of the space's prior (`space.sample`, which
  respects conditions and forbidden clauses; the proposer's own Latin-hypercube design is not used).
- Objectives: every name in `exact` (name -> fn(point), e.g. params counted from the spec) is computed, not
  modelled; the others get a surrogate. Known names ("error", "memory", "latency", "params", "macs") take the
  transforms of `search.objectives` (log for the positive costs); other names ("f1", "f2") are modelled
  as they are. At least two objectives, at least one of them learned.
- Pending jobs (the documented rule for batches): their vectors are passed to the proposer as `pending`, so
  hard local penalisation keeps the new points out of the balls around the running jobs, as PLAyBOOK does
  asynchronously (with `acquisition="hvi"` they are believed at their predicted means instead).
- `batch_size`: None (default) fits the surrogates at every ask and proposes exactly the n jobs asked for (one
  fit per finished job when workers free up one at a time). An integer B proposes B points per fit, hands out
  what was asked for and queues the rest for the next asks; a new fit happens when the queue is empty. With B =
  the number of workers this amortises the BNN fits like the paper's synchronous batches without idle workers.
- Failed results are not fitted (a failure has no objective values); their points are remembered, like every
  proposed point, so no point is ever proposed twice (hashes; spaces of known size end with `done`).
- `warm_start`: earlier evaluations, [{"config": JSON config, "objectives": {name: value}}, ...], told to the
  proposer before the first ask (the paper starts MOBO from BOHB's evaluations); they count towards
  `n_initial` and are never proposed again. A missing exact objective is computed; a missing learned one is
  NaN (that row is ignored by that objective's surrogate).
- Each job's info holds {"model_based": bool, "reason": one line} and, for model-based jobs, the proposal
  number and the surrogate fit and proposal times.

Sampler settings and cost: the BNN sampler runs 1000 steps (500 burn-in, every 10th kept: 49 samples) instead
of `search.mobo`'s default 2000 / 1000 / 20. Measured here on a 6-D function with 100 points: held-out RMSE
0.152 / 0.207 (two seeds) against 0.152 / 0.154 with 2000 steps, at about 2 s instead of 4 s per objective and
fit (the cost hardly depends on the number of points: the sampler's minibatch is fixed); 500 steps was clearly
worse (0.325 / 0.246). One ask on NB201 with two learned objectives took 4.6-5.0 s at 100 and 200 results
(2.5-2.7 s with 500 steps), so a 200-evaluation run costs about 15 minutes of fits with one fit per job, or
about 2 minutes with `batch_size` 8. Every sampler argument is an option and is passed on explicitly.
The paper keeps 100 samples (burn-in, then every 10th). Departure, measured on NB201 with two objectives
(4 seeds, batches of 8, hypervolume fraction after 50 / 100 / 200 evaluations): 1,500 steps (500 burn-in,
100 samples) gave 0.829 / 0.916 / 0.959 and 500 steps (25 samples) 0.845 / 0.907 / 0.949, differences within
the spread between seeds, at three times the fit cost; the default of 49 samples sits between them.

Determinism: the proposer's seed (and so every surrogate seed) is drawn from the strategy's stream, and the BNN
fit seeds torch itself, so the same seed and ask/tell sequence give the same jobs (resume by replay).
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

import numpy as np

from .base import Job, Result, Strategy, StrategyError, register

if TYPE_CHECKING:
    from search.objectives import Objective

__all__ = ["INFEASIBLE", "MOBO", "draw_new_point", "mobo_objective"]

#: value of an exact objective at a candidate vector that decodes to no valid point (or gives no finite value)
INFEASIBLE = 1e12
_SURROGATES = ("heteroscedastic", "homoscedastic", "blr")
_ENCODINGS = ("onehot", "unit")
_INNER = ("pool", "nsga2", "random")


def draw_new_point(space: Any, rng: np.random.Generator, seen: set[str], tries: int = 100) -> Any | None:
    """A point from the space's prior whose hash is not in `seen`, or None when `tries` samples found none and,
    for a space of known size that can be enumerated, no unseen point is left."""
    for _ in range(tries):
        point = space.sample(rng)
        if space.hash(point) not in seen:
            return point
    if space.size is not None and len(seen) < space.size:
        try:
            fresh = [p for p in space.all_points() if space.hash(p) not in seen]
        except NotImplementedError:
            return None
        if fresh:
            return fresh[int(rng.integers(len(fresh)))]
    return None


def mobo_objective(name: str, exact: Callable[[Any], float] | None = None) -> Objective:
    """The `search.objectives.Objective` of an objective name: exact (computed by `exact(point)`, INFEASIBLE
    for None or a non-finite value) when `exact` is given, else learned."""
    from search.objectives import OBJECTIVES, Objective

    compute = None
    if exact is not None:
        def compute(point: Any) -> float:
            if point is None:
                return INFEASIBLE
            value = float(exact(point))
            return value if math.isfinite(value) else INFEASIBLE

    if name in OBJECTIVES:  # a built-in keeps its transform
        return replace(OBJECTIVES[name], aliases=(), learned=exact is None, compute=compute)
    return Objective(name, learned=exact is None, compute=compute)


def _integer(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise StrategyError(f"mobo option {name}: must be an integer >= {low}, got {value!r}")
    return value


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise StrategyError(f"mobo option {name}: must be a number > 0, got {value!r}")
    return float(value)


def _choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise StrategyError(f"mobo option {name}: must be {' or '.join(choices)}, got {value!r}")
    return value


@register
class MOBO(Strategy):
    """Batch multi-objective BO (see the module docstring for the rules and every option).

    Options: batch_size (None or >= 1), n_initial (>= 2), surrogate ("heteroscedastic" | "homoscedastic" |
    "blr"; default blr on all-categorical spaces, else heteroscedastic), kappa (> 0, LCB multiplier; default
    0.5 with blr, else 1), uncertainty ("epistemic" | "total"), acquisition ("usemo" | "hvi"; default hvi with
    blr, else usemo), hvi_units ("raw" | "modelling": where HVI measures volumes),
    encoding ("onehot" | "unit"), oversample (>= 1), the BNN's num_steps / num_burn_in_steps / keep_every /
    lr / mdecay / sampler_batch_size / n_hidden / n_layers, the acquisition's candidates inner ("pool" |
    "nsga2" | "random"; default pool on all-categorical spaces, else nsga2) / pool_random (>= 0) / pop_size /
    generations, and warm_start.
    """

    name = "mobo"
    multi_objective = True
    min_objectives = 2
    # the defaults before the pairwise BLR and raw-unit volumes (a search created then resumes with them)
    pinned = {"surrogate": "heteroscedastic", "acquisition": "usemo", "kappa": 1.0, "hvi_units": "modelling"}

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                 batch_size: int | None = None, n_initial: int | None = None, surrogate: str | None = None,
                 kappa: float | None = None, uncertainty: str = "total", acquisition: str | None = None,
                 oversample: int = 2,
                 num_steps: int = 1000, num_burn_in_steps: int = 500, keep_every: int = 10, lr: float = 1e-2,
                 mdecay: float = 0.05, sampler_batch_size: int = 20, n_hidden: int = 10, n_layers: int = 3,
                 encoding: str = "onehot", inner: str | None = None, pool_random: int = 200,
                 pop_size: int = 48, generations: int = 20, hvi_units: str = "raw",
                 warm_start: Sequence[Mapping[str, Any]] = ()) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact)
        if all(name in self.exact for name in self.objectives):
            raise StrategyError("mobo: every objective is exact; at least one must come from evaluations")
        self.batch_size = None if batch_size is None else _integer("batch_size", batch_size, 1)
        self.n_initial = None if n_initial is None else _integer("n_initial", n_initial, 2)
        self.oversample = _integer("oversample", oversample, 1)
        sampler = {"num_steps": _integer("num_steps", num_steps, 2),
                   "num_burn_in_steps": _integer("num_burn_in_steps", num_burn_in_steps, 1),
                   "keep_every": _integer("keep_every", keep_every, 1), "lr": _positive("lr", lr),
                   "mdecay": _positive("mdecay", mdecay),
                   "batch_size": _integer("sampler_batch_size", sampler_batch_size, 1),
                   "n_hidden": _integer("n_hidden", n_hidden, 1), "n_layers": _integer("n_layers", n_layers, 1),
                   "verbose": False}
        resolved = self.defaults_for(space, {"surrogate": surrogate, "acquisition": acquisition, "kappa": kappa,
                                             "hvi_units": hvi_units})
        self.surrogate = _choice("surrogate", resolved["surrogate"], _SURROGATES)
        self.kappa = _positive("kappa", resolved["kappa"])
        self.acquisition = _choice("acquisition", resolved["acquisition"], ("usemo", "hvi"))
        self.hvi_units = _choice("hvi_units", resolved["hvi_units"], ("raw", "modelling"))
        discrete = all(k > 0 for k in space.vector_kinds)
        # search.mobo loads torch and pybnn: import it only when a MOBO strategy is built (load_all imports
        # every strategy module)
        from search.mobo.proposer import MOBOProposer, default_surrogate_factory
        from search.mobo.surrogates import HeteroscedasticBNN

        try:  # the BNN checks the relations between its arguments (steps > burn-in, mdecay < 1, ...)
            HeteroscedasticBNN(**sampler)
        except ValueError as exc:
            raise StrategyError(f"mobo sampler options: {str(exc).splitlines()[0]}") from None
        from search.mobo.linear import one_hot_groups

        onehot = _choice("encoding", encoding, _ENCODINGS) == "onehot"
        if onehot:
            self._encode, decode, dim = space.one_hot_vector, space.from_one_hot_vector, space.one_hot_size
        else:
            self._encode, decode, dim = space.unit_vector, space.from_unit_vector, len(space.vector_kinds)
        if self.surrogate == "blr":
            factory = default_surrogate_factory(
                "blr", groups=one_hot_groups(space.vector_kinds) if onehot else None)
        else:
            factory = default_surrogate_factory(self.surrogate, **sampler)
        self.inner = _choice("inner", "pool" if inner is None and discrete else inner or "nsga2", _INNER)
        self.pool_random = _integer("pool_random", pool_random, 0)
        self.proposer = MOBOProposer(
            dim, [mobo_objective(n, self.exact.get(n)) for n in self.objectives],
            decode=decode, batch_size=1,
            # the strategy runs the initial design itself; the proposer only needs two points to fit
            n_initial=2, surrogate_factory=factory, kappa=self.kappa, hvi_raw_units=self.hvi_units == "raw",
            uncertainty=_choice("uncertainty", uncertainty, ("epistemic", "total")),
            acquisition=self.acquisition,
            inner="nsga2" if self.inner == "pool" else self.inner, pop_size=_integer("pop_size", pop_size, 4),
            generations=_integer("generations", generations, 0), seed=int(self.rng.integers(2**31 - 1)))
        self._seen: set[str] = set()
        self._points: list[Any] = []  # the observed points, row by row of the proposer's history
        self._queue: list[tuple[Any, dict[str, Any]]] = []
        self._complete = 0       # observations with every objective finite in modelling units
        self._proposals = 0      # model fits so far
        self._fallback_reason = ""
        for i, entry in enumerate(warm_start):
            self._warm(i, entry)

    @staticmethod
    def defaults_for(space: Any, options: Mapping[str, Any]) -> dict[str, Any]:
        """The `pinned` options (surrogate, acquisition, kappa, hvi_units) as a MOBO built on `space` with
        `options` resolves them: the defaults measured best per kind of space (module docstring, "Surrogate")
        where an option is None or absent."""
        discrete = all(k > 0 for k in space.vector_kinds)
        surrogate = options.get("surrogate") or ("blr" if discrete else "heteroscedastic")
        acquisition = options.get("acquisition") or ("hvi" if surrogate == "blr" else "usemo")
        kappa = options.get("kappa")
        return {"surrogate": surrogate, "acquisition": acquisition,
                "kappa": kappa if kappa is not None else 0.5 if surrogate == "blr" else 1.0,
                "hvi_units": options.get("hvi_units") or "raw"}

    # -- observations -------------------------------------------------------------------------------------
    def _warm(self, i: int, entry: Mapping[str, Any]) -> None:
        # entries may carry the budget they were evaluated at ("budget"): the model treats every entry alike
        if not (isinstance(entry, Mapping) and "config" in entry and isinstance(entry.get("objectives"), Mapping)):
            raise StrategyError(f"mobo option warm_start[{i}]: must be {{\"config\": {{...}}, \"objectives\": "
                                f"{{name: value}}}}, got {entry!r}")
        try:
            point = self.space.from_config(entry["config"])
        except ValueError as exc:
            raise StrategyError(f"mobo option warm_start[{i}]: {exc}") from None
        values = []
        for name in self.objectives:
            value = entry["objectives"].get(name)
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            values.append(float(value) if ok else math.nan)
        self._seen.add(self.space.hash(point))
        self._observe(point, values)

    def _observe(self, point: Any, values: Sequence[float]) -> None:
        u = np.clip(self._encode(point), 0.0, 1.0)
        self.proposer.tell(u[None, :], np.asarray([values], dtype=np.float64))
        self._points.append(point)
        row = self.proposer.Y[-1]  # exact objectives missing from a warm start are filled in by the proposer
        if all(np.isfinite(o.forward(row[k])) for k, o in enumerate(self.proposer.objectives)):
            self._complete += 1

    def _tell(self, job: Job, result: Result) -> None:
        if result.ok:  # a failure has no objective values to fit; its point stays in _seen
            self._observe(job.point, [result.objectives[name] for name in self.objectives])

    # -- proposals ----------------------------------------------------------------------------------------
    def _ask(self, n: int, pending: list[Job]) -> list[Job]:
        if self.n_initial is None:  # fixed once, at the first ask (replayed identically on resume)
            self.n_initial = 2 * (self.batch_size or n)
        jobs: list[Job] = []
        while self._queue and len(jobs) < n:
            point, info = self._queue.pop(0)
            jobs.append(self.new_job(point, **info, queued=True))
        if len(jobs) < n and self._complete >= self.n_initial:
            jobs += self._model_jobs(n - len(jobs), pending + jobs)
        while len(jobs) < n:
            if self._complete < self.n_initial:
                reason = f"initial design: {self._complete} of {self.n_initial} successful evaluations needed"
            else:
                reason = self._fallback_reason
            point = draw_new_point(self.space, self.rng, self._seen)
            if point is None:
                if self.space.size is not None and len(self._seen) >= self.space.size:
                    self.done = True
                break
            self._seen.add(self.space.hash(point))
            jobs.append(self.new_job(point, model_based=False, reason=reason))
        return jobs

    def _pool(self) -> np.ndarray:
        """Candidates for a discrete space: every neighbour and a two-step mutation of each Pareto-optimal
        observed point, and `pool_random` draws from the prior; points already proposed are left out."""
        from search.pareto import non_dominated_mask

        Y = self.proposer.Y
        complete = np.flatnonzero(np.all(np.isfinite(Y), axis=1))
        parents = [self._points[i] for i in complete[non_dominated_mask(Y[complete])]] if complete.size else []
        chosen: dict[str, Any] = {}

        def add(point: Any) -> None:
            h = self.space.hash(point)
            if h not in self._seen and h not in chosen:
                chosen[h] = point

        for parent in parents:
            for point in self.space.neighbours(parent, self.rng):
                add(point)
            add(self.space.mutate(self.space.mutate(parent, self.rng), self.rng))
        for _ in range(self.pool_random):
            add(self.space.sample(self.rng))
        return np.array([np.clip(self._encode(p), 0.0, 1.0) for p in chosen.values()]).reshape(
            -1, self.proposer.dim)

    def _model_jobs(self, need: int, pending: Sequence[Job]) -> list[Job]:
        """Up to `need` jobs from one model fit (more are queued when `batch_size` asks for a larger batch)."""
        size = max(need, self.batch_size or 0)
        centres = (np.clip(np.array([self._encode(j.point) for j in pending]), 0.0, 1.0)
                   if pending else None)
        start = time.perf_counter()
        pool = self._pool() if self.inner == "pool" else None
        if pool is not None and len(pool) == 0:
            self._fallback_reason = "no unseen candidate near the front; random new point"
            return []
        try:
            X = self.proposer.propose(size * self.oversample, pending=centres, pool=pool)
        except RuntimeError as exc:  # SGHMC diverged on every retry: this ask goes random, the next one refits
            self._fallback_reason = f"model fit failed ({str(exc).splitlines()[0]}); random new point"
            return []
        elapsed = time.perf_counter() - start
        self._proposals += 1
        chosen, invalid, repeated = [], 0, 0
        for x in X:
            if len(chosen) == size:
                break
            point = self.proposer.decode(x)
            if point is None:
                invalid += 1
                continue
            h = self.space.hash(point)
            if h in self._seen:
                repeated += 1
                continue
            self._seen.add(h)
            chosen.append(point)
        if len(chosen) < size:
            self._fallback_reason = (f"model candidates used up: of {len(X)} proposed vectors {invalid} decoded to "
                                     f"no valid point and {repeated} to points already proposed; random new point")
        fit_s = sum(v for v in self.proposer.last_info.fit_time_s.values() if math.isfinite(v))
        info = {"model_based": True,
                "reason": (f"{'USeMO' if self.acquisition == 'usemo' else 'HVI'} batch {self._proposals} of "
                           f"{len(chosen)} points, surrogates fitted on {self._complete} results, penalised "
                           f"around {len(pending)} pending"),
                "proposal": self._proposals, "fit_s": round(fit_s, 3), "propose_s": round(elapsed, 3)}
        self._queue = [(p, info) for p in chosen[need:]]
        return [self.new_job(p, **info) for p in chosen[:need]]
