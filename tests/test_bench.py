"""`make bench` runs end to end (quick mode) and reports every figure; timings are not asserted."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import bench  # noqa: E402
from gsnas import report as report_module  # noqa: E402


def test_regressions_are_flagged_in_the_direction_of_the_target(tmp_path):
    previous = tmp_path / "results.json"
    previous.write_text(json.dumps({"figures": [{"figure": "a", "ratio": 0.5}, {"figure": "b", "ratio": 2.0},
                                                {"figure": "c", "ratio": 0.5},
                                                {"figure": "d", "ratio": 30.0, "setup": "19 notebooks"}]}))
    figures = [{"figure": "a", "ratio": 0.61, "target": "<= 1.0"},         # 22 % slower
               {"figure": "b", "ratio": 1.6, "target": ">= 3"},           # a speed-up 25 % smaller
               {"figure": "c", "ratio": 0.59, "target": "<= 1.0"},        # 18 % slower: within noise
               {"figure": "new", "ratio": 1.0, "target": "<= 1.0"},
               {"figure": "d", "ratio": 260.0, "target": "<= 150", "setup": "89 notebooks"}]  # another plan
    bench.regressions(figures, previous)
    assert [f.get("regressed") for f in figures] == [True, True, False, None, None]


def test_removal_summary_follows_the_numbers(tmp_path):
    seeds = [{"seed": s, "ratio": 0.5, "ops_differing_removal": r, "ops_differing_rounding": f}
             for s, r, f in ((0, 4, 5), (1, 3, 2))]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"date": "d", "machine": "m", "commit": "c", "figures": [
        {"figure": "f", "ratio": 0.55, "same_genotypes": False, "within_rounding_floor": False, "seeds": seeds}]}))
    table = report_module.removal_bench(path)
    assert list(table["ops changed by rounding"]) == [5, 2] and table["ops found"].isna().all()
    text = report_module.removal_summary(table)
    assert "**0.55×**" in text and "identical on every seed: **no**" in text and "changes 2-5 of" in text
    assert text.endswith("on every seed: **no**.")
    assert report_module.removal_bench(tmp_path / "absent.json") is None


@pytest.mark.slow
def test_bench_quick_reports_every_figure(smoke, tmp_path):
    """On the smoke run's results (its pruned networks), not on whatever results/cpu holds."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench.py"), "--quick", "--out", str(tmp_path),
                           "--results", str(smoke.results)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "results.json").read_text())
    figures = {f["figure"].split(" (")[0]: f for f in report["figures"]}
    assert {"ProxSGD.step / SGD(foreach).step", "GS-NAS step / DARTS first-order step",
            "supernet step speed-up over the edge-by-edge NCHW reference", "peak RSS of the cpu search"} <= set(figures)
    reference = figures["supernet step speed-up over the edge-by-edge NCHW reference"]
    assert reference["agree_1e-4"], reference  # the fast path computes the same logits and gradients
    assert 0 < figures["peak RSS of the cpu search"]["ratio"] < 24
    dead = figures["smoke GS-NAS search removing dead ops / without"]
    assert dead["same_genotypes"] and dead["seeds"][0]["ops_removed"] > 0, dead
    assert dead["seeds"][0]["ops_computed"][-1] < dead["seeds"][0]["ops_computed"][0]
    assert dead["seeds"][0]["ops_differing_removal"] == 0 and dead["seeds"][0]["ops_differing_rounding"] is not None
    table = report_module.removal_bench(tmp_path / "results.json")  # what the book's beyond chapter shows
    assert list(table["seed"]) == [0] and table["ops changed by removal"].iloc[0] == 0
    speed = report["pruning_speed"]
    assert speed[0]["network"] == "unpruned" and all(r["latency_b64_ms"] > 0 for r in speed)
    assert all(r["params"] <= speed[0]["params"] for r in speed)  # pruning never adds weights
    assert (tmp_path / "RESULTS.md").read_text().startswith("# Benchmark results")


@pytest.mark.slow
def test_gpu_script_dry_run_on_cpu(smoke, tmp_path):
    out = tmp_path / "gpu.json"
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu.py"), "--device", "cpu", "--steps", "1",
                           "--batch-scale", "0.05", "--tiny", "--out", str(out),
                           "--pruning", str(smoke.results)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    rows = report["rows"]
    modes = ("fp32 NCHW", "bf16 + channels_last", "bf16 + channels_last, loss.item() per step")  # graphs: CUDA only
    assert [(r["what"], r["mode"]) for r in rows] == [(w, m) for w in ("search step", "evaluation step") for m in modes]
    assert all(r["images_per_s"] > 0 and r["paper_protocol_hours"] > 0 for r in rows)
    assert set(report["optimizer_step_ms"]) == {"ProxSGD (flat)", "ProxSGD (per tensor)", "SGD (foreach)"}
    assert report["pruning_speed"][0]["network"] == "unpruned" and len(report["pruning_speed"]) > 1
