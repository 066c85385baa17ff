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
timing and the table are :mod:`tests.benchmarks.widget_timing`'s. The browser adds the widget round trip and
the image's decoding: ``tests/test_browser_widgets.py`` measures that in JupyterLab. The machine is shared:
rerun when the numbers look off.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from paperlib.skeleton import H36M17, NTU25  # noqa: E402
from paperlib.viz.gallery import memory_bank_record  # noqa: E402
from paperlib.viz.memory_bank import memory_bank_browser  # noqa: E402
from tests.benchmarks import widget_timing as wt  # noqa: E402

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
    """A value of ``ctrl`` other than its current one (the next option, the next slider position; the
    temperature alternates between 3 and 0.3)."""
    if type(ctrl).__name__ == "FloatLogSlider":
        return 3.0 if ctrl.value < 1.5 else 0.3
    return wt.next_value(ctrl)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args(argv)
    cases = {"gallery record": (memory_bank_record, NTU25), "notebook shapes": (lesson_record, H36M17)}
    summary = [wt.run_case(name, lambda: memory_bank_browser(make(), skel), CONTROLS, a.repeats,
                           next_value=_next_value, width=12, png_cpu=False)
               for name, (make, skel) in cases.items()]
    print(f"memory-bank browser, Explorer.update per control change ({len(CONTROLS)} controls x {a.repeats}): "
          + "; ".join(summary))


if __name__ == "__main__":
    main()
