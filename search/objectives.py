"""The one registry of objectives. Names are the evaluators' metric names (`search.evaluators.base`): error,
memory, latency, params, macs; a synthetic problem's own objectives (f, f1, f2) are learned and untransformed.

Every objective is minimised. Each one declares whether it is

* **learned** -- its value only comes back from an evaluation job (training, or a measurement on the device);
  the proposer fits a surrogate to it and optimises an acquisition over it; or
* **exact** -- cheap to compute from the configuration itself (e.g. the parameter count of the generated
  spec); it needs no training and no surrogate, and the proposer calls ``compute(config)`` on candidates.

``transform`` is the monotone map applied before modelling ("log" for positive quantities spanning orders of
magnitude such as memory, params, MACs, latency). Pareto dominance is unchanged by a monotone map, so the
proposer may work in transformed units while reports use raw values.

Which objectives are exact is the caller's choice: the built-ins below default to the usual split (validation
error, memory and latency are measured, params and MACs are counted from the spec, as every evaluator's
`exact()` gives them), and ``get_objective``
lets a caller flip one, e.g. ``get_objective("memory", learned=False, compute=my_memory_model)``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence

import numpy as np

__all__ = ["Objective", "OBJECTIVES", "DEFAULT_OBJECTIVES", "get_objective", "objectives_from_names",
           "objective_matrix"]


@dataclass(frozen=True)
class Objective:
    """One minimised objective.

    name: identifier (also the default result key). learned: True when only an evaluation yields it (the
    proposer models it with a surrogate); False when ``compute(config) -> float`` gives it exactly. key: the
    field of an evaluation result that holds it. transform: "none" or "log". unit: for reports.
    """

    name: str
    learned: bool = True
    key: str | None = None
    transform: str = "none"
    unit: str = ""
    description: str = ""
    compute: Callable[[Any], float] | None = None
    aliases: tuple[str, ...] = ()

    def __post_init__(self):
        if self.transform not in ("none", "log"):
            raise ValueError(f"objective {self.name}: transform must be 'none' or 'log', got {self.transform!r}")
        # An exact objective may be declared without compute (the built-in "params" needs the caller's
        # factory); evaluate_exact checks it at use.

    @property
    def result_key(self) -> str:
        return self.key or self.name

    def forward(self, values) -> np.ndarray:
        """Map raw values to modelling units (non-finite and, for 'log', non-positive values become NaN)."""
        v = np.asarray(values, dtype=np.float64)
        if self.transform == "log":
            with np.errstate(divide="ignore", invalid="ignore"):
                v = np.where(v > 0, np.log(np.where(v > 0, v, 1.0)), np.nan)
        return np.where(np.isfinite(v), v, np.nan)

    def inverse(self, values) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)
        return np.exp(v) if self.transform == "log" else v

    def value(self, result: Mapping[str, Any]) -> float:
        """Read this objective from an evaluation result (NaN when missing, not finite or the job failed).

        Accepts a flat mapping or the shape ``search.evaluation.evaluate`` returns (``{"status", "loss",
        "info": {...}}``; top-level keys win over ``info``). Looks up ``result_key`` then ``aliases``;
        ``error`` falls back to ``1 - val_accuracy`` (accuracy as a fraction in [0, 1]; a value above 1
        is read as a percentage).
        """
        if result.get("status") == "failed":
            return math.nan
        info = result.get("info")
        flat = {**(info if isinstance(info, Mapping) else {}), **{k: v for k, v in result.items() if k != "info"}}
        raw = next((flat[k] for k in (self.result_key, *self.aliases) if flat.get(k) is not None), None)
        if raw is None and self.name == "error" and flat.get("val_accuracy") is not None:
            acc = float(flat["val_accuracy"])
            raw = 1.0 - (acc / 100.0 if acc > 1.0 else acc)
        try:
            v = float(raw)
        except (TypeError, ValueError):
            return math.nan
        return v if math.isfinite(v) else math.nan

    def evaluate_exact(self, config: Any) -> float:
        if self.compute is None:
            raise ValueError(f"objective {self.name!r} is exact (learned=False) but has no compute function; "
                             f"pass compute=... via get_objective")
        return float(self.compute(config))


OBJECTIVES: dict[str, Objective] = {
    "error": Objective("error", learned=True, unit="", aliases=("loss",),
                       description="validation error (1 - accuracy)"),
    "memory": Objective("memory", learned=True, transform="log", unit="MiB", aliases=("memory_mb_per_sample",),
                        description="training memory per sample (measured)"),
    "latency": Objective("latency", learned=True, transform="log", unit="ms",
                         description="inference latency (measured, hardware dependent)"),
    "params": Objective("params", learned=False, transform="log", unit="",
                        description="number of parameters (counted on the spec)"),
    "macs": Objective("macs", learned=False, transform="log", unit="",
                      description="multiply-accumulates per sample (counted without training)"),
}

DEFAULT_OBJECTIVES: tuple[str, ...] = ("error", "memory")


def get_objective(name: str, **overrides) -> Objective:
    """A built-in objective by name, optionally with fields replaced (learned=..., compute=..., key=...)."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose from {', '.join(OBJECTIVES)}")
    obj = OBJECTIVES[name]
    return replace(obj, **overrides) if overrides else obj


def objectives_from_names(names: Sequence[str] = DEFAULT_OBJECTIVES,
                          compute: Mapping[str, Callable[[Any], float]] | None = None) -> list[Objective]:
    """Built-in objectives by name; ``compute`` supplies functions for the exact ones (name -> f(config))."""
    if len(names) < 2:
        raise ValueError("a multi-objective search needs at least two objectives")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate objective in {list(names)}")
    compute = dict(compute or {})
    out = []
    for n in names:
        obj = get_objective(n)
        if n in compute:
            obj = replace(obj, compute=compute[n])
        out.append(obj)
    return out


def objective_matrix(results: Sequence[Mapping[str, Any]], objectives: Sequence[Objective]) -> np.ndarray:
    """Raw objective values of evaluation results, shape (N, M), NaN where missing."""
    return np.array([[o.value(r) for o in objectives] for r in results], dtype=np.float64).reshape(
        len(results), len(objectives))
