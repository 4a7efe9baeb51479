"""Whole-frame inference with a detector: frame in, `Detections` out.

This is the single-view path (used to validate during training); tiled inference of large
frames builds on it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from models.decode import decode
from models.detector import Detector, points
from pipeline.detections import Detections
from pipeline.preprocess import preprocess


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """N (H, W, 3) uint8 RGB of one size -> (N, 3, H, W) float32 in [0, 1], channels_last (faster on CPU)."""
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255)
    return batch.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_image(
    model: Detector, image: np.ndarray, stages: list[dict[str, Any]], conf: float, iou: float, max_det: int,
    max_side: int = 1344,
) -> Detections:
    """Detect in one (H, W, 3) uint8 RGB frame; boxes come back in the frame's pixels.

    The preprocessed frame is shrunk to fit max_side (if larger) and padded to a multiple of the
    network's largest stride.
    """
    model.eval()
    image = preprocess(image, stages)
    h, w = image.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    x = to_tensor([image])
    if scale < 1:
        x = F.interpolate(x, scale_factor=scale, mode="area")
    stride = max(model.strides)
    sh, sw = x.shape[2:]
    x = F.pad(x, (0, -sw % stride, 0, -sh % stride))
    raw = model(x)
    boxes, scores, class_ids = decode(raw, points(model.strides, x.shape[2], x.shape[3], x.device), conf, iou, max_det)[0]
    boxes = (boxes / scale).clamp_(min=0)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clamp(max=w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clamp(max=h)
    return Detections(boxes.numpy(), scores.numpy(), class_ids.numpy())
