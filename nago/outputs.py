"""Output directories that are written whole or not at all.

`fresh_output_dir(out)` writes into a hidden temporary sibling `.NAME.xxxx` and renames it to `out` when the
block succeeds, so a reader never sees half of a result. Failures that are the user's to fix (a directory that
cannot be created or written) are one-line `ValueError`s raised before any work starts. The temporary
directory is removed when the block fails, on Ctrl-C (KeyboardInterrupt) and on SIGTERM (turned into
`SystemExit(143)` while the block runs, so `finally` clauses run as they do for Ctrl-C). If `out` was filled
by someone else while the block ran, the finished results are not thrown away: they are renamed to the first
free `NAME-2`, `NAME-3`, ... beside it, a warning names that directory on stderr, and `written_dir(out)` gives
it to callers that print where the results went.
"""
from __future__ import annotations

import itertools
import shutil
import signal
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Iterator

# Where each requested output directory of this process ended up (itself, or a NAME-k sibling).
_WRITTEN: dict[Path, Path] = {}


def written_dir(out_dir: str | Path) -> Path:
    """The directory the last `fresh_output_dir(out_dir)` block of this process wrote (`out_dir` itself unless
    it was occupied when the block finished)."""
    out = Path(out_dir)
    return _WRITTEN.get(out.absolute(), out)


def _occupied(out: Path) -> bool:
    return out.exists() and (not out.is_dir() or any(out.iterdir()))


def _make_temporary(out: Path) -> Path:
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    except OSError as exc:
        raise ValueError(f"out: cannot create {out} ({exc.strerror or exc.__class__.__name__}); choose a "
                         f"directory you can write to") from None


def _publish(tmp: Path, out: Path) -> Path:
    """Rename `tmp` to `out`, or to the first free `out-k` when `out` has been filled meanwhile."""
    names = itertools.chain([out], (out.with_name(f"{out.name}-{k}") for k in itertools.count(2)))
    target = next(names)
    while True:
        try:
            if not _occupied(target):
                if target.exists():
                    target.rmdir()  # empty: ours to replace
                tmp.rename(target)
                break
        except OSError as exc:
            if not target.exists():  # not a race with someone filling it: a real failure
                raise ValueError(f"out: cannot move the results to {target} ({exc.strerror})") from None
        target = next(names)
    if target != out:
        print(f"nago: warning: out: {out} was filled by something else while this ran; the results are in "
              f"{target}", file=sys.stderr)
    return target


@contextmanager
def _terminate_as_exit() -> Iterator[None]:
    """While the block runs in the main thread, SIGTERM raises SystemExit(143) instead of killing the process
    outright (only where SIGTERM still has its default action: someone else's handler is left alone)."""
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return

    def exit_on_term(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, exit_on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)


@contextmanager
def fresh_output_dir(out_dir: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling of `out_dir` to write into; it becomes `out_dir` only if the block succeeds.

    An existing non-empty `out_dir` is refused up front, so earlier results are never overwritten; so is a
    directory that cannot be created (one-line ValueError)."""
    out = Path(out_dir)
    if _occupied(out):
        raise FileExistsError(f"out: {out} already exists and is not empty; choose a new directory")
    tmp = _make_temporary(out)
    try:
        with _terminate_as_exit():
            yield tmp
            _WRITTEN[out.absolute()] = _publish(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
