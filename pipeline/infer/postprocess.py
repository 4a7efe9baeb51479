"""Post-processing: raw network output -> each window's detections (`Decoder`) -> one frame's (`Merger`).

The decoder keeps the (point, class) pairs scoring at least `conf`, among the classes asked for,
and runs class-aware NMS within each window. The merger then applies four rules, in order:
1. A tile's box that touches one of the tile's inner sides (a side inside the frame) is dropped: its
   object is cut there, and the neighbouring tile (objects up to overlap x tile wide) or the
   whole-frame view (larger ones) sees it whole. This is what makes an object spanning four tiles
   one box rather than four pieces.
2. Boxes are mapped back to frame pixels and clipped to the frame.
3. Class-aware NMS (torchvision's rules, in numpy: debris.models.decode_np) removes the duplicates that overlapping tiles and
   the whole-frame view report. Boxes of different classes never suppress each other, so debris
   lying on a parachute survives however much the two boxes overlap.
4. A box lying mostly (CONTAINED) inside a better-scoring box of its own class is dropped: the
   pieces of a backshell that tiles inside it report, whose IoU with the whole is too small for NMS
   (SAHI merges them by intersection over the smaller box for the same reason). Hardware of one
   class does not nest, so nothing real is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from debris.detections import Detections
from debris.infer.tiler import Window
from debris.models import decode_np

# A box this close to a tile's inner side (network pixels) counts as cut by it. Boxes of objects
# cut at a side end a pixel or two short of it, as the network never sees past the side.
EDGE_PX = 2.0
CONTAINED = 0.8  # share of a box's area inside a better box of its class that makes it a duplicate
CANDIDATES = 3  # boxes per max_det checked for containment (the check is N x N)
CHUNK = 256  # rows of the containment check at a time


@dataclass(frozen=True)
class Decoder:
    """Raw output of a batch of windows -> one `Detections` per window, in the window's network pixels.

    A torch tensor is decoded by models/decode.py, a numpy array (onnxruntime) by its numpy twin,
    which never imports torch. conf: minimum score; iou: NMS IoU within a class; max_det: boxes kept per window;
    class_ids: the class ids to keep (resolved once, when the detector is built), or None for all.
    """

    conf: float
    iou: float
    max_det: int
    class_ids: tuple[int, ...] | None = None

    def __call__(self, raw: Any, points: np.ndarray) -> list[Detections]:
        """raw: (B, A, 4 + C) network output, torch.Tensor or np.ndarray; points: (A, 3) from decode_np.points."""
        classes = None if self.class_ids is None else list(self.class_ids)
        if isinstance(raw, np.ndarray):
            found = decode_np.decode(raw, points, self.conf, self.iou, self.max_det, classes)
            return [Detections(boxes, scores, ids) for boxes, scores, ids in found]
        import torch  # only a torch network's output gets here

        from debris.models.decode import decode

        found = decode(raw, torch.from_numpy(points), self.conf, self.iou, self.max_det, classes)
        return [Detections(boxes.numpy(), scores.numpy(), ids.numpy()) for boxes, scores, ids in found]


@dataclass(frozen=True)
class Merger:
    """The windows' detections of one frame -> the frame's, by the four rules of the module docstring."""

    iou: float
    max_det: int

    def __call__(self, windows: Sequence[Window], results: Sequence[Detections], width: int, height: int) -> Detections:
        """windows[i]: the window results[i] came from; results[i].xyxy: (N, 4) in that window's network
        pixels (origin at the window's corner, scaled by window.scale).
        Returns at most max_det boxes, xyxy in frame pixels clipped to width x height, best score first.
        """
        parts = [_to_frame(window, result) for window, result in zip(windows, results)]
        dets = Detections(
            np.concatenate([p.xyxy for p in parts] + [np.zeros((0, 4))]),
            np.concatenate([p.scores for p in parts] + [np.zeros(0)]),
            np.concatenate([p.class_ids for p in parts] + [np.zeros(0)]),
        )
        np.clip(dets.xyxy, 0, [width, height, width, height], out=dets.xyxy)
        dets = dets[(dets.xyxy[:, 2] > dets.xyxy[:, 0]) & (dets.xyxy[:, 3] > dets.xyxy[:, 1])]
        if len(windows) == 1:  # its boxes have been through NMS in the decoder already: only sort them
            dets = dets[np.argsort(-dets.scores, kind="stable")[: CANDIDATES * self.max_det]]
        else:
            # the rest could only come back if most of these were pieces
            dets = dets[decode_np.batched_nms(dets.xyxy, dets.scores, dets.class_ids, self.iou, limit=CANDIDATES * self.max_det)]
        return dets[_not_contained(dets)][: self.max_det]


def _not_contained(dets: Detections) -> np.ndarray:
    """(N,) bool: False for a box with >= CONTAINED of its area inside a better-scoring box of its class.

    dets must be sorted best score first (batched_nms returns them so). Rows go CHUNK at a time, so a
    product's thousands of boxes need CHUNK x N, not N x N, of memory.
    """
    boxes, n = dets.xyxy, len(dets)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(-1)
    keep = np.ones(n, dtype=bool)
    for start in range(0, n, CHUNK):
        rows = np.arange(start, min(start + CHUNK, n))
        lo, hi = np.maximum(boxes[rows, None, :2], boxes[None, :, :2]), np.minimum(boxes[rows, None, 2:], boxes[None, :, 2:])
        inter = np.clip(hi - lo, 0, None).prod(-1)  # (rows, N)
        inside = inter / np.maximum(area[rows, None], 1e-9) >= CONTAINED  # [j, i]: j lies inside i
        better = rows[:, None] > np.arange(n)[None, :]  # [j, i]: i comes before j
        same = dets.class_ids[rows, None] == dets.class_ids[None, :]
        keep[rows] = ~(inside & better & same).any(1)
    return keep


def _to_frame(window: Window, result: Detections) -> Detections:
    """Drop the boxes cut by the window's inner sides; map the rest to frame pixels."""
    w, h = window.size
    x1, y1, x2, y2 = result.xyxy.T
    left, top, right, bottom = window.inner
    cut = (left & (x1 <= EDGE_PX)) | (top & (y1 <= EDGE_PX)) | (right & (x2 >= w - EDGE_PX)) | (bottom & (y2 >= h - EDGE_PX))
    kept = result[~cut]
    sx, sy = window.scales
    xyxy = kept.xyxy / np.array([sx, sy, sx, sy], dtype=np.float32) + np.array([window.x0, window.y0, window.x0, window.y0], dtype=np.float32)
    return Detections(xyxy, kept.scores, kept.class_ids)
