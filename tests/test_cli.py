"""``gsnas describe`` and the README's library example."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from gsnas import DARTS_V2, SPACES, Genotype
from gsnas.cli import main

ROOT = Path(__file__).resolve().parents[1]


def describe(capsys, *args):
    assert main(["describe", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("space", list(SPACES))
def test_describe_supernet_every_space(capsys, space):
    out = describe(capsys, "--model", "supernet", "--space", space, "--channels", "4", "--layers", "3",
                   "--in-channels", "1", "--image-size", "28")
    assert out["groups"] == (196 if space == "darts" else 56)
    assert out["params"] == out["params_no_aux"] > 0 and out["mflops"] > 0


@pytest.mark.parametrize("name", ["DARTS_V1", "DARTS_V2"])
def test_describe_eval(capsys, name):
    out = describe(capsys, "--model", "eval", "--genotype", name, "--channels", "36", "--layers", "20",
                   "--classes", "10", "--in-channels", "3", "--auxiliary")
    assert out["params"] > out["params_no_aux"]
    if name == "DARTS_V2":
        assert out["params_no_aux"] == 3_349_342
        assert 500 < out["mflops"] < 560  # DARTS_V2 is commonly quoted at ~528M multiply-adds
        assert out["genotype"] == DARTS_V2.to_dict()


def test_describe_genotype_file_and_gates(capsys, tmp_path):
    DARTS_V2.save(tmp_path / "g.json")
    out = describe(capsys, "--model", "eval", "--genotype", str(tmp_path / "g.json"), "--channels", "8",
                   "--layers", "5", "--gates")
    assert out["groups"] == 5 * 8
    pasted = describe(capsys, "--model", "eval", "--genotype", DARTS_V2.to_json(), "--channels", "8", "--layers", "5")
    assert pasted["genotype"] == DARTS_V2.to_dict()  # JSON text, as in the genotype column of searches.csv


@pytest.mark.parametrize("args, message", [
    (["--space", "s9"], "unknown search space 's9'"),
    (["--model", "eval", "--genotype", "nope.json"], "genotype file 'nope.json' does not exist"),
    (["--layers", "2"], "layers must be an integer >= 3"),
])
def test_describe_bad_input_exits_2_with_one_line(capsys, args, message):
    assert main(["describe", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


@pytest.mark.slow
def test_console_entry_point_runs():
    out = subprocess.run([sys.executable, "-m", "gsnas", "describe", "--space", "s2", "--channels", "4",
                          "--layers", "3"], capture_output=True, text=True, check=True).stdout
    assert json.loads(out)["groups"] == 56


@pytest.mark.slow
def test_readme_library_example_runs_as_written(capsys):
    code = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    scope = {}
    exec(compile(code, "README.md", "exec"), scope)
    out = capsys.readouterr().out
    assert "groups pruned at threshold 1e-6" in out and "normal: 2 <-" in out
    pruned, net = scope["pruned"], scope["net"]
    assert sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in net.parameters())


@pytest.mark.slow
def test_cli_search_resume_and_overrides(capsys, tmp_path):
    out = tmp_path / "run"
    args = ["search", "--profile", "smoke", "--space", "s2", "--epochs", "1", "--out", str(out)]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["config"]["space"] == "s2" and (out / "checkpoint.pt").exists() and (out / "genotype.json").exists()
    assert main(args[:-4] + ["--epochs", "2", "--out", str(out), "--resume"]) == 0
    resumed = json.loads(capsys.readouterr().out)
    assert resumed["config"]["epochs"] == 2
    metrics = (out / "metrics.csv").read_text().splitlines()
    assert len(metrics) == 3  # header + epoch 1 (kept) + epoch 2 (resumed)


@pytest.mark.slow
def test_cli_darts_and_prune(capsys, tmp_path):
    small = ["--train-size", "128", "--epochs", "1"]
    assert main(["search", "--method", "darts", "--profile", "smoke", *small, "--out", str(tmp_path / "d")]) == 0
    assert Genotype.load(tmp_path / "d" / "genotype.json").is_standard
    assert main(["prune", "--profile", "smoke", "--mu", "0.5", *small, "--out", str(tmp_path / "p")]) == 0
    assert (tmp_path / "p" / "pruned_1e-06.json").exists()


@pytest.mark.parametrize("args, message", [
    (["search", "--profile", "nope"], "unknown profile 'nope'"),
    (["search", "--profile", "smoke", "--lr", "-1"], "lr must be a number > 0, got -1"),
    (["train", "--profile", "smoke", "--genotype", "DARTS_V9"], "unknown genotype 'DARTS_V9'"),
    (["train", "--profile", "smoke", "--genotype", '{"normal": []}'], "missing ['reduce']"),
    (["train", "--profile", "smoke", "--genotype", "5"], "unknown genotype 5"),
])
def test_cli_training_bad_input(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
