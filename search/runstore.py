"""The run directory: the single source of truth of a search, for resume and reports.

Layout of a run directory:

    search.json      the search's settings (strategy, space, options, data set, budgets, seed, run id); written
                     once, never modified
    space.json       the ConfigSpace JSON of the searched space (a custom space file is copied here)
    results.jsonl    append-only, one JSON object per finished evaluation (ok, failed or crashed), fsynced
    jobs.jsonl       append-only journal of every dispatched job (id, config, budget), fsynced before the job
                     leaves the master; a job in the journal without a result was running when the master died
    sessions.jsonl   append-only, one line per start or resume of the search
    nameserver.json  where the running search's Pyro4 name server listens (removed at a clean exit)
    logs/            worker and master logs
    report/          written by `nago report`

A result record: {"job_id": [a, b, c], "phase": "search" | "final" | <strategy phase>, "config": {...},
"budget": epochs, "seed": int, "status": "ok" | "failed" | "crashed", "loss": validation error or null,
"error": one line or null, "info": {...}, "worker": name, "attempts": n, "session": k,
"timestamps": {"submitted": t, "started": t, "finished": t}} (unix times).

Opening a run directory for writing takes an exclusive lock (released by the OS when the process dies), so
two masters never share one. A last line cut short by a crash (no trailing newline, not valid JSON) is moved
to `<log>.partial-<n>` with a warning; any other unreadable line makes the log corrupt (an error, nothing is
changed).
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
from typing import Any, Iterator, Mapping

FORMAT = "nago-search/1"
SETTINGS_FILE = "search.json"
SPACE_FILE = "space.json"
RESULTS_FILE = "results.jsonl"
JOURNAL_FILE = "jobs.jsonl"
SESSIONS_FILE = "sessions.jsonl"
NAMESERVER_FILE = "nameserver.json"
LOCK_FILE = ".lock"
RECORD_KEYS = ("job_id", "config", "budget", "status")
STATUSES = ("ok", "failed", "crashed")


class RunStoreError(ValueError):
    """A run directory that cannot be used as asked (one line; the CLI prints it and exits 2)."""


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


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, allow_nan=False, separators=(",", ":"))


def budget_key(budget: float) -> float:
    """Budgets compared across processes and JSON round trips."""
    return round(float(budget), 9)


def job_key(job_id: Any, budget: float) -> tuple:
    return (tuple(job_id), budget_key(budget))


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


class RunStore:
    """A run directory (see the module docstring). Create with `RunStore.create`, open with `RunStore.open`."""

    def __init__(self, path: Path, settings: dict[str, Any], writable: bool) -> None:
        self.path = path
        self.settings = settings
        self.writable = writable
        self._lock_fh = None
        self._session: int | None = None

    # -- creation and opening ------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: str | Path, settings: Mapping[str, Any], space_json: str) -> "RunStore":
        """Start a new run directory (which must not exist or be empty)."""
        path = Path(path)
        cls.check_new(path)
        path.mkdir(parents=True, exist_ok=True)
        store = cls(path, {}, writable=True)
        store._acquire_lock()
        settings = {"format": FORMAT, "run_id": uuid.uuid4().hex[:12], "created": time.time(), **dict(settings)}
        try:
            _write_new(path / SETTINGS_FILE, json.dumps(settings, indent=1, sort_keys=True, allow_nan=False) + "\n")
        except (TypeError, ValueError) as exc:
            store.close()
            raise RunStoreError(f"search settings are not JSON-able: {exc}") from None
        _write_new(path / SPACE_FILE, space_json)
        for name in (RESULTS_FILE, JOURNAL_FILE, SESSIONS_FILE):
            _write_new(path / name, "")
        (path / "logs").mkdir(exist_ok=True)
        _fsync_dir(path)
        store.settings = settings
        return store

    @staticmethod
    def check_new(path: Path) -> None:
        """A new search may only start in a directory that does not exist or is empty."""
        if path.exists() and not path.is_dir():
            raise RunStoreError(f"run directory {path}: exists and is not a directory")
        if path.is_dir() and any(path.iterdir()):
            if (path / SETTINGS_FILE).exists():
                raise RunStoreError(f"run directory {path}: already holds a search (continue it with --resume, "
                                    "or choose another directory)")
            raise RunStoreError(f"run directory {path}: is not empty and holds no search")

    @classmethod
    def open(cls, path: str | Path, *, writable: bool = False, expect: Mapping[str, Any] | None = None
             ) -> "RunStore":
        """Open an existing run directory. `expect`: settings the caller asks for (e.g. from the command line);
        any that differs from the stored value means the directory belongs to another search (an error).
        Writable stores are locked and their logs checked (and a truncated last line repaired)."""
        path = Path(path)
        settings_path = path / SETTINGS_FILE
        if not path.is_dir():
            raise RunStoreError(f"run directory {path}: does not exist")
        if not settings_path.is_file():
            raise RunStoreError(f"run directory {path}: holds no search ({SETTINGS_FILE} is missing)")
        try:
            settings = json.loads(settings_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise RunStoreError(f"run directory {path}: {SETTINGS_FILE} is corrupt") from None
        if not isinstance(settings, dict) or settings.get("format") != FORMAT or "run_id" not in settings:
            raise RunStoreError(f"run directory {path}: {SETTINGS_FILE} is not a {FORMAT} search")
        for key, value in (expect or {}).items():
            if value is None:
                continue
            stored = settings.get(key)
            if _differs(stored, value):
                raise RunStoreError(f"run directory {path}: belongs to another search (its {key} is {stored!r}, "
                                    f"not {value!r})")
        store = cls(path, settings, writable=writable)
        if writable:
            store._acquire_lock()
            try:
                store.results(repair=True)
                store.journal(repair=True)
                read_jsonl(path / SESSIONS_FILE, repair=True)
            except RunStoreError:
                store.close()
                raise
        else:  # check the logs anyway, so that a corrupt run is reported early
            store.results()
        return store

    def _acquire_lock(self) -> None:
        fh = open(self.path / LOCK_FILE, "a+")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.close()
            raise RunStoreError(f"run directory {self.path}: is in use by another running search") from None
        self._lock_fh = fh

    def close(self) -> None:
        if self._lock_fh is not None:
            fcntl.flock(self._lock_fh, fcntl.LOCK_UN)
            self._lock_fh.close()
            self._lock_fh = None

    def __enter__(self) -> "RunStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- properties ----------------------------------------------------------------------------------------
    @property
    def run_id(self) -> str:
        return str(self.settings["run_id"])

    @property
    def strategy(self) -> str:
        return str(self.settings.get("strategy", ""))

    def space_json(self) -> str:
        return (self.path / SPACE_FILE).read_text()

    # -- logs ----------------------------------------------------------------------------------------------
    def results(self, repair: bool = False) -> list[dict[str, Any]]:
        records = read_jsonl(self.path / RESULTS_FILE, repair=repair, required=RECORD_KEYS)
        for i, r in enumerate(records, 1):
            if r["status"] not in STATUSES or not isinstance(r["job_id"], list):
                raise RunStoreError(f"{self.path / RESULTS_FILE}: corrupt log, record {i} has status "
                                    f"{r['status']!r} / job_id {r['job_id']!r}")
        return records

    def journal(self, repair: bool = False) -> list[dict[str, Any]]:
        return read_jsonl(self.path / JOURNAL_FILE, repair=repair, required=("job_id", "config", "budget"))

    def sessions(self) -> list[dict[str, Any]]:
        return read_jsonl(self.path / SESSIONS_FILE)

    def _append(self, name: str, obj: Mapping[str, Any]) -> None:
        if not self.writable:
            raise RunStoreError(f"run directory {self.path}: opened read-only")
        line = _dumps(obj) + "\n"
        with open(self.path / name, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def append_result(self, record: Mapping[str, Any]) -> None:
        missing = [k for k in RECORD_KEYS if k not in record]
        if missing or record["status"] not in STATUSES:
            raise ValueError(f"result record: needs {', '.join(RECORD_KEYS)} and a status in {STATUSES}")
        loss = record.get("loss")
        if loss is not None and not math.isfinite(loss):
            record = {**record, "loss": None}
        self._append(RESULTS_FILE, {**record, "session": self._session})

    def append_job(self, entry: Mapping[str, Any]) -> None:
        self._append(JOURNAL_FILE, {**entry, "session": self._session})

    def start_session(self, **info: Any) -> int:
        """Record a start (or resume) of the search; returns the session number (0, 1, ...)."""
        number = len(self.sessions())
        self._session = number
        self._append(SESSIONS_FILE, {"session": number, "started": time.time(), "pid": os.getpid(), **info})
        return number

    @property
    def session(self) -> int | None:
        return self._session

    # -- name server ---------------------------------------------------------------------------------------
    def write_nameserver(self, host: str, port: int) -> None:
        tmp = self.path / f".{NAMESERVER_FILE}.tmp"
        tmp.write_text(json.dumps({"host": host, "port": port, "run_id": self.run_id, "pid": os.getpid()}))
        os.replace(tmp, self.path / NAMESERVER_FILE)

    def clear_nameserver(self) -> None:
        try:
            (self.path / NAMESERVER_FILE).unlink()
        except FileNotFoundError:
            pass


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


def finished_keys(records: list[dict[str, Any]], phase: str | None = None) -> set[tuple]:
    return {job_key(r["job_id"], r["budget"]) for r in records if phase is None or r.get("phase") == phase}


def iter_phase(records: list[dict[str, Any]], phase: str) -> Iterator[dict[str, Any]]:
    return (r for r in records if r.get("phase", "search") == phase)
