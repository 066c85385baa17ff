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
    ``groups``       optional: ``(N,)`` ints, the latent cue group of each test sample (the joint group
                     carrying the class cue, e.g. 0 "acting arm", 1 "other arm", 2 "acting leg",
                     3 "trunk"; all zeros when the data have one group).
    ``group_names``  optional: the groups' names, index = group (default ``"group g"``).

With ``groups`` of at least two distinct values, the explorer shows whether retrieval is aligned with
the cue group (:func:`group_alignment`: the mutual information between the retrieved expert and the
group, against its shuffled control, and the groups x experts contingency table).

:func:`era_compute` turns a record and the controls' values into the arrays of one view;
:func:`era_render` draws them; :func:`era_explorer` wires both to ipywidgets controls through
:class:`paperlib.viz.widgets.Explorer`, with what every view shares computed once (:func:`era_prepare`)
and the figure updated in place on each control change.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import NTU25
from .skeleton import BODY_COLORS, view_project
from .widgets import Explorer

__all__ = ["check_record", "era_prepare", "era_compute", "era_render", "era_explorer", "pca_2d", "pose_half_size",
           "usage_entropy", "module_diagram", "counterfactual_view", "group_alignment"]

_KEYS = ("modules", "scores", "queries", "keys", "usage", "labels", "class_names", "ratios", "poses")


def check_record(record: dict) -> tuple:
    """Validate a record; return ``(N, R, M)``. Raises ``ValueError`` on missing keys, shapes
    that do not agree, or ``groups`` that are not ``(N,)`` indices into ``group_names``."""
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
    groups = record.get("groups")
    if groups is not None:
        g = np.asarray(groups)
        if g.shape != (N,):
            raise ValueError(f"ERA record: groups must be ({N},) like the scores' samples, got {g.shape}")
        if g.size and not (np.issubdtype(g.dtype, np.integer)
                           or (np.issubdtype(g.dtype, np.floating) and np.array_equal(g, np.round(g)))):
            raise ValueError(f"ERA record: groups must be integer group indices, got dtype {g.dtype}")
        names = record.get("group_names")
        if g.size and g.min() < 0:
            raise ValueError(f"ERA record: groups must be >= 0, got {g.min()}")
        if names is not None and g.size and g.max() >= len(names):
            raise ValueError(f"ERA record: groups must lie in [0, {len(names)}) (group_names has {len(names)} "
                             f"names), got {g.max()}")
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


def _group_names(record: dict) -> list:
    """The names of ``record``'s cue groups: ``group_names``, or ``"group g"`` for ``g`` up to the largest
    of ``groups`` (``[]`` when the record has no ``groups``)."""
    names = record.get("group_names")
    if names is not None:
        return [str(n) for n in names]
    g = record.get("groups")
    if g is None:
        return []
    g = np.asarray(g)
    return [f"group {i}" for i in range(int(g.max()) + 1 if g.size else 1)]


def _mutual_info_bits(tables: np.ndarray) -> np.ndarray:
    """The plug-in mutual information, in bits, of contingency tables ``(..., G, M)`` of counts: what
    ``sklearn.metrics.mutual_info_score(contingency=table) / ln 2`` gives for each table, in one
    vectorised pass (``(...)``; 0 for an empty table)."""
    t = np.asarray(tables, dtype=np.float64)
    n = t.sum((-2, -1), keepdims=True)
    pi = t.sum(-1, keepdims=True)                                         # [..., G, 1]
    pj = t.sum(-2, keepdims=True)                                         # [..., 1, M]
    live = t > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(live, t / np.where(n > 0, n, 1.0) * (np.log(np.where(live, t, 1.0)) + np.log(
            np.where(n > 0, n, 1.0)) - np.log(np.where(pi > 0, pi, 1.0)) - np.log(np.where(pj > 0, pj, 1.0))), 0.0)
    return np.clip(terms.sum((-2, -1)), 0.0, None) / np.log(2.0)


def group_alignment(record: dict, shuffles: int = 20, seed: int = 0) -> dict:
    """Whether retrieval is aligned with the latent cue group: for every module ``m``, ratio index
    ``r`` and bank ``p``, the mutual information between the retrieved expert (the argmax over experts
    of ``scores[m][:, r, p, :]``, Eq. 3) and ``record["groups"]``, over the ``N`` test samples.

    The estimate is the plug-in one of ``sklearn.metrics.mutual_info_score`` (computed from the
    contingency tables in one vectorised pass: ``P * R * d_m * (1 + shuffles)`` tables, far too many
    for one ``mutual_info_score`` call each; the same numbers to rounding), converted from nats to
    bits. It is biased upwards on finite samples, so its control is the same estimate with the groups
    permuted: the mean over ``shuffles`` permutations from ``np.random.default_rng(seed)``, the same
    permutations for every bank (as :func:`paperlib.papers.era.group_information` does). ``I <= H(g)``:
    a bank that retrieves one expert per group reaches it.

    Returns a dict:

    ``mi``           list of ``P`` arrays ``(R, d_m)``, bits.
    ``mi_shuffled``  list of ``P`` arrays ``(R, d_m)``, bits (the shuffled control).
    ``table``        list of ``P`` int arrays ``(R, d_m, G, M)``: how many test samples of group ``g``
                     retrieve expert ``i`` (each ``(G, M)`` table sums to ``N``).
    ``h_group``      float, the entropy of the groups in bits (the largest ``mi`` possible).
    ``group_names``  the ``G`` names (``record["group_names"]``, else ``"group 0"``, ``"group 1"``...).

    Raises ``ValueError`` for an invalid record (:func:`check_record`) or one without ``groups``.
    """
    N, R, M = check_record(record)
    if record.get("groups") is None:
        raise ValueError("group_alignment: the record has no 'groups'")
    g = np.asarray(record["groups"]).astype(np.intp)
    names = _group_names(record)
    G = len(names)
    rng = np.random.default_rng(seed)
    labels = [g] + [g[rng.permutation(N)] for _ in range(shuffles)]      # observed, then the shuffled controls
    mi, null, table = [], [], []
    for s in record["scores"]:
        e = np.asarray(s).argmax(-1)                                      # [N, R, d] the retrieved experts
        d = e.shape[2]
        # one bincount per labelling: cell ((r d + p) G + g) M + i of (R, d, G, M)
        base = ((np.arange(R)[:, None] * d + np.arange(d)) * G)[None]     # [1, R, d]
        tabs = np.stack([np.bincount(((base + lab[:, None, None]) * M + e).ravel(), minlength=R * d * G * M)
                         for lab in labels]).reshape(len(labels), R, d, G, M)
        bits = _mutual_info_bits(tabs)                                    # [1 + shuffles, R, d]
        mi.append(bits[0])
        null.append(bits[1:].mean(0) if shuffles else np.zeros((R, d)))
        table.append(tabs[0])
    share = np.bincount(g, minlength=G) / max(N, 1)
    share = share[share > 0]
    return {"mi": mi, "mi_shuffled": null, "table": table, "h_group": float(-(share * np.log2(share)).sum()),
            "group_names": names}


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


def pose_half_size(poses, pad: float = 0.1) -> tuple:
    """Half the width and height of the largest recorded pose, in metres, in
    :func:`paperlib.viz.skeleton.view_project`'s view, plus ``pad``.

    ``poses``: ``(..., B, V, 3)`` metres (all-zero bodies, i.e. absent ones, are left out). Returns
    ``(hx, hy)`` floats; ``(1.0, 1.0)`` when no body is present. The explorer's thumbnails centre each
    pose in a box of this size: one box for every view of a record, so that a figure updated in place
    (:func:`era_render`) keeps its axes' frames.
    """
    p = np.asarray(poses)
    p = p.reshape(-1, *p.shape[-3:])                                      # [n, B, V, 3]
    ext = None
    for i in range(0, len(p), 4096):                                      # chunks: bounded memory on large records
        c = p[i:i + 4096].astype(np.float64)
        live = np.abs(c).reshape(*c.shape[:2], -1).any(-1)                # [n, B]
        if not live.any():
            continue
        xy = view_project(c)                                              # [n, B, V, 2]
        m = live[..., None, None]
        lo = np.where(m, xy, np.inf).min((1, 2))                          # [n, 2]
        hi = np.where(m, xy, -np.inf).max((1, 2))
        e = (hi - lo)[live.any(1)].max(0)
        ext = e if ext is None else np.maximum(ext, e)
    if ext is None:
        return (1.0, 1.0)
    ext = ext / 2 + pad
    return (float(ext[0]), float(ext[1]))


_PCA_CACHE = 64   # projections kept by era_prepare's cache (each (N, 2) float64)


def era_prepare(record: dict) -> dict:
    """What every view of ``record`` shares, computed once (:func:`era_explorer` does it when it is
    built, so that a control change only slices arrays).

    Returns a dict: ``shape (N, R, M)`` (:func:`check_record`), the record's arrays as numpy arrays
    (``scores``, ``queries``, ``keys``, ``usage``: lists of ``P`` arrays; ``beta``: a list or None;
    ``labels (N,)`` ints, ``ratios (R,)`` float64, ``poses (N, R, B, V, 3)``), ``class_names``,
    ``modules``, ``usage_entropy`` (list of ``P`` arrays ``(d_m,)``, bits), ``thumb_half`` (``(hx, hy)``
    metres, :func:`pose_half_size` of every pose), ``record`` (the record itself), ``pca``, a cache of
    the projections per ``(module, ratio index, bank)`` that :func:`era_compute` fills (the latest 64),
    ``groups`` (``(N,)`` ints or None), ``group_names`` (list, ``[]`` without groups) and ``alignment``:
    :func:`group_alignment` of the record, or None when it has no ``groups`` or only one distinct group;
    ``score_limits`` and ``beta_limits`` (None without beta): the y range of the bank-score curves and of
    the ELRO rates over the whole record, so that those axes stay fixed from view to view (a fixed axis
    is drawn once, not at every update).

    Raises ``ValueError`` as :func:`check_record` does.
    """
    shape = check_record(record)
    beta = record.get("beta")
    poses = np.asarray(record["poses"])
    groups = None if record.get("groups") is None else np.asarray(record["groups"]).astype(np.intp)
    return {
        "record": record, "shape": shape, "modules": list(record["modules"]),
        "scores": [np.asarray(s) for s in record["scores"]],
        "queries": [np.asarray(q) for q in record["queries"]],
        "keys": [np.asarray(k) for k in record["keys"]],
        "usage": [np.asarray(u) for u in record["usage"]],
        "beta": None if beta is None else [np.asarray(b) for b in beta],
        "labels": np.asarray(record["labels"]), "class_names": list(record["class_names"]),
        "ratios": np.asarray(record["ratios"], dtype=np.float64), "poses": poses,
        "usage_entropy": [usage_entropy(u) for u in record["usage"]],
        "thumb_half": pose_half_size(poses), "pca": {},
        "groups": groups, "group_names": _group_names(record),
        "alignment": group_alignment(record) if groups is not None and len(np.unique(groups)) > 1 else None,
        "score_limits": _limits(min(float(np.min(x)) for x in record["scores"]),
                                max(float(np.max(x)) for x in record["scores"])),
        "beta_limits": None if beta is None else _limits(min(float(np.min(b)) for b in beta),
                                                          max(float(np.max(b)) for b in beta)),
    }


def era_compute(record: dict, sample: int = 0, ratio: float = 0.2, module: int = 0, bank: int = 0,
                expert: int = -1, max_thumbs: int = 6, prepared: dict | None = None) -> dict:
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
    prepared : :func:`era_prepare` of this ``record`` (default: computed here; the explorer passes the
        one it computed when it was built, which skips the validation and the record-wide passes).

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
    ``counterfactual`` (:func:`counterfactual_view`, or None), and the indices/names for titles;
    for the figure's layout: ``max_thumbs``, ``thumb_half`` (``(hx, hy)`` metres, the thumbnails'
    half size, :func:`pose_half_size` of every recorded pose) and ``has_counterfactual`` (whether the
    record holds counterfactuals at all), ``score_limits`` and ``beta_limits`` (:func:`era_prepare`). With
    the cue groups (:func:`era_prepare`'s ``alignment`` not None): ``group`` (the sample's cue group), ``group_name`` and ``alignment``, ``{"table": (G, M)``
    how many test samples of each group retrieve each expert with the chosen bank at this ratio,
    ``"mi"``, ``"mi_shuffled"`` (bits, :func:`group_alignment`), ``"h_group"``, ``"group_names"}``;
    otherwise these three are None.

    Raises ``ValueError`` for an invalid record (:func:`check_record`) or a ``sample`` / ``module``
    out of range.
    """
    prep = era_prepare(record) if prepared is None else prepared
    N, R, M = prep["shape"]
    P = len(prep["modules"])
    if not 0 <= sample < N:
        raise ValueError(f"era_compute: sample must be in [0, {N}), got {sample}")
    if not 0 <= module < P:
        raise ValueError(f"era_compute: module must be in [0, {P}), got {module}")
    ratios = prep["ratios"]
    ri = int(np.argmin(np.abs(ratios - ratio)))
    S = prep["scores"]
    d = S[module].shape[2]
    bank = int(np.clip(bank, 0, d - 1))
    scores = [s[sample, ri] for s in S]                                  # list of [d_m, M]
    retrieved = [s.argmax(-1) for s in scores]                           # Eq. 3
    timeline = S[module][sample].argmax(-1).T                            # [d, R]
    bank_scores = S[module][sample, :, bank]                             # [R, M]
    Q = prep["queries"][module][:, ri, bank]                             # [N, K]
    keys = prep["keys"][module][bank]                                    # [M, K]
    pca = prep["pca"].get((module, ri, bank))
    if pca is None:                                                      # the PCA of a bank at a ratio, once
        mu, U = pca_2d(Q)
        proj = (Q - mu) @ U
        kp = keys @ U
        spread = np.abs(proj).max() if proj.size else 1.0
        if len(prep["pca"]) >= _PCA_CACHE:                               # bounded: drop the oldest
            prep["pca"].pop(next(iter(prep["pca"])))
        pca = prep["pca"][(module, ri, bank)] = (proj, kp / max(np.abs(kp).max(), 1e-12) * spread)
    proj, key_proj = pca
    e = int(retrieved[module][bank]) if expert < 0 else int(np.clip(expert, 0, M - 1))
    chosen = S[module][:, ri, bank].argmax(-1)                           # [N] every sample's expert
    members = np.flatnonzero(chosen == e)
    dist = np.linalg.norm(Q[members] - Q[sample], axis=1)
    order = members[np.argsort(dist, kind="stable")]
    thumbs_idx = order[:max_thumbs]
    labels = prep["labels"]
    names = prep["class_names"]
    beta = prep["beta"]
    al = prep.get("alignment")
    group = None if al is None else int(prep["groups"][sample])
    alignment = None if al is None else {
        "table": al["table"][module][ri, bank], "mi": float(al["mi"][module][ri, bank]),
        "mi_shuffled": float(al["mi_shuffled"][module][ri, bank]), "h_group": al["h_group"],
        "group_names": al["group_names"]}
    return {
        "sample": sample, "ratio": float(ratios[ri]), "ratio_index": ri, "module": module, "bank": bank,
        "module_names": list(prep["modules"]), "ratios": ratios,
        "label": int(labels[sample]), "class_name": names[int(labels[sample])], "class_names": names,
        "scores": scores, "retrieved": retrieved, "timeline": timeline, "bank_scores": bank_scores,
        "proj": proj, "key_proj": key_proj, "labels": labels,
        "expert": e, "members": members, "thumbs_idx": thumbs_idx,
        "thumbs": prep["poses"][thumbs_idx, ri],
        "thumb_titles": [f"#{int(i)} {names[int(labels[i])]}" for i in thumbs_idx],
        "member_class_counts": np.bincount(labels[members], minlength=len(names)),
        "usage": prep["usage"][module][bank],
        "usage_entropy": prep["usage_entropy"][module],
        "beta": None if beta is None else beta[module][bank],
        "counterfactual": counterfactual_view(prep["record"], sample, ri, module, bank),
        "max_thumbs": int(max_thumbs), "thumb_half": prep["thumb_half"],
        "has_counterfactual": prep["record"].get("counterfactual") is not None,
        "group": group, "group_name": None if group is None else al["group_names"][group], "alignment": alignment,
        "score_limits": prep["score_limits"], "beta_limits": prep["beta_limits"],
    }


_NBINS = 6   # at most this many intervals on the axes redrawn at every update (each tick label costs a draw)


def _limits(lo, hi, margin=0.05):
    """``(lo, hi)`` widened by ``margin`` of the span on each side (matplotlib's default autoscale
    margins); a zero span becomes ``lo - 0.5 .. lo + 0.5``."""
    lo, hi = float(lo), float(hi)
    if not np.isfinite(lo) or not np.isfinite(hi):
        return -1.0, 1.0
    span = hi - lo
    if span <= 0:
        return lo - 0.5, lo + 0.5
    return lo - margin * span, hi + margin * span


def _era_layout(shape: tuple):
    """Build the explorer's figure for data of the shapes ``shape`` (see :func:`era_render`): every
    axis, label and artist, empty; what a view changes is marked animated. Uses only what ``shape``
    fixes, so that a figure built for one view draws the same background as one built for another."""
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection
    from matplotlib.gridspec import GridSpec
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import MaxNLocator

    dims, M, names, ratios, n_th, _, _, (hx, hy), has_beta, has_cf, gnames, bs_lim, beta_lim = shape
    P, R = len(dims), len(ratios)
    if P > 8:
        raise ValueError(f"era_render: at most 8 ERA modules can be shown, got {P}")
    fig = plt.figure(figsize=(11.2, 10.8))
    # a fixed layout: no tight_layout / constrained layout (an extra draw per update); margins just wide enough
    # for the labels (fewer pixels to encode at every update)
    gs = GridSpec(4, 12, figure=fig, height_ratios=[1.0, 1.25, 0.85, 1.1], hspace=0.6, wspace=0.9, left=0.085,
                  right=0.94, bottom=0.06, top=0.905)
    art = {"shape": shape}
    # Row 1: scores of every module + timeline of the chosen module
    widths = np.array(dims, dtype=float)
    cols = np.maximum(3 if 3 * P <= 8 else 1, np.round(8 * widths / widths.sum()).astype(int))
    cols[int(np.argmax(cols))] -= cols.sum() - 8   # the widest panel absorbs the rounding: 8 columns in all
    c0 = 0
    art["scores"] = []
    for m in range(P):
        ax = fig.add_subplot(gs[0, c0:c0 + cols[m]])
        c0 += cols[m]
        d = dims[m]
        im = ax.imshow(np.zeros((M, d)), aspect="auto", cmap="viridis", origin="lower", animated=True)
        ring = ax.scatter(np.arange(d), np.zeros(d), s=30, facecolors="none", edgecolors="w", lw=1.4, animated=True)
        vline = ax.axvline(0, color="r", lw=1, ls=":", animated=True)
        ax.set_xlim(-0.5, d - 0.5)
        ax.set_ylim(-0.5, M - 0.5)
        ax.set_title(f"{names[m]}: scores (Eq. 2)", fontsize=8)
        ax.set_xlabel("bank p", fontsize=8)
        ax.set_ylabel("expert i", fontsize=8)
        ax.set_yticks(range(M))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
        art["scores"].append({"ax": ax, "im": im, "ring": ring, "vline": vline})
    ax = fig.add_subplot(gs[0, 8:12])
    art["tl_im"] = ax.imshow(np.zeros((1, R)), aspect="auto", cmap="tab10", vmin=0, vmax=9, origin="lower",
                             interpolation="nearest", animated=True)
    art["tl_line"] = ax.axvline(0, color="k", lw=1, animated=True)
    ax.set_xlim(-0.5, R - 0.5)
    ax.set_xticks(range(R))
    ax.set_xticklabels([f"{r:.1f}" for r in ratios], fontsize=6)
    ax.set_xlabel("observation ratio", fontsize=8)
    ax.set_ylabel("bank p", fontsize=8)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=_NBINS, integer=True))
    ax.set_title("retrieved expert vs observed ratio\n(colours as in the curves below)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_ylim(-0.5, max(dims) - 0.5)                                   # fixed: a module of fewer banks leaves rows empty
    art["ax_tl"] = ax
    # Row 2: projection, bank scores over ratio, usage vs beta
    ax = fig.add_subplot(gs[1, 0:5])
    art["pts"] = ax.scatter(np.zeros(0), np.zeros(0), c=np.zeros(0), cmap="tab20", s=7, alpha=0.7, animated=True)
    art["here"] = ax.scatter([0.0], [0.0], s=120, facecolors="none", edgecolors="k", lw=1.5, animated=True)
    art["stars"] = ax.scatter(np.zeros(M), np.zeros(M), marker="*", s=160, color="k", zorder=3, animated=True)
    art["key_labels"] = [ax.annotate(f"k{i}", (0.0, 0.0), fontsize=8, xytext=(3, 3), textcoords="offset points",
                                     animated=True) for i in range(M)]
    ax.set_xticks([])                                                    # PCA coordinates: arbitrary units
    ax.set_yticks([])
    # static titles (the bank is named in the figure's title): a text drawn at every update costs ~1-4 ms
    ax.set_title("queries q (Eq. 1) of the chosen bank, PCA 2D\nstars: keys; ringed: this sample", fontsize=8)
    art["ax_pr"] = ax
    ax = fig.add_subplot(gs[1, 5:8])
    art["curves"] = [ax.plot(ratios, np.zeros(R), "-o", ms=3, lw=1, label=f"expert {i}", animated=True)[0]
                     for i in range(M)]
    art["bs_line"] = ax.axvline(ratios[0], color="k", lw=0.8, ls=":", animated=True)
    ax.set_xlim(*_limits(min(ratios), max(ratios)))
    ax.set_xlabel("observation ratio", fontsize=8)
    ax.set_title("the chosen bank's scores vs ratio", fontsize=8)
    leg = ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.0, 1.0), borderaxespad=0.2, handlelength=1.2)
    for h in leg.legend_handles:                                         # outside the axes: in the background
        h.set_animated(False)
    ax.tick_params(labelsize=7)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=_NBINS))
    ax.set_ylim(*bs_lim)                                                 # the record's range: a fixed axis
    art["ax_bs"] = ax
    ax = fig.add_subplot(gs[1, 9:12])
    art["usage"] = ax.bar(np.arange(M), np.zeros(M), color="C0", animated=True).patches
    ax.set_xlim(*_limits(-0.4, M - 0.6))
    ax.set_ylim(0, 1)                                                    # shares: one scale for every bank
    ax.set_xlabel("expert i", fontsize=8)
    ax.set_ylabel("share of retrievals (training)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title("usage vs ELRO learning rate", fontsize=8)
    art["ax_u"] = ax
    art["ax_beta"] = None
    if has_beta:
        ax2 = ax.twinx()
        art["beta"], = ax2.plot(np.arange(M), np.zeros(M), "ks--", ms=4, lw=1, animated=True)
        ax2.set_ylabel("beta (ELRO)", fontsize=8)
        ax2.tick_params(labelsize=7)
        ax2.yaxis.set_major_locator(MaxNLocator(nbins=4))
        ax2.set_ylim(*beta_lim)                                          # every bank's rates on one fixed axis
        art["ax_beta"] = ax2
    # Row 3: thumbnails of the samples retrieving the chosen expert (a fixed box, centred on each pose)
    art["thumbs"] = []
    for j in range(n_th):
        ax = fig.add_subplot(gs[2, 2 * j:2 * j + 2]) if n_th <= 6 else fig.add_subplot(3, n_th, 2 * n_th + j + 1)
        ax.set_xticks([])
        ax.set_yticks([])
        bones = LineCollection([], linewidths=1.2, capstyle="projecting", zorder=2, animated=True)
        ax.add_collection(bones, autolim=False)
        joints = ax.scatter(np.zeros(0), np.zeros(0), s=2, zorder=3, animated=True)
        ax.set_xlim(-hx, hx)
        ax.set_ylim(-hy, hy)
        ax.set_aspect("equal")
        ax.set_title(" ", fontsize=7)
        ax.title.set_animated(True)
        for sp in ax.spines.values():                                    # no frame where no sample
            sp.set_animated(True)
        art["thumbs"].append({"ax": ax, "bones": bones, "joints": joints})
    # Row 4: retrieved expert vs cue group (records with cue groups) or usage entropy per bank, and what
    # each expert would have done (counterfactual)
    ax = fig.add_subplot(gs[3, 0:3])
    art["align"] = art["entropy"] = art["ax_ent"] = None
    if gnames is not None:
        # groups x experts counts of the chosen bank at the chosen ratio (colour: 0 .. the largest count); the
        # sample's cell framed; the axes, ticks and group names fixed (the background), the image, frame and
        # title (MI) animated. No count printed in the cells: G M texts drawn at every update cost ~25 ms
        G = len(gnames)
        im = ax.imshow(np.zeros((G, M)), aspect="auto", cmap="Blues", vmin=0, vmax=1, origin="upper",
                       interpolation="nearest", animated=True)
        cell = Rectangle((-0.5, -0.5), 1, 1, fill=False, ec="r", lw=1.8, zorder=3, animated=True)
        ax.add_patch(cell)
        ax.set_xlim(-0.5, M - 0.5)
        ax.set_ylim(G - 0.5, -0.5)
        ax.set_xticks(range(M))
        ax.set_yticks(range(G))
        ax.set_yticklabels(gnames)
        ax.set_xlabel("retrieved expert i\n(colour: test samples; framed: this one)", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.set_title(" ", fontsize=8)
        ax.title.set_animated(True)                                      # the chosen bank's MI
        art["align"] = {"ax": ax, "im": im, "cell": cell}
    else:
        d_max = max(dims)
        art["entropy"] = ax.bar(np.arange(d_max), np.zeros(d_max), color="C0", animated=True).patches
        ax.axhline(np.log2(M), color="grey", ls=":", lw=1)
        ax.set_ylim(0, 1.05 * np.log2(M) if M > 1 else 1.0)             # entropies lie in [0, log2 M]
        ax.set_xlabel("bank p", fontsize=8)
        ax.set_ylabel("usage entropy (bits)", fontsize=8)
        ax.set_title(f"training usage entropy per bank\n(dotted: uniform, log2 {M})", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=_NBINS, integer=True))
        ax.xaxis.set_animated(True)                                      # d of the chosen module
        art["ax_ent"] = ax
    art["cf"] = None
    if not has_cf:
        ax = fig.add_subplot(gs[3, 4:12])
        ax.axis("off")
        ax.text(0.5, 0.5, "no counterfactual recorded for this sample", ha="center", va="center", fontsize=9)
    else:
        # frames, colour bar, fixed axes and titles in the background; what a sample without a recorded
        # counterfactual does not have is hidden
        ax = fig.add_subplot(gs[3, 4:8])
        im = ax.imshow(np.zeros((M, 1)), aspect="auto", cmap="magma", vmin=0, vmax=1, origin="lower", animated=True)
        ring = ax.scatter([0.0], [0.0], s=30, facecolors="none", edgecolors="c", lw=1.4, animated=True)
        vline = ax.axvline(0, color="r", lw=1, ls=":", animated=True)
        # in the background, under the (opaque, axes-filling) image: seen only when the image is hidden
        ax.text(0.5, 0.5, "no counterfactual recorded\nfor this sample", transform=ax.transAxes, ha="center",
                va="center", fontsize=9)
        ax.set_xlabel("bank p", fontsize=8)
        ax.set_ylabel("expert i", fontsize=8)
        ax.set_yticks(range(M))
        ax.set_ylim(-0.5, M - 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=_NBINS, integer=True))
        ax.tick_params(labelsize=7)
        ax.set_title("P(true class) if bank p had retrieved expert i\n(ringed: retrieved)", fontsize=8)
        ax.xaxis.set_animated(True)                                      # d of the chosen module
        fig.colorbar(im, ax=ax, fraction=0.05)
        ax_b = fig.add_subplot(gs[3, 9:12])
        bars = ax_b.bar(np.arange(M), np.zeros(M), color="C0", animated=True).patches
        notes = [ax_b.annotate("", (i, 0.0), fontsize=6, rotation=60, xytext=(0, 3), textcoords="offset points",
                               ha="left", animated=True) for i in range(M)]
        ax_b.set_xlim(*_limits(-0.4, M - 0.6))
        ax_b.set_ylim(0, 1.25)
        ax_b.set_xlabel("expert i", fontsize=8)
        ax_b.set_ylabel("P(true class)", fontsize=8)
        ax_b.set_title("the chosen bank: true-class probability\nand prediction per expert", fontsize=8)
        ax_b.tick_params(labelsize=7)
        art["cf"] = {"ax": ax, "im": im, "ring": ring, "vline": vline, "ax_b": ax_b, "bars": bars,
                     "notes": notes}
    art["title"] = fig.suptitle(" ", fontsize=10)
    art["title"].set_animated(True)
    fig._era_artists = art
    return fig


def _shape_key(data: dict, skeleton) -> tuple:
    """What fixes :func:`era_render`'s layout (a figure is reused only for data with the same key)."""
    th = np.asarray(data["thumbs"])
    half = data.get("thumb_half")
    if half is None:
        half = pose_half_size(th) if th.size else (1.0, 1.0)
    n_th = max(int(data.get("max_thumbs", len(data["thumbs_idx"]))), len(data["thumbs_idx"]), 1)
    return (tuple(int(np.shape(s)[0]) for s in data["scores"]), int(np.shape(data["scores"][0])[1]),
            tuple(data["module_names"]), tuple(float(r) for r in data["ratios"]), n_th,
            tuple(int(x) for x in th.shape[1:3]), tuple(map(tuple, skeleton.bones)),
            tuple(float(h) for h in half), data["beta"] is not None,
            bool(data.get("has_counterfactual", data["counterfactual"] is not None)),
            None if data.get("alignment") is None else tuple(data["alignment"]["group_names"]),
            _fixed_limits(data.get("score_limits"), data["bank_scores"]),
            None if data["beta"] is None else _fixed_limits(data.get("beta_limits"), data["beta"]))


def _fixed_limits(limits, values) -> tuple:
    """``limits`` as floats, or (for data computed without :func:`era_prepare`'s record-wide ranges)
    :func:`_limits` of ``values``."""
    if limits is None:
        limits = _limits(np.min(values), np.max(values))
    return tuple(float(x) for x in limits)


def era_render(data: dict, skeleton=NTU25, fig=None):
    """A matplotlib figure of :func:`era_compute`'s data (see the notebook for a walk-through).

    Row 1: the Eq. 2 scores of every module (experts x banks, the retrieved expert ringed) and the
    retrieval timeline of the chosen module over the observation ratios. Row 2: the chosen bank's
    queries in 2D (coloured by class, keys as stars, the sample ringed), its scores against the
    ratio, expert usage in training next to the ELRO learning rates. Row 3: samples that retrieve
    the chosen expert (``max_thumbs`` panels, each pose centred in a box of ``thumb_half``, the same
    for every view of a record; panels without a sample are blank). Row 4: for a record with cue
    groups (``data["alignment"]``), the chosen bank's groups x experts table of retrievals at this ratio
    (the sample's group and retrieved expert framed) with the mutual information between expert and group
    and its shuffled control in its title, otherwise the usage entropy per bank; and, for samples with one
    recorded, the counterfactual. The sample's cue group is named in the figure's title.

    The layout is fixed (explicit grid, no ``tight_layout``). ``fig``: a figure this function drew
    before for data of the same shapes (the modules' ``d_m`` and names, ``M``, the ratios,
    ``max_thumbs``, the poses' bodies and joints, ``skeleton``, ``thumb_half``, beta and counterfactuals
    recorded or not, the cue groups' names or none), as :class:`~paperlib.viz.widgets.Explorer` passes on a control
    change: its artists are updated in place and what a view changes is marked animated (images,
    points, curves, bars, poses, titles, the counterfactual panels; the score curves, the ELRO rates and
    the timeline keep one range over the whole record, so their axes are drawn once), so that
    :func:`paperlib.viz.widgets.figure_png` redraws only that; draw the figure with it (a plain
    ``canvas.draw`` leaves animated artists out). Otherwise a new figure is built.

    Returns the Figure. Raises ``ValueError`` for more than 8 modules or poses without ``skeleton``'s
    joint count.
    """
    from matplotlib.colors import to_rgba_array

    th = np.asarray(data["thumbs"])
    if th.ndim != 4 or th.shape[-2:] != (skeleton.num_joints, 3):
        raise ValueError(f"era_render: expected thumbs (k, B, {skeleton.num_joints}, 3), got {th.shape}")
    shape = _shape_key(data, skeleton)
    art = getattr(fig, "_era_artists", None)
    if art is None or art["shape"] != shape:
        fig = _era_layout(shape)
        art = fig._era_artists
    module, bank, e = data["module"], data["bank"], data["expert"]
    # Row 1
    for m, (panel, s, r) in enumerate(zip(art["scores"], data["scores"], data["retrieved"])):
        panel["im"].set_data(s.T)
        panel["im"].set_clim(float(s.min()), float(s.max()))
        panel["ring"].set_offsets(np.column_stack([np.arange(len(r)), r]))
        panel["vline"].set_xdata([bank, bank])
        panel["vline"].set_visible(m == module)
    tl = data["timeline"]
    art["tl_im"].set_data(tl)
    art["tl_im"].set_extent((-0.5, tl.shape[1] - 0.5, -0.5, tl.shape[0] - 0.5))
    art["tl_line"].set_xdata([data["ratio_index"]] * 2)
    # Row 2
    pr, lab, kp = data["proj"], data["labels"], data["key_proj"]
    art["pts"].set_offsets(pr)
    art["pts"].set_array(np.asarray(lab))
    art["pts"].set_clim(0, max(19, int(lab.max()) if len(lab) else 0))
    art["here"].set_offsets(pr[data["sample"]][None])
    art["stars"].set_offsets(kp)
    art["stars"].set_color(["r" if i == e else "k" for i in range(len(kp))])
    for note, xy in zip(art["key_labels"], kp):
        note.xy = (float(xy[0]), float(xy[1]))
    every = np.concatenate([pr, kp]) if len(pr) else kp
    ax = art["ax_pr"]
    ax.set_xlim(*_limits(every[:, 0].min(), every[:, 0].max()))
    ax.set_ylim(*_limits(every[:, 1].min(), every[:, 1].max()))
    bs = data["bank_scores"]
    for i, line in enumerate(art["curves"]):
        line.set_ydata(bs[:, i])
    art["bs_line"].set_xdata([data["ratio"]] * 2)
    u = data["usage"] / max(data["usage"].sum(), 1)
    for i, b in enumerate(art["usage"]):
        b.set_height(u[i])
        b.set_facecolor("r" if i == e else "C0")
    if art["ax_beta"] is not None:
        art["beta"].set_ydata(data["beta"])
    # Row 3
    edges = np.asarray(skeleton.bones, dtype=np.intp).reshape(-1, 2)
    hx, hy = shape[7]
    k = len(data["thumbs_idx"])
    for j, panel in enumerate(art["thumbs"]):
        shown = j < k
        ax = panel["ax"]
        for a in (panel["bones"], panel["joints"], *ax.spines.values()):
            a.set_visible(shown)
        ax.title.set_text(data["thumb_titles"][j] if shown else "")
        if not shown:
            continue
        body = th[j]                                                     # [B, V, 3]
        live = np.flatnonzero(np.abs(body).reshape(len(body), -1).any(1))
        if data["thumbs_idx"][j] == data["sample"]:
            colors = to_rgba_array(["r"] * len(live))
        else:
            colors = to_rgba_array([BODY_COLORS[b % len(BODY_COLORS)] for b in live]) if len(live) else np.zeros((0, 4))
        xy = view_project(body[live])                                    # [b, V, 2]
        panel["bones"].set_segments(xy[:, edges].reshape(-1, 2, 2))
        panel["bones"].set_color(np.repeat(colors, len(edges), 0))
        panel["joints"].set_offsets(xy.reshape(-1, 2))
        panel["joints"].set_color(np.repeat(colors, xy.shape[1], 0))
        c = (xy.reshape(-1, 2).min(0) + xy.reshape(-1, 2).max(0)) / 2 if len(live) else np.zeros(2)
        ax.set_xlim(c[0] - hx, c[0] + hx)
        ax.set_ylim(c[1] - hy, c[1] + hy)
    # Row 4
    al = art["align"]
    if al is not None:
        a = data["alignment"]
        tab = np.asarray(a["table"])                                     # [G, M]
        al["im"].set_data(tab)
        al["im"].set_clim(0, max(int(tab.max()), 1))
        al["cell"].set_xy((data["retrieved"][module][bank] - 0.5, data["group"] - 0.5))
        al["ax"].title.set_text(f"retrieved expert vs cue group\nI(expert; group) = {a['mi']:.2f} bits\n"
                                f"(shuffled {a['mi_shuffled']:.2f}; max H(g) = {a['h_group']:.2f})")
    else:
        ent = data["usage_entropy"]
        for p, b in enumerate(art["entropy"]):
            b.set_visible(p < len(ent))
            if p < len(ent):
                b.set_height(ent[p])
                b.set_facecolor("r" if p == bank else "C0")
        art["ax_ent"].set_xlim(*_limits(-0.4, len(ent) - 0.6))
    cf = data["counterfactual"]
    if art["cf"] is not None:
        c = art["cf"]
        d = len(data["retrieved"][module])
        c["ax"].set_xlim(-0.5, d - 0.5)
        for a in (c["im"], c["ring"], c["vline"], *c["bars"], *c["notes"]):
            a.set_visible(cf is not None)
        if cf is not None:
            names, label = data["class_names"], data["label"]
            r = data["retrieved"][module]
            tp = cf["true_prob"]                                         # [d, M]
            c["im"].set_data(tp.T)
            c["im"].set_extent((-0.5, tp.shape[0] - 0.5, -0.5, tp.shape[1] - 0.5))
            c["ring"].set_offsets(np.column_stack([np.arange(len(tp)), r]))
            c["vline"].set_xdata([bank, bank])
            bp = cf["bank_prob"]                                         # [M, C]
            for i, (b, note) in enumerate(zip(c["bars"], c["notes"])):
                b.set_height(bp[i, label])
                b.set_facecolor("c" if i == r[bank] else "C0")
                note.set_text(names[int(bp[i].argmax())])
                note.xy = (i, float(bp[i, label]))
    cue = "" if data.get("group_name") is None else f", cue in the {data['group_name']}"
    art["title"].set_text(f"sample #{data['sample']} ({data['class_name']}{cue}) at {data['ratio']:.0%} observed; "
                          f"{data['module_names'][module]}, bank {bank}: expert {e} "
                          f"retrieved by {len(data['members'])} test samples")
    return fig


def era_explorer(record: dict, sample: int = 0, ratio: float = 0.2, module: int = 0, bank: int = 0):
    """The expert-retrieval explorer: an :class:`~paperlib.viz.widgets.Explorer` over a record.

    Controls: ``sample``, ``ratio``, ``module``, ``bank``, ``expert`` (-1: the retrieved one).

    The record is validated and its shared arrays prepared once (:func:`era_prepare`), and every control
    change updates the figure in place (``era_render(data, fig=previous)``). Raises ``ValueError`` for
    an invalid record (:func:`check_record`).
    """
    import ipywidgets as w

    prep = era_prepare(record)
    N, R, M = prep["shape"]
    d_max = max(np.shape(s)[2] for s in prep["scores"])
    ratios = [float(r) for r in prep["ratios"]]
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

    def compute(**values):
        return era_compute(record, **values, prepared=prep)

    def render(data, fig=None):                                          # fig: the Explorer's previous figure
        return era_render(data, fig=fig)

    # the largest figure of the course (11.2 x 10.8 in): shown at 64 dpi, 36% fewer pixels to draw and encode per
    # update than the course's 80 (snapshot() stays at 80)
    return Explorer(controls, compute, render, title="ERA expert-retrieval explorer", dpi=64)


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
