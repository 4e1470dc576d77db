"""The compiler: the only code that turns a spec into torch modules."""
from __future__ import annotations

import torch
from torch import nn

from .modules import Merge, build_primitive, projection, resize_to
from .plan import NodePlan, plan_graph
from .spec import ArchitectureSpec, Graph, Node


class NodeModule(nn.Module):
    def __init__(self, node: Node, plan: NodePlan) -> None:
        super().__init__()
        self.inputs = list(node.inputs)
        self.projections = nn.ModuleList(
            projection(w, node.channels) if p else nn.Identity() for w, p in zip(plan.input_widths, plan.projected))
        self.merge = Merge(node.merge, len(node.inputs), plan.merged_width, node.channels)
        self.adapter = projection(plan.merged_width, node.channels) if plan.adapter else nn.Identity()
        op_in = node.channels if plan.adapter else plan.merged_width
        self.op = GraphModule(node.op, op_in) if isinstance(node.op, Graph) else \
            build_primitive(node.op, op_in, node.channels, node.stride)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if len(xs) > 1:
            size = min((x.shape[-2:] for x in xs), key=lambda s: s[0] * s[1])
            xs = [proj(resize_to(x, size)) for proj, x in zip(self.projections, xs)]
        return self.op(self.adapter(self.merge(xs)))


class GraphModule(nn.Module):
    def __init__(self, graph: Graph, input_width: int) -> None:
        super().__init__()
        self.name = graph.name
        self.nodes = nn.ModuleList(NodeModule(n, p) for n, p in zip(graph.nodes, plan_graph(graph, input_width)))
        # Free each intermediate output after its last consumer has run.
        last_use: dict[int, int] = {}
        for i, node in enumerate(graph.nodes):
            for j in node.inputs:
                last_use[j] = i
        self.release = [[j for j, last in last_use.items() if last == i and j >= 0] for i in range(len(graph.nodes))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs: dict[int, torch.Tensor] = {-1: x}
        for i, node in enumerate(self.nodes):
            outs[i] = node([outs[j] for j in node.inputs])
            for j in self.release[i]:
                del outs[j]
        return outs[len(self.nodes) - 1]


class Network(nn.Module):
    """Compiled network: the spec's graph, global average pooling, a linear classifier."""

    def __init__(self, spec: ArchitectureSpec) -> None:
        super().__init__()
        self.body = GraphModule(spec.network, spec.input_shape[0])
        self.classifier = nn.Linear(spec.network.nodes[-1].channels, spec.num_classes)
        self.spec_hash = spec.hash()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.body(x).mean(dim=(2, 3)))


def compile_spec(spec: ArchitectureSpec) -> nn.Module:
    """Build the torch module for a spec (validated on the way; ValueError names the node at fault)."""
    return Network(spec)
