"""Tiler and post-processor: windows cover every frame; merged boxes come back whole, once, in frame pixels."""

from __future__ import annotations

import numpy as np
import pytest

from debris.detections import Detections
from debris.infer.postprocess import Merger
from debris.infer.tiler import Window, plan_windows

SIZES = [(4208, 3120), (640, 480), (1024, 1024), (1001, 777), (300, 200), (2000, 500), (641, 640)]


@pytest.mark.parametrize("width,height", SIZES)
def test_windows_cover_the_frame_and_tiles_share_one_size(width, height):
    windows = plan_windows(width, height, tile=640, overlap=0.2, full_size=512)
    if width <= 640 and height <= 640:
        assert windows == [Window(0, 0, width, height)]
        return
    full, tiles = windows[0], windows[1:]
    assert (full.x0, full.y0, full.width, full.height) == (0, 0, width, height)
    assert max(full.size) == 512
    assert len({(t.width, t.height) for t in tiles}) == 1
    covered = np.zeros((height, width), bool)
    for t in tiles:
        assert t.scale == 1 and 0 <= t.x0 and t.x0 + t.width <= width and 0 <= t.y0 and t.y0 + t.height <= height
        covered[t.y0 : t.y0 + t.height, t.x0 : t.x0 + t.width] = True
    assert covered.all()


def test_neighbouring_tiles_overlap_by_at_least_the_share_asked():
    tiles = plan_windows(4208, 3120, tile=640, overlap=0.2)[1:]
    xs = sorted({t.x0 for t in tiles})
    assert min(np.diff(xs)) > 0 and max(np.diff(xs)) <= 640 * 0.8
    assert len(tiles) == len(xs) * len({t.y0 for t in tiles})


def ideal(windows: list[Window], objects: Detections) -> list[Detections]:
    """What a perfect network reports in each window: each object's visible part, in network pixels."""
    out = []
    for w in windows:
        sx, sy = w.scales
        xyxy = np.clip(objects.xyxy, [w.x0, w.y0] * 2, [w.x0 + w.width, w.y0 + w.height] * 2)
        seen = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1])
        local = (xyxy - [w.x0, w.y0, w.x0, w.y0]) * [sx, sy, sx, sy]
        out.append(Detections(local[seen], objects.scores[seen], objects.class_ids[seen]))
    return out


def test_an_object_spanning_four_tiles_gives_one_box():
    windows = plan_windows(2000, 1500, tile=640, overlap=0.2, full_size=512)
    tiles = windows[1:]
    # a 300 px parachute centred on the corner shared by four tiles' interiors
    x, y = tiles[0].x0 + tiles[0].width - 60, tiles[0].y0 + tiles[0].height - 60
    objects = Detections(np.array([[x - 150, y - 150, x + 150, y + 150]]), np.array([0.9]), np.array([0]))
    touched = [t for t in tiles if t.x0 < x + 150 and x - 150 < t.x0 + t.width and t.y0 < y + 150 and y - 150 < t.y0 + t.height]
    assert len(touched) >= 4
    merged = Merger(iou=0.6, max_det=100)(windows, ideal(windows, objects), 2000, 1500)
    assert len(merged) == 1
    np.testing.assert_allclose(merged.xyxy, objects.xyxy, atol=1e-3)


def test_small_debris_on_a_parachute_survives_merging():
    windows = plan_windows(1800, 1200, tile=640, overlap=0.2, full_size=512)
    objects = Detections(
        np.array([[700, 300, 1000, 560], [820, 400, 828, 407], [300, 900, 306, 905]]),  # parachute, debris on it, debris
        np.array([0.9, 0.6, 0.7]), np.array([0, 4, 4]),
    )
    merged = Merger(iou=0.6, max_det=100)(windows, ideal(windows, objects), 1800, 1200)
    order = np.lexsort((merged.xyxy[:, 0], merged.class_ids))
    np.testing.assert_array_equal(merged.class_ids[order], [0, 4, 4])
    np.testing.assert_allclose(merged.xyxy[order], objects.xyxy[[0, 2, 1]], atol=1e-3)


@pytest.mark.parametrize("width,height", [(1001, 777), (4207, 3119), (333, 999)])
def test_boxes_map_back_to_frame_pixels_exactly_for_odd_sizes(width, height):
    rng = np.random.default_rng(width)
    x1, y1 = rng.uniform(0, width - 40, 20), rng.uniform(0, height - 40, 20)
    w, h = rng.uniform(4, 40, 20), rng.uniform(4, 40, 20)
    objects = Detections(np.stack([x1, y1, x1 + w, y1 + h], 1), np.linspace(0.9, 0.5, 20), np.arange(20) % 5)
    windows = plan_windows(width, height)
    full_only = [windows[0]]  # the downscaled view alone: its per-axis scales must be undone exactly
    merged = Merger(iou=0.99, max_det=100)(full_only, ideal(full_only, objects), width, height)
    np.testing.assert_allclose(merged.xyxy, objects.xyxy, atol=1e-3)


def test_boxes_are_clipped_to_the_frame_and_capped_at_max_det():
    window = Window(0, 0, 100, 80)
    boxes = Detections(np.array([[-5, -5, 20, 20], [90, 70, 120, 95]] + [[i, 10, i + 5, 15] for i in range(30, 60, 3)]),
                       np.linspace(0.9, 0.3, 12), np.zeros(12))
    merged = Merger(iou=0.6, max_det=5)([window], [boxes], 100, 80)
    assert len(merged) == 5
    np.testing.assert_allclose(merged.xyxy[:2], [[0, 0, 20, 20], [90, 70, 100, 80]])
    assert (np.diff(merged.scores) <= 0).all()


def test_nms_suppresses_within_a_class_only():
    window = Window(0, 0, 200, 200)
    # two windows report the same object: the merger's NMS (a single window's boxes had theirs in the decoder)
    boxes = np.array([[50, 50, 110, 110], [54, 54, 110, 110]])  # IoU 0.87
    merge = Merger(iou=0.6, max_det=10)
    same = merge([window, window], [Detections(boxes[i : i + 1], np.array([0.9, 0.8][i : i + 1]), np.array([4])) for i in (0, 1)], 200, 200)
    other = merge([window, window], [Detections(boxes[i : i + 1], np.array([0.9, 0.8][i : i + 1]), np.array([c])) for i, c in ((0, 1), (1, 4))], 200, 200)
    assert len(same) == 1 and same.scores[0] == np.float32(0.9)
    assert sorted(other.class_ids.tolist()) == [1, 4]


def test_a_piece_inside_a_better_box_of_its_class_is_dropped_and_other_classes_are_not():
    window = Window(0, 0, 400, 400)
    boxes = np.array([[50, 50, 350, 300], [60, 60, 150, 140], [200, 100, 260, 150], [300, 250, 380, 390]])
    found = Detections(boxes, np.array([0.8, 0.7, 0.6, 0.5]), np.array([1, 1, 4, 1]))  # backshell, its piece, debris on it, another backshell
    merged = Merger(iou=0.6, max_det=10)([window], [found], 400, 400)
    np.testing.assert_array_equal(merged.xyxy, boxes[[0, 2, 3]])
    # a better-scoring piece keeps the whole: only the lower-scoring box can be the duplicate
    flipped = Detections(boxes[:2], np.array([0.6, 0.7]), np.array([1, 1]))
    assert len(Merger(iou=0.6, max_det=10)([window], [flipped], 400, 400)) == 2


def test_the_containment_check_in_chunks_drops_what_the_whole_matrix_drops():
    # a product's merge checks thousands of boxes: rows go CHUNK at a time, with the same answer
    from debris.infer import postprocess

    rng = np.random.default_rng(0)
    xy = rng.uniform(0, 2000, (700, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(2, 80, (700, 2))], 1).astype(np.float32)
    dets = Detections(boxes, np.sort(rng.uniform(0, 1, 700))[::-1].copy(), rng.integers(0, 2, 700))
    lo, hi = np.maximum(boxes[:, None, :2], boxes[None, :, :2]), np.minimum(boxes[:, None, 2:], boxes[None, :, 2:])
    inter = np.clip(hi - lo, 0, None).prod(-1)
    area = (boxes[:, 2:] - boxes[:, :2]).prod(-1)
    inside = inter / area[:, None] >= postprocess.CONTAINED
    whole = ~(inside & np.tri(700, k=-1, dtype=bool) & (dets.class_ids[:, None] == dets.class_ids[None, :])).any(1)
    assert 700 > postprocess.CHUNK and 0 < whole.sum() < 700
    np.testing.assert_array_equal(postprocess._not_contained(dets), whole)
