"""The architecture IR: plain, serialisable data between the generators and the compiler.

A network is a `Graph` of `Node`s in topological order; a node's op is either a primitive op name
(see `hnag.ops.PRIMITIVES`) or a nested `Graph`, which is how HNAG's three levels nest. Input index -1 is the
graph's input; the last node is the graph's output. Nothing here imports torch, so saving, hashing, drawing,
diffing and counting parameters never builds a module.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Iterator, Union

MERGES = ("sum", "mean", "weighted_sum", "attention", "concat", "truncate_sum")


@dataclass(frozen=True)
class Node:
    """One node: `op` reads the merge of `inputs` and outputs `channels` channels.

    Inputs of different resolutions meet at the smallest (each average-pooled to it). `stride` divides the
    resolution (rounding up): a primitive op strides itself (1 or 2); for a nested graph (a power of two) every
    input edge is average-pooled to the reduced resolution before the merge, which is how HNAG pools between
    stages."""

    op: Union[str, "Graph"]
    inputs: tuple[int, ...]
    channels: int
    stride: int = 1
    merge: str = "sum"
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        op = self.op.to_dict() if isinstance(self.op, Graph) else self.op
        return {"op": op, "inputs": list(self.inputs), "channels": self.channels, "stride": self.stride,
                "merge": self.merge, "label": self.label}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Node":
        op = Graph.from_dict(d["op"]) if isinstance(d["op"], dict) else d["op"]
        return cls(op=op, inputs=tuple(d["inputs"]), channels=int(d["channels"]), stride=int(d.get("stride", 1)),
                   merge=d.get("merge", "sum"), label=d.get("label", ""))


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    name: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "nodes": [n.to_dict() for n in self.nodes]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Graph":
        return cls(nodes=tuple(Node.from_dict(n) for n in d["nodes"]), name=d.get("name", ""))

    def walk(self, depth: int = 0) -> Iterator[tuple[int, "Graph"]]:
        """Yield (depth, graph) for this graph and every nested graph, depth first."""
        yield depth, self
        for node in self.nodes:
            if isinstance(node.op, Graph):
                yield from node.op.walk(depth + 1)

    def primitive_nodes(self) -> Iterator[Node]:
        for _, graph in self.walk():
            yield from (n for n in graph.nodes if isinstance(n.op, str))


@dataclass
class ArchitectureSpec:
    generator: str
    input_shape: tuple[int, int, int]
    num_classes: int
    network: Graph
    meta: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"format": "nago-spec/1", "generator": self.generator, "input_shape": list(self.input_shape),
                "num_classes": self.num_classes, "network": self.network.to_dict(), "meta": self.meta}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ArchitectureSpec":
        if d.get("format") != "nago-spec/1":
            raise ValueError(f"spec format: expected 'nago-spec/1', got {d.get('format')!r}")
        return cls(generator=d["generator"], input_shape=tuple(d["input_shape"]), num_classes=int(d["num_classes"]),
                   network=Graph.from_dict(d["network"]), meta=d.get("meta", {}))

    def to_json(self, indent: int | None = None) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ArchitectureSpec":
        return cls.from_dict(json.loads(text))

    def hash(self) -> str:
        """Stable hash of the architecture itself (meta excluded): equal hashes mean equal networks."""
        payload = {k: v for k, v in self.to_dict().items() if k != "meta"}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
