"""The claims and the closing note of notebook 03 (Glimpse Clouds), built from its committed grid.

The grid (``repro.load_points("03_glimpse_clouds")``) holds one point per seed and ``object_scale`` (the size of
the held object), each with the accuracy (``acc``) of the variants ``global``, ``global_avg``, ``gc``,
``gc_random`` and ``sum``, the workers' specialisation (``spec``, nats) and ``metrics["data"]`` (``object_px``,
``chance``). :func:`claims` turns it into the notebook's family of claims for ``repro.decide``;
:func:`specialisation_text` and :func:`closing_note` write the Markdown the notebook displays from the grid and the
decided family, so the prose cannot disagree with the tables.
"""
from __future__ import annotations

import numpy as np

from .. import repro
from .text import claim_text, claim_word

__all__ = ["claim_names", "claims", "specialisation_text", "closing_note"]

#: The variants of the accuracy line of the closing note, with their names in the prose.
LABELS = {"global": "global model", "gc": "Glimpse Clouds", "gc_random": "random glimpses",
          "sum": "Σ glimpses + GRU", "global_avg": "the time-averaged global model"}


def _at(points, s):
    return [p for p in points if p["knobs"]["object_scale"] == s]


def _sizes(points) -> tuple[list[float], dict]:
    s_values = sorted({float(p["knobs"]["object_scale"]) for p in points})
    if len(s_values) < 3:
        raise ValueError(f"glimpse report: the grid needs at least 3 object sizes, got {s_values}")
    px = {s: float(np.mean([p["metrics"]["data"]["object_px"] for p in _at(points, s)])) for s in s_values}
    return s_values, px


def claim_names(points, s0: float) -> dict:
    """The names of the notebook's claims, keyed by a short id.

    ``points``: the grid's point dicts; ``s0``: the default ``object_scale`` (the one of the Table 3 and 4
    analogues). Returns ``{"1@<s>": ..., "2": ..., "3": ..., "4@<s>": ..., "5a": ..., "5b": ..., "5c": ..., "5d": ...,
    "6": ...}`` (``<s>``: every ``object_scale`` of the grid, as ``f"{s:g}"``); the sizes in pixels are the grid's mean
    object heights. Raises ``ValueError`` for fewer than 3 object sizes or an ``s0`` not in the grid.
    """
    s_values, px = _sizes(points)
    if float(s0) not in px:
        raise ValueError(f"claim_names: s0 = {s0} is not an object_scale of the grid {s_values}")
    s_lo, s_mid, s_hi = s_values[0], s_values[1], s_values[-1]
    n = {f"1@{s:g}": f"1 GC > global model, {px[s]:.1f} px" for s in s_values}
    n["2"] = f"2 GC > Σ glimpses + GRU, {px[s0]:.1f} px"
    n["3"] = f"3 Σ glimpses + GRU > global model, {px[s0]:.1f} px"
    n.update({f"4@{s:g}": f"4 attention > random glimpses, {px[s]:.1f} px" for s in s_values})
    for key, what, (a, b) in (("5a", "GC's gain over the global model", (s_lo, s_hi)),
                              ("5b", "attention's gain over random", (s_lo, s_hi)),
                              ("5c", "GC's gain over the global model", (s_mid, s_hi)),
                              ("5d", "attention's gain over random", (s_mid, s_hi))):
        n[key] = f"{key} {what} larger at {px[a]:.1f} than at {px[b]:.1f} px"
    n["6"] = f"6 workers specialise more with attention than with random glimpses, {px[s0]:.1f} px"
    return n


def claims(points, s0: float, paper3: dict, paper4: dict) -> list[dict]:
    """The notebook's claims as ``repro.claim`` dicts, in the order of its list, ready for ``repro.decide``.

    ``points``: the grid's point dicts; ``s0``: the default ``object_scale``; ``paper3`` / ``paper4``: the paper's
    accuracies (%, NTU cross-subject) of the notebook's Table 3 and Table 4 analogues, ``{variant: number}`` with
    ``gc``, ``global_avg`` (the paper's GM trained with L_D + L_P), ``sum`` and, in ``paper4``, ``gc_random``.

    Accuracy claims are in points (``scale=100``), the specialisation claim in millinats. Four claims are primary,
    each with the paper's effect as a fraction: GC against the global model at ``s0`` (Table 3, GC − GM (L_D + L_P)),
    GC against Σ glimpses + GRU at ``s0`` (Table 3), attention against random glimpses at ``s0`` (Table 4), and the
    sweep claim that GC's gain over the global model is larger at the middle object size than at the largest (no
    paper effect). The rest are exploratory. Raises ``KeyError`` when ``paper3``/``paper4`` lack a variant and
    ``ValueError`` (from :func:`claim_names` or ``repro.claim``) for a grid without the sizes or paired seeds.
    """
    names = claim_names(points, s0)
    s_values, _ = _sizes(points)
    s_lo, s_mid, s_hi = s_values[0], s_values[1], s_values[-1]
    paper = {names["2"]: (paper3["gc"] - paper3["sum"]) / 100,
             names[f"1@{s0:g}"]: (paper3["gc"] - paper3["global_avg"]) / 100,
             names[f"4@{s0:g}"]: (paper4["gc"] - paper4["gc_random"]) / 100, names["5c"]: None}

    def paired(metric, a, b, s):
        return repro.find_row(repro.summarize(_at(points, s), metric, baseline=b), a)

    def gain_diff(v, b, s_small, s_large):
        # per seed: (v - b at the small object) - (v - b at the large one); the claim: larger where it is small
        g = lambda s: {p["seed"]: p["metrics"][v]["acc"] - p["metrics"][b]["acc"] for p in _at(points, s)}
        sm, lg = g(s_small), g(s_large)
        seeds = sorted(set(sm) & set(lg))
        return {"diffs": [sm[k] - lg[k] for k in seeds], "direction": +1, "pair_seeds": seeds, "variant": v}

    rows = {names[f"1@{s:g}"]: paired("acc", "gc", "global", s) for s in s_values}
    rows[names["2"]] = paired("acc", "gc", "sum", s0)
    rows[names["3"]] = paired("acc", "sum", "global", s0)
    rows.update({names[f"4@{s:g}"]: paired("acc", "gc", "gc_random", s) for s in s_values})
    rows[names["5a"]] = gain_diff("gc", "global", s_lo, s_hi)
    rows[names["5b"]] = gain_diff("gc", "gc_random", s_lo, s_hi)
    rows[names["5c"]] = gain_diff("gc", "global", s_mid, s_hi)
    rows[names["5d"]] = gain_diff("gc", "gc_random", s_mid, s_hi)
    rows[names["6"]] = paired("spec", "gc", "gc_random", s0)
    return [repro.claim(k, r, primary=k in paper, paper=paper.get(k), scale=1000 if k == names["6"] else 100,
                        units="millinats" if k == names["6"] else "points") for k, r in rows.items()]


def specialisation_text(points, s0: float, floor: float) -> str:
    """One paragraph on the full model's specialisation at ``s0`` against the ``floor`` (nats), and random glimpses'.

    ``points``: the grid's point dicts (``metrics["gc"]["spec"]`` and ``metrics["gc_random"]["spec"]``); ``s0``: the
    default ``object_scale``. Returns Markdown text (mean and 95% t-interval over seeds, the range over seeds).
    Raises ``ValueError`` for an ``s0`` without points and ``KeyError`` for points without ``spec``.
    """
    pts = _at(points, s0)
    if not pts:
        raise ValueError(f"specialisation_text: no points at object_scale {s0}")
    _, px = _sizes(points)
    r0 = repro.find_row(repro.summarize(pts, "spec"), "gc")
    rr = repro.find_row(repro.summarize(pts, "spec"), "gc_random")
    seeds = [p["metrics"]["gc"]["spec"] for p in pts]
    return (f"At {px[s0]:.1f} px the full model's specialisation is {r0['mean']:.4f} nats [{r0['lo']:.4f}, {r0['hi']:.4f}] "
            f"over {r0['n']} seeds (per seed {min(seeds):.4f} to {max(seeds):.4f}): every seed and the mean "
            f"are above the floor of {floor:g} nats, but the lower end of the 95% interval "
            + ("reaches it" if r0["lo"] <= floor else "is above it") + ". Random glimpses give "
            f"{rr['mean']:.4f} [{rr['lo']:.4f}, {rr['hi']:.4f}].")


def closing_note(points, grid: dict, fam: list[dict], s0: float, floor: float, paper3: dict, paper4: dict) -> str:
    """The closing note "What reproduces and what does not", as Markdown.

    ``points``/``grid``: the committed grid (``repro.load_points`` / ``repro.load_grid``; ``grid["seeds"]``);
    ``fam``: ``repro.decide(claims(points, s0, paper3, paper4))``, the decided family (primary claims give their
    verdict and minimum detectable effect, exploratory ones where their interval lies); ``s0``: the default
    ``object_scale``; ``floor``: the specialisation floor (nats); ``paper3``/``paper4``: as for :func:`claims`.
    Raises ``KeyError`` when a claim the note reports is missing from ``fam`` (or a variant from the points or the
    paper's tables), ``ValueError`` for a grid with fewer than 3 object sizes.
    """
    names = claim_names(points, s0)
    D = {r["name"]: r for r in fam}
    missing = [n for n in names.values() if n not in D]
    if missing:
        raise KeyError(f"closing_note: claims missing from the decided family: {missing}")
    c = lambda k: D[names[k]]

    def word(k):
        # a primary claim's verdict and MDE in bold (with the paper's effect when it gives one), else the interval
        if not c(k)["primary"]:
            return claim_word(D, names[k])
        paper = "" if c(k)["paper"] is None else f"; paper {100 * c(k)['paper']:+.1f}"
        return f"**{claim_word(D, names[k])}**{paper}"

    s_values, px = _sizes(points)
    s_lo, s_mid, s_hi = s_values[0], s_values[1], s_values[-1]
    chance = float(points[0]["metrics"]["data"]["chance"])
    accm = {v: {s: repro.find_row(repro.summarize(_at(points, s), "acc"), v) for s in s_values} for v in LABELS}
    acc_txt = lambda v: ", ".join(f"{px[s]:.1f} px {100 * accm[v][s]['mean']:.1f}%" for s in s_values)
    at_chance = [s for s in s_values if max(accm[v][s]["hi"] for v in LABELS) < 1.5 * chance]
    prim = [r for r in fam if r["primary"]]
    under = [r for r in prim if r["verdict"] == "underpowered"]
    reproduced = [r["name"].split(" ", 1)[1] for r in prim if r["verdict"] == "reproduces"]
    spec = {s: repro.find_row(repro.summarize(_at(points, s), "spec"), "gc") for s in (s_lo, s_hi)}
    per_size = lambda i: "; ".join(f"{px[s]:.1f} px {claim_text(c(f'{i}@{s:g}'))} ({word(f'{i}@{s:g}')})" for s in s_values)
    head = f"""### What reproduces and what does not

All numbers from the committed grid ({len(points)} points: {len(grid['seeds'])} seeds × object heights
{', '.join(f'{px[s]:.1f}' for s in s_values)} px; {sum(p['cpu_s'] for p in points) / 60:.0f} min CPU on one-thread workers),
accuracy in points, paired over seeds, 95% t-intervals. {repro.family_text(fam)}."""
    if under:
        head += (" Underpowered: " + "; ".join(
            f"{r['name'].split(' ', 1)[1]} (MDE {100 * r['mde']:.1f} points against the paper's {100 * abs(r['paper']):.1f}; "
            f"{r['n_needed']} seeds would be needed)" for r in under)
            + ": five seeds of these small models could not have seen an effect of the paper's size.")
    raw_only = [r["name"].split(" ", 1)[1] for r in prim if r["raw"] != "includes 0" and r["holm"] == "includes 0"]
    if raw_only:
        head += (" Decisive alone (the 95% interval excludes 0) but not after Holm, the price of controlling the family: "
                 + "; ".join(raw_only) + ".")
    acc = (f"- **Accuracy** (chance {100 * chance:.1f}%): "
           + "; ".join(f"{LABELS[v]} {acc_txt(v)}" for v in LABELS) + ".")
    if at_chance:
        acc += (f"\n  At {', '.join(f'{px[s]:.1f}' for s in at_chance)} px no model is above chance: the object is too "
                "small for every one of them, so the claim that glimpses help where the detail is small cannot show there.")
    return head + "\n\n" + acc + f"""
- **Table 3 analogue.** GC against the global model: {per_size(1)}; against Σ glimpses + GRU at {px[s0]:.1f} px
  {claim_text(c('2'))} ({word('2')}); Σ against the global model {claim_text(c('3'))} ({word('3')}; paper
  {paper3['sum'] - paper3['global_avg']:+.1f}).
- **Table 4 analogue.** Attention against random glimpses: {per_size(4)}.
- **The sweep.** GC's gain over the global model at {px[s_lo]:.1f} px minus at {px[s_hi]:.1f} px: {claim_text(c('5a'))}
  ({word('5a')}); at {px[s_mid]:.1f} minus {px[s_hi]:.1f} px: {claim_text(c('5c'))} ({word('5c')}). The same for attention over
  random glimpses: {claim_text(c('5b'))} ({word('5b')}) and {claim_text(c('5d'))} ({word('5d')}). The paper's claim, glimpses help
  where the detail is small, is {'supported' if c('5c')['verdict'] == 'reproduces' else 'not supported'} by its primary
  test (5c); the primary claims that reproduce after Holm: {'; '.join(reproduced) if reproduced else 'none'}.
- **Specialisation.** {specialisation_text(points, s0, floor)} Attended against random glimpses: {claim_text(c('6'), 1, 4)} nats
  ({word('6')}). At {px[s_lo]:.1f} px: {spec[s_lo]['mean']:.4f} [{spec[s_lo]['lo']:.4f}, {spec[s_lo]['hi']:.4f}]; at
  {px[s_hi]:.1f} px: {spec[s_hi]['mean']:.4f} [{spec[s_hi]['lo']:.4f}, {spec[s_hi]['hi']:.4f}]. The workers are not
  identical copies of one another, but they diverge little. Our reading, not tested here: with three classes that one
  glimpse on the hand decides, one worker's mixture is about as good as another's, so nothing pushes the workers apart.
"""
