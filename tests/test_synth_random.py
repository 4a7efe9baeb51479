"""Domain randomisation: families, held-out families, the label rule at new scales, randomize=0, config errors."""

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from debris.config import ConfigError, load_config
from debris.synth.cameras import View, sample_view
from debris.synth.families import CLASSIC, FAMILIES, family_names
from debris.synth.generate import generate_dataset
from debris.synth.hardware import CLASS_NAMES, Sprite, render_sprite
from debris.synth.real_terrain import TRAIN_LIST, train_paths
from debris.synth.scene import _composite, _labels, _Placed, _to_frame
from debris.synth.sun import Sun

SUN = Sun(azimuth_deg=60.0, elevation_deg=35.0)
SMALL = ["synth.sizes={rte: [[160, 120, 1], [96, 72, 1]], nav: [160, 120], orbital: [128, 128]}", "synth.empty_fraction=0"]


def families_drawn(out) -> list[dict]:
    return [f["families"] for f in json.loads((out / "manifest.json").read_text())["frames"]]


def test_every_axis_lists_its_families_and_every_family_renders():
    names = family_names()
    assert list(names) == [*CLASS_NAMES, "terrain"]
    for name in CLASS_NAMES:
        assert len(names[name]) >= 3 and set(CLASSIC[name]) <= set(names[name])
        for family in names[name]:
            s = render_sprite(np.random.default_rng(1), name, 0.08, SUN, family)
            assert (s.alpha >= 0.5).any(), (name, family)
            assert all(np.isfinite(a).all() and 0 <= a.min() and a.max() <= 1 for a in (s.rgb, s.alpha, s.shadow))


def test_unknown_family_or_axis_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"synth\.families\.parachute.*plaid"):
        load_config(overrides=["synth.families={parachute: [plaid]}"])
    with pytest.raises(ConfigError, match=r"synth\.families\.rover"):
        load_config(overrides=["synth.families={rover: [any]}"])
    assert load_config(overrides=["synth.families={parachute: [striped], terrain: null}"]).synth.families


def test_held_out_families_never_appear_in_a_training_set_rendered_without_them(tmp_path):
    keep = {"parachute": ["dgb_orange_white", "white"], "heat_shield": ["outer_face"], "terrain": ["rendered", "dunes"]}
    held_out = {axis: set(FAMILIES[axis]) - set(names) for axis, names in keep.items()}
    weights = "synth.class_weights={parachute: 3, heat_shield: 3, backshell: 0.1, descent_stage: 0.1, debris: 0.1}"
    train = load_config(overrides=[*SMALL, weights, "synth.families=" + json.dumps(keep)])
    seen = families_drawn(generate_dataset(tmp_path / "train", n=16, seed=5, config=train, workers=1))
    objects = [tuple(o) for frame in seen for o in frame["objects"]]
    assert {c for c, _ in objects} >= {"parachute", "heat_shield"}  # the check below is not vacuous
    assert all(f not in held_out.get(c, ()) for c, f in objects)
    assert all(frame["terrain"] not in held_out["terrain"] for frame in seen)
    # the transfer test set: ONLY the held-out families
    test = load_config(overrides=[*SMALL, weights, "synth.families=" + json.dumps({k: sorted(v) for k, v in held_out.items()})])
    seen = families_drawn(generate_dataset(tmp_path / "test", n=8, seed=6, config=test, workers=1))
    objects = [tuple(o) for frame in seen for o in frame["objects"]]
    assert objects and all(f in held_out[c] for c, f in objects if c in held_out)
    assert all(frame["terrain"] in held_out["terrain"] for frame in seen)


def test_randomize_zero_draws_only_the_classic_look(tmp_path):
    config = load_config(overrides=[*SMALL, "synth.randomize=0"])
    out = generate_dataset(tmp_path / "classic", n=8, seed=9, config=config, workers=1)
    seen = families_drawn(out)
    assert all(frame["terrain"] == "rendered" for frame in seen)
    assert all(f in CLASSIC[c] for frame in seen for c, f in frame["objects"])
    assert len(json.loads((out / "train.json").read_text())["annotations"]) > 0


def test_random_sun_reaches_low_and_high_elevations():
    suns = [Sun.random(np.random.default_rng(seed), randomize=1.0) for seed in range(400)]
    elevations = [s.elevation_deg for s in suns]
    assert 5 <= min(elevations) < 10 and 60 < max(elevations) <= 85


def test_a_clipped_close_range_object_bigger_than_the_frame_keeps_its_visible_box():
    # a parachute seen from 2 m: a 2000x2000 px object of which only a window over the 100x80 frame is drawn
    window = np.zeros((84, 104), np.float32)
    window[:, :32] = 1  # the object's right edge lies at frame column 30 (window column 32 = frame column 30)
    sprite = Sprite(np.full((84, 104, 3), 0.9, np.float32), window, np.zeros_like(window), np.zeros((84, 104, 4), np.float32),
                    area_px=2000.0**2, origin=(2 + 50, 2 + 40))
    view = View((100, 80), (100, 80), 0.004, None)
    placed = [_Placed(0, sprite, x=50.5, y=40.5, family="striped")]
    canvas, instance = _composite(np.full((80, 100, 3), 0.4, np.float32), placed, gain=1.0)
    labels = _labels(placed, instance, _to_frame(instance, view, 0), view, load_config().synth)
    ys, xs = np.nonzero(instance == 1)
    assert labels.xyxy.tolist() == [[0, 0, 30, 80]] == [[xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]]
    assert (canvas[:, :30] == np.float32(0.9)).all() and (canvas[:, 30:] == np.float32(0.4)).all()


def test_a_clipped_sprite_draws_the_same_pixels_as_the_whole_one():
    rng = lambda: np.random.default_rng(4)  # noqa: E731 - the same draws for both
    whole = render_sprite(rng(), "heat_shield", 0.01, SUN, "cracked")
    half = whole.alpha.shape[0] // 2
    part = render_sprite(rng(), "heat_shield", 0.01, SUN, "cracked", clip=(-40, -30, 50, 20))
    assert part.alpha.shape == (50, 90) and part.origin == (40, 30)
    np.testing.assert_allclose(part.alpha, whole.alpha[half - 30 : half + 20, half - 40 : half + 50], atol=0.02)
    assert part.full_area() == pytest.approx(whole.full_area(), rel=0.02)


def test_real_terrain_comes_from_the_training_list_only():
    heldout = TRAIN_LIST.with_name("heldout.txt").read_text().split()
    paths = {p.relative_to(TRAIN_LIST.parent).as_posix() for p in train_paths()}
    assert len(paths) > 100 and not paths & set(heldout)
    with pytest.raises(ValueError, match="train.txt"):
        train_paths(TRAIN_LIST.with_name("heldout.txt"))


def test_boxes_on_a_close_range_oblique_frame_are_the_visible_pixel_boxes():
    # rte at 2-25 m: a frame-filling canopy cut by the edges, and a small piece lying on it, through the homography
    view = sample_view(np.random.default_rng(0), "rte", (320, 240), randomize=1.0)
    w, h = view.canvas_size
    big, small = (Sprite(np.full((n, n, 3), 0.9, np.float32), np.ones((n, n), np.float32), np.zeros((n, n), np.float32),
                         np.zeros((n, n, 4), np.float32)) for n in (3 * max(w, h) + 1, 9))
    placed = [_Placed(0, big, x=w / 2, y=h, family="torn"), _Placed(4, small, x=w / 2, y=0.8 * h, family="foil")]
    _, instance = _composite(np.full((h, w, 3), 0.4, np.float32), placed, gain=1.0)
    frame_instance = _to_frame(instance, view, cv2.INTER_NEAREST)
    labels = _labels(placed, instance, frame_instance, view, load_config().synth)
    expected = []
    for k in (1, 2):
        ys, xs = np.nonzero(frame_instance == k)
        expected.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    assert labels.class_ids.tolist() == [0, 4] and labels.xyxy.tolist() == expected
    assert expected[0] == [0, 0, 320, 240]  # the canopy fills the frame: under 30% of it is seen, yet it is boxed


def test_the_shipped_training_config_leaves_out_exactly_the_held_out_families():
    """configs/synth_train.yaml (the shipped model's data) and synth_heldout.yaml (the transfer test) never share a family."""
    root = Path(__file__).resolve().parent.parent / "configs"
    train = load_config(root / "synth_train.yaml").synth.families
    heldout = load_config(root / "synth_heldout.yaml").synth.families
    for axis, names in family_names().items():
        assert heldout[axis], axis  # every class and the terrain have a look the model never saw
        assert not set(train[axis]) & set(heldout[axis]), axis
        assert set(train[axis]) | set(heldout[axis]) == set(names), axis
