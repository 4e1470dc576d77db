"""RNAG: RandWire's randomly wired networks ("Exploring Randomly Wired Neural Networks", Xie et al. 2019).

Each random stage is a Watts-Strogatz graph made into a DAG by `hnag.graphs`' rule. A node is a weighted sum
of its inputs with sigmoid weights, then ReLU, 3x3 separable convolution and BN; the stage's input nodes (no
predecessors) read the previous stage and use stride 2; the stage output averages the sink nodes. Every stage
is seeded on its own from (seed, stage), so two stages with equal (N, K, P) still differ (a bug of some ports).
"""
from __future__ import annotations

from .graphs import rng_for, watts_strogatz_dag
from .params import RNAGParams
from .spec import Graph, Node


def sample_stage_dags(params: RNAGParams, seed: int) -> list:
    params.validate()
    return [watts_strogatz_dag(n, k, p, rng_for(seed, "rnag-stage", s))
            for s, (n, k, p) in enumerate(zip(params.n, params.k, params.p))]


def rnag_widths(params: RNAGParams, channels: float) -> list[int]:
    """[stem, conv2 (small regime only), random stages...]: C/2, C, then C * 2^s per random stage."""
    c = channels
    stage = [max(1, int(round(c * 2**s))) for s in range(params.num_random_stages)]
    head = [max(1, int(round(c))), *stage] if params.regime == "small" else stage
    return [max(1, int(round(c / 2))), *head]


def build_network(params: RNAGParams, dags: list, widths: list[int]) -> Graph:
    stride = params.stem_stride
    nodes = [Node("conv3x3_bn", (-1,), widths[0], stride, "sum", "conv1 (stem)")]
    stage_widths = widths[1:]
    if params.regime == "small":
        nodes.append(Node("conv3x3", (0,), widths[1], stride, "sum", "conv2"))
        stage_widths = widths[2:]
    for s, (dag, width) in enumerate(zip(dags, stage_widths)):
        stage_nodes = [Node("sep_conv3x3", preds if preds else (-1,), width, 1 if preds else 2, "weighted_sum",
                            f"stage {s} node {i}") for i, preds in enumerate(dag.predecessors)]
        stage_nodes.append(Node("identity", dag.sinks, width, 1, "mean", f"stage {s} output"))
        nodes.append(Node(Graph(tuple(stage_nodes), f"stage {s}"), (len(nodes) - 1,), width, 1, "sum",
                          f"random stage {s}"))
    nodes.append(Node("conv1x1_bn_relu", (len(nodes) - 1,), params.head_channels, 1, "sum", "1x1 conv head"))
    return Graph(tuple(nodes), "network")
