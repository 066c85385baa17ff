"""The memory-bank browser of notebook 05 (Action-guided motion prediction, the paper's Fig. 5
made interactive), in the course's widget pattern: pure ``compute`` / ``render`` functions over
*recorded* arrays, wired with :class:`paperlib.viz.widgets.Explorer`.

The record (a dict, written by the notebook after training) holds:

- ``class_names`` : list of ``I`` str; ``delta_t`` : int, frames per memory item.
- ``items`` : ``{"short": [I arrays (N_i, delta_t, V, 3)], "long": [...]}``: the bank items of
  every class as joint positions (metres, in the frame :mod:`paperlib.viz.skeleton` draws).
- ``sizes`` : same keys, ``[I int arrays (N_i,)]``: the cluster size of every item.
- ``titles`` : list of ``S`` str naming the recorded test sequences.
- ``true_label`` : ``(S,)``; ``bank_label`` : ``{"predicted": (S,), "wrong": (S,)}``: the class
  whose bank was read (the classifier's prediction, or a wrong class).
- ``attention`` : ``{"predicted" | "wrong": {"short" | "long": [S arrays (P, N_b)]}}``: the
  read attention (softmax of Eq. 3) over the items of bank ``b`` at each of the ``P`` future
  steps.
- ``logits`` (optional) : like ``attention``, the scaled similarities of Eq. 3 before the softmax
  (``-inf`` allowed nowhere: only the real items are recorded). With them the temperature
  control re-reads the bank as ``softmax(logits / T)`` (``T = 1``: the model's read).
- ``pred_joints`` : ``{"predicted" | "wrong": (S, P, V, 3)}``; ``true_joints`` : ``(S, P, V, 3)``.
- ``obs_joints`` (optional) : ``(S, t_obs, V, 3)``, the observed frames; the query of the read at
  future step ``k`` is made from the ``delta_t / 2`` frames that end ``k - 1`` frames after the
  last observed one (observed, then predicted frames).

``tests/test_memory_bank_widget.py`` builds a small record and drives the controls.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import NTU25, Skeleton
from .skeleton import plot_skeleton, view_project
from .widgets import Explorer

__all__ = ["bank_compute", "bank_render", "memory_bank_browser", "architecture_figure", "key_value_figure", "dtw_figure"]

_MEMORIES = ("short", "long")
_BANKS = ("predicted", "wrong")


def _softmax(x, T):
    z = np.asarray(x, np.float64) / max(float(T), 1e-6)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def bank_compute(record: dict, action: int, memory: str, sequence: int, step: int, bank: str,
                 max_items: int = 6, item_frame: int = 0, temperature: float = 1.0) -> dict:
    """Data for one view of the browser.

    Parameters
    ----------
    record : see the module docstring.
    action : class whose bank items are shown (index into ``class_names``).
    memory : ``"short"`` or ``"long"``.
    sequence : index of the recorded test sequence.
    step : future step, 1-based (clamped to ``[1, P]``).
    bank : ``"predicted"`` (read the bank of the classifier's class) or ``"wrong"``.
    max_items : how many of the class's largest clusters to show.
    item_frame : which frame of the shown items to draw (clamped to ``[0, delta_t - 1]``): frames
        ``< delta_t / 2`` are the key half (what the query is matched with), the others the value
        half (what the read returns).
    temperature : ``T`` of ``softmax(logits / T)`` when the record has ``logits`` (else ignored).

    Returns
    -------
    dict with ``items (k, V, 3)`` (poses of the shown items at the animation frame),
    ``item_ids (k,)``, ``item_sizes (k,)``, ``frame``, ``heat (P, N_b)`` (attention of the
    sequence's read over bank ``b``), ``bank_class``, ``top (P,)`` (most-attended item per
    step), ``top_pose (V, 3)``, ``pred_pose``, ``true_pose`` (``(V, 3)`` at ``step``),
    ``step``, ``frame``/``half`` (the item frame and "key" or "value"), ``key_poses`` /
    ``value_poses`` (``(dt/2, V, 3)``, the top item's two halves), ``query_poses`` (``(dt/2, V, 3)``
    or None without ``obs_joints``), ``entropy`` (nats, of the read at ``step``), ``temperature``,
    titles and ``limits`` for a shared drawing scale.

    Raises ``ValueError`` for an unknown ``memory`` or ``bank``.
    """
    if memory not in _MEMORIES:
        raise ValueError(f"memory must be one of {_MEMORIES}, got {memory!r}")
    if bank not in _BANKS:
        raise ValueError(f"bank must be one of {_BANKS}, got {bank!r}")
    dt = int(record["delta_t"])
    half = dt // 2
    if record.get("logits") is not None:
        heat = _softmax(record["logits"][bank][memory][sequence], temperature)  # (P, N_b)
    else:
        heat = np.asarray(record["attention"][bank][memory][sequence], dtype=np.float64)  # (P, N_b)
    P = heat.shape[0]
    k = int(np.clip(step, 1, P)) - 1
    frame = int(np.clip(item_frame, 0, dt - 1))
    items = np.asarray(record["items"][memory][action])  # (N, dt, V, 3)
    sizes = np.asarray(record["sizes"][memory][action])
    order = np.argsort(-sizes, kind="stable")[:max_items]
    b = int(record["bank_label"][bank][sequence])
    top = heat.argmax(1)
    bank_items = np.asarray(record["items"][memory][b])
    top_pose = bank_items[top[k], frame]
    key_poses, value_poses = bank_items[top[k], :half], bank_items[top[k], half:]
    pred = np.asarray(record["pred_joints"][bank][sequence, k])
    true = np.asarray(record["true_joints"][sequence, k])
    query = None
    if record.get("obs_joints") is not None:
        hist = np.concatenate([np.asarray(record["obs_joints"][sequence]),
                               np.asarray(record["pred_joints"][bank][sequence])])
        end = len(record["obs_joints"][sequence]) - 1 + k  # the last frame the read at step k sees
        query = hist[np.clip(np.arange(end - half + 1, end + 1), 0, None)]
    a = np.clip(heat[k], 1e-12, None)
    entropy = float(-(heat[k] * np.log(a)).sum())
    shown = [items[order, frame].reshape(-1, 3), top_pose, pred, true, key_poses.reshape(-1, 3),
             value_poses.reshape(-1, 3)] + ([query.reshape(-1, 3)] if query is not None else [])
    shown = np.concatenate(shown)
    xy = view_project(shown)
    lo, hi = xy.min(0), xy.max(0)
    names = record["class_names"]
    return {
        "items": items[order, frame], "item_ids": order, "item_sizes": sizes[order], "num_items": len(sizes),
        "frame": frame, "half": "key" if frame < half else "value", "heat": heat, "top": top,
        "top_pose": top_pose, "key_poses": key_poses, "value_poses": value_poses, "query_poses": query,
        "entropy": entropy, "entropy_uniform": float(np.log(heat.shape[1])), "temperature": float(temperature),
        "pred_pose": pred, "true_pose": true,
        "step": k + 1, "bank_class": names[b], "true_class": names[int(record["true_label"][sequence])],
        "action": names[action], "memory": memory, "bank": bank, "title": record["titles"][sequence],
        "limits": ((lo[0] - 0.1, hi[0] + 0.1), (lo[1] - 0.1, hi[1] + 0.1)),
    }


def bank_render(data: dict, skeleton: Skeleton = NTU25):
    """A matplotlib figure of :func:`bank_compute`'s data: the class's bank items (top row),
    the read attention heatmap, and the most-attended item beside the predicted and true pose."""
    import matplotlib.pyplot as plt

    k = len(data["items"])
    ncol = max(k, 7)
    fig = plt.figure(figsize=(1.7 * ncol, 5.4))
    gs = fig.add_gridspec(2, ncol, height_ratios=(1, 1.25))
    (x0, x1), (y0, y1) = data["limits"]

    def pose_ax(ax, pose, title, color):
        poses = pose if np.ndim(pose) == 3 else [pose]
        for j, p in enumerate(poses):  # a half: its frames overlaid, the last one darkest
            plot_skeleton(ax, p, skeleton, color=color, lw=1.5, joint_size=3, alpha=0.25 + 0.75 * (j + 1) / len(poses))
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=8)

    for i in range(k):
        pose_ax(fig.add_subplot(gs[0, i]), data["items"][i],
                f"item {data['item_ids'][i]}  n={data['item_sizes'][i]}", "#1f77b4")
    fig.text(0.01, 0.97, f"{data['action']}: {data['memory']}-term bank, {data['num_items']} items "
             f"(largest {k} shown, item frame {data['frame'] + 1}: {data['half']} half)", fontsize=9)
    half = max(ncol - 5, 1)
    ax = fig.add_subplot(gs[1, :half])
    im = ax.imshow(data["heat"], aspect="auto", cmap="viridis", origin="lower",
                   extent=(-0.5, data["heat"].shape[1] - 0.5, 0.5, data["heat"].shape[0] + 0.5))
    ax.axhline(data["step"], color="w", lw=1, ls="--")
    ax.plot(data["top"][data["step"] - 1], data["step"], "r*", ms=9)
    ax.set_xlabel(f"items of the '{data['bank_class']}' bank ({data['bank']} class)", fontsize=8)
    ax.set_ylabel("future step", fontsize=8)
    ax.set_title(f"{data['title']}: read (T={data['temperature']:.2g}), H={data['entropy']:.2f} of "
                 f"{data['entropy_uniform']:.2f} nats", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.04)
    right = [c for c in range(half, ncol)][-5:]
    top = data["top"][data["step"] - 1]
    ax_q = fig.add_subplot(gs[1, right[0]])
    if data["query_poses"] is not None:
        pose_ax(ax_q, data["query_poses"], "query: last frames", "#7f7f7f")
    else:
        ax_q.set_axis_off()
        ax_q.set_title("query: not recorded", fontsize=8)
    pose_ax(fig.add_subplot(gs[1, right[1]]), data["key_poses"], f"item {top}: key half", "#ff7f0e")
    pose_ax(fig.add_subplot(gs[1, right[2]]), data["value_poses"], f"item {top}: value half", "#8c564b")
    pose_ax(fig.add_subplot(gs[1, right[3]]), data["pred_pose"], f"predicted, step {data['step']}", "#d62728")
    pose_ax(fig.add_subplot(gs[1, right[4]]), data["true_pose"], f"true ({data['true_class']})", "#2ca02c")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def memory_bank_browser(record: dict, skeleton: Skeleton = NTU25, action: int = 0, sequence: int = 0,
                        step: int = 1, memory: str = "short", bank: str = "predicted", max_items: int = 6,
                        item_frame: int = 0, temperature: float = 1.0):
    """The browser widget (an :class:`~paperlib.viz.widgets.Explorer`).

    Controls: ``action`` (dropdown of classes), ``memory`` (short / long), ``sequence``
    (dropdown of recorded test sequences), ``step`` (future step slider), ``bank`` (toggle: the
    predicted class's bank or a wrong class's), ``item_frame`` (which frame of the items: key
    half, then value half), ``temperature`` (``T`` of ``softmax(logits / T)``, log slider).
    """
    import ipywidgets as w

    P = np.asarray(record["true_joints"]).shape[1]
    controls = {
        "action": w.Dropdown(options=[(n, i) for i, n in enumerate(record["class_names"])], value=action,
                             description="action"),
        "memory": w.ToggleButtons(options=list(_MEMORIES), value=memory, description="memory"),
        "sequence": w.Dropdown(options=[(t, i) for i, t in enumerate(record["titles"])], value=sequence,
                               description="test seq."),
        "step": w.IntSlider(value=step, min=1, max=P, description="future step"),
        "bank": w.ToggleButtons(options=list(_BANKS), value=bank, description="bank of"),
        "item_frame": w.IntSlider(value=item_frame, min=0, max=int(record["delta_t"]) - 1, description="item frame"),
        "temperature": w.FloatLogSlider(value=temperature, base=10, min=-1, max=1, step=0.1,
                                        description="temperature"),
    }
    return Explorer(controls,
                    lambda action, memory, sequence, step, bank, item_frame, temperature: bank_compute(
                        record, action, memory, sequence, step, bank, max_items, item_frame, temperature),
                    lambda d: bank_render(d, skeleton), title="Action memory bank browser")


def architecture_figure():
    """The paper's Figs. 2-3 as a block diagram (matplotlib): the observed ``(theta, beta, Pi)``
    go through their encoders, LSTMs and decoders; only ``theta``'s branch reads the action
    memory bank picked by the action classifier, once when predicting (Eqs. 3-4, the LSTM input)
    and once when decoding (Eq. 5); the frozen classifier ``phi`` compares the predicted and true
    futures (``L_action``, Eq. 10). Returns the ``Figure``."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(11, 4.2))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 4.4)
    ax.set_axis_off()

    def box(x, y, w, h, text, color):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.04", fc=color, ec="0.3", lw=1))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=8.5)

    def arrow(x0, y0, x1, y1, text="", color="0.25"):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops=dict(arrowstyle="->", color=color, lw=1.2))
        if text:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.08, text, ha="center", fontsize=7.5, color=color)

    for y, name in ((3.2, r"$\theta_{1:t}$"), (1.9, r"$\beta_{1:t}$"), (0.9, r"$\Pi_{1:t}$")):
        box(0.1, y, 1.0, 0.5, "observed\n" + name, "#eeeeee")
        box(1.5, y, 1.2, 0.5, "encoder\n3 x FC-ReLU-BN", "#c6dbef")
        box(4.6, y, 1.1, 0.5, "LSTM", "#fdd0a2")
        box(7.6, y, 1.3, 0.5, "decoder\n3 x FC-ReLU-BN", "#c6dbef")
        box(9.5, y, 1.3, 0.5, "predicted\n" + name.replace("1:t", "t+1:T"), "#eeeeee")
        arrow(1.1, y + 0.25, 1.5, y + 0.25)
        arrow(2.7, y + 0.25, 4.6, y + 0.25, r"$\mathbf{B}$")
        arrow(5.7, y + 0.25, 7.6, y + 0.25, r"$\hat{\mathbf{B}}$")
        arrow(8.9, y + 0.25, 9.5, y + 0.25)
    box(3.0, 3.85, 1.6, 0.45, "action classifier\n(picks bank i)", "#e5f5e0")
    box(5.0, 3.85, 2.3, 0.45, r"action memory bank $\mathcal{M}_i$ (Eq. 2)", "#fcbba1")
    arrow(4.6, 4.07, 5.0, 4.07)
    arrow(5.6, 3.85, 5.2, 3.72, "read (Eqs. 3-4)", "#cb181d")
    arrow(6.9, 3.85, 8.0, 3.72, "read (Eq. 5)", "#cb181d")
    box(9.5, 2.55, 1.3, 0.45, r"frozen $\phi$: $L_{action}$", "#e5f5e0")
    arrow(10.15, 3.2, 10.15, 3.0)
    ax.text(0.1, 0.3, r"stage 1: encoders + decoders ($L_{parameter}$); stage 2: everything "
            r"($L_{pred} + L_{prior} + L_{action}$, Eqs. 6-10). Only $\theta$ reads the bank.", fontsize=8)
    fig.tight_layout()
    return fig


def key_value_figure(item_joints, delta_t: int, skeleton: Skeleton = NTU25, title: str = ""):
    """One bank item ``(delta_t, V, 3)`` as a strip of skeletons, its former half (the key,
    ``K = W_k S^f``) in orange and its latter half (the value, ``V = W_v S^l``) in brown: a read
    matches the recent motion with the former half and returns what followed, the latter half.
    Returns the ``Figure``."""
    import matplotlib.pyplot as plt

    X = np.asarray(item_joints)
    half = delta_t // 2
    xy = view_project(X.reshape(-1, 3))
    lo, hi = xy.min(0) - 0.1, xy.max(0) + 0.1
    fig, axes = plt.subplots(1, delta_t, figsize=(1.3 * delta_t, 2.3))
    for f, ax in enumerate(axes):
        plot_skeleton(ax, X[f], skeleton, color="#ff7f0e" if f < half else "#8c564b", lw=1.5, joint_size=3)
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(("key " if f < half else "value ") + f"frame {f + 1}", fontsize=8)
    fig.suptitle(title or f"one memory item: key half (frames 1-{half}), value half (frames {half + 1}-{delta_t})",
                 fontsize=9)
    fig.tight_layout()
    return fig


def dtw_figure(cost, path, title: str = ""):
    """A DTW cost matrix ``(P_pred, P_true)`` (mm) with its optimal path (a list of ``(i, j)``)
    and the diagonal (the frame-by-frame comparison). Returns the ``Figure``."""
    import matplotlib.pyplot as plt

    c = np.asarray(cost)
    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    im = ax.imshow(c, origin="lower", cmap="magma_r", aspect="auto")
    p = np.asarray(path)
    ax.plot(p[:, 1], p[:, 0], "c.-", lw=1.5, ms=4, label="DTW path")
    ax.plot([0, c.shape[1] - 1], [0, c.shape[0] - 1], "w--", lw=1, label="frame by frame")
    ax.set_xlabel("true future frame")
    ax.set_ylabel("predicted future frame")
    ax.set_title(title or "PA-MPJPE cost (mm) and the DTW path", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig
