"""The tabular evaluator: NAS-Bench tables (nb201, nb101) looked up in this process, with exact costs.

Metrics of a cell: "error" = 1 - validation accuracy / 100 (what a search sees), "test_error" = 1 - test
accuracy / 100 (reports only; absent when the table has no test column), and "params" and "macs" counted
exactly (`hnag.count_params`, `hnag.counting.count_macs`) from the cell's compiled network at the benchmark's
size (`space.to_spec(cell)`: the space options' channels and cells, input (3, 32, 32) and 10 classes unless set).
A cell the table does not hold is a failed evaluation with one line, never an exception.

Budgets: a NAS-Bench table holds one fidelity (NB201: the final-epoch validation accuracy; the 500-cell NB101
sample: 108 epochs), so `budget` only has to be a number > 0 and changes nothing.

Costs of the whole table (what the true Pareto front needs) take seconds to count for NB201's 15,625 cells, so
they are kept in a file under `~/.cache/nago/costs/` keyed by the table file's sha1, the space (its options),
the input shape and the number of classes. Each time the file is read a few of its rows are counted again and
compared, so a cache written by another version of the counting rules is noticed and rewritten. Nothing breaks
where the directory cannot be written: the costs are then counted in memory.

`optimum(objectives)` is what the report measures a search against: for one objective its best value over the
table (for "error": the best validation row, with that row's test error); for two or more the exact Pareto front
over the whole table, with the benchmark's reference point rule: the true front's nadir plus 10% of its range.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

import hnag
from hnag.counting import count_macs

from ..pareto import pareto_front, reference_point
from ..spaces.base import SpaceError, canonical_json
from .base import Evaluation, Evaluator
from .tables import RestrictedSpace, Table, cell_space, load_table, restrict_to_table

__all__ = ["TabularEvaluator", "DEFAULT_COST_CACHE", "REFERENCE_MARGIN"]

DEFAULT_COST_CACHE = "~/.cache/nago/costs"
#: the reference point of a true front: its nadir plus this fraction of its range per objective
REFERENCE_MARGIN = 0.1
_COST_FORMAT = "nago-table-costs/1"
_CHECK_ROWS = 3       # rows of a cost file counted again on every read


class TabularEvaluator(Evaluator):
    """Looks cells up in a NAS-Bench table (see the module docstring).

    space: a `CellSpace` (or 'nb201' / 'nb101'), or a `RestrictedSpace` for a partial table (then its table
      must be this one); table_path: a CSV or NASLib JSON table (`search.evaluators.tables`); val_column,
      test_column, dataset: which columns (and JSON data set) to read; num_classes, input_shape: the network
      the costs are counted for; cache_dir: where whole-table costs are kept (None: ~/.cache/nago/costs).
    """

    kind = "tabular"
    in_process = True

    def __init__(self, space: Any, table_path: str | Path, *, val_column: str | None = None,
                 test_column: str | None = None, dataset: str | None = None, num_classes: int = 10,
                 input_shape: Sequence[int] = (3, 32, 32), cache_dir: str | Path | None = None) -> None:
        base = cell_space(space)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
            raise ValueError(f"num_classes: must be an integer >= 1, got {num_classes!r}")
        shape = tuple(input_shape)
        if len(shape) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in shape):
            raise ValueError(f"input_shape: must be three integers >= 1 (C, H, W), got {list(input_shape)!r}")
        self.table: Table = load_table(table_path, base, val_column=val_column, test_column=test_column,
                                       dataset=dataset)
        if isinstance(space, RestrictedSpace) and space.table is not self.table:
            raise ValueError(f"space: restricted to the table {space.table.path}, not {self.table.path}")
        self.space = space if isinstance(space, RestrictedSpace) else base
        self.base = base
        self.table_path = str(table_path)
        self.num_classes = num_classes
        self.input_shape = shape
        self.cache_dir = Path(cache_dir if cache_dir is not None else DEFAULT_COST_CACHE).expanduser()
        self._columns = {"val_column": val_column, "test_column": test_column, "dataset": dataset}
        n = len(self.table)
        self._params = np.full(n, -1, dtype=np.int64)   # -1: not counted yet
        self._macs = np.full(n, -1, dtype=np.int64)
        self._all_counted = False
        self._file_read = False                          # the cost file is read at most once
        self._outside: dict[str, tuple[int, int]] = {}  # costs of cells outside the table (exact objectives)

    @property
    def metrics(self) -> tuple[str, ...]:
        return ("error",) + (("test_error",) if self.table.has_test else ()) + ("params", "macs")

    # -- evaluation ---------------------------------------------------------------------------------------
    def evaluate(self, config: Mapping[str, Any], budget: float, seed: int) -> Evaluation:
        """Look a cell up; `budget` (a number > 0) and `seed` change nothing (one fidelity, one number)."""
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not budget > 0 \
                or not math.isfinite(budget):
            return Evaluation("failed", error=f"budget: must be a number > 0, got {budget!r}")
        try:
            point = self.base.from_config(config)
        except SpaceError as exc:
            return Evaluation("failed", error=str(exc))
        except Exception as exc:  # not even a mapping
            return Evaluation("failed", error=f"config: not a {self.base.name} configuration "
                                              f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})")
        row = self.table.row(self.base.hash(point))
        if row is None:
            return Evaluation("failed", error=f"config arch: {self.base.describe(point)} is not in the table "
                                              f"{self.table.path}")
        params, macs = self._row_costs(row)
        val = float(self.table.val[row])
        metrics: dict[str, float] = {"error": 1.0 - val / 100.0}
        info: dict[str, Any] = {"row": row, "val_accuracy": val}
        if self.table.has_test:
            test = float(self.table.test[row])
            metrics["test_error"] = 1.0 - test / 100.0
            info["test_accuracy"] = test
        metrics.update(params=float(params), macs=float(macs))
        return Evaluation("ok", metrics, info)

    # -- exact costs --------------------------------------------------------------------------------------
    def _count(self, cell: Any) -> tuple[int, int]:
        spec = self.base.to_spec(cell, seed=0, input_shape=self.input_shape, num_classes=self.num_classes)
        return hnag.count_params(spec), count_macs(spec)

    def _row_costs(self, row: int) -> tuple[int, int]:
        if self._params[row] < 0 and not self._load_costs():
            self._params[row], self._macs[row] = self._count(self.table.cells[row])
        return int(self._params[row]), int(self._macs[row])

    def costs(self, point: Any) -> tuple[int, int]:
        """(params, macs) of a cell's network (the table's representative when the cell is in the table)."""
        key = self.base.hash(point)
        row = self.table.row(key)
        if row is not None:
            return self._row_costs(row)
        if key not in self._outside:
            self._outside[key] = self._count(point)
        return self._outside[key]

    def exact(self) -> dict[str, Callable[[Any], float]]:
        """params and macs of a cell, counted from its spec (cells outside the table too)."""
        return {"params": lambda point: float(self.costs(point)[0]),
                "macs": lambda point: float(self.costs(point)[1])}

    def all_costs(self) -> tuple[np.ndarray, np.ndarray]:
        """(params, macs) of every row of the table, from the cost file when it holds them (see above)."""
        if not self._load_costs():
            for row in np.flatnonzero(self._params < 0):
                self._params[row], self._macs[row] = self._count(self.table.cells[row])
            self._all_counted = True
            self._save_costs()
        return self._params.copy(), self._macs.copy()

    def _cost_key(self) -> dict[str, Any]:
        # the rows' order and merged duplicates are the table's keys (their digest); costs depend on nothing else
        keys = hashlib.sha1("\n".join(self.table.keys).encode()).hexdigest()
        return {"format": _COST_FORMAT, "table_sha1": self.table.sha1, "keys_sha1": keys,
                "space": self.base.context(), "input_shape": list(self.input_shape), "num_classes": self.num_classes}

    def _cost_file(self) -> Path:
        digest = hashlib.sha1(canonical_json(self._cost_key()).encode()).hexdigest()[:16]
        return self.cache_dir / f"{self.base.name}-{self.table.sha1[:12]}-{digest}.json"

    def _load_costs(self) -> bool:
        """Fill every row's costs from the cost file (read once); False when they are not all counted."""
        if self._all_counted or self._file_read:
            return self._all_counted
        self._file_read = True
        try:
            data = json.loads(self._cost_file().read_text())
            params = np.asarray(data["params"], dtype=np.int64)
            macs = np.asarray(data["macs"], dtype=np.int64)
        except (OSError, ValueError, TypeError, KeyError):  # none, or not one of ours
            return False
        if data.get("key") != self._cost_key() or params.shape != (len(self.table),) or macs.shape != params.shape:
            return False
        # a file written under other counting rules: count a few rows again
        for row in np.unique(np.linspace(0, len(self.table) - 1, _CHECK_ROWS).astype(int)):
            if self._count(self.table.cells[row]) != (params[row], macs[row]):
                return False
        self._params, self._macs, self._all_counted = params, macs, True
        return True

    def _save_costs(self) -> None:
        path = self._cost_file()
        data = {"note": "Parameters and MACs of every network of a NAS-Bench table, counted by nago from the "
                        "compiled specs; a cache, safe to delete (it is counted again when missing).",
                "table": self.table.path, "key": self._cost_key(), "params": self._params.tolist(),
                "macs": self._macs.tolist()}
        tmp = None
        try:  # write a temporary file and rename it: a reader never sees half a file
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as fh:
                tmp = fh.name
                json.dump(data, fh)
            os.replace(tmp, path)
        except OSError:  # a read-only home: the costs stay in memory
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)

    # -- what a search is judged against ------------------------------------------------------------------
    def _column(self, name: str) -> np.ndarray:
        if name == "error":
            return 1.0 - self.table.val / 100.0
        if name == "test_error" and self.table.has_test:
            return 1.0 - self.table.test / 100.0
        if name in ("params", "macs"):
            params, macs = self.all_costs()
            return (params if name == "params" else macs).astype(np.float64)
        raise ValueError(f"objectives: {name} is not a metric of this table (it gives {', '.join(self.metrics)})")

    def optimum(self, objectives: Sequence[str]) -> dict[str, Any]:
        """The best value over the table of one objective, or the true Pareto front of several (JSON).

        One objective: {"optimum", "config"} of the best row (the first on ties); for "error" also its
        "test_error" and the table's "best_test_error". Several: "front" (rows of objective values, sorted by
        the first objective), "front_configs", "reference" (the front's nadir + 10% of its range),
        "reference_rule", and "optimum" / "config" of the first objective."""
        names = [str(n) for n in objectives]
        if not names:
            raise ValueError("objectives: name at least one")
        if "test_error" in names:
            raise ValueError("objectives: test_error is for reports only (a search must never see it)")
        Y = np.column_stack([self._column(n) for n in names])
        best = int(np.argmin(Y[:, 0]))
        out: dict[str, Any] = {"objectives": names, "optimum": float(Y[best, 0]),
                               "config": self.base.to_config(self.table.cells[best])}
        if names[0] == "error" and self.table.has_test:
            out["test_error"] = float(1.0 - self.table.test[best] / 100.0)
            out["best_test_error"] = float(1.0 - np.nanmax(self.table.test) / 100.0)
        if len(names) > 1:
            front, idx = pareto_front(Y, return_index=True)
            order = np.lexsort(front.T[::-1])
            front, idx = front[order], idx[order]
            out.update(front=front.tolist(), front_configs=[self.base.to_config(self.table.cells[i]) for i in idx],
                       reference=reference_point(front, REFERENCE_MARGIN).tolist(),
                       reference_rule=f"the true front's nadir plus {REFERENCE_MARGIN:.0%} of its range")
        return out

    #: the name `search.run` reads the known optimum or front by
    known = optimum

    # -- rebuilding ---------------------------------------------------------------------------------------
    def context(self) -> dict[str, Any]:
        ctx = {"kind": self.kind, "space": self.base.context(), "table": self.table_path, **self._columns,
               "num_classes": self.num_classes, "input_shape": list(self.input_shape)}
        if isinstance(self.space, RestrictedSpace):
            ctx["restrict_k"] = self.space.k
        return ctx

    @classmethod
    def from_context(cls, ctx: Mapping[str, Any]) -> "TabularEvaluator":
        """Rebuild from `context()` (a restricted space is restricted again to the same table)."""
        from ..spaces import space_from_context

        space = space_from_context(ctx["space"])
        kw = {k: ctx[k] for k in ("val_column", "test_column", "dataset", "num_classes") if ctx.get(k) is not None}
        if ctx.get("input_shape") is not None:
            kw["input_shape"] = tuple(ctx["input_shape"])
        if ctx.get("restrict_k") is not None:
            table = load_table(ctx["table"], space, val_column=kw.get("val_column"),
                               test_column=kw.get("test_column"), dataset=kw.get("dataset"))
            space = restrict_to_table(space, table, int(ctx["restrict_k"]))
        return cls(space, ctx["table"], **kw)

    def describe(self) -> str:
        return f"tabular: {self.table.summary()}"
