"""Rotations, forward kinematics and camera projection, vectorised over leading dimensions.

Conventions
-----------
- Quaternions are ``(w, x, y, z)``, unit norm, active rotations.
- Axis-angle vectors are ``axis * angle`` with the angle in radians.
- Rotation matrices act on column vectors: ``p' = R @ p``.
- All functions accept ``torch.Tensor`` or ``numpy.ndarray`` and return the same type
  (numpy inputs are computed in float64 through torch and converted back).

Sources: the standard formulas (Rodrigues; Shoemake's quaternion conversion). Forward
kinematics follows the usual recursion ``R_j = R_parent(j) r_j``, ``p_j = p_parent(j) +
R_parent(j) o_j`` (e.g. SMPL, Loper et al. 2015, Eq. 4 without skinning).
"""
from __future__ import annotations

import functools

import numpy as np
import torch

__all__ = [
    "axis_angle_to_matrix", "matrix_to_axis_angle", "quat_to_matrix", "matrix_to_quat",
    "axis_angle_to_quat", "quat_to_axis_angle", "quat_multiply", "euler_to_matrix",
    "forward_kinematics", "project_pinhole", "project_weak_perspective", "rotation_about_y",
]


def _numpy_compatible(fn):
    """Let a torch function take and return numpy arrays too."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        is_np = any(isinstance(a, np.ndarray) for a in args)
        if not is_np:
            return fn(*args, **kwargs)
        targs = [torch.from_numpy(np.array(a, dtype=np.float64)) if isinstance(a, np.ndarray) else a
                 for a in args]
        out = fn(*targs, **kwargs)
        if isinstance(out, tuple):
            return tuple(o.numpy() for o in out)
        return out.numpy()

    return wrapper


def _check_last(x, n, name):
    if x.shape[-1] != n:
        raise ValueError(f"{name}: expected last dimension {n}, got shape {tuple(x.shape)}")


def _check_matrix(R, name):
    if R.shape[-2:] != (3, 3):
        raise ValueError(f"{name}: expected (..., 3, 3), got shape {tuple(R.shape)}")


@_numpy_compatible
def axis_angle_to_matrix(aa):
    """Rodrigues' formula. ``(..., 3)`` radians -> ``(..., 3, 3)``.

    Stable at zero angle (uses the Taylor expansion of ``sin(t)/t`` and ``(1-cos t)/t^2``).
    Raises ``ValueError`` if the last dimension is not 3.
    """
    _check_last(aa, 3, "axis_angle_to_matrix")
    theta2 = (aa * aa).sum(-1, keepdim=True)
    theta = theta2.clamp_min(1e-24).sqrt()
    small = theta2 < 1e-8
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-24))
    x, y, z = aa.unbind(-1)
    zero = torch.zeros_like(x)
    K = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(aa.shape[:-1] + (3, 3))
    eye = torch.eye(3, dtype=aa.dtype, device=aa.device).expand(K.shape)
    return eye + a[..., None] * K + b[..., None] * (K @ K)


@_numpy_compatible
def quat_to_matrix(q):
    """Unit quaternion ``(..., 4)`` (w, x, y, z) -> rotation matrix ``(..., 3, 3)``.

    The quaternion is normalised first. Raises ``ValueError`` if the last dimension is not 4.
    """
    _check_last(q, 4, "quat_to_matrix")
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    w, x, y, z = q.unbind(-1)
    m = torch.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w),
        2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w),
        2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y),
    ], -1)
    return m.reshape(q.shape[:-1] + (3, 3))


@_numpy_compatible
def matrix_to_quat(R):
    """Rotation matrix ``(..., 3, 3)`` -> unit quaternion ``(..., 4)`` with ``w >= 0``.

    Shoemake's method, choosing the largest of the four candidates for stability.
    Raises ``ValueError`` on a wrong shape.
    """
    _check_matrix(R, "matrix_to_quat")
    m = R
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    # Four candidate squared magnitudes (times 4).
    cand = torch.stack([1 + m00 + m11 + m22, 1 + m00 - m11 - m22,
                        1 - m00 + m11 - m22, 1 - m00 - m11 + m22], -1).clamp_min(1e-12)
    s = cand.sqrt() * 2  # 4 * |component|
    qw = torch.stack([s[..., 0] / 4, (m[..., 2, 1] - m[..., 1, 2]) / s[..., 0],
                      (m[..., 0, 2] - m[..., 2, 0]) / s[..., 0], (m[..., 1, 0] - m[..., 0, 1]) / s[..., 0]], -1)
    qx = torch.stack([(m[..., 2, 1] - m[..., 1, 2]) / s[..., 1], s[..., 1] / 4,
                      (m[..., 0, 1] + m[..., 1, 0]) / s[..., 1], (m[..., 0, 2] + m[..., 2, 0]) / s[..., 1]], -1)
    qy = torch.stack([(m[..., 0, 2] - m[..., 2, 0]) / s[..., 2], (m[..., 0, 1] + m[..., 1, 0]) / s[..., 2],
                      s[..., 2] / 4, (m[..., 1, 2] + m[..., 2, 1]) / s[..., 2]], -1)
    qz = torch.stack([(m[..., 1, 0] - m[..., 0, 1]) / s[..., 3], (m[..., 0, 2] + m[..., 2, 0]) / s[..., 3],
                      (m[..., 1, 2] + m[..., 2, 1]) / s[..., 3], s[..., 3] / 4], -1)
    allq = torch.stack([qw, qx, qy, qz], -2)  # (..., 4 candidates, 4)
    best = cand.argmax(-1)
    q = torch.gather(allq, -2, best[..., None, None].expand(best.shape + (1, 4))).squeeze(-2)
    q = q * torch.where(q[..., :1] < 0, -1.0, 1.0).to(q.dtype)
    return q / q.norm(dim=-1, keepdim=True)


@_numpy_compatible
def axis_angle_to_quat(aa):
    """Axis-angle ``(..., 3)`` radians -> quaternion ``(..., 4)`` (w, x, y, z)."""
    _check_last(aa, 3, "axis_angle_to_quat")
    theta = aa.norm(dim=-1, keepdim=True)
    half = theta / 2
    small = theta < 1e-6
    k = torch.where(small, 0.5 - theta * theta / 48, torch.sin(half) / theta.clamp_min(1e-12))
    return torch.cat([torch.cos(half), aa * k], -1)


@_numpy_compatible
def quat_to_axis_angle(q):
    """Quaternion ``(..., 4)`` -> axis-angle ``(..., 3)`` with angle in ``[0, pi]`` radians."""
    _check_last(q, 4, "quat_to_axis_angle")
    q = q / q.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    q = q * torch.where(q[..., :1] < 0, -1.0, 1.0).to(q.dtype)
    v = q[..., 1:]
    s = v.norm(dim=-1, keepdim=True)
    angle = 2 * torch.atan2(s, q[..., :1])
    k = torch.where(s < 1e-6, 2.0 / q[..., :1].clamp_min(1e-12), angle / s.clamp_min(1e-12))
    return v * k


@_numpy_compatible
def matrix_to_axis_angle(R):
    """Rotation matrix ``(..., 3, 3)`` -> axis-angle ``(..., 3)`` radians (via quaternions)."""
    return quat_to_axis_angle(matrix_to_quat(R))


@_numpy_compatible
def quat_multiply(a, b):
    """Hamilton product ``a * b`` of quaternions ``(..., 4)``: rotate by ``b`` then by ``a``."""
    _check_last(a, 4, "quat_multiply")
    _check_last(b, 4, "quat_multiply")
    aw, ax, ay, az = a.unbind(-1)
    bw, bx, by, bz = b.unbind(-1)
    return torch.stack([aw * bw - ax * bx - ay * by - az * bz,
                        aw * bx + ax * bw + ay * bz - az * by,
                        aw * by - ax * bz + ay * bw + az * bx,
                        aw * bz + ax * by - ay * bx + az * bw], -1)


@_numpy_compatible
def euler_to_matrix(angles, order: str = "xyz"):
    """Intrinsic Euler angles ``(..., 3)`` radians -> ``(..., 3, 3)``.

    ``order="xyz"`` gives ``R = Rx(a0) @ Ry(a1) @ Rz(a2)``. Raises ``ValueError`` for an order
    that is not a permutation of ``"xyz"``.
    """
    _check_last(angles, 3, "euler_to_matrix")
    if sorted(order) != ["x", "y", "z"]:
        raise ValueError(f"euler_to_matrix: order must be a permutation of 'xyz', got {order!r}")
    out = None
    for i, ax in enumerate(order):
        aa = torch.zeros_like(angles)
        aa[..., "xyz".index(ax)] = angles[..., i]
        R = axis_angle_to_matrix(aa)
        out = R if out is None else out @ R
    return out


@_numpy_compatible
def rotation_about_y(angle):
    """Rotation about the vertical axis, ``(...,)`` radians -> ``(..., 3, 3)``."""
    zero = torch.zeros_like(angle)
    aa = torch.stack([zero, angle, zero], -1)
    return axis_angle_to_matrix(aa)


def forward_kinematics(local_rot, offsets, parents, root_translation=None, return_global=False):
    """Joint positions from local joint rotations over a kinematic tree.

    Parameters
    ----------
    local_rot : Tensor or ndarray, ``(..., V, 3, 3)``
        Rotation of every joint relative to its parent's frame (the root's is global).
    offsets : Tensor or ndarray, ``(V, 3)`` or ``(..., V, 3)``, metres
        Rest offset of every joint from its parent, in the parent's frame (the root's is its
        rest position). Broadcast against ``local_rot``'s leading dimensions.
    parents : sequence of int, length ``V``
        Parent index, ``-1`` for the root. Any joint order is accepted.
    root_translation : ``(..., 3)`` metres, optional
        Added to every joint.
    return_global : bool
        Also return global rotations ``(..., V, 3, 3)``.

    Returns
    -------
    positions ``(..., V, 3)`` in metres (and global rotations if asked).

    Raises
    ------
    ValueError
        On inconsistent joint counts or a parent list that is not a tree.

    Source: ``R_j = R_p r_j``; ``p_j = p_p + R_p o_j``.
    """
    is_np = isinstance(local_rot, np.ndarray)
    if is_np:
        local_rot = torch.from_numpy(np.array(local_rot, dtype=np.float64))
        offsets = torch.from_numpy(np.array(offsets, dtype=np.float64))
        if root_translation is not None:
            root_translation = torch.from_numpy(np.array(root_translation, dtype=np.float64))
    V = len(parents)
    if local_rot.shape[-3:] != (V, 3, 3):
        raise ValueError(f"forward_kinematics: local_rot must be (..., {V}, 3, 3), got {tuple(local_rot.shape)}")
    if offsets.shape[-2:] != (V, 3):
        raise ValueError(f"forward_kinematics: offsets must be (..., {V}, 3), got {tuple(offsets.shape)}")
    offsets = offsets.to(local_rot.dtype)
    lead = local_rot.shape[:-3]
    offsets = offsets.expand(lead + (V, 3))
    order = _topological_order(parents)
    glob_r = [None] * V
    glob_p = [None] * V
    for j in order:
        p = parents[j]
        if p < 0:
            glob_r[j] = local_rot[..., j, :, :]
            glob_p[j] = offsets[..., j, :]
        else:
            glob_r[j] = glob_r[p] @ local_rot[..., j, :, :]
            glob_p[j] = glob_p[p] + (glob_r[p] @ offsets[..., j, :, None])[..., 0]
    pos = torch.stack(glob_p, -2)
    if root_translation is not None:
        pos = pos + root_translation.to(pos.dtype)[..., None, :]
    out = (pos, torch.stack(glob_r, -3)) if return_global else pos
    if is_np:
        out = tuple(o.numpy() for o in out) if return_global else out.numpy()
    return out


@functools.lru_cache(maxsize=64)
def _topological_order_cached(parents: tuple):
    from paperlib.skeleton import tree_order

    return tree_order(parents, "forward_kinematics")


def _topological_order(parents):
    return _topological_order_cached(tuple(int(p) for p in parents))


@_numpy_compatible
def project_pinhole(points, focal, center):
    """Pinhole projection of camera-frame points.

    Parameters
    ----------
    points : ``(..., 3)`` metres, in the Kinect / NTU RGB+D camera frame: right-handed, y up,
        z along the viewing direction, x towards the image's left (``x = y cross z``).
    focal : float or ``(2,)``, pixels.
    center : ``(2,)``, pixels (principal point).

    Returns
    -------
    ``(..., 2)`` pixels ``(u, v)``, u to the right and v down the image:
    ``u = cx - f x / z``, ``v = cy - f y / z``.

    Raises ``ValueError`` if any point has ``z <= 0`` (behind the camera).
    """
    _check_last(points, 3, "project_pinhole")
    z = points[..., 2]
    if (z <= 0).any():
        raise ValueError("project_pinhole: points at or behind the camera (z <= 0)")
    f = torch.as_tensor(focal, dtype=points.dtype)
    c = torch.as_tensor(center, dtype=points.dtype)
    f = f.expand(2) if f.dim() == 0 else f
    u = c[0] - f[0] * points[..., 0] / z
    v = c[1] - f[1] * points[..., 1] / z
    return torch.stack([u, v], -1)


@_numpy_compatible
def project_weak_perspective(points, scale, translation):
    """Weak-perspective camera ``x = s * X[..., :2] + t`` (as in HMR/SMPL work).

    ``points (..., 3)``, ``scale (...,)`` or scalar, ``translation (..., 2)`` -> ``(..., 2)`` in
    the same normalised image units as ``t``.
    """
    _check_last(points, 3, "project_weak_perspective")
    s = torch.as_tensor(scale, dtype=points.dtype)
    t = torch.as_tensor(translation, dtype=points.dtype)
    if s.dim() > 0:
        s = s[..., None]
    return s * points[..., :2] + t
