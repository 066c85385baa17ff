"""From point files to the table that decides: intervals over seeds, paired differences, verdicts.

``summarize`` turns the points of a grid into rows, one per (knob value, variant): the mean of
a metric over seeds with its t-interval, the paired difference to the baseline (same seeds) with
its t-interval and the verdict read from it (``paperlib.stats``). ``results_table`` formats rows
for a notebook (HTML, Markdown and plain text, deterministic); ``assert_verdict`` is the
notebook's assertion on one row.
"""
from __future__ import annotations

import html
import math

import numpy as np

from ..stats import mean_ci, paired_bootstrap_ci, paired_diff_ci, verdict

__all__ = ["summarize", "results_table", "Table", "find_row", "assert_verdict", "PAPER_LABEL", "sign_word"]

PAPER_LABEL = "paper (different data/scale)"


def _ordered(seq):
    out = []
    for x in seq:
        if x not in out:
            out.append(x)
    return out


def summarize(points: list[dict], metric: str, by: str | None = None, baseline: str | None = None,
              direction=+1, level: float = 0.95, where: dict | None = None, items: bool = False,
              item_metric: str | None = None) -> list[dict]:
    """Rows per (value of knob ``by``, variant) for one ``metric``.

    ``points``: point dicts (``load_points``). ``by``: the knob on the x axis (``None``: one group).
    ``where``: ``{knob: value}`` keeps only matching points (needed when the grid has knobs besides
    ``by``: one seed may appear once per group, else ``ValueError``). ``direction``: +1 when the
    paper claims a *higher* metric for its variant, -1 for *lower* (errors), or ``{variant: +-1}``.
    NaN metric values are left out (``n`` counts the others).

    Each row: ``{"metric", "by", "value", "variant", "baseline", "n", "seeds", "mean", "lo", "hi",
    "n_pairs", "pair_seeds", "diffs", "diff", "diff_lo", "diff_hi", "verdict", "direction", "level"}``
    (``diffs``: the per-seed differences over ``pair_seeds``, for :func:`paperlib.repro.claim`). ``mean, lo, hi``:
    ``mean_ci`` over seeds; ``diff*``: ``paired_diff_ci(variant, baseline)`` over the seeds both
    have (``None`` on the baseline's own rows and without a baseline); ``verdict``: ``verdict(diff_lo,
    diff_hi, direction)`` or ``None`` with fewer than 2 pairs. With ``items=True`` and ``per_item``
    in the points: ``item_diff, item_lo, item_hi, item_verdict`` from ``paired_bootstrap_ci`` over
    the test items of all paired seeds pooled (item noise only; the seed interval is the one that
    decides); ``item_metric`` names the per-item list when it differs from ``metric`` (e.g.
    ``metric="acc@0.2"``, ``item_metric="correct@0.2"``). Raises ``ValueError`` for an unknown ``by``/``baseline``/metric or mixed groups.
    """
    pts = list(points)
    if where:
        pts = [p for p in pts if all(p["knobs"].get(k) == v for k, v in where.items())]
    if not pts:
        raise ValueError("summarize: no points (after the 'where' filter)")
    if by is not None and any(by not in p["knobs"] for p in pts):
        raise ValueError(f"summarize: by={by!r} is not a knob of the points (knobs: {sorted(pts[0]['knobs'])})")
    variants = _ordered(v for p in pts for v, ms in p["metrics"].items() if metric in ms)
    if not variants:
        raise ValueError(f"summarize: no variant reports metric {metric!r}; metrics: "
                         f"{sorted({m for p in pts for ms in p['metrics'].values() for m in ms})}")
    if baseline is not None:
        if baseline not in variants:
            raise ValueError(f"summarize: baseline {baseline!r} has no metric {metric!r}; variants: {variants}")
        variants = [baseline] + [v for v in variants if v != baseline]
    values = _ordered(p["knobs"][by] for p in pts) if by is not None else [None]
    rows = []
    for value in values:
        group = [p for p in pts if by is None or p["knobs"][by] == value]
        seeds = [p["seed"] for p in group]
        if len(set(seeds)) != len(seeds):
            others = sorted({k for p in group for k in p["knobs"] if k != by})
            raise ValueError(f"summarize: at {by}={value!r} a seed occurs more than once: knobs {others} vary too; "
                             f"pick one value with where={{...}}")
        per_var = {v: {p["seed"]: p["metrics"][v][metric] for p in group
                       if v in p["metrics"] and metric in p["metrics"][v]
                       and p["metrics"][v][metric] is not None and not math.isnan(p["metrics"][v][metric])}
                   for v in variants}
        for v in variants:
            d = direction.get(v, +1) if isinstance(direction, dict) else direction
            xs = per_var[v]
            if not xs:
                continue
            m, lo, hi = mean_ci(list(xs.values()), level)
            row = {"metric": metric, "by": by, "value": value, "variant": v, "baseline": baseline,
                   "n": len(xs), "seeds": sorted(xs), "mean": m, "lo": lo, "hi": hi, "n_pairs": 0,
                   "pair_seeds": [], "diffs": [], "diff": None, "diff_lo": None, "diff_hi": None, "verdict": None, "direction": d,
                   "level": level}
            if baseline is not None and v != baseline:
                common = sorted(set(xs) & set(per_var[baseline]))
                row["n_pairs"] = len(common)
                row["pair_seeds"] = common
                row["diffs"] = [float(xs[s] - per_var[baseline][s]) for s in common]
                if common:
                    dm, dlo, dhi = paired_diff_ci([xs[s] for s in common], [per_var[baseline][s] for s in common],
                                                  level)
                    row.update(diff=dm, diff_lo=dlo, diff_hi=dhi,
                               verdict=verdict(dlo, dhi, d) if len(common) >= 2 else None)
                if items:
                    row.update(_item_interval(group, common, v, baseline, item_metric or metric, level, d))
            rows.append(row)
    return rows


def _item_interval(group, seeds, v, baseline, metric, level, d):
    a, b = [], []
    for p in group:
        per = p.get("per_item") or {}
        if p["seed"] in seeds and metric in per.get(v, {}) and metric in per.get(baseline, {}):
            a += per[v][metric]
            b += per[baseline][metric]
    if len(a) < 2:
        return {"item_diff": None, "item_lo": None, "item_hi": None, "item_verdict": None}
    a, b = np.asarray(a, float), np.asarray(b, float)
    keep = ~(np.isnan(a) | np.isnan(b))
    dm, lo, hi = paired_bootstrap_ci(a[keep], b[keep], level=level)
    return {"item_diff": dm, "item_lo": lo, "item_hi": hi, "item_verdict": verdict(lo, hi, d)}


def find_row(rows: list[dict], variant: str, value=None) -> dict:
    """The one row of ``variant`` (at knob value ``value`` when the rows have a ``by`` knob).
    Raises ``KeyError`` listing what exists when there is not exactly one."""
    hits = [r for r in rows if r["variant"] == variant and (r["by"] is None or value is None or r["value"] == value)]
    if len(hits) != 1:
        have = sorted({(r["variant"], r["value"]) for r in rows}, key=str)
        raise KeyError(f"find_row: {len(hits)} rows for variant={variant!r}, value={value!r}; rows: {have}")
    return hits[0]


def _interval_text(r: dict, digits: int = 3) -> str:
    if r["diff"] is None:
        return f"{r['variant']} vs {r['baseline']}: no paired seeds"
    return (f"{r['variant']} - {r['baseline']} on {r['metric']}"
            + (f" at {r['by']}={r['value']}" if r["by"] is not None else "")
            + f": {r['diff']:+.{digits}f} [{r['diff_lo']:+.{digits}f}, {r['diff_hi']:+.{digits}f}] "
            f"({round(100 * r['level'])}% t-interval, n={r['n_pairs']} paired seeds)")


def assert_verdict(row: dict, expected) -> str:
    """Assert that a ``summarize`` row's verdict is ``expected`` (a verdict string, or a collection
    of acceptable ones); returns the verdict. The ``AssertionError`` message states the interval.

    A row without a verdict (the baseline itself, fewer than 2 paired seeds) always fails.
    """
    ok = {expected} if isinstance(expected, str) else set(expected)
    got = row.get("verdict")
    if got not in ok:
        raise AssertionError(f"verdict {got!r}, expected {' or '.join(map(repr, sorted(ok)))}: {_interval_text(row)}")
    return got


def _num(x, digits, sign=False):
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


class Table:
    """A small table that a notebook displays: ``_repr_html_`` (JupyterLab, nbviewer),
    ``_repr_markdown_`` and plain text (``str``). Cells are strings; formatting is deterministic."""

    def __init__(self, columns: list[str], rows: list[list[str]], caption: str = ""):
        self.columns, self.rows, self.caption = list(columns), [list(map(str, r)) for r in rows], caption

    def markdown(self) -> str:
        lines = ([f"**{self.caption}**", ""] if self.caption else [])
        lines += ["| " + " | ".join(self.columns) + " |", "| " + " | ".join("---" for _ in self.columns) + " |"]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in self.rows]
        return "\n".join(lines)

    def html(self) -> str:
        out = ["<table>"]
        if self.caption:
            out.append(f"<caption>{html.escape(self.caption)}</caption>")
        out.append("<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in self.columns) + "</tr></thead>")
        out.append("<tbody>")
        for r in self.rows:
            out.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>")
        out.append("</tbody></table>")
        return "\n".join(out)

    def text(self) -> str:
        widths = [max(len(c), *(len(r[i]) for r in self.rows)) if self.rows else len(c)
                  for i, c in enumerate(self.columns)]
        fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
        lines = ([self.caption] if self.caption else []) + [fmt(self.columns), fmt(["-" * w for w in widths])]
        return "\n".join(lines + [fmt(r) for r in self.rows])

    _repr_html_ = html
    _repr_markdown_ = markdown

    def __str__(self):
        return self.text()

    __repr__ = __str__


def sign_word(lo: float, hi: float) -> str:
    """A neutral reading of an interval: ``"above 0"``, ``"below 0"`` or ``"includes 0"``."""
    return "above 0" if lo > 0 else ("below 0" if hi < 0 else "includes 0")


def results_table(rows: list[dict], paper: dict | None = None, digits: int = 3, caption: str | None = None) -> Table:
    """Mean +- half-width of the 95% interval over seeds, the paired difference to the baseline with
    its interval, and where that interval lies (``"above 0"``, ``"below 0"``, ``"includes 0"``: a
    plain reading, no verdict: verdicts are for the paper's claims, decided as a family by
    :func:`paperlib.repro.decide`), one line per ``summarize`` row.

    Given the rows of :func:`paperlib.repro.decide` instead (claims), it returns
    :func:`paperlib.repro.claims_table`: per claim primary or exploratory, the raw and the
    Holm-adjusted decision, the minimum detectable effect and the paper's effect.

    ``paper``: optional ``{variant: number or text}`` (or ``{(knob value, variant): ...}``), shown in a
    column labelled ``"paper (different data/scale)"``: the paper's own numbers come from other data
    at another scale and are a reference for direction, not for the value. ``caption`` defaults to
    the metric and the interval's definition. Returns a ``Table``.
    """
    if not rows:
        raise ValueError("results_table: no rows")
    if "primary" in rows[0] and "p_holm" in rows[0]:
        from .claims import claims_table

        return claims_table(rows, caption=caption)
    by, level = rows[0]["by"], rows[0]["level"]
    pct = round(100 * level)
    cols = ([by] if by is not None else []) + ["variant", "n (seeds)", f"mean ± {pct}% CI",
                                                 f"Δ vs {rows[0]['baseline']} (paired, {pct}% CI)", "interval"]
    if paper is not None:
        cols.append(PAPER_LABEL)
    body = []
    for r in rows:
        if math.isnan(r["lo"]):
            mean = f"{_num(r['mean'], digits)} (one seed)"
        else:
            mean = f"{_num(r['mean'], digits)} ± {_num((r['hi'] - r['lo']) / 2, digits)}"
        if r["baseline"] is None:
            diff, verd = "", ""
        elif r["variant"] == r["baseline"]:
            diff, verd = "(baseline)", ""
        elif r["diff"] is None:
            diff, verd = "no paired seeds", ""
        elif r["diff_lo"] is None or math.isnan(r["diff_lo"]):
            diff, verd = f"{_num(r['diff'], digits, True)} (one seed)", "n < 2"
        else:
            diff = (f"{_num(r['diff'], digits, True)} [{_num(r['diff_lo'], digits, True)}, "
                    f"{_num(r['diff_hi'], digits, True)}]")
            verd = sign_word(r["diff_lo"], r["diff_hi"])
        line = ([str(r["value"])] if by is not None else []) + [r["variant"], str(r["n"]), mean, diff, verd]
        if paper is not None:
            pv = paper.get((r["value"], r["variant"]), paper.get(r["variant"], ""))
            line.append(pv if isinstance(pv, str) else f"{pv:g}")
        body.append(line)
    if caption is None:
        caption = (f"{rows[0]['metric']}: mean over seeds ± half-width of the {pct}% t-interval; "
                   f"Δ: paired difference over the same seeds")
    return Table(cols, body, caption)
