"""Throughput of the synthetic skeleton generator.

    python -m tests.benchmarks.bench_synthetic [--samples 5000] [--repeats 3]

Goal (foundation issue): 5,000 sequences of 64 frames in under 10 s on 2 CPU cores.
Prints the best of ``repeats`` runs; nothing is asserted (speed goals are reported, not tested).
"""
from __future__ import annotations

import argparse
import time

import torch

from paperlib.data.synthetic import generate


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--frames", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    times = []
    for r in range(args.repeats):
        t0 = time.perf_counter()
        data = generate(num_samples=args.samples, frames=args.frames, seed=r)
        times.append(time.perf_counter() - t0)
    best = min(times)
    print(f"synthetic generator: {args.samples} sequences x {args.frames} frames, {args.threads} threads")
    print(f"  best of {args.repeats}: {best:.2f} s  ({args.samples / best:.0f} sequences/s); all: "
          + ", ".join(f"{t:.2f}" for t in times))
    print(f"  goal < 10 s: {'met' if best < 10 else 'NOT met'}; array {data.joints.shape} {data.joints.dtype}")


if __name__ == "__main__":
    main()
