"""Metrics: accuracy per observation ratio and AUC, MPJPE, PA-MPJPE, PCK.

Sources
-------
- Accuracy per observation ratio and AUC: the early action prediction protocol of ERA
  (Foo et al., ECCV 2022, Sec. 3.1/4): the AUC is the mean of the top-1 accuracies at the
  observation ratios 0.1, 0.2, ..., 1.0 (the normalised area under the accuracy-vs-ratio curve
  by the rectangle rule).
- MPJPE / PA-MPJPE: Ionescu et al., Human3.6M (TPAMI 2014); PA = after a similarity Procrustes
  alignment (Gower 1975), solved by SVD with a reflection fix.
- PCK: the fraction of joints within a distance threshold.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["accuracy", "accuracy_per_ratio", "auc_over_ratios", "mpjpe", "procrustes_align", "pa_mpjpe", "pck"]


def accuracy(logits_or_pred, labels) -> float:
    """Top-1 accuracy in [0, 1]. ``logits (N, C)`` or predicted classes ``(N,)``; ``labels (N,)``."""
    p = torch.as_tensor(logits_or_pred)
    y = torch.as_tensor(labels)
    if p.dim() == 2:
        p = p.argmax(1)
    if p.shape != y.shape:
        raise ValueError(f"accuracy: predictions {tuple(p.shape)} vs labels {tuple(y.shape)}")
    return float((p == y).float().mean()) if len(y) else float("nan")


def accuracy_per_ratio(predict, ratios, labels) -> dict:
    """``{ratio: accuracy}`` for a callable ``predict(ratio) -> logits or classes (N,)``."""
    return {float(r): accuracy(predict(r), labels) for r in ratios}


def auc_over_ratios(acc_by_ratio: dict) -> float:
    """AUC of the accuracy-vs-observation-ratio curve: the mean accuracy over the ratios.

    With ratios 0.1..1.0 this is the ERA paper's AUC. Raises ``ValueError`` if empty.
    """
    if not acc_by_ratio:
        raise ValueError("auc_over_ratios: no ratios")
    return float(np.mean(list(acc_by_ratio.values())))


def _as_tensor(x):
    return torch.as_tensor(np.asarray(x)) if not isinstance(x, torch.Tensor) else x


def mpjpe(pred, target, mask=None):
    """Mean per-joint position error, in the input's units (usually metres; x1000 for mm).

    ``pred, target (..., V, 3)``; ``mask (..., V)`` optional weights (e.g. visibility).
    Returns a float. Raises ``ValueError`` on a shape mismatch.
    """
    p, t = _as_tensor(pred).double(), _as_tensor(target).double()
    if p.shape != t.shape:
        raise ValueError(f"mpjpe: shapes {tuple(p.shape)} and {tuple(t.shape)} differ")
    err = (p - t).norm(dim=-1)
    if mask is None:
        return float(err.mean())
    m = _as_tensor(mask).double()
    return float((err * m).sum() / m.sum().clamp_min(1e-12))


def procrustes_align(pred, target):
    """Align ``pred`` to ``target`` by the best similarity transform (scale, rotation, translation).

    ``pred, target (..., V, 3)`` -> aligned ``pred (..., V, 3)``, same type (numpy or torch).
    Solves ``min_{s,R,t} ||s R p + t - y||`` per leading index via the SVD of the centred
    cross-covariance; the reflection fix flips the last singular direction when
    ``det(U V^T) < 0``, so ``R`` is a proper rotation.
    """
    is_np = isinstance(pred, np.ndarray)
    p, y = _as_tensor(pred).double(), _as_tensor(target).double()
    if p.shape != y.shape:
        raise ValueError(f"procrustes_align: shapes {tuple(p.shape)} and {tuple(y.shape)} differ")
    mu_p, mu_y = p.mean(-2, keepdim=True), y.mean(-2, keepdim=True)
    p0, y0 = p - mu_p, y - mu_y
    H = p0.transpose(-1, -2) @ y0  # (..., 3, 3)
    U, S, Vh = torch.linalg.svd(H)
    d = torch.sign(torch.linalg.det(Vh.transpose(-1, -2) @ U.transpose(-1, -2)))
    d = torch.where(d == 0, torch.ones_like(d), d)
    D = torch.diag_embed(torch.stack([torch.ones_like(d), torch.ones_like(d), d], -1))
    R = Vh.transpose(-1, -2) @ D @ U.transpose(-1, -2)  # rotation applied as R @ p
    scale = (S * torch.diagonal(D, dim1=-2, dim2=-1)).sum(-1) / (p0 ** 2).sum((-1, -2)).clamp_min(1e-12)
    aligned = scale[..., None, None] * (p0 @ R.transpose(-1, -2)) + mu_y
    return aligned.numpy() if is_np else aligned


def pa_mpjpe(pred, target):
    """MPJPE after Procrustes alignment of every pose (``(..., V, 3)``), a float in input units."""
    return mpjpe(procrustes_align(pred, target), target)


def pck(pred, target, threshold: float, mask=None) -> float:
    """Percentage of correct keypoints: fraction of joints with error below ``threshold``.

    ``pred, target (..., V, D)`` in the same units as ``threshold`` (metres or pixels).
    """
    p, t = _as_tensor(pred).double(), _as_tensor(target).double()
    if p.shape != t.shape:
        raise ValueError(f"pck: shapes {tuple(p.shape)} and {tuple(t.shape)} differ")
    ok = ((p - t).norm(dim=-1) < threshold).double()
    if mask is None:
        return float(ok.mean())
    m = _as_tensor(mask).double()
    return float((ok * m).sum() / m.sum().clamp_min(1e-12))
