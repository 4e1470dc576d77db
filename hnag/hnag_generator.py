"""HNAG: the hierarchical generator (Watts-Strogatz top, Erdos-Renyi middle, Watts-Strogatz bottom).

Structure (all graphs made into DAGs by `hnag.graphs`' rule):
- stem: a conv3x3-BN at stride 1 or 2, or for a reduction by 4 a conv3x3-BN at stride 2 to the first stage's
  width followed by a ReLU-conv3x3-BN at stride 2 (`stem_stride`; automatic by default: 4 for inputs of 40 px
  or more on their shorter side, as in the authors' code, else 1). The stem has stage 0's width unless
  `stem_channels` fixes it or the budget solver moves it (`hnag.budget`: with a budget, the stem is the free,
  fine-grained width, and narrow networks may get a stem much wider than stage 0).
- top level: `top_n` nodes split into consecutive stages by `stage_ratios`; stage s works at 1/2^s of the
  stem's output resolution (rounded up) and width `channel_ratios[s] / channel_ratios[0] * base`, rounded, at
  least one channel (the base being solved for the parameter budget when one is set). The top-level graph
  built is exactly the sampled Watts-Strogatz DAG: a node reads its predecessors, a node without predecessors
  reads the stem, and no edge is added.
- downsampling between stages (`downsample`): a node whose inputs all lie in earlier stages (the stem counts
  as stage 0) reduces the resolution by 2 per stage it moves down.
  - "pool" (default, the paper's choice: "we only tried pooling"): every input edge of the node is
    average-pooled to the node's resolution before the inputs merge (the cell node's stride, see
    `hnag.spec`); the cell's operations run at stride 1. The authors' code does the same (each cell input is
    adaptively average-pooled to its stage's size).
  - "stride" (not the paper's; RandWire's way, and this code's before): the input operations of the cell (the
    middle nodes that read the cell's input, and the bottom operations of those that read theirs) use stride
    2. A node that moves down several stages at once pools its input edges by the rest, so the resolution
    still drops by exactly the stage difference.
  Both modes give the same parameter count, so the budget solver picks the same widths for either.
  Inputs of a node that come from different stages meet at the smallest resolution among them (average
  pooling on those edges, the compiler's rule).
- middle level: each top node is a cell, an Erdos-Renyi graph of `mid_n` nodes;
- bottom level: each cell node is a Watts-Strogatz graph of `bottom_n` operations sampled from `op_probs`.
- Every node with several inputs (and each graph's output node, added when a graph has several sinks) merges
  them with an option sampled from `merge_probs`.

Departures from the paper and the authors' code: the large-image stem is two plain 3x3 convolutions (the
authors' is a separable convolution and a ReLU-separable-convolution-BN unit; RandWire's is two 3x3
convolutions like ours), with the first at the first stage's width so that the parameter count stays linear in
the stem width, which the budget solver's exact stem step relies on; resolutions are rounded up (a stride-2
convolution's rounding), so both downsampling modes give the same feature-map sizes and odd sizes never
shrink to zero.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from .graphs import Dag, erdos_renyi_dag, rng_for, stage_sizes, watts_strogatz_dag
from .params import GeneratorParams
from .spec import Graph, Node


class _Categorical:
    """Draws option names with probabilities proportional to `probs`' weights (names in sorted order).

    `draw(rng, n)` makes n draws exactly as n calls of `rng.choice(len(names), p=weights / weights.sum())`
    would (numpy's method: the cumulative distribution searched at uniform draws), in one call."""

    def __init__(self, probs: dict[str, float]) -> None:
        self.names = sorted(probs)
        weights = np.array([probs[n] for n in self.names], dtype=float)
        cdf = np.cumsum(weights / weights.sum())
        self.cdf = cdf / cdf[-1]

    def draw(self, rng: np.random.Generator, n: int) -> tuple[str, ...]:
        return tuple(self.names[i] for i in np.searchsorted(self.cdf, rng.random(n), side="right").tolist())


@dataclass(frozen=True)
class LevelGraph:
    """A DAG with its sampled choices: merges[i], output_merge, ops[i] (bottom level only); inputs[i] are the
    DAG's predecessors, or (-1,) (the graph's input) for a node without any."""

    dag: Dag
    merges: tuple[str, ...]
    output_merge: str
    ops: tuple[str, ...] = ()
    inputs: tuple[tuple[int, ...], ...] = field(init=False)
    sinks: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(p if p else (-1,) for p in self.dag.predecessors))
        object.__setattr__(self, "sinks", self.dag.sinks)


@dataclass(frozen=True)
class HNAGTopology:
    """Everything about an HNAG network but its widths (the budget solver varies those)."""

    top: LevelGraph
    stage_of: tuple[int, ...]
    node_strides: tuple[int, ...]  # per top node: the cell node's stride (input edges pooled by it, a power of 2)
    leaf_strides: tuple[int, ...]  # per top node: stride of the cell's input operations (2: "stride" mode)
    cells: tuple[LevelGraph, ...]
    bottoms: tuple[tuple[LevelGraph, ...], ...]
    stem_stride: int


def _level(dag: Dag, merges: _Categorical, rng: np.random.Generator, ops: _Categorical | None = None) -> LevelGraph:
    """The level's choices, drawn in this order: a merge per node, the output merge, an op per node (bottom)."""
    node_merges = merges.draw(rng, dag.size)
    output_merge = merges.draw(rng, 1)[0]
    return LevelGraph(dag, node_merges, output_merge, ops.draw(rng, dag.size) if ops is not None else ())


def stage_drops(top: Dag, stage_of: tuple[int, ...]) -> tuple[int, ...]:
    """Per top node, how many stages it lies below the latest of its inputs (the stem counts as stage 0)."""
    return tuple(stage_of[i] - max((stage_of[j] for j in preds), default=0)
                 for i, preds in enumerate(top.predecessors))


def sample_topology(params: GeneratorParams, seed: int) -> HNAGTopology:
    """The graphs, choices and strides of the network for (params, seed); widths come later."""
    params.validate()
    merges, ops = _Categorical(params.merge_probs), _Categorical(params.op_probs)
    top_dag = watts_strogatz_dag(params.top_n, params.top_k, params.top_p, rng_for(seed, "top"))
    top = _level(top_dag, merges, rng_for(seed, "top-choices"))
    sizes = stage_sizes(params.top_n, params.stage_ratios)
    stage_of = tuple(int(s) for s in np.repeat(np.arange(len(sizes)), sizes))
    drops = stage_drops(top_dag, stage_of)
    if params.downsample == "pool":
        node_strides, leaf_strides = tuple(2 ** d for d in drops), (1,) * len(drops)
    else:  # "stride": the cell's input ops take one stage down, edge pooling any further ones
        node_strides = tuple(2 ** max(d - 1, 0) for d in drops)
        leaf_strides = tuple(2 if d else 1 for d in drops)
    cells, bottoms = [], []
    for i in range(params.top_n):
        cell_dag = erdos_renyi_dag(params.mid_n, params.mid_p, rng_for(seed, "middle", i))
        cells.append(_level(cell_dag, merges, rng_for(seed, "middle-choices", i)))
        bottoms.append(tuple(
            _level(watts_strogatz_dag(params.bottom_n, params.bottom_k, params.bottom_p, rng_for(seed, "bottom", i, j)),
                   merges, rng_for(seed, "bottom-choices", i, j), ops)
            for j in range(params.mid_n)))
    return HNAGTopology(top, stage_of, node_strides, leaf_strides, tuple(cells), tuple(bottoms),
                        params.resolved_stem_stride)


def stage_widths(params: GeneratorParams, base: float) -> list[int]:
    first = params.channel_ratios[0]
    return [max(1, int(round(base * r / first))) for r in params.channel_ratios]


@lru_cache(maxsize=256)
def _labels(name: str, n: int) -> tuple[str, ...]:
    return tuple(f"{name} {i}" for i in range(n))


def _graph(level: LevelGraph, ops, channels: int, name: str, input_stride: int = 1) -> Graph:
    """A level graph as spec nodes of width `channels`: node i runs ops[i] (a primitive gets `input_stride` when
    it reads the graph's input; a nested graph never strides itself), then the output merge of several sinks."""
    labels = _labels(name, level.dag.size)
    nodes = [Node(op, ins, channels, input_stride if ins == (-1,) and isinstance(op, str) else 1, merge, label)
             for op, ins, merge, label in zip(ops, level.inputs, level.merges, labels)]
    if len(level.sinks) > 1:
        nodes.append(Node("identity", level.sinks, channels, 1, level.output_merge, f"{name} output"))
    return Graph(tuple(nodes), name)


class NetworkBuilder:
    """Builds the network of a topology for given widths; networks built by one builder share their cell
    graphs, keyed by (cell, width, stride), so the budget solver's many width vectors cost little more than the
    cells whose width changed."""

    def __init__(self, topology: HNAGTopology) -> None:
        self.topology = topology
        self._cells: dict[tuple[int, int, int], Graph] = {}
        top = topology.top
        self._labels = tuple(f"cell {i} (stage {s})" for i, s in enumerate(topology.stage_of))
        self._top_inputs = tuple(tuple(j + 1 for j in ins) for ins in top.inputs)  # the stem is node 0

    def _cell(self, i: int, width: int) -> Graph:
        stride = self.topology.leaf_strides[i]
        key = (i, width, stride)
        graph = self._cells.get(key)
        if graph is None:
            cell, bottoms = self.topology.cells[i], self.topology.bottoms[i]
            ops = [_graph(bottom, bottom.ops, width, "bottom", stride if ins == (-1,) else 1)
                   for bottom, ins in zip(bottoms, cell.inputs)]
            graph = self._cells[key] = _graph(cell, ops, width, "middle")
        return graph

    def _stem(self, first: int, stem: int) -> Node:
        stride = self.topology.stem_stride
        if stride < 4:
            return Node("conv3x3_bn", (-1,), stem, stride, "sum", "stem")
        layers = (Node("conv3x3_bn", (-1,), first, 2, "sum", "stem conv 1"),
                  Node("conv3x3", (0,), stem, 2, "sum", "stem conv 2"))
        return Node(Graph(layers, "stem"), (-1,), stem, 1, "sum", "stem")

    def network(self, widths: list[int], stem: int) -> Graph:
        """The network for stage widths `widths` and stem width `stem`."""
        t = self.topology
        nodes = [self._stem(widths[0], stem)]
        for i, ins in enumerate(self._top_inputs):
            width = widths[t.stage_of[i]]
            nodes.append(Node(self._cell(i, width), ins, width, t.node_strides[i], t.top.merges[i], self._labels[i]))
        sinks = t.top.sinks
        if len(sinks) > 1:
            nodes.append(Node("identity", tuple(s + 1 for s in sinks), widths[-1], 1, t.top.output_merge,
                              "top output"))
        return Graph(tuple(nodes), "network")
