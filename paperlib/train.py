"""A small, device-agnostic training loop with tqdm progress.

The loop is deliberately plain (no callbacks framework): the notebooks' interesting parts are
the models. ``fit`` returns a history dict so results can be plotted and asserted on.
"""
from __future__ import annotations

import time

import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["fit", "predict", "make_loader", "resolve_device", "count_parameters"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU. Raises ``ValueError`` for unavailable CUDA."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested but torch.cuda.is_available() is False")
    return dev


def model_device(model: nn.Module, device=None) -> torch.device:
    """``resolve_device(device)`` when ``device`` is given, else the device of ``model``'s first
    parameter: where a helper that receives a trained model should run its inputs."""
    return resolve_device(device) if device is not None else next(model.parameters()).device


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def make_loader(*tensors, batch_size=64, shuffle=False, seed=0, drop_last=False):
    """A ``DataLoader`` over in-memory tensors with a seeded shuffle (no worker processes)."""
    ds = torch.utils.data.TensorDataset(*tensors)
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=gen,
                                       drop_last=drop_last)


def _to(batch, device):
    return [b.to(device, non_blocking=True) for b in batch]


def fit(model: nn.Module, train_loader, epochs: int, optimizer=None, scheduler=None, loss_fn=None,
        val_loader=None, device="auto", progress: bool = True, step_fn=None, desc: str = "train",
        grad_clip: float | None = None):
    """Train ``model``; return a history.

    Parameters
    ----------
    model : nn.Module mapping the batch's first tensor to logits (or whatever ``loss_fn`` takes).
    train_loader : iterable of ``(x, y)`` (or more tensors; ``step_fn`` then decides).
    epochs : number of passes.
    optimizer : default ``AdamW(lr=1e-3, weight_decay=1e-4)``.
    scheduler : a per-**step** LR scheduler (``scheduler.step()`` after every batch), optional.
    loss_fn : default cross-entropy.
    val_loader : evaluated after every epoch with :func:`predict` (accuracy).
    device : ``"auto"``, ``"cpu"`` or ``"cuda"``.
    step_fn : optional ``step_fn(model, batch) -> loss`` replacing ``loss_fn(model(x), y)``.
    grad_clip : max gradient norm, optional.

    Returns
    -------
    dict with lists ``loss`` (per epoch mean), ``train_acc``, ``val_acc`` (if ``val_loader``),
    ``lr`` and ``seconds`` (per epoch wall time).
    """
    dev = resolve_device(device)
    model.to(dev)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    hist = {"loss": [], "train_acc": [], "val_acc": [], "lr": [], "seconds": []}
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        t0 = time.perf_counter()
        model.train()
        tot, n, correct = 0.0, 0, 0
        for batch in train_loader:
            batch = _to(batch, dev)
            optimizer.zero_grad(set_to_none=True)
            if step_fn is not None:
                loss = step_fn(model, batch)
            else:
                out = model(batch[0])
                loss = loss_fn(out, batch[1])
                if out.dim() == 2 and batch[1].dim() == 1:
                    correct += int((out.argmax(1) == batch[1]).sum())
            loss.backward()
            if grad_clip:
                nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            bs = len(batch[0])
            tot += float(loss.detach()) * bs
            n += bs
        hist["loss"].append(tot / max(n, 1))
        hist["train_acc"].append(correct / max(n, 1) if step_fn is None else float("nan"))
        hist["lr"].append(optimizer.param_groups[0]["lr"])
        if val_loader is not None:
            logits, y = predict(model, val_loader, dev)
            hist["val_acc"].append(float((logits.argmax(1) == y).float().mean()))
        hist["seconds"].append(time.perf_counter() - t0)
        bar.set_postfix(loss=f"{hist['loss'][-1]:.3f}")
    return hist


@torch.no_grad()
def predict(model: nn.Module, loader, device="auto"):
    """Run ``model`` in eval mode over ``loader``; return ``(outputs, targets)`` on the CPU,
    concatenated along the batch dimension."""
    dev = resolve_device(device)
    model.to(dev).eval()
    outs, ys = [], []
    for batch in loader:
        outs.append(model(batch[0].to(dev, non_blocking=True)).cpu())
        ys.append(batch[1])
    return torch.cat(outs), torch.cat(ys)
