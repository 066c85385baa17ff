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
  to it.
- :func:`prefix_dtw_errors` - the "with DTW" error at each horizon ``h`` as PHD and Sun et al.
  report it: DTW between the first ``h`` predicted and the first ``h`` true future frames, the
  error the mean aligned cost over those ``h`` true frames.

Why the prefix. Aligning the whole 30-frame future once and reading the error of true frame
``h`` cannot lower a constant prediction's error: all its rows of the cost matrix are equal,
so every path gives true frame ``h`` the same cost. Yet the paper's Table 1 lowers Constant's
30-frame error from 102.8 to 90.4 mm with DTW, and its with-DTW numbers of Constant
(59.7, 65.3, 72.8, 84.3, 90.4) are the running means of its without-DTW numbers (59.7, 71.4,
85.9, 101.4, 102.8): about 65, 72, 83 and 89 mm by the trapezoid rule. A DTW on the first
``h`` frames, averaged over them, gives exactly that for Constant (its optimal path is the
diagonal) and less for a prediction whose speed is wrong. PHD (Zhang et al., ICCV 2019,
Sec. 5) states the alignment constraints used here: every true frame matched to at least one
predicted frame and vice versa, monotone indices.

No DTW package is installed in the course environment, hence this small implementation;
``tests/test_dtw.py`` checks it against a brute-force recursion.
"""
from __future__ import annotations

import numpy as np

__all__ = ["dtw", "dtw_batch", "aligned_errors", "prefix_dtw_errors"]


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


def prefix_dtw_errors(cost, horizons):
    """The paper's "with DTW" error at every horizon (see the module docstring).

    ``cost (N, P, P)`` (or ``(P, P)``): ``cost[k, i, j]`` the error between predicted future
    frame ``i`` and true future frame ``j`` (e.g. PA-MPJPE in mm); ``horizons``: 1-based frame
    counts ``h <= P``. Returns ``(N, len(horizons))``: for each ``h`` the mean, over true frames
    ``j < h``, of :func:`aligned_errors` of the sub-matrix ``cost[:, :h, :h]``. For ``h = 1`` it
    is ``cost[:, 0, 0]``; it never exceeds the mean of the diagonal ``cost[:, j, j], j < h``.
    Raises ``ValueError`` for a non-square cost or a horizon outside ``1..P``.
    """
    c = _check(cost)
    single = c.ndim == 2
    if single:
        c = c[None]
    P = c.shape[-1]
    if c.shape[-2] != P:
        raise ValueError(f"prefix_dtw_errors: expected square (N, P, P) costs, got {c.shape}")
    hs = [int(h) for h in horizons]
    if any(h < 1 or h > P for h in hs):
        raise ValueError(f"prefix_dtw_errors: horizons must lie in 1..{P}, got {hs}")
    out = np.stack([aligned_errors(c[:, :h, :h]).mean(-1) for h in hs], -1)
    return out[0] if single else out
