"""The attention-map viewer of the Video Action Transformer notebook (the paper's Fig. 4, interactive).

Pure functions over **recorded** arrays (never a live model), wired with
:class:`paperlib.viz.widgets.Explorer`:

- :func:`attention_compute` picks a clip, a person, a layer, a head (or the average over heads) and a
  frame, and returns the softmax attention over ``(t, h, w)`` of that person's query, the frame, the
  attention slice of the feature-map time step that frame falls in (upsampled to the image), the
  key embeddings of that time step as RGB from a 3D PCA over all of the clip's key cells, and the
  person's predicted and true labels with the context-dependent ones flagged;
- :func:`attention_render` draws them (frame + attention overlay + the person's box; PCA RGB of the
  keys; a bar chart of predicted probabilities with true labels marked and context classes
  highlighted);
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

__all__ = ["attention_compute", "attention_render", "attention_viewer", "pca_rgb", "upsample_nearest",
           "region_shares", "architecture_figure"]


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


def attention_compute(record: dict, clip: int = 0, person: int = 0, layer: int = -1, head="mean",
                      frame: int | None = None) -> dict:
    """Data of one view.

    Parameters
    ----------
    record : see the module docstring.
    clip, person : indices (``person`` is clamped to the clip's valid RoIs).
    layer : Tx layer (negative counts from the last).
    head : int, or ``"mean"`` for the average over heads (the paper's Fig. 4 view).
    frame : input frame (default: the centre frame ``T // 2``); it shows the attention of the
        feature-map time step ``t' = frame * T' // T``.

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
    """
    frames = np.asarray(record["frames"])
    N, T, H, W = frames.shape[:4]
    attn_all = np.asarray(record["attn"])
    L, Hd = attn_all.shape[1:3]
    clip = int(np.clip(clip, 0, N - 1))
    valid = np.flatnonzero(np.asarray(record["valid"])[clip])
    person = int(valid[min(max(int(person), 0), len(valid) - 1)]) if len(valid) else 0
    layer = int(layer) % L
    frame = T // 2 if frame is None else int(np.clip(frame, 0, T - 1))
    a = attn_all[clip, layer, :, person]                       # (Hd, T', H', W')
    if head == "mean" or head is None:
        attn, head_label = a.mean(0), "mean of heads"
        keys = np.asarray(record["keys"])[clip, layer, 0]      # keys of head 0 for the PCA panel
        key_head = 0
    else:
        head = int(head) % Hd
        attn, head_label = a[head], f"head {head}"
        keys = np.asarray(record["keys"])[clip, layer, head]
        key_head = head
    Tp, Hp, Wp = attn.shape
    t_feat = min(frame * Tp // T, Tp - 1)
    rgb = pca_rgb(keys.reshape(-1, keys.shape[-1])).reshape(Tp, Hp, Wp, 3)
    peak = float(attn.max()) if attn.max() > 0 else 1.0
    names = list(record["class_names"])
    ctx = set(record.get("context", ()))
    probs = np.asarray(record["probs"])[clip, person].astype(np.float64)
    true = np.asarray(record["labels"])[clip, person].astype(bool)
    boxes, valid_c = np.asarray(record["boxes"])[clip], np.asarray(record["valid"])[clip]
    shares = region_shares(attn, boxes, valid_c, person, (H, W))
    target = None
    if record.get("targets") is not None:
        t_ = int(np.asarray(record["targets"])[clip, person])
        target = t_ if 0 <= t_ < len(valid_c) and valid_c[t_] and t_ != person else None
    target_share = None if target is None else region_shares(attn, boxes, valid_c, target, (H, W))
    return {
        "image": frames[clip, frame], "attn": attn, "attn_frame": attn[t_feat],
        "overlay": upsample_nearest(attn[t_feat] / peak, (H, W)), "box": np.asarray(record["boxes"])[clip, person],
        "t_feat": t_feat, "frame": frame, "key_rgb": rgb[t_feat], "key_head": key_head, "probs": probs, "true": true,
        "names": names, "is_context": np.array([n in ctx for n in names]), "shares": shares,
        "target": target, "target_box": None if target is None else boxes[target],
        "target_share": None if target_share is None else {"share": target_share["own"],
                                                           "uniform": target_share["own_uniform"]},
        "title": f"clip {clip}, person {person}, layer {layer + 1}/{L}, {head_label}, frame {frame} (t'={t_feat})",
    }


def attention_render(d: dict):
    """Figure of :func:`attention_compute`'s data: attention overlay, key PCA, labels."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.9), gridspec_kw={"width_ratios": [1, 1, 1.5]})
    ax = axes[0]
    ax.imshow(d["image"])
    ax.imshow(d["overlay"], cmap="inferno", alpha=0.6, vmin=0, vmax=1, interpolation="nearest")
    x1, y1, x2, y2 = d["box"]
    ax.add_patch(plt.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, color="cyan", lw=1.5))
    watched = ""
    if d.get("target_box") is not None:
        tx1, ty1, tx2, ty2 = d["target_box"]
        ax.add_patch(plt.Rectangle((tx1, ty1), tx2 - tx1, ty2 - ty1, fill=False, color="magenta", lw=1.5, ls="--"))
        ts = d["target_share"]
        watched = f"; watched (dashed) {ts['share']:.2f} (uniform {ts['uniform']:.2f})"
    sh = d.get("shares")
    if sh is not None and sh["n_other"]:
        ax.set_title(f"attention in other people's boxes {sh['other']:.2f} (uniform {sh['other_uniform']:.2f});\n"
                     f"own box {sh['own']:.2f} (uniform {sh['own_uniform']:.2f}){watched}", fontsize=8)
    elif sh is not None:
        ax.set_title(f"own box {sh['own']:.2f} (uniform {sh['own_uniform']:.2f}); no other person", fontsize=8)
    else:
        ax.set_title("softmax attention (max-scaled)", fontsize=9)
    ax.set_axis_off()
    ax = axes[1]
    ax.imshow(d["key_rgb"], interpolation="nearest")
    ax.set_title(f"keys of t'={d['t_feat']} (head {d['key_head']}): 3D PCA as RGB", fontsize=9)
    ax.set_axis_off()
    ax = axes[2]
    y = np.arange(len(d["names"]))
    colors = np.where(d["is_context"], "tab:orange", "tab:blue")
    ax.barh(y, d["probs"], color=colors)
    ax.scatter(np.where(d["true"], 1.02, np.nan), y, marker="*", color="k", s=40, label="true label", clip_on=False)
    ax.set_yticks(y)
    ax.set_yticklabels([n.split(" (")[0] + (" *" if c else "") for n, c in zip(d["names"], d["is_context"])],
                       fontsize=8)
    for lab, c in zip(ax.get_yticklabels(), d["is_context"]):
        if c:
            lab.set_color("tab:orange")
    ax.invert_yaxis()
    ax.set_xlim(0, 1.05)
    ax.set_xlabel("predicted probability (orange, *: context-dependent)", fontsize=8)
    ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(d["title"], fontsize=10)
    fig.tight_layout()
    return fig


def attention_viewer(record: dict, clip: int = 0, person: int = 0, layer: int = -1, head="mean",
                     frame: int | None = None):
    """The viewer widget (an :class:`~paperlib.viz.widgets.Explorer`): controls ``clip``, ``person``,
    ``layer``, ``head`` (``"mean"`` or a head index) and ``frame`` (a slider over the input frames).
    The person slider spans the chosen clip's valid RoIs only (its range follows the clip)."""
    import ipywidgets as w

    from .widgets import Explorer

    N, T = np.asarray(record["frames"]).shape[:2]
    n_valid = np.asarray(record["valid"]).sum(1)
    L, Hd = np.asarray(record["attn"]).shape[1:3]
    controls = {
        "clip": w.IntSlider(value=clip, min=0, max=N - 1, description="clip"),
        "person": w.IntSlider(value=min(person, max(int(n_valid[clip]) - 1, 0)), min=0,
                              max=max(int(n_valid[clip]) - 1, 0), description="person"),
        "layer": w.Dropdown(options=[(f"layer {i + 1}", i) for i in range(L)], value=int(layer) % L, description="layer"),
        "head": w.Dropdown(options=[("mean", "mean")] + [(f"head {i}", i) for i in range(Hd)], value=head,
                           description="head"),
        "frame": w.IntSlider(value=T // 2 if frame is None else frame, min=0, max=T - 1, description="frame"),
    }
    ex = Explorer(controls, lambda **v: attention_compute(record, **v), attention_render,
                  title="Action Transformer attention viewer")

    def bound_person(change):
        # ipywidgets clamps the value when max drops below it (that change updates the view once more)
        controls["person"].max = max(int(n_valid[change["new"]]) - 1, 0)

    controls["clip"].observe(bound_person, names="value")
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
