"""A gallery of every widget of the course, built from small recorded arrays (no training).

The browser test (``tests/test_browser_widgets.py``) writes :func:`gallery_notebook` to a temporary
folder, opens it in a real JupyterLab in Chromium, runs it, and moves every control of every
widget. The records here have the shapes of the unit tests' records (``tests/test_*widget*.py``)
and of what the notebooks record from their trained models, but are drawn from a seeded
generator, so the gallery runs in seconds.

``build(name)`` returns the :class:`~paperlib.viz.widgets.Explorer` of one widget; ``WIDGETS``
lists the names, in course order. The records of the widgets that the unit tests and the widget
benchmarks (``tests/benchmarks/bench_*_widget*.py``) reuse have builders of their own:
:func:`era_record`, :func:`ups_routing_record`, :func:`decoding_record`, :func:`attention_record`,
:func:`memory_bank_record`.
"""
from __future__ import annotations

import numpy as np

__all__ = ["WIDGETS", "build", "gallery_notebook"]

WIDGETS = ("player", "era", "ups_routing", "ups_decoding", "glimpse", "glimpse_toy", "attention", "memory_bank")

TITLES = {
    "player": "00: skeleton-sequence player",
    "era": "01: ERA expert-retrieval explorer",
    "ups_routing": "02: UPS routing explorer",
    "ups_decoding": "02: UPS decoding step-through",
    "glimpse": "03: Glimpse Clouds glimpse-path player",
    "glimpse_toy": "03: Glimpse Clouds memory toy (Eqs. 9-10)",
    "attention": "04: Action Transformer attention viewer",
    "memory_bank": "05: action memory-bank browser",
}


def _player():
    from paperlib.data.synthetic import generate
    from paperlib.viz.player import skeleton_player

    d = generate(num_samples=17, seed=0)
    return skeleton_player([d.joints[i] for i in range(3)], [d.class_names[d.labels[i]] for i in range(3)])


def era_record() -> dict:
    """A small recorded ERA run (40 samples, 10 ratios, modules of 4 and 3 banks of 5 experts, four
    latent cue groups, no counterfactual) for the ERA explorer; also the widget benchmark's."""
    rng = np.random.default_rng(0)
    N, R, M, K, V = 40, 10, 5, 8, 25
    ds = (4, 3)
    queries = [rng.normal(size=(N, R, d, K)) for d in ds]
    keys = [rng.normal(size=(d, M, K)) for d in ds]
    groups = np.random.default_rng(1).integers(0, 4, N)
    return {"groups": groups, "group_names": ["acting arm", "other arm", "acting leg", "trunk"],
        "modules": ["gcn 1x1", "tcn 5x1"], "queries": queries, "keys": keys,
        "scores": [np.einsum("nrpk,pmk->nrpm", q, k) for q, k in zip(queries, keys)],
        "usage": [rng.integers(0, 100, size=(d, M)).astype(float) for d in ds],
        "beta": [rng.uniform(0.05, 0.15, size=(d, M)) for d in ds],
        "labels": rng.integers(0, 6, N), "class_names": [f"c{i}" for i in range(6)],
        "ratios": np.round(np.arange(1, R + 1) / R, 1), "poses": rng.normal(size=(N, R, 2, V, 3)),
    }


def _era():
    from paperlib.viz.era import era_explorer

    return era_explorer(era_record(), sample=1, ratio=0.2)


def ups_routing_record() -> dict:
    """A small recorded routing history (5 snapshots of 3 tasks, 2 layers of 2 blocks, 41 iterations) for the
    UPS routing explorer; also the widget benchmark's."""
    S, M, L = 5, 3, 2
    probs = np.zeros((S, M, L, 2))
    for s in range(S):
        a = 0.5 + 0.1 * s
        probs[s, 0, :, 1], probs[s, 1, :, 1], probs[s, 2, :, 1] = a, 1 - a, 0.5
    probs[..., 0] = 1 - probs[..., 1]
    probs[:, 2, 1] = [0.1, 0.9]
    N = 10 * (S - 1) + 1                                   # iterations 0..40, the tasks rotated
    task = np.arange(N) % M
    route = np.zeros((N, L, 2))
    route[np.arange(N)[:, None], np.arange(L)[None], (task[:, None] + np.arange(L)[None]) % 2] = 1.0
    return {"task_names": ["pose", "ar2d", "ar3d"], "steps": np.arange(S) * 10, "probs": probs,
            "iter_task": task, "iter_route": route, "warmup_iters": 0}


def _ups_routing():
    from paperlib.viz.ups import routing_explorer

    return routing_explorer(ups_routing_record())


def decoding_record() -> dict:
    """A small recorded decoding run (2 samples of 3D recognition and of pose estimation) for the
    UPS decoding step-through; also the unit tests' fixture."""
    from paperlib.skeleton import H36M17

    rng = np.random.default_rng(0)
    J = H36M17.num_joints
    K = 3 * (J - 1) + 1
    pose_tokens = np.tile([2, 4, 6], J - 1).tolist() + [9]
    coords = np.full((2, K), np.nan)
    coords[:, :K - 1] = rng.normal(size=(2, K - 1))
    topk = np.zeros((2, K, 3), int)
    topk[:, :, 0], topk[:, :, 1], topk[:, :, 2] = pose_tokens, 3, 5
    gt = rng.normal(size=(2, J, 3))
    gt[:, 0] = 0
    return {
        "vocab": ["punch", "wave", "x0", "x1", "y0", "y1", "z0", "z1", "EOT_AR", "EOT_PE"],
        "tasks": {
            "ar3d": {"tokens": np.array([[0, 8], [1, 8]]), "target": np.array([[0, 8], [0, 8]]),
                     "topk_ids": np.array([[[0, 1, 8], [8, 9, 0]], [[1, 0, 8], [8, 0, 1]]]),
                     "topk_probs": np.array([[[0.7, 0.2, 0.1], [0.9, 0.05, 0.05]], [[0.6, 0.3, 0.1], [0.8, 0.1, 0.1]]]),
                     "titles": ["punch #0", "punch #1"]},
            "pose3d": {"tokens": np.array([pose_tokens, pose_tokens[:5] + [9] + [-1] * (K - 6)]),
                       "target": np.array([pose_tokens, pose_tokens]), "topk_ids": topk,
                       "topk_probs": np.tile([0.5, 0.3, 0.2], (2, K, 1)), "titles": ["pose #0", "pose #1"],
                       "coords": coords, "gt": gt, "skeleton": "h36m17"},
        },
    }


def _ups_decoding():
    from paperlib.viz.ups import decoding_explorer

    return decoding_explorer(decoding_record(), task="pose3d", step=4)


def _glimpse():
    from paperlib.viz.glimpse import glimpse_explorer

    rng = np.random.default_rng(0)
    N, T, G, C, K, H = 5, 4, 3, 2, 6, 32
    ctr = rng.uniform(8, 24, (N, T, G, 2))
    half = rng.uniform(2, 6, (N, T, G, 2))
    ts = np.full((T, K), np.nan)  # empty memory slots are NaN (memory still filling)
    for t in range(T):
        entries = np.concatenate([[-1.0] * C, np.repeat(np.arange(t + 1.0), G)])[-K:]
        ts[t, K - len(entries):] = entries
    mem_w = rng.uniform(0, 1, (N, T, C, K))
    mem_w[np.broadcast_to(np.isnan(ts)[None, :, None, :], mem_w.shape)] = np.nan
    record = {
        "frames": rng.integers(0, 255, (N, T, H, H, 3), dtype=np.uint8),
        "boxes": np.concatenate([ctr - half, ctr + half], -1), "assign": rng.dirichlet(np.ones(G), (N, T, C)),
        "mem_ts": ts, "mem_w": mem_w, "labels": np.array([0, 1, 2, 1, 0]), "preds": np.array([0, 2, 2, 1, 1]),
        "class_names": ["wave", "drink", "kick"], "clip_ids": np.array([10, 11, 12, 13, 14]),
    }
    return glimpse_explorer(record)


def _glimpse_toy():
    from paperlib.viz.glimpse import toy_explorer

    return toy_explorer()


def attention_record() -> dict:
    """A small recorded attention run (2 clips of 4 frames of 16 x 16 px, 3 RoIs, 2 layers of 2 heads over
    2 x 4 x 4 cells, 4 classes) for the attention viewer; also the widget benchmark's."""
    rng = np.random.default_rng(0)
    N, T, H, W, R, L, HD, TP, HP, WP, D, C = 2, 4, 16, 16, 3, 2, 2, 2, 4, 4, 5, 4
    attn = np.zeros((N, L, HD, R, TP, HP, WP))
    for l in range(L):
        for h in range(HD):
            for r in range(R):
                attn[:, l, h, r, h % TP, r, l + h] = 1.0
    attn += 0.05 * rng.uniform(size=attn.shape)  # every control moves the map a little
    return {
        "frames": rng.integers(0, 255, (N, T, H, W, 3), dtype=np.uint8),
        "boxes": np.tile(np.array([2.0, 2.0, 8.0, 12.0]), (N, R, 1)),
        "valid": np.array([[True, True, True], [True, True, False]]), "attn": attn,
        "keys": rng.normal(size=(N, L, HD, TP, HP, WP, D)),
        "probs": rng.uniform(size=(N, R, C)), "labels": (rng.uniform(size=(N, R, C)) > 0.5).astype(np.uint8),
        "class_names": ["stand", "watch (a person)", "hold (an object)", "walk"],
        "context": ("watch (a person)", "hold (an object)"),
    }


def _attention():
    from paperlib.viz.attention import attention_viewer

    return attention_viewer(attention_record())


def memory_bank_record() -> dict:
    """A small recorded memory bank (2 classes, short and long memories, 2 test sequences) for the
    memory-bank browser; also the unit tests' fixture."""
    from paperlib.skeleton import NTU25

    rng = np.random.default_rng(0)
    DT, P, V = 4, 6, NTU25.num_joints
    counts = {"short": [3, 5], "long": [2, 4]}
    items = {m: [rng.normal(size=(n, DT, V, 3)) for n in c] for m, c in counts.items()}
    sizes = {m: [np.arange(1, n + 1) * 10 for n in c] for m, c in counts.items()}
    bank_label = {"predicted": np.array([0, 1]), "wrong": np.array([1, 0])}
    attention, logits = {}, {}
    for b, lab in bank_label.items():
        attention[b], logits[b] = {}, {}
        for m in counts:
            seqs, lgs = [], []
            for s in range(2):
                n = counts[m][lab[s]]
                lg = np.zeros((P, n))
                lg[np.arange(P), np.arange(P) % n] = 3.0  # item (step - 1) mod n is most attended
                e = np.exp(lg)
                seqs.append(e / e.sum(1, keepdims=True))
                lgs.append(lg)
            attention[b][m] = seqs
            logits[b][m] = lgs
    return {
        "class_names": ["eating", "walking"], "delta_t": DT, "items": items, "sizes": sizes,
        "titles": ["seq A", "seq B"], "true_label": np.array([0, 1]), "bank_label": bank_label,
        "attention": attention, "logits": logits, "obs_joints": rng.normal(size=(2, 5, V, 3)),
        "pred_joints": {"predicted": rng.normal(size=(2, P, V, 3)), "wrong": rng.normal(size=(2, P, V, 3))},
        "true_joints": rng.normal(size=(2, P, V, 3)),
    }


def _memory_bank():
    from paperlib.skeleton import NTU25
    from paperlib.viz.memory_bank import memory_bank_browser

    return memory_bank_browser(memory_bank_record(), NTU25)


_BUILDERS = {"player": _player, "era": _era, "ups_routing": _ups_routing, "ups_decoding": _ups_decoding,
             "glimpse": _glimpse, "glimpse_toy": _glimpse_toy, "attention": _attention, "memory_bank": _memory_bank}


def build(name: str):
    """The :class:`~paperlib.viz.widgets.Explorer` of widget ``name`` (one of ``WIDGETS``)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown widget {name!r}; expected one of {WIDGETS}")
    return _BUILDERS[name]()


def gallery_notebook(names=WIDGETS):
    """An ``nbformat`` notebook: a setup cell, then per widget a heading and a cell that displays it.

    Each widget cell's source starts with ``# gallery: <name>`` so that a browser test can find it.
    """
    import nbformat.v4 as v4

    cells = [v4.new_markdown_cell("# Widget gallery\nEvery widget of the course on small recorded arrays."),
             v4.new_code_cell("import matplotlib\n%matplotlib inline\nfrom paperlib.viz.gallery import build")]
    for name in names:
        if name not in _BUILDERS:
            raise ValueError(f"unknown widget {name!r}")
        cells.append(v4.new_markdown_cell(f"## {TITLES[name]}"))
        cells.append(v4.new_code_cell(f"# gallery: {name}\nbuild({name!r}).widget"))
    nb = v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb
