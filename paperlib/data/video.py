"""Rendered RGB clips for the two video papers (Glimpse Clouds, Video Action Transformer).

No real video can be downloaded in the course's environment, so the course renders its own
with :mod:`paperlib.data.render` from skeleton motion:

- :func:`make_single_person_clips` (for Glimpse Clouds): every class of
  :mod:`paperlib.data.synthetic` (two-person classes show both people), each performance seen
  by several cameras at azimuths -45, 0 and +45 degrees (NTU RGB+D's three cameras), so the
  cross-subject and cross-view splits of NTU / N-UCLA exist (:func:`split_indices`).
- :func:`make_multi_person_clips` (for the Action Transformer, AVA-like): 1 to 4 people per
  scene with per-person multi-label actions at the clip's keyframe, from
  :data:`MULTI_CLASSES`. Some labels are decidable **only from context**:

  * *watch (a person)*: the head is turned towards another person in view. Everyone's head
    is turned relative to the body by an angle drawn from the same distribution, so the
    same pose occurs facing someone (watch) and facing empty space (no label);
  * *talk to* vs *listen to*: the talker gestures while facing someone; the listener faces a
    person who gestures. A person can gesture facing no one (no *talk to*), and face someone
    who is not gesturing (*watch* only);
  * *hand over* vs *take*: by default the giver's arm goes hold -> reach -> rest and the
    taker's rest -> reach -> hold, so each one's own motion tells the class; with
    ``symmetric_exchange=True`` both go hold -> reach -> hold and only the object's path
    (from the giver's hand to the taker's) tells them apart;
  * *hold (an object)*: the same arm pose is also performed empty-handed.

- :func:`render_skeleton_clips`: render any NTU-25 camera-frame sequences (e.g. the real
  DeepMimic motion via :func:`paperlib.data.mocap.to_ntu25`, or NTU RGB+D joints).

Motions are built with :mod:`paperlib.data.synthetic`'s keyframe machinery (its ``_pose``,
``_arm``, ``_leg``, ``_spine`` helpers, ``_keyframe_tracks`` and ``_render_person``) and
:func:`paperlib.kinematics.forward_kinematics`.

Conventions
-----------
Camera frame of NTU RGB+D / Kinect (metres; ``x`` towards the image's left, ``y`` up, ``z``
depth); pixels ``(u, v)`` with the centre of pixel ``(row i, column j)`` at
``(j + 0.5, i + 0.5)``; boxes ``(x1, y1, x2, y2)`` in pixels. A clip of ``T`` frames spans
``duration`` seconds: frame ``k`` is at time ``k * duration / T``; the keyframe of a
multi-person clip is frame ``T // 2`` (time ``duration / 2`` for even ``T``).

Everything is seeded: the same arguments give identical arrays on any machine.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..kinematics import axis_angle_to_matrix, forward_kinematics
from ..skeleton import NTU25
from . import render as R
from . import synthetic as S
from .synthetic import _arm, _keyframe_tracks, _leg, _pose, _render_person, _spine

__all__ = ["SinglePersonClips", "MultiPersonClips", "make_single_person_clips", "make_multi_person_clips",
           "render_skeleton_clips", "split_indices", "cue_sizes_px", "person_spec", "MULTI_CLASSES", "MULTI_CLASS_NAMES", "LABEL_TYPES",
           "MOVEMENTS", "HANDHELD", "WATCH_MAX_ANGLE_DEG", "WATCH_MAX_DISTANCE", "WATCH_MAX_PITCH_DEG"]

V = NTU25.num_joints
J = {n: i for i, n in enumerate(NTU25.joint_names)}

#: The multi-person classes: (name, AVA label type). Ids are 1-based in this order (AVA style).
MULTI_CLASSES = (
    ("stand", "PERSON_MOVEMENT"),
    ("sit", "PERSON_MOVEMENT"),
    ("walk", "PERSON_MOVEMENT"),
    ("bend/bow (at the waist)", "PERSON_MOVEMENT"),
    ("wave (a hand)", "PERSON_MOVEMENT"),
    ("hold (an object)", "OBJECT_MANIPULATION"),
    ("watch (a person)", "PERSON_INTERACTION"),
    ("talk to (a person)", "PERSON_INTERACTION"),
    ("listen to (a person)", "PERSON_INTERACTION"),
    ("hand over (an object) to (a person)", "PERSON_INTERACTION"),
    ("take (an object) from (a person)", "PERSON_INTERACTION"),
)
MULTI_CLASS_NAMES = tuple(n for n, _ in MULTI_CLASSES)
LABEL_TYPES = tuple(t for _, t in MULTI_CLASSES)
_C = {n.split(" (")[0]: i for i, n in enumerate(MULTI_CLASS_NAMES)}  # short name -> 0-based index
MOVEMENTS = ("stand", "sit", "walk", "bend")
HANDHELD = ("cup", "phone", "ball")
#: A person *watches* another when the face's horizontal direction is within this angle of the
#: direction to the other's head, the other is closer than :data:`WATCH_MAX_DISTANCE` metres and
#: in view, and the face is not pitched down by more than :data:`WATCH_MAX_PITCH_DEG`.
WATCH_MAX_ANGLE_DEG = 20.0
WATCH_MAX_DISTANCE = 6.0
WATCH_MAX_PITCH_DEG = 30.0
#: Relative head yaw (radians) drawn for every standing or sitting person, watcher or not.
HEAD_YAW_RANGE = 0.9


# ----------------------------------------------------------------------------------------------
# Containers
# ----------------------------------------------------------------------------------------------
@dataclass
class SinglePersonClips:
    """Rendered clips of the synthetic action classes (Glimpse Clouds' data).

    Attributes
    ----------
    frames : np.ndarray, uint8, ``(N, T, H, W, 3)``
        RGB frames.
    joints2d : np.ndarray, float32, ``(N, T, 25, 2)``
        Pixels ``(u, v)`` of the main actor's NTU-25 joints.
    visibility : np.ndarray, bool, ``(N, T, 25)``
        Joint inside the image and not hidden by a nearer surface
        (:func:`paperlib.data.render.joint_visibility`).
    boxes : np.ndarray, float32, ``(N, T, 4)``
        The main actor's box ``(x1, y1, x2, y2)`` pixels (projected joints + body thickness +
        margin, clipped to the image).
    joints3d : np.ndarray, float32, ``(N, T, 25, 3)``
        The main actor's joints, metres, in this clip's camera frame.
    labels : np.ndarray, int64, ``(N,)``
        Index into ``class_names``.
    class_names : tuple of str
    subjects : np.ndarray, int64, ``(N,)``
        Performer (1-based; clothing is a function of the subject, so cross-subject test
        subjects wear outfits never seen in training).
    cameras : np.ndarray, int64, ``(N,)``
        Camera id 1, 2, 3 (azimuth -45, 0, +45 degrees), as in NTU RGB+D.
    scenes : np.ndarray, int64, ``(N,)``
        Performance id: clips with the same scene show the same motion from different cameras.
    partner_joints2d, partner_visibility, partner_boxes, partner_joints3d
        The same for the second person of two-person classes; zeros / False where absent.
    has_partner : np.ndarray, bool, ``(N,)``
    object_boxes : np.ndarray, float32, ``(N, T, 4)``
        Box of the handheld object (a cup for *drink*, a ball for *pick up*), NaN when none.
    object_names : list of str, ``N`` entries (``""`` for none).
    camera : :class:`paperlib.data.render.PinholeCamera`
    fps : np.ndarray, float32, ``(N,)``
        Frames per second of each sampled clip (the source is 30 fps; ``T`` frames are sampled
        uniformly over each performance's valid frames).
    other_object_boxes : np.ndarray, float32, ``(N, T, 4)``, or None
        Box of the object in the *other* hand (pixels, NaN when none); ``None`` unless
        ``held_objects`` gave pairs (:func:`make_single_person_clips`).
    other_object_names : list of str, or None
        The other hand's object per clip (``""`` for none); ``None`` as above.
    """

    frames: np.ndarray
    joints2d: np.ndarray
    visibility: np.ndarray
    boxes: np.ndarray
    joints3d: np.ndarray
    labels: np.ndarray
    class_names: tuple
    subjects: np.ndarray
    cameras: np.ndarray
    scenes: np.ndarray
    partner_joints2d: np.ndarray
    partner_visibility: np.ndarray
    partner_boxes: np.ndarray
    partner_joints3d: np.ndarray
    has_partner: np.ndarray
    object_boxes: np.ndarray
    object_names: list
    camera: R.PinholeCamera
    fps: np.ndarray
    other_object_boxes: np.ndarray | None = None
    other_object_names: list | None = None

    def __len__(self) -> int:
        return int(self.frames.shape[0])


@dataclass
class MultiPersonClips:
    """AVA-like rendered clips: 1 to ``P`` people with multi-label actions at the keyframe.

    Attributes
    ----------
    frames : np.ndarray, uint8, ``(N, T, H, W, 3)``
    joints2d : np.ndarray, float32, ``(N, T, P, 25, 2)``, pixels; zeros for absent people.
    visibility : np.ndarray, bool, ``(N, T, P, 25)``
    boxes : np.ndarray, float32, ``(N, T, P, 4)``, pixels ``(x1, y1, x2, y2)``; zeros for absent people.
    joints3d : np.ndarray, float32, ``(N, T, P, 25, 3)``, metres, camera frame.
    face_dir : np.ndarray, float32, ``(N, T, P, 3)``, unit vectors: where each face points.
    present : np.ndarray, bool, ``(N, P)``
    labels : np.ndarray, uint8, ``(N, P, C)``
        Multi-hot actions at the keyframe, classes :data:`MULTI_CLASSES`.
    keyframe : int
        Index of the annotated frame (``T // 2``).
    targets : np.ndarray, int64, ``(N, P)``
        The person each person watches at the keyframe (index into ``P``), ``-1`` if none.
    gesturing : np.ndarray, bool, ``(N, P)``
        Performs the talking gesture (whether or not anyone is faced).
    head_yaw : np.ndarray, float32, ``(N, P)``
        The head's yaw relative to the body (radians) used to build the pose.
    object_boxes : np.ndarray, float32, ``(N, T, O, 4)``, pixels, NaN where absent/out of view.
    object_kinds : np.ndarray, int64, ``(N, O)``
        Index into ``object_names``, ``-1`` for an empty slot. Slots ``0..P-1`` hold the
        handheld object of person ``p``, slots ``P..2P-1`` the stool of person ``p - P``, the
        last two the static distractors.
    object_holders : np.ndarray, int64, ``(N, T, O)``
        Person holding the object in each frame, ``-1`` if none (during a hand-over the object
        moves from the giver's slot owner to the taker).
    object_names : tuple of str
    class_names, label_types : tuples of str (AVA label map fields).
    video_ids : list of str, ``N`` entries (``"synth_00000"``...).
    camera : PinholeCamera
    fps : float
    duration : float, seconds spanned by the clip.
    cue_scale : float
        The size factor of the small context cues (:func:`make_multi_person_clips`).
    symmetric_exchange : bool
        Whether giver and taker share the same arm motion.
    """

    frames: np.ndarray
    joints2d: np.ndarray
    visibility: np.ndarray
    boxes: np.ndarray
    joints3d: np.ndarray
    face_dir: np.ndarray
    present: np.ndarray
    labels: np.ndarray
    keyframe: int
    targets: np.ndarray
    gesturing: np.ndarray
    head_yaw: np.ndarray
    object_boxes: np.ndarray
    object_kinds: np.ndarray
    object_holders: np.ndarray
    object_names: tuple
    class_names: tuple = MULTI_CLASS_NAMES
    label_types: tuple = LABEL_TYPES
    video_ids: list = field(default_factory=list)
    camera: R.PinholeCamera | None = None
    fps: float = 4.0
    duration: float = 2.0
    cue_scale: float = 1.0
    symmetric_exchange: bool = False

    def __len__(self) -> int:
        return int(self.frames.shape[0])

    @property
    def keyframe_time(self) -> float:
        """Time of the keyframe in seconds from the clip's first frame."""
        return self.keyframe / self.fps


def split_indices(clips: SinglePersonClips, benchmark: str = "xsub"):
    """Train/test indices of rendered single-person clips, NTU RGB+D style.

    ``"xsub"``: subjects in :data:`paperlib.data.synthetic.XSUB_TRAIN_SUBJECTS` train;
    ``"xview"``: cameras 2 and 3 train, camera 1 tests. Returns ``(train_idx, test_idx)`` int
    arrays. Raises ``ValueError`` for another benchmark.
    """
    return S.split_indices(clips, benchmark)


# ----------------------------------------------------------------------------------------------
# Shared helpers
# ----------------------------------------------------------------------------------------------
class _Clock:
    """Adds the seconds since the previous call to ``timings[stage]`` (no-op without a dict)."""

    def __init__(self, timings):
        self.timings = timings
        self.t = time.perf_counter()

    def __call__(self, stage):
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[stage] = self.timings.get(stage, 0.0) + now - self.t
        self.t = now


def _camera(size, focal_ratio):
    H, W = (size, size) if np.isscalar(size) else tuple(size)
    return R.PinholeCamera(width=int(W), height=int(H), focal=float(focal_ratio) * max(H, W))


def _static_objects(rng, n, T, cam_h, depth, camera, count=(0, 2)):
    """Up to two static distractors (bin, lamp) on the floor beside the action."""
    kinds, pts = [], np.zeros((n, 2, 3))
    num = rng.integers(count[0], count[1] + 1, n)
    side = rng.choice([-1.0, 1.0], (n, 2))
    lat = rng.uniform(0.9, 1.7, (n, 2))
    dz = rng.uniform(-0.6, 1.8, (n, 2))
    kk = rng.integers(0, 2, (n, 2))
    for b in range(n):
        kinds.append([("bin", "lamp")[kk[b, k]] if k < num[b] else "" for k in range(2)])
        z = depth[b] + dz[b]
        pts[b, :, 0] = side[b] * lat[b] * z / 3.0
        pts[b, :, 1] = -cam_h[b]
        pts[b, :, 2] = z
    return R.static_object_capsules(kinds, pts, T), kinds


def _annotate_person(joints3d, camera, depth):
    """joints (B, T, [P,] V, 3) -> (joints2d, visibility, boxes); absent (all-zero) people give
    finite placeholders that the callers mask."""
    j = np.where(joints3d[..., 2:3] > 0.05, joints3d, np.array([0.0, 0.0, 1.0])).astype(np.float64)
    uv, z = R.project_points(j, camera)
    vis = R.joint_visibility(j, uv, depth) & (joints3d[..., 2] > 0.05)
    box = R.boxes_from_joints(uv, z, camera)
    return uv.astype(np.float32), vis, box


# ----------------------------------------------------------------------------------------------
# Single-person clips (Glimpse Clouds)
# ----------------------------------------------------------------------------------------------
def _view_transform(joints, cam0, cams, rng):
    """Re-view camera-frame joints ``(S, M, T, V, 3)`` from NTU-like cameras ``cams`` ``(S, C)``.

    The original camera (azimuth of ``cam0``) and the new one both look horizontally at the
    performer, so ``R_rel = R_new R_old^T`` (:func:`paperlib.data.synthetic._camera_rotation`)
    turns the scene about the vertical through the performer's start position (its floor
    point ``pivot``); the new camera stands ``d`` metres away at height ``h``.
    Returns joints ``(S, C, M, T, V, 3)``, camera heights and distances ``(S, C)``.
    """
    Sn, C = cams.shape
    present = np.abs(joints).sum(axis=(2, 3, 4)) > 0  # (S, M)
    root0 = joints[:, :, 0, J["spine_base"]]  # (S, M, 3)
    pivot = (root0 * present[..., None]).sum(1) / present.sum(1, keepdims=True)
    big = np.where(present[:, :, None, None], joints[..., 1], np.inf)
    pivot[:, 1] = big.min(axis=(1, 2, 3))  # the floor: the lowest joint
    a0 = np.deg2rad(np.vectorize(S.CAMERA_AZIMUTH_DEG.get)(cam0))
    ac = np.deg2rad(np.vectorize(S.CAMERA_AZIMUTH_DEG.get)(cams) + rng.uniform(-5, 5, (Sn, C)))
    R0 = S._camera_rotation(a0)  # (S, 3, 3)
    Rc = S._camera_rotation(ac.reshape(-1)).reshape(Sn, C, 3, 3)
    Rrel = Rc @ R0[:, None].transpose(0, 1, 3, 2)  # (S, C, 3, 3)
    h = rng.uniform(0.8, 1.15, (Sn, C))
    d = rng.uniform(2.9, 3.5, (Sn, C))
    lat = rng.uniform(-0.25, 0.25, (Sn, C))
    rel = joints - pivot[:, None, None, None, :]  # (S, M, T, V, 3)
    out = np.einsum("scij,smtvj->scmtvi", Rrel, rel)
    out += np.stack([lat, -h, d], -1)[:, :, None, None, None, :]
    out *= present[:, None, :, None, None, None]
    return out, h, d


def make_single_person_clips(num_scenes: int = 51, frames: int = 8, size=64, cameras=(1, 2, 3), classes=None,
                             source_frames: int = 48, num_subjects: int = 40, noise_std: float = 0.01,
                             focal_ratio: float = 0.95, seed: int = 0, chunk: int = 8,
                             timings: dict | None = None, threads: int | None = 1, held_objects=None,
                             object_scale: float = 1.0) -> SinglePersonClips:
    """Render synthetic skeleton actions into single-scene RGB clips seen by several cameras.

    Each of ``num_scenes`` performances is drawn with :func:`paperlib.data.synthetic.generate`
    (no sensor noise), ``frames`` frames are sampled uniformly over its valid part, and it is
    seen by every camera in ``cameras``: ``N = num_scenes * len(cameras)`` clips, in scene-major
    order. *drink* gets a cup in the acting hand; *pick up* a ball that lies on the floor until
    the hand reaches it. Every clip has its own room (:func:`paperlib.data.render.textured_backgrounds`)
    and 0-2 static distractors (a bin, a lamp).

    Parameters
    ----------
    num_scenes : int
        Performances (spread evenly over the classes by ``generate``).
    frames : int
        ``T``, frames per clip.
    size : int or (H, W)
        Image size in pixels.
    cameras : tuple of int
        Camera ids among 1, 2, 3 (azimuth -45, 0, +45 degrees).
    classes : tuple of str, optional
        Class names of :data:`paperlib.data.synthetic.CLASS_NAMES` (default all).
    source_frames : int
        Length of the generated skeleton sequences (30 fps) the clip is sampled from.
    num_subjects : int
        Subjects 1..num_subjects.
    noise_std : float
        Gaussian pixel noise (0-1 scale).
    focal_ratio : float
        Focal length as a fraction of the image size (pixels / pixels).
    seed : int
    chunk : int
        Clips rendered at once.
    timings : dict, optional
        If given, filled with the seconds spent in ``"motion"`` (skeletons, views, objects,
        backgrounds), ``"render"`` (:func:`paperlib.data.render.render_capsules`) and
        ``"annotate"`` (2D joints, visibility, boxes).
    threads : int or None
        torch threads during the call (restored afterwards; ``None`` keeps the setting). The
        tensors are small and one thread avoids OpenMP contention on a shared 2-core machine.
    held_objects : sequence of ``num_scenes`` str, optional
        The object in the acting hand of each performance (``"cup"``, ``"phone"``, ``"ball"`` or
        ``""`` for an empty hand), the same for all its cameras, replacing the default (a cup for
        *drink*, a ball for *pick up*, nothing otherwise). ``None`` (default) keeps the default,
        and the clips are bit for bit those of earlier versions. Notebook 03 uses it for classes
        that differ only by a small held object. An entry may be a pair ``(acting, other)``: the
        second object goes in the other hand (both hands then carry information; every entry
        must then be a pair; boxes in ``other_object_boxes``).
    object_scale : float
        Multiplies the handheld objects' radius and half-length (metres;
        :func:`paperlib.data.render.handheld_capsules`); ``1.0`` (default) keeps today's sizes.
        The projected size in pixels is in ``object_boxes``.

    Returns
    -------
    SinglePersonClips

    Raises
    ------
    ValueError
        On an unknown class or camera id, ``frames < 1`` or ``source_frames < 8``, a
        ``held_objects`` of the wrong length or ``object_scale < 0``; ``KeyError`` for an unknown
        object kind.
    """
    with R.torch_threads(threads):
        return _make_single(num_scenes, frames, size, cameras, classes, source_frames, num_subjects, noise_std,
                            focal_ratio, seed, chunk, timings, held_objects, object_scale)


def _make_single(num_scenes, frames, size, cameras, classes, source_frames, num_subjects, noise_std, focal_ratio,
                 seed, chunk, timings, held_objects=None, object_scale=1.0):
    cams = tuple(int(c) for c in cameras)
    if not cams or any(c not in S.CAMERA_AZIMUTH_DEG for c in cams):
        raise ValueError(f"make_single_person_clips: cameras must be among {sorted(S.CAMERA_AZIMUTH_DEG)}, got {cameras}")
    if frames < 1 or source_frames < 8:
        raise ValueError(f"make_single_person_clips: need frames >= 1 and source_frames >= 8, got {frames}, {source_frames}")
    clock = _Clock(timings)
    data = S.generate(num_samples=num_scenes, frames=source_frames, min_valid=max(8, int(0.8 * source_frames)),
                      num_subjects=num_subjects, classes=classes, seed=seed, noise_std=0.0, jitter_prob=0.0,
                      dropout_prob=0.0)
    rng = np.random.default_rng([seed, 101])
    camera = _camera(size, focal_ratio)
    T, Sn, C = frames, num_scenes, len(cams)
    # uniform temporal sampling of the valid frames
    idx = np.round(np.linspace(0, 1, T)[None] * (data.valid_frames[:, None] - 1)).astype(np.int64)  # (S, T)
    joints = data.joints[np.arange(Sn)[:, None], :, idx].transpose(0, 2, 1, 3, 4)  # (S, M, T, V, 3)
    viewed, cam_h, cam_d = _view_transform(joints.astype(np.float64), data.cameras, np.tile(cams, (Sn, 1)), rng)
    N = Sn * C
    jv = viewed.reshape(N, 2, T, V, 3)
    has_partner = np.repeat(np.abs(joints[:, 1]).sum(axis=(1, 2, 3)) > 0, C)
    cam_h, cam_d = cam_h.reshape(N), cam_d.reshape(N)
    labels = np.repeat(data.labels, C)
    subjects = np.repeat(data.subjects, C)
    hand_side = np.repeat(np.where(data.handedness > 0, "right", "left"), C)
    names = [data.class_names[l] for l in labels]

    # people: clothing is a function of the subject; the partner's is random per scene
    outfits = {int(s): R.random_clothing(np.random.default_rng([seed, 7, int(s)]), 1)[0] for s in np.unique(subjects)}
    cloth0 = np.stack([outfits[int(s)] for s in subjects])
    cloth1 = np.repeat(R.random_clothing(rng, Sn), C, axis=0)
    scale0 = np.ones(N)
    body0 = R.body_capsules(jv[:, 0], cloth0, radius_scale=scale0)
    body1 = R.body_capsules(np.where(has_partner[:, None, None, None], jv[:, 1], jv[:, 0]), cloth1,
                            present=np.repeat(has_partner[:, None], T, 1))
    # handheld objects
    other_kinds = None
    if held_objects is None:
        kinds = ["cup" if n == "drink" else "ball" if n == "pick up" else "" for n in names]
    else:
        if len(held_objects) != Sn:
            raise ValueError(f"make_single_person_clips: held_objects needs {Sn} entries (one per scene), "
                             f"got {len(held_objects)}")
        pairs = [isinstance(h, (tuple, list)) for h in held_objects]
        if any(pairs) and not all(pairs) or any(len(h) != 2 for h, q in zip(held_objects, pairs) if q):
            raise ValueError("make_single_person_clips: held_objects must be all names or all (acting, other) "
                             "pairs")
        if all(pairs):
            other_kinds = [str(held_objects[s][1] or "") for s in range(Sn) for _ in range(C)]
            held_objects = [h[0] for h in held_objects]
        kinds = [str(held_objects[s] or "") for s in range(Sn) for _ in range(C)]
    hand = np.stack([jv[b, 0, :, J[f"hand_{hand_side[b]}"]] for b in range(N)])
    tip = np.stack([jv[b, 0, :, J[f"handtip_{hand_side[b]}"]] for b in range(N)])
    obj = R.handheld_capsules(kinds, hand, tip, scale=object_scale)
    other = None
    if other_kinds is not None:                # the second object, in the other hand
        side = np.where(hand_side == "right", "left", "right")
        other = R.handheld_capsules(other_kinds, np.stack([jv[b, 0, :, J[f"hand_{side[b]}"]] for b in range(N)]),
                                    np.stack([jv[b, 0, :, J[f"handtip_{side[b]}"]] for b in range(N)]),
                                    scale=object_scale)
    for b in np.flatnonzero([k == "ball" for k in kinds]):  # the ball waits on the floor until grasped
        t_low = int(np.argmin(hand[b, :, 1]))
        rest = obj.start[b, t_low, 0].clone()
        rest[1] = -cam_h[b] + R.OBJECT_KINDS["ball"][1] * object_scale
        obj.start[b, :t_low, 0] = rest
        obj.end[b, :t_low, 0] = rest
    statics, _ = _static_objects(rng, N, T, cam_h, cam_d, camera)
    bg, _ = R.textured_backgrounds(rng, N, camera, cam_h)
    layers = [R.Capsules.concat([body0, obj] + ([other] if other is not None else [])), body1] + statics.split()
    clock("motion")
    res = R.render_capsules(layers, camera, bg, noise_std=noise_std, rng=rng, chunk=chunk)
    clock("render")

    j0 = jv[:, 0].astype(np.float32)
    j1 = np.where(has_partner[:, None, None, None], jv[:, 1], 0).astype(np.float32)
    uv0, vis0, box0 = _annotate_person(j0, camera, res.depth)
    uv1, vis1, box1 = _annotate_person(np.where(has_partner[:, None, None, None], j1, j0), camera, res.depth)
    keep = has_partner[:, None, None]
    clock("annotate")
    return SinglePersonClips(
        frames=res.frames, joints2d=uv0, visibility=vis0, boxes=box0, joints3d=j0,
        labels=labels.astype(np.int64), class_names=tuple(data.class_names), subjects=subjects.astype(np.int64),
        cameras=np.tile(np.asarray(cams, np.int64), Sn), scenes=np.repeat(np.arange(Sn), C).astype(np.int64),
        partner_joints2d=np.where(keep[..., None], uv1, 0).astype(np.float32),
        partner_visibility=vis1 & keep, partner_boxes=np.where(keep, box1, 0).astype(np.float32),
        partner_joints3d=j1, has_partner=has_partner,
        object_boxes=obj.boxes(camera)[:, :, 0], object_names=kinds, camera=camera,
        fps=np.repeat(30.0 * (T - 1) / np.maximum(data.valid_frames - 1, 1), C).astype(np.float32),
        other_object_boxes=None if other is None else other.boxes(camera)[:, :, 0], other_object_names=other_kinds,
    )


def render_skeleton_clips(joints, size=64, labels=None, class_names=(), noise_std: float = 0.01, focal_ratio: float = 0.95,
                          seed: int = 0, chunk: int = 8, fps: float = 30.0) -> SinglePersonClips:
    """Render given NTU-25 sequences (camera frame) with random rooms and clothing.

    For real motion, e.g. the DeepMimic clips:
    ``render_skeleton_clips(mocap.to_ntu25(clip, translation=(0, -1.1, 3.4))[None, None, ::8])``
    (the floor 1.1 m below the camera, the performer 3.4 m away).

    Parameters
    ----------
    joints : array ``(N, M, T, 25, 3)`` metres (``M`` = 1 or 2 bodies; an all-zero body is
        absent), in the Kinect camera frame, every joint with ``z > 0.1``.
    size : int or (H, W), pixels.
    labels : ``(N,)`` ints, optional (default zeros); class_names : tuple of str.
    noise_std, focal_ratio, seed, chunk : as in :func:`make_single_person_clips`.
    fps : frames per second of ``joints``.

    Returns
    -------
    SinglePersonClips with ``subjects``, ``cameras`` and ``scenes`` set to ``0..N-1`` / zeros.

    Raises ``ValueError`` if the joints are not ``(N, M, T, 25, 3)`` with ``M`` in {1, 2}.
    """
    j = np.asarray(joints, np.float64)
    if j.ndim != 5 or j.shape[1] not in (1, 2) or j.shape[3:] != (V, 3):
        raise ValueError(f"render_skeleton_clips: joints must be (N, M<=2, T, 25, 3), got {j.shape}")
    if j.shape[1] == 1:
        j = np.concatenate([j, np.zeros_like(j)], 1)
    N, _, T = j.shape[:3]
    rng = np.random.default_rng([seed, 202])
    camera = _camera(size, focal_ratio)
    has_partner = np.abs(j[:, 1]).sum(axis=(1, 2, 3)) > 0
    floor = np.array([j[b, :1 + int(has_partner[b]), :, :, 1].min() for b in range(N)])
    depth = j[:, 0, 0, J["spine_base"], 2]
    cloth = R.random_clothing(rng, 2 * N)
    body0 = R.body_capsules(j[:, 0], cloth[:N])
    body1 = R.body_capsules(np.where(has_partner[:, None, None, None], j[:, 1], j[:, 0]), cloth[N:],
                            present=np.repeat(has_partner[:, None], T, 1))
    statics, _ = _static_objects(rng, N, T, -floor, depth, camera)
    bg, _ = R.textured_backgrounds(rng, N, camera, np.clip(-floor, 0.3, None))
    res = R.render_capsules([body0, body1] + statics.split(), camera, bg, noise_std=noise_std, rng=rng, chunk=chunk)
    j0 = j[:, 0].astype(np.float32)
    j1 = np.where(has_partner[:, None, None, None], j[:, 1], 0).astype(np.float32)
    uv0, vis0, box0 = _annotate_person(j0, camera, res.depth)
    uv1, vis1, box1 = _annotate_person(np.where(has_partner[:, None, None, None], j1, j0), camera, res.depth)
    keep = has_partner[:, None, None]
    labels = np.zeros(N, np.int64) if labels is None else np.asarray(labels, np.int64)
    return SinglePersonClips(
        frames=res.frames, joints2d=uv0, visibility=vis0, boxes=box0, joints3d=j0, labels=labels,
        class_names=tuple(class_names), subjects=np.zeros(N, np.int64), cameras=np.zeros(N, np.int64),
        scenes=np.arange(N, dtype=np.int64), partner_joints2d=np.where(keep[..., None], uv1, 0).astype(np.float32),
        partner_visibility=vis1 & keep, partner_boxes=np.where(keep, box1, 0).astype(np.float32),
        partner_joints3d=j1, has_partner=has_partner, object_boxes=np.full((N, T, 4), np.nan, np.float32),
        object_names=[""] * N, camera=camera, fps=np.full(N, fps, np.float32))


# ----------------------------------------------------------------------------------------------
# Multi-person clips (Video Action Transformer, AVA-like)
# ----------------------------------------------------------------------------------------------
_KNOTS = np.linspace(0.0, 1.0, 9)  # keyframe times of every multi-person motion (u in [0, 1])
_HOLD = dict(flex=0.45, abd=0.15, elbow=1.45)
_REACH = dict(flex=1.2, abd=-0.12, elbow=0.25)


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


def _person_keys(p):
    """Keyframes (u, pose) of one person from its sampled attributes ``p`` (a dict)."""
    keys = []
    h = p["head_yaw"]
    for i, u in enumerate(_KNOTS):
        parts = []
        head = [0.0, 0.7 * h, 0.0]
        root_t = (0.0, 0.0, 0.0)
        bend, twist = 0.0, 0.3 * h
        mv, act = p["movement"], p["activity"]
        phase = (i + p["phase"]) % 4
        if mv == "sit":
            parts += [_leg("L", hip=1.5, knee=1.55, ankle=-0.1), _leg("R", hip=1.5, knee=1.55, ankle=-0.1)]
            bend, root_t = 0.12, (0.0, -0.45, -0.3)
        elif mv == "walk":
            a = [_leg("L", hip=0.45, knee=0.1), _leg("R", hip=-0.3, knee=0.35)]
            b = [_leg("R", hip=0.45, knee=0.1), _leg("L", hip=-0.3, knee=0.35)]
            mid = [_leg("L", hip=0.1, knee=0.45), _leg("R", hip=0.05, knee=0.1)]
            mid2 = [_leg("R", hip=0.1, knee=0.45), _leg("L", hip=0.05, knee=0.1)]
            parts += (a, mid, b, mid2)[phase]
            swing = (0.35, 0.0, -0.35, 0.0)[phase]
            if act == "none":
                parts += [_arm("R", flex=-swing), _arm("L", flex=swing)]
            else:
                parts += [_arm("L", flex=swing)]
            root_t = (0.0, -0.02 * (phase % 2 == 0), p["walk_distance"] * (u - 0.5))
        elif mv == "bend":
            bend = p["bend"] * (1.0 if i % 2 == 0 else 0.85)
            parts += [_leg("L", hip=0.25, knee=0.3), _leg("R", hip=0.25, knee=0.3)]
            parts += [_arm("R", flex=0.9, elbow=0.2), _arm("L", flex=0.8, elbow=0.25)]
            head[0] = 0.35
            root_t = (0.0, -0.05, -0.08)
        else:
            parts += [_leg("L", abd=p["stance"]), _leg("R", abd=p["stance"])]
        if mv != "bend":
            if act == "none" and mv != "walk":
                parts += [_arm("R", flex=p["arm_rest"][0], elbow=p["arm_rest"][1]),
                          _arm("L", flex=p["arm_rest"][1], elbow=p["arm_rest"][0])]
            elif act == "hold":
                parts += [_arm("R", **_HOLD)]
                if mv != "walk":
                    parts += [_arm("L", flex=p["arm_rest"][1])]
            elif act == "gesture":
                g1 = [_arm("R", flex=0.45, abd=0.35, elbow=1.5, twist=0.4), _arm("L", flex=0.35, elbow=1.2)]
                g2 = [_arm("R", flex=0.75, abd=0.1, elbow=0.8), _arm("L", flex=0.55, abd=0.3, elbow=1.6, twist=0.3)]
                parts += (g1, g2)[(i + p["phase"]) % 2]
            elif act == "wave":
                up = [_arm("R", flex=0.3, abd=1.55, elbow=0.45), _arm("L")]
                side = [_arm("R", flex=0.3, abd=1.55, elbow=1.3), _arm("L")]
                parts += (up, side)[(i + p["phase"]) % 2]
            elif act in ("give", "take"):
                if p.get("symmetric_exchange", False):  # the same arm motion for both: only the object differs
                    first, last = _HOLD, _HOLD
                else:
                    first, last = (_HOLD, {}) if act == "give" else ({}, _HOLD)
                arm = first if u < 0.3 else _REACH if u < 0.7 else last
                parts += [_arm("R", **arm), _arm("L")]
        parts.append(_spine(bend=bend, twist=twist))
        keys.append((float(u), _pose(*parts, head=tuple(head), root_t=root_t)))
    return keys


def _place_people(rng, n, exchange, camera, restarts=50, attempts=100):
    """Pelvis floor positions ``(n, 2)`` (x, z) metres, at least 0.9 m apart (0.78-0.92 m for a
    hand-over pair), all inside the horizontal field of view, at depths 3.0-6.6 m.

    Raises ``RuntimeError`` if no layout is found (never observed; nothing is returned half-placed).
    """
    half_fov = (camera.width / 2 - 5) / camera.focal

    def in_view(p):
        return 3.0 <= p[1] <= 6.6 and abs(p[0]) <= half_fov * p[1] - 0.2

    for _ in range(restarts):
        pos = np.zeros((n, 2))
        for i in range(n):
            for _ in range(attempts):
                if i == 1 and exchange:
                    ang = rng.uniform(-0.6, 0.6) + rng.choice([0.0, np.pi])
                    cand = pos[0] + rng.uniform(0.78, 0.92) * np.array([np.cos(ang), np.sin(ang)])
                    sep = 0.75
                else:
                    z = rng.uniform(3.3, 6.2)
                    cand = np.array([rng.uniform(-1, 1) * max(half_fov * z - 0.35, 0.1), z])
                    sep = 0.9
                if in_view(cand) and (i == 0 or np.min(np.linalg.norm(pos[:i] - cand, axis=1)) >= sep):
                    pos[i] = cand
                    break
            else:
                break
        else:
            return pos
    raise RuntimeError(f"_place_people: no layout found for {n} people")


def person_spec(x: float, z: float, yaw: float, movement: str = "stand", activity: str = "none",
                head_yaw: float = 0.0, kind: str = "", role: str = "", target: int = -1, **body) -> dict:
    """One person of a hand-made scene for :func:`make_multi_person_clips` (``scenes=``).

    Parameters
    ----------
    x, z : float
        Floor position of the pelvis in the camera frame, metres (``x`` towards the image's
        left, ``z`` the depth).
    yaw : float
        Body heading in radians about the vertical: the body faces ``(sin yaw, 0, cos yaw)``;
        ``pi`` faces the camera, ``+-pi/2`` is a profile.
    movement : one of :data:`MOVEMENTS` (``"stand"``, ``"sit"``, ``"walk"``, ``"bend"``).
    activity : ``"none"``, ``"hold"`` (the holding pose; give ``kind`` to put an object in the
        hand), ``"gesture"`` (talking gesture), ``"wave"``, or ``"give"`` / ``"take"`` (a
        hand-over pair: set ``role`` to the same word and ``target`` to the partner's index;
        the giver needs ``kind``).
    head_yaw : float
        Head turn relative to the body, radians (0.7 of it at the neck, 0.3 in the spine).
    kind : ``""`` or one of :data:`HANDHELD`.
    **body : optional ``height``, ``arm``, ``leg``, ``width`` (size factors), ``phase``
        (0-3, the start of the gesture/walk cycles), ``stance``, ``bend``, ``walk_distance``.

    Labels are computed from the rendered geometry, as for sampled scenes.

    Raises ``ValueError`` for an unknown movement, activity or object kind.
    """
    if movement not in MOVEMENTS:
        raise ValueError(f"person_spec: movement must be one of {MOVEMENTS}, got {movement!r}")
    if activity not in ("none", "hold", "gesture", "wave", "give", "take"):
        raise ValueError(f"person_spec: unknown activity {activity!r}")
    if kind and kind not in HANDHELD:
        raise ValueError(f"person_spec: kind must be one of {HANDHELD}, got {kind!r}")
    p = dict(pos=np.array([float(x), float(z)]), movement=movement, activity=activity, target=int(target), role=role,
             head_yaw=float(head_yaw), yaw=float(_wrap(yaw)), phase=0, arm_rest=(0.05, 0.2), stance=0.06, bend=1.0,
             walk_distance=1.1, height=1.0, arm=1.0, leg=1.0, width=1.0, has_object=bool(kind), kind=kind,
             mirror=False)
    unknown = set(body) - {"height", "arm", "leg", "width", "phase", "stance", "bend", "walk_distance"}
    if unknown:
        raise ValueError(f"person_spec: unknown fields {sorted(unknown)}")
    p.update(body)
    return p


def _sample_scene(rng, P, camera, exchange_rate=0.3, conversation_rate=0.5):
    """Attributes of every person of one scene (a list of dicts) and the scene's roles. The two
    rates are thresholds of draws made whatever their values, so the defaults give the scenes of
    every earlier version."""
    n = int(rng.integers(1, P + 1))
    exchange = n >= 2 and rng.random() < exchange_rate
    pos = _place_people(rng, n, exchange, camera)
    people = []
    for i in range(n):
        people.append(dict(
            pos=pos[i], movement="stand", activity="none", target=-1, role="", head_yaw=0.0,
            phase=int(rng.integers(0, 4)), arm_rest=(rng.uniform(-0.1, 0.2), rng.uniform(0.05, 0.4)),
            stance=rng.uniform(0.0, 0.12), bend=rng.uniform(0.9, 1.15), walk_distance=rng.uniform(0.9, 1.4),
            height=rng.uniform(0.9, 1.08), arm=rng.uniform(0.94, 1.06), leg=rng.uniform(0.94, 1.06),
            width=rng.uniform(0.9, 1.1), has_object=False, kind="", mirror=False))
    free = list(range(n))
    if exchange:
        people[0].update(role="give", activity="give", target=1, has_object=True)
        people[1].update(role="take", activity="take", target=0)
        people[0]["kind"] = HANDHELD[int(rng.integers(0, 3))]
        free = free[2:]
    for i in free:
        people[i]["movement"] = MOVEMENTS[int(rng.choice(4, p=[0.45, 0.2, 0.2, 0.15]))]
    talkable = [i for i in free if people[i]["movement"] in ("stand", "sit")]
    if len(talkable) >= 2 and rng.random() < conversation_rate:
        i, j = rng.choice(talkable, 2, replace=False)
        people[i].update(activity="gesture", target=int(j), role="talk")
        people[j].update(target=int(i), role="listen")
    for i in free:
        p = people[i]
        if p["movement"] == "walk":
            p["activity"] = "hold" if rng.random() < 0.3 else "none"
        elif p["movement"] in ("stand", "sit") and p["role"] != "talk":
            acts = ("none", "hold", "gesture", "wave") if p["movement"] == "stand" else ("none", "hold", "gesture")
            probs = (0.35, 0.3, 0.2, 0.15) if p["movement"] == "stand" else (0.4, 0.35, 0.25)
            p["activity"] = acts[int(rng.choice(len(acts), p=probs))] if p["role"] != "listen" else \
                ("none", "hold")[int(rng.random() < 0.4)]
            if p["role"] == "" and n >= 2 and rng.random() < 0.5:
                others = [j for j in range(n) if j != i]
                p["target"] = int(rng.choice(others))
        if p["activity"] == "hold":
            p["has_object"] = rng.random() < 0.55  # else the same pose, empty-handed
            p["kind"] = HANDHELD[int(rng.integers(0, 3))] if p["has_object"] else ""
    # orientations
    for i, p in enumerate(people):
        dirs = [np.arctan2(*(people[j]["pos"] - p["pos"])) for j in range(n) if j != i]  # yaw towards j
        if p["movement"] == "walk":
            psi = rng.choice([-1.0, 1.0]) * np.pi / 2 + rng.uniform(-0.5, 0.5)
            p["head_yaw"] = 0.0
        elif p["movement"] == "bend":
            psi = np.pi + rng.uniform(-1.6, 1.6)
            p["head_yaw"] = rng.uniform(-0.4, 0.4)
        else:
            h = rng.uniform(-0.12, 0.12) if p["role"] in ("give", "take") else rng.uniform(-HEAD_YAW_RANGE, HEAD_YAW_RANGE)
            if p["target"] >= 0:
                g = np.arctan2(*(people[p["target"]]["pos"] - p["pos"]))
            else:
                g = _away_gaze(rng, dirs)
            psi = g - h
            p["head_yaw"] = h
        p["yaw"] = float(_wrap(psi))
    return people


def _away_gaze(rng, dirs, min_sep=np.deg2rad(50.0), tries=40):
    """A gaze yaw at least ``min_sep`` from every direction in ``dirs``, distributed like a
    watcher's: preferably the mirror image (about the optical axis) of a direction to a person,
    else uniform on the circle. After ``tries`` rejections the best candidate is returned (the
    labels are computed from the final geometry anyway)."""
    best, best_sep = None, -1.0
    for k in range(tries):
        if dirs and k < tries // 2:
            g = -dirs[int(rng.integers(0, len(dirs)))] + rng.uniform(-0.3, 0.3)
        else:
            g = rng.uniform(-np.pi, np.pi)
        sep = min([abs(_wrap(g - d)) for d in dirs], default=np.pi)
        if sep >= min_sep:
            return float(g)
        if sep > best_sep:
            best, best_sep = g, sep
    return float(best)


def _multi_motion(scenes, T, cam_h):
    """Joints (N, T, P, V, 3), face directions (N, T, P, 3) for the sampled scenes."""
    N, P = len(scenes), max(len(s) for s in scenes)
    u = np.broadcast_to(np.arange(T) / T, (1, T))
    joints = np.zeros((N, T, P, V, 3), np.float32)
    face = np.zeros((N, T, P, 3), np.float32)
    rots, offs, roots, yaws, where = [], [], [], [], []
    for b, people in enumerate(scenes):
        for i, p in enumerate(people):
            tt, tv = _keyframe_tracks(_person_keys(p))
            rot, root_t = _render_person(tt, tv, u, np.ones(1), np.zeros((1, V * 3 + 6)), np.array([p["mirror"]]), None,
                                         shared_opening=False)
            rots.append(rot[0])
            roots.append(root_t[0])
            offs.append(S.rest_offsets(p["height"], p["arm"], p["leg"], p["width"]))
            yaws.append(p["yaw"])
            where.append((b, i, p["pos"][0], p["pos"][1]))
    n = len(rots)
    R_loc = axis_angle_to_matrix(torch.from_numpy(np.stack(rots)).float())  # (n, T, V, 3, 3)
    yaw_aa = torch.zeros(n, 3)
    yaw_aa[:, 1] = torch.tensor(yaws, dtype=torch.float32)
    R_yaw = axis_angle_to_matrix(yaw_aa)[:, None]  # (n, 1, 3, 3)
    R_loc[:, :, 0] = R_yaw @ R_loc[:, :, 0]
    base = torch.tensor([[x, -cam_h[b], z] for b, _, x, z in where], dtype=torch.float32)
    root_world = (R_yaw @ torch.from_numpy(np.stack(roots)).float()[..., None])[..., 0] + base[:, None]
    offsets = torch.from_numpy(np.stack(offs)).float()[:, None]
    pos, glob = forward_kinematics(R_loc, offsets, NTU25.parents, root_translation=root_world, return_global=True)
    fwd = glob[:, :, J["head"]] @ torch.tensor([0.0, 0.0, 1.0])  # (n, T, 3)
    for k, (b, i, _, _) in enumerate(where):
        joints[b, :, i] = pos[k].numpy()
        face[b, :, i] = fwd[k].numpy()
    return joints, face


def _context_labels(joints, face, present, boxes_in_view, gesturing, kf):
    """Targets ``(N, P)`` (who each person watches at the keyframe) from the geometry."""
    head = joints[:, kf, :, J["head"]]  # (N, P, 3)
    f = face[:, kf]  # (N, P, 3)
    d = head[:, None, :, :] - head[:, :, None, :]  # (N, i, j, 3): from i to j
    yaw_f = np.arctan2(-f[..., 0], -f[..., 2])  # any fixed horizontal angle convention works for differences
    yaw_d = np.arctan2(-d[..., 0], -d[..., 2])
    ang = np.abs(_wrap(yaw_d - yaw_f[:, :, None]))
    dist = np.linalg.norm(d[..., [0, 2]], axis=-1)
    pitch = np.degrees(np.arcsin(np.clip(f[..., 1], -1, 1)))  # (N, P), negative = looking down
    P = head.shape[1]
    ok = (present[:, :, None] & present[:, None, :] & ~np.eye(P, dtype=bool)[None]
          & boxes_in_view[:, None, :] & (ang < np.deg2rad(WATCH_MAX_ANGLE_DEG)) & (dist < WATCH_MAX_DISTANCE)
          & (pitch[:, :, None] > -WATCH_MAX_PITCH_DEG))
    ang = np.where(ok, ang, np.inf)
    return np.where(ok.any(-1), ang.argmin(-1), -1)


def make_multi_person_clips(num_clips: int = 64, frames: int = 8, size=64, max_people: int = 4, duration: float = 2.0,
                            noise_std: float = 0.01, focal_ratio: float = 0.9, seed: int = 0, chunk: int = 8,
                            timings: dict | None = None, threads: int | None = 1, scenes=None,
                            cue_scale: float = 1.0, symmetric_exchange: bool = False, exchange_rate: float = 0.3,
                            conversation_rate: float = 0.5) -> MultiPersonClips:
    """Render AVA-like scenes of 1 to ``max_people`` people with multi-label keyframe actions.

    Each scene is sampled as follows (all seeded): the number of people (uniform in
    1..``max_people``); with probability ``exchange_rate`` (default 30%; two or more people) a
    hand-over pair standing 0.8-0.9 m apart, facing each other; everyone else's movement (stand
    45%, sit 20% on a stool, walk 20% across the view, bend 15%); among the standing/sitting
    people, with probability ``conversation_rate`` (default 50%) a conversation pair (the talker gestures facing the listener, who faces the
    talker); each remaining standing/sitting person faces another person (50%) or gazes away
    (the mirror image, about the optical axis, of a direction towards someone, else a uniform
    direction; rejected if within 50 degrees of anyone, so that watchers and non-watchers face
    the camera, the side or the back alike),
    and performs nothing, the holding pose (with an object 55% of the time, else empty-handed),
    the talking gesture (facing no one), or a wave. The head's yaw relative to the body is
    uniform in +-0.9 rad for every standing or sitting person, watcher or not.

    Labels at the keyframe ``T // 2`` come from the rendered geometry, not from the sampling
    intent: *watch* by :data:`WATCH_MAX_ANGLE_DEG` / :data:`WATCH_MAX_DISTANCE` /
    :data:`WATCH_MAX_PITCH_DEG` (and the watched head inside the image); *talk to* = gesturing
    and watching someone; *listen to* = watching someone who gestures; *hold* = an object in
    the hand at the keyframe, outside a hand-over; *hand over* / *take* = the giver / taker of a
    hand-over (the object moves from the giver's hand to the taker's between u = 0.45 and 0.55
    of the clip); the movement classes (and *wave*) from the motion performed.

    Parameters
    ----------
    num_clips : int
        ``N``.
    frames : int
        ``T`` frames spanning ``duration`` seconds.
    size : int or (H, W)
        Image size in pixels.
    max_people : int
        ``P`` (1 to 4).
    duration : float
        Seconds covered by a clip.
    noise_std, focal_ratio, seed, chunk, timings, threads
        As in :func:`make_single_person_clips`.
    scenes : list of ``num_clips`` lists of :func:`person_spec` dicts, optional
        Hand-made scenes instead of sampled ones (e.g. the same pose with and without someone
        in its gaze); everything else (room, clothing, camera height) is still drawn from
        ``seed``.
    cue_scale : float
        Multiplies the size of the small context cues: the head's and the face's radii and the
        face's offset (head orientation: *watch*, *talk to*, *listen to*) and the handheld
        objects' radius and half-length (*hold*, *hand over*, *take*). 1 = the default sizes;
        :func:`cue_sizes_px` states them in pixels. Labels do not depend on it.
    symmetric_exchange : bool
        Give the giver and the taker of a hand-over the same arm motion (hold -> reach -> hold),
        so that only the object's path tells them apart. Default ``False``: the giver's arm goes
        hold -> reach -> rest, the taker's rest -> reach -> hold (each one's own pose tells).
    exchange_rate, conversation_rate : float in [0, 1]
        How often a scene holds a hand-over pair / a conversation pair: the classes whose label
        only another person tells (*take*, *hand over* with ``symmetric_exchange``, *listen to*).
        The defaults give the scenes of grid 04; another rate changes the scenes from the first
        scene whose decision it flips (a hand-over pair is placed differently).

    Returns
    -------
    MultiPersonClips

    Raises
    ------
    ValueError
        If ``max_people`` is not in 1..4 or ``frames < 1``, or ``scenes`` does not hold
        ``num_clips`` scenes of 1 to ``max_people`` people, or ``cue_scale <= 0``, or a rate lies
        outside [0, 1].
    """
    with R.torch_threads(threads):
        return _make_multi(num_clips, frames, size, max_people, duration, noise_std, focal_ratio, seed, chunk, timings,
                           scenes, cue_scale, symmetric_exchange, exchange_rate, conversation_rate)


def _make_multi(num_clips, frames, size, max_people, duration, noise_std, focal_ratio, seed, chunk, timings,
                scenes=None, cue_scale=1.0, symmetric_exchange=False, exchange_rate=0.3, conversation_rate=0.5):
    if not 1 <= max_people <= 4 or frames < 1:
        raise ValueError(f"make_multi_person_clips: need 1 <= max_people <= 4 and frames >= 1, got {max_people}, {frames}")
    for name, rate in (("exchange_rate", exchange_rate), ("conversation_rate", conversation_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"make_multi_person_clips: {name} must lie in [0, 1], got {rate}")
    if not cue_scale > 0:
        raise ValueError(f"make_multi_person_clips: cue_scale must be > 0, got {cue_scale}")
    clock = _Clock(timings)
    rng = np.random.default_rng([seed, 303])
    camera = _camera(size, focal_ratio)
    T, P, N = frames, max_people, num_clips
    if scenes is None:
        scenes = [_sample_scene(rng, P, camera, exchange_rate, conversation_rate) for _ in range(N)]
    elif len(scenes) != N or any(not 1 <= len(sc) <= P for sc in scenes):
        raise ValueError(f"make_multi_person_clips: scenes must be {N} lists of 1..{P} person_spec dicts")
    if symmetric_exchange:
        scenes = [[dict(p, symmetric_exchange=True) if p["role"] in ("give", "take") else p for p in s] for s in scenes]
    cam_h = rng.uniform(1.2, 1.6, N)
    joints, face = _multi_motion(scenes, T, cam_h)  # (N, T, Pm, V, 3)
    Pm = joints.shape[2]
    if Pm < P:
        joints = np.concatenate([joints, np.zeros((N, T, P - Pm, V, 3), np.float32)], 2)
        face = np.concatenate([face, np.zeros((N, T, P - Pm, 3), np.float32)], 2)
    present = np.zeros((N, P), bool)
    for b, s in enumerate(scenes):
        present[b, :len(s)] = True
    u = np.arange(T) / T
    kf = T // 2

    # objects: handheld (slot p), stool (slot P + p), two static distractors
    O = 2 * P + 2
    kinds = np.full((N, O), -1, np.int64)
    holders = np.full((N, T, O), -1, np.int64)
    hand = np.zeros((N, T, P, 3), np.float32)
    tip = np.zeros((N, T, P, 3), np.float32)
    obj_layers = []
    object_names = HANDHELD + ("stool", "bin", "lamp")
    for p in range(P):
        kind_p = []
        for b, s in enumerate(scenes):
            if p < len(s) and s[p]["has_object"]:
                kind_p.append(s[p]["kind"])
                kinds[b, p] = object_names.index(s[p]["kind"])
            else:
                kind_p.append("")
        side = "right"
        h_j, t_j = joints[:, :, p, J[f"hand_{side}"]], joints[:, :, p, J[f"handtip_{side}"]]
        hand[:, :, p], tip[:, :, p] = h_j, t_j
        cap = R.handheld_capsules(kind_p, h_j, t_j, scale=cue_scale)
        for b, s in enumerate(scenes):  # hand-over: giver's hand -> taker's hand
            if p < len(s) and s[p]["role"] == "give":
                q = s[p]["target"]
                w = np.clip((u - 0.45) / 0.1, 0, 1).astype(np.float32)  # 0: giver, 1: taker
                other = R.handheld_capsules([s[p]["kind"]], joints[b:b + 1, :, q, J["hand_right"]],
                                            joints[b:b + 1, :, q, J["handtip_right"]], scale=cue_scale)
                wt = torch.from_numpy(w)[:, None, None]
                cap.start[b] = (1 - wt) * cap.start[b] + wt * other.start[0]
                cap.end[b] = (1 - wt) * cap.end[b] + wt * other.end[0]
                holders[b, :, p] = np.where(u < 0.45, p, np.where(u > 0.55, q, -1))
            elif p < len(s) and s[p]["has_object"]:
                holders[b, :, p] = p
        # stool under a sitter's pelvis
        stool_kinds, stool_pts = [], np.zeros((N, 1, 3))
        for b, s in enumerate(scenes):
            sits = p < len(s) and s[p]["movement"] == "sit"
            stool_kinds.append(["stool" if sits else ""])
            if sits:
                kinds[b, P + p] = object_names.index("stool")
                pel = joints[b, kf, p, J["spine_base"]]
                stool_pts[b, 0] = (pel[0], -cam_h[b], pel[2])
        stool = R.static_object_capsules(stool_kinds, stool_pts, T)
        obj_layers.append((cap, stool))
    depth = np.array([np.mean([pp["pos"][1] for pp in s]) for s in scenes])
    statics, static_kinds = _static_objects(rng, N, T, cam_h, depth + 0.5, camera)
    for b in range(N):
        for k in range(2):
            if static_kinds[b][k]:
                kinds[b, 2 * P + k] = object_names.index(static_kinds[b][k])

    cloth = R.random_clothing(rng, N * P).reshape(N, P, 6, 3)
    layers = []
    for p in range(P):
        body = R.body_capsules(joints[:, :, p], cloth[:, p], face_dir=face[:, :, p],
                               present=np.repeat(present[:, p:p + 1], T, 1),
                               radius_scale=[s[p]["height"] if p < len(s) else 1.0 for s in scenes],
                               head_scale=cue_scale)
        layers.append(R.Capsules.concat([body, obj_layers[p][0], obj_layers[p][1]]))
    layers += statics.split()
    bg, _ = R.textured_backgrounds(rng, N, camera, cam_h)
    clock("motion")
    res = R.render_capsules(layers, camera, bg, noise_std=noise_std, rng=rng, chunk=chunk)
    clock("render")

    uv, vis, boxes = _annotate_person(joints, camera, res.depth)
    uv = np.where(present[:, None, :, None, None], uv, 0).astype(np.float32)
    vis &= present[:, None, :, None]
    boxes = np.where(present[:, None, :, None], boxes, 0).astype(np.float32)
    obj_boxes = np.concatenate([np.stack([lay[0].boxes(camera)[:, :, 0] for lay in obj_layers], 2),
                                np.stack([lay[1].boxes(camera)[:, :, 0] for lay in obj_layers], 2),
                                statics.boxes(camera)], 2)

    # labels at the keyframe
    gest = np.zeros((N, P), bool)
    head_yaw = np.zeros((N, P), np.float32)
    for b, s in enumerate(scenes):
        for i, p in enumerate(s):
            gest[b, i] = p["activity"] == "gesture"
            head_yaw[b, i] = p["head_yaw"]
    head_uv = uv[:, kf, :, J["head"]]
    in_view = present & (head_uv[..., 0] >= 0) & (head_uv[..., 0] < camera.width) & (head_uv[..., 1] >= 0) & \
        (head_uv[..., 1] < camera.height)
    targets = _context_labels(joints, face, present, in_view, gest, kf)
    C = len(MULTI_CLASSES)
    labels = np.zeros((N, P, C), np.uint8)
    bi = np.arange(N)[:, None]
    watch = targets >= 0
    labels[..., _C["watch"]] = watch
    labels[..., _C["talk to"]] = watch & gest
    labels[..., _C["listen to"]] = watch & gest[bi, np.maximum(targets, 0)]
    for b, s in enumerate(scenes):
        for i, p in enumerate(s):
            labels[b, i, _C[{"bend": "bend/bow"}.get(p["movement"], p["movement"])]] = 1
            labels[b, i, _C["wave"]] = p["activity"] == "wave"
            labels[b, i, _C["hand over"]] = p["role"] == "give"
            labels[b, i, _C["take"]] = p["role"] == "take"
            labels[b, i, _C["hold"]] = bool(p["has_object"]) and p["role"] not in ("give", "take")
    clock("annotate")
    return MultiPersonClips(
        frames=res.frames, joints2d=uv, visibility=vis, boxes=boxes, joints3d=joints, face_dir=face,
        present=present, labels=labels, keyframe=kf, targets=targets.astype(np.int64), gesturing=gest,
        head_yaw=head_yaw, object_boxes=obj_boxes.astype(np.float32), object_kinds=kinds, object_holders=holders,
        object_names=object_names, video_ids=[f"synth_{i:05d}" for i in range(N)], camera=camera,
        fps=float(T) / duration, duration=float(duration), cue_scale=float(cue_scale),
        symmetric_exchange=bool(symmetric_exchange))


def cue_sizes_px(clips: MultiPersonClips) -> dict:
    """The small context cues of ``clips`` in pixels at the keyframe (medians over the people
    present, or over the objects of a kind in view).

    Returns a dict: ``head_diameter`` and ``face_offset`` (the face sphere's shift in front of
    the head's centre, the head-orientation cue), ``f * size / depth`` with the head's depth;
    ``<kind>_box`` for every handheld kind (the height of the object's projected box, from
    ``object_boxes``; NaN when no such object is in view). Sizes scale with
    ``clips.cue_scale``. Raises ``ValueError`` when the clips have no camera.
    """
    if clips.camera is None:
        raise ValueError("cue_sizes_px: the clips carry no camera")
    f, kf, P = clips.camera.focal, clips.keyframe, clips.present.shape[1]
    z = clips.joints3d[:, kf, :, J["head"], 2][clips.present]
    out = {"head_diameter": float(np.median(2 * R.HEAD_RADIUS * clips.cue_scale * f / z)),
           "face_offset": float(np.median(R.FACE_OFFSET * clips.cue_scale * f / z))}
    boxes = clips.object_boxes[:, kf, :P]
    kinds = clips.object_kinds[:, :P]
    for k in HANDHELD:
        sel = (kinds == clips.object_names.index(k)) & np.isfinite(boxes).all(-1)
        h = boxes[..., 3][sel] - boxes[..., 1][sel]
        out[f"{k}_box"] = float(np.median(h)) if h.size else float("nan")
    return out
