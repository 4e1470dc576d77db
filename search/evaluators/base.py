"""The evaluator interface: (configuration, budget, seed) -> metrics, behind the engine.

Three kinds: `training` (compile the point's network and train it on a data set: the one place where factory
and training meet), `tabular` (NAS-Bench tables, with exact costs counted from the compiled spec) and
`synthetic` (test problems with known optima or fronts). An evaluator never raises for a bad configuration or a
diverging run: it returns an `Evaluation` with status "failed" and the reason.

Metric names are the objective names of `search.objectives` (all minimised): "error" (validation error, a
fraction), "test_error" (for reports only, never shown to a strategy), "params", "macs", "memory", "latency",
and a synthetic problem's own ("f", "f1", "f2").
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

__all__ = ["Evaluation", "Evaluator", "REPORT_ONLY"]

#: metrics an evaluator may give that a search must never see (the benchmarks' rule: judge by test, search by
#: validation)
REPORT_ONLY = ("test_error",)


@dataclass
class Evaluation:
    status: str                                   # "ok" | "failed"
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "metrics": dict(self.metrics), "info": dict(self.info), "error": self.error}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Evaluation":
        return cls(str(d["status"]), dict(d.get("metrics") or {}), dict(d.get("info") or {}), d.get("error"))


class Evaluator(ABC):
    """Base class (see the module docstring)."""

    kind: str = "evaluator"
    #: True when jobs are cheap enough to run in the master's process (no Pyro, no worker processes)
    in_process: bool = True

    @property
    @abstractmethod
    def metrics(self) -> tuple[str, ...]:
        """Every metric `evaluate` reports (objective names)."""

    @abstractmethod
    def evaluate(self, config: Mapping[str, Any], budget: float, seed: int) -> Evaluation:
        """Evaluate one JSON configuration of the evaluator's space at `budget`."""

    def exact(self) -> dict[str, Callable[[Any], float]]:
        """Objectives computable from a point without evaluating it: name -> fn(point)."""
        return {}

    def context(self) -> dict[str, Any]:
        """JSON that rebuilds this evaluator in a worker process (`search.evaluators.from_context`)."""
        raise NotImplementedError(f"{self.kind} evaluator: runs in-process only")

    def describe(self) -> str:
        return self.kind
