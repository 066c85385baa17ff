import math

import pytest
import torch

from paperlib import setup_notebook
from paperlib.train import (autocast, count_parameters, fit, grad_scaler, make_loader, predict, resolve_device,
                            to_device)


def toy(n=256):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 2, generator=g)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    return x, y


def test_fit_learns_a_separable_problem():
    setup_notebook(0)
    x, y = toy()
    model = torch.nn.Linear(2, 2)
    hist = fit(model, make_loader(x, y, batch_size=32, shuffle=True), epochs=15, progress=False,
               optimizer=torch.optim.SGD(model.parameters(), lr=0.5), val_loader=make_loader(x, y))
    assert hist["loss"][-1] < hist["loss"][0] * 0.5
    assert hist["val_acc"][-1] > 0.95
    assert len(hist["seconds"]) == 15 and hist["train_acc"][-1] > 0.9
    logits, labels = predict(model, make_loader(x, y, batch_size=100))
    assert logits.shape == (256, 2) and torch.equal(labels, y)
    assert count_parameters(model) == 6


def test_seeded_runs_are_identical():
    x, y = toy()
    outs = []
    for _ in range(2):
        setup_notebook(1)
        model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
        fit(model, make_loader(x, y, batch_size=16, shuffle=True, seed=1), epochs=2, progress=False)
        outs.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert torch.equal(outs[0], outs[1])


def test_step_fn_and_devices():
    x, y = toy(64)
    model = torch.nn.Linear(2, 2)
    calls = []

    def step(m, batch):
        calls.append(len(batch[0]))
        return torch.nn.functional.cross_entropy(m(batch[0]), batch[1])

    fit(model, make_loader(x, y, batch_size=16), epochs=1, progress=False, step_fn=step)
    assert calls == [16, 16, 16, 16]
    assert resolve_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda"):
            resolve_device("cuda")


def test_setup_notebook_thread_cap(monkeypatch):
    before = torch.get_num_threads()
    try:
        monkeypatch.setenv("PAPERLIB_MAX_THREADS", "1")
        setup_notebook(0, threads=2)
        assert torch.get_num_threads() == 1
        monkeypatch.setenv("PAPERLIB_MAX_THREADS", "two")
        with pytest.raises(ValueError, match="PAPERLIB_MAX_THREADS"):
            setup_notebook(0)
    finally:
        torch.set_num_threads(before)


def test_setup_notebook_sets_state(monkeypatch):
    import plotly.io as pio

    monkeypatch.delenv("PAPERLIB_MAX_THREADS", raising=False)

    setup_notebook(5, threads=2)
    assert torch.get_num_threads() == 2
    assert torch.are_deterministic_algorithms_enabled()
    assert pio.renderers.default == "plotly_mimetype"
    a = torch.rand(3)
    setup_notebook(5, threads=2)
    assert torch.equal(a, torch.rand(3))
    with pytest.raises(ValueError):
        setup_notebook(0, threads=0)


def test_fit_reads_the_device_once_per_epoch_and_keeps_the_numbers():
    """The per-epoch loss is accumulated on the device (float64) but equals, to the bit, the sum of
    the steps' Python floats times the batch sizes that the loop used to make in every step."""
    x, y = toy(100)
    setup_notebook(2)
    model = torch.nn.Sequential(torch.nn.Linear(2, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    seen = []

    def step(m, batch):
        loss = torch.nn.functional.cross_entropy(m(batch[0]), batch[1])
        seen.append((float(loss.detach()), len(batch[0])))
        return loss

    hist = fit(model, make_loader(x, y, batch_size=32, shuffle=True), epochs=2, progress=False, step_fn=step)
    per_epoch = [seen[:4], seen[4:]]                                  # 100 samples: batches of 32, 32, 32, 4
    for got, steps in zip(hist["loss"], per_epoch):
        tot = 0.0
        for loss, bs in steps:
            tot += loss * bs
        assert got == tot / 100


@pytest.mark.parametrize("amp", ["bf16", "fp16"])
def test_fit_and_predict_in_mixed_precision_on_the_cpu(amp):
    x, y = toy()
    setup_notebook(0)
    model = torch.nn.Linear(2, 2)
    hist = fit(model, make_loader(x, y, batch_size=32, shuffle=True), epochs=10, progress=False, amp=amp,
               optimizer=torch.optim.SGD(model.parameters(), lr=0.5), val_loader=make_loader(x, y), grad_clip=5.0)
    assert all(math.isfinite(v) for v in hist["loss"]) and hist["val_acc"][-1] > 0.9
    logits, _ = predict(model, make_loader(x, y), amp=amp)
    assert logits.dtype == torch.float32
    assert grad_scaler("cpu", amp).is_enabled() == (amp == "fp16")


def test_amp_helpers():
    with autocast("cpu", None):
        assert not torch.is_autocast_enabled("cpu")                  # None: no autocast at all
    with autocast("cpu", "bf16"):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="amp"):
        autocast("cpu", "fp8")
    assert not grad_scaler("cpu", None).is_enabled()
    t = torch.arange(3.0)
    assert torch.equal(to_device(t, "cpu"), t)
    assert make_loader(t, batch_size=2, pin_memory=False).pin_memory is False
