"""The DARTS baseline (SPEC §7): architecture logits alpha on the same supernet, softmax-weighted edges.

Gates are frozen at 1, so the supernet's edges become exactly DARTS' MixedOp.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from .genotype import Genotype, darts_rule, edge_ops
from .ops import Gate
from .supernet import CELL_TYPES, Supernet


class Architecture(nn.Module):
    """One row of logits per edge and cell type (initialised to 1e-3 N(0, 1), as in DARTS)."""

    def __init__(self, supernet: Supernet):
        super().__init__()
        self.space = supernet.space
        self.alphas = nn.ParameterDict({
            kind: nn.ParameterList([nn.Parameter(1e-3 * torch.randn(len(ops))) for ops in self.space.ops(kind)])
            for kind in CELL_TYPES
        })
        for m in supernet.modules():
            if isinstance(m, Gate):
                m.weight.requires_grad_(False)

    def weights(self) -> dict:
        """Softmax of each edge's logits, as ``Supernet.forward(x, alphas=...)`` expects them."""
        return {kind: [torch.softmax(a, dim=-1) for a in self.alphas[kind]] for kind in CELL_TYPES}

    def strengths(self) -> dict:
        with torch.no_grad():
            return {(kind, k, op): float(w[i])
                    for kind, ws in self.weights().items() for k, w in enumerate(ws)
                    for i, op in enumerate(self.space.ops(kind)[k]) if op != "none"}

    def genotype(self) -> Genotype:
        """DARTS' rule: per node the top-2 inputs by their strongest non-none op."""
        return darts_rule(self.space, self.strengths())


def discretize(supernet: Supernet, genotype: Genotype) -> Supernet:
    """The supernet cut down to ``genotype``'s ops, weights inherited, edges summed without alpha."""
    removed = {(kind, k, op) for kind in CELL_TYPES
               for k, (ops, kept) in enumerate(zip(supernet.space.ops(kind), edge_ops(genotype.cell(kind))))
               for op in ops if op not in kept}
    return supernet.without(removed)
