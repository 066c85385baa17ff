"""Per-update time of notebook 01's ERA expert-retrieval explorer in the kernel (goal: well under 0.1 s per
control change here, <= 0.25 s end to end in JupyterLab on 2 cores).

    python -m tests.benchmarks.bench_era_widget [--repeats 5] [--impl PATH]

One update is what :class:`paperlib.viz.widgets.Explorer` does when a control changes: ``compute``
(:func:`paperlib.viz.era.era_compute`), ``render`` (:func:`~paperlib.viz.era.era_render`, the figure updated
in place) and the PNG at 80 dpi that goes to the front end (:func:`paperlib.viz.widgets.figure_png`), then its
display in the ``Output``. The benchmark moves each control of the real explorer in turn (sample, ratio, module,
bank, expert), each ``--repeats`` times, and prints per control the median and the worst update, the split of
the median update (compute + render + PNG + display) and the median CPU time of an update (less sensitive to a
loaded machine than the wall-clock times), then a one-line summary. Two records: the widget gallery's (the
seeded arrays of :mod:`paperlib.viz.gallery`'s ERA widget: 40 samples, 10 ratios, modules of 4 and 3 banks,
5 experts, no counterfactual) and one of the notebook's shapes (994 test samples, 10 ratios, modules of 19 and
6 banks, 5 experts, ``K = 16``, 17 classes, 2 bodies of 25 joints, counterfactuals for 12 samples; the sample
control then alternates between samples with and without a recorded counterfactual). ``--impl``: a copy of
``paperlib/viz/era.py`` to time instead (e.g. the previous version: ``git show HEAD:paperlib/viz/era.py`` with
its relative imports made absolute). The browser adds the widget round trip and the image's decoding:
``tests/test_browser_widgets.py`` measures that in JupyterLab. The machine is shared: rerun when the numbers
look off.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import time

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

CONTROLS = ("sample", "ratio", "module", "bank", "expert")


def gallery_record():
    """The record of the widget gallery's ERA explorer (:mod:`paperlib.viz.gallery`, the same seeded arrays)."""
    rng = np.random.default_rng(0)
    N, R, M, K, V = 40, 10, 5, 8, 25
    ds = (4, 3)
    queries = [rng.normal(size=(N, R, d, K)) for d in ds]
    keys = [rng.normal(size=(d, M, K)) for d in ds]
    return {
        "modules": ["gcn 1x1", "tcn 5x1"], "queries": queries, "keys": keys,
        "scores": [np.einsum("nrpk,pmk->nrpm", q, k) for q, k in zip(queries, keys)],
        "usage": [rng.integers(0, 100, size=(d, M)).astype(float) for d in ds],
        "beta": [rng.uniform(0.05, 0.15, size=(d, M)) for d in ds],
        "labels": rng.integers(0, 6, N), "class_names": [f"c{i}" for i in range(6)],
        "ratios": np.round(np.arange(1, R + 1) / R, 1), "poses": rng.normal(size=(N, R, 2, V, 3)),
    }


def lesson_record(N=994, R=10, ds=(19, 6), M=5, K=16, C=17, S=12, V=25, seed=0):
    """A record with notebook 01's shapes (random content, float32 like the recorded tensors): ``N`` test
    samples, modules of ``ds`` banks, ``M`` experts, counterfactuals for ``S`` samples."""
    rng = np.random.default_rng(seed)
    queries = [rng.normal(size=(N, R, d, K)).astype(np.float32) for d in ds]
    keys = [rng.normal(size=(d, M, K)).astype(np.float32) for d in ds]
    poses = (0.3 * rng.normal(size=(N, R, 2, V, 3))).astype(np.float32)
    poses[rng.random(N) < 0.8, :, 1] = 0                                  # most sequences: one body
    return {
        "modules": ["gcn", "tcn"], "queries": queries, "keys": keys,
        "scores": [np.einsum("nrpk,pmk->nrpm", q, k) for q, k in zip(queries, keys)],
        "usage": [rng.integers(0, 100, size=(d, M)).astype(float) for d in ds],
        "beta": [rng.uniform(0.05, 0.15, size=(d, M)) for d in ds],
        "labels": rng.integers(0, C, N), "class_names": [f"class {i}" for i in range(C)],
        "ratios": np.round(np.arange(1, R + 1) / R, 1), "poses": poses,
        "counterfactual": {"samples": np.linspace(0, N - 1, S).astype(int),
                           "logits": [rng.normal(size=(S, R, d, M, C)).astype(np.float32) for d in ds],
                           "factual": rng.normal(size=(S, R, C)).astype(np.float32)},
    }


def _next_value(ctrl, cf_samples=()):
    """A value of ``ctrl`` other than its current one (the next option, the next slider position; for the
    sample slider of a record with counterfactuals, alternately the next recorded sample and the one after)."""
    if hasattr(ctrl, "options"):
        vals = [o[1] if isinstance(o, tuple) else o for o in ctrl.options]
        return vals[(vals.index(ctrl.value) + 1) % len(vals)]
    if ctrl.description == "sample" and len(cf_samples) and ctrl.value not in cf_samples:
        later = [s for s in cf_samples if s > ctrl.value]
        return int(later[0] if later else cf_samples[0])
    return ctrl.value + 1 if ctrl.value < ctrl.max else ctrl.min


def bench(ex, repeats: int, cf_samples=()) -> dict:
    """``control -> list of (total, compute, render, cpu, png) seconds`` of ``repeats`` updates each (``cpu``:
    the process's CPU time of the update, which a loaded machine inflates less than the wall-clock total;
    ``png``: :func:`paperlib.viz.widgets.figure_png`)."""
    import paperlib.viz.widgets as widgets

    split = {}
    compute, render, png = ex.compute, ex.render, widgets.figure_png

    def timed_compute(**kw):
        t0 = time.perf_counter()
        out = compute(**kw)
        split["compute"] = time.perf_counter() - t0
        return out

    def timed_render(d, **kw):                                     # Explorer passes fig= (decided at __init__)
        t0 = time.perf_counter()
        out = render(d, **kw)
        split["render"] = time.perf_counter() - t0
        return out

    def timed_png(fig, dpi=None):
        t0 = time.perf_counter()
        out = png(fig, dpi)
        split["png"] = time.perf_counter() - t0
        return out

    ex.compute, ex.render = timed_compute, timed_render
    widgets.figure_png = timed_png                                  # what Explorer.update calls
    out = {c: [] for c in CONTROLS}
    try:
        for _ in range(repeats):
            for c in CONTROLS:
                ctrl = ex.controls[c]
                value = _next_value(ctrl, cf_samples)
                t0, c0 = time.perf_counter(), time.process_time()
                with contextlib.redirect_stdout(io.StringIO()):    # no front end: the Output prints a repr
                    ctrl.value = value                              # -> Explorer.update
                out[c].append((time.perf_counter() - t0, split["compute"], split["render"],
                               time.process_time() - c0, split["png"]))
    finally:
        widgets.figure_png = png
        ex.compute, ex.render = compute, render
    return out


def _era_module(path=None):
    if path is None:
        import paperlib.viz.era as era

        return era
    spec = importlib.util.spec_from_file_location("_bench_era_impl", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--impl", default=None, help="a copy of paperlib/viz/era.py to time instead (absolute imports)")
    a = ap.parse_args(argv)
    import matplotlib.pyplot as plt

    era = _era_module(a.impl)
    cases = {"gallery record": (gallery_record, 1), "notebook shapes": (lesson_record, 0)}
    summary = []
    for name, (make, sample) in cases.items():
        record = make()
        cf = record.get("counterfactual")
        cf_samples = [] if cf is None else [int(s) for s in cf["samples"]]
        with contextlib.redirect_stdout(io.StringIO()):
            t0 = time.perf_counter()
            ex = era.era_explorer(record, sample=sample, ratio=0.2)
            first = time.perf_counter() - t0
        bench(ex, 1, cf_samples)                                    # warm-up (fonts, caches, the background)
        res = bench(ex, a.repeats, cf_samples)
        print(f"{name}: first view (builds the figure) {first:.3f} s; per control change, median / worst of "
              f"{a.repeats} (split of the median: compute + render + PNG + display; median CPU time):")
        every, cpu = [], []
        for c, rows in res.items():
            tot = np.array([r[0] for r in rows])
            med = rows[int(np.argsort(tot)[len(tot) // 2])]
            every += tot.tolist()
            cpu += [r[3] for r in rows]
            print(f"  {c:8s} {np.median(tot):.3f} / {tot.max():.3f} s  ({med[1]:.3f} + {med[2]:.3f} + {med[4]:.3f} + "
                  f"{med[0] - med[1] - med[2] - med[4]:.3f}; cpu {np.median([r[3] for r in rows]):.3f})")
        kernel = [r[1] + r[2] + r[4] for rows in res.values() for r in rows]
        summary.append(f"{name} median {np.median(every):.3f} s, worst {np.max(every):.3f} s (cpu median "
                       f"{np.median(cpu):.3f} s; compute + render + PNG median {np.median(kernel):.3f} s)")
        plt.close("all")
    print(f"ERA explorer{' (' + a.impl + ')' if a.impl else ''}, Explorer.update per control change "
          f"({len(CONTROLS)} controls x {a.repeats}): " + "; ".join(summary))


if __name__ == "__main__":
    main()
