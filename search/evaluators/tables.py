"""NAS-Bench tables: loading (once per process) and the space of a table that does not cover its space.

Tables
------
`load_table(path, space)` reads a table once per process and caches it (keyed by the file's path, size and
modification time, the space and the columns asked for), so any number of spaces and evaluators share one copy;
nothing is stored in the space objects (NASLib keeps benchmark data inside every cloned search space).

- CSV: one architecture per row, in a column named `arch_str` (the space's text form: the official string for
  NAS-Bench-201, `NB101Cell.to_str()` for NAS-Bench-101), and metric columns. The validation column (what a
  search may see) defaults to the one column whose name contains ``valid`` or ``val_``; the test column (what
  results are judged by) to the one containing ``test``. Example: `nb201_index, arch_str, cifar10_valid_acc,
  cifar10_test_acc`.
- JSON (NASLib's NAS-Bench-101 layout): ``{"<dataset>": {"(56 ints)": {"val_accuracy": ..}}}``, where the
  56 ints are the 7x7 adjacency row-major and 7 op codes 0=input, 1=output, 2=maxpool3x3, 3=conv1x1,
  4=conv3x3. Rows are keyed by the space's hash; rows that are the same architecture (isomorphic, or equal
  after pruning) are merged and their metrics averaged (the count is kept in `Table.duplicates`).

Accuracies are percentages (0-100), as the benchmarks give them. A malformed architecture string or number, a
missing column, or an accuracy outside [0, 100] raises a one-line `ValueError` naming the file and the
offending line or column.

Partial tables
--------------
A table that does not cover its space (the 500-cell NAS-Bench-101 sample) can only answer for its own cells.
`restrict_to_table(space, table)` is the space a search then runs in (`RestrictedSpace`): its points are the
table's cells; `sample` draws one, `mutate` moves to one of the `k` table cells nearest in the adjacency
encoding (L1 distance), `neighbours` lists them, and a vector or configuration of a cell outside the table is
no point of it.
"""
from __future__ import annotations

import ast
import csv
import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..spaces.base import Space, SpaceError

__all__ = ["Table", "load_table", "cell_space", "RestrictedSpace", "restrict_to_table"]

CELL_SPACES = ("nb201", "nb101")


def cell_space(space: Any) -> Any:
    """The `search.spaces.cells.CellSpace` of 'nb201' / 'nb101' or of a (restricted) cell space."""
    if isinstance(space, str):
        from ..spaces.cells import CellSpace

        if space not in CELL_SPACES:
            raise ValueError(f"space: a NAS-Bench table describes nb201 or nb101 cells, got {space!r}")
        return CellSpace(space)
    if isinstance(space, RestrictedSpace):
        return space.base
    if getattr(space, "name", None) not in CELL_SPACES or not hasattr(space, "cells"):
        raise ValueError(f"space: a NAS-Bench table describes nb201 or nb101 cells, got "
                         f"{getattr(space, 'name', space)!r}")
    return space


@dataclass
class Table:
    """Validation (and test) accuracy in % of the architectures of one space, keyed by the space's hash."""

    path: str
    space_name: str
    val_column: str
    test_column: str | None
    keys: list[str]                 # row order (deduplicated)
    cells: list[Any]                # one representative cell per key
    val: np.ndarray                 # (n,) validation accuracy
    test: np.ndarray                # (n,) test accuracy (NaN where the table has none)
    sha1: str = ""                  # of the file's bytes (keys caches of values derived from the table)
    dataset: str | None = None      # the JSON table's data set
    duplicates: int = 0
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {k: i for i, k in enumerate(self.keys)}

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def has_test(self) -> bool:
        return self.test_column is not None

    def row(self, key: str) -> int | None:
        return self.index.get(key)

    @property
    def best_val_index(self) -> int:
        """Row of the best validation accuracy (the first one on ties)."""
        return int(np.argmax(self.val))

    @property
    def best_val_key(self) -> str:
        return self.keys[self.best_val_index]

    def summary(self) -> str:
        b = self.best_val_index
        test = f", its test {self.test[b]:.2f}, best test {np.nanmax(self.test):.2f}" if self.has_test else ""
        return (f"{len(self)} architectures of {self.space_name} from {self.path}; best {self.val_column} "
                f"{self.val[b]:.2f}{test}")


_CACHE: dict[tuple, Table] = {}


def _pick(columns: list[str], wanted: str | None, words: tuple[str, ...], what: str, path: str) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"table {path}: no column {wanted!r} (columns: {', '.join(columns)})")
        return wanted
    hits = [c for c in columns if any(w in c.lower() for w in words)]
    if len(hits) == 1:
        return hits[0]
    if what == "test":
        return None
    raise ValueError(f"table {path}: cannot tell which column is the {what} metric among "
                     f"{', '.join(hits) or ', '.join(columns)}; name it (--val-column)")


def _accuracy(text: Any, path: str, line: int, column: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"table {path} line {line}: column {column!r} is not a number: {text!r}") from None
    if not math.isfinite(v) or not 0.0 <= v <= 100.0:
        raise ValueError(f"table {path} line {line}: column {column!r} must be an accuracy in % in [0, 100], "
                         f"got {text!r}")
    return v


def _finish(path: Path, cells_space: Any, val_col: str, test_col: str | None, rows: list, sha1: str,
            dataset: str | None = None) -> Table:
    """rows: (cell, val, test) -> Table, merging rows of one architecture (mean of their metrics)."""
    acc: dict[str, list] = {}
    order: list[str] = []
    for cell, v, t in rows:
        key = cells_space.hash(cell)
        if key not in acc:
            acc[key] = [cell, [], []]
            order.append(key)
        acc[key][1].append(v)
        acc[key][2].append(t)
    if not order:
        raise ValueError(f"table {path}: has no rows")
    val = np.array([np.mean(acc[k][1]) for k in order], dtype=np.float64)
    if val.max() <= 1.0:
        raise ValueError(f"table {path}: column {val_col!r} must hold accuracies in % (0-100); its largest value "
                         f"is {val.max():g} (fractions? multiply by 100)")
    test = np.array([np.mean(acc[k][2]) if test_col else np.nan for k in order], dtype=np.float64)
    return Table(path=str(path), space_name=cells_space.name, val_column=val_col, test_column=test_col, keys=order,
                 cells=[acc[k][0] for k in order], val=val, test=test, sha1=sha1, dataset=dataset,
                 duplicates=len(rows) - len(order))


def _load_csv(path: Path, cells_space: Any, arch_col: str, val_col: str | None, test_col: str | None,
              sha1: str) -> Table:
    with open(path, newline="") as fh:
        reader = csv.reader(fh)
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"table {path}: is empty") from None
        if arch_col not in header:
            raise ValueError(f"table {path}: no column {arch_col!r} (columns: {', '.join(header)})")
        val_col = _pick(header, val_col, ("valid", "val_"), "validation", str(path))
        test_col = _pick(header, test_col, ("test",), "test", str(path))
        ia, iv = header.index(arch_col), header.index(val_col)
        it = header.index(test_col) if test_col else None
        rows = []
        for line, rec in enumerate(reader, start=2):
            if not rec or all(not x.strip() for x in rec):
                continue
            if len(rec) != len(header):
                raise ValueError(f"table {path} line {line}: {len(rec)} fields, header has {len(header)}")
            try:
                cell = cells_space.parse(rec[ia])
            except ValueError as exc:
                raise ValueError(f"table {path} line {line}: {exc}") from None
            v = _accuracy(rec[iv], str(path), line, val_col)
            t = _accuracy(rec[it], str(path), line, test_col) if it is not None else float("nan")
            rows.append((cell, v, t))
    return _finish(path, cells_space, val_col, test_col, rows, sha1)


_NB101_CODES = {0: "input", 1: "output", 2: "maxpool3x3", 3: "conv1x1-bn-relu", 4: "conv3x3-bn-relu"}


def _load_json(path: Path, cells_space: Any, val_col: str | None, test_col: str | None, dataset: str | None,
               sha1: str) -> Table:
    from ..spaces.nb101 import NB101Cell

    if cells_space.name != "nb101":
        raise ValueError(f"table {path}: JSON tables are NAS-Bench-101 tables (use a CSV for {cells_space.name})")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"table {path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    sets = [k for k, v in data.items() if isinstance(v, dict)]
    if dataset is None:
        if len(sets) != 1:
            raise ValueError(f"table {path}: name the dataset among {', '.join(sets)}")
        dataset = sets[0]
    if dataset not in sets:
        raise ValueError(f"table {path}: no dataset {dataset!r} (has {', '.join(sets)})")
    entries = data[dataset]
    val_col = val_col or "val_accuracy"
    first = next(iter(entries.values()), {})
    if val_col not in first:
        raise ValueError(f"table {path}: no column {val_col!r} (columns: {', '.join(first)})")
    if test_col is not None and test_col not in first:
        raise ValueError(f"table {path}: no column {test_col!r} (columns: {', '.join(first)})")
    if test_col is None and "test_accuracy" in first:
        test_col = "test_accuracy"
    rows = []
    for n, (key, metrics) in enumerate(entries.items(), start=1):
        where = f"table {path} entry {n}"
        try:
            tup = ast.literal_eval(key)
            n_v = int(round((-1 + math.sqrt(1 + 4 * len(tup))) / 2))
            if n_v * n_v + n_v != len(tup):
                raise ValueError(f"{len(tup)} ints is not n*n + n")
            matrix = np.array(tup[: n_v * n_v], dtype=np.int64).reshape(n_v, n_v)
            ops = [_NB101_CODES[int(c)] for c in tup[n_v * n_v:]]
            cell = NB101Cell.from_arrays(matrix, ops)
        except (ValueError, SyntaxError, KeyError, TypeError) as exc:
            raise ValueError(f"{where}: malformed architecture key {key[:60]!r} ({exc})") from None
        if not cell.is_valid():
            raise ValueError(f"{where}: architecture {cell.to_str()} is not a valid NAS-Bench-101 cell")
        if val_col not in metrics or (test_col and test_col not in metrics):
            raise ValueError(f"{where}: missing column {val_col if val_col not in metrics else test_col!r}")
        v = _accuracy(metrics[val_col], str(path), n, val_col)
        t = _accuracy(metrics[test_col], str(path), n, test_col) if test_col else float("nan")
        rows.append((cell, v, t))
    return _finish(path, cells_space, val_col, test_col, rows, sha1, dataset)


def load_table(path: str | Path, space: Any, *, val_column: str | None = None, test_column: str | None = None,
               arch_column: str = "arch_str", dataset: str | None = None) -> Table:
    """Load (once per process) a table of `space` ('nb201', 'nb101' or a cell space); see the module docstring.

    dataset: the data set of a JSON table holding several (default: its only one)."""
    cells_space = cell_space(space).cells
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"table {p}: no such file")
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, cells_space.name, val_column, test_column, arch_column,
           dataset)
    table = _CACHE.get(key)
    if table is None:
        sha1 = hashlib.sha1(p.read_bytes()).hexdigest()
        if p.suffix.lower() == ".json":
            table = _load_json(p, cells_space, val_column, test_column, dataset, sha1)
        else:
            table = _load_csv(p, cells_space, arch_column, val_column, test_column, sha1)
        _CACHE[key] = table
    return table


# ---------------------------------------------------------------------------------------- partial tables

class RestrictedSpace(Space):
    """A cell space limited to the cells of a table that does not cover it (see the module docstring).

    Everything but the choice of points (hashes, configurations, vectors, encodings, graphs, specs) is the base
    space's."""

    def __init__(self, base: Any, table: Table, k: int = 5) -> None:
        base = cell_space(base)
        if table.space_name != base.name:
            raise ValueError(f"table {table.path}: is a {table.space_name} table, the space is {base.name}")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k: the number of nearest table cells a move picks from must be an integer >= 1, "
                             f"got {k!r}")
        self.base, self.table, self.k = base, table, k
        self.name = base.name
        self.options = base.options
        self.cells = base.cells
        self.size = len(table)
        self.encodings = base.encodings
        self.has_graph = base.has_graph
        self.gcn_num_nodes = base.gcn_num_nodes
        self.gcn_num_features = base.gcn_num_features
        self._X = np.stack([base.encode(c, "adjacency") for c in table.cells])

    def _in_table(self, point: Any) -> bool:
        return self.base.hash(point) in self.table.index

    # -- points: the table's cells ------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> Any:
        return self.table.cells[int(rng.integers(len(self.table)))]

    def is_valid(self, point: Any) -> bool:
        return self.base.is_valid(point) and self._in_table(point)

    def from_config(self, config: Mapping[str, Any]) -> Any:
        point = self.base.from_config(config)
        if not self._in_table(point):
            raise SpaceError(f"config arch: {self.base.describe(point)} is not one of the {len(self.table)} cells "
                             f"of the table {self.table.path}")
        return point

    def from_vector(self, vector: Sequence[float]) -> Any | None:
        point = self.base.from_vector(vector)
        return point if point is not None and self._in_table(point) else None

    def _nearest(self, point: Any) -> list[int]:
        d = np.abs(self._X - self.base.encode(point, "adjacency")).sum(axis=1)
        own = self.table.row(self.base.hash(point))
        if own is not None:
            d[own] = np.inf
        return [int(i) for i in np.argsort(d, kind="stable")[: self.k]]

    def mutate(self, point: Any, rng: np.random.Generator) -> Any:
        near = self._nearest(point)
        return self.table.cells[near[int(rng.integers(len(near)))]]

    def neighbours(self, point: Any, rng: np.random.Generator | None = None) -> list[Any]:
        return [self.table.cells[i] for i in self._nearest(point)]

    def all_points(self) -> list[Any]:
        return list(self.table.cells)

    # -- the base space's -----------------------------------------------------------------------------------
    def hash(self, point: Any) -> str:
        return self.base.hash(point)

    def to_config(self, point: Any) -> dict[str, Any]:
        return self.base.to_config(point)

    def describe(self, point: Any) -> str:
        return self.base.describe(point)

    @property
    def vector_kinds(self) -> list[int]:
        return self.base.vector_kinds

    def to_vector(self, point: Any) -> np.ndarray:
        return self.base.to_vector(point)

    def encode(self, point: Any, kind: str = "vector") -> np.ndarray:
        return self.base.encode(point, kind)

    def encoding_size(self, kind: str) -> int:
        return self.base.encoding_size(kind)

    def gcn_graph(self, point: Any) -> tuple[np.ndarray, np.ndarray]:
        return self.base.gcn_graph(point)

    def to_spec(self, point: Any, *, seed: int = 0, input_shape: tuple[int, int, int] = (3, 32, 32),
                num_classes: int = 10) -> Any:
        return self.base.to_spec(point, seed=seed, input_shape=input_shape, num_classes=num_classes)

    def context(self) -> dict[str, Any]:
        """The base space's context plus, for the record, the table and `k` (the tabular evaluator's context
        is what rebuilds a restricted space)."""
        return {**self.base.context(), "restricted_to": {"table": self.table.path, "k": self.k}}


def restrict_to_table(space: Any, table: Table, k: int = 5) -> RestrictedSpace:
    """`space` (a cell space or its name) limited to the cells of `table`; moves pick among the `k` nearest
    table cells."""
    return RestrictedSpace(space, table, k)
