"""The glimpse-path player of notebook 03 (Glimpse Clouds, Baradel et al., CVPR 2018, Fig. 3), widget pattern.

The player never runs a model. It reads a *record* of arrays written once by the notebook after
training:

``record`` (a dict)
    ``frames``       ``(N, T, H, W, 3)`` uint8 RGB frames of ``N`` test clips.
    ``boxes``        ``(N, T, G, 4)`` glimpse boxes ``(x1, y1, x2, y2)`` in pixels, glimpse order ``g = 0..G-1``.
    ``assign``       ``(N, T, C, G)`` soft-assignment ``p_{t,c,g}`` of glimpses to workers (Eq. 10); rows sum to 1.
    ``mem_ts``       ``(T, K)`` timestamps of the memory entries after frame ``t``'s write, oldest first
                     (``-1`` for the initial entries, NaN for slots still empty, placed left), the same for
                     every clip (all clips write ``G`` entries per frame).
    ``mem_w``        ``(N, T, C, K)`` per-worker weights ``w_{c,k}`` of those entries (NaN for empty slots).
    ``labels``, ``preds``  ``(N,)`` class indices; ``class_names`` their names.
    ``clip_ids``     optional ``(N,)`` ids shown in the selector.
    ``points``       optional ``(N, T, Q, 2)`` pixels: the informative points (the held objects' centres,
                     NaN where absent), drawn as crosses; with them the workers' positions are drawn too.

:func:`glimpse_compute` turns a record and the controls' values into the arrays of one view;
:func:`glimpse_render` draws them; :func:`glimpse_explorer` wires both to ipywidgets controls through
:class:`paperlib.viz.widgets.Explorer`.
"""
from __future__ import annotations

import numpy as np

from .widgets import Explorer

__all__ = ["check_record", "clip_options", "glimpse_compute", "glimpse_render", "glimpse_explorer", "GLIMPSE_COLORS",
           "architecture_figure", "toy_compute", "toy_render", "toy_explorer", "mechanism_figure"]

#: Colours of glimpses 1, 2, 3... (the paper's Fig. 3: red first, blue second, yellow third).
GLIMPSE_COLORS = ("#e41a1c", "#377eb8", "#ffd92f", "#4daf4a", "#984ea3", "#ff7f00", "#a65628", "#f781bf")

_KEYS = ("frames", "boxes", "assign", "mem_ts", "mem_w", "labels", "preds", "class_names")


def check_record(record: dict) -> tuple:
    """Validate a record; return ``(N, T, G, C, K)``. Raises ``ValueError`` on missing keys or
    shapes that do not agree."""
    missing = [k for k in _KEYS if k not in record]
    if missing:
        raise ValueError(f"glimpse record: missing {missing}")
    fr = np.asarray(record["frames"])
    if fr.ndim != 5 or fr.shape[-1] != 3:
        raise ValueError(f"glimpse record: frames must be (N, T, H, W, 3), got {fr.shape}")
    N, T = fr.shape[:2]
    bx = np.shape(record["boxes"])
    if len(bx) != 4 or bx[:2] != (N, T) or bx[3] != 4:
        raise ValueError(f"glimpse record: boxes must be ({N}, {T}, G, 4), got {bx}")
    G = bx[2]
    asg = np.shape(record["assign"])
    if len(asg) != 4 or asg[:2] != (N, T) or asg[3] != G:
        raise ValueError(f"glimpse record: assign must be ({N}, {T}, C, {G}), got {asg}")
    C = asg[2]
    ts = np.shape(record["mem_ts"])
    if len(ts) != 2 or ts[0] != T:
        raise ValueError(f"glimpse record: mem_ts must be ({T}, K), got {ts}")
    K = ts[1]
    if np.shape(record["mem_w"]) != (N, T, C, K):
        raise ValueError(f"glimpse record: mem_w must be ({N}, {T}, {C}, {K}), got {np.shape(record['mem_w'])}")
    if "points" in record and (np.ndim(record["points"]) != 4 or np.shape(record["points"])[:2] != (N, T)
                               or np.shape(record["points"])[3] != 2):
        raise ValueError(f"glimpse record: points must be ({N}, {T}, Q, 2), got {np.shape(record['points'])}")
    if len(record["labels"]) != N or len(record["preds"]) != N:
        raise ValueError("glimpse record: labels / preds do not match the N clips")
    return N, T, G, C, K


def clip_options(record: dict) -> list:
    """``[(text, index), ...]`` for the clip selector: correct clips first, then incorrect ones,
    each text ``"✓ #id drink"`` or ``"✗ #id drink -> wave"``."""
    names = record["class_names"]
    ids = record.get("clip_ids", np.arange(len(record["labels"])))
    opts = []
    for ok in (True, False):
        for i, (y, p) in enumerate(zip(record["labels"], record["preds"])):
            if (int(y) == int(p)) != ok:
                continue
            txt = f"✓ #{int(ids[i])} {names[int(y)]}" if ok else f"✗ #{int(ids[i])} {names[int(y)]} -> {names[int(p)]}"
            opts.append((txt, i))
    return opts


def glimpse_compute(record: dict, clip: int = 0, frame: int = 0, paths: bool = True) -> dict:
    """The arrays of one view.

    Returns a dict with ``image (H, W, 3)``; ``boxes (G, 4)`` of frame ``frame``; ``centres (G, 2)``;
    ``paths (G, frame + 1, 2)`` the glimpse centres of frames ``0..frame`` (``None`` if ``paths`` is False);
    ``assign (C, G)`` = ``p_{frame,.,.}``; ``workers (C, frame + 1, 2)`` each worker's position
    ``sum_g p_{t,c,g} centre_{t,g}`` over frames ``0..frame`` (where its soft-assigned glimpse looks);
    ``points (Q, 2)`` the informative points at ``frame`` (``None`` without ``record["points"]``);
    ``mem_age (K,)`` = ``frame - timestamp`` of each entry after the
    write of ``frame`` (the initial entries have timestamp ``-1``); ``mem_w (C, K)``; ``label``, ``pred``,
    ``correct``, ``title``, ``clip``, ``frame``, ``T`` (the clip's frames). Raises ``IndexError`` for a clip or frame out of range.
    """
    N, T, G, C, K = check_record(record)
    if not 0 <= clip < N:
        raise IndexError(f"glimpse_compute: clip {clip} not in [0, {N})")
    if not 0 <= frame < T:
        raise IndexError(f"glimpse_compute: frame {frame} not in [0, {T})")
    boxes = np.asarray(record["boxes"][clip], dtype=float)  # (T, G, 4)
    ctr = np.stack([(boxes[..., 0] + boxes[..., 2]) / 2, (boxes[..., 1] + boxes[..., 3]) / 2], -1)  # (T, G, 2)
    y, p = int(record["labels"][clip]), int(record["preds"][clip])
    names = record["class_names"]
    asg = np.asarray(record["assign"][clip], dtype=float)                                   # (T, C, G)
    pts = record.get("points")
    return {
        "clip": clip, "frame": frame,
        "image": np.asarray(record["frames"][clip, frame]),
        "boxes": boxes[frame], "centres": ctr[frame],
        "paths": ctr[: frame + 1].transpose(1, 0, 2) if paths else None,
        "assign": asg[frame],
        "workers": np.einsum("tcg,tgd->ctd", asg[: frame + 1], ctr[: frame + 1]),
        "points": None if pts is None else np.asarray(pts[clip, frame], dtype=float),
        "mem_age": frame - np.asarray(record["mem_ts"][frame], dtype=float),
        "mem_w": np.asarray(record["mem_w"][clip, frame], dtype=float),
        "label": y, "pred": p, "correct": y == p, "T": T,
        "title": f"{names[y]} (predicted {names[p]}, {'correct' if y == p else 'wrong'}), frame {frame + 1}/{T}",
    }


def glimpse_render(data: dict, figsize=(11, 3.4), fig=None):
    """Three panels: the frame with numbered, coloured glimpse boxes and their paths; the worker x glimpse
    soft-assignment heatmap; the memory (entry ages as bars, per-worker weights as a heatmap).

    ``fig``: a figure this function drew before for a view of the same shapes: its axes are kept and only
    what the view changes is redrawn (what :class:`Explorer` passes on a control change). What a view
    changes is marked animated (:func:`paperlib.viz.widgets.figure_png` then redraws only that); the
    rest, ticks and the age axis (0 to ``T``) included, is fixed. Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    img, A, Wm, age = data["image"], data["assign"], data["mem_w"], data["mem_age"]
    H, W = img.shape[:2]
    K = len(age)
    shape = (img.shape, A.shape, Wm.shape, data["T"])
    art = getattr(fig, "_glimpse_artists", None)
    if art is None or art["shape"] != shape:
        fig = plt.figure(figsize=figsize)
        # a fixed layout: tight_layout would measure every label with an extra draw (the widget's update budget)
        gs = fig.add_gridspec(2, 3, height_ratios=(1, 2), width_ratios=(1.1, 0.9, 1.4), left=0.01, right=0.99,
                              bottom=0.13, top=0.9, wspace=0.28, hspace=0.35)
        ax_img, ax_p = fig.add_subplot(gs[:, 0]), fig.add_subplot(gs[:, 1])
        ax_age = fig.add_subplot(gs[0, 2])
        ax_w = fig.add_subplot(gs[1, 2], sharex=ax_age)
        im = ax_img.imshow(img, animated=True)
        ax_img.set_xlim(0, W); ax_img.set_ylim(H, 0)
        ax_img.set_xticks([]); ax_img.set_yticks([])
        im_p = ax_p.imshow(A, vmin=0, vmax=1, cmap="viridis", aspect="auto", animated=True)
        txt_p = [[ax_p.text(g, c, "", ha="center", va="center", fontsize=7, animated=True) for g in range(A.shape[1])]
                 for c in range(A.shape[0])]
        ax_p.set_xticks(range(A.shape[1]), [f"g{g + 1}" for g in range(A.shape[1])])
        for t, lab in zip(ax_p.get_xticklabels(), range(A.shape[1])):
            t.set_color(GLIMPSE_COLORS[lab % len(GLIMPSE_COLORS)])
        ax_p.set_yticks(range(A.shape[0]), [f"worker {c + 1}" for c in range(A.shape[0])])
        ax_p.set_title("soft-assignment p[t, c, g] (Eq. 10)", fontsize=9)
        bars = ax_age.bar(np.arange(K), np.zeros(K), color="grey", animated=True)
        ax_age.set_ylim(0, data["T"] + 0.5)                    # fixed: ages run from 1 to T
        ax_age.set_ylabel("age", fontsize=8)
        ax_age.set_title("memory after this frame's write: entry age, weights w[c, k]", fontsize=9)
        ax_age.tick_params(labelbottom=False, labelsize=7)
        im_w = ax_w.imshow(Wm, vmin=0, vmax=1, cmap="magma", aspect="auto", animated=True)
        ax_img.title.set_animated(True)
        ax_w.set_yticks(range(Wm.shape[0]), [f"w{c + 1}" for c in range(Wm.shape[0])])
        ax_w.set_xticks(range(0, K, 3), [str(k) for k in range(0, K, 3)], fontsize=7)   # few ticks: each costs a draw
        ax_w.set_xlabel("memory entry k (oldest left)", fontsize=8)
        art = fig._glimpse_artists = {"shape": shape, "ax_img": ax_img, "im": im, "im_p": im_p, "txt_p": txt_p,
                                      "ax_age": ax_age, "bars": bars, "im_w": im_w}
    ax_img = art["ax_img"]
    for a in [*ax_img.patches, *ax_img.lines, *ax_img.texts]:                   # the previous view's overlay
        a.remove()
    art["im"].set_data(img)
    for g, (b, c) in enumerate(zip(data["boxes"], data["centres"])):
        col = GLIMPSE_COLORS[g % len(GLIMPSE_COLORS)]
        ax_img.add_patch(Rectangle((b[0], b[1]), b[2] - b[0], b[3] - b[1], fill=False, ec=col, lw=1.8))
        if data["paths"] is not None and len(data["paths"][g]) > 1:
            ax_img.plot(*data["paths"][g].T, "-o", color=col, ms=2.5, lw=1, alpha=0.8)
        ax_img.text(c[0], c[1], str(g + 1), color=col, fontsize=10, fontweight="bold", ha="center", va="center")
    if data["points"] is not None:
        pts = data["points"][np.isfinite(data["points"]).all(1)]
        ax_img.plot(pts[:, 0], pts[:, 1], "x", color="white", ms=9, mew=3)
        ax_img.plot(pts[:, 0], pts[:, 1], "x", color="black", ms=8, mew=1.5, label="held objects")
        for c, path in enumerate(data["workers"]):                 # where each worker's glimpse mixture looks
            ax_img.plot(*path.T, ":", color="white", lw=1.2)
            ax_img.text(*path[-1], f"w{c + 1}", fontsize=7, fontweight="bold", ha="center", va="center",
                        color="black", bbox={"boxstyle": "round,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8})
    for a in [*ax_img.patches, *ax_img.lines, *ax_img.texts]:                   # this view's overlay
        a.set_animated(True)
    ax_img.set_title(data["title"], fontsize=8, color="black" if data["correct"] else "crimson")
    art["im_p"].set_data(A)
    for c, row in enumerate(art["txt_p"]):
        for g, t in enumerate(row):
            t.set_text(f"{A[c, g]:.2f}")
            t.set_color("white" if A[c, g] < 0.6 else "black")
    for b, h in zip(art["bars"], age):
        b.set_height(h)
    art["im_w"].set_data(Wm)
    return fig


def glimpse_explorer(record: dict, clip: int | None = None, frame: int = 0):
    """The player: a clip selector (correct and incorrect test clips), a frame slider and a paths checkbox,
    wired to :func:`glimpse_compute` / :func:`glimpse_render` with :class:`Explorer`."""
    import ipywidgets as w

    N, T, G, C, K = check_record(record)
    opts = clip_options(record)
    controls = {
        "clip": w.Dropdown(options=opts, value=opts[0][1] if clip is None else clip, description="clip"),
        "frame": w.IntSlider(value=frame, min=0, max=T - 1, description="frame"),
        "paths": w.Checkbox(value=True, description="paths"),
    }
    return Explorer(controls, lambda **v: glimpse_compute(record, **v), glimpse_render,
                    title="Glimpse Clouds: glimpse paths, worker soft-assignment and memory")


def architecture_figure(figsize=(10, 3.3)):
    """A block diagram of the model (the paper's Fig. 1, as implemented in notebook 03); returns the Figure."""
    from .diagram import block_diagram

    boxes = [
        (0.1, 1.3, 1.1, 0.8, "RGB clip\nT frames", "#dddddd"),
        (1.6, 1.9, 1.5, 0.9, "global model f\n(inflated 3D CNN)\nZ_t, c_t", "#cfe2f3"),
        (1.6, 0.35, 1.5, 0.7, "pose head (Eq. 13)\nL_P (training only)", "#fce5cd"),
        (3.6, 1.9, 1.6, 0.9, "attention GRU Ω\n(Eqs. 3-4) → l_{t,g}", "#d9ead3"),
        (3.6, 0.35, 1.6, 1.0, "glimpses (Eqs. 1-2)\nmap crop + pixel\npatch CNN; L_G", "#d9ead3"),
        (5.6, 0.35, 1.3, 1.0, "what & where\nv = z ⊙ Λ(l)\n(Eq. 5)", "#ead1dc"),
        (5.6, 1.9, 1.3, 0.9, "memory M\nφ, p_{t,c,g}\n(Eqs. 9-10)", "#fff2cc"),
        (7.3, 1.1, 1.3, 1.2, "C workers Ψ_c\n(GRUs, Eqs. 6-8)", "#d0e0e3"),
        (8.9, 1.3, 1.0, 0.8, "ŷ: mean of\nlogits\n(Eqs. 11-12)", "#dddddd"),
    ]
    arrows = [((1.2, 1.7), (1.6, 2.3)), ((1.2, 1.7), (3.6, 0.8)), ((2.35, 1.9), (2.35, 1.05)),
              ((3.1, 2.35), (3.6, 2.35)), ((4.4, 1.9), (4.4, 1.35)), ((5.2, 0.85), (5.6, 0.85)),
              ((6.25, 1.35), (6.25, 1.9)), ((6.9, 2.3), (7.3, 1.9)), ((6.9, 0.85), (7.3, 1.4)),
              ((8.6, 1.7), (8.9, 1.7)), ((7.95, 2.3), (4.9, 2.8))]
    fig, _ = block_diagram(boxes, arrows, (10, 3.3), figsize=figsize,
                           title="Glimpse Clouds (after the paper's Fig. 1): no pose at test time",
                           notes=[(6.4, 3.05, "r_{t-1} = Σ_c r_{t-1,c} (Eq. 7) feeds the attention")])
    return fig


def toy_compute(alpha: float = 0.2, decay_sign: int = 1, init: str = "diagonal", noise: float = 0.15,
                T: int = 10, G: int = 3, K: int = 9, seed: int = 0) -> dict:
    """A 2-D toy of Eqs. 9-10: three parts drift slowly in feature space; each frame the ``G``
    glimpses see them in a random order (plus Gaussian ``noise``). ``C = G`` workers read the
    memory (``D = I``, decay ``exp(-decay_sign * 0.5 (t - t_k))``: ``+1`` the paper's text, ``-1``
    the printed Eq. 10 / official code; ``init`` ``"diagonal"`` or ``"uniform"`` frame-0 assignment).

    Returns ``v (T, G, 2)``, ``part (T, G)`` (which part each glimpse saw), ``p (T, C, G)``,
    ``q (T, C, G)`` (the share of each part in each worker's input), ``spec`` (mean JS divergence
    between workers, frames >= 1, nats), ``tracking`` (``1/G sum_j max_c mean_{t>=1} q_{t,c,j}``:
    1 when every part has its own worker, ``1/G`` or less when the workers read the same mixture)
    and the settings.
    Raises ``ValueError`` for an unknown ``init`` or ``decay_sign`` not in ``{-1, 1}``.
    """
    import torch

    from ..papers.glimpse import DECAY, memory_read, specialisation

    if init not in ("diagonal", "uniform") or decay_sign not in (-1, 1):
        raise ValueError(f"toy_compute: init must be diagonal/uniform and decay_sign +-1, got {init!r}, {decay_sign!r}")
    rng = np.random.default_rng(seed)
    ang = 2 * np.pi * np.arange(G) / G
    base = np.stack([np.cos(ang), np.sin(ang)], -1)                       # (G, 2) part positions
    drift = rng.normal(0, 0.05, (G, 2))
    part = np.stack([np.arange(G) if t == 0 else rng.permutation(G) for t in range(T)])
    v = np.stack([base[part[t]] + (t * drift)[part[t]] + noise * rng.normal(size=(G, 2)) for t in range(T)])
    vt = torch.as_tensor(v, dtype=torch.float64)[:, None]                 # (T, 1, G, 2)
    C = G
    p = torch.zeros(T, C, G, dtype=torch.float64)
    p[0] = torch.eye(G, dtype=torch.float64) if init == "diagonal" else 1.0 / G
    M, wm, ts = vt[0], p[0][None], torch.zeros(G, dtype=torch.float64)
    for t in range(1, T):
        p[t] = memory_read(vt[t], M, ts, wm, torch.eye(2, dtype=torch.float64), float(t), alpha,
                           decay=decay_sign * DECAY)[0]
        M = torch.cat([M, vt[t]], 1)[:, -K:]
        wm = torch.cat([wm, p[t][None]], 2)[:, :, -K:]
        ts = torch.cat([ts, torch.full((G,), float(t), dtype=torch.float64)])[-K:]
    p = p.numpy()
    onehot = np.eye(G)[part]                                              # (T, G glimpse, G part)
    q = np.einsum("tcg,tgj->tcj", p, onehot)
    tracking = float(q[1:].mean(0).max(0).sum() / G)                      # each part's best worker
    return {"v": v, "part": part, "p": p, "q": q, "spec": specialisation(torch.as_tensor(p)[None]),
            "tracking": tracking, "alpha": alpha, "decay_sign": decay_sign, "init": init, "noise": noise}


def toy_render(data: dict, figsize=(10, 3.2), fig=None):
    """Left: the glimpse features over time (colour = the worker that takes most of it). Right: per
    worker, the share ``q_{t,c,j}`` of each part in its input over time.

    ``fig``: a figure this function drew before for data of the same shapes: its artists are updated in
    place (what :class:`Explorer` passes on a control change; no axes or ticks to rebuild), and only they
    are marked animated (:func:`paperlib.viz.widgets.figure_png` redraws only those). Returns the Figure."""
    import matplotlib
    import matplotlib.pyplot as plt

    v, p, q = data["v"], data["p"], data["q"]
    T, C, G = p.shape
    art = getattr(fig, "_toy_artists", None)
    if art is None or art["shape"] != (T, C, G):
        # a fixed layout (no tight_layout: its extra draw would cost the widget's update budget)
        fig, axes = plt.subplots(1, C + 1, figsize=figsize, gridspec_kw={
            "width_ratios": [1.3] + [1] * C, "left": 0.02, "right": 0.99, "bottom": 0.16, "top": 0.8, "wspace": 0.45})
        sc = axes[0].scatter(v[..., 0].ravel(), v[..., 1].ravel(), s=np.repeat(12 + 4 * np.arange(T), G),
                             edgecolor="none", animated=True)             # one scatter for every (t, g)
        axes[0].set_title("glimpse features (colour: main worker)", fontsize=8)
        axes[0].set_xticks([]); axes[0].set_yticks([])
        ims = []
        for c in range(C):
            ax = axes[c + 1]
            ims.append(ax.imshow(q[:, c, :].T, vmin=0, vmax=1, cmap="viridis", aspect="auto", animated=True))
            ax.set_title(f"worker {c + 1}: share of each part", fontsize=8, color=GLIMPSE_COLORS[c % len(GLIMPSE_COLORS)])
            ax.set_xlabel("frame t", fontsize=7); ax.set_yticks(range(G), [f"part {j + 1}" for j in range(G)], fontsize=7)
            ax.set_xticks(range(0, T, 3))
            ax.tick_params(labelsize=7)
        art = fig._toy_artists = {"shape": (T, C, G), "ax": axes[0], "sc": sc, "ims": ims, "title": fig.suptitle("", fontsize=9, animated=True)}
    owner = p.argmax(1)                                                   # (T, G): worker of each glimpse
    rgba = np.array([matplotlib.colors.to_rgba(GLIMPSE_COLORS[o % len(GLIMPSE_COLORS)]) for o in owner.ravel()])
    rgba[:, 3] = np.repeat(0.4 + 0.6 * np.arange(T) / max(T - 1, 1), G)   # later frames more opaque
    xy = v.reshape(-1, 2)
    art["sc"].set_offsets(xy)
    art["sc"].set_facecolor(rgba)
    pad = 0.05 * max(float(np.ptp(xy)), 1e-6)
    art["ax"].set_xlim(xy[:, 0].min() - pad, xy[:, 0].max() + pad)
    art["ax"].set_ylim(xy[:, 1].min() - pad, xy[:, 1].max() + pad)
    for c, im in enumerate(art["ims"]):
        im.set_data(q[:, c, :].T)
    art["title"].set_text(f"α={data['alpha']:.2f}, decay sign {data['decay_sign']:+d}, init {data['init']}: "
                          f"specialisation {data['spec']:.3f} nats, tracking {data['tracking']:.2f} (1/G = {1 / G:.2f})")
    return fig


def toy_explorer(alpha: float = 0.2, decay_sign: int = 1, init: str = "diagonal", noise: float = 0.15):
    """Sliders for ``alpha`` and ``noise``, dropdowns for the decay sign and the initialisation, wired
    to :func:`toy_compute` / :func:`toy_render` with :class:`Explorer`."""
    import ipywidgets as w

    controls = {
        "alpha": w.FloatLogSlider(value=alpha, base=10, min=-2, max=0.5, step=0.1, description="α"),
        "decay_sign": w.Dropdown(options=[("recent weigh more (text)", 1), ("oldest weigh more (Eq. 10 printed)", -1)],
                                 value=decay_sign, description="decay"),
        "init": w.Dropdown(options=["diagonal", "uniform"], value=init, description="init"),
        "noise": w.FloatSlider(value=noise, min=0.0, max=1.0, step=0.05, description="noise"),
    }
    return Explorer(controls, lambda **vals: toy_compute(**vals), toy_render,
                    title="Eqs. 9-10 toy: does soft tracking emerge?")



def mechanism_figure(rows: list[dict], title: str = "", stride_px: float = 8.0, figsize=(12, 3.4)):
    """What the workers and the glimpses do, per glimpse variant, with 95% intervals over seeds.

    ``rows``: :func:`paperlib.report.glimpse.mechanism_rows` (one dict per variant, named by its ``label``, with
    ``(mean, lo, hi)``
    tuples of ``spec_t3`` (nats), ``track_px``, ``track_px_shuffled``, ``cover_px``, ``box_px`` and
    ``patch_step_px`` (pixels)). Four panels: specialisation after the transient; the distance from each
    informative point to its best-following worker against the shuffled control (tracking: below it); the
    distance from each point to the nearest glimpse; the box width against the patch's sampling step, with
    the trunk's map stride ``stride_px`` for reference. Returns the Figure. Raises ``KeyError`` for a row
    without one of those metrics."""
    import matplotlib.pyplot as plt

    names = [r["label"] for r in rows]
    x = np.arange(len(rows))
    fig, axes = plt.subplots(1, 4, figsize=figsize)

    def bars(ax, key, offset=0.0, width=0.6, **kw):
        m = np.array([r[key][0] for r in rows])
        err = np.abs(np.array([[r[key][1], r[key][2]] for r in rows]).T - m)
        ax.bar(x + offset, m, width, yerr=err, capsize=3, **kw)

    bars(axes[0], "spec_t3", color=[GLIMPSE_COLORS[i] for i in range(len(rows))])
    axes[0].set_title("specialisation, t ≥ 3 (nats)", fontsize=9)
    bars(axes[1], "track_px", -0.2, 0.4, color="C0", label="own assignment")
    bars(axes[1], "track_px_shuffled", 0.2, 0.4, color="0.7", label="shuffled control")
    axes[1].set_title("point → best-following worker (px)", fontsize=9)
    axes[1].legend(fontsize=7)
    bars(axes[2], "cover_px", color=[GLIMPSE_COLORS[i] for i in range(len(rows))])
    axes[2].set_title("point → nearest glimpse (px)", fontsize=9)
    bars(axes[3], "box_px", -0.2, 0.4, color="C2", label="box width")
    bars(axes[3], "patch_step_px", 0.2, 0.4, color="C1", label="patch sampling step")
    axes[3].axhline(stride_px, color="k", lw=0.8, ls="--", label=f"trunk stride {stride_px:g} px")
    axes[3].set_title("do the glimpses zoom? (px)", fontsize=9)
    axes[3].legend(fontsize=7)
    for ax in axes:
        ax.set_xticks(x, names, fontsize=7, rotation=15)
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig
