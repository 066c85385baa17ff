"""Tables and the closing reading of notebook 05 (Action-guided 3D human motion prediction).

The notebook computes; these functions turn what it computed into Markdown:

- :func:`fresh_table`: the fresh single-seed run, PA-MPJPE without and with DTW;
- :func:`grid_table`: one of the paper's tables over the committed grid's seeds (mean and interval,
  the paired difference to a reference row with its seed and sequence intervals);
- :func:`paper_table` and :func:`paper_effect`: the paper's own numbers (Tables 2, 3, 4 and 6) and
  the effect of one of its claims read from them;
- :func:`gain_diff`: the per-seed difference of two gains (a claim that a gain grows);
- :func:`claims`: the notebook's claim family (three primary claims named before the grid ran,
  the rest exploratory) as rows for :func:`paperlib.repro.claim`;
- :func:`regime_table`: every row's 30-frame error at each ``structure``, on all test windows, on
  those whose future crosses a sub-process boundary and on the others;
- :func:`retrieval_table`: how much of each read's weight finds the true action and sub-process,
  against a uniform read of the same bank and against the shuffled-label bank;
- :func:`headroom`: the fraction of the oracle exemplar's gain a variant recovers, per seed;
- :func:`best_epochs`: where stage 2's early stopping chose its weights;
- :func:`reading`: "What the grid says", generated from the claims decided by
  :func:`paperlib.repro.decide` (primary claims with their verdict, the rest exploratory).

Nothing here types a verdict: every word of :func:`reading` is chosen from the decided family.
"""
from __future__ import annotations

import numpy as np

from .. import repro
from ..stats import mean_ci, paired_diff_ci
from .text import claim_text

__all__ = ["fresh_table", "grid_table", "paper_table", "paper_effect", "gain_diff", "reading", "PHRASES", "claims",
           "regime_table", "retrieval_table", "headroom", "best_epochs", "mechanism_reading", "REGIME_ROWS",
           "BANK_READERS", "READS"]

#: The rows of :func:`regime_table`: the floor and the oracle, then the learned models.
REGIME_ROWS = ("Constant", "oracle exemplar", "baseline", "one-hot label (Table 3)", "+ decoding with bank",
               "+ action constraint (full)", "action-agnostic bank", "shuffled-label bank", "best learned (val)")
#: The variants that read a bank, and their reads (prediction: short/long; decoding: dec_short/dec_long).
BANK_READERS = ("+ prediction with bank", "+ decoding with bank", "+ action constraint (full)", "action-agnostic bank",
                "shuffled-label bank")
READS = ("short", "long", "dec_short", "dec_long")

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


def _at(points, s):
    pts = [p for p in points if p["knobs"]["structure"] == s]
    if not pts:
        raise ValueError(f"no point has structure = {s}")
    return pts


def _ci(x) -> str:
    m, lo, hi = x
    return f"{m:.1f} [{lo:.1f}, {hi:.1f}]"


def claims(points: list[dict], paper: dict, structure: float = 1.0, low: float = 0.0) -> tuple[dict, dict]:
    """The notebook's claim family: ``(rows, primary)``.

    ``rows``: ``{name: row}`` for :func:`paperlib.repro.claim` (paired over seeds, mm, lower is
    better unless a name says it rises); names start with the number of their sentence in
    :data:`PHRASES`. ``primary``: ``{name: the paper's effect}`` of the three primary claims,
    named before the grid ran: at ``structure`` and 30 frames, (1) the bank (both reads) against
    the baseline on the windows whose future crosses a sub-process boundary (where the action
    tells the future), (2) the action-specific against the action-agnostic bank there, (3) the
    learned model chosen on validation against Constant on all windows. The paper's effects come
    from ``paper`` (``{variant: (row, (mm at 5, 10, 20, 30 frames))}``, with rows for "Constant" and
    "best learned (val)" from its Table 1). ``low``: the structure a gain is compared with.
    Raises ``KeyError`` for a variant or metric missing from the points or from ``paper``.
    """
    pts = _at(points, structure)

    def paired(metric, a, b, direction=-1):
        return repro.find_row(repro.summarize(pts, metric, baseline=b, direction=direction), a)

    bank, base = "+ decoding with bank", "baseline"
    rows = {
        "1 bank (+ decoding) < baseline, boundary-crossing windows, 30 frames": paired("pa_cross@30", bank, base),
        "2 specific < agnostic bank, boundary-crossing windows, 30 frames": paired("pa_cross@30", bank,
                                                                                    "action-agnostic bank"),
        "3 best learned (val) < Constant, 30 frames": paired("pa@30", "best learned (val)", "Constant"),
        "4 bank (+ decoding) < baseline, all windows, 30 frames": paired("pa@30", bank, base),
        "5 bank (+ decoding) < baseline, 10 frames": paired("pa@10", bank, base),
        "6 + prediction with bank < baseline, 10 frames": paired("pa@10", "+ prediction with bank", base),
        "7 the bank's gain grows from 5 to 30 frames": gain_diff(points, bank, base, "pa@30", "pa@5", structure,
                                                                 structure),
        "8 specific < agnostic bank, all windows, 30 frames": paired("pa@30", bank, "action-agnostic bank"),
        "9 bank < one-hot label, 10 frames": paired("pa@10", bank, "one-hot label (Table 3)"),
        "10 full model < one-hot label, 30 frames": paired("pa@30", "+ action constraint (full)",
                                                          "one-hot label (Table 3)"),
        "11 the bank's boundary-crossing gain grows with structure": gain_diff(points, bank, base, "pa_cross@30",
                                                                               "pa_cross@30", structure, low),
        "12 bank (+ decoding) < Constant, 30 frames": paired("pa@30", bank, "Constant"),
        "13 60% labels raise the 30-frame error (Table 6)": paired("pa@30", "table6 60%", "table6 ground truth", +1),
        "14 + action constraint < + decoding with bank, 30 frames": paired("pa@30", "+ action constraint (full)", bank),
        "15 bank < shuffled-label bank, boundary-crossing windows, 30 frames": paired("pa_cross@30", bank,
                                                                                      "shuffled-label bank"),
        "16 bank (+ decoding) < baseline with DTW, 30 frames": paired("dtw@30", bank, base),
    }
    primary = {
        "1 bank (+ decoding) < baseline, boundary-crossing windows, 30 frames": paper_effect(paper, bank, base),
        "2 specific < agnostic bank, boundary-crossing windows, 30 frames": paper_effect(paper, bank,
                                                                                          "action-agnostic bank"),
        "3 best learned (val) < Constant, 30 frames": paper_effect(paper, "best learned (val)", "Constant"),
    }
    return rows, primary


def regime_table(points: list[dict], rows=REGIME_ROWS, metrics=("pa@30", "pa_cross@30", "pa_within@30")) -> str:
    """Every row's error at every ``structure`` of the grid: the mean over seeds with its 95%
    t-interval, for each of ``metrics`` (default: 30 frames on all test windows, on those whose future
    crosses a sub-process boundary, and on the others), with the share of crossing windows.
    Returns Markdown. Raises ``KeyError`` for a row or metric a point lacks."""
    S = sorted({p["knobs"]["structure"] for p in points})
    head = "| row | " + " | ".join(f"{m} at {s:g}" for s in S for m in metrics) + " |\n"
    head += "|---" * (1 + len(S) * len(metrics)) + "|\n"
    body = ""
    for v in rows:
        cells = []
        for s in S:
            for m in metrics:
                vals = [p["metrics"][v][m] for p in _at(points, s) if p["metrics"][v].get(m) is not None]
                cells.append(_ci(mean_ci(vals)) if len(vals) > 1 else "n/a")
        body += f"| {v} | " + " | ".join(cells) + " |\n"
    share = "; ".join(f"structure {s:g}: {100 * np.mean([p['metrics']['data']['cross_fraction'] for p in _at(points, s)]):.0f}% "
                      f"of {np.mean([p['metrics']['data']['windows_test'] for p in _at(points, s)]):.0f} test windows"
                      for s in S)
    return (f"**The regime table** (PA-MPJPE mm, mean over seeds [95% interval]; windows whose future crosses a "
            f"sub-process boundary: {share})\n\n" + head + body)


def retrieval_table(points: list[dict], structure: float = 1.0, variants=BANK_READERS, reads=READS,
                    control: str = "shuffled-label bank") -> tuple[str, dict]:
    """How much of each read's weight lands on items of the true action and its true sub-process
    (``retrieval_<read>``, :func:`paperlib.papers.motion.retrieval_accuracy`), per variant and read
    at ``structure``: the mean over seeds [95% t-interval], the same for a uniform read of the same
    bank row (what the row offers without choosing), the paired difference read - uniform, and the
    paired difference to the ``control`` variant's same read (a bank whose rows hold randomly
    labelled items). Returns ``(markdown, rows)``, ``rows[(variant, read)] = {"hit", "uniform",
    "choice", "vs_control", "action"}``, each ``(mean, lo, hi)`` in percent (``vs_control`` None
    for the control itself). Raises ``KeyError`` when a point lacks a variant's read."""
    pts = _at(points, structure)
    out, body = {}, ""
    for v in variants:
        for r in reads:
            if f"retrieval_{r}" not in pts[0]["metrics"].get(v, {}):
                continue
            hit = np.array([100 * p["metrics"][v][f"retrieval_{r}"] for p in pts])
            uni = np.array([100 * p["metrics"][v][f"retrieval_uniform_{r}"] for p in pts])
            act = np.array([100 * p["metrics"][v][f"retrieval_action_{r}"] for p in pts])
            ctl = (np.array([100 * p["metrics"][control][f"retrieval_{r}"] for p in pts])
                   if v != control and control in pts[0]["metrics"] else None)
            row = {"hit": mean_ci(hit), "uniform": mean_ci(uni), "choice": paired_diff_ci(hit, uni),
                   "action": mean_ci(act), "vs_control": None if ctl is None else paired_diff_ci(hit, ctl)}
            out[(v, r)] = row
            body += (f"| {v} | {r} | {_ci(row['hit'])} | {_ci(row['uniform'])} | {_ci(row['choice'])} | "
                     f"{'-' if ctl is None else _ci(row['vs_control'])} | {_ci(row['action'])} |\n")
    head = ("| variant | read | on the true action and sub-process, % | uniform read of the same row, % | "
            f"read - uniform | read - {control} | on the true action, % |\n|---|---|---|---|---|---|---|\n")
    return (f"**Retrieval accuracy** (structure = {structure:g}, {len(pts)} seeds, test windows and future steps; "
            "mean [95% interval]; differences paired over seeds)\n\n" + head + body), out


def headroom(points: list[dict], variant: str, structure: float = 1.0, metric: str = "pa_cross@30",
             reference: str = "baseline", oracle: str = "oracle exemplar") -> dict:
    """The fraction of the oracle's gain a variant recovers, per seed at ``structure``:
    ``(reference - variant) / (reference - oracle)`` in ``metric`` (1 = all of it, 0 = none,
    negative = worse than the reference). Returns ``{"per_seed", "mean", "lo", "hi", "gain_mm",
    "oracle_gain_mm"}`` (t-interval over seeds; the gains in mm are seed means). Raises
    ``ValueError`` when the oracle is not below the reference in some seed (no headroom to share)."""
    pts = _at(points, structure)
    ref = np.array([p["metrics"][reference][metric] for p in pts])
    v = np.array([p["metrics"][variant][metric] for p in pts])
    o = np.array([p["metrics"][oracle][metric] for p in pts])
    if not (ref - o > 0).all():
        raise ValueError(f"headroom: {oracle} is not below {reference} in every seed ({metric})")
    f = (ref - v) / (ref - o)
    m, lo, hi = mean_ci(f)
    return {"per_seed": f.tolist(), "mean": m, "lo": lo, "hi": hi, "gain_mm": float((ref - v).mean()),
            "oracle_gain_mm": float((ref - o).mean())}


def best_epochs(points: list[dict], variants, epochs_max: int) -> dict:
    """Where stage 2's early stopping chose its weights, over every trained (point, variant):
    ``{"trainings", "best_is_last" (the best epoch was the last one run), "hit_max" (training ran
    all ``epochs_max`` epochs), "best_epoch" (count per 1-based best epoch), "epochs_run" (count per
    number of epochs run)}``. Raises ``KeyError`` when a point lacks a variant."""
    best, run = [], []
    for p in points:
        for v in variants:
            best.append(int(p["metrics"][v]["best_epoch"]) + 1)
            run.append(int(p["metrics"][v]["epochs_run"]))
    best, run = np.array(best), np.array(run)
    count = lambda x: {int(k): int(c) for k, c in zip(*np.unique(x, return_counts=True))}  # noqa: E731
    return {"trainings": int(len(best)), "best_is_last": int((best == run).sum()),
            "hit_max": int((run >= epochs_max).sum()), "best_epoch": count(best), "epochs_run": count(run)}


def _iv(x, unit="", digits=1) -> str:
    m, lo, hi = x
    return f"{m:+.{digits}f} [{lo:+.{digits}f}, {hi:+.{digits}f}]{unit}"


def mechanism_reading(decided: list[dict], retrieval: dict, head: dict) -> str:
    """What the controls say about *how* the bank helps, generated from computed intervals.

    ``decided``: :func:`paperlib.repro.decide`'s output for :func:`claims` (claims 1, 9 and 15 are
    read); ``retrieval``: one row of :func:`retrieval_table` (``choice`` and ``vs_control``, percent
    points); ``head``: :func:`headroom` of the same variant. Returns Markdown: the gain, whether the
    read chooses (its retrieval accuracy against a uniform read of its row), whether the action in
    the row matters (the bank against the shuffled-label bank, claim 15, and against a one-hot label,
    claim 9), the share of the oracle exemplar's gain recovered, and the conclusion these imply.
    Raises ``KeyError`` when one of the claims is missing."""
    by = {_key(r): r for r in decided}
    c1, c9, c15 = by["1"], by["9"], by["15"]

    def side(r):  # -1: the bank is lower (better), 0: includes 0, +1: higher
        return -1 if r["hi"] < 0 else (1 if r["lo"] > 0 else 0)

    ch, vs = retrieval["choice"], retrieval["vs_control"]
    chooses = ch[1] > 0
    label_only = side(c15) >= 0 and side(c9) >= 0
    lines = [f"- **The gain.** On the boundary-crossing windows the bank's error minus the baseline's is "
             f"{_iv((c1['diff'], c1['lo'], c1['hi']), ' mm')} (claim 1).",
             f"- **Does the read choose?** Its weight on items of the true action and next sub-process is "
             f"{_iv(ch)} points against a uniform read of the same bank row: "
             + ("it picks the right items more often than the row's share of them." if chooses else
                "it picks them no more often than the row's share of them; the keys are not matched to the future."),
             f"- **Does the action in the row matter?** Against a bank whose rows hold randomly labelled sequences the "
             f"read finds {_iv(vs)} points more of the right items (the row content differs), yet the error is "
             f"{_iv((c15['diff'], c15['lo'], c15['hi']), ' mm')} (claim 15), and against a one-hot label fed to the "
             f"baseline {_iv((c9['diff'], c9['lo'], c9['hi']), ' mm')} at 10 frames (claim 9).",
             f"- **Headroom.** Of the oracle exemplar's {head['oracle_gain_mm']:.1f} mm gain over the baseline the bank "
             f"recovers a fraction {_iv((head['mean'], head['lo'], head['hi']), digits=2)}."]
    if label_only and not chooses:
        concl = ("So here the bank helps as a **carrier of the action label**: which row is read tells the model the "
                 "action (the shuffled-label bank's rows are told apart just as well), while what the row stores, "
                 "and which item the read picks, add nothing measurable. The action-agnostic bank has one row for "
                 "all actions and carries no label, which is why the specific bank beats it (claim 2). Most of the "
                 "oracle exemplar's headroom stays unused.")
    elif chooses and side(c15) < 0:
        concl = ("So the bank helps as a **memory of the action's futures**: its reads choose the right items and its "
                 "action-specific content beats a bank of randomly labelled motions.")
    else:
        concl = ("The controls do not separate the two explanations (a label carrier or a memory of futures): read "
                 "the intervals above.")
    return "**What the controls say.**\n\n" + "\n".join(lines) + "\n\n" + concl + "\n"


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
    "1": _lower("the model with both bank reads", "the baseline", "on the boundary-crossing windows at 30 frames"),
    "2": _lower("the action-specific bank", "the action-agnostic one", "on the boundary-crossing windows at 30 frames"),
    "3": _lower("the learned model chosen on validation", "Constant", "at 30 frames"),
    "4": _lower("the model with both bank reads", "the baseline", "on all windows at 30 frames"),
    "5": _lower("the model with both bank reads", "the baseline", "at 10 frames"),
    "6": _lower("the prediction read alone", "the baseline", "at 10 frames"),
    "7": _grows("the bank's gain over the baseline", "from 5 to 30 frames"),
    "8": _lower("the action-specific bank", "the action-agnostic one", "on all windows at 30 frames"),
    "9": _lower("the model with both bank reads", "the one-hot action label", "at 10 frames"),
    "10": _lower("the full model", "the one-hot action label", "at 30 frames"),
    "11": _grows("the bank's gain on the boundary-crossing windows", "from `structure` 0 to 1"),
    "12": _lower("the model with both bank reads", "Constant", "at 30 frames"),
    "13": ("labels of 60% accuracy raise the full model's 30-frame error (Table 6)",
           "labels of 60% accuracy do not detectably raise the full model's 30-frame error (Table 6)",
           "labels of 60% accuracy lower the full model's 30-frame error (Table 6)"),
    "14": _lower("the full model (both reads and the action constraint)", "the model with both reads alone",
                 "at 30 frames"),
    "15": _lower("the action-specific bank", "the shuffled-label bank", "on the boundary-crossing windows at 30 frames"),
    "16": _lower("the model with both bank reads", "the baseline", "with DTW at 30 frames"),
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
