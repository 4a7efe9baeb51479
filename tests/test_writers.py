"""Tests for debris.formats.writers, and the scores debris.formats.coco and debris.formats.yolo read and write.

Every file is written to and read from a temporary folder.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import re
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pytest
import yaml

from debris.formats.coco import write_coco
from debris.formats.geojson import write_geojson
from debris.geo import GeoRef
from debris.formats.dataset import load_dataset, read_dataset
from debris.labels import ImageLabels
from debris.detections import Detections
from debris.formats.sinks import SINKS
from debris.formats.writers import read_frame_json, write_csv, write_frame_json, write_labelstudio, write_yolo_txt
from tests.builders import png, write

CLASSES = ["parachute", "heat_shield", "backshell"]


def frame(file_name: str, width: int, height: int, boxes: list[tuple[float, ...]]) -> ImageLabels:
    """boxes: (x1, y1, x2, y2, class id, score) in pixels."""
    rows = np.array(boxes, dtype=np.float64).reshape(-1, 6)
    return ImageLabels(file_name, width, height, Detections(rows[:, :4], rows[:, 5], rows[:, 4]))


def frames() -> list[ImageLabels]:
    """An odd-sized frame with boxes touching its edges, a frame without boxes, and a name with a comma."""
    return [
        frame("frames/a.png", 1001, 777, [
            (12.3456789, 0.5, 250.75, 99.125, 0, 0.91234567),
            (0, 0, 1001, 777, 2, 0.3),
            (999.9, 776.1, 1001, 777, 1, 0.05),
        ]),
        frame("frames/empty.png", 640, 480, []),
        frame("frames/sub/b,1.png", 320, 240, [(10, 20, 30, 40, 1, 1.0)]),
    ]


def files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


# --- Label Studio ----------------------------------------------------------------------------


def test_labelstudio_percent_boxes_map_back_to_the_pixel_boxes(tmp_path):
    images = frames()
    path = tmp_path / "tasks.json"
    write_labelstudio(path, CLASSES, images, model_version="debris-1", image_prefix="/data/local-files/?d=")

    tasks = json.loads(path.read_text())
    # after ?d= the name is URL-encoded as Label Studio's storage sync does: b,1.png -> b%2C1.png
    assert [task["data"]["image"] for task in tasks] == ["/data/local-files/?d=" + quote(image.file_name, safe="/") for image in images]
    assert tasks[2]["data"]["image"] == "/data/local-files/?d=frames/sub/b%2C1.png"
    for task, image in zip(tasks, images):
        (prediction,) = task["predictions"]
        assert prediction["model_version"] == "debris-1"
        assert len(prediction["result"]) == len(image.labels)
        labels = image.labels
        for result, xyxy, class_id, score in zip(prediction["result"], labels.xyxy, labels.class_ids, labels.scores):
            assert (result["type"], result["from_name"], result["to_name"]) == ("rectanglelabels", "label", "image")
            assert (result["original_width"], result["original_height"]) == (image.width, image.height)
            value = result["value"]
            assert value["rectanglelabels"] == [CLASSES[class_id]] and value["rotation"] == 0
            assert all(0 <= value[key] <= 100 for key in ("x", "y", "width", "height"))
            # Label Studio's documented conversion: pixel_x = x / 100.0 * original_width, ...
            x, y = value["x"] / 100 * image.width, value["y"] / 100 * image.height
            w, h = value["width"] / 100 * image.width, value["height"] / 100 * image.height
            np.testing.assert_allclose([x, y, x + w, y + h], xyxy, rtol=0, atol=1e-3)
            assert result["score"] == pytest.approx(score, abs=5e-6)

    a, empty, b = (task["predictions"][0] for task in tasks)
    assert a["score"] == pytest.approx((0.91234567 + 0.3 + 0.05) / 3, abs=1e-5)
    assert (empty["score"], empty["result"]) == (0, [])
    assert b["score"] == 1.0
    ids = [result["id"] for prediction in (a, empty, b) for result in prediction["result"]]
    assert len(set(ids)) == len(ids) == 4

    first = path.read_bytes()
    write_labelstudio(path, CLASSES, frames(), model_version="debris-1", image_prefix="/data/local-files/?d=")
    assert path.read_bytes() == first  # a rerun gives the same ids, so the same file


# --- frame JSON ------------------------------------------------------------------------------


def test_frame_json_round_trip_is_exact_to_the_written_precision(tmp_path):
    for image in frames():
        path = tmp_path / "frame.json"
        write_frame_json(path, image, CLASSES)
        written = json.loads(path.read_text())
        assert [d["class"] for d in written["detections"]] == [CLASSES[i] for i in image.labels.class_ids]
        xyxy = np.array([d["xyxy"] for d in written["detections"]], dtype=np.float64).reshape(-1, 4)
        scores = np.array([d["score"] for d in written["detections"]], dtype=np.float64)
        np.testing.assert_allclose(xyxy, image.labels.xyxy, rtol=0, atol=5e-5)  # 4 decimals
        np.testing.assert_allclose(scores, image.labels.scores, rtol=0, atol=5e-6)  # 5 decimals

        back = read_frame_json(path)
        assert (back.file_name, back.width, back.height) == (image.file_name, image.width, image.height)
        assert back.labels.class_ids.tolist() == image.labels.class_ids.tolist()
        np.testing.assert_array_equal(back.labels.xyxy, xyxy.astype(np.float32))
        np.testing.assert_array_equal(back.labels.scores, scores.astype(np.float32))

        first = path.read_bytes()
        write_frame_json(path, back, CLASSES)
        assert path.read_bytes() == first  # what was read writes the same file again


GOOD_DETECTION = {"class_id": 0, "class": "parachute", "score": 0.5, "xyxy": [1, 2, 3, 4]}


@pytest.mark.parametrize("content, reason", [
    ("{not json", "Expecting property name"),
    ("[]", "top level is list"),
    (json.dumps({"file_name": "a.png", "width": 0, "height": 10, "detections": []}), "width and height"),
    (json.dumps({"file_name": "a.png", "width": 10, "height": 10}), '"detections" must be a list'),
    (json.dumps({"file_name": "a.png", "width": 10, "height": 10, "detections": [{**GOOD_DETECTION, "score": 1.5}]}),
     "detections[0]: score must be a number in [0, 1], got 1.5"),
    (json.dumps({"file_name": "a.png", "width": 10, "height": 10, "detections": [{**GOOD_DETECTION, "xyxy": [1, 2]}]}),
     "detections[0]: xyxy must be 4 finite numbers"),
    (json.dumps({"file_name": "a.png", "width": 10, "height": 10, "detections": [{**GOOD_DETECTION, "class_id": "0"}]}),
     "detections[0]: class_id must be an integer"),
])
def test_malformed_frame_json_is_a_value_error_naming_the_file(tmp_path, content, reason):
    path = write(tmp_path / "frame.json", content)
    with pytest.raises(ValueError, match=re.escape(str(path)) + ".*" + re.escape(reason)):
        read_frame_json(path)


# --- CSV -------------------------------------------------------------------------------------


def test_csv_has_one_row_per_box_and_none_for_a_frame_without_boxes(tmp_path):
    images = frames()
    path = tmp_path / "boxes.csv"
    write_csv(path, CLASSES, images)
    with path.open(newline="") as f:
        header, *rows = list(csv.reader(f))
    assert header == ["file_name", "width", "height", "class_id", "class", "score", "x1", "y1", "x2", "y2"]
    boxes = [(image, i) for image in images for i in range(len(image.labels))]
    assert [row[0] for row in rows] == ["frames/a.png"] * 3 + ["frames/sub/b,1.png"]
    assert len(rows) == len(boxes) == 4
    for row, (image, i) in zip(rows, boxes):
        class_id = int(image.labels.class_ids[i])
        assert row[1:5] == [str(image.width), str(image.height), str(class_id), CLASSES[class_id]]
        assert float(row[5]) == pytest.approx(image.labels.scores[i], abs=5e-6)
        np.testing.assert_allclose([float(v) for v in row[6:]], image.labels.xyxy[i], rtol=0, atol=5e-5)


# --- COCO with scores ------------------------------------------------------------------------


def test_coco_with_scores_round_trips_through_read_dataset(tmp_path):
    images = frames()
    path = tmp_path / "predictions.json"
    write_coco(path, CLASSES, images, scores=True)
    assert [a["score"] for a in json.loads(path.read_text())["annotations"]] == [0.91235, 0.3, 0.05, 1.0]

    ds = load_dataset(path)
    assert ds.classes == CLASSES
    for back, image in zip(ds.splits["train"], images, strict=True):
        assert (back.file_name, back.width, back.height) == (image.file_name, image.width, image.height)
        assert back.labels.class_ids.tolist() == image.labels.class_ids.tolist()
        np.testing.assert_allclose(back.labels.scores, image.labels.scores, rtol=0, atol=5e-6)
        np.testing.assert_allclose(back.labels.xyxy, image.labels.xyxy, rtol=0, atol=1e-3)

    write_coco(path, CLASSES, images)  # ground truth: no score key, and every score reads back as 1
    assert not any("score" in a for a in json.loads(path.read_text())["annotations"])
    assert [s for image in load_dataset(path).splits["train"] for s in image.labels.scores] == [1.0] * 4


@pytest.mark.parametrize("score", [1.5, -0.25, "high", None, True, math.nan])
def test_coco_score_that_is_not_a_number_in_0_1_is_a_problem(tmp_path, score):
    path = write(tmp_path / "predictions.json", json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "score": score},
            {"id": 2, "image_id": 1, "category_id": 1, "bbox": [5, 6, 7, 8], "score": 0.5},
        ],
        "categories": [{"id": 1, "name": "debris"}],
    }))
    ds, problems = read_dataset(path)
    message = f"score must be a number in [0, 1], got {score!r}"
    assert [(p.file, p.where, p.message) for p in problems] == [(str(path), "annotations[0] (id 1)", message)]
    (image,) = ds.splits["train"]
    assert image.labels.scores.tolist() == [0.5]  # the valid annotation keeps its score


# --- YOLO with confidences -------------------------------------------------------------------


def test_yolo_line_with_a_sixth_field_is_read_with_that_confidence(tmp_path):
    png(tmp_path / "images" / "train" / "a.png", 100, 50)
    write(tmp_path / "labels" / "train" / "a.txt", (
        "0 0.5 0.5 0.2 0.4 0.875\n"
        "1 0.1 0.1 0.2 0.2\n"
        "0 0.5 0.5 0.2 0.2 1.5\n"
        "0 0.5 0.5 0.2 0.2 nan\n"
    ))
    write(tmp_path / "data.yaml", yaml.safe_dump({"train": "images/train", "names": ["parachute", "debris"]}))
    ds, problems = read_dataset(tmp_path)
    assert [(p.where, p.message) for p in problems] == [
        ("line 3", "confidence '1.5' (the 6th field) must lie in [0, 1]"),
        ("line 4", "fields must be finite numbers, got '0 0.5 0.5 0.2 0.2 nan'"),
    ]
    (image,) = ds.splits["train"]
    assert image.labels.scores.tolist() == [0.875, 1.0]
    assert image.labels.class_ids.tolist() == [0, 1]
    np.testing.assert_allclose(image.labels.xyxy, [[40, 15, 60, 35], [0, 0, 20, 10]], atol=1e-5)


def test_yolo_txt_with_scores_reads_back_with_them(tmp_path):
    image = frames()[0]
    png(tmp_path / "images" / "train" / "a.png", image.width, image.height)
    write(tmp_path / "data.yaml", yaml.safe_dump({"train": "images/train", "names": CLASSES}))
    label = tmp_path / "labels" / "train" / "a.txt"

    write_yolo_txt(label, image, scores=True)
    assert [len(line.split()) for line in label.read_text().splitlines()] == [6, 6, 6]
    (back,) = load_dataset(tmp_path).splits["train"]
    assert back.labels.class_ids.tolist() == image.labels.class_ids.tolist()
    np.testing.assert_allclose(back.labels.scores, image.labels.scores, rtol=0, atol=5e-6)
    np.testing.assert_allclose(back.labels.xyxy, image.labels.xyxy, rtol=0, atol=1e-3)

    write_yolo_txt(label, image, scores=False)
    assert [len(line.split()) for line in label.read_text().splitlines()] == [5, 5, 5]
    (back,) = load_dataset(tmp_path).splits["train"]
    assert back.labels.scores.tolist() == [1.0, 1.0, 1.0]


# --- atomic writes ---------------------------------------------------------------------------


WRITERS = {
    "coco": lambda path: write_coco(path, CLASSES, frames(), scores=True),
    "yolo": lambda path: write_yolo_txt(path, frames()[0], scores=True),
    "csv": lambda path: write_csv(path, CLASSES, frames()),
    "json": lambda path: write_frame_json(path, frames()[0], CLASSES),
    "labelstudio": lambda path: write_labelstudio(path, CLASSES, frames(), model_version="debris-1"),
    "geojson": lambda path: write_geojson(path, dataclasses.replace(frames()[0], geo=GeoRef("LOCAL_CS[\"grid\"]", (1, 0, 0, 0, -1, 0))),
                                          CLASSES),
}


@pytest.mark.parametrize("fmt", [*SINKS, "json"])
def test_every_writer_writes_atomically(tmp_path, monkeypatch, fmt):
    path = tmp_path / "out" / f"result.{fmt}"

    def crash(src: str, dst: str) -> None:  # the process dies just before the file would appear
        raise OSError("simulated crash")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        WRITERS[fmt](path)
    assert files(tmp_path) == []  # no half-written output and no temp file left behind
    monkeypatch.undo()
    WRITERS[fmt](path)
    assert files(tmp_path) == [path]
