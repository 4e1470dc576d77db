"""HNAG: the hierarchical generator (Watts-Strogatz top, Erdos-Renyi middle, Watts-Strogatz bottom).

Structure (all graphs made into DAGs by `hnag.graphs`' rule):
- top level: `top_n` nodes split into consecutive stages by `stage_ratios`; stage s works at 1/2^s of the
  stem's resolution and width `channel_ratios[s] / channel_ratios[0] * base`, rounded, at least one channel
  (the base being solved for the parameter budget when one is set). The stem (a conv3x3-BN) has stage 0's
  width unless `stem_channels` fixes it or the budget solver moves it (`hnag.budget`: with a budget, the stem
  is the free, fine-grained width, and narrow networks may get a stem much wider than stage 0). Top nodes without predecessors read the stem; a top node whose inputs all
  come from two or more stages back also reads the last node of the previous stage (so every node steps down
  at most one resolution level). A node whose inputs all come from earlier stages downsamples: the input nodes
  of its cell and of their bottom graphs use stride 2.
- middle level: each top node is a cell, an Erdos-Renyi graph of `mid_n` nodes;
- bottom level: each cell node is a Watts-Strogatz graph of `bottom_n` operations sampled from `op_probs`.
- Every node with several inputs (and each graph's output node, added when a graph has several sinks) merges
  them with an option sampled from `merge_probs`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .graphs import Dag, erdos_renyi_dag, rng_for, stage_sizes, watts_strogatz_dag
from .params import GeneratorParams
from .spec import Graph, Node


def _choice(rng: np.random.Generator, probs: dict[str, float]) -> str:
    names = sorted(probs)
    weights = np.array([probs[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=weights / weights.sum()))]


@dataclass(frozen=True)
class LevelGraph:
    """A DAG with its sampled choices: ops[i] (bottom level only), merges[i], output_merge."""

    dag: Dag
    merges: tuple[str, ...]
    output_merge: str
    ops: tuple[str, ...] = ()


@dataclass(frozen=True)
class HNAGTopology:
    """Everything random about an HNAG network; widths are applied afterwards (the budget solver varies them)."""

    top: LevelGraph
    top_inputs: tuple[tuple[int, ...], ...]  # after the stage fix-up; -1 = stem
    stage_of: tuple[int, ...]
    downsample: tuple[bool, ...]
    cells: tuple[LevelGraph, ...]
    bottoms: tuple[tuple[LevelGraph, ...], ...]


def _level(dag: Dag, params: GeneratorParams, rng: np.random.Generator, ops: bool = False) -> LevelGraph:
    merges = tuple(_choice(rng, params.merge_probs) for _ in range(dag.size))
    output_merge = _choice(rng, params.merge_probs)
    sampled = tuple(_choice(rng, params.op_probs) for _ in range(dag.size)) if ops else ()
    return LevelGraph(dag, merges, output_merge, sampled)


def sample_topology(params: GeneratorParams, seed: int) -> HNAGTopology:
    params.validate()
    top_dag = watts_strogatz_dag(params.top_n, params.top_k, params.top_p, rng_for(seed, "top"))
    top = _level(top_dag, params, rng_for(seed, "top-choices"))
    sizes = stage_sizes(params.top_n, params.stage_ratios)
    stage_of = tuple(int(s) for s in np.repeat(np.arange(len(sizes)), sizes))
    last_of_stage = np.cumsum(sizes) - 1
    top_inputs, downsample = [], []
    for i, preds in enumerate(top_dag.predecessors):
        inputs = list(preds) if preds else [-1]
        levels = [0 if j == -1 else stage_of[j] for j in inputs]
        if stage_of[i] > 0 and max(levels) < stage_of[i] - 1:
            inputs.append(int(last_of_stage[stage_of[i] - 1]))
            levels.append(stage_of[i] - 1)
        top_inputs.append(tuple(sorted(inputs)))
        downsample.append(max(levels) < stage_of[i])
    cells, bottoms = [], []
    for i in range(params.top_n):
        cell_dag = erdos_renyi_dag(params.mid_n, params.mid_p, rng_for(seed, "middle", i))
        cells.append(_level(cell_dag, params, rng_for(seed, "middle-choices", i)))
        bottoms.append(tuple(
            _level(watts_strogatz_dag(params.bottom_n, params.bottom_k, params.bottom_p, rng_for(seed, "bottom", i, j)),
                   params, rng_for(seed, "bottom-choices", i, j), ops=True)
            for j in range(params.mid_n)))
    return HNAGTopology(top, tuple(top_inputs), stage_of, tuple(downsample), tuple(cells), tuple(bottoms))


def _graph(level: LevelGraph, inputs: tuple[tuple[int, ...], ...], make_op, channels: int, name: str,
           stride_for_input: int = 1) -> Graph:
    """Nodes from a level graph: node i reads inputs[i]; make_op(i, stride) gives its op and stride."""
    nodes = []
    for i, ins in enumerate(inputs):
        stride = stride_for_input if -1 in ins else 1
        op, op_stride = make_op(i, stride)
        nodes.append(Node(op, ins, channels, op_stride, level.merges[i], f"{name} {i}"))
    sinks = level.dag.sinks
    if len(sinks) > 1:
        nodes.append(Node("identity", tuple(sinks), channels, 1, level.output_merge, f"{name} output"))
    return Graph(tuple(nodes), name)


def _dag_inputs(dag: Dag) -> tuple[tuple[int, ...], ...]:
    return tuple(preds if preds else (-1,) for preds in dag.predecessors)


def stage_widths(params: GeneratorParams, base: float) -> list[int]:
    first = params.channel_ratios[0]
    return [max(1, int(round(base * r / first))) for r in params.channel_ratios]


def build_network(topology: HNAGTopology, widths: list[int], stem: int, cells: dict | None = None) -> Graph:
    """The network for stage widths `widths` and stem width `stem`; `cells` (optional) caches cell graphs by
    (cell, width, stride) across calls, so networks that differ in some widths share the other cells."""
    def cell_graph(i: int, width: int, stride: int) -> Graph:
        key = (i, width, stride)
        if cells is not None and key in cells:
            return cells[key]

        def bottom_op(j: int, node_stride: int):
            bottom = topology.bottoms[i][j]
            graph = _graph(bottom, _dag_inputs(bottom.dag), lambda l, s: (bottom.ops[l], s), width,
                           "bottom", node_stride)
            return graph, 1
        cell = topology.cells[i]
        graph = _graph(cell, _dag_inputs(cell.dag), bottom_op, width, "middle", stride)
        if cells is not None:
            cells[key] = graph
        return graph

    nodes = [Node("conv3x3_bn", (-1,), stem, 1, "sum", "stem")]
    top = topology.top
    for i, ins in enumerate(topology.top_inputs):
        width = widths[topology.stage_of[i]]
        cell = cell_graph(i, width, 2 if topology.downsample[i] else 1)
        nodes.append(Node(cell, tuple(j + 1 for j in ins), width, 1, top.merges[i],
                          f"cell {i} (stage {topology.stage_of[i]})"))
    sinks = top.dag.sinks
    if len(sinks) > 1:
        nodes.append(Node("identity", tuple(s + 1 for s in sinks), widths[-1], 1, top.output_merge, "top output"))
    return Graph(tuple(nodes), "network")
