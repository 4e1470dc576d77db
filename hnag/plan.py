"""Width inference and validation of a spec: the one place that applies the compiler's rules.

Both the compiler (which builds modules) and the parameter counter (which does not) walk the spec through
`plan_graph`, so the count equals the compiled module's by construction (and a test checks it).

A node's plan depends only on its merge, its op (a primitive name, or "a nested graph"), its width and its
inputs' widths, and a network repeats few such combinations (every node of a cell has the cell's width), so plans
are memoised on them: the budget solver plans thousands of nodes per network, most of them alike.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple, Sequence

from .primitives import PRIMITIVES, merge_params, projection_params
from .spec import MERGES, Graph, Node

class NodePlan(NamedTuple):
    """What the compiler and the counters need to know about a node beyond the spec: widths and own parameters."""

    input_widths: tuple[int, ...]
    projected: tuple[bool, ...]  # per input: projected to node.channels by ReLU-Conv1x1-BN before merging
    merged_width: int
    adapter: bool                # a channel-preserving op whose merged width differs: ReLU-Conv1x1-BN first
    op_width: int                # the width the op reads (node.channels after an adapter, else merged_width)
    params: int                  # parameters of projections, merge weights, adapter and a primitive op (a nested
                                 # graph's own are counted by whoever recurses into it)


def meeting_size(sizes: Sequence[Sequence[int]], stride: int = 1) -> tuple[int, int]:
    """Where a node's inputs meet (each is average-pooled to it): the smallest of their (height, width) by area,
    the first of equal area, divided by a nested graph node's stride and rounded up."""
    h, w = min(sizes, key=lambda s: s[0] * s[1])
    return -(-int(h) // stride), -(-int(w) // stride)


def valid_graph_stride(stride: object) -> bool:
    """A nested graph node's stride: a power of two (its input edges are average-pooled by it)."""
    return isinstance(stride, int) and not isinstance(stride, bool) and stride >= 1 and stride & (stride - 1) == 0


def _where(graph: Graph, index: int, node: Node) -> str:
    return f"{graph.name or 'graph'} node {index}{f' ({node.label})' if node.label else ''}"


@lru_cache(maxsize=16384)
def _plan(merge: str, op: str | None, channels: int, input_widths: tuple[int, ...]) -> NodePlan:
    """The plan of a node with primitive `op` (None: a nested graph), merge and op already checked; raises
    ValueError without the node's name."""
    single = len(input_widths) == 1
    if merge == "concat" and not single:
        projected = (False,) * len(input_widths)
        merged = sum(input_widths)
    elif merge == "truncate_sum" and not single:
        if min(input_widths) < channels:
            raise ValueError(f"truncate_sum needs inputs at least {channels} wide, got {input_widths}")
        projected, merged = (False,) * len(input_widths), channels
    elif single or len(set(input_widths)) == 1:
        projected, merged = (False,) * len(input_widths), input_widths[0]
    else:
        projected = tuple(w != channels for w in input_widths)
        merged = channels
    adapter = op is not None and PRIMITIVES[op][0] and merged != channels
    op_width = channels if adapter else merged
    params = sum(projection_params(w, channels) for w, p in zip(input_widths, projected) if p)
    params += merge_params(merge, len(input_widths), merged)
    params += projection_params(merged, channels) if adapter else 0
    params += PRIMITIVES[op][1](op_width, channels) if op is not None else 0
    return NodePlan(input_widths, projected, merged, adapter, op_width, params)


def plan_graph(graph: Graph, input_width: int) -> list[NodePlan]:
    """Check the graph and infer every node's widths; raises ValueError naming the node at fault."""
    nodes = graph.nodes
    if not nodes:
        raise ValueError(f"{graph.name or 'graph'}: has no nodes")
    plans = []
    for index, node in enumerate(nodes):
        inputs, nested = node.inputs, isinstance(node.op, Graph)
        if not inputs or min(inputs) < -1 or max(inputs) >= index:
            raise ValueError(f"{_where(graph, index, node)}: inputs must be -1 or earlier node indices, got "
                             f"{list(inputs)}")
        if node.channels < 1:
            raise ValueError(f"{_where(graph, index, node)}: channels must be >= 1, got {node.channels}")
        if not (valid_graph_stride(node.stride) if nested else node.stride in (1, 2)):
            raise ValueError(f"{_where(graph, index, node)}: stride must be 1 or 2 (for a nested graph a power of "
                             f"two), got {node.stride}")
        if node.merge not in MERGES:
            raise ValueError(f"{_where(graph, index, node)}: merge must be one of {', '.join(MERGES)}, got "
                             f"{node.merge!r}")
        if not nested and not (isinstance(node.op, str) and node.op in PRIMITIVES):
            raise ValueError(f"{_where(graph, index, node)}: unknown op {node.op!r} (known: {', '.join(PRIMITIVES)})")
        widths = tuple([input_width if j == -1 else nodes[j].channels for j in inputs])
        try:
            plan = _plan(node.merge, None if nested else node.op, node.channels, widths)
        except ValueError as err:
            raise ValueError(f"{_where(graph, index, node)}: {err}") from None
        # Nested graphs are planned by whoever recurses into them (compiler, counter), with plan.op_width.
        if nested and node.op.nodes and node.op.nodes[-1].channels != node.channels:
            raise ValueError(f"{_where(graph, index, node)}: nested graph ends with {node.op.nodes[-1].channels} "
                             f"channels, node says {node.channels}")
        plans.append(plan)
    return plans
