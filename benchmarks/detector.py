"""The detector's accuracy on a synthetic test split, and its size and speed.

    python benchmarks/detector.py CHECKPOINT TEST_SET [--title TEXT]

TEST_SET: a COCO data set made with seeds never used in training, e.g.
`debris synth --out datasets/synth_test --n 300 --seed 1000 synth.splits='{test: 1.0}'`.
Accuracy: COCO 12 stats and per-class AP (pycocotools) of `Detector.predict`, the labelling path
(tiles and whole-frame view, label settings of configs/default.yaml but conf 0.001). Size: params
and GFLOPs at 640x640 (torch.utils.flop_counter). Speed: forward ms per 640x640 tile at batch 8,
channels_last, 2 threads, against torchvision's mobilenet_v3_small backbone timed the same way in
the same run (the anchor ENV.md quotes), so the ratio survives a noisy machine.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine, update_section  # noqa: E402
from debris.formats.dataset import load_dataset  # noqa: E402
from debris.eval.coco_eval import evaluate  # noqa: E402
from debris.infer.detector import Detector  # noqa: E402


def forward_ms(model: torch.nn.Module, batch: int = 8, size: int = 640, repeats: int = 10) -> float:
    x = torch.rand(batch, 3, size, size).contiguous(memory_format=torch.channels_last)
    model = model.eval().to(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(3):
            model(x)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] / batch * 1000


def gflops(model: torch.nn.Module, size: int = 640) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.rand(1, 3, size, size))
    return counter.get_total_flops() / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("test_set")
    parser.add_argument("--title", default="Detector: accuracy, size and speed")
    args = parser.parse_args()
    torch.set_num_threads(2)
    detector = Detector.load(args.checkpoint, conf=0.001, max_det=300)  # COCO mAP wants every box
    model = detector.net
    dataset = load_dataset(args.test_set)
    frames = [im for images in dataset.splits.values() for im in images]
    start = time.perf_counter()
    predictions = [detector.predict(dataset.root / im.file_name) for im in frames]
    seconds = time.perf_counter() - start
    result = evaluate(frames, predictions, detector.classes, max_dets=300)
    print(result.table())

    from torchvision.models import mobilenet_v3_small

    ours, reference = forward_ms(model), forward_ms(mobilenet_v3_small().features)
    params = sum(p.numel() for p in model.parameters())
    body = "\n".join([
        f"`python benchmarks/detector.py {args.checkpoint} {args.test_set}` on {datetime.date.today()}; {machine()}.",
        f"{len(frames)} test frames ({', '.join(f'{k}: {len(v)}' for k, v in dataset.splits.items())}), `Detector.predict` "
        f"(tile {detector.settings.tile}, overlap {detector.settings.overlap}, whole-frame view {detector.settings.full_size} px), "
        f"conf 0.001, NMS IoU {detector.settings.iou}, max 300 per frame: "
        f"{seconds / len(frames) * 1000:.0f} ms per frame end to end.",
        "",
        "```",
        result.table(),
        "```",
        "",
        "| model | params | GFLOPs at 640² | forward ms per 640² tile (batch 8, channels_last, 2 threads) |",
        "|---|---|---|---|",
        f"| ours ({Path(args.checkpoint).name}) | {params / 1e6:.2f} M | {gflops(model):.2f} | {ours:.1f} |",
        f"| torchvision mobilenet_v3_small features (reference, same run) | {sum(p.numel() for p in mobilenet_v3_small().features.parameters()) / 1e6:.2f} M | {gflops(mobilenet_v3_small().features):.2f} | {reference:.1f} |",
        "",
        f"Forward time ratio, reference / ours: {reference / ours:.2f}x.",
    ])
    update_section(args.title, body)
    print(body)


if __name__ == "__main__":
    main()
