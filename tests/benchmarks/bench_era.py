"""Benchmark: an ERA layer's forward + backward against a plain convolution and the naive loop.

``python -m tests.benchmarks.bench_era [--reps 7] [--threads 2] [--json out.json] [--shapes ...]``

For every layer shape, at batch 64, in training mode (straight-through Gumbel retrieval), it
times ``y = layer(x); y.backward(g)`` for

- ``plain``: ``nn.Conv{1,2,3}d`` of the same shape;
- ``era[impl]``: :class:`paperlib.papers.era.ERAConv` (d = 0.2 N_out, M = 5, K = 16) with each
  vectorised implementation (``matmul``, the default; ``gather``; ``grouped``);
- ``naive``: ``ERAConv.naive_forward``, the per-sample Python loop (the reference of the tests).

Runs are interleaved (one of each per round) and the median is reported, so a busy machine
slows all variants alike. Goals of notebook 01: ERA at most 1.5x the plain convolution and at
least 10x faster than the naive loop. The load average is printed with the results: on a shared
machine, compare ratios, not absolute times.
"""
from __future__ import annotations

import argparse
import json
import os
import time

import torch
from torch import nn

from paperlib.papers.era import ERAConv

#: name -> (dim, N_in, N_out, kernel, stride, padding, spatial input size)
SHAPES = {
    # the two ERA layers of notebook 01's network (block 3: T = 8 frames after the stride, V = 25 joints)
    "nb01 gcn 1x1 32->96": (2, 32, 96, 1, 1, 0, (8, 25)),
    "nb01 tcn 5x1 32->32": (2, 32, 32, (5, 1), 1, (2, 0), (8, 25)),
    # 2s-AGCN-sized layers (64 channels, 32 frames)
    "agcn gcn 1x1 64->192": (2, 64, 192, 1, 1, 0, (32, 25)),
    "agcn tcn 9x1 64->64": (2, 64, 64, (9, 1), 1, (4, 0), (32, 25)),
    "conv1d k9 64->64": (1, 64, 64, 9, 1, 4, (64,)),
    "conv3d 3x3x3 16->32": (3, 16, 32, 3, 1, 1, (8, 16, 16)),
}
IMPLS = ("matmul", "gather", "grouped")
_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def _runner(layer, x, g, naive=False):
    def run():
        x.grad = None
        for p in layer.parameters():
            p.grad = None
        y = layer.naive_forward(x) if naive else layer(x)
        y.backward(g)
    return run


def bench_shape(name, batch=64, reps=7, naive_reps=3, impls=IMPLS, seed=0):
    """Median seconds per forward + backward for each variant of one shape: a dict."""
    dim, cin, cout, k, s, p, size = SHAPES[name]
    torch.manual_seed(seed)
    x = torch.randn(batch, cin, *size, requires_grad=True)
    plain = _CONV[dim](cin, cout, k, s, p)
    with torch.no_grad():
        g = torch.randn_like(plain(x))
    runs = {"plain": _runner(plain, x, g)}
    for impl in impls:
        layer = ERAConv(cin, cout, k, s, p, dim=dim, impl=impl).train()
        runs[f"era[{impl}]"] = _runner(layer, x, g)
    naive = ERAConv(cin, cout, k, s, p, dim=dim).train()
    times = {key: [] for key in runs}
    for f in runs.values():  # warm up
        f()
    for _ in range(reps):
        for key, f in runs.items():
            t0 = time.perf_counter()
            f()
            times[key].append(time.perf_counter() - t0)
    nf = _runner(naive, x, g, naive=True)
    nf()
    times["naive"] = []
    for _ in range(naive_reps):
        t0 = time.perf_counter()
        nf()
        times["naive"].append(time.perf_counter() - t0)
    return {key: sorted(v)[len(v) // 2] for key, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--naive-reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--shapes", nargs="*", default=list(SHAPES), help="names from SHAPES")
    ap.add_argument("--json", default=None, help="write the results to this file")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    load0 = os.getloadavg()[0]
    rows = {}
    print(f"ERA layer benchmark: batch {a.batch}, {a.threads} threads, forward + backward, median of {a.reps} "
          f"(naive: {a.naive_reps}); load average at start {load0:.2f}")
    head = f"{'shape':24s}{'plain ms':>9s}" + "".join(f"{'era[' + i + ']':>14s}" for i in IMPLS) + \
        f"{'naive ms':>10s}{'ERA/plain':>11s}{'naive/ERA':>11s}"
    print(head)
    for name in a.shapes:
        t = bench_shape(name, a.batch, a.reps, a.naive_reps)
        best = min(IMPLS, key=lambda i: t[f"era[{i}]"])
        era = t["era[matmul]"]
        rows[name] = {**{k: round(v * 1e3, 3) for k, v in t.items()}, "era_over_plain": round(era / t["plain"], 3),
                      "naive_over_era": round(t["naive"] / era, 2), "fastest_impl": best}
        print(f"{name:24s}{t['plain'] * 1e3:9.2f}" + "".join(
            f"{t[f'era[{i}]'] * 1e3:8.2f} ({t[f'era[{i}]'] / t['plain']:.2f}x)".rjust(14) for i in IMPLS)
            + f"{t['naive'] * 1e3:10.1f}{era / t['plain']:11.2f}{t['naive'] / era:11.1f}")
    load1 = os.getloadavg()[0]
    print(f"ERA/plain and naive/ERA use the default implementation (matmul); load average at end {load1:.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"batch": a.batch, "threads": a.threads, "load_avg": [load0, load1], "shapes": rows}, f, indent=1)
    return rows


if __name__ == "__main__":
    main()
