"""Tests for debris.eval.coco_eval: COCO numbers on small hand-made frames whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest

from debris.labels import ImageLabels
from debris.detections import Detections
from debris.eval.coco_eval import MISSING, evaluate

CLASSES = ["parachute", "backshell", "heat_shield", "descent_stage", "debris"]
ONE = pytest.approx(1.0)  # COCOeval divides by tp + fp + eps, so one true positive scores 1 - 2e-16


def frame(xyxy: list[list[float]], class_ids: list[int], size: int = 1000) -> ImageLabels:
    return ImageLabels("frame.png", size, size, Detections.from_labels(np.array(xyxy).reshape(-1, 4), class_ids))


def scene() -> list[ImageLabels]:
    """Two frames holding every class, four parachutes among them; medium and large boxes, apart."""
    return [
        frame([[10, 10, 110, 60], [200, 10, 300, 60], [400, 10, 500, 60], [10, 300, 210, 500]], [0, 0, 0, 1]),
        frame([[10, 10, 90, 90], [300, 300, 450, 400], [600, 600, 640, 640], [10, 700, 110, 800]], [2, 3, 4, 0]),
    ]


def perfect(gt: list[ImageLabels]) -> list[Detections]:
    return [f.labels for f in gt]


def test_perfect_predictions_score_one():
    result = evaluate(scene(), perfect(scene()), CLASSES)
    assert result.stats["mAP50-95"] == ONE and result.stats["mAP50"] == ONE and result.stats["AR100"] == ONE
    assert all(c["AP50-95"] == ONE and c["AP50"] == ONE and c["AR100"] == ONE for c in result.per_class.values())
    assert [c["n_gt"] for c in result.per_class.values()] == [4, 1, 1, 1, 1]


def test_boxes_shifted_by_a_tenth_pass_iou_half_but_not_the_strict_thresholds():
    gt = scene()
    shifted = []
    for f in gt:
        width = f.labels.xyxy[:, 2] - f.labels.xyxy[:, 0]
        xyxy = f.labels.xyxy + 0.1 * width[:, None] * np.array([1, 0, 1, 0])
        shifted.append(Detections(xyxy, f.labels.scores, f.labels.class_ids))
    result = evaluate(gt, shifted, CLASSES)
    # IoU = 0.9 / 1.1 = 0.82: a match at thresholds 0.50 ... 0.80, 7 of the 10
    assert result.stats["mAP50"] == ONE
    assert result.stats["mAP50-95"] == pytest.approx(0.7)


def test_a_missed_box_lowers_only_its_class_recall():
    gt = scene()
    full = evaluate(gt, perfect(gt), CLASSES)
    first = gt[0].labels
    missing_one = [first[np.arange(len(first)) != 0], gt[1].labels]  # drop one of the four parachutes
    result = evaluate(gt, missing_one, CLASSES)
    assert result.per_class["parachute"]["AR100"] == pytest.approx(3 / 4)
    assert result.per_class["parachute"]["AP50-95"] < 1.0
    for name in CLASSES[1:]:
        assert result.per_class[name] == full.per_class[name]


def test_a_wrong_class_is_a_miss_for_the_true_class_and_a_false_positive_for_the_predicted_one():
    box_a, box_b = [10, 10, 110, 110], [500, 500, 600, 600]
    gt = [frame([box_a], [0]), frame([box_b], [1])]
    # the parachute at A is called a backshell, with a higher score than the real backshell at B
    predictions = [Detections([box_a], [0.9], [1]), Detections([box_b], [0.8], [1])]
    result = evaluate(gt, predictions, CLASSES)
    assert result.per_class["parachute"]["AP50"] == 0.0 and result.per_class["parachute"]["AR100"] == 0.0
    # backshell: a false positive ranked first, then the true positive: precision 0.5 at every recall
    assert result.per_class["backshell"]["AP50"] == pytest.approx(0.5)
    assert result.per_class["backshell"]["AR100"] == ONE
    assert result.stats["mAP50"] == pytest.approx(0.25)


def test_predictions_in_a_frame_without_ground_truth_are_false_positives():
    gt = [frame([[10, 10, 110, 110]], [0]), frame([], [])]
    predictions = [Detections([[10, 10, 110, 110]], [0.5], [0]), Detections([[10, 10, 110, 110]], [0.9], [0])]
    assert evaluate(gt, predictions, CLASSES).per_class["parachute"]["AP50"] == pytest.approx(0.5)


def test_no_predictions_give_zeros_without_crashing():
    result = evaluate(scene(), [Detections.empty(), Detections.empty()], CLASSES)
    assert result.stats["mAP50-95"] == 0.0 and result.stats["AR100"] == 0.0
    # -1 only where COCO has nothing to measure: scene() has no box under 32²
    assert result.stats["mAP_small"] == MISSING and result.stats["AR_small"] == MISSING
    assert all(v == 0.0 for name, v in result.stats.items() if name not in ("mAP_small", "AR_small"))
    assert all(c["AP50-95"] == 0.0 and c["AR100"] == 0.0 for c in result.per_class.values())


def test_a_class_without_ground_truth_is_missing_not_zero():
    gt = [frame([[10, 10, 110, 110]], [0])]
    result = evaluate(gt, perfect(gt), CLASSES)
    assert result.per_class["debris"] == {"AP50-95": MISSING, "AP50": MISSING, "AR100": MISSING, "n_gt": 0}
    assert result.stats["mAP50-95"] == ONE  # the class without ground truth does not drag the mean


def test_size_buckets_go_by_box_area():
    gt = [frame([[10, 10, 30, 30], [100, 100, 300, 300]], [0, 1])]  # 20² is small, 200² is large
    result = evaluate(gt, perfect(gt), CLASSES)
    assert result.stats["mAP_small"] == ONE and result.stats["mAP_large"] == ONE
    assert result.stats["AR_small"] == ONE and result.stats["AR_large"] == ONE
    assert result.stats["mAP_medium"] == MISSING and result.stats["AR_medium"] == MISSING


def test_max_dets_above_100_scores_every_box():
    xy = np.stack(np.meshgrid(np.arange(15), np.arange(10)), axis=-1).reshape(-1, 2) * 60.0
    gt = [frame(np.concatenate([xy, xy + 50], axis=1).tolist(), [0] * 150)]
    assert evaluate(gt, perfect(gt), CLASSES).stats["AR100"] == pytest.approx(100 / 150)
    result = evaluate(gt, perfect(gt), CLASSES, max_dets=300)
    assert result.stats["mAP50-95"] == ONE and result.stats["AR100"] == ONE


def test_frame_count_must_match():
    with pytest.raises(ValueError, match="2 ground-truth frames but 1 predictions"):
        evaluate(scene(), [Detections.empty()], CLASSES)


def test_table_names_every_class_and_the_main_metric():
    text = evaluate(scene(), perfect(scene()), CLASSES).table()
    assert "mAP50-95" in text and all(name in text for name in CLASSES)
