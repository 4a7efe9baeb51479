"""The reference: Ultralytics YOLO11n from yolo11n.yaml (no pretrained weights), trained on the same
frames for a given wall-clock budget and evaluated with the same COCO evaluation as ours.

    .venv-bench/bin/python benchmarks/yolo_reference.py TRAIN_SET TEST_SET --minutes 15 [--workers 1] [--out runs/yolo11n]

Run it in the benchmark environment (`pip install -e ".[bench]"` in its own venv: ultralytics is
AGPL-3.0 and never a dependency of the project). TRAIN_SET is a COCO data set with train and val
splits (e.g. from `debris synth`); it is converted to YOLO once, images hard-linked.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp())  # ultralytics writes settings there, not in ~

from benchmarks.report import BENCHMARKS_MD, machine, update_section  # noqa: E402
from debris.formats.dataset import load_dataset, save_dataset  # noqa: E402
from debris.detections import Detections  # noqa: E402
from debris.eval.coco_eval import evaluate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_set")
    parser.add_argument("test_set")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    parser.add_argument("--imgsz", type=int, default=640, help="training image size (the frames' size)")
    parser.add_argument("--predict-imgsz", type=int, default=1024, help="inference size on the test frames")
    parser.add_argument("--workers", type=int, default=1, help="Ultralytics data-loading processes")
    parser.add_argument("--out", default="runs/yolo11n")
    parser.add_argument("--report", type=Path, default=BENCHMARKS_MD, help="the Markdown file to write")
    args = parser.parse_args()
    import torch
    from ultralytics import YOLO

    out = Path(args.out).resolve()
    data_yaml = out / "data" / "data.yaml"
    if not data_yaml.exists():
        save_dataset(load_dataset(args.train_set), out / "data", "yolo")
    start = time.perf_counter()
    model = YOLO("yolo11n.yaml")
    model.train(data=str(data_yaml), epochs=1000, time=args.minutes / 60, imgsz=args.imgsz, batch=16, device="cpu",
                workers=args.workers, amp=False, plots=False, project=str(out), name="train", exist_ok=True, seed=0, verbose=False)
    train_seconds = time.perf_counter() - start
    weights = out / "train" / "weights" / "best.pt"
    trained = YOLO(str(weights))

    test = load_dataset(args.test_set)
    frames = [im for images in test.splits.values() for im in images]
    predictions, start = [], time.perf_counter()
    for im in frames:
        boxes = trained.predict(str(test.root / im.file_name), imgsz=args.predict_imgsz, conf=0.001, iou=0.6,
                                max_det=300, device="cpu", verbose=False)[0].boxes
        predictions.append(Detections(boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype("int64")))
    seconds = time.perf_counter() - start
    result = evaluate(frames, predictions, test.classes, max_dets=300)
    print(result.table())
    body = "\n".join([
        f"`.venv-bench/bin/python benchmarks/yolo_reference.py {args.train_set} {args.test_set} --minutes {args.minutes:g}` "
        f"on {datetime.date.today()}; {machine()}.",
        f"YOLO11n from yolo11n.yaml (no pretrained weights), ultralytics `time={args.minutes / 60:.3f}` h budget "
        f"({train_seconds / 60:.1f} min wall clock including its own validation), imgsz {args.imgsz}, batch 16, amp off, "
        f"{args.workers} loader workers, {torch.get_num_threads()} torch threads; "
        f"weights {weights.name}. Test: {len(frames)} frames, predict imgsz {args.predict_imgsz}, conf 0.001, IoU 0.6, "
        f"max 300: {seconds / len(frames) * 1000:.0f} ms per frame.",
        "",
        "```",
        result.table(),
        "```",
    ])
    update_section(f"Reference: YOLO11n trained for {args.minutes:g} minutes", body, args.report)
    print(body)


if __name__ == "__main__":
    main()
