"""Every entry point rejects bad input with one line naming the value; nothing written is touched."""
import contextlib

import pytest

from gsnas.cli import main

BAD = [
    (["search", "--space", "s9"], "unknown search space 's9'"),
    (["search", "--space", "darts", "--method", "darts", "--channels", "0"], "channels must be an integer >= 1"),
    (["search", "--mu", "-1"], "mu must be a number >= 0, got -1"),
    (["search", "--lr", "0"], "lr must be a number > 0, got 0"),
    (["search", "--rho", "1.5"], "rho must be in (0, 1], got 1.5"),
    (["search", "--rho", "0"], "rho must be in (0, 1], got 0"),
    (["search", "--thresholds", "[0]"], "threshold must be a number > 0, got 0"),
    (["search", "--epochs", "0"], "epochs must be an integer >= 1, got 0"),
    (["search", "--batch-size", "0"], "batch_size must be an integer >= 1, got 0"),
    (["search", "--layers", "2"], "layers must be an integer >= 3"),
    (["search", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["search", "--tau", "fast"], "unknown tau 'fast'"),
    (["search", "--normalize", "sqrt"], "unknown normalize 'sqrt'"),
    (["search", "--image-size", "4"], "image_size must be >= 8 (two reductions), got 4"),
    (["search", "--profile", "gpu"], "unknown profile 'gpu'"),
    (["search", "--learning-rate", "1"], None),  # argparse: unrecognized option
    (["train", "--genotype", "DARTS_V7"], "unknown genotype 'DARTS_V7'"),
    (["train", "--genotype", "missing.json"], "genotype file 'missing.json' does not exist"),
    (["train", "--image-size", "16", "--auxiliary-weight", "0.4"], "auxiliary head needs images of at least 29x29"),
    (["train", "--drop-path-prob", "1.0"], "drop_path_prob must be in [0, 1), got 1.0"),
    (["prune", "--mu", "-0.1"], "mu must be a number >= 0, got -0.1"),
    (["prune", "--model", "nope.json"], "cannot read model file 'nope.json'"),
]


@pytest.mark.parametrize("args, message", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_input_is_one_line_exit_2(capsys, tmp_path, args, message):
    out = tmp_path / "run"
    common = ["--profile", "smoke"] if "--profile" not in args else []
    with pytest.raises(SystemExit) if message is None else contextlib.nullcontext():
        code = main([*args, *common, "--out", str(out)])
        assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert "Traceback" not in "\n".join(err)
    if message:
        assert len(err) == 1 and message in err[0], err
    assert not (out / "checkpoint.pt").exists()


def test_bad_genotype_json_file(capsys, tmp_path):
    bad = tmp_path / "g.json"
    bad.write_text('{"normal": [["sep_conv_3x3", 9]], "reduce": []}')
    assert main(["train", "--profile", "smoke", "--genotype", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "g.json" in capsys.readouterr().err


def test_unwritable_output_folder(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    assert main(["search", "--profile", "smoke", "--out", str(blocker / "run")]) == 2
    assert "cannot create output folder" in capsys.readouterr().err
    assert blocker.read_text() == "a file, not a folder"


@pytest.mark.parametrize("content, message", [(b"PK\x03\x04" + b"\0" * 40, "is truncated or corrupted"),
                                              (b"GSNASCKPT1\n" + b"\0" * 40, "has the old gsnas format")],
                         ids=["corrupted", "old-format"])
def test_resume_of_a_bad_checkpoint_is_one_line(capsys, tmp_path, content, message):
    run = tmp_path / "run"
    run.mkdir()
    (run / "checkpoint.pt").write_bytes(content)
    assert main(["search", "--profile", "smoke", "--out", str(run), "--resume"]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert (run / "checkpoint.pt").read_bytes() == content

