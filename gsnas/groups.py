"""Sparsity groups: the weights of one operation, collected from the modules that hold them.

Groups are built from module structure (the op modules themselves), never by
parsing parameter names. A group's ``Gate`` parameters carry their bounds.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
import torch
import torch.nn as nn

from .ops import Gate
from .proxsgd import check_mu

GROUP_BY = ("operation", "tensor")
THRESHOLDS = (1e-6, 1e-3, 0.5)  # Table 1's norm thresholds; the first decides what survives


@dataclass
class OpGroup:
    name: str          # e.g. "normal/edge03/sep_conv_3x3" or "cell05/edge03/sep_conv_3x3"
    cell: str | int    # cell type (supernet) or cell index (evaluation network)
    edge: int
    op: str
    modules: list[nn.Module] = field(default_factory=list)

    @property
    def params(self) -> list[nn.Parameter]:
        return [p for m in self.modules for p in m.parameters()]

    @property
    def clip(self) -> list[tuple[float, float] | None]:
        gates = {id(m.weight) for op in self.modules for m in op.modules() if isinstance(m, Gate)}
        return [Gate.bounds if id(p) in gates else None for p in self.params]

    @property
    def size(self) -> int:
        return sum(p.numel() for p in self.params)

    def norm(self) -> torch.Tensor:
        with torch.no_grad():
            return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p) for p in self.params]))


def check_group_by(by: str) -> str:
    if by not in GROUP_BY:
        raise ValueError(f"unknown group_by {by!r}; valid: {', '.join(GROUP_BY)}")
    return by


def param_groups(model: nn.Module, groups: list[OpGroup], mu: float, normalize: str,
                 by: str = "operation") -> list[dict]:
    """ProxSGD param groups.

    ``by="operation"`` (the paper): one group per op group with ``mu``, then one plain group
    for the rest (stem, preprocess, heads). ``by="tensor"`` (the authors' operation-pruning
    code): every tensor of the model is its own group with ``mu``, tau averaged per tensor.
    """
    check_mu(mu, normalize)
    if check_group_by(by) == "tensor":
        params = list(model.parameters())
        gates = {id(m.weight) for m in model.modules() if isinstance(m, Gate)}
        return [{"params": params, "mu": float(mu), "normalize": normalize, "grouping": "tensor",
                 "clip": [Gate.bounds if id(p) in gates else None for p in params], "name": "tensors"}]
    out = [{"params": g.params, "mu": float(mu), "normalize": normalize, "clip": g.clip, "name": g.name}
           for g in groups]
    grouped = {id(p) for g in groups for p in g.params}
    rest = [p for p in model.parameters() if id(p) not in grouped]
    out.append({"params": rest, "mu": 0.0, "normalize": "none", "clip": None, "name": "unregularized"})
    return out


def norms_frame(groups: list[OpGroup]) -> pd.DataFrame:
    """One row per group: name, cell, edge, op, size, norm."""
    norms = torch.stack([g.norm() for g in groups]).cpu().tolist() if groups else []
    return pd.DataFrame({
        "name": [g.name for g in groups], "cell": [g.cell for g in groups], "edge": [g.edge for g in groups],
        "op": [g.op for g in groups], "size": [g.size for g in groups], "norm": norms,
    })


def check_threshold(threshold: float) -> float:
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not threshold > 0:
        raise ValueError(f"threshold must be a number > 0, got {threshold!r}")
    return float(threshold)


def split_by_norm(norms: pd.DataFrame, threshold: float) -> tuple[set, set]:
    """(alive, dead) sets of (cell, edge, op): alive groups have norm > ``threshold``."""
    alive = norms["norm"] > check_threshold(threshold)
    keys = lambda rows: set(zip(rows["cell"], rows["edge"], rows["op"]))
    return keys(norms[alive]), keys(norms[~alive])


def inherit_weights(new: nn.Module, old: nn.Module) -> nn.Module:
    """Copy ``old``'s weights into the pruned ``new`` by module path; match its device, dtype, mode and layout."""
    state = old.state_dict()
    missing = [k for k in new.state_dict() if k not in state]
    if missing:
        raise RuntimeError(f"pruned model has weights the original lacks: {missing[:3]}")
    new.load_state_dict({k: state[k] for k in new.state_dict()})
    param = next(old.parameters())
    new = new.to(device=param.device, dtype=param.dtype).train(old.training)
    if getattr(old, "memory_format", None) == torch.channels_last:  # else its tests run ~3x slower on a CPU
        new = new.channels_last()
    return new


def count_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def gate_bound(cfg) -> float:
    """Can a parameter-free operation survive this search? Its largest prox argument over its threshold.

    A gate-only group (pool, stride-1 skip, noise) holds one gate in [0, 1] per cell of a type, n of them:
    its norm is at most sqrt(n), and with gradients clipped to norm c its momentum is at most c, so (tau = 1)
    the prox argument ||w - v|| <= sqrt(n) + c while the threshold is mu_k (mu / sqrt(n) with "div"). At a
    bound <= 1 the prox point is 0 from the first step whatever the data: such a group cannot survive, and a
    claim that none does holds by construction. Unclipped gradients or an adaptive tau leave it unbounded (inf).
    The largest n (the normal cells) is the most favourable case. ``cfg``: a ``SearchConfig``.
    """
    if cfg.grad_clip == 0 or cfg.tau != "constant":
        return math.inf
    n = max(cfg.layers - 2, 2)  # two reduction cells, the rest normal
    mu_k = cfg.mu / math.sqrt(n) if cfg.normalize == "div" else cfg.mu
    return (math.sqrt(n) + cfg.grad_clip) / mu_k if mu_k > 0 else math.inf
