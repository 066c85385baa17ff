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
- Evaluation: :func:`pa_mpjpe_per_frame`, :func:`dtw_pa_mpjpe`, :func:`degrade_labels`
  (Table 6's weakened classifier).

Shapes: ``B`` batch, ``T`` frames, ``D = 3V`` pose parameters (axis-angle of ``V`` joints),
``N`` bank items, ``C_k`` / ``C_v`` key / value channels. Angles in radians, joints in metres.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..train import autocast, backward_step, grad_scaler, model_device, resolve_device, to_device

__all__ = ["cluster_exemplars", "snippets", "build_bank", "MemoryBank", "query_read", "query_read_naive",
           "FCBlocks", "MotionPredictor", "prediction_losses", "prior_loss", "action_kl",
           "constant_baseline", "nearest_neighbour_baseline", "pa_mpjpe_per_frame", "pa_mpjpe_cost", "dtw_pa_mpjpe",
           "exemplar_lookup", "heading", "remove_heading", "read_entropy", "run_experiment",
           "degrade_labels", "make_data", "VARIANTS", "HORIZONS", "item_tags", "retrieval_accuracy",
           "crosses_boundary"]

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


def heading(root_aa):
    """Yaw (radians, about the vertical y axis) of root orientations ``(..., 3)`` axis-angle:
    the angle of the body's forward axis ``R e_z`` in the ground plane, ``atan2(f_x, f_z)``."""
    from ..kinematics import axis_angle_to_matrix

    R = axis_angle_to_matrix(torch.as_tensor(np.asarray(root_aa), dtype=torch.float64))
    return torch.atan2(R[..., 0, 2], R[..., 2, 2]).numpy()


def remove_heading(theta, ref: int = 0):
    """Turn every sequence so that its frame ``ref`` faces the camera: ``R_0 <- R_y(-psi) R_0``.

    ``theta (..., T, D)`` with joint 0 (columns 0-2) the global orientation, axis-angle;
    ``psi`` the :func:`heading` of frame ``ref`` of each sequence. The camera yaw (and the
    body's own heading) then no longer separates otherwise equal snippets. Returns a float32
    array of the same shape.
    """
    from ..kinematics import axis_angle_to_matrix, matrix_to_axis_angle, rotation_about_y

    th = np.array(theta, dtype=np.float64, copy=True)
    psi = torch.as_tensor(heading(th[..., ref, 0:3]))
    R0 = axis_angle_to_matrix(torch.as_tensor(th[..., 0:3]))
    Ry = rotation_about_y(-psi)[..., None, :, :]  # (..., 1, 3, 3)
    th[..., 0:3] = matrix_to_axis_angle(Ry @ R0).numpy()
    return th.astype(np.float32)


def build_bank(theta, lengths, labels, num_classes: int, seqs=None, delta_t: int = 8, K: int = 3,
               max_samples: int = 400, min_fraction: float = 0.01, action_specific: bool = True,
               seed: int = 0, canonical: bool = True) -> MemoryBank:
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
    canonical : remove each snippet's heading (:func:`remove_heading` on its first frame) before
        clustering, so that the clusters do not encode the camera view (``theta_0`` is
        camera-relative, as SMPL's global orientation from a video regressor).

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
            if canonical:
                X = remove_heading(X)
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
def query_read(q, keys, values, mask=None, scale=None):
    """Soft read of a memory: ``o = V softmax(tau K^T q / sqrt(C_k))`` (Eqs. 3-4; Eq. 5 with the
    decoding keys).

    Parameters
    ----------
    q : ``(B, C_k)`` or ``(B, P, C_k)`` queries (one per sample, or per sample and time step).
    keys : ``(B, N, C_k)`` the key vectors ``K = W_k S^f`` of the bank read by each sample.
    values : ``(B, N, C_v)`` the value vectors ``V = W_v S^l``.
    mask : ``(B, N)`` bool, False on padding items (they get zero weight), optional.
    scale : the temperature ``tau`` (a scalar tensor, e.g. ``exp`` of a learned log-temperature),
        default 1. Eq. 3 is the plain dot product ``K^T q``; we divide it by ``sqrt(C_k)``, as
        scaled dot-product attention does, so the logits do not grow with the key width (without
        it our reads saturated on one item), and let the model learn ``tau``.

    Returns
    -------
    o : ``(B, C_v)`` or ``(B, P, C_v)``, the read motion dynamics.
    attn : ``(B, N)`` or ``(B, P, N)``, the softmax weights (sum to 1 over the real items).
    logits : like ``attn``, the scaled similarities before the softmax (``-inf`` on padding).

    Raises ``ValueError`` on inconsistent shapes.
    """
    single = q.dim() == 2
    if single:
        q = q[:, None]
    if keys.shape[:2] != values.shape[:2] or q.shape[0] != keys.shape[0] or q.shape[-1] != keys.shape[-1]:
        raise ValueError(f"query_read: q {tuple(q.shape)}, keys {tuple(keys.shape)}, values {tuple(values.shape)}")
    sim = torch.einsum("bpc,bnc->bpn", q, keys) / math.sqrt(keys.shape[-1])  # Eq. 3: (K^T q), [B, P, N]
    if scale is not None:
        sim = sim * scale
    if mask is not None:
        sim = sim.masked_fill(~mask[:, None, :], float("-inf"))
    attn = torch.softmax(sim, dim=-1)  # [B, P, N]
    o = torch.einsum("bpn,bnc->bpc", attn, values)  # Eq. 4: V softmax(.), [B, P, C_v]
    return (o[:, 0], attn[:, 0], sim[:, 0]) if single else (o, attn, sim)


def query_read_naive(q, keys, values, mask=None, scale=None):
    """Reference for :func:`query_read` with ``q (B, C_k)``: one sample at a time, written as the
    paper's matrix products ``K_i^T q_t`` and ``V_i softmax(.)`` on the sample's real items."""
    outs, attns = [], []
    tau = 1.0 if scale is None else float(scale)
    for b in range(q.shape[0]):
        m = slice(None) if mask is None else mask[b]
        K = keys[b][m].T  # (C_k, N_i)
        Vm = values[b][m].T  # (C_v, N_i)
        a = torch.softmax(tau * (K.T @ q[b]) / K.shape[0] ** 0.5, 0)  # (N_i,)
        full = torch.zeros(keys.shape[1], dtype=q.dtype)
        if mask is None:
            full = a
        else:
            full[mask[b]] = a
        outs.append(Vm @ a)
        attns.append(full)
    return torch.stack(outs), torch.stack(attns)


def read_entropy(attn, mask=None):
    """Mean entropy (nats) of read weights ``attn (..., N)`` and of a uniform read over the same
    real items: ``(H, H_uniform)``. ``H = 0`` is a saturated read (one item), ``H = H_uniform`` a
    read that ignores the query. ``mask (..., N)`` bool marks the real items (default all)."""
    a = attn.clamp_min(1e-12)
    H = -(attn * a.log()).sum(-1)
    n = attn.new_full(attn.shape[:-1], attn.shape[-1]) if mask is None else mask.sum(-1).to(attn.dtype)
    return float(H.mean()), float(n.log().mean())


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
    delta_t, K : memory item length and long-term interval (paper: 8 and 3).
    pred_bank : read the bank when predicting (Sec. 3.1.2, "+ Prediction with Bank").
    dec_bank : read the bank when decoding (Sec. 3.1.3, "+ Decoding with Bank").
    num_classes, label_input : Table 3's control: feed a learned embedding of the one-hot
        action label where the prediction reads would go (no bank).

    Every variant has the same layers and, for one seed, the same initial weights: the LSTM's
    and the decoder's input columns for the reads (``[o_short, o_long]``, width ``2 C_v``) are
    zero-initialised, and a variant without reads feeds zeros there. So a bank variant starts
    as exactly the baseline (and as the stage-1 decoder), and the comparison isolates the read.

    ``forward(theta, beta, cam, bank_labels, bank, horizon)`` with ``theta (B, t_obs, D)``,
    ``beta (B, t_obs, d_beta)``, ``cam (B, t_obs, 3)`` the observed frames and
    ``bank_labels (B,)`` the class whose bank each sample reads (from the action classifier).
    Returns a dict of the predictions for frames ``2 .. t_obs + horizon``:
    ``theta, beta, cam`` ``(B, t_obs + horizon - 1, .)``, their latents ``z_theta, z_beta, z_cam``,
    the prediction read's weights and logits of the future steps ``attn_short, attn_long,
    logits_short, logits_long`` ``(B, horizon, N_max)`` and the decoding read's weights
    ``attn_dec_short, attn_dec_long`` ``(B, horizon, N_max)`` (None where not read). Observed
    frames are fed as encoded; future frames feed back the predicted latent.

    Queries match their keys' span: the short query sees the last ``dt/2`` latents, the long
    one the last ``dt/2`` latents at stride ``K`` (the span of a long item's former half,
    ``K (dt/2 - 1) + 1`` frames); the decoding queries see ``dt`` latents at stride 1 / ``K``.

    ``anchor`` (our addition, not in the paper): every decoded output is shifted by the decoder's
    reconstruction error on the last observed frame, ``x_hat_t + (x_obs - Dec(Enc(x_obs)))``,
    a residual connection to the last observed frame computed from observed data only.
    """

    def __init__(self, d_theta: int, d_beta: int, d_cam: int = 3, latent=(128, 32, 16), c_k: int = 64,
                 c_v: int = 64, delta_t: int = 8, K: int = 3, pred_bank: bool = True, dec_bank: bool = True,
                 anchor: bool = True, num_classes: int = 0, label_input: bool = False):
        super().__init__()
        if label_input and (pred_bank or num_classes < 1):
            raise ValueError("MotionPredictor: label_input needs num_classes >= 1 and no prediction read")
        self.anchor, self.label_input, self.num_classes = anchor, label_input, num_classes
        cb, cbb, cbp = latent
        self.delta_t, self.K, self.pred_bank, self.dec_bank = delta_t, K, pred_bank, dec_bank
        self.d_theta = d_theta
        half = delta_t // 2
        self.enc_theta = FCBlocks(d_theta, cb, cb)
        self.enc_beta = FCBlocks(d_beta, cbb, cbb)
        self.enc_cam = FCBlocks(d_cam, cbp, cbp)
        d_read = 2 * c_v
        self.d_read = d_read
        self.dec_theta = FCBlocks(cb + d_read, cb, d_theta, linear_out=True)
        self.dec_beta = FCBlocks(cbb, cbb, d_beta, linear_out=True)
        self.dec_cam = FCBlocks(cbp, cbp, d_cam, linear_out=True)
        self.lstm_theta = _Recurrent(cb + d_read, cb, cb)
        self.lstm_beta = _Recurrent(cbb, cbb, cbb)
        self.lstm_cam = _Recurrent(cbp, cbp, cbp)
        with torch.no_grad():  # the read inputs start switched off (see the class docstring)
            self.dec_theta.net[0].weight[:, cb:].zero_()
            self.lstm_theta.cell.weight_ih[:, cb:].zero_()
        # Eqs. 3-4: W_q on the last dt/2 latents; W_k on the former half, W_v on the latter half
        self.W_q = nn.ModuleDict({m: nn.Linear(half * cb, c_k, bias=False) for m in ("short", "long")})
        self.W_k = nn.ModuleDict({m: nn.Linear(half * d_theta, c_k, bias=False) for m in ("short", "long")})
        self.W_v = nn.ModuleDict({m: nn.Linear(half * d_theta, c_v, bias=False) for m in ("short", "long")})
        # Eq. 5: decoding keys and values from the full items, query from the last dt latents
        self.W_q_dec = nn.ModuleDict({m: nn.Linear(delta_t * cb, c_k, bias=False) for m in ("short", "long")})
        self.W_k_dec = nn.ModuleDict({m: nn.Linear(delta_t * d_theta, c_k, bias=False) for m in ("short", "long")})
        self.W_v_dec = nn.ModuleDict({m: nn.Linear(delta_t * d_theta, c_v, bias=False) for m in ("short", "long")})
        # learned log-temperatures of the four reads (tau = exp(.), starts at 1)
        self.log_tau = nn.ParameterDict({k: nn.Parameter(torch.zeros(())) for k in
                                         ("short", "long", "dec_short", "dec_long")})
        self.label_embed = nn.Linear(max(num_classes, 1), d_read, bias=False)
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

    def _stride(self, m):
        return 1 if m == "short" else self.K

    def forward(self, theta, beta, cam, bank_labels=None, bank: MemoryBank | None = None, horizon: int = 30):
        if (self.pred_bank or self.dec_bank) and bank is None:
            raise ValueError("MotionPredictor: this variant reads the bank; pass bank and bank_labels")
        if self.label_input and bank_labels is None:
            raise ValueError("MotionPredictor: label_input needs bank_labels")
        B, t_obs, _ = theta.shape
        half = self.delta_t // 2
        zt, zb, zc = self.encode(theta, beta, cam)  # [B, t_obs, C]
        kv = self.bank_keys(bank, bank_labels) if bank is not None and (self.pred_bank or self.dec_bank) else None
        hist = [zt[:, t] for t in range(t_obs)]  # latents fed so far (observed, then predicted)
        st = sb = sc = None
        outs_t, outs_b, outs_c = [], [], []
        rec = {k: [] for k in ("attn_short", "attn_long", "logits_short", "logits_long")}
        lb, lc = zb[:, 0], zc[:, 0]
        zeros = zt.new_zeros(B, self.d_read)
        extra = self.label_embed(F.one_hot(bank_labels, self.num_classes).to(zt.dtype)) if self.label_input else zeros
        for t in range(t_obs + horizon - 1):
            x = zt[:, t] if t < t_obs else outs_t[-1]
            inp = torch.cat([x, extra], -1)
            if self.pred_bank:
                reads = []
                for m in ("short", "long"):
                    k = self._stride(m)
                    w = torch.cat([hist[max(t - k * j, 0)] for j in range(half - 1, -1, -1)], -1)  # [B, dt/2 * C_B]
                    K, V, _, _, mask = kv[m]
                    o, a, lg = query_read(self.W_q[m](w), K, V, mask, self.log_tau[m].exp())  # Eqs. 3-4
                    reads.append(o)
                    if t >= t_obs - 1:
                        rec[f"attn_{m}"].append(a)
                        rec[f"logits_{m}"].append(lg)
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
        theta_all, dec_attn = self.decode_theta(torch.cat([zt[:, :1], z_t], 1), kv, return_attn=True)
        theta_hat = theta_all[:, 1:]
        beta_hat, cam_hat = self._u("beta", self.dec_beta(z_b)), self._u("cam", self.dec_cam(z_c))
        if self.anchor:  # add the decoder's (causal) reconstruction error of the last observed frame
            rec_t = self.decode_theta(zt, kv)[:, -1:]
            theta_hat = theta_hat + (theta[:, -1:] - rec_t)
            beta_hat = beta_hat + (beta[:, -1:] - self._u("beta", self.dec_beta(zb[:, -1:])))
            cam_hat = cam_hat + (cam[:, -1:] - self._u("cam", self.dec_cam(zc[:, -1:])))
        out = {"theta": theta_hat, "beta": beta_hat, "cam": cam_hat, "z_theta": z_t, "z_beta": z_b, "z_cam": z_c}
        out.update({k: torch.stack(v, 1) if v else None for k, v in rec.items()})
        for m in ("short", "long"):
            out[f"attn_dec_{m}"] = dec_attn[m][:, t_obs:] if dec_attn else None
        return out

    def decode_theta(self, z, kv=None, return_attn: bool = False):
        """Decode latents ``z (B, T, C_B)`` to ``theta (B, T, D)``; with ``dec_bank`` the input is
        ``[B_t, o_short_dec, o_long_dec]`` read with queries from the last ``dt`` latents (Eq. 5; at
        stride ``K`` for the long memory), vectorised over batch and time (frames before the
        first repeat frame 0). With ``return_attn`` also ``{memory: (B, T, N)}`` read weights."""
        if not self.dec_bank:
            th = self._u("theta", self.dec_theta(torch.cat([z, z.new_zeros(z.shape[:-1] + (self.d_read,))], -1)))
            return (th, None) if return_attn else th
        B, T, C = z.shape
        dt = self.delta_t
        reads, attn = [], {}
        for m in ("short", "long"):
            k = self._stride(m)
            idx = (torch.arange(T)[:, None] - k * torch.arange(dt - 1, -1, -1)[None]).clamp_min(0)  # (T, dt)
            win = z[:, idx.to(z.device)].reshape(B, T, dt * C)  # B_(t - k dt, t] at stride k
            _, _, Kd, Vd, mask = kv[m]
            o, a, _ = query_read(self.W_q_dec[m](win), Kd, Vd, mask, self.log_tau[f"dec_{m}"].exp())  # Eq. 5
            reads.append(o)
            attn[m] = a
        th = self._u("theta", self.dec_theta(torch.cat([z] + reads, -1)))
        return (th, attn) if return_attn else th


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


def pa_mpjpe_cost(pred, true, chunk: int = 32):
    """PA-MPJPE (mm) between every predicted and every true future frame of each window:
    ``(B, P, V, 3)`` x2 (metres) -> ``(B, P_pred, P_true)``, the cost matrix of the DTW."""
    from ..metrics import procrustes_align

    p, t = np.asarray(pred, np.float64), np.asarray(true, np.float64)
    B, P = p.shape[:2]
    out = []
    for s in range(0, B, chunk):
        ps, ts = p[s:s + chunk], t[s:s + chunk]
        pp = np.ascontiguousarray(np.broadcast_to(ps[:, :, None], (len(ps), P, P) + p.shape[2:]))
        tt = np.ascontiguousarray(np.broadcast_to(ts[:, None, :], pp.shape))
        out.append(1000.0 * np.linalg.norm(procrustes_align(pp, tt) - tt, axis=-1).mean(-1))
    return np.concatenate(out)


def dtw_pa_mpjpe(pred, true, horizons=HORIZONS):
    """PA-MPJPE in mm "with DTW" at each horizon, the protocol of PHD and of the paper's Table 1:
    for horizon ``h`` the first ``h`` predicted and true future frames are aligned by DTW on the
    PA-MPJPE cost (:func:`pa_mpjpe_cost`) and the aligned error is averaged over those ``h``
    frames (:func:`paperlib.metrics_dtw.prefix_dtw_errors`). ``(B, P, V, 3)`` x2 -> ``(B, len(horizons))``.
    """
    from ..metrics_dtw import prefix_dtw_errors

    return prefix_dtw_errors(pa_mpjpe_cost(pred, true), horizons)


def _canonical_joints(X, root_aa):
    """Joints ``(B, T, V, 3)`` turned by ``R_y(-psi)``, ``psi`` the heading of ``root_aa (B, 3)``."""
    from ..kinematics import rotation_about_y

    R = rotation_about_y(-torch.as_tensor(heading(root_aa))).numpy()  # (B, 3, 3)
    return np.einsum("bij,btvj->btvi", R, np.asarray(X, np.float64)), R


def exemplar_lookup(train_obs, train_future, train_labels, train_root, test_obs, test_labels, test_root,
                    recent: int = 8, oracle_future=None, chunk: int = 256):
    """Non-learned exemplar predictor (our control): among the training windows *of the same
    action*, the one whose last ``recent`` observed 3D joints are closest (Euclidean, after
    removing each window's heading at its last observed frame) gives its future, turned to the
    test window's heading and shifted so that its last observed pose meets the test window's.

    With ``oracle_future (B, P, V, 3)`` the exemplar is instead the training window whose
    (shifted) future is closest to the true future: the *oracle exemplar*, the best any lookup
    of this kind could do. ``*_obs (., t_obs, V, 3)``, ``train_future (M, P, V, 3)``,
    ``*_labels`` ints, ``*_root (., 3)`` the root axis-angle of the last observed frame.
    Returns ``(prediction (B, P, V, 3), index (B,))``. Raises ``ValueError`` when a test label
    has no training window.
    """
    to, Rtr = _canonical_joints(np.asarray(train_obs)[:, -recent:], train_root)
    tf = np.einsum("bij,btvj->btvi", Rtr, np.asarray(train_future, np.float64)) - to[:, -1:]  # future - last
    qo, Rte = _canonical_joints(np.asarray(test_obs)[:, -recent:], test_root)
    tl, ql = np.asarray(train_labels), np.asarray(test_labels)
    idx = np.zeros(len(ql), np.int64)
    for c in np.unique(ql):
        cand = np.flatnonzero(tl == c)
        if cand.size == 0:
            raise ValueError(f"exemplar_lookup: no training window of class {c}")
        rows = np.flatnonzero(ql == c)
        if oracle_future is None:
            A, Q = to[cand] - to[cand][:, -1:], qo[rows] - qo[rows][:, -1:]  # the recent motion, shape only
        else:
            tru = np.einsum("bij,btvj->btvi", Rte[rows], np.asarray(oracle_future, np.float64)[rows]) - qo[rows][:, -1:]
            A, Q = tf[cand], tru
        A = torch.as_tensor(A.reshape(len(cand), -1))
        Q = torch.as_tensor(Q.reshape(len(rows), -1))
        best = torch.cat([torch.cdist(Q[s:s + chunk], A).argmin(1) for s in range(0, len(Q), chunk)]).numpy()
        idx[rows] = cand[best]
    fut = tf[idx] + qo[:, -1:]  # canonical frame of the test window
    return np.einsum("bji,btvj->btvi", Rte, fut), idx  # back to the camera: R^T


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


# ----------------------------------------------------------------------------------------------
# The experiment of notebook 05: one seed, every variant (the notebook and `make reproduce`)
# ----------------------------------------------------------------------------------------------
#: Trained variants: (prediction read, decoding read, action loss, bank, one-hot label input).
VARIANTS = {
    "baseline": (False, False, False, None, False),
    "+ prediction with bank": (True, False, False, "specific", False),
    "+ decoding with bank": (True, True, False, "specific", False),
    "+ action constraint (full)": (True, True, True, "specific", False),
    "action-agnostic bank": (True, True, False, "agnostic", False),
    "shuffled-label bank": (True, True, False, "shuffled", False),
    "one-hot label (Table 3)": (False, False, False, None, True),
}


def make_data(structure: float = 0.0, seed: int = 0, num_subjects: int = 14, frames: int = 200, t_obs: int = 15,
              horizon: int = 30, train_stride: int = 10, test_stride: int = 25, dataset: str = "h36m_like",
              data_root=None, subprocess_s: float | None = None):
    """Sequences, split and window tensors of notebook 05.

    Returns ``(seqs, split, W)`` with ``W[split]`` a dict of float tensors ``theta (N, L, D)``,
    ``beta (N, L, B)``, ``cam (N, L, 3)``, ``joints (N, L, V, 3)``, ``joints2d``, ``visibility``
    and long tensors ``labels (N,)``, ``sequence (N,)`` (``L = t_obs + horizon``), and on the
    synthetic data also ``variants (N, L)`` and ``cycles (N, L)`` (the sub-process and its
    occurrence at every frame). Validation and test windows start every ``test_stride`` frames,
    training windows every ``train_stride``. ``subprocess_s``: the synthetic sub-processes' mean
    duration in seconds (:class:`paperlib.data.h36m_like.H36MLikeConfig`; None = each action's
    own). Raises ``ValueError`` on an unknown dataset.
    """
    from ..data import h36m_like as H

    if dataset == "h36m_like":
        seqs = H.generate(num_subjects=num_subjects, frames=frames, seed=seed, structure=structure,
                          subprocess_s=subprocess_s)
    elif dataset == "h36m":
        from ..data.h36m import action_label, load_h36m_3d

        raw = load_h36m_3d(data_root, subjects=["S1", "S5", "S6", "S7", "S8", "S9", "S11"])
        names = sorted({action_label(a) for s in raw for a in raw[s]})
        items = [(s, a) for s in raw for a in raw[s]]
        seqs = H.from_positions([raw[s][a] for s, a in items], [names.index(action_label(a)) for s, a in items],
                                [s for s, a in items], names)
    else:
        raise ValueError(f"make_data: unknown dataset {dataset!r}")
    split = H.split_indices(seqs)
    L = t_obs + horizon
    W = {}
    for k, idx in split.items():
        w = H.make_windows(seqs, L, train_stride if k == "train" else test_stride, idx)
        n = len(w["labels"])
        W[k] = {"theta": torch.from_numpy(w["theta"].reshape(n, L, -1)).float(),
                "beta": torch.from_numpy(w["beta"]).float(), "cam": torch.from_numpy(w["cam"]).float(),
                "joints": torch.from_numpy(w["joints"]).float(), "joints2d": torch.from_numpy(w["joints2d"]).float(),
                "visibility": torch.from_numpy(w["visibility"]).float(),
                "labels": torch.from_numpy(w["labels"]).long(), "sequence": torch.from_numpy(w["sequence"]).long()}
        for key in ("variants", "cycles"):
            if key in w:
                W[k][key] = torch.from_numpy(w[key].astype(np.int64))
    return seqs, split, W


def gcn_input(X):
    """``(N, T, V, 3)`` joints -> ``(N, 3, T, V, 1)``, the layout of ``SkeletonGCN``."""
    return X.permute(0, 3, 1, 2)[..., None]


def train_classifier(W, skeleton, num_classes: int, t_obs: int, epochs: int, seed: int, device="cpu",
                     batch_size: int = 64, amp: str | None = None):
    """The bank picker and frozen ``phi`` of Eq. 10 (one compact 2s-AGCN-style network) trained on
    ``t_obs``-frame clips of 3D joints (the observed part of every training window and the next
    ``t_obs`` frames) on ``device``, ``batch_size`` clips a step; ``amp``: mixed precision
    (:func:`paperlib.train.fit`). Returns the frozen network (on ``device``)."""
    from ..nn.graph import SkeletonGCN
    from ..train import fit, make_loader

    torch.manual_seed(seed)
    X = torch.cat([W["train"]["joints"][:, :t_obs], W["train"]["joints"][:, t_obs:2 * t_obs]])
    y = torch.cat([W["train"]["labels"], W["train"]["labels"]])
    net = SkeletonGCN(num_classes, skeleton.adjacency(), in_channels=3, channels=(16, 32), strides=(2, 2),
                      num_person=1, adaptive=False, kernel_size=5)
    loader = make_loader(gcn_input(X), y, batch_size=batch_size, shuffle=True, seed=seed,
                         pin_memory=resolve_device(device).type == "cuda")
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=epochs * len(loader))
    fit(net, loader, epochs, optimizer=opt, scheduler=sched, device=device, progress=False, amp=amp)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    return net




@torch.no_grad()
def classify(net, X, bs: int = 512, device=None, amp: str | None = None):
    """Class probabilities ``(N, I)`` (on the CPU, float32) of joints ``X (N, T, V, 3)``; the batches
    run on ``device`` (default: the network's), with ``amp`` in mixed precision."""
    dev = model_device(net, device)
    out = []
    for s in range(0, len(X), bs):
        with autocast(dev, amp):
            logits = net(gcn_input(to_device(X[s:s + bs], dev)))
        out.append(torch.softmax(logits.float(), -1).cpu())
    return torch.cat(out)


def _batches(n, bs, gen):
    perm = torch.randperm(n, generator=gen)
    return [perm[s:s + bs] for s in range(0, n, bs)]


def train_stage1(model, W, epochs: int, lr: float, seed: int, bs: int = 256, stride: int = 1,
                 augment: float = 0.5, device=None, amp: str | None = None):
    """Stage 1: the encoders and decoders alone reconstruct the training frames' ``(theta, beta,
    Pi)`` (``L_parameter``; every ``stride``-th frame of every window), Adam with a one-cycle
    schedule. ``augment``: every batch is perturbed by Gaussian noise of ``augment`` training
    standard deviations per parameter (and the perturbed frame is the target), so the
    autoencoder learns to reconstruct poses around the 8 training subjects' too; without it the
    test subjects' poses reconstructed 3x worse than the training ones. The frames stay on the CPU
    (and the noise is drawn there, from the seeded generator); each batch moves to ``device``
    (default: the model's; page-locked, non-blocking). ``amp``: the forward pass in mixed precision
    (:func:`paperlib.train.autocast`; fp16 with loss scaling). The losses add up on the device and
    are read once per epoch (no host synchronisation per step). Returns the loss per epoch."""
    dev = model_device(model, device)
    tr = W["train"]
    frames = [tr[k][:, ::stride].reshape(-1, tr[k].shape[-1]) for k in ("theta", "beta", "cam")]
    params = [p for n, p in model.named_parameters() if n.startswith(("enc_", "dec_"))]
    opt = torch.optim.Adam(params, lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n_b = (len(frames[0]) + bs - 1) // bs
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(epochs * n_b, 1), pct_start=0.2)
    scaler = grad_scaler(dev, amp)
    hist = []
    model.train()
    for _ in range(epochs):
        tot = torch.zeros((), dtype=torch.float64, device=dev)   # sum of loss * batch size, in float64
        for i in _batches(len(frames[0]), bs, gen):
            th, be, ca = (to_device(f[i], dev) for f in frames)
            if augment > 0:
                th, be, ca = (x + augment * getattr(model, f"{n}_std")
                              * to_device(torch.randn(x.shape, generator=gen), dev)
                              for x, n in ((th, "theta"), (be, "beta"), (ca, "cam")))
            with autocast(dev, amp):
                rt, rb, rc = model.autoencode(th, be, ca)
                loss = (((rt - th) ** 2).sum(-1).mean() + ((rb - be) ** 2).sum(-1).mean()
                        + ((rc - ca) ** 2).sum(-1).mean())
            opt.zero_grad()
            backward_step(loss, opt, scaler)
            sched.step()
            tot += loss.detach().double() * len(i)
        hist.append(tot.item() / len(frames[0]))
    model.eval()
    return hist


@torch.no_grad()
def predict_future(model, w, labels, bank, t_obs: int, horizon: int, joints_fn, record: bool = False, bs: int = 256,
                   device=None, amp: str | None = None):
    """Future joints ``(N, horizon, V, 3)`` from the observed frames of windows ``w``; with
    ``record`` also the reads ``{attn_short, attn_long, logits_short, logits_long, attn_dec_short,
    attn_dec_long}`` ``(N, horizon, N_max)`` (those the variant makes). The batches run on
    ``device`` (default: the model's), with ``amp`` in mixed precision; the results are on the CPU
    (float32)."""
    dev = model_device(model, device)
    model.eval()
    f32 = (lambda t: t) if amp is None else (lambda t: t.float())  # noqa: E731
    Xs, rec = [], {}
    for s in range(0, len(labels), bs):
        sl = slice(s, s + bs)
        th, be, ca, lab = (to_device(t, dev) for t in (w["theta"][sl, :t_obs], w["beta"][sl, :t_obs],
                                                         w["cam"][sl, :t_obs], labels[sl]))
        with autocast(dev, amp):
            out = model(th, be, ca, lab, bank, horizon)
            X = joints_fn(out["theta"][:, t_obs - 1:], out["beta"][:, t_obs - 1:])
        Xs.append(f32(X).cpu())
        if record:
            for k in ("attn_short", "attn_long", "logits_short", "logits_long", "attn_dec_short", "attn_dec_long"):
                if out.get(k) is not None:
                    rec.setdefault(k, []).append(f32(out[k]).cpu())
    X = torch.cat(Xs)
    return (X, {k: torch.cat(v) for k, v in rec.items()}) if record else X


def train_stage2(model, W, bank, t_obs: int, horizon: int, epochs: int, lr: float, seed: int, joints_fn,
                 project_fn, theta_lo, theta_hi, phi=None, w_latent: float = 0.01, bs: int = 32, device=None,
                 amp: str | None = None, patience: int | None = None):
    """Stage 2: the whole model with ``L`` (Eq. 10; ``L_action`` when ``phi`` is given), Adam,
    gradient clipping at norm 1, the bank read with the true class.
    **Early stopping**: after every epoch the future-joint MSE on the validation windows; the
    weights of the best epoch are kept. With ``patience`` (the grid's setting) the learning rate is
    constant and training stops once ``patience`` epochs in a row did not improve on the best, or
    after ``epochs``; without it, ``epochs`` epochs of a one-cycle schedule. The windows stay on the CPU; each batch moves to ``device``
    (default: the model's; ``phi`` must be there too). ``amp``: the forward passes (validation
    included) in mixed precision (:func:`paperlib.train.autocast`; fp16 with loss scaling). The
    losses add up on the device; the host reads them and the validation error once per epoch.
    Returns ``{"loss": per epoch, "val": per epoch, "best_epoch"}`` (0-based). Raises
    ``ValueError`` if ``patience < 1``."""
    from ..data.h36m_like import BodyModel  # noqa: F401  (project_fn comes from it)

    if patience is not None and patience < 1:
        raise ValueError(f"train_stage2: patience must be >= 1 epoch, got {patience}")
    dev = model_device(model, device)
    theta_lo, theta_hi = to_device(theta_lo, dev), to_device(theta_hi, dev)
    tr, va = W["train"], W["val"]
    uses_bank = model.pred_bank or model.dec_bank
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n_b = (len(tr["labels"]) + bs - 1) // bs
    sched = (torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=max(epochs * n_b, 1), pct_start=0.2)
             if patience is None else None)
    scaler = grad_scaler(dev, amp)
    hist = {"loss": [], "val": []}
    best, best_state = float("inf"), None
    for _ in range(epochs):
        model.train()
        tot = torch.zeros((), dtype=torch.float64, device=dev)   # sum of loss * batch size, in float64
        for i in _batches(len(tr["labels"]), bs, gen):
            x = {k: to_device(v[i], dev) for k, v in tr.items()}
            with autocast(dev, amp):
                out = model(x["theta"][:, :t_obs], x["beta"][:, :t_obs], x["cam"][:, :t_obs], x["labels"],
                            bank if uses_bank else None, horizon)
                tgt = {k: x[k][:, 1:] for k in ("theta", "beta", "cam", "joints", "joints2d", "visibility")}
                with torch.no_grad():
                    lat = tuple(z[:, 1:] for z in model.encode(x["theta"], x["beta"], x["cam"]))
                Lp = prediction_losses(out, tgt, lat, joints_fn, project_fn)
                loss = (Lp["parameter"] + w_latent * Lp["latent"] + Lp["joint"]
                        + prior_loss(out["theta"], out["beta"], theta_lo, theta_hi))
                if phi is not None:  # Eq. 10: the frozen phi on the predicted vs the true future joints
                    loss = loss + action_kl(phi(gcn_input(Lp["joints_hat"][:, t_obs - 1:])),
                                            phi(gcn_input(x["joints"][:, t_obs:])))
            opt.zero_grad()
            backward_step(loss, opt, scaler, model.parameters(), 1.0)
            if sched is not None:
                sched.step()
            tot += loss.detach().double() * len(i)
        hist["loss"].append(tot.item() / len(tr["labels"]))
        Xv = predict_future(model, va, va["labels"], bank if uses_bank else None, t_obs, horizon, joints_fn,
                            device=dev, amp=amp)
        v = float(((Xv - va["joints"][:, t_obs:]) ** 2).sum(-1).mean())
        hist["val"].append(v)
        if v < best:
            best, best_state = v, {k: t.clone() for k, t in model.state_dict().items()}
            hist["best_epoch"] = len(hist["val"]) - 1
        elif patience is not None and len(hist["val"]) - 1 - hist["best_epoch"] >= patience:
            break
    model.load_state_dict(best_state)
    model.eval()
    return hist


def _per_sequence(err, seq):
    """Mean of per-window errors ``err (N,)`` per test sequence ``seq (N,)`` (sorted ids)."""
    ids = np.unique(seq)
    return np.array([err[seq == i].mean() for i in ids])


def crosses_boundary(cycles, t_obs: int):
    """Which windows' futures cross a sub-process boundary: ``cycles (N, L)`` (the sub-process
    occurrence at every frame, :func:`make_data`) -> bool ``(N,)``, True where the last frame's
    occurrence differs from the last observed frame's (frame ``t_obs - 1``). Raises ``ValueError``
    unless ``0 < t_obs < L``."""
    cycles = np.asarray(cycles)
    if not 0 < t_obs < cycles.shape[1]:
        raise ValueError(f"crosses_boundary: t_obs must lie in (0, {cycles.shape[1]}), got {t_obs}")
    return cycles[:, -1] != cycles[:, t_obs - 1]


def item_tags(bank: MemoryBank, memory: str, labels, variants) -> tuple:
    """What every bank item shows: ``(action (I, N_max), sub-process (I, N_max))`` long tensors, -1
    on padding. The action is the *true* label of the item's source sequence (also in a bank built
    from shuffled labels); the sub-process is the one at the item's last frame (the end of its
    value half): frame ``start + dt - 1`` of a short item, ``start + K (dt - 1)`` of a long one.
    ``labels (S,)`` and ``variants (S, T)`` are the sequences' (:class:`BodySequences`)."""
    items, mask = bank.items(memory)
    step = 1 if memory == "short" else bank.K
    act = torch.full(mask.shape, -1, dtype=torch.long)
    sub = torch.full(mask.shape, -1, dtype=torch.long)
    for b, src in enumerate(getattr(bank, f"{memory}_source")):
        seq, start = src[:, 0], src[:, 1] + step * (bank.delta_t - 1)
        act[b, :len(src)] = torch.as_tensor(np.asarray(labels)[seq], dtype=torch.long)
        sub[b, :len(src)] = torch.as_tensor(np.asarray(variants)[seq, start].astype(np.int64))
    return act, sub


def retrieval_accuracy(attn, rows, tags, mask, action, sub) -> dict:
    """How much of a read's weight lands on items of the true action and its true sub-process.

    ``attn (N, H, N_max)``: the read's weights at every future step (:func:`predict_future`'s
    record); ``rows (N,)`` the bank row each window read; ``tags``: :func:`item_tags`; ``mask
    (I, N_max)`` real items; ``action (N,)`` true labels; ``sub (N, H)`` the true sub-process of
    every future frame. Returns ``{"action", "hit", "action_uniform", "hit_uniform"}``: the mean
    over windows and steps of the read weight on items of the true action / of the true action
    *and* sub-process, and the same for a uniform read over the row's items (the control: what the
    row holds, without choosing). Raises ``ValueError`` on mismatched shapes.
    """
    attn = attn.float()
    if attn.shape[0] != len(rows) or attn.shape[:2] != sub.shape or attn.shape[-1] != mask.shape[-1]:
        raise ValueError(f"retrieval_accuracy: attn {tuple(attn.shape)}, rows {tuple(rows.shape)}, sub "
                         f"{tuple(sub.shape)}, mask {tuple(mask.shape)} do not match")
    act_t, sub_t = tags[0][rows][:, None, :], tags[1][rows][:, None, :]  # (N, 1, N_max)
    on_act = act_t == action[:, None, None]
    hit = on_act & (sub_t == sub[:, :, None])
    m = mask[rows][:, None, :].float()
    uni = m / m.sum(-1, keepdim=True)
    return {"action": float((attn * on_act).sum(-1).mean()), "hit": float((attn * hit).sum(-1).mean()),
            "action_uniform": float((uni * on_act).sum(-1).mean()), "hit_uniform": float((uni * hit).sum(-1).mean())}


def run_experiment(seed: int = 0, structure: float = 0.0, dataset: str = "h36m_like", data_root=None,
                   num_subjects: int = 14, frames: int = 150, t_obs: int = 15, horizon: int = 30,
                   train_stride: int = 20, test_stride: int = 25, delta_t: int = 8, K: int = 3,
                   bank_samples: int = 400, latent=(128, 32, 16), c_kv: int = 64, epochs_stage1: int = 8,
                   stage1_stride: int = 1, stage1_augment: float = 0.3, epochs_stage2: int = 3,
                   epochs_classifier: int = 12, batch_size: int = 64, lr_stage1: float = 5e-3,
                   lr: float = 3e-3, w_latent: float = 0.01, variants=tuple(VARIANTS), table6=(0.8, 0.7, 0.6),
                   anchor: bool = True, device: str = "cpu", return_models: bool = False,
                   amp: str | None = None, subprocess_s: float | None = None, patience: int | None = None) -> dict:
    """Notebook 05's experiment for one seed: data (with ``structure``) -> classifier -> banks ->
    stage 1 -> stage 2 of every variant -> PA-MPJPE with and without DTW.

    Variants (:data:`VARIANTS`) plus the non-learned rows ``Constant``, ``Nearest Neighbour``,
    ``exemplar lookup``, ``oracle exemplar`` (:func:`exemplar_lookup`) and ``Oracle
    (autoencoder)`` (stage 1's reconstruction of the true future: the floor the decoder sets);
    ``table6 <acc>`` the full model with degraded labels (:func:`degrade_labels`) and
    ``table6 ground truth`` (the full model, or "+ decoding with bank" when the full model is
    not among ``variants``). Every variant of a seed sees the same data, windows, batch order and
    initial weights (read inputs zero-initialised), so differences are paired.

    ``anchor``: passed to every :class:`MotionPredictor` (default True, our addition: each decoded
    output shifted by the decoder's reconstruction error of the last observed frame); ``False``
    decodes as the paper does, so every prediction carries the autoencoder's reconstruction error.

    ``subprocess_s``: the synthetic sub-processes' mean duration (s; :func:`make_data`).
    ``patience``: stage 2 stops after this many epochs without a better validation error (at most
    ``epochs_stage2``, constant learning rate; :func:`train_stage2`).

    Metrics per variant: ``pa@h`` (PA-MPJPE mm at future frame ``h`` in :data:`HORIZONS`, test
    windows' mean), ``dtw@h`` (with the paper's prefix DTW, :func:`dtw_pa_mpjpe`) for every row;
    on the synthetic data also ``pa_cross@h`` and ``pa_within@h``, the same over the test windows
    whose future crosses a sub-process boundary and over the others (:func:`crosses_boundary`).
    For bank readers ``entropy_<read>`` and ``entropy_uniform_<read>`` (nats, test windows, future
    steps) and, on the synthetic data, ``retrieval_<read>`` / ``retrieval_action_<read>`` with their
    ``..._uniform_<read>`` controls (:func:`retrieval_accuracy`: ``hit`` and ``action``); ``train_s``,
    ``best_epoch``, ``epochs_run``. ``best learned (val)``: the trained variant with the lowest
    validation error (its index in ``variants`` as ``variant_index``), a row chosen without the
    test set. ``data``: ``windows_test``, ``cross_fraction``.
    ``classifier``: ``acc_test``, ``acc_val``. ``per_item``: ``pa@h`` (and ``dtw@h``) per test
    *sequence* (the mean over its windows; windows of one sequence are correlated).
    With ``return_models`` also ``"runs"`` (models, histories, predictions, reads, banks, data).
    ``amp`` (``None``, ``"bf16"``, ``"fp16"``): every network's forward passes in mixed precision
    (:func:`paperlib.train.autocast`; fp16 trains with loss scaling); ``None`` is full precision.
    Raises ``ValueError`` on an unknown variant.
    """
    from ..data.h36m_like import BodyModel

    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"run_experiment: unknown variants {unknown}; known: {list(VARIANTS)}")
    dev = resolve_device(device)
    t_start = time.process_time()
    seqs, split, W = make_data(structure, seed, num_subjects, frames, t_obs, horizon, train_stride, test_stride,
                               dataset, data_root, subprocess_s)
    C, V = len(seqs.class_names), seqs.skeleton.num_joints
    D = 3 * V
    body = seqs.body
    joints_fn = lambda th, be: body.joints(th.reshape(*th.shape[:-1], V, 3), be)  # noqa: E731
    project_fn = BodyModel.project
    timing = {"data_s": time.process_time() - t_start}

    t0 = time.process_time()
    phi = train_classifier(W, seqs.skeleton, C, t_obs, epochs_classifier, seed, device=dev, amp=amp)
    probs = {k: classify(phi, W[k]["joints"][:, :t_obs], device=dev, amp=amp) for k in ("val", "test")}
    acc = {k: float((probs[k].argmax(1) == W[k]["labels"]).float().mean()) for k in probs}
    timing["classifier_s"] = time.process_time() - t0

    t0 = time.process_time()
    banks = {"specific": build_bank(seqs.theta, seqs.lengths, seqs.labels, C, seqs=split["train"], delta_t=delta_t,
                                    K=K, max_samples=bank_samples, seed=seed)}
    if any(VARIANTS[v][3] == "agnostic" for v in variants):
        banks["agnostic"] = build_bank(seqs.theta, seqs.lengths, seqs.labels, C, seqs=split["train"],
                                       delta_t=delta_t, K=K, max_samples=2 * bank_samples, action_specific=False,
                                       seed=seed)
    if any(VARIANTS[v][3] == "shuffled" for v in variants):  # the control: items filed under permuted labels
        shuffled = np.array(seqs.labels, copy=True)
        shuffled[split["train"]] = np.random.default_rng([seed, 31]).permutation(shuffled[split["train"]])
        banks["shuffled"] = build_bank(seqs.theta, seqs.lengths, shuffled, C, seqs=split["train"], delta_t=delta_t,
                                       K=K, max_samples=bank_samples, seed=seed)
    timing["bank_s"] = time.process_time() - t0

    def make_model(pb=False, db=False, onehot=False):
        torch.manual_seed(seed)
        return MotionPredictor(D, seqs.beta.shape[1], 3, latent=tuple(latent), c_k=c_kv, c_v=c_kv, delta_t=delta_t,
                               K=K, pred_bank=pb, dec_bank=db, anchor=anchor, num_classes=C,
                               label_input=onehot).to(dev)

    t0 = time.process_time()
    tr = W["train"]
    stage1 = make_model().set_normalisation(tr["theta"], tr["beta"], tr["cam"])
    h1 = train_stage1(stage1, W, epochs_stage1, lr_stage1, seed, stride=stage1_stride, augment=stage1_augment,
                      device=dev, amp=amp)
    shared = {k: v.clone() for k, v in stage1.state_dict().items() if k.startswith(("enc_", "dec_", "theta_", "beta_",
                                                                                     "cam_"))}
    timing["stage1_s"] = time.process_time() - t0
    theta_lo = tr["theta"].amin((0, 1)) - 0.05
    theta_hi = tr["theta"].amax((0, 1)) + 0.05

    te = W["test"]
    X_true = te["joints"][:, t_obs:].numpy()
    label_pred = probs["test"].argmax(1)
    preds, runs, metrics = {}, {}, {}
    root_last = lambda w: w["theta"][:, t_obs - 1, 0:3].numpy()  # noqa: E731
    preds["Constant"] = constant_baseline(te["joints"][:, :t_obs].numpy(), horizon)
    preds["Nearest Neighbour"] = nearest_neighbour_baseline(tr["joints"][:, :t_obs].numpy(), tr["joints"][:, t_obs:].numpy(),
                                                            te["joints"][:, :t_obs].numpy())[0]
    lookup_args = (tr["joints"][:, :t_obs].numpy(), tr["joints"][:, t_obs:].numpy(), tr["labels"].numpy(), root_last(tr),
                   te["joints"][:, :t_obs].numpy())
    preds["exemplar lookup"] = exemplar_lookup(*lookup_args, label_pred.numpy(), root_last(te), recent=delta_t)[0]
    preds["oracle exemplar"] = exemplar_lookup(*lookup_args, te["labels"].numpy(), root_last(te), recent=delta_t,
                                               oracle_future=X_true)[0]
    with torch.no_grad(), autocast(dev, amp):  # the Oracle: stage 1 reconstructs the true future poses (true beta)
        rt, _, _ = stage1.autoencode(*(to_device(te[k][:, t_obs:], dev) for k in ("theta", "beta", "cam")))
        preds["Oracle (autoencoder)"] = joints_fn(rt, to_device(te["beta"][:, t_obs:], dev)).float().cpu().numpy()
    synthetic = "cycles" in te and seqs.variants is not None
    tags = ({k: {m: item_tags(b, m, seqs.labels, seqs.variants) for m in ("short", "long")} for k, b in banks.items()}
            if synthetic else {})
    for v in variants:
        pb, db, ua, bk, oh = VARIANTS[v]
        t0 = time.process_time()
        model = make_model(pb, db, oh)
        model.load_state_dict(shared, strict=False)
        bank = banks[bk] if bk else None
        hist = train_stage2(model, W, bank, t_obs, horizon, epochs_stage2, lr, seed, joints_fn, project_fn, theta_lo,
                            theta_hi, phi if ua else None, w_latent, batch_size, device=dev, amp=amp,
                            patience=patience)
        train_s = time.process_time() - t0
        Xp, rec = predict_future(model, te, label_pred, bank, t_obs, horizon, joints_fn, record=True, device=dev,
                                 amp=amp)
        preds[v] = Xp.numpy()
        metrics[v] = {"train_s": train_s, "best_epoch": hist["best_epoch"], "epochs_run": len(hist["val"]),
                      "val_best": min(hist["val"]), "loss_first": hist["loss"][0], "loss_last": hist["loss"][-1]}
        if bank is not None:
            idx = bank.bank_index(label_pred)
            for k, a in rec.items():
                if k.startswith("attn"):
                    mem = k.split("_")[-1]
                    H_, Hu = read_entropy(a, bank.items(mem)[1][idx][:, None, :].expand_as(a))
                    metrics[v][f"entropy_{k[5:]}"] = H_
                    metrics[v][f"entropy_uniform_{k[5:]}"] = Hu
                    if synthetic:
                        r = retrieval_accuracy(a, idx, tags[bk][mem], bank.items(mem)[1], te["labels"],
                                               te["variants"][:, t_obs:])
                        for key, name in (("hit", "retrieval"), ("action", "retrieval_action")):
                            metrics[v][f"{name}_{k[5:]}"] = r[key]
                            metrics[v][f"{name}_uniform_{k[5:]}"] = r[f"{key}_uniform"]
        runs[v] = {"model": model, "hist": hist, "reads": rec}
    if variants:  # chosen on the validation windows, never on the test ones
        pick = min(range(len(variants)), key=lambda j: metrics[variants[j]]["val_best"])
        preds["best learned (val)"] = preds[variants[pick]]
        metrics["best learned (val)"] = {"variant_index": pick}
    t6_model = next((v for v in ("+ action constraint (full)", "+ decoding with bank") if v in runs), None)
    if t6_model and table6:
        full = runs[t6_model]
        y = te["labels"].numpy()
        sets = {"table6 ground truth": y}
        for a in table6:
            sets[f"table6 {round(100 * a)}%"] = degrade_labels(probs["test"].numpy(), y, a) if a < acc["test"] else None
        for name, lab in sets.items():
            if lab is None:
                continue
            preds[name] = predict_future(full["model"], te, torch.as_tensor(lab), banks["specific"], t_obs, horizon,
                                         joints_fn, device=dev, amp=amp).numpy()
            metrics[name] = {"accuracy": float((lab == y).mean())}
    t0 = time.process_time()
    seq = te["sequence"].numpy()
    hz = np.array(HORIZONS) - 1
    cross = crosses_boundary(te["cycles"].numpy(), t_obs) if synthetic else None
    per_item = {}
    for name, P in preds.items():
        e = pa_mpjpe_per_frame(P, X_true)  # (N, horizon)
        m = metrics.setdefault(name, {})
        per_item[name] = {}
        for h, j in zip(HORIZONS, hz):
            m[f"pa@{h}"] = float(e[:, j].mean())
            per_item[name][f"pa@{h}"] = _per_sequence(e[:, j], seq).tolist()
            if cross is not None:
                for sub_name, sel in (("cross", cross), ("within", ~cross)):
                    m[f"pa_{sub_name}@{h}"] = float(e[sel, j].mean()) if sel.any() else None
                if cross.any():
                    per_item[name][f"pa_cross@{h}"] = _per_sequence(e[cross, j], seq[cross]).tolist()
        ed = dtw_pa_mpjpe(P, X_true)
        for k, h in enumerate(HORIZONS):
            m[f"dtw@{h}"] = float(ed[:, k].mean())
            per_item[name][f"dtw@{h}"] = _per_sequence(ed[:, k], seq).tolist()
    timing["eval_s"] = time.process_time() - t0
    metrics["classifier"] = {"acc_test": acc["test"], "acc_val": acc["val"], "chance": 1.0 / C}
    metrics["stage1"] = {"loss_first": h1[0], "loss_last": h1[-1]}
    metrics["data"] = {"windows_test": int(len(seq)),
                       "cross_fraction": float(cross.mean()) if cross is not None else None}
    metrics["timing"] = {**timing, "total_s": time.process_time() - t_start}
    out = {"metrics": metrics, "per_item": per_item}
    if return_models:
        out["runs"] = {"variants": runs, "banks": banks, "stage1": stage1, "stage1_hist": h1, "phi": phi,
                       "probs": probs, "preds": preds, "data": (seqs, split, W), "X_true": X_true,
                       "label_pred": label_pred, "joints_fn": joints_fn}
    return out
