"""Tests of paperlib.data.h36m_like: the SMPL-like body model, the H36M-like generator, the
windows and split, and the Human3.6M branch (inverse kinematics from measured joints)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from paperlib.data import h36m_like as H
from paperlib.data.h36m import load_h36m_3d, write_h36m_npz
from paperlib.data.synthetic import _subject_offsets, _subject_table
from paperlib.kinematics import axis_angle_to_matrix, forward_kinematics
from paperlib.skeleton import H36M17, H36M32_TO_17, NTU25


@pytest.fixture(scope="module")
def small():
    return H.generate(num_subjects=7, frames=60, seed=3)


# ---------------------------------------------------------------------------------- body model
def test_body_model_rest_pose_and_shape_space():
    body = H.ntu25_body_model()
    assert body.num_betas == 4 and body.template.shape == (25, 3)
    assert np.isclose(body.explained.sum(), 1.0, atol=1e-9)  # 4 body factors -> 4 betas explain all
    X0 = body.joints(np.zeros((25, 3)), np.zeros(4))
    assert np.allclose(X0[NTU25.root], 0.0)
    # rest pose = template offsets accumulated along the tree
    expect = np.zeros((25, 3))
    for j in NTU25.order:
        p = NTU25.parents[j]
        if p >= 0:
            expect[j] = expect[p] + body.template[j]
    assert np.allclose(X0, expect)
    # betas of real subject bodies reproduce their offsets exactly (they lie in the shape space)
    offs = _subject_offsets(_subject_table(5, np.random.default_rng(0)))
    offs[:, 0] = 0
    beta = body.betas_from_offsets(offs)
    assert np.allclose(body.offsets(beta), offs, atol=1e-9)


def test_body_model_is_differentiable_and_projects():
    body = H.ntu25_body_model()
    theta = torch.zeros(2, 25, 3, dtype=torch.float64, requires_grad=True)
    beta = torch.zeros(2, 4, dtype=torch.float64, requires_grad=True)
    X = body.joints(theta + 0.1, beta)
    X[..., NTU25.index("hand_left"), 1].sum().backward()
    assert theta.grad.abs().sum() > 0 and beta.grad.abs().sum() > 0
    cam = torch.tensor([[2.0, 0.1, -0.2], [1.0, 0.0, 0.0]], dtype=torch.float64)
    x = H.BodyModel.project(X, cam)
    assert torch.allclose(x[0], 2.0 * X[0, :, :2] + torch.tensor([0.1, -0.2], dtype=torch.float64))


def test_body_model_fit_errors():
    with pytest.raises(ValueError):
        H.BodyModel.fit(NTU25, np.zeros((3, 25, 3)), 3)
    with pytest.raises(ValueError):
        H.BodyModel.fit(NTU25, np.zeros((5, 24, 3)), 2)


# ----------------------------------------------------------------------------------- generator
def test_generate_shapes_and_consistency(small):
    d = small
    N = 7 * len(H.H36M_LIKE_CLASS_NAMES) * 2
    assert d.theta.shape == (N, 60, 25, 3) and d.theta.dtype == np.float32
    assert d.beta.shape == (N, 4) and d.cam.shape == (N, 60, 3)
    assert d.joints.shape == (N, 60, 25, 3) and d.joints2d.shape == (N, 60, 25, 2)
    assert d.visibility.shape == (N, 60, 25)
    assert set(np.unique(d.visibility)) <= {0.0, 1.0} and d.visibility.mean() > 0.85
    assert np.isfinite(d.theta).all()
    # the global orientation stays away from the axis-angle wrap at pi
    assert np.linalg.norm(d.theta[:, :, 0], axis=-1).max() < 2.9
    # X = FK(theta, beta) and x = Pi(X)
    X = d.body.joints(d.theta[:5].astype(np.float64), d.beta[:5, None].astype(np.float64))
    assert np.allclose(X, d.joints[:5], atol=1e-5)
    assert np.allclose(H.BodyModel.project(d.joints, d.cam), d.joints2d, atol=1e-5)
    assert np.abs(d.joints2d).max() < 1.2  # the crop holds the person
    assert np.allclose(d.joints[:, :, 0], 0)
    # every subject performs every action, the beta is the subject's
    for s in range(1, 8):
        b = d.beta[d.subjects == s]
        assert np.allclose(b, b[0])
    assert np.bincount(d.labels).tolist() == [14] * len(H.H36M_LIKE_CLASS_NAMES)
    assert d.variants.max() < 4 and len(d.variant_names) == len(d.class_names)


def test_generate_is_seeded(small):
    again = H.generate(num_subjects=7, frames=60, seed=3)
    assert np.array_equal(again.theta, small.theta) and np.array_equal(again.cam, small.cam)
    other = H.generate(num_subjects=7, frames=60, seed=4)
    assert not np.allclose(other.theta, small.theta)


def test_actions_move_and_differ(small):
    d = small
    speed = np.abs(np.diff(d.joints, axis=1)).mean(axis=(1, 2, 3))  # (N,)
    assert speed.min() > 1e-4  # nothing is frozen
    # class means of the pose differ clearly between actions
    means = np.stack([d.theta[d.labels == c, :, 1:].mean((0, 1)).ravel() for c in range(len(d.class_names))])
    dist = np.abs(means[:, None] - means[None]).sum(-1)
    assert dist[~np.eye(len(means), dtype=bool)].min() > 0.5


def test_generate_errors():
    with pytest.raises(ValueError):
        H.generate(classes=("juggling",))
    with pytest.raises(ValueError):
        H.generate(frames=8)


# ----------------------------------------------------------------------------- split, windows
def test_split_subjects_is_disjoint_and_follows_the_paper():
    sp = H.split_subjects(range(1, 15))
    assert sp == {"train": [1, 3, 4, 5, 8, 10, 11, 12], "val": [2, 9], "test": [6, 7, 13, 14]}
    names = H.split_subjects(["S1", "S5", "S6", "S7", "S8", "S9", "S11", "S2"])
    assert names == {"train": ["S1", "S6", "S7", "S8"], "val": ["S5"], "test": ["S11", "S9"]}


def test_make_windows(small):
    d = small
    idx = H.split_indices(d)
    assert not set(d.subjects[idx["train"]]) & set(d.subjects[idx["test"]])
    w = H.make_windows(d, 45, 5, idx["test"])
    W = len(idx["test"]) * 4  # starts 0, 5, 10, 15 in 60 frames
    assert w["theta"].shape == (W, 45, 25, 3) and w["beta"].shape == (W, 45, 4)
    k = 5
    s, t0 = w["sequence"][k], w["start"][k]
    assert np.array_equal(w["theta"][k], d.theta[s, t0:t0 + 45])
    assert np.array_equal(w["joints2d"][k], d.joints2d[s, t0:t0 + 45])
    assert w["labels"][k] == d.labels[s] and w["variants"].shape == (W, 45)
    with pytest.raises(ValueError):
        H.make_windows(d, 0, 5)


# -------------------------------------------------------------------------- Human3.6M branch
def _h36m_body(rng):
    lengths = rng.uniform(0.1, 0.45, 17)
    lengths[0] = 0
    return H.H36M17_REST_DIRECTIONS * lengths[:, None]


def test_swing_kabsch_ik_reproduces_joints():
    rng = np.random.default_rng(0)
    off = _h36m_body(rng)
    theta = rng.normal(0, 0.5, (30, 17, 3))
    P = forward_kinematics(axis_angle_to_matrix(theta), off, H36M17.parents)
    theta2 = H.swing_kabsch_ik(P, off, H36M17.parents)
    P2 = forward_kinematics(axis_angle_to_matrix(theta2), off, H36M17.parents)
    assert np.abs(P - P2).max() < 1e-9
    # limbs carry no twist: the knee's local rotation axis is orthogonal to its rest bone
    knee = H36M17.index("knee_right")
    child = H36M17.index("foot_right")
    axis = theta2[:, knee] / np.maximum(np.linalg.norm(theta2[:, knee], axis=-1, keepdims=True), 1e-12)
    assert np.abs(axis @ (off[child] / np.linalg.norm(off[child]))).max() < 1e-6


def test_from_positions_through_the_h36m_loader(tmp_path):
    rng = np.random.default_rng(1)
    positions, truth = {}, {}
    for s in ("S1", "S5", "S6", "S9", "S11"):
        off = _h36m_body(rng)
        theta = rng.normal(0, 0.3, (40, 17, 3))
        P = forward_kinematics(axis_angle_to_matrix(theta), off, H36M17.parents) + np.array([0.5, 1.0, 0.0])
        world = np.stack([P[..., 0], -P[..., 2], P[..., 1]], -1)  # y-up body -> z-up world
        full = rng.normal(0, 0.1, (40, 32, 3))
        full[:, list(H36M32_TO_17)] = world
        positions[s] = {"Walking 1": full, "Eating 1": full[::-1].copy()}
        truth[s] = P
    path = tmp_path / "data_3d_h36m.npz"
    write_h36m_npz(path, positions)
    data = load_h36m_3d(path)
    seqs, labels, subjects = [], [], []
    for s in data:
        for a, arr in data[s].items():
            seqs.append(arr)
            labels.append(0 if a.startswith("Walking") else 1)
            subjects.append(s)
    out = H.from_positions(seqs, labels, subjects, ["Walking", "Eating"])
    assert out.theta.shape == (10, 20, 17, 3) and out.fps == 25.0
    assert out.beta.shape == (10, 4) and out.skeleton_name == "h36m17"
    # X = FK(theta, beta) reproduces the measured joints (root-relative) up to the shape fit
    k = subjects.index("S1")
    P = truth["S1"][::2]
    assert np.abs(out.joints[k] - (P - P[:, :1])).max() < 0.02
    assert set(H.split_subjects(out.subjects.tolist())["test"]) == {"S11", "S9"}
    w = H.make_windows(out, 10, 5)
    assert w["theta"].shape == (30, 10, 17, 3)


def test_unwrap_axis_angle_is_continuous_and_the_same_rotation():
    t = np.linspace(0, 4 * np.pi, 200)  # two full turns about an axis tilted from y
    axis = np.array([0.2, 1.0, 0.1]) / np.linalg.norm([0.2, 1.0, 0.1])
    R = axis_angle_to_matrix(axis[None] * t[:, None])
    wrapped = np.asarray(H.matrix_to_axis_angle(R))  # angles folded into [0, pi]
    assert np.abs(np.diff(wrapped, axis=0)).max() > 1.0  # jumps
    un = H.unwrap_axis_angle(wrapped)
    assert np.abs(np.diff(un, axis=0)).max() < 0.1
    assert np.allclose(axis_angle_to_matrix(un), R, atol=1e-9)
    assert np.allclose(un[-1], axis * t[-1], atol=1e-6)


def test_from_mocap_reproduces_the_clip_joints():
    from paperlib.data import mocap
    from paperlib.skeleton import DEEPMIMIC

    clips = {n: mocap.load_clip(n) for n in ("walk", "spin")}
    seqs = H.from_mocap(clips)
    assert seqs.class_names == ["walk", "spin"] and seqs.skeleton_name == "deepmimic"
    spin = clips["spin"]
    assert seqs.theta.shape == (2, spin.num_frames, 15, 3) and seqs.lengths.tolist() == [38, 133]
    # joints = the clip's positions, root-relative and turned to the camera frame
    P = (spin.positions - spin.positions[:, :1]) @ np.asarray(mocap.CAMERA_ROTATION).T
    assert np.abs(seqs.joints[1] - P).max() < 1e-4
    assert np.abs(np.diff(seqs.theta[1, :, 0], axis=0)).max() < 1.0  # the spin's root is unwrapped
    assert DEEPMIMIC.num_joints == seqs.body.num_joints


def test_structure_zero_is_the_default_stream_and_structure_one_is_a_fixed_cycle():
    a = H.generate(num_subjects=2, frames=60, seed=3)
    b = H.generate(num_subjects=2, frames=60, seed=3, structure=0.0)
    assert np.array_equal(a.theta, b.theta) and a.variant_names == b.variant_names
    # fingerprint of today's stream (the i.i.d. data notebook 05 used before the knob)
    c = H.generate(num_subjects=3, frames=60, seed=2)
    assert np.isclose(float(np.abs(c.theta).sum()), 28814.52, atol=0.05)
    s = H.generate(num_subjects=2, frames=400, seed=3, structure=1.0)
    for cls, names in enumerate(s.variant_names):
        n = len(names)
        assert (names[-1] == H.PAUSE_NAME) == (s.class_names[cls] != "walking")
        for i in np.flatnonzero(s.labels == cls):
            v = s.variants[i]
            runs = v[np.r_[True, v[1:] != v[:-1]]]
            assert np.array_equal(runs[1:], (runs[:-1] + 1) % n)  # every sub-process has one successor
    with pytest.raises(ValueError):
        H.generate(num_subjects=2, frames=60, structure=1.5)


def test_shared_pause_hides_the_action_in_the_upper_body():
    s = H.generate(num_subjects=2, frames=400, seed=4, structure=1.0)
    arms = [NTU25.index(j) for j in ("shoulder_left", "elbow_left", "shoulder_right", "elbow_right")]
    means = {}
    for name in ("smoking", "phoning", "greeting"):
        c = s.class_names.index(name)
        p = s.variant_names[c].index(H.PAUSE_NAME)
        rows, cols = np.nonzero((s.variants == p) & (s.labels[:, None] == c))
        means[name] = s.theta[rows, cols][:, arms].mean(0)  # during the pause
        base = s.theta[s.labels == c][:, :, arms].mean((0, 1))
        means[name + " overall"] = base
    gap_pause = max(np.abs(means[a] - means[b]).max() for a in ("smoking", "phoning", "greeting")
                    for b in ("smoking", "phoning", "greeting"))
    gap_all = max(np.abs(means[a + " overall"] - means[b + " overall"]).max()
                  for a in ("smoking", "phoning", "greeting") for b in ("smoking", "phoning", "greeting"))
    assert gap_pause < 0.5 * gap_all


def test_subprocess_s_sets_the_durations_and_cycles_mark_every_boundary():
    base = H.generate(num_subjects=2, frames=200, seed=3)
    assert base.cycles is not None and base.cycles.shape == base.variants.shape
    short = H.generate(num_subjects=2, frames=200, seed=3, subprocess_s=1.0)

    def mean_run(s, cls):
        rows = s.cycles[s.labels == cls]
        return float(np.mean([200 / (r[-1] - r[0] + 1) for r in rows]))  # frames per occurrence (whole ones)

    sit = base.class_names.index("sitting down")   # its own mean: 4.4 s = 110 frames
    assert mean_run(base, sit) > 50 and mean_run(short, sit) < 30
    # occurrences count up by one at each boundary, and a sub-process change is always a boundary
    for s in (base, short):
        d = np.diff(s.cycles.astype(int), axis=1)
        assert set(np.unique(d)) <= {0, 1}
        assert ((np.diff(s.variants.astype(int), axis=1) != 0) <= (d == 1)).all()
    w = H.make_windows(short, 45, 25)
    assert w["cycles"].shape == (len(w["labels"]), 45)
    with pytest.raises(ValueError, match="subprocess_s"):
        H.generate(num_subjects=2, frames=60, subprocess_s=0.0)
