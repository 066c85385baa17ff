import numpy as np
import pytest

from paperlib.data import synthetic as S
from paperlib.probe import prefix_features, probe_ceiling


@pytest.fixture(scope="module")
def data():
    return S.generate(num_samples=17 * 40, seed=11, early_cue=0.0)


def test_prefix_features_use_only_the_observed_prefix(data):
    idx = np.arange(6)
    f = prefix_features(data, idx, 0.3, frames=8)
    assert f.shape == (6, 2 * 8 * 25 * 3)
    changed = data.joints.copy()
    L = np.ceil(0.3 * data.valid_frames - 1e-9).astype(int)
    for i in idx:
        changed[i, :, L[i]:data.valid_frames[i]] += 1.0  # the future, changed
    alt = S.SyntheticSkeletons(**{**data.__dict__, "joints": changed})
    np.testing.assert_array_equal(prefix_features(alt, idx, 0.3, frames=8), f)


def test_probe_reads_the_family_early_and_the_class_late_but_not_the_class_early(data):
    tr, te = S.split_indices(data, "xsub")
    fam = np.array([list(S.FAMILIES).index(S.ACTIONS[c][0]) for c in S.CLASS_NAMES])
    out = probe_ceiling(data, tr, te, ratios=(0.2, 1.0), families=fam, return_predictions=True)
    chance_within = np.mean([1 / len(S.FAMILIES[S.ACTIONS[c][0]]) for c in np.array(S.CLASS_NAMES)[data.labels[te]]])
    assert out["family_acc"][0.2] > 0.8
    assert out["acc"][1.0] > 0.85
    # with no early cue, the class inside the family is at chance at 20% (the opening is shared)
    assert abs(out["within_family_acc"][0.2] - chance_within) < 0.08
    assert out["correct"][1.0].shape == (len(te),)
    with pytest.raises(ValueError, match="empty"):
        probe_ceiling(data, [], te)
