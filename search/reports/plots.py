"""Plot helpers shared by the report sections: matplotlib with the Agg back end, readable ticks (integers for
counts; plain numbers such as 0.01 or 50k on log axes, never 4.7x10^1), mean ± std bands over seeds, and step
functions resampled on a common grid."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

__all__ = ["pyplot", "integer_ticks", "short_number", "plain_ticks", "readable_log", "band", "steps_on_grid"]


def pyplot() -> Any:
    """matplotlib.pyplot on the Agg back end (reports run on machines without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def integer_ticks(axis: Any) -> None:
    """Only integer ticks on an axis of counts (evaluations, iterations)."""
    from matplotlib.ticker import MaxNLocator

    axis.set_major_locator(MaxNLocator(integer=True))


def short_number(value: float, _pos: Any = None) -> str:
    """A tick label: 0.001, 0.25, 12, 50k, 1.2M."""
    if value == 0:
        return "0"
    a = abs(value)
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if a >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:.3g}"


def plain_ticks(ax: Any, which: str = "y") -> None:
    """Tick labels without an offset or a x10^k factor: `short_number` (50k, 1.2M) on axes that reach 10^4,
    plain decimals below (call after plotting: it reads the axis limits)."""
    from matplotlib.ticker import FuncFormatter, ScalarFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    if max(abs(lo), abs(hi)) >= 1e4:
        axis.set_major_formatter(FuncFormatter(short_number))
    else:
        formatter = ScalarFormatter(useOffset=False)
        formatter.set_scientific(False)
        axis.set_major_formatter(formatter)


def readable_log(ax: Any, which: str = "y") -> None:
    """A log axis whose labels are plain numbers at powers of ten (and at 2 and 5 times them when a decade
    holds no power of ten)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    axis = ax.yaxis if which == "y" else ax.xaxis
    (ax.set_yscale if which == "y" else ax.set_xscale)("log")
    lo, hi = (ax.get_ylim() if which == "y" else ax.get_xlim())
    subs = (1.0,) if hi / max(lo, 1e-300) >= 10 else (1.0, 2.0, 5.0)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(short_number))
    axis.set_minor_formatter(NullFormatter())


def band(ax: Any, x: np.ndarray, Y: np.ndarray, *, seeds: Sequence[int], color: Any = None,
         label: str = "", step: bool = True) -> None:
    """Mean and ± one standard deviation over seeds (rows of `Y`), drawn only where every seed has a value;
    one seed: its own line. The legend entry names the band."""
    Y = np.atleast_2d(np.asarray(Y, dtype=np.float64))
    x = np.asarray(x, dtype=np.float64)
    defined = np.all(np.isfinite(Y), axis=0)
    if not defined.any():
        return
    xs, Ys = x[defined], Y[:, defined]
    mean, std = Ys.mean(axis=0), Ys.std(axis=0)
    where = "post" if step else None
    prefix = f"{label}: " if label else ""
    text = f"{prefix}seed {seeds[0]}" if len(Ys) == 1 else f"{prefix}mean ± std over {len(Ys)} seeds"
    if step:
        line = ax.step(xs, mean, where=where, color=color, label=text)[0]
    else:
        line = ax.plot(xs, mean, color=color, label=text)[0]
    if len(Ys) > 1:
        ax.fill_between(xs, mean - std, mean + std, step=where, alpha=0.2, color=line.get_color(), lw=0)


def steps_on_grid(xs: Sequence[np.ndarray], ys: Sequence[np.ndarray], grid: np.ndarray) -> np.ndarray:
    """Resample step functions (value ys[k][i] from xs[k][i] on) on a common grid: shape (len(xs), len(grid)),
    NaN before a function's first point."""
    out = np.full((len(xs), len(grid)), np.nan)
    for k, (x, y) in enumerate(zip(xs, ys)):
        x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
        idx = np.searchsorted(x, grid, side="right") - 1
        ok = idx >= 0
        out[k, ok] = y[idx[ok]]
    return out


#: objectives whose values span orders of magnitude: a log axis when they do
LOG_OBJECTIVES = {"params", "macs", "memory", "latency"}


def objective_axes(ax: Any, names: Sequence[str], a: int, b: int, values: np.ndarray) -> None:
    """Label a scatter of objective `a` against `b` (columns of `values`, shape (n, M)): a readable log axis
    for a cost spanning more than two orders of magnitude, plain ticks otherwise, names and a grid."""
    values = np.asarray(values, dtype=np.float64).reshape(-1, len(names))
    for axis, k in (("x", a), ("y", b)):
        v = values[:, k] if len(values) else np.ones(1)
        if names[k] in LOG_OBJECTIVES and v.min() > 0 and v.max() / v.min() > 100:
            readable_log(ax, axis)
        else:
            plain_ticks(ax, axis)
    ax.set_xlabel(names[a])
    ax.set_ylabel(names[b])
    ax.grid(alpha=0.3)
