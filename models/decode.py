"""Raw detector output -> boxes, scores and class ids per image.

The box encoding lives here (`boxes`) and in its numpy twin models/decode_np.py, which the
onnxruntime backend uses and tests/test_onnx.py holds equal to it: the loss decodes its
predictions with the same function, so training and inference cannot drift apart.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import batched_nms

# defined beside the numpy decoding, which must use the same ones (onnxruntime backend)
from debris.models.decode_np import MAX_LOG_SIZE, PRE_NMS_TOPK


def boxes(raw_boxes: Tensor, points: Tensor) -> Tensor:
    """(..., A, 4) box values (dx, dy, log w, log h) in strides, (A, 3) points -> (..., A, 4) xyxy pixels.

    Centre offset and log-size (as in YOLOX) rather than distances to the four sides (FCOS):
    a 4 px object can lie between two stride-8 points, so its box must be able to exclude the
    point that predicts it.
    """
    xy, stride = points[:, :2], points[:, 2:]
    centre = xy + raw_boxes[..., :2] * stride
    half = raw_boxes[..., 2:].clamp(max=MAX_LOG_SIZE).exp() * stride / 2
    return torch.cat([centre - half, centre + half], -1)


@torch.no_grad()
def decode(
    raw: Tensor,
    points: Tensor,
    conf: float,
    iou: float,
    max_det: int,
    classes: list[int] | None = None,
) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Detections of each image of a batch.

    raw: (B, A, 4 + C) detector output; points: (A, 3) from debris.models.detector.points.
    conf: minimum score; iou: NMS IoU threshold (within one class); max_det: boxes kept per image;
    classes: class ids to keep, or None for all.
    Returns B tuples (boxes (N, 4) float32 xyxy input pixels, scores (N,) float32, class_ids (N,) int64),
    best score first.
    """
    xyxy = boxes(raw[..., :4].float(), points.float())
    scores = raw[..., 4:].float().sigmoid()
    if classes is not None:
        keep_class = torch.zeros(scores.shape[-1], dtype=torch.bool, device=raw.device)
        keep_class[classes] = True
        scores = scores.masked_fill(~keep_class, 0.0)
    out = []
    for b in range(raw.shape[0]):
        # Every (point, class) pair above conf is a candidate, so one point may report two
        # classes: debris lying on a parachute is seen by the same coarse point as the parachute.
        point_idx, class_ids = (scores[b] > conf).nonzero(as_tuple=True)
        score = scores[b, point_idx, class_ids]
        if score.numel() > PRE_NMS_TOPK:
            score, top = score.topk(PRE_NMS_TOPK)
            point_idx, class_ids = point_idx[top], class_ids[top]
        box = xyxy[b, point_idx]
        keep = batched_nms(box, score, class_ids, iou)[:max_det]  # sorted by score
        out.append((box[keep], score[keep], class_ids[keep]))
    return out
