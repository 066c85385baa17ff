"""Sequence utilities: observation-ratio cropping, normalisation, bone streams, Datasets.

Array layout: joints are ``(N, M, T, V, 3)`` (samples, bodies, frames, joints, xyz) in
metres; networks take ``(N, C, T, V, M)`` as in ST-GCN / 2s-AGCN.

Early action prediction protocol (ERA, Sec. 3.1): a sequence of ``T_valid`` valid frames
observed at ratio ``r`` keeps frames ``[0, ceil(r * T_valid))``. Nothing after them is ever
kept, and sequences are never padded by cyclic repetition (the 2s-AGCN preprocessing does
that, and a truncated array then still contains the whole action).
"""
from __future__ import annotations

import math

import numpy as np
import torch

from ..skeleton import NTU25, Skeleton, get_skeleton
from .arrays import SkeletonArrays

__all__ = ["OBS_RATIOS", "observed_length", "crop_observation", "normalize_skeleton", "bone_stream", "mask_after", "random_observation",
           "to_network_layout", "SkeletonDataset"]

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

    ``joints (N, M, T, V, 3)`` metres -> same shape, float32. ``valid_frames (N,)``.
    Raises ``ValueError`` on a joint count that does not match ``skeleton``.
    """
    x = np.asarray(joints, dtype=np.float32)
    if x.ndim != 5 or x.shape[3] != skeleton.num_joints or x.shape[4] != 3:
        raise ValueError(f"normalize_skeleton: expected (N, M, T, {skeleton.num_joints}, 3), got {x.shape}")
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
    frames : optional output length. With ``policy="pad"`` the observed prefix is cropped at
        full resolution first (frames ``[0, L)``, ``L = ceil(ratio * T_valid)``), and only then
        subsampled by the integer stride ``T // frames`` (frame ``k * stride`` is kept): a kept
        frame is never past the prefix. (Subsampling first and cropping the subsampled sequence
        would keep frames up to ``stride - 1`` past it: with ``T_valid = 13``, stride 4 and
        ``r = 0.8`` it kept frame 12 while the prefix ends at frame 10.)

    Items are ``(x, y)`` with ``x`` float32 ``(C, T, V, M)`` and ``y`` an int64 label.
    ``self.x`` ``(N, C, T, V, M)`` and ``self.y`` ``(N,)`` hold everything, for
    ``TensorDataset``-style fast batching; ``self.valid (N,)`` are the valid frames after
    subsampling and ``self.observed (N,)`` the observed ones at ``ratio`` after subsampling
    (``ceil(L / stride)`` with ``policy="pad"``).
    """

    def __init__(self, data: SkeletonArrays, indices=None, ratio: float = 1.0, stream: str = "joint",
                 normalize: bool = True, policy: str = "pad", frames: int | None = None):
        if stream not in ("joint", "bone", "joint+bone"):
            raise ValueError(f"SkeletonDataset: stream must be joint, bone or joint+bone, got {stream!r}")
        sub = data.subset(indices) if indices is not None else data
        skel = get_skeleton(sub.skeleton_name)
        x = sub.joints
        valid = sub.valid_frames
        if normalize:
            x = normalize_skeleton(x, valid, skel)
        if policy == "pad":
            x, L = crop_observation(x, valid, ratio, policy="pad")  # at full resolution: no leakage
            stride = x.shape[2] // frames if frames is not None and frames < x.shape[2] else 1
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
        self.x = torch.from_numpy(to_network_layout(x))
        self.y = torch.from_numpy(np.asarray(sub.labels, dtype=np.int64))
        self.ratio = ratio
        self.valid = torch.from_numpy(np.asarray(valid, dtype=np.int64))  # valid frames after subsampling
        self.observed = np.asarray(observed, dtype=np.int64)

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


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
