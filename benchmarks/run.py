"""Every figure the project quotes, in one run: accuracy, false alarms on real terrain, labelling speed
and memory, and the references trained on the same frames with the same budget.

    python benchmarks/run.py [--quick] [--model CHECKPOINT] [--minutes M] [--report PATH]

Full run (hours; what BENCHMARKS.md quotes): the shipped model on the 300-frame synthetic test
split (seed 1000, all three cameras, default sizes); false alarms per megapixel on the real HiRISE
strips of data/real_mars; `debris label` speed and peak RSS (benchmarks/label_speed.py); the forward
pass's share of the CPU's fp32 matmul peak; and, where the benchmark environment .venv-bench exists,
YOLO11n (from yolo11n.yaml) and SSDlite320-MobileNetV3 trained from scratch on the training recipe
of the shipped model for the same wall-clock budget (`--minutes`), evaluated the same way.

--quick (under 10 minutes on 2 cores): the same figures of the checkpoint on a 40-frame test split
and smaller speed sets, and the references trained for --minutes (default 1 with --quick) on 200
frames, beside ours trained the same way. It checks that everything runs and that no figure moved
wildly; it is not what BENCHMARKS.md quotes.
--tiny is --quick at test size (the test suite runs it): a few frames and a few seconds of training.
"""

from __future__ import annotations

import argparse
import datetime
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report, sets  # noqa: E402
from benchmarks.detector import forward_ms, gflops  # noqa: E402
from benchmarks.label_speed import BENCH_PYTHON, run_label, score_ours, score_yolo  # noqa: E402
from debris.models import DEFAULT_WEIGHTS  # noqa: E402
from debris.config import load_config  # noqa: E402
from debris.formats.dataset import load_dataset  # noqa: E402
from debris.eval.metrics import AlarmRate, false_alarms  # noqa: E402
from debris.infer.detector import Detector  # noqa: E402
from debris.train.loop import train  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
REAL_NEGATIVES = REPO / "data" / "real_mars" / "negatives.json"
TARGETS = {"mAP50-95": 0.70, "mAP50": 0.92, "false_alarms_per_mp": 0.1}


# frames per speed set: (nav 640x480, orbital 1024², 4208x3120 colour)
SPEED_FRAMES = {"full": (1000, 100, 20), "quick": (50, 10, 2), "tiny": (4, 1, 1)}


def false_alarms_on_real_terrain(model: Path) -> AlarmRate:
    """Boxes at the default conf per megapixel of the real HiRISE strips, which hold no hardware."""
    detector = Detector.load(model)
    dataset = load_dataset(REAL_NEGATIVES)
    frames = [im for images in dataset.splits.values() for im in images]
    predictions = [detector.predict(dataset.root / im.file_name) for im in frames]
    return false_alarms(frames, predictions, detector.settings.conf)


def matmul_share(model: Path) -> tuple[float, float, float]:
    """(forward GFLOP/s on 640² tiles, numpy fp32 matmul GFLOP/s, their ratio), both measured now."""
    net = Detector.load(model).net
    ms = forward_ms(net)
    achieved = gflops(net) / (ms / 1000)
    peak = report.matmul_gflops()
    return achieved, peak, achieved / peak


def references(train_set: Path, test_set: Path, minutes: float, limit: int | None, report_path: Path) -> tuple[list[str], Path | None]:
    """Train YOLO11n and SSDlite for `minutes` each (each script writes its own section); notes and YOLO's weights."""
    if not BENCH_PYTHON.exists():
        return [f"References skipped: {BENCH_PYTHON} is missing (`python -m venv .venv-bench && "
                '.venv-bench/bin/pip install -e ".[bench]"`).'], None
    lines = []
    # relative to the repository: the reference scripts quote their command line in BENCHMARKS.md
    train_set, test_set = (Path(os.path.relpath(p, REPO)) for p in (train_set, test_set))
    out = Path(tempfile.mkdtemp(prefix="yolo11n-"))
    subprocess.run([str(BENCH_PYTHON), str(REPO / "benchmarks" / "yolo_reference.py"), str(train_set), str(test_set),
                    "--minutes", str(minutes), "--out", str(out), "--workers", "0", "--report", str(report_path)],
                   check=True, cwd=REPO)
    lines.append(f"YOLO11n: see the section *Reference: YOLO11n trained for {minutes:g} minutes*.")
    command = [sys.executable, str(REPO / "benchmarks" / "ssdlite_reference.py"), str(train_set), str(test_set),
               "--minutes", str(minutes), "--report", str(report_path)] + (["--limit", str(limit)] if limit else [])
    subprocess.run(command, check=True, cwd=REPO)
    lines.append(f"SSDlite: see the section *Reference: SSDlite320-MobileNetV3 trained for {minutes:g} minutes*.")
    return lines, out / "train" / "weights" / "best.pt"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sets and short training: under 10 minutes")
    parser.add_argument("--model", type=Path, default=DEFAULT_WEIGHTS, help="checkpoint to measure (full run)")
    parser.add_argument("--minutes", type=float, help="training budget of ours (--quick) and the references")
    parser.add_argument("--test-frames", type=int, help="size of the synthetic test split (default 300, 40 with --quick)")
    parser.add_argument("--train-frames", type=int, default=200, help="--quick: frames ours and the references train on")
    parser.add_argument("--no-references", action="store_true", help="skip YOLO11n and SSDlite")
    parser.add_argument("--tiny", action="store_true", help="--quick at test-suite size (seconds)")
    parser.add_argument("--sets", type=Path, default=sets.ROOT, help="where frame sets are rendered and reused")
    parser.add_argument("--report", type=Path, default=report.BENCHMARKS_MD, help="the Markdown file to write")
    args = parser.parse_args(argv)
    args.quick = args.quick or args.tiny
    size = "tiny" if args.tiny else "quick" if args.quick else "full"
    minutes = args.minutes or {"tiny": 0.05, "quick": 1.0, "full": 55.0}[size]
    n_test = args.test_frames or {"tiny": 4, "quick": 40, "full": 300}[size]
    n_train = 24 if args.tiny else args.train_frames
    torch.set_num_threads(2)
    start = time.perf_counter()

    # the same frames as datasets/synth_test (seed 1000); a smaller split is its first n frames
    test_set = sets.rendered(args.sets / f"test_{n_test}", n_test, 1000, ["synth.splits={test: 1.0}"])
    model = args.model  # every figure but the equal-budget row is of this checkpoint
    equal_budget = None
    if args.quick:
        # ours trained here for the same budget as the references, on the same frames
        # --tiny validates on 2 frames: with empty frames allowed both can be empty, leaving val without ground truth
        train_set = sets.rendered(args.sets / f"train_{n_train}", n_train, 0, ["synth.empty_fraction=0"] if args.tiny else [])
        run_dir = Path(tempfile.mkdtemp(prefix="quick-train-"))
        config = load_config(overrides=[f"train.time_limit_min={minutes}", "train.epochs=1000", "train.patience=1000"]
                             + (["train.batch=4", "train.imgsz=128", "model.width=0.25", "train.epochs=2"] if args.tiny else []))
        equal_budget = score_ours(train(config, train_set, run_dir), test_set, n_test)["stats"]
    else:
        train_set = sets.rendered(args.sets / "train", 5000, 0, [])  # the shipped model's recipe (models/weights/MODEL_CARD.md)

    ours = score_ours(model, test_set, n_test)
    alarms = false_alarms_on_real_terrain(model)
    conf = load_config().label.conf
    achieved, peak, share = matmul_share(model)
    speed = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, n in zip(("nav", "orbital", "rte13mp"), SPEED_FRAMES[size]):
            run = run_label(sets.frame_set(name, n, args.sets) / "images" / "test", model, Path(tmp) / name)
            speed.append((name, n, run))
    notes, yolo = ([], None) if args.no_references else references(train_set, test_set, minutes, n_test, args.report)
    big = sets.frame_set("rte13mp", SPEED_FRAMES[size][2], args.sets)
    big_rows = []
    if yolo:
        # the same 4208x3120 frames through ours and YOLO11n with and without SAHI, at conf 0.001 for COCO mAP
        ours_big = score_ours(model, big, SPEED_FRAMES[size][2])
        for name, result in [("ours", ours_big), ("YOLO11n + SAHI (640, 0.2)", score_yolo(yolo, big, "sahi", SPEED_FRAMES[size][2])),
                             ("YOLO11n whole frame", score_yolo(yolo, big, "whole", SPEED_FRAMES[size][2]))]:
            ratio = result["seconds_per_frame"] / ours_big["seconds_per_frame"]
            big_rows.append(f"| {name} | {result['stats']['mAP50-95']:.3f} | {result['stats']['mAP50']:.3f} "
                            f"| {result['seconds_per_frame']:.2f} s | {ratio:.2f}× |")

    s = ours["stats"]
    nav, orbital, big = (run for _, _, run in speed)
    rows = [
        ("mAP50-95, synthetic test split", f"{s['mAP50-95']:.3f}", f"≥ {TARGETS['mAP50-95']}"),
        ("mAP50", f"{s['mAP50']:.3f}", f"≥ {TARGETS['mAP50']}"),
        ("mAP_small", f"{s['mAP_small']:.3f}", "reported"),
        *([(f"mAP50-95 / mAP50 of ours trained here for {minutes:g} min (the references' budget)",
            f"{equal_budget['mAP50-95']:.3f} / {equal_budget['mAP50']:.3f}", "reported")] if equal_budget else []),
        (f"false alarms per MP, real HiRISE strips ({alarms.boxes} boxes on {alarms.megapixels:.1f} MP, conf {conf})",
         f"{alarms.per_megapixel:.3f}",
         f"≤ {TARGETS['false_alarms_per_mp']}"),
        ("nav 640×480, frames/s (`debris label`)", f"{nav['fps']:.1f}", "≥ 50"),
        ("orbital 1024², frames/s", f"{orbital['fps']:.1f}", "reported"),
        ("4208×3120 colour, s/frame", f"{1 / big['fps']:.2f}", "≤ 1.5"),
        (f"peak RSS over {speed[0][1]} nav frames", f"{nav['rss_gb']:.2f} GB", "≤ 1.5 GB"),
        ("forward pass, share of fp32 matmul peak", f"{share:.1%} ({achieved:.0f} of {peak:.0f} GFLOP/s)", "reported"),
    ]
    body = [
        f"`python benchmarks/run.py{'' if size == 'full' else ' --' + size}` on {datetime.date.today()}, "
        f"{(time.perf_counter() - start) / 60:.1f} min; {report.machine()}.",
        f"Model: {model.name}" + (f"; references trained for {minutes:g} min on {n_train} frames" if args.quick else "")
        + f"; test split: {n_test} frames, seed 1000, all cameras.",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
        *([f"{SPEED_FRAMES[size][2]} frames of 4208×3120, conf 0.001, same evaluation; time from file path to boxes, "
           "ratio = time / ours:", "", "| detector | mAP50-95 | mAP50 | per frame | time ratio |", "|---|---|---|---|---|",
           *big_rows, ""] if big_rows else []),
        *notes,
    ]
    title = "Summary (benchmarks/run.py" + {"tiny": " --tiny)", "quick": " --quick)", "full": ")"}[size]
    report.update_section(title, "\n".join(body), args.report)
    print("\n".join(body))


if __name__ == "__main__":
    main()
