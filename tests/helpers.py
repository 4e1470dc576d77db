"""Helpers shared by the tests that start real processes."""
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
