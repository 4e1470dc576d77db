"""Evaluators: (configuration, budget, seed) -> metrics, behind the engine (interface in `.base`).

`make_evaluator(kind, **kw)` builds one by kind ("training", "tabular", "synthetic"); `from_context(ctx)`
rebuilds one from its JSON `context()` in another process (a worker), and keeps what it rebuilt, one evaluator
per context, so that a worker loads a data set or a table once however many jobs it serves.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Mapping

from ..spaces.base import canonical_json
from .base import REPORT_ONLY, Evaluation, Evaluator

__all__ = ["Evaluation", "Evaluator", "REPORT_ONLY", "EVALUATOR_KINDS", "make_evaluator", "from_context"]

EVALUATOR_KINDS = ("training", "tabular", "synthetic")
_MAX_REBUILT = 8
_REBUILT: OrderedDict[str, Evaluator] = OrderedDict()


def _class(kind: str) -> Any:
    if kind == "training":
        from .training import TrainingEvaluator

        return TrainingEvaluator
    if kind == "tabular":
        from .tabular import TabularEvaluator

        return TabularEvaluator
    if kind == "synthetic":
        from .synthetic import SyntheticEvaluator

        return SyntheticEvaluator
    raise ValueError(f"evaluator kind: must be one of {', '.join(EVALUATOR_KINDS)}, got {kind!r}")


def make_evaluator(kind: str, **kw: Any) -> Evaluator:
    """The evaluator of `kind` built from its constructor's arguments:
    training: space, dataset, data_dir, train_overrides, device, exact_seed;
    tabular: space, table_path, val_column, test_column, dataset, num_classes, input_shape, cache_dir;
    synthetic: problem."""
    return _class(kind)(**kw)


def from_context(ctx: Mapping[str, Any]) -> Evaluator:
    """The evaluator of a `context()` (the same object again for the same context in this process)."""
    key = canonical_json(dict(ctx))
    if key in _REBUILT:
        _REBUILT.move_to_end(key)
        return _REBUILT[key]
    kind = ctx.get("kind")
    cls = _class(kind)
    if kind == "synthetic":
        evaluator = cls(ctx["problem"])
    else:
        evaluator = cls.from_context(ctx)
    _REBUILT[key] = evaluator
    while len(_REBUILT) > _MAX_REBUILT:
        _REBUILT.popitem(last=False)
    return evaluator
