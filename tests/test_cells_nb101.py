"""NAS-Bench-101 cell space: pruning, validity, graph hash, moves, encodings, and the compiled network."""
from __future__ import annotations

import numpy as np
import pytest

import hnag
from search.spaces.nb101 import (CONV1X1, CONV3X3, INPUT, MAXPOOL3X3, OUTPUT, NB101Cell, NB101Space, graph_hash,
                                vertex_channels)

# NAS-Bench-101's README example (an Inception-like cell): 2,694,282 trainable parameters
INCEPTION = NB101Cell.from_arrays(
    [[0, 1, 1, 1, 0, 1, 0],
     [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 1, 0, 0],
     [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 0, 1],
     [0, 0, 0, 0, 0, 0, 0]],
    [INPUT, CONV1X1, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT])


@pytest.fixture(scope="module")
def space():
    return NB101Space()


def _permute(cell: NB101Cell, perm: list[int]) -> NB101Cell:
    """Relabel interior vertices (perm of 1..n-2 applied, keeping the matrix upper triangular)."""
    m = cell.array
    n = len(m)
    order = [0] + perm + [n - 1]
    pm = m[np.ix_(order, order)]
    ops = [cell.ops[i] for i in order]
    return NB101Cell.from_arrays(pm, ops)


def test_isomorphic_cells_hash_equal(space):
    m = INCEPTION.array
    # swap the two parallel branches 1 (conv1x1) and 2 (conv3x3): the same cell, relabelled
    swapped = _permute(INCEPTION, [2, 1, 3, 4, 5])
    assert swapped.is_valid() and swapped.ops != INCEPTION.ops and np.array_equal(swapped.array, m)
    assert space.hash(swapped) == space.hash(INCEPTION)
    # a different op is a different architecture
    other = NB101Cell(INCEPTION.matrix, (INPUT, CONV3X3, CONV3X3, CONV3X3, CONV3X3, MAXPOOL3X3, OUTPUT))
    assert space.hash(other) != space.hash(INCEPTION)


def test_hash_of_random_relabellings(space):
    rng = np.random.default_rng(1)
    for _ in range(30):
        cell = space.sample(rng)
        n = len(cell.matrix)
        # only relabellings that keep the matrix upper triangular are cells: try random ones
        for _ in range(20):
            perm = list(rng.permutation(np.arange(1, n - 1)))
            try:
                other = _permute(cell, [int(p) for p in perm])
            except ValueError:
                continue
            assert space.hash(other) == space.hash(cell)
            assert np.array_equal(space.encode(other, "path"), space.encode(cell, "path"))


def test_pruning_and_validity(space):
    # vertex 2 is not on any input -> output path (no way out): pruned away, same hash as without it
    m = np.zeros((7, 7), dtype=int)
    m[0, 1] = m[1, 6] = m[0, 2] = 1
    ops = [INPUT, CONV3X3, CONV1X1, MAXPOOL3X3, MAXPOOL3X3, MAXPOOL3X3, OUTPUT]
    cell = NB101Cell.from_arrays(m, ops)
    matrix, pops = cell.pruned()
    assert matrix.shape == (3, 3) and pops == [INPUT, CONV3X3, OUTPUT]
    small = NB101Cell.from_arrays([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [INPUT, CONV3X3, OUTPUT])
    assert space.hash(cell) == space.hash(small)
    # disconnected: invalid
    m2 = np.zeros((7, 7), dtype=int)
    m2[0, 1] = 1
    assert not NB101Cell.from_arrays(m2, ops).is_valid()
    # more than 9 edges after pruning: invalid
    full = np.triu(np.ones((7, 7), dtype=int), 1)
    assert not NB101Cell.from_arrays(full, ops).is_valid()
    with pytest.raises(ValueError):
        NB101Cell.from_arrays(np.tril(np.ones((3, 3), dtype=int)), [INPUT, CONV3X3, OUTPUT])
    with pytest.raises(ValueError):
        NB101Cell.from_arrays(m, [INPUT, "conv5x5", CONV1X1, MAXPOOL3X3, MAXPOOL3X3, MAXPOOL3X3, OUTPUT])


def test_graph_hash_matches_reference_algorithm():
    # the input -> output cell: hash of two vertices, labels -1 and -2 (the benchmark's labelling)
    h = graph_hash(np.array([[0, 1], [0, 0]]), [-1, -2])
    assert len(h) == 32 and h == graph_hash(np.array([[0, 1], [0, 0]]), [-1, -2])


def test_sample_mutate_neighbours_always_valid(space):
    rng = np.random.default_rng(0)
    for _ in range(150):
        cell = space.sample(rng)
        assert cell.is_valid()
        child = space.mutate(cell, rng)
        assert child.is_valid() and space.hash(child) != space.hash(cell)
        # exactly one move away in the raw representation
        diff = int(np.sum(cell.array != child.array)) + sum(a != b for a, b in zip(cell.ops, child.ops))
        assert diff == 1
    nbrs = space.neighbours(cell)
    assert nbrs and all(n.is_valid() for n in nbrs)
    assert len({space.hash(n) for n in nbrs}) == len(nbrs)
    assert space.hash(cell) not in {space.hash(n) for n in nbrs}


def test_encodings(space):
    a = space.encode(INCEPTION, "adjacency")
    assert a.shape == (36,) and a[:21].sum() == INCEPTION.array.sum()
    p = space.encode(INCEPTION, "path")
    # paths: in->c1->out, in->c3->out, in->c3->c3->out, in->mp->out
    assert p.shape == (364,) and p.sum() == 4
    assert space.encode(INCEPTION, "path_trunc").shape == (40,)
    adj, feats = space.gcn_graph(INCEPTION)
    assert adj.shape == (7, 7) and feats.shape == (7, 6)


def test_vertex_channels_rule():
    # the output's 128 channels split among its 4 interior inputs; vertex 3 takes its successor's width
    m = INCEPTION.array
    assert vertex_channels(128, 128, m) == [128, 32, 32, 32, 32, 32, 128]
    # remainder goes to the first vertices
    assert vertex_channels(64, 10, np.array([[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1],
                                                 [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]])) == [64, 4, 3, 3, 10]


def test_published_parameter_counts(space):
    assert space.count_params(INCEPTION) == 2_694_282
    # the largest network of the benchmark, 49,979,274 parameters: five conv3x3 in a chain, input fed to four
    m = np.zeros((7, 7), dtype=int)
    for i in range(6):
        m[i, i + 1] = 1
    m[0, 2] = m[0, 3] = m[0, 4] = 1
    biggest = NB101Cell.from_arrays(m, [INPUT] + [CONV3X3] * 5 + [OUTPUT])
    assert biggest.is_valid()
    assert space.count_params(biggest) == 49_979_274


def _needs_truncation() -> NB101Cell:
    # vertex 1 (width 64, feeds the output and vertex 2) -> vertex 2 (width 64) -> ...; vertex 3 reads only
    # vertex 1 through a single wider edge when the output has three inputs
    m = np.zeros((6, 6), dtype=int)
    m[0, 1] = m[1, 2] = m[1, 5] = m[2, 5] = m[1, 3] = m[3, 4] = m[4, 5] = 1
    return NB101Cell.from_arrays(m, [INPUT, CONV3X3, MAXPOOL3X3, CONV1X1, CONV3X3, OUTPUT])


@pytest.mark.parametrize("cell", [
    INCEPTION,
    NB101Cell.from_arrays([[0, 1], [0, 0]], [INPUT, OUTPUT]),
    NB101Cell.from_arrays([[0, 1, 1], [0, 0, 1], [0, 0, 0]], [INPUT, MAXPOOL3X3, OUTPUT]),
    _needs_truncation(),
])
def test_compiled_network_runs_and_matches_count(space, cell):
    import torch

    assert cell.is_valid()
    spec = space.to_spec(cell, stem_channels=10, cells_per_stack=1, num_classes=4, input_shape=(3, 16, 16))
    model = hnag.compile_spec(spec)
    assert hnag.count_params(spec) == sum(p.numel() for p in model.parameters())
    out = model(torch.randn(2, 3, 16, 16))
    assert out.shape == (2, 4)
    out.sum().backward()


def test_string_form_round_trip(space):
    assert NB101Cell.from_str(INCEPTION.to_str()) == INCEPTION
    with pytest.raises(ValueError, match="nb101 string"):
        NB101Cell.from_str("0110-0001:in,c3,out")
