"""Procedural skeleton actions in the NTU RGB+D 25-joint layout: the course's embedded data.

Every action is a set of keyframed joint rotations (axis-angle, radians) in normalised action
time ``u in [0, 1]``. Per sample we draw a subject (bone lengths, posture, handedness), a
timing (lead-in, length, speed profile), an amplitude, a camera and position, turn the rotations
into 3D joints with :func:`paperlib.kinematics.forward_kinematics`, and add Kinect-like noise.

The classes come in *families* whose members share their opening motion (action time
``u in [0, OPENING_END]``, the first 35% of the action) and diverge afterwards, which is the
premise of early action prediction. At ``early_cue = 0`` the opening is **exactly** the same
for every member of a family (tested): the keyframe tracks are cubic Hermite splines whose
slopes are PCHIP's everywhere except at ``u = 0`` and at the end of the opening, where they are
zero, so the opening segment depends on the two opening keyframes only (plain PCHIP would leak
the next, class-specific keyframe into the slope at the end of the opening). With 20% of a
sequence observed and ``early_cue = 0``, the family is visible but the class is not.

``early_cue`` (degrees) puts a small, explicit class cue into the opening: member ``k`` of a
family of ``n`` bends the acting (right) elbow by ``early_cue * (2k / (n - 1) - 1)`` degrees
more than the shared opening at the end of the opening, ramping in with the opening from zero
at ``u = 0`` (e.g. -20, -6.7, +6.7, +20 degrees for a family of four at the default 20). The
wrist sits 0.25 m (times the subject's arm scale) from the elbow, so at the end of the opening
the cue moves it from the cue-free pose by ``0.25 * 2 sin(|angle| / 2)`` m: 87 mm for the
extreme members of a family of four and 29 mm for the inner ones at 20 degrees. That is of the
order of the natural spread of the same elbow angle (the performance amplitude varies by
+-15%, about +-9 degrees in the reach opening; posture about 4 degrees per subject), against
8 mm sensor noise per joint and frame. At 20% observation most sequences are early in the
opening, where the cue has ramped in to a fraction of its size: a linear probe reads it only
partly (see :mod:`paperlib.probe` and the primer's probe-reference table).

Coordinates
-----------
- Body frame (rest pose): x = the person's left, y = up, z = the person's forward; metres.
- Output joints are in the camera frame of NTU RGB+D / Kinect v2: right-handed, y up, z along
  the viewing direction (depth, metres), x towards the image's left. Cameras sit at azimuths
  -45, 0 and +45 degrees around the subject, like NTU's three cameras.
- Sequences are zero-padded after ``valid_frames`` (as NTU's preprocessed arrays are).

Everything is vectorised over samples (per class) and seeded: the same arguments give the
same arrays on any machine.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.interpolate import CubicHermiteSpline, PchipInterpolator

from ..kinematics import axis_angle_to_matrix, forward_kinematics
from ..skeleton import NTU25
from .arrays import SkeletonArrays

__all__ = ["ACTIONS", "CLASS_NAMES", "FAMILIES", "OPENING_END", "DEFAULT_EARLY_CUE", "SyntheticConfig",
           "SyntheticSkeletons", "generate", "keyframe_curve", "early_cue_codes", "rest_offsets", "CUE_GROUPS",
           "XSUB_TRAIN_SUBJECTS", "XVIEW_TRAIN_CAMERAS", "split_indices"]

V = NTU25.num_joints
J = {n: i for i, n in enumerate(NTU25.joint_names)}

#: Cross-subject training subjects (NTU RGB+D's list, restricted to our 40 subjects).
XSUB_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
#: Cross-view training cameras (as in NTU RGB+D).
XVIEW_TRAIN_CAMERAS = (2, 3)
CAMERA_AZIMUTH_DEG = {1: -45.0, 2: 0.0, 3: 45.0}


def rest_offsets(height: float = 1.0, arm: float = 1.0, leg: float = 1.0, width: float = 1.0) -> np.ndarray:
    """Rest offsets ``(25, 3)`` in metres of the NTU-25 tree (each joint from its parent).

    A 1.75 m adult for ``height = 1``; ``arm``, ``leg`` and ``width`` scale the limb lengths
    and the shoulder/hip width. The root offset is the pelvis height above the ground.
    """
    o = np.zeros((V, 3))
    h, a, l, w = height, arm * height, leg * height, width * height
    o[J["spine_base"]] = (0, 0.94 * l / height * h, 0)
    o[J["spine_mid"]] = (0, 0.25 * h, 0)
    o[J["spine_shoulder"]] = (0, 0.24 * h, 0)
    o[J["neck"]] = (0, 0.08 * h, 0)
    o[J["head"]] = (0, 0.13 * h, 0.01)
    for side, sx in (("left", 1.0), ("right", -1.0)):
        o[J[f"shoulder_{side}"]] = (sx * 0.18 * w, -0.04 * h, 0)
        o[J[f"elbow_{side}"]] = (0, -0.28 * a, 0)
        o[J[f"wrist_{side}"]] = (0, -0.25 * a, 0)
        o[J[f"hand_{side}"]] = (0, -0.07 * a, 0)
        o[J[f"handtip_{side}"]] = (0, -0.08 * a, 0)
        o[J[f"thumb_{side}"]] = (-sx * 0.02 * a, -0.03 * a, 0.04 * a)
        o[J[f"hip_{side}"]] = (sx * 0.09 * w, -0.05 * h, 0)
        o[J[f"knee_{side}"]] = (0, -0.42 * l, 0)
        o[J[f"ankle_{side}"]] = (0, -0.42 * l, 0)
        o[J[f"foot_{side}"]] = (0, -0.05 * l, 0.13 * l)
    o[J["spine_base"]] = (0, 0.05 * h + 0.89 * l, 0)
    return o


# ----------------------------------------------------------------------------------------------
# Keyframe vocabulary. A pose is a dict {joint: axis-angle (3,)} plus optional "root_t" (3,)
# translation and "root_r" (3,) rotation in the body frame. Missing joints take the neutral pose.
# ----------------------------------------------------------------------------------------------
_SIDE = {"R": "right", "L": "left"}


def _arm(side, flex=0.0, abd=0.12, elbow=0.15, twist=0.0):
    """Shoulder and elbow rotations. flex: forward raise; abd: sideways raise; elbow: flexion."""
    s = 1.0 if side == "L" else -1.0
    n = _SIDE[side]
    return {f"shoulder_{n}": (-flex, s * twist, s * abd), f"elbow_{n}": (-elbow, 0.0, 0.0)}


def _leg(side, hip=0.0, knee=0.0, ankle=0.0, abd=0.0):
    s = 1.0 if side == "L" else -1.0
    n = _SIDE[side]
    return {f"hip_{n}": (-hip, 0.0, s * abd), f"knee_{n}": (knee, 0.0, 0.0), f"ankle_{n}": (ankle, 0.0, 0.0)}


def _spine(bend=0.0, twist=0.0, side=0.0):
    return {"spine_mid": (0.6 * bend, 0.5 * twist, side), "spine_shoulder": (0.4 * bend, 0.5 * twist, 0.0)}


def _pose(*parts, head=(0.0, 0.0, 0.0), root_t=(0.0, 0.0, 0.0), root_r=(0.0, 0.0, 0.0)):
    out = {"neck": tuple(head), "root_t": tuple(root_t), "root_r": tuple(root_r)}
    for p in parts:
        out.update(p)
    return out


NEUTRAL = _pose(_arm("L"), _arm("R"))

#: End of the shared opening in action time ``u`` (every family's second keyframe).
OPENING_END = 0.35
#: The default strength of the class cue inside the opening, degrees of elbow flexion
#: (see the module docstring); 0 means no class information in the opening.
DEFAULT_EARLY_CUE = 20.0

# Shared openings (u in [0, OPENING_END]) of the five families.
_OPEN_REACH = [(0.0, NEUTRAL), (0.35, _pose(_arm("R", flex=1.1, abd=0.1, elbow=1.0), _arm("L")))]
_OPEN_RAISE = [(0.0, NEUTRAL), (0.35, _pose(_arm("R", flex=0.3, abd=1.35, elbow=0.9), _arm("L")))]
_OPEN_BEND = [(0.0, NEUTRAL), (0.35, _pose(_arm("R", flex=0.5, elbow=0.3), _arm("L", flex=0.5, elbow=0.3),
                                           _spine(bend=0.55), _leg("L", hip=0.25, knee=0.3),
                                           _leg("R", hip=0.25, knee=0.3), root_t=(0, -0.04, -0.04)))]
_OPEN_LEG = [(0.0, NEUTRAL), (0.35, _pose(_arm("R", abd=0.3), _arm("L", abd=0.3), _leg("R", hip=0.8, knee=1.1),
                                          _spine(side=0.05), root_t=(0.02, 0.0, 0.0)))]
_OPEN_PAIR = [(0.0, NEUTRAL), (0.35, _pose(_arm("R", flex=0.7, elbow=0.6), _arm("L"), _leg("R", hip=0.2, knee=0.2),
                                           root_t=(0, 0, 0.22)))]


def _osc(t0, t1, n, a, b):
    """n alternating keyframes between poses a and b over [t0, t1]."""
    ts = np.linspace(t0, t1, n)
    return [(float(t), a if i % 2 == 0 else b) for i, t in enumerate(ts)]


def _actions():
    A = {}
    # Family 1: reach forward, then ...
    chamber = _pose(_arm("R", flex=1.2, elbow=1.9), _arm("L", flex=0.6, elbow=1.7), _spine(twist=-0.15))
    jab = _pose(_arm("R", flex=1.5, elbow=0.05), _arm("L", flex=0.6, elbow=1.7), _spine(twist=0.25))
    A["punch"] = ("reach", _OPEN_REACH + [(0.45, chamber), (0.55, jab), (0.65, chamber), (0.75, jab),
                                          (0.88, chamber), (1.0, NEUTRAL)], False)
    shove = _pose(_arm("R", flex=1.45, elbow=0.2), _arm("L", flex=1.45, elbow=0.2), _spine(bend=0.3),
                  _leg("L", hip=0.4, knee=0.3), root_t=(0, 0, 0.3))
    A["push"] = ("reach", _OPEN_REACH + [(0.5, _pose(_arm("R", flex=1.2, elbow=1.3), _arm("L", flex=1.2, elbow=1.3))),
                                         (0.68, shove), (0.85, shove), (1.0, NEUTRAL)], False)
    aim = _pose(_arm("R", flex=1.65, abd=0.35, elbow=0.0), _arm("L"), head=(0.0, -0.35, 0.0), root_r=(0, -0.2, 0))
    A["point"] = ("reach", _OPEN_REACH + [(0.5, aim), (0.9, aim), (1.0, _pose(_arm("R", flex=1.0, elbow=0.5), _arm("L")))],
                  False)
    sip = _pose(_arm("R", flex=0.75, abd=0.25, elbow=2.35, twist=0.3), _arm("L"), head=(-0.35, 0, 0))
    A["drink"] = ("reach", _OPEN_REACH + [(0.5, _pose(_arm("R", flex=0.9, elbow=1.8), _arm("L"))), (0.62, sip),
                                          (0.85, sip), (1.0, NEUTRAL)], False)
    # Family 2: raise the arm sideways, then ...
    up = _pose(_arm("R", flex=0.3, abd=1.55, elbow=0.45), _arm("L"))
    side = _pose(_arm("R", flex=0.3, abd=1.55, elbow=1.3), _arm("L"))
    A["wave"] = ("raise", _OPEN_RAISE + _osc(0.45, 0.9, 6, up, side) + [(1.0, NEUTRAL)], False)
    sal = _pose(_arm("R", flex=0.35, abd=1.45, elbow=2.45, twist=0.5), _arm("L"), head=(-0.05, 0, 0))
    A["salute"] = ("raise", _OPEN_RAISE + [(0.55, sal), (0.85, sal), (1.0, NEUTRAL)], False)
    cock = _pose(_arm("R", flex=-0.6, abd=1.4, elbow=1.2), _arm("L", flex=0.6), _spine(twist=-0.4, bend=-0.1),
                 root_r=(0, -0.3, 0))
    release = _pose(_arm("R", flex=1.7, abd=0.3, elbow=0.1), _arm("L", flex=0.2), _spine(twist=0.35, bend=0.35),
                    _leg("L", hip=0.45, knee=0.2), root_t=(0, 0, 0.25), root_r=(0, 0.2, 0))
    A["throw"] = ("raise", _OPEN_RAISE + [(0.55, cock), (0.7, release), (0.85, release), (1.0, NEUTRAL)], False)
    both = _pose(_arm("R", flex=0.5, abd=1.3, elbow=2.55), _arm("L", flex=0.5, abd=1.3, elbow=2.55), head=(0.25, 0, 0))
    A["touch head"] = ("raise", _OPEN_RAISE + [(0.55, both), (0.88, both), (1.0, NEUTRAL)], False)
    # Family 3: bend forward, then ...
    low = _pose(_arm("R", flex=1.3, elbow=0.1), _arm("L", flex=0.4), _spine(bend=1.25),
                _leg("L", hip=0.5, knee=0.6), _leg("R", hip=0.5, knee=0.6), root_t=(0, -0.12, -0.1))
    hold = _pose(_arm("R", flex=0.6, elbow=1.6), _arm("L"), _spine(bend=0.1))
    A["pick up"] = ("bend", _OPEN_BEND + [(0.55, low), (0.65, low), (0.85, hold), (1.0, hold)], False)
    tie_a = _pose(_arm("R", flex=1.2, elbow=0.6), _arm("L", flex=1.2, elbow=0.6), _spine(bend=1.0),
                  _leg("L", hip=0.6, knee=1.5, ankle=0.4), _leg("R", hip=1.4, knee=1.9),
                  root_t=(0, -0.38, -0.05))
    tie_b = _pose(_arm("R", flex=1.1, elbow=0.9), _arm("L", flex=1.3, elbow=0.4), _spine(bend=1.0),
                  _leg("L", hip=0.6, knee=1.5, ankle=0.4), _leg("R", hip=1.4, knee=1.9),
                  root_t=(0, -0.38, -0.05))
    A["tie shoe"] = ("bend", _OPEN_BEND + _osc(0.55, 0.9, 5, tie_a, tie_b) + [(1.0, tie_a)], False)
    seat = _pose(_arm("R", flex=0.5, elbow=1.2), _arm("L", flex=0.5, elbow=1.2), _spine(bend=0.15),
                 _leg("L", hip=1.5, knee=1.55, ankle=-0.1), _leg("R", hip=1.5, knee=1.55, ankle=-0.1),
                 root_t=(0, -0.45, -0.3))
    A["sit down"] = ("bend", _OPEN_BEND + [(0.6, _pose(_spine(bend=0.6), _leg("L", hip=1.0, knee=1.0),
                                                        _leg("R", hip=1.0, knee=1.0), _arm("L", flex=0.8),
                                                        _arm("R", flex=0.8), root_t=(0, -0.25, -0.2))),
                                           (0.8, seat), (1.0, seat)], False)
    # Family 4: lift the right knee, then ...
    kick = _pose(_arm("R", abd=0.5), _arm("L", abd=0.5), _leg("R", hip=1.45, knee=0.05), _spine(bend=-0.15))
    A["kick"] = ("leg", _OPEN_LEG + [(0.5, kick), (0.62, _pose(_leg("R", hip=0.8, knee=1.2), _arm("L"), _arm("R"))),
                                     (0.8, NEUTRAL), (1.0, NEUTRAL)], False)
    step1 = _pose(_arm("L", flex=0.4), _arm("R", flex=-0.3), _leg("R", hip=0.5, knee=0.1), _leg("L", hip=-0.2),
                  root_t=(0, -0.03, 0.3))
    step2 = _pose(_arm("R", flex=0.4), _arm("L", flex=-0.3), _leg("L", hip=0.8, knee=1.1), root_t=(0, 0, 0.5))
    step3 = _pose(_arm("L", flex=0.3), _arm("R", flex=-0.2), _leg("L", hip=0.4, knee=0.1), _leg("R", hip=-0.2),
                  root_t=(0, -0.03, 0.8))
    A["step forward"] = ("leg", _OPEN_LEG + [(0.5, step1), (0.68, step2), (0.84, step3),
                                             (1.0, _pose(_arm("L"), _arm("R"), root_t=(0, 0, 0.9)))], False)
    crouch = _pose(_arm("R", flex=-0.4), _arm("L", flex=-0.4), _spine(bend=0.3), _leg("L", hip=0.7, knee=1.2),
                   _leg("R", hip=0.7, knee=1.2), root_t=(0, -0.22, 0))
    air = _pose(_arm("R", flex=0.9), _arm("L", flex=0.9), _leg("L", hip=0.3, knee=0.5), _leg("R", hip=0.3, knee=0.5),
                root_t=(0, 0.25, 0))
    A["jump"] = ("leg", _OPEN_LEG + [(0.48, crouch), (0.6, air), (0.7, crouch), (0.82, air), (0.92, crouch),
                                     (1.0, NEUTRAL)], False)
    # Family 5: two people face each other, step in and raise the right arm, then ...
    grip = _pose(_arm("R", flex=0.95, elbow=0.7), _arm("L"), root_t=(0, 0, 0.3))
    grip2 = _pose(_arm("R", flex=1.15, elbow=0.6), _arm("L"), root_t=(0, 0, 0.3))
    A["shake hands"] = ("pair", _OPEN_PAIR + _osc(0.45, 0.88, 6, grip, grip2) + [(1.0, _pose(_arm("R"), _arm("L"), root_t=(0, 0, 0.25)))],
                        "same")
    wrap = _pose(_arm("R", flex=1.4, abd=0.35, elbow=1.5, twist=0.6), _arm("L", flex=1.4, abd=0.35, elbow=1.5, twist=0.6),
                 _spine(bend=0.15), head=(0, 0.4, 0), root_t=(0, 0, 0.42))
    A["hug"] = ("pair", _OPEN_PAIR + [(0.5, _pose(_arm("R", flex=1.4, abd=0.9, elbow=0.4), _arm("L", flex=1.4, abd=0.9, elbow=0.4),
                                                  root_t=(0, 0, 0.36))), (0.65, wrap), (0.9, wrap),
                                      (1.0, _pose(_arm("R"), _arm("L"), root_t=(0, 0, 0.3)))], "same")
    A["push someone"] = ("pair", _OPEN_PAIR + [(0.5, _pose(_arm("R", flex=1.3, elbow=1.3), _arm("L", flex=1.3, elbow=1.3),
                                                           root_t=(0, 0, 0.3))), (0.62, shove), (0.85, shove),
                                               (1.0, NEUTRAL)], "pushed")
    return A


def _pushed_partner():
    """Keyframes of the person who is pushed (class 'push someone')."""
    guard = _pose(_arm("R", flex=0.7, elbow=0.6), _arm("L", flex=0.5, elbow=0.5), root_t=(0, 0, 0.2))
    stagger = _pose(_arm("R", flex=0.9, abd=0.6, elbow=0.3), _arm("L", flex=0.9, abd=0.6, elbow=0.3),
                    _spine(bend=-0.3), _leg("L", hip=-0.4, knee=0.3), head=(-0.3, 0, 0), root_t=(0, -0.02, -0.35))
    return _OPEN_PAIR + [(0.5, guard), (0.66, stagger), (0.85, stagger),
                         (1.0, _pose(_arm("L"), _arm("R"), root_t=(0, 0, -0.4)))]


ACTIONS = _actions()
CLASS_NAMES = tuple(ACTIONS)
FAMILIES = {fam: tuple(n for n, (f, _, _) in ACTIONS.items() if f == fam)
            for fam in dict.fromkeys(f for f, _, _ in ACTIONS.values())}
_TWO_PERSON = tuple(i for i, (_, _, pair) in enumerate(ACTIONS.values()) if pair)
_MIRROR = NTU25.mirror_permutation()


def _keyframe_tracks(keys):
    """(K,) knot times and (K, 25*3 + 6) values for a keyframe list."""
    times = np.array([t for t, _ in keys])
    if np.any(np.diff(times) <= 0):
        raise ValueError(f"keyframe times must increase, got {times}")
    vals = np.zeros((len(keys), V * 3 + 6))
    for k, (_, pose) in enumerate(keys):
        full = dict(NEUTRAL)
        full.update(pose)
        for name, aa in full.items():
            if name == "root_t":
                vals[k, V * 3:V * 3 + 3] = aa
            elif name == "root_r":
                vals[k, V * 3 + 3:] = aa
            else:
                vals[k, J[name] * 3:J[name] * 3 + 3] = aa
    return times, vals


_NEUTRAL_VEC = _keyframe_tracks([(0.0, NEUTRAL), (1.0, NEUTRAL)])[1][0]

#: The joint groups that can carry the early cue (``cue_groups``): name, track column, sign of
#: the flexion and the angle's scale. The scale makes the end of the moved segment travel about as
#: far as the wrist does for the acting elbow (elbow-wrist 0.25 m; knee-ankle 0.42 m; spine_mid to
#: the head about 0.45 m). Group 0 is the acting (right) elbow of ``cue_groups = 1``.
CUE_GROUPS = (("acting arm", J["elbow_right"] * 3, -1.0, 1.0),
              ("other arm", J["elbow_left"] * 3, -1.0, 1.0),
              ("acting leg", J["knee_right"] * 3, 1.0, 0.6),
              ("trunk", J["spine_mid"] * 3, 1.0, 0.55))


def keyframe_curve(times, values):
    """The keyframe interpolant of one action: a C1 cubic Hermite spline over action time.

    Slopes are PCHIP's (shape-preserving) at every interior knot except the end of the opening
    (``u = OPENING_END``), where they are zero, as they are at ``u = 0``. The opening segment
    therefore depends only on the two opening keyframes, identical within a family, so the
    opening is exactly shared (PCHIP alone takes the slope at ``OPENING_END`` from the next,
    class-specific keyframe).

    ``times (K,)`` increasing, ``values (K, D)`` -> a callable ``u (...,) -> (..., D)``.
    Raises ``ValueError`` if the keyframes do not include ``u = 0`` and ``u = OPENING_END``.
    """
    times = np.asarray(times, dtype=np.float64)
    if times[0] != 0.0 or not np.any(np.isclose(times, OPENING_END)):
        raise ValueError(f"keyframes must start at u=0 and include u={OPENING_END}, got {times}")
    slopes = PchipInterpolator(times, values, axis=0).derivative()(times)
    slopes[0] = 0.0
    slopes[np.isclose(times, OPENING_END)] = 0.0
    return CubicHermiteSpline(times, values, slopes, axis=0, extrapolate=True)


def early_cue_codes(names) -> np.ndarray:
    """Each class's position in its family mapped to [-1, 1] (member k of n: 2k/(n-1) - 1), ``(C,)``.

    Multiplied by ``early_cue`` (degrees) it gives the class's extra elbow flexion at the end of the
    opening. Raises ``KeyError`` for an unknown class name.
    """
    codes = np.zeros(len(names))
    for c, name in enumerate(names):
        members = FAMILIES[ACTIONS[name][0]]
        codes[c] = 2.0 * members.index(name) / (len(members) - 1) - 1.0
    return codes


@dataclass
class SyntheticConfig:
    """Parameters of :func:`generate`.

    Attributes
    ----------
    num_samples : int
        Sequences to generate (spread evenly over classes, remainder to the first classes).
    frames : int
        ``T``, the padded length in frames (30 fps).
    min_valid : int
        Shortest valid length; each sequence's ``valid_frames`` is uniform in
        ``[min_valid, frames]``.
    num_subjects : int
        Subjects 1..num_subjects (each with its own body, posture and handedness).
    noise_std : float
        Gaussian sensor noise on every joint, metres.
    jitter_prob : float
        Probability that a joint in a frame jumps by ``N(0, jitter_std)`` (Kinect glitches).
    jitter_std : float
        Size of those jumps, metres.
    dropout_prob : float
        Probability per person that an extremity collapses onto its parent for 2-6 frames
        (Kinect's "inferred" joints).
    classes : tuple or None
        Class names to generate (default: all).
    early_cue : float
        Degrees of class-specific elbow flexion at the end of the shared opening (see the
        module docstring); 0 = no class information in the opening.
    cue_groups : int
        ``G`` in 1..4: the joint groups of :data:`CUE_GROUPS` that can carry the early cue. Every
        sample draws its group uniformly (independently of its class, subject and camera) and
        bends that group's joint by the class's cue: the same class, four different places.
        ``G = 1``: always the acting elbow, the same arrays as before the knob existed (the
        groups come from their own random stream).
    seed : int
    """

    num_samples: int = 2000
    frames: int = 64
    min_valid: int = 44
    num_subjects: int = 40
    noise_std: float = 0.008
    jitter_prob: float = 0.002
    jitter_std: float = 0.06
    dropout_prob: float = 0.15
    classes: tuple | None = None
    early_cue: float = DEFAULT_EARLY_CUE
    cue_groups: int = 1
    seed: int = 0


@dataclass
class SyntheticSkeletons(SkeletonArrays):
    """Synthetic sequences: :class:`SkeletonArrays` plus what only a generator can know.

    Extra attributes
    ----------------
    rotations : ``(N, M=2, T, 25, 3)`` float32, local joint rotations as axis-angle (radians);
        joint 0 holds the root (body) orientation in the world frame.
    families : ``(N,)`` int64, family index of the label (see :data:`FAMILIES`).
    family_names : tuple of str.
    handedness : ``(N,)`` int8, +1 right-handed, -1 mirrored (left-handed) performance.
    opening_frames : ``(N,)`` int64, frames in which every person's action time is at most
        ``OPENING_END`` (lead-in included): the frames a family shares exactly at
        ``early_cue = 0``.
    cue_group : ``(N,)`` int64, the index into :data:`CUE_GROUPS` of the joint group that carries
        the sample's early cue (all 0 for ``cue_groups = 1``).
    glitches : dict, counts of injected jitter spikes and dropped-out joints.
    """

    rotations: np.ndarray = None
    families: np.ndarray = None
    family_names: tuple = ()
    handedness: np.ndarray = None
    opening_frames: np.ndarray = None
    cue_group: np.ndarray = None
    glitches: dict = field(default_factory=dict)


def _subject_table(num_subjects, rng):
    return {
        "height": rng.uniform(0.88, 1.1, num_subjects),
        "arm": rng.uniform(0.93, 1.07, num_subjects),
        "leg": rng.uniform(0.93, 1.07, num_subjects),
        "width": rng.uniform(0.9, 1.12, num_subjects),
        "lefty": rng.random(num_subjects) < 0.2,
        "posture": rng.normal(0.0, 0.06, (num_subjects, V * 3 + 6)) * (np.arange(V * 3 + 6) < V * 3),
        "speed": rng.uniform(0.85, 1.2, num_subjects),
    }


def _subject_offsets(table):
    """Rest offsets ``(num_subjects, 25, 3)`` of every subject."""
    return np.stack([rest_offsets(h, a, l, w) for h, a, l, w in
                     zip(table["height"], table["arm"], table["leg"], table["width"])])


def _camera_rotation(azimuth):
    """World->camera rotations ``(n, 3, 3)`` for cameras on a circle looking at the origin."""
    c, s = np.cos(azimuth), np.sin(azimuth)
    fwd = np.stack([-s, np.zeros_like(s), -c], -1)  # viewing direction (camera z)
    up = np.broadcast_to(np.array([0.0, 1.0, 0.0]), fwd.shape)
    x = np.cross(up, fwd)
    return np.stack([x, up, fwd], -2)


def _render_person(track_t, track_v, u, amp, posture, mirror, offsets, shared_opening: bool = True):
    """Sample keyframe tracks for n people. Returns local rotations (n,T,V,3) and root (n,T,3).

    ``shared_opening``: interpolate with :func:`keyframe_curve` (the family actions); False:
    plain PCHIP, for keyframes without an opening (the multi-person scenes of ``video``)."""
    curve = keyframe_curve(track_t, track_v) if shared_opening else PchipInterpolator(track_t, track_v, axis=0)
    vals = curve(np.clip(u, 0, 1))  # (n, T, D)
    vals = _NEUTRAL_VEC + amp[:, None, None] * (vals - _NEUTRAL_VEC) + posture[:, None, :]
    rot = vals[..., :V * 3].reshape(vals.shape[:2] + (V, 3))
    root_t = vals[..., V * 3:V * 3 + 3]
    root_r = vals[..., V * 3 + 3:]
    if mirror.any():  # a left-handed performance: swap sides and reflect x (axis-angle -> (ax, -ay, -az))
        m = mirror
        rot[m] = rot[m][:, :, _MIRROR] * np.array([1.0, -1.0, -1.0])
        root_t[m] = root_t[m] * np.array([-1.0, 1.0, 1.0])
        root_r[m] = root_r[m] * np.array([1.0, -1.0, -1.0])
    rot[..., 0, :] = root_r
    return rot, root_t


def generate(config: SyntheticConfig | None = None, **overrides) -> SyntheticSkeletons:
    """Generate synthetic skeleton sequences.

    Parameters
    ----------
    config : SyntheticConfig, optional
    **overrides
        Fields of :class:`SyntheticConfig`, e.g. ``generate(num_samples=500, seed=1)``.

    Returns
    -------
    SyntheticSkeletons
        ``joints (N, 2, T, 25, 3)`` float32 in metres (camera frame; the second body is zeros
        for one-person actions), ``rotations`` likewise in radians, ``labels (N,)``,
        ``valid_frames (N,)``, ``subjects (N,)`` 1-based, ``cameras (N,)`` in {1, 2, 3}.

    Raises
    ------
    ValueError
        On an unknown class name or inconsistent sizes (``min_valid > frames``).

    Example
    -------
    >>> data = generate(num_samples=34, seed=0)
    >>> data.joints.shape
    (34, 2, 64, 25, 3)
    """
    cfg = config or SyntheticConfig()
    if overrides:
        cfg = SyntheticConfig(**{**cfg.__dict__, **overrides})
    if cfg.min_valid > cfg.frames or cfg.min_valid < 8:
        raise ValueError(f"min_valid must be in [8, frames={cfg.frames}], got {cfg.min_valid}")
    if not 1 <= int(cfg.cue_groups) <= len(CUE_GROUPS) or int(cfg.cue_groups) != cfg.cue_groups:
        raise ValueError(f"cue_groups must be an integer in [1, {len(CUE_GROUPS)}], got {cfg.cue_groups!r}")
    names = tuple(cfg.classes) if cfg.classes else CLASS_NAMES
    unknown = [n for n in names if n not in ACTIONS]
    if unknown:
        raise ValueError(f"unknown classes {unknown}; known: {list(CLASS_NAMES)}")
    rng = np.random.default_rng(cfg.seed)
    table = _subject_table(cfg.num_subjects, rng)
    subject_offsets = _subject_offsets(table)
    C, T, N = len(names), cfg.frames, cfg.num_samples
    cue_rad = np.deg2rad(cfg.early_cue) * early_cue_codes(names)  # (C,) elbow flexion at OPENING_END
    per_class = np.full(C, N // C)
    per_class[: N % C] += 1
    labels = np.repeat(np.arange(C), per_class)
    # the cue's joint group, from its own stream so that cue_groups = 1 leaves every other draw as it was
    cue_group = np.random.default_rng([cfg.seed, 7919]).integers(0, int(cfg.cue_groups), N)

    subjects = rng.integers(1, cfg.num_subjects + 1, N)
    cameras = rng.integers(1, 4, N)
    valid = rng.integers(cfg.min_valid, T + 1, N)
    lead = rng.integers(0, 6, N)
    gamma = rng.uniform(0.8, 1.25, N)
    amp = rng.uniform(0.85, 1.15, (N, 2))
    mirror = table["lefty"][subjects - 1] ^ (rng.random(N) < 0.1)
    partner = rng.integers(1, cfg.num_subjects + 1, N)
    azim = np.deg2rad(np.vectorize(CAMERA_AZIMUTH_DEG.get)(cameras) + rng.uniform(-8, 8, N))
    cam_dist = rng.uniform(2.6, 3.6, N)
    cam_height = rng.uniform(0.7, 1.2, N)
    pos_xz = rng.uniform(-0.3, 0.3, (N, 2))
    yaw = rng.uniform(-0.35, 0.35, N)

    joints = np.zeros((N, 2, T, V, 3), np.float32)
    rots = np.zeros((N, 2, T, V, 3), np.float32)
    t_idx = np.arange(T)
    # normalised action time u (N, T): lead-in at rest, then u^gamma speed profile
    u = (t_idx[None, :] - lead[:, None]) / np.maximum(valid - lead - 1, 1)[:, None]
    u = np.clip(u, 0, 1) ** gamma[:, None]
    u_max = u.copy()  # the latest action time over the people of a sample (a partner may lead)

    for c, name in enumerate(names):
        idx = np.flatnonzero(labels == c)
        if idx.size == 0:
            continue
        _, keys, pair = ACTIONS[name]
        n = idx.size
        people = [(subjects[idx], keys)]
        if pair:
            people.append((partner[idx], _pushed_partner() if pair == "pushed" else keys))
        for m, (subj, pkeys) in enumerate(people):
            tt_m, tv_m = _keyframe_tracks(pkeys)
            # the partner has its own small timing offset
            u_m = np.clip(u[idx] - (rng.uniform(-0.04, 0.04, (n, 1)) if m else 0.0), 0, 1)
            u_max[idx] = np.maximum(u_max[idx], u_m)
            posture = table["posture"][subj - 1] + rng.normal(0, 0.03, (n, V * 3 + 6)) * (np.arange(V * 3 + 6) < V * 3)
            rot = np.zeros((n, T, V, 3))
            root_t = np.zeros((n, T, 3))
            for g in np.unique(cue_group[idx]):            # one rendering per cue group present (at most 4)
                sel = cue_group[idx] == g
                _, column, sign, scale = CUE_GROUPS[g]
                tv_g = tv_m.copy()
                tv_g[np.isclose(tt_m, OPENING_END), column] += sign * scale * cue_rad[c]  # the early cue
                rot[sel], root_t[sel] = _render_person(tt_m, tv_g, u_m[sel], amp[idx, m][sel], posture[sel],
                                                       mirror[idx][sel], None)
            # body placement in the world: person A at the origin facing the camera side; in a
            # pair, the two stand 1.3 m apart facing each other.
            if pair:
                base_yaw = np.full(n, np.pi / 2 if m == 0 else -np.pi / 2)
                base_pos = np.stack([np.full(n, -0.65 if m == 0 else 0.65), np.zeros(n), np.zeros(n)], -1)
            else:
                base_yaw, base_pos = np.zeros(n), np.zeros((n, 3))
            base_yaw = base_yaw + yaw[idx]
            base_pos = base_pos + np.stack([pos_xz[idx, 0], np.zeros(n), pos_xz[idx, 1]], -1)
            # root rotation = yaw about y composed with the keyframed root rotation
            R_loc = axis_angle_to_matrix(torch.from_numpy(rot.astype(np.float32)))  # (n, T, V, 3, 3)
            yaw_aa = torch.zeros(n, 3)
            yaw_aa[:, 1] = torch.from_numpy(base_yaw).float()
            R_yaw = axis_angle_to_matrix(yaw_aa)[:, None]  # (n, 1, 3, 3)
            R_loc[:, :, 0] = R_yaw @ R_loc[:, :, 0]
            offsets = torch.from_numpy(subject_offsets[subj - 1]).float()[:, None]  # (n, 1, V, 3)
            root_world = (R_yaw @ torch.from_numpy(root_t).float()[..., None])[..., 0] + torch.from_numpy(base_pos).float()[:, None]
            pos = forward_kinematics(R_loc, offsets, NTU25.parents, root_translation=root_world)  # (n,T,V,3)
            # world -> camera
            Rc = torch.from_numpy(_camera_rotation(azim[idx])).float()[:, None, None]  # (n,1,1,3,3)
            cpos = np.stack([cam_dist[idx] * np.sin(azim[idx]), cam_height[idx], cam_dist[idx] * np.cos(azim[idx])], -1)
            pos = (Rc @ (pos - torch.from_numpy(cpos).float()[:, None, None])[..., None])[..., 0]
            joints[idx, m] = pos.numpy()
            rots[idx, m] = rot.astype(np.float32)

    # Kinect-like corruption: noise, jitter spikes, collapsed extremities; then zero padding.
    # Only bodies that exist are corrupted; spikes are drawn sparsely (count, then positions).
    present = np.abs(joints).sum(axis=(2, 3, 4)) > 0  # (N, 2)
    pn, pm = np.nonzero(present)
    joints[pn, pm] += rng.standard_normal((pn.size, T, V, 3), dtype=np.float32) * np.float32(cfg.noise_std)
    n_spikes = rng.binomial(pn.size * T * V, cfg.jitter_prob)
    flat = rng.integers(0, pn.size * T * V, n_spikes)
    b, rem = np.divmod(flat, T * V)
    st, sj = np.divmod(rem, V)
    np.add.at(joints, (pn[b], pm[b], st, sj), rng.normal(0, cfg.jitter_std, (n_spikes, 3)).astype(np.float32))
    extremities = np.array([J[n] for n in ("handtip_left", "thumb_left", "handtip_right", "thumb_right",
                                            "foot_left", "foot_right", "hand_left", "hand_right")])
    drop = (rng.random((N, 2)) < cfg.dropout_prob) & present
    dn, dm = np.nonzero(drop)
    dj = extremities[rng.integers(0, len(extremities), dn.size)]
    d0 = rng.integers(0, cfg.min_valid - 6, dn.size)
    dl = rng.integers(2, 7, dn.size)
    for a, b_, j, s0, L in zip(dn, dm, dj, d0, dl):  # a handful of events, not a per-sample forward pass
        joints[a, b_, s0:s0 + L, j] = joints[a, b_, s0:s0 + L, NTU25.parents[j]]
    keep = (t_idx[None, :] < valid[:, None]).astype(np.float32)[:, None, :, None, None]  # (N,1,T,1,1)
    joints *= keep
    rots *= keep

    fam_names = tuple(FAMILIES)
    families = np.array([fam_names.index(ACTIONS[names[c]][0]) for c in labels])
    opening_frames = (u_max <= OPENING_END).sum(1)
    return SyntheticSkeletons(
        joints=joints, labels=labels.astype(np.int64), valid_frames=valid.astype(np.int64),
        subjects=subjects.astype(np.int64), cameras=cameras.astype(np.int64),
        names=[f"S{int(s):03d}C{int(c):03d}A{int(l) + 1:03d}_{i:05d}" for i, (s, c, l) in enumerate(zip(subjects, cameras, labels))],
        class_names=list(names), skeleton_name="ntu25",
        rotations=rots, families=families, family_names=fam_names,
        handedness=np.where(mirror, -1, 1).astype(np.int8), opening_frames=opening_frames.astype(np.int64),
        cue_group=cue_group.astype(np.int64),
        glitches={"jitter_spikes": int(n_spikes), "dropped_extremity_events": int(drop.sum())},
    )


def split_indices(data: SkeletonArrays, benchmark: str = "xsub"):
    """Train/test indices for ``benchmark`` in ``{"xsub", "xview"}``.

    Cross-subject: subjects in :data:`XSUB_TRAIN_SUBJECTS` train. Cross-view: cameras 2 and 3
    train, camera 1 tests (NTU RGB+D protocol). Returns ``(train_idx, test_idx)`` int arrays.
    Raises ``ValueError`` for another benchmark.
    """
    if benchmark == "xsub":
        train = np.isin(data.subjects, XSUB_TRAIN_SUBJECTS)
    elif benchmark == "xview":
        train = np.isin(data.cameras, XVIEW_TRAIN_CAMERAS)
    else:
        raise ValueError(f"benchmark must be 'xsub' or 'xview', got {benchmark!r}")
    return np.flatnonzero(train), np.flatnonzero(~train)
