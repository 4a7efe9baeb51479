import numpy as np
import pytest

from debris.boxes import xywh_to_xyxy, xyxy_to_xywh, xyxy_to_yolo, yolo_to_xyxy
from debris.detections import Detections
from debris.io.files import write_bytes_atomic, write_text_atomic

XYXY = np.array([[10.0, 20.0, 110.0, 70.0], [0.0, 0.0, 640.0, 480.0]])


def test_coco_xywh_conversion():
    xywh = xyxy_to_xywh(XYXY)
    np.testing.assert_allclose(xywh, [[10, 20, 100, 50], [0, 0, 640, 480]])
    np.testing.assert_allclose(xywh_to_xyxy(xywh), XYXY)


def test_yolo_conversion_normalises_by_image_size():
    yolo = xyxy_to_yolo(XYXY, width=640, height=480)
    np.testing.assert_allclose(yolo, [[60 / 640, 45 / 480, 100 / 640, 50 / 480], [0.5, 0.5, 1.0, 1.0]])
    np.testing.assert_allclose(yolo_to_xyxy(yolo, width=640, height=480), XYXY)


def test_conversions_of_no_boxes_keep_the_shape():
    assert xyxy_to_xywh(np.zeros((0, 4))).shape == (0, 4)
    assert yolo_to_xyxy(np.zeros((0, 4)), 10, 10).shape == (0, 4)


def test_detections_normalise_dtypes_and_check_lengths():
    dets = Detections(XYXY, [0.9, 0.5], [1, 4])
    assert dets.xyxy.dtype == np.float32 and dets.scores.dtype == np.float32 and dets.class_ids.dtype == np.int64
    assert len(dets) == 2
    with pytest.raises(ValueError, match="xyxy has 2 rows, scores 1"):
        Detections(XYXY, [0.9], [1, 4])


def test_detections_empty_and_mask_selection():
    assert len(Detections.empty()) == 0 and Detections.empty().xyxy.shape == (0, 4)
    dets = Detections(XYXY, [0.9, 0.5], [1, 4])
    kept = dets[dets.scores > 0.6]
    assert len(kept) == 1 and kept.class_ids.tolist() == [1]
    assert Detections.from_labels(XYXY, [0, 2]).scores.tolist() == [1.0, 1.0]


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    path = tmp_path / "out" / "labels.json"
    write_text_atomic(path, "first")
    write_text_atomic(path, "second")
    assert path.read_text() == "second"
    assert [p.name for p in path.parent.iterdir()] == ["labels.json"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text("old")
    with pytest.raises(TypeError):
        write_bytes_atomic(path, "not bytes")  # fails inside the write, after the temp file exists
    assert path.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["labels.json"]
