"""H36M-like daily actions in an SMPL-like representation (theta, beta, Pi), and the same
representation for real 3D joints (Human3.6M, DeepMimic).

Action-guided motion prediction (Sun et al., NeurIPS 2021) and PHD (Zhang et al., ICCV 2019)
describe a person by SMPL's pose ``theta`` (axis-angle of every joint, the global orientation
included), its shape ``beta`` (10 PCA coefficients of body shape) and a weak-perspective camera
``Pi = [s, t_x, t_y]``. SMPL's model files cannot be had here, so this module builds the
analogue on :mod:`paperlib.kinematics`:

- :class:`BodyModel` (the SMPL-like model): a kinematic tree, a *template* of rest offsets and
  a fixed linear *shape basis* obtained by PCA of many bodies' rest offsets, so that
  ``offsets(beta) = template + sum_k beta_k basis_k`` (SMPL's ``T + B_S(beta)``, on bones
  instead of mesh vertices). ``X = FK(theta, beta)`` are the 3D joints (root at the origin, as
  SMPL's joints carry no translation: the camera holds it), ``x = s X[..., :2] + t`` their 2D
  projection (:func:`paperlib.kinematics.project_weak_perspective`).
- :func:`generate`: procedural H36M-like daily actions (walking, eating, smoking, discussion,
  greeting, sitting down, phoning, taking photos). It reuses the keyframe vocabulary of
  :mod:`paperlib.data.synthetic` (``_arm``, ``_leg``, ``_spine``, ``_pose``,
  ``_keyframe_tracks``, ``_render_person``, the subject table and ``rest_offsets``) on the
  NTU-25 tree. Each action is a loop of *sub-processes* (e.g. eating: bite with the right hand,
  bite with the left, cut, drink); a sequence chains randomly drawn sub-processes with random
  durations, which is what makes the future ambiguous and what an action memory bank can store.
  Several families of sub-processes are shared across actions (a hand at the head: eating,
  smoking, phoning, taking photos; arm gestures: discussion, greeting, phoning; turning and
  crouching), so the first frames alone do not give the action away.
- :func:`from_positions`: the same representation for measured 3D joints (Human3.6M's
  ``positions_3d``), by analytic inverse kinematics (swing rotations for one-child joints,
  Kabsch for branching joints).
- :func:`make_windows`: fixed-length windows (observed + future frames) for training and
  evaluation, and :func:`split_subjects`: the subject-disjoint split.

Coordinates: the camera frame is right-handed, x to the image's right, y up, z towards the
camera; the body frame of the keyframes (x = the person's left, y up, z forward) coincides with
it when the person faces the camera. Metres, radians, 25 frames per second.

Everything is vectorised over sequences and seeded: the same arguments give the same arrays.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter

from ..kinematics import (axis_angle_to_matrix, forward_kinematics, matrix_to_axis_angle,
                          project_weak_perspective, rotation_about_y)
from ..skeleton import H36M17, NTU25, Skeleton, get_skeleton
from .synthetic import (_arm, _keyframe_tracks, _leg, _pose, _render_person, _spine,
                        _subject_offsets, _subject_table)

__all__ = ["BodyModel", "ntu25_body_model", "H36M_LIKE_ACTIONS", "H36M_LIKE_CLASS_NAMES",
           "H36MLikeConfig", "BodySequences", "generate", "split_subjects", "split_indices",
           "make_windows", "swing_kabsch_ik", "from_positions", "H36M17_REST_DIRECTIONS",
           "crop_camera", "SPLIT_PATTERN", "FPS", "unwrap_axis_angle", "from_mocap"]

FPS = 25.0
V = NTU25.num_joints


# ----------------------------------------------------------------------------------------------
# The SMPL-like body model
# ----------------------------------------------------------------------------------------------
def _as_tensor(x, like=None):
    if isinstance(x, torch.Tensor):
        return x
    dtype = like.dtype if isinstance(like, torch.Tensor) else torch.float64
    return torch.as_tensor(np.asarray(x), dtype=dtype)


@dataclass(frozen=True)
class BodyModel:
    """An SMPL-like body: ``X = FK(theta, beta)`` on a kinematic tree with a linear shape space.

    Attributes
    ----------
    skeleton : Skeleton
        The tree (``V`` joints).
    template : np.ndarray ``(V, 3)``, metres
        Mean rest offset of every joint from its parent, in the parent's frame; the root's is
        zero (the joints carry no translation, as SMPL's).
    shape_basis : np.ndarray ``(B, V, 3)``, metres
        Principal directions of the rest offsets, scaled by their standard deviation, so that
        ``beta ~ N(0, I)`` over the population it was fitted on (SMPL's shape PCA).
    explained : np.ndarray ``(B,)``
        Fraction of the offsets' variance each direction explains.
    """

    skeleton: Skeleton
    template: np.ndarray
    shape_basis: np.ndarray
    explained: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def num_joints(self) -> int:
        return self.skeleton.num_joints

    @property
    def num_betas(self) -> int:
        return int(self.shape_basis.shape[0])

    @classmethod
    def fit(cls, skeleton: Skeleton, offsets, num_betas: int) -> "BodyModel":
        """PCA of rest offsets ``(S, V, 3)`` (one body each) -> a model with ``num_betas``.

        The root offsets are zeroed first. Raises ``ValueError`` if ``num_betas`` exceeds the
        number of bodies minus one or the shapes disagree with the skeleton.
        """
        off = np.asarray(offsets, dtype=np.float64).copy()
        if off.ndim != 3 or off.shape[1:] != (skeleton.num_joints, 3):
            raise ValueError(f"BodyModel.fit: offsets must be (S, {skeleton.num_joints}, 3), got {off.shape}")
        if not 1 <= num_betas <= off.shape[0] - 1:
            raise ValueError(f"BodyModel.fit: num_betas must be in [1, {off.shape[0] - 1}], got {num_betas}")
        off[:, skeleton.root] = 0.0
        mean = off.mean(0)
        flat = (off - mean).reshape(len(off), -1)
        _, sv, vt = np.linalg.svd(flat, full_matrices=False)
        std = sv / np.sqrt(max(len(off) - 1, 1))
        total = (sv ** 2).sum()
        explained = (sv ** 2 / total)[:num_betas] if total > 0 else np.zeros(num_betas)
        # a fixed sign convention: the largest entry of every direction is positive
        signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])
        vt = vt * signs[:, None]
        basis = (vt[:num_betas] * std[:num_betas, None]).reshape(num_betas, skeleton.num_joints, 3)
        return cls(skeleton, mean, basis, explained)

    def offsets(self, beta):
        """Rest offsets ``(..., V, 3)`` for shape codes ``beta (..., B)`` (numpy or torch)."""
        if isinstance(beta, torch.Tensor):
            T = torch.as_tensor(self.template, dtype=beta.dtype, device=beta.device)
            Bs = torch.as_tensor(self.shape_basis, dtype=beta.dtype, device=beta.device)
            return T + torch.einsum("...b,bvc->...vc", beta, Bs)
        beta = np.asarray(beta, dtype=np.float64)
        return self.template + np.einsum("...b,bvc->...vc", beta, self.shape_basis)

    def betas_from_offsets(self, offsets) -> np.ndarray:
        """Least-squares shape code ``(..., B)`` of rest offsets ``(..., V, 3)`` (root ignored)."""
        off = np.asarray(offsets, dtype=np.float64).copy()
        off[..., self.skeleton.root, :] = 0.0
        A = self.shape_basis.reshape(self.num_betas, -1).T  # (3V, B)
        rhs = (off - self.template).reshape(off.shape[:-2] + (-1,))
        return rhs @ np.linalg.pinv(A).T

    def joints(self, theta, beta):
        """``X = FK(theta, beta)``: 3D joints ``(..., V, 3)`` in metres, root at the origin.

        ``theta (..., V, 3)`` axis-angle (joint 0 = the root = the global orientation) and
        ``beta (..., B)`` broadcastable to ``theta``'s leading dimensions. Differentiable when
        given torch tensors. Raises ``ValueError`` on a wrong joint count.
        """
        if theta.shape[-2:] != (self.num_joints, 3):
            raise ValueError(f"BodyModel.joints: theta must be (..., {self.num_joints}, 3), got {tuple(theta.shape)}")
        is_np = not isinstance(theta, torch.Tensor)
        th = _as_tensor(theta)
        be = _as_tensor(beta, th).to(th.dtype)
        off = self.offsets(be)  # (..., V, 3)
        R = axis_angle_to_matrix(th)
        off = off.expand(R.shape[:-2] + (3,)) if off.dim() < R.dim() - 1 else off
        X = forward_kinematics(R, off, self.skeleton.parents)
        return X.numpy() if is_np else X

    @staticmethod
    def project(X, cam):
        """Weak-perspective projection ``x = s X[..., :2] + t`` with ``cam (..., 3) = [s, tx, ty]``
        broadcast over the joints: ``X (..., V, 3) -> (..., V, 2)``."""
        if isinstance(X, torch.Tensor):
            return project_weak_perspective(X, cam[..., None, 0], cam[..., None, 1:])
        cam = np.asarray(cam, dtype=np.float64)
        return project_weak_perspective(np.asarray(X, dtype=np.float64), cam[..., None, 0], cam[..., None, 1:])


def ntu25_body_model(num_betas: int = 4, samples: int = 2000, seed: int = 12345) -> BodyModel:
    """The NTU-25 body model of :func:`generate`: PCA of ``samples`` bodies drawn from the
    subject distribution of :mod:`paperlib.data.synthetic` (height, arm, leg and shoulder/hip
    width; 4 factors, so 4 betas explain all the variance). Deterministic."""
    table = _subject_table(samples, np.random.default_rng(seed))
    return BodyModel.fit(NTU25, _subject_offsets(table), num_betas)


# ----------------------------------------------------------------------------------------------
# H36M-like actions: loops of sub-processes built from the synthetic keyframe vocabulary
# ----------------------------------------------------------------------------------------------
def _variant(base, keys, periodic=False):
    """A sub-process: keyframes in ``u in [0, 1]`` that start and end at ``base`` (so any two
    sub-processes of an action chain smoothly). Flat knots outside ``[0, 1]`` make the
    interpolant's slope vanish at the joins; ``periodic`` instead continues a cycle."""
    keys = [(0.0, base)] + list(keys) + [(1.0, base)]
    if periodic:
        return [(keys[-2][0] - 1.0, keys[-2][1])] + keys + [(1.0 + keys[1][0], keys[1][1])]
    return [(-0.2, base)] + keys + [(1.2, base)]


def _actions():
    A = {}
    relaxed = [_arm("L"), _arm("R")]
    # --- walking: gait cycles (two steps), three styles --------------------------------------
    def gait(swing=1.0, knee=1.0, twist=0.0, head=(0.0, 0.0, 0.0)):
        cR = _pose(_arm("L", flex=0.35 * swing, elbow=0.3), _arm("R", flex=-0.3 * swing, elbow=0.2),
                   _leg("R", hip=0.4, knee=0.05), _leg("L", hip=-0.3, knee=0.25 * knee), _spine(twist=twist),
                   head=head, root_t=(0, -0.02, 0))
        pL = _pose(_arm("L", elbow=0.25), _arm("R", elbow=0.25), _leg("R", hip=0.0, knee=0.1),
                   _leg("L", hip=0.3, knee=1.0 * knee), head=head, root_t=(0, 0.01, 0))
        cL = _pose(_arm("R", flex=0.35 * swing, elbow=0.3), _arm("L", flex=-0.3 * swing, elbow=0.2),
                   _leg("L", hip=0.4, knee=0.05), _leg("R", hip=-0.3, knee=0.25 * knee), _spine(twist=-twist),
                   head=head, root_t=(0, -0.02, 0))
        pR = _pose(_arm("L", elbow=0.25), _arm("R", elbow=0.25), _leg("L", hip=0.0, knee=0.1),
                   _leg("R", hip=0.3, knee=1.0 * knee), head=head, root_t=(0, 0.01, 0))
        return cR, pL, cL, pR

    cR, pL, cL, pR = gait()
    cR2, pL2, cL2, pR2 = gait(swing=1.6, knee=1.2, twist=0.15)
    _, pL3, cL3, pR3 = gait(swing=0.5, head=(0.0, 0.5, 0.0))
    A["walking"] = (1.15, {
        "stroll": _variant(cR, [(0.25, pL), (0.5, cL), (0.75, pR)], periodic=True),
        "brisk": _variant(cR, [(0.25, pL2), (0.5, cL2), (0.75, pR2)], periodic=True),
        "look around": _variant(cR, [(0.25, pL3), (0.5, cL3), (0.75, pR3)], periodic=True),
    })
    # --- eating: seated at a table --------------------------------------------------------------
    legs_seated = [_leg("L", hip=1.5, knee=1.55, ankle=-0.1), _leg("R", hip=1.5, knee=1.55, ankle=-0.1)]
    seat_t = (0, -0.45, -0.3)
    def seated(*arms, bend=0.15, head=(0.15, 0.0, 0.0)):
        return _pose(*legs_seated, _spine(bend=bend), *arms, head=head, root_t=seat_t)
    table_arms = [_arm("L", flex=0.7, elbow=1.3), _arm("R", flex=0.7, elbow=1.3)]
    b = seated(*table_arms)
    biteR = seated(_arm("L", flex=0.7, elbow=1.3), _arm("R", flex=0.8, abd=0.2, elbow=2.35, twist=0.3), head=(0.05, 0, 0))
    biteL = seated(_arm("R", flex=0.7, elbow=1.3), _arm("L", flex=0.8, abd=0.2, elbow=2.35, twist=0.3), head=(0.05, 0, 0))
    cut1 = seated(_arm("L", flex=0.75, elbow=1.0), _arm("R", flex=0.65, elbow=1.55), bend=0.25, head=(0.3, 0, 0))
    cut2 = seated(_arm("L", flex=0.65, elbow=1.55), _arm("R", flex=0.75, elbow=1.0), bend=0.25, head=(0.3, 0, 0))
    sip = seated(_arm("L", flex=0.7, elbow=1.3), _arm("R", flex=0.95, abd=0.25, elbow=2.2, twist=0.3), bend=0.0,
                 head=(-0.3, 0, 0))
    A["eating"] = (3.0, {
        "bite right": _variant(b, [(0.3, biteR), (0.5, biteR), (0.75, b)]),
        "bite left": _variant(b, [(0.3, biteL), (0.5, biteL), (0.75, b)]),
        "cut": _variant(b, [(0.15, cut1), (0.35, cut2), (0.55, cut1), (0.75, cut2)]),
        "drink": _variant(b, [(0.35, sip), (0.6, sip), (0.8, b)]),
    })
    # --- smoking: standing ----------------------------------------------------------------------
    left_across = _arm("L", flex=0.4, abd=0.1, elbow=1.5, twist=0.4)
    b = _pose(left_across, _arm("R", flex=0.2, elbow=0.6))
    puff = _pose(left_across, _arm("R", flex=0.7, abd=0.35, elbow=2.4, twist=0.3))
    puff2 = _pose(left_across, _arm("R", flex=0.7, abd=0.35, elbow=2.4, twist=0.3), head=(-0.1, 0, 0))
    exhale = _pose(left_across, _arm("R", flex=0.3, elbow=0.9), head=(-0.3, 0, 0))
    ash_up = _pose(left_across, _arm("R", flex=0.5, abd=0.4, elbow=1.05))
    ash_dn = _pose(left_across, _arm("R", flex=0.5, abd=0.4, elbow=1.35))
    lean_l = _pose(left_across, _arm("R", flex=0.2, elbow=0.6), _spine(side=0.08), _leg("R", hip=0.1, knee=0.25),
                   root_t=(0.04, -0.01, 0))
    lean_r = _pose(left_across, _arm("R", flex=0.2, elbow=0.6), _spine(side=-0.08), _leg("L", hip=0.1, knee=0.25),
                   root_t=(-0.04, -0.01, 0))
    A["smoking"] = (3.6, {
        "puff": _variant(b, [(0.25, puff), (0.45, puff2), (0.62, exhale)]),
        "tap ash": _variant(b, [(0.3, ash_up), (0.42, ash_dn), (0.54, ash_up), (0.66, ash_dn)]),
        "shift weight": _variant(b, [(0.35, lean_l), (0.7, lean_r)]),
    })
    # --- phoning: standing, the right hand at the ear ----------------------------------------------
    ear = _arm("R", flex=0.45, abd=0.55, elbow=2.55, twist=0.3)
    hd = (0.0, 0.0, -0.15)
    b = _pose(ear, _arm("L"), head=hd)
    g1 = _pose(ear, _arm("L", flex=0.6, abd=0.3, elbow=1.3), head=hd)
    g2 = _pose(ear, _arm("L", flex=0.85, abd=0.3, elbow=0.8), head=hd)
    nod = _pose(ear, _arm("L"), head=(0.3, 0.0, -0.15))
    t1 = _pose(ear, _arm("L"), _leg("R", hip=0.3, knee=0.35), head=hd, root_r=(0, 0.4, 0))
    t2 = _pose(ear, _arm("L"), head=hd, root_r=(0, 0.6, 0))
    t3 = _pose(ear, _arm("L"), _leg("L", hip=0.3, knee=0.35), head=hd, root_r=(0, 0.3, 0))
    A["phoning"] = (3.2, {
        "gesture": _variant(b, [(0.3, g1), (0.45, g2), (0.6, g1)]),
        "nod": _variant(b, [(0.2, nod), (0.4, b), (0.6, nod)]),
        "pace": _variant(b, [(0.25, t1), (0.5, t2), (0.75, t3)]),
    })
    # --- discussion: standing, arms bent ----------------------------------------------------------
    bent = [_arm("L", flex=0.35, elbow=0.9), _arm("R", flex=0.35, elbow=0.9)]
    b = _pose(*bent, _spine(bend=0.05))
    e1 = _pose(_arm("L", flex=0.35, elbow=0.9), _arm("R", flex=0.8, abd=0.3, elbow=0.8), _spine(bend=0.05))
    e2 = _pose(_arm("L", flex=0.35, elbow=0.9), _arm("R", flex=0.6, abd=0.3, elbow=1.25), _spine(bend=0.05))
    op = _pose(_arm("L", flex=0.6, abd=0.6, elbow=0.8), _arm("R", flex=0.6, abd=0.6, elbow=0.8), _spine(bend=0.1))
    tp = _pose(_arm("L", flex=1.4, abd=0.2, elbow=0.1), _arm("R", flex=0.35, elbow=0.9), head=(0, 0.3, 0),
               root_r=(0, 0.5, 0))
    sh = _pose(_arm("L", flex=0.2, abd=0.35, elbow=1.6), _arm("R", flex=0.2, abd=0.35, elbow=1.6), head=(0, 0, 0.2))
    A["discussion"] = (2.6, {
        "explain": _variant(b, [(0.2, e1), (0.35, e2), (0.5, e1), (0.65, e2)]),
        "open hands": _variant(b, [(0.3, op), (0.6, op)]),
        "turn and point": _variant(b, [(0.3, tp), (0.65, tp)]),
        "shrug": _variant(b, [(0.35, sh), (0.55, sh)]),
    })
    # --- greeting ----------------------------------------------------------------------------------
    b = _pose(*relaxed)
    up = _pose(_arm("R", flex=0.3, abd=1.5, elbow=0.5), _arm("L"))
    side = _pose(_arm("R", flex=0.3, abd=1.5, elbow=1.3), _arm("L"))
    grip = _pose(_arm("R", flex=0.95, elbow=0.7), _arm("L"), _leg("R", hip=0.2, knee=0.2), root_t=(0, 0, 0.25))
    grip2 = _pose(_arm("R", flex=1.15, elbow=0.6), _arm("L"), _leg("R", hip=0.2, knee=0.2), root_t=(0, 0, 0.25))
    bow = _pose(_arm("L", flex=0.3, elbow=0.4), _arm("R", flex=0.3, elbow=0.4), _spine(bend=0.55), head=(0.3, 0, 0))
    A["greeting"] = (3.0, {
        "wave": _variant(b, [(0.2, up), (0.32, side), (0.44, up), (0.56, side), (0.68, up)]),
        "handshake": _variant(b, [(0.25, grip), (0.4, grip2), (0.5, grip), (0.6, grip2), (0.75, grip)]),
        "bow": _variant(b, [(0.35, bow), (0.6, bow)]),
    })
    # --- sitting down: stand, sit, stay, stand up --------------------------------------------------
    b = _pose(*relaxed)
    lower = _pose(_spine(bend=0.6), _leg("L", hip=1.0, knee=1.0), _leg("R", hip=1.0, knee=1.0), _arm("L", flex=0.7),
                  _arm("R", flex=0.7), root_t=(0, -0.25, -0.2))
    seat = seated(_arm("L", flex=0.5, elbow=1.2), _arm("R", flex=0.5, elbow=1.2), head=(0, 0, 0))
    back = seated(_arm("L", flex=0.4, elbow=1.8, twist=0.6), _arm("R", flex=0.4, elbow=1.8, twist=0.6), bend=-0.2,
                  head=(0, 0, 0))
    fwd = seated(_arm("L", flex=0.5, elbow=1.7), _arm("R", flex=0.5, elbow=1.7), bend=0.6, head=(-0.2, 0, 0))
    A["sitting down"] = (4.4, {
        "sit": _variant(b, [(0.15, lower), (0.3, seat), (0.7, seat), (0.85, lower)]),
        "sit back": _variant(b, [(0.15, lower), (0.3, seat), (0.45, back), (0.65, back), (0.85, lower)]),
        "sit forward": _variant(b, [(0.15, lower), (0.3, seat), (0.45, fwd), (0.65, fwd), (0.85, lower)]),
    })
    # --- taking photos: the camera at the face -------------------------------------------------------
    cam_arms = [_arm("L", flex=0.9, abd=0.35, elbow=2.0, twist=0.2), _arm("R", flex=0.9, abd=0.35, elbow=2.0, twist=0.2)]
    b = _pose(*cam_arms, head=(0.1, 0, 0))
    panl = _pose(*cam_arms, head=(0.1, 0, 0), root_r=(0, 0.5, 0))
    panr = _pose(*cam_arms, head=(0.1, 0, 0), root_r=(0, -0.5, 0))
    crouch = _pose(*cam_arms, _spine(bend=0.2), _leg("L", hip=0.8, knee=1.3), _leg("R", hip=0.8, knee=1.3),
                   head=(0.1, 0, 0), root_t=(0, -0.25, 0))
    check = _pose(_arm("L", flex=0.6, elbow=1.9), _arm("R", flex=0.6, elbow=1.9), head=(0.45, 0, 0))
    A["taking photos"] = (3.0, {
        "pan left": _variant(b, [(0.35, panl), (0.65, panl)]),
        "pan right": _variant(b, [(0.35, panr), (0.65, panr)]),
        "crouch": _variant(b, [(0.3, crouch), (0.7, crouch)]),
        "check screen": _variant(b, [(0.3, check), (0.7, check)]),
    })
    return A


#: ``{action: (mean sub-process duration in seconds, {sub-process: keyframes})}``.
H36M_LIKE_ACTIONS = _actions()
H36M_LIKE_CLASS_NAMES = tuple(H36M_LIKE_ACTIONS)

#: Subject roles in blocks of 7, in the order of Human3.6M's S1, S5, S6, S7, S8, S9, S11 and the
#: paper's split (S1, S6, S7, S8 train / S5 validation / S9, S11 test): 4 : 1 : 2.
SPLIT_PATTERN = ("train", "val", "train", "train", "train", "test", "test")
#: Relative camera azimuths (degrees) of the four views, like Human3.6M's four cameras (kept
#: within +-90 degrees of the subject's front so that the global orientation stays far from
#: the axis-angle wrap at pi).
CAMERA_AZIMUTH_DEG = {1: -70.0, 2: -25.0, 3: 25.0, 4: 70.0}


def split_subjects(subjects) -> dict:
    """Subject-disjoint split ``{"train": [...], "val": [...], "test": [...]}``.

    Integer subjects ``1..n`` take their role from :data:`SPLIT_PATTERN` (``(s - 1) % 7``);
    Human3.6M names follow the paper: S1, S6, S7, S8 train, S5 validation, S9, S11 test
    (other names, e.g. S2, are left out).
    """
    out = {"train": [], "val": [], "test": []}
    h36m = {"S1": "train", "S6": "train", "S7": "train", "S8": "train", "S5": "val", "S9": "test", "S11": "test"}
    for s in sorted(set(subjects), key=lambda v: (str(type(v)), v)):
        role = h36m.get(s) if isinstance(s, str) else SPLIT_PATTERN[(int(s) - 1) % 7]
        if role:
            out[role].append(s)
    return out


@dataclass
class H36MLikeConfig:
    """Parameters of :func:`generate`.

    Attributes
    ----------
    num_subjects : int
        Subjects ``1..num_subjects`` (bodies, posture, handedness, speed from the synthetic
        subject table).
    takes : int
        Sequences per subject and action (Human3.6M has 2: ``'Walking 1'``, ``'Walking 2'``).
    frames : int
        Frames per sequence at 25 fps.
    classes : tuple or None
        Action names (default all of :data:`H36M_LIKE_CLASS_NAMES`).
    num_betas : int
        Dimension of the shape code.
    idle_std : float
        Amplitude (radians) of slow random sway added to every joint.
    dropout_prob : float
        Per frame and joint, the chance that a 2D detection is missed (then 5 frames long).
    structure : float in [0, 1]
        Action-specific structure of the futures (the knob of notebook 05's sweep). 0: today's
        i.i.d. uniform choice of every sub-process (the default; the random stream is then
        exactly that of earlier versions). Above 0: a per-action Markov chain: after
        sub-process ``k`` comes, with probability ``structure``, its action's fixed successor
        (the sub-processes in their listed order, then a **shared pause**, then the first
        again), else a uniformly drawn sub-process of the action. The pause (every action
        but walking) holds the same upper-body pose in every action (arms folded, head down,
        the legs of the action's base), so during it the action shows only in the frames
        before it, and what follows it (the action's first sub-process) depends on the action.
        Its draws come from a separate generator seeded from ``seed``.
    subprocess_s : float or None
        Mean duration (seconds) of every sub-process, in place of each action's own (1.15 s for
        walking, 2.6-4.4 s for the others; :data:`H36M_LIKE_ACTIONS`). ``None`` (the default)
        keeps the actions' own durations and the random stream of earlier versions. Notebook 05
        uses 1.0 s, shorter than its 30-frame (1.2 s) horizon, so that most futures cross into
        the next sub-process, where the action's structure decides what comes.
    seed : int
    """

    num_subjects: int = 14
    takes: int = 2
    frames: int = 200
    classes: tuple | None = None
    num_betas: int = 4
    idle_std: float = 0.04
    dropout_prob: float = 0.004
    structure: float = 0.0
    subprocess_s: float | None = None
    seed: int = 0


@dataclass
class BodySequences:
    """Sequences in the SMPL-like representation (padded to a common length).

    Attributes
    ----------
    theta : ``(N, T, V, 3)`` float32, radians: axis-angle of every joint, joint 0 the global
        (camera-relative) orientation.
    beta : ``(N, B)`` float32: the shape code (constant over a sequence).
    cam : ``(N, T, 3)`` float32: ``Pi = [s, t_x, t_y]`` of a weak-perspective camera on a
        person-centred crop (image coordinates in ``[-1, 1]``).
    joints : ``(N, T, V, 3)`` float32, metres: ``X = FK(theta, beta)``, root at the origin.
    joints2d : ``(N, T, V, 2)`` float32: ``x = s X[..., :2] + t``.
    visibility : ``(N, T, V)`` float32 in {0, 1}.
    labels, subjects, lengths : ``(N,)``; ``lengths`` counts the valid frames.
    class_names : list of str; ``skeleton_name`` ; ``fps``; ``body`` the :class:`BodyModel`.
    variants : ``(N, T)`` int16 or None: index of the sub-process (generator only).
    cycles : ``(N, T)`` int16 or None: index of the sub-process occurrence (0, 1, ... along the
        sequence; generator only). A change marks a boundary even where a sub-process follows
        itself.
    variant_names : list of list of str (per class) or None.
    cameras : ``(N,)`` or None.
    """

    theta: np.ndarray
    beta: np.ndarray
    cam: np.ndarray
    joints: np.ndarray
    joints2d: np.ndarray
    visibility: np.ndarray
    labels: np.ndarray
    subjects: np.ndarray
    lengths: np.ndarray
    class_names: list
    skeleton_name: str
    fps: float
    body: BodyModel
    variants: np.ndarray | None = None
    variant_names: list | None = None
    cameras: np.ndarray | None = None
    cycles: np.ndarray | None = None

    def __len__(self):
        return len(self.labels)

    @property
    def skeleton(self) -> Skeleton:
        return get_skeleton(self.skeleton_name)

    def subset(self, idx) -> "BodySequences":
        """The sequences ``idx`` (an index array or boolean mask)."""
        idx = np.asarray(idx)
        pick = lambda a: None if a is None else a[idx]  # noqa: E731
        return BodySequences(self.theta[idx], self.beta[idx], self.cam[idx], self.joints[idx], self.joints2d[idx],
                             self.visibility[idx], self.labels[idx], self.subjects[idx], self.lengths[idx],
                             self.class_names, self.skeleton_name, self.fps, self.body, pick(self.variants),
                             self.variant_names, pick(self.cameras), pick(self.cycles))


def crop_camera(joints, root_xy, visible_margin: float = 1.15, lag: float = 0.35):
    """A weak-perspective camera on a person-centred crop (as HMR/PHD crop their inputs).

    Parameters
    ----------
    joints : ``(N, T, V, 3)`` root-relative joints (camera orientation), metres.
    root_xy : ``(N, T, 2)`` the root's image-plane position, metres.
    visible_margin : the crop is this many times the body's 2D extent.
    lag : smoothing factor of the tracker (an exponential moving average; 0 = no lag).

    Returns
    -------
    cam ``(N, T, 3)`` = ``[s, t_x, t_y]`` such that ``x = s X[..., :2] + t`` lies in the crop's
    ``[-1, 1]`` coordinates: the crop follows the body's 2D bounding box with the tracker's lag.
    """
    P = joints[..., :2] + root_xy[..., None, :]  # (N, T, V, 2)
    lo, hi = P.min(-2), P.max(-2)
    centre = (lo + hi) / 2
    size = (hi - lo).max(-1) * visible_margin / 2  # half-size
    a = 1.0 - lag
    def ema(x):
        zi = (lag * x[:, :1]).reshape(x.shape[0], 1, *x.shape[2:])
        return lfilter([a], [1.0, -lag], x, axis=1, zi=zi)[0]
    centre = ema(centre)
    half = ema(size)
    s = 1.0 / np.maximum(half, 1e-3)
    t = s[..., None] * (root_xy - centre)
    return np.concatenate([s[..., None], t], -1)


def _visibility(joints, joints2d, torso, rng, dropout_prob):
    """Self-occlusion behind the torso, out-of-crop joints and missed detections (5 frames)."""
    centre = joints[..., torso, :].mean(-2, keepdims=True)  # (N, T, 1, 3)
    c2 = joints2d[..., torso, :].mean(-2, keepdims=True)
    width = np.abs(joints2d[..., torso, 0] - c2[..., 0]).max(-1, keepdims=True) + 0.05
    behind = (joints[..., 2] < centre[..., 2] - 0.08) & (np.abs(joints2d[..., 0] - c2[..., 0]) < width)
    behind &= np.abs(joints2d[..., 1] - c2[..., 1]) < 0.9
    outside = (np.abs(joints2d) > 1.0).any(-1)
    miss = maximum_filter1d((rng.random(joints.shape[:-1]) < dropout_prob).astype(np.uint8), 5, axis=1) > 0
    vis = ~(behind | outside | miss)
    vis[..., torso] |= ~outside[..., torso]  # the torso itself is never hidden behind itself
    return vis.astype(np.float32)


#: The upper body of the shared pause (see ``H36MLikeConfig.structure``).
_PAUSE_UPPER = {**_arm("L", flex=0.55, abd=0.1, elbow=1.9, twist=0.5), **_arm("R", flex=0.55, abd=0.1, elbow=1.9,
                                                                         twist=0.5),
                **_spine(), "neck": (0.35, 0.0, 0.0)}
PAUSE_NAME = "pause (shared)"


def _structured_subprocesses(name, subs, n, max_cycles, structure, rng):
    """Sub-process indices ``(n, max_cycles)`` of the per-action Markov chain and the keyframes
    of the sub-processes (the action's own, then the shared pause except for walking)."""
    keys = list(subs.values())
    own = len(keys)
    if name != "walking":
        base = keys[0][1][1]  # a non-periodic sub-process starts at (0, base)
        keys.append(_variant(base, [(0.3, {**base, **_PAUSE_UPPER}), (0.7, {**base, **_PAUSE_UPPER})]))
    succ = (np.arange(len(keys)) + 1) % len(keys)
    chain = np.zeros((n, max_cycles), np.int64)
    chain[:, 0] = rng.integers(0, own, n)
    for k in range(1, max_cycles):
        follow = rng.random(n) < structure
        chain[:, k] = np.where(follow, succ[chain[:, k - 1]], rng.integers(0, own, n))
    return chain, keys


def generate(config: H36MLikeConfig | None = None, **overrides) -> BodySequences:
    """Generate H36M-like daily-action sequences in the SMPL-like representation.

    Each sequence (subject, action, take) chains sub-processes of its action (uniformly drawn, or by the Markov chain of ``structure``,
    durations ``mean x subject speed x U(0.75, 1.3)``, a random phase at frame 0, a per-cycle
    speed profile ``u^gamma``), adds the subject's posture and slow random sway, turns the body
    to one of 4 camera views (:data:`CAMERA_AZIMUTH_DEG`), and computes ``X = FK(theta, beta)``,
    the crop camera ``Pi`` (:func:`crop_camera`; walking also travels forward, which the tracker
    follows), the 2D joints and their visibility.

    Returns :class:`BodySequences` with ``N = num_subjects x classes x takes`` sequences of
    ``frames`` frames, sorted by class, then subject, then take.

    Raises ``ValueError`` on an unknown class, ``frames < 16``, ``structure`` outside [0, 1] or
    ``subprocess_s <= 0``.
    """
    cfg = config or H36MLikeConfig()
    if overrides:
        cfg = H36MLikeConfig(**{**cfg.__dict__, **overrides})
    names = tuple(cfg.classes) if cfg.classes else H36M_LIKE_CLASS_NAMES
    unknown = [n for n in names if n not in H36M_LIKE_ACTIONS]
    if unknown:
        raise ValueError(f"unknown actions {unknown}; known: {list(H36M_LIKE_CLASS_NAMES)}")
    if cfg.frames < 16:
        raise ValueError(f"frames must be >= 16, got {cfg.frames}")
    if not 0.0 <= cfg.structure <= 1.0:
        raise ValueError(f"structure must lie in [0, 1], got {cfg.structure}")
    if cfg.subprocess_s is not None and not cfg.subprocess_s > 0:
        raise ValueError(f"subprocess_s must be > 0 seconds, got {cfg.subprocess_s}")
    rng = np.random.default_rng(cfg.seed)
    srng = np.random.default_rng([cfg.seed, 7919])  # the structure's own draws
    body = ntu25_body_model(cfg.num_betas)
    table = _subject_table(cfg.num_subjects, rng)
    subj_offsets = _subject_offsets(table)
    subj_beta = body.betas_from_offsets(subj_offsets)  # (S, B)

    C, S, K, T = len(names), cfg.num_subjects, cfg.takes, cfg.frames
    labels = np.repeat(np.arange(C), S * K)
    subjects = np.tile(np.repeat(np.arange(1, S + 1), K), C)
    N = len(labels)
    cameras = rng.integers(1, 5, N)
    yaw = np.deg2rad(np.vectorize(CAMERA_AZIMUTH_DEG.get)(cameras) + rng.uniform(-10, 10, N))
    amp = rng.uniform(0.85, 1.15, N)
    mirror = table["lefty"][subjects - 1] ^ (rng.random(N) < 0.1)
    D = V * 3 + 6
    posture = table["posture"][subjects - 1] + rng.normal(0, 0.03, (N, D)) * (np.arange(D) < V * 3)

    rot = np.zeros((N, T, V, 3))
    root_t = np.zeros((N, T, 3))
    variants = np.zeros((N, T), np.int16)
    cycles = np.zeros((N, T), np.int16)
    t_idx = np.arange(T, dtype=np.float64)
    for c, name in enumerate(names):
        idx = np.flatnonzero(labels == c)
        n = idx.size
        mean_dur, subs = H36M_LIKE_ACTIONS[name]
        if cfg.subprocess_s is not None:
            mean_dur = cfg.subprocess_s
        dur = mean_dur * FPS * table["speed"][subjects[idx] - 1][:, None] * rng.uniform(0.75, 1.3, (n, 1))
        max_cycles = int(np.ceil(T / (0.7 * mean_dur * FPS * 0.85))) + 2
        durs = dur * rng.uniform(0.85, 1.15, (n, max_cycles))
        starts = np.cumsum(durs, 1) - durs - rng.uniform(0, 1, (n, 1)) * durs[:, :1]
        cyc = (t_idx[None, :, None] >= starts[:, None, :]).sum(-1) - 1  # (n, T)
        s0 = np.take_along_axis(starts, cyc, 1)
        d0 = np.take_along_axis(durs, cyc, 1)
        gamma = np.take_along_axis(rng.uniform(0.85, 1.2, (n, max_cycles)), cyc, 1)
        u = np.clip((t_idx[None] - s0) / d0, 0, 1) ** gamma
        which = np.take_along_axis(rng.integers(0, len(subs), (n, max_cycles)), cyc, 1)
        sub_keys = list(subs.values())
        if cfg.structure > 0:
            chain, sub_keys = _structured_subprocesses(name, subs, n, max_cycles, cfg.structure, srng)
            which = np.take_along_axis(chain, cyc, 1)
        for v, keys in enumerate(sub_keys):
            tt, tv = _keyframe_tracks(keys)
            r, rt = _render_person(tt, tv, u, amp[idx], posture[idx], mirror[idx], None, shared_opening=False)
            m = which == v
            sel = m[..., None, None]
            rot[idx] = np.where(sel, r, rot[idx])
            root_t[idx] = np.where(m[..., None], rt, root_t[idx])
        variants[idx] = which
        cycles[idx] = cyc
        if name == "walking":  # walking travels forward (the crop tracker follows it)
            speed = rng.uniform(1.0, 1.4, (n, 1)) / FPS
            root_t[idx, :, 2] += speed * t_idx[None]
    # slow sway on every joint and on the root orientation (two sinusoids per channel)
    freq = rng.uniform(0.1, 0.5, (N, 1, 2, V, 3)) * 2 * np.pi / FPS
    phase = rng.uniform(0, 2 * np.pi, (N, 1, 2, V, 3))
    rot += cfg.idle_std / np.sqrt(2) * np.sin(freq * t_idx[None, :, None, None, None] + phase).sum(2)

    # global orientation: the camera view (yaw) composed with the keyframed root rotation
    R_yaw = rotation_about_y(yaw)[:, None]  # (N, 1, 3, 3)
    R0 = R_yaw @ axis_angle_to_matrix(rot[:, :, 0])
    rot[:, :, 0] = matrix_to_axis_angle(R0)
    theta = rot.astype(np.float32)
    beta = subj_beta[subjects - 1].astype(np.float32)
    X = body.joints(torch.from_numpy(theta), torch.from_numpy(beta)[:, None]).numpy().astype(np.float32)
    root_cam = (R_yaw @ root_t[..., None])[..., 0]  # (N, T, 3), metres
    cam = crop_camera(X, root_cam[..., :2]).astype(np.float32)
    x2d = BodyModel.project(X, cam).astype(np.float32)
    torso = [NTU25.index(j) for j in ("spine_base", "spine_mid", "spine_shoulder", "hip_left", "hip_right",
                                      "shoulder_left", "shoulder_right")]
    vis = _visibility(X, x2d, torso, rng, cfg.dropout_prob)
    return BodySequences(theta=theta, beta=beta, cam=cam, joints=X, joints2d=x2d, visibility=vis,
                         labels=labels.astype(np.int64), subjects=subjects.astype(np.int64),
                         lengths=np.full(N, T, np.int64), class_names=list(names), skeleton_name="ntu25",
                         fps=FPS, body=body, variants=variants,
                         variant_names=[list(H36M_LIKE_ACTIONS[n][1])
                                        + ([PAUSE_NAME] if cfg.structure > 0 and n != "walking" else [])
                                        for n in names],
                         cameras=cameras.astype(np.int64), cycles=cycles)


def split_indices(seqs: BodySequences) -> dict:
    """``{"train", "val", "test"}`` -> sequence indices, by :func:`split_subjects`."""
    roles = split_subjects(seqs.subjects.tolist())
    return {k: np.flatnonzero(np.isin(seqs.subjects, v)) for k, v in roles.items()}


def make_windows(seqs: BodySequences, length: int, stride: int, idx=None) -> dict:
    """Fixed-length windows of the sequences ``idx`` (default all), starting at ``0, stride, ...``
    and ending inside each sequence's valid frames.

    Returns a dict of arrays: ``theta (W, L, V, 3)``, ``beta (W, L, B)`` (the code repeated per
    frame, as the paper predicts a beta per frame), ``cam (W, L, 3)``, ``joints (W, L, V, 3)``,
    ``joints2d (W, L, V, 2)``, ``visibility (W, L, V)``, ``labels (W,)``, ``subjects (W,)``,
    ``sequence (W,)`` and ``start (W,)``; ``variants (W, L)`` and ``cycles (W, L)`` when the
    generator recorded them.
    Raises ``ValueError`` if ``length`` or ``stride`` < 1.
    """
    if length < 1 or stride < 1:
        raise ValueError(f"make_windows: length and stride must be >= 1, got {length}, {stride}")
    idx = np.arange(len(seqs)) if idx is None else np.asarray(idx)
    seq_id, start = [], []
    for i in idx:
        s = np.arange(0, int(seqs.lengths[i]) - length + 1, stride)
        seq_id.append(np.full(len(s), i))
        start.append(s)
    seq_id = np.concatenate(seq_id).astype(np.int64) if seq_id else np.zeros(0, np.int64)
    start = np.concatenate(start).astype(np.int64) if start else np.zeros(0, np.int64)
    tt = start[:, None] + np.arange(length)[None]  # (W, L)
    out = {
        "theta": seqs.theta[seq_id[:, None], tt], "cam": seqs.cam[seq_id[:, None], tt],
        "beta": np.repeat(seqs.beta[seq_id][:, None], length, 1),
        "joints": seqs.joints[seq_id[:, None], tt], "joints2d": seqs.joints2d[seq_id[:, None], tt],
        "visibility": seqs.visibility[seq_id[:, None], tt], "labels": seqs.labels[seq_id],
        "subjects": seqs.subjects[seq_id], "sequence": seq_id, "start": start,
    }
    if seqs.variants is not None:
        out["variants"] = seqs.variants[seq_id[:, None], tt]
    if seqs.cycles is not None:
        out["cycles"] = seqs.cycles[seq_id[:, None], tt]
    return out


# ----------------------------------------------------------------------------------------------
# Measured joints -> the same representation (Human3.6M branch)
# ----------------------------------------------------------------------------------------------
#: Rest direction of every Human3.6M-17 joint from its parent, in the body frame (x = the
#: person's left, y up, z forward): legs and arms hang down, the spine points up.
H36M17_REST_DIRECTIONS = np.array([
    [0, 0, 0],                                   # hip (root)
    [-1, 0, 0], [0, -1, 0], [0, -1, 0],          # right hip, knee, foot
    [1, 0, 0], [0, -1, 0], [0, -1, 0],           # left hip, knee, foot
    [0, 1, 0], [0, 1, 0], [0, 0.6, 0.4], [0, 1, 0],  # spine, thorax, neck/nose, head
    [1, 0, 0], [0, -1, 0], [0, -1, 0],           # left shoulder, elbow, wrist
    [-1, 0, 0], [0, -1, 0], [0, -1, 0],          # right shoulder, elbow, wrist
], dtype=np.float64)
H36M17_REST_DIRECTIONS[1:] /= np.linalg.norm(H36M17_REST_DIRECTIONS[1:], axis=1, keepdims=True)


def _kabsch(a, b):
    """Rotations ``(..., 3, 3)`` minimising ``sum_k |R a_k - b_k|^2`` for ``a, b (..., K, 3)``."""
    H = np.swapaxes(a, -1, -2) @ b  # (..., 3, 3)
    U, _, Vt = np.linalg.svd(H)
    d = np.sign(np.linalg.det(np.swapaxes(Vt, -1, -2) @ np.swapaxes(U, -1, -2)))
    d = np.where(d == 0, 1.0, d)
    Dm = np.zeros(d.shape + (3, 3))
    Dm[..., 0, 0] = 1
    Dm[..., 1, 1] = 1
    Dm[..., 2, 2] = d
    return np.swapaxes(Vt, -1, -2) @ Dm @ np.swapaxes(U, -1, -2)


def _swing(a, b):
    """The smallest rotations ``(..., 3, 3)`` taking unit vectors ``a`` to unit vectors ``b``."""
    v = np.cross(a, b)
    c = (a * b).sum(-1)
    s = np.linalg.norm(v, axis=-1)
    axis = v / np.maximum(s, 1e-12)[..., None]
    angle = np.arctan2(s, c)
    # antiparallel vectors: rotate by pi about any axis orthogonal to a
    anti = (s < 1e-9) & (c < 0)
    if anti.any():
        ortho = np.cross(a[anti], np.array([1.0, 0, 0]))
        bad = np.linalg.norm(ortho, axis=-1) < 1e-6
        ortho[bad] = np.cross(a[anti][bad], np.array([0, 1.0, 0]))
        axis[anti] = ortho / np.linalg.norm(ortho, axis=-1, keepdims=True)
    return np.asarray(axis_angle_to_matrix(axis * angle[..., None]))


def swing_kabsch_ik(positions, offsets, parents):
    """Local joint rotations that reproduce measured joints on a tree with given rest offsets.

    Parameters
    ----------
    positions : ``(..., V, 3)`` metres.
    offsets : ``(V, 3)`` rest offsets of the body (only their directions matter here).
    parents : parent indices.

    Returns
    -------
    theta ``(..., V, 3)`` axis-angle. A joint with one child gets the *swing* (no twist about
    the bone) that turns the child's rest bone onto the measured one; a joint with several
    children (pelvis, thorax) the Kabsch rotation of all its child bones; a leaf keeps its
    parent's orientation (identity). ``FK(theta, offsets)`` reproduces the measured bone
    directions of one-child joints exactly and branching joints in the least-squares sense;
    twist about the limbs is not observable from joints and is set to zero.
    """
    P = np.asarray(positions, dtype=np.float64)
    off = np.asarray(offsets, dtype=np.float64)
    Vn = len(parents)
    children = {j: [c for c in range(Vn) if parents[c] == j] for j in range(Vn)}
    order = [j for j in range(Vn) if parents[j] < 0]
    for j in order:
        order.extend(children[j])
    eye = np.broadcast_to(np.eye(3), P.shape[:-2] + (3, 3))
    G = [None] * Vn
    local = np.zeros(P.shape[:-2] + (Vn, 3, 3))
    for j in order:
        p = parents[j]
        Gp = eye if p < 0 else G[p]
        ch = children[j]
        if not ch:
            G[j] = Gp
        elif len(ch) == 1:
            c = ch[0]
            rest = (Gp @ off[c])
            rest = rest / np.maximum(np.linalg.norm(rest, axis=-1, keepdims=True), 1e-12)
            bone = P[..., c, :] - P[..., j, :]
            bone = bone / np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), 1e-12)
            G[j] = _swing(rest, bone) @ Gp
        else:
            a = np.broadcast_to(off[ch], P.shape[:-2] + (len(ch), 3))
            b = P[..., ch, :] - P[..., j:j + 1, :]
            G[j] = _kabsch(a, b)
        local[..., j, :, :] = np.swapaxes(Gp, -1, -2) @ G[j]
    return np.asarray(matrix_to_axis_angle(local))


def unwrap_axis_angle(aa):
    """Make an axis-angle track ``(T, ..., 3)`` continuous in time.

    ``n (phi + 2 pi k)`` is the same rotation for every integer ``k``; frame by frame this picks
    the ``k`` closest to the previous frame, so a body that keeps turning (walking in circles,
    a spin) gets a smooth global orientation instead of jumps at ``phi = pi``. Returns a new
    array; ``axis_angle_to_matrix`` of the result equals that of the input.
    """
    out = np.array(aa, dtype=np.float64, copy=True)
    for t in range(1, len(out)):
        cur, prev = out[t], out[t - 1]
        phi = np.linalg.norm(cur, axis=-1, keepdims=True)
        # at (numerically) zero angle the axis is free: continue along the previous one
        prev_n = prev / np.maximum(np.linalg.norm(prev, axis=-1, keepdims=True), 1e-12)
        n = np.where(phi > 1e-9, cur / np.maximum(phi, 1e-12), prev_n)
        k = np.round(((n * prev).sum(-1, keepdims=True) - phi) / (2 * np.pi))
        out[t] = n * (phi + 2 * np.pi * k)
    return out


def from_positions(sequences, labels, subjects, class_names, skeleton: Skeleton = H36M17,
                   rest_directions=H36M17_REST_DIRECTIONS, up_axis: str = "z", fps_in: float = 50.0,
                   fps_out: float = FPS, num_betas: int = 4) -> BodySequences:
    """Measured 3D joint sequences (e.g. Human3.6M ``positions_3d``) -> :class:`BodySequences`.

    Parameters
    ----------
    sequences : list of ``(T_i, V, 3)`` arrays, metres, world coordinates.
    labels, subjects : per sequence (subjects may be names like ``'S1'``).
    class_names : list of str.
    skeleton, rest_directions : the tree and its rest bone directions ``(V, 3)`` (body frame).
    up_axis : ``'z'`` (Human3.6M's world) or ``'y'``: the world is turned to y-up first.
    fps_in, fps_out : frames are subsampled by ``round(fps_in / fps_out)``.
    num_betas : shape code size; at most the number of subjects minus one.

    Steps: per subject, bone lengths = median over all its frames -> rest offsets; a
    :class:`BodyModel` by PCA over the subjects; ``beta`` by least squares; ``theta`` by
    :func:`swing_kabsch_ik` (the global orientation is relative to the world, as there is no
    camera in the 3D file); ``X = FK(theta, beta)``; ``Pi`` from :func:`crop_camera` of a virtual
    camera looking along the world's horizontal -z axis; visibility 1 inside the crop.
    Raises ``ValueError`` on inconsistent inputs.
    """
    if not (len(sequences) == len(labels) == len(subjects)):
        raise ValueError("from_positions: sequences, labels and subjects must have the same length")
    step = max(int(round(fps_in / fps_out)), 1)
    seqs = [np.asarray(s, dtype=np.float64)[::step] for s in sequences]
    Vn = skeleton.num_joints
    for s in seqs:
        if s.ndim != 3 or s.shape[1:] != (Vn, 3):
            raise ValueError(f"from_positions: sequences must be (T, {Vn}, 3), got {s.shape}")
    if up_axis == "z":
        seqs = [np.stack([s[..., 0], s[..., 2], -s[..., 1]], -1) for s in seqs]
    elif up_axis != "y":
        raise ValueError(f"up_axis must be 'y' or 'z', got {up_axis!r}")
    parents = skeleton.parents
    child = [j for j in range(Vn) if parents[j] >= 0]
    subj_list = sorted(set(subjects), key=str)
    lengths_by_subject = {}
    for s_name in subj_list:
        allp = np.concatenate([s for s, sub in zip(seqs, subjects) if sub == s_name])
        bl = np.linalg.norm(allp[:, child] - allp[:, [parents[j] for j in child]], axis=-1)
        lengths_by_subject[s_name] = np.median(bl, 0)
    offs = np.zeros((len(subj_list), Vn, 3))
    for k, s_name in enumerate(subj_list):
        offs[k, child] = rest_directions[child] * lengths_by_subject[s_name][:, None]
    nb = min(num_betas, len(subj_list) - 1)
    if nb < 1:
        body = BodyModel(skeleton, offs.mean(0), np.zeros((1, Vn, 3)), np.zeros(1))
    else:
        body = BodyModel.fit(skeleton, offs, nb)
    betas = {s_name: body.betas_from_offsets(offs[k]) for k, s_name in enumerate(subj_list)}
    T = max(len(s) for s in seqs)
    N = len(seqs)
    theta = np.zeros((N, T, Vn, 3), np.float32)
    root_xy = np.zeros((N, T, 2))
    for i, s in enumerate(seqs):
        th = swing_kabsch_ik(s, body.offsets(betas[subjects[i]]), parents)
        th[:, skeleton.root] = unwrap_axis_angle(th[:, skeleton.root])
        theta[i, :len(s)] = th
        root_xy[i, :len(s)] = s[:, skeleton.root, :2]
        theta[i, len(s):] = theta[i, len(s) - 1]  # pad by holding the last pose (masked by lengths)
        root_xy[i, len(s):] = root_xy[i, len(s) - 1]
    beta = np.stack([betas[s] for s in subjects]).astype(np.float32)
    X = body.joints(torch.from_numpy(theta), torch.from_numpy(beta)[:, None]).numpy().astype(np.float32)
    cam = crop_camera(X, root_xy).astype(np.float32)
    x2d = BodyModel.project(X, cam).astype(np.float32)
    vis = (np.abs(x2d) <= 1.0).all(-1).astype(np.float32)
    return BodySequences(theta=theta, beta=beta, cam=cam, joints=X, joints2d=x2d, visibility=vis,
                         labels=np.asarray(labels, np.int64), subjects=np.asarray(subjects),
                         lengths=np.array([len(s) for s in seqs], np.int64), class_names=list(class_names),
                         skeleton_name=skeleton.name, fps=fps_in / step, body=body)


def from_mocap(clips: dict, fps: float | None = None) -> BodySequences:
    """DeepMimic clips (:func:`paperlib.data.mocap.load_all`) -> :class:`BodySequences`.

    ``theta`` are the clips' local axis-angle rotations on the :data:`~paperlib.skeleton.DEEPMIMIC`
    tree, with the root turned by :data:`paperlib.data.mocap.CAMERA_ROTATION` to face a camera
    looking along -z and unwrapped in time (:func:`unwrap_axis_angle`). One actor: the body
    model's template is the humanoid's offsets and ``beta = 0`` (its one shape direction, a
    uniform 5% scaling, is never used by the data). ``Pi`` follows the root with
    :func:`crop_camera`. Labels are the clip indices (a clip is its own class); sequences are
    padded by holding the last pose, ``lengths`` gives the valid frames.
    """
    from ..skeleton import DEEPMIMIC
    from . import mocap

    names = list(clips)
    body_urdf = mocap.load_body()
    tmpl = body_urdf.offsets.copy()
    tmpl[DEEPMIMIC.root] = 0.0
    body = BodyModel(DEEPMIMIC, tmpl, 0.05 * tmpl[None], np.ones(1))
    Rc = np.asarray(mocap.CAMERA_ROTATION)
    T = max(c.num_frames for c in clips.values())
    N, Vn = len(names), DEEPMIMIC.num_joints
    theta = np.zeros((N, T, Vn, 3))
    root_xy = np.zeros((N, T, 2))
    for i, n in enumerate(names):
        c = clips[n]
        th = np.array(c.rotations, dtype=np.float64)
        th[:, 0] = unwrap_axis_angle(np.asarray(matrix_to_axis_angle(Rc @ np.asarray(axis_angle_to_matrix(th[:, 0])))))
        root = c.root_translation @ Rc.T
        theta[i, :len(th)], theta[i, len(th):] = th, th[-1]
        root_xy[i, :len(th)], root_xy[i, len(th):] = root[:, :2], root[-1, :2]
    theta = theta.astype(np.float32)
    beta = np.zeros((N, 1), np.float32)
    X = body.joints(torch.from_numpy(theta), torch.from_numpy(beta)[:, None]).numpy().astype(np.float32)
    cam = crop_camera(X, root_xy).astype(np.float32)
    x2d = BodyModel.project(X, cam).astype(np.float32)
    vis = (np.abs(x2d) <= 1.0).all(-1).astype(np.float32)
    return BodySequences(theta=theta, beta=beta, cam=cam, joints=X, joints2d=x2d, visibility=vis,
                         labels=np.arange(N, dtype=np.int64), subjects=np.ones(N, np.int64),
                         lengths=np.array([clips[n].num_frames for n in names], np.int64), class_names=names,
                         skeleton_name=DEEPMIMIC.name, fps=float(fps or next(iter(clips.values())).fps), body=body)
