"""Notebook 02: UPS, Unified Pose Sequence Modeling (Foo, Li, Rahmani, Ke, Liu, CVPR 2023).

Paper: https://openaccess.thecvf.com/content/CVPR2023/html/Foo_Unified_Pose_Sequence_Modeling_CVPR_2023_paper.html.
No official code exists; everything here is written from the paper. Equations are numbered as in
the paper (it numbers three: Eq. 1 the routing scores, Eq. 2 the Gumbel-softmax block selection,
Eq. 3 the sequence NLL).

* the four task views of one set of skeleton sequences (:func:`make_views`): 3D recognition, 2D
  recognition (pinhole projection, ``z = 0``), 3D pose estimation as 2D-to-3D lifting of noisy
  keypoints, early prediction (observed prefixes); the interference knob ``label_permute``
  (:func:`permute_labels`): the 2D-recognition labels are permuted relative to the 3D ones;
* the unified vocabulary (Sec. 3.2, :class:`Vocab`): class names, coordinate bins and end-of-task
  prompts, embedded by a frozen text encoder; quantisation, target token sequences, the grammar;
* the model (Secs. 3.3-3.4, :class:`UPS`): joint tokenizer (TCN-GCN), ``L`` layers of ``H``
  routed SEM-TEM blocks (:func:`route_scores` Eq. 1, :func:`select_blocks` Eq. 2), an
  autoregressive decoder with logits ``h W Omega^T``;
* training (Sec. 3.5, :func:`train_ups`): the four tasks rotated every iteration, Eq. 3
  (:func:`sequence_nll`), a soft-routing warm-up, the per-block update counts;
* evaluation (:func:`evaluate`; the pose read-out is a choice, e.g. :func:`pose_expectation`),
  references (mean pose, quantisation floor, a direct-regression MLP, :func:`train_regression_mlp`)
  and :func:`run_experiment`, one seed of the grid of ``notebooks/results/02_ups_unified_pose_sequence``.

Conventions: network inputs are ``(B, 6, T, 25)`` float32 (two NTU-25 bodies x 3 coordinates as
channels, ``T`` frames); pose targets ``(B, 16, 3)`` metres, root-relative Human3.6M-17 joints
without the root; tasks are indexed in :data:`TASKS` order.
"""
from __future__ import annotations

import copy
import time
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data import synthetic
from ..data.sequences import LazyRows, crop_observation, normalize_skeleton
from ..kinematics import project_pinhole, rotation_about_y
from ..metrics import mpjpe, pa_mpjpe
from ..nn.graph import GraphConv, TCNGCNBlock
from ..skeleton import H36M17, NTU25, OPENPOSE18
from ..train import autocast, backward_step, grad_scaler, model_device, resolve_device, to_device

__all__ = ["TASKS", "OBS_RATIOS", "COORD_RANGE", "FIG4_ROUTE", "fill_missing", "to_net", "project_2d", "centre_2d",
           "recognition_views", "recognition_2d_view", "pose_view", "kinetics_to_ntu", "h36m_camera_windows",
           "permute_labels", "make_views", "prompts_for", "Vocab", "build_vocab", "TaskBatchNorm", "use_task_bn",
           "JointTokenizer", "TEM", "frame_tokens", "joint_tokens", "SEMTEM", "route_scores", "select_blocks",
           "DecoderBlock", "UPSDecoder", "UPS", "sequence_nll", "TaskRotation", "train_ups", "finetune",
           "evaluate", "pose_expectation", "decoding_record", "pose_references", "train_regression_mlp", "VARIANTS",
           "run_experiment"]

#: The tasks, in the paper's rotation order (Sec. 3.5).
TASKS = ("pose3d", "ar2d", "ep3d", "ar3d")
#: Early-prediction observation ratios (training and test).
OBS_RATIOS = (0.2, 0.4, 0.6)
#: Metres, x / y / z range of the root-relative joints that the bins cover.
COORD_RANGE = ((-0.8, 0.8), (-1.1, 0.9), (-1.0, 0.8))
#: Hand-assigned route for ``H = 2``, ``L = 2`` after the paper's Fig. 4 (pose estimation and action
#: prediction share the early layer, recognition and prediction the later one): task -> block per layer.
FIG4_ROUTE = {"pose3d": (0, 0), "ar2d": (1, 1), "ep3d": (0, 1), "ar3d": (1, 1)}

NTU = {n: i for i, n in enumerate(NTU25.joint_names)}
H36M_AS_NTU = {"hip": "spine_base", "hip_right": "hip_right", "knee_right": "knee_right",
               "foot_right": "ankle_right", "hip_left": "hip_left", "knee_left": "knee_left",
               "foot_left": "ankle_left", "spine": "spine_mid", "thorax": "spine_shoulder",
               "neck_nose": "neck", "head": "head", "shoulder_left": "shoulder_left",
               "elbow_left": "elbow_left", "wrist_left": "wrist_left", "shoulder_right": "shoulder_right",
               "elbow_right": "elbow_right", "wrist_right": "wrist_right"}
NTU_OF_H36M = np.array([NTU[H36M_AS_NTU[n]] for n in H36M17.joint_names])
OPENPOSE_AS_NTU = {"nose": "head", "neck": "spine_shoulder", "shoulder_right": "shoulder_right",
                   "elbow_right": "elbow_right", "wrist_right": "wrist_right", "shoulder_left": "shoulder_left",
                   "elbow_left": "elbow_left", "wrist_left": "wrist_left", "hip_right": "hip_right",
                   "knee_right": "knee_right", "ankle_right": "ankle_right", "hip_left": "hip_left",
                   "knee_left": "knee_left", "ankle_left": "ankle_left"}
FOCAL, CENTER, Z_REF = 365.0, (256.0, 212.0), 3.0   # Kinect v2 depth camera (px); 2D in "metres at 3 m"
KINETICS_SCALE = 3.5   # Kinetics x, y span [-0.5, 0.5] of the frame; a person is ~half of it (~1.75 m)
NJ = H36M17.num_joints - 1   # 16 predicted joints (the root is the origin)
A_NTU = NTU25.adjacency()
J = NTU25.num_joints


def _seed(*parts) -> int:
    """A 31-bit seed from ``parts`` (crc32 of their text): the same parts give the same seed."""
    return zlib.crc32("/".join(map(str, parts)).encode()) & 0x7FFFFFFF


# ----------------------------------------------------------------------------------------------
# Data: the four task views
# ----------------------------------------------------------------------------------------------
def fill_missing(x: np.ndarray, have) -> np.ndarray:
    """NTU-25 joints not listed in ``have`` take their parent's position (``x (..., 25, 3)``)."""
    x, have = x.copy(), {int(i) for i in have}
    for j in NTU25.order:
        if j not in have and NTU25.parents[j] >= 0:
            x[..., j, :] = x[..., NTU25.parents[j], :]
    return x


def to_net(x: np.ndarray) -> torch.Tensor:
    """``(N, M, T, V, 3)`` -> ``(N, 3M, T, V)`` float32: the bodies' coordinates stacked as channels."""
    N, M, T, V, C = x.shape
    return torch.from_numpy(np.ascontiguousarray(x.transpose(0, 1, 4, 2, 3).reshape(N, M * C, T, V),
                                                 dtype=np.float32))


def project_2d(joints, rng=None, noise_px: float = 0.0, outlier_prob: float = 0.0, outlier_px: float = 0.0):
    """Camera-frame joints ``(..., 3)`` metres -> 2D in "metres at ``Z_REF``" with ``z = 0``.

    Pinhole projection (focal ``FOCAL`` px), optional detector-like noise (Gaussian ``noise_px``
    plus a fraction ``outlier_prob`` of joints moved by ``outlier_px``; needs ``rng``). Absent
    (all-zero) joints stay 0; ``z`` is the paper's zero padding for 2D inputs. float32 ``(..., 3)``.
    """
    j = torch.as_tensor(np.asarray(joints), dtype=torch.float64)
    present = j[..., 2] > 0
    uv = project_pinhole(torch.where(present[..., None], j, torch.ones_like(j)), FOCAL, CENTER).numpy()
    if noise_px > 0:
        uv = uv + rng.normal(0.0, noise_px, uv.shape)
        jump = rng.random(uv.shape[:-1]) < outlier_prob
        uv = uv + jump[..., None] * rng.normal(0.0, outlier_px, uv.shape)
    xy = -(uv - np.asarray(CENTER)) / FOCAL * Z_REF          # Kinect convention: +x = the image's left
    out = np.concatenate([xy, np.zeros_like(xy[..., :1])], -1) * present.numpy()[..., None]
    return out.astype(np.float32)


def centre_2d(p: np.ndarray) -> np.ndarray:
    """Subtract body 0's spine base in frame 0 from every present joint of ``(N, M, T, V, 3)``."""
    return p - p[:, :1, :1, :1] * (np.abs(p).sum(-1, keepdims=True) > 0)


def recognition_views(joints, valid, labels, num_frames: int = 8, obs_ratios=OBS_RATIOS):
    """3D recognition and early-prediction inputs: centred, facing the camera, resampled to ``T``.

    ``joints (N, M, T_raw, 25, 3)``, ``valid (N,)``. Returns ``(ar (N, 6, T, 25), {r: (N, 6, T, 25)},
    labels (N,))``; the prefix at ratio ``r`` keeps frames ``[0, ceil(r T_valid))`` only.
    """
    x3 = normalize_skeleton(joints, valid)
    ar = to_net(crop_observation(x3, valid, 1.0, "resample", num_frames)[0])
    ep = {r: to_net(crop_observation(x3, valid, r, "resample", num_frames)[0]) for r in obs_ratios}
    return ar, ep, torch.as_tensor(np.asarray(labels), dtype=torch.long)


def recognition_2d_view(xy, valid, labels, num_frames: int = 8):
    """2D recognition input ``(N, 6, T, 25)`` from 2D joints ``(N, M, T_raw, 25, 3)`` with ``z = 0``."""
    x = to_net(crop_observation(centre_2d(xy), valid, 1.0, "resample", num_frames)[0])
    return x, torch.as_tensor(np.asarray(labels), dtype=torch.long)


def pose_view(cam, valid, rng, num_frames: int = 8, windows: int = 1, noise_px: float = 2.0):
    """2D-to-3D lifting samples (the stand-in for Human3.6M with CPN detections).

    ``cam (N, T_raw, 25, 3)``: camera-frame joints of one body. Draws ``windows`` windows of
    ``2T`` frames per sequence, kept at stride 2. Input: their noisy 2D keypoints (``noise_px``
    Gaussian, 3% outliers of ``6 noise_px``), centred on the root of the centre frame, as
    ``(N*windows, 6, T, 25)`` (body 1 and ``z`` zero). Target: the centre frame's Human3.6M-17
    joints, root-relative, without the root: ``(N*windows, 16, 3)`` metres.
    """
    W, c = 2 * num_frames, num_frames // 2
    valid = np.asarray(valid)
    start = np.concatenate([rng.integers(0, valid - W + 1) for _ in range(windows)])
    rows = np.tile(np.arange(len(cam)), windows)
    win = cam[rows[:, None], start[:, None] + np.arange(0, W, 2)[None]]          # (N', T, 25, 3)
    kp = project_2d(win, rng, noise_px, 0.03, 6 * noise_px)
    kp = kp - kp[:, c:c + 1, NTU["spine_base"]:NTU["spine_base"] + 1]
    x = np.zeros((len(win), 2, num_frames, 25, 3), np.float32)
    x[:, 0] = kp
    gt = win[:, c][:, NTU_OF_H36M]
    return to_net(x), torch.from_numpy((gt[:, 1:] - gt[:, :1]).astype(np.float32))


def kinetics_to_ntu(data):
    """ST-GCN's Kinetics arrays ``(N, 3, T, 18, M)`` (x, y in [-0.5, 0.5], y down; score) ->
    ``(N, M, T, 25, 3)`` with ``z = 0`` in the NTU-25 layout, and the valid frames ``(N,)``."""
    xy = np.asarray(data)[:, :2].transpose(0, 4, 2, 3, 1)                        # (N, M, T, 18, 2)
    out = np.zeros(xy.shape[:3] + (25, 3), np.float32)
    for op, nt in OPENPOSE_AS_NTU.items():
        out[..., NTU[nt], 0] = -xy[..., OPENPOSE18.index(op), 0] * KINETICS_SCALE   # image right -> -x
        out[..., NTU[nt], 1] = -xy[..., OPENPOSE18.index(op), 1] * KINETICS_SCALE   # image down -> -y
    out[..., NTU["spine_base"], :] = 0.5 * (out[..., NTU["hip_left"], :] + out[..., NTU["hip_right"], :])
    out[..., NTU["spine_mid"], :] = 0.5 * (out[..., NTU["spine_base"], :] + out[..., NTU["spine_shoulder"], :])
    out = fill_missing(out, [NTU[n] for n in OPENPOSE_AS_NTU.values()] + [NTU["spine_base"], NTU["spine_mid"]])
    seen = np.abs(out).sum((1, 3, 4)) > 0                                            # (N, T)
    valid = np.where(seen.any(1), seen.shape[1] - np.argmax(seen[:, ::-1], 1), 1)
    return out, valid


def h36m_camera_windows(h36m_file, subjects, rng, num_frames: int = 8, limit: int | None = None, cache_dir=None):
    """Human3.6M windows of ``2T`` frames (VideoPose3D's ``data_3d_h36m.npz``) seen by a virtual
    camera (y up, random yaw, 4.5 m away), in the NTU-25 layout: ``(N, 2T, 25, 3)`` and valid frames.

    The file is read through its memory-mapped cache (:func:`paperlib.data.cache.build_cache`,
    ``cache_dir`` default next to the file): unpickled once, then opened; the values are those of
    :func:`paperlib.data.h36m.load_h36m_3d`. Raises ``ValueError`` naming the file when no
    sequence of ``subjects`` is ``2T`` frames long."""
    from ..data import cache as data_cache
    from ..data import h36m

    pos = data_cache.h36m_subjects(data_cache.open_cache(data_cache.build_cache(h36m_file, cache_dir, "h36m")),
                                   subjects, h36m_file)
    win, _, _ = h36m.h36m_windows(pos, subjects, length=2 * num_frames, stride=2 * num_frames)
    if len(win) == 0:
        raise ValueError(f"{h36m_file}: no sequence of subjects {list(subjects)} holds a window of 2 * num_frames = "
                         f"{2 * num_frames} frames")
    if limit:
        win = win[rng.permutation(len(win))[:limit]]
    w = win @ np.array([[1, 0, 0], [0, 0, 1], [0, -1, 0]], np.float32).T           # z-up -> y-up
    w = w - w[:, num_frames:num_frames + 1, :1]                                      # centre-frame root at 0
    R = np.asarray(rotation_about_y(rng.uniform(-np.pi, np.pi, len(w))), np.float32)
    cam = np.einsum("nij,ntvj->ntvi", R, w) + np.array([0.0, 0.0, 4.5], np.float32)
    out = np.zeros(cam.shape[:2] + (25, 3), np.float32)
    out[..., NTU_OF_H36M, :] = cam
    return fill_missing(out, NTU_OF_H36M), np.full(len(out), 2 * num_frames)


def permute_labels(num_classes: int, p: float, seed: int = 0) -> np.ndarray:
    """The interference knob: a class permutation ``perm`` that moves a fraction ``p`` of the classes.

    ``k = round(p * num_classes)`` classes (``k = 1`` is raised to 2: one class cannot move alone),
    drawn with ``seed``, are shifted cyclically among themselves, so each of them gets another
    class's label; the others keep theirs. ``p = 0`` gives the identity, ``p = 1`` a permutation
    with no fixed point. Apply as ``new_label = perm[label]``. Raises ``ValueError`` unless
    ``0 <= p <= 1`` and ``num_classes >= 2``.
    """
    if not 0.0 <= float(p) <= 1.0:
        raise ValueError(f"permute_labels: p must be in [0, 1], got {p!r}")
    if num_classes < 2:
        raise ValueError(f"permute_labels: need at least 2 classes, got {num_classes}")
    k = int(round(float(p) * num_classes))
    k = 2 if k == 1 else k
    perm = np.arange(num_classes)
    if k:
        moved = np.sort(np.random.default_rng(_seed(seed, "label_permute")).choice(num_classes, k, replace=False))
        perm[moved] = np.roll(moved, 1)
    return perm


def _in_chunks(fn, n: int, step: int, *arrays):
    """``fn`` over rows ``[i, i + step)`` of ``arrays`` (memmaps are read chunk by chunk), its
    outputs (a tuple of tensors, or of dicts of tensors, one row per input row) gathered into
    tensors allocated once. ``fn`` works sample by sample, so the result is the one of a single
    call on all rows, without all rows' intermediates in memory."""
    if n == 0:
        return fn(*(a[:0] for a in arrays))
    out = None
    for i in range(0, n, step):
        part = fn(*(a[i:i + step] for a in arrays))
        if out is None:
            alloc = lambda t: {k: alloc(v) for k, v in t.items()} if isinstance(t, dict) else \
                t.new_empty((n,) + tuple(t.shape[1:]))
            out = tuple(alloc(t) for t in part)

        def put(dst, src):
            if isinstance(src, dict):
                for k in src:
                    put(dst[k], src[k])
            else:
                dst[i:i + len(src)] = src

        for dst, src in zip(out, part):
            put(dst, src)
    return out


def _lazy_recognition_views(store, positions, labels, num_frames: int, obs_ratios):
    """:func:`recognition_views` of the sequences at ``positions`` of a
    :class:`~paperlib.data.sequences.NormalizedFrames` store, as
    :class:`~paperlib.data.sequences.LazyRows` (each row computed when indexed, equal bit for bit
    to the tensors :func:`recognition_views` returns): ``(ar, {r: ep_r}, labels)``."""
    positions = np.asarray(positions, dtype=np.int64)
    M, V = store.frames.shape[1], store.frames.shape[2]
    view = lambda r: LazyRows(len(positions), (3 * M, num_frames, V),  # noqa: E731
                              lambda p: _to_net_t(store.resample(positions[p], r, num_frames)))
    return view(1.0), {r: view(r) for r in obs_ratios}, torch.as_tensor(np.asarray(labels), dtype=torch.long)


def _to_net_t(x: torch.Tensor) -> torch.Tensor:
    """:func:`to_net` of a tensor: ``(N, M, T, V, 3)`` -> ``(N, 3M, T, V)`` float32, contiguous."""
    N, M, T, V, C = x.shape
    return x.permute(0, 1, 4, 2, 3).reshape(N, M * C, T, V).contiguous().float()


def _kinetics_2d_view(kin_cache, kin, n: int, num_frames: int, chunk: int):
    """The 2D recognition view of the first ``n`` clips of a Kinetics-skeleton cache:
    ``(x (n, 6, T, 25), labels (n,))``, ``x`` a :class:`~paperlib.data.sequences.LazyRows` reading a
    file computed once beside the cache (:func:`paperlib.data.cache.derived_rows`; 10 GB for the
    240,436 training clips at 64 frames, which would not fit in memory, and 5 ms a clip to compute
    from the joints, too slow per batch), or a tensor computed in memory if the cache's folder is
    read-only. The values are :func:`recognition_2d_view`'s of :func:`kinetics_to_ntu`'s arrays."""
    from ..data import cache as data_cache

    labels = torch.as_tensor(np.asarray(kin.labels[:n]), dtype=torch.long)

    def compute(a, b):
        return recognition_2d_view(*kinetics_to_ntu(kin.data[a:b]), kin.labels[a:b], num_frames)[0]

    shape = (2 * 3, num_frames, 25)
    mm = data_cache.derived_rows(kin_cache, f"ar2d-F{num_frames}-n{n}", n, shape, compute, chunk)
    if mm is None:
        x = torch.empty((n,) + shape)
        for i in range(0, n, chunk):
            x[i:i + chunk] = compute(i, min(i + chunk, n))
        return x, labels
    return LazyRows(n, shape, lambda p: torch.from_numpy(np.array(mm[p]))), labels


def make_views(seed: int = 0, dataset: str = "synthetic", num_samples: int = 1700, num_frames: int = 8,
               obs_ratios=OBS_RATIOS, pose_windows: int = 4, pose_noise_px: float = 2.0,
               label_permute: float = 0.0, ntu_dir=None, ntu_benchmark: str = "xsub", ntu_missing_list=None,
               kinetics_dir=None, h36m_file=None, real_limit: int | None = None, cache_dir=None):
    """The four task views of one seed's data (Sec. 4.1 of the paper, in miniature).

    ``dataset="synthetic"``: :func:`paperlib.data.synthetic.generate` (``num_samples``
    sequences, 17 classes in families sharing their opening), cross-subject split; 3D
    recognition and early prediction from the 3D joints, 2D recognition from their projection,
    pose estimation from noisy 2D keypoints of ``pose_windows`` windows per training sequence (1
    per test sequence). ``"real"``: NTU RGB+D (``ntu_dir``), Kinetics-skeleton (``kinetics_dir``)
    and Human3.6M (``h36m_file``) through ``paperlib.data``'s loaders, read via their memory-mapped
    caches (:mod:`paperlib.data.cache`; built on the first call, in ``cache_dir`` (subfolders
    ``ntu``, ``kinetics_train``, ``kinetics_val``, ``h36m``) or by default next to each source),
    so the full arrays are never in memory (NTU-60: 10 GB, Kinetics-skeleton: 31 GB as arrays); the
    samples, labels and skip reports are the loaders'. The real views are not tensors either (at 64
    frames the NTU views of ten ratios would take 24 GB, the Kinetics 2D view 10 GB): the 3D views
    are :class:`~paperlib.data.sequences.LazyRows` computed when indexed from the normalised valid
    frames of the NTU rows (:class:`~paperlib.data.sequences.NormalizedFrames`, a quarter of the
    joints), the 2D view rows of a file computed once beside the Kinetics cache
    (:func:`paperlib.data.cache.derived_rows`); they index like tensors (``x[i]``, ``x[rows]``,
    ``x[a:b]``, ``len``, ``shape``) with the same values, bit for bit.

    ``label_permute`` (``p``, the interference knob): the 2D-recognition labels of train and test
    become ``perm[label]`` with ``perm = permute_labels(C, p, seed)``; the inputs are unchanged.

    Returns a namespace: ``train``, ``test`` (each ``{task: (x, y)}``; ``ep3d``'s ``x`` is
    ``{ratio: (N, 6, T, 25)}``, labels int64 ``(N,)``, pose targets ``(N, 16, 3)`` metres),
    ``names3d``, ``names2d``, ``perm``, ``num_frames``, ``obs_ratios``. Everything depends on
    ``seed`` and the arguments only (paired across variants). Raises ``ValueError`` for an
    unknown ``dataset``.
    """
    rng = np.random.default_rng(_seed(seed, "pose_windows"))
    views = {}
    if dataset == "synthetic":
        data = synthetic.generate(num_samples=num_samples, seed=seed)
        split = dict(zip(("train", "test"), synthetic.split_indices(data, "xsub")))
        names3d = names2d = list(data.class_names)
        for s, idx in split.items():
            sub = data.subset(idx)
            ar, ep, y = recognition_views(sub.joints, sub.valid_frames, sub.labels, num_frames, obs_ratios)
            ar2, y2 = recognition_2d_view(project_2d(sub.joints), sub.valid_frames, sub.labels, num_frames)
            pe = pose_view(sub.joints[:, 0], sub.valid_frames, rng, num_frames,
                           pose_windows if s == "train" else 1, pose_noise_px)
            views[s] = {"pose3d": pe, "ar2d": (ar2, y2), "ep3d": (ep, y), "ar3d": (ar, y)}
    elif dataset == "real":
        from ..data import cache as data_cache
        from ..data import h36m
        from ..data.sequences import CHUNK_BYTES, NormalizedFrames

        sub = lambda name: None if cache_dir is None else Path(cache_dir) / name
        ntu_cache = data_cache.build_cache(ntu_dir, sub("ntu"), "ntu", max_frames=300)
        ntu_all = data_cache.open_cache(ntu_cache)
        sel = {s: data_cache.ntu_select(ntu_cache, ntu_benchmark, s, limit=real_limit, missing_list=ntu_missing_list)
               for s in ("train", "test")}
        # the normalised valid frames of both splits' rows, once; the 3D views are computed from
        # them when indexed (as tensors, ten ratios at 64 frames: 24 GB for NTU-60)
        union = np.unique(np.concatenate([sel["train"][0], sel["test"][0]]))
        store = NormalizedFrames.shared(ntu_all.joints, ntu_all.valid_frames, union)
        for s in ("train", "test"):
            rows, labels, names3d, _ = sel[s]
            ar, ep, y = _lazy_recognition_views(store, np.searchsorted(union, rows), labels, num_frames, obs_ratios)
            part = "train" if s == "train" else "val"
            kin_cache = data_cache.build_cache(Path(kinetics_dir) / f"kinetics_{part}", sub(f"kinetics_{part}"),
                                               "kinetics", label_file=Path(kinetics_dir) / f"kinetics_{part}_label.json",
                                               max_frames=300)
            kin = data_cache.open_cache(kin_cache)
            data_cache.cache_report(kin_cache, limit=real_limit).warn()
            n_kin = len(kin) if real_limit is None else min(real_limit, len(kin))
            ar2, y2 = _kinetics_2d_view(kin_cache, kin, n_kin, num_frames,
                                        max(1, CHUNK_BYTES // max(kin.data[0].nbytes, 1)))
            subjects = h36m.H36M_TRAIN_SUBJECTS if s == "train" else h36m.H36M_TEST_SUBJECTS
            pe = pose_view(*h36m_camera_windows(h36m_file, subjects, rng, num_frames, real_limit, sub("h36m")), rng,
                           num_frames, 1, pose_noise_px)
            views[s] = {"pose3d": pe, "ar2d": (ar2, y2), "ep3d": (ep, y), "ar3d": (ar, y)}
        names2d = list(kin.class_names)
    else:
        raise ValueError(f"make_views: dataset must be 'synthetic' or 'real', got {dataset!r}")
    perm = permute_labels(len(names2d), label_permute, seed)
    for s in views:
        x2, y2 = views[s]["ar2d"]
        views[s]["ar2d"] = (x2, torch.from_numpy(perm)[y2])
    return SimpleNamespace(train=views["train"], test=views["test"], names3d=names3d, names2d=names2d, perm=perm,
                           num_frames=num_frames, obs_ratios=tuple(obs_ratios))


# ----------------------------------------------------------------------------------------------
# The unified vocabulary (Sec. 3.2)
# ----------------------------------------------------------------------------------------------
AXES = ("horizontal", "vertical", "depth")
EOT_PROMPTS = ("action recognition ends here", "pose estimation ends here", "action prediction ends here")


def _ordinal(k: int) -> str:
    return f"{k}{'th' if 11 <= k % 100 <= 13 else {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def prompts_for(class_names, n_bins: int = 64) -> list:
    """The text prompts of Omega_VOB: class names, ``"The k-th horizontal / vertical / depth
    coordinate"`` for ``k = 1..n_bins``, then the three end-of-task prompts (Sec. 3.2)."""
    return (list(class_names) + [f"The {_ordinal(k)} {ax} coordinate" for ax in AXES for k in range(1, n_bins + 1)]
            + list(EOT_PROMPTS))


class Vocab:
    """Omega_VOB with its token layout, quantisation and grammar (Sec. 3.2).

    Tokens: ``[0, n_cls)`` classes, then ``n_bins`` bins of x, of y, of z (first token of axis
    ``a``: ``bin0[a]``), then EOT_AR, EOT_PE, EOT_AP. ``omega`` float32 ``(|V|, e)``,
    ``|V| = n_cls + 3 n_bins + 3``. Quantisation per axis over ``coord_range`` (metres):
    ``b = round(clip((c - lo)/(hi - lo), 0, 1) (n_bins - 1))``, ``c~ = lo + b Delta``,
    ``Delta = (hi - lo)/(n_bins - 1)``.
    """

    def __init__(self, omega, class_names, names3d, names2d, n_bins: int = 64, coord_range=COORD_RANGE):
        self.class_names, self.n_bins = list(class_names), int(n_bins)
        self.n_cls = len(self.class_names)
        self.V = self.n_cls + 3 * self.n_bins + 3
        self.omega = torch.as_tensor(np.asarray(omega), dtype=torch.float32)
        if self.omega.shape[0] != self.V:
            raise ValueError(f"Vocab: omega has {self.omega.shape[0]} rows, the layout needs {self.V}")
        self.bin0 = torch.tensor([self.n_cls + self.n_bins * a for a in range(3)])
        self.eot = {"ar": self.V - 3, "pe": self.V - 2, "ap": self.V - 1}
        self.is_eot = torch.zeros(self.V, dtype=torch.bool)
        self.is_eot[list(self.eot.values())] = True
        self.lo = torch.tensor([r[0] for r in coord_range], dtype=torch.float32)
        self.hi = torch.tensor([r[1] for r in coord_range], dtype=torch.float32)
        self.step = (self.hi - self.lo) / (self.n_bins - 1)
        idx = {n: i for i, n in enumerate(self.class_names)}
        self.class_token = {"ar3d": torch.tensor([idx[n] for n in names3d]),
                            "ep3d": torch.tensor([idx[n] for n in names3d]),
                            "ar2d": torch.tensor([idx[n] for n in names2d])}
        self.task_eot = {"pose3d": self.eot["pe"], "ar2d": self.eot["ar"], "ep3d": self.eot["ap"],
                         "ar3d": self.eot["ar"]}
        self.max_len = 3 * NJ + 1
        self.grammar = {t: self._grammar(t) for t in TASKS}

    def quantise(self, c: torch.Tensor) -> torch.Tensor:
        """Metres ``(..., 3)`` -> bin indices ``(..., 3)`` int64 in ``[0, n_bins)``."""
        return torch.round(((c - self.lo) / (self.hi - self.lo)).clamp(0, 1) * (self.n_bins - 1)).long()

    def dequantise(self, b: torch.Tensor) -> torch.Tensor:
        """Bin indices ``(..., 3)`` -> metres ``lo + b Delta``."""
        return self.lo + b.to(self.lo.dtype) * self.step

    def target_tokens(self, task: str, y: torch.Tensor) -> torch.Tensor:
        """S_TAR of a batch: labels ``(B,)`` -> ``(B, 2)`` [class, EOT]; pose ``(B, 16, 3)`` metres ->
        ``(B, 49)`` [x_1, y_1, z_1, ..., z_16, EOT_PE]."""
        if task == "pose3d":
            bins = self.quantise(y) + self.bin0
            return torch.cat([bins.flatten(1), torch.full((len(y), 1), self.eot["pe"])], 1)
        return torch.stack([self.class_token[task][y], torch.full_like(y, self.task_eot[task])], 1)

    def parse_pose(self, tokens: torch.Tensor):
        """Generated tokens ``(B, >= 48)`` -> joints ``(B, 16, 3)`` metres and a validity mask
        ``(B, 16, 3)``; a slot whose token is not a bin of its axis becomes the middle bin."""
        tok = tokens[:, :3 * NJ].reshape(-1, NJ, 3)
        b = tok - self.bin0
        ok = (b >= 0) & (b < self.n_bins)
        return self.dequantise(torch.where(ok, b, torch.full_like(b, self.n_bins // 2))), ok

    def _grammar(self, task):
        K = self.max_len if task == "pose3d" else 2
        allowed = torch.zeros(K, self.V, dtype=torch.bool)
        if task == "pose3d":
            for k in range(3 * NJ):
                a = k % 3
                allowed[k, int(self.bin0[a]):int(self.bin0[a]) + self.n_bins] = True
        else:
            allowed[0, self.class_token[task].unique()] = True
        allowed[K - 1, self.task_eot[task]] = True
        return allowed


def build_vocab(names3d, names2d, n_bins: int = 64, coord_range=COORD_RANGE, embedding: str = "minilm",
                cache_dir=None, seed: int = 0):
    """The vocabulary of :class:`Vocab` with its text embeddings.

    ``embedding="minilm"``: all-MiniLM-L6-v2 (384-d, :func:`paperlib.text_vocab.embed_prompts`,
    offline; the paper uses RoBERTa-base), cached in ``cache_dir`` (default ``data/cache`` of the
    checkout). ``"random"``: unit Gaussian vectors of width 384 seeded by ``seed`` (for fast
    tests; no text structure). Raises ``ValueError`` for another ``embedding``.
    """
    class_names = list(dict.fromkeys(list(names3d) + list(names2d)))
    prompts = prompts_for(class_names, n_bins)
    if embedding == "minilm":
        from ..text_vocab import embed_prompts

        if cache_dir is None:
            cache_dir = Path(__file__).resolve().parents[2] / "data" / "cache"
        omega, _ = embed_prompts(prompts, cache_dir=cache_dir)
    elif embedding == "random":
        g = torch.Generator().manual_seed(_seed(seed, "random_vocab"))
        omega = torch.randn(len(prompts), 384, generator=g)
        omega = (omega / omega.norm(dim=1, keepdim=True)).numpy()
    else:
        raise ValueError(f"build_vocab: embedding must be 'minilm' or 'random', got {embedding!r}")
    vocab = Vocab(omega, class_names, names3d, names2d, n_bins, coord_range)
    vocab.prompts = prompts
    return vocab


# ----------------------------------------------------------------------------------------------
# The model (Secs. 3.3-3.4)
# ----------------------------------------------------------------------------------------------
class TaskBatchNorm(nn.BatchNorm2d):
    """BatchNorm2d with one set of running statistics per task (set ``.task``); affine weights shared.

    The tasks' input distributions differ (3D metres, 2D with ``z = 0``, noisy keypoints), so
    shared running statistics would match none of them at test time. Not in the paper.
    """

    def __init__(self, num_features, num_tasks, eps=1e-5, momentum=0.1):
        super().__init__(num_features, eps=eps, momentum=momentum)
        self.register_buffer("task_mean", torch.zeros(num_tasks, num_features))
        self.register_buffer("task_var", torch.ones(num_tasks, num_features))
        self.task = 0

    def forward(self, x):
        # task_mean[task] is a view: batch_norm updates that task's running statistics in place
        return F.batch_norm(x, self.task_mean[self.task], self.task_var[self.task], self.weight, self.bias,
                            self.training, self.momentum, self.eps)


def use_task_bn(module: nn.Module, num_tasks: int) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` inside ``module`` by a :class:`TaskBatchNorm` (same affine weights)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            tbn = TaskBatchNorm(child.num_features, num_tasks, child.eps, child.momentum)
            tbn.load_state_dict(child.state_dict(), strict=False)
            setattr(module, name, tbn)
        else:
            use_task_bn(child, num_tasks)
    return module


class JointTokenizer(nn.Module):
    """Joint coordinates tokenizer (Sec. 3.3): three TCN-GCN layers, P_IN ``(B, 6, T, J)`` ->
    S_IN ``(B, d, T, J)`` (one ``d``-dim token per joint and frame), plus a learned frame embedding."""

    def __init__(self, c_in: int = 6, d: int = 8, T: int = 8, kernel: int = 3):
        super().__init__()
        self.data_bn = nn.BatchNorm2d(c_in)
        self.layers = nn.Sequential(TCNGCNBlock(c_in, d, A_NTU, kernel_size=kernel, residual=False),
                                    TCNGCNBlock(d, d, A_NTU, kernel_size=kernel),
                                    TCNGCNBlock(d, d, A_NTU, kernel_size=kernel))
        self.frame_pos = nn.Parameter(torch.zeros(1, d, T, 1))

    def forward(self, x):
        return self.layers(self.data_bn(x)) + self.frame_pos     # [B, d, T, J]


def frame_tokens(x: torch.Tensor) -> torch.Tensor:
    """``(B, d, T, J)`` -> ``(B, T, J*d)``: frame ``t``'s token is ``[x_t1, ..., x_tJ]`` (TEM, Sec. 3.3)."""
    B, d, T, Jn = x.shape
    return x.permute(0, 2, 3, 1).reshape(B, T, Jn * d)


def joint_tokens(f: torch.Tensor, d: int) -> torch.Tensor:
    """Inverse of :func:`frame_tokens`: ``(B, T, J*d)`` -> ``(B, d, T, J)``."""
    B, T, D = f.shape
    return f.view(B, T, D // d, d).permute(0, 3, 1, 2)


class TEM(nn.Module):
    """Temporal encoding module (Sec. 3.3): pre-LN multi-head self-attention between the ``T``
    frame-level tokens of length ``J d`` (in an ``attn_dim`` space), then a 2-layer MLP.
    ``(B, T, J*d) -> (B, T, J*d)``."""

    def __init__(self, d: int = 8, attn_dim: int = 32, heads: int = 2, mlp_dim: int = 32):
        super().__init__()
        D = J * d
        self.heads = heads
        self.ln1, self.qkv, self.out = nn.LayerNorm(D), nn.Linear(D, 3 * attn_dim), nn.Linear(attn_dim, D)
        self.ln2 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, D))

    def forward(self, x):                                  # x [B, T, J*d]
        B, T, D = x.shape
        q, k, v = self.qkv(self.ln1(x)).view(B, T, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        a = F.scaled_dot_product_attention(q, k, v)        # [B, heads, T, attn_dim / heads]
        x = x + self.out(a.transpose(1, 2).reshape(B, T, -1))
        return x + self.mlp(self.ln2(x))


class SEMTEM(nn.Module):
    """One SEM-TEM block (Sec. 3.3): SEM (two GCN blocks, per frame) then TEM (between frames).
    ``(B, d, T, J) -> (B, d, T, J)``."""

    def __init__(self, d: int = 8, attn_dim: int = 32, mlp_dim: int = 32):
        super().__init__()
        self.d = d
        self.sem = nn.Sequential(GraphConv(d, d, A_NTU), GraphConv(d, d, A_NTU))
        self.tem = TEM(d, attn_dim, 2, mlp_dim)

    def forward(self, x):
        return joint_tokens(self.tem(frame_tokens(self.sem(x))), self.d)


def route_scores(Bemb: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
    """Eq. (1): ``s[m, l, h] = B_{l,h} . tau_m``. ``Bemb (L, H, q)``, ``tau (M, q)`` -> ``(M, L, H)``."""
    return torch.einsum("lhq,mq->mlh", Bemb, tau)


def select_blocks(s: torch.Tensor, mode: str, temperature: float = 1.0, generator=None) -> torch.Tensor:
    """Eq. (2): ``m_l = GumbelSoftmax({s_{l,h}}_h)``, the block weights ``(..., H)`` over the last axis.

    ``mode="hard"``: straight-through Gumbel-softmax (Jang et al.): forward one-hot of
    ``argmax_h(s_h + g_h)`` with Gumbel noise ``g`` drawn from ``generator``, backward the gradient
    of ``softmax((s + g)/temperature)``. ``"soft"``: ``softmax(s / temperature)`` without noise
    (the routing warm-up; every block gets a share of every batch). ``"argmax"``: the noise-free
    one-hot of inference. Raises ``ValueError`` for another mode.
    """
    if mode == "argmax":
        return F.one_hot(s.argmax(-1), s.shape[-1]).to(s.dtype)
    if mode == "soft":
        return (s / temperature).softmax(-1)
    if mode != "hard":
        raise ValueError(f"select_blocks: mode must be 'hard', 'soft' or 'argmax', got {mode!r}")
    # drawn on the generator's device (the CPU), then moved: the same noise on every device
    u = torch.rand(s.shape, generator=generator, dtype=s.dtype).to(s.device, non_blocking=True).clamp(1e-10, 1 - 1e-7)
    soft = ((s - torch.log(-torch.log(u))) / temperature).softmax(-1)
    hard = F.one_hot(soft.argmax(-1), s.shape[-1]).to(s.dtype)
    return hard - soft.detach() + soft


class DecoderBlock(nn.Module):
    """Pre-LN transformer decoder block: causal self-attention (optional KV cache),
    cross-attention to the encoder's joint tokens, MLP. ``x (B, K, D)``."""

    def __init__(self, D: int = 32, heads: int = 2, mlp_dim: int = 64, d_mem: int = 8):
        super().__init__()
        self.h = heads
        self.ln1, self.sa_qkv, self.sa_out = nn.LayerNorm(D), nn.Linear(D, 3 * D), nn.Linear(D, D)
        self.ln2, self.ca_q, self.ca_out = nn.LayerNorm(D), nn.Linear(D, D), nn.Linear(D, D)
        self.ca_kv = nn.Linear(d_mem, 2 * D)
        self.ln3 = nn.LayerNorm(D)
        self.mlp = nn.Sequential(nn.Linear(D, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, D))

    def split(self, t):                                    # [B, K, D] -> [B, heads, K, D / heads]
        B, K, D = t.shape
        return t.view(B, K, self.h, D // self.h).transpose(1, 2)

    def merge(self, t):                                    # [B, heads, K, D / heads] -> [B, K, D]
        B, h, K, dh = t.shape
        return t.transpose(1, 2).reshape(B, K, h * dh)

    def memory_kv(self, mem):                              # mem [B, T*J, d] -> keys, values
        k, v = self.ca_kv(mem).chunk(2, -1)
        return self.split(k), self.split(v)

    def forward(self, x, mem_kv, cache=None):
        q, k, v = (self.split(t) for t in self.sa_qkv(self.ln1(x)).chunk(3, -1))
        if cache is None:                                  # teacher forcing: all positions, causal mask
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:                                              # one new position: attend to every cached one
            if "k" in cache:
                k, v = torch.cat([cache["k"], k], 2), torch.cat([cache["v"], v], 2)
            cache["k"], cache["v"] = k, v
            a = F.scaled_dot_product_attention(q, k, v)
        x = x + self.sa_out(self.merge(a))
        x = x + self.ca_out(self.merge(F.scaled_dot_product_attention(self.split(self.ca_q(self.ln2(x))), *mem_kv)))
        return x + self.mlp(self.ln3(x))


class UPSDecoder(nn.Module):
    """Autoregressive decoder over the unified vocabulary; ``logits = h W Omega^T`` (not written in
    the paper, which says only that output tokens "can be interpreted as text embeddings").

    Token ``y`` enters as ``Omega_y W_in``; the first input is a learned per-task **start token**
    (``start``, ``(M, D)``), separate from the routing task embeddings of Eq. 1. The learned
    position embeddings of the output slots (``pos``) and of the ``T x J`` memory tokens
    (``mem_pos``) start with std ``pos_scale``: cross-attention must find joint ``k // 3`` for
    output slot ``k`` from them, and a larger start (0.3 rather than 0.02) speeds that up.
    """

    def __init__(self, omega, D: int = 32, layers: int = 2, num_tasks: int = 4, max_len: int = 3 * NJ + 1,
                 d: int = 8, T: int = 8, pos_scale: float = 0.3):
        super().__init__()
        self.d = d
        self.register_buffer("omega", torch.as_tensor(omega).float())   # [|V|, e], frozen text embeddings
        self.start = nn.Embedding(num_tasks, D)
        self.tok_in = nn.Linear(self.omega.shape[1], D)
        self.pos = nn.Parameter(pos_scale * torch.randn(1, max_len, D))
        self.mem_ln = nn.LayerNorm(d)
        self.mem_pos = nn.Parameter(pos_scale * torch.randn(1, T * J, d))
        self.blocks = nn.ModuleList(DecoderBlock(D, 2, 2 * D, d) for _ in range(layers))
        self.ln = nn.LayerNorm(D)
        self.W = nn.Linear(D, self.omega.shape[1], bias=False)

    def memory(self, s_en):
        """S_EN ``(B, d, T, J)`` -> per-layer cross-attention keys and values."""
        mem = self.mem_ln(frame_tokens(s_en).view(s_en.shape[0], -1, self.d)) + self.mem_pos
        return [blk.memory_kv(mem) for blk in self.blocks]

    def logits(self, h):
        """``(..., D)`` -> ``(..., |V|)``: ``LN(h) W Omega^T``, computed as ``h (Omega W^T)^T``."""
        return self.ln(h) @ (self.omega @ self.W.weight).T

    def embed(self, y):
        """Tokens ``(...)`` -> ``Omega_y W_in + b`` ``(..., D)``."""
        return F.embedding(y, self.tok_in(self.omega))

    def forward(self, kv, task: int, y):
        """Teacher forcing: inputs ``[start_m, y_1 .. y_{K-1}]`` -> logits for ``y_1 .. y_K`` ``(B, K, |V|)``."""
        B, K = y.shape
        h = torch.cat([self.start.weight[task].expand(B, 1, -1), self.embed(y[:, :-1])], 1) + self.pos[:, :K]
        for blk, mkv in zip(self.blocks, kv):
            h = blk(h, mkv)
        return self.logits(h)

    def step(self, kv, inp, k: int, caches):
        """One incremental step at position ``k``: ``inp (B, 1, D)`` -> logits ``(B, |V|)``."""
        h = inp + self.pos[:, k:k + 1]
        for blk, mkv, c in zip(self.blocks, kv, caches):
            h = blk(h, mkv, c)
        return self.logits(h[:, 0])


class UPS(nn.Module):
    """Unified Pose Sequence model: tokenizer -> ``L`` layers of ``H`` routed SEM-TEM blocks -> decoder.

    Routing (Sec. 3.4): block embeddings ``Bemb (L, H, q)`` and routing task embeddings
    ``tau (M, q)``, both drawn with std ``route_init_std`` (default ``None``: ``q^-1/4``, so that a
    score of Eq. 1, a sum of ``q`` products, starts with unit variance; ``1.0`` gives scores of std
    ``sqrt(q)``; the paper says only "randomly initialise").
    ``routing`` selects Eq. 2's mode while training: ``"hard"`` (straight-through Gumbel),
    ``"soft"`` (warm-up) or ``"fixed"`` (the routes of ``fixed_route`` or, when that is None,
    the current argmax; only the selected block runs). In eval mode the route is the argmax (or
    ``fixed_route``). ``fixed_route``: ``(M, L)`` block indices, a hand-assigned route.

    Initialisation is paired: each part is drawn from its own seed (``seed`` and its name), so
    two models of one seed share the tokenizer, the decoder and block ``(l, h)`` whatever ``H``.
    ``last_route`` holds the ``(L, H)`` weights of the last forward pass. ``route_ids``: ``None``, or
    an ``(M,)`` permutation of the task ids that the *router* reads (task ``m`` is routed by
    ``tau[route_ids[m]]``; the decoder, the BatchNorm statistics and the loss keep the true task):
    set anew every iteration by :func:`train_ups` with ``permute_route_ids``, the control for route
    separation (a router that cannot learn which task it routes).
    Raises ``ValueError`` if ``fixed_route`` has the wrong shape or names a missing block, or if
    ``route_init_std`` is not positive.
    """

    def __init__(self, omega, H: int = 2, L: int = 2, d: int = 8, T: int = 8, q: int = 256, dec_dim: int = 64,
                 dec_layers: int = 2, attn_dim: int = 32, mlp_dim: int = 32, num_tasks: int = len(TASKS),
                 temperature: float = 1.0, fixed_route=None, seed: int = 0, pos_scale: float = 0.3,
                 route_init_std: float | None = None):
        super().__init__()
        if route_init_std is not None and not float(route_init_std) > 0:
            raise ValueError(f"UPS: route_init_std must be positive or None, got {route_init_std!r}")
        with torch.random.fork_rng(devices=[]):          # per-part seeds; the global RNG is left alone
            self._build(omega, H, L, d, T, q, dec_dim, dec_layers, attn_dim, mlp_dim, num_tasks, temperature,
                        fixed_route, seed, pos_scale, route_init_std)

    def _build(self, omega, H, L, d, T, q, dec_dim, dec_layers, attn_dim, mlp_dim, num_tasks, temperature,
               fixed_route, seed, pos_scale, route_init_std=None):
        self.H, self.L, self.temperature, self.routing = H, L, temperature, "hard"
        torch.manual_seed(_seed(seed, "tokenizer"))
        self.tokenizer = JointTokenizer(6, d, T)
        torch.manual_seed(_seed(seed, "routing"))
        std = q ** -0.25 if route_init_std is None else float(route_init_std)
        self.route_init_std = std
        self.Bemb = nn.Parameter(torch.stack([torch.stack([
            torch.randn(q, generator=torch.Generator().manual_seed(_seed(seed, "B", l, h))) for h in range(H)])
            for l in range(L)]) * std)
        self.tau = nn.Parameter(torch.randn(num_tasks, q, generator=torch.Generator().manual_seed(
            _seed(seed, "tau"))) * std)
        blocks = []
        for l in range(L):
            row = []
            for h in range(H):
                torch.manual_seed(_seed(seed, "block", l, h))
                row.append(SEMTEM(d, attn_dim, mlp_dim))
            blocks.append(nn.ModuleList(row))
        self.layers = nn.ModuleList(blocks)
        torch.manual_seed(_seed(seed, "decoder"))
        self.decoder = UPSDecoder(omega, dec_dim, dec_layers, num_tasks, d=d, T=T, pos_scale=pos_scale)
        use_task_bn(self, num_tasks)
        self._task_bns = [m for m in self.modules() if isinstance(m, TaskBatchNorm)]
        if fixed_route is not None:
            fr = torch.as_tensor(np.asarray(fixed_route), dtype=torch.long)
            if fr.shape != (num_tasks, L) or int(fr.min()) < 0 or int(fr.max()) >= H:
                raise ValueError(f"UPS: fixed_route must be ({num_tasks}, {L}) block indices < {H}, got "
                                 f"{np.asarray(fixed_route).tolist()}")
            self.register_buffer("fixed_route", fr)
            self.routing = "fixed"
        else:
            self.fixed_route = None
        self.gumbel = torch.Generator().manual_seed(_seed(seed, "gumbel"))
        self.last_route = None
        self.route_ids = None
        self.lazy_unselected = True
        self._route_cache = None                 # (key, host block indices (M, L)) of the argmax routes

    def inference_routes(self) -> np.ndarray:
        """The block each task uses at inference, per layer: ``(M, L)`` ints (argmax of Eq. 1's scores,
        or the fixed route)."""
        if self.fixed_route is not None:
            return self.fixed_route.cpu().numpy().copy()
        with torch.no_grad():
            return route_scores(self.Bemb, self.tau).argmax(-1).cpu().numpy()

    def routes(self, task: int) -> torch.Tensor:
        """Eq. (1)-(2): the block weights ``m_l`` of every layer for ``task``, ``(L, H)``."""
        if self.fixed_route is not None:
            return F.one_hot(self.fixed_route[task], self.H).float()
        s = route_scores(self.Bemb, self.tau)[task if self.route_ids is None else int(self.route_ids[task])]
        if not self.training or self.routing == "fixed":
            return select_blocks(s, "argmax")
        return select_blocks(s, self.routing, self.temperature, self.gumbel)

    def _argmax_routes(self) -> list:
        """The noise-free route of every task, ``[M][L]`` block indices on the host (the fixed route,
        or the argmax of Eq. 1's scores): read from the device once and kept until ``Bemb`` or
        ``tau`` change (an optimiser step, ``load_state_dict``, a move), so that forward passes with
        a fixed or frozen route make no host synchronisation."""
        if self.fixed_route is not None:
            src = (self.fixed_route,)
        else:
            src = (self.Bemb, self.tau)
        key = tuple((t.data_ptr(), t._version, t.device) for t in src)
        if self._route_cache is None or self._route_cache[0] != key:
            with torch.no_grad():
                r = self.fixed_route if self.fixed_route is not None else route_scores(self.Bemb, self.tau).argmax(-1)
                self._route_cache = (key, r.tolist())
        return self._route_cache[1]

    def encode(self, x, task: int):
        """P_IN ``(B, 6, T, J)`` -> S_EN ``(B, d, T, J)`` through the task's route.

        Which block runs (or builds a graph) is host control flow: with one block per layer it is
        block 0, with a fixed or noise-free route it comes from :meth:`_argmax_routes` (no host
        synchronisation per pass); only the Gumbel-sampled route of hard-routing training is read
        from the device, once per pass (all layers together)."""
        for bn in self._task_bns:
            bn.task = task
        m = self.routes(task)
        self.last_route = m.detach()
        h = self.tokenizer(x)
        mixing = self.training and self.routing in ("hard", "soft") and self.fixed_route is None and self.H > 1
        if self.H == 1:
            sel_all = [0] * self.L
        elif mixing:
            # the sampled route decides which blocks build a graph (unselected ones get no gradient, not a
            # zero one: AdamW leaves them alone), so hard routing reads it: once per pass, all layers
            hard = self.routing == "hard" and self.lazy_unselected
            sel_all = m.argmax(-1).tolist() if hard else None  # per-step host sync (Gumbel route)
        else:                                      # argmax (inference, frozen routes) or fixed: host-known
            sel_all = self._argmax_routes()[task]
        for l, blocks in enumerate(self.layers):
            if mixing:                             # every block runs; the (one-hot or soft) weights mix them
                sel = None if sel_all is None else sel_all[l]
                outs = []
                for i, blk in enumerate(blocks):
                    if self.routing == "hard" and i != sel and self.lazy_unselected:
                        # weight 0 in the forward pass: the gradient of Eq. 2's scores needs this output,
                        # but nothing flows back through the block (computing it without a graph is exact)
                        with torch.no_grad():
                            o = blk(h)
                        outs.append(m[l, i] * o)           # still carries the gradient to the scores
                    else:
                        outs.append(m[l, i] * blk(h))
                h = sum(outs)
            else:                                  # only the selected block runs
                h = blocks[sel_all[l]](h)
        return h

    def forward(self, x, task: int, y):
        """Teacher forcing: inputs ``(B, 6, T, J)``, target tokens ``y (B, K)`` -> logits ``(B, K, |V|)``."""
        return self.decoder(self.decoder.memory(self.encode(x, task)), task, y)

    @torch.no_grad()
    def generate(self, x, task: int, allowed=None, is_eot=None, max_len: int = 3 * NJ + 1, topk: int = 0):
        """Greedy decoding with a KV cache, batched; stops when every sample emitted an EOT (``is_eot``,
        ``(|V|,)`` bool) or at ``max_len``. ``allowed (K, |V|)`` masks the logits (constrained decoding).
        Returns tokens ``(B, max_len)`` (``-1`` after the end) and the top-``k`` (probs, ids) per step."""
        kv = self.decoder.memory(self.encode(x, task))
        B = x.shape[0]
        caches = [dict() for _ in self.decoder.blocks]
        inp = self.decoder.start.weight[task].expand(B, 1, -1)
        out = torch.full((B, max_len), -1, dtype=torch.long, device=x.device)
        done = torch.zeros(B, dtype=torch.bool, device=x.device)
        tops = []
        for k in range(max_len):
            lg = self.decoder.step(kv, inp, k, caches)
            if allowed is not None:
                lg = lg.masked_fill(~allowed[min(k, len(allowed) - 1)].to(lg.device), float("-inf"))
            if topk:
                p, i = lg.softmax(-1).topk(topk, -1)
                tops.append((p.cpu(), i.cpu()))
            t = lg.argmax(-1)
            out[:, k] = torch.where(done, -1, t)
            if is_eot is not None:
                done = done | is_eot.to(t.device)[t]
                if bool(done.all()):
                    break
            inp = self.decoder.embed(t)[:, None]
        return out, tops


def sequence_nll(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Eq. (3): ``L = -1/K sum_k log P(y_k | y_<k, X)``, averaged over the batch.
    ``logits (B, K, |V|)``, ``y (B, K)`` -> scalar."""
    return F.cross_entropy(logits.flatten(0, 1), y.flatten())


# ----------------------------------------------------------------------------------------------
# Training (Sec. 3.5)
# ----------------------------------------------------------------------------------------------
def task_tensors(split: dict, task: str, vocab: Vocab, obs_ratios=OBS_RATIOS):
    """(inputs, target tokens) of one task; early prediction stacks its observation ratios (for
    real data, whose views are :class:`~paperlib.data.sequences.LazyRows`, lazily:
    :meth:`LazyRows.cat`, rows computed when a batch indexes them)."""
    x, y = split[task]
    if task == "ep3d":
        parts = [x[r] for r in obs_ratios]
        if any(isinstance(p, LazyRows) for p in parts):   # real data: rows computed when indexed
            return LazyRows.cat(parts), vocab.target_tokens(task, y.repeat(len(obs_ratios)))
        return torch.cat(parts), vocab.target_tokens(task, y.repeat(len(obs_ratios)))
    return x, vocab.target_tokens(task, y)


class TaskRotation:
    """Batches ``(x, y, task_index)`` cycling through ``tasks`` every iteration (Sec. 3.5).

    Each task has its own shuffle generator seeded from ``(seed, task)``, so a task's sequence of
    batches is the same whichever other tasks are rotated with it (joint and separate models of
    one seed see the same batches of a task). ``data``: ``{task: (x, y_tokens)}``.
    """

    def __init__(self, data: dict, tasks, rounds: int, batch_size: int = 32, seed: int = 0):
        self.data, self.tasks, self.rounds, self.bs = data, tuple(tasks), rounds, batch_size
        self.g = {t: torch.Generator().manual_seed(_seed(seed, "batches", t)) for t in self.tasks}
        self.queue = {t: torch.empty(0, dtype=torch.long) for t in self.tasks}

    def __len__(self):
        return self.rounds * len(self.tasks)

    def __iter__(self):
        for _ in range(self.rounds):
            for t in self.tasks:
                if len(self.queue[t]) < self.bs:
                    self.queue[t] = torch.cat([self.queue[t], torch.randperm(len(self.data[t][0]),
                                                                             generator=self.g[t])])
                i, self.queue[t] = self.queue[t][:self.bs], self.queue[t][self.bs:]
                yield self.data[t][0][i], self.data[t][1][i], TASKS.index(t)


def train_ups(model: UPS, data: dict, tasks=TASKS, steps: int = 160, lr: float = 3e-3, batch_size: int = 32,
              warmup_frac: float = 0.0, seed: int = 0, weight_decay: float = 5e-4, grad_clip: float = 1.0,
              device="cpu", record_every: int = 1, amp: str | None = None, permute_route_ids: bool = False) -> dict:
    """Train ``model`` on ``tasks`` rotated for ``steps`` iterations each (Sec. 3.5) with Eq. 3.

    AdamW (weight decay ``5e-4`` as in the paper), a cosine learning rate from ``lr`` to 0, gradient
    norm clipped at ``grad_clip``. Routing: the first ``warmup_frac`` of the iterations use soft
    routing (``softmax(s)``, every block trained on every batch in proportion), then the
    straight-through Gumbel-softmax (unless the model's routing is ``"fixed"``).

    ``data``: ``{task: (x (N, 6, T, J), y_tokens (N, K))}``. Returns a history: ``loss``, ``task``
    (per iteration), ``route`` (per iteration the ``(L, H)`` block weights used in the forward pass),
    ``probs`` (``softmax`` of Eq. 1's scores, ``(M, L, H)``, every ``record_every`` iterations, and
    ``probs_iter``), ``updates`` ``(L, H)``: iterations in which a block had a non-zero weight (so
    received a gradient), ``selected`` ``(M, L, H)``: per task, iterations in which a block had the
    largest weight, ``warmup_iters``, ``seconds`` (CPU time).

    The batches move to ``device`` page-locked and non-blocking; the per-iteration records stay on
    the device until the end (no host synchronisation per iteration, except the one read of the
    sampled route that hard routing needs, :meth:`UPS.encode`). ``amp`` (``None``, ``"bf16"``,
    ``"fp16"``): the forward pass in mixed precision (:func:`paperlib.train.autocast`; fp16 with
    loss scaling). ``permute_route_ids``: every iteration the router reads a fresh random
    permutation of the task ids (``model.route_ids``, from ``seed``), reset to ``None`` afterwards:
    the router is trained without knowing which task it routes (the control of route separation).
    """
    device = resolve_device(device)
    model.to(device).train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    total = steps * len(tasks)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda i: 0.5 * (1 + np.cos(np.pi * min(i / total, 1.0))))
    warm = int(round(warmup_frac * total)) if model.routing in ("hard", "soft") else 0
    mode = model.routing
    hist = {"loss": [], "task": [], "route": [], "probs": [], "probs_iter": [], "warmup_iters": warm}
    M = model.tau.shape[0]
    scaler = grad_scaler(device, amp)
    losses, routes, probs = [], [], []                 # device tensors, read once after the loop
    ids_gen = torch.Generator().manual_seed(_seed(seed, "route ids"))
    t0 = time.process_time()
    for it, (x, y, task) in enumerate(TaskRotation(data, tasks, steps, batch_size, seed)):
        if mode in ("hard", "soft"):
            model.routing = "soft" if it < warm else "hard"
        if permute_route_ids:
            model.route_ids = torch.randperm(M, generator=ids_gen)
        x, y = to_device(x, device), to_device(y, device)
        with autocast(device, amp):
            loss = sequence_nll(model(x, task, y), y)
        opt.zero_grad(set_to_none=True)
        backward_step(loss, opt, scaler, params, grad_clip)
        sched.step()
        losses.append(loss.detach())
        routes.append(model.last_route)
        hist["task"].append(task)
        if it % record_every == 0 or it == total - 1:
            with torch.no_grad():
                probs.append(route_scores(model.Bemb, model.tau).softmax(-1))
            hist["probs_iter"].append(it)
    model.routing = mode
    model.route_ids = None
    R = torch.stack(routes).float().cpu().numpy()                                  # (iterations, L, H)
    updates = (R > 1e-6).sum(0).astype(np.int64)
    selected = np.zeros((M, model.L, model.H), np.int64)
    np.add.at(selected, (np.asarray(hist["task"])[:, None], np.arange(model.L)[None, :], R.argmax(-1)), 1)
    hist.update(loss=torch.stack(losses).float().cpu().tolist(), updates=updates, selected=selected,
                seconds=time.process_time() - t0, route=R, probs=torch.stack(probs).float().cpu().numpy())
    return hist


def finetune(joint: UPS, data: dict, task: str, steps: int, lr: float, batch_size: int = 32, seed: int = 0,
             device="cpu", amp: str | None = None):
    """Per-task fine-tuning (the paper's "UPS", Sec. 4.1): a copy of ``joint`` with its routes fixed
    (argmax), ``Bemb`` and ``tau`` frozen, trained on ``task`` alone (``amp``: as :func:`train_ups`).
    Returns ``(model, history)``."""
    model = copy.deepcopy(joint)
    model.routing = "fixed"
    model.Bemb.requires_grad_(False)
    model.tau.requires_grad_(False)
    return model, train_ups(model, data, (task,), steps, lr, batch_size, 0.0, seed, device=device, amp=amp)


# ----------------------------------------------------------------------------------------------
# Evaluation and references
# ----------------------------------------------------------------------------------------------
def _with_root(j):
    j = torch.as_tensor(j)
    return torch.cat([torch.zeros_like(j[..., :1, :]), j], -2)


def pose_expectation(tokens: torch.Tensor, probs: torch.Tensor, ids: torch.Tensor, vocab: Vocab) -> torch.Tensor:
    """A label-aware pose read-out: each coordinate is the expectation over its step's top bins.

    ``tokens (B, S)`` the generated tokens (``-1`` after the end), ``probs``, ``ids`` ``(B, S, k)`` the
    top-``k`` probabilities and token ids of every decoding step. For output slot ``j < 48`` (axis
    ``a = j mod 3``) the top-``k`` entries that are bins of axis ``a`` are renormalised and
    ``c~ = sum_b p(b) (lo_a + b Delta_a)``; a slot with no such entry (or beyond the ``S`` recorded
    steps) keeps :meth:`Vocab.parse_pose`'s value. Returns ``(B, 16, 3)`` metres. With ``k = 1``
    under greedy decoding this is the argmax read-out.
    """
    base, _ = vocab.parse_pose(tokens)                                       # (B, 16, 3)
    B, n = tokens.shape[0], 3 * NJ
    S = min(probs.shape[1], n)
    axis = torch.arange(S) % 3                                               # (S,)
    b = ids[:, :S] - vocab.bin0[axis][None, :, None]                         # (B, S, k) bin of the slot's axis
    w = probs[:, :S] * ((b >= 0) & (b < vocab.n_bins))
    total = w.sum(-1)                                                        # (B, S)
    lo, step = vocab.lo[axis][None, :, None], vocab.step[axis][None, :, None]
    coord = lo + b.clamp(0, vocab.n_bins - 1).to(lo.dtype) * step         # (B, S, k) metres
    mean = (w / total.clamp_min(1e-30)[..., None] * coord).sum(-1)          # (B, S)
    flat = base.reshape(B, n).clone()
    flat[:, :S] = torch.where(total > 0, mean, flat[:, :S])
    return flat.view(B, NJ, 3)


def evaluate(model: UPS, test: dict, task: str, vocab: Vocab, constrained: bool = False, chunk: int = 1024,
             obs_ratios=OBS_RATIOS, device=None, pose_readout="argmax", readout_topk: int = 5,
             amp: str | None = None):
    """Greedy decoding of the test set of ``task``; returns ``(metrics, per_item)``.

    Free decoding (the paper's inference) stops at any EOT; a class task is scored on its first
    token (a token that is not a class counts as wrong). ``constrained`` applies the grammar
    (Pix2Seq-style). ``pose_readout`` turns pose sentences into joints: ``"argmax"`` (default) the
    generated bins, a slot whose token is not a bin of its axis becomes the middle bin
    (:meth:`Vocab.parse_pose`); ``"expectation"`` the expectation over each step's top
    ``readout_topk`` bins (:func:`pose_expectation`); or a function ``f(tokens (B, S), probs
    (B, S, k), ids (B, S, k), vocab) -> (B, 16, 3)`` metres, given the top-``readout_topk`` of every
    step. Decoding itself (the greedy tokens, ``well_formed``) is the same for every read-out.
    Metrics: ``top1`` (``top1@r`` for early prediction), ``mpjpe_mm``, ``pa_mpjpe_mm`` (Human3.6M
    protocol, 17 joints with the root), ``well_formed`` share. Per item: ``correct`` (``@r``) or
    ``mpjpe_mm`` per test sample. The inputs run on ``device`` (default: the model's), with ``amp``
    in mixed precision (:func:`paperlib.train.autocast`); the tokens come back to the CPU. Raises
    ``ValueError`` for an unknown ``pose_readout``.
    """
    if not (callable(pose_readout) or pose_readout in ("argmax", "expectation")):
        raise ValueError(f"evaluate: pose_readout must be 'argmax', 'expectation' or a function, got {pose_readout!r}")
    readout = None if task != "pose3d" or pose_readout == "argmax" else (
        pose_expectation if pose_readout == "expectation" else pose_readout)
    device = model_device(model, device)
    model.eval()
    allowed = vocab.grammar[task] if constrained else None
    x, y = test[task]
    inputs = {f"@{r}": x[r] for r in obs_ratios} if task == "ep3d" else {"": x}
    res, items = {}, {}
    for key, xs in inputs.items():
        if readout is None:
            with autocast(device, amp):
                out = torch.cat([model.generate(to_device(xs[i:i + chunk], device), TASKS.index(task), allowed,
                                                vocab.is_eot, vocab.max_len)[0].cpu()
                                 for i in range(0, len(xs), chunk)])
        else:
            outs, P, I = [], [], []
            for i in range(0, len(xs), chunk):
                with autocast(device, amp):
                    o, tops = model.generate(to_device(xs[i:i + chunk], device), TASKS.index(task), allowed,
                                             vocab.is_eot, vocab.max_len, topk=readout_topk)
                tops = [(p.float(), t) for p, t in tops]
                pad = vocab.max_len - len(tops)                      # steps not taken: probability 0
                outs.append(o.cpu())
                P.append(F.pad(torch.stack([p for p, _ in tops], 1), (0, 0, 0, pad)))
                I.append(F.pad(torch.stack([t for _, t in tops], 1), (0, 0, 0, pad), value=-1))
            out, probs, ids = torch.cat(outs), torch.cat(P), torch.cat(I)
        if task == "pose3d":
            pred, ok = vocab.parse_pose(out)
            if readout is not None:
                pred = readout(out, probs, ids, vocab)
            res["mpjpe_mm"] = 1000 * mpjpe(_with_root(pred), _with_root(y))
            res["pa_mpjpe_mm"] = 1000 * pa_mpjpe(_with_root(pred), _with_root(y))
            items["mpjpe_mm"] = (1000 * (pred - y).norm(dim=-1).mean(-1) * NJ / (NJ + 1)).tolist()
            well = ok.all(-1).all(-1) & (out[:, 3 * NJ] == vocab.eot["pe"])
        else:
            correct = (out[:, 0] == vocab.class_token[task][y]).float()
            res[f"top1{key}"] = float(correct.mean())
            items[f"correct{key}"] = correct.tolist()
            well = torch.isin(out[:, 0], vocab.class_token[task]) & (out[:, 1] == vocab.task_eot[task])
        res[f"well_formed{key}"] = float(well.float().mean())
    return res, items


@torch.no_grad()
def decoding_record(model: UPS, views, vocab: Vocab, n: int = 6, k: int = 5, device=None) -> dict:
    """The record of :func:`paperlib.viz.ups.decoding_explorer`: greedy decoding of ``n`` test
    samples of every task (evenly spaced; early prediction at the first observation ratio) with
    the top-``k`` tokens of every step. The samples run on ``device`` (default: the model's); the
    record holds numpy arrays: ``tokens``, ``topk_ids``, ``topk_probs``, ``target``, ``titles``, and for
    pose estimation ``coords`` (de-quantised, NaN where a token is not a bin of its axis), ``gt``
    (root added) and ``skeleton``."""
    dev = model_device(model, device)
    model.eval()
    rec = {"vocab": vocab.prompts, "tasks": {}}
    for t in TASKS:
        x, y = views.test[t]
        x = x[views.obs_ratios[0]] if t == "ep3d" else x
        idx = torch.linspace(0, len(x) - 1, n).round().long()
        out, tops = model.generate(x[idx].to(dev, non_blocking=True), TASKS.index(t), None, vocab.is_eot,
                                   vocab.max_len, topk=k)
        out = out[:, :len(tops)].cpu()
        e = {"tokens": out.numpy(), "topk_ids": torch.stack([i for _, i in tops], 1).numpy(),
             "topk_probs": torch.stack([p for p, _ in tops], 1).numpy(),
             "target": vocab.target_tokens(t, y[idx]).numpy()}
        if t == "pose3d":
            axis = torch.arange(out.shape[1]) % 3
            b = out - vocab.bin0[axis]
            ok = (b >= 0) & (b < vocab.n_bins) & (torch.arange(out.shape[1]) < 3 * NJ)
            e["coords"] = torch.where(ok, vocab.lo[axis] + b.float() * vocab.step[axis],
                                      torch.tensor(float("nan"))).numpy()
            e.update(gt=torch.cat([torch.zeros(n, 1, 3), y[idx]], 1).numpy(), skeleton="h36m17",
                     titles=[f"test window {int(i)}" for i in idx])
        else:
            names = views.names2d if t == "ar2d" else views.names3d
            ratio = f" (r = {views.obs_ratios[0]})" if t == "ep3d" else ""
            e["titles"] = [f"test {int(i)}: {names[int(y[i])]}{ratio}" for i in idx]
        rec["tasks"][t] = e
    return rec


def pose_references(train_y: torch.Tensor, test_y: torch.Tensor, vocab: Vocab) -> dict:
    """Floors of pose estimation in mm: the training mean pose, and the quantisation floor (the
    de-quantised ground truth, the best any token decoder can reach). Targets ``(N, 16, 3)`` m."""
    mean = train_y.mean(0, keepdim=True).expand_as(test_y)
    back = vocab.dequantise(vocab.quantise(test_y))
    return {"mean_pose_mpjpe_mm": 1000 * mpjpe(_with_root(mean), _with_root(test_y)),
            "mean_pose_pa_mpjpe_mm": 1000 * pa_mpjpe(_with_root(mean), _with_root(test_y)),
            "floor_mpjpe_mm": 1000 * mpjpe(_with_root(back), _with_root(test_y)),
            "floor_pa_mpjpe_mm": 1000 * pa_mpjpe(_with_root(back), _with_root(test_y))}


def train_regression_mlp(train: tuple, test: tuple, steps: int = 200, batch_size: int = 32, lr: float = 1e-3,
                         hidden: int = 256, seed: int = 0, device="cpu", amp: str | None = None):
    """The direct-regression reference for pose estimation: an MLP on the flattened 2D window.

    Input: body 0's ``x, y`` of the pose view, ``(N, 2, T, J)`` flattened (the same information
    the tokenizer gets); 2 hidden layers of ``hidden``, L1 loss, AdamW, ``steps`` batches drawn
    with a generator seeded from ``seed`` (on the CPU; the batches move to ``device``, where the MLP
    is trained; page-locked, non-blocking, no host synchronisation per step). ``train``, ``test``:
    ``(x (N, 6, T, J), y (N, 16, 3))``. ``amp``: the forward passes in mixed precision
    (:func:`paperlib.train.autocast`; fp16 with loss scaling).
    Returns ``(metrics {mpjpe_mm, pa_mpjpe_mm, train_s}, per_item {mpjpe_mm})``.
    """
    device = resolve_device(device)
    x_tr, y_tr = train[0][:, :2], train[1]
    torch.manual_seed(_seed(seed, "mlp"))
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(x_tr[0].numel(), hidden), nn.ReLU(), nn.Linear(hidden, hidden),
                        nn.ReLU(), nn.Linear(hidden, 3 * NJ)).to(device)
    opt = torch.optim.AdamW(mlp.parameters(), lr=lr)
    g = torch.Generator().manual_seed(_seed(seed, "mlp_batches"))
    scaler = grad_scaler(device, amp)
    t0 = time.process_time()
    for _ in range(steps):
        i = torch.randint(0, len(x_tr), (batch_size,), generator=g)
        xb, yb = to_device(x_tr[i], device), to_device(y_tr[i].flatten(1), device)
        with autocast(device, amp):
            loss = (mlp(xb) - yb).abs().mean()
        opt.zero_grad()
        backward_step(loss, opt, scaler)
    with torch.no_grad(), autocast(device, amp):
        pred = mlp(to_device(test[0][:, :2], device)).view(-1, NJ, 3).float().cpu()
    y = test[1]
    m = {"mpjpe_mm": 1000 * mpjpe(_with_root(pred), _with_root(y)),
         "pa_mpjpe_mm": 1000 * pa_mpjpe(_with_root(pred), _with_root(y)), "train_s": time.process_time() - t0}
    return m, {"mpjpe_mm": (1000 * (pred - y).norm(dim=-1).mean(-1) * NJ / (NJ + 1)).tolist()}


# ----------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------
#: Variants of :func:`run_experiment`: name -> (H, tasks trained together, route). ``route``:
#: ``"learned"`` (Eqs. 1-2 with the warm-up), ``"fig4"`` (:data:`FIG4_ROUTE`), ``"own"`` (task m
#: uses block m in every layer: one encoder per task behind a shared tokenizer and decoder).
VARIANTS = {
    "separate": (1, "each", "learned"),      # UPS_separate: one H = 1 model per task
    "joint_h1": (1, "all", "learned"),       # UPS w/o dynamic routing (Tables 8-9)
    "joint_h2": (2, "all", "learned"),       # UPS (joint training), H = 2
    "joint_h4": (4, "all", "learned"),       # H = 4, routes learned
    "fixed_h2": (2, "all", "fig4"),          # hand-assigned route after Fig. 4
    "own_h4": (4, "all", "own"),             # one block per task, fixed
    "joint_h2_shuffled_ids": (2, "all", "shuffled_ids"),  # H = 2, the router reads random task ids (control)
    "separate_matched": (1, "each_matched", "learned"),   # separate, each model as many updates as the joint one
    "mlp": (0, "pose", None),                # direct-regression MLP (pose estimation only)
}


def _route_metrics(model: UPS, hist: dict | None) -> dict:
    """Routing summary as flat metrics: inference block per task and layer, distinct routes, the
    final routing probabilities, and the update counts of each block."""
    routes = model.inference_routes()                              # (M, L)
    m = {f"route_{t}_l{l}": int(routes[k, l]) for k, t in enumerate(TASKS) for l in range(model.L)}
    m["distinct_routes"] = len({tuple(r) for r in routes.tolist()})
    # route separation: the share of layers in which the two recognition tasks (in conflict when the 2D labels
    # are permuted) take the same block at inference
    a, b = TASKS.index("ar2d"), TASKS.index("ar3d")
    m["shared_ar2d_ar3d"] = float(np.mean(routes[a] == routes[b]))
    if model.fixed_route is None:
        with torch.no_grad():
            p = route_scores(model.Bemb, model.tau).softmax(-1).cpu().numpy()
        m.update({f"p_route_{t}_l{l}": float(p[k, l].max()) for k, t in enumerate(TASKS) for l in range(model.L)})
        # the routing gap p_(1) - p_(2) at the end of training, mean over tasks and layers (0: a coin flip)
        srt = np.sort(p, axis=-1)
        m["route_gap"] = float((srt[..., -1] - srt[..., -2]).mean()) if model.H > 1 else 1.0
    if hist is not None:
        m.update({f"updates_l{l}_b{h}": int(hist["updates"][l, h]) for l in range(model.L) for h in range(model.H)})
        m.update({f"selected_{t}_l{l}_b{h}": int(hist["selected"][k, l, h]) for k, t in enumerate(TASKS)
                  for l in range(model.L) for h in range(model.H)})
        m["warmup_iters"] = int(hist["warmup_iters"])
        hard = hist["route"][hist["warmup_iters"]:]
        if model.fixed_route is None and len(hard) and model.H > 1:
            tasks = np.asarray(hist["task"][hist["warmup_iters"]:])
            # share of post-warm-up iterations whose sampled block differs from the final route
            m["switch_frac"] = float(np.mean(hard.argmax(-1) != routes[tasks]))
    return m


def run_experiment(seed: int = 0, label_permute: float = 0.0, dataset: str = "synthetic", num_samples: int = 1700,
                   num_frames: int = 8, obs_ratios=OBS_RATIOS, pose_windows: int = 4, pose_noise_px: float = 2.0,
                   n_bins: int = 64, d_token: int = 8, enc_layers: int = 2, q_dim: int = 256, dec_dim: int = 64,
                   dec_layers: int = 2, attn_dim: int = 32, mlp_dim: int = 32, batch_size: int = 32,
                   steps: int = 160, finetune_steps: int = 0, lr: float = 3e-3, warmup_frac: float = 0.25,
                   temperature: float = 1.0, pos_scale: float = 0.3, mlp_steps: int | None = None,
                   variants=("separate", "joint_h1", "joint_h2", "joint_h4", "fixed_h2", "mlp"),
                   tasks=TASKS, constrained: bool = False, embedding: str = "minilm", device: str = "cpu",
                   return_models: bool = False, data_kw: dict | None = None, route_init_std: float | None = None,
                   pose_readout="argmax", readout_topk: int = 5, amp: str | None = None) -> dict:
    """UPS's experiment for one seed: the four task views -> the variants -> metrics.

    Every variant of a seed sees the same data, the same initialisation of every part it shares
    (per-part seeds, :class:`UPS`), the same batches of each task (:class:`TaskRotation`) and its
    own Gumbel generator: the variants are paired. ``label_permute`` is the interference knob
    (:func:`permute_labels`). Variants (:data:`VARIANTS`) train ``steps`` iterations per task
    (separate models: ``steps`` on their task alone, compute-matched per task; ``separate_matched``:
    ``steps x len(tasks)`` on their task, as many updates as the joint encoder gets;
    ``joint_h2_shuffled_ids``: ``joint_h2`` whose router reads a random permutation of the task ids
    every iteration, :func:`train_ups`); with
    ``finetune_steps > 0`` every joint variant also gets a fine-tuned row ``<variant>_ft``
    (routes fixed, ``lr / 3``). ``mlp`` trains ``mlp_steps`` (default ``steps``) batches.
    ``route_init_std`` is the std of the routing embeddings at initialisation (:class:`UPS`; default
    ``q^-1/4``); ``pose_readout`` and ``readout_topk`` choose how pose sentences become joints
    (:func:`evaluate`; default the generated bins).

    Metrics per variant: ``ar3d_top1``, ``ar2d_top1``, ``ep_top1@r``, ``pose_mpjpe_mm``,
    ``pose_pa_mpjpe_mm``, ``train_s`` (CPU s), ``loss_<task>`` (mean of the last 10% of the task's
    iterations); for routed variants the routes (``route_<task>_l<l>``), ``distinct_routes``,
    ``p_route_<task>_l<l>`` (learned routes), ``updates_l<l>_b<h>`` (iterations with a gradient to
    block ``h`` of layer ``l``), ``selected_<task>_l<l>_b<h>`` (the task's iterations through that
    block), ``switch_frac`` (post-warm-up samples off the final route), ``shared_ar2d_ar3d`` (the
    share of layers in which 2D and 3D recognition take the same block at inference: route
    separation), ``route_gap`` (learned routes: the final ``p_(1) - p_(2)`` of Eq. 1's softmax, mean over
    tasks and layers, in [0, 1]; 1 for ``H = 1``, where the one block is the route by construction); for every model variant ``updates_per_model`` (the iterations of each model's
    encoder). Rows ``reference`` (mean pose,
    quantisation floor, the chance levels of the 3D and the 2D label sets) and ``data`` (sizes, ``label_permute``, moved classes).
    Per item: ``ar3d_correct``, ``ar2d_correct``, ``ep_correct@r``, ``pose_mpjpe_mm``.
    ``amp`` (``None``, ``"bf16"``, ``"fp16"``): training and decoding in mixed precision
    (:func:`train_ups`, :func:`evaluate`); ``None`` is full precision.
    Raises ``ValueError`` for an unknown variant.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"run_experiment: unknown variants {unknown}; known: {list(VARIANTS)}")
    t_data = time.process_time()
    views = make_views(seed, dataset, num_samples, num_frames, obs_ratios, pose_windows, pose_noise_px,
                       label_permute, **(data_kw or {}))
    vocab = build_vocab(views.names3d, views.names2d, n_bins, embedding=embedding, seed=seed)
    train = {t: task_tensors(views.train, t, vocab, obs_ratios) for t in tasks}
    arch = dict(L=enc_layers, d=d_token, T=num_frames, q=q_dim, dec_dim=dec_dim, dec_layers=dec_layers,
                attn_dim=attn_dim, mlp_dim=mlp_dim, temperature=temperature, seed=seed, pos_scale=pos_scale,
                route_init_std=route_init_std)
    ref = pose_references(views.train["pose3d"][1], views.test["pose3d"][1], vocab)
    metrics = {"reference": {**ref, "chance_top1": 1.0 / len(views.names3d), "chance_top1_2d": 1.0 / len(views.names2d)},
               "data": {"n_train": len(views.train["ar3d"][1]), "n_test": len(views.test["ar3d"][1]),
                        "label_permute": float(label_permute), "moved_classes": int((views.perm != np.arange(
                            len(views.perm))).sum()), "data_s": time.process_time() - t_data}}
    per_item, models, hists = {}, {}, {}

    def score(name, by_task):
        m, items = {}, {}
        for t, model in by_task.items():
            r, it = evaluate(model, views.test, t, vocab, constrained, obs_ratios=obs_ratios, device=device,
                             pose_readout=pose_readout, readout_topk=readout_topk, amp=amp)
            if t == "pose3d":
                m.update(pose_mpjpe_mm=r["mpjpe_mm"], pose_pa_mpjpe_mm=r["pa_mpjpe_mm"],
                         pose_well_formed=r["well_formed"])
                items["pose_mpjpe_mm"] = it["mpjpe_mm"]
            elif t == "ep3d":
                m.update({f"ep_top1@{q}": r[f"top1@{q}"] for q in obs_ratios})
                items.update({f"ep_correct@{q}": it[f"correct@{q}"] for q in obs_ratios})
            else:
                m[f"{t}_top1"] = r["top1"]
                items[f"{t}_correct"] = it["correct"]
        return m, items

    def losses(h, only=None):
        out = {}
        task_arr, loss_arr = np.asarray(h["task"]), np.asarray(h["loss"])
        for t in (only or tasks):
            lt = loss_arr[task_arr == TASKS.index(t)]
            out[f"loss_{t}"] = float(lt[-max(len(lt) // 10, 1):].mean())
        return out

    for v in variants:
        H, who, route = VARIANTS[v]
        if who == "pose":
            m, it = train_regression_mlp(views.train["pose3d"], views.test["pose3d"], mlp_steps or steps,
                                         batch_size, seed=seed, device=device, amp=amp)
            metrics[v] = {"pose_mpjpe_mm": m["mpjpe_mm"], "pose_pa_mpjpe_mm": m["pa_mpjpe_mm"],
                          "train_s": m["train_s"]}
            per_item[v] = {"pose_mpjpe_mm": it["mpjpe_mm"]}
            continue
        if who in ("each", "each_matched"):
            by_task, m = {}, {"train_s": 0.0}
            own_steps = steps * (len(tasks) if who == "each_matched" else 1)
            m["updates_per_model"] = own_steps
            for t in tasks:
                model = UPS(vocab.omega, H=H, **arch)
                h = train_ups(model, train, (t,), own_steps, lr, batch_size, 0.0, seed, device=device, amp=amp)
                by_task[t] = model
                m["train_s"] += h["seconds"]
                m.update(losses(h, (t,)))
                hists[f"{v}/{t}"] = h
            sm, it = score(v, by_task)
            metrics[v], per_item[v] = {**sm, **m}, it
            models[v] = by_task
            continue
        fixed = None
        if route == "fig4":
            fixed = [FIG4_ROUTE[t] for t in TASKS]
        elif route == "own":
            fixed = [[k] * enc_layers for k in range(len(TASKS))]
        model = UPS(vocab.omega, H=H, fixed_route=fixed, **arch)
        h = train_ups(model, train, tasks, steps, lr, batch_size, warmup_frac if H > 1 else 0.0, seed,
                      device=device, amp=amp, permute_route_ids=route == "shuffled_ids")
        sm, it = score(v, {t: model for t in tasks})
        metrics[v] = {**sm, "train_s": h["seconds"], **losses(h), **_route_metrics(model, h),
                      "updates_per_model": steps * len(tasks)}
        per_item[v] = it
        models[v], hists[v] = model, h
        if finetune_steps > 0:
            ft, fm = {}, {"train_s": h["seconds"]}
            for t in tasks:
                ft[t], fh = finetune(model, train, t, finetune_steps, lr / 3, batch_size, seed, device, amp)
                fm["train_s"] += fh["seconds"]
                hists[f"{v}_ft/{t}"] = fh
            sm, it = score(v + "_ft", ft)
            metrics[v + "_ft"], per_item[v + "_ft"] = {**sm, **fm}, it
            models[v + "_ft"] = ft
    out = {"metrics": metrics, "per_item": per_item}
    if return_models:
        out.update(models=models, hists=hists, views=views, vocab=vocab, train=train)
    return out
