"""Search spaces as plain data: which candidate ops sit on each of a cell's 14 edges.

Edges follow the DARTS order: node 2 <- states {0, 1}, node 3 <- {0, 1, 2},
node 4 <- {0..3}, node 5 <- {0..4}. States 0 and 1 are the cell's two inputs.
"""
from __future__ import annotations

from dataclasses import dataclass

from .ops import PRIMITIVES

STEPS = 4  # intermediate nodes per cell
EDGES = tuple((node, state) for node in range(2, 2 + STEPS) for state in range(node))
NUM_EDGES = len(EDGES)  # 14


def edge_index(node: int, state: int) -> int:
    """Position of the edge ``state -> node`` in the DARTS edge order."""
    if not 2 <= node < 2 + STEPS or not 0 <= state < node:
        raise ValueError(f"no edge from state {state} to node {node}: nodes are 2..{STEPS + 1}, inputs 0..node-1")
    return EDGES.index((node, state))


@dataclass(frozen=True)
class Space:
    """Per-edge candidate ops of the normal and the reduction cell."""

    name: str
    normal: tuple[tuple[str, ...], ...]
    reduce: tuple[tuple[str, ...], ...]

    def __post_init__(self):
        for kind in ("normal", "reduce"):
            edges = getattr(self, kind)
            if len(edges) != NUM_EDGES:
                raise ValueError(f"space {self.name!r}: {kind} cell has {len(edges)} edges, expected {NUM_EDGES}")
            for ops in edges:
                for op in ops:
                    check_op(op)
                if len(set(ops)) != len(ops):
                    raise ValueError(f"space {self.name!r}: duplicate op on a {kind} edge: {list(ops)}")

    def ops(self, cell_type: str) -> tuple[tuple[str, ...], ...]:
        if cell_type not in ("normal", "reduce"):
            raise ValueError(f"unknown cell type {cell_type!r}; valid: 'normal', 'reduce'")
        return getattr(self, cell_type)

    def without(self, removed: set[tuple[str, int, str]]) -> "Space":
        """This space with the given (cell_type, edge, op) candidates removed."""
        pick = lambda kind: tuple(
            tuple(op for op in ops if (kind, k, op) not in removed) for k, ops in enumerate(self.ops(kind))
        )
        return Space(self.name, pick("normal"), pick("reduce"))


def check_op(name: str) -> str:
    if name not in PRIMITIVES:
        raise ValueError(f"unknown op {name!r}; valid ops: {', '.join(PRIMITIVES)}")
    return name


def _uniform(name: str, ops: tuple[str, ...]) -> Space:
    return Space(name, (ops,) * NUM_EDGES, (ops,) * NUM_EDGES)


_SHORT = {
    "skip": "skip_connect", "max": "max_pool_3x3", "avg": "avg_pool_3x3",
    "sep3": "sep_conv_3x3", "sep5": "sep_conv_5x5", "dil3": "dil_conv_3x3", "dil5": "dil_conv_5x5",
}

# RobustDARTS S1 (SPEC §3): edge k -> (normal ops | reduction ops).
_S1 = """
skip dil3  | max avg
skip dil5  | max dil3
skip dil5  | max avg
skip sep3  | max avg
skip dil3  | skip dil5
max skip   | max avg
skip sep3  | max sep3
skip sep3  | skip dil3
skip dil3  | skip dil5
skip sep3  | max avg
max skip   | max avg
skip dil3  | skip dil5
dil3 dil5  | skip dil5
dil3 dil5  | skip dil5
"""


def _parse_s1() -> Space:
    rows = [line.split("|") for line in _S1.strip().splitlines()]
    expand = lambda cell: tuple(_SHORT[s] for s in cell.split())
    return Space("s1", tuple(expand(n) for n, _ in rows), tuple(expand(r) for _, r in rows))


DARTS_OPS = ("max_pool_3x3", "avg_pool_3x3", "skip_connect", "sep_conv_3x3",
             "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")

SPACES: dict[str, Space] = {
    "darts": _uniform("darts", DARTS_OPS),
    "s1": _parse_s1(),
    "s2": _uniform("s2", ("skip_connect", "sep_conv_3x3")),
    "s3": _uniform("s3", ("none", "skip_connect", "sep_conv_3x3")),
    "s4": _uniform("s4", ("noise", "sep_conv_3x3")),
}


def get_space(space: str | Space) -> Space:
    """A Space by name (``darts``, ``s1``..``s4``), or the Space itself."""
    if isinstance(space, Space):
        return space
    if space not in SPACES:
        raise ValueError(f"unknown search space {space!r}; valid spaces: {', '.join(SPACES)}")
    return SPACES[space]


def edge_key(k: int) -> str:
    """The module name of edge k in a cell."""
    return f"edge{k:02d}"
