"""One cell wiring and one macro skeleton, shared by the supernet and the evaluation network.

Both are DARTS networks whose edges sum their ops; they differ only in which
ops an edge holds (all candidates vs. the kept ones) and in their BN flavour.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn

from . import fused
from .ops import FactorizedReduce, ReLUConvBN, is_identity, make_op
from .spaces import EDGES, STEPS, edge_key


def drop_path(x: torch.Tensor, drop_prob: float) -> torch.Tensor:
    """Zero whole samples with probability ``drop_prob``, scaling the rest by 1/keep."""
    keep = 1.0 - drop_prob
    mask = torch.empty(x.size(0), 1, 1, 1, device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x / keep * mask


class Edge(nn.Module):
    """The ops of one edge. Output: their sum, or their weighted sum given ``weights`` (DARTS)."""

    def __init__(self, ops: Sequence[str], channels: int, stride: int, **op_kwargs):
        super().__init__()
        self.stride = stride
        self.ops = nn.ModuleDict({name: make_op(name, channels, stride, **op_kwargs) for name in ops})

    def forward(self, x, weights=None, drop_prob=0.0):
        out = None
        for i, (name, op) in enumerate(self.ops.items()):
            y = op(x)
            if weights is not None:
                y = y * weights[i]
            if drop_prob > 0 and self.training and not is_identity(name, self.stride):
                y = drop_path(y, drop_prob)
            out = y if out is None else out + y
        return out


class Cell(nn.Module):
    """A DARTS cell: two preprocessed inputs, 4 nodes, each summing its incoming edges.

    ``edge_ops[k]`` lists the ops of edge k (DARTS order); an edge without ops is
    absent, and a node without edges is zero (it keeps its place in ``concat``).
    """

    def __init__(self, edge_ops: Sequence[Sequence[str]], concat: Sequence[int], c_pp: int, c_p: int,
                 c: int, reduction: bool, reduction_prev: bool, *, affine: bool, batch_stats: bool = False,
                 fused: bool = True, **op_kwargs):
        super().__init__()
        self.reduction = reduction
        self.concat = tuple(concat)
        # Training batches the edges that share an input (gsnas.fused). Evaluation goes edge by
        # edge: its float rounding then does not depend on which other ops exist, so a network
        # with zero groups and its pruned copy give bitwise-equal outputs (the zero gap).
        self.fused = fused
        self._plan = None  # built on first use (``plan``)
        self.preprocess0 = (FactorizedReduce(c_pp, c, affine, batch_stats) if reduction_prev
                            else ReLUConvBN(c_pp, c, 1, 1, 0, affine, batch_stats))
        self.preprocess1 = ReLUConvBN(c_p, c, 1, 1, 0, affine, batch_stats)
        self.edges = nn.ModuleDict()
        self.inputs = [[] for _ in range(STEPS)]  # per node: (edge index, input state)
        for k, ((node, state), ops) in enumerate(zip(EDGES, edge_ops)):
            if ops:
                stride = 2 if reduction and state < 2 else 1
                self.edges[edge_key(k)] = Edge(ops, c, stride, affine=affine, batch_stats=batch_stats,
                                               **op_kwargs)
                self.inputs[node - 2].append((k, state))

    @property
    def multiplier(self) -> int:
        return len(self.concat)

    @property
    def plan(self) -> list[dict]:
        """The batched path's stages (``gsnas.fused.build_plan``); the edges are fixed once built."""
        if self._plan is None:
            self._plan = fused.build_plan(self.edges)
        return self._plan

    def forward(self, s0, s1, weights=None, drop_prob=0.0):
        states = [self.preprocess0(s0), self.preprocess1(s1)]
        if self.fused and self.training and not drop_prob > 0:
            states += fused.nodes(self.plan, states, weights, self.reduction)
        else:
            for inputs in self.inputs:
                total = None
                for k, state in inputs:
                    y = self.edges[edge_key(k)](states[state], None if weights is None else weights[k], drop_prob)
                    total = y if total is None else total + y
                if total is None:  # every input edge pruned: the node is zero
                    stride = 2 if self.reduction else 1
                    total = torch.zeros_like(states[1][:, :, ::stride, ::stride])
                states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


def set_fused(net: nn.Module, on: bool = True) -> nn.Module:
    """Switch the batched training path of every cell in ``net`` on or off (off: ``Edge.forward``)."""
    for m in net.modules():
        if isinstance(m, Cell):
            m.fused = on
    return net


def reduction_layers(layers: int) -> tuple[int, int]:
    return layers // 3, 2 * layers // 3


def cell_type(i: int, layers: int) -> str:
    return "reduce" if i in reduction_layers(layers) else "normal"


def check_dims(channels: int, layers: int, num_classes: int, in_channels: int) -> None:
    for name, value, low in (("channels", channels, 1), ("layers", layers, 3),
                             ("num_classes", num_classes, 2), ("in_channels", in_channels, 1)):
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            why = " (two reduction cells and a normal cell)" if name == "layers" else ""
            raise ValueError(f"{name} must be an integer >= {low}{why}, got {value!r}")


class CellNetwork(nn.Module):
    """Stem (3x3 conv to 3C + BN), ``layers`` cells with reductions at L//3 and 2L//3, pool, linear.

    Subclasses say how to build a cell: ``make_cell(index, reduction, c_pp, c_p, c, reduction_prev)``.
    """

    stem_multiplier = 3
    memory_format = torch.contiguous_format

    def channels_last(self) -> "CellNetwork":
        """NHWC weights and activations: mkldnn's (and cuDNN's) fast layout for depthwise convolutions.

        Measured on a 2-core CPU: the supernet step 1.2-1.5x faster (benchmarks/RESULTS.md).
        """
        self.memory_format = torch.channels_last
        return self.to(memory_format=torch.channels_last)

    def _build(self, channels, layers, num_classes, in_channels, make_cell):
        check_dims(channels, layers, num_classes, in_channels)
        self.channels, self.layers = channels, layers
        self.num_classes, self.in_channels = num_classes, in_channels
        c_curr = self.stem_multiplier * channels
        self.stem = nn.Sequential(nn.Conv2d(in_channels, c_curr, 3, padding=1, bias=False), nn.BatchNorm2d(c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, channels
        self.cells = nn.ModuleList()
        reduction_prev, self.aux_channels = False, None
        for i in range(layers):
            reduction = i in reduction_layers(layers)
            if reduction:
                c_curr *= 2
            cell = make_cell(i, reduction, c_pp, c_p, c_curr, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
            if i == reduction_layers(layers)[1]:
                self.aux_channels = c_p
        self.global_pooling = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def cell_type(self, i: int) -> str:
        return cell_type(i, self.layers)

    def head(self, s1):
        return self.classifier(self.global_pooling(s1).flatten(1))
