"""Dynamic time warping (DTW) for evaluating motion prediction "with DTW".

PHD (Zhang et al., ICCV 2019) and Action-guided motion prediction (Sun et al., NeurIPS 2021,
Sec. 4) also report errors after aligning the predicted future to the ground truth by DTW,
which forgives a wrong speed. Sun et al. point out that this is unrealistic: at test time
there is no ground truth to warp to. This module is the classic DTW (Sakoe and Chiba 1978)
with the symmetric step pattern ``D[i, j] = c[i, j] + min(D[i-1, j], D[i, j-1], D[i-1, j-1])``,
batched over sequences with numpy.

- :func:`dtw` - cost and warping path of one cost matrix (the reference implementation).
- :func:`dtw_batch` - the same for a batch ``(N, n, m)``, vectorised over ``N``.
- :func:`aligned_errors` - per target frame, the mean cost of the prediction frames matched
  to it: the "with DTW" error per horizon.

No DTW package is installed in the course environment, hence this small implementation;
``tests/test_dtw.py`` checks it against a brute-force recursion.
"""
from __future__ import annotations

import numpy as np

__all__ = ["dtw", "dtw_batch", "aligned_errors"]


def _check(cost):
    c = np.asarray(cost, dtype=np.float64)
    if c.ndim < 2 or c.shape[-1] < 1 or c.shape[-2] < 1:
        raise ValueError(f"dtw: expected a cost matrix (..., n, m) with n, m >= 1, got {c.shape}")
    if not np.isfinite(c).all():
        raise ValueError("dtw: the cost matrix must be finite")
    return c


def _accumulate(c):
    """Accumulated cost ``D (N, n, m)`` of a batch ``c (N, n, m)``."""
    N, n, m = c.shape
    D = np.empty_like(c)
    D[:, 0, 0] = c[:, 0, 0]
    for j in range(1, m):
        D[:, 0, j] = D[:, 0, j - 1] + c[:, 0, j]
    for i in range(1, n):
        D[:, i, 0] = D[:, i - 1, 0] + c[:, i, 0]
        for j in range(1, m):
            D[:, i, j] = c[:, i, j] + np.minimum(np.minimum(D[:, i - 1, j], D[:, i, j - 1]), D[:, i - 1, j - 1])
    return D


def dtw_batch(cost):
    """DTW of a batch of cost matrices.

    Parameters
    ----------
    cost : array_like ``(N, n, m)`` (or ``(n, m)``), finite; ``cost[k, i, j]`` compares frame
        ``i`` of the first sequence with frame ``j`` of the second.

    Returns
    -------
    total : ``(N,)`` the accumulated cost of the optimal path.
    match : ``(N, n, m)`` bool, True on the optimal warping path (from ``(0, 0)`` to
        ``(n-1, m-1)``, monotone, steps of at most one frame in each sequence). Ties are broken
        towards the diagonal step, then the step that advances the first sequence.

    Raises ``ValueError`` on a wrong shape or a non-finite cost.
    """
    c = _check(cost)
    single = c.ndim == 2
    if single:
        c = c[None]
    N, n, m = c.shape
    D = _accumulate(c)
    match = np.zeros((N, n, m), bool)
    i = np.full(N, n - 1)
    j = np.full(N, m - 1)
    rows = np.arange(N)
    match[rows, i, j] = True
    big = np.inf
    for _ in range(n + m - 2):
        active = (i > 0) | (j > 0)
        if not active.any():
            break
        diag = np.where((i > 0) & (j > 0), D[rows, np.maximum(i - 1, 0), np.maximum(j - 1, 0)], big)
        up = np.where(i > 0, D[rows, np.maximum(i - 1, 0), j], big)
        left = np.where(j > 0, D[rows, i, np.maximum(j - 1, 0)], big)
        step = np.argmin(np.stack([diag, up, left], 1), 1)  # first minimum wins: diagonal, then up
        di = np.where(active & (step != 2), 1, 0)
        dj = np.where(active & (step != 1), 1, 0)
        i, j = i - di, j - dj
        match[rows[active], i[active], j[active]] = True
    total = D[:, n - 1, m - 1]
    return (total[0], match[0]) if single else (total, match)


def dtw(cost):
    """Reference DTW of one cost matrix ``(n, m)``: ``(total, path)`` with ``path`` a list of
    ``(i, j)`` pairs from ``(0, 0)`` to ``(n-1, m-1)``."""
    c = _check(cost)
    if c.ndim != 2:
        raise ValueError(f"dtw: expected (n, m), got {c.shape}")
    total, match = dtw_batch(c)
    path = [tuple(int(v) for v in p) for p in np.argwhere(match)]
    path.sort()
    return float(total), path


def aligned_errors(cost):
    """Error per target frame after DTW alignment.

    ``cost (N, n_pred, n_true)``: e.g. the PA-MPJPE between predicted frame ``i`` and true frame
    ``j``. Returns ``(N, n_true)``: for every true frame ``j`` the mean cost over the predicted
    frames that the optimal path matches to it (every true frame has at least one).
    """
    c = _check(cost)
    single = c.ndim == 2
    if single:
        c = c[None]
    _, match = dtw_batch(c)
    err = (c * match).sum(1) / match.sum(1)
    return err[0] if single else err
