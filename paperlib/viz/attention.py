"""The attention-map viewer of the Video Action Transformer notebook (the paper's Fig. 4, interactive).

Pure functions over **recorded** arrays (never a live model), wired with
:class:`paperlib.viz.widgets.Explorer`:

- :func:`attention_prepare` takes once what every view of a record shares (its arrays, the context
  flags, a cache of the keys' PCA colours);
- :func:`attention_compute` picks a clip, a person, a layer, a head (or the average over heads) and a
  frame, and returns the softmax attention over ``(t, h, w)`` of that person's query, the frame, the
  attention slice of the feature-map time step that frame falls in (upsampled to the image), the
  key embeddings of that time step as RGB from a 3D PCA over all of the clip's key cells, and the
  person's predicted and true labels with the context-dependent ones flagged;
- :func:`attention_render` draws them (frame + attention overlay + the person's box; PCA RGB of the
  keys; a bar chart of predicted probabilities with true labels marked and context classes
  highlighted) in a fixed layout, and updates a figure it drew before in place (``fig=``: the
  viewer's updates redraw only what a view changes, see :func:`paperlib.viz.widgets.figure_png`);
- :func:`attention_viewer` returns the :class:`~paperlib.viz.widgets.Explorer`.

The record is a dict:

``frames`` uint8 ``(N, T, H, W, 3)``; ``boxes`` ``(N, R, 4)`` pixels; ``valid`` bool ``(N, R)``;
``attn`` ``(N, L, Hd, R, T', H', W')`` softmax weights (each ``(T', H', W')`` slice sums to 1);
``keys`` ``(N, L, Hd, T', H', W', D)``; ``probs`` ``(N, R, C)``; ``labels`` ``(N, R, C)`` 0/1;
``class_names`` (C strings); ``context`` (the names of the context-dependent classes); optional
``targets`` int ``(N, R)``: the RoI each person watches, ``-1`` for none
(:attr:`paperlib.data.video.MultiPersonClips.targets`), drawn as a dashed box.
"""
from __future__ import annotations

import numpy as np

__all__ = ["attention_prepare", "attention_compute", "attention_render", "attention_viewer", "pca_rgb",
           "upsample_nearest",
           "region_shares", "architecture_figure", "context_figure"]


def pca_rgb(x: np.ndarray) -> np.ndarray:
    """Rows ``(n, D)`` -> ``(n, 3)`` in ``[0, 1]``: projections on the 3 leading principal axes, each
    min-max scaled. Axes' signs are fixed so that the largest-magnitude loading is positive
    (a deterministic result). Fewer than 3 non-trivial axes give constant channels (0.5)."""
    x = np.asarray(x, np.float64)
    xc = x - x.mean(0, keepdims=True)
    _, _, vt = np.linalg.svd(xc, full_matrices=False)
    vt = vt[:3]
    sign = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])
    proj = xc @ (vt * sign[:, None]).T
    if proj.shape[1] < 3:
        proj = np.concatenate([proj, np.zeros((len(proj), 3 - proj.shape[1]))], 1)
    lo, hi = proj.min(0), proj.max(0)
    span = hi - lo
    out = np.where(span > 1e-12, (proj - lo) / np.where(span > 1e-12, span, 1.0), 0.5)
    return out.astype(np.float32)


def upsample_nearest(a: np.ndarray, shape) -> np.ndarray:
    """Nearest-neighbour upsampling of a 2D map ``(h, w)`` to ``shape = (H, W)`` (cell ``i`` covers
    pixels ``[i H / h, (i + 1) H / h)``)."""
    a = np.asarray(a)
    H, W = shape
    ri = np.minimum((np.arange(H) * a.shape[0]) // H, a.shape[0] - 1)
    ci = np.minimum((np.arange(W) * a.shape[1]) // W, a.shape[1] - 1)
    return a[ri][:, ci]


def region_shares(attn: np.ndarray, boxes: np.ndarray, valid: np.ndarray, person: int, image_hw) -> dict:
    """Attention inside boxes against a uniform map over the **same** cells.

    ``attn (T', H', W')`` one query's softmax weights; ``boxes (R, 4)`` pixels ``x1, y1, x2, y2``;
    ``valid (R,)`` bool; ``person`` the query's RoI; ``image_hw = (H, W)`` pixels. A feature cell
    ``(i, j)`` spans pixels ``[i H / H', (i + 1) H / H')`` (as :func:`upsample_nearest` draws it)
    and belongs to a box when its centre lies inside. Returns ``{"other": attention share in the
    union of the other valid people's boxes, "other_uniform": the share a uniform map gives those
    cells (their fraction of all cells), "own", "own_uniform": the same for the person's own box,
    "n_other": number of other people}``; shares over all ``T'`` steps (the attention sums to 1).
    """
    attn = np.asarray(attn, np.float64)
    Tp, Hp, Wp = attn.shape
    H, W = image_hw
    cy = (np.arange(Hp) + 0.5) * H / Hp
    cx = (np.arange(Wp) + 0.5) * W / Wp

    def inside(b):
        x1, y1, x2, y2 = b
        return ((cy >= y1) & (cy < y2))[:, None] & ((cx >= x1) & (cx < x2))[None, :]   # (H', W')

    valid = np.asarray(valid, bool)
    others = [r for r in np.flatnonzero(valid) if r != person]
    m_other = np.zeros((Hp, Wp), bool)
    for r in others:
        m_other |= inside(np.asarray(boxes)[r])
    m_own = inside(np.asarray(boxes)[person])
    per_cell = attn.sum(0)                                      # (H', W'): summed over time steps
    total = float(per_cell.sum()) or 1.0
    return {"other": float(per_cell[m_other].sum() / total), "other_uniform": float(m_other.mean()),
            "own": float(per_cell[m_own].sum() / total), "own_uniform": float(m_own.mean()),
            "n_other": len(others)}


def attention_prepare(record: dict) -> dict:
    """What every view of ``record`` shares, taken once (:func:`attention_viewer` does it when it is
    built, so that a control change only slices arrays and reads a cache).

    Returns a dict: the record's arrays as numpy arrays (``frames (N, T, H, W, 3)``, ``boxes (N, R, 4)``
    pixels, ``valid (N, R)``, ``attn (N, L, Hd, R, T', H', W')``, ``keys (N, L, Hd, T', H', W', D)``,
    ``probs (N, R, C)``, ``labels (N, R, C)``, ``targets (N, R)`` int or ``None``), ``names`` (the C class
    names), ``is_context (C,)`` bool (the name is one of the record's ``context`` classes) and ``key_rgb``,
    a cache of the keys' 3D PCA colours (:func:`pca_rgb` over all of a clip's key cells) per
    ``(clip, layer, head)``, arrays ``(T', H', W', 3)`` in ``[0, 1]``, that :func:`attention_compute` fills
    (the latest 256).

    Raises ``ValueError`` if ``attn`` or ``keys`` is not 7-dimensional or their clips, layers, heads, people
    and cells do not match the frames, the boxes and each other.
    """
    frames = np.asarray(record["frames"])
    attn, keys = np.asarray(record["attn"]), np.asarray(record["keys"])
    boxes = np.asarray(record["boxes"])
    if attn.ndim != 7 or keys.ndim != 7:
        raise ValueError(f"attention_prepare: expected attn (N, L, Hd, R, T', H', W') and keys "
                         f"(N, L, Hd, T', H', W', D), got {attn.shape} and {keys.shape}")
    if (attn.shape[0] != len(frames) or attn.shape[3] != boxes.shape[1]
            or keys.shape[:6] != attn.shape[:3] + attn.shape[4:]):
        raise ValueError(f"attention_prepare: attn {attn.shape}, keys {keys.shape}, frames {frames.shape} and "
                         f"boxes {boxes.shape} disagree on the clips, layers, heads, people or cells")
    names = list(record["class_names"])
    ctx = set(record.get("context", ()))
    targets = record.get("targets")
    return {"frames": frames, "boxes": boxes, "valid": np.asarray(record["valid"]), "attn": attn, "keys": keys,
            "probs": np.asarray(record["probs"]), "labels": np.asarray(record["labels"]),
            "targets": None if targets is None else np.asarray(targets), "names": names,
            "is_context": np.array([n in ctx for n in names], dtype=bool), "key_rgb": {}}


def _key_rgb(prep: dict, clip: int, layer: int, head: int) -> np.ndarray:
    """:func:`pca_rgb` of the keys of ``(clip, layer, head)`` over all their cells, ``(T', H', W', 3)``,
    from ``prep["key_rgb"]`` (computed and stored on the first request; the oldest of 256 dropped)."""
    cache = prep["key_rgb"]
    rgb = cache.get((clip, layer, head))
    if rgb is None:
        keys = prep["keys"][clip, layer, head]                  # (T', H', W', D)
        rgb = pca_rgb(keys.reshape(-1, keys.shape[-1])).reshape(keys.shape[:-1] + (3,))
        if len(cache) >= 256:
            cache.pop(next(iter(cache)))
        cache[(clip, layer, head)] = rgb
    return rgb


def attention_compute(record: dict, clip: int = 0, person: int = 0, layer: int = -1, head="mean",
                      frame: int | None = None, prepared: dict | None = None) -> dict:
    """Data of one view.

    Parameters
    ----------
    record : see the module docstring.
    clip, person : indices (``person`` is clamped to the clip's valid RoIs).
    layer : Tx layer (negative counts from the last).
    head : int, or ``"mean"`` for the average over heads (the paper's Fig. 4 view).
    frame : input frame (default: the centre frame ``T // 2``); it shows the attention of the
        feature-map time step ``t' = frame * T' // T``.
    prepared : :func:`attention_prepare` of this ``record`` (default: taken here; the viewer passes the
        one it took when it was built, whose cache keeps the keys' PCA colours of the views seen).

    Returns
    -------
    dict with ``image (H, W, 3)`` uint8, ``attn (T', H', W')`` (sums to 1), ``attn_frame (H', W')``,
    ``overlay (H, W)`` (the frame's slice upsampled, scaled by its maximum over the clip), ``box``,
    ``t_feat``, ``frame``, ``key_rgb (H', W', 3)``, ``probs (C,)``, ``true (C,)`` bool, ``names``,
    ``is_context (C,)`` bool, ``shares`` (:func:`region_shares`: attention in the other people's
    boxes and in the person's own, next to a uniform map over the same cells), ``target`` (the
    watched person's RoI index or ``None``), ``target_box`` (its box or ``None``),
    ``target_share`` (:func:`region_shares` of the watched person's box alone: ``own`` /
    ``own_uniform`` of that box, or ``None``), ``title``.

    Raises ``ValueError`` for a record whose arrays disagree (:func:`attention_prepare`).
    """
    prep = attention_prepare(record) if prepared is None else prepared
    frames = prep["frames"]
    N, T, H, W = frames.shape[:4]
    attn_all = prep["attn"]
    L, Hd = attn_all.shape[1:3]
    clip = int(np.clip(clip, 0, N - 1))
    boxes, valid_c = prep["boxes"][clip], prep["valid"][clip]
    valid = np.flatnonzero(valid_c)
    person = int(valid[min(max(int(person), 0), len(valid) - 1)]) if len(valid) else 0
    layer = int(layer) % L
    frame = T // 2 if frame is None else int(np.clip(frame, 0, T - 1))
    a = attn_all[clip, layer, :, person]                       # (Hd, T', H', W')
    if head == "mean" or head is None:
        attn, head_label, key_head = a.mean(0), "mean of heads", 0    # keys of head 0 for the PCA panel
    else:
        key_head = int(head) % Hd
        attn, head_label = a[key_head], f"head {key_head}"
    Tp, Hp, Wp = attn.shape
    t_feat = min(frame * Tp // T, Tp - 1)
    rgb = _key_rgb(prep, clip, layer, key_head)
    peak = float(attn.max()) if attn.max() > 0 else 1.0
    names = prep["names"]
    probs = prep["probs"][clip, person].astype(np.float64)
    true = prep["labels"][clip, person].astype(bool)
    shares = region_shares(attn, boxes, valid_c, person, (H, W))
    target = None
    if prep["targets"] is not None:
        t_ = int(prep["targets"][clip, person])
        target = t_ if 0 <= t_ < len(valid_c) and valid_c[t_] and t_ != person else None
    target_share = None if target is None else region_shares(attn, boxes, valid_c, target, (H, W))
    return {
        "image": frames[clip, frame], "attn": attn, "attn_frame": attn[t_feat],
        "overlay": upsample_nearest(attn[t_feat] / peak, (H, W)), "box": boxes[person],
        "t_feat": t_feat, "frame": frame, "key_rgb": rgb[t_feat].copy(), "key_head": key_head, "probs": probs,
        "true": true, "names": list(names), "is_context": prep["is_context"].copy(), "shares": shares,
        "target": target, "target_box": None if target is None else boxes[target],
        "target_share": None if target_share is None else {"share": target_share["own"],
                                                           "uniform": target_share["own_uniform"]},
        "title": f"clip {clip}, person {person}, layer {layer + 1}/{L}, {head_label}, frame {frame} (t'={t_feat})",
    }


# The figure's fixed layout, inches: a 12 x 3.9 figure; the two image panels are squares of _SIDE at
# _LEFT and _LEFT + _SIDE + _GAP (room for the first panel's two-line title, wider than the panel); the
# bar chart starts right of the second panel after its tick labels' width and ends _RIGHT from the edge.
_FIGSIZE = (12.0, 3.9)
_LEFT, _SIDE, _GAP, _BOTTOM, _RIGHT = 0.7, 2.8, 0.5, 0.6, 0.15
_BARS_BOTTOM, _BARS_HEIGHT = 0.56, 2.9


def _bar_labels(names, is_context) -> list:
    """The bar chart's tick labels: a class name up to its first ``" ("``, ``" *"`` for context classes."""
    return [n.split(" (")[0] + (" *" if c else "") for n, c in zip(names, is_context)]


def _shape_key(d: dict) -> tuple:
    """What :func:`attention_render`'s layout depends on: the frame's shape and dtype, the overlay's and
    the key map's shapes, the class names and which of them are context classes."""
    image = np.asarray(d["image"])
    return (image.shape, image.dtype.str, np.shape(d["overlay"]), np.shape(d["key_rgb"]),
            tuple(str(n) for n in d["names"]), tuple(bool(c) for c in d["is_context"]))


def _attention_layout(shape: tuple):
    """A new figure for data of ``shape`` (:func:`_shape_key`): fixed axes, every artist a view changes
    created once (with placeholder data) and marked animated; they are kept on ``fig._attention_artists``."""
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_agg import RendererAgg
    from matplotlib.font_manager import FontProperties

    image_shape, image_dtype, overlay_shape, key_shape, names, ctx = shape
    fw, fh = _FIGSIZE
    fig = plt.figure(figsize=_FIGSIZE)

    def axes(left, bottom, width, height):                     # inches -> figure fraction
        return fig.add_axes((left / fw, bottom / fh, width / fw, height / fh))

    ax0 = axes(_LEFT, _BOTTOM, _SIDE, _SIDE)
    frame_im = ax0.imshow(np.zeros(image_shape, np.dtype(image_dtype)))
    overlay_im = ax0.imshow(np.zeros(overlay_shape), cmap="inferno", alpha=0.6, vmin=0, vmax=1,
                            interpolation="nearest")
    own = ax0.add_patch(plt.Rectangle((0, 0), 0, 0, fill=False, color="cyan", lw=1.5))
    watched = ax0.add_patch(plt.Rectangle((0, 0), 0, 0, fill=False, color="magenta", lw=1.5, ls="--"))
    H, W = image_shape[:2]
    ax0.set_xlim(-0.5, W - 0.5)                                 # the frame's extent, whatever the boxes
    ax0.set_ylim(H - 0.5, -0.5)
    ax0.set_axis_off()
    ax1 = axes(_LEFT + _SIDE + _GAP, _BOTTOM, _SIDE, _SIDE)
    key_im = ax1.imshow(np.zeros(key_shape), interpolation="nearest")
    ax1.set_axis_off()
    # the view's title: an Axes text at the figure's top centre (a plain savefig draws it too)
    suptitle = ax1.text(0.5, 0.98, "", transform=fig.transFigure, ha="center", va="top", fontsize=10)
    labels = _bar_labels(names, ctx)
    measure, prop = RendererAgg(1, 1, 72), FontProperties(size=8)
    label_w = max((measure.get_text_width_height_descent(t, prop, ismath=False)[0] for t in labels), default=0.0) / 72
    left = _LEFT + 2 * _SIDE + _GAP + 0.3 + label_w
    ax2 = axes(left, _BARS_BOTTOM, max(fw - _RIGHT - left, 1.0), _BARS_HEIGHT)   # (very long names: off the edge)
    y = np.arange(len(names))
    bars = ax2.barh(y, np.zeros(len(names)), color=np.where(np.array(ctx, bool), "tab:orange", "tab:blue"))
    stars = ax2.scatter(np.zeros(0), np.zeros(0), marker="*", color="k", s=40, label="true label", clip_on=False)
    ax2.set_yticks(y)
    ax2.set_yticklabels(labels, fontsize=8)
    for lab, c in zip(ax2.get_yticklabels(), ctx):
        if c:
            lab.set_color("tab:orange")
    ax2.invert_yaxis()
    ax2.set_xlim(0, 1.05)
    ax2.set_xlabel("predicted probability (orange, *: context-dependent)", fontsize=8)
    # the legend above the bars' top right corner: never over a bar or a star (and drawn once, in the background)
    ax2.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.2, frameon=False, fontsize=8)
    # animated: what a view changes, and what a plain draw puts over it (the bar chart's frame)
    for a in (frame_im, overlay_im, own, watched, ax0.title, key_im, ax1.title, suptitle, *bars, stars,
              *ax2.spines.values()):
        a.set_animated(True)
    fig._attention_artists = {"shape": shape, "ax0": ax0, "ax1": ax1, "frame": frame_im, "overlay": overlay_im,
                              "own": own, "watched": watched, "keys": key_im, "suptitle": suptitle,
                              "bars": list(bars), "stars": stars}
    return fig


def attention_render(d: dict, fig=None):
    """Figure of :func:`attention_compute`'s data: the frame with the attention overlay (max-scaled,
    ``inferno``), the person's box (cyan) and the watched person's (dashed magenta), titled with the
    attention shares; the keys' PCA colours of the time step; the predicted probabilities as bars (context
    classes orange) with the true labels starred (the legend above the chart); the view's title on top.

    The layout is fixed (12 x 3.9 inches, explicit axes, no ``tight_layout``). ``fig``: a figure this
    function drew before for data of the same shapes (the frame's shape and dtype, the overlay's and the
    key map's, the class names and context flags), as :class:`~paperlib.viz.widgets.Explorer` passes on a
    control change: its artists are updated in place and what a view changes is marked animated (the
    images, the boxes, the titles, the bars, the stars, the bar chart's frame), so that
    :func:`paperlib.viz.widgets.figure_png` redraws only that; draw the figure with it (a plain
    ``canvas.draw`` leaves the animated artists out; ``savefig`` draws them). Otherwise a new figure is built.

    Returns the Figure. Raises ``ValueError`` if the overlay is not the frame's ``(H, W)`` or the
    probabilities, true labels and context flags are not one per class name.
    """
    shape = _shape_key(d)
    if tuple(np.shape(d["overlay"])) != shape[0][:2]:
        raise ValueError(f"attention_render: overlay {np.shape(d['overlay'])} is not the frame's {shape[0][:2]}")
    C = len(shape[4])
    if not (np.shape(d["probs"]) == np.shape(d["true"]) == (C,) and len(shape[5]) == C):
        raise ValueError(f"attention_render: expected probs, true and is_context of {C} classes, got "
                         f"{np.shape(d['probs'])}, {np.shape(d['true'])} and {len(shape[5])}")
    art = getattr(fig, "_attention_artists", None)
    if art is None or art["shape"] != shape:
        fig = _attention_layout(shape)
        art = fig._attention_artists
    art["frame"].set_data(d["image"])
    art["overlay"].set_data(d["overlay"])
    x1, y1, x2, y2 = (float(v) for v in d["box"])
    art["own"].set_bounds(x1, y1, x2 - x1, y2 - y1)
    watched = ""
    if d.get("target_box") is not None:
        tx1, ty1, tx2, ty2 = (float(v) for v in d["target_box"])
        art["watched"].set_bounds(tx1, ty1, tx2 - tx1, ty2 - ty1)
        ts = d["target_share"]
        watched = f"; watched (dashed) {ts['share']:.2f} (uniform {ts['uniform']:.2f})"
    art["watched"].set_visible(d.get("target_box") is not None)
    sh = d.get("shares")
    if sh is not None and sh["n_other"]:
        title, size = (f"attention in other people's boxes {sh['other']:.2f} (uniform {sh['other_uniform']:.2f});\n"
                       f"own box {sh['own']:.2f} (uniform {sh['own_uniform']:.2f}){watched}"), 8
    elif sh is not None:
        title, size = f"own box {sh['own']:.2f} (uniform {sh['own_uniform']:.2f}); no other person", 8
    else:
        title, size = "softmax attention (max-scaled)", 9
    art["ax0"].title.set_text(title)
    art["ax0"].title.set_fontsize(size)
    art["keys"].set_data(d["key_rgb"])
    art["ax1"].title.set_text(f"keys of t'={d['t_feat']} (head {d['key_head']}): 3D PCA as RGB")
    art["ax1"].title.set_fontsize(9)
    for bar, p in zip(art["bars"], np.asarray(d["probs"], np.float64)):
        bar.set_width(float(p))
    rows = np.flatnonzero(np.asarray(d["true"], bool))
    art["stars"].set_offsets(np.column_stack([np.full(len(rows), 1.02), rows]))
    art["suptitle"].set_text(d["title"])
    return fig


def attention_viewer(record: dict, clip: int = 0, person: int = 0, layer: int = -1, head="mean",
                     frame: int | None = None):
    """The viewer widget (an :class:`~paperlib.viz.widgets.Explorer`): controls ``clip``, ``person``,
    ``layer``, ``head`` (``"mean"`` or a head index) and ``frame`` (a slider over the input frames).
    The person slider spans the chosen clip's valid RoIs only (its range follows the clip; a clip change
    is one update, with the person clamped to the new range).

    The record is prepared once (:func:`attention_prepare`) and every control change updates the figure
    in place (:func:`attention_render` with ``fig=`` the previous one). Raises ``ValueError`` as
    :func:`attention_prepare` does."""
    import ipywidgets as w

    from .widgets import Explorer

    prep = attention_prepare(record)
    N, T = prep["frames"].shape[:2]
    n_valid = prep["valid"].astype(bool).sum(1)
    L, Hd = prep["attn"].shape[1:3]
    controls = {
        "clip": w.IntSlider(value=clip, min=0, max=N - 1, description="clip"),
        "person": w.IntSlider(value=min(person, max(int(n_valid[clip]) - 1, 0)), min=0,
                              max=max(int(n_valid[clip]) - 1, 0), description="person"),
        "layer": w.Dropdown(options=[(f"layer {i + 1}", i) for i in range(L)], value=int(layer) % L, description="layer"),
        "head": w.Dropdown(options=[("mean", "mean")] + [(f"head {i}", i) for i in range(Hd)], value=head,
                           description="head"),
        "frame": w.IntSlider(value=T // 2 if frame is None else frame, min=0, max=T - 1, description="frame"),
    }
    ex = None

    def bound_person(change):
        # observes the clip before the Explorer does: the person's range follows the clip (ipywidgets clamps
        # the value when max drops below it) without an update of its own; the Explorer's clip observer, next,
        # updates once with both values
        slider = controls["person"]
        slider.unobserve(ex._on_change, names="value")
        try:
            slider.max = max(int(n_valid[change["new"]]) - 1, 0)
        finally:
            slider.observe(ex._on_change, names="value")

    controls["clip"].observe(bound_person, names="value")

    def compute(**values):
        return attention_compute(record, **values, prepared=prep)

    ex = Explorer(controls, compute, attention_render, title="Action Transformer attention viewer")
    return ex


def architecture_figure(figsize=(11, 3.4)):
    """A block diagram of the model (the paper's Fig. 2, as implemented in notebook 04): the trunk's
    feature map, the RPN on its centre frame, RoIAlign of each proposal into the query (QPr), the
    memory of every cell with the location embedding, 2 heads x 3 layers of Tx units, and the
    classifier and box regressor; the I3D head is the alternative on the same RoIs. Returns the
    Figure."""
    from .diagram import block_diagram

    boxes = [
        (0.1, 1.3, 1.0, 0.8, "clip\nT x H x W", "#dddddd"),
        (1.5, 1.3, 1.4, 0.8, "I3D-style trunk\nT/2 x H/4 x W/4\n(Sec. 3.1)", "#cfe2f3"),
        (3.3, 2.35, 1.5, 0.8, "RPN on the\ncentre frame\n(R proposals)", "#fce5cd"),
        (5.2, 2.35, 1.6, 0.8, "RoIAlign 14x14\n-> max-pool 7x7\nQPr: Low/HighRes", "#d9ead3"),
        (3.3, 1.05, 1.5, 0.9, "memory: every cell\n+ location emb.\n(Sec. 3.4) -> K, V", "#fff2cc"),
        (7.2, 1.45, 1.7, 1.2, "Tx unit x 2 heads\nx 3 layers\nEq. (1) attention\nEq. (2) LN, FFN", "#ead1dc"),
        (9.3, 1.45, 1.6, 1.2, "C + 1 sigmoids\n(actions, person)\n+ box deltas", "#dddddd"),
        (5.2, 0.1, 1.6, 0.8, "I3D head: ST-RoI\ntube + 3D blocks\n(Sec. 3.3)", "#d0e0e3"),
    ]
    arrows = [((1.1, 1.7), (1.5, 1.7)), ((2.9, 1.9), (3.3, 2.7)), ((2.9, 1.6), (3.3, 1.5)),
              ((4.8, 2.75), (5.2, 2.75)), ((6.8, 2.6), (7.2, 2.3)), ((4.8, 1.5), (7.2, 1.8)),
              ((8.9, 2.05), (9.3, 2.05)), ((2.9, 1.4), (5.2, 0.5)), ((6.8, 0.5), (9.3, 1.5))]
    fig, _ = block_diagram(boxes, arrows, (11, 3.4), figsize=figsize,
                           title="Video Action Transformer Network (after the paper's Fig. 2): a person's query "
                                 "attends over the clip",
                           notes=[(8.05, 2.85, "query Q: the person"), (6.0, 1.3, "keys, values: the whole clip")])
    return fig


def context_figure(points_b: list[dict], labels: dict, figsize=(14.0, 4.0)):
    """Grid 04b's heads against their controls, one dot per seed, paired seeds joined by grey lines:
    (a) frame-mAP with GT boxes on the context classes per head (``labels``: ``{variant: label}``, in
    order; mean and 95% t-interval in black); (b) the share of the attention in the other people's boxes
    of the Tx heads with a map, next to a uniform map over the same cells (per seed, the learned head's
    uniform share); (c) the map's entropy / log N (1: uniform) and its query dependence (total variation
    between two people's maps; 0: the map ignores the query). Returns the Figure. Raises ``KeyError`` for a
    missing metric."""
    import matplotlib.pyplot as plt

    from ..stats import mean_ci

    fig, axes = plt.subplots(1, 3, figsize=figsize, gridspec_kw={"width_ratios": [2.8, 1.1, 1.1]})
    names = list(labels)
    colour = {"highres": "C0", "highres_oracle": "C2", "i3d": "0.5", "i3d_wide": "0.35", "highres_uniform": "C1",
              "highres_nomem": "C3"}
    ax = axes[0]
    ctx = np.array([[p["metrics"][v]["context_mAP_gt"] for v in names] for p in points_b]) * 100   # (seeds, heads)
    x = np.arange(len(names))
    for row in ctx:
        ax.plot(x, row, color="0.85", lw=0.8, zorder=1)
    for i, v in enumerate(names):
        ax.scatter(np.full(len(ctx), x[i]), ctx[:, i], s=16, color=colour.get(v, "C4"), zorder=2)
        m, lo, hi = mean_ci(ctx[:, i])
        ax.errorbar(x[i] + 0.18, m, yerr=[[m - lo], [hi - m]], fmt="o", color="k", ms=3, capsize=3)
    ax.set_xticks(x, [labels[v].replace(", ", ",\n").replace(" (", "\n(") for v in names], fontsize=7)
    ax.set_ylabel("context-class frame-mAP (points)")
    ax.set_title("(a) context classes, GT boxes: heads and controls", fontsize=9)
    ax = axes[1]
    mapped = [v for v in names if "attn_other" in points_b[0]["metrics"][v]]
    cols = ["uniform map"] + [labels[v] for v in mapped]
    sh = np.array([[p["metrics"]["highres"]["attn_other_uniform"]] + [p["metrics"][v]["attn_other"] for v in mapped]
                   for p in points_b])
    for row in sh:
        ax.plot(np.arange(len(cols)), row, color="0.85", lw=0.8)
    for i in range(len(cols)):
        ax.scatter(np.full(len(sh), i), sh[:, i], s=16, color="0.5" if i == 0 else colour.get(mapped[i - 1], "C4"))
    ax.set_xticks(np.arange(len(cols)), [c.replace("Tx HighRes, ", "").replace(" attention", "") for c in cols],
                  fontsize=7, rotation=20)
    ax.set_ylim(0, 1)
    ax.set_ylabel("attention in other people's boxes")
    ax.set_title("(b) where the map looks", fontsize=9)
    ax = axes[2]
    for j, (key, mark) in enumerate((("attn_entropy", "o"), ("attn_query_tv", "s"))):
        for i, v in enumerate(mapped):
            vals = [p["metrics"][v][key] for p in points_b]
            ax.scatter(np.full(len(vals), i + 0.15 * (2 * j - 1)), vals, s=16, marker=mark,
                       color=colour.get(v, "C4"), label=("entropy / log N" if key == "attn_entropy" else
                                                          "query dependence (TV)") if i == 0 else None)
    ax.set_xticks(np.arange(len(mapped)), [labels[v].replace("Tx HighRes, ", "").replace(" attention", "")
                                           for v in mapped], fontsize=7, rotation=20)
    ax.set_ylim(-0.03, 1.05)
    ax.legend(fontsize=7, loc="center right")
    ax.set_title("(c) the map: spread and query dependence", fontsize=9)
    fig.tight_layout()
    return fig
