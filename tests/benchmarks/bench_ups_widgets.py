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
summary per widget. Two records per widget: the widget gallery's
(:func:`paperlib.viz.gallery.ups_routing_record` and :func:`~paperlib.viz.gallery.decoding_record`: 5 snapshots
of 3 tasks, 2 layers of 2 blocks, 41 iterations; 2 tasks of 2 samples, 49 pose tokens) and one of notebook 02's
shapes (4 tasks, 2 layers of 2 blocks, 640 iterations with 160 soft, every 4th of 640 snapshots, as
``routing_record(hist, TASKS, every=4)``; 4 tasks of 6 samples, the top-5 of a 212-prompt vocabulary, 49 pose
tokens). ``--module PATH`` benchmarks another copy of ``paperlib/viz/ups.py`` (e.g. ``git show
HEAD:paperlib/viz/ups.py > build/ups_old.py``), imported as a module of :mod:`paperlib.viz`. The timing and the
table are :mod:`tests.benchmarks.widget_timing`'s. The browser adds the widget round trip and the image's
decoding: ``tests/test_browser_widgets.py`` measures that in JupyterLab. The machine is shared: rerun when the
numbers look off.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from paperlib.viz.gallery import decoding_record as gallery_decoding_record  # noqa: E402
from paperlib.viz.gallery import ups_routing_record as gallery_routing_record  # noqa: E402
from tests.benchmarks import widget_timing as wt  # noqa: E402

ROUTING_CONTROLS = ("step@routes", "step@sharing", "step@training", "view")
DECODING_CONTROLS = ("step@pose3d", "sample@pose3d", "step@ar3d", "task")


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


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--module", default=None, help="path of another copy of paperlib/viz/ups.py to benchmark")
    a = ap.parse_args(argv)
    ups = wt.load_module("paperlib.viz.ups", a.module)
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
            summary.append(wt.run_case(f"{widget}, {name}", lambda: make(rec), controls, a.repeats, mode=mode,
                                       width=14, built="explorer built (every figure drawn once) in",
                                       png_cpu=False).split(", ", 1)[1])
        lines.append(f"{widget}, Explorer.update per control change ({len(controls)} controls x {a.repeats}): "
                     + "; ".join(summary))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
