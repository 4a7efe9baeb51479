"""Tests for debris.formats.check (and the problems debris.formats.coco and debris.formats.yolo report).

Every data set is built in a temporary folder with tiny PNGs written by cv2.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import debris.formats.check
from debris.formats.check import check_dataset
from debris.formats.dataset import read_dataset
from debris.labels import Problem
from tests.builders import png, write


def snapshot(folder: Path) -> dict[Path, tuple[bytes, int]]:
    """Every file under folder with its bytes and modification time."""
    return {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(folder.rglob("*")) if p.is_file()}


def located(problems: list[Problem]) -> list[tuple[str, str, str]]:
    return [(p.file, p.where, p.message) for p in problems]


def assert_problems(problems: list[Problem], expected: list[tuple[str, str, str]]) -> None:
    """Exactly the expected (file, where, start of the message) problems, in any order."""
    def found(file: str, where: str, message: str) -> bool:
        return any(p.file == file and p.where == where and p.message.startswith(message) for p in problems)

    missing = [e for e in expected if not found(*e)]
    assert not missing, f"not reported: {missing}\nreported: {located(problems)}"
    assert len(problems) == len(expected), located(problems)


# --- COCO ----------------------------------------------------------------------------------


def broken_coco(root: Path) -> Path:
    png(root / "good.png", 60, 40)
    png(root / "wrong_size.png", 60, 40)
    write(root / "text.png", "this is not an image")
    images = [
        {"id": 1, "file_name": "good.png", "width": 60, "height": 40},
        {"id": 2, "file_name": "../../etc/passwd", "width": 10, "height": 10},
        {"id": 3, "file_name": "/etc/passwd", "width": 10, "height": 10},
        {"id": 4, "file_name": "missing.png", "width": 10, "height": 10},
        {"id": 5, "file_name": "text.png", "width": 10, "height": 10},
        {"id": 6, "file_name": "wrong_size.png", "width": 50, "height": 40},
        {"id": 1, "file_name": "other.png", "width": 10, "height": 10},
        {"id": 7, "file_name": "./good.png", "width": 60, "height": 40},
        {"id": 8, "file_name": "", "width": 10, "height": 10},
        {"id": 9, "file_name": "no_size.png", "width": -5},
    ]
    annotations = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
        {"id": 2, "image_id": 1, "category_id": 99, "bbox": [10, 10, 20, 20]},
        {"id": 3, "image_id": 1, "category_id": 1, "bbox": [50, 30, 30, 30]},
        {"id": 4, "image_id": 1, "category_id": 1, "bbox": [10, 10, 0, 5]},
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3]},
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4]},
        {"id": 7, "image_id": 999, "category_id": 1, "bbox": [1, 2, 3, 4]},
        {"id": 8, "image_id": 1, "category_id": 1, "bbox": [1, 2, 3, 4], "iscrowd": 1},
        {"id": 9, "image_id": 2, "category_id": 1, "bbox": [1, 2, 3, 4]},  # its image is refused: dropped quietly
        {"id": 10, "image_id": 1, "category_id": 1, "bbox": ["a", 1, 2, 3]},
        {"id": 11, "image_id": 1, "category_id": 1, "bbox": [-0.0005, 0, 60.0005, 40]},  # within the tolerance
    ]
    categories = [
        {"id": 1, "name": "parachute"},
        {"id": 1, "name": "backshell"},
        {"id": 4, "name": "parachute"},
        {"id": "x", "name": "debris"},
    ]
    data = {"images": images, "annotations": annotations, "categories": categories}
    return write(root / "labels.json", json.dumps(data))


def test_coco_check_lists_every_problem_with_its_file_and_place(tmp_path, monkeypatch):
    path = broken_coco(tmp_path)
    opened = []
    read_frame = debris.formats.check.read_frame
    monkeypatch.setattr(debris.formats.check, "read_frame", lambda p, *a: opened.append(Path(p)) or read_frame(p, *a))

    problems = check_dataset(path)

    j = str(path)
    assert_problems(problems, [
        (j, "images[1] (id 2)", "file_name '../../etc/passwd' escapes the data set folder (refused; --images DIR finds it under DIR by name)"),
        (j, "images[2] (id 3)", "file_name '/etc/passwd' is an absolute path (refused"),
        (j, "images[6] (id 1)", "duplicate image id 1 (first at images[0])"),
        (j, "images[7] (id 7)", "duplicate file_name 'good.png' (first at images[0])"),
        (j, "images[8] (id 8)", "file_name must be a non-empty string, got ''"),
        (j, "images[9] (id 9)", "width must be a positive integer, got -5"),
        (j, "images[9] (id 9)", "height must be a positive integer, got None"),
        (j, "annotations[1] (id 2)", "unknown category_id 99"),
        (j, "annotations[2] (id 3)", "bbox [50, 30, 30, 30] lies outside the 60x40 image"),
        (j, "annotations[3] (id 4)", "bbox [10, 10, 0, 5] has zero or negative size"),
        (j, "annotations[4] (id 5)", "bbox must be 4 finite numbers [x, y, w, h], got [1, 2, 3]"),
        (j, "annotations[5] (id 5)", "duplicate annotation id 5 (first at annotations[4])"),
        (j, "annotations[6] (id 7)", "unknown image_id 999"),
        (j, "annotations[7] (id 8)", "iscrowd=1 annotations are not supported"),
        (j, "annotations[9] (id 10)", "bbox must be 4 finite numbers"),
        (j, "categories[1] (id 1)", "duplicate category id 1 (first at categories[0])"),
        (j, "categories[2] (id 4)", "duplicate category name 'parachute' (first at categories[0])"),
        (j, "categories[3]", "id must be an integer, got 'x'"),
        (str(tmp_path / "missing.png"), "image", "missing"),
        (str(tmp_path / "text.png"), "image", "not an image"),
        (str(tmp_path / "wrong_size.png"), "size", "declared 50x40 (width x height) but decodes to 60x40"),
    ])
    # refused names are never opened; the good, missing, unreadable and mis-sized images are
    assert sorted(p.name for p in opened) == ["good.png", "missing.png", "text.png", "wrong_size.png"]
    assert str(problems[0]) == f"{j}: {problems[0].where}: {problems[0].message}"


def test_coco_valid_entries_survive_next_to_invalid_ones(tmp_path):
    ds, _ = read_dataset(broken_coco(tmp_path))
    assert ds.classes == ["parachute"]
    good = next(im for im in ds.splits["train"] if im.file_name == "good.png")
    # annotation 1, and annotation 11 clipped into the image
    np.testing.assert_allclose(good.labels.xyxy, [[10, 10, 30, 30], [0, 0, 60, 40]])


@pytest.mark.parametrize("text, where, message", [
    ("{not json", "line 1 column 2", "invalid JSON"),
    ('"frames"', "top level", "not a JSON object"),
    ("[1]", "tasks[0]", "not an object"),  # a list is read as Label Studio tasks
    ('{"images": [], "categories": []}', "top level", '"annotations" is missing or not a list'),
    ('{"images": {}, "annotations": [], "categories": []}', "top level", '"images" is missing or not a list'),
])
def test_unreadable_coco_files_are_one_problem(tmp_path, text, where, message):
    path = write(tmp_path / "labels.json", text)
    assert [(p.file, p.where, message in p.message) for p in check_dataset(path)] == [(str(path), where, True)]


def test_clean_data_sets_have_no_problems(tmp_path):
    png(tmp_path / "coco" / "a.png", 60, 40)
    path = write(tmp_path / "coco" / "val.json", json.dumps({
        "images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 40}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [0, 0, 60, 40]}],
        "categories": [{"id": 3, "name": "heat_shield"}],
    }))
    assert check_dataset(path) == []
    png(tmp_path / "yolo" / "images" / "train" / "a.png", 60, 40)
    write(tmp_path / "yolo" / "labels" / "train" / "a.txt", "0 0.5 0.5 1 1\n")
    write(tmp_path / "yolo" / "data.yaml", yaml.safe_dump({"train": "images/train", "names": ["heat_shield"]}))
    assert check_dataset(tmp_path / "yolo") == []


def test_check_never_writes(tmp_path):
    broken_coco(tmp_path / "coco")
    broken_yolo(tmp_path / "yolo")
    before = snapshot(tmp_path)
    assert check_dataset(tmp_path / "coco" / "labels.json") and check_dataset(tmp_path / "yolo")
    assert snapshot(tmp_path) == before


# --- YOLO ----------------------------------------------------------------------------------


def broken_yolo(root: Path) -> Path:
    png(root / "images" / "train" / "a.png", 100, 50)
    png(root / "images" / "train" / "empty.png", 10, 10)
    write(root / "images" / "train" / "text.png", "this is not an image")
    write(root / "labels" / "train" / "a.txt", "\n".join([
        "0 0.5 0.5 0.2 0.4",
        "0 0.5 0.5 0.2",
        "5 0.5 0.5 0.1 0.1",
        "0 0.95 0.5 0.2 0.2",
        "0 0.5 0.5 0 0.1",
        "0 x 0.5 0.1 0.1",
        "1.5 0.5 0.5 0.1 0.1",
        "0 0.1 0.1 0.2 0.1 0.2 0.2",
        "1 0.5 0.5 1.0000005 1",  # within the tolerance
    ]))
    write(root / "labels" / "train" / "ghost.txt", "0 0.5 0.5 0.1 0.1\n")
    return write(root / "data.yaml", yaml.safe_dump({
        "train": "images/train",
        "val": "images/val",
        "test": "lists/test.txt",
        "nc": 3,
        "names": ["parachute", "debris"],
    }))


def test_yolo_check_lists_every_problem_with_its_file_and_line(tmp_path):
    data_yaml = broken_yolo(tmp_path)
    labels = str(tmp_path / "labels" / "train" / "a.txt")
    y = str(data_yaml)
    assert_problems(check_dataset(tmp_path), [
        (y, "nc", "is 3 but names lists 2 classes"),
        (y, "val", "folder images/val does not exist"),
        (y, "test", "lists/test.txt: lists of image files are not supported"),
        (labels, "line 2", "expected 5 fields 'class cx cy w h', found 4"),
        (labels, "line 3", "class id 5 is not in names"),
        (labels, "line 4", "box outside the image"),
        (labels, "line 5", "zero-area box"),
        (labels, "line 6", "fields must be finite numbers"),
        (labels, "line 7", "class id '1.5' is not an integer"),
        (labels, "line 8", "expected 5 fields 'class cx cy w h', found 7; segmentation polygons are not supported"),
        (str(tmp_path / "labels" / "train" / "ghost.txt"), "file", "orphan label file"),
        (str(tmp_path / "images" / "train" / "text.png"), "image", "cannot read the image size"),
    ])
    ds, _ = read_dataset(data_yaml)
    a = next(im for im in ds.splits["train"] if im.file_name.endswith("a.png"))
    np.testing.assert_allclose(a.labels.xyxy, [[40, 15, 60, 35], [0, 0, 100, 50]], atol=1e-4)
    assert a.labels.class_ids.tolist() == [0, 1]


def test_yolo_split_folder_outside_the_root_is_refused(tmp_path):
    png(tmp_path / "outside" / "images" / "x.png", 4, 4)
    path = write(tmp_path / "ds" / "data.yaml", yaml.safe_dump({"train": "../outside/images", "names": ["a"]}))
    problems = check_dataset(path)
    message = f"folder ../outside/images is outside the data set root {tmp_path / 'ds'}"
    assert located(problems) == [(str(path), "train", message)]
