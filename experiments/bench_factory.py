"""Benchmark of the factory (issue: generate-and-train).

Prints, in one run:
1. sample+compile time per network over N random configurations from the paper's ranges (expanded space:
   merge and op probabilities, stage and channel ratios), with a parameter budget;
2. the worst budget error over them (and how many budgets the solver refused, if any), then a timing table
   (issue 12: median at most 100 ms, max at most 500 ms, worst error at most 1%): median, p90 and max of the
   wall clock and CPU time, split into sample (generate) and compile, with the machine's load average;
   `--profile LINES` adds cProfile's top lines for the same loop;
3. the share of configurations the budget solver refuses on the `hnag` search space (issue 11: small budgets
   failed most evaluations), per budget (20k, 50k, 1M) and input shape (digits' 1x8x8, CIFAR's 3x32x32):
   N configurations sampled with `search.spaces.make_space("hnag", {"param_budget": B}).sample(rng)`, each
   generated with seed 0, with the worst relative error and the generate time (target: at most 2% refused);
4. training throughput of a compiled network divided by that of the same network written by hand in plain
   PyTorch (same parameters, copied weight for weight, outputs checked equal), target >= 0.95.

    uv run python experiments/bench_factory.py [--configs 200] [--budget 1000000] [--steps 30]
        [--space-budgets 20000,50000,1000000] [--skip-throughput] [--profile 25]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import pstats
import statistics
import time

import numpy as np
import torch
from torch import nn

import hnag
from hnag.modules import ReLUConvBN, projection


def random_params(rng: np.random.Generator, budget: int) -> hnag.GeneratorParams:
    top_n, bottom_n = int(rng.integers(3, 11)), int(rng.integers(3, 11))
    return hnag.GeneratorParams(
        top_n=top_n, top_k=int(rng.integers(2, min(5, top_n - 1) + 1)), top_p=float(rng.uniform(0.1, 1)),
        mid_n=int(rng.integers(1, 11)), mid_p=float(rng.uniform(0.1, 1)),
        bottom_n=bottom_n, bottom_k=int(rng.integers(2, min(5, bottom_n - 1) + 1)),
        bottom_p=float(rng.uniform(0.1, 1)),
        merge_probs={m: float(rng.uniform(0, 1)) for m in hnag.MERGE_OPTIONS},
        op_probs={o: float(rng.uniform(0, 1)) for o in hnag.OPERATIONS},
        stage_ratios=tuple(float(r) for r in rng.uniform(0.2, 1.0, 3)),
        channel_ratios=(1.0, float(rng.uniform(1.5, 2.5)), 4.0), param_budget=budget)


def space_refusals(configs: int, budget: int, input_shape: tuple[int, int, int]) -> dict:
    """Budget solver refusals over `configs` points of the `hnag` search space (seed 0 for each network)."""
    from search.spaces import make_space

    space = make_space("hnag", {"param_budget": budget})
    rng = np.random.default_rng(0)
    refused, times, errors, stem_ratios = 0, [], [], []
    for _ in range(configs):
        point = space.sample(rng)
        start = time.perf_counter()
        try:
            spec = space.to_spec(point, seed=0, input_shape=input_shape, num_classes=10)
        except ValueError:
            refused += 1
            continue
        finally:
            times.append(time.perf_counter() - start)
        errors.append(abs(spec.meta["budget"]["relative_error"]))
        stem_ratios.append(spec.meta["widths"][0] / spec.meta["widths"][1])
    return {"refused": refused, "n": configs, "worst_error": max(errors, default=float("nan")),
            "median_s": statistics.median(times), "max_s": max(times),
            "stem_ratio_median": statistics.median(stem_ratios) if stem_ratios else float("nan"),
            "stem_ratio_max": max(stem_ratios, default=float("nan"))}


def _quantile(values: list[float], q: float) -> float:
    """The q-quantile by the nearest rank (p90 of 200 values: the 180th smallest)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def sample_and_compile(configs: int, budget: int) -> dict:
    """Generate (sample + budget solver) and compile `configs` random expanded-space networks, each timed in wall
    clock and in this process's CPU time (which machine load inflates less)."""
    rng = np.random.default_rng(0)
    times: dict[str, list[float]] = {"wall": [], "cpu": [], "generate": [], "compile": []}
    errors, refused = [], 0
    for i in range(configs):
        params = random_params(rng, budget)
        start, cpu = time.perf_counter(), time.process_time()
        try:
            spec = hnag.generate(params, seed=i)
        except ValueError:
            refused += 1
            continue
        generated = time.perf_counter()
        model = hnag.compile_spec(spec)
        end = time.perf_counter()
        for key, value in (("wall", end - start), ("cpu", time.process_time() - cpu),
                           ("generate", generated - start), ("compile", end - generated)):
            times[key].append(value)
        assert sum(p.numel() for p in model.parameters()) == hnag.count_params(spec)
        errors.append(abs(hnag.count_params(spec) - budget) / budget)
    summary = {f"{key}_{stat}": fn(values) for key, values in times.items()
               for stat, fn in (("median", statistics.median), ("p90", lambda v: _quantile(v, 0.9)), ("max", max))}
    return {"n": len(times["wall"]), "refused": refused, "median_s": summary["wall_median"],
            "max_s": summary["wall_max"], "worst_error": max(errors), "mean_error": statistics.mean(errors), **summary}


def profile_sample_and_compile(configs: int, budget: int, lines: int) -> str:
    """cProfile's top `lines` functions by cumulative time over the same configurations."""
    profiler = cProfile.Profile()
    profiler.runcall(sample_and_compile, configs, budget)
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(lines)
    return out.getvalue()


def timing_table(gen: dict, budget: int) -> str:
    """Sample + compile times (targets: median at most 100 ms, max at most 500 ms) and the budget error."""
    rows = [("sample + compile, wall clock", "wall"), ("sample + compile, CPU time of this process", "cpu"),
            ("of which sample (generate, budget solver)", "generate"), ("of which compile (torch modules)", "compile")]
    lines = [f"| {gen['n']} configurations, budget {budget:,} | median | p90 | max |", "|---|---|---|---|"]
    lines += [f"| {label} | {gen[key + '_median'] * 1000:.0f} ms | {gen[key + '_p90'] * 1000:.0f} ms | "
              f"{gen[key + '_max'] * 1000:.0f} ms |" for label, key in rows]
    lines.append(f"| relative budget error (target: worst at most 1%) | mean {gen['mean_error']:.3%} | | "
                 f"worst {gen['worst_error']:.3%} |")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines.append(f"\nload average {load:.1f} on {os.cpu_count()} cores (wall clock exceeds CPU time when the "
                 f"machine is busy)")
    return "\n".join(lines)


# The reference network: HNAG with top WS(3, 2, 0) (cells 0 -> 1 -> 2 plus 0 -> 2, one cell per stage), a
# single-node middle level, and bottom WS(4, 2, 0) (a -> b -> c -> d plus a -> d), conv3x3 everywhere, sums;
# stages are entered by average pooling (the default downsampling).
REFERENCE = hnag.GeneratorParams(top_n=3, top_k=2, top_p=0.0, mid_n=1, bottom_n=4, bottom_k=2, bottom_p=0.0,
                                 base_channels=32, input_shape=(3, 32, 32), num_classes=10)


class HandCell(nn.Module):
    """a -> b -> c -> d, d also reads a; ReLU-conv3x3-BN each."""

    def __init__(self, c_in: int, c: int) -> None:
        super().__init__()
        self.a, self.b = ReLUConvBN(c_in, c, 3), ReLUConvBN(c, c, 3)
        self.c, self.d = ReLUConvBN(c, c, 3), ReLUConvBN(c, c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a(x)
        return self.d(self.c(self.b(a)) + a)


class HandWritten(nn.Module):
    def __init__(self, c: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        self.cell0 = HandCell(c, c)
        self.cell1 = HandCell(c, 2 * c)
        self.proj0, self.proj1 = projection(c, 4 * c), projection(2 * c, 4 * c)
        self.cell2 = HandCell(4 * c, 4 * c)
        self.classifier = nn.Linear(4 * c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pool = nn.functional.avg_pool2d
        x0 = self.cell0(self.stem(x))                                      # 32 x 32
        x1 = self.cell1(pool(x0, 2))                                       # 16 x 16
        x2 = self.cell2(self.proj0(pool(x0, 4)) + self.proj1(pool(x1, 2)))  # 8 x 8
        return self.classifier(x2.mean(dim=(2, 3)))


def _train_steps(model: nn.Module, steps: int, batch: int, device: str) -> float:
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)
    for i in range(steps + 3):  # three warm-up steps
        if i == 3:
            if device == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    if device == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def throughput_ratio(steps: int, batch: int, repeats: int, device: str) -> dict:
    spec = hnag.generate(REFERENCE, seed=0)
    compiled = hnag.compile_spec(spec).to(device)
    hand = HandWritten().to(device)
    theirs, ours = list(compiled.parameters()), list(hand.parameters())
    assert [p.shape for p in theirs] == [p.shape for p in ours], "the hand-written network differs"
    with torch.no_grad():
        for a, b in zip(ours, theirs):
            a.copy_(b)
    compiled.eval(), hand.eval()
    x = torch.randn(4, 3, 32, 32, device=device)
    with torch.no_grad():
        assert torch.allclose(compiled(x), hand(x), atol=1e-5), "outputs differ: not the same network"
    compiled.train(), hand.train()
    rates: dict[str, list[float]] = {"compiled": [], "hand": []}
    for _ in range(repeats):  # interleaved, so drifts in machine load hit both alike
        rates["compiled"].append(_train_steps(compiled, steps, batch, device))
        rates["hand"].append(_train_steps(hand, steps, batch, device))
    c, h = statistics.median(rates["compiled"]), statistics.median(rates["hand"])
    return {"params": hnag.count_params(spec), "compiled": c, "hand": h, "ratio": c / h}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", type=int, default=200)
    parser.add_argument("--budget", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--space-budgets", default="20000,50000,1000000",
                        help="budgets of the hnag-space refusal table (comma-separated; empty: skip it)")
    parser.add_argument("--skip-throughput", action="store_true", help="skip the training throughput measure")
    parser.add_argument("--profile", type=int, default=0, metavar="LINES",
                        help="also profile sample + compile (cProfile) and print its top LINES by cumulative time")
    args = parser.parse_args()
    budgets = [int(float(b)) for b in args.space_budgets.split(",") if b.strip()]
    if budgets:
        print("| budget | input | refused by the solver | worst error | generate time median (max) | "
              "stem / first stage width, median (max) |\n|---|---|---|---|---|---|")
        for budget in budgets:
            for shape in ((1, 8, 8), (3, 32, 32)):
                r = space_refusals(args.configs, budget, shape)
                print(f"| {budget:,} | {'x'.join(map(str, shape))} | {r['refused']} of {r['n']} "
                      f"({r['refused'] / r['n']:.1%}) | {r['worst_error']:.3%} | {r['median_s'] * 1000:.0f} ms "
                      f"({r['max_s'] * 1000:.0f} ms) | {r['stem_ratio_median']:.2g} ({r['stem_ratio_max']:.3g}) |",
                      flush=True)
        print()
    gen = sample_and_compile(args.configs, args.budget)
    print("| measure | value |\n|---|---|")
    print(f"| sample+compile time per network, median (max), {gen['n']} configs | "
          f"{gen['median_s'] * 1000:.0f} ms ({gen['max_s'] * 1000:.0f} ms) |")
    print(f"| budget {args.budget:,}: worst / mean relative error | {gen['worst_error']:.3%} / {gen['mean_error']:.3%} |")
    print(f"| budgets refused by the solver (outside 1%) | {gen['refused']} of {args.configs} |")
    print()
    print(timing_table(gen, args.budget))
    if args.profile:
        print(profile_sample_and_compile(args.configs, args.budget, args.profile))
    if not args.skip_throughput:
        thr = throughput_ratio(args.steps, args.batch, args.repeats, args.device)
        print(f"| training throughput, compiled / hand-written ({thr['params']:,} params, {args.device}, "
              f"batch {args.batch}) | {thr['compiled']:.0f} / {thr['hand']:.0f} samples/s = **{thr['ratio']:.3f}** |")


if __name__ == "__main__":
    main()
