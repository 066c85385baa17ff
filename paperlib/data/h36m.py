"""Human3.6M as prepared by VideoPose3D: 3D joint positions and 2D detections in ``.npz`` files.

Source: Pavllo et al., "3D human pose estimation in video with temporal convolutions and
semi-supervised training", CVPR 2019, and its ``data/prepare_data_h36m.py``
(https://github.com/facebookresearch/VideoPose3D); the data are Ionescu et al., Human3.6M,
TPAMI 2014.

- ``data_3d_h36m.npz``: key ``positions_3d``, a pickled dict
  ``{subject: {action: array (T, 32, 3)}}`` of world coordinates in **metres** at 50 Hz, e.g.
  ``positions_3d['S1']['Walking 1']``. Read it with ``np.load(path, allow_pickle=True)
  ['positions_3d'].item()``. The 32 joints are reduced to the 17 of
  :data:`paperlib.skeleton.H36M17` with :data:`paperlib.skeleton.H36M32_TO_17`.
- ``data_2d_h36m_<detector>.npz`` (e.g. ``cpn_ft_h36m_dbb``): key ``positions_2d``,
  ``{subject: {action: [one array (T, 17, 2) per camera]}}`` in **pixels** of the 1000x1002
  (or 1000x1000) images, and key ``metadata`` (layout name, joint count, symmetry).

Action names carry a take suffix (``'Walking 1'``); subject S1 also spells two actions
differently (``'TakingPhoto'``, ``'WalkingDog'`` for ``'Photo'``, ``'WalkDog'``).
:func:`action_label` maps every name to one of the 15 :data:`H36M_ACTIONS`.

The files hold pickled Python objects (``allow_pickle=True``): load only files you trust.
"""
from __future__ import annotations

import re
import zipfile

import numpy as np

from ..skeleton import H36M32_TO_17
from .errors import FormatError, SkipReport

__all__ = ["H36M_TRAIN_SUBJECTS", "H36M_TEST_SUBJECTS", "H36M_ACTIONS", "H36M_ACTION_ALIASES",
           "action_label", "load_h36m_3d", "load_h36m_2d", "h36m_windows", "write_h36m_npz",
           "write_h36m_2d_npz"]

#: The usual protocol (VideoPose3D, Martinez et al. 2017): train on S1, S5, S6, S7, S8.
H36M_TRAIN_SUBJECTS = ("S1", "S5", "S6", "S7", "S8")
#: ... and test on S9, S11.
H36M_TEST_SUBJECTS = ("S9", "S11")
#: The 15 Human3.6M scenarios, in VideoPose3D's spelling.
H36M_ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
                "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking",
                "WalkTogether")
#: S1's spellings of two scenarios.
H36M_ACTION_ALIASES = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}

_TAKE = re.compile(r"\s+\d+$")
_DEFAULT_2D_METADATA = {"layout_name": "h36m", "num_joints": 17,
                        "keypoints_symmetry": [[4, 5, 6, 11, 12, 13], [1, 2, 3, 14, 15, 16]]}


def action_label(action: str) -> str:
    """The scenario of a sequence name: strip the take suffix and apply the S1 aliases.

    ``'Walking 1' -> 'Walking'``, ``'Walking' -> 'Walking'``, ``'TakingPhoto 1' -> 'Photo'``.
    """
    base = _TAKE.sub("", action.strip())
    return H36M_ACTION_ALIASES.get(base, base)


def _load_pickled_dict(path, key):
    """``np.load(path, allow_pickle=True)[key].item()``, with errors naming file and key."""
    try:
        archive = np.load(path, allow_pickle=True)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise FormatError(path, f"not a readable .npz archive ({err})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise FormatError(path, f"expected an .npz archive with key {key!r}, got a single .npy array")
    with archive:
        if key not in archive.files:
            raise FormatError(path, f"missing key (keys present: {archive.files})", field=key)
        try:
            obj = archive[key]
        except (ValueError, OSError, EOFError) as err:
            raise FormatError(path, f"cannot read the array ({err})", field=key) from None
    if obj.dtype != object or obj.shape != ():
        raise FormatError(path, f"expected a pickled dict, got an array of shape {obj.shape} and "
                                f"dtype {obj.dtype}", field=key)
    value = obj.item()
    if not isinstance(value, dict):
        raise FormatError(path, f"expected a dict {{subject: {{action: ...}}}}, got "
                                f"{type(value).__name__}", field=key)
    return value


def _select_subjects(path, key, data, subjects):
    if subjects is None:
        return list(data)
    if isinstance(subjects, str):
        subjects = [subjects]
    subjects = list(subjects)
    for s in subjects:
        if s not in data:
            raise FormatError(path, f"subject not found (subjects present: {list(data)})",
                              field=f"{key}[{s!r}]")
    return subjects


def _check_array(path, field, arr, joints, dims):
    arr = np.asarray(arr)
    if arr.ndim != 3 or arr.shape[1:] != (joints, dims) or arr.dtype.kind not in "iuf":
        raise FormatError(path, f"expected a numeric array of shape (T, {joints}, {dims}), got "
                                f"shape {arr.shape} and dtype {arr.dtype}", field=field)
    if not np.isfinite(arr).all():
        t = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise FormatError(path, f"non-finite value at frame {t}", field=field)
    return arr.astype(np.float32)


def load_h36m_3d(path, subjects=None, reduce_to_17: bool = True) -> dict:
    """Load VideoPose3D's ``data_3d_h36m.npz``.

    Parameters
    ----------
    path : str or os.PathLike
    subjects : sequence of str, optional
        E.g. :data:`H36M_TRAIN_SUBJECTS`; default every subject in the file.
    reduce_to_17 : bool
        Keep the 17 joints of :data:`paperlib.skeleton.H36M17` (indices
        :data:`paperlib.skeleton.H36M32_TO_17` of the 32); if False keep all 32.

    Returns
    -------
    dict[str, dict[str, np.ndarray]]
        ``data[subject][action]`` float32 of shape ``(T, 17, 3)`` (or ``(T, 32, 3)``), metres,
        world coordinates, 50 Hz; subjects in the requested (or file) order.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    FormatError
        Naming the file and the key: not an ``.npz``, no ``positions_3d``, not a pickled dict,
        a requested subject missing, a subject that is not a dict of actions, or an array that
        is not numeric ``(T, 32, 3)`` or holds non-finite values (field
        ``positions_3d['S1']['Walking 1']``).
    """
    key = "positions_3d"
    data = _load_pickled_dict(path, key)
    out = {}
    for s in _select_subjects(path, key, data, subjects):
        actions = data[s]
        if not isinstance(actions, dict):
            raise FormatError(path, f"expected a dict of actions, got {type(actions).__name__}",
                              field=f"{key}[{s!r}]")
        out[s] = {}
        for a, arr in actions.items():
            arr = _check_array(path, f"{key}[{s!r}][{a!r}]", arr, 32, 3)
            out[s][a] = arr[:, list(H36M32_TO_17)] if reduce_to_17 else arr
    return out


def load_h36m_2d(path, subjects=None, with_metadata: bool = False):
    """Load VideoPose3D's 2D detections, e.g. ``data_2d_h36m_cpn_ft_h36m_dbb.npz``.

    Parameters
    ----------
    path : str or os.PathLike
    subjects : sequence of str, optional
        Default every subject in the file.
    with_metadata : bool
        Also return the file's ``metadata`` dict (``None`` if absent).

    Returns
    -------
    dict[str, dict[str, list[np.ndarray]]]
        ``data[subject][action][camera]`` float32 of shape ``(T, 17, 2)``, **pixels** (not
        normalised; VideoPose3D later maps them to ``[-1, 1]`` with the image width). With
        ``with_metadata`` a tuple ``(data, metadata)``.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    FormatError
        Naming the file and the key: no ``positions_2d``, not a pickled dict, a requested subject
        missing, an action that is not a list of per-camera arrays, or an array that is not
        numeric ``(T, 17, 2)`` or not finite (field ``positions_2d['S1']['Walking 1'][0]``).
    """
    key = "positions_2d"
    data = _load_pickled_dict(path, key)
    out = {}
    for s in _select_subjects(path, key, data, subjects):
        actions = data[s]
        if not isinstance(actions, dict):
            raise FormatError(path, f"expected a dict of actions, got {type(actions).__name__}",
                              field=f"{key}[{s!r}]")
        out[s] = {}
        for a, cams in actions.items():
            if isinstance(cams, np.ndarray) and cams.dtype != object and cams.ndim == 4:
                cams = list(cams)  # (cameras, T, 17, 2) stored as one array
            if not isinstance(cams, (list, tuple, np.ndarray)):
                raise FormatError(path, f"expected a list of per-camera arrays, got {type(cams).__name__}",
                                  field=f"{key}[{s!r}][{a!r}]")
            out[s][a] = [_check_array(path, f"{key}[{s!r}][{a!r}][{c}]", arr, 17, 2)
                         for c, arr in enumerate(cams)]
    if not with_metadata:
        return out
    try:
        with np.load(path, allow_pickle=True) as archive:
            meta = archive["metadata"].item() if "metadata" in archive.files else None
    except (ValueError, OSError) as err:  # pragma: no cover - the file was read just above
        raise FormatError(path, f"cannot read ({err})", field="metadata") from None
    return out, meta


def h36m_windows(data: dict, subjects, length: int, stride: int, actions=None,
                 report: SkipReport | None = None):
    """Cut every sequence of ``subjects`` into fixed-length windows labelled by scenario.

    Parameters
    ----------
    data : dict
        ``data[subject][action] -> (T, J, 3)``, e.g. from :func:`load_h36m_3d`.
    subjects : sequence of str (or one str)
        E.g. :data:`H36M_TRAIN_SUBJECTS`.
    length : int
        Frames per window.
    stride : int
        Frames between window starts. Windows start at ``0, stride, ...`` and end inside the
        sequence, so up to ``stride - 1`` + the remainder of the last frames are not covered.
    actions : sequence of str, optional
        Scenarios to keep (names as :func:`action_label` gives them, e.g. ``'Walking'``);
        default every scenario present, sorted. Labels index this list.
    report : SkipReport, optional
        Sequences shorter than ``length`` are counted in it (reason ``"sequence shorter than
        length"``, item ``"S1/Walking 1"``). If not given, a ``UserWarning`` summarises them.

    Returns
    -------
    windows : np.ndarray, float32, shape ``(N, length, J, 3)``
        Same units as ``data`` (metres for :func:`load_h36m_3d`).
    labels : np.ndarray, int64, shape ``(N,)``
        Index into ``action_names``.
    action_names : list[str]
        Take suffix stripped: ``'Walking 1' -> 'Walking'``.

    Raises
    ------
    ValueError
        If ``length`` or ``stride`` < 1, a subject is not in ``data``, a requested action is not
        present, or a sequence is not a ``(T, J, 3)`` array with the same ``J`` as the others.
    """
    if length < 1 or stride < 1:
        raise ValueError(f"h36m_windows: length and stride must be >= 1, got {length}, {stride}")
    subjects = [subjects] if isinstance(subjects, str) else list(subjects)
    for s in subjects:
        if s not in data:
            raise ValueError(f"h36m_windows: subject {s!r} not in data (present: {list(data)})")
    present = sorted({action_label(a) for s in subjects for a in data[s]})
    if actions is None:
        action_names = present
    else:
        action_names = [action_label(a) for a in actions]
        unknown = [a for a in action_names if a not in present]
        if unknown:
            raise ValueError(f"h36m_windows: actions {unknown} not present for {subjects}; "
                             f"present: {present}")
    index = {a: i for i, a in enumerate(action_names)}
    rep = SkipReport(source="Human3.6M windows")
    chunks, labels, num_joints = [], [], None
    for s in subjects:
        for a in sorted(data[s]):
            label = action_label(a)
            if label not in index:
                rep.add_filtered("action not requested")
                continue
            seq = np.asarray(data[s][a])
            if seq.ndim != 3 or seq.shape[-1] != 3 or (num_joints is not None and seq.shape[1] != num_joints):
                raise ValueError(f"h36m_windows: data[{s!r}][{a!r}] must be (T, J, 3) with one J for "
                                 f"all sequences, got {seq.shape}")
            num_joints = seq.shape[1]
            if len(seq) < length:
                rep.add(f"{s}/{a}", "sequence shorter than length", detail=f"{len(seq)} < {length} frames")
                continue
            win = np.lib.stride_tricks.sliding_window_view(seq, length, axis=0)[::stride]  # (n, J, 3, L)
            chunks.append(np.moveaxis(win, -1, 1).astype(np.float32))
            labels.append(np.full(len(win), index[label], np.int64))
    if report is not None:
        report.merge(rep)
    else:
        rep.warn()
    if not chunks:
        return (np.zeros((0, length, num_joints or 17, 3), np.float32), np.zeros(0, np.int64),
                action_names)
    return np.concatenate(chunks), np.concatenate(labels), action_names


def _object_scalar(value):
    obj = np.empty((), dtype=object)
    obj[()] = value
    return obj


def write_h36m_npz(path, positions_3d: dict) -> None:
    """Write ``positions_3d`` as VideoPose3D's ``data_3d_h36m.npz`` (for test fixtures).

    Parameters
    ----------
    path : str or os.PathLike
    positions_3d : dict
        ``{subject: {action: array (T, 32, 3)}}``, metres.

    Raises
    ------
    ValueError
        If ``positions_3d`` is not a dict of dicts.
    """
    if not isinstance(positions_3d, dict) or not all(isinstance(v, dict) for v in positions_3d.values()):
        raise ValueError("write_h36m_npz: positions_3d must be {subject: {action: array}}")
    np.savez_compressed(path, positions_3d=_object_scalar(positions_3d))


def write_h36m_2d_npz(path, positions_2d: dict, metadata: dict | None = None) -> None:
    """Write 2D detections like VideoPose3D's ``data_2d_h36m_<detector>.npz`` (for test fixtures).

    Parameters
    ----------
    path : str or os.PathLike
    positions_2d : dict
        ``{subject: {action: [array (T, 17, 2) per camera]}}``, pixels.
    metadata : dict, optional
        Default ``{"layout_name": "h36m", "num_joints": 17, "keypoints_symmetry": ...}``.

    Raises
    ------
    ValueError
        If ``positions_2d`` is not a dict of dicts.
    """
    if not isinstance(positions_2d, dict) or not all(isinstance(v, dict) for v in positions_2d.values()):
        raise ValueError("write_h36m_2d_npz: positions_2d must be {subject: {action: [arrays]}}")
    np.savez_compressed(path, positions_2d=_object_scalar(positions_2d),
                        metadata=_object_scalar(dict(metadata or _DEFAULT_2D_METADATA)))
