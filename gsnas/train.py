"""The four training routines shared by notebooks and CLI (SPEC §5, §7).

- ``search``: GS-NAS, ProxSGD on a Supernet; the architecture is read off the non-zero groups.
- ``darts_search``: the DARTS first-order baseline on the same supernet.
- ``prune``: operation pruning, ProxSGD on an EvalNetwork with one group per op instance.
- ``train``: standard training of an EvalNetwork (SGD, cosine, auxiliary, drop path, cutout).

Each writes ``metrics.csv`` (per epoch), ``group_norms.csv`` (per epoch, where there
are groups), ``checkpoint.pt`` (every epoch; ``resume=True`` continues from it) and
``result.json`` to ``out`` when given, and returns the result as a dict.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import checkpoint, data, distributed
from .cell import check_dims
from .darts import Architecture, discretize
from .genotype import Genotype, get_genotype
from .groups import check_mu, check_threshold, count_params
from .network import EvalNetwork
from .proxsgd import TAU_MODES, ProxSGD
from .results import atomic_write_text
from .spaces import edge_key, get_space
from .supernet import Supernet


# --- configurations -----------------------------------------------------------------------------

@dataclass
class RunConfig:
    dataset: str = "fashion-mnist"
    data_root: str | None = None
    image_size: int | None = None     # None: the dataset's native size
    train_size: int | None = None     # None: the whole training set
    test_size: int | None = None      # None: the whole test set
    batch_size: int = 64
    eval_batch_size: int = 256
    epochs: int = 1
    seed: int = 0
    device: str = "auto"
    out: str | None = None
    resume: bool = False
    progress: bool = True
    eval_each_epoch: bool = True      # False: test accuracy only after the last epoch (saves time on CPU)
    checkpoint_every: int = 0         # also checkpoint every N steps inside an epoch (0: at epoch ends only)
    channels_last: bool = True        # NHWC layout: faster depthwise convolutions on CPU (mkldnn) and GPU
    amp: bool = False                 # bfloat16 autocast in training steps (for GPUs; evaluation stays float32)
    data_on_device: bool = True       # the data resident on the training device, augmented there in batches
                                      # (false: a DataLoader with per-image transforms, ~3x the loading time)
    compile: bool = False             # torch.compile the training forward (for GPUs: the first steps compile)

    def __post_init__(self):
        data.check_dataset(self.dataset)
        for name in ("batch_size", "eval_batch_size", "epochs"):
            _positive_int(name, getattr(self, name))
        for name in ("train_size", "test_size", "image_size"):
            if getattr(self, name) is not None:
                _positive_int(name, getattr(self, name))
        if self.image_size is not None and self.image_size < 8:
            raise ValueError(f"image_size must be >= 8 (two reductions), got {self.image_size}")
        if self.device not in ("auto", "cpu") and not str(self.device).startswith("cuda"):
            raise ValueError(f"device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        if isinstance(self.checkpoint_every, bool) or not isinstance(self.checkpoint_every, int) \
                or self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be an integer >= 0, got {self.checkpoint_every!r}")
        for name in ("channels_last", "amp", "compile", "data_on_device"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")

        if self.resume and not self.out:
            raise ValueError("resume needs an output folder (out) holding checkpoint.pt")

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        """Build from a dict (a profile section); unknown keys are an error naming them."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise ValueError(f"unknown {cls.__name__} option(s) {unknown}; valid: {sorted(names)}")
        return cls(**d)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def _positive(name, value, allow_zero=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (value > 0 or allow_zero and value == 0):
        raise ValueError(f"{name} must be a number {'>= 0' if allow_zero else '> 0'}, got {value!r}")


def _rho(rho):
    if isinstance(rho, bool) or not isinstance(rho, (int, float)) or not 0 < rho <= 1:
        raise ValueError(f"rho must be in (0, 1], got {rho!r}")


def _thresholds(thresholds):
    if not isinstance(thresholds, (list, tuple)) or not thresholds:
        raise ValueError(f"thresholds must be a non-empty list of numbers > 0, got {thresholds!r}")
    for t in thresholds:
        check_threshold(t)


@dataclass
class SearchConfig(RunConfig):
    """GS-NAS search; defaults are the paper's (SPEC §5) on the given dataset."""
    space: str = "darts"
    channels: int = 16
    layers: int = 8
    lr: float = 1e-3
    rho: float = 0.8
    tau: str = "constant"
    mu: float = 60.0
    normalize: str = "div"
    grad_clip: float = 0.0            # 0: no clipping (the paper's search)
    thresholds: list = field(default_factory=lambda: [1e-6, 1e-3, 0.5])

    def __post_init__(self):
        super().__post_init__()
        _positive("lr", self.lr)
        _rho(self.rho)
        _positive("mu", self.mu, allow_zero=True)
        _positive("grad_clip", self.grad_clip, allow_zero=True)
        _thresholds(self.thresholds)
        get_space(self.space)
        check_dims(self.channels, self.layers, 2, 1)
        check_mu(self.mu, self.normalize)
        if self.tau not in TAU_MODES:
            raise ValueError(f"unknown tau {self.tau!r}; valid: {', '.join(TAU_MODES)}")


@dataclass
class DartsConfig(RunConfig):
    """DARTS first-order search on the same supernet (SPEC §7)."""
    space: str = "darts"
    channels: int = 16
    layers: int = 8
    lr: float = 0.025
    lr_min: float = 0.001
    momentum: float = 0.9
    weight_decay: float = 3e-4
    arch_lr: float = 3e-4
    arch_weight_decay: float = 1e-3
    grad_clip: float = 5.0

    def __post_init__(self):
        super().__post_init__()
        _positive("lr", self.lr)
        _positive("arch_lr", self.arch_lr)
        get_space(self.space)
        check_dims(self.channels, self.layers, 2, 1)


@dataclass
class TrainConfig(RunConfig):
    """Training an EvalNetwork from scratch (SPEC §5 evaluation)."""
    genotype: str = "DARTS_V2"        # name, JSON file, genotype dict, or a Genotype
    model: str | None = None          # a model JSON (EvalNetwork.config(), e.g. a pruned network): overrides genotype
    channels: int = 36
    layers: int = 20
    lr: float = 0.025
    lr_min: float = 0.0
    momentum: float = 0.9
    weight_decay: float = 3e-4
    cutout: int = 16
    drop_path_prob: float = 0.3
    auxiliary_weight: float = 0.4     # 0: no auxiliary head
    grad_clip: float = 5.0

    def __post_init__(self):
        super().__post_init__()
        _positive("lr", self.lr)
        _positive("auxiliary_weight", self.auxiliary_weight, allow_zero=True)
        if not 0 <= self.drop_path_prob < 1:
            raise ValueError(f"drop_path_prob must be in [0, 1), got {self.drop_path_prob!r}")
        check_dims(self.channels, self.layers, 2, 1)
        if self.model is None and not isinstance(self.genotype, Genotype):
            get_genotype(self.genotype)
        if self.auxiliary_weight > 0 and self.image_size is not None and self.image_size < 29:
            raise ValueError(f"the auxiliary head needs images of at least 29x29, got image_size={self.image_size}; "
                             "set auxiliary_weight=0 or a larger image_size")


@dataclass
class PruneConfig(TrainConfig):
    """Operation pruning of an EvalNetwork with ProxSGD (SPEC §5, Table 1 / Figure 1)."""
    mu: float = 1e-4
    lr: float = 1e-3
    lr_min: float = 1e-4
    rho: float = 0.9
    tau: str = "adaptive"
    normalize: str = "none"
    drop_path_prob: float = 0.2
    thresholds: list = field(default_factory=lambda: [1e-6, 1e-3, 0.5])

    def __post_init__(self):
        super().__post_init__()
        _rho(self.rho)
        _thresholds(self.thresholds)
        check_mu(self.mu, self.normalize)
        if self.tau not in TAU_MODES:
            raise ValueError(f"unknown tau {self.tau!r}; valid: {', '.join(TAU_MODES)}")


# --- shared machinery ---------------------------------------------------------------------------

def pick_device(name: str) -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else torch.device(name)


def seed_everything(seed: int) -> None:
    import random

    import numpy as np
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def logits_of(output):
    return output[0] if isinstance(output, tuple) else output


@torch.no_grad()
def accuracy(model, loader, device, **kwargs) -> float:
    """Top-1 accuracy (%) in eval mode; ``kwargs`` go to the model (e.g. DARTS alphas)."""
    was_training = model.training
    model.eval()
    correct, total = torch.zeros((), dtype=torch.long, device=device), 0
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        correct += (logits_of(model(x, **kwargs)).argmax(1) == y).sum()  # read back once, at the end
        total += y.numel()
    model.train(was_training)
    return 100.0 * correct.item() / max(total, 1)


def _epoch_accuracy(run, epoch, model, loader, **kwargs):
    last = epoch + 1 == run.cfg.epochs
    return accuracy(model, loader, run.device, **kwargs) if run.cfg.eval_each_epoch or last else float("nan")


class Run:
    """Per-run bookkeeping: device, seeds, data, output folder, checkpoints, per-epoch CSVs."""

    def __init__(self, cfg: RunConfig, cutout: int = 0):
        self.cfg, self.started = cfg, time.time()
        torch.set_flush_denormal(True)  # groups shrinking towards zero would otherwise crawl through denormals
        self.device = distributed.setup(pick_device(cfg.device))
        distributed.check_batch(cfg.batch_size)
        seed_everything(cfg.seed)
        self.out = Path(cfg.out) if cfg.out and distributed.is_main() else None  # where this process writes
        if self.out:
            try:
                self.out.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ValueError(f"cannot create output folder {self.out}: {e.strerror}") from None
        self.info = data.info(cfg.dataset)
        size = cfg.image_size or self.info["image_size"]
        self.resident = cfg.data_on_device
        self.cutout = cutout  # resident data is augmented on the device, by DeviceLoader
        self.train_set = data.load(cfg.dataset, True, cfg.data_root, size, augment=not self.resident,
                                   cutout=0 if self.resident else cutout, size=cfg.train_size, seed=cfg.seed)
        self.test_set = data.load(cfg.dataset, False, cfg.data_root, size, size=cfg.test_size, seed=cfg.seed)
        self.metrics: list[dict] = []
        self.norms: list[pd.DataFrame] = []
        self.elapsed = 0.0  # wall seconds of earlier (resumed) sessions

    def place(self, net):
        """The network on this run's device, in its memory layout."""
        net = net.to(self.device)
        return net.channels_last() if self.cfg.channels_last else net

    def loader(self, ds, train: bool):
        batch = self.cfg.batch_size if train else self.cfg.eval_batch_size
        if self.resident:
            return data.DeviceLoader(ds, batch, train, self.cfg.seed, self.device, self.cfg.dataset,
                                     augment=train, cutout=self.cutout if train else 0)
        return data.loader(ds, batch, train, self.cfg.seed)

    def wrap(self, net):
        """What training steps call: DDP around ``net`` when distributed, compiled when ``compile`` is on.

        Evaluation and checkpoints use ``net`` itself, so they never wait for a compilation.
        """
        model = distributed.wrap(net)
        return torch.compile(model) if self.cfg.compile else model

    def autocast(self):
        """bfloat16 autocast around a training forward pass when ``amp`` is on."""
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.cfg.amp)

    def bar(self, loader, epoch):
        return tqdm(loader, desc=f"epoch {epoch + 1}/{self.cfg.epochs}", leave=False,
                    disable=not (self.cfg.progress and distributed.is_main()))

    def wall(self) -> float:
        return self.elapsed + time.time() - self.started

    def resume(self, objects: dict) -> int:
        """Register what a checkpoint holds (things with state_dict); load it if resuming. The epoch to start at."""
        self.objects, self.partial = objects, None
        folder = Path(self.cfg.out) if self.cfg.out else None  # every rank reads, rank 0 writes
        path = folder / "checkpoint.pt" if folder else None
        if not (self.cfg.resume and path and path.exists()):
            return 0
        state = checkpoint.load(path, map_location=self.device)
        for name, obj in objects.items():
            obj.load_state_dict(state[name])
        checkpoint.set_rng_state(state["rng"])
        self.metrics, self.elapsed, self.partial = state["metrics"], state["elapsed"], state["partial"]
        if self.partial and not distributed.is_main():  # epoch sums so far are global: counted once, on rank 0
            self.partial = [self.partial[0], 0.0, 0, 0]
        if (folder / "group_norms.csv").exists():
            norms = pd.read_csv(folder / "group_norms.csv")
            self.norms = [norms[norms["epoch"] <= state["epoch"]]]
        return state["epoch"]

    def take_partial(self) -> list:
        """[steps done, loss sum, correct, seen] of an epoch interrupted mid-way, else zeros."""
        partial, self.partial = self.partial or [0, 0.0, 0, 0], None
        return partial

    def save(self, epochs_done: int, partial: list | None = None) -> None:
        if not self.out:
            return
        state = {name: obj.state_dict() for name, obj in self.objects.items()}
        checkpoint.save(self.out / "checkpoint.pt", {**state, "epoch": epochs_done, "partial": partial,
                                                     "rng": checkpoint.rng_state(), "metrics": self.metrics,
                                                     "elapsed": self.wall()})

    def end_epoch(self, epoch: int, row: dict, norms: pd.DataFrame | None = None) -> None:
        if norms is not None and not norms["norm"].map(math.isfinite).all():
            bad = norms.loc[~norms["norm"].map(math.isfinite), "name"].iloc[0]
            raise FloatingPointError(f"group norm of {bad} is not finite after epoch {epoch + 1}; "
                                     "the last good checkpoint is kept")
        self.metrics.append({"epoch": epoch + 1, **row, "wall_seconds": round(self.wall(), 2)})
        if norms is not None:
            self.norms.append(norms.assign(epoch=epoch + 1))
        if not self.out:
            return
        atomic_write_text(self.out / "metrics.csv", pd.DataFrame(self.metrics).to_csv(index=False))
        if self.norms:
            atomic_write_text(self.out / "group_norms.csv", pd.concat(self.norms).to_csv(index=False))
        self.save(epoch + 1)

    def finish(self, result: dict) -> dict:
        if distributed.world_size() > 1:
            result["processes"] = distributed.world_size()
            modules = [o for o in self.objects.values() if isinstance(o, torch.nn.Module)]
            result["rank_weight_spread"] = distributed.weight_spread(*modules)
        result = {**result, "wall_seconds": round(self.wall(), 2), "device": str(self.device),
                  "config": {k: v for k, v in asdict(self.cfg).items() if k not in ("progress",)}}
        if self.out:
            atomic_write_text(self.out / "result.json", json.dumps(result, indent=1, default=str) + "\n")
        return result


def _set_epoch(loader, epoch, start=0):
    if hasattr(loader.sampler, "epoch"):
        loader.sampler.epoch, loader.sampler.start = epoch, start


def _update(opt, loss, params=(), max_norm=0.0, average=()):
    """One optimizer step on ``loss``, clipping the gradient norm of ``params`` when ``max_norm`` > 0.

    ``average``: parameters outside DDP's model whose gradients are averaged over the ranks.
    """
    opt.zero_grad(set_to_none=True)
    loss.backward()
    distributed.average_gradients(average)
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_norm)
    opt.step()


class _Tally:
    """An epoch's loss sum and correct count, kept on the device so that no step waits for a GPU.

    The first non-finite loss is remembered there too; ``read`` (at a checkpoint and at the
    epoch's end, before anything is saved) raises naming its epoch and step.
    """

    def __init__(self, device, epoch, loss_sum=0.0, correct=0, total=0):
        self.sums = torch.tensor([loss_sum, correct], dtype=torch.float64, device=device)
        self.bad = torch.tensor([-1.0, 0.0], dtype=torch.float64, device=device)  # first bad step, its loss
        self.epoch, self.total = epoch, total

    def add(self, loss, logits, y, step):
        loss = loss.detach().double()
        self.sums += torch.stack((loss * y.numel(), (logits.argmax(1) == y).sum().double()))
        first = ~torch.isfinite(loss) & (self.bad[0] < 0)
        self.bad = torch.where(first, torch.stack((torch.full_like(loss, step), loss)), self.bad)
        self.total += y.numel()

    def read(self) -> list:
        """[loss sum, correct, seen]; raises FloatingPointError if a loss was not finite."""
        step, loss = self.bad.tolist()
        if step >= 0:
            raise FloatingPointError(f"loss is {loss} at epoch {self.epoch + 1}, step {int(step) + 1}; "
                                     "the last good checkpoint is kept")
        loss_sum, correct = self.sums.tolist()
        return [loss_sum, round(correct), self.total]


def _train_epoch(run, model, loader, epoch, step_fn, extra_loaders=()) -> tuple[float, float]:
    """One pass; ``step_fn(x, y, step) -> (loss, logits)`` does the update. Mean loss, accuracy (%).

    With ``checkpoint_every``, a checkpoint inside the epoch records how far it got, so a
    resumed run skips the batches already done and continues bitwise identically.
    """
    model.train()
    first, *sums = run.take_partial()
    tally = _Tally(run.device, epoch, *sums)
    for ld in (loader, *extra_loaders):
        _set_epoch(ld, epoch, start=first * ld.batch_size)
    every = run.cfg.checkpoint_every
    for i, (x, y) in enumerate(run.bar(loader, epoch)):
        step = first + i
        x, y = distributed.shard(x, y)
        x, y = x.to(run.device, non_blocking=True), y.to(run.device, non_blocking=True)
        loss, logits = step_fn(x, y, step)
        tally.add(loss, logits, y, step)
        if every and (step + 1) % every == 0:
            run.save(epoch, partial=[step + 1, *distributed.sum_over_ranks(*tally.read())])
    for ld in (loader, *extra_loaders):
        _set_epoch(ld, epoch)
    loss_sum, correct, total = tally.read()
    distributed.sync_buffers(model)  # every rank then evaluates (and would checkpoint) the same network
    loss_sum, correct, total = distributed.sum_over_ranks(loss_sum, correct, total)
    return loss_sum / max(total, 1), 100.0 * correct / max(total, 1)


# --- GS-NAS search ------------------------------------------------------------------------------

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
        _update(opt, loss, net.parameters(), cfg.grad_clip)
        return loss.detach(), logits.detach()

    for epoch in range(start, cfg.epochs):
        loss, acc = _train_epoch(run, net, train_loader, epoch, step)
        norms = net.group_norms()
        run.end_epoch(epoch, {"train_loss": loss, "train_acc": acc, "test_acc": _epoch_accuracy(run, epoch, net, test_loader),
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


# --- DARTS first-order search --------------------------------------------------------------------

def darts_search(cfg: DartsConfig) -> dict:
    run = Run(cfg)
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
            _update(a_opt, arch_loss, average=arch.parameters())
            with run.autocast():
                logits = model(x, arch.weights())
                loss = F.cross_entropy(logits, y)
            _update(w_opt, loss, weights, cfg.grad_clip)  # also clears the weights' gradients of the alpha step
            return loss.detach(), logits.detach()

        loss, acc = _train_epoch(run, net, train_loader, epoch, step, extra_loaders=(arch_loader,))
        lr = sched.get_last_lr()[0]
        sched.step()
        with torch.no_grad():
            test_acc = _epoch_accuracy(run, epoch, net, test_loader, alphas=arch.weights())
        run.end_epoch(epoch, {"train_loss": loss, "train_acc": acc, "test_acc": test_acc, "lr": lr},
                      alphas_frame(arch))
    genotype = arch.genotype()
    if run.out:
        genotype.save(run.out / "genotype.json")
    before = run.metrics[-1]["test_acc"]  # the last epoch's: the same supernet on the same test set
    after = accuracy(discretize(net, genotype), test_loader, run.device)
    return run.finish({"acc_before": before, "acc_after": after, "genotype": genotype.to_dict(),
                       "supernet_params": count_params(net)})


def alphas_frame(arch: Architecture) -> pd.DataFrame:
    """Softmax weights in the long format of ``group_norms.csv`` (the 'norm' column holds the weight)."""
    rows = [{"name": f"{kind}/{edge_key(k)}/{op}", "cell": kind, "edge": k, "op": op, "size": 1, "norm": w}
            for (kind, k, op), w in arch.strengths().items()]
    return pd.DataFrame(rows)


# --- evaluation-network training and operation pruning ---------------------------------------------

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
        _update(opt, loss, net.parameters(), cfg.grad_clip)
        return loss.detach(), logits.detach()

    for epoch in range(start, cfg.epochs):
        net.drop_prob = cfg.drop_path_prob * epoch / cfg.epochs
        loss, acc = _train_epoch(run, net, train_loader, epoch, step)
        lr = sched.get_last_lr()[0]
        sched.step()
        norms = norms_fn() if norms_fn else None
        row = {"train_loss": loss, "train_acc": acc, "test_acc": _epoch_accuracy(run, epoch, net, test_loader), "lr": lr}
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
    aux = count_params(net.auxiliary_head) if net.auxiliary_head is not None else 0
    return run.finish({"test_acc": run.metrics[-1]["test_acc"], "params": count_params(net) - aux,
                       "genotype": net.genotype.to_dict()})


def prune(cfg: PruneConfig) -> dict:
    run = Run(cfg, cutout=cfg.cutout)
    net = run.place(build_eval_network(cfg, run.info, gates=True))
    opt = ProxSGD(net.operation_groups(cfg.mu, cfg.normalize), lr=cfg.lr, rho=cfg.rho, tau=cfg.tau)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.epochs, eta_min=cfg.lr_min)
    test_loader = _fit(run, cfg, net, opt, sched, {"model": net, "opt": opt, "sched": sched}, net.group_norms)

    def size(m):
        return count_params(m) - (count_params(m.auxiliary_head) if m.auxiliary_head is not None else 0)

    before, full = run.metrics[-1]["test_acc"], size(net)  # the last epoch's test accuracy
    rows = []
    for t in cfg.thresholds:
        pruned = net.prune(t)
        rows.append({"threshold": t, "acc_after": accuracy(pruned, test_loader, run.device), "params": size(pruned),
                     "weights_pruned_pct": 100.0 * (1 - size(pruned) / full),
                     "ops_pruned": len(net.op_groups()) - len(pruned.op_groups())})
        if run.out:
            atomic_write_text(run.out / f"pruned_{t:g}.json", json.dumps(pruned.config()) + "\n")
    return run.finish({"acc_before": before, "params_unpruned": full, "after": rows})
