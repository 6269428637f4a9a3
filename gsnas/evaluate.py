"""Training an evaluation network (SPEC §5 evaluation) and operation pruning (Table 1, Figure 1)."""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from .config import PruneConfig, TrainConfig
from .genotype import Genotype, get_genotype
from .groups import count_params
from .loop import Run, accuracy, epoch_accuracy, optimizer_step, train_epoch
from .network import EvalNetwork
from .ops import Gate
from .proxsgd import ProxSGD
from .results import atomic_write_text


def build_eval_network(cfg: TrainConfig, info: dict, gates: bool = False) -> EvalNetwork:
    common = {"auxiliary": cfg.auxiliary_weight > 0, "drop_path_prob": cfg.drop_path_prob, "gates": gates}
    if cfg.model:
        try:
            config = json.loads(Path(cfg.model).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read model file {cfg.model!r}: {e}") from None
        return EvalNetwork.from_config({**config, **common})
    genotype = cfg.genotype if isinstance(cfg.genotype, Genotype) else get_genotype(cfg.genotype)
    return EvalNetwork(genotype, cfg.channels, cfg.layers, info["num_classes"], info["in_channels"], **common)


def weights(net: EvalNetwork) -> int:
    """The network's weights as evaluated: without the auxiliary head (training only) and pruning's gates."""
    extra = [net.auxiliary_head] if net.auxiliary_head is not None else []
    return count_params(net) - sum(count_params(m) for m in [*extra, *(m for m in net.modules() if isinstance(m, Gate))])


def _fit(run, cfg, net, opt, sched, objects, norms_fn=None):
    train_loader, test_loader = run.loader(run.train_set, True), run.loader(run.test_set, False)
    start = run.resume(objects)
    model = run.wrap(net)

    def step(x, y, _):
        with run.autocast():
            logits, logits_aux = model(x)
            loss = F.cross_entropy(logits, y)
            if logits_aux is not None:
                loss = loss + cfg.auxiliary_weight * F.cross_entropy(logits_aux, y)
        optimizer_step(opt, loss, net.parameters(), cfg.grad_clip)
        return loss.detach(), logits.detach()

    for epoch in range(start, cfg.epochs):
        net.drop_prob = cfg.drop_path_prob * epoch / cfg.epochs
        loss, acc = train_epoch(run, net, train_loader, epoch, step)
        lr = sched.get_last_lr()[0]
        sched.step()
        norms = norms_fn() if norms_fn else None
        row = {"train_loss": loss, "train_acc": acc, "test_acc": epoch_accuracy(run, epoch, net, test_loader), "lr": lr}
        if norms is not None:
            row["nonzero_groups"] = int((norms["norm"] > cfg.thresholds[0]).sum())
        run.end_epoch(epoch, row, norms)
    return test_loader


def train(cfg: TrainConfig) -> dict:
    run = Run(cfg, cutout=cfg.cutout)
    net = run.place(build_eval_network(cfg, run.info))
    opt = torch.optim.SGD(net.parameters(), cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs, eta_min=cfg.lr_min)
    test_loader = _fit(run, cfg, net, opt, sched, {"model": net, "opt": opt, "sched": sched})
    return run.finish({"test_acc": run.metrics[-1]["test_acc"], "train_acc": run.metrics[-1]["train_acc"],
                       "params": weights(net),
                       "genotype": net.genotype.to_dict()})


def prune(cfg: PruneConfig) -> dict:
    run = Run(cfg, cutout=cfg.cutout)
    net = run.place(build_eval_network(cfg, run.info, gates=True))
    opt = ProxSGD(net.operation_groups(cfg.mu, cfg.normalize, cfg.group_by), lr=cfg.lr, rho=cfg.rho, tau=cfg.tau)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs, eta_min=cfg.lr_min)
    test_loader = _fit(run, cfg, net, opt, sched, {"model": net, "opt": opt, "sched": sched}, net.group_norms)

    before, full = run.metrics[-1]["test_acc"], weights(net)  # the last epoch's test accuracy
    rows = []
    for t in cfg.thresholds:
        pruned = net.prune(t)
        rows.append({"threshold": t, "acc_after": accuracy(pruned, test_loader, run.device), "params": weights(pruned),
                     "weights_pruned_pct": 100.0 * (1 - weights(pruned) / full),
                     "ops_pruned": len(net.op_groups()) - len(pruned.op_groups())})
        if run.out:
            atomic_write_text(run.out / f"pruned_{t:g}.json", json.dumps(pruned.config()) + "\n")
    return run.finish({"acc_before": before, "params_unpruned": full, "group_by": cfg.group_by, "after": rows})


def matched_removal(net: EvalNetwork, removed: set[tuple[int, int, str]], seed: int, tolerance: float = 0.01,
                    tries: int = 10_000) -> set[tuple[int, int, str]]:
    """The matched random-pruning control: op instances at random places, as many of each op type as
    ``removed`` holds (parameter-free ones too: with gates they are groups), redrawn until the network left
    holds the weights of ``net.without(removed)`` within ``tolerance`` and, where that network still carries
    a signal from the stem to the classifier, carries one too (``EvalNetwork.carries_signal``): at 6 ops of 40
    left, most unconditioned draws cut every path and train to chance, which says nothing about which ops matter.

    Group sparsity and chance then differ only in *which* instances go, not in how many, of which types or
    how many weights: what Figure 1's two curves are meant to compare.
    """
    groups = {(g.cell, g.edge, g.op): g for g in net.op_groups()}
    unknown = sorted(set(removed) - set(groups))
    if unknown:
        raise ValueError(f"removed names op instances this network has no group for: {unknown[:3]}"
                         + ("" if net.gates else " (parameter-free ops form groups only with gates=True)"))
    by_type: dict[str, list] = {}
    for key in groups:
        by_type.setdefault(key[2], []).append(key)
    want = {op: sum(k[2] == op for k in removed) for op in sorted({k[2] for k in removed})}
    size = {key: sum(p.numel() for m in g.modules for sub in m.modules() if not isinstance(sub, Gate)
                     for p in sub.parameters(recurse=False)) for key, g in groups.items()}  # as ``weights`` counts
    total = weights(net)
    target = total - sum(size[k] for k in removed)
    connected = net.carries_signal(removed)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(tries):
        pick = {by_type[op][i] for op, n in want.items()
                for i in torch.randperm(len(by_type[op]), generator=gen)[:n].tolist()}
        if (abs(total - sum(size[k] for k in pick) - target) <= tolerance * target
                and (not connected or net.carries_signal(pick))):
            return pick
    raise ValueError(f"no random draw of {want} leaves {target:,} weights ± {tolerance:.0%}"
                     f"{' and a path from stem to classifier' if connected else ''} in {tries:,} tries (seed {seed})")
