"""The data engine: exact boxes, determinism, splits, the share of empty frames, a valid data set."""

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from debris.formats.check import check_dataset
from debris.cli import EXIT_OK, main
from debris.config import ConfigError, load_config
from debris.synth.cameras import View, sample_view
from debris.synth.generate import generate_dataset, plan_frames
from debris.synth.hardware import Sprite
from debris.synth.scene import _composite, _labels, _Placed, render_frame

CONFIG = load_config()
CLASSES = CONFIG.classes


def square_sprite(size: int, value: float = 0.9) -> Sprite:
    """A solid square object: its visible mask is known exactly."""
    return Sprite(
        rgb=np.full((size, size, 3), value, np.float32), alpha=np.ones((size, size), np.float32),
        shadow=np.zeros((size, size), np.float32), decal=np.zeros((size, size, 4), np.float32),
    )


def boxes_of(placed, width=100, height=80, config=CONFIG.synth):
    view = View((width, height), (width, height), 0.05, None)
    ground = np.full((height, width, 3), 0.4, np.float32)
    canvas, instance = _composite(ground, placed, gain=1.0)
    return _labels(placed, instance, instance, view, config), instance


def test_box_is_the_tight_box_of_the_visible_pixels():
    labels, instance = boxes_of([_Placed(0, square_sprite(20), x=30, y=40, family="")])
    ys, xs = np.nonzero(instance == 1)
    assert labels.xyxy.tolist() == [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
    assert labels.xyxy.tolist() == [[20, 30, 40, 50]]


def test_small_object_on_a_large_one_keeps_both_boxes_and_occludes():
    parachute, debris = _Placed(0, square_sprite(40), x=50, y=40, family=""), _Placed(4, square_sprite(6), x=50, y=40, family="")
    labels, instance = boxes_of([parachute, debris])
    assert labels.class_ids.tolist() == [0, 4]
    assert labels.xyxy.tolist() == [[30, 20, 70, 60], [47, 37, 53, 43]]
    assert (instance[37:43, 47:53] == 2).all()  # the debris, drawn later, owns its pixels


def test_occluding_a_whole_side_shrinks_the_box():
    big, cover = _Placed(1, square_sprite(20), x=30, y=40, family=""), _Placed(4, square_sprite(20), x=30, y=52, family="")
    labels, _ = boxes_of([big, cover])
    assert labels.xyxy.tolist()[0] == [20, 30, 40, 42]  # rows 42..49 are under the second object


def test_boxes_are_clipped_at_the_frame_edge_and_hidden_objects_dropped():
    # 20x20 centred at x=5: 15 columns in frame (75% visible) -> kept, clipped at 0
    labels, _ = boxes_of([_Placed(2, square_sprite(20), x=5, y=40, family="")])
    assert labels.xyxy.tolist() == [[0, 30, 15, 50]]
    # centred at x=-6: 4 columns in frame (20% < 30%), and 80 px is 1% of the frame -> still a 1%-of-frame piece
    cut = [_Placed(2, square_sprite(20), x=-6, y=40, family="")]
    assert boxes_of(cut)[0].xyxy.tolist() == [[0, 30, 4, 50]]
    strict = load_config(overrides=["synth.min_frame_fraction=0.02"]).synth  # 80 px < 2% of 8000 -> dropped
    assert len(boxes_of(cut, config=strict)[0]) == 0
    # centred at x=-7: 3 columns, 60 px: 15% of the object and 0.75% of the frame -> dropped
    assert len(boxes_of([_Placed(2, square_sprite(20), x=-7, y=40, family="")])[0]) == 0


def test_a_big_object_mostly_outside_the_frame_gets_the_box_of_its_visible_part():
    # a 200x200 canopy centred far off the left edge: 20 of its 200 columns show (10% < 30%), but they
    # cover 1600 px = 20% of the frame: a person would box that piece, so the label is its visible box
    labels, instance = boxes_of([_Placed(0, square_sprite(200), x=-80, y=40, family="")])
    ys, xs = np.nonzero(instance == 1)
    assert labels.xyxy.tolist() == [[0, 0, 20, 80]] == [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]


def test_objects_with_too_few_visible_pixels_are_dropped():
    labels, _ = boxes_of([_Placed(4, square_sprite(3), x=50, y=40, family="")])  # 9 px < 16
    assert len(labels) == 0
    labels, _ = boxes_of([_Placed(4, square_sprite(4), x=50, y=40, family="")])  # 16 px
    assert len(labels) == 1


@pytest.mark.parametrize("seed", range(6))
def test_oblique_boxes_lie_inside_the_frame_and_bound_their_objects(seed):
    image, labels, _ = render_frame(seed, "rte", (320, 240), CLASSES, CONFIG.synth)
    assert image.shape == (240, 320, 3) and image.dtype == np.uint8
    x1, y1, x2, y2 = labels.xyxy.T
    assert (x1 >= 0).all() and (y1 >= 0).all() and (x2 <= 320).all() and (y2 <= 240).all()
    assert (x2 > x1).all() and (y2 > y1).all()


def test_camera_geometry_scales_with_frame_size():
    rng = lambda: np.random.default_rng(3)  # noqa: E731 - the same draws for both sizes
    assert sample_view(rng(), "nav", (320, 240)).gsd_m == pytest.approx(2 * sample_view(rng(), "nav", (640, 480)).gsd_m)
    oblique = sample_view(rng(), "rte", (640, 480))
    assert oblique.homography.shape == (3, 3) and oblique.frame_size == (640, 480)


def test_same_seed_same_bytes_with_one_or_two_workers(tmp_path):
    one = generate_dataset(tmp_path / "one", n=6, seed=11, config=CONFIG, size=(192, 144), workers=1)
    two = generate_dataset(tmp_path / "two", n=6, seed=11, config=CONFIG, size=(192, 144), workers=2)
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(two) for p in two.rglob("*") if p.is_file())
    assert len([f for f in files if f.parts[0] == "images"]) == 6
    for f in files:
        assert (one / f).read_bytes() == (two / f).read_bytes(), f
    other = generate_dataset(tmp_path / "other", n=6, seed=12, config=CONFIG, size=(192, 144))
    assert (other / files[0]).read_bytes() != (one / files[0]).read_bytes()


def test_plan_is_independent_of_the_number_of_frames():
    short, long = plan_frames(10, 7, CONFIG), plan_frames(40, 7, CONFIG)
    assert [(j.seed, j.camera) for j in short] == [(j.seed, j.camera) for j in long[:10]]


@pytest.fixture(scope="module")
def mixed_150(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "mixed"
    return generate_dataset(out, n=150, seed=2026, config=CONFIG, size=(256, 192), workers=2, preview=True)


def test_about_a_fifth_of_frames_are_empty(mixed_150):
    images = annotated = 0
    for split in ("train", "val", "test"):
        coco = json.loads((mixed_150 / f"{split}.json").read_text())
        images += len(coco["images"])
        annotated += len({a["image_id"] for a in coco["annotations"]})
    assert images == 150
    assert 0.10 <= (images - annotated) / images <= 0.30  # 0.2 +- 3 standard deviations of a share of 150


def test_every_class_and_camera_appears(mixed_150):
    counts = Counter()
    for split in ("train", "val", "test"):
        coco = json.loads((mixed_150 / f"{split}.json").read_text())
        names = {c["id"]: c["name"] for c in coco["categories"]}
        counts.update(names[a["category_id"]] for a in coco["annotations"])
    assert set(counts) == set(CLASSES)
    cameras = Counter(frame["camera"] for frame in json.loads((mixed_150 / "manifest.json").read_text())["frames"])
    assert set(cameras) == {"rte", "nav", "orbital"}


def test_splits_never_share_a_seed(mixed_150):
    frames = json.loads((mixed_150 / "manifest.json").read_text())["frames"]
    seeds = {split: {f["seed"] for f in frames if f["split"] == split} for split in ("train", "val", "test")}
    assert [len(s) for s in seeds.values()] == [120, 15, 15]
    assert not (seeds["train"] & seeds["val"]) and not (seeds["train"] & seeds["test"]) and not (seeds["val"] & seeds["test"])


def test_output_passes_debris_check(mixed_150, capsys):
    assert check_dataset(mixed_150) == []
    assert main(["check", str(mixed_150)]) == EXIT_OK
    assert (mixed_150 / "preview.png").stat().st_size > 10_000


def test_backgrounds_draw_hardware_on_real_terrain(tmp_path):
    real = Path(__file__).resolve().parent.parent / "data" / "real_mars"
    out = generate_dataset(tmp_path / "bg", n=4, seed=3, config=load_config(overrides=["synth.empty_fraction=0"]),
                           size=(256, 256), backgrounds=real, workers=1)
    coco = json.loads((out / "train.json").read_text())
    assert len(coco["annotations"]) > 0 and check_dataset(out) == []


def test_cli_synth_with_yolo_output(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["synth", "--out", str(out), "--n", "3", "--camera", "nav", "--size", "160x120", "--yolo"]) == EXIT_OK
    assert all(f["camera"] == "nav" for f in json.loads((out / "manifest.json").read_text())["frames"])
    assert main(["check", str(out / "yolo")]) == EXIT_OK


def test_refuses_classes_it_cannot_draw_and_a_full_output_folder(tmp_path):
    with pytest.raises(ConfigError, match="cannot draw \\['rock'\\]"):
        generate_dataset(tmp_path / "a", n=1, seed=0, config=load_config(overrides=["classes=[rock, debris]"]))
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty"):
        generate_dataset(tmp_path / "b", n=1, seed=0, config=CONFIG)


def test_preview_cells_take_the_frames_shape(tmp_path):
    import cv2

    generate_dataset(tmp_path / "square", n=2, seed=1, config=CONFIG, size=(64, 64), preview=True)
    sheet = cv2.imread(str(tmp_path / "square" / "preview.png"))
    assert sheet.shape == (400, 1600, 3)  # 4 square cells of 400 px: no side bars
    assert (sheet[:, :400] == 32).all(axis=2).mean() < 0.05  # the frame fills its cell, bar a thin gap
