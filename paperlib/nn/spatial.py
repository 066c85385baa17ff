"""Spatial sampling and box operations for the two RGB papers (no torchvision needed).

- :func:`glimpse_crop`: the differentiable glimpse of Glimpse Clouds (Baradel et al., CVPR
  2018, Sec. 3.1: a Spatial Transformer, Jaderberg et al. NeurIPS 2015, Eq. 1-3, with an
  attention-style affine transform ``(x, y, s_x, s_y)``), followed by average pooling.
- :func:`roi_align` / :func:`roi_align_frames`: RoIAlign (He et al., Mask R-CNN, ICCV 2017)
  on ``(N, C, H, W)`` maps and frame by frame on ``(N, C, T, H, W)`` maps (the Action
  Transformer's RoIPool on I3D features, Girdhar et al., CVPR 2019, Sec. 3.2), following
  torchvision's ``roi_align`` semantics including ``aligned=True``.
- boxes: :func:`box_area`, :func:`box_iou`, :func:`clip_boxes`, :class:`BoxCoder` (the Faster
  R-CNN parameterisation, Ren et al., NeurIPS 2015, Eq. 2, with weights), :func:`make_anchors`.
- :func:`nms` (greedy, class-agnostic) and :func:`batched_nms` (per class, by the
  coordinate-offset trick).

Conventions
-----------
Boxes are ``(x1, y1, x2, y2)`` in **continuous pixel coordinates**: the pixel in row ``i``,
column ``j`` covers ``[j, j + 1) x [i, i + 1)`` and its centre is ``(j + 0.5, i + 0.5)``
(the convention of :mod:`paperlib.data.render`). Widths are ``x2 - x1`` (no ``+ 1``).
Everything is vectorised; the only Python loop is NMS's greedy loop over *kept* boxes.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["glimpse_crop", "glimpse_grid", "roi_align", "roi_align_frames", "box_area", "box_iou", "clip_boxes",
           "BoxCoder", "make_anchors", "nms", "batched_nms"]


# ----------------------------------------------------------------------------------------------
# Glimpses
# ----------------------------------------------------------------------------------------------
def glimpse_grid(params: torch.Tensor, size) -> torch.Tensor:
    """Sampling grids of glimpses, ``(B, 4) -> (B, h, w, 2)`` in ``grid_sample``'s normalised
    coordinates (``align_corners=False``).

    ``params[:, :] = (x, y, s_x, s_y)``: the affine transform ``theta = [[s_x, 0, x], [0, s_y, y]]``
    maps the output grid ``[-1, 1]^2`` to the input, so the glimpse is centred at ``(x, y)``
    (``-1`` = left/top image edge, ``+1`` = right/bottom edge) and spans ``s_x`` times the image
    width and ``s_y`` times its height (``s = 1``: the whole image). Built with
    ``torch.nn.functional.affine_grid``; differentiable in ``params``.

    Raises ``ValueError`` if ``params`` is not ``(B, 4)``.
    """
    if params.dim() != 2 or params.shape[-1] != 4:
        raise ValueError(f"glimpse_grid: params must be (B, 4), got {tuple(params.shape)}")
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    x, y, sx, sy = params.unbind(-1)
    zero = torch.zeros_like(x)
    theta = torch.stack([torch.stack([sx, zero, x], -1), torch.stack([zero, sy, y], -1)], -2)  # (B, 2, 3)
    return F.affine_grid(theta, (params.shape[0], 1, h, w), align_corners=False)


def glimpse_crop(images: torch.Tensor, params: torch.Tensor, size=(8, 8), pool: bool = True,
                 padding_mode: str = "zeros") -> torch.Tensor:
    """Differentiable glimpses (Spatial Transformer crops), optionally average-pooled.

    Parameters
    ----------
    images : Tensor ``(N, C, H, W)``
        Images or feature maps.
    params : Tensor ``(N, G, 4)`` or ``(N, 4)``
        ``G`` glimpses per image, each ``(x, y, s_x, s_y)`` as in :func:`glimpse_grid`: centre in
        normalised coordinates (``[-1, 1]``, x right, y down) and extent as a fraction of the
        image. Gradients flow to all four (bilinear sampling is piecewise linear in the sampling
        location), which Glimpse Clouds needs to learn where to look.
    size : int or (h, w)
        Output resolution of each crop.
    pool : bool
        If ``True`` (default) return the spatial average of each crop, ``(N, G, C)`` (the
        glimpse feature of Glimpse Clouds); else the crops ``(N, G, C, h, w)``.
    padding_mode : ``"zeros"`` | ``"border"`` | ``"reflection"``
        What a glimpse sees outside the image (``grid_sample``'s option).

    Returns
    -------
    ``(N, G, C)`` or ``(N, G, C, h, w)`` (``G`` dimension dropped if ``params`` was ``(N, 4)``).

    Raises ``ValueError`` on mismatched shapes.
    """
    if images.dim() != 4:
        raise ValueError(f"glimpse_crop: images must be (N, C, H, W), got {tuple(images.shape)}")
    single = params.dim() == 2
    p = params[:, None] if single else params
    if p.dim() != 3 or p.shape[0] != images.shape[0] or p.shape[-1] != 4:
        raise ValueError(f"glimpse_crop: params must be (N, G, 4) or (N, 4) with N={images.shape[0]}, "
                         f"got {tuple(params.shape)}")
    N, G = p.shape[:2]
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    grid = glimpse_grid(p.reshape(N * G, 4).to(images.dtype), (h, w)).reshape(N, G * h, w, 2)
    crops = F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)
    crops = crops.reshape(N, images.shape[1], G, h, w).permute(0, 2, 1, 3, 4)  # (N, G, C, h, w)
    out = crops.mean(dim=(-2, -1)) if pool else crops
    return out[:, 0] if single else out


# ----------------------------------------------------------------------------------------------
# RoIAlign
# ----------------------------------------------------------------------------------------------
def _as_rois(boxes, device, dtype):
    """``(K, 5)`` tensor ``[batch_index, x1, y1, x2, y2]`` from a tensor or a list of ``(K_i, 4)``."""
    if isinstance(boxes, (list, tuple)):
        rows = [torch.cat([torch.full((b.shape[0], 1), float(i), device=device, dtype=dtype), b.to(dtype)], 1)
                for i, b in enumerate(boxes)]
        return torch.cat(rows, 0) if rows else torch.zeros(0, 5, device=device, dtype=dtype)
    if boxes.dim() != 2 or boxes.shape[1] != 5:
        raise ValueError(f"roi_align: boxes must be (K, 5) [batch_index, x1, y1, x2, y2] or a list of (K_i, 4), "
                         f"got {tuple(boxes.shape)}")
    return boxes.to(dtype)


def roi_align(features: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0, sampling_ratio: int = 2,
              aligned: bool = True, max_per_image: int | None = None) -> torch.Tensor:
    """RoIAlign with torchvision's semantics, built on ``grid_sample``.

    Parameters
    ----------
    features : Tensor ``(N, C, H, W)``
    boxes : Tensor ``(K, 5)`` rows ``[batch_index, x1, y1, x2, y2]``, or a list of ``N`` tensors
        ``(K_i, 4)``. Coordinates are in the **input image's** pixels (continuous, see the module
        docstring); ``spatial_scale`` maps them to the feature map (e.g. ``1/16`` for a stride-16
        map).
    output_size : int or (ph, pw)
    spatial_scale : float
    sampling_ratio : int >= 1
        Samples per bin along each axis; the ``sampling_ratio^2`` bilinear samples of a bin are
        averaged. (torchvision's adaptive ``-1`` would vary the sample count per box, which
        does not vectorise; it is not supported.)
    aligned : bool
        ``True`` (recommended): a box coordinate ``c`` maps to the feature coordinate
        ``c * spatial_scale - 0.5`` (index space, where feature cell ``i`` has its centre at
        ``i``), so a box exactly covering a cell samples that cell's centre. ``False``: the
        legacy Mask R-CNN mapping ``c * spatial_scale`` with box sizes clamped to at least 1.
    max_per_image : int, optional
        A bound on the boxes of any one image that the caller knows (e.g. ``R`` RoIs per clip).
        Given, the boxes are laid out without counting them on the host and the batch indices are
        not checked (both read the device: one host synchronisation each on an accelerator); the
        caller guarantees ``0 <= batch_index < N`` and at most ``max_per_image`` boxes per image.
        The result is the same.

    Sampling follows torchvision exactly: bin ``(i, j)`` of a box with feature-space corner
    ``(x1, y1)`` and size ``(w, h)`` samples at ``x = x1 + (j + (s + 0.5) / sr) * w / pw`` for
    ``s = 0..sr-1`` (likewise ``y``); a sample with ``x < -1``, ``x > W``, ``y < -1`` or ``y > H``
    contributes 0, others are clamped into ``[0, W-1] x [0, H-1]`` and interpolated bilinearly.
    The average always divides by ``sr^2``.

    Returns
    -------
    Tensor ``(K, C, ph, pw)``, differentiable in ``features`` (and in the box coordinates).

    Raises ``ValueError`` on bad shapes, ``sampling_ratio < 1`` or a batch index out of range.
    """
    if features.dim() != 4:
        raise ValueError(f"roi_align: features must be (N, C, H, W), got {tuple(features.shape)}")
    if int(sampling_ratio) < 1:
        raise ValueError(f"roi_align: sampling_ratio must be >= 1, got {sampling_ratio}")
    ph, pw = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    sr = int(sampling_ratio)
    N, C, H, W = features.shape
    rois = _as_rois(boxes, features.device, features.dtype)
    K = rois.shape[0]
    if K == 0:
        return features.new_zeros(0, C, ph, pw)
    bidx = rois[:, 0].round().long()
    if max_per_image is None and (bool((bidx < 0).any()) or bool((bidx >= N).any())):
        raise ValueError(f"roi_align: batch indices must lie in [0, {N}), got {bidx.min().item()}..{bidx.max().item()}")
    off = 0.5 if aligned else 0.0
    x1 = rois[:, 1] * spatial_scale - off
    y1 = rois[:, 2] * spatial_scale - off
    rw = rois[:, 3] * spatial_scale - off - x1
    rh = rois[:, 4] * spatial_scale - off - y1
    if not aligned:
        rw, rh = rw.clamp(min=1.0), rh.clamp(min=1.0)
    steps_x = (torch.arange(pw * sr, device=features.device, dtype=features.dtype) + 0.5) / (pw * sr)
    steps_y = (torch.arange(ph * sr, device=features.device, dtype=features.dtype) + 0.5) / (ph * sr)
    xs = x1[:, None] + steps_x[None] * rw[:, None]  # (K, pw*sr) feature index coordinates
    ys = y1[:, None] + steps_y[None] * rh[:, None]  # (K, ph*sr)
    valid = ((ys >= -1) & (ys <= H))[:, :, None] & ((xs >= -1) & (xs <= W))[:, None, :]  # (K, ph*sr, pw*sr)
    xs = xs.clamp(0, W - 1)
    ys = ys.clamp(0, H - 1)
    # index coordinates -> grid_sample's normalised coordinates (align_corners=False)
    gx = (2 * xs + 1) / W - 1
    gy = (2 * ys + 1) / H - 1
    grid = torch.stack(torch.broadcast_tensors(gx[:, None, :], gy[:, :, None]), -1)  # (K, ph*sr, pw*sr, 2)
    # lay the boxes out per image (padded), so each feature map is sampled once without copies
    order = torch.argsort(bidx, stable=True)
    rank = torch.empty_like(bidx)
    if max_per_image is None:
        counts = torch.bincount(bidx, minlength=N)
        kmax = int(counts.max())
        starts = torch.cumsum(counts, 0) - counts
        rank[order] = torch.arange(K, device=bidx.device) - starts[bidx[order]]
    else:                                    # the same ranks, from the sorted indices (no host read)
        kmax = int(max_per_image)
        sorted_idx = bidx[order]
        rank[order] = torch.arange(K, device=bidx.device) - torch.searchsorted(sorted_idx, sorted_idx)
    Hs, Ws = ph * sr, pw * sr
    padded = grid.new_zeros(N, kmax, Hs, Ws, 2)
    padded[bidx, rank] = grid
    sampled = F.grid_sample(features, padded.reshape(N, kmax * Hs, Ws, 2), mode="bilinear",
                            padding_mode="border", align_corners=False)  # (N, C, kmax*Hs, Ws)
    sampled = sampled.reshape(N, C, kmax, Hs, Ws)[bidx, :, rank]  # (K, C, Hs, Ws)
    sampled = sampled * valid[:, None].to(sampled.dtype)
    return sampled.reshape(K, C, ph, sr, pw, sr).mean(dim=(3, 5))


def roi_align_frames(features: torch.Tensor, boxes, output_size, spatial_scale: float = 1.0,
                     sampling_ratio: int = 2, aligned: bool = True, max_per_image: int | None = None) -> torch.Tensor:
    """RoIAlign applied frame by frame to video features.

    Parameters
    ----------
    features : Tensor ``(N, C, T, H, W)``
    boxes : Tensor ``(K, 5)`` ``[batch_index, x1, y1, x2, y2]``: the same box on every frame (the
        Action Transformer's keyframe box extended in time), or ``(K, T, 5)``: one box per frame
        (the batch index must be the same along ``T``).
    output_size, spatial_scale, sampling_ratio, aligned, max_per_image : as in :func:`roi_align`
        (``max_per_image`` bounds the boxes of one clip).

    Returns
    -------
    Tensor ``(K, C, T, ph, pw)``: equal to stacking ``roi_align(features[:, :, t], boxes_t)``
    over ``t`` (tested).

    Raises ``ValueError`` on bad shapes or batch indices that change over time.
    """
    if features.dim() != 5:
        raise ValueError(f"roi_align_frames: features must be (N, C, T, H, W), got {tuple(features.shape)}")
    N, C, T, H, W = features.shape
    b = boxes.to(features.dtype)
    per_frame = b.dim() == 3
    if b.dim() == 2 and b.shape[1] == 5:
        b = b[:, None].expand(-1, T, -1)
    if b.dim() != 3 or b.shape[1:] != (T, 5):
        raise ValueError(f"roi_align_frames: boxes must be (K, 5) or (K, {T}, 5), got {tuple(boxes.shape)}")
    if per_frame and max_per_image is None and bool((b[:, :, 0] != b[:, :1, 0]).any()):
        raise ValueError("roi_align_frames: a box's batch index must be the same on every frame")
    K = b.shape[0]
    flat = features.permute(0, 2, 1, 3, 4).reshape(N * T, C, H, W)
    t = torch.arange(T, device=features.device, dtype=features.dtype)
    rois = torch.cat([(b[:, :, 0] * T + t)[..., None], b[:, :, 1:]], -1).reshape(K * T, 5)
    out = roi_align(flat, rois, output_size, spatial_scale, sampling_ratio, aligned, max_per_image)  # (K*T, C, ph, pw)
    return out.reshape(K, T, C, *out.shape[-2:]).permute(0, 2, 1, 3, 4)


# ----------------------------------------------------------------------------------------------
# Boxes
# ----------------------------------------------------------------------------------------------
def _check_boxes(b, name):
    if b.shape[-1] != 4:
        raise ValueError(f"{name}: boxes must be (..., 4) (x1, y1, x2, y2), got {tuple(b.shape)}")


def box_area(boxes: torch.Tensor) -> torch.Tensor:
    """Areas ``(...,)`` of boxes ``(..., 4)`` ``(x1, y1, x2, y2)``; negative extents count as 0."""
    _check_boxes(boxes, "box_area")
    return (boxes[..., 2] - boxes[..., 0]).clamp(min=0) * (boxes[..., 3] - boxes[..., 1]).clamp(min=0)


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every pair: ``(N, 4), (M, 4) -> (N, M)``.

    ``IoU = |A n B| / |A u B|``, 0 where the union is empty. Raises ``ValueError`` on bad shapes.
    """
    _check_boxes(a, "box_iou")
    _check_boxes(b, "box_iou")
    lt = torch.maximum(a[:, None, :2], b[None, :, :2])
    rb = torch.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = (rb - lt).clamp(min=0).prod(-1)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def clip_boxes(boxes: torch.Tensor, size) -> torch.Tensor:
    """Clip boxes ``(..., 4)`` to an image of ``size = (H, W)`` pixels: ``x`` to ``[0, W]``, ``y`` to ``[0, H]``."""
    _check_boxes(boxes, "clip_boxes")
    H, W = size
    x = boxes[..., 0::2].clamp(0, W)
    y = boxes[..., 1::2].clamp(0, H)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], -1)


class BoxCoder:
    """Faster R-CNN box deltas (Ren et al., NeurIPS 2015, Eq. 2) with weights.

    With reference (anchor/proposal) width ``w_a``, height ``h_a`` and centre ``(x_a, y_a)``
    (``w = x2 - x1``, centre ``x1 + w / 2``) and target ``(x, y, w, h)``:
    ``d_x = w_x (x - x_a) / w_a``, ``d_y = w_y (y - y_a) / h_a``, ``d_w = w_w log(w / w_a)``,
    ``d_h = w_h log(h / h_a)``. Decoding inverts this; ``d_w / w_w`` and ``d_h / w_h`` are clamped
    at ``clip`` (default ``log(1000 / 16)``, as in Detectron/torchvision) before ``exp``.

    Parameters
    ----------
    weights : (w_x, w_y, w_w, w_h), default ``(10, 10, 5, 5)`` (the second stage of Faster R-CNN;
        the RPN uses ``(1, 1, 1, 1)``).
    clip : float.
    """

    def __init__(self, weights=(10.0, 10.0, 5.0, 5.0), clip: float = math.log(1000.0 / 16)):
        self.weights = tuple(float(w) for w in weights)
        self.clip = float(clip)

    @staticmethod
    def _cwh(b):
        w = b[..., 2] - b[..., 0]
        h = b[..., 3] - b[..., 1]
        return b[..., 0] + 0.5 * w, b[..., 1] + 0.5 * h, w, h

    def encode(self, targets: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """Deltas ``(..., 4)`` that take ``references`` to ``targets`` (both ``(..., 4)``, positive sizes)."""
        _check_boxes(targets, "BoxCoder.encode")
        _check_boxes(references, "BoxCoder.encode")
        wx, wy, ww, wh = self.weights
        x, y, w, h = self._cwh(targets)
        xa, ya, wa, ha = self._cwh(references)
        return torch.stack([wx * (x - xa) / wa, wy * (y - ya) / ha, ww * torch.log(w / wa), wh * torch.log(h / ha)], -1)

    def decode(self, deltas: torch.Tensor, references: torch.Tensor) -> torch.Tensor:
        """Boxes ``(..., 4)`` from deltas ``(..., 4)`` applied to ``references`` ``(..., 4)``."""
        _check_boxes(deltas, "BoxCoder.decode")
        wx, wy, ww, wh = self.weights
        xa, ya, wa, ha = self._cwh(references)
        x = deltas[..., 0] / wx * wa + xa
        y = deltas[..., 1] / wy * ha + ya
        w = torch.exp((deltas[..., 2] / ww).clamp(max=self.clip)) * wa
        h = torch.exp((deltas[..., 3] / wh).clamp(max=self.clip)) * ha
        return torch.stack([x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h], -1)


def make_anchors(feature_size, stride, sizes=(32, 64, 128), aspect_ratios=(0.5, 1.0, 2.0), offset: float = 0.0,
                 dtype=torch.float32) -> torch.Tensor:
    """Anchor boxes over a feature map, Faster R-CNN style.

    Parameters
    ----------
    feature_size : (h, w) cells.
    stride : int or (s_y, s_x), image pixels per feature cell.
    sizes : anchor sizes in pixels (``sqrt(area)``).
    aspect_ratios : ``height / width`` ratios.
    offset : anchor centres at ``((j + offset) s_x, (i + offset) s_y)``: ``0`` as in torchvision's
        ``AnchorGenerator`` (centres on cell corners), ``0.5`` on cell centres.

    Returns
    -------
    Tensor ``(h * w * A, 4)`` ``(x1, y1, x2, y2)`` pixels, ``A = len(aspect_ratios) * len(sizes)``,
    ordered by cell (row-major), then ratio, then size: anchor ``(r, s)`` has width
    ``size_s / sqrt(ratio_r)`` and height ``size_s * sqrt(ratio_r)``.
    """
    h, w = feature_size
    sy, sx = (stride, stride) if isinstance(stride, (int, float)) else tuple(stride)
    ratios = torch.as_tensor(aspect_ratios, dtype=dtype)
    scales = torch.as_tensor(sizes, dtype=dtype)
    hr = torch.sqrt(ratios)
    ws = (scales[None, :] / hr[:, None]).reshape(-1)
    hs = (scales[None, :] * hr[:, None]).reshape(-1)
    base = torch.stack([-ws, -hs, ws, hs], -1) / 2  # (A, 4)
    cx = (torch.arange(w, dtype=dtype) + offset) * sx
    cy = (torch.arange(h, dtype=dtype) + offset) * sy
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")
    shifts = torch.stack([xx, yy, xx, yy], -1).reshape(-1, 1, 4)
    return (shifts + base[None]).reshape(-1, 4)


# ----------------------------------------------------------------------------------------------
# Non-maximum suppression
# ----------------------------------------------------------------------------------------------
def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression (class-agnostic).

    Boxes are visited by decreasing score (ties: the earlier index first); a box is kept unless
    its IoU with an already kept box is **greater than** ``iou_threshold`` (torchvision's rule).
    One iteration per kept box, each a vectorised IoU against the remaining boxes.

    Parameters
    ----------
    boxes : ``(n, 4)``; scores : ``(n,)``; iou_threshold : float.

    Returns
    -------
    int64 Tensor of kept indices, by decreasing score.

    Raises ``ValueError`` on mismatched shapes.
    """
    _check_boxes(boxes, "nms")
    if boxes.dim() != 2 or scores.shape != boxes.shape[:1]:
        raise ValueError(f"nms: boxes (n, 4) and scores (n,) expected, got {tuple(boxes.shape)}, {tuple(scores.shape)}")
    n = boxes.shape[0]
    if n == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    order = torch.sort(scores, descending=True, stable=True).indices
    b = boxes[order]
    alive = torch.ones(n, dtype=torch.bool, device=boxes.device)
    keep = []
    i = 0
    while True:
        keep.append(i)
        rest = alive[i + 1:]
        if i + 1 < n:
            rest &= box_iou(b[i:i + 1], b[i + 1:])[0] <= iou_threshold
        alive[i] = False
        nxt = torch.nonzero(alive[i + 1:], as_tuple=False)
        if nxt.numel() == 0:
            break
        i = i + 1 + int(nxt[0, 0])
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def batched_nms(boxes: torch.Tensor, scores: torch.Tensor, classes: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """NMS run independently per class (``classes (n,)`` ints), in one :func:`nms` call.

    The coordinate-offset trick: every box of class ``c`` is shifted by ``c * (extent + 1)``
    along both axes (``extent`` = the coordinates' range), so boxes of different classes never
    overlap and one class-agnostic NMS suppresses only within classes. Returns kept indices by
    decreasing score. Raises ``ValueError`` on mismatched shapes.
    """
    if classes.shape != scores.shape:
        raise ValueError(f"batched_nms: classes {tuple(classes.shape)} and scores {tuple(scores.shape)} differ")
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    extent = (boxes.max() - boxes.min()).to(boxes.dtype) + 1
    shifted = boxes - boxes.min() + (classes.to(boxes.dtype) * extent)[:, None]
    return nms(shifted, scores, iou_threshold)
