"""The NAS-Bench cell spaces (nb201, nb101) as `Space`s. Points are the cells themselves; their JSON form is
{"arch": <the benchmark's string>}.

Vectors: NB201 is six categorical coordinates (the op of each edge, 5 values); NB101 is the 21 upper-triangle
adjacency bits of a 7-vertex cell (categorical, 2 values) and the ops of the 5 inner vertices (3 values). A
vector that decodes to an invalid NB101 cell (disconnected, more than 9 edges) decodes to None.

Network sizes for `to_spec`: the benchmarks' own (NB201: 16 channels, 5 cells per stage; NB101: 128 stem
channels, 3 stacks of 3 cells), adjustable through the space options (`channels`, `cells_per_stage` for
nb201; `stem_channels`, `num_stacks`, `cells_per_stack` for nb101).
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from .nb101 import MAX_VERTICES, NB101Cell, NB101Space
from .nb101 import OPS as NB101_OPS
from .nb201 import EDGES, NB201Space
from .nb201 import OPS as NB201_OPS
from .base import Space, SpaceError

_SPEC_OPTIONS = {"nb201": ("channels", "cells_per_stage"),
                 "nb101": ("stem_channels", "num_stacks", "cells_per_stack")}
_UPPER = [(i, j) for i in range(MAX_VERTICES) for j in range(i + 1, MAX_VERTICES)]


class CellSpace(Space):
    """A NAS-Bench cell space; `cells` is the underlying `NB201Space` / `NB101Space`."""

    has_graph = True

    def __init__(self, name: str, options: Mapping[str, Any] | None = None) -> None:
        if name not in _SPEC_OPTIONS:
            raise SpaceError(f"space: must be nb201 or nb101 here, got {name!r}")
        self.options = dict(options or {})
        unknown = sorted(set(self.options) - set(_SPEC_OPTIONS[name]))
        if unknown:
            raise SpaceError(f"space option {unknown[0]}: unknown for {name} (allowed: "
                             f"{', '.join(_SPEC_OPTIONS[name])})")
        for key, value in self.options.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise SpaceError(f"space option {key}: must be an integer >= 1, got {value!r}")
        self.name = name
        self.cells = NB201Space() if name == "nb201" else NB101Space()
        self.size = self.cells.size
        self.encodings = tuple(self.cells.encodings)
        self.gcn_num_nodes = self.cells.gcn_num_nodes
        self.gcn_num_features = self.cells.gcn_num_features

    # -- identity and JSON --------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Any:
        return self.cells.sample(rng)

    def is_valid(self, point: Any) -> bool:
        return bool(getattr(self.cells, "is_valid", lambda c: True)(point))

    def hash(self, point: Any) -> str:
        return self.cells.hash(point)

    def to_config(self, point: Any) -> dict[str, Any]:
        return {"arch": self.cells.to_str(point)}

    def from_config(self, config: Mapping[str, Any]) -> Any:
        if set(config) != {"arch"} or not isinstance(config["arch"], str):
            raise SpaceError(f"config: a {self.name} configuration is {{\"arch\": <string>}}, got {dict(config)!r}")
        try:
            cell = self.cells.parse(config["arch"])
        except ValueError as exc:
            raise SpaceError(f"config arch: {exc}") from None
        if not self.is_valid(cell):
            raise SpaceError(f"config arch: {config['arch']} is not a valid {self.name} cell")
        return cell

    def describe(self, point: Any) -> str:
        return self.cells.to_str(point)

    # -- vectors ------------------------------------------------------------------------------------------
    @property
    def vector_kinds(self) -> list[int]:
        if self.name == "nb201":
            return [len(NB201_OPS)] * len(EDGES)
        return [2] * len(_UPPER) + [len(NB101_OPS)] * (MAX_VERTICES - 2)

    def to_vector(self, point: Any) -> np.ndarray:
        if self.name == "nb201":
            return np.asarray(point.indices, dtype=np.float64)
        m = point.matrix
        edges = [m[i][j] for i, j in _UPPER] if len(m) == MAX_VERTICES else self._padded_edges(point)
        ops = [NB101_OPS.index(op) for op in self._padded_ops(point)]
        return np.asarray(list(edges) + ops, dtype=np.float64)

    @staticmethod
    def _padded_edges(cell: NB101Cell) -> list[int]:
        # a pruned cell with fewer vertices: its output stays the last vertex
        n = len(cell.matrix)
        index = list(range(n - 1)) + [MAX_VERTICES - 1]
        full = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=int)
        for a in range(n):
            for b in range(n):
                full[index[a], index[b]] = cell.matrix[a][b]
        return [int(full[i, j]) for i, j in _UPPER]

    @staticmethod
    def _padded_ops(cell: NB101Cell) -> list[str]:
        inner = list(cell.ops[1:-1])
        return inner + [NB101_OPS[0]] * (MAX_VERTICES - 2 - len(inner))

    def from_vector(self, vector: Sequence[float]) -> Any | None:
        kinds = self.vector_kinds
        v = np.asarray(vector, dtype=np.float64).reshape(-1)
        if v.shape[0] != len(kinds):
            raise ValueError(f"vector: space {self.name} has {len(kinds)} coordinates, got {v.shape[0]}")
        idx = [int(np.clip(np.rint(x), 0, k - 1)) for x, k in zip(v, kinds)]
        if self.name == "nb201":
            return self.cells.cell_type.from_indices(idx)
        matrix = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.int64)
        for (i, j), bit in zip(_UPPER, idx[:len(_UPPER)]):
            matrix[i, j] = bit
        ops = ["input"] + [NB101_OPS[k] for k in idx[len(_UPPER):]] + ["output"]
        cell = NB101Cell.from_arrays(matrix, ops)
        return cell if cell.is_valid() else None

    # -- local moves, encodings, graphs -------------------------------------------------------------------
    def mutate(self, point: Any, rng: np.random.Generator) -> Any:
        return self.cells.mutate(point, rng)

    def neighbours(self, point: Any, rng: np.random.Generator | None = None) -> list[Any]:
        return self.cells.neighbours(point)

    def all_points(self) -> list[Any]:
        if not hasattr(self.cells, "all_cells"):
            raise NotImplementedError(f"space {self.name}: too large to enumerate")
        return self.cells.all_cells()

    def encode(self, point: Any, kind: str = "vector") -> np.ndarray:
        if kind == "vector":
            return self.unit_vector(point)
        if kind not in self.encodings:
            raise ValueError(f"space {self.name}: encoding must be one of vector, {', '.join(self.encodings)}, "
                             f"got {kind!r}")
        return self.cells.encode(point, kind)

    def encoding_size(self, kind: str) -> int:
        return len(self.vector_kinds) if kind == "vector" else self.cells.encoding_size(kind)

    def gcn_graph(self, point: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.cells.gcn_graph(point)

    # -- the network --------------------------------------------------------------------------------------
    def to_spec(self, point: Any, *, seed: int = 0, input_shape: tuple[int, int, int] = (3, 32, 32),
                num_classes: int = 10) -> Any:
        """The benchmark's macro network around the cell (the seed plays no part: a cell is one network)."""
        return self.cells.to_spec(point, input_shape=tuple(input_shape), num_classes=int(num_classes),
                                  **self.options)

    def context(self) -> dict[str, Any]:
        return {"space": self.name, "options": dict(self.options)}
