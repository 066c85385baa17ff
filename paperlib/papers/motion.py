"""Action-guided 3D human motion prediction (Sun, Lin, Han, Hu, Xu, Zheng; NeurIPS 2021).

No official code exists; this module is written from the paper (Sec. 3) for notebook 05.

- :func:`cluster_exemplars`, :func:`snippets`, :func:`build_bank`, :class:`MemoryBank` - the
  action memory bank of Sec. 3.1.1 / Eq. 2: per action class, short-term snippets
  ``s = [theta_t, ..., theta_{t+dt-1}]`` and long-term snippets
  ``l = [theta_t, theta_{t+K}, ..., theta_{t+K(dt-1)}]`` clustered by scikit-learn's
  ``AffinityPropagation`` on precomputed affinities = negative L1 distances; clusters with fewer
  than 1% of the elements are discarded; the exemplars are the bank items.
- :func:`query_read` (Eqs. 3-4 and 5, vectorised over the batch and, optionally, time) and
  :func:`query_read_naive` (the per-sample loop it is tested against).
- :class:`FCBlocks` (the 3 stacked FC-ReLU-BN blocks of the encoders/decoders) and
  :class:`MotionPredictor` - the encoder-LSTM-decoder for ``theta``, ``beta`` and ``Pi`` with the
  query-read for ``theta`` in prediction (Sec. 3.1.2) and decoding (Sec. 3.1.3).
- :func:`prediction_losses` (Eqs. 6-9), :func:`prior_loss` (our stand-in for the SMPL priors),
  :func:`action_kl` (``L_action``, Eq. 10).
- Baselines of Sec. 4.1: :func:`constant_baseline`, :func:`nearest_neighbour_baseline`.
- Evaluation: :func:`pa_mpjpe_per_frame`, :func:`dtw_pa_mpjpe_per_frame`, :func:`degrade_labels`
  (Table 6's weakened classifier).

Shapes: ``B`` batch, ``T`` frames, ``D = 3V`` pose parameters (axis-angle of ``V`` joints),
``N`` bank items, ``C_k`` / ``C_v`` key / value channels. Angles in radians, joints in metres.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["cluster_exemplars", "snippets", "build_bank", "MemoryBank", "query_read", "query_read_naive",
           "FCBlocks", "MotionPredictor", "prediction_losses", "prior_loss", "action_kl",
           "constant_baseline", "nearest_neighbour_baseline", "pa_mpjpe_per_frame", "dtw_pa_mpjpe_per_frame",
           "degrade_labels", "HORIZONS"]

#: Future frames at which the paper reports PA-MPJPE (Table 1).
HORIZONS = (1, 5, 10, 20, 30)


# ----------------------------------------------------------------------------------------------
# 3.1.1 Action memory bank (Eq. 2)
# ----------------------------------------------------------------------------------------------
def cluster_exemplars(X, min_fraction: float = 0.01, seed: int = 0, preference=None, damping: float = 0.7,
                      max_iter: int = 1000):
    """Affinity propagation with negative-L1 affinities, then the paper's small-cluster discard.

    Parameters
    ----------
    X : ``(n, d)`` array of flattened snippets.
    min_fraction : clusters with fewer than ``min_fraction * n`` members are discarded (paper: 1%).
    seed, preference, damping, max_iter : passed to ``sklearn.cluster.AffinityPropagation``
        (``preference=None``: the median affinity, scikit-learn's default).

    Returns
    -------
    exemplars : ``(k,)`` int, indices into ``X`` of the kept cluster centres, largest cluster first.
    sizes : ``(k,)`` int, their cluster sizes.
    info : dict with ``clusters`` (found), ``discarded``, ``n_iter``, ``seconds`` (CPU time).

    Raises ``RuntimeError`` if affinity propagation does not converge, also after one retry with
    ``damping=0.9`` (scikit-learn then returns degenerate centres) and ``ValueError`` if ``X`` is not 2D with at least 2 rows.
    """
    from sklearn.cluster import AffinityPropagation
    from sklearn.metrics import pairwise_distances

    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or len(X) < 2:
        raise ValueError(f"cluster_exemplars: X must be (n >= 2, d), got {X.shape}")
    t0 = time.process_time()
    A = -pairwise_distances(X, metric="manhattan")  # affinity = negative L1 distance
    import warnings

    for d in (damping, 0.9):  # retry once with heavier damping if the messages oscillate
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ap = AffinityPropagation(affinity="precomputed", damping=d, max_iter=max_iter, preference=preference,
                                     random_state=seed).fit(A)
        centres = np.asarray(ap.cluster_centers_indices_)
        if ap.n_iter_ < max_iter and centres.size > 0 and (ap.labels_ >= 0).all():
            break
    else:
        raise RuntimeError("cluster_exemplars: affinity propagation did not converge")
    sizes = np.bincount(ap.labels_, minlength=len(centres))
    keep = sizes >= min_fraction * len(X)
    order = np.argsort(-sizes[keep], kind="stable")
    info = {"clusters": int(len(centres)), "discarded": int((~keep).sum()), "n_iter": int(ap.n_iter_), "damping": d,
            "seconds": time.process_time() - t0}
    return centres[keep][order], sizes[keep][order], info


def snippets(theta, lengths, delta_t: int = 8, step: int = 1, seqs=None):
    """All snippets ``[theta_t, theta_{t+step}, ..., theta_{t+step(dt-1)}]`` of some sequences.

    ``theta (S, T, ...)``, ``lengths (S,)`` valid frames; ``step = 1`` gives the short-term
    snippets, ``step = K`` the long-term ones. ``seqs`` restricts to some sequence indices.
    Returns ``(seq, start)`` int arrays, one entry per snippet that fits in its sequence.
    """
    seqs = np.arange(len(theta)) if seqs is None else np.asarray(seqs)
    span = step * (delta_t - 1)
    si, st = [], []
    for i in seqs:
        s = np.arange(0, int(lengths[i]) - span)
        si.append(np.full(len(s), i))
        st.append(s)
    return np.concatenate(si).astype(np.int64), np.concatenate(st).astype(np.int64)


@dataclass
class MemoryBank:
    """The action memory bank ``M = {(S_i, L_i)}`` (Eq. 2), padded to a tensor.

    Attributes
    ----------
    short, long : ``(I, N_max, dt, D)`` float32 tensors: the exemplar snippets of each bank
        (``I`` = number of classes, or 1 for an action-agnostic bank), zero-padded.
    short_mask, long_mask : ``(I, N_max)`` bool, True on real items.
    short_sizes, long_sizes : lists of ``I`` int arrays: cluster size of every item.
    short_source, long_source : lists of ``I`` ``(N_i, 2)`` arrays ``(sequence, start)`` of the exemplars.
    delta_t, K : item length and long-term sampling interval.
    action_specific : False when one bank was clustered over all classes.
    info : per bank and memory, the clustering statistics of :func:`cluster_exemplars`.
    """

    short: torch.Tensor
    short_mask: torch.Tensor
    long: torch.Tensor
    long_mask: torch.Tensor
    short_sizes: list
    long_sizes: list
    short_source: list
    long_source: list
    delta_t: int
    K: int
    action_specific: bool = True
    info: dict = field(default_factory=dict)

    def items(self, memory: str) -> tuple:
        """``(items (I, N_max, dt, D), mask (I, N_max))`` of ``memory`` in {"short", "long"}."""
        if memory not in ("short", "long"):
            raise ValueError(f"memory must be 'short' or 'long', got {memory!r}")
        return (self.short, self.short_mask) if memory == "short" else (self.long, self.long_mask)

    def counts(self, memory: str) -> np.ndarray:
        """Number of items per bank, ``(I,)``."""
        return self.items(memory)[1].sum(1).numpy()

    def bank_index(self, labels: torch.Tensor) -> torch.Tensor:
        """The bank read for each class label: the label itself, or 0 for an action-agnostic bank."""
        return labels if self.action_specific else torch.zeros_like(labels)


def build_bank(theta, lengths, labels, num_classes: int, seqs=None, delta_t: int = 8, K: int = 3,
               max_samples: int = 400, min_fraction: float = 0.01, action_specific: bool = True,
               seed: int = 0) -> MemoryBank:
    """Build the memory bank from training sequences (Sec. 3.1.1).

    Parameters
    ----------
    theta : ``(S, T, V, 3)`` or ``(S, T, D)`` pose parameters; ``lengths (S,)``; ``labels (S,)``.
    num_classes : ``I``.
    seqs : indices of the training sequences (default all).
    delta_t, K : item length and long-term interval (paper: 8 and 3).
    max_samples : snippets drawn at random (without replacement) per bank and memory before
        clustering; affinity propagation costs O(n^2) memory and time per iteration.
    min_fraction : the discard threshold (paper: 1%).
    action_specific : cluster each class separately (the paper) or all classes together
        (Table 4's action-agnostic bank, ``I = 1``).

    Returns a :class:`MemoryBank`. Raises ``ValueError`` if ``delta_t`` is odd or < 2.
    """
    if delta_t < 2 or delta_t % 2:
        raise ValueError(f"build_bank: delta_t must be even and >= 2, got {delta_t}")
    theta = np.asarray(theta, dtype=np.float32)
    theta = theta.reshape(theta.shape[0], theta.shape[1], -1)
    labels = np.asarray(labels)
    seqs = np.arange(len(theta)) if seqs is None else np.asarray(seqs)
    groups = [seqs[labels[seqs] == c] for c in range(num_classes)] if action_specific else [seqs]
    rng = np.random.default_rng(seed)
    out = {}
    info = {}
    for memory, step in (("short", 1), ("long", K)):
        items, sizes, sources = [], [], []
        for b, g in enumerate(groups):
            si, st = snippets(theta, lengths, delta_t, step, g)
            pick = rng.choice(len(si), size=min(max_samples, len(si)), replace=False)
            si, st = si[pick], st[pick]
            X = theta[si[:, None], st[:, None] + step * np.arange(delta_t)[None]]  # (n, dt, D)
            ex, sz, inf = cluster_exemplars(X.reshape(len(X), -1), min_fraction, seed)
            inf["samples"] = int(len(X))
            info[(b, memory)] = inf
            items.append(X[ex])
            sizes.append(sz)
            sources.append(np.stack([si[ex], st[ex]], 1))
        n_max = max(len(x) for x in items)
        pad = np.zeros((len(items), n_max) + items[0].shape[1:], np.float32)
        mask = np.zeros((len(items), n_max), bool)
        for b, x in enumerate(items):
            pad[b, :len(x)] = x
            mask[b, :len(x)] = True
        out[memory] = (torch.from_numpy(pad), torch.from_numpy(mask), sizes, sources)
    return MemoryBank(out["short"][0], out["short"][1], out["long"][0], out["long"][1], out["short"][2],
                      out["long"][2], out["short"][3], out["long"][3], delta_t, K, action_specific, info)


# ----------------------------------------------------------------------------------------------
# Query-read (Eqs. 3-5)
# ----------------------------------------------------------------------------------------------
def query_read(q, keys, values, mask=None):
    """Soft read of a memory: ``o = V softmax(K^T q)`` (Eqs. 3-4; Eq. 5 with the decoding keys).

    Parameters
    ----------
    q : ``(B, C_k)`` or ``(B, P, C_k)`` queries (one per sample, or per sample and time step).
    keys : ``(B, N, C_k)`` the key vectors ``K = W_k S^f`` of the bank read by each sample.
    values : ``(B, N, C_v)`` the value vectors ``V = W_v S^l``.
    mask : ``(B, N)`` bool, False on padding items (they get zero weight), optional.

    Returns
    -------
    o : ``(B, C_v)`` or ``(B, P, C_v)``, the read motion dynamics.
    attn : ``(B, N)`` or ``(B, P, N)``, the softmax weights (sum to 1 over the real items).

    Raises ``ValueError`` on inconsistent shapes.
    """
    single = q.dim() == 2
    if single:
        q = q[:, None]
    if keys.shape[:2] != values.shape[:2] or q.shape[0] != keys.shape[0] or q.shape[-1] != keys.shape[-1]:
        raise ValueError(f"query_read: q {tuple(q.shape)}, keys {tuple(keys.shape)}, values {tuple(values.shape)}")
    sim = torch.einsum("bpc,bnc->bpn", q, keys)  # Eq. 3: (K^T q), [B, P, N]
    if mask is not None:
        sim = sim.masked_fill(~mask[:, None, :], float("-inf"))
    attn = torch.softmax(sim, dim=-1)  # [B, P, N]
    o = torch.einsum("bpn,bnc->bpc", attn, values)  # Eq. 4: V softmax(.), [B, P, C_v]
    return (o[:, 0], attn[:, 0]) if single else (o, attn)


def query_read_naive(q, keys, values, mask=None):
    """Reference for :func:`query_read` with ``q (B, C_k)``: one sample at a time, written as the
    paper's matrix products ``K_i^T q_t`` and ``V_i softmax(.)`` on the sample's real items."""
    outs, attns = [], []
    for b in range(q.shape[0]):
        m = slice(None) if mask is None else mask[b]
        K = keys[b][m].T  # (C_k, N_i)
        Vm = values[b][m].T  # (C_v, N_i)
        a = torch.softmax(K.T @ q[b], 0)  # (N_i,)
        full = torch.zeros(keys.shape[1], dtype=q.dtype)
        if mask is None:
            full = a
        else:
            full[mask[b]] = a
        outs.append(Vm @ a)
        attns.append(full)
    return torch.stack(outs), torch.stack(attns)


# ----------------------------------------------------------------------------------------------
# Encoder-LSTM-decoder (Sec. 3.1.2-3.1.3)
# ----------------------------------------------------------------------------------------------
class FCBlocks(nn.Module):
    """``blocks`` stacked FC-ReLU-BN blocks (the paper's encoders and decoders: 3 blocks).

    ``forward(x)``: ``(..., d_in) -> (..., d_out)``; BatchNorm runs over all leading dimensions.
    With ``linear_out=True`` the last block is a plain FC layer, so a decoder can output any real
    value (pose parameters are not non-negative).
    """

    def __init__(self, d_in: int, d_hidden: int, d_out: int, blocks: int = 3, linear_out: bool = False):
        super().__init__()
        layers, d = [], d_in
        for k in range(blocks):
            last = k == blocks - 1
            d_next = d_out if last else d_hidden
            layers.append(nn.Linear(d, d_next))
            if not (last and linear_out):
                layers += [nn.ReLU(), nn.BatchNorm1d(d_next)]
            d = d_next
        self.net = nn.Sequential(*layers)

    def forward(self, x):
        shape = x.shape[:-1]
        return self.net(x.reshape(-1, x.shape[-1])).reshape(*shape, -1)


class _Recurrent(nn.Module):
    """One LSTM cell predicting the next latent as ``B_{t+1} = B_t + W h_t`` (residual readout)."""

    def __init__(self, d_in: int, d_latent: int, hidden: int):
        super().__init__()
        self.cell = nn.LSTMCell(d_in, hidden)
        self.out = nn.Linear(hidden, d_latent)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x, latent, state):
        h, c = self.cell(x, state)
        return latent + self.out(h), (h, c)


class MotionPredictor(nn.Module):
    """The encoder-LSTM-decoder of Fig. 2/3 with the action memory bank for ``theta``.

    Parameters
    ----------
    d_theta, d_beta, d_cam : sizes of ``theta`` (``3V``), ``beta`` and ``Pi`` (3).
    latent : ``(C_B^theta, C_B^beta, C_B^Pi)``, the encoded sizes (paper: 1024, 256, 64); the
        LSTM hidden sizes are the same.
    c_k, c_v : key and value channels (paper: 512 both).
    delta_t : memory item length (paper: 8).
    pred_bank : read the bank when predicting (Sec. 3.1.2, "+ Prediction with Bank").
    dec_bank : read the bank when decoding (Sec. 3.1.3, "+ Decoding with Bank").

    ``forward(theta, beta, cam, bank_labels, bank, horizon)`` with ``theta (B, t_obs, D)``,
    ``beta (B, t_obs, d_beta)``, ``cam (B, t_obs, 3)`` the observed frames and
    ``bank_labels (B,)`` the class whose bank each sample reads (from the action classifier).
    Returns a dict of the predictions for frames ``2 .. t_obs + horizon``:
    ``theta, beta, cam`` ``(B, t_obs + horizon - 1, .)``, their latents ``z_theta, z_beta, z_cam``,
    and the read attention of the future steps ``attn_short, attn_long`` ``(B, horizon, N_max)``
    (None without ``pred_bank``). Observed frames are fed as encoded; future frames feed back
    the predicted latent.

    ``anchor`` (our addition, not in the paper): every decoded output is shifted by the decoder's
    reconstruction error on the last observed frame, ``x_hat_t + (x_obs - Dec(Enc(x_obs)))``,
    a residual connection to the last observed frame computed from observed data only. Without
    it a small encoder/decoder's reconstruction error sets a floor under every prediction.
    """

    def __init__(self, d_theta: int, d_beta: int, d_cam: int = 3, latent=(128, 32, 16), c_k: int = 64,
                 c_v: int = 64, delta_t: int = 8, pred_bank: bool = True, dec_bank: bool = True,
                 anchor: bool = True):
        super().__init__()
        self.anchor = anchor
        cb, cbb, cbp = latent
        self.delta_t, self.pred_bank, self.dec_bank = delta_t, pred_bank, dec_bank
        self.d_theta = d_theta
        half = delta_t // 2
        self.enc_theta = FCBlocks(d_theta, cb, cb)
        self.enc_beta = FCBlocks(d_beta, cbb, cbb)
        self.enc_cam = FCBlocks(d_cam, cbp, cbp)
        d_read = 2 * c_v
        self.dec_theta = FCBlocks(cb + d_read, cb, d_theta, linear_out=True)  # o's are zero without dec_bank
        self.dec_beta = FCBlocks(cbb, cbb, d_beta, linear_out=True)
        self.dec_cam = FCBlocks(cbp, cbp, d_cam, linear_out=True)
        self.lstm_theta = _Recurrent(cb + (d_read if pred_bank else 0), cb, cb)
        self.lstm_beta = _Recurrent(cbb, cbb, cbb)
        self.lstm_cam = _Recurrent(cbp, cbp, cbp)
        self.d_read = d_read
        # Eqs. 3-4: W_q on the last dt/2 latents; W_k on the former half, W_v on the latter half
        self.W_q = nn.ModuleDict({m: nn.Linear(half * cb, c_k, bias=False) for m in ("short", "long")})
        self.W_k = nn.ModuleDict({m: nn.Linear(half * d_theta, c_k, bias=False) for m in ("short", "long")})
        self.W_v = nn.ModuleDict({m: nn.Linear(half * d_theta, c_v, bias=False) for m in ("short", "long")})
        # Eq. 5: decoding keys and values from the full items, query from the last dt latents
        self.W_q_dec = nn.ModuleDict({m: nn.Linear(delta_t * cb, c_k, bias=False) for m in ("short", "long")})
        self.W_k_dec = nn.ModuleDict({m: nn.Linear(delta_t * d_theta, c_k, bias=False) for m in ("short", "long")})
        self.W_v_dec = nn.ModuleDict({m: nn.Linear(delta_t * d_theta, c_v, bias=False) for m in ("short", "long")})
        for name, d in (("theta", d_theta), ("beta", d_beta), ("cam", d_cam)):
            self.register_buffer(f"{name}_mean", torch.zeros(d))
            self.register_buffer(f"{name}_std", torch.ones(d))

    def set_normalisation(self, theta, beta, cam):
        """Standardise every parameter with training statistics ``(N, ..., d)`` before the encoders
        (and undo it after the decoders): joint angles, shape and camera differ in scale."""
        for name, x in (("theta", theta), ("beta", beta), ("cam", cam)):
            x = x.reshape(-1, x.shape[-1]).double()
            getattr(self, f"{name}_mean").copy_(x.mean(0).float())
            getattr(self, f"{name}_std").copy_(x.std(0).clamp_min(1e-3).float())
        return self

    def _n(self, name, x):
        return (x - getattr(self, f"{name}_mean")) / getattr(self, f"{name}_std")

    def _u(self, name, x):
        return x * getattr(self, f"{name}_std") + getattr(self, f"{name}_mean")

    # -- stage 1: the encoders and decoders alone --------------------------------------------
    def autoencode(self, theta, beta, cam):
        """Stage 1 (no LSTMs): ``decode(encode(x))`` per frame, the bank reads set to zero."""
        zt, zb, zc = self.encode(theta, beta, cam)
        zeros = zt.new_zeros(zt.shape[:-1] + (self.d_read,))
        return (self._u("theta", self.dec_theta(torch.cat([zt, zeros], -1))), self._u("beta", self.dec_beta(zb)),
                self._u("cam", self.dec_cam(zc)))

    def encode(self, theta, beta, cam):
        """Latents ``(B^theta, B^beta, B^Pi)`` of frames ``(B, T, .)`` (inputs standardised first)."""
        return (self.enc_theta(self._n("theta", theta)), self.enc_beta(self._n("beta", beta)),
                self.enc_cam(self._n("cam", cam)))

    # -- the bank ----------------------------------------------------------------------------
    def bank_keys(self, bank: MemoryBank, bank_labels):
        """Keys, values and masks of the banks read by each sample, for prediction and decoding.

        Returns ``{memory: (K (B, N, C_k), V (B, N, C_v), K_dec, V_dec, mask (B, N))}``: the
        projections are computed once per bank, then gathered by label (vectorised).
        """
        half = self.delta_t // 2
        idx = bank.bank_index(bank_labels)
        out = {}
        for m in ("short", "long"):
            items, mask = bank.items(m)  # (I, N, dt, D)
            items = self._n("theta", items.to(self.W_k[m].weight.device))  # standardised like the encoder input
            I, N = items.shape[:2]
            former = items[:, :, :half].reshape(I, N, -1)  # S^f
            latter = items[:, :, half:].reshape(I, N, -1)  # S^l
            full = items.reshape(I, N, -1)  # S
            K, V = self.W_k[m](former), self.W_v[m](latter)
            Kd, Vd = self.W_k_dec[m](full), self.W_v_dec[m](full)
            mk = mask.to(items.device)
            out[m] = (K[idx], V[idx], Kd[idx], Vd[idx], mk[idx])
        return out

    def forward(self, theta, beta, cam, bank_labels=None, bank: MemoryBank | None = None, horizon: int = 30):
        if (self.pred_bank or self.dec_bank) and bank is None:
            raise ValueError("MotionPredictor: this variant reads the bank; pass bank and bank_labels")
        B, t_obs, _ = theta.shape
        half, dt = self.delta_t // 2, self.delta_t
        zt, zb, zc = self.encode(theta, beta, cam)  # [B, t_obs, C]
        kv = self.bank_keys(bank, bank_labels) if bank is not None and (self.pred_bank or self.dec_bank) else None
        hist = [zt[:, t] for t in range(t_obs)]  # latents fed so far (observed, then predicted)
        st = sb = sc = None
        outs_t, outs_b, outs_c, att_s, att_l = [], [], [], [], []
        lb, lc = zb[:, 0], zc[:, 0]
        for t in range(t_obs + horizon - 1):
            x = zt[:, t] if t < t_obs else outs_t[-1]
            inp = x
            if self.pred_bank:
                window = [hist[max(t - k, 0)] for k in range(half - 1, -1, -1)]  # B_(t - dt/2, t]
                w = torch.cat(window, -1)  # [B, dt/2 * C_B]
                reads = []
                for m, store in (("short", att_s), ("long", att_l)):
                    K, V, _, _, mask = kv[m]
                    o, a = query_read(self.W_q[m](w), K, V, mask)  # Eqs. 3-4
                    reads.append(o)
                    if t >= t_obs - 1:
                        store.append(a)
                inp = torch.cat([x] + reads, -1)  # [B_t, o_short, o_long]
            nt, st = self.lstm_theta(inp, x, st)
            xb = zb[:, t] if t < t_obs else lb
            xc = zc[:, t] if t < t_obs else lc
            lb, sb = self.lstm_beta(xb, xb, sb)
            lc, sc = self.lstm_cam(xc, xc, sc)
            outs_t.append(nt)
            outs_b.append(lb)
            outs_c.append(lc)
            if t + 1 >= t_obs:
                hist.append(nt)
        z_t, z_b, z_c = torch.stack(outs_t, 1), torch.stack(outs_b, 1), torch.stack(outs_c, 1)  # frames 2..T
        theta_hat = self.decode_theta(torch.cat([zt[:, :1], z_t], 1), kv)[:, 1:]
        beta_hat, cam_hat = self._u("beta", self.dec_beta(z_b)), self._u("cam", self.dec_cam(z_c))
        if self.anchor:  # add the decoder's (causal) reconstruction error of the last observed frame
            rec_t = self.decode_theta(zt, kv)[:, -1:]
            theta_hat = theta_hat + (theta[:, -1:] - rec_t)
            beta_hat = beta_hat + (beta[:, -1:] - self._u("beta", self.dec_beta(zb[:, -1:])))
            cam_hat = cam_hat + (cam[:, -1:] - self._u("cam", self.dec_cam(zc[:, -1:])))
        return {"theta": theta_hat, "beta": beta_hat, "cam": cam_hat,
                "z_theta": z_t, "z_beta": z_b, "z_cam": z_c,
                "attn_short": torch.stack(att_s, 1) if att_s else None,
                "attn_long": torch.stack(att_l, 1) if att_l else None}

    def decode_theta(self, z, kv=None):
        """Decode latents ``z (B, T, C_B)`` to ``theta (B, T, D)``; with ``dec_bank`` the input is
        ``[B_t, o_short_dec, o_long_dec]`` read with queries from the last ``dt`` latents (Eq. 5),
        vectorised over batch and time (the first frames repeat frame 0 to fill the window)."""
        if not self.dec_bank:
            return self._u("theta", self.dec_theta(torch.cat([z, z.new_zeros(z.shape[:-1] + (self.d_read,))], -1)))
        B, T, C = z.shape
        dt = self.delta_t
        padded = torch.cat([z[:, :1].expand(B, dt - 1, C), z], 1)  # [B, T + dt - 1, C]
        win = padded.unfold(1, dt, 1).permute(0, 1, 3, 2).reshape(B, T, dt * C)  # B_(t - dt, t]
        reads = []
        for m in ("short", "long"):
            _, _, Kd, Vd, mask = kv[m]
            o, _ = query_read(self.W_q_dec[m](win), Kd, Vd, mask)  # Eq. 5, [B, T, C_v]
            reads.append(o)
        return self._u("theta", self.dec_theta(torch.cat([z] + reads, -1)))


# ----------------------------------------------------------------------------------------------
# Losses (Sec. 3.2)
# ----------------------------------------------------------------------------------------------
def _sq(a, b, w=None):
    d = (a - b) ** 2
    if w is not None:
        d = d * w
    return d.reshape(d.shape[0], d.shape[1], -1).sum(-1).mean()


def prediction_losses(out: dict, target: dict, latents: tuple, joints_fn, project_fn) -> dict:
    """``L_pred = L_parameter + L_latent + L_joint`` (Eqs. 6-9), over frames ``2..T``.

    Parameters
    ----------
    out : :class:`MotionPredictor` output (frames ``2..T``).
    target : ``theta (B, T-1, D)``, ``beta``, ``cam``, ``joints (B, T-1, V, 3)``,
        ``joints2d (B, T-1, V, 2)``, ``visibility (B, T-1, V)`` of frames ``2..T``.
    latents : the encoded true frames ``2..T`` ``(B^theta, B^beta, B^Pi)`` (targets of Eq. 8,
        detached here).
    joints_fn : ``joints_fn(theta, beta) -> X (B, T-1, V, 3)``; ``project_fn(X, cam) -> x``.

    Each term is a squared L2 norm per frame, averaged over frames and batch (the paper sums
    over frames). Returns a dict of scalar tensors ``parameter, latent, joint, joints_hat``
    (the latter the predicted 3D joints, for the action loss).
    """
    p = _sq(out["theta"], target["theta"]) + _sq(out["beta"], target["beta"]) + _sq(out["cam"], target["cam"])
    lat = sum(_sq(z, l.detach()) for z, l in zip((out["z_theta"], out["z_beta"], out["z_cam"]), latents))
    X = joints_fn(out["theta"], out["beta"])
    x = project_fn(X, out["cam"])
    j = _sq(X, target["joints"]) + _sq(x, target["joints2d"], target["visibility"][..., None])
    return {"parameter": p, "latent": lat, "joint": j, "joints_hat": X}


def prior_loss(theta, beta, lo, hi, w_shape: float = 1e-3):
    """Our stand-in for the SMPL priors: joint-angle limits + shape regularisation + consistency.

    ``theta (B, T, D)`` predicted; ``lo, hi (D,)`` the per-parameter range seen in training
    (a box prior: squared hinge outside it, zero inside); ``beta (B, T, d_beta)``:
    ``w_shape * |beta|^2`` (shape regularisation, ``beta ~ N(0, I)``) plus the variance of
    ``beta`` over time (the shape consistency loss: a person's shape does not change).
    Returns a scalar tensor >= 0.
    """
    lim = (F.relu(theta - hi) ** 2 + F.relu(lo - theta) ** 2).sum(-1).mean()
    reg = w_shape * (beta ** 2).sum(-1).mean()
    cons = beta.var(1, unbiased=False).sum(-1).mean() if beta.shape[1] > 1 else beta.new_zeros(())
    return lim + reg + cons


def action_kl(logits_pred, logits_true):
    """``L_action`` (Eq. 10): KL divergence between the frozen classifier's class distributions on
    the true joints ``C`` and on the predicted joints ``C_hat``, ``KL(C || C_hat)``, batch mean.

    The paper writes ``KL(C_hat, C)`` without fixing the order; we take the true distribution
    as the reference (the usual distillation form), so the loss is >= 0 and 0 iff they agree.
    ``logits_* (B, classes)``; no gradient flows into ``logits_true``.
    """
    return F.kl_div(F.log_softmax(logits_pred, -1), F.log_softmax(logits_true.detach(), -1), log_target=True,
                    reduction="batchmean")


# ----------------------------------------------------------------------------------------------
# Baselines (Sec. 4.1) and evaluation
# ----------------------------------------------------------------------------------------------
def constant_baseline(obs_joints, horizon: int):
    """The last observed pose repeated: ``(B, t_obs, V, 3) -> (B, horizon, V, 3)``."""
    last = np.asarray(obs_joints)[:, -1:]
    return np.repeat(last, horizon, axis=1)


def nearest_neighbour_baseline(train_obs, train_future, test_obs, chunk: int = 256):
    """The training window whose observed 3D joints are closest (Euclidean) to the test window's;
    its following frames are the prediction.

    ``train_obs (M, t_obs, V, 3)``, ``train_future (M, P, V, 3)``, ``test_obs (B, t_obs, V, 3)``.
    Returns ``(prediction (B, P, V, 3), index (B,))``.
    """
    A = torch.as_tensor(np.asarray(train_obs).reshape(len(train_obs), -1), dtype=torch.float64)
    Q = torch.as_tensor(np.asarray(test_obs).reshape(len(test_obs), -1), dtype=torch.float64)
    idx = torch.cat([torch.cdist(Q[s:s + chunk], A).argmin(1) for s in range(0, len(Q), chunk)]).numpy()
    return np.asarray(train_future)[idx], idx


def pa_mpjpe_per_frame(pred, true):
    """PA-MPJPE in mm per window and future frame: ``(B, P, V, 3)`` x2 (metres) -> ``(B, P)``.
    Every pose is Procrustes-aligned (scale, rotation, translation) to its ground truth."""
    from ..metrics import procrustes_align

    p, t = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    return 1000.0 * np.linalg.norm(procrustes_align(p, t) - t, axis=-1).mean(-1)


def dtw_pa_mpjpe_per_frame(pred, true, chunk: int = 32):
    """PA-MPJPE in mm per true future frame after DTW alignment (the "with DTW" protocol).

    The cost of matching predicted frame ``i`` with true frame ``j`` is their PA-MPJPE;
    :func:`paperlib.metrics_dtw.aligned_errors` gives, per true frame, the mean cost of the
    predicted frames the optimal path matches to it. ``(B, P, V, 3)`` x2 -> ``(B, P)``.
    """
    from ..metrics import procrustes_align
    from ..metrics_dtw import aligned_errors

    p, t = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    B, P = p.shape[:2]
    out = []
    for s in range(0, B, chunk):
        pp = np.broadcast_to(p[s:s + chunk, :, None], (len(p[s:s + chunk]), P, P) + p.shape[2:])
        tt = np.broadcast_to(t[s:s + chunk, None, :], pp.shape)
        cost = 1000.0 * np.linalg.norm(procrustes_align(np.ascontiguousarray(pp), np.ascontiguousarray(tt)) - tt,
                                       axis=-1).mean(-1)  # (b, P_pred, P_true)
        out.append(aligned_errors(cost))
    return np.concatenate(out)


def degrade_labels(probs, true, accuracy: float):
    """Table 6's weakened classifier: starting from the classifier's predictions, the correctly
    classified samples with the *lowest* confidence get a wrong label (their most likely wrong
    class) until the accuracy is ``accuracy``. ``probs (B, I)``, ``true (B,)``.
    Returns the new labels ``(B,)``; unchanged if the classifier is already below ``accuracy``."""
    probs, true = np.asarray(probs), np.asarray(true)
    pred = probs.argmax(1)
    correct = np.flatnonzero(pred == true)
    n_flip = max(len(correct) - int(round(accuracy * len(true))), 0)
    flip = correct[np.argsort(probs[correct, pred[correct]], kind="stable")[:n_flip]]
    wrong = probs.copy()
    wrong[np.arange(len(true)), true] = -np.inf
    out = pred.copy()
    out[flip] = wrong[flip].argmax(1)
    return out
