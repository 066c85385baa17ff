"""Probe ceilings: how much class information the observed part of a sequence holds.

A network that is far below a simple probe at some observation ratio is under-trained or badly
fed there, not facing a hard problem; a network near the probe is reading what the data hold.
Every early-prediction table of the course puts this probe next to the networks.

The probe is linear: ridge regression on one-hot labels (scikit-learn's ``RidgeClassifierCV``,
the regularisation chosen by efficient leave-one-out cross-validation on the training set only)
over standardised features. The features of a sequence observed at ratio ``r`` are its
normalised joints (:func:`~paperlib.data.sequences.normalize_skeleton`) in frames
``[0, ceil(r T_valid))``, linearly resampled to ``frames`` frames
(:func:`~paperlib.data.sequences.crop_observation` with ``policy="resample"``: nothing after
the observed prefix is used), every body, flattened.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import RidgeClassifierCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from .data.arrays import SkeletonArrays
from .data.sequences import OBS_RATIOS, crop_observation, normalize_skeleton
from .skeleton import get_skeleton

__all__ = ["prefix_features", "probe_ceiling"]

_ALPHAS = np.logspace(-1, 4, 11)


def prefix_features(data: SkeletonArrays, indices, ratio: float, frames: int = 8,
                    normalized: np.ndarray | None = None) -> np.ndarray:
    """Flattened features ``(n, M * frames * V * 3)`` float32 of the observed prefixes.

    Parameters
    ----------
    data : SkeletonArrays, joints ``(N, M, T, V, 3)`` in metres.
    indices : ``(n,)`` rows of ``data``.
    ratio : observation ratio in (0, 1].
    frames : frames the prefix is resampled to.
    normalized : optional precomputed ``normalize_skeleton(data.joints, data.valid_frames)``
        (same shape as ``data.joints``), to normalise once for many ratios.

    Raises ``ValueError`` for a ratio outside (0, 1] (from ``crop_observation``).
    """
    idx = np.asarray(indices)
    if normalized is None:
        x = normalize_skeleton(data.joints[idx], data.valid_frames[idx], get_skeleton(data.skeleton_name))
    else:
        x = normalized[idx]
    x, _ = crop_observation(x, data.valid_frames[idx], ratio, policy="resample", out_frames=frames)
    return x.reshape(len(idx), -1).astype(np.float32)


def probe_ceiling(data: SkeletonArrays, train_idx, test_idx, ratios=OBS_RATIOS, frames: int = 8,
                  families: np.ndarray | None = None, return_predictions: bool = False) -> dict:
    """Linear-probe accuracy at each observation ratio (a probe is trained per ratio).

    Parameters
    ----------
    data : SkeletonArrays with ``labels (N,)``.
    train_idx, test_idx : row indices of the two splits.
    ratios : observation ratios in (0, 1].
    frames : frames each observed prefix is resampled to.
    families : optional ``(num_classes,)`` family index of every class; adds the family
        accuracy and the within-family accuracy (the argmax over the true family's classes
        only, chance ``1 / family size``).
    return_predictions : also return the per-item correctness ``{ratio: (n_test,) bool}``.

    Returns
    -------
    dict
        ``{"acc": {r: float}, "family_acc": {r: float}, "within_family_acc": {r: float},
        "alpha": {r: float}}`` (the family entries only with ``families``), plus
        ``"correct": {r: ndarray}`` with ``return_predictions``.

    Raises
    ------
    ValueError
        If a split is empty or the training split holds a single class.
    """
    train_idx, test_idx = np.asarray(train_idx), np.asarray(test_idx)
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise ValueError("probe_ceiling: empty train or test split")
    y_tr, y_te = data.labels[train_idx], data.labels[test_idx]
    if len(np.unique(y_tr)) < 2:
        raise ValueError("probe_ceiling: the training split holds a single class")
    xn = normalize_skeleton(data.joints, data.valid_frames, get_skeleton(data.skeleton_name))
    out = {"acc": {}, "alpha": {}}
    if families is not None:
        families = np.asarray(families)
        out["family_acc"], out["within_family_acc"] = {}, {}
    if return_predictions:
        out["correct"] = {}
    for r in ratios:
        probe = make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=_ALPHAS))
        probe.fit(prefix_features(data, train_idx, r, frames, xn), y_tr)
        f_te = prefix_features(data, test_idx, r, frames, xn)
        scores = probe.decision_function(f_te)  # (n_test, classes seen in training)
        classes = probe.classes_
        pred = classes[scores.argmax(1)]
        out["acc"][r] = float((pred == y_te).mean())
        out["alpha"][r] = float(probe[-1].alpha_)
        if return_predictions:
            out["correct"][r] = pred == y_te
        if families is not None:
            out["family_acc"][r] = float((families[pred] == families[y_te]).mean())
            same = families[classes][None, :] == families[y_te][:, None]  # (n_test, classes)
            within = classes[np.where(same, scores, -np.inf).argmax(1)]
            out["within_family_acc"][r] = float((within == y_te).mean())
    return out
