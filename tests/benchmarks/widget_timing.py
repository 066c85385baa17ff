"""What the widget benchmarks (``bench_attention_widget``, ``bench_era_widget``, ``bench_memory_bank_widget``,
``bench_ups_widgets``) share: timing :class:`paperlib.viz.widgets.Explorer` updates control change by control
change, with the split of each change into ``compute``, ``render`` and the PNG that goes to the front end
(:func:`paperlib.viz.widgets.figure_png`), the table of median and worst changes per control, and loading
another copy of a widget module (e.g. the previous version) to time instead.

Not a benchmark itself (``make bench`` runs ``bench_*.py``).
"""
from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import time
from typing import NamedTuple

import numpy as np


class Change(NamedTuple):
    """One control change, in seconds: ``total`` wall-clock time; ``compute``, ``render``, ``png`` summed over the
    updates it caused; ``cpu`` the process's CPU time (a loaded machine inflates it less than ``total``);
    ``updates`` how many ``Explorer.update`` it caused."""
    total: float
    compute: float
    render: float
    cpu: float
    png: float
    updates: int


def load_module(name: str, path=None):
    """The module ``name`` (e.g. ``"paperlib.viz.era"``), or the copy of it at ``path``, imported as a module of
    the same package (``paperlib.viz._bench_era``: its relative imports work, so do absolute ones)."""
    if path is None:
        return importlib.import_module(name)
    package, _, leaf = name.rpartition(".")
    spec = importlib.util.spec_from_file_location(f"{package}._bench_{leaf}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def next_value(ctrl):
    """A value of ``ctrl`` other than its current one: the next option, or the next slider position (after the
    last one, the first)."""
    if hasattr(ctrl, "options"):
        vals = [o[1] if isinstance(o, tuple) else o for o in ctrl.options]
        return vals[(vals.index(ctrl.value) + 1) % len(vals)]
    return ctrl.value + 1 if ctrl.value < ctrl.max else ctrl.min


def _quiet_set(ctrl, value):
    with contextlib.redirect_stdout(io.StringIO()):                 # no front end: the Output prints a repr
        ctrl.value = value                                          # -> Explorer.update


def time_changes(ex, controls, repeats: int, *, next_value=next_value, mode=None) -> dict:
    """``control -> list of Change`` of ``repeats`` rounds of changes of each of ``controls`` in turn, each to
    ``next_value(ctrl)``. A control ``"name@value"`` moves ``name`` with the control ``mode`` (e.g. a view or a
    task selector) set to ``value`` first (not timed)."""
    import paperlib.viz.widgets as widgets

    split = {}
    compute, render, png = ex.compute, ex.render, widgets.figure_png

    def timed(key, fn):
        def wrapped(*args, **kw):
            t0 = time.perf_counter()
            out = fn(*args, **kw)
            split[key] = split.get(key, 0.0) + time.perf_counter() - t0
            return out
        return wrapped

    ex.compute, ex.render = timed("compute", compute), timed("render", render)   # Explorer passes fig= (from __init__)
    widgets.figure_png = timed("png", png)                                       # what Explorer.update calls
    out = {c: [] for c in controls}
    try:
        for _ in range(repeats):
            for c in controls:
                name, _, view = c.partition("@")
                if view and ex.controls[mode].value != view:
                    _quiet_set(ex.controls[mode], view)
                ctrl = ex.controls[name]
                value = next_value(ctrl)
                split.clear()
                n0 = ex.updates
                t0, c0 = time.perf_counter(), time.process_time()
                _quiet_set(ctrl, value)
                out[c].append(Change(time.perf_counter() - t0, split.get("compute", 0.0), split.get("render", 0.0),
                                     time.process_time() - c0, split.get("png", 0.0), ex.updates - n0))
    finally:
        widgets.figure_png = png
        ex.compute, ex.render = compute, render
    return out


def report(name, first, res, repeats, *, width, built="first view (builds the figure)", png_cpu=True,
           updates=False) -> str:
    """Print one record's table (per control the median and the worst change, the split of the median one);
    return its summary. ``png_cpu``: split the PNG from the display and add the median CPU time (else the split
    is compute + render + PNG & display); ``updates``: add the number of updates of each change."""
    split = "compute + render + PNG + display; median CPU time" if png_cpu else "compute + render + PNG & display"
    print(f"{name}: {built} {first:.3f} s; per control change, median / worst of {repeats} (split of the median: "
          f"{split}{'; updates' if updates else ''}):")
    every, cpu = [], []
    for c, rows in res.items():
        tot = np.array([r.total for r in rows])
        med = rows[int(np.argsort(tot)[len(tot) // 2])]
        every += tot.tolist()
        cpu += [r.cpu for r in rows]
        if png_cpu:
            parts = (f"{med.compute:.3f} + {med.render:.3f} + {med.png:.3f} + "
                     f"{med.total - med.compute - med.render - med.png:.3f}; "
                     f"cpu {np.median([r.cpu for r in rows]):.3f}")
        else:
            parts = f"{med.compute:.3f} + {med.render:.3f} + {med.total - med.compute - med.render:.3f}"
        if updates:
            parts += f"; updates {'/'.join(str(r.updates) for r in rows)}"
        print(f"  {c:{width}s} {np.median(tot):.3f} / {tot.max():.3f} s  ({parts})")
    summary = f"{name} median {np.median(every):.3f} s, worst {np.max(every):.3f} s"
    if png_cpu:
        kernel = [r.compute + r.render + r.png for rows in res.values() for r in rows]
        summary += f" (cpu median {np.median(cpu):.3f} s; compute + render + PNG median {np.median(kernel):.3f} s)"
    return summary


def run_case(name, build, controls, repeats: int, *, next_value=next_value, mode=None, **report_kw) -> str:
    """Build an explorer (``build()``, timed: its first view), warm it up with one round of changes (fonts,
    caches, the background), time ``repeats`` rounds (:func:`time_changes`), print the table (:func:`report`,
    with ``report_kw``), close the figures; return the summary."""
    import matplotlib.pyplot as plt

    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        ex = build()
        first = time.perf_counter() - t0
    time_changes(ex, controls, 1, next_value=next_value, mode=mode)
    res = time_changes(ex, controls, repeats, next_value=next_value, mode=mode)
    summary = report(name, first, res, repeats, **report_kw)
    plt.close("all")
    return summary
