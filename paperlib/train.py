"""A small, device-agnostic training loop with tqdm progress.

The loop is deliberately plain (no callbacks framework): the notebooks' interesting parts are
the models. ``fit`` returns a history dict so results can be plotted and asserted on.
"""
from __future__ import annotations

import contextlib
import time

import torch
from torch import nn
from tqdm.auto import tqdm

__all__ = ["fit", "predict", "make_loader", "resolve_device", "count_parameters", "AMP_DTYPES", "autocast",
           "grad_scaler", "backward_step", "to_device"]

#: ``amp`` names -> the autocast dtype (``None``: full precision, no autocast).
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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


def make_loader(*tensors, batch_size=64, shuffle=False, seed=0, drop_last=False, pin_memory: bool = False):
    """A ``DataLoader`` over in-memory tensors with a seeded shuffle (no worker processes).
    ``pin_memory``: batches in page-locked memory, so that ``.to("cuda", non_blocking=True)``
    copies them asynchronously (pass ``device.type == "cuda"``)."""
    ds = torch.utils.data.TensorDataset(*tensors)
    gen = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=gen,
                                       drop_last=drop_last, pin_memory=pin_memory)


def to_device(t: torch.Tensor, device) -> torch.Tensor:
    """``t`` (a batch gathered on the host) on ``device``: page-locked first when ``device`` is a
    CUDA device, then copied with ``non_blocking=True`` (the copy overlaps the GPU's work; the host
    does not wait). Values unchanged; on other devices a plain ``.to(device, non_blocking=True)``."""
    device = torch.device(device)
    if device.type == "cuda" and t.device.type == "cpu":
        t = t.pin_memory()
    return t.to(device, non_blocking=True)


def _check_amp(amp):
    if amp is not None and amp not in AMP_DTYPES:
        raise ValueError(f"amp must be None, 'bf16' or 'fp16', got {amp!r}")


def autocast(device, amp: str | None = None):
    """The context for a forward pass: ``torch.autocast(device_type=device.type, dtype=...)`` for
    ``amp`` ``"bf16"`` or ``"fp16"`` (mixed precision: matmuls and convolutions in 16 bits,
    reductions and losses in float32), a no-op for ``amp=None`` (full precision, the numbers of a
    run without it). Raises ``ValueError`` for another ``amp``."""
    _check_amp(amp)
    if amp is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=AMP_DTYPES[amp])


def grad_scaler(device, amp: str | None = None) -> torch.amp.GradScaler:
    """A ``torch.amp.GradScaler``, enabled for ``amp="fp16"`` only (float16 gradients underflow
    without loss scaling; bfloat16 has float32's range). Disabled, it passes the loss and the
    optimiser step through unchanged."""
    _check_amp(amp)
    return torch.amp.GradScaler(torch.device(device).type, enabled=amp == "fp16")


def backward_step(loss, optimizer, scaler: torch.amp.GradScaler | None = None, clip_params=None,
                  max_norm: float | None = None) -> None:
    """``loss.backward()``, optional gradient-norm clipping of ``clip_params`` at ``max_norm``, then
    ``optimizer.step()``, through ``scaler`` (:func:`grad_scaler`) when it is enabled: the loss is
    scaled, the gradients unscaled before clipping, and a step with non-finite gradients skipped.
    Without an enabled scaler exactly the plain sequence."""
    if scaler is None or not scaler.is_enabled():
        loss.backward()
        if max_norm:
            nn.utils.clip_grad_norm_(clip_params, max_norm)
        optimizer.step()
        return
    scaler.scale(loss).backward()
    if max_norm:
        scaler.unscale_(optimizer)
        nn.utils.clip_grad_norm_(clip_params, max_norm)
    scaler.step(optimizer)
    scaler.update()


def _to(batch, device):
    return [to_device(b, device) for b in batch]


def fit(model: nn.Module, train_loader, epochs: int, optimizer=None, scheduler=None, loss_fn=None,
        val_loader=None, device="auto", progress: bool = True, step_fn=None, desc: str = "train",
        grad_clip: float | None = None, amp: str | None = None, batch_to_device: bool = True):
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
    amp : ``None`` (full precision), ``"bf16"`` or ``"fp16"``: the forward pass (``step_fn``
        included) under :func:`autocast`, fp16 with a :func:`grad_scaler`; ``val_loader`` too.
    batch_to_device : ``True``: every batch is moved to ``device`` (page-locked, non-blocking,
        :func:`to_device`) before ``step_fn`` sees it; ``False``: ``step_fn`` receives the batch as
        the loader yields it, on the host (for a step that gathers host data by the batch's indices
        or draws host randomness, and moves what it needs itself).

    The loop makes no host synchronisation per step (the losses and the correct counts add up on
    the device and are read once per epoch), so the host can queue steps ahead of an accelerator.

    Returns
    -------
    dict with lists ``loss`` (per epoch mean), ``train_acc``, ``val_acc`` (if ``val_loader``),
    ``lr`` and ``seconds`` (per epoch wall time).
    """
    dev = resolve_device(device)
    model.to(dev)
    optimizer = optimizer or torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = loss_fn or nn.CrossEntropyLoss()
    scaler = grad_scaler(dev, amp)
    hist = {"loss": [], "train_acc": [], "val_acc": [], "lr": [], "seconds": []}
    bar = tqdm(range(epochs), desc=desc, disable=not progress, leave=False)
    for _ in bar:
        t0 = time.perf_counter()
        model.train()
        # float64 sum of loss * batch size, as a Python float would add them; read once per epoch
        tot = torch.zeros((), dtype=torch.float64, device=dev)
        correct = torch.zeros((), dtype=torch.int64, device=dev)
        n = 0
        for batch in train_loader:
            if batch_to_device:
                batch = _to(batch, dev)
            optimizer.zero_grad(set_to_none=True)
            with autocast(dev, amp):
                if step_fn is not None:
                    loss = step_fn(model, batch)
                else:
                    out = model(batch[0])
                    loss = loss_fn(out, batch[1])
                    if out.dim() == 2 and batch[1].dim() == 1:
                        correct += (out.argmax(1) == batch[1]).sum()
            backward_step(loss, optimizer, scaler, model.parameters(), grad_clip)
            if scheduler is not None:
                scheduler.step()
            bs = len(batch[0])
            tot += loss.detach().double() * bs
            n += bs
        hist["loss"].append(tot.item() / max(n, 1))
        hist["train_acc"].append(correct.item() / max(n, 1) if step_fn is None else float("nan"))
        hist["lr"].append(optimizer.param_groups[0]["lr"])
        if val_loader is not None:
            logits, y = predict(model, val_loader, dev, amp=amp)
            hist["val_acc"].append(float((logits.argmax(1) == y).float().mean()))
        hist["seconds"].append(time.perf_counter() - t0)
        bar.set_postfix(loss=f"{hist['loss'][-1]:.3f}")
    return hist


@torch.no_grad()
def predict(model: nn.Module, loader, device="auto", amp: str | None = None):
    """Run ``model`` in eval mode over ``loader``; return ``(outputs, targets)`` on the CPU,
    concatenated along the batch dimension. ``amp``: the forward passes under :func:`autocast`
    (the outputs come back as float32)."""
    dev = resolve_device(device)
    model.to(dev).eval()
    outs, ys = [], []
    for batch in loader:
        with autocast(dev, amp):
            out = model(to_device(batch[0], dev))
        outs.append((out if amp is None else out.float()).cpu())
        ys.append(batch[1])
    return torch.cat(outs), torch.cat(ys)
