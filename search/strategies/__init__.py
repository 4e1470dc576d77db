"""Search strategies: one module per strategy, each registered by name with `@register` (see `base`).

`make_strategy(name, space, objectives=[...], seed=..., max_budget=..., **options)` builds one;
`STRATEGIES` maps names to classes once `load_all()` has imported every strategy module.
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import STRATEGIES, Job, Result, Strategy, StrategyError, make_strategy, register, strategy_class

__all__ = ["STRATEGIES", "Job", "Result", "Strategy", "StrategyError", "make_strategy", "register",
           "strategy_class", "load_all", "strategy_names"]

# Modules of this package that hold no strategy (shared parts).
_SHARED = {"base", "predictors", "kde", "sampling"}


def load_all() -> None:
    """Import every strategy module of this package (each registers itself)."""
    for info in pkgutil.iter_modules(__path__):
        if info.name not in _SHARED and not info.name.startswith("_"):
            importlib.import_module(f"{__name__}.{info.name}")


def strategy_names() -> list[str]:
    load_all()
    return sorted(STRATEGIES)
