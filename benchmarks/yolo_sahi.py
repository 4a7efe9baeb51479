"""The labelling reference: a trained YOLO11n on a frame set, whole-frame or through SAHI slicing.

    .venv-bench/bin/python benchmarks/yolo_sahi.py WEIGHTS FRAME_SET --mode sahi|whole [--conf 0.001] [--json OUT]

Run in the benchmark environment (ultralytics and sahi: `pip install -e ".[bench]"` in its own
venv). FRAME_SET is a COCO data set (benchmarks/sets.py makes them). sahi: slices of 640x640 with
0.2 overlap plus SAHI's standard whole-frame prediction, merged by SAHI's default postprocess
(GREEDYNMM/IOS 0.5; SAHI itself switches to NMS/IOU at a confidence threshold as low as 0.001);
whole: Ultralytics predict on the whole frame at --imgsz. Prints (and writes to --json) the COCO
stats against the set's ground truth, through the same pycocotools evaluation as ours, and the
seconds per frame from file path to boxes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("YOLO_CONFIG_DIR", tempfile.mkdtemp())  # ultralytics writes settings there, not in ~

from debris.formats.dataset import load_dataset  # noqa: E402
from debris.detections import Detections  # noqa: E402
from debris.eval.coco_eval import evaluate  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("weights")
    parser.add_argument("frame_set")
    parser.add_argument("--mode", choices=["sahi", "whole"], required=True)
    parser.add_argument("--conf", type=float, default=0.001)
    parser.add_argument("--imgsz", type=int, default=640, help="whole mode: inference size")
    parser.add_argument("--limit", type=int, help="first N frames only")
    parser.add_argument("--json", help="also write the result here")
    args = parser.parse_args()
    import torch
    from sahi import AutoDetectionModel
    from sahi.predict import get_sliced_prediction
    from ultralytics import YOLO

    dataset = load_dataset(args.frame_set)
    frames = [im for images in dataset.splits.values() for im in images][: args.limit]
    if args.mode == "sahi":
        model = AutoDetectionModel.from_pretrained(model_type="ultralytics", model_path=args.weights,
                                                   confidence_threshold=args.conf, device="cpu")
    else:
        model = YOLO(args.weights)
    predictions, seconds = [], []
    for im in frames:
        path = str(dataset.root / im.file_name)
        start = time.perf_counter()
        if args.mode == "sahi":
            result = get_sliced_prediction(path, model, slice_height=640, slice_width=640, overlap_height_ratio=0.2,
                                           overlap_width_ratio=0.2, verbose=0)
            found = result.object_prediction_list
            dets = Detections(
                [p.bbox.to_xyxy() for p in found] if found else [], [p.score.value for p in found], [p.category.id for p in found]
            )
        else:
            boxes = model.predict(path, imgsz=args.imgsz, conf=args.conf, iou=0.6, max_det=300, device="cpu", verbose=False)[0].boxes
            dets = Detections(boxes.xyxy.numpy(), boxes.conf.numpy(), boxes.cls.numpy().astype("int64"))
        seconds.append(time.perf_counter() - start)
        predictions.append(dets)
    result = evaluate(frames, predictions, dataset.classes, max_dets=300)
    report = {"mode": args.mode, "frames": len(frames), "threads": torch.get_num_threads(),
              "seconds_per_frame": sum(seconds[1:]) / max(1, len(seconds) - 1),  # the first includes warm-up
              "stats": result.stats}
    print(result.table())
    print(json.dumps(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
