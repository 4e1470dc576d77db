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
short by a crash is moved aside (see `search.runstore.read_jsonl`); any other unreadable line is an error.

Durability: lines are flushed to the OS before the strategy hears of them (a killed master loses nothing);
`fsync=True` (training runs) also forces them to disk.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from typing import Any, Mapping

from ..runstore import RunStoreError, _differs, _fsync_dir, _write_new, acquire_lock, read_jsonl, release_lock

__all__ = ["RunLog", "RunStoreError", "FORMAT"]

FORMAT = "nago-search/2"
SETTINGS_FILE = "search.json"
LOG_FILE = "log.jsonl"
SESSIONS_FILE = "sessions.jsonl"
EVENTS = ("ask", "result")


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
