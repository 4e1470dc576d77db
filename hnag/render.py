"""Human views of a spec: a text summary table and a PNG drawing of its levels (networkx + matplotlib)."""
from __future__ import annotations

from pathlib import Path

from .counting import count_node_params, count_params
from .plan import plan_graph
from .primitives import head_params
from .spec import ArchitectureSpec, Graph, Node


def _op_name(node: Node) -> str:
    return f"{node.op.name or 'graph'}[{len(node.op.nodes)} nodes]" if isinstance(node.op, Graph) else node.op


def summary(spec: ArchitectureSpec) -> str:
    """One row per top-level node: inputs, op, width, stride, merge, parameters (nested graphs included)."""
    rows = [("#", "label", "inputs", "op", "channels", "stride", "merge", "params")]
    network = spec.network
    for i, (node, plan) in enumerate(zip(network.nodes, plan_graph(network, spec.input_shape[0]))):
        rows.append((str(i), node.label, ",".join(map(str, node.inputs)), _op_name(node), str(node.channels),
                     str(node.stride), node.merge if len(node.inputs) > 1 else "-",
                     f"{count_node_params(node, plan):,}"))
    rows.append(("", "head", str(len(network.nodes) - 1), "avgpool+linear", str(spec.num_classes), "-", "-",
                 f"{head_params(network.nodes[-1].channels, spec.num_classes):,}"))
    cols = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, cols)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in cols))
    depth = max(d for d, _ in network.walk()) + 1
    operations = sum(1 for _ in network.primitive_nodes())
    lines.append(f"\n{spec.generator}: {count_params(spec):,} parameters, {operations} primitive operations in "
                 f"{depth} level(s), input {tuple(spec.input_shape)}, {spec.num_classes} classes, hash {spec.hash()}")
    return "\n".join(lines)


def _levels(spec: ArchitectureSpec) -> list[Graph]:
    """The network graph, then an example graph of each level below it: the first of the deepest nested graphs
    (so a cell, not a nested stem, stands for the middle level)."""
    levels, graph = [spec.network], spec.network
    while True:
        nested = [n.op for n in graph.nodes if isinstance(n.op, Graph)]
        if not nested:
            return levels
        graph = max(nested, key=lambda g: max(d for d, _ in g.walk()))
        levels.append(graph)


def _draw_graph(ax, graph: Graph, title: str) -> None:
    import networkx as nx  # imported here: it costs start-up time to every `nago --help`

    g = nx.DiGraph()
    g.add_node(-1, layer=0)
    for i, node in enumerate(graph.nodes):
        layer = 1 + max(g.nodes[j]["layer"] for j in node.inputs)
        g.add_node(i, layer=layer)
        g.add_edges_from((j, i) for j in node.inputs)
    pos = nx.multipartite_layout(g, subset_key="layer")
    labels = {-1: "in", **{i: (_op_name(n) if isinstance(n.op, str) else n.label or str(i)).replace("_", "\n")
                           for i, n in enumerate(graph.nodes)}}
    colours = ["#dddddd"] + ["#8fb8de" if isinstance(n.op, Graph) else "#f4c27a" for n in graph.nodes]
    nx.draw_networkx(g, pos, ax=ax, labels=labels, node_color=colours, node_size=900, font_size=6,
                     arrowsize=8, edge_color="#555555")
    ax.set_title(title, fontsize=9)
    ax.axis("off")


def draw(spec: ArchitectureSpec, path: str | Path) -> Path:
    """PNG with one panel per level: the network (top level), then an example graph of each lower level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = _levels(spec)
    fig, axes = plt.subplots(1, len(levels), figsize=(6 * len(levels), 5), squeeze=False)
    names = ["network (top level)", "first cell (middle level)", "first node's graph (bottom level)"]
    for d, (ax, graph) in enumerate(zip(axes[0], levels)):
        _draw_graph(ax, graph, f"{names[d] if d < len(names) else f'level {d}'}: {graph.name}")
    fig.suptitle(f"{spec.generator} {spec.hash()}: {count_params(spec):,} parameters", fontsize=11)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
