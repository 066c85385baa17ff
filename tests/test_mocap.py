"""Tests of paperlib.data.mocap against the DeepMimic clips installed with pybullet.

Tolerances were chosen after looking at the data (numbers observed with pybullet 3.2.7):
walk clip, lowest corner of the two foot boxes per frame in [-0.005, 0.014] m; lowest joint
per frame (the ankles) in [0.053, 0.079] m; lowest NTU-25 joint per frame in [0.037, 0.045] m.
"""
from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest

from paperlib.data import mocap
from paperlib.kinematics import axis_angle_to_matrix, forward_kinematics
from paperlib.skeleton import DEEPMIMIC, NTU25

FPS = 30.0
EXPECTED = ["backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown",
            "getup_faceup", "jump", "kick", "punch", "roll", "run", "spin", "spinkick", "walk"]


@pytest.fixture(scope="module")
def clips():
    return mocap.load_all(fps=FPS)


def _raw(name):
    with open(mocap.data_dir() / "data" / "motions" / f"humanoid3d_{name}.txt") as f:
        return json.load(f)


def _bone_lengths(P, parents):
    child = [j for j, p in enumerate(parents) if p >= 0]
    par = [parents[j] for j in child]
    return np.linalg.norm(P[:, child] - P[:, par], axis=-1)  # (T, B)


# --------------------------------------------------------------------------------------------
def test_list_clips_and_shapes(clips):
    assert mocap.list_clips() == EXPECTED
    assert list(clips) == EXPECTED
    for name, c in clips.items():
        T = c.num_frames
        assert c.name == name and c.fps == FPS
        assert c.positions.shape == (T, 15, 3) and c.rotations.shape == (T, 15, 3)
        assert c.root_translation.shape == (T, 3)
        assert np.isfinite(c.positions).all() and np.isfinite(c.rotations).all()
        np.testing.assert_allclose(c.positions[:, 0], c.root_translation)
        # the fixed wrists never rotate
        assert np.all(c.rotations[:, [DEEPMIMIC.index("right_wrist"), DEEPMIMIC.index("left_wrist")]] == 0)
    assert mocap.load_clip("humanoid3d_walk.txt").num_frames == clips["walk"].num_frames


def test_frame_counts_follow_durations_and_loop(clips):
    for name, c in clips.items():
        raw = _raw(name)
        durations = [fr[0] for fr in raw["Frames"]]
        D = sum(durations[:-1])  # key frame k is at the sum of the durations before it
        loop = raw["Loop"] == "wrap"
        n = D * FPS
        expected = math.ceil(n - 0.01) if loop else math.floor(n + 0.01) + 1
        assert c.loop == loop, name
        assert c.num_frames == expected, (name, c.num_frames, expected)
        assert c.source_duration == pytest.approx(D)
        # the samples cover the clip: a looping clip stops less than one frame before D, a
        # non-looping one reaches D (within 1 % of a frame)
        last_t = (c.num_frames - 1) / FPS
        if loop:
            assert D - 1 / FPS <= last_t < D
        else:
            assert abs(last_t - D) < 0.01 / FPS + 1e-9
    assert clips["walk"].num_frames == 38 and clips["kick"].num_frames == 47


def test_resampling_hits_key_frames():
    raw = _raw("kick")  # non-looping: first and last samples are the first and last key frames
    c = mocap.load_clip("kick", fps=FPS)
    np.testing.assert_allclose(c.root_translation[0], raw["Frames"][0][1:4], atol=1e-12)
    np.testing.assert_allclose(c.root_translation[-1], raw["Frames"][-1][1:4], atol=1e-12)
    # at fps = 1 / duration every sample is a key frame: the knee angle is copied exactly
    d = raw["Frames"][0][0]
    k = mocap.load_clip("kick", fps=1 / d)
    knee = DEEPMIMIC.index("right_knee")
    axis = mocap.load_body().axes[knee]
    stored = np.array([fr[20] for fr in raw["Frames"]])  # column 20: right knee angle
    np.testing.assert_allclose(k.rotations[:, knee] @ axis, stored, atol=1e-9)
    # at fps = 2 / duration the odd samples fall half-way between key frames
    h = mocap.load_clip("kick", fps=2 / d)
    f0, f1 = np.array(raw["Frames"][4]), np.array(raw["Frames"][5])
    np.testing.assert_allclose(h.root_translation[9], (f0[1:4] + f1[1:4]) / 2, atol=1e-9)
    np.testing.assert_allclose(h.rotations[9, knee] @ axis, (f0[20] + f1[20]) / 2, atol=1e-9)
    from scipy.spatial.transform import Rotation
    chest = DEEPMIMIC.index("chest")  # columns 8..11
    ref = _scipy_slerp(f0[8:12] / np.linalg.norm(f0[8:12]), f1[8:12] / np.linalg.norm(f1[8:12]), 0.5)
    ours = Rotation.from_rotvec(h.rotations[9, chest]).as_quat()  # x, y, z, w
    assert _same_rotation(np.roll(ours, 1), ref[0])
    assert not _same_rotation(ref[0], f0[8:12] / np.linalg.norm(f0[8:12]), atol=1e-4)


def test_rotations_reproduce_positions(clips):
    body = mocap.load_body()
    for name in ("walk", "backflip", "getup_faceup"):
        c = clips[name]
        P = forward_kinematics(axis_angle_to_matrix(c.rotations), body.offsets, DEEPMIMIC.parents,
                               c.root_translation)
        np.testing.assert_allclose(P, c.positions, atol=1e-9)


@pytest.mark.parametrize("name", ["walk", "backflip"])
def test_forward_kinematics_matches_pybullet(name):
    """Our poses equal pybullet's own kinematics of humanoid.urdf (globalScaling 0.25)."""
    pb = pytest.importorskip("pybullet")
    raw = _raw(name)
    d = raw["Frames"][0][0]
    c = mocap.load_clip(name, fps=1 / d)  # samples on the key frames
    cid = pb.connect(pb.DIRECT)
    try:
        hum = pb.loadURDF(str(mocap.data_dir() / "humanoid" / "humanoid.urdf"), globalScaling=0.25,
                          physicsClientId=cid)
        # pybullet numbers the joints in its own order (shoulders before hips): map by name
        idx = {pb.getJointInfo(hum, j, physicsClientId=cid)[1].decode(): j
               for j in range(pb.getNumJoints(hum, physicsClientId=cid))}
        assert sorted(idx) == sorted(DEEPMIMIC.joint_names)
        layout = mocap.motion_layout()
        for k in (0, 7, 19):
            fr = raw["Frames"][k]
            pos, q = fr[1:4], fr[4:8]
            pb.resetBasePositionAndOrientation(hum, pos, [q[1], q[2], q[3], q[0]], physicsClientId=cid)
            for field, v, start, w in layout:
                if field in ("duration", "root_position", "root_rotation"):
                    continue
                if w == 4:
                    q = fr[start:start + 4]
                    q = np.array([q[1], q[2], q[3], q[0]]) / np.linalg.norm(q)
                    pb.resetJointStateMultiDof(hum, idx[field], list(q), physicsClientId=cid)
                else:
                    pb.resetJointState(hum, idx[field], fr[start], physicsClientId=cid)
            ref = np.array([pb.getLinkState(hum, idx[n], computeForwardKinematics=True,
                                            physicsClientId=cid)[4] for n in DEEPMIMIC.joint_names])
            np.testing.assert_allclose(c.positions[k], ref, atol=1e-6)
    finally:
        pb.disconnect(cid)


def test_bone_lengths_constant(clips):
    ref = None
    for name, c in clips.items():
        L = _bone_lengths(c.positions, DEEPMIMIC.parents)
        assert L.std(0).max() < 1e-5, name
        ref = L[0] if ref is None else ref
        np.testing.assert_allclose(L[0], ref, atol=1e-9)  # same body in every clip
    # URDF x 0.25: thigh 0.4215 m, shin 0.4099 m
    thigh = _bone_lengths(clips["walk"].positions, DEEPMIMIC.parents)[0, DEEPMIMIC.index("right_knee") - 1]
    assert thigh == pytest.approx(1.686184 * 0.25, abs=1e-6)


def test_walk_feet_on_the_ground(clips):
    c = clips["walk"]
    P = c.positions
    y = P[..., 1]
    ankles = [DEEPMIMIC.index("right_ankle"), DEEPMIMIC.index("left_ankle")]
    # the lowest joint of the whole clip is an ankle, and both ankles get within 1 cm of it
    assert int(np.unravel_index(y.argmin(), y.shape)[1]) in ankles
    assert np.all(y[:, ankles].min(0) - y.min() < 0.01)
    # ankle joints sit 5 cm above the sole in the URDF: observed minimum 0.053 m
    assert 0.03 < y.min() < 0.08
    # every frame has a foot on the ground: lowest joint <= 0.1 m (observed <= 0.079 m) ...
    assert np.all(y.min(1) < 0.1)
    # ... and the lowest corner of the feet's collision boxes is within [-2, +3] cm of y = 0
    body = mocap.load_body()
    G = c.global_rotations()
    unit = np.array(list(itertools.product([-.5, .5], repeat=3)))
    corners = unit * body.foot_box_size + body.foot_box_center
    soles = np.concatenate([P[:, j, None] + np.einsum("tij,kj->tki", G[:, j], corners) for j in ankles], 1)
    lowest = soles[..., 1].min(1)
    assert np.all(lowest > -0.02) and np.all(lowest < 0.03), (lowest.min(), lowest.max())
    # NTU-25 feet: lowest joint per frame within 0.1 m of the ground in every frame
    N = mocap.to_ntu25(c, camera_frame=False)
    assert np.all(N[..., 1].min(1) < 0.1) and N[..., 1].min() > 0.0


# --------------------------------------------------------------------------------------------
def _scipy_slerp(q0, q1, t):
    from scipy.spatial.transform import Rotation, Slerp

    xyzw = np.stack([np.roll(q0, -1), np.roll(q1, -1)])
    out = Slerp([0.0, 1.0], Rotation.from_quat(xyzw))(np.atleast_1d(t)).as_quat()
    return np.roll(out, 1, axis=-1)


def _same_rotation(a, b, atol=1e-9):
    """Quaternions ``(..., 4)`` equal up to sign, component-wise."""
    sign = np.where((a * b).sum(-1, keepdims=True) < 0, -1.0, 1.0)
    return np.allclose(a, sign * b, atol=atol, rtol=0)


def test_slerp_against_scipy():
    rng = np.random.default_rng(0)
    q0 = rng.normal(size=(20, 4))
    q1 = rng.normal(size=(20, 4))
    q0 /= np.linalg.norm(q0, axis=-1, keepdims=True)
    q1 /= np.linalg.norm(q1, axis=-1, keepdims=True)
    for t in (0.0, 0.5, 1.0, 0.3):
        ours = mocap.slerp(q0, q1, np.full(20, t))
        ref = np.concatenate([_scipy_slerp(a, b, t) for a, b in zip(q0, q1)])
        assert _same_rotation(ours, ref), t
    # endpoints exactly (up to the sign flip onto the short arc)
    np.testing.assert_allclose(mocap.slerp(q0, q1, 0.0), q0, atol=1e-12)
    assert _same_rotation(mocap.slerp(q0, q1, 1.0), q1)
    # q and -q give the same path; the midpoint is equally far from both ends
    mid = mocap.slerp(q0, -q1, 0.5)
    assert _same_rotation(mid, mocap.slerp(q0, q1, 0.5))
    np.testing.assert_allclose(np.abs((mid * q0).sum(-1)), np.abs((mid * q1).sum(-1)), atol=1e-12)
    # nearly equal quaternions: no NaN, unit norm
    q2 = q0 + 1e-9
    out = mocap.slerp(q0, q2, 0.5)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(np.linalg.norm(out, axis=-1), 1.0)
    with pytest.raises(ValueError, match=r"\(\.\.\., 4\)"):
        mocap.slerp(q0[:, :3], q1[:, :3], 0.5)


# --------------------------------------------------------------------------------------------
def _write(tmp_path, data, name="humanoid3d_walk.txt"):
    p = tmp_path / name
    p.write_text(data if isinstance(data, str) else json.dumps(data))
    return p


@pytest.mark.parametrize("corrupt, message", [
    (lambda d: d["Frames"][12].pop(), r"humanoid3d_walk\.txt: frame 12 has 43 values, expected 44"),
    (lambda d: d["Frames"][5].__setitem__(9, float("nan")), r"humanoid3d_walk\.txt: frame 5, field 'chest'"),
    (lambda d: d["Frames"][3].__setitem__(0, -0.1), r"frame 3, field 'duration'"),
    (lambda d: d["Frames"][7].__setitem__(slice(21, 25), [0, 0, 0, 0]),
     r"frame 7, field 'right_ankle' has quaternion norm"),
    (lambda d: d["Frames"][2].__setitem__(20, "x"), r"frame 2, field 'right_knee'"),
    (lambda d: d.__setitem__("Loop", "forever"), r"field 'Loop' is 'forever'"),
    (lambda d: d.pop("Frames"), r"missing field 'Frames'"),
])
def test_malformed_file_raises(tmp_path, corrupt, message):
    data = _raw("walk")
    corrupt(data)
    with pytest.raises(ValueError, match=message):
        mocap.load_clip(_write(tmp_path, data))


def test_bad_inputs(tmp_path):
    with pytest.raises(ValueError, match="not valid JSON"):
        mocap.load_clip(_write(tmp_path, '{"Loop": "wrap", "Frames": [[0.1, '))
    with pytest.raises(FileNotFoundError, match="installed clips"):
        mocap.load_clip("moonwalk")
    with pytest.raises(ValueError, match="fps"):
        mocap.load_clip("walk", fps=0)
    # an untouched copy loads, under its own name
    c = mocap.load_clip(_write(tmp_path, _raw("walk"), "my_walk.txt"))
    assert c.name == "my_walk" and c.num_frames == 38


# --------------------------------------------------------------------------------------------
def test_ntu25_table_is_complete():
    assert set(mocap.NTU25_FROM_DEEPMIMIC) == set(NTU25.joint_names)
    for name, rule in mocap.NTU25_FROM_DEEPMIMIC.items():
        assert rule["kind"] in ("direct", "interpolated", "extrapolated"), name
        assert all(j in DEEPMIMIC.joint_names for j in rule["from"]), name
    assert len(mocap.ntu25_from_deepmimic_table().splitlines()) == 26


def test_ntu25_mapping(clips):
    c = clips["walk"]
    N = mocap.to_ntu25(c, camera_frame=False)
    assert N.shape == (c.num_frames, 25, 3)
    direct = {n: r["from"][0] for n, r in mocap.NTU25_FROM_DEEPMIMIC.items() if r["kind"] == "direct"}
    assert len(direct) == 15
    for ntu, dm in direct.items():
        np.testing.assert_array_equal(N[:, NTU25.index(ntu)], c.positions[:, DEEPMIMIC.index(dm)])
    # the same from a positions array with its global rotations
    N2 = mocap.to_ntu25(c.positions, global_rotations=c.global_rotations(), camera_frame=False)
    np.testing.assert_allclose(N2, N, atol=1e-12)
    with pytest.raises(ValueError, match="global_rotations"):
        mocap.to_ntu25(c.positions)
    with pytest.raises(ValueError, match=r"\(\.\.\., 15, 3\)"):
        mocap.to_ntu25(N, global_rotations=np.zeros((c.num_frames, 25, 3, 3)))
    # extrapolated points lie where the table says: head above the neck base, feet ahead
    head, sb = N[0, NTU25.index("head")], N[0, NTU25.index("spine_shoulder")]
    assert 0.15 < head[1] - sb[1] < 0.18


def test_ntu25_camera_frame(clips):
    c = clips["walk"]
    N = mocap.to_ntu25(c)
    Nh = mocap.to_ntu25(c, camera_frame=False)
    np.testing.assert_allclose(N, Nh @ mocap.CAMERA_ROTATION.T, atol=1e-12)
    np.testing.assert_allclose(N[..., 1], Nh[..., 1])  # y stays up
    # the walker faces and approaches the camera (-z); its right side is +x
    assert N[-1, 0, 2] - N[0, 0, 2] < -1.0
    assert (N[:, NTU25.index("shoulder_right"), 0] > N[:, NTU25.index("shoulder_left"), 0]).all()
    assert (N[:, NTU25.index("foot_left"), 2] < N[:, NTU25.index("ankle_left"), 2]).mean() > 0.9
    shifted = mocap.to_ntu25(c, translation=(0.0, 0.0, 3.0))
    np.testing.assert_allclose(shifted - N, np.broadcast_to([0.0, 0.0, 3.0], N.shape), atol=1e-12)


def test_ntu25_bone_lengths_constant(clips):
    for name, c in clips.items():
        L = _bone_lengths(mocap.to_ntu25(c), NTU25.parents)
        assert L.std(0).max() < 1e-5, name
        assert L.min() > 0.03, name  # no NTU bone collapses to a point
