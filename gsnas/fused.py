"""Batched evaluation of a cell's edges: one op on several edges in one call.

A supernet cell applies the same kinds of op on many edges, and on a CPU each
small convolution costs more in overhead than in arithmetic. Edges whose input
states exist at the same time form a *stage* (the two cell inputs; then each
new node). Per stage and op, the edges' inputs are stacked along channels,
their weights concatenated, and the op runs once as a grouped convolution
(groups multiplied by the number of edges). Parameter-free ops (pools with
their weight-free BN, identity) run once per input state and are scaled by
each edge's gate. ReLU runs once per state. The result is the per-edge sum of
``Edge.forward`` up to float rounding; ``tests/test_fused.py`` checks logits
and gradients against it.

Only chains of per-channel separable modules (ReLU, Conv2d, BatchNorm2d) take
the batched path; BN running statistics are written back module by module.
Everything else (noise, FactorizedReduce, drop path) runs edge by edge, as in
``Edge.forward``. Only training uses this path (see ``Cell.forward``).

The functions here read a cell's modules and never change the cell: the cell
owns its plan (``Cell.plan``) and calls ``nodes``. This module does not import
``gsnas.cell``, so the dependency runs one way.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .ops import Gate, Noise, Zero
from .spaces import EDGES, edge_key


def _split_gate(op: nn.Module):
    """(body, gate parameter or None): a gated op is Sequential(..., Gate)."""
    if isinstance(op, nn.Sequential) and isinstance(op[-1], Gate):
        body = op[:-1]
        return (body[0] if len(body) == 1 else body), op[-1].weight
    return op, None


def _separable(m: nn.Module) -> bool:
    return isinstance(m, (nn.ReLU, nn.Conv2d, nn.BatchNorm2d))


def _kind(body: nn.Module) -> str:
    """'zero' (contributes nothing), 'free' (no parameters: once per state), 'chain' (batched) or 'each'."""
    if isinstance(body, Zero):
        return "zero"
    if any(isinstance(m, Noise) for m in body.modules()):  # fresh noise per edge
        return "each"
    if not any(True for _ in body.parameters()) and not any(True for _ in body.buffers()):
        return "free"
    if isinstance(body, nn.Sequential) and isinstance(body[0], nn.ReLU) and all(_separable(m) for m in body):
        return "chain"
    return "each"


def build_plan(cell_edges: nn.ModuleDict) -> list[dict]:
    """Per stage of a cell with these edges (``Cell.edges``): its input states, its edges and,
    per op name, its kind and members [(position in stage, edge, op index in edge, input state, body, gate)]."""
    stages = []
    for states in ((0, 1), (2,), (3,), (4,)):
        edges = [(k, node, state) for k, (node, state) in enumerate(EDGES)
                 if state in states and edge_key(k) in cell_edges]
        ops: dict[str, dict] = {}
        for j, (k, _, state) in enumerate(edges):
            for i, (name, op) in enumerate(cell_edges[edge_key(k)].ops.items()):
                body, gate = _split_gate(op)
                entry = ops.setdefault(name, {"kind": _kind(body), "members": []})
                entry["members"].append((j, k, i, state, body, gate))
        stages.append({"states": states, "edges": edges, "ops": list(ops.values())})
    return stages


def _chain(bodies, inputs):
    """Structurally identical Sequentials on their (already ReLU'd) inputs, as one grouped pass."""
    m = len(bodies)
    h = torch.cat(inputs, dim=1) if m > 1 else inputs[0]
    for layers in list(zip(*bodies))[1:]:  # the leading ReLU ran once per state
        first = layers[0]
        if isinstance(first, nn.ReLU):
            h = F.relu(h)
        elif isinstance(first, nn.Conv2d):
            weight = torch.cat([c.weight for c in layers]) if m > 1 else first.weight
            h = F.conv2d(h, weight, None, first.stride, first.padding, first.dilation, first.groups * m)
        else:
            h = _batch_norm(h, layers)
    return h.unflatten(1, (m, -1))


def _batch_norm(h, bns):
    """Training-mode BN over the stacked channels; running statistics are updated module by module."""
    first = bns[0]
    weight = torch.cat([b.weight for b in bns]) if first.affine else None
    bias = torch.cat([b.bias for b in bns]) if first.affine else None
    if not first.track_running_stats:
        return F.batch_norm(h, None, None, weight, bias, True, 0.0, first.eps)
    mean, var = torch.cat([b.running_mean for b in bns]), torch.cat([b.running_var for b in bns])
    out = F.batch_norm(h, mean, var, weight, bias, True, first.momentum, first.eps)
    with torch.no_grad():
        for b, mu, v in zip(bns, mean.chunk(len(bns)), var.chunk(len(bns))):
            b.running_mean.copy_(mu)
            b.running_var.copy_(v)
            b.num_batches_tracked.add_(1)
    return out


def _scales(members, weights):
    """Per member: gate x alpha (None when neither applies)."""
    factors = []
    for _, k, i, _, _, gate in members:
        f = gate
        if weights is not None:
            f = weights[k][i] if f is None else f * weights[k][i]
        factors.append(f)
    if all(f is None for f in factors):
        return None
    one = next(f for f in factors if f is not None).new_ones(())
    return torch.stack([one if f is None else f for f in factors])


def run_stage(stage, states, weights, relu_cache):
    """Contributions of a stage's edges: a list, per edge position, of tensors to add to its node."""
    edges = stage["edges"]
    out = [[] for _ in edges]
    for entry in stage["ops"]:
        kind, members = entry["kind"], entry["members"]
        if kind == "zero":
            continue
        if kind == "each":
            for j, k, i, s, body, gate in members:
                y = body(states[s])
                if gate is not None:
                    y = y * gate
                if weights is not None:
                    y = y * weights[k][i]
                out[j].append(y)
            continue
        if kind == "free":
            per_state = {s: members[0][4](states[s]) for s in {mem[3] for mem in members}}
            y = torch.stack([per_state[mem[3]] for mem in members], dim=1)
        else:
            for s in {mem[3] for mem in members}:
                if s not in relu_cache:
                    relu_cache[s] = F.relu(states[s])
            y = _chain([mem[4] for mem in members], [relu_cache[mem[3]] for mem in members])
        scale = _scales(members, weights)
        if scale is not None:
            y = y * scale.view(1, -1, *([1] * (y.dim() - 2)))
        for pos, mem in enumerate(members):
            out[mem[0]].append(y[:, pos])
    return out


def nodes(plan, states, weights=None, reduction=False) -> list[torch.Tensor]:
    """The cell's 4 nodes from its 2 preprocessed input ``states``, each stage's edges batched (no drop path)."""
    states = list(states)
    relu_cache: dict[int, torch.Tensor] = {}
    incoming = [[] for _ in range(len(states) + 4)]
    for n, stage in enumerate(plan):
        if n > 0:  # node n+1 is complete: all its inputs came from earlier stages
            states.append(_node(incoming[n + 1], states, reduction))
        for (k, node, _), parts in zip(stage["edges"], run_stage(stage, states, weights, relu_cache)):
            incoming[node] += parts
    states.append(_node(incoming[5], states, reduction))
    return states[2:]


def _node(parts, states, reduction):
    if not parts:  # every input edge pruned: the node is zero
        stride = 2 if reduction else 1
        return torch.zeros_like(states[1][:, :, ::stride, ::stride])
    total = parts[0]
    for p in parts[1:]:
        total = total + p
    return total
