"""Tests of paperlib.metrics_dtw against a brute-force DTW recursion."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from paperlib.metrics_dtw import aligned_errors, dtw, dtw_batch, prefix_dtw_errors


def _brute(c):
    """Minimum path cost by plain recursion over all monotone paths (small matrices only)."""
    n, m = c.shape

    @functools.lru_cache(maxsize=None)
    def best(i, j):
        if i == 0 and j == 0:
            return c[0, 0]
        cands = []
        if i > 0:
            cands.append(best(i - 1, j))
        if j > 0:
            cands.append(best(i, j - 1))
        if i > 0 and j > 0:
            cands.append(best(i - 1, j - 1))
        return c[i, j] + min(cands)

    return best(n - 1, m - 1)


def _path_cost(c, path):
    return sum(c[i, j] for i, j in path)


@pytest.mark.parametrize("shape", [(1, 1), (1, 5), (4, 1), (5, 5), (6, 9), (9, 4)])
def test_matches_bruteforce_and_path_is_valid(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(5):
        c = rng.random(shape)
        total, path = dtw(c)
        assert np.isclose(total, _brute(c))
        assert path[0] == (0, 0) and path[-1] == (shape[0] - 1, shape[1] - 1)
        for (i0, j0), (i1, j1) in zip(path[:-1], path[1:]):
            assert (i1 - i0, j1 - j0) in {(1, 0), (0, 1), (1, 1)}
        assert np.isclose(_path_cost(c, path), total)


def test_batch_equals_single():
    rng = np.random.default_rng(0)
    c = rng.random((7, 8, 6))
    tot, match = dtw_batch(c)
    for k in range(7):
        t1, m1 = dtw_batch(c[k])
        assert np.isclose(tot[k], t1)
        assert np.array_equal(match[k], m1)


def test_identical_sequences_align_on_the_diagonal():
    x = np.sin(np.linspace(0, 3, 10))[:, None]
    cost = np.abs(x - x.T)
    total, path = dtw(cost)
    assert total == 0.0
    assert path == [(i, i) for i in range(10)]


def test_time_stretched_sequence_has_zero_cost():
    # the prediction plays the same motion at half speed: DTW forgives it, frame-wise does not
    true = np.repeat(np.arange(6.0), 2)  # 12 frames, each value held twice
    pred = np.arange(6.0)  # 6 frames
    cost = np.abs(pred[:, None] - true[None, :])
    total, _ = dtw(cost)
    assert total == 0.0
    assert np.allclose(aligned_errors(cost), 0.0)


def test_total_never_exceeds_the_diagonal_path():
    # the frame-by-frame comparison is one admissible path, so DTW can only be cheaper
    rng = np.random.default_rng(1)
    walk = np.cumsum(rng.normal(size=(20, 30)), 1)
    lagged = np.roll(walk + rng.normal(0, 0.5, walk.shape), 2, axis=1)  # lags by 2 frames
    cost = np.abs(lagged[:, :, None] - walk[:, None, :])
    total, _ = dtw_batch(cost)
    diagonal = np.abs(lagged - walk).sum(1)
    assert np.all(total <= diagonal + 1e-9)
    assert total.mean() < 0.8 * diagonal.mean()
    assert aligned_errors(cost).shape == (20, 30)


def test_errors_raise():
    with pytest.raises(ValueError):
        dtw(np.zeros(3))
    with pytest.raises(ValueError):
        dtw_batch(np.full((2, 2), np.nan))


def test_prefix_protocol_on_a_hand_computed_case():
    # true future 0, 1, 2, 3; the prediction starts one frame late: 0, 0, 1, 2.
    # Frame by frame the errors are 0, 1, 1, 1. By hand, the DTW of the first h frames:
    #   h=1: [0]                                  -> 0
    #   h=2: pred (0, 0) vs true (0, 1): true 0 <- pred 0 (0), true 1 <- pred 1 (1) -> 1/2
    #   h=3: path (0,0) (1,0) (2,1) (2,2): true 0 <- 0,0; true 1 <- 0; true 2 <- 1  -> 1/3
    #   h=4: path (0,0) (1,0) (2,1) (3,2) (3,3): true 3 <- 1, the others 0           -> 1/4
    true = np.array([0.0, 1.0, 2.0, 3.0])
    pred = np.array([0.0, 0.0, 1.0, 2.0])
    cost = np.abs(pred[:, None] - true[None, :])
    got = prefix_dtw_errors(cost, [1, 2, 3, 4])
    assert np.allclose(got, [0.0, 0.5, 1 / 3, 0.25])
    _, path = dtw(cost)
    assert path == [(0, 0), (1, 0), (2, 1), (3, 2), (3, 3)]


def test_prefix_protocol_gives_a_constant_prediction_its_running_mean():
    # equal rows (a constant prediction): the optimal path is the diagonal, so the error at h
    # is the mean of the first h per-frame errors (what the paper's Table 1 shows for Constant)
    per_frame = np.array([[1.0, 3.0, 4.0, 8.0, 9.0]])
    cost = np.repeat(per_frame[:, None, :], 5, 1)
    got = prefix_dtw_errors(cost, [1, 2, 5])
    assert np.allclose(got, [[1.0, 2.0, 5.0]])
    with pytest.raises(ValueError):
        prefix_dtw_errors(cost, [6])
    with pytest.raises(ValueError):
        prefix_dtw_errors(np.zeros((1, 3, 4)), [1])
