"""GPU throughput at the paper's scale, and what the paper's protocol costs (a few minutes on a lent GPU).

Images/s of the supernet search step (C=16, 8 cells, 32x32, batch 64, ProxSGD) and
of the evaluation network's training step (DARTS_V2, C=36, 14 cells, batch 96,
auxiliary head, drop path), each in float32/NCHW and in bfloat16 autocast +
channels_last, with data already on the device. Extrapolates SPEC §5: search =
100 epochs x 50k images; evaluation = 600 epochs x 50k images.

    python benchmarks/gpu.py [--device cuda] [--steps 30] [--out benchmarks/gpu.json]
    python benchmarks/gpu.py --device cpu --steps 1 --batch-scale 0.05   # a dry run
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import torch
import torch.nn.functional as F

from gsnas import EvalNetwork, Supernet, get_genotype
from gsnas.proxsgd import ProxSGD

SEARCH_IMAGES = 100 * 50_000
EVAL_IMAGES = 600 * 50_000


def throughput(make, batch, steps, device, amp, channels_last):
    torch.manual_seed(0)
    net, opt, loss_fn = make()
    net = net.to(device)
    if channels_last:
        net.channels_last()
    x = torch.randn(batch, 3, 32, 32, device=device)
    y = torch.randint(0, 10, (batch,), device=device)

    def step():
        opt.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return batch * steps / (time.perf_counter() - t0)


def search_model():
    net = Supernet("darts", 16, 8, 10, 3)
    return net, ProxSGD(net.param_groups(60.0, "div"), lr=1e-3, rho=0.8), F.cross_entropy


def eval_model():
    net = EvalNetwork(get_genotype("DARTS_V2"), 36, 14, 10, 3, auxiliary=True, drop_path_prob=0.3)
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
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    report = {"device": name, "torch": torch.__version__, "steps": args.steps, "batch_scale": args.batch_scale,
              "rows": []}
    for what, make, batch, images in (("search step", search_model, 64, SEARCH_IMAGES),
                                      ("evaluation step", eval_model, 96, EVAL_IMAGES)):
        for label, amp, cl in (("fp32 NCHW", False, False), ("bf16 + channels_last", True, True)):
            ips = throughput(make, max(2, round(batch * args.batch_scale)), args.steps, device, amp, cl)
            row = {"what": what, "mode": label, "images_per_s": round(ips, 1),
                   "paper_protocol_hours": round(images / ips / 3600, 2)}
            report["rows"].append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
