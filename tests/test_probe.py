import numpy as np
import pytest

from paperlib.data import synthetic as S
from paperlib.probe import linear_probe_reference, mlp_probe_reference, prefix_features


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
    out = linear_probe_reference(data, tr, te, ratios=(0.2, 1.0), families=fam, return_predictions=True)
    chance_within = np.mean([1 / len(S.FAMILIES[S.ACTIONS[c][0]]) for c in np.array(S.CLASS_NAMES)[data.labels[te]]])
    assert out["family_acc"][0.2] > 0.8
    assert out["acc"][1.0] > 0.85
    # with no early cue, the class inside the family is at chance at 20% (the opening is shared)
    assert abs(out["within_family_acc"][0.2] - chance_within) < 0.08
    assert out["correct"][1.0].shape == (len(te),)
    with pytest.raises(ValueError, match="empty"):
        linear_probe_reference(data, [], te)


def test_mlp_probe_reads_the_class_late_not_early_and_is_seeded(data):
    tr, te = S.split_indices(data, "xsub")
    fam = np.array([list(S.FAMILIES).index(S.ACTIONS[c][0]) for c in S.CLASS_NAMES])
    out = mlp_probe_reference(data, tr, te, ratios=(0.2, 1.0), families=fam, return_predictions=True, seed=3)
    chance_within = np.mean([1 / len(S.FAMILIES[S.ACTIONS[c][0]]) for c in np.array(S.CLASS_NAMES)[data.labels[te]]])
    assert out["acc"][1.0] > 0.85 and out["family_acc"][0.2] > 0.6   # small training set (408 rows)
    assert abs(out["within_family_acc"][0.2] - chance_within) < 0.1   # no cue: the opening holds no class
    assert set(out["choice"]) == {0.2, 1.0} and all(c[2] >= 1 for c in out["choice"].values())
    again = mlp_probe_reference(data, tr, te, ratios=(1.0,), seed=3)
    assert again["acc"][1.0] == out["acc"][1.0]
    with pytest.raises(ValueError, match="mlp_probe_reference: empty"):
        mlp_probe_reference(data, tr, [])


# ---- context dependence of the AVA-like classes ----
from paperlib.data import video as _video  # noqa: E402
from paperlib.probe import context_dependence, person_features  # noqa: E402


def _multi(seed, n, sym):
    return _video.make_multi_person_clips(num_clips=n, frames=4, size=32, seed=seed, symmetric_exchange=sym)


def test_person_features_shapes_and_own_part_is_a_prefix():
    m = _multi(5, 12, False)
    Xo, Yo, clip_o = person_features(m, context=False)
    Xc, Yc, clip_c = person_features(m, context=True)
    M, T, P = int(m.present.sum()), m.joints3d.shape[1], m.present.shape[1]
    assert Xo.shape == (M, T * 25 * 3 + T * 3) and Yo.shape == (M, len(m.class_names))
    assert Xc.shape == (M, Xo.shape[1] + (P - 1) * (1 + 3 + 1 + 1 + T * 25 * 3 + T) + T)
    np.testing.assert_array_equal(Xc[:, :Xo.shape[1]], Xo)
    np.testing.assert_array_equal(Yo, Yc)
    np.testing.assert_array_equal(clip_o, np.nonzero(m.present)[0])
    # the first context slot is the person faced most directly: for a watcher, the watched person
    i = int(np.flatnonzero(m.targets[m.present] >= 0)[0])
    assert Xc[i, Xo.shape[1]] == 1.0


def test_context_dependence_separates_own_motion_from_context():
    """With the default hand-over the own motion tells giver from taker (no context needed);
    with the symmetric one only the object does, so the own-pose probe drops towards chance."""
    res = {s: context_dependence(_multi(1, 144, s), _multi(2, 96, s)) for s in (False, True)}
    give = "hand over (an object) to (a person)"
    assert res[False]["own"][give] > 0.9 and abs(res[False]["dependence"][give]) < 0.1
    assert res[True]["own"][give] < 0.75 and res[True]["dependence"][give] > 0.2
    for r in res.values():
        assert r["own"]["walk"] > 0.9                      # a movement class needs no context
        assert r["dependence"]["listen to (a person)"] > 0.2  # listening is context by design
