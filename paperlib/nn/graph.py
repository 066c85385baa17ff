"""Graph convolution on skeleton sequences (ST-GCN / 2s-AGCN units), written from the papers.

Layout everywhere: ``x`` is ``(N, C, T, V)`` (samples x bodies folded into ``N``); a model
takes ``(N, C, T, V, M)``.

Sources
-------
- ST-GCN: Yan, Xiong, Lin, "Spatial Temporal Graph Convolutional Networks for Skeleton-Based
  Action Recognition", AAAI 2018, Eq. 10 (spatial partition) and Sec. 3.6.
- 2s-AGCN: Shi, Zhang, Cheng, Lu, "Two-Stream Adaptive Graph Convolutional Networks for
  Skeleton-Based Action Recognition", CVPR 2019, Eq. 3 (``A_k + B_k + C_k``) and Fig. 3.

Every convolution inside a unit is created through a ``make_conv(in_channels, out_channels,
kernel_size, stride, padding)`` factory (default :class:`torch.nn.Conv2d`), so a notebook can
swap in its own convolution (e.g. ERA's expert-assembled kernels) without rewriting the unit.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

__all__ = ["GraphConv", "TemporalConv", "TCNGCNBlock", "SkeletonGCN", "default_conv"]


def default_conv(in_channels, out_channels, kernel_size, stride=1, padding=0):
    """The default factory: a plain ``nn.Conv2d`` with bias."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding)


class GraphConv(nn.Module):
    """Spatial graph convolution with an adaptive graph (2s-AGCN Eq. 3).

    ``f_out = sum_k W_k f_in (A_k + B_k [+ C_k])``, then BatchNorm, a residual and ReLU.

    - ``A_k`` (fixed): the spatial partition, ``(K, V, V)`` (identity, centripetal,
      centrifugal; see :meth:`paperlib.skeleton.Skeleton.adjacency`). Column ``w`` lists the
      joints that joint ``w`` aggregates from: ``y[..., w] = sum_v x[..., v] A[v, w]``.
    - ``B_k`` (learned, initialised to zero): the adaptive, data-independent graph.
    - ``C_k`` (optional, ``attention=True``): the data-dependent graph
      ``softmax(x^T W_theta^T W_phi x)`` over joints.
    - ``W_k``: ``1 x 1`` convolutions, computed as one convolution to ``K * out`` channels
      before aggregation (they commute with the joint mixing).

    Shapes: ``(N, C_in, T, V) -> (N, C_out, T, V)``.
    Raises ``ValueError`` if ``A`` is not ``(K, V, V)``.
    """

    def __init__(self, in_channels: int, out_channels: int, A, adaptive: bool = True, attention: bool = False,
                 residual: bool = True, make_conv=default_conv, embed_channels: int | None = None):
        super().__init__()
        A = torch.as_tensor(np.asarray(A), dtype=torch.float32)
        if A.dim() != 3 or A.shape[1] != A.shape[2]:
            raise ValueError(f"GraphConv: A must be (K, V, V), got {tuple(A.shape)}")
        self.K, self.V = A.shape[0], A.shape[1]
        self.out_channels = out_channels
        self.register_buffer("A", A)
        self.B = nn.Parameter(torch.zeros_like(A)) if adaptive else None
        self.conv = make_conv(in_channels, out_channels * self.K, 1, 1, 0)
        if attention:
            e = embed_channels or max(out_channels // 4, 4)
            self.theta = make_conv(in_channels, e * self.K, 1, 1, 0)
            self.phi = make_conv(in_channels, e * self.K, 1, 1, 0)
        else:
            self.theta = self.phi = None
        self.bn = nn.BatchNorm2d(out_channels)
        if not residual:
            self.down = None
        elif in_channels == out_channels:
            self.down = nn.Identity()
        else:
            self.down = nn.Sequential(make_conv(in_channels, out_channels, 1, 1, 0), nn.BatchNorm2d(out_channels))

    def graph(self, x: torch.Tensor | None = None) -> torch.Tensor:
        """The effective adjacency: ``(K, V, V)``, or ``(N, K, V, V)`` with attention."""
        A = self.A if self.B is None else self.A + self.B
        if self.theta is None or x is None:
            return A
        N, _, T, V = x.shape
        th = self.theta(x).view(N, self.K, -1, T, V).flatten(2, 3)  # [N, K, E*T, V]
        ph = self.phi(x).view(N, self.K, -1, T, V).flatten(2, 3)
        C = torch.softmax(torch.einsum("nkev,nkew->nkvw", th, ph) / th.shape[2], dim=-2)  # normalise over sources
        return A[None] + C

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, _, T, V = x.shape
        if V != self.V:
            raise ValueError(f"GraphConv: input has {V} joints, graph has {self.V}")
        h = self.conv(x).view(N, self.K, self.out_channels, T, V)  # [N, K, C_out, T, V]
        A = self.graph(x)
        if A.dim() == 3:
            y = torch.einsum("nkctv,kvw->nctw", h, A)
        else:
            y = torch.einsum("nkctv,nkvw->nctw", h, A)
        y = self.bn(y)
        if self.down is not None:
            y = y + self.down(x)
        return torch.relu(y)


class TemporalConv(nn.Module):
    """Temporal convolution unit: a ``(kernel_size x 1)`` convolution over frames, then BN.

    ``(N, C_in, T, V) -> (N, C_out, ceil(T / stride), V)``. Source: ST-GCN / 2s-AGCN ``unit_tcn``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 9, stride: int = 1,
                 make_conv=default_conv):
        super().__init__()
        pad = (kernel_size - 1) // 2
        self.conv = make_conv(in_channels, out_channels, (kernel_size, 1), (stride, 1), (pad, 0))
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return self.bn(self.conv(x))


class TCNGCNBlock(nn.Module):
    """One ST-GCN / 2s-AGCN block: ``relu(TCN(GCN(x)) + residual(x))``.

    The residual is the identity when shapes agree, otherwise a strided ``1 x 1`` temporal
    unit. ``(N, C_in, T, V) -> (N, C_out, T / stride, V)``.
    """

    def __init__(self, in_channels, out_channels, A, stride=1, kernel_size=9, adaptive=True, attention=False,
                 residual=True, make_conv=default_conv, make_tconv=None):
        super().__init__()
        self.gcn = GraphConv(in_channels, out_channels, A, adaptive=adaptive, attention=attention, make_conv=make_conv)
        self.tcn = TemporalConv(out_channels, out_channels, kernel_size, stride, make_conv=make_tconv or make_conv)
        if not residual:
            self.residual = None
        elif in_channels == out_channels and stride == 1:
            self.residual = nn.Identity()
        else:
            self.residual = TemporalConv(in_channels, out_channels, 1, stride, make_conv=make_conv)

    def forward(self, x):
        y = self.tcn(self.gcn(x))
        if self.residual is not None:
            y = y + self.residual(x)
        return torch.relu(y)


class SkeletonGCN(nn.Module):
    """A compact 2s-AGCN-style classifier: data BatchNorm, TCN-GCN blocks, global pooling, FC.

    Parameters
    ----------
    num_classes : int
    A : ``(K, V, V)`` adjacency (e.g. ``NTU25.adjacency()``).
    in_channels : 3 for joints (6 for joint+bone).
    channels : output channels of the blocks, e.g. ``(32, 64, 64)``.
    strides : temporal stride of each block (same length as ``channels``).
    num_person : ``M``, bodies per sample (their features are averaged before the FC).
    dropout : before the classifier.

    ``forward(x)``: ``(N, C, T, V, M)`` -> logits ``(N, num_classes)``.
    ``features(x)``: the pooled ``(N, channels[-1])`` representation.
    """

    def __init__(self, num_classes, A, in_channels=3, channels=(32, 64, 64), strides=(1, 2, 1), num_person=2,
                 kernel_size=9, adaptive=True, attention=False, dropout=0.0, make_conv=default_conv):
        super().__init__()
        if len(channels) != len(strides):
            raise ValueError("SkeletonGCN: channels and strides must have the same length")
        A = np.asarray(A)
        V = A.shape[-1]
        self.data_bn = nn.BatchNorm1d(num_person * in_channels * V)
        blocks, c_in = [], in_channels
        for i, (c, s) in enumerate(zip(channels, strides)):
            blocks.append(TCNGCNBlock(c_in, c, A, stride=s, kernel_size=kernel_size, adaptive=adaptive,
                                      attention=attention, residual=i > 0, make_conv=make_conv))
            c_in = c
        self.blocks = nn.Sequential(*blocks)
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.fc = nn.Linear(c_in, num_classes)
        self.num_person = num_person

    def features(self, x):
        N, C, T, V, M = x.shape
        x = x.permute(0, 4, 3, 1, 2).reshape(N, M * V * C, T)  # [N, M*V*C, T]
        x = self.data_bn(x)
        x = x.view(N, M, V, C, T).permute(0, 1, 3, 4, 2).reshape(N * M, C, T, V)  # [N*M, C, T, V]
        x = self.blocks(x)
        x = x.view(N, M, x.shape[1], -1).mean(dim=(1, 3))  # pool over bodies, frames, joints
        return x

    def forward(self, x):
        return self.fc(self.drop(self.features(x)))
