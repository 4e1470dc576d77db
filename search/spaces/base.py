"""The one space interface every strategy searches through.

A space holds *points*: its own native objects (an `NB201Cell`, an `NB101Cell`, or a plain configuration dict
for the ConfigSpace-based generator and synthetic spaces). Points cross the engine, the run store and the
workers as JSON configurations (`to_config` / `from_config`); strategies work on points.

What each family of strategies needs:

| need | methods | used by |
|---|---|---|
| sampling, validity, identity | `sample`, `is_valid`, `hash` | every strategy |
| unit-hypercube vector | `to_vector`, `from_vector`, `vector_kinds` | BOHB's KDE, BANANAS on spaces without paths |
| one-hot vector | `one_hot_vector`, `from_one_hot_vector` | MOBO's surrogates |
| local moves | `mutate`, `neighbours` | evolution, local search, BANANAS/BONAS candidate generation |
| feature encodings | `encodings`, `encode` | BANANAS's predictor (path encodings on cells, `vector` elsewhere) |
| graph view | `has_graph`, `gcn_graph` | BONAS's GCN |
| the network | `to_spec` | the training evaluator and exact cost objectives |

`vector_kinds[i]` is 0 for a continuous coordinate in [0, 1] and k > 0 for a categorical one whose value is an
index in 0..k-1 (ConfigSpace's vector convention, which hpbandster's KDE expects).
"""
from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["Space", "SpaceError", "canonical_json", "to_builtin"]


class SpaceError(ValueError):
    """A configuration that does not belong to the space (one line, naming the field)."""


def to_builtin(value: Any) -> Any:
    """Numpy scalars and arrays, tuples, np.str_ and paths to plain Python types (safe for serpent and JSON)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if isinstance(value, Mapping):
        return {str(to_builtin(k)): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar (np.float64, np.int64, np.str_, np.bool_) or array
        return to_builtin(value.tolist())
    for kind in (bool, int, float, str):  # other subclasses of the built-in types
        if isinstance(value, kind):
            return kind(value)
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot convert {type(value).__name__} to a built-in type")



def canonical_json(value: Any) -> str:
    """The canonical text of a JSON-able value (sorted keys, no spaces): hashes and equality of configs."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class Space(ABC):
    """Base class of every search space (see the module docstring)."""

    name: str = "space"
    #: number of distinct points when the space is finite and small enough to enumerate, else None
    size: int | None = None
    #: feature encodings for predictors; every space has "vector"
    encodings: tuple[str, ...] = ("vector",)
    #: whether `gcn_graph` exists (cells), so BONAS can run
    has_graph: bool = False
    #: whether points compile to networks (`to_spec`); synthetic problems have none
    has_spec: bool = True

    # -- identity and JSON --------------------------------------------------------------------------------
    @abstractmethod
    def sample(self, rng: np.random.Generator) -> Any:
        """A point drawn from the space's prior, with the caller's generator only."""

    def is_valid(self, point: Any) -> bool:
        return True

    @abstractmethod
    def hash(self, point: Any) -> str:
        """Equal for points that are the same architecture (or configuration)."""

    @abstractmethod
    def to_config(self, point: Any) -> dict[str, Any]:
        """The JSON form of a point (what the run store records and workers receive)."""

    @abstractmethod
    def from_config(self, config: Mapping[str, Any]) -> Any:
        """The point of a JSON configuration; raises `SpaceError` for one that is not in the space."""

    def describe(self, point: Any) -> str:
        """A short text form for logs and reports."""
        return canonical_json(self.to_config(point))

    # -- vectors ------------------------------------------------------------------------------------------
    @property
    @abstractmethod
    def vector_kinds(self) -> list[int]:
        """Per coordinate: 0 continuous in [0, 1], k > 0 categorical with k values (index coordinates)."""

    @abstractmethod
    def to_vector(self, point: Any) -> np.ndarray:
        """Coordinates as described by `vector_kinds` (float64)."""

    @abstractmethod
    def from_vector(self, vector: Sequence[float]) -> Any | None:
        """The point of a vector (continuous coordinates clipped, categorical ones rounded), or None when the
        vector decodes to no valid point."""

    def unit_vector(self, point: Any) -> np.ndarray:
        """`to_vector` with categorical indices scaled to [0, 1] (for models that want a unit hypercube)."""
        v = self.to_vector(point)
        kinds = np.asarray(self.vector_kinds)
        scale = np.where(kinds > 1, np.maximum(kinds - 1, 1), 1)
        return v / scale

    def from_unit_vector(self, unit: Sequence[float]) -> Any | None:
        kinds = np.asarray(self.vector_kinds)
        u = np.clip(np.asarray(unit, dtype=np.float64), 0.0, 1.0)
        v = np.where(kinds > 1, np.rint(u * np.maximum(kinds - 1, 1)), u)
        return self.from_vector(v)

    @property
    def one_hot_size(self) -> int:
        """Length of a `one_hot_vector`."""
        return sum(k if k > 2 else 1 for k in self.vector_kinds)

    def one_hot_vector(self, point: Any) -> np.ndarray:
        """`to_vector` with each categorical coordinate of k > 2 values as k one-hot coordinates (continuous and
        binary coordinates as in `unit_vector`): a model then sees no order among a categorical's values."""
        v, kinds = self.to_vector(point), self.vector_kinds
        parts = [np.eye(k)[int(round(x))] if k > 2 else np.array([x / max(k - 1, 1)]) for x, k in zip(v, kinds)]
        return np.concatenate(parts) if parts else np.zeros(0)

    def from_one_hot_vector(self, features: Sequence[float]) -> Any | None:
        """The point of a `one_hot_vector` (each one-hot block read by its largest entry), or None if invalid."""
        f = np.asarray(features, dtype=np.float64).reshape(-1)
        v, at = [], 0
        for k in self.vector_kinds:
            width = k if k > 2 else 1
            block = f[at:at + width]
            v.append(float(np.argmax(block)) if k > 2 else float(np.clip(block[0], 0.0, 1.0)) * max(k - 1, 1))
            at += width
        if at != f.shape[0]:
            raise ValueError(f"one-hot vector: space {self.name} has {self.one_hot_size} coordinates, got "
                             f"{f.shape[0]}")
        return self.from_vector(v)

    # -- local moves --------------------------------------------------------------------------------------
    @abstractmethod
    def mutate(self, point: Any, rng: np.random.Generator) -> Any:
        """One small random move to a different, valid point."""

    @abstractmethod
    def neighbours(self, point: Any, rng: np.random.Generator | None = None) -> list[Any]:
        """The points one move away (all of them on discrete spaces, a sample on continuous ones)."""

    def all_points(self) -> list[Any]:
        raise NotImplementedError(f"space {self.name}: cannot be enumerated")

    # -- encodings and graphs -----------------------------------------------------------------------------
    def encode(self, point: Any, kind: str = "vector") -> np.ndarray:
        if kind != "vector":
            raise ValueError(f"space {self.name}: encoding must be one of {', '.join(self.encodings)}, "
                             f"got {kind!r}")
        return self.unit_vector(point)

    def gcn_graph(self, point: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError(f"space {self.name}: has no graph view")

    # -- the network --------------------------------------------------------------------------------------
    def to_spec(self, point: Any, *, seed: int, input_shape: tuple[int, int, int], num_classes: int) -> Any:
        """The `hnag.ArchitectureSpec` of a point for a data set's input shape and classes."""
        raise NotImplementedError(f"space {self.name}: its points are not networks")

    def context(self) -> dict[str, Any]:
        """What rebuilds this space in another process: {"space": name, "options": {...}} (JSON)."""
        return {"space": self.name, "options": {}}
