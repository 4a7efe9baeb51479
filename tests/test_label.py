"""Batch labelling end to end with a tiny untrained network: outputs, bad frames, resume, the Python API."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import debris.infer.label
from benchmarks.command import DEBRIS
from debris import Detector
from debris.boxes import xyxy_to_percent
from debris.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main
from debris.config import ConfigError
from debris.formats.dataset import load_dataset
from debris.formats.writers import read_frame_json
from debris.infer.windowed import detect_product
from tests.builders import CLASSES, untrained_checkpoint

# an untrained network scores everything near its prior (~0.01): a low conf makes it report boxes
LOW_CONF = ["conf=0.005", "max_det=20", "reader.recursive=true"]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return untrained_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", CLASSES)


@pytest.fixture
def frames(tmp_path) -> Path:
    """Six small frames of several sizes (one larger than a tile), colour and gray, JPEG and PNG."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "frames"
    (folder / "sub").mkdir(parents=True)
    sizes = [(640, 480), (700, 300), (200, 150), (333, 257), (640, 480), (96, 64)]
    for i, (w, h) in enumerate(sizes):
        image = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 3)
        name = f"sub/f{i}.png" if i == 3 else f"f{i}.jpg" if i % 2 == 0 else f"f{i}.png"
        cv2.imwrite(str(folder / name), image[..., 0] if i == 1 else image)
    return folder


def label(*args: str) -> int:
    return main(["label", *map(str, args)])


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_label_writes_every_format_for_every_frame(model, frames, tmp_path):
    out = tmp_path / "out"
    assert label(frames, "--out", out, "--model", model, "--save-overlays", *LOW_CONF) == EXIT_OK
    names = ["f0", "f1", "f2", "f4", "f5", "sub/f3"]
    for name in names:
        assert (out / "frames" / f"{name}.json").is_file() and (out / "labels" / f"{name}.txt").is_file()
        assert (out / "overlays" / f"{name}.jpg").is_file()
    coco = load_dataset(out / "predictions.coco.json")
    images = next(iter(coco.splits.values()))
    assert sorted(im.file_name.rsplit(".", 1)[0] for im in images) == sorted(names)
    assert sum(len(im.labels) for im in images) > 0
    assert any((im.labels.scores < 1).any() for im in images)  # scores survive the COCO round trip
    rows = (out / "predictions.csv").read_text().splitlines()
    assert len(rows) - 1 == sum(len(im.labels) for im in images)
    assert (out / "errors.csv").read_text().strip() == "file,reason"
    assert not list(out.rglob(".*.tmp"))


def test_label_studio_percentages_map_back_to_the_frame_boxes(model, frames, tmp_path):
    out = tmp_path / "out"
    assert label(frames, "--out", out, "--model", model, *LOW_CONF, "formats=[labelstudio]") == EXIT_OK
    tasks = json.loads((out / "predictions.labelstudio.json").read_text())
    assert len(tasks) == 6
    for task in tasks:
        frame = read_frame_json(out / "frames" / (task["data"]["image"].rsplit(".", 1)[0] + ".json"))
        result = task["predictions"][0]["result"]
        assert len(result) == len(frame.labels)
        for box, item in zip(frame.labels.xyxy, result):
            v = item["value"]
            w, h = item["original_width"], item["original_height"]
            back = [v["x"] * w / 100, v["y"] * h / 100, (v["x"] + v["width"]) * w / 100, (v["y"] + v["height"]) * h / 100]
            np.testing.assert_allclose(back, box, atol=1e-3)
            assert item["type"] == "rectanglelabels" and v["rectanglelabels"][0] in CLASSES
            np.testing.assert_allclose(xyxy_to_percent(box[None], w, h)[0], [v["x"], v["y"], v["width"], v["height"]])


def test_a_corrupt_frame_is_listed_and_the_others_labelled(model, frames, tmp_path, capsys):
    (frames / "f9.jpg").write_bytes((frames / "f0.jpg").read_bytes()[:300])  # truncated JPEG
    out = tmp_path / "out"
    assert label(frames, "--out", out, "--model", model, *LOW_CONF) == EXIT_PROBLEMS
    assert len(list((out / "frames").rglob("*.json"))) == 6
    errors = (out / "errors.csv").read_text().splitlines()
    assert len(errors) == 2 and "f9.jpg" in errors[1]
    assert "f9.jpg" in capsys.readouterr().err


def test_an_interrupted_run_resumed_equals_an_uninterrupted_one(model, frames, tmp_path, monkeypatch):
    whole, broken = tmp_path / "whole", tmp_path / "broken"
    assert label(frames, "--out", whole, "--model", model, "--save-overlays", *LOW_CONF) == EXIT_OK

    real = debris.infer.label.write_frame_json
    calls = []

    def dies_on_the_fourth_frame(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt  # killed mid-batch, after the frame's txt and overlay were written
        real(*args, **kwargs)

    monkeypatch.setattr(debris.infer.label, "write_frame_json", dies_on_the_fourth_frame)
    assert label(frames, "--out", broken, "--model", model, "--save-overlays", *LOW_CONF) == EXIT_INTERRUPTED
    monkeypatch.setattr(debris.infer.label, "write_frame_json", real)
    assert len(list((broken / "frames").rglob("*.json"))) == 3

    assert label(frames, "--out", broken, "--model", model, "--save-overlays", *LOW_CONF) == EXIT_USAGE  # no --resume
    assert label(frames, "--out", broken, "--model", model, "--save-overlays", "--resume", "conf=0.5") == EXIT_USAGE
    assert label(frames, "--out", broken, "--model", model, "--save-overlays", "--resume", *LOW_CONF) == EXIT_OK
    assert files(broken) == files(whole)


def test_sigterm_stops_a_run_as_ctrl_c_does_and_it_resumes(model, tmp_path):
    many, out = tmp_path / "many", tmp_path / "out"
    many.mkdir()
    image = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 256, (240, 320), dtype=np.uint8), (0, 0), 3)
    for i in range(200):  # far more than can be labelled between the first frame record and the signal
        cv2.imwrite(str(many / f"nav_{i:04d}.png"), image)
    child = subprocess.Popen([*DEBRIS, "label", str(many), "--out", str(out), "--model", str(model), *LOW_CONF],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((out / "frames").glob("*.json")) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    child.send_signal(signal.SIGTERM)
    _, stderr = child.communicate(timeout=120)
    assert child.returncode == EXIT_INTERRUPTED, stderr
    assert "debris label: interrupted; resume with: debris label" in stderr
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]  # no half-written file left behind
    assert 0 < len(list((out / "frames").glob("*.json"))) < 200
    assert label(many, "--out", out, "--model", model, *LOW_CONF, "--resume") == EXIT_OK
    assert len(list((out / "frames").glob("*.json"))) == 200


def test_python_api_matches_for_paths_and_arrays(model, frames):
    detector = Detector.load(model, conf=0.005)
    from_path = detector.predict(frames / "f0.jpg")
    rgb = cv2.cvtColor(cv2.imread(str(frames / "f0.jpg")), cv2.COLOR_BGR2RGB)
    from_array = detector.predict(rgb)
    np.testing.assert_array_equal(from_path.xyxy, from_array.xyxy)
    assert len(from_path) > 0 and (from_path.scores >= 0.005).all()
    gray = detector.predict(rgb[..., 0])
    assert gray.xyxy.dtype == np.float32
    with pytest.raises(ValueError, match="uint8"):
        detector.predict(rgb.astype(np.float32))


def test_settings_filter_classes_and_cap_boxes(model, frames):
    everything = Detector.load(model, conf=0.005, max_det=300).predict(frames / "f0.jpg")
    capped = Detector.load(model, conf=0.005, max_det=3).predict(frames / "f0.jpg")
    only = Detector.load(model, conf=0.005, classes=["debris", 0]).predict(frames / "f0.jpg")
    assert len(capped) == 3 and len(everything) > 3
    np.testing.assert_array_equal(capped.scores, everything.scores[:3])
    assert set(only.class_ids.tolist()) <= {0, 4} and len(only) > 0
    with pytest.raises(ConfigError, match="rover"):
        Detector.load(model, classes=["rover"])


def test_no_frames_is_a_usage_error(model, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert label(tmp_path / "empty", "--out", tmp_path / "out", "--model", model) == EXIT_USAGE
    assert "no image files" in capsys.readouterr().err


def test_frames_whose_outputs_would_collide_are_refused(model, frames, tmp_path, capsys):
    cv2.imwrite(str(frames / "f0.png"), np.zeros((50, 60), np.uint8))  # beside f0.jpg
    assert label(frames, "--out", tmp_path / "out", "--model", model) == EXIT_USAGE
    assert "f0.jpg" in capsys.readouterr().err and not (tmp_path / "out" / "frames").exists()


def test_a_product_is_labelled_window_by_window_never_decoded_whole(model, frames, tmp_path, monkeypatch):
    rng = np.random.default_rng(1)
    cv2.imwrite(str(frames / "product.tif"), cv2.GaussianBlur(rng.integers(0, 256, (1000, 1400, 3), dtype=np.uint8), (0, 0), 3))
    decoded = []
    real = debris.infer.label.read_frame
    monkeypatch.setattr(debris.infer.label, "read_frame", lambda path, *a: (decoded.append(Path(path).name), real(path, *a))[1])
    out = tmp_path / "out"
    assert label(frames, "--out", out, "--model", model, "--save-overlays", *LOW_CONF, "reader.max_pixels=1200000") == EXIT_OK
    assert len(decoded) == 6 and "product.tif" not in decoded  # 1.4 MP: over max_pixels, so a product
    record = read_frame_json(out / "frames" / "product.json")
    product = detect_product(Detector.load(model, conf=0.005, max_det=20), frames / "product.tif")
    dets, width, height = product.labels, product.width, product.height
    assert (record.width, record.height) == (width, height) == (1400, 1000) and len(record.labels) == len(dets) > 0
    np.testing.assert_allclose(record.labels.xyxy, dets.xyxy, atol=1e-3)
    assert not (out / "overlays" / "product.jpg").exists()  # no whole image to draw on


def test_the_ray_engine_without_ray_names_the_extra(model, frames, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    assert label(frames, "--out", tmp_path / "out", "--model", model, "--engine", "ray") == EXIT_USAGE
    assert "pip install 'debris[ray]'" in capsys.readouterr().err


def test_ray_options_need_the_ray_engine(model, frames, tmp_path, capsys):
    assert label(frames, "--out", tmp_path / "out", "--model", model, "--address", "head:6379") == EXIT_USAGE
    assert "--engine ray" in capsys.readouterr().err
