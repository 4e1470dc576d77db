"""`bohb`: BOHB (Falkner, Klein and Hutter, 2018, "BOHB: robust and efficient hyperparameter optimization at
scale", ICML) on the ask/tell interface: Hyperband's brackets and asynchronous schedule (`hyperband`), with the
new points of every bracket proposed by hpbandster's KDE model (`kde.KDEProposer`) instead of drawn at random.

What the model sees: every told result, on its budget, as (`space.to_vector(point)`, loss); a failed result
counts with loss inf, i.e. among the bad configurations, as in hpbandster. Pending jobs are not modelled (as
hpbandster): several points asked for at once are proposed from the same model, each with its own random
draws. A promoted point is not a proposal: its job carries "promoted_from"; a new point's job carries
{"model_based": true | false} (false: a draw from the prior, with probability random_fraction or while no
budget has enough results for a model). The departures of the model from hpbandster's are listed in `kde`.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

from .base import Job, Result, StrategyError, register
from .hyperband import Hyperband
from .kde import KDEProposer

__all__ = ["BOHB"]


@register
class BOHB(Hyperband):
    """BOHB (see the module docstring).

    Options: eta, iterations (as `hyperband`); min_points_in_model (default d + 1 for d vector coordinates),
    top_n_percent (15), num_samples (64), random_fraction (1/3), bandwidth_factor (3), min_bandwidth (1e-3):
    hpbandster's names and defaults."""

    name = "bohb"

    def __init__(self, space: Any, *, objectives: Sequence[str], seed: int, max_budget: float,
                 min_budget: float | None = None, exact: Mapping[str, Callable[[Any], float]] | None = None,
                 eta: float = 3, iterations: int | None = None, min_points_in_model: int | None = None,
                 top_n_percent: float = 15, num_samples: int = 64, random_fraction: float = 1 / 3,
                 bandwidth_factor: float = 3.0, min_bandwidth: float = 1e-3) -> None:
        super().__init__(space, objectives=objectives, seed=seed, max_budget=max_budget, min_budget=min_budget,
                         exact=exact, eta=eta, iterations=iterations)
        try:
            self.model = KDEProposer(space.vector_kinds, min_points_in_model=min_points_in_model,
                                     top_n_percent=top_n_percent, num_samples=num_samples,
                                     random_fraction=random_fraction, bandwidth_factor=bandwidth_factor,
                                     min_bandwidth=min_bandwidth)
        except ValueError as exc:
            raise StrategyError(str(exc)) from None

    def propose(self, budget: float) -> tuple[Any, Mapping[str, Any]]:
        point, model_based = self.model.propose(self.space, self.rng)
        return point, {"model_based": model_based}

    def _tell(self, job: Job, result: Result) -> None:
        super()._tell(job, result)
        self.model.observe(self.space.to_vector(job.point), self.loss(result), job.budget)
