"""The closing note of lesson 01 (ERA, early action prediction), generated from its committed grid.

The notebook decides its claims (``repro.decide``), summarises expert usage over the seeds and then
calls :func:`closing_note`, which turns those numbers into the Markdown of Section 12: what
reproduces and what does not, and a reading of the result. Nothing in the text is typed: every
number comes from the grid's points, the decided family or the paper's tables as the notebook
displays them, and every verdict word from :func:`paperlib.repro.decide`.
"""
from __future__ import annotations


import math

from .. import repro
from .text import claim_text, claim_word, diff_text, mean_ci_text, recovery_fraction

__all__ = ["CLAIMS", "REGIME_CLAIMS", "REGIME_VARIANTS", "headroom_name", "paper_effect", "cell_points",
           "regime_claim_rows", "group_information_rows", "oracle_recovery", "regime_findings", "closing_note"]

#: The claims the note reads, by the names the notebook gives them (the headroom claims aside).
CLAIMS = {
    "acc20": "1 ERA > Baseline, acc@0.2",
    "auc": "2 ERA > Baseline, AUC",
    "wo_elro": "3 ERA w/o ELRO > Baseline, AUC",
    "elro": "4 ERA > ERA w/o ELRO, AUC",
    "avg": "5a ERA > Expert-Avg, AUC",
    "channel": "5b ERA > Extra-Channel, AUC",
    "filters": "5c ERA > Extra-Filters, AUC",
    "growth": "6 ERA's acc@0.2 gain grows from cue 0 to 40",
    "elro10": "7 ELRO at 10 alpha > at alpha, AUC",
}


#: The claims of the cue-location regime (grid ``01c_era_cue_location`` at its primary cell).
REGIME_CLAIMS = {
    "acc20": "R1 ERA > Baseline, cue in one of 4 joint groups, acc@0.2",
    "auc": "R2 ERA > Baseline, cue in one of 4 joint groups, AUC",
}

#: The variants of grid 01c in the order its tables show them.
REGIME_VARIANTS = ("baseline", "era", "era_oracle", "era_shuffled", "expert_avg", "extra_filters", "extra_channel")


def cell_points(points: list[dict], cue_groups: int, width: int) -> list[dict]:
    """The points of grid 01c at one cell ``(cue_groups, width)``. Raises ``ValueError`` when the cell
    holds none."""
    out = [p for p in points if p["knobs"]["cue_groups"] == cue_groups and p["knobs"]["width"] == width]
    if not out:
        raise ValueError(f"cell_points: no point at cue_groups={cue_groups}, width={width}")
    return out


def regime_claim_rows(points: list[dict], cell: tuple) -> dict:
    """The paired rows (``repro.summarize``) of the regime claims at ``cell = (cue_groups, width)``,
    keyed by the names of :data:`REGIME_CLAIMS`: ERA - Baseline at 20% observation and in AUC."""
    pts = cell_points(points, *cell)
    return {REGIME_CLAIMS[k]: repro.find_row(repro.summarize(pts, m, baseline="baseline"), "era")
            for k, m in (("acc20", "acc@0.2"), ("auc", "auc"))}


def group_information_rows(points: list[dict], cell: tuple, variants=("era", "era_oracle", "era_shuffled")) -> dict:
    """Per variant at ``cell``: the mean over banks of the mutual information between the retrieved
    expert and the cue group at 20% observation, against the same estimate with permuted groups (its
    floor), over seeds: ``{variant: {"mi": (mean, lo, hi), "floor": (mean, lo, hi), "excess": (mean,
    lo, hi), "per_bank": (seeds, banks) array}}``, in bits (95% t-intervals; ``excess`` = mi - floor,
    paired by seed)."""
    import numpy as np

    from ..stats import mean_ci

    pts = sorted(cell_points(points, *cell), key=lambda p: p["seed"])
    out = {}
    for v in variants:
        mi = [p["metrics"][v]["mi_group@0.2"] for p in pts]
        fl = [p["metrics"][v]["mi_shuffled@0.2"] for p in pts]
        out[v] = {"mi": mean_ci(mi), "floor": mean_ci(fl), "excess": mean_ci(np.subtract(mi, fl)),
                  "per_bank": np.array([p["per_item"][v]["mi_bank@0.2"] for p in pts])}
    return out


def oracle_recovery(points: list[dict], cell: tuple, metric: str) -> dict:
    """How much of the oracle's gain retrieval recovers at ``cell``: the paired rows of ERA and of the
    oracle against the Baseline for ``metric``, and ``fraction`` = mean ERA gain / mean oracle gain
    (a ratio of means over the seeds, no interval; ``nan`` unless the oracle's gain interval lies above 0:
    a ratio to a gain that may be zero means nothing)."""
    rows = repro.summarize(cell_points(points, *cell), metric, baseline="baseline")
    era, oracle = repro.find_row(rows, "era"), repro.find_row(rows, "era_oracle")
    frac = recovery_fraction(era["diff"], oracle["diff"], oracle["diff_lo"])
    return {"era": era, "oracle": oracle, "shuffled": repro.find_row(rows, "era_shuffled"), "fraction": frac}


def regime_findings(grid_c: dict, points_c: list[dict], fam: list[dict], cell: tuple) -> str:
    """The closing note's paragraph on the cue-location regime (grid 01c) as Markdown: the gains of
    every variant over the Baseline in each cell, the mutual information between retrieval and the cue
    group against its floor, the oracle's gain and what retrieval recovers of it, and the two regime
    claims with their verdicts (``fam``: ``repro.decide``'s output holding :data:`REGIME_CLAIMS`).
    Raises ``KeyError`` when ``fam`` lacks a regime claim, ``ValueError`` for a cell the grid lacks."""
    D = {r["name"]: r for r in fam}
    missing = [n for n in REGIME_CLAIMS.values() if n not in D]
    if missing:
        raise KeyError(f"regime_findings: the family lacks {missing}")
    cells = [(g, w) for g in grid_c["grid"]["cue_groups"] for w in grid_c["grid"]["width"]]
    if tuple(cell) not in cells:
        raise ValueError(f"regime_findings: {cell} is not a cell of the grid {cells}")
    mi = group_information_rows(points_c, cell)
    rec = {m: oracle_recovery(points_c, cell, m) for m in ("acc@0.2", "auc")}

    def gain(c, metric, v):
        return diff_text(repro.find_row(repro.summarize(cell_points(points_c, *c), metric, baseline="baseline"), v))

    def frac(m):
        f = rec[m]["fraction"]
        return "not defined (the oracle's gain interval is not above 0)" if f != f else f"{f:.2f}"

    cpu = sum(p["cpu_s"] for p in points_c) / 60
    G, W = cell
    head = "| variant | " + " | ".join(f"`cue_groups` {g}, width {w}" for g, w in cells) + " |"
    table = "\n".join([head, "|---" * (len(cells) + 1) + "|"] + [
        f"| {v} | " + " | ".join(f"{gain(c, 'acc@0.2', v)}; AUC {gain(c, 'auc', v)}" for c in cells) + " |"
        for v in REGIME_VARIANTS[1:]])
    e, o, sh = mi["era"], mi["era_oracle"], mi["era_shuffled"]
    return f"""### Where retrieval has a job: the cue in one of four joint groups

Grid `01c_era_cue_location`: {len(points_c)} points ({len(grid_c['seeds'])} seeds x `cue_groups`
{{{', '.join(str(g) for g in grid_c['grid']['cue_groups'])}}} x width {{{', '.join(str(w) for w in grid_c['grid']['width'])}}}),
{cpu:.0f} min of CPU on one-thread workers. Gains over the Baseline in accuracy points at 20% observation and in AUC,
paired over seeds, with 95% t-intervals:

{table}

- **The primary regime** (`cue_groups = {G}`, width {W}, chosen before the grid ran): ERA - Baseline at 20%
  observation {claim_text(D[REGIME_CLAIMS['acc20']])} (**{claim_word(D, REGIME_CLAIMS['acc20'])}**), AUC
  {claim_text(D[REGIME_CLAIMS['auc']])} (**{claim_word(D, REGIME_CLAIMS['auc'])}**). The oracle (the same modules
  retrieving by the true group) gains {diff_text(rec['acc@0.2']['oracle'])} at 20% and {diff_text(rec['auc']['oracle'])} in
  AUC; retrieval by shuffled groups {diff_text(rec['acc@0.2']['shuffled'])} and {diff_text(rec['auc']['shuffled'])}. The fraction of
  the oracle's gain that learned retrieval recovers (a ratio of means): {frac('acc@0.2')} at 20%, {frac('auc')} in AUC.
- **Does retrieval follow the cue group?** The mutual information between a bank's retrieved expert and the
  sample's cue group at 20% observation, mean over banks: ERA {e['mi'][0]:.3f} bits [{e['mi'][1]:.3f}, {e['mi'][2]:.3f}]
  against its permuted-group floor {e['floor'][0]:.3f} (excess {e['excess'][0]:+.3f} [{e['excess'][1]:+.3f},
  {e['excess'][2]:+.3f}]); the oracle {o['mi'][0]:.2f} bits (at most the groups' entropy, {math.log2(G):.0f} bits for {G}
  balanced groups); retrieval by shuffled groups
  {sh['mi'][0]:.3f} (floor {sh['floor'][0]:.3f}).
- **Reading.** {_regime_reading(rec, e)}
"""


def _regime_reading(rec: dict, e: dict) -> str:
    # what the oracle, ERA's gain and the mutual information say together, from their intervals
    ora = [m for m in ("acc@0.2", "auc") if rec[m]["oracle"]["diff_lo"] > 0]
    era_up = [m for m in ("acc@0.2", "auc") if rec[m]["era"]["diff_lo"] > 0]
    follows = e["excess"][1] > 0
    if not ora:
        first = ("Even the oracle, which hands every sample the experts of its true cue group, gains nothing measurable "
                 "over the Baseline: one shared set of kernels already reads a cue that moves between joint groups. A "
                 "likely reason: a graph convolution applies the same kernel at every joint and the classifier pools "
                 "over joints, so a detector of a joint bent early in the action works wherever that joint is. The data "
                 "held nothing for per-sample filters here, so ERA's result cannot speak against retrieval as such.")
    else:
        first = (f"The oracle gains over the Baseline ({' and '.join(ora)}): per-sample kernels chosen by the true group "
                 "help, so these data need the mechanism" + (", and ERA gains too." if era_up else
                                                             ", but ERA does not recover that gain."))
    second = (f" Learned retrieval carries {e['excess'][0]:.3f} bits about the group above its floor: it follows the "
              "group a little, far below the oracle." if follows else
              " Learned retrieval carries no information about the group beyond its floor: the queries do not "
              "separate the cue's location.")
    return first + second


def headroom_name(variant: str, metric: str, cue: float) -> str:
    """The name of the exploratory headroom claim "MLP probe minus the best network ``variant``"
    for ``metric`` at early cue ``cue``, as the notebook names it."""
    return f"8 headroom: MLP probe > best network ({variant}), {metric} at cue {cue:g}"


def paper_effect(paper: dict, metric: str, a: str, b: str) -> str:
    """The paper's effect ``a - b`` in points, signed with one decimal (``"+15.9"``), formatted as
    ``repro.claims_table`` formats it, so the note and the table agree.

    ``paper``: ``{metric: {variant: fraction}}``, the notebook's table of the paper's numbers
    (Tables 1 and 3(e)). Raises ``KeyError`` for a metric or variant the table lacks."""
    return f"{100 * (paper[metric][a] - paper[metric][b]):+.1f}"


def _paired(points: list[dict], metric: str, a: str, b: str, cue: float) -> dict:
    # the summarize row of a - b over the seeds at one early_cue (diff, diff_lo, diff_hi)
    pts = [p for p in points if p["knobs"]["early_cue"] == cue]
    return repro.find_row(repro.summarize(pts, metric, baseline=b), a)


def _beta_range(points: list[dict], variant: str, cue: float) -> tuple[float, float]:
    # the smallest beta/alpha and the largest over the experts of every seed at one early_cue
    pts = [p["metrics"][variant] for p in points if p["knobs"]["early_cue"] == cue]
    return min(m["beta_min"] for m in pts), max(m["beta_max"] for m in pts)


def _check(fam: list[dict], best_net: dict) -> dict:
    D = {r["name"]: r for r in fam}
    names = list(CLAIMS.values()) + [headroom_name(v, m, c) for (m, c), v in best_net.items()]
    missing = [n for n in names if n not in D]
    if missing:
        raise KeyError(f"closing_note: the note reads claims that the family lacks: {missing}")
    return D


def closing_note(*, grid: dict, points: list[dict], fam: list[dict], paper: dict, usage_rows: dict, worst: dict,
                 targets: dict, best_net: dict, cue: float, regime: dict | None = None) -> str:
    """The closing note of lesson 01 as Markdown: "What reproduces and what does not" and "Reading
    the result".

    Takes what the notebook has at Section 12:

    - ``grid``: ``repro.load_grid(...)`` (its ``seeds`` and ``grid["early_cue"]``);
    - ``points``: ``repro.load_points(...)``, with the MLP probe of grid 01b merged into each point's
      ``metrics["mlp_probe"]`` (and the linear probe as ``metrics["probe"]``);
    - ``fam``: ``repro.decide(...)``'s output, holding every claim of :data:`CLAIMS` and the headroom
      claims named by :func:`headroom_name`;
    - ``paper``: ``{metric: {variant: fraction}}``, the paper's numbers (``"acc@0.2"`` and ``"auc"``);
    - ``usage_rows``: ``{variant: {key: (mean, lo, hi)}}`` over the seeds at ``cue`` for ``"era"``,
      ``"era_wo_elro"`` and ``"era_10a"``, keys ``unused_frac``, ``max_share@0.2``,
      ``banks_over_90@0.2`` and ``spearman_usage_beta``;
    - ``worst``: ``{"era": {"unused_frac": ..., "max_share@0.2": ...}}``, the worst seed's values;
    - ``targets``: ``{"era": {target sentence: met?}}`` for the two usage targets;
    - ``best_net``: ``{(metric, cue): variant}``, the best network at each cue (the headroom claims);
    - ``cue``: the default ``early_cue`` (a knob value of the grid);
    - ``regime``: optional ``{"grid": ..., "points": ..., "cell": (cue_groups, width)}`` of grid 01c: the
      note then opens with :func:`regime_findings`.

    Returns the Markdown text. Raises ``KeyError`` when ``fam`` lacks a claim the note reads (the
    message lists them) or when an argument lacks a field above; ``ValueError`` when ``cue`` is not
    a knob value of the grid, or (from ``repro.summarize``) when the points lack a variant or a metric.
    """
    if cue not in grid["grid"]["early_cue"]:
        raise ValueError(f"closing_note: early_cue {cue!r} is not a knob value of the grid {grid['grid']['early_cue']}")
    D = _check(fam, best_net)
    head = "" if regime is None else regime_findings(regime["grid"], regime["points"], fam, regime["cell"]) + "\n"
    return head + _findings(grid, points, fam, D, paper, usage_rows, worst, targets, best_net, cue) + \
        _reading(points, D, usage_rows, cue, sorted(grid["grid"]["early_cue"]))


def _findings(grid, points, fam, D, paper, usage_rows, worst, targets, best_net, cue) -> str:
    cues = sorted(grid["grid"]["early_cue"])
    pts = [p for p in points if p["knobs"]["early_cue"] == cue]
    at_cue = {m: repro.summarize(pts, m, baseline="baseline") for m in ("acc@0.2", "acc@1.0", "auc")}
    base = {m: repro.find_row(rows, "baseline")["mean"] for m, rows in at_cue.items()}
    sweep20 = repro.summarize(points, "acc@0.2", by="early_cue", baseline="baseline")
    probe20 = {c: repro.find_row(sweep20, "probe", c)["mean"] for c in cues}
    mlp20 = repro.find_row(sweep20, "mlp_probe", cue)["mean"]
    sweep_auc = repro.summarize(points, "auc", by="early_cue", baseline="baseline")
    auc_probe = repro.find_row(sweep_auc, "probe", cue)["mean"]
    u, u0, w, t = usage_rows["era"], usage_rows["era_wo_elro"], worst["era"], targets["era"]
    grid_cpu = sum(p["cpu_s"] for p in points) / 60

    def word(k):  # a claim's verdict and MDE, or its exploratory interval
        return claim_word(D, CLAIMS[k])

    def ci(k):  # a claim's paired difference and interval
        return claim_text(D[CLAIMS[k]])

    def pe(m, a, b):  # the paper's effect a - b from its table
        return paper_effect(paper, m, a, b)

    headroom = "; ".join(f"{m} at cue {c:g}: {claim_text(D[headroom_name(v, m, c)])} ({D[headroom_name(v, m, c)]['raw']})"
                         for (m, c), v in best_net.items())
    b_era, b_10a = _beta_range(points, "era", cue), _beta_range(points, "era_10a", cue)
    sp, sp10 = u["spearman_usage_beta"], usage_rows["era_10a"]["spearman_usage_beta"]
    sp_text = ("the whole interval above zero: experts retrieved more get *larger* learning rates, the opposite "
               "of the compensation of rare experts that motivates ELRO" if sp[1] > 0
               else "the interval reaches zero or below")
    return f"""### What reproduces and what does not

All numbers are from the committed grid ({len(points)} points: {len(grid['seeds'])} seeds x `early_cue` in
{{{', '.join(f'{c:g}' for c in cues)}}}, Section 10; {grid_cpu:.0f} min of CPU on one-thread workers), paired over
seeds, in accuracy points, with 95% t-intervals. {repro.family_text(fam)}.

- **The mechanism behaves as the paper describes it**: every check of Sections 4-7 above passes (vectorised
  = naive loop, exact Eq. 3 forward with Gumbel-softmax gradients, Eq. 7 by gradient hooks, the ELRO
  meta-gradient against the chain rule and finite differences).
- **The expert banks are alive.** At `early_cue = {cue:g}`, ERA leaves {mean_ci_text(u['unused_frac'])} of its experts unused
  in training; the largest share of the test sequences one expert of one bank takes at 20% observation is
  {mean_ci_text(u['max_share@0.2'])} (worst seed {100 * w['max_share@0.2']:.1f}%), and {mean_ci_text(u['banks_over_90@0.2'])}
  of the banks send more than 90% of them to one expert. Targets: at most 20% unused
  **{'met' if t['at most 20% of the experts unused'] else 'not met'}** in every seed; no bank above 90%
  **{'met in every seed' if t['no bank above 90% of the test sequences at 20%'] else 'not met in every seed'}**
  (the worst seed's largest bank share is {100 * w['max_share@0.2']:.1f}%; at 20% observation most of what a
  sequence shows is its family's shared opening, so a bank has little to split the sequences by).
  Without ELRO: {mean_ci_text(u0['unused_frac'])} unused, largest share {mean_ci_text(u0['max_share@0.2'])}.
- **The networks read what the data hold.** The Baseline reaches {100 * base['acc@1.0']:.1f}% on
  full sequences and {100 * base['acc@0.2']:.1f}% at 20% observation; the linear-probe reference
  {100 * probe20[cue]:.1f}% and the MLP-probe reference {100 * mlp20:.1f}% at 20%, AUC
  {100 * auc_probe:.1f}% (linear) against the Baseline's {100 * base['auc']:.1f}%. The
  headroom, the MLP probe minus the best network at each cue, is {headroom} points: where it
  includes or lies below 0, no reader we have finds more in the prefix than the networks already read.
- **Table 1 (ERA against the Baseline)**, at `early_cue = {cue:g}`: ERA at 20% observation {ci('acc20')}
  (**{word('acc20')}**; paper: {pe('acc@0.2', 'era', 'baseline')}), AUC {ci('auc')} (**{word('auc')}**; paper: {pe('auc', 'era', 'baseline')});
  ERA w/o ELRO AUC {ci('wo_elro')} ({word('wo_elro')}; paper: {pe('auc', 'era_wo_elro', 'baseline')}).
  ERA's AUC gain at the other cues: {', '.join(f"{c:g}: {diff_text(_paired(points, 'auc', 'era', 'baseline', c))}"
                                               for c in cues if c != cue)}.
- **ELRO.** ERA against ERA w/o ELRO, AUC: {ci('elro')}
  (**{word('elro')}**; paper: {pe('auc', 'era', 'era_wo_elro')}). The meta step at $10\\alpha$ against $\\alpha$:
  {ci('elro10')} ({word('elro10')}). $\\beta/\\alpha$ ends between {b_era[0]:.3f} and
  {b_era[1]:.3f} at $\\alpha$ and between {b_10a[0]:.3f} and {b_10a[1]:.3f}
  at $10\\alpha$. Spearman(usage, $\\beta$): {sp[0]:.2f} [{sp[1]:.2f}, {sp[2]:.2f}] at $\\alpha$, {sp10[0]:.2f}
  [{sp10[1]:.2f}, {sp10[2]:.2f}] at $10\\alpha$ ({sp_text}).
- **Table 3(e) (static alternatives)**, AUC at `early_cue = {cue:g}`: ERA against Expert-Avg
  {ci('avg')} (**{word('avg')}**; paper: {pe('auc', 'era', 'expert_avg')}),
  against Extra-Channel {ci('channel')} ({word('channel')};
  paper: {pe('auc', 'era', 'extra_channel')}), against the filter-matched Extra-Filters {ci('filters')}
  ({word('filters')}).
- **The sweep.** ERA's gain at 20% observation at `early_cue` {', '.join(
        f"{c:g}: {diff_text(_paired(points, 'acc@0.2', 'era', 'baseline', c))}" for c in cues)}; from {cues[0]:g} to {cues[-1]:g} it
  changes by {ci('growth')}
  ({word('growth')}), while the linear-probe reference at 20% goes {', '.join(f'{100 * probe20[c]:.1f}%' for c in cues)} \
and the Baseline {', '.join(f"{100 * repro.find_row(sweep20, 'baseline', c)['mean']:.1f}%" for c in cues)}.
"""


def _reading(points, D, usage_rows, cue, cues) -> str:
    widen = {v: _paired(points, "auc", v, "baseline", cue) for v in ("extra_channel", "extra_filters", "expert_avg")}
    wider = [v for v in ("extra_channel", "extra_filters") if widen[v]["diff_lo"] > 0]
    era_helps = D[CLAIMS["auc"]]["verdict"] == "reproduces"
    sweep20 = repro.summarize(points, "acc@0.2", by="early_cue", baseline="baseline")
    base20 = [repro.find_row(sweep20, "baseline", c)["mean"] for c in cues]
    b_era, b_10a = _beta_range(points, "era", cue), _beta_range(points, "era_10a", cue)
    sp = usage_rows["era"]["spearman_usage_beta"]
    elro10 = D[CLAIMS["elro10"]]
    head = ("ERA beats the Baseline in AUC at the default cue: the direction of Table 1 reproduces here.\n" if era_helps
            else "ERA does not beat the Baseline here, and the banks are alive, so this is not a collapse:\n\n")
    only_wider = (f"Only widening ({' and '.join(wider)}) clears zero: on these data the capacity that pays is more "
                  "channels for every sample, not a per-sample choice among kernels."
                  if wider and not era_helps else "")
    return "\n**Reading the result.**\n\n" + head + f"""\
1. *Width.* Extra-Channel's AUC gain over the Baseline is {diff_text(widen['extra_channel'])} and
   Extra-Filters' {diff_text(widen['extra_filters'])} at `early_cue = {cue:g}`; Expert-Avg, ERA's filters and FLOPs with
   one kernel per bank, {diff_text(widen['expert_avg'])}. {only_wider}
2. *The shared kernels read the early cue.* The Baseline's accuracy at 20% goes \
{', '.join(f'{100 * b:.1f}%' for b in base20)} at `early_cue` {', '.join(f'{c:g}' for c in cues)}, \
{'rising with the cue as the probe does' if base20[-1] > base20[0] else 'not rising with the cue'}: a plain
   network picks up what a linear read of the prefix finds.
3. *ELRO* moves $\\beta/\\alpha$ only to {b_era[0]:.2f}-{b_era[1]:.2f} (to
   {b_10a[0]:.2f}-{b_10a[1]:.2f} with a ten times larger meta step, \
{'with a gain' if elro10['lo'] > 0 else 'without a measurable gain'} in AUC)\
{', and towards the experts that are already used most' if sp[1] > 0 else ''}.
4. *Scale.* About a thousand training sequences of 17 classes, each bank's five experts trained on a fraction of
   them; NTU60's 40k sequences of 60 classes give every expert far more to specialise on. Whether ERA's gains
   need that scale, this notebook cannot tell.
"""
