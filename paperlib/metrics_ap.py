"""Frame-AP: PASCAL VOC average precision per class and its mean, as in the AVA evaluation.

Protocol (AVA v2.x, Gu et al., CVPR 2018, Sec. 5; the official ``ava_evaluation`` code wraps
the TensorFlow Object Detection API's ``PascalDetectionEvaluator``):

1. Ground truth and detections are grouped by keyframe (``(video_id, timestamp)``, or any
   hashable key). A ground-truth row is one (box, action) pair; a detection row is
   (box, action, score).
2. For every class separately and every keyframe, detections of that class are visited by
   decreasing score; each is matched to the ground-truth box of that class with the highest
   IoU. It is a true positive if that IoU is ``>= iou_threshold`` (0.5) and that ground-truth
   box is not already matched; otherwise a false positive (it does not fall back to the
   second-best box).
3. All detections of the class over all keyframes are sorted by score (stable for ties);
   ``precision = cumTP / (cumTP + cumFP)``, ``recall = cumTP / num_gt``.
4. AP is the area under the precision envelope, *all-point* interpolation (VOC 2010+; the
   TF OD API's ``compute_average_precision``): pad ``recall`` with 0 and 1 and ``precision``
   with 0 and 0, make precision non-increasing from the right, and sum
   ``(r_i - r_{i-1}) * p_i`` over the points where recall changes.
5. A class with ground truth but no detections has AP 0; a class without ground truth has AP
   NaN and is left out of the mean (``mAP = nanmean``).
6. The official ``get_ava_performance.py`` reads the detection CSV with ``capacity=50``: per
   keyframe it keeps only the 50 highest-scoring (box, action, score) rows, over all classes
   together (a min-heap: at the cap a row replaces the lowest only with a strictly higher score,
   so among equal scores the earlier rows stay). :func:`top_k_per_keyframe` does the same;
   ``frame_ap`` / ``evaluate_ava`` apply it with ``max_per_keyframe=50`` (default ``None``:
   every row, the course's notebooks as stored).

Gating: SlowFast and mmaction2 report an action score that is the classifier's probability
times the person detector's score; ``evaluate_ava(..., person_scores=...)`` multiplies them in
before the cap and the ranking (:func:`gate_scores`).

:func:`localisation_ap` is the action-agnostic version: each distinct box is one person, and
the question is only whether the people are found.

IoU uses ``(x2 - x1) * (y2 - y1)`` areas (no ``+ 1``), in any consistent units (normalised
AVA coordinates or pixels: IoU does not change under per-axis scaling).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["voc_average_precision", "precision_recall", "match_detections", "frame_ap", "localisation_ap",
           "FrameAPResult", "evaluate_ava", "iou_matrix", "top_k_per_keyframe", "gate_scores", "AVA_CAPACITY"]

AVA_CAPACITY = 50  # detection rows kept per keyframe by the official AVA evaluator


def iou_matrix(a, b) -> np.ndarray:
    """IoU of every pair of boxes ``(N, 4), (M, 4) -> (N, M)`` (numpy, ``(x1, y1, x2, y2)``)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(-1)
    area = lambda x: np.clip(x[:, 2] - x[:, 0], 0, None) * np.clip(x[:, 3] - x[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-300), 0.0)


def voc_average_precision(precision, recall) -> float:
    """All-point interpolated AP from precision/recall arrays ordered by decreasing score.

    Returns NaN if ``precision`` is None, 0.0 if it is empty. Raises ``ValueError`` if the two
    lengths differ, a value is outside ``[0, 1]`` or recall decreases.
    """
    if precision is None or recall is None:
        return float("nan")
    p = np.asarray(precision, np.float64)
    r = np.asarray(recall, np.float64)
    if p.shape != r.shape or p.ndim != 1:
        raise ValueError(f"voc_average_precision: precision {p.shape} and recall {r.shape} must be equal 1-D")
    if p.size == 0:
        return 0.0
    if (p < 0).any() or (p > 1).any() or (r < 0).any() or (r > 1).any():
        raise ValueError("voc_average_precision: precision and recall must lie in [0, 1]")
    if (np.diff(r) < 0).any():
        raise ValueError("voc_average_precision: recall must be non-decreasing")
    r = np.concatenate([[0.0], r, [1.0]])
    p = np.concatenate([[0.0], p, [0.0]])
    p = np.maximum.accumulate(p[::-1])[::-1]  # precision envelope (non-increasing)
    idx = np.flatnonzero(r[1:] != r[:-1]) + 1
    return float(np.sum((r[idx] - r[idx - 1]) * p[idx]))


def precision_recall(scores, is_tp, num_gt: int):
    """Cumulative precision and recall after sorting by decreasing score (stable for ties).

    ``scores (D,)``, ``is_tp (D,)`` bool, ``num_gt`` > 0. Returns ``(precision (D,), recall (D,))``.
    Raises ``ValueError`` if ``num_gt <= 0`` or the lengths differ.
    """
    s = np.asarray(scores, np.float64).reshape(-1)
    tp = np.asarray(is_tp, bool).reshape(-1)
    if s.shape != tp.shape:
        raise ValueError(f"precision_recall: {s.shape[0]} scores but {tp.shape[0]} labels")
    if num_gt <= 0:
        raise ValueError(f"precision_recall: num_gt must be > 0, got {num_gt}")
    order = np.argsort(-s, kind="stable")
    ctp = np.cumsum(tp[order])
    cfp = np.cumsum(~tp[order])
    return ctp / np.maximum(ctp + cfp, 1), ctp / float(num_gt)


def match_detections(det_boxes, det_scores, gt_boxes, iou_threshold: float = 0.5) -> np.ndarray:
    """True-positive flags of one keyframe's detections of one class (see the module docstring).

    ``det_boxes (D, 4)``, ``det_scores (D,)``, ``gt_boxes (G, 4)``. Returns ``(D,)`` bool in the
    input order.
    """
    d = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    g = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    tp = np.zeros(len(d), bool)
    if len(d) == 0 or len(g) == 0:
        return tp
    iou = iou_matrix(d, g)
    best = iou.argmax(1)
    taken = np.zeros(len(g), bool)
    for i in np.argsort(-np.asarray(det_scores, np.float64), kind="stable"):
        j = best[i]
        if iou[i, j] >= iou_threshold and not taken[j]:
            tp[i] = taken[j] = True
    return tp


@dataclass
class FrameAPResult:
    """Output of :func:`frame_ap`.

    Attributes
    ----------
    ap : dict ``{class_id: AP}`` (NaN for classes without ground truth).
    num_gt : dict ``{class_id: number of ground-truth rows}``.
    mean_ap : float, the mean over classes with ground truth (NaN if none).
    """

    ap: dict
    num_gt: dict
    mean_ap: float


def _group(keys):
    """Integer group ids for a sequence of hashable keys."""
    ids = {}
    return np.array([ids.setdefault(k, len(ids)) for k in keys], np.int64), ids


def top_k_per_keyframe(keys, scores, k: int = AVA_CAPACITY) -> np.ndarray:
    """Rows kept when at most ``k`` detections per keyframe are allowed (the official AVA
    evaluator's ``capacity``): per key, the ``k`` highest scores; among equal scores at the cap,
    the earlier rows. ``keys``: sequence of hashable, length ``D``; ``scores (D,)``.
    Returns a ``(D,)`` bool mask in the input order. Raises ``ValueError`` for ``k < 1`` or
    mismatched lengths."""
    s = np.asarray(scores, np.float64).reshape(-1)
    if len(keys) != len(s):
        raise ValueError(f"top_k_per_keyframe: {len(keys)} keys for {len(s)} scores")
    if int(k) < 1:
        raise ValueError(f"top_k_per_keyframe: k must be >= 1, got {k}")
    gid, _ = _group(list(keys))
    keep = np.zeros(len(s), bool)
    # one sort for all keyframes: by key, then score descending, then input order (lexsort: last key first)
    order = np.lexsort((np.arange(len(s)), -s, gid))
    g = gid[order]
    starts = np.r_[0, np.flatnonzero(np.diff(g)) + 1]
    rank = np.arange(len(s)) - np.repeat(starts, np.diff(np.r_[starts, len(s)]))
    keep[order[rank < int(k)]] = True
    return keep


def gate_scores(class_scores, person_scores) -> np.ndarray:
    """Action scores gated by the person detector: ``class_scores (D,) * person_scores (D,)``
    (both in [0, 1]), as SlowFast and mmaction2 rank AVA detections. Raises ``ValueError`` on a
    length mismatch or a score outside [0, 1]."""
    c = np.asarray(class_scores, np.float64).reshape(-1)
    p = np.asarray(person_scores, np.float64).reshape(-1)
    if len(c) != len(p):
        raise ValueError(f"gate_scores: {len(c)} class scores for {len(p)} person scores")
    for name, a in (("class_scores", c), ("person_scores", p)):
        if len(a) and (np.nanmin(a) < 0 or np.nanmax(a) > 1):
            raise ValueError(f"gate_scores: {name} must lie in [0, 1], got [{np.nanmin(a)}, {np.nanmax(a)}]")
    return c * p


def frame_ap(gt_keys, gt_boxes, gt_labels, det_keys, det_boxes, det_labels, det_scores, class_ids=None,
             iou_threshold: float = 0.5, max_per_keyframe: int | None = None) -> FrameAPResult:
    """Frame-AP per class and mAP (AVA / PASCAL VOC protocol, see the module docstring).

    Parameters
    ----------
    gt_keys : sequence of hashable, length ``G`` (e.g. ``(video_id, timestamp)`` tuples).
    gt_boxes : ``(G, 4)``; gt_labels : ``(G,)`` class ids.
    det_keys, det_boxes ``(D, 4)``, det_labels ``(D,)``, det_scores ``(D,)``: the detections.
    class_ids : classes to evaluate (default: all labels seen in the ground truth).
    iou_threshold : float.
    max_per_keyframe : keep only this many highest-scoring detection rows per keyframe, over all
        classes (the official evaluator: ``AVA_CAPACITY = 50``); ``None`` keeps every row.

    Returns
    -------
    FrameAPResult

    Raises ``ValueError`` on inconsistent lengths.
    """
    gb = np.asarray(gt_boxes, np.float64).reshape(-1, 4)
    gl = np.asarray(gt_labels).reshape(-1)
    db = np.asarray(det_boxes, np.float64).reshape(-1, 4)
    dl = np.asarray(det_labels).reshape(-1)
    ds = np.asarray(det_scores, np.float64).reshape(-1)
    if not (len(gt_keys) == len(gb) == len(gl)):
        raise ValueError(f"frame_ap: {len(gt_keys)} gt keys, {len(gb)} boxes, {len(gl)} labels")
    if not (len(det_keys) == len(db) == len(dl) == len(ds)):
        raise ValueError(f"frame_ap: {len(det_keys)} det keys, {len(db)} boxes, {len(dl)} labels, {len(ds)} scores")
    if max_per_keyframe is not None:
        keep = top_k_per_keyframe(det_keys, ds, max_per_keyframe)
        det_keys = [k for k, ok in zip(det_keys, keep) if ok]
        db, dl, ds = db[keep], dl[keep], ds[keep]
    all_ids, table = _group(list(gt_keys) + list(det_keys))
    gk, dk = all_ids[:len(gb)], all_ids[len(gb):]
    classes = sorted(set(gl.tolist())) if class_ids is None else list(class_ids)
    ap, num_gt = {}, {}
    for c in classes:
        g_c, d_c = gl == c, dl == c
        n = int(g_c.sum())
        num_gt[c] = n
        if n == 0:
            ap[c] = float("nan")
            continue
        tp = np.zeros(int(d_c.sum()), bool)
        d_idx = np.flatnonzero(d_c)
        for key in np.unique(dk[d_c]):
            sel = dk[d_idx] == key
            tp[sel] = match_detections(db[d_idx[sel]], ds[d_idx[sel]], gb[g_c & (gk == key)], iou_threshold)
        if tp.size == 0:
            ap[c] = 0.0
            continue
        prec, rec = precision_recall(ds[d_idx], tp, n)
        ap[c] = voc_average_precision(prec, rec)
    vals = [v for v in ap.values() if not np.isnan(v)]
    return FrameAPResult(ap=ap, num_gt=num_gt, mean_ap=float(np.mean(vals)) if vals else float("nan"))


def localisation_ap(gt_keys, gt_boxes, det_keys, det_boxes, det_scores, iou_threshold: float = 0.5) -> float:
    """Action-agnostic person-localisation AP at ``iou_threshold``.

    Rows repeating the same box in the same keyframe (one row per action, as in AVA files)
    count once: ground-truth duplicates are merged, and duplicate detections keep their highest
    score. Then it is :func:`frame_ap` with a single class. Returns the AP (NaN without ground truth).
    """
    def dedup(keys, boxes, scores=None):
        best = {}
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        s = np.zeros(len(b)) if scores is None else np.asarray(scores, np.float64).reshape(-1)
        for k, bb, ss in zip(keys, b, s):
            key = (k, tuple(np.round(bb, 9)))
            if key not in best or ss > best[key]:
                best[key] = ss
        ks = [k for k, _ in best]
        return ks, np.array([bb for _, bb in best], np.float64).reshape(-1, 4), np.array(list(best.values()))

    gk, gb, _ = dedup(gt_keys, gt_boxes)
    dk, db, ds = dedup(det_keys, det_boxes, det_scores)
    res = frame_ap(gk, gb, np.zeros(len(gb), np.int64), dk, db, np.zeros(len(db), np.int64), ds,
                   class_ids=[0], iou_threshold=iou_threshold)
    return res.ap[0]


def evaluate_ava(groundtruth, detections, class_ids=None, iou_threshold: float = 0.5,
                 max_per_keyframe: int | None = None, person_scores=None) -> FrameAPResult:
    """Frame-AP of AVA-format annotations (e.g. from :func:`paperlib.data.ava.read_ava_csv`).

    ``groundtruth`` and ``detections`` are objects with ``video_ids``, ``timestamps``, ``boxes
    (R, 4)``, ``action_ids (R,)`` and (detections) ``scores (R,)``; keyframes are keyed by
    ``(video_id, timestamp)``. ``max_per_keyframe=AVA_CAPACITY`` (50) follows the official
    evaluator (``None``: every row); ``person_scores (R,)``, if given, gates the action scores
    (:func:`gate_scores`) before the cap and the ranking. Raises ``ValueError`` if the detections
    have no scores.
    """
    if getattr(detections, "scores", None) is None:
        raise ValueError("evaluate_ava: the detections need scores")
    scores = detections.scores if person_scores is None else gate_scores(detections.scores, person_scores)
    gk = list(zip(groundtruth.video_ids, np.asarray(groundtruth.timestamps, np.float64).tolist()))
    dk = list(zip(detections.video_ids, np.asarray(detections.timestamps, np.float64).tolist()))
    return frame_ap(gk, groundtruth.boxes, groundtruth.action_ids, dk, detections.boxes, detections.action_ids,
                    scores, class_ids=class_ids, iou_threshold=iou_threshold, max_per_keyframe=max_per_keyframe)
