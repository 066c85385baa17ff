"""The renderer (paperlib.data.render) and the rendered clip sets (paperlib.data.video).

- the vectorised, windowed z-buffer against a per-pixel loop written plainly here;
- depth order (occlusion between people, independent of the layer order);
- determinism (seeds, chunking), textured backgrounds, handheld objects;
- annotations: boxes contain the visible joints, occluded joints are flagged invisible;
- the multi-person labels: context actions follow the geometry, and the watching pose is
  distributed alike for watchers and non-watchers.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from paperlib.data import render as R
from paperlib.data import synthetic, video
from paperlib.skeleton import NTU25

J = {n: i for i, n in enumerate(NTU25.joint_names)}
CAM = R.PinholeCamera(width=20, height=16, focal=18.0)


# ----------------------------------------------------------------------------------------------
# the rasteriser against a naive per-pixel loop
# ----------------------------------------------------------------------------------------------
def naive_render(layers, camera, background):
    """Per clip, frame, pixel and capsule: the formulas of the module docstring, in loops."""
    B, T = layers[0].shape[:2]
    H, W = camera.height, camera.width
    cx, cy = camera.center
    f = camera.focal
    L = R._LIGHT
    frames = np.zeros((B, T, H, W, 3))
    depth = np.full((B, T, H, W), np.inf)
    layer = np.full((B, T, H, W), -1)
    for b in range(B):
        for t in range(T):
            for i in range(H):
                for j in range(W):
                    px, py = j + 0.5, i + 0.5
                    best = (np.inf, None)
                    for li, lay in enumerate(layers):
                        for k in range(lay.shape[2]):
                            A, Bp = lay.start[b, t, k].double().numpy(), lay.end[b, t, k].double().numpy()
                            r = float(lay.radius[b, t, k])
                            if r <= 0 or A[2] <= 0.1 or Bp[2] <= 0.1:
                                continue
                            ua, va = cx - f * A[0] / A[2], cy - f * A[1] / A[2]
                            ub, vb = cx - f * Bp[0] / Bp[2], cy - f * Bp[1] / Bp[2]
                            rp = f * r / (0.5 * (A[2] + Bp[2]))
                            abx, aby = ub - ua, vb - va
                            tt = min(max(((px - ua) * abx + (py - va) * aby) / max(abx * abx + aby * aby, 1e-12), 0), 1)
                            ex, ey = px - (ua + tt * abx), py - (va + tt * aby)
                            q = 1 - (ex * ex + ey * ey) / (rp * rp)
                            if q <= 0:
                                continue
                            z = A[2] + tt * (Bp[2] - A[2]) - r * q
                            if z < best[0]:
                                best = (z, (li, k, ex, ey, rp, q))
                    if best[1] is None:
                        frames[b, t, i, j] = background[b, i, j]
                        continue
                    li, k, ex, ey, rp, q = best[1]
                    lam = max((ex * L[0] + ey * L[1]) / rp + math.sqrt(q) * L[2], 0.0)
                    shade = 0.38 + 0.62 * lam
                    if rp - math.hypot(ex, ey) < 0.8 and rp > 1.2:
                        shade *= 0.62
                    frames[b, t, i, j] = layers[li].color[b, k].double().numpy() * shade
                    depth[b, t, i, j], layer[b, t, i, j] = best[0], li
    return np.clip(frames * 255 + 0.5, 0, 255).astype(np.uint8), depth, layer


def _random_layers(rng, B=2, T=2, sizes=(3, 2)):
    layers = []
    for K in sizes:
        a = np.stack([rng.uniform(-0.8, 0.8, (B, T, K)), rng.uniform(-0.6, 0.6, (B, T, K)),
                      rng.uniform(1.5, 3.0, (B, T, K))], -1)
        d = rng.normal(0, 0.4, (B, T, K, 3))
        d[..., 0, :] = 0  # a sphere
        radius = rng.uniform(0.08, 0.3, (B, T, K))
        radius[0, 1, -1] = 0.0  # an absent capsule
        layers.append(R.Capsules(a, a + d, radius, rng.uniform(0.1, 0.9, (B, K, 3))))
    return layers


@pytest.mark.parametrize("seed", [0, 1])
def test_zbuffer_matches_per_pixel_loop(seed):
    rng = np.random.default_rng(seed)
    layers = _random_layers(rng)
    bg = rng.uniform(0, 1, (2, CAM.height, CAM.width, 3)).astype(np.float32)
    res = R.render_capsules(layers, CAM, bg, chunk=1)
    ref_f, ref_d, ref_l = naive_render(layers, CAM, bg)
    assert res.frames.shape == (2, 2, 16, 20, 3) and res.frames.dtype == np.uint8
    same = res.layer == ref_l
    assert same.mean() > 0.995, f"layer maps differ at {(~same).sum()} pixels"
    assert (res.layer >= 0).mean() > 0.2  # the scene is not empty
    np.testing.assert_allclose(res.depth[same], ref_d[same], atol=1e-4)
    diff = np.abs(res.frames.astype(int) - ref_f.astype(int))[same]
    assert diff.max() <= 1 and (diff == 0).mean() > 0.99


def test_depth_order_and_layer_order_independence():
    # two upright bars overlapping on screen; the nearer one must win where they overlap
    T = 1
    near = R.Capsules([[[[0.0, -0.5, 2.0]]]], [[[[0.0, 0.5, 2.0]]]], [[[0.2]]], [[[1.0, 0.0, 0.0]]])
    far = R.Capsules([[[[-0.1, -0.5, 3.0]]]], [[[[-0.1, 0.5, 3.0]]]], [[[0.4]]], [[[0.0, 0.0, 1.0]]])
    bg = np.zeros((1, CAM.height, CAM.width, 3), np.float32)
    a = R.render_capsules([near, far], CAM, bg)
    b = R.render_capsules([far, near], CAM, bg)
    both = (a.layer >= 0)
    assert (a.layer == 0).any() and (a.layer == 1).any()
    centre = a.layer[0, 0, CAM.height // 2, CAM.width // 2]
    assert centre == 0, "the near capsule must hide the far one at the image centre"
    np.testing.assert_array_equal(a.frames, b.frames)  # the list order does not matter
    np.testing.assert_array_equal(np.where(both, 1 - a.layer, -1), b.layer)
    # move the red bar behind: the blue one now wins at the centre
    behind = R.Capsules(near.start + torch.tensor([0.0, 0.0, 2.0]), near.end + torch.tensor([0.0, 0.0, 2.0]),
                        near.radius, near.color)
    c = R.render_capsules([behind, far], CAM, bg)
    assert c.layer[0, 0, CAM.height // 2, CAM.width // 2] == 1
    assert T == 1 and c.depth[0, 0, CAM.height // 2, CAM.width // 2] < 3.0


def test_projection_follows_the_kinect_convention():
    from paperlib.kinematics import project_pinhole

    pts = np.random.default_rng(0).normal(0, 1, (5, 7, 3)) + [0, 0, 4.0]
    uv, z = R.project_points(pts, CAM)
    np.testing.assert_allclose(uv, project_pinhole(pts, CAM.focal, CAM.center), rtol=1e-12)
    np.testing.assert_array_equal(z, pts[..., 2])
    # x towards the image's left: a point at +x lands left of the principal point
    assert R.project_points(np.array([0.5, 0.0, 2.0]), CAM)[0][0] < CAM.center[0]
    uv_t, _ = R.project_points(torch.from_numpy(pts), CAM)
    np.testing.assert_allclose(uv_t.numpy(), uv)


def test_render_input_checks():
    lay = _random_layers(np.random.default_rng(0))
    bg = np.zeros((2, CAM.height, CAM.width, 3), np.float32)
    with pytest.raises(ValueError, match="background"):
        R.render_capsules(lay, CAM, bg[:, :4])
    with pytest.raises(ValueError, match="clips"):
        R.render_capsules([lay[0].select(slice(0, 1))], CAM, bg)
    with pytest.raises(ValueError, match="rng"):
        R.render_capsules(lay, CAM, bg, noise_std=0.1)
    with pytest.raises(ValueError, match="radius"):
        R.Capsules(np.zeros((1, 1, 2, 3)), np.zeros((1, 1, 2, 3)), np.zeros((1, 2)), np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match="joints"):
        R.body_capsules(np.zeros((1, 2, 24, 3)), np.zeros((1, 6, 3)))
    with pytest.raises(ValueError):
        R.PinholeCamera(0, 10, 5.0)


def test_backgrounds_are_textured_and_seeded():
    cam = R.PinholeCamera(64, 64, 60.0)
    a, info = R.textured_backgrounds(np.random.default_rng(0), 6, cam, 1.0)
    b, _ = R.textured_backgrounds(np.random.default_rng(0), 6, cam, 1.0)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (6, 64, 64, 3) and a.min() >= 0 and a.max() <= 1
    lum = a.mean(-1)
    # not flat: spatial variation within every image, along rows and along columns
    assert (lum.std(axis=(1, 2)) > 0.03).all()
    assert (np.abs(np.diff(lum, axis=2)).mean(axis=(1, 2)) > 0.005).all()
    assert (np.abs(np.diff(lum, axis=1)).mean(axis=(1, 2)) > 0.005).all()
    assert np.isfinite(info["shape_boxes"]).all(-1).sum(-1).min() >= 2  # painted distractors
    c, _ = R.textured_backgrounds(np.random.default_rng(1), 6, cam, 1.0)
    assert np.abs(a - c).mean() > 0.05


# ----------------------------------------------------------------------------------------------
# single-person clips
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def single():
    return video.make_single_person_clips(num_scenes=17, frames=6, size=48, seed=5)


def test_single_person_shapes_views_and_splits(single):
    N = 17 * 3
    assert single.frames.shape == (N, 6, 48, 48, 3) and single.frames.dtype == np.uint8
    assert single.joints2d.shape == (N, 6, 25, 2) and single.visibility.shape == (N, 6, 25)
    assert single.boxes.shape == (N, 6, 4) and len(single) == N
    assert set(single.labels.tolist()) == set(range(len(synthetic.CLASS_NAMES)))
    for s in range(17):  # every performance from cameras 1, 2, 3, same motion and subject
        idx = np.flatnonzero(single.scenes == s)
        assert single.cameras[idx].tolist() == [1, 2, 3]
        assert len(set(single.labels[idx])) == 1 and len(set(single.subjects[idx])) == 1
        # a rigid re-view: bone lengths are the same in every camera frame
        bone = lambda j: np.linalg.norm(j[:, J["elbow_right"]] - j[:, J["wrist_right"]], axis=-1)  # noqa: E731
        np.testing.assert_allclose(bone(single.joints3d[idx[0]]), bone(single.joints3d[idx[2]]), rtol=1e-4)
    tr, te = video.split_indices(single, "xview")
    assert set(single.cameras[tr]) == {2, 3} and set(single.cameras[te]) == {1}
    tr, te = video.split_indices(single, "xsub")
    assert set(single.subjects[tr]) <= set(synthetic.XSUB_TRAIN_SUBJECTS)
    assert not set(single.subjects[te]) & set(synthetic.XSUB_TRAIN_SUBJECTS)
    two = {"shake hands", "hug", "push someone"}
    assert single.has_partner.tolist() == [single.class_names[l] in two for l in single.labels]
    with pytest.raises(ValueError, match="cameras"):
        video.make_single_person_clips(num_scenes=2, cameras=(4,))


def test_single_person_determinism_and_chunking():
    a = video.make_single_person_clips(num_scenes=4, frames=3, size=32, seed=2, classes=("wave", "hug"))
    b = video.make_single_person_clips(num_scenes=4, frames=3, size=32, seed=2, classes=("wave", "hug"), chunk=1)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.joints2d, b.joints2d)
    np.testing.assert_array_equal(a.visibility, b.visibility)
    c = video.make_single_person_clips(num_scenes=4, frames=3, size=32, seed=3, classes=("wave", "hug"))
    assert np.abs(a.frames.astype(int) - c.frames.astype(int)).mean() > 5


def test_boxes_contain_visible_joints(single):
    for j2, vis, box in ((single.joints2d, single.visibility, single.boxes),
                         (single.partner_joints2d, single.partner_visibility, single.partner_boxes)):
        u, v = j2[..., 0], j2[..., 1]
        inside = (u >= box[..., None, 0]) & (u <= box[..., None, 2]) & (v >= box[..., None, 1]) & (v <= box[..., None, 3])
        assert inside[vis].all()
    assert single.visibility.mean() > 0.6
    assert (~single.visibility).any()  # some joints are hidden (self-occlusion, side views)


def test_occluded_joints_are_invisible():
    # person B stands 1.5 m behind person A on the same line of sight: A's torso hides B's
    d = synthetic.generate(num_samples=1, frames=8, min_valid=8, classes=("wave",), seed=0, noise_std=0,
                           jitter_prob=0, dropout_prob=0)
    j = d.joints[0, 0].astype(np.float64)  # (T, 25, 3)
    j = j - j[:, :1, :] * np.array([1, 0, 1]) + np.array([0, 0, 3.0])  # centred, 3 m away
    both = np.stack([j, j + np.array([0, 0, 1.5])])[None]  # (1, 2, T, 25, 3)
    clips = video.render_skeleton_clips(both, size=64, seed=0, noise_std=0.0)
    spine = [J["spine_mid"], J["spine_base"], J["spine_shoulder"]]
    assert clips.visibility[0][:, spine].all()
    assert not clips.partner_visibility[0][:, spine].any()
    # B's hands are raised beside A's body: some of B's joints stay visible
    assert clips.partner_visibility[0].any()
    assert clips.frames.shape == (1, 8, 64, 64, 3)


def test_handheld_objects_follow_the_hand(single):
    cups = np.flatnonzero([k == "cup" for k in single.object_names])
    assert len(cups) == 3  # the one 'drink' scene, three cameras
    for n in cups:
        hand, tip = single.joints2d[n, :, J["hand_right"]], single.joints2d[n, :, J["handtip_right"]]
        hand_l, tip_l = single.joints2d[n, :, J["hand_left"]], single.joints2d[n, :, J["handtip_left"]]
        box = single.object_boxes[n]
        ok = np.isfinite(box).all(-1)
        assert ok.any()
        for t in np.flatnonzero(ok):
            centre = (box[t, :2] + box[t, 2:]) / 2
            d = min(np.linalg.norm(centre - (hand[t] + 0.6 * (tip[t] - hand[t]))),
                    np.linalg.norm(centre - (hand_l[t] + 0.6 * (tip_l[t] - hand_l[t]))))
            assert d < 1.0, "the cup's box is centred on the grasp point"
    assert any(k == "ball" for k in single.object_names)


def test_render_real_mocap_motion():
    from paperlib.data import mocap

    walk = mocap.load_clip("walk", fps=30.0)
    j = mocap.to_ntu25(walk, translation=(0.0, -1.0, 3.6))[::6][None, None]  # (1, 1, T, 25, 3)
    clips = video.render_skeleton_clips(j, size=48, seed=0)
    T = j.shape[2]
    assert clips.frames.shape == (1, T, 48, 48, 3)
    u, v = clips.joints2d[..., 0], clips.joints2d[..., 1]
    box = clips.boxes
    inside = (u >= box[..., None, 0]) & (u <= box[..., None, 2]) & (v >= box[..., None, 1]) & (v <= box[..., None, 3])
    assert inside[clips.visibility].all() and clips.visibility.mean() > 0.5
    # the person differs from the background: pixels inside the box change over the walk
    assert np.abs(np.diff(clips.frames[0].astype(int), axis=0)).mean() > 0.5


# ----------------------------------------------------------------------------------------------
# multi-person clips and context labels
# ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def multi():
    return video.make_multi_person_clips(num_clips=96, frames=4, size=40, seed=11)


def _c(name):
    return video._C[name]


def test_multi_person_shapes_and_class_coverage(multi):
    N, T, P = 96, 4, 4
    assert multi.frames.shape == (N, T, 40, 40, 3) and multi.labels.shape == (N, P, len(video.MULTI_CLASSES))
    assert multi.keyframe == 2 and multi.keyframe_time == pytest.approx(1.0)
    counts = multi.present.sum(1)
    assert counts.min() == 1 and counts.max() == 4
    assert (multi.labels[~multi.present] == 0).all()
    per_class = multi.labels.sum((0, 1))
    assert (per_class > 0).all(), dict(zip(video.MULTI_CLASS_NAMES, per_class.tolist()))
    # exactly one movement label per present person
    mv = multi.labels[..., :4].sum(-1)
    assert (mv[multi.present] == 1).all()
    inside = lambda j2, b: ((j2[..., 0] >= b[..., None, 0]) & (j2[..., 0] <= b[..., None, 2])  # noqa: E731
                            & (j2[..., 1] >= b[..., None, 1]) & (j2[..., 1] <= b[..., None, 3]))
    assert inside(multi.joints2d, multi.boxes)[multi.visibility].all()


def test_multi_person_determinism():
    a = video.make_multi_person_clips(num_clips=5, frames=2, size=24, seed=4)
    b = video.make_multi_person_clips(num_clips=5, frames=2, size=24, seed=4, chunk=2)
    np.testing.assert_array_equal(a.frames, b.frames)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.boxes, b.boxes)


def _gaze_geometry(multi):
    kf = multi.keyframe
    head = multi.joints3d[:, kf, :, J["head"]]
    f = multi.face_dir[:, kf]
    d = head[:, None] - head[:, :, None]  # i -> j
    yaw = lambda v: np.arctan2(v[..., 0], v[..., 2])  # noqa: E731
    ang = np.abs((yaw(d) - yaw(f)[:, :, None] + np.pi) % (2 * np.pi) - np.pi)
    P = head.shape[1]
    other = multi.present[:, :, None] & multi.present[:, None, :] & ~np.eye(P, dtype=bool)
    return np.degrees(np.where(other, ang, np.inf))


def test_watch_follows_head_direction_towards_a_person(multi):
    ang = _gaze_geometry(multi)
    watch = multi.labels[..., _c("watch")].astype(bool)
    n, p = np.nonzero(watch)
    t = multi.targets[n, p]
    assert (t >= 0).all() and (ang[n, p, t] < video.WATCH_MAX_ANGLE_DEG).all()
    # people who do not watch have nobody within the angle, unless they look down, the other is
    # too far or the other's head is outside the image
    kf = multi.keyframe
    head = multi.joints3d[:, kf, :, J["head"]]
    dist = np.linalg.norm((head[:, None] - head[:, :, None])[..., [0, 2]], axis=-1)
    huv = multi.joints2d[:, kf, :, J["head"]]
    in_view = (huv[..., 0] >= 0) & (huv[..., 0] < multi.camera.width) & (huv[..., 1] >= 0) & \
        (huv[..., 1] < multi.camera.height)
    pitch = np.degrees(np.arcsin(multi.face_dir[:, kf, :, 1]))
    could = (ang < video.WATCH_MAX_ANGLE_DEG) & (dist < video.WATCH_MAX_DISTANCE) & in_view[:, None, :] & \
        (pitch[:, :, None] > -video.WATCH_MAX_PITCH_DEG)
    np.testing.assert_array_equal(could.any(-1), watch)
    assert watch.sum() > 20 and (multi.present & ~watch).sum() > 20


def test_watching_pose_is_the_same_with_and_without_a_target(multi):
    # standing/sitting people turn their heads by the same distribution whether or not they watch:
    # the label needs the other people (context), not the pose.
    standsit = (multi.labels[..., _c("stand")] | multi.labels[..., _c("sit")]).astype(bool)
    exch = (multi.labels[..., _c("hand over")] | multi.labels[..., _c("take")]).astype(bool)
    sel = multi.present & standsit & ~exch
    watch = multi.labels[..., _c("watch")].astype(bool)
    h_w = np.abs(multi.head_yaw[sel & watch])
    h_n = np.abs(multi.head_yaw[sel & ~watch])
    assert len(h_w) > 15 and len(h_n) > 15
    assert abs(h_w.mean() - h_n.mean()) < 0.15 and ks_2samp(h_w, h_n).pvalue > 0.01
    assert (h_w > 0.5).any() and (h_n > 0.5).any()  # strongly turned heads in both groups
    # and the face's direction relative to the camera (frontal, profile, back) is alike too:
    # looking away from the camera is no cue for watching
    f = multi.face_dir[:, multi.keyframe]
    norm = np.maximum(np.linalg.norm(f[..., [0, 2]], axis=-1), 1e-9)
    to_cam = np.degrees(np.arccos(np.clip(-f[..., 2] / norm, -1, 1)))
    a_w, a_n = to_cam[sel & watch], to_cam[sel & ~watch]
    assert abs(a_w.mean() - a_n.mean()) < 15 and ks_2samp(a_w, a_n).pvalue > 0.01


def test_talk_listen_and_handover_follow_context(multi):
    lab = multi.labels.astype(bool)
    watch, talk, listen = lab[..., _c("watch")], lab[..., _c("talk to")], lab[..., _c("listen to")]
    g = multi.gesturing
    np.testing.assert_array_equal(talk, watch & g)
    tgt_gest = np.take_along_axis(g, np.maximum(multi.targets, 0), 1)
    np.testing.assert_array_equal(listen, watch & tgt_gest)
    assert (g & ~watch & multi.present).any(), "someone gestures at no one (no talk label)"
    assert (watch & ~listen & ~talk).any(), "someone watches a person who is not talking"
    give, take = lab[..., _c("hand over")], lab[..., _c("take")]
    assert give.sum() == take.sum() > 0
    for n in np.flatnonzero(give.any(1)):
        giver, taker = int(np.flatnonzero(give[n])[0]), int(np.flatnonzero(take[n])[0])
        holders = multi.object_holders[n, :, giver]
        assert holders[0] == giver and holders[-1] == taker
        assert multi.targets[n, giver] == taker and multi.targets[n, taker] == giver
    # hold: an object in the hand; the same arm pose is also seen empty-handed
    hold = lab[..., _c("hold")]
    kinds = multi.object_kinds[:, :4]
    assert ((kinds >= 0) | ~hold).all()


def test_hand_made_scenes_contrast_context_with_identical_pose():
    ps = video.person_spec
    h = 0.6  # the watcher's head turn; its gaze points along +x, at the other person in scene A
    watcher = dict(x=-0.9, z=4.2, yaw=np.pi / 2 - h, head_yaw=h)
    scenes = {
        "watch": [ps(**watcher), ps(0.9, 4.2, yaw=np.pi)],
        "away": [ps(**watcher), ps(-2.0, 5.4, yaw=np.pi)],  # the same pose, nobody in its gaze
        "listen": [ps(-0.9, 4.2, yaw=np.pi / 2), ps(0.9, 4.2, yaw=-np.pi / 2, activity="gesture")],
        "no talk": [ps(-0.9, 4.2, yaw=np.pi / 2), ps(0.9, 4.2, yaw=-np.pi / 2)],
    }
    out = {k: video.make_multi_person_clips(num_clips=1, frames=2, size=48, seed=7, scenes=[sc]) for k, sc in scenes.items()}
    lab = {k: {video.MULTI_CLASS_NAMES[c] for c in np.flatnonzero(m.labels[0, 0])} for k, m in out.items()}
    np.testing.assert_array_equal(out["watch"].joints3d[0, :, 0], out["away"].joints3d[0, :, 0])
    assert "watch (a person)" in lab["watch"] and "watch (a person)" not in lab["away"]
    assert "listen to (a person)" in lab["listen"] and "listen to (a person)" not in lab["no talk"]
    assert "watch (a person)" in lab["no talk"]
    talker = {video.MULTI_CLASS_NAMES[c] for c in np.flatnonzero(out["listen"].labels[0, 1])}
    assert "talk to (a person)" in talker
    with pytest.raises(ValueError, match="movement"):
        ps(0, 4, 0, movement="run")
    with pytest.raises(ValueError, match="scenes"):
        video.make_multi_person_clips(num_clips=2, scenes=[scenes["watch"]])


def _elbow_angle(j):
    """Right elbow angle (radians) of joints ``(..., 25, 3)``."""
    n = {k: i for i, k in enumerate(NTU25.joint_names)}
    a = j[..., n["shoulder_right"], :] - j[..., n["elbow_right"], :]
    b = j[..., n["wrist_right"], :] - j[..., n["elbow_right"], :]
    cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.arccos(np.clip(cos, -1, 1))


def test_symmetric_exchange_gives_giver_and_taker_the_same_arm_motion():
    ps = video.person_spec
    scene = [ps(-0.42, 4.2, yaw=np.pi / 2, activity="give", role="give", target=1, kind="cup"),
             ps(0.42, 4.2, yaw=-np.pi / 2, activity="take", role="take", target=0)]
    out = {s: video.make_multi_person_clips(num_clips=1, frames=8, size=40, seed=2, scenes=[scene], symmetric_exchange=s)
           for s in (False, True)}
    ang = {s: _elbow_angle(m.joints3d[0, :, :2]) for s, m in out.items()}  # (T, 2)
    assert np.abs(ang[False][:, 0] - ang[False][:, 1]).max() > 0.5      # default: the own motion tells giver from taker
    np.testing.assert_allclose(ang[True][:, 0], ang[True][:, 1], atol=1e-4)
    assert out[True].symmetric_exchange and not out[False].symmetric_exchange
    for m in out.values():  # labels and the object's path are the same either way
        np.testing.assert_array_equal(m.labels, out[False].labels)
        assert m.object_holders[0, 0, 0] == 0 and m.object_holders[0, -1, 0] == 1


def test_interaction_rates_turn_scenes_into_interactions_and_keep_the_defaults():
    kw = dict(num_clips=40, frames=2, size=32, seed=5)
    a = video.make_multi_person_clips(**kw)
    b = video.make_multi_person_clips(exchange_rate=0.3, conversation_rate=0.5, **kw)   # the stated defaults
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.frames, b.frames)
    c = video.make_multi_person_clips(exchange_rate=1.0, conversation_rate=1.0, **kw)
    z = video.make_multi_person_clips(exchange_rate=0.0, conversation_rate=0.0, **kw)
    col = {n.split(" (")[0]: i for i, n in enumerate(video.MULTI_CLASS_NAMES)}
    count = lambda m, k: int(m.labels[..., col[k]][m.present].sum())
    assert count(z, "take") == 0 and count(z, "hand over") == 0
    d = video.make_multi_person_clips(conversation_rate=1.0, **kw)
    assert count(z, "talk to") < count(a, "talk to") < count(d, "talk to")  # talk to: gesturing at someone
    assert count(a, "take") < count(c, "take")
    assert count(c, "take") == int((c.present.sum(1) >= 2).sum())       # every scene of two or more people
    for bad in (dict(exchange_rate=1.5), dict(conversation_rate=-0.1)):
        with pytest.raises(ValueError, match="rate must lie in"):
            video.make_multi_person_clips(**kw, **bad)


def test_cue_scale_grows_the_small_cues_and_nothing_else():
    kw = dict(num_clips=24, frames=2, size=48, seed=3)
    a, b = video.make_multi_person_clips(**kw), video.make_multi_person_clips(cue_scale=2.0, **kw)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_array_equal(a.joints3d, b.joints3d)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    assert (a.frames != b.frames).any()
    sa, sb = video.cue_sizes_px(a), video.cue_sizes_px(b)
    assert sa["head_diameter"] < 4 and sa["face_offset"] < 1            # the default cues are below a feature cell
    for k in ("head_diameter", "face_offset"):
        assert sb[k] == pytest.approx(2 * sa[k], rel=1e-5)
    for k in ("cup_box", "ball_box"):
        if np.isfinite(sa[k]):
            assert 1.6 < sb[k] / sa[k] < 2.4, (k, sa[k], sb[k])            # boxes are rounded by the rasterised extent
    with pytest.raises(ValueError, match="cue_scale"):
        video.make_multi_person_clips(num_clips=1, cue_scale=0.0)


def test_body_capsules_head_scale():
    j = torch.zeros(1, 1, 25, 3)
    j[..., 2] = 4.0
    fd = np.zeros((1, 1, 3), np.float32)
    fd[..., 2] = -1.0
    cl = np.full((1, 6, 3), 0.5, np.float32)
    one, two = R.body_capsules(j, cl, face_dir=fd), R.body_capsules(j, cl, face_dir=fd, head_scale=2.0)
    np.testing.assert_allclose(two.radius[..., -2:], 2 * one.radius[..., -2:])
    np.testing.assert_allclose(two.radius[..., :-2], one.radius[..., :-2])
    off1 = (one.start[..., -1, :] - one.start[..., -2, :]).norm()
    off2 = (two.start[..., -1, :] - two.start[..., -2, :]).norm()
    assert float(off1) == pytest.approx(R.FACE_OFFSET, rel=1e-5) and float(off2) == pytest.approx(2 * R.FACE_OFFSET, rel=1e-5)
    with pytest.raises(ValueError, match="head_scale"):
        R.body_capsules(j, cl, head_scale=0.0)
