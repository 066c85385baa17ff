"""Decoded video frames on disk: decode once in parallel, then read batches from a memory map.

Notebook 03 on NTU RGB+D (56,880 clips x 8 frames x 224^2 x 3 uint8: 68 GB) and notebook 04 on
AVA (about 2.4 MB per keyframe at 16 x 224^2 x 3: roughly 500 GB for the training split) cannot
hold their decoded frames in memory, and decoding them one clip after another in one process takes
hours (NTU RGB, 8 frames per clip: about 2.5 h). :func:`build_frame_cache`

- decodes every clip (or keyframe) once, in ``workers`` processes of a
  :class:`torch.utils.data.DataLoader` whose :class:`DecodeDataset` decodes one item per
  ``__getitem__`` (PIL, no torchvision), in order;
- writes the frames row by row into a uint8 ``.npy`` file (``np.lib.format.open_memmap``), the
  per-item side arrays (2D pose, box mappings...) into an ``.npz`` and the build's
  :class:`~paperlib.data.errors.SkipReport` into a small JSON index, written last (its presence
  marks a complete cache);
- reuses that cache while its key matches (format version, parameters, the items and the
  fingerprint of their source files: count, bytes, latest ``mtime``, and a digest of every file's
  size and ``mtime``; see :func:`file_stamp`), and rebuilds it otherwise;
- returns the frames as an ``np.memmap`` (mode ``"r"`` or ``"c"``): indexing a batch reads only
  the rows it touches, and the pages read are the operating system's file cache (reclaimable),
  not the process's own memory.

Where caches go (:func:`default_frame_cache_dir`): ``<root>/.paperlib_cache/``, or, where ``root``
cannot be written (a read-only data set), ``$PAPERLIB_CACHE/frames-<hash of root>`` with
``PAPERLIB_CACHE`` defaulting to ``~/.cache/paperlib``; every loader takes an explicit
``cache_dir`` too. Files: ``<name>.npy`` (frames), ``<name>.npz`` (side arrays), ``<name>.json``
(index), ``<name>.lock`` (held while building, so that processes started together build once).

Also: :func:`scratch_memmap` (an unnamed temporary file mapped as an array, for features that live
as long as one run, e.g. notebook 03's trunk maps) and :class:`RowSubset` (rows of a memory-mapped
array picked by an index, without reading them).
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cache import _writable
from .errors import FormatError, SkipReport

__all__ = ["FRAME_CACHE_VERSION", "default_frame_cache_dir", "default_workers", "file_stamp", "DecodeDataset",
           "fingerprint", "map_threads", "decode_in_workers", "FrameCache", "build_frame_cache", "ntu_rgb_cache",
           "ava_keyframe_cache", "scratch_memmap", "RowSubset"]

#: Bumped whenever the layout of a frame cache changes; a cache of another version is rebuilt.
FRAME_CACHE_VERSION = 1


# ---------------------------------------------------------------------------------------------
# Locations and fingerprints
# ---------------------------------------------------------------------------------------------
def default_frame_cache_dir(root) -> Path:
    """``<root>/.paperlib_cache`` if it can be written, else ``$PAPERLIB_CACHE/frames-<10 hex digits
    of sha1(absolute root)>`` (``PAPERLIB_CACHE`` defaults to ``~/.cache/paperlib``). Not created."""
    src = Path(root).resolve()
    here = src / ".paperlib_cache"
    if _writable(here):
        return here
    base = Path(os.environ.get("PAPERLIB_CACHE") or Path.home() / ".cache" / "paperlib")
    return base / f"frames-{hashlib.sha1(str(src).encode()).hexdigest()[:10]}"


def default_workers(n_items: int | None = None) -> int:
    """``min(4, CPUs this process may use[, n_items])``: decoding processes of :func:`decode_in_workers`."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cpus = os.cpu_count() or 1
    w = min(4, cpus)
    return max(0, min(w, n_items)) if n_items is not None else w


def file_stamp(path) -> list:
    """``[size in bytes, mtime in ns]`` of a file, or ``[-1, -1]`` if it cannot be read (the decoder
    then raises its own error naming the file)."""
    try:
        st = os.stat(path)
    except OSError:
        return [-1, -1]
    return [int(st.st_size), int(st.st_mtime_ns)]


def fingerprint(stamps: list, extra=None) -> dict:
    """Summary of the source files of every item: ``stamps[i]`` is the list of :func:`file_stamp`
    pairs of item ``i``'s files; ``extra`` anything else JSON-serialisable that the frames depend on
    (names, frame counts...). Returns ``{"items", "file_count", "total_bytes", "latest_mtime_ns",
    "digest"}``, the digest a sha1 of the stamps and ``extra``, in order."""
    pairs = [p for item in stamps for p in item]
    text = json.dumps([stamps, extra], separators=(",", ":"), default=str)
    return {"items": len(stamps), "file_count": len(pairs), "total_bytes": int(sum(max(p[0], 0) for p in pairs)),
            "latest_mtime_ns": int(max((p[1] for p in pairs), default=0)),
            "digest": hashlib.sha1(text.encode()).hexdigest()}


def map_threads(fn, items, workers: int) -> list:
    """``[fn(x) for x in items]`` on ``max(1, 2 * workers)`` threads (for ``os.stat``/``listdir``, which
    release the GIL), in order."""
    if len(items) < 64 or workers < 1:
        return [fn(x) for x in items]
    from concurrent.futures import ThreadPoolExecutor  # noqa: PLC0415

    with ThreadPoolExecutor(max_workers=2 * workers) as ex:
        return list(ex.map(fn, items, chunksize=64))


# ---------------------------------------------------------------------------------------------
# Parallel decoding
# ---------------------------------------------------------------------------------------------
def _identity(x):
    return x


class DecodeDataset:
    """A map-style :class:`torch.utils.data.Dataset`: item ``i`` is ``("ok", fn(items[i]))``, or
    ``("error", exception)`` if ``fn`` raised (so that the error reaches the caller as raised, e.g.
    a :class:`~paperlib.data.errors.FormatError` naming its file and field, instead of the
    DataLoader's re-wrapped copy). ``fn`` and ``items`` must be picklable where workers are spawned
    (module-level functions, ``functools.partial``)."""

    def __init__(self, fn, items):
        self.fn, self.items = fn, list(items)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        try:
            return "ok", self.fn(self.items[i])
        except Exception as err:  # noqa: BLE001 -- handed back and raised in the main process
            return "error", err


def decode_in_workers(fn, items, workers: int | None = None, progress: bool | None = None, desc: str = "decode"):
    """Yield ``fn(item)`` for every item, in order, computed in ``workers`` DataLoader processes
    (``0``: in this process; default :func:`default_workers`). ``progress``: a tqdm bar (default:
    more than 1,000 items). The first item whose ``fn`` raised re-raises that exception here
    (the workers are then shut down)."""
    from torch.utils.data import DataLoader  # noqa: PLC0415

    items = list(items)
    workers = default_workers(len(items)) if workers is None else int(workers)
    loader = DataLoader(DecodeDataset(fn, items), batch_size=None, shuffle=False, num_workers=workers,
                        collate_fn=_identity, persistent_workers=False)
    it = iter(loader)
    if progress is None:
        progress = len(items) > 1000
    if progress:
        from tqdm.auto import tqdm  # noqa: PLC0415

        it = tqdm(it, total=len(items), desc=desc, unit="clip")
    try:
        for status, value in it:
            if status == "error":
                raise value
            yield value
    finally:
        del it


# ---------------------------------------------------------------------------------------------
# The cache
# ---------------------------------------------------------------------------------------------
@dataclass
class FrameCache:
    """What :func:`build_frame_cache` returns.

    Attributes
    ----------
    frames : np.memmap (or np.ndarray without a cache folder), uint8, ``(N, *frame_shape)``.
    arrays : dict of np.ndarray, ``(N, ...)`` each: the decoder's side arrays, stacked.
    report : SkipReport: the losses the decoder reported, in item order (restored from the index
        when the cache is reused).
    path : Path of the ``.npy`` file, or None.
    built : bool, whether this call decoded the items (False: reused).
    """

    frames: np.ndarray
    arrays: dict
    report: SkipReport
    path: Path | None
    built: bool


def _report_to_json(rep: SkipReport) -> dict:
    return {"counts": rep.counts, "items": [list(i) for i in rep.items], "filtered": rep.filtered}


def _report_from_json(d: dict, source: str) -> SkipReport:
    return SkipReport(source=source, counts=dict(d["counts"]), items=[tuple(i) for i in d["items"]],
                      filtered=dict(d["filtered"]))


class _Lock:
    """An exclusive ``flock`` on ``path`` (no-op where ``fcntl`` is missing)."""

    def __init__(self, path: Path):
        self.path, self.fh = path, None

    def __enter__(self):
        try:
            import fcntl  # noqa: PLC0415
        except ImportError:
            return self
        self.fh = open(self.path, "a+")  # noqa: SIM115
        fcntl.flock(self.fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        if self.fh is not None:
            import fcntl  # noqa: PLC0415

            fcntl.flock(self.fh, fcntl.LOCK_UN)
            self.fh.close()


def _read_index(path: Path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def _decode_into(out, fn, items, workers, progress, desc):
    """Decode every item into ``out[i]``; returns (side arrays stacked, merged report)."""
    side: dict = {}
    report = SkipReport()
    for i, res in enumerate(decode_in_workers(fn, items, workers, progress, desc)):
        res = dict(res)
        out[i] = res.pop("frames")
        rep = res.pop("report", None)
        if rep is not None:
            report.merge(rep)
        for k, v in res.items():
            side.setdefault(k, []).append(np.asarray(v))
    return {k: np.stack(v) for k, v in side.items()}, report


def build_frame_cache(name: str, fn, items, frame_shape, key: dict, cache_dir=None, workers: int | None = None,
                      mode: str = "r", force: bool = False, progress: bool | None = None,
                      source: str = "") -> FrameCache:
    """Decode ``items`` with ``fn`` into ``cache_dir/<name>.npy`` once; reuse it while ``key`` matches.

    Parameters
    ----------
    name : file stem of the cache, e.g. ``"ntu_rgb_8x224"``.
    fn : ``fn(item) -> dict`` with ``"frames"``: uint8 array of ``frame_shape``, optionally
        ``"report"`` (a :class:`SkipReport` of this item's losses) and any number of side arrays of a
        fixed shape per item (stacked into ``FrameCache.arrays``). Runs in DataLoader workers.
    items : the items (picklable), in the order of the rows.
    frame_shape : shape of one item's frames, e.g. ``(3, T, H, W)``.
    key : JSON-serialisable description of the parameters and the source files (the caller's
        :func:`fingerprint`); a cache whose stored key differs is rebuilt.
    cache_dir : folder of the cache (created); ``None``: no cache, the frames are decoded into an
        in-memory array (the same values).
    workers : decoding processes (default :func:`default_workers`); ``0``: this process.
    mode : ``np.memmap`` mode of the returned frames: ``"r"`` (read-only) or ``"c"`` (copy-on-write:
        writable in memory, never written back; needed by ``torch.from_numpy``, which warns on
        read-only arrays).
    force : rebuild even if up to date.
    progress : tqdm bar while decoding (default: more than 1,000 items).
    source : ``SkipReport.source`` of the returned report.

    Returns
    -------
    FrameCache

    Raises
    ------
    Whatever ``fn`` raises for the first item (in order) that fails, unchanged (e.g.
    :class:`~paperlib.data.errors.FormatError` naming the file); no index is written then.
    ``ValueError`` for an unknown ``mode``.
    """
    if mode not in ("r", "c"):
        raise ValueError(f"build_frame_cache: mode must be 'r' or 'c', got {mode!r}")
    items = list(items)
    n, frame_shape = len(items), tuple(int(s) for s in frame_shape)
    if cache_dir is None or n == 0:
        out = np.zeros((n, *frame_shape), np.uint8)
        side, report = _decode_into(out, fn, items, workers, progress, name)
        report.source = source
        return FrameCache(out, side, report, None, True)
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    npy, npz, idx = (cache_dir / f"{name}{ext}" for ext in (".npy", ".npz", ".json"))
    full_key = {"version": FRAME_CACHE_VERSION, "name": name, "shape": [n, *frame_shape], **key}
    with _Lock(cache_dir / f"{name}.lock"):
        meta = _read_index(idx)
        if not force and meta is not None and meta.get("key") == full_key and npy.exists() and npz.exists():
            frames = np.lib.format.open_memmap(npy, mode=mode)
            if frames.shape == (n, *frame_shape) and frames.dtype == np.uint8:
                with np.load(npz) as z:
                    side = {k: z[k] for k in z.files}
                return FrameCache(frames, side, _report_from_json(meta["report"], source), npy, False)
        idx.unlink(missing_ok=True)                     # no index while the files are replaced
        tag = f"tmp{os.getpid()}"
        tmp_npy, tmp_npz = cache_dir / f"{name}.{tag}.npy", cache_dir / f"{name}.{tag}.npz"
        try:
            out = np.lib.format.open_memmap(tmp_npy, mode="w+", dtype=np.uint8, shape=(n, *frame_shape))
            side, report = _decode_into(out, fn, items, workers, progress, name)
            out.flush()
            del out
            np.savez(tmp_npz, **side)
            os.replace(tmp_npy, npy)
            os.replace(tmp_npz, npz)
        except BaseException:
            tmp_npy.unlink(missing_ok=True)
            tmp_npz.unlink(missing_ok=True)
            raise
        meta = {"key": full_key, "report": _report_to_json(report), "arrays": sorted(side)}
        with open(cache_dir / f"{name}.{tag}.json", "w", encoding="utf-8") as fh:
            json.dump(meta, fh)
        os.replace(cache_dir / f"{name}.{tag}.json", idx)
    report.source = source
    return FrameCache(np.lib.format.open_memmap(npy, mode=mode), side, report, npy, True)


# ---------------------------------------------------------------------------------------------
# NTU RGB+D clips and AVA keyframes
# ---------------------------------------------------------------------------------------------
def _ntu_stamp(args):
    """(rgb folder, skeleton file, T) -> [frame count or error text, stamps of the skeleton and the
    sampled frames]."""
    from .frames import FRAME_TEMPLATE, list_frame_numbers, sample_indices  # noqa: PLC0415

    folder, skel, T = args
    st = [file_stamp(skel)]
    try:
        n = len(list_frame_numbers(folder))
    except (FormatError, OSError, ValueError) as err:
        return [f"error: {err}", st]
    return [n, st + [file_stamp(Path(folder) / FRAME_TEMPLATE.format(1 + i))
                     for i in np.unique(sample_indices(n, T)).tolist()]]


def _decode_ntu_rgb(item):
    """One NTU RGB+D clip -> frames ``(3, T, size, size)`` uint8, the most active body's 2D joints
    ``(T, 25, 2)`` float32 (pixels of the resized frames), its presence ``(T,)`` and the clip's
    :class:`SkipReport`."""
    from .frames import load_ntu_rgb_pose  # noqa: PLC0415

    folder, skel, T, size = item
    rep = SkipReport()
    smp = load_ntu_rgb_pose(folder, skel, num_samples=T, size=(size, size), report=rep)
    return {"frames": np.ascontiguousarray(smp.frames.transpose(3, 0, 1, 2)), "joints2d": smp.joints2d[0],
            "present": smp.present[0], "report": rep}


def ntu_rgb_cache(root, names, frames: int, size: int, cache_dir=None, workers: int | None = None,
                  force: bool = False, progress: bool | None = None, source: str = "") -> FrameCache:
    """NTU RGB+D clips ``names`` of ``root`` (``root/rgb/<name>/img_00001.jpg...`` and
    ``root/skeletons/<name>.skeleton``), decoded by
    :func:`paperlib.data.frames.load_ntu_rgb_pose` (``frames`` uniformly sampled frames resized to
    ``size x size``), through :func:`build_frame_cache` into ``cache_dir/ntu_rgb_<frames>x<size>.npy``.

    Returns a :class:`FrameCache`: ``frames`` ``(N, 3, T, size, size)`` uint8, the layout notebook
    03's models take, as a copy-on-write ``np.memmap`` (``torch.from_numpy`` wraps it without a
    copy; ``None`` cache_dir: in memory); ``arrays["joints2d"]`` ``(N, T, 25, 2)`` float32 and
    ``arrays["present"]`` ``(N, T)`` bool of body 0; ``report``: the clips' losses. Up to date while
    the names, each folder's frame count and the size and ``mtime`` of every skeleton file and
    sampled frame are unchanged. Raises the :class:`~paperlib.data.errors.FormatError` of the
    first broken clip (file, line, field).
    """
    root = Path(root)
    items = [(str(root / "rgb" / n), str(root / "skeletons" / f"{n}.skeleton"), int(frames), int(size))
             for n in names]
    w = default_workers(len(items)) if workers is None else int(workers)
    key = None
    if cache_dir is not None:
        st = map_threads(_ntu_stamp, [(f, s, int(frames)) for f, s, _, _ in items], w)
        key = {"params": {"frames": int(frames), "size": int(size), "sampling": "uniform", "max_bodies": 2},
               "source": {"root": str(root.resolve()),
                          **fingerprint([s[1] for s in st], [list(names), [s[0] for s in st]])}}
    return build_frame_cache(f"ntu_rgb_{frames}x{size}", _decode_ntu_rgb, items, (3, frames, size, size), key,
                             cache_dir, w, mode="c", force=force, progress=progress, source=source)


def _ava_stamp(args):
    """(frame folder, keyframe centres, T) -> [frame count or error text, stamps of every frame any
    keyframe samples]."""
    from .frames import FRAME_TEMPLATE, list_frame_numbers, sample_indices  # noqa: PLC0415

    folder, centres, T = args
    try:
        n = len(list_frame_numbers(folder))
    except (FormatError, OSError, ValueError) as err:
        return [f"error: {err}", []]
    used = sorted({i for c in centres if 0 <= c < n for i in sample_indices(n, T, "center", c).tolist()})
    return [n, [file_stamp(Path(folder) / FRAME_TEMPLATE.format(1 + i)) for i in used]]


def _decode_ava(item):
    """One AVA keyframe -> its ``T`` frames ``(T, size, size, 3)`` uint8 centred on the keyframe,
    letterboxed, with the box mapping (``box_scale``, ``box_offset``, ``(4,)`` float64 each)."""
    from .frames import read_frame_folder  # noqa: PLC0415

    folder, centre, n, T, size, csv_path, where = item
    if isinstance(n, int) and not 0 <= centre < n:
        raise FormatError(csv_path, f"keyframe {where} is frame {centre}, but {folder} holds {n} frames",
                          field="timestamp")
    clip = read_frame_folder(folder, num_samples=T, mode="center", center=centre, size=(size, size), fit="letterbox")
    if not 0 <= centre < clip.num_frames:
        raise FormatError(csv_path, f"keyframe {where} is frame {centre}, but {folder} holds {clip.num_frames} "
                          f"frames", field="timestamp")
    return {"frames": clip.frames, "box_scale": clip.box_scale, "box_offset": clip.box_offset}


def ava_keyframe_cache(name: str, frame_root, keyframes, T: int, size: int, csv_path, cache_dir=None,
                       workers: int | None = None, force: bool = False, progress: bool | None = None,
                       describe=None) -> FrameCache:
    """The ``T`` frames around every AVA keyframe, decoded by
    :func:`paperlib.data.frames.read_frame_folder` (``mode="center"``, ``fit="letterbox"`` into
    ``size x size``), through :func:`build_frame_cache` into ``cache_dir/<name>_<T>x<size>.npy``.

    ``keyframes``: ``(video_id, centre frame index)`` pairs, frames in
    ``frame_root/<video_id>/img_00001.jpg...``; ``csv_path``: the annotation file that errors about
    a keyframe name; ``describe(k)``: text naming keyframe ``k`` in those errors (default
    ``"<video_id> frame <centre>"``).

    Returns a :class:`FrameCache`: ``frames`` ``(N, T, size, size, 3)`` uint8, a read-only
    ``np.memmap`` (``None`` cache_dir: in memory); ``arrays["box_scale"]``, ``arrays["box_offset"]``
    ``(N, 4)`` float64 (:class:`paperlib.data.frames.FrameClip`). Up to date while the keyframes,
    each video's frame count and the size and ``mtime`` of every sampled frame are unchanged.

    Raises
    ------
    FormatError
        A missing or broken frame folder or frame (named), or a keyframe whose centre lies outside
        its video (names ``csv_path``, ``field='timestamp'``), for the first such keyframe.
    """
    frame_root = Path(frame_root)
    keyframes = [(str(v), int(c)) for v, c in keyframes]
    describe = describe or (lambda k: f"{keyframes[k][0]} frame {keyframes[k][1]}")
    w = default_workers(len(keyframes)) if workers is None else int(workers)
    videos = sorted({v for v, _ in keyframes})
    centres: dict = {}
    for v, c in keyframes:
        centres.setdefault(v, []).append(c)
    st = map_threads(_ava_stamp, [(str(frame_root / v), centres[v], int(T)) for v in videos], w)
    count = {v: s[0] for v, s in zip(videos, st)}
    items = [(str(frame_root / v), c, count[v], int(T), int(size), str(csv_path), describe(k))
             for k, (v, c) in enumerate(keyframes)]
    key = None
    if cache_dir is not None:
        key = {"params": {"T": int(T), "size": int(size), "sampling": "center", "fit": "letterbox"},
               "source": {"root": str(frame_root.resolve()),
                          **fingerprint([s[1] for s in st], [videos, [s[0] for s in st], keyframes])}}
    return build_frame_cache(f"{name}_{T}x{size}", _decode_ava, items, (T, size, size, 3), key, cache_dir, w,
                             mode="r", force=force, progress=progress)


# ---------------------------------------------------------------------------------------------
# Arrays on disk for one run, and row subsets
# ---------------------------------------------------------------------------------------------
def scratch_memmap(folder, shape, dtype=np.float32) -> np.memmap:
    """A writable ``np.memmap`` of ``shape`` backed by an unnamed temporary file in ``folder``
    (created): its disk space is freed when the array (and every view of it) is gone. For arrays
    too large for memory that live as long as one run (notebook 03's trunk feature maps)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder, prefix="paperlib-scratch-") as fh:
        # the mapping keeps the (unlinked) file alive after fh is closed
        return np.memmap(fh, dtype=dtype, mode="w+", shape=tuple(int(s) for s in shape))


class RowSubset:
    """Rows ``rows`` of ``base`` (e.g. an ``np.memmap``), without reading them.

    Indexing (an int, a slice, an index array, a tuple whose first entry is one of these) maps the
    first axis through ``rows`` and returns an ``np.ndarray`` read from ``base``: only the rows
    touched are read. ``shape``, ``dtype``, ``ndim`` and ``len`` are those of the subset;
    ``np.asarray(subset)`` reads all of it (avoid on large data). Used for the train/validation
    split of a memory-mapped data set (``base[rows]`` would copy every row into memory).
    """

    def __init__(self, base, rows):
        self.base, self.rows = base, np.asarray(rows, dtype=np.int64)
        if self.rows.ndim != 1:
            raise ValueError(f"RowSubset: rows must be 1-D, got shape {self.rows.shape}")

    @property
    def shape(self):
        return (len(self.rows), *self.base.shape[1:])

    @property
    def dtype(self):
        return self.base.dtype

    @property
    def ndim(self):
        return self.base.ndim

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, key):
        rest = ()
        if isinstance(key, tuple):
            key, rest = key[0], key[1:]
        if hasattr(key, "numpy"):  # a torch tensor of indices
            key = key.numpy()
        r = self.rows[key]
        if np.ndim(r) == 0:
            out = self.base[int(r)]
            out = out[rest] if rest else out
        else:
            out = self.base[r]
            out = out[(slice(None), *rest)] if rest else out
        return np.array(out) if isinstance(out, np.memmap) else np.asarray(out)

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out if dtype is None else out.astype(dtype)

    def __repr__(self):
        return f"RowSubset({len(self.rows)} of {len(self.base)} rows, shape={self.shape}, dtype={self.dtype})"
