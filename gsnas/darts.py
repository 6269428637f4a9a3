"""The DARTS baseline (SPEC §7): architecture logits alpha on the same supernet, softmax-weighted edges.

Gates are frozen at 1, so the supernet's edges become exactly DARTS' MixedOp. ``darts_search``
is the first-order bi-level search; its "discretization gap" is the supernet's accuracy
against that of the discretised network with inherited weights.
"""
from __future__ import annotations

import pandas as pd
import torch
import torch.nn as nn
import torch.nn.functional as F

from . import data, distributed
from .config import DartsConfig
from .groups import count_params
from .loop import Run, accuracy, epoch_accuracy, optimizer_step, train_epoch
from .spaces import edge_key

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


# --- the first-order search ---------------------------------------------------------------------

def darts_search(cfg: DartsConfig) -> dict:
    run = Run(cfg)
    if cfg.control == "shuffled_labels":  # before the split: both halves carry the permuted labels
        run.train_set = data.ShuffledLabels(run.train_set, cfg.seed)
    net = Supernet(cfg.space, cfg.channels, cfg.layers, run.info["num_classes"], run.info["in_channels"])
    arch = Architecture(net)
    net, arch = run.place(net), arch.to(run.device)
    weights = [p for p in net.parameters() if p.requires_grad]
    w_opt = torch.optim.SGD(weights, cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    a_opt = torch.optim.Adam(arch.parameters(), cfg.arch_lr, betas=(0.5, 0.999), weight_decay=cfg.arch_weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(w_opt, cfg.epochs, eta_min=cfg.lr_min)
    w_half, a_half = data.split(run.train_set)
    train_loader, arch_loader = run.loader(w_half, True), run.loader(a_half, True)
    test_loader = run.loader(run.test_set, False)
    objects = {"model": net, "arch": arch, "w_opt": w_opt, "a_opt": a_opt, "sched": sched}
    start = run.resume(objects)
    model = run.wrap(net)

    for epoch in range(start, cfg.epochs):
        arch_batches = None

        def step(x, y, _):
            nonlocal arch_batches
            arch_batches = arch_batches or iter(arch_loader)  # made after _train_epoch positions its sampler
            xa, ya = distributed.shard(*next(arch_batches))
            with run.autocast():
                arch_loss = F.cross_entropy(model(xa.to(run.device), arch.weights()), ya.to(run.device))
            optimizer_step(a_opt, arch_loss, average=arch.parameters())
            with run.autocast():
                logits = model(x, arch.weights())
                loss = F.cross_entropy(logits, y)
            optimizer_step(w_opt, loss, weights, cfg.grad_clip)  # also clears the weights' gradients of the alpha step
            return loss.detach(), logits.detach()

        loss, acc = train_epoch(run, net, train_loader, epoch, step, extra_loaders=(arch_loader,))
        lr = sched.get_last_lr()[0]
        sched.step()
        with torch.no_grad():
            test_acc = epoch_accuracy(run, epoch, net, test_loader, alphas=arch.weights())
        run.end_epoch(epoch, {"train_loss": loss, "train_acc": acc, "test_acc": test_acc, "lr": lr,
                              "alpha_max_mean": alpha_max_mean(arch)}, alphas_frame(arch))
    genotype = arch.genotype()
    if run.out:
        genotype.save(run.out / "genotype.json")
    before = run.metrics[-1]["test_acc"]  # the last epoch's: the same supernet on the same test set
    after = accuracy(discretize(net, genotype), test_loader, run.device)
    return run.finish({"acc_before": before, "acc_after": after, "genotype": genotype.to_dict(),
                       "supernet_params": count_params(net), "alpha_max_mean": alpha_max_mean(arch),
                       "train_acc_first": run.metrics[0]["train_acc"], "train_acc_last": run.metrics[-1]["train_acc"]})


@torch.no_grad()
def alpha_max_mean(arch: Architecture) -> float:
    """Mean over edges (both cell types) of the largest softmax weight: 1/ops when alpha is uniform."""
    return torch.stack([w.max() for ws in arch.weights().values() for w in ws]).mean().item()


def alphas_frame(arch: Architecture) -> pd.DataFrame:
    """Softmax weights in the long format of ``group_norms.csv`` (the 'norm' column holds the weight)."""
    rows = [{"name": f"{kind}/{edge_key(k)}/{op}", "cell": kind, "edge": k, "op": op, "size": 1, "norm": w}
            for (kind, k, op), w in arch.strengths().items()]
    return pd.DataFrame(rows)
