"""Command line: ``gsnas describe ...`` (``python -m gsnas``). Bad input: one line on stderr, exit 2."""
from __future__ import annotations

import argparse
import json
import sys

from .describe import describe
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gsnas", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("describe", help="print params, groups, MFLOPs and genotype of a model as JSON")
    d.add_argument("--model", choices=["supernet", "eval"], default="supernet")
    d.add_argument("--space", default="darts", help=f"supernet search space: {', '.join(SPACES)}")
    d.add_argument("--genotype", default="DARTS_V2", help="eval: DARTS_V1, DARTS_V2 or a genotype .json file")
    d.add_argument("--channels", type=_positive, default=None, help="initial channels (supernet 16, eval 36)")
    d.add_argument("--layers", type=_positive, default=None, help="cells (supernet 8, eval 20)")
    d.add_argument("--classes", type=_positive, default=10)
    d.add_argument("--in-channels", type=_positive, default=3)
    d.add_argument("--image-size", type=_positive, default=32, help="input size for MFLOPs")
    d.add_argument("--auxiliary", action="store_true", help="eval: add the auxiliary head")
    d.add_argument("--gates", action="store_true", help="eval: gate parameter-free ops (operation pruning)")
    return parser


def run_describe(args) -> dict:
    if args.model == "supernet":
        model = Supernet(args.space, args.channels or 16, args.layers or 8, args.classes, args.in_channels)
    else:
        model = EvalNetwork(get_genotype(args.genotype), args.channels or 36, args.layers or 20, args.classes,
                            args.in_channels, auxiliary=args.auxiliary, gates=args.gates)
    return describe(model, args.image_size)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = {"describe": run_describe}[args.command](args)
    except ValueError as e:
        print(f"gsnas {args.command}: error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
