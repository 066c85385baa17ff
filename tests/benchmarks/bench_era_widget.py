"""Per-update time of notebook 01's ERA expert-retrieval explorer in the kernel (goal: well under 0.1 s per
control change here, <= 0.25 s end to end in JupyterLab on 2 cores).

    python -m tests.benchmarks.bench_era_widget [--repeats 5] [--impl PATH]

One update is what :class:`paperlib.viz.widgets.Explorer` does when a control changes: ``compute``
(:func:`paperlib.viz.era.era_compute`), ``render`` (:func:`~paperlib.viz.era.era_render`, the figure updated
in place) and the PNG at 80 dpi that goes to the front end (:func:`paperlib.viz.widgets.figure_png`), then its
display in the ``Output``. The benchmark moves each control of the real explorer in turn (sample, ratio, module,
bank, expert), each ``--repeats`` times, and prints per control the median and the worst update, the split of
the median update (compute + render + PNG + display) and the median CPU time of an update (less sensitive to a
loaded machine than the wall-clock times), then a one-line summary. Two records: the widget gallery's
(:func:`paperlib.viz.gallery.era_record`: 40 samples, 10 ratios, modules of 4 and 3 banks, 5 experts, no
counterfactual, no cue groups: the usage-entropy panel) and one of the notebook's shapes (994 test samples,
10 ratios, modules of 19 and 6 banks, 5 experts, ``K = 16``, 17 classes, 2 bodies of 25 joints, counterfactuals
for 12 samples, 4 cue groups: the retrieved-expert-vs-cue-group panel; the sample control then alternates
between samples with and without a recorded counterfactual). ``--impl``: a copy of
``paperlib/viz/era.py`` to time instead (e.g. the previous version: ``git show HEAD:paperlib/viz/era.py >
build/era_old.py``), imported as a module of :mod:`paperlib.viz`. The timing and the table are
:mod:`tests.benchmarks.widget_timing`'s. The browser adds the widget round trip and the image's decoding:
``tests/test_browser_widgets.py`` measures that in JupyterLab. The machine is shared: rerun when the numbers
look off.
"""
from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402

from paperlib.viz.gallery import era_record as gallery_record  # noqa: E402
from tests.benchmarks import widget_timing as wt  # noqa: E402

CONTROLS = ("sample", "ratio", "module", "bank", "expert")


GROUP_NAMES = ("acting arm", "other arm", "acting leg", "trunk")


def lesson_record(N=994, R=10, ds=(19, 6), M=5, K=16, C=17, S=12, V=25, seed=0):
    """A record with notebook 01's shapes (random content, float32 like the recorded tensors): ``N`` test
    samples, modules of ``ds`` banks, ``M`` experts, counterfactuals for ``S`` samples, a cue group per sample
    (4 groups, as :func:`paperlib.papers.era.explorer_record` writes them)."""
    rng = np.random.default_rng(seed)
    queries = [rng.normal(size=(N, R, d, K)).astype(np.float32) for d in ds]
    keys = [rng.normal(size=(d, M, K)).astype(np.float32) for d in ds]
    poses = (0.3 * rng.normal(size=(N, R, 2, V, 3))).astype(np.float32)
    poses[rng.random(N) < 0.8, :, 1] = 0                                  # most sequences: one body
    return {
        "modules": ["gcn", "tcn"], "queries": queries, "keys": keys,
        "scores": [np.einsum("nrpk,pmk->nrpm", q, k) for q, k in zip(queries, keys)],
        "usage": [rng.integers(0, 100, size=(d, M)).astype(float) for d in ds],
        "beta": [rng.uniform(0.05, 0.15, size=(d, M)) for d in ds],
        "labels": rng.integers(0, C, N), "class_names": [f"class {i}" for i in range(C)],
        "ratios": np.round(np.arange(1, R + 1) / R, 1), "poses": poses,
        "counterfactual": {"samples": np.linspace(0, N - 1, S).astype(int),
                           "logits": [rng.normal(size=(S, R, d, M, C)).astype(np.float32) for d in ds],
                           "factual": rng.normal(size=(S, R, C)).astype(np.float32)},
        "groups": rng.integers(0, len(GROUP_NAMES), N), "group_names": list(GROUP_NAMES),
    }


def _next_value(cf_samples=()):
    """``ctrl ->`` a value of ``ctrl`` other than its current one (the next option, the next slider position;
    for the sample slider of a record with counterfactuals, alternately the next recorded sample and the one
    after)."""
    def next_value(ctrl):
        if (not hasattr(ctrl, "options") and ctrl.description == "sample" and len(cf_samples)
                and ctrl.value not in cf_samples):
            later = [s for s in cf_samples if s > ctrl.value]
            return int(later[0] if later else cf_samples[0])
        return wt.next_value(ctrl)
    return next_value


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--impl", default=None, help="a copy of paperlib/viz/era.py to time instead")
    a = ap.parse_args(argv)
    era = wt.load_module("paperlib.viz.era", a.impl)
    cases = {"gallery record": (gallery_record, 1), "notebook shapes": (lesson_record, 0)}
    summary = []
    for name, (make, sample) in cases.items():
        record = make()
        cf = record.get("counterfactual")
        cf_samples = [] if cf is None else [int(s) for s in cf["samples"]]
        summary.append(wt.run_case(name, lambda: era.era_explorer(record, sample=sample, ratio=0.2), CONTROLS,
                                   a.repeats, next_value=_next_value(cf_samples), width=8))
    print(f"ERA explorer{' (' + a.impl + ')' if a.impl else ''}, Explorer.update per control change "
          f"({len(CONTROLS)} controls x {a.repeats}): " + "; ".join(summary))


if __name__ == "__main__":
    main()
