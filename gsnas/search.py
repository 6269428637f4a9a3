"""GS-NAS search (SPEC §5): ProxSGD on a Supernet; the architecture is read off the non-zero groups.

With ``prune_dead``, the search stops computing operations that are dead (``DeadOps``): the
supernet is rebuilt without them, their weights and optimizer state dropped, so later
steps cost less. What the search finds does not change (see ``DeadOps``).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from . import data
from .config import SearchConfig, _positive
from .genotype import darts_rule
from .groups import count_params
from .loop import Run, accuracy, epoch_accuracy, optimizer_step, train_epoch
from .proxsgd import ProxSGD
from .supernet import Supernet


class DeadOps:
    """The operations removed from a running search, and the rule that removes them.

    When can a group k not come back? ProxSGD (tau = 1) steps b_k = w_k - v_k, w_hat_k =
    max(0, 1 - mu_k/||b_k||) b_k, w_k <- w_k + lr (w_hat_k - w_k). While the prox point is 0
    (a cut group), w_k decays by (1 - lr) a step, and it stays cut as long as ||w_k - v_k|| <=
    mu_k. Since ||v_k|| is at most the largest gradient norm seen (clipped to ``grad_clip``), a
    group with ||w_k|| + max(||v_k||, grad_clip) <= mu_k can never come back; and with w_k = 0,
    an op of two or more weight layers in series has a zero gradient, so ||v_k|| only decays
    and it stays dead. At the search's scale neither bound covers every group (a conv group's
    mu_k is below the clip norm, and w_k reaches 0 only through underflow), so the rule is a
    measured one. A group is removed when
    1. its prox point has been 0 for ``patience`` steps in a row, and its norm is at most
       ``threshold`` (``prune_threshold``, default 1e-6: a gate then scales its op's output by
       at most 1e-6, a conv op behind a BN contributes far less), so removing it changes the
       others' trajectories by little more than rounding (at 1e-3, a gated op's 1e-3 share
       changed the genotype of a small, chaotic test search); and
    2. decaying as a cut group does, it will be at most ``final`` (``thresholds[0]``, where the
       genotype is read) when the search ends, so the genotype counts it removed either way.
    ``revived`` records each group that came back after meeting 1, with the steps it had
    been cut (runs without removal measure whether the patience suffices).

    A removed group's norm is carried on as the (1 - lr)^steps decay it would have followed,
    so group-norm trajectories, counts and genotypes read as without removal.
    """

    def __init__(self, patience: int | None, threshold: float, final: float, lr: float, end: int):
        self.patience, self.threshold, self.final, self.lr, self.end = patience, threshold, final, lr, end
        self.removed: dict[str, tuple] = {}  # group name -> (cell, edge, op, norm, step) when removed
        self.below: dict[str, int] = {}      # group name -> its prox point's zero steps, while below threshold
        self.revived: dict[str, int] = {}    # group name -> the most zero steps it came back after

    def state_dict(self) -> dict:
        return {"removed": [[name, *row] for name, row in self.removed.items()],
                "below": list(self.below.items()), "revived": list(self.revived.items())}

    def load_state_dict(self, state: dict) -> None:
        self.removed = {name: (c, int(e), o, float(n), int(t)) for name, c, e, o, n, t in state["removed"]}
        self.below, self.revived = dict(state["below"]), dict(state["revived"])

    def observe(self, groups: list, opt: ProxSGD, step: int) -> bool:
        """After a step: follow the groups below the threshold; record removals due now. True if any."""
        zero = opt.zero_steps()
        for name in [n for n in self.below if zero.get(n, 0) == 0]:  # came back
            self.revived[name] = max(self.revived.get(name, 0), self.below.pop(name))
        new = [g for g in groups if zero.get(g.name, 0) > 0 and g.name not in self.below]
        if new:
            for g, norm in zip(new, torch.stack([g.norm() for g in new]).tolist()):
                if norm <= self.threshold:
                    self.below[g.name] = 0
        self.below.update({n: zero[n] for n in self.below})
        waited = [g for g in groups if self.patience is not None and self.below.get(g.name, 0) >= self.patience]
        if not waited:
            return False
        removed = False
        for g, norm in zip(waited, torch.stack([g.norm() for g in waited]).tolist()):
            if norm * (1 - self.lr) ** (self.end - step) <= self.final:
                self.removed[g.name] = (g.cell, g.edge, g.op, norm, step)
                del self.below[g.name]
                removed = True
        return removed

    def keys(self) -> set:
        return {(c, e, o) for c, e, o, _, _ in self.removed.values()}

    def norms(self, step: int) -> pd.DataFrame:
        """The removed groups' rows of ``group_norms``, their norms decayed to ``step``."""
        rows = [{"name": name, "cell": c, "edge": e, "op": o, "size": 0, "norm": norm * (1 - self.lr) ** (step - at)}
                for name, (c, e, o, norm, at) in self.removed.items()]
        return pd.DataFrame(rows, columns=["name", "cell", "edge", "op", "size", "norm"])


class _Search:
    """The supernet, its optimizer and the model the steps call; rebuilt when ops are removed."""

    def __init__(self, run: Run, cfg: SearchConfig, net: Supernet):
        self.run, self.cfg = run, cfg
        self._set(net, ProxSGD(net.param_groups(cfg.mu, cfg.normalize), lr=cfg.lr, rho=cfg.rho, tau=cfg.tau))

    def _set(self, net, opt):
        self.net, self.opt, self.model, self.groups = net, opt, self.run.wrap(net), net.op_groups()

    def remove(self, keys) -> None:
        """Rebuild the supernet without ``keys`` (weights inherited), the optimizer state carried over."""
        with torch.random.fork_rng(devices=[]):  # building modules draws initial weights: keep the stream
            net = self.net.without(set(keys))
        cfg = self.cfg
        opt = ProxSGD(net.param_groups(cfg.mu, cfg.normalize), lr=cfg.lr, rho=cfg.rho, tau=cfg.tau)
        old = dict(self.net.named_parameters())
        for name, p in net.named_parameters():
            opt.state[p] = {k: v.clone() if torch.is_tensor(v) else v for k, v in self.opt.state[old[name]].items()}
        counts = self.opt.zero_steps()
        for g in opt.param_groups:
            g["zero_steps"] = counts.get(g["name"], 0)
        self._set(net, opt)
        self.run.objects.update(model=net, optimizer=opt)  # what checkpoints save from now on

    def ops_computed(self) -> int:
        """Candidate operations the supernet still computes (over all its cells, ``none`` excluded)."""
        return sum(op != "none" for cell in self.net.cells for edge in cell.edges.values() for op in edge.ops)


def search(cfg: SearchConfig) -> dict:
    run = Run(cfg)
    if cfg.control == "shuffled_labels":
        run.train_set = data.ShuffledLabels(run.train_set, cfg.seed)
    full = Supernet(cfg.space, cfg.channels, cfg.layers, run.info["num_classes"], run.info["in_channels"])
    supernet_params = count_params(full)
    train_loader, test_loader = run.loader(run.train_set, True), run.loader(run.test_set, False)
    steps_per_epoch = len(train_loader)
    dead = DeadOps(cfg.prune_patience if cfg.prune_dead else None, cfg.prune_threshold, cfg.thresholds[0], cfg.lr,
                   cfg.epochs * steps_per_epoch)
    if run.saved() is not None:  # resuming: rebuild the supernet without what was removed
        dead.load_state_dict(run.saved()["dead"])
    s = _Search(run, cfg, run.place(full.without(dead.keys()) if dead.removed else full))
    start = run.resume({"model": s.net, "optimizer": s.opt, "dead": dead})
    every = 1 if run.device.type == "cpu" else 16  # each look reads the counts back: on a GPU, a wait

    def step(x, y, i):
        if cfg.control == "penalty_only":  # the loss is only watched: every gradient is zero
            with torch.no_grad(), run.autocast():
                logits = s.model(x)
                loss = F.cross_entropy(logits, y)
            for p in s.net.parameters():
                p.grad = torch.zeros_like(p)
            s.opt.step()
        else:
            with run.autocast():
                logits = s.model(x)
                loss = F.cross_entropy(logits, y)
            optimizer_step(s.opt, loss, s.net.parameters(), cfg.grad_clip)
        at = epoch * steps_per_epoch + i + 1
        if at % every == 0 and dead.observe(s.groups, s.opt, at):
            s.remove(dead.keys())
        return loss.detach(), logits.detach()

    for epoch in range(start, cfg.epochs):
        computed, t0 = s.ops_computed(), time.time()
        loss, acc = train_epoch(run, s.net, train_loader, epoch, step)
        seconds = time.time() - t0
        norms = _norms(s.net, dead, (epoch + 1) * steps_per_epoch)
        run.end_epoch(epoch, {"train_loss": loss, "train_acc": acc,
                              "test_acc": epoch_accuracy(run, epoch, s.net, test_loader),
                              "nonzero_groups": int((norms["norm"] > cfg.thresholds[0]).sum()),
                              "ops_computed": computed, "ops_removed": len(dead.removed),
                              "images_per_s": round(len(run.train_set) / seconds, 1)}, norms)
    result = summarize_search(s.net, test_loader, run.device, cfg.thresholds, run.out,
                              before=run.metrics[-1]["test_acc"], dead=dead.norms(cfg.epochs * steps_per_epoch),
                              space=full.space)
    return run.finish({**result, "supernet_params": supernet_params, "ops_removed": len(dead.removed),
                       "train_acc_first": run.metrics[0]["train_acc"], "train_acc_last": run.metrics[-1]["train_acc"],
                       "train_acc_best": max(m["train_acc"] for m in run.metrics),
                       "revived": len(dead.revived), "revived_after_steps": max(dead.revived.values(), default=0)})


def _norms(net: Supernet, dead: DeadOps, step: int) -> pd.DataFrame:
    return pd.concat([net.group_norms(), dead.norms(step)], ignore_index=True) if dead.removed else net.group_norms()


def summarize_search(net: Supernet, test_loader, device, thresholds, out=None, before=None, dead=None,
                     space=None) -> dict:
    """Supernet accuracy before/after pruning at each threshold, the genotype, sizes.

    ``before``: the supernet's test accuracy if already measured (the last epoch's).
    ``dead``: the rows of groups removed during the search (``DeadOps.norms``); all are below
    ``thresholds[0]``, so every threshold's pruned network lacks them anyway; ``space``: the
    supernet's before removals.
    """
    norms = net.group_norms() if dead is None or dead.empty else pd.concat([net.group_norms(), dead])
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
            "genotype_top2": darts_rule(space or net.space, norms.set_index(["cell", "edge", "op"])["norm"].to_dict()).to_dict(),
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
