"""Drawing boxes and contact sheets with OpenCV alone (its Hershey fonts: nothing is downloaded)."""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from pipeline.detections import Detections

# Distinct on regolith: no browns or oranges that would vanish into the ground (RGB).
PALETTE = ((0, 255, 255), (255, 0, 255), (80, 255, 80), (255, 255, 0), (60, 120, 255), (255, 80, 80), (255, 255, 255))


def class_colour(class_id: int) -> tuple[int, int, int]:
    return PALETTE[class_id % len(PALETTE)]


def draw_detections(image: np.ndarray, detections: Detections, class_names: Sequence[str], show_scores: bool = True) -> np.ndarray:
    """A copy of `image` with every box, its class and score drawn.

    image: (H, W, 3) uint8 RGB or (H, W) uint8 gray (drawn on as RGB). Line width and text size
    scale with the frame, so labels read the same on a 640x480 frame and a 13 MP one.
    """
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
    thickness = max(1, round(min(out.shape[:2]) / 400))
    font_scale = 0.35 * thickness + 0.1
    for (x1, y1, x2, y2), score, class_id in zip(detections.xyxy, detections.scores, detections.class_ids):
        colour = class_colour(int(class_id))
        p1, p2 = (int(math.floor(x1)), int(math.floor(y1))), (int(math.ceil(x2)) - 1, int(math.ceil(y2)) - 1)
        cv2.rectangle(out, p1, p2, colour, thickness, cv2.LINE_AA)
        text = class_names[class_id] + (f" {score:.2f}" if show_scores else "")
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = p1[1] - th - base - 2 if p1[1] - th - base - 2 >= 0 else p2[1] + 1  # below the box at the top edge
        cv2.rectangle(out, (p1[0], top), (p1[0] + tw + 2, top + th + base + 2), colour, cv2.FILLED)
        cv2.putText(out, text, (p1[0] + 1, top + th + 1), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return out


def contact_sheet(images: Sequence[np.ndarray], columns: int = 4, cell: tuple[int, int] = (400, 300)) -> np.ndarray:
    """Images (RGB or gray uint8) fitted into a grid of `cell` = (width, height) cells: (H, W, 3) uint8 RGB."""
    rows = max(1, math.ceil(len(images) / columns))
    cw, ch = cell
    sheet = np.full((rows * ch, columns * cw, 3), 32, np.uint8)
    for i, image in enumerate(images):
        rgb = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image
        scale = min((cw - 4) / rgb.shape[1], (ch - 4) / rgb.shape[0])
        small = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))), interpolation=cv2.INTER_AREA)
        top, left = (i // columns) * ch + (ch - small.shape[0]) // 2, (i % columns) * cw + (cw - small.shape[1]) // 2
        sheet[top : top + small.shape[0], left : left + small.shape[1]] = small
    return sheet
