"""Per-update time of notebook 02's two widgets in the kernel (goal: well under 0.1 s per control change
here, <= 0.25 s end to end in JupyterLab on 2 cores).

    python -m tests.benchmarks.bench_ups_widgets [--repeats 5] [--module PATH]

One update is what :class:`paperlib.viz.widgets.Explorer` does when a control changes: ``compute``
(:func:`paperlib.viz.ups.routing_compute` / :func:`~paperlib.viz.ups.decoding_compute`), ``render``
(:func:`~paperlib.viz.ups.routing_render` / :func:`~paperlib.viz.ups.decoding_render`, the figure updated in
place where the render takes ``fig=``) and the PNG at 80 dpi that goes to the front end. The benchmark moves
each control of the real explorers in turn, each ``--repeats`` times: the routing explorer's snapshot slider in
each of its three views (``step@routes``, ``step@sharing``, ``step@training``) and its view buttons; the
decoding step-through's step and sample sliders on pose estimation (``step@pose3d``, ``sample@pose3d``: the 3D
skeletons), its step slider on 3D recognition (``step@ar3d``) and its task dropdown. It prints the time to
build each explorer (its first view, and the figures of its other views drawn once), per control the median
and the worst update, the split of the median update (compute / render / PNG and display), then a one-line
summary per widget. Two records per widget: the widget gallery's (:mod:`paperlib.viz.gallery`: 5 snapshots of
3 tasks, 2 layers of 2 blocks, 41 iterations; 2 tasks of 2 samples, 49 pose tokens) and one of notebook 02's
shapes (4 tasks, 2 layers of 2 blocks, 640 iterations with 160 soft, every 4th of 640 snapshots, as
``routing_record(hist, TASKS, every=4)``; 4 tasks of 6 samples, the top-5 of a 212-prompt vocabulary, 49 pose
tokens). ``--module PATH`` benchmarks another copy of ``paperlib/viz/ups.py`` (e.g. ``git show
HEAD:paperlib/viz/ups.py > /tmp/ups_old.py``), imported as a module of :mod:`paperlib.viz`. The browser adds
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

from paperlib.viz.gallery import decoding_record as gallery_decoding_record  # noqa: E402

ROUTING_CONTROLS = ("step@routes", "step@sharing", "step@training", "view")
DECODING_CONTROLS = ("step@pose3d", "sample@pose3d", "step@ar3d", "task")


def gallery_routing_record() -> dict:
    """The routing record of the widget gallery (``paperlib.viz.gallery._ups_routing``)."""
    S, M, L = 5, 3, 2
    probs = np.zeros((S, M, L, 2))
    for s in range(S):
        a = 0.5 + 0.1 * s
        probs[s, 0, :, 1], probs[s, 1, :, 1], probs[s, 2, :, 1] = a, 1 - a, 0.5
    probs[..., 0] = 1 - probs[..., 1]
    probs[:, 2, 1] = [0.1, 0.9]
    N = 10 * (S - 1) + 1
    task = np.arange(N) % M
    route = np.zeros((N, L, 2))
    route[np.arange(N)[:, None], np.arange(L)[None], (task[:, None] + np.arange(L)[None]) % 2] = 1.0
    return {"task_names": ["pose", "ar2d", "ar3d"], "steps": np.arange(S) * 10, "probs": probs,
            "iter_task": task, "iter_route": route, "warmup_iters": 0}


def lesson_routing_record(M=4, L=2, H=2, steps=160, warmup_frac=0.25, every=4, seed=0) -> dict:
    """A routing record with notebook 02's shapes (random content): ``train_ups``'s history of ``M`` tasks
    rotated for ``steps`` iterations each, soft routing for the first ``warmup_frac``, probabilities at every
    iteration, thinned as the notebook does (``routing_record(hist, TASKS, every=4)``)."""
    rng = np.random.default_rng(seed)
    N = M * steps
    warm = int(round(warmup_frac * N))
    logits = np.cumsum(rng.normal(scale=0.15, size=(N, M, L, H)), 0)
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    task = np.arange(N) % M
    route = probs[np.arange(N), task].copy()                                  # (N, L, H)
    hard = rng.random((N, L, 1)) < 0.5
    onehot = np.eye(H)[np.where(hard[..., 0], route.argmax(-1), rng.integers(0, H, (N, L)))]
    route[warm:] = onehot[warm:]
    steps_ = np.unique(np.r_[np.arange(0, N, every), N - 1])
    return {"task_names": ["pose3d", "ar2d", "ep3d", "ar3d"], "steps": steps_, "probs": probs[steps_],
            "iter_task": task, "iter_route": route, "warmup_iters": warm}


def lesson_decoding_record(n=6, k=5, n_cls=17, n_bins=64, J=17, seed=0) -> dict:
    """A decoding record with notebook 02's shapes (random content; ``paperlib.papers.ups.decoding_record``):
    4 tasks of ``n`` samples, the top-``k`` of every step over the prompts of ``n_cls`` classes, ``3 n_bins``
    coordinate bins and 3 end-of-task tokens; pose tokens ``3 (J - 1) + 1``."""
    rng = np.random.default_rng(seed)
    axes = ("horizontal", "vertical", "depth")
    vocab = ([f"class {c}" for c in range(n_cls)] + [f"The {b}th {ax} coordinate" for ax in axes
                                                     for b in range(1, n_bins + 1)]
             + ["action recognition ends here", "pose estimation ends here", "action prediction ends here"])
    V = len(vocab)
    eot = {"ar2d": V - 3, "ar3d": V - 3, "ep3d": V - 1, "pose3d": V - 2}
    tasks = {}
    for t in ("pose3d", "ar2d", "ep3d", "ar3d"):
        if t == "pose3d":
            K = 3 * (J - 1) + 1
            axis = np.arange(K - 1) % 3
            target = np.c_[n_cls + n_bins * axis + rng.integers(0, n_bins, (n, K - 1)), np.full(n, eot[t])]
            tokens = target.copy()
            tokens[:, :-1] = n_cls + n_bins * axis + np.clip(target[:, :-1] - n_cls - n_bins * axis
                                                              + rng.integers(-3, 4, (n, K - 1)), 0, n_bins - 1)
            tokens[1, 20] = eot[t]                                     # one sample stops early
            tokens[1, 21:] = -1
        else:
            K = 2
            target = np.c_[rng.integers(0, n_cls, n), np.full(n, eot[t])]
            tokens = np.c_[rng.integers(0, n_cls, n), np.full(n, eot[t])]
        ids = np.concatenate([np.maximum(tokens, 0)[..., None], rng.integers(0, V, (n, K, k - 1))], -1)
        p = np.sort(rng.dirichlet(np.ones(k), (n, K)), -1)[..., ::-1]
        e = {"tokens": tokens, "target": target, "topk_ids": ids, "topk_probs": p,
             "titles": [f"test {i}: class {int(target[i, 0]) % n_cls}" for i in range(n)]}
        if t == "pose3d":
            c = rng.normal(scale=0.3, size=(n, K))
            c[:, -1] = np.nan
            c[tokens < 0] = np.nan
            gt = rng.normal(scale=0.3, size=(n, J, 3))
            gt[:, 0] = 0
            e.update(coords=c, gt=gt, skeleton="h36m17", titles=[f"test window {i}" for i in range(n)])
        tasks[t] = e
    return {"vocab": vocab, "tasks": tasks}


def load_module(path=None):
    """``paperlib.viz.ups``, or the copy of it at ``path`` (imported as a module of ``paperlib.viz``)."""
    if path is None:
        from paperlib.viz import ups

        return ups
    spec = importlib.util.spec_from_file_location("paperlib.viz._ups_bench", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _next_value(ctrl):
    """A value of ``ctrl`` other than its current one (the next option, the next slider position)."""
    if hasattr(ctrl, "options"):
        vals = [o[1] if isinstance(o, tuple) else o for o in ctrl.options]
        return vals[(vals.index(ctrl.value) + 1) % len(vals)]
    return ctrl.value + 1 if ctrl.value < ctrl.max else ctrl.min


def _set(ctrl, value):
    with contextlib.redirect_stdout(io.StringIO()):               # no front end: the Output prints a repr
        ctrl.value = value


def bench(ex, controls, repeats: int, mode: str) -> dict:
    """``control -> list of (total, compute, render) seconds`` of ``repeats`` updates each. A control
    ``"name@value"`` moves ``name`` with the control ``mode`` (the routing explorer's view, the decoding
    step-through's task) set to ``value`` first (not timed)."""
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
    out = {c: [] for c in controls}
    for _ in range(repeats):
        for c in controls:
            name, _, view = c.partition("@")
            if view and ex.controls[mode].value != view:
                _set(ex.controls[mode], view)
            ctrl = ex.controls[name]
            value = _next_value(ctrl)
            t0 = time.perf_counter()
            _set(ctrl, value)                                       # -> Explorer.update
            out[c].append((time.perf_counter() - t0, split["compute"], split["render"]))
    ex.compute, ex.render = compute, render
    return out


def report(name, first, res, repeats) -> str:
    """Print one record's table; return its summary line."""
    print(f"{name}: explorer built (every figure drawn once) in {first:.3f} s; per control change, median / worst of "
          f"{repeats} (split of the median: compute + render + PNG & display):")
    every = []
    for c, rows in res.items():
        tot = np.array([r[0] for r in rows])
        med = rows[int(np.argsort(tot)[len(tot) // 2])]
        every += tot.tolist()
        print(f"  {c:14s} {np.median(tot):.3f} / {tot.max():.3f} s  ({med[1]:.3f} + {med[2]:.3f} + "
              f"{med[0] - med[1] - med[2]:.3f})")
    return f"{name} median {np.median(every):.3f} s, worst {np.max(every):.3f} s"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--module", default=None, help="path of another copy of paperlib/viz/ups.py to benchmark")
    a = ap.parse_args(argv)
    import matplotlib.pyplot as plt

    ups = load_module(a.module)
    widgets = {
        "routing explorer": (lambda rec: ups.routing_explorer(rec, view="training"), ROUTING_CONTROLS, "view",
                             {"gallery record": gallery_routing_record, "notebook shapes": lesson_routing_record}),
        "decoding step-through": (lambda rec: ups.decoding_explorer(rec, task="pose3d", step=4), DECODING_CONTROLS,
                                  "task", {"gallery record": gallery_decoding_record,
                                           "notebook shapes": lesson_decoding_record}),
    }
    lines = []
    for widget, (make, controls, mode, records) in widgets.items():
        summary = []
        for name, rec in records.items():
            rec = rec()
            with contextlib.redirect_stdout(io.StringIO()):
                t0 = time.perf_counter()
                ex = make(rec)
                first = time.perf_counter() - t0
            bench(ex, controls, 1, mode)                            # warm-up (fonts, caches, the backgrounds)
            res = bench(ex, controls, a.repeats, mode)
            summary.append(report(f"{widget}, {name}", first, res, a.repeats).split(", ", 1)[1])
            plt.close("all")
        lines.append(f"{widget}, Explorer.update per control change ({len(controls)} controls x {a.repeats}): "
                     + "; ".join(summary))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
