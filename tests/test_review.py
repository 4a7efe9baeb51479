"""Tests for debris.eval.review and `debris review`, on a run folder written with the run's own writers."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from debris.cli import main
from debris.eval.review import box_uncertainty, rank_frames
from debris.formats.dataset import load_dataset
from debris.formats.run_folder import RunFolder
from debris.formats.writers import read_frame_json, write_frame_json
from tests.builders import CLASSES, png, write
from tests.test_writers import frame


def labelling_run(root: Path, conf: float = 0.3) -> Path:
    """A `debris label` output folder: run.json and one frame record per frame."""
    run = RunFolder(root)
    write(run.run_json, json.dumps({"model": "debris-test", "classes": CLASSES, "preprocess": [],
                                    "settings": {"conf": conf, "image_prefix": "/data/local-files/?d=flight/"}}))
    frames = [
        frame("sure.png", 640, 480, [(0, 0, 10, 10, 0, 0.95), (20, 20, 40, 40, 1, 0.99)]),  # confident only: 0
        frame("none.png", 640, 480, []),  # nothing found: 0
        frame("one.png", 640, 480, [(0, 0, 10, 10, 4, 0.5)]),  # one coin toss: 1
        frame("sub/unsure.png", 640, 480, [(0, 0, 10, 10, 4, 0.45), (5, 5, 9, 9, 4, 0.55), (1, 1, 3, 3, 2, 0.6)]),
        frame("low.png", 640, 480, [(0, 0, 10, 10, 4, 0.31), (0, 0, 50, 50, 0, 0.97)]),  # 1 - 2 * 0.19
    ]
    for image in frames:
        write_frame_json(run.record(image.file_name), image, CLASSES)
    return root


def test_box_uncertainty_peaks_at_one_half_and_is_zero_outside_conf_to_0_9():
    scores = np.array([0.2, 0.3, 0.5, 0.7, 0.9, 0.91, 1.0])
    np.testing.assert_allclose(box_uncertainty(scores, low=0.3), [0, 0.6, 1, 0.6, 0.2, 0, 0], atol=1e-9)


def test_a_frame_of_uncertain_boxes_ranks_above_confident_and_empty_frames(tmp_path):
    run = labelling_run(tmp_path / "run")
    ranked = rank_frames([read_frame_json(p) for p in RunFolder(run).records()], low=0.3)
    assert [r.image.file_name for r in ranked] == ["sub/unsure.png", "one.png", "low.png", "none.png", "sure.png"]
    assert [round(r.score, 4) for r in ranked] == [2.6, 1.0, 0.62, 0, 0]
    assert [r.uncertain for r in ranked] == [3, 1, 1, 0, 0]


def test_review_writes_the_top_k_as_label_studio_tasks_and_the_full_ranking(tmp_path, capsys):
    run = labelling_run(tmp_path / "run")
    assert main(["review", str(run), "--top", "2"]) == 0
    assert "2 of 5 frames" in capsys.readouterr().out

    tasks = json.loads((run / "review.labelstudio.json").read_text())
    assert [t["data"]["image"] for t in tasks] == ["/data/local-files/?d=flight/sub/unsure.png",
                                                   "/data/local-files/?d=flight/one.png"]
    (prediction,) = tasks[0]["predictions"]
    assert prediction["model_version"] == "debris-test"
    assert [r["score"] for r in prediction["result"]] == [0.45, 0.55, 0.6]
    with open(run / "review.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["file_name"], float(r["score"]), int(r["boxes"]), int(r["uncertain_boxes"])) for r in rows] == [
        ("sub/unsure.png", 2.6, 3, 3), ("one.png", 1.0, 1, 1), ("low.png", 0.62, 2, 1),
        ("none.png", 0.0, 0, 0), ("sure.png", 0.0, 2, 0),
    ]


def test_review_tasks_read_back_as_the_frames_boxes_once_accepted(tmp_path):
    run = labelling_run(tmp_path / "run")
    out = tmp_path / "queue" / "q.json"
    assert main(["review", str(run), "--top", "1", "--out", str(out), "--images-prefix", "/data/local-files/?d="]) == 0
    assert (tmp_path / "queue" / "q.csv").is_file()
    tasks = json.loads(out.read_text())
    for t in tasks:  # a reviewer accepts the predictions as they are
        t["annotations"] = [{"id": 1, "result": t["predictions"][0]["result"], "was_cancelled": False}]
    write(out, json.dumps(tasks))
    png(tmp_path / "frames" / "sub" / "unsure.png", 640, 480)
    (image,) = load_dataset(out, tmp_path / "frames", CLASSES).splits["train"]
    assert image.file_name == "sub/unsure.png"
    np.testing.assert_allclose(image.labels.xyxy, [[0, 0, 10, 10], [5, 5, 9, 9], [1, 1, 3, 3]], atol=1e-3)


def test_review_refuses_a_folder_that_is_no_run_and_a_top_below_one(tmp_path, capsys):
    assert main(["review", str(tmp_path), "--top", "2"]) == 2
    assert "not a `debris label` output folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["review", str(labelling_run(tmp_path / "run")), "--top", "0"])
    assert "expected a whole number above 0" in capsys.readouterr().err
