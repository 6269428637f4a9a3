"""Command line (``gsnas`` or ``python -m gsnas``): describe, search, prune, train.

``search``/``prune``/``train`` start from a profile's settings (``--profile``, default
cpu) and take any config field as an override (``--lr 0.05``, ``--thresholds "[1e-6, 1e-3]"``).
Bad input: one line on stderr, exit status 2.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

import yaml

from . import distributed
from .config import SECTIONS, SearchConfig, TrainConfig, config, load_profile
from .describe import describe
from .experiments import ROUTINES
from .genotype import get_genotype
from .network import EvalNetwork
from .spaces import SPACES
from .supernet import Supernet


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


FLAGS = ("resume", "progress", "eval_each_epoch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gsnas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("describe", help="print params, groups, MFLOPs and genotype of a model as JSON")
    d.add_argument("--model", choices=["supernet", "eval"], default="supernet")
    d.add_argument("--space", default="darts", help=f"supernet search space: {', '.join(SPACES)}")
    d.add_argument("--genotype", default="DARTS_V2", help="eval: DARTS_V1, DARTS_V2, a genotype .json file or JSON text")
    d.add_argument("--channels", type=_positive, default=None,
                   help=f"initial channels (supernet {SearchConfig.channels}, eval {TrainConfig.channels})")
    d.add_argument("--layers", type=_positive, default=None,
                   help=f"cells (supernet {SearchConfig.layers}, eval {TrainConfig.layers})")
    d.add_argument("--classes", type=_positive, default=10)
    d.add_argument("--in-channels", type=_positive, default=3)
    d.add_argument("--image-size", type=_positive, default=32, help="input size for MFLOPs")
    d.add_argument("--auxiliary", action="store_true", help="eval: add the auxiliary head")
    d.add_argument("--gates", action="store_true", help="eval: gate parameter-free ops (operation pruning)")
    for command, sections in _commands().items():
        p = sub.add_parser(command, help=f"run the {' / '.join(sections)} routine (gsnas.experiments.ROUTINES)")
        p.add_argument("--profile", default="cpu", help="base settings: smoke, cpu, paper or a .yaml")
        if len(sections) > 1:
            p.add_argument("--method", choices=["gsnas", "darts"], default="gsnas")
        names = dict.fromkeys(f.name for s in sections for f in fields(SECTIONS[s]))  # ordered, no repeats
        for name in names:
            flag = name in FLAGS  # `--resume` alone means true
            p.add_argument("--" + name.replace("_", "-"), dest=name, type=_value, default=None,
                           nargs="?" if flag else None, const=True if flag else None)
    return parser


def _commands() -> dict[str, list[str]]:
    """Command word -> the sections it runs (``search`` runs GS-NAS, or DARTS with ``--method darts``)."""
    out = {}
    for section, routine in ROUTINES.items():
        if routine.command:
            out.setdefault(routine.command.split()[0], []).append(section)
    return out


def _value(text: str):
    """A command-line value as YAML: numbers, true/false, lists; anything else stays a string."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def run_training(args) -> dict:
    sections = _commands()[args.command]
    section = sections[1] if len(sections) > 1 and args.method == "darts" else sections[0]
    overrides = {k: v for k, v in vars(args).items()
                 if k not in ("command", "profile", "method") and v is not None}
    prof = load_profile(args.profile)
    valid = {f.name for f in fields(SECTIONS[section])}
    cfg = config(prof, section, **{k: v for k, v in overrides.items() if k in valid})
    if not cfg.out:
        what = getattr(cfg, "space", None) or getattr(cfg, "genotype", "model")
        cfg.out = f"runs/{args.command}-{section}-{what}-seed{cfg.seed}"
    return ROUTINES[section].run(cfg)


def run_describe(args) -> dict:
    if args.model == "supernet":
        model = Supernet(args.space, args.channels or SearchConfig.channels, args.layers or SearchConfig.layers,
                         args.classes, args.in_channels)
    else:
        model = EvalNetwork(get_genotype(args.genotype), args.channels or TrainConfig.channels,
                            args.layers or TrainConfig.layers, args.classes,
                            args.in_channels, auxiliary=args.auxiliary, gates=args.gates)
    return describe(model, args.image_size)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run_describe(args) if args.command == "describe" else run_training(args)
    except (ValueError, FloatingPointError) as e:
        print(f"gsnas {args.command}: error: {e}", file=sys.stderr)
        return 2
    finally:
        main_rank = distributed.is_main()
        distributed.teardown()
    if main_rank:  # under torchrun, rank 0 speaks for all
        print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
