"""Training augmentation: a labelled frame -> a square crop with its boxes; and the letterbox for validation.

Crops mirror the inference tiler's two views (downscaled whole frame, native-resolution tiles), some
at exactly the view's scale and the rest with scale jitter, and are usually centred on a labelled
object so that 4 px debris survives cropping. Only the source window is resampled, so cost follows
the crop, not the frame. Boxes follow the pixels' exact affine.

Appearance changes are what carries synthetic training to real cameras (DESIGN.md, "Transfer"): a
low-frequency style swap with real terrain (debris/train/style.py), colour to gray, colour jitter, random
erasing, blur, noise and JPEG, each at random strength. Gray crops stay gray through all of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from statistics import NormalDist

import cv2
import numpy as np

from debris.detections import Detections
from debris.train.style import style_swap

OBJECT_CROP_P = 0.7  # share of crops centred on a labelled object; the rest are uniform
WHOLE_FRAME_P = 0.5  # share of crops taken from the whole-frame view rather than native resolution
ERASE_MIN_VISIBLE = 0.3  # an object with less of its box left un-erased is one a person would not box
# 256 equal-probability Gaussian quantiles: one random byte per noise sample is ~10x faster than
# numpy's normal generator, and at the sigmas used (<= 14 DN) the quantised tails make no visible difference
GAUSS_QUANTILES = np.array([NormalDist().inv_cdf((i + 0.5) / 256) for i in range(256)], dtype=np.float32)


@dataclass(frozen=True)
class AugmentConfig:
    size: int  # output crop side (square), a multiple of 32
    scale: tuple[float, float] = (0.5, 1.5)  # scale jitter around the view's scale
    exact: float = 0.3  # share of crops at exactly the view's scale, no jitter: what the tiler shows
    view: tuple[int, int] = (640, 512)  # the tiler's tile side and whole-frame view side (label.tile, label.full_size)
    flip: bool = True  # flips and 90-degree rotations: nadir and orbital views have no "up"
    strength: float = 1.0  # magnitude of colour jitter, blur, noise and JPEG (0: no colour jitter, mildest rest)
    style: float = 0.3  # probability of the low-frequency style swap with a real terrain image from `styles`
    styles: np.ndarray | None = field(default=None, repr=False, compare=False)  # (N, s, s, 3) uint8, style.load_styles
    gray: float = 0.2  # probability that a colour crop becomes gray (navigation cameras are gray)
    erase: float = 0.3  # probability of random erasing: 1-3 rectangles of noise or mean colour
    blur: float = 0.3  # probability of a Gaussian, defocus or motion blur
    noise: float = 0.3  # probability of read + shot noise
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
    # the style swap first: it stands for the scene's real look, which the camera effects then degrade
    if cfg.styles is not None and rng.random() < cfg.style:
        image = style_swap(image, cfg.styles[rng.integers(len(cfg.styles))], gray, rng)
    if not gray and rng.random() < cfg.gray:
        image, gray = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB), True
    if cfg.strength > 0:
        image = _colour(image, gray, rng, cfg.strength)
    if rng.random() < cfg.erase:
        image, labels = _erase(image, labels, gray, rng, cfg.min_size)
    if rng.random() < cfg.blur:
        image = _blur(image, rng, cfg.strength)
    if rng.random() < cfg.noise:
        image = _noise(image, gray, rng, cfg.strength)
    if rng.random() < cfg.jpeg:
        image = _jpeg(image, gray, rng, cfg.strength)
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
    """Output pixels per source pixel: a tiler view's scale, times a jitter.

    The views are debris/infer/tiler.py's: a frame that fits a tile (cfg.view[0]) is seen whole at native
    scale; a larger one as a whole-frame view shrunk to cfg.view[1] px on its longer side, and as
    native tiles (scale 1). A share cfg.exact of crops take the view's scale unjittered, so training
    sees exactly what the network sees (1 frame px = 1 crop px in the tiles of a 4208x3120 frame, or
    the 512 px whole view of it); the rest are jittered by cfg.scale, for objects of other sizes.
    A crop centred on an object stays native if the whole-frame view would shrink it below min_size.
    """
    tile, full = cfg.view
    jitter = 1.0 if rng.random() < cfg.exact else rng.uniform(*cfg.scale)
    whole = jitter * (1.0 if w <= tile and h <= tile else min(1.0, full / max(h, w)))
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


def _colour(image: np.ndarray, gray: bool, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Gamma, contrast about the mean and brightness as one lookup table; then, on colour crops, one
    3x3 colour matrix: saturation, a hue rotation about the gray axis and a colour cast (channel gains).
    Two cheap passes whatever the maths; gray crops get the table only.
    """
    gamma, contrast = np.exp(rng.uniform(-0.3, 0.3, 2) * strength)
    brightness = rng.uniform(-0.1, 0.1) * strength
    mean = (np.mean(cv2.mean(image)[:3]) / 255) ** gamma
    curve = (np.linspace(0, 1, 256) ** gamma - mean) * contrast + mean + brightness
    image = cv2.LUT(image, np.clip(curve * 255 + 0.5, 0, 255).astype(np.uint8))
    if gray:
        return image
    saturation = np.exp(rng.uniform(-0.5, 0.5) * strength)
    hue = np.radians(rng.uniform(-15, 15) * strength)  # regolith stays in the reds-to-yellows
    gains = np.exp(rng.uniform(-0.15, 0.15, 3) * strength)
    luma = np.tile([0.299, 0.587, 0.114], (3, 1))  # x -> its luma in every channel
    axis = np.ones(3) / np.sqrt(3)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    rotation = np.cos(hue) * np.eye(3) + np.sin(hue) * cross + (1 - np.cos(hue)) * np.outer(axis, axis)  # Rodrigues
    matrix = gains[:, None] * (luma + saturation * rotation @ (np.eye(3) - luma))
    return cv2.transform(image, matrix.astype(np.float32))


def _erase(
    image: np.ndarray, labels: Detections, gray: bool, rng: np.random.Generator, min_size: float
) -> tuple[np.ndarray, Detections]:
    """Random erasing (Zhong et al. 2020): 1-3 rectangles, 1-8% of the crop each, aspect 1:3 to 3:1,
    filled with uniform noise or the crop's mean colour, like an occluder or a dropped image block."""
    size = image.shape[0]
    image, erased = image.copy(), np.zeros((size, size), bool)
    for _ in range(int(rng.integers(1, 4))):
        area, aspect = rng.uniform(0.01, 0.08) * size * size, np.exp(rng.uniform(-1.1, 1.1))
        w, h = (int(min(size, max(1, round(v)))) for v in (np.sqrt(area * aspect), np.sqrt(area / aspect)))
        x, y = int(rng.integers(0, size - w + 1)), int(rng.integers(0, size - h + 1))
        if rng.random() < 0.5:
            image[y : y + h, x : x + w] = cv2.mean(image)[:3]
        else:
            image[y : y + h, x : x + w] = np.frombuffer(rng.bytes(h * w * (1 if gray else 3)), np.uint8).reshape(h, w, -1)
        erased[y : y + h, x : x + w] = True
    return image, _unerased(labels, erased, min_size)


def _unerased(labels: Detections, erased: np.ndarray, min_size: float) -> Detections:
    """The boxes after erasing the (S, S) bool mask `erased`: no pixel moves, so none needs mapping.

    A box shrinks to the bounding box of its un-erased part (which changes it only where erasing cuts
    across a whole side) and is dropped when less than ERASE_MIN_VISIBLE of its area stays un-erased,
    or when it becomes thinner than min_size.
    """
    xyxy, keep = labels.xyxy.copy(), np.ones(len(labels), bool)
    pixels = np.concatenate([np.floor(xyxy[:, :2]), np.ceil(xyxy[:, 2:])], 1).astype(int)
    for i, (x1, y1, x2, y2) in enumerate(pixels):
        visible = ~erased[y1:y2, x1:x2]
        if visible.size == 0 or visible.mean() < ERASE_MIN_VISIBLE:
            keep[i] = False
            continue
        cols, rows = np.flatnonzero(visible.any(0)), np.flatnonzero(visible.any(1))
        xyxy[i, :2] = np.maximum(xyxy[i, :2], [x1 + cols[0], y1 + rows[0]])
        xyxy[i, 2:] = np.minimum(xyxy[i, 2:], [x1 + cols[-1] + 1, y1 + rows[-1] + 1])
    keep &= (xyxy[:, 2:] - xyxy[:, :2]).min(1) >= min_size
    return Detections(xyxy, labels.scores, labels.class_ids)[keep]


def _blur(image: np.ndarray, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Gaussian (sigma 0.5 to 0.5 + 1.5 * strength px), defocus (a disk, radius 1 to 1 + 2 * strength px)
    or a straight motion smear (3 to 3 + 6 * strength px, any direction), one of the three at random."""
    kind = rng.integers(3)
    if kind == 0:
        return cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 0.5 + 1.5 * strength))
    if kind == 1:
        radius = rng.uniform(1, 1 + 2 * strength)
        r = int(radius)
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        kernel = (xx * xx + yy * yy <= radius * radius).astype(np.float32)
    else:
        length = 2 * int(rng.integers(1, 2 + round(3 * strength))) + 1  # odd: centred, the boxes do not shift
        angle = rng.uniform(0, np.pi)
        reach = length // 2 * np.array([np.cos(angle), np.sin(angle)])
        ends = np.rint([length // 2 - reach, length // 2 + reach]).astype(int).tolist()
        kernel = np.zeros((length, length), np.float32)
        cv2.line(kernel, ends[0], ends[1], 1.0)
    return cv2.filter2D(image, -1, kernel / kernel.sum())


def _noise(image: np.ndarray, gray: bool, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Read noise (Gaussian, sigma 1 to 2 + 6 * strength DN) plus shot noise (Poisson-like: variance
    proportional to the signal, up to 0.5 * strength DN per DN: sigma ~11 DN at 255); one plane on gray crops.
    """
    plane = np.ascontiguousarray(image[..., 0]) if gray else image
    read, gain = rng.uniform(1, 2 + 6 * strength), rng.uniform(0, 0.5 * strength)
    sigma = cv2.LUT(plane, np.sqrt(read * read + gain * np.arange(256)).astype(np.float32))
    index = np.frombuffer(rng.bytes(plane.size), np.uint8).reshape(plane.shape)
    noise = cv2.multiply(cv2.LUT(index, GAUSS_QUANTILES), sigma)
    if gray:
        noise = cv2.cvtColor(noise, cv2.COLOR_GRAY2RGB)
    return cv2.add(image, noise, dtype=cv2.CV_8U)


def _jpeg(image: np.ndarray, gray: bool, rng: np.random.Generator, strength: float) -> np.ndarray:
    """Re-encode at quality 60 - 45 * strength (15 at full strength) to 95, as one plane on gray crops."""
    params = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(max(5, round(60 - 45 * strength)), 96))]
    if gray:
        _, data = cv2.imencode(".jpg", np.ascontiguousarray(image[..., 0]), params)
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_GRAYSCALE), cv2.COLOR_GRAY2RGB)
    _, data = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), params)
    return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
