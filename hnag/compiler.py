"""The compiler: the only code that turns a spec into torch modules."""
from __future__ import annotations

import torch
from torch import nn

from .gc_pause import gc_paused
from .modules import Merge, build_primitive, has_weights, plain_merge, projection, resize_to
from .plan import NodePlan, meeting_size, plan_graph
from .spec import ArchitectureSpec, Graph, Node


class NodeModule(nn.Module):
    """One node: inputs average-pooled to where they meet (`meeting_size`), projected where the plan says,
    merged, adapted, then the op.

    Only what has parameters is a module (projections keyed by input position, a weighted merge, the adapter):
    parameterless placeholders would be most of a large network's modules and most of its compile time. The
    parameter names are those of a full list of projections (`projections.<input>.1.weight`)."""

    def __init__(self, node: Node, plan: NodePlan) -> None:
        super().__init__()
        self.inputs = list(node.inputs)
        self.kind, self.channels = node.merge, node.channels
        self.pool = node.stride if isinstance(node.op, Graph) else 1  # a nested graph's stride pools its inputs
        self.projected = [k for k, p in enumerate(plan.projected) if p]
        self.projections = nn.ModuleDict({str(k): projection(plan.input_widths[k], node.channels)
                                          for k in self.projected}) if self.projected else None
        self.merge = Merge(node.merge, len(node.inputs), plan.merged_width) \
            if has_weights(node.merge, len(node.inputs)) else None
        self.adapter = projection(plan.merged_width, node.channels) if plan.adapter else None
        self.op = GraphModule(node.op, plan.op_width) if isinstance(node.op, Graph) else \
            build_primitive(node.op, plan.op_width, node.channels, node.stride)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if len(xs) > 1 or self.pool > 1:
            size = meeting_size([x.shape[-2:] for x in xs], self.pool)
            xs = [resize_to(x, size) for x in xs]
            for k in self.projected:
                xs[k] = self.projections[str(k)](xs[k])
        x = self.merge(xs) if self.merge is not None else plain_merge(self.kind, xs, self.channels)
        return self.op(self.adapter(x) if self.adapter is not None else x)


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
    with gc_paused():
        return Network(spec)
