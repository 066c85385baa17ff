"""Per-update time of notebook 03's two widgets in the kernel (goal: <= 0.25 s per control change on 2 cores).

    python -m tests.benchmarks.bench_glimpse_widgets [--repeats 5]

One update is what :class:`paperlib.viz.widgets.Explorer` does when a control changes: ``compute`` (the
view's arrays), ``render`` (the figure, updated in place) and the PNG that goes to the front end; the
benchmark moves a control of the real explorer. Measured, best of ``--repeats``, for the glimpse-path player on a record of the lesson's shape (8 frames of 64 x 64, 3
glimpses, 3 workers, 12 memory entries, two informative points) and for the Eqs. 9-10 toy. The browser
adds the widget round trip and the image's decoding: ``tests/test_browser_widgets.py`` measures that in
JupyterLab. The machine is shared: rerun when the numbers look off.
"""
from __future__ import annotations

import argparse
import contextlib
import io

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from paperlib.viz import glimpse as GV  # noqa: E402
from tests.benchmarks.bench_render import _best  # noqa: E402


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    import matplotlib.pyplot as plt

    with contextlib.redirect_stdout(io.StringIO()):                 # no front end: the Output prints a repr
        cases = {"player (frame)": (GV.glimpse_explorer(lesson_record()), "frame", lambda i: i % 8),
                 "toy (alpha)": (GV.toy_explorer(), "alpha", lambda i: 0.1 + 0.05 * (i % 5))}
    for name, (ex, control, value) in cases.items():
        state = {"i": 0}

        def one():                                                  # one control change: Explorer.update
            state["i"] += 1
            with contextlib.redirect_stdout(io.StringIO()):
                ex.controls[control].value = value(state["i"])
        one()                                                       # warm-up (fonts, caches, the background)
        dt, _ = _best(one, a.repeats)
        print(f"{name:16s} update {dt:.3f} s (Explorer.update: compute, render, PNG at 80 dpi; best of {a.repeats})")
        plt.close("all")


if __name__ == "__main__":
    main()
