"""The two explorers of notebook 02 (UPS, Unified Pose Sequence modeling, CVPR 2023), in the
course's widget pattern: pure ``compute`` / ``render`` functions over *recorded* arrays, wired
with :class:`paperlib.viz.widgets.Explorer`. Nothing here runs a model.

Routing explorer (the paper's Fig. 4, made interactive)
--------------------------------------------------------
The record (a dict written by the notebook while it trains) holds:

- ``task_names`` : list of ``M`` str.
- ``steps`` : ``(S,)`` int, the training iteration of every snapshot (increasing).
- ``probs`` : ``(S, M, L, H)`` float, the block-selection probabilities
  ``softmax_h(B_{l,h} . tau_m)`` (Eqs. 1-2 without the Gumbel noise) of task ``m`` in layer
  ``l`` at each snapshot.

Views: ``"routes"`` (per layer, a task x block heatmap of the probabilities with the selected
block framed, and the history of ``p(block)`` up to the chosen step) and ``"sharing"`` (per
layer, the ``M x M`` probability that two tasks draw the same block, ``sum_h p_ih p_jh``; its
diagonal is a task's own certainty).

Decoding step-through
---------------------
The record holds ``vocab`` (the ``|V|`` text prompts of the unified vocabulary) and ``tasks``:
``{task name: {...}}`` with, per recorded test sample ``s`` and decoding step ``k``:

- ``tokens`` : ``(S, K)`` int, the greedy output (``-1`` after the end-of-task token).
- ``topk_ids``, ``topk_probs`` : ``(S, K, k)``, the top-k vocabulary entries of step ``k``.
- ``target`` : ``(S, K_t)`` int, the ground-truth token sequence.
- ``titles`` : ``S`` str.
- pose tasks only: ``coords`` ``(S, K)`` float, the de-quantised coordinate of every generated
  token (NaN where the token is not a coordinate bin), ``gt`` ``(S, J, 3)`` metres (the root
  joint first, at the origin), and ``skeleton`` (a :data:`paperlib.skeleton.SKELETONS` key).
  Token ``k`` fills axis ``k mod 3`` of joint ``1 + k // 3`` (the root is not predicted).

``tests/test_ups_widgets.py`` builds small records and drives the controls.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import get_skeleton
from .widgets import Explorer

__all__ = ["routing_compute", "routing_render", "routing_explorer",
           "decoding_compute", "decoding_render", "decoding_explorer"]

_VIEWS = ("routes", "sharing")


# ------------------------------------------------------------------------------ routing explorer
def routing_compute(record: dict, step: int, view: str = "routes") -> dict:
    """Data for one view of the routing explorer.

    Parameters
    ----------
    record : see the module docstring.
    step : index of the snapshot (clamped to ``[0, S - 1]``), not the training iteration.
    view : ``"routes"`` or ``"sharing"``.

    Returns
    -------
    dict with ``probs (M, L, H)`` at the snapshot, ``choice (M, L)`` (the block each task
    selects at inference, the argmax), ``share (L, M, M)`` (``sum_h p_ih p_jh``),
    ``same_block (L, M, M)`` bool (both tasks select the same block), ``history (s + 1, M, L, H)``
    and ``iters (s + 1,)`` up to the snapshot, ``iteration``, ``index``, ``task_names``, ``view``.

    Raises ``ValueError`` for an unknown view or a ``probs`` array that is not 4-D.
    """
    if view not in _VIEWS:
        raise ValueError(f"view must be one of {_VIEWS}, got {view!r}")
    probs = np.asarray(record["probs"], dtype=np.float64)
    if probs.ndim != 4:
        raise ValueError(f"record['probs'] must be (S, M, L, H), got shape {probs.shape}")
    S = probs.shape[0]
    s = int(np.clip(step, 0, S - 1))
    p = probs[s]  # (M, L, H)
    choice = p.argmax(-1)  # (M, L)
    share = np.einsum("ilh,jlh->lij", p, p)
    same = choice.T[:, :, None] == choice.T[:, None, :]  # (L, M, M)
    return {"probs": p, "choice": choice, "share": share, "same_block": same,
            "history": probs[: s + 1], "iters": np.asarray(record["steps"])[: s + 1],
            "iteration": int(np.asarray(record["steps"])[s]), "index": s,
            "task_names": list(record["task_names"]), "view": view}


def routing_render(data: dict):
    """A matplotlib figure of :func:`routing_compute`'s data: one column per encoder layer."""
    import matplotlib.pyplot as plt

    M, L, H = data["probs"].shape
    names = data["task_names"]
    fig, axes = plt.subplots(2 if data["view"] == "routes" else 1, L, figsize=(3.3 * L, 5.6 if data["view"] == "routes" else 3.1),
                             squeeze=False)
    for l in range(L):
        ax = axes[0, l]
        if data["view"] == "routes":
            mat = data["probs"][:, l, :]
            ax.imshow(mat, vmin=0, vmax=1, cmap="Blues", aspect="auto")
            for m in range(M):
                for h in range(H):
                    ax.text(h, m, f"{mat[m, h]:.2f}", ha="center", va="center", fontsize=8,
                            color="w" if mat[m, h] > 0.6 else "k")
                c = data["choice"][m, l]
                ax.add_patch(plt.Rectangle((c - 0.5, m - 0.5), 1, 1, fill=False, ec="#d62728", lw=2))
            ax.set_xticks(range(H), [f"block {h}" for h in range(H)], fontsize=8)
            ax.set_title(f"layer {l}: p(block | task)", fontsize=9)
            hx = axes[1, l]
            for m in range(M):
                hx.plot(data["iters"], data["history"][:, m, l, -1], label=names[m], lw=1.5)
            hx.set_ylim(-0.05, 1.05)
            hx.set_xlabel("training iteration", fontsize=8)
            hx.set_ylabel(f"p(block {H - 1})", fontsize=8)
            hx.axvline(data["iteration"], color="k", lw=0.8, ls="--")
            if l == 0:
                hx.legend(fontsize=7)
        else:
            mat = data["share"][l]
            ax.imshow(mat, vmin=0, vmax=1, cmap="Greens")
            for i in range(M):
                for j in range(M):
                    ax.text(j, i, f"{mat[i, j]:.2f}" + ("*" if data["same_block"][l, i, j] else ""),
                            ha="center", va="center", fontsize=8, color="w" if mat[i, j] > 0.6 else "k")
            ax.set_xticks(range(M), names, rotation=45, fontsize=8)
            ax.set_title(f"layer {l}: p(same block)", fontsize=9)
        ax.set_yticks(range(M), names, fontsize=8)
    fig.suptitle(f"dynamic routing at iteration {data['iteration']}"
                 + ("  (* = same block at inference)" if data["view"] == "sharing" else ""), fontsize=10)
    fig.tight_layout()
    return fig


def routing_explorer(record: dict, step: int | None = None, view: str = "routes"):
    """The routing explorer (an :class:`~paperlib.viz.widgets.Explorer`).

    Controls: ``step`` (slider over the snapshots; default the last) and ``view``
    (``routes`` / ``sharing``).
    """
    import ipywidgets as w

    S = np.asarray(record["probs"]).shape[0]
    controls = {
        "step": w.IntSlider(value=S - 1 if step is None else step, min=0, max=S - 1, description="snapshot"),
        "view": w.ToggleButtons(options=list(_VIEWS), value=view, description="view"),
    }
    return Explorer(controls, lambda step, view: routing_compute(record, step, view), routing_render,
                    title="UPS dynamic routing explorer")


# ------------------------------------------------------------------------ decoding step-through
def _assemble(coords, upto, num_joints):
    """Joints ``(num_joints, 3)`` from de-quantised coordinate tokens ``coords[:upto]`` (root at 0,
    unknown coordinates NaN)."""
    out = np.full((num_joints, 3), np.nan)
    out[0] = 0.0
    c = np.asarray(coords, dtype=np.float64)[:upto]
    n = min(len(c), 3 * (num_joints - 1))
    k = np.arange(n)
    out[1 + k // 3, k % 3] = c[:n]
    return out


def decoding_compute(record: dict, task: str, sample: int, step: int) -> dict:
    """Data for one view of the decoding step-through.

    Parameters
    ----------
    record : see the module docstring.
    task : a key of ``record["tasks"]``.
    sample : recorded test sample (clamped).
    step : decoding step, 0-based, clamped to the steps that sample generated.

    Returns
    -------
    dict with ``step``, ``num_steps``, ``token`` (generated at ``step``), ``target_token`` (or
    -1 past the target's end), ``topk_ids``, ``topk_probs``, ``topk_text``, ``sequence`` (the
    prompts generated up to ``step``), ``correct`` (bool per generated token, against the
    target), ``title``, ``task``; for pose tasks also ``pred_joints`` and ``gt_joints``
    ``(J, 3)`` (joints not complete yet are NaN), ``joints_done`` and ``skeleton``.

    Raises ``ValueError`` for an unknown task.
    """
    if task not in record["tasks"]:
        raise ValueError(f"task must be one of {list(record['tasks'])}, got {task!r}")
    rec = record["tasks"][task]
    vocab = record["vocab"]
    tokens = np.asarray(rec["tokens"])
    s = int(np.clip(sample, 0, tokens.shape[0] - 1))
    seq = tokens[s]
    n = int((seq >= 0).sum())
    k = int(np.clip(step, 0, max(n - 1, 0)))
    target = np.asarray(rec["target"])[s]
    ids = np.asarray(rec["topk_ids"])[s, k]
    probs = np.asarray(rec["topk_probs"])[s, k]
    gen = seq[: k + 1]
    tgt = np.array([target[i] if i < len(target) else -1 for i in range(k + 1)])
    out = {"task": task, "title": rec["titles"][s], "step": k, "num_steps": n, "token": int(seq[k]),
           "target_token": int(tgt[k]), "topk_ids": ids, "topk_probs": probs,
           "topk_text": [vocab[i] for i in ids], "sequence": [vocab[i] for i in gen], "correct": gen == tgt,
           "target_text": vocab[int(tgt[k])] if tgt[k] >= 0 else "(past the target's end)"}
    if "coords" in rec:
        gt = np.asarray(rec["gt"], dtype=np.float64)[s]
        J = gt.shape[0]
        pred = _assemble(np.asarray(rec["coords"])[s], k + 1, J)
        done = np.isfinite(pred).all(1)
        gt_shown = gt.copy()
        out.update(pred_joints=pred, gt_joints=gt_shown, joints_done=done, skeleton=rec.get("skeleton", "h36m17"))
    return out


def _draw_pose_3d(ax, joints, skeleton, color, label, alpha=1.0):
    """Bones of ``joints (J, 3)`` (camera frame: x to the image's left, y up, z depth) on a 3D
    axis, drawn with matplotlib's z as the vertical; bones with a NaN end are skipped."""
    lines = []
    for child, parent in skeleton.bones:
        a, b = joints[child], joints[parent]
        if np.isfinite(a).all() and np.isfinite(b).all():
            lines += ax.plot([-a[0], -b[0]], [a[2], b[2]], [a[1], b[1]], color=color, lw=2, alpha=alpha)
    ok = np.isfinite(joints).all(1)
    ax.scatter(-joints[ok, 0], joints[ok, 2], joints[ok, 1], color=color, s=8, alpha=alpha, label=label)
    return lines


def decoding_render(data: dict):
    """A matplotlib figure of :func:`decoding_compute`'s data: top-k bars, the sequence so far,
    and for pose tasks the skeleton being assembled beside the ground truth (3D)."""
    import matplotlib.pyplot as plt

    pose = "pred_joints" in data
    fig = plt.figure(figsize=(12.5 if pose else 8.5, 4.0))
    gs = fig.add_gridspec(1, 3 if pose else 2, width_ratios=(1.2, 1, 1.5) if pose else (1.3, 1))
    ax = fig.add_subplot(gs[0, 0])
    k = len(data["topk_ids"])
    colors = ["#d62728" if i == data["token"] else "#9ecae1" for i in data["topk_ids"]]
    ax.barh(np.arange(k)[::-1], data["topk_probs"], color=colors)
    labels = [t + ("  (target)" if i == data["target_token"] else "") for t, i in
              zip(data["topk_text"], data["topk_ids"])]
    ax.set_yticks(np.arange(k)[::-1], labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("p(token | prefix, input)", fontsize=8)
    ax.set_title(f"{data['task']}: step {data['step'] + 1} of {data['num_steps']}", fontsize=9)
    tx = fig.add_subplot(gs[0, 1])
    tx.axis("off")
    seq = data["sequence"][-12:]
    ok = data["correct"][-12:]
    first = len(data["sequence"]) - len(seq)
    tx.text(0, 1, data["title"], fontsize=9, weight="bold", va="top", transform=tx.transAxes)
    tx.text(0, 0.92, f"target now: {data['target_text']}", fontsize=8, va="top", transform=tx.transAxes,
            color="0.3", style="italic")
    for i, (t, c) in enumerate(zip(seq, ok)):
        tx.text(0, 0.83 - 0.066 * i, f"{first + i + 1:2d}. {t}", fontsize=8, va="top", transform=tx.transAxes,
                color="#2ca02c" if c else "#d62728", family="monospace")
    if pose:
        skel = get_skeleton(data["skeleton"])
        px = fig.add_subplot(gs[0, 2], projection="3d")
        _draw_pose_3d(px, data["gt_joints"], skel, "0.6", "ground truth", alpha=0.7)
        _draw_pose_3d(px, data["pred_joints"], skel, "#d62728", "decoded so far")
        lim = np.nanmax(np.abs(data["gt_joints"])) + 0.1
        px.set_xlim(-lim, lim)
        px.set_ylim(-lim, lim)
        px.set_zlim(-lim, lim)
        px.view_init(elev=10, azim=-80)
        px.set_xticks([])
        px.set_yticks([])
        px.set_zticks([])
        px.set_title(f"{int(data['joints_done'].sum())} of {len(data['joints_done'])} joints", fontsize=9)
        px.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig


def decoding_explorer(record: dict, task: str | None = None, sample: int = 0, step: int = 0):
    """The decoding step-through (an :class:`~paperlib.viz.widgets.Explorer`).

    Controls: ``task`` (dropdown), ``sample`` (recorded test sample), ``step`` (decoding step;
    its maximum follows the selected task's sequence length).
    """
    import ipywidgets as w

    tasks = list(record["tasks"])
    task = task or tasks[0]
    longest = max(np.asarray(r["tokens"]).shape[1] for r in record["tasks"].values())
    n_samples = np.asarray(record["tasks"][task]["tokens"]).shape[0]
    controls = {
        "task": w.Dropdown(options=tasks, value=task, description="task"),
        "sample": w.IntSlider(value=sample, min=0, max=n_samples - 1, description="sample"),
        "step": w.IntSlider(value=step, min=0, max=longest - 1, description="step"),
    }
    ex = Explorer(controls, lambda task, sample, step: decoding_compute(record, task, sample, step),
                  decoding_render, title="UPS decoding step-through")

    def follow(change):  # the step slider spans the selected task's output length
        K = np.asarray(record["tasks"][change["new"]]["tokens"]).shape[1]
        controls["step"].max = K - 1

    controls["task"].observe(follow, names="value")
    controls["step"].max = np.asarray(record["tasks"][task]["tokens"]).shape[1] - 1
    return ex
