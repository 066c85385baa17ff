"""Frame-AP (paperlib.metrics_ap) on cases computed by hand (the arithmetic is in the comments)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from paperlib import metrics_ap as M
from paperlib.data.ava import AvaAnnotations

SQ = [0.0, 0.0, 10.0, 10.0]


def test_voc_ap_all_point_interpolation_by_hand():
    # TP, FP, TP, FP, TP with 3 ground truths:
    # precision 1, 1/2, 2/3, 1/2, 3/5; recall 1/3, 1/3, 2/3, 2/3, 1
    # envelope at the recall steps: 1 (to 1/3), 2/3 (to 2/3), 3/5 (to 1)
    # AP = 1/3 * (1 + 2/3 + 3/5) = 34/45
    p = [1, 1 / 2, 2 / 3, 1 / 2, 3 / 5]
    r = [1 / 3, 1 / 3, 2 / 3, 2 / 3, 1]
    assert M.voc_average_precision(p, r) == pytest.approx(34 / 45, abs=1e-12)
    # TP, FP, FP, TP, TP: precision 1, 1/2, 1/3, 1/2, 3/5; recall 1/3, 1/3, 1/3, 2/3, 1.
    # The precision envelope matters here: at recall 2/3 it is max(1/2, 3/5) = 3/5, so
    # AP = 1/3 * (1 + 3/5 + 3/5) = 11/15 (without the envelope it would be 7/10).
    assert M.voc_average_precision([1, 1 / 2, 1 / 3, 1 / 2, 3 / 5], [1 / 3, 1 / 3, 1 / 3, 2 / 3, 1]) == \
        pytest.approx(11 / 15, abs=1e-12)
    # recall that never reaches 1: the rest of the area is 0
    assert M.voc_average_precision([1.0, 0.5], [0.25, 0.25]) == pytest.approx(0.25)
    assert M.voc_average_precision([], []) == 0.0
    assert math.isnan(M.voc_average_precision(None, None))
    with pytest.raises(ValueError, match="non-decreasing"):
        M.voc_average_precision([1.0, 1.0], [0.5, 0.2])


def test_frame_ap_two_keyframes_by_hand():
    gt_keys = [("A", 1.0), ("A", 1.0), ("B", 1.0), ("B", 1.0)]
    gt_boxes = [SQ, [20, 20, 30, 30], SQ, SQ]
    gt_labels = [1, 1, 1, 2]  # class 2: one ground truth, never detected
    det = [  # key, box, label, score -> outcome
        (("A", 1.0), SQ, 1, 0.9),                 # TP (gt A#0)
        (("A", 1.0), [1, 1, 10, 10], 1, 0.8),     # IoU 0.81 with A#0, already taken -> FP
        (("B", 1.0), SQ, 1, 0.7),                 # TP (gt B#0)
        (("A", 1.0), [50, 50, 60, 60], 1, 0.6),   # FP
        (("A", 1.0), [20, 20, 30, 30], 1, 0.5),   # TP (gt A#1)
        (("A", 1.0), SQ, 3, 0.99),                # class 3 has no ground truth: NaN, not in the mean
    ]
    res = M.frame_ap(gt_keys, gt_boxes, gt_labels, [d[0] for d in det], [d[1] for d in det],
                     [d[2] for d in det], [d[3] for d in det], class_ids=[1, 2, 3])
    assert res.ap[1] == pytest.approx(34 / 45, abs=1e-12)  # the sequence of the test above
    assert res.ap[2] == 0.0
    assert math.isnan(res.ap[3])
    assert res.num_gt == {1: 3, 2: 1, 3: 0}
    assert res.mean_ap == pytest.approx((34 / 45 + 0.0) / 2, abs=1e-12)
    # detections are matched within their own keyframe only: the same box in keyframe C is an FP
    res2 = M.frame_ap(gt_keys, gt_boxes, gt_labels, [("C", 1.0)], [SQ], [1], [0.95])
    assert res2.ap[1] == 0.0


def test_match_uses_highest_iou_gt_without_fallback():
    # gt a = SQ, gt b = [0,0,10,12] (IoU(a,b) = 100/120).
    # d1 = SQ (0.9): best a (IoU 1) -> TP.
    # d2 = [0,0,10,10.2] (0.8): IoU with a 100/102, with b 102/120 -> best a, taken -> FP,
    # although b is free and IoU(d2, b) = 0.85 >= 0.5 (the VOC / TF OD API rule).
    # precision 1, 1/2; recall 1/2, 1/2 -> AP = 1/2.
    gt = [SQ, [0, 0, 10, 12]]
    tp = M.match_detections([SQ, [0, 0, 10, 10.2]], [0.9, 0.8], gt)
    assert tp.tolist() == [True, False]
    res = M.frame_ap([0, 0], gt, [1, 1], [0, 0], [SQ, [0, 0, 10, 10.2]], [1, 1], [0.9, 0.8])
    assert res.ap[1] == pytest.approx(0.5)


def test_iou_threshold_is_inclusive():
    # IoU([0,0,10,5], SQ) = 50/100 = 0.5 exactly -> TP; [0,0,10,4.9] -> 0.49 -> FP
    assert M.frame_ap([0], [SQ], [1], [0], [[0, 0, 10, 5]], [1], [0.5]).ap[1] == 1.0
    assert M.frame_ap([0], [SQ], [1], [0], [[0, 0, 10, 4.9]], [1], [0.5]).ap[1] == 0.0
    assert M.frame_ap([0], [SQ], [1], [0], [[0, 0, 10, 5]], [1], [0.5], iou_threshold=0.6).ap[1] == 0.0


def test_score_order_and_stable_ties():
    # one gt; an FP and a TP. TP first: precision 1 at recall 1 -> AP 1.
    # FP first: precision 1/2 at recall 1 -> AP 1/2. Equal scores keep the input order.
    far = [50, 50, 60, 60]
    assert M.frame_ap([0], [SQ], [1], [0, 0], [SQ, far], [1, 1], [0.9, 0.1]).ap[1] == 1.0
    assert M.frame_ap([0], [SQ], [1], [0, 0], [SQ, far], [1, 1], [0.1, 0.9]).ap[1] == 0.5
    assert M.frame_ap([0], [SQ], [1], [0, 0], [far, SQ], [1, 1], [0.5, 0.5]).ap[1] == 0.5
    assert M.frame_ap([0], [SQ], [1], [0, 0], [SQ, far], [1, 1], [0.5, 0.5]).ap[1] == 1.0


def test_precision_recall_by_hand():
    p, r = M.precision_recall([0.2, 0.9, 0.5], [True, True, False], num_gt=4)
    # sorted: 0.9 TP, 0.5 FP, 0.2 TP -> precision 1, 1/2, 2/3; recall 1/4, 1/4, 1/2
    np.testing.assert_allclose(p, [1, 0.5, 2 / 3])
    np.testing.assert_allclose(r, [0.25, 0.25, 0.5])
    with pytest.raises(ValueError):
        M.precision_recall([0.1], [True], 0)


def test_localisation_ap_merges_rows_of_one_person():
    # one person with 3 action rows (same box) and one detection box repeated per class:
    # action-agnostic AP counts it once -> 1 gt, 1 detection (best score), AP 1.
    keys = [("v", 902.0)] * 3
    ap = M.localisation_ap(keys, [SQ] * 3, [("v", 902.0)] * 2, [SQ, SQ], [0.2, 0.7])
    assert ap == 1.0
    # a second, undetected person halves the recall: AP = 1/2
    ap = M.localisation_ap(keys + [("v", 902.0)], [SQ] * 3 + [[20, 20, 30, 30]], [("v", 902.0)], [SQ], [0.7])
    assert ap == pytest.approx(0.5)


def test_evaluate_ava_on_annotation_objects():
    gt = AvaAnnotations(["v1", "v1", "v2"], [902, 902, 903], [[0.1, 0.1, 0.5, 0.5]] * 2 + [[0.2, 0.2, 0.6, 0.9]],
                        [1, 2, 1], [0, 0, 3])
    det = AvaAnnotations(["v1", "v2", "v2"], [902, 903, 903],
                         [[0.1, 0.1, 0.5, 0.5], [0.2, 0.2, 0.6, 0.9], [0.2, 0.2, 0.6, 0.9]],
                         [1, 1, 2], [-1, -1, -1], scores=[0.8, 0.6, 0.9])
    res = M.evaluate_ava(gt, det)
    # class 1: two TPs -> AP 1. class 2: its only gt is in v1, the detection in v2 -> FP -> AP 0.
    assert res.ap == {1: 1.0, 2: 0.0}
    assert res.mean_ap == 0.5
    with pytest.raises(ValueError, match="scores"):
        M.evaluate_ava(gt, gt)


def test_frame_ap_input_checks():
    with pytest.raises(ValueError, match="gt keys"):
        M.frame_ap([0, 1], [SQ], [1], [], [], [], [])
    with pytest.raises(ValueError, match="det keys"):
        M.frame_ap([0], [SQ], [1], [0], [SQ], [1], [])


def test_top_k_per_keyframe_like_the_official_capacity():
    # keyframe "a": scores 0.1, 0.9, 0.5, 0.5 -> k=2 keeps 0.9 and the FIRST 0.5 (equal scores: earlier row)
    # keyframe "b": 2 rows, both kept
    keys = ["a", "a", "b", "a", "a", "b"]
    scores = [0.1, 0.9, 0.3, 0.5, 0.5, 0.2]
    assert M.top_k_per_keyframe(keys, scores, 2).tolist() == [False, True, True, True, False, True]
    assert M.top_k_per_keyframe(keys, scores, 10).all()
    assert M.top_k_per_keyframe(keys, scores, 1).tolist() == [False, True, True, False, False, False]
    with pytest.raises(ValueError, match="k must be"):
        M.top_k_per_keyframe(keys, scores, 0)
    with pytest.raises(ValueError, match="keys"):
        M.top_k_per_keyframe(keys[:2], scores)


def test_top_k_against_a_heap_of_capacity_k():
    # the official evaluator's read_csv: a min-heap of (score, ...) per keyframe, replaced only by a higher score
    import heapq
    rng = np.random.default_rng(0)
    keys = rng.integers(0, 5, 300).tolist()
    scores = np.round(rng.random(300), 1)              # many ties
    heaps = {}
    for i, (k, sc) in enumerate(zip(keys, scores)):
        h = heaps.setdefault(k, [])
        if len(h) < 7:
            heapq.heappush(h, (sc, -i))
        elif sc > h[0][0]:
            heapq.heapreplace(h, (sc, -i))
    want = sorted(-i for h in heaps.values() for _, i in h)
    assert np.flatnonzero(M.top_k_per_keyframe(keys, scores, 7)).tolist() == want


def test_frame_ap_cap_drops_low_scored_rows():
    # one keyframe, one gt of class 1; detections: class 2 at 0.9 and 0.8 (FPs), class 1 at 0.1 (TP).
    # No cap: class 1 AP = 1. Cap 2: the class-1 row is the lowest of three and is dropped -> AP 0.
    det = dict(det_keys=[0, 0, 0], det_boxes=[SQ] * 3, det_labels=[2, 2, 1], det_scores=[0.9, 0.8, 0.1])
    assert M.frame_ap([0], [SQ], [1], **det).ap[1] == 1.0
    assert M.frame_ap([0], [SQ], [1], max_per_keyframe=2, **det).ap[1] == 0.0
    assert M.frame_ap([0], [SQ], [1], max_per_keyframe=3, **det).ap[1] == 1.0


def test_evaluate_ava_gating_by_person_score():
    # two keyframes with one gt each (class 1, 2 gts in all); detection A (on the person of keyframe 1)
    # scores 0.6, detection B (a box far from the person of keyframe 2) 0.9.
    # Ungated: B (FP) then A (TP): precision 0, 1/2 at recall 0, 1/2 -> AP = 1/2 * 1/2 = 1/4.
    # Gated by person scores A 0.9, B 0.1: A (0.54, TP) then B (0.09): precision 1 at recall 1/2 -> AP 1/2.
    gt = AvaAnnotations(["v", "v"], [1, 2], [SQ, SQ], [1, 1], [0, 1])
    far = [20.0, 20.0, 30.0, 30.0]
    det = AvaAnnotations(["v", "v"], [1, 2], [SQ, far], [1, 1], [-1, -1], scores=[0.6, 0.9])
    assert M.evaluate_ava(gt, det).ap[1] == pytest.approx(0.25)
    assert M.evaluate_ava(gt, det, person_scores=[0.9, 0.1]).ap[1] == pytest.approx(0.5)
    np.testing.assert_allclose(M.gate_scores([0.6, 0.9], [0.9, 0.1]), [0.54, 0.09])
    with pytest.raises(ValueError, match="person scores"):
        M.gate_scores([0.5], [0.5, 0.5])
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        M.gate_scores([1.5], [0.5])
