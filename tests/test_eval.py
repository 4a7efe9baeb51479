"""`debris eval` end to end on small hand-made files whose answers are known, plus its matching rules."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from debris.cli import EXIT_OK, EXIT_USAGE, main
from debris.formats.coco import write_coco
from debris.labels import DatasetError, ImageLabels
from debris.detections import Detections
from debris.eval.inputs import match_names
from debris.eval.metrics import confusion_matrix, false_alarms
from debris.formats.yolo import yolo_lines
from tests.builders import untrained_checkpoint

CLASSES = ["parachute", "backshell", "debris"]
PARACHUTES = [[10, 10, 110, 60], [200, 10, 300, 60], [400, 10, 500, 60], [600, 10, 700, 60]]
BACKSHELL, DEBRIS = [10, 300, 210, 500], [100, 100, 180, 160]
ONE = pytest.approx(1.0)  # COCOeval divides by tp + fp + eps
MP_ALL = 0.8 + 0.3072 + 0.5 + 2.0  # the four frames of scene(), megapixels


def scene() -> list[ImageLabels]:
    """Four parachutes and a backshell in a, one debris in b, and two frames of bare ground (2.5 MP)."""
    return [
        ImageLabels("images/a.png", 1000, 800, Detections.from_labels(np.array(PARACHUTES + [BACKSHELL]), [0, 0, 0, 0, 1])),
        ImageLabels("images/b.png", 640, 480, Detections.from_labels(np.array([DEBRIS]), [2])),
        ImageLabels("images/e1.png", 1000, 500, Detections.empty()),
        ImageLabels("images/e2.png", 2000, 1000, Detections.empty()),
    ]


def predicted(frame: ImageLabels, xyxy: list, class_ids: list[int], scores: list[float]) -> ImageLabels:
    return dataclasses.replace(frame, labels=Detections(np.array(xyxy, dtype=float).reshape(-1, 4), scores, class_ids))


def perfect(frames: list[ImageLabels], score: float = 0.9) -> list[ImageLabels]:
    return [predicted(f, f.labels.xyxy, f.labels.class_ids, [score] * len(f.labels)) for f in frames]


def write_gt(tmp_path: Path) -> Path:
    path = tmp_path / "gt" / "gt.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_coco(path, CLASSES, scene())
    return path


def write_pred(tmp_path: Path, frames: list[ImageLabels], classes: list[str] = CLASSES) -> Path:
    path = tmp_path / "pred" / "pred.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_coco(path, classes, frames, scores=True)
    return path


def run_eval(out: Path, *args: object) -> dict:
    assert main(["eval", *map(str, args), "--out", str(out)]) == EXIT_OK
    return json.loads((out / "report.json").read_text())


def matrix(report: dict) -> dict[tuple[str, str], int]:
    """The non-zero cells of the report's confusion matrix, by (true, predicted) name."""
    cm = report["confusion_matrix"]
    return {(cm["rows"][i], cm["columns"][j]): n for i, row in enumerate(cm["counts"]) for j, n in enumerate(row) if n}


def test_perfect_predictions_score_one(tmp_path, capsys):
    report = run_eval(tmp_path / "eval", "--pred", write_pred(tmp_path, perfect(scene())), "--gt", write_gt(tmp_path))
    assert report["stats"]["mAP50-95"] == ONE and report["stats"]["AR100"] == ONE
    assert all(c["AP50-95"] == ONE and c["AR100"] == ONE for c in report["per_class"].values())
    assert matrix(report) == {("parachute", "parachute"): 4, ("backshell", "backshell"): 1, ("debris", "debris"): 1}
    assert report["false_alarms_per_mp"]["value"] == 0.0
    out = capsys.readouterr().out
    assert "mAP50-95" in out and "confusion matrix" in out and "false alarms per MP" in out


def test_one_box_missed_of_four_lowers_that_class_recall_by_a_quarter(tmp_path):
    frames = perfect(scene())
    frames[0] = dataclasses.replace(frames[0], labels=frames[0].labels[np.arange(5) != 2])  # a parachute
    report = run_eval(tmp_path / "eval", "--pred", write_pred(tmp_path, frames), "--gt", write_gt(tmp_path))
    assert report["per_class"]["parachute"]["AR100"] == pytest.approx(0.75)
    assert report["per_class"]["backshell"]["AR100"] == ONE and report["per_class"]["debris"]["AR100"] == ONE
    assert matrix(report)[("parachute", "background")] == 1


def test_confusion_matrix_cells_for_a_wrong_class_a_miss_and_a_false_alarm(tmp_path):
    a, b, e1, e2 = scene()
    frames = [
        # parachute 0 called a backshell, parachute 1 missed, a debris box on empty ground beside them
        predicted(a, [PARACHUTES[0], *PARACHUTES[2:], BACKSHELL, [800, 600, 850, 650]], [1, 0, 0, 1, 2], [0.9] * 5),
        predicted(b, [DEBRIS], [2], [0.8]),
        e1, e2,
    ]
    report = run_eval(tmp_path / "eval", "--pred", write_pred(tmp_path, frames), "--gt", write_gt(tmp_path))
    assert matrix(report) == {
        ("parachute", "parachute"): 2, ("parachute", "backshell"): 1, ("parachute", "background"): 1,
        ("backshell", "backshell"): 1, ("debris", "debris"): 1, ("background", "debris"): 1,
    }
    assert report["confusion_matrix"]["rows"][-1] == report["confusion_matrix"]["columns"][-1] == "background"


def test_a_right_box_keeps_its_object_from_a_higher_scoring_wrong_one():
    a, b, e1, e2 = scene()
    # on parachute 0: a backshell box scoring 0.9 and a parachute box scoring 0.6
    frames = [predicted(a, [PARACHUTES[0], PARACHUTES[0]], [1, 0], [0.9, 0.6]), b, e1, e2]
    counts = confusion_matrix(scene(), [f.labels for f in frames], len(CLASSES), conf=0.25)
    assert counts[0, 0] == 1 and counts[0, 1] == 0 and counts[3, 1] == 1  # the backshell box is a false alarm


def test_false_alarms_per_megapixel_count_kept_boxes_on_empty_frames_only(tmp_path):
    a, b, e1, e2 = perfect(scene())
    box = [[10, 10, 60, 60]]
    frames = [
        predicted(a, [*a.labels.xyxy.tolist(), [800, 600, 850, 650]], [*a.labels.class_ids, 2], [0.9] * 6),  # not empty
        b,
        predicted(e1, box * 5, [0, 1, 2, 2, 2], [0.9, 0.5, 0.3, 0.1, 0.2]),  # 3 at >= 0.25, 2 below
        predicted(e2, box * 2, [2, 2], [0.25, 0.7]),
    ]
    gt, pred = write_gt(tmp_path), write_pred(tmp_path, frames)
    alarms = run_eval(tmp_path / "eval", "--pred", pred, "--gt", gt, "--conf", "0.25")["false_alarms_per_mp"]
    assert alarms["value"] == pytest.approx(2.0) and alarms["megapixels"] == pytest.approx(2.5)
    assert alarms["boxes"] == 5 and alarms["frames"] == 2
    report = run_eval(tmp_path / "eval_low", "--pred", pred, "--gt", gt, "--conf", "0.05")
    assert report["false_alarms_per_mp"]["value"] == pytest.approx(7 / 2.5)
    # over every frame: the 7 boxes on bare ground and the one beside the parachutes
    assert report["unmatched_predictions_per_mp"]["value"] == pytest.approx(8 / MP_ALL)


def test_false_alarms_are_none_without_empty_frames():
    frames = scene()[:2]
    rate = false_alarms(frames, [f.labels for f in frames], conf=0.25)
    assert rate.per_megapixel is None and rate.frames == 0


def test_classes_are_matched_by_name_not_by_id(tmp_path):
    reordered = ["debris", "parachute", "backshell"]
    to_new = np.array([reordered.index(name) for name in CLASSES])
    frames = [predicted(f, f.labels.xyxy, to_new[f.labels.class_ids], [0.9] * len(f.labels)) for f in scene()]
    report = run_eval(tmp_path / "eval", "--pred", write_pred(tmp_path, frames, reordered), "--gt", write_gt(tmp_path))
    assert report["stats"]["mAP50-95"] == ONE
    assert matrix(report) == {("parachute", "parachute"): 4, ("backshell", "backshell"): 1, ("debris", "debris"): 1}


def test_a_predicted_class_the_ground_truth_lacks_is_an_error_naming_it(tmp_path, capsys):
    frames = perfect(scene())
    frames[1] = predicted(frames[1], [DEBRIS], [3], [0.9])
    pred = write_pred(tmp_path, frames, [*CLASSES, "rover"])
    assert main(["eval", "--pred", str(pred), "--gt", str(write_gt(tmp_path))]) == EXIT_USAGE
    assert "rover" in capsys.readouterr().err
    # listed but never predicted: harmless
    pred = write_pred(tmp_path, perfect(scene()), [*CLASSES, "rover"])
    assert main(["eval", "--pred", str(pred), "--gt", str(write_gt(tmp_path))]) == EXIT_OK


def test_frames_are_matched_by_path_suffix_and_extra_ones_are_warned_about(tmp_path, capsys):
    frames = [dataclasses.replace(f, file_name=f.file_name.removeprefix("images/")) for f in perfect(scene())]
    frames.append(ImageLabels("elsewhere.png", 100, 100, Detections([[0, 0, 10, 10]], [0.9], [0])))
    del frames[1]  # b has no prediction: its debris is missed
    report = run_eval(tmp_path / "eval", "--pred", write_pred(tmp_path, frames), "--gt", write_gt(tmp_path))
    assert report["per_class"]["parachute"]["AR100"] == ONE and report["per_class"]["debris"]["AR100"] == 0.0
    assert "elsewhere.png" in capsys.readouterr().err and "elsewhere.png" in report["warnings"][0]


def test_match_names_exact_then_longest_unique_suffix():
    gt = ["images/test/a.png", "images/val/a.png", "images/test/b.png", "c.png"]
    pairs, warnings = match_names(gt, ["images/val/a.png", "test/a.png", "b.png", "x/c.png", "a.png", "zzz.png"])
    assert pairs == {0: 1, 1: 0, 2: 2, 3: 3}
    assert len(warnings) == 2 and "zzz.png" in warnings[0] and "a.png" in warnings[1]
    with pytest.raises(DatasetError, match="rename one"):
        match_names(gt, ["b.png", "test/b.png"])


def test_a_yolo_txt_folder_with_its_own_class_order(tmp_path):
    reordered = ["backshell", "debris", "parachute"]
    to_new = np.array([reordered.index(name) for name in CLASSES])
    folder = tmp_path / "predict" / "labels"
    folder.mkdir(parents=True)
    (folder.parent / "classes.txt").write_text("".join(f"{name}\n" for name in reordered))
    for f in perfect(scene(), score=0.8):
        f = predicted(f, f.labels.xyxy, to_new[f.labels.class_ids], f.labels.scores)
        (folder / Path(f.file_name).with_suffix(".txt").name).write_text(yolo_lines(f, scores=True))
    report = run_eval(tmp_path / "eval", "--pred", folder, "--gt", write_gt(tmp_path))
    assert report["stats"]["mAP50-95"] == ONE and report["warnings"] == []


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    """An untrained network: it scores everything near 0.01."""
    return untrained_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture
def annotated(tmp_path) -> Path:
    """Three small noise frames under images/ with a COCO file of the model's five classes, one frame empty."""
    rng = np.random.default_rng(0)
    frames = []
    for i, (w, h) in enumerate([(320, 240), (200, 150), (256, 256)]):
        name = f"images/f{i}.png"
        (tmp_path / "set" / "images").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "set" / name), cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3))
        boxes = [[20, 20, 120, 100], [150, 40, 190, 90]] if i < 2 else []
        frames.append(ImageLabels(name, w, h, Detections.from_labels(np.array(boxes).reshape(-1, 4), [0, 4][: len(boxes)])))
    path = tmp_path / "set" / "test.json"
    write_coco(path, ["parachute", "backshell", "heat_shield", "descent_stage", "debris"], frames)
    return path


def test_model_path_runs_end_to_end_and_writes_readable_plots(model, annotated, tmp_path):
    out = tmp_path / "eval"
    report = run_eval(out, "--model", model, "--gt", annotated, "max_det=50", "--conf", "0.005")
    assert report["settings"]["model"] == str(model) and report["settings"]["frames"] == 3
    assert report["settings"]["max_dets"] == 50
    assert sum(map(sum, report["confusion_matrix"]["counts"])) > 0  # the untrained model did find boxes
    assert report["false_alarms_per_mp"]["frames"] == 1
    assert set(report["stats"]) >= {"mAP50-95", "mAP50", "AR100"}
    for name in ("pr_curves.png", "confusion_matrix.png"):
        image = cv2.imread(str(out / name))
        assert image is not None and image.shape[0] > 300 and image.shape[1] > 300
        assert image.std() > 10  # axes, text and colours, not a blank canvas
    assert not list(out.glob(".*.tmp"))


def test_a_label_output_folder_as_predictions(model, annotated, tmp_path, capsys):
    labelled = tmp_path / "labelled"
    images = annotated.parent / "images"
    assert main(["label", str(images), "--out", str(labelled), "--model", str(model), "conf=0.005", "max_det=20"]) == EXIT_OK
    capsys.readouterr()
    # label names frames from their folder (f0.png), the data set from its root (images/f0.png)
    report = run_eval(tmp_path / "eval", "--pred", labelled, "--gt", annotated, "--conf", "0.005")
    assert report["warnings"] == [] and "warning" not in capsys.readouterr().err
    boxes = sum(len(json.loads(p.read_text())["detections"]) for p in (labelled / "frames").glob("*.json"))
    counts = np.array(report["confusion_matrix"]["counts"])
    assert boxes > 0 and counts[:, :-1].sum() == boxes  # every box of every frame is in a predicted-class column
    (labelled / "predictions.coco.json").unlink()  # formats=[...] without coco: the frames/*.json are read
    again = run_eval(tmp_path / "eval_frames", "--pred", labelled, "--gt", annotated, "--conf", "0.005")
    assert again["stats"] == pytest.approx(report["stats"], abs=1e-6)
    assert again["confusion_matrix"] == report["confusion_matrix"]


def test_pred_and_model_are_one_or_the_other(tmp_path, capsys):
    gt = write_gt(tmp_path)
    assert main(["eval", "--gt", str(gt)]) == EXIT_USAGE
    assert main(["eval", "--gt", str(gt), "--pred", str(gt), "--model", "x.pt"]) == EXIT_USAGE
    assert "either --pred" in capsys.readouterr().err
