"""The skeleton-sequence player: clip selector, frame slider, view angle (widget pattern)."""
from __future__ import annotations

import numpy as np

from ..skeleton import NTU25, Skeleton
from .skeleton import plot_skeleton, view_project
from .widgets import Explorer

__all__ = ["player_compute", "player_render", "skeleton_player"]


def player_compute(sequences, titles, clip: int, frame: int, azim: float, elev: float = 10.0, trail: int = 8,
                   skeleton: Skeleton = NTU25):
    """Data for one view of the player.

    Parameters
    ----------
    sequences : list of ``(M, T, V, 3)`` or ``(T, V, 3)`` arrays, metres (camera frame).
    titles : list of str.
    clip, frame : indices (the frame is clamped to the clip's non-empty frames).
    azim, elev : view angles, degrees.
    trail : how many past frames of the end-effector paths to return.

    Returns a dict: ``pose (M, V, 3)``, ``xy (M, V, 2)`` the projected pose, ``trail_xy
    (M, trail, E, 2)`` paths of the hands and feet, ``limits ((x0, x1), (y0, y1))``, ``frame``,
    ``num_frames``, ``title``, ``azim``, ``elev``.
    """
    seq = np.asarray(sequences[clip], dtype=np.float64)
    if seq.ndim == 3:
        seq = seq[None]
    nonzero = np.flatnonzero(np.abs(seq).sum(axis=(0, 2, 3)) > 0)
    T = int(nonzero[-1]) + 1 if nonzero.size else seq.shape[1]
    f = int(np.clip(frame, 0, T - 1))
    ends = [skeleton.index(n) for n in ("hand_left", "hand_right", "foot_left", "foot_right")] \
        if skeleton is NTU25 else list(range(min(4, skeleton.num_joints)))
    t0 = max(0, f - trail + 1)
    pts = view_project(seq[:, :T][np.abs(seq[:, :T]).sum(-1) > 0], elev, azim)
    lo, hi = pts.min(0) - 0.15, pts.max(0) + 0.15
    return {
        "pose": seq[:, f], "xy": view_project(seq[:, f], elev, azim),
        "trail_xy": view_project(seq[:, t0:f + 1][:, :, ends], elev, azim),
        "limits": ((lo[0], hi[0]), (lo[1], hi[1])), "frame": f, "num_frames": T,
        "title": titles[clip], "azim": azim, "elev": elev,
    }


def player_render(data, skeleton: Skeleton = NTU25):
    """A matplotlib figure of :func:`player_compute`'s data."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4, 4))
    plot_skeleton(ax, data["pose"], skeleton, elev=data["elev"], azim=data["azim"])
    for m in range(data["trail_xy"].shape[0]):
        if np.any(data["pose"][m]):
            for e in range(data["trail_xy"].shape[2]):
                ax.plot(data["trail_xy"][m, :, e, 0], data["trail_xy"][m, :, e, 1], ":", color="grey", lw=1)
    ax.set_xlim(*data["limits"][0])
    ax.set_ylim(*data["limits"][1])
    ax.set_title(f"{data['title']}  frame {data['frame'] + 1}/{data['num_frames']}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def skeleton_player(sequences, titles, skeleton: Skeleton = NTU25, clip: int = 0, frame: int = 0, azim: float = 0.0):
    """The skeleton-sequence player widget (an :class:`~paperlib.viz.widgets.Explorer`).

    Controls: ``clip`` (dropdown of ``titles``), ``frame`` (slider), ``azim`` (view angle).
    """
    import ipywidgets as w

    if len(sequences) != len(titles):
        raise ValueError(f"skeleton_player: {len(sequences)} sequences but {len(titles)} titles")
    T = max(np.asarray(s).shape[-3] for s in sequences)
    controls = {
        "clip": w.Dropdown(options=[(t, i) for i, t in enumerate(titles)], value=clip, description="clip"),
        "frame": w.IntSlider(value=frame, min=0, max=T - 1, description="frame"),
        "azim": w.FloatSlider(value=azim, min=-180, max=180, step=15, description="view (deg)"),
    }
    return Explorer(controls,
                    lambda clip, frame, azim: player_compute(sequences, titles, clip, frame, azim, skeleton=skeleton),
                    lambda d: player_render(d, skeleton), title="Skeleton player")
