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
- ``pred_joints`` : ``{"predicted" | "wrong": (S, P, V, 3)}``; ``true_joints`` : ``(S, P, V, 3)``.

``tests/test_memory_bank_widget.py`` builds a small record and drives the controls.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import NTU25, Skeleton
from .skeleton import plot_skeleton, view_project
from .widgets import Explorer

__all__ = ["bank_compute", "bank_render", "memory_bank_browser"]

_MEMORIES = ("short", "long")
_BANKS = ("predicted", "wrong")


def bank_compute(record: dict, action: int, memory: str, sequence: int, step: int, bank: str,
                 max_items: int = 6) -> dict:
    """Data for one view of the browser.

    Parameters
    ----------
    record : see the module docstring.
    action : class whose bank items are shown (index into ``class_names``).
    memory : ``"short"`` or ``"long"``.
    sequence : index of the recorded test sequence.
    step : future step, 1-based (clamped to ``[1, P]``); it also drives the animation: the bank
        items show their frame ``(step - 1) mod delta_t``.
    bank : ``"predicted"`` (read the bank of the classifier's class) or ``"wrong"``.
    max_items : how many of the class's largest clusters to show.

    Returns
    -------
    dict with ``items (k, V, 3)`` (poses of the shown items at the animation frame),
    ``item_ids (k,)``, ``item_sizes (k,)``, ``frame``, ``heat (P, N_b)`` (attention of the
    sequence's read over bank ``b``), ``bank_class``, ``top (P,)`` (most-attended item per
    step), ``top_pose (V, 3)``, ``pred_pose``, ``true_pose`` (``(V, 3)`` at ``step``),
    ``step``, titles and ``limits`` for a shared drawing scale.

    Raises ``ValueError`` for an unknown ``memory`` or ``bank``.
    """
    if memory not in _MEMORIES:
        raise ValueError(f"memory must be one of {_MEMORIES}, got {memory!r}")
    if bank not in _BANKS:
        raise ValueError(f"bank must be one of {_BANKS}, got {bank!r}")
    dt = int(record["delta_t"])
    heat = np.asarray(record["attention"][bank][memory][sequence], dtype=np.float64)  # (P, N_b)
    P = heat.shape[0]
    k = int(np.clip(step, 1, P)) - 1
    frame = k % dt
    items = np.asarray(record["items"][memory][action])  # (N, dt, V, 3)
    sizes = np.asarray(record["sizes"][memory][action])
    order = np.argsort(-sizes, kind="stable")[:max_items]
    b = int(record["bank_label"][bank][sequence])
    top = heat.argmax(1)
    bank_items = np.asarray(record["items"][memory][b])
    top_pose = bank_items[top[k], frame]
    pred = np.asarray(record["pred_joints"][bank][sequence, k])
    true = np.asarray(record["true_joints"][sequence, k])
    shown = np.concatenate([items[order, frame].reshape(-1, 3), top_pose, pred, true])
    xy = view_project(shown)
    lo, hi = xy.min(0), xy.max(0)
    names = record["class_names"]
    return {
        "items": items[order, frame], "item_ids": order, "item_sizes": sizes[order], "num_items": len(sizes),
        "frame": frame, "heat": heat, "top": top, "top_pose": top_pose, "pred_pose": pred, "true_pose": true,
        "step": k + 1, "bank_class": names[b], "true_class": names[int(record["true_label"][sequence])],
        "action": names[action], "memory": memory, "bank": bank, "title": record["titles"][sequence],
        "limits": ((lo[0] - 0.1, hi[0] + 0.1), (lo[1] - 0.1, hi[1] + 0.1)),
    }


def bank_render(data: dict, skeleton: Skeleton = NTU25):
    """A matplotlib figure of :func:`bank_compute`'s data: the class's bank items (top row),
    the read attention heatmap, and the most-attended item beside the predicted and true pose."""
    import matplotlib.pyplot as plt

    k = len(data["items"])
    ncol = max(k, 4)
    fig = plt.figure(figsize=(1.7 * ncol, 5.4))
    gs = fig.add_gridspec(2, ncol, height_ratios=(1, 1.25))
    (x0, x1), (y0, y1) = data["limits"]

    def pose_ax(ax, pose, title, color):
        plot_skeleton(ax, pose, skeleton, color=color, lw=1.5, joint_size=3)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title(title, fontsize=8)

    for i in range(k):
        pose_ax(fig.add_subplot(gs[0, i]), data["items"][i],
                f"item {data['item_ids'][i]}  n={data['item_sizes'][i]}", "#1f77b4")
    fig.text(0.01, 0.97, f"{data['action']}: {data['memory']}-term bank, {data['num_items']} items "
             f"(largest {k} shown, frame {data['frame'] + 1})", fontsize=9)
    half = max(ncol - 3, 1)
    ax = fig.add_subplot(gs[1, :half])
    im = ax.imshow(data["heat"], aspect="auto", cmap="viridis", origin="lower",
                   extent=(-0.5, data["heat"].shape[1] - 0.5, 0.5, data["heat"].shape[0] + 0.5))
    ax.axhline(data["step"], color="w", lw=1, ls="--")
    ax.plot(data["top"][data["step"] - 1], data["step"], "r*", ms=9)
    ax.set_xlabel(f"items of the '{data['bank_class']}' bank ({data['bank']} class)", fontsize=8)
    ax.set_ylabel("future step", fontsize=8)
    ax.set_title(f"{data['title']}: read attention", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.04)
    right = [c for c in range(half, ncol)][-3:]
    pose_ax(fig.add_subplot(gs[1, right[0]]), data["top_pose"],
            f"top item {data['top'][data['step'] - 1]}", "#ff7f0e")
    pose_ax(fig.add_subplot(gs[1, right[1]]), data["pred_pose"], f"predicted, step {data['step']}", "#d62728")
    pose_ax(fig.add_subplot(gs[1, right[2]]), data["true_pose"], f"true ({data['true_class']})", "#2ca02c")
    fig.tight_layout(rect=(0, 0, 1, 0.95))
    return fig


def memory_bank_browser(record: dict, skeleton: Skeleton = NTU25, action: int = 0, sequence: int = 0,
                        step: int = 1, memory: str = "short", bank: str = "predicted", max_items: int = 6):
    """The browser widget (an :class:`~paperlib.viz.widgets.Explorer`).

    Controls: ``action`` (dropdown of classes), ``memory`` (short / long), ``sequence``
    (dropdown of recorded test sequences), ``step`` (future step slider, which also animates
    the items), ``bank`` (toggle: the predicted class's bank or a wrong class's).
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
    }
    return Explorer(controls,
                    lambda action, memory, sequence, step, bank: bank_compute(record, action, memory, sequence,
                                                                              step, bank, max_items),
                    lambda d: bank_render(d, skeleton), title="Action memory bank browser")
