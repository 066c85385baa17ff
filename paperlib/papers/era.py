"""Notebook 01 (ERA): Expert Retrieval and Assembly for early action prediction, as one experiment.

Source: Lin Geng Foo, Tianjiao Li, Hossein Rahmani, Qiuhong Ke, Jun Liu, "ERA: Expert Retrieval
and Assembly for Early Action Prediction", ECCV 2022 (arXiv:2207.09675). No official code exists;
this module is written from the paper. Notebook ``01_era_early_action_prediction.ipynb``
displays it next to the equations and explains every line; ``make reproduce NB=01`` calls
:func:`run_experiment` for every (seed, early_cue) point of
``notebooks/results/01_era_early_action_prediction/grid.json``: the same code.

Contents
--------
- The ERA module (Sec. 3.2, Eqs. 1-5): :class:`ERAConv`, :func:`straight_through_gumbel`.
- The similarity loss (Sec. 3.4): :func:`expert_similarity`, :func:`similarity_loss`.
- ELRO (Sec. 3.3, Eqs. 8-12): :class:`ELRO`, :func:`virtual_parameters`, :func:`expert_owners`.
- The backbone with ERA plugged in: :class:`ERABackbone`, :func:`build_model` (every variant of
  the paper's Tables 1 and 3(e) and the controls).
- The experiment: :class:`ObservedViews` (what the network sees at each observation ratio),
  :func:`train_variant`, :func:`evaluate`, :func:`usage_stats`, :func:`run_experiment`.

An :class:`ERAConv` replaces a convolution ``W_conv`` of shape ``(N_out, N_in, *kernel)``
(1D, 2D or 3D; a ``1 x 1`` convolution inside a graph unit is the 2D case with a ``1 x 1``
kernel). Its ``N_out`` output channels are split into ``N_out - d`` **non-expert** kernels
``W_nonexpert``, shared by all samples, and ``d = round(expert_ratio * N_out)`` **expert
channels**, each with an **Expert Bank** of ``M`` experts ``E^p_i = (m^p_i, k^p_i)``: a kernel
``m^p_i (N_in, *kernel)`` and a key ``k^p_i`` in ``R^K``. Per sample and bank ``p`` (all banks
and samples at once):

- Eq. 1  ``q_p = f_p(X)``: average-pool ``X`` over space and the **observed** frames, then a
  linear map to ``R^K``;
- Eq. 2  ``s^p_i = q_p . k^p_i / sqrt(K)`` (the ``1/sqrt(K)`` is ours, see ``key_scale``);
- Eq. 3  ``I_p = argmax_i s^p_i``, trained with a straight-through Gumbel-softmax (``tau = 1``);
- Eq. 4  ``W_expert = Concat_p(m^p_{I_p})``; Eq. 5 ``W_ERA = Concat(W_nonexpert, W_expert)``.

Three vectorised implementations (``impl``) give the same outputs and gradients, because a
convolution is linear in its kernel: ``gather`` (one convolution with every candidate kernel,
then keep the retrieved responses), ``grouped`` (the assembled expert kernels as a grouped
convolution, one group per sample) and ``matmul`` (default: one batched matrix product over
every kernel tap and position, then a shift-and-add over the taps). ``naive_forward`` is the
per-sample reference loop used by the tests.
"""
from __future__ import annotations

import math
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from ..data import synthetic
from ..data.sequences import OBS_RATIOS, SkeletonDataset, crop_observation, normalize_skeleton, \
    observed_length, to_network_layout
from ..metrics import auc_over_ratios
from ..nn.graph import SkeletonGCN
from ..skeleton import get_skeleton
from ..train import autocast, backward_step, grad_scaler, model_device, resolve_device, to_device
from .primer import make_data

__all__ = ["ERAConv", "era_modules", "expert_similarity", "similarity_loss", "straight_through_gumbel",
           "observation_context", "ERABackbone", "build_model", "conv_filters", "matched_width",
           "expert_owners", "per_expert", "virtual_parameters", "ELRO", "ObservedViews", "objective",
           "train_variant", "evaluate", "usage_stats", "group_information", "counterfactual_logits", "explorer_record", "VARIANTS", "ROUTES", "PAPER",
           "run_experiment"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _tuple(v, dim):
    if isinstance(v, int):
        return (v,) * dim
    v = tuple(int(a) for a in v)
    if len(v) != dim:
        raise ValueError(f"expected {dim} values, got {v}")
    return v


# ---------------------------------------------------------------------------------------------
# The ERA module (Sec. 3.2)
# ---------------------------------------------------------------------------------------------

def straight_through_gumbel(scores: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """One-hot retrieval (Eq. 3) with straight-through Gumbel-softmax gradients.

    ``scores (..., M)`` -> ``(..., M)``. Forward value: exactly ``one_hot(argmax(scores))``.
    Backward: the gradient of ``torch.nn.functional.gumbel_softmax(scores, tau)`` (a soft,
    noisy relaxation), as in Sec. 4.1 of the paper. ``y_soft - y_soft.detach()`` is exactly zero
    in the forward pass, so the forward value is the hard one-hot to the last bit.
    """
    y_soft = F.gumbel_softmax(scores, tau=tau, hard=False, dim=-1)
    y_hard = F.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)
    return y_hard + (y_soft - y_soft.detach())


def _spread_positions(n_out: int, d: int, groups: int):
    """Output positions of the ``d`` expert channels: the last ``d_g`` channels of each of
    ``groups`` equal groups (``d_g`` differ by at most one). Returns (expert_pos, nonexpert_pos)."""
    if groups < 1 or n_out % groups:
        raise ValueError(f"ERAConv: expert_groups={groups} must divide out_channels={n_out}")
    size = n_out // groups
    per = [d // groups + (g < d % groups) for g in range(groups)]
    if max(per) > size:
        raise ValueError(f"ERAConv: {d} expert channels do not fit into {groups} groups of {size}")
    exp = [g * size + size - k for g in range(groups) for k in range(per[g], 0, -1)]
    non = [c for c in range(n_out) if c not in set(exp)]
    return exp, non


class ERAConv(nn.Module):
    """ERA module: a convolution whose ``d`` expert kernels are retrieved per sample (Eqs. 1-5).

    Parameters
    ----------
    in_channels, out_channels : ``N_in``, ``N_out``.
    kernel_size, stride, padding : as for ``nn.Conv{dim}d`` (int or tuple of ``dim`` ints).
    dim : 1, 2 or 3: the convolution type. The time axis is the input's axis 2.
    expert_ratio : ``d / N_out`` (paper: 0.2); ``d = round(expert_ratio * N_out)``, in ``[0, N_out]``.
    num_experts : ``M``, experts per bank (paper: 5).
    key_dim : ``K``, the dimension of queries and keys (paper: 64; choose ``K < N_in``: the paper
        *reduces* the pooled input to ``K``).
    tau : Gumbel-softmax temperature for the backward pass (paper: 1).
    retrieval : how Eq. 3 is trained: ``"straight_through"`` (default: the forward pass is the exact
        argmax of the scores, the backward pass the Gumbel-softmax gradient,
        :func:`straight_through_gumbel`) or ``"gumbel_hard"`` (``F.gumbel_softmax(s, tau, hard=True)``:
        the forward pass retrieves the argmax of the *noisy* scores ``s + g``). Evaluation always
        retrieves the plain argmax.
    key_scale : divide the scores by ``sqrt(K)`` (ours; with keys drawn from ``N(0, 1)`` the raw
        inner products grow with ``sqrt(K)`` and saturate the Gumbel-softmax gradient).
    query_norm : standardise the pooled input of the query maps per channel (``BatchNorm1d``
        without affine parameters; ours). Pooled post-ReLU features share a large common mean, so
        without it the queries of all samples are nearly parallel and every sample retrieves the
        same expert of a bank.
    expert_groups : spread the expert channels over this many equal groups of output channels
        (the last ``d_g`` channels of each group). A graph unit's ``1 x 1`` convolution computes
        ``K_a * C`` channels that are read as ``K_a`` adjacency subsets of ``C`` channels; with
        ``expert_groups = K_a`` every subset gets expert channels. 1: Eq. 5's order (experts last).
    bias : a per-output-channel bias, shared by all samples (a non-expert parameter).
    mode : ``"retrieve"`` (ERA), ``"average"`` (the static Expert-Avg alternative: every sample
        uses the mean of its bank's experts; keys and query maps unused) or ``"routed"`` (every
        bank of row ``b`` takes expert ``route[b]``, set by the model before the forward pass: the
        oracle retrieval by the latent cue group and its shuffled control; ours, not the paper's).
    impl : ``"gather"``, ``"grouped"`` or ``"matmul"``; same outputs and gradients.
    record : keep the last batch's queries, scores, retrieved indices and body presence in
        ``self.last`` (detached, for analysis and the explorer widget).

    Attributes
    ----------
    nonexpert ``(N_out - d, N_in, *kernel)``; experts ``(d, M, N_in, *kernel)``; keys ``(d, M, K)``;
    query ``nn.Linear(N_in, d K)`` (the ``d`` maps ``f_p`` of Eq. 1 stacked); bias ``(N_out,)``;
    expert_index, nonexpert_index: the output positions of the expert and non-expert channels.
    context : set by the model before a forward pass (:func:`observation_context`):
        ``{"lengths": (B,) observed frames, "frames": T of the network input, "present": (B,)}``;
        ``None``: every frame is observed (a plain mean).
    route : ``None`` or ``(B,)`` long tensor, the expert every bank of a row takes in ``"routed"``
        mode (values in ``[0, M)``).
    force : ``None`` or ``(bank (B,), expert (B,))`` long tensors: in evaluation, row ``b`` retrieves
        expert ``expert[b]`` in bank ``bank[b]`` instead of its argmax (``-1``: no override); the
        counterfactual view of the explorer.

    Shapes: ``x (B, N_in, *spatial)`` -> ``(B, N_out, *spatial_out)``, as the plain convolution.
    Raises ``ValueError`` on an unknown ``dim``, ``mode`` or ``impl``, a kernel/stride/padding of
    the wrong length, or ``expert_groups`` that does not divide ``N_out``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=1, stride=1, padding=0, dim: int = 2,
                 expert_ratio: float = 0.2, num_experts: int = 5, key_dim: int = 16, tau: float = 1.0,
                 key_scale: bool = True, query_norm: bool = True, expert_groups: int = 1, bias: bool = True,
                 mode: str = "retrieve", impl: str = "matmul", record: bool = False,
                 retrieval: str = "straight_through"):
        super().__init__()
        if dim not in _CONV:
            raise ValueError(f"ERAConv: dim must be 1, 2 or 3, got {dim}")
        if mode not in ("retrieve", "average", "routed"):
            raise ValueError(f"ERAConv: mode must be 'retrieve', 'average' or 'routed', got {mode!r}")
        if impl not in ("gather", "grouped", "matmul"):
            raise ValueError(f"ERAConv: impl must be 'gather', 'grouped' or 'matmul', got {impl!r}")
        if retrieval not in ("straight_through", "gumbel_hard"):
            raise ValueError(f"ERAConv: retrieval must be 'straight_through' or 'gumbel_hard', got {retrieval!r}")
        self.dim, self.in_channels, self.out_channels = dim, in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, dim)
        self.stride, self.padding = _tuple(stride, dim), _tuple(padding, dim)
        self.d = int(min(max(round(expert_ratio * out_channels), 0), out_channels))
        self.M, self.K, self.tau, self.mode, self.impl, self.record = num_experts, key_dim, tau, mode, impl, record
        self.key_scale, self.expert_groups, self.retrieval = key_scale, expert_groups, retrieval
        exp, non = _spread_positions(out_channels, self.d, expert_groups)
        self.register_buffer("expert_index", torch.tensor(exp, dtype=torch.long), persistent=False)
        self.register_buffer("nonexpert_index", torch.tensor(non, dtype=torch.long), persistent=False)
        order = torch.empty(out_channels, dtype=torch.long)     # output position -> row of Eq. 5's concat
        order[torch.tensor(non + exp, dtype=torch.long)] = torch.arange(out_channels)
        self.register_buffer("order", order, persistent=False)
        self._permute = exp != list(range(out_channels - self.d, out_channels))
        k = self.kernel_size
        self.nonexpert = nn.Parameter(torch.empty(out_channels - self.d, in_channels, *k))   # W_nonexpert
        self.experts = nn.Parameter(torch.empty(self.d, num_experts, in_channels, *k))      # m^p_i
        self.keys = nn.Parameter(torch.empty(self.d, num_experts, key_dim))                 # k^p_i
        self.query = nn.Linear(in_channels, self.d * key_dim)                               # f_p, p = 1..d
        self.query_norm = nn.BatchNorm1d(in_channels, affine=False) if query_norm else None  # centre the pooled input
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.last, self.context, self.force, self.route = {}, None, None, None
        self.reset_parameters()

    def reset_parameters(self):
        """Kernels as ``nn.Conv`` does (uniform, bound ``1/sqrt(fan_in)``), every expert drawn
        independently; keys ``N(0, 1)``; the query map as ``nn.Linear``."""
        fan_in = self.in_channels * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        nn.init.uniform_(self.nonexpert, -bound, bound)
        nn.init.uniform_(self.experts, -bound, bound)
        nn.init.normal_(self.keys, 0.0, 1.0)
        self.query.reset_parameters()
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dim={self.dim}, d={self.d}, M={self.M}, K={self.K}, "
                f"expert_groups={self.expert_groups}, mode={self.mode!r}, impl={self.impl!r}")

    # -- retrieval (Eqs. 1-3) ------------------------------------------------------------------
    def frame_mask(self, x: torch.Tensor) -> torch.Tensor | None:
        """``(B, T_x)`` bool: the frames of ``x`` (axis 2) that lie in the observed prefix, from
        ``self.context`` (``None`` without a context). Frame ``t`` of a map with ``T_x`` frames
        computed from ``T`` input frames is observed when ``t < ceil(L T_x / T)``."""
        if self.context is None:
            return None
        L = self.context["lengths"].to(x.device)
        T_x = x.shape[2]
        n = torch.clamp(torch.ceil(L.double() * T_x / self.context["frames"] - 1e-9), 1, T_x).long()
        return torch.arange(T_x, device=x.device)[None, :] < n[:, None]

    def pool(self, x: torch.Tensor) -> torch.Tensor:
        """The pooling of Eq. 1: the mean of ``x (B, N_in, T, *rest)`` over the observed frames
        and every other spatial position -> ``(B, N_in)``. Without a context: the plain mean."""
        mask = self.frame_mask(x)
        if mask is None:
            return x.mean(dim=tuple(range(2, x.dim())))
        m = mask.to(x.dtype).view(x.shape[0], 1, x.shape[2], *([1] * (x.dim() - 3)))
        rest = math.prod(x.shape[3:])
        return (x * m).sum(dim=tuple(range(2, x.dim()))) / (m.sum(dim=2).flatten(1) * rest)

    def queries(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 1: ``q_p = f_p(X)`` for all banks. ``x (B, N_in, *spatial)`` -> ``(B, d, K)``.
        With ``query_norm`` the pooled vector is standardised per channel (BatchNorm without
        affine parameters) before the linear map."""
        pooled = self.pool(x)                                                # [B, N_in]
        if self.query_norm is not None:
            pooled = self.query_norm(pooled)
        return self.query(pooled).view(x.shape[0], self.d, self.K)          # [B, d, K]

    def scores(self, q: torch.Tensor) -> torch.Tensor:
        """Eq. 2: ``s^p_i = q_p . k^p_i`` (divided by ``sqrt(K)`` if ``key_scale``).
        ``q (B, d, K)`` -> ``(B, d, M)``."""
        s = torch.einsum("bpk,pmk->bpm", q, self.keys)
        return s / math.sqrt(self.K) if self.key_scale else s

    def retrieve(self, s: torch.Tensor) -> torch.Tensor:
        """Eq. 3 as a one-hot ``(B, d, M)``: straight-through Gumbel-softmax in training
        (``retrieval="gumbel_hard"``: the one-hot of the noisy argmax), the plain one-hot of the
        argmax in evaluation; uniform ``1/M`` for Expert-Avg; the one-hot of ``self.route`` in every
        bank when ``"routed"`` (raises ``ValueError`` if no route of ``B`` rows is set)."""
        if self.mode == "average":
            return torch.full_like(s, 1.0 / self.M)
        if self.mode == "routed":
            if self.route is None or len(self.route) != len(s):
                raise ValueError(f"ERAConv: routed mode needs a route of {len(s)} rows, got "
                                 f"{None if self.route is None else len(self.route)}")
            return F.one_hot(self.route.to(s.device), self.M).to(s.dtype)[:, None, :].expand_as(s)
        if self.training and torch.is_grad_enabled():
            if self.retrieval == "gumbel_hard":
                return F.gumbel_softmax(s, tau=self.tau, hard=True, dim=-1)
            return straight_through_gumbel(s, self.tau)
        idx = s.argmax(-1)
        if self.force is not None:                                          # counterfactual retrieval
            bank, expert = (t.to(s.device) for t in self.force)
            rows = torch.nonzero(bank >= 0).squeeze(1)
            idx = idx.clone()
            idx[rows, bank[rows]] = expert[rows]
        return F.one_hot(idx, self.M).to(s.dtype)

    def selection(self, x: torch.Tensor) -> torch.Tensor:
        """Eqs. 1-3 together: the retrieval weights ``r (B, d, M)`` for input ``x``."""
        q = self.queries(x)
        s = self.scores(q)
        r = self.retrieve(s)
        if self.record:
            present = (self.context["present"] if self.context is not None
                       else torch.ones(len(x), dtype=torch.bool, device=x.device))
            self.last = {"query": q.detach(), "scores": s.detach(), "index": r.detach().argmax(-1),
                         "present": present.detach()}           # on the input's device (no host sync)
        return r

    # -- assembly (Eqs. 4-5) -------------------------------------------------------------------
    def assemble(self, r: torch.Tensor) -> torch.Tensor:
        """Eqs. 4-5: the per-sample kernels ``W_ERA (B, N_out, N_in, *kernel)`` for retrieval
        weights ``r (B, d, M)``, rows in Eq. 5's order ``[non-experts, experts]`` (the output
        channel at position ``c`` is row ``order[c]``)."""
        w_expert = torch.einsum("bpm,pm...->bp...", r, self.experts)               # Eq. 4 [B, d, N_in, *k]
        w_non = self.nonexpert.unsqueeze(0).expand(r.shape[0], *self.nonexpert.shape)
        return torch.cat([w_non, w_expert], dim=1)                                   # Eq. 5 [B, N_out, N_in, *k]

    def _finish(self, y: torch.Tensor) -> torch.Tensor:
        """Eq. 5's rows to output positions, then the shared bias."""
        if self._permute:
            y = y.index_select(1, self.order)
        if self.bias is not None:
            y = y + self.bias.view(1, -1, *([1] * self.dim))
        return y

    def apply_kernels(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Convolve every sample with its assembled kernel, vectorised over the batch.

        ``x (B, N_in, *spatial)``, retrieval weights ``r (B, d, M)`` -> ``(B, N_out, *spatial_out)``.
        """
        conv = _CONV[self.dim]
        B, d, M = x.shape[0], self.d, self.M
        n_non = self.out_channels - d
        ones = [1] * self.dim
        if self.impl == "gather":
            # all candidate responses at once: [B, N_out - d + d*M, *out]
            w_all = torch.cat([self.nonexpert, self.experts.flatten(0, 1)], dim=0)
            z = conv(x, w_all, None, self.stride, self.padding)
            z_non, z_exp = z.split([n_non, d * M], dim=1)
            z_exp = z_exp.unflatten(1, (d, M))                                       # [B, d, M, *out]
            return self._finish(torch.cat([z_non, (z_exp * r.view(B, d, M, *ones)).sum(2)], dim=1))
        y_non = conv(x, self.nonexpert, None, self.stride, self.padding)            # [B, N_out - d, *out]
        w_expert = torch.einsum("bpm,pm...->bp...", r, self.experts)                # Eq. 4 [B, d, N_in, *k]
        if self.impl == "grouped":                                                   # one group per sample
            xg = x.reshape(1, B * self.in_channels, *x.shape[2:])
            y_exp = conv(xg, w_expert.reshape(B * d, self.in_channels, *self.kernel_size), None,
                         self.stride, self.padding, 1, B).view(B, d, *y_non.shape[2:])
        else:
            y_exp = self._per_sample_matmul(x, w_expert)                              # [B, d, *out]
        return self._finish(torch.cat([y_non, y_exp], dim=1))                        # Eq. 5

    def _per_sample_matmul(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Convolve sample ``b`` with its own kernels ``w[b]`` for all ``b`` at once.

        ``x (B, N_in, *S)``, ``w (B, d, N_in, *k)`` -> ``(B, d, *O)``. One batched matrix product
        ``Z[b, p, tap, pos] = sum_c w[b, p, c, tap] x_pad[b, c, pos]`` over every kernel tap and
        padded input position, then the shift-and-add ``y[b, p, o] = sum_tap Z[b, p, tap, s o + tap]``
        read through a strided view of ``Z`` (no copy) and summed.
        """
        B, C, D, d = x.shape[0], self.in_channels, self.dim, w.shape[1]
        k = self.kernel_size
        pads = [q for p in reversed(self.padding) for q in (p, p)]
        xp = F.pad(x, pads) if any(self.padding) else x                           # [B, C, *P]
        P = xp.shape[2:]
        O = [(P[j] - k[j]) // self.stride[j] + 1 for j in range(D)]
        taps = math.prod(k)
        wt = w.reshape(B, d, C, taps).transpose(2, 3).reshape(B, d * taps, C)       # [B, d * taps, C]
        Z = torch.bmm(wt, xp.reshape(B, C, -1)).view(B, d, *k, *P)                 # [B, d, *k, *P]
        if taps == 1 and all(s == 1 for s in self.stride):
            return Z.view(B, d, *P)
        st = Z.stride()
        size = (B, d, *k, *O)
        stride = (st[0], st[1], *[st[2 + j] + st[2 + D + j] for j in range(D)],
                  *[self.stride[j] * st[2 + D + j] for j in range(D)])
        return Z.as_strided(size, stride).sum(dim=tuple(range(2, 2 + D)))        # shift-and-add over taps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dim + 2:
            raise ValueError(f"ERAConv(dim={self.dim}): expected a {self.dim + 2}-D input, got {tuple(x.shape)}")
        return self.apply_kernels(x, self.selection(x))

    def naive_forward(self, x: torch.Tensor, r: torch.Tensor | None = None) -> torch.Tensor:
        """Per-sample reference: a Python loop assembling ``W_ERA`` (Eqs. 4-5) for each sample and
        convolving it. ``r (B, d, M)`` defaults to the hard one-hot retrieval (Eqs. 1-3)."""
        conv = _CONV[self.dim]
        if r is None:
            with torch.no_grad():
                s = self.scores(self.queries(x))
            r = F.one_hot(s.argmax(-1), self.M).to(x.dtype) if self.mode == "retrieve" \
                else torch.full_like(s, 1.0 / self.M)
        outs = []
        for b in range(x.shape[0]):
            rows = [self.nonexpert] + [sum(r[b, p, i] * self.experts[p, i] for i in range(self.M))[None]
                                       for p in range(self.d)]
            w_era = torch.cat(rows, dim=0)[self.order]                              # [N_out, N_in, *k]
            outs.append(conv(x[b:b + 1], w_era, self.bias, self.stride, self.padding))
        return torch.cat(outs, dim=0)


def era_modules(model: nn.Module):
    """The :class:`ERAConv` modules of ``model``, as a list of ``(name, module)``."""
    return [(n, m) for n, m in model.named_modules() if isinstance(m, ERAConv)]


def expert_similarity(experts: torch.Tensor, normalize: bool = True, reduction: str = "mean") -> torch.Tensor:
    """``L_s`` of one ERA module from its expert kernels ``(d, M, N_in, *kernel)`` (Sec. 3.4).

    ``sum_p sum_i sum_{j != i} ||m^p_i - m^p_j||^2`` is the paper's formula. Two choices make it
    usable (both are options, and ``normalize=False, reduction="sum"`` is the formula as printed):

    - ``normalize=True``: the distance is taken between unit-norm kernels,
      ``||m_i / ||m_i|| - m_j / ||m_j||||^2 = 2 - 2 cos(m_i, m_j)``, in ``[0, 4]``. With BatchNorm
      after the convolution an expert channel's output does not depend on its kernel's scale, so
      the raw distance can be increased without bound by inflating the kernels, which changes
      nothing in the network's function (``L_CE - gamma_s L_s`` is then unbounded below).
    - ``reduction="mean"``: averaged over the ``d`` banks and ``M (M - 1)`` ordered pairs, so that
      ``gamma_s`` weighs it against a mean cross-entropy; ``"sum"`` sums as the formula does.

    Returns a scalar (0 when ``M < 2`` or ``d = 0``).
    """
    if reduction not in ("mean", "sum"):
        raise ValueError(f"expert_similarity: reduction must be 'mean' or 'sum', got {reduction!r}")
    d, M = experts.shape[:2]
    if d == 0 or M < 2:
        return experts.sum() * 0.0
    e = experts.flatten(2)                                          # [d, M, D]
    if normalize:
        e = e / e.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    dist = (e.unsqueeze(1) - e.unsqueeze(2)).pow(2).sum(-1)         # [d, M, M]; the i == j terms are zero
    return dist.sum() / (d * M * (M - 1)) if reduction == "mean" else dist.sum()


def similarity_loss(model_or_modules, normalize: bool = True, reduction: str = "mean") -> torch.Tensor:
    """``L_s`` summed over the ERA modules (retrieval mode) of a model or an iterable of ERAConv.

    The training loss is ``L = L_CE - gamma_s * L_s`` (Sec. 3.4): the similarity term is
    *subtracted*, so minimising ``L`` increases the distances between the experts of a bank.
    """
    mods = [m for _, m in era_modules(model_or_modules)] if isinstance(model_or_modules, nn.Module) \
        else list(model_or_modules)
    terms = [expert_similarity(m.experts, normalize, reduction) for m in mods if m.mode == "retrieve"]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()


# ---------------------------------------------------------------------------------------------
# The backbone with ERA plugged in, and the variants
# ---------------------------------------------------------------------------------------------

def observation_context(x: torch.Tensor) -> dict:
    """What the ERA modules need to know about a batch ``x (N, C, T, V, M)`` of (partially)
    observed sequences, per row of the folded batch (row ``n M + m`` = body ``m`` of sample ``n``):

    - ``lengths (N M,)``: observed frames: one past the last frame in which sample ``n`` has any
      non-zero coordinate (frames after the observed prefix are zero; at least 1);
    - ``frames``: ``T``;
    - ``present (N M,)`` bool: body ``m`` has a non-zero coordinate somewhere (an absent second
      body is all zeros and is left out of every usage statistic).
    """
    N, C, T, V, M = x.shape
    live = x.detach().abs().amax(dim=(1, 3, 4)) > 0                        # [N, T]
    last = T - torch.flip(live, dims=[1]).long().argmax(1)                  # one past the last live frame
    lengths = torch.where(live.any(1), last, torch.ones_like(last))
    present = x.detach().abs().amax(dim=(1, 2, 3)) > 0                      # [N, M]
    return {"lengths": lengths.repeat_interleave(M), "frames": T, "present": present.flatten()}


class ERABackbone(SkeletonGCN):
    """:class:`~paperlib.nn.graph.SkeletonGCN` that hands every ERA module the observation context
    of the batch (:func:`observation_context`) before the forward pass; identical to the plain
    backbone when it holds no ERA module. ``route``: ``None`` or a ``(B,)`` long tensor, the expert
    of every sample for the ``"routed"`` modules (every body of a sample takes its sample's route)."""

    route = None

    def forward(self, x):
        ctx = observation_context(x) if any(True for _ in era_modules(self)) else None
        route = None if self.route is None else self.route.repeat_interleave(x.shape[-1])
        for _, m in era_modules(self):
            m.context = ctx
            m.route = route
        return super().forward(x)


#: The variants of the experiment: (architecture, trained with ELRO?, ELRO step factor).
VARIANTS = {
    "baseline": ("baseline", False), "era_wo_elro": ("era", False), "era": ("era", True),
    "era_10a": ("era", True), "expert_avg": ("avg", False), "extra_channel": ("wide_params", False),
    "extra_filters": ("wide_filters", False),
    "era_oracle": ("oracle", False), "era_shuffled": ("shuffled", False),
}

#: The ``"routed"`` architectures and the route each reads from :class:`ObservedViews`: the oracle
#: retrieves expert ``g`` for a sample whose cue lies in joint group ``g``; its control retrieves by
#: a shuffled copy of the groups (the same routing structure, no information about the cue).
ROUTES = {"oracle": "groups", "shuffled": "shuffled_groups"}

#: The paper's NTU60 numbers (Table 1: accuracy % at 20/40/60/80/100% and AUC %; Table 3(e): AUC %).
PAPER = {
    "table1": {"baseline": (38.09, 66.36, 78.67, 83.29, 84.10, 66.43),
               "era_wo_elro": (43.94, 73.23, 84.53, 87.61, 87.97, 71.62),
               "era": (53.98, 74.34, 85.03, 88.35, 88.45, 73.87)},
    "table3e_auc": {"extra_channel": 67.55, "expert_avg": 68.02, "era": 73.87},
}


def conv_filters(model: nn.Module) -> int:
    """Real filter weights of a model: every convolution kernel, experts included (not keys,
    query maps, biases, BatchNorm or the classifier)."""
    n = 0
    for m in model.modules():
        if isinstance(m, ERAConv):
            n += m.nonexpert.numel() + m.experts.numel()
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            n += m.weight.numel()
    return n


def _make_factory(arch, era_layers, created, **era_kw):
    def make_conv(cin, cout, k, s, p):
        if arch in ("era", "avg", "oracle", "shuffled") and len(created) in era_layers:
            groups = 3 if (era_kw.get("spread", True) and k == 1 and cout % 3 == 0) else 1  # a graph unit's K_a = 3
            kw = {k_: v for k_, v in era_kw.items() if k_ != "spread"}
            conv = ERAConv(cin, cout, k, s, p, dim=2, expert_groups=groups,
                           mode={"era": "retrieve", "avg": "average"}.get(arch, "routed"), record=True, **kw)
        else:
            conv = nn.Conv2d(cin, cout, k, s, p)
        created.append(conv)
        return conv
    return make_conv


def _layer_numbers(A, widths, names) -> tuple:
    """Creation-order numbers of the convolutions called ``names`` in the backbone of ``widths``."""
    created = []
    probe = ERABackbone(2, A, in_channels=3, channels=widths, strides=(1, 2, 1), kernel_size=5,
                        make_conv=_make_factory("baseline", (), created))
    where = {id(m): n for n, m in probe.named_modules()}
    numbers = [i for i, c in enumerate(created) if where[id(c)] in names]
    if len(numbers) != len(names):
        raise ValueError(f"build_model: convolutions {names} not found in the backbone")
    return tuple(numbers)


def build_model(arch: str = "baseline", num_classes: int = 17, channels=(16, 32, 32), last_width: int | None = None,
                num_experts: int = 5, expert_ratio: float = 0.2, key_dim: int = 16, spread: bool = True,
                era_layers=None, seed: int = 0, A=None, query_norm: bool = True, key_scale: bool = True,
                retrieval: str = "straight_through") -> ERABackbone:
    """The compact 2s-AGCN backbone (3 TCN-GCN blocks, kernel 5, strides 1-2-1) with ERA modules at
    the last block's graph ``1 x 1`` and temporal ``5 x 1`` convolutions (``blocks.2.gcn.conv``,
    ``blocks.2.tcn.conv``), or at the convolutions numbered ``era_layers`` in creation order. The
    numbers depend on the widths (a block whose width changes also creates a down-projection and a
    residual convolution): (7, 8) for the default widths, (7, 9) for 64-128-256.

    ``arch``: ``"baseline"``, ``"era"``, ``"avg"`` (Expert-Avg: the same modules without
    retrieval), ``"oracle"`` and ``"shuffled"`` (the same modules retrieving by a route the caller
    sets, ``model.route``: see :data:`ROUTES`); ``last_width`` widens the last block (Extra-Channel). ``spread``: the graph
    unit's expert channels are spread over its three adjacency subsets. ``query_norm``,
    ``key_scale``, ``retrieval``: passed to every :class:`ERAConv` (the defaults are the
    experiment's; ``query_norm=False, key_scale=False`` remove the two guards against collapse).

    **Paired initialisation**: every tensor the variant shares with the Baseline of the same
    ``seed`` (same name and shape) starts from the Baseline's values, and an ERA module's
    non-expert kernels and bias start as the Baseline convolution's rows at the same output
    positions; the variants then differ at the start only where their architectures differ.
    """
    if arch not in ("baseline", "era", "avg", "oracle", "shuffled"):
        raise ValueError(f"build_model: arch must be baseline, era, avg, oracle or shuffled, got {arch!r}")
    A = get_skeleton("ntu25").adjacency() if A is None else A
    channels = tuple(channels)
    widths = channels[:-1] + (last_width or channels[-1],)
    if era_layers is None:
        era_layers = _layer_numbers(A, widths, ("blocks.2.gcn.conv", "blocks.2.tcn.conv"))
    created = []
    factory = _make_factory(arch, tuple(era_layers), created, expert_ratio=expert_ratio, num_experts=num_experts,
                            key_dim=key_dim, spread=spread, query_norm=query_norm, key_scale=key_scale,
                            retrieval=retrieval)
    torch.manual_seed(seed)
    model = ERABackbone(num_classes, A, in_channels=3, channels=widths, strides=(1, 2, 1), kernel_size=5,
                        make_conv=factory)
    torch.manual_seed(seed)
    ref_sd = SkeletonGCN(num_classes, A, in_channels=3, channels=channels, strides=(1, 2, 1),
                         kernel_size=5).state_dict()
    own = model.state_dict()
    shared = {k: v for k, v in ref_sd.items() if k in own and own[k].shape == v.shape}
    for n, m in era_modules(model):
        shared[f"{n}.nonexpert"] = ref_sd[f"{n}.weight"][m.nonexpert_index]
        shared[f"{n}.bias"] = ref_sd[f"{n}.bias"]
    model.load_state_dict(shared, strict=False)
    model.shared_with_baseline = len(shared)
    return model


def matched_width(target: int, count, channels=(16, 32, 32), num_classes: int = 17) -> int:
    """The last-block width ``w`` whose plain backbone has ``count(model)`` closest to ``target``
    (``count``: a parameter count or :func:`conv_filters`; both grow with ``w``, so a bisection)."""
    A = get_skeleton("ntu25").adjacency()
    channels = tuple(channels)

    def c(w):
        return count(SkeletonGCN(num_classes, A, in_channels=3, channels=channels[:-1] + (w,), strides=(1, 2, 1),
                                 kernel_size=5))

    lo, hi = channels[-1], 8 * channels[-1]
    while hi - lo > 1:                                      # largest w with c(w) <= target
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if c(mid) <= target else (lo, mid)
    return min((lo, hi), key=lambda w: abs(c(w) - target))


# ---------------------------------------------------------------------------------------------
# ELRO (Sec. 3.3)
# ---------------------------------------------------------------------------------------------

def expert_owners(model):
    """Parameter name -> ERA module name, for the experts' kernels ``m`` and keys ``k`` (the
    ``E`` of Eqs. 9, 12)."""
    return {f"{n}.{t}": n for n, m in era_modules(model) if m.mode == "retrieve" for t in ("experts", "keys")}


def per_expert(b, like):
    """``beta (d, M)`` broadcast over a parameter of shape ``(d, M, ...)``."""
    return b.view(*b.shape, *([1] * (like.dim() - 2)))


def virtual_parameters(named_params, grads, beta, owners, lr_now, beta_scale):
    """Eqs. 8-9: ``w_hat = w - alpha g_w``; ``E_hat = E - beta g_E`` (``beta`` keeps its graph,
    nothing else does)."""
    out = {}
    for (n, p), g in zip(named_params, grads):
        if n in owners:
            out[n] = p.detach() - beta_scale * per_expert(beta[owners[n]], p) * g.detach()
        else:
            out[n] = p.detach() - lr_now * g.detach()
    return out


class ELRO:
    """Expert Learning Rate Optimization for every ERA module of a model (Sec. 3.3).

    ``beta[name] (d, M)``: one learning rate per expert, initialised to ``alpha``. ``step`` does
    Eqs. 8-10 on a training batch and a disjoint validation batch ``D_val`` (``draw_val(rows)``,
    a callable returning ``(x, y)``), and returns a surrogate loss whose gradient is Eqs. 11-12's
    update direction (``g_w`` for the non-experts, ``(beta' / alpha) g_E`` for the experts).
    ``meta_lr``: the step of Eq. 10 relative to the current ``alpha_t`` (1: the paper's).
    """

    def __init__(self, model, alpha, draw_val, gamma_s=0.1, meta_lr: float = 1.0):
        self.alpha, self.gamma_s, self.meta_lr, self.draw_val = alpha, gamma_s, meta_lr, draw_val
        self.modules = {n: m for n, m in era_modules(model) if m.mode == "retrieve"}
        dev = next(model.parameters()).device
        self.beta = {n: torch.full((m.d, m.M), float(alpha), device=dev) for n, m in self.modules.items()}
        self.owners = expert_owners(model)
        self._trace = []  # (3,) tensors on the model's device: beta mean, min, max after every step

    @property
    def trace(self) -> list:
        """``[(beta mean, min, max)]`` after every step, as floats (read from the device here, once,
        not in every step)."""
        return [tuple(r) for r in torch.stack(self._trace).tolist()] if self._trace else []

    def step(self, model, loss_train, train_rows, lr_now):
        dev = loss_train.device
        named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
        grads = torch.autograd.grad(loss_train, [p for _, p in named], allow_unused=True)
        grads = [torch.zeros_like(p) if g is None else g for (_, p), g in zip(named, grads)]
        scale = lr_now / self.alpha                                       # beta follows alpha's schedule
        beta = {k: b.clone().requires_grad_() for k, b in self.beta.items()}
        virtual = virtual_parameters(named, grads, beta, self.owners, lr_now, scale)            # Eqs. 8-9
        buffers = {n: b.clone() for n, b in model.named_buffers()}        # the virtual pass leaves BN stats alone
        xv, yv = self.draw_val(train_rows)
        logits = functional_call(model, {**virtual, **buffers}, (to_device(xv, dev),))
        loss_val = F.cross_entropy(logits, to_device(yv, dev))
        if self.gamma_s:
            loss_val = loss_val - self.gamma_s * sum(expert_similarity(virtual[f"{n}.experts"]) for n in self.modules)
        meta = torch.autograd.grad(loss_val, [beta[k] for k in self.beta])                    # dL_val / dbeta
        with torch.no_grad():
            for k, g in zip(list(self.beta), meta):
                self.beta[k] = (self.beta[k] - self.meta_lr * lr_now * g).clamp_min(0.0)         # Eq. 10, beta >= 0
        allb = torch.cat([b.flatten() for b in self.beta.values()])
        self._trace.append(torch.stack([allb.mean(), allb.min(), allb.max()]))
        # Eqs. 11-12 through the optimiser: value = the training loss, gradient = g_w for w and
        # (beta' / alpha) g_E for the experts, so the step lr_now * grad is alpha_t g_w and beta'_t g_E.
        surrogate = loss_train.detach()
        for (n, p), g in zip(named, grads):
            if n in self.owners:
                g = g * per_expert(self.beta[self.owners[n]] / self.alpha, p)
            surrogate = surrogate + (p * g).sum() - (p * g).sum().detach()
        return surrogate


# ---------------------------------------------------------------------------------------------
# The experiment
# ---------------------------------------------------------------------------------------------

class ObservedViews:
    """What the network sees of sequences ``indices`` of ``data`` at each observation ratio.

    ``policy="pad"``: the observed prefix (cropped at full resolution, then ``frames`` frames
    taken with ``data.frame_sampling``: the integer stride ``T // frames`` for the synthetic
    data, spread over each clip's valid length for real data; see
    :func:`paperlib.data.sequences.sampled_frames`) in place, later frames zero.
    ``policy="resample"``: the observed prefix linearly resampled to ``frames`` frames (the
    network sees every observed frame, but not how much was observed). Joints normalised once
    (:func:`normalize_skeleton`).

    Memory-mapped (cached real) data are not turned into tensors: the views of NTU RGB+D 60 at 64
    frames would take 22 GB (ten ratios of ``(N, 3, 64, 25, 2)`` float32). The normalised valid
    frames are kept once (:class:`paperlib.data.sequences.NormalizedFrames`, shared by every
    ``ObservedViews`` of the same cached data while one is alive) and the rows of a view are computed
    when asked (``x(j)`` is then a :class:`paperlib.data.sequences.LazyRows`), with the same values,
    bit for bit, as the tensors of in-memory data. (Pad views with ``"stride"`` sampling or
    ``frames >= T`` of memory-mapped data are still computed whole, chunk by chunk.)

    ``groups`` ``(N,)`` int64: each sequence's latent cue group (``data.cue_group``; zeros for data
    without one); ``shuffled_groups`` the same values in a fixed random order (seeded by ``N``), the
    route of the ``era_shuffled`` control.

    ``x(ratio_index)`` -> ``(N, 3, frames, V, M)`` (a tensor, or :class:`LazyRows` that indexes
    like one); ``batch(rows, ratio_idx)`` -> the rows ``(B, 3, frames, V, M)`` tensor, each at its
    own ratio. ``views`` (resample): ``(R, N, 3, frames, V, M)``, ``views[j]`` and
    ``views[ratio_idx, rows]`` as ``x`` and ``batch``. Nothing after frame ``ceil(r T_valid) - 1``
    is ever used. Raises ``ValueError`` for an unknown policy.
    """

    def __init__(self, data, indices, frames: int = 32, policy: str = "pad", ratios=OBS_RATIOS):
        if policy not in ("pad", "resample"):
            raise ValueError(f"ObservedViews: policy must be pad or resample, got {policy!r}")
        idx = np.asarray(indices)
        self.policy, self.ratios, self.frames = policy, tuple(ratios), frames
        self.y = torch.from_numpy(np.asarray(data.labels[idx], dtype=np.int64))
        cue_group = getattr(data, "cue_group", None)             # the latent cue group (synthetic data)
        self.groups = torch.from_numpy(np.asarray(cue_group[idx] if cue_group is not None else np.zeros(len(idx)),
                                                  dtype=np.int64))
        perm = torch.randperm(len(idx), generator=torch.Generator().manual_seed(len(idx)))
        self.shuffled_groups = self.groups[perm]
        valid = np.asarray(data.valid_frames[idx])
        from ..data.arrays import is_memory_mapped
        from ..data.sequences import CHUNK_BYTES, observed_frames

        T = data.joints.shape[2]
        sampling = getattr(data, "frame_sampling", "stride")
        self.store = None
        if is_memory_mapped(data.joints) and (policy == "resample" or (sampling == "valid" and frames is not None
                                                                       and frames < T)):
            self._lazy_init(data, idx, valid, sampling)
        elif policy == "pad":
            full = SkeletonDataset(data, idx, frames=frames)
            self.full = full.x
            self.lengths = torch.from_numpy(np.stack(
                [observed_frames(valid, r, T, frames, full.sampling) for r in self.ratios]))
        elif not is_memory_mapped(data.joints):
            x = normalize_skeleton(data.joints[idx], valid, get_skeleton(data.skeleton_name))
            self.views = torch.stack([torch.from_numpy(to_network_layout(
                crop_observation(x, valid, r, policy="resample", out_frames=frames)[0])) for r in self.ratios])
        else:  # pragma: no cover - memory-mapped resample views are lazy (above)
            step = max(1, CHUNK_BYTES // max(data.joints[0].nbytes, 1))
            self.views = None
            for i in range(0, len(idx), step):
                x = normalize_skeleton(np.asarray(data.joints[idx[i:i + step]]), valid[i:i + step],
                                       get_skeleton(data.skeleton_name))
                v = torch.stack([torch.from_numpy(to_network_layout(crop_observation(
                    x, valid[i:i + step], r, policy="resample", out_frames=frames)[0])) for r in self.ratios])
                if self.views is None:
                    self.views = torch.empty((v.shape[0], len(idx)) + tuple(v.shape[2:]), dtype=v.dtype)
                self.views[:, i:i + step] = v

    def _lazy_init(self, data, idx, valid, sampling):
        """Memory-mapped data: the shared normalised valid frames of every row of ``data``, and
        views that compute their rows from them when indexed."""
        from ..data.sequences import LazyRows, NormalizedFrames, observed_frames

        skel = get_skeleton(data.skeleton_name)
        self.store = NormalizedFrames.shared(data.joints, data.valid_frames, skeleton=skel)
        self._rows = idx.astype(np.int64).reshape(-1)
        n, F, V, M = len(self._rows), self.frames, skel.num_joints, data.joints.shape[1]
        row_shape = (3, F, V, M)
        if self.policy == "pad":
            T = data.joints.shape[2]
            self.lengths = torch.from_numpy(np.stack([observed_frames(valid, r, T, F, sampling) for r in self.ratios]))
            self.full = LazyRows(n, row_shape, lambda p: torch.from_numpy(to_network_layout(
                self.store.sampled(self._rows[p], F)[0])))
        else:
            self.views = _LazyRatioViews(self, row_shape)

    def _resampled(self, positions, ratios) -> torch.Tensor:
        """Rows ``positions`` (into ``indices``) at ``ratios`` (one per row): ``(B, 3, F, V, M)``."""
        return to_network_layout(self.store.resample(self._rows[positions], ratios, self.frames))

    def __len__(self):
        return len(self.y)

    def x(self, j: int) -> torch.Tensor:
        """Every sequence at ratio ``self.ratios[j]``."""
        if self.policy == "pad":
            if self.store is not None:
                from ..data.sequences import LazyRows

                mask = lambda p: self._mask(self.full.rows(p), self.lengths[j][torch.from_numpy(p)])  # noqa: E731
                return LazyRows(len(self), self.full.shape[1:], mask)
            keep = torch.arange(self.full.shape[2])[None, :] < self.lengths[j][:, None]
            return self.full * keep[:, None, :, None, None].to(self.full.dtype)
        return self.views[j]

    @staticmethod
    def _mask(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        keep = torch.arange(x.shape[2])[None, :] < lengths[:, None]
        return x * keep[:, None, :, None, None].to(x.dtype)

    def batch(self, rows: torch.Tensor, ratio_idx: torch.Tensor) -> torch.Tensor:
        """Rows ``rows (B,)`` at ratios ``ratio_idx (B,)`` (indices into ``self.ratios``)."""
        if self.policy == "pad":
            x = self.full[rows]
            keep = torch.arange(x.shape[2])[None, :] < self.lengths[ratio_idx, rows][:, None]
            return x * keep[:, None, :, None, None].to(x.dtype)
        return self.views[ratio_idx, rows]


class _LazyRatioViews:
    """``ObservedViews.views`` of memory-mapped data: shape ``(R, N, *row)``; ``[j]`` -> the
    :class:`~paperlib.data.sequences.LazyRows` of ratio ``j``; ``[ratio_idx, rows]`` -> those rows,
    each at its own ratio (a tensor)."""

    def __init__(self, owner: ObservedViews, row_shape):
        self.owner, self.row_shape = owner, tuple(row_shape)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.owner.ratios), len(self.owner)) + self.row_shape)

    def __len__(self):
        return len(self.owner.ratios)

    def __getitem__(self, key):
        from ..data.sequences import LazyRows

        o = self.owner
        if isinstance(key, tuple) and len(key) == 2:
            ridx = np.asarray(key[0].cpu() if isinstance(key[0], torch.Tensor) else key[0], dtype=np.int64)
            rows = np.asarray(key[1].cpu() if isinstance(key[1], torch.Tensor) else key[1], dtype=np.int64)
            ridx, rows = np.broadcast_arrays(ridx, rows)
            out = o._resampled(rows.reshape(-1), np.asarray(o.ratios, dtype=np.float64)[ridx.reshape(-1)])
            return out.reshape(rows.shape + self.row_shape)
        j = int(key)
        r = o.ratios[j]
        return LazyRows(len(o), self.row_shape, lambda p: o._resampled(p, r))


def objective(model, x, y, gamma_s: float = 0.1):
    """``(L, L_CE)``: ``L = L_CE - gamma_s L_s`` for models with retrieving (or routed) experts (Sec. 3.4),
    ``L_CE`` otherwise. The cross-entropy is returned apart: it is the number to compare across
    variants (``L`` of an ERA model is lowered by ``-gamma_s L_s``)."""
    ce = F.cross_entropy(model(x), y)
    if gamma_s and any(m.mode in ("retrieve", "routed") for _, m in era_modules(model)):
        return ce - gamma_s * similarity_loss(model), ce
    return ce, ce


def train_variant(model, views: ObservedViews, epochs: int = 30, batch_size: int = 64, lr: float = 0.1,
                  seed: int = 0, gamma_s: float = 0.1, elro: bool = False, meta_lr: float = 1.0,
                  device="cpu", progress: bool = False, desc: str = "train", amp: str | None = None,
                  route: str | None = None) -> dict:
    """Train ``model`` on ``views`` (every sample at a random ratio in every step).

    SGD with Nesterov momentum 0.9, weight decay 1e-4, ``lr`` with a linear warm-up over the
    first epoch and a cosine decay to ``lr / 100``; the data order, the ratios and the Gumbel
    noise come from ``seed``, so every variant of a seed sees the same stream. With ``elro``,
    ELRO (Sec. 3.3) draws ``D_val`` from the training rows not in the batch. The batches are
    gathered on the host and moved to ``device`` (page-locked, non-blocking); the losses and the
    retrieval counts add up on the device and are read once per epoch (no host synchronisation per
    step). ``amp`` (``None``, ``"bf16"``, ``"fp16"``): the forward passes (ELRO's virtual step
    included) in mixed precision (:func:`paperlib.train.autocast`); fp16 scales the final loss
    (ELRO's inner gradients are taken unscaled). ``route``: ``None``, or the attribute of ``views``
    (``"groups"``, ``"shuffled_groups"``; :data:`ROUTES`) whose rows become ``model.route`` before
    every step, for the ``"routed"`` modules; raises ``ValueError`` together with ``elro``.

    Returns ``{"ce": [per epoch], "loss": [per epoch], "usage": {module: (d, M) retrievals of
    present bodies}, "elro": ELRO or None, "seconds": float}``.
    """
    from tqdm.auto import tqdm

    dev = resolve_device(device)
    model.to(dev)
    n = len(views)
    steps_per_epoch = n // batch_size
    total = epochs * steps_per_epoch
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    warm = steps_per_epoch

    def schedule(step):
        if step < warm:
            return (step + 1) / warm
        u = min(step - warm, total - warm) / max(total - warm, 1)
        return 0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * u))

    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    gen = torch.Generator().manual_seed(seed)
    val_gen = torch.Generator().manual_seed(seed + 10_000)
    R = len(views.ratios)

    def draw_val(train_rows):
        free = torch.ones(n, dtype=torch.bool)
        free[train_rows] = False
        rows = torch.nonzero(free).squeeze(1)
        rows = rows[torch.randperm(len(rows), generator=val_gen)[:batch_size]]
        return views.batch(rows, torch.randint(R, (len(rows),), generator=val_gen)), views.y[rows]

    if elro and route:
        raise ValueError("train_variant: ELRO with a fixed route is not defined (the route has no keys to learn)")
    el = ELRO(model, lr, draw_val, gamma_s, meta_lr) if elro else None
    usage = {nm: torch.zeros(m.d, m.M, device=dev) for nm, m in era_modules(model) if m.mode in ("retrieve", "routed")}
    scaler = grad_scaler(dev, amp)
    hist = {"ce": [], "loss": []}

    def epoch_mean(values):                 # the mean numpy takes of the per-step losses, read once
        return float(np.mean(torch.stack(values).double().cpu().numpy())) if values else float("nan")

    torch.manual_seed(seed)                                               # the same Gumbel noise stream
    t0 = time.perf_counter()
    for _ in tqdm(range(epochs), desc=desc, disable=not progress, leave=False):
        model.train()
        perm = torch.randperm(n, generator=gen)
        ces, losses = [], []
        for b in range(steps_per_epoch):
            rows = perm[b * batch_size:(b + 1) * batch_size]
            ridx = torch.randint(R, (len(rows),), generator=gen)
            x, y = to_device(views.batch(rows, ridx), dev), to_device(views.y[rows], dev)
            if route:
                model.route = to_device(getattr(views, route)[rows], dev)
            opt.zero_grad(set_to_none=True)
            with autocast(dev, amp):
                loss, ce = objective(model, x, y, gamma_s)
                for nm in usage:                  # retrievals of present bodies, counted on the device
                    m = model.get_submodule(nm)
                    pres = m.last["present"]
                    usage[nm] += (F.one_hot(m.last["index"], m.M) * pres[:, None, None]).sum(0).float()
                if el is not None:
                    loss = el.step(model, loss, rows, opt.param_groups[0]["lr"])
            backward_step(loss, opt, scaler)
            sched.step()
            ces.append(ce.detach())
            losses.append(loss.detach())
        hist["ce"].append(epoch_mean(ces))
        hist["loss"].append(epoch_mean(losses))
    model.route = None
    hist.update(usage={nm: u.cpu() for nm, u in usage.items()}, elro=el, seconds=time.perf_counter() - t0)
    return hist




@torch.no_grad()
def evaluate(model, views: ObservedViews, device=None, record: bool = False, batch: int = 256,
             amp: str | None = None, route: str | None = None) -> dict:
    """Accuracy at every ratio of ``views``: ``{"acc": {r: float}, "auc", "correct": (N, R) bool,
    "logits": (R, N, C)}``; with ``record``, ``"record": {module: {"index", "scores", "query":
    arrays (N, R, d[, ...]) of the first body, "present": (N, R, bodies)}}``. The model runs on
    ``device`` (default: where it is), with ``amp`` in mixed precision; the results are on the CPU
    (floating point ones as float32). ``route``: as for :func:`train_variant`."""
    dev = model_device(model, device)
    model.to(dev).eval()
    mods = era_modules(model) if record else []
    f32 = (lambda t: t) if amp is None else (lambda t: t.float() if t.is_floating_point() else t)  # noqa: E731
    acc, correct, logits_all, rec = {}, [], [], {}
    for j, r in enumerate(views.ratios):
        xr = views.x(j)
        parts = []
        for i in range(0, len(xr), batch):
            if route:
                model.route = to_device(getattr(views, route)[i:i + batch], dev)
            with autocast(dev, amp):
                parts.append(f32(model(to_device(xr[i:i + batch], dev))).cpu())
            for nm, m in mods:
                bodies = xr.shape[-1]
                for key in ("index", "scores", "query"):
                    rec.setdefault((nm, key, j), []).append(f32(m.last[key][0::bodies]).cpu())
                rec.setdefault((nm, "present", j), []).append(m.last["present"].view(-1, bodies).cpu())
        logits = torch.cat(parts)
        c = (logits.argmax(1) == views.y).numpy()
        acc[r] = float(c.mean())
        correct.append(c)
        logits_all.append(logits.numpy())
    model.route = None
    out = {"acc": acc, "auc": auc_over_ratios(acc), "correct": np.stack(correct, 1), "logits": np.stack(logits_all)}
    if record:
        out["record"] = {nm: {key: torch.stack([torch.cat(rec[(nm, key, j)]) for j in range(len(views.ratios))],
                                               1).numpy() for key in ("index", "scores", "query", "present")}
                         for nm, _ in mods}
    return out


def usage_stats(train_usage: dict, record: dict | None = None, ratio_index: int = 1) -> dict:
    """Expert-usage figures of a trained ERA model (absent bodies excluded everywhere).

    ``train_usage``: ``{module: (d, M)}`` retrievals counted in training. ``record``: from
    :func:`evaluate` (``record=True``); the test retrievals of the first body at ``ratio_index``
    (1: 20%), over the test sequences whose first body is present.

    Returns ``unused_frac`` (experts never retrieved in training / all experts), ``max_share``
    (the largest share of the test samples that one expert of one bank takes at that ratio),
    ``banks_over_90`` (fraction of banks that send more than 90% of them to one expert),
    ``entropy`` (mean over banks of the usage entropy in bits at that ratio; log2 M is uniform).
    """
    u = torch.cat(list(train_usage.values()))                                    # [banks, M]
    out = {"unused_frac": float((u == 0).float().mean())}
    if record is not None:
        shares = []
        for nm, rc in record.items():
            idx = rc["index"][:, ratio_index]                                      # [N, d]
            keep = rc["present"][:, ratio_index, 0]
            M = train_usage[nm].shape[1]
            cnt = np.stack([np.bincount(idx[keep, p], minlength=M) for p in range(idx.shape[1])])
            shares.append(cnt / max(keep.sum(), 1))
        sh = np.concatenate(shares)                                                # [banks, M]
        ent = -(np.where(sh > 0, sh * np.log2(np.where(sh > 0, sh, 1)), 0)).sum(1)
        out.update(max_share=float(sh.max()), banks_over_90=float((sh.max(1) > 0.9).mean()),
                   entropy=float(ent.mean()))
    return out


def group_information(record: dict, groups, ratio_index: int = 1, shuffles: int = 20, seed: int = 0) -> dict:
    """How much the retrieved experts tell about the latent cue group: the mutual information
    ``I(I_p; g)`` between bank ``p``'s retrieved expert and the sample's cue group, in bits, for
    every bank of every module (``sklearn.metrics.mutual_info_score``, the plug-in estimate), at
    observation ratio ``ratio_index`` (1: 20%), over the test samples whose first body is present.

    ``record``: :func:`evaluate`'s ``record``; ``groups``: ``(N,)`` the cue group of every test
    sample (``ObservedViews.groups``). The plug-in estimate is biased upwards on finite samples, so
    the control is the same estimate with the groups permuted (``shuffles`` permutations, from
    ``seed``): what retrieval unrelated to the group would score. ``I <= H(g)`` (``log2 G`` for
    balanced groups): an oracle that retrieves by the group reaches it.

    Returns ``{"mi": (banks,), "mi_shuffled": (banks,), "h_group": float}`` (numpy, bits). Raises
    ``ValueError`` when ``groups`` and the record disagree in length.
    """
    from sklearn.metrics import mutual_info_score

    g = np.asarray(groups)
    rng = np.random.default_rng(seed)
    perms = [rng.permutation(len(g)) for _ in range(shuffles)]
    mi, null = [], []
    for nm, rc in record.items():
        idx = rc["index"][:, ratio_index]                                      # [N, d]
        if len(idx) != len(g):
            raise ValueError(f"group_information: {nm} holds {len(idx)} samples, groups {len(g)}")
        keep = rc["present"][:, ratio_index, 0]
        for p in range(idx.shape[1]):
            a, b = idx[keep, p], g[keep]
            mi.append(mutual_info_score(b, a) / math.log(2))
            null.append(np.mean([mutual_info_score(g[q][keep], a) for q in perms]) / math.log(2))
    share = np.bincount(g) / len(g)
    share = share[share > 0]
    return {"mi": np.array(mi), "mi_shuffled": np.array(null), "h_group": float(-(share * np.log2(share)).sum())}


@torch.no_grad()
def counterfactual_logits(model, x: torch.Tensor, module: str, device=None, chunk: int | None = None) -> np.ndarray:
    """The logits of every sample of ``x (N, C, T, V, M)`` if bank ``p`` of ``module`` had
    retrieved expert ``i``, for every ``(p, i)``: ``(N, d, M, C)`` (the other banks and modules
    retrieve as usual; every body of a sample gets the same override). Batched passes of at most
    ``chunk`` overridden copies (``N d M`` in all: with the real-data widths ``d`` is in the
    hundreds, and one pass would hold every copy's activations; default: 512 copies, fewer for long
    inputs, at most 2^21 input values a pass), on ``device`` (default: the model's)."""
    dev = model_device(model, device)
    model.to(dev).eval()
    m = model.get_submodule(module)
    N, bodies = x.shape[0], x.shape[-1]
    d, M = m.d, m.M
    sample = torch.arange(N).repeat_interleave(d * M)                            # [N d M]: copy -> sample
    bank = torch.arange(d).repeat_interleave(M).repeat(N)
    expert = torch.arange(M).repeat(d * N)
    xd = x.to(dev, non_blocking=True)
    chunk = chunk or max(1, min(512, 2 ** 21 // max(1, x[0].numel())))
    out = []
    try:
        for s in range(0, N * d * M, chunk):
            sl = slice(s, s + chunk)
            m.force = (bank[sl].repeat_interleave(bodies), expert[sl].repeat_interleave(bodies))
            out.append(model(xd[sample[sl].to(dev)]).cpu())
    finally:
        m.force = None
    return torch.cat(out).view(N, d, M, -1).numpy()


@torch.no_grad()
def explorer_record(model, views: ObservedViews, ev: dict, hist: dict, class_names, cf_samples=(),
                    device=None) -> dict:
    """The record that :func:`paperlib.viz.era.era_explorer` reads, from a trained ERA model.

    ``ev``: :func:`evaluate` with ``record=True`` on ``views``; ``hist``: :func:`train_variant`'s
    history (training usage, ELRO). ``cf_samples``: test samples whose counterfactual logits
    (:func:`counterfactual_logits`, every module, bank, expert and ratio) are recorded, computed
    on ``device`` (default: the model's). The record also holds every test sample's latent cue
    group (``groups (N,)``, ``ObservedViews.groups``; all 0 for real data) and the groups' names.
    """
    device = model_device(model, device)
    mods = [n for n, _ in era_modules(model)]
    poses = []
    for j in range(len(views.ratios)):
        x = views.x(j)                                                          # [N, C, T, V, bodies]
        live = x.abs().amax(dim=(1, 3, 4)) > 0
        last = (x.shape[2] - 1 - torch.flip(live, [1]).long().argmax(1)).clamp_min(0)
        poses.append(x[torch.arange(len(x)), :, last].permute(0, 3, 2, 1).numpy())   # [N, bodies, V, 3]
    el = hist.get("elro")
    rec = {
        "modules": [n.replace("blocks.2.", "").replace(".conv", "") for n in mods],
        "scores": [ev["record"][n]["scores"] for n in mods], "queries": [ev["record"][n]["query"] for n in mods],
        "keys": [model.get_submodule(n).keys.detach().cpu().numpy() for n in mods],
        "usage": [hist["usage"][n].numpy() for n in mods],
        "beta": None if el is None else [el.beta[n].cpu().numpy() for n in mods],
        "labels": views.y.numpy(), "class_names": list(class_names), "ratios": np.array(views.ratios),
        "poses": np.stack(poses, 1),
        "groups": views.groups.numpy(), "group_names": [g[0] for g in synthetic.CUE_GROUPS],
    }
    if len(cf_samples):
        idx = torch.as_tensor(list(cf_samples))
        logits = {n: [] for n in mods}
        factual = []
        for j in range(len(views.ratios)):
            x = views.x(j)[idx]
            factual.append(model.to(device).eval()(x.to(device, non_blocking=True)).cpu().numpy())
            for n in mods:
                logits[n].append(counterfactual_logits(model, x, n, device))
        rec["counterfactual"] = {"samples": idx.numpy(), "factual": np.stack(factual, 1),
                                 "logits": [np.stack(logits[n], 1) for n in mods]}
    return rec


def _params(model):
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def run_experiment(seed: int = 0, early_cue: float = synthetic.DEFAULT_EARLY_CUE, dataset: str = "synthetic",
                   data_root=None, benchmark: str = "xsub", num_samples: int = 2000, num_frames: int = 32,
                   policy: str = "pad", channels=(16, 32, 32), epochs: int = 30, batch_size: int = 64,
                   lr: float = 0.1, gamma_s: float = 0.1, num_experts: int = 5, expert_ratio: float = 0.2,
                   key_dim: int = 16, variants=("baseline", "era_wo_elro", "era", "expert_avg", "extra_channel",
                                                "extra_filters"),
                   elro_factor_cue: float | None = None, probe: bool = True, device: str = "cpu",
                   progress: bool = False, return_models: bool = False, query_norm: bool = True,
                   key_scale: bool = True, retrieval: str = "straight_through", amp: str | None = None,
                   cue_groups: int = 1, width: int | None = None) -> dict:
    """ERA's experiment for one seed: data -> train the variants -> metrics.

    Variants (:data:`VARIANTS`): ``baseline``; ``era_wo_elro``, ``era`` (ELRO, Eq. 10's step
    ``alpha``), ``era_10a`` (ELRO with ``10 alpha``; also run when ``early_cue ==
    elro_factor_cue``); ``expert_avg`` (Table 3(e)); ``extra_channel`` (last block widened to
    ERA's parameter count, Table 3(e)); ``extra_filters`` (widened to ERA's count of real filter
    weights: keys and query maps left out); ``era_oracle`` (the same ERA modules retrieving expert
    ``g`` for a sample whose cue lies in joint group ``g``: what retrieval could give) and
    ``era_shuffled`` (retrieving by shuffled groups: the routing without the information). Plus ``probe`` (the linear-probe reference, :func:`paperlib.probe.linear_probe_reference`) and
    ``chance``.

    ``query_norm``, ``key_scale``, ``retrieval``: the options of every :class:`ERAConv` of the ERA
    and Expert-Avg variants (defaults: the experiment's; see :class:`ERAConv`). ``cue_groups``: the
    joint groups that can carry the early cue (:class:`paperlib.data.synthetic.SyntheticConfig`; 1:
    always the acting elbow). ``width``: the channels of the last block, the one holding the ERA
    modules (default ``channels[-1]``): the capacity knob.

    Metrics per variant: ``acc@r`` (r = 0.1 .. 1.0), ``auc``, ``ce_final`` (training
    cross-entropy of the last epoch, without the similarity term), ``params``, ``filters``,
    ``train_s``; for ERA variants ``unused_frac``, ``max_share@0.2``, ``banks_over_90@0.2``,
    ``entropy@0.2`` (:func:`usage_stats`); with ELRO ``spearman_usage_beta``, ``beta_min``,
    ``beta_max`` (relative to alpha); for ERA and the routed variants ``mi_group@0.2`` (the mean over
    banks of the mutual information between the retrieved expert and the cue group, bits,
    :func:`group_information`), ``mi_group_max@0.2`` (its largest bank) and ``mi_shuffled@0.2``
    (the same with the groups permuted: the estimate's floor). Per item (paired over variants): ``correct@0.2``,
    ``correct@0.5``, ``correct@1.0`` and ``auc`` (each test item's mean correctness over ratios);
    ``mi_bank@0.2`` lists every bank's mutual information (the ERA and routed variants).
    With ``return_models`` the result also holds ``"runs"`` (models, histories, evaluations) and
    ``"views"``, for the notebook. ``amp`` (``None``, ``"bf16"``, ``"fp16"``): training and evaluation
    in mixed precision (:func:`train_variant`); ``None`` is full precision.
    """
    from scipy.stats import spearmanr

    variants = list(variants)
    if elro_factor_cue is not None and float(early_cue) == float(elro_factor_cue) and "era_10a" not in variants:
        variants.append("era_10a")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise ValueError(f"run_experiment: unknown variants {unknown}; known: {list(VARIANTS)}")
    data, train_idx, test_idx = make_data(dataset, num_samples, seed, early_cue, benchmark, data_root,
                                          cue_groups=cue_groups)
    C = len(data.class_names)
    channels = tuple(channels[:-1]) + (int(width or channels[-1]),)
    train_v = ObservedViews(data, train_idx, num_frames, policy)
    test_v = ObservedViews(data, test_idx, num_frames, policy)
    common = dict(num_classes=C, channels=channels, num_experts=num_experts, expert_ratio=expert_ratio,
                  key_dim=key_dim, seed=seed, query_norm=query_norm, key_scale=key_scale, retrieval=retrieval)
    era_ref = build_model("era", **common)
    widths = {"wide_params": matched_width(_params(era_ref), _params, channels, C),
              "wide_filters": matched_width(conv_filters(era_ref), conv_filters, channels, C)}
    metrics, per_item, runs = {}, {}, {}
    for v in variants:
        arch, use_elro = VARIANTS[v]
        if arch.startswith("wide"):
            model = build_model("baseline", last_width=widths[arch], **common)
        else:
            model = build_model(arch, **common)
        route = ROUTES.get(arch)
        hist = train_variant(model, train_v, epochs, batch_size, lr, seed, gamma_s, elro=use_elro,
                             meta_lr=10.0 if v == "era_10a" else 1.0, device=device, progress=progress, desc=v,
                             amp=amp, route=route)
        retrieves = arch == "era" or route is not None
        ev = evaluate(model, test_v, device, record=retrieves, amp=amp, route=route)
        m = {f"acc@{r}": a for r, a in ev["acc"].items()}
        m.update(auc=ev["auc"], ce_final=hist["ce"][-1], params=_params(model), filters=conv_filters(model),
                 train_s=hist["seconds"])
        if retrieves:
            us = usage_stats(hist["usage"], ev["record"], ratio_index=1)
            m.update(unused_frac=us["unused_frac"], **{f"{k}@0.2": us[k] for k in ("max_share", "banks_over_90",
                                                                                   "entropy")})
            gi = group_information(ev["record"], test_v.groups.numpy(), ratio_index=1, seed=seed)
            m.update({"mi_group@0.2": float(gi["mi"].mean()), "mi_group_max@0.2": float(gi["mi"].max()),
                      "mi_shuffled@0.2": float(gi["mi_shuffled"].mean())})
        if hist["elro"] is not None:
            el = hist["elro"]
            usage = np.concatenate([hist["usage"][n].flatten().numpy() for n in el.beta])
            beta = np.concatenate([el.beta[n].flatten().cpu().numpy() for n in el.beta]) / lr
            m.update(spearman_usage_beta=float(spearmanr(usage, beta).statistic), beta_min=float(beta.min()),
                     beta_max=float(beta.max()))
        metrics[v] = m
        c = ev["correct"]
        per_item[v] = {"correct@0.2": c[:, 1].astype(float).tolist(), "correct@0.5": c[:, 4].astype(float).tolist(),
                       "correct@1.0": c[:, 9].astype(float).tolist(), "auc": c.mean(1).tolist()}
        if retrieves:
            per_item[v]["mi_bank@0.2"] = gi["mi"].tolist()
        runs[v] = {"model": model, "hist": hist, "eval": ev}
    if probe:
        from ..probe import linear_probe_reference

        pr = linear_probe_reference(data, train_idx, test_idx)
        metrics["probe"] = {**{f"acc@{r}": float(a) for r, a in pr["acc"].items()},
                            "auc": auc_over_ratios({r: float(a) for r, a in pr["acc"].items()})}
    metrics["chance"] = {"acc": 1.0 / C}
    out = {"metrics": metrics, "per_item": per_item}
    if return_models:
        out.update(runs=runs, views={"train": train_v, "test": test_v}, data=data, split=(train_idx, test_idx),
                   widths=widths)
    return out
