"""GPU throughput at the paper's scale, and what the paper's protocol costs (a few minutes on a lent GPU).

Images/s of the supernet search step (C=16, 8 cells, 32x32, batch 64, ProxSGD) and
of the evaluation network's training step (DARTS_V2, C=36, 14 cells, batch 96,
auxiliary head, drop path), with data already on the device, in four modes:
float32/NCHW; bfloat16 autocast + channels_last; the same with a ``loss.item()``
per step (what a loop that reads the loss every step pays); the same captured
whole as one CUDA graph. Extrapolates SPEC §5: search = 100 epochs x 50k images;
evaluation = 600 epochs x 50k images. Also times ProxSGD.step against foreach SGD
on the paper's supernet, on the device.

    python benchmarks/gpu.py [--device cuda] [--steps 30] [--out benchmarks/gpu.json]
                             [--pruning results/cpu]   # + latency of the pruned networks there
    python benchmarks/gpu.py --device cpu --steps 1 --batch-scale 0.05 --tiny   # a dry run (seconds)
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from functools import partial
from pathlib import Path

import torch
import torch.nn.functional as F

from gsnas import EvalNetwork, Supernet, get_genotype
from gsnas.proxsgd import ProxSGD

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import pruning_speed  # noqa: E402

SEARCH_IMAGES = 100 * 50_000
EVAL_IMAGES = 600 * 50_000


MODES = (("fp32 NCHW", dict(amp=False, channels_last=False)),
         ("bf16 + channels_last", dict(amp=True, channels_last=True)),
         ("bf16 + channels_last, loss.item() per step", dict(amp=True, channels_last=True, read_loss=True)),
         ("bf16 + channels_last, CUDA graph", dict(amp=True, channels_last=True, graph=True)))
COMPILED = ("bf16 + channels_last, torch.compile", dict(amp=True, channels_last=True, compile=True))


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


PAPER = {"search": (16, 8), "evaluation": (36, 14)}  # (C, cells) of SPEC §5
# --tiny: every code path in seconds, numbers meaningless. Not C=4: bf16 + channels_last at C=4, batch 3 corrupts
# the heap in torch 2.14's CPU kernels ("free(): invalid next size", AMD EPYC, 2026-12-02); C=8 runs.
TINY = {"search": (8, 3), "evaluation": (8, 3)}


def throughput(make, batch, steps, device, amp, channels_last, read_loss=False, graph=False, compile=False):
    torch.manual_seed(0)
    net, opt, loss_fn = make()
    net = net.to(device)
    if channels_last:
        net.channels_last()
    forward = torch.compile(net) if compile else net
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def forward_backward_step():
        # autocast's weight cache must be off while a graph is captured
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp, cache_enabled=not graph):
            loss = loss_fn(forward(x), y)
        loss.backward()
        opt.step()
        return loss

    def step():
        opt.zero_grad(set_to_none=True)
        loss = forward_backward_step()
        if read_loss:
            loss.item()

    if graph:  # warm up on a side stream, then capture one whole step (PyTorch's whole-network recipe)
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(3):
                step()
        torch.cuda.current_stream(device).wait_stream(side)
        captured = torch.cuda.CUDAGraph()
        opt.zero_grad(set_to_none=True)
        with torch.cuda.graph(captured):
            forward_backward_step()
        step = captured.replay
    for _ in range(3):
        step()
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(device)
    return batch * steps / (time.perf_counter() - t0)


def optimizer_steps(device, reps=50, size=PAPER["search"]):
    """Milliseconds of ProxSGD.step (flat and per-tensor) and foreach SGD on the paper's supernet."""
    torch.manual_seed(0)
    out = {}
    for name in ("ProxSGD (flat)", "ProxSGD (per tensor)", "SGD (foreach)"):
        net = Supernet("darts", *size, 10, 3).to(device).channels_last()
        for p in net.parameters():
            p.grad = torch.randn_like(p) * 1e-2
        opt = (torch.optim.SGD(net.parameters(), 1e-3, momentum=0.9, foreach=True) if name.startswith("SGD")
               else ProxSGD(net.param_groups(60.0, "div"), lr=1e-3, rho=0.8, flat="flat" in name))
        for _ in range(3):
            opt.step()
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(reps):
            opt.step()
        _sync(device)
        out[name] = round(1e3 * (time.perf_counter() - t0) / reps, 3)
    return out


def search_model(size=PAPER["search"]):
    net = Supernet("darts", *size, 10, 3)
    return net, ProxSGD(net.param_groups(60.0, "div"), lr=1e-3, rho=0.8), F.cross_entropy


def eval_model(size=PAPER["evaluation"]):
    net = EvalNetwork(get_genotype("DARTS_V2"), *size, 10, 3, auxiliary=True, drop_path_prob=0.3)
    net.drop_prob = 0.3

    def loss(out, y):
        logits, aux = out
        return F.cross_entropy(logits, y) + 0.4 * F.cross_entropy(aux, y)

    return net, torch.optim.SGD(net.parameters(), 0.025, momentum=0.9, weight_decay=3e-4), loss


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-scale", type=float, default=1.0, help="e.g. 0.05 for a dry run on a CPU")
    parser.add_argument("--out", default=None, help="write the report as JSON here")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (compiling takes minutes)")
    parser.add_argument("--pruning", default=None, help="a reproduction's results: time its pruned networks too")
    parser.add_argument("--tiny", action="store_true", help="C=4, 3 cells: a dry run of every path, not a measurement")
    args = parser.parse_args(argv)
    sizes = TINY if args.tiny else PAPER
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    report = {"device": name, "torch": torch.__version__, "date": datetime.date.today().isoformat(),
              "steps": args.steps, "batch_scale": args.batch_scale, "tiny": args.tiny, "rows": []}
    for what, make, batch, images in (("search step", partial(search_model, sizes["search"]), 64, SEARCH_IMAGES),
                                      ("evaluation step", partial(eval_model, sizes["evaluation"]), 96, EVAL_IMAGES)):
        for label, mode in MODES + ((COMPILED,) if args.compile else ()):
            if mode.get("graph") and device.type != "cuda":
                continue
            row = {"what": what, "mode": label}
            try:
                ips = throughput(make, max(2, round(batch * args.batch_scale)), args.steps, device, **mode)
                row.update(images_per_s=round(ips, 1), paper_protocol_hours=round(images / ips / 3600, 2))
            except Exception as e:  # a mode that fails is reported, and the others still run
                row["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
            report["rows"].append(row)
            print(json.dumps(row), flush=True)
    report["optimizer_step_ms"] = optimizer_steps(device, reps=max(3, args.steps), size=sizes["search"])
    print(json.dumps({"optimizer_step_ms": report["optimizer_step_ms"]}), flush=True)
    if args.pruning:
        speed = pruning_speed(Path(args.pruning), max(3, args.steps), device)
        report["pruning_speed"] = speed.to_dict("records")
        print(speed.to_string(index=False, float_format="%.3g"), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
