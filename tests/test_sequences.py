import math

import numpy as np
import pytest
import torch

from paperlib.data import sequences as Q
from paperlib.data.synthetic import generate
from paperlib.skeleton import NTU25


def ramp(N=3, M=2, T=20, V=25):
    """x[n, m, t] = t + 1 everywhere, so a frame's value tells which source frame it is."""
    x = np.broadcast_to((np.arange(T, dtype=np.float32) + 1)[None, None, :, None, None], (N, M, T, V, 3)).copy()
    return x


def test_observed_length_ceil_without_float_roundup():
    assert Q.observed_length(10, 0.3) == 3  # 0.3 * 10 = 3.0000000000000004
    np.testing.assert_array_equal(Q.observed_length(np.array([1, 7, 64]), 0.1), [1, 1, 7])
    assert Q.observed_length(57, 1.0) == 57
    with pytest.raises(ValueError):
        Q.observed_length(10, 0.0)


@pytest.mark.parametrize("ratio", Q.OBS_RATIOS)
def test_pad_policy_keeps_exactly_the_prefix(ratio):
    x = ramp()
    valid = np.array([20, 13, 7])
    x[1, :, 13:] = 0
    x[2, :, 7:] = 0
    out, L = Q.crop_observation(x, valid, ratio)
    for n in range(3):
        keep = math.ceil(ratio * valid[n] - 1e-9)
        assert L[n] == keep
        np.testing.assert_array_equal(out[n, :, :keep], x[n, :, :keep])
        assert np.all(out[n, :, keep:] == 0)  # nothing from the future


def test_resample_policy_uses_only_observed_frames():
    x = ramp(T=20)
    valid = np.array([20, 20, 20])
    out, L = Q.crop_observation(x, valid, 0.5, policy="resample", out_frames=8)
    assert out.shape == (3, 2, 8, 25, 3) and np.all(L == 8)
    assert out.max() == pytest.approx(10.0)  # frame index 9 (value 10) is the last observed
    assert out[0, 0, 0, 0, 0] == 1.0
    assert np.all(np.diff(out[0, 0, :, 0, 0]) > 0)


def test_crop_errors():
    x = ramp()
    with pytest.raises(ValueError, match="policy"):
        Q.crop_observation(x, np.array([20, 20, 20]), 0.5, policy="loop")
    with pytest.raises(ValueError, match="valid_frames"):
        Q.crop_observation(x, np.array([21, 20, 20]), 0.5)


def test_crop_torch_and_numpy_agree():
    x = np.random.default_rng(0).normal(size=(3, 2, 20, 25, 3)).astype(np.float32)
    v = np.array([20, 11, 5])
    a, _ = Q.crop_observation(x, v, 0.4)
    b, _ = Q.crop_observation(torch.from_numpy(x), v, 0.4)
    np.testing.assert_array_equal(a, b.numpy())


def test_normalize_centres_and_aligns():
    d = generate(num_samples=20, seed=0)
    x = Q.normalize_skeleton(d.joints, d.valid_frames)
    np.testing.assert_allclose(x[:, 0, 0, NTU25.index("spine_base")], 0, atol=1e-6)
    hip = x[:, 0, 0, NTU25.index("hip_left")] - x[:, 0, 0, NTU25.index("hip_right")]
    np.testing.assert_allclose(hip[:, 2], 0, atol=1e-5)  # hip line along x
    assert np.all(hip[:, 0] < 0)  # the person's left is -x (Kinect frame, facing the camera)
    # padding stays zero, vertical stays vertical (rotation about y only)
    for i in range(20):
        assert np.all(x[i, :, d.valid_frames[i]:] == 0)
    raw_h = d.joints[:, 0, 0, 3, 1] - d.joints[:, 0, 0, 0, 1]
    np.testing.assert_allclose(x[:, 0, 0, 3, 1], raw_h, atol=1e-5)
    with pytest.raises(ValueError, match="expected"):
        Q.normalize_skeleton(d.joints[..., :24, :], d.valid_frames)


def test_bone_stream():
    d = generate(num_samples=4, seed=0)
    b = Q.bone_stream(d.joints)
    c = NTU25.index("elbow_left")
    np.testing.assert_allclose(b[..., c, :], (d.joints[..., c, :] - d.joints[..., NTU25.parents[c], :]), atol=1e-6)
    assert np.all(b[..., NTU25.root, :] == 0)
    assert np.all(b[:, :, 64 - 1][d.valid_frames < 64] == 0)
    bt = Q.bone_stream(torch.from_numpy(d.joints))
    np.testing.assert_allclose(bt.numpy(), b)


def test_dataset_layout_streams_and_ratio():
    d = generate(num_samples=34, seed=1)
    ds = Q.SkeletonDataset(d, np.arange(10), ratio=0.5, stream="joint+bone", frames=32)
    assert ds.x.shape == (10, 6, 32, 25, 2) and ds.y.shape == (10,)
    x, y = ds[3]
    assert x.shape == (6, 32, 25, 2) and int(y) == int(d.labels[3])
    for n in range(10):
        assert torch.all(ds.x[n, :, ds.observed[n]:] == 0)
        assert torch.any(ds.x[n, :3, ds.observed[n] - 1] != 0)
    with pytest.raises(ValueError, match="stream"):
        Q.SkeletonDataset(d, stream="motion")


def test_random_observation_matches_crop():
    g = torch.Generator().manual_seed(0)
    x = torch.ones(50, 3, 30, 25, 2)
    valid = torch.randint(5, 31, (50,), generator=g)
    out, r = Q.random_observation(x, valid, generator=g)
    for n in range(50):
        L = math.ceil(float(r[n]) * int(valid[n]) - 1e-9)
        assert out[n, 0, :, 0, 0].sum() == L


def _ramp_arrays(valid, T):
    """SkeletonArrays whose frame t holds the value t + 1 (zero after valid frames)."""
    from paperlib.data.arrays import SkeletonArrays

    N = len(valid)
    x = np.broadcast_to((np.arange(T, dtype=np.float32) + 1)[None, None, :, None, None], (N, 1, T, 25, 3)).copy()
    x *= (np.arange(T)[None, :] < np.asarray(valid)[:, None])[:, None, :, None, None]
    return SkeletonArrays(joints=x, labels=np.zeros(N), valid_frames=valid, subjects=None, cameras=None,
                          names=[str(i) for i in range(N)], class_names=["a"])


def test_subsampled_dataset_never_keeps_a_frame_past_the_prefix():
    """Every (T_valid, stride, ratio): each kept frame lies inside [0, ceil(r T_valid)).

    Subsampling first and cropping afterwards failed this (T_valid 13, stride 4, r 0.8 kept
    frame 12 while the prefix ends at frame 10)."""
    T = 64
    valid = np.arange(8, T + 1)
    data = _ramp_arrays(valid, T)
    for frames in (64, 32, 21, 16, 8):
        stride = T // frames
        for r in Q.OBS_RATIOS:
            ds = Q.SkeletonDataset(data, ratio=r, frames=frames, normalize=False)
            src = ds.x[:, 0, :, 0, 0].numpy() - 1  # (N, frames): source frame index, -1 where zero
            L = Q.observed_length(valid, r)
            assert np.all(src.max(1) <= L - 1), (frames, r)
            # the kept frames are exactly the multiples of the stride inside the prefix
            expect = np.minimum(-(-L // stride), frames)
            np.testing.assert_array_equal((src >= 0).sum(1), expect)
            np.testing.assert_array_equal(ds.observed, expect)


def test_normalize_uses_the_first_frame_where_the_body_is_present():
    d = generate(num_samples=4, seed=1, noise_std=0.0, jitter_prob=0.0, dropout_prob=0.0)
    x = d.joints.copy()
    ref = Q.normalize_skeleton(x[:, :, 3:], d.valid_frames - 3)
    x[:, :, :3] = 0  # body 0 (and 1) absent in the first three frames, as in some NTU files
    out = Q.normalize_skeleton(x, d.valid_frames)
    np.testing.assert_allclose(out[:, :, 3:], ref, atol=1e-5)
    assert not out[:, :, :3].any()
    # the first present frame faces the viewer: hips along -x, no 180-degree flip
    hips = out[:, 0, 3, NTU25.index("hip_left")] - out[:, 0, 3, NTU25.index("hip_right")]
    assert np.all(hips[:, 0] < -0.1) and np.allclose(hips[:, 2], 0, atol=1e-5)


def test_normalize_does_not_flip_when_the_hips_are_missing():
    d = generate(num_samples=2, seed=2, noise_std=0.0, jitter_prob=0.0, dropout_prob=0.0)
    x = d.joints.copy()
    x[:, :, 0, [NTU25.index("hip_left"), NTU25.index("hip_right")]] = x[:, :, 0, [0]]  # collapsed hips
    out = Q.normalize_skeleton(x, d.valid_frames)
    centred = Q.normalize_skeleton(x, d.valid_frames, align=False)
    np.testing.assert_allclose(out, centred, atol=1e-6)  # no yaw at all instead of a 180-degree turn


# --------------------------------------------------------------------------------------------
# Frame sampling over each clip's valid length (issue 31, item 7)
# --------------------------------------------------------------------------------------------
def _ramp_with(valid, T, sampling):
    from dataclasses import replace

    return replace(_ramp_arrays(valid, T), frame_sampling=sampling)


def test_valid_sampling_keeps_distinct_frames_of_a_short_padded_clip():
    """An 80-frame clip padded to 300, 16 frames: 16 distinct valid frames under "valid", ceil(80 / 18) = 5
    under "stride" (stride 300 // 16 = 18 over the padded length)."""
    data = _ramp_arrays([80], 300)
    valid = Q.SkeletonDataset(data, frames=16, normalize=False, sampling="valid")
    stride = Q.SkeletonDataset(data, frames=16, normalize=False, sampling="stride")
    src_v = valid.x[0, 0, :, 0, 0].numpy() - 1
    src_s = stride.x[0, 0, :, 0, 0].numpy() - 1
    assert len(np.unique(src_v[src_v >= 0])) == 16 and src_v.max() <= 79 and int(valid.valid[0]) == 16
    np.testing.assert_array_equal(src_v, np.arange(16) * 5)  # floor(k * 80 / 16)
    assert (src_s >= 0).sum() == 5 and int(stride.valid[0]) == 5
    # at 20% observed (L = 16 frames): 4 kept frames (0, 5, 10, 15) under "valid", 1 (frame 0) under "stride"
    v2 = Q.SkeletonDataset(data, frames=16, ratio=0.2, normalize=False, sampling="valid")
    s2 = Q.SkeletonDataset(data, frames=16, ratio=0.2, normalize=False, sampling="stride")
    kept = v2.x[0, 0, :, 0, 0].numpy() - 1
    np.testing.assert_array_equal(kept[kept >= 0], [0, 5, 10, 15])
    assert int(v2.observed[0]) == 4 and int(s2.observed[0]) == 1


def test_valid_sampling_never_keeps_a_frame_past_the_prefix():
    """Every (T_valid, frames, ratio) of clips padded to 300: each kept frame lies inside [0, ceil(r T_valid)),
    the kept frames are the first `observed`, ascending, distinct, and `valid`/`observed` agree with
    sampled_frames / observed_frames."""
    T = 300
    valid = np.concatenate([np.arange(1, 40), np.arange(40, T + 1, 7), [T]])
    data = _ramp_with(valid, T, "valid")
    for frames in (64, 32, 16, 8):
        index, valid_out = Q.sampled_frames(valid, T, frames, "valid")
        np.testing.assert_array_equal(valid_out, np.minimum(valid, frames))
        for r in Q.OBS_RATIOS:
            ds = Q.SkeletonDataset(data, ratio=r, frames=frames, normalize=False)  # data.frame_sampling
            assert ds.sampling == "valid" and ds.x.shape[2] == frames
            src = ds.x[:, 0, :, 0, 0].numpy().astype(np.int64) - 1  # (N, frames): source frame, -1 where zero
            L = Q.observed_length(valid, r)
            assert np.all(src.max(1) <= L - 1), (frames, r)
            obs = Q.observed_frames(valid, r, T, frames, "valid")
            np.testing.assert_array_equal(ds.observed, obs)
            np.testing.assert_array_equal((src >= 0).sum(1), obs)
            np.testing.assert_array_equal(ds.valid.numpy(), valid_out)
            k = np.arange(frames)[None, :]
            np.testing.assert_array_equal(np.where(k < obs[:, None], index, -1), src)  # a prefix of the sampled frames
            both = (src[:, 1:] >= 0) & (src[:, :-1] >= 0)
            assert np.all(np.diff(src, axis=1)[both] > 0)  # ascending and distinct


def test_sampling_defaults_follow_the_data():
    synth = generate(num_samples=20, seed=0)
    assert synth.frame_sampling == "stride" and Q.SkeletonDataset(synth, frames=16).sampling == "stride"
    real_like = _ramp_with([30, 60], 300, "valid")
    assert Q.SkeletonDataset(real_like, frames=16, normalize=False).sampling == "valid"
    assert Q.SkeletonDataset(real_like, frames=16, normalize=False, sampling="stride").sampling == "stride"
    # frames >= T or None: no subsampling either way; resample ignores the sampling
    for kw in (dict(frames=None), dict(frames=300), dict(frames=8, policy="resample", ratio=0.4)):
        a = Q.SkeletonDataset(real_like, normalize=False, sampling="valid", **kw)
        b = Q.SkeletonDataset(real_like, normalize=False, sampling="stride", **kw)
        assert torch.equal(a.x, b.x) and torch.equal(a.valid, b.valid), kw
    with pytest.raises(ValueError, match="sampling"):
        Q.SkeletonDataset(real_like, frames=16, sampling="uniform")
    with pytest.raises(ValueError, match="frame_sampling"):
        _ramp_with([3], 10, "every")
    with pytest.raises(ValueError, match="valid_frames"):
        Q.sampled_frames([0, 5], 10, 4, "valid")


def test_stride_sampling_functions_match_the_dataset():
    """sampled_frames / observed_frames with "stride" describe what SkeletonDataset keeps (the synthetic path)."""
    T = 64
    valid = np.arange(8, T + 1)
    data = _ramp_arrays(valid, T)
    for frames in (64, 40, 32, 21, 16, 8):
        index, valid_out = Q.sampled_frames(valid, T, frames, "stride")
        for r in (0.1, 0.3, 1.0):
            ds = Q.SkeletonDataset(data, ratio=r, frames=frames, normalize=False)
            src = ds.x[:, 0, :, 0, 0].numpy().astype(np.int64) - 1
            obs = Q.observed_frames(valid, r, T, frames, "stride")
            np.testing.assert_array_equal(ds.observed, obs)
            np.testing.assert_array_equal(ds.valid.numpy(), valid_out)
            assert src.shape == index.shape
            np.testing.assert_array_equal(np.where(np.arange(src.shape[1])[None] < obs[:, None], index, -1), src)
