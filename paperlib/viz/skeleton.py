"""Skeleton figures: matplotlib frames and grids, and a plotly 3D animation.

All functions take joints in metres in the NTU / Kinect camera frame (y up, z depth, x towards
the image's left) unless stated otherwise, and a :class:`paperlib.skeleton.Skeleton`.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import NTU25, Skeleton

__all__ = ["view_project", "plot_skeleton", "plot_sequence_grid", "skeleton_animation", "BODY_COLORS"]

BODY_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def view_project(joints: np.ndarray, elev: float = 10.0, azim: float = 0.0) -> np.ndarray:
    """Orthographic view of camera-frame joints ``(..., 3)`` metres -> ``(..., 2)`` metres.

    ``azim`` (degrees) turns the viewer about the vertical axis and ``elev`` (degrees) tilts it
    down; ``azim = elev = 0`` looks from the camera, with image x to the right (``-x`` of the
    Kinect frame) and y up.
    """
    j = np.asarray(joints, dtype=np.float64)
    a, e = np.deg2rad(azim), np.deg2rad(elev)
    x, y, z = -j[..., 0], j[..., 1], j[..., 2]
    xr = np.cos(a) * x - np.sin(a) * z
    zr = np.sin(a) * x + np.cos(a) * z
    yr = np.cos(e) * y - np.sin(e) * zr
    return np.stack([xr, yr], -1)


def plot_skeleton(ax, joints, skeleton: Skeleton = NTU25, color=None, elev=10.0, azim=0.0,
                  lw=2.0, joint_size=6, alpha=1.0, label=None):
    """Draw one pose on a matplotlib axis.

    Parameters
    ----------
    ax : matplotlib Axes
    joints : ``(V, 3)`` metres, or ``(M, V, 3)`` for several bodies (all-zero bodies skipped).
    skeleton : the joint layout (its bones are drawn).
    color : a colour, or None for one colour per body.
    elev, azim : view angles in degrees (see :func:`view_project`).

    Returns the list of artists. Raises ``ValueError`` if the joint count does not match.
    """
    j = np.asarray(joints)
    if j.ndim == 2:
        j = j[None]
    if j.shape[-2] != skeleton.num_joints or j.shape[-1] != 3:
        raise ValueError(f"plot_skeleton: expected (..., {skeleton.num_joints}, 3), got {j.shape}")
    artists = []
    for m, body in enumerate(j):
        if not np.any(body):
            continue
        p = view_project(body, elev, azim)
        c = color or BODY_COLORS[m % len(BODY_COLORS)]
        for child, parent in skeleton.bones:
            artists += ax.plot(p[[child, parent], 0], p[[child, parent], 1], "-", color=c, lw=lw, alpha=alpha)
        artists.append(ax.scatter(p[:, 0], p[:, 1], s=joint_size, color=c, alpha=alpha,
                                  label=label if m == 0 else None, zorder=3))
    ax.set_aspect("equal")
    return artists


def plot_sequence_grid(sequences, titles=None, frames=None, skeleton: Skeleton = NTU25, elev=10.0, azim=0.0,
                       cell=1.6, fade=True):
    """A grid of skeleton sequences: one row per sequence, one column per selected frame.

    Parameters
    ----------
    sequences : ``(S, M, T, V, 3)`` or ``(S, T, V, 3)`` metres.
    titles : S row titles (e.g. class names).
    frames : frame indices to show (default: 6 evenly spaced over the non-zero frames).

    Returns the matplotlib Figure.
    """
    import matplotlib.pyplot as plt

    seq = np.asarray(sequences)
    if seq.ndim == 4:
        seq = seq[:, None]
    S, M, T = seq.shape[:3]
    if frames is None:
        valid = max(int((np.abs(seq).sum(axis=(1, 3, 4)) > 0).sum(1).min()), 1)
        frames = np.linspace(0, valid - 1, 6).round().astype(int)
    frames = list(frames)
    fig, axes = plt.subplots(S, len(frames), figsize=(cell * len(frames), cell * S), squeeze=False)
    all_xy = view_project(seq[:, :, frames][np.abs(seq[:, :, frames]).sum(-1) > 0], elev, azim)
    lo, hi = all_xy.min(0) - 0.1, all_xy.max(0) + 0.1
    for s in range(S):
        for k, t in enumerate(frames):
            ax = axes[s, k]
            plot_skeleton(ax, seq[s, :, t], skeleton, elev=elev, azim=azim, lw=1.5, joint_size=3)
            ax.set_xlim(lo[0], hi[0])
            ax.set_ylim(lo[1], hi[1])
            ax.set_xticks([])
            ax.set_yticks([])
            if s == 0:
                ax.set_title(f"t={t}", fontsize=8)
            if k == 0 and titles is not None:
                ax.set_ylabel(titles[s], fontsize=8)
    fig.tight_layout()
    return fig


def skeleton_animation(sequence, skeleton: Skeleton = NTU25, title: str = "", stride: int = 1):
    """A plotly 3D animation of one sequence (a play button and a frame slider).

    Parameters
    ----------
    sequence : ``(T, V, 3)`` or ``(M, T, V, 3)`` metres (camera frame; all-zero frames dropped).
    stride : keep every ``stride``-th frame.

    Returns a ``plotly.graph_objects.Figure``. The vertical axis is y (drawn as plotly's z).
    """
    import plotly.graph_objects as go

    seq = np.asarray(sequence, dtype=np.float64)
    if seq.ndim == 3:
        seq = seq[None]
    if seq.shape[-2] != skeleton.num_joints:
        raise ValueError(f"skeleton_animation: expected {skeleton.num_joints} joints, got {seq.shape}")
    T = seq.shape[1]
    keep = [t for t in range(0, T, stride) if np.any(seq[:, t])]

    def traces(t):
        out = []
        for m in range(seq.shape[0]):
            body = seq[m, t]
            if not np.any(body):
                continue
            xs, ys, zs = [], [], []
            for c, p in skeleton.bones:
                xs += [-body[c, 0], -body[p, 0], None]
                ys += [body[c, 2], body[p, 2], None]
                zs += [body[c, 1], body[p, 1], None]
            out.append(go.Scatter3d(x=xs, y=ys, z=zs, mode="lines+markers", name=f"body {m}",
                                    line=dict(color=BODY_COLORS[m % 4], width=5), marker=dict(size=2)))
        return out

    pts = seq[:, keep][np.abs(seq[:, keep]).sum(-1) > 0]
    lo, hi = pts.min(0), pts.max(0)
    frames = [go.Frame(data=traces(t), name=str(t)) for t in keep]
    fig = go.Figure(data=traces(keep[0]), frames=frames)
    steps = [dict(method="animate", label=str(t), args=[[str(t)], dict(mode="immediate", frame=dict(duration=0))])
             for t in keep]
    fig.update_layout(
        title=title, height=420, margin=dict(l=0, r=0, t=30, b=0), showlegend=False,
        scene=dict(xaxis=dict(range=[-hi[0] - 0.2, -lo[0] + 0.2], title="x"),
                   yaxis=dict(range=[lo[2] - 0.3, hi[2] + 0.3], title="depth"),
                   zaxis=dict(range=[lo[1] - 0.1, hi[1] + 0.1], title="up"), aspectmode="data"),
        updatemenus=[dict(type="buttons", buttons=[dict(label="play", method="animate",
                                                        args=[None, dict(frame=dict(duration=40), fromcurrent=True)])])],
        sliders=[dict(steps=steps, currentvalue=dict(prefix="frame "))],
    )
    return fig
