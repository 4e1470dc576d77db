"""Helpers shared by the tests: processes started for real, and a strategy driven through the engine."""
from pathlib import Path


def processes_with(text: str) -> list[int]:
    """PIDs of the processes whose command line contains `text`."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def descendants(pid: int) -> list[int]:
    """Every process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def drive_to_log(strategy, evaluator, path, *, capacity: int, evaluations: int, seed: int = 0) -> list[dict]:
    """Run `strategy` through the engine's driver and an in-process pool into a new run log at `path`;
    returns the log's events."""
    from search.engine.driver import InlinePool, drive
    from search.engine.store import RunLog

    log = RunLog.create(path, {"strategy": strategy.name})
    try:
        drive(strategy, InlinePool(evaluator, capacity), log, seed=seed, evaluations=evaluations)
        return log.events()
    finally:
        log.close()


def asked(events) -> list[dict]:
    """Every job of every logged ask, in order."""
    return [job for e in events if e["event"] == "ask" for job in e["jobs"]]
