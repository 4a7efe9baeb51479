"""models/decode.py in numpy: output points, box decoding and class-aware NMS without torch.

The onnxruntime backend (debris.infer.onnx_net) decodes with these, so a labelling install needs
no torch; the merger's NMS runs on them for every backend. Each function equals its torch
counterpart (tests/test_onnx.py): the same float32 arithmetic, the same MAX_LOG_SIZE clamp and
PRE_NMS_TOPK, and torchvision's NMS rules (a box is suppressed by a better one of its class whose
IoU is strictly above the threshold; order by score descending, ties in input order).
"""

from __future__ import annotations

import numpy as np

# exp() of a larger log-size would be > e^8 strides (~24,000 px at stride 8); clamping keeps an
# untrained or diverging head from producing inf boxes, whose IoU and NMS would be NaN.
MAX_LOG_SIZE = 8.0
PRE_NMS_TOPK = 1000  # candidates per image kept for NMS; more only costs time


def points(strides: tuple[int, ...], height: int, width: int) -> np.ndarray:
    """(A, 3) float32 x, y centre in input pixels and stride of every output point (as models.detector.points)."""
    out = []
    for s in strides:
        rows, cols = -(-height // s), -(-width // s)
        ys, xs = np.meshgrid(np.arange(rows, dtype=np.float32), np.arange(cols, dtype=np.float32), indexing="ij")
        xy = (np.stack([xs, ys], -1).reshape(-1, 2) + 0.5) * s
        out.append(np.concatenate([xy, np.full((len(xy), 1), s, np.float32)], 1))
    return np.concatenate(out).astype(np.float32)


def boxes(raw_boxes: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(..., A, 4) (dx, dy, log w, log h) in strides, (A, 3) points -> (..., A, 4) float32 xyxy pixels."""
    xy, stride = points[:, :2], points[:, 2:]
    centre = xy + raw_boxes[..., :2] * stride
    half = np.exp(np.minimum(raw_boxes[..., 2:], np.float32(MAX_LOG_SIZE))) * stride / np.float32(2)
    return np.concatenate([centre - half, centre + half], -1)


def batched_nms(xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou: float, limit: int | None = None) -> np.ndarray:
    """Indices of the boxes that class-aware greedy NMS keeps, best score first (torchvision's batched_nms).

    xyxy: (N, 4); scores, class_ids: (N,). limit: stop after this many kept (greedy NMS keeps boxes in
    order, so the first `limit` are the same as without it).
    """
    order = np.argsort(-scores, kind="stable")
    area = (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])
    keep = []
    while order.size and (limit is None or len(keep) < limit):
        i, rest = order[0], order[1:]
        keep.append(i)
        lo = np.maximum(xyxy[i, :2], xyxy[rest, :2])
        hi = np.minimum(xyxy[i, 2:], xyxy[rest, 2:])
        inter = np.prod(np.clip(hi - lo, 0, None), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):  # two empty boxes: NaN, which suppresses nothing, as in torchvision
            overlap = inter / (area[i] + area[rest] - inter)
        order = rest[~((overlap > iou) & (class_ids[rest] == class_ids[i]))]
    return np.array(keep, dtype=np.int64)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


def decode(
    raw: np.ndarray, points: np.ndarray, conf: float, iou: float, max_det: int, classes: list[int] | None = None
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Detections of each image of a batch, as models.decode.decode.

    raw: (B, A, 4 + C) float32; points: (A, 3). Returns B tuples (boxes (N, 4) float32 xyxy input pixels,
    scores (N,) float32, class_ids (N,) int64), best score first.
    """
    raw = raw.astype(np.float32, copy=False)
    xyxy = boxes(raw[..., :4], points.astype(np.float32, copy=False))
    scores = sigmoid(raw[..., 4:])
    if classes is not None:
        keep_class = np.zeros(scores.shape[-1], dtype=bool)
        keep_class[classes] = True
        scores = np.where(keep_class, scores, np.float32(0))
    out = []
    for b in range(raw.shape[0]):
        # every (point, class) pair above conf is a candidate, in row-major order as torch's nonzero
        point_idx, class_ids = np.nonzero(scores[b] > conf)
        score = scores[b, point_idx, class_ids]
        if score.size > PRE_NMS_TOPK:
            # equal scores keep their input order; torch.topk leaves theirs unspecified, so exact ties
            # across the cut may pick other candidates (real scores practically never tie there)
            top = np.argsort(-score, kind="stable")[:PRE_NMS_TOPK]
            score, point_idx, class_ids = score[top], point_idx[top], class_ids[top]
        box = xyxy[b, point_idx]
        keep = batched_nms(box, score, class_ids, iou, limit=max_det)
        out.append((box[keep], score[keep], class_ids[keep].astype(np.int64)))
    return out
