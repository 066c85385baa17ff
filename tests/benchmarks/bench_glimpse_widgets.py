"""Per-update time of notebook 03's two widgets in the kernel (goal: <= 0.25 s per control change on 2 cores).

    python -m tests.benchmarks.bench_glimpse_widgets [--repeats 5]

One update is what :class:`paperlib.viz.widgets.Explorer` does when a control changes: ``compute`` (the
view's arrays), ``render`` (the matplotlib figure) and the PNG that goes to the front end. Measured, best
of ``--repeats``, for the glimpse-path player on a record of the lesson's shape (8 frames of 64 x 64, 3
glimpses, 3 workers, 12 memory entries, two informative points) and for the Eqs. 9-10 toy. The browser
adds the widget round trip and the image's decoding: ``tests/test_browser_widgets.py`` measures that in
JupyterLab. The machine is shared: rerun when the numbers look off.
"""
from __future__ import annotations

import argparse
import inspect
import time

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from paperlib.viz import glimpse as GV  # noqa: E402
from paperlib.viz.widgets import figure_png  # noqa: E402


def lesson_record(N=16, T=8, G=3, C=3, K=12, H=64, seed=0):
    """A record with the lesson's shapes (random content)."""
    rng = np.random.default_rng(seed)
    ctr = rng.uniform(10, 54, (N, T, G, 2))
    half = rng.uniform(5, 20, (N, T, G, 2))
    ts = np.full((T, K), np.nan)
    for t in range(T):
        e = np.concatenate([[-1.0] * C, np.repeat(np.arange(t + 1.0), G)])[-K:]
        ts[t, K - len(e):] = e
    mem_w = rng.uniform(0, 1, (N, T, C, K))
    return {"frames": rng.integers(0, 255, (N, T, H, H, 3), dtype=np.uint8),
            "boxes": np.concatenate([ctr - half, ctr + half], -1), "assign": rng.dirichlet(np.ones(G), (N, T, C)),
            "mem_ts": ts, "mem_w": mem_w, "labels": rng.integers(0, 4, N), "preds": rng.integers(0, 4, N),
            "class_names": ["a", "b", "c", "d"], "points": rng.uniform(10, 54, (N, T, 2, 2)).astype(np.float32)}


def _best(fn, repeats):
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    import matplotlib.pyplot as plt

    rec = lesson_record()
    cases = {"player (frame)": (lambda i: GV.glimpse_compute(rec, clip=3, frame=i % 8), GV.glimpse_render),
             "toy (alpha)": (lambda i: GV.toy_compute(alpha=0.1 + 0.05 * (i % 5), noise=0.2), GV.toy_render)}
    for name, (compute, render) in cases.items():
        reuse = "fig" in inspect.signature(render).parameters
        fig = render(compute(0))                                                 # the widget's first view
        figure_png(fig, dpi=80)
        state = {"fig": fig, "i": 0}

        def one():                                                               # one control change
            state["i"] += 1
            data = compute(state["i"])
            new = render(data, fig=state["fig"]) if reuse else render(data)
            if new is not state["fig"]:
                plt.close(state["fig"])
            state["fig"] = new
            figure_png(new, dpi=80)
        one()                                                                    # warm-up (fonts, caches)
        print(f"{name:16s} update {_best(one, a.repeats):.3f} s (compute + render{' in place' if reuse else ''} "
              f"+ PNG at 80 dpi; best of {a.repeats})")
        plt.close(state["fig"])


if __name__ == "__main__":
    main()
