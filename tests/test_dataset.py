"""Tests for debris.formats.dataset, debris.formats.coco and debris.formats.yolo: reading, writing and round trips.

Every data set is built in a temporary folder with tiny PNGs written by cv2.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from debris.formats.check import check_dataset
from debris.formats.dataset import load_dataset, read_dataset, save_dataset
from debris.labels import DatasetError
from tests.builders import png, write


def coco(images: list[dict], annotations: list[dict], categories: list[dict]) -> str:
    return json.dumps({"images": images, "annotations": annotations, "categories": categories})


def boxes_by_name(dataset) -> dict[str, tuple[int, int, np.ndarray, list[str]]]:
    """file base name -> (width, height, xyxy (N, 4), class names) of every image."""
    return {
        Path(image.file_name).name: (
            image.width,
            image.height,
            image.labels.xyxy,
            [dataset.classes[i] for i in image.labels.class_ids],
        )
        for images in dataset.splits.values()
        for image in images
    }


# --- COCO ----------------------------------------------------------------------------------


def sample_coco(folder: Path) -> Path:
    png(folder / "img" / "a.png", 60, 40)
    png(folder / "img" / "sub" / "b.png", 30, 20)
    return write(folder / "labels.json", coco(
        images=[
            {"id": 10, "file_name": "img/a.png", "width": 60, "height": 40},
            {"id": 20, "file_name": "img/sub/b.png", "width": 30, "height": 20},
        ],
        annotations=[
            {"id": 1, "image_id": 10, "category_id": 7, "bbox": [5.5, 6.25, 20, 10], "iscrowd": 0},
            {"id": 2, "image_id": 10, "category_id": 3, "bbox": [0, 0, 60, 40]},
            {"id": 3, "image_id": 20, "category_id": 12, "bbox": [1, 2, 3, 4]},
        ],
        # ids out of order and with gaps: classes follow ascending category id
        categories=[{"id": 7, "name": "heat_shield"}, {"id": 12, "name": "backshell"}, {"id": 3, "name": "parachute"}],
    ))


def test_coco_category_ids_map_to_contiguous_classes_in_ascending_id_order(tmp_path):
    ds = load_dataset(sample_coco(tmp_path))
    assert ds.classes == ["parachute", "heat_shield", "backshell"]
    assert list(ds.splits) == ["train"]  # one file, not named train/val/test: one train split
    a, b = ds.splits["train"]
    assert (a.file_name, a.width, a.height) == ("img/a.png", 60, 40)
    np.testing.assert_allclose(a.labels.xyxy, [[5.5, 6.25, 25.5, 16.25], [0, 0, 60, 40]])
    assert a.labels.class_ids.tolist() == [1, 0] and b.labels.class_ids.tolist() == [2]
    assert a.labels.scores.tolist() == [1.0, 1.0]
    assert ds.root == tmp_path


def test_coco_round_trip_keeps_file_names_sizes_boxes_and_classes(tmp_path):
    src = sample_coco(tmp_path / "src")
    before = {p: p.read_bytes() for p in (tmp_path / "src").rglob("*") if p.is_file()}
    ds = load_dataset(src)
    out = save_dataset(ds, tmp_path / "out", "coco")
    assert out == tmp_path / "out" / "train.json"

    back = load_dataset(out)
    assert back.classes == ds.classes
    assert [im.file_name for im in back.splits["train"]] == ["images/train/a.png", "images/train/b.png"]
    for image, original in zip(back.splits["train"], ds.splits["train"]):
        assert (image.width, image.height) == (original.width, original.height)
        np.testing.assert_allclose(image.labels.xyxy, original.labels.xyxy, atol=1e-4)
        assert image.labels.class_ids.tolist() == original.labels.class_ids.tolist()
        assert (back.root / image.file_name).read_bytes() == (ds.root / original.file_name).read_bytes()

    written = json.loads(out.read_text())
    assert written["categories"] == [
        {"id": 1, "name": "parachute", "supercategory": "hardware"},
        {"id": 2, "name": "heat_shield", "supercategory": "hardware"},
        {"id": 3, "name": "backshell", "supercategory": "hardware"},
    ]
    assert written["annotations"][0] == {
        "id": 1, "image_id": 1, "category_id": 2, "bbox": [5.5, 6.25, 20, 10], "area": 200, "iscrowd": 0,
    }
    assert [im["id"] for im in written["images"]] == [1, 2] and "info" in written
    assert before == {p: p.read_bytes() for p in (tmp_path / "src").rglob("*") if p.is_file()}


def test_saved_images_are_hard_links_to_the_sources(tmp_path):
    src = sample_coco(tmp_path / "src")
    out = save_dataset(load_dataset(src), tmp_path / "out", "yolo")
    linked = out.parent / "images" / "train" / "a.png"
    assert os.path.samefile(linked, tmp_path / "src" / "img" / "a.png")


def test_several_coco_splits_are_saved_as_one_file_each_and_load_from_the_folder(tmp_path):
    png(tmp_path / "src" / "images" / "train" / "t.png", 20, 10)
    png(tmp_path / "src" / "images" / "val" / "v.png", 30, 10)
    config = {"train": "images/train", "val": "images/val", "names": ["debris"]}
    write(tmp_path / "src" / "data.yaml", yaml.safe_dump(config))
    write(tmp_path / "src" / "labels" / "val" / "v.txt", "0 0.5 0.5 0.2 0.4\n")
    ds = load_dataset(tmp_path / "src")

    out = save_dataset(ds, tmp_path / "coco", "coco")
    assert out == tmp_path / "coco"
    assert sorted(p.name for p in out.glob("*.json")) == ["train.json", "val.json"]
    back = load_dataset(out)
    assert list(back.splits) == ["train", "val"] and back.classes == ["debris"]
    np.testing.assert_allclose(back.splits["val"][0].labels.xyxy, [[12, 3, 18, 7]], atol=1e-4)
    assert len(back.splits["train"][0].labels) == 0


def test_coco_file_names_that_clash_get_a_suffix(tmp_path):
    for folder in ("a", "b"):
        png(tmp_path / folder / "x.png", 8, 8)
    png(tmp_path / "c" / "X.jpg", 8, 8)  # would share labels/train/x.txt in YOLO
    src = write(tmp_path / "val.json", coco(
        images=[
            {"id": i, "file_name": name, "width": 8, "height": 8}
            for i, name in enumerate(["a/x.png", "b/x.png", "c/X.jpg"])
        ],
        annotations=[],
        categories=[{"id": 1, "name": "debris"}],
    ))
    ds = load_dataset(src)
    assert list(ds.splits) == ["val"]  # a file named after a split keeps its name
    for fmt in ("coco", "yolo"):
        back = load_dataset(save_dataset(ds, tmp_path / fmt, fmt))
        names = sorted(im.file_name for im in back.splits["val"])
        assert names == ["images/val/X_2.jpg", "images/val/x.png", "images/val/x_1.png"]
    assert (tmp_path / "yolo" / "images" / "val" / "x_1.png").read_bytes() == (tmp_path / "b" / "x.png").read_bytes()


def test_save_refuses_a_non_empty_folder_and_unknown_split_names(tmp_path):
    ds = load_dataset(sample_coco(tmp_path / "src"))
    write(tmp_path / "out" / "old.txt", "keep me")
    with pytest.raises(DatasetError, match="not an empty folder"):
        save_dataset(ds, tmp_path / "out", "yolo")
    assert (tmp_path / "out" / "old.txt").read_text() == "keep me"

    ds.splits = {"holdout": ds.splits["train"]}
    with pytest.raises(DatasetError, match="split names must be one of train, val, test"):
        save_dataset(ds, tmp_path / "new", "coco")
    assert not (tmp_path / "new").exists()


# --- YOLO ----------------------------------------------------------------------------------


def sample_yolo(root: Path, names: object = ("parachute", "debris")) -> Path:
    png(root / "images" / "train" / "a.png", 100, 50)
    png(root / "images" / "train" / "nested" / "b.png", 40, 40)
    png(root / "images" / "train" / "no_labels.png", 10, 10)
    png(root / "images" / "val" / "c.png", 20, 20)
    write(root / "labels" / "train" / "a.txt", "0 0.5 0.5 0.2 0.4\n\n1 0.1 0.1 0.2 0.2\n")
    write(root / "labels" / "train" / "nested" / "b.txt", "1 0.25 0.75 0.5 0.5\n")
    write(root / "labels" / "val" / "c.txt", "")
    names = list(names) if isinstance(names, tuple) else names
    config = {"path": ".", "train": "images/train", "val": ["images/val"], "names": names}
    return write(root / "data.yaml", yaml.safe_dump(config))


def test_yolo_reads_pixels_boxes_from_normalised_labels(tmp_path):
    ds = load_dataset(sample_yolo(tmp_path))
    assert ds.classes == ["parachute", "debris"] and ds.root == tmp_path / "."
    train = {im.file_name: im for im in ds.splits["train"]}
    assert sorted(train) == ["images/train/a.png", "images/train/nested/b.png", "images/train/no_labels.png"]
    a = train["images/train/a.png"]
    assert (a.width, a.height) == (100, 50)
    np.testing.assert_allclose(a.labels.xyxy, [[40, 15, 60, 35], [0, 0, 20, 10]], atol=1e-5)
    assert a.labels.class_ids.tolist() == [0, 1]
    np.testing.assert_allclose(train["images/train/nested/b.png"].labels.xyxy, [[0, 20, 20, 40]], atol=1e-5)
    assert [len(im.labels) for im in ds.splits["val"]] == [0]


def test_image_without_a_label_file_has_no_boxes(tmp_path):
    ds, problems = read_dataset(sample_yolo(tmp_path))
    assert problems == []
    (no_labels,) = [im for im in ds.splits["train"] if im.file_name.endswith("no_labels.png")]
    assert len(no_labels.labels) == 0 and no_labels.labels.xyxy.shape == (0, 4)


@pytest.mark.parametrize("names", [
    {0: "parachute", 1: "debris"},
    {1: "debris", 0: "parachute"},
    {"0": "parachute", "1": "debris"},
])
def test_yolo_names_may_be_a_mapping_of_class_ids(tmp_path, names):
    assert load_dataset(sample_yolo(tmp_path, names)).classes == ["parachute", "debris"]


@pytest.mark.parametrize("names, message", [
    ({0: "a", 2: "c"}, "keys must be the class ids 0..1"),
    (["a", "a"], "must be unique"),
    (["a", True], "non-empty strings"),
    ("a b", "must be a list"),
])
def test_yolo_bad_names_are_reported(tmp_path, names, message):
    ds, problems = read_dataset(sample_yolo(tmp_path, names))
    assert [(p.where, message in p.message) for p in problems] == [("names", True)]


def test_yolo_write_read_round_trip(tmp_path):
    ds = load_dataset(sample_yolo(tmp_path / "src"))
    out = save_dataset(ds, tmp_path / "out", "yolo")
    assert out == tmp_path / "out" / "data.yaml"
    assert yaml.safe_load(out.read_text()) == {
        "train": "images/train", "val": "images/val", "nc": 2, "names": ["parachute", "debris"],
    }
    labels = tmp_path / "out" / "labels"
    assert (labels / "train" / "a.txt").read_text() == (
        "0 0.50000000 0.50000000 0.20000000 0.40000000\n1 0.10000000 0.10000000 0.20000000 0.20000000\n"
    )
    assert (labels / "train" / "no_labels.txt").read_text() == ""  # an image with no boxes gets an empty file
    back = load_dataset(out)
    assert back.classes == ds.classes
    for name, (width, height, xyxy, classes) in boxes_by_name(ds).items():
        w, h, back_xyxy, back_classes = boxes_by_name(back)[name]
        assert (w, h, back_classes) == (width, height, classes)
        np.testing.assert_allclose(back_xyxy, xyxy, atol=1e-3)


def test_yolo_size_follows_exif_orientation_like_read_frame(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 40 wide x 20 high, displayed turned by 90 degrees: 20 x 40
    (tmp_path / "images" / "train").mkdir(parents=True)
    Image.new("RGB", (40, 20)).save(tmp_path / "images" / "train" / "r.jpg", exif=exif)
    write(tmp_path / "data.yaml", yaml.safe_dump({"train": "images/train", "names": ["debris"]}))
    (image,) = load_dataset(tmp_path).splits["train"]
    assert (image.width, image.height) == (20, 40)
    assert check_dataset(tmp_path) == []


def test_unknown_input_is_a_problem_not_a_crash(tmp_path):
    for path, message in [(tmp_path / "nope", "no such file"), (write(tmp_path / "x.csv", "a,b"), "not a data set")]:
        ds, problems = read_dataset(path)
        assert ds.splits == {} and [p.file for p in problems] == [str(path)] and message in problems[0].message
        with pytest.raises(DatasetError) as err:
            load_dataset(path)
        assert str(err.value) == str(problems[0])  # one problem reads as one line


# --- COCO -> YOLO -> COCO --------------------------------------------------------------------


def coco_to_yolo_to_coco(src: Path, work: Path):
    yolo_yaml = save_dataset(load_dataset(src), work / "yolo", "yolo")
    return load_dataset(save_dataset(load_dataset(yolo_yaml), work / "coco", "coco"))


def assert_same_boxes(back, images: list[dict], boxes: dict[int, list[tuple[list[float], str]]]) -> None:
    """`back` holds every image of the COCO `images` with its (xywh, class name) `boxes`, within 1e-3 px."""
    got = boxes_by_name(back)
    assert sorted(got) == sorted(Path(im["file_name"]).name for im in images)
    for image in images:
        width, height, xyxy, classes = got[Path(image["file_name"]).name]
        assert (width, height) == (image["width"], image["height"])
        want = boxes[image["id"]]
        assert classes == [name for _, name in want]
        expected = np.array([[x, y, x + w, y + h] for (x, y, w, h), _ in want]).reshape(-1, 4)
        np.testing.assert_allclose(xyxy, expected, rtol=0, atol=1e-3)


def test_coco_to_yolo_to_coco_keeps_every_box_and_class(tmp_path):
    src = sample_coco(tmp_path / "src")
    back = coco_to_yolo_to_coco(src, tmp_path)
    data = json.loads(src.read_text())
    names = {c["id"]: c["name"] for c in data["categories"]}
    boxes = {im["id"]: [] for im in data["images"]}
    for a in data["annotations"]:
        boxes[a["image_id"]].append((a["bbox"], names[a["category_id"]]))
    assert back.classes == ["parachute", "heat_shield", "backshell"]
    assert_same_boxes(back, data["images"], boxes)


@st.composite
def coco_data_sets(draw) -> dict:
    """A valid COCO detection dict: random category ids and names, image sizes and boxes."""
    category_ids = draw(st.lists(st.integers(1, 10**6), min_size=1, max_size=4, unique=True))
    names = draw(st.lists(
        st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8),
        min_size=len(category_ids), max_size=len(category_ids), unique=True,
    ))
    images, annotations, unit = [], [], st.floats(0, 1)
    for image_id in range(1, draw(st.integers(1, 3)) + 1):
        width, height = draw(st.integers(1, 5000)), draw(st.integers(1, 5000))
        images.append({"id": image_id, "file_name": f"im{image_id}.png", "width": width, "height": height})
        for _ in range(draw(st.integers(0, 3))):
            # fractions of the room left, so every box is at least 0.01 px and inside its image
            x, y = draw(unit) * (width - 0.01), draw(unit) * (height - 0.01)
            w, h = 0.01 + draw(unit) * (width - 0.01 - x), 0.01 + draw(unit) * (height - 0.01 - y)
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": draw(st.sampled_from(category_ids)),
                "bbox": [x, y, w, h],
            })
    categories = [{"id": i, "name": name} for i, name in zip(category_ids, names)]
    return {"images": images, "annotations": annotations, "categories": categories}


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=coco_data_sets())
def test_coco_to_yolo_to_coco_property(data):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for image in data["images"]:
            png(tmp / "src" / image["file_name"], image["width"], image["height"])
        src = write(tmp / "src" / "train.json", json.dumps(data, ensure_ascii=False))
        back = coco_to_yolo_to_coco(src, tmp)
        names = {c["id"]: c["name"] for c in data["categories"]}
        assert back.classes == [names[i] for i in sorted(names)]
        boxes = {im["id"]: [] for im in data["images"]}
        for a in data["annotations"]:
            boxes[a["image_id"]].append((a["bbox"], names[a["category_id"]]))
        assert_same_boxes(back, data["images"], boxes)
