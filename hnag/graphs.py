"""Seeded random graphs from networkx, turned into DAGs by one documented rule.

Rule (the same at every level, as in RandWire and NAGO):
- nodes are numbered 0..n-1 as networkx numbers them; every undirected edge {i, j} is oriented i -> j for i < j,
  so the result is acyclic and node order is a topological order;
- nodes without predecessors read the graph's input, nodes without successors feed the graph's output;
- hence an isolated node (possible in a sparse Erdos-Renyi graph) is a branch from input to output of its own,
  and a disconnected graph is a set of parallel branches: nothing is dropped and nothing is re-drawn.

Every graph gets its own generator seeded from (seed, level, position) through `numpy.random.SeedSequence`, so
an architecture depends on its hyperparameters and seed only, never on what was built before or in which process.
"""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import networkx as nx


def rng_for(seed: int, *path: int | str) -> np.random.Generator:
    """A generator for one place in the hierarchy, e.g. rng_for(seed, "bottom", cell, node)."""
    words = [seed] + [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in path]
    return np.random.default_rng(np.random.SeedSequence(words))


def _int_seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**31 - 1))


@dataclass(frozen=True)
class Dag:
    """predecessors[i]: sorted inputs of node i (empty: reads the graph input); sinks: nodes feeding the output."""

    predecessors: tuple[tuple[int, ...], ...]

    @property
    def size(self) -> int:
        return len(self.predecessors)

    @property
    def sinks(self) -> tuple[int, ...]:
        fed = {p for preds in self.predecessors for p in preds}
        return tuple(i for i in range(self.size) if i not in fed)

    @property
    def edges(self) -> tuple[tuple[int, int], ...]:
        return tuple((p, i) for i, preds in enumerate(self.predecessors) for p in preds)


def dag_from_undirected(graph: nx.Graph) -> Dag:
    n = graph.number_of_nodes()
    preds: list[list[int]] = [[] for _ in range(n)]
    for u, v in graph.edges():
        lo, hi = sorted((u, v))
        preds[hi].append(lo)
    return Dag(tuple(tuple(sorted(p)) for p in preds))


def watts_strogatz_dag(n: int, k: int, p: float, rng: np.random.Generator) -> Dag:
    """networkx's Watts-Strogatz graph: ring lattice joining each node to k // 2 neighbours on each side
    (networkx's convention: odd k acts as k - 1), each edge rewired with probability p."""
    import networkx as nx  # imported here: it costs start-up time to every `nago --help`

    return dag_from_undirected(nx.watts_strogatz_graph(n, k, p, seed=_int_seed(rng)))


def erdos_renyi_dag(n: int, p: float, rng: np.random.Generator) -> Dag:
    """networkx's G(n, p); n = 1 gives a single node (HNAG then has two levels)."""
    import networkx as nx

    return dag_from_undirected(nx.gnp_random_graph(n, p, seed=_int_seed(rng)))


def stage_sizes(n: int, ratios: tuple[float, ...]) -> list[int]:
    """Split n nodes into len(ratios) consecutive stages in proportion to the normalised ratios: floors, then
    the leftover nodes to the largest remainders (ties to the earlier stage); a stage left empty takes a node
    from the largest stage, so every stage has at least one (n >= number of stages is validated upstream)."""
    total = sum(ratios)
    exact = [n * r / total for r in ratios]
    sizes = [int(np.floor(e)) for e in exact]
    order = sorted(range(len(ratios)), key=lambda s: (-(exact[s] - sizes[s]), s))
    for s in order[: n - sum(sizes)]:
        sizes[s] += 1
    for s in range(len(sizes)):
        if sizes[s] == 0:
            donor = max(range(len(sizes)), key=lambda d: (sizes[d], d))
            sizes[donor] -= 1
            sizes[s] = 1
    return sizes
