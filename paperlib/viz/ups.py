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

Optional, for the ``"training"`` view (what happened at every training iteration; written by
:func:`routing_record` from :func:`paperlib.papers.ups.train_ups`'s history):

- ``iter_task`` : ``(N,)`` int, the task of each of the ``N`` training iterations (the rotation).
- ``iter_route`` : ``(N, L, H)`` float, the block weights ``m_l`` of Eq. 2 used in that
  iteration's forward pass (one-hot under hard routing, a softmax during the soft warm-up).
- ``warmup_iters`` : int, the number of soft-routing iterations at the start (default 0).

Views: ``"routes"`` (per layer, a task x block heatmap of the probabilities with the selected
block framed, and the history of ``p(block)`` up to the chosen step), ``"sharing"`` (per
layer, the ``M x M`` probability that two tasks draw the same block, ``sum_h p_ih p_jh``; its
diagonal is a task's own certainty) and ``"training"`` (per layer: the block each task sampled
at every iteration up to the step, each block's update count so far, and the gap between the
two largest routing probabilities of every task, ``p_(1) - p_(2)``: with ``H = 2`` the gap
between the two blocks' probabilities; 0 means the route is a coin flip, 1 a settled route).

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

__all__ = ["architecture_figure", "routing_record", "routing_compute", "routing_render", "routing_explorer",
           "decoding_compute", "decoding_render", "decoding_explorer"]

_VIEWS = ("routes", "sharing", "training")


# ------------------------------------------------------------------------ architecture figure
def architecture_figure(H: int = 2, L: int = 2, figsize=(11, 3.6)):
    """A block diagram of UPS as implemented in notebook 02 (the paper's Figs. 2-3): the joint
    tokenizer, ``L`` encoder layers of ``H`` SEM-TEM blocks each with the router of Eqs. 1-2
    (task embedding ``tau_m`` against block embeddings ``B_{l,h}``), and the autoregressive
    decoder whose logits score the unified vocabulary ``Omega_VOB`` (frozen text embeddings).

    ``H``, ``L``: blocks per layer and layers drawn (positive ints; ``ValueError`` otherwise).
    Returns the matplotlib Figure (one axis, no ticks); every box's text is in ``fig.axes[0].texts``.
    """
    from .diagram import block_diagram

    if int(H) < 1 or int(L) < 1:
        raise ValueError(f"architecture_figure: H and L must be >= 1, got H={H!r}, L={L!r}")
    H, L = int(H), int(L)
    x0, step = 3.8, 1.6
    xr = x0 + step * L
    W = xr + 3.6
    boxes = [(0.1, 1.2, 1.3, 1.0, "P_IN (T, J, 3)\n3D joints | 2D, z = 0\n| noisy 2D keypoints", "#dddddd"),
             (1.8, 1.2, 1.5, 1.0, "joint tokenizer\n3 TCN-GCN layers\nS_IN (T, J, d)", "#cfe2f3")]
    arrows = [((1.4, 1.7), (1.8, 1.7))]
    notes = []
    gap = 2.3 / H
    bh = min(0.7, gap - 0.15)
    for l in range(L):
        x = x0 + step * l
        boxes.append((x - 0.1, 0.45, 1.4, 2.5, "", "#f3f3f3"))            # the layer's frame
        notes.append((x + 0.6, 3.05, f"layer {l + 1}: {H} blocks"))
        for h in range(H):
            boxes.append((x, 0.55 + h * gap + (gap - 0.15 - bh) / 2, 1.2, bh, f"SEM-TEM θ_{l + 1},{h + 1}", "#d9ead3"))
        arrows.append(((x - 0.3 if l else 3.3, 1.7), (x - 0.1, 1.7)))
    boxes.append((x0 - 0.1, -0.6, step * L - 0.2, 0.7,
                  "router (Eqs. 1-2): s_l,h = B_l,h · τ_m,\nGumbel-softmax → one block per layer", "#fff2cc"))
    arrows += [((x0 + 0.6 + step * l, 0.1), (x0 + 0.6 + step * l, 0.45)) for l in range(L)]
    boxes.append((xr + 0.1, 1.15, 1.5, 1.1, "decoder\n(causal self-attn +\ncross-attn to S_EN)\nlogits h W Ωᵀ", "#ead1dc"))
    arrows.append(((xr - 0.3, 1.7), (xr + 0.1, 1.7)))
    notes.append((xr - 0.1, 1.8, "S_EN"))
    boxes.append((xr + 2.0, 1.15, 1.5, 1.1, "tokens over Ω_VOB:\nclass, EOT | x, y, z\nbins × 16, EOT_PE", "#dddddd"))
    arrows.append(((xr + 1.6, 1.7), (xr + 2.0, 1.7)))
    boxes.append((xr + 0.1, 2.6, 3.4, 0.7, "Ω_VOB: frozen text embeddings of the class names,\n"
                  "\"The k-th horizontal coordinate\"..., EOT prompts (Sec. 3.2)", "#fce5cd"))
    arrows.append(((xr + 0.85, 2.6), (xr + 0.85, 2.25)))
    fig, ax = block_diagram(boxes, arrows, (W, 3.4), figsize=figsize, notes=notes,
                            title=f"UPS as implemented here: L = {L} encoder layers of H = {H} routed SEM-TEM blocks "
                                  "(after the paper's Figs. 2-3)")
    ax.set_ylim(-0.75, 3.4)
    return fig


def routing_record(hist: dict, task_names, every: int = 1) -> dict:
    """The routing explorer's record from :func:`paperlib.papers.ups.train_ups`'s history.

    ``hist``: ``probs (S, M, L, H)`` with ``probs_iter (S,)``, ``task (N,)``, ``route (N, L, H)``,
    ``warmup_iters``. ``every``: keep every ``every``-th snapshot (and the last). Returns
    ``{task_names, steps, probs, iter_task, iter_route, warmup_iters}`` as numpy arrays (see the
    module docstring). Raises ``ValueError`` when ``probs`` and ``probs_iter`` disagree in length.
    """
    probs, steps = np.asarray(hist["probs"], dtype=np.float64), np.asarray(hist["probs_iter"])
    if len(probs) != len(steps):
        raise ValueError(f"routing_record: {len(probs)} snapshots of probs but {len(steps)} probs_iter")
    keep = np.unique(np.r_[np.arange(0, len(steps), max(int(every), 1)), len(steps) - 1])
    return {"task_names": list(task_names), "steps": steps[keep], "probs": probs[keep],
            "iter_task": np.asarray(hist["task"], dtype=np.int64),
            "iter_route": np.asarray(hist["route"], dtype=np.float64), "warmup_iters": int(hist.get("warmup_iters", 0))}


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
    ``same_block (L, M, M)`` bool (both tasks select the same block), ``history (s + 1, M, L, H)``,
    ``gap (s + 1, M, L)`` (largest minus second-largest probability) and ``iters (s + 1,)`` up to
    the snapshot, ``iteration``, ``index``, ``task_names``, ``view``. With ``iter_route`` in the
    record, for the training iterations ``0 .. iteration``: ``sampled (n, L)`` (the block with the
    largest weight in each forward pass), ``sampled_task (n,)``, ``updates (L, H)`` (iterations in
    which a block had a non-zero weight, hence a gradient; as ``train_ups`` counts them),
    ``selected (M, L, H)`` (per task, iterations through each block) and ``warmup_iters``.

    Raises ``ValueError`` for an unknown view, a ``probs`` array that is not 4-D, or the
    ``"training"`` view of a record without ``iter_route``.
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
    srt = np.sort(probs[: s + 1], -1)
    gap = srt[..., -1] - (srt[..., -2] if probs.shape[-1] > 1 else 0.0)  # (s + 1, M, L)
    out = {"probs": p, "choice": choice, "share": share, "same_block": same, "gap": gap,
           "history": probs[: s + 1], "iters": np.asarray(record["steps"])[: s + 1],
           "iteration": int(np.asarray(record["steps"])[s]), "index": s,
           "task_names": list(record["task_names"]), "view": view}
    if "iter_route" in record:
        route = np.asarray(record["iter_route"], dtype=np.float64)[: out["iteration"] + 1]  # (n, L, H)
        task = np.asarray(record["iter_task"])[: len(route)]
        sel = route.argmax(-1)                                                           # (n, L)
        counts = np.zeros(probs.shape[1:], np.int64)                                     # (M, L, H)
        for m in range(probs.shape[1]):
            for l in range(probs.shape[2]):
                counts[m, l] = np.bincount(sel[task == m, l], minlength=probs.shape[3])
        out.update(sampled=sel, sampled_task=task, updates=(route > 1e-6).sum(0), selected=counts,
                   warmup_iters=int(record.get("warmup_iters", 0)))
    elif view == "training":
        raise ValueError("the 'training' view needs record['iter_task'] and record['iter_route'] (routing_record)")
    return out


def routing_render(data: dict):
    """A matplotlib figure of :func:`routing_compute`'s data: one column per encoder layer."""
    import matplotlib.pyplot as plt

    M, L, H = data["probs"].shape
    names = data["task_names"]
    if data["view"] == "training":
        return _training_render(data)
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


def _training_render(data: dict):
    """The ``"training"`` view: per layer (columns) the sampled blocks per task and iteration, the
    update count of each block (bars split by the task that selected it), the routing gap."""
    import matplotlib.pyplot as plt

    M, L, H = data["probs"].shape
    names, it_now, warm = data["task_names"], data["iteration"], data["warmup_iters"]
    fig, axes = plt.subplots(3, L, figsize=(3.9 * L, 7.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    n = len(data["sampled"])
    its = np.arange(n)
    for l in range(L):
        ax = axes[0, l]
        for m in range(M):
            mine = data["sampled_task"] == m
            y = m + 0.7 * (data["sampled"][mine, l] / max(H - 1, 1) - 0.5) if H > 1 else np.full(mine.sum(), m)
            ax.scatter(its[mine], y, s=4, color=colors[m % len(colors)], marker="|")
        if warm:
            ax.axvspan(0, min(warm, max(n, 1)), color="0.9", zorder=0, label="soft warm-up")
        ax.set_yticks(range(M), names, fontsize=8)
        ax.set_xlim(0, max(it_now, 1))
        ax.set_title(f"layer {l}: sampled block per iteration\n(low = block 0, high = block {H - 1})", fontsize=9)
        bx = axes[1, l]
        bottom = np.zeros(H)
        for m in range(M):
            bx.bar(range(H), data["selected"][m, l], bottom=bottom, color=colors[m % len(colors)], label=names[m])
            bottom += data["selected"][m, l]
        for h in range(H):
            bx.plot([h - 0.4, h + 0.4], [data["updates"][l, h]] * 2, color="k", lw=1.5)
        bx.set_xticks(range(H), [f"block {h}" for h in range(H)], fontsize=8)
        bx.set_title("iterations through each block (bars, by task);\nupdates incl. warm-up (black)", fontsize=9)
        gx = axes[2, l]
        for m in range(M):
            gx.plot(data["iters"], data["gap"][:, m, l], color=colors[m % len(colors)], lw=1.3, label=names[m])
        gx.set_ylim(-0.03, 1.03)
        gx.set_xlabel("training iteration", fontsize=8)
        gx.set_ylabel("p(1st) - p(2nd)", fontsize=8)
        gx.set_title("routing gap (0: coin flip, 1: settled)", fontsize=9)
        if l == 0:
            bx.legend(fontsize=7)
    fig.suptitle(f"routing during training, iterations 0-{it_now}", fontsize=10)
    fig.tight_layout()
    return fig


def routing_explorer(record: dict, step: int | None = None, view: str = "routes"):
    """The routing explorer (an :class:`~paperlib.viz.widgets.Explorer`).

    Controls: ``step`` (slider over the snapshots; default the last) and ``view``
    (``routes`` / ``sharing``, and ``training`` when the record has ``iter_route``).
    Raises ``ValueError`` for a view the record cannot show.
    """
    import ipywidgets as w

    S = np.asarray(record["probs"]).shape[0]
    views = list(_VIEWS) if "iter_route" in record else [v for v in _VIEWS if v != "training"]
    if view not in views:
        raise ValueError(f"routing_explorer: view must be one of {views} for this record, got {view!r}")
    controls = {
        "step": w.IntSlider(value=S - 1 if step is None else step, min=0, max=S - 1, description="snapshot"),
        "view": w.ToggleButtons(options=views, value=view, description="view"),
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
