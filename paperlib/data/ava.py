"""AVA v2.x annotation formats: CSV boxes, pbtxt label maps, detections; export of rendered clips.

Formats (AVA Actions v2.1/v2.2, https://research.google.com/ava/download.html)
-----------------------------------------------------------------------------
- **Ground truth CSV**, no header, one row per (person box, action):
  ``video_id, middle_frame_timestamp, x1, y1, x2, y2, action_id, person_id``; the timestamp in
  seconds (e.g. ``0902``), the box corners normalised to ``[0, 1]`` by the frame width and
  height (x to the right, y down), ``action_id`` 1-based into the label map, ``person_id`` an
  integer tracking the person within the video. v2.0 files lack ``person_id`` (7 columns).
- **Detections CSV** (the evaluation's input and the released person proposals):
  ``video_id, timestamp, x1, y1, x2, y2, action_id, score``; ``action_id`` may be empty for a
  class-agnostic person box.
- **Label map** ``.pbtxt``, either ``item { name: "bend/bow (at the waist)" id: 1 }`` (v2.1 for
  ActivityNet) or ``label { name: "..." label_id: 1 label_type: PERSON_MOVEMENT }`` (v2.2).
- **Excluded timestamps** CSV: ``video_id, timestamp`` rows to leave out of the evaluation.

Readers raise :class:`paperlib.data.errors.FormatError` naming the file, the 1-based line and
the field for: a wrong column count, a non-numeric value, a box coordinate outside ``[0, 1]``,
``x1 > x2`` or ``y1 > y2``, an action id < 1 (or absent from a given label map, unless
``unknown_actions="filter"``), a negative person id, a non-finite score, a timestamp outside a
given range. Empty lines are not data and are ignored; every other row left out is counted.

The official protocol (ActivityNet ``Evaluation/get_ava_performance.py``; the AVA download page)
------------------------------------------------------------------------------------------------
- **Released files** (:func:`ava_release_names`): ``ava_{train,val}_v2.1.csv`` and
  ``ava_{train,val}_v2.2.csv`` (ground truth, all 80 action ids); the label maps
  ``ava_action_list_v2.1.pbtxt`` / ``ava_action_list_v2.2.pbtxt`` (80 classes) and the
  evaluation's 60-class subsets ``ava_action_list_v2.1_for_activitynet_2018.pbtxt`` /
  ``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` (the ActivityNet repository ships the
  first as ``....pbtxt.txt``); ``ava_{train,val,test}_excluded_timestamps_v2.x.csv``.
- **Class whitelist.** The evaluator reads the label map and *skips* every ground-truth and
  detection row whose action id is not in it (``read_csv(..., class_whitelist)``): with the
  60-class map the 20 other ids (2, 16, 18, ..., 75) are left out, not an error.
  ``read_ava_csv(..., unknown_actions="filter", report=...)`` does the same and counts the rows.
- **Excluded timestamps.** Keyframes listed in the excluded-timestamps CSV are dropped from the
  ground truth *and* the detections, keyed as ``"%s,%04d" % (video_id, int(timestamp))``
  (:func:`drop_excluded`, counted).
- **Capacity.** At most 50 detection rows per keyframe (:data:`paperlib.metrics_ap.AVA_CAPACITY`),
  after the class filter; every ground-truth row (every annotated person and action) is kept.
- **Time.** Keyframes lie at whole seconds 902-1798 of each movie (:data:`AVA_KEYFRAME_RANGE`),
  the 15-minute window that starts at :data:`AVA_WINDOW_START` = 900 s; frames extracted with
  ``ffmpeg -ss 900 -t 901 -i VIDEO -r FPS ...`` start at 900 s, so keyframe ``t`` is frame
  ``round((t - 900) * FPS)`` (0-based) of the folder.

:func:`load_ava_release` reads a released split with these rules and :func:`evaluate_ava_files`
scores a detections CSV as the official script does (its four inputs: label map, ground truth,
excluded timestamps, detections).

:func:`export_ava` writes a :class:`paperlib.data.video.MultiPersonClips` set in these formats
(plus the frames as ``img_00001.jpg`` folders, :mod:`paperlib.data.frames`), and the same
readers load real AVA files.
"""
from __future__ import annotations

import csv
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import FormatError, SkipReport

__all__ = ["AvaAnnotations", "LabelMap", "read_ava_csv", "write_ava_csv", "read_label_map", "write_label_map",
           "read_excluded_timestamps", "group_keyframes", "export_ava", "clips_to_ava", "LABEL_TYPES",
           "AVA_VERSIONS", "AVA_WINDOW_START", "AVA_KEYFRAME_RANGE", "ava_release_names", "drop_excluded",
           "AvaRelease", "load_ava_release", "evaluate_ava_files"]

LABEL_TYPES = ("PERSON_MOVEMENT", "OBJECT_MANIPULATION", "PERSON_INTERACTION")

AVA_VERSIONS = ("v2.1", "v2.2")
AVA_WINDOW_START = 900.0          # s: the annotated 15-minute window of each movie starts here
AVA_KEYFRAME_RANGE = (902, 1798)  # s: first and last keyframe timestamps (ava_included_timestamps_v2.2.txt)
_ACTIVITYNET_LABEL_MAPS = {"v2.1": "ava_action_list_v2.1_for_activitynet_2018.pbtxt",
                           "v2.2": "ava_action_list_v2.2_for_activitynet_2019.pbtxt"}


@dataclass
class AvaAnnotations:
    """Rows of an AVA CSV file.

    Attributes
    ----------
    video_ids : list of str, ``R`` entries.
    timestamps : np.ndarray, float64, ``(R,)`` seconds (keyframe time within the video).
    boxes : np.ndarray, float32, ``(R, 4)`` ``(x1, y1, x2, y2)`` normalised to ``[0, 1]``.
    action_ids : np.ndarray, int64, ``(R,)`` 1-based; ``-1`` for a detection without action.
    person_ids : np.ndarray, int64, ``(R,)``; ``-1`` when the file has none (v2.0, detections).
    scores : np.ndarray, float32, ``(R,)``, or ``None`` for ground truth.

    Raises ``ValueError`` if the fields do not all have ``R`` rows.
    """

    video_ids: list
    timestamps: np.ndarray
    boxes: np.ndarray
    action_ids: np.ndarray
    person_ids: np.ndarray
    scores: np.ndarray | None = None

    def __post_init__(self):
        self.video_ids = [str(v) for v in self.video_ids]
        self.timestamps = np.asarray(self.timestamps, np.float64).reshape(-1)
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.action_ids = np.asarray(self.action_ids, np.int64).reshape(-1)
        self.person_ids = np.asarray(self.person_ids, np.int64).reshape(-1)
        if self.scores is not None:
            self.scores = np.asarray(self.scores, np.float32).reshape(-1)
        n = len(self.video_ids)
        lens = {"timestamps": len(self.timestamps), "boxes": len(self.boxes), "action_ids": len(self.action_ids),
                "person_ids": len(self.person_ids)}
        if self.scores is not None:
            lens["scores"] = len(self.scores)
        bad = {k: v for k, v in lens.items() if v != n}
        if bad:
            raise ValueError(f"AvaAnnotations: {n} video_ids but {bad}")

    def __len__(self) -> int:
        return len(self.video_ids)

    @property
    def is_detection(self) -> bool:
        """True when the rows carry scores."""
        return self.scores is not None

    def select(self, keep) -> "AvaAnnotations":
        """The rows ``keep`` (a ``(R,)`` bool mask or an index array), in that order."""
        keep = np.asarray(keep)
        if keep.dtype == bool and keep.shape != (len(self),):
            raise ValueError(f"AvaAnnotations.select: a mask of shape {keep.shape} for {len(self)} rows")
        idx = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64).reshape(-1)
        return AvaAnnotations([self.video_ids[i] for i in idx], self.timestamps[idx], self.boxes[idx],
                              self.action_ids[idx], self.person_ids[idx],
                              None if self.scores is None else self.scores[idx])


@dataclass
class LabelMap:
    """An AVA label map.

    Attributes
    ----------
    names : dict ``{id (int, 1-based): name}`` in file order.
    types : dict ``{id: label_type}`` (empty for the ``item { }`` style).
    """

    names: dict
    types: dict

    @property
    def class_ids(self) -> list:
        """The ids, sorted."""
        return sorted(self.names)

    def __len__(self) -> int:
        return len(self.names)


# ----------------------------------------------------------------------------------------------
# CSV
# ----------------------------------------------------------------------------------------------
_FIELDS = ("video_id", "timestamp", "x1", "y1", "x2", "y2", "action_id")


def _number(path, line, fieldname, text, kind=float):
    try:
        v = kind(text)
    except ValueError:
        raise FormatError(path, f"expected {'an integer' if kind is int else 'a number'}, got {text!r}",
                          line=line, field=fieldname) from None
    if kind is float and not math.isfinite(v):
        raise FormatError(path, f"expected a finite number, got {text!r}", line=line, field=fieldname)
    return v


_NOT_IN_MAP = "rows with an action id not in the label map"
_NO_ACTION = "detection rows without an action id"


def read_ava_csv(path, kind: str = "groundtruth", label_map: LabelMap | None = None,
                 unknown_actions: str = "raise", report: SkipReport | None = None,
                 timestamp_range=None) -> AvaAnnotations:
    """Read an AVA CSV file.

    Parameters
    ----------
    path : str or os.PathLike
    kind : ``"groundtruth"`` (7 or 8 columns, the 8th the person id) or ``"detections"``
        (8 columns, the 8th the score; an empty action id means a person box, ``-1``).
    label_map : LabelMap, optional: the action ids to keep.
    unknown_actions : what to do with a row whose action id is not in ``label_map``:
        ``"raise"`` (a :class:`FormatError`) or ``"filter"``: skip the row, as the official
        evaluator does with its class whitelist (``get_ava_performance.read_csv``). Filtered
        rows (and, for detections, rows with an empty action id) are counted in
        ``report.filtered``; without a ``report`` one ``warnings.warn`` line gives the count
        and the ids.
    report : SkipReport, optional, filled with the filtered rows.
    timestamp_range : ``(first, last)`` seconds, optional: a timestamp outside raises (the
        released AVA files: :data:`AVA_KEYFRAME_RANGE`).

    Returns
    -------
    AvaAnnotations

    Raises
    ------
    FormatError
        Naming the file, line and field (see the module docstring).
    ValueError
        For an unknown ``kind`` or ``unknown_actions``, or ``"filter"`` without a label map.
    """
    if kind not in ("groundtruth", "detections"):
        raise ValueError(f"read_ava_csv: kind must be 'groundtruth' or 'detections', got {kind!r}")
    if unknown_actions not in ("raise", "filter"):
        raise ValueError(f"read_ava_csv: unknown_actions must be 'raise' or 'filter', got {unknown_actions!r}")
    if unknown_actions == "filter" and label_map is None:
        raise ValueError("read_ava_csv: unknown_actions='filter' needs a label_map")
    filtering = unknown_actions == "filter"
    n_unknown, unknown_ids, n_no_action = 0, set(), 0
    vids, ts, boxes, acts, pids, scores = [], [], [], [], [], []
    with open(path, newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # an empty line holds no data
            row = [c.strip() for c in row]
            ok = (7, 8) if kind == "groundtruth" else (8,)
            if len(row) not in ok:
                want = "7 or 8" if kind == "groundtruth" else "8"
                hint = " (a header line? AVA files have none)" if line == 1 and not _is_float(row[1] if len(row) > 1 else "") else ""
                raise FormatError(path, f"expected {want} comma-separated columns, got {len(row)}{hint}",
                                  line=line, field="columns")
            if not row[0]:
                raise FormatError(path, "empty video id", line=line, field="video_id")
            t = _number(path, line, "timestamp", row[1])
            if timestamp_range is not None and not timestamp_range[0] <= t <= timestamp_range[1]:
                raise FormatError(path, f"timestamp {row[1]} outside {timestamp_range[0]}-{timestamp_range[1]} s",
                                  line=line, field="timestamp")
            box = [_number(path, line, name, row[2 + i]) for i, name in enumerate(("x1", "y1", "x2", "y2"))]
            for i, name in enumerate(("x1", "y1", "x2", "y2")):
                if not 0.0 <= box[i] <= 1.0:
                    raise FormatError(path, f"normalised coordinate {box[i]} outside [0, 1]", line=line, field=name)
            if box[0] > box[2] or box[1] > box[3]:
                raise FormatError(path, f"box ({box[0]}, {box[1]}, {box[2]}, {box[3]}) has x1 > x2 or y1 > y2",
                                  line=line, field="x1,y1,x2,y2")
            if kind == "detections" and row[6] == "":
                a = -1
                if filtering:  # a class-agnostic box cannot be scored per class
                    n_no_action += 1
                    continue
            else:
                a = _number(path, line, "action_id", row[6], int)
                if a < 1:
                    raise FormatError(path, f"action ids are 1-based, got {a}", line=line, field="action_id")
                if label_map is not None and a not in label_map.names:
                    if filtering:
                        n_unknown += 1
                        unknown_ids.add(a)
                        continue
                    raise FormatError(path, f"action id {a} is not in the label map ({len(label_map)} classes)",
                                      line=line, field="action_id")
            if kind == "groundtruth":
                p = _number(path, line, "person_id", row[7], int) if len(row) == 8 else -1
                if len(row) == 8 and p < 0:
                    raise FormatError(path, f"person id must be >= 0, got {p}", line=line, field="person_id")
                pids.append(p)
            else:
                scores.append(_number(path, line, "score", row[7]))
                pids.append(-1)
            vids.append(row[0])
            ts.append(t)
            boxes.append(box)
            acts.append(a)
    if filtering and (n_unknown or n_no_action):
        name = Path(path).name
        if report is not None:
            report.add_filtered(f"{name}: {_NOT_IN_MAP}", n_unknown)
            report.add_filtered(f"{name}: {_NO_ACTION}", n_no_action)
        else:
            warnings.warn(f"{name}: filtered out {n_unknown} {_NOT_IN_MAP} ({len(label_map)} classes; ids "
                          f"{sorted(unknown_ids)}) and {n_no_action} {_NO_ACTION}, as the official AVA evaluator does",
                          UserWarning, stacklevel=2)
    return AvaAnnotations(vids, np.asarray(ts, np.float64), np.asarray(boxes, np.float32).reshape(-1, 4),
                          np.asarray(acts, np.int64), np.asarray(pids, np.int64),
                          np.asarray(scores, np.float32) if kind == "detections" else None)


def _is_float(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _fmt_time(t):
    return f"{int(round(t)):04d}" if abs(t - round(t)) < 1e-9 else f"{t:.6g}"


def write_ava_csv(path, ann: AvaAnnotations, decimals: int = 3) -> None:
    """Write rows in AVA's CSV layout (no header).

    Ground truth (``ann.scores is None``): 8 columns with ``person_id`` (7 if every person id is
    ``-1``). Detections: 8 columns with the score (``%.6g``); ``action_id = -1`` is written
    empty. Timestamps that are whole seconds are written as AVA does (``0902``), others with up
    to 6 significant digits; box coordinates with ``decimals`` decimals (AVA uses 3).

    Raises ``ValueError`` if a box coordinate is outside ``[0, 1]`` or a box has ``x1 > x2`` /
    ``y1 > y2`` (the writer refuses what the reader would reject).
    """
    b = np.asarray(ann.boxes, np.float64)
    if len(b) and ((b < 0).any() or (b > 1).any()):
        raise ValueError("write_ava_csv: box coordinates must be normalised to [0, 1]")
    if len(b) and ((b[:, 0] > b[:, 2]).any() or (b[:, 1] > b[:, 3]).any()):
        raise ValueError("write_ava_csv: boxes must have x1 <= x2 and y1 <= y2")
    with_pid = ann.scores is None and bool((ann.person_ids >= 0).any())
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        for i in range(len(ann)):
            row = [ann.video_ids[i], _fmt_time(float(ann.timestamps[i]))]
            row += [f"{v:.{decimals}f}" for v in b[i]]
            a = int(ann.action_ids[i])
            if ann.scores is not None:
                row += ["" if a < 0 else str(a), f"{float(ann.scores[i]):.6g}"]
            else:
                row.append(str(a))
                if with_pid:
                    row.append(str(int(ann.person_ids[i])))
            w.writerow(row)


def read_excluded_timestamps(path) -> set:
    """AVA's excluded-timestamps CSV (``video_id, timestamp``) -> ``{(video_id, seconds)}``.

    Raises ``FormatError`` (file, line, field) on a row without 2 columns or a bad timestamp.
    """
    out = set()
    with open(path, newline="", encoding="utf-8") as fh:
        for line, row in enumerate(csv.reader(fh), start=1):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != 2:
                raise FormatError(path, f"expected 2 columns, got {len(row)}", line=line, field="columns")
            out.add((row[0].strip(), _number(path, line, "timestamp", row[1].strip())))
    return out


def _official_key(video_id, t):
    """The official evaluator's keyframe key (``make_image_key``: ``"%s,%04d" % (vid, int(t))``)."""
    return str(video_id), int(t)


def drop_excluded(ann: AvaAnnotations, excluded, report: SkipReport | None = None,
                  what: str = "rows") -> AvaAnnotations:
    """Leave out the rows at excluded keyframes, as ``get_ava_performance.run_evaluation`` does
    for the ground truth and the detections alike.

    Parameters
    ----------
    ann : AvaAnnotations (ground truth or detections).
    excluded : set of ``(video_id, seconds)`` (:func:`read_excluded_timestamps`). A row matches
        when its video id is equal and its timestamp truncated to whole seconds is (the
        evaluator's key ``"%s,%04d" % (video_id, int(timestamp))``).
    report : SkipReport, optional: the dropped rows and keyframes are counted in
        ``report.filtered`` as ``"{what} at excluded timestamps"`` and ``"{what}: keyframes at
        excluded timestamps"``.

    Returns the kept rows (:meth:`AvaAnnotations.select`, in file order).
    """
    ex = {_official_key(v, t) for v, t in excluded}
    keys = [_official_key(v, t) for v, t in zip(ann.video_ids, ann.timestamps)]
    hit = np.array([k in ex for k in keys], bool).reshape(-1)
    if report is not None:
        report.add_filtered(f"{what} at excluded timestamps", int(hit.sum()))
        report.add_filtered(f"{what}: keyframes at excluded timestamps", len({k for k, h in zip(keys, hit) if h}))
    return ann.select(~hit)


def ava_release_names(version: str = "v2.2", split: str = "val", classes: int = 60) -> dict:
    """File names of an AVA Actions release (https://research.google.com/ava/download.html,
    ``ava_v2.1.zip`` / ``ava_v2.2.zip``).

    Parameters
    ----------
    version : ``"v2.1"`` or ``"v2.2"`` (``"2.1"``, ``"2.2"`` accepted).
    split : ``"train"`` or ``"val"`` (the splits with released ground truth).
    classes : 60 (the ActivityNet challenge label map, the evaluation's whitelist) or 80 (the
        full action list).

    Returns ``{"groundtruth": "ava_val_v2.2.csv", "label_map":
    "ava_action_list_v2.2_for_activitynet_2019.pbtxt", "excluded":
    "ava_val_excluded_timestamps_v2.2.csv"}`` (for the defaults).
    Raises ``ValueError`` for another version, split or class count.
    """
    v = version if str(version).startswith("v") else f"v{version}"
    if v not in AVA_VERSIONS:
        raise ValueError(f"ava_release_names: version must be one of {AVA_VERSIONS}, got {version!r}")
    if split not in ("train", "val"):
        raise ValueError(f"ava_release_names: split must be 'train' or 'val' (the test ground truth is not "
                         f"released), got {split!r}")
    if classes not in (60, 80):
        raise ValueError(f"ava_release_names: classes must be 60 or 80, got {classes!r}")
    return {"groundtruth": f"ava_{split}_{v}.csv",
            "label_map": _ACTIVITYNET_LABEL_MAPS[v] if classes == 60 else f"ava_action_list_{v}.pbtxt",
            "excluded": f"ava_{split}_excluded_timestamps_{v}.csv"}


def _release_files(root, names):
    """``{key: path}`` of the first existing name of each ``{key: (name, alternative...)}``;
    ``FileNotFoundError`` listing every missing file."""
    found, missing = {}, []
    for key, options in names.items():
        hit = [Path(root) / n for n in options if (Path(root) / n).is_file()]
        if hit:
            found[key] = hit[0]
        else:
            missing.append(" or ".join(options))
    if missing:
        raise FileNotFoundError(f"AVA release files not found in {root}: {'; '.join(missing)}")
    return found


@dataclass
class AvaRelease:
    """A released AVA split read with the official protocol (:func:`load_ava_release`).

    Attributes
    ----------
    groundtruth : AvaAnnotations, the rows left (label-map classes only, no excluded keyframe).
    label_map : LabelMap (60 or 80 classes).
    excluded : set of ``(video_id, seconds)`` from the excluded-timestamps CSV.
    paths : dict ``{"groundtruth", "label_map", "excluded"}`` of the files read.
    report : SkipReport, what was filtered out (``report.filtered``) and why.
    """

    groundtruth: AvaAnnotations
    label_map: LabelMap
    excluded: set
    paths: dict
    report: SkipReport


def load_ava_release(root, split: str = "val", version: str = "v2.2", classes: int = 60) -> AvaRelease:
    """Read a released AVA split from ``root`` (the files of :func:`ava_release_names`).

    The label map (60 classes: the ActivityNet ``..._for_activitynet_20xx.pbtxt``, also found
    with the ``.pbtxt.txt`` ending of the ActivityNet repository's copy) is the whitelist: the
    ground-truth rows of other action ids are filtered and counted (the CSVs hold all 80 ids);
    rows at the keyframes of the excluded-timestamps CSV are dropped and counted
    (:func:`drop_excluded`). Timestamps must lie in :data:`AVA_KEYFRAME_RANGE`.

    Returns :class:`AvaRelease`. Raises ``FileNotFoundError`` naming every missing file,
    :class:`FormatError` (file, line, field) for a malformed one, ``ValueError`` as
    :func:`ava_release_names`.
    """
    names = ava_release_names(version, split, classes)
    paths = _release_files(root, {"groundtruth": (names["groundtruth"],),
                                  "label_map": (names["label_map"], names["label_map"] + ".txt"),
                                  "excluded": (names["excluded"],)})
    v = version if str(version).startswith("v") else f"v{version}"
    rep = SkipReport(source=f"AVA {v} {split} ({classes} classes)")
    lm = read_label_map(paths["label_map"])
    gt = read_ava_csv(paths["groundtruth"], label_map=lm, unknown_actions="filter", report=rep,
                      timestamp_range=AVA_KEYFRAME_RANGE)
    excluded = read_excluded_timestamps(paths["excluded"])
    gt = drop_excluded(gt, excluded, rep, what="ground-truth rows")
    return AvaRelease(gt, lm, excluded, {k: str(v) for k, v in paths.items()}, rep)


def evaluate_ava_files(label_map, groundtruth, detections, excluded=None, capacity: int | None = None,
                       iou_threshold: float = 0.5):
    """Frame-AP of a detections CSV with the rules of ``get_ava_performance.py`` (ActivityNet).

    Parameters
    ----------
    label_map : path of a ``.pbtxt`` or a :class:`LabelMap`: the classes evaluated; rows of
        other action ids (ground truth and detections) are filtered and counted.
    groundtruth : path of a ground-truth CSV, or :class:`AvaAnnotations` (already read).
    detections : path of a detections CSV (8 columns with scores), or :class:`AvaAnnotations`.
    excluded : path of an excluded-timestamps CSV or a set of ``(video_id, seconds)``, optional:
        those keyframes are dropped from both.
    capacity : detection rows kept per keyframe after the class filter (default
        :data:`paperlib.metrics_ap.AVA_CAPACITY`, 50, as the official script).
    iou_threshold : float, 0.5 in the official script.

    Returns ``(FrameAPResult, SkipReport)``: AP per class id of the label map (NaN without
    ground truth), their mean, and what was filtered. Every ground-truth row left is a
    ground-truth box of its class (every annotated person is evaluated).
    Raises what the readers raise, and ``ValueError`` if the detections have no scores.
    """
    from ..metrics_ap import AVA_CAPACITY, evaluate_ava

    rep = SkipReport(source="AVA evaluation")
    lm = label_map if isinstance(label_map, LabelMap) else read_label_map(label_map)

    def rows(x, kind, what):
        if isinstance(x, AvaAnnotations):
            keep = np.isin(x.action_ids, lm.class_ids)
            rep.add_filtered(f"{what}: {_NOT_IN_MAP}", int((~keep & (x.action_ids >= 1)).sum()))
            rep.add_filtered(f"{what}: {_NO_ACTION}", int((x.action_ids < 1).sum()))
            return x.select(keep)
        return read_ava_csv(x, kind=kind, label_map=lm, unknown_actions="filter", report=rep)

    gt = rows(groundtruth, "groundtruth", "ground truth")
    det = rows(detections, "detections", "detections")
    if det.scores is None:
        raise ValueError("evaluate_ava_files: the detections need scores (8 columns, the last the score)")
    if excluded is not None:
        ex = excluded if isinstance(excluded, (set, frozenset)) else read_excluded_timestamps(excluded)
        gt = drop_excluded(gt, ex, rep, what="ground-truth rows")
        det = drop_excluded(det, ex, rep, what="detection rows")
    res = evaluate_ava(gt, det, class_ids=lm.class_ids, iou_threshold=iou_threshold,
                       max_per_keyframe=AVA_CAPACITY if capacity is None else capacity)
    return res, rep


def group_keyframes(ann: AvaAnnotations, num_classes: int | None = None) -> dict:
    """Group ground-truth rows into people per keyframe.

    Rows of the same keyframe ``(video_id, timestamp)`` and the same person (the same
    ``person_id`` when there is one, else the same box) are one person with several actions.

    Returns
    -------
    dict ``{(video_id, timestamp): (boxes (n, 4) float32, labels (n, C) uint8 multi-hot with
    column ``action_id - 1``, person_ids (n,) int64)}``, people in order of first appearance.
    ``C`` is ``num_classes`` or the largest action id. Raises ``ValueError`` if an action id
    exceeds ``num_classes``.
    """
    C = int(num_classes) if num_classes is not None else int(ann.action_ids.max(initial=0))
    if len(ann) and ann.action_ids.max() > C:
        raise ValueError(f"group_keyframes: action id {int(ann.action_ids.max())} > num_classes {C}")
    groups = {}
    for i in range(len(ann)):
        key = (ann.video_ids[i], float(ann.timestamps[i]))
        pid = int(ann.person_ids[i])
        who = ("p", pid) if pid >= 0 else ("b",) + tuple(np.round(ann.boxes[i].astype(np.float64), 6))
        people = groups.setdefault(key, {})
        if who not in people:
            people[who] = [ann.boxes[i], np.zeros(C, np.uint8), pid]
        if ann.action_ids[i] >= 1:
            people[who][1][ann.action_ids[i] - 1] = 1
    return {k: (np.stack([p[0] for p in v.values()]).astype(np.float32), np.stack([p[1] for p in v.values()]),
                np.asarray([p[2] for p in v.values()], np.int64)) for k, v in groups.items()}


# ----------------------------------------------------------------------------------------------
# Label maps (protobuf text format, the subset AVA uses)
# ----------------------------------------------------------------------------------------------
_TOKEN = re.compile(r'\s+|#[^\n]*|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<num>-?\d+)|(?P<id>[A-Za-z_][A-Za-z0-9_]*)|(?P<sym>[{}:])')


def _tokens(path, text):
    pos, line = 0, 1
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise FormatError(path, f"unexpected character {text[pos]!r}", line=line)
        kind = m.lastgroup
        if kind:
            yield kind, m.group(kind), line
        line += m.group(0).count("\n")
        pos = m.end()


def read_label_map(path) -> LabelMap:
    """Read an AVA label map (``item { name id }`` or ``label { name label_id label_type }``).

    ``display_name`` fields are accepted and ignored. Raises :class:`FormatError` (file, line,
    field) on a syntax error, an unknown field, a block without a name or id, a non-positive or
    repeated id, or an unknown ``label_type``.
    """
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    toks = list(_tokens(path, text))
    names, types = {}, {}
    i = 0

    def expect(kind, value=None):
        nonlocal i
        if i >= len(toks):
            raise FormatError(path, f"unexpected end of file, expected {value or kind}",
                              line=toks[-1][2] if toks else 1)
        k, v, ln = toks[i]
        if k != kind or (value is not None and v != value):
            raise FormatError(path, f"expected {value or kind}, got {v!r}", line=ln)
        i += 1
        return v, ln

    while i < len(toks):
        block, bline = expect("id")
        if block not in ("item", "label"):
            raise FormatError(path, f"expected 'item' or 'label', got {block!r}", line=bline, field=block)
        expect("sym", "{")
        fields = {}
        while i < len(toks) and toks[i][1] != "}":
            key, kline = expect("id")
            expect("sym", ":")
            if i >= len(toks):
                raise FormatError(path, "unexpected end of file", line=kline, field=key)
            k, v, ln = toks[i]
            i += 1
            if key in ("name", "display_name"):
                if k != "str":
                    raise FormatError(path, f"expected a quoted string, got {v!r}", line=ln, field=key)
                fields[key] = (re.sub(r"\\(.)", r"\1", v[1:-1]), ln)
            elif key in ("id", "label_id"):
                if k != "num":
                    raise FormatError(path, f"expected an integer, got {v!r}", line=ln, field=key)
                fields["id"] = (int(v), ln)
            elif key == "label_type":
                if k != "id" or v not in LABEL_TYPES:
                    raise FormatError(path, f"unknown label type {v!r}; expected one of {LABEL_TYPES}", line=ln, field=key)
                fields["type"] = (v, ln)
            else:
                raise FormatError(path, f"unknown field {key!r}", line=kline, field=key)
        expect("sym", "}")
        if "name" not in fields or "id" not in fields:
            missing = [f for f in ("name", "id") if f not in fields]
            raise FormatError(path, f"{block} block without {' and '.join(missing)}", line=bline, field=missing[0])
        cid, ln = fields["id"]
        if cid < 1:
            raise FormatError(path, f"ids are 1-based, got {cid}", line=ln, field="id")
        if cid in names:
            raise FormatError(path, f"id {cid} defined twice", line=ln, field="id")
        names[cid] = fields["name"][0]
        if "type" in fields:
            types[cid] = fields["type"][0]
    return LabelMap(names=names, types=types)


def write_label_map(path, names, types=None, style: str = "label") -> None:
    """Write a label map.

    Parameters
    ----------
    names : dict ``{id: name}`` or a sequence of names (ids ``1..C`` in order).
    types : dict ``{id: label_type}`` or a sequence, optional (only the ``"label"`` style
        writes them; default ``PERSON_MOVEMENT``).
    style : ``"label"`` (v2.2: ``label { name label_id label_type }``) or ``"item"``
        (``item { name id }``).

    Raises ``ValueError`` for an unknown style or label type, or an id < 1.
    """
    if style not in ("label", "item"):
        raise ValueError(f"write_label_map: style must be 'label' or 'item', got {style!r}")
    nm = dict(names) if isinstance(names, dict) else {i + 1: n for i, n in enumerate(names)}
    if types is None:
        ty = {}
    else:
        ty = dict(types) if isinstance(types, dict) else {i + 1: t for i, t in enumerate(types)}
    out = []
    for cid, name in nm.items():
        if int(cid) < 1:
            raise ValueError(f"write_label_map: ids are 1-based, got {cid}")
        esc = str(name).replace("\\", "\\\\").replace('"', '\\"')
        if style == "item":
            out.append(f'item {{\n  name: "{esc}"\n  id: {int(cid)}\n}}\n')
        else:
            t = ty.get(cid, "PERSON_MOVEMENT")
            if t not in LABEL_TYPES:
                raise ValueError(f"write_label_map: unknown label type {t!r}")
            out.append(f'label {{\n  name: "{esc}"\n  label_id: {int(cid)}\n  label_type: {t}\n}}\n')
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("".join(out))


# ----------------------------------------------------------------------------------------------
# Export of the rendered multi-person set
# ----------------------------------------------------------------------------------------------
def clips_to_ava(clips, boxes=None, scores=None) -> AvaAnnotations:
    """AVA rows of a :class:`paperlib.data.video.MultiPersonClips` set at its keyframes.

    Ground truth (``scores is None``): one row per present person and positive label:
    ``video_id = clips.video_ids[n]``, ``timestamp = clips.keyframe_time``, the keyframe box
    divided by ``(W, H)`` (and clipped to ``[0, 1]``), ``action_id = class index + 1``,
    ``person_id = p``.

    Detections: pass ``boxes (N, P, 4)`` pixels and ``scores (N, P, C)``: one row per present
    person and class.
    """
    W, H = clips.camera.width, clips.camera.height
    kb = clips.boxes[:, clips.keyframe] if boxes is None else np.asarray(boxes, np.float64)
    norm = np.clip(kb / np.array([W, H, W, H], np.float64), 0.0, 1.0)
    vids, ts, bx, acts, pids, sc = [], [], [], [], [], []
    N, P = clips.present.shape
    C = clips.labels.shape[-1]
    for n in range(N):
        for p in range(P):
            if not clips.present[n, p]:
                continue
            classes = np.flatnonzero(clips.labels[n, p]) if scores is None else np.arange(C)
            for c in classes:
                vids.append(clips.video_ids[n])
                ts.append(clips.keyframe_time)
                bx.append(norm[n, p])
                acts.append(c + 1)
                pids.append(p if scores is None else -1)
                if scores is not None:
                    sc.append(float(scores[n, p, c]))
    return AvaAnnotations(vids, ts, np.asarray(bx, np.float32).reshape(-1, 4), acts, pids,
                          None if scores is None else np.asarray(sc, np.float32))


def export_ava(clips, directory, split: str = "train", version: str = "v2.2", keyframe_second: int = 902,
               write_frames: bool = True, style: str = "label", excluded=()) -> dict:
    """Write a rendered multi-person set as an AVA Actions release ships it.

    Files in ``directory``, named as :func:`ava_release_names` (``version``, ``split``):

    - ``ava_{split}_{version}.csv``: ground truth (:func:`clips_to_ava`), every keyframe at
      timestamp ``keyframe_second`` (a whole second in :data:`AVA_KEYFRAME_RANGE`);
    - the 60-class label map name (``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` for v2.2)
      holding the rendered classes with their label types;
    - ``ava_{split}_excluded_timestamps_{version}.csv``: the ``(video_id, second)`` pairs of
      ``excluded`` (empty file if none);
    - ``frames/{video_id}/img_00001.jpg``...: each clip's frames as ``ffmpeg -ss 900 ... -r FPS``
      extracts a movie: file 1 is the frame at :data:`AVA_WINDOW_START` = 900 s, so the keyframe is
      file ``round((keyframe_second - 900) * clips.fps) + 1``; the seconds before the clip's first
      rendered frame repeat that frame (if ``write_frames``).

    Read back with :func:`load_ava_release` (``split``, ``version``) and frames at ``fps =
    clips.fps``, time offset 900 s.

    Returns ``{"csv", "label_map", "excluded", "frames"}`` (paths; ``frames`` is ``None`` without
    ``write_frames``) and ``"keyframe_index"`` (0-based frame of the keyframe in each folder).
    Raises ``ValueError`` for a ``keyframe_second`` outside :data:`AVA_KEYFRAME_RANGE` or too early
    for the clip's frames before its keyframe, and as :func:`ava_release_names`.
    """
    from .frames import write_frame_folder

    names = ava_release_names(version, split, 60)
    lo, hi = AVA_KEYFRAME_RANGE
    if not (lo <= int(keyframe_second) <= hi) or int(keyframe_second) != keyframe_second:
        raise ValueError(f"export_ava: keyframe_second must be a whole second in {AVA_KEYFRAME_RANGE}, got "
                         f"{keyframe_second!r}")
    key_index = int(round((keyframe_second - AVA_WINDOW_START) * clips.fps))
    lead = key_index - int(clips.keyframe)
    if lead < 0:
        raise ValueError(f"export_ava: keyframe_second {keyframe_second} leaves {key_index} frames before the "
                         f"keyframe at {clips.fps:g} fps; the clips have {clips.keyframe}")
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    csv_path, pb_path, ex_path = (d / names[k] for k in ("groundtruth", "label_map", "excluded"))
    ann = clips_to_ava(clips)
    ann.timestamps = np.full(len(ann.timestamps), float(keyframe_second))
    write_ava_csv(csv_path, ann)
    write_label_map(pb_path, list(clips.class_names), list(clips.label_types), style=style)
    with open(ex_path, "w", newline="") as f:
        csv.writer(f).writerows((vid, f"{int(t):04d}") for vid, t in excluded)
    frames_dir = None
    if write_frames:
        frames_dir = d / "frames"
        for n, vid in enumerate(clips.video_ids):
            fr = clips.frames[n]
            write_frame_folder(frames_dir / vid, np.concatenate([np.repeat(fr[:1], lead, 0), fr]))
    return {"csv": str(csv_path), "label_map": str(pb_path), "excluded": str(ex_path),
            "frames": None if frames_dir is None else str(frames_dir), "keyframe_index": key_index}
