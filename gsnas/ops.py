"""Candidate operations (SPEC §3), as in the DARTS code, plus scalar gates.

A parameter-free op (pool, identity, noise) has nothing that group sparsity
could drive to zero, so GS-NAS multiplies it by a learnable scalar ``Gate``.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

PRIMITIVES = (
    "none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
    "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5", "noise",
)


def batchnorm(channels: int, affine: bool, batch_stats: bool = False) -> nn.BatchNorm2d:
    """BatchNorm; ``batch_stats`` normalises with the batch's statistics in eval mode too.

    The supernet uses batch statistics so that an op whose weights are all zero
    outputs exactly zero in train *and* eval mode (running statistics would turn
    a zero input into a non-zero constant and break the zero discretization gap).
    """
    return nn.BatchNorm2d(channels, affine=affine, track_running_stats=not batch_stats)


class ReLUConvBN(nn.Sequential):
    def __init__(self, c_in, c_out, kernel_size, stride, padding, affine=True, batch_stats=False):
        super().__init__(
            nn.ReLU(),
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False),
            batchnorm(c_out, affine, batch_stats),
        )


def _dw_pw(c_in, c_out, kernel_size, stride, dilation, affine, batch_stats):
    padding = dilation * (kernel_size - 1) // 2
    return [
        nn.ReLU(),
        nn.Conv2d(c_in, c_in, kernel_size, stride=stride, padding=padding, dilation=dilation,
                  groups=c_in, bias=False),
        nn.Conv2d(c_in, c_out, 1, bias=False),
        batchnorm(c_out, affine, batch_stats),
    ]


class DilConv(nn.Sequential):
    """ReLU, depthwise dilated conv, pointwise conv, BN."""

    def __init__(self, c_in, c_out, kernel_size, stride, dilation, affine=True, batch_stats=False):
        super().__init__(*_dw_pw(c_in, c_out, kernel_size, stride, dilation, affine, batch_stats))


class SepConv(nn.Sequential):
    """Two stacked [ReLU, depthwise conv, pointwise conv, BN] blocks; stride in the first."""

    def __init__(self, c_in, c_out, kernel_size, stride, affine=True, batch_stats=False):
        super().__init__(*_dw_pw(c_in, c_in, kernel_size, stride, 1, affine, batch_stats),
                         *_dw_pw(c_in, c_out, kernel_size, 1, 1, affine, batch_stats))


class Identity(nn.Module):
    def forward(self, x):
        return x


class Zero(nn.Module):
    """The ``none`` op: zeros of the (strided) output shape."""

    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return x[:, :, ::self.stride, ::self.stride].mul(0.0)


class Noise(nn.Module):
    """RobustDARTS' ``noise`` op: fresh N(0, 1) noise of the output shape, whatever the input."""

    def __init__(self, stride):
        super().__init__()
        self.stride = stride

    def forward(self, x):
        return torch.randn_like(x[:, :, ::self.stride, ::self.stride])


class FactorizedReduce(nn.Module):
    """Stride-2 identity: two 1x1 stride-2 convs on x and on x shifted by one pixel."""

    def __init__(self, c_in, c_out, affine=True, batch_stats=False):
        super().__init__()
        self.relu = nn.ReLU()
        self.conv_1 = nn.Conv2d(c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = nn.Conv2d(c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = batchnorm(c_out, affine, batch_stats)

    def forward(self, x):
        x = self.relu(x)
        shifted = x[:, :, 1:, 1:]
        if x.shape[-1] % 2 or x.shape[-2] % 2:  # odd sizes: keep both halves the same size
            shifted = F.pad(shifted, (0, x.shape[-1] % 2, 0, x.shape[-2] % 2))
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


class Gate(nn.Module):
    """A learnable scalar (initialised to 1, kept in [0, 1]) that scales an op's output."""

    bounds = (0.0, 1.0)

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return x * self.weight


def _base_op(name, c, stride, affine, batch_stats):
    if name == "none":
        return Zero(stride)
    if name == "noise":
        return Noise(stride)
    if name == "max_pool_3x3":
        return nn.MaxPool2d(3, stride=stride, padding=1)
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, stride=stride, padding=1, count_include_pad=False)
    if name == "skip_connect":
        return Identity() if stride == 1 else FactorizedReduce(c, c, affine, batch_stats)
    if name.startswith("sep_conv_"):
        return SepConv(c, c, int(name[-1]), stride, affine, batch_stats)
    if name.startswith("dil_conv_"):
        return DilConv(c, c, int(name[-1]), stride, 2, affine, batch_stats)
    raise ValueError(f"unknown op {name!r}; valid ops: {', '.join(PRIMITIVES)}")


def make_op(name: str, channels: int, stride: int, *, affine: bool, batch_stats: bool = False,
            pool_bn: bool = False, gated: bool = False) -> nn.Module:
    """Build candidate op ``name`` on ``channels`` channels.

    pool_bn: follow pools by BN(affine=False), as in the DARTS supernet.
    gated: multiply parameter-free ops and the stride-2 skip by a ``Gate``.
    """
    op = _base_op(name, channels, stride, affine, batch_stats)
    parts = [op]
    if pool_bn and "pool" in name:
        parts.append(batchnorm(channels, False, batch_stats))
    if gated and name != "none" and (not any(True for _ in op.parameters()) or name == "skip_connect"):
        parts.append(Gate())
    return parts[0] if len(parts) == 1 else nn.Sequential(*parts)


def is_identity(name: str, stride: int) -> bool:
    """Drop path skips identities (DARTS: ``isinstance(op, Identity)``)."""
    return name == "skip_connect" and stride == 1
