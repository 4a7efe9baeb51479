"""Preprocessing stages: each one's effect on a known input, and their config validation."""

from __future__ import annotations

import numpy as np
import pytest

from debris.config import ConfigError, load_config
from debris.preprocess import (
    Clahe, Denoise, GrayWorld, PercentileStretch, fit_preprocess, parse_stages, preprocess, stage_records,
)


def textured(seed: int = 0, size: int = 128) -> np.ndarray:
    """Gray regolith-like texture, (size, size, 3) uint8, mean ~128."""
    rng = np.random.default_rng(seed)
    gray = 128 + 30 * rng.standard_normal((size // 8, size // 8))
    return np.repeat(np.repeat(np.clip(gray, 0, 255), 8, 0), 8, 1).astype(np.uint8)[..., None].repeat(3, 2)


def test_gray_world_removes_a_colour_cast():
    cast = np.clip(textured() * np.array([1.3, 1.0, 0.7]), 0, 255).astype(np.uint8)  # a reddish dust cast
    means = cast.reshape(-1, 3).mean(0)
    assert means[0] - means[2] > 60
    balanced = GrayWorld(name="gray_world")(cast).reshape(-1, 3).mean(0)
    assert np.ptp(balanced) < 2


def test_gray_world_leaves_a_gray_frame_unchanged():
    image = textured()
    np.testing.assert_array_equal(GrayWorld(name="gray_world")(image), image)


def test_percentile_stretch_maps_the_chosen_percentiles_to_0_and_255():
    rng = np.random.default_rng(1)
    image = rng.integers(90, 150, (256, 256)).astype(np.uint8)[..., None].repeat(3, 2)  # a dull, low-contrast frame
    out = PercentileStretch(name="percentile_stretch", low=2.0, high=98.0)(image)
    lo, hi = np.percentile(out[::4, ::4, 0], [2.0, 98.0])
    assert lo <= 3 and hi >= 252
    assert out.min() == 0 and out.max() == 255
    # the order of grey levels is kept: the stretch is monotonic
    order = np.argsort(image[..., 0].ravel(), kind="stable")
    assert (np.diff(out[..., 0].ravel()[order].astype(int)) >= 0).all()


def test_clahe_raises_local_contrast():
    image = (textured() * 0.3 + 100).astype(np.uint8)  # flat, low-contrast texture
    out = Clahe(name="clahe", clip_limit=3.0, grid=4)(image)
    assert out[..., 0].std() > 1.5 * image[..., 0].std()


def test_denoise_lowers_the_noise_and_keeps_an_edge():
    rng = np.random.default_rng(2)
    clean = np.full((64, 64), 80.0)
    clean[:, 32:] = 180.0  # a hardware edge
    noisy = np.clip(clean + rng.normal(0, 8, clean.shape), 0, 255).astype(np.uint8)[..., None].repeat(3, 2)
    out = Denoise(name="denoise", sigma_space=3.0, sigma_color=30.0)(noisy).astype(float)[..., 0]
    assert out[:, 4:28].std() < 0.6 * noisy[:, 4:28, 0].std()  # flat regolith gets smoother
    assert out[:, 36:60].mean() - out[:, 4:28].mean() > 95  # and the step stays a step
    assert abs(out[:, 31].mean() - 80) < 15 and abs(out[:, 32].mean() - 180) < 15


def test_stages_run_in_order_and_round_trip_through_a_checkpoint_record():
    stages = load_config(overrides=["preprocess=[{name: gray_world}, {name: clahe, grid: 4}]"]).preprocess
    assert [type(s) for s in stages] == [GrayWorld, Clahe] and stages[1].grid == 4 and stages[1].clip_limit == 2.0
    assert parse_stages(stage_records(stages)) == stages
    image = np.clip(textured() * np.array([1.2, 1.0, 0.8]), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(preprocess(image, stages), stages[1](stages[0](image)))


@pytest.mark.parametrize("override,message", [
    ("preprocess=[{name: sharpen}]", "'sharpen'"),
    ("preprocess=[{name: clahe, grd: 3}]", "unknown key 'preprocess.0.clahe.grd' (allowed here: clip_limit, grid, name)"),
    ("preprocess=[{name: clahe, grid: 0}]", "preprocess.0.clahe.grid"),
    ("preprocess=[{name: percentile_stretch, low: '1'}]", "preprocess.0.percentile_stretch.low"),
])
def test_a_bad_stage_is_a_config_error_naming_the_key(override, message):
    with pytest.raises(ConfigError, match=None) as err:
        load_config(overrides=[override])
    assert message in str(err.value)


def cast_frame(seed: int = 3) -> np.ndarray:
    """A low-contrast frame with a colour cast, (256, 256, 3) uint8: every measuring stage has work to do."""
    return np.clip(textured(seed, 256) * np.array([0.9, 0.7, 0.5]) + 20, 0, 255).astype(np.uint8)


STAGE_LISTS = [
    [{"name": "gray_world"}, {"name": "percentile_stretch", "low": 1.0, "high": 99.0}],
    [{"name": "percentile_stretch"}, {"name": "clahe", "grid": 4}, {"name": "denoise"}],
]


@pytest.mark.parametrize("records", STAGE_LISTS)
def test_fitting_on_the_frame_itself_is_preprocessing_it(records):
    stages, image = parse_stages(records), cast_frame()
    np.testing.assert_array_equal(fit_preprocess(stages, image)(image), preprocess(image, stages))


def test_a_window_mapped_with_the_frames_fit_equals_the_same_window_of_the_prepared_frame():
    # what labelling a product in windows relies on: the measuring stages' numbers come from the
    # whole frame, so a window comes out as it would in the prepared frame
    stages, image = parse_stages(STAGE_LISTS[0]), cast_frame()
    prepared, mapping = preprocess(image, stages), fit_preprocess(stages, image)
    window = image[64:160, 32:200]
    np.testing.assert_array_equal(mapping(window), prepared[64:160, 32:200])
    assert not np.array_equal(preprocess(window, stages), prepared[64:160, 32:200])  # fitting the window alone differs
