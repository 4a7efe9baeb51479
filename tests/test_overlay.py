import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from debris.viz import overlay
from debris.cli import EXIT_OK, EXIT_PROBLEMS, main
from debris.labels import ImageLabels
from debris.detections import Detections
from debris.viz.draw import draw_detections
from debris.viz.overlay import VideoError, overlay_frames, write_gallery, write_video

CLASSES = ["parachute", "debris"]


def texture(width: int, height: int, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8 RGB noise: any stray drawing on it changes pixels."""
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def save(path: Path, rgb: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return path


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return (before != after).any(axis=2)


def near_boxes(shape: tuple[int, ...], xyxy: list[list[int]], margin: int) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    for x1, y1, x2, y2 in xyxy:
        mask[max(0, y1 - margin) : y2 + margin, max(0, x1 - margin) : x2 + margin] = True
    return mask


def read_video(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while (frame := capture.read())[0]:
        frames.append(frame[1])
    capture.release()
    return frames


def test_draw_marks_the_outline_and_nothing_far_from_boxes_and_labels():
    frame = texture(640, 480)
    xyxy = [[100, 200, 300, 400], [150, 250, 170, 262], [500, 60, 620, 140]]
    out = draw_detections(frame, Detections(xyxy, [0.9, 0.4, 1.0], [0, 1, 0]), CLASSES)
    diff = changed(frame, out)
    for x1, y1, x2, y2 in xyxy:
        assert diff[(y1 + y2) // 2, x1] and diff[(y1 + y2) // 2, x2 - 1] and diff[y2 - 1, (x1 + x2) // 2]
    # a label is ~18 px high and the line 2 px on a 480-line frame; the labels here are narrower than their boxes
    assert not diff[~near_boxes(frame.shape, xyxy, margin=24)].any()


def test_the_best_label_is_drawn_on_top_of_the_ones_it_overlaps():
    from debris.viz.draw import class_colour

    frame = np.zeros((480, 640, 3), np.uint8)
    box = [100, 200, 300, 400]
    out = draw_detections(frame, Detections([box, box], [0.9, 0.4], [0, 1]), CLASSES)  # the best first in the list
    labels = out[box[1] - 18 : box[1], box[0] : box[0] + 60]  # where both labels' patches lie, above the box
    best, other = ((labels == class_colour(k)).all(axis=2).sum() for k in (0, 1))
    assert best > 100 and other < best / 10


def test_a_box_at_the_top_of_the_frame_has_its_label_inside_it():
    frame = texture(640, 480)
    out = draw_detections(frame, Detections([[200, 0, 400, 100]], [0.5], [0]), CLASSES)
    diff = changed(frame, out)
    assert not diff[~near_boxes(frame.shape, [[200, 0, 400, 100]], margin=2)].any()
    assert diff[5:15, 205:250].mean() > 0.5  # the label's patch, just below the top edge


def test_a_label_at_the_right_edge_stays_inside_the_frame():
    frame = texture(640, 480)
    out = draw_detections(frame, Detections([[620, 200, 640, 220]], [0.5], [0]), CLASSES)
    diff = changed(frame, out)
    # "parachute 0.50" is far wider than 20 px: it must be shifted left, not cut off
    assert diff[180:198, 540:620].any()


def test_lines_are_thicker_on_a_13_megapixel_frame_than_on_a_nav_frame():
    def line_width(width: int, height: int) -> int:
        frame = np.zeros((height, width, 3), np.uint8)
        box = [width // 4, height // 4, width * 3 // 4, height * 3 // 4]
        out = draw_detections(frame, Detections([box], [1.0], [0]), CLASSES, show_scores=False)
        row = changed(frame, out)[height // 2, : width // 2]  # crosses the left edge only
        return int(row.sum())

    assert line_width(4208, 3120) > line_width(640, 480) >= 1


def test_overlay_frames_writes_every_readable_frame_and_lists_the_missing_one(tmp_path):
    root = tmp_path / "data"
    frame = texture(320, 240)
    save(root / "a" / "x.png", frame)
    save(root / "y.png", texture(160, 120, seed=1))
    xyxy = [[40, 60, 140, 160]]
    images = [
        ImageLabels("a/x.png", 320, 240, Detections(xyxy, [0.8], [1])),
        ImageLabels("missing.png", 320, 240, Detections.empty()),
        ImageLabels("y.png", 160, 120, Detections.empty()),
    ]
    result = overlay_frames(images, root, CLASSES, tmp_path / "out")

    assert result.written == [tmp_path / "out" / "a" / "x.jpg", tmp_path / "out" / "y.jpg"]
    assert [name for name, _ in result.failed] == ["missing.png"] and "missing" in result.failed[0][1]
    drawn = cv2.cvtColor(cv2.imread(str(result.written[0])), cv2.COLOR_BGR2RGB)
    assert drawn.shape == frame.shape
    # the same frame through the same JPEG encoder: far from the box only the box can have changed pixels
    _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    plain = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    far = ~near_boxes(frame.shape, xyxy, margin=24 + 16)  # plus one 16-px JPEG block
    assert np.array_equal(drawn[far], plain[far])
    assert not np.array_equal(drawn, plain)
    assert not list((tmp_path / "out").rglob("*.tmp"))


def test_gallery_is_a_grid_of_cells(tmp_path):
    paths = [save(tmp_path / f"{i}.png", texture(64 + 32 * i, 48)) for i in range(3)]
    out = write_gallery([*paths, texture(30, 90)], tmp_path / "g" / "gallery.png", columns=3, cell=(100, 80))
    sheet = cv2.imread(str(out))
    assert sheet.shape == (2 * 80, 3 * 100, 3)


def test_video_has_every_frame_at_the_first_frames_even_size_in_rgb_order(tmp_path):
    red = np.zeros((75, 101, 3), np.uint8)
    red[..., 0] = 255
    frames = [red, texture(50, 75), save(tmp_path / "tall.png", np.full((200, 20, 3), 255, np.uint8))]
    out, codec = write_video(frames, tmp_path / "v" / "overlay.mp4", fps=2)
    assert codec.startswith(("avc1", "mp4v"))

    back = read_video(out)
    assert len(back) == 3
    assert all(f.shape == (74, 100, 3) for f in back)
    b, g, r = back[0][20:50, 30:70].reshape(-1, 3).mean(axis=0)  # back in BGR: red must be in the last channel
    assert r > 200 and b < 60 and g < 60
    assert back[2][:, :30].mean() < 30 and back[2][5:-5, 47:52].mean() > 200  # a 7-px white bar letterboxed on black
    assert [p.name for p in out.parent.iterdir()] == ["overlay.mp4"]


def test_video_without_an_encoder_names_the_file_and_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setitem(overlay.CODECS, ".mp4", [("zzzz", "none")])
    with pytest.raises(VideoError, match="overlay.mp4"):
        write_video([texture(64, 48)], tmp_path / "overlay.mp4")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("suffix,codecs", [(".webm", ("VP90", "VP80")), (".avi", ("MJPG",))])
def test_video_container_follows_the_suffix(suffix, codecs, tmp_path):
    out, codec = write_video([texture(64, 48)] * 3, tmp_path / f"overlay{suffix}")
    assert codec.startswith(codecs) and len(read_video(out)) == 3
    with pytest.raises(VideoError, match="unknown video suffix"):
        write_video([texture(64, 48)], tmp_path / "overlay.gif")


def test_cli_overlay_draws_gallery_and_video_and_exits_1_for_a_missing_frame(tmp_path, capsys):
    save(tmp_path / "data" / "images" / "b.png", texture(160, 120, seed=2))
    save(tmp_path / "data" / "images" / "a.png", texture(320, 240, seed=3))
    coco = {
        "images": [
            {"id": 1, "file_name": "images/b.png", "width": 160, "height": 120},
            {"id": 2, "file_name": "images/a.png", "width": 320, "height": 240},
            {"id": 3, "file_name": "images/gone.png", "width": 320, "height": 240},
        ],
        "annotations": [{"id": 1, "image_id": 2, "category_id": 1, "bbox": [10, 20, 100, 80], "score": 0.75}],
        "categories": [{"id": 1, "name": "parachute"}, {"id": 2, "name": "debris"}],
    }
    labels = tmp_path / "labels" / "predictions.json"
    labels.parent.mkdir()
    labels.write_text(json.dumps(coco))
    out, gallery, video = tmp_path / "out", tmp_path / "gallery.png", tmp_path / "overlay.mp4"

    argv = ["overlay", str(labels), "--images", str(tmp_path / "data"), "--out", str(out),
            "--gallery", str(gallery), "--video", str(video), "--fps", "4"]
    assert main(argv) == EXIT_PROBLEMS
    assert "gone.png: missing" in capsys.readouterr().err
    assert cv2.imread(str(out / "images" / "a.jpg")).shape == (240, 320, 3)
    assert cv2.imread(str(out / "images" / "b.jpg")).shape == (120, 160, 3)
    assert cv2.imread(str(gallery)).shape == (300, 1600, 3)
    frames = read_video(video)
    assert len(frames) == 2 and frames[0].shape == (240, 320, 3)  # a.png comes first: file-name order

    images = tmp_path / "data" / "images"
    (images / "gone.png").write_bytes((images / "a.png").read_bytes())
    assert main(["overlay", str(labels), "--images", str(tmp_path / "data"), "--out", str(out), "--no-scores"]) == EXIT_OK
