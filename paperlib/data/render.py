"""A small vectorised renderer: skeleton sequences -> RGB clips through a pinhole camera.

People are drawn as shaded *capsules* (a segment with a radius: limbs, torso) and spheres (a
capsule whose two ends coincide: head, face), handheld and static objects likewise; the
background is a procedural room (textured wall, perspective floor tiles, painted distractor
shapes). Nothing here is learned or copied from a graphics library: it is a signed-distance
rasteriser written with broadcasting tensor operations.

How a frame is rendered
-----------------------
For every capsule ``k`` with projected end points ``a, b`` (pixels), projected radius ``r``
(pixels) and end depths ``z_a, z_b`` (metres), and every pixel centre ``p``:

- ``t = clamp(((p - a) . (b - a)) / |b - a|^2, 0, 1)`` is the closest point's parameter and
  ``d = |p - a - t (b - a)|`` the distance of the pixel to the capsule's axis;
- the pixel is covered when ``d < r``; the covered surface's depth is
  ``z(p) = z_a + t (z_b - z_a) - R (1 - d^2 / r^2)`` (``R`` the radius in metres: the front of
  the tube, its circular cross-section ``R sqrt(1 - d^2/r^2)`` approximated by a parabola with
  the same centre and rim, which saves a square root per pixel and capsule);
- a **z-buffer** keeps, per pixel, the capsule of smallest depth (``argmin`` over ``k``), so
  occlusion is right without sorting the primitives, between limbs of one person, between
  people, and with objects;
- the winner is shaded by a Lambertian term with the normal ``(e_x / r, e_y / r,
  sqrt(1 - d^2/r^2))`` (``e`` the offset from the axis) and a light from the upper left, and a
  one-pixel darker outline separates overlapping parts.

All of this is computed at once for a batch of clips, all frames and all capsules of a
*layer* (a person, an object group) inside the layer's bounding window; a short Python loop
runs over layers (at most a handful per scene) and composites each into the frame's z-buffer.

Conventions
-----------
- 3D points are in the Kinect / NTU RGB+D camera frame (see
  :func:`paperlib.kinematics.project_pinhole`): metres, right-handed, ``y`` up, ``z`` the depth
  along the viewing direction, ``x`` towards the image's left. Projection:
  ``u = cx - f x / z``, ``v = cy - f y / z``.
- Pixel coordinates ``(u, v)`` are continuous, ``u`` to the right and ``v`` down; the pixel in
  row ``i`` and column ``j`` covers ``[j, j + 1) x [i, i + 1)``, so its centre is
  ``(j + 0.5, i + 0.5)``. Boxes are ``(x1, y1, x2, y2)`` in the same coordinates.
- Frames are ``uint8`` ``(T, H, W, 3)`` RGB. Colours inside the renderer are floats in [0, 1].

Everything random takes a ``numpy.random.Generator``; given the same generator state the
output is bit-identical on any machine (only elementwise float32 operations and min-reductions
are used, so batching and thread counts do not change the result).
"""
from __future__ import annotations

import colorsys
import contextlib
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..skeleton import NTU25

__all__ = ["PinholeCamera", "Capsules", "RenderResult", "render_capsules", "body_capsules",
           "handheld_capsules", "static_object_capsules", "textured_backgrounds", "random_clothing",
           "project_points", "joint_visibility", "boxes_from_joints", "OBJECT_KINDS", "CLOTHING_PARTS",
           "BODY_CAPSULES", "torch_threads"]

_J = {n: i for i, n in enumerate(NTU25.joint_names)}

#: Colour slots of a person, in the order of :func:`random_clothing`'s second axis.
CLOTHING_PARTS = ("shirt", "trousers", "skin", "hair", "shoes", "forearm")
_SHIRT, _TROUSERS, _SKIN, _HAIR, _SHOES, _FOREARM = range(6)

#: The capsules of an NTU-25 body: (joint a, joint b, radius in metres, clothing slot).
#: Two more spheres are added by :func:`body_capsules`: the head (hair colour) and the face.
BODY_CAPSULES = (
    ("spine_base", "spine_mid", 0.125, _SHIRT),
    ("spine_mid", "spine_shoulder", 0.135, _SHIRT),
    ("shoulder_left", "shoulder_right", 0.065, _SHIRT),
    ("hip_left", "hip_right", 0.10, _TROUSERS),
    ("spine_shoulder", "neck", 0.05, _SKIN),
    ("shoulder_left", "elbow_left", 0.052, _SHIRT),
    ("shoulder_right", "elbow_right", 0.052, _SHIRT),
    ("elbow_left", "wrist_left", 0.042, _FOREARM),
    ("elbow_right", "wrist_right", 0.042, _FOREARM),
    ("wrist_left", "handtip_left", 0.036, _SKIN),
    ("wrist_right", "handtip_right", 0.036, _SKIN),
    ("hip_left", "knee_left", 0.072, _TROUSERS),
    ("hip_right", "knee_right", 0.072, _TROUSERS),
    ("knee_left", "ankle_left", 0.056, _TROUSERS),
    ("knee_right", "ankle_right", 0.056, _TROUSERS),
    ("ankle_left", "foot_left", 0.042, _SHOES),
    ("ankle_right", "foot_right", 0.042, _SHOES),
)
HEAD_RADIUS = 0.105
FACE_RADIUS = 0.08
FACE_OFFSET = 0.045

#: Kinds of objects the scenes use: (name, colour RGB in [0, 1], radius m, half-length m).
#: Handheld: cup (a short upright tube), phone (a thin bar along the hand), ball (a sphere);
#: static: stool (a thick short pillar), bin, lamp (a thin pole).
OBJECT_KINDS = {
    "cup": ((0.95, 0.95, 0.92), 0.04, 0.045),
    "phone": ((0.08, 0.08, 0.10), 0.022, 0.065),
    "ball": ((0.95, 0.45, 0.05), 0.10, 0.0),
    "stool": ((0.45, 0.30, 0.16), 0.19, 0.13),
    "bin": ((0.25, 0.45, 0.30), 0.16, 0.20),
    "lamp": ((0.85, 0.80, 0.35), 0.03, 0.55),
}
_LIGHT = np.array([-0.4, -0.55, 0.73]) / np.linalg.norm([-0.4, -0.55, 0.73])  # image x right, y down, z to viewer


@contextlib.contextmanager
def torch_threads(threads: int | None):
    """Run a block with ``torch.set_num_threads(threads)`` and restore the previous count after
    (``None``: leave it alone). The renderer's tensors are small; on a shared 2-core machine one
    thread avoids OpenMP contention (measured by ``tests/benchmarks/bench_render.py``)."""
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(previous)


# ----------------------------------------------------------------------------------------------
# Camera
# ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics of the pinhole camera that renders a clip.

    Attributes
    ----------
    width, height : int
        Image size ``W, H`` in pixels.
    focal : float
        Focal length in pixels (the same for ``u`` and ``v``).
    cx, cy : float or None
        Principal point in pixels; default the image centre ``(W / 2, H / 2)``.

    Raises ``ValueError`` for a non-positive size or focal length.
    """

    width: int
    height: int
    focal: float
    cx: float | None = None
    cy: float | None = None

    def __post_init__(self):
        if self.width < 1 or self.height < 1 or not self.focal > 0:
            raise ValueError(f"PinholeCamera: need width, height >= 1 and focal > 0, got "
                             f"{self.width}x{self.height}, f={self.focal}")

    @property
    def center(self) -> tuple:
        """``(cx, cy)`` in pixels."""
        return (self.width / 2 if self.cx is None else self.cx, self.height / 2 if self.cy is None else self.cy)


def project_points(points, camera: PinholeCamera):
    """Project camera-frame points: ``(..., 3)`` metres -> ``(uv (..., 2) pixels, z (...) metres)``.

    ``u = cx - f x / z``, ``v = cy - f y / z`` (the convention of
    :func:`paperlib.kinematics.project_pinhole`). Works on numpy arrays and torch tensors and
    returns the same type. Points with ``z <= 0`` give non-finite or meaningless pixels: callers
    check ``z``. Raises ``ValueError`` if the last dimension is not 3.
    """
    if points.shape[-1] != 3:
        raise ValueError(f"project_points: expected (..., 3), got {tuple(points.shape)}")
    cx, cy = camera.center
    x, y, z = points[..., 0], points[..., 1], points[..., 2]
    u = cx - camera.focal * x / z
    v = cy - camera.focal * y / z
    stack = torch.stack if isinstance(points, torch.Tensor) else np.stack
    return stack([u, v], -1), z


# ----------------------------------------------------------------------------------------------
# Primitives
# ----------------------------------------------------------------------------------------------
@dataclass
class Capsules:
    """``K`` capsules per frame for ``B`` clips of ``T`` frames: one render *layer*.

    Attributes
    ----------
    start, end : torch.Tensor, float32, ``(B, T, K, 3)``
        End points in metres, camera frame. A sphere has ``start == end``.
    radius : torch.Tensor, float32, ``(B, T, K)``
        Radius in metres; ``0`` means "absent in this frame" (never drawn).
    color : torch.Tensor, float32, ``(B, K, 3)``
        Base RGB colour in [0, 1].

    Raises ``ValueError`` on inconsistent shapes.
    """

    start: torch.Tensor
    end: torch.Tensor
    radius: torch.Tensor
    color: torch.Tensor

    def __post_init__(self):
        self.start = torch.as_tensor(self.start, dtype=torch.float32)
        self.end = torch.as_tensor(self.end, dtype=torch.float32)
        self.radius = torch.as_tensor(self.radius, dtype=torch.float32)
        self.color = torch.as_tensor(self.color, dtype=torch.float32)
        if self.start.dim() != 4 or self.start.shape[-1] != 3 or self.end.shape != self.start.shape:
            raise ValueError(f"Capsules: start and end must both be (B, T, K, 3), got "
                             f"{tuple(self.start.shape)} and {tuple(self.end.shape)}")
        B, T, K, _ = self.start.shape
        if self.radius.shape != (B, T, K):
            raise ValueError(f"Capsules: radius must be {(B, T, K)}, got {tuple(self.radius.shape)}")
        if self.color.shape != (B, K, 3):
            raise ValueError(f"Capsules: color must be {(B, K, 3)}, got {tuple(self.color.shape)}")

    @property
    def shape(self) -> tuple:
        """``(B, T, K)``."""
        return tuple(self.start.shape[:3])

    def select(self, index) -> "Capsules":
        """The capsules of the clips ``index`` (a slice or index array along ``B``)."""
        return Capsules(self.start[index], self.end[index], self.radius[index], self.color[index])

    def split(self) -> list:
        """One single-capsule layer per capsule (separate objects get small windows)."""
        return [Capsules(self.start[:, :, k:k + 1], self.end[:, :, k:k + 1], self.radius[:, :, k:k + 1],
                         self.color[:, k:k + 1]) for k in range(self.shape[2])]

    @staticmethod
    def concat(parts) -> "Capsules":
        """Join layers with the same ``B`` and ``T`` along ``K`` (e.g. a body and its object)."""
        parts = list(parts)
        return Capsules(torch.cat([p.start for p in parts], 2), torch.cat([p.end for p in parts], 2),
                        torch.cat([p.radius for p in parts], 2), torch.cat([p.color for p in parts], 1))

    def boxes(self, camera: "PinholeCamera", near: float = 0.1) -> np.ndarray:
        """Image boxes of every capsule, ``(B, T, K, 4)`` float32 ``(x1, y1, x2, y2)`` pixels,
        clipped to the image; NaN where the capsule is absent (radius 0), behind ``near`` or
        entirely outside the image."""
        (ua, za), (ub, zb) = project_points(self.start, camera), project_points(self.end, camera)
        r_px = camera.focal * self.radius / torch.clamp(0.5 * (za + zb), min=near)
        lo = torch.minimum(ua, ub) - r_px[..., None]
        hi = torch.maximum(ua, ub) + r_px[..., None]
        size = torch.tensor([camera.width, camera.height], dtype=torch.float32)
        lo, hi = torch.minimum(torch.clamp(lo, min=0), size), torch.minimum(torch.clamp(hi, min=0), size)
        box = torch.cat([lo, hi], -1)
        ok = (self.radius > 0) & (za > near) & (zb > near) & (hi[..., 0] > lo[..., 0]) & (hi[..., 1] > lo[..., 1])
        box[~ok] = float("nan")
        return box.numpy()


@dataclass
class RenderResult:
    """Output of :func:`render_capsules`.

    Attributes
    ----------
    frames : np.ndarray, uint8, ``(B, T, H, W, 3)``
        RGB frames.
    depth : np.ndarray, float32, ``(B, T, H, W)``
        Depth (metres, camera ``z``) of the visible surface; ``inf`` where the background shows.
    layer : np.ndarray, int16, ``(B, T, H, W)``
        Index of the layer seen at each pixel (the order of the ``layers`` argument), ``-1`` for
        the background.
    """

    frames: np.ndarray
    depth: np.ndarray
    layer: np.ndarray


def _windows(lo, hi, size):
    """Integer windows ``[start, start + n)`` covering ``[lo, hi]`` (any shape), one common ``n``."""
    lo = torch.clamp(torch.floor(lo), 0, size)
    hi = torch.clamp(torch.ceil(hi), 0, size)
    n = int(torch.clamp(hi - lo, min=0).max().item()) if lo.numel() else 0
    n = min(max(n, 1), size)
    start = torch.clamp(lo, max=size - n).long()
    return start, n


def _render_layer(caps: Capsules, camera: PinholeCamera, near: float):
    """Z-buffer one layer inside its per-frame windows.

    Returns ``(x0 (B,T), y0 (B,T), depth (B,T,Hc,Wc), rgb (B,T,Hc,Wc,3))`` or ``None`` when the
    layer draws nothing; ``depth`` is ``inf`` where no capsule covers the pixel.
    """
    B, T, K = caps.shape
    f = float(camera.focal)
    (ua, za), (ub, zb) = project_points(caps.start, camera), project_points(caps.end, camera)
    r_m = torch.where((za > near) & (zb > near), caps.radius, torch.zeros_like(caps.radius))  # (B,T,K)
    r_px = f * r_m / torch.clamp(0.5 * (za + zb), min=near)
    alive = r_px > 0
    if not bool(alive.any()):
        return None
    big = torch.tensor(1e9)
    lo_u = torch.where(alive, torch.minimum(ua[..., 0], ub[..., 0]) - r_px, big).amin(dim=2)  # (B,T)
    hi_u = torch.where(alive, torch.maximum(ua[..., 0], ub[..., 0]) + r_px, -big).amax(dim=2)
    lo_v = torch.where(alive, torch.minimum(ua[..., 1], ub[..., 1]) - r_px, big).amin(dim=2)
    hi_v = torch.where(alive, torch.maximum(ua[..., 1], ub[..., 1]) + r_px, -big).amax(dim=2)
    x0, Wc = _windows(lo_u, hi_u, camera.width)
    y0, Hc = _windows(lo_v, hi_v, camera.height)
    xs = (x0[..., None] + torch.arange(Wc)).float() + 0.5  # (B, T, Wc) pixel centres
    ys = (y0[..., None] + torch.arange(Hc)).float() + 0.5  # (B, T, Hc)

    # Small per-capsule factors, broadcast once into the full (B, T, K, Hc, Wc) grid.
    abx, aby = ub[..., 0] - ua[..., 0], ub[..., 1] - ua[..., 1]  # (B,T,K)
    len2 = torch.clamp(abx * abx + aby * aby, min=1e-12)
    dxa = xs[:, :, None, None, :] - ua[..., 0, None, None]  # (B,T,K,1,Wc)
    dya = ys[:, :, None, :, None] - ua[..., 1, None, None]  # (B,T,K,Hc,1)
    s = (dxa * (abx / len2)[..., None, None]) + (dya * (aby / len2)[..., None, None])  # unclamped parameter
    t = torch.clamp(s, 0.0, 1.0)
    # squared distance to the axis: |p - a|^2 - 2 t s L2 + t^2 L2 = |p - a|^2 + L2 t (t - 2 s)
    d2 = torch.add(t, s, alpha=-2.0).mul_(t).mul_(len2[..., None, None]).add_(dxa * dxa).add_(dya * dya)
    inv_r2 = torch.where(alive, 1.0 / torch.clamp(r_px * r_px, min=1e-12), torch.zeros_like(r_px))
    q = d2.mul_(-inv_r2[..., None, None]).add_(1.0)  # 1 - d^2 / r^2, > 0 inside (d2 is reused)
    # front-surface depth of the tube (paraboloid approximation of the bulge: r (1 - d^2/r^2))
    depth = torch.addcmul(za[..., None, None], t, (zb - za)[..., None, None])
    depth.addcmul_(q, -r_m[..., None, None])
    depth.masked_fill_((q <= 0) | ~alive[..., None, None], float("inf"))
    best, k = depth.min(dim=2)  # (B,T,Hc,Wc)

    # shade the winner only
    bi = torch.arange(B)[:, None, None, None]
    ti = torch.arange(T)[None, :, None, None]
    kk = k[:, :, None]
    t_w = t.gather(2, kk).squeeze(2)
    q_w = torch.clamp(q.gather(2, kk).squeeze(2), 0.0, 1.0)
    ex = xs[:, :, None, :] - (ua[..., 0][bi, ti, k] + t_w * abx[bi, ti, k])  # offset from the axis, pixels
    ey = ys[:, :, :, None] - (ua[..., 1][bi, ti, k] + t_w * aby[bi, ti, k])
    rp = torch.clamp(r_px[bi, ti, k], min=1e-6)
    lam = torch.clamp((ex * float(_LIGHT[0]) + ey * float(_LIGHT[1])) / rp + torch.sqrt(q_w) * float(_LIGHT[2]), min=0.0)
    shade = 0.38 + 0.62 * lam
    rim = rp - torch.sqrt(ex * ex + ey * ey)  # distance to the silhouette, pixels
    shade = shade * torch.where((rim < 0.8) & (rp > 1.2), 0.62, 1.0)
    rgb = caps.color[bi, k] * shade[..., None]  # (B,T,Hc,Wc,3)
    return x0, y0, best, rgb


def render_capsules(layers, camera: PinholeCamera, background, background_depth=None, noise_std: float = 0.0,
                    rng: np.random.Generator | None = None, chunk: int = 8, near: float = 0.1,
                    threads: int | None = 1) -> RenderResult:
    """Render capsule layers over backgrounds with a z-buffer.

    Parameters
    ----------
    layers : list of :class:`Capsules`
        Every layer must have the same ``B`` and ``T``. A layer is a person, or an object group;
        it is rasterised inside its own bounding window (union over frames and clips), which is
        what keeps the per-pixel work small. Occlusion between and within layers comes from
        the z-buffer, so the order of the list does not matter.
    camera : PinholeCamera
        ``H = camera.height``, ``W = camera.width``.
    background : array ``(B, H, W, 3)`` float in [0, 1]
        The static backdrop of each clip (e.g. :func:`textured_backgrounds`).
    background_depth : array ``(B, H, W)`` metres, optional
        Depth of the backdrop (default ``inf``: everything is in front of it).
    noise_std : float
        Standard deviation of Gaussian sensor noise added to the colours (0-1 scale), drawn
        from ``rng`` (required if ``noise_std > 0``).
    chunk : int
        Clips rendered at once (memory ~ ``chunk * T * K * window`` floats per layer).
    near : float
        Capsules with an end point closer than ``near`` metres are not drawn.
    threads : int or None
        torch intra-op threads used during the call (restored afterwards); ``None`` keeps the
        current setting. The per-window tensors are small, and on a shared 2-core machine one
        thread was measured faster than two (``tests/benchmarks/bench_render.py``).

    Returns
    -------
    RenderResult
        ``frames (B, T, H, W, 3)`` uint8, ``depth (B, T, H, W)`` float32 metres,
        ``layer (B, T, H, W)`` int16.

    Raises
    ------
    ValueError
        On inconsistent shapes, or ``noise_std > 0`` without ``rng``.
    """
    H, W = camera.height, camera.width
    bg = torch.as_tensor(np.asarray(background, dtype=np.float32))
    if bg.dim() != 4 or tuple(bg.shape[1:]) != (H, W, 3):
        raise ValueError(f"render_capsules: background must be (B, {H}, {W}, 3), got {tuple(bg.shape)}")
    B = bg.shape[0]
    T = None
    for i, lay in enumerate(layers):
        if lay.shape[0] != B:
            raise ValueError(f"render_capsules: layer {i} has {lay.shape[0]} clips, background has {B}")
        if T is None:
            T = lay.shape[1]
        elif lay.shape[1] != T:
            raise ValueError(f"render_capsules: layer {i} has {lay.shape[1]} frames, expected {T}")
    if T is None:
        raise ValueError("render_capsules: at least one layer is needed (it fixes T)")
    if background_depth is None:
        bgd = torch.full((B, H, W), float("inf"))
    else:
        bgd = torch.as_tensor(np.asarray(background_depth, dtype=np.float32))
        if tuple(bgd.shape) != (B, H, W):
            raise ValueError(f"render_capsules: background_depth must be {(B, H, W)}, got {tuple(bgd.shape)}")
    if noise_std > 0 and rng is None:
        raise ValueError("render_capsules: noise_std > 0 needs an rng")

    with torch_threads(threads):
        return _render_chunks(layers, camera, bg, bgd, B, T, noise_std, rng, chunk, near)


def _render_chunks(layers, camera, bg, bgd, B, T, noise_std, rng, chunk, near):
    H, W = camera.height, camera.width
    frames = np.empty((B, T, H, W, 3), np.uint8)
    depth_out = np.empty((B, T, H, W), np.float32)
    layer_out = np.empty((B, T, H, W), np.int16)
    # Clips with the same set of active layers are rendered together, so that a chunk does not
    # rasterise a layer for clips that lack it (the output order is restored; results do not
    # depend on the grouping, every operation being per clip).
    active = torch.stack([(lay.radius > 0).flatten(1).any(1) for lay in layers], 1)  # (B, L)
    key = (active.long() * (2 ** torch.arange(len(layers)))).sum(1)
    order = torch.argsort(key, stable=True).numpy()
    step = max(1, int(chunk))
    for s in range(0, B, step):
        sl = order[s:s + step]
        n = len(sl)
        # flat per-frame buffers: (n * T, H * W) depth and layer, (n * T, H * W, 3) colour
        rgb = bg[sl][:, None].expand(n, T, H, W, 3).reshape(n * T, H * W, 3).clone()
        dep = bgd[sl][:, None].expand(n, T, H, W).reshape(n * T, H * W).clone()
        lid = torch.full((n * T, H * W), -1, dtype=torch.int16)
        for li, lay in enumerate(layers):
            out = _render_layer(lay.select(torch.from_numpy(sl)), camera, near)
            if out is None:
                continue
            x0, y0, best, col = out
            Hc, Wc = best.shape[-2:]
            rows = (y0[..., None] + torch.arange(Hc))[..., :, None]  # (n, T, Hc, 1)
            cols = (x0[..., None] + torch.arange(Wc))[..., None, :]  # (n, T, 1, Wc)
            idx = (rows * W + cols).reshape(n * T, Hc * Wc)  # distinct pixels within each frame
            best = best.reshape(n * T, Hc * Wc)
            cur = dep.gather(1, idx)
            win = best < cur  # the z-test
            dep.scatter_(1, idx, torch.where(win, best, cur))
            idx3 = idx[..., None].expand(-1, -1, 3)
            rgb.scatter_(1, idx3, torch.where(win[..., None], col.reshape(n * T, Hc * Wc, 3), rgb.gather(1, idx3)))
            lid.scatter_(1, idx, torch.where(win, torch.tensor(li, dtype=torch.int16), lid.gather(1, idx)))
        rgb = rgb.reshape(n, T, H, W, 3)
        if noise_std > 0:
            rgb = rgb + torch.from_numpy(rng.standard_normal(rgb.shape, dtype=np.float32) * np.float32(noise_std))
        frames[sl] = torch.clamp(rgb * 255.0 + 0.5, 0, 255).to(torch.uint8).numpy()
        depth_out[sl] = dep.reshape(n, T, H, W).numpy()
        layer_out[sl] = lid.reshape(n, T, H, W).numpy()
    return RenderResult(frames=frames, depth=depth_out, layer=layer_out)


# ----------------------------------------------------------------------------------------------
# Builders
# ----------------------------------------------------------------------------------------------
_A_IDX = np.array([_J[a] for a, _, _, _ in BODY_CAPSULES])
_B_IDX = np.array([_J[b] for _, b, _, _ in BODY_CAPSULES])
_RADII = np.array([r for _, _, r, _ in BODY_CAPSULES] + [HEAD_RADIUS, FACE_RADIUS], np.float32)
_SLOTS = np.array([s for _, _, _, s in BODY_CAPSULES] + [_HAIR, _SKIN])

#: Per joint: the largest radius of the capsules touching it (metres), for visibility tests.
JOINT_RADIUS = np.zeros(NTU25.num_joints, np.float32)
for _a, _b, _r, _ in BODY_CAPSULES:
    JOINT_RADIUS[_J[_a]] = max(JOINT_RADIUS[_J[_a]], _r)
    JOINT_RADIUS[_J[_b]] = max(JOINT_RADIUS[_J[_b]], _r)
JOINT_RADIUS[_J["head"]] = HEAD_RADIUS
for _n in ("hand_left", "hand_right", "thumb_left", "thumb_right"):
    JOINT_RADIUS[_J[_n]] = 0.036


def _torso_forward(joints):
    """Body forward direction estimated from the torso: ``(..., 25, 3) -> (..., 3)``, unit."""
    left = joints[..., _J["shoulder_left"], :] - joints[..., _J["shoulder_right"], :]
    up = joints[..., _J["neck"], :] - joints[..., _J["spine_mid"], :]
    fwd = torch.cross(left, up, dim=-1)
    return fwd / torch.clamp(fwd.norm(dim=-1, keepdim=True), min=1e-9)


def body_capsules(joints, clothing, face_dir=None, present=None, radius_scale=None,
                  head_scale: float = 1.0) -> Capsules:
    """The 19 capsules of NTU-25 bodies (limbs, torso, head sphere and a face sphere).

    Parameters
    ----------
    joints : array ``(B, T, 25, 3)`` metres, camera frame, :data:`paperlib.skeleton.NTU25` order.
    clothing : array ``(B, 6, 3)`` RGB in [0, 1], slots :data:`CLOTHING_PARTS`.
    face_dir : array ``(B, T, 3)``, optional
        Unit direction the face points to (camera frame). The face is a skin-coloured sphere
        ``FACE_OFFSET`` metres in front of the head's centre, so the head's orientation is
        visible (skin when facing the camera, hair from behind, a crescent in profile). Default:
        the torso's forward direction (``(shoulder_left - shoulder_right) x (neck - spine_mid)``).
    present : array ``(B, T)`` bool, optional
        Frames where the person is drawn (default all).
    radius_scale : array ``(B,)``, optional
        Multiplies every radius (e.g. the subject's height factor).
    head_scale : float
        Multiplies the head's and the face's radii and the face's offset (the head-orientation
        cue; 1 = :data:`HEAD_RADIUS`, :data:`FACE_RADIUS`, :data:`FACE_OFFSET`).

    Returns
    -------
    Capsules with ``K = 19``.

    Raises ``ValueError`` if the joints are not ``(B, T, 25, 3)`` or clothing not ``(B, 6, 3)``,
    or ``head_scale <= 0``.
    """
    j = torch.as_tensor(np.asarray(joints, dtype=np.float32))
    if j.dim() != 4 or tuple(j.shape[2:]) != (NTU25.num_joints, 3):
        raise ValueError(f"body_capsules: joints must be (B, T, 25, 3), got {tuple(j.shape)}")
    B, T = j.shape[:2]
    cl = torch.as_tensor(np.asarray(clothing, dtype=np.float32))
    if tuple(cl.shape) != (B, 6, 3):
        raise ValueError(f"body_capsules: clothing must be ({B}, 6, 3), got {tuple(cl.shape)}")
    if not head_scale > 0:
        raise ValueError(f"body_capsules: head_scale must be > 0, got {head_scale}")
    fd = _torso_forward(j) if face_dir is None else torch.as_tensor(np.asarray(face_dir, dtype=np.float32))
    head = j[:, :, _J["head"]]
    face = head + (FACE_OFFSET * head_scale) * fd
    start = torch.cat([j[:, :, _A_IDX], head[:, :, None], face[:, :, None]], 2)
    end = torch.cat([j[:, :, _B_IDX], head[:, :, None], face[:, :, None]], 2)
    radius = torch.from_numpy(_RADII).expand(B, T, -1).clone()
    if head_scale != 1.0:
        radius[..., -2:] *= head_scale
    if radius_scale is not None:
        radius = radius * torch.as_tensor(np.asarray(radius_scale, dtype=np.float32))[:, None, None]
    if present is not None:
        radius = radius * torch.as_tensor(np.asarray(present, dtype=bool))[..., None].float()
    color = cl[:, torch.from_numpy(_SLOTS)]
    return Capsules(start, end, radius, color)


def handheld_capsules(kinds, hand, handtip, present=None, scale: float = 1.0) -> Capsules:
    """One handheld object per clip, attached to a hand.

    Parameters
    ----------
    kinds : sequence of ``B`` names from :data:`OBJECT_KINDS` (``"cup"``, ``"phone"``,
        ``"ball"``), or ``None`` / ``""`` for no object.
    hand, handtip : arrays ``(B, T, 3)`` metres: the hand joint and the hand tip of the holding
        hand (the object sits ``0.6`` of the way from hand to tip; a cup stands upright, a phone
        lies along the hand, a ball is a sphere in front of the palm).
    present : array ``(B, T)`` bool, optional: frames where the object is drawn.
    scale : float
        Multiplies every object's radius and half-length (metres; default ``1.0`` keeps the
        sizes of :data:`OBJECT_KINDS` exactly). Notebook 03's local-detail knob.

    Returns
    -------
    Capsules with ``K = 1``. The object's centre is ``(start + end) / 2``.

    Raises ``KeyError`` for an unknown kind, ``ValueError`` for ``scale < 0``.
    """
    if scale < 0:
        raise ValueError(f"handheld_capsules: scale must be >= 0, got {scale}")
    hand = torch.as_tensor(np.asarray(hand, dtype=np.float32))
    tip = torch.as_tensor(np.asarray(handtip, dtype=np.float32))
    B, T, _ = hand.shape
    centre = hand + 0.6 * (tip - hand)
    along = tip - hand
    along = along / torch.clamp(along.norm(dim=-1, keepdim=True), min=1e-9)
    up = torch.tensor([0.0, 1.0, 0.0])
    start, end = centre.clone(), centre.clone()
    radius = torch.zeros(B, T)
    color = torch.zeros(B, 1, 3)
    for b, kind in enumerate(kinds):
        if not kind:
            continue
        rgb, r, half = OBJECT_KINDS[kind]
        if scale != 1.0:
            r, half = r * scale, half * scale
        if kind == "cup":
            start[b], end[b] = centre[b] - half * up, centre[b] + half * up
        elif kind == "phone":
            start[b], end[b] = centre[b] - half * along[b], centre[b] + half * along[b]
        elif kind == "ball":
            c = centre[b] + 0.6 * r * along[b]
            start[b], end[b] = c, c
        else:
            raise KeyError(f"handheld_capsules: {kind!r} is not a handheld object (cup, phone, ball)")
        radius[b] = r
        color[b, 0] = torch.tensor(rgb)
    if present is not None:
        radius = radius * torch.as_tensor(np.asarray(present, dtype=bool)).float()
    return Capsules(start[:, :, None], end[:, :, None], radius[:, :, None], color)


def static_object_capsules(kinds, floor_points, T: int) -> Capsules:
    """Static objects standing on the floor (stool, bin, lamp), ``K`` per clip.

    Parameters
    ----------
    kinds : ``B`` lists of up to ``K`` names from :data:`OBJECT_KINDS` (empty string: none).
    floor_points : array ``(B, K, 3)`` metres: the point on the floor under each object.
    T : int, frames.

    Returns Capsules ``(B, T, K)``: an upright tube standing on the floor point, its axis from
    ``radius`` to ``radius + 2 * half-length`` metres above the floor.

    Raises ``KeyError`` for an unknown kind.
    """
    fp = torch.as_tensor(np.asarray(floor_points, dtype=np.float32))
    B, K, _ = fp.shape
    start = fp.clone()
    end = fp.clone()
    radius = torch.zeros(B, K)
    color = torch.zeros(B, K, 3)
    for b in range(B):
        for k, kind in enumerate(kinds[b][:K]):
            if not kind:
                continue
            rgb, r, half = OBJECT_KINDS[kind]
            start[b, k, 1] = fp[b, k, 1] + r
            end[b, k, 1] = fp[b, k, 1] + r + 2 * half
            radius[b, k] = r
            color[b, k] = torch.tensor(rgb)
    return Capsules(start[:, None].expand(B, T, K, 3), end[:, None].expand(B, T, K, 3),
                    radius[:, None].expand(B, T, K), color)


def random_clothing(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random outfits ``(n, 6, 3)`` RGB in [0, 1]: shirt, trousers, skin, hair, shoes,
    forearm (the shirt colour for long sleeves, else the skin)."""
    skins = np.array([(0.96, 0.80, 0.69), (0.90, 0.72, 0.56), (0.78, 0.57, 0.44), (0.58, 0.40, 0.28),
                      (0.38, 0.26, 0.17)])
    hairs = np.array([(0.08, 0.06, 0.05), (0.30, 0.18, 0.08), (0.75, 0.62, 0.35), (0.55, 0.55, 0.55),
                      (0.45, 0.15, 0.05)])
    out = np.zeros((n, 6, 3))
    hs = rng.random((n, 4))
    for i in range(n):
        out[i, 0] = colorsys.hsv_to_rgb(hs[i, 0], 0.35 + 0.5 * hs[i, 1], 0.5 + 0.45 * hs[i, 2])
        out[i, 1] = colorsys.hsv_to_rgb(hs[i, 3], 0.2 + 0.4 * hs[i, 1], 0.18 + 0.35 * hs[i, 2])
    out[:, 2] = skins[rng.integers(0, len(skins), n)]
    out[:, 3] = hairs[rng.integers(0, len(hairs), n)]
    out[:, 4] = rng.uniform(0.05, 0.3, (n, 1))
    long_sleeves = rng.random(n) < 0.5
    out[:, 5] = np.where(long_sleeves[:, None], out[:, 0], out[:, 2])
    return out.astype(np.float32)


def _smooth_noise(rng, n, H, W, cells):
    """``(n, H, W)`` smooth noise in about [-1, 1]: a random ``cells x cells`` grid, bicubic-upsampled."""
    g = torch.from_numpy(rng.standard_normal((n, 1, cells, cells)).astype(np.float32))
    return F.interpolate(g, size=(H, W), mode="bicubic", align_corners=False)[:, 0].clamp(-2.5, 2.5) / 1.5


def textured_backgrounds(rng: np.random.Generator, n: int, camera: PinholeCamera, camera_height,
                         wall_distance=None, num_shapes=(2, 6), threads: int | None = 1):
    """Procedural room backdrops: textured wall, perspective floor tiles, painted distractors.

    - the wall (beyond ``wall_distance`` metres) has a base colour, smooth low-frequency noise
      and stripes or a tile grid of random period, orientation and contrast;
    - the floor below the wall line is a perspective checkerboard: row ``v`` below the horizon
      sees the floor at depth ``z = f h / (v - cy)`` (``h`` the camera height), column ``u`` at
      ``x = (cx - u) z / f``, and the tile parity is ``floor(x / s) + floor(z / s)``;
    - ``num_shapes`` (a ``(low, high)`` range) flat distractor shapes (rectangles: posters,
      windows, shelves; discs: clocks, lamps) are painted on the wall.

    Parameters
    ----------
    rng : numpy Generator.
    n : int, number of backdrops.
    camera : PinholeCamera (a horizontal camera: the horizon is the row ``cy``).
    camera_height : float or ``(n,)`` metres above the floor.
    wall_distance : float or ``(n,)`` metres (default uniform in [7, 10]).
    num_shapes : (int, int), inclusive range of painted shapes.
    threads : torch threads during the call (see :func:`torch_threads`).

    Returns
    -------
    rgb : np.ndarray float32 ``(n, H, W, 3)`` in [0, 1].
    info : dict with ``"shape_boxes"`` ``(n, S, 4)`` pixels (NaN rows for absent shapes) and
        ``"wall_row"`` ``(n,)`` the first floor row.
    """
    with torch_threads(threads):
        return _backgrounds(rng, n, camera, camera_height, wall_distance, num_shapes)


def _backgrounds(rng, n, camera, camera_height, wall_distance, num_shapes):
    H, W = camera.height, camera.width
    f = camera.focal
    cx, cy = camera.center
    h = np.broadcast_to(np.asarray(camera_height, np.float64), (n,))
    zw = rng.uniform(7.0, 10.0, n) if wall_distance is None else np.broadcast_to(np.asarray(wall_distance, np.float64), (n,))
    # wall colour and texture
    wall_hsv = np.stack([rng.random(n), rng.uniform(0.08, 0.45, n), rng.uniform(0.45, 0.9, n)], -1)
    wall = np.array([colorsys.hsv_to_rgb(*c) for c in wall_hsv], np.float32)  # (n, 3)
    noise = _smooth_noise(rng, n, H, W, 5)  # (n, H, W)
    u = torch.arange(W).float()[None, None, :] + 0.5
    v = torch.arange(H).float()[None, :, None] + 0.5
    theta = torch.from_numpy(rng.choice([0.0, np.pi / 2, np.pi / 4, -np.pi / 4], n).astype(np.float32))[:, None, None]
    period = torch.from_numpy(rng.uniform(3.0, 14.0, n).astype(np.float32))[:, None, None] * (W / 64.0)
    phase = torch.from_numpy(rng.uniform(0, 2 * np.pi, n).astype(np.float32))[:, None, None]
    amp = torch.from_numpy(rng.uniform(0.03, 0.12, n).astype(np.float32))[:, None, None]
    wave = torch.sin(2 * np.pi * (u * torch.cos(theta) + v * torch.sin(theta)) / period + phase)
    tiles = torch.from_numpy(rng.random(n) < 0.35)[:, None, None]
    grid = ((torch.remainder(u + phase, period) < 1.0) | (torch.remainder(v + phase, period) < 1.0)).float() * 2 - 1
    pattern = torch.where(tiles, -0.5 * grid.abs() * (grid > 0), torch.sign(wave))
    lum = 1.0 + 0.18 * noise + amp * pattern
    rgb = torch.from_numpy(wall)[:, None, None, :] * lum[..., None]
    # painted shapes on the wall
    S = int(num_shapes[1])
    count = rng.integers(num_shapes[0], num_shapes[1] + 1, n)
    boxes = np.full((n, S, 4), np.nan, np.float32)
    for s in range(S):
        active = s < count
        w = rng.uniform(0.08, 0.35, n) * W
        hh = rng.uniform(0.08, 0.3, n) * H
        x1 = rng.uniform(-0.1, 1.0, n) * W - w / 2
        y1 = rng.uniform(-0.05, 0.55, n) * H - hh / 2
        disc = rng.random(n) < 0.35
        hsv = np.stack([rng.random(n), rng.uniform(0.3, 0.9, n), rng.uniform(0.25, 0.95, n)], -1)
        col = torch.tensor(np.array([colorsys.hsv_to_rgb(*c) for c in hsv], np.float32))
        X1, Y1 = torch.from_numpy(x1.astype(np.float32))[:, None, None], torch.from_numpy(y1.astype(np.float32))[:, None, None]
        Wt, Ht = torch.from_numpy(w.astype(np.float32))[:, None, None], torch.from_numpy(hh.astype(np.float32))[:, None, None]
        rect = (u >= X1) & (u < X1 + Wt) & (v >= Y1) & (v < Y1 + Ht)
        ell = ((u - X1 - Wt / 2) / (Wt / 2)) ** 2 + ((v - Y1 - Ht / 2) / (Ht / 2)) ** 2 < 1
        m = torch.where(torch.from_numpy(disc)[:, None, None], ell, rect) & torch.from_numpy(active)[:, None, None]
        shade = (1.0 + 0.08 * noise)[..., None]
        rgb = torch.where(m[..., None], col[:, None, None, :] * shade, rgb)
        boxes[active, s] = np.stack([x1, y1, x1 + w, y1 + hh], -1)[active]
    # floor: perspective tiles below the wall line
    hv = torch.from_numpy(h.astype(np.float32))[:, None, None]
    z_floor = f * hv / torch.clamp(v - cy, min=1e-3)
    x_floor = (cx - u) * z_floor / f
    size = torch.from_numpy(rng.uniform(0.4, 0.9, n).astype(np.float32))[:, None, None]
    parity = torch.remainder(torch.floor(x_floor / size) + torch.floor(z_floor / size), 2)
    floor_hsv = np.stack([rng.random(n), rng.uniform(0.05, 0.4, n), rng.uniform(0.3, 0.75, n)], -1)
    fc = torch.tensor(np.array([colorsys.hsv_to_rgb(*c) for c in floor_hsv], np.float32))
    contrast = torch.from_numpy(rng.uniform(0.06, 0.2, n).astype(np.float32))[:, None, None]
    fl = fc[:, None, None, :] * (1 + contrast * (parity * 2 - 1) + 0.1 * noise.flip(-1))[..., None]
    fog = torch.clamp(z_floor / 12.0, 0, 0.5)[..., None]
    fl = fl * (1 - fog) + 0.6 * fog
    is_floor = (v > cy) & (z_floor < torch.from_numpy(zw.astype(np.float32))[:, None, None])
    rgb = torch.where(is_floor[..., None], fl, rgb)
    wall_row = np.ceil(cy + f * h / zw - 0.5).astype(np.int64)
    return rgb.clamp(0, 1).numpy().astype(np.float32), {"shape_boxes": boxes, "wall_row": wall_row}


# ----------------------------------------------------------------------------------------------
# Annotations from the rendered depth
# ----------------------------------------------------------------------------------------------
def joint_visibility(joints3d, joints2d, depth, tolerance: float = 0.05, joint_radius=None) -> np.ndarray:
    """Which joints are seen: inside the image and not hidden behind a nearer surface.

    A joint at depth ``z`` projected to pixel ``(u, v)`` is visible when ``0 <= u < W``,
    ``0 <= v < H`` and the rendered depth at that pixel is at least ``z - r - tolerance``, where
    ``r`` is the radius of the joint's own limb (its surface lies ``r`` in front of its axis).

    Parameters
    ----------
    joints3d : ``(B, T, V, 3)`` or ``(B, T, P, V, 3)`` metres (``P`` people).
    joints2d : the same with 2 pixel coordinates.
    depth : ``(B, T, H, W)`` metres (``RenderResult.depth``).
    tolerance : float, metres.
    joint_radius : ``(V,)`` metres, default :data:`JOINT_RADIUS` (NTU-25).

    Returns ``(B, T, V)`` or ``(B, T, P, V)`` bool. Raises ``ValueError`` on mismatched shapes.
    """
    j3 = np.asarray(joints3d)
    j2 = np.asarray(joints2d)
    d = np.asarray(depth)
    H, W = d.shape[-2:]
    r = JOINT_RADIUS if joint_radius is None else np.asarray(joint_radius)
    col = np.floor(j2[..., 0]).astype(np.int64)
    row = np.floor(j2[..., 1]).astype(np.int64)
    inside = (col >= 0) & (col < W) & (row >= 0) & (row < H) & np.isfinite(j2).all(-1) & (j3[..., 2] > 0)
    cc, rr = np.clip(col, 0, W - 1), np.clip(row, 0, H - 1)
    if d.ndim != 4 or j3.shape[:2] != d.shape[:2] or j3.ndim not in (4, 5):
        raise ValueError(f"joint_visibility: joints {j3.shape} do not match depth {d.shape}")
    B, T = d.shape[:2]
    ones = (1,) * (j3.ndim - 3)
    seen = d[np.arange(B).reshape((B, 1) + ones), np.arange(T).reshape((1, T) + ones), rr, cc]
    return inside & (seen >= j3[..., 2] - r - tolerance)


def boxes_from_joints(joints2d, depth_z, camera: PinholeCamera, margin: float = 0.06, extent: float = 0.11,
                      clip: bool = True) -> np.ndarray:
    """Person boxes from projected joints: the joints' extent plus the body's thickness and a margin.

    ``box = [min u, min v, max u, max v]`` over the ``V`` joints, grown on every side by
    ``f * extent / z_mean`` pixels (the head and limb radius, ``extent`` metres) plus
    ``margin * max(box width, box height)``, then clipped to the image (if ``clip``).

    Parameters
    ----------
    joints2d : ``(..., V, 2)`` pixels; depth_z : ``(..., V)`` metres (joint depths).
    camera : PinholeCamera.

    Returns ``(..., 4)`` float32 ``(x1, y1, x2, y2)`` pixels. Every in-image joint lies inside its
    box (tested).
    """
    j = np.asarray(joints2d, np.float64)
    z = np.asarray(depth_z, np.float64)
    lo, hi = j.min(-2), j.max(-2)
    size = np.maximum(hi - lo, 0).max(-1, keepdims=True)
    pad = camera.focal * extent / np.maximum(z.mean(-1, keepdims=True), 1e-3) + margin * size
    box = np.concatenate([lo - pad, hi + pad], -1)
    if clip:
        box[..., [0, 2]] = np.clip(box[..., [0, 2]], 0, camera.width)
        box[..., [1, 3]] = np.clip(box[..., [1, 3]], 0, camera.height)
    return box.astype(np.float32)
