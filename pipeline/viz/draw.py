"""Drawing boxes and contact sheets with OpenCV alone (its Hershey fonts: nothing is downloaded)."""

from __future__ import annotations

import math
from typing import Sequence

import cv2
import numpy as np

from debris.detections import Detections

FONT = cv2.FONT_HERSHEY_SIMPLEX

# Distinct on regolith: no browns or oranges that would vanish into the ground (RGB).
PALETTE = ((0, 255, 255), (255, 0, 255), (80, 255, 80), (255, 255, 0), (60, 120, 255), (255, 80, 80), (255, 255, 255))


def class_colour(class_id: int) -> tuple[int, int, int]:
    return PALETTE[class_id % len(PALETTE)]


def draw_detections(image: np.ndarray, detections: Detections, class_names: Sequence[str], show_scores: bool = True) -> np.ndarray:
    """A copy of `image` with every box drawn in its class colour and labelled `class score`.

    image: (H, W, 3) uint8 RGB or (H, W) uint8 gray (drawn on as RGB) -> (H, W, 3) uint8 RGB.
    Line width and text size scale with the frame's shorter side, so a label is the same share of
    the frame on a 640x480 nav frame and a 4208x3120 one. Each label sits on a filled patch of the
    box's colour, above the box, or inside its top edge when the box touches the top of the frame,
    and is shifted left to stay inside the frame. Boxes are drawn from the lowest score up, so where
    labels overlap the best one is on top.
    """
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB) if image.ndim == 2 else image.copy()
    height, width = out.shape[:2]
    # 2 px on a 640x480 frame (1 px vanishes in texture), 10 px on 13 MP (~3 px when shown 1400 px wide)
    line = max(1, round(min(height, width) / 300))
    # below ~10 px of text (scale 0.45) labels stop being legible, so small frames keep that size
    font_scale = max(0.45, min(height, width) / 1070)
    weight = max(1, round(2.8 * font_scale))
    pad = max(1, round(2 * font_scale))
    # one text height for every label (underscores and descenders included), so labels line up
    (_, text_h), descent = cv2.getTextSize("Agjpq_", FONT, font_scale, weight)
    label_h = text_h + descent + 2 * pad
    order = np.argsort(detections.scores, kind="stable")  # lowest score first: the best label is drawn last, on top
    for (x1, y1, x2, y2), score, class_id in zip(detections.xyxy[order], detections.scores[order],
                                                 detections.class_ids[order]):
        colour = class_colour(int(class_id))
        p1, p2 = (int(math.floor(x1)), int(math.floor(y1))), (int(math.ceil(x2)) - 1, int(math.ceil(y2)) - 1)
        cv2.rectangle(out, p1, p2, colour, line, cv2.LINE_AA)
        text = class_names[class_id] + (f" {score:.2f}" if show_scores else "")
        (text_w, _), _ = cv2.getTextSize(text, FONT, font_scale, weight)
        label_w = text_w + 2 * pad
        left = max(0, min(p1[0] - line // 2, width - label_w))  # flush with the line's outer edge
        top = p1[1] - label_h if p1[1] >= label_h else p1[1]
        cv2.rectangle(out, (left, top), (left + label_w - 1, top + label_h - 1), colour, cv2.FILLED)
        cv2.putText(out, text, (left + pad, top + pad + text_h), FONT, font_scale, (0, 0, 0), weight, cv2.LINE_AA)
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
