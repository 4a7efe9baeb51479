import numpy as np
import pytest

from debris.synth.sun import Sun
from debris.synth.lighting import cast_shadow, shade, slopes
from debris.synth.negatives import draw_helicopter_shadow
from debris.synth.relief import stamp_rock
from debris.synth.terrain import render_terrain


def render(seed: int, gsd_m: float = 0.05) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return render_terrain(rng, 96, 128, gsd_m, Sun.random(rng))


def test_same_seed_gives_identical_bytes():
    assert render(3).tobytes() == render(3).tobytes()


def test_different_seeds_give_different_ground():
    assert np.abs(render(3) - render(4)).mean() > 0.01


@pytest.mark.parametrize("gsd_m", [0.003, 0.03, 0.08, 0.3, 0.5])
def test_every_scale_gives_textured_rgb_in_unit_range(gsd_m):
    image = render(0, gsd_m)
    assert image.shape == (96, 128, 3) and image.dtype == np.float32
    assert np.isfinite(image).all() and image.min() >= 0 and image.max() <= 1
    assert image.std() > 0.005


def test_shadow_offset_points_away_from_the_sun_and_grows_as_it_sets():
    dx, dy = Sun(45, 30).shadow_offset(1.0, 0.1)  # light from the top right
    assert dx < 0 and dy > 0 and dx == pytest.approx(-dy)
    assert np.hypot(dx, dy) == pytest.approx(1.0 / np.tan(np.radians(30)) / 0.1)
    assert np.hypot(*Sun(45, 15).shadow_offset(1.0, 0.1)) > np.hypot(dx, dy)
    assert Sun(90, 30).shadow_offset(1.0, 0.1)[0] < 0  # from the right: shadow to the left


def test_random_sun_stays_in_range():
    suns = [Sun.random(np.random.default_rng(seed)) for seed in range(50)]
    assert all(0 <= sun.azimuth_deg < 360 and 10 <= sun.elevation_deg <= 60 for sun in suns)


@pytest.mark.parametrize("azimuth_deg", [0, 90, 200, 315])
def test_a_rock_is_lit_on_the_sun_side_and_casts_its_shadow_away(azimuth_deg):
    height, albedo = np.zeros((101, 101), np.float32), np.full((101, 101, 3), 0.5, np.float32)
    circle = 8.0 * np.stack([np.cos(np.linspace(0, 2 * np.pi, 12)), np.sin(np.linspace(0, 2 * np.pi, 12))], 1)
    stamp_rock(height, albedo, 50.5, 50.5, circle, 0.3, np.ones(3, np.float32), 0.7)
    sun = Sun(azimuth_deg, 30)
    light = shade(*slopes(height, 0.02), sun, shadow=cast_shadow(height, 0.02, sun))
    ux, uy = np.array(sun.shadow_offset(1.0, 1.0)) / np.hypot(*sun.shadow_offset(1.0, 1.0))

    def mean_at(distance_px):  # 3x3 mean at a distance from the rock's centre along the shadow direction
        x, y = round(50.5 + distance_px * ux), round(50.5 + distance_px * uy)
        return light[y - 1:y + 2, x - 1:x + 2].mean()

    assert mean_at(16) < 0.6 * mean_at(-16)  # beyond the rock: shadow; before it: open ground
    assert mean_at(-16) == pytest.approx(1.0, abs=0.05)
    assert mean_at(-4) > mean_at(4)  # the rock's sunward face is the brighter one


@pytest.mark.parametrize("seed", range(4))
def test_helicopter_shadow_only_darkens(seed):
    rng = np.random.default_rng(seed)
    image = np.full((240, 320, 3), 0.5, np.float32)
    draw_helicopter_shadow(image, rng, 0.03, Sun.random(rng))
    assert image.max() <= 0.5 and (image < 0.4).sum() > 30
    gray = np.full((240, 320), 0.5, np.float32)
    draw_helicopter_shadow(gray, np.random.default_rng(seed), 0.03, Sun(120, 35))
    assert gray.max() <= 0.5 and (gray < 0.4).sum() > 10
