"""Benchmarks (``make bench``): each figure a ratio of two things timed side by side in this process.

Machines here are noisy, so the two sides of a ratio alternate, repetition by
repetition, and each side's median is used. Prints a table and writes
``benchmarks/results.json`` and ``benchmarks/RESULTS.md``.

    python benchmarks/bench.py [--quick] [--results results/cpu]
"""
from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch
import torch.nn.functional as F

from gsnas import EvalNetwork, Genotype, Supernet, get_genotype
from gsnas.cell import set_fused
from gsnas.darts import Architecture
from gsnas.describe import mflops
from gsnas.config import REPO
from gsnas.groups import count_params
from gsnas.proxsgd import ProxSGD

HERE = Path(__file__).resolve().parent


def side_by_side(fns: dict, reps: int, warmup: int = 2) -> dict:
    """Median seconds of each callable, the callables interleaved within every repetition."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(ts) for name, ts in times.items()}


def _batch(n, size, channels=1, classes=10):
    g = torch.Generator().manual_seed(0)
    return torch.randn(n, channels, size, size, generator=g), torch.randint(0, classes, (n,), generator=g)


# 1 --------------------------------------------------------------------------------------------
def optimizer_step(reps):
    """ProxSGD.step() vs SGD(momentum=0.9, foreach=True).step() on the paper's supernet, random gradients."""
    torch.manual_seed(0)
    net = Supernet("darts", 16, 8, 10, 3)
    params = list(net.parameters())
    for p in params:
        p.grad = torch.randn_like(p) * 1e-2
    prox_net = copy.deepcopy(net)
    for p, q in zip(prox_net.parameters(), params):
        p.grad = q.grad.clone()
    prox = ProxSGD(prox_net.param_groups(60.0, "div"), lr=1e-3, rho=0.8)
    sgd = torch.optim.SGD(params, lr=1e-3, momentum=0.9, foreach=True)
    t = side_by_side({"proxsgd": prox.step, "sgd": sgd.step}, reps)
    return {"figure": "ProxSGD.step / SGD(foreach).step", "ours_ms": 1e3 * t["proxsgd"],
            "baseline_ms": 1e3 * t["sgd"], "ratio": t["proxsgd"] / t["sgd"], "target": "<= 1.0",
            "met": t["proxsgd"] / t["sgd"] <= 1.0,
            "setup": f"supernet C=16, 8 cells, darts space: {len(params)} tensors, {count_params(net):,} params, "
                     f"{len(prox.param_groups)} param groups"}


# 2 --------------------------------------------------------------------------------------------
def search_step_vs_darts(reps, channels=8, layers=5, size=16, batch=32):
    """One GS-NAS step vs one DARTS first-order step (architecture step + weight step), same supernet and batch."""
    torch.manual_seed(0)
    base = Supernet("darts", channels, layers, 10, 1).channels_last()
    x, y = _batch(batch, size)
    xa, ya = _batch(batch, size)
    gs = copy.deepcopy(base)
    prox = ProxSGD(gs.param_groups(50.0, "div"), lr=0.1, rho=0.8)
    dn = copy.deepcopy(base)
    arch = Architecture(dn)
    weights = [p for p in dn.parameters() if p.requires_grad]
    w_opt = torch.optim.SGD(weights, 0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam(arch.parameters(), 3e-4, betas=(0.5, 0.999), weight_decay=1e-3)

    def gsnas_step():
        prox.zero_grad()
        F.cross_entropy(gs(x), y).backward()
        torch.nn.utils.clip_grad_norm_(gs.parameters(), 5.0)
        prox.step()

    def darts_step():
        a_opt.zero_grad()
        F.cross_entropy(dn(xa, arch.weights()), ya).backward()
        a_opt.step()
        w_opt.zero_grad()
        F.cross_entropy(dn(x, arch.weights()), y).backward()
        torch.nn.utils.clip_grad_norm_(weights, 5.0)
        w_opt.step()

    t = side_by_side({"gsnas": gsnas_step, "darts": darts_step}, reps)
    return {"figure": "GS-NAS step / DARTS first-order step", "ours_ms": 1e3 * t["gsnas"],
            "baseline_ms": 1e3 * t["darts"], "ratio": t["gsnas"] / t["darts"], "target": "<= 0.55",
            "met": t["gsnas"] / t["darts"] <= 0.55,
            "setup": f"supernet C={channels}, {layers} cells, {size}x{size}, batch {batch} (the cpu profile's search)"}


# 3 --------------------------------------------------------------------------------------------
def supernet_vs_reference(reps, channels, layers, size, batch):
    """Our training step (edges batched, channels_last) vs the same supernet evaluated edge by edge in NCHW.

    Agreement is checked in float64, where the two compute the same function to ~1e-13. In float32
    the gradient of a freshly initialised supernet is ill-conditioned: merely changing the memory
    layout of the reference moves it by ~6e-4 (reported as the float32 noise floor).
    """
    torch.manual_seed(0)
    ref = set_fused(Supernet("darts", channels, layers, 10, 1), False).train()
    ours = set_fused(copy.deepcopy(ref), True).channels_last().train()
    x, y = _batch(batch, size)

    def grads(net, dtype=torch.float32):
        net.zero_grad()
        out = net(x.to(dtype))
        F.cross_entropy(out, y).backward()
        return out.detach(), torch.cat([p.grad.flatten() for p in net.parameters()])

    def rel(a, b):
        return float((a - b).norm() / b.norm())

    (lr, gr), (lo, go) = (grads(copy.deepcopy(n).double(), torch.float64) for n in (ref, ours))
    logit_err, grad_err = rel(lo, lr), rel(go, gr)
    (lr32, gr32), (lo32, go32) = grads(ref), grads(ours)
    _, g_layout = grads(copy.deepcopy(ref).channels_last())
    t = side_by_side({"ours": lambda: grads(ours), "reference": lambda: grads(ref)}, reps, warmup=1)
    speedup = t["reference"] / t["ours"]
    # informational: the step is compute-bound on a CPU (~8 GFLOP/s whatever the batch), so layout and
    # batching buy ~1.5x; what makes a search cheaper is computing fewer operations (figure 7)
    return {"figure": f"supernet step speed-up over the edge-by-edge NCHW reference (C={channels}, {layers} cells, "
                      f"{size}x{size}, batch {batch})",
            "ours_ms": 1e3 * t["ours"], "baseline_ms": 1e3 * t["reference"], "ratio": speedup,
            "target": "informational", "met": None, "higher_is_better": True, "logits_rel_err": logit_err, "grads_rel_err": grad_err,
            "agree_1e-4": logit_err < 1e-4 and grad_err < 1e-4,
            "float32_logits_rel_err": rel(lo32, lr32), "float32_grads_rel_err": rel(go32, gr32),
            "float32_noise_floor": rel(g_layout, gr32),
            "setup": "forward + backward; same weights and batch; errors are relative (2-norm) over all logits "
                     "and over the whole gradient, in float64"}


# 7 --------------------------------------------------------------------------------------------
DEAD_SCRIPT = """
import json, sys, torch
from gsnas.config import config, load_profile
from gsnas.search import search
profile, seed, prune_dead, out, threads, extra = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1", *sys.argv[4:]
if int(threads):
    torch.set_num_threads(int(threads))
search(config(load_profile(profile), "search", seed=seed, prune_dead=prune_dead, out=out, resume=False,
              **json.loads(extra)))
"""


def _search_run(work: Path, profile, seed, prune_dead, extra, threads=0) -> dict:
    """One whole search in a fresh process (``threads`` 0: torch's default); a run already in ``work`` is reused."""
    out = work / (f"seed{seed}-dead{int(prune_dead)}" + (f"-threads{threads}" if threads else ""))
    if not (out / "result.json").exists():
        subprocess.run([sys.executable, "-c", DEAD_SCRIPT, profile, str(seed), str(int(prune_dead)), str(out),
                        str(threads), json.dumps(extra or {})], capture_output=True, text=True, check=True, cwd=REPO)
    res = json.loads((out / "result.json").read_text())
    return {**res, "genotype": Genotype.from_dict(res["genotype"]) if res["genotype"] else None,
            "metrics": pd.read_csv(out / "metrics.csv")}


def _difference(a, b) -> int | None:
    return None if a is None or b is None else a.difference(b)


def dead_ops_search(seeds, profile="cpu", extra=None, work=None):
    """The whole search of a profile with and without removing dead operations, seed by seed.

    Each search runs in a fresh process; the two of a seed run back to back, their order
    alternating from seed to seed. Ratio: total wall time with removal / without.
    The rounding floor: the search without removal once more on one thread, which changes
    nothing but the order of floating-point sums. The genotypes of two searches that differ
    only in rounding show how many operations removal could change without changing the search.
    ``work`` keeps the runs; one already there is reused (a bench interrupted resumes).
    """
    import tempfile

    work = Path(work or tempfile.mkdtemp())
    per_seed = []
    for i, seed in enumerate(seeds):
        order = (False, True) if i % 2 == 0 else (True, False)
        runs = {d: _search_run(work, profile, seed, d, extra) for d in order}
        ref, dead = runs[False], runs[True]
        floor = _search_run(work, profile, seed, False, extra, threads=1)
        per_seed.append({"seed": seed, "seconds_without": ref["wall_seconds"], "seconds_with": dead["wall_seconds"],
                         "ratio": dead["wall_seconds"] / ref["wall_seconds"],
                         "same_genotype": dead["genotype"] == ref["genotype"],
                         "ops_found": ref["genotype"].num_ops() if ref["genotype"] else 0,
                         "ops_differing_removal": _difference(dead["genotype"], ref["genotype"]),
                         "ops_differing_rounding": _difference(floor["genotype"], ref["genotype"]),
                         "acc_without": ref["acc_before"], "acc_with": dead["acc_before"],
                         "acc_rounding": floor["acc_before"],
                         "ops_removed": dead["ops_removed"], "revived_without": ref["revived"],
                         "revived_after_steps_without": ref["revived_after_steps"],
                         "images_per_s": dead["metrics"]["images_per_s"].tolist(),
                         "images_per_s_without": ref["metrics"]["images_per_s"].tolist(),
                         "ops_computed": dead["metrics"]["ops_computed"].tolist()})
    ratio = sum(r["seconds_with"] for r in per_seed) / sum(r["seconds_without"] for r in per_seed)
    same = all(r["same_genotype"] for r in per_seed)
    within = all(r["ops_differing_removal"] is not None and r["ops_differing_rounding"] is not None
                 and r["ops_differing_removal"] <= r["ops_differing_rounding"] for r in per_seed)
    return {"figure": f"{profile} GS-NAS search removing dead ops / without (seeds {', '.join(map(str, seeds))})",
            "ours_ms": None, "baseline_ms": None, "ratio": ratio, "target": "<= 0.6, same genotypes",
            "met": ratio <= 0.6 and same, "same_genotypes": same, "within_rounding_floor": within,
            "seeds": per_seed,
            "setup": f"the {profile} profile's search settings{', with ' + json.dumps(extra) if extra else ''}; "
                     "each search in a fresh process; the rounding floor: the search without removal on one "
                     "thread against torch's default threads"}


# 4 --------------------------------------------------------------------------------------------
def notebook_times(results: Path):
    """Wall times of the last ``make reproduce`` of this profile (measured there, read here)."""
    path = results / "timings.csv"
    if not path.exists():
        return None
    df = pd.read_csv(path)
    total = df[df["notebook"] == "TOTAL"]
    rows = df[~df["notebook"].str.startswith("TOTAL")]
    total_s = float(total["wall_seconds"].iloc[0]) if len(total) else float("nan")
    return {"figure": "whole default reproduction (minutes)", "ours_ms": None, "baseline_ms": None,
            "ratio": total_s / 60, "target": "<= 150", "met": total_s / 60 <= 150,  # the experiments issue's budget
            "setup": f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}, {len(rows)} notebooks",
            "notebooks": rows[["notebook", "status", "wall_seconds"]].to_dict("records")}


# 5 --------------------------------------------------------------------------------------------
RSS_SCRIPT = """
import sys
from gsnas.config import config, load_profile
from gsnas.search import search
sizes = {"train_size": int(sys.argv[1]), **({"test_size": int(sys.argv[2])} if len(sys.argv) > 2 else {})}
cfg = config(load_profile("cpu"), "search", **sizes, epochs=1, out=None)  # the peak is in any epoch
search(cfg)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss across fork and exec, so it would report this benchmark's own peak
print(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""


def peak_rss(train_size, test_size=None):
    """Peak resident memory of the cpu profile's search (its settings, fewer training images, one epoch)."""
    sizes = [str(train_size)] + ([str(test_size)] if test_size else [])
    out = subprocess.run([sys.executable, "-c", RSS_SCRIPT, *sizes], capture_output=True, text=True,
                         check=True, cwd=REPO)
    gb = int(out.stdout.strip().splitlines()[-1]) / 2**20  # VmHWM is in KiB
    return {"figure": "peak RSS of the cpu search (GB)", "ours_ms": None, "baseline_ms": None, "ratio": gb,
            "target": "<= 4", "met": gb <= 4,
            "setup": f"cpu profile search settings, {train_size} training images"
                     + (f" and {test_size} test images" if test_size else "") + ", one epoch, in a fresh process"}


# 6 --------------------------------------------------------------------------------------------
def pruning_speed(results: Path, reps, device="cpu"):
    """Parameters, MFLOPs and latency of the unpruned DARTS_V2 network and each physically pruned one.

    The unpruned network is the one operation pruning trained (gated, as the pruned ones are).
    All networks are timed side by side, batch size by batch size (on a GPU, to the end of its work).
    """
    device = torch.device(device)
    torch.manual_seed(0)
    runs = (results / "runs" / "operation_pruning").glob("*/pruned_*.json")
    key = lambda p: (float(p.parent.name.split("-")[0].removeprefix("mu")), float(p.stem.removeprefix("pruned_")))
    runs = sorted(runs, key=key)
    cfg = json.loads(runs[0].read_text()) if runs else {"channels": 8, "layers": 5, "num_classes": 10,
                                                        "in_channels": 1, "gates": True}
    nets = {"unpruned": EvalNetwork(get_genotype("DARTS_V2"), cfg["channels"], cfg["layers"], cfg["num_classes"],
                                    cfg["in_channels"], gates=cfg["gates"])}
    for path in runs:
        mu, threshold = key(path)
        nets[f"mu={mu:g}, threshold={threshold:g}"] = EvalNetwork.from_config(json.loads(path.read_text()))
    size = 28
    rows = {name: {"network": name, "params": count_params(net), "mflops": mflops(net, size)}
            for name, net in nets.items()}
    for net in nets.values():
        net.to(device).eval().channels_last()
    done = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    for b, n in ((1, 5 * reps), (64, reps)):
        x = torch.randn(b, cfg["in_channels"], size, size, device=device)
        with torch.no_grad():
            t = side_by_side({name: (lambda net=net: (net(x), done())) for name, net in nets.items()}, n)
        for name in nets:
            rows[name][f"latency_b{b}_ms"] = 1e3 * t[name]
    df = pd.DataFrame(rows.values())
    base = df.iloc[0]
    df["speedup_b1"] = base["latency_b1_ms"] / df["latency_b1_ms"]
    df["speedup_b64"] = base["latency_b64_ms"] / df["latency_b64_ms"]
    return df


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, Python {platform.python_version()}"


def commit() -> str:
    """The code measured: HEAD's commit, "+changes" if the working tree differs from it."""
    git = lambda *a: subprocess.run(["git", *a], capture_output=True, text=True, cwd=REPO).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "unknown"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def regressions(figures: list[dict], previous: Path, tolerance: float = 0.2) -> None:
    """Mark each figure that is more than ``tolerance`` worse than in the committed results.json."""
    if not previous.exists():
        return
    before = {r["figure"]: r for r in json.loads(previous.read_text())["figures"]}
    for r in figures:
        old = before.get(r["figure"], {}).get("ratio")
        if not old or r["ratio"] is None or before[r["figure"]].get("setup", r.get("setup")) != r.get("setup"):
            continue  # new, or measured on another setup (a changed plan is not a regression)
        worse = old / r["ratio"] if r.get("higher_is_better") or r["target"].startswith(">=") else r["ratio"] / old
        r["previous"], r["regressed"] = old, worse > 1 + tolerance


def write_markdown(report: dict, speed: pd.DataFrame, path: Path) -> None:
    lines = [f"# Benchmark results\n", f"Generated by `make bench` on {report['date']} at commit {report['commit']}.\n",
             f"Machine: {report['machine']}.\n",
             "| figure | ours | baseline | ratio / value | target | met | previous |", "|---|---|---|---|---|---|---|"]
    for r in report["figures"]:
        fmt = lambda v: "" if v is None else f"{v:.1f} ms"
        met = "-" if r["met"] is None else "yes" if r["met"] else "no"
        prev = "" if "previous" not in r else f"{r['previous']:.2f}" + (" (regressed > 20 %)" if r["regressed"] else "")
        lines.append(f"| {r['figure']} | {fmt(r['ours_ms'])} | {fmt(r['baseline_ms'])} | {r['ratio']:.2f} | "
                     f"{r['target']} | {met} | {prev} |")
    lines.append("")
    dead = next((r for r in report["figures"] if "seeds" in r), None)
    if dead:
        lines += ["## Removing dead operations during the search", "",
                  pd.DataFrame(dead["seeds"]).to_markdown(index=False, floatfmt=".3g"), "",
                  f"Genotypes identical with and without removal on every seed: {_yes(dead['same_genotypes'])}. "
                  "Removal changes no more operations than rounding alone (`ops_differing_removal` <= "
                  f"`ops_differing_rounding`) on every seed: {_yes(dead.get('within_rounding_floor'))}.", ""]
    for r in report["figures"]:
        if "grads_rel_err" in r:
            lines.append(f"- {r['figure']}: in float64, logits relative error {r['logits_rel_err']:.1e} and "
                         f"gradient relative error {r['grads_rel_err']:.1e} (criterion 1e-4). In float32: "
                         f"{r['float32_logits_rel_err']:.1e} and {r['float32_grads_rel_err']:.1e}, against "
                         f"{r['float32_noise_floor']:.1e} for the reference itself in channels_last.")
        lines.append(f"- {r['figure']}: {r['setup']}.")
    nb = next((r for r in report["figures"] if "notebooks" in r), None)
    if nb:
        lines += ["", "## Notebook wall times (cpu profile)", "", "| notebook | status | seconds |", "|---|---|---|"]
        lines += [f"| {n['notebook']} | {n['status']} | {n['wall_seconds']:.0f} |" for n in nb["notebooks"]]
    lines += ["", "## Real speed of pruning (CPU, eval mode, channels_last, 28x28)", "",
              speed.to_markdown(index=False, floatfmt=".3g"), ""]
    lines += gpu_markdown(HERE / "gpu.json")
    path.write_text("\n".join(lines))


def _yes(flag) -> str:
    return "not measured" if flag is None else "yes" if flag else "no"


def gpu_markdown(path: Path) -> list[str]:
    """The last run of gpu.py on a lent GPU (benchmarks/gpu.json), if there is one."""
    if not path.exists():
        return ["## GPU", "", "No GPU run recorded: `benchmarks/gpu_check.sh` on a GPU machine writes gpu.json.", ""]
    gpu = json.loads(path.read_text())
    rows = pd.DataFrame(gpu["rows"])
    lines = [f"## GPU: {gpu['device']}, torch {gpu['torch']}, {gpu.get('date', '')}", "",
             "Paper-scale steps with the data on the device; hours extrapolate SPEC §5 "
             "(search 100 epochs, evaluation 600 epochs, of 50k images).", "",
             rows.to_markdown(index=False, floatfmt=".4g"), "",
             "ProxSGD.step against foreach SGD on the paper's supernet (ms): "
             + ", ".join(f"{k} {v:.3g}" for k, v in gpu["optimizer_step_ms"].items()) + ".", ""]
    if gpu.get("pruning_speed"):
        lines += ["Real speed of pruning on this GPU (eval mode, channels_last, 28x28):", "",
                  pd.DataFrame(gpu["pruning_speed"]).to_markdown(index=False, floatfmt=".3g"), ""]
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions and smaller shapes (tests)")
    parser.add_argument("--results", default=str(REPO / "results" / "cpu"), help="a reproduction's results")
    parser.add_argument("--out", default=str(HERE), help="where results.json and RESULTS.md go")
    parser.add_argument("--work", help="where the whole searches run (kept; a search already there is reused)")
    args = parser.parse_args(argv)
    reps = 3 if args.quick else 9
    results, out = Path(args.results), Path(args.out)
    # --quick: the tests' check that every figure is computed, at sizes that take seconds (its numbers mean little)
    figures = [optimizer_step(reps), search_step_vs_darts(reps, *((4, 3, 8, 16) if args.quick else ()))]
    figures.append(supernet_vs_reference(1, 4, 3, 8, 8) if args.quick else supernet_vs_reference(reps, 8, 5, 16, 32))
    if not args.quick:
        figures.append(supernet_vs_reference(3, 16, 8, 32, 16))
    nb = notebook_times(results)
    if nb:
        figures.append(nb)
    figures.append(peak_rss(64, 64) if args.quick else peak_rss(640))
    if args.quick:  # a search that removes ops within its 32 steps
        figures.append(dead_ops_search([0], "smoke", {"space": "s2", "train_size": 64, "batch_size": 4, "lr": 0.6,
                                                      "mu": 3.0, "grad_clip": 1.0, "epochs": 2, "prune_patience": 2},
                                      work=args.work))
    else:
        figures.append(dead_ops_search([0, 1, 2], work=args.work))
    speed = pruning_speed(results, reps)
    regressions(figures, HERE / "results.json")
    report = {"date": datetime.date.today().isoformat(), "commit": commit(), "machine": machine(),
              "figures": figures, "pruning_speed": speed.to_dict("records")}
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(report, indent=1, default=float) + "\n")
    write_markdown(report, speed, out / "RESULTS.md")
    if results.exists() and not args.quick:  # for the book, beside Figure 1
        speed.assign(machine=report["machine"], date=report["date"]).to_csv(results / "pruning_speed.csv",
                                                                            index=False)
    table = pd.DataFrame([{k: r.get(k) for k in ("figure", "ratio", "target", "met", "previous", "regressed")}
                          for r in figures])
    print(table.to_string(index=False, float_format="%.2f"))
    for r in figures:
        if r.get("regressed"):
            print(f"REGRESSED by more than 20 %: {r['figure']}: {r['ratio']:.2f} (was {r['previous']:.2f})")
    print(speed.to_string(index=False, float_format="%.3g"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
