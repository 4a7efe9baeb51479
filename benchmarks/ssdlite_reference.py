"""The torchvision reference: ssdlite320_mobilenet_v3_large from scratch (weights=None,
weights_backbone=None), trained on the same frames, with the same augmentation and the same
wall-clock budget as ours, evaluated with the same COCO evaluation.

    python benchmarks/ssdlite_reference.py TRAIN_SET TEST_SET --minutes 55 [--limit N]

Training: our Frames pipeline (reader, preprocessing, augmentation at train.imgsz crops, which
SSDlite resizes to its 320x320 input), batch 16, AdamW 1e-3 with warm-up and cosine decay to the
time budget. Test: whole frames (SSDlite resizes every frame to 320x320: that is the architecture),
score threshold 0.001, at most 300 boxes.
"""

from __future__ import annotations

import argparse
import datetime
import math
import sys
import time
from pathlib import Path

import torch
from torchvision.models.detection import ssdlite320_mobilenet_v3_large

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import BENCHMARKS_MD, machine, update_section  # noqa: E402
from debris.config import load_config  # noqa: E402
from debris.formats.dataset import load_dataset  # noqa: E402
from debris.detections import Detections  # noqa: E402
from debris.eval.coco_eval import evaluate  # noqa: E402
from debris.infer.detector import to_tensor  # noqa: E402
from debris.preprocess import preprocess  # noqa: E402
from debris.io.reader import read_frame  # noqa: E402
from debris.train.loop import Frames, augment_config, collate, split_data  # noqa: E402


def train_ssdlite(train_set: str, minutes: float, seed: int = 0) -> tuple[torch.nn.Module, int, float]:
    """The model trained for `minutes` of wall clock; also the steps taken and the seconds spent."""
    config = load_config()
    dataset = load_dataset(train_set)
    train_images, _ = split_data(dataset)
    torch.manual_seed(seed)
    # background is class 0 in torchvision's detection models
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=len(dataset.classes) + 1)
    frames = Frames(dataset.root, train_images, config.preprocess, augment_config(config), seed, cache=True)  # ours, for parity
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    budget, start, step, epoch = minutes * 60, time.perf_counter(), 0, 0
    warmup = 200
    model.train()
    while time.perf_counter() - start < budget:
        frames.epoch = epoch
        loader = torch.utils.data.DataLoader(frames, batch_size=16, shuffle=True, drop_last=True, collate_fn=collate,
                                             generator=torch.Generator().manual_seed(seed * 1000 + epoch))
        for images, targets in loader:
            elapsed = time.perf_counter() - start
            if elapsed >= budget:
                break
            # warm-up, then cosine over the wall-clock budget (the step count is not known in advance)
            factor = min(1.0, (step + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * elapsed / budget))
            for group in optimizer.param_groups:
                group["lr"] = 1e-3 * max(factor, 0.01)
            targets = [{"boxes": t["boxes"], "labels": t["labels"] + 1} for t in targets]
            losses = model(list(images), targets)
            loss = sum(losses.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step % 50 == 0:
                print(f"step {step} epoch {epoch} loss {loss.item():.3f} ({elapsed / 60:.1f} min)", flush=True)
        epoch += 1
    return model, step, time.perf_counter() - start


@torch.no_grad()
def predict(model: torch.nn.Module, image, stages) -> Detections:
    out = model([to_tensor([preprocess(image, stages)])[0]])[0]
    return Detections(out["boxes"].numpy(), out["scores"].numpy(), out["labels"].numpy() - 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train_set")
    parser.add_argument("test_set")
    parser.add_argument("--minutes", type=float, required=True, help="wall-clock training budget")
    parser.add_argument("--limit", type=int, help="evaluate on the first N test frames only")
    parser.add_argument("--report", type=Path, default=BENCHMARKS_MD, help="the Markdown file to write")
    args = parser.parse_args()
    model, steps, seconds = train_ssdlite(args.train_set, args.minutes)
    model.eval()
    model.score_thresh, model.detections_per_img = 0.001, 300
    stages = load_config().preprocess
    test = load_dataset(args.test_set)
    frames = [im for images in test.splits.values() for im in images][: args.limit]
    start = time.perf_counter()
    predictions = [predict(model, read_frame(test.root / im.file_name).image, stages) for im in frames]
    per_frame = (time.perf_counter() - start) / len(frames)
    result = evaluate(frames, predictions, test.classes, max_dets=300)
    print(result.table())
    params = sum(p.numel() for p in model.parameters())
    body = "\n".join([
        f"`python benchmarks/ssdlite_reference.py {args.train_set} {args.test_set} --minutes {args.minutes:g}` "
        f"on {datetime.date.today()}; {machine()}.",
        f"torchvision ssdlite320_mobilenet_v3_large, weights=None, weights_backbone=None ({params / 1e6:.2f} M params), "
        f"{steps} steps of batch 16 in {seconds / 60:.1f} min, {torch.get_num_threads()} torch threads. "
        f"Test: {len(frames)} whole frames (resized to 320x320 by the model), score > 0.001, max 300: "
        f"{per_frame * 1000:.0f} ms per frame.",
        "",
        "```",
        result.table(),
        "```",
    ])
    update_section(f"Reference: SSDlite320-MobileNetV3 trained for {args.minutes:g} minutes", body, args.report)
    print(body)


if __name__ == "__main__":
    main()
