"""Per-update time of notebook 05's memory-bank browser in the kernel (goal: well under 0.1 s per control
change here, <= 0.25 s end to end in JupyterLab on 2 cores).

    python -m tests.benchmarks.bench_memory_bank_widget [--repeats 5]

One update is what :class:`paperlib.viz.widgets.Explorer` does when a control changes: ``compute``
(:func:`paperlib.viz.memory_bank.bank_compute`), ``render`` (:func:`~paperlib.viz.memory_bank.bank_render`,
the figure updated in place) and the PNG at 80 dpi that goes to the front end; the benchmark moves each
control of the real browser in turn (step, sequence, memory, bank, item frame, temperature, action), each
``--repeats`` times, and prints per control the median and the worst update, the split of the median update
(compute / render / PNG and display), then a one-line summary. Two records: the widget gallery's
(:func:`paperlib.viz.gallery.memory_bank_record`: ``delta_t = 4``, 6 future steps, NTU25) and one of the
notebook's shapes (8 classes, ``delta_t = 8``, 30 future steps, 17 joints, 10 to 30 items per bank). The
browser adds the widget round trip and the image's decoding: ``tests/test_browser_widgets.py`` measures that
in JupyterLab. The machine is shared: rerun when the numbers look off.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import time

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from paperlib.skeleton import H36M17, NTU25  # noqa: E402
from paperlib.viz.gallery import memory_bank_record  # noqa: E402
from paperlib.viz.memory_bank import memory_bank_browser  # noqa: E402

CONTROLS = ("step", "sequence", "memory", "bank", "item_frame", "temperature", "action")


def lesson_record(I=8, S=8, dt=8, P=30, t_obs=15, V=17, seed=0):
    """A record with notebook 05's shapes (random content): ``I`` classes, one test window per class."""
    rng = np.random.default_rng(seed)
    counts = {m: rng.integers(10, 31, I) for m in ("short", "long")}
    items = {m: [0.3 * rng.normal(size=(n, dt, V, 3)) for n in c] for m, c in counts.items()}
    sizes = {m: [rng.integers(1, 100, n) for n in c] for m, c in counts.items()}
    bank_label = {"predicted": np.arange(S) % I, "wrong": (np.arange(S) + 1) % I}
    logits = {b: {m: [rng.normal(size=(P, counts[m][lab[s]])) for s in range(S)] for m in counts}
              for b, lab in bank_label.items()}
    attention = {b: {m: [np.exp(x) / np.exp(x).sum(1, keepdims=True) for x in v] for m, v in d.items()}
                 for b, d in logits.items()}
    return {"class_names": [f"class {i}" for i in range(I)], "delta_t": dt, "items": items, "sizes": sizes,
            "titles": [f"test {s}" for s in range(S)], "true_label": np.arange(S) % I, "bank_label": bank_label,
            "attention": attention, "logits": logits, "obs_joints": 0.3 * rng.normal(size=(S, t_obs, V, 3)),
            "pred_joints": {b: 0.3 * rng.normal(size=(S, P, V, 3)) for b in bank_label},
            "true_joints": 0.3 * rng.normal(size=(S, P, V, 3))}


def _next_value(ctrl):
    """A value of ``ctrl`` other than its current one (the next option, the next slider position)."""
    if hasattr(ctrl, "options"):
        vals = [o[1] if isinstance(o, tuple) else o for o in ctrl.options]
        return vals[(vals.index(ctrl.value) + 1) % len(vals)]
    if type(ctrl).__name__ == "FloatLogSlider":
        return 3.0 if ctrl.value < 1.5 else 0.3
    return ctrl.value + 1 if ctrl.value < ctrl.max else ctrl.min


def bench(ex, repeats: int) -> dict:
    """``control -> list of (total, compute, render) seconds`` of ``repeats`` updates each."""
    split = {}
    compute, render = ex.compute, ex.render

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

    ex.compute, ex.render = timed_compute, timed_render
    out = {c: [] for c in CONTROLS}
    for _ in range(repeats):
        for c in CONTROLS:
            ctrl = ex.controls[c]
            value = _next_value(ctrl)
            t0 = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):        # no front end: the Output prints a repr
                ctrl.value = value                                  # -> Explorer.update
            out[c].append((time.perf_counter() - t0, split["compute"], split["render"]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    import matplotlib.pyplot as plt

    cases = {"gallery record": (memory_bank_record, NTU25), "notebook shapes": (lesson_record, H36M17)}
    summary = []
    for name, (make, skel) in cases.items():
        with contextlib.redirect_stdout(io.StringIO()):
            t0 = time.perf_counter()
            ex = memory_bank_browser(make(), skel)
            first = time.perf_counter() - t0
        bench(ex, 1)                                                # warm-up (fonts, caches, the background)
        res = bench(ex, a.repeats)
        print(f"{name}: first view (builds the figure) {first:.3f} s; per control change, median / worst of "
              f"{a.repeats} (split of the median: compute + render + PNG & display):")
        every = []
        for c, rows in res.items():
            tot = np.array([r[0] for r in rows])
            med = rows[int(np.argsort(tot)[len(tot) // 2])]
            every += tot.tolist()
            print(f"  {c:12s} {np.median(tot):.3f} / {tot.max():.3f} s  ({med[1]:.3f} + {med[2]:.3f} + "
                  f"{med[0] - med[1] - med[2]:.3f})")
        summary.append(f"{name} median {np.median(every):.3f} s, worst {np.max(every):.3f} s")
        plt.close("all")
    print(f"memory-bank browser, Explorer.update per control change ({len(CONTROLS)} controls x {a.repeats}): "
          + "; ".join(summary))


if __name__ == "__main__":
    main()
