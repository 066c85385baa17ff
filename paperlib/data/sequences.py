"""Sequence utilities: observation-ratio cropping, normalisation, bone streams, Datasets.

Array layout: joints are ``(N, M, T, V, 3)`` (samples, bodies, frames, joints, xyz) in
metres; networks take ``(N, C, T, V, M)`` as in ST-GCN / 2s-AGCN.

Early action prediction protocol (ERA, Sec. 3.1): a sequence of ``T_valid`` valid frames
observed at ratio ``r`` keeps frames ``[0, ceil(r * T_valid))``. Nothing after them is ever
kept, and sequences are never padded by cyclic repetition (the 2s-AGCN preprocessing does
that, and a truncated array then still contains the whole action).

Frame sampling (``sampling``, :func:`sampled_frames`): to feed ``frames`` frames of a sequence
padded to ``T``, ``"stride"`` keeps every ``T // frames``-th frame of the *padded* length and
``"valid"`` spreads the ``frames`` frames over each sequence's own valid length. The synthetic
clips are generated at a fixed frame rate with ``T = 64`` and most of them fill it, so the
stride is the same for all of them; real clips are zero-padded to ``T = 300`` whatever their
length (NTU RGB+D clips are ~80 frames on average), and a stride of ``300 // 16 = 18`` keeps
only ~5 frames of an 80-frame clip and 1-2 of its 20% prefix. ``"valid"`` keeps 16 distinct
frames of it. The default follows the data (:attr:`SkeletonArrays.frame_sampling`): ``"stride"``
for the synthetic data (so their numbers stay those of the course's committed results) and
``"valid"`` for the real-data loaders.

Memory-mapped data (:mod:`paperlib.data.cache`): :func:`normalize_skeleton` works through a
memmap in chunks of rows, :class:`SkeletonDataset` builds its tensors chunk by chunk, and
:class:`StreamingSkeletonDataset` computes every batch from the memmap when asked (through a
``torch.utils.data.DataLoader`` with workers), so that only the rows of a batch are read.
"""
from __future__ import annotations

import math
import mmap

import numpy as np
import torch

from ..skeleton import NTU25, Skeleton, get_skeleton
from .arrays import FRAME_SAMPLINGS, SkeletonArrays, is_memory_mapped

__all__ = ["OBS_RATIOS", "observed_length", "crop_observation", "normalize_skeleton", "bone_stream", "mask_after", "random_observation",
           "to_network_layout", "sampled_frames", "observed_frames", "SkeletonDataset", "StreamingSkeletonDataset",
           "CHUNK_BYTES", "LazyRows", "NormalizedFrames"]

#: Bytes of joints a chunked computation over a memory-mapped array reads at a time (64 MiB:
#: ~370 NTU rows of ``(2, 300, 25, 3)`` float32). Its intermediates are a few times this.
CHUNK_BYTES = 64 * 2 ** 20

#: Observation ratios 0.1, 0.2, ..., 1.0 (ERA Sec. 3.1, N = 10 segments).
OBS_RATIOS = tuple(round(0.1 * k, 1) for k in range(1, 11))


def observed_length(valid_frames, ratio: float) -> np.ndarray:
    """``ceil(ratio * T_valid)`` frames, at least 1. ``valid_frames`` int or ``(N,)``.

    Raises ``ValueError`` unless ``0 < ratio <= 1``. A tiny epsilon guards against float
    round-up (``ceil(0.3 * 10)`` is 3, not 4).
    """
    if not 0 < ratio <= 1:
        raise ValueError(f"observation ratio must be in (0, 1], got {ratio}")
    v = np.asarray(valid_frames)
    return np.maximum(np.ceil(ratio * v - 1e-9).astype(np.int64), 1)


def crop_observation(joints, valid_frames, ratio: float, policy: str = "pad", out_frames: int | None = None):
    """Keep the observed part of each sequence, without leakage.

    Parameters
    ----------
    joints : ndarray or Tensor ``(N, M, T, V, C)``
    valid_frames : ``(N,)`` ints, valid frames per sequence (``<= T``).
    ratio : observation ratio ``r`` in (0, 1].
    policy : ``"pad"`` or ``"resample"``
        ``"pad"``: frames ``[0, L)`` with ``L = ceil(r T_valid)`` are kept in place and every
        later frame is zero (the network sees how much has been observed).
        ``"resample"``: the ``L`` observed frames are linearly interpolated to ``out_frames``
        frames (a time-normalised view; nothing after frame ``L - 1`` is used).
    out_frames : frames of the output (default ``T``).

    Returns
    -------
    cropped : same type as ``joints``, ``(N, M, out_frames, V, C)``
    lengths : ``(N,)`` int64, the observed lengths ``L`` (for ``"resample"``: ``out_frames``).

    Raises
    ------
    ValueError
        Unknown policy, a ratio outside (0, 1], or ``valid_frames`` larger than ``T``.
    """
    is_np = isinstance(joints, np.ndarray)
    x = torch.from_numpy(joints) if is_np else joints
    N, M, T, V, C = x.shape
    vf = np.asarray(valid_frames)
    if vf.shape != (N,):
        raise ValueError(f"crop_observation: valid_frames must be ({N},), got {vf.shape}")
    if (vf > T).any() or (vf < 1).any():
        raise ValueError(f"crop_observation: valid_frames must be in [1, {T}]")
    L = observed_length(vf, ratio)
    out_frames = out_frames or T
    if policy == "pad":
        if out_frames != T:
            raise ValueError("crop_observation: policy 'pad' keeps T frames; use 'resample' to change length")
        mask = torch.arange(T)[None, :] < torch.from_numpy(L)[:, None]  # (N, T)
        out = x * mask[:, None, :, None, None].to(x.dtype)
        lengths = L
    elif policy == "resample":
        # source position of every output frame, per sample: linspace(0, L-1, out_frames)
        pos = torch.linspace(0, 1, out_frames, dtype=torch.float64)[None, :] * torch.from_numpy(L - 1)[:, None]
        lo = pos.floor().long()
        hi = torch.minimum(lo + 1, torch.from_numpy(L - 1)[:, None])
        w = (pos - lo).to(x.dtype)[:, None, :, None, None]
        gather = lambda idx: torch.gather(x, 2, idx[:, None, :, None, None].expand(N, M, out_frames, V, C))
        out = gather(lo) * (1 - w) + gather(hi) * w
        lengths = np.full(N, out_frames, dtype=np.int64)
    else:
        raise ValueError(f"crop_observation: policy must be 'pad' or 'resample', got {policy!r}")
    return (out.numpy() if is_np else out), lengths


def normalize_skeleton(joints: np.ndarray, valid_frames, skeleton: Skeleton = NTU25, align: bool = True,
                       center_joint: str | int = "spine_base", left_right=("hip_left", "hip_right")) -> np.ndarray:
    """Centre and align sequences, in the spirit of the 2s-AGCN pre-normalisation.

    The reference frame of a sequence is the **first frame in which body 0 is present** (body 1
    if body 0 never is; real NTU files have frames where the main body is missing, and frame 0
    of such a file is all zeros).

    - Centre: subtract the ``center_joint`` of that body in that frame from every joint of
      every body and frame (one translation per sequence, so global motion such as stepping is
      kept).
    - Align (optional): rotate about the vertical (y) axis so that the same body's
      ``left_right`` joints (the hips) in that frame lie along the person's left, i.e. the
      reference frame faces the viewer. Gravity stays vertical: only the yaw is removed, so a
      bow remains a bow. If the two hip joints coincide there (an untracked joint), no rotation
      is applied (``arctan2`` of a zero vector would rotate the sample by 180 degrees).
    - Padded frames (``t >= valid_frames``), absent bodies and sequences with no body at all
      stay exactly zero.

    ``joints (N, M, T, V, 3)`` metres -> same shape, float32 (in memory). ``valid_frames (N,)``.
    A memory-mapped ``joints`` (:func:`~paperlib.data.arrays.is_memory_mapped`) is read and
    normalised in chunks of rows (:data:`CHUNK_BYTES`) straight into the output, so the peak
    memory is the output plus one chunk's intermediates (the values are the same).
    Raises ``ValueError`` on a joint count that does not match ``skeleton``.
    """
    shape = np.shape(joints)
    if len(shape) != 5 or shape[3] != skeleton.num_joints or shape[4] != 3:
        raise ValueError(f"normalize_skeleton: expected (N, M, T, {skeleton.num_joints}, 3), got {shape}")
    kw = dict(skeleton=skeleton, align=align, center_joint=center_joint, left_right=left_right)
    if not is_memory_mapped(joints):
        return _normalize_block(np.asarray(joints, dtype=np.float32), **kw)
    out = np.empty(shape, np.float32)
    step = _chunk_rows(joints)
    for i in range(0, shape[0], step):
        out[i:i + step] = _normalize_block(np.asarray(joints[i:i + step], dtype=np.float32), **kw)
    return out


def _chunk_rows(joints) -> int:
    """Rows of ``joints`` per chunk of at most :data:`CHUNK_BYTES` (at least 1)."""
    row = int(np.prod(np.shape(joints)[1:])) * np.dtype(getattr(joints, "dtype", np.float32)).itemsize
    return max(1, CHUNK_BYTES // max(row, 1))


def _normalize_block(x: np.ndarray, skeleton: Skeleton, align: bool, center_joint, left_right) -> np.ndarray:
    """:func:`normalize_skeleton` of an in-memory float32 block ``(N, M, T, V, 3)``."""
    N, M, T, V, _ = x.shape
    present = (np.abs(x).sum(-1) > 0)  # (N, M, T, V)
    body_frame = present.any(-1)  # (N, M, T)
    frame_ok = body_frame[..., None, None]  # (N, M, T, 1, 1)
    # the reference body and frame of every sequence: body 0 if it ever appears, else body 1
    ref_body = np.where(body_frame[:, 0].any(-1), 0, min(1, M - 1))  # (N,)
    ref_present = body_frame[np.arange(N), ref_body]  # (N, T)
    ref_t = ref_present.argmax(-1)  # first present frame (0 if none)
    ref = x[np.arange(N), ref_body, ref_t]  # (N, V, 3)
    cj = skeleton.index(center_joint) if isinstance(center_joint, str) else int(center_joint)
    origin = ref[:, cj, :]  # (N, 3)
    out = x - origin[:, None, None, None, :]
    if align:
        li, ri = (skeleton.index(j) for j in left_right)
        # hip vector (right -> left). In the Kinect frame the person's left is -x when facing the
        # camera, so we rotate the hip vector onto -x.
        hv = ref[:, li] - ref[:, ri]
        ang = np.arctan2(hv[:, 2], -hv[:, 0])  # yaw of the hip line relative to -x
        ang = np.where(np.hypot(hv[:, 0], hv[:, 2]) > 1e-6, ang, 0.0)  # no hip line: no rotation
        c, s = np.cos(-ang), np.sin(-ang)  # rotate by -ang about y
        R = np.zeros((N, 3, 3), np.float32)
        R[:, 0, 0], R[:, 0, 2], R[:, 1, 1], R[:, 2, 0], R[:, 2, 2] = c, s, 1, -s, c
        out = np.einsum("nij,nmtvj->nmtvi", R, out)
    return (out * frame_ok).astype(np.float32)


def bone_stream(joints, skeleton: Skeleton = NTU25):
    """Bones: every joint minus its graph parent (2s-AGCN's second stream); the root's bone is zero.

    The parent is the one of the skeleton's graph (:attr:`Skeleton.graph_parents`), the pairs of
    2s-AGCN's bone stream (for NTU: hand tip -> thumb -> hand).

    ``joints (..., V, C)`` ndarray or Tensor -> same shape and type. Absent (all-zero) joints
    give zero bones. Raises ``ValueError`` if ``V`` does not match the skeleton.
    """
    V = skeleton.num_joints
    if joints.shape[-2] != V:
        raise ValueError(f"bone_stream: expected {V} joints, got shape {tuple(joints.shape)}")
    parents = np.array(skeleton.graph_parents)
    parent_idx = np.where(parents < 0, np.arange(V), parents)
    bones = joints - joints[..., parent_idx, :]
    present = (abs(joints).sum(-1, keepdims=True) > 0)
    return bones * present


def to_network_layout(joints):
    """``(N, M, T, V, C)`` -> ``(N, C, T, V, M)`` (contiguous), numpy or torch."""
    if isinstance(joints, np.ndarray):
        return np.ascontiguousarray(joints.transpose(0, 4, 2, 3, 1))
    return joints.permute(0, 4, 2, 3, 1).contiguous()


def _check_sampling(sampling: str, where: str) -> str:
    if sampling not in FRAME_SAMPLINGS:
        raise ValueError(f"{where}: sampling must be one of {FRAME_SAMPLINGS}, got {sampling!r}")
    return sampling


def _stride(total_frames: int, frames: int | None) -> int:
    """The integer stride of ``sampling="stride"``: ``T // frames`` if ``frames < T``, else 1."""
    return total_frames // frames if frames is not None and frames < total_frames else 1


def sampled_frames(valid_frames, total_frames: int, frames: int | None, sampling: str = "stride"):
    """Which source frame fills every output frame when ``frames`` frames are taken from
    sequences zero-padded to ``total_frames``.

    Parameters
    ----------
    valid_frames : ``(N,)`` ints in ``[1, T]``, the valid (leading, non-padded) frames.
    total_frames : ``T``, the padded length.
    frames : the requested output length, or ``None`` (no subsampling).
    sampling : ``"stride"`` or ``"valid"``.
        - ``"stride"`` (the course's synthetic default): with ``s = T // frames > 1``, frame
          ``k`` is source frame ``k s`` of the padded length, ``min(ceil(T / s), frames)``
          output frames, of which ``min(max(ceil(T_valid / s), 1), frames)`` are valid. With
          ``s = 1`` (``frames >= T / 2``) nothing is subsampled and the output keeps all ``T``
          frames.
        - ``"valid"`` (real data): ``n = min(T_valid, frames)`` output frames are valid, frame
          ``k < n`` being source frame ``floor(k T_valid / n)`` (uniform over the sequence's own
          valid length, left-aligned so frame 0 is always kept; ``k`` itself when ``T_valid <=
          frames``); frames ``n .. frames - 1`` are padding. Output length ``frames``.
        With ``frames`` ``None`` or ``>= T`` both give the identity.

    Returns
    -------
    index : ``(N, F)`` int64, the source frame of every output frame (``-1`` for padding).
    valid_out : ``(N,)`` int64, valid output frames (a prefix of the ``F``).

    Raises
    ------
    ValueError
        Unknown ``sampling``, ``frames < 1``, or ``valid_frames`` outside ``[1, T]``.
    """
    _check_sampling(sampling, "sampled_frames")
    vf = np.asarray(valid_frames, dtype=np.int64).reshape(-1)
    T = int(total_frames)
    if frames is not None and frames < 1:
        raise ValueError(f"sampled_frames: frames must be >= 1 or None, got {frames}")
    if len(vf) and ((vf < 1).any() or (vf > T).any()):
        raise ValueError(f"sampled_frames: valid_frames must be in [1, {T}], got [{vf.min()}, {vf.max()}]")
    k = None
    if sampling == "stride" or frames is None or frames >= T:
        stride = _stride(T, frames) if sampling == "stride" else 1
        if stride > 1:
            src = np.arange(0, T, stride)[:frames]
            valid_out = np.minimum(np.maximum(-(-vf // stride), 1), frames)
        else:
            src, valid_out = np.arange(T), vf.copy()
        k = np.arange(len(src))
        index = np.broadcast_to(src, (len(vf), len(src)))
    else:
        valid_out = np.minimum(vf, frames)
        k = np.arange(frames)
        index = (k[None, :] * vf[:, None]) // np.maximum(valid_out, 1)[:, None]  # exact integer floor
    index = np.where(k[None, :] < valid_out[:, None], index, -1).astype(np.int64)
    return index, valid_out.astype(np.int64)


def observed_frames(valid_frames, ratio: float, total_frames: int, frames: int | None,
                    sampling: str = "stride") -> np.ndarray:
    """``(N,)`` int64: how many of the :func:`sampled_frames` lie inside the observed prefix
    ``[0, ceil(ratio T_valid))``; they are the first ones (the sampled source frames ascend).

    ``"stride"``: ``min(ceil(L / s), valid_out)``; ``"valid"``: ``min(ceil(L n / T_valid), n)``
    (frame ``k`` is kept iff ``floor(k T_valid / n) < L``, i.e. ``k T_valid < L n``). At least 1
    (frame 0 is always observed). Raises ``ValueError`` as :func:`sampled_frames` and
    :func:`observed_length`.
    """
    vf = np.asarray(valid_frames, dtype=np.int64).reshape(-1)
    L = observed_length(vf, ratio)
    _, valid_out = sampled_frames(vf, total_frames, frames, sampling)
    if sampling == "stride" or frames is None or frames >= total_frames:
        stride = _stride(total_frames, frames) if sampling == "stride" else 1
        return np.minimum(-(-L // stride), valid_out).astype(np.int64)
    return np.minimum(-(-(L * valid_out) // vf), valid_out).astype(np.int64)


def _prepare(joints, valid, skel: Skeleton, ratio: float, stream: str, normalize: bool, policy: str,
             frames: int | None, sampling: str):
    """The network input of a block of sequences, vectorised: ``joints (B, M, T, V, 3)`` ->
    ``(x (B, C, F, V, M) float32 ndarray, valid_out (B,), observed (B,))`` (see
    :class:`SkeletonDataset`; every step is per sequence, so any split into blocks gives the
    same rows)."""
    x = joints
    if normalize:
        x = normalize_skeleton(x, valid, skel)
    if policy == "pad" and sampling == "valid" and frames is not None and frames < x.shape[2]:
        # gather the sampled frames, then zero those past the prefix (the gather never reads a
        # frame >= L for a kept k, and a frame of padding is never read: the mask zeroes it)
        index, valid_out = sampled_frames(valid, x.shape[2], frames, "valid")
        observed = observed_frames(valid, ratio, x.shape[2], frames, "valid")
        keep = np.arange(frames)[None, :] < observed[:, None]  # (B, F)
        x = np.take_along_axis(np.asarray(x), np.maximum(index, 0)[:, None, :, None, None], axis=2)
        x = x * keep[:, None, :, None, None].astype(x.dtype)
        valid = valid_out
    elif policy == "pad":
        x, L = crop_observation(x, valid, ratio, policy="pad")  # at full resolution: no leakage
        stride = _stride(x.shape[2], frames)
        if stride > 1:
            x = x[:, :, ::stride][:, :, :frames]
            valid = np.minimum(np.maximum(-(-valid // stride), 1), frames)  # ceil(valid / stride)
        observed = np.minimum(-(-L // stride), valid)  # kept frames k * stride < L
    else:
        x, _ = crop_observation(x, valid, ratio, policy=policy, out_frames=frames)
        observed = observed_length(valid, ratio)
    parts = []
    if "joint" in stream:
        parts.append(x)
    if "bone" in stream:
        parts.append(bone_stream(x, skel))
    x = np.concatenate(parts, -1)
    return to_network_layout(x), np.asarray(valid, dtype=np.int64), np.asarray(observed, dtype=np.int64)


def _check_stream(stream: str, policy: str, where: str) -> str:
    if stream not in ("joint", "bone", "joint+bone"):
        raise ValueError(f"{where}: stream must be joint, bone or joint+bone, got {stream!r}")
    if policy not in ("pad", "resample"):
        raise ValueError(f"{where}: policy must be 'pad' or 'resample', got {policy!r}")
    return stream


class SkeletonDataset(torch.utils.data.Dataset):
    """Network-ready tensors from :class:`SkeletonArrays`, computed once, vectorised.

    Parameters
    ----------
    data : SkeletonArrays
    indices : optional subset of rows.
    ratio : observation ratio in (0, 1] (default 1.0: the full sequence), cropped with
        :func:`crop_observation` and ``policy``.
    stream : ``"joint"``, ``"bone"`` or ``"joint+bone"`` (6 channels).
    normalize : apply :func:`normalize_skeleton` first.
    frames : optional output length, taken with ``sampling`` (:func:`sampled_frames`).
    sampling : ``"stride"``, ``"valid"`` or ``None`` (default: ``data.frame_sampling``, which is
        ``"stride"`` for the synthetic data and ``"valid"`` for real data loaded through
        :mod:`paperlib.data.cache` or :func:`paperlib.data.ntu.load_ntu_dataset`).

        With ``policy="pad"`` and ``"stride"`` the observed prefix is cropped at full resolution
        first (frames ``[0, L)``, ``L = ceil(ratio * T_valid)``), and only then subsampled by the
        integer stride ``T // frames`` (frame ``k * stride`` is kept): a kept frame is never past
        the prefix. (Subsampling first and cropping the subsampled sequence would keep frames up
        to ``stride - 1`` past it: with ``T_valid = 13``, stride 4 and ``r = 0.8`` it kept frame 12
        while the prefix ends at frame 10.) With ``"valid"``, ``min(T_valid, frames)`` frames are
        spread over the valid length and those whose source frame lies at or past ``L`` are zero
        (again no kept frame past the prefix; zeros after the valid ones). Why two: the
        synthetic clips are generated at a fixed frame rate with ``T = 64`` frames, and the
        stride keeps their committed numbers; real clips are padded to ``T = 300``, and the
        stride would keep ~5 frames of an 80-frame clip (see the module docstring).
        ``policy="resample"`` always resamples the observed prefix itself (``sampling`` plays
        no part).
    chunk_size : rows computed at a time; ``None`` (default): all at once for in-memory data,
        chunks of :data:`CHUNK_BYTES` for memory-mapped data (through
        :class:`StreamingSkeletonDataset`, so only the output and one chunk's intermediates are
        held). The values are the same either way.
    num_workers : worker processes of the ``DataLoader`` that computes the chunks (0: in this
        process).

    Items are ``(x, y)`` with ``x`` float32 ``(C, T, V, M)`` and ``y`` an int64 label.
    ``self.x`` ``(N, C, T, V, M)`` and ``self.y`` ``(N,)`` hold everything, for
    ``TensorDataset``-style fast batching; ``self.valid (N,)`` are the valid frames after
    subsampling and ``self.observed (N,)`` the observed ones at ``ratio`` after subsampling
    (:func:`observed_frames` with ``policy="pad"``). For data too large to hold even subsampled,
    use :class:`StreamingSkeletonDataset`.

    Raises
    ------
    ValueError
        Unknown ``stream``, ``policy`` or ``sampling``; a ratio outside (0, 1]; valid frames
        outside ``[1, T]``.
    """

    def __init__(self, data: SkeletonArrays, indices=None, ratio: float = 1.0, stream: str = "joint",
                 normalize: bool = True, policy: str = "pad", frames: int | None = None, sampling: str | None = None,
                 chunk_size: int | None = None, num_workers: int = 0):
        _check_stream(stream, policy, "SkeletonDataset")
        sampling = _check_sampling(sampling or getattr(data, "frame_sampling", "stride"), "SkeletonDataset")
        if chunk_size is None and is_memory_mapped(data.joints):
            chunk_size = _chunk_rows(data.joints)
        if chunk_size is not None:
            lazy = StreamingSkeletonDataset(data, indices, ratio=ratio, stream=stream, normalize=normalize,
                                            policy=policy, frames=frames, sampling=sampling)
            self.x, self.y, self.valid, observed = lazy.materialize(chunk_size, num_workers)
            self.observed = observed.numpy()
        else:
            sub = data.subset(indices) if indices is not None else data
            x, valid, observed = _prepare(sub.joints, sub.valid_frames, get_skeleton(sub.skeleton_name), ratio,
                                          stream, normalize, policy, frames, sampling)
            self.x = torch.from_numpy(x)
            self.y = torch.from_numpy(np.asarray(sub.labels, dtype=np.int64))
            self.valid = torch.from_numpy(valid)  # valid frames after subsampling
            self.observed = observed
        self.ratio, self.sampling = ratio, sampling

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


class StreamingSkeletonDataset(torch.utils.data.Dataset):
    """:class:`SkeletonDataset`'s tensors computed per batch, from (memory-mapped) joints.

    Nothing is computed up front: a batch of positions reads its rows of ``data.joints`` (a
    memmap reads only those rows, in ascending order) and runs the same vectorised pipeline
    (normalise, crop, sample frames, streams) on them, so a batch holds exactly the rows
    :class:`SkeletonDataset` would hold for the same arguments. Use it through
    :meth:`loader`, a ``torch.utils.data.DataLoader`` whose sampler yields whole batches of
    positions (``batch_size=None``), with ``num_workers`` processes and ``pin_memory``.

    Parameters
    ----------
    data, indices, ratio, stream, normalize, policy, frames, sampling
        As for :class:`SkeletonDataset`.

    Indexing
    --------
    ``ds[i]`` (an int) -> ``(x (C, F, V, M), y)`` like :class:`SkeletonDataset`;
    ``ds[positions]`` (a list or array of positions) -> ``(x (B, C, F, V, M) float32,
    y (B,) int64, valid (B,) int64)`` in the order given (:meth:`batch` adds ``observed``).

    Pickling (worker processes started with ``spawn``, as on macOS and Windows) sends a
    memory-mapped ``joints`` as a reference to its file, never its contents.

    Raises
    ------
    ValueError
        Unknown ``stream`` or ``sampling``; errors of the pipeline surface when a batch is read.
    IndexError
        A position outside ``[0, len(self))``.
    """

    def __init__(self, data: SkeletonArrays, indices=None, ratio: float = 1.0, stream: str = "joint",
                 normalize: bool = True, policy: str = "pad", frames: int | None = None, sampling: str | None = None):
        _check_stream(stream, policy, "StreamingSkeletonDataset")
        self.sampling = _check_sampling(sampling or getattr(data, "frame_sampling", "stride"),
                                        "StreamingSkeletonDataset")
        n = len(data)
        rows = np.arange(n) if indices is None else np.arange(n)[np.asarray(indices) if not isinstance(indices, slice)
                                                                 else indices]
        self.rows = rows.astype(np.int64).reshape(-1)
        self.joints = data.joints
        self.labels = np.asarray(data.labels, dtype=np.int64)[self.rows]
        self.valid_frames = np.asarray(data.valid_frames, dtype=np.int64)[self.rows]
        self.skeleton_name = data.skeleton_name
        self.ratio, self.stream, self.normalize, self.policy, self.frames = ratio, stream, normalize, policy, frames

    def __len__(self):
        return len(self.rows)

    def batch(self, positions):
        """``(x (B, C, F, V, M), y (B,), valid (B,), observed (B,))`` tensors for ``positions``
        (into this dataset), in the order given; the rows are read from ``joints`` in ascending
        order."""
        pos = np.asarray(positions, dtype=np.int64).reshape(-1)
        if len(pos) and (pos.min() < 0 or pos.max() >= len(self)):
            raise IndexError(f"StreamingSkeletonDataset: positions must lie in [0, {len(self)}), "
                             f"got [{pos.min()}, {pos.max()}]")
        order = np.argsort(self.rows[pos], kind="stable")
        p = pos[order]
        joints = np.asarray(self.joints[self.rows[p]])  # reads only these rows of a memmap
        x, valid, observed = _prepare(joints, self.valid_frames[p], get_skeleton(self.skeleton_name), self.ratio,
                                      self.stream, self.normalize, self.policy, self.frames, self.sampling)
        back = np.argsort(order, kind="stable")  # the order asked for
        if not np.array_equal(back, np.arange(len(back))):
            x, valid, observed, p = x[back], valid[back], observed[back], p[back]
        return (torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(self.labels[p]),
                torch.from_numpy(valid), torch.from_numpy(observed))

    def __getitem__(self, i):
        if np.ndim(i) == 0:
            x, y, _, _ = self.batch([int(i)])
            return x[0], y[0]
        return self.batch(i)[:3]

    def loader(self, batch_size: int = 64, shuffle: bool = False, seed: int = 0, drop_last: bool = False,
               num_workers: int = 0, pin_memory: bool = False, **kwargs) -> torch.utils.data.DataLoader:
        """A ``DataLoader`` of ``(x, y, valid)`` batches, each computed by one :meth:`batch` call.

        ``shuffle`` draws the batches with a ``torch.Generator`` seeded by ``seed`` (the same
        sequence of positions as ``make_loader(..., shuffle=True, seed=seed)`` over the same
        rows); ``num_workers`` worker processes compute batches ahead; ``pin_memory`` pins them
        for fast host-to-GPU copies. Other ``kwargs`` go to ``DataLoader`` (e.g.
        ``persistent_workers``, ``prefetch_factor``).
        """
        gen = torch.Generator().manual_seed(seed)
        base = (torch.utils.data.RandomSampler(range(len(self)), generator=gen) if shuffle
                else torch.utils.data.SequentialSampler(range(len(self))))
        batches = torch.utils.data.BatchSampler(base, batch_size, drop_last)
        return torch.utils.data.DataLoader(self, sampler=batches, batch_size=None, num_workers=num_workers,
                                           pin_memory=pin_memory, **kwargs)

    def materialize(self, chunk_size: int = 256, num_workers: int = 0):
        """Every row at once, computed ``chunk_size`` rows at a time: ``(x (N, C, F, V, M), y (N,),
        valid (N,), observed (N,))`` tensors. The output is allocated once; the peak memory is
        the output plus the chunks in flight (``num_workers`` + 1 with workers)."""
        n = len(self)
        if n == 0:
            return self.batch([])
        out = None
        y = torch.empty(n, dtype=torch.int64)
        valid = torch.empty(n, dtype=torch.int64)
        observed = torch.empty(n, dtype=torch.int64)
        it = iter(torch.utils.data.DataLoader(
            _Batches(self), sampler=torch.utils.data.BatchSampler(
                torch.utils.data.SequentialSampler(range(n)), chunk_size, False),
            batch_size=None, num_workers=num_workers))
        i = 0
        for xb, yb, vb, ob in it:
            if out is None:
                out = torch.empty((n,) + tuple(xb.shape[1:]), dtype=xb.dtype)
            b = len(yb)
            out[i:i + b], y[i:i + b], valid[i:i + b], observed[i:i + b] = xb, yb, vb, ob
            i += b
        return out, y, valid, observed

    def __getstate__(self):
        state = dict(self.__dict__)
        if is_memory_mapped(self.joints):
            state["joints"] = _MappedRef(self.joints)
        return state

    def __setstate__(self, state):
        if isinstance(state.get("joints"), _MappedRef):
            state["joints"] = state["joints"].open()
        self.__dict__.update(state)


class _Batches(torch.utils.data.Dataset):
    """A view of a :class:`StreamingSkeletonDataset` whose items are its full :meth:`batch` tuples."""

    def __init__(self, ds):
        self.ds = ds

    def __len__(self):
        return len(self.ds)

    def __getitem__(self, positions):
        return self.ds.batch(positions)


class _MappedRef:
    """A picklable reference to a memory-mapped array (a ``np.memmap`` over a file or a view of
    one): file name, byte offset, shape, strides and dtype; :meth:`open` maps it again, read-only."""

    def __init__(self, a):
        root = a
        while not (isinstance(root, np.memmap) and isinstance(root.base, mmap.mmap)):
            root = root.base
        start = lambda arr: arr.__array_interface__["data"][0]
        self.filename = root.filename
        self.offset = int(root.offset) + start(a) - start(root)
        self.shape, self.strides, self.dtype = a.shape, a.strides, a.dtype

    def open(self) -> np.ndarray:
        if self.offset < 0 or self.filename is None:
            raise ValueError("cannot re-open this memory-mapped array")
        mm = np.memmap(self.filename, dtype=np.uint8, mode="r")
        return np.ndarray(self.shape, self.dtype, buffer=mm, offset=self.offset, strides=self.strides)


def mask_after(x: torch.Tensor, lengths) -> torch.Tensor:
    """Zero every frame ``t >= lengths[n]`` of ``x (N, C, T, V, M)`` (or ``(N, C, T, V)``).

    ``lengths (N,)`` ints. Vectorised; returns a new tensor.
    """
    L = torch.as_tensor(lengths, device=x.device)
    keep = (torch.arange(x.shape[2], device=x.device)[None, :] < L[:, None]).to(x.dtype)  # [N, T]
    return x * keep.view(x.shape[0], 1, x.shape[2], *([1] * (x.dim() - 3)))


def random_observation(x: torch.Tensor, valid_frames, ratios=OBS_RATIOS, generator: torch.Generator | None = None):
    """Training-time augmentation: observe each sample at a random ratio from ``ratios``.

    ``x (N, C, T, V, M)`` full sequences, ``valid_frames (N,)`` -> ``(x_partial, ratio (N,))``,
    keeping frames ``[0, ceil(r T_valid))`` exactly as :func:`crop_observation` with
    ``policy="pad"`` does.
    """
    r = torch.as_tensor(ratios, dtype=torch.float64)[
        torch.randint(len(ratios), (x.shape[0],), generator=generator)]
    L = torch.clamp(torch.ceil(r * torch.as_tensor(valid_frames, dtype=torch.float64) - 1e-9), min=1).long()
    return mask_after(x, L.to(x.device)), r


# ---------------------------------------------------------------------------------------------
# Lazy views of memory-mapped data: rows computed on indexing
# ---------------------------------------------------------------------------------------------
class LazyRows:
    """A read-only stand-in for a tensor ``(N, *row_shape)`` whose rows are computed when indexed.

    ``fn(positions)`` takes an int64 ndarray ``(B,)`` of positions in ``[0, N)`` (any order, repeats
    allowed) and returns the tensor ``(B, *row_shape)`` of those rows; it must compute every row on
    its own (so the rows do not depend on which others are asked with them). Used for the views of
    memory-mapped real data (:class:`NormalizedFrames`, :class:`paperlib.papers.era.ObservedViews`,
    :func:`paperlib.papers.ups.make_views`), which as tensors would not fit in memory.

    Supported as on a tensor: ``len``, ``shape``, ``dtype``, ``ndim``, ``dim()``, ``size()``;
    indexing by an int, a slice, a list / ndarray / tensor of positions (int, any shape, or a
    ``(N,)`` bool mask), or a tuple whose first item is one of those (the rest applies to the rows,
    with tensor indexing's rules: ``x[rows, :, frames]`` pairs ``rows`` with ``frames``). Anything
    else (``x.abs()``, ``torch.equal(x, y)``, ``np.asarray(x)``, ``torch.cat([x])``...) computes
    every row first (:meth:`materialize`, chunk by chunk into one tensor) and applies to that.

    Raises ``IndexError`` for positions outside ``[-N, N)`` or a mask of the wrong length.
    """

    def __init__(self, n: int, row_shape, fn, dtype=torch.float32):
        self._n, self._row_shape, self._fn, self._dtype = int(n), tuple(int(s) for s in row_shape), fn, dtype

    # -- tensor-like metadata ------------------------------------------------------------------
    def __len__(self):
        return self._n

    @property
    def shape(self) -> torch.Size:
        return torch.Size((self._n,) + self._row_shape)

    @property
    def dtype(self):
        return self._dtype

    @property
    def ndim(self) -> int:
        return 1 + len(self._row_shape)

    def dim(self) -> int:
        return self.ndim

    def size(self, d: int | None = None):
        return self.shape if d is None else self.shape[d]

    def __repr__(self):
        return f"LazyRows(shape={tuple(self.shape)}, dtype={self._dtype})"

    # -- rows ----------------------------------------------------------------------------------
    def rows(self, positions) -> torch.Tensor:
        """The rows at ``positions`` (``(B,)`` ints in ``[-N, N)``): ``(B, *row_shape)``."""
        p = np.asarray(positions, dtype=np.int64).reshape(-1)
        if len(p) and (p.min() < -self._n or p.max() >= self._n):
            raise IndexError(f"LazyRows: index out of range for {self._n} rows: [{p.min()}, {p.max()}]")
        p = np.where(p < 0, p + self._n, p)
        out = self._fn(p)
        if tuple(out.shape) != (len(p),) + self._row_shape:  # pragma: no cover - a wrong fn
            raise RuntimeError(f"LazyRows: fn returned {tuple(out.shape)}, expected {(len(p),) + self._row_shape}")
        return out

    def _positions(self, key):
        """(flat positions, index shape) of a row selector."""
        if isinstance(key, slice):
            p = np.arange(self._n)[key]
            return p, p.shape
        if isinstance(key, torch.Tensor):
            key = key.detach().cpu().numpy()
        a = np.asarray(key)
        if a.dtype == bool:
            if a.shape != (self._n,):
                raise IndexError(f"LazyRows: a boolean mask must have shape ({self._n},), got {a.shape}")
            a = np.flatnonzero(a)
        if a.size and not np.issubdtype(a.dtype, np.integer):
            raise IndexError(f"LazyRows: rows must be ints, a slice or a bool mask, got {a.dtype}")
        return a.astype(np.int64).reshape(-1), a.shape

    def __getitem__(self, key):
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) and len(key) else (key, ())
        if first is Ellipsis or first is None:
            return self.materialize()[key]
        if isinstance(first, (int, np.integer)) or (isinstance(first, torch.Tensor) and first.dim() == 0
                                                      and not first.is_floating_point() and first.dtype != torch.bool):
            row = self.rows([int(first)])[0]
            return row[rest] if rest else row
        p, shape = self._positions(first)
        block = self.rows(p)
        if not rest and len(shape) == 1:
            return block
        pick = torch.arange(len(p)).reshape(shape)
        return block[(pick,) + tuple(rest)]

    def __iter__(self):
        for i in range(self._n):
            yield self[i]

    def materialize(self, chunk: int | None = None) -> torch.Tensor:
        """Every row, as one tensor ``(N, *row_shape)``, computed ``chunk`` rows at a time (default:
        :data:`CHUNK_BYTES` of output per chunk)."""
        row = max(1, int(np.prod(self._row_shape)) * torch.empty((), dtype=self._dtype).element_size())
        chunk = chunk or max(1, CHUNK_BYTES // row)
        out = torch.empty(tuple(self.shape), dtype=self._dtype)
        for i in range(0, self._n, chunk):
            out[i:i + chunk] = self.rows(np.arange(i, min(i + chunk, self._n)))
        return out

    # -- everything else: on the materialised tensor --------------------------------------------
    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        conv = lambda a: a.materialize() if isinstance(a, LazyRows) else \
            type(a)(conv(b) for b in a) if isinstance(a, (list, tuple)) else a  # noqa: E731
        return func(*conv(args), **{k: conv(v) for k, v in (kwargs or {}).items()})

    def __array__(self, dtype=None, copy=None):
        a = self.materialize().numpy()
        return a if dtype is None else a.astype(dtype)

    def _op(name):  # noqa: N805 - arithmetic on the materialised tensor
        return lambda self, *args: getattr(self.materialize(), name)(*args)

    for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__", "__truediv__",
                  "__rtruediv__", "__neg__", "__abs__", "__lt__", "__le__", "__gt__", "__ge__"):
        locals()[_name] = _op(_name)
    del _op, _name

    def __getattr__(self, name):
        if name.startswith("__") or name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.materialize(), name)

    @staticmethod
    def cat(parts) -> "LazyRows":
        """``torch.cat(parts)`` along the rows, lazily: ``parts`` are :class:`LazyRows` or tensors
        of the same row shape and dtype. Raises ``ValueError`` otherwise."""
        parts = list(parts)
        shapes = {tuple(p.shape[1:]) for p in parts}
        if len(shapes) != 1 or len({p.dtype for p in parts}) != 1:
            raise ValueError(f"LazyRows.cat: parts of different row shapes or dtypes: {shapes}")
        bounds = np.cumsum([0] + [len(p) for p in parts])
        row_shape = shapes.pop()

        def fn(pos):
            k = np.searchsorted(bounds, pos, side="right") - 1
            out = torch.empty((len(pos),) + row_shape, dtype=parts[0].dtype)
            for j in np.unique(k):
                sel = np.flatnonzero(k == j)
                part = parts[j]
                local = pos[sel] - bounds[j]
                out[torch.from_numpy(sel)] = part.rows(local) if isinstance(part, LazyRows) else \
                    part[torch.from_numpy(local)]
            return out

        return LazyRows(int(bounds[-1]), row_shape, fn, parts[0].dtype)


def _memmap_key(joints, valid_frames, rows, skeleton: Skeleton):
    """What identifies the normalised frames of memory-mapped ``joints``: the file (path, inode,
    size, mtime), the view (offset, shape, strides, dtype), the valid frames, the rows, the
    skeleton. ``None`` for arrays in memory."""
    import hashlib

    if not is_memory_mapped(joints):
        return None
    ref = _MappedRef(joints)
    if ref.filename is None:  # pragma: no cover - anonymous maps
        return None
    import os

    st = os.stat(ref.filename)
    digest = lambda a: hashlib.sha1(np.ascontiguousarray(a).tobytes()).hexdigest()  # noqa: E731
    return (str(ref.filename), st.st_ino, st.st_size, st.st_mtime_ns, ref.offset, tuple(ref.shape),
            tuple(ref.strides), str(ref.dtype), digest(np.asarray(valid_frames, np.int64)),
            None if rows is None else digest(np.asarray(rows, np.int64)), skeleton.name)


class NormalizedFrames:
    """:func:`normalize_skeleton` of (memory-mapped) sequences, kept at their valid frames only.

    Parameters
    ----------
    joints : ``(N, M, T, V, 3)`` metres (a ``np.memmap`` of :mod:`paperlib.data.cache`, or in memory).
    valid_frames : ``(N,)`` ints in ``[1, T]``.
    rows : the rows of ``joints`` to keep (default: all), in this order; position ``i`` of the
        store is row ``rows[i]``.
    skeleton : the skeleton of the joints (:func:`normalize_skeleton`'s reference joints).

    Built once, ``CHUNK_BYTES`` of rows at a time: each chunk is read, normalised exactly as
    :func:`normalize_skeleton` does (same function, so the same float32 values, bit for bit) and its
    frames ``[0, T_valid)`` appended to ``frames`` (``(sum T_valid, M, V, 3)`` float32,
    sample ``i``'s frames at ``offsets[i]:offsets[i + 1]``). Every view the lessons take of a
    sequence (the observed prefix resampled, the valid frames sampled) reads only frames inside
    ``[0, T_valid)``, so this is all they need: for NTU RGB+D 60 (about 80 valid frames of the 300
    padded ones on average) a quarter of the joints' size, in place of ten resampled views.

    :meth:`resample` and :meth:`sampled` compute rows of those views from it, equal bit for bit to
    :func:`crop_observation` / :class:`SkeletonDataset` on the normalised array. :meth:`shared`
    returns the one store of the same memory-mapped file, view, rows and skeleton while any is
    alive (the lessons build views of the same data several times).

    Raises ``ValueError`` for a joint layout that does not match ``skeleton`` or valid frames
    outside ``[1, T]``.
    """

    _SHARED = None  # weakref.WeakValueDictionary, created on first use

    def __init__(self, joints, valid_frames, rows=None, skeleton: Skeleton = NTU25):
        shape = np.shape(joints)
        if len(shape) != 5 or shape[3] != skeleton.num_joints or shape[4] != 3:
            raise ValueError(f"NormalizedFrames: expected joints (N, M, T, {skeleton.num_joints}, 3), got {shape}")
        N, M, T, V, _ = shape
        rows = np.arange(N, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64).reshape(-1)
        valid = np.asarray(valid_frames, dtype=np.int64).reshape(-1)[rows]
        if len(valid) and (valid.min() < 1 or valid.max() > T):
            raise ValueError(f"NormalizedFrames: valid_frames must lie in [1, {T}], got [{valid.min()}, {valid.max()}]")
        self.skeleton, self.total_frames, self.valid = skeleton, T, valid
        self.offsets = np.concatenate([[0], np.cumsum(valid)]).astype(np.int64)
        self.frames = np.empty((int(self.offsets[-1]), M, V, 3), np.float32)
        step = _chunk_rows(joints)
        t = np.arange(T)
        for i in range(0, len(rows), step):
            r, v = rows[i:i + step], valid[i:i + step]
            x = normalize_skeleton(np.asarray(joints[r], dtype=np.float32), v, skeleton)   # in memory: one block
            self.frames[self.offsets[i]:self.offsets[i + len(r)]] = x.transpose(0, 2, 1, 3, 4)[t[None, :] < v[:, None]]

    @classmethod
    def shared(cls, joints, valid_frames, rows=None, skeleton: Skeleton = NTU25) -> "NormalizedFrames":
        """The store of a memory-mapped ``joints`` shared while alive (weakly cached by file, view,
        valid frames, rows and skeleton); a new one for arrays in memory."""
        import weakref

        key = _memmap_key(joints, valid_frames, rows, skeleton)
        if key is None:
            return cls(joints, valid_frames, rows, skeleton)
        if cls._SHARED is None:
            cls._SHARED = weakref.WeakValueDictionary()
        store = cls._SHARED.get(key)
        if store is None:
            store = cls(joints, valid_frames, rows, skeleton)
            cls._SHARED[key] = store
        return store

    def __len__(self):
        return len(self.valid)

    @property
    def nbytes(self) -> int:
        return int(self.frames.nbytes + self.offsets.nbytes + self.valid.nbytes)

    def take(self, positions, frames) -> np.ndarray:
        """Normalised frames ``frames (B, K)`` (each in ``[0, T_valid)`` of its sequence) of the
        sequences at ``positions (B,)``: ``(B, M, K, V, 3)`` float32. Raises ``IndexError`` for a
        frame outside a sequence's valid frames."""
        p = np.asarray(positions, dtype=np.int64).reshape(-1)
        f = np.asarray(frames, dtype=np.int64)
        f = f.reshape(len(p), f.shape[-1] if f.ndim else 1)
        if f.size and ((f < 0).any() or (f >= self.valid[p][:, None]).any()):
            raise IndexError("NormalizedFrames.take: a frame outside the sequence's valid frames")
        return self.frames[self.offsets[p][:, None] + f].transpose(0, 2, 1, 3, 4)

    def resample(self, positions, ratio, out_frames: int) -> torch.Tensor:
        """The observed prefix at ``ratio`` (a float, or ``(B,)`` one per sequence) linearly
        resampled to ``out_frames`` frames: ``(B, M, out_frames, V, 3)`` float32, equal bit for bit
        to ``crop_observation(normalize_skeleton(joints[rows]), valid, ratio, "resample",
        out_frames)[0]`` at those rows (the same operations on the same values). Raises
        ``ValueError`` for a ratio outside (0, 1]."""
        p = np.asarray(positions, dtype=np.int64).reshape(-1)
        r = np.broadcast_to(np.asarray(ratio, dtype=np.float64), p.shape)
        if r.size and (not (r > 0).all() or not (r <= 1).all()):
            raise ValueError(f"observation ratio must be in (0, 1], got {np.unique(r)}")
        L = np.maximum(np.ceil(r * self.valid[p] - 1e-9).astype(np.int64), 1)   # observed_length, per sequence
        # crop_observation's resampling, step by step
        Lm1 = torch.from_numpy(L - 1)
        pos = torch.linspace(0, 1, out_frames, dtype=torch.float64)[None, :] * Lm1[:, None]
        lo = pos.floor().long()
        hi = torch.minimum(lo + 1, Lm1[:, None])
        w = (pos - lo).to(torch.float32)[:, None, :, None, None]
        g_lo = torch.from_numpy(self.take(p, lo.numpy()))
        g_hi = torch.from_numpy(self.take(p, hi.numpy()))
        return g_lo * (1 - w) + g_hi * w

    def sampled(self, positions, frames: int, ratio: float = 1.0):
        """:class:`SkeletonDataset`'s ``policy="pad"``, ``sampling="valid"`` rows (``frames < T``):
        ``min(T_valid, frames)`` frames spread over the valid length, those at or past the observed
        prefix at ``ratio`` zero. Returns ``(x (B, M, frames, V, 3) float32 ndarray, valid_out (B,),
        observed (B,))``, equal bit for bit to that Dataset's rows before the network layout."""
        p = np.asarray(positions, dtype=np.int64).reshape(-1)
        valid = self.valid[p]
        index, valid_out = sampled_frames(valid, self.total_frames, frames, "valid")
        observed = observed_frames(valid, ratio, self.total_frames, frames, "valid")
        keep = np.arange(frames)[None, :] < observed[:, None]
        x = self.take(p, np.maximum(index, 0))
        x = x * keep[:, None, :, None, None].astype(x.dtype)
        return x, valid_out, observed
