"""BOHB over generator hyperparameters: the Hyperband schedule, a BOHB proposer that respects the space's
forbidden clauses, and `run_bohb`, the whole search (run directory, workers, optional final evaluation).

The proposer is hpbandster's BOHB (TPE-style KDEs per budget) with three changes:
- candidates that violate a forbidden clause (K >= N) are discarded before the acquisition is evaluated,
  instead of hpbandster's fallback of throwing the whole model-based pick away for a random one;
- its random numbers come from its own seeded generator (`seed`), not numpy's global state;
- it returns built-in Python types only (numpy scalars and np.str_ would hang Pyro4's serpent serialiser).
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Any, Callable, Mapping

import ConfigSpace
import ConfigSpace.util
import numpy as np
import scipy.stats as sps
from hpbandster.optimizers.config_generators.bohb import BOHB as _HPBandSterBOHB

from .spaces import to_builtin

BOHB_OPTIONS = ("min_points_in_model", "top_n_percent", "num_samples", "random_fraction", "bandwidth_factor",
                "min_bandwidth")


def check_budgets(min_budget: float, max_budget: float, eta: float, iterations: int | None = None) -> None:
    def num(v: Any) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if not num(min_budget) or min_budget <= 0:
        raise ValueError(f"min budget: must be a number of epochs > 0, got {min_budget!r}")
    if not num(max_budget) or max_budget < min_budget:
        raise ValueError(f"max budget: must be at least the min budget {min_budget}, got {max_budget!r}")
    if not num(eta) or eta < 2:
        raise ValueError(f"eta: must be a number >= 2, got {eta!r}")
    if iterations is not None and (isinstance(iterations, bool) or not isinstance(iterations, int)
                                   or iterations < 1):
        raise ValueError(f"iterations: must be an integer >= 1, got {iterations!r}")


def hyperband_budgets(min_budget: float, max_budget: float, eta: float) -> list[float]:
    """The budgets of the Hyperband rungs, as hpbandster computes them (max_budget * eta^-k); the smallest is
    the largest such budget that is >= min_budget (up to rounding)."""
    check_budgets(min_budget, max_budget, eta)
    rungs = int(math.floor(math.log(max_budget / min_budget) / math.log(eta) + 1e-9)) + 1
    return [float(max_budget * eta ** (-k)) for k in range(rungs - 1, -1, -1)]


def hyperband_schedule(min_budget: float, max_budget: float, eta: float
                       ) -> Callable[[int], tuple[list[int], list[float]]]:
    """iteration -> (number of configurations per rung, budgets per rung) of that Successive Halving bracket."""
    budgets = hyperband_budgets(min_budget, max_budget, eta)
    rungs = len(budgets)

    def schedule(iteration: int) -> tuple[list[int], list[float]]:
        s = rungs - 1 - (iteration % rungs)
        n0 = int(math.floor(rungs / (s + 1)) * eta ** s)
        ns = [max(int(n0 * eta ** (-i)), 1) for i in range(s + 1)]
        return ns, budgets[-s - 1:]

    return schedule


def schedule_epochs(schedule: Callable[[int], tuple[list[int], list[float]]], iterations: int) -> float:
    """Total epochs of `iterations` brackets when nothing fails."""
    total = 0.0
    for it in range(iterations):
        ns, budgets = schedule(it)
        total += sum(n * b for n, b in zip(ns, budgets))
    return total


def schedule_jobs(schedule: Callable[[int], tuple[list[int], list[float]]], iterations: int) -> int:
    return sum(sum(schedule(it)[0]) for it in range(iterations))


class BOHBConfigGenerator(_HPBandSterBOHB):
    """hpbandster's BOHB proposer, made safe for forbidden clauses, seeded, and serpent-safe (see the module
    docstring). `optimizer_time_s` accumulates the time spent proposing and updating the model."""

    def __init__(self, configspace: ConfigSpace.ConfigurationSpace, seed: int = 0, **options: Any) -> None:
        unknown = sorted(set(options) - set(BOHB_OPTIONS))
        if unknown:
            raise ValueError(f"bohb option {unknown[0]}: unknown (allowed: {', '.join(BOHB_OPTIONS)})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            super().__init__(configspace, **options)
        self.rng = np.random.default_rng(seed)
        self.configspace.seed(int(seed))
        self.names = list(configspace.keys())
        self.optimizer_time_s = 0.0
        self.model_based_picks = 0

    def get_config(self, budget: float) -> tuple[dict[str, Any], dict[str, Any]]:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                config, info = self._propose()
        finally:
            self.optimizer_time_s += time.perf_counter() - start
        self.model_based_picks += bool(info.get("model_based_pick"))
        return to_builtin(config), to_builtin(info)

    def new_result(self, job: Any, update_model: bool = True) -> None:
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.simplefilter("ignore", FutureWarning)
                super().new_result(job, update_model=update_model)
        finally:
            self.optimizer_time_s += time.perf_counter() - start

    # -- proposing -----------------------------------------------------------------------------------------
    def _random(self) -> dict[str, Any]:
        return dict(self.configspace.sample_configuration())

    def _vector_to_config(self, vector: list[float]) -> dict[str, Any] | None:
        """The valid configuration of a KDE vector, or None when it violates a forbidden clause."""
        try:
            values = dict(ConfigSpace.Configuration(self.configspace, vector=np.asarray(vector, dtype=float)))
            config = ConfigSpace.util.deactivate_inactive_hyperparameters(values, self.configspace)
            config.check_valid_configuration()
        except Exception:  # ConfigSpace signals forbidden or inactive values with several exception types
            return None
        return dict(config)

    def _propose(self) -> tuple[dict[str, Any], dict[str, Any]]:
        if not self.kde_models or self.rng.random() < self.random_fraction:
            return self._random(), {"model_based_pick": False}
        budget = max(self.kde_models)
        good, bad = self.kde_models[budget]["good"], self.kde_models[budget]["bad"]
        best, best_config = math.inf, None
        for _ in range(self.num_samples):
            datum = good.data[self.rng.integers(len(good.data))]
            vector = []
            for m, bw, t in zip(datum, good.bw, self.vartypes):
                bw = max(bw, self.min_bandwidth)
                if t == 0:
                    bw = self.bw_factor * bw
                    vector.append(float(sps.truncnorm.rvs(-m / bw, (1 - m) / bw, loc=m, scale=bw,
                                                          random_state=self.rng)))
                else:
                    vector.append(int(m) if self.rng.random() < (1 - bw) else int(self.rng.integers(t)))
            config = self._vector_to_config(vector)
            if config is None:
                continue
            l_x, g_x = good.pdf(vector), bad.pdf(vector)
            value = max(1e-32, g_x) / max(l_x, 1e-32)
            if not np.isfinite(value):
                if np.isfinite(l_x):  # the bad KDE has no mass there (an unseen categorical value): take it
                    best_config = config
                    break
                continue
            if value < best:
                best, best_config = value, config
        if best_config is None:
            return self._random(), {"model_based_pick": False}
        return best_config, {"model_based_pick": True}


def bohb_options(options: Mapping[str, Any] | None) -> dict[str, Any]:
    options = dict(options or {})
    unknown = sorted(set(options) - set(BOHB_OPTIONS))
    if unknown:
        raise ValueError(f"bohb option {unknown[0]}: unknown (allowed: {', '.join(BOHB_OPTIONS)})")
    return options


def run_bohb(run_dir: str, *, space: str | None = None, dataset: str | None = None,
             min_budget: float | None = None, max_budget: float | None = None, eta: float | None = None,
             iterations: int | None = None,
             resume: bool = False, space_options: Mapping[str, Any] | None = None, seed: int | None = None,
             train_overrides: Mapping[str, Any] | None = None, bohb: Mapping[str, Any] | None = None,
             final_samples: int = 0, final_budget: float | None = None, **engine_options: Any
             ) -> dict[str, Any]:
    """Run (or, with `resume`, continue) a BOHB search in `run_dir`; see `search.engine.run_search`."""
    from .engine.pyro import run_search

    settings = {"min_budget": min_budget, "max_budget": max_budget, "eta": eta, "bohb": bohb}
    return run_search("bohb", run_dir, space=space, dataset=dataset, settings=settings, iterations=iterations,
                      resume=resume, space_options=space_options, seed=seed, train_overrides=train_overrides,
                      final_samples=final_samples, final_budget=final_budget, **engine_options)
