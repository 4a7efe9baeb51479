"""Tests for debris.formats.labelstudio and the image lookup of Label Studio's COCO export.

The fixtures in tests/fixtures/labelstudio/ are real exports of a Label Studio 1.23.2 server
(see their README), made from the frames in data/samples/.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from debris.cli import main
from debris.formats.dataset import load_dataset, read_dataset, save_dataset
from debris.formats.writers import write_labelstudio
from debris.labels import DatasetError
from tests.builders import CLASSES, png, write
from tests.test_writers import frame

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures" / "labelstudio"
SAMPLES = ROOT / "data" / "samples"
ANNOTATED = ["nav_000001.png", "nav_000007.png", "rte_1052x780.jpg", "rte_4208x3120.jpg"]  # task 3 was skipped


def boxes_by_name(path: Path, images: Path | None = SAMPLES) -> dict[str, list[tuple[str, list[float]]]]:
    """{base name: [(class name, xyxy), ...]} of a data set: compares files whose class ids and folders differ."""
    ds = load_dataset(path, images)
    return {
        Path(image.file_name).name: [(ds.classes[c], xyxy) for c, xyxy in zip(image.labels.class_ids, image.labels.xyxy.tolist())]
        for image in ds.splits["train"]
    }


def assert_same_boxes(a: dict, b: dict, atol: float = 1e-3) -> None:
    assert list(a) == list(b)
    for name in a:
        assert [c for c, _ in a[name]] == [c for c, _ in b[name]], name
        np.testing.assert_allclose([x for _, x in a[name]], [x for _, x in b[name]], rtol=0, atol=atol, err_msg=name)


# --- the real exports ---------------------------------------------------------------------------


def test_json_export_gives_the_pixel_boxes_label_studios_own_coco_export_gives():
    # Label Studio converts percent to pixels itself in its COCO export: an independent reference
    ours, theirs = boxes_by_name(FIXTURES / "export_json.json"), boxes_by_name(FIXTURES / "coco_result.json")
    assert list(ours) == ANNOTATED
    assert [len(boxes) for boxes in ours.values()] == [2, 3, 6, 60]
    assert_same_boxes(ours, theirs)


def test_the_reviewers_result_is_read_not_the_prediction_it_started_from():
    # task 1: the reviewer moved the heat shield by +1 % of 640 px (the prediction has x 55.94 %)
    # and deleted the prediction's third box
    first, second = boxes_by_name(FIXTURES / "export_json.json")["nav_000001.png"]
    assert first == ("heat_shield", pytest.approx([0.569429693222046 * 640, 31.2896, 464.7712, 124.0854], abs=1e-3))
    assert second[0] == "parachute"


def test_json_min_export_gives_the_same_frames_and_boxes_as_json():
    assert_same_boxes(boxes_by_name(FIXTURES / "export_json_min.json"), boxes_by_name(FIXTURES / "export_json.json"))


def test_a_cancelled_annotation_leaves_its_task_out_and_the_notes_count_it():
    ds, problems = read_dataset(FIXTURES / "export_json.json", SAMPLES)
    assert problems == []
    assert "orbital_1024.jpg" not in [image.file_name for image in ds.splits["train"]]  # not an empty frame
    (note,) = ds.notes
    assert "left out 1 task(s)" in note and "(id 3)" in note


def test_classes_follow_the_config_when_it_covers_the_labels_else_sorted():
    assert load_dataset(FIXTURES / "export_json.json", SAMPLES, CLASSES).classes == CLASSES
    alphabetical = ["backshell", "debris", "descent_stage", "heat_shield", "parachute"]
    assert load_dataset(FIXTURES / "export_json.json", SAMPLES).classes == alphabetical
    assert load_dataset(FIXTURES / "export_json.json", SAMPLES, ["parachute", "debris"]).classes == alphabetical


def test_images_default_to_the_exports_folder(tmp_path):
    export = write(tmp_path / "export.json", (FIXTURES / "export_json.json").read_text())
    for name in ANNOTATED:  # the task paths are samples/<name>: found by their tail
        png(tmp_path / "samples" / name, 8, 8)
    ds = load_dataset(export)
    assert ds.root == tmp_path and [image.file_name for image in ds.splits["train"]] == [f"samples/{n}" for n in ANNOTATED]


# --- the rules, on small exports ----------------------------------------------------------------


def region(x: float, y: float, w: float, h: float, label: str = "parachute", rotation: float = 0, id: str = "r") -> dict:
    return {"id": id, "type": "rectanglelabels", "from_name": "label", "to_name": "image",
            "original_width": 200, "original_height": 100,
            "value": {"x": x, "y": y, "width": w, "height": h, "rotation": rotation, "rectanglelabels": [label]}}


def annotation(id: int, result: list, updated_at: str, cancelled: bool = False) -> dict:
    return {"id": id, "result": result, "was_cancelled": cancelled, "updated_at": updated_at,
            "prediction": {"result": [region(0, 0, 50, 50, "debris")]}}


def task(id: int, image: str, annotations: list) -> dict:
    return {"id": id, "data": {"image": image}, "annotations": annotations}


def export(tmp_path: Path, tasks: list) -> Path:
    for name in ("a.png", "b c+d.png", "up.png", "empty.png", "none.png", "sub/deep.png"):
        png(tmp_path / "images" / name, 200, 100)
    return write(tmp_path / "export.json", json.dumps(tasks))


def test_percent_boxes_url_prefixes_latest_annotation_and_empty_frames(tmp_path):
    path = export(tmp_path, [
        # several annotations: the latest non-cancelled one, though a cancelled one is newer
        task(1, "/data/local-files/?d=frames/a.png", [
            annotation(1, [region(10, 20, 30, 40)], "2026-12-01T10:00:00Z"),
            annotation(2, [region(50, 50, 25, 50, "debris")], "2026-12-01T11:00:00Z"),
            annotation(3, [region(0, 0, 1, 1)], "2026-12-01T12:00:00Z", cancelled=True),
        ]),
        task(2, "/data/local-files/?d=frames/b%20c%2Bd.png", [annotation(4, [region(0, 0, 100, 100)], "")]),
        task(3, "/data/upload/7/8f2a91c0-up.png", [annotation(5, [region(0, 0, 10, 10)], "")]),
        task(4, "empty.png", [annotation(6, [], "")]),  # annotated, no objects: an empty frame
        task(5, "none.png", []),  # never annotated: left out
        task(6, "http://host/x/deep.png", [annotation(7, [region(0, 0, 10, 10)], "")]),
    ])
    ds, problems = read_dataset(path, tmp_path / "images", CLASSES)
    assert problems == []
    images = {image.file_name: image for image in ds.splits["train"]}
    assert list(images) == ["a.png", "b c+d.png", "up.png", "empty.png", "sub/deep.png"]
    a = images["a.png"].labels
    np.testing.assert_allclose(a.xyxy, [[100, 50, 150, 100]])  # x 50 % of 200 px, y 50 % of 100 px, ...
    assert a.class_ids.tolist() == [CLASSES.index("debris")] and a.scores.tolist() == [1.0]
    np.testing.assert_allclose(images["b c+d.png"].labels.xyxy, [[0, 0, 200, 100]])
    empty = images["empty.png"]
    assert (empty.width, empty.height, len(empty.labels)) == (200, 100, 0)
    assert "left out 1 task(s)" in ds.notes[0] and "(id 5)" in ds.notes[0]


def test_json_min_takes_the_latest_annotation_of_a_task(tmp_path):
    png(tmp_path / "a.png", 200, 100)
    entry = {"image": "/data/local-files/?d=a.png", "id": 1, "annotator": 1}
    path = write(tmp_path / "min.json", json.dumps([
        {**entry, "annotation_id": 2, "updated_at": "2026-12-01T11:00:00Z", "label": [
            {"x": 50, "y": 0, "width": 50, "height": 100, "rotation": 0, "rectanglelabels": ["debris"],
             "original_width": 200, "original_height": 100}]},
        {**entry, "annotation_id": 1, "updated_at": "2026-12-01T10:00:00Z"},  # older, empty
    ]))
    (image,) = load_dataset(path).splits["train"]
    np.testing.assert_allclose(image.labels.xyxy, [[100, 0, 200, 100]])


def test_a_rotated_region_is_refused_naming_its_task_and_region(tmp_path):
    path = export(tmp_path, [task(9, "a.png", [annotation(4, [region(10, 10, 10, 10, rotation=30, id="rot1")], "")])])
    with pytest.raises(DatasetError) as e:
        load_dataset(path, tmp_path / "images")
    (problem,) = e.value.problems
    assert problem.file == str(path) and "(id 9)" in problem.where and "(id rot1)" in problem.where
    assert "rotated by 30" in problem.message


@pytest.mark.parametrize("bad, message", [
    ({"type": "polygonlabels"}, "not supported"),
    ({"value": {"x": 90, "y": 0, "width": 20, "height": 10, "rotation": 0, "rectanglelabels": ["debris"]}}, "outside"),
    ({"value": {"x": 0, "y": 0, "width": 0, "height": 10, "rotation": 0, "rectanglelabels": ["debris"]}}, "zero"),
])
def test_unusable_regions_are_problems(tmp_path, bad, message):
    path = export(tmp_path, [task(1, "a.png", [annotation(1, [{**region(0, 0, 10, 10), **bad}], "")])])
    _, problems = read_dataset(path, tmp_path / "images")
    assert len(problems) == 1 and message in problems[0].message


def test_a_missing_image_is_a_problem_naming_the_task(tmp_path):
    path = export(tmp_path, [task(1, "/data/local-files/?d=nowhere.png", [annotation(1, [], "")])])
    _, problems = read_dataset(path, tmp_path / "images")
    assert len(problems) == 1 and "(id 1)" in problems[0].where and "nowhere.png" in problems[0].message


# --- round trip through our own writer ---------------------------------------------------------


def test_writer_to_reader_round_trip_keeps_odd_file_names_and_boxes(tmp_path):
    images = [
        frame("sub/odd +%#& name.png", 1001, 777, [(12.3456789, 0.5, 250.75, 99.125, 0, 0.9), (0, 0, 1001, 777, 2, 0.3)]),
        frame("plain.png", 640, 480, [(999 / 7, 13.25, 600.5, 479.999, 1, 0.5)]),
    ]
    for image in images:
        png(tmp_path / "images" / image.file_name, image.width, image.height)
    path = tmp_path / "tasks.json"
    write_labelstudio(path, ["parachute", "heat_shield", "backshell"], images, "v1", "/data/local-files/?d=images/")
    tasks = json.loads(path.read_text())
    assert tasks[0]["data"]["image"] == "/data/local-files/?d=images/sub/odd%20%2B%25%23%26%20name.png"
    # a reviewer accepts the predictions as they are: Label Studio copies them into an annotation
    for i, t in enumerate(tasks):
        t["annotations"] = [{"id": i, "result": t["predictions"][0]["result"], "was_cancelled": False}]
    write(path, json.dumps(tasks))

    ds = load_dataset(path, tmp_path, ["parachute", "heat_shield", "backshell"])
    assert [image.file_name for image in ds.splits["train"]] == [f"images/{image.file_name}" for image in images]
    for back, image in zip(ds.splits["train"], images):
        np.testing.assert_allclose(back.labels.xyxy, image.labels.xyxy, rtol=0, atol=1e-3)
        assert back.labels.class_ids.tolist() == image.labels.class_ids.tolist()


# --- Label Studio's COCO export: file_names are ../ paths on the server -------------------------

OPENED: list[str] = []  # every path opened while RECORDING is on (audit hooks cannot be removed)
RECORDING = [False]


def _record_opens(event: str, args: tuple) -> None:
    if RECORDING[0] and event == "open" and isinstance(args[0], (str, bytes, Path)):
        OPENED.append(str(args[0]))


sys.addaudithook(_record_opens)


def test_coco_dotdot_path_is_never_opened_and_the_image_is_found_by_base_name(tmp_path):
    coco = json.loads((FIXTURES / "coco_result.json").read_text())
    coco["images"], coco["annotations"] = coco["images"][:1], coco["annotations"][:2]  # nav_000001.png
    path = write(tmp_path / "export" / "result.json", json.dumps(coco))
    # a file where the ../ path points, on this disk: it must not be read
    decoy = png(tmp_path / "ls" / "data" / "samples" / "nav_000001.png", 10, 10)
    png(tmp_path / "images" / "nav_000001.png", 640, 480)

    with pytest.raises(DatasetError, match="escapes the data set folder"):
        load_dataset(path)  # without --images the ../ path is refused, as before

    OPENED.clear()
    RECORDING[0] = True
    try:
        ds = load_dataset(path, tmp_path / "images")
        out = save_dataset(ds, tmp_path / "out", "yolo")
    finally:
        RECORDING[0] = False
    assert not [p for p in OPENED if "ls" in Path(p).parts], OPENED
    (image,) = ds.splits["train"]
    assert ds.root == tmp_path / "images" and image.file_name == "nav_000001.png"
    assert (out.parent / "images" / "train" / "nav_000001.png").read_bytes() == (tmp_path / "images" / "nav_000001.png").read_bytes()
    assert decoy.read_bytes() != (tmp_path / "images" / "nav_000001.png").read_bytes()
    # Label Studio numbers categories alphabetically from 0: names, not ids, carry the class
    assert ds.classes == ["backshell", "debris", "descent_stage", "heat_shield", "parachute"]
    assert [ds.classes[c] for c in image.labels.class_ids] == ["heat_shield", "parachute"]


def test_coco_base_name_lookup_reports_an_image_it_cannot_find(tmp_path):
    path = write(tmp_path / "result.json", (FIXTURES / "coco_result.json").read_text())
    (tmp_path / "images").mkdir()
    _, problems = read_dataset(path, tmp_path / "images")
    assert len(problems) == 4 and all("no image named" in p.message for p in problems)


def test_cvat_coco_export_reads_as_any_coco_file(tmp_path):
    png(tmp_path / "images" / "frame_000000.png", 640, 480)
    path = write(tmp_path / "annotations" / "instances_default.json", json.dumps({
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": {"contributor": "", "date_created": "", "description": "", "url": "", "version": "", "year": ""},
        "categories": [{"id": 1, "name": "parachute", "supercategory": ""}, {"id": 2, "name": "debris", "supercategory": ""}],
        "images": [{"id": 1, "width": 640, "height": 480, "file_name": "frame_000000.png", "license": 0,
                    "flickr_url": "", "coco_url": "", "date_captured": 0}],
        "annotations": [{"id": 1, "image_id": 1, "category_id": 2, "segmentation": [], "area": 200.0,
                         "bbox": [10.0, 20.0, 20.0, 10.0], "iscrowd": 0,
                         "attributes": {"occluded": False, "rotation": 0.0}}],
    }))
    ds = load_dataset(path, tmp_path / "images")
    (image,) = ds.splits["train"]
    assert ds.classes == ["parachute", "debris"] and image.file_name == "frame_000000.png"
    np.testing.assert_allclose(image.labels.xyxy, [[10, 20, 30, 30]])


# --- debris convert -----------------------------------------------------------------------------


def test_convert_a_label_studio_export_to_yolo(tmp_path, capsys):
    code = main(["convert", str(FIXTURES / "export_json.json"), str(tmp_path / "yolo"), "--to", "yolo",
                 "--images", str(SAMPLES)])
    assert code == 0
    assert "left out 1 task(s)" in capsys.readouterr().out
    config = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert config["names"] == CLASSES  # the config's classes cover the labels used
    labels = sorted((tmp_path / "yolo" / "labels" / "train").glob("*.txt"))
    assert [p.stem for p in labels] == [Path(n).stem for n in ANNOTATED]
    assert_same_boxes(boxes_by_name(tmp_path / "yolo" / "data.yaml", None), boxes_by_name(FIXTURES / "export_json.json"))


def test_convert_label_studios_coco_export_needs_images(tmp_path, capsys):
    assert main(["convert", str(FIXTURES / "coco_result.json"), str(tmp_path / "a"), "--to", "coco"]) == 2
    assert "escapes the data set folder" in capsys.readouterr().err
    assert main(["convert", str(FIXTURES / "coco_result.json"), str(tmp_path / "b"), "--to", "coco",
                 "--images", str(SAMPLES)]) == 0
    assert_same_boxes(boxes_by_name(tmp_path / "b" / "train.json", None), boxes_by_name(FIXTURES / "coco_result.json"))
