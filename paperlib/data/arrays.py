"""The in-memory container of a skeleton data set (real or synthetic)."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np

__all__ = ["SkeletonArrays"]


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

    Raises
    ------
    ValueError
        If ``joints`` is not 5-D, or another per-sample field does not have ``N`` entries, or a
        label is outside ``[0, len(class_names))``.
    """

    joints: np.ndarray
    labels: np.ndarray
    valid_frames: np.ndarray
    subjects: np.ndarray | None
    cameras: np.ndarray | None
    names: list
    class_names: list
    skeleton_name: str = "ntu25"

    def __post_init__(self):
        self.joints = np.asarray(self.joints)
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
        changes = {}
        for f in fields(self):
            if not f.init:
                continue
            value = getattr(self, f.name)
            if f.name == "names":
                changes[f.name] = [value[i] for i in rows]
            elif isinstance(value, np.ndarray) and value.ndim >= 1 and value.shape[0] == n:
                changes[f.name] = value[rows]
        return replace(self, **changes)

    def __repr__(self) -> str:
        return (f"SkeletonArrays(N={len(self)}, joints={self.joints.shape} {self.joints.dtype}, "
                f"classes={len(self.class_names)}, skeleton={self.skeleton_name!r})")
