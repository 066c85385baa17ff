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
- ``control_gap`` : float (optional), the final routing gap of a control router (grid 02c's router that
  reads shuffled task ids), drawn as a fixed dotted line in the training view's gap panels.

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

Both explorers draw into fixed layouts (placed in inches, no ``tight_layout``) whose artists are built once,
one figure per view (routing) or per layout (decoding: pose tasks, the others), all drawn when the explorer
is built; a control change updates one of them in place and marks what it changes animated, so that
:func:`paperlib.viz.widgets.figure_png` redraws only that over the figure's cached background. The time axes
span the whole record (the snapshot is a dashed line), the 3D box the largest ground-truth coordinate of the
task's samples.

``tests/test_ups_widgets.py`` builds small records and drives the controls;
``tests/benchmarks/bench_ups_widgets.py`` times the updates.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import get_skeleton
from .widgets import Explorer

__all__ = ["architecture_figure", "conflict_figure", "routing_record", "routing_compute", "routing_render", "routing_explorer",
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


def routing_record(hist: dict, task_names, every: int = 1, control_gap: float | None = None) -> dict:
    """The routing explorer's record from :func:`paperlib.papers.ups.train_ups`'s history.

    ``hist``: ``probs (S, M, L, H)`` with ``probs_iter (S,)``, ``task (N,)``, ``route (N, L, H)``,
    ``warmup_iters``. ``every``: keep every ``every``-th snapshot (and the last). ``control_gap``
    (optional): the final routing gap of a control router, e.g. the mean over grid 02c's seeds of the
    router that reads shuffled task ids; the training view draws it in every gap panel. Returns
    ``{task_names, steps, probs, iter_task, iter_route, warmup_iters[, control_gap]}`` as numpy arrays
    (see the module docstring). Raises ``ValueError`` when ``probs`` and ``probs_iter`` disagree in length.
    """
    probs, steps = np.asarray(hist["probs"], dtype=np.float64), np.asarray(hist["probs_iter"])
    if len(probs) != len(steps):
        raise ValueError(f"routing_record: {len(probs)} snapshots of probs but {len(steps)} probs_iter")
    keep = np.unique(np.r_[np.arange(0, len(steps), max(int(every), 1)), len(steps) - 1])
    rec = {"task_names": list(task_names), "steps": steps[keep], "probs": probs[keep],
           "iter_task": np.asarray(hist["task"], dtype=np.int64),
           "iter_route": np.asarray(hist["route"], dtype=np.float64), "warmup_iters": int(hist.get("warmup_iters", 0))}
    if control_gap is not None:
        rec["control_gap"] = float(control_gap)
    return rec


# ------------------------------------------------------------------------------ layout helpers
_DPI = 80          # the PNG resolution of Explorer (and of snapshot()): the explorers warm their figures at it
_TEXT_RENDERER = []


def _text_width(text: str, size: float) -> float:
    """Width in inches of ``text`` at ``size`` points in the default font (an Agg measurement, no figure draw)."""
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    if not _TEXT_RENDERER:
        _TEXT_RENDERER.append(RendererAgg(1, 1, 72))             # at 72 dpi a pixel is a point
    w, _, _ = _TEXT_RENDERER[0].get_text_width_height_descent(str(text), FontProperties(size=size), ismath=False)
    return w / 72.0


def _grid_figure(ncols: int, lead: float, width: float, rows, head: float, right: float = 0.15):
    """A figure and its axes rectangles, placed in inches (a fixed layout: ``tight_layout`` would measure every
    label with an extra draw on each update).

    ``ncols`` columns, each ``lead`` inches of room for its y labels then ``width`` inches of axes; ``rows``: per
    row ``(above, height, below)`` inches (room for the title, the axes, the x labels); ``head`` inches above
    the first row (the figure's title), ``right`` after the last column. Returns ``(fig, rects)`` with
    ``rects[r][c]`` in figure fractions, for ``fig.add_axes``."""
    import matplotlib.pyplot as plt

    W = ncols * (lead + width) + right
    Hf = head + sum(a + h + b for a, h, b in rows)
    fig = plt.figure(figsize=(W, Hf))
    rects, y = [], Hf - head
    for above, height, below in rows:
        y -= above + height
        rects.append([((c * (lead + width) + lead) / W, y / Hf, width / W, height / Hf) for c in range(ncols)])
        y -= below
    return fig, rects


def _family(fig, attr: str, shape):
    """The figure of ``shape`` among those drawn with ``fig`` (one per layout, e.g. one per view of an
    explorer; each holds the handles of its artists in ``attr`` and the shared ``{shape: figure}`` dict in
    ``attr["family"]``), and that dict (a new one when ``fig`` is None or not such a figure)."""
    art = getattr(fig, attr, None) if fig is not None else None
    if art is None:
        return None, {}
    return art["family"].get(shape), art["family"]


def _family_figure(fig, attr: str, shape, build):
    """The figure of ``shape`` in ``fig``'s family (:func:`_family`), built with ``build(shape)`` and added
    to the family when it has none. Returns ``(figure, its artists' handles figure.<attr>)``."""
    reused, family = _family(fig, attr, shape)
    if reused is None:
        reused = build(shape)
        family[shape] = reused
        getattr(reused, attr)["family"] = family
    return reused, getattr(reused, attr)


def _warm(ex, datas):
    """Draw the figures of the other layouts an explorer can show (``datas``: one compute result per layout)
    into the figures' family and cache their backgrounds at the explorer's dpi, so that switching layout is an
    update in place. ``ex.figure`` is left as it is; the new figures are closed in pyplot."""
    import matplotlib.pyplot as plt

    from .widgets import figure_png

    for d in datas:
        f = ex.render(d, fig=ex.figure)
        if f is not ex.figure:
            figure_png(f, _DPI)
            plt.close(f)


# ------------------------------------------------------------------------------ routing explorer
def _routing_tables(record: dict) -> dict:
    """What :func:`routing_compute` reads from ``record``, computed once for every snapshot and iteration.

    Returns ``probs (S, M, L, H)`` float64, ``steps (S,)``, ``gap (S, M, L)`` (largest minus second-largest
    probability), ``task_names``, ``iter_range`` ``(first, last)`` snapshot iteration; with ``iter_route``
    in the record also ``route_sel (N, L)`` (the block with the largest weight in each forward pass),
    ``route_task (N,)``, ``cum_updates (N, L, H)`` and ``cum_selected (N, M, L, H)`` int64 (counts over
    iterations ``0 .. i``), ``count_max`` (the largest update count at the end) and ``warmup_iters``.
    Raises ``ValueError`` when ``probs`` is not 4-D."""
    probs = np.asarray(record["probs"], dtype=np.float64)
    if probs.ndim != 4:
        raise ValueError(f"record['probs'] must be (S, M, L, H), got shape {probs.shape}")
    S, M, L, H = probs.shape
    steps = np.asarray(record["steps"])
    srt = np.sort(probs, -1)
    gap = srt[..., -1] - (srt[..., -2] if H > 1 else 0.0)
    t = {"probs": probs, "steps": steps, "gap": gap, "task_names": list(record["task_names"]),
         "iter_range": (int(steps[0]), int(steps[S - 1]))}
    if "iter_route" in record:
        route = np.asarray(record["iter_route"], dtype=np.float64)                      # (N, L, H)
        task = np.asarray(record["iter_task"])[: len(route)]
        sel = route.argmax(-1)                                                           # (N, L)
        N = len(route)
        hit = np.zeros((N, M, L, H), np.int64)
        hit[np.arange(N)[:, None], task[:, None], np.arange(L)[None], sel] = 1
        cum_upd = np.cumsum(route > 1e-6, 0, dtype=np.int64)
        t.update(route_sel=sel, route_task=task, cum_updates=cum_upd, cum_selected=np.cumsum(hit, 0),
                 count_max=int(cum_upd[-1].max()) if N else 0, warmup_iters=int(record.get("warmup_iters", 0)))
    return t


def routing_compute(record: dict, step: int, view: str = "routes", tables: dict | None = None) -> dict:
    """Data for one view of the routing explorer.

    Parameters
    ----------
    record : see the module docstring.
    step : index of the snapshot (clamped to ``[0, S - 1]``), not the training iteration.
    view : ``"routes"``, ``"sharing"`` or ``"training"``.
    tables : what the record holds for every snapshot (``_routing_tables(record)``, computed once by
        :func:`routing_explorer`); by default computed from ``record`` on every call.

    Returns
    -------
    dict with ``probs (M, L, H)`` at the snapshot, ``choice (M, L)`` (the block each task
    selects at inference, the argmax), ``share (L, M, M)`` (``sum_h p_ih p_jh``),
    ``same_block (L, M, M)`` bool (both tasks select the same block), ``history (s + 1, M, L, H)``,
    ``gap (s + 1, M, L)`` (largest minus second-largest probability) and ``iters (s + 1,)`` up to
    the snapshot, ``iteration``, ``index``, ``task_names``, ``view``, ``iter_range`` (the first and last
    snapshot's iteration: the figure's fixed time axis). With ``iter_route`` in the record, for the training
    iterations ``0 .. iteration``: ``sampled (n, L)`` (the block with the largest weight in each forward pass),
    ``sampled_task (n,)``, ``updates (L, H)`` (iterations in which a block had a non-zero weight, hence a
    gradient; as ``train_ups`` counts them), ``selected (M, L, H)`` (per task, iterations through each block),
    ``warmup_iters`` and ``count_max`` (the largest update count of the whole record: the bars' fixed scale).

    Raises ``ValueError`` for an unknown view, a ``probs`` array that is not 4-D, or the
    ``"training"`` view of a record without ``iter_route``.
    """
    if view not in _VIEWS:
        raise ValueError(f"view must be one of {_VIEWS}, got {view!r}")
    t = _routing_tables(record) if tables is None else tables
    probs = t["probs"]
    S = probs.shape[0]
    s = int(np.clip(step, 0, S - 1))
    p = probs[s]  # (M, L, H)
    choice = p.argmax(-1)  # (M, L)
    share = np.einsum("ilh,jlh->lij", p, p)
    same = choice.T[:, :, None] == choice.T[:, None, :]  # (L, M, M)
    out = {"probs": p, "choice": choice, "share": share, "same_block": same, "gap": t["gap"][: s + 1],
           "history": probs[: s + 1], "iters": t["steps"][: s + 1], "iteration": int(t["steps"][s]), "index": s,
           "task_names": list(t["task_names"]), "view": view, "iter_range": t["iter_range"]}
    if "route_sel" in t:
        n = min(out["iteration"] + 1, len(t["route_sel"]))
        cum_u, cum_s = t["cum_updates"], t["cum_selected"]
        out.update(sampled=t["route_sel"][:n], sampled_task=t["route_task"][:n],
                   updates=cum_u[n - 1].copy() if n else np.zeros(cum_u.shape[1:], np.int64),
                   selected=cum_s[n - 1].copy() if n else np.zeros(cum_s.shape[1:], np.int64),
                   warmup_iters=t["warmup_iters"], count_max=t["count_max"])
        if "control_gap" in record:
            out["control_gap"] = float(record["control_gap"])
    elif view == "training":
        raise ValueError("the 'training' view needs record['iter_task'] and record['iter_route'] (routing_record)")
    return out


def _task_colors(M: int) -> list:
    import matplotlib.pyplot as plt

    cyc = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return [cyc[m % len(cyc)] for m in range(M)]


def _task_legend(fig, names, colors, y: float, kind: str = "line"):
    """One legend of the tasks' colours for the whole figure, centred at height ``y`` (figure fraction)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    handles = [Line2D([], [], color=c, lw=1.5) if kind == "line" else Patch(color=c) for c in colors]
    fig.legend(handles, names, loc="center", bbox_to_anchor=(0.5, y), ncol=len(names), fontsize=7, frameon=False,
               handlelength=1.5, columnspacing=1.2)


def _routing_figure(shape):
    """Build the figure of one routing view (see :func:`routing_render`) with empty artists; return it."""
    from matplotlib.patches import Rectangle

    view, M, L, H, names, (it0, it1) = shape[:6]
    colors = _task_colors(M)
    name_w = max(_text_width(n, 8) for n in names)
    art = {"shape": shape}
    head = 0.55
    if view == "routes":
        lead = max(name_w + 0.15, 0.6) + 0.1
        fig, rects = _grid_figure(L, lead, 2.5, [(0.3, 2.0, 0.35), (0.1, 2.0, 0.5)], head)
        art.update(ims=[], texts=[], boxes=[], curves=[], marks=[])
        grid = [[fig.add_axes(r) for r in row] for row in rects]        # row-major, as plt.subplots
        for l in range(L):
            ax = grid[0][l]
            art["ims"].append(ax.imshow(np.zeros((M, H)), vmin=0, vmax=1, cmap="Blues", aspect="auto", animated=True))
            art["texts"].append([[ax.text(h, m, "", ha="center", va="center", fontsize=8, animated=True)
                                  for h in range(H)] for m in range(M)])
            art["boxes"].append([ax.add_patch(Rectangle((-0.5, m - 0.5), 1, 1, fill=False, ec="#d62728", lw=2,
                                                        animated=True)) for m in range(M)])
            ax.set_xticks(range(H), [f"block {h}" for h in range(H)], fontsize=8)
            ax.set_yticks(range(M), names, fontsize=8)
            ax.set_title(f"layer {l}: p(block | task)", fontsize=9)
            for sp in ax.spines.values():                       # the frame is drawn again over the image
                sp.set_animated(True)
            hx = grid[1][l]
            art["curves"].append([hx.plot([], [], color=colors[m], lw=1.5, label=names[m], animated=True)[0]
                                  for m in range(M)])
            art["marks"].append(hx.axvline(it0, color="k", lw=0.8, ls="--", animated=True))
            hx.set_xlim(it0 - 0.02 * max(it1 - it0, 1), it1 + 0.02 * max(it1 - it0, 1))
            hx.set_ylim(-0.05, 1.05)
            hx.set_xlabel("training iteration", fontsize=8)
            hx.set_ylabel(f"p(block {H - 1})", fontsize=8)
            hx.tick_params(labelsize=8)
        _task_legend(fig, names, colors, 1 - 0.42 / fig.get_figheight())
    elif view == "sharing":
        lead = name_w + 0.2
        fig, rects = _grid_figure(L, lead, 2.4, [(0.3, 2.4, 0.707 * name_w + 0.25)], 0.35)
        art.update(ims=[], texts=[])
        for l in range(L):
            ax = fig.add_axes(rects[0][l])
            art["ims"].append(ax.imshow(np.zeros((M, M)), vmin=0, vmax=1, cmap="Greens", animated=True))
            art["texts"].append([[ax.text(j, i, "", ha="center", va="center", fontsize=8, animated=True)
                                  for j in range(M)] for i in range(M)])
            ax.set_xticks(range(M), names, rotation=45, fontsize=8)
            ax.set_yticks(range(M), names, fontsize=8)
            ax.set_title(f"layer {l}: p(same block)", fontsize=9)
            for sp in ax.spines.values():
                sp.set_animated(True)
    else:                                                       # "training"
        count_max, warm = shape[6], shape[7]
        lead = max(name_w + 0.15, 0.65) + 0.1
        fig, rects = _grid_figure(L, lead, 3.3, [(0.45, 1.5, 0.25), (0.45, 1.3, 0.3), (0.25, 1.4, 0.5)], head)
        art.update(dots=[], bars=[], upd=[], gaps=[], marks=[])
        xmax = max(it1, 1)
        grid = [[fig.add_axes(r) for r in row] for row in rects]        # row-major, as plt.subplots
        for l in range(L):
            ax = grid[0][l]
            art["dots"].append([ax.scatter(np.zeros(0), np.zeros(0), s=4, color=colors[m], marker="|", animated=True)
                                for m in range(M)])
            if warm:
                ax.axvspan(0, min(warm, xmax), color="0.9", zorder=0, label="soft warm-up")
            mark = ax.axvline(0, color="k", lw=0.8, ls="--", animated=True)
            ax.set_xlim(0, xmax)
            ax.set_ylim(-0.6, M - 0.4)
            ax.set_yticks(range(M), names, fontsize=8)
            ax.tick_params(axis="x", labelsize=8)
            ax.set_title(f"layer {l}: sampled block per iteration\n(low = block 0, high = block {H - 1})", fontsize=9)
            bx = grid[1][l]
            bars = [bx.bar(range(H), np.zeros(H), color=colors[m], label=names[m]).patches for m in range(M)]
            for row in bars:
                for b in row:
                    b.set_animated(True)
            art["bars"].append(bars)
            art["upd"].append([bx.plot([h - 0.4, h + 0.4], [0, 0], color="k", lw=1.5, animated=True)[0]
                               for h in range(H)])
            bx.set_xlim(-0.6, H - 0.4)
            bx.set_ylim(0, 1.05 * max(count_max, 1))
            bx.set_xticks(range(H), [f"block {h}" for h in range(H)], fontsize=8)
            bx.tick_params(axis="y", labelsize=8)
            bx.set_title("iterations through each block (bars, by task);\nupdates incl. warm-up (black)", fontsize=9)
            for sp in bx.spines.values():                       # the bars stand on the frame
                sp.set_animated(True)
            gx = grid[2][l]
            art["gaps"].append([gx.plot([], [], color=colors[m], lw=1.3, label=names[m], animated=True)[0]
                                for m in range(M)])
            art["marks"].append((mark, gx.axvline(0, color="k", lw=0.8, ls="--", animated=True)))
            gx.set_xlim(0, xmax)
            gx.set_ylim(-0.03, 1.03)
            gx.set_xlabel("training iteration", fontsize=8)
            gx.set_ylabel("p(1st) - p(2nd)", fontsize=8)
            gx.tick_params(labelsize=8)
            gx.set_title("routing gap (0: coin flip, 1: settled)", fontsize=9)
            if len(shape) > 8 and shape[8] is not None:         # the control router's final gap (fixed)
                gx.axhline(shape[8], color="grey", ls=":", lw=1.2)
                gx.text(0.02 * xmax, shape[8] - 0.02, "control: shuffled task ids (final, grid)", fontsize=7,
                        color="grey", va="top")
        _task_legend(fig, names, colors, 1 - 0.42 / fig.get_figheight(), kind="patch")
    art["title"] = fig.text(0.5, 1 - 0.08 / fig.get_figheight(), "", ha="center", va="top", fontsize=10,
                            animated=True)
    fig._ups_routing = art
    return fig


def routing_render(data: dict, fig=None):
    """A matplotlib figure of :func:`routing_compute`'s data: one column per encoder layer.

    ``"routes"``: per layer the task x block heatmap of ``p(block | task)`` (the selected block framed in red)
    over the history of ``p(block H - 1)`` per task up to the snapshot (dashed: the snapshot). ``"sharing"``:
    per layer the ``M x M`` heatmap of ``p(same block)`` (``*``: the same block at inference). ``"training"``:
    per layer the block each task sampled at every iteration (grey: the soft warm-up), the iterations through
    each block (bars by task, black: updates) and the routing gap per task. The time axes span the record
    (``data["iter_range"]``; the training view's bars ``data["count_max"]``), so that a figure keeps its axes
    from one snapshot to the next; the layout is fixed (placed in inches, no ``tight_layout``).

    ``fig``: a figure this function drew before (as :class:`~paperlib.viz.widgets.Explorer` passes on a control
    change). The figures drawn with it form a family, one per view and shapes (``M``, ``L``, ``H``, the task
    names, ``iter_range``; for the training view ``count_max`` and ``warmup_iters``): the family's figure of
    this view is updated in place and returned (a new one is built and joins the family when there is none).
    What a snapshot changes is marked animated (images, numbers, frames, curves, markers, bars, the title), so
    that :func:`paperlib.viz.widgets.figure_png` redraws only that; draw the figure with it (a plain
    ``savefig`` leaves animated artists out).

    Returns the Figure. Raises ``KeyError`` for data of the training view without its keys."""
    M, L, H = data["probs"].shape
    view = data["view"]
    names = tuple(str(n) for n in data["task_names"])
    it_range = data.get("iter_range") or (int(data["iters"][0]), int(data["iters"][-1]))
    shape = (view, M, L, H, names, tuple(int(v) for v in it_range))
    if view == "training":
        shape += (int(data.get("count_max", np.max(data["updates"]))), int(data["warmup_iters"]),
                  data.get("control_gap"))
    fig, art = _family_figure(fig, "_ups_routing", shape, _routing_figure)
    it = data["iteration"]
    if view == "routes":
        for l in range(L):
            mat = data["probs"][:, l, :]
            art["ims"][l].set_data(mat)
            for m in range(M):
                for h in range(H):
                    t = art["texts"][l][m][h]
                    t.set_text(f"{mat[m, h]:.2f}")
                    t.set_color("w" if mat[m, h] > 0.6 else "k")
                art["boxes"][l][m].set_xy((data["choice"][m, l] - 0.5, m - 0.5))
                art["curves"][l][m].set_data(data["iters"], data["history"][:, m, l, -1])
            art["marks"][l].set_xdata([it, it])
        art["title"].set_text(f"dynamic routing at iteration {it}")
    elif view == "sharing":
        for l in range(L):
            mat = data["share"][l]
            art["ims"][l].set_data(mat)
            for i in range(M):
                for j in range(M):
                    t = art["texts"][l][i][j]
                    t.set_text(f"{mat[i, j]:.2f}" + ("*" if data["same_block"][l, i, j] else ""))
                    t.set_color("w" if mat[i, j] > 0.6 else "k")
        art["title"].set_text(f"dynamic routing at iteration {it}  (* = same block at inference)")
    else:
        its = np.arange(len(data["sampled"]))
        task = np.asarray(data["sampled_task"])
        for l in range(L):
            for m in range(M):
                mine = task == m
                y = m + 0.7 * (data["sampled"][mine, l] / max(H - 1, 1) - 0.5) if H > 1 else np.full(mine.sum(), m)
                art["dots"][l][m].set_offsets(np.column_stack([its[mine], y]))
            bottom = np.zeros(H)
            for m in range(M):
                for h, b in enumerate(art["bars"][l][m]):
                    b.set_y(bottom[h])
                    b.set_height(data["selected"][m, l, h])
                bottom += data["selected"][m, l]
            for h, u in enumerate(art["upd"][l]):
                u.set_ydata([data["updates"][l, h]] * 2)
            for m in range(M):
                art["gaps"][l][m].set_data(data["iters"], data["gap"][:, m, l])
            for mark in art["marks"][l]:
                mark.set_xdata([it, it])
        art["title"].set_text(f"routing during training, iterations 0-{it}")
    return fig


def routing_explorer(record: dict, step: int | None = None, view: str = "routes"):
    """The routing explorer (an :class:`~paperlib.viz.widgets.Explorer`).

    Controls: ``step`` (slider over the snapshots; default the last) and ``view``
    (``routes`` / ``sharing``, and ``training`` when the record has ``iter_route``).
    What the record holds for every snapshot (probabilities, gaps, cumulative block counts) is computed once;
    the figure of every view is built when the explorer is (one figure per view, its fixed part drawn once),
    and every control change updates one of them in place (``routing_render(data, fig=previous)``).
    Raises ``ValueError`` for a view the record cannot show or a ``probs`` array that is not 4-D.
    """
    import ipywidgets as w

    tables = _routing_tables(record)
    S = tables["probs"].shape[0]
    views = list(_VIEWS) if "iter_route" in record else [v for v in _VIEWS if v != "training"]
    if view not in views:
        raise ValueError(f"routing_explorer: view must be one of {views} for this record, got {view!r}")
    controls = {
        "step": w.IntSlider(value=S - 1 if step is None else step, min=0, max=S - 1, description="snapshot"),
        "view": w.ToggleButtons(options=views, value=view, description="view"),
    }
    ex = Explorer(controls, lambda step, view: routing_compute(record, step, view, tables), routing_render,
                  title="UPS dynamic routing explorer")
    _warm(ex, [routing_compute(record, controls["step"].value, v, tables) for v in views if v != view])
    return ex


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
    ``(J, 3)`` (joints not complete yet are NaN), ``joints_done``, ``skeleton`` and ``pose_limit``
    (metres: the largest ground-truth coordinate of the task's samples + 0.1, the 3D box's half side).

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
    tgt = np.full(k + 1, -1, dtype=np.int64)
    tgt[: min(len(target), k + 1)] = target[: k + 1]
    out = {"task": task, "title": rec["titles"][s], "step": k, "num_steps": n, "token": int(seq[k]),
           "target_token": int(tgt[k]), "topk_ids": ids, "topk_probs": probs,
           "topk_text": [vocab[i] for i in ids], "sequence": [vocab[i] for i in gen], "correct": gen == tgt,
           "target_text": vocab[int(tgt[k])] if tgt[k] >= 0 else "(past the target's end)"}
    if "coords" in rec:
        gt_all = np.asarray(rec["gt"], dtype=np.float64)
        gt = gt_all[s]
        J = gt.shape[0]
        pred = _assemble(np.asarray(rec["coords"])[s], k + 1, J)
        done = np.isfinite(pred).all(1)
        out.update(pred_joints=pred, gt_joints=gt.copy(), joints_done=done, skeleton=rec.get("skeleton", "h36m17"),
                   pose_limit=float(np.nanmax(np.abs(gt_all))) + 0.1)
    return out


_SEQ_LINES = 12     # generated tokens listed in the decoding step-through (the last ones)


def _decoding_figure(shape):
    """Build the decoding step-through's figure for ``shape`` (see :func:`decoding_render`) with empty
    artists; return it."""
    import matplotlib.pyplot as plt

    pose, k = shape[0] == "pose", shape[1]
    W, Hf = (12.5 if pose else 8.5), 4.0
    fig = plt.figure(figsize=(W, Hf))
    bw, tw = (3.7, 3.3) if pose else (4.4, 3.6)
    ax = fig.add_axes((0.15 / W, 0.55 / Hf, bw / W, 3.1 / Hf))
    bars = ax.barh(np.arange(k)[::-1], np.zeros(k), color="#9ecae1").patches
    labels = [ax.text(0.01, k - 1 - i, "", va="center", ha="left", fontsize=8, clip_on=True, animated=True)
              for i in range(k)]
    for b in bars:
        b.set_animated(True)
    for sp in ax.spines.values():                               # the bars start on the frame
        sp.set_animated(True)
    ax.set_title(" ", fontsize=9)                              # the text changes with the view (title.set_text)
    ax.title.set_animated(True)
    ax.set_yticks([])
    ax.set_xlim(0, 1)
    ax.set_ylim(-0.6, k - 0.4)
    ax.tick_params(axis="x", labelsize=8)
    ax.set_xlabel("p(token | prefix, input)", fontsize=8)
    tx = fig.add_axes(((0.4 + bw) / W, 0.3 / Hf, tw / W, 3.4 / Hf))
    tx.axis("off")
    head = tx.text(0, 1, "", fontsize=9, weight="bold", va="top", transform=tx.transAxes, animated=True)
    now = tx.text(0, 0.92, "", fontsize=8, va="top", transform=tx.transAxes, color="0.3", style="italic",
                  animated=True)
    lines = [tx.text(0, 0.83 - 0.066 * i, "", fontsize=8, va="top", transform=tx.transAxes, family="monospace",
                     animated=True) for i in range(_SEQ_LINES)]
    art = {"shape": shape, "ax": ax, "bars": bars, "labels": labels, "head": head, "now": now, "lines": lines}
    if pose:
        lim = shape[4]
        x0 = 0.5 + bw + tw
        px = fig.add_axes((x0 / W, 0.05 / Hf, (W - x0 - 0.05) / W, 3.6 / Hf), projection="3d")
        for name, color, alpha, label in (("gt", "0.6", 0.7, "ground truth"),
                                          ("pred", "#d62728", 1.0, "decoded so far")):
            art[name + "_bones"] = px.plot(np.zeros(0), np.zeros(0), np.zeros(0), color=color, lw=2, alpha=alpha,
                                           animated=True)[0]
            art[name + "_joints"] = px.plot(np.zeros(0), np.zeros(0), np.zeros(0), ls="", marker="o", ms=8 ** 0.5,
                                            color=color, alpha=alpha, label=label, animated=True)[0]
            art[name + "_bones"].set_gid(f"bones: {label}")
        px.set_xlim(-lim, lim)
        px.set_ylim(-lim, lim)
        px.set_zlim(-lim, lim)
        px.view_init(elev=10, azim=-80)
        px.set_xticks([])
        px.set_yticks([])
        px.set_zticks([])
        px.set_title(" ", fontsize=9)       # Axes3D.set_title lowers the title until the axes' next layout: set once
        px.title.set_animated(True)
        px.legend(fontsize=7, loc="upper left")
        art["px"] = px
    fig._ups_decoding = art
    return fig


def _set_pose(bones, joints, pose, edges):
    """Put ``pose (J, 3)`` (camera frame: x to the image's left, y up, z depth; NaN where unknown) into a bones
    line (one segment per bone with both ends known, NaN-separated) and a joints line, with matplotlib's z as
    the vertical."""
    seg = pose[edges]                                                   # (E, 2, 3)
    seg[~np.isfinite(seg).all((1, 2))] = np.nan                          # a bone needs both ends
    pts = np.concatenate([seg, np.full((len(edges), 1, 3), np.nan)], 1).reshape(-1, 3)
    bones.set_data_3d(-pts[:, 0], pts[:, 2], pts[:, 1])
    ok = np.isfinite(pose).all(1)
    joints.set_data_3d(-pose[ok, 0], pose[ok, 2], pose[ok, 1])


def decoding_render(data: dict, fig=None):
    """A matplotlib figure of :func:`decoding_compute`'s data: the top-k bars (each labelled with its prompt;
    red: the generated token, ``(target)``: the target's), the sequence so far (green: right, red: wrong),
    and for pose tasks the skeleton being assembled beside the ground truth (3D, in a box of half side
    ``data["pose_limit"]`` metres). The layout is fixed (placed in inches, no ``tight_layout``).

    ``fig``: a figure this function drew before (as :class:`~paperlib.viz.widgets.Explorer` passes on a control
    change). The figures drawn with it form a family, one per layout (pose or not; ``k``; for pose the skeleton
    and ``pose_limit``): the family's figure of this layout is updated in place and returned (a new one is built
    and joins the family when there is none). What a step changes is marked animated (bars, labels, texts,
    skeletons, titles), so that :func:`paperlib.viz.widgets.figure_png` redraws only that; draw the figure with
    it (a plain ``savefig`` leaves animated artists out).

    Returns the Figure. Raises ``ValueError`` if the pose's joint count is not its skeleton's."""
    pose = "pred_joints" in data
    k = len(data["topk_ids"])
    if pose:
        skel = get_skeleton(data["skeleton"])
        J = np.shape(data["gt_joints"])[0]
        if J != skel.num_joints or np.shape(data["pred_joints"])[0] != J:
            raise ValueError(f"decoding_render: {data['skeleton']!r} has {skel.num_joints} joints, the pose "
                             f"{np.shape(data['pred_joints'])[0]} and the ground truth {J}")
        lim = float(data.get("pose_limit", np.nanmax(np.abs(data["gt_joints"])) + 0.1))
        shape = ("pose", k, data["skeleton"], J, lim)
    else:
        shape = ("text", k)
    fig, art = _family_figure(fig, "_ups_decoding", shape, _decoding_figure)
    for i, (b, lab, p, tid, text) in enumerate(zip(art["bars"], art["labels"], data["topk_probs"], data["topk_ids"],
                                                   data["topk_text"])):
        b.set_width(float(p))
        b.set_facecolor("#d62728" if tid == data["token"] else "#9ecae1")
        lab.set_text(text + ("  (target)" if tid == data["target_token"] else ""))
    art["ax"].title.set_text(f"{data['task']}: step {data['step'] + 1} of {data['num_steps']}")
    art["head"].set_text(data["title"])
    art["now"].set_text(f"target now: {data['target_text']}")
    seq = data["sequence"][-_SEQ_LINES:]
    ok = data["correct"][-_SEQ_LINES:]
    first = len(data["sequence"]) - len(seq)
    for i, line in enumerate(art["lines"]):
        if i < len(seq):
            line.set_text(f"{first + i + 1:2d}. {seq[i]}")
            line.set_color("#2ca02c" if ok[i] else "#d62728")
        else:
            line.set_text("")
    if pose:
        edges = np.asarray(skel.bones, dtype=np.intp).reshape(-1, 2)
        _set_pose(art["gt_bones"], art["gt_joints"], np.asarray(data["gt_joints"], dtype=np.float64), edges)
        _set_pose(art["pred_bones"], art["pred_joints"], np.asarray(data["pred_joints"], dtype=np.float64), edges)
        art["px"].title.set_text(f"{int(data['joints_done'].sum())} of {len(data['joints_done'])} joints")
    return fig


def decoding_explorer(record: dict, task: str | None = None, sample: int = 0, step: int = 0):
    """The decoding step-through (an :class:`~paperlib.viz.widgets.Explorer`).

    Controls: ``task`` (dropdown), ``sample`` (recorded test sample), ``step`` (decoding step;
    its maximum follows the selected task's sequence length, without a second update when that clamps the
    step). The figures of both layouts (pose tasks, the other tasks) are built when the explorer is, and every
    control change updates one of them in place (``decoding_render(data, fig=previous)``).
    """
    import ipywidgets as w

    tasks = list(record["tasks"])
    task = task or tasks[0]
    n_samples, K = np.asarray(record["tasks"][task]["tokens"]).shape[:2]
    controls = {
        "task": w.Dropdown(options=tasks, value=task, description="task"),
        "sample": w.IntSlider(value=sample, min=0, max=n_samples - 1, description="sample"),
        "step": w.IntSlider(value=min(max(step, 0), K - 1), min=0, max=K - 1, description="step"),
    }
    ex = Explorer(controls, lambda task, sample, step: decoding_compute(record, task, sample, step),
                  decoding_render, title="UPS decoding step-through")

    def follow(change):  # the step slider spans the selected task's output length
        K = np.asarray(record["tasks"][change["new"]]["tokens"]).shape[1]
        # Explorer has already drawn the task, its step clamped by decoding_compute to what the sample generated
        # (at most K - 1): a value the new maximum clamps needs no second update
        controls["step"].unobserve(ex._on_change, names="value")
        try:
            controls["step"].max = K - 1
        finally:
            controls["step"].observe(ex._on_change, names="value")

    controls["task"].observe(follow, names="value")
    pose = "coords" in record["tasks"][task]
    other = [t for t in tasks if ("coords" in record["tasks"][t]) != pose][:1]
    _warm(ex, [decoding_compute(record, t, 0, 0) for t in other])
    return ex


# ------------------------------------------------------------------------ grid 02c figure
def conflict_figure(points_c: list[dict], figsize=(13, 3.8)):
    """Grid 02c in three panels, one dot per seed, ``label_permute`` 0 (tasks agree) and 1 (they conflict):

    1. the gain over one shared block (``joint_h1``) in ``(2D top-1 + 3D top-1) / 2``, points, of learned
       routing (``joint_h2``), its shuffled-ids control and the two oracles (``fixed_h2``, ``own_h4``);
       bars: the mean with its 95% t-interval;
    2. route separation: the share of layers (%) in which 2D and 3D recognition take the same block, learned
       routing against the shuffled-ids router (``fixed_h2`` always shares, ``own_h4`` never: dotted lines);
    3. the routing gap ``p_(1) - p_(2)`` at the end of training, learned against shuffled ids.

    ``points_c``: :func:`paperlib.repro.load_points` of ``"02c_ups_conflict"`` (variants of
    :data:`paperlib.report.ups.CONFLICT_VARIANTS`, metrics ``ar2d_top1``, ``ar3d_top1``,
    ``shared_ar2d_ar3d``, ``route_gap``). Returns the figure. Raises ``KeyError`` for a missing variant."""
    import matplotlib.pyplot as plt

    from ..report.ups import rec_top1
    from ..stats import mean_ci

    ps = sorted({q["knobs"]["label_permute"] for q in points_c})
    colors = {ps[0]: "#4c72b0", ps[-1]: "#c44e52"}
    fig, axes = plt.subplots(1, 3, figsize=figsize, gridspec_kw={"width_ratios": [1.6, 1, 1]})
    rng = np.random.default_rng(0)                     # jitter of the dots only
    gain_vs = ["joint_h2", "joint_h2_shuffled_ids", "fixed_h2", "own_h4"]
    for k, p in enumerate(ps):
        ms = [q["metrics"] for q in points_c if q["knobs"]["label_permute"] == p]
        off = (k - (len(ps) - 1) / 2) * 0.3
        for i, v in enumerate(gain_vs):
            g = 100 * np.array([rec_top1(m, v) - rec_top1(m, "joint_h1") for m in ms])
            mu, lo, hi = mean_ci(g)
            axes[0].errorbar(i + off, mu, yerr=[[mu - lo], [hi - mu]], fmt="s", color=colors[p], capsize=3,
                             label=f"label_permute {p:g}" if i == 0 else None)
            axes[0].scatter(i + off + rng.uniform(-0.05, 0.05, len(g)), g, s=10, color=colors[p], alpha=0.5)
        for metric, ax, scale in (("shared_ar2d_ar3d", axes[1], 100), ("route_gap", axes[2], 1)):
            for i, v in enumerate(("joint_h2", "joint_h2_shuffled_ids")):
                y = scale * np.array([m[v][metric] for m in ms])
                ax.scatter(i + off + rng.uniform(-0.05, 0.05, len(y)), y, s=14, color=colors[p], alpha=0.6)
                ax.plot([i + off - 0.1, i + off + 0.1], [y.mean()] * 2, color=colors[p], lw=2)
    axes[0].axhline(0, color="grey", lw=0.8)
    axes[0].set_xticks(range(len(gain_vs)), ["learned\n(joint_h2)", "shuffled ids", "hand-assigned\n(fixed_h2)",
                                             "own block\n(own_h4)"], fontsize=8)
    axes[0].set_ylabel("gain over joint_h1, points")
    axes[0].set_title("(2D + 3D recognition) / 2", fontsize=9)
    axes[0].legend(fontsize=8)
    for ax in axes[1:]:
        ax.set_xticks([0, 1], ["learned", "shuffled ids"], fontsize=8)
        ax.set_xlim(-0.6, 1.6)
    axes[1].axhline(100, color="grey", ls=":", lw=1)
    axes[1].axhline(0, color="grey", ls=":", lw=1)
    axes[1].text(1.55, 97, "fixed_h2", ha="right", va="top", fontsize=7, color="grey")
    axes[1].text(1.55, 3, "own_h4", ha="right", va="bottom", fontsize=7, color="grey")
    axes[1].set_ylim(-8, 108)
    axes[1].set_title("layers where 2D and 3D rec. share a block, %", fontsize=9)
    axes[2].set_ylim(0, 1.05)
    axes[2].set_title("routing gap p(1st) - p(2nd) at the end", fontsize=9)
    fig.tight_layout()
    return fig
