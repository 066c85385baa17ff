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
