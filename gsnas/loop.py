"""The training loop shared by every routine: device, seeding, data, steps, tallies, checkpoints, resume.

A routine builds its network and optimizers, registers them with ``Run.resume`` (which
loads a checkpoint when resuming), runs ``train_epoch`` per epoch with its own step
function, and ends with ``Run.end_epoch`` / ``Run.finish``, which write ``metrics.csv``,
``group_norms.csv``, ``checkpoint.pt`` and ``result.json`` to ``out`` when given.
"""
from __future__ import annotations

import json
import math
import os
import signal
import sys
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd
import torch
from tqdm import tqdm  # text bars: tqdm.auto warns in a kernel without ipywidgets

from . import checkpoint, data, distributed
from .config import RunConfig
from .results import atomic_write_text, git_state


# Test-only fault injection: "EPOCH:STEP" makes the process SIGKILL itself right after the checkpoint written
# inside epoch EPOCH (counted from 0) at STEP steps (checkpoint_every must reach it), so a fault test kills a run
# at a chosen step instead of polling for a file.
KILL_AFTER = "GSNAS_KILL_AFTER"

# Settings a run may be resumed with changed: they leave the numbers alone, or (epochs) extend the run.
RESUMABLE = ("resume", "progress", "out", "data_root", "checkpoint_every", "eval_each_epoch", "epochs")


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


def epoch_accuracy(run, epoch, model, loader, **kwargs):
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
        self.objects: dict = {}  # what checkpoints hold (``resume`` registers them)
        self.metrics: list[dict] = []
        self.norms: list[pd.DataFrame] = []
        self.elapsed = 0.0  # wall seconds of earlier (resumed) sessions
        self.origin = git_state()  # the code this run started with (a resumed run keeps its first session's)

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

    def settings(self) -> dict:
        """The settings a checkpoint belongs to: all but ``RESUMABLE``; a genotype or model file by its content."""
        values = json.loads(json.dumps(asdict(self.cfg), default=str))
        for key in ("genotype", "model"):  # a search or a pruning run again writes other content to the same file
            if isinstance(values.get(key), str) and Path(values[key]).is_file():
                values[key] = Path(values[key]).read_text()
        return {k: v for k, v in values.items() if k not in RESUMABLE}

    def saved(self) -> dict | None:
        """The checkpoint this run resumes from (loaded once), or None: what to rebuild before ``resume``.

        A checkpoint written with other settings is not resumed: the run starts over (and says so).
        """
        if not hasattr(self, "_saved"):
            self._saved = None
            folder = Path(self.cfg.out) if self.cfg.out else None  # every rank reads, rank 0 writes
            path = folder / "checkpoint.pt" if folder else None
            if self.cfg.resume and path and path.exists():
                state = checkpoint.load(path, map_location=self.device)
                saved, current = json.loads(state.get("settings", "null")), self.settings()  # null: older file
                if saved is not None and saved != current:
                    changed = sorted(k for k in {*saved, *current} if saved.get(k) != current.get(k))
                    self.note(f"{path} was written with other {', '.join(changed)}: starting over")
                else:
                    self.note(f"resuming {path} at epoch {state['epoch'] + 1}"
                              + (f", step {state['partial'][0]}" if state["partial"] else ""))
                    self._saved = state
        return self._saved

    def resume(self, objects: dict) -> int:
        """Register what a checkpoint holds (things with state_dict); load it if resuming. The epoch to start at.

        A checkpoint written with other settings is not resumed: the run starts over (and says so).
        """
        self.objects, self.partial = objects, None
        state = self.saved()
        if state is None:
            return 0
        folder = Path(self.cfg.out)
        for name, obj in objects.items():
            obj.load_state_dict(state[name])
        checkpoint.set_rng_state(state["rng"])
        self.metrics, self.elapsed, self.partial = state["metrics"], state["elapsed"], state["partial"]
        self.origin = state.get("origin", self.origin)
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
                                                     "elapsed": self.wall(), "origin": self.origin,
                                                     "settings": json.dumps(self.settings())})
        if partial and os.environ.get(KILL_AFTER) == f"{epochs_done}:{partial[0]}":
            os.kill(os.getpid(), signal.SIGKILL)

    def note(self, text: str) -> None:
        """A line for the person running this (stderr: stdout is the CLI's JSON result)."""
        if distributed.is_main():
            print(text, file=sys.stderr, flush=True)

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
        result = {**result, "wall_seconds": round(self.wall(), 2), "device": str(self.device), "origin": self.origin,
                  "config": {k: v for k, v in asdict(self.cfg).items() if k not in ("progress",)}}
        if self.out:
            atomic_write_text(self.out / "result.json", json.dumps(result, indent=1, default=str) + "\n")
        return result


def set_epoch(loader, epoch, start=0):
    if hasattr(loader.sampler, "epoch"):
        loader.sampler.epoch, loader.sampler.start = epoch, start


def optimizer_step(opt, loss, params=(), max_norm=0.0, average=()):
    """One optimizer step on ``loss``, clipping the gradient norm of ``params`` when ``max_norm`` > 0.

    ``average``: parameters outside DDP's model whose gradients are averaged over the ranks.
    """
    opt.zero_grad(set_to_none=True)
    loss.backward()
    distributed.average_gradients(average)
    if max_norm > 0:
        torch.nn.utils.clip_grad_norm_(params, max_norm)
    opt.step()


class Tally:
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


def train_epoch(run, model, loader, epoch, step_fn, extra_loaders=()) -> tuple[float, float]:
    """One pass; ``step_fn(x, y, step) -> (loss, logits)`` does the update. Mean loss, accuracy (%).

    With ``checkpoint_every``, a checkpoint inside the epoch records how far it got, so a
    resumed run skips the batches already done and continues bitwise identically.
    """
    model.train()
    first, *sums = run.take_partial()
    tally = Tally(run.device, epoch, *sums)
    for ld in (loader, *extra_loaders):
        set_epoch(ld, epoch, start=first * ld.batch_size)
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
        set_epoch(ld, epoch)
    loss_sum, correct, total = tally.read()
    distributed.sync_buffers(model)  # every rank then evaluates (and would checkpoint) the same network
    loss_sum, correct, total = distributed.sum_over_ranks(loss_sum, correct, total)
    return loss_sum / max(total, 1), 100.0 * correct / max(total, 1)
