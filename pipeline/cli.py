"""The `debris` command line: a thin layer over the library, one function per subcommand.

Exit codes: 0 success; 1 the command ran and found problems (e.g. `debris check`);
2 bad usage, a bad config or an input that cannot be read at all; 130 interrupted (Ctrl-C).
A user's mistake is one line naming the file or key and what to do; `--debug` (or DEBRIS_DEBUG=1)
shows the traceback instead.

Each command imports what it needs when it runs: `debris --help`, `info`, `check` and `convert`
never import torch, whose import alone takes seconds, nor does `label --model X.onnx` (onnxruntime).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import signal
import sys
import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Sequence

from debris.config import CONFIG_DIR, Config, ConfigError, apply_overrides, config_from_record, expand_bare_keys, load_config
from debris.errors import UserError
from debris.formats.dataset import load_dataset, load_results, save_dataset
from debris.labels import DatasetError, Problem
from debris.models import DEFAULT_WEIGHTS

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
SETTING = re.compile(r"[A-Za-z_][\w.]*=")  # a key=value setting, wherever it stands on the line
# the config section whose keys a command takes bare (conf=0.4 is label.conf=0.4); the others take no settings
SECTION = {"check": "reader", "synth": "synth", "train": "train", "label": "label", "eval": "label"}
# torch's OpenMP threads spin while waiting for each other, and beside one busy process the spinning
# thread takes the core its partner needs (nav labelling fell from ~90 to 4 frames/s). OpenMP reads
# these once, when torch loads it, so main() sets them before any command imports torch, unless the
# user's environment already does; benchmarks/busy.py measured the choice (BENCHMARKS.md).
THREAD_ENV = {"OMP_WAIT_POLICY": "PASSIVE"}


def cmd_info(args: argparse.Namespace) -> int:
    packages = ["debris", "torch", "torchvision", "onnxruntime", "rasterio", "ray", "numpy", "opencv-python-headless",
                "scikit-image", "pydantic"]
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

    config = load_config(args.config, args.overrides)
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

    _out_folder(args.out)
    overrides = args.overrides + ([f"synth.camera={args.camera}"] if args.camera else [])
    config = load_config(args.config, overrides)
    out = generate_dataset(args.out, args.n, args.seed, config, size=args.size, backgrounds=args.backgrounds,
                           workers=args.workers, preview=args.preview, yolo=args.yolo)
    splits = [split for split in config.synth.splits if (out / f"{split}.json").exists()]
    print(f"wrote {args.n} frames to {out} (COCO splits: {', '.join(splits)})")
    return EXIT_OK


def cmd_train(args: argparse.Namespace) -> int:
    from debris.io.checkpoint import Checkpoint
    from debris.train.loop import train

    out = _out_folder(args.out)
    if args.resume:
        if not (out / "last.pt").is_file():
            raise ConfigError(f"{out}: no run to resume (no last.pt); start one without --resume")
        last = Checkpoint.load(out / "last.pt")
        config, data = _resume_config(config_from_record(last.train_args, str(out / "last.pt")), last.data, args), last.data
    elif args.data is None:
        raise ConfigError("give a DATASET to train on (or --resume a run in --out)")
    else:
        config, data = load_config(args.config, args.overrides), args.data
    best = train(config, data, out, resume=args.resume, weights=args.weights, images=args.images)
    print(f"best checkpoint: {best}")
    return EXIT_OK


def _resume_config(config: Config, data: str | None, args: argparse.Namespace) -> Config:
    """The run's own config, with train.epochs changed if asked (to extend the run); any other change refused."""
    changed = [f"--{name}" for name in ("config", "weights") if getattr(args, name)]
    if args.data is not None and Path(args.data).resolve() != Path(str(data)).resolve():
        changed.append(f"DATASET {args.data} (the run trains on {data})")
    changed += [item for item in args.overrides if item.split("=", 1)[0].strip() != "train.epochs"]
    if changed:
        raise ConfigError(f"{args.out}: --resume continues the run with its own data and settings; "
                          f"{', '.join(changed)} cannot change (only train.epochs can, to extend the run): "
                          "start a new run in another --out instead")
    return apply_overrides(config, args.overrides)


def cmd_overlay(args: argparse.Namespace) -> int:
    from debris.viz.overlay import CODECS, VideoError, overlay_frames, write_gallery, write_video

    _out_folder(args.out)
    if args.video and Path(args.video).suffix.lower() not in CODECS:  # said before drawing, not after
        raise VideoError(f"{args.video}: unknown video suffix; name a {', '.join(CODECS)} file (.webm plays in browsers)")
    if args.gt:
        dataset = load_results(args.predictions, args.gt, args.images)
    else:
        dataset = load_dataset(args.predictions)
    root = Path(args.images) if args.images else dataset.root
    images = sorted((image for split in dataset.splits.values() for image in split), key=lambda image: image.file_name)
    cell = (400, 300)
    result = overlay_frames(images, root, dataset.classes, Path(args.out), show_scores=not args.no_scores,
                            gallery_cell=cell if args.gallery else None)
    for file_name, reason in result.failed:
        print(f"{root / file_name}: {reason}", file=sys.stderr)
    if result.failed and not result.written and not args.images:
        print(f"no frame was found under {root}: pass --images DIR, the folder the file names are relative to",
              file=sys.stderr)
    print(f"drew {len(result.written)} of {len(images)} frames into {args.out}")
    if args.gallery and result.tiles:
        print(f"gallery: {write_gallery(result.tiles, Path(args.gallery), cell=cell)}")
    if args.video and result.written:
        try:
            path, codec = write_video(result.written, Path(args.video), fps=args.fps)
            print(f"video: {path} ({codec})")
        except VideoError as e:
            print(f"debris overlay: error: {e}", file=sys.stderr)
            return EXIT_USAGE
    return EXIT_PROBLEMS if result.failed else EXIT_OK


def cmd_label(args: argparse.Namespace) -> int:
    from debris.infer.label import label_frames
    from debris.infer.detector import Detector
    from debris.io.reader import list_frames

    if args.engine != "ray" and (args.address or args.ray_workers):
        raise ConfigError("--address and --ray-workers are options of --engine ray")
    _out_folder(args.out)
    overrides = args.overrides + ([f"label.workers={args.workers}"] if args.workers else [])
    config = load_config(args.config, overrides)
    paths = list_frames(args.sources, recursive=config.reader.recursive)
    if not paths:
        nested = not config.reader.recursive and list_frames(args.sources, recursive=True)
        raise ConfigError(f"no image files found in {' '.join(map(str, args.sources))}"
                          + ("; its sub-folders hold some: add reader.recursive=true" if nested else ""))
    if args.engine == "ray":
        from debris.infer.ray_engine import label_frames_ray

        summary = label_frames_ray(args.model, config.label, paths, args.out, save_overlays=args.save_overlays,
                                   resume=args.resume, max_pixels=config.reader.max_pixels, actors=args.ray_workers,
                                   address=args.address)
    else:
        summary = label_frames(Detector.load(args.model, config.label), paths, args.out, save_overlays=args.save_overlays,
                               resume=args.resume, max_pixels=config.reader.max_pixels)
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
    if args.out:
        _out_folder(args.out)
    config = load_config(args.config, args.overrides)  # label settings apply with --model
    dataset = load_dataset(args.gt, args.images)
    frames = gt_frames(dataset, args.split)
    if args.model:
        detector = Detector.load(args.model, config.label, conf=0.001)  # COCO mAP ranks every box, so keep them all
        predictions = predict_frames(detector, dataset.root, frames, dataset.classes, config.reader.max_pixels)
    else:
        predictions = read_predictions(args.pred, frames, dataset.classes, gt_source=args.gt)
    if not predictions.scored:
        if not args.allow_no_scores:
            raise ConfigError(f"{args.pred}: the predictions carry no confidences (every box scores 1: YOLO txt without "
                              "save_conf, or COCO without score), and mAP ranks boxes by them; label with "
                              "save_conf=true, or pass --allow-no-scores to score them as they are")
        predictions.warnings.append("the predictions carry no confidences: mAP ranks their boxes in file order")
    if warning := predictions.missing_warning(frames, len(dataset.splits) if args.split is None else 1):
        predictions.warnings.append(warning)
    for warning in predictions.warnings:
        print(f"debris eval: warning: {warning}", file=sys.stderr)
    sources = {"gt": str(args.gt), "split": args.split, "pred": args.pred, "model": args.model}
    conf = config.label.conf if args.conf is None else args.conf
    report = build_report(frames, predictions.detections, dataset.classes, conf=conf, iou=args.iou,
                          max_dets=config.label.max_det, settings=sources, warnings=predictions.warnings,
                          missing=predictions.missing)
    print(report.text())
    if args.out:
        print("wrote " + ", ".join(map(str, write_report(report, args.out))))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from debris.infer.export import export_onnx

    model = Path(args.model) if args.model else DEFAULT_WEIGHTS
    out = Path(args.out) if args.out else model.with_suffix(".onnx")
    out = export_onnx(model, out, load_config(args.config, []).label)
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


def _out_folder(path: str) -> Path:
    """--out as a folder; a file there is the user's mistake, said before any work is done."""
    if Path(path).exists() and not Path(path).is_dir():
        raise ConfigError(f"{path}: is a file; --out needs a folder (a new one, or a run to --resume)")
    return Path(path)


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
    parser = argparse.ArgumentParser(prog="debris", description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--version", action="version", version=f"debris {version('debris')}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also DEBRIS_DEBUG=1); "
                                                             "may stand anywhere on the line")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("info", allow_abbrev=False, help="versions, where the configs and the default model are")
    p.set_defaults(func=cmd_info)

    p = sub.add_parser("check", allow_abbrev=False, help="validate a COCO, YOLO or Label Studio data set and list every problem; never writes")
    p.add_argument("dataset", help="COCO .json, Label Studio JSON/JSON_MIN export, YOLO data .yaml, or a folder holding data.yaml")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. reader.max_pixels=50000000")
    p.add_argument("--images", metavar="DIR", help=IMAGES_HELP)
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("convert", allow_abbrev=False, help="convert a COCO, YOLO or Label Studio data set to COCO or YOLO (images are linked or copied)")
    p.add_argument("src", help="COCO .json, Label Studio JSON/JSON_MIN export, YOLO data .yaml, a folder holding data.yaml, "
                               "or a `debris label` run folder")
    p.add_argument("dst", help="output folder")
    p.add_argument("--to", required=True, choices=["coco", "yolo"], help="output format")
    p.add_argument("--images", metavar="DIR", help=IMAGES_HELP)
    p.add_argument("--config", help="YAML file whose classes order a Label Studio export's classes")
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("synth", allow_abbrev=False, help="render a synthetic COCO data set of Mars frames with exact boxes")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. synth.empty_fraction=0.1")
    p.add_argument("--out", required=True, help="output folder (new or empty)")
    p.add_argument("--n", type=_positive_int, required=True, help="number of frames (at least 1)")
    p.add_argument("--seed", type=int, default=0, help="base seed; frame i is drawn from (seed, i)")
    p.add_argument("--camera", choices=["rte", "nav", "orbital", "mixed"], help="camera to imitate (default: synth.camera)")
    p.add_argument("--size", type=_size, help="WIDTHxHEIGHT of every frame (default: synth.sizes per camera)")
    p.add_argument("--backgrounds", help="folder, glob or list of real terrain images to draw the hardware on")
    p.add_argument("--workers", type=_positive_int, default=1, help="processes rendering in parallel")
    p.add_argument("--preview", action="store_true", help="also write preview.png: the first frames with their boxes")
    p.add_argument("--yolo", action="store_true", help="also write the data set in YOLO layout under OUT/yolo")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("train", allow_abbrev=False, help="train the detector on a COCO or YOLO data set (same as train.py)")
    p.add_argument("data", nargs="?", help="COCO .json or folder of split .json files, YOLO data.yaml, "
                                           "or synth:N (N frames rendered on the fly each epoch)")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. epochs=5 (train.epochs) "
                                                                      "or model.width=0.5; with --resume only epochs, to extend")
    p.add_argument("--out", default="runs/train", help="run folder: last.pt, best.pt, metrics.csv, results.png")
    p.add_argument("--resume", action="store_true", help="continue the interrupted run in --out from last.pt")
    p.add_argument("--weights", metavar="CKPT", help="start from this checkpoint's weights (fine-tuning; classes matched by name)")
    p.add_argument("--images", metavar="DIR", help=IMAGES_HELP + "; give it again with --resume")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("overlay", allow_abbrev=False, help="draw predictions or ground truth onto their frames: JPEGs, a gallery, a video")
    p.add_argument("predictions", help="a `debris label` run folder, COCO .json (with or without scores), a COCO results "
                                       "list (with --gt) or YOLO data.yaml; every split is drawn")
    p.add_argument("--gt", metavar="COCO_JSON", help="the COCO ground-truth file a results list's image and category ids refer to")
    p.add_argument("--images", metavar="DIR", help="folder the file names are relative to (default: the data set's own root; "
                                                   "for a label run, the frames' folder its run.json records)")
    p.add_argument("--out", default="outputs/overlays", metavar="DIR", help="JPEGs, sub-folders kept (default: outputs/overlays)")
    p.add_argument("--gallery", metavar="PNG", help="also write this PNG: every frame in a grid, 4 per row")
    p.add_argument("--video", metavar="FILE", help="also write this video, the frames in file-name order: .webm (VP9, "
                                                  "plays in browsers), .mp4 (H.264 where OpenCV has it, else mp4v), .mkv, .avi")
    p.add_argument("--fps", type=_positive, default=2.0, metavar="N", help="frames per second of --video (default: 2)")
    p.add_argument("--no-scores", action="store_true", help="class names only (e.g. for ground truth, where every score is 1)")
    p.set_defaults(func=cmd_overlay)

    p = sub.add_parser("label", allow_abbrev=False, help="detect landing hardware in frames; write COCO, YOLO, CSV, JSON, Label Studio")
    p.add_argument("sources", nargs="+", metavar="SOURCE", help="image files, folders, globs or .txt lists of paths")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="label settings (conf=0.4 iou=0.5 classes=[debris] max_det=100 tile=640 overlap=0.2 "
                        "formats=[coco,csv]) or any dotted config key")
    p.add_argument("--out", required=True, help="output folder (see the README for its layout)")
    p.add_argument("--model", help="checkpoint (default: the shipped models/weights/debris.pt) or .onnx from "
                                   "`debris export` (runs through onnxruntime, no torch needed)")
    p.add_argument("--save-overlays", action="store_true", help="also write OUT/overlays/<frame>.jpg with the boxes drawn")
    p.add_argument("--resume", action="store_true", help="continue a run in OUT: frames already labelled are skipped")
    p.add_argument("--workers", type=_positive_int, help="threads decoding frames ahead (default: label.workers)")
    p.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: this process (default); ray: Ray actors, on this machine or the cluster of --address")
    p.add_argument("--address", metavar="ADDR", help="with --engine ray: a running Ray cluster's address (HEAD:6379); "
                                                     "default: start a local Ray on this machine's cores")
    p.add_argument("--ray-workers", type=_positive_int, metavar="N",
                   help="with --engine ray: actors labelling at once, one torch thread each (default: the cluster's CPUs)")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_label)

    p = sub.add_parser("eval", allow_abbrev=False, help="score predictions (or a checkpoint) against annotated frames: COCO mAP, "
                                     "confusion matrix, false alarms per megapixel")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="label settings for --model (tile=512 classes=[debris] max_det=100) or any dotted config key; "
                        "max_det is also the boxes per frame that COCO scores")
    p.add_argument("--gt", required=True, metavar="DATASET", help="ground truth: COCO .json or folder of split .json files, or YOLO data.yaml")
    p.add_argument("--pred", metavar="PREDICTIONS", help="COCO .json with scores, YOLO data.yaml or folder of .txt "
                                                          "with confidences, or a `debris label` output folder")
    p.add_argument("--model", metavar="CHECKPOINT", help="instead of --pred: run this checkpoint on every ground-truth frame")
    p.add_argument("--split", help="evaluate on this split only (default: every split pooled)")
    p.add_argument("--images", metavar="DIR", help="ground truth's frames (with --model): " + IMAGES_HELP)
    p.add_argument("--out", metavar="DIR", help="also write DIR/report.json, pr_curves.png, confusion_matrix.png")
    p.add_argument("--conf", type=_fraction, help="score threshold of the confusion matrix and false alarms (default: label.conf)")
    p.add_argument("--allow-no-scores", action="store_true", help="score predictions without confidences (every box "
                                                                  "scores 1) anyway; their mAP depends on the boxes' order")
    p.add_argument("--iou", type=_positive_fraction, default=0.5, help="IoU for a match in the confusion matrix (default: 0.5)")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml")
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", allow_abbrev=False, help="write the network as ONNX (with its classes, preprocessing and strides inside), "
                                       "for labelling through onnxruntime without torch")
    p.add_argument("--model", metavar="CKPT", help="checkpoint (default: the shipped models/weights/debris.pt)")
    p.add_argument("--format", required=True, choices=["onnx"], help="output format")
    p.add_argument("--out", metavar="FILE", help="output file (default: the checkpoint's path with .onnx); "
                                                 "batch, height and width are dynamic, heights and widths multiples of 64")
    p.add_argument("--config", help="YAML file merged over configs/default.yaml (the decoder settings recorded in the file)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("review", allow_abbrev=False, help="rank a labelling run's frames by how unsure the model was; "
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
    for key, value in THREAD_ENV.items():
        os.environ.setdefault(key, value)
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("DEBRIS_DEBUG", "") not in ("", "0")
    argv = [arg for arg in argv if arg != "--debug"]
    rest, settings = _split_settings(parser, argv)
    args, unknown = parser.parse_known_args(rest)
    if unknown:  # the command's own usage, not the top level's
        _command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}{_setting_hint(args, unknown)}")
    # SIGTERM (kill, timeout, a batch scheduler ending a job) stops a command as Ctrl-C does: a file half
    # written is removed, what was finished is kept, and the resume hint is printed. Only the main thread
    # may set a handler; the previous one comes back, for a caller that runs main() in its own process.
    previous = signal.signal(signal.SIGTERM, _interrupt) if threading.current_thread() is threading.main_thread() else None
    try:
        if settings and args.command not in SECTION:
            raise ConfigError(f"{args.command} takes no key=value settings, got {' '.join(settings)}")
        if args.command in SECTION:
            args.overrides = expand_bare_keys(SECTION[args.command], [*args.overrides, *settings])
        return args.func(args)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"debris {args.command}: interrupted{_resume_hint(args, argv)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, OSError) as e:  # OSError: a folder not writable, a full disk: the user's system, not a bug
        if debug:
            raise
        text = f"{e.filename}: {e.strerror}" if isinstance(e, OSError) and e.filename else str(e)
        print(f"debris {args.command}: error: {text}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _split_settings(parser: argparse.ArgumentParser, argv: list[str]) -> tuple[list[str], list[str]]:
    """(argv without its key=value settings, the settings): settings may stand anywhere on the line.

    argparse would take a setting between two positionals, or after an option, as a frame path or
    an unknown argument. An option's value (--out a=b) and an existing file named a=b stay put.
    """
    command = _command_parser(parser, next((arg for arg in argv if not arg.startswith("-")), ""))
    takes_value = {s for a in command._actions for s in a.option_strings if a.nargs != 0} if command else set()
    rest, settings = [], []
    for i, arg in enumerate(argv):
        is_value = i > 0 and argv[i - 1] in takes_value
        (settings if SETTING.match(arg) and not is_value and not Path(arg).exists() else rest).append(arg)
    return rest, settings


def _command_parser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser | None:
    commands = next(action.choices for action in parser._actions if isinstance(action, argparse._SubParsersAction))
    return commands.get(name)


def _setting_hint(args: argparse.Namespace, unknown: list[str]) -> str:
    """'; settings are key=value: ...' when an unknown option is a setting of the command (--conf 0.3)."""
    section = SECTION.get(args.command)
    fields = Config.model_fields[section].annotation.model_fields if section else {}
    for i, arg in enumerate(unknown):
        name, _, value = arg.lstrip("-").replace("-", "_").partition("=")
        if arg.startswith("--") and name in fields:
            value = value or (unknown[i + 1] if i + 1 < len(unknown) and not unknown[i + 1].startswith("-") else "...")
            return f"; settings are key=value: {name}={value}"
    return ""


def _resume_hint(args: argparse.Namespace, argv: list[str]) -> str:
    """'; resume with: <command>' for the commands that can resume, else ''."""
    if args.command == "label":
        command = ["debris", *argv, *([] if args.resume else ["--resume"])]
    elif args.command == "train":
        command = ["debris", "train", "--resume", "--out", args.out, *(["--images", args.images] if args.images else [])]
    else:
        return ""
    return f"; resume with: {shlex.join(command)}"


if __name__ == "__main__":
    sys.exit(main())
