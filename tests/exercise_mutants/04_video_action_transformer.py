"""Wrong answers that students really write, for notebooks/exercises/04_video_action_transformer.ipynb.

Each mutant replaces the whole answer cell; tests/test_exercises.py checks that the reference
passes its tests and that every mutant fails at least one of them.

Each mutant here is the reference with one mistake: ``mutate(STEM, grade_id, (old, new), ...)``
(paperlib.tools.grading) replaces the exact text ``old`` of the answer cell by ``new`` (and fails
loudly unless ``old`` occurs once, so a mutant cannot silently turn into the reference).
"""
from paperlib.tools.grading import mutate

STEM = "04_video_action_transformer"

MUTANTS = {
    "ex1_padded_memory": [
        ("the unofficial code's x.view(C, -1): the clips of a batch are mixed", mutate(
            STEM, "ex1_padded_memory",
            ("return x.flatten(2).transpose(1, 2)", "return x.view(x.shape[1], -1).T.reshape(B, -1, x.shape[1])"))),
        ("reshape (B, C, N) to (B, N, C) without a transpose: cells and channels scrambled", mutate(
            STEM, "ex1_padded_memory", ("return x.flatten(2).transpose(1, 2)", "return x.reshape(B, -1, x.shape[1])"))),
        ("cells ordered (h, w, t) instead of (t, h, w)", mutate(
            STEM, "ex1_padded_memory",
            ("return x.flatten(2).transpose(1, 2)", "return x.permute(0, 3, 4, 2, 1).reshape(B, -1, x.shape[1])"))),
        ("max-pooling instead of average-pooling", mutate(
            STEM, "ex1_padded_memory", ("F.avg_pool3d(x, (1, pool, pool))", "F.max_pool3d(x, (1, pool, pool))"))),
        ("pools time too (a pool x pool x pool window)", mutate(
            STEM, "ex1_padded_memory", ("F.avg_pool3d(x, (1, pool, pool))", "F.avg_pool3d(x, (pool, pool, pool))"))),
    ],
    "ex2_roi_bins": [
        ("the half-pixel offset forgotten (aligned=True treated as the legacy mapping, no clamp)", mutate(
            STEM, "ex2_roi_bins", ("off = 0.5 if aligned else 0.0", "off = 0.0"))),
        ("the offset with the wrong sign (+1/2)", mutate(
            STEM, "ex2_roi_bins", ("off = 0.5 if aligned else 0.0", "off = -0.5 if aligned else 0.0"))),
        ("samples at the start of each sub-bin, not its centre", mutate(
            STEM, "ex2_roi_bins",
            ("k = (torch.arange(sampling_ratio, dtype=box.dtype) + 0.5) / sampling_ratio",
             "k = torch.arange(sampling_ratio, dtype=box.dtype) / sampling_ratio"))),
        ("the box read as (y1, x1, y2, x2)", mutate(
            STEM, "ex2_roi_bins",
            ("x1, y1, x2, y2 = (box * spatial_scale - off).unbind()",
             "y1, x1, y2, x2 = (box * spatial_scale - off).unbind()"))),
        ("the box size left in pixels (spatial_scale applied to the corner only)", mutate(
            STEM, "ex2_roi_bins",
            ("w, h = x2 - x1, y2 - y1", "w, h = (x2 - x1) / spatial_scale, (y2 - y1) / spatial_scale"))),
        ("legacy mapping without the clamp of the box size to one cell", mutate(
            STEM, "ex2_roi_bins", ("w, h = w.clamp(min=1.0), h.clamp(min=1.0)", "pass"))),
        ("samples spread edge to edge with linspace (one per bin), not at the bin centres", mutate(
            STEM, "ex2_roi_bins",
            ("xs = x1 + (torch.arange(pw, dtype=box.dtype)[:, None] + k) * w / pw",
             "xs = torch.linspace(float(x1), float(x2), pw * sampling_ratio, dtype=box.dtype).reshape(pw, -1)"),
            ("ys = y1 + (torch.arange(ph, dtype=box.dtype)[:, None] + k) * h / ph",
             "ys = torch.linspace(float(y1), float(y2), ph * sampling_ratio, dtype=box.dtype).reshape(ph, -1)"))),
    ],
    "ex3_tx_unit": [
        ("softmax over the people (queries) instead of the memory cells", mutate(
            STEM, "ex3_tx_unit", ("/ math.sqrt(unit.D), dim=-1)", "/ math.sqrt(unit.D), dim=1)"))),
        ("the 1/sqrt(D) scale missing", mutate(
            STEM, "ex3_tx_unit", ("Q @ K.transpose(1, 2) / math.sqrt(unit.D)", "Q @ K.transpose(1, 2)"))),
        ("divided by D instead of sqrt(D)", mutate(
            STEM, "ex3_tx_unit", ("/ math.sqrt(unit.D)", "/ unit.D"))),
        ("the printed FFN(Q) instead of FFN(Q')", mutate(
            STEM, "ex3_tx_unit", ("Q2 = unit.ln2(Q1 + unit.ffn(Q1))", "Q2 = unit.ln2(Q1 + unit.ffn(Q))"))),
        ("no residual around the attention: Q' = LN(A)", mutate(
            STEM, "ex3_tx_unit", ("Q1 = unit.ln1(Q + A)", "Q1 = unit.ln1(A)"))),
        ("weights the keys instead of the values", mutate(
            STEM, "ex3_tx_unit", ("A = a @ V", "A = a @ K"))),
    ],
    "ex4_average_precision": [
        ("no precision envelope (the raw precision at each recall step)", mutate(
            STEM, "ex4_average_precision",
            ("p = np.maximum.accumulate(np.concatenate([prec, [0.0]])[::-1])[::-1]",
             "p = np.concatenate([prec, [0.0]])"))),
        ("recall over the true positives found, not over every ground-truth person", mutate(
            STEM, "ex4_average_precision", ("ctp / num_gt", "ctp / max(int(tp.sum()), 1)"))),
        ("the detections not ranked by score", mutate(
            STEM, "ex4_average_precision", ('order = np.argsort(-s, kind="stable")', "order = np.arange(len(s))"))),
        ("the trapezoid rule on the raw curve instead of the all-point envelope", mutate(
            STEM, "ex4_average_precision",
            ("return float(np.sum((r[1:] - r[:-1]) * p[:-1]))",
             "return float(np.sum((r[1:] - r[:-1]) * (np.concatenate([[1.0], prec])[:-1] + prec) / 2))"))),
        ("11-point interpolation (VOC 2007) instead of all-point", mutate(
            STEM, "ex4_average_precision",
            ("return float(np.sum((r[1:] - r[:-1]) * p[:-1]))",
             "return float(np.mean([max([q for q, x in zip(prec, rec) if x >= t], default=0.0) "
             "for t in np.linspace(0, 1, 11)]))"))),
    ],
    "ex5_class_frame_ap": [
        ("IoU with the +1 pixel convention", mutate(
            STEM, "ex5_class_frame_ap",
            ("area = lambda b: (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])",
             "area = lambda b: (b[..., 2] - b[..., 0] + 1) * (b[..., 3] - b[..., 1] + 1)"),
            ("np.clip(np.minimum(db[j, 2:], gb[g, 2:]) - np.maximum(db[j, :2], gb[g, :2]), 0, None)",
             "np.clip(np.minimum(db[j, 2:], gb[g, 2:]) - np.maximum(db[j, :2], gb[g, :2]) + 1, 0, None)"))),
        ("a duplicate detection counted as a true positive", mutate(
            STEM, "ex5_class_frame_ap",
            ("if iou.max() >= iou_threshold and not taken[best]:", "if iou.max() >= iou_threshold:"))),
        ("falls back to the best person not yet taken", mutate(
            STEM, "ex5_class_frame_ap",
            ("best = g[iou.argmax()]", "iou = np.where(taken[g], -1.0, iou)\n        best = g[iou.argmax()]"))),
        ("the cap applied per class instead of over all classes of the keyframe", mutate(
            STEM, "ex5_class_frame_ap",
            ("idx = np.flatnonzero(dk == k)", "idx = np.flatnonzero((dk == k) & (dl == cls))"))),
        ("the cap ignored", mutate(
            STEM, "ex5_class_frame_ap", ("if capacity is not None:", "if False:"))),
        ("IoU > threshold instead of >=", mutate(
            STEM, "ex5_class_frame_ap", ("if iou.max() >= iou_threshold", "if iou.max() > iou_threshold"))),
        ("matched against the people of every keyframe, not the detection's own", mutate(
            STEM, "ex5_class_frame_ap",
            ("g = np.flatnonzero((gl == cls) & (gk == dk[j]))", "g = np.flatnonzero(gl == cls)"))),
    ],
}
