"""Box conversions: the one place where xyxy meets the formats files use.

Inside the code boxes are xyxy pixels. COCO stores [x, y, w, h] pixels; YOLO stores
cx, cy, w, h normalised by the image size; Label Studio stores x, y, w, h in percent of the
image size. Arrays are (N, 4); maths is done in float64 so a round trip through a file loses
nothing visible.
"""

from __future__ import annotations

import numpy as np


def xyxy_to_xywh(xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) x1 y1 x2 y2 -> (N, 4) x y w h (COCO), float64."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    """(N, 4) x y w h (COCO) -> (N, 4) x1 y1 x2 y2, float64."""
    b = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)


def xyxy_to_yolo(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) x1 y1 x2 y2 pixels -> (N, 4) cx cy w h normalised to [0, 1] by the image size."""
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    scale = np.array([width, height, width, height], dtype=np.float64)
    cxcywh = np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2, b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)
    return cxcywh / scale


def yolo_to_xyxy(cxcywh: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) cx cy w h normalised -> (N, 4) x1 y1 x2 y2 pixels, float64."""
    b = np.asarray(cxcywh, dtype=np.float64).reshape(-1, 4)
    b = b * np.array([width, height, width, height], dtype=np.float64)
    half_w, half_h = b[:, 2] / 2, b[:, 3] / 2
    return np.stack([b[:, 0] - half_w, b[:, 1] - half_h, b[:, 0] + half_w, b[:, 1] + half_h], axis=1)


def xyxy_to_percent(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) x1 y1 x2 y2 pixels -> (N, 4) x y w h in percent (0-100) of the image size, float64."""
    scale = np.array([width, height, width, height], dtype=np.float64)
    return xyxy_to_xywh(xyxy) / scale * 100


def percent_to_xyxy(xywh_percent: np.ndarray, width: int, height: int) -> np.ndarray:
    """(N, 4) x y w h in percent (0-100) of the image size -> (N, 4) x1 y1 x2 y2 pixels, float64."""
    scale = np.array([width, height, width, height], dtype=np.float64)
    return xywh_to_xyxy(np.asarray(xywh_percent, dtype=np.float64).reshape(-1, 4) / 100 * scale)
