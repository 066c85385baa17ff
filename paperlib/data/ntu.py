"""NTU RGB+D (60) and NTU RGB+D 120: the ``.skeleton`` text files, names, splits and a loader.

Source of the format: the dataset's own reader, ``Matlab/read_skeleton_file.m`` in
https://github.com/shahroudy/NTURGB-D (Shahroudy et al., CVPR 2016; Liu et al., TPAMI 2019).
One file per sample, named ``SsssCcccPpppRrrrAaaa.skeleton`` (setup, camera, performer,
replication, action; all 1-based). Its lines::

    <frame count>
    for every frame:
        <body count>
        for every body:
            bodyID clippedEdges handLeftConfidence handLeftState handRightConfidence
                handRightState isRestricted leanX leanY trackingState        (10 fields)
            <joint count>                                                     (25)
            25 x: x y z depthX depthY colorX colorY orientationW orientationX
                  orientationY orientationZ trackingState                     (12 fields)

``x, y, z`` are metres in the Kinect v2 camera frame (y up, z away from the camera); ``depthX,
depthY`` are pixels in the 512x424 depth/IR image, ``colorX, colorY`` pixels in the 1920x1080 RGB
image; the joint ``trackingState`` is 0 (not tracked), 1 (inferred) or 2 (tracked). The 25 joints
follow :data:`paperlib.skeleton.NTU25`.

Preprocessing (:func:`load_ntu_sample`) follows the usual NTU recipe (2s-AGCN / CTR-GCN data
generation): keep the ``max_bodies`` most active bodies, remove frames in which none of them is
present, truncate to ``max_frames`` and zero-pad. Every removal is counted in a
:class:`~paperlib.data.errors.SkipReport`.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .arrays import SkeletonArrays
from .errors import FormatError, SkipReport

__all__ = [
    "NTU120_CLASS_NAMES", "NTU60_CLASS_NAMES", "NTU60_XSUB_TRAIN_SUBJECTS", "NTU60_XVIEW_TRAIN_CAMERAS",
    "NTU120_XSUB_TRAIN_SUBJECTS", "BENCHMARKS", "NUM_JOINTS", "BODY_INFO_FIELDS", "JOINT_FIELDS",
    "NTUSample", "parse_ntu_name", "split_of", "read_skeleton_file", "body_activity",
    "load_ntu_sample", "read_missing_list", "load_ntu_dataset", "write_skeleton_file",
]

NUM_JOINTS = 25
#: The 10 fields of a body line, in file order.
BODY_INFO_FIELDS = ("bodyID", "clippedEdges", "handLeftConfidence", "handLeftState",
                    "handRightConfidence", "handRightState", "isRestricted", "leanX", "leanY",
                    "trackingState")
#: The 12 fields of a joint line, in file order.
JOINT_FIELDS = ("x", "y", "z", "depthX", "depthY", "colorX", "colorY", "orientationW",
                "orientationX", "orientationY", "orientationZ", "trackingState")

#: The 120 action names of NTU RGB+D 120 (A001 ... A120), as listed in the dataset's README
#: (https://github.com/shahroudy/NTURGB-D), trailing full stops removed and typographic
#: apostrophes made ASCII. The first 60 are the classes of NTU RGB+D.
NTU120_CLASS_NAMES = (
    "drink water", "eat meal/snack", "brushing teeth", "brushing hair", "drop", "pickup", "throw",
    "sitting down", "standing up (from sitting position)", "clapping", "reading", "writing",
    "tear up paper", "wear jacket", "take off jacket", "wear a shoe", "take off a shoe",
    "wear on glasses", "take off glasses", "put on a hat/cap", "take off a hat/cap", "cheer up",
    "hand waving", "kicking something",
    "put something inside pocket / take out something from pocket",
    "hopping (one foot jumping)", "jump up", "make a phone call/answer phone",
    "playing with phone/tablet", "typing on a keyboard", "pointing to something with finger",
    "taking a selfie", "check time (from watch)", "rub two hands together", "nod head/bow",
    "shake head", "wipe face", "salute", "put the palms together", "cross hands in front (say stop)",
    "sneeze/cough", "staggering", "falling", "touch head (headache)",
    "touch chest (stomachache/heart pain)", "touch back (backache)", "touch neck (neckache)",
    "nausea or vomiting condition", "use a fan (with hand or paper)/feeling warm",
    "punching/slapping other person", "kicking other person", "pushing other person",
    "pat on back of other person", "point finger at the other person", "hugging other person",
    "giving something to other person", "touch other person's pocket", "handshaking",
    "walking towards each other", "walking apart from each other",
    # --- NTU RGB+D 120 only ---
    "put on headphone", "take off headphone", "shoot at the basket", "bounce ball",
    "tennis bat swing", "juggling table tennis balls", "hush (quite)", "flick hair", "thumb up",
    "thumb down", "make ok sign", "make victory sign", "staple book", "counting money",
    "cutting nails", "cutting paper (using scissors)", "snapping fingers", "open bottle",
    "sniff (smell)", "squat down", "toss a coin", "fold paper", "ball up paper", "play magic cube",
    "apply cream on face", "apply cream on hand back", "put on bag", "take off bag",
    "put something into a bag", "take something out of a bag", "open a box", "move heavy objects",
    "shake fist", "throw up cap/hat", "hands up (both hands)", "cross arms", "arm circles",
    "arm swings", "running on the spot", "butt kicks (kick backward)", "cross toe touch",
    "side kick", "yawn", "stretch oneself", "blow nose", "hit other person with something",
    "wield knife towards other person", "knock over other person (hit with body)",
    "grab other person's stuff", "shoot at other person with a gun", "step on foot", "high-five",
    "cheers and drink", "carry something with other person", "take a photo of other person",
    "follow other person", "whisper in other person's ear", "exchange things with other person",
    "support somebody with one's hand (someone is sick, help him to walk)",
    "finger-guessing game (playing rock-paper-scissors)",
)
NTU60_CLASS_NAMES = NTU120_CLASS_NAMES[:60]

#: Cross-subject training performers of NTU RGB+D (Shahroudy et al., CVPR 2016, Sec. 4.1).
NTU60_XSUB_TRAIN_SUBJECTS = (1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38)
#: Cross-view training cameras of NTU RGB+D (camera 1 is the test view).
NTU60_XVIEW_TRAIN_CAMERAS = (2, 3)
#: Cross-subject training performers of NTU RGB+D 120 (Liu et al., TPAMI 2019, Sec. 4.1).
NTU120_XSUB_TRAIN_SUBJECTS = (
    1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38, 45, 46, 47, 49, 50,
    52, 53, 54, 55, 56, 57, 58, 59, 70, 74, 78, 80, 81, 82, 83, 84, 85, 86, 89, 91, 92, 93, 94, 95,
    97, 98, 100, 103,
)
#: ``xsub``/``xview``: NTU RGB+D (setups 1-17, actions 1-60); ``xsub120``/``xset120``: NTU RGB+D
#: 120 (cross-setup: even setup ids train, odd ones test).
BENCHMARKS = ("xsub", "xview", "xsub120", "xset120")

_NAME_RE = re.compile(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})")
_META_KEYS = ("setup", "camera", "subject", "replication", "action")

# Kinect v2 intrinsics, approximate; only used by the fixture writer to fill plausible pixels.
_COLOR_CAM = (1081.37, 1081.37, 959.5, 539.5)  # fx, fy, cx, cy (1920x1080)
_DEPTH_CAM = (365.46, 365.46, 255.5, 211.5)  # 512x424


# ---------------------------------------------------------------------------------------------
# Names and splits
# ---------------------------------------------------------------------------------------------
def parse_ntu_name(name) -> dict:
    """Parse an NTU sample name ``SsssCcccPpppRrrrAaaa``.

    Parameters
    ----------
    name : str or os.PathLike
        A sample name, file name or path; the directory and everything after the first ``.``
        (``.skeleton``, ``.avi``...) are ignored.

    Returns
    -------
    dict
        ``{"setup", "camera", "subject", "replication", "action"}`` as 1-based ints, e.g.
        ``S001C002P003R002A013 -> setup 1, camera 2, subject 3, replication 2, action 13``.

    Raises
    ------
    FormatError
        If the name does not match the pattern (field ``'file name'``) or an id is 0.

    Source: the naming scheme of the NTU RGB+D README.
    """
    base = os.path.basename(os.fspath(name))
    stem = base.split(".", 1)[0]
    m = _NAME_RE.fullmatch(stem)
    if m is None:
        raise FormatError(name, f"{stem!r} does not match SsssCcccPpppRrrrAaaa "
                                f"(e.g. S001C002P003R002A013)", field="file name")
    values = [int(g) for g in m.groups()]
    zero = [k for k, v in zip(_META_KEYS, values) if v == 0]
    if zero:
        raise FormatError(name, f"ids are 1-based, got 0 for {', '.join(zero)}", field="file name")
    return dict(zip(_META_KEYS, values))


def split_of(meta, benchmark: str) -> str:
    """``'train'`` or ``'test'``: the side of ``benchmark`` a sample belongs to.

    Parameters
    ----------
    meta : dict or str
        The output of :func:`parse_ntu_name`, or a name it accepts.
    benchmark : {'xsub', 'xview', 'xsub120', 'xset120'}
        - ``xsub``: performers in :data:`NTU60_XSUB_TRAIN_SUBJECTS` train (CVPR 2016);
        - ``xview``: cameras 2 and 3 train, camera 1 tests (CVPR 2016);
        - ``xsub120``: performers in :data:`NTU120_XSUB_TRAIN_SUBJECTS` train (TPAMI 2019);
        - ``xset120``: even setup ids train, odd ones test (TPAMI 2019).

    Raises
    ------
    ValueError
        On an unknown benchmark. (:class:`FormatError` if ``meta`` is a bad name.)

    Notes
    -----
    It does not check that the sample belongs to the data set of the benchmark (setups 1-17 and
    actions 1-60 for NTU RGB+D); :func:`load_ntu_dataset` does.
    """
    if isinstance(meta, (str, os.PathLike)):
        meta = parse_ntu_name(meta)
    if benchmark == "xsub":
        train = meta["subject"] in NTU60_XSUB_TRAIN_SUBJECTS
    elif benchmark == "xview":
        train = meta["camera"] in NTU60_XVIEW_TRAIN_CAMERAS
    elif benchmark == "xsub120":
        train = meta["subject"] in NTU120_XSUB_TRAIN_SUBJECTS
    elif benchmark == "xset120":
        train = meta["setup"] % 2 == 0
    else:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {BENCHMARKS}")
    return "train" if train else "test"


# ---------------------------------------------------------------------------------------------
# Reading one file
# ---------------------------------------------------------------------------------------------
class _LineReader:
    """Walks the lines of one file, raising :class:`FormatError` with 1-based line numbers."""

    def __init__(self, path, lines):
        self.path, self.lines, self.i = path, lines, 0

    def _eof(self, field, where):
        return FormatError(self.path, f"unexpected end of file ({where})",
                           line=len(self.lines) + 1, field=field)

    def integer(self, field, where) -> int:
        if self.i >= len(self.lines):
            raise self._eof(field, where)
        text = self.lines[self.i].strip()
        self.i += 1
        try:
            value = int(text)
        except ValueError:
            raise FormatError(self.path, f"expected an integer ({where}), got {text!r}",
                              line=self.i, field=field) from None
        if value < 0:
            raise FormatError(self.path, f"expected a count >= 0 ({where}), got {value}",
                              line=self.i, field=field)
        return value

    def body_line(self, where):
        if self.i >= len(self.lines):
            raise self._eof("body info", where)
        tokens = self.lines[self.i].split()
        self.i += 1
        if len(tokens) != len(BODY_INFO_FIELDS):
            raise FormatError(self.path, f"expected {len(BODY_INFO_FIELDS)} fields ({where}), "
                              f"got {len(tokens)}", line=self.i, field="body info")
        values = []
        for name, tok in zip(BODY_INFO_FIELDS, tokens):
            try:
                values.append(float(tok) if name in ("leanX", "leanY") else int(tok))
            except ValueError:
                kind = "a number" if name in ("leanX", "leanY") else "an integer"
                raise FormatError(self.path, f"expected {kind} ({where}), got {tok!r}",
                                  line=self.i, field=name) from None
        return values

    def skip_joint_lines(self, count, where) -> int:
        """Step over ``count`` joint lines (parsed later, all at once); return the first index."""
        start = self.i
        if start + count > len(self.lines):
            raise self._eof("joint", f"{where}, {count} joint lines expected")
        self.i += count
        return start


def _parse_joint_lines(path, lines, starts, wheres) -> np.ndarray:
    """Parse the joint blocks starting at ``starts`` (0-based line indices) in one go.

    Returns ``(len(starts), 25, 12)`` float64. Raises :class:`FormatError` naming the line and
    field of the first bad line found.
    """
    if not starts:
        return np.zeros((0, NUM_JOINTS, len(JOINT_FIELDS)))
    index = (np.asarray(starts)[:, None] + np.arange(NUM_JOINTS)).ravel()
    joint_lines = [lines[i] for i in index]

    def fail(k, message, field):
        block, joint = divmod(k, NUM_JOINTS)
        raise FormatError(path, f"{message} ({wheres[block]}, joint {joint + 1})",
                          line=int(index[k]) + 1, field=field)

    try:  # fast path: numpy's C parser
        values = np.loadtxt(joint_lines, dtype=np.float64, comments=None, ndmin=2)
        ok = values.shape == (len(index), len(JOINT_FIELDS))
    except ValueError:
        ok = False
    if not ok:  # find the first bad line and field
        rows = [line.split() for line in joint_lines]
        for k, row in enumerate(rows):
            if len(row) != len(JOINT_FIELDS):
                fail(k, f"expected {len(JOINT_FIELDS)} fields, got {len(row)}", "joint")
            for name, tok in zip(JOINT_FIELDS, row):
                try:
                    float(tok)
                except ValueError:
                    fail(k, f"not a number: {tok!r}", name)
        values = np.array(rows, dtype=np.float64)
    bad = ~np.isfinite(values[:, :3])
    if bad.any():
        k, c = (int(v) for v in np.argwhere(bad)[0])
        fail(k, f"non-finite coordinate {joint_lines[k].split()[c]!r}", JOINT_FIELDS[c])
    state = values[:, 11]
    bad = (state != 0) & (state != 1) & (state != 2)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        fail(k, f"joint tracking state must be 0, 1 or 2, got {joint_lines[k].split()[11]!r}",
             "trackingState")
    return values.reshape(len(starts), NUM_JOINTS, len(JOINT_FIELDS))


def read_skeleton_file(path) -> dict:
    """Read one NTU ``.skeleton`` file, gathering every body's frames by its ``bodyID``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    dict
        - ``"path"``: str;
        - ``"num_frames"``: int ``T``, the frame count of line 1;
        - ``"body_counts"``: ``(T,)`` int64, bodies listed in every frame;
        - ``"bodies"``: ``{bodyID (int): body}`` in order of first appearance, where ``body`` is a
          dict of
            ``"frames"`` ``(T_b,)`` int64, 0-based indices of the frames holding the body;
            ``"xyz"`` ``(T_b, 25, 3)`` float32, metres, Kinect camera frame;
            ``"depth_xy"`` ``(T_b, 25, 2)`` float32, pixels of the 512x424 depth image;
            ``"color_xy"`` ``(T_b, 25, 2)`` float32, pixels of the 1920x1080 RGB image;
            ``"orientation"`` ``(T_b, 25, 4)`` float32, joint quaternions (w, x, y, z);
            ``"tracking_state"`` ``(T_b, 25)`` int8, 0 not tracked / 1 inferred / 2 tracked;
            ``"body_info"`` ``(T_b, 9)`` float64, the body line after ``bodyID``
            (``BODY_INFO_FIELDS[1:]``).

    Raises
    ------
    FileNotFoundError, OSError
        If the file cannot be read.
    FormatError
        Naming the file, the 1-based line and the field: a count that is not a non-negative
        integer, a truncated file, a body line without 10 fields, a joint count other than 25,
        a joint line without 12 numeric fields, a non-finite x/y/z, a joint tracking state
        outside {0, 1, 2}, a ``bodyID`` repeated within a frame, or non-blank text after the
        last frame.

    Source: ``read_skeleton_file.m`` of https://github.com/shahroudy/NTURGB-D.
    """
    path = os.fspath(path)
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError as err:
        line = raw[:err.start].count(b"\n") + 1
        raise FormatError(path, "not an ASCII text file", line=line) from None
    lines = text.splitlines()
    reader = _LineReader(path, lines)
    num_frames = reader.integer("frame count", "line 1 of the file")
    body_counts = np.zeros(num_frames, np.int64)
    gathered: dict = {}
    starts, wheres = [], []  # first line of every joint block, and where it is (for errors)
    for t in range(num_frames):
        where = f"frame {t + 1} of {num_frames}"
        n_bodies = reader.integer("body count", where)
        body_counts[t] = n_bodies
        seen = set()
        for b in range(n_bodies):
            where_b = f"{where}, body {b + 1} of {n_bodies}"
            info = reader.body_line(where_b)
            body_id = info[0]
            if body_id in seen:
                raise FormatError(path, f"bodyID {body_id} appears twice in {where}",
                                  line=reader.i, field="bodyID")
            seen.add(body_id)
            joint_count = reader.integer("joint count", where_b)
            if joint_count != NUM_JOINTS:
                raise FormatError(path, f"expected {NUM_JOINTS}, got {joint_count}",
                                  line=reader.i, field="joint count")
            entry = gathered.setdefault(body_id, {"frames": [], "blocks": [], "info": []})
            entry["frames"].append(t)
            entry["blocks"].append(len(starts))
            entry["info"].append(info[1:])
            starts.append(reader.skip_joint_lines(joint_count, where_b))
            wheres.append(where_b)
    for k in range(reader.i, len(lines)):
        if lines[k].strip():
            raise FormatError(path, f"unexpected text after the last of {num_frames} frames: "
                              f"{lines[k].strip()[:40]!r}", line=k + 1, field="frame count")
    blocks = _parse_joint_lines(path, lines, starts, wheres)  # (all body-frames, 25, 12)
    bodies = {}
    for body_id, entry in gathered.items():
        j = blocks[entry["blocks"]]  # (T_b, 25, 12)
        bodies[body_id] = {
            "frames": np.asarray(entry["frames"], np.int64),
            "xyz": j[..., 0:3].astype(np.float32),
            "depth_xy": j[..., 3:5].astype(np.float32),
            "color_xy": j[..., 5:7].astype(np.float32),
            "orientation": j[..., 7:11].astype(np.float32),
            "tracking_state": j[..., 11].astype(np.int8),
            "body_info": np.asarray(entry["info"], np.float64),
        }
    return {"path": path, "num_frames": num_frames, "body_counts": body_counts, "bodies": bodies}


# ---------------------------------------------------------------------------------------------
# One preprocessed sample
# ---------------------------------------------------------------------------------------------
def body_activity(xyz: np.ndarray, num_frames: int | None = None) -> float:
    """How much a body moves: the NTU heuristic for choosing the actors.

    Parameters
    ----------
    xyz : np.ndarray, shape ``(T_b, 25, 3)``, metres
        The body's joints in the ``T_b`` frames where it is present.
    num_frames : int, optional
        Frames of the whole sample ``T`` (``>= T_b``); default ``T_b``.

    Returns
    -------
    float
        ``(T_b / T) * sum_{joints, xyz} Var_t[x]``, in square metres. The sum of temporal
        variances is the heuristic of the NTU RGB+D README (FAQ "How did you choose the main
        actor") and of 2s-AGCN / CTR-GCN preprocessing; the factor ``T_b / T`` (our addition)
        makes a body tracked for only a few noisy frames (a Kinect ghost) rank below a real actor.
        A single frame, or an empty body, scores 0.

    Raises
    ------
    ValueError
        If ``xyz`` is not ``(T_b, V, 3)`` or ``num_frames < T_b``.
    """
    xyz = np.asarray(xyz, dtype=np.float64)
    if xyz.ndim != 3 or xyz.shape[-1] != 3:
        raise ValueError(f"body_activity: expected xyz of shape (T_b, V, 3), got {xyz.shape}")
    t_b = xyz.shape[0]
    num_frames = t_b if num_frames is None else int(num_frames)
    if num_frames < t_b:
        raise ValueError(f"body_activity: num_frames={num_frames} < T_b={t_b}")
    if t_b < 2:
        return 0.0
    return float(xyz.var(axis=0).sum() * t_b / num_frames)


@dataclass
class NTUSample:
    """One NTU sample after the usual preprocessing (see :func:`load_ntu_sample`).

    Attributes
    ----------
    name : str
        ``SsssCcccPpppRrrrAaaa``.
    joints : np.ndarray, float32, shape ``(M, T, 25, 3)``
        Metres, Kinect camera frame. Body 0 is the most active; an absent body is zeros.
        ``T = max_frames``; frames ``>= valid_frames`` are zeros.
    color_xy : np.ndarray, float32, shape ``(M, T, 25, 2)``
        Pixels in the 1920x1080 RGB image, laid out like ``joints``.
    valid_frames : int
        Number of leading frames holding at least one kept body.
    meta : dict
        :func:`parse_ntu_name` of the file name.
    body_ids : np.ndarray, int64, shape ``(M,)``
        ``bodyID`` of each kept body, ``-1`` for an empty slot.
    activity : np.ndarray, float64, shape ``(M,)``
        :func:`body_activity` of each kept body (0 for an empty slot).
    frame_index : np.ndarray, int64, shape ``(T,)``
        0-based frame of the file each output frame comes from; ``-1`` for padding.
    report : SkipReport
        What this sample lost: bodies beyond ``max_bodies``, frames without a kept body,
        frames beyond ``max_frames``.
    """

    name: str
    joints: np.ndarray
    color_xy: np.ndarray
    valid_frames: int
    meta: dict
    body_ids: np.ndarray
    activity: np.ndarray
    frame_index: np.ndarray
    report: SkipReport = field(default_factory=SkipReport)


def load_ntu_sample(path, max_bodies: int = 2, max_frames: int = 300,
                    report: SkipReport | None = None, long_sequences: str = "resample") -> NTUSample:
    """Read and preprocess one ``.skeleton`` file into fixed-size arrays.

    Steps (the usual NTU preprocessing, cf. 2s-AGCN ``ntu_gendata`` and CTR-GCN
    ``get_raw_denoised_data``):

    1. rank the bodies by :func:`body_activity` and keep the ``max_bodies`` most active, most
       active first; the others are counted as ``"body beyond max_bodies"``;
    2. remove the frames in which no kept body is present (counted per frame);
    3. a sequence longer than ``max_frames`` is **resampled** to ``max_frames`` frames (evenly
       spaced frames, nearest; counted as ``"sequence longer than max_frames (resampled)"``) so
       that an observation ratio still refers to the whole action, or, with
       ``long_sequences="truncate"``, cut to its first ``max_frames`` frames (the cut frames
       counted; a ratio then refers to the kept part only); then zero-pad.

    Parameters
    ----------
    path : str or os.PathLike
        A file named ``SsssCcccPpppRrrrAaaa.skeleton``.
    max_bodies : int
        ``M``, bodies kept (2 in the NTU protocol).
    max_frames : int
        ``T``, frames of the output (300 in the NTU protocol).
    report : SkipReport, optional
        If given, this sample's skips are added to it and nothing is warned (the caller
        summarises). If not, a ``UserWarning`` summarises them when there are any.
    long_sequences : ``"resample"`` (default) or ``"truncate"``, see step 3.

    Returns
    -------
    NTUSample
        ``joints (M, T, 25, 3)`` float32 metres, ``color_xy (M, T, 25, 2)`` pixels,
        ``valid_frames``, ``meta``... A file with no body at all gives zeros and
        ``valid_frames == 0``.

    Raises
    ------
    FormatError
        From :func:`read_skeleton_file` or :func:`parse_ntu_name` (file, line, field).
    ValueError
        If ``max_bodies`` or ``max_frames`` is < 1.
    """
    if max_bodies < 1 or max_frames < 1:
        raise ValueError(f"load_ntu_sample: max_bodies and max_frames must be >= 1, "
                         f"got {max_bodies}, {max_frames}")
    if long_sequences not in ("resample", "truncate"):
        raise ValueError(f"load_ntu_sample: long_sequences must be 'resample' or 'truncate', got {long_sequences!r}")
    meta = parse_ntu_name(path)
    raw = read_skeleton_file(path)
    name = os.path.basename(os.fspath(path)).split(".", 1)[0]
    rep = SkipReport(source=name)
    T = raw["num_frames"]
    ids = list(raw["bodies"])
    bodies = [raw["bodies"][i] for i in ids]
    act = np.array([body_activity(b["xyz"], T) for b in bodies], dtype=np.float64)
    order = np.argsort(-act, kind="stable")
    keep, drop = order[:max_bodies], order[max_bodies:]
    for k in drop:
        rep.add(name, "body beyond max_bodies (least active)",
                detail=f"bodyID {ids[k]}, {len(bodies[k]['frames'])} of {T} frames, "
                       f"activity {act[k]:.3g} m^2")

    M = max_bodies
    xyz = np.zeros((M, T, NUM_JOINTS, 3), np.float32)
    cxy = np.zeros((M, T, NUM_JOINTS, 2), np.float32)
    present = np.zeros((M, T), bool)
    body_ids = np.full(M, -1, np.int64)
    activity = np.zeros(M, np.float64)
    for m, k in enumerate(keep):
        b = bodies[k]
        xyz[m, b["frames"]] = b["xyz"]
        cxy[m, b["frames"]] = b["color_xy"]
        present[m, b["frames"]] = True
        body_ids[m], activity[m] = ids[k], act[k]

    frames = np.flatnonzero(present.any(axis=0))
    rep.add(name, "frame without a kept body (removed)", n=T - len(frames),
            detail=f"{T - len(frames)} of {T} frames")
    valid = min(len(frames), max_frames)
    if len(frames) > max_frames and long_sequences == "resample":
        rep.add(name, "sequence longer than max_frames (resampled)",
                detail=f"{len(frames)} frames resampled to {max_frames}")
        frames = frames[np.round(np.linspace(0, len(frames) - 1, max_frames)).astype(np.int64)]
    else:
        rep.add(name, "frame beyond max_frames (truncated)", n=len(frames) - valid,
                detail=f"{len(frames) - valid} frames after the first {max_frames}")
        frames = frames[:valid]
    joints = np.zeros((M, max_frames, NUM_JOINTS, 3), np.float32)
    color = np.zeros((M, max_frames, NUM_JOINTS, 2), np.float32)
    joints[:, :valid] = xyz[:, frames]
    color[:, :valid] = cxy[:, frames]
    frame_index = np.full(max_frames, -1, np.int64)
    frame_index[:valid] = frames

    if report is not None:
        report.merge(rep)
    else:
        rep.warn()
    return NTUSample(name=name, joints=joints, color_xy=color, valid_frames=int(valid), meta=meta,
                     body_ids=body_ids, activity=activity, frame_index=frame_index, report=rep)


# ---------------------------------------------------------------------------------------------
# The data set
# ---------------------------------------------------------------------------------------------
def read_missing_list(path) -> set:
    """Read an official list of samples with missing skeletons.

    Format (``NTU_RGBD_samples_with_missing_skeletons.txt`` and
    ``NTU_RGBD120_samples_with_missing_skeletons.txt`` of https://github.com/shahroudy/NTURGB-D):
    a few lines of free text, then one sample name per line. Blank lines are ignored and a
    ``.skeleton`` suffix is accepted.

    Returns
    -------
    set[str]
        The sample names (``SsssCcccPpppRrrrAaaa``).

    Raises
    ------
    FileNotFoundError, OSError
        If the file cannot be read.
    FormatError
        On a line that is not a sample name once the names have started (file, line,
        field ``'sample name'``).
    """
    names: set = set()
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            text = line.strip()
            if not text:
                continue
            stem = text[:-len(".skeleton")] if text.endswith(".skeleton") else text
            if _NAME_RE.fullmatch(stem):
                names.add(stem)
            elif names:
                raise FormatError(path, f"expected a sample name like S001C002P005R002A008, "
                                        f"got {text[:40]!r}", line=lineno, field="sample name")
            # else: the free-text header that precedes the names
    return names


def left_out(meta: dict, benchmark: str, split: str, label_of: dict) -> str | None:
    """Why a sample (its :func:`parse_ntu_name` fields) is filtered out of ``split`` of
    ``benchmark`` for the classes of ``label_of``, or ``None`` if it belongs there."""
    if not benchmark.endswith("120") and (meta["setup"] > 17 or meta["action"] > 60):
        return "not in NTU RGB+D 60 (setup > 17 or action > 60)"
    if split_of(meta, benchmark) != split:
        return f"{'test' if split == 'train' else 'train'} split"
    if meta["action"] not in label_of:
        return "class not requested"
    return None


def class_selection(benchmark: str, classes=None):
    """``(ntu120, all_names, classes, label_of)`` for a benchmark and an optional tuple of 1-based
    action ids (default: all 60 or 120): the ids checked, ``label_of`` mapping each id to its
    0-based label in that order. Raises ``ValueError`` for ids out of range or repeated."""
    ntu120 = benchmark.endswith("120")
    all_names = NTU120_CLASS_NAMES if ntu120 else NTU60_CLASS_NAMES
    if classes is None:
        classes = tuple(range(1, len(all_names) + 1))
    else:
        classes = tuple(int(c) for c in classes)
        bad = [c for c in classes if not 1 <= c <= len(all_names)]
        if bad:
            raise ValueError(f"classes must be 1-based action ids in [1, {len(all_names)}] for "
                             f"{benchmark!r}, got {bad}")
        if len(set(classes)) != len(classes):
            raise ValueError(f"classes has repeated ids: {classes}")
    return ntu120, all_names, classes, {a: i for i, a in enumerate(classes)}


def load_ntu_dataset(root, benchmark: str = "xsub", split: str = "train", max_frames: int = 300,
                     classes=None, limit: int | None = None, missing_list=None,
                     max_bodies: int = 2, long_sequences: str = "resample") -> tuple[SkeletonArrays, SkipReport]:
    """Load the ``split`` side of an NTU benchmark from a folder of ``.skeleton`` files.

    Parameters
    ----------
    root : str or os.PathLike
        Folder holding ``SsssCcccPpppRrrrAaaa.skeleton`` files (e.g. ``nturgb+d_skeletons/``);
        ``root/*.skeleton`` are read in sorted order.
    benchmark : {'xsub', 'xview', 'xsub120', 'xset120'}
        See :func:`split_of`. The first two use NTU RGB+D only (setups 1-17, actions 1-60):
        other files are left out (counted in ``report.filtered``).
    split : {'train', 'test'}
    max_frames : int
        ``T`` of the output (300 in the NTU protocol).
    classes : sequence of int, optional
        1-based action ids to keep (``A013 -> 13``); labels are then ``0..len(classes)-1`` in
        this order and ``class_names`` follows. Default: all 60 (or 120) actions.
    limit : int, optional
        Stop after this many loaded samples (the remaining eligible ones are counted in
        ``report.filtered``).
    missing_list : str or os.PathLike, optional
        The official list of samples with missing skeletons (:func:`read_missing_list`); these
        samples are skipped and counted.
    max_bodies : int
        ``M`` (2 in the NTU protocol).
    long_sequences : ``"resample"`` (default) or ``"truncate"``: what happens to a sequence
        longer than ``max_frames`` (see :func:`load_ntu_sample`; either way it is counted).

    Returns
    -------
    arrays : SkeletonArrays
        ``joints (N, M, T, 25, 3)`` float32 metres, ``labels (N,)`` int64 0-based,
        ``valid_frames (N,)``, ``subjects (N,)``, ``cameras (N,)`` (1-based ids), ``names``,
        ``class_names`` (official NTU names), ``skeleton_name='ntu25'``, ``frame_sampling='valid'``.
    report : SkipReport
        Losses per reason (bad file names, malformed files with the :class:`FormatError` text,
        samples in the missing list, samples with no body, dropped bodies and frames) and the
        samples filtered out on request. A ``UserWarning`` summarises the losses.

    Raises
    ------
    ValueError
        On an unknown benchmark or split, a class id out of range or repeated, ``limit < 0``.
    FileNotFoundError
        If ``root`` is not a folder or ``missing_list`` does not exist.
    FormatError
        If the missing list is malformed. (Malformed sample files do not raise: they are
        counted in the report.)
    """
    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {BENCHMARKS}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"NTU root {str(root)!r} is not a folder")
    ntu120, all_names, classes, label_of = class_selection(benchmark, classes)
    missing = read_missing_list(missing_list) if missing_list is not None else set()

    report = SkipReport(source=f"NTU RGB+D{' 120' if ntu120 else ''} ({benchmark}, {split})")
    joints, labels, valid, subjects, cameras, names = [], [], [], [], [], []
    for f in sorted(root.glob("*.skeleton")):
        try:
            meta = parse_ntu_name(f)
        except FormatError as err:
            report.add(f, "bad file name", detail=str(err))
            continue
        why = left_out(meta, benchmark, split, label_of)
        if why:
            report.add_filtered(why)
            continue
        stem = f.name.split(".", 1)[0]
        if stem in missing:
            report.add(f, "listed as missing skeletons")
            continue
        if limit is not None and len(names) >= limit:
            report.add_filtered("beyond limit")
            continue
        sample_report = SkipReport()
        try:
            sample = load_ntu_sample(f, max_bodies=max_bodies, max_frames=max_frames, long_sequences=long_sequences,
                                     report=sample_report)
        except FormatError as err:
            report.add(f, "malformed file", detail=str(err))
            continue
        if sample.valid_frames == 0:
            report.add(f, "no body in any frame")
            continue
        report.merge(sample_report)
        joints.append(sample.joints)
        labels.append(label_of[meta["action"]])
        valid.append(sample.valid_frames)
        subjects.append(meta["subject"])
        cameras.append(meta["camera"])
        names.append(stem)
    shape = (max_bodies, max_frames, NUM_JOINTS, 3)
    arrays = SkeletonArrays(
        joints=np.stack(joints) if joints else np.zeros((0,) + shape, np.float32),
        labels=np.asarray(labels, np.int64), valid_frames=np.asarray(valid, np.int64),
        subjects=np.asarray(subjects, np.int64), cameras=np.asarray(cameras, np.int64),
        names=names, class_names=[all_names[a - 1] for a in classes], skeleton_name="ntu25",
        frame_sampling="valid")  # real clips padded to max_frames: sample over the valid length
    report.warn()
    return arrays, report


# ---------------------------------------------------------------------------------------------
# Writer (test fixtures)
# ---------------------------------------------------------------------------------------------
def _project(xyz, cam):
    fx, fy, cx, cy = cam
    z = np.maximum(xyz[..., 2], 0.1)
    return np.stack([cx + fx * xyz[..., 0] / z, cy - fy * xyz[..., 1] / z], -1)


def write_skeleton_file(path, bodies, num_frames: int | None = None) -> None:
    """Write an NTU ``.skeleton`` file in the exact format read by :func:`read_skeleton_file`.

    Meant for test fixtures and for small worked examples: real data comes from the dataset.

    Parameters
    ----------
    path : str or os.PathLike
        Output file (give it an NTU name, e.g. ``S001C002P003R002A013.skeleton``).
    bodies : list of dict
        One dict per body, with
        ``"bodyID"`` int;
        ``"xyz"`` ``(T_b, 25, 3)`` metres;
        ``"frames"`` ``(T_b,)`` 0-based frame indices (default ``0..T_b-1``);
        optional ``"color_xy"`` / ``"depth_xy"`` ``(T_b, 25, 2)`` pixels (default: a pinhole
        projection with approximate Kinect v2 intrinsics) and ``"tracking_state"`` ``(T_b, 25)``
        (default 2 = tracked). Orientation is written as the identity quaternion and the body line
        as ``bodyID 0 1 1 1 1 0 0 0 2``. Within a frame bodies appear in list order.
    num_frames : int, optional
        Frame count of line 1; default ``1 + the largest frame index`` (0 without bodies).
        Frames without bodies are written with a body count of 0.

    Raises
    ------
    ValueError
        On arrays of the wrong shape, repeated frames within a body, or a frame index outside
        ``[0, num_frames)``.
    """
    prepared = []
    for b, body in enumerate(bodies):
        xyz = np.asarray(body["xyz"], np.float64)
        if xyz.ndim != 3 or xyz.shape[1:] != (NUM_JOINTS, 3):
            raise ValueError(f"write_skeleton_file: body {b} xyz must be (T_b, 25, 3), got {xyz.shape}")
        t_b = xyz.shape[0]
        frames = np.asarray(body.get("frames", np.arange(t_b)), np.int64)
        if frames.shape != (t_b,) or len(np.unique(frames)) != t_b:
            raise ValueError(f"write_skeleton_file: body {b} frames must be {t_b} distinct indices")
        color = np.asarray(body["color_xy"], np.float64) if "color_xy" in body else _project(xyz, _COLOR_CAM)
        depth = np.asarray(body["depth_xy"], np.float64) if "depth_xy" in body else _project(xyz, _DEPTH_CAM)
        state = np.asarray(body.get("tracking_state", np.full((t_b, NUM_JOINTS), 2)), np.int64)
        for key, arr, shp in (("color_xy", color, (t_b, NUM_JOINTS, 2)),
                              ("depth_xy", depth, (t_b, NUM_JOINTS, 2)),
                              ("tracking_state", state, (t_b, NUM_JOINTS))):
            if arr.shape != shp:
                raise ValueError(f"write_skeleton_file: body {b} {key} must be {shp}, got {arr.shape}")
        orient = np.broadcast_to([1.0, 0.0, 0.0, 0.0], (t_b, NUM_JOINTS, 4))
        floats = np.concatenate([xyz, depth, color, orient], axis=-1)  # (T_b, 25, 11)
        blocks = {}
        for k, t in enumerate(frames):
            rows = [" ".join(f"{v:.9g}" for v in floats[k, j]) + f" {int(state[k, j])}"
                    for j in range(NUM_JOINTS)]
            blocks[int(t)] = f"{int(body['bodyID'])} 0 1 1 1 1 0 0 0 2\n{NUM_JOINTS}\n" + "\n".join(rows)
        prepared.append(blocks)
    last = max((max(p) for p in prepared if p), default=-1)
    num_frames = last + 1 if num_frames is None else int(num_frames)
    if last >= num_frames or any(t < 0 for p in prepared for t in p):
        raise ValueError(f"write_skeleton_file: frame indices must lie in [0, {num_frames})")
    out = [str(num_frames)]
    for t in range(num_frames):
        here = [p[t] for p in prepared if t in p]
        out.append(str(len(here)))
        out.extend(here)
    with open(path, "w", encoding="ascii", newline="\n") as fh:
        fh.write("\n".join(out) + "\n")
