"""The official AVA protocol (ActivityNet ``Evaluation/get_ava_performance.py``, the AVA download
page): released file names, the 60-class whitelist that filters rows, excluded timestamps dropped
from ground truth and detections, every ground-truth person evaluated.

Fixtures are written here from the public format definitions: AVA v2.1 / v2.2 CSV rows
``video_id, timestamp, x1, y1, x2, y2, action_id, person_id``, the label maps (``item { name id }``
for v2.1, ``label { name label_id label_type }`` for v2.2) and ``video_id, timestamp`` rows of the
excluded-timestamps CSV.
"""
import math

import numpy as np
import pytest

from paperlib.data import ava
from paperlib.data.errors import FormatError, SkipReport

# The ids of the 60-class ActivityNet label maps (ava_action_list_v2.1_for_activitynet_2018.pbtxt;
# the v2.2 / 2019 map has the same ids): the 20 ids below are absent from them.
MISSING_60 = (2, 16, 18, 19, 21, 23, 25, 31, 32, 33, 35, 39, 40, 42, 44, 50, 53, 55, 71, 75)
IDS_60 = [i for i in range(1, 81) if i not in MISSING_60]


def _item_map(ids):
    return "".join(f'item {{\n  name: "action {i}"\n  id: {i}\n}}\n' for i in ids)


def _label_map(ids):
    return "".join(f'label {{\n  name: "action {i}"\n  label_id: {i}\n  label_type: PERSON_MOVEMENT\n}}\n'
                   for i in ids)


# two keyframes of vidA (0902 excluded), one of vidB; ids 44 and 2 are outside the 60 classes
GT_ROWS = """\
vidA,0902,0.100,0.100,0.400,0.900,12,0
vidA,0902,0.100,0.100,0.400,0.900,44,0
vidA,0903,0.100,0.100,0.400,0.900,12,0
vidA,0903,0.100,0.100,0.400,0.900,80,0
vidA,0903,0.500,0.200,0.800,0.900,12,1
vidA,0903,0.500,0.200,0.800,0.900,2,1
vidB,1798,0.200,0.300,0.600,1.000,80,3
vidB,1798,0.200,0.300,0.600,1.000,44,3
"""
EXCLUDED = "vidA,0902\nvidC,1000\n"


def _write(path, text):
    path.write_text(text)
    return path


def _release(tmp_path, version, label_map_name=None):
    v = version
    lm_text = _item_map(IDS_60) if v == "v2.1" else _label_map(IDS_60)
    names = ava.ava_release_names(v, "val")
    _write(tmp_path / (label_map_name or names["label_map"]), lm_text)
    _write(tmp_path / names["groundtruth"], GT_ROWS)
    _write(tmp_path / names["excluded"], EXCLUDED)
    return tmp_path


def test_release_file_names():
    assert ava.ava_release_names("v2.1", "val") == {
        "groundtruth": "ava_val_v2.1.csv", "label_map": "ava_action_list_v2.1_for_activitynet_2018.pbtxt",
        "excluded": "ava_val_excluded_timestamps_v2.1.csv"}
    assert ava.ava_release_names("2.2", "train") == {
        "groundtruth": "ava_train_v2.2.csv", "label_map": "ava_action_list_v2.2_for_activitynet_2019.pbtxt",
        "excluded": "ava_train_excluded_timestamps_v2.2.csv"}
    assert ava.ava_release_names("v2.2", classes=80)["label_map"] == "ava_action_list_v2.2.pbtxt"
    for kw in ({"version": "v2.0"}, {"split": "test"}, {"classes": 59}):
        with pytest.raises(ValueError):
            ava.ava_release_names(**kw)


def test_whitelist_filters_and_counts_rows(tmp_path):
    lm = ava.read_label_map(_write(tmp_path / "lm.pbtxt", _item_map(IDS_60)))
    p = _write(tmp_path / "gt.csv", GT_ROWS)
    with pytest.raises(FormatError) as err:  # the default still refuses, naming line and field
        ava.read_ava_csv(p, label_map=lm)
    assert err.value.line == 2 and err.value.field == "action_id" and "44" in str(err.value)
    rep = SkipReport()
    gt = ava.read_ava_csv(p, label_map=lm, unknown_actions="filter", report=rep)
    assert len(gt) == 5 and not np.isin(gt.action_ids, MISSING_60).any()
    assert rep.filtered == {"gt.csv: rows with an action id not in the label map": 3}
    assert rep.total == 0  # filtered on request: counted, not a loss
    with pytest.warns(UserWarning, match=r"filtered out 3 rows .*\[2, 44\]"):
        ava.read_ava_csv(p, label_map=lm, unknown_actions="filter")
    with pytest.raises(ValueError, match="label_map"):
        ava.read_ava_csv(p, unknown_actions="filter")
    with pytest.raises(ValueError, match="unknown_actions"):
        ava.read_ava_csv(p, label_map=lm, unknown_actions="skip")
    # detections: an empty action id cannot be scored per class; it is filtered and counted too
    d = _write(tmp_path / "det.csv", "vidA,0903,0.1,0.1,0.4,0.9,,0.9\nvidA,0903,0.1,0.1,0.4,0.9,44,0.8\n"
                                     "vidA,0903,0.1,0.1,0.4,0.9,12,0.7\n")
    rep = SkipReport()
    det = ava.read_ava_csv(d, kind="detections", label_map=lm, unknown_actions="filter", report=rep)
    assert det.action_ids.tolist() == [12]
    assert rep.filtered == {"det.csv: rows with an action id not in the label map": 1,
                            "det.csv: detection rows without an action id": 1}


def test_timestamps_outside_the_window_raise(tmp_path):
    p = _write(tmp_path / "gt.csv", "vidA,0902,0.1,0.1,0.4,0.9,12,0\nvidA,0899,0.1,0.1,0.4,0.9,12,0\n")
    with pytest.raises(FormatError) as err:
        ava.read_ava_csv(p, timestamp_range=ava.AVA_KEYFRAME_RANGE)
    assert err.value.line == 2 and err.value.field == "timestamp"
    assert len(ava.read_ava_csv(p)) == 2  # without a range every timestamp is read


def test_drop_excluded_uses_the_evaluators_key(tmp_path):
    ex = ava.read_excluded_timestamps(_write(tmp_path / "ex.csv", EXCLUDED))
    a = ava.AvaAnnotations(["vidA", "vidA", "vidA", "vidB"], [902.0, 902.4, 903.0, 902.0],
                           np.tile([0.1, 0.1, 0.4, 0.9], (4, 1)), [12, 12, 12, 12], [0, 1, 0, 0])
    rep = SkipReport()
    kept = ava.drop_excluded(a, ex, rep, what="rows")
    # "%s,%04d" % (vid, int(t)): 902.4 s is keyframe 0902 too; vidB,0902 is not excluded
    assert list(zip(kept.video_ids, kept.timestamps.tolist())) == [("vidA", 903.0), ("vidB", 902.0)]
    assert kept.person_ids.tolist() == [0, 0]
    assert rep.filtered == {"rows at excluded timestamps": 2, "rows: keyframes at excluded timestamps": 1}
    with pytest.raises(ValueError, match="mask"):
        a.select(np.ones(3, bool))


@pytest.mark.parametrize("version,style", [("v2.1", "item"), ("v2.2", "label")])
def test_load_release(tmp_path, version, style):
    rel = ava.load_ava_release(_release(tmp_path, version), "val", version)
    assert len(rel.label_map) == 60 and 44 not in rel.label_map.names
    assert bool(rel.label_map.types) == (style == "label")
    gt = rel.groundtruth
    # 8 rows: 3 outside the 60 classes (ids 44, 2, 44), then the keyframe vidA,0902 (1 row left)
    assert len(gt) == 4 and sorted(set(zip(gt.video_ids, gt.timestamps.tolist()))) == [
        ("vidA", 903.0), ("vidB", 1798.0)]
    assert rel.report.filtered == {f"ava_val_{version}.csv: rows with an action id not in the label map": 3,
                                   "ground-truth rows at excluded timestamps": 1,
                                   "ground-truth rows: keyframes at excluded timestamps": 1}
    assert rel.excluded == {("vidA", 902.0), ("vidC", 1000.0)}
    assert rel.report.source == f"AVA {version} val (60 classes)" and "filtered out on request" in str(rel.report)


def test_load_release_finds_the_activitynet_copy_and_names_missing_files(tmp_path):
    # the ActivityNet repository ships the 2018 map as ava_action_list_v2.1_for_activitynet_2018.pbtxt.txt
    root = _release(tmp_path, "v2.1", "ava_action_list_v2.1_for_activitynet_2018.pbtxt.txt")
    assert len(ava.load_ava_release(root, "val", "v2.1").label_map) == 60
    (root / "ava_val_excluded_timestamps_v2.1.csv").unlink()
    with pytest.raises(FileNotFoundError, match="ava_val_excluded_timestamps_v2.1.csv"):
        ava.load_ava_release(root, "val", "v2.1")
    with pytest.raises(FileNotFoundError) as err:
        ava.load_ava_release(root, "val", "v2.2")
    for name in ("ava_val_v2.2.csv", "ava_action_list_v2.2_for_activitynet_2019.pbtxt", "excluded_timestamps_v2.2"):
        assert name in str(err.value)


def test_evaluate_files_follows_the_official_rules(tmp_path):
    root = _release(tmp_path, "v2.2")
    names = ava.ava_release_names("v2.2", "val")
    lm, gt_csv, ex_csv = (root / names[k] for k in ("label_map", "groundtruth", "excluded"))
    # detections: the two people of vidA,0903 found for class 12 (one at IoU 1, one missed: the
    # second box is a false positive far away), class 80 found at both keyframes; plus rows the
    # protocol must ignore: id 44 (not in the 60 classes) and a false positive at the excluded
    # keyframe vidA,0902 with the highest score
    det = _write(tmp_path / "det.csv", """\
vidA,0902,0.000,0.000,0.050,0.050,12,0.99
vidA,0903,0.100,0.100,0.400,0.900,12,0.9
vidA,0903,0.000,0.000,0.050,0.050,12,0.8
vidA,0903,0.100,0.100,0.400,0.900,80,0.7
vidB,1798,0.200,0.300,0.600,1.000,80,0.6
vidB,1798,0.000,0.000,0.050,0.050,44,0.95
""")
    res, rep = ava.evaluate_ava_files(lm, gt_csv, det, ex_csv)
    assert sorted(res.ap) == IDS_60
    # every ground-truth person is a ground-truth box: class 12 has 2 at vidA,0903 (the row of
    # the excluded keyframe vidA,0902 is not counted), class 80 has 2
    assert res.num_gt[12] == 2 and res.num_gt[80] == 2 and res.num_gt[1] == 0
    # class 12: TP at rank 1, FP at rank 2, one person never found -> AP = 1 * 1/2 = 0.5
    assert res.ap[12] == pytest.approx(0.5) and res.ap[80] == pytest.approx(1.0)
    assert all(math.isnan(res.ap[c]) for c in IDS_60 if c not in (12, 80))
    assert res.mean_ap == pytest.approx(0.75)
    assert rep.filtered == {"ava_val_v2.2.csv: rows with an action id not in the label map": 3,
                            "det.csv: rows with an action id not in the label map": 1,
                            "ground-truth rows at excluded timestamps": 1,
                            "ground-truth rows: keyframes at excluded timestamps": 1,
                            "detection rows at excluded timestamps": 1,
                            "detection rows: keyframes at excluded timestamps": 1}
    # without the exclusions the high-scoring false positive at vidA,0902 and that keyframe's
    # ground truth both count: class 12 then has 3 people and ranks a false positive first
    res_all, _ = ava.evaluate_ava_files(lm, gt_csv, det)
    assert res_all.num_gt[12] == 3 and res_all.ap[12] == pytest.approx(1 / 3 * 1 / 2)
    # already-read annotations go through the same filter
    gt = ava.read_ava_csv(gt_csv)
    res_obj, rep_obj = ava.evaluate_ava_files(ava.read_label_map(lm), gt, det, ex_csv)
    assert res_obj.ap == pytest.approx(res.ap, nan_ok=True)
    assert rep_obj.filtered["ground truth: rows with an action id not in the label map"] == 3


def test_evaluate_files_keeps_fifty_rows_per_keyframe_after_the_filter(tmp_path):
    lm = ava.read_label_map(_write(tmp_path / "lm.pbtxt", _label_map(IDS_60)))
    gt = _write(tmp_path / "gt.csv", "v,0902,0.1,0.1,0.4,0.9,1,0\n")
    # 60 higher-scoring rows of id 44 come first: filtered before the cap, so the true positive stays
    rows = [f"v,0902,0.5,0.5,0.6,0.6,44,{0.99 - i * 1e-3:.3f}" for i in range(60)]
    rows += [f"v,0902,0.5,0.5,0.6,0.6,3,{0.9 - i * 1e-3:.3f}" for i in range(49)] + ["v,0902,0.1,0.1,0.4,0.9,1,0.5"]
    det = _write(tmp_path / "det.csv", "\n".join(rows) + "\n")
    res, rep = ava.evaluate_ava_files(lm, gt, det)
    assert res.ap[1] == pytest.approx(1.0)
    assert rep.filtered["det.csv: rows with an action id not in the label map"] == 60
    res, _ = ava.evaluate_ava_files(lm, gt, det, capacity=49)  # one row fewer: the true positive goes
    assert res.ap[1] == 0.0
