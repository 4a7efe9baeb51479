"""The `debris` command line: a thin layer over the library, one function per subcommand.

Exit codes: 0 success; 1 the command ran and found problems (e.g. `debris check`);
2 bad usage, a bad config or an input that cannot be read at all.

Each command imports what it needs when it runs: `debris --help`, `info`, `check` and `convert`
never import torch, whose import alone takes seconds, nor does `label --model X.onnx` (onnxruntime).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

from debris.config import CONFIG_DIR, ConfigError, LabelConfig, config_from_record, load_config, parse_overrides
from debris.errors import UserError
from debris.formats.dataset import load_dataset, save_dataset
from debris.labels import DatasetError, Problem
from debris.models import DEFAULT_WEIGHTS

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE = 0, 1, 2


def cmd_info(args: argparse.Namespace) -> int:
    packages = ["debris", "torch", "torchvision", "onnxruntime", "numpy", "opencv-python-headless", "scikit-image", "pydantic"]
    weights = DEFAULT_WEIGHTS
    rows = [("python", f"{platform.python_version()} ({sys.executable})")]
    rows += [(name, _version(name)) for name in packages]
    rows += [
        ("cpu cores", f"{os.cpu_count()} (OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')})"),
        ("configs", f"{CONFIG_DIR} ({', '.join(sorted(p.name for p in CONFIG_DIR.glob('*.yaml')))})"),
        ("model", f"{weights}" + ("" if weights.exists() else " (missing: labelling needs --model)")),
    ]
    for key, value in rows:
        print(f"{key:<24}{value}")
    return EXIT_OK


def _version(package: str) -> str:
    """The installed version, or why there is none: an onnx install has no torch, a full one may lack onnxruntime."""
    try:
        return version(package)
    except PackageNotFoundError:
        return "not installed"


def cmd_check(args: argparse.Namespace) -> int:
    from debris.formats.check import check_dataset

    config = load_config(args.config, parse_overrides(args.overrides))
    if not Path(args.dataset).exists():  # nothing to check: a usage error, not a problem found in a data set
        raise DatasetError([Problem(args.dataset, "file", "no such file or folder")])
    problems = check_dataset(args.dataset, max_pixels=config.reader.max_pixels, images=args.images, classes=config.classes)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{args.dataset}: {len(problems)} problem(s)", file=sys.stderr)
        return EXIT_PROBLEMS
    dataset = load_dataset(args.dataset, args.images, config.classes)
    for note in dataset.notes:
        print(note)
    counts = ", ".join(f"{split}: {len(images)} images" for split, images in dataset.splits.items())
    boxes = sum(len(image.labels) for images in dataset.splits.values() for image in images)
    print(f"{args.dataset}: OK ({counts}; {boxes} boxes; classes {', '.join(dataset.classes)})")
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    config = load_config(args.config, [])
    dataset = load_dataset(args.src, args.images, config.classes)
    for note in dataset.notes:
        print(note)
    written = save_dataset(dataset, args.dst, args.to)
    print(f"wrote {args.to.upper()} data set: {written}")
    return EXIT_OK


def cmd_synth(args: argparse.Namespace) -> int:
    from debris.synth.generate import generate_dataset

    overrides = parse_overrides(args.overrides) + ([f"synth.camera={args.camera}"] if args.camera else [])
    config = load_config(args.config, overrides)
    out = generate_dataset(args.out, args.n, args.seed, config, size=args.size, backgrounds=args.backgrounds,
                           workers=args.workers, preview=args.preview, yolo=args.yolo)
    splits = [split for split in config.synth.splits if (out / f"{split}.json").exists()]
    print(f"wrote {args.n} frames to {out} (COCO splits: {', '.join(splits)})")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from debris.io.checkpoint import Checkpoint
    from debris.train.loop import train

    if args.resume:
        # a resumed run continues with the config and data it started with, whatever is passed now
        last = Checkpoint.load(Path(args.out) / "last.pt")
        config, data = config_from_record(last.train_args, str(Path(args.out) / "last.pt")), last.data
    elif args.data is None:
        raise ConfigError("give a DATASET to train on (or --resume a run in --out)")
    else:
        config, data = load_config(args.config, parse_overrides(args.overrides)), args.data
    best = train(config, data, args.out, resume=args.resume, weights=args.weights)
    print(f"best checkpoint: {best}")
    return EXIT_OK


def cmd_overlay(args: argparse.Namespace) -> int:
    from debris.viz.overlay import VideoError, overlay_frames, write_gallery, write_video

    dataset = load_dataset(args.predictions)
    root = Path(args.images) if args.images else dataset.root
    images = sorted((image for split in dataset.splits.values() for image in split), key=lambda image: image.file_name)
    cell = (400, 300)
    result = overlay_frames(images, root, dataset.classes, Path(args.out), show_scores=not args.no_scores,
                            gallery_cell=cell if args.gallery else None)
    for file_name, reason in result.failed:
        print(f"{root / file_name}: {reason}", file=sys.stderr)
    print(f"drew {len(result.written)} of {len(images)} frames into {args.out}")
    if args.gallery and result.tiles:
        print(f"gallery: {write_gallery(result.tiles, Path(args.gallery), cell=cell)}")
    if args.video and result.written:
        try:
            print(f"video: {write_video(result.written, Path(args.video), fps=args.fps)}")
        except VideoError as e:
            print(f"debris overlay: error: {e}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_PROBLEMS if result.failed else EXIT_OK


def cmd_label(args: argparse.Namespace) -> int:
    from debris.infer.label import label_frames
    from debris.infer.detector import Detector
    from debris.io.reader import list_frames

    overrides = _label_overrides(args.overrides) + ([f"label.workers={args.workers}"] if args.workers else [])
    config = load_config(args.config, overrides)
    paths = list_frames(args.sources, recursive=config.reader.recursive)
    if not paths:
        raise ConfigError(f"no image files found in {' '.join(map(str, args.sources))}")
    detector = Detector.load(args.model, config.label)
    summary = label_frames(detector, paths, args.out, save_overlays=args.save_overlays, resume=args.resume,
                           max_pixels=config.reader.max_pixels)
    for path, reason in summary.failed:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"labelled {summary.labelled} of {summary.frames} frames"
          + (f" ({summary.resumed} done before, skipped)" if summary.resumed else "")
          + f", {summary.boxes} boxes, {summary.labelled / max(summary.seconds, 1e-9):.1f} frames/s; outputs in {args.out}")
    if summary.failed:
        print(f"{len(summary.failed)} frame(s) could not be read: listed in {Path(args.out) / 'errors.csv'}", file=sys.stderr)
        return EXIT_PROBLEMS
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from debris.eval.inputs import gt_frames, predict_frames, read_predictions
    from debris.eval.report import build_report, write_report
    from debris.infer.detector import Detector

    if (args.pred is None) == (args.model is None):
        raise ConfigError("give either --pred PREDICTIONS or --model CHECKPOINT (one of the two)")
    config = load_config(args.config, _label_overrides(args.overrides))  # label settings apply with --model
    dataset = load_dataset(args.gt)
    frames = gt_frames(dataset, args.split)
    if args.model:
        detector = Detector.load(args.model, config.label, conf=0.001)  # COCO mAP ranks every box, so keep them all
        predictions = predict_frames(detector, dataset.root, frames, dataset.classes, config.reader.max_pixels)
    else:
        predictions = read_predictions(args.pred, frames, dataset.classes, gt_source=args.gt)
    for warning in predictions.warnings:
        print(f"debris eval: warning: {warning}", file=sys.stderr)
    sources = {"gt": str(args.gt), "split": args.split, "pred": args.pred, "model": args.model}
    conf = config.label.conf if args.conf is None else args.conf
    report = build_report(frames, predictions.detections, dataset.classes, conf=conf, iou=args.iou,
                          max_dets=config.label.max_det, settings=sources, warnings=predictions.warnings)
    print(report.text())
    if args.out:
        print("wrote " + ", ".join(map(str, write_report(report, args.out))))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from debris.infer.export import export_onnx, quantize_int8

    if args.int8 and not args.data:
        raise ConfigError("--int8 calibrates on frames of a data set: give --data DATASET")
    model = Path(args.model) if args.model else DEFAULT_WEIGHTS
    out = Path(args.out) if args.out else model.with_suffix(".onnx")
    config = load_config(args.config, [])
    if args.int8:  # the fp32 file is the quantiser's input, and worth keeping beside the int8 one for comparison
        fp32 = export_onnx(model, out.with_name(out.stem + "-fp32.onnx"), config.label)
        print(f"wrote {fp32}")
        out = quantize_int8(fp32, out, args.data, config.label)
    else:
        out = export_onnx(model, out, config.label)
    print(f"wrote {out}; label with: debris label FRAMES --model {out} --out DIR")
    return EXIT_OK


def cmd_review(args: argparse.Namespace) -> int:
    from debris.eval.review import rank_frames, read_run, write_review

    run = read_run(args.run)
    ranked = rank_frames(run.frames, low=run.conf)
    out = Path(args.out) if args.out else Path(args.run) / "review.labelstudio.json"
    prefix = run.image_prefix if args.images_prefix is None else args.images_prefix
    table = write_review(ranked, run, args.top, out, prefix)
    unsure = sum(r.score > 0 for r in ranked)
    print(f"{min(args.top, len(ranked))} of {len(ranked)} frames to review ({unsure} with uncertain boxes, "
          f"scores {run.conf:g} to 0.9): {out}; full ranking: {table}")
    return EXIT_OK


def _label_overrides(items: list[str]) -> list[str]:
    """Ultralytics-style bare keys for the label settings: conf=0.4 means label.conf=0.4."""
    return [f"label.{item}" if item.split("=")[0] in LabelConfig.model_fields else item for item in parse_overrides(items)]


def _size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT such as 640x480, got {text!r}") from None
    if min(width, height) < 16:
        raise argparse.ArgumentTypeError(f"frames must be at least 16x16 pixels, got {text!r}")
    return width, height


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number above 0, got {text!r}")
    return value


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a number from 0 to 1, got {text!r}")
    return value


def _positive_fraction(text: str) -> float:
    value = _fraction(text)
    if value == 0:
        raise argparse.ArgumentTypeError(f"expected a number above 0, up to 1, got {text!r}")
    return value


IMAGES_HELP = ("COCO and Label Studio: find the images under DIR, by path or base name (default: the JSON's folder); "
               "needed for Label Studio's COCO export, whose file_names are ../ paths on its server")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="debris", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", help="versions, where the configs and the default model are")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("check", help="validate a COCO, YOLO or Label Studio data set and list every problem; never writes")
    p.add_argument("dataset", help="COCO .json, Label Studio JSON/JSON_MIN export, YOLO data .yaml, or a folder holding data.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. reader.max_pixels=50000000")
    p.add_argument("--images", metavar="DIR", help=IMAGES_HELP)
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("convert", help="convert a COCO, YOLO or Label Studio data set to COCO or YOLO (images are linked or copied)")
    p.add_argument("src", help="COCO .json, Label Studio JSON/JSON_MIN export, YOLO data .yaml, or a folder holding data.yaml")
    p.add_argument("dst", help="output folder")
    p.add_argument("--to", required=True, choices=["coco", "yolo"], help="output format")
    p.add_argument("--images", metavar="DIR", help=IMAGES_HELP)
    p.add_argument("--config", help="YAML file whose classes order a Label Studio export's classes")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("synth", help="render a synthetic COCO data set of Mars frames with exact boxes")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. synth.empty_fraction=0.1")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--n", type=int, required=True, help="number of frames")
    p.add_argument("--seed", type=int, default=0, help="base seed; frame i is drawn from (seed, i)")
    p.add_argument("--camera", choices=["rte", "nav", "orbital", "mixed"], help="camera to imitate (default: synth.camera)")
    p.add_argument("--size", type=_size, help="WIDTHxHEIGHT of every frame (default: synth.sizes per camera)")
    p.add_argument("--backgrounds", help="folder, glob or list of real terrain images to draw the hardware on")
    p.add_argument("--workers", type=int, default=1, help="processes rendering in parallel")
    p.add_argument("--preview", action="store_true", help="also write preview.png: the first frames with their boxes")
    p.add_argument("--yolo", action="store_true", help="also write the data set in YOLO layout under OUT/yolo")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("train", help="train the detector on a COCO or YOLO data set (same as train.py)")
    p.add_argument("data", nargs="?", help="COCO .json or folder of split .json files, YOLO data.yaml, "
                                           "or synth:N (N frames rendered on the fly each epoch)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. train.epochs=5")
    p.add_argument("--out", default="runs/train", help="run folder: last.pt, best.pt, metrics.csv, results.png")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from last.pt")
    p.add_argument("--weights", metavar="CKPT", help="start from this checkpoint's weights (fine-tuning; classes matched by name)")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("overlay", help="draw predictions or ground truth onto their frames: JPEGs, a gallery, a video")
    p.add_argument("predictions", help="COCO .json (with or without scores) or YOLO data.yaml; every split is drawn")
    p.add_argument("--images", metavar="DIR", help="folder the file names are relative to (default: the data set's own root)")
    p.add_argument("--out", default="outputs/overlays", metavar="DIR", help="JPEGs, sub-folders kept (default: outputs/overlays)")
    p.add_argument("--gallery", metavar="PNG", help="also write this PNG: every frame in a grid, 4 per row")
    p.add_argument("--video", metavar="MP4", help="also write this MP4 (mp4v): the frames in file-name order")
    p.add_argument("--fps", type=_positive, default=2.0, metavar="N", help="frames per second of --video (default: 2)")
    p.add_argument("--no-scores", action="store_true", help="class names only (e.g. for ground truth, where every score is 1)")
    p.set_defaults(func=cmd_overlay)

    p = sub.add_parser("label", help="detect landing hardware in frames; write COCO, YOLO, CSV, JSON, Label Studio")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image files, folders, globs or .txt lists of paths")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="label settings (conf=0.4 iou=0.5 classes=[debris] max_det=100 tile=640 overlap=0.2 "
                        "formats=[coco,csv]) or any dotted config key")
    p.add_argument("--out", required=True, help="output folder (see the README for its layout)")
    p.add_argument("--model", help="checkpoint (default: the shipped models/weights/debris.pt) or .onnx from "
                                   "`debris export` (runs through onnxruntime, no torch needed)")
    p.add_argument("--save-overlays", action="store_true", help="also write OUT/overlays/<frame>.jpg with the boxes drawn")
    p.add_argument("--resume", action="store_true", help="continue a run in OUT: frames already labelled are skipped")
    p.add_argument("--workers", type=int, help="threads decoding frames ahead (default: label.workers)")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("eval", help="score predictions (or a checkpoint) against annotated frames: COCO mAP, "
                                     "confusion matrix, false alarms per megapixel")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="label settings for --model (tile=512 classes=[debris] max_det=100) or any dotted config key; "
                        "max_det is also the boxes per frame that COCO scores")
    p.add_argument("--gt", required=True, metavar="DATASET", help="ground truth: COCO .json or folder of split .json files, or YOLO data.yaml")
    p.add_argument("--pred", metavar="PREDICTIONS", help="COCO .json with scores, YOLO data.yaml or folder of .txt "
                                                          "with confidences, or a `debris label` output folder")
    p.add_argument("--model", metavar="CHECKPOINT", help="instead of --pred: run this checkpoint on every ground-truth frame")
    p.add_argument("--split", help="evaluate on this split only (default: every split pooled)")
    p.add_argument("--out", metavar="DIR", help="also write DIR/report.json, pr_curves.png, confusion_matrix.png")
    p.add_argument("--conf", type=_fraction, help="score threshold of the confusion matrix and false alarms (default: label.conf)")
    p.add_argument("--iou", type=_positive_fraction, default=0.5, help="IoU for a match in the confusion matrix (default: 0.5)")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="write the network as ONNX (with its classes, preprocessing and strides inside), "
                                       "for labelling through onnxruntime without torch")
    p.add_argument("--model", metavar="CKPT", help="checkpoint (default: the shipped models/weights/debris.pt)")
    p.add_argument("--format", required=True, choices=["onnx"], help="output format")
    p.add_argument("--out", metavar="FILE", help="output file (default: the checkpoint's path with .onnx); "
                                                 "batch, height and width are dynamic, heights and widths multiples of 64")
    p.add_argument("--int8", action="store_true", help="static int8 quantisation calibrated on --data (also writes FILE-fp32.onnx); "
                                                       "experimental: check its speed and mAP before use")
    p.add_argument("--data", metavar="DATASET", help="--int8 calibration frames: COCO .json, YOLO data.yaml or Label Studio export")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml (the decoder settings recorded in the file)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("review", help="rank a labelling run's frames by how unsure the model was; "
                                       "the top ones as Label Studio tasks to correct")
    p.add_argument("run", metavar="RUN", help="a `debris label` output folder")
    p.add_argument("--top", type=_positive_int, required=True, metavar="K", help="frames to put in the Label Studio file")
    p.add_argument("--out", metavar="FILE", help="Label Studio tasks (default: RUN/review.labelstudio.json); "
                                                 "the full ranking goes beside it as review.csv")
    p.add_argument("--images-prefix", metavar="P", help="prefix of each task's image path "
                                                        "(default: the run's image_prefix), e.g. /data/local-files/?d=flight26/")
    p.set_defaults(func=cmd_review)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    # key=value overrides may come after options too (argparse stops filling positionals at the first option)
    args, extra = parser.parse_known_args(argv)
    if extra and not (hasattr(args, "overrides") and all("=" in item and not item.startswith("-") for item in extra)):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    try:
        return args.func(args)
    except UserError as e:
        print(f"debris {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
