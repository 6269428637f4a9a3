"""Training under torchrun with 2 gloo processes: identical ranks, and the single-process result.

Each rank trains on its half of every global batch with BatchNorm statistics of
that half; the single-process reference therefore accumulates the gradients of
the two halves (each with its own statistics) before one ProxSGD step. The two
must agree to float rounding (the allreduce sums in another order): rtol 1e-4.
The reference runs on one thread, as each torchrun process does: at lr 0.1 this
tiny supernet amplifies the rounding of a different thread count to ~1e-2 within
four steps. BN running statistics are not compared: under DDP they are rank 0's
half-batch statistics (no SyncBatchNorm), by design.
"""
import json
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F

from gsnas import Supernet, checkpoint
from gsnas.config import config, load_profile
from gsnas.proxsgd import ProxSGD
from gsnas.loop import Run

pytestmark = pytest.mark.slow

SMALL = {"train_size": 64, "test_size": 32, "batch_size": 16, "epochs": 1, "channels": 4, "layers": 3,
         "image_size": 16}


def _torchrun(tmp_path, command, *args):
    out = tmp_path / command
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "gsnas", command, "--profile", "smoke", "--out", str(out), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "result.json").read_text())


def _flags(options):
    return [a for k, v in options.items() for a in (f"--{k.replace('_', '-')}", str(v))]


def test_two_process_search_matches_single_process(tmp_path):
    options = {**SMALL, "mu": 0.5, "lr": 0.1}
    out, result = _torchrun(tmp_path, "search", *_flags(options))
    assert result["processes"] == 2
    assert result["rank_weight_spread"] == 0.0

    cfg = config(load_profile("smoke"), "search", **options)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        net = _micro_batch_reference(cfg)
    finally:
        torch.set_num_threads(threads)
    ddp = checkpoint.load(out / "checkpoint.pt")["model"]
    for name, value in net.named_parameters():
        torch.testing.assert_close(ddp[name], value.detach(), rtol=1e-4, atol=1e-5, msg=name)


def _micro_batch_reference(cfg):
    """One process: the gradients of the two halves of each batch accumulated, then one ProxSGD step."""
    run = Run(cfg)  # same seeds and data as each rank
    net = run.place(Supernet(cfg.space, cfg.channels, cfg.layers, run.info["num_classes"], run.info["in_channels"]))
    opt = ProxSGD(net.param_groups(cfg.mu, cfg.normalize), lr=cfg.lr, rho=cfg.rho, tau=cfg.tau)
    steps = 0
    for x, y in run.loader(run.train_set, True):
        opt.zero_grad()
        for xs, ys in zip(x.chunk(2), y.chunk(2)):
            (F.cross_entropy(net(xs), ys) / 2).backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        steps += 1
    assert steps == 4
    return net


@pytest.mark.parametrize("command,args", [("search", ["--method", "darts"]), ("train", ["--genotype", "DARTS_V2"])])
def test_two_process_darts_and_training_keep_ranks_identical(tmp_path, command, args):
    out, result = _torchrun(tmp_path, command, *args, *_flags(SMALL))
    assert result["processes"] == 2
    assert result["rank_weight_spread"] == 0.0  # DARTS' alphas, BN buffers and weights alike
    assert (out / "metrics.csv").exists() and not (out.parent / "rank1").exists()


def test_two_process_search_removes_the_same_dead_ops(tmp_path):
    options = {**SMALL, "batch_size": 4, "space": "s2", "lr": 0.6, "mu": 3.0, "grad_clip": 1.0,
               "prune_dead": "true", "prune_patience": 2}
    out, result = _torchrun(tmp_path, "search", *_flags(options))
    assert result["ops_removed"] > 0  # removals follow from the weights, identical on both ranks
    assert result["rank_weight_spread"] == 0.0


def test_batch_must_split_evenly(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gsnas",
           "search", "--profile", "smoke", "--out", str(tmp_path / "x"), *_flags({**SMALL, "batch_size": 15})]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "batch_size 15 is not divisible by the 2 processes" in proc.stderr


def test_a_notebooks_run_with_processes_trains_under_torchrun(tmp_path):
    """What a workflow job with gpus > 1 does: the notebook's routine launches torchrun and writes the rows."""
    from gsnas.experiments import run_search
    from gsnas.results import read_rows

    out = run_search("smoke", space="s2", results=tmp_path, processes=2, **SMALL)
    assert out["processes"] == 2 and out["rank_weight_spread"] == 0.0
    assert read_rows(tmp_path / "runs" / "search" / "gsnas-s2-seed0")["searches"] == [out["row"]]
