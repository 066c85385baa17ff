"""The sweep figure of a reproduction: each variant's gain over the baseline against the data knob."""
from __future__ import annotations

import math
from numbers import Real

__all__ = ["sweep_figure"]


def sweep_figure(rows: list[dict], extra: dict | None = None, ax=None, title: str | None = None,
                 figsize=(5.5, 3.6)):
    """Plot ``summarize`` rows: for every non-baseline variant, its paired difference to the baseline
    (``diff``) against the knob value, with its interval (``diff_lo``..``diff_hi``) as a band.

    ``rows``: from ``paperlib.repro.summarize(points, metric, by=<knob>, baseline=<variant>)``.
    ``extra``: optional ``{label: y}`` lines on the same axes, e.g. a probe reference minus the
    baseline: a number draws a horizontal line, a sequence (one y per knob value, in the rows'
    order) or a ``{knob value: y}`` dict a dashed series. A dotted line marks 0 (no gain).
    Numeric knob values are placed on a numeric axis, others at equal spacing.
    Lines on the axes: one per variant, one per ``extra`` entry, plus the zero line.
    Returns the matplotlib ``Figure``. Raises ``ValueError`` when no row has a difference.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    else:
        fig = ax.figure
    diffs = [r for r in rows if r.get("diff") is not None]
    if not diffs:
        raise ValueError("sweep_figure: no row has a paired difference (summarize with a baseline)")
    r0 = diffs[0]
    values = []
    for r in rows:
        if r["value"] not in values:
            values.append(r["value"])
    numeric = all(isinstance(v, Real) and not isinstance(v, bool) for v in values)
    pos = {v: (float(v) if numeric else float(i)) for i, v in enumerate(values)}
    variants = []
    for r in diffs:
        if r["variant"] not in variants:
            variants.append(r["variant"])
    nan = lambda x: math.nan if x is None else x  # noqa: E731
    for v in variants:
        rs = sorted((r for r in diffs if r["variant"] == v), key=lambda r: pos[r["value"]])
        xs = [pos[r["value"]] for r in rs]
        (line,) = ax.plot(xs, [r["diff"] for r in rs], marker="o", label=v)
        ax.fill_between(xs, [nan(r["diff_lo"]) for r in rs], [nan(r["diff_hi"]) for r in rs],
                        color=line.get_color(), alpha=0.2, linewidth=0)
    for label, y in (extra or {}).items():
        if isinstance(y, Real):
            ax.axhline(float(y), linestyle="--", color="gray", label=label)
        else:
            pairs = sorted(y.items(), key=lambda kv: pos[kv[0]]) if isinstance(y, dict) else list(zip(values, y))
            if not isinstance(y, dict) and len(list(y)) != len(values):
                raise ValueError(f"sweep_figure: extra[{label!r}] has {len(list(y))} values for {len(values)} knob values")
            ax.plot([pos[k] for k, _ in pairs], [float(val) for _, val in pairs], linestyle="--", marker="s",
                    label=label)
    ax.axhline(0.0, color="black", linestyle=":", linewidth=1, label="_no gain")
    if not numeric:
        ax.set_xticks([pos[v] for v in values], [str(v) for v in values])
    ax.set_xlabel(r0["by"] if r0["by"] is not None else "")
    ax.set_ylabel(f"{r0['metric']}: gain over {r0['baseline']}")
    pct = round(100 * r0["level"])
    ax.set_title(title if title is not None else f"paired difference, {pct}% interval over seeds", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
