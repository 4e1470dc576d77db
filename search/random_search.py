"""Random search over generator hyperparameters (HNAG-RS): every configuration is sampled from the space's
prior and trained for the same budget. Same workers, engine and run format as BOHB."""
from __future__ import annotations

import time
import warnings
from typing import Any, Callable, Mapping

import ConfigSpace
from hpbandster.core.base_config_generator import base_config_generator

from .spaces import to_builtin


class RandomConfigGenerator(base_config_generator):
    """Samples from the space's prior (forbidden clauses and conditions respected), seeded, built-in types."""

    def __init__(self, configspace: ConfigSpace.ConfigurationSpace, seed: int = 0) -> None:
        super().__init__()
        self.configspace = configspace
        self.configspace.seed(int(seed))
        self.optimizer_time_s = 0.0

    def get_config(self, budget: float) -> tuple[dict[str, Any], dict[str, Any]]:
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            config = dict(self.configspace.sample_configuration())
        self.optimizer_time_s += time.perf_counter() - start
        return to_builtin(config), {"model_based_pick": False}

    def new_result(self, job: Any, update_model: bool = True) -> None:
        pass  # a failed job is already logged by the engine; nothing to learn


def check_random(budget: float, evaluations: int) -> None:
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0:
        raise ValueError(f"budget: must be a number of epochs > 0, got {budget!r}")
    if isinstance(evaluations, bool) or not isinstance(evaluations, int) or evaluations < 1:
        raise ValueError(f"evaluations: must be an integer >= 1, got {evaluations!r}")


def random_schedule(budget: float, evaluations: int) -> Callable[[int], tuple[list[int], list[float]]]:
    """One bracket of `evaluations` configurations, all at `budget`."""
    check_random(budget, evaluations)
    return lambda iteration: ([int(evaluations)], [float(budget)])


def run_random(run_dir: str, *, space: str | None = None, dataset: str | None = None,
               budget: float | None = None, evaluations: int | None = None, resume: bool = False,
               space_options: Mapping[str, Any] | None = None, seed: int | None = None,
               train_overrides: Mapping[str, Any] | None = None, final_samples: int = 0,
               final_budget: float | None = None, **engine_options: Any) -> dict[str, Any]:
    """Run (or, with `resume`, continue) a random search in `run_dir`; see `search.engine.run_search`."""
    from .engine.pyro import run_search

    settings = {"budget": budget, "evaluations": evaluations}
    return run_search("random", run_dir, space=space, dataset=dataset, settings=settings, resume=resume,
                      space_options=space_options, seed=seed, train_overrides=train_overrides,
                      final_samples=final_samples, final_budget=final_budget, **engine_options)
