"""The ERA convolution: Expert Retrieval and Assembly (Foo et al., ECCV 2022, Sec. 3.2).

Source: Lin Geng Foo, Tianjiao Li, Hossein Rahmani, Qiuhong Ke, Jun Liu, "ERA: Expert Retrieval
and Assembly for Early Action Prediction", ECCV 2022 (arXiv:2207.09675). No official code exists;
this module is written from the paper. Notebook ``01_era_early_action_prediction.ipynb`` displays
it next to the equations and explains every line.

An :class:`ERAConv` replaces a convolution ``W_conv`` of shape ``(N_out, N_in, *kernel)``
(1D, 2D or 3D; a ``1 x 1`` convolution inside a graph unit is the 2D case with a ``1 x 1``
kernel). Its ``N_out`` output channels are split into

- ``N_out - d`` **non-expert** kernels ``W_nonexpert``, shared by all samples, and
- ``d`` **expert channels** (``d = round(expert_ratio * N_out)``, 0.2 in the paper), each with
  an **Expert Bank** of ``M`` experts ``E^p_i = (m^p_i, k^p_i)``: a kernel
  ``m^p_i`` of shape ``(N_in, *kernel)`` and a key ``k^p_i`` in ``R^K``.

Per sample and bank ``p`` (all banks and samples at once, no Python loop over samples):

- Eq. 1  ``q_p = f_p(X)``: average-pool ``X`` over space and time, then a linear map to ``R^K``;
- Eq. 2  ``s^p_i = q_p . k^p_i``;
- Eq. 3  ``I_p = argmax_i s^p_i``; trained end to end with a straight-through Gumbel-softmax
  (temperature ``tau = 1``): the forward value is exactly the one-hot of ``argmax_i s^p_i``,
  the backward pass uses the gradient of ``gumbel_softmax(s, tau)``;
- Eq. 4  ``W_expert = Concat_p(m^p_{I_p})``;
- Eq. 5  ``W_ERA = Concat(W_nonexpert, W_expert)``, applied to ``X`` like ``W_conv``.

Two vectorised implementations give the same outputs and gradients (a convolution is linear in
its kernel, so ``conv(X, sum_i r_i m_i) = sum_i r_i conv(X, m_i)``):

- ``impl="gather"``: one ordinary convolution with all ``N_out - d + d M`` kernels (the
  non-experts and every candidate expert), then each sample keeps, per bank, the response of
  its retrieved expert (a one-hot weighted sum). Cost: ``(N_out - d + d M) / N_out`` times the
  plain convolution's multiply-adds (1.8x for ``d = 0.2 N_out``, ``M = 5``), but it runs as one
  large, well-optimised convolution.
- ``impl="grouped"``: the non-experts as one shared convolution, the ``d`` retrieved expert
  kernels of every sample assembled (Eq. 4) and run as a grouped convolution with one group per
  sample. Cost: exactly the plain convolution's multiply-adds, plus assembling ``B d`` kernels;
  grouped convolutions with many small groups are much less efficient per multiply-add on CPUs.
- ``impl="matmul"``: the non-experts as one shared convolution; the assembled expert kernels
  (Eq. 4) are applied with one batched matrix product per batch, ``Z[b] = W_b X_b`` over every
  (kernel tap, input position), followed by a shift-and-add over the taps (a strided view of
  ``Z``, summed). Cost: the plain convolution's multiply-adds for the ``N_out - d`` non-experts,
  plus ``d / N_out`` of them (times the padding overhead) for the experts, all in large GEMMs.

``naive_forward`` is the per-sample reference (a Python loop that assembles ``W_ERA`` for each
sample and convolves it), used by the tests.

``mode="average"`` is the static *Expert-Avg* alternative of the paper's Table 3(e): every
sample uses the mean of its bank's experts (no retrieval; keys and queries are unused).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["ERAConv", "era_modules", "expert_similarity", "similarity_loss", "straight_through_gumbel"]

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _tuple(v, dim):
    if isinstance(v, int):
        return (v,) * dim
    v = tuple(int(a) for a in v)
    if len(v) != dim:
        raise ValueError(f"expected {dim} values, got {v}")
    return v


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


class ERAConv(nn.Module):
    """ERA module: a convolution whose ``d`` expert kernels are retrieved per sample (Eqs. 1-5).

    Parameters
    ----------
    in_channels, out_channels : ``N_in``, ``N_out``.
    kernel_size, stride, padding : as for ``nn.Conv{dim}d`` (int or tuple of ``dim`` ints).
    dim : 1, 2 or 3: the convolution type.
    expert_ratio : ``d / N_out`` (paper: 0.2); ``d = round(expert_ratio * N_out)``, in ``[0, N_out]``.
    num_experts : ``M``, experts per bank (paper: 5).
    key_dim : ``K``, the dimension of queries and keys (paper: 64).
    tau : Gumbel-softmax temperature for the backward pass (paper: 1).
    bias : a per-output-channel bias, shared by all samples (a non-expert parameter).
    mode : ``"retrieve"`` (ERA) or ``"average"`` (the static Expert-Avg alternative).
    impl : ``"gather"``, ``"grouped"`` or ``"matmul"`` (see the module docstring); same outputs
        and gradients.
    record : keep the last batch's queries, scores and retrieved indices in ``self.last``
        (detached, for analysis and the explorer widget).

    Attributes
    ----------
    nonexpert : ``(N_out - d, N_in, *kernel)``  ``W_nonexpert``.
    experts : ``(d, M, N_in, *kernel)``  the kernels ``m^p_i``.
    keys : ``(d, M, K)``  the keys ``k^p_i``.
    query : ``nn.Linear(N_in, d K)``  the ``d`` query maps ``f_p`` stacked (Eq. 1).
    bias : ``(N_out,)`` or None.

    Shapes: ``x (B, N_in, *spatial)`` -> ``(B, N_out, *spatial_out)``, as the plain convolution.

    Raises
    ------
    ValueError
        On an unknown ``dim``, ``mode`` or ``impl``, or a kernel/stride/padding of the wrong length.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size=1, stride=1, padding=0, dim: int = 2,
                 expert_ratio: float = 0.2, num_experts: int = 5, key_dim: int = 64, tau: float = 1.0,
                 bias: bool = True, mode: str = "retrieve", impl: str = "matmul", record: bool = False):
        super().__init__()
        if dim not in _CONV:
            raise ValueError(f"ERAConv: dim must be 1, 2 or 3, got {dim}")
        if mode not in ("retrieve", "average"):
            raise ValueError(f"ERAConv: mode must be 'retrieve' or 'average', got {mode!r}")
        if impl not in ("gather", "grouped", "matmul"):
            raise ValueError(f"ERAConv: impl must be 'gather', 'grouped' or 'matmul', got {impl!r}")
        self.dim, self.in_channels, self.out_channels = dim, in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, dim)
        self.stride, self.padding = _tuple(stride, dim), _tuple(padding, dim)
        self.d = int(min(max(round(expert_ratio * out_channels), 0), out_channels))
        self.M, self.K, self.tau, self.mode, self.impl, self.record = num_experts, key_dim, tau, mode, impl, record
        k = self.kernel_size
        self.nonexpert = nn.Parameter(torch.empty(out_channels - self.d, in_channels, *k))   # W_nonexpert
        self.experts = nn.Parameter(torch.empty(self.d, num_experts, in_channels, *k))      # m^p_i
        self.keys = nn.Parameter(torch.empty(self.d, num_experts, key_dim))                 # k^p_i
        self.query = nn.Linear(in_channels, self.d * key_dim)                               # f_p, p = 1..d
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.last = {}
        self.reset_parameters()

    def reset_parameters(self):
        """Kernels as ``nn.Conv`` does (Kaiming-uniform, fan-in ``N_in * prod(kernel)``), every
        expert drawn independently; keys ``N(0, 1)``; the query map as ``nn.Linear``."""
        fan_in = self.in_channels * math.prod(self.kernel_size)
        bound = 1.0 / math.sqrt(fan_in)
        # Same distribution as nn.init.kaiming_uniform_(w, a=sqrt(5)), which nn.Conv uses.
        nn.init.uniform_(self.nonexpert, -bound, bound)
        nn.init.uniform_(self.experts, -bound, bound)
        nn.init.normal_(self.keys, 0.0, 1.0)
        self.query.reset_parameters()
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def extra_repr(self):
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dim={self.dim}, d={self.d}, M={self.M}, K={self.K}, mode={self.mode!r}, "
                f"impl={self.impl!r}")

    # -- retrieval (Eqs. 1-3) ------------------------------------------------------------------
    def queries(self, x: torch.Tensor) -> torch.Tensor:
        """Eq. 1: ``q_p = f_p(X)`` for all banks. ``x (B, N_in, *spatial)`` -> ``(B, d, K)``."""
        pooled = x.mean(dim=tuple(range(2, x.dim())))                  # [B, N_in]  average over space and time
        return self.query(pooled).view(x.shape[0], self.d, self.K)    # [B, d, K]

    def scores(self, q: torch.Tensor) -> torch.Tensor:
        """Eq. 2: ``s^p_i = q_p . k^p_i``. ``q (B, d, K)`` -> ``(B, d, M)``."""
        return torch.einsum("bpk,pmk->bpm", q, self.keys)

    def retrieve(self, s: torch.Tensor) -> torch.Tensor:
        """Eq. 3 as a one-hot ``(B, d, M)``: straight-through Gumbel-softmax in training,
        the plain one-hot of the argmax in evaluation; uniform ``1/M`` for Expert-Avg."""
        if self.mode == "average":
            return torch.full_like(s, 1.0 / self.M)
        if self.training and torch.is_grad_enabled():
            return straight_through_gumbel(s, self.tau)
        return F.one_hot(s.argmax(-1), self.M).to(s.dtype)

    def selection(self, x: torch.Tensor) -> torch.Tensor:
        """Eqs. 1-3 together: the retrieval weights ``r (B, d, M)`` for input ``x``."""
        q = self.queries(x)
        s = self.scores(q)
        r = self.retrieve(s)
        if self.record:
            self.last = {"query": q.detach(), "scores": s.detach(), "index": s.detach().argmax(-1)}
        return r

    # -- assembly (Eqs. 4-5) -------------------------------------------------------------------
    def assemble(self, r: torch.Tensor) -> torch.Tensor:
        """Eqs. 4-5: the per-sample kernels ``W_ERA (B, N_out, N_in, *kernel)`` for retrieval
        weights ``r (B, d, M)`` (one-hot: each bank contributes its retrieved kernel)."""
        w_expert = torch.einsum("bpm,pm...->bp...", r, self.experts)               # Eq. 4 [B, d, N_in, *k]
        w_non = self.nonexpert.unsqueeze(0).expand(r.shape[0], *self.nonexpert.shape)
        return torch.cat([w_non, w_expert], dim=1)                                   # Eq. 5 [B, N_out, N_in, *k]

    def apply_kernels(self, x: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
        """Convolve every sample with its assembled kernel, vectorised over the batch.

        ``x (B, N_in, *spatial)``, retrieval weights ``r (B, d, M)`` -> ``(B, N_out, *spatial_out)``.
        """
        conv = _CONV[self.dim]
        B, d, M = x.shape[0], self.d, self.M
        n_non = self.out_channels - d
        b_non, b_exp = (None, None) if self.bias is None else (self.bias[:n_non], self.bias[n_non:])
        ones = [1] * self.dim
        if self.impl == "gather":
            # all candidate responses at once: [B, N_out - d + d*M, *out]
            w_all = torch.cat([self.nonexpert, self.experts.flatten(0, 1)], dim=0)
            z = conv(x, w_all, None, self.stride, self.padding)
            z_non, z_exp = z.split([n_non, d * M], dim=1)
            z_exp = z_exp.unflatten(1, (d, M))                                       # [B, d, M, *out]
            y = torch.cat([z_non, (z_exp * r.view(B, d, M, *ones)).sum(2)], dim=1)   # keep the retrieved response
            return y if self.bias is None else y + self.bias.view(1, -1, *ones)
        y_non = conv(x, self.nonexpert, b_non, self.stride, self.padding)           # [B, N_out - d, *out]
        w_expert = torch.einsum("bpm,pm...->bp...", r, self.experts)                # Eq. 4 [B, d, N_in, *k]
        if self.impl == "grouped":                                                   # one group per sample
            xg = x.reshape(1, B * self.in_channels, *x.shape[2:])
            y_exp = conv(xg, w_expert.reshape(B * d, self.in_channels, *self.kernel_size), None,
                         self.stride, self.padding, 1, B).view(B, d, *y_non.shape[2:])
        else:
            y_exp = self._per_sample_matmul(x, w_expert)                              # [B, d, *out]
        if b_exp is not None:
            y_exp = y_exp + b_exp.view(1, d, *ones)
        return torch.cat([y_non, y_exp], dim=1)                                      # Eq. 5: [non-experts, experts]

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
            w_era = torch.cat([self.nonexpert] + [sum(r[b, p, i] * self.experts[p, i] for i in range(self.M))[None]
                                                  for p in range(self.d)], dim=0)   # [N_out, N_in, *k]
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
    *subtracted*, so minimising ``L`` increases the distances between the experts of a bank and
    pushes them apart. See :func:`expert_similarity` for ``normalize`` and ``reduction``.
    """
    mods = [m for _, m in era_modules(model_or_modules)] if isinstance(model_or_modules, nn.Module) \
        else list(model_or_modules)
    terms = [expert_similarity(m.experts, normalize, reduction) for m in mods if m.mode == "retrieve"]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()
