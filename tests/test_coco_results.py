"""COCO results lists (what detectron2, MMDetection, Ultralytics and SAHI write) as `debris eval --pred`."""

from __future__ import annotations

import contextlib
import io
import json

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from debris.cli import EXIT_OK, EXIT_USAGE, main
from debris.eval.coco_eval import STATS, evaluate
from debris.eval.inputs import gt_frames, read_predictions
from debris.formats.dataset import load_dataset, read_dataset
from debris.labels import DatasetError


def write_pair(tmp_path, seed: int = 0):
    """A COCO ground truth with odd ids (images 11.., categories 7 and 3) and a noisy results list for it."""
    rng = np.random.default_rng(seed)
    images, annotations, results = [], [], []
    for i in range(6):
        image_id = 11 + i
        images.append({"id": image_id, "file_name": f"f{i}.png", "width": 640, "height": 480})
        for _ in range(int(rng.integers(1, 5))):
            x, y, w, h = rng.uniform(0, 400), rng.uniform(0, 300), rng.uniform(4, 200), rng.uniform(4, 150)
            category = int(rng.choice([7, 3]))
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": category,
                                "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
            for _ in range(2):  # a good and a worse guess, sometimes of the wrong class
                jitter = rng.normal(0, 0.1 * min(w, h), 4)
                results.append({"image_id": image_id, "category_id": category if rng.random() < 0.8 else 10 - category,
                                "bbox": [x + jitter[0], y + jitter[1], max(1.0, w + jitter[2]), max(1.0, h + jitter[3])],
                                "score": float(rng.uniform(0.05, 1))})
    categories = [{"id": 7, "name": "parachute"}, {"id": 3, "name": "debris"}]
    gt = tmp_path / "instances.json"
    gt.write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))
    pred = tmp_path / "results.json"
    pred.write_text(json.dumps(results))
    return gt, pred


def test_a_results_list_scores_as_pycocotools_loadres_and_cocoeval_do(tmp_path):
    gt, pred = write_pair(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_gt = COCO(str(gt))
        e = COCOeval(coco_gt, coco_gt.loadRes(str(pred)), "bbox")
        e.evaluate()
        e.accumulate()
        e.summarize()
    dataset = load_dataset(gt)
    frames = gt_frames(dataset)
    predictions = read_predictions(pred, frames, dataset.classes, gt_source=gt)
    ours = evaluate(frames, predictions.detections, dataset.classes, max_dets=100).stats
    np.testing.assert_allclose([ours[name] for name in STATS], e.stats, atol=1e-6)
    assert 0.2 < ours["mAP50"] < 1  # a real mix of hits and misses, not a trivial pair


def test_eval_takes_a_results_list_and_ids_resolve_through_the_gt(tmp_path, capsys):
    gt, pred = write_pair(tmp_path)
    assert main(["eval", "--pred", str(pred), "--gt", str(gt)]) == EXIT_OK
    assert "mAP50-95" in capsys.readouterr().out


@pytest.mark.parametrize("entry,message", [
    ({"image_id": 99, "category_id": 7, "bbox": [0, 0, 5, 5], "score": 0.5}, "image_id 99 is not an image"),
    ({"image_id": 11, "category_id": 5, "bbox": [0, 0, 5, 5], "score": 0.5}, "category_id 5 is not a category"),
    ({"image_id": 11, "category_id": 7, "bbox": [0, 0, -5, 5], "score": 0.5}, "is not [x, y, width, height]"),
    ({"image_id": 11, "category_id": 7, "bbox": [0, 0, 5, 5], "score": "high"}, "score 'high' is not a number"),
    ({"image_id": {"a": 1}, "category_id": 7, "bbox": [0, 0, 5, 5], "score": 0.5}, "is not an image"),
    ({"image_id": 11, "category_id": 7, "bbox": [1e308, 0, 1e308, 5], "score": 0.5}, "every value within"),  # fuzz.py
    ({"image_id": 11, "category_id": 7, "bbox": [0, 0, 5, 5], "score": 1e308}, "is not a number within"),
])
def test_a_bad_result_is_named_by_its_index(tmp_path, entry, message, capfd):
    gt, pred = write_pair(tmp_path)
    pred.write_text(json.dumps(json.loads(pred.read_text()) + [entry]))
    dataset = load_dataset(gt)
    with pytest.raises(DatasetError, match="results\\[\\d+\\]") as err:
        read_predictions(pred, gt_frames(dataset), dataset.classes, gt_source=gt)
    assert message in str(err.value)
    assert capfd.readouterr().err == ""  # no numpy overflow warning on the way


def test_a_results_list_needs_a_coco_gt_and_is_not_a_data_set(tmp_path, capsys):
    gt, pred = write_pair(tmp_path)
    _, problems = read_dataset(pred)
    assert "results list holds predictions" in problems[0].message
    yolo_gt = tmp_path / "data.yaml"
    (tmp_path / "images" / "train").mkdir(parents=True)
    yolo_gt.write_text("path: .\ntrain: images/train\nnames: [parachute, debris]\n")
    assert main(["eval", "--pred", str(pred), "--gt", str(yolo_gt)]) == EXIT_USAGE
    assert "give the COCO ground-truth file" in capsys.readouterr().err


def test_overlay_draws_a_results_list_at_the_boxes_its_ids_resolve_to(tmp_path, capsys):
    gt, pred = write_pair(tmp_path)
    frame = np.full((480, 640, 3), 128, np.uint8)
    for i in range(6):
        cv2.imwrite(str(tmp_path / f"f{i}.png"), frame)
    # one confident box on image 12 (f1.png) only; the rest of the list scores low and is dropped here
    pred.write_text(json.dumps([{"image_id": 12, "category_id": 3, "bbox": [100, 50, 200, 120], "score": 0.9}]))
    out = tmp_path / "overlays"
    assert main(["overlay", str(pred), "--gt", str(gt), "--out", str(out)]) == EXIT_OK
    drawn = cv2.imread(str(out / "f1.jpg")).astype(int)
    changed = np.abs(drawn - 128).max(axis=2) > 40
    ys, xs = np.nonzero(changed)
    assert abs(xs.min() - 100) <= 3 and abs(xs.max() - 300) <= 3 and ys.max() <= 173  # the box, its label above it
    assert not (np.abs(cv2.imread(str(out / "f0.jpg")).astype(int) - 128).max(axis=2) > 40).any()  # no box on f0


def test_overlay_of_a_results_list_without_gt_says_to_give_one(tmp_path, capsys):
    _, pred = write_pair(tmp_path)
    assert main(["overlay", str(pred), "--out", str(tmp_path / "o")]) == EXIT_USAGE
    assert "--gt" in capsys.readouterr().err
