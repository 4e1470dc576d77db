"""`generate(params, seed)`: hyperparameters + seed -> ArchitectureSpec (HNAG or RNAG by the params' type).

With a `param_budget`, `hnag.budget.solve_widths` picks the widths; each count it asks for is made on the spec
(no module is built), and HNAG networks that differ in some widths share the cell graphs of the others, so a
cell's count is computed once per (width, input width) and the solver's dozens of counts cost little more
than one.
"""
from __future__ import annotations

import numbers
from typing import Callable

from . import hnag_generator, rnag_generator
from .budget import solve_widths
from .counting import count_graph_params
from .gc_pause import gc_paused
from .primitives import head_params
from .params import GeneratorParams, RNAGParams
from .spec import ArchitectureSpec, Graph


def _spec(params: GeneratorParams | RNAGParams, network: Graph, generator: str, seed: int,
          extra: dict) -> ArchitectureSpec:
    return ArchitectureSpec(generator, tuple(params.input_shape), params.num_classes, network,
                            {"params": params.to_dict(), "seed": seed, **extra})


def _solve(params: GeneratorParams | RNAGParams, build: Callable[[list[int]], Graph],
           widths_for: Callable[[float], list[int]], default: list[int], generator: str,
           seed: int, free_first: bool) -> ArchitectureSpec:
    def spec_for(widths: list[int], extra: dict) -> ArchitectureSpec:
        return _spec(params, build(widths), generator, seed, extra)

    if params.param_budget is None:
        return spec_for(default, {"widths": default})
    memo: dict = {}  # count_graph_params' memo, keyed by id(): `built` keeps every counted graph alive
    built: list[Graph] = []

    def count(widths: list[int]) -> int:
        built.append(build(widths))
        return (count_graph_params(built[-1], params.input_shape[0], memo)
                + head_params(built[-1].nodes[-1].channels, params.num_classes))

    solution = solve_widths(count, widths_for, params.param_budget, params.budget_tolerance, free_first=free_first)
    return spec_for(solution.widths, {"widths": solution.widths, "budget": {
        "target": solution.budget, "params": solution.params, "relative_error": solution.relative_error}})


def generate(params: GeneratorParams | RNAGParams, seed: int = 0) -> ArchitectureSpec:
    """Same params and seed give the same spec, byte for byte, in any process. Raises a one-line ValueError
    naming the field for bad hyperparameters, a bad seed or a budget the widths cannot meet."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed: must be an integer >= 0, got {seed!r}")
    with gc_paused():  # the solver's candidate networks are many small objects, none of them garbage
        return _generate(params, int(seed))  # int(): a numpy integer would serialise differently in the meta


def _generate(params: GeneratorParams | RNAGParams, seed: int) -> ArchitectureSpec:
    if isinstance(params, GeneratorParams):
        builder = hnag_generator.NetworkBuilder(hnag_generator.sample_topology(params, seed))
        # Widths are [stem, stage 0, stage 1, ...]; the stem follows stage 0 unless stem_channels fixes it, and
        # is otherwise the budget solver's free, fine-grained width (see hnag.budget).
        stem = params.stem_channels

        def build(widths: list[int]) -> Graph:
            return builder.network(widths[1:], stem or widths[0])

        def widths_for(base: float) -> list[int]:
            stages = hnag_generator.stage_widths(params, base)
            return [stem or stages[0], *stages]

        return _solve(params, build, widths_for, widths_for(params.base_channels), "hnag", seed, stem is None)
    if isinstance(params, RNAGParams):
        dags = rnag_generator.sample_stage_dags(params, seed)

        def build_rnag(widths: list[int]) -> Graph:
            return rnag_generator.build_network(params, dags, widths)

        def rnag_widths(c: float) -> list[int]:
            return rnag_generator.rnag_widths(params, c)

        return _solve(params, build_rnag, rnag_widths, rnag_widths(params.channels), "rnag", seed, True)
    raise ValueError(f"params: must be GeneratorParams or RNAGParams, got {type(params).__name__}")
