"""Tables and the closing reading of notebook 05 (Action-guided 3D human motion prediction).

The notebook computes; these functions turn what it computed into Markdown:

- :func:`fresh_table`: the fresh single-seed run, PA-MPJPE without and with DTW;
- :func:`grid_table`: one of the paper's tables over the committed grid's seeds (mean and interval,
  the paired difference to a reference row with its seed and sequence intervals);
- :func:`paper_table` and :func:`paper_effect`: the paper's own numbers (Tables 2, 3, 4 and 6) and
  the effect of one of its claims read from them;
- :func:`gain_diff`: the per-seed difference of two gains (a claim that a gain grows);
- :func:`reading`: "What the grid says", generated from the claims decided by
  :func:`paperlib.repro.decide` (primary claims with their verdict, the rest exploratory).

Nothing here types a verdict: every word of :func:`reading` is chosen from the decided family.
"""
from __future__ import annotations

from .. import repro
from .text import claim_text

__all__ = ["fresh_table", "grid_table", "paper_table", "paper_effect", "gain_diff", "reading", "PHRASES"]

#: The horizons (future frames) of the paper's ablation Tables 2-6.
PAPER_HORIZONS = (5, 10, 20, 30)


def fresh_table(fm: dict, names: list[str], horizons, seed: int, structure: float) -> str:
    """The fresh run's table: one line per method in ``names`` with its PA-MPJPE (mm) at each of
    ``horizons`` without DTW, then with DTW.

    ``fm``: the run's metrics, ``{method: {"pa@h": mm, "dtw@h": mm, ...}}`` (``run_experiment``'s
    ``"metrics"``); ``seed``, ``structure``: shown in the title. Returns Markdown (a bold title and a
    table). Raises ``KeyError`` when a method or horizon is missing from ``fm``.
    """
    hs = list(horizons)
    s = "| method | " + " | ".join(str(h) for h in hs) + " | with DTW: " + " | ".join(str(h) for h in hs) + " |\n"
    s += "|---" * (1 + 2 * len(hs)) + "|\n"
    for n in names:
        s += (f"| {n} | " + " | ".join(f"{fm[n][f'pa@{h}']:.1f}" for h in hs) + " | "
              + " | ".join(f"{fm[n][f'dtw@{h}']:.1f}" for h in hs) + " |\n")
    return f"**This run (seed {seed}, structure {structure:g}): PA-MPJPE mm without / with DTW**\n\n" + s


def grid_table(points: list[dict], variants: list[str], structure: float, metrics: list[str],
               baseline: str = "baseline", title: str = "") -> str:
    """One table over the committed grid at ``structure``: per variant and metric the mean over seeds
    with its 95% t-interval and, below it, the paired difference to ``baseline`` with its t-interval
    over seeds ``[..]`` and its paired bootstrap interval over test sequences ``(..)``.

    ``points``: ``repro.load_points(...)``; ``metrics``: names such as ``"pa@30"``, ``"dtw@10"``
    (lower is better). Returns Markdown. Raises ``KeyError`` (``repro.find_row``) for a variant
    without a row, ``ValueError`` (``repro.summarize``) when no point has that ``structure``.
    """
    pts = [p for p in points if p["knobs"]["structure"] == structure]
    R = {m: repro.summarize(pts, m, baseline=baseline, direction=-1, items=True) for m in metrics}
    head = "| method | " + " | ".join(m for m in metrics) + " |\n" + "|---" * (len(metrics) + 1) + "|\n"
    body = ""
    for v in variants:
        cells = []
        for m in metrics:
            r = repro.find_row(R[m], v)
            c = f"{r['mean']:.1f} [{r['lo']:.1f}, {r['hi']:.1f}]"
            if r.get("diff") is not None:
                c += (f"<br>{r['diff']:+.1f} [{r['diff_lo']:+.1f}, {r['diff_hi']:+.1f}] "
                      f"({r['item_lo']:+.1f}, {r['item_hi']:+.1f})")
            cells.append(c)
        body += f"| {v} | " + " | ".join(cells) + " |\n"
    return (f"**{title}** (structure = {structure:g}; second line: paired difference to {baseline!r}, seeds [..], "
            f"sequences (..))\n\n" + head + body)


def paper_table(paper: dict, title: str, horizons=PAPER_HORIZONS) -> str:
    """The paper's numbers as a table: ``paper`` is ``{our variant: (the paper's row, (mm at each of
    horizons))}``. Returns Markdown (a bold title, then one line per variant). Raises ``ValueError``
    when a row has not one number per horizon."""
    hs = list(horizons)
    s = "| our variant | the paper's row | " + " | ".join(str(h) for h in hs) + " |\n" + "|---" * (len(hs) + 2) + "|\n"
    for v, (row, nums) in paper.items():
        if len(nums) != len(hs):
            raise ValueError(f"paper_table: {v!r} has {len(nums)} numbers for {len(hs)} horizons")
        s += f"| {v} | {row} | " + " | ".join(f"{x:.1f}" for x in nums) + " |\n"
    return f"**{title}**\n\n" + s


def paper_effect(paper: dict, variant: str, baseline: str, horizon: int = 30, horizons=PAPER_HORIZONS) -> float:
    """The paper's effect of "``variant`` against ``baseline``" at ``horizon`` frames, in mm:
    its number for ``variant`` minus its number for ``baseline`` (``paper`` as in :func:`paper_table`).
    Raises ``KeyError`` for a variant the table lacks, ``ValueError`` for a horizon not in ``horizons``."""
    i = list(horizons).index(horizon)
    return round(paper[variant][1][i] - paper[baseline][1][i], 6)


def gain_diff(points: list[dict], v: str, b: str, m_hi: str, m_lo: str, s_hi: float, s_lo: float) -> dict:
    """Whether a gain grows: per seed, ``(v - b)`` in metric ``m_hi`` at ``structure = s_hi`` minus
    ``(v - b)`` in ``m_lo`` at ``s_lo`` (mm; the claim: more negative, the gain larger at "hi").

    Returns a claim row for :func:`paperlib.repro.claim`: ``{"variant", "diffs", "direction": -1,
    "pair_seeds", "n_pairs"}`` over the seeds both settings have. Raises ``KeyError`` for a variant or
    metric missing from a point."""
    def g(m, s):
        return {p["seed"]: p["metrics"][v][m] - p["metrics"][b][m] for p in points if p["knobs"]["structure"] == s}

    hi, lo = g(m_hi, s_hi), g(m_lo, s_lo)
    seeds = sorted(set(hi) & set(lo))
    return {"variant": v, "diffs": [hi[k] - lo[k] for k in seeds], "direction": -1, "pair_seeds": seeds,
            "n_pairs": len(seeds)}


def _lower(subject: str, reference: str, where: str) -> tuple[str, str, str]:
    return (f"{subject} has a lower error than {reference} {where}",
            f"{subject} has no detectably lower error than {reference} {where}",
            f"{subject} has a higher error than {reference} {where}")


def _grows(subject: str, where: str) -> tuple[str, str, str]:
    return f"{subject} grows {where}", f"{subject} does not detectably grow {where}", f"{subject} shrinks {where}"


#: What each claim of the notebook says, keyed by the number that starts its name: the sentence
#: when its interval (or verdict) lies on the claimed side, when it includes 0, and when it lies on
#: the other side.
PHRASES = {
    "1": _lower("the model with both bank reads", "the baseline", "at 30 frames"),
    "2": _lower("the model with both bank reads", "the baseline", "at 10 frames"),
    "3": _lower("the prediction read alone", "the baseline", "at 10 frames"),
    "4": _grows("the bank's gain over the baseline", "from 5 to 30 frames"),
    "5": _lower("the action-specific bank", "the action-agnostic one", "at 30 frames"),
    "6": _lower("the action-specific bank", "the action-agnostic one", "at 10 frames"),
    "7": _lower("the model with both bank reads", "the one-hot action label", "at 10 frames"),
    "7b": _lower("the full model", "the one-hot action label", "at 30 frames"),
    "8": _grows("the bank's 10-frame gain over the baseline", "from `structure` 0 to 1"),
    "9": _lower("the model with both bank reads", "Constant", "at 30 frames"),
    "10": ("labels of 60% accuracy raise the full model's 30-frame error (Table 6)",
           "labels of 60% accuracy do not detectably raise the full model's 30-frame error (Table 6)",
           "labels of 60% accuracy lower the full model's 30-frame error (Table 6)"),
    "11": _lower("the full model (both reads and the action constraint)", "the model with both reads alone",
                 "at 30 frames"),
    "12": _lower("the full model", "the baseline", "at 30 frames"),
    "13": _lower("the model with both bank reads", "the baseline", "with DTW at 30 frames"),
}


def _side(r: dict) -> int:
    """0: on the claimed side, 1: includes 0 (or not decisive), 2: on the other side."""
    if r["primary"]:
        return {"reproduces": 0, "reversed": 2}.get(r["verdict"], 1)
    if r["raw"] == "includes 0":
        return 1
    return 0 if (r["raw"] == "above 0") == (r["direction"] > 0) else 2


def _key(r: dict) -> str:
    return r["name"].split(" ", 1)[0]


def _named(r: dict) -> str:
    k, _, rest = r["name"].partition(" ")
    return f"claim {k}, {rest}" if rest else f"claim {k}"


def reading(decided: list[dict], structure: float = 1.0) -> str:
    """"What the grid says", from the decided claims of the notebook.

    ``decided``: :func:`paperlib.repro.decide`'s output for the notebook's claims, each named
    ``"<number> <what it compares>"`` with a number of :data:`PHRASES`, in mm (``units="mm"``);
    ``structure``: the knob value the claims are read at. The primary claims are labelled P1, P2, ...
    in their order in ``decided``. Returns Markdown: the family in one sentence, a sentence per
    primary claim with its interval, verdict, minimum detectable effect and the paper's effect, what a
    verdict that is not "reproduces" means here, then the exploratory intervals, each read alone.

    Raises ``ValueError`` when a claim's number has no sentence in :data:`PHRASES` or a sentence's
    claim is missing from ``decided``, when there is no primary claim, or when a primary claim lacks the
    paper's effect.
    """
    keys = [_key(r) for r in decided]
    unknown, missing = sorted(set(keys) - set(PHRASES)), sorted(set(PHRASES) - set(keys))
    if unknown or missing:
        raise ValueError(f"reading: claims without a sentence {unknown}, sentences without a claim {missing}")
    prim = [r for r in decided if r["primary"]]
    expl = [r for r in decided if not r["primary"]]
    if not prim:
        raise ValueError("reading: no primary claim")
    if any(r["paper"] is None for r in prim):
        raise ValueError(f"reading: primary claims without the paper's effect: {[r['name'] for r in prim if r['paper'] is None]}")
    n = sorted({r["n"] for r in decided})
    label = {r["name"]: f"P{i + 1}" for i, r in enumerate(prim)}

    def word(r):
        return f"{r['verdict']}, MDE {r['scale'] * r['mde']:.1f} mm"

    lines = []
    for r in prim:
        extra = "" if r["n_needed"] is None else f"; the paper's effect needs {r['n_needed']} seeds"
        lines.append(f"- **{label[r['name']]}** ({_named(r)}): {PHRASES[_key(r)][_side(r)]}: {claim_text(r)} mm "
                     f"(**{word(r)}**; paper {r['scale'] * r['paper']:+.1f} mm{extra})")
    counts = {v: [label[r["name"]] for r in prim if r["verdict"] == v]
              for v in ("reproduces", "reversed", "within noise", "underpowered")}
    said = "; ".join(f"{v}: {', '.join(ks)}" for v, ks in counts.items() if ks)
    why = []
    if counts["underpowered"]:
        why.append(f"**underpowered** ({', '.join(counts['underpowered'])}): the minimum detectable effect of "
                   f"{'/'.join(map(str, n))} paired seeds exceeds the paper's effect, so the grid could not have "
                   "seen an effect that size, and its silence says nothing against the paper")
    if counts["within noise"]:
        why.append(f"**within noise** ({', '.join(counts['within noise'])}): the grid had the power to see the "
                   "paper's effect and did not, so in this miniature (synthetic data, small networks, short "
                   "training) the effect is smaller than the paper's, or absent")
    if counts["reversed"]:
        why.append(f"**reversed** ({', '.join(counts['reversed'])}): the difference lies on the other side of 0, "
                   "after Holm")
    text = (f"**What the grid says.** At `structure = {structure:g}`, paired over {'/'.join(map(str, n))} seeds, "
            f"PA-MPJPE in mm without DTW unless a claim says otherwise. {repro.family_text(decided)}.\n\n"
            f"**The paper's headline claims (primary).** {said}.\n\n" + "\n".join(lines) + "\n\n")
    if why:
        text += "What the verdicts mean here: " + "; ".join(why) + ".\n\n"
    if expl:
        groups = [[_key(r) for r in expl if _side(r) == s] for s in range(3)]
        heads = ("on the claimed side", "including 0", "on the other side")
        text += ("**Exploratory comparisons** (each 95% interval read alone, no family control, no verdict): "
                 + "; ".join(f"{h}: claim{'s' if len(g) > 1 else ''} {', '.join(g)}"
                             for h, g in zip(heads, groups) if g) + ".\n\n"
                 + "\n".join(f"- {_named(r)}: {PHRASES[_key(r)][_side(r)]}: {claim_text(r)} mm "
                             f"({r['raw']})" for r in expl))
    return text.rstrip() + "\n"
