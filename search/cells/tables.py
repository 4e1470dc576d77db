"""Oracles for cell search: tabular lookup in a user-supplied table, or real training of the compiled cell network.

Tables
------
`load_table(path, space)` reads a table once per process and caches it (keyed by the file's path, size and
modification time and the columns asked for), so any number of space, oracle and searcher objects share one
copy; nothing is stored in the space objects (NASLib keeps benchmark data inside every cloned search space).

- CSV: one architecture per row, in a column named `arch_str` (the space's text form: the official string for
  NAS-Bench-201, `NB101Cell.to_str()` for NAS-Bench-101), and metric columns. The validation column (what a
  search may see) defaults to the one column whose name contains ``valid`` or ``val_``; the test column (what
  results are judged by) to the one containing ``test``. Example: `nb201_index, arch_str, cifar10_valid_acc,
  cifar10_test_acc`.
- JSON (NASLib's NAS-Bench-101 layout): ``{"<dataset>": {"(56 ints)": {"val_accuracy": ..}}}``, where the
  56 ints are the 7x7 adjacency row-major and 7 op codes 0=input, 1=output, 2=maxpool3x3, 3=conv1x1,
  4=conv3x3. Rows are keyed by the space's hash; rows that are the same architecture (isomorphic, or equal
  after pruning) are merged and their metrics averaged (the count is kept in `Table.duplicates`).

A malformed architecture string or number, or a missing column, raises a one-line `ValueError` naming the
file and the offending line or column.

Oracles
-------
An oracle is a callable ``oracle(cell) -> Evaluation(val, test, cost_s, info)``. A searcher is only ever shown
`val`; the runner records `test` for reports. `TableOracle` looks cells up; `TrainingOracle` compiles the
cell's network with `hnag`, trains it with `training.train` and reports its validation and test accuracy.

Partial tables
--------------
A table that does not cover its space (the 500-cell NAS-Bench-101 sample) can only answer for its own cells.
`RestrictedSpace(space, table)` is the space a search then runs in: `sample` draws a table cell, `mutate`
moves to one of the `k` table cells nearest in the adjacency encoding (L1 distance), `neighbours` lists them.
"""
from __future__ import annotations

import ast
import csv
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Table", "load_table", "Evaluation", "TableOracle", "TrainingOracle", "RestrictedSpace", "get_space"]


def get_space(name: str):
    """The space object for 'nb201' or 'nb101'."""
    if name == "nb201":
        from .nb201 import NB201Space

        return NB201Space()
    if name == "nb101":
        from .nb101 import NB101Space

        return NB101Space()
    raise ValueError(f"space must be 'nb201' or 'nb101', got {name!r}")


@dataclass
class Table:
    """Validation (and test) accuracy of the architectures of one space, keyed by `space.hash`."""

    path: str
    space_name: str
    val_column: str
    test_column: str | None
    keys: list[str]                 # row order (deduplicated)
    cells: list[Any]                # one representative cell per key
    val: np.ndarray                 # (n,) validation metric
    test: np.ndarray                # (n,) test metric (NaN where the table has none)
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


def _number(text: str, path: str, line: int, column: str) -> float:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"table {path} line {line}: column {column!r} is not a number: {text!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"table {path} line {line}: column {column!r} is not finite: {text!r}")
    return v


def _finish(path, space, val_col, test_col, rows) -> Table:
    """rows: (cell, val, test) -> Table, merging rows of one architecture (mean of their metrics)."""
    acc: dict[str, list] = {}
    order: list[str] = []
    for cell, v, t in rows:
        key = space.hash(cell)
        if key not in acc:
            acc[key] = [cell, [], []]
            order.append(key)
        acc[key][1].append(v)
        acc[key][2].append(t)
    if not order:
        raise ValueError(f"table {path}: has no rows")
    val = np.array([np.mean(acc[k][1]) for k in order], dtype=np.float64)
    test = np.array([np.mean(acc[k][2]) if test_col else np.nan for k in order], dtype=np.float64)
    return Table(path=str(path), space_name=space.name, val_column=val_col, test_column=test_col, keys=order,
                 cells=[acc[k][0] for k in order], val=val, test=test, duplicates=len(rows) - len(order))


def _load_csv(path: Path, space, arch_col: str, val_col, test_col) -> Table:
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
                cell = space.parse(rec[ia])
            except ValueError as exc:
                raise ValueError(f"table {path} line {line}: {exc}") from None
            v = _number(rec[iv], str(path), line, val_col)
            t = _number(rec[it], str(path), line, test_col) if it is not None else float("nan")
            rows.append((cell, v, t))
    return _finish(path, space, val_col, test_col, rows)


_NB101_CODES = {0: "input", 1: "output", 2: "maxpool3x3", 3: "conv1x1-bn-relu", 4: "conv3x3-bn-relu"}


def _load_json(path: Path, space, val_col, test_col, dataset: str | None) -> Table:
    from .nb101 import NB101Cell

    if space.name != "nb101":
        raise ValueError(f"table {path}: JSON tables are NAS-Bench-101 tables (use a CSV for {space.name})")
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
        v = _number(metrics[val_col], str(path), n, val_col)
        t = _number(metrics[test_col], str(path), n, test_col) if test_col else float("nan")
        rows.append((cell, v, t))
    return _finish(path, space, val_col, test_col, rows)


def load_table(path, space, *, val_column: str | None = None, test_column: str | None = None,
               arch_column: str = "arch_str", dataset: str | None = None) -> Table:
    """Load (once per process) a table of `space` ('nb201', 'nb101' or a space object)."""
    if isinstance(space, str):
        space = get_space(space)
    p = Path(path).expanduser()
    if not p.is_file():
        raise FileNotFoundError(f"table {p}: no such file")
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns, space.name, val_column, test_column, arch_column, dataset)
    table = _CACHE.get(key)
    if table is None:
        if p.suffix.lower() == ".json":
            table = _load_json(p, space, val_column, test_column, dataset)
        else:
            table = _load_csv(p, space, arch_column, val_column, test_column)
        _CACHE[key] = table
    return table


# ------------------------------------------------------------------------------------------------ oracles

@dataclass
class Evaluation:
    val: float                       # what the search sees
    test: float | None               # what results are judged by (None: the oracle has none)
    cost_s: float = 0.0              # seconds it took (training), or the table's own cost (0 here)
    info: dict = field(default_factory=dict)


class TableOracle:
    """Looks cells up in a `Table`. Raises KeyError for a cell the table does not hold."""

    def __init__(self, table: Table, space) -> None:
        if table.space_name != space.name:
            raise ValueError(f"table is for {table.space_name}, space is {space.name}")
        self.table, self.space = table, space

    def contains(self, cell) -> bool:
        return self.space.hash(cell) in self.table.index

    def __call__(self, cell) -> Evaluation:
        key = self.space.hash(cell)
        i = self.table.row(key)
        if i is None:
            raise KeyError(f"architecture {self.space.to_str(cell)} is not in the table {self.table.path}")
        t = float(self.table.test[i])
        return Evaluation(val=float(self.table.val[i]), test=None if math.isnan(t) else t,
                          info={"row": i})

    def is_best_val(self, cell) -> bool:
        return self.space.hash(cell) == self.table.best_val_key


class TrainingOracle:
    """Trains the cell's compiled network (through `training`) and reports validation/test accuracy in %.

    `spec_kwargs` sizes the network (`channels`/`cells_per_stage` for NB201, `stem_channels`/
    `cells_per_stack` for NB101); `train_kwargs` go to `training.TrainConfig`. The dataset is loaded once.
    """

    def __init__(self, space, dataset: str = "digits", *, data_dir: str | None = None, epochs: float = 1,
                 seed: int = 0, spec_kwargs: dict | None = None, train_kwargs: dict | None = None,
                 limit: int | None = None) -> None:
        import training

        self.space = space
        self.bundle = training.load_dataset(dataset, data_dir=data_dir, seed=seed, limit=limit)
        if self.bundle.val is None:
            raise ValueError(f"dataset {dataset}: has no validation split (the search needs one)")
        self.spec_kwargs = dict(spec_kwargs or {})
        self.spec_kwargs.setdefault("num_classes", self.bundle.num_classes)
        self.spec_kwargs.setdefault("input_shape", tuple(self.bundle.input_shape))
        self.train_kwargs = {"epochs": epochs, "seed": seed, "progress": False, **(train_kwargs or {})}
        try:  # fail now, with one line, rather than at the first query
            training.TrainConfig(**self.train_kwargs)
        except TypeError as exc:
            raise ValueError(f"training options: {exc}") from None
        self.seed = seed

    def __call__(self, cell) -> Evaluation:
        import hnag
        import training

        t0 = time.time()
        spec = self.space.to_spec(cell, **self.spec_kwargs)
        model = hnag.compile_spec(spec)
        config = training.TrainConfig(**self.train_kwargs)
        result = training.train(model, self.bundle, config)
        ok = result.status == "ok" and result.val_accuracy is not None and math.isfinite(result.val_accuracy)
        # accuracies come in [0, 1]; tables and reports use %. A diverged network scores 0 (never an exception).
        val = 100.0 * float(result.val_accuracy) if ok else 0.0
        test = 100.0 * float(result.test_accuracy) if ok and result.test_accuracy is not None else None
        return Evaluation(val=val, test=test, cost_s=time.time() - t0,
                          info={"status": result.status, "params": hnag.count_params(spec),
                                "epochs": result.epochs, "train_time_s": round(result.train_time_s, 3)})


# ---------------------------------------------------------------------------------------- partial tables

class RestrictedSpace:
    """A space limited to the cells of a table that does not cover it (see the module docstring)."""

    def __init__(self, space, table: Table, k: int = 5) -> None:
        if table.space_name != space.name:
            raise ValueError(f"table is for {table.space_name}, space is {space.name}")
        self.base, self.table, self.k = space, table, k
        self.name = space.name
        self.size = len(table)
        self.encodings = space.encodings
        self._X = np.stack([space.encode(c, "adjacency") for c in table.cells])

    def __getattr__(self, item):  # encode, hash, to_spec, gcn_graph, ... come from the base space
        if item == "base":
            raise AttributeError(item)
        return getattr(self.base, item)

    def all_cells(self) -> list:
        return list(self.table.cells)

    def sample(self, rng: np.random.Generator):
        return self.table.cells[int(rng.integers(len(self.table)))]

    def _nearest(self, cell) -> list[int]:
        d = np.abs(self._X - self.base.encode(cell, "adjacency")).sum(axis=1)
        own = self.table.row(self.base.hash(cell))
        if own is not None:
            d[own] = np.inf
        return [int(i) for i in np.argsort(d, kind="stable")[: self.k]]

    def mutate(self, cell, rng: np.random.Generator):
        near = self._nearest(cell)
        return self.table.cells[near[int(rng.integers(len(near)))]]

    def neighbours(self, cell) -> list:
        return [self.table.cells[i] for i in self._nearest(cell)]

