"""Genotypes: one type for DARTS cells (two inputs per node) and multipath cells.

A cell's node ``i`` (2..5) is the sum of its ``(op, input_state)`` pairs; a
node with no pairs is zero. ``concat`` lists the nodes that form the output.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .spaces import EDGES, STEPS, check_op

Node = tuple[tuple[str, int], ...]
INPUT_FREE_OPS = {"noise"}  # ops whose output does not depend on their input
PARAM_FREE_OPS = {"skip_connect", "max_pool_3x3", "avg_pool_3x3", "noise"}  # in an evaluation network: no weights
# (a stride-2 skip is a FactorizedReduce with weights, but counts as a skip, as in RobustDARTS)


def _nodes(cell, kind) -> tuple[Node, ...]:
    cell = list(cell)
    if cell and all(_is_pair(p) for p in cell):  # DARTS flat form: two pairs per node
        if len(cell) != 2 * STEPS:
            raise ValueError(f"{kind}: a flat DARTS cell needs {2 * STEPS} (op, input) pairs, got {len(cell)}")
        cell = [cell[2 * i:2 * i + 2] for i in range(STEPS)]
    if len(cell) != STEPS:
        raise ValueError(f"{kind}: expected {STEPS} nodes, got {len(cell)}")
    nodes = []
    for i, node in enumerate(cell):
        pairs = []
        for pair in node:
            if not _is_pair(pair):
                raise ValueError(f"{kind} node {i + 2}: expected (op, input) pairs, got {pair!r}")
            op, state = check_op(pair[0]), int(pair[1])
            if not 0 <= state < i + 2:
                raise ValueError(f"{kind} node {i + 2}: input {state} out of range 0..{i + 1}")
            if (op, state) in pairs:
                raise ValueError(f"{kind} node {i + 2}: duplicate ({op}, {state})")
            pairs.append((op, state))
        nodes.append(tuple(pairs))
    return tuple(nodes)


def _is_pair(p) -> bool:
    return isinstance(p, (list, tuple)) and len(p) == 2 and isinstance(p[0], str) and isinstance(p[1], int)


def _concat(concat, kind) -> tuple[int, ...]:
    concat = tuple(int(i) for i in concat)
    bad = [i for i in concat if not 2 <= i < 2 + STEPS]
    if bad or len(set(concat)) != len(concat) or not concat:
        raise ValueError(f"{kind}_concat {list(concat)} must be distinct nodes in 2..{STEPS + 1}")
    return concat


@dataclass(frozen=True)
class Genotype:
    normal: tuple[Node, ...]
    normal_concat: tuple[int, ...]
    reduce: tuple[Node, ...]
    reduce_concat: tuple[int, ...]

    def __post_init__(self):
        for kind in ("normal", "reduce"):
            object.__setattr__(self, kind, _nodes(getattr(self, kind), kind))
            object.__setattr__(self, f"{kind}_concat", _concat(getattr(self, f"{kind}_concat"), kind))

    def cell(self, cell_type: str) -> tuple[Node, ...]:
        return self.normal if cell_type == "normal" else self.reduce

    def concat(self, cell_type: str) -> tuple[int, ...]:
        return self.normal_concat if cell_type == "normal" else self.reduce_concat

    @property
    def is_standard(self) -> bool:
        """True for a DARTS-style cell: exactly two inputs per node."""
        return all(len(node) == 2 for node in self.normal + self.reduce)

    def num_ops(self, cell_type: str | None = None) -> int:
        kinds = [cell_type] if cell_type else ["normal", "reduce"]
        return sum(len(node) for kind in kinds for node in self.cell(kind))

    def count(self, ops, cell_type: str | None = None) -> int:
        """How many of the cells' operations are in ``ops``."""
        kinds = [cell_type] if cell_type else ["normal", "reduce"]
        return sum(op in ops for kind in kinds for node in self.cell(kind) for op, _ in node)

    def ops(self) -> set[tuple[str, int, str, int]]:
        """Every operation as (cell type, node, op, input): what a search found, order aside."""
        return {(kind, i + 2, op, s) for kind in ("normal", "reduce") for i, node in enumerate(self.cell(kind))
                for op, s in node}

    def difference(self, other: "Genotype") -> int:
        """Operations in one genotype and not the other: how far apart two searches' findings are."""
        return len(self.ops() ^ other.ops())

    def param_free_share(self) -> float:
        """Share of both cells' operations that have no weights (skip, pools, noise; RobustDARTS' measure)."""
        return self.count(PARAM_FREE_OPS) / max(self.num_ops(), 1)

    def simplify(self) -> "Genotype":
        """Drop nodes that are always zero, the ops reading them, and their place in the concat.

        The result computes the same cell; use it to train a found cell from scratch.
        """
        cells = {}
        for kind in ("normal", "reduce"):
            dead, nodes = set(), []
            for i, node in enumerate(self.cell(kind)):
                kept = tuple((op, s) for op, s in node if s not in dead or op in INPUT_FREE_OPS)
                if not kept:
                    dead.add(i + 2)
                nodes.append(kept)
            concat = tuple(i for i in self.concat(kind) if i not in dead)
            if not concat:
                raise ValueError(f"the {kind} cell has no surviving node: every op was pruned")
            cells[kind], cells[f"{kind}_concat"] = tuple(nodes), concat
        return Genotype(**cells)

    def __str__(self) -> str:
        def cell(kind):
            nodes = "; ".join(f"{i + 2} <- " + (" + ".join(f"{op}({s})" for op, s in node) or "0")
                              for i, node in enumerate(self.cell(kind)))
            return f"{kind}: {nodes}; concat {list(self.concat(kind))}"
        return cell("normal") + "\n" + cell("reduce")

    # --- serialisation -------------------------------------------------------
    def to_dict(self) -> dict:
        return {
            "normal": [[list(p) for p in node] for node in self.normal],
            "normal_concat": list(self.normal_concat),
            "reduce": [[list(p) for p in node] for node in self.reduce],
            "reduce_concat": list(self.reduce_concat),
        }

    @classmethod
    def from_dict(cls, d: dict) -> "Genotype":
        """From ``to_dict`` output or a DARTS-style dict with flat (op, input) lists."""
        missing = {"normal", "reduce"} - set(d)
        if missing:
            raise ValueError(f"genotype is missing {sorted(missing)}")
        return cls(d["normal"], d.get("normal_concat", range(2, 2 + STEPS)),
                   d["reduce"], d.get("reduce_concat", range(2, 2 + STEPS)))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "Genotype":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValueError(f"genotype JSON is malformed: {e}") from None
        if not isinstance(d, dict):
            raise ValueError("genotype JSON must be an object with 'normal' and 'reduce'")
        return cls.from_dict(d)

    def save(self, path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path) -> "Genotype":
        return cls.from_json(Path(path).read_text())


def edge_ops(nodes: tuple[Node, ...]) -> list[list[str]]:
    """Per-edge op lists (DARTS edge order) of a cell given as (op, input) pairs per node."""
    ops = [[] for _ in EDGES]
    for i, node in enumerate(nodes):
        for op, state in node:
            ops[EDGES.index((i + 2, state))].append(op)
    return ops


def darts_rule(space, strength: dict) -> Genotype:
    """DARTS' discretisation: per node the 2 inputs whose strongest op is strongest, each with that op.

    ``strength[(cell_type, edge, op)]``; ops missing from it (e.g. ``none``) are never chosen.
    """
    cells = {}
    for kind in ("normal", "reduce"):
        nodes = []
        for node in range(2, 2 + STEPS):
            best = []  # (strength, op, state), one per input edge
            for state in range(node):
                k = EDGES.index((node, state))
                scored = [(strength[(kind, k, op)], op) for op in space.ops(kind)[k] if (kind, k, op) in strength]
                if scored:
                    best.append((*max(scored), state))
            best.sort(key=lambda t: -t[0])
            nodes.append([(op, state) for _, op, state in best[:2]])
        cells[kind], cells[f"{kind}_concat"] = nodes, range(2, 2 + STEPS)
    return Genotype(**cells)


def from_darts(normal, normal_concat, reduce, reduce_concat) -> Genotype:
    return Genotype(normal, normal_concat, reduce, reduce_concat)


DARTS_V1 = from_darts(
    [("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 0), ("sep_conv_3x3", 1),
     ("skip_connect", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("skip_connect", 2)], [2, 3, 4, 5],
    [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 0),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("avg_pool_3x3", 0)], [2, 3, 4, 5],
)
DARTS_V2 = from_darts(
    [("sep_conv_3x3", 0), ("sep_conv_3x3", 1), ("sep_conv_3x3", 0), ("sep_conv_3x3", 1),
     ("sep_conv_3x3", 1), ("skip_connect", 0), ("skip_connect", 0), ("dil_conv_3x3", 2)], [2, 3, 4, 5],
    [("max_pool_3x3", 0), ("max_pool_3x3", 1), ("skip_connect", 2), ("max_pool_3x3", 1),
     ("max_pool_3x3", 0), ("skip_connect", 2), ("skip_connect", 2), ("max_pool_3x3", 1)], [2, 3, 4, 5],
)
GENOTYPES = {"DARTS_V1": DARTS_V1, "DARTS_V2": DARTS_V2}


def get_genotype(spec: "str | Path | dict | Genotype") -> Genotype:
    """A Genotype by name (DARTS_V1, DARTS_V2), from a JSON file, JSON text or a dict, or itself."""
    if isinstance(spec, Genotype):
        return spec
    if isinstance(spec, str) and spec.lstrip().startswith("{"):  # JSON text, e.g. from searches.csv
        return Genotype.from_json(spec)
    if isinstance(spec, dict):  # e.g. the command line's YAML-parsed ``--genotype '{"normal": ...}'``
        return Genotype.from_dict(spec)
    if not isinstance(spec, (str, Path)):
        raise ValueError(f"unknown genotype {spec!r}; valid: {', '.join(GENOTYPES)}, a .json file or JSON text")
    if str(spec) in GENOTYPES:
        return GENOTYPES[str(spec)]
    path = Path(spec)
    if path.suffix == ".json" or path.exists():
        if not path.is_file():
            raise ValueError(f"genotype file {str(path)!r} does not exist")
        try:
            return Genotype.load(path)
        except ValueError as e:
            raise ValueError(f"genotype file {str(path)!r}: {e}") from None
    raise ValueError(f"unknown genotype {str(spec)!r}; valid: {', '.join(GENOTYPES)} or a .json file")


def random_genotype(space, seed: int) -> Genotype:
    """A DARTS cell drawn uniformly from ``space``: per node 2 distinct inputs, each with one of its edge's ops.

    The random-search baseline of Li & Talwalkar (2019) and Yang et al. (2020); ``none`` is never drawn.
    """
    import random

    rng = random.Random(seed)
    cells = {}
    for kind in ("normal", "reduce"):
        nodes = []
        for node in range(2, 2 + STEPS):
            inputs = sorted(rng.sample(range(node), 2))
            nodes.append([(rng.choice([op for op in space.ops(kind)[EDGES.index((node, s))] if op != "none"]), s)
                          for s in inputs])
        cells[kind], cells[f"{kind}_concat"] = nodes, range(2, 2 + STEPS)
    return Genotype(**cells)
