"""Width inference and validation of a spec: the one place that applies the compiler's rules.

Both the compiler (which builds modules) and the parameter counter (which does not) walk the spec through
`plan_graph`, so the count equals the compiled module's by construction (and a test checks it).
"""
from __future__ import annotations

from dataclasses import dataclass

from .primitives import PRIMITIVES
from .spec import MERGES, Graph, Node

SUM_LIKE = ("sum", "mean", "weighted_sum", "attention")


@dataclass(frozen=True)
class NodePlan:
    input_widths: tuple[int, ...]
    projected: tuple[bool, ...]  # per input: projected to node.channels by ReLU-Conv1x1-BN before merging
    merged_width: int
    adapter: bool                # a channel-preserving op whose merged width differs: ReLU-Conv1x1-BN first


def _where(graph: Graph, index: int, node: Node) -> str:
    return f"{graph.name or 'graph'} node {index}{f' ({node.label})' if node.label else ''}"


def plan_node(node: Node, input_widths: tuple[int, ...], where: str) -> NodePlan:
    if node.merge not in MERGES:
        raise ValueError(f"{where}: merge must be one of {', '.join(MERGES)}, got {node.merge!r}")
    single = len(input_widths) == 1
    if node.merge == "concat" and not single:
        projected = (False,) * len(input_widths)
        merged = sum(input_widths)
    elif node.merge == "truncate_sum" and not single:
        if min(input_widths) < node.channels:
            raise ValueError(f"{where}: truncate_sum needs inputs at least {node.channels} wide, got {input_widths}")
        projected, merged = (False,) * len(input_widths), node.channels
    elif single or len(set(input_widths)) == 1:
        projected, merged = (False,) * len(input_widths), input_widths[0]
    else:
        projected = tuple(w != node.channels for w in input_widths)
        merged = node.channels
    if isinstance(node.op, Graph):
        preserving = False
    elif node.op in PRIMITIVES:
        preserving = PRIMITIVES[node.op][0]
    else:
        raise ValueError(f"{where}: unknown op {node.op!r} (known: {', '.join(PRIMITIVES)})")
    return NodePlan(tuple(input_widths), projected, merged, preserving and merged != node.channels)


def plan_graph(graph: Graph, input_width: int) -> list[NodePlan]:
    """Check the graph and infer every node's widths; raises ValueError naming the node at fault."""
    if not graph.nodes:
        raise ValueError(f"{graph.name or 'graph'}: has no nodes")
    plans = []
    for index, node in enumerate(graph.nodes):
        where = _where(graph, index, node)
        if not node.inputs or any(not -1 <= j < index for j in node.inputs):
            raise ValueError(f"{where}: inputs must be -1 or earlier node indices, got {list(node.inputs)}")
        if node.channels < 1:
            raise ValueError(f"{where}: channels must be >= 1, got {node.channels}")
        if node.stride not in (1, 2) or (isinstance(node.op, Graph) and node.stride != 1):
            raise ValueError(f"{where}: stride must be 1 or 2 (1 for a nested graph), got {node.stride}")
        widths = tuple(input_width if j == -1 else graph.nodes[j].channels for j in node.inputs)
        plan = plan_node(node, widths, where)
        # Nested graphs are planned by whoever recurses into them (compiler, counter), with plan.merged_width.
        if isinstance(node.op, Graph) and node.op.nodes:
            if node.op.nodes[-1].channels != node.channels:
                raise ValueError(f"{where}: nested graph ends with {node.op.nodes[-1].channels} channels, "
                                 f"node says {node.channels}")
        plans.append(plan)
    return plans
