import numpy as np
import pytest

from paperlib.data import synthetic as S
from paperlib.skeleton import NTU25


@pytest.fixture(scope="module")
def data():
    return S.generate(num_samples=170, seed=3)


def test_shapes_and_types(data):
    N = 170
    assert data.joints.shape == (N, 2, 64, 25, 3) and data.joints.dtype == np.float32
    assert data.rotations.shape == (N, 2, 64, 25, 3)
    assert data.labels.shape == (N,) and set(np.unique(data.labels)) == set(range(len(S.CLASS_NAMES)))
    assert np.bincount(data.labels).min() == 10  # evenly spread
    assert data.subjects.min() >= 1 and data.subjects.max() <= 40
    assert set(np.unique(data.cameras)) <= {1, 2, 3}
    assert len(data.names) == N and data.class_names == list(S.CLASS_NAMES)


def test_class_design_requirements():
    assert len(S.CLASS_NAMES) >= 12
    assert len(S.FAMILIES) >= 4
    assert all(len(m) >= 3 for m in S.FAMILIES.values())
    two_person = [n for n, (_, _, pair) in S.ACTIONS.items() if pair]
    assert len(two_person) >= 2


def test_deterministic_and_seed_dependent():
    a = S.generate(num_samples=34, seed=7)
    b = S.generate(num_samples=34, seed=7)
    c = S.generate(num_samples=34, seed=8)
    np.testing.assert_array_equal(a.joints, b.joints)
    assert not np.array_equal(a.joints, c.joints)


def test_padding_and_second_body(data):
    T = data.joints.shape[2]
    for i in range(0, len(data), 17):
        v = data.valid_frames[i]
        assert 44 <= v <= T
        assert np.all(data.joints[i, :, v:] == 0)
        assert np.all(np.abs(data.joints[i, 0, :v]).sum(-1) > 0)
    pair = np.isin(data.labels, [S.CLASS_NAMES.index(n) for n, (_, _, p) in S.ACTIONS.items() if p])
    assert np.all(np.abs(data.joints[pair, 1]).sum(axis=(1, 2, 3)) > 0)
    assert np.all(data.joints[~pair, 1] == 0)


def test_metres_camera_frame_and_bone_lengths():
    d = S.generate(num_samples=17, seed=0, noise_std=0.0, jitter_prob=0.0, dropout_prob=0.0)
    j = d.joints[:, 0]
    depth = j[..., 2][np.abs(j).sum(-1) > 0]
    assert 1.5 < depth.min() and depth.max() < 5.0  # people stand 2.6-3.6 m from the camera
    # head above feet (y up) in the first frame
    assert np.all(j[:, 0, NTU25.index("head"), 1] > j[:, 0, NTU25.index("foot_left"), 1] + 1.2)
    # without noise, bone lengths are constant over the valid frames (rigid bones)
    for i in range(len(d)):
        v = d.valid_frames[i]
        for c, p in NTU25.bones:
            L = np.linalg.norm(j[i, :v, c] - j[i, :v, p], axis=-1)
            assert L.std() < 1e-4


def test_families_share_their_opening():
    """Within a family the first frames are close; they diverge later (the early-prediction premise)."""
    d = S.generate(num_samples=17 * 20, seed=0, noise_std=0.0, jitter_prob=0.0, dropout_prob=0.0)
    from paperlib.data.sequences import normalize_skeleton

    x = normalize_skeleton(d.joints, d.valid_frames)[:, 0]
    fam = S.FAMILIES["reach"]
    means_early, means_late = [], []
    for name in fam:
        sel = d.labels == S.CLASS_NAMES.index(name)
        means_early.append(x[sel, 8].mean(0))
        means_late.append(x[sel, 40].mean(0))
    spread = lambda ms: np.mean([np.abs(a - b).mean() for i, a in enumerate(ms) for b in ms[i + 1:]])
    assert spread(means_late) > 2.5 * spread(means_early)


def test_splits(data):
    tr, te = S.split_indices(data, "xsub")
    assert set(np.unique(data.subjects[tr])) <= set(S.XSUB_TRAIN_SUBJECTS)
    assert not set(np.unique(data.subjects[te])) & set(S.XSUB_TRAIN_SUBJECTS)
    tr, te = S.split_indices(data, "xview")
    assert set(np.unique(data.cameras[te])) == {1}
    assert len(tr) + len(te) == len(data)
    with pytest.raises(ValueError, match="benchmark"):
        S.split_indices(data, "xset")


def test_subset_keeps_extras(data):
    sub = data.subset(np.arange(5))
    assert isinstance(sub, S.SyntheticSkeletons) and sub.rotations.shape[0] == 5
    assert sub.families.shape == (5,) and sub.names == data.names[:5]


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown classes"):
        S.generate(num_samples=4, classes=("moonwalk",))
    with pytest.raises(ValueError, match="min_valid"):
        S.generate(num_samples=4, frames=32, min_valid=40)


@pytest.mark.parametrize("family", list(S.FAMILIES))
def test_opening_is_exactly_shared_without_the_cue(family):
    """At early_cue = 0 the members of a family are identical, to the bit, in every frame of the
    opening (same seed: same subjects, timing, noise); they differ afterwards. Plain PCHIP failed
    this: its slope at the end of the opening depends on each class's next keyframe."""
    members = S.FAMILIES[family]
    ds = [S.generate(num_samples=12, seed=4, classes=(m,), early_cue=0.0) for m in members]
    of = ds[0].opening_frames
    assert of.min() >= 10 and np.all(of < ds[0].valid_frames)
    for d in ds[1:]:
        np.testing.assert_array_equal(d.opening_frames, of)
        for i in range(len(of)):
            np.testing.assert_array_equal(d.joints[i, :, :of[i]], ds[0].joints[i, :, :of[i]])
        assert np.abs(d.joints[:, :, 40] - ds[0].joints[:, :, 40]).mean() > 0.01


def test_keyframe_curve_opening_depends_only_on_the_opening_keys():
    t = np.array([0.0, S.OPENING_END, 0.5, 1.0])
    a = np.array([[0.0], [1.0], [3.0], [0.0]])
    b = np.array([[0.0], [1.0], [-2.0], [5.0]])
    u = np.linspace(0, S.OPENING_END, 50)
    np.testing.assert_array_equal(S.keyframe_curve(t, a)(u), S.keyframe_curve(t, b)(u))
    assert S.keyframe_curve(t, a).derivative()(S.OPENING_END)[0] == 0.0  # C1: the segment after starts still
    with pytest.raises(ValueError, match="OPENING_END|u=0"):
        S.keyframe_curve(np.array([0.0, 0.5, 1.0]), a[:3])


def test_early_cue_is_a_class_specific_elbow_flexion_inside_the_opening():
    names = S.FAMILIES["reach"]
    codes = S.early_cue_codes(names)
    np.testing.assert_allclose(codes, [-1, -1 / 3, 1 / 3, 1])
    base = S.generate(num_samples=8, seed=4, classes=(names[0],), early_cue=0.0, noise_std=0.0,
                      jitter_prob=0.0, dropout_prob=0.0)
    cue = S.generate(num_samples=8, seed=4, classes=(names[0],), early_cue=20.0, noise_std=0.0,
                     jitter_prob=0.0, dropout_prob=0.0)
    e = NTU25.index("elbow_right")
    of = base.opening_frames
    i = int(np.flatnonzero(base.handedness == 1)[0])  # a right-handed performance
    t = of[i] - 1  # the last frame of the opening: the cue is (nearly) fully ramped in
    d_angle = cue.rotations[i, 0, t, e, 0] - base.rotations[i, 0, t, e, 0]
    amp_deg = np.rad2deg(-d_angle)  # flexion is about -x; member 0 of 4 gets -early_cue
    assert -21.0 < amp_deg < -12.0
    assert np.array_equal(cue.rotations[i, 0, 0], base.rotations[i, 0, 0])  # none at u = 0
    with pytest.raises(KeyError):
        S.early_cue_codes(["no such class"])


def test_cue_groups_move_the_cue_to_one_joint_group_per_sample():
    """cue_groups = G: every sample's early cue sits in one of G joint groups; the other groups'
    tracks are those of the cue-free data, and at early_cue = 0 the knob changes nothing."""
    from paperlib.data.synthetic import CUE_GROUPS

    one = S.generate(num_samples=170, seed=2, cue_groups=1)
    four = S.generate(num_samples=170, seed=2, cue_groups=4)
    free = S.generate(num_samples=170, seed=2, cue_groups=4, early_cue=0.0)
    assert (one.cue_group == 0).all() and set(np.unique(four.cue_group)) == {0, 1, 2, 3}
    assert np.array_equal(free.joints, S.generate(num_samples=170, seed=2, cue_groups=1, early_cue=0.0).joints)
    code = S.early_cue_codes(four.class_names)[four.labels]
    cued = np.abs(code) > 0
    for g, (_, column, _, _) in enumerate(CUE_GROUPS):
        joint = column // 3
        moved = np.abs(four.rotations[:, 0, :, joint] - free.rotations[:, 0, :, joint]).max(axis=(1, 2)) > 1e-4
        own = four.cue_group == g
        # the group's joint moves exactly in the cued samples of that group (left-handed ones mirror it)
        right = four.handedness > 0
        assert moved[own & cued & right].all(), f"group {g}: the cue is missing"
        assert not moved[~own & right].any(), f"group {g}: a sample of another group moved this joint"
    with pytest.raises(ValueError, match="cue_groups"):
        S.generate(num_samples=10, cue_groups=5)
