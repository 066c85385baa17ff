"""Decoded-frame caches (paperlib.data.frame_cache): NTU RGB+D clips for notebook 03 and AVA keyframes
for notebook 04 are decoded once by DataLoader workers into a uint8 .npy file and read back through a
memory map; the cached arrays equal a direct decode bit for bit, are reused without decoding, and are
rebuilt when a source file changes. The trunk feature maps of notebook 03 on real data live on disk."""
import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from paperlib.data import fixtures
from paperlib.data import frame_cache as FC
from paperlib.data.errors import SkipReport
from paperlib.data.frames import load_ntu_rgb_pose, read_frame_folder, write_frame_folder

T, SIZE = 4, 32


@pytest.fixture(scope="module")
def ntu_root(tmp_path_factory):
    return Path(fixtures.write_ntu_rgb(tmp_path_factory.mktemp("ntu"), 60, per_class=(1, 0))["root"])


@pytest.fixture(scope="module")
def ava_root(tmp_path_factory):
    return Path(fixtures.write_ava(tmp_path_factory.mktemp("ava"), clips_per_split=(6, 3), frames=4)["root"])


@pytest.fixture(scope="module")
def fps():  # of the fixture's clips (write_ava renders 4-frame clips with make_multi_person_clips)
    from paperlib.data.video import make_multi_person_clips
    return float(make_multi_person_clips(1, frames=4, size=(72, 128)).fps)


def _mapping_of(ptr: int):
    """The file mapped at address ``ptr`` in this process (``/proc/self/maps``), or None."""
    with open("/proc/self/maps") as fh:
        for line in fh:
            parts = line.split(maxsplit=5)
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            if lo <= ptr < hi:
                return parts[5].strip() if len(parts) > 5 else None
    return None


needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc/self/maps (Linux)")


def _load_ntu(root, **kw):
    from paperlib.papers.glimpse import load_ntu_rgb
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        d = load_ntu_rgb(root, frames=T, size=SIZE, benchmark="xview", **kw)
    msgs = [str(w.message) for w in rec]
    assert len(msgs) == 1 and "frame counts differ" in msgs[0], msgs   # one warning for the set, no other
    return d


@needs_proc
def test_ntu_rgb_cache_is_the_direct_decode_memory_mapped_reused_and_rebuilt(ntu_root, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    d = _load_ntu(ntu_root, cache_dir=cache, workers=2)
    names = sorted(p.name for p in (ntu_root / "rgb").iterdir())
    direct = [load_ntu_rgb_pose(ntu_root / "rgb" / n, ntu_root / "skeletons" / f"{n}.skeleton", num_samples=T,
                                size=(SIZE, SIZE), report=SkipReport()) for n in names]
    want = np.stack([c.frames for c in direct]).transpose(0, 4, 1, 2, 3)
    assert d.X.dtype == torch.uint8 and np.array_equal(d.X.numpy(), want)
    P = np.stack([c.joints2d[0] for c in direct]).astype(np.float32) / SIZE * 2 - 1
    assert torch.equal(d.P, torch.from_numpy(P))
    # the tensor is the file, not a copy (torch.from_numpy on a copy-on-write memmap)
    npy = cache / f"ntu_rgb_{T}x{SIZE}.npy"
    assert _mapping_of(d.X.data_ptr()) == str(npy) and (cache / f"ntu_rgb_{T}x{SIZE}.json").exists()
    assert d.cache_dir == cache
    mem = _load_ntu(ntu_root, cache=False, workers=0)                   # in memory: the same namespace
    for k in ("X", "Y", "P", "V"):
        assert torch.equal(getattr(d, k), getattr(mem, k)), k
    assert np.array_equal(d.train, mem.train) and np.array_equal(d.test, mem.test) and mem.cache_dir is None

    def boom(item):
        raise AssertionError("decoded although the cache is up to date")

    monkeypatch.setattr(FC, "_decode_ntu_rgb", boom)
    again = _load_ntu(ntu_root, cache_dir=cache, workers=0)             # reused: the report too (one warning)
    assert torch.equal(again.X, d.X) and torch.equal(again.P, d.P)
    monkeypatch.undo()

    folder = ntu_root / "rgb" / names[0]                                 # a source file changes: rebuilt
    clip = read_frame_folder(folder)
    write_frame_folder(folder, 255 - clip.frames)
    new = _load_ntu(ntu_root, cache_dir=cache, workers=0)
    fresh = load_ntu_rgb_pose(folder, ntu_root / "skeletons" / f"{names[0]}.skeleton", num_samples=T,
                              size=(SIZE, SIZE), report=SkipReport())
    assert np.array_equal(new.X[0].numpy(), fresh.frames.transpose(3, 0, 1, 2))
    assert not torch.equal(new.X[0], d.X[0]) and torch.equal(new.X[1:], torch.from_numpy(want[1:]))


def test_frame_cache_errors_come_back_as_raised(tmp_path):
    # a FormatError in a worker reaches the caller as itself (file and field), not a re-wrapped copy
    from paperlib.data.errors import FormatError
    root = tmp_path / "ntu"
    (root / "rgb" / "S001C001P001R001A001").mkdir(parents=True)
    with pytest.raises(FormatError, match="S001C001P001R001A001.skeleton.*does not exist"):
        FC.ntu_rgb_cache(root, ["S001C001P001R001A001"], T, SIZE, tmp_path / "c", workers=1)
    assert not (tmp_path / "c" / f"ntu_rgb_{T}x{SIZE}.json").exists()


def test_ava_cache_is_the_direct_decode_reused_and_rebuilt(ava_root, fps, tmp_path, monkeypatch):
    from paperlib.papers import action_transformer as AT
    cache = tmp_path / "cache"
    kw = dict(P=None, fps=fps, report=SkipReport())
    ks = AT.load_ava_split(ava_root, "train", T, SIZE, cache_dir=cache, workers=2, **kw)
    mem = AT.load_ava_split(ava_root, "train", T, SIZE, cache=False, P=None, fps=fps, report=SkipReport())
    assert isinstance(ks.frames, np.memmap) and not ks.frames.flags.writeable
    assert Path(ks.frames.filename) == (cache / f"ava_train_v2.2_{T}x{SIZE}.npy").resolve()
    assert np.array_equal(ks.frames, mem.frames) and np.array_equal(ks.boxes, mem.boxes)
    assert np.array_equal(ks.labels, mem.labels) and np.array_equal(ks.present, mem.present)
    for n, (vid, ts) in enumerate(zip(ks.video_ids, ks.timestamps)):    # the direct decode, keyframe by keyframe
        c = read_frame_folder(ava_root / "frames" / vid, num_samples=T, mode="center",
                              center=int(round((ts - 900.0) * fps)), size=(SIZE, SIZE), fit="letterbox")
        assert np.array_equal(ks.frames[n], c.frames), n
    monkeypatch.setattr(FC, "_decode_ava", lambda item: 1 / 0)
    rep = SkipReport()
    again = AT.load_ava_split(ava_root, "train", T, SIZE, cache_dir=cache, workers=0, P=1, fps=fps, report=rep)
    assert np.array_equal(again.frames, ks.frames) and rep.counts      # P=1: people beyond it still counted
    monkeypatch.undo()
    vid = ks.video_ids[0]
    folder = ava_root / "frames" / vid
    write_frame_folder(folder, 255 - read_frame_folder(folder).frames)
    new = AT.load_ava_split(ava_root, "train", T, SIZE, cache_dir=cache, workers=0, **kw)
    rows = np.array([v == vid for v in ks.video_ids])
    assert not np.array_equal(new.frames[rows], ks.frames[rows])
    assert np.array_equal(new.frames[~rows], mem.frames[~rows])


def test_row_subset_reads_rows_without_copying_the_base():
    base = np.arange(5 * 2 * 3).reshape(5, 2, 3)
    rows = np.array([4, 1, 3])
    s = FC.RowSubset(base, rows)
    assert s.shape == (3, 2, 3) and len(s) == 3 and s.dtype == base.dtype and s.ndim == 3
    assert np.array_equal(s[torch.tensor([2, 0])], base[[3, 4]]) and np.array_equal(s[1], base[1])
    assert np.array_equal(s[:2], base[[4, 1]]) and np.array_equal(s[1, 0], base[1, 0])
    assert np.array_equal(s[np.array([0, 2]), 1], base[[4, 3], 1]) and np.array_equal(np.asarray(s), base[rows])


@needs_proc
def test_glimpse_on_ntu_rgb_keeps_the_trunk_maps_on_disk(ntu_root, tmp_path):
    from paperlib.papers import glimpse as G
    cache = tmp_path / "cache"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = G.run_experiment(dataset="ntu_rgb", data_root=ntu_root, frames=T, size=SIZE, benchmark="xview",
                               epochs_global=1, epochs_glimpse=1, variants=("gc",), global_avg=False,
                               return_models=True, cache_dir=cache)
    Z, c = out["feats"]
    where = _mapping_of(Z.data_ptr())
    assert where is not None and where.startswith(f"{cache}/") and where.endswith("(deleted)")   # unnamed, in cache_dir
    Zm, cm = G.trunk_features(out["models"]["global"], out["data"].X)   # in memory: the same values
    assert torch.equal(Z, Zm) and torch.equal(c, cm)
    assert 0 <= out["metrics"]["gc"]["acc"] <= 1 and out["metrics"]["data"]["n_test"] > 0


def test_action_transformer_on_ava_reads_train_frames_batch_by_batch(ava_root, fps, tmp_path, monkeypatch):
    from paperlib.papers import action_transformer as AT

    def whole(self, *a, **k):
        raise AssertionError("the whole training split was read into memory")

    monkeypatch.setattr(FC.RowSubset, "__array__", whole)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = AT.run_experiment(dataset="ava", data_root=ava_root, ava_fps=fps, frames=T, size=SIZE, epochs_trunk=1,
                                epochs_head=1, variants=("i3d",), attention_clips=0, return_models=True,
                                cache_dir=tmp_path / "c")
    data = out["data"]
    assert isinstance(data.train.frames, FC.RowSubset) and isinstance(data.test.frames, np.memmap)
    assert len(data.train) + len(data.val) == 6 - 1                     # one keyframe excluded by the release
    assert 0 <= out["metrics"]["i3d"]["mAP_gt"] <= 1


def test_default_cache_dir_falls_back_where_the_root_is_read_only(tmp_path, monkeypatch):
    assert FC.default_frame_cache_dir(tmp_path) == tmp_path.resolve() / ".paperlib_cache"
    monkeypatch.setattr(FC, "_writable", lambda p: False)
    monkeypatch.setenv("PAPERLIB_CACHE", str(tmp_path / "elsewhere"))
    d = FC.default_frame_cache_dir(tmp_path)
    assert d.parent == tmp_path / "elsewhere" and d.name.startswith("frames-")
