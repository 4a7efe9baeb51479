import cv2
import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode
from torchvision.ops import box_iou

from debris.models.decode import decode
from debris.models.detector import DetectorNet, points
from debris.models.loss import DetectionLoss

NUM_CLASSES = 5


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors gain nothing from a second thread, and 2 threads on 2 cores with another busy
    process run 10-80x slower (measured): one thread keeps these tests at seconds on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_budget_params_and_flops_at_640():
    model = DetectorNet(NUM_CLASSES).eval()
    assert sum(p.numel() for p in model.parameters()) <= 1.5e6
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.rand(1, 3, 640, 640))
    assert counter.get_total_flops() <= 1.5e9


def test_output_matches_points_and_num_classes_sets_the_head():
    torch.manual_seed(0)
    for num_classes in (2, 7):
        model = DetectorNet(num_classes, width=0.5).eval()
        with torch.no_grad():
            raw = model(torch.rand(2, 3, 128, 192))
        pts = points(model.strides, 128, 192, raw.device)
        assert raw.shape == (2, len(pts), 4 + num_classes)
    s = model.strides
    assert len(pts) == sum((128 // k) * (192 // k) for k in s)
    # level-major, then row-major: the first point is the finest level's top-left cell
    assert pts[0].tolist() == [s[0] / 2, s[0] / 2, s[0]]
    assert pts[1].tolist() == [1.5 * s[0], s[0] / 2, s[0]]
    assert pts[-1].tolist() == [192 - s[-1] / 2, 128 - s[-1] / 2, s[-1]]


def test_a_navigation_frame_needs_no_padding_to_the_largest_stride():
    model = DetectorNet(NUM_CLASSES, width=0.5).eval()
    with torch.no_grad():
        raw = model(torch.rand(1, 3, 480, 640))
    assert raw.shape[1] == len(points(model.strides, 480, 640)) == 80 * 60 + 40 * 30 + 20 * 15 + 10 * 8


def test_channels_last_gives_the_same_output():
    torch.manual_seed(0)
    model = DetectorNet(NUM_CLASSES, width=0.5).eval()
    x = torch.rand(1, 3, 64, 128)
    with torch.no_grad():
        ref = model(x)
        model = model.to(memory_format=torch.channels_last)
        out = model(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(out, ref, rtol=1e-4, atol=1e-4)


def toy_batch(n: int = 4, size: int = 128, seed: int = 0) -> tuple[torch.Tensor, list[dict]]:
    """Noise images holding a bright rectangle (class 0) and a dark one (class 1), in [0, 1] RGB."""
    rng = np.random.default_rng(seed)
    images, targets = [], []
    for _ in range(n):
        img = rng.integers(90, 160, (size, size, 3), dtype=np.uint8)
        boxes, labels = [], []
        for label, colour in ((0, (250, 250, 250)), (1, (10, 10, 10))):
            w, h = rng.integers(6, 40, 2)  # down to debris size
            x, y = rng.integers(0, size - w), rng.integers(0, size - h)
            if any(x < b[2] and b[0] < x + w and y < b[3] and b[1] < y + h for b in boxes):
                continue  # keep the two rectangles apart so neither hides the other
            cv2.rectangle(img, (int(x), int(y)), (int(x + w - 1), int(y + h - 1)), colour, -1)
            boxes.append([x, y, x + w, y + h])
            labels.append(label)
        images.append(torch.from_numpy(img).permute(2, 0, 1).float() / 255)
        boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
        targets.append({"boxes": boxes, "labels": torch.tensor(labels, dtype=torch.int64)})
    return torch.stack(images), targets


def test_loss_is_finite_and_positive_with_and_without_objects():
    torch.manual_seed(0)
    model = DetectorNet(2, width=0.5)
    criterion = DetectionLoss(2, model.strides)
    images, targets = toy_batch(2)
    empty = [{"boxes": torch.zeros(0, 4), "labels": torch.zeros(0, dtype=torch.int64)}] * 2
    # a zero-width sliver, as a crop can leave, is ignored rather than turned into NaN
    sliver = [{"boxes": torch.tensor([[10.0, 10.0, 10.0, 30.0]]), "labels": torch.tensor([0])}] * 2
    for tg in (targets, empty, [targets[0], empty[0]], sliver):
        parts = criterion(model(images), tg, images.shape[2:])
        assert torch.isfinite(parts["loss"]) and parts["loss"] > 0
        parts["loss"].backward()  # every case, the empty one included, gives gradients


def test_class_weights_change_the_loss():
    torch.manual_seed(0)
    model = DetectorNet(2, width=0.5)
    images, targets = toy_batch(2)
    raw = model(images)
    plain = DetectionLoss(2, model.strides)(raw, targets, images.shape[2:])["loss"]
    weighted = DetectionLoss(2, model.strides, class_weights=torch.tensor([1.0, 5.0]))
    assert weighted(raw, targets, images.shape[2:])["loss"] > plain


def test_training_lowers_the_loss_and_overfits_four_images():
    torch.manual_seed(0)
    model = DetectorNet(2, width=0.5)
    criterion = DetectionLoss(2, model.strides)
    images, targets = toy_batch(4)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    losses = []
    for _ in range(150):
        loss = criterion(model(images), targets, images.shape[2:])["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    model.eval()
    with torch.no_grad():
        raw = model(images)
    dets = decode(raw, points(model.strides, 128, 128, raw.device), conf=0.2, iou=0.5, max_det=10)
    for (boxes, _, class_ids), target in zip(dets, targets):
        for gt, label in zip(target["boxes"], target["labels"]):
            same = boxes[class_ids == label]
            assert len(same) and box_iou(same, gt[None]).max() >= 0.5  # recall 1.0 at IoU 0.5


STRIDES = (8, 16, 32, 64)


def hand_built_raw(entries: list[tuple[int, list[float], int, float]], num_classes=3) -> torch.Tensor:
    """(1, A, 4 + C) raw output of a 64x64 input: all logits -10 but the (point, box, class, logit) entries."""
    raw = torch.zeros(1, len(points(STRIDES, 64, 64)), 4 + num_classes)
    raw[..., 4:] = -10.0
    for index, box, label, logit in entries:
        raw[0, index, :4] = torch.tensor(box)
        raw[0, index, 4 + label] = logit
    return raw


LOG2 = float(np.log(2.0))
# point 9: stride 8, row 1, column 1, centre (12, 12): centre moved by (+0.5, -0.25) strides, 16 x 32 px
BOX_A = (9, [0.5, -0.25, LOG2, 2 * LOG2], 1, 2.0)
# point 64 + 5: stride 16, row 1, column 1, centre (24, 24): 32 x 32 px
BOX_B = (69, [0.0, 0.0, LOG2, LOG2], 2, 0.0)


def test_decode_gives_the_hand_built_boxes_best_first():
    pts = points(STRIDES, 64, 64)
    raw = hand_built_raw([BOX_B, BOX_A])
    [(boxes, scores, class_ids)] = decode(raw, pts, conf=0.3, iou=0.5, max_det=10)
    torch.testing.assert_close(boxes, torch.tensor([[8.0, -6.0, 24.0, 26.0], [8.0, 8.0, 40.0, 40.0]]))
    torch.testing.assert_close(scores, torch.tensor([2.0, 0.0]).sigmoid())
    assert class_ids.tolist() == [1, 2]
    assert boxes.dtype == torch.float32 and class_ids.dtype == torch.int64


def test_decode_respects_conf_max_det_and_class_filter():
    pts, raw = points(STRIDES, 64, 64), hand_built_raw([BOX_A, BOX_B])
    assert decode(raw, pts, conf=0.6, iou=0.5, max_det=10)[0][2].tolist() == [1]
    assert decode(raw, pts, conf=0.3, iou=0.5, max_det=1)[0][2].tolist() == [1]
    assert decode(raw, pts, conf=0.3, iou=0.5, max_det=10, classes=[2])[0][2].tolist() == [2]
    boxes, scores, class_ids = decode(raw, pts, conf=0.95, iou=0.5, max_det=10)[0]
    assert boxes.shape == (0, 4) and scores.shape == (0,) and class_ids.shape == (0,)


def test_nms_suppresses_duplicates_of_one_class_only():
    pts = points(STRIDES, 64, 64)
    # point 10 (centre (20, 12)) predicts nearly BOX_A's box, with a lower score
    duplicate = [-0.45, -0.25, LOG2, 2 * LOG2]
    same_class = hand_built_raw([BOX_A, (10, duplicate, 1, 1.0)])
    other_class = hand_built_raw([BOX_A, (10, duplicate, 0, 1.0)])
    assert decode(same_class, pts, conf=0.3, iou=0.5, max_det=10)[0][2].tolist() == [1]
    assert decode(other_class, pts, conf=0.3, iou=0.5, max_det=10)[0][2].tolist() == [1, 0]
