"""The expert-retrieval explorer of notebook 01 (ERA, Foo et al., ECCV 2022), widget pattern.

The explorer never runs a model. It reads a *record* of arrays written once by the notebook
after training (queries, retrieval scores, keys, expert usage, ELRO learning rates, poses):

``record`` (a dict)
    ``modules``      list of ``P`` module names.
    ``scores``       list of ``P`` arrays ``(N, R, d_m, M)``: Eq. 2 scores of test sample ``n``
                     observed at ratio ``ratios[r]``, for every bank and expert.
    ``queries``      list of ``P`` arrays ``(N, R, d_m, K)``: the queries of Eq. 1.
    ``keys``         list of ``P`` arrays ``(d_m, M, K)``.
    ``usage``        list of ``P`` arrays ``(d_m, M)``: how often each expert was retrieved in training.
    ``beta``         list of ``P`` arrays ``(d_m, M)`` (ELRO learning rates) or ``None``.
    ``labels``       ``(N,)`` class indices; ``class_names`` the names.
    ``ratios``       ``(R,)`` observation ratios.
    ``poses``        ``(N, R, B, V, 3)``: each sample's last observed frame at each ratio (``B`` bodies).
    ``counterfactual`` optional: ``{"samples": (S,) test-sample indices, "logits": list of P arrays
                     (S, R, d_m, M, C): the network's logits for sample ``samples[s]`` at ratio ``r`` if
                     bank ``p`` of module ``m`` had retrieved expert ``i`` (everything else as retrieved),
                     "factual": (S, R, C) the logits as retrieved}``.

:func:`era_compute` turns a record and the controls' values into the arrays of one view;
:func:`era_render` draws them; :func:`era_explorer` wires both to ipywidgets controls through
:class:`paperlib.viz.widgets.Explorer`.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import NTU25
from .skeleton import plot_skeleton
from .widgets import Explorer

__all__ = ["check_record", "era_compute", "era_render", "era_explorer", "pca_2d", "usage_entropy", "module_diagram",
           "counterfactual_view"]

_KEYS = ("modules", "scores", "queries", "keys", "usage", "labels", "class_names", "ratios", "poses")


def check_record(record: dict) -> tuple:
    """Validate a record; return ``(N, R, M)``. Raises ``ValueError`` on missing keys or shapes
    that do not agree."""
    missing = [k for k in _KEYS if k not in record]
    if missing:
        raise ValueError(f"ERA record: missing {missing}")
    P = len(record["modules"])
    if P == 0:
        raise ValueError("ERA record: no ERA modules")
    for k in ("scores", "queries", "keys", "usage"):
        if len(record[k]) != P:
            raise ValueError(f"ERA record: {k} has {len(record[k])} entries for {P} modules")
    N, R, _, M = np.shape(record["scores"][0])
    for m in range(P):
        s, q, k, u = (np.asarray(record[x][m]) for x in ("scores", "queries", "keys", "usage"))
        d = s.shape[2]
        if s.shape[:2] != (N, R) or s.shape[3] != M or q.shape[:3] != (N, R, d) or k.shape[:2] != (d, M) \
                or q.shape[3] != k.shape[2] or u.shape != (d, M):
            raise ValueError(f"ERA record: module {m} has inconsistent shapes scores {s.shape}, queries "
                             f"{q.shape}, keys {k.shape}, usage {u.shape}")
        if record.get("beta") is not None and np.shape(record["beta"][m]) != (d, M):
            raise ValueError(f"ERA record: beta of module {m} is not ({d}, {M})")
    if len(record["labels"]) != N or len(record["ratios"]) != R or np.shape(record["poses"])[:2] != (N, R):
        raise ValueError("ERA record: labels, ratios or poses do not match the scores' (N, R)")
    cf = record.get("counterfactual")
    if cf is not None:
        S = len(cf["samples"])
        if len(cf["logits"]) != P or np.shape(cf["factual"])[:2] != (S, R):
            raise ValueError("ERA record: counterfactual needs one logits array per module and factual (S, R, C)")
        for m in range(P):
            d = np.shape(record["scores"][m])[2]
            if np.shape(cf["logits"][m])[:4] != (S, R, d, M):
                raise ValueError(f"ERA record: counterfactual logits of module {m} are not ({S}, {R}, {d}, {M}, C)")
    return N, R, M


def _softmax(z, axis=-1):
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def usage_entropy(usage: np.ndarray) -> np.ndarray:
    """Entropy in bits of each bank's usage shares, ``(d, M)`` counts -> ``(d,)`` (log2 M: uniform,
    0: one expert takes everything; a bank never used gives 0)."""
    u = np.asarray(usage, dtype=np.float64)
    p = u / np.maximum(u.sum(1, keepdims=True), 1e-12)
    return -(np.where(p > 0, p * np.log2(np.where(p > 0, p, 1.0)), 0.0)).sum(1)


def counterfactual_view(record: dict, sample: int, ratio_index: int, module: int, bank: int):
    """The counterfactual arrays of one view, or ``None`` when ``sample`` has none recorded.

    Returns ``{"true_prob": (d, M)`` softmax probability of the true class if bank ``p`` had
    retrieved expert ``i``; ``"pred": (d, M)`` the predicted class then; ``"bank_prob": (M, C)`` the
    chosen bank's class probabilities per expert; ``"factual_prob": (C,)``, ``"factual_pred"``,
    ``"changes": (d,)`` how many alternative experts of each bank change the prediction}``.
    """
    cf = record.get("counterfactual")
    if cf is None:
        return None
    hits = np.flatnonzero(np.asarray(cf["samples"]) == sample)
    if len(hits) == 0:
        return None
    s = int(hits[0])
    label = int(np.asarray(record["labels"])[sample])
    z = np.asarray(cf["logits"][module])[s, ratio_index]                 # [d, M, C]
    prob = _softmax(z)
    fact = _softmax(np.asarray(cf["factual"])[s, ratio_index])           # [C]
    pred = z.argmax(-1)
    return {"true_prob": prob[..., label], "pred": pred, "bank_prob": prob[bank],
            "factual_prob": fact, "factual_pred": int(fact.argmax()),
            "changes": (pred != int(fact.argmax())).sum(1)}


def pca_2d(points: np.ndarray):
    """The two leading principal directions of ``points (n, K)``.

    Returns ``(mean (K,), directions (K, 2))``; ``(points - mean) @ directions`` are the
    coordinates. Each direction's sign is fixed so that its largest-magnitude entry is positive
    (the projection is then the same on every machine up to rounding).
    """
    X = np.asarray(points, dtype=np.float64)
    mu = X.mean(0)
    _, _, vt = np.linalg.svd(X - mu, full_matrices=False)
    U = vt[:2].T.copy()
    if U.shape[1] < 2:
        U = np.pad(U, ((0, 0), (0, 2 - U.shape[1])))
    for j in range(U.shape[1]):
        if U[np.argmax(np.abs(U[:, j])), j] < 0:
            U[:, j] *= -1
    return mu, U


def era_compute(record: dict, sample: int = 0, ratio: float = 0.2, module: int = 0, bank: int = 0,
                expert: int = -1, max_thumbs: int = 6) -> dict:
    """The arrays of one explorer view.

    Parameters
    ----------
    record : see the module docstring.
    sample : test-sample index.
    ratio : observation ratio (the nearest recorded one is used).
    module, bank : the ERA module and Expert Bank shown in detail (``bank`` is clamped to the
        module's ``d`` banks).
    expert : the expert whose retrieving samples are shown; ``-1``: the one ``sample`` retrieved.
    max_thumbs : how many retrieving samples to show as skeleton thumbnails (the sample itself
        first when it is one of them, then the others closest to it in query space).

    Returns
    -------
    dict with ``scores`` (list of ``(d_m, M)``, every module, this sample and ratio),
    ``retrieved`` (list of ``(d_m,)``), ``timeline (d, R)`` the expert retrieved by every bank
    of the chosen module at every ratio, ``bank_scores (R, M)``, ``proj (N, 2)`` the queries of
    the chosen bank projected on their two principal directions, ``key_proj (M, 2)`` the keys
    along the same directions (rescaled to the queries' spread for display), ``labels``,
    ``expert``, ``members`` (indices of the samples retrieving it at this ratio),
    ``thumbs (k, B, V, 3)``, ``thumb_titles``, ``member_class_counts (C,)``, ``usage (M,)``,
    ``usage_entropy (d,)`` of the chosen module's banks (bits), ``beta (M,)`` or None,
    ``counterfactual`` (:func:`counterfactual_view`, or None), and the indices/names for titles.
    """
    N, R, M = check_record(record)
    if not 0 <= sample < N:
        raise ValueError(f"era_compute: sample must be in [0, {N}), got {sample}")
    if not 0 <= module < len(record["modules"]):
        raise ValueError(f"era_compute: module must be in [0, {len(record['modules'])}), got {module}")
    ratios = np.asarray(record["ratios"], dtype=np.float64)
    ri = int(np.argmin(np.abs(ratios - ratio)))
    S = [np.asarray(s) for s in record["scores"]]
    d = S[module].shape[2]
    bank = int(np.clip(bank, 0, d - 1))
    scores = [s[sample, ri] for s in S]                                  # list of [d_m, M]
    retrieved = [s.argmax(-1) for s in scores]                           # Eq. 3
    timeline = S[module][sample].argmax(-1).T                            # [d, R]
    bank_scores = S[module][sample, :, bank]                             # [R, M]
    Q = np.asarray(record["queries"][module])[:, ri, bank]               # [N, K]
    keys = np.asarray(record["keys"][module])[bank]                      # [M, K]
    mu, U = pca_2d(Q)
    proj = (Q - mu) @ U
    kp = keys @ U
    spread = np.abs(proj).max() if proj.size else 1.0
    key_proj = kp / max(np.abs(kp).max(), 1e-12) * spread
    e = int(retrieved[module][bank]) if expert < 0 else int(np.clip(expert, 0, M - 1))
    chosen = S[module][:, ri, bank].argmax(-1)                           # [N] every sample's expert
    members = np.flatnonzero(chosen == e)
    dist = np.linalg.norm(Q[members] - Q[sample], axis=1)
    order = members[np.argsort(dist, kind="stable")]
    thumbs_idx = order[:max_thumbs]
    labels = np.asarray(record["labels"])
    names = list(record["class_names"])
    beta = record.get("beta")
    return {
        "sample": sample, "ratio": float(ratios[ri]), "ratio_index": ri, "module": module, "bank": bank,
        "module_names": list(record["modules"]), "ratios": ratios,
        "label": int(labels[sample]), "class_name": names[int(labels[sample])], "class_names": names,
        "scores": scores, "retrieved": retrieved, "timeline": timeline, "bank_scores": bank_scores,
        "proj": proj, "key_proj": key_proj, "labels": labels,
        "expert": e, "members": members, "thumbs_idx": thumbs_idx,
        "thumbs": np.asarray(record["poses"])[thumbs_idx, ri],
        "thumb_titles": [f"#{int(i)} {names[int(labels[i])]}" for i in thumbs_idx],
        "member_class_counts": np.bincount(labels[members], minlength=len(names)),
        "usage": np.asarray(record["usage"][module])[bank],
        "usage_entropy": usage_entropy(record["usage"][module]),
        "beta": None if beta is None else np.asarray(beta[module])[bank],
        "counterfactual": counterfactual_view(record, sample, ri, module, bank),
    }


def era_render(data: dict, skeleton=NTU25):
    """A matplotlib figure of :func:`era_compute`'s data (see the notebook for a walk-through).

    Row 1: the Eq. 2 scores of every module (experts x banks, the retrieved expert ringed) and the
    retrieval timeline of the chosen module over the observation ratios. Row 2: the chosen bank's
    queries in 2D (coloured by class, keys as stars, the sample ringed), its scores against the
    ratio, expert usage in training next to the ELRO learning rates. Row 3: samples that retrieve
    the chosen expert.
    """
    import matplotlib.pyplot as plt
    from matplotlib.gridspec import GridSpec
    from matplotlib.ticker import MaxNLocator

    P = len(data["scores"])
    M = data["scores"][0].shape[1]
    n_th = max(len(data["thumbs_idx"]), 1)
    fig = plt.figure(figsize=(12.5, 12.0))
    gs = GridSpec(4, 12, figure=fig, height_ratios=[1.0, 1.25, 0.85, 1.1], hspace=0.6, wspace=0.9)
    # Row 1: scores of every module + timeline of the chosen module
    widths = np.array([s.shape[0] for s in data["scores"]], dtype=float)
    if P > 8:
        raise ValueError(f"era_render: at most 8 ERA modules can be shown, got {P}")
    cols = np.maximum(3 if 3 * P <= 8 else 1, np.round(8 * widths / widths.sum()).astype(int))
    cols[int(np.argmax(cols))] -= cols.sum() - 8   # the widest panel absorbs the rounding: 8 columns in all
    c0 = 0
    for m in range(P):
        ax = fig.add_subplot(gs[0, c0:c0 + cols[m]])
        c0 += cols[m]
        s = data["scores"][m]
        ax.imshow(s.T, aspect="auto", cmap="viridis", origin="lower")
        ax.scatter(np.arange(s.shape[0]), data["retrieved"][m], s=30, facecolors="none", edgecolors="w", lw=1.4)
        if m == data["module"]:
            ax.axvline(data["bank"], color="r", lw=1, ls=":")
        ax.set_title(f"{data['module_names'][m]}: scores (Eq. 2)", fontsize=8)
        ax.set_xlabel("bank p", fontsize=8)
        ax.set_ylabel("expert i", fontsize=8)
        ax.set_yticks(range(M))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    ax = fig.add_subplot(gs[0, 8:12])
    tl = data["timeline"]
    ax.imshow(tl, aspect="auto", cmap="tab10", vmin=0, vmax=9, origin="lower", interpolation="nearest")
    ax.set_xticks(range(len(data["ratios"])))
    ax.set_xticklabels([f"{r:.1f}" for r in data["ratios"]], fontsize=6)
    ax.axvline(data["ratio_index"], color="k", lw=1)
    ax.set_xlabel("observation ratio", fontsize=8)
    ax.set_ylabel("bank p", fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title("retrieved expert vs observed ratio\n(colours as in the curves below)", fontsize=8)
    ax.tick_params(labelsize=7)
    # Row 2: projection, bank scores over ratio, usage vs beta
    ax = fig.add_subplot(gs[1, 0:5])
    pr, lab = data["proj"], data["labels"]
    ax.scatter(pr[:, 0], pr[:, 1], c=lab, cmap="tab20", vmin=0, vmax=max(19, lab.max()), s=7, alpha=0.7)
    ax.scatter(*pr[data["sample"]], s=120, facecolors="none", edgecolors="k", lw=1.5, label="this sample")
    for i, (x, y) in enumerate(data["key_proj"]):
        ax.scatter(x, y, marker="*", s=160, color="k" if i != data["expert"] else "r", zorder=3)
        ax.annotate(f"k{i}", (x, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
    ax.set_title(f"queries q (Eq. 1) of bank {data['bank']}, PCA 2D; stars: keys", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=7, loc="lower right")
    ax = fig.add_subplot(gs[1, 5:8])
    for i in range(M):
        ax.plot(data["ratios"], data["bank_scores"][:, i], "-o", ms=3, lw=1, label=f"expert {i}")
    ax.axvline(data["ratio"], color="k", lw=0.8, ls=":")
    ax.set_xlabel("observation ratio", fontsize=8)
    ax.set_title(f"bank {data['bank']}: scores vs ratio", fontsize=8)
    ax.legend(fontsize=6, ncol=1)
    ax.tick_params(labelsize=7)
    ax = fig.add_subplot(gs[1, 9:12])
    u = data["usage"] / max(data["usage"].sum(), 1)
    ax.bar(np.arange(M), u, color=["r" if i == data["expert"] else "C0" for i in range(M)])
    ax.set_xlabel("expert i", fontsize=8)
    ax.set_ylabel("share of retrievals (training)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title("usage vs ELRO learning rate", fontsize=8)
    if data["beta"] is not None:
        ax2 = ax.twinx()
        ax2.plot(np.arange(M), data["beta"], "ks--", ms=4, lw=1)
        ax2.set_ylabel("beta (ELRO)", fontsize=8)
        ax2.tick_params(labelsize=7)
    # Row 3: thumbnails of the samples retrieving the chosen expert
    for j in range(n_th):
        ax = fig.add_subplot(gs[2, 2 * j:2 * j + 2]) if n_th <= 6 else fig.add_subplot(3, n_th, 2 * n_th + j + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        if j < len(data["thumbs_idx"]):
            plot_skeleton(ax, data["thumbs"][j], skeleton, lw=1.2, joint_size=2,
                          color="r" if data["thumbs_idx"][j] == data["sample"] else None)
            ax.set_title(data["thumb_titles"][j], fontsize=7)
    _render_counterfactual(fig, gs, data)
    fig.suptitle(f"sample #{data['sample']} ({data['class_name']}) at {data['ratio']:.0%} observed; "
                 f"{data['module_names'][data['module']]}, bank {data['bank']}: expert {data['expert']} "
                 f"retrieved by {len(data['members'])} test samples", fontsize=10)
    return fig


def _render_counterfactual(fig, gs, data):
    """Row 4: usage entropy per bank, and what each expert would have done (counterfactual)."""
    M = data["scores"][0].shape[1]
    ent = data["usage_entropy"]
    ax = fig.add_subplot(gs[3, 0:3])
    ax.bar(np.arange(len(ent)), ent, color=["r" if p == data["bank"] else "C0" for p in range(len(ent))])
    ax.axhline(np.log2(M), color="grey", ls=":", lw=1)
    ax.set_xlabel("bank p", fontsize=8)
    ax.set_ylabel("usage entropy (bits)", fontsize=8)
    ax.set_title(f"training usage entropy per bank\n(dotted: uniform, log2 {M})", fontsize=8)
    ax.tick_params(labelsize=7)
    cf = data["counterfactual"]
    if cf is None:
        ax = fig.add_subplot(gs[3, 4:12])
        ax.axis("off")
        ax.text(0.5, 0.5, "no counterfactual recorded for this sample", ha="center", va="center", fontsize=9)
        return
    names, label = data["class_names"], data["label"]
    ax = fig.add_subplot(gs[3, 4:8])
    im = ax.imshow(cf["true_prob"].T, aspect="auto", cmap="magma", vmin=0, vmax=1, origin="lower")
    ax.scatter(np.arange(len(cf["true_prob"])), data["retrieved"][data["module"]], s=30, facecolors="none",
               edgecolors="c", lw=1.4)
    ax.axvline(data["bank"], color="r", lw=1, ls=":")
    ax.set_xlabel("bank p", fontsize=8)
    ax.set_ylabel("expert i", fontsize=8)
    ax.set_yticks(range(M))
    ax.tick_params(labelsize=7)
    ax.set_title(f"P({names[label]}) if bank p had retrieved expert i\n(ringed: retrieved)", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.05)
    ax = fig.add_subplot(gs[3, 9:12])
    bp = cf["bank_prob"]
    ax.bar(np.arange(M), bp[:, label], color=["c" if i == data["retrieved"][data["module"]][data["bank"]]
                                               else "C0" for i in range(M)])
    for i in range(M):
        ax.annotate(names[int(bp[i].argmax())], (i, bp[i, label]), fontsize=6, rotation=60, xytext=(0, 3),
                    textcoords="offset points", ha="left")
    ax.set_ylim(0, 1.25)
    ax.set_xlabel("expert i of bank %d" % data["bank"], fontsize=8)
    ax.set_ylabel(f"P({names[label]})", fontsize=8)
    ax.set_title(f"bank {data['bank']}: true-class probability and prediction per expert", fontsize=8)
    ax.tick_params(labelsize=7)


def era_explorer(record: dict, sample: int = 0, ratio: float = 0.2, module: int = 0, bank: int = 0):
    """The expert-retrieval explorer: an :class:`~paperlib.viz.widgets.Explorer` over a record.

    Controls: ``sample``, ``ratio``, ``module``, ``bank``, ``expert`` (-1: the retrieved one).
    """
    import ipywidgets as w

    N, R, M = check_record(record)
    d_max = max(np.shape(s)[2] for s in record["scores"])
    ratios = [float(r) for r in record["ratios"]]
    r0 = ratios[int(np.argmin(np.abs(np.asarray(ratios) - ratio)))]
    controls = {
        "sample": w.IntSlider(value=sample, min=0, max=N - 1, description="sample"),
        "ratio": w.SelectionSlider(options=ratios, value=r0, description="observed"),
        "module": w.Dropdown(options=[(n, i) for i, n in enumerate(record["modules"])], value=module,
                             description="module"),
        "bank": w.IntSlider(value=bank, min=0, max=d_max - 1, description="bank p"),
        "expert": w.Dropdown(options=[("retrieved", -1)] + [(f"expert {i}", i) for i in range(M)], value=-1,
                             description="expert"),
    }
    return Explorer(controls, lambda **v: era_compute(record, **v), era_render, title="ERA expert-retrieval explorer")


def module_diagram():
    """A figure of one ERA module (Sec. 3.2): input -> masked pooling -> query maps -> scores with
    the bank's keys -> retrieval -> assembled kernel -> per-sample convolution. Returns the Figure."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig, ax = plt.subplots(figsize=(11, 3.6))
    ax.set_xlim(0, 11)
    ax.set_ylim(0, 3.6)
    ax.axis("off")
    boxes = {
        "x": (0.1, 1.5, 1.3, "input X\n(B, N_in, T, V)", "#dfe9f5"),
        "pool": (1.9, 2.5, 1.5, "masked mean over\nobserved frames\n+ joints (Eq. 1)", "#fdf0d5"),
        "q": (3.9, 2.5, 1.4, "query maps f_p\nq_p in R^K", "#fdf0d5"),
        "s": (5.8, 2.5, 1.5, "scores (Eq. 2)\nq_p . k_i / sqrt(K)", "#fdf0d5"),
        "keys": (5.8, 1.1, 1.5, "Expert Bank p\n(m_i, k_i), i = 1..M", "#e6f4e6"),
        "r": (7.7, 2.5, 1.7, "retrieve (Eq. 3)\nargmax; ST-Gumbel", "#fdf0d5"),
        "w": (7.7, 1.1, 1.7, "assemble (Eqs. 4-5)\n[W_non, m_(I_1), ...]", "#e6f4e6"),
        "y": (9.7, 1.1, 1.25, "per-sample conv\ny = W_ERA * X", "#dfe9f5"),
    }
    for name, (x, y, w, text, col) in boxes.items():
        ax.add_patch(FancyBboxPatch((x, y), w, 0.9, boxstyle="round,pad=0.05", fc=col, ec="k", lw=0.8))
        ax.text(x + w / 2, y + 0.45, text, ha="center", va="center", fontsize=8)

    def arrow(a, b, da=(1, 0.5), db=(0, 0.5)):
        (xa, ya, wa, *_), (xb, yb, wb, *_) = boxes[a], boxes[b]
        ax.add_patch(FancyArrowPatch((xa + da[0] * wa, ya + da[1] * 0.9), (xb + db[0] * wb, yb + db[1] * 0.9),
                                     arrowstyle="-|>", mutation_scale=10, lw=1))

    arrow("x", "pool")
    arrow("pool", "q")
    arrow("q", "s")
    arrow("keys", "s", (0.5, 1), (0.5, 0))
    arrow("s", "r")
    arrow("r", "w", (0.5, 0), (0.5, 1))
    arrow("keys", "w")
    arrow("w", "y")
    ax.add_patch(FancyArrowPatch((0.75, 1.5), (10.25, 1.1), connectionstyle="arc3,rad=0.25", arrowstyle="-|>",
                                 mutation_scale=10, lw=1, ls="--"))
    ax.text(5.5, 0.25, "the same X is convolved with the assembled kernel (shared non-experts + one retrieved "
            "expert per bank)", ha="center", fontsize=8, style="italic")
    ax.set_title("one ERA module: d expert channels, each with its own bank of M experts", fontsize=10)
    return fig
