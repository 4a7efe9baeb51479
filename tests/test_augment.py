from pathlib import Path

import cv2
import numpy as np
import pytest

from debris.train.augment import ERASE_MIN_VISIBLE, AugmentConfig, _unerased, augment, letterbox
from debris.detections import Detections
from debris.train.style import STYLE_SIDE, load_styles, style_swap

# pixel-exact geometry: no appearance changes, so a rectangle's pixels can be found by threshold
GEOMETRY = {"strength": 0.0, "gray": 0.0, "erase": 0.0, "blur": 0.0, "noise": 0.0, "jpeg": 0.0}


def draw(h: int, w: int, rects: list[tuple[int, int, int, int]]) -> tuple[np.ndarray, Detections]:
    """Black (h, w, 3) frame with rectangle i filled white on channel i only; labels are the rectangles, class i."""
    image = np.zeros((h, w, 3), np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(rects):
        image[y1:y2, x1:x2, i] = 255
    return image, Detections.from_labels(np.array(rects, dtype=np.float64).reshape(-1, 4), np.arange(len(rects)))


def white_box(image: np.ndarray, channel: int) -> np.ndarray | None:
    """xyxy of the pixels of `channel` that are more than half white, or None if there are none."""
    ys, xs = np.nonzero(image[..., channel] > 127)
    return None if len(xs) == 0 else np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=np.float64)


def random_rects(rng: np.random.Generator, h: int, w: int) -> list[tuple[int, int, int, int]]:
    rects = []
    for _ in range(3):
        bw, bh = (int(rng.integers(4, min(w, h) // 2)) for _ in range(2))
        x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
        rects.append((x, y, x + bw, y + bh))
    return rects


def test_boxes_match_the_pixels_through_scale_crop_flip_and_rotation():
    cfg = AugmentConfig(size=128, scale=(0.4, 2.5), **GEOMETRY)
    checked, transposed = 0, 0
    for seed in range(150):
        scene = np.random.default_rng(1000 + seed)
        h, w = [(96, 128), (200, 150), (480, 640), (780, 1052)][seed % 4]
        image, labels = draw(h, w, random_rects(scene, h, w))
        out, boxes = augment(image, labels, np.random.default_rng(seed), cfg)
        assert out.shape == (128, 128, 3) and out.dtype == np.uint8
        assert boxes.xyxy.dtype == np.float32 and boxes.class_ids.dtype == np.int64
        assert (boxes.xyxy >= 0).all() and (boxes.xyxy <= 128).all()
        for box, c in zip(boxes.xyxy, boxes.class_ids):
            np.testing.assert_allclose(box, white_box(out, c), atol=1.5, err_msg=f"seed {seed}")
            wh = labels.xyxy[c, 2:] - labels.xyxy[c, :2]
            transposed += (wh[0] - wh[1]) * ((box[2] - box[0]) - (box[3] - box[1])) < 0
            checked += 1
    assert checked > 200 and transposed > 20  # many boxes, and the 90-degree rotations did happen


def test_cut_boxes_are_clipped_and_dropped_below_min_visible():
    # a 128 frame at scale 2 into a 128 crop: a 64 px window magnified exactly 2x, so shares are countable
    cfg = AugmentConfig(size=128, scale=(2.0, 2.0), exact=0.0, flip=False, min_visible=0.4, **GEOMETRY)
    kept_cut = dropped_cut = 0
    for seed in range(200):
        x, y = np.random.default_rng(1000 + seed).integers(0, 108, (2, 2)).tolist()
        image, labels = draw(128, 128, [(x[0], y[0], x[0] + 20, y[0] + 20), (x[1], y[1], x[1] + 20, y[1] + 20)])
        out, boxes = augment(image, labels, np.random.default_rng(seed), cfg)
        for c in range(2):
            visible = (out[..., c] > 127).sum() / (40 * 40)
            if c in boxes.class_ids:
                box = boxes.xyxy[list(boxes.class_ids).index(c)]
                np.testing.assert_allclose(box, white_box(out, c), atol=1.0)
                assert visible >= 0.4 - 0.06
                kept_cut += visible < 0.95
            elif visible > 0:
                assert visible <= 0.4 + 0.06
                dropped_cut += 1
    assert kept_cut > 10 and dropped_cut > 10


def test_no_labels_and_every_effect_on():
    image = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    cfg = AugmentConfig(size=96, blur=1.0, noise=1.0, jpeg=1.0)
    for seed in range(10):
        out, boxes = augment(image, Detections.empty(), np.random.default_rng(seed), cfg)
        assert out.shape == (96, 96, 3) and out.dtype == np.uint8 and len(boxes) == 0


def test_frame_smaller_than_the_crop_is_padded_with_its_mean():
    image = np.zeros((60, 100, 3), np.uint8)
    image[:, :50], image[:, 50:] = (10, 20, 30), (50, 60, 70)
    cfg = AugmentConfig(size=128, scale=(1.0, 1.0), **GEOMETRY)
    out, _ = augment(image, Detections.empty(), np.random.default_rng(3), cfg)
    assert (out == (30, 40, 50)).all(-1).sum() >= 128 * 128 - 60 * 100


def test_same_seed_same_output():
    image, labels = draw(300, 400, [(10, 20, 40, 60), (200, 100, 260, 150)])
    image[..., 2] = np.random.default_rng(0).integers(0, 256, (300, 400))
    cfg = AugmentConfig(size=64, blur=1.0, noise=1.0, jpeg=1.0)
    (a, la), (b, lb) = (augment(image, labels, np.random.default_rng(5), cfg) for _ in range(2))
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la.xyxy, lb.xyxy)
    assert not np.array_equal(a, augment(image, labels, np.random.default_rng(6), cfg)[0])


def test_crops_keep_small_objects():
    image, labels = draw(2000, 2000, [(1234, 567, 1238, 571)])
    cfg = AugmentConfig(size=416, scale=(1.0, 1.0), **GEOMETRY)
    kept = sum(len(augment(image, labels, np.random.default_rng(s), cfg)[1]) for s in range(200))
    assert kept >= 0.6 * 200  # a uniform crop alone keeps it ~4% of the time


def test_grayscale_stays_grayscale():
    gray = np.random.default_rng(0).integers(0, 256, (240, 320, 1), dtype=np.uint8).repeat(3, axis=2)
    cfg = AugmentConfig(size=128, strength=2.0, blur=0.5, noise=0.5, jpeg=0.5)
    for seed in range(30):
        out, _ = augment(gray, Detections.empty(), np.random.default_rng(seed), cfg)
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 0] == out[..., 2]).all()


def test_photometric_changes_colour_frames_within_uint8():
    image = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    cfg = AugmentConfig(size=128, scale=(1.0, 1.0), flip=False, gray=0.0, erase=0.0, blur=0.0, noise=0.0, jpeg=0.0)
    out, _ = augment(image, Detections.empty(), np.random.default_rng(1), cfg)
    assert out.dtype == np.uint8 and not np.array_equal(out, image)
    assert not np.allclose(out.mean((0, 1)) / image.mean((0, 1)), out.mean() / image.mean(), atol=1e-3)


@pytest.mark.parametrize("h, w", [(100, 200), (300, 150)])
def test_letterbox_keeps_aspect_and_maps_boxes_exactly(h, w):
    image, labels = draw(h, w, [(20, 10, 60, 50)])
    out, boxes = letterbox(image, labels, 128)
    gain = 128 / max(h, w)
    assert out.shape == (128, 128, 3)
    np.testing.assert_allclose(boxes.xyxy, labels.xyxy * gain, atol=1e-4)
    np.testing.assert_allclose(boxes.xyxy[0], white_box(out, 0), atol=1.0)
    pad = out[round(h * gain) :, :] if h < w else out[:, round(w * gain) :]
    assert pad.size and np.abs(pad - image.mean((0, 1))).max() <= 1  # padded with the frame's mean


def textured(h: int, w: int, colour: tuple[int, int, int], seed: int) -> np.ndarray:
    """(h, w, 3) uint8: `colour` plus +-40 DN of smooth random texture, so crops have structure at every scale."""
    noise = cv2.GaussianBlur(np.random.default_rng(seed).normal(0, 60, (h, w)).astype(np.float32), (0, 0), 2)
    return np.clip(np.float32(colour) + np.clip(noise, -40, 40)[..., None], 0, 255).astype(np.uint8)


def test_style_swap_keeps_boxes_and_detail_moves_the_low_frequencies_and_repeats_with_the_seed():
    image, labels = draw(300, 400, [(50, 60, 90, 100), (200, 150, 230, 170)])
    image = np.maximum(image, textured(300, 400, (70, 60, 50), 0))  # colour: a gray crop takes the luminance
    styles = textured(STYLE_SIDE, STYLE_SIDE, (200, 160, 120), 1)[None]  # far from the crop in every channel
    on = AugmentConfig(size=128, style=1.0, styles=styles, **GEOMETRY)
    off = AugmentConfig(size=128, style=0.0, styles=styles, **GEOMETRY)
    for seed in range(10):
        a, boxes_a = augment(image, labels, np.random.default_rng(seed), on)
        b, boxes_b = augment(image, labels, np.random.default_rng(seed), on)
        plain, boxes = augment(image, labels, np.random.default_rng(seed), off)  # same geometry: drawn first
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(boxes_a.xyxy, boxes.xyxy)
        # the mean colour (the DC term) moves 50-100% of the way to the style's
        moved = (a.mean((0, 1)) - plain.mean((0, 1))) / (styles[0].mean((0, 1)) - plain.mean((0, 1)))
        assert ((moved > 0.4) & (moved < 1.1)).all(), (seed, moved)
        # detail above the band is kept: the high-pass of the crop hardly changes
        high = [x.astype(np.float32) - cv2.GaussianBlur(x.astype(np.float32), (0, 0), 3) for x in (a, plain)]
        assert np.corrcoef(high[0].ravel(), high[1].ravel())[0, 1] > 0.9
    assert not np.array_equal(a, augment(image, labels, np.random.default_rng(99), on)[0])


def test_style_swap_keeps_gray_crops_gray():
    gray = textured(128, 128, (90, 90, 90), 2)[..., :1].repeat(3, 2)
    out = style_swap(gray, textured(STYLE_SIDE, STYLE_SIDE, (200, 120, 60), 3), True, np.random.default_rng(0))
    assert (out[..., 0] == out[..., 1]).all() and (out[..., 0] == out[..., 2]).all() and out.mean() > gray.mean() + 10


def test_style_sources_are_read_relative_to_the_list_in_square_pieces(tmp_path):
    (tmp_path / "terrain").mkdir()
    cv2.imwrite(str(tmp_path / "terrain" / "strip.png"), np.zeros((600, 200, 3), np.uint8))
    cv2.imwrite(str(tmp_path / "terrain" / "ground.png"), np.full((256, 256, 3), 200, np.uint8))
    (tmp_path / "list.txt").write_text("# real terrain\nterrain/strip.png\nterrain/ground.png\n")
    styles = load_styles(tmp_path / "list.txt")
    assert styles.shape == (4, STYLE_SIDE, STYLE_SIDE, 3) and styles.dtype == np.uint8  # 3 strip pieces + 1
    assert styles[:3].max() == 0 and styles[3].min() == 200


def test_default_style_sources_are_the_training_part_of_real_mars():
    from debris.config import load_config

    path = load_config().train.style_sources
    assert path is not None and Path(path).name == "train.txt" and "heldout" not in path


def test_gray_conversion_gives_equal_channels():
    image = textured(240, 320, (180, 100, 40), 4)
    cfg = AugmentConfig(size=128, gray=1.0, erase=0.0)
    for seed in range(10):
        out, _ = augment(image, Detections.empty(), np.random.default_rng(seed), cfg)
        assert (out[..., 0] == out[..., 1]).all() and (out[..., 0] == out[..., 2]).all()
    out, _ = augment(image, Detections.empty(), np.random.default_rng(0), AugmentConfig(size=128, gray=0.0))
    assert not (out[..., 0] == out[..., 2]).all()


def test_erasing_drops_a_mostly_erased_box_keeps_an_untouched_one_and_shrinks_a_cut_one():
    erased = np.zeros((100, 100), bool)
    erased[10:40, 10:35] = True  # covers 25 of box 0's 30 columns: 1/6 of it stays visible
    erased[60:90, 60:70] = True  # cuts box 2's left 10 columns over its whole height
    erased[50:80, 20:22] = True  # leaves a third of box 3, but only a 1 px sliver: under min_size
    rects = [[10, 10, 40, 40], [50, 10, 60, 20], [60, 60, 90, 90], [20, 50, 23, 80]]
    labels = Detections.from_labels(np.array(rects, float), np.arange(4))
    boxes = _unerased(labels, erased, min_size=2.0)
    assert boxes.class_ids.tolist() == [1, 2]
    np.testing.assert_array_equal(boxes.xyxy, [[50, 10, 60, 20], [70, 60, 90, 90]])
    erased[10:40, 10:40] = False
    erased[10:40, 10 : 10 + round(30 * (1 - ERASE_MIN_VISIBLE)) - 1] = True  # just over the threshold stays visible
    assert 0 in _unerased(labels, erased, min_size=2.0).class_ids


def test_some_crops_see_a_4208x3120_frame_as_its_native_tiles_and_some_as_the_512_whole_view():
    image, labels = draw(3120, 4208, [(2000, 1500, 2080, 1580)])
    image[..., 1] = np.random.default_rng(0).integers(0, 256, (3120, 4208), dtype=np.uint8)
    cfg = AugmentConfig(size=416, flip=False, **GEOMETRY)
    native = whole = 0
    for seed in range(60):
        out, boxes = augment(image, labels, np.random.default_rng(seed), cfg)
        if len(boxes) == 0:  # a uniform crop that missed the object
            continue
        (x1, y1, x2, y2), = boxes.xyxy
        if x2 - x1 == 80 and y2 - y1 == 80:  # 1 frame px = 1 crop px: the crop is a window of the frame
            x0, y0 = 2000 - int(x1), 1500 - int(y1)
            np.testing.assert_array_equal(out, image[y0 : y0 + 416, x0 : x0 + 416])
            native += 1
        whole += abs((x2 - x1) - 80 * 512 / 4208) < 0.1
    assert native >= 5 and whole >= 5


def test_every_effect_on_keeps_boxes_inside_the_crop_with_positive_size():
    styles = textured(STYLE_SIDE, STYLE_SIDE, (200, 120, 60), 5)[None]
    cfg = AugmentConfig(size=128, scale=(0.4, 2.5), style=1.0, styles=styles, gray=0.5, erase=1.0, blur=1.0, noise=1.0, jpeg=1.0)
    seen = 0
    for seed in range(100):
        h, w = [(96, 128), (480, 640), (780, 1052)][seed % 3]
        image, labels = draw(h, w, random_rects(np.random.default_rng(2000 + seed), h, w))
        out, boxes = augment(image, labels, np.random.default_rng(seed), cfg)
        assert out.shape == (128, 128, 3) and out.dtype == np.uint8
        assert (boxes.xyxy >= 0).all() and (boxes.xyxy <= 128).all()
        assert (boxes.xyxy[:, 2:] - boxes.xyxy[:, :2] >= cfg.min_size).all()
        seen += len(boxes)
    assert seen > 100
