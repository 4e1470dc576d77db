"""Exact parameter count of a spec, computed from the spec alone (no module is built)."""
from __future__ import annotations

from .plan import NodePlan, plan_graph
from .primitives import PRIMITIVES, head_params, merge_params, projection_params
from .spec import ArchitectureSpec, Graph, Node


def count_node_params(node: Node, plan: NodePlan) -> int:
    """Projections, merge weights, adapter and op (a nested graph counted whole) of one node."""
    total = sum(projection_params(w, node.channels) for w, p in zip(plan.input_widths, plan.projected) if p)
    total += merge_params(node.merge, len(node.inputs), plan.merged_width)
    op_in = plan.merged_width
    if plan.adapter:
        total += projection_params(plan.merged_width, node.channels)
        op_in = node.channels
    if isinstance(node.op, Graph):
        return total + count_graph_params(node.op, op_in)
    return total + PRIMITIVES[node.op][1](op_in, node.channels)


def count_graph_params(graph: Graph, input_width: int) -> int:
    return sum(count_node_params(n, p) for n, p in zip(graph.nodes, plan_graph(graph, input_width)))


def count_params(spec: ArchitectureSpec) -> int:
    """Equals sum(p.numel() for p in compile_spec(spec).parameters())."""
    body = count_graph_params(spec.network, spec.input_shape[0])
    return body + head_params(spec.network.nodes[-1].channels, spec.num_classes)
