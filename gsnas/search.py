"""GS-NAS search (SPEC §5): ProxSGD on a Supernet; the architecture is read off the non-zero groups."""
from __future__ import annotations

import math
from dataclasses import asdict
from pathlib import Path

import torch.nn.functional as F

from .config import SearchConfig, _positive
from .groups import count_params
from .loop import Run, accuracy, epoch_accuracy, optimizer_step, train_epoch
from .proxsgd import ProxSGD
from .supernet import Supernet


def search(cfg: SearchConfig) -> dict:
    run = Run(cfg)
    net = Supernet(cfg.space, cfg.channels, cfg.layers, run.info["num_classes"], run.info["in_channels"])
    net = run.place(net)
    opt = ProxSGD(net.param_groups(cfg.mu, cfg.normalize), lr=cfg.lr, rho=cfg.rho, tau=cfg.tau)
    train_loader, test_loader = run.loader(run.train_set, True), run.loader(run.test_set, False)
    start = run.resume({"model": net, "optimizer": opt})
    model = run.wrap(net)

    def step(x, y, _):
        with run.autocast():
            logits = model(x)
            loss = F.cross_entropy(logits, y)
        optimizer_step(opt, loss, net.parameters(), cfg.grad_clip)
        return loss.detach(), logits.detach()

    for epoch in range(start, cfg.epochs):
        loss, acc = train_epoch(run, net, train_loader, epoch, step)
        norms = net.group_norms()
        run.end_epoch(epoch, {"train_loss": loss, "train_acc": acc, "test_acc": epoch_accuracy(run, epoch, net, test_loader),
                              "nonzero_groups": int((norms["norm"] > cfg.thresholds[0]).sum())}, norms)
    return run.finish(summarize_search(net, test_loader, run.device, cfg.thresholds, run.out,
                                       before=run.metrics[-1]["test_acc"]))


def summarize_search(net: Supernet, test_loader, device, thresholds, out=None, before=None) -> dict:
    """Supernet accuracy before/after pruning at each threshold, the genotype, sizes.

    ``before``: the supernet's test accuracy if already measured (the last epoch's).
    """
    norms = net.group_norms()
    before = accuracy(net, test_loader, device) if before is None else before
    after = {}
    for t in thresholds:
        try:
            after[str(t)] = accuracy(net.prune(t), test_loader, device)
        except ValueError:  # nothing survives: an empty network
            after[str(t)] = float("nan")
    try:
        genotype = net.genotype(thresholds[0])
    except ValueError:  # a whole cell was pruned: mu too large for this budget
        genotype = None
    if out and genotype:
        genotype.save(Path(out) / "genotype.json")
    return {"acc_before": before, "acc_after": after, "genotype": genotype.to_dict() if genotype else None,
            "genotype_top2": net.genotype_top2().to_dict(),
            "groups": len(norms), "nonzero_groups": int((norms["norm"] > thresholds[0]).sum()),
            "ops_normal": genotype.num_ops("normal") if genotype else 0,
            "ops_reduce": genotype.num_ops("reduce") if genotype else 0,
            "supernet_params": count_params(net)}


def tune_mu(cfg: SearchConfig, target_ops: float, lo: float = 1e-2, hi: float = 1e3, iters: int = 6) -> dict:
    """Bisection (in log space) on short searches for the mu that leaves ``target_ops`` ops per cell.

    The paper tunes mu by hand "in a similar fashion as bisection"; larger mu, fewer ops.
    Returns the chosen mu and the trials.
    """
    _positive("target_ops", target_ops)
    trials = []
    for _ in range(iters):
        mu = math.sqrt(lo * hi)
        res = search(SearchConfig(**{**asdict(cfg), "mu": mu, "out": None, "resume": False}))
        ops = (res["ops_normal"] + res["ops_reduce"]) / 2
        trials.append({"mu": mu, "ops_per_cell": ops, "acc_before": res["acc_before"]})
        if ops > target_ops:
            lo = mu
        else:
            hi = mu
    best = min(trials, key=lambda t: (abs(t["ops_per_cell"] - target_ops), t["mu"]))
    return {"mu": best["mu"], "trials": trials}
