"""Small writing helpers of the reports: number formatting, Markdown tables, JSON-safe values and the output
folder (which remembers every file it wrote)."""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

__all__ = ["fmt", "mean_std", "table", "config_text", "jsonable", "Output"]


def fmt(value: Any, digits: int = 4) -> str:
    """A number as short readable text ('-' for None or NaN); other values as str."""
    if value is None:
        return "-"
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        value = float(value)
        if math.isnan(value):
            return "-"
        if not math.isfinite(value):
            return str(value)
        if value == 0:
            return "0"
        if abs(value) >= 1e5:  # counts such as parameters: 944,571
            return f"{value:,.0f}"
        if abs(value) < 1e-3:
            return f"{value:.{digits - 1}e}"
        if value.is_integer():
            return str(int(value))
        return f"{value:.{digits}g}"
    return str(value)


def mean_std(values: Iterable[float | None], digits: int = 4) -> str:
    """'mean ± std (n = k)' of the finite values ('-' when there are none)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return "-"
    return f"{fmt(float(v.mean()), digits)} ± {fmt(float(v.std()), digits)} (n = {v.size})"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A Markdown table; cells are formatted with `fmt` unless they are strings already."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    for row in rows:
        cells = [c if isinstance(c, str) else fmt(c) for c in row]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines)


def config_text(config: Mapping[str, Any], limit: int = 90) -> str:
    """A configuration as `k=v, ...` (floats shortened), cut at `limit` characters."""
    text = ", ".join(f"{k}={fmt(v, 3) if isinstance(v, float) else v}" for k, v in sorted(config.items()))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def jsonable(value: Any) -> Any:
    """Numpy values to built-in types and NaN/inf to None, so that `json.dumps(allow_nan=False)` works."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer, int)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, Path):
        return str(value)
    return value


class Output:
    """The report folder: writes text, JSON and figures, and lists them in `files`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.files: list[Path] = []

    def path(self, name: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def text(self, name: str, text: str) -> Path:
        path = self.path(name)
        path.write_text(text)
        self.files.append(path)
        return path

    def json(self, name: str, obj: Any) -> Path:
        return self.text(name, json.dumps(jsonable(obj), indent=1, allow_nan=False) + "\n")

    def figure(self, fig: Any, name: str) -> str:
        """Save a matplotlib figure as PNG, close it, and return its name (for a Markdown image link)."""
        import matplotlib.pyplot as plt

        path = self.path(name)
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        self.files.append(path)
        return name
