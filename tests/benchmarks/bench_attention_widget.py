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
gallery's (:func:`paperlib.viz.gallery.attention_record`: 2 clips of 4 frames of 16 x 16 px, 3 RoIs, 2 layers
of 2 heads, 2 x 4 x 4 cells, 4 classes) and one of the notebook's shapes
(``AT.attention_record`` of the Tx HighRes head on 8 test clips: 8 frames of 64 x 64 px, 4 RoIs, 3 layers of
2 heads, 4 x 8 x 8 cells, keys of 128 dimensions, float32, the 11 classes of the rendered data, watched
people). The person control alternates between the clip's first and last valid person, and the clip control
goes to the next clip, which every other time has fewer valid people than the person slider's value (the
clamp). ``--impl``: a copy of ``paperlib/viz/attention.py`` to time instead (e.g. the previous
version: ``git show HEAD:paperlib/viz/attention.py > build/attention_old.py``), imported as a module of
:mod:`paperlib.viz`. The timing and the table are :mod:`tests.benchmarks.widget_timing`'s. The browser adds
the widget round trip and the image's decoding: ``tests/test_browser_widgets.py`` measures that in JupyterLab.
The machine is shared: rerun when the numbers look off.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from paperlib.viz.gallery import attention_record as gallery_record  # noqa: E402
from tests.benchmarks import widget_timing as wt  # noqa: E402

CONTROLS = ("clip", "person", "layer", "head", "frame")


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
    if not hasattr(ctrl, "options") and ctrl.description == "person":
        return ctrl.max if ctrl.value < ctrl.max else ctrl.min
    return wt.next_value(ctrl)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--impl", default=None, help="a copy of paperlib/viz/attention.py to time instead")
    a = ap.parse_args(argv)
    attention = wt.load_module("paperlib.viz.attention", a.impl)
    cases = {"gallery record": (gallery_record, 1), "notebook shapes": (lesson_record, 3)}     # (record, person)
    summary = []
    for name, (make, person) in cases.items():
        record = make()
        summary.append(wt.run_case(name, lambda: attention.attention_viewer(record, clip=0, person=person),
                                   CONTROLS, a.repeats, next_value=_next_value, width=6, updates=True))
    print(f"attention viewer{' (' + a.impl + ')' if a.impl else ''}, control change ({len(CONTROLS)} controls x "
          f"{a.repeats}): " + "; ".join(summary))


if __name__ == "__main__":
    main()
