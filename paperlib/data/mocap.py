"""Real motion capture: the DeepMimic humanoid reference clips shipped with pybullet.

pybullet's data package ships the 15 humanoid reference motions of DeepMimic (Peng, Abbeel,
Levine and van de Panne, "DeepMimic: Example-Guided Deep Reinforcement Learning of
Physics-Based Character Skills", ACM Trans. Graph. / SIGGRAPH 2018) as
``pybullet_data/data/motions/humanoid3d_*.txt`` and the character's body as
``pybullet_data/humanoid/humanoid.urdf``. This module reads both **from the installed pybullet
package at run time** (nothing is copied into the repository), resamples a clip to a fixed
frame rate, runs forward kinematics (:func:`paperlib.kinematics.forward_kinematics` on the
:data:`paperlib.skeleton.DEEPMIMIC` skeleton) and maps the 15 humanoid joints onto the NTU RGB+D
25-joint layout (:func:`to_ntu25`).

Conventions
-----------
- **Axes.** The humanoid and its motion files are **y-up**: ``+y`` points up (gravity is
  ``-y`` in pybullet's DeepMimic environment), the ground is the plane ``y = 0``, the character
  faces ``+x`` in its rest pose and its right side is ``+z`` (the URDF puts ``right_hip`` at
  ``z = +0.34`` URDF units). Positions returned by :func:`load_clip` stay in this frame.
  :func:`to_ntu25` can rotate them into a camera-like frame (see there).
- **Units.** Positions in metres, times in seconds, frame rates in frames per second, angles
  in radians. Quaternions are ``(w, x, y, z)`` as in :mod:`paperlib.kinematics` (the motion
  files store them in this order too).
- **Scale.** The URDF is written in its own units; pybullet's DeepMimic environment loads it
  with ``globalScaling=0.25`` (``pybullet_envs/deep_mimic/env/humanoid_stable_pd.py``) and uses
  the root positions of the motion files unscaled, as metres. We do the same:
  offsets = URDF joint origins x :data:`URDF_SCALE` (0.25). The feet of the walking clip then
  touch the ground plane (checked in ``tests/test_mocap.py``).

Motion file layout
------------------
A JSON object with ``"Loop"`` (``"wrap"`` or ``"none"``) and ``"Frames"``: one list of 44
numbers per key frame, ``[duration (s), root position (3, m), root rotation (4, w x y z),
chest (4), neck (4), right_hip (4), right_knee (1, rad), right_ankle (4), right_shoulder (4),
right_elbow (1, rad), left_hip (4), left_knee (1, rad), left_ankle (4), left_shoulder (4),
left_elbow (1, rad)]``. The layout is not hard-coded: :func:`motion_layout` derives it from the
URDF joint types in :data:`~paperlib.skeleton.DEEPMIMIC` order (root: 3 + 4, ``spherical``: a
quaternion, ``revolute``: one angle about the URDF ``<axis>``, ``fixed``: nothing). It agrees
with pybullet's own reader (``pybullet_envs/deep_mimic/env/humanoid_pose_interpolator.py``).
Joint rotations are local (relative to the parent link's frame); the root's is global.

Timing and looping (what :func:`load_clip` does)
-----------------------------------------------
The key frame ``k`` lies at time ``t_k = d_0 + ... + d_(k-1)`` where ``d_i`` is the duration
stored in frame ``i`` (the time to the *next* key frame). The clip lasts
``D = t_(N-1)``; the last frame's own duration is ignored. This is DeepMimic's convention
(``cMotion::PostProcessFrames``; pybullet's ``MotionCaptureData.getCycleTime`` is
``(N - 1) * d``), and the installed files follow it: in 14 of the 15 files the last duration is
0, and in every ``"wrap"`` clip the last frame repeats the first pose (up to small differences
and the root's horizontal advance over one cycle), i.e. the last frame *is* the step back to
frame 0. ``humanoid3d_dance_b.txt`` stores 1/60 s as its last duration; it is ignored as well.

Resampling to ``fps`` takes the times ``s_i = i / fps``:

- ``Loop == "none"``: ``i = 0 .. floor(D * fps + 0.01)``, i.e. ``T = floor(D fps + 0.01) + 1``
  frames, the first at frame 0 and the last at (or within 1 % of a frame period past, then
  clamped to) the last key frame.
- ``Loop == "wrap"``: ``i = 0 .. T - 1`` with ``T = ceil(D * fps - 0.01)`` (at least 1): one
  cycle *without* its closing frame, which duplicates frame 0. Tiling the joint rotations gives a
  seamless loop; the root keeps the translation of this cycle (add the displacement
  ``root(t=D) - root(0)`` per repetition to continue walking, as DeepMimic does).

The 0.01-frame tolerance absorbs the six-digit rounding of the stored durations (``0.033332``
for 1/30 s). Between two key frames the root position and the 1-DoF angles are interpolated
linearly and the quaternions spherically (:func:`slerp`, shortest arc, sign of ``q``/``-q``
handled; quaternions are normalised first: several stored ones are far from unit norm, down to
``|q| = 0.58`` in ``humanoid3d_kick.txt``, so only a norm further than 0.5 from 1 is rejected).

Checks
------
``tests/test_mocap.py`` compares the joint positions with pybullet's own forward kinematics of
``humanoid.urdf`` (loaded with ``globalScaling=0.25``, joints set from the key frames) to 1e-6 m,
and checks that in the walking clip the lowest corner of the foot collision boxes stays within
[-0.005, 0.014] m of the floor in every frame.

NTU-25 mapping
--------------
15 NTU joints are humanoid joints ("direct"); the other 10 (neck, head, hands, hand tips,
thumbs, feet) are points rigidly attached to a humanoid joint ("extrapolated"), see
:data:`NTU25_FROM_DEEPMIMIC` / :func:`ntu25_from_deepmimic_table`. The humanoid has no hands
(its wrists are fixed), so hands continue the forearm in a straight line: in clips where the
hands press on the floor (getup_*, cartwheel, roll) the extrapolated hand tips dip up to
0.18 m below it.
"""
from __future__ import annotations

import functools
import json
import math
import numbers
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..kinematics import (axis_angle_to_matrix, forward_kinematics, quat_to_axis_angle,
                          quat_to_matrix, rotation_about_y)
from ..skeleton import DEEPMIMIC, NTU25

__all__ = [
    "URDF_SCALE", "CLIP_NAMES", "MocapClip", "HumanoidBody", "data_dir", "list_clips",
    "load_body", "motion_layout", "load_clip", "load_all", "slerp", "to_ntu25",
    "NTU25_FROM_DEEPMIMIC", "CAMERA_ROTATION", "ntu25_from_deepmimic_table",
]

#: Scale from URDF units to metres (pybullet's DeepMimic environment loads the URDF with
#: ``globalScaling=0.25``).
URDF_SCALE = 0.25

#: The 15 humanoid clips pybullet ships (``humanoid3d_<name>.txt``), sorted.
CLIP_NAMES = ("backflip", "cartwheel", "crawl", "dance_a", "dance_b", "getup_facedown",
              "getup_faceup", "jump", "kick", "punch", "roll", "run", "spin", "spinkick", "walk")

_PREFIX = "humanoid3d_"
# Tolerance, in frame periods, for the rounding of the stored durations (see module docstring).
_FRAME_TOL = 1e-2
# A stored quaternion whose norm is further than this from 1 signals a wrong layout or a
# corrupt file. The installed files are sloppy (norms off by up to 0.42, in
# humanoid3d_kick.txt's right_hip), so the check is loose; every quaternion is normalised.
_QUAT_NORM_TOL = 0.5


# ------------------------------------------------------------------------------------------
# Files
# ------------------------------------------------------------------------------------------
def data_dir() -> Path:
    """The installed ``pybullet_data`` folder.

    Returns
    -------
    pathlib.Path
        ``pybullet_data.getDataPath()``.

    Raises
    ------
    ImportError
        If pybullet (which provides ``pybullet_data``) is not installed.
    """
    try:
        import pybullet_data
    except ImportError as exc:  # pragma: no cover - pybullet is in requirements.txt
        raise ImportError("paperlib.data.mocap needs pybullet (pip install pybullet), which ships "
                          "the DeepMimic clips in pybullet_data") from exc
    return Path(pybullet_data.getDataPath())


def _motions_dir() -> Path:
    return data_dir() / "data" / "motions"


def list_clips() -> list[str]:
    """Names of the DeepMimic humanoid clips installed with pybullet, sorted.

    Returns
    -------
    list of str
        The ``<name>`` of every ``pybullet_data/data/motions/humanoid3d_<name>.txt``: the 15
        names of :data:`CLIP_NAMES` for pybullet 3.2.x.

    Raises
    ------
    ImportError
        If pybullet is not installed.
    FileNotFoundError
        If the motions folder is missing from the installed ``pybullet_data``.
    """
    d = _motions_dir()
    if not d.is_dir():
        raise FileNotFoundError(f"no DeepMimic motions folder at {d}")
    return sorted(p.name[len(_PREFIX):-len(".txt")] for p in d.glob(f"{_PREFIX}*.txt"))


def _resolve(name_or_path) -> tuple[str, Path]:
    p = Path(name_or_path)
    if p.suffix == ".txt" and (p.is_file() or len(p.parts) > 1):
        if not p.is_file():
            raise FileNotFoundError(f"motion file {p} does not exist")
        name = p.stem[len(_PREFIX):] if p.stem.startswith(_PREFIX) else p.stem
        return name, p
    name = str(name_or_path)
    if name.endswith(".txt"):
        name = name[:-4]
    if name.startswith(_PREFIX):
        name = name[len(_PREFIX):]
    path = _motions_dir() / f"{_PREFIX}{name}.txt"
    if not path.is_file():
        raise FileNotFoundError(f"no DeepMimic clip named {name_or_path!r}; installed clips: "
                                f"{list_clips()}")
    return name, path


# ------------------------------------------------------------------------------------------
# Body (URDF)
# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class HumanoidBody:
    """The DeepMimic humanoid as read from its URDF, in metres, joints in DEEPMIMIC order.

    Attributes
    ----------
    joint_types : tuple of str, length 15
        ``"root"`` for the free root, else the URDF type: ``"spherical"``, ``"revolute"`` or
        ``"fixed"``.
    offsets : np.ndarray, float64, ``(15, 3)``, metres
        Joint origin of every link in its parent link's frame (URDF ``<origin xyz>`` of the joint
        times ``scale``); the root's is zero (its position is the clip's root translation).
    axes : np.ndarray, float64, ``(15, 3)``
        Unit rotation axis of the revolute joints (URDF ``<axis>``, in the joint's frame), zero
        rows for the others.
    head_center : np.ndarray ``(3,)``, metres
        Centre of the ``neck`` link's collision sphere (the head), in the neck joint's frame.
    foot_box_center, foot_box_size : np.ndarray ``(3,)``, metres
        Centre and full size of the ankle links' collision box (the foot), in the ankle frame.
    scale : float
        URDF units -> metres.
    path : str
        The URDF read.
    """

    joint_types: tuple
    offsets: np.ndarray
    axes: np.ndarray
    head_center: np.ndarray
    foot_box_center: np.ndarray
    foot_box_size: np.ndarray
    scale: float
    path: str


def _floats(text, n, where):
    try:
        vals = [float(v) for v in (text or "").split()]
    except ValueError:
        vals = []
    if len(vals) != n:
        raise ValueError(f"{where}: expected {n} numbers, got {text!r}")
    return np.array(vals)


@functools.lru_cache(maxsize=4)
def _load_body_cached(path: str, scale: float) -> HumanoidBody:
    fname = os.path.basename(path)
    # The installed humanoid.urdf ends with a stray NUL byte after </robot>: strip it.
    text = Path(path).read_bytes().rstrip(b"\x00 \t\r\n")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"{fname}: not well-formed XML ({exc})") from None
    joints = {}
    urdf_order = []
    for j in root.findall("joint"):
        child = j.find("child").get("link")
        parent = j.find("parent").get("link")
        origin = j.find("origin")
        xyz = _floats(origin.get("xyz") if origin is not None else "0 0 0", 3,
                      f"{fname}: joint {j.get('name')!r} origin xyz")
        rpy = _floats(origin.get("rpy") if origin is not None else "0 0 0", 3,
                      f"{fname}: joint {j.get('name')!r} origin rpy")
        if np.abs(rpy).max() > 0:
            raise ValueError(f"{fname}: joint {j.get('name')!r} has a non-zero origin rpy {rpy}; "
                             "rotated joint frames are not supported")
        axis_el = j.find("axis")
        axis = _floats(axis_el.get("xyz"), 3, f"{fname}: joint {j.get('name')!r} axis") \
            if axis_el is not None else np.zeros(3)
        joints[child] = (parent, j.get("type"), xyz, axis)
        urdf_order.append(child)

    names = DEEPMIMIC.joint_names
    if [n for n in urdf_order if n in names] != list(names):
        raise ValueError(f"{fname}: joint order {urdf_order} does not match DEEPMIMIC {list(names)}")
    types, offsets, axes = [], np.zeros((len(names), 3)), np.zeros((len(names), 3))
    for v, (name, p) in enumerate(zip(names, DEEPMIMIC.parents)):
        if name not in joints:
            raise ValueError(f"{fname}: no joint with child link {name!r}")
        parent, jtype, xyz, axis = joints[name]
        if p < 0:
            if parent in names:
                raise ValueError(f"{fname}: root link {name!r} has parent {parent!r} in the skeleton")
            types.append("root")
            continue
        if parent != names[p]:
            raise ValueError(f"{fname}: link {name!r} has parent {parent!r}, DEEPMIMIC says {names[p]!r}")
        if jtype not in ("spherical", "revolute", "fixed"):
            raise ValueError(f"{fname}: joint {name!r} has unsupported type {jtype!r}")
        types.append(jtype)
        offsets[v] = xyz * scale
        if jtype == "revolute":
            norm = np.linalg.norm(axis)
            if norm < 1e-9:
                raise ValueError(f"{fname}: revolute joint {name!r} has a zero axis")
            axes[v] = axis / norm

    def collision(link, kind):
        el = root.find(f"link[@name='{link}']/collision")
        if el is None or el.find(f"geometry/{kind}") is None:
            raise ValueError(f"{fname}: link {link!r} has no {kind} collision shape")
        origin = _floats(el.find("origin").get("xyz"), 3, f"{fname}: link {link!r} collision origin")
        return origin * scale, el.find(f"geometry/{kind}")

    head_center, _ = collision("neck", "sphere")
    foot_center, box = collision("right_ankle", "box")
    foot_size = _floats(box.get("size"), 3, f"{fname}: right_ankle box size") * scale
    return HumanoidBody(tuple(types), offsets, axes, head_center, foot_center, foot_size,
                        float(scale), path)


def load_body(urdf_path=None, scale: float = URDF_SCALE) -> HumanoidBody:
    """Read the DeepMimic humanoid's URDF (cached).

    Parameters
    ----------
    urdf_path : str or Path, optional
        Defaults to the installed ``pybullet_data/humanoid/humanoid.urdf``.
    scale : float
        URDF units to metres; 0.25 as in pybullet's DeepMimic environment.

    Returns
    -------
    HumanoidBody
        Offsets (metres), joint types and revolute axes in :data:`DEEPMIMIC` joint order.

    Raises
    ------
    ValueError
        If the file is not well-formed XML (a trailing NUL byte, present in the installed file,
        is tolerated), the URDF's tree, joint order or joint types disagree with
        :data:`DEEPMIMIC`, a joint origin is rotated (non-zero ``rpy``), or a number cannot be
        parsed.
    FileNotFoundError
        If the file does not exist.
    """
    path = Path(urdf_path) if urdf_path is not None else data_dir() / "humanoid" / "humanoid.urdf"
    if not path.is_file():
        raise FileNotFoundError(f"no URDF at {path}")
    return _load_body_cached(str(path), float(scale))


def motion_layout(body: HumanoidBody | None = None) -> list[tuple[str, int, int, int]]:
    """Column layout of one motion-file frame, derived from the URDF joint types.

    Parameters
    ----------
    body : HumanoidBody, optional
        Defaults to :func:`load_body`.

    Returns
    -------
    list of (field, joint, start, width)
        ``field`` is ``"duration"``, ``"root_position"``, ``"root_rotation"`` or a joint name;
        ``joint`` the DEEPMIMIC index (-1 for the duration); ``start`` the column; ``width``
        1 (duration, revolute angle in radians), 3 (root position, metres) or 4 (quaternion
        ``w, x, y, z``). Fixed joints (the wrists) have no columns. For the installed URDF the
        widths add up to 44.
    """
    body = body if body is not None else load_body()
    out = [("duration", -1, 0, 1)]
    col = 1
    for v, (name, jtype) in enumerate(zip(DEEPMIMIC.joint_names, body.joint_types)):
        if jtype == "root":
            out += [("root_position", v, col, 3), ("root_rotation", v, col + 3, 4)]
            col += 7
        elif jtype == "spherical":
            out.append((name, v, col, 4))
            col += 4
        elif jtype == "revolute":
            out.append((name, v, col, 1))
            col += 1
    return out


# ------------------------------------------------------------------------------------------
# Interpolation
# ------------------------------------------------------------------------------------------
def slerp(q0, q1, t):
    """Spherical linear interpolation of unit quaternions, vectorised, shortest arc.

    Parameters
    ----------
    q0, q1 : array_like ``(..., 4)``
        Quaternions ``(w, x, y, z)``; normalised here. Where ``dot(q0, q1) < 0``, ``-q1`` (the
        same rotation) is used so that the path is the short one.
    t : array_like ``(...)``
        Interpolation parameter, broadcast against the quaternions' leading dimensions;
        ``t = 0`` gives ``q0``, ``t = 1`` gives ``q1`` (or ``-q1``).

    Returns
    -------
    np.ndarray, float64, ``(..., 4)``
        ``sin((1-t) a) / sin a * q0 + sin(t a) / sin a * q1`` with ``cos a = |dot(q0, q1)|``,
        falling back to normalised linear interpolation when ``a < 1e-6`` rad (Shoemake 1985).

    Raises
    ------
    ValueError
        If the last dimension is not 4.
    """
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    if q0.shape[-1] != 4 or q1.shape[-1] != 4:
        raise ValueError(f"slerp: expected (..., 4) quaternions, got {q0.shape} and {q1.shape}")
    t = np.asarray(t, dtype=np.float64)[..., None]
    q0 = q0 / np.linalg.norm(q0, axis=-1, keepdims=True)
    q1 = q1 / np.linalg.norm(q1, axis=-1, keepdims=True)
    dot = (q0 * q1).sum(-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.clip(np.abs(dot), -1.0, 1.0)
    angle = np.arccos(dot)
    sin_a = np.sin(angle)
    small = angle < 1e-6
    safe = np.where(small, 1.0, sin_a)
    w0 = np.where(small, 1.0 - t, np.sin((1.0 - t) * angle) / safe)
    w1 = np.where(small, t, np.sin(t * angle) / safe)
    out = w0 * q0 + w1 * q1
    return out / np.linalg.norm(out, axis=-1, keepdims=True)


def _num_samples(duration: float, fps: float, loop: bool) -> int:
    n = duration * fps
    if loop:
        return max(1, math.ceil(n - _FRAME_TOL))
    return math.floor(n + _FRAME_TOL) + 1


# ------------------------------------------------------------------------------------------
# Clips
# ------------------------------------------------------------------------------------------
@dataclass
class MocapClip:
    """One DeepMimic clip, resampled to a fixed frame rate.

    Attributes
    ----------
    name : str
        Clip name, e.g. ``"walk"``.
    fps : float
        Frame rate of the arrays, frames per second.
    loop : bool
        ``True`` for ``"Loop": "wrap"`` clips (the frames are one cycle without its closing
        frame), ``False`` for ``"none"`` (the last frame is the last key frame).
    positions : np.ndarray, float64, ``(T, 15, 3)``, metres
        Global joint positions (forward kinematics), :data:`DEEPMIMIC` joint order, y-up.
    rotations : np.ndarray, float64, ``(T, 15, 3)``, radians
        Local axis-angle rotations (the root's is global); revolute joints as ``angle * axis``,
        the fixed wrists zero.
    root_translation : np.ndarray, float64, ``(T, 3)``, metres
        The root position (equals ``positions[:, 0]``).
    source_duration : float
        ``D``, the duration of the key frames in seconds (see the module docstring).
    source_frames : int
        Number of key frames in the file.
    path : str
        The motion file read.
    """

    name: str
    fps: float
    loop: bool
    positions: np.ndarray
    rotations: np.ndarray
    root_translation: np.ndarray
    source_duration: float = 0.0
    source_frames: int = 0
    path: str = ""

    def __repr__(self) -> str:
        return (f"MocapClip(name={self.name!r}, fps={self.fps:g}, loop={self.loop}, "
                f"frames={self.num_frames}, source_duration={self.source_duration:.4f} s)")

    @property
    def num_frames(self) -> int:
        """``T``."""
        return int(self.positions.shape[0])

    def global_rotations(self, body: HumanoidBody | None = None) -> np.ndarray:
        """Global joint rotation matrices ``(T, 15, 3, 3)`` from :attr:`rotations`."""
        body = body if body is not None else load_body()
        _, glob = forward_kinematics(axis_angle_to_matrix(self.rotations), body.offsets,
                                     DEEPMIMIC.parents, self.root_translation, return_global=True)
        return glob


def _parse_frames(path: Path, body: HumanoidBody):
    fname = path.name
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{fname}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{fname}: expected a JSON object with 'Loop' and 'Frames'")
    for key in ("Loop", "Frames"):
        if key not in data:
            raise ValueError(f"{fname}: missing field {key!r}")
    if data["Loop"] not in ("wrap", "none"):
        raise ValueError(f"{fname}: field 'Loop' is {data['Loop']!r}, expected 'wrap' or 'none'")
    frames = data["Frames"]
    if not isinstance(frames, list) or len(frames) < 2:
        raise ValueError(f"{fname}: 'Frames' must be a list of at least 2 frames")
    layout = motion_layout(body)
    width = layout[-1][2] + layout[-1][3]
    for k, fr in enumerate(frames):
        if not isinstance(fr, list):
            raise ValueError(f"{fname}: frame {k} is not a list of numbers")
        if len(fr) != width:
            raise ValueError(f"{fname}: frame {k} has {len(fr)} values, expected {width}")
        for field, _, start, w in layout:
            vals = fr[start:start + w]
            if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
                       for x in vals):
                raise ValueError(f"{fname}: frame {k}, field {field!r} (columns {start}..{start + w - 1}) "
                                 f"is not all finite numbers: {vals}")
            if field == "duration" and (vals[0] < 0 or (vals[0] == 0 and k < len(frames) - 1)):
                raise ValueError(f"{fname}: frame {k}, field 'duration' is {vals[0]}; durations must "
                                 "be > 0 (only the last frame's, which is ignored, may be 0)")
            if w == 4:
                norm = math.sqrt(sum(x * x for x in vals))
                if abs(norm - 1.0) > _QUAT_NORM_TOL:
                    raise ValueError(f"{fname}: frame {k}, field {field!r} has quaternion norm "
                                     f"{norm:.4g}, expected a unit quaternion (w, x, y, z)")
    return np.asarray(frames, dtype=np.float64), data["Loop"] == "wrap", layout


def load_clip(name_or_path, fps: float = 30.0) -> MocapClip:
    """Load one DeepMimic clip, resample it to ``fps`` and run forward kinematics.

    Parameters
    ----------
    name_or_path : str or Path
        A clip name from :func:`list_clips` (``"walk"``; ``"humanoid3d_walk"`` and
        ``"humanoid3d_walk.txt"`` work too), read from the installed ``pybullet_data``, or the
        path of a motion file in the same format.
    fps : float
        Output frame rate, frames per second (> 0).

    Returns
    -------
    MocapClip
        ``positions (T, 15, 3)`` metres (y-up), ``rotations (T, 15, 3)`` radians (local
        axis-angle), ``root_translation (T, 3)`` metres. ``T`` follows from the key-frame
        durations and ``Loop`` as described in the module docstring: ``floor(D fps + 0.01) + 1``
        for ``"none"``, ``ceil(D fps - 0.01)`` for ``"wrap"``.

    Raises
    ------
    ValueError
        For ``fps <= 0``, invalid JSON, a missing/invalid ``Loop`` or ``Frames``, fewer than 2
        frames, or a frame with the wrong number of values, a non-finite value, a non-positive
        duration (except the last frame's) or a quaternion whose norm is not within 0.5 of 1.
        The message names the file, the 0-based frame index and the field, e.g.
        ``"humanoid3d_walk.txt: frame 12 has 43 values, expected 44"``.
    FileNotFoundError
        For an unknown clip name (the message lists the installed ones) or a missing file.

    Notes
    -----
    Data: DeepMimic (Peng et al., SIGGRAPH 2018), as shipped by pybullet (``pybullet_data``).
    """
    if isinstance(fps, bool) or not (isinstance(fps, numbers.Real) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"load_clip: fps must be a positive number, got {fps!r}")
    name, path = _resolve(name_or_path)
    body = load_body()
    F, loop, layout = _parse_frames(path, body)
    N = F.shape[0]
    key_times = np.concatenate([[0.0], np.cumsum(F[:-1, 0])])
    D = float(key_times[-1])
    T = _num_samples(D, fps, loop)
    s = np.minimum(np.arange(T) / fps, D)
    k = np.clip(np.searchsorted(key_times, s, side="right") - 1, 0, N - 2)
    frac = np.clip((s - key_times[k]) / (key_times[k + 1] - key_times[k]), 0.0, 1.0)

    V = DEEPMIMIC.num_joints
    local = np.tile(np.eye(3), (T, V, 1, 1))
    aa = np.zeros((T, V, 3))
    root_translation = None
    for field, v, start, w in layout:
        if field == "duration":
            continue
        a, b = F[k, start:start + w], F[k + 1, start:start + w]
        if field == "root_position":
            root_translation = a + frac[:, None] * (b - a)
        elif w == 4:
            q = slerp(a, b, frac)
            local[:, v] = quat_to_matrix(q)
            aa[:, v] = quat_to_axis_angle(q)
        else:  # revolute: one angle about the URDF axis
            angle = a[:, 0] + frac * (b[:, 0] - a[:, 0])
            aa[:, v] = angle[:, None] * body.axes[v]
            local[:, v] = axis_angle_to_matrix(aa[:, v])
    positions = forward_kinematics(local, body.offsets, DEEPMIMIC.parents, root_translation)
    return MocapClip(name=name, fps=float(fps), loop=loop, positions=positions, rotations=aa,
                     root_translation=root_translation, source_duration=D, source_frames=N,
                     path=str(path))


def load_all(fps: float = 30.0) -> dict[str, MocapClip]:
    """Load every installed clip with :func:`load_clip`.

    Parameters
    ----------
    fps : float
        Output frame rate, frames per second.

    Returns
    -------
    dict of str -> MocapClip
        Keyed by clip name, in :func:`list_clips` order.

    Raises
    ------
    ValueError, FileNotFoundError, ImportError
        As :func:`load_clip` and :func:`list_clips`.
    """
    return {name: load_clip(name, fps=fps) for name in list_clips()}


# ------------------------------------------------------------------------------------------
# NTU RGB+D 25-joint layout
# ------------------------------------------------------------------------------------------
# Lengths of the extrapolated hand and neck points (metres, approximate adult anthropometry;
# the DeepMimic body has no hands or head joint, so these are choices, not measurements).
_NECK_UP = 0.07          # NTU neck: 7 cm up the neck link from its base
_HAND = 0.08             # NTU hand (palm centre): 8 cm beyond the wrist along the forearm
_HANDTIP = 0.16          # NTU handtip: 16 cm beyond the wrist
_THUMB = (0.05, -0.09)   # NTU thumb: 9 cm along the forearm and 5 cm forward (+x of the forearm)

#: How every NTU-25 joint is obtained from the humanoid: ``kind`` ('direct' or 'extrapolated'),
#: ``from`` (DEEPMIMIC joint names) and ``how``. Offsets are expressed in the frame of the
#: ``from`` joint (its global rotation from forward kinematics), so every NTU bone is rigid.
NTU25_FROM_DEEPMIMIC = {
    "spine_base": {"kind": "direct", "from": ("root",), "how": "root (pelvis centre)"},
    "spine_mid": {"kind": "direct", "from": ("chest",), "how": "chest joint (0.24 m above the root)"},
    "neck": {"kind": "extrapolated", "from": ("neck",),
             "how": f"neck joint + R_neck (0, {_NECK_UP}, 0) m: {_NECK_UP * 100:.0f} cm up the neck link"},
    "head": {"kind": "extrapolated", "from": ("neck",),
             "how": "neck joint + R_neck c: c is the centre of the neck link's collision sphere "
                    "(the head) in the URDF, (0, 0.175, 0) m"},
    "shoulder_left": {"kind": "direct", "from": ("left_shoulder",), "how": "left_shoulder"},
    "elbow_left": {"kind": "direct", "from": ("left_elbow",), "how": "left_elbow"},
    "wrist_left": {"kind": "direct", "from": ("left_wrist",),
                   "how": "left_wrist (a fixed joint: the end of the forearm)"},
    "hand_left": {"kind": "extrapolated", "from": ("left_wrist",),
                  "how": f"left_wrist + R_wrist (0, -{_HAND}, 0) m: along the forearm"},
    "shoulder_right": {"kind": "direct", "from": ("right_shoulder",), "how": "right_shoulder"},
    "elbow_right": {"kind": "direct", "from": ("right_elbow",), "how": "right_elbow"},
    "wrist_right": {"kind": "direct", "from": ("right_wrist",), "how": "right_wrist"},
    "hand_right": {"kind": "extrapolated", "from": ("right_wrist",),
                   "how": f"right_wrist + R_wrist (0, -{_HAND}, 0) m"},
    "hip_left": {"kind": "direct", "from": ("left_hip",), "how": "left_hip"},
    "knee_left": {"kind": "direct", "from": ("left_knee",), "how": "left_knee"},
    "ankle_left": {"kind": "direct", "from": ("left_ankle",), "how": "left_ankle"},
    "foot_left": {"kind": "extrapolated", "from": ("left_ankle",),
                  "how": "left_ankle + R_ankle f: f is the centre of the front face of the "
                         "ankle link's collision box (the foot) in the URDF, (0.1335, -0.0225, 0) m"},
    "hip_right": {"kind": "direct", "from": ("right_hip",), "how": "right_hip"},
    "knee_right": {"kind": "direct", "from": ("right_knee",), "how": "right_knee"},
    "ankle_right": {"kind": "direct", "from": ("right_ankle",), "how": "right_ankle"},
    "foot_right": {"kind": "extrapolated", "from": ("right_ankle",),
                   "how": "right_ankle + R_ankle f (as foot_left)"},
    "spine_shoulder": {"kind": "direct", "from": ("neck",),
                       "how": "the humanoid's neck joint: it sits at the base of the neck, at "
                              "shoulder height (0.224 m above the chest; the shoulders are at "
                              "0.244 m), which is where Kinect's spine_shoulder is"},
    "handtip_left": {"kind": "extrapolated", "from": ("left_wrist",),
                     "how": f"left_wrist + R_wrist (0, -{_HANDTIP}, 0) m"},
    "thumb_left": {"kind": "extrapolated", "from": ("left_wrist",),
                   "how": f"left_wrist + R_wrist ({_THUMB[0]}, {_THUMB[1]}, 0) m: forward of the "
                          "hand (the thumb's side with the arm hanging, palm facing the thigh)"},
    "handtip_right": {"kind": "extrapolated", "from": ("right_wrist",),
                      "how": f"right_wrist + R_wrist (0, -{_HANDTIP}, 0) m"},
    "thumb_right": {"kind": "extrapolated", "from": ("right_wrist",),
                    "how": f"right_wrist + R_wrist ({_THUMB[0]}, {_THUMB[1]}, 0) m"},
}

#: Rotation from the humanoid's y-up frame to the camera-like frame of :func:`to_ntu25`:
#: ``R_y(+90 deg)``, ``(x, y, z) -> (z, y, -x)``. The rest-pose facing direction ``+x`` becomes
#: ``-z`` (towards a camera looking along ``+z``), the body's right side (``+z``) becomes ``+x``.
CAMERA_ROTATION = np.asarray(rotation_about_y(np.array(np.pi / 2)))
CAMERA_ROTATION.setflags(write=False)


def ntu25_from_deepmimic_table() -> str:
    """:data:`NTU25_FROM_DEEPMIMIC` as a plain-text table (one NTU joint per line)."""
    lines = [f"{'#':>2}  {'NTU joint':<15} {'kind':<13} how"]
    for i, name in enumerate(NTU25.joint_names):
        r = NTU25_FROM_DEEPMIMIC[name]
        lines.append(f"{i:>2}  {name:<15} {r['kind']:<13} {r['how']}")
    return "\n".join(lines)


def _ntu_offsets(body: HumanoidBody) -> dict:
    """Offsets (metres, in the source joint's frame) of the extrapolated NTU joints."""
    c, size = body.foot_box_center, body.foot_box_size
    foot = np.array([c[0] + size[0] / 2, c[1], 0.0])
    return {
        "neck": np.array([0.0, _NECK_UP, 0.0]),
        "head": np.asarray(body.head_center, dtype=np.float64),
        "hand": np.array([0.0, -_HAND, 0.0]),
        "handtip": np.array([0.0, -_HANDTIP, 0.0]),
        "thumb": np.array([_THUMB[0], _THUMB[1], 0.0]),
        "foot": foot,
    }


def to_ntu25(clip_or_positions, global_rotations=None, camera_frame: bool = True,
             translation=None) -> np.ndarray:
    """Map the humanoid's 15 joints onto the NTU RGB+D 25-joint layout.

    Parameters
    ----------
    clip_or_positions : MocapClip or array_like ``(..., 15, 3)`` metres
        A clip (its global rotations are recomputed from ``rotations``) or DEEPMIMIC joint
        positions in the humanoid's y-up frame.
    global_rotations : array_like ``(..., 15, 3, 3)``, optional
        Global joint rotations matching the positions (``forward_kinematics(...,
        return_global=True)``). Required with a positions array: the head, neck, hand, handtip,
        thumb and foot points are placed in their source joint's frame. Ignored for a clip.
    camera_frame : bool
        If ``True`` (default) rotate the result by :data:`CAMERA_ROTATION` into a frame
        consistent with NTU's Kinect camera convention: ``y`` up, ``z`` away from the camera,
        the subject (in its rest heading) facing the camera (``-z``), its right side towards
        ``+x`` (Kinect's ``x`` grows to the sensor's left). The origin stays on the floor below
        the clip's first root position; no tilt or camera height is modelled. If ``False`` keep
        the humanoid frame (x forward, y up, z right).
    translation : array_like ``(3,)`` metres, optional
        Added after the rotation, e.g. ``(0, 0, 3.0)`` to stand the subject 3 m in front of the
        camera.

    Returns
    -------
    np.ndarray, float64, ``(..., 25, 3)`` metres
        In :data:`paperlib.skeleton.NTU25` order. Joints marked ``"direct"`` in
        :data:`NTU25_FROM_DEEPMIMIC` equal the humanoid joints (rotated when
        ``camera_frame``); the others are rigidly attached to a humanoid joint, so all NTU bone
        lengths are constant over time.

    Raises
    ------
    ValueError
        If the positions are not ``(..., 15, 3)``, or ``global_rotations`` is missing or has
        the wrong shape.
    """
    body = load_body()
    if isinstance(clip_or_positions, MocapClip):
        pos = np.asarray(clip_or_positions.positions, dtype=np.float64)
        glob = clip_or_positions.global_rotations(body)
    else:
        pos = np.asarray(clip_or_positions, dtype=np.float64)
        if global_rotations is None:
            raise ValueError("to_ntu25: a positions array needs global_rotations (..., 15, 3, 3) "
                             "to place the extrapolated joints; pass a MocapClip instead")
        glob = np.asarray(global_rotations, dtype=np.float64)
    V = DEEPMIMIC.num_joints
    if pos.shape[-2:] != (V, 3):
        raise ValueError(f"to_ntu25: positions must be (..., {V}, 3), got {pos.shape}")
    if glob.shape != pos.shape[:-1] + (3, 3):
        raise ValueError(f"to_ntu25: global_rotations must be {pos.shape[:-1] + (3, 3)}, got {glob.shape}")

    offs = _ntu_offsets(body)
    dm = DEEPMIMIC.index
    out = np.empty(pos.shape[:-2] + (NTU25.num_joints, 3))
    for name, rule in NTU25_FROM_DEEPMIMIC.items():
        src = dm(rule["from"][0])
        i = NTU25.index(name)
        if rule["kind"] == "direct":
            out[..., i, :] = pos[..., src, :]
        else:
            key = name.split("_")[0]
            out[..., i, :] = pos[..., src, :] + glob[..., src, :, :] @ offs[key]
    if camera_frame:
        out = out @ CAMERA_ROTATION.T
    if translation is not None:
        t = np.asarray(translation, dtype=np.float64)
        if t.shape != (3,):
            raise ValueError(f"to_ntu25: translation must be (3,), got {t.shape}")
        out = out + t
    return out
