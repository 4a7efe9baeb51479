"""Labelling end to end: speed, memory and accuracy of `debris label`, against YOLO11n (+ SAHI) in the same run.

    python benchmarks/label_speed.py [--model CHECKPOINT] [--yolo WEIGHTS] [--quick]

Frames come from benchmarks/sets.py (640x480 nav, 1024x1024 orbital, 4208x3120 colour; seeds never
used in training). Speed and peak RSS are of the real command, `debris label SET --out TMP`, run as a
child process with the default settings (label section of configs/default.yaml, all formats written); frames/s is the one the
command reports (decode to written outputs, without the ~3 s of Python and torch start-up, which the
wall time column includes). Accuracy is COCO mAP at conf 0.001 on the same frames, through
`Detector.predict`. With --yolo (weights from benchmarks/yolo_reference.py) the same frames go
through YOLO11n with SAHI slicing (640 tiles, 0.2 overlap) and whole-frame, in the benchmark
environment (.venv-bench), timed and evaluated the same way.

Targets (issue 5), on 2 cores: nav >= 50 frames/s; one 4208x3120 frame <= 1.5 s end to end; peak RSS
<= 1.5 GB over 1,000 frames.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine, update_section  # noqa: E402
from benchmarks.sets import frame_set  # noqa: E402
from debris.models import DEFAULT_WEIGHTS  # noqa: E402
from debris.config import load_config  # noqa: E402
from debris.formats.dataset import load_dataset  # noqa: E402
from debris.eval.coco_eval import evaluate  # noqa: E402
from debris.infer.detector import Detector  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"
# (set, frames, frames with --quick, frames scored for mAP and the reference)
CASES = [("nav", 1000, 100, 200), ("orbital", 100, 20, 50), ("rte13mp", 20, 3, 20)]


def run_label(images: Path, model: Path, out: Path) -> dict[str, float]:
    """`debris label` as a child process: wall seconds, the frames/s it reports, its peak RSS (GB)."""
    command = [sys.executable, "-m", "debris.cli", "label", str(images), "--out", str(out), "--model", str(model)]
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=REPO)
    stdout = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)  # this child's own rusage, not the sum of all children
    if status != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({status}): {stdout}")
    fps = float(re.search(r"([\d.]+) frames/s", stdout).group(1))
    return {"wall": time.perf_counter() - start, "fps": fps, "rss_gb": usage.ru_maxrss / 1024**2}


def score_ours(model: Path, frame_set_dir: Path, limit: int) -> dict:
    """COCO stats at conf 0.001 and seconds per frame of Detector.predict (path to boxes)."""
    detector = Detector.load(model, conf=0.001)
    dataset = load_dataset(frame_set_dir)
    frames = [im for images in dataset.splits.values() for im in images][:limit]
    predictions, seconds = [], []
    for im in frames:
        start = time.perf_counter()
        predictions.append(detector.predict(dataset.root / im.file_name))
        seconds.append(time.perf_counter() - start)
    stats = evaluate(frames, predictions, dataset.classes, max_dets=300).stats
    return {"stats": stats, "seconds_per_frame": sum(seconds[1:]) / max(1, len(seconds) - 1)}


def score_yolo(weights: Path, frame_set_dir: Path, mode: str, limit: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as f:
        subprocess.run([str(BENCH_PYTHON), str(REPO / "benchmarks" / "yolo_sahi.py"), str(weights), str(frame_set_dir),
                        "--mode", mode, "--limit", str(limit), "--json", f.name], check=True, cwd=REPO,
                       stdout=subprocess.DEVNULL)
        return json.loads(Path(f.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--yolo", type=Path, help="YOLO11n weights trained by benchmarks/yolo_reference.py")
    parser.add_argument("--quick", action="store_true", help="small sets, no reference")
    args = parser.parse_args()

    speed_rows, accuracy_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for name, n, n_quick, n_scored in CASES:
            n = n_quick if args.quick else n
            folder = frame_set(name, n)
            run = run_label(folder / "images" / "test", args.model, Path(tmp) / name)
            print(name, run, flush=True)
            speed_rows.append(f"| {name} | {n} | {run['fps']:.1f} | {1000 / run['fps']:.0f} ms | {run['wall']:.1f} s | {run['rss_gb']:.2f} GB |")
            if args.quick:
                continue
            scored = min(n_scored, n)
            ours = score_ours(args.model, folder, scored)
            rows = [("ours (`Detector.predict`)", ours)]
            if args.yolo:
                rows += [("YOLO11n + SAHI (640, 0.2)", score_yolo(args.yolo, folder, "sahi", scored)),
                         ("YOLO11n whole frame (640)", score_yolo(args.yolo, folder, "whole", scored))]
            for label, result in rows:
                s, ratio = result["stats"], result["seconds_per_frame"] / ours["seconds_per_frame"]
                accuracy_rows.append(f"| {name} ({scored}) | {label} | {s['mAP50-95']:.3f} | {s['mAP50']:.3f} | {s['mAP_small']:.3f} "
                                     f"| {result['seconds_per_frame'] * 1000:.0f} ms | {ratio:.2f}× |")
                print(name, label, s["mAP50-95"], s["mAP50"], result["seconds_per_frame"], flush=True)

    settings = load_config().label
    command = "python benchmarks/label_speed.py" + (" --quick" if args.quick else "") + (f" --yolo {args.yolo}" if args.yolo else "")
    body = [
        f"`{command}` with `{args.model.name}` on {datetime.date.today()}; {machine()}.",
        "",
        f"`debris label SET --out TMP --model CHECKPOINT`, default settings (conf {settings.conf}, bf16 {settings.bf16}, "
        f"all formats, {settings.workers} decoding threads, torch's default {torch.get_num_threads()} threads):",
        "",
        "| frames | n | frames/s | per frame | wall (with start-up) | peak RSS |",
        "|---|---|---|---|---|---|",
        *speed_rows,
    ]
    if accuracy_rows:
        body += [
            "",
            "Same frames, conf 0.001, COCO mAP (pycocotools); time per frame from file path to boxes; "
            "ratio = time / ours:",
            "",
            "| frames | detector | mAP50-95 | mAP50 | mAP_small | per frame | time ratio |",
            "|---|---|---|---|---|---|---|",
            *accuracy_rows,
        ]
    update_section("Labelling: speed, memory, and YOLO11n + SAHI" + (" (--quick)" if args.quick else ""), "\n".join(body))
    print("\n".join(body))


if __name__ == "__main__":
    main()
