"""Per-update time of notebook 04's attention viewer in the kernel (goal: well under 0.1 s per control change
here, <= 0.25 s end to end in JupyterLab on 2 cores).

    python -m tests.benchmarks.bench_attention_widget [--repeats 5] [--impl PATH]

One update is what :class:`paperlib.viz.widgets.Explorer` does when a control changes: ``compute``
(:func:`paperlib.viz.attention.attention_compute`), ``render`` (:func:`~paperlib.viz.attention.attention_render`,
the figure updated in place where the render takes ``fig=``) and the PNG at 80 dpi that goes to the front end
(:func:`paperlib.viz.widgets.figure_png`), then its display in the ``Output``. The benchmark moves each control of
the real viewer in turn (clip, person, layer, head, frame), each ``--repeats`` times, and prints per control the
median and the worst time of the control change, the split of the median one (compute + render + PNG + display,
summed over the updates it caused), the median CPU time (less sensitive to a loaded machine than the wall-clock
times) and the number of updates one change caused (a clip change that clamps the person slider caused two
before the viewer held the slider's own update back), then a one-line summary. Two records: the widget
gallery's (the seeded arrays of :mod:`paperlib.viz.gallery`'s attention widget: 2 clips of 4 frames of
16 x 16 px, 3 RoIs, 2 layers of 2 heads, 2 x 4 x 4 cells, 4 classes) and one of the notebook's shapes
(``AT.attention_record`` of the Tx HighRes head on 8 test clips: 8 frames of 64 x 64 px, 4 RoIs, 3 layers of
2 heads, 4 x 8 x 8 cells, keys of 128 dimensions, float32, the 11 classes of the rendered data, watched
people). The person control alternates between the clip's first and last valid person, and the clip control
goes to the next clip, which every other time has fewer valid people than the person slider's value (the
clamp). ``--impl``: a copy of ``paperlib/viz/attention.py`` to time instead (e.g. the previous
version: ``git show HEAD:paperlib/viz/attention.py`` with its relative imports made absolute). The browser adds
the widget round trip and the image's decoding: ``tests/test_browser_widgets.py`` measures that in JupyterLab.
The machine is shared: rerun when the numbers look off.
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

CONTROLS = ("clip", "person", "layer", "head", "frame")


def gallery_record() -> dict:
    """The record of the widget gallery's attention viewer (:mod:`paperlib.viz.gallery`, the same seeded arrays)."""
    rng = np.random.default_rng(0)
    N, T, H, W, R, L, HD, TP, HP, WP, D, C = 2, 4, 16, 16, 3, 2, 2, 2, 4, 4, 5, 4
    attn = np.zeros((N, L, HD, R, TP, HP, WP))
    for l in range(L):
        for h in range(HD):
            for r in range(R):
                attn[:, l, h, r, h % TP, r, l + h] = 1.0
    attn += 0.05 * rng.uniform(size=attn.shape)
    return {
        "frames": rng.integers(0, 255, (N, T, H, W, 3), dtype=np.uint8),
        "boxes": np.tile(np.array([2.0, 2.0, 8.0, 12.0]), (N, R, 1)),
        "valid": np.array([[True, True, True], [True, True, False]]), "attn": attn,
        "keys": rng.normal(size=(N, L, HD, TP, HP, WP, D)),
        "probs": rng.uniform(size=(N, R, C)), "labels": (rng.uniform(size=(N, R, C)) > 0.5).astype(np.uint8),
        "class_names": ["stand", "watch (a person)", "hold (an object)", "walk"],
        "context": ("watch (a person)", "hold (an object)"),
    }


def lesson_record(N=8, T=8, S=64, R=4, L=3, HD=2, TP=4, HP=8, D=128, seed=0) -> dict:
    """A record with notebook 04's shapes (random content, float32 like ``AT.attention_record``'s): ``N`` clips
    of ``T`` frames of ``S x S`` px, ``R`` RoIs (all valid in even clips, 2 in odd ones), ``L`` layers of ``HD`` heads over
    ``TP x HP x HP`` cells, keys of ``D`` dimensions, the rendered data's 11 classes and context classes."""
    from paperlib.data.video import MULTI_CLASS_NAMES
    from paperlib.papers.action_transformer import CONTEXT_CLASSES

    rng = np.random.default_rng(seed)
    C = len(MULTI_CLASS_NAMES)
    attn = rng.random((N, L, HD, R, TP, HP, HP)).astype(np.float32) ** 4
    attn /= attn.sum((-3, -2, -1), keepdims=True)
    xy = rng.uniform(0, S - 24, (N, R, 2))
    wh = rng.uniform(8, 22, (N, R, 2))
    valid = np.arange(R)[None] < np.where(np.arange(N) % 2, min(2, R), R)[:, None]
    targets = np.where(rng.random((N, R)) < 0.6, rng.integers(0, R, (N, R)), -1)
    return {"frames": rng.integers(0, 255, (N, T, S, S, 3), dtype=np.uint8),
            "boxes": np.concatenate([xy, xy + wh], -1).astype(np.float32), "valid": valid, "attn": attn,
            "keys": rng.normal(size=(N, L, HD, TP, HP, HP, D)).astype(np.float32),
            "probs": rng.random((N, R, C)).astype(np.float32),
            "labels": (rng.random((N, R, C)) > 0.7).astype(np.uint8), "class_names": list(MULTI_CLASS_NAMES),
            "context": [c for c in CONTEXT_CLASSES if c in MULTI_CLASS_NAMES], "targets": targets}


def _next_value(ctrl):
    """A value of ``ctrl`` other than its current one (the next option, the next slider position; the person
    slider goes to its last person, then back to the first, so that the next clip change may clamp it)."""
    if hasattr(ctrl, "options"):
        vals = [o[1] if isinstance(o, tuple) else o for o in ctrl.options]
        return vals[(vals.index(ctrl.value) + 1) % len(vals)]
    if ctrl.description == "person":
        return ctrl.max if ctrl.value < ctrl.max else ctrl.min
    return ctrl.value + 1 if ctrl.value < ctrl.max else ctrl.min


def bench(ex, repeats: int) -> dict:
    """``control -> list of (total, compute, render, cpu, png, updates)`` of ``repeats`` control changes each
    (seconds; ``compute``, ``render``, ``png`` summed over the updates a change caused; ``cpu``: the process's CPU
    time of the change; ``updates``: how many ``Explorer.update`` it caused)."""
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
    out = {c: [] for c in CONTROLS}
    try:
        for _ in range(repeats):
            for c in CONTROLS:
                ctrl = ex.controls[c]
                value = _next_value(ctrl)
                split.clear()
                n0 = ex.updates
                t0, c0 = time.perf_counter(), time.process_time()
                with contextlib.redirect_stdout(io.StringIO()):    # no front end: the Output prints a repr
                    ctrl.value = value                              # -> Explorer.update
                out[c].append((time.perf_counter() - t0, split.get("compute", 0.0), split.get("render", 0.0),
                               time.process_time() - c0, split.get("png", 0.0), ex.updates - n0))
    finally:
        widgets.figure_png = png
        ex.compute, ex.render = compute, render
    return out


def _attention_module(path=None):
    if path is None:
        import paperlib.viz.attention as attention

        return attention
    spec = importlib.util.spec_from_file_location("_bench_attention_impl", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--impl", default=None, help="a copy of paperlib/viz/attention.py to time instead (absolute imports)")
    a = ap.parse_args(argv)
    import matplotlib.pyplot as plt

    attention = _attention_module(a.impl)
    cases = {"gallery record": (gallery_record, 1), "notebook shapes": (lesson_record, 3)}     # (record, person)
    summary = []
    for name, (make, person) in cases.items():
        record = make()
        with contextlib.redirect_stdout(io.StringIO()):
            t0 = time.perf_counter()
            ex = attention.attention_viewer(record, clip=0, person=person)
            first = time.perf_counter() - t0
        bench(ex, 1)                                                # warm-up (fonts, caches, the background)
        res = bench(ex, a.repeats)
        print(f"{name}: first view (builds the figure) {first:.3f} s; per control change, median / worst of "
              f"{a.repeats} (split of the median: compute + render + PNG + display; median CPU time; updates):")
        every, cpu = [], []
        for c, rows in res.items():
            tot = np.array([r[0] for r in rows])
            med = rows[int(np.argsort(tot)[len(tot) // 2])]
            every += tot.tolist()
            cpu += [r[3] for r in rows]
            print(f"  {c:6s} {np.median(tot):.3f} / {tot.max():.3f} s  ({med[1]:.3f} + {med[2]:.3f} + {med[4]:.3f} + "
                  f"{med[0] - med[1] - med[2] - med[4]:.3f}; cpu {np.median([r[3] for r in rows]):.3f}; "
                  f"updates {'/'.join(str(r[5]) for r in rows)})")
        kernel = [r[1] + r[2] + r[4] for rows in res.values() for r in rows]
        summary.append(f"{name} median {np.median(every):.3f} s, worst {np.max(every):.3f} s (cpu median "
                       f"{np.median(cpu):.3f} s; compute + render + PNG median {np.median(kernel):.3f} s)")
        plt.close("all")
    print(f"attention viewer{' (' + a.impl + ')' if a.impl else ''}, control change ({len(CONTROLS)} controls x "
          f"{a.repeats}): " + "; ".join(summary))


if __name__ == "__main__":
    main()
