"""Pareto tools against hand-computed fronts and hypervolumes, and against a brute-force volume."""
import itertools

import numpy as np
import pytest

from search.pareto import (crowding_distance, dominates, hypervolume, hypervolume_2d, hypervolume_improvements,
                           hypervolume_per_iteration, non_dominated_mask, non_dominated_sort, pareto_front,
                           reference_point)


def brute_force_hypervolume(Y, ref):
    """Exact volume of the union of boxes [y, ref] by cutting space at every coordinate (independent check)."""
    Y = np.asarray(Y, dtype=float)
    ref = np.asarray(ref, dtype=float)
    Y = Y[np.all(Y < ref, axis=1)]
    if len(Y) == 0:
        return 0.0
    grids = [np.unique(np.concatenate([Y[:, k], [ref[k]]])) for k in range(Y.shape[1])]
    volume = 0.0
    for cell in itertools.product(*[range(len(g) - 1) for g in grids]):
        lo = np.array([g[i] for g, i in zip(grids, cell)])
        hi = np.array([g[i + 1] for g, i in zip(grids, cell)])
        if np.any(np.all(Y <= lo, axis=1)):  # the cell lies inside some box
            volume += float(np.prod(hi - lo))
    return volume


# 2-D: A, B, C on the front (F duplicates B), D dominated by B, E dominated by D.
A, B, C, D, E, F = (1, 5), (2, 3), (4, 1), (3, 4), (5, 5), (2, 3)
Y2 = np.array([A, B, C, D, E, F], dtype=float)

# 3-D: a, b, c on the front, d dominated by a only.
Y3 = np.array([(0, 0, 1), (1, 1, 0), (0, 1, 0.5), (1, 1, 1.5)], dtype=float)


def test_dominance_is_strict_and_irreflexive():
    assert dominates((1, 2), (1, 3))
    assert not dominates((1, 3), (1, 2))
    assert not dominates((1, 2), (1, 2))  # equal points do not dominate each other
    assert not dominates((1, 3), (2, 1))  # incomparable


def test_non_dominated_sort_2d_hand_computed():
    fronts = non_dominated_sort(Y2)
    assert [sorted(f.tolist()) for f in fronts] == [[0, 1, 2, 5], [3], [4]]
    assert non_dominated_mask(Y2).tolist() == [True, True, True, False, False, True]
    front, idx = pareto_front(Y2, return_index=True)
    assert idx.tolist() == [0, 1, 2, 5]
    np.testing.assert_array_equal(front, Y2[[0, 1, 2, 5]])


def test_non_dominated_sort_3d_hand_computed():
    fronts = non_dominated_sort(Y3)
    assert [sorted(f.tolist()) for f in fronts] == [[0, 1, 2], [3]]


def test_sort_partitions_every_point_and_fronts_are_ordered():
    rng = np.random.default_rng(0)
    Y = rng.random((200, 3))
    fronts = non_dominated_sort(Y)
    assert sorted(np.concatenate(fronts).tolist()) == list(range(200))
    for k in range(1, len(fronts)):
        for j in fronts[k]:  # every point of front k is dominated by some point of front k-1
            assert any(dominates(Y[i], Y[j]) for i in fronts[k - 1])
        for i, j in itertools.combinations(fronts[k], 2):  # and no two points of one front dominate each other
            assert not dominates(Y[i], Y[j]) and not dominates(Y[j], Y[i])


def test_two_objective_sort_matches_the_definition_with_ties():
    """The O(N log N) two-objective path against front-by-front peeling by the dominance definition, on grids
    with many ties and duplicates."""
    rng = np.random.default_rng(1)
    for _ in range(200):
        Y = rng.integers(0, 5, (int(rng.integers(1, 30)), 2)).astype(float)
        remaining, expected = list(range(len(Y))), []
        while remaining:
            front = [j for j in remaining if not any(dominates(Y[i], Y[j]) for i in remaining)]
            expected.append(front)
            remaining = [j for j in remaining if j not in front]
        assert [sorted(f.tolist()) for f in non_dominated_sort(Y)] == expected
        assert np.flatnonzero(non_dominated_mask(Y)).tolist() == expected[0]


def test_hypervolume_2d_hand_computed():
    # sweep over A(1,5), B(2,3), C(4,1) with ref (6,6): 5*1 + 4*2 + 2*2 = 17
    assert hypervolume_2d(Y2, (6, 6)) == pytest.approx(17.0)
    assert hypervolume(Y2, (6, 6)) == pytest.approx(17.0)
    # dominated and duplicate points change nothing; points outside the reference box count for nothing
    assert hypervolume(Y2[[0, 1, 2]], (6, 6)) == pytest.approx(17.0)
    assert hypervolume(np.vstack([Y2, [(0.5, 7.0), (7.0, 0.5)]]), (6, 6)) == pytest.approx(17.0)
    # a reference point that cuts the front: only B survives strictly inside (3, 4): (3-2)*(4-3) = 1
    assert hypervolume(Y2, (3, 4)) == pytest.approx(1.0)
    assert hypervolume(np.zeros((0, 2)), (1, 1)) == 0.0


def test_hypervolume_3d_hand_computed():
    # boxes: a -> 2*2*1 = 4, b -> 1*1*2 = 2, c -> 2*1*1.5 = 3; pairwise overlaps 1 (ab), 2 (ac), 1.5 (bc);
    # triple overlap 1; union = 4 + 2 + 3 - 1 - 2 - 1.5 + 1 = 5.5 (d is dominated by a and adds nothing)
    assert hypervolume(Y3, (2, 2, 2)) == pytest.approx(5.5)
    assert brute_force_hypervolume(Y3, (2, 2, 2)) == pytest.approx(5.5)
    # a single point: the box volume
    assert hypervolume([(0.5, 0.25, 0.0)], (1, 1, 1)) == pytest.approx(0.5 * 0.75 * 1.0)


@pytest.mark.parametrize("m,n", [(1, 6), (2, 25), (3, 20), (4, 9)])
def test_hypervolume_matches_brute_force_on_random_sets(m, n):
    rng = np.random.default_rng(m * 100 + n)
    for _ in range(3):
        Y = rng.random((n, m))
        ref = np.full(m, 1.05)
        assert hypervolume(Y, ref) == pytest.approx(brute_force_hypervolume(Y, ref), rel=1e-10, abs=1e-12)


def test_hypervolume_rejects_bad_input():
    with pytest.raises(ValueError):
        hypervolume([(1.0, 2.0)], (1.0, 2.0, 3.0))
    with pytest.raises(ValueError):
        hypervolume([(np.nan, 1.0)], (2.0, 2.0))
    with pytest.raises(ValueError):
        hypervolume_2d([(0.0, 0.0, 0.0)], (1.0, 1.0, 1.0))


def test_hypervolume_per_iteration_is_cumulative():
    Y = np.array([(4, 1), (1, 5), (np.nan, 0.0), (2, 3), (3, 4)], dtype=float)
    its, hv = hypervolume_per_iteration(Y, [0, 0, 1, 1, 2], (6, 6))
    assert its.tolist() == [0, 1, 2]
    # iteration 0: A(1,5) and C(4,1) -> 5*1 + 2*4 = 13 ; iteration 1 adds B (the NaN row is ignored) -> 17 ;
    # iteration 2 adds the dominated D -> still 17
    np.testing.assert_allclose(hv, [13.0, 17.0, 17.0])


def test_crowding_distance_and_reference_point():
    Y = np.array([(0, 4), (1, 2), (2, 1), (4, 0)], dtype=float)
    cd = crowding_distance(Y)
    assert np.isinf(cd[0]) and np.isinf(cd[3])
    # point 1: (2-0)/4 + (4-1)/4 = 1.25 ; point 2: (4-1)/4 + (2-0)/4 = 1.25
    np.testing.assert_allclose(cd[1:3], [1.25, 1.25])
    np.testing.assert_allclose(reference_point(Y, margin=0.1), [4.4, 4.4])


def test_hypervolume_improvements_hand_computed_and_brute_force():
    front = np.array([A, B, C], dtype=float)  # (1, 5), (2, 3), (4, 1); ref (6, 6): volume 17
    C_ = np.array([(3, 2), (2, 3), (3, 4), (7, 0), (0, 0)], dtype=float)
    gain = hypervolume_improvements(C_, front, (6, 6))
    # (3, 2) adds the box [3, 4] x [2, 3]; a copy of B and the dominated (3, 4) add nothing; (7, 0) lies
    # outside the reference point; (0, 0) dominates everything: 36 - 17
    np.testing.assert_allclose(gain, [1.0, 0.0, 0.0, 0.0, 19.0])
    rng = np.random.default_rng(3)
    for m in (2, 3):
        Y, cands = rng.random((6, m)), rng.random((8, m))
        ref = np.full(m, 1.1)
        expected = [brute_force_hypervolume(np.vstack([Y, c]), ref) - brute_force_hypervolume(Y, ref)
                    for c in cands]
        np.testing.assert_allclose(hypervolume_improvements(cands, Y, ref), expected, atol=1e-12)
    # two objectives take a vectorised path: empty fronts, copies of front points, points beyond ref
    for n in (0, 1, 4, 12):
        Y = rng.random((n, 2))
        cands = np.vstack([rng.random((20, 2)) * 1.3, Y[:3]])
        expected = [brute_force_hypervolume(np.vstack([Y, c]), (1.1, 1.2)) - brute_force_hypervolume(Y, (1.1, 1.2))
                    for c in cands]
        np.testing.assert_allclose(hypervolume_improvements(cands, Y, (1.1, 1.2)), expected, atol=1e-12)
