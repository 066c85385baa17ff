"""Notebook 00 (the primer): the early-prediction baseline and the probe references, as one experiment.

The experiment: generate the synthetic families with a given ``early_cue`` (degrees of
class-specific elbow flexion inside the shared opening, 0 = none), train the compact GCN
baseline with random observation ratios, and report, at every observation ratio, its accuracy
next to two probe references on the same split (:mod:`paperlib.probe`): the linear probe and a
non-linear (MLP) probe, lower bounds on what the observed prefix holds.

:func:`run_probes` is the probes alone, on the same data: notebook 01's grid ``01b`` pairs it with
ERA's grid seed by seed.

The notebook calls these functions cell by cell; ``make reproduce NB=00`` calls
:func:`run_experiment` for every (seed, early_cue) point of
``notebooks/results/00_skeleton_sequences/grid.json``.
"""
from __future__ import annotations

import numpy as np
import torch

from ..data import synthetic
from ..data.sequences import OBS_RATIOS, SkeletonDataset, random_observation
from ..metrics import auc_over_ratios
from ..nn.graph import SkeletonGCN
from ..probe import linear_probe_reference, mlp_probe_reference
from ..skeleton import get_skeleton
from ..train import fit, make_loader, predict, resolve_device, to_device

__all__ = ["make_data", "build_baseline", "train_baseline", "evaluate_by_ratio", "family_of_classes",
           "ratio_metrics", "run_experiment", "run_probes"]


def make_data(dataset: str = "synthetic", num_samples: int = 3000, seed: int = 0,
              early_cue: float = synthetic.DEFAULT_EARLY_CUE, benchmark: str = "xsub", data_root=None,
              cache_dir=None, cue_groups: int = 1):
    """The data set and its split: ``(data, train_idx, test_idx)``.

    ``dataset="synthetic"`` generates ``num_samples`` sequences (seeded, with ``early_cue`` and
    ``cue_groups``, the joint groups that can carry the cue; real data ignore both);
    ``"ntu60"``/``"ntu120"`` reads NTU RGB+D ``.skeleton`` files from ``data_root`` with the
    benchmark's split, through the memory-mapped cache of :mod:`paperlib.data.cache`: the first
    call parses every file once into ``cache_dir`` (default ``data_root/.paperlib_cache/ntu``, or
    ``~/.cache/paperlib/ntu-<hash>`` when ``data_root`` is read-only; one cache serves every
    benchmark), later calls (the notebook's repeated ones included) only open it. The real
    ``data.joints`` is then a read-only ``np.memmap`` (nothing is read until rows are indexed),
    the rows of both splits are in name order (``train_idx``, ``test_idx`` ascending), and
    ``data.frame_sampling`` is ``"valid"``: :class:`~paperlib.data.sequences.SkeletonDataset`
    spreads its frames over each clip's own valid length (the synthetic data keep ``"stride"``).
    The samples, labels and values are those of :func:`paperlib.data.ntu.load_ntu_dataset`.

    Raises ``ValueError`` for an unknown dataset (and as :func:`paperlib.data.cache.build_cache`).
    """
    if dataset == "synthetic":
        data = synthetic.generate(num_samples=num_samples, seed=seed, early_cue=early_cue, cue_groups=cue_groups)
        train_idx, test_idx = synthetic.split_indices(data, benchmark)
        return data, train_idx, test_idx
    if dataset not in ("ntu60", "ntu120"):
        raise ValueError(f"make_data: dataset must be synthetic, ntu60 or ntu120, got {dataset!r}")
    from ..data.cache import ntu_benchmark_data

    data, train_idx, test_idx, _ = ntu_benchmark_data(data_root, benchmark, cache_dir=cache_dir)
    return data, train_idx, test_idx


def family_of_classes(class_names) -> np.ndarray | None:
    """Family index ``(C,)`` of every synthetic class, or ``None`` for other class names."""
    if not all(c in synthetic.ACTIONS for c in class_names):
        return None
    fams = list(synthetic.FAMILIES)
    return np.array([fams.index(synthetic.ACTIONS[c][0]) for c in class_names])


def build_baseline(num_classes: int, skeleton_name: str = "ntu25", seed: int = 0) -> SkeletonGCN:
    """The compact 2s-AGCN-style baseline (3 TCN-GCN blocks, 16-32-32 channels, kernel 5)."""
    torch.manual_seed(seed)
    return SkeletonGCN(num_classes, get_skeleton(skeleton_name).adjacency(), in_channels=3,
                       channels=(16, 32, 32), strides=(1, 2, 1), kernel_size=5)


def train_baseline(model, train_ds: SkeletonDataset, epochs: int = 10, batch_size: int = 64, lr: float = 3e-3,
                   seed: int = 0, device="cpu", desc: str = "baseline GCN", progress: bool = True,
                   amp: str | None = None) -> dict:
    """Train with a random observation ratio per sample and step (frames ``[0, ceil(r T_valid))``),
    AdamW and a one-cycle schedule. The observation is cut on the host (the seeded generator draws
    there) and the cut batch moves to ``device``. ``amp``: mixed precision
    (:func:`paperlib.train.fit`). Returns :func:`paperlib.train.fit`'s history."""
    dev = resolve_device(device)
    loader = make_loader(train_ds.x, train_ds.y, train_ds.valid, batch_size=batch_size, shuffle=True, seed=seed,
                         pin_memory=dev.type == "cuda")
    aug_gen = torch.Generator().manual_seed(seed)

    def partial_step(model, batch):                     # the batch is still on the host
        x, y, valid = batch
        x, _ = random_observation(x, valid, generator=aug_gen)
        return torch.nn.functional.cross_entropy(model(to_device(x, dev)), to_device(y, dev))

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=epochs * len(loader))
    return fit(model, loader, epochs, opt, sched, step_fn=partial_step, device=dev, desc=desc, progress=progress,
               amp=amp, batch_to_device=False)


def evaluate_by_ratio(model, data, test_idx, num_frames: int, ratios=OBS_RATIOS, device="cpu",
                      amp: str | None = None):
    """Predictions at each observation ratio: ``({r: (n_test,) predicted class}, (n_test,) labels)``.
    ``amp``: the forward passes in mixed precision (:func:`paperlib.train.predict`)."""
    dev = resolve_device(device)
    preds = {}
    for r in ratios:
        ds = SkeletonDataset(data, test_idx, ratio=r, frames=num_frames)
        logits, y = predict(model, make_loader(ds.x, ds.y, batch_size=256, pin_memory=dev.type == "cuda"), dev,
                            amp=amp)
        preds[r] = logits.argmax(1).numpy()
    return preds, y.numpy()


def ratio_metrics(correct: dict, family_correct: dict | None = None, within: dict | None = None) -> dict:
    """Flat metrics of one variant: ``acc@r`` per ratio, ``auc``, and optional family ones."""
    acc = {r: float(np.mean(c)) for r, c in correct.items()}
    out = {f"acc@{r}": a for r, a in acc.items()}
    out["auc"] = auc_over_ratios(acc)
    for name, d in (("family_acc", family_correct), ("within_family_acc", within)):
        for r, v in (d or {}).items():
            out[f"{name}@{r}"] = float(v)
    return out


def run_experiment(seed: int = 0, early_cue: float = synthetic.DEFAULT_EARLY_CUE, dataset: str = "synthetic",
                   data_root=None, benchmark: str = "xsub", num_samples: int = 3000, num_frames: int = 16,
                   epochs: int = 10, batch_size: int = 64, lr: float = 3e-3, device: str = "cpu",
                   progress: bool = False, amp: str | None = None) -> dict:
    """The primer's experiment for one seed: GCN baseline and the two probe references per ratio.

    Returns ``{"metrics": {"gcn": {...}, "linear_probe": {...}, "mlp_probe": {...}, "chance": {...}},
    "per_item": {"gcn": {"correct@r": [...]}, "linear_probe": {...}, "mlp_probe": {...}}}`` with
    ``acc@r`` for r in 0.1..1.0, ``auc``, and on
    the synthetic data ``family_acc@r`` and ``within_family_acc@r`` (the argmax over the true
    family's classes; chance is ``1 / family size``) at r = 0.2 and 1.0. Per-item lists are 0/1
    correctness over the same test items for both variants (paired). ``amp`` (``None``, ``"bf16"``,
    ``"fp16"``): the GCN's forward passes in mixed precision (:func:`paperlib.train.autocast`);
    ``None`` is full precision.
    """
    data, train_idx, test_idx = make_data(dataset, num_samples, seed, early_cue, benchmark, data_root)
    fam = family_of_classes(data.class_names)
    train_ds = SkeletonDataset(data, train_idx, frames=num_frames)
    model = build_baseline(len(data.class_names), data.skeleton_name, seed)
    train_baseline(model, train_ds, epochs, batch_size, lr, seed, device, progress=progress, amp=amp)
    preds, y = evaluate_by_ratio(model, data, test_idx, num_frames, device=device, amp=amp)
    gcn_correct = {r: (p == y) for r, p in preds.items()}
    probes = {"linear_probe": linear_probe_reference(data, train_idx, test_idx, families=fam, return_predictions=True),
              "mlp_probe": mlp_probe_reference(data, train_idx, test_idx, families=fam, return_predictions=True,
                                               seed=seed)}
    fam_r = (0.2, 1.0)
    gcn_fam = gcn_within = None
    if fam is not None:
        gcn_fam = {r: float((fam[preds[r]] == fam[y]).mean()) for r in fam_r}
        gcn_within = {r: within_family_accuracy(model, data, test_idx, num_frames, r, fam, device, amp)
                      for r in fam_r}
        chance_within = float(np.mean(1.0 / np.bincount(fam)[fam[y]]))
    metrics = {
        "gcn": ratio_metrics(gcn_correct, gcn_fam, gcn_within),
        **{k: ratio_metrics(pr["correct"],
                            {r: pr["family_acc"][r] for r in fam_r} if fam is not None else None,
                            {r: pr["within_family_acc"][r] for r in fam_r} if fam is not None else None)
           for k, pr in probes.items()},
        "chance": {"acc": 1.0 / len(data.class_names), **({"within_family_acc": chance_within} if fam is not None else {})},
    }
    per_item = {"gcn": {f"correct@{r}": gcn_correct[r].astype(float).tolist() for r in (0.2, 0.5, 1.0)},
                **{k: {f"correct@{r}": pr["correct"][r].astype(float).tolist() for r in (0.2, 0.5, 1.0)}
                   for k, pr in probes.items()}}
    return {"metrics": metrics, "per_item": per_item}


def run_probes(seed: int = 0, early_cue: float = synthetic.DEFAULT_EARLY_CUE, dataset: str = "synthetic",
               data_root=None, benchmark: str = "xsub", num_samples: int = 3000, device: str = "cpu") -> dict:
    """The two probe references alone, on :func:`make_data`'s data and split for ``seed``.

    The same data and split as any experiment that builds its data with :func:`make_data` and the
    same ``(seed, early_cue, dataset, benchmark, num_samples)`` (notebook 01's ERA grid), so their
    per-seed differences are paired. ``device`` is accepted for the harness and unused (scikit-learn
    runs on the CPU). Returns ``{"metrics": {"linear_probe": {...}, "mlp_probe": {...}, "chance":
    {"acc"}}, "per_item": {...}}`` with ``acc@r`` for every ratio of ``OBS_RATIOS`` and ``auc``.
    """
    data, train_idx, test_idx = make_data(dataset, num_samples, seed, early_cue, benchmark, data_root)
    probes = {"linear_probe": linear_probe_reference(data, train_idx, test_idx, return_predictions=True),
              "mlp_probe": mlp_probe_reference(data, train_idx, test_idx, return_predictions=True, seed=seed)}
    metrics = {k: ratio_metrics(pr["correct"]) for k, pr in probes.items()}
    metrics["chance"] = {"acc": 1.0 / len(data.class_names)}
    per_item = {k: {f"correct@{r}": pr["correct"][r].astype(float).tolist() for r in (0.2, 0.5, 1.0)}
                for k, pr in probes.items()}
    return {"metrics": metrics, "per_item": per_item}


def within_family_accuracy(model, data, test_idx, num_frames: int, ratio: float, families: np.ndarray,
                           device="cpu", amp: str | None = None) -> float:
    """Accuracy of the argmax over the true family's classes only (chance: 1 / family size)."""
    dev = resolve_device(device)
    ds = SkeletonDataset(data, test_idx, ratio=ratio, frames=num_frames)
    logits, y = predict(model, make_loader(ds.x, ds.y, batch_size=256, pin_memory=dev.type == "cuda"), dev, amp=amp)
    same = torch.from_numpy(families)[None, :] == torch.from_numpy(families[y.numpy()])[:, None]
    return float((logits.masked_fill(~same, -torch.inf).argmax(1) == y).float().mean())
