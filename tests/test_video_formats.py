"""AVA CSV / label-map / excluded-timestamps formats, frame folders and NTU RGB + pose pairing.

All fixtures are written by the tests (no real data is available here); every malformed input
must raise a FormatError naming the file, the line and the field.
"""
from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

from paperlib.data import ava, frames as fr, ntu, video
from paperlib.data.errors import FormatError

GT_ROWS = """\
-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,80,1
-5KQ66BBWC4,0902,0.077,0.151,0.283,0.811,9,1
-5KQ66BBWC4,0902,0.332,0.194,0.480,0.891,12,0

1j20qq1JyX4,1798,0.000,0.000,1.000,1.000,17,5
"""


def _write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


# ----------------------------------------------------------------------------------------------
# AVA CSV
# ----------------------------------------------------------------------------------------------
def test_read_ground_truth_rows(tmp_path):
    a = ava.read_ava_csv(_write(tmp_path, "gt.csv", GT_ROWS))
    assert len(a) == 4 and not a.is_detection
    assert a.video_ids[0] == "-5KQ66BBWC4" and a.video_ids[3] == "1j20qq1JyX4"
    np.testing.assert_array_equal(a.timestamps, [902, 902, 902, 1798])
    np.testing.assert_allclose(a.boxes[0], [0.077, 0.151, 0.283, 0.811], atol=1e-7)
    assert a.action_ids.tolist() == [80, 9, 12, 17] and a.person_ids.tolist() == [1, 1, 0, 5]
    groups = ava.group_keyframes(a, num_classes=80)
    boxes, labels, pids = groups[("-5KQ66BBWC4", 902.0)]
    assert boxes.shape == (2, 4) and pids.tolist() == [1, 0]
    assert np.flatnonzero(labels[0]).tolist() == [8, 79] and np.flatnonzero(labels[1]).tolist() == [11]


@pytest.mark.parametrize("kind", ["groundtruth", "detections"])
def test_csv_round_trip(tmp_path, kind):
    rng = np.random.default_rng(0)
    n = 25
    xy = rng.uniform(0, 0.5, (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(0.01, 0.5, (n, 2))], 1)
    ts = rng.choice([902.0, 903.0, 1.125, 2.5], n)
    scores = rng.random(n).astype(np.float32) if kind == "detections" else None
    acts = rng.integers(1, 12, n)
    if kind == "detections":
        acts[0] = -1  # a class-agnostic person box
    a = ava.AvaAnnotations([f"vid{i % 3}" for i in range(n)], ts, boxes, acts,
                           np.full(n, -1) if kind == "detections" else rng.integers(0, 5, n), scores)
    ava.write_ava_csv(tmp_path / "x.csv", a)
    b = ava.read_ava_csv(tmp_path / "x.csv", kind=kind)
    assert b.video_ids == a.video_ids
    np.testing.assert_array_equal(b.timestamps, a.timestamps)
    np.testing.assert_allclose(b.boxes, a.boxes, atol=5e-4 + 1e-7)
    np.testing.assert_array_equal(b.action_ids, a.action_ids)
    np.testing.assert_array_equal(b.person_ids, a.person_ids)
    if kind == "detections":
        np.testing.assert_allclose(b.scores, a.scores, rtol=1e-5)
    text = (tmp_path / "x.csv").read_text()
    assert "0902" in text or "0903" in text  # whole seconds written the AVA way


BAD_ROWS = [
    ("v,0902,0.1,0.1,0.5,0.5,3\nv,0902,0.1,0.1,0.5\n", 2, "columns"),
    ("v,09x2,0.1,0.1,0.5,0.5,3,0\n", 1, "timestamp"),
    ("v,0902,0.1,0.1,1.5,0.5,3,0\n", 1, "x2"),
    ("v,0902,-0.1,0.1,0.5,0.5,3,0\n", 1, "x1"),
    ("v,0902,0.6,0.1,0.5,0.5,3,0\n", 1, "x1,y1,x2,y2"),
    ("v,0902,0.1,0.1,0.5,0.5,0,0\n", 1, "action_id"),
    ("v,0902,0.1,0.1,0.5,0.5,a,0\n", 1, "action_id"),
    ("v,0902,0.1,0.1,0.5,0.5,3,-2\n", 1, "person_id"),
    ("v,0902,0.1,0.1,0.5,0.5,3,0\n,0902,0.1,0.1,0.5,0.5,3,0\n", 2, "video_id"),
    ("video_id,timestamp,x1,y1,x2,y2,action_id,person_id,extra\n", 1, "columns"),
]


@pytest.mark.parametrize("text,line,field", BAD_ROWS)
def test_malformed_ground_truth_names_file_line_field(tmp_path, text, line, field):
    p = _write(tmp_path, "bad_gt.csv", text)
    with pytest.raises(FormatError) as err:
        ava.read_ava_csv(p)
    assert err.value.line == line and err.value.field == field
    assert "bad_gt.csv" in str(err.value) and f"line {line}" in str(err.value)


def test_malformed_detections_and_label_map_check(tmp_path):
    p = _write(tmp_path, "det.csv", "v,0902,0.1,0.1,0.5,0.5,3\n")
    with pytest.raises(FormatError, match="expected 8") as err:
        ava.read_ava_csv(p, kind="detections")
    assert err.value.line == 1
    p = _write(tmp_path, "det2.csv", "v,0902,0.1,0.1,0.5,0.5,3,0.5\nv,0902,0.1,0.1,0.5,0.5,3,nan\n")
    with pytest.raises(FormatError) as err:
        ava.read_ava_csv(p, kind="detections")
    assert err.value.line == 2 and err.value.field == "score"
    lm = ava.LabelMap({1: "stand", 2: "sit"}, {})
    p = _write(tmp_path, "gt.csv", "v,0902,0.1,0.1,0.5,0.5,2,0\nv,0902,0.1,0.1,0.5,0.5,5,0\n")
    with pytest.raises(FormatError, match="not in the label map") as err:
        ava.read_ava_csv(p, label_map=lm)
    assert err.value.line == 2
    with pytest.raises(ValueError, match="kind"):
        ava.read_ava_csv(p, kind="boxes")
    with pytest.raises(ValueError, match="normalised"):
        ava.write_ava_csv(tmp_path / "o.csv", ava.AvaAnnotations(["v"], [1], [[0, 0, 2, 1]], [1], [0]))


def test_excluded_timestamps(tmp_path):
    p = _write(tmp_path, "excl.csv", "vidA,0902\nvidB,1000\n")
    assert ava.read_excluded_timestamps(p) == {("vidA", 902.0), ("vidB", 1000.0)}
    p = _write(tmp_path, "excl_bad.csv", "vidA,0902\nvidB\n")
    with pytest.raises(FormatError) as err:
        ava.read_excluded_timestamps(p)
    assert err.value.line == 2


# ----------------------------------------------------------------------------------------------
# label maps
# ----------------------------------------------------------------------------------------------
ITEM_MAP = """item {
  name: "bend/bow (at the waist)"
  id: 1
}
item {
  name: "crawl"
  id: 2
}
"""
LABEL_MAP = """# AVA v2.2 style
label {
  name: "bend/bow (at the waist)"
  label_id: 1
  label_type: PERSON_MOVEMENT
}
label { name: "answer phone" label_id: 3 label_type: OBJECT_MANIPULATION }
"""


def test_label_map_styles_and_round_trip(tmp_path):
    a = ava.read_label_map(_write(tmp_path, "items.pbtxt", ITEM_MAP))
    assert a.names == {1: "bend/bow (at the waist)", 2: "crawl"} and a.types == {}
    b = ava.read_label_map(_write(tmp_path, "labels.pbtxt", LABEL_MAP))
    assert b.names == {1: "bend/bow (at the waist)", 3: "answer phone"}
    assert b.types == {1: "PERSON_MOVEMENT", 3: "OBJECT_MANIPULATION"} and b.class_ids == [1, 3]
    for style in ("item", "label"):
        names = list(video.MULTI_CLASS_NAMES) + ['say "hi"']
        ava.write_label_map(tmp_path / f"o_{style}.pbtxt", names, list(video.LABEL_TYPES) + ["PERSON_INTERACTION"],
                            style=style)
        c = ava.read_label_map(tmp_path / f"o_{style}.pbtxt")
        assert c.names == {i + 1: n for i, n in enumerate(names)}
        assert (c.types == {}) == (style == "item")
        if style == "label":
            assert c.types[7] == "PERSON_INTERACTION"


@pytest.mark.parametrize("text,line,field", [
    ('item {\n  name: "a"\n  id: 1\n}\nitem {\n  name: "b"\n  id: 1\n}\n', 7, "id"),
    ('item {\n  name: "a"\n  idx: 1\n}\n', 3, "idx"),
    ('item {\n  name: "a"\n}\n', 1, "id"),
    ('label {\n  name: "a"\n  label_id: 2\n  label_type: DANCING\n}\n', 4, "label_type"),
    ('item {\n  name: a\n  id: 1\n}\n', 2, "name"),
    ('item {\n  name: "a"\n  id: 0\n}\n', 3, "id"),
])
def test_label_map_errors(tmp_path, text, line, field):
    with pytest.raises(FormatError) as err:
        ava.read_label_map(_write(tmp_path, "bad.pbtxt", text))
    assert err.value.line == line and err.value.field == field and "bad.pbtxt" in str(err.value)
    with pytest.raises(FormatError, match="end of file"):
        ava.read_label_map(_write(tmp_path, "cut.pbtxt", 'item {\n  name: "a"\n'))


# ----------------------------------------------------------------------------------------------
# export of the rendered multi-person set
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def multi():
    return video.make_multi_person_clips(num_clips=6, frames=4, size=48, seed=3)


def test_export_ava_round_trip(tmp_path, multi):
    paths = ava.export_ava(multi, tmp_path, split="val")
    assert [os.path.basename(paths[k]) for k in ("csv", "label_map", "excluded")] == \
        list(ava.ava_release_names("v2.2", "val", 60).values())
    lm = ava.read_label_map(paths["label_map"])
    assert [lm.names[i + 1] for i in range(len(lm))] == list(video.MULTI_CLASS_NAMES)
    assert [lm.types[i + 1] for i in range(len(lm))] == list(video.LABEL_TYPES)
    gt = ava.read_ava_csv(paths["csv"], label_map=lm)
    assert len(gt) == int(multi.labels.sum())
    groups = ava.group_keyframes(gt, num_classes=len(lm))
    W, H = multi.camera.width, multi.camera.height
    for n, vid in enumerate(multi.video_ids):
        boxes, labels, pids = groups[(vid, 902.0)]
        assert pids.tolist() == np.flatnonzero(multi.present[n]).tolist()
        np.testing.assert_array_equal(labels, multi.labels[n, pids])
        np.testing.assert_allclose(boxes * [W, H, W, H], multi.boxes[n, multi.keyframe, pids], atol=5e-4 * W + 1e-4)
    # frames: the folder starts at 900 s, so the keyframe (902 s) is frame 2 * fps; JPEG is lossy but close
    k = paths["keyframe_index"]
    assert k == round(2 * multi.fps)
    clip = fr.read_frame_folder(os.path.join(paths["frames"], multi.video_ids[0]), num_samples=1, mode="center",
                                center=k)
    assert clip.indices.tolist() == [k] and clip.num_frames == k - multi.keyframe + multi.frames.shape[1]
    diff = np.abs(clip.frames[0].astype(int) - multi.frames[0, multi.keyframe].astype(int))
    assert diff.mean() < 8
    # detections in the same format evaluate with frame-AP: the ground truth scores itself 1.0
    from paperlib.metrics_ap import evaluate_ava
    det = ava.clips_to_ava(multi, scores=multi.labels.astype(np.float32))
    det.timestamps[:] = 902.0                                           # the exported keyframe second
    ava.write_ava_csv(tmp_path / "det.csv", det)
    res = evaluate_ava(gt, ava.read_ava_csv(tmp_path / "det.csv", kind="detections"))
    assert res.mean_ap == pytest.approx(1.0)


# ----------------------------------------------------------------------------------------------
# frame folders
# ----------------------------------------------------------------------------------------------
def _gradient_frames(T, H=24, W=32):
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([np.stack([(x * 8 + 20 * t) % 256, (y * 10) % 256, np.full_like(x, 25 * t % 256)], -1)
                     for t in range(T)]).astype(np.uint8)


def test_frame_folder_round_trip_and_sampling(tmp_path):
    f = _gradient_frames(10)
    paths = fr.write_frame_folder(tmp_path / "clip", f)
    assert os.path.basename(paths[0]) == "img_00001.jpg" and os.path.basename(paths[-1]) == "img_00010.jpg"
    allf = fr.read_frame_folder(tmp_path / "clip")
    assert allf.frames.shape == (10, 24, 32, 3) and allf.num_frames == 10
    assert np.abs(allf.frames.astype(int) - f.astype(int)).mean() < 4
    u = fr.read_frame_folder(tmp_path / "clip", num_samples=4)
    assert u.indices.tolist() == [1, 3, 6, 8]  # floor((k + 0.5) * 10 / 4)
    np.testing.assert_array_equal(u.frames, allf.frames[u.indices])
    c = fr.read_frame_folder(tmp_path / "clip", num_samples=5, mode="center", center=8, stride=2)
    assert c.indices.tolist() == [4, 6, 8, 9, 9]  # clamped at the end
    small = fr.read_frame_folder(tmp_path / "clip", num_samples=2, size=(12, 16))
    assert small.frames.shape == (2, 12, 16, 3)
    assert fr.sample_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]
    with pytest.raises(ValueError, match="mode"):
        fr.sample_indices(10, 2, mode="random")
    with pytest.raises(ValueError, match="center"):
        fr.sample_indices(10, 2, mode="center", center=10)


def test_frame_folder_errors_name_folder_and_frame(tmp_path):
    fr.write_frame_folder(tmp_path / "gap", _gradient_frames(6))
    os.remove(tmp_path / "gap" / "img_00004.jpg")
    with pytest.raises(FormatError, match="missing frame img_00004.jpg") as err:
        fr.read_frame_folder(tmp_path / "gap", num_samples=2)
    assert "gap" in str(err.value) and err.value.field == "frame"
    with pytest.raises(FormatError, match="does not exist"):
        fr.read_frame_folder(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FormatError, match="no frames"):
        fr.read_frame_folder(tmp_path / "empty")
    fr.write_frame_folder(tmp_path / "late", _gradient_frames(3), start=2)
    with pytest.raises(FormatError, match="img_00001.jpg"):
        fr.read_frame_folder(tmp_path / "late")
    fr.write_frame_folder(tmp_path / "corrupt", _gradient_frames(3))
    (tmp_path / "corrupt" / "img_00002.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(FormatError, match="cannot decode") as err:
        fr.read_frame_folder(tmp_path / "corrupt")
    assert os.path.basename(err.value.path) == "img_00002.jpg"
    fr.write_frame_folder(tmp_path / "sizes", _gradient_frames(2))
    fr.write_frame_folder(tmp_path / "sizes", _gradient_frames(1, H=20), start=3)
    with pytest.raises(FormatError, match="differs") as err:
        fr.read_frame_folder(tmp_path / "sizes")
    assert err.value.field == "size" and os.path.basename(err.value.path) == "img_00003.jpg"


# ----------------------------------------------------------------------------------------------
# NTU RGB frames + colorX/colorY pose
# ----------------------------------------------------------------------------------------------
def _ntu_fixture(tmp_path, T=12, rgb_frames=None, body_frames=None):
    rng = np.random.default_rng(0)
    frames_b = np.arange(T) if body_frames is None else np.asarray(body_frames)
    xyz = rng.normal(0, 0.3, (len(frames_b), 25, 3)) + [0, 0, 3.0]
    xyz += np.linspace(0, 0.5, len(frames_b))[:, None, None]  # some motion (activity ranking)
    color = rng.uniform(100, 1800, (len(frames_b), 25, 2))
    skel = tmp_path / "S001C002P003R001A010.skeleton"
    ntu.write_skeleton_file(skel, [{"bodyID": 7, "xyz": xyz, "frames": frames_b, "color_xy": color}], num_frames=T)
    folder = tmp_path / "S001C002P003R001A010_rgb"
    fr.write_frame_folder(folder, _gradient_frames(T if rgb_frames is None else rgb_frames, H=27, W=48))
    return skel, folder, frames_b, color


def test_ntu_rgb_pose_pairs_frames_and_scaled_color_joints(tmp_path):
    skel, folder, frames_b, color = _ntu_fixture(tmp_path, body_frames=[0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a frame without a body is not a loss here: no warning
        clip = fr.load_ntu_rgb_pose(folder, skel, num_samples=6)
    assert clip.frames.shape == (6, 27, 48, 3) and clip.joints2d.shape == (2, 6, 25, 2)
    assert clip.indices.tolist() == [1, 3, 5, 7, 9, 11]
    assert clip.name == "S001C002P003R001A010" and clip.skeleton_frames == 12
    scale = np.array([48 / 1920, 27 / 1080])
    lookup = {int(t): k for k, t in enumerate(frames_b)}
    for k, t in enumerate(clip.indices):
        np.testing.assert_allclose(clip.joints2d[0, k], color[lookup[int(t)]] * scale, rtol=1e-5)
    assert clip.present[0].all() and not clip.present[1].any()
    # frame 4 has no body: present is False there and the pose is zeros
    c4 = fr.load_ntu_rgb_pose(folder, skel, num_samples=1, mode="center", center=4)
    assert not c4.present[0, 0] and not c4.joints2d[0, 0].any()


def test_ntu_rgb_pose_frame_count_mismatch_warns(tmp_path):
    skel, folder, _, _ = _ntu_fixture(tmp_path, T=8, rgb_frames=10)
    with pytest.warns(UserWarning, match="RGB and skeleton frame counts differ"):
        clip = fr.load_ntu_rgb_pose(folder, skel, num_samples=10)
    assert clip.present[0, :8].all() and not clip.present[0, 8:].any()
    from paperlib.data.errors import SkipReport
    rep = SkipReport(source="set")                       # a data set's loader collects, and warns once itself
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fr.load_ntu_rgb_pose(folder, skel, num_samples=10, report=rep)
    assert any("10 RGB frames, 8 skeleton frames" in str(item) for item in rep.items), rep.items
    bad = tmp_path / "S001C001P001R001A001.skeleton"
    bad.write_text("twelve\n")
    with pytest.raises(FormatError) as err:
        fr.load_ntu_rgb_pose(folder, bad)
    assert err.value.line == 1
    (tmp_path / "ok").mkdir()
    skel2, folder2, _, _ = _ntu_fixture(tmp_path / "ok")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fr.load_ntu_rgb_pose(folder2, skel2, num_samples=3)  # equal counts: no warning


def test_ntu_rgb_pose_warns_about_dropped_bodies(tmp_path):
    rng = np.random.default_rng(1)
    T = 5
    bodies = [{"bodyID": i, "xyz": rng.normal(0, 0.1 * (i + 1), (T, 25, 3)) + [0, 0, 3.0]} for i in range(3)]
    skel = tmp_path / "S001C001P001R001A050.skeleton"
    ntu.write_skeleton_file(skel, bodies)
    fr.write_frame_folder(tmp_path / "rgb", _gradient_frames(T))
    with pytest.warns(UserWarning, match="body beyond max_bodies"):
        clip = fr.load_ntu_rgb_pose(tmp_path / "rgb", skel, num_samples=T)
    assert clip.present.all()
