"""Probe references: how much class information the observed part of a sequence holds.

A probe is a *reference*, not a ceiling: what one fixed reader gets out of the observed prefix is
a **lower bound** on what the prefix holds (a better reader may get more, and a trained network
sometimes does). The course uses two readers, side by side:

- :func:`linear_probe_reference`: ridge regression on one-hot labels (scikit-learn's
  ``RidgeClassifierCV``, the regularisation chosen by efficient leave-one-out cross-validation on
  the training set only) over standardised features;
- :func:`mlp_probe_reference`: a non-linear reader, scikit-learn's ``MLPClassifier`` (its size and
  penalty chosen, and its training stopped, on its own held-out 15% of the training split;
  seeded) on the same features. It estimates the headroom: the best of the two probes minus the best network says how
  much the prefix held that the network did not read (an estimate, itself a lower bound). The features of a sequence observed at ratio ``r`` are its
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

from .data.arrays import SkeletonArrays, is_memory_mapped
from .data.sequences import CHUNK_BYTES, OBS_RATIOS, NormalizedFrames, crop_observation, normalize_skeleton
from .skeleton import get_skeleton

__all__ = ["prefix_features", "linear_probe_reference", "mlp_probe_reference", "MLP_CANDIDATES", "PROBE_KINDS", "person_features", "context_dependence"]

_ALPHAS = np.logspace(-1, 4, 11)


def prefix_features(data: SkeletonArrays, indices, ratio: float, frames: int = 8,
                    normalized: np.ndarray | NormalizedFrames | None = None) -> np.ndarray:
    """Flattened features ``(n, M * frames * V * 3)`` float32 of the observed prefixes.

    Parameters
    ----------
    data : SkeletonArrays, joints ``(N, M, T, V, 3)`` in metres.
    indices : ``(n,)`` rows of ``data``.
    ratio : observation ratio in (0, 1].
    frames : frames the prefix is resampled to.
    normalized : optional precomputed ``normalize_skeleton(data.joints, data.valid_frames)``
        (same shape as ``data.joints``), or the :class:`~paperlib.data.sequences.NormalizedFrames`
        of every row of ``data``, to normalise once for many ratios. Memory-mapped (cached real)
        ``data.joints`` use the shared ``NormalizedFrames`` by default and compute the features
        :data:`~paperlib.data.sequences.CHUNK_BYTES` of them at a time (the same values: the same
        operations, sequence by sequence).

    Raises ``ValueError`` for a ratio outside (0, 1] (from ``crop_observation``).
    """
    idx = np.asarray(indices)
    if normalized is None and is_memory_mapped(data.joints):
        normalized = _store(data)
    if isinstance(normalized, NormalizedFrames):
        n, M, V = len(idx), data.joints.shape[1], data.joints.shape[3]
        out = np.empty((n, M * frames * V * 3), np.float32)
        step = max(1, CHUNK_BYTES // (out.shape[1] * 4))
        for i in range(0, n, step):
            x = normalized.resample(idx[i:i + step], ratio, frames).numpy()
            out[i:i + step] = x.reshape(len(x), -1).astype(np.float32)
        return out
    if normalized is None:
        x = normalize_skeleton(data.joints[idx], data.valid_frames[idx], get_skeleton(data.skeleton_name))
    else:
        x = normalized[idx]
    x, _ = crop_observation(x, data.valid_frames[idx], ratio, policy="resample", out_frames=frames)
    return x.reshape(len(idx), -1).astype(np.float32)


def _store(data: SkeletonArrays) -> NormalizedFrames:
    """The shared normalised valid frames of every row of memory-mapped ``data``."""
    return NormalizedFrames.shared(data.joints, data.valid_frames, skeleton=get_skeleton(data.skeleton_name))


def linear_probe_reference(data: SkeletonArrays, train_idx, test_idx, ratios=OBS_RATIOS, frames: int = 8,
                           families: np.ndarray | None = None, return_predictions: bool = False) -> dict:
    """Linear-probe accuracy at each observation ratio (a probe is trained per ratio): a reference,
    a lower bound on what the observed prefix holds.

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
    return _probe("linear", data, train_idx, test_idx, ratios, frames, families, return_predictions)


def mlp_probe_reference(data: SkeletonArrays, train_idx, test_idx, ratios=OBS_RATIOS, frames: int = 8,
                        families: np.ndarray | None = None, return_predictions: bool = False, seed: int = 0) -> dict:
    """Non-linear probe accuracy at each observation ratio: scikit-learn's ``MLPClassifier`` (ReLU,
    Adam, early stopping on a held-out 15% of the *training* rows with patience 10,
    ``random_state=seed``) on the standardised features of :func:`prefix_features`, one probe per
    ratio. Per ratio, the architecture and L2 penalty are chosen among :data:`MLP_CANDIDATES` by the
    score on that held-out part; the test rows are never seen in fitting or in the choice.

    Same parameters and return value as :func:`linear_probe_reference`, with ``"alpha"`` replaced
    by ``"choice"``: ``{r: (hidden layers, L2 penalty, iterations kept)}``. An estimate of what the
    prefix holds for a non-linear reader: still a lower bound. Raises ``ValueError`` as
    :func:`linear_probe_reference`.
    """
    return _probe("mlp", data, train_idx, test_idx, ratios, frames, families, return_predictions, seed)


#: ``(hidden layers, L2 penalty)`` tried by :func:`mlp_probe_reference`, chosen per ratio on held-out training rows.
MLP_CANDIDATES = (((128,), 1e-2), ((128,), 1.0), ((256, 128), 1.0))

#: The probe readers by name: ``"linear"`` and ``"mlp"``.
PROBE_KINDS = ("linear", "mlp")


def _fit_probe(kind: str, X, y, seed: int):
    if kind == "linear":
        return make_pipeline(StandardScaler(), RidgeClassifierCV(alphas=_ALPHAS)).fit(X, y)
    from sklearn.neural_network import MLPClassifier  # noqa: PLC0415

    fits = [make_pipeline(StandardScaler(), MLPClassifier(h, alpha=a, max_iter=300, early_stopping=True,
                                                          validation_fraction=0.15, n_iter_no_change=10,
                                                          random_state=seed)).fit(X, y) for h, a in MLP_CANDIDATES]
    return max(fits, key=lambda m: m[-1].best_validation_score_)  # first of the best on ties


def _probe(kind, data, train_idx, test_idx, ratios, frames, families, return_predictions, seed=0):
    fn = f"{kind}_probe_reference"
    train_idx, test_idx = np.asarray(train_idx), np.asarray(test_idx)
    if len(train_idx) == 0 or len(test_idx) == 0:
        raise ValueError(f"{fn}: empty train or test split")
    y_tr, y_te = data.labels[train_idx], data.labels[test_idx]
    if len(np.unique(y_tr)) < 2:
        raise ValueError(f"{fn}: the training split holds a single class")
    # memory-mapped (cached real) joints: the normalised valid frames once (a quarter of the
    # joints for NTU), the features computed from them chunk by chunk; in memory: as before
    xn = _store(data) if is_memory_mapped(data.joints) else \
        normalize_skeleton(data.joints, data.valid_frames, get_skeleton(data.skeleton_name))
    out = {"acc": {}, "alpha" if kind == "linear" else "choice": {}}
    if families is not None:
        families = np.asarray(families)
        out["family_acc"], out["within_family_acc"] = {}, {}
    if return_predictions:
        out["correct"] = {}
    for r in ratios:
        probe = _fit_probe(kind, prefix_features(data, train_idx, r, frames, xn), y_tr, seed)
        f_te = prefix_features(data, test_idx, r, frames, xn)
        # (n_test, classes seen in training): ridge scores or class probabilities
        scores = probe.decision_function(f_te) if kind == "linear" else probe.predict_proba(f_te)
        classes = probe.classes_
        pred = classes[scores.argmax(1)]
        out["acc"][r] = float((pred == y_te).mean())
        if kind == "linear":
            out["alpha"][r] = float(probe[-1].alpha_)
        else:
            out["choice"][r] = (probe[-1].hidden_layer_sizes, probe[-1].alpha, int(probe[-1].n_iter_))
        if return_predictions:
            out["correct"][r] = pred == y_te
        if families is not None:
            out["family_acc"][r] = float((families[pred] == families[y_te]).mean())
            same = families[classes][None, :] == families[y_te][:, None]  # (n_test, classes)
            within = classes[np.where(same, scores, -np.inf).argmax(1)]
            out["within_family_acc"][r] = float((within == y_te).mean())
    return out


# ----------------------------------------------------------------------------------------------
# Context dependence of the AVA-like classes (notebook 04)
# ----------------------------------------------------------------------------------------------
def person_features(clips, context: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Geometric features of every present person of AVA-like clips, for a probe.

    ``own`` (always): the person's 3D joints over all ``T`` frames relative to its pelvis at the
    keyframe, and its face direction over the frames (its own pose and head orientation).
    ``context=True`` appends, for the other people sorted by how directly the person's face points
    at them at the keyframe (up to ``P - 1`` slots, zeros where absent): a presence flag, the
    other's head position relative to the person's head, the cosine between the person's face
    direction and the direction to the other's head and the converse cosine, the other's joints
    relative to the person's pelvis over the frames; and per frame whether the person and each of
    the others hold a handheld object (``object_holders``).

    Parameters
    ----------
    clips : :class:`paperlib.data.video.MultiPersonClips` (``joints3d``, ``face_dir``,
        ``present``, ``keyframe``, ``object_holders``, ``labels``).
    context : bool

    Returns
    -------
    (X, Y, clip) : features ``(M, F)`` float32, labels ``(M, C)`` uint8 and the clip index
    ``(M,)`` of the ``M`` present people, in clip-major order.
    """
    from .data.video import J  # noqa: PLC0415 (paperlib.data.video imports torch-heavy render code)

    J3, fd, present, kf = clips.joints3d, clips.face_dir, clips.present, clips.keyframe
    N, T, P = J3.shape[:3]
    pelvis = J3[:, kf, :, J["spine_base"]]  # (N, P, 3)
    head = J3[:, kf, :, J["head"]]
    nb, pp = np.nonzero(present)
    own = [(J3[nb, :, pp] - pelvis[nb, pp][:, None, None]).reshape(len(nb), -1), fd[nb, :, pp].reshape(len(nb), -1)]
    if not context:
        return np.concatenate(own, 1).astype(np.float32), clips.labels[nb, pp], nb
    holds = np.zeros((N, T, P), np.float32)  # person p holds a handheld object in frame t
    hh = clips.object_holders[:, :, :P]
    for q in range(P):
        holds[..., q] = (hh == q).any(-1)
    rel = head[nb] - head[nb, pp][:, None]  # (M, P, 3): other heads - own head
    dist = np.linalg.norm(rel, axis=-1) + 1e-9
    cos_me = (fd[nb, kf, pp][:, None] * rel).sum(-1) / dist  # own face towards each other
    cos_them = (fd[nb, kf] * -rel).sum(-1) / dist  # each other's face towards me
    others = present[nb] & (np.arange(P)[None] != pp[:, None])
    order = np.argsort(np.where(others, -cos_me, np.inf), 1, kind="stable")[:, :P - 1]  # (M, P-1)
    take = lambda a: np.take_along_axis(a, order.reshape(order.shape + (1,) * (a.ndim - 2)), 1)  # noqa: E731
    oj = (J3[nb].transpose(0, 2, 1, 3, 4) - pelvis[nb, pp][:, None, None, None])  # (M, P, T, V, 3)
    slot = [take(others[..., None].astype(np.float32)), take(rel) * take(others[..., None]),
            take((cos_me * others)[..., None]), take((cos_them * others)[..., None]),
            take(oj.reshape(len(nb), P, -1) * others[..., None]), take(holds[nb].transpose(0, 2, 1))]
    ctx = [np.concatenate(slot, -1).reshape(len(nb), -1), holds[nb, :, pp]]
    return np.concatenate(own + ctx, 1).astype(np.float32), clips.labels[nb, pp], nb


def context_dependence(train, test, seed: int = 0, hidden: int = 128) -> dict:
    """Per-class **context dependence**: frame-AP-like average precision of a probe that sees the
    other people and the objects (:func:`person_features` with ``context=True``) minus that of a
    probe that sees the person's own pose only, on the ground-truth people of ``test``.

    The probe is scikit-learn's ``MLPClassifier`` (one hidden layer of ``hidden`` units, multi-label,
    early stopping on 10% of the training people, seeded) on standardised features; AP is
    ``sklearn.metrics.average_precision_score`` per class.

    Returns ``{"own": {class: AP}, "context": {class: AP}, "dependence": {class: AP_context -
    AP_own}, "skipped": [classes without a positive in test]}`` (AP in [0, 1]; a skipped class is
    reported, not scored). Raises ``ValueError`` if ``train`` has no people.
    """
    from sklearn.metrics import average_precision_score  # noqa: PLC0415
    from sklearn.neural_network import MLPClassifier  # noqa: PLC0415

    out = {"own": {}, "context": {}, "dependence": {}, "skipped": []}
    names = list(test.class_names)
    for key, ctx in (("own", False), ("context", True)):
        Xtr, Ytr, _ = person_features(train, ctx)
        Xte, Yte, _ = person_features(test, ctx)
        if len(Xtr) == 0:
            raise ValueError("context_dependence: no people in the training clips")
        probe = make_pipeline(StandardScaler(), MLPClassifier((hidden,), alpha=1e-3, max_iter=400, early_stopping=True,
                                                              random_state=seed))
        probe.fit(Xtr, Ytr)
        S = probe.predict_proba(Xte)
        for c, n in enumerate(names):
            if Yte[:, c].sum() == 0:
                if key == "own":
                    out["skipped"].append(n)
                continue
            out[key][n] = float(average_precision_score(Yte[:, c], S[:, c]))
    out["dependence"] = {n: out["context"][n] - out["own"][n] for n in out["own"]}
    return out
