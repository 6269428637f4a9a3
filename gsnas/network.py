"""The evaluation network: DARTS' NetworkCIFAR, layer for layer, for standard and multipath genotypes.

Operation pruning (SPEC §5) groups the weights of each op instance in each
cell; ``prune`` then removes the zero ones, cell by cell.
"""
from __future__ import annotations

import pandas as pd
import torch.nn as nn

from .cell import Cell, CellNetwork, cell_type, check_dims
from .genotype import Genotype, edge_ops, get_genotype
from .groups import THRESHOLDS, OpGroup, inherit_weights, norms_frame, param_groups, split_by_norm
from .spaces import EDGES


class AuxiliaryHead(nn.Module):
    """DARTS' AuxiliaryHeadCIFAR: expects 8x8 feature maps (32x32 inputs)."""

    def __init__(self, channels: int, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.ReLU(inplace=True),
            nn.AvgPool2d(5, stride=3, padding=0, count_include_pad=False),
            nn.Conv2d(channels, 128, 1, bias=False), nn.BatchNorm2d(128), nn.ReLU(inplace=True),
            nn.Conv2d(128, 768, 2, bias=False), nn.BatchNorm2d(768), nn.ReLU(inplace=True),
        )
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        if min(x.shape[-2:]) < 8:
            raise ValueError(f"the auxiliary head needs feature maps of at least 8x8, got "
                             f"{tuple(x.shape[-2:])}: use inputs of at least 29x29 (e.g. pad to 32) or auxiliary=False")
        return self.classifier(self.features(x).flatten(1))


class EvalNetwork(CellNetwork):
    """Cells compiled from ``genotype``; ``cell_nodes`` (from ``prune``) overrides it cell by cell.

    forward returns ``(logits, logits_aux)``; ``logits_aux`` is None unless training with ``auxiliary``.
    ``gates=True`` puts a learnable scalar gate on parameter-free ops so operation pruning can remove them.
    """

    def __init__(self, genotype: Genotype | str, channels: int = 36, layers: int = 20, num_classes: int = 10,
                 in_channels: int = 3, auxiliary: bool = False, drop_path_prob: float = 0.0,
                 gates: bool = False, cell_nodes: list | None = None):
        super().__init__()
        check_dims(channels, layers, num_classes, in_channels)
        self.genotype = get_genotype(genotype)
        if not 0.0 <= drop_path_prob < 1.0:
            raise ValueError(f"drop_path_prob must be in [0, 1), got {drop_path_prob!r}")
        if cell_nodes is not None and len(cell_nodes) != layers:
            raise ValueError(f"cell_nodes has {len(cell_nodes)} cells, the network {layers}")
        self.auxiliary, self.gates = bool(auxiliary), bool(gates)
        self.drop_path_prob = drop_path_prob  # the maximum, reached in the last epoch
        self.drop_prob = 0.0                  # current value, set by the training loop
        self.cell_nodes = [tuple(tuple(tuple(p) for p in node) for node in n) for n in cell_nodes] if cell_nodes \
            else [self.genotype.cell(cell_type(i, layers)) for i in range(layers)]
        self._build(channels, layers, num_classes, in_channels, self._make_cell)
        self.auxiliary_head = AuxiliaryHead(self.aux_channels, num_classes) if self.auxiliary else None

    def _make_cell(self, i, reduction, c_pp, c_p, c, reduction_prev):
        concat = self.genotype.concat(self.cell_type(i))
        cell = Cell(edge_ops(self.cell_nodes[i]), concat, c_pp, c_p, c, reduction, reduction_prev,
                    affine=True, gated=self.gates,
                    fused=False)  # few ops per edge: batching measured 0.92x at 28x28 (benchmarks/RESULTS.md)
        return cell

    def config(self) -> dict:
        """Constructor arguments (JSON-friendly): ``EvalNetwork(**net.config())`` rebuilds it untrained."""
        return {"genotype": self.genotype.to_dict(), "channels": self.channels, "layers": self.layers,
                "num_classes": self.num_classes, "in_channels": self.in_channels, "auxiliary": self.auxiliary,
                "drop_path_prob": self.drop_path_prob, "gates": self.gates,
                "cell_nodes": [[[list(p) for p in node] for node in n] for n in self.cell_nodes]}

    @classmethod
    def from_config(cls, config: dict) -> "EvalNetwork":
        return cls(**{**config, "genotype": Genotype.from_dict(config["genotype"])})

    def forward(self, x):
        logits_aux = None
        s0 = s1 = self.stem(x.contiguous(memory_format=self.memory_format))
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, drop_prob=self.drop_prob)
            if i == 2 * self.layers // 3 and self.auxiliary_head is not None and self.training:
                logits_aux = self.auxiliary_head(s1)
        return self.head(s1), logits_aux

    # --- operation pruning ---------------------------------------------------------
    def op_groups(self) -> list[OpGroup]:
        """One group per op instance per cell, in (cell, edge, op) order; weightless ops form none."""
        groups = []
        for i, cell in enumerate(self.cells):
            for key, edge in cell.edges.items():
                for op, module in edge.ops.items():
                    if any(True for _ in module.parameters()):
                        groups.append(OpGroup(f"cell{i:02d}/{key}/{op}", i, int(key[4:]), op, [module]))
        return groups

    def operation_groups(self, mu: float, normalize: str = "none", by: str = "operation") -> list[dict]:
        """ProxSGD param groups for operation pruning.

        ``by="operation"`` (the paper): one group per op instance, stem, preprocess and heads
        unregularised. ``by="tensor"`` (the authors' code): every tensor its own group.
        """
        return param_groups(self, self.op_groups(), mu, normalize, by)

    def group_norms(self) -> pd.DataFrame:
        return norms_frame(self.op_groups())

    def prune(self, threshold: float = THRESHOLDS[0]) -> "EvalNetwork":
        """A physically smaller network without the op instances whose group norm is <= ``threshold``.

        Weights are inherited; a cell keeps its concat (a node left without inputs
        is zero), so a network whose pruned groups are exactly zero is unchanged.
        """
        return self.without(split_by_norm(self.group_norms(), threshold)[1])

    def without(self, removed: set[tuple[int, int, str]]) -> "EvalNetwork":
        """A physically smaller copy without the (cell index, edge, op) instances in ``removed``, weights inherited."""
        cell_nodes = [
            tuple(tuple((op, s) for op, s in node if (i, EDGES.index((n + 2, s)), op) not in removed)
                  for n, node in enumerate(nodes))
            for i, nodes in enumerate(self.cell_nodes)
        ]
        config = {**self.config(), "cell_nodes": cell_nodes, "genotype": self.genotype}
        pruned = EvalNetwork(**config)
        pruned.drop_prob = self.drop_prob
        return inherit_weights(pruned, self)

    def carries_signal(self, removed: set[tuple[int, int, str]] = frozenset()) -> bool:
        """Whether, without the op instances in ``removed``, some path of ops still leads from the stem to the
        classifier. A network without one is constant: it outputs the same for every image (chance accuracy).

        A cell reads the stem's or earlier cells' outputs (inputs 0 and 1: two cells back, one cell back), so a
        cell left without ops need not cut the network: the next one may read past it through its input 0.
        """
        back2 = back1 = True  # the stem feeds both inputs of the first cell
        for i, nodes in enumerate(self.cell_nodes):
            alive = [back2, back1]
            for n, node in enumerate(nodes):
                alive.append(any(alive[s] for op, s in node if (i, EDGES.index((n + 2, s)), op) not in removed))
            back2, back1 = back1, any(alive[j] for j in self.genotype.concat(self.cell_type(i)))
        return back1

    def cell_genotype(self, i: int) -> Genotype:
        """Cell ``i`` as a genotype (both cell types set to it), e.g. for drawing a pruned cell."""
        kind = self.cell_type(i)
        nodes, concat = self.cell_nodes[i], self.genotype.concat(kind)
        return Genotype(nodes, concat, nodes, concat)

