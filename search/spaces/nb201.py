"""The NAS-Bench-201 cell space: 4 nodes, 6 edges, 5 operations, 15,625 cells.

A cell is a DAG on nodes 0..3; node 0 is the cell input, node 3 its output, and every edge i -> j (i < j)
carries one of `OPS`. Node j is the sum over its incoming edges of op(node i). The official string lists, for
node 1, 2 and 3 in turn, the incoming edges as ``op~i``::

    |nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|

so the six edges are ordered (0,1), (0,2), (1,2), (0,3), (1,3), (2,3) (`EDGES`), and `NB201Cell.ops` holds
the op of each edge in that order.

Macro network (NAS-Bench-201, Dong & Yang 2020; `to_spec`): stem Conv3x3-BN (C=16); three stages of N=5
cells at C, 2C, 4C joined by two residual reduction blocks (ReLU-Conv3x3-BN stride 2, ReLU-Conv3x3-BN, plus a
shortcut AvgPool2x2 + bare Conv1x1, summed); final BN-ReLU, global average pool, Linear. `none` edges are
left out of the spec (they add zeros); a node whose every incoming edge is `none` becomes a `zero` node (the
edges leaving it are still built, as in the benchmark's code, so parameter counts match the published ones:
1,531,546 for the all-conv3x3 cell on CIFAR-10 and 73,306 for any cell without convolutions).

Identity of a cell: the benchmark trained every one of the 15,625 strings separately (isomorphic strings have
different results), so `hash` is the string itself; `iso_hash` gives an isomorphism- and dead-edge-invariant
hash (the NAS-Bench-101 algorithm on the equivalent op-on-node graph) for anyone who wants to merge those.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

OPS: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
NUM_NODES = 4
# IR primitive for each NB201 op (none is handled separately).
_PRIMITIVE = {"skip_connect": "identity", "nor_conv_1x1": "conv1x1", "nor_conv_3x3": "conv3x3",
              "avg_pool_3x3": "avg_pool3x3"}
# Input -> output routes through the cell, as edge indices (0->3, 0->1->3, 0->2->3, 0->1->2->3).
ROUTES: tuple[tuple[int, ...], ...] = ((3,), (0, 4), (1, 5), (0, 2, 5))
PATH_OPS: tuple[str, ...] = OPS[1:]  # a route through a `none` edge is no path
CONTRACTED_OPS: tuple[str, ...] = ("nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")  # skip_connect is the identity
ENCODINGS = ("adjacency", "path", "path_trunc", "path_contracted")


@dataclass(frozen=True, order=True)
class NB201Cell:
    """One NAS-Bench-201 cell: the op on each of the six edges, in `EDGES` order."""

    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.ops) != len(EDGES):
            raise ValueError(f"nb201 cell: expected {len(EDGES)} edge ops, got {len(self.ops)}")
        bad = [op for op in self.ops if op not in OPS]
        if bad:
            raise ValueError(f"nb201 cell: unknown op {bad[0]!r} (known: {', '.join(OPS)})")

    @classmethod
    def from_str(cls, text: str) -> "NB201Cell":
        """Parse the official string; ValueError (one line) says what is wrong with it."""
        s = text.strip()
        nodes = s.split("+")
        if len(nodes) != NUM_NODES - 1:
            raise ValueError(f"nb201 string {s!r}: expected 3 nodes joined by '+', got {len(nodes)}")
        ops: dict[tuple[int, int], str] = {}
        for j, part in enumerate(nodes, start=1):
            if len(part) < 2 or not (part.startswith("|") and part.endswith("|")):
                raise ValueError(f"nb201 string {s!r}: node {j} must look like |op~i|...|, got {part!r}")
            items = part[1:-1].split("|")
            if len(items) != j:
                raise ValueError(f"nb201 string {s!r}: node {j} needs {j} incoming edges, got {len(items)}")
            for item in items:
                op, sep, src = item.partition("~")
                if not sep or not src.isdigit():
                    raise ValueError(f"nb201 string {s!r}: edge {item!r} must look like op~i")
                if op not in OPS:
                    raise ValueError(f"nb201 string {s!r}: unknown op {op!r} (known: {', '.join(OPS)})")
                i = int(src)
                if not 0 <= i < j or (i, j) in ops:
                    raise ValueError(f"nb201 string {s!r}: node {j} has a bad or repeated input {i}")
                ops[(i, j)] = op
        return cls(tuple(ops[e] for e in EDGES))

    @classmethod
    def from_indices(cls, indices) -> "NB201Cell":
        return cls(tuple(OPS[int(i)] for i in indices))

    def to_str(self) -> str:
        by_edge = dict(zip(EDGES, self.ops))
        return "+".join("|" + "|".join(f"{by_edge[(i, j)]}~{i}" for i in range(j)) + "|"
                        for j in range(1, NUM_NODES))

    def __str__(self) -> str:
        return self.to_str()

    @property
    def indices(self) -> tuple[int, ...]:
        return tuple(OPS.index(op) for op in self.ops)


# --------------------------------------------------------------------------------------------- encodings

def _path_index(route_ops: tuple[str, ...]) -> int:
    """Index of a path (sequence of non-none ops) among all paths, shortest first."""
    k = len(PATH_OPS)
    offset = sum(k ** n for n in range(1, len(route_ops)))
    return offset + sum(PATH_OPS.index(op) * k ** n for n, op in enumerate(route_ops))


NUM_PATHS = sum(len(PATH_OPS) ** n for n in range(1, 4))          # 4 + 16 + 64 = 84
DEFAULT_TRUNCATION = sum(len(PATH_OPS) ** n for n in range(1, 3))  # paths of length <= 2: 20
NUM_CONTRACTED = sum(len(CONTRACTED_OPS) ** n for n in range(0, 4))  # 1 + 3 + 9 + 27 = 40


def _contracted_index(route_ops: tuple[str, ...]) -> int:
    """Index of a path once its skip connections (identities) are dropped; () is the pure identity path."""
    seq = tuple(op for op in route_ops if op != "skip_connect")
    k = len(CONTRACTED_OPS)
    return sum(k ** n for n in range(len(seq))) + sum(CONTRACTED_OPS.index(op) * k ** i for i, op in enumerate(seq))


def paths(cell: NB201Cell) -> list[tuple[str, ...]]:
    """The op sequences of all input->output paths that do not pass through a `none` edge."""
    out = []
    for route in ROUTES:
        route_ops = tuple(cell.ops[e] for e in route)
        if "none" not in route_ops:
            out.append(route_ops)
    return out


@lru_cache(maxsize=None)
def _encode(cell: NB201Cell, kind: str, cutoff: int) -> np.ndarray:
    if kind == "adjacency":
        # the adjacency is fixed in this space, so its one-hot encoding is the one-hot op of every edge
        x = np.zeros((len(EDGES), len(OPS)), dtype=np.float32)
        x[np.arange(len(EDGES)), cell.indices] = 1.0
        x = x.reshape(-1)
    elif kind in ("path", "path_trunc"):
        x = np.zeros(NUM_PATHS, dtype=np.float32)
        for p in paths(cell):
            x[_path_index(p)] = 1.0
        if kind == "path_trunc":
            x = x[:cutoff]
    elif kind == "path_contracted":
        x = np.zeros(NUM_CONTRACTED, dtype=np.float32)
        for p in paths(cell):
            x[_contracted_index(p)] = 1.0
    else:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {kind!r}")
    x.setflags(write=False)
    return x


# ------------------------------------------------------------------------------------- graph for the GCN

GCN_NODE_TYPES = ("input", "output", "global") + OPS  # one-hot feature of each GCN node


@lru_cache(maxsize=None)
def _gcn_graph(cell: NB201Cell) -> tuple[np.ndarray, np.ndarray]:
    """Op-on-node form: node 0 input, 1..6 the edges' ops, 7 output (the global node is added by the GCN).

    Edge-op node (i, j) reads every edge-op node ending at i (or the input if i = 0) and feeds every edge-op
    node starting at j (or the output if j = 3); a `none` edge carries nothing, so its node is left unconnected.
    """
    n = len(EDGES) + 2
    adj = np.zeros((n, n), dtype=np.float32)
    live = [op != "none" for op in cell.ops]
    for a, (i, j) in enumerate(EDGES):
        if not live[a]:
            continue
        if i == 0:
            adj[0, 1 + a] = 1
        if j == NUM_NODES - 1:
            adj[1 + a, n - 1] = 1
        for b, (k, _) in enumerate(EDGES):
            if live[b] and k == j:
                adj[1 + a, 1 + b] = 1
    feats = np.zeros((n, len(GCN_NODE_TYPES)), dtype=np.float32)
    feats[0, 0] = 1
    feats[n - 1, 1] = 1
    for a, op in enumerate(cell.ops):
        feats[1 + a, GCN_NODE_TYPES.index(op)] = 1
    adj.setflags(write=False)
    feats.setflags(write=False)
    return adj, feats


# ------------------------------------------------------------------------------------------------ space

class NB201Space:
    """Sample, mutate, neighbours, hash, encode and compile NAS-Bench-201 cells.

    All randomness comes from the `numpy.random.Generator` passed in; the object holds no data, so it is
    cheap to create and to copy (tables live in `search.evaluators.tables`, loaded once and shared).
    """

    name = "nb201"
    cell_type = NB201Cell
    encodings = ENCODINGS
    size = len(OPS) ** len(EDGES)

    def __init__(self, truncation: int = DEFAULT_TRUNCATION) -> None:
        if not 1 <= truncation <= NUM_PATHS:
            raise ValueError(f"truncation must be in [1, {NUM_PATHS}], got {truncation}")
        self.truncation = truncation

    # identity --------------------------------------------------------------------------------------
    def parse(self, text: str) -> NB201Cell:
        return NB201Cell.from_str(text)

    def to_str(self, cell: NB201Cell) -> str:
        return cell.to_str()

    def hash(self, cell: NB201Cell) -> str:
        return cell.to_str()

    def iso_hash(self, cell: NB201Cell) -> str:
        """Hash invariant to isomorphism and dead edges (NB101's algorithm on the op-on-node graph)."""
        from .nb101 import graph_hash, prune

        adj, feats = _gcn_graph(cell)
        labels = [int(np.argmax(f)) for f in feats]
        pruned = prune(np.asarray(adj, dtype=np.int64), labels)
        if pruned is None:
            return "disconnected"
        matrix, labels = pruned
        return graph_hash(matrix, [-1] + [int(lab) for lab in labels[1:-1]] + [-2])

    # random moves ----------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> NB201Cell:
        return NB201Cell.from_indices(rng.integers(0, len(OPS), size=len(EDGES)))

    def mutate(self, cell: NB201Cell, rng: np.random.Generator) -> NB201Cell:
        """One mutation: one edge gets a different op (uniformly among the other four)."""
        edge = int(rng.integers(len(EDGES)))
        choices = [op for op in OPS if op != cell.ops[edge]]
        ops = list(cell.ops)
        ops[edge] = choices[int(rng.integers(len(choices)))]
        return NB201Cell(tuple(ops))

    def neighbours(self, cell: NB201Cell) -> list[NB201Cell]:
        """The 24 cells one edge-op change away."""
        out = []
        for edge in range(len(EDGES)):
            for op in OPS:
                if op != cell.ops[edge]:
                    ops = list(cell.ops)
                    ops[edge] = op
                    out.append(NB201Cell(tuple(ops)))
        return out

    def all_cells(self) -> list[NB201Cell]:
        return [NB201Cell(ops) for ops in itertools.product(OPS, repeat=len(EDGES))]

    # encodings -------------------------------------------------------------------------------------
    def encode(self, cell: NB201Cell, kind: str = "path") -> np.ndarray:
        """`adjacency`: one-hot op per edge (30); `path`: one bit per input->output op sequence (84, BANANAS);
        `path_trunc`: the first `truncation` path bits (the shortest paths); `path_contracted`: one bit per
        op sequence of a path once its skip connections are dropped (40): a skip connection is the identity,
        so conv3x3 -> skip and a lone conv3x3 edge compute the same function and share a feature."""
        return _encode(cell, kind, self.truncation)

    def encoding_size(self, kind: str) -> int:
        return {"adjacency": len(EDGES) * len(OPS), "path": NUM_PATHS, "path_trunc": self.truncation,
                "path_contracted": NUM_CONTRACTED}[kind]

    def gcn_graph(self, cell: NB201Cell) -> tuple[np.ndarray, np.ndarray]:
        """(adjacency (8, 8), one-hot node features (8, 8)) without the global node."""
        return _gcn_graph(cell)

    gcn_num_nodes = len(EDGES) + 2
    gcn_num_features = len(GCN_NODE_TYPES)

    # the network ----------------------------------------------------------------------------------
    def to_spec(self, cell: NB201Cell, *, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
                input_shape: tuple[int, int, int] = (3, 32, 32)):
        """The benchmark's macro network around `cell` as an `hnag.ArchitectureSpec`."""
        return to_spec(cell, channels=channels, cells_per_stage=cells_per_stage, num_classes=num_classes,
                       input_shape=input_shape)

    def count_params(self, cell: NB201Cell, **kwargs) -> int:
        import hnag

        return hnag.count_params(self.to_spec(cell, **kwargs))


# ------------------------------------------------------------------------------------------------ the IR

def cell_graph(cell: NB201Cell, channels: int):
    """The cell as a nested `hnag.Graph` (input -1 is cell node 0; the last node is cell node 3)."""
    from hnag.spec import Graph, Node

    nodes: list = []
    where: dict[int, int] = {0: -1}  # cell node -> index in `nodes`
    for j in range(1, NUM_NODES):
        inputs = []
        for a, (i, jj) in enumerate(EDGES):
            if jj != j or cell.ops[a] == "none":
                continue
            nodes.append(Node(op=_PRIMITIVE[cell.ops[a]], inputs=(where[i],), channels=channels,
                              label=f"edge {i}->{j} {cell.ops[a]}"))
            inputs.append(len(nodes) - 1)
        if inputs:
            nodes.append(Node(op="identity", inputs=tuple(inputs), channels=channels, merge="sum",
                              label=f"node {j}"))
        else:  # every incoming edge is `none`: the node is zeros (its outgoing edges are still built)
            nodes.append(Node(op="zero", inputs=(-1,), channels=channels, label=f"node {j} (all none)"))
        where[j] = len(nodes) - 1
    return Graph(nodes=tuple(nodes), name="nb201-cell")


def residual_block(c_in: int, c_out: int):
    """NB201's reduction block: ResNet basic block, stride 2, AvgPool2x2 + Conv1x1 shortcut."""
    from hnag.spec import Graph, Node

    return Graph(nodes=(
        Node("conv3x3", (-1,), c_out, stride=2, label="conv_a"),
        Node("conv3x3", (0,), c_out, label="conv_b"),
        Node("avg_pool2x2", (-1,), c_in, label="shortcut pool"),
        Node("conv1x1_plain", (2,), c_out, label="shortcut conv"),
        Node("identity", (1, 3), c_out, merge="sum", label="residual sum"),
    ), name="nb201-reduction")


def to_spec(cell: NB201Cell, *, channels: int = 16, cells_per_stage: int = 5, num_classes: int = 10,
            input_shape: tuple[int, int, int] = (3, 32, 32)):
    from hnag.spec import ArchitectureSpec, Graph, Node

    if channels < 1 or cells_per_stage < 0 or num_classes < 1:
        raise ValueError(f"nb201 network: channels >= 1, cells_per_stage >= 0, num_classes >= 1 "
                         f"(got {channels}, {cells_per_stage}, {num_classes})")
    nodes = [Node("conv3x3_bn", (-1,), channels, label="stem")]
    c = channels
    for stage in range(3):
        if stage > 0:
            nodes.append(Node(residual_block(c, 2 * c), (len(nodes) - 1,), 2 * c, label=f"reduction {stage}"))
            c *= 2
        graph = cell_graph(cell, c)
        for k in range(cells_per_stage):
            nodes.append(Node(graph, (len(nodes) - 1,), c, label=f"stage {stage} cell {k}"))
    nodes.append(Node("bn_relu", (len(nodes) - 1,), c, label="last BN-ReLU"))
    return ArchitectureSpec(
        generator="nb201", input_shape=tuple(input_shape), num_classes=num_classes,
        network=Graph(nodes=tuple(nodes), name="network"),
        meta={"cell": cell.to_str(), "channels": channels, "cells_per_stage": cells_per_stage})
