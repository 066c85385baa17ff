"""The container of a skeleton data set (real or synthetic), in memory or memory-mapped.

``joints`` is either an ordinary array or a read-only ``np.memmap`` over a cache file
(:func:`paperlib.data.cache.open_cache`): indexing a memmap reads only the rows it touches, so a
data set larger than the memory can be used row by row. :func:`is_memory_mapped` tells which.
"""
from __future__ import annotations

import mmap
from dataclasses import dataclass, fields, replace

import numpy as np

__all__ = ["SkeletonArrays", "FRAME_SAMPLINGS", "is_memory_mapped"]

#: How :class:`paperlib.data.sequences.SkeletonDataset` picks ``frames`` of a padded sequence:
#: ``"stride"`` (every ``T // frames``-th frame of the padded length ``T``) or ``"valid"`` (spread
#: over each sequence's own valid length).
FRAME_SAMPLINGS = ("stride", "valid")


def is_memory_mapped(a) -> bool:
    """True if ``a`` is (a view of) a memory-mapped file, e.g. a ``np.memmap`` or a slice of one.

    Walks ``a.base`` up to an ``mmap.mmap``. An array *copied* out of a memmap by fancy indexing
    (``mm[[0, 2]]``) is an ``np.memmap`` instance with no file behind it: False.
    """
    while a is not None:
        if isinstance(a, mmap.mmap):
            return True
        a = getattr(a, "base", None)
    return False


@dataclass
class SkeletonArrays:
    """``N`` skeleton sequences, padded to a common length, with their labels.

    Attributes
    ----------
    joints : np.ndarray, float32, shape ``(N, M, T, V, C)``
        ``M`` bodies, ``T`` frames, ``V`` joints, ``C`` coordinates (3 for NTU: x, y, z in metres,
        Kinect camera frame). Zero-padded after ``valid_frames`` and for absent bodies.
    labels : np.ndarray, int64, shape ``(N,)``
        0-based class index into ``class_names``.
    valid_frames : np.ndarray, int64, shape ``(N,)``
        Number of leading frames that hold data; frames ``>= valid_frames[i]`` are zeros.
    subjects : np.ndarray, int64, shape ``(N,)`` or None
        Performer id (1-based for NTU), or None when meaningless.
    cameras : np.ndarray, int64, shape ``(N,)`` or None
        Camera id (1-based for NTU), or None.
    names : list[str]
        ``N`` sample names (e.g. ``"S001C002P003R002A013"``).
    class_names : list[str]
        Name of every class; ``len(class_names) > labels.max()``.
    skeleton_name : str
        Key of the topology in :data:`paperlib.skeleton.SKELETONS` (default ``"ntu25"``).
    frame_sampling : ``"stride"`` or ``"valid"``
        How :class:`~paperlib.data.sequences.SkeletonDataset` subsamples these sequences to a
        smaller number of frames by default (see there). ``"stride"`` (default) suits sequences
        generated at a fixed frame rate and length (the synthetic data: 64 frames); real
        recordings of varying length padded to ``T = 300`` (NTU RGB+D) use ``"valid"``, which
        the real-data loaders and :func:`paperlib.data.cache.open_cache` set.

    ``joints`` may be a read-only ``np.memmap`` (kept as such, not copied); see
    :func:`is_memory_mapped` and :meth:`subset`.

    Raises
    ------
    ValueError
        If ``joints`` is not 5-D, or another per-sample field does not have ``N`` entries, or a
        label is outside ``[0, len(class_names))``, or ``frame_sampling`` is unknown.
    """

    joints: np.ndarray
    labels: np.ndarray
    valid_frames: np.ndarray
    subjects: np.ndarray | None
    cameras: np.ndarray | None
    names: list
    class_names: list
    skeleton_name: str = "ntu25"
    frame_sampling: str = "stride"

    def __post_init__(self):
        if not isinstance(self.joints, np.memmap):  # a memmap stays one: np.asarray would hide it
            self.joints = np.asarray(self.joints)
        if self.frame_sampling not in FRAME_SAMPLINGS:
            raise ValueError(f"SkeletonArrays.frame_sampling: expected one of {FRAME_SAMPLINGS}, "
                             f"got {self.frame_sampling!r}")
        if self.joints.ndim != 5:
            raise ValueError(f"SkeletonArrays.joints: expected shape (N, M, T, V, C), "
                             f"got {self.joints.shape}")
        n = self.joints.shape[0]
        self.labels = np.asarray(self.labels, dtype=np.int64).reshape(-1)
        self.valid_frames = np.asarray(self.valid_frames, dtype=np.int64).reshape(-1)
        if self.subjects is not None:
            self.subjects = np.asarray(self.subjects, dtype=np.int64).reshape(-1)
        if self.cameras is not None:
            self.cameras = np.asarray(self.cameras, dtype=np.int64).reshape(-1)
        self.names = list(self.names)
        self.class_names = list(self.class_names)
        for name in ("labels", "valid_frames", "subjects", "cameras", "names"):
            value = getattr(self, name)
            if value is not None and len(value) != n:
                raise ValueError(f"SkeletonArrays.{name}: expected {n} entries (joints has N={n}), "
                                 f"got {len(value)}")
        if n and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(f"SkeletonArrays.labels: values must lie in [0, {len(self.class_names)}), "
                             f"got [{self.labels.min()}, {self.labels.max()}]")

    def __len__(self) -> int:
        return int(self.joints.shape[0])

    def subset(self, idx) -> "SkeletonArrays":
        """A new object of the same class holding the samples ``idx`` selects.

        Parameters
        ----------
        idx : array-like of int, boolean mask of shape ``(N,)``, or slice

        Returns
        -------
        SkeletonArrays (or the subclass ``self`` is)
            Every array field whose first dimension is ``N`` is indexed (copied), so the
            per-sample fields a subclass adds follow too; ``names`` is indexed; other fields
            (``class_names``, ``skeleton_name``, dicts, tuples...) are kept as they are.
            A memory-mapped ``joints`` (:func:`is_memory_mapped`) selected by a slice or by an
            ascending run of consecutive rows stays a lazy view of the file (nothing is read);
            any other selection of it reads the selected rows into memory.

        Raises
        ------
        ValueError
            If a boolean mask does not have shape ``(N,)``.
        IndexError
            If an index is out of range.
        """
        n = len(self)
        if isinstance(idx, slice):
            rows = np.arange(n)[idx]
        else:
            rows = np.asarray(idx)
            if rows.dtype == bool:
                if rows.shape != (n,):
                    raise ValueError(f"SkeletonArrays.subset: boolean mask of shape {rows.shape}, "
                                     f"expected ({n},)")
                rows = np.flatnonzero(rows)
            rows = rows.astype(np.int64).reshape(-1)
        run = None  # a memmap and consecutive ascending rows: a slice keeps it a lazy view
        if is_memory_mapped(self.joints) and len(rows) and (rows.min() >= -n) and rows.max() < n:
            r = np.where(rows < 0, rows + n, rows)
            if np.array_equal(r, np.arange(r[0], r[0] + len(r))):
                run = slice(int(r[0]), int(r[0]) + len(r))
        changes = {}
        for f in fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if f.name == "names":
                changes[f.name] = [value[i] for i in rows]
            elif f.name == "joints" and run is not None:
                changes[f.name] = value[run]
            elif isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == n:
                changes[f.name] = value[rows]
        return replace(self, **changes)

    def __repr__(self) -> str:
        mapped = ", memory-mapped" if is_memory_mapped(self.joints) else ""
        return (f"SkeletonArrays(N={len(self)}, joints={self.joints.shape} {self.joints.dtype}{mapped}, "
                f"classes={len(self.class_names)}, skeleton={self.skeleton_name!r})")
