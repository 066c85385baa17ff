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

__all__ = ["bank_compute", "bank_limits", "bank_render", "memory_bank_browser", "architecture_figure", "key_value_figure",
           "dtw_figure"]

_MEMORIES = ("short", "long")
_BANKS = ("predicted", "wrong")


def _softmax(x, T):
    z = np.asarray(x, np.float64) / max(float(T), 1e-6)
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def bank_limits(record: dict, pad: float = 0.1) -> tuple:
    """The drawing box of every pose a browser over ``record`` can show: the bank items of every class
    and both memories (all their frames), the predicted joints of both banks, the true and (when
    recorded) the observed joints, in :func:`paperlib.viz.skeleton.view_project`'s view, padded by
    ``pad`` metres.

    Returns ``((x0, x1), (y0, y1))`` metres: one scale for every view of the record, so that a figure
    updated in place keeps its axes (:func:`bank_render`)."""
    lo, hi = np.full(2, np.inf), np.full(2, -np.inf)
    arrays = [x for m in _MEMORIES for x in record["items"][m]]
    arrays += [record["pred_joints"][b] for b in _BANKS if b in record["pred_joints"]]
    arrays += [record["true_joints"]] + ([record["obs_joints"]] if record.get("obs_joints") is not None else [])
    for x in arrays:
        x = np.asarray(x)
        if x.size:
            xy = view_project(x.reshape(-1, 3))
            lo, hi = np.minimum(lo, xy.min(0)), np.maximum(hi, xy.max(0))
    return ((float(lo[0]) - pad, float(hi[0]) + pad), (float(lo[1]) - pad, float(hi[1]) + pad))


def bank_compute(record: dict, action: int, memory: str, sequence: int, step: int, bank: str,
                 max_items: int = 6, item_frame: int = 0, temperature: float = 1.0, limits=None) -> dict:
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
    limits : the drawing box ``((x0, x1), (y0, y1))`` metres, default :func:`bank_limits` of the
        record (pass it to skip that pass over the record: :func:`memory_bank_browser` computes it once).

    Returns
    -------
    dict with ``items (k, V, 3)`` (poses of the shown items at the animation frame),
    ``item_ids (k,)``, ``item_sizes (k,)``, ``max_items``, ``frame``, ``heat (P, N_b)`` (attention of
    the sequence's read over bank ``b``), ``bank_class``, ``top (P,)`` (most-attended item per
    step), ``top_pose (V, 3)``, ``pred_pose``, ``true_pose`` (``(V, 3)`` at ``step``),
    ``step``, ``frame``/``half`` (the item frame and "key" or "value"), ``key_poses`` /
    ``value_poses`` (``(dt/2, V, 3)``, the top item's two halves), ``query_poses`` (``(dt/2, V, 3)``
    or None without ``obs_joints``), ``entropy`` (nats, of the read at ``step``), ``temperature``,
    titles and ``limits``, the drawing scale shared by every view of the record (see ``limits``).

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
    names = record["class_names"]
    return {
        "items": items[order, frame], "item_ids": order, "item_sizes": sizes[order], "num_items": len(sizes),
        "max_items": int(max_items),
        "frame": frame, "half": "key" if frame < half else "value", "heat": heat, "top": top,
        "top_pose": top_pose, "key_poses": key_poses, "value_poses": value_poses, "query_poses": query,
        "entropy": entropy, "entropy_uniform": float(np.log(heat.shape[1])), "temperature": float(temperature),
        "pred_pose": pred, "true_pose": true,
        "step": k + 1, "bank_class": names[b], "true_class": names[int(record["true_label"][sequence])],
        "action": names[action], "memory": memory, "bank": bank, "title": record["titles"][sequence],
        "limits": bank_limits(record) if limits is None else limits,
    }


def _pose_panel(ax, limits, color):
    """An empty pose panel: fixed limits (``limits``), no ticks, equal aspect, and the artists that
    :func:`_draw_poses` fills (animated): one ``LineCollection`` for the bones of every overlaid pose
    and one scatter for their joints (what :func:`~paperlib.viz.skeleton.plot_skeleton` draws as a
    ``Line2D`` per bone and a scatter per pose, in the same order: every bone, then every joint)."""
    from matplotlib.collections import LineCollection

    (x0, x1), (y0, y1) = limits
    bones = LineCollection([], linewidths=1.5, capstyle="projecting", zorder=2, animated=True)
    ax.add_collection(bones, autolim=False)
    joints = ax.scatter(np.zeros(0), np.zeros(0), s=3, zorder=3, animated=True)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")
    ax.set_title(" ", fontsize=8)
    return {"ax": ax, "bones": bones, "joints": joints, "color": color}


def _draw_poses(panel, poses, edges, visible=True):
    """Put ``poses`` (``(V, 3)`` or ``(n, V, 3)`` metres: frames overlaid with alpha rising to 1, the
    last one darkest; all-zero poses skipped, like ``plot_skeleton``) into a :func:`_pose_panel`."""
    from matplotlib.colors import to_rgba

    for a in (panel["bones"], panel["joints"]):
        a.set_visible(visible)
    if not visible:
        return
    p = np.asarray(poses, dtype=np.float64)
    p = p[None] if p.ndim == 2 else p
    n, V = p.shape[:2]
    rgba = np.tile(to_rgba(panel["color"]), (n, 1))
    rgba[:, 3] = 0.25 + 0.75 * np.arange(1, n + 1) / n
    keep = np.abs(p).reshape(n, -1).any(1)
    xy = view_project(p[keep])                                             # (n', V, 2)
    panel["bones"].set_segments(xy[:, edges].reshape(-1, 2, 2))
    panel["bones"].set_edgecolor(np.repeat(rgba[keep], len(edges), 0))
    panel["joints"].set_offsets(xy.reshape(-1, 2))
    panel["joints"].set_facecolor(np.repeat(rgba[keep], V, 0))


def bank_render(data: dict, skeleton: Skeleton = NTU25, fig=None):
    """A matplotlib figure of :func:`bank_compute`'s data: the class's bank items (top row, up to
    ``data["max_items"]`` panels), the read attention heatmap with its colorbar, and the query, the
    most-attended item's key and value halves beside the predicted and true pose (bottom row).

    The layout is fixed (explicit grid, no ``tight_layout``: its extra draw would cost the widget's
    update budget), sized for ``max_items`` items; a class with fewer items leaves the last panels
    empty. Every pose is drawn at the scale ``data["limits"]``.

    ``fig``: a figure this function drew before for data of the same shapes (``max_items``, ``delta_t``,
    ``P``, the query recorded or not, the skeleton and ``limits``, as :class:`Explorer` passes on a
    control change): its artists are updated in place and what a view changes is marked animated (the
    poses, the titles, the item panels' frames, the heatmap's image, x axis, title and frame, the
    colorbar), so that :func:`paperlib.viz.widgets.figure_png` redraws only that; draw the figure with
    it (a plain ``savefig`` leaves animated artists out). Otherwise a new figure is built.

    Returns the Figure. Raises ``ValueError`` if the poses do not have ``skeleton``'s joint count."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if np.shape(data["true_pose"])[-2:] != (skeleton.num_joints, 3):
        raise ValueError(f"bank_render: expected poses (..., {skeleton.num_joints}, 3), got {np.shape(data['true_pose'])}")
    k = len(data["items"])
    M = max(int(data.get("max_items", k)), k, 1)
    heat = np.asarray(data["heat"])
    query = data["query_poses"]
    limits = tuple(tuple(float(v) for v in lim) for lim in data["limits"])
    edges = np.asarray(skeleton.bones, dtype=np.intp).reshape(-1, 2)
    shape = (M, len(data["key_poses"]), len(data["value_poses"]), None if query is None else len(query),
             heat.shape[0], skeleton.num_joints, tuple(map(tuple, edges)), limits)
    art = getattr(fig, "_bank_artists", None)
    if art is None or art["shape"] != shape:
        ncol = max(M, 7)
        width, height = 1.7 * ncol, 5.4
        fig = plt.figure(figsize=(width, height))
        gs = fig.add_gridspec(2, ncol, height_ratios=(1, 1.25), left=0.6 / width, right=1 - 0.1 / width,
                              bottom=0.6 / height, top=1 - 0.5 / height, wspace=0.3, hspace=0.4)
        items = []
        for i in range(M):
            panel = _pose_panel(fig.add_subplot(gs[0, i]), limits, "#1f77b4")
            for sp in panel["ax"].spines.values():                          # no frame where no item
                sp.set_animated(True)
            panel["ax"].title.set_animated(True)
            items.append(panel)
        head = fig.text(0.01, 0.97, "", fontsize=9, animated=True)
        hcols = max(ncol - 5, 1)
        ax_h = fig.add_subplot(gs[1, :hcols])
        P = heat.shape[0]
        im = ax_h.imshow(heat, aspect="auto", cmap="viridis", origin="lower",
                         extent=(-0.5, heat.shape[1] - 0.5, 0.5, P + 0.5))
        step_line = ax_h.axhline(1, color="w", lw=1, ls="--")
        star, = ax_h.plot([0], [1], "r*", ms=9)
        ax_h.set_ylabel("future step", fontsize=8)
        ax_h.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax_h.yaxis.set_major_locator(MaxNLocator(integer=True))
        cbar = fig.colorbar(im, ax=ax_h, fraction=0.04)
        # animated: what a view changes (the bank's size sets the x axis, the read the colour scale); the
        # frame is drawn again over the image, the y axis (the P steps) stays in the background
        for a in (im, step_line, star, ax_h.xaxis, ax_h.title, *ax_h.spines.values(), cbar.ax):
            a.set_animated(True)
        right = list(range(hcols, ncol))[-5:]
        ax_q = fig.add_subplot(gs[1, right[0]])
        if query is not None:
            q = _pose_panel(ax_q, limits, "#7f7f7f")
            ax_q.set_title("query: last frames", fontsize=8)
        else:
            q = None
            ax_q.set_axis_off()
            ax_q.set_title("query: not recorded", fontsize=8)
        poses = {"query": q}
        for name, col, color in (("key", 1, "#ff7f0e"), ("value", 2, "#8c564b"), ("pred", 3, "#d62728"),
                                 ("true", 4, "#2ca02c")):
            poses[name] = _pose_panel(fig.add_subplot(gs[1, right[col]]), limits, color)
            poses[name]["ax"].title.set_animated(True)
        art = fig._bank_artists = {"shape": shape, "items": items, "head": head, "ax_h": ax_h, "im": im,
                                   "step_line": step_line, "star": star, "poses": poses}
    for i, panel in enumerate(art["items"]):
        shown = i < k
        _draw_poses(panel, data["items"][i] if shown else None, edges, shown)
        for sp in panel["ax"].spines.values():
            sp.set_visible(shown)
        panel["ax"].set_title(f"item {data['item_ids'][i]}  n={data['item_sizes'][i]}" if shown else "", fontsize=8)
    art["head"].set_text(f"{data['action']}: {data['memory']}-term bank, {data['num_items']} items "
                         f"(largest {k} shown, item frame {data['frame'] + 1}: {data['half']} half)")
    ax_h, im = art["ax_h"], art["im"]
    P, N = heat.shape
    im.set_data(heat)
    im.set_extent((-0.5, N - 0.5, 0.5, P + 0.5))
    im.set_clim(float(heat.min()), float(heat.max()))                       # the colorbar follows
    ax_h.set_xlim(-0.5, N - 0.5)
    ax_h.set_ylim(0.5, P + 0.5)
    step, top = data["step"], int(data["top"][data["step"] - 1])
    art["step_line"].set_ydata([step, step])
    art["star"].set_data([top], [step])
    ax_h.set_xlabel(f"items of the '{data['bank_class']}' bank ({data['bank']} class)", fontsize=8)
    ax_h.set_title(f"{data['title']}: read (T={data['temperature']:.2g}), H={data['entropy']:.2f} of "
                   f"{data['entropy_uniform']:.2f} nats", fontsize=8)
    poses = art["poses"]
    if poses["query"] is not None:
        _draw_poses(poses["query"], query, edges)
    for name, pose, title in (("key", data["key_poses"], f"item {top}: key half"),
                              ("value", data["value_poses"], f"item {top}: value half"),
                              ("pred", data["pred_pose"], f"predicted, step {step}"),
                              ("true", data["true_pose"], f"true ({data['true_class']})")):
        _draw_poses(poses[name], pose, edges)
        poses[name]["ax"].set_title(title, fontsize=8)
    return fig


def memory_bank_browser(record: dict, skeleton: Skeleton = NTU25, action: int = 0, sequence: int = 0,
                        step: int = 1, memory: str = "short", bank: str = "predicted", max_items: int = 6,
                        item_frame: int = 0, temperature: float = 1.0):
    """The browser widget (an :class:`~paperlib.viz.widgets.Explorer`).

    Controls: ``action`` (dropdown of classes), ``memory`` (short / long), ``sequence``
    (dropdown of recorded test sequences), ``step`` (future step slider), ``bank`` (toggle: the
    predicted class's bank or a wrong class's), ``item_frame`` (which frame of the items: key
    half, then value half), ``temperature`` (``T`` of ``softmax(logits / T)``, log slider).

    The drawing scale (:func:`bank_limits`) is computed once, and every control change updates the
    figure in place (``bank_render(data, skeleton, fig=previous)``).
    """
    import ipywidgets as w

    P = np.asarray(record["true_joints"]).shape[1]
    limits = bank_limits(record)
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

    def compute(action, memory, sequence, step, bank, item_frame, temperature):
        return bank_compute(record, action, memory, sequence, step, bank, max_items, item_frame, temperature,
                            limits=limits)

    def render(data, fig=None):                                              # fig: Explorer's previous figure
        return bank_render(data, skeleton, fig=fig)

    return Explorer(controls, compute, render, title="Action memory bank browser")


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
