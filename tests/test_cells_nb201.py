"""NAS-Bench-201 cell space: strings, moves, encodings, hashing, and the compiled network."""
from __future__ import annotations

import numpy as np
import pytest

import hnag
from search.spaces.nb201 import EDGES, OPS, NB201Cell, NB201Space

EXAMPLE = "|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|"


@pytest.fixture(scope="module")
def space():
    return NB201Space()


def test_string_round_trip_and_edge_order():
    cell = NB201Cell.from_str(EXAMPLE)
    assert cell.to_str() == EXAMPLE
    assert dict(zip(EDGES, cell.ops)) == {(0, 1): "nor_conv_3x3", (0, 2): "nor_conv_3x3", (1, 2): "nor_conv_3x3",
                                          (0, 3): "skip_connect", (1, 3): "nor_conv_3x3", (2, 3): "nor_conv_1x1"}
    assert NB201Cell.from_indices(cell.indices) == cell


def test_all_cells_distinct_and_round_trip(space):
    cells = space.all_cells()
    assert len(cells) == 15625 == len({c.to_str() for c in cells})
    for c in cells[::997]:
        assert NB201Cell.from_str(c.to_str()) == c


@pytest.mark.parametrize("bad, words", [
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|", "3 nodes"),
    ("|conv_7x7~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "unknown op"),
    ("|nor_conv_3x3~0|+|nor_conv_3x3~0|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "incoming edges"),
    ("|nor_conv_3x3~1|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "bad"),
    ("|nor_conv_3x3|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "op~i"),
    ("nor_conv_3x3~0+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|", "look like"),
])
def test_malformed_strings_raise_one_line(bad, words):
    with pytest.raises(ValueError) as err:
        NB201Cell.from_str(bad)
    assert words in str(err.value) and "\n" not in str(err.value)


def test_mutation_is_one_edit_and_neighbours(space):
    rng = np.random.default_rng(0)
    for _ in range(300):
        cell = space.sample(rng)
        child = space.mutate(cell, rng)
        assert sum(a != b for a, b in zip(cell.ops, child.ops)) == 1
    nbrs = space.neighbours(cell)
    assert len(nbrs) == 24 == len({space.hash(n) for n in nbrs})
    assert all(sum(a != b for a, b in zip(cell.ops, n.ops)) == 1 for n in nbrs)
    assert space.hash(cell) not in {space.hash(n) for n in nbrs}


def test_sampling_is_reproducible(space):
    a = [space.sample(np.random.default_rng(3)) for _ in range(3)]
    b = [space.sample(np.random.default_rng(3)) for _ in range(3)]
    assert a == b


def test_encodings(space):
    cell = NB201Cell.from_str(EXAMPLE)
    adj = space.encode(cell, "adjacency")
    assert adj.shape == (30,) and adj.sum() == 6
    path = space.encode(cell, "path")
    assert path.shape == (84,)
    # routes: 0->3 skip; 0->1->3 conv3,conv3; 0->2->3 conv3,conv1; 0->1->2->3 conv3,conv3,conv1: 4 distinct paths
    assert path.sum() == 4
    assert space.encode(cell, "path_trunc").shape == (20,)
    assert np.array_equal(space.encode(cell, "path_trunc"), path[:20])
    none = NB201Cell(("none",) * 6)
    assert space.encode(none, "path").sum() == 0
    # paths through a `none` edge do not exist
    dead = NB201Cell(("none", "none", "none", "skip_connect", "nor_conv_3x3", "nor_conv_3x3"))
    assert space.encode(dead, "path").sum() == 1
    with pytest.raises(ValueError):
        space.encode(cell, "nope")


def test_hash_is_the_string_and_iso_hash_ignores_dead_edges(space):
    cell = NB201Cell.from_str(EXAMPLE)
    assert space.hash(cell) == EXAMPLE
    # node 1 receives nothing (edge 0->1 is none): what leaves node 1 does not matter to iso_hash
    a = NB201Cell(("none", "nor_conv_3x3", "nor_conv_3x3", "skip_connect", "nor_conv_1x1", "nor_conv_3x3"))
    b = NB201Cell(("none", "nor_conv_3x3", "avg_pool_3x3", "skip_connect", "nor_conv_3x3", "nor_conv_3x3"))
    assert space.hash(a) != space.hash(b)
    assert space.iso_hash(a) == space.iso_hash(b)
    assert space.iso_hash(a) != space.iso_hash(cell)


def test_gcn_graph(space):
    adj, feats = space.gcn_graph(NB201Cell.from_str(EXAMPLE))
    assert adj.shape == (8, 8) and feats.shape == (8, space.gcn_num_features)
    assert np.all(feats.sum(axis=1) == 1)
    assert np.all(np.triu(adj, 1) == adj)  # forward edges only


def test_published_parameter_counts(space):
    # NAS-Bench-201 / NATS-Bench CIFAR-10: largest 1.531546 M (all conv3x3), smallest 0.073306 M (no conv)
    assert space.count_params(NB201Cell(("nor_conv_3x3",) * 6)) == 1_531_546
    for op in ("none", "skip_connect", "avg_pool_3x3"):
        assert space.count_params(NB201Cell((op,) * 6)) == 73_306
    # CIFAR-100 head: 64 * 90 + 90 more
    assert space.count_params(NB201Cell(("nor_conv_3x3",) * 6), num_classes=100) == 1_537_396


@pytest.mark.parametrize("text", [
    EXAMPLE,
    "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
    "|none~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|none~0|skip_connect~1|avg_pool_3x3~2|",
])
def test_compiled_network_runs_and_matches_count(space, text):
    import torch

    spec = space.to_spec(NB201Cell.from_str(text), channels=4, cells_per_stage=1, num_classes=3,
                         input_shape=(3, 16, 16))
    assert spec.generator == "nb201"
    model = hnag.compile_spec(spec)
    assert hnag.count_params(spec) == sum(p.numel() for p in model.parameters())
    out = model(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 3)
    out.sum().backward()
    spec2 = type(spec).from_json(spec.to_json())
    assert spec2.hash() == spec.hash()


def test_ops_constant():
    assert OPS == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
