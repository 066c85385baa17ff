"""The claims, the regime tables and the closing note of notebook 03 (Glimpse Clouds), from its committed grid.

The grid (``repro.load_points("03_glimpse_clouds")``) holds one point per seed, ``points`` (1: one held
object; 2: an object in each hand, the class the pair, the regime where several things must be tracked,
:data:`REGIME`) and ``object_scale`` (the objects' size), each with, per variant (``global``, ``global_avg``,
``gc``, ``gc_random``, ``gc_oracle``, ``sum``), the accuracy ``acc``, and for the glimpse variants the
workers' specialisation after the transient (``spec_t3``, nats), tracking (``track_px`` and its shuffled
control ``track_px_shuffled``, pixels; ``split`` with two points), coverage (``cover_px``) and the glimpses'
box width against the patch's sampling step (``box_px``, ``patch_step_px``), and ``metrics["data"]``
(``object_px``, ``chance``). :func:`claims` turns it into the notebook's family for ``repro.decide``;
:func:`regime_table`, :func:`mechanism_rows` and :func:`closing_note` build what the notebook displays, so
the prose cannot disagree with the tables.
"""
from __future__ import annotations

import numpy as np

from .. import repro
from ..stats import mean_ci
from .text import claim_text, claim_word, mean_ci_text

__all__ = ["REGIME", "LABELS", "at", "sizes", "claim_names", "claims", "regime_table", "mechanism_rows",
           "closing_note"]

#: The ``points`` value of the multi-point regime, where the primary claims are decided.
REGIME = 2

#: The variants of the regime table, with their names in the prose.
LABELS = {"global": "global model", "global_avg": "time-averaged global model", "sum": "Σ glimpses + GRU",
          "gc": "Glimpse Clouds", "gc_random": "random glimpses", "gc_oracle": "oracle glimpses"}

#: The glimpse variants whose workers are measured (specialisation, tracking, coverage).
GLIMPSE_VARIANTS = ("gc", "gc_random", "gc_oracle")


def at(points, n: int, s: float) -> list[dict]:
    """The points of one cell of the grid: ``points == n`` and ``object_scale == s``."""
    return [p for p in points if p["knobs"]["points"] == n and float(p["knobs"]["object_scale"]) == float(s)]


def sizes(points) -> tuple[list[float], dict]:
    """``(s_values, px)``: the grid's sorted ``object_scale`` values and ``{s: mean object height (px)}``
    over every point at ``s``. Raises ``ValueError`` for fewer than 2 sizes or a grid without both regimes."""
    s_values = sorted({float(p["knobs"]["object_scale"]) for p in points})
    regimes = sorted({p["knobs"]["points"] for p in points})
    if len(s_values) < 2 or regimes != [1, REGIME]:
        raise ValueError(f"glimpse report: the grid needs points 1 and {REGIME} and at least 2 object sizes, "
                         f"got points {regimes}, object_scale {s_values}")
    px = {s: float(np.mean([p["metrics"]["data"]["object_px"] for p in points
                            if float(p["knobs"]["object_scale"]) == s])) for s in s_values}
    return s_values, px


def _cells(points):
    s_values, _ = sizes(points)
    return [(n, s) for n in (1, REGIME) for s in s_values]


def _where(n, s, px):
    return f"{'two points' if n == REGIME else 'one point'}, {px[s]:.1f} px"


def claim_names(points, s0: float) -> dict:
    """The names of the notebook's claims, keyed by a short id.

    ``points``: the grid's point dicts; ``s0``: the ``object_scale`` of the primary claims (in the two-point
    regime). Returns ``{"P1": ..., "P2": ..., "P3": ..., "P4": ...}`` (primary: attention against random
    glimpses, Glimpse Clouds against the global model, specialisation after the transient against random
    glimpses, tracking against its shuffled control) and the exploratory ids ``"att@<n>,<s>"`` and
    ``"gc@<n>,<s>"`` for every other cell of the grid, ``"sum"``, ``"sum_global"``, ``"oracle_random"``,
    ``"oracle_gc"``, ``"cover"``. Raises ``ValueError`` (:func:`sizes`) or for an ``s0`` not in the grid.
    """
    s_values, px = sizes(points)
    if float(s0) not in px:
        raise ValueError(f"claim_names: s0 = {s0} is not an object_scale of the grid {s_values}")
    w0 = _where(REGIME, s0, px)
    n = {"P1": f"P1 attention > random glimpses, {w0}",
         "P2": f"P2 GC > global model, {w0}",
         "P3": f"P3 workers specialise (t ≥ 3) more than with random glimpses, {w0}",
         "P4": f"P4 workers track the points: shuffled − own distance, {w0}"}
    for (k, s) in _cells(points):
        if (k, float(s)) != (REGIME, float(s0)):
            n[f"att@{k},{s:g}"] = f"attention > random glimpses, {_where(k, s, px)}"
            n[f"gc@{k},{s:g}"] = f"GC > global model, {_where(k, s, px)}"
    n["sum"] = f"GC > Σ glimpses + GRU, {w0}"
    n["sum_global"] = f"Σ glimpses + GRU > global model, {w0}"
    n["oracle_random"] = f"oracle > random glimpses (headroom of locations), {w0}"
    n["oracle_gc"] = f"oracle > GC (what attention leaves), {w0}"
    n["cover"] = f"attended glimpses nearer the objects than random ones (px), {w0}"
    return n


def _paired(points, metric, a, b, n, s, direction=+1):
    return repro.find_row(repro.summarize(at(points, n, s), metric, baseline=b, direction=direction), a)


def claims(points, s0: float, paper3: dict, paper4: dict) -> list[dict]:
    """The notebook's claims as ``repro.claim`` dicts, ready for ``repro.decide``.

    ``points``: the grid's point dicts; ``s0``: the ``object_scale`` of the primary claims; ``paper3`` /
    ``paper4``: the paper's accuracies (%, NTU cross-subject) of the Table 3 and Table 4 analogues
    (``{variant: number}`` with ``gc``, ``global_avg`` and ``sum``; ``gc`` and ``gc_random``).

    Four primary claims, all in the two-point regime at ``s0``: attention − random glimpses (accuracy points;
    paper: Table 4), GC − global model (points; paper: Table 3, GC − GM (L_D + L_P)), specialisation after
    the transient ``spec_t3`` of GC − random glimpses (millinats; no paper effect), and tracking,
    ``track_px_shuffled − track_px`` of GC (pixels, per seed; no paper effect). Every other comparison is
    exploratory. Raises ``KeyError`` when ``paper3``/``paper4`` lack a variant and ``ValueError`` (from
    :func:`claim_names` or ``repro.claim``) for a grid without the cells or paired seeds.
    """
    names = claim_names(points, s0)
    pts0 = at(points, REGIME, s0)
    trk = {p["seed"]: p["metrics"]["gc"]["track_px_shuffled"] - p["metrics"]["gc"]["track_px"] for p in pts0}
    seeds = sorted(trk)
    out = [repro.claim(names["P1"], _paired(points, "acc", "gc", "gc_random", REGIME, s0), primary=True,
                       paper=(paper4["gc"] - paper4["gc_random"]) / 100, scale=100, units="points"),
           repro.claim(names["P2"], _paired(points, "acc", "gc", "global", REGIME, s0), primary=True,
                       paper=(paper3["gc"] - paper3["global_avg"]) / 100, scale=100, units="points"),
           repro.claim(names["P3"], _paired(points, "spec_t3", "gc", "gc_random", REGIME, s0), primary=True,
                       scale=1000, units="millinats"),
           repro.claim_from_diffs(names["P4"], [trk[k] for k in seeds], +1, primary=True, units="px", seeds=seeds)]
    for (k, s) in _cells(points):
        if (k, float(s)) != (REGIME, float(s0)):
            out.append(repro.claim(names[f"att@{k},{s:g}"], _paired(points, "acc", "gc", "gc_random", k, s),
                                   scale=100, units="points"))
            out.append(repro.claim(names[f"gc@{k},{s:g}"], _paired(points, "acc", "gc", "global", k, s),
                                   scale=100, units="points"))
    for key, (a, b) in (("sum", ("gc", "sum")), ("sum_global", ("sum", "global")),
                        ("oracle_random", ("gc_oracle", "gc_random")), ("oracle_gc", ("gc_oracle", "gc"))):
        out.append(repro.claim(names[key], _paired(points, "acc", a, b, REGIME, s0), scale=100, units="points"))
    out.append(repro.claim(names["cover"], _paired(points, "cover_px", "gc", "gc_random", REGIME, s0, direction=-1),
                           units="px"))
    return out


def regime_table(points) -> repro.Table:
    """Accuracy (%, mean [95% t-interval] over seeds) of every variant in every cell of the grid, with the
    cell's chance level: the regime table. Returns a ``repro.Table`` (rows: cells; columns: variants)."""
    _, px = sizes(points)
    cols = ["cell", "chance"] + [LABELS[v] for v in LABELS]
    body = []
    seeds = sorted({p["seed"] for p in points})
    for (k, s) in _cells(points):
        pts = at(points, k, s)
        row = [_where(k, s, px), f"{100 * pts[0]['metrics']['data']['chance']:.0f}%"]
        for v in LABELS:
            vals = [p["metrics"][v]["acc"] for p in pts if v in p["metrics"]]
            row.append(mean_ci_text(mean_ci(vals), 100, 1) if len(vals) > 1 else "")
        body.append(row)
    return repro.Table(cols, body, f"Top-1 accuracy over {len(seeds)} seeds per cell (cross-subject test clips), "
                                   "95% t-intervals")


def mechanism_rows(points, n: int, s: float) -> list[dict]:
    """What the workers and the glimpses do, per glimpse variant, in one cell of the grid: one dict per
    variant of :data:`GLIMPSE_VARIANTS` with ``(mean, lo, hi)`` over seeds (95% t-interval) of ``spec_t3``
    (nats), ``track_px``, ``track_px_shuffled``, ``cover_px``, ``box_px``, ``patch_step_px`` (pixels) and,
    with two points, ``split`` and ``split_shuffled``; plus ``variant``, ``label`` (its name in
    :data:`LABELS`) and ``n`` (seeds). Raises ``ValueError`` for a cell without points."""
    pts = at(points, n, s)
    if not pts:
        raise ValueError(f"mechanism_rows: no points at points={n}, object_scale={s}")
    keys = ["spec_t3", "track_px", "track_px_shuffled", "cover_px", "box_px", "patch_step_px"]
    keys += ["split", "split_shuffled"] if n >= 2 else []
    return [{"variant": v, "label": LABELS[v], "n": len(pts), **{k: mean_ci([p["metrics"][v][k] for p in pts]) for k in keys}}
            for v in GLIMPSE_VARIANTS]


def _ci(t, digits=1, scale=1.0, unit=""):
    return mean_ci_text(t, scale, digits, unit)


def closing_note(points, grid: dict, fam: list[dict], s0: float, paper3: dict, paper4: dict) -> str:
    """The closing note "What reproduces and what does not", as Markdown: the regime table in words, the
    workers' specialisation and tracking against their controls, the glimpses' boxes against the patch's
    sampling step, the primary claims after Holm with their minimum detectable effects, and the grid's CPU time.

    ``points``/``grid``: the committed grid; ``fam``: ``repro.decide(claims(points, s0, paper3, paper4))``;
    ``s0``, ``paper3``, ``paper4``: as for :func:`claims`. Raises ``KeyError`` when a claim the note reports
    is missing from ``fam``, ``ValueError`` (:func:`sizes`) for a grid without both regimes.
    """
    names = claim_names(points, s0)
    D = {r["name"]: r for r in fam}
    missing = [v for v in names.values() if v not in D]
    if missing:
        raise KeyError(f"closing_note: claims missing from the decided family: {missing}")
    c = lambda k: D[names[k]]                                                         # noqa: E731
    s_values, px = sizes(points)
    w0 = _where(REGIME, s0, px)
    prim = [r for r in fam if r["primary"]]
    word = lambda k: f"**{claim_word(D, names[k], scale=c(k)['scale'])}**"           # noqa: E731
    paper = lambda k: "" if c(k)["paper"] is None else f"; paper {100 * c(k)['paper']:+.1f}"  # noqa: E731

    lines = []
    for (k, s) in _cells(points):
        pts = at(points, k, s)
        mean = {v: 100 * float(np.mean([p["metrics"][v]["acc"] for p in pts])) for v in ("global", "gc", "gc_random",
                                                                                          "gc_oracle")}
        lines.append(f"  - {_where(k, s, px)} (chance {100 * pts[0]['metrics']['data']['chance']:.0f}%): global "
                     f"{mean['global']:.1f}, GC {mean['gc']:.1f}, random {mean['gc_random']:.1f}, oracle {mean['gc_oracle']:.1f}")
    mech = {r["variant"]: r for r in mechanism_rows(points, REGIME, s0)}
    g, rnd, orc = mech["gc"], mech["gc_random"], mech["gc_oracle"]
    tracks = c("P4")["verdict"] == "reproduces"
    spec_up = c("P3")["verdict"] == "reproduces"
    ensemble = ("The workers act as an ensemble, not as trackers: they neither follow the points better than a shuffled "
                "assignment nor specialise more than with random glimpses."
                if not (tracks or spec_up) else
                "The workers do more than an ensemble: " + " and ".join(
                    t for t, ok in (("they follow the points", tracks), ("they specialise", spec_up)) if ok) + ".")
    under = [r["name"].split(" ", 1)[1] for r in prim if r["verdict"] == "underpowered"]
    cpu_min = sum(p["cpu_s"] for p in points) / 60
    return f"""### What reproduces and what does not

All numbers from the committed grid ({len(points)} points: {len(grid['seeds'])} seeds × one or two informative points ×
object heights {', '.join(f'{px[s]:.1f}' for s in s_values)} px; {cpu_min:.0f} min CPU on one-thread workers), paired over
seeds, 95% t-intervals. {repro.family_text(fam)}.

- **The regimes** (accuracy, %, mean over seeds):
{chr(10).join(lines)}
- **Primary claims, two points, {px[s0]:.1f} px, after Holm.** Attention − random glimpses {claim_text(c('P1'))} points
  ({word('P1')}{paper('P1')}); GC − global model {claim_text(c('P2'))} points ({word('P2')}{paper('P2')});
  specialisation after the transient, GC − random {claim_text(c('P3'))} millinats ({word('P3')}); tracking, shuffled −
  own distance {claim_text(c('P4'), 1)} px ({word('P4')}).{' Underpowered: ' + '; '.join(under) + '.' if under else ''}
- **Specialisation and tracking against their controls** ({w0}). Specialisation at t ≥ 3 (nats): GC {_ci(g['spec_t3'], 3)},
  random glimpses {_ci(rnd['spec_t3'], 3)}, oracle {_ci(orc['spec_t3'], 3)}. Distance from each point to the worker that
  follows it best (px): GC {_ci(g['track_px'])} against {_ci(g['track_px_shuffled'])} shuffled; oracle
  {_ci(orc['track_px'])} against {_ci(orc['track_px_shuffled'])}; the two points go to different workers in
  {_ci(g['split'], 0, 100, '%')} of the clips for GC, {_ci(orc['split'], 0, 100, '%')} for the oracle. {ensemble}
- **Where the glimpses look** ({w0}): the nearest glimpse is {_ci(g['cover_px'])} px from an object for GC,
  {_ci(rnd['cover_px'])} px for random glimpses ({claim_text(c('cover'), 1)} px, exploratory: {c('cover')['raw']}); the oracle
  {_ci(orc['cover_px'])} px. What locations could give: oracle − random {claim_text(c('oracle_random'))} points; oracle −
  GC {claim_text(c('oracle_gc'))} points (exploratory).
- **Do the glimpses zoom?** GC's boxes are {_ci(g['box_px'])} px wide, sampled every {_ci(g['patch_step_px'], 2)} px by
  the patch (area-averaged, so no aliasing), for objects {px[s0]:.1f} px high; the oracle's {_ci(orc['box_px'])} px;
  random glimpses' {_ci(rnd['box_px'])} px.
"""
