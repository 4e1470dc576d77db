"""The NAS-Bench-101 cell space: DAGs of up to 7 vertices and 9 edges, ops on the interior vertices.

A cell is an upper-triangular adjacency matrix (vertex 0 = input, last vertex = output) plus one op per
vertex: ``input``, then `OPS` (conv3x3-bn-relu, conv1x1-bn-relu, maxpool3x3) for the interior, then
``output``. As in the benchmark's code (Ying et al. 2019, `ModelSpec`):

- pruning: vertices not on some input -> output path are removed (they do not change the computation);
- validity: after pruning the input still reaches the output, the cell has at most 7 vertices and 9 edges;
- identity: the benchmark's graph hash (iterated md5 of in/out degrees and op labels, `graph_hash`) of the
  pruned cell, which is invariant to vertex relabelling, so isomorphic cells hash equal.

`NB101Cell` keeps the matrix as given (pruned or not) and prunes on demand; equality of architectures is
equality of `NB101Space.hash`.

Macro network (`to_spec`): stem Conv3x3-BN-ReLU (128), three stacks of three cells, MaxPool 2x2 between
stacks with the cells' output channels doubled, global average pool, dense layer. Inside a cell (the
benchmark's `build_module`): the output's channels are split among the vertices that feed it (`vertex_channels`:
remainder to the first ones), other vertices take the largest width among their successors; an edge from the
input is a Conv1x1-BN-ReLU projection to the vertex's width, an edge between interior vertices truncates the
tensor to the destination's width, inputs are summed, the output concatenates its interior inputs and adds
a projection of the input when input -> output is an edge.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

INPUT, OUTPUT = "input", "output"
CONV3X3, CONV1X1, MAXPOOL3X3 = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"
OPS: tuple[str, ...] = (CONV3X3, CONV1X1, MAXPOOL3X3)  # the benchmark's order (its hash labels use it)
MAX_VERTICES = 7
MAX_EDGES = 9
_PRIMITIVE = {CONV3X3: "conv3x3_bn_relu", CONV1X1: "conv1x1_bn_relu", MAXPOOL3X3: "max_pool3x3"}
ENCODINGS = ("adjacency", "path", "path_trunc", "path_contracted")  # no identity op: contracted = path
NUM_PATHS = sum(len(OPS) ** n for n in range(MAX_VERTICES - 1))        # lengths 0..5 interior ops: 364
DEFAULT_TRUNCATION = sum(len(OPS) ** n for n in range(4))              # lengths 0..3: 40


# ------------------------------------------------------------------------------------ pruning, hashing

def prune(matrix: np.ndarray, ops: list) -> tuple[np.ndarray, list] | None:
    """Remove vertices not on an input -> output path (NB101's `ModelSpec._prune`); None if disconnected."""
    n = matrix.shape[0]
    from_input, frontier = {0}, [0]
    while frontier:
        top = frontier.pop()
        for v in range(top + 1, n):
            if matrix[top, v] and v not in from_input:
                from_input.add(v)
                frontier.append(v)
    to_output, frontier = {n - 1}, [n - 1]
    while frontier:
        top = frontier.pop()
        for v in range(0, top):
            if matrix[v, top] and v not in to_output:
                to_output.add(v)
                frontier.append(v)
    keep = sorted(from_input & to_output)
    if len(keep) < 2 or keep[0] != 0 or keep[-1] != n - 1:
        return None
    return matrix[np.ix_(keep, keep)].copy(), [ops[v] for v in keep]


def graph_hash(matrix: np.ndarray, labels: list[int]) -> str:
    """NAS-Bench-101's `hash_module`: equal for isomorphic labelled DAGs (the benchmark's key)."""
    n = matrix.shape[0]
    in_edges = [int(x) for x in np.sum(matrix, axis=0)]
    out_edges = [int(x) for x in np.sum(matrix, axis=1)]
    hashes = [hashlib.md5(str(h).encode("utf-8")).hexdigest() for h in zip(out_edges, in_edges, labels)]
    for _ in range(n):
        new = []
        for v in range(n):
            ins = "".join(sorted(hashes[w] for w in range(n) if matrix[w, v]))
            outs = "".join(sorted(hashes[w] for w in range(n) if matrix[v, w]))
            new.append(hashlib.md5((ins + "|" + outs + "|" + hashes[v]).encode("utf-8")).hexdigest())
        hashes = new
    return hashlib.md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


# ------------------------------------------------------------------------------------------------ cells

@dataclass(frozen=True)
class NB101Cell:
    """Adjacency matrix (tuple of row tuples, upper triangular) and one op per vertex."""

    matrix: tuple[tuple[int, ...], ...]
    ops: tuple[str, ...]

    def __post_init__(self) -> None:
        n = len(self.matrix)
        if not 2 <= n <= MAX_VERTICES or any(len(r) != n for r in self.matrix):
            raise ValueError(f"nb101 cell: matrix must be square with 2..{MAX_VERTICES} vertices, got {n} rows")
        if len(self.ops) != n:
            raise ValueError(f"nb101 cell: {n} vertices but {len(self.ops)} ops")
        for i, row in enumerate(self.matrix):
            for j, v in enumerate(row):
                if v not in (0, 1) or (v and j <= i):
                    raise ValueError(f"nb101 cell: matrix must be 0/1 and strictly upper triangular "
                                     f"(entry {i},{j} = {v})")
        if self.ops[0] != INPUT or self.ops[-1] != OUTPUT:
            raise ValueError(f"nb101 cell: ops must start with {INPUT!r} and end with {OUTPUT!r}")
        bad = [op for op in self.ops[1:-1] if op not in OPS]
        if bad:
            raise ValueError(f"nb101 cell: unknown op {bad[0]!r} (known: {', '.join(OPS)})")

    @classmethod
    def from_arrays(cls, matrix, ops) -> "NB101Cell":
        m = np.asarray(matrix, dtype=np.int64)
        return cls(tuple(tuple(int(v) for v in row) for row in m), tuple(ops))

    @property
    def array(self) -> np.ndarray:
        return np.array(self.matrix, dtype=np.int64)

    def pruned(self) -> tuple[np.ndarray, list[str]] | None:
        return _pruned(self)

    def is_valid(self) -> bool:
        p = _pruned(self)
        return p is not None and p[0].shape[0] <= MAX_VERTICES and int(p[0].sum()) <= MAX_EDGES

    def to_str(self) -> str:
        """Compact text form: rows of the matrix joined by '-', then the ops by ','."""
        rows = "-".join("".join(str(v) for v in r) for r in self.matrix)
        short = {INPUT: "in", OUTPUT: "out", CONV3X3: "c3", CONV1X1: "c1", MAXPOOL3X3: "mp"}
        return rows + ":" + ",".join(short[o] for o in self.ops)

    @classmethod
    def from_str(cls, text: str) -> "NB101Cell":
        long = {"in": INPUT, "out": OUTPUT, "c3": CONV3X3, "c1": CONV1X1, "mp": MAXPOOL3X3}
        s = text.strip()
        rows, sep, ops = s.partition(":")
        if not sep:
            raise ValueError(f"nb101 string {s!r}: expected '<rows>:<ops>', e.g. 01-00:in,out")
        try:
            matrix = [[int(c) for c in r] for r in rows.split("-")]
            op_list = [long[o] for o in ops.split(",")]
            return cls.from_arrays(matrix, op_list)
        except (ValueError, KeyError) as exc:
            raise ValueError(f"nb101 string {s!r}: {exc}") from None

    def __str__(self) -> str:
        return self.to_str()


@lru_cache(maxsize=200_000)
def _pruned(cell: NB101Cell):
    return prune(cell.array, list(cell.ops))


@lru_cache(maxsize=200_000)
def _hash(cell: NB101Cell) -> str:
    p = _pruned(cell)
    if p is None:
        raise ValueError(f"nb101 cell {cell.to_str()}: input is not connected to output")
    matrix, ops = p
    labels = [-1] + [OPS.index(op) for op in ops[1:-1]] + [-2]
    return graph_hash(matrix, labels)


# ------------------------------------------------------------------------------------------- encodings

def _paths(matrix: np.ndarray, ops: list[str]) -> list[tuple[str, ...]]:
    """Op sequences of every input -> output path of a pruned cell."""
    n = matrix.shape[0]
    found: list[tuple[str, ...]] = []

    def walk(v: int, seq: tuple[str, ...]) -> None:
        for w in range(v + 1, n):
            if matrix[v, w]:
                if w == n - 1:
                    found.append(seq)
                else:
                    walk(w, seq + (ops[w],))

    walk(0, ())
    return found


def _path_index(seq: tuple[str, ...]) -> int:
    k = len(OPS)
    return sum(k ** n for n in range(len(seq))) + sum(OPS.index(op) * k ** i for i, op in enumerate(seq))


@lru_cache(maxsize=200_000)
def _encode(cell: NB101Cell, kind: str, cutoff: int) -> np.ndarray:
    p = _pruned(cell)
    if p is None:
        raise ValueError(f"nb101 cell {cell.to_str()}: input is not connected to output")
    matrix, ops = p
    if kind == "adjacency":
        # pruned cell placed in a 7-vertex frame (output kept last): 21 upper-triangle bits + 5 x 3 op one-hot
        n = matrix.shape[0]
        pos = list(range(n - 1)) + [MAX_VERTICES - 1]
        full = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.float32)
        full[np.ix_(pos, pos)] = matrix
        onehot = np.zeros((MAX_VERTICES - 2, len(OPS)), dtype=np.float32)
        for v in range(1, n - 1):
            onehot[v - 1, OPS.index(ops[v])] = 1.0
        x = np.concatenate([full[np.triu_indices(MAX_VERTICES, 1)], onehot.reshape(-1)])
    elif kind in ("path", "path_trunc", "path_contracted"):
        x = np.zeros(NUM_PATHS, dtype=np.float32)
        for seq in _paths(matrix, ops):
            x[_path_index(seq)] = 1.0
        if kind == "path_trunc":
            x = x[:cutoff]
    else:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}, got {kind!r}")
    x.setflags(write=False)
    return x


GCN_NODE_TYPES = (INPUT, OUTPUT, "global") + OPS


@lru_cache(maxsize=200_000)
def _gcn_graph(cell: NB101Cell) -> tuple[np.ndarray, np.ndarray]:
    matrix, ops = _pruned(cell)
    n = matrix.shape[0]
    pos = list(range(n - 1)) + [MAX_VERTICES - 1]
    adj = np.zeros((MAX_VERTICES, MAX_VERTICES), dtype=np.float32)
    adj[np.ix_(pos, pos)] = matrix
    feats = np.zeros((MAX_VERTICES, len(GCN_NODE_TYPES)), dtype=np.float32)
    for v, op in zip(pos, ops):
        feats[v, GCN_NODE_TYPES.index(op)] = 1.0
    adj.setflags(write=False)
    feats.setflags(write=False)
    return adj, feats


# ------------------------------------------------------------------------------------------------ space

class NB101Space:
    """Sample, mutate, neighbours, hash, encode and compile NAS-Bench-101 cells (no data held)."""

    name = "nb101"
    cell_type = NB101Cell
    encodings = ENCODINGS
    size = 423_624  # unique (non-isomorphic, valid) cells in the benchmark

    def __init__(self, truncation: int = DEFAULT_TRUNCATION) -> None:
        if not 1 <= truncation <= NUM_PATHS:
            raise ValueError(f"truncation must be in [1, {NUM_PATHS}], got {truncation}")
        self.truncation = truncation

    def parse(self, text: str) -> NB101Cell:
        return NB101Cell.from_str(text)

    def to_str(self, cell: NB101Cell) -> str:
        return cell.to_str()

    def hash(self, cell: NB101Cell) -> str:
        return _hash(cell)

    iso_hash = hash

    def is_valid(self, cell: NB101Cell) -> bool:
        return cell.is_valid()

    # random moves ----------------------------------------------------------------------------------
    def sample(self, rng: np.random.Generator) -> NB101Cell:
        """NB101's random spec: each upper-triangle edge with probability 1/2, uniform ops; until valid."""
        while True:
            matrix = np.triu(rng.integers(0, 2, size=(MAX_VERTICES, MAX_VERTICES)), 1)
            ops = [INPUT] + [OPS[int(i)] for i in rng.integers(0, len(OPS), size=MAX_VERTICES - 2)] + [OUTPUT]
            cell = NB101Cell.from_arrays(matrix, ops)
            if cell.is_valid():
                return cell

    def _moves(self, cell: NB101Cell) -> list[tuple[str, int, int]]:
        n = len(cell.matrix)
        moves = [("edge", i, j) for i in range(n) for j in range(i + 1, n)]
        moves += [("op", v, k) for v in range(1, n - 1) for k in range(len(OPS)) if OPS[k] != cell.ops[v]]
        return moves

    @staticmethod
    def _apply(cell: NB101Cell, move: tuple[str, int, int]) -> NB101Cell:
        kind, a, b = move
        if kind == "edge":
            m = [list(r) for r in cell.matrix]
            m[a][b] = 1 - m[a][b]
            return NB101Cell(tuple(tuple(r) for r in m), cell.ops)
        ops = list(cell.ops)
        ops[a] = OPS[b]
        return NB101Cell(cell.matrix, tuple(ops))

    def mutate(self, cell: NB101Cell, rng: np.random.Generator) -> NB101Cell:
        """One mutation: flip one edge or change one op, drawn uniformly among the single moves whose result
        is valid and a different architecture (each try starts again from `cell`: moves are never chained)."""
        moves = self._moves(cell)
        own = self.hash(cell)
        for k in rng.permutation(len(moves)):
            child = self._apply(cell, moves[int(k)])
            if child.is_valid() and self.hash(child) != own:
                return child
        raise ValueError(f"nb101 cell {cell.to_str()}: has no valid single-move mutation")

    def neighbours(self, cell: NB101Cell) -> list[NB101Cell]:
        """Every valid cell one edge flip or one op change away, one per distinct architecture."""
        seen, out = {self.hash(cell)}, []
        for move in self._moves(cell):
            child = self._apply(cell, move)
            if child.is_valid():
                h = self.hash(child)
                if h not in seen:
                    seen.add(h)
                    out.append(child)
        return out

    # encodings -------------------------------------------------------------------------------------
    def encode(self, cell: NB101Cell, kind: str = "path") -> np.ndarray:
        """`adjacency`: 21 edge bits + 5x3 op one-hot of the pruned cell (36); `path`: one bit per
        input->output op sequence (364); `path_trunc`: the first `truncation` bits (paths of <= 3 ops);
        `path_contracted` equals `path` here (the space has no identity op to contract)."""
        return _encode(cell, kind, self.truncation)

    def encoding_size(self, kind: str) -> int:
        return {"adjacency": 21 + 5 * len(OPS), "path": NUM_PATHS, "path_trunc": self.truncation,
                "path_contracted": NUM_PATHS}[kind]

    def gcn_graph(self, cell: NB101Cell) -> tuple[np.ndarray, np.ndarray]:
        """(adjacency (7, 7), one-hot node features (7, 6)) of the pruned cell, output at vertex 6."""
        return _gcn_graph(cell)

    gcn_num_nodes = MAX_VERTICES
    gcn_num_features = len(GCN_NODE_TYPES)

    # the network ----------------------------------------------------------------------------------
    def to_spec(self, cell: NB101Cell, *, stem_channels: int = 128, num_stacks: int = 3,
                cells_per_stack: int = 3, num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32)):
        return to_spec(cell, stem_channels=stem_channels, num_stacks=num_stacks, cells_per_stack=cells_per_stack,
                       num_classes=num_classes, input_shape=input_shape)

    def count_params(self, cell: NB101Cell, **kwargs) -> int:
        import hnag

        return hnag.count_params(self.to_spec(cell, **kwargs))


# ------------------------------------------------------------------------------------------------ the IR

def vertex_channels(in_channels: int, out_channels: int, matrix: np.ndarray) -> list[int]:
    """NB101's `compute_vertex_channels` on a pruned matrix."""
    n = matrix.shape[0]
    vc = [0] * n
    vc[0], vc[n - 1] = in_channels, out_channels
    if n == 2:
        return vc
    in_degree = np.sum(matrix[1:], axis=0)
    fan_in = int(in_degree[n - 1])
    interior, correction = out_channels // fan_in, out_channels % fan_in
    for v in range(1, n - 1):
        if matrix[v, n - 1]:
            vc[v] = interior + (1 if correction > 0 else 0)
            correction -= 1 if correction > 0 else 0
    for v in range(n - 3, 0, -1):
        if not matrix[v, n - 1]:
            for dst in range(v + 1, n - 1):
                if matrix[v, dst]:
                    vc[v] = max(vc[v], vc[dst])
    return vc


def cell_graph(cell: NB101Cell, in_channels: int, out_channels: int):
    """The pruned cell as a nested `hnag.Graph` with NB101's channel rule."""
    from hnag.spec import Graph, Node

    p = cell.pruned()
    if p is None:
        raise ValueError(f"nb101 cell {cell.to_str()}: input is not connected to output")
    matrix, ops = p
    n = matrix.shape[0]
    vc = vertex_channels(in_channels, out_channels, matrix)
    nodes: list = []
    where: dict[int, int] = {0: -1}

    def add(node) -> int:
        nodes.append(node)
        return len(nodes) - 1

    for t in range(1, n - 1):
        srcs = []
        for s in range(1, t):
            if not matrix[s, t]:
                continue
            if vc[s] > vc[t] and not (matrix[0, t] or sum(matrix[1:t, t]) > 1):
                # a single, wider interior input: NB101 still truncates it. The IR truncates only when it
                # merges two or more inputs, so pair the tensor with zeros of its own width (no parameters).
                srcs.append(add(Node("zero", (where[s],), vc[s], label=f"zeros {s}->{t} (truncation)")))
            srcs.append(where[s])
        if matrix[0, t]:
            srcs.append(add(Node("conv1x1_bn_relu", (-1,), vc[t], label=f"projection 0->{t}")))
        nodes.append(Node(_PRIMITIVE[ops[t]], tuple(srcs), vc[t], merge="truncate_sum",
                          label=f"vertex {t} {ops[t]}"))
        where[t] = len(nodes) - 1
    concat = [where[t] for t in range(1, n - 1) if matrix[t, n - 1]]
    if not concat:
        add(Node("conv1x1_bn_relu", (-1,), out_channels, label=f"projection 0->{n - 1} (output)"))
    else:
        if len(concat) == 1:
            out = concat[0]
        else:
            out = add(Node("identity", tuple(concat), out_channels, merge="concat", label="output concat"))
        if matrix[0, n - 1]:
            proj = add(Node("conv1x1_bn_relu", (-1,), out_channels, label=f"projection 0->{n - 1}"))
            add(Node("identity", (out, proj), out_channels, merge="sum", label="output"))
        elif out != len(nodes) - 1:  # the output is an earlier vertex: make it the graph's last node
            add(Node("identity", (out,), out_channels, label="output"))
    return Graph(nodes=tuple(nodes), name="nb101-cell")


def to_spec(cell: NB101Cell, *, stem_channels: int = 128, num_stacks: int = 3, cells_per_stack: int = 3,
            num_classes: int = 10, input_shape: tuple[int, int, int] = (3, 32, 32)):
    from hnag.spec import ArchitectureSpec, Graph, Node

    if stem_channels < 1 or num_stacks < 1 or cells_per_stack < 0 or num_classes < 1:
        raise ValueError(f"nb101 network: stem_channels >= 1, num_stacks >= 1, cells_per_stack >= 0, "
                         f"num_classes >= 1 (got {stem_channels}, {num_stacks}, {cells_per_stack}, {num_classes})")
    nodes = [Node("conv3x3_bn_relu", (-1,), stem_channels, label="stem")]
    c = stem_channels
    for stack in range(num_stacks):
        if stack > 0:
            nodes.append(Node("max_pool2x2", (len(nodes) - 1,), c, label=f"downsample {stack}"))
            c_out = 2 * c
        else:
            c_out = c
        for k in range(cells_per_stack):
            c_in = nodes[-1].channels
            nodes.append(Node(cell_graph(cell, c_in, c_out), (len(nodes) - 1,), c_out,
                              label=f"stack {stack} cell {k}"))
        c = c_out
    return ArchitectureSpec(
        generator="nb101", input_shape=tuple(input_shape), num_classes=num_classes,
        network=Graph(nodes=tuple(nodes), name="network"),
        meta={"cell": cell.to_str(), "stem_channels": stem_channels, "num_stacks": num_stacks,
              "cells_per_stack": cells_per_stack})
