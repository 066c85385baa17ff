"""The claims and the closing note of ``notebooks/04_video_action_transformer.ipynb`` (Video Action
Transformer Network), built from the points of its committed grid.

The notebook names its claims before the results (Section 11); this module turns the grid's points
into the per-seed differences of each claim (:func:`claims`), decides them as a family with the
paper's own effects taken from the tables the notebook displays (:func:`paper_effects`,
:func:`family`), and writes the closing note from those decisions (:func:`closing_note`,
:func:`reading`). Nothing here is typed: every number and every verdict word comes from the points.

Units: frame-mAP, AP and attention shares are fractions in ``[0, 1]``; the text shows them in points
(x 100). The per-class slope is in AP per unit of context dependence (shown x 100 as well).
"""
from __future__ import annotations

import math

import numpy as np

from .. import repro
from ..papers import action_transformer as AT
from ..stats import mean_ci
from .text import claim_word, diff_text, mean_ci_text, recovery_fraction

__all__ = ["CONTEXT", "HAND_OVER_PAIR", "at", "class_names", "class_slope", "attention_share", "claims",
           "primary_names", "paper_effects", "family", "closing_note", "reading", "CONTEXT_VARIANTS", "CONTEXT_PRIMARY",
           "CONTEXT_EXPLORATORY", "context_claims", "context_paper_effects", "best_epochs", "context_table", "holds",
           "context_note"]

#: The six context classes, by their short names (the metric keys).
CONTEXT = [AT.short(c) for c in AT.CONTEXT_CLASSES]
#: The two context classes where the object's path, not the people, tells the classes apart.
HAND_OVER_PAIR = ("hand over", "take")
#: The variants of Table 1 and its controls, in the order the note lists them.
_TABLE1 = ("i3d", "lowres", "highres", "i3d_wide", "highres_small", "highres_e2e")


def at(points: list[dict], s: float) -> list[dict]:
    """The grid points at ``cue_scale == s``, in grid order."""
    return [p for p in points if p["knobs"]["cue_scale"] == s]


def class_names(points: list[dict]) -> list[str]:
    """The short class names of the grid, in the order of the probe's ``dep/<class>`` metrics of the first
    point. Raises ``ValueError`` for no points, ``KeyError`` for a point without context metrics."""
    if not points:
        raise ValueError("class_names: no points")
    return [k.split("/", 1)[1] for k in points[0]["metrics"]["context"] if k.startswith("dep/")]


def class_slope(p: dict, classes: list[str], v: str = "highres", b: str = "i3d") -> float:
    """One point's slope of the per-class gain ``AP(v) - AP(b)`` (GT boxes) on the probe's context
    dependence, fitted over the classes whose gain is finite. Raises ``KeyError`` for a missing metric."""
    dep = np.array([p["metrics"]["context"][f"dep/{c}"] for c in classes])
    gain = np.array([p["metrics"][v][f"ap_gt/{c}"] - p["metrics"][b][f"ap_gt/{c}"] for c in classes])
    ok = np.isfinite(gain)
    return float(np.polyfit(dep[ok], gain[ok], 1)[0])


def _row(diffs, seeds) -> dict:
    # a paired row from per-seed differences: the mean and its 95% t-interval (as stats.paired_diff_ci)
    d = np.asarray(diffs, float)
    m, lo, hi = mean_ci(d)
    return {"diffs": d.tolist(), "seeds": list(seeds), "direction": +1, "diff": m, "diff_lo": lo, "diff_hi": hi,
            "n_pairs": int(d.size)}


def attention_share(points_s: list[dict], v: str = "highres") -> dict:
    """Attention in the other people's boxes against a uniform map over the same cells, over the points of
    one cue size: the paired row (``diffs`` per seed, ``diff``, ``diff_lo``, ``diff_hi``) plus the means
    ``mean`` and ``uniform`` (other people's boxes) and ``own``, ``own_uniform`` (the person's own box).
    Raises ``KeyError`` when a point has no attention metrics for ``v``."""
    a = [p["metrics"][v]["attn_other"] for p in points_s]
    u = [p["metrics"][v]["attn_other_uniform"] for p in points_s]
    return {**_row(np.subtract(a, u), [p["seed"] for p in points_s]),
            "mean": float(np.mean(a)), "uniform": float(np.mean(u)),
            "own": float(np.mean([p["metrics"][v]["attn_own"] for p in points_s])),
            "own_uniform": float(np.mean([p["metrics"][v]["attn_own_uniform"] for p in points_s]))}


def _seed_diff(points, f, g, s_f, s_g) -> dict:
    fa, gb = {p["seed"]: f(p) for p in at(points, s_f)}, {p["seed"]: g(p) for p in at(points, s_g)}
    seeds = sorted(set(fa) & set(gb))
    return _row([fa[k] - gb[k] for k in seeds], seeds)


def _gain(m):
    return lambda p: p["metrics"]["highres"][m] - p["metrics"]["i3d"][m]


def _ctx_gain(p, cs):
    return float(np.nanmean([p["metrics"]["highres"][f"ap_gt/{c}"] - p["metrics"]["i3d"][f"ap_gt/{c}"] for c in cs]))


def claims(points: list[dict], cue0: float) -> dict[str, dict]:
    """Every claim of the notebook as a paired row, ``{name: row}`` in the notebook's order.

    ``points``: the grid's points (``repro.load_points``); ``cue0``: the default cue size, one of the grid's
    ``cue_scale`` values. Each row has ``diffs`` (one difference "claimed minus compared" per paired seed),
    ``direction`` (+1: every claim here says the first is higher), ``diff``, ``diff_lo``, ``diff_hi`` (mean
    and 95% t-interval) and ``n_pairs``. Claims 1, 1b, 3a, 3b and 8 come at every cue size, the others at
    ``cue0``. Raises ``ValueError`` when ``cue0`` is not a grid value or the grid's classes do not hold the six
    context classes, ``KeyError`` for a missing metric (too few seeds surface in :func:`family`).
    """
    s_values = sorted({p["knobs"]["cue_scale"] for p in points})
    if cue0 not in s_values:
        raise ValueError(f"claims: cue0 = {cue0!r} is not one of the grid's cue sizes {s_values}")
    classes = class_names(points)
    if not set(CONTEXT) < set(classes):
        raise ValueError(f"claims: the context classes {sorted(set(CONTEXT) - set(classes))} are not in the grid's "
                         f"classes {classes}")
    quiet = [c for c in CONTEXT if c not in HAND_OVER_PAIR]
    other = [c for c in classes if c not in CONTEXT]

    def paired(metric, a, b, s):
        r = repro.find_row(repro.summarize(at(points, s), metric, baseline=b), a)
        return {**r, "seeds": r["pair_seeds"]}

    def slope(s):
        pts = at(points, s)
        return _row([class_slope(p, classes) for p in pts], [p["seed"] for p in pts])

    s_lo, s_hi = min(s_values), max(s_values)
    out = {}
    for s in s_values:
        out[f"1 Tx HighRes > I3D, GT boxes, cue {s:g}"] = paired("mAP_gt", "highres", "i3d", s)
        out[f"1b Tx LowRes > I3D, GT boxes, cue {s:g}"] = paired("mAP_gt", "lowres", "i3d", s)
        out[f"3a Tx gain larger on context classes, cue {s:g}"] = _seed_diff(
            points, _gain("context_mAP_gt"), _gain("other_mAP_gt"), s, s)
        out[f"3b Tx gain rises with context dependence, cue {s:g}"] = slope(s)
        out[f"8 attention in other people's boxes > uniform, cue {s:g}"] = attention_share(at(points, s))
    out[f"3c ... without the hand-over pair, cue {cue0:g}"] = _seed_diff(
        points, lambda p: _ctx_gain(p, quiet), lambda p: _ctx_gain(p, other), cue0, cue0)
    out[f"2a Tx HighRes > I3D widened, cue {cue0:g}"] = paired("mAP_gt", "highres", "i3d_wide", cue0)
    out[f"2b Tx HighRes shrunk > I3D, cue {cue0:g}"] = paired("mAP_gt", "highres_small", "i3d", cue0)
    out[f"4 Tx gain larger at cue {s_hi:g} than at {s_lo:g}"] = _seed_diff(points, _gain("mAP_gt"), _gain("mAP_gt"),
                                                                          s_hi, s_lo)
    out[f"5a I3D localises better than Tx HighRes, IoU 0.5, cue {cue0:g}"] = paired("loc@0.5", "i3d", "highres", cue0)
    out[f"5b I3D localises better than Tx LowRes, IoU 0.5, cue {cue0:g}"] = paired("loc@0.5", "i3d", "lowres", cue0)
    out[f"6a HighRes localises better than LowRes, IoU 0.5, cue {cue0:g}"] = paired("loc@0.5", "highres", "lowres",
                                                                                   cue0)
    out[f"6b HighRes localises better than LowRes, IoU 0.75, cue {cue0:g}"] = paired("loc@0.75", "highres", "lowres",
                                                                                    cue0)
    out[f"7a Tx HighRes > I3D, RPN boxes, cue {cue0:g}"] = paired("mAP_rpn", "highres", "i3d", cue0)
    out[f"7b Tx+I3D > I3D, RPN boxes, cue {cue0:g}"] = paired("mAP_rpn", "tx+i3d", "i3d", cue0)
    out[f"7c Tx+I3D > Tx HighRes, RPN boxes, cue {cue0:g}"] = paired("mAP_rpn", "tx+i3d", "highres", cue0)
    return out


def primary_names(cue0: float) -> dict[str, str]:
    """The four primary claims at the default cue size, ``{label: claim name}`` with labels P1-P4: the
    headline of each of the paper's Sections 4.2 (Table 1), 4.3 (Table 2) and 4.4 (Table 3), and the
    context the paper builds the head for (its abstract and Fig. 5a; no number in the paper)."""
    return {"P1": f"1 Tx HighRes > I3D, GT boxes, cue {cue0:g}",
            "P2": f"3a Tx gain larger on context classes, cue {cue0:g}",
            "P3": f"5a I3D localises better than Tx HighRes, IoU 0.5, cue {cue0:g}",
            "P4": f"7a Tx HighRes > I3D, RPN boxes, cue {cue0:g}"}


def paper_effects(table1: dict, table2: dict, table3: dict, cue0: float) -> dict:
    """The paper's own effect of each primary claim, ``{claim name: effect or None}``, in mAP fractions.

    ``table1``, ``table2``, ``table3``: the paper's numbers the notebook displays next to its Tables 1-3
    analogues, ``{variant: %}`` (Table 1: GT boxes; Table 2: localisation AP at IoU 0.5; Table 3: RPN
    boxes with R = 300). The context claim gets ``None``: the paper shows it per class (Fig. 5a) but gives
    no number for it. Raises ``KeyError`` when a table lacks ``"i3d"`` or ``"highres"``.
    """
    p = primary_names(cue0)
    return {p["P1"]: (table1["highres"] - table1["i3d"]) / 100, p["P2"]: None,
            p["P3"]: (table2["i3d"] - table2["highres"]) / 100, p["P4"]: (table3["highres"] - table3["i3d"]) / 100}


def family(rows: dict[str, dict], paper: dict, primary=None) -> list[dict]:
    """Decide the notebook's claims with ``repro.decide``: the ``primary`` names (default: the names in
    ``paper``) are the primary family, decided with Holm; the other rows of ``rows`` (:func:`claims`,
    :func:`context_claims`, or both merged) are exploratory. ``paper``: ``{name: the paper's effect or None}``
    (:func:`paper_effects`, :func:`context_paper_effects`), kept with any claim, primary or not. Returns
    ``repro.decide``'s list, primary claims first, each shown in points (x 100). Raises ``ValueError`` when a
    primary or paper name is not a claim (and those of ``repro.decide``: more than four primary claims, fewer
    than 2 seeds)."""
    primary = set(paper) if primary is None else set(primary)
    missing = sorted((primary | set(paper)) - set(rows))
    if missing:
        raise ValueError(f"family: claims {missing} are not among the claims")
    order = [k for k in rows if k in primary] + [k for k in rows if k not in primary]
    return repro.decide([repro.claim_from_diffs(
        k, rows[k]["diffs"], rows[k]["direction"], primary=k in primary, paper=paper.get(k), scale=100,
        units="pts per unit" if k.startswith("3b ") else "points", seeds=rows[k]["seeds"]) for k in order])


def _check(rows, fam):
    # the family decides every claim of rows (and may hold others: grid 04b's, when they are the primary family)
    names = {r["name"] for r in fam}
    if not set(rows) <= names:
        raise ValueError(f"the family does not decide the claims {sorted(set(rows) - names)}")
    return {r["name"]: r for r in fam}


def _lookup(rows, D):
    def group(prefix):
        return [k for k in rows if k.startswith(prefix + " ")]

    def one(prefix):
        ks = group(prefix)
        if not ks:
            raise KeyError(f"no claim {prefix!r}")
        return ks[0]

    def word(k):
        w = claim_word(D, k)
        return f"**{w}**; paper {100 * D[k]['paper']:+.1f}" if D[k]["primary"] and D[k]["paper"] is not None else (
            f"**{w}**" if D[k]["primary"] else w)

    def line(prefix):
        return "; ".join(f"cue {k.rsplit(' ', 1)[1]} {diff_text(rows[k])} ({word(k)})" for k in group(prefix))

    def item(prefix):
        k = one(prefix)
        return f"{diff_text(rows[k])} ({word(k)})"
    return group, one, line, item


def closing_note(grid: dict, points: list[dict], rows: dict[str, dict], fam: list[dict], cue0: float) -> str:
    """The closing note "What reproduces and what does not" (Markdown).

    ``grid``: ``repro.load_grid``'s dict (its ``seeds``); ``points``: the grid's points; ``rows``:
    :func:`claims`; ``fam``: :func:`family` of those rows; ``cue0``: the default cue size. A primary claim is
    shown in bold with its verdict, its minimum detectable effect and the paper's effect, an exploratory one
    with where its interval lies. Raises ``ValueError`` when ``fam`` and ``rows`` name different claims and
    ``KeyError`` when a claim the note reads is missing.
    """
    D = _check(rows, fam)
    group, one, line, item = _lookup(rows, D)
    s_values = sorted({p["knobs"]["cue_scale"] for p in points})
    s_lo, s_hi = min(s_values), max(s_values)
    mapm = {v: {s: repro.find_row(repro.summarize(at(points, s), "mAP_gt"), v)["mean"] for s in s_values}
            for v in _TABLE1}
    txt = lambda v: " / ".join(f"{100 * mapm[v][s]:.1f}" for s in s_values)  # noqa: E731
    face = {s: float(np.mean([p["metrics"]["data"]["cue/face_offset"] for p in at(points, s)])) for s in s_values}
    grid_cpu_min = sum(p["cpu_s"] for p in points) / 60
    loc75_max = max(r["mean"] for r in repro.summarize(at(points, cue0), "loc@0.75")
                    if r["variant"] in ("i3d", "lowres", "highres"))
    k2a = one("2a")
    capacity = (" At matched size the I3D head wins here: the paper's argument that the Tx gain is not capacity does "
                "not carry over." if D[k2a]["raw"] == "below 0" else "")
    shares = {s: rows[k] for s, k in zip(s_values, group("8"))}
    prim = [D[k] for k in rows if D[k]["primary"]]
    expl = [D[k] for k in rows if not D[k]["primary"]]
    count = lambda v: sum(r["verdict"] == v for r in prim)  # noqa: E731
    where = [("includes 0" if r["raw"] == "includes 0" else
              "claimed" if (r["raw"] == "above 0") == (r["direction"] > 0) else "against") for r in expl]
    side = {w: where.count(w) for w in ("claimed", "against", "includes 0")}
    verdicts = ", ".join(f"{count(v)} {v}" for v in ("reproduces", "reversed", "within noise", "underpowered")
                         if count(v))
    labels = {name: lab for lab, name in primary_names(cue0).items()}
    under = [r for r in prim if r["verdict"] == "underpowered"]
    under_txt = ("" if not under else " Underpowered: " + "; ".join(
        f"{labels.get(r['name'], r['name'])} (MDE {100 * r['mde']:.1f} against the paper's "
        f"{100 * abs(r['paper']):.1f} points; about {r['n_needed']} seeds would detect it with 80% power)"
        for r in under) + ".")
    alone = [r for r in prim if r["raw"] != "includes 0" and r["holm"] == "includes 0"]
    alone_txt = "".join(
        f" The interval of {labels.get(r['name'], r['name'])} alone lies {r['raw']}"
        + (" (against the paper)" if (r["raw"] == "above 0") != (r["direction"] > 0) else "")
        + f", but it is not decisive once Holm corrects for the {len(prim)} tests of the family." for r in alone)
    headline = ", ".join(f"{lab}: claim {name.split(' ', 1)[0]}" for lab, name in primary_names(cue0).items())
    if prim:
        roles = f"The primary claims ({headline}) are in bold, at cue {cue0:g}."
        in_all = f"of the {len(prim)} primary claims, {verdicts}.{under_txt}{alone_txt} Of the {len(expl)}"
    else:
        roles = (f"The paper's headline claims ({headline}, at cue {cue0:g}) are exploratory here: the primary family "
                 "is grid 04b's, where another person's box is needed (Section 12).")
        in_all = f"of the {len(expl)}"
    return f"""### What reproduces and what does not

All numbers from the committed grid ({len(points)} points: {len(grid['seeds'])} seeds × cue_scale
{', '.join(f'{s:g}' for s in s_values)}; {grid_cpu_min:.0f} min CPU on one-thread workers), frame-mAP in points, paired
over seeds, 95% t-intervals. Cue sizes: face offset {', '.join(f"{face[s]:.1f}" for s in s_values)} px.
{repro.family_text(fam)}. {roles}

- **Table 1 (GT boxes), cue {' / '.join(f'{s:g}' for s in s_values)}:** I3D head {txt('i3d')}; Tx HighRes {txt('highres')}; Tx LowRes {txt('lowres')};
  I3D widened to Tx's size {txt('i3d_wide')}; Tx shrunk to I3D's size {txt('highres_small')}; Tx with the trunk
  trained {txt('highres_e2e')}. Tx HighRes − I3D: {line('1')}. Tx LowRes − I3D: {line('1b')}.
- **Capacity.** Tx HighRes − widened I3D {item('2a')}; shrunk Tx − I3D {item('2b')}.{capacity}
- **Context.** Tx gain on the context classes minus on the others: {line('3a')}. Slope of the per-class gain on
  the probe's context dependence (AP points per unit of dependence): {line('3b')}. The gain against cue size
  (cue {s_hi:g} − cue {s_lo:g}): {item('4')}.
- **Table 2 (IoU 0.5).** I3D − Tx HighRes {item('5a')}; I3D − LowRes {item('5b')};
  HighRes − LowRes {item('6a')} at 0.5 and {item('6b')} at 0.75 (but every head's AP at 0.75 is below
  {100 * loc75_max:.0f} points: a 4 px feature stride leaves box edges a pixel or two off, so that ordering rests on
  small numbers).
- **Table 3 (RPN boxes).** Tx − I3D {item('7a')}; Tx+I3D − I3D {item('7b')}; Tx+I3D − Tx {item('7c')}.
- **Attention.** Share in the other people's boxes against a uniform map over the same cells: """ + "; ".join(
        f"cue {s:g} {r['mean']:.3f} vs {r['uniform']:.3f} ({claim_word(D, k)})"
        for (s, r), k in zip(shares.items(), group("8"))) + f""".
- **In all:** {in_all} exploratory comparisons of this grid,
  {side['claimed']} intervals lie on the side the paper claims, {side['against']} on the other side and
  {side['includes 0']} include 0 (read them as leads, not findings: no multiplicity control).

"""


def reading(grid: dict, points: list[dict], rows: dict[str, dict], fam: list[dict], cue0: float) -> str:
    """The "Reading" paragraph after the closing note (Markdown): the per-class gains at ``cue0``, what the
    primary verdicts and the exploratory intervals say together, and the training gap to the paper.

    Arguments as :func:`closing_note` (``grid``'s ``fixed`` gives ``epochs_head`` and ``epochs_trunk``).
    Each sentence that depends on a result is chosen from the computed decisions. Raises ``ValueError``
    when ``fam`` and ``rows`` name different claims and ``KeyError`` when a claim or metric is missing.
    """
    D = _check(rows, fam)
    group, one, line, item = _lookup(rows, D)
    P = primary_names(cue0)
    classes = class_names(points)
    by_class = {c: float(np.mean([p["metrics"]["highres"][f"ap_gt/{c}"] - p["metrics"]["i3d"][f"ap_gt/{c}"]
                                  for p in at(points, cue0)])) for c in classes}
    rank = sorted(by_class, key=by_class.get)
    quiet = [c for c in CONTEXT if c not in HAND_OVER_PAIR]
    steps_head = grid["fixed"]["epochs_head"] * math.ceil(points[0]["metrics"]["data"]["n_train"] / 32)
    p1, p2 = D[P["P1"]], D[P["P2"]]
    slopes_up = all(D[k]["raw"] == "above 0" for k in group("3b"))
    context = ("The Tx head's gain leans toward the classes that need context (P2, " + _state(p2) + ")"
               + (", and it grows with how much a probe needs the other people to decide a class (the slopes, "
                  "exploratory, lie above 0 at every cue size)" if slopes_up else "") + ";")
    if not holds(p2):
        context = f"The Tx head's gain on the context classes is not shown (P2, {_state(p2)});"
    other1 = [k for k in group("1") if k != P["P1"]]
    at_other = ("; the exploratory intervals at cue " + " / ".join(k.rsplit(" ", 1)[1] for k in other1) + ": "
                + " / ".join(D[k]["raw"] for k in other1)) if other1 else ""
    if holds(p1):
        headline = (f"and its overall win over the I3D head holds at cue {cue0:g} "
                    f"(P1, {_state(p1)}, MDE {100 * p1['mde']:.1f}{at_other})")
    else:
        headline = (f"but its overall win over the I3D head (P1) is {_state(p1)} at cue {cue0:g}: "
                    f"{diff_text(rows[P['P1']])} against the paper's {100 * p1['paper']:+.1f}, "
                    f"MDE {100 * p1['mde']:.1f}"
                    + (f" (about {p1['n_needed']} seeds would see an effect of the paper's size)"
                       if p1["verdict"] == "underpowered" else "") + at_other)
    wide = D[one("2a")]
    if wide["raw"] == "below 0":
        headline += f"; and a larger I3D head beats it by about {abs(100 * wide['diff']):.0f} points"
    if holds(p2) and not holds(p1):
        summary = ("So what the grid supports is a *redistribution* of accuracy toward the context classes; the "
                   "paper's headline gain is not shown here"
                   + (f", and {p1['n']} seeds could not have shown an effect of its size."
                      if p1["verdict"] == "underpowered" else "."))
    elif holds(p2):
        summary = "So the grid supports both the headline gain and its source in the context classes."
    else:
        summary = "So the grid does not show the gain on the context classes that the paper builds the head for."
    shares = [rows[k] for k in group("8")]
    attention = ("The attention maps do not single out the other people either: their share is at or below a uniform "
                 "map's over the same cells." if all(r["mean"] <= r["uniform"] for r in shares) else
                 "The attention share in the other people's boxes against a uniform map: " + "; ".join(
                     f"{r['mean']:.3f} vs {r['uniform']:.3f}" for r in shares) + ".")
    cue_growth = ("The gain did not grow with the cue size (claim 4): enlarging the face and the objects gave the head "
                  "nothing it used." if D[one("4")]["raw"] != "above 0" else
                  "The gain grew with the cue size (claim 4, exploratory): the larger cues gave the head something "
                  "to use.")
    hand = [c for c in rank[-2:] if c in HAND_OVER_PAIR]
    hand_txt = (f" Our reading, not tested: {' and '.join(hand)} gains most because the object's path between giver "
                "and taker spans many pixels at every cue size." if hand else "")
    return f"""**Reading.** Per class at cue {cue0:g} (Tx HighRes − I3D, mean over seeds): the largest gains are {rank[-1]}
({100 * by_class[rank[-1]]:+.1f}) and {rank[-2]} ({100 * by_class[rank[-2]]:+.1f}), the largest loss {rank[0]}
({100 * by_class[rank[0]]:+.1f}); the other context classes: """ + ", ".join(
        f"{c} {100 * by_class[c]:+.1f}" for c in quiet) + f""".
Without the hand-over pair the context advantage is {item('3c')}. {context}
{headline}. {summary} {attention} {cue_growth}{hand_txt} Every head was trained for {steps_head} steps (the best
validation epoch is printed in Section 9) from a trunk trained for {grid['fixed']['epochs_trunk']} epochs: the paper's
500 K steps on Kinetics-pretrained features are the main gap we cannot close on a CPU.
"""


# ----------------------------------------------------------------------------------------------
# Grid 04b: the regime where another person's box is needed (the notebook's primary family)
# ----------------------------------------------------------------------------------------------

#: Grid 04b's heads, in the order the table lists them, with their labels.
CONTEXT_VARIANTS = {"i3d": "I3D head", "i3d_wide": "I3D widened (Tx's params)",
                    "highres": "Tx HighRes, learned attention", "highres_uniform": "Tx HighRes, uniform attention",
                    "highres_nomem": "Tx HighRes, no memory", "highres_oracle": "Tx HighRes, oracle attention"}
#: The four primary claims, named in grid 04b's description before it ran: ``{label: claim name}``.
CONTEXT_PRIMARY = {"A1": "A1 attention in other people's boxes > uniform (context regime)",
                   "A2": "A2 Tx HighRes > I3D widened, context classes (context regime)",
                   "A3": "A3 oracle attention > uniform attention, context classes (context regime)",
                   "A4": "A4 learned attention > uniform attention, context classes (context regime)"}
#: The exploratory comparisons of grid 04b: ``{name: (variant, baseline, metric)}``.
CONTEXT_EXPLORATORY = {
    "E1 uniform attention > no memory, context classes (context regime)": ("highres_uniform", "highres_nomem",
                                                                           "context_mAP_gt"),
    "E2 oracle attention > no memory, context classes (context regime)": ("highres_oracle", "highres_nomem",
                                                                          "context_mAP_gt"),
    "E3 Tx HighRes > I3D, context classes (context regime)": ("highres", "i3d", "context_mAP_gt"),
    "E4 Tx HighRes > I3D widened, all classes (context regime)": ("highres", "i3d_wide", "mAP_gt"),
    "E5 attention in the own box > uniform (context regime)": ("highres", None, "attn_own"),
}


def _paired(points_b, f, g) -> dict:
    seeds = [p["seed"] for p in points_b]
    return _row([f(p) - g(p) for p in points_b], seeds)


def _metric(v, m):
    return lambda p: p["metrics"][v][m]


def context_claims(points_b: list[dict]) -> dict[str, dict]:
    """Grid 04b's claims as paired rows over its seeds, ``{name: row}``: the four primary ones of
    :data:`CONTEXT_PRIMARY` (A1: the learned map's share in the other people's boxes minus a uniform
    map's over the same cells; A2-A4: context-class frame-mAP with GT boxes, Tx HighRes − I3D widened,
    oracle − uniform attention, learned − uniform attention), then :data:`CONTEXT_EXPLORATORY`. Rows as
    :func:`claims` gives them (fractions). Raises ``ValueError`` for no points and ``KeyError`` for a
    missing variant or metric."""
    if not points_b:
        raise ValueError("context_claims: no points")
    ctx = "context_mAP_gt"
    P = CONTEXT_PRIMARY
    out = {P["A1"]: _paired(points_b, _metric("highres", "attn_other"), _metric("highres", "attn_other_uniform")),
           P["A2"]: _paired(points_b, _metric("highres", ctx), _metric("i3d_wide", ctx)),
           P["A3"]: _paired(points_b, _metric("highres_oracle", ctx), _metric("highres_uniform", ctx)),
           P["A4"]: _paired(points_b, _metric("highres", ctx), _metric("highres_uniform", ctx))}
    for name, (v, b, m) in CONTEXT_EXPLORATORY.items():
        base = _metric(v, m + "_uniform") if b is None else _metric(b, m)
        out[name] = _paired(points_b, _metric(v, m), base)
    return out


def context_paper_effects(table1: dict) -> dict:
    """The paper's effect next to each primary claim of :data:`CONTEXT_PRIMARY`, ``{name: effect or None}``:
    A2 gets the Table 1 gain of Tx HighRes over the I3D head (``table1`` in %, as the notebook displays it),
    the gain the paper argues is not capacity; the paper gives no number for the others. Raises ``KeyError``
    when ``table1`` lacks ``"i3d"`` or ``"highres"``."""
    P = CONTEXT_PRIMARY
    return {P["A1"]: None, P["A2"]: (table1["highres"] - table1["i3d"]) / 100, P["A3"]: None, P["A4"]: None}


def best_epochs(points_b: list[dict], grid_b: dict) -> dict:
    """Where early stopping ended each head of grid 04b: ``{variant: {"best": [epoch_best per seed],
    "run": [epochs_run per seed], "at_cap": runs whose best epoch is the last allowed (epochs_head),
    "cut": runs ended by the cap before patience ran out (fewer than head_patience epochs after their best),
    "n": runs}}``. A run stopped by patience has ``run = best + head_patience``. Raises ``KeyError`` for a
    point without ``epochs_run`` (trained without patience)."""
    cap, patience = int(grid_b["fixed"]["epochs_head"]), int(grid_b["fixed"]["head_patience"])
    out = {}
    for v in CONTEXT_VARIANTS:
        best = [int(p["metrics"][v]["epoch_best"]) for p in points_b]
        run = [int(p["metrics"][v]["epochs_run"]) for p in points_b]
        out[v] = {"best": best, "run": run, "at_cap": sum(b == cap for b in best),
                  "cut": sum(r == cap and cap - b < patience for b, r in zip(best, run)), "n": len(best)}
    return out


def context_table(points_b: list[dict], grid_b: dict) -> str:
    """Grid 04b's regime table (Markdown): per head its parameters, frame-mAP with GT boxes on the context
    classes and on all classes (mean over seeds [95% t-interval], points), the attention in the other
    people's boxes against a uniform map's over the same cells, the map's entropy / log N and its query
    dependence (total variation between two people's maps; means over seeds), and the best epochs (early
    stopping). Raises ``KeyError`` for a missing variant or metric."""
    ep = best_epochs(points_b, grid_b)
    lines = ["| head | params | context-class mAP | all-class mAP | share in other people's boxes (uniform) "
             "| entropy / log N | query dependence | best epoch (median, range) |",
             "|---|---|---|---|---|---|---|---|"]
    for v, label in CONTEXT_VARIANTS.items():
        ms = [p["metrics"][v] for p in points_b]
        ctx = mean_ci_text(mean_ci([m["context_mAP_gt"] for m in ms]), unit="")
        allc = mean_ci_text(mean_ci([m["mAP_gt"] for m in ms]), unit="")
        if "attn_other" in ms[0]:
            share = (f"{np.mean([m['attn_other'] for m in ms]):.3f} "
                     f"({np.mean([m['attn_other_uniform'] for m in ms]):.3f})")
            ent = f"{np.mean([m['attn_entropy'] for m in ms]):.3f}"
            tv = f"{np.mean([m['attn_query_tv'] for m in ms]):.3f}"
        else:
            share = ent = tv = "— (no map)"
        b = ep[v]["best"]
        lines.append(f"| {label} | {ms[0]['params'] / 1e3:.0f} K | {ctx} | {allc} | {share} | {ent} | {tv} | "
                     f"{int(np.median(b))} ({min(b)}-{max(b)}) |")
    return "\n".join(lines)


def _state(d: dict) -> str:
    """A decided claim's word: a primary claim's verdict, an exploratory one's interval side."""
    return d["verdict"] if d["primary"] else f"exploratory, interval {d['raw']}"


def holds(d: dict) -> bool:
    """Whether a decided claim (``repro.decide``'s dict) supports what it says: a primary claim's verdict is
    "reproduces", an exploratory claim's raw interval lies on the claimed side."""
    if d["primary"]:
        return d["verdict"] == "reproduces"
    return d["raw"] == ("above 0" if d["direction"] > 0 else "below 0")


def context_note(grid_b: dict, points_b: list[dict], rows_b: dict[str, dict], fam: list[dict]) -> str:
    """The closing note's paragraph on the regime where another person's box is needed (Markdown): the
    data, the four primary claims with Holm and their minimum detectable effects, what the oracle could give
    and what learned attention recovers of it, and the best-epoch distribution. ``rows_b``:
    :func:`context_claims`; ``fam``: :func:`family` over those rows and the grid-04 claims. Every sentence
    that depends on a result is chosen from the computed decisions. Raises ``KeyError`` for a missing claim."""
    D = {r["name"]: r for r in fam}
    P = CONTEXT_PRIMARY
    a = {k: D[n] for k, n in P.items()}
    fx = grid_b["fixed"]
    ep = best_epochs(points_b, grid_b)
    runs = sum(e["n"] for e in ep.values())
    at_cap = sum(e["at_cap"] for e in ep.values())
    cut = sum(e["cut"] for e in ep.values())
    best_all = [b for e in ep.values() for b in e["best"]]

    def claim(k):
        d, r = a[k], rows_b[P[k]]
        mde = f"MDE {100 * d['mde']:.1f}"
        paper = "" if d["paper"] is None else f"; paper {100 * d['paper']:+.1f}"
        return f"{diff_text(r)} (**{d['verdict']}**, {mde}{paper})"

    learned, oracle = rows_b[P["A4"]], rows_b[P["A3"]]
    frac = recovery_fraction(learned["diff"], oracle["diff"], oracle["diff_lo"])
    if oracle["diff_lo"] > 0:
        rec = (f"The oracle's gain lies above 0: attending to the other people pays in this regime, and learned "
               f"attention recovers {frac:.0%} of it." if math.isfinite(frac) else
               "The oracle's gain lies above 0: attending to the other people pays in this regime.")
    elif oracle["diff_hi"] < 0:
        rec = ("The oracle's gain lies *below* 0: attention fixed on the other people's boxes does worse than a "
               "uniform map over the whole clip, so this oracle is no upper bound and there is no gain of its to "
               "recover. Our reading, not tested: a map confined to the other people loses what the rest of the clip "
               "tells the head (the person's own surroundings, the object on its way between two people).")
    else:
        rec = ("The oracle's interval includes 0: attention fixed on the other people's boxes does not beat a "
               "uniform map here, so the data leave the learned map nothing to recover that we can see.")
    found = holds(a["A1"])
    if found:
        attention = "The learned map puts more of its weight in the other people's boxes than a uniform map does (A1)."
    elif holds(a["A4"]):
        attention = (f"The learned map does not single out the other people (A1 {a['A1']['verdict']}), yet it beats a "
                     "uniform map on the context classes (A4): what it attends to lies elsewhere than their boxes.")
    else:
        attention = (f"The learned map does not single out the other people (A1 {a['A1']['verdict']}) and does not "
                     f"beat a uniform map (A4 {a['A4']['verdict']}): whatever the Tx head gains here comes from its "
                     "query and its capacity, not from attending to context.")
    capacity = ("It beats the I3D head widened to its size on the context classes (A2)." if holds(a["A2"]) else
                f"Against the I3D head widened to its size, its context-class gain is {a['A2']['verdict']} (A2).")
    e1, e3 = (next(k for k in CONTEXT_EXPLORATORY if k.startswith(p)) for p in ("E1 ", "E3 "))
    memory = (f"The memory itself, uniform attention − no memory: {diff_text(rows_b[e1])} ({_state(D[e1])}); the Tx "
              f"head − the I3D head on the context classes: {diff_text(rows_b[e3])} ({_state(D[e3])}).")
    cpu_h = sum(p["cpu_s"] for p in points_b) / 3600
    return f"""**Where another person's box is needed (grid 04b, Section 12).** {len(points_b)} seeds, symmetric hand-over,
cue_scale {points_b[0]['knobs']['cue_scale']:g}, hand-over pairs in {100 * fx['exchange_rate']:.0f}% and conversations in
{100 * fx['conversation_rate']:.0f}% of the scenes that allow them (chosen before the grid ran); {cpu_h:.1f} CPU-h.
The primary family (Holm over A1-A4), context-class frame-mAP in points:
A1 share in other people's boxes − uniform {claim('A1')};
A2 Tx HighRes − I3D widened {claim('A2')};
A3 oracle − uniform attention {claim('A3')};
A4 learned − uniform attention {claim('A4')}.
{attention} {capacity} {memory} {rec} Early stopping ({fx['epochs_head']} epochs at most, patience {fx['head_patience']}): the best
epoch lay between {min(best_all)} and {max(best_all)} (median {int(np.median(best_all))}); {at_cap} of {runs} runs
were still improving at the last epoch allowed, and {cut} were ended by that cap before their patience ran out.
"""
