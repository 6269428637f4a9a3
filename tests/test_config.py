"""One default per setting (the paper's), profiles as deviations, unknown keys rejected by name."""
from dataclasses import asdict, fields

import pytest
import yaml

from gsnas import config as C
from gsnas.experiments import ROUTINES
from gsnas.groups import THRESHOLDS


def test_defaults_are_the_papers_protocol():
    """SPEC §5, field by field."""
    s = C.SearchConfig()
    assert (s.dataset, s.channels, s.layers, s.batch_size, s.epochs, s.lr, s.rho, s.tau, s.mu, s.normalize,
            s.grad_clip) == ("cifar10", 16, 8, 64, 100, 1e-3, 0.8, "constant", 60.0, "div", 0.0)
    e = C.TrainConfig()
    assert (e.channels, e.layers, e.epochs, e.batch_size, e.lr, e.lr_min, e.momentum, e.weight_decay, e.cutout,
            e.drop_path_prob, e.auxiliary_weight, e.grad_clip) == (36, 14, 600, 96, 0.025, 0.0, 0.9, 3e-4, 16, 0.3,
                                                                   0.4, 5.0)
    p = C.PruneConfig()
    assert (p.genotype, p.channels, p.layers, p.epochs, p.batch_size, p.lr, p.lr_min, p.rho, p.tau, p.normalize,
            p.group_by, p.cutout, p.drop_path_prob, p.auxiliary_weight) == (
        "DARTS_V2", 36, 20, 600, 96, 1e-3, 1e-4, 0.9, "adaptive", "none", "operation", 16, 0.2, 0.4)
    r = C.RetrainConfig()
    assert (r.lr, r.lr_min, r.epochs, r.drop_path_prob) == (0.035, 0.0, 600, 0.2)
    d = C.DartsConfig()
    assert (d.epochs, d.lr, d.lr_min, d.momentum, d.weight_decay, d.arch_lr, d.arch_weight_decay, d.grad_clip) == (
        50, 0.025, 0.001, 0.9, 3e-4, 3e-4, 1e-3, 5.0)
    assert tuple(s.thresholds) == tuple(p.thresholds) == THRESHOLDS == (1e-6, 1e-3, 0.5)


def test_paper_profile_is_the_defaults():
    prof = C.load_profile("paper")
    for section, cls in C.SECTIONS.items():
        assert asdict(C.config(prof, section)) == asdict(cls()), section


@pytest.mark.parametrize("name", ["smoke", "cpu", "paper"])
def test_profiles_list_deviations_only(name):
    raw = yaml.safe_load((C.PROFILES / f"{name}.yaml").read_text()) or {}
    for key, value in raw.items():
        if key in C.PLAN and key != "description":
            assert value != C.PLAN[key], f"{name}: {key} repeats the default"
    for section, cls in C.SECTIONS.items():
        for key, value in (raw.get(section) or {}).items():
            assert value != getattr(cls(), key), f"{name}: {section}.{key} = {value!r} repeats the default"


@pytest.mark.parametrize("text, message", [
    ("lr_typo: 1", "unknown key(s) ['lr_typo']"),
    ("dataset: cifar10", "unknown key(s) ['dataset']"),
    ("search: {learning_rate: 0.1}", "unknown search setting(s) ['learning_rate']"),
    ("evaluate: {mu: 1.0}", "unknown evaluate setting(s) ['mu']"),
    ("common: {space: s2}", "unknown common setting(s) ['space']"),
    ("search: [1, 2", "is not valid YAML"),
    ("subspaces: [s2, s9]", "unknown search space 's9'"),
    ("seeds: [0, one]", "seeds in profile mine.yaml must be a list of integers >= 0"),
    ("mus: [0.1, -1]", "mu must be a number > 0, got -1"),
    ("resources: {searches: {gpus: 2}}", "unknown resources section(s) ['searches']"),
    ("resources: {search: {gpu: 2}}", "unknown resource(s) ['gpu']"),
    ("resources: {common: {threads: 0}}", "resources threads in profile mine.yaml must be an integer >= 1, got 0"),
])
def test_unknown_or_unread_key_is_an_error_naming_it(tmp_path, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text + "\n")
    with pytest.raises(ValueError) as err:
        C.load_profile(path)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_plan_defaults_and_overrides():
    prof = C.load_profile("smoke")
    assert prof["seeds"] == [0] and prof["eval_seeds"] == [0] and prof["subspaces"] == ["s2"]
    paper = C.load_profile("paper")
    assert {k: paper[k] for k in C.PLAN} == C.PLAN
    assert paper["resources"] == C.RESOURCES
    assert prof["resources"]["evaluate"] == {"threads": 1, "gpus": 0, "mem_mb": 2000, "runtime": 10}  # common


def test_resources_per_notebook_over_common(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("resources: {common: {gpus: 2, mem_mb: 8000}, search: {gpus: 4}}\n")
    res = C.load_profile(path)["resources"]
    assert res["search"] == {**C.RESOURCES["search"], "gpus": 4, "mem_mb": 8000}
    assert res["evaluate"] == {**C.RESOURCES["evaluate"], "gpus": 2, "mem_mb": 8000}


def test_one_table_of_routines():
    assert set(ROUTINES) == set(C.SECTIONS)
    for name, routine in ROUTINES.items():
        assert (C.PROFILES.parent / f"{routine.notebook}.ipynb").is_file(), name
    commands = {r.command for r in ROUTINES.values() if r.command}
    assert commands == {"search", "search --method darts", "train", "prune"}


def test_every_config_field_has_one_default():
    """No subclass redefines a field to the value it inherits (a second place for one default)."""
    for cls in C.SECTIONS.values():
        for base in cls.__mro__[1:]:
            if base is object or not hasattr(base, "__dataclass_fields__"):
                continue
            own = cls.__dict__.get("__annotations__", {})
            for f in fields(base):
                if f.name in own:
                    assert getattr(cls(), f.name) != getattr(base(), f.name), (cls.__name__, f.name)
