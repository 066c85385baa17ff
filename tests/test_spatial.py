"""paperlib.nn.spatial against naive, loop-based references written plainly here.

References:
- glimpse: per-output-pixel bilinear sampling at the affine-mapped location (zero padding,
  ``align_corners=False`` unnormalisation), then a mean;
- RoIAlign: torchvision's CPU algorithm transcribed literally (per box, bin, sample:
  the -1/H/W bounds, clamping, bilinear weights, division by sr^2);
- IoU / anchors / box coder: scalar formulas in loops;
- NMS: brute force on all pairs in score order.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from paperlib.nn import spatial as sp


# ----------------------------------------------------------------------------------------------
# naive references
# ----------------------------------------------------------------------------------------------
def _bilinear_zero_pad(img, x, y):
    """img (C, H, W) tensor; x, y index coordinates (pixel centres at integers); zeros outside."""
    C, H, W = img.shape
    x0, y0 = math.floor(x), math.floor(y)
    out = img.new_zeros(C)
    for yy, wy in ((y0, 1 - (y - y0)), (y0 + 1, y - y0)):
        for xx, wx in ((x0, 1 - (x - x0)), (x0 + 1, x - x0)):
            if 0 <= yy < H and 0 <= xx < W:
                out = out + wy * wx * img[:, yy, xx]
    return out


def naive_glimpse(img, params, h, w):
    """img (C, H, W); params (x, y, sx, sy) floats -> crop (C, h, w)."""
    C, H, W = img.shape
    x, y, sx, sy = params
    out = img.new_zeros(C, h, w)
    for i in range(h):
        for j in range(w):
            xn = sx * ((2 * j + 1) / w - 1) + x  # output pixel centre in [-1, 1], mapped by theta
            yn = sy * ((2 * i + 1) / h - 1) + y
            out[:, i, j] = _bilinear_zero_pad(img, ((xn + 1) * W - 1) / 2, ((yn + 1) * H - 1) / 2)
    return out


def naive_roi_align(feat, rois, ph, pw, scale, sr, aligned):
    """torchvision's roi_align (CPU) in plain loops. feat (N, C, H, W), rois (K, 5)."""
    N, C, H, W = feat.shape
    out = feat.new_zeros(len(rois), C, ph, pw)
    off = 0.5 if aligned else 0.0
    for k, r in enumerate(rois):
        b = int(r[0])
        x1, y1 = float(r[1]) * scale - off, float(r[2]) * scale - off
        x2, y2 = float(r[3]) * scale - off, float(r[4]) * scale - off
        rw, rh = x2 - x1, y2 - y1
        if not aligned:
            rw, rh = max(rw, 1.0), max(rh, 1.0)
        bw, bh = rw / pw, rh / ph
        for i in range(ph):
            for j in range(pw):
                acc = feat.new_zeros(C)
                for iy in range(sr):
                    y = y1 + i * bh + (iy + 0.5) * bh / sr
                    for ix in range(sr):
                        x = x1 + j * bw + (ix + 0.5) * bw / sr
                        if y < -1.0 or y > H or x < -1.0 or x > W:
                            continue
                        yy, xx = max(y, 0.0), max(x, 0.0)
                        yl, xl = int(yy), int(xx)
                        if yl >= H - 1:
                            yh = yl = H - 1
                            yy = float(yl)
                        else:
                            yh = yl + 1
                        if xl >= W - 1:
                            xh = xl = W - 1
                            xx = float(xl)
                        else:
                            xh = xl + 1
                        ly, lx = yy - yl, xx - xl
                        hy, hx = 1 - ly, 1 - lx
                        acc = acc + hy * hx * feat[b, :, yl, xl] + hy * lx * feat[b, :, yl, xh] \
                            + ly * hx * feat[b, :, yh, xl] + ly * lx * feat[b, :, yh, xh]
                out[k, :, i, j] = acc / (sr * sr)
    return out


def naive_iou(a, b):
    out = np.zeros((len(a), len(b)))
    for i, p in enumerate(a):
        for j, q in enumerate(b):
            iw = max(0.0, min(p[2], q[2]) - max(p[0], q[0]))
            ih = max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
            inter = iw * ih
            union = (p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter
            out[i, j] = inter / union if union > 0 else 0.0
    return out


def brute_nms(boxes, scores, thr):
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep = []
    for i in order:
        if all(naive_iou(boxes[i:i + 1], boxes[k:k + 1])[0, 0] <= thr for k in keep):
            keep.append(i)
    return keep


def random_boxes(rng, n, size=50.0, min_wh=1.0, max_wh=25.0):
    xy = rng.uniform(0, size, (n, 2))
    wh = rng.uniform(min_wh, max_wh, (n, 2))
    return np.concatenate([xy, xy + wh], 1)


# ----------------------------------------------------------------------------------------------
# glimpse crop
# ----------------------------------------------------------------------------------------------
def test_glimpse_crop_matches_naive_sampling():
    g = torch.Generator().manual_seed(0)
    img = torch.rand(2, 3, 9, 11, generator=g, dtype=torch.float64)
    params = torch.tensor([[[0.1, -0.2, 0.4, 0.3], [-0.8, 0.9, 0.5, 0.6]],
                           [[0.0, 0.0, 1.0, 1.0], [0.95, -0.9, 0.2, 0.7]]], dtype=torch.float64)
    crops = sp.glimpse_crop(img, params, size=(5, 4), pool=False)
    assert crops.shape == (2, 2, 3, 5, 4)
    for n in range(2):
        for k in range(2):
            ref = naive_glimpse(img[n], params[n, k].tolist(), 5, 4)
            torch.testing.assert_close(crops[n, k], ref, atol=1e-12, rtol=0)
    pooled = sp.glimpse_crop(img, params, size=(5, 4))
    torch.testing.assert_close(pooled, crops.mean((-2, -1)))
    # (N, 4) params drop the glimpse axis; the identity glimpse at full size returns the image
    full = sp.glimpse_crop(img, params[:, 0] * 0 + torch.tensor([0.0, 0.0, 1.0, 1.0], dtype=torch.float64),
                           size=(9, 11), pool=False)
    torch.testing.assert_close(full, img)


def test_glimpse_gradient_reaches_location_and_scale():
    g = torch.Generator().manual_seed(1)
    img = torch.rand(1, 2, 12, 12, generator=g, dtype=torch.float64)
    params = torch.tensor([[[0.13, -0.21, 0.37, 0.29]]], dtype=torch.float64, requires_grad=True)
    out = sp.glimpse_crop(img, params, size=(4, 4))
    (out * torch.tensor([1.0, -2.0], dtype=torch.float64)).sum().backward()
    grad = params.grad[0, 0]
    assert torch.all(grad.abs() > 1e-6), f"some glimpse parameter gets no gradient: {grad}"
    # and the gradient is the true derivative (bilinear sampling is piecewise linear)
    assert torch.autograd.gradcheck(lambda p: sp.glimpse_crop(img, p, size=(4, 4)), (params.detach().requires_grad_(),),
                                    eps=1e-6, atol=1e-6)


def test_glimpse_rejects_bad_shapes():
    with pytest.raises(ValueError, match="params"):
        sp.glimpse_crop(torch.zeros(2, 1, 4, 4), torch.zeros(3, 4))
    with pytest.raises(ValueError, match="images"):
        sp.glimpse_crop(torch.zeros(1, 4, 4), torch.zeros(1, 4))


# ----------------------------------------------------------------------------------------------
# RoIAlign
# ----------------------------------------------------------------------------------------------
def _rois(rng, K, N, H, W, scale):
    b = random_boxes(rng, K, size=max(H, W) / scale, min_wh=0.3 / scale, max_wh=0.7 * max(H, W) / scale)
    b -= 2.0 / scale  # some boxes stick out on the top/left
    return np.concatenate([rng.integers(0, N, (K, 1)), b], 1)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("scale,sr", [(1.0, 2), (0.25, 1), (0.5, 3)])
def test_roi_align_matches_torchvision_algorithm(aligned, scale, sr):
    rng = np.random.default_rng(int(scale * 100) + sr + 7 * aligned)
    feat = torch.from_numpy(rng.standard_normal((3, 2, 7, 9)))
    rois = torch.from_numpy(_rois(rng, 9, 3, 7, 9, scale))
    out = sp.roi_align(feat, rois, (3, 2), spatial_scale=scale, sampling_ratio=sr, aligned=aligned)
    ref = naive_roi_align(feat, rois, 3, 2, scale, sr, aligned)
    torch.testing.assert_close(out, ref, atol=1e-10, rtol=0)


def test_roi_align_gradient_matches_naive():
    rng = np.random.default_rng(3)
    feat = torch.from_numpy(rng.standard_normal((2, 3, 6, 8))).requires_grad_()
    rois = torch.from_numpy(_rois(rng, 5, 2, 6, 8, 0.5))
    w = torch.from_numpy(rng.standard_normal((5, 3, 2, 2)))
    (sp.roi_align(feat, rois, 2, spatial_scale=0.5, sampling_ratio=2) * w).sum().backward()
    g1 = feat.grad.clone()
    feat.grad = None
    (naive_roi_align(feat, rois, 2, 2, 0.5, 2, True) * w).sum().backward()
    torch.testing.assert_close(g1, feat.grad, atol=1e-10, rtol=0)


def test_roi_align_list_boxes_and_aligned_convention():
    # a box covering exactly feature cell (2, 3) at scale 1 samples that cell's centre only
    feat = torch.arange(30.0).reshape(1, 1, 5, 6)
    box = torch.tensor([[0.0, 3.0, 2.0, 4.0, 3.0]])
    out = sp.roi_align(feat, box, 1, spatial_scale=1.0, sampling_ratio=1, aligned=True)
    assert out.item() == feat[0, 0, 2, 3].item()
    as_list = sp.roi_align(feat, [torch.tensor([[3.0, 2.0, 4.0, 3.0]])], 1, sampling_ratio=1)
    torch.testing.assert_close(as_list, out)
    with pytest.raises(ValueError, match="batch indices"):
        sp.roi_align(feat, torch.tensor([[1.0, 0, 0, 1, 1]]), 1)
    with pytest.raises(ValueError, match="sampling_ratio"):
        sp.roi_align(feat, box, 1, sampling_ratio=0)


def test_roi_align_frames_equals_per_frame_loop():
    rng = np.random.default_rng(4)
    feat = torch.from_numpy(rng.standard_normal((2, 3, 4, 6, 7)))
    rois = torch.from_numpy(_rois(rng, 3, 2, 6, 7, 0.5))
    out = sp.roi_align_frames(feat, rois, (2, 3), spatial_scale=0.5)
    assert out.shape == (3, 3, 4, 2, 3)
    for t in range(4):
        torch.testing.assert_close(out[:, :, t], naive_roi_align(feat[:, :, t], rois, 2, 3, 0.5, 2, True),
                                   atol=1e-10, rtol=0)
    # per-frame boxes
    per = torch.from_numpy(np.stack([_rois(rng, 3, 1, 6, 7, 0.5) for _ in range(4)], 1))
    per[:, :, 0] = torch.tensor([0.0, 1.0, 1.0])[:, None]
    out = sp.roi_align_frames(feat, per, 2, spatial_scale=0.5)
    for t in range(4):
        torch.testing.assert_close(out[:, :, t], naive_roi_align(feat[:, :, t], per[:, t], 2, 2, 0.5, 2, True),
                                   atol=1e-10, rtol=0)
    bad = per.clone()
    bad[0, 1, 0] = 1.0
    with pytest.raises(ValueError, match="batch index"):
        sp.roi_align_frames(feat, bad, 2)


# ----------------------------------------------------------------------------------------------
# boxes
# ----------------------------------------------------------------------------------------------
def test_box_iou_area_clip_against_loops():
    rng = np.random.default_rng(5)
    a, b = random_boxes(rng, 17), random_boxes(rng, 11)
    a[0] = b[0]  # identical pair
    a[1] = [0, 0, 0, 5]  # zero area
    iou = sp.box_iou(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    np.testing.assert_allclose(iou, naive_iou(a, b), atol=1e-12)
    assert iou[0, 0] == pytest.approx(1.0)
    areas = sp.box_area(torch.from_numpy(a)).numpy()
    np.testing.assert_allclose(areas, [(x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in a])
    c = sp.clip_boxes(torch.tensor([[-3.0, 2.0, 70.0, 90.0]]), (64, 48))
    assert c.tolist() == [[0.0, 2.0, 48.0, 64.0]]


def test_box_coder_formula_and_round_trip():
    rng = np.random.default_rng(6)
    ref = torch.from_numpy(random_boxes(rng, 20))
    tgt = torch.from_numpy(random_boxes(rng, 20))
    coder = sp.BoxCoder(weights=(10.0, 10.0, 5.0, 5.0))
    d = coder.encode(tgt, ref)
    for k in range(20):
        x1, y1, x2, y2 = ref[k].tolist()
        X1, Y1, X2, Y2 = tgt[k].tolist()
        wa, ha, w, h = x2 - x1, y2 - y1, X2 - X1, Y2 - Y1
        expect = [10 * ((X1 + w / 2) - (x1 + wa / 2)) / wa, 10 * ((Y1 + h / 2) - (y1 + ha / 2)) / ha,
                  5 * math.log(w / wa), 5 * math.log(h / ha)]
        np.testing.assert_allclose(d[k].numpy(), expect, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(coder.decode(d, ref), tgt, atol=1e-9, rtol=0)
    # the size clamp: a huge dw cannot blow up
    big = coder.decode(torch.tensor([[0.0, 0.0, 1e3, 0.0]], dtype=torch.float64), ref[:1])
    w0 = (ref[0, 2] - ref[0, 0]).item()
    assert (big[0, 2] - big[0, 0]).item() == pytest.approx(w0 * 1000 / 16)


def test_anchors_against_loop():
    anchors = sp.make_anchors((3, 4), stride=16, sizes=(32, 64), aspect_ratios=(0.5, 1.0, 2.0), offset=0.5)
    ref = []
    for i in range(3):
        for j in range(4):
            cx, cy = (j + 0.5) * 16, (i + 0.5) * 16
            for r in (0.5, 1.0, 2.0):
                for s in (32, 64):
                    w, h = s / math.sqrt(r), s * math.sqrt(r)
                    ref.append([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])
    np.testing.assert_allclose(anchors.numpy(), np.array(ref), rtol=1e-6, atol=1e-4)
    areas = sp.box_area(anchors).reshape(12, 6)
    np.testing.assert_allclose(areas[0].numpy(), [32 ** 2, 64 ** 2] * 3, rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# NMS
# ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.7])
def test_nms_matches_brute_force(seed, thr):
    rng = np.random.default_rng(seed)
    n = 60
    boxes = random_boxes(rng, n, size=40.0)
    scores = rng.random(n)
    scores[:5] = scores[5]  # ties are resolved by index
    keep = sp.nms(torch.from_numpy(boxes), torch.from_numpy(scores), thr).tolist()
    assert keep == brute_nms(boxes, scores, thr)


@pytest.mark.parametrize("seed", range(4))
def test_batched_nms_equals_per_class_nms(seed):
    rng = np.random.default_rng(100 + seed)
    n = 80
    boxes = random_boxes(rng, n, size=30.0)
    scores = rng.random(n)
    cls = rng.integers(0, 4, n)
    keep = sp.batched_nms(torch.from_numpy(boxes), torch.from_numpy(scores), torch.from_numpy(cls), 0.4).tolist()
    ref = []
    for c in range(4):
        idx = np.flatnonzero(cls == c)
        ref += [int(idx[k]) for k in brute_nms(boxes[idx], scores[idx], 0.4)]
    ref.sort(key=lambda i: (-scores[i], i))
    assert keep == ref
    # class-agnostic NMS would suppress more
    assert len(sp.nms(torch.from_numpy(boxes), torch.from_numpy(scores), 0.4)) < len(keep)


def test_nms_edge_cases():
    assert sp.nms(torch.zeros(0, 4), torch.zeros(0), 0.5).numel() == 0
    assert sp.nms(torch.tensor([[0.0, 0, 1, 1]]), torch.tensor([0.3]), 0.5).tolist() == [0]
    # identical boxes: IoU 1 > thr suppresses; thr = 1.0 keeps both (suppression needs IoU > thr)
    two = torch.tensor([[0.0, 0, 2, 2], [0.0, 0, 2, 2]])
    assert sp.nms(two, torch.tensor([0.1, 0.9]), 0.5).tolist() == [1]
    assert sp.nms(two, torch.tensor([0.1, 0.9]), 1.0).tolist() == [1, 0]
    with pytest.raises(ValueError):
        sp.nms(torch.zeros(3, 4), torch.zeros(2), 0.5)
