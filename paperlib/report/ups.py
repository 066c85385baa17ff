"""The closing note of lesson 02 (UPS, a unified model for four pose tasks), built from its grids.

The lesson decides its claims with :func:`paperlib.repro.decide` (four primary claims, the rest
exploratory) over the committed grid ``02_ups_unified_pose_sequence`` (seeds x ``label_permute``)
and the pose-budget grid ``02b_ups_pose_budget`` (seeds x training iterations). The functions here
turn those numbers into the Markdown of its closing note, so the note cannot disagree with the
tables above it:

- :func:`closing_note`: what reproduces and what does not (the primary verdicts, every exploratory
  interval, the routes and the pose references);
- :func:`routing_pose_note`: whether the routing routes and the pose decoder learns;
- :func:`this_run`: the fresh run's own figures.

The claims are found by the names the lesson gives them: a leading exploration number (``"0 "``
to ``"7 "``, ``"6b "``, ``"6c "``), then the comparison, then ``", <metric>"`` (``"3D rec."``,
``"MPJPE mm"``, ...). Accuracy claims carry ``scale=100`` (points), MPJPE claims ``scale=1`` (mm).
"""
from __future__ import annotations

import numpy as np

from .. import repro
from ..papers import ups as U
from ..stats import mean_ci
from .text import claim_text, recovery_fraction

__all__ = ["reading", "closing_note", "routing_pose_note", "this_run"]

_NUMBER = {2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six", 7: "Seven", 8: "Eight", 9: "Nine", 10: "Ten"}


def _by_name(fam: list[dict]) -> dict:
    return {d["name"]: d for d in fam}


def _with_prefix(fam: list[dict], prefix: str) -> list[dict]:
    ks = [d for d in fam if d["name"].startswith(prefix)]
    if not ks:
        raise KeyError(f"no claim named {prefix!r}...: the note reports every exploration, found "
                       f"{sorted({d['name'].split(' ')[0] for d in fam})}")
    return ks


def _one(fam: list[dict], prefix: str) -> dict:
    ks = _with_prefix(fam, prefix)
    if len(ks) != 1:
        raise KeyError(f"{len(ks)} claims start with {prefix!r}, the note names one: {[d['name'] for d in ks]}")
    return ks[0]


def reading(d: dict) -> str:
    """How the note reads one decided claim (an entry of :func:`paperlib.repro.decide`'s output): a
    primary claim's verdict; for an exploratory one where its 95% interval lies: ``"includes 0"``,
    ``"on the claimed side"`` or ``"against the claim"``."""
    if d["primary"]:
        return d["verdict"]
    if d["raw"] == "includes 0":
        return "includes 0"
    return "on the claimed side" if (d["raw"] == "above 0") == (d["direction"] > 0) else "against the claim"


def _as3(d: dict) -> str:
    # the three readings the prose chooses between (an underpowered primary claim reads as undecided)
    return {"on the claimed side": "reproduces", "against the claim": "reversed", "includes 0": "within noise",
            "underpowered": "within noise"}.get(reading(d), reading(d))


def _line(fam: list[dict], prefix: str) -> str:
    return "; ".join(f"{d['name'].split(', ')[-1]} {claim_text(d)} ({reading(d)})" for d in _with_prefix(fam, prefix))


def _power(fam: list[dict], prefix: str) -> str:
    """Each claim's minimum detectable effect against the paper's effect, and whether the design could
    have seen it (claims without a paper effect are left out)."""
    return "; ".join(f"{d['name'].split(', ')[-1]}: MDE {d['mde'] * d['scale']:.1f} against the paper's "
                     f"{d['paper'] * d['scale']:+.1f} "
                     + ("(underpowered)" if d["mde"] > abs(d["paper"]) else "(powered for it)")
                     for d in _with_prefix(fam, prefix) if d["paper"] is not None)


def _at(points, p):
    return [q for q in points if q["knobs"]["label_permute"] == p]


def _mean(points, v, metric, p, direction=+1):
    """Mean over seeds of ``v``'s metric at ``label_permute = p`` (a :func:`repro.summarize` row)."""
    return repro.find_row(repro.summarize(_at(points, p), metric, baseline="separate", direction=direction), v)["mean"]


def _ref_row(points, p, key):
    """The summarize row of a reference figure (mean pose, quantisation floor, chance) at ``p``."""
    return repro.find_row(repro.summarize([{**q, "metrics": {"reference": q["metrics"]["reference"]}}
                                           for q in _at(points, p)], key), "reference")


def _route(q, v, t):
    m = q["metrics"][v]
    return tuple(int(m[f"route_{t}_l{l}"]) for l in range(sum(k.startswith(f"route_{t}_l") for k in m)))


def _distinct_routes(points, p_values):
    dr = {p: [int(q["metrics"]["joint_h2"]["distinct_routes"]) for q in _at(points, p)] for p in p_values}
    if min(min(x) for x in dr.values()) < 2:
        raise ValueError(f"a seed's routing collapsed (distinct routes of joint_h2: {dr}); the note says it does not")
    return dr


def _budget(budget_points):
    steps = sorted({q["knobs"]["steps"] for q in budget_points})
    rows = repro.summarize(budget_points, "pose_mpjpe_mm", by="steps", baseline="mlp", direction=-1)
    return steps, rows


def _unseen(under: list[dict], n_seeds: int) -> str:
    """The sentence on the underpowered primary claims ('' when none is): the paper's effect of each and
    the seeds the same design would need to see it."""
    if not under:
        return ""
    effects = "; ".join(f"{d['name'].split(' ')[0]} {abs(d['paper'] * d['scale']):.1f} {d['units']}" for d in under)
    return (f"{_NUMBER.get(n_seeds, str(n_seeds))} seeds cannot see the paper's effect{'s' if len(under) > 1 else ''} "
            f"({effects}): at the spread of these\n  small models that would take "
            f"{', '.join(str(d['n_needed']) for d in under)} seeds, far beyond the grid's budget, so\n  more seeds "
            f"would not settle {'them' if len(under) > 1 else 'it'} here: underpowered, not refuted. ")


def closing_note(grid: dict, points: list[dict], fam: list[dict], budget_points: list[dict], metrics: dict,
                 short: dict) -> str:
    """The closing note "What reproduces and what does not", as Markdown.

    ``grid``, ``points``: the committed grid of the lesson (``repro.load_grid`` / ``repro.load_points``
    of ``"02_ups_unified_pose_sequence"``: its ``seeds``, ``grid["label_permute"]``, and per point
    ``knobs``, ``seed``, ``cpu_s`` and ``metrics[variant][metric]`` with the ``reference`` figures);
    ``fam``: :func:`paperlib.repro.decide`'s output over the lesson's claims (primary ones with their
    verdict, MDE and the paper's effect; exploratory ones ``"0 "`` to ``"7 "``, ``"6b "``, ``"6c "``);
    ``budget_points``: the points of ``"02b_ups_pose_budget"`` (knob ``steps``; variants ``separate``
    and ``mlp``); ``metrics``: ``{metric: direction}`` in the order of the tables (``+1`` accuracy,
    ``-1`` MPJPE); ``short``: ``{metric: short name}``.

    Returns the Markdown text. Raises ``KeyError`` when a claim the note names is missing from
    ``fam`` or a variant from the grid, ``ValueError`` when a seed's routing collapsed (the note
    states that none did).
    """
    p_values = grid["grid"]["label_permute"]
    p0, p1 = min(p_values), max(p_values)
    prim = [d for d in fam if d["primary"]]
    if not prim:
        raise KeyError("closing_note: the family has no primary claim")
    under = [d for d in prim if d["verdict"] == "underpowered"]
    cpu_min = sum(q["cpu_s"] for q in points) / 60
    chance = _ref_row(points, p0, "chance_top1")["mean"]
    acc = lambda v: ", ".join(f"{short[m]} {100 * _mean(points, v, m, p0, d):.1f}" for m, d in metrics.items()
                              if m != "pose_mpjpe_mm")
    pose = lambda v: _mean(points, v, "pose_mpjpe_mm", p0, -1)
    sweep_ok = [d["name"].split(", ")[-1] for d in _with_prefix(fam, "4 ") if _as3(d) == "reproduces"]
    sweep_txt = "supported on " + ", ".join(sweep_ok) if sweep_ok else "not supported"
    k7 = _one(fam, "7 ")
    dr_all = _distinct_routes(points, p_values)
    fig4_same = sum(all(_route(q, "joint_h2", t) == tuple(U.FIG4_ROUTE[t]) for t in U.TASKS) for q in points)
    fixed_ahead = all(d["diff"] * d["direction"] < 0 for d in _with_prefix(fam, "5 "))
    fixed_txt = ("and `fixed_h2` is ahead on average (claims 5): our reading, the learned model\n  pays for finding its "
                 "route (the soft warm-up trains every block on every task, then some samples leave the final route)."
                 if fixed_ahead else "and `fixed_h2` is not ahead on every metric on average (claims 5).")
    mlp0 = pose("mlp")
    mean0, floor0 = _ref_row(points, p0, "mean_pose_mpjpe_mm")["mean"], _ref_row(points, p0, "floor_mpjpe_mm")["mean"]
    steps, b_rows = _budget(budget_points)
    b_mean = lambda v: " / ".join(f"{repro.find_row(b_rows, v, s)['mean']:.1f}" for s in steps)
    paper = lambda d: "no figure in the paper" if d["paper"] is None else f"paper {d['paper'] * d['scale']:+.1f}"
    primaries = "; ".join(f"**{d['name']}**: {claim_text(d)} ({d['verdict']}; MDE {d['mde'] * d['scale']:.1f}, "
                          f"{paper(d)})" for d in prim)
    return f"""### What reproduces and what does not

All numbers from the committed grid ({len(points)} points: {len(grid['seeds'])} seeds × label_permute
{', '.join(f'{p:g}' for p in p_values)}; {cpu_min:.0f} min CPU on one-thread workers); accuracy in points, MPJPE in mm,
paired over seeds, 95% t-intervals. {repro.family_text(fam)}. The primary claims (grid 02c: the regime where the
tasks conflict and the budget-matched comparison, next section):
  {primaries}.
  {_unseen(under, min(d['n'] for d in prim))}Exploratory comparisons below say where each interval lies.

- **Accuracy at p = 0** (chance {100 * chance:.1f}%): separate models {acc('separate')}; the unified model (H = 2)
  {acc('joint_h2')}; one shared block (H = 1) {acc('joint_h1')}.
- **The knob.** Joint training's gain over separate models, p = {p0:g} minus p = {p1:g}: {_line(fam, '0 ')}.
- **Joint against separate in the paper's setting (Tables 1-5; each separate model gets a quarter of the joint
  encoder's updates, grid 02c matches them).** H = 2: {_line(fam, '1 ')}. H = 1: {_line(fam, '2 ')}.
- **Routing (Tables 8-9), H = 2 against H = 1:** {_line(fam, '3 ')}. Power: {_power(fam, '3 ')}.
- **The interference sweep.** The H = 2 − H = 1 gap at p = {p1:g} minus at p = {p0:g}: {_line(fam, '4 ')}. The paper's
  mechanism, routing helps most where the tasks interfere, is {sweep_txt} by these intervals.
- **Learned against hand-assigned routes (Fig. 4):** {_line(fam, '5 ')}.
- **Routes.** Distinct routes of the four tasks per seed: {', '.join(f'p = {p:g}: {dr_all[p]}' for p in p_values)}
  (every seed at least 2: the routing does not collapse). Layers shared by 2D and 3D recognition, p = {p0:g} minus
  p = {p1:g}: {claim_text(k7)} ({reading(k7)}). In {fig4_same} of {len(points)} runs the learned routes equal
  the hand-assigned route of `fixed_h2`, {fixed_txt}
- **Pose.** MPJPE at p = 0: separate {pose('separate'):.1f}, H = 1 {pose('joint_h1'):.1f},
  H = 2 {pose('joint_h2'):.1f}, H = 4 {pose('joint_h4'):.1f} mm, against the MLP
  {mlp0:.1f}, the mean pose {mean0:.1f} and the quantisation floor {floor0:.1f} mm. Token decoding against the MLP: {_line(fam, '6 ')}.
  With the budget controlled (grid 02b, pose alone, {' / '.join(map(str, steps))} iterations): token decoder
  {b_mean('separate')} mm, MLP
  {b_mean('mlp')} mm; {_line(fam, '6b ')}; {_line(fam, '6c ')}.
"""


#: The fresh-run check in words. Both passing tiers read the same (which one holds depends on the CPU's
#: numerics, not on the lesson; Section 5 prints which).
_PASSES = ("passes its check against its grid point (the same numbers on the grid's numerics, else within the "
           "prediction interval of the grid's seeds, and above its floors)")
_FRESH = {"repeats": _PASSES, "within the seed envelope": _PASSES, "no point": "has no grid point to compare with"}


def routing_pose_note(grid: dict, points: list[dict], fam: list[dict], budget_points: list[dict], rank: int,
                      fresh_status: str) -> str:
    """The note "Routing and pose, answered from the grid", as Markdown.

    ``grid``, ``points``, ``fam``, ``budget_points``: as for :func:`closing_note` (the grid's
    ``fixed["steps"]``; per point ``joint_h2``'s ``updates_l{l}_b{h}`` and ``switch_frac``);
    ``rank``: the rank of :math:`\\Omega W^\\top` the lesson computed (Section 4.3);
    ``fresh_status``: ``repro.compare_fresh(...)["status"]`` of the fresh run against its grid point
    (``"repeats"``, ``"within the seed envelope"`` or ``"no point"``).

    Returns the Markdown text. Raises ``KeyError`` when a claim the note names is missing,
    ``ValueError`` for another ``fresh_status`` (``"departs"``: the lesson stops before its note) or
    when a seed's routing collapsed.
    """
    if fresh_status not in _FRESH:
        raise ValueError(f"routing_pose_note: fresh_status {fresh_status!r}, expected one of {sorted(_FRESH)}")
    p_values = grid["grid"]["label_permute"]
    p0 = min(p_values)
    _distinct_routes(points, p_values)
    h2 = [q["metrics"]["joint_h2"] for q in points]
    layers = {k.split("_")[1] for k in h2[0] if k.startswith("updates_l")}
    blocks = {k.split("_")[2] for k in h2[0] if k.startswith("updates_l")}
    least = min(min(m[f"updates_{l}_{b}"] for l in layers for b in blocks) for m in h2)
    sw = {p: 100 * np.mean([q["metrics"]["joint_h2"]["switch_frac"] for q in _at(points, p)]) for p in p_values}
    pose = lambda v: _mean(points, v, "pose_mpjpe_mm", p0, -1)
    mlp0 = pose("mlp")
    sep_gap, h2_gap = pose("separate") - mlp0, pose("joint_h2") - mlp0
    floor0 = _ref_row(points, p0, "floor_mpjpe_mm")["mean"]
    byname = _by_name(fam)
    k_mean, k_joint = "6 joint_h2 MPJPE < mean pose", "1 joint_h2 > separate, MPJPE mm"
    missing = [k for k in (k_mean, k_joint) if k not in byname]
    if missing:
        raise KeyError(f"routing_pose_note: no claim named {missing}")
    d_mean, d_joint = byname[k_mean], byname[k_joint]
    tok = [(p, r) for p in p_values
           for r in repro.summarize(_at(points, p), "pose_mpjpe_mm", baseline="mlp", direction=-1) if r["variant"] != "mlp"]
    reach = [f"{r['variant']} at p = {p:g}" for p, r in tok if r["hi"] >= _ref_row(points, p, "mean_pose_mpjpe_mm")["lo"]]
    means_below = all(r["mean"] < _ref_row(points, p, "mean_pose_mpjpe_mm")["mean"] for p, r in tok)
    below_txt = (("every token variant's mean MPJPE is below the mean pose's at every p" if means_below
                  else "some token variant's mean MPJPE is not below the mean pose's")
                 + (f", though the 95% intervals of {', '.join(reach)} reach the mean pose's" if reach else ", every interval too"))
    share_effect = {"reversed": "costs", "within noise": "does not measurably change", "reproduces": "helps"}[_as3(d_joint)]
    steps, b_rows = _budget(budget_points)
    s_lo, s_hi = min(steps), max(steps)
    d6b, d6c = _one(fam, "6b "), _one(fam, "6c ")
    gap = lambda s: np.mean([q["metrics"]["separate"]["pose_mpjpe_mm"] - q["metrics"]["mlp"]["pose_mpjpe_mm"]
                             for q in budget_points if q["knobs"]["steps"] == s])
    gain = lambda v: repro.find_row(b_rows, v, s_lo)["mean"] - repro.find_row(b_rows, v, s_hi)["mean"]
    budget_txt = ({"reproduces": f"So the budget explains part of the gap at {s_lo} iterations",
                   "reversed": "The gap widens with training",
                   "within noise": "Whether the gap narrows is within the seeds' noise"}[_as3(d6c)]
                  + {"reversed": f"; what the intervals do show is that {s_hi // s_lo} times the budget does not close it: at "
                                 f"this scale a {3 * U.NJ}-token sentence decoded bin by bin stays behind a regression head",
                     "within noise": "; at the largest budget the decoder is within noise of the MLP",
                     "reproduces": "; at the largest budget the decoder beats the MLP"}[_as3(d6b)])
    below_mean = "below" if d_mean["diff"] < 0 else "not below"
    mlp_txt = ("but none reaches the direct-regression MLP" if min(sep_gap, h2_gap) > 0
               else "against the direct-regression MLP")
    return f"""### Routing and pose, answered from the grid

- **Routing that routes.** Every seed's unified model takes at least 2 distinct routes at every p (above); its least
  trained block still received {least} of {len(U.TASKS) * grid['fixed']['steps']} updates; after the warm-up, {', '.join(f'{x:.1f}% at p = {p:g}' for p, x in sw.items())}
  of the sampled blocks differ from the final route.
  So H = 2 against H = 1 compares two working encoders; what finding the route still costs shows against the
  hand-assigned route (above).
- **Pose estimation that learns.** The unified model is {below_mean} the mean pose ({claim_text(d_mean)} mm,
  {reading(d_mean)}); {below_txt}; {mlp_txt}: separate models
  {sep_gap:+.1f} mm, the unified model {h2_gap:+.1f} mm above it. With the data, initialisation and batches of the pose
  task paired, the unified model's pose is {claim_text(d_joint)} mm against the separate pose model
  ({reading(d_joint)}): sharing the encoder and decoder with three class tasks {share_effect} pose estimation here.
  The decoder width and the initial scale of its position embeddings were the levers that made tokens learn at all
  (deviation 6); the bins cannot be what limits it: their floor is {floor0:.1f} mm. The controlled experiment
  (grid 02b) answers the rest: with {s_hi // s_lo} times the budget both models improve by about
  {gain('separate'):.0f} and
  {gain('mlp'):.0f} mm, and the token
  decoder's gap to the MLP goes from {gap(s_lo):.1f} to {gap(s_hi):.1f} mm
  (that it shrinks: {reading(d6c)}); at
  {s_hi} iterations the decoder is {claim_text(d6b)} mm from
  the MLP ({reading(d6b)}). {budget_txt} (explorations 1 and 6 vary
  the bins and the de-quantisation).
- **The rank check** tests $\\Omega W^\\top$ (rank {int(rank)} = the decoder width), Section 4.3; **the variants are
  paired** (per-part initialisation seeds, per-task batch generators, a Gumbel generator per model), and the fresh
  run's subset of variants {_FRESH[fresh_status]} (Section 5); **the premise** (shared openings) is a tested
  property of the generator (Section 2).
"""


def this_run(fm: dict, *, seed: int, label_permute: float, variants, metrics: dict, short: dict, fresh_cpu_s: float,
             timer) -> str:
    """One Markdown line on the fresh run: its seed, knob and variants, each variant's metrics (accuracy
    in %, MPJPE in mm), ``joint_h2``'s routes, and the CPU and wall time.

    ``fm``: ``run_experiment(...)["metrics"]`` (``{variant: {metric: value}}``); ``metrics``,
    ``short``: as for :func:`closing_note`; ``fresh_cpu_s``: the fresh run's CPU seconds; ``timer``:
    the lesson's :class:`paperlib.report.NotebookTimer`. Raises ``KeyError`` for a variant missing
    from ``fm``.
    """
    import torch

    parts = "; ".join(f"{v} " + ", ".join(f"{short[m]} {(100 if d > 0 else 1) * fm[v][m]:.1f}"
                                           for m, d in metrics.items() if m in fm[v]) for v in variants)
    routes = ""
    if "joint_h2" in fm:
        mh = fm["joint_h2"]
        n_layers = sum(k.startswith(f"route_{U.TASKS[0]}_l") for k in mh)
        r = {t: tuple(mh[f"route_{t}_l{l}"] for l in range(n_layers)) for t in U.TASKS}
        routes = f"; routes of joint_h2 {r} ({mh['distinct_routes']} distinct)"
    return (f"**This run** (seed {seed}, label_permute {label_permute:g}, variants {', '.join(variants)}): {parts}"
            f"{routes}; fresh run {fresh_cpu_s:.0f} s CPU; notebook {timer.elapsed():.0f} s wall, "
            f"{timer.cpu():.0f} s kernel CPU (torch threads: {torch.get_num_threads()}).")


# ----------------------------------------------------------------------------------------------
# Grid 02c: the regime where the tasks conflict, and separate models at the joint encoder's budget
# ----------------------------------------------------------------------------------------------
#: The grid of Section 7.2 (``make reproduce NB=02c``).
CONFLICT_GRID = "02c_ups_conflict"
#: The conflicting tasks' figure: the mean of 2D and 3D recognition top-1 (the two tasks whose labels disagree).
REC = "rec. (2D + 3D) / 2"
#: The regime's primary claims, named in grid 02c's description before it ran, with the paper's effect in the
#: metric's units: Table 8's H = 2 - H = 1 on 3D recognition (+0.7 points) for R1; no figure of the paper for R2;
#: Tables 1 and 3 (UPS - UPS_separate: +3.0 points, -4.1 mm MPJPE) for the budget-matched comparison.
CONFLICT_PRIMARY = {
    f"R1 joint_h2 > joint_h1 where the tasks conflict, {REC}": 0.007,
    "R2 routes part the conflicting tasks: joint_h2 shares fewer layers than the shuffled-ids router": None,
    "B joint_h2 > separate_matched, 3D rec.": 0.030,
    "B joint_h2 > separate_matched, MPJPE mm": -4.1,
}
#: The variants of the regime table: the ablation (H = 1), learned routing, its control and the two oracles.
CONFLICT_VARIANTS = ("joint_h1", "joint_h2", "joint_h2_shuffled_ids", "fixed_h2", "own_h4")


def rec_top1(m: dict, v: str) -> float:
    """The conflicting tasks' figure of variant ``v`` in one point's metrics: (2D top-1 + 3D top-1) / 2."""
    return (m[v]["ar2d_top1"] + m[v]["ar3d_top1"]) / 2


def _per_seed(points, p, f):
    qs = sorted(_at(points, p), key=lambda q: q["seed"])
    if len(qs) < 2:
        raise ValueError(f"grid 02c: {len(qs)} seed(s) at label_permute {p:g}; a paired claim needs at least 2")
    return [float(f(q["metrics"])) for q in qs], [q["seed"] for q in qs]


def conflict_claims(points_c: list[dict], metrics: dict, short: dict) -> list[dict]:
    """Grid 02c's claims as :func:`paperlib.repro.claim_from_diffs` dicts for :func:`paperlib.repro.decide`:
    the four of :data:`CONFLICT_PRIMARY` (primary) and exploratory ones: ``"B "`` joint_h2 against
    separate_matched on the other metrics and separate_matched against separate on every metric (p = 0);
    ``"O "`` every other variant of :data:`CONFLICT_VARIANTS` against joint_h1 where the tasks conflict (p = 1,
    the oracles' gains) and learned routing where they agree (p = 0); ``"G "`` the routing gap of joint_h2
    against the shuffled-ids router (p = 1).

    ``points_c``: :func:`paperlib.repro.load_points` of :data:`CONFLICT_GRID` (knob ``label_permute`` 0 and 1);
    ``metrics``, ``short``: as for :func:`closing_note`. Accuracy claims carry ``scale=100`` (points), the
    route share ``scale=100`` (% of layers), MPJPE ``scale=1`` (mm). Raises ``KeyError`` for a missing
    variant or metric, ``ValueError`` when a knob value has fewer than 2 seeds."""
    ps = sorted({q["knobs"]["label_permute"] for q in points_c})
    p0, p1 = min(ps), max(ps)
    out = []

    def add(name, p, f, direction, units="points", scale=100):
        d, seeds = _per_seed(points_c, p, f)
        out.append(repro.claim_from_diffs(name, d, direction, primary=name in CONFLICT_PRIMARY,
                                          paper=CONFLICT_PRIMARY.get(name), units=units, scale=scale, seeds=seeds))

    def metric_claim(name, v, b, mtr, p):
        mm = mtr == "pose_mpjpe_mm"
        add(name, p, lambda m: m[v][mtr] - m[b][mtr], metrics[mtr], "mm" if mm else "points", 1 if mm else 100)

    r1, r2 = list(CONFLICT_PRIMARY)[:2]
    add(r1, p1, lambda m: rec_top1(m, "joint_h2") - rec_top1(m, "joint_h1"), +1)
    add(r2, p1, lambda m: m["joint_h2"]["shared_ar2d_ar3d"] - m["joint_h2_shuffled_ids"]["shared_ar2d_ar3d"], -1,
        "% of layers")
    for mtr in metrics:
        metric_claim(f"B joint_h2 > separate_matched, {short[mtr]}", "joint_h2", "separate_matched", mtr, p0)
    for mtr in metrics:
        metric_claim(f"B separate_matched > separate, {short[mtr]}", "separate_matched", "separate", mtr, p0)
    for v in CONFLICT_VARIANTS[2:]:
        add(f"O {v} > joint_h1 where the tasks conflict, {REC}", p1, lambda m, v=v: rec_top1(m, v) - rec_top1(m, "joint_h1"), +1)
    add(f"O joint_h2 > joint_h1 where the tasks agree, {REC}", p0,
        lambda m: rec_top1(m, "joint_h2") - rec_top1(m, "joint_h1"), +1)
    add("G routing gap: joint_h2 above the shuffled-ids router", p1,
        lambda m: m["joint_h2"]["route_gap"] - m["joint_h2_shuffled_ids"]["route_gap"], +1, "points of p")
    return out


def conflict_table(points_c: list[dict]):
    """The regime table: per ``label_permute`` and variant of :data:`CONFLICT_VARIANTS`, the mean over seeds
    of 2D and 3D recognition top-1 and of :func:`rec_top1` (%), the gain in ``rec`` over joint_h1 with its
    paired 95% interval (points), the share of layers in which the two recognition tasks take the same block
    (%) and the final routing gap ``p_(1) - p_(2)`` (the two learned routers only). Returns a
    :class:`paperlib.repro.Table`. Raises ``KeyError`` for a missing variant or metric."""
    body = []
    for p in sorted({q["knobs"]["label_permute"] for q in points_c}):
        qs = _at(points_c, p)
        for v in CONFLICT_VARIANTS:
            ms = [q["metrics"] for q in qs]
            gain = mean_ci([rec_top1(m, v) - rec_top1(m, "joint_h1") for m in ms])
            gap = [m[v]["route_gap"] for m in ms] if v in ("joint_h2", "joint_h2_shuffled_ids") else []   # learned routers
            body.append([f"{p:g}", v, f"{100 * np.mean([m[v]['ar2d_top1'] for m in ms]):.1f}",
                         f"{100 * np.mean([m[v]['ar3d_top1'] for m in ms]):.1f}",
                         f"{100 * np.mean([rec_top1(m, v) for m in ms]):.1f}",
                         "—" if v == "joint_h1" else f"{100 * gain[0]:+.1f} [{100 * gain[1]:+.1f}, {100 * gain[2]:+.1f}]",
                         f"{100 * np.mean([m[v]['shared_ar2d_ar3d'] for m in ms]):.0f}",
                         f"{np.mean(gap):.2f}" if gap else "—"])
    n = len({q["seed"] for q in points_c})
    return repro.Table(["label_permute", "variant", "2D rec. %", "3D rec. %", f"{REC} %", "gain over joint_h1, points",
                        "layers shared by 2D and 3D rec. %", "routing gap"], body,
                       caption=f"Grid 02c: where the tasks conflict (label_permute 1) and where they agree (0); "
                               f"mean over {n} paired seeds, gains with 95% t-intervals")


def budget_table(points_c: list[dict], metrics: dict, short: dict):
    """The budget-matched comparison at ``label_permute = 0``: per metric the mean over seeds of separate
    (``steps`` updates per model), separate_matched (``steps x 4``, as many as the joint encoder) and
    joint_h2, and joint_h2 - separate_matched with its paired 95% interval. Returns a
    :class:`paperlib.repro.Table`. Raises ``KeyError`` for a missing variant or metric."""
    p0 = min(q["knobs"]["label_permute"] for q in points_c)
    qs = _at(points_c, p0)
    body = []
    for mtr, d in metrics.items():
        rows = repro.summarize(qs, mtr, baseline="separate_matched", direction=d)
        s = 1 if mtr == "pose_mpjpe_mm" else 100
        r = repro.find_row(rows, "joint_h2")
        body.append([short[mtr]] + [f"{s * repro.find_row(rows, v)['mean']:.1f}" for v in
                                    ("separate", "separate_matched", "joint_h2")]
                    + [f"{s * r['diff']:+.1f} [{s * r['diff_lo']:+.1f}, {s * r['diff_hi']:+.1f}]"])
    upd = {v: int(qs[0]["metrics"][v]["updates_per_model"]) for v in ("separate", "separate_matched", "joint_h2")}
    return repro.Table(["metric", f"separate ({upd['separate']} updates)", f"separate_matched ({upd['separate_matched']})",
                        f"joint_h2 ({upd['joint_h2']})", "joint_h2 - separate_matched"], body,
                       caption=f"Joint against separate at a matched budget (grid 02c, label_permute {p0:g}, "
                               f"{len(qs)} paired seeds; accuracy %, MPJPE mm; 95% t-intervals)")


def recovery(points_c: list[dict], oracle: str) -> dict:
    """What learned routing recovers of an oracle's gain where the tasks conflict: the mean gains of
    joint_h2 and of ``oracle`` over joint_h1 in :func:`rec_top1` at the largest ``label_permute``, the
    oracle's 95% interval, and ``fraction`` = joint_h2's mean gain / the oracle's (``nan`` unless the
    oracle's interval lies above 0: a ratio to a gain that may be zero means nothing)."""
    p1 = max(q["knobs"]["label_permute"] for q in points_c)
    ms = [q["metrics"] for q in _at(points_c, p1)]
    learned = mean_ci([rec_top1(m, "joint_h2") - rec_top1(m, "joint_h1") for m in ms])
    orc = mean_ci([rec_top1(m, oracle) - rec_top1(m, "joint_h1") for m in ms])
    frac = recovery_fraction(learned[0], orc[0], orc[1])
    return {"learned": learned, "oracle": orc, "fraction": frac}


def conflict_note(grid_c: dict, points_c: list[dict], fam: list[dict]) -> str:
    """The closing note's paragraph on grid 02c as Markdown: separate models at the joint encoder's
    budget, learned routing where the tasks conflict against the ablation, the oracles and the
    shuffled-ids control, route separation and the routing gap. ``fam``: :func:`paperlib.repro.decide`'s
    output holding :func:`conflict_claims`. Raises ``KeyError`` when a claim is missing."""
    D = _by_name(fam)
    missing = [n for n in CONFLICT_PRIMARY if n not in D]
    if missing:
        raise KeyError(f"conflict_note: the family lacks {missing}")
    r1, r2, b3, bp = (D[n] for n in CONFLICT_PRIMARY)
    ps = grid_c["grid"]["label_permute"]
    p0, p1 = min(ps), max(ps)
    ms1 = [q["metrics"] for q in _at(points_c, p1)]
    shared = {v: 100 * np.mean([m[v]["shared_ar2d_ar3d"] for m in ms1]) for v in ("joint_h2", "joint_h2_shuffled_ids")}
    gap = {v: np.mean([m[v]["route_gap"] for m in ms1]) for v in ("joint_h2", "joint_h2_shuffled_ids")}
    orc = {v: _one(fam, f"O {v} ") for v in CONFLICT_VARIANTS[2:]}
    agree = _one(fam, "O joint_h2 > joint_h1 where the tasks agree")
    rec = {v: recovery(points_c, v) for v in ("fixed_h2", "own_h4")}
    def frac(v):
        f = rec[v]["fraction"]
        if f != f:
            return "not defined (its gain interval is not above 0)"
        return f"{f:.2f}" + (" (none: learned routing's mean gain is below zero)" if f < 0 else "")
    h1 = 100 * np.mean([rec_top1(m, "joint_h1") for m in ms1])
    upd = int(points_c[0]["metrics"]["separate_matched"]["updates_per_model"])
    cpu = sum(q["cpu_s"] for q in points_c) / 3600
    prim = lambda d: f"{claim_text(d)} {d['units']} ({d['verdict']}, MDE {d['mde'] * d['scale']:.1f})"
    return f"""### Where the tasks conflict, and separate models at the joint encoder's budget (grid 02c)

{len(points_c)} points ({len(grid_c['seeds'])} seeds × label_permute {', '.join(f'{p:g}' for p in ps)}), {cpu:.2f} CPU-hours.

- **A budget-matched comparison.** Each separate model trained for {upd} updates, as many as the joint encoder.
  The unified model (H = 2) against them at p = {p0:g}: 3D recognition {prim(b3)}; MPJPE {prim(bp)};
  on every metric: {_line([d for d in fam if d['name'].startswith('B joint_h2')], 'B ')}. What four times the
  updates buy a separate model: {_line([d for d in fam if d['name'].startswith('B separate_matched')], 'B ')}.
- **Routing where the tasks conflict** (p = {p1:g}; one shared block scores {h1:.1f}% on {REC}). Learned
  routing against one shared block: {prim(r1)} (where the tasks agree, p = {p0:g}: {claim_text(agree)},
  {reading(agree)}). Beside it, the gains of the other routes: {'; '.join(
        f"{v} {claim_text(d)} ({reading(d)})" for v, d in orc.items())}. What learned routing recovers of the
  hand-assigned route's gain: {frac('fixed_h2')}; of one block per task: {frac('own_h4')}.
- **Does the router part the conflicting tasks?** The two recognition tasks share a block in {shared['joint_h2']:.0f}%
  of the layers under learned routing and in {shared['joint_h2_shuffled_ids']:.0f}% under the router that never
  knew which task it routed: {prim(r2)}. The routing gap at the end of training: {gap['joint_h2']:.2f} against
  {gap['joint_h2_shuffled_ids']:.2f} ({claim_text(_one(fam, 'G '))} points of probability, {reading(_one(fam, 'G '))}).
"""
