"""A notebook's claims, decided as a family: primary claims with Holm, the rest exploratory.

A reproduction compares many things; at 95% each, a notebook of thirty comparisons finds one or
two "effects" in pure noise. The course therefore separates (GUIDE.md, "Primary claims"):

- **primary claims**: at most :data:`MAX_PRIMARY` per notebook, each a headline claim of the
  paper, named before the results. They are decided together with Holm's step-down procedure at
  ``alpha`` (:func:`paperlib.stats.holm`), which bounds the chance of any false "reproduces" or
  "reversed" in the family by ``alpha``. Each gets one of the four verdicts of
  :func:`paperlib.stats.claim_verdict`, and its **minimum detectable effect** (80% power, at the
  Bonferroni level ``alpha / m``, the strictest level Holm may test a claim at, so the figure holds
  whatever the claim's rank): a claim whose minimum detectable effect exceeds the paper's own effect
  is *underpowered*, not "within noise".
- **exploratory comparisons**: everything else. A plain paired difference with its 95% interval and
  its minimum detectable effect at ``alpha``; no verdict word.

Typical use in a notebook::

    rows = repro.summarize(points, "auc", baseline="baseline", where={"early_cue": 20.0})
    fam = repro.decide([
        repro.claim("ERA > Baseline, AUC", repro.find_row(rows, "era"), primary=True, paper=0.074),
        repro.claim("ERA > Expert-Avg, AUC", ..., primary=False),
    ])
    display(repro.claims_table(fam))
    repro.assert_claims(fam, {"ERA > Baseline, AUC": "reversed"})
"""
from __future__ import annotations

import math

import numpy as np

from .summary import Table, _num, sign_word
from ..stats import claim_verdict, holm, mean_ci, min_detectable_effect, paired_t_pvalue, seeds_needed

__all__ = ["MAX_PRIMARY", "claim", "claim_from_diffs", "decide", "claims_table", "assert_claims", "family_text",
           "sign_word"]

#: At most this many primary claims per notebook (GUIDE.md).
MAX_PRIMARY = 4


def claim_from_diffs(name: str, diffs, direction: int = +1, primary: bool = False, paper=None,
                     units: str = "", scale: float = 1.0, seeds=None) -> dict:
    """One claim from its per-seed paired differences "claimed variant minus baseline".

    ``diffs``: shape ``(n,)``, one difference per paired seed (``n >= 2``), in the metric's units;
    ``direction``: +1 when the paper claims a higher value, -1 a lower one (errors);
    ``primary``: whether it belongs to the notebook's primary family; ``paper``: the paper's own
    effect in the same units as ``diffs`` (``None`` when the paper gives none); ``units`` and
    ``scale``: how the table shows the numbers (``scale=100, units="points"`` shows fractions as
    points). Returns the claim dict that :func:`decide` takes. Raises ``ValueError`` for fewer than
    2 differences, NaN, or a direction other than +1/-1.
    """
    d = np.asarray(diffs, dtype=float)
    if d.ndim != 1 or d.size < 2 or np.isnan(d).any():
        raise ValueError(f"claim {name!r}: need at least 2 finite paired differences, got {d.tolist()}")
    if direction not in (1, -1):
        raise ValueError(f"claim {name!r}: direction must be +1 or -1, got {direction!r}")
    return {"name": str(name), "diffs": d.tolist(), "direction": int(direction), "primary": bool(primary),
            "paper": None if paper is None else float(paper), "units": units, "scale": float(scale),
            "seeds": list(seeds) if seeds is not None else None}


def claim(name: str, row: dict, primary: bool = False, paper=None, direction: int | None = None,
          units: str = "", scale: float = 1.0) -> dict:
    """One claim from a :func:`paperlib.repro.summarize` row (its ``diffs`` over ``pair_seeds``).

    ``direction`` defaults to the row's. Raises ``ValueError`` for a row without paired differences
    (the baseline's own row, or fewer than 2 paired seeds).
    """
    if not row.get("diffs"):
        raise ValueError(f"claim {name!r}: the row of {row.get('variant')!r} has no paired differences "
                         f"(baseline row, or no seeds in common with {row.get('baseline')!r})")
    return claim_from_diffs(name, row["diffs"], row["direction"] if direction is None else direction, primary, paper,
                            units, scale, seeds=row.get("pair_seeds"))


def decide(claims: list[dict], alpha: float = 0.05, power: float = 0.8) -> list[dict]:
    """Decide a notebook's claims: Holm over the primary ones, plain intervals for the rest.

    ``claims``: dicts of :func:`claim` / :func:`claim_from_diffs` with distinct names, at most
    :data:`MAX_PRIMARY` primary. Returns one dict per claim, in the input order, with the claim's
    fields plus ``n``, ``diff``, ``lo``, ``hi`` (mean and ``1 - alpha`` t-interval of the
    differences), ``p`` (two-sided paired t-test), ``raw`` (``sign_word`` of the interval: the
    decision without multiplicity control), for primary claims ``p_holm``, ``holm`` (``sign_word``
    when Holm rejects, else ``"includes 0"``) and ``verdict`` (:func:`paperlib.stats.claim_verdict`),
    ``mde`` (minimum detectable effect at ``power``, at level ``alpha / m`` for the ``m`` primary
    claims, at ``alpha`` for exploratory ones), ``mde_level``, ``family_size`` (``m``), ``alpha``, and
    ``n_needed`` (the seeds the same design would need to detect the paper's effect at that level and
    power, :func:`paperlib.stats.seeds_needed`; ``None`` without a paper effect).
    Exploratory claims have ``p_holm``, ``holm`` and ``verdict`` set to ``None``.

    Raises ``ValueError`` for an empty list, repeated names, more than :data:`MAX_PRIMARY` primary
    claims, or ``alpha``/``power`` outside (0, 1).
    """
    if not claims:
        raise ValueError("decide: no claims")
    names = [c["name"] for c in claims]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"decide: repeated claim names {dup}")
    prim = [i for i, c in enumerate(claims) if c["primary"]]
    if len(prim) > MAX_PRIMARY:
        raise ValueError(f"decide: {len(prim)} primary claims ({[names[i] for i in prim]}); at most {MAX_PRIMARY}: "
                         "keep the paper's headline claims primary and label the rest exploratory")
    m = len(prim)
    out = []
    for c in claims:
        d = np.asarray(c["diffs"], float)
        mean, lo, hi = mean_ci(d, 1 - alpha)
        level = alpha / m if c["primary"] else alpha
        sd = float(d.std(ddof=1))
        out.append({**c, "n": int(d.size), "diff": mean, "lo": lo, "hi": hi, "p": paired_t_pvalue(d),
                    "raw": sign_word(lo, hi), "p_holm": None, "holm": None, "verdict": None,
                    "mde": min_detectable_effect(sd, d.size, level, power), "mde_level": level,
                    "n_needed": seeds_needed(sd, c["paper"], level, power) if c["paper"] else None,
                    "power": power, "family_size": m, "alpha": alpha})
    if m:
        reject, p_adj = holm([out[i]["p"] for i in prim], alpha)
        for i, rej, pa in zip(prim, reject, p_adj):
            r = out[i]
            r["p_holm"] = pa
            r["holm"] = ("above 0" if r["diff"] > 0 else "below 0") if rej else "includes 0"
            r["verdict"] = claim_verdict(rej, r["diff"], r["direction"], r["mde"], r["paper"])
    return out


def _n(x, scale, digits, sign=True):
    return _num(None if x is None else x * scale, digits, sign)


def _p(p):
    return "n/a" if p is None else ("<0.001" if p < 1e-3 else f"{p:.3f}")


def claims_table(decided: list[dict], digits: int = 1, caption: str | None = None):
    """The table of a decided family (:func:`decide`): one line per claim with its family
    (primary or exploratory), the paired difference and its interval, the raw p-value and decision,
    the Holm-adjusted p-value and decision (primary only), the minimum detectable effect, the
    paper's effect, the seeds the design would need to detect it, and the verdict (primary only). Returns a :class:`paperlib.repro.Table`."""
    if not decided:
        raise ValueError("claims_table: no claims")
    pct = round(100 * (1 - decided[0]["alpha"]))
    cols = ["claim", "family", "n", f"Δ [{pct}% CI]", "p", "raw", "p (Holm)", "Holm", "MDE (80% power)",
            "paper's effect", "seeds for it", "verdict"]
    body = []
    for r in decided:
        sc, u = r["scale"], (f" {r['units']}" if r["units"] else "")
        body.append([
            r["name"], "primary" if r["primary"] else "exploratory", str(r["n"]),
            f"{_n(r['diff'], sc, digits)} [{_n(r['lo'], sc, digits)}, {_n(r['hi'], sc, digits)}]{u}",
            _p(r["p"]), r["raw"], _p(r["p_holm"]) if r["primary"] else "", r["holm"] or "",
            f"{_n(r['mde'], sc, digits, sign=False)}{u}",
            "" if r["paper"] is None else f"{_n(r['paper'], sc, digits)}{u}",
            "" if r["n_needed"] is None else str(r["n_needed"]), r["verdict"] or ""])
    if caption is None:
        caption = family_text(decided)
    return Table(cols, body, caption)


def family_text(decided: list[dict]) -> str:
    """One sentence naming the family: its size, the procedure and level, and how many survive."""
    prim = [r for r in decided if r["primary"]]
    m, alpha = len(prim), decided[0]["alpha"]
    surv = sum(r["holm"] not in (None, "includes 0") for r in prim)
    under = sum(r["verdict"] == "underpowered" for r in prim)
    return (f"Family of {m} primary claim{'s' if m != 1 else ''} decided with Holm at {alpha:g} "
            f"({surv} of {m} decisive after Holm, {under} underpowered); {len(decided) - m} exploratory "
            f"comparison{'s' if len(decided) - m != 1 else ''} (plain {round(100 * (1 - alpha))}% intervals, no verdict); "
            f"MDE: minimum detectable effect at 80% power (primary: at {alpha:g}/{max(m, 1)})")


def assert_claims(decided: list[dict], expected: dict) -> None:
    """Assert the verdicts of the primary claims: ``expected`` names exactly the primary claims
    (``{name: verdict or collection of verdicts}``). The ``AssertionError`` states the interval,
    the adjusted p-value and the minimum detectable effect of each claim that differs."""
    prim = {r["name"]: r for r in decided if r["primary"]}
    if set(expected) != set(prim):
        raise AssertionError(f"assert_claims: expected verdicts for {sorted(expected)}, but the primary claims are "
                             f"{sorted(prim)}")
    bad = []
    for name, want in expected.items():
        ok = {want} if isinstance(want, str) else set(want)
        r = prim[name]
        if r["verdict"] not in ok:
            bad.append(f"{name}: verdict {r['verdict']!r}, expected {' or '.join(sorted(ok))}: "
                       f"{r['diff']:+.4g} [{r['lo']:+.4g}, {r['hi']:+.4g}], p_holm {r['p_holm']:.3g}, "
                       f"MDE {r['mde']:.4g}, paper {r['paper']}")
    if bad:
        raise AssertionError("; ".join(bad))
