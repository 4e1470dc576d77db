"""Start-up time of the command line (issue 12): `nago --help` and `nago COMMAND --help` against
`python -c "import torch"`, each the best of N fresh processes, measured in one run (rounds interleave the
commands, so a load that comes and goes touches all of them alike).

Prints one table (best wall time per command and its ratio to `import torch`, and the same for CPU time, which
a loaded machine disturbs less) and exits 1 when a wall-time ratio is above the limit (default 1.2).

    uv run python experiments/bench_startup.py [--repeats 3] [--limit 1.2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

COMMANDS = ("generate", "train", "search", "report", "worker")


def nago_executable() -> list[str]:
    """The `nago` console script of this interpreter's environment, else `python -m nago.cli`."""
    script = Path(sys.executable).with_name("nago")
    if script.exists():
        return [str(script)]
    found = shutil.which("nago")
    return [found] if found else [sys.executable, "-m", "nago.cli"]


def timed(argv: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one process run to the end (it must exit 0)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise subprocess.CalledProcessError(proc.returncode, argv)
    return wall, usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per command; the best counts")
    parser.add_argument("--limit", type=float, default=1.2, help="largest allowed ratio to `import torch`")
    args = parser.parse_args()
    if args.repeats < 1:
        raise SystemExit(f"repeats: must be an integer >= 1, got {args.repeats}")
    nago = nago_executable()
    runs = {"python -c 'import torch'": [sys.executable, "-c", "import torch"], "nago --help": [*nago, "--help"]}
    runs.update({f"nago {c} --help": [*nago, c, "--help"] for c in COMMANDS})
    wall = {name: float("inf") for name in runs}
    cpu = dict(wall)
    for _ in range(args.repeats):
        for name, argv in runs.items():
            w, c = timed(argv)
            wall[name], cpu[name] = min(wall[name], w), min(cpu[name], c)
    base = "python -c 'import torch'"
    width = max(map(len, runs))
    print(f"{'command':<{width}}  wall, best of {args.repeats} (s)  ratio  CPU, best of {args.repeats} (s)  ratio")
    failed = []
    for name in runs:
        ratio = wall[name] / wall[base]
        print(f"{name:<{width}}  {wall[name]:>21.2f}  {ratio:>5.2f}  {cpu[name]:>20.2f}  {cpu[name] / cpu[base]:>5.2f}")
        if ratio > args.limit:
            failed.append(name)
    if failed:
        print(f"above {args.limit}x import torch: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
