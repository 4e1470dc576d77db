"""Exact parameter and multiply-accumulate counts of a spec, computed from the spec alone (no module is built).

MACs (`count_macs`) follow the convention of `torch.utils.flop_counter.FlopCounterMode` (FLOPs / 2), which
`training.measure` reports as `macs_flop_counter`: every convolution and every matrix product counts its
multiply-accumulates (a conv: output positions x output channels x input channels per group x kernel area; a
linear layer: input features x output features per row it is applied to), and nothing else does -- batch norm,
ReLU, pooling, resizing, the sums and concatenations of merges, sigmoid/softmax weights, bias additions and the
global average pool are all 0. thop (`training.measure`'s `macs`) would also count batch norm and pooling.
"""
from __future__ import annotations

from .plan import NodePlan, meeting_size, plan_graph
from .primitives import head_params
from .spec import ArchitectureSpec, Graph, Node

Size = tuple[int, int]


def count_node_params(node: Node, plan: NodePlan, memo: dict | None = None) -> int:
    """Projections, merge weights, adapter and op (a nested graph counted whole) of one node."""
    if isinstance(node.op, Graph):
        return plan.params + count_graph_params(node.op, plan.op_width, memo)
    return plan.params


def count_graph_params(graph: Graph, input_width: int, memo: dict | None = None) -> int:
    """Parameters of a graph; `memo` (one per spec) reuses the count of a nested graph object met again with
    the same input width (NB201 repeats one cell graph object through a stage)."""
    key = (id(graph), input_width)
    if memo is not None and key in memo:
        return memo[key]
    total = 0
    for node, plan in zip(graph.nodes, plan_graph(graph, input_width)):
        total += plan.params
        if isinstance(node.op, Graph):
            total += count_graph_params(node.op, plan.op_width, memo)
    if memo is not None:
        memo[key] = total
    return total


def count_params(spec: ArchitectureSpec) -> int:
    """Equals sum(p.numel() for p in compile_spec(spec).parameters())."""
    body = count_graph_params(spec.network, spec.input_shape[0], {})
    return body + head_params(spec.network.nodes[-1].channels, spec.num_classes)


# ------------------------------------------------------------------------------------------------- MACs
# Kernel sides of the convolutions among the primitives (`hnag.modules`: padding k // 2, no bias); separable
# ones are a depthwise k x k convolution (one input channel per group) followed by a pointwise one.
_CONV = {"conv1x1": 1, "conv3x3": 3, "conv5x5": 5, "conv1x1_bn_relu": 1, "conv3x3_bn_relu": 3, "conv3x3_bn": 3,
         "conv1x1_plain": 1}
_SEP_CONV = {"sep_conv3x3": 3, "sep_conv5x5": 5}
# The other primitives' windows: (kernel, padding, stride); stride None takes the node's. A strided identity is
# AvgPool2d(1, s) and a strided zero is x[:, :, ::s, ::s] (every s-th position); BN-ReLU never strides and the
# 2x2 pools always use stride 2.
_WINDOW: dict[str, tuple[int, int, int | None]] = {
    "max_pool3x3": (3, 1, None), "avg_pool3x3": (3, 1, None), "max_pool2x2": (2, 0, 2), "avg_pool2x2": (2, 0, 2),
    "identity": (1, 0, None), "zero": (1, 0, None), "bn_relu": (1, 0, 1)}


def _out_size(size: Size, name: str, stride: int) -> Size:
    k = _CONV.get(name) or _SEP_CONV.get(name)
    if k is not None:
        pad = k // 2
    else:
        k, pad, fixed = _WINDOW[name]
        stride = fixed or stride
    return ((size[0] + 2 * pad - k) // stride + 1, (size[1] + 2 * pad - k) // stride + 1)


def _primitive_macs(name: str, i: int, o: int, out: Size) -> int:
    positions = out[0] * out[1]
    if name in _CONV:
        return positions * o * i * _CONV[name] ** 2
    if name in _SEP_CONV:
        return positions * i * _SEP_CONV[name] ** 2 + positions * i * o
    return 0


def _graph_macs(graph: Graph, input_width: int, size: Size, memo: dict) -> tuple[int, Size]:
    """(MACs, output size) of a graph whose input has `size`; `memo` reuses results for a nested graph object
    met again with the same input (NB201 repeats one cell graph object through a stage)."""
    key = (id(graph), input_width, size)
    if key in memo:
        return memo[key]
    sizes: list[Size] = []
    total = 0
    for index, (node, plan) in enumerate(zip(graph.nodes, plan_graph(graph, input_width))):
        nested = isinstance(node.op, Graph)
        at = meeting_size([size if j == -1 else sizes[j] for j in node.inputs], node.stride if nested else 1)
        positions = at[0] * at[1]
        total += sum(positions * w * node.channels for w, p in zip(plan.input_widths, plan.projected) if p)
        if node.merge == "attention" and len(node.inputs) > 1:   # Linear(width, 1) on each input's mean
            total += len(node.inputs) * plan.merged_width
        op_in = plan.op_width
        if plan.adapter:
            total += positions * plan.merged_width * node.channels
        if nested:
            macs, out = _graph_macs(node.op, op_in, at, memo)
        else:
            out = _out_size(at, node.op, node.stride)
            if min(out) < 1:
                raise ValueError(f"{graph.name or 'graph'} node {index}: input resolution {at[0]} x {at[1]} is "
                                 f"too small for {node.op} with stride {node.stride} (use a larger input_shape)")
            macs = _primitive_macs(node.op, op_in, node.channels, out)
        total += macs
        sizes.append(out)
    memo[key] = (total, sizes[-1])
    return memo[key]


def count_macs(spec: ArchitectureSpec) -> int:
    """Multiply-accumulates of one forward pass of one sample of `compile_spec(spec)` (see the module
    docstring for what counts); equals `training.measure`'s `macs_flop_counter`. Raises ValueError naming the
    node for a spec the compiler would refuse or whose resolution would shrink below 1 x 1."""
    channels, h, w = (int(v) for v in spec.input_shape)
    body, _ = _graph_macs(spec.network, channels, (h, w), {})
    return body + spec.network.nodes[-1].channels * spec.num_classes
