"""The run directory of every search: one append-only log, read by resume and by reports.

Layout:

    search.json      the search's settings (strategy, space, evaluator, objectives, seeds, options, run id);
                     written once, never modified
    log.jsonl        append-only: one line per event, in the order the master saw them
    sessions.jsonl   one line per start or resume
    nameserver.json  where a running search's Pyro4 name server listens (removed at a clean exit)
    logs/            worker logs
    report/          written by `nago report`

Events (every line has "event", "seed", "session" and "t", a unix time):

    {"event": "ask", "n": 4, "jobs": [{"id": 0, "config": {...}, "budget": 3.0, "info": {...}}, ...]}
    {"event": "result", "job": 0, "phase": "search", "config": {...}, "budget": 3.0, "status": "ok",
     "metrics": {"error": 0.1, "params": 5e4, ...}, "error": null, "info": {...}, "worker": "...",
     "eval_s": 1.2}

A "result" line is self-contained (configuration and budget repeated), so reports read result lines only. A
job asked for but without a result was running when the master died: a resume runs it again. A last line cut
short by a crash is moved aside (`read_jsonl`); any other unreadable line is an error.

Durability: lines are flushed to the OS before the strategy hears of them (a killed master loses nothing);
`fsync=True` (training runs) also forces them to disk.
"""
from __future__ import annotations

import fcntl
import json
import math
import os
import time
import uuid
import warnings
from pathlib import Path
from typing import Any, Mapping

__all__ = ["RunLog", "RunStoreError", "FORMAT", "read_log", "read_settings", "read_nameserver"]

FORMAT = "nago-search/2"
SETTINGS_FILE = "search.json"
NAMESERVER_FILE = "nameserver.json"
LOCK_FILE = ".lock"
LOG_FILE = "log.jsonl"
SESSIONS_FILE = "sessions.jsonl"
EVENTS = ("ask", "result")


class RunStoreError(ValueError):
    """A run directory that cannot be used (one line)."""


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new(path: Path, text: str) -> None:
    """Create a file that must not exist yet, durably."""
    with open(path, "x") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path, *, repair: bool = False, required: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Read an append-only JSON-lines log. A truncated last line is skipped with a warning (and, with
    `repair`, moved aside so that appends start on a clean line); any other bad line raises RunStoreError."""
    if not path.exists():
        return []
    data = path.read_bytes()
    lines = data.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        records.append(_parse(path, number, line, required))
    if tail.strip():
        try:
            records.append(_parse(path, len(lines) + 1, tail, required))
            complete = True
        except RunStoreError:
            complete = False
        if not complete:
            warnings.warn(f"{path}: skipping a truncated last line ({len(tail)} bytes, written when the search "
                          "was killed)", RuntimeWarning, stacklevel=2)
            if repair:
                n = 1
                while path.with_name(f"{path.name}.partial-{n}").exists():
                    n += 1
                _write_new(path.with_name(f"{path.name}.partial-{n}"), tail.decode("utf-8", "replace"))
                with open(path, "r+b") as fh:
                    fh.truncate(len(data) - len(tail))
                    fh.flush()
                    os.fsync(fh.fileno())
        elif repair:  # valid but unterminated: terminate it so the next append starts a new line
            with open(path, "ab") as fh:
                fh.write(b"\n")
                fh.flush()
                os.fsync(fh.fileno())
    return records


def _parse(path: Path, number: int, line: bytes, required: tuple[str, ...]) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RunStoreError(f"{path}: corrupt log, line {number} is not valid JSON") from None
    if not isinstance(record, dict) or any(k not in record for k in required):
        raise RunStoreError(f"{path}: corrupt log, line {number} is not a record with "
                            f"{', '.join(required)}")
    return record


def acquire_lock(path: Path):
    """An exclusive lock on a run directory (released by the OS when the process dies)."""
    fh = open(Path(path) / LOCK_FILE, "a+")
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fh.close()
        raise RunStoreError(f"run-dir: {path} is in use by another running search") from None
    return fh


def release_lock(fh) -> None:
    fcntl.flock(fh, fcntl.LOCK_UN)
    fh.close()


def read_nameserver(run_dir: str | Path) -> dict[str, Any] | None:
    """The running search's name server of a run directory (None when no search is running there)."""
    path = Path(run_dir) / NAMESERVER_FILE
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    if not isinstance(data, dict) or not {"host", "port", "run_id"} <= set(data):
        return None
    return data


def _differs(stored: Any, requested: Any) -> bool:
    if isinstance(stored, (int, float)) and isinstance(requested, (int, float)) and not isinstance(stored, bool):
        return not math.isclose(float(stored), float(requested), rel_tol=1e-9, abs_tol=1e-12)
    return json.dumps(stored, sort_keys=True) != json.dumps(requested, sort_keys=True)


class RunLog:
    """A run directory (see the module docstring). `RunLog.create` starts one, `RunLog.open` reopens one."""

    def __init__(self, path: Path, settings: dict[str, Any], writable: bool, fsync: bool = False) -> None:
        self.path = path
        self.settings = settings
        self.writable = writable
        self.fsync = fsync
        self.session: int | None = None
        self._lock = None
        self._fh = None

    # -- creation and opening -----------------------------------------------------------------------------
    @staticmethod
    def check_new(path: str | Path) -> None:
        """A new search may only start in a directory that does not exist or is empty."""
        path = Path(path)
        if path.exists() and not path.is_dir():
            raise RunStoreError(f"run-dir: {path} exists and is not a directory")
        if path.is_dir() and any(path.iterdir()):
            if (path / SETTINGS_FILE).exists():
                raise RunStoreError(f"run-dir: {path} already holds a search (continue it with --resume, or "
                                    "choose another directory)")
            raise RunStoreError(f"run-dir: {path} is not empty and holds no search")

    @classmethod
    def create(cls, path: str | Path, settings: Mapping[str, Any], *, fsync: bool = False) -> "RunLog":
        path = Path(path)
        cls.check_new(path)
        try:
            text = json.dumps({"format": FORMAT, "run_id": uuid.uuid4().hex[:12], "created": time.time(),
                               **dict(settings)}, indent=1, sort_keys=True, allow_nan=False) + "\n"
        except (TypeError, ValueError) as exc:
            raise RunStoreError(f"search settings are not JSON-able: {exc}") from None
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunStoreError(f"run-dir: cannot create {path} ({exc.strerror})") from None
        store = cls(path, json.loads(text), writable=True, fsync=fsync)
        store._lock = acquire_lock(path)
        _write_new(path / SETTINGS_FILE, text)
        for name in (LOG_FILE, SESSIONS_FILE):
            _write_new(path / name, "")
        (path / "logs").mkdir(exist_ok=True)
        _fsync_dir(path)
        return store

    @classmethod
    def open(cls, path: str | Path, *, writable: bool = False, expect: Mapping[str, Any] | None = None,
             fsync: bool = False) -> "RunLog":
        """Reopen a run directory; `expect` holds settings the caller asks for (None: any), and a stored value
        that differs means the directory belongs to another search (one-line error)."""
        path = Path(path)
        if not (path / SETTINGS_FILE).is_file():
            raise RunStoreError(f"run-dir: {path} holds no search ({SETTINGS_FILE} is missing)")
        try:
            settings = json.loads((path / SETTINGS_FILE).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RunStoreError(f"run-dir: {path}/{SETTINGS_FILE} is corrupt") from None
        if not isinstance(settings, dict) or settings.get("format") != FORMAT:
            raise RunStoreError(f"run-dir: {path} is not a {FORMAT} search (it was written by another version)")
        for key, value in (expect or {}).items():
            if value is not None and _differs(settings.get(key), value):
                raise RunStoreError(f"run-dir: {path} belongs to another search (its {key} is "
                                    f"{settings.get(key)!r}, not {value!r})")
        store = cls(path, settings, writable=writable, fsync=fsync)
        if writable:
            store._lock = acquire_lock(path)
            try:
                read_jsonl(path / LOG_FILE, repair=True, required=("event",))
                read_jsonl(path / SESSIONS_FILE, repair=True)
            except RunStoreError:
                store.close()
                raise
        return store

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        if self._lock is not None:
            release_lock(self._lock)
            self._lock = None

    def __enter__(self) -> "RunLog":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def run_id(self) -> str:
        return str(self.settings["run_id"])

    # -- reading ------------------------------------------------------------------------------------------
    def events(self) -> list[dict[str, Any]]:
        return read_log(self.path)

    def sessions(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / SESSIONS_FILE)

    # -- writing ------------------------------------------------------------------------------------------
    def write_nameserver(self, host: str, port: int) -> None:
        tmp = self.path / f".{NAMESERVER_FILE}.tmp"
        tmp.write_text(json.dumps({"host": host, "port": port, "run_id": self.run_id, "pid": os.getpid()}))
        os.replace(tmp, self.path / NAMESERVER_FILE)

    def clear_nameserver(self) -> None:
        try:
            (self.path / NAMESERVER_FILE).unlink()
        except FileNotFoundError:
            pass

    def start_session(self, **info: Any) -> int:
        self.session = len(self.sessions())
        self._write(SESSIONS_FILE, {"session": self.session, "started": time.time(), "pid": os.getpid(), **info})
        return self.session

    def append(self, event: Mapping[str, Any]) -> dict[str, Any]:
        if event.get("event") not in EVENTS:
            raise ValueError(f"log event: must be one of {EVENTS}, got {event.get('event')!r}")
        line = {**event, "session": self.session, "t": event.get("t", time.time())}
        if self._fh is None:
            self._fh = open(self.path / LOG_FILE, "a")
        self._fh.write(json.dumps(line, allow_nan=False, separators=(",", ":")) + "\n")
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())
        return line

    def _write(self, name: str, obj: Mapping[str, Any]) -> None:
        if not self.writable:
            raise RunStoreError(f"run-dir: {self.path} opened read-only")
        with open(self.path / name, "a") as fh:
            fh.write(json.dumps(obj, allow_nan=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def read_log(run_dir: str | Path) -> list[dict[str, Any]]:
    """Every event of a run directory, in order (a read-only view for reports)."""
    return read_jsonl(Path(run_dir) / LOG_FILE, required=("event",))


def read_settings(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / SETTINGS_FILE
    if not path.is_file():
        raise RunStoreError(f"run-dir: {run_dir} holds no search ({SETTINGS_FILE} is missing)")
    return json.loads(path.read_text())
