"""Loaders of real datasets (NTU RGB+D, Kinetics-skeleton, Human3.6M) on fixtures written in the
datasets' exact formats into pytest's ``tmp_path``."""
from __future__ import annotations

import json
import pickle
import warnings

import numpy as np
import pytest

from paperlib.data import h36m, kinetics, ntu
from paperlib.data.arrays import SkeletonArrays
from paperlib.data.errors import FormatError, SkipReport

RNG = np.random.default_rng(0)
REST = RNG.normal(0.0, 0.3, (25, 3)) + np.array([0.0, 0.0, 3.0])  # a body 3 m in front of the camera


def moving_body(T, amp, phase=0.0, offset=(0.0, 0.0, 0.0)):
    """(T, 25, 3) metres: a rest pose swaying along x with amplitude ``amp``."""
    t = np.arange(T)
    sway = amp * np.sin(2 * np.pi * t / 10 + phase)
    xyz = REST[None] + np.asarray(offset) + np.zeros((T, 1, 1))
    xyz[..., 0] += sway[:, None]
    return xyz


def write(tmp_path, name, bodies, num_frames=None):
    path = tmp_path / f"{name}.skeleton"
    ntu.write_skeleton_file(path, bodies, num_frames=num_frames)
    return path


def quiet(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# Errors and reports
# --------------------------------------------------------------------------------------------
def test_format_error_renders_file_line_field_and_pickles():
    err = FormatError("/data/x/S001C001P001R001A001.skeleton", "expected 25, got 24", line=7,
                      field="joint count")
    assert str(err) == "S001C001P001R001A001.skeleton, line 7, field 'joint count': expected 25, got 24"
    assert isinstance(err, ValueError)
    assert (err.path, err.line, err.field) == ("/data/x/S001C001P001R001A001.skeleton", 7, "joint count")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.line == 7
    assert str(FormatError("a.json", "missing key", field="data")) == "a.json, field 'data': missing key"


def test_skip_report_counts_merges_and_warns():
    a = SkipReport(source="demo")
    a.add("f1", "malformed file", detail="f1, line 3: bad")
    a.add("f2", "frame removed", n=4)
    a.add("f3", "frame removed", n=0)  # nothing to record
    a.add_filtered("test split", 5)
    b = SkipReport()
    b.add("f4", "malformed file")
    a.merge(b)
    assert a.counts == {"malformed file": 2, "frame removed": 4}
    assert a.total == len(a) == 6
    assert a.items[0] == ("f1", "malformed file: f1, line 3: bad")
    assert len(a.items) == 3
    text = str(a)
    assert "2 x malformed file" in text and "4 x frame removed" in text and "5 x test split" in text
    with pytest.warns(UserWarning, match="demo: skipped"):
        a.warn()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SkipReport(filtered={"x": 1}).warn()  # filtering alone never warns


# --------------------------------------------------------------------------------------------
# NTU RGB+D: names, splits, class names
# --------------------------------------------------------------------------------------------
def test_parse_ntu_name():
    assert ntu.parse_ntu_name("S001C002P003R002A013") == dict(
        setup=1, camera=2, subject=3, replication=2, action=13)
    assert ntu.parse_ntu_name("/x/y/S032C003P106R001A120.skeleton") == dict(
        setup=32, camera=3, subject=106, replication=1, action=120)


@pytest.mark.parametrize("bad", ["S01C002P003R002A013", "S001C002P003R002", "foo.skeleton",
                                 "S001C002P003R002A013x", "S000C002P003R002A013"])
def test_parse_ntu_name_rejects_bad_names(bad):
    with pytest.raises(FormatError, match="file name") as info:
        ntu.parse_ntu_name(bad)
    assert bad.split(".")[0] in str(info.value)


def test_split_of_every_benchmark():
    def meta(setup=1, camera=1, subject=1):
        return dict(setup=setup, camera=camera, subject=subject, replication=1, action=1)

    assert ntu.split_of(meta(subject=1), "xsub") == "train"
    assert ntu.split_of(meta(subject=3), "xsub") == "test"
    assert ntu.split_of(meta(subject=38), "xsub") == "train"
    assert ntu.split_of(meta(subject=45), "xsub") == "test"  # NTU-120 only training subject
    assert ntu.split_of(meta(camera=1), "xview") == "test"
    assert ntu.split_of(meta(camera=2), "xview") == "train"
    assert ntu.split_of(meta(camera=3), "xview") == "train"
    assert ntu.split_of(meta(subject=45), "xsub120") == "train"
    assert ntu.split_of(meta(subject=103), "xsub120") == "train"
    assert ntu.split_of(meta(subject=44), "xsub120") == "test"
    assert ntu.split_of(meta(setup=2), "xset120") == "train"
    assert ntu.split_of(meta(setup=32), "xset120") == "train"
    assert ntu.split_of(meta(setup=1), "xset120") == "test"
    assert ntu.split_of("S017C001P001R001A001", "xset120") == "test"  # a name works too
    assert len(ntu.NTU60_XSUB_TRAIN_SUBJECTS) == 20 and len(ntu.NTU120_XSUB_TRAIN_SUBJECTS) == 53
    with pytest.raises(ValueError, match="unknown benchmark"):
        ntu.split_of(meta(), "xset")


def test_ntu_class_names():
    names = ntu.NTU120_CLASS_NAMES
    assert len(names) == 120 and len(set(names)) == 120
    assert names[0] == "drink water"
    assert names[12] == "tear up paper"
    assert names[49] == "punching/slapping other person"
    assert names[59] == "walking apart from each other"
    assert names[60] == "put on headphone"
    assert names[119] == "finger-guessing game (playing rock-paper-scissors)"
    assert ntu.NTU60_CLASS_NAMES == names[:60]


# --------------------------------------------------------------------------------------------
# NTU RGB+D: one file
# --------------------------------------------------------------------------------------------
def test_skeleton_file_round_trip(tmp_path):
    a = moving_body(6, 0.1)
    b = moving_body(3, 0.2, offset=(1.0, 0.0, 0.5))
    color = RNG.uniform(0, 1900, (3, 25, 2))
    state = np.full((3, 25), 2)
    state[1, 7] = 1
    path = write(tmp_path, "S001C002P003R002A013", [
        {"bodyID": 72057594037931101, "xyz": a},
        {"bodyID": 7, "xyz": b, "frames": [1, 2, 4], "color_xy": color, "tracking_state": state},
    ], num_frames=7)
    lines = path.read_text().splitlines()
    assert lines[0] == "7" and lines[1] == "1"  # frame count, then frame 1's body count
    assert len(lines[2].split()) == 10 and lines[3] == "25" and len(lines[4].split()) == 12

    raw = ntu.read_skeleton_file(path)
    assert raw["num_frames"] == 7
    np.testing.assert_array_equal(raw["body_counts"], [1, 2, 2, 1, 2, 1, 0])
    assert list(raw["bodies"]) == [72057594037931101, 7]
    ba, bb = raw["bodies"][72057594037931101], raw["bodies"][7]
    np.testing.assert_array_equal(ba["frames"], np.arange(6))
    np.testing.assert_array_equal(bb["frames"], [1, 2, 4])
    np.testing.assert_allclose(ba["xyz"], a, atol=1e-6)
    np.testing.assert_allclose(bb["xyz"], b, atol=1e-6)
    np.testing.assert_allclose(bb["color_xy"], color, rtol=1e-6)
    np.testing.assert_array_equal(bb["tracking_state"], state)
    assert ba["xyz"].dtype == np.float32 and ba["xyz"].shape == (6, 25, 3)
    assert ba["depth_xy"].shape == (6, 25, 2) and ba["orientation"].shape == (6, 25, 4)
    # default colour pixels: a projection, so a joint further right (larger x) has a larger colorX
    assert (ba["color_xy"][..., 0] > 0).all() and (ba["color_xy"][..., 0] < 1920).all()


def test_two_most_active_bodies_are_kept(tmp_path):
    T = 40
    actor_a = moving_body(T, 0.30)
    actor_b = moving_body(T, 0.20, offset=(1.2, 0.0, 0.0))
    chair = moving_body(T, 0.0, offset=(-1.0, -0.5, 0.5))  # static: tracked throughout, no motion
    ghost = REST[None] + RNG.normal(0.0, 0.25, (3, 25, 3))  # flickers in for 3 frames, very noisy
    # the ghost's raw variance beats actor B's: only the presence weighting makes it lose
    assert ghost.var(0).sum() > actor_b.var(0).sum()
    path = write(tmp_path, "S001C001P001R001A050", [
        {"bodyID": 11, "xyz": chair},
        {"bodyID": 22, "xyz": ghost, "frames": [5, 6, 7]},
        {"bodyID": 33, "xyz": actor_b},
        {"bodyID": 44, "xyz": actor_a},
    ])
    with pytest.warns(UserWarning, match="body beyond max_bodies"):
        s = ntu.load_ntu_sample(path, max_frames=50)
    np.testing.assert_array_equal(s.body_ids, [44, 33])  # most active first
    assert s.activity[0] > s.activity[1] > 0
    np.testing.assert_allclose(s.joints[0, :T], actor_a, atol=1e-6)
    np.testing.assert_allclose(s.joints[1, :T], actor_b, atol=1e-6)
    assert s.joints.shape == (2, 50, 25, 3) and s.joints.dtype == np.float32
    assert s.color_xy.shape == (2, 50, 25, 2)
    assert s.valid_frames == T
    assert s.report.counts == {"body beyond max_bodies (least active)": 2}
    dropped = " ".join(reason for _, reason in s.report.items)
    assert "bodyID 11" in dropped and "bodyID 22" in dropped
    assert s.meta["action"] == 50


def test_activity_weighting():
    noisy = RNG.normal(0, 0.3, (3, 25, 3))
    assert ntu.body_activity(noisy, 30) == pytest.approx(noisy.var(0).sum() / 10)
    assert ntu.body_activity(noisy) == pytest.approx(noisy.var(0).sum())
    assert ntu.body_activity(noisy[:1], 30) == 0.0
    with pytest.raises(ValueError):
        ntu.body_activity(noisy, 2)


def test_valid_frames_removes_empty_frames_and_pads(tmp_path):
    # 12 frames; the body is present in frames 2..9 except 5 -> 7 frames kept
    frames = [2, 3, 4, 6, 7, 8, 9]
    xyz = moving_body(len(frames), 0.2)
    path = write(tmp_path, "S002C001P004R001A001", [{"bodyID": 1, "xyz": xyz, "frames": frames}],
                 num_frames=12)
    report = SkipReport()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # with a report passed in, nothing is warned
        s = ntu.load_ntu_sample(path, max_frames=10, report=report)
    assert s.valid_frames == 7
    np.testing.assert_allclose(s.joints[0, :7], xyz, atol=1e-6)
    assert not s.joints[:, 7:].any() and not s.color_xy[:, 7:].any()
    assert not s.joints[1].any()  # the second body slot is empty
    np.testing.assert_array_equal(s.body_ids, [1, -1])
    np.testing.assert_array_equal(s.frame_index, frames + [-1, -1, -1])
    assert report.counts == {"frame without a kept body (removed)": 5}

    with pytest.warns(UserWarning, match="frame beyond max_frames"):
        short = ntu.load_ntu_sample(path, max_frames=4, long_sequences="truncate")
    assert short.valid_frames == 4 and short.joints.shape[1] == 4
    assert short.report.counts["frame beyond max_frames (truncated)"] == 3
    np.testing.assert_allclose(short.joints[0], xyz[:4], atol=1e-6)

    # the default resamples a long sequence over its whole length, so ratios keep their meaning
    with pytest.warns(UserWarning, match="longer than max_frames"):
        res = ntu.load_ntu_sample(path, max_frames=4)
    assert res.valid_frames == 4 and res.report.counts["sequence longer than max_frames (resampled)"] == 1
    keep = [0, 2, 4, 6]  # round(linspace(0, 6, 4)) = 0, 2, 4, 6
    np.testing.assert_allclose(res.joints[0], xyz[keep], atol=1e-6)
    np.testing.assert_array_equal(res.frame_index, [frames[k] for k in keep])
    with pytest.raises(ValueError, match="long_sequences"):
        ntu.load_ntu_sample(path, long_sequences="crop")


# Fixture layout (2 frames, 1 body): line 1 frame count; frame 1: line 2 body count, line 3 body
# info, line 4 joint count, lines 5-29 joints; frame 2: lines 30, 31, 32 and 33-57.
def _edit(lines, lineno, new):
    lines[lineno - 1] = new


def _swap_token(lines, lineno, k, token):
    toks = lines[lineno - 1].split()
    toks[k] = token
    lines[lineno - 1] = " ".join(toks)


@pytest.mark.parametrize("corrupt, line, field, message", [
    (lambda L: _edit(L, 32, "24"), 32, "joint count", "expected 25, got 24"),
    (lambda L: _swap_token(L, 7, 1, "abc"), 7, "y", "not a number"),
    (lambda L: _swap_token(L, 40, 11, "x2"), 40, "trackingState", "not a number"),
    (lambda L: _swap_token(L, 8, 2, "nan"), 8, "z", "non-finite"),
    (lambda L: _edit(L, 31, "1 0 1 1 1 1 0 0 0"), 31, "body info", "expected 10 fields"),
    (lambda L: _edit(L, 3, "abc 0 1 1 1 1 0 0 0 2"), 3, "bodyID", "expected an integer"),
    (lambda L: _edit(L, 12, "0.1 0.2 3.0 1 2 3 4 1 0 0"), 12, "joint", "expected 12 fields"),
    (lambda L: _edit(L, 20, ""), 20, "joint", "expected 12 fields, got 0"),
    (lambda L: _swap_token(L, 50, 11, "3"), 50, "trackingState", "must be 0, 1 or 2"),
    (lambda L: _edit(L, 1, "two"), 1, "frame count", "expected an integer"),
    (lambda L: _edit(L, 1, "3"), 58, "body count", "unexpected end of file"),
    (lambda L: L.__delitem__(slice(45, None)), 46, "joint", "unexpected end of file"),
    (lambda L: L.append("1"), 58, "frame count", "unexpected text after the last"),
])
def test_malformed_skeleton_files(tmp_path, corrupt, line, field, message):
    path = write(tmp_path, "S001C001P001R001A001", [{"bodyID": 5, "xyz": moving_body(2, 0.1)}])
    lines = path.read_text().splitlines()
    assert len(lines) == 57
    corrupt(lines)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError) as info:
        ntu.read_skeleton_file(path)
    text = str(info.value)
    assert text.startswith(f"S001C001P001R001A001.skeleton, line {line}, field '{field}'"), text
    assert message in text
    assert info.value.line == line and info.value.field == field


def test_repeated_body_id_in_a_frame(tmp_path):
    path = write(tmp_path, "S001C001P001R001A001", [{"bodyID": 5, "xyz": moving_body(1, 0.1)},
                                                    {"bodyID": 6, "xyz": moving_body(1, 0.1)}])
    text = path.read_text().replace("\n6 0 1", "\n5 0 1")
    path.write_text(text)
    with pytest.raises(FormatError, match=r"line 30, field 'bodyID': bodyID 5 appears twice"):
        ntu.read_skeleton_file(path)


def test_missing_list(tmp_path):
    path = tmp_path / "NTU_RGBD_samples_with_missing_skeletons.txt"
    path.write_text("302 of the captured samples in the \"NTU RGB+D\" dataset have missing skeletons.\n"
                    "If you are working on skeleton-based analysis, please ignore these files.\n\n"
                    "S001C002P005R002A008\nS001C002P006R001A008.skeleton\n\n")
    assert ntu.read_missing_list(path) == {"S001C002P005R002A008", "S001C002P006R001A008"}
    path.write_text("header\nS001C002P005R002A008\noops\n")
    with pytest.raises(FormatError, match=r"line 3, field 'sample name'"):
        ntu.read_missing_list(path)


# --------------------------------------------------------------------------------------------
# NTU RGB+D: the data set
# --------------------------------------------------------------------------------------------
@pytest.fixture
def ntu_root(tmp_path):
    root = tmp_path / "nturgb+d_skeletons"
    root.mkdir()
    one = [{"bodyID": 1, "xyz": moving_body(8, 0.2)}]
    two = [{"bodyID": 1, "xyz": moving_body(8, 0.2)},
           {"bodyID": 2, "xyz": moving_body(8, 0.1, offset=(1, 0, 0))}]
    three = two + [{"bodyID": 3, "xyz": moving_body(8, 0.0, offset=(-1, 0, 0))}]  # a static third body
    samples = {
        "S001C001P001R001A001": one,    # xsub train, xview test
        "S001C002P001R001A050": three,  # xsub train, xview train
        "S001C003P003R001A001": one,    # xsub test
        "S002C002P002R002A013": one,    # xsub train
        "S002C002P008R001A013": one,    # xsub train; in the missing list
        "S001C001P004R001A002": [],     # xsub train; no body at all
        "S018C001P045R001A061": one,    # NTU-120 only
    }
    for name, bodies in samples.items():
        write(root, name, bodies, num_frames=None if bodies else 5)
    write(root, "S002C002P002R002A013", one, num_frames=10)  # two empty frames at the end
    broken = write(root, "S003C002P001R001A013", one)  # xsub train; malformed
    lines = broken.read_text().splitlines()
    lines[3] = "24"
    broken.write_text("\n".join(lines) + "\n")
    (root / "notes.skeleton").write_text("1\n0\n")  # not an NTU name
    missing = tmp_path / "missing.txt"
    missing.write_text("Samples with missing skeletons:\n\nS002C002P008R001A013\n")
    return root, missing


def test_load_ntu_dataset_counts_everything(ntu_root):
    root, missing = ntu_root
    with pytest.warns(UserWarning, match=r"NTU RGB\+D \(xsub, train\): skipped"):
        data, report = ntu.load_ntu_dataset(root, "xsub", "train", max_frames=16, missing_list=missing)
    assert isinstance(data, SkeletonArrays)
    assert data.names == ["S001C001P001R001A001", "S001C002P001R001A050", "S002C002P002R002A013"]
    np.testing.assert_array_equal(data.labels, [0, 49, 12])
    np.testing.assert_array_equal(data.subjects, [1, 1, 2])
    np.testing.assert_array_equal(data.cameras, [1, 2, 2])
    np.testing.assert_array_equal(data.valid_frames, [8, 8, 8])
    assert data.joints.shape == (3, 2, 16, 25, 3) and data.joints.dtype == np.float32
    np.testing.assert_allclose(data.joints[0, 0, :8], moving_body(8, 0.2), atol=1e-6)
    assert not data.joints[0, 1].any()
    np.testing.assert_allclose(data.joints[1, 1, :8], moving_body(8, 0.1, offset=(1, 0, 0)), atol=1e-6)
    assert len(data.class_names) == 60 and data.class_names[12] == "tear up paper"
    assert data.skeleton_name == "ntu25"
    assert report.counts == {"bad file name": 1, "malformed file": 1, "listed as missing skeletons": 1,
                             "no body in any frame": 1, "body beyond max_bodies (least active)": 1,
                             "frame without a kept body (removed)": 2}
    items = dict(report.items)
    bad = [reason for path, reason in report.items if path.endswith("S003C002P001R001A013.skeleton")]
    assert bad and "line 4, field 'joint count': expected 25, got 24" in bad[0]
    assert any(p.endswith("notes.skeleton") for p in items)
    assert report.filtered == {"test split": 1, "not in NTU RGB+D 60 (setup > 17 or action > 60)": 1}


def test_load_ntu_dataset_benchmarks_classes_limit(ntu_root):
    root, missing = ntu_root
    test, _ = quiet(ntu.load_ntu_dataset, root, "xsub", "test", max_frames=8)
    assert test.names == ["S001C003P003R001A001"]
    xview, _ = quiet(ntu.load_ntu_dataset, root, "xview", "test", max_frames=8)
    assert xview.names == ["S001C001P001R001A001"]  # camera 1 (the empty C001 sample is counted)
    x120, _ = quiet(ntu.load_ntu_dataset, root, "xsub120", "train", max_frames=8, missing_list=missing)
    assert "S018C001P045R001A061" in x120.names and len(x120.class_names) == 120
    assert x120.labels[x120.names.index("S018C001P045R001A061")] == 60
    xset, _ = quiet(ntu.load_ntu_dataset, root, "xset120", "train", max_frames=8)
    assert xset.names == ["S002C002P002R002A013", "S002C002P008R001A013", "S018C001P045R001A061"]
    picked, rep = quiet(ntu.load_ntu_dataset, root, "xsub", "train", max_frames=8, classes=[13, 1],
                        missing_list=missing)
    assert picked.names == ["S001C001P001R001A001", "S002C002P002R002A013"]
    np.testing.assert_array_equal(picked.labels, [1, 0])
    assert picked.class_names == ["tear up paper", "drink water"]
    assert rep.filtered["class not requested"] == 2  # A050 and A002
    limited, rep = quiet(ntu.load_ntu_dataset, root, "xsub", "train", max_frames=8, limit=1)
    assert len(limited) == 1 and rep.filtered["beyond limit"] >= 3
    sub = limited.subset([0])
    assert sub.names == limited.names and sub.joints.shape == limited.joints.shape
    with pytest.raises(ValueError, match="unknown benchmark"):
        ntu.load_ntu_dataset(root, "cross-view")
    with pytest.raises(ValueError, match="classes"):
        ntu.load_ntu_dataset(root, "xsub", classes=[61])


def test_skeleton_arrays_subset_and_validation():
    arr = SkeletonArrays(joints=np.arange(4 * 2 * 3 * 25 * 3, dtype=np.float32).reshape(4, 2, 3, 25, 3),
                         labels=[0, 1, 2, 1], valid_frames=[3, 3, 2, 1], subjects=[1, 2, 3, 4],
                         cameras=[1, 1, 2, 3], names=list("abcd"), class_names=["x", "y", "z"])
    sub = arr.subset(np.array([True, False, True, False]))
    assert len(sub) == 2 and sub.names == ["a", "c"]
    np.testing.assert_array_equal(sub.labels, [0, 2])
    np.testing.assert_array_equal(sub.joints, arr.joints[[0, 2]])
    assert sub.class_names == ["x", "y", "z"]
    assert arr.subset(slice(1, 3)).names == ["b", "c"]
    with pytest.raises(ValueError, match="labels"):
        SkeletonArrays(joints=arr.joints, labels=[0, 1], valid_frames=[1] * 4, subjects=None,
                       cameras=None, names=list("abcd"), class_names=["x", "y"])
    with pytest.raises(ValueError, match="labels"):
        SkeletonArrays(joints=arr.joints, labels=[0, 1, 2, 3], valid_frames=[1] * 4, subjects=None,
                       cameras=None, names=list("abcd"), class_names=["x", "y"])


# --------------------------------------------------------------------------------------------
# Kinetics-skeleton
# --------------------------------------------------------------------------------------------
def _person(x, y, score):
    pose = np.stack([np.full(18, x, float), np.full(18, y, float)], -1)
    pose[:, 0] += np.arange(18) * 0.01  # joints distinguishable
    return pose, np.full(18, score, float)


def test_kinetics_clip_centring_and_score_zeroing(tmp_path):
    pose, score = _person(0.6, 0.25, 0.8)
    score[3] = 0.0  # an undetected joint
    path = tmp_path / "clip.json"
    kinetics.write_kinetics_clip(path, [pose[None], pose[None] + 0.1], [score[None], score[None]],
                                 frame_indices=[1, 3], label="abseiling", label_index=0)
    out = kinetics.load_kinetics_clip(path, max_frames=5, max_persons=2)
    assert out.shape == (3, 5, 18, 2) and out.dtype == np.float32
    expect_x = pose[:, 0] - 0.5
    expect_x[3] = 0.0
    np.testing.assert_allclose(out[0, 0, :, 0], expect_x, atol=1e-6)
    expect_y = np.full(18, 0.25 - 0.5)
    expect_y[3] = 0.0
    np.testing.assert_allclose(out[1, 0, :, 0], expect_y, atol=1e-6)
    np.testing.assert_allclose(out[2, 0, :, 0], score, atol=1e-6)
    assert not out[:, 1].any()  # frame_index 2 is absent
    np.testing.assert_allclose(out[1, 2, 0, 0], 0.35 - 0.5, atol=1e-6)  # frame_index 3 -> t = 2
    assert not out[..., 1].any()  # no second person
    assert np.abs(out[:2]).max() <= 0.5


def test_kinetics_persons_sorted_by_mean_score_per_frame(tmp_path):
    p_lo, s_lo = _person(0.1, 0.1, 0.2)
    p_hi, s_hi = _person(0.9, 0.9, 0.9)
    p_mid, s_mid = _person(0.5, 0.5, 0.5)
    s_mid[0] = 1.0  # max score would prefer this person; the mean does not
    path = tmp_path / "clip.json"
    kinetics.write_kinetics_clip(path, [np.stack([p_lo, p_hi, p_mid]), np.stack([p_mid, p_lo])],
                                 [np.stack([s_lo, s_hi, s_mid]), np.stack([s_mid, s_lo])])
    rep = SkipReport()
    out = kinetics.load_kinetics_clip(path, max_frames=2, max_persons=2, report=rep)
    np.testing.assert_allclose(out[2, 0, 1], [0.9, s_mid[1]])  # frame 1: best, then the middle one
    np.testing.assert_allclose(out[0, 0, 0], [0.9 - 0.5, 0.5 - 0.5], atol=1e-6)
    np.testing.assert_allclose(out[0, 1, 0], [0.5 - 0.5, 0.1 - 0.5], atol=1e-6)  # frame 2 keeps its order
    assert rep.counts == {"person beyond max_persons in a frame (lowest mean score)": 1}
    with pytest.warns(UserWarning, match="person beyond max_persons"):
        kinetics.load_kinetics_clip(path, max_frames=2, max_persons=1)


def _clip_dict(n_frames=2):
    pose, score = _person(0.5, 0.5, 0.7)
    return {"data": [{"frame_index": t + 1, "skeleton": [{"pose": pose.reshape(-1).tolist(),
                                                          "score": score.tolist()}]}
                     for t in range(n_frames)], "label": "abseiling", "label_index": 0}


def _set(d, keys, value):
    for k in keys[:-1]:
        d = d[k]
    d[keys[-1]] = value


@pytest.mark.parametrize("mutate, field, fragment", [
    (lambda d: d.pop("data"), "data", "missing key"),
    (lambda d: _set(d, ["data", 1, "skeleton", 0, "pose"], [0.5] * 34), "data[1].skeleton[0].pose",
     "expected 36 numbers (frame_index 2), got 34"),
    (lambda d: _set(d, ["data", 0, "skeleton", 0, "pose", 3], "0.5"), "data[0].skeleton[0].pose[3]",
     "not a number (frame_index 1)"),
    (lambda d: _set(d, ["data", 0, "skeleton", 0, "score", 17], None), "data[0].skeleton[0].score[17]",
     "not a number"),
    (lambda d: d["data"][1]["skeleton"][0].pop("score"), "data[1].skeleton[0].score", "missing key"),
    (lambda d: d["data"][0].pop("frame_index"), "data[0].frame_index", "missing key"),
    (lambda d: _set(d, ["data", 1, "frame_index"], 0), "data[1].frame_index", "1-based"),
    (lambda d: _set(d, ["data", 1, "frame_index"], 1), "data[1].frame_index", "appears twice"),
])
def test_malformed_kinetics_clips(tmp_path, mutate, field, fragment):
    video = _clip_dict()
    mutate(video)
    path = tmp_path / "abc123.json"
    path.write_text(json.dumps(video))
    with pytest.raises(FormatError) as info:
        kinetics.load_kinetics_clip(path)
    text = str(info.value)
    assert text.startswith(f"abc123.json, field '{field}'"), text
    assert fragment in text


def test_kinetics_invalid_json_names_line(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text('{"data": [\n{"frame_index": 1,\n "skeleton": [}\n]}')
    with pytest.raises(FormatError, match=r"bad.json, line 3: invalid JSON"):
        kinetics.load_kinetics_clip(path)


def test_kinetics_frames_beyond_max_frames_are_counted(tmp_path):
    path = tmp_path / "long.json"
    path.write_text(json.dumps(_clip_dict(5)))
    rep = SkipReport()
    out = kinetics.load_kinetics_clip(path, max_frames=3, report=rep)
    assert out.shape[1] == 3 and out[2, 2].any()
    assert rep.counts == {"frame beyond max_frames (truncated)": 2}


def test_load_kinetics_dataset(tmp_path):
    root = tmp_path / "kinetics_val"
    root.mkdir()
    good = _clip_dict()
    other = _clip_dict(3)
    other["label"], other["label_index"] = "zumba", 2
    (root / "aaa.json").write_text(json.dumps(good))
    (root / "bbb.json").write_text(json.dumps(other))
    (root / "ccc.json").write_text(json.dumps(_clip_dict()))  # has_skeleton false
    broken = _clip_dict()
    broken["data"][0]["skeleton"][0]["pose"] = [0.1] * 35
    (root / "ddd.json").write_text(json.dumps(broken))
    (root / "eee.json").write_text(json.dumps(good))  # not in the label file
    (root / "fff.json").write_text(json.dumps(good))  # clip says 0, label file says 2
    labels = {
        "aaa": {"has_skeleton": True, "label": "abseiling", "label_index": 0},
        "bbb": {"has_skeleton": True, "label": "zumba", "label_index": 2},
        "ccc": {"has_skeleton": False, "label": "abseiling", "label_index": 0},
        "ddd": {"has_skeleton": True, "label": "abseiling", "label_index": 0},
        "fff": {"has_skeleton": True, "label": "zumba", "label_index": 2},
        "ggg": {"has_skeleton": True, "label": "zumba", "label_index": 2},  # no file
    }
    label_file = tmp_path / "kinetics_val_label.json"
    label_file.write_text(json.dumps(labels))
    with pytest.warns(UserWarning, match=r"Kinetics-skeleton \(kinetics_val\): skipped"):
        data, report = kinetics.load_kinetics_dataset(root, label_file, max_frames=4)
    assert data.names == ["aaa", "bbb"]
    np.testing.assert_array_equal(data.labels, [0, 2])
    assert data.data.shape == (2, 3, 4, 18, 2) and data.data.dtype == np.float32
    assert data.class_names == ["abseiling", "<unknown>", "zumba"]
    assert report.counts == {"has_skeleton is false": 1, "malformed clip": 2, "clip not in the label file": 1,
                             "clip in the label file without a JSON file": 1}
    texts = [reason for _, reason in report.items]
    assert any("ddd.json, field 'data[0].skeleton[0].pose': expected 36 numbers" in t for t in texts)
    assert any("fff.json, field 'label_index'" in t for t in texts)
    limited, rep = quiet(kinetics.load_kinetics_dataset, root, label_file, max_frames=4, limit=1)
    assert limited.names == ["aaa"] and rep.filtered == {"beyond limit": 3}  # bbb, ddd, fff unread


# --------------------------------------------------------------------------------------------
# Human3.6M
# --------------------------------------------------------------------------------------------
VIDEOPOSE3D_KEPT = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]


def _h36m_seq(T, tag):
    """(T, 32, 3): x = joint index, y = frame, z = a per-sequence tag."""
    seq = np.zeros((T, 32, 3))
    seq[..., 0] = np.arange(32)
    seq[..., 1] = np.arange(T)[:, None]
    seq[..., 2] = tag
    return seq


def test_h36m_3d_round_trip_and_reduction(tmp_path):
    path = tmp_path / "data_3d_h36m.npz"
    h36m.write_h36m_npz(path, {"S1": {"Walking 1": _h36m_seq(5, 1), "TakingPhoto": _h36m_seq(4, 2)},
                               "S9": {"Walking": _h36m_seq(6, 3)}})
    raw = np.load(path, allow_pickle=True)["positions_3d"].item()  # the documented way to read it
    assert set(raw) == {"S1", "S9"}
    data = h36m.load_h36m_3d(path)
    assert list(data) == ["S1", "S9"]
    walk = data["S1"]["Walking 1"]
    assert walk.shape == (5, 17, 3) and walk.dtype == np.float32
    np.testing.assert_array_equal(walk[0, :, 0], VIDEOPOSE3D_KEPT)
    np.testing.assert_array_equal(walk[:, 0, 1], np.arange(5))
    full = h36m.load_h36m_3d(path, subjects=["S9"], reduce_to_17=False)
    assert list(full) == ["S9"] and full["S9"]["Walking"].shape == (6, 32, 3)
    np.testing.assert_array_equal(full["S9"]["Walking"], _h36m_seq(6, 3))


@pytest.mark.parametrize("content, subjects, field, fragment", [
    ({"positions_3d": {"S1": {"Walking 1": np.zeros((5, 31, 3))}}}, None,
     "positions_3d['S1']['Walking 1']", "expected a numeric array of shape (T, 32, 3), got shape (5, 31, 3)"),
    ({"positions_3d": {"S1": {"Eating": np.zeros((5, 32))}}}, None,
     "positions_3d['S1']['Eating']", "got shape (5, 32)"),
    ({"positions": {"S1": {}}}, None, "positions_3d", "missing key"),
    ({"positions_3d": np.zeros((3, 32, 3))}, None, "positions_3d", "expected a pickled dict"),
    ({"positions_3d": {"S1": {"Walking 1": np.zeros((5, 32, 3))}}}, ["S11"], "positions_3d['S11']",
     "subject not found"),
])
def test_malformed_h36m_npz(tmp_path, content, subjects, field, fragment):
    path = tmp_path / "data_3d_h36m.npz"
    arrays = {}
    for key, value in content.items():
        if isinstance(value, dict):
            obj = np.empty((), object)
            obj[()] = value
            value = obj
        arrays[key] = value
    np.savez(path, **arrays)
    with pytest.raises(FormatError) as info:
        h36m.load_h36m_3d(path, subjects=subjects)
    assert str(info.value).startswith(f"data_3d_h36m.npz, field {field!r}: "), str(info.value)
    assert fragment in str(info.value)


def test_h36m_windows_and_action_names():
    data = {"S1": {"Walking 1": np.ones((10, 17, 3)), "Walking": 2 * np.ones((7, 17, 3)),
                   "TakingPhoto": np.ones((3, 17, 3)), "Eating 2": np.ones((4, 17, 3))},
            "S5": {"Photo": np.arange(9 * 17 * 3, dtype=float).reshape(9, 17, 3)}}
    report = SkipReport()
    win, labels, names = h36m.h36m_windows(data, ["S1", "S5"], length=4, stride=3, report=report)
    assert names == ["Eating", "Photo", "Walking"]
    # S1: Eating 2 (4 frames) -> 1, TakingPhoto (3) -> skipped, Walking (7) -> 2, Walking 1 (10) -> 3;
    # S5: Photo (9) -> 2
    assert win.shape == (8, 4, 17, 3) and win.dtype == np.float32
    np.testing.assert_array_equal(labels, [0, 2, 2, 2, 2, 2, 1, 1])
    np.testing.assert_array_equal(win[-1], data["S5"]["Photo"][3:7])
    np.testing.assert_array_equal(win[-2], data["S5"]["Photo"][0:4])
    assert report.counts == {"sequence shorter than length": 1}
    assert report.items == [("S1/TakingPhoto", "sequence shorter than length: 3 < 4 frames")]
    only, lab, nm = quiet(h36m.h36m_windows, data, "S1", 4, 1, actions=["Walking"])
    assert nm == ["Walking"] and len(only) == 4 + 7 and (lab == 0).all()
    with pytest.warns(UserWarning, match="sequence shorter than length"):
        h36m.h36m_windows(data, ["S1"], 4, 3)
    with pytest.raises(ValueError, match="not present"):
        h36m.h36m_windows(data, ["S5"], 4, 3, actions=["Walking"])
    assert h36m.action_label("WalkingDog 1") == "WalkDog"
    assert h36m.action_label("SittingDown 2") == "SittingDown"
    assert set(h36m.H36M_TRAIN_SUBJECTS) & set(h36m.H36M_TEST_SUBJECTS) == set()


def test_h36m_2d(tmp_path):
    path = tmp_path / "data_2d_h36m_cpn_ft_h36m_dbb.npz"
    cams = [RNG.uniform(0, 1000, (6, 17, 2)) for _ in range(4)]
    h36m.write_h36m_2d_npz(path, {"S1": {"Walking 1": cams}})
    data, meta = h36m.load_h36m_2d(path, with_metadata=True)
    assert len(data["S1"]["Walking 1"]) == 4 and meta["num_joints"] == 17
    np.testing.assert_allclose(data["S1"]["Walking 1"][2], cams[2], rtol=1e-6)
    h36m.write_h36m_2d_npz(path, {"S1": {"Walking 1": [cams[0], cams[1][:, :16]]}})
    with pytest.raises(FormatError, match=r"data_2d_h36m_cpn_ft_h36m_dbb.npz, field "
                                          r"\"positions_2d\['S1'\]\['Walking 1'\]\[1\]\""):
        h36m.load_h36m_2d(path)
