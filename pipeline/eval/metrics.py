"""What a user sees at one confidence threshold: a confusion matrix and false alarms per megapixel.

COCO mAP (debris/eval/coco_eval.py) ranks every box at every score; these count the boxes a labelling
run keeps (score >= conf), the way Ultralytics' confusion matrix does. Frames and predictions are
paired by position: predictions[i] are the boxes found in gt[i], with gt's class ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

from debris.labels import ImageLabels
from debris.detections import Detections


def confusion_matrix(
    gt: Sequence[ImageLabels], predictions: Sequence[Detections], num_classes: int, conf: float, iou: float = 0.5
) -> np.ndarray:
    """(K + 1, K + 1) int64 counts; rows are the true class, columns the predicted class, index K background.

    In each frame the predictions scoring >= conf claim ground-truth boxes in two passes, highest
    score first: first boxes of their own class, then unclaimed boxes of any class; each claims the
    free box it overlaps most, if that IoU is >= iou. Own class first, so a right box is not pushed
    off the diagonal by a higher-scoring wrong one on the same object. A claim counts in
    [true class, predicted class]; a prediction that claims nothing counts in [K, predicted class]
    (a false alarm), a ground-truth box nobody claims in [true class, K] (a miss). [K, K] stays 0.
    """
    k = num_classes
    matrix = np.zeros((k + 1, k + 1), np.int64)
    for frame, dets in zip(gt, predictions, strict=True):
        dets = dets[dets.scores >= conf]
        dets = dets[np.argsort(-dets.scores, kind="stable")]
        truth = frame.labels
        overlap = box_iou(torch.from_numpy(dets.xyxy), torch.from_numpy(truth.xyxy)).numpy()  # (P, G)
        same = dets.class_ids[:, None] == truth.class_ids[None, :]
        claimed, matched = np.zeros(len(truth), bool), np.full(len(dets), -1)
        for allowed in (same, np.ones_like(same)):
            for i in np.flatnonzero(matched < 0):
                free = np.where(claimed | ~allowed[i], -1.0, overlap[i])
                j = int(free.argmax()) if len(truth) else -1
                if j >= 0 and free[j] >= iou:
                    claimed[j], matched[i] = True, j
        for i, predicted in enumerate(dets.class_ids.tolist()):
            matrix[truth.class_ids[matched[i]] if matched[i] >= 0 else k, predicted] += 1
        np.add.at(matrix, (truth.class_ids[~claimed], k), 1)
    return matrix


@dataclass(frozen=True)
class AlarmRate:
    """boxes counted over frames whose areas sum to megapixels (width * height / 1e6 each)."""

    boxes: int
    frames: int
    megapixels: float

    @property
    def per_megapixel(self) -> float | None:
        """boxes / megapixels; None when no frame was counted (there is nothing to divide by)."""
        return self.boxes / self.megapixels if self.frames else None


def false_alarms(gt: Sequence[ImageLabels], predictions: Sequence[Detections], conf: float) -> AlarmRate:
    """Predicted boxes scoring >= conf in the frames without any ground-truth box.

    On empty terrain every kept box is wrong whatever its position, so this is the cost a user
    pays for each megapixel of bare ground: how many boxes to reject by hand.
    """
    empty = [(frame, dets) for frame, dets in zip(gt, predictions, strict=True) if len(frame.labels) == 0]
    boxes = sum(int((dets.scores >= conf).sum()) for _, dets in empty)
    return AlarmRate(boxes, len(empty), megapixels([frame for frame, _ in empty]))


def unmatched_predictions(gt: Sequence[ImageLabels], matrix: np.ndarray) -> AlarmRate:
    """The confusion matrix's background row (kept boxes matching no ground truth) over every frame's area."""
    return AlarmRate(int(matrix[-1].sum()), len(gt), megapixels(gt))


def megapixels(frames: Sequence[ImageLabels]) -> float:
    return sum(frame.width * frame.height for frame in frames) / 1e6
