"""`mobohb`: multi-objective BOHB, the NAGO paper's stated future work (Ru, Esperanca and Carlucci, 2020,
footnote 3: "selecting the Pareto set points at each budget to be evaluated for longer epochs during Successive
Halving"), on the ask/tell interface: Hyperband's brackets and asynchronous schedule (`hyperband`), a
multi-objective promotion rule, and new points from a multi-objective model fitted on the largest budget that
has enough observations (as BOHB fits its KDE).

    strategy = make_strategy("mobohb", space, objectives=["error", "memory"], seed=0, max_budget=27,
                             min_budget=1, exact=evaluator.exact())

Promotion (`select`, and `pareto_best`): the successful jobs of a complete rung are sorted into non-dominated
fronts (`search.pareto.non_dominated_sort`) among every successful result at their budget so far, other
brackets' included (`promotion_context="budget"`, the default; ASHA ranks a rung the same way); whole fronts
of the rung's jobs are promoted, best first, while they fit; the rung's members of the front that does not
fit are truncated by repeatedly dropping the one of smallest exclusive hypervolume contribution among them
(SMS-EMOA's rule: Beume, Naujoks and Emmerich, 2007), against the nadir of the rung and its context plus 10 %
of the range (`search.pareto.reference_point`), recomputed after each drop (contributions equal to 1e-9 of the front's
volume tie; the later job goes). `promotion="crowding"` truncates by NSGA-II's crowding distance instead (Deb,
Pratap, Agarwal and Meyarivan, 2002: the largest distances are kept, a front's ends always, ties to the
earlier job), and `promotion_context="rung"` sorts the rung among itself alone, as Hyperband does. The KDE's
good set (below) is ordered by the same rule over all results at its budget.

Why these defaults (measured with `experiments/bench_mobohb.py`, 20 seeds, fraction of the true front's
hypervolume at half the total budget; README has the tables): a rung sorted alone promotes points that are
non-dominated in their bracket but dominated by earlier results at the same budget, and they add nothing to
the front at the max budget, the only results the hypervolume counts. Sorting among the budget's results
raised park-mf from 0.657 to 0.696 (hypervolume rule, random_fraction 1/3) and crowding from 0.516 to 0.575.
On park-mf, whose cheap evaluations rank points as the max budget does, the hypervolume rule beats crowding
(0.696 against 0.575), and fewer prior draws help (random_fraction 1/12: 0.750, seeds 20-39: 0.772); on
zdt1-mf, whose low budgets are biased, crowding with the rung alone and BOHB's random_fraction 1/3 (the earlier
defaults) gave 0.896 and 0.889 (seeds 0-19, 20-39) against 0.891 and 0.891 for the defaults now: a tie where
park-mf gains 0.23. random_fraction 0 was better still on park-mf's first 20 seeds (0.794) but not on the next
20 (0.748, against 0.772), and leaves no draw from the prior once a model exists, so 1/12 is the default. Both
rules compare objectives in raw units, the units of the reported hypervolume, and neither changes when an
objective is rescaled. A search stored before these defaults resumes with the old ones (`pinned`).

How the reference implementation does it, and why we depart: MO-BOHB of the "Bag of Baselines" (Guerrero-Viu
et al., 2021, automl/multi-obj-baselines, `SuccessiveHalvingMOBOHB._advance_to_next_stage`) promotes whole
non-dominated fronts and then the *whole* front that does not fit (its hypervolume-contribution tie-break is
commented out), so a rung may promote more points than the next rung holds and the bracket's budget is no
longer Hyperband's; here the next rung holds exactly its size. Syne Tune's MOASHA (Schmucker et al., 2021;
`NonDominatedPriority`, Salinas et al., 2021) ranks by non-dominated sorting with an epsilon-net inside each
front (start at the best point of the first objective, then farthest-first) and promotes asynchronously (ASHA);
syne-tune 0.16 ships no MOASHA scheduler any more, so the benchmark's "MOASHA-style" method is this strategy
with `sampler="random"`: synchronous Hyperband brackets, random new points, the promotion rule above.

New points (`propose`), by `sampler`:
- "kde" (default): BOHB's model (`kde`) with a multi-objective good/bad split, as MO-BOHB's MOTPE-style
  generator (Ozaki et al., 2020): per budget, the good set is the n_good = max(min_points_in_model,
  top_n_percent % of n) best results by `pareto_best` (the promotion order above), the bad set every other
  result (failures, with no objective values, always bad); then BOHB's proposal (sample from the widened good
  KDE, keep the best bad/good density ratio) on the largest budget with a model, and a draw from the prior with
  probability random_fraction. Measured against the "mobo" sampler on zdt1-mf at half the budget (with the
  earlier crowding promotion): 0.896 ± 0.025 against 0.876 ± 0.047 (3 seeds, 500 SGHMC steps), at 0.9 s
  against 180 s per seed; hence the default.
  Departures from MO-BOHB's generator: BOHB's multivariate product-kernel KDE and its candidate sampling instead
  of MOTPE's univariate Parzen estimators per hyperparameter (one model for every space of the strategy
  interface, conditional and categorical coordinates included); BOHB's top_n_percent 15 and random_fraction 1/12
  instead of MO-BOHB's gamma 0.10 and 1/6 (see above for 1/12; top_n_percent 10 and 30 measured no better on
  park-mf); no initial bracket of random points at the max budget (Hyperband's first brackets sample the prior
  anyway); the bad set is every result not good (BOHB's n_bad = 85 % of n loses at most one point to rounding).
- "mobo": the NAGO paper's MOBO (BNN surrogates, USeMO, local penalisation) through the public `mobo`
  strategy, rebuilt whenever a larger budget gets min_points_in_model successful results and warm-started with
  that budget's results; later results at that budget are told to it; pending jobs (every running job of every
  bracket) are penalised as in `mobo`. `mobo` holds the options of that inner strategy (e.g. num_steps,
  batch_size; default batch_size 8: one BNN fit per 8 new points, since Hyperband asks for one new point at a
  time). Exact objectives (e.g. params from the spec) are computed, not modelled, as in `mobo`; the KDE needs
  none (every evaluation reports every objective). A draw from the prior with probability random_fraction, and
  while no budget has enough results.
- "random": draws from the prior (MOASHA-style).

A job's info holds {"model_based": bool} (and for "mobo" the inner strategy's reason and fit time); promoted
jobs carry Hyperband's {"bracket", "rung", "promoted_from"}. Failed jobs are never promoted. Everything random
comes from the strategy's seeded stream (the inner MOBO's seed too), so a resume replays exactly.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..pareto import crowding_distance, hypervolume, non_dominated_sort, reference_point
from .base import Job, Result, StrategyError, register
from .hyperband import Hyperband
from .kde import KDE, KDEProposer
from .mobo import MOBO

__all__ = ["MOBOHB", "ParetoKDEProposer", "pareto_best", "CONTEXTS", "PROMOTIONS", "SAMPLERS"]

PROMOTIONS = ("crowding", "hypervolume")
CONTEXTS = ("budget", "rung")
SAMPLERS = ("kde", "mobo", "random")
#: options of the inner `mobo` strategy that mobohb sets itself
_MOBO_OWN = ("warm_start", "n_initial")
_MOBO_DEFAULTS = {"batch_size": 8}


def pareto_best(Y: np.ndarray, k: int, *, rule: str = "crowding", keys: Sequence[int] | None = None,
                context: np.ndarray | None = None) -> list[int]:
    """Indices of the k best rows of Y (n, M), all objectives minimised and finite, in ascending order: whole
    non-dominated fronts while they fit, the front that does not fit truncated by `rule` (see the module
    docstring): "hypervolume" drops its smallest exclusive contributor one at a time (reference: the nadir of Y
    and `context` plus 10 % of its range), "crowding" keeps its largest crowding distances. `context` (m, M):
    other results the rows are sorted among (a row's front is its front among rows and context; context rows are
    never chosen, and the truncation weighs the rows of the split front alone). `keys` (default: the row index)
    break ties: the smaller key is kept."""
    Y = np.asarray(Y, dtype=np.float64)
    n = Y.shape[0]
    if rule not in PROMOTIONS:
        raise ValueError(f"rule: must be {' or '.join(PROMOTIONS)}, got {rule!r}")
    keys = list(range(n)) if keys is None else [int(key) for key in keys]
    if k >= n:
        return list(range(n))
    A = Y
    if context is not None and len(context):
        A = np.vstack([Y, np.asarray(context, dtype=np.float64).reshape(-1, Y.shape[1])])
    chosen: list[int] = []
    for front in non_dominated_sort(A):
        need = k - len(chosen)
        if need <= 0:
            break
        front = [int(i) for i in front if i < n]
        if len(front) > need:
            front = (_truncate_hypervolume(A, front, need, keys, reference_point(A, 0.1)) if rule == "hypervolume"
                     else _truncate_crowding(A, front, need, keys))
        chosen.extend(front)
    return sorted(chosen)


def _truncate_hypervolume(Y: np.ndarray, front: list[int], need: int, keys: Sequence[int],
                          ref: np.ndarray) -> list[int]:
    keep = list(front)
    while len(keep) > need:
        F = Y[keep]
        total = hypervolume(F, ref)
        # contributions equal up to rounding (relative 1e-9 of the front's volume) are ties
        gain = [round((total - hypervolume(np.delete(F, i, axis=0), ref)) / max(total, 1e-300), 9)
                for i in range(len(keep))]
        worst = min(range(len(keep)), key=lambda i: (gain[i], -keys[keep[i]]))
        del keep[worst]
    return keep


def _truncate_crowding(Y: np.ndarray, front: list[int], need: int, keys: Sequence[int]) -> list[int]:
    distance = crowding_distance(Y[front])
    order = sorted(range(len(front)), key=lambda i: (-distance[i], keys[front[i]]))
    return [front[i] for i in order[:need]]


class ParetoKDEProposer(KDEProposer):
    """BOHB's KDE model (`kde.KDEProposer`, same options and proposal rule) with the good/bad split of several
    objectives: `observe(vector, losses, budget)` takes the result's objective vector (None or any non-finite
    value for a failure) and the good set is `pareto_best` of the budget's results (see the module docstring).
    With one objective the good set is BOHB's (the n_good smallest losses, up to ties)."""

    def __init__(self, kinds: Sequence[int], *, rule: str = "crowding", **options: Any) -> None:
        super().__init__(kinds, **options)
        self.rule = rule
        self.values: dict[float, list[np.ndarray | None]] = {}

    def observe(self, vector: np.ndarray, loss: Any, budget: float) -> None:
        """Add one told result (`loss`: its objective vector, None for a failure) and refit that budget's
        densities when they can be."""
        budget = float(budget)
        if self.models and max(self.models) > budget:
            return
        values = None if loss is None else np.atleast_1d(np.asarray(loss, dtype=np.float64))
        if values is not None and not np.all(np.isfinite(values)):
            values = None
        self.vectors.setdefault(budget, []).append(np.asarray(vector, dtype=np.float64))
        self.values.setdefault(budget, []).append(values)
        rows = self.values[budget]
        n, d = len(rows), len(self.kinds)
        if n < self.min_points_in_model:
            return
        n_good = max(self.min_points_in_model, int(self.top_n_percent * n // 100))
        ok = [i for i, v in enumerate(rows) if v is not None]
        good = [ok[i] for i in pareto_best(np.array([rows[i] for i in ok]).reshape(len(ok), -1), n_good,
                                           rule=self.rule)] if ok else []
        good += [i for i, v in enumerate(rows) if v is None][:max(0, n_good - len(good))]  # failures last
        bad = sorted(set(range(n)) - set(good))
        if len(good) <= d or len(bad) <= d:
            return
        X = np.asarray(self.vectors[budget])
        self.models[budget] = (KDE(X[sorted(good)], self.kinds, self.min_bandwidth),
                               KDE(X[bad], self.kinds, self.min_bandwidth))


@register
class MOBOHB(Hyperband):
    """Multi-objective BOHB (see the module docstring).

    Options: eta, iterations (as `hyperband`); sampler ("kde" | "mobo" | "random", default "kde"); promotion
    ("hypervolume" | "crowding", default "hypervolume"); promotion_context ("budget" | "rung", default
    "budget": a rung is sorted among every result at its budget so far, or among itself alone); BOHB's
    min_points_in_model (default d + 1), top_n_percent (15), num_samples (64), random_fraction (default 1/12),
    bandwidth_factor (3), min_bandwidth (1e-3); mobo (a mapping of options of the inner `mobo` strategy,
    sampler "mobo" only)."""

    name = "mobohb"
    multi_objective = True
    min_objectives = 2
    # the inner MOBO's options before its defaults changed (see `mobo`): a search created then resumes with them
    # and the promotion and proposal defaults before their change (see the module docstring)
    pinned = {"mobo": {**_MOBO_DEFAULTS, **MOBO.pinned}, "promotion": "crowding", "promotion_context": "rung",
              "random_fraction": 1 / 3}

    def resolved_options(self) -> dict[str, Any]:
        own = {"promotion": self.promotion, "promotion_context": self.promotion_context,
               "random_fraction": self.model.random_fraction}
        return {**own, "mobo": self.mobo} if self.sampler == "mobo" else own

    @classmethod
    def legacy_options(cls, stored: Mapping[str, Any]) -> dict[str, Any]:
        old = super().legacy_options(stored)
        if stored.get("sampler") != "mobo":
            old.pop("mobo", None)
        return old

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                 eta: float = 3, iterations: int | None = None, sampler: str = "kde",
                 promotion: str = "hypervolume", promotion_context: str = "budget",
                 min_points_in_model: int | None = None, top_n_percent: float = 15, num_samples: int = 64,
                 random_fraction: float = 1 / 12,
                 bandwidth_factor: float = 3.0, min_bandwidth: float = 1e-3,
                 mobo: Mapping[str, Any] | None = None) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact, eta=eta, iterations=iterations)
        if sampler not in SAMPLERS:
            raise StrategyError(f"mobohb option sampler: must be {', '.join(SAMPLERS)}, got {sampler!r}")
        if promotion not in PROMOTIONS:
            raise StrategyError(f"mobohb option promotion: must be {' or '.join(PROMOTIONS)}, got {promotion!r}")
        if promotion_context not in CONTEXTS:
            raise StrategyError(f"mobohb option promotion_context: must be {' or '.join(CONTEXTS)}, got "
                                f"{promotion_context!r}")
        if mobo is not None and (sampler != "mobo" or not isinstance(mobo, Mapping)):
            raise StrategyError(f"mobohb option mobo: a mapping of mobo options, with sampler mobo only, got "
                                f"{mobo!r} with sampler {sampler}")
        self.sampler, self.promotion, self.promotion_context = sampler, promotion, promotion_context
        # budget -> (job, objectives) of every successful job: promotion's context and the inner MOBO's warm start
        self._ok_at: dict[float, list[tuple[Job, dict[str, float]]]] = {}
        try:
            self.model = ParetoKDEProposer(space.vector_kinds, rule=promotion,
                                           min_points_in_model=min_points_in_model, top_n_percent=top_n_percent,
                                           num_samples=num_samples, random_fraction=random_fraction,
                                           bandwidth_factor=bandwidth_factor, min_bandwidth=min_bandwidth)
        except ValueError as exc:  # its messages name BOHB's options
            raise StrategyError(str(exc).replace("bohb option", "mobohb option", 1)) from None
        self._live: dict[int, Job] = {}          # jobs asked for and not told: the inner MOBO's pending
        # resolved in full, so a later change of MOBO's defaults does not change this search (`pinned`)
        self.mobo = {**_MOBO_DEFAULTS, **dict(mobo or {})}
        if sampler == "mobo":
            self.mobo.update(MOBO.defaults_for(space, self.mobo))
        self._mobo_budget: float | None = None   # the budget the inner MOBO models
        self._inner: Any = None
        if sampler == "mobo":
            own = sorted(set(self.mobo) & set(_MOBO_OWN))
            if own:
                raise StrategyError(f"mobohb option mobo: {own[0]} is set by mobohb (the results of the model's "
                                    "budget)")
            self._make_inner(seed=0)  # checks the options now, in one line

    # -- promotion ------------------------------------------------------------------------------------------
    def select(self, told: list[tuple[Job, Result]], k: int) -> list[Job]:
        """The k jobs of a complete rung promoted by `pareto_best` (ties: the earlier job), sorted among every
        result at their budget so far (promotion_context "budget") or among themselves ("rung")."""
        if not told:
            return []
        Y = np.array([[r.objectives[name] for name in self.objectives] for _, r in told], dtype=np.float64)
        context = None
        if self.promotion_context == "budget":
            ids = {job.id for job, _ in told}
            context = np.array([[values[name] for name in self.objectives]
                                for job, values in self._ok_at.get(float(told[0][0].budget), [])
                                if job.id not in ids], dtype=np.float64)
        return [told[i][0] for i in pareto_best(Y, k, rule=self.promotion, keys=[j.id for j, _ in told],
                                                context=context)]

    # -- new points -----------------------------------------------------------------------------------------
    def propose(self, budget: float) -> tuple[Any, Mapping[str, Any]]:
        if self.sampler == "random":
            return self.space.sample(self.rng), {"model_based": False}
        if self.sampler == "kde":
            point, model_based = self.model.propose(self.space, self.rng)
            return point, {"model_based": model_based}
        if self._mobo_budget is None or self.rng.random() < self.model.random_fraction:
            return self.space.sample(self.rng), {"model_based": False}
        if self._inner is None:
            self._inner = self._make_inner(int(self.rng.integers(2**31 - 1)))
        jobs = self._inner.ask(1, list(self._live.values()))
        if not jobs:  # the inner strategy has nothing new (a small space used up)
            return self.space.sample(self.rng), {"model_based": False}
        info = jobs[0].info
        return jobs[0].point, {"model_based": bool(info.get("model_based")), "reason": info.get("reason", ""),
                               "model_budget": self._mobo_budget, **({"fit_s": info["fit_s"]} if "fit_s" in info
                                                                     else {})}

    def _make_inner(self, seed: int) -> Any:
        data = self._ok_at.get(self._mobo_budget, []) if self._mobo_budget is not None else []
        warm = [{"config": self.space.to_config(job.point), "objectives": values} for job, values in data]
        try:
            return MOBO(self.space, objectives=self.objectives, seed=seed, max_budget=self.max_budget,
                        exact=self.exact, n_initial=2, warm_start=warm, **self.mobo)
        except StrategyError as exc:
            raise StrategyError(f"mobohb option mobo: {exc}") from None
        except TypeError as exc:
            raise StrategyError(f"mobohb option mobo: bad option ({exc})") from None

    # -- bookkeeping ----------------------------------------------------------------------------------------
    def new_job(self, point: Any, budget: float | None = None, **info: Any) -> Job:
        job = super().new_job(point, budget, **info)
        self._live[job.id] = job
        return job

    def _tell(self, job: Job, result: Result) -> None:
        super()._tell(job, result)
        self._live.pop(job.id, None)
        values = [result.objectives[name] for name in self.objectives] if result.ok else None
        if values is not None:
            self._ok_at.setdefault(float(job.budget), []).append(
                (job, {name: float(v) for name, v in zip(self.objectives, values)}))
        if self.sampler == "kde":
            self.model.observe(self.space.to_vector(job.point), values, job.budget)
        elif self.sampler == "mobo" and values is not None:
            self._observe_mobo(job, result)

    def _observe_mobo(self, job: Job, result: Result) -> None:
        budget = float(job.budget)
        if budget == self._mobo_budget and self._inner is not None:
            self._inner.tell(job, result)
        elif len(self._ok_at[budget]) >= self.model.min_points_in_model and (self._mobo_budget is None
                                                               or budget > self._mobo_budget):
            self._mobo_budget, self._inner = budget, None   # rebuilt, warm-started, at the next proposal
