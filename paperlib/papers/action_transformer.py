"""Notebook 04: Video Action Transformer Network (Girdhar, Carreira, Doersch, Zisserman, CVPR 2019).

Paper: https://arxiv.org/abs/1812.02707. Section numbers are the paper's; the paper leaves the
Tx unit's two equations unnumbered, and this module (like the notebook) calls them Eq. (1)
(attention) and Eq. (2) (residual, LayerNorm, FFN).

* the data: AVA-like keyframe sets (:class:`KeyframeSet`, :func:`from_rendered`,
  :func:`load_ava_split`, :func:`make_data` with the knobs ``cue_scale`` and
  ``symmetric_exchange`` of :func:`paperlib.data.video.make_multi_person_clips`);
* the trunk (Sec. 3.1; :class:`Trunk`, a compact I3D-style network, stride 2 in time and
  :data:`STRIDE` = 4 in space) and the region proposal network (:class:`RPN`,
  :func:`anchor_targets`, :func:`rpn_loss`, :func:`propose`), trained together in stage 1
  (:class:`Stage1`, :func:`train_stage1`) and then frozen;
* the location embedding (Sec. 3.4, :class:`LocationEmbedding`; :class:`NoLocationEmbedding`, its
  ablation), the memory
  (:func:`as_memory`), the query preprocessors (Sec. 3.2, :func:`person_rois`,
  :class:`LowResQPr`, :class:`HighResQPr`), the Tx unit (Sec. 3.2, :class:`TxUnit`, checked
  against :func:`tx_unit_reference`), the Tx head (:class:`TxHead`) and the I3D head
  (Sec. 3.3, :class:`I3DHead`, ST-RoIAlign tubes :func:`roi_tubes`);
* the second stage's targets and losses (Sec. 3.4, :func:`roi_targets`, :func:`head_loss`),
  training with selection on a validation split (:func:`train_head`);
* frame-AP as in the AVA protocol (:func:`frame_map`: the official cap of 50 rows per keyframe,
  optional gating by the person score), localisation AP, cost (:func:`flops`);
* :func:`run_experiment`, one seed of the grid of
  ``notebooks/results/04_video_action_transformer``.

Conventions: frames are uint8 ``(N, T, H, W, 3)``; boxes are pixels ``(x1, y1, x2, y2)`` of the
keyframe ``T // 2``; trunk features are ``(B, 64, T/2, H/4, W/4)``; ``C`` action classes, and
every head predicts ``C + 1`` sigmoid scores (the last one: "this RoI is a person", the paper's
background class) and 4 class-agnostic Faster R-CNN box deltas.

Geometry (stated, not fixed): with ``"same"`` padding and stride 4, the centre of the receptive
field of feature cell ``k`` lies at ``4 k + 0.5`` px (stem: 5x5 stride 2 centred on pixel
``2 k``, pixel centres at ``+0.5``; then 3x3 stride 2), while RoIAlign (``aligned=True``,
``spatial_scale = 1/4``) and the anchors (``offset=0.5``) take cell ``k`` to cover
``[4 k, 4 k + 4)`` with its centre at ``4 k + 2`` px: a 1.5 px shift the network learns to absorb.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.ava import AvaAnnotations
from ..metrics_ap import AVA_CAPACITY, evaluate_ava, localisation_ap
from ..nn.spatial import BoxCoder, box_iou, clip_boxes, make_anchors, nms, roi_align, roi_align_frames
from ..train import autocast, backward_step, count_parameters, grad_scaler, model_device, resolve_device, to_device

__all__ = ["STRIDE", "MEM_POOL", "ROI_SAMPLING", "ANCHOR_SIZES", "ANCHOR_RATIOS", "CONTEXT_CLASSES",
           "KeyframeSet", "from_rendered", "load_ava_split", "make_data", "to_input", "conv_bn", "Mixed",
           "Trunk", "RPN", "anchor_targets", "rpn_loss", "propose", "Stage1", "train_stage1",
           "trunk_and_proposals", "recall_at", "LocationEmbedding", "as_memory", "person_rois", "LowResQPr",
           "HighResQPr", "NoLocationEmbedding", "FFN_INPUTS", "ATTENTION_MODES", "TxUnit", "partner_mask", "tx_unit_reference", "roi_tubes",
           "TxHead", "I3DHead", "i3d_width_for",
           "tx_dim_for", "make_head", "roi_targets", "head_loss", "precompute_tubes", "train_head", "run_head",
           "detect", "frame_map", "flops", "head_cost", "attention_shares", "attention_record", "VARIANTS", "run_experiment"]

#: Spatial stride of the trunk (pixels per feature cell); the temporal stride is 2.
STRIDE = 4
#: The memory (K, V) is the trunk map average-pooled MEM_POOL x MEM_POOL (the CPU budget).
MEM_POOL = 2
#: Bilinear samples per RoIAlign bin and axis: 1, as TensorFlow's ``crop_and_resize``, the "RoIPool"
#: of the TF object detection API on which the paper builds (Sec. 3.4: 14x14, then max-pool 7x7).
ROI_SAMPLING = 1
#: Anchor sizes (px) and aspect ratios (h / w): people are ~8-20 px wide, 1.5-3x taller.
ANCHOR_SIZES, ANCHOR_RATIOS = (12, 18, 28), (1.0, 2.0, 3.0)
#: Classes decided by the other people or an object (the rendered data's context classes).
CONTEXT_CLASSES = ("hold (an object)", "watch (a person)", "talk to (a person)", "listen to (a person)",
                   "hand over (an object) to (a person)", "take (an object) from (a person)")
#: The paper's input clip (Sec. 3.4): T = 64 frames ("about 3 seconds of context") at 400 x 400 px.
PAPER_CLIP = {"frames": 64, "seconds": 3.0, "size": 400}


def clip_scale_note(frames: int, size: int, fps: float) -> str | None:
    """What an AVA run's input clip lacks against the paper's (:data:`PAPER_CLIP`): fewer than 64
    frames, or fewer than 400 x 400 px. Returns a sentence naming each shortfall and the clip's span
    (``frames / fps`` s against the paper's "about 3 seconds"), or None when the clip has at least
    the paper's frames and pixels. Source: the paper, Sec. 3.4 and "Implementation details"."""
    short = []
    if frames < PAPER_CLIP["frames"]:
        short.append(f"{frames} frames instead of {PAPER_CLIP['frames']}")
    if size < PAPER_CLIP["size"]:
        short.append(f"{size} x {size} px instead of {PAPER_CLIP['size']} x {PAPER_CLIP['size']}")
    if not short:
        return None
    return (f"AVA clip below the paper's input (Sec. 3.4): {', '.join(short)} ({frames / fps:.1f} s of video "
            f"against about {PAPER_CLIP['seconds']:.0f} s); mAP is not comparable with the paper's Tables 1-3")


#: What the FFN of a Tx unit reads (:class:`TxUnit`): the updated query Q' (the Transformer's and
#: the paper's text) or the projected query Q (the paper's printed Eq. 2).
FFN_INPUTS = ("updated", "query")
#: What a :class:`TxUnit` attends with: ``"learned"`` (Eq. 1, the paper's), and three controls on the same
#: trunk and parameters: ``"uniform"`` (``a = 1/N`` over every memory cell), ``"none"`` (no memory: the
#: query alone through the same LayerNorms and FFN, ``A = 0``) and ``"oracle"`` (``a`` uniform over the cells a
#: given mask marks, e.g. the partner's box).
ATTENTION_MODES = ("learned", "uniform", "none", "oracle")
#: Padding box for empty RoI slots (pixels); never a positive, never scored.
_PAD_BOX = (0.0, 0.0, 8.0, 8.0)


def short(name: str) -> str:
    """``"hand over (an object) to (a person)" -> "hand over"`` (metric keys)."""
    return name.split(" (")[0]


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
@dataclass
class KeyframeSet:
    """What the experiment needs of an AVA-style split (one clip per annotated keyframe)."""
    frames: np.ndarray      # uint8 (N, T, H, W, 3)
    boxes: np.ndarray       # float32 (N, P, 4) keyframe person boxes, pixels (x1, y1, x2, y2)
    present: np.ndarray     # bool (N, P)
    labels: np.ndarray      # uint8 (N, P, C) multi-hot
    video_ids: list         # N strings
    timestamps: np.ndarray  # float64 (N,) seconds (AVA's keyframe timestamp)
    class_names: tuple

    def __len__(self):
        return len(self.frames)

    def subset(self, idx) -> "KeyframeSet":
        """The clips ``idx`` (an index array), in that order."""
        idx = np.asarray(idx)
        return KeyframeSet(self.frames[idx], self.boxes[idx], self.present[idx], self.labels[idx],
                           [self.video_ids[i] for i in idx], self.timestamps[idx], self.class_names)


def from_rendered(clips) -> KeyframeSet:
    """:class:`paperlib.data.video.MultiPersonClips` -> :class:`KeyframeSet` (keyframe boxes)."""
    kf = clips.keyframe
    return KeyframeSet(clips.frames, clips.boxes[:, kf].astype(np.float32), clips.present, clips.labels,
                       list(clips.video_ids), np.full(len(clips), clips.keyframe_time), tuple(clips.class_names))


def load_ava_split(root, split, T, size, P=None, fps: float = 4.0, offset: float = 900.0, version: str = "v2.2",
                   classes: int = 60, report=None, *, cache: bool = True, cache_dir=None,
                   workers: int | None = None) -> KeyframeSet:
    """A released AVA split in ``root`` -> :class:`KeyframeSet` (``T`` frames centred on each keyframe,
    fitted into ``size`` x ``size`` with the aspect ratio kept).

    Files: those of :func:`paperlib.data.ava.ava_release_names` (``version``, ``split`` = ``"train"``
    or ``"val"``, ``classes`` = 60 or 80), e.g. ``ava_train_v2.2.csv``, the label map
    ``ava_action_list_v2.2_for_activitynet_2019.pbtxt`` and ``ava_train_excluded_timestamps_v2.2.csv``,
    read with the official protocol (:func:`paperlib.data.ava.load_ava_release`: rows of action ids
    outside the label map filtered, excluded keyframes dropped, both counted); frames from
    ``root/frames/<video_id>/img_00001.jpg``..., at ``fps`` frames per second, the first at
    ``offset`` seconds (``ffmpeg -ss 900``: 900.0). Frames are letterboxed (scaled to fit, black
    bars; :func:`paperlib.data.frames.read_frame_folder` with ``fit="letterbox"``) and the boxes
    mapped with them.

    The keyframes' frames are decoded once, in ``workers`` DataLoader processes (default
    ``min(4, CPUs)``), into ``<cache_dir>/ava_<split>_<version>_<T>x<size>.npy`` (default
    ``cache_dir``: ``root/.paperlib_cache``, or ``~/.cache/paperlib/frames-<hash>`` where ``root`` is
    read-only; :func:`paperlib.data.frame_cache.ava_keyframe_cache`), reused while the keyframes and
    their frame files are unchanged; ``frames`` is then a read-only ``np.memmap`` of that file
    (a batch reads only its keyframes; AVA v2.2 train at T=16, 224: about 2.4 MB per keyframe,
    0.5 TB on disk). ``cache=False``: decoded into memory (same values).

    ``P``: people per keyframe; ``None`` (default) keeps every annotated person (``P`` = the most
    people at one keyframe of the split), an int keeps the first ``P`` and counts the others as lost.
    ``report``: a :class:`paperlib.data.errors.SkipReport` to fill (otherwise the release's report is
    warned about). Raises ``FileNotFoundError`` naming the missing files, what
    :func:`paperlib.data.ava.read_ava_csv` raises on a malformed file, and
    :class:`paperlib.data.errors.FormatError` for a missing or broken frame folder or frame, or a
    keyframe whose frames lie outside its folder (the CSV named, ``field='timestamp'``).
    """
    from pathlib import Path

    from ..data.ava import group_keyframes, load_ava_release
    from ..data.frame_cache import ava_keyframe_cache, default_frame_cache_dir

    root = Path(root)
    rel = load_ava_release(root, split, version, classes)
    if report is not None:
        report.merge(rel.report)
    rep = report if report is not None else rel.report
    lm, ann, csv_path = rel.label_map, rel.groundtruth, rel.paths["groundtruth"]
    ids = lm.class_ids
    groups = group_keyframes(ann, num_classes=max(ids))
    keys = sorted(groups)
    N = len(keys)
    most = max((len(groups[k][0]) for k in keys), default=1)
    P = most if P is None else int(P)
    bx, pr = np.zeros((N, P, 4), np.float32), np.zeros((N, P), bool)
    lb = np.zeros((N, P, len(ids)), np.uint8)
    cols = np.array(ids) - 1
    centres = [int(round((ts - offset) * fps)) for _, ts in keys]
    for n, (vid, ts) in enumerate(keys):
        b = groups[(vid, ts)][0]
        if len(b) > P:
            rep.add(csv_path, f"people beyond max_people={P} at a keyframe", len(b) - P,
                    f"{vid} at {ts:g} s: {len(b)} people")
    if cache:
        cache_dir = Path(cache_dir) if cache_dir is not None else default_frame_cache_dir(root)
    else:
        cache_dir = None
    fc = ava_keyframe_cache(f"ava_{split}_{version}", root / "frames", [(k[0], c) for k, c in zip(keys, centres)],
                            T, size, csv_path, cache_dir, workers,
                            describe=lambda n: f"{keys[n][0]} at {keys[n][1]:g} s (fps {fps:g}, offset {offset:g} s)")
    for n, (vid, ts) in enumerate(keys):
        b, lab, _ = groups[(vid, ts)]
        k = min(len(b), P)
        bx[n, :k] = (b[:k] * fc.arrays["box_scale"][n] + fc.arrays["box_offset"][n]) * size
        pr[n, :k], lb[n, :k] = True, lab[:k][:, cols]
    if report is None:
        rep.warn()
    return KeyframeSet(fc.frames, bx, pr, lb, [k[0] for k in keys], np.array([k[1] for k in keys]),
                       tuple(lm.names[i] for i in ids))


def make_data(num_train: int = 384, num_test: int = 128, frames: int = 8, size: int = 64, max_people: int = 4,
              seed: int = 0, cue_scale: float = 1.0, symmetric_exchange: bool = False, val_fraction: float = 0.15,
              threads: int | None = 1, exchange_rate: float = 0.3, conversation_rate: float = 0.5):
    """Rendered AVA-like train and test clips (:func:`paperlib.data.video.make_multi_person_clips`,
    train with ``seed``, test with ``seed + 1``), and a validation split carved from the training
    clips (the last ``round(val_fraction * num_train)`` of a seeded permutation; never the test
    clips). ``cue_scale``, ``symmetric_exchange``, ``exchange_rate`` and ``conversation_rate``
    are the generator's data knobs.

    Returns a namespace: ``train``, ``val``, ``test`` (:class:`KeyframeSet`), ``train_clips`` and
    ``test_clips`` (the rendered clips, for :func:`paperlib.probe.context_dependence`),
    ``cue_sizes_px`` of the test clips (:func:`paperlib.data.video.cue_sizes_px`), ``train_idx``,
    ``val_idx``. Raises ``ValueError`` if the split leaves no training or no validation clip.
    """
    from ..data.video import cue_sizes_px, make_multi_person_clips

    kw = dict(frames=frames, size=size, max_people=max_people, threads=threads, cue_scale=cue_scale,
              symmetric_exchange=symmetric_exchange, exchange_rate=exchange_rate, conversation_rate=conversation_rate)
    tr_clips = make_multi_person_clips(num_train, seed=seed, **kw)
    te_clips = make_multi_person_clips(num_test, seed=seed + 1, **kw)
    n_val = int(round(val_fraction * num_train))
    if n_val < 1 or n_val >= num_train:
        raise ValueError(f"make_data: val_fraction={val_fraction} of {num_train} clips leaves no train or val split")
    perm = np.random.default_rng([seed, 404]).permutation(num_train)
    tr_idx, val_idx = np.sort(perm[:-n_val]), np.sort(perm[-n_val:])
    full = from_rendered(tr_clips)
    return SimpleNamespace(train=full.subset(tr_idx), val=full.subset(val_idx), test=from_rendered(te_clips),
                           train_clips=tr_clips, test_clips=te_clips, cue_sizes_px=cue_sizes_px(te_clips),
                           train_idx=tr_idx, val_idx=val_idx)


def to_input(frames_u8, device=None) -> torch.Tensor:
    """uint8 ``(B, T, H, W, 3)`` -> float ``(B, 3, T, H, W)`` in ``[-1, 1]``, on ``device`` (default:
    where ``frames_u8`` is; the uint8 pixels are moved, page-locked and non-blocking, then converted
    there)."""
    x = torch.as_tensor(frames_u8)
    if device is not None:
        x = to_device(x, device)
    return x.permute(0, 4, 1, 2, 3).float() / 127.5 - 1.0


def _batches(n, bs, shuffle=False, g=None):
    idx = torch.randperm(n, generator=g) if shuffle else torch.arange(n)
    return [idx[i:i + bs] for i in range(0, n, bs)]


# ----------------------------------------------------------------------------------------------
# Trunk and RPN (Sec. 3.1)
# ----------------------------------------------------------------------------------------------
def conv_bn(cin, cout, k, s=1):
    """Conv3d + BatchNorm3d + ReLU, ``"same"`` padding (an I3D ``Unit3D``)."""
    k = (k, k, k) if isinstance(k, int) else k
    s = (s, s, s) if isinstance(s, int) else s
    return nn.Sequential(nn.Conv3d(cin, cout, k, s, tuple(q // 2 for q in k), bias=False), nn.BatchNorm3d(cout),
                         nn.ReLU(inplace=True))


class Mixed(nn.Module):
    """A small Inception ("Mixed") block of I3D: parallel 1x1x1 and 1x1x1 -> 3x3x3 branches,
    concatenated: ``(B, cin, T, H, W) -> (B, c1 + c3, T, H, W)``."""

    def __init__(self, cin, c1, c3r, c3):
        super().__init__()
        self.b0 = conv_bn(cin, c1, 1)
        self.b1 = nn.Sequential(conv_bn(cin, c3r, 1), conv_bn(c3r, c3, 3))

    def forward(self, x):
        return torch.cat([self.b0(x), self.b1(x)], 1)


class Trunk(nn.Module):
    """Compact I3D-style trunk (our "up to Mixed_4f"): ``(B, 3, T, H, W) -> (B, 64, T/2, H/4, W/4)``."""

    def __init__(self, width=64):
        super().__init__()
        self.stem = conv_bn(3, 16, (1, 5, 5), (1, 2, 2))       # -> (16, T, H/2, W/2)
        self.down = conv_bn(16, 32, 3, 2)                        # -> (32, T/2, H/4, W/4)
        self.mixed = Mixed(32, width // 2, 16, width // 2)       # -> (64, T/2, H/4, W/4)
        self.out_channels = width

    def forward(self, x):
        return self.mixed(self.down(self.stem(x)))


class RPN(nn.Module):
    """Region proposal network (Faster R-CNN) on the temporally central slice of the trunk map:
    ``feat (B, C, T', H', W') -> objectness logits (B, H'W'A), deltas (B, H'W'A, 4)`` (cells
    row-major, then anchor, the order of :func:`paperlib.nn.spatial.make_anchors`)."""

    def __init__(self, cin, A):
        super().__init__()
        self.conv = nn.Conv2d(cin, cin, 3, padding=1)
        self.obj = nn.Conv2d(cin, A, 1)
        self.delta = nn.Conv2d(cin, 4 * A, 1)

    def forward(self, feat):
        f = F.relu(self.conv(feat[:, :, feat.shape[2] // 2]))
        B = f.shape[0]
        obj = self.obj(f).permute(0, 2, 3, 1).reshape(B, -1)
        delta = self.delta(f).permute(0, 2, 3, 1).reshape(B, -1, 4)
        return obj, delta


def anchor_targets(anchors, gt_boxes, present, pos_iou=0.5, neg_iou=0.3):
    """RPN targets: ``anchors (N_a, 4)``, ``gt_boxes (B, P, 4)`` px, ``present (B, P)`` bool ->
    labels ``(B, N_a)`` in {1, 0, -1 = ignore} and the matched GT box ``(B, N_a, 4)``. An anchor
    is positive at IoU >= ``pos_iou``, negative below ``neg_iou``; every person's best anchor is
    positive (Faster R-CNN)."""
    B, Pm = present.shape
    iou = box_iou(anchors, gt_boxes.reshape(-1, 4)).reshape(len(anchors), B, Pm).permute(1, 0, 2)  # (B, N_a, P)
    iou = torch.where(present[:, None, :], iou, torch.full_like(iou, -1.0))
    best, idx = iou.max(-1)
    lab = torch.full_like(best, -1.0)
    lab[best < neg_iou] = 0.0
    lab[best >= pos_iou] = 1.0
    top = iou.argmax(1)                                                      # (B, P): each person's best anchor
    bi = torch.arange(B, device=top.device)[:, None].expand_as(top)
    lab[bi[present], top[present]] = 1.0
    idx[bi[present], top[present]] = torch.arange(Pm, device=top.device).expand_as(top)[present]
    matched = torch.gather(gt_boxes, 1, idx[..., None].expand(-1, -1, 4))
    return lab, matched


def rpn_loss(anchors, coder, obj, delta, gt_boxes, present):
    """Objectness BCE (mean over positives + mean over negatives) and smooth-L1 (beta 1/9) on the
    positives' deltas (``coder.encode``). Returns ``(l_obj, l_box)`` scalars."""
    lab, matched = anchor_targets(anchors, gt_boxes, present)
    pos, neg = lab == 1, lab == 0
    bce = F.binary_cross_entropy_with_logits(obj, lab.clamp(min=0), reduction="none")
    l_obj = bce[pos].mean() + bce[neg].mean()
    target = coder.encode(matched[pos], anchors.expand(len(obj), -1, -1)[pos])
    return l_obj, F.smooth_l1_loss(delta[pos], target, beta=1 / 9)


@torch.no_grad()
def propose(anchors, coder, obj, delta, R, image_size, pre_nms=48, iou=0.7, min_size=3.0):
    """Decode, clip to ``image_size`` px, drop boxes under ``min_size`` px, keep the top
    ``pre_nms``, NMS at ``iou``, keep the top ``R``. -> boxes ``(B, R, 4)``, scores ``(B, R)``
    (sigmoid objectness), valid ``(B, R)`` bool."""
    B = obj.shape[0]
    boxes = clip_boxes(coder.decode(delta, anchors.expand(B, -1, -1)), (image_size, image_size))
    scores = torch.sigmoid(obj)
    wh = boxes[..., 2:] - boxes[..., :2]
    scores = torch.where((wh >= min_size).all(-1), scores, torch.zeros_like(scores))
    dev = obj.device
    out_b, out_s = torch.zeros(B, R, 4, device=dev), torch.zeros(B, R, device=dev)
    out_v = torch.zeros(B, R, dtype=torch.bool, device=dev)
    top = scores.topk(min(pre_nms, scores.shape[1]), dim=1).indices
    for b in range(B):
        bb, ss = boxes[b, top[b]], scores[b, top[b]]
        keep = nms(bb, ss, iou)[:R]
        k = len(keep)
        out_b[b, :k], out_s[b, :k], out_v[b, :k] = bb[keep], ss[keep], True
    return out_b, out_s, out_v


class Stage1(nn.Module):
    """Trunk + RPN + a linear per-person classifier on the box's ST-RoIAlign average (our stand-in
    for the paper's Kinetics pre-training). ``anchors`` (buffer, ``(H'W'A, 4)`` px) and ``coder``
    (RPN box coder, weights 1) are the geometry :func:`propose` needs."""

    def __init__(self, num_classes, size=64):
        super().__init__()
        self.trunk = Trunk()
        self.size = size
        hp = size // STRIDE
        self.register_buffer("anchors", make_anchors((hp, hp), STRIDE, sizes=ANCHOR_SIZES,
                                                     aspect_ratios=ANCHOR_RATIOS, offset=0.5), persistent=False)
        self.A = len(ANCHOR_SIZES) * len(ANCHOR_RATIOS)
        self.coder = BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
        self.rpn = RPN(self.trunk.out_channels, self.A)
        self.cls = nn.Linear(self.trunk.out_channels, num_classes)

    def forward(self, x, boxes, present):
        """``x (B, 3, T, H, W)``, ``boxes (B, P, 4)``, ``present (B, P)`` -> RPN outputs and the
        present people's class logits ``(K, C)``."""
        feat = self.trunk(x)
        obj, delta = self.rpn(feat)
        bi = torch.arange(len(x), device=x.device)[:, None].expand(-1, boxes.shape[1])[present]
        rois = torch.cat([bi[:, None].float(), boxes[present]], 1)
        # float32 (box coordinates), at most P boxes per clip: no host read of the box counts
        r = roi_align_frames(feat.float(), rois, 7, spatial_scale=1 / STRIDE, max_per_image=boxes.shape[1])
        return obj, delta, self.cls(r.mean((2, 3, 4)))


def train_stage1(train: KeyframeSet, epochs: int = 3, seed: int = 0, lr: float = 3e-3, bs: int = 16,
                 progress: bool = False, device="cpu", amp: str | None = None):
    """Stage 1: trunk, RPN and the per-person classifier, AdamW + one-cycle, on ``device`` (the
    clips stay on the CPU, each batch is moved; the losses stay on the device until the epoch's
    end). ``amp``: the forward pass in mixed precision (:func:`paperlib.train.autocast`; fp16 with
    loss scaling). Returns the model (eval mode, frozen, on ``device``) and the per-epoch losses
    ``(epochs, 3)`` (objectness, box, cls)."""
    dev = resolve_device(device)
    torch.manual_seed(seed)
    C = len(train.class_names)
    model = Stage1(C, train.frames.shape[2]).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(train) / bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    g = torch.Generator().manual_seed(seed)
    boxes, present = torch.as_tensor(train.boxes), torch.as_tensor(train.present)
    labels = torch.as_tensor(train.labels).float()
    scaler = grad_scaler(dev, amp)
    hist = []
    for _ in _progress(range(epochs), progress, "stage 1"):
        model.train()
        tot = []
        for idx in _batches(len(train), bs, True, g):
            b, p, lab = (to_device(t[idx], dev) for t in (boxes, present, labels))
            with autocast(dev, amp):
                obj, delta, logits = model(to_input(train.frames[idx.numpy()], dev), b, p)
                l_obj, l_box = rpn_loss(model.anchors, model.coder, obj, delta, b, p)
                l_cls = F.binary_cross_entropy_with_logits(logits, lab[p])
                loss = l_obj + l_box + l_cls
            opt.zero_grad()
            backward_step(loss, opt, scaler)
            sched.step()
            tot.append(torch.stack([l_obj.detach(), l_box.detach(), l_cls.detach()]).float())
        hist.append(_epoch_mean(tot))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, np.array(hist)




def _epoch_mean(rows: list) -> np.ndarray:
    """``np.mean(rows, 0)`` of per-step loss rows kept on the device (float32 ``(k,)`` tensors), read
    from the device once: the same float64 numbers as the mean of the rows' Python floats."""
    return np.mean(torch.stack(rows).cpu().double().numpy(), 0)


@torch.no_grad()
def trunk_and_proposals(stage1: Stage1, ds: KeyframeSet, R: int, bs: int = 32, trunk=None, device=None,
                        amp: str | None = None, out_dir=None):
    """Trunk features ``(N, 64, T', H', W')`` of every clip and the RPN's top-``R`` proposals
    (boxes ``(N, R, 4)``, scores, valid), on the CPU (float32); the batches run on ``device``
    (default: stage 1's), with ``amp`` in mixed precision (the proposals decoded in float32).
    ``trunk`` (optional, on ``device`` too) replaces ``stage1.trunk`` for the features; the
    proposals always come from stage 1. ``out_dir``: the features are written batch by batch into
    an unnamed temporary file there (:func:`paperlib.data.frame_cache.scratch_memmap`, freed with
    the tensor; AVA at 224 px and T = 8: 64 x 4 x 56 x 56 floats, 3.2 MB per keyframe) and the
    tensor maps it; ``None`` (default): in memory. The same values either way."""
    dev = model_device(stage1, device)
    stage1.eval()
    feats, boxes, scores, valid = [], [], [], []
    store = None
    for idx in _batches(len(ds), bs):
        x = to_input(ds.frames[idx.numpy()], dev)
        with autocast(dev, amp):
            f0 = stage1.trunk(x)
            rpn = stage1.rpn(f0)
            f = f0 if trunk is None else trunk.eval()(x)
        b, s, v = propose(stage1.anchors, stage1.coder, *(t.float() for t in rpn), R, stage1.size)
        f = f.float().cpu()
        if out_dir is None:
            feats.append(f)
        else:
            if store is None:
                from ..data.frame_cache import scratch_memmap

                store = scratch_memmap(out_dir, (len(ds), *f.shape[1:]), np.float32)
            store[int(idx[0]):int(idx[0]) + len(f)] = f.detach().numpy()
        boxes.append(b.cpu())
        scores.append(s.cpu())
        valid.append(v.cpu())
    feats = torch.cat(feats) if store is None else torch.from_numpy(store)
    return feats, torch.cat(boxes), torch.cat(scores), torch.cat(valid)


def recall_at(prop, valid, gt, present, thr):
    """Fraction of the present people covered by a valid proposal with IoU >= ``thr``."""
    hit = []
    for b in range(len(gt)):
        if present[b].any():
            iou = (box_iou(gt[b][present[b]], prop[b][valid[b]]) if valid[b].any()
                   else torch.zeros(int(present[b].sum()), 1))
            hit.append((iou.max(1).values >= thr).float())
    return float(torch.cat(hit).mean())


# ----------------------------------------------------------------------------------------------
# Location embedding, memory, query preprocessing (Sec. 3.2, 3.4)
# ----------------------------------------------------------------------------------------------
class LocationEmbedding(nn.Module):
    """Sec. 3.4: ``[h, w]`` and ``[t]`` of every cell, relative to the centre of the map (in
    ``[-0.5, 0.5]``, 0 at the centre), each through a 2-layer MLP; the outputs concatenated:
    ``forward(T', H', W') -> (2 d, T', H', W')``, the first ``d`` channels a function of ``(h, w)``
    only, the last ``d`` of ``t`` only. They are concatenated to the trunk features along channels
    before K, V and the query's RoIAlign."""

    def __init__(self, d=16):
        super().__init__()
        self.hw = nn.Sequential(nn.Linear(2, d), nn.ReLU(), nn.Linear(d, d))
        self.t = nn.Sequential(nn.Linear(1, d), nn.ReLU(), nn.Linear(d, d))
        self.d, self.dim = d, 2 * d

    @staticmethod
    def coords(n, device=None):
        """Cell centres of an axis of ``n`` cells relative to the map centre: ``(k + 0.5)/n - 0.5``."""
        return (torch.arange(n, dtype=torch.float32, device=device) + 0.5) / n - 0.5

    def forward(self, Tq, Hq, Wq):
        dev = self.hw[0].weight.device
        hh, ww = torch.meshgrid(self.coords(Hq, dev), self.coords(Wq, dev), indexing="ij")
        e_hw = self.hw(torch.stack([hh, ww], -1))                                # (H', W', d)
        e_t = self.t(self.coords(Tq, dev)[:, None])                              # (T', d)
        e = torch.cat([e_hw[None].expand(Tq, -1, -1, -1), e_t[:, None, None].expand(-1, Hq, Wq, -1)], -1)
        return e.permute(3, 0, 1, 2)


class NoLocationEmbedding(LocationEmbedding):
    """The ablation of Sec. 3.4's location embedding: the same modules (so a head built with it
    from the same seed initialises every other layer identically), but ``forward(T', H', W')``
    returns zeros ``(2 d, T', H', W')``: K, V and the query carry no position."""

    def forward(self, Tq, Hq, Wq):
        return torch.zeros(self.dim, Tq, Hq, Wq, device=self.hw[0].weight.device)


def as_memory(x):
    """``(B, C, T', H', W') -> (B, N = T'H'W', C)``: cell ``n = (t H' + h) W' + w`` (row-major),
    batch and channel kept apart (the unofficial code's ``x.view(C, -1)`` mixes the clips)."""
    return x.flatten(2).transpose(1, 2)


def person_rois(feat, rois):
    """The query's RoI feature: RoIAlign 14x14 of the **centre frame** of ``feat (B, C, T', H',
    W')`` (``sampling_ratio=ROI_SAMPLING``, ``spatial_scale = 1 / STRIDE``), then 2x2 max-pool (Sec. 3.4).
    ``rois (B, R, 4)`` px -> ``(B R, C, 7, 7)``. ``feat`` may have batch 1 with ``rois (1, BR, 4)``."""
    B, R = rois.shape[:2]
    bi = torch.arange(B, dtype=rois.dtype, device=rois.device).repeat_interleave(R)[:, None]
    r = roi_align(feat[:, :, feat.shape[2] // 2].float(), torch.cat([bi, rois.reshape(-1, 4)], 1), 14,
                  spatial_scale=1 / STRIDE, sampling_ratio=ROI_SAMPLING, max_per_image=R)  # R per clip: no host read
    return F.max_pool2d(r, 2)


class LowResQPr(nn.Module):
    """LowRes query preprocessor (Sec. 3.2): average over the 7x7 cells, then a linear layer:
    ``(K, C, 7, 7) -> (K, D)`` (all spatial layout lost)."""

    def __init__(self, cin, D):
        super().__init__()
        self.fc = nn.Linear(cin, D)

    def forward(self, r):
        return self.fc(r.mean((2, 3)))


class HighResQPr(nn.Module):
    """HighRes query preprocessor (Sec. 3.2): a 1x1 conv to ``reduced`` (16) channels, the 7x7
    cells concatenated (784 values), a linear layer: ``(K, C, 7, 7) -> (K, D)``."""

    def __init__(self, cin, D, reduced=16):
        super().__init__()
        self.reduce = nn.Conv2d(cin, reduced, 1)
        self.fc = nn.Linear(reduced * 7 * 7, D)

    def forward(self, r):
        return self.fc(self.reduce(r).flatten(1))


# ----------------------------------------------------------------------------------------------
# The Action Transformer unit (Sec. 3.2) and the heads
# ----------------------------------------------------------------------------------------------
class TxUnit(nn.Module):
    """One head of one layer: Eq. (1) attention over every cell ``(t, h, w)``, then Eq. (2)
    with FFN(Q'):

        a = softmax_{xyt}(Q K_xyt^T / sqrt(D)),   A = sum_{xyt} a_xyt V_xyt              (1)
        Q' = LN(Q + Dropout(A)),   Q'' = LN(Q' + Dropout(FFN(Q')))                       (2)

    ``forward(query (B, R, d_query), mem (B, N, d_mem), record=None) -> (B, R, D)``.
    ``ffn_input``: ``"updated"`` (default) feeds the FFN the updated query ``Q'``, as above;
    ``"query"`` feeds it the projected query ``Q``, the paper's printed equation
    ``Q'' = LN(Q' + Dropout(FFN(Q)))`` (an ablation; raises ``ValueError`` for another value).

    K and V are not materialised in the fast path: with ``K = M W_k^T + b_k`` and ``V = M W_v^T
    + b_v`` for the memory M, ``Q K^T = (Q W_k) M^T + Q b_k`` (the last term is the same for every
    cell and cancels in the softmax) and ``a V = (a M) W_v^T + b_v`` (each row of ``a`` sums to 1),
    so the unit attends with ``Q W_k`` over M (``F.scaled_dot_product_attention``) and projects
    the result with ``W_v``. With ``record`` (a list), the explicit softmax is computed and
    ``{"attn": (B, R, N), "keys": (B, N, D)}`` appended. Both paths equal the per-cell
    :func:`tx_unit_reference` (tests).

    ``attention`` (:data:`ATTENTION_MODES`, default ``"learned"``, Eq. 1): the controls replace ``a`` by a
    fixed map, ``"uniform"`` (``1/N``), ``"none"`` (``A = 0``: no memory) or ``"oracle"`` (uniform over the
    cells of ``mask (B, R, N)`` bool, given to ``forward``); the parameters stay the same (``W_k`` unused).
    Raises ``ValueError`` for another ``attention`` or ``ffn_input``."""

    def __init__(self, d_query, d_mem, D=128, dropout=0.3, ffn_input="updated", attention="learned"):
        super().__init__()
        if ffn_input not in FFN_INPUTS:
            raise ValueError(f"TxUnit: ffn_input must be one of {FFN_INPUTS}, got {ffn_input!r}")
        if attention not in ATTENTION_MODES:
            raise ValueError(f"TxUnit: attention must be one of {ATTENTION_MODES}, got {attention!r}")
        self.D, self.ffn_input, self.attention = D, ffn_input, attention
        self.q, self.k, self.v = nn.Linear(d_query, D), nn.Linear(d_mem, D), nn.Linear(d_mem, D)
        self.drop1, self.drop2 = nn.Dropout(dropout), nn.Dropout(dropout)
        self.ln1, self.ln2 = nn.LayerNorm(D), nn.LayerNorm(D)
        self.ffn = nn.Sequential(nn.Linear(D, D), nn.ReLU(), nn.Linear(D, D))

    def forward(self, query, mem, record=None, mask=None):
        Q = self.q(query)                                            # (B, R, D)
        if self.attention != "learned":
            a = self._fixed_attention(Q, mem, mask)                  # (B, R, N), rows sum to 1 (or 0: no memory)
            Av = a @ self.v(mem) if self.attention != "none" else torch.zeros_like(Q)
            if record is not None:
                record.append({"attn": a.detach(), "keys": self.k(mem).detach()})
        elif record is None:
            Qk = Q @ self.k.weight                                   # (B, R, d_mem) = Q W_k
            aM = F.scaled_dot_product_attention(Qk, mem, mem, scale=1 / math.sqrt(self.D))   # a M
            Av = self.v(aM)                                          # (B, R, D) = a V
        else:
            K, V = self.k(mem), self.v(mem)                          # (B, N, D)
            a = torch.softmax(Q @ K.transpose(1, 2) / math.sqrt(self.D), -1)   # (B, R, N)
            Av = a @ V
            record.append({"attn": a.detach(), "keys": K.detach()})
        Q1 = self.ln1(Q + self.drop1(Av))                            # Q'
        f = self.ffn(Q1 if self.ffn_input == "updated" else Q)      # FFN(Q'); "query": the printed FFN(Q)
        return self.ln2(Q1 + self.drop2(f))                          # Q''

    def _fixed_attention(self, Q, mem, mask):
        """The controls' attention maps ``(B, R, N)``: uniform over every cell, all zeros (no memory), or
        uniform over the cells of ``mask (B, R, N)`` bool (a row without a marked cell falls back to every
        cell). Raises ``ValueError`` when the oracle has no mask or a mask of another shape."""
        B, R, N = Q.shape[0], Q.shape[1], mem.shape[1]
        if self.attention == "none":
            return Q.new_zeros(B, R, N)
        if self.attention == "uniform":
            return Q.new_full((B, R, N), 1.0 / N)
        if mask is None or tuple(mask.shape) != (B, R, N):
            raise ValueError(f"TxUnit: oracle attention needs a mask of shape {(B, R, N)}, got "
                             f"{None if mask is None else tuple(mask.shape)}")
        m = mask.to(Q.dtype)
        m = torch.where(m.sum(-1, keepdim=True) > 0, m, torch.ones_like(m))
        return m / m.sum(-1, keepdim=True)


def tx_unit_reference(unit: TxUnit, query, mem):
    """Eqs. (1)-(2) of one query and one clip, cell by cell, as written (no dropout):
    ``query (d_query,)``, ``mem (N, d_mem)`` -> ``Q'' (D,)``. Slow; for checks."""
    Q = unit.q(query)
    K, V = unit.k(mem), unit.v(mem)
    logits = torch.stack([Q @ K[n] for n in range(len(K))]) / math.sqrt(unit.D)
    a = torch.softmax(logits, 0)
    A = sum(a[n] * V[n] for n in range(len(V)))
    Q1 = unit.ln1(Q + A)
    return unit.ln2(Q1 + unit.ffn(Q1))


def roi_tubes(feat, rois):
    """Sec. 3.3 ST-RoIAlign: each keyframe box as a tube over the ``T'`` steps, RoIAlign 14x14 per
    step, max-pool to 7x7. ``feat (B, C, T', H', W')``, ``rois (B, R, 4)`` px -> ``(B R, C, T', 7, 7)``."""
    B, R = rois.shape[:2]
    bi = torch.arange(B, dtype=rois.dtype, device=rois.device).repeat_interleave(R)[:, None]
    tube = roi_align_frames(feat.float(), torch.cat([bi, rois.reshape(-1, 4)], 1), 14, spatial_scale=1 / STRIDE,
                            sampling_ratio=ROI_SAMPLING, max_per_image=R)         # R per clip: no host read
    return F.max_pool3d(tube, (1, 2, 2))


def partner_mask(rois, boxes, present, mem_thw, image_size: int, pos_iou: float = 0.5) -> torch.Tensor:
    """The oracle's attention mask: for every RoI, the memory cells whose centre lies inside the box of a
    present person *other than* the one the RoI covers (its best-IoU person when that IoU is >= ``pos_iou``;
    otherwise every present person counts as other). The boxes are keyframe boxes, the same at every time
    step of the memory (the tube assumption of Sec. 3.3).

    ``rois (B, R, 4)``, ``boxes (B, P, 4)`` px (x1, y1, x2, y2), ``present (B, P)`` bool, ``mem_thw`` =
    ``(T', H_m, W_m)`` the memory's grid (:meth:`TxHead.memory`: ``H_m = H' / MEM_POOL``), ``image_size``
    px -> ``(B, R, T' H_m W_m)`` bool, in the memory's cell order (``(t, h, w)``, :func:`as_memory`).
    Raises ``ValueError`` for mismatched batch sizes."""
    B, R = rois.shape[:2]
    if boxes.shape[0] != B or present.shape[0] != B:
        raise ValueError(f"partner_mask: {B} clips of RoIs, {boxes.shape[0]} of boxes, {present.shape[0]} of present")
    T, Hm, Wm = (int(x) for x in mem_thw)
    cy = (torch.arange(Hm, dtype=torch.float32) + 0.5) * image_size / Hm
    cx = (torch.arange(Wm, dtype=torch.float32) + 0.5) * image_size / Wm
    bx = boxes.float()
    inside = ((cx[None, None, None, :] >= bx[..., 0, None, None]) & (cx[None, None, None, :] <= bx[..., 2, None, None])
              & (cy[None, None, :, None] >= bx[..., 1, None, None]) & (cy[None, None, :, None] <= bx[..., 3, None, None]))
    inside = inside & present[..., None, None]                                  # (B, P, Hm, Wm)
    iou = torch.stack([box_iou(rois[b].float(), bx[b]) for b in range(B)])      # (B, R, P)
    iou = torch.where(present[:, None, :], iou, torch.full_like(iou, -1.0))
    best, idx = iou.max(-1)
    own = F.one_hot(idx, boxes.shape[1]).bool() & (best >= pos_iou)[..., None]  # (B, R, P)
    other = present[:, None, :] & ~own
    cells = (other[..., None, None] & inside[:, None]).any(2)                    # (B, R, Hm, Wm)
    return cells[:, :, None].expand(B, R, T, Hm, Wm).reshape(B, R, T * Hm * Wm)


class TxHead(nn.Module):
    """Location embedding + QPr + ``layers`` x ``heads`` Tx units; classifier (C actions + 1
    person) and box deltas on the last layer's concatenated queries (Sec. 3.2; 2 heads x 3
    layers, D = 128, dropout 0.3 as in the paper).

    ``forward(feat (B, 64, T', H', W'), rois (B, R, 4), record=None, tube=None) -> (logits (B, R,
    C + 1), deltas (B, R, 4))``. The memory is the location-padded map average-pooled
    :data:`MEM_POOL` x :data:`MEM_POOL` (``N = T'H'W' / 4`` cells). ``tube`` (``roi_tubes(feat,
    rois)``) lets training reuse the frozen trunk's RoI features: RoIAlign and max-pooling act
    channel by channel, so the query's RoI feature of the padded map is [the tube's centre step ;
    the embedding's RoI feature].

    Ablations (defaults: the paper's model): ``ffn_input="query"`` gives every unit the printed
    ``FFN(Q)`` (:class:`TxUnit`); ``location_embedding=False`` replaces the embedding by zeros
    (:class:`NoLocationEmbedding`: same channels, same parameter count and initialisation);
    ``attention`` (:data:`ATTENTION_MODES`) gives every unit a fixed map instead of Eq. 1 (the oracle's
    ``mask (B, R, N)`` bool, e.g. :func:`partner_mask`, goes to ``forward``)."""

    def __init__(self, num_classes, qpr="highres", heads=2, layers=3, D=128, dropout=0.3, cin=64,
                 ffn_input="updated", location_embedding=True, attention="learned"):
        super().__init__()
        if qpr not in ("highres", "lowres"):
            raise ValueError(f"TxHead: qpr must be 'highres' or 'lowres', got {qpr!r}")
        self.loc = LocationEmbedding(16) if location_embedding else NoLocationEmbedding(16)
        cm = cin + self.loc.dim
        self.qpr = HighResQPr(cm, D) if qpr == "highres" else LowResQPr(cm, D)
        self.layers = nn.ModuleList(
            nn.ModuleList(TxUnit(D if li == 0 else heads * D, cm, D, dropout, ffn_input, attention) for _ in range(heads))
            for li in range(layers))
        self.drop = nn.Dropout(dropout)
        self.cls = nn.Linear(heads * D, num_classes + 1)
        self.box = nn.Linear(heads * D, 4)
        self.needs_mask = attention == "oracle"                      # forward needs partner_mask's cells

    def memory(self, feat):
        """The location-padded, pooled memory ``(B, N, 64 + 32)``."""
        e = self.loc(*feat.shape[2:])
        pool = lambda z: F.avg_pool3d(z, (1, MEM_POOL, MEM_POOL))  # noqa: E731
        return as_memory(torch.cat([pool(feat), pool(e[None]).expand(len(feat), -1, -1, -1, -1)], 1))

    def forward(self, feat, rois, record=None, tube=None, mask=None):
        B, R = rois.shape[:2]
        e = self.loc(*feat.shape[2:])
        if tube is None:
            tube = roi_tubes(feat, rois)
        r_loc = person_rois(e[None], rois.reshape(1, B * R, 4))
        r = torch.cat([tube[:, :, tube.shape[2] // 2], r_loc], 1)    # = person_rois(padded map, rois)
        q = self.qpr(r).reshape(B, R, -1)
        mem = self.memory(feat)
        for layer in self.layers:
            q = torch.cat([unit(q, mem, record, mask) for unit in layer], -1)   # the next layer's query
        q = self.drop(q)
        return self.cls(q), self.box(q)


class I3DHead(nn.Module):
    """Sec. 3.3: the ST-RoIAlign tube, then the trunk's "remaining" 3D blocks (a max-pool like
    Mixed_5a, two Mixed blocks of ``width`` channels, ``reduce`` channels before the 3x3x3
    convs), average, classifier + box: ``forward(feat, rois, record=None, tube=None) ->
    (logits (B, R, C + 1), deltas (B, R, 4))``. ``width=64, reduce=16`` is the baseline; a wider
    one is the capacity-matched control (:func:`i3d_width_for`)."""

    def __init__(self, num_classes, cin=64, width=64, reduce=16, dropout=0.3):
        super().__init__()
        self.blocks = nn.Sequential(nn.MaxPool3d((1, 2, 2), (1, 2, 2), ceil_mode=True),
                                    Mixed(cin, width // 2, reduce, width // 2),
                                    Mixed(width, width // 2, reduce, width // 2))
        self.drop = nn.Dropout(dropout)
        self.cls = nn.Linear(width, num_classes + 1)
        self.box = nn.Linear(width, 4)

    def forward(self, feat, rois, record=None, tube=None):
        B, R = rois.shape[:2]
        if tube is None:
            tube = roi_tubes(feat, rois)
        z = self.drop(self.blocks(tube).mean((2, 3, 4)))
        return self.cls(z).reshape(B, R, -1), self.box(z).reshape(B, R, 4)


def i3d_width_for(target_params: int, num_classes: int) -> tuple[int, int]:
    """``(width, reduce)`` of the :class:`I3DHead` whose parameter count is closest to
    ``target_params``, with ``reduce = width / 4`` (the baseline's 64 / 16) and ``width`` a
    multiple of 8."""
    best = None
    for w in range(64, 2049, 8):
        n = count_parameters(I3DHead(num_classes, width=w, reduce=w // 4))
        if best is None or abs(n - target_params) < abs(best[2] - target_params):
            best = (w, w // 4, n)
        if n > target_params:
            break
    return best[0], best[1]


def tx_dim_for(target_params: int, num_classes: int, qpr: str = "highres", heads: int = 2, layers: int = 3) -> int:
    """The feature size ``D`` (a multiple of 4; ``heads`` x ``layers`` kept) of the :class:`TxHead`
    whose parameter count is closest to ``target_params``."""
    cand = [(abs(count_parameters(TxHead(num_classes, qpr=qpr, heads=heads, layers=layers, D=d)) - target_params), d)
            for d in range(4, 129, 4)]
    return min(cand)[1]


#: Variants of :func:`run_experiment`: name -> how its head is built and trained. ``kind``:
#: ``"i3d"`` or ``"tx"``; ``qpr``; ``match``: widen the I3D head (or shrink the Tx head's ``D``)
#: to that variant's parameter count; ``attention``: the units' map (:data:`ATTENTION_MODES`; default the learned
#: Eq. 1); ``end_to_end``: the trunk is trained too, at ``lr * trunk_lr_mult``; ``combine``:
#: (classifier, localiser) of two trained variants, evaluated with RPN proposals only.
VARIANTS = {
    "i3d": {"kind": "i3d"},                                  # Table 1-3: I3D head
    "lowres": {"kind": "tx", "qpr": "lowres"},               # Tx head, LowRes QPr
    "highres": {"kind": "tx", "qpr": "highres"},             # Tx head, HighRes QPr
    "i3d_wide": {"kind": "i3d", "match": "highres"},         # control: I3D head widened to Tx HighRes' params
    "highres_small": {"kind": "tx", "qpr": "highres", "match": "i3d"},   # control: Tx HighRes shrunk to I3D's
    "highres_e2e": {"kind": "tx", "qpr": "highres", "end_to_end": True},   # trunk unfrozen (lower lr)
    "highres_uniform": {"kind": "tx", "qpr": "highres", "attention": "uniform"},   # control: a = 1/N over the cells
    "highres_nomem": {"kind": "tx", "qpr": "highres", "attention": "none"},        # control: no memory (A = 0)
    "highres_oracle": {"kind": "tx", "qpr": "highres", "attention": "oracle"},     # oracle: uniform over the partners' boxes
    "tx+i3d": {"combine": ("highres", "i3d")},               # Table 3: Tx HighRes classifies I3D's boxes
}


def make_head(variant: str, num_classes: int, seed: int = 0, heads: int = 2, layers: int = 3,
              ffn_input: str = "updated", location_embedding: bool = True) -> nn.Module:
    """A fresh head of ``variant`` (a key of :data:`VARIANTS` other than ``tx+i3d``), initialised
    from ``torch.manual_seed(seed)``; a ``match`` variant gets the size of :func:`i3d_width_for`
    or :func:`tx_dim_for` of the matched head (built with the same options). ``heads``, ``layers``,
    ``ffn_input`` and ``location_embedding`` are :class:`TxHead`'s, for every Tx variant (the I3D
    head ignores them). Raises ``ValueError`` for another name."""
    spec = VARIANTS.get(variant)
    if spec is None or "combine" in spec:
        raise ValueError(f"make_head: {variant!r} is not a trainable variant; known: "
                         f"{[k for k, v in VARIANTS.items() if 'combine' not in v]}")
    tx = dict(heads=heads, layers=layers, ffn_input=ffn_input, location_embedding=location_embedding)
    target = count_parameters(make_head(spec["match"], num_classes, **tx)) if spec.get("match") else None
    if spec["kind"] == "i3d":
        w, r = i3d_width_for(target, num_classes) if target else (64, 16)
        torch.manual_seed(seed)
        return I3DHead(num_classes, width=w, reduce=r)
    D = tx_dim_for(target, num_classes, spec["qpr"], heads, layers) if target else 128
    torch.manual_seed(seed)
    return TxHead(num_classes, qpr=spec["qpr"], D=D, attention=spec.get("attention", "learned"), **tx)


# ----------------------------------------------------------------------------------------------
# Second stage: targets, loss, training (Sec. 3.4)
# ----------------------------------------------------------------------------------------------
def roi_targets(rois, valid, gt_boxes, present, labels, pos_iou=0.5):
    """A RoI whose best IoU with a present person is >= ``pos_iou`` takes that person's labels,
    a positive "person" target and its box; other valid RoIs are background. ``rois (N, R, 4)``,
    ``valid (N, R)``, ``gt_boxes (N, P, 4)``, ``present (N, P)``, ``labels (N, P, C)`` float ->
    targets ``(N, R, C + 1)``, matched box ``(N, R, 4)``, positive mask ``(N, R)``."""
    iou = torch.stack([box_iou(rois[n], gt_boxes[n]) for n in range(len(rois))])
    iou = torch.where(present[:, None, :], iou, torch.full_like(iou, -1.0))
    best, idx = iou.max(-1)
    pos = (best >= pos_iou) & valid
    lab = torch.gather(labels, 1, idx[..., None].expand(-1, -1, labels.shape[-1])) * pos[..., None]
    return (torch.cat([lab, pos[..., None].float()], -1), torch.gather(gt_boxes, 1, idx[..., None].expand(-1, -1, 4)),
            pos)


_HEAD_CODER = BoxCoder()   # (10, 10, 5, 5): the second stage's weights


def head_loss(logits, deltas, targets, valid, gt_box, pos, rois):
    """Sec. 3.4: per-class sigmoid cross-entropy over the valid RoIs (``C + 1`` targets) and
    class-agnostic smooth-L1 (beta 1/9) on the positives' Faster R-CNN deltas. Returns
    ``(l_cls, l_box)``; ``l_box`` is 0 without positives."""
    l_cls = F.binary_cross_entropy_with_logits(logits[valid], targets[valid])
    d = deltas[pos]                    # its shape says whether there are positives (no extra host read)
    if not d.numel():
        return l_cls, deltas.sum() * 0.0
    target = _HEAD_CODER.encode(gt_box[pos], rois[pos])
    return l_cls, F.smooth_l1_loss(d, target, beta=1 / 9)


def _progress(it, on, desc):
    if not on:
        return it
    from tqdm.auto import tqdm  # noqa: PLC0415
    return tqdm(it, desc=desc)


def _train_rois(feats, props, pvalid, ds: KeyframeSet):
    """Training RoIs: the P ground-truth slots + the proposals; their targets."""
    boxes, present = torch.as_tensor(ds.boxes), torch.as_tensor(ds.present)
    rois = torch.cat([boxes, props], 1)
    valid = torch.cat([present, pvalid], 1)
    rois = torch.where(valid[..., None], rois, torch.tensor(_PAD_BOX))
    tgt, gtb, pos = roi_targets(rois, valid, boxes, present, torch.as_tensor(ds.labels).float())
    return SimpleNamespace(rois=rois, valid=valid, tgt=tgt, gtb=gtb, pos=pos)


@torch.no_grad()
def precompute_tubes(feats, rois, bs: int = 64, device="cpu"):
    """:func:`roi_tubes` of every clip, batched on ``device``: ``feats (N, 64, T', H', W')``, ``rois
    (N, R, 4)`` -> ``(N, R, 64, T', 7, 7)`` on the CPU (the frozen trunk's RoI features, computed
    once per run)."""
    dev = resolve_device(device)
    tube = torch.cat([roi_tubes(to_device(feats[i], dev), to_device(rois[i], dev)).cpu()
                      for i in _batches(len(feats), bs)])
    return tube.reshape(len(feats), rois.shape[1], *tube.shape[1:])


def train_head(variant: str, head: nn.Module, feats, train_rois, epochs: int, seed: int, val=None, lr: float = 2e-3,
               bs: int = 32, trunk=None, frames=None, trunk_lr_mult: float = 0.1, progress: bool = False,
               tube=None, device="cpu", amp: str | None = None, patience: int | None = None):
    """Train one head on the frozen trunk's features (or, with ``trunk`` and ``frames``, the
    trunk too at ``lr * trunk_lr_mult``, its BatchNorm statistics frozen), AdamW + one-cycle,
    batch order from ``seed`` (the same for every variant).

    ``feats (N, 64, T', H', W')``; ``train_rois`` from :func:`_train_rois`; ``tube`` (optional,
    frozen trunk only): :func:`precompute_tubes` of ``train_rois.rois``; a head that needs a mask (the
    oracle, ``head.needs_mask``) reads ``train_rois.mask`` (:func:`partner_mask`); ``val`` (optional):
    a callable ``val(head, trunk) -> mAP`` run after every epoch; the returned head is the one of
    the best validation epoch (the last epoch without ``val``). Returns ``(head, trunk, info)``,
    ``info = {"loss": (epochs_run, 2) cls and box loss per epoch, "val": [mAP per epoch],
    "epoch_best": 1-based, "epochs_run": int}``. ``patience`` (with ``val``): stop once the validation
    mAP has not improved for that many epochs (early stopping; the one-cycle schedule is laid out for
    ``epochs`` and is cut where training stops); ``None`` trains every epoch. Raises ``ValueError`` for
    ``patience`` without ``val`` or below 1. The head (and ``trunk``) train on ``device``; ``feats``, the RoIs,
    ``tube`` and ``frames`` stay on the CPU and each batch is moved (page-locked, non-blocking); the
    losses stay on the device until the epoch's end. ``amp``: the forward pass in mixed precision
    (:func:`paperlib.train.autocast`; fp16 with loss scaling).
    """
    if patience is not None and (val is None or patience < 1):
        raise ValueError(f"train_head: patience {patience!r} needs a validation callable and must be >= 1")
    dev = resolve_device(device)
    head.to(dev)
    if trunk is not None:
        trunk.to(dev)
    params = [{"params": head.parameters(), "lr": lr}]
    if trunk is not None:
        for p in trunk.parameters():
            p.requires_grad_(True)
        params.append({"params": trunk.parameters(), "lr": lr * trunk_lr_mult})
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    N = len(feats)
    steps = epochs * math.ceil(N / bs)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in params], total_steps=steps,
                                                pct_start=0.1)
    g = torch.Generator().manual_seed(seed)
    if trunk is None and tube is None:
        tube = precompute_tubes(feats, train_rois.rois, device=dev)
    scaler = grad_scaler(dev, amp)
    hist, vals, best = [], [], (-math.inf, 0, None, None)
    for ep in _progress(range(epochs), progress, f"head {variant}"):
        head.train()
        if trunk is not None:
            trunk.eval()            # BatchNorm statistics stay those of stage 1
        tot = []
        for idx in _batches(N, bs, True, g):
            r = SimpleNamespace(**{k: to_device(getattr(train_rois, k)[idx], dev)
                                   for k in ("rois", "tgt", "valid", "gtb", "pos")})
            kw = {"mask": to_device(train_rois.mask[idx], dev)} if getattr(head, "needs_mask", False) else {}
            with autocast(dev, amp):
                if trunk is None:
                    logits, deltas = head(to_device(feats[idx], dev), r.rois,
                                          tube=to_device(tube[idx].flatten(0, 1), dev), **kw)
                else:
                    logits, deltas = head(trunk(to_input(frames[idx.numpy()], dev)), r.rois, **kw)
                l_cls, l_box = head_loss(logits, deltas, r.tgt, r.valid, r.gtb, r.pos, r.rois)
                loss = l_cls + l_box
            opt.zero_grad()
            backward_step(loss, opt, scaler)
            sched.step()
            tot.append(torch.stack([l_cls.detach(), l_box.detach()]).float())
        hist.append(_epoch_mean(tot))
        if val is not None:
            head.eval()
            m = float(val(head, trunk))
            vals.append(m)
            if m > best[0]:
                best = (m, ep + 1, copy.deepcopy(head.state_dict()),
                        None if trunk is None else copy.deepcopy(trunk.state_dict()))
            if patience is not None and ep + 1 - best[1] >= patience:
                break
    if val is not None:
        head.load_state_dict(best[2])
        if trunk is not None:
            trunk.load_state_dict(best[3])
    if trunk is not None:
        for p in trunk.parameters():
            p.requires_grad_(False)
        trunk.eval()
    return head.eval(), trunk, {"loss": np.array(hist), "val": vals, "epoch_best": best[1] if val else epochs,
                                "epochs_run": len(hist)}


@torch.no_grad()
def run_head(head, feats, rois, image_size, tube=None, bs=64, device=None, amp: str | None = None, mask=None):
    """Probabilities ``(N, R, C + 1)`` (sigmoid) and refined boxes ``(N, R, 4)`` px (clipped), on
    the CPU (float32); the batches run on ``device`` (default: the head's), with ``amp`` in mixed
    precision. ``tube`` (optional): :func:`precompute_tubes` of ``(feats, rois)``; ``mask`` (the oracle
    head's, ``(N, R, N_cells)`` bool, :func:`partner_mask`). Raises ``ValueError`` when a head that needs a
    mask gets none."""
    dev = model_device(head, device)
    if getattr(head, "needs_mask", False) and mask is None:
        raise ValueError("run_head: this head attends by a mask (oracle attention); pass mask=partner_mask(...)")
    head.eval()
    outs = []
    for i in _batches(len(feats), bs):
        kw = {"mask": to_device(mask[i], dev)} if getattr(head, "needs_mask", False) else {}
        with autocast(dev, amp):
            o = head(to_device(feats[i], dev), to_device(rois[i], dev),
                     tube=None if tube is None else to_device(tube[i].flatten(0, 1), dev), **kw)
        outs.append([t.float().cpu() for t in o])
    logits, deltas = torch.cat([o[0] for o in outs]), torch.cat([o[1] for o in outs])
    boxes = clip_boxes(_HEAD_CODER.decode(deltas, rois), (image_size, image_size))     # on the CPU, like rois
    return torch.sigmoid(logits), boxes


def detect(person_prob, boxes, valid, iou=0.5, keep_max=8):
    """Per-clip NMS of the refined boxes by the person probability ``(N, R)`` -> kept mask ``(N, R)``."""
    keep = torch.zeros_like(valid)
    for n in range(len(boxes)):
        idx = torch.nonzero(valid[n]).flatten()
        if len(idx):
            k = nms(boxes[n, idx], person_prob[n, idx], iou)[:keep_max]
            keep[n, idx[k]] = True
    return keep


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------
def ava_rows(ds: KeyframeSet, boxes, valid, scores=None, labels=None) -> AvaAnnotations:
    """AVA rows of ``ds``'s keyframes: ground truth (``labels (N, R, C)``, one row per positive)
    or detections (``scores (N, R, C)``, ``C`` rows per valid box); boxes ``(N, R, 4)`` px,
    normalised to ``[0, 1]`` by the frame size."""
    size = ds.frames.shape[2]
    C = len(ds.class_names)
    boxes = np.clip(np.asarray(boxes, np.float64) / size, 0.0, 1.0)
    if scores is None:
        n, r, c = np.nonzero(np.asarray(labels, bool) & np.asarray(valid, bool)[..., None])
        sc, pid = None, r
    else:
        n, r = np.nonzero(np.asarray(valid, bool))
        n, r, c = np.repeat(n, C), np.repeat(r, C), np.tile(np.arange(C), len(n))
        sc, pid = np.asarray(scores)[n, r, c], np.full(len(n), -1)
    return AvaAnnotations([ds.video_ids[i] for i in n], ds.timestamps[n], boxes[n, r], c + 1, pid, sc)


def frame_map(ds: KeyframeSet, boxes, valid, cls_scores, person_scores=None,
              max_per_keyframe: int | None = AVA_CAPACITY) -> dict:
    """Frame-AP at IoU 0.5 (PASCAL VOC, :func:`paperlib.metrics_ap.evaluate_ava`) of detections
    ``boxes (N, R, 4)`` px, ``valid (N, R)``, ``cls_scores (N, R, C)`` on the keyframes of ``ds``.

    ``max_per_keyframe`` (default 50) keeps the official evaluator's top 50 rows per keyframe
    (``None``: every row); ``person_scores (N, R)``, if given, gates each action score by the
    box's person score (SlowFast, mmaction2). Returns ``{"mAP", "ap": {class: AP}}`` (NaN for a
    class without test positives, left out of the mean)."""
    gt = ava_rows(ds, ds.boxes, ds.present, labels=ds.labels)
    det = ava_rows(ds, boxes, valid, scores=cls_scores)
    ps = None
    if person_scores is not None:
        n, r = np.nonzero(np.asarray(valid, bool))
        ps = np.repeat(np.asarray(person_scores)[n, r], len(ds.class_names))
    res = evaluate_ava(gt, det, class_ids=list(range(1, len(ds.class_names) + 1)),
                       max_per_keyframe=max_per_keyframe, person_scores=ps)
    return {"mAP": float(res.mean_ap), "ap": {ds.class_names[k - 1]: float(v) for k, v in res.ap.items()}}


def loc_ap(ds: KeyframeSet, boxes, valid, person_scores, thr: float) -> float:
    """Action-agnostic localisation AP (:func:`paperlib.metrics_ap.localisation_ap`) at IoU ``thr``."""
    size = ds.frames.shape[2]
    gt = ava_rows(ds, ds.boxes, ds.present, labels=ds.labels)
    n, r = np.nonzero(np.asarray(valid, bool))
    keys = [(ds.video_ids[i], float(ds.timestamps[i])) for i in n]
    return float(localisation_ap(list(zip(gt.video_ids, gt.timestamps)), gt.boxes, keys,
                                 np.asarray(boxes)[n, r] / size, np.asarray(person_scores)[n, r], iou_threshold=thr))


def flops(fn) -> int:
    """FLOPs of calling ``fn()`` (``torch.utils.flop_counter``; a multiply-add = 2; matrix
    products and convolutions only, not RoIAlign's bilinear sampling)."""
    from torch.utils.flop_counter import FlopCounterMode  # noqa: PLC0415

    with FlopCounterMode(display=False) as fc:
        fn()
    return int(fc.get_total_flops())


@torch.no_grad()
def head_cost(head, feat1, box1) -> dict:
    """``{"params", "mflops", "mflops_kv"}`` of a head on one clip ``feat1 (1, 64, T', H', W')``
    with one person ``box1 (1, 1, 4)`` (moved to the head's device); ``mflops_kv`` (Tx heads): with
    K and V materialised for every cell, as Eq. (1) is written and the paper counts."""
    dev = model_device(head)
    feat1, box1 = feat1.to(dev, non_blocking=True), box1.to(dev, non_blocking=True)
    head.eval()
    kw = {}
    if getattr(head, "needs_mask", False):      # the oracle: a mask over every cell (the cost does not depend on it)
        kw["mask"] = torch.ones(1, 1, feat1.shape[2] * (feat1.shape[3] // MEM_POOL) * (feat1.shape[4] // MEM_POOL),
                                dtype=torch.bool, device=dev)
    out = {"params": float(count_parameters(head)), "mflops": flops(lambda: head(feat1, box1, **kw)) / 1e6}
    out["mflops_kv"] = (flops(lambda: head(feat1, box1, record=[], **kw)) / 1e6 if isinstance(head, TxHead)
                        else out["mflops"])
    return out


@torch.no_grad()
def attention_shares(head: TxHead, feats, ds: KeyframeSet, n_clips: int = 32, device=None,
                     by_class: bool = False) -> dict:
    """Attention of the last layer (mean over its heads) of every present person of the first
    ``n_clips`` clips with ground-truth boxes, in the other people's boxes and in the own box,
    against a uniform map over the **same** cells (:func:`paperlib.viz.attention.region_shares`).
    Returns the means over the people with at least one other person: ``attn_other``,
    ``attn_other_uniform``, ``attn_own``, ``attn_own_uniform`` and ``attn_n`` (people counted); and two
    properties of the maps themselves: ``attn_entropy`` (the mean entropy of a person's map over the ``N``
    cells, divided by ``log N``: 1 for a uniform map, 0 for one cell) and ``attn_query_tv`` (query
    dependence: the mean total-variation distance ``0.5 sum |a_i - a_j|`` between the maps of two people of the
    same clip over the same memory; 0 when the map ignores the query, as a uniform one does; left out
    without a clip of two people, as ``attn_entropy`` without a present person). With ``by_class``, also
    per class ``c`` (short name) the same two means over the people with company who carry label ``c``:
    ``attn_other/<c>``, ``attn_other_uniform/<c>`` and ``attn_n/<c>`` (classes without such a person left
    out)."""
    from ..viz.attention import region_shares  # noqa: PLC0415

    dev = model_device(head, device)
    n = min(n_clips, len(ds))
    boxes = torch.as_tensor(ds.boxes[:n])
    present = torch.as_tensor(ds.present[:n])
    rois = torch.where(present[..., None], boxes, torch.tensor(_PAD_BOX))
    rec = []
    head.eval()
    kw = {}
    if getattr(head, "needs_mask", False):
        kw["mask"] = partner_mask(rois, boxes, present, (feats.shape[2], feats.shape[3] // MEM_POOL,
                                                         feats.shape[4] // MEM_POOL), ds.frames.shape[2]).to(dev)
    head(feats[:n].to(dev, non_blocking=True), rois.to(dev, non_blocking=True), record=rec, **kw)
    heads = len(head.layers[0])
    Tp, Hp, Wp = feats.shape[2:]
    last = torch.stack([r["attn"] for r in rec[-heads:]]).mean(0).cpu()      # (n, P, N)
    last = last.reshape(n, -1, Tp, Hp // MEM_POOL, Wp // MEM_POOL).numpy()
    size = ds.frames.shape[2]
    rows, labels = [], []
    for c in range(n):
        for p in np.flatnonzero(ds.present[c]):
            s = region_shares(last[c, p], ds.boxes[c], ds.present[c], int(p), (size, size))
            if s["n_other"]:
                rows.append([s["other"], s["other_uniform"], s["own"], s["own_uniform"]])
                labels.append(ds.labels[c, p])
    rows = np.array(rows).reshape(-1, 4)
    m = rows.mean(0) if len(rows) else np.full(4, np.nan)
    flat = last.reshape(n, last.shape[1], -1)                                  # (n, P, N)
    ent, tv = [], []
    for c in range(n):
        ps = np.flatnonzero(ds.present[c])
        a = np.clip(flat[c, ps], 1e-12, None)
        ent += list(-(a * np.log(a)).sum(-1) / np.log(flat.shape[-1]))
        tv += [0.5 * np.abs(flat[c, i] - flat[c, j]).sum() for k, i in enumerate(ps) for j in ps[k + 1:]]
    out = {"attn_other": float(m[0]), "attn_other_uniform": float(m[1]), "attn_own": float(m[2]),
           "attn_own_uniform": float(m[3]), "attn_n": float(len(rows))}
    if ent:
        out["attn_entropy"] = float(np.mean(ent))
    if tv:
        out["attn_query_tv"] = float(np.mean(tv))
    if by_class and len(rows):
        lab = np.array(labels, bool)                                           # (people, C)
        for k, name in enumerate(ds.class_names):
            sel = lab[:, k]
            if sel.any():
                c = short(name)
                out[f"attn_other/{c}"], out[f"attn_other_uniform/{c}"] = (float(x) for x in rows[sel, :2].mean(0))
                out[f"attn_n/{c}"] = float(sel.sum())
    return out


@torch.no_grad()
def attention_record(head: TxHead, feats, ds: KeyframeSet, n_clips: int = 6, targets=None, device=None) -> dict:
    """The attention viewer's record (:mod:`paperlib.viz.attention`) of a trained Tx head on the
    first ``n_clips`` clips of ``ds`` with their ground-truth boxes: every unit's softmax attention
    over the memory cells, ``attn (n, L, heads, P, T', H'/MEM_POOL, W'/MEM_POOL)``, its keys
    ``(n, L, heads, T', H'/MEM_POOL, W'/MEM_POOL, D)``, the predicted action probabilities
    ``probs (n, P, C)``, frames, boxes, presence, labels, class names, the context classes and
    ``targets`` (``(N, P)`` int, the RoI each person watches or -1; ``None`` if unknown).
    ``feats``: the trunk features of ``ds`` ``(N, 64, T', H', W')``. Raises ``TypeError`` for a
    head that is not a :class:`TxHead` (the I3D head has no attention). The clips run on ``device``
    (default: the head's); the record holds numpy arrays."""
    if not isinstance(head, TxHead):
        raise TypeError(f"attention_record: needs a TxHead, got {type(head).__name__}")
    dev = model_device(head, device)
    n = min(n_clips, len(ds))
    present = torch.as_tensor(ds.present[:n])
    rois = torch.where(present[..., None], torch.as_tensor(ds.boxes[:n]), torch.tensor(_PAD_BOX))
    rec = []
    head.eval()
    logits, _ = head(feats[:n].to(dev, non_blocking=True), rois.to(dev, non_blocking=True), record=rec)
    logits = logits.cpu()
    rec = [{k: v.cpu() for k, v in r.items()} for r in rec]
    L, Hd = len(head.layers), len(head.layers[0])
    Tp, Hp, Wp = feats.shape[2:]
    cells = (Tp, Hp // MEM_POOL, Wp // MEM_POOL)
    P = rois.shape[1]
    attn = torch.stack([r["attn"] for r in rec]).reshape(L, Hd, n, P, *cells).permute(2, 0, 1, 3, 4, 5, 6)
    keys = torch.stack([r["keys"] for r in rec]).reshape(L, Hd, n, *cells, -1).permute(2, 0, 1, 3, 4, 5, 6)
    C = len(ds.class_names)
    return {"frames": ds.frames[:n], "boxes": ds.boxes[:n], "valid": ds.present[:n], "attn": attn.numpy(),
            "keys": keys.numpy(), "probs": torch.sigmoid(logits[..., :C]).numpy(), "labels": ds.labels[:n],
            "class_names": list(ds.class_names), "context": [c for c in CONTEXT_CLASSES if c in ds.class_names],
            "targets": None if targets is None else np.asarray(targets)[:n]}


def _per_person(prob, ds: KeyframeSet):
    """Per present test person (clip-major): mean BCE over classes (``nll``) and the AP of
    ranking the person's own labels among its C scores (``label_ap``, NaN without a label)."""
    pres = np.asarray(ds.present, bool)
    p = np.clip(np.asarray(prob)[pres], 1e-6, 1 - 1e-6)
    y = np.asarray(ds.labels)[pres].astype(float)
    nll = -(y * np.log(p) + (1 - y) * np.log(1 - p)).mean(1)
    lap = []
    for pi, yi in zip(p, y):
        if yi.sum() == 0:
            lap.append(float("nan"))
            continue
        order = np.argsort(-pi, kind="stable")
        hits = yi[order]
        prec = np.cumsum(hits) / (np.arange(len(hits)) + 1)
        lap.append(float((prec * hits).sum() / hits.sum()))
    return nll.tolist(), lap


# ----------------------------------------------------------------------------------------------
# The experiment
# ----------------------------------------------------------------------------------------------
def run_experiment(seed: int = 0, cue_scale: float = 1.0, symmetric_exchange: bool = False, num_train: int = 384,
                   num_test: int = 128, val_fraction: float = 0.15, frames: int = 8, size: int = 64,
                   max_people: int = 4, epochs_trunk: int = 3, epochs_head: int = 10, lr_head: float = 2e-3,
                   trunk_lr_mult: float = 0.1, proposals: int = 16, proposals_train: int = 8,
                   variants=("i3d", "lowres", "highres", "tx+i3d", "highres_small"), max_per_keyframe: int | None = 50,
                   gate_person: bool = False, context_probe: bool = True, attention_clips: int = 32,
                   tx_heads: int = 2, tx_layers: int = 3, ffn_input: str = "updated", location_embedding: bool = True,
                   dataset: str = "synthetic", data_root=None, ava_version: str = "v2.2", ava_classes: int = 60,
                   ava_fps: float = 4.0, ava_time_offset: float = 900.0, progress: bool = False,
                   return_models: bool = False, device: str = "cpu", amp: str | None = None,
                   cache_dir=None, head_patience: int | None = None, exchange_rate: float = 0.3,
                   conversation_rate: float = 0.5) -> dict:
    """The Action Transformer's experiment for one seed: data -> stage 1 (trunk + RPN) -> every
    head variant -> Tables 1-3 (frame-AP with GT boxes, localisation AP and frame-AP with RPN
    proposals).

    Paired: every variant of a seed sees the same clips, split, stage-1 trunk and proposals, head
    initialisation seed (``seed``) and batch order. Each head trains ``epochs_head`` epochs
    (AdamW, one-cycle, ``lr_head``); its epoch is chosen on the validation split's frame-mAP with
    ground-truth boxes (``val_fraction`` of the training clips, never the test clips); with
    ``head_patience`` training stops once that mAP has not improved for so many epochs
    (:func:`train_head`; ``None``: every epoch).
    ``highres_e2e`` also trains the trunk at ``lr_head * trunk_lr_mult``. ``variants``: keys of
    :data:`VARIANTS` (``tx+i3d`` needs ``highres`` and ``i3d``; ``i3d_wide`` is the I3D head
    widened to the Tx HighRes head's parameter count). Frame-AP keeps the official evaluator's
    ``max_per_keyframe`` = 50 rows per keyframe (``None``: all rows); ``gate_person`` multiplies
    the action scores of RPN detections by the person score.

    Tx head ablations (every Tx variant; defaults: the paper's model, :func:`make_head`):
    ``tx_heads`` x ``tx_layers`` units (Table 5); ``ffn_input="query"``: the printed FFN(Q)
    instead of FFN(Q') (:class:`TxUnit`); ``location_embedding=False``: the embedding replaced by
    zeros (:class:`NoLocationEmbedding`).

    Data knobs (:func:`paperlib.data.video.make_multi_person_clips`): ``cue_scale`` (head, face
    offset and handheld objects scaled), ``symmetric_exchange`` (giver and taker share the arm
    motion), ``exchange_rate`` / ``conversation_rate`` (how often a scene holds a hand-over / a
    conversation: the classes only another person tells). ``dataset="ava"`` reads the released AVA splits ``train`` (training; the validation
    split is carved from its keyframes) and ``val`` (test: AVA's test labels are not released) of
    ``ava_version`` with the ``ava_classes``-class label map from ``data_root``
    (:func:`load_ava_split` with ``ava_fps`` and ``ava_time_offset``; every annotated person,
    ``max_people`` aside; a ``UserWarning`` (:func:`clip_scale_note`) when the clip is below the
    paper's 64 frames, about 3 s, at 400 px; no probe, no cue sizes; the decoded frames live on disk in ``cache_dir``,
    default ``data_root/.paperlib_cache``, and are read batch by batch).

    ``device``: where the networks train and run (``"cpu"``, ``"cuda"``, ``"auto"``); the clips,
    features, RoI tubes and outputs stay on the CPU and move batch by batch. ``amp`` (``None``,
    ``"bf16"``, ``"fp16"``): the networks' forward passes in mixed precision
    (:func:`paperlib.train.autocast`; fp16 trains with loss scaling; RoIAlign and the box decoding
    stay in float32); ``None`` is full precision.

    Returns ``{"metrics", "per_item"}``. ``metrics[variant]`` (rates in [0, 1], times in CPU s):
    ``mAP_gt`` and ``ap_gt/<class>`` (Table 1), ``context_mAP_gt``, ``other_mAP_gt``; ``mAP_rpn``,
    ``loc@0.5``, ``loc@0.75`` (Tables 2-3; ``tx+i3d`` has these only); ``params``, ``mflops``,
    ``mflops_kv``; ``epoch_best``, ``val_mAP_best``, ``loss_first``, ``loss_last`` (cls + box per
    epoch), ``train_s`` (and ``epochs_run`` with ``head_patience``); Tx heads with a map (not
    ``highres_nomem``) ``attn_*`` (:func:`attention_shares`). Also ``metrics["data"]``
    (``cue/<name>`` px of the test clips, ``chance``, sizes), ``metrics["rpn"]`` (recall@0.5,
    recall@0.75, loc AP of the raw proposals), ``metrics["context"]`` (``dep/<class>``,
    ``own/<class>``, ``ctx/<class>`` of :func:`paperlib.probe.context_dependence`, with
    ``context_probe``), ``metrics["time"]``. ``per_item[variant]`` for the GT-box variants: per
    present test person, ``nll`` and ``label_ap`` (:func:`_per_person`). With ``return_models``
    also ``"models"``, ``"data"``, ``"stage1"``, ``"feats"``, ``"outputs"``.
    Raises ``ValueError`` for an unknown variant or dataset.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"run_experiment: unknown variants {unknown}; known: {list(VARIANTS)}")
    if "tx+i3d" in variants and not {"highres", "i3d"} <= set(variants):
        raise ValueError("run_experiment: 'tx+i3d' needs the variants 'highres' and 'i3d'")
    dev = resolve_device(device)
    t_all = time.process_time()
    if dataset == "synthetic":
        data = make_data(num_train, num_test, frames, size, max_people, seed, cue_scale, symmetric_exchange,
                         val_fraction, exchange_rate=exchange_rate, conversation_rate=conversation_rate)
    elif dataset == "ava":
        from ..data.frame_cache import RowSubset  # noqa: PLC0415

        note = clip_scale_note(frames, size, ava_fps)
        if note is not None:
            import warnings  # noqa: PLC0415

            warnings.warn(note, stacklevel=2)
        ava = dict(fps=ava_fps, offset=ava_time_offset, version=ava_version, classes=ava_classes, cache_dir=cache_dir)
        full = load_ava_split(data_root, "train", frames, size, None, **ava)
        n_val = max(1, int(round(val_fraction * len(full))))
        perm = np.random.default_rng([seed, 404]).permutation(len(full))

        def part(idx):  # full.subset without reading the frames: they stay on disk, read batch by batch
            return KeyframeSet(RowSubset(full.frames, idx), full.boxes[idx], full.present[idx], full.labels[idx],
                               [full.video_ids[i] for i in idx], full.timestamps[idx], full.class_names)

        data = SimpleNamespace(train=part(np.sort(perm[:-n_val])), val=part(np.sort(perm[-n_val:])),
                               test=load_ava_split(data_root, "val", frames, size, None, **ava),
                               train_clips=None, test_clips=None, cue_sizes_px={})
        frames_file = getattr(full.frames, "filename", None)          # the decoded-frames cache, when there is one
        data.feature_dir = None if frames_file is None else Path(frames_file).parent
    else:
        raise ValueError(f"run_experiment: dataset must be 'synthetic' or 'ava', got {dataset!r}")
    tr, va, te = data.train, data.val, data.test
    size = tr.frames.shape[2]
    names = list(tr.class_names)
    C = len(names)
    context = [c for c in CONTEXT_CLASSES if c in names]
    times = {"data_s": time.process_time() - t_all}
    metrics = {"data": {**{f"cue/{k}": float(v) for k, v in data.cue_sizes_px.items()},
                        "chance": float(te.labels[te.present].mean()), "n_train": float(len(tr)),
                        "n_val": float(len(va)), "n_test": float(len(te)),
                        "test_people": float(te.present.sum())}}
    if context_probe and data.train_clips is not None:
        from ..probe import context_dependence  # noqa: PLC0415
        t0 = time.process_time()
        cd = context_dependence(data.train_clips, data.test_clips, seed=seed)
        metrics["context"] = {f"{k}/{short(c)}": float(v) for k, key in (("dep", "dependence"), ("own", "own"),
                                                                         ("ctx", "context"))
                              for c, v in cd[key].items()}
        times["probe_s"] = time.process_time() - t0

    t0 = time.process_time()
    stage1, hist1 = train_stage1(tr, epochs_trunk, seed, progress=progress, device=dev, amp=amp)
    fdir = getattr(data, "feature_dir", None)   # AVA: the trunk features on disk (rendered: None, in memory)
    F_tr, prop_tr, _, pv_tr = trunk_and_proposals(stage1, tr, proposals_train, amp=amp, out_dir=fdir)
    F_va = trunk_and_proposals(stage1, va, 1, amp=amp, out_dir=fdir)[0]
    F_te, prop_te, ps_te, pv_te = trunk_and_proposals(stage1, te, proposals, amp=amp, out_dir=fdir)
    times["stage1_s"] = time.process_time() - t0
    te_boxes, te_present = torch.as_tensor(te.boxes), torch.as_tensor(te.present)
    metrics["rpn"] = {"recall@0.5": recall_at(prop_te, pv_te, te_boxes, te_present, 0.5),
                      "recall@0.75": recall_at(prop_te, pv_te, te_boxes, te_present, 0.75),
                      "loc@0.5": loc_ap(te, prop_te, pv_te, ps_te, 0.5),
                      "loc@0.75": loc_ap(te, prop_te, pv_te, ps_te, 0.75),
                      "stage1_loss_first": float(hist1[0].sum()), "stage1_loss_last": float(hist1[-1].sum())}
    rois_tr = _train_rois(F_tr, prop_tr, pv_tr, tr)
    gt_rois = lambda ds: torch.where(torch.as_tensor(ds.present)[..., None], torch.as_tensor(ds.boxes),  # noqa: E731
                                     torch.tensor(_PAD_BOX))
    masks = {}
    if any(VARIANTS[v].get("attention") == "oracle" for v in variants):   # the oracle's cells, once per run
        thw = (F_tr.shape[2], F_tr.shape[3] // MEM_POOL, F_tr.shape[4] // MEM_POOL)
        pm = lambda r, ds: partner_mask(r, torch.as_tensor(ds.boxes), torch.as_tensor(ds.present), thw, size)  # noqa: E731
        rois_tr.mask = pm(rois_tr.rois, tr)
        masks = {"val_gt": pm(gt_rois(va), va), "test_gt": pm(gt_rois(te), te), "test_rpn": pm(prop_te, te)}
    t0 = time.process_time()            # RoI tubes of the frozen trunk: once per run, shared by the variants
    tubes = {"train": precompute_tubes(F_tr, rois_tr.rois, device=dev),
             "val_gt": precompute_tubes(F_va, gt_rois(va), device=dev),
             "test_gt": precompute_tubes(F_te, gt_rois(te), device=dev),
             "test_rpn": precompute_tubes(F_te, prop_te, device=dev)}
    times["tubes_s"] = time.process_time() - t0

    def val_map(head, trunk):
        fv = F_va if trunk is None else trunk_and_proposals(stage1, va, 1, trunk=trunk, amp=amp, out_dir=fdir)[0]
        prob, _ = run_head(head, fv, gt_rois(va), size, tube=tubes["val_gt"] if trunk is None else None, amp=amp,
                           mask=masks.get("val_gt"))
        return frame_map(va, va.boxes, va.present, prob[..., :C], max_per_keyframe=max_per_keyframe)["mAP"]

    box1 = torch.as_tensor(te.boxes[:1, :1])
    models, outputs, per_item = {}, {}, {}
    infos = {}
    for v in [v for v in variants if "combine" not in VARIANTS[v]]:
        spec = VARIANTS[v]
        t0 = time.process_time()
        head = make_head(v, C, seed, heads=tx_heads, layers=tx_layers, ffn_input=ffn_input,
                         location_embedding=location_embedding)
        trunk = copy.deepcopy(stage1.trunk) if spec.get("end_to_end") else None
        head, trunk, info = train_head(v, head, F_tr, rois_tr, epochs_head, seed, val=val_map, lr=lr_head,
                                       trunk=trunk, frames=tr.frames, trunk_lr_mult=trunk_lr_mult,
                                       progress=progress, tube=None if trunk is not None else tubes["train"],
                                       device=dev, amp=amp, patience=head_patience)
        frozen = trunk is None
        fte = F_te if trunk is None else trunk_and_proposals(stage1, te, 1, trunk=trunk, amp=amp, out_dir=fdir)[0]
        m = {}
        prob_gt, _ = run_head(head, fte, gt_rois(te), size, tube=tubes["test_gt"] if frozen else None, amp=amp,
                              mask=masks.get("test_gt"))
        res = frame_map(te, te.boxes, te.present, prob_gt[..., :C], max_per_keyframe=max_per_keyframe)
        m["mAP_gt"] = res["mAP"]
        m.update({f"ap_gt/{short(c)}": a for c, a in res["ap"].items()})
        m["context_mAP_gt"] = float(np.nanmean([res["ap"][c] for c in context])) if context else float("nan")
        m["other_mAP_gt"] = float(np.nanmean([res["ap"][c] for c in names if c not in context]))
        prob_rp, box_rp = run_head(head, fte, prop_te, size, tube=tubes["test_rpn"] if frozen else None, amp=amp,
                                   mask=masks.get("test_rpn"))
        keep = detect(prob_rp[..., C], box_rp, pv_te)
        m["mAP_rpn"] = frame_map(te, box_rp, keep, prob_rp[..., :C], prob_rp[..., C] if gate_person else None,
                                 max_per_keyframe)["mAP"]
        m["loc@0.5"] = loc_ap(te, box_rp, keep, prob_rp[..., C], 0.5)
        m["loc@0.75"] = loc_ap(te, box_rp, keep, prob_rp[..., C], 0.75)
        m.update(head_cost(head, fte[:1], box1))
        m.update(epoch_best=float(info["epoch_best"]), val_mAP_best=float(max(info["val"])),
                 loss_first=float(info["loss"][0].sum()), loss_last=float(info["loss"][-1].sum()))
        if head_patience is not None:
            m["epochs_run"] = float(info["epochs_run"])
        if isinstance(head, TxHead) and attention_clips and spec.get("attention", "learned") != "none":
            m.update(attention_shares(head, fte, te, attention_clips))
        m["train_s"] = time.process_time() - t0
        nll, lap = _per_person(prob_gt[..., :C], te)
        metrics[v], per_item[v] = m, {"nll": nll, "label_ap": lap}
        models[v] = head if trunk is None else (head, trunk)
        infos[v] = info
        outputs[v] = {"prob_gt": prob_gt, "prob_rpn": prob_rp, "box_rpn": box_rp, "keep": keep, "feats": fte}
    if "tx+i3d" in variants:
        cls_v, loc_v = VARIANTS["tx+i3d"]["combine"]
        o = outputs[loc_v]
        prob_cls, _ = run_head(models[cls_v], F_te, o["box_rpn"], size, amp=amp)
        metrics["tx+i3d"] = {
            "mAP_rpn": frame_map(te, o["box_rpn"], o["keep"], prob_cls[..., :C],
                                 o["prob_rpn"][..., C] if gate_person else None, max_per_keyframe)["mAP"],
            "loc@0.5": metrics[loc_v]["loc@0.5"], "loc@0.75": metrics[loc_v]["loc@0.75"]}
    times["total_s"] = time.process_time() - t_all
    metrics["time"] = times
    out = {"metrics": metrics, "per_item": per_item}
    if return_models:
        out.update(models=models, data=data, stage1=stage1, feats={"train": F_tr, "val": F_va, "test": F_te},
                   outputs=outputs, proposals={"test": (prop_te, ps_te, pv_te)}, train_info=infos)
    return out
