"""Peak memory of the real-data runs of lessons 01 (ERA) and 02 (UPS): estimated from the code,
and measured on generated fixtures.

``python -m paperlib.tools.memory_estimate`` prints, for the full NTU RGB+D 60 cross-subject
benchmark (40,320 training and 16,560 test samples, ``(2, 300, 25, 3)`` float32 each), Kinetics-
skeleton (240,436 / 19,796 clips) and Human3.6M, what each notebook step holds in memory with the
memory-mapped cache (:mod:`paperlib.data.cache`) and the views computed per batch from it
(:class:`~paperlib.data.sequences.NormalizedFrames`, :class:`~paperlib.data.sequences.LazyRows`;
the Kinetics 2D view in a file beside its cache), and the peak, next to the same estimate for the
code before the cache (everything loaded as arrays, every view a tensor). ``--frames`` sets the
notebooks' ``num_frames`` (default: 8 and 64). The byte counts follow the code line by line
(the comments of :func:`estimate_01` and :func:`estimate_02` say which); sizes are GiB (2^30 bytes)
of the process's own (anonymous) memory. The cached joints themselves are file pages the
operating system can drop at any time; they do not count against the budget.

``python -m paperlib.tools.memory_estimate --frames 64 --measure 1000 2000`` writes NTU ``.skeleton`` files
(with :func:`paperlib.data.ntu.write_skeleton_file`), Kinetics-skeleton clips and a Human3.6M
archive of those sizes into a work folder, builds their caches, runs the two notebooks' real-data
steps at each ``--frames`` in a fresh process per size (training shortened: memory does not
depend on the number of steps) while a thread samples ``RssAnon`` of ``/proc/self/status`` every
2 ms, and prints the peak per step, the model's figure for the same sizes, and the per-sample extrapolation to the full
benchmark. Linux only (``/proc``).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["Sizes", "FULL", "estimate_01", "estimate_02", "table", "measure", "main", "estimate_frame_caches",
           "frame_cache_table"]

GIB = 2 ** 30
F32 = 4


@dataclass
class Sizes:
    """What the estimate depends on. Defaults: the full data sets.

    ``ntu_train``/``ntu_test``: NTU RGB+D 60 xsub (Shahroudy et al., CVPR 2016); ``kin_train``/
    ``kin_val``: the Kinetics-skeleton clips of ST-GCN's release; ``h36m_train``/``h36m_test``:
    Human3.6M 3D frames at 50 Hz of S1, S5-S8 and S9, S11 (about a quarter of VideoPose3D's 1.56 M
    and 0.54 M camera-frames); ``frames``: the notebooks' ``num_frames`` (8); ``ratios``: 10
    observation ratios; ``chunk_bytes``: :data:`paperlib.data.sequences.CHUNK_BYTES`;
    ``ntu_mean_frames``: the mean valid frames of an NTU sample (what
    :class:`~paperlib.data.sequences.NormalizedFrames` keeps; the NTU RGB+D 120 paper reports about
    8 M frames for 114,480 samples, ~70 a sample: 100 is an upper estimate); ``num_classes``,
    ``channels``, ``key_dim``, ``num_experts``, ``expert_ratio``: notebook 01's documented real-data
    model (its ERA modules' sizes are read from :func:`paperlib.papers.era.build_model`);
    ``probe_frames``: the linear probe's frames (:func:`paperlib.probe.linear_probe_reference`).
    """

    ntu_train: int = 40_320
    ntu_test: int = 16_560
    kin_train: int = 240_436
    kin_val: int = 19_796
    h36m_train: int = 389_938
    h36m_test: int = 135_836
    frames: int = 8
    ratios: int = 10
    bodies: int = 2
    T: int = 300
    chunk_bytes: int = 64 * 2 ** 20
    ntu_mean_frames: float = 100.0
    num_classes: int = 60
    channels: tuple = (64, 128, 256)
    key_dim: int = 32
    num_experts: int = 5
    expert_ratio: float = 0.2
    probe_frames: int = 8


FULL = Sizes()


def _sizes(s: Sizes) -> dict:
    """Bytes per sample of the arrays the steps create."""
    M, T, F = s.bodies, s.T, s.frames
    row = M * T * 25 * 3 * F32                      # one NTU sample, (M, T, 25, 3) float32: 180,000 B
    kin = 3 * T * 18 * M * F32                      # one Kinetics clip, (3, T, 18, M): 129,600 B
    net = 3 * F * 25 * M * F32                      # ERA's network input (3, F, 25, M): 4,800 B
    net_ups = 3 * M * F * 25 * F32                  # UPS's (6, F, 25): 4,800 B
    return dict(row=row, kin=kin, net=net, net_ups=net_ups,
                chunk=max(1, s.chunk_bytes // row) * row, kchunk=max(1, s.chunk_bytes // kin) * kin,
                kchunk_rows=max(1, s.chunk_bytes // kin))


def _era_modules(s: Sizes) -> list:
    """``[(d, M, K)]`` of the ERA modules of notebook 01's model, from the code."""
    import torch

    from ..papers import era

    with torch.device("meta"):  # shapes only, no memory
        model = era.build_model("era", num_classes=s.num_classes, channels=tuple(s.channels),
                                num_experts=s.num_experts, expert_ratio=s.expert_ratio, key_dim=s.key_dim)
    return [(m.d, m.M, m.K) for _, m in era.era_modules(model)]


def estimate_01(s: Sizes = FULL, cached: bool = True) -> list:
    """Notebook 01 (ERA) with ``dataset="ntu60"``: ``[(step, held after it, peak during it)]``,
    bytes. ``cached=True``: the code now (a memmap cache; views of it computed per batch from the
    normalised valid frames, :class:`~paperlib.data.sequences.NormalizedFrames`, one store shared by
    every view and the probe). ``cached=False``: the code before the cache (``make_data`` loaded
    and concatenated the splits; ``ObservedViews`` and ``SkeletonDataset`` normalised
    ``data.joints[idx]`` whole and held every view as a tensor)."""
    z = _sizes(s)
    N, ntr, nte, R, M = s.ntu_train + s.ntu_test, s.ntu_train, s.ntu_test, s.ratios, s.bodies
    row, net = z["row"], z["net"]
    # normalize_skeleton of an in-memory block of b bytes: x - origin, the rotated copy, * frame_ok
    # and .astype (at most three alive together) and the presence mask (b / 12)
    norm = lambda b: 3 * b + b / 12
    index = N * 120                                  # labels, valid frames, ids, names of the index
    load = 2 * N * row                               # before: load_ntu_dataset (list + np.stack), np.concatenate
    # evaluate(record=True) of the ERA variant: per module and test sample, at every ratio, the
    # retrieved index (int64), scores (M) and query (K) of the first body, and the presence of each
    # body; the per-batch lists and their torch.stack (two copies) while it runs
    record = sum(nte * R * (8 * d + 4 * d * Mx + 4 * d * K + M) for d, Mx, K in _era_modules(s))
    logits = nte * R * s.num_classes * 4 + nte * R   # evaluate's logits and correctness, per variant
    if not cached:
        steps, held = [], float(N * row)
        steps.append(("cell 7: make_data (loads both splits)", held, load))
        views = R * N * net + N * net                # R resample views, one pad view, train and test
        steps.append(("cell 12: ObservedViews, resample + pad, train + test", held + views,
                      held + views + ntr * row + norm(ntr * row) + 2 * nte * net))
        held += views
        pf = N * row + ntr * row + 5 * ntr * net
        steps.append(("cell 13: linear probe (normalises the whole set)", held, held + max(norm(N * row), pf)))
        run, own = R * N * net, N * row
        steps.append(("cell 51: run_experiment (resample), views kept", held + run + record + 2 * logits,
                      held + run + max(load, own + ntr * row + norm(ntr * row)) + 2 * record))
        held += run + record + 2 * logits
        steps.append(("cell 53: run_experiment (pad)", held,
                      held + N * net + max(load, own + ntr * row + norm(ntr * row) + ntr * row)))
        steps.append(("cell 76: explorer_record (one test ratio as a tensor)", held + nte * R * M * 25 * 3 * 4,
                      held + 2 * nte * net))
        return steps
    # the store of every row: the normalised valid frames (M, 25, 3) float32, offsets and valid frames
    store = N * s.ntu_mean_frames * M * 25 * 3 * F32 + N * 16
    # its build, chunk by chunk: the rows read, normalised, their valid frames picked (a copy)
    build = z["chunk"] + norm(z["chunk"]) + z["chunk"]
    # LazyRows.materialize: the output, and per chunk of 64 MiB of output the gathered frames
    # (two for resample), the interpolation's products and sum, the network layout (about 5 chunks)
    mat = lambda n: n * net + 5 * s.chunk_bytes
    lengths = R * N * 8                              # ObservedViews(pad).lengths, int64
    steps, held = [], float(index)
    steps.append(("cell 7: make_data (opens the cache: a memmap)", held, held))
    # cell 12: ObservedViews resample + pad, train + test: one shared store (built once), the pad
    # views' lengths; then the check: pad.x(j) of the test split as a tensor, .abs() of it
    steps.append(("cell 12: ObservedViews, resample + pad, train + test", held + store + lengths,
                  held + store + lengths + max(build, mat(nte) + nte * net)))
    held += store + lengths
    # cell 13: linear_probe_reference from the same store: per ratio the train and test features
    # (probe_frames frames), computed 64 MiB at a time (about 5 chunks of intermediates), then
    # StandardScaler's copy and the ridge's centred copy of the training features
    fp = M * s.probe_frames * 25 * 3 * F32
    steps.append(("cell 13: linear probe (features from the store)", held,
                  held + N * fp + 5 * s.chunk_bytes + 2 * ntr * fp))
    # cell 51: run_experiment(resample, return_models=True): make_data again (its index), views of
    # the same store (shared: nothing new), per-batch rows; the ERA variant's evaluation record kept
    run = index + record + 2 * logits
    steps.append(("cell 51: run_experiment (resample), views kept", held + run, held + run + record + 5 * s.chunk_bytes))
    held += run
    # cell 53: run_experiment(pad): make_data, pad views of the same store (lengths), per-batch rows
    steps.append(("cell 53: run_experiment (pad)", held, held + index + lengths + logits + 5 * s.chunk_bytes))
    # cell 76: explorer_record: per ratio the test view as a tensor and |x|; the poses it keeps
    poses = nte * R * M * 25 * 3 * F32
    steps.append(("cell 76: explorer_record (one test ratio as a tensor)", held + poses,
                  held + poses + mat(nte) + nte * net))
    return steps


def estimate_02(s: Sizes = FULL, cached: bool = True) -> list:
    """Notebook 02 (UPS) with ``dataset="real"``: ``[(step, held after it, peak during it)]``, bytes.
    Both cell 7 (``demo``) and cell 34 (``run_experiment``) call ``make_views``. ``cached=True``:
    the code now (NTU views computed per batch from the shared normalised valid frames, the
    Kinetics 2D view in a file beside its cache); ``cached=False``: before the cache (every view a
    tensor, each split loaded whole)."""
    z = _sizes(s)
    N, ntr, R, M = s.ntu_train + s.ntu_test, s.ntu_train, s.ratios, s.bodies
    row, kin = z["row"], z["kin"]
    K = s.kin_train + s.kin_val
    W = (s.h36m_train + s.h36m_test) // (2 * s.frames)          # windows of 2T frames, stride 2T
    norm = lambda b: 3 * b + b / 12
    # pose views (input (6, F, 25) + target (16, 3)) and the labels
    pose = W * (z["net_ups"] + 16 * 3 * F32)
    labels = (N + K) * 8
    # Human3.6M windows of the training subjects: windows, rotated copies, NTU-25 layout, fill_missing,
    # pose_view's gathers: about 6 x (n_w, 2F, 25, 3)
    h36m = 6 * (s.h36m_train // (2 * s.frames)) * 2 * s.frames * 25 * 3 * F32
    if not cached:
        views = N * ((1 + R) * z["net_ups"] + 8) + K * (z["net_ups"] + 8) + pose
        # one split at a time: NTU train loaded (list + stack), then normalised whole while held;
        # Kinetics train loaded (list + stack), kinetics_to_ntu (out, fill_missing's copy), centre_2d
        transient = max(2 * ntr * row, ntr * row + norm(ntr * row), 2 * s.kin_train * kin,
                        s.kin_train * kin + 3 * s.kin_train * row, h36m)
        ep = ntr * R * z["net_ups"]
        return [("cell 7: make_views (demo), kept", views, views + transient),
                ("cell 34: run_experiment (views + task tensors kept)", 2 * views + ep,
                 views + views + max(transient, ep))]
    # make_views: the store of the NTU rows (normalised valid frames), built chunk by chunk; the
    # Kinetics 2D view computed chunk by chunk into a file (file pages: not the process's memory):
    # the rows read, kinetics_to_ntu's out and its fill_missing copy (rows, M, T, 25, 3), centre_2d's
    # |p| and result; Human3.6M's windows
    store = N * s.ntu_mean_frames * M * 25 * 3 * F32 + N * 16
    k_rows = z["kchunk_rows"]
    build = max(z["chunk"] + norm(z["chunk"]) + z["chunk"], z["kchunk"] + 4 * k_rows * row, h36m)
    steps = [("cell 7: make_views (demo), kept", store + pose + labels, store + pose + labels + build)]
    held = store + pose + labels
    # cell 34: run_experiment: make_views again (the store shared, the 2D file reused: the pose
    # views, labels and Human3.6M's windows again), the task tensors (the inputs lazy: the target
    # tokens, (n, 2) or (n, 49) int64), per-batch rows (decoding: chunks of 1,024 rows)
    tokens = (ntr * (1 + R) + s.kin_train) * 2 * 8 + (s.h36m_train // (2 * s.frames)) * 49 * 8
    run = pose + labels + tokens
    steps.append(("cell 34: run_experiment (views + task tensors kept)", held + run,
                  held + run + max(h36m, 1024 * z["net_ups"] * 4)))
    return steps


def estimate_frame_caches(size: int = 224, ntu_frames: int = 8, ntu_clips: int = 56_880, ava_frames: int = 16,
                          ava_train: int = 211_000, ava_val: int = 57_000, ntu_batch: int = 32,
                          glimpse_batch: int = 64, ava_batch: int = 16) -> dict:
    """Disk and per-batch memory of the decoded-frame caches (:mod:`paperlib.data.frame_cache`) of
    notebooks 03 (NTU RGB+D 60, :func:`paperlib.papers.glimpse.load_ntu_rgb`) and 04 (AVA,
    :func:`paperlib.papers.action_transformer.load_ava_split`), bytes.

    NTU: ``ntu_clips`` (56,880 in NTU-60) clips of ``(3, ntu_frames, size, size)`` uint8, their pose
    index (``(T, 25, 2)`` float32 + ``(T,)`` bool), and notebook 03's trunk maps ``Z`` on disk
    (``GlobalModel``'s stride-8 map: ``(T, 32, size / 8, size / 8)`` float32 per clip) with the context
    vectors ``c`` (``(T, 32)``) in memory. AVA: ``ava_train`` / ``ava_val`` annotated keyframes (AVA
    v2.2: about 211k and 57k) of ``(ava_frames, size, size, 3)`` uint8, and, for reference, the
    Action Transformer's trunk features ``(64, T / 2, size / 4, size / 4)`` float32 per keyframe,
    which :func:`~paperlib.papers.action_transformer.trunk_and_proposals` keeps in memory.
    Per batch: the uint8 rows read from the memory map and the float32 network input made of them
    (``ntu_batch`` clips in ``train_global``, ``glimpse_batch`` clips and their maps in
    ``train_glimpse``, ``ava_batch`` keyframes in ``train_stage1``); activations not counted.
    Returns ``{name: bytes}``.
    """
    T, S, A = ntu_frames, size, ava_frames
    clip = 3 * T * S * S                                      # uint8
    zmap = T * 32 * (S // 8) * (S // 8) * F32
    key = A * S * S * 3
    return {
        "NTU frames cache (.npy)": ntu_clips * clip,
        "NTU pose index (.npz)": ntu_clips * (T * 25 * 2 * F32 + T),
        "NTU trunk maps Z (scratch memmap)": ntu_clips * zmap,
        "NTU context vectors c (memory)": ntu_clips * T * 32 * F32,
        "NTU batch, train_global: uint8 read + float input": ntu_batch * clip * (1 + F32),
        "NTU batch, train_glimpse: uint8 + float input + Z rows": glimpse_batch * (clip * (1 + F32) + zmap),
        "AVA train frames cache (.npy)": ava_train * key,
        "AVA val frames cache (.npy)": ava_val * key,
        "AVA batch, train_stage1: uint8 read + float input": ava_batch * key * (1 + F32),
        "AVA train trunk features (scratch memmap, disk)": ava_train * 64 * (A // 2) * (S // 4) * (S // 4) * F32,
    }


def frame_cache_table(est: dict | None = None) -> str:
    """Text table of :func:`estimate_frame_caches` (GB = 10^9 bytes and GiB)."""
    est = estimate_frame_caches() if est is None else est
    lines = [f"  {'item':56s} {'GB':>9s} {'GiB':>9s}"]
    lines += [f"  {k:56s} {v / 1e9:9.2f} {v / GIB:9.2f}" for k, v in est.items()]
    return "\n".join(lines)


def table(steps, title: str) -> str:
    """Text table of :func:`estimate_01` / :func:`estimate_02` rows, GiB, with the peak."""
    lines = [title, f"  {'step':58s} {'held after':>10s} {'peak in':>9s}"]
    for name, held, peak in steps:
        lines.append(f"  {name:58s} {held / GIB:10.2f} {peak / GIB:9.2f}")
    lines.append(f"  {'peak of the notebook':58s} {'':10s} {max(p for _, _, p in steps) / GIB:9.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Measurement
# ---------------------------------------------------------------------------------------------
def _rss_anon() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    return 0


class _Peak:
    """Samples ``RssAnon`` every 2 ms in a thread; ``mark(name)`` closes a step."""

    def __init__(self):
        self.base, self.cur_peak, self.steps, self._stop = _rss_anon(), 0, [], False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self._stop:
            self.cur_peak = max(self.cur_peak, _rss_anon())
            time.sleep(0.002)

    def mark(self, name):
        now = _rss_anon()
        self.steps.append((name, now - self.base, max(self.cur_peak, now) - self.base))
        self.cur_peak = now

    def stop(self):
        self._stop = True
        self.t.join()


def _fixture(work: Path, n: int, seed: int = 0) -> dict:
    """``n`` NTU files (xsub train and test, 20-100 frames, one or two bodies), ``n`` Kinetics
    training and ``n // 10`` validation clips (10 frames: memory does not depend on the clip
    length, the arrays are padded to 300), and a Human3.6M archive of 2,000 frames per subject."""
    import numpy as np

    from ..data import h36m, ntu

    root = work / f"fixture-{n}"
    done = root / "done.json"
    if done.exists():
        return json.loads(done.read_text())
    rng = np.random.default_rng(seed)
    nd = root / "ntu"
    nd.mkdir(parents=True, exist_ok=True)
    train = ntu.NTU60_XSUB_TRAIN_SUBJECTS
    test = [p for p in range(1, 41) if p not in train]
    seen = set()
    for k in range(n):  # 7 of 10 samples from training subjects, as in NTU-60 xsub (40,320 / 56,880)
        subject = train[(k // 10) % 20] if k % 10 < 7 else test[(k // 10) % 20]
        action, camera, setup = 1 + (k // 7) % 60, 1 + k % 3, 1 + (k // 420) % 17
        while (setup, camera, subject, action) in seen:
            setup = setup % 17 + 1
        seen.add((setup, camera, subject, action))
        T = int(rng.integers(20, 101))
        xyz = rng.normal(0, 0.3, (T, 25, 3)) + [0, 0, 3]
        bodies = [{"bodyID": 1, "xyz": xyz}]
        if action >= 50:
            bodies.append({"bodyID": 2, "xyz": xyz + [1, 0, 0]})
        ntu.write_skeleton_file(nd / f"S{setup:03d}C{camera:03d}P{subject:03d}R001A{action:03d}.skeleton", bodies)
    kd = root / "kinetics"
    for part, m in (("train", n), ("val", max(1, n // 10))):
        d = kd / f"kinetics_{part}"
        d.mkdir(parents=True, exist_ok=True)
        labels = {}
        for i in range(m):
            pose = rng.uniform(0.2, 0.8, (10, 36)).round(3).tolist()
            clip = {"data": [{"frame_index": t + 1, "skeleton": [{"pose": pose[t], "score": [0.9] * 18}]}
                             for t in range(10)], "label": f"c{i % 7}", "label_index": i % 7}
            (d / f"clip{i:06d}.json").write_text(json.dumps(clip))
            labels[f"clip{i:06d}"] = {"has_skeleton": True, "label": f"c{i % 7}", "label_index": i % 7}
        (kd / f"kinetics_{part}_label.json").write_text(json.dumps(labels))
    hf = root / "data_3d_h36m.npz"
    h36m.write_h36m_npz(hf, {s: {"Walking 1": rng.normal(0, 0.3, (2000, 32, 3))}
                            for s in h36m.H36M_TRAIN_SUBJECTS + h36m.H36M_TEST_SUBJECTS})
    info = {"ntu_dir": str(nd), "kinetics_dir": str(kd), "h36m_file": str(hf), "n": n}
    done.write_text(json.dumps(info))
    return info


def _run_flow(nb: str, info: dict, frames: int = 8) -> dict:
    """The notebook's real-data steps in this process at ``num_frames=frames``; returns the measured
    steps and the sizes (training shortened to one epoch / two steps: memory does not depend on it)."""
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np
    import torch

    torch.set_num_threads(1)
    peak = _Peak()
    sizes = {"frames": frames}
    if nb == "01":
        from ..papers import era as E
        from ..papers.primer import make_data
        from ..probe import linear_probe_reference

        # the lesson's default widths (the documented 64-128-256 trains for hours on a CPU); the model
        # is given the same widths, and the evaluation record it predicts scales with them
        arch = dict(channels=(16, 32, 32), key_dim=16)
        kw = dict(dataset="ntu60", data_root=info["ntu_dir"], benchmark="xsub", num_frames=frames, device="cpu",
                  batch_size=64, **arch)
        peak.mark("start")
        data, tr, te = make_data("ntu60", data_root=info["ntu_dir"])
        sizes.update(ntu_train=len(tr), ntu_test=len(te), num_classes=len(data.class_names), **arch,
                     ntu_mean_frames=float(np.mean(data.valid_frames)))
        peak.mark("cell 7: make_data")
        views = {p: {s: E.ObservedViews(data, idx, frames, p) for s, idx in (("train", tr), ("test", te))}
                 for p in ("resample", "pad")}
        pad = views["pad"]["test"]
        for j in range(len(pad.ratios)):                 # the notebook's check
            (pad.x(j).abs().amax(dim=(1, 3, 4)) > 0).sum()
        peak.mark("cell 12: ObservedViews")
        probe = linear_probe_reference(data, tr, te)
        peak.mark("cell 13: linear probe")
        fresh = E.run_experiment(seed=0, policy="resample", epochs=1, variants=("baseline", "era"), probe=False,
                                 return_models=True, **kw)
        peak.mark("cell 51: run_experiment (resample)")
        E.run_experiment(seed=0, policy="pad", epochs=1, variants=("baseline",), probe=False, **kw)
        peak.mark("cell 53: run_experiment (pad)")
        run = fresh["runs"]["era"]
        record = E.explorer_record(run["model"], fresh["views"]["test"], run["eval"], run["hist"], data.class_names)
        peak.mark("cell 76: explorer_record")
        del views, probe, fresh, record
    else:
        from ..data import cache
        from ..papers import ups as U

        data_kw = dict(ntu_dir=info["ntu_dir"], kinetics_dir=info["kinetics_dir"], h36m_file=info["h36m_file"])
        peak.mark("start")
        demo = U.make_views(0, "real", num_samples=170, num_frames=frames, **data_kw)
        peak.mark("cell 7: make_views (demo)")
        res = U.run_experiment(seed=0, dataset="real", num_frames=frames, steps=2, batch_size=32, embedding="random",
                               variants=("separate", "joint_h1", "joint_h2", "mlp"), return_models=True,
                               data_kw=data_kw)
        peak.mark("cell 34: run_experiment")
        kin = cache.open_cache(cache.default_cache_dir(Path(info["kinetics_dir"]) / "kinetics_train", "kinetics"))
        kval = cache.open_cache(cache.default_cache_dir(Path(info["kinetics_dir"]) / "kinetics_val", "kinetics"))
        ntu_all = cache.open_cache(cache.default_cache_dir(info["ntu_dir"], "ntu"))
        sizes.update(ntu_train=len(demo.train["ar3d"][1]), ntu_test=len(demo.test["ar3d"][1]), kin_train=len(kin),
                     kin_val=len(kval), h36m_train=len(demo.train["pose3d"][1]) * 2 * frames,
                     h36m_test=len(demo.test["pose3d"][1]) * 2 * frames,
                     ntu_mean_frames=float(np.mean(ntu_all.valid_frames)))
        del demo, res
    peak.stop()
    return {"steps": peak.steps[1:], "sizes": sizes, "base": peak.base, "np": np.__version__}


def measure(sizes=(1000, 2000), work=None, frames: int = 8) -> dict:
    """Write fixtures of ``sizes`` NTU files (and Kinetics clips), build their caches, and run each
    notebook's real-data steps in a fresh process per size. Returns ``{nb: [{"n", "steps",
    "sizes"}]}`` with the steps' ``(name, held, peak)`` bytes above the process's memory after
    its imports; ``frames``: the notebooks' ``num_frames``."""
    import tempfile

    from ..data import cache

    work = Path(work or tempfile.mkdtemp(prefix="paperlib-memory-"))
    out = {"01": [], "02": []}
    for n in sizes:
        info = _fixture(work, n)
        cache.build_cache(info["ntu_dir"], progress=False)  # one-off, as the first real run does
        for part in ("train", "val"):
            cache.build_cache(Path(info["kinetics_dir"]) / f"kinetics_{part}", kind="kinetics", progress=False,
                              label_file=Path(info["kinetics_dir"]) / f"kinetics_{part}_label.json")
        cache.build_cache(info["h36m_file"])
        # a fixed mmap threshold: glibc's dynamic one keeps freed blocks of up to 32 MB in the heap,
        # which at fixture scale (blocks of a few MB) reads as held memory that the full run, whose
        # blocks are larger, hands back to the system
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
        for nb in ("01", "02"):
            proc = subprocess.run([sys.executable, "-m", "paperlib.tools.memory_estimate", "--run", nb,
                                   "--info", json.dumps(info), "--frames", str(frames)],
                                  capture_output=True, text=True, check=False,
                                  env=env)
            if proc.returncode:
                raise RuntimeError(f"measuring notebook {nb} at n={n} failed:\n{proc.stderr[-3000:]}")
            res = json.loads(proc.stdout.strip().splitlines()[-1])
            out[nb].append({"n": n, **res})
    return out


def _report_measured(meas: dict) -> str:
    """Measured against modelled, per fixture and step; the extrapolations to the full benchmark."""
    lines = []
    for nb, runs in meas.items():
        est = estimate_01 if nb == "01" else estimate_02
        lines.append(f"notebook {nb}: peak RssAnon above the process's memory after its imports, measured vs model (GiB)")
        gaps = []
        for run in runs:
            model = est(replace(FULL, **run["sizes"]))
            lines.append(f"  fixture of {run['n']} files: {run['sizes']}")
            for (name, held, peak), (_, mh, mp) in zip(run["steps"], model):
                lines.append(f"    {name:40s} measured peak {peak / GIB:6.3f} (held after {held / GIB:6.3f}) | "
                             f"model peak {mp / GIB:6.3f} (held {mh / GIB:6.3f})")
            gaps.append(max(p for _, _, p in run["steps"]) - max(p for _, _, p in model))
        full = max(p for _, _, p in est(replace(FULL, frames=runs[0]["sizes"].get("frames", FULL.frames))))
        lines.append(f"  model for the full sets {full / GIB:.2f} GiB; plus the largest measured - model gap at "
                     f"fixture scale ({max(gaps) / GIB:+.2f} GiB): {(full + max(0, max(gaps))) / GIB:.2f} GiB")
        if nb == "01" and len(runs) >= 2:  # only NTU grows: the per-sample slope of every step
            a, b = runs[0], runs[-1]
            na, nb_ = (r["sizes"]["ntu_train"] + r["sizes"]["ntu_test"] for r in (a, b))
            full_n = FULL.ntu_train + FULL.ntu_test
            ext = [(name, pb + (pb - pa) / (nb_ - na) * (full_n - nb_), (pb - pa) / (nb_ - na))
                   for (name, _, pa), (_, _, pb) in zip(a["steps"], b["steps"])]
            name, top, slope = max(ext, key=lambda e: e[1])
            lines.append(f"  per sample, step by step (fixtures of {na} and {nb_} samples): the largest is {name!r}, "
                         f"{slope / 1e3:.0f} kB per sample, extrapolated to {full_n:,} samples: {top / GIB:.2f} GiB")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m paperlib.tools.memory_estimate", description=__doc__.split("\n")[0])
    ap.add_argument("--measure", nargs="*", type=int, metavar="N",
                    help="also measure on fixtures of these sizes (default 1000 2000)")
    ap.add_argument("--work", help="folder for the fixtures and caches (default: a new temporary folder)")
    ap.add_argument("--frames", type=int, nargs="+", default=[8, 64],
                    help="num_frames to estimate for (default: 8, the lessons' default, and 64, their documented "
                         "real-data commands')")
    ap.add_argument("--run", help=argparse.SUPPRESS)
    ap.add_argument("--info", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.run:
        print(json.dumps(_run_flow(args.run, json.loads(args.info), args.frames[0])))
        return 0
    from dataclasses import replace

    for frames in args.frames:
        sizes = replace(FULL, frames=frames)
        print(f"Full NTU RGB+D 60 xsub ({FULL.ntu_train:,} + {FULL.ntu_test:,} samples), Kinetics-skeleton "
              f"({FULL.kin_train:,} + {FULL.kin_val:,} clips), Human3.6M; num_frames={frames}; GiB of "
              f"anonymous memory (the cached joints are file pages on top, reclaimable)\n")
        for nb, est in (("01 (ERA)", estimate_01), ("02 (UPS)", estimate_02)):
            print(table(est(sizes), f"notebook {nb}, with the cache"))
            print(table(est(sizes, cached=False), f"notebook {nb}, before the cache"))
            print()
    print("Video caches at 224 px (notebooks 03 and 04): disk, and memory per batch\n")
    print(frame_cache_table())
    print()
    if args.measure is not None:
        for frames in args.frames:
            print(f"measured at num_frames={frames}:")
            print(_report_measured(measure(tuple(args.measure) or (1000, 2000), args.work, frames)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
