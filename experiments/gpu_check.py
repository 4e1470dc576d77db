"""GPU check (issue 12): the CUDA paths of NAGO, run for real, in one table.

(a) a training run with mixed precision (bfloat16 autocast where supported, else float16 with a GradScaler) of
    an HNAG network, through the project's own join of factory and training (`build_and_train`), against the
    same run in float32;
(b) memory per sample of that network by the CUDA peak-slope method against the CPU saved-tensors method
    (`training.measure`; the CPU number counts only what autograd saves, so it is a lower bound of the CUDA one);
(c) training throughput (images/s, bf16 autocast, SGD) of an HNAG network against torchvision's ResNet-18 of
    equal MACs (the HNAG parameter budget is bisected until its analytic MACs match the ResNet's), eager and
    `torch.compile`d, with and without `channels_last`; target HNAG / ResNet >= 0.8;
(d) two local search workers pinned to one GPU each (the engine sets CUDA_VISIBLE_DEVICES per worker), where
    the machine has two GPUs or more.

Inputs are random CIFAR-shaped tensors (3x32x32, 10 classes): nothing is downloaded, and (d) trains on the
built-in digits. About 5 minutes on one H200; later compile rows are skipped once --time-limit has passed.
Without CUDA it says so in one line and exits 0; `--smoke` runs the rows that need no CUDA on the CPU at tiny
sizes (a check of this script, not a measurement).

    uv run python experiments/gpu_check.py [--batch-size 512] [--steps 30] [--time-limit 360] [--smoke]
"""
from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from dataclasses import replace
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import TensorDataset

import hnag
import training
from search.evaluators.training import build_and_train
from training.datasets import DatasetBundle
from training.measure import MIB, cpu_saved_memory_per_sample, cuda_memory_per_sample, flop_counter_macs

SHAPE = (3, 32, 32)
CLASSES = 10
THROUGHPUT_TARGET = 0.8


class Table:
    """Rows printed as soon as they are known, so that a run cut short still shows what it measured."""

    def __init__(self) -> None:
        print(f"{'check':<44} {'result':<44} note", flush=True)

    def row(self, check: str, result: str, note: str = "") -> None:
        print(f"{check:<44} {result:<44} {note}", flush=True)


def random_bundle(samples: int) -> DatasetBundle:
    """CIFAR-shaped random images with random labels (speed and memory do not depend on the pixels)."""
    gen = torch.Generator().manual_seed(0)

    def split(n: int) -> TensorDataset:
        return TensorDataset(torch.randn(n, *SHAPE, generator=gen), torch.randint(0, CLASSES, (n,), generator=gen))

    return DatasetBundle("random", split(samples), split(samples // 4), split(samples // 4), SHAPE, CLASSES)


def hnag_params(budget: int) -> hnag.GeneratorParams:
    return replace(hnag.preset("hnag-default"), param_budget=budget, input_shape=SHAPE, num_classes=CLASSES)


def hnag_matching_macs(target: int) -> hnag.ArchitectureSpec:
    """The hnag-default network (seed 0) whose analytic MACs are closest to `target`, by bisecting the
    parameter budget on a log scale."""
    low, high = 10_000.0, 50_000_000.0
    best: tuple[float, hnag.ArchitectureSpec] | None = None
    for _ in range(14):
        budget = int((low * high) ** 0.5)
        try:
            spec = hnag.generate(hnag_params(budget), 0)
        except ValueError:  # a budget the solver refuses: move towards larger networks
            low = budget
            continue
        macs = hnag.count_macs(spec)
        if best is None or abs(macs - target) < best[0]:
            best = (abs(macs - target), spec)
        low, high = (budget, high) if macs < target else (low, budget)
    if best is None:
        raise RuntimeError(f"no hnag-default network between {low:.0f} and {high:.0f} parameters")
    return best[1]


def check_mixed_precision(table: Table, device: torch.device, samples: int, batch: int) -> nn.Module:
    """(a); returns the trained network, which (b) measures again."""
    spec = hnag.generate(hnag_params(1_000_000), 0)
    bundle = random_bundle(samples)
    amp_dtype = "bfloat16" if device.type == "cuda" and torch.cuda.is_bf16_supported() else "float16"
    runs = {}
    for amp in (True, False):
        config = training.TrainConfig(epochs=2, batch_size=batch, device=str(device), amp=amp, seed=0)
        runs[amp] = build_and_train(spec, 0, bundle, config)
    model, result, measured = runs[True]
    plain = runs[False][1]
    # samples/s of the second epoch: the first one includes cuDNN's algorithm search and lazy initialisation
    speed = {amp: batch * (r[1].history[1]["steps"] - r[1].history[0]["steps"]) / r[1].history[1]["epoch_time_s"]
             for amp, r in runs.items()}
    what = f"{amp_dtype} autocast" if device.type == "cuda" else "none on the CPU (amp is CUDA only)"
    table.row("(a) HNAG training, mixed precision", f"{result.status}, loss {result.train_loss:.3f}, "
              f"{speed[True]:,.0f} img/s", f"{what}; {measured.params:,} params, batch {batch}")
    table.row("(a) the same in float32", f"{plain.status}, loss {plain.train_loss:.3f}, {speed[False]:,.0f} img/s",
              f"mixed precision speed-up x{speed[True] / speed[False]:.2f}")
    table.row("    memory per sample, training.measure", f"{measured.memory_mb_per_sample:.3f} MiB",
              measured.memory_method)
    return model


def check_memory_methods(table: Table, model: nn.Module, device: torch.device) -> None:
    """(b): both memory methods on the same network, batch 32."""
    cpu_model = copy.deepcopy(model).cpu()
    cpu = cpu_saved_memory_per_sample(cpu_model, SHAPE, torch.device("cpu"), 32) / MIB
    if device.type != "cuda":
        table.row("(b) memory per sample, cpu-saved-tensors", f"{cpu:.3f} MiB", "cuda-peak-slope: no CUDA")
        return
    cuda = cuda_memory_per_sample(model, SHAPE, device, 32) / MIB
    table.row("(b) memory per sample, cuda-peak-slope", f"{cuda:.3f} MiB", "float32, batch 32 and 64")
    table.row("(b) memory per sample, cpu-saved-tensors", f"{cpu:.3f} MiB",
              f"CUDA / CPU = {cuda / cpu:.2f} (CPU: a lower bound, without backward's buffers)")


def training_throughput(model: nn.Module, device: torch.device, batch: int, steps: int, *, compiled: bool,
                        channels_last: bool) -> tuple[float, float]:
    """(images/s, seconds of the warm-up steps, compilation included) of SGD steps under autocast."""
    model = copy.deepcopy(model).to(device).train()
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=memory_format)
    forward: Callable[[torch.Tensor], torch.Tensor] = torch.compile(model) if compiled else model
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, *SHAPE, device=device).contiguous(memory_format=memory_format)
    y = torch.randint(0, CLASSES, (batch,), device=device)
    dtype = torch.bfloat16 if device.type == "cpu" or torch.cuda.is_bf16_supported() else torch.float16

    def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            with torch.autocast(device.type, dtype=dtype):
                loss = F.cross_entropy(forward(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    warm = run(3)
    return batch * steps / run(steps), warm


def check_throughput(table: Table, device: torch.device, batch: int, steps: int, deadline: float,
                     compile_rows: bool) -> None:
    """(c): HNAG against ResNet-18 of equal MACs, four variants each."""
    from torchvision.models import resnet18

    torch.manual_seed(0)
    resnet = resnet18(num_classes=CLASSES)
    target = flop_counter_macs(resnet, SHAPE, torch.device("cpu"))
    spec = hnag_matching_macs(target)
    net = hnag.compile_spec(spec)
    table.row("(c) networks of equal MACs", f"HNAG {hnag.count_macs(spec) / 1e6:.1f}M, ResNet-18 {target / 1e6:.1f}M",
              f"params: HNAG {hnag.count_params(spec):,}, ResNet-18 {sum(p.numel() for p in resnet.parameters()):,}")
    for compiled in (False, True):
        for channels_last in (False, True):
            name = f"(c) {'compiled' if compiled else 'eager'}, {'channels_last' if channels_last else 'NCHW'}"
            if compiled and not compile_rows:
                table.row(name, "skipped", "--smoke: no compilation")
                continue
            if time.perf_counter() > deadline:
                table.row(name, "skipped", "past --time-limit")
                continue
            if compiled:
                torch._dynamo.reset()  # each compiled variant starts from a clean cache
            try:
                (h, h_warm), (r, r_warm) = (training_throughput(m, device, batch, steps, compiled=compiled,
                                                                channels_last=channels_last) for m in (net, resnet))
            except Exception as exc:  # a failing compilation is a result of this check, not the end of it
                table.row(name, "failed", f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:150]}")
                continue
            verdict = "ok" if h / r >= THROUGHPUT_TARGET else f"below the {THROUGHPUT_TARGET} target"
            table.row(name, f"HNAG {h:,.0f} / ResNet {r:,.0f} img/s = {h / r:.2f}",
                      f"{verdict}; warm-up (compile) {h_warm:.0f} s / {r_warm:.0f} s")


def check_workers(table: Table) -> None:
    """(d): a random search on digits with two local workers, one GPU each."""
    if torch.cuda.device_count() < 2:
        table.row("(d) two workers, one GPU each", "skipped", f"{torch.cuda.device_count()} GPU on this machine")
        return
    from search.run import SearchRequest, run_search

    gpus: list[Any] = []
    records: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as run_dir:
        request = SearchRequest(strategy="random", run_dir=run_dir, space="hnag", dataset="digits", evaluations=6,
                                max_budget=1, workers=2, device="cuda")
        summary = run_search(request, on_result=records.append,
                             on_start=lambda pool, settings: gpus.extend(getattr(pool, "gpus", [])))
    ok = sum(r["status"] == "ok" for r in records)
    workers = sorted({str(r.get("worker")) for r in records})
    table.row("(d) two workers, one GPU each", f"{ok}/{len(records)} ok on {len(workers)} worker(s)",
              f"GPUs {','.join(map(str, gpus))}; {summary['wall_time_s']:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=512, help="batch of the throughput rows (c)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per throughput row (c)")
    parser.add_argument("--time-limit", type=float, default=360.0, help="seconds after which the remaining "
                        "throughput rows are skipped (a compilation cannot be interrupted)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes on the CPU, no compilation: a check "
                        "that this script runs, not a measurement")
    args = parser.parse_args()
    for name in ("batch_size", "steps"):
        if getattr(args, name) < 1:
            raise SystemExit(f"{name}: must be an integer >= 1, got {getattr(args, name)}")
    if not torch.cuda.is_available() and not args.smoke:
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); nothing to check. "
              "Run it on a machine with a GPU (or with --smoke to try the script on the CPU).")
        return 0
    start = time.perf_counter()
    device = torch.device("cpu" if args.smoke else "cuda")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    table = Table()
    samples, batch = (64, 16) if args.smoke else (8192, 256)
    model = check_mixed_precision(table, device, samples, batch)
    check_memory_methods(table, model, device)
    check_throughput(table, device, 8 if args.smoke else args.batch_size, 2 if args.smoke else args.steps,
                     start + args.time_limit, compile_rows=not args.smoke)
    if device.type == "cuda":
        check_workers(table)
    else:
        table.row("(d) two workers, one GPU each", "skipped", "no CUDA")
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "the CPU"
    print(f"total {time.perf_counter() - start:.0f} s on {where}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
