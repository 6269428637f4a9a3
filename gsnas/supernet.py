"""The GS-NAS supernet: every edge sums all its candidate ops; no architecture parameters.

One sparsity group = one (cell type, edge, op): that op's weights on that edge
in all cells of that type. Zero groups are pruned exactly (SPEC §3).
"""
from __future__ import annotations

import pandas as pd
from .cell import Cell, CellNetwork, edge_key
from .genotype import Genotype, darts_rule
from .groups import THRESHOLDS, OpGroup, inherit_weights, norms_frame, param_groups, split_by_norm
from .spaces import EDGES, STEPS, Space, get_space

CELL_TYPES = ("normal", "reduce")


class Supernet(CellNetwork):
    def __init__(self, space: str | Space = "darts", channels: int = 16, layers: int = 8,
                 num_classes: int = 10, in_channels: int = 3):
        super().__init__()
        self.space = get_space(space)
        self._build(channels, layers, num_classes, in_channels, self._make_cell)

    def _make_cell(self, i, reduction, c_pp, c_p, c, reduction_prev):
        return Cell(self.space.ops(self.cell_type(i)), range(2, 2 + STEPS), c_pp, c_p, c, reduction,
                    reduction_prev, affine=False, batch_stats=True, pool_bn=True, gated=True)

    def forward(self, x, alphas: dict | None = None):
        """Logits. ``alphas`` (DARTS baseline): per cell type, 14 weight vectors, one per edge."""
        s0 = s1 = self.stem(x.contiguous(memory_format=self.memory_format))
        for i, cell in enumerate(self.cells):
            weights = None if alphas is None else alphas[self.cell_type(i)]
            s0, s1 = s1, cell(s0, s1, weights)
        return self.head(s1)

    # --- sparsity groups -----------------------------------------------------------
    def op_groups(self) -> list[OpGroup]:
        """Groups in (cell type, edge, op) order; ops without weights ("none") form none."""
        groups = []
        for kind in CELL_TYPES:
            cells = [c for i, c in enumerate(self.cells) if self.cell_type(i) == kind]
            for k, ops in enumerate(self.space.ops(kind)):
                for op in ops:
                    modules = [c.edges[edge_key(k)].ops[op] for c in cells]
                    if any(True for m in modules for _ in m.parameters()):
                        groups.append(OpGroup(f"{kind}/{edge_key(k)}/{op}", kind, k, op, modules))
        return groups

    def param_groups(self, mu: float, normalize: str = "div") -> list[dict]:
        """ProxSGD param groups: one per op group with ``mu``, one unregularised (stem, preprocess, classifier)."""
        return param_groups(self, self.op_groups(), mu, normalize)

    def group_norms(self) -> pd.DataFrame:
        return norms_frame(self.op_groups())

    # --- architecture ----------------------------------------------------------------
    def genotype(self, threshold: float = THRESHOLDS[0]) -> Genotype:
        """The multipath architecture: every op whose group norm exceeds ``threshold``."""
        alive, _ = split_by_norm(self.group_norms(), threshold)
        cells = {}
        for kind in CELL_TYPES:
            nodes = [[] for _ in range(STEPS)]
            for k, (node, state) in enumerate(EDGES):
                nodes[node - 2] += [(op, state) for op in self.space.ops(kind)[k] if (kind, k, op) in alive]
            cells[kind], cells[f"{kind}_concat"] = nodes, range(2, 2 + STEPS)
        try:
            return Genotype(**cells).simplify()
        except ValueError as e:
            raise ValueError(f"no architecture at threshold {threshold}: {e}") from None

    def genotype_top2(self) -> Genotype:
        """The DARTS rule with group norms as strengths: per node the 2 strongest inputs, each with its strongest op."""
        return darts_rule(self.space, self.group_norms().set_index(["cell", "edge", "op"])["norm"].to_dict())

    def prune(self, threshold: float = THRESHOLDS[0]) -> "Supernet":
        """A physically smaller supernet without the ops whose group norm is <= ``threshold``.

        Remaining weights are copied, so a model whose pruned groups are exactly
        zero computes exactly the same function.
        """
        _, removed = split_by_norm(self.group_norms(), threshold)
        return self.without(removed)

    def without(self, removed: set[tuple[str, int, str]]) -> "Supernet":
        """A copy without the (cell type, edge, op) candidates in ``removed``, inheriting the other weights."""
        smaller = Supernet(self.space.without(removed), self.channels, self.layers, self.num_classes,
                           self.in_channels)
        return inherit_weights(smaller, self)

