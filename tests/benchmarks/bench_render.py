"""Throughput of the clip renderer: 8-frame 64x64 clips per second (goal: >= 50 on 2 CPU cores).

    python -m tests.benchmarks.bench_render [--clips 128] [--repeats 3]

Measures, best of ``--repeats`` runs:

1. the renderer alone (:func:`paperlib.data.render.render_capsules`) on prepared single-person
   layers (body capsules over textured backgrounds), with 1 and 2 torch threads;
2. the whole pipeline of :func:`paperlib.data.video.make_single_person_clips` and
   :func:`paperlib.data.video.make_multi_person_clips` (motion, views, objects, backgrounds,
   rendering, 2D joints, visibility, boxes), with the stage split.

The machine is shared: rerun when the numbers look off, and read them as orders of magnitude.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from paperlib.data import render as R
from paperlib.data import synthetic, video

FRAMES, SIZE = 8, 64


def _best(fn, repeats):
    best = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def bench_renderer(clips: int, repeats: int, threads: int) -> float:
    """Clips/s of render_capsules alone on single-person layers."""
    d = synthetic.generate(num_samples=clips, frames=40, min_valid=40, seed=0, noise_std=0, jitter_prob=0,
                           dropout_prob=0)
    idx = np.linspace(0, 39, FRAMES).astype(int)
    cam = R.PinholeCamera(SIZE, SIZE, 0.95 * SIZE)
    rng = np.random.default_rng(0)
    bg, _ = R.textured_backgrounds(rng, clips, cam, 1.0)
    layer = R.body_capsules(d.joints[:, 0][:, idx], R.random_clothing(rng, clips))
    dt, _ = _best(lambda: R.render_capsules([layer], cam, bg, threads=threads), repeats)
    return clips / dt


def bench_pipeline(kind: str, clips: int, repeats: int) -> tuple:
    """Clips/s of the whole generator, and the stage split of the best run (seconds)."""
    best, split = float("inf"), {}
    for r in range(repeats):
        timings = {}
        t0 = time.perf_counter()
        if kind == "single":
            video.make_single_person_clips(num_scenes=clips // 3, frames=FRAMES, size=SIZE, seed=r, timings=timings)
            n = 3 * (clips // 3)
        else:
            video.make_multi_person_clips(num_clips=clips, frames=FRAMES, size=SIZE, seed=r, timings=timings)
            n = clips
        dt = time.perf_counter() - t0
        if dt < best:
            best, split = dt, timings
    return n / best, split


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"clips of {FRAMES} frames at {SIZE}x{SIZE}; {os.cpu_count()} CPUs; torch {torch.__version__}; "
          f"best of {args.repeats}")
    for th in (1, 2):
        print(f"renderer only, single person, {th} thread(s): {bench_renderer(args.clips, args.repeats, th):8.1f} clips/s")
    results = {}
    for kind in ("single", "multi"):
        rate, split = bench_pipeline(kind, args.clips, args.repeats)
        results[kind] = rate
        stages = ", ".join(f"{k} {v:.2f} s" for k, v in split.items())
        print(f"pipeline {kind + '-person':13s} (make_{kind}_person_clips): {rate:8.1f} clips/s   [{stages}]")
    ok = all(r >= 50 for r in results.values())
    print(f"goal >= 50 clips/s: {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
