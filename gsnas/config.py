"""Every setting's one default (the paper's, SPEC §5) and profiles as deviations from them.

A config dataclass per routine holds the defaults; a profile (``notebooks/profiles/NAME.yaml``)
lists only what it changes: a ``common`` section merged into every routine's section, one
section per routine (``SECTIONS``), the experiment plan (``PLAN``: seeds, spaces, mus) and
what a job of each notebook asks of a machine (``RESOURCES``, for the Snakemake workflow).
Any key that nothing reads is an error naming it, so a typo cannot silently fall back to a
default.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import yaml

from . import data
from .cell import check_dims
from .genotype import Genotype, get_genotype
from .groups import GROUP_BY, THRESHOLDS, check_threshold
from .proxsgd import TAU_MODES, check_mu
from .spaces import get_space

REPO = Path(__file__).resolve().parents[1]
PROFILES = REPO / "notebooks" / "profiles"


@dataclass
class RunConfig:
    dataset: str = "cifar10"
    data_root: str | None = None
    image_size: int | None = None     # None: the dataset's native size
    train_size: int | None = None     # None: the whole training set
    test_size: int | None = None      # None: the whole test set
    batch_size: int = 64
    eval_batch_size: int = 256
    epochs: int = 1                   # each routine sets the paper's
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


# Controls of a search (rows say which): the same search on permuted training labels, or with the loss
# gradient zeroed (what the penalty alone selects). What a search shares with its controls it did not
# select for the data.
CONTROLS = ("none", "shuffled_labels", "penalty_only")


def _control(control, valid=CONTROLS):
    if control not in valid:
        raise ValueError(f"unknown control {control!r}; valid: {', '.join(valid)}")


@dataclass
class SearchConfig(RunConfig):
    """GS-NAS search (SPEC §5, Table 2): supernet C=16, 8 cells, 100 epochs, batch 64."""
    epochs: int = 100
    space: str = "darts"
    channels: int = 16
    layers: int = 8
    lr: float = 1e-3
    rho: float = 0.8
    tau: str = "constant"
    mu: float = 60.0
    normalize: str = "div"
    grad_clip: float = 0.0            # 0: no clipping (the paper's search)
    thresholds: list = field(default_factory=lambda: list(THRESHOLDS))
    prune_dead: bool = True           # stop computing ops that are dead (gsnas.search.DeadOps): a speedup, not a
                                      # change of method (the genotype is meant to stay the same: make bench checks)
    prune_patience: int = 10          # ...once its prox point was 0 this many steps in a row,
    prune_threshold: float = 1e-6     # ...its norm is at most this, and it will be <= thresholds[0] at the end
    control: str = "none"             # CONTROLS: "shuffled_labels" or "penalty_only" make this search a control

    def __post_init__(self):
        super().__post_init__()
        _control(self.control)
        _positive("lr", self.lr)
        _rho(self.rho)
        _positive("mu", self.mu, allow_zero=True)
        _positive("grad_clip", self.grad_clip, allow_zero=True)
        _thresholds(self.thresholds)
        get_space(self.space)
        check_dims(self.channels, self.layers, 2, 1)
        check_mu(self.mu, self.normalize)
        if not isinstance(self.prune_dead, bool):
            raise ValueError(f"prune_dead must be true or false, got {self.prune_dead!r}")
        _positive_int("prune_patience", self.prune_patience)
        _positive("prune_threshold", self.prune_threshold)
        if self.tau not in TAU_MODES:
            raise ValueError(f"unknown tau {self.tau!r}; valid: {', '.join(TAU_MODES)}")


@dataclass
class DartsConfig(RunConfig):
    """DARTS first-order search on the same supernet (SPEC §7), DARTS' 50 epochs."""
    epochs: int = 50
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
    control: str = "none"             # "shuffled_labels": does alpha move for the data or for the ops' shapes?

    def __post_init__(self):
        super().__post_init__()
        _control(self.control, CONTROLS[:2])
        _positive("lr", self.lr)
        _positive("arch_lr", self.arch_lr)
        get_space(self.space)
        check_dims(self.channels, self.layers, 2, 1)


@dataclass
class TrainConfig(RunConfig):
    """Training a found cell's EvalNetwork from scratch (SPEC §5 evaluation, Table 2): 14 cells, C=36, 600 epochs."""
    epochs: int = 600
    batch_size: int = 96
    genotype: str = "DARTS_V2"        # name, JSON file, genotype dict, or a Genotype
    model: str | None = None          # a model JSON (EvalNetwork.config(), e.g. a pruned network): overrides genotype
    channels: int = 36
    layers: int = 14
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
class RetrainConfig(TrainConfig):
    """Retraining a pruned network from scratch (SPEC §5, Figure 1): SGD lr 0.035 cosine to 0, 600 epochs."""
    layers: int = 20
    lr: float = 0.035
    drop_path_prob: float = 0.2


@dataclass
class PruneConfig(TrainConfig):
    """Operation pruning of DARTS_V2 with ProxSGD (SPEC §5, Table 1 / Figure 1): 20 cells, C=36, adaptive tau."""
    layers: int = 20
    mu: float = 1e-4
    lr: float = 1e-3
    lr_min: float = 1e-4
    rho: float = 0.9
    tau: str = "adaptive"
    normalize: str = "none"
    group_by: str = "operation"       # "operation": the paper's groups; "tensor": the authors' code (every tensor)
    drop_path_prob: float = 0.2
    thresholds: list = field(default_factory=lambda: list(THRESHOLDS))

    def __post_init__(self):
        super().__post_init__()
        _rho(self.rho)
        _thresholds(self.thresholds)
        check_mu(self.mu, self.normalize)
        if self.group_by not in GROUP_BY:
            raise ValueError(f"unknown group_by {self.group_by!r}; valid: {', '.join(GROUP_BY)}")
        if self.tau not in TAU_MODES:
            raise ValueError(f"unknown tau {self.tau!r}; valid: {', '.join(TAU_MODES)}")


# --- profiles -----------------------------------------------------------------------------------

SECTIONS = {"search": SearchConfig, "darts": DartsConfig, "evaluate": TrainConfig,
            "operation_pruning": PruneConfig, "retrain": RetrainConfig}
# The experiment plan (the paper's: 3 searches x 3 evaluations, Table 3's spaces, Figure 1's mus).
# Beyond the paper: random search (``random_seeds``), reference cells evaluated the same way
# (``reference_cells``), pruned networks retrained with several seeds (``retrain_seeds``) and the
# random-pruning control at some of the mus (``random_pruning_mus``), the width baseline (the unpruned
# network made narrower, ``width_channels``: C per retrained network, to compare pruned networks with plain
# ones of as many weights), and the searches' controls on the darts space for every seed (``controls``:
# permuted labels, the penalty alone; DARTS has the first). The evaluation budget's learning curves
# (``learning_curve_cells``: genotype names, or a search method for its darts-space search with seed 0;
# ``learning_curve_sizes``: training images per epoch, each trained with the evaluation protocol otherwise;
# ``learning_curve_seeds``).
PLAN = {"description": "the paper's protocol on CIFAR-10", "seeds": [0, 1, 2], "eval_seeds": [0, 1, 2],
        "subspaces": ["s1", "s2", "s4"], "subspace_seeds": [0, 1, 2],
        "mus": [1e-4, 2e-4, 5e-4, 2e-3, 4e-3],
        "random_seeds": [0, 1, 2], "reference_cells": ["DARTS_V2"], "retrain_seeds": [0],
        "random_pruning_mus": [], "width_channels": [], "controls": [],
        "learning_curve_cells": [], "learning_curve_sizes": [], "learning_curve_seeds": [0]}


# What one job of each notebook asks for (the paper's protocol on GPUs): Snakemake's threads and
# resources (``gpu``, ``mem_mb``, ``runtime`` in minutes; the SLURM profile turns them into sbatch
# options). gpus > 1 runs the job's training under torchrun, one process per GPU. A profile's
# ``resources`` section changes them per notebook, or for all under ``common``.
RESOURCES = {"search": {"threads": 8, "gpus": 1, "mem_mb": 32000, "runtime": 2880},
             "random_search": {"threads": 1, "gpus": 0, "mem_mb": 2000, "runtime": 10},
             "darts_baseline": {"threads": 8, "gpus": 1, "mem_mb": 32000, "runtime": 2880},
             "evaluate": {"threads": 8, "gpus": 1, "mem_mb": 32000, "runtime": 4320},
             "operation_pruning": {"threads": 8, "gpus": 1, "mem_mb": 32000, "runtime": 5760},
             "retrain": {"threads": 8, "gpus": 1, "mem_mb": 32000, "runtime": 5760},
             "learning_curve": {"threads": 8, "gpus": 1, "mem_mb": 32000, "runtime": 4320}}


def load_profile(profile: str | Path) -> dict:
    """A profile by name (smoke, cpu, paper) or path to a YAML file, checked key by key.

    Returns the plan (``PLAN`` with the profile's values), ``name``, ``common``, one dict
    of deviations per section and ``resources`` (``RESOURCES`` with the profile's values).
    """
    path = Path(profile) if str(profile).endswith((".yaml", ".yml")) else PROFILES / f"{profile}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in PROFILES.glob("*.yaml"))
        raise ValueError(f"unknown profile {str(profile)!r}; valid: {', '.join(names)} or a .yaml file")
    return parse_profile(path.read_text(), path.name)


def parse_profile(text: str, filename: str) -> dict:
    """A profile from its YAML text (``load_profile``); ``filename`` names it in errors, its stem is its name."""
    path = Path(filename)
    try:
        prof = yaml.safe_load(text) or {}
    except yaml.YAMLError as e:
        raise ValueError(f"profile {path} is not valid YAML: {str(e).splitlines()[0]}") from None
    known = {*PLAN, "common", *SECTIONS, "resources"}
    unknown = sorted(set(prof) - known)
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} in profile {path.name}; valid: {sorted(known)}")
    common = prof.get("common") or {}
    _check_keys(path.name, "common", common, RunConfig)
    for section, cls in SECTIONS.items():
        _check_keys(path.name, section, prof.get(section) or {}, cls)
    plan = {**PLAN, **{k: v for k, v in prof.items() if k in PLAN}}
    _check_plan(path.name, plan)
    return {**plan, "name": path.stem, "common": common, **{s: prof.get(s) or {} for s in SECTIONS},
            "resources": _resources(path.name, prof.get("resources") or {})}


def _check_plan(name, plan):
    for key in ("seeds", "eval_seeds", "subspace_seeds", "random_seeds", "retrain_seeds", "learning_curve_seeds"):
        if not isinstance(plan[key], list) or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                                                      for s in plan[key]):
            raise ValueError(f"{key} in profile {name} must be a list of integers >= 0, got {plan[key]!r}")
    if not isinstance(plan["subspaces"], list):
        raise ValueError(f"subspaces in profile {name} must be a list of spaces, got {plan['subspaces']!r}")
    for space in plan["subspaces"]:
        get_space(space)
    if not isinstance(plan["mus"], list):
        raise ValueError(f"mus in profile {name} must be a list of numbers > 0, got {plan['mus']!r}")
    for mu in plan["mus"]:
        _positive("mu", mu)
    if not isinstance(plan["random_pruning_mus"], list) or not set(plan["random_pruning_mus"]) <= set(plan["mus"]):
        raise ValueError(f"random_pruning_mus in profile {name} must be a list of the profile's mus "
                         f"{plan['mus']}, got {plan['random_pruning_mus']!r}")
    widths = plan["width_channels"]
    if not isinstance(widths, list) or not all(isinstance(c, int) and not isinstance(c, bool) and c >= 1
                                               for c in widths):
        raise ValueError(f"width_channels in profile {name} must be a list of integers >= 1, got {widths!r}")
    if not isinstance(plan["reference_cells"], list):
        raise ValueError(f"reference_cells in profile {name} must be a list of genotype names, "
                         f"got {plan['reference_cells']!r}")
    for name_ in plan["reference_cells"]:
        get_genotype(name_)
    sizes = plan["learning_curve_sizes"]
    if not isinstance(sizes, list) or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in sizes):
        raise ValueError(f"learning_curve_sizes in profile {name} must be a list of integers >= 1 (training images "
                         f"per epoch), got {sizes!r}")
    cells = plan["learning_curve_cells"]
    if not isinstance(cells, list):
        raise ValueError(f"learning_curve_cells in profile {name} must be a list of genotype names or search "
                         f"methods, got {cells!r}")
    for cell in cells:
        if cell not in ("gsnas", "darts", "random"):
            get_genotype(cell)
        elif 0 not in plan["random_seeds" if cell == "random" else "seeds"]:
            raise ValueError(f"learning_curve_cells in profile {name}: {cell!r} is its darts-space search with "
                             f"seed 0, which the profile's seeds do not hold")
    if not isinstance(plan["controls"], list):
        raise ValueError(f"controls in profile {name} must be a list of {list(CONTROLS[1:])}, got {plan['controls']!r}")
    for control in plan["controls"]:
        _control(control, CONTROLS[1:])


def _resources(name, values: dict) -> dict:
    """``RESOURCES`` with a profile's ``common`` and per-notebook values, checked by name."""
    unknown = sorted(set(values) - {"common", *RESOURCES})
    if unknown:
        raise ValueError(f"unknown resources section(s) {unknown} in profile {name}; valid: "
                         f"{sorted({'common', *RESOURCES})}")
    out = {}
    for notebook, defaults in RESOURCES.items():
        merged = {**defaults, **(values.get("common") or {}), **(values.get(notebook) or {})}
        unknown = sorted(set(merged) - set(defaults))
        if unknown:
            raise ValueError(f"unknown resource(s) {unknown} in profile {name}; valid: {sorted(defaults)}")
        for key, value in merged.items():
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if key == "gpus" else 1):
                raise ValueError(f"resources {key} in profile {name} must be an integer >= "
                                 f"{0 if key == 'gpus' else 1}, got {value!r}")
        out[notebook] = merged
    return out


def _check_keys(name, section, values, cls):
    valid = {f.name for f in fields(cls)}
    unknown = sorted(set(values) - valid)
    if unknown:
        raise ValueError(f"unknown {section} setting(s) {unknown} in profile {name}; valid: {sorted(valid)}")


def config(prof: dict, section: str, **overrides):
    """The config of one routine: its defaults, the profile's common and section values, then non-None overrides."""
    merged = {**prof.get("common", {}), **prof.get(section, {}),
              **{k: v for k, v in overrides.items() if v is not None}}
    return SECTIONS[section].from_dict(merged)
