"""A memory-mapped cache of the real skeleton data sets: parse once, then read rows on demand.

NTU RGB+D, Kinetics-skeleton and Human3.6M are text/JSON/pickle files that take minutes to hours
to parse and, as arrays, more memory than a laptop has (NTU-60: 56,880 x (2, 300, 25, 3) float32 =
10.2 GB; Kinetics-skeleton train: 240,436 x (3, 300, 18, 2) float32 = 31 GB). :func:`build_cache`
converts a source once, streaming file by file (one sample in memory at a time), into a folder:

- one float32 ``.npy`` file per array (``joints.npy`` for NTU, ``data.npy`` for Kinetics,
  ``positions.npy`` for Human3.6M), written row by row and read back with
  ``np.lib.format.open_memmap(mode="r")``;
- ``index.npz``: the per-sample fields (labels, valid frames, names, subjects, cameras...) and the
  per-sample loss counts;
- ``index.json``, written last (its presence marks a complete cache): the format version, the
  source (absolute path, file count, total bytes), the loader parameters, the class names, the
  files that were skipped and why, and the :class:`~paperlib.data.errors.SkipReport` totals.

:func:`build_cache` reuses a cache whose ``index.json`` matches the source and the parameters and
rebuilds it otherwise. :func:`open_cache` returns the data with a read-only ``np.memmap`` inside
(:class:`NTUArrays`, :class:`~paperlib.data.kinetics.KineticsArrays`, or Human3.6M's dict of
sequences): indexing it reads only the rows touched, and the operating system keeps recently read
pages in its file cache (reclaimable memory, not the process's own).

One NTU cache serves every benchmark: :func:`ntu_select` picks a benchmark's split, classes,
missing-sample list and limit from the index, exactly as
:func:`paperlib.data.ntu.load_ntu_dataset` does (same rows, same order, same labels, same
:class:`~paperlib.data.errors.SkipReport` counts), without reading any joints.

Where the cache goes (:func:`default_cache_dir`): ``<source folder>/.paperlib_cache/<name>``
(``name``: ``ntu``, ``kinetics`` or ``h36m-<file stem>``), or, if that folder cannot be written
(a read-only data set), ``$PAPERLIB_CACHE/<name>-<hash of the source path>`` with
``PAPERLIB_CACHE`` defaulting to ``~/.cache/paperlib``. Every function takes an explicit
``cache_dir`` too.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .arrays import SkeletonArrays
from .errors import FormatError, SkipReport

__all__ = ["CACHE_VERSION", "NTUArrays", "default_cache_dir", "build_cache", "open_cache", "cache_report",
           "ntu_select", "ntu_benchmark_data", "h36m_subjects", "derived_rows"]

#: Bumped whenever the layout of a cache changes; a cache of another version is rebuilt.
CACHE_VERSION = 1
_KINDS = ("ntu", "kinetics", "h36m")


# ---------------------------------------------------------------------------------------------
# Locations and up-to-date checks
# ---------------------------------------------------------------------------------------------
def _writable(path: Path) -> bool:
    p = path
    while not p.exists():
        if p.parent == p:
            return False
        p = p.parent
    return os.access(p, os.W_OK | os.X_OK)


def _kind_of(source) -> str:
    src = Path(source)
    if src.is_file() and src.suffix == ".npz":
        return "h36m"
    if src.is_dir():
        if next(src.glob("*.skeleton"), None) is not None:
            return "ntu"
        if next(src.glob("*.json"), None) is not None:
            return "kinetics"
    raise ValueError(f"build_cache: cannot tell the data set of {str(source)!r}: expected a folder of NTU "
                     f".skeleton files, a folder of Kinetics-skeleton .json clips, or a Human3.6M .npz file "
                     f"(or pass kind=)")


def default_cache_dir(source, kind: str | None = None) -> Path:
    """Where the cache of ``source`` goes by default (see the module docstring).

    ``source``: an NTU or Kinetics folder, or a Human3.6M ``.npz`` file; ``kind``: ``"ntu"``,
    ``"kinetics"`` or ``"h36m"`` (default: guessed from the files). Returns the folder (not
    created). Raises ``ValueError`` if the kind cannot be guessed.
    """
    src = Path(source).resolve()
    kind = kind or _kind_of(src)
    name = f"h36m-{src.stem}" if kind == "h36m" else kind
    base = src.parent if src.is_file() else src
    here = base / ".paperlib_cache" / name
    if _writable(here):
        return here
    root = Path(os.environ.get("PAPERLIB_CACHE") or Path.home() / ".cache" / "paperlib")
    return root / f"{name}-{hashlib.sha1(str(src).encode()).hexdigest()[:10]}"


def _source_files(source, kind):
    src = Path(source)
    if kind == "h36m":
        return [src]
    if not src.is_dir():
        raise FileNotFoundError(f"{'NTU' if kind == 'ntu' else 'Kinetics-skeleton'} root {str(src)!r} is not a folder")
    return sorted(src.glob("*.skeleton" if kind == "ntu" else "*.json"))


def _fingerprint(files) -> dict:
    """``{"file_count", "total_bytes"}`` of the source files (robust to copies, unlike mtimes)."""
    return {"file_count": len(files), "total_bytes": int(sum(f.stat().st_size for f in files))}


# ---------------------------------------------------------------------------------------------
# Writing .npy files row by row
# ---------------------------------------------------------------------------------------------
class _NpyRows:
    """Append rows of a fixed shape to a ``.npy`` file; the header is written for ``max_rows`` and
    rewritten (padded to the same length) with the final count on :meth:`close`."""

    def __init__(self, path: Path, row_shape, max_rows: int, dtype=np.float32):
        self.path, self.row_shape, self.dtype, self.rows = path, tuple(row_shape), np.dtype(dtype), 0
        self.fh = open(path, "wb")
        np.lib.format.write_array_header_1_0(self.fh, self._header(max_rows))
        self.header_len = self.fh.tell()

    def _header(self, n):
        return {"descr": np.lib.format.dtype_to_descr(self.dtype), "fortran_order": False,
                "shape": (int(n),) + self.row_shape}

    def append(self, row: np.ndarray) -> None:
        row = np.ascontiguousarray(row, dtype=self.dtype)
        if row.shape != self.row_shape:
            raise ValueError(f"{self.path.name}: row of shape {row.shape}, expected {self.row_shape}")
        self.fh.write(row.tobytes())
        self.rows += 1

    def close(self) -> None:
        buf = io.BytesIO()
        np.lib.format.write_array_header_1_0(buf, self._header(self.rows))
        text = buf.getvalue()[10:].rstrip(b"\n")  # the dict and its padding, without the newline
        size = self.header_len - 10
        if len(text) + 1 > size:  # pragma: no cover - fewer rows never need more digits
            raise RuntimeError(f"{self.path.name}: the final header does not fit")
        self.fh.seek(0)
        self.fh.write(buf.getvalue()[:8] + struct.pack("<H", size) + text + b" " * (size - len(text) - 1) + b"\n")
        self.fh.close()


def _open_npy(path: Path, expect_rows: int):
    arr = np.lib.format.open_memmap(path, mode="r")
    if arr.shape[0] != expect_rows:
        raise FormatError(path, f"expected {expect_rows} rows (index.json), got {arr.shape[0]}: a damaged cache; "
                                f"delete the folder to rebuild it", field="shape")
    return arr


def _finish(out_dir: Path, tag: str, arrays: dict, meta: dict) -> None:
    """Move the freshly written files into place; ``index.json`` last."""
    np.savez(out_dir / f"index.{tag}.npz", **arrays)
    os.replace(out_dir / f"index.{tag}.npz", out_dir / "index.npz")
    with open(out_dir / f"index.{tag}.json", "w", encoding="utf-8") as fh:
        json.dump(meta, fh)
    os.replace(out_dir / f"index.{tag}.json", out_dir / "index.json")


def _read_meta(out_dir: Path) -> dict | None:
    try:
        with open(Path(out_dir) / "index.json", encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _report_meta(report: SkipReport) -> dict:
    return {"source": report.source, "counts": report.counts, "filtered": report.filtered}


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------
def build_cache(source, out_dir=None, kind: str | None = None, *, label_file=None, max_frames: int = 300,
                max_bodies: int = 2, long_sequences: str = "resample", max_persons: int = 2,
                reduce_to_17: bool = True, force: bool = False, progress: bool | None = None) -> Path:
    """Convert a real data set into a memory-mapped cache, or reuse an up-to-date one.

    Parameters
    ----------
    source : str or os.PathLike
        - ``kind="ntu"``: a folder of NTU RGB+D (60 or 120) ``SsssCcccPpppRrrrAaaa.skeleton`` files;
          every file is read with :func:`paperlib.data.ntu.load_ntu_sample` (``max_bodies``,
          ``max_frames``, ``long_sequences``), all benchmarks and splits together.
        - ``kind="kinetics"``: a Kinetics-skeleton folder of clip JSONs (``kinetics_train/``), with
          its ``label_file``, read clip by clip as :func:`paperlib.data.kinetics.load_kinetics_dataset`
          does (``max_frames``, ``max_persons``).
        - ``kind="h36m"``: VideoPose3D's ``data_3d_h36m.npz`` (:func:`paperlib.data.h36m.load_h36m_3d`,
          every subject, ``reduce_to_17``).
    out_dir : folder of the cache (default :func:`default_cache_dir`); created if needed.
    kind : ``"ntu"``, ``"kinetics"``, ``"h36m"`` or None (guessed from ``source``).
    force : rebuild even if the cache is up to date.
    progress : a tqdm bar over the files (default: when there are more than 1,000).

    Returns
    -------
    Path
        ``out_dir``. A cache is reused when its ``index.json`` has this :data:`CACHE_VERSION`, the
        same absolute source path, file count and total bytes (and label file, for Kinetics) and the
        same parameters; otherwise it is rebuilt. Memory: one sample at a time (the rows are
        appended to the ``.npy`` files as they are read).

    Raises
    ------
    FileNotFoundError
        ``source`` (or ``label_file``) does not exist.
    ValueError
        Unknown ``kind``, a Kinetics source without ``label_file``, bad loader parameters.
    FormatError
        A malformed Kinetics label file or Human3.6M archive (malformed sample files do not raise:
        they are skipped and counted, as the loaders do).

    Notes
    -----
    Losses are recorded as the loaders record them: the files skipped (bad name, malformed, no
    body...) with the reason and the error text, and per sample the bodies, frames and persons
    dropped (counts; the per-sample detail strings are not kept). The build warns once with the
    totals; :func:`cache_report` and :func:`ntu_select` give them back.
    """
    kind = kind or _kind_of(source)
    if kind not in _KINDS:
        raise ValueError(f"build_cache: kind must be one of {_KINDS}, got {kind!r}")
    src = Path(source).resolve()
    if not src.exists():
        raise FileNotFoundError(f"build_cache: {str(source)!r} does not exist")
    if kind == "kinetics":
        if label_file is None:
            raise ValueError("build_cache: a Kinetics-skeleton source needs its label_file")
        label_file = Path(label_file).resolve()
        if not label_file.is_file():
            raise FileNotFoundError(f"build_cache: label file {str(label_file)!r} does not exist")
    if max_frames < 1 or max_bodies < 1 or max_persons < 1:
        raise ValueError(f"build_cache: max_frames, max_bodies and max_persons must be >= 1, "
                         f"got {max_frames}, {max_bodies}, {max_persons}")
    if long_sequences not in ("resample", "truncate"):
        raise ValueError(f"build_cache: long_sequences must be 'resample' or 'truncate', got {long_sequences!r}")
    out_dir = Path(out_dir) if out_dir is not None else default_cache_dir(src, kind)
    files = _source_files(src, kind)
    params = {"ntu": {"max_frames": max_frames, "max_bodies": max_bodies, "long_sequences": long_sequences},
              "kinetics": {"max_frames": max_frames, "max_persons": max_persons},
              "h36m": {"reduce_to_17": bool(reduce_to_17)}}[kind]
    source_meta = {"path": str(src), **_fingerprint(files)}
    if kind == "kinetics":
        source_meta["label_file"] = {"path": str(label_file), **_fingerprint([label_file])}
    key = {"version": CACHE_VERSION, "kind": kind, "source": source_meta, "params": params}
    meta = _read_meta(out_dir)
    if not force and meta is not None and all(meta.get(k) == v for k, v in key.items()):
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    tag = f"tmp{os.getpid()}"
    if progress is None:
        progress = len(files) > 1000
    builder = {"ntu": _build_ntu, "kinetics": _build_kinetics, "h36m": _build_h36m}[kind]
    arrays, extra = builder(src, files, out_dir, tag, params, label_file, progress)
    _finish(out_dir, tag, arrays, {**key, **extra})
    return out_dir


def _bar(files, progress, desc):
    if not progress:
        return files
    from tqdm.auto import tqdm  # noqa: PLC0415

    return tqdm(files, desc=desc, unit="file")


def _str_array(items) -> np.ndarray:
    """A unicode array just wide enough for ``items`` (names are stored in ``index.npz``)."""
    items = list(items)
    return np.asarray(items, dtype=f"U{max([len(t) for t in items] + [1])}")


def _losses(per_sample: list, reasons: list) -> np.ndarray:
    """``(N, R)`` int64 loss counts from a list of per-sample ``SkipReport.counts`` dicts."""
    out = np.zeros((len(per_sample), len(reasons)), np.int64)
    col = {r: i for i, r in enumerate(reasons)}
    for i, counts in enumerate(per_sample):
        for r, n in counts.items():
            out[i, col[r]] = n
    return out


def _build_ntu(src, files, out_dir, tag, params, label_file, progress):
    from .ntu import NUM_JOINTS, load_ntu_sample, parse_ntu_name  # noqa: PLC0415

    M, T = params["max_bodies"], params["max_frames"]
    writer = _NpyRows(out_dir / f"joints.{tag}.npy", (M, T, NUM_JOINTS, 3), len(files))
    report = SkipReport(source=f"NTU RGB+D cache of {src.name}")
    file_names, file_row, file_meta, skipped = [], [], [], {}
    valid, meta_rows, per_sample, reasons = [], [], [], []
    try:
        for f in _bar(files, progress, "NTU -> cache"):
            file_names.append(f.name)
            file_row.append(-1)
            try:
                meta = parse_ntu_name(f)
            except FormatError as err:
                file_meta.append((0, 0, 0, 0, 0))
                skipped[f.name] = ("bad file name", str(err))
                report.add(f, "bad file name", detail=str(err))
                continue
            file_meta.append(tuple(meta[k] for k in ("setup", "camera", "subject", "replication", "action")))
            rep = SkipReport()
            try:
                sample = load_ntu_sample(f, max_bodies=M, max_frames=T, long_sequences=params["long_sequences"],
                                         report=rep)
            except FormatError as err:
                skipped[f.name] = ("malformed file", str(err))
                report.add(f, "malformed file", detail=str(err))
                continue
            if sample.valid_frames == 0:
                skipped[f.name] = ("no body in any frame", None)
                report.add(f, "no body in any frame")
                continue
            report.merge(rep)
            file_row[-1] = writer.rows
            writer.append(sample.joints)
            valid.append(sample.valid_frames)
            meta_rows.append(file_meta[-1])
            per_sample.append(dict(rep.counts))
            reasons += [r for r in rep.counts if r not in reasons]
    finally:
        writer.close()
    os.replace(out_dir / f"joints.{tag}.npy", out_dir / "joints.npy")
    meta_rows = np.asarray(meta_rows, np.int64).reshape(-1, 5)
    kept = np.asarray(file_row) >= 0
    arrays = {"names": _str_array(n.split(".", 1)[0] for n, k in zip(file_names, kept) if k),
              "valid_frames": np.asarray(valid, np.int64),
              "setups": meta_rows[:, 0], "cameras": meta_rows[:, 1], "subjects": meta_rows[:, 2],
              "replications": meta_rows[:, 3], "actions": meta_rows[:, 4],
              "losses": _losses(per_sample, reasons),
              "file_names": _str_array(file_names), "file_row": np.asarray(file_row, np.int64),
              "file_meta": np.asarray(file_meta, np.int64).reshape(-1, 5)}
    report.warn(stacklevel=4)
    return arrays, {"num_samples": int(writer.rows), "loss_reasons": reasons, "skipped": skipped,
                    "report": _report_meta(report)}


def _build_kinetics(src, files, out_dir, tag, params, label_file, progress):
    from .kinetics import NUM_JOINTS, _check_entry, class_names_of, read_checked_clip, read_kinetics_labels  # noqa: PLC0415

    T, M = params["max_frames"], params["max_persons"]
    labels_info = read_kinetics_labels(label_file)
    class_names = class_names_of(label_file, labels_info)
    report = SkipReport(source=f"Kinetics-skeleton ({src.name})")
    absent = sorted(set(labels_info) - {f.stem for f in files})
    if absent:
        report.add(src, "clip in the label file without a JSON file", n=len(absent),
                   detail=", ".join(absent[:5]) + (" ..." if len(absent) > 5 else ""))
    writer = _NpyRows(out_dir / f"data.{tag}.npy", (3, T, NUM_JOINTS, M), len(files))
    # per file: row (>= 0), or -1 skipped before the limit check, or -2 skipped after it (malformed)
    file_names, file_row, skipped, labels, per_sample, reasons = [], [], {}, [], [], []
    try:
        for f in _bar(files, progress, "Kinetics -> cache"):
            clip = f.stem
            file_names.append(clip)
            file_row.append(-1)
            if clip not in labels_info:
                skipped[clip] = ("clip not in the label file", None)
                continue
            try:
                _check_entry(label_file, clip, labels_info[clip])
            except FormatError as err:
                skipped[clip] = ("bad label-file entry", str(err))
                continue
            entry = labels_info[clip]
            if not entry["has_skeleton"]:
                skipped[clip] = ("has_skeleton is false", None)
                continue
            rep = SkipReport()
            try:
                clip_data = read_checked_clip(f, clip, entry, T, M, rep)
            except FormatError as err:
                file_row[-1] = -2
                skipped[clip] = ("malformed clip", str(err))
                continue
            file_row[-1] = writer.rows
            writer.append(clip_data)
            labels.append(entry["label_index"])
            per_sample.append(dict(rep.counts))
            reasons += [r for r in rep.counts if r not in reasons]
    finally:
        writer.close()
    os.replace(out_dir / f"data.{tag}.npy", out_dir / "data.npy")
    for clip, (reason, detail) in skipped.items():
        report.add(src / f"{clip}.json", reason, detail=detail)
    losses = _losses(per_sample, reasons)
    for r, n in zip(reasons, losses.sum(0)):
        report.counts[r] = report.counts.get(r, 0) + int(n)
    arrays = {"names": _str_array(c for c, r in zip(file_names, file_row) if r >= 0),
              "labels": np.asarray(labels, np.int64), "losses": losses,
              "file_names": _str_array(file_names), "file_row": np.asarray(file_row, np.int64)}
    report.warn(stacklevel=4)
    return arrays, {"num_samples": int(writer.rows), "class_names": class_names, "loss_reasons": reasons,
                    "skipped": skipped, "absent": absent, "report": _report_meta(report)}


def _build_h36m(src, files, out_dir, tag, params, label_file, progress):
    from .h36m import load_h36m_3d  # noqa: PLC0415

    data = load_h36m_3d(src, reduce_to_17=params["reduce_to_17"])
    seqs = [(s, a, arr) for s, actions in data.items() for a, arr in actions.items()]
    total = sum(len(arr) for _, _, arr in seqs)
    J = seqs[0][2].shape[1] if seqs else (17 if params["reduce_to_17"] else 32)
    writer = _NpyRows(out_dir / f"positions.{tag}.npy", (J, 3), total)
    index, start = [], 0
    try:
        for s, a, arr in seqs:  # one (T, J, 3) block at a time, as rows
            writer.fh.write(np.ascontiguousarray(arr, np.float32).tobytes())
            writer.rows += len(arr)
            index.append([s, a, start, start + len(arr)])
            start += len(arr)
    finally:
        writer.close()
    os.replace(out_dir / f"positions.{tag}.npy", out_dir / "positions.npy")
    return {"frames": np.asarray([r[2:] for r in index], np.int64).reshape(-1, 2)}, {
        "num_samples": int(total), "sequences": [r[:2] for r in index],
        "report": _report_meta(SkipReport(source=f"Human3.6M cache of {src.name}"))}


# ---------------------------------------------------------------------------------------------
# Opening
# ---------------------------------------------------------------------------------------------
@dataclass(repr=False)
class NTUArrays(SkeletonArrays):
    """NTU samples of a cache: :class:`SkeletonArrays` (``joints`` a read-only ``np.memmap``,
    ``labels = action - 1``, ``frame_sampling="valid"``) plus the rest of every sample's name.

    Attributes
    ----------
    setups, replications, actions : ``(N,)`` int64, 1-based ids (``actions - 1`` are the labels
        into ``class_names``: the 60 NTU RGB+D names, or the 120 of NTU RGB+D 120 when a sample
        has an action above 60).
    losses : ``(N, R)`` int64, per sample the units dropped for each of ``loss_reasons`` (bodies
        beyond ``max_bodies``, frames without a kept body, ... as :func:`~paperlib.data.ntu.load_ntu_sample`
        counts them).
    loss_reasons : list[str]
    """

    setups: np.ndarray = None
    replications: np.ndarray = None
    actions: np.ndarray = None
    losses: np.ndarray = None
    loss_reasons: list = None


def open_cache(out_dir):
    """Open a cache written by :func:`build_cache`; nothing but the small index is read.

    Returns
    -------
    NTUArrays
        For NTU: every cached sample in name order; ``joints (N, M, T, 25, 3)`` a read-only
        ``np.memmap`` (float32, metres), ``frame_sampling="valid"``. Pick a benchmark with
        :func:`ntu_select` / :func:`ntu_benchmark_data`.
    KineticsArrays
        For Kinetics-skeleton: ``data (N, 3, T, 18, M)`` a read-only ``np.memmap``, ``labels``,
        ``names``, ``class_names``, as :func:`~paperlib.data.kinetics.load_kinetics_dataset`
        returns them (without ``limit``: take the first rows).
    dict
        For Human3.6M: ``{subject: {action: (T, J, 3) read-only memmap}}`` as
        :func:`~paperlib.data.h36m.load_h36m_3d` returns for every subject (pick them with
        :func:`h36m_subjects`).

    Raises
    ------
    FileNotFoundError
        No complete cache in ``out_dir`` (no ``index.json``).
    FormatError
        A cache of another :data:`CACHE_VERSION`, or an array whose row count disagrees with the
        index (rebuild it with :func:`build_cache`).
    """
    out_dir = Path(out_dir)
    meta = _read_meta(out_dir)
    if meta is None:
        raise FileNotFoundError(f"open_cache: no cache in {str(out_dir)!r} (index.json missing); "
                                f"build it with paperlib.data.cache.build_cache")
    if meta.get("version") != CACHE_VERSION:
        raise FormatError(out_dir / "index.json", f"cache version {meta.get('version')!r}, this code reads "
                                                  f"{CACHE_VERSION}: rebuild it with build_cache", field="version")
    with np.load(out_dir / "index.npz") as z:
        idx = {k: z[k] for k in z.files}
    n = meta["num_samples"]
    if meta["kind"] == "ntu":
        from .ntu import NTU60_CLASS_NAMES, NTU120_CLASS_NAMES  # noqa: PLC0415

        actions = idx["actions"]
        names = NTU120_CLASS_NAMES if len(actions) and actions.max() > 60 else NTU60_CLASS_NAMES
        return NTUArrays(joints=_open_npy(out_dir / "joints.npy", n), labels=actions - 1,
                         valid_frames=idx["valid_frames"], subjects=idx["subjects"], cameras=idx["cameras"],
                         names=idx["names"].tolist(), class_names=list(names), skeleton_name="ntu25",
                         frame_sampling="valid", setups=idx["setups"], replications=idx["replications"],
                         actions=actions, losses=idx["losses"], loss_reasons=list(meta["loss_reasons"]))
    if meta["kind"] == "kinetics":
        from .kinetics import KineticsArrays  # noqa: PLC0415

        return KineticsArrays(data=_open_npy(out_dir / "data.npy", n), labels=idx["labels"],
                              names=idx["names"].tolist(), class_names=list(meta["class_names"]))
    pos = _open_npy(out_dir / "positions.npy", n)
    out: dict = {}
    for (s, a), (b, e) in zip(meta["sequences"], idx["frames"]):
        out.setdefault(s, {})[a] = pos[b:e]
    return out


def cache_report(out_dir, limit: int | None = None) -> SkipReport:
    """The :class:`SkipReport` of a cache's build: every loss of every file (NTU: all splits; use
    :func:`ntu_select` for one split's). For Kinetics, ``limit`` gives the report of
    ``load_kinetics_dataset(..., limit=limit)`` (the first ``limit`` clips kept, the rest
    filtered). Raises ``FileNotFoundError`` without a cache."""
    out_dir = Path(out_dir)
    meta = _read_meta(out_dir)
    if meta is None:
        raise FileNotFoundError(f"cache_report: no cache in {str(out_dir)!r}")
    if meta["kind"] != "kinetics" or limit is None:
        r = meta["report"]
        return SkipReport(source=r["source"], counts=dict(r["counts"]), filtered=dict(r["filtered"]),
                          items=[(k, v[0] if v[1] is None else f"{v[0]}: {v[1]}") for k, v in meta["skipped"].items()])
    with np.load(out_dir / "index.npz") as z:
        file_names, file_row, losses = z["file_names"], z["file_row"], z["losses"]
    src = Path(meta["source"]["path"])
    report = SkipReport(source=f"Kinetics-skeleton ({src.name})")
    if meta["absent"]:
        a = meta["absent"]
        report.add(src, "clip in the label file without a JSON file", n=len(a),
                   detail=", ".join(a[:5]) + (" ..." if len(a) > 5 else ""))
    kept = 0
    for clip, row in zip(file_names.tolist(), file_row.tolist()):
        if row == -1:
            reason, detail = meta["skipped"][clip]
            report.add(src / f"{clip}.json", reason, detail=detail)
        elif kept >= limit:
            report.add_filtered("beyond limit")
        elif row == -2:
            reason, detail = meta["skipped"][clip]
            report.add(src / f"{clip}.json", reason, detail=detail)
        else:
            for r, n in zip(meta["loss_reasons"], losses[row]):
                report.add(clip, r, n=int(n))
            kept += 1
    return report


def ntu_select(cache, benchmark: str = "xsub", split: str = "train", classes=None, limit: int | None = None,
               missing_list=None, warn: bool = True):
    """The rows of an NTU cache that :func:`paperlib.data.ntu.load_ntu_dataset` would load.

    Parameters
    ----------
    cache : an NTU cache folder (:func:`build_cache`); only its index is read.
    benchmark, split, classes, limit, missing_list
        As for :func:`~paperlib.data.ntu.load_ntu_dataset` (the loader parameters ``max_frames``,
        ``max_bodies``, ``long_sequences`` are those of the cache).
    warn : emit the report's ``UserWarning`` summary, as the loader does.

    Returns
    -------
    rows : ``(n,)`` int64, ascending rows of ``open_cache(cache)``, in the loader's order (sorted
        names).
    labels : ``(n,)`` int64, 0-based into ``class_names`` (``classes`` order).
    class_names : list[str]
    report : SkipReport with the loader's counts for this split (losses of the skipped files and of
        the kept samples; samples filtered out on request).

    Raises
    ------
    ValueError
        As the loader: unknown benchmark or split, a bad class id, ``limit < 0``.
    FileNotFoundError, FormatError
        A missing cache or missing list; a malformed missing list.
    """
    from .ntu import BENCHMARKS, class_selection, left_out, read_missing_list  # noqa: PLC0415

    if benchmark not in BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; expected one of {BENCHMARKS}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if limit is not None and limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    folder = Path(cache)
    meta = _read_meta(folder)
    if meta is None:
        raise FileNotFoundError(f"ntu_select: no cache in {str(folder)!r} (index.json missing)")
    if meta.get("kind") != "ntu" or meta.get("version") != CACHE_VERSION:
        raise FormatError(folder / "index.json", f"expected an NTU cache of version {CACHE_VERSION}, got "
                                                 f"{meta.get('kind')!r} version {meta.get('version')!r}", field="kind")
    with np.load(folder / "index.npz") as z:
        file_names, file_row, file_meta, losses = (z["file_names"].tolist(), z["file_row"].tolist(),
                                                   z["file_meta"].tolist(), z["losses"])
    skipped, loss_reasons = meta["skipped"], meta["loss_reasons"]
    ntu120, all_names, classes, label_of = class_selection(benchmark, classes)
    missing = read_missing_list(missing_list) if missing_list is not None else set()
    report = SkipReport(source=f"NTU RGB+D{' 120' if ntu120 else ''} ({benchmark}, {split})")
    keys = ("setup", "camera", "subject", "replication", "action")
    rows, labels = [], []
    for fname, row, fm in zip(file_names, file_row, file_meta):
        if row < 0 and skipped[fname][0] == "bad file name":
            report.add(fname, "bad file name", detail=skipped[fname][1])
            continue
        m = dict(zip(keys, fm))
        why = left_out(m, benchmark, split, label_of)
        if why:
            report.add_filtered(why)
            continue
        stem = fname.split(".", 1)[0]
        if stem in missing:
            report.add(fname, "listed as missing skeletons")
            continue
        if limit is not None and len(rows) >= limit:
            report.add_filtered("beyond limit")
            continue
        if row < 0:
            reason, detail = skipped[fname]
            report.add(fname, reason, detail=detail)
            continue
        for r, n in zip(loss_reasons, losses[row]):
            report.add(stem, r, n=int(n))
        rows.append(row)
        labels.append(label_of[m["action"]])
    if warn:
        report.warn()
    return (np.asarray(rows, np.int64), np.asarray(labels, np.int64), [all_names[a - 1] for a in classes], report)


def ntu_benchmark_data(root, benchmark: str = "xsub", cache_dir=None, missing_list=None, classes=None,
                       limit: int | None = None, **build):
    """An NTU benchmark from the cache of ``root``: ``(data, train_idx, test_idx, reports)``.

    Builds (or reuses) the cache of ``root`` (:func:`build_cache`, ``cache_dir`` default
    :func:`default_cache_dir`; ``build`` passes ``max_frames``, ``max_bodies``,
    ``long_sequences``, ``progress``), selects the two splits with :func:`ntu_select`, and
    returns one :class:`NTUArrays` holding both splits' samples in name order (``labels`` and
    ``class_names`` those of the benchmark; ``joints`` a lazy memmap view when the selected
    rows are consecutive, as the NTU RGB+D 60 samples are inside an NTU RGB+D 120 folder, else
    the selected rows read into memory), the row indices ``train_idx``, ``test_idx`` into it
    (ascending), and the two :class:`SkipReport` (``{"train": ..., "test": ...}``).

    Raises as :func:`build_cache` and :func:`ntu_select`.
    """
    folder = build_cache(root, cache_dir, "ntu", **build)
    full = open_cache(folder)
    sel = {s: ntu_select(folder, benchmark, s, classes=classes, limit=limit, missing_list=missing_list)
           for s in ("train", "test")}
    rows = np.concatenate([sel["train"][0], sel["test"][0]])
    order = np.argsort(rows, kind="stable")
    labels = np.concatenate([sel["train"][1], sel["test"][1]])[order]
    data = full.subset(rows[order])
    data = replace(data, labels=labels, class_names=sel["train"][2])
    pos = np.empty(len(rows), np.int64)
    pos[order] = np.arange(len(rows))
    ntr = len(sel["train"][0])
    return data, pos[:ntr], pos[ntr:], {s: v[3] for s, v in sel.items()}


def h36m_subjects(positions: dict, subjects, path="data_3d_h36m.npz") -> dict:
    """``{subject: {action: array}}`` of the requested ``subjects`` (one str or a sequence; None:
    all) from :func:`open_cache`'s Human3.6M dict, in the order asked. Raises :class:`FormatError`
    naming ``path`` and ``positions_3d['S?']`` for a subject not in the cache, as
    :func:`~paperlib.data.h36m.load_h36m_3d` does."""
    if subjects is None:
        return dict(positions)
    subjects = [subjects] if isinstance(subjects, str) else list(subjects)
    for s in subjects:
        if s not in positions:
            raise FormatError(path, f"subject not found (subjects present: {list(positions)})",
                              field=f"positions_3d[{s!r}]")
    return {s: positions[s] for s in subjects}


# ---------------------------------------------------------------------------------------------
# Arrays derived from a cache, stored beside it
# ---------------------------------------------------------------------------------------------
def derived_rows(cache_dir, name: str, n: int, row_shape, compute, chunk_rows: int, dtype=np.float32):
    """An array computed from a cache's rows once, stored in ``<cache_dir>/derived/<name>.npy`` and
    read back as a read-only memmap while the cache is unchanged.

    Parameters
    ----------
    cache_dir : a folder of :func:`build_cache` (its ``index.json`` identifies the cache).
    name : the file name (say which computation and parameters: ``"ar2d-F64-n240436"``).
    n, row_shape, dtype : the array's shape ``(n, *row_shape)`` and dtype.
    compute : ``compute(start, stop)`` -> the rows ``[start, stop)`` (ndarray or tensor).
    chunk_rows : rows computed at a time (the memory of one chunk's computation).

    Returns
    -------
    np.memmap or None
        ``(n, *row_shape)`` read-only. Reused when ``<name>.json`` records the same ``index.json``
        (its SHA-1), name, shape and dtype; otherwise computed chunk by chunk into a file-backed
        memmap (its pages are the operating system's file cache, not the process's memory) and
        renamed into place, the ``.json`` written last. ``None`` when the folder cannot be written
        (a read-only cache): the caller computes the rows in memory.

    Raises ``FileNotFoundError`` when ``cache_dir`` holds no cache.
    """
    cache_dir = Path(cache_dir)
    index = cache_dir / "index.json"
    if not index.exists():
        raise FileNotFoundError(f"derived_rows: no cache in {str(cache_dir)!r} (index.json missing)")
    shape = (int(n),) + tuple(int(s) for s in row_shape)
    key = {"version": CACHE_VERSION, "index_sha1": hashlib.sha1(index.read_bytes()).hexdigest(), "name": name,
           "shape": list(shape), "dtype": np.dtype(dtype).str}
    folder = cache_dir / "derived"
    path, meta = folder / f"{name}.npy", folder / f"{name}.json"
    try:
        if meta.exists() and path.exists() and json.loads(meta.read_text()) == key:
            arr = np.lib.format.open_memmap(path, mode="r")
            if arr.shape == shape:
                return arr
        folder.mkdir(exist_ok=True)
        tmp = folder / f"{name}.tmp{os.getpid()}.npy"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
    except OSError:
        return None
    try:
        for i in range(0, shape[0], max(1, chunk_rows)):
            stop = min(i + max(1, chunk_rows), shape[0])
            part = compute(i, stop)
            out[i:stop] = part.numpy() if hasattr(part, "numpy") else part
        out.flush()
        del out
        os.replace(tmp, path)
        meta.write_text(json.dumps(key))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return np.lib.format.open_memmap(path, mode="r")
