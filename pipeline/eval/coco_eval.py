"""COCO box evaluation of predictions against ground truth, through pycocotools' COCOeval.

Both sides are built in memory: image ids 1..n in frame order, category id = class id + 1,
area = w * h, so small / medium / large (< 32², < 96², the rest) go by box area as in COCO.
The twelve numbers are read from COCOeval's arrays, not from summarize(), which hard-codes
maxDets=100 for mAP50-95 and so reports -1 for any other max_dets.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from debris.boxes import xyxy_to_xywh
from debris.labels import ImageLabels
from debris.detections import Detections

MISSING = -1.0  # COCO's value where there is nothing to measure: no ground truth of that class or size
RECALLS = np.linspace(0.0, 1.0, 101)  # COCOeval's recall thresholds: the x axis of Evaluation.pr50

# name -> (COCOeval array, IoU or None for the mean over 0.50:0.95, area, index into maxDets = (1, 10, max_dets))
STATS = {
    "mAP50-95": ("precision", None, "all", 2),
    "mAP50": ("precision", 0.50, "all", 2),
    "mAP75": ("precision", 0.75, "all", 2),
    "mAP_small": ("precision", None, "small", 2),
    "mAP_medium": ("precision", None, "medium", 2),
    "mAP_large": ("precision", None, "large", 2),
    "AR1": ("recall", None, "all", 0),
    "AR10": ("recall", None, "all", 1),
    "AR100": ("recall", None, "all", 2),
    "AR_small": ("recall", None, "small", 2),
    "AR_medium": ("recall", None, "medium", 2),
    "AR_large": ("recall", None, "large", 2),
}


@dataclass(frozen=True)
class Evaluation:
    """stats: the twelve COCO numbers named as in STATS ("AR100" is recall at max_dets).
    per_class: class name -> {"AP50-95", "AP50", "AR100", "n_gt" (an int)}. MISSING where no ground truth.
    pr50: (num classes, 101) precision at IoU 0.5 at each of RECALLS, as COCO interpolates it (the
          best precision at that recall or above; 0 past the highest recall reached); AP50 is its
          mean. A row is MISSING throughout for a class without ground truth.
    """

    stats: dict[str, float]
    per_class: dict[str, dict[str, float]]
    pr50: np.ndarray = field(repr=False, compare=False)

    def table(self) -> str:
        """The summary as mAP / AR pairs side by side, then one row per class; '-' is MISSING."""
        names = list(self.stats)  # six mAPs, then the six ARs that match them
        pairs = zip(names[:6], names[6:])
        lines = [f"{ap:<12}{_cell(self.stats[ap]):>6}    {ar:<12}{_cell(self.stats[ar]):>6}" for ap, ar in pairs]
        width = max([len("class"), *map(len, self.per_class)]) + 2
        lines += ["", f"{'class':<{width}}{'n_gt':>6}{'AP50-95':>9}{'AP50':>8}{'AR100':>8}"]
        for name, c in self.per_class.items():
            cells = f"{_cell(c['AP50-95']):>9}{_cell(c['AP50']):>8}{_cell(c['AR100']):>8}"
            lines.append(f"{name:<{width}}{c['n_gt']:>6}{cells}")
        return "\n".join(lines)


def evaluate(
    gt: Sequence[ImageLabels], predictions: Sequence[Detections], classes: Sequence[str], max_dets: int = 100
) -> Evaluation:
    """COCO bbox evaluation (pycocotools COCOeval) of predictions[i] against gt[i] (same order, same frames).

    Frames without ground truth take part: their predictions are false positives. A class
    without ground truth gets MISSING for AP and AR and n_gt 0, and does not count in the mAPs.
    Up to max_dets boxes per frame and class are scored (COCO keeps the highest scores).
    """
    if len(gt) != len(predictions):
        raise ValueError(f"evaluate: {len(gt)} ground-truth frames but {len(predictions)} predictions")
    images = [{"id": i, "file_name": f.file_name, "width": f.width, "height": f.height} for i, f in enumerate(gt, 1)]
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools narrates each step; the caller prints table()
        coco_gt = _coco(images, _annotations([f.labels for f in gt]), classes)
        # built like the ground truth rather than by loadRes, which fails on an empty list of results
        coco_dt = _coco(images, _annotations(predictions), classes)
        e = COCOeval(coco_gt, coco_dt, "bbox")
        e.params.maxDets = [1, 10, max_dets]
        e.evaluate()
        e.accumulate()
    stats = {name: _mean(e, *spec) for name, spec in STATS.items()}
    per_class = {
        name: {
            "AP50-95": _mean(e, "precision", None, "all", 2, k),
            "AP50": _mean(e, "precision", 0.50, "all", 2, k),
            "AR100": _mean(e, "recall", None, "all", 2, k),
            "n_gt": len(coco_gt.getAnnIds(catIds=[k + 1])),
        }
        for k, name in enumerate(classes)
    }
    iou50 = np.flatnonzero(np.isclose(e.params.iouThrs, 0.50))[0]
    pr50 = e.eval["precision"][iou50, :, :, e.params.areaRngLbl.index("all"), 2].T.copy()
    return Evaluation(stats, per_class, pr50)


def _annotations(frames: Sequence[Detections]) -> list[dict]:
    """COCO annotations of every frame's boxes: image id = position + 1, category id = class id + 1."""
    annotations = []
    for image_id, dets in enumerate(frames, 1):
        rows = zip(xyxy_to_xywh(dets.xyxy).tolist(), dets.scores.tolist(), dets.class_ids.tolist())
        for xywh, score, class_id in rows:
            annotations.append({
                # ids count from 1: COCOeval takes a matched ground-truth id of 0 for "unmatched"
                "id": len(annotations) + 1, "image_id": image_id, "category_id": class_id + 1,
                "bbox": xywh, "area": xywh[2] * xywh[3], "score": score, "iscrowd": 0,
            })
    return annotations


def _coco(images: list[dict], annotations: list[dict], classes: Sequence[str]) -> COCO:
    """An indexed COCO object from in-memory lists; every class is a category, with or without boxes."""
    coco = COCO()
    categories = [{"id": k + 1, "name": name} for k, name in enumerate(classes)]
    coco.dataset = {"images": images, "annotations": annotations, "categories": categories}
    coco.createIndex()
    return coco


def _mean(e: COCOeval, array: str, iou: float | None, area: str, m: int, k: int | slice = slice(None)) -> float:
    """Mean of e.eval[array] at area and maxDets[m] (class k, or all), over the entries COCO measured.

    precision is [IoU, recall threshold, class, area, maxDets] and recall [IoU, class, area,
    maxDets]; -1 marks entries without ground truth, which are left out as summarize() does.
    """
    s = e.eval[array][..., k, e.params.areaRngLbl.index(area), m]
    if iou is not None:
        s = s[np.isclose(e.params.iouThrs, iou)]
    s = s[s > -1]
    return float(s.mean()) if s.size else MISSING


def _cell(value: float) -> str:
    return "-" if value == MISSING else f"{value:.3f}"
