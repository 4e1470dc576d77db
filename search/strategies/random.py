"""`random`: random search, uniform over the space's prior and without replacement, on any space.

Every job is a point drawn with `space.sample` and never proposed before (by `space.hash`, pending jobs
included); on a finite space the strategy is `done` once every point was proposed (the last ones drawn from the
enumerated rest of the space, so the end costs no rejection loop). It uses no result, so it runs with any
number of objectives: it is the baseline of multi-objective searches too. Failed results change nothing.
"""
from __future__ import annotations

from .base import Job, register
from .sampling import SearchStrategy

__all__ = ["RandomSearch"]


@register
class RandomSearch(SearchStrategy):
    """Random search without replacement (see the module docstring); no options."""

    name = "random"
    multi_objective = True

    def _next(self, n: int, pending: list[Job]) -> list[Job]:
        return self.random_jobs(n, origin="random")
