"""Training augmentation: a labelled frame -> a square crop with its boxes; and the letterbox for validation.

Crops mirror the inference tiler's two views (downscaled whole frame, native-resolution tiles) with
scale jitter, and are usually centred on a labelled object so that 4 px debris survives cropping.
Only the source window is resampled, so cost follows the crop, not the frame. Boxes follow the
pixels' exact affine; appearance changes keep grayscale frames grayscale.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import cv2
import numpy as np

from debris.detections import Detections

OBJECT_CROP_P = 0.7  # share of crops centred on a labelled object; the rest are uniform
WHOLE_FRAME_P = 0.5  # share of crops taken from the whole-frame view rather than native resolution
# 256 equal-probability Gaussian quantiles: one random byte per noise sample is ~10x faster than
# numpy's normal generator, and at sigma <= 8 DN the quantised tails make no visible difference
GAUSS_QUANTILES = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], dtype=np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    size: int  # output crop side (square), a multiple of 32
    scale: tuple[float, float] = (0.5, 1.5)  # scale jitter applied before cropping
    flip: bool = True  # flips and 90-degree rotations: nadir and orbital views have no "up"
    photometric: float = 1.0  # strength of brightness/contrast/gamma/saturation/white balance (0 = off)
    blur: float = 0.3  # probability of a Gaussian or motion blur
    noise: float = 0.3  # probability of Gaussian noise
    jpeg: float = 0.3  # probability of a JPEG re-encode
    min_visible: float = 0.4  # keep a box cut by the crop only if this share of its area is inside
    min_size: float = 2.0  # drop boxes narrower or shorter than this (output pixels)


def augment(
    image: np.ndarray, labels: Detections, rng: np.random.Generator, cfg: AugmentConfig
) -> tuple[np.ndarray, Detections]:
    """(H, W, 3) uint8 RGB + labels in its pixels -> (size, size, 3) uint8 RGB + labels in the crop's pixels."""
    h, w = image.shape[:2]
    target = _pick_target(labels, rng) if len(labels) and rng.random() < OBJECT_CROP_P else None
    side = max(1, round(cfg.size / _pick_scale(h, w, target, rng, cfg)))  # source pixels under the crop
    x0, y0 = _crop_origin(target, w, h, side, rng)
    image, labels = _resample(image, labels, x0, y0, side, cfg.size)
    labels = _keep_visible(labels, cfg.size, cfg.min_visible, cfg.min_size)
    if cfg.flip:
        image, labels = _dihedral(image, labels, rng)
    # gray cameras are replicated to RGB by the reader; every change below keeps the channels equal
    gray = np.array_equal(image[..., 0], image[..., 1]) and np.array_equal(image[..., 0], image[..., 2])
    if cfg.photometric > 0:
        image = _photometric(image, gray, rng, cfg.photometric)
    if rng.random() < cfg.blur:
        image = _blur(image, rng)
    if rng.random() < cfg.noise:
        image = _noise(image, gray, rng)
    if rng.random() < cfg.jpeg:
        image = _jpeg(image, gray, rng)
    return image, labels


def letterbox(image: np.ndarray, labels: Detections, size: int) -> tuple[np.ndarray, Detections]:
    """(H, W, 3) uint8 -> (size, size, 3) uint8: the whole frame scaled to fit, padded bottom/right with its mean."""
    return _resample(image, labels, 0, 0, max(image.shape[:2]), size)


def _pick_target(labels: Detections, rng: np.random.Generator) -> np.ndarray:
    """(4,) xyxy of one labelled object, p ∝ 1/sqrt(area): small objects are the ones crops lose."""
    xyxy = labels.xyxy.astype(np.float64)
    weight = 1 / np.sqrt(np.maximum((xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1]), 1.0))
    return xyxy[rng.choice(len(xyxy), p=weight / weight.sum())]


def _pick_scale(h: int, w: int, target: np.ndarray | None, rng: np.random.Generator, cfg: AugmentConfig) -> float:
    """Output pixels per source pixel: jitter times the whole-frame base (fits the frame) or the native base (1).

    A crop centred on an object stays native if the whole-frame view would shrink it below min_size.
    """
    jitter = rng.uniform(*cfg.scale)
    whole = jitter * min(1.0, cfg.size / max(h, w))
    vanishes = target is not None and min(target[2] - target[0], target[3] - target[1]) * whole < cfg.min_size
    return whole if rng.random() < WHOLE_FRAME_P and not vanishes else jitter


def _crop_origin(target: np.ndarray | None, w: int, h: int, side: int, rng: np.random.Generator) -> tuple[int, int]:
    """Top-left (x, y) of the side x side source window; it leaves the frame only where the frame is smaller.

    With a target the window holds the whole object at a random place (or lies inside an object larger
    than itself); without one it is uniform over the frame.
    """
    frame_lo, frame_hi = np.minimum(0, [w - side, h - side]), np.maximum(0, [w - side, h - side])
    if target is None:
        lo, hi = frame_lo, frame_hi
    else:
        ends = np.stack([target[2:] - side, target[:2]])  # the window's origin may lie anywhere between
        lo = np.ceil(ends.min(0)).astype(np.int64)
        hi = np.maximum(lo, np.floor(ends.max(0)).astype(np.int64))
    x, y = np.clip(rng.integers(lo, hi + 1), frame_lo, frame_hi)
    return int(x), int(y)


def _resample(
    image: np.ndarray, labels: Detections, x0: int, y0: int, side: int, size: int
) -> tuple[np.ndarray, Detections]:
    """Resize the source window [x0, x0 + side) x [y0, y0 + side) to (size, size, 3); labels mapped, not clipped.

    Only the part inside the frame is resized, to a place rounded to whole output pixels; the rest is
    padded with that part's mean. Boxes follow the exact per-axis affine that results.
    """
    h, w = image.shape[:2]
    src = np.array([max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)])
    dst = np.rint((src - [x0, y0, x0, y0]) * size / side).astype(np.int64)
    dst[:2] = np.minimum(dst[:2], size - 1)  # a frame under one output pixel still covers one
    dst[2:] = np.maximum(dst[2:], dst[:2] + 1)
    # OpenCV's INTER_AREA is fast only for whole-number ratios (a box average); a general ratio costs
    # ~10x more, so shrink by the largest whole factor k first (trimming < k source pixels), then linearly
    k = max(1, min((src[2] - src[0]) // (dst[2] - dst[0]), (src[3] - src[1]) // (dst[3] - dst[1])))
    src[2:] = src[:2] + (src[2:] - src[:2]) // k * k
    region = image[src[1] : src[3], src[0] : src[2]]
    if k > 1:
        region = cv2.resize(region, (region.shape[1] // k, region.shape[0] // k), interpolation=cv2.INTER_AREA)
    region = cv2.resize(region, (int(dst[2] - dst[0]), int(dst[3] - dst[1])), interpolation=cv2.INTER_LINEAR)
    top, left, bottom, right = int(dst[1]), int(dst[0]), size - int(dst[3]), size - int(dst[2])
    out = cv2.copyMakeBorder(region, top, bottom, left, right, cv2.BORDER_CONSTANT, value=cv2.mean(region))
    gain = np.tile((dst[2:] - dst[:2]) / (src[2:] - src[:2]), 2)
    xyxy = (labels.xyxy - np.tile(src[:2], 2)) * gain + np.tile(dst[:2], 2)
    return out, Detections(xyxy, labels.scores, labels.class_ids)


def _keep_visible(labels: Detections, size: int, min_visible: float, min_size: float) -> Detections:
    """Clip boxes to the crop; drop those mostly outside it or too thin to learn from."""
    clipped = np.clip(labels.xyxy, 0, size)
    area = np.prod(labels.xyxy[:, 2:] - labels.xyxy[:, :2], axis=1)
    wh = clipped[:, 2:] - clipped[:, :2]
    keep = (wh.prod(1) >= min_visible * area) & (wh.min(1) >= min_size)
    return Detections(clipped, labels.scores, labels.class_ids)[keep]


def _dihedral(image: np.ndarray, labels: Detections, rng: np.random.Generator) -> tuple[np.ndarray, Detections]:
    """One of the 8 symmetries of the square, as three coin flips: transpose, mirror x, mirror y."""
    size, xyxy = image.shape[0], labels.xyxy
    if rng.random() < 0.5:
        image, xyxy = cv2.transpose(image), xyxy[:, [1, 0, 3, 2]]
    if rng.random() < 0.5:
        image, xyxy = cv2.flip(image, 1), xyxy[:, [2, 1, 0, 3]] * [-1, 1, -1, 1] + [size, 0, size, 0]
    if rng.random() < 0.5:
        image, xyxy = cv2.flip(image, 0), xyxy[:, [0, 3, 2, 1]] * [1, -1, 1, -1] + [0, size, 0, size]
    return image, Detections(xyxy, labels.scores, labels.class_ids)


def _photometric(image: np.ndarray, gray: bool, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Gamma, contrast about the mean, brightness and white balance as one per-channel lookup table
    (one cheap pass whatever the maths), then saturation. Gray frames get one table and no saturation.
    """
    gamma, contrast, saturation = np.exp(rng.uniform(-0.3, 0.3, 3) * strength)
    brightness = rng.uniform(-0.1, 0.1) * strength
    gains = np.ones(3) if gray else np.exp(rng.uniform(-0.1, 0.1, 3) * strength)
    mean = (np.mean(cv2.mean(image)[:3]) / 255) ** gamma
    curve = (np.linspace(0, 1, 256) ** gamma - mean) * contrast + mean + brightness
    lut = np.clip(curve[:, None] * gains * 255 + 0.5, 0, 255).astype(np.uint8)
    image = cv2.LUT(image, lut.reshape(256, 1, 3))
    if gray:
        return image
    luma = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    return cv2.addWeighted(image, saturation, luma, 1 - saturation, 0)


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Defocus (Gaussian, sigma 0.5-1.5 px) or a short straight motion smear (3-7 px, any direction)."""
    if rng.random() < 0.5:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.5))
    length = 2 * int(rng.integers(1, 4)) + 1  # odd, so the smear is centred and does not shift the boxes
    angle = rng.uniform(0, np.pi)
    reach = length // 2 * np.array([np.cos(angle), np.sin(angle)])
    ends = np.rint([length // 2 - reach, length // 2 + reach]).astype(int).tolist()
    kernel = np.zeros((length, length), np.float32)
    cv2.line(kernel, ends[0], ends[1], 1.0)
    return cv2.filter2D(image, -1, kernel / kernel.sum())


def _noise(image: np.ndarray, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Additive Gaussian sensor noise, sigma 2-8 DN; one plane shared by all channels on gray frames."""
    shape = image.shape[:2] + (1 if gray else 3,)
    index = np.frombuffer(rng.bytes(int(np.prod(shape))), np.uint8).reshape(shape)
    noise = cv2.LUT(index, GAUSS_QUANTILES * rng.uniform(2, 8))
    if gray:
        noise = cv2.cvtColor(noise, cv2.COLOR_GRAY2RGB)
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def _jpeg(image: np.ndarray, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """Re-encode at quality 40-95, as one plane on gray frames (a gray camera's JPEG has no colour)."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 96))]
    if gray:
        _, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., 0]), params)
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2RGB)
    _, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
