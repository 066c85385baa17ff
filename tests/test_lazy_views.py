"""Lazy views of memory-mapped real data (paperlib.data.sequences.LazyRows / NormalizedFrames):
ERA's ObservedViews, the linear probe's features and UPS's task tensors computed per batch from
the cache equal, bit for bit, the tensors the in-memory path materialises; training on them gives
the same numbers."""
from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np
import pytest
import torch

from paperlib.data import fixtures
from paperlib.data import sequences as Q
from paperlib.data.arrays import is_memory_mapped
from paperlib.papers import era as E


def _bits(t) -> torch.Tensor:
    """The float32 bit patterns (so that -0.0 != 0.0 and NaNs compare)."""
    return torch.as_tensor(np.asarray(t, dtype=np.float32)).contiguous().view(torch.int32)


@pytest.fixture(scope="module")
def ntu(tmp_path_factory):
    """120 NTU-60 .skeleton files (one training and one test sample per class) through the cache,
    and the same data in memory."""
    from paperlib.papers import primer

    root = tmp_path_factory.mktemp("ntu")
    info = fixtures.write_ntu(root / "skeletons", 60, per_class=(1, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data, tr, te = primer.make_data("ntu60", data_root=info["root"])
    assert is_memory_mapped(data.joints) and data.frame_sampling == "valid"
    return data, replace(data, joints=np.array(data.joints)), tr, te


@pytest.mark.parametrize("policy", ["resample", "pad"])
@pytest.mark.parametrize("frames", [8, 24])
def test_lazy_observed_views_equal_the_materialised_ones(ntu, policy, frames):
    data, mem, tr, _ = ntu
    a = E.ObservedViews(mem, tr, frames, policy)
    b = E.ObservedViews(data, tr, frames, policy)
    assert a.store is None and b.store is not None
    rng = np.random.default_rng(frames)
    picks = [torch.from_numpy(rng.integers(0, len(tr), 17)), torch.tensor([len(tr) - 1, 0, 0, 3]),
             torch.tensor([], dtype=torch.long), np.array([[1, 2], [5, 1]]), [4, -1],
             torch.from_numpy(rng.random(len(tr)) < 0.3)]
    for j in range(len(a.ratios)):
        xa, xb = a.x(j), b.x(j)
        assert isinstance(xb, Q.LazyRows) and xb.shape == xa.shape and len(xb) == len(xa)
        assert torch.equal(_bits(xb.materialize()), _bits(xa)), (policy, j)
        if j not in (0, 4, 9):
            continue
        for idx in picks:
            assert torch.equal(_bits(xb[idx]), _bits(xa[idx])), (policy, j, idx)
        assert torch.equal(xb[7], xa[7]) and torch.equal(xb[3:20:4], xa[3:20:4])
        last = torch.randint(frames, (len(tr),))
        assert torch.equal(xb[torch.arange(len(tr)), :, last], xa[torch.arange(len(tr)), :, last])
        assert torch.equal(xb.abs().amax(dim=(1, 3, 4)), xa.abs().amax(dim=(1, 3, 4)))  # via the tensor
    rows, ridx = torch.from_numpy(rng.integers(0, len(tr), 40)), torch.from_numpy(rng.integers(0, 10, 40))
    assert torch.equal(_bits(b.batch(rows, ridx)), _bits(a.batch(rows, ridx)))
    if policy == "pad":
        assert torch.equal(a.lengths, b.lengths)
    else:
        assert b.views.shape == a.views.shape and torch.equal(b.views[2][5], a.views[2][5])


def test_views_of_the_same_cache_share_one_store(ntu):
    data, _, tr, te = ntu
    a = E.ObservedViews(data, tr, 8, "resample")
    b = E.ObservedViews(data, te, 16, "pad")
    assert a.store is b.store and 0 < a.store.nbytes < data.joints.nbytes
    assert a.store.frames.shape[0] == int(np.sum(data.valid_frames))     # the valid frames only
    with pytest.raises(IndexError, match="valid frames"):
        a.store.take([0], [[int(data.valid_frames[0])]])
    with pytest.raises(ValueError, match="ratio"):
        a.store.resample([0], 0.0, 8)


@pytest.fixture
def one_thread():
    """One torch thread (the machine may be shared: small models run slower with more)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def test_training_on_lazy_views_gives_the_same_numbers(ntu, one_thread):
    data, mem, tr, te = ntu
    out = []
    for d in (mem, data):
        train_v, test_v = E.ObservedViews(d, tr, 8, "resample"), E.ObservedViews(d, te, 8, "resample")
        model = E.build_model("era", num_classes=60, channels=(8, 16, 16), key_dim=4, seed=0)
        hist = E.train_variant(model, train_v, epochs=1, batch_size=20, seed=0, elro=True)
        ev = E.evaluate(model, test_v, record=True)
        out.append((hist, ev))
    (h1, e1), (h2, e2) = out
    assert h1["ce"] == h2["ce"] and h1["loss"] == h2["loss"]
    assert all(torch.equal(h1["usage"][k], h2["usage"][k]) for k in h1["usage"])
    assert e1["acc"] == e2["acc"] and np.array_equal(e1["logits"], e2["logits"])


def test_probe_features_from_the_store_equal_the_in_memory_ones(ntu):
    from paperlib.probe import linear_probe_reference, prefix_features

    data, mem, tr, te = ntu
    for r in (0.1, 0.55, 1.0):
        a = prefix_features(mem, te, r, 8)
        b = prefix_features(data, te, r, 8)
        assert a.dtype == b.dtype == np.float32 and np.array_equal(a.view(np.int32), b.view(np.int32))
    pa = linear_probe_reference(mem, tr, te, ratios=(0.2, 1.0))
    pb = linear_probe_reference(data, tr, te, ratios=(0.2, 1.0))
    assert pa == pb


def test_lazy_rows_behave_like_a_tensor():
    base = torch.arange(5 * 3 * 4, dtype=torch.float32).view(5, 3, 4)
    calls = []
    lazy = Q.LazyRows(5, (3, 4), lambda p: (calls.append(len(p)), base[torch.from_numpy(p)])[1])
    assert lazy.shape == base.shape and lazy.dim() == 3 and lazy.size(1) == 3 and lazy.dtype == torch.float32
    for key in (2, -1, slice(1, 4), [0, 0, 4], torch.tensor([3, 1]), np.array([True, False, True, False, True]),
                (slice(None), 1), (torch.tensor([0, 2]), slice(None), torch.tensor([3, 1])), (1, 2, 3)):
        assert torch.equal(lazy[key], base[key]), key
    assert torch.equal(torch.cat([lazy, lazy]), torch.cat([base, base])) and torch.equal(lazy * 1, base)
    assert np.array_equal(np.asarray(lazy), base.numpy()) and torch.equal(lazy.materialize(chunk=2), base)
    both = Q.LazyRows.cat([lazy, base[:2]])
    assert len(both) == 7 and torch.equal(both[torch.tensor([6, 0, 5])], base[[1, 0, 0]])
    with pytest.raises(IndexError):
        lazy[5]
    with pytest.raises(IndexError):
        lazy[np.array([True, False])]
    assert calls  # rows are computed on demand


def test_ups_task_tensors_of_lazy_views_equal_torch_cat(ntu):
    from types import SimpleNamespace

    from paperlib.papers import ups as U

    data, mem, tr, _ = ntu
    store = Q.NormalizedFrames.shared(data.joints, data.valid_frames, tr)
    ar, ep, y = U._lazy_recognition_views(store, np.arange(len(tr)), data.labels[tr], 8, (0.2, 1.0))
    ar_ref, ep_ref, y_ref = U.recognition_views(mem.joints[tr], mem.valid_frames[tr], mem.labels[tr], 8, (0.2, 1.0))
    assert torch.equal(_bits(ar.materialize()), _bits(ar_ref)) and torch.equal(y, y_ref)
    assert all(torch.equal(_bits(ep[r].materialize()), _bits(ep_ref[r])) for r in ep_ref)
    vocab = SimpleNamespace(target_tokens=lambda task, y: torch.stack([y, y], 1))
    x, t = U.task_tensors({"ep3d": (ep, y)}, "ep3d", vocab, (0.2, 1.0))
    x_ref, t_ref = U.task_tensors({"ep3d": (ep_ref, y_ref)}, "ep3d", vocab, (0.2, 1.0))
    assert isinstance(x, Q.LazyRows) and x.shape == x_ref.shape and torch.equal(t, t_ref)
    i = torch.randperm(len(x_ref), generator=torch.Generator().manual_seed(0))[:33]
    assert torch.equal(x[i], x_ref[i])


def test_derived_rows_are_reused_until_the_cache_changes(tmp_path):
    import json

    from paperlib.data import cache as C

    (tmp_path / "index.json").write_text(json.dumps({"v": 1}))
    calls = []

    def compute(a, b):
        calls.append((a, b))
        return np.arange(a, b, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)

    x = C.derived_rows(tmp_path, "t", 10, (3,), compute, 4)
    assert isinstance(x, np.memmap) and not x.flags.writeable and x[7, 2] == 7 and calls == [(0, 4), (4, 8), (8, 10)]
    C.derived_rows(tmp_path, "t", 10, (3,), compute, 4)
    assert len(calls) == 3                                              # reused
    (tmp_path / "index.json").write_text(json.dumps({"v": 2}))
    C.derived_rows(tmp_path, "t", 10, (3,), compute, 4)
    assert len(calls) == 6                                              # the cache changed: rebuilt
    with pytest.raises(FileNotFoundError):
        C.derived_rows(tmp_path / "nothing", "t", 1, (1,), compute, 1)
