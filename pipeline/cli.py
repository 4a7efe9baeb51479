"""The `debris` command line: a thin layer over the library, one function per subcommand.

Exit codes: 0 success; 1 the command ran and found problems (e.g. `debris check`);
2 bad usage, a bad config or an input that cannot be read at all.
"""

from __future__ import annotations

import argparse
import platform
import sys
from importlib.metadata import version
from typing import Sequence

import torch

import models
from pipeline.check import check_dataset
from pipeline.config import CONFIG_DIR, ConfigError, load_config, parse_overrides
from pipeline.dataset import DatasetError, load_dataset, save_dataset

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def cmd_info(args: argparse.Namespace) -> int:
    packages = ["debris", "torch", "torchvision", "numpy", "opencv-python-headless", "scikit-image", "pydantic"]
    weights = models.DEFAULT_WEIGHTS
    rows = [("python", f"{platform.python_version()} ({sys.executable})")]
    rows += [(name, version(name)) for name in packages]
    rows += [
        ("torch threads", f"{torch.get_num_threads()} intra-op, {torch.get_num_interop_threads()} inter-op"),
        ("configs", f"{CONFIG_DIR} ({', '.join(sorted(p.name for p in CONFIG_DIR.glob('*.yaml')))})"),
        ("model", f"{weights}" + ("" if weights.exists() else " (not present yet)")),
    ]
    for key, value in rows:
        print(f"{key:<24}{value}")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    config = load_config(args.config, parse_overrides(args.overrides))
    problems = check_dataset(args.dataset, max_pixels=config.reader.max_pixels)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.dataset}: {len(problems)} problem(s)", file=sys.stderr)
        return EXIT_PROBLEMS
    dataset = load_dataset(args.dataset)
    counts = ", ".join(f"{split}: {len(images)} images" for split, images in dataset.splits.items())
    boxes = sum(len(image.labels) for images in dataset.splits.values() for image in images)
    print(f"{args.dataset}: OK ({counts}; {boxes} boxes; classes {', '.join(dataset.classes)})")
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    dataset = load_dataset(args.src)
    written = save_dataset(dataset, args.dst, args.to)
    print(f"wrote {args.to.upper()} data set: {written}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="debris", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="versions, torch threads, where the configs and the default model are")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("check", help="validate a COCO or YOLO data set and list every problem; never writes")
    p.add_argument("dataset", help="COCO .json, YOLO data .yaml, or a folder holding data.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. reader.max_pixels=50000000")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("convert", help="convert a data set between COCO and YOLO (images are linked or copied)")
    p.add_argument("src", help="COCO .json, YOLO data .yaml, or a folder holding data.yaml")
    p.add_argument("dst", help="output folder")
    p.add_argument("--to", required=True, choices=["coco", "yolo"], help="output format")
    p.set_defaults(func=cmd_convert)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (ConfigError, DatasetError) as e:
        print(f"debris {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
