"""Kinetics-skeleton (ST-GCN): OpenPose-18 poses of Kinetics-400 clips, one JSON per clip.

Source: Yan et al., ST-GCN, AAAI 2018, and its released ``kinetics-skeleton`` data and feeder
(``feeder/feeder_kinetics.py`` of https://github.com/yysijie/st-gcn). A clip file::

    {"data": [{"frame_index": 1,                       # 1-based
               "skeleton": [{"pose": [x0, y0, x1, y1, ..., x17, y17],   # 36 numbers in [0, 1]
                             "score": [s0, ..., s17]},                 # 18 OpenPose confidences
                            ...]},                                       # one entry per person
              ...],
     "label": "abseiling", "label_index": 0}

``x`` and ``y`` are normalised by the video width and height (``[0, 1]``, y pointing down); the
joint order is :data:`paperlib.skeleton.OPENPOSE18`. A label file
(``kinetics_train_label.json`` / ``kinetics_val_label.json``) maps every clip id (the file name
without ``.json``) to ``{"has_skeleton": bool, "label": str, "label_index": int}``.

The array convention is ST-GCN's feeder: ``(C=3, T, V=18, M)`` with channels ``(x, y, score)``;
``x, y`` are centred to ``[-0.5, 0.5]`` and set to 0 where the score is 0; in every frame the
persons are sorted by their mean score over the 18 joints, highest first, and the top ``M`` kept.
Person identity is therefore *not* tracked across frames (as in ST-GCN). One difference: ST-GCN's
feeder indexes frames with the 1-based ``frame_index`` as is; we use ``frame_index - 1`` so the
first frame lands at ``t = 0``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FormatError, SkipReport

__all__ = ["NUM_JOINTS", "KineticsArrays", "load_kinetics_clip", "read_kinetics_labels",
           "load_kinetics_dataset", "write_kinetics_clip"]

NUM_JOINTS = 18


@dataclass
class KineticsArrays:
    """Kinetics-skeleton clips as one array (ST-GCN layout).

    Attributes
    ----------
    data : np.ndarray, float32, shape ``(N, 3, T, 18, M)``
        Channels ``(x, y, score)``: ``x, y`` centred to ``[-0.5, 0.5]`` (normalised image
        coordinates minus 0.5; 0 where the score is 0), score in ``[0, 1]``.
    labels : np.ndarray, int64, shape ``(N,)``
        ``label_index`` of the label file (0-based, Kinetics-400 order).
    names : list[str]
        Clip ids.
    class_names : list[str]
        Name of every ``label_index`` found in the label file (``"<unknown>"`` for gaps).
    skeleton_name : str
        ``"openpose18"`` (:data:`paperlib.skeleton.OPENPOSE18`).
    """

    data: np.ndarray
    labels: np.ndarray
    names: list
    class_names: list
    skeleton_name: str = "openpose18"

    def __len__(self) -> int:
        return int(self.data.shape[0])


def _load_json(path, what="file"):
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except json.JSONDecodeError as err:
        raise FormatError(path, f"invalid JSON {what}: {err.msg} (column {err.colno})",
                          line=err.lineno) from None
    except UnicodeDecodeError:
        raise FormatError(path, f"not a UTF-8 text {what}") from None


def _numbers(path, values, n, field, frame_index):
    """Validate a JSON list of ``n`` finite numbers; return it as float64."""
    if not isinstance(values, list):
        raise FormatError(path, f"expected a list of {n} numbers (frame_index {frame_index}), "
                          f"got {type(values).__name__}", field=field)
    if len(values) != n:
        raise FormatError(path, f"expected {n} numbers (frame_index {frame_index}), got "
                          f"{len(values)}", field=field)
    arr = np.asarray(values)
    if arr.dtype.kind not in "iuf":
        bad = next(k for k, v in enumerate(values)
                   if isinstance(v, bool) or not isinstance(v, (int, float)))
        raise FormatError(path, f"not a number (frame_index {frame_index}): {values[bad]!r}",
                          field=f"{field}[{bad}]")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr))[0])
        raise FormatError(path, f"non-finite value (frame_index {frame_index}): {values[bad]!r}",
                          field=f"{field}[{bad}]")
    return arr


def _parse_clip(path, video, max_frames, max_persons, rep, name):
    """``(3, T, 18, M)`` float32 from a decoded clip JSON (see :func:`load_kinetics_clip`)."""
    if not isinstance(video, dict):
        raise FormatError(path, f"expected a JSON object at the top, got {type(video).__name__}")
    if "data" not in video:
        raise FormatError(path, "missing key", field="data")
    frames = video["data"]
    if not isinstance(frames, list):
        raise FormatError(path, f"expected a list, got {type(frames).__name__}", field="data")
    # gather every person of every frame first: (frame, x/y/score (3, 18)), validated
    per_frame: dict = {}
    for i, frame in enumerate(frames):
        if not isinstance(frame, dict):
            raise FormatError(path, f"expected an object, got {type(frame).__name__}", field=f"data[{i}]")
        for key in ("frame_index", "skeleton"):
            if key not in frame:
                raise FormatError(path, "missing key", field=f"data[{i}].{key}")
        fi = frame["frame_index"]
        if isinstance(fi, bool) or not isinstance(fi, int) or fi < 1:
            raise FormatError(path, f"expected a 1-based integer, got {fi!r}", field=f"data[{i}].frame_index")
        if fi in per_frame:
            raise FormatError(path, f"frame_index {fi} appears twice", field=f"data[{i}].frame_index")
        persons = frame["skeleton"]
        if not isinstance(persons, list):
            raise FormatError(path, f"expected a list (frame_index {fi}), got {type(persons).__name__}",
                              field=f"data[{i}].skeleton")
        rows = []
        for p, person in enumerate(persons):
            where = f"data[{i}].skeleton[{p}]"
            if not isinstance(person, dict):
                raise FormatError(path, f"expected an object (frame_index {fi})", field=where)
            for key in ("pose", "score"):
                if key not in person:
                    raise FormatError(path, f"missing key (frame_index {fi})", field=f"{where}.{key}")
            pose = _numbers(path, person["pose"], 2 * NUM_JOINTS, f"{where}.pose", fi)
            score = _numbers(path, person["score"], NUM_JOINTS, f"{where}.score", fi)
            rows.append(np.stack([pose[0::2], pose[1::2], score]))  # (3, 18)
        per_frame[fi] = rows

    out = np.zeros((3, max_frames, NUM_JOINTS, max_persons), np.float32)
    late = sorted(fi for fi in per_frame if fi > max_frames)
    if late:
        rep.add(name, "frame beyond max_frames (truncated)", n=len(late),
                detail=f"{len(late)} frames with frame_index > {max_frames}")
    extra = 0
    for fi, rows in per_frame.items():
        if fi > max_frames or not rows:
            continue
        people = np.stack(rows)  # (P, 3, 18)
        order = np.argsort(-people[:, 2].mean(axis=1), kind="stable")  # by mean score, ties in file order
        extra += max(0, len(order) - max_persons)
        top = people[order[:max_persons]]  # (m, 3, 18)
        out[:, fi - 1, :, :len(top)] = top.transpose(1, 2, 0)
    if extra:
        rep.add(name, "person beyond max_persons in a frame (lowest mean score)", n=extra,
                detail=f"{extra} person-frames")
    out[0:2] -= 0.5
    zero = out[2] == 0
    out[0][zero] = 0.0
    out[1][zero] = 0.0
    return out


def load_kinetics_clip(path, max_frames: int = 300, max_persons: int = 2,
                       report: SkipReport | None = None) -> np.ndarray:
    """Read one Kinetics-skeleton clip JSON into ST-GCN's array layout.

    Parameters
    ----------
    path : str or os.PathLike
        ``<clip id>.json`` in the format of the module docstring.
    max_frames : int
        ``T``; frames with ``frame_index > T`` are dropped (counted).
    max_persons : int
        ``M``; in each frame the persons with the highest mean score are kept (the others are
        counted).
    report : SkipReport, optional
        If given, the clip's skips are added to it silently; otherwise a ``UserWarning``
        summarises them.

    Returns
    -------
    np.ndarray, float32, shape ``(3, T, 18, M)``
        Channels ``(x - 0.5, y - 0.5, score)`` with normalised image coordinates (so ``x, y`` in
        ``[-0.5, 0.5]``), ``x = y = 0`` wherever ``score == 0``, frame ``t`` holding
        ``frame_index = t + 1``, persons sorted per frame by mean score (highest first). Frames
        absent from the file and empty person slots are zeros.

    Raises
    ------
    FileNotFoundError, OSError
        If the file cannot be read.
    FormatError
        Naming the file and the key (with the frame index): invalid JSON (with its line), missing
        ``data`` / ``frame_index`` / ``skeleton`` / ``pose`` / ``score``, a ``pose`` without 36
        or a ``score`` without 18 numbers, a non-numeric or non-finite value, a ``frame_index``
        that is not an integer >= 1 or is repeated.
    ValueError
        If ``max_frames`` or ``max_persons`` is < 1.

    Source: ST-GCN (Yan et al., AAAI 2018), ``feeder_kinetics.py``.
    """
    if max_frames < 1 or max_persons < 1:
        raise ValueError(f"load_kinetics_clip: max_frames and max_persons must be >= 1, "
                         f"got {max_frames}, {max_persons}")
    name = Path(path).stem
    rep = SkipReport(source=name)
    out = _parse_clip(path, _load_json(path, "clip"), max_frames, max_persons, rep, name)
    if report is not None:
        report.merge(rep)
    else:
        rep.warn()
    return out


def read_kinetics_labels(path) -> dict:
    """Read a Kinetics-skeleton label file.

    Parameters
    ----------
    path : str or os.PathLike
        ``{clip_id: {"has_skeleton": bool, "label": str, "label_index": int}, ...}``.

    Returns
    -------
    dict
        The decoded object, unchanged (entries are validated by :func:`load_kinetics_dataset`).

    Raises
    ------
    FormatError
        If the file is not valid JSON or not an object keyed by clip id.
    """
    labels = _load_json(path, "label file")
    if not isinstance(labels, dict):
        raise FormatError(path, f"expected an object {{clip_id: entry}}, got {type(labels).__name__}")
    return labels


def _check_entry(label_file, clip, entry):
    if not isinstance(entry, dict):
        raise FormatError(label_file, "expected an object", field=clip)
    for key in ("has_skeleton", "label", "label_index"):
        if key not in entry:
            raise FormatError(label_file, "missing key", field=f"{clip}.{key}")
    if not isinstance(entry["has_skeleton"], bool):
        raise FormatError(label_file, f"expected true/false, got {entry['has_skeleton']!r}",
                          field=f"{clip}.has_skeleton")
    idx = entry["label_index"]
    if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
        raise FormatError(label_file, f"expected an integer >= 0, got {idx!r}", field=f"{clip}.label_index")


def class_names_of(label_file, labels_info: dict) -> list:
    """Class names by ``label_index`` (``"<unknown>"`` for an index no entry names) from a label
    file's entries. Raises :class:`FormatError` (file, ``<clip>.label``) when one index has two names."""
    names_by_index: dict = {}
    for clip, entry in labels_info.items():
        if isinstance(entry, dict) and isinstance(entry.get("label_index"), int) and "label" in entry:
            prev = names_by_index.setdefault(entry["label_index"], entry["label"])
            if prev != entry["label"]:
                raise FormatError(label_file, f"label_index {entry['label_index']} is named both "
                                  f"{prev!r} and {entry['label']!r}", field=f"{clip}.label")
    size = max(names_by_index, default=-1) + 1
    return [names_by_index.get(i, "<unknown>") for i in range(size)]


def read_checked_clip(path, clip, entry, max_frames, max_persons, rep):
    """One clip JSON parsed (:func:`_parse_clip`) and its own ``label_index`` checked against the
    label file's ``entry``. Raises :class:`FormatError` (file, field) on either."""
    video = _load_json(path, "clip")
    clip_data = _parse_clip(path, video, max_frames, max_persons, rep, clip)
    own = video.get("label_index")
    if own is not None and own != entry["label_index"]:
        raise FormatError(path, f"{own!r} disagrees with the label file's {entry['label_index']}", field="label_index")
    return clip_data


def load_kinetics_dataset(root, label_file, max_frames: int = 300, max_persons: int = 2,
                          limit: int | None = None) -> tuple[KineticsArrays, SkipReport]:
    """Load every clip of a Kinetics-skeleton folder (e.g. ``kinetics_val/``).

    Parameters
    ----------
    root : str or os.PathLike
        Folder of ``<clip id>.json`` files, read in sorted order.
    label_file : str or os.PathLike
        The matching label file (:func:`read_kinetics_labels`).
    max_frames, max_persons : int
        ``T`` and ``M`` (300 and 2 in ST-GCN), see :func:`load_kinetics_clip`.
    limit : int, optional
        Stop after this many loaded clips (the rest counted in ``report.filtered``).

    Returns
    -------
    arrays : KineticsArrays
        ``data (N, 3, T, 18, M)`` float32, ``labels (N,)`` int64 (``label_index`` of the label
        file), ``names``, ``class_names``.
    report : SkipReport
        Losses per reason, summarised by a ``UserWarning``: clips with ``has_skeleton`` false
        (as ST-GCN's ``ignore_empty_sample``), clips missing from the label file, bad label
        entries, malformed clips (with the :class:`FormatError` text), a clip whose own
        ``label_index`` disagrees with the label file, label-file clips without a JSON file,
        dropped frames and persons.

    Raises
    ------
    FileNotFoundError
        If ``root`` is not a folder or ``label_file`` does not exist.
    FormatError
        If the label file is not a JSON object, or gives two names to one ``label_index``.
    ValueError
        If ``limit < 0``, ``max_frames < 1`` or ``max_persons < 1``.
    """
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    if max_frames < 1 or max_persons < 1:
        raise ValueError(f"max_frames and max_persons must be >= 1, got {max_frames}, {max_persons}")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"Kinetics-skeleton root {str(root)!r} is not a folder")
    labels_info = read_kinetics_labels(label_file)
    report = SkipReport(source=f"Kinetics-skeleton ({root.name})")

    class_names = class_names_of(label_file, labels_info)

    files = sorted(root.glob("*.json"))
    on_disk = {f.stem for f in files}
    absent = sorted(set(labels_info) - on_disk)
    if absent:
        report.add(root, "clip in the label file without a JSON file", n=len(absent),
                   detail=", ".join(absent[:5]) + (" ..." if len(absent) > 5 else ""))
    data, labels, names = [], [], []
    for f in files:
        clip = f.stem
        if clip not in labels_info:
            report.add(f, "clip not in the label file")
            continue
        try:
            _check_entry(label_file, clip, labels_info[clip])
        except FormatError as err:
            report.add(f, "bad label-file entry", detail=str(err))
            continue
        entry = labels_info[clip]
        if not entry["has_skeleton"]:
            report.add(f, "has_skeleton is false")
            continue
        if limit is not None and len(names) >= limit:
            report.add_filtered("beyond limit")
            continue
        rep = SkipReport()
        try:
            clip_data = read_checked_clip(f, clip, entry, max_frames, max_persons, rep)
        except FormatError as err:
            report.add(f, "malformed clip", detail=str(err))
            continue
        report.merge(rep)
        data.append(clip_data)
        labels.append(entry["label_index"])
        names.append(clip)
    arrays = KineticsArrays(
        data=np.stack(data) if data else np.zeros((0, 3, max_frames, NUM_JOINTS, max_persons), np.float32),
        labels=np.asarray(labels, np.int64), names=names, class_names=class_names)
    report.warn()
    return arrays, report


def write_kinetics_clip(path, poses, scores, label: str | None = None,
                        label_index: int | None = None, frame_indices=None) -> None:
    """Write a clip JSON in the Kinetics-skeleton format (for test fixtures and examples).

    Parameters
    ----------
    path : str or os.PathLike
    poses : sequence over frames of arrays ``(P_t, 18, 2)``
        Normalised image coordinates ``[0, 1]`` of the ``P_t`` persons of each frame (``P_t``
        may be 0); written interleaved ``[x0, y0, x1, y1, ...]``.
    scores : sequence over frames of arrays ``(P_t, 18)``
        OpenPose confidences in ``[0, 1]``.
    label, label_index : str, int, optional
        Stored as ``"label"`` and ``"label_index"`` when given.
    frame_indices : sequence of int, optional
        1-based ``frame_index`` of each frame; default ``1, 2, ...``.

    Raises
    ------
    ValueError
        If the shapes do not match.
    """
    if len(poses) != len(scores):
        raise ValueError(f"write_kinetics_clip: {len(poses)} pose frames but {len(scores)} score frames")
    frame_indices = range(1, len(poses) + 1) if frame_indices is None else frame_indices
    frames = []
    for fi, pose, score in zip(frame_indices, poses, scores):
        pose = np.asarray(pose, np.float64).reshape(-1, NUM_JOINTS, 2)
        score = np.asarray(score, np.float64).reshape(-1, NUM_JOINTS)
        if len(pose) != len(score):
            raise ValueError(f"write_kinetics_clip: frame {fi}: {len(pose)} poses, {len(score)} scores")
        frames.append({"frame_index": int(fi), "skeleton": [
            {"pose": [float(v) for v in p.reshape(-1)], "score": [float(v) for v in s]}
            for p, s in zip(pose, score)]})
    video = {"data": frames}
    if label is not None:
        video["label"] = label
    if label_index is not None:
        video["label_index"] = int(label_index)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(video, fh)
