"""`generate(params, seed)`: hyperparameters + seed -> ArchitectureSpec (HNAG or RNAG by the params' type)."""
from __future__ import annotations

from typing import Callable

from . import hnag_generator, rnag_generator
from .budget import solve_widths
from .counting import count_params
from .params import GeneratorParams, RNAGParams
from .spec import ArchitectureSpec, Graph


def _spec(params: GeneratorParams | RNAGParams, network: Graph, generator: str, seed: int,
          extra: dict) -> ArchitectureSpec:
    return ArchitectureSpec(generator, tuple(params.input_shape), params.num_classes, network,
                            {"params": params.to_dict(), "seed": seed, **extra})


def _solve(params: GeneratorParams | RNAGParams, build: Callable[[list[int]], Graph],
           widths_for: Callable[[float], list[int]], default: list[int], generator: str,
           seed: int) -> ArchitectureSpec:
    def spec_for(widths: list[int], extra: dict) -> ArchitectureSpec:
        return _spec(params, build(widths), generator, seed, extra)

    if params.param_budget is None:
        return spec_for(default, {"widths": default})
    solution = solve_widths(lambda w: count_params(spec_for(w, {})), widths_for, params.param_budget,
                            params.budget_tolerance)
    return spec_for(solution.widths, {"widths": solution.widths, "budget": {
        "target": solution.budget, "params": solution.params, "relative_error": solution.relative_error}})


def generate(params: GeneratorParams | RNAGParams, seed: int = 0) -> ArchitectureSpec:
    """Same params and seed give the same spec, byte for byte, in any process."""
    if isinstance(params, GeneratorParams):
        topology = hnag_generator.sample_topology(params, seed)
        # Widths are [stem, stage 0, stage 1, ...]; the stem follows stage 0 unless stem_channels fixes it, and
        # the budget solver may move it by a channel or two for a finer parameter step.
        stem = params.stem_channels

        def build(widths: list[int]) -> Graph:
            return hnag_generator.build_network(topology, widths[1:], stem or widths[0])

        def widths_for(base: float) -> list[int]:
            stages = hnag_generator.stage_widths(params, base)
            return [stem or stages[0], *stages]

        return _solve(params, build, widths_for, widths_for(params.base_channels), "hnag", seed)
    if isinstance(params, RNAGParams):
        dags = rnag_generator.sample_stage_dags(params, seed)

        def build_rnag(widths: list[int]) -> Graph:
            return rnag_generator.build_network(params, dags, widths)

        def rnag_widths(c: float) -> list[int]:
            return rnag_generator.rnag_widths(params, c)

        return _solve(params, build_rnag, rnag_widths, rnag_widths(params.channels), "rnag", seed)
    raise ValueError(f"params: must be GeneratorParams or RNAGParams, got {type(params).__name__}")
