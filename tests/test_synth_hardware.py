import math

import cv2
import numpy as np
import pytest

from debris.synth.hardware import CLASS_NAMES, Sprite, render_sprite
from debris.synth.sun import Sun

SUN = Sun(azimuth_deg=60.0, elevation_deg=35.0)


def visible(sprite: Sprite) -> np.ndarray:
    return (sprite.alpha >= 0.5).astype(np.uint8)


def span_px(sprite: Sprite) -> int:
    ys, xs = np.nonzero(visible(sprite))
    return int(max(np.ptp(xs), np.ptp(ys))) + 1


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_every_class_renders_consistent_float32_arrays(name):
    for seed in range(3):
        s = render_sprite(np.random.default_rng(seed), name, 0.05, SUN)
        h, w = s.alpha.shape
        assert h % 2 == 1 and w % 2 == 1  # odd, so the placement point is a pixel centre
        assert s.rgb.shape == (h, w, 3) and s.shadow.shape == (h, w) and s.decal.shape == (h, w, 4)
        for a in (s.rgb, s.alpha, s.shadow, s.decal):
            assert a.dtype == np.float32 and np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1
        assert visible(s).any() and s.rgb[visible(s) > 0].mean() > 0.1  # drawn, not left black
        ys, xs = np.nonzero(visible(s))
        assert abs(ys.mean() - h // 2) < 0.25 * h and abs(xs.mean() - w // 2) < 0.25 * w


@pytest.mark.parametrize("name", CLASS_NAMES)
def test_same_seed_gives_identical_arrays(name):
    a, b = (render_sprite(np.random.default_rng(7), name, 0.03, SUN) for _ in range(2))
    for x, y in zip((a.rgb, a.alpha, a.shadow, a.decal), (b.rgb, b.alpha, b.shadow, b.decal)):
        assert np.array_equal(x, y)
    c = render_sprite(np.random.default_rng(8), name, 0.03, SUN)
    assert c.alpha.shape != a.alpha.shape or not np.array_equal(c.alpha, a.alpha)


@pytest.mark.parametrize(
    "name, gsd_m, lo, hi",
    [
        ("parachute", 0.1, 40, 260),  # 21.5 m spread; crumpled heaps are a third to half of that
        ("backshell", 0.05, 55, 120),  # 4.5 m cone, shorter when lying on its side
        ("heat_shield", 0.05, 60, 110),  # 4.5 m disc, foreshortened or partly buried
    ],
)
def test_size_matches_physical_size_and_is_one_object(name, gsd_m, lo, hi):
    spans = []
    for seed in range(8):
        s = render_sprite(np.random.default_rng(seed), name, gsd_m, SUN)
        n, _, stats, _ = cv2.connectedComponentsWithStats(visible(s), connectivity=8)
        assert stats[1:, cv2.CC_STAT_AREA].max() >= 0.95 * visible(s).sum()
        spans.append(span_px(s))
    assert lo <= min(spans) and max(spans) <= hi, spans
    if name == "parachute":  # most canopies lie spread out
        assert sum(150 <= x <= 260 for x in spans) >= 4, spans


def test_coverage_area_keeps_its_size_from_close_up_to_orbit():
    # supersampling: at 0.4 m/px a heat shield is ~11 px, yet its coverage still integrates to its area in m^2
    areas = [render_sprite(np.random.default_rng(3), "heat_shield", g, SUN).alpha.sum() * g * g for g in (0.02, 0.4)]
    assert areas[1] == pytest.approx(areas[0], rel=0.15)


@pytest.mark.parametrize("azimuth", [0.0, 90.0, 200.0, 300.0])
def test_shadow_falls_away_from_the_sun(azimuth):
    s = render_sprite(np.random.default_rng(1), "backshell", 0.05, Sun(azimuth, 30.0))
    ys, xs = np.indices(s.alpha.shape)
    offset = np.array([(xs * s.shadow).sum(), (ys * s.shadow).sum()]) / s.shadow.sum()
    offset -= np.array([(xs * s.alpha).sum(), (ys * s.alpha).sum()]) / s.alpha.sum()
    away = np.array([-math.sin(math.radians(azimuth)), math.cos(math.radians(azimuth))])
    assert offset @ away > 5  # pixels, along the shadow direction
    assert abs(offset @ [-away[1], away[0]]) < 0.5 * (offset @ away)


def test_unknown_class_is_an_error_naming_it():
    with pytest.raises(ValueError, match="rover"):
        render_sprite(np.random.default_rng(0), "rover", 0.05, SUN)
