"""Notebook 03: Glimpse Clouds (Baradel, Wolf, Mille, Taylor, CVPR 2018), model, losses and experiment.

Paper: https://arxiv.org/abs/1802.07898. Equations are numbered as in the paper.

* the global model ``f`` (:class:`Net2D` inflated by :class:`Inflated3D`, :class:`GlobalModel`),
  its pose head (Eq. 13) and ``L_P`` (:func:`pose_loss`);
* the glimpse model (:class:`GlimpseClouds`): glimpses (Eqs. 1-2) read both the trunk's
  stride-8 map and full-resolution pixel patches (:class:`PatchCNN`), recurrent attention
  (Eqs. 3-4), "what and where" (Eq. 5), soft-tracking workers (Eqs. 6-8, 11-12) and the external
  memory (Eqs. 9-10, :func:`memory_read`); ``L_G`` (Eqs. 15-17, :func:`glimpse_loss`);
* :func:`specialisation` (mean Jensen-Shannon divergence between the workers' soft-assignments);
* the data: classes that differ only by a small held object (:func:`make_data`, knob
  ``object_scale``);
* :func:`run_experiment`, one seed of the grid of ``notebooks/results/03_glimpse_clouds``.

Conventions: clips are uint8 ``(B, 3, T, H, W)``; glimpse parameters ``l = (x, y, s_x, s_y)``,
centre in ``[-1, 1]`` (x right, y down), extent as a fraction of the image.
"""
from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..data.video import make_single_person_clips, split_indices
from ..nn.spatial import glimpse_crop
from ..train import autocast, fit, make_loader, model_device, resolve_device, to_device

__all__ = ["MOTIONS", "OBJECTS", "PAIR_OBJECTS", "ORACLE_JOINTS", "ORACLE_SCALE", "DECAY", "make_data", "load_ntu_rgb", "to_input", "player_record", "Net2D", "Inflated3D", "GlobalModel",
           "pose_loss", "train_global", "trunk_features", "memory_read", "memory_read_naive", "PatchCNN",
           "GlimpseClouds", "glimpse_loss", "init_distance", "specialisation", "oracle_locations", "tracking",
           "coverage", "train_glimpse",
           "evaluate_glimpse", "VARIANTS", "run_experiment"]

#: Motions of the held-object task (arm motions with the acting hand in view).
MOTIONS = ("drink", "point", "wave", "touch head")
#: Objects in the acting hand; ``""`` is the empty hand.
OBJECTS = ("cup", "phone", "")
#: Objects of the two-point regime (``make_data(points=2)``): one in each hand; the class is the pair.
PAIR_OBJECTS = ("cup", "phone")
#: Where the oracle's glimpses look (:func:`oracle_locations`), in order: the left and the right
#: hand's grip (the point 0.6 of the way from the hand joint to the hand tip, where a held object
#: sits), then the head and the middle of the spine. NTU-25 joint indices ``(hand, hand tip)``.
ORACLE_JOINTS = ((7, 21), (11, 23), (3, 3), (1, 1))
#: The oracle glimpses' extent (fraction of the image): 19 px at 64 x 64, wider than the largest
#: object of the size band (17 px), chosen before any run.
ORACLE_SCALE = 0.3
#: Default decay rate lambda of Eq. 10 as the paper's text describes it: exp(-lambda (t - t_k)), recent
#: entries weigh more (the printed Eq. 10, exp(-t_k), and the official code favour the oldest). The
#: default of ``GlimpseClouds(decay=...)`` and ``run_experiment(decay=...)``; pass ``decay`` to change it.
DECAY = 0.5


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------
def make_data(num_scenes: int = 240, frames: int = 8, size: int = 64, seed: int = 0, object_scale: float = 1.0,
              motions=MOTIONS, objects=OBJECTS, benchmark: str = "xsub", points: int = 1):
    """Rendered clips whose classes are ``motion x held object(s)``.

    ``points=1``: every performance gets one object (``objects``, balanced, shuffled with
    ``seed``) in its acting hand, the same for its three cameras; two classes of one motion differ
    only by that object (``len(motions) * len(objects)`` classes). ``points=2`` (the two-point
    regime): each hand holds one of :data:`PAIR_OBJECTS` and the class is the pair (acting hand,
    other hand), ``len(motions) * 4`` classes: one hand's object alone leaves two classes open, so
    both hands must be read; the acting hand moves, the other hangs. ``objects`` is then unused.
    ``object_scale`` multiplies the objects' radius and half-length
    (:func:`paperlib.data.video.make_single_person_clips`); ``0`` removes them (then the objects
    cannot be told apart).

    Returns a namespace with ``X`` uint8 ``(N, 3, T, H, W)``, ``Y`` int64 ``(N,)`` (``motion *
    n_obj + obj``), ``P`` float32 ``(N, T, 25, 2)`` pose in ``[-1, 1]``, ``V`` float32 ``(N, T,
    25)`` visibility, ``obj`` ``(N,)`` object (pair) index and ``n_obj`` their number, ``Q`` float32
    ``(N, T, points, 2)`` the informative points (the held objects' box centres, acting hand first,
    in ``[-1, 1]``; NaN for an empty hand or an object out of view), ``object_px`` (median height of
    the objects' boxes, pixels), ``clips``, ``class_names``, ``train``, ``test`` (index arrays of
    ``benchmark``). Raises ``ValueError`` for ``points`` other than 1 or 2.
    """
    if points not in (1, 2):
        raise ValueError(f"make_data: points must be 1 or 2, got {points!r}")
    rng = np.random.default_rng([seed, 303])
    kinds = objects if points == 1 else tuple((a, b) for a in PAIR_OBJECTS for b in PAIR_OBJECTS)
    kinds_idx = rng.permutation(np.arange(num_scenes) % len(kinds))
    clips = make_single_person_clips(num_scenes, frames=frames, size=size, seed=seed, classes=tuple(motions),
                                     held_objects=[kinds[k] for k in kinds_idx], object_scale=object_scale)
    C = len(clips.cameras) // num_scenes
    obj = np.repeat(kinds_idx, C)
    Y = clips.labels * len(kinds) + obj
    boxes = [clips.object_boxes] + ([clips.other_object_boxes] if points == 2 else [])
    ob = np.stack(boxes, 2)                                                      # (N, T, points, 4)
    heights = (ob[..., 3] - ob[..., 1])[np.isfinite(ob[..., 3])]
    H, W = clips.frames.shape[2:4]
    if points == 1:
        names = tuple(f"{m}+{o or 'empty'}" for m in clips.class_names for o in objects)
    else:
        names = tuple(f"{m}+{a}+{b}" for m in clips.class_names for a, b in kinds)
    Q = ((ob[..., :2] + ob[..., 2:]) / 2 / np.array([W, H], np.float32) * 2 - 1).astype(np.float32)
    tr, te = split_indices(clips, benchmark)
    return SimpleNamespace(
        X=torch.from_numpy(clips.frames).permute(0, 4, 1, 2, 3).contiguous(), Y=torch.as_tensor(Y, dtype=torch.long),
        P=torch.from_numpy(np.asarray(clips.joints2d, np.float32) / np.array([W, H], np.float32) * 2 - 1),
        V=torch.from_numpy(np.asarray(clips.visibility, np.float32)), obj=obj, n_obj=len(kinds),
        Q=torch.from_numpy(Q), object_px=float(np.median(heights)) if heights.size else 0.0, clips=clips,
        class_names=names, train=np.asarray(tr), test=np.asarray(te))


def load_ntu_rgb(root, frames: int = 8, size: int = 64, benchmark: str = "xsub", *, cache: bool = True,
                 cache_dir=None, workers: int | None = None):
    """Real NTU RGB+D as the namespace of :func:`make_data` (``obj`` all ``-1``, ``object_px`` NaN).

    ``root/rgb/<SsssCcccPpppRrrrAaaa>/img_00001.jpg...`` (frames extracted with ffmpeg) and
    ``root/skeletons/<name>.skeleton``; ``frames`` frames per clip sampled uniformly, resized to
    ``size x size``; colour-image joints of the most active body, scaled to ``size``.
    Cross-subject (the 20 training subjects) or cross-view (cameras 2, 3 train).

    The clips are decoded once, in ``workers`` DataLoader processes (default ``min(4, CPUs)``), into
    a uint8 file ``<cache_dir>/ntu_rgb_<frames>x<size>.npy`` (default ``cache_dir``:
    ``root/.paperlib_cache``, or ``~/.cache/paperlib/frames-<hash>`` where ``root`` is read-only;
    :mod:`paperlib.data.frame_cache`), reused while the source files are unchanged. ``X`` is then a
    tensor over a copy-on-write memory map of that file (no copy: a batch ``X[i]`` reads only its
    clips; full NTU-60 at 224: 68 GB on disk); ``cache=False`` decodes into memory instead (same
    values). ``cache_dir`` is also where :func:`run_experiment` puts the trunk feature maps
    (``data.cache_dir``, ``None`` without a cache).

    Returns ``X`` uint8 ``(N, 3, T, H, W)``, ``Y`` int64 ``(N,)``, ``P`` float32 ``(N, T, 25, 2)`` in
    ``[-1, 1]``, ``V`` float32 ``(N, T, 25)``, ``class_names``, ``train``, ``test``, ``cache_dir``
    (``n_obj`` 1 and ``Q`` None: no informative points are annotated).
    What the clips lose (bodies beyond two, RGB and skeleton frame counts that differ) is counted
    and warned about once for the whole set (also when the cache is reused). Raises
    :class:`paperlib.data.errors.FormatError` naming the file of a broken sample (the first, in
    name order) or a folder not named like ``S001C001P001R001A001``, and ``ValueError`` for an
    unknown benchmark.
    """
    import re
    from pathlib import Path

    from ..data.errors import FormatError
    from ..data.frame_cache import default_frame_cache_dir, ntu_rgb_cache

    if benchmark not in ("xsub", "xview"):
        raise ValueError(f"load_ntu_rgb: benchmark must be xsub or xview, got {benchmark!r}")
    xsub = {1, 2, 4, 5, 8, 9, 13, 14, 15, 16, 17, 18, 19, 25, 27, 28, 31, 34, 35, 38}
    names = sorted(q.name for q in (Path(root) / "rgb").iterdir() if q.is_dir())
    lab, sub, cam = [], [], []
    for n in names:
        m = re.match(r"S(\d{3})C(\d{3})P(\d{3})R(\d{3})A(\d{3})", n)
        if m is None:
            raise FormatError(Path(root) / "rgb" / n, "expected a folder named like S001C001P001R001A001", field="name")
        cam.append(int(m.group(2))); sub.append(int(m.group(3))); lab.append(int(m.group(5)) - 1)
    if cache:
        cache_dir = Path(cache_dir) if cache_dir is not None else default_frame_cache_dir(root)
    else:
        cache_dir = None
    fc = ntu_rgb_cache(root, names, frames, size, cache_dir, workers, source=f"NTU RGB+D frames ({root})")
    fc.report.warn()
    sub, cam = np.array(sub), np.array(cam)
    train = np.isin(sub, list(xsub)) if benchmark == "xsub" else cam != 1
    present = fc.arrays["present"]
    return SimpleNamespace(
        X=torch.from_numpy(fc.frames), Y=torch.as_tensor(lab, dtype=torch.long),
        P=torch.from_numpy(fc.arrays["joints2d"].astype(np.float32) / size * 2 - 1),
        V=torch.from_numpy(np.repeat(present[:, :, None], 25, 2).astype(np.float32)), obj=np.full(len(lab), -1),
        n_obj=1, Q=None, object_px=float("nan"), clips=None, class_names=tuple(f"A{i + 1:03d}" for i in range(max(lab) + 1)),
        train=np.flatnonzero(train), test=np.flatnonzero(~train), cache_dir=cache_dir)

def to_input(x_u8: torch.Tensor) -> torch.Tensor:
    """uint8 pixels -> roughly standardised floats (``(x / 255 - 0.5) / 0.25``), any shape."""
    return (x_u8.float() / 255.0 - 0.5) / 0.25


# ----------------------------------------------------------------------------------------------
# The global model (Sec. 3, 3.6)
# ----------------------------------------------------------------------------------------------
class Net2D(nn.Module):
    """A small 2D CNN, ``(B, 3, 64, 64) -> (B, 32, 8, 8)`` (strides 4, 2, 1), the network we inflate."""

    def __init__(self, widths=(8, 16, 32)):
        super().__init__()
        c1, c2, c3 = widths
        self.convs = nn.ModuleList([nn.Conv2d(3, c1, 4, stride=4, bias=False),
                                    nn.Conv2d(c1, c2, 3, stride=2, padding=1, bias=False),
                                    nn.Conv2d(c2, c3, 3, stride=1, padding=1, bias=False)])
        self.bns = nn.ModuleList([nn.BatchNorm2d(c) for c in widths])

    def forward(self, x):
        for conv, bn in zip(self.convs, self.bns):
            x = F.relu(bn(conv(x)))
        return x


class Inflated3D(nn.Module):
    """I3D inflation of :class:`Net2D`: ``k x k`` kernels -> ``kt x k x k`` (Carreira & Zisserman 2017).

    ``mode="repeat"`` copies the 2D kernel over time and divides by ``kt``; ``"centre"`` puts it
    in the middle slice. Temporal stride 1 and replicate padding in time, so a static clip gives
    the 2D network's output at every frame. ``(B, 3, T, H, W) -> (B, C, T, h, w)``. Raises
    ``ValueError`` for another mode.
    """

    def __init__(self, net2d: Net2D, kt: int = 3, mode: str = "repeat"):
        super().__init__()
        if mode not in ("repeat", "centre"):
            raise ValueError(f"Inflated3D: mode must be 'repeat' or 'centre', got {mode!r}")
        self.kt = kt
        self.convs, self.bns = nn.ModuleList(), nn.ModuleList()
        for conv, bn in zip(net2d.convs, net2d.bns):
            c3 = nn.Conv3d(conv.in_channels, conv.out_channels, (kt, *conv.kernel_size), stride=(1, *conv.stride),
                           padding=(0, *conv.padding), bias=False)
            w2 = conv.weight.detach()                                      # (out, in, k, k)
            if mode == "repeat":
                w3 = w2[:, :, None].repeat(1, 1, kt, 1, 1) / kt
            else:
                w3 = torch.zeros_like(c3.weight)
                w3[:, :, kt // 2] = w2
            c3.weight.data.copy_(w3)
            b3 = nn.BatchNorm3d(bn.num_features)
            b3.load_state_dict(bn.state_dict())
            self.convs.append(c3)
            self.bns.append(b3)

    def forward(self, x):
        p = self.kt // 2
        for conv, bn in zip(self.convs, self.bns):
            x = torch.cat([x[:, :, :1]] * p + [x] + [x[:, :, -1:]] * p, 2)   # replicate border frames
            x = F.relu(bn(conv(x)))
        return x


class GlobalModel(nn.Module):
    """The global model ``f``: inflated CNN (no temporal pooling), an ``L_D`` head, the pose head (Eq. 13).

    ``pool="mean"`` classifies the time-averaged context vector (the paper's global model);
    ``pool="concat"`` the concatenation ``[c_1 .. c_T]`` (keeps the frame order). Forward:
    uint8 ``(B, 3, T, H, W)`` -> ``(logits (B, classes), pose (B, T, 25, 2), Z (B, C, T, h, w),
    c (B, T, C))``.
    """

    def __init__(self, num_classes: int, frames: int, num_joints: int = 25, widths=(8, 16, 32), pool="concat"):
        super().__init__()
        if pool not in ("concat", "mean"):
            raise ValueError(f"GlobalModel: pool must be 'concat' or 'mean', got {pool!r}")
        self.trunk = Inflated3D(Net2D(widths), 3, "repeat")
        self.dim, self.pool = widths[-1], pool
        self.cls = nn.Linear(self.dim * (frames if pool == "concat" else 1), num_classes)
        self.pose = nn.Linear(self.dim, 2 * num_joints)                   # Eq. 13: y^p_t = W_p^T c_t

    def forward(self, x_u8):
        Z = self.trunk(to_input(x_u8))                                    # (B, C, T, h, w)
        c = Z.mean((3, 4)).transpose(1, 2)                                # (B, T, C) context vectors
        logits = self.cls(c.flatten(1) if self.pool == "concat" else c.mean(1))
        return logits, self.pose(c).unflatten(-1, (-1, 2)), Z, c


def pose_loss(pred, target, vis):
    """``L_P``: squared error summed over x, y, averaged over visible joints. ``(B, T, J, 2)``, ``(B, T, J)``."""
    return (((pred - target) ** 2).sum(-1) * vis).sum() / vis.sum().clamp_min(1)


def _one_cycle(model_or_params, epochs, steps, lr):
    params = model_or_params if isinstance(model_or_params, list) else model_or_params.parameters()
    opt = torch.optim.Adam(params, lr=lr)
    return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in opt.param_groups],
                                                    total_steps=max(1, epochs * steps))


def train_global(data, idx, epochs: int = 20, use_pose: bool = True, pool: str = "concat", seed: int = 0,
                 batch_size: int = 32, lr: float = 5e-3, device="cpu", progress=False, desc="global",
                 amp: str | None = None):
    """Stage 1: train :class:`GlobalModel` on clips ``idx`` with ``L_D (+ L_P)``; returns ``(model, hist)``.
    The clips stay on the CPU; each batch is gathered there by its indices and moved to ``device``
    (page-locked, non-blocking). ``amp``: mixed precision (:func:`paperlib.train.fit`)."""
    dev = resolve_device(device)
    torch.manual_seed(seed)
    model = GlobalModel(len(data.class_names), data.X.shape[2], pool=pool).to(dev)
    loader = make_loader(torch.as_tensor(idx), batch_size=batch_size, shuffle=True, seed=seed)

    def step(m, batch):                                  # host indices (batch_to_device=False)
        i = batch[0]
        logits, pose, _, _ = m(to_device(data.X[i], dev))
        loss = F.cross_entropy(logits, to_device(data.Y[i], dev))
        return loss + pose_loss(pose, to_device(data.P[i], dev), to_device(data.V[i], dev)) if use_pose else loss

    opt, sched = _one_cycle(model, epochs, len(loader), lr)
    hist = fit(model, loader, epochs, optimizer=opt, scheduler=sched, step_fn=step, device=dev, desc=desc,
               progress=progress, amp=amp, batch_to_device=False)
    return model.eval(), hist


def _batches(fn, idx, bs=64):
    with torch.no_grad():
        return [fn(torch.as_tensor(idx[s:s + bs])) for s in range(0, len(idx), bs)]




def trunk_features(model: GlobalModel, X: torch.Tensor, device=None, amp: str | None = None, out_dir=None):
    """Frozen-trunk maps ``Z (N, T, C, h, w)`` and context vectors ``c (N, T, C)`` of all clips ``X``
    (on the CPU, float32); the batches run on ``device`` (default: the model's), with ``amp`` in mixed
    precision.

    ``out_dir``: write ``Z`` batch by batch into an unnamed temporary file in that folder
    (:func:`paperlib.data.frame_cache.scratch_memmap`, float32, freed with the tensor) and return a
    tensor over its memory map instead of holding it in memory (full NTU-60 at 224: 8 x 32 x 28 x 28
    floats, 0.8 MB per clip, 46 GB); the same values. ``None`` (default): in memory."""
    dev = model_device(model, device)
    model.eval()

    def run(i):
        with autocast(dev, amp):
            out = model(to_device(X[i], dev))[2:]
        return [(o if amp is None else o.float()).cpu() for o in out]

    if out_dir is None or len(X) == 0:
        out = _batches(run, np.arange(len(X)))
        return torch.cat([o[0] for o in out]).transpose(1, 2).contiguous(), torch.cat([o[1] for o in out])
    from ..data.frame_cache import scratch_memmap

    Z, cs, bs = None, [], 64
    with torch.no_grad():
        for s in range(0, len(X), bs):
            z, c = run(torch.as_tensor(np.arange(s, min(s + bs, len(X)))))
            z = z.transpose(1, 2)
            if Z is None:
                Z = scratch_memmap(out_dir, (len(X), *z.shape[1:]), np.float32)
            Z[s:s + len(z)] = z.numpy()
            cs.append(c)
    return torch.from_numpy(Z), torch.cat(cs)


# ----------------------------------------------------------------------------------------------
# The external memory (Eqs. 9-10)
# ----------------------------------------------------------------------------------------------
def memory_read(v, M, ts, wmem, A, t, alpha, decay: float = DECAY):
    """Eqs. 9-10, vectorised: soft-assignment ``p (B, C, G)`` of the glimpses to the workers.

    ``v (B, G, d)`` glimpse features; ``M (B, K, d)`` memory entries; ``ts (K,)`` their frames;
    ``wmem (B, C, K)`` per-worker weights; ``A (d, d)`` with ``D = A^T A`` (Eq. 9); ``t`` the
    current frame; ``alpha`` the softmax temperature (float or 0-d tensor); ``decay`` lambda of
    ``exp(-lambda (t - t_k))`` (recent entries weigh more, as the paper's text says). ``phi`` is
    min-max normalised **per clip** (over its ``G x K`` distances; the paper normalises per
    batch, which makes a clip's prediction depend on its batch). ``K >= 1`` is required.
    """
    diff = (v @ A.T)[:, :, None] - (M @ A.T)[:, None]                     # (B, G, K, d): A (v - m)
    phi = ((diff ** 2).sum(-1) + 1e-8).sqrt()                              # (B, G, K)      Eq. 9
    lo = phi.amin((1, 2), keepdim=True)
    hi = phi.amax((1, 2), keepdim=True)
    phi = (phi - lo) / (hi - lo).clamp_min(1e-6)                           # per-clip min-max
    w = wmem * torch.exp(-decay * (t - ts))                                # (B, C, K)
    score = torch.einsum("bck,bgk->bcg", w, 1 - phi)                       # (B, C, G)
    return torch.softmax(score / alpha, dim=-1)                            # Eq. 10: p_{t,c,g}


def memory_read_naive(v, M, ts, wmem, A, t, alpha, decay: float = DECAY):
    """:func:`memory_read` one clip, worker, glimpse and entry at a time (the tests' reference)."""
    B, G, _ = v.shape
    C, K = wmem.shape[1:]
    D = A.T @ A
    p = torch.zeros(B, C, G, dtype=v.dtype)
    for b in range(B):
        phi = torch.zeros(G, K, dtype=v.dtype)
        for g in range(G):
            for k in range(K):
                e = v[b, g] - M[b, k]
                phi[g, k] = torch.sqrt(e @ D @ e + 1e-8)
        phi = (phi - phi.min()) / max(float(phi.max() - phi.min()), 1e-6)
        for c in range(C):
            s = torch.zeros(G, dtype=v.dtype)
            for g in range(G):
                for k in range(K):
                    s[g] += math.exp(-decay * float(t - ts[k])) * wmem[b, c, k] * (1 - phi[g, k])
            p[b, c] = torch.softmax(s / alpha, 0)
    return p


# ----------------------------------------------------------------------------------------------
# The glimpse model (Sec. 3.2-3.5)
# ----------------------------------------------------------------------------------------------
class PatchCNN(nn.Module):
    """A small shared CNN on pixel patches: ``(N, 3, P, P)`` standardised pixels -> ``(N, out)``.

    Two 3x3 convolutions (the second with stride 2) and a spatial average: it gives the glimpses
    the full image resolution that the trunk's stride-8 map has lost.
    """

    def __init__(self, out: int = 32, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(),
                                 nn.Conv2d(width, out, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, x):
        return self.net(x).mean((-2, -1))


class GlimpseClouds(nn.Module):
    """Glimpse Clouds (Eqs. 1-12): attention, glimpses, "what and where", memory and workers.

    Parameters: ``dim`` trunk channels; ``G`` glimpses, ``C`` workers, ``K`` memory slots;
    ``hid`` recurrent width; ``locate``: ``"attention"`` (Eqs. 3-4), ``"saliency"`` (all ``G``
    locations from ``c_t`` at once), ``"random"`` (uniform), ``"tube"`` (one location per glimpse
    for the whole clip, from the time-averaged context), ``"oracle"`` (given ground-truth
    locations, ``forward(..., oracle_l=...)``; :func:`oracle_locations`); ``assign``: ``"memory"`` (Eqs. 8-10) or
    ``"sum"`` (the "Sigma glimpses + GRU" baseline: ``sum_g v_{t,g}`` into one GRU); ``where``:
    ``"product"`` (Eq. 5, ``z * Lambda(l)``) or ``"concat"`` (``[z, l]``); ``patch``: pixel patch
    size (0: the glimpse reads only the trunk's map, as in the paper); ``antialias`` ``k``: the
    patch samples its box on a ``k * patch`` grid and averages ``k x k`` blocks (area averaging:
    a 40-px box read by a 12-px patch at ``k = 1`` skips 2 of every 3 pixels; ``k = 4`` leaves no
    pixel unread); ``init``: ``"diagonal"``
    (frame 0 sends glimpse ``g`` to worker ``g mod C``, which breaks the workers' symmetry) or
    ``"uniform"`` (``p_0 = 1/G``: every worker then reads the same ``p`` forever); ``alpha`` the
    initial temperature (learned as ``log alpha`` if ``learn_alpha``); ``decay`` the rate lambda of
    Eq. 10's ``exp(-lambda (t - t_k))`` (per frame; default :data:`DECAY`, recent entries weigh more;
    a negative value favours the oldest entries, as the printed Eq. 10 does).

    Forward ``(x_u8 (B, 3, T, H, W), Z (B, T, dim, h, w), c (B, T, dim))`` (and for
    ``locate="oracle"`` ``oracle_l (B, T, G, 4)``; ``ValueError`` without it) -> dict with
    ``logits (B, classes)``, ``l (B, T, G, 4)``, and for ``assign="memory"`` ``p (B, T, C, G)``
    (and with ``record=True`` ``mem_ts``/``mem_w``: per frame the entries' frames ``(K_t,)`` and
    weights ``(B, C, K_t)`` after the write).
    """

    def __init__(self, dim, num_classes, G=3, C=3, K=12, hid=64, locate="attention", assign="memory",
                 where="product", patch=12, init="diagonal", alpha=0.25, learn_alpha=True, crop=3, patch_dim=32,
                 decay: float = DECAY, antialias: int = 1):
        super().__init__()
        if locate not in ("attention", "saliency", "random", "tube", "oracle") or assign not in ("memory", "sum") \
                or where not in ("product", "concat") or init not in ("diagonal", "uniform") or antialias < 1:
            raise ValueError(f"GlimpseClouds: bad option locate={locate!r} assign={assign!r} where={where!r} "
                             f"init={init!r} antialias={antialias!r}")
        self.G, self.C, self.K, self.hid, self.crop, self.patch = G, C, K, hid, crop, patch
        self.antialias = int(antialias)
        self.locate, self.assign, self.where, self.init = locate, assign, where, init
        self.decay = float(decay)                                                   # lambda (Eq. 10)
        self.zdim = dim + (patch_dim if patch else 0)
        vdim = self.zdim + (4 if where == "concat" else 0)
        self.patch_cnn = PatchCNN(patch_dim) if patch else None
        self.omega = nn.GRUCell(self.zdim + hid, hid)                               # Eq. 3
        self.W_l = nn.Linear(hid + dim, 4)                                          # Eq. 4
        self.sal = nn.Linear(dim, 4 * G)                                            # saliency / tubes
        self.Lam = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Linear(32, self.zdim))   # Lambda (Eq. 5)
        nw = C if assign == "memory" else 1
        self.workers = nn.ModuleList([nn.GRUCell(vdim, hid) for _ in range(nw)])    # Eq. 6
        self.heads = nn.ModuleList([nn.Linear(hid, num_classes) for _ in range(nw)])  # Eq. 11
        self.A = nn.Parameter(torch.eye(vdim))                                      # D = A^T A (Eq. 9)
        self.log_alpha = nn.Parameter(torch.tensor(math.log(alpha)), requires_grad=learn_alpha)

    @property
    def alpha(self) -> torch.Tensor:
        return self.log_alpha.exp().clamp(0.01, 10.0)

    @staticmethod
    def squash(raw):
        """Raw ``(..., 4)`` -> ``(x, y)`` in ``(-1, 1)`` (tanh), scales in ``(0.15, 0.65)`` (sigmoid)."""
        return torch.cat([torch.tanh(raw[..., :2]), 0.15 + 0.5 * torch.sigmoid(raw[..., 2:])], -1)

    def glimpse(self, x_t, Z_t, l):
        """Eqs. 1-2 for one frame: ``l (B, G, 4)`` -> ``z (B, G, zdim)``: the average of a 3x3 crop of
        the trunk's map ``Z_t (B, dim, h, w)``, and the :class:`PatchCNN` code of a ``patch x patch``
        crop of the pixels ``x_t (B, 3, H, W)`` (standardised; sampled ``antialias`` times finer and
        area-averaged back to ``patch x patch``)."""
        z = glimpse_crop(Z_t, l, size=self.crop)
        if self.patch_cnn is None:
            return z
        B, G = l.shape[:2]
        k = self.antialias
        pix = glimpse_crop(x_t, l, size=self.patch * k, pool=False).flatten(0, 1)   # (B G, 3, kP, kP)
        if k > 1:
            pix = F.avg_pool2d(pix, k)                                               # (B G, 3, P, P)
        return torch.cat([z, self.patch_cnn(pix).view(B, G, -1)], -1)

    def what_where(self, z, l):
        """Eq. 5: ``v = z * Lambda(l)`` (or the ``[z, l]`` concatenation ablation)."""
        return z * self.Lam(l) if self.where == "product" else torch.cat([z, l], -1)

    def _locations(self, c, B, T, rand_gen, oracle_l=None):
        if self.locate == "oracle":
            if oracle_l is None:
                raise ValueError("GlimpseClouds: locate='oracle' needs oracle_l (B, T, G, 4)")
            return oracle_l
        if self.locate == "saliency":
            return self.squash(self.sal(c).view(B, T, self.G, 4))
        if self.locate == "tube":
            return self.squash(self.sal(c.mean(1)).view(B, 1, self.G, 4)).expand(B, T, self.G, 4)
        if self.locate == "random":
            u = to_device(torch.rand(B, T, self.G, 4, generator=rand_gen), c.device)
            return torch.cat([u[..., :2] * 1.6 - 0.8, 0.15 + 0.5 * u[..., 2:]], -1)
        return None

    def forward(self, x_u8, Z, c, record=False, rand_gen=None, oracle_l=None):
        B, T, d = c.shape
        G, C = self.G, self.C
        x = list(to_input(x_u8).unbind(2)) if self.patch_cnn is not None else [None] * T   # T x (B, 3, H, W)
        h = c.new_zeros(B, self.hid)
        z_prev = c.new_zeros(B, self.zdim)
        r = [c.new_zeros(B, self.hid) for _ in self.workers]                # r_{0,c}: each its own
        fixed = self._locations(c, B, T, rand_gen, oracle_l)
        M = wmem = ts = None
        locs, ps, rec = [], [], {"ts": [], "w": []}
        for t in range(T):
            r_sum = torch.stack(r).sum(0)                                    # Eq. 7 (r_{t-1})
            if fixed is None:
                ls, zs = [], []
                for g in range(G):
                    h = self.omega(torch.cat([z_prev, r_sum], -1), h)         # Eq. 3
                    ls.append(self.squash(self.W_l(torch.cat([h, c[:, t]], -1))))   # Eq. 4
                    z_prev = self.glimpse(x[t], Z[:, t], ls[-1][:, None])[:, 0]     # Eqs. 1-2
                    zs.append(z_prev)
                l_t, z_t = torch.stack(ls, 1), torch.stack(zs, 1)            # (B, G, 4), (B, G, zdim)
            else:
                l_t = fixed[:, t]
                z_t = self.glimpse(x[t], Z[:, t], l_t)                       # Eqs. 1-2
            v_t = self.what_where(z_t, l_t)                                  # Eq. 5
            if self.assign == "sum":
                r = [self.workers[0](v_t.sum(1), r[0])]
            else:
                if t == 0:   # empty memory: the initial assignment
                    if self.init == "diagonal":
                        p_t = F.one_hot(torch.arange(C) % G, G).to(v_t)[None].expand(B, C, G)
                    else:
                        p_t = v_t.new_full((B, C, G), 1.0 / G)
                else:
                    p_t = memory_read(v_t, M, ts, wmem, self.A, float(t), self.alpha, decay=self.decay)  # Eq. 10
                vt_c = torch.einsum("bcg,bgd->bcd", p_t, v_t)                # Eq. 8
                r = [wk(vt_c[:, k], r[k]) for k, wk in enumerate(self.workers)]   # Eq. 6
                # write: every v_{t,g} with w_{c,k} = p_{t,c,g}; the oldest go when K is exceeded
                M = v_t if M is None else torch.cat([M, v_t], 1)[:, -self.K:]
                wmem = p_t if wmem is None else torch.cat([wmem, p_t], 2)[:, :, -self.K:]
                new_ts = v_t.new_full((G,), float(t))
                ts = new_ts if ts is None else torch.cat([ts, new_ts])[-self.K:]
                ps.append(p_t)
                if record:
                    rec["ts"].append(ts.detach().clone())
                    rec["w"].append(wmem.detach().clone())
            locs.append(l_t)
        logits = torch.stack([hd(rk) for hd, rk in zip(self.heads, r)]).mean(0)   # Eqs. 11-12
        out = {"logits": logits, "l": torch.stack(locs, 1)}
        if ps:
            out["p"] = torch.stack(ps, 1)
            if record:
                out["mem_ts"], out["mem_w"] = rec["ts"], rec["w"]
        return out


def glimpse_loss(l, pose, vis):
    """``L_G = L_G1 + L_G2`` (Eqs. 15-17) on the glimpse centres, summed over frames, mean over clips.

    ``l (B, T, G, 4)``, ``pose (B, T, J, 2)`` in ``[-1, 1]``, ``vis (B, T, J)``. ``L_G1 = 1 / (1 +
    sum_{g1,g2} ||l_g1 - l_g2||)`` spreads the glimpses; ``L_G2 = sum_g min_j ||l_g - y^p_j||`` pulls
    each to its nearest visible joint (frames without pose contribute no ``L_G2``).
    """
    ctr = l[..., :2]
    pair = (ctr[:, :, :, None] - ctr[:, :, None]).pow(2).sum(-1).add(1e-8).sqrt()
    lg1 = 1.0 / (1.0 + pair.sum((-1, -2)))
    dj = (ctr[:, :, :, None] - pose[:, :, None]).pow(2).sum(-1).add(1e-8).sqrt()
    dj = torch.where(vis[:, :, None] > 0, dj, torch.full_like(dj, 1e4))
    lg2 = dj.amin(-1).sum(-1) * (vis.sum(-1) > 0).float()
    return (lg1 + lg2).sum(1).mean()


def init_distance(model: GlimpseClouds, x_u8, Z, c, beta: float = 0.1, oracle_l=None):
    """Initialise ``D = A^T A`` (Eq. 9) as a shrinkage inverse covariance of the untrained model's
    glimpse features ``v``: ``D_0 = ((1 - beta) S + beta tr(S)/d I)^{-1}`` (Ledoit-Wolf style; the
    plain inverse of ``S`` is undefined when the clips give fewer samples than dimensions).
    ``oracle_l``: the oracle's locations (``locate="oracle"``). Returns the ``(n, d)`` features
    used (float64)."""
    with torch.no_grad():
        out = model(x_u8, Z, c, oracle_l=oracle_l)
        xin = list(to_input(x_u8).unbind(2)) if model.patch_cnn is not None else [None] * Z.shape[1]
        v = torch.cat([model.what_where(model.glimpse(xin[t], Z[:, t], out["l"][:, t]), out["l"][:, t])
                       .reshape(-1, model.A.shape[0]) for t in range(Z.shape[1])]).double()
        S = torch.cov(v.T)
        d = S.shape[0]
        eye = torch.eye(d, dtype=S.dtype, device=S.device)
        Dm = torch.linalg.inv((1 - beta) * S + beta * S.diagonal().mean() * eye)
        model.A.data.copy_(torch.linalg.cholesky(Dm).T.to(model.A.dtype))   # D = L L^T = A^T A
    return v


def specialisation(p: torch.Tensor, skip_first: bool = True) -> float:
    """Mean Jensen-Shannon divergence (nats, in ``[0, ln 2]``) between every pair of workers'
    soft-assignments ``p_{t,c,.}`` over clips and frames. ``p (B, T, C, G)``; frame 0 is left out
    by default (its assignment is fixed by the initialisation). 0 means that all workers read the
    same mixture of glimpses (an ensemble, not soft tracking). Raises ``ValueError`` for ``C < 2``."""
    if skip_first:
        p = p[:, 1:]
    C = p.shape[2]
    if C < 2:
        raise ValueError("specialisation: needs at least two workers")
    p = p.double().clamp_min(1e-12)
    out = []
    for a in range(C):
        for b in range(a + 1, C):
            m = (p[:, :, a] + p[:, :, b]) / 2
            kl = lambda q: (q * (q.log() - m.log())).sum(-1)
            out.append(0.5 * (kl(p[:, :, a]) + kl(p[:, :, b])))
    return float(torch.stack(out).mean())


def oracle_locations(P: torch.Tensor, G: int, scale: float = ORACLE_SCALE) -> torch.Tensor:
    """The oracle's glimpses: ``P (B, T, 25, 2)`` NTU-25 pose in ``[-1, 1]`` -> ``l (B, T, G, 4)``,
    glimpse ``g`` centred on the ``g``-th point of :data:`ORACLE_JOINTS` (both hands' grips first:
    where the held objects are) with extent ``scale`` (fraction of the image). What glimpses can
    give when they always look at the right places. Raises ``ValueError`` for ``G`` above 4."""
    if not 1 <= G <= len(ORACLE_JOINTS):
        raise ValueError(f"oracle_locations: G must be 1..{len(ORACLE_JOINTS)}, got {G}")
    hand = torch.as_tensor([j for j, _ in ORACLE_JOINTS[:G]], device=P.device)
    tip = torch.as_tensor([j for _, j in ORACLE_JOINTS[:G]], device=P.device)
    ctr = P[:, :, hand] + 0.6 * (P[:, :, tip] - P[:, :, hand])                  # (B, T, G, 2)
    return torch.cat([ctr.clamp(-1, 1), ctr.new_full(ctr.shape, scale)], -1)


def _oracle_l(model: GlimpseClouds, data, i, dev):
    """The oracle's locations of clips ``i`` on ``dev`` for an oracle model, else ``None``."""
    return oracle_locations(to_device(data.P[i], dev), model.G) if model.locate == "oracle" else None


def _point_distances(centres: torch.Tensor, Q: torch.Tensor, size) -> torch.Tensor:
    """Pixel distances ``(B, T, A, K)`` between centres ``(B, T, A, 2)`` and points ``Q (B, T, K, 2)``,
    both in ``[-1, 1]``, for an ``(H, W)`` image; NaN where a point is NaN."""
    H, W = size
    half = centres.new_tensor([W / 2, H / 2])
    return ((centres[:, :, :, None] - Q[:, :, None]) * half).norm(dim=-1)


def coverage(l: torch.Tensor, Q: torch.Tensor, size, start: int = 3) -> float:
    """How close the glimpses come to the informative points: for every clip, frame ``t >= start``
    and point, the distance (pixels) from the point to the nearest glimpse centre, averaged
    (points that are NaN, e.g. an empty hand, are left out). ``l (B, T, G, 4)``, ``Q (B, T, K, 2)``
    in ``[-1, 1]``, ``size = (H, W)``. Lower is better; random glimpses give the control."""
    d = _point_distances(l[:, start:, :, :2].double(), Q[:, start:].double(), size).amin(2)   # (B, T', K)
    return float(d[torch.isfinite(d)].mean())


def tracking(p: torch.Tensor, l: torch.Tensor, Q: torch.Tensor, size, start: int = 3, seed: int = 0) -> dict:
    """Do the workers follow the informative points? Worker ``c``'s position at frame ``t`` is the
    centre of its soft-assigned glimpse, ``sum_g p_{t,c,g} l_{t,g}`` (Eq. 8 applied to locations).

    Returns (pixels, frames ``t >= start``, after the initialisation's transient):

    * ``track_px``: for every clip and point, the time-averaged distance from the point to the
      worker that follows it best, averaged over clips and points;
    * ``split`` (only with two or more points): the share of clips with two visible points whose
      best-following workers differ (``nan`` if no clip shows both): different workers on
      different points, not an ensemble;
    * ``track_px_shuffled`` and ``split_shuffled``: the same with each frame's assignment carried
      to randomly permuted glimpses (one permutation per clip and frame, shared by the workers,
      drawn with ``seed``): a worker that follows nothing over time. Tracking means
      ``track_px`` below its shuffled control.

    ``p (B, T, C, G)``, ``l (B, T, G, 4)``, ``Q (B, T, K, 2)`` in ``[-1, 1]`` (NaN: no point),
    ``size = (H, W)``.
    """
    p, l, Q = p[:, start:].double(), l[:, start:].double(), Q[:, start:].double()
    B, T, C, G = p.shape
    gen = torch.Generator().manual_seed(seed)
    perm = torch.rand(B, T, G, generator=gen).argsort(-1)                              # (B, T, G)
    out = {}
    for tag, pp in (("", p), ("_shuffled", torch.gather(p, 3, perm[:, :, None].expand(B, T, C, G)))):
        pos = torch.einsum("btcg,btgd->btcd", pp, l[..., :2])                           # (B, T, C, 2)
        d = _point_distances(pos, Q, size).nanmean(1)                                    # (B, C, K)
        best, who = d.amin(1), d.argmin(1)                                               # (B, K)
        out["track_px" + tag] = float(best[torch.isfinite(best)].mean())
        if Q.shape[2] >= 2:
            both = torch.isfinite(best[:, :2]).all(1)
            out["split" + tag] = float((who[both, 0] != who[both, 1]).double().mean()) if both.any() else float("nan")
    return out


# ----------------------------------------------------------------------------------------------
# Stage 2 and evaluation
# ----------------------------------------------------------------------------------------------
def train_glimpse(data, idx, feats, gm=None, epochs: int = 25, use_lg: bool = True, lambda_g: float = 0.05,
                  end_to_end: bool = False, trunk_lr_factor: float = 0.1, seed: int = 0, batch_size: int = 64,
                  lr: float = 5e-3, device="cpu", progress=False, desc="glimpse", amp: str | None = None,
                  **model_kw):
    """Stage 2: train a :class:`GlimpseClouds` on clips ``idx`` with ``L_D + lambda_G L_G``.

    ``feats = (Z, c)`` of the frozen trunk (:func:`trunk_features`). With ``end_to_end`` the
    trunk of the stage-1 model ``gm`` is trained too (at ``trunk_lr_factor * lr``, with ``L_P``
    on its pose head), as the paper does after pre-training. The clips and ``feats`` stay on the CPU;
    each batch is gathered there by its indices and moves to ``device`` (page-locked, non-blocking;
    so do the model and ``gm``). ``amp``: mixed precision (:func:`paperlib.train.fit`).
    Returns ``(model, hist, gm)``.
    """
    dev = resolve_device(device)
    Z, c = feats
    torch.manual_seed(seed)
    model = GlimpseClouds(Z.shape[2], len(data.class_names), **model_kw).to(dev)
    init_idx = torch.as_tensor(idx[:64])
    if model.assign == "memory":
        init_distance(model, *(to_device(t, dev) for t in (data.X[init_idx], Z[init_idx], c[init_idx])),
                      oracle_l=_oracle_l(model, data, init_idx, dev))
    rg = torch.Generator().manual_seed(seed)
    loader = make_loader(torch.as_tensor(idx), batch_size=batch_size, shuffle=True, seed=seed)
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": lr}]
    if end_to_end:
        gm.to(dev).train()
        for p_ in gm.parameters():
            p_.requires_grad_(True)
        groups.append({"params": list(gm.parameters()), "lr": lr * trunk_lr_factor})

    def step(m, batch):                                  # host indices (batch_to_device=False)
        i = batch[0]
        x = to_device(data.X[i], dev)
        loss = 0.0
        if end_to_end:
            _, pose, Zb, cb = gm(x)
            Zb = Zb.transpose(1, 2)
            loss = pose_loss(pose, to_device(data.P[i], dev), to_device(data.V[i], dev))
        else:
            Zb, cb = to_device(Z[i], dev), to_device(c[i], dev)
        out = m(x, Zb, cb, rand_gen=rg, oracle_l=_oracle_l(m, data, i, dev))
        loss = loss + F.cross_entropy(out["logits"], to_device(data.Y[i], dev))
        if use_lg:
            loss = loss + lambda_g * glimpse_loss(out["l"], to_device(data.P[i], dev), to_device(data.V[i], dev))
        return loss

    opt, sched = _one_cycle(groups, epochs, len(loader), lr)
    hist = fit(model, loader, epochs, optimizer=opt, scheduler=sched, step_fn=step, device=dev, desc=desc,
               progress=progress, grad_clip=5.0, amp=amp, batch_to_device=False)
    if gm is not None:
        gm.eval()
    return model.eval(), hist, gm


def evaluate_glimpse(model, data, idx, feats, seed: int = 0, bs: int = 64, device=None, amp: str | None = None):
    """Test logits ``(n, classes)``, glimpses ``l (n, T, G, 4)`` and ``p (n, T, C, G)`` (or ``None``),
    on the CPU (float32); the batches run on ``device`` (default: the model's), with ``amp`` in mixed
    precision."""
    dev = model_device(model, device)
    Z, c = feats
    rg = torch.Generator().manual_seed(seed + 1)

    def run(i):
        with autocast(dev, amp):
            out = model(*(to_device(t, dev) for t in (data.X[i], Z[i], c[i])), rand_gen=rg,
                        oracle_l=_oracle_l(model, data, i, dev))
        return {k: (out[k] if amp is None else out[k].float()).cpu() for k in ("logits", "l", "p") if k in out}

    outs = _batches(run, idx, bs)
    res = {"logits": torch.cat([o["logits"] for o in outs]), "l": torch.cat([o["l"] for o in outs])}
    res["p"] = torch.cat([o["p"] for o in outs]) if "p" in outs[0] else None
    return res


def player_record(model: GlimpseClouds, data, idx, feats, correct_first: int = 10, wrong: int = 6,
                  device=None) -> dict:
    """The record of :func:`paperlib.viz.glimpse.glimpse_explorer` for test clips ``idx``: up to
    ``correct_first`` correctly and ``wrong`` wrongly classified clips, with their frames, glimpse
    boxes (pixels), soft-assignments ``p`` and the memory after each frame's write (entry frames,
    NaN-padded on the left while the memory fills, and per-worker weights), and where ``data`` has
    them the informative points (``points``, pixels). The clips run on ``device`` (default: the
    model's)."""
    dev = model_device(model, device)
    Z, c = feats
    with torch.no_grad():
        out = model(*(t.to(dev, non_blocking=True) for t in (data.X[idx], Z[idx], c[idx])), record=True,
                    oracle_l=_oracle_l(model, data, idx, dev))
    out = {k: [t.cpu() for t in v] if isinstance(v, list) else v.cpu() for k, v in out.items()}
    pred = out["logits"].argmax(1).numpy()
    ok = pred == data.Y[idx].numpy()
    pick = np.concatenate([np.flatnonzero(ok)[:correct_first], np.flatnonzero(~ok)[:wrong]])
    T, K = data.X.shape[2], model.K
    mem_ts = np.full((T, K), np.nan)
    mem_w = np.full((len(pick), T, model.C, K), np.nan)
    for t, (tt, ww) in enumerate(zip(out["mem_ts"], out["mem_w"])):
        mem_ts[t, K - len(tt):] = tt.numpy()
        mem_w[:, t, :, K - len(tt):] = ww[pick].numpy()
    H, W = data.X.shape[3:]
    l = out["l"][pick].numpy()
    cx, cy, hw, hh = (l[..., 0] + 1) / 2 * W, (l[..., 1] + 1) / 2 * H, l[..., 2] * W / 2, l[..., 3] * H / 2
    rec = {"frames": data.X[idx[pick]].permute(0, 2, 3, 4, 1).numpy(),
            "boxes": np.stack([cx - hw, cy - hh, cx + hw, cy + hh], -1), "assign": out["p"][pick].numpy(),
            "mem_ts": mem_ts, "mem_w": mem_w, "labels": data.Y[idx[pick]].numpy(), "preds": pred[pick],
            "class_names": list(data.class_names), "clip_ids": np.asarray(idx)[pick]}
    Q = getattr(data, "Q", None)
    if Q is not None:                                      # the informative points, pixels
        rec["points"] = ((Q[np.asarray(idx)[pick]].numpy() + 1) / 2 * np.array([W, H])).astype(np.float32)
    return rec


#: Variants of :func:`run_experiment`: name -> keyword arguments of :func:`train_glimpse`
#: (``"global"``, ``"global_avg"`` are stage-1 models, not listed).
VARIANTS = {
    "gc": {},                                                    # full model: attention, memory, L_G
    "gc_random": {"locate": "random"},                           # Table 4: random glimpses
    "gc_saliency": {"locate": "saliency"},                       # Table 4: saliency
    "gc_tube": {"locate": "tube"},                               # Table 4: 3D tubes
    "sum": {"assign": "sum"},                                    # Table 3: GM + Sigma glimpses + GRU (with L_G)
    "gc_no_lg": {"use_lg": False},                               # Table 3: without L_G
    "gc_concat": {"where": "concat"},                            # "what and where" vs concatenation
    "gc_uniform": {"init": "uniform"},                           # no symmetry breaking
    "gc_map_only": {"patch": 0},                                 # glimpses read only the trunk's map
    "gc_e2e": {"end_to_end": True},                              # stage 2 end to end
    "gc_oracle": {"locate": "oracle"},                           # glimpses on the ground-truth hands
}


def _metrics(logits, data, idx, obj_count):
    pred = logits.argmax(1).numpy()
    y = data.Y[idx].numpy()
    return {"acc": float((pred == y).mean()), "obj_acc": float((pred % obj_count == y % obj_count).mean()),
            "motion_acc": float((pred // obj_count == y // obj_count).mean())}, (pred == y).astype(float)


def _glimpse_metrics(ev: dict, data, model: GlimpseClouds) -> dict:
    """Box sizes, coverage, specialisation and tracking of one variant's test evaluation."""
    H, W = data.X.shape[3:]
    box = float(ev["l"][..., 2].median()) * W
    out = {"box_px": box, "patch_step_px": box / model.patch if model.patch else float("nan")}
    Q = getattr(data, "Q", None)
    late = ev["l"].shape[1] > 3
    if Q is not None and late:
        out["cover_px"] = coverage(ev["l"], Q[data.test], (H, W))
    if ev["p"] is not None and model.C > 1:
        out.update(spec=specialisation(ev["p"]), alpha=float(model.alpha.detach()))
        if late:
            out["spec_t3"] = specialisation(ev["p"][:, 3:], skip_first=False)
            if Q is not None:
                out.update(tracking(ev["p"], ev["l"], Q[data.test], (H, W)))
    return out


def run_experiment(seed: int = 0, object_scale: float = 2.0, num_scenes: int = 240, frames: int = 8, size: int = 64,
                   benchmark: str = "xsub", motions=("drink",), epochs_global: int = 20, epochs_glimpse: int = 20, glimpses: int = 3,
                   workers: int = 3, memory_size: int = 12, patch: int = 12, lambda_g: float = 0.05,
                   decay: float = DECAY, variants=("gc", "gc_random", "sum"), global_avg: bool = True,
                   device: str = "cpu", progress: bool = False, return_models: bool = False, dataset: str = "rendered",
                   data_root=None, amp: str | None = None, cache_dir=None, points: int = 1,
                   antialias: int = 1) -> dict:
    """Glimpse Clouds' experiment for one seed: held-object data -> global models -> glimpse variants.

    The classes are ``motions x OBJECTS`` (default: *drink* with a cup, a phone or an empty hand:
    three classes that differ only by the held object, whose size ``object_scale`` sets);
    ``points=2``: the two-point regime, one object in each hand and the class the pair
    (:func:`make_data`). ``antialias``: the patches' area averaging (:class:`GlimpseClouds`).

    Every variant of a seed sees the same clips, split, stage-1 trunk (``global``: L_D + L_P,
    concatenated context vectors), initialisation seed and batch order (paired). ``global_avg``
    adds the paper's time-averaged global model as a row. ``decay`` is lambda of Eq. 10 for every memory
    variant (:class:`GlimpseClouds`; default :data:`DECAY`). ``variants`` are keys of
    :data:`VARIANTS`. Metrics per variant: ``acc``, ``obj_acc`` (held object right),
    ``motion_acc``, ``train_s``, ``loss_final``; for glimpse variants ``box_px`` (the median glimpse
    width, pixels), ``patch_step_px`` (``box_px / patch``: the pixels between the patch's samples)
    and ``cover_px`` (:func:`coverage`, frames 3 on); for memory variants ``spec``
    (:func:`specialisation` on the test clips, frames 1 on), ``spec_t3`` (frames 3 on, after the
    initialisation's transient), the :func:`tracking` metrics and ``alpha``; plus ``data`` (``object_px``: the objects' median box height in
    pixels, ``chance``). Per item: ``correct`` for every variant (paired tests). With
    ``return_models`` also ``"models"``, ``"data"``, ``"feats"``, ``"evals"``.
    ``dataset="ntu_rgb"`` reads real NTU RGB+D from ``data_root`` (:func:`load_ntu_rgb`; the
    knob and ``obj_acc`` then mean nothing; the decoded clips and the trunk feature maps live on
    disk in ``cache_dir``, default ``data_root/.paperlib_cache``, and are read batch by batch).
    ``amp`` (``None``, ``"bf16"``, ``"fp16"``): every forward pass in mixed precision
    (:func:`paperlib.train.autocast`; fp16 trains with loss scaling); ``None`` is full precision.
    Raises ``ValueError`` for an unknown variant or dataset.
    """
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"run_experiment: unknown variants {unknown}; known: {list(VARIANTS)}")
    dev = resolve_device(device)
    if dataset == "rendered":
        data = make_data(num_scenes, frames, size, seed, object_scale, motions=tuple(motions), benchmark=benchmark,
                         points=points)
    elif dataset == "ntu_rgb":
        data = load_ntu_rgb(data_root, frames, size, benchmark, cache_dir=cache_dir)
    else:
        raise ValueError(f"run_experiment: dataset must be 'rendered' or 'ntu_rgb', got {dataset!r}")
    tr, te = data.train, data.test
    nobj = data.n_obj
    metrics = {"data": {"object_px": data.object_px, "chance": 1.0 / len(data.class_names),
                        "n_train": len(tr), "n_test": len(te)}}
    per_item, models, evals = {}, {}, {}
    pools = {"global": "concat", "global_avg": "mean"} if global_avg else {"global": "concat"}
    for name, pool in pools.items():
        t0 = time.process_time()
        gm, hist = train_global(data, tr, epochs_global, True, pool, seed, device=dev, progress=progress,
                                desc=name, amp=amp)

        def global_logits(i, gm=gm):
            with autocast(dev, amp):
                return gm(to_device(data.X[i], dev))[0].float().cpu()

        logits = torch.cat(_batches(global_logits, te))
        m, item = _metrics(logits, data, te, nobj)
        metrics[name] = dict(m, train_s=time.process_time() - t0, loss_final=hist["loss"][-1])
        per_item[name] = {"correct": item.tolist()}
        models[name] = gm
    gm = models["global"]
    for p_ in gm.parameters():
        p_.requires_grad_(False)
    fdir = getattr(data, "cache_dir", None)      # real data: the trunk maps on disk (rendered: None, in memory)
    feats = trunk_features(gm, data.X, dev, amp, out_dir=fdir)
    for v in variants:
        kw = dict(VARIANTS[v])
        e2e = kw.pop("end_to_end", False)
        use_lg = kw.pop("use_lg", True)
        t0 = time.process_time()
        trunk = None
        if e2e:
            trunk = GlobalModel(len(data.class_names), frames)
            trunk.load_state_dict(gm.state_dict())
        kw = dict(dict(G=glimpses, C=workers, K=memory_size, patch=patch, decay=decay, antialias=antialias), **kw)
        model, hist, trunk = train_glimpse(data, tr, feats, gm=trunk, epochs=epochs_glimpse, use_lg=use_lg,
                                           lambda_g=lambda_g, end_to_end=e2e, seed=seed, device=dev,
                                           progress=progress, desc=v, amp=amp, **kw)
        f = trunk_features(trunk, data.X, dev, amp, out_dir=fdir) if e2e else feats
        ev = evaluate_glimpse(model, data, te, f, seed, device=dev, amp=amp)
        m, item = _metrics(ev["logits"], data, te, nobj)
        m.update(train_s=time.process_time() - t0, loss_final=hist["loss"][-1])
        m.update(_glimpse_metrics(ev, data, model))
        metrics[v], per_item[v] = m, {"correct": item.tolist()}
        models[v], evals[v] = model, ev
        if e2e:
            models[v + "_trunk"], evals[v + "_feats"] = trunk, f
    out = {"metrics": metrics, "per_item": per_item}
    if return_models:
        out.update(models=models, data=data, feats=feats, evals=evals)
    return out
