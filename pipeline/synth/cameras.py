"""The three cameras the generator imitates: where the ground is in the frame, and what the sensor does.

- `rte`: Ingenuity's 13 MP colour return-to-earth camera, 4208x3120, looking obliquely forward.
  The ground is drawn nadir on a canvas and warped into the frame with the homography of a pinhole
  camera (horizontal field of view 50 deg) at 4-20 m altitude (2-25 m randomised: a parachute can fill more
  than the frame), pitched 34-60 deg below the horizon:
  steep enough that the top edge still sees ground within ~5x the distance of the bottom edge, so one
  canvas resolution serves the whole frame (no horizon or sky is drawn); the canvas has at most as many
  pixels as the frame.
- `nav`: the 640x480 grayscale nadir navigation camera at 5-24 m altitude: 2-9 cm per pixel.
- `orbital`: HiRISE-like grayscale crops at 25-50 cm per pixel.
A frame smaller than the camera's native size is that frame downscaled (its pixels are coarser), so a
640-pixel-wide rte frame shows what the tiler's downscaled full-frame view of a 13 MP frame shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

CAMERAS = ("rte", "nav", "orbital")
NATIVE_SIZE = {"rte": (4208, 3120), "nav": (640, 480)}  # orbital crops have any size at native scale
COLOUR = {"rte": True, "nav": False, "orbital": False}

_RTE_HFOV_DEG = 50.0
_MAX_CANVAS_PIXELS = 16e6  # a full 13 MP oblique frame gets a coarser canvas, not 60 MP of terrain
_MAX_CANVAS_RATIO = 1.0  # canvas pixels per frame pixel, at most: time follows the frame, the near rows blur a bit


@dataclass(frozen=True)
class View:
    """Where the ground canvas lies in the frame.

    frame_size: (width, height) of the frame, pixels
    canvas_size: (width, height) of the nadir ground canvas, pixels
    gsd_m: metres per canvas pixel
    homography: (3, 3) float64 canvas pixels -> frame pixels, or None when the canvas is the frame
    """

    frame_size: tuple[int, int]
    canvas_size: tuple[int, int]
    gsd_m: float
    homography: np.ndarray | None


def sample_view(rng: np.random.Generator, camera: str, size: tuple[int, int], randomize: float = 0.0) -> View:
    """The ground geometry of one frame of `camera` at `size` = (width, height) pixels; randomize widens the
    oblique camera's altitude range from 4-20 m to 2-25 m."""
    width, height = size
    if camera == "orbital":
        return View(size, size, float(rng.uniform(0.25, 0.5)), None)
    if camera == "nav":
        return View(size, size, float(rng.uniform(0.02, 0.09)) * NATIVE_SIZE["nav"][0] / width, None)
    return _oblique_view(rng, width, height, randomize)


def _oblique_view(rng: np.random.Generator, width: int, height: int, randomize: float) -> View:
    altitude = rng.uniform(4.0 - 2 * randomize, 20.0 + 5 * randomize)
    pitch = math.radians(rng.uniform(34.0, 60.0))
    f = width / 2 / math.tan(math.radians(_RTE_HFOV_DEG) / 2)
    cx, cy = width / 2, height / 2
    cp, sp = math.cos(pitch), math.sin(pitch)
    # ground (X right, Y forward, metres; camera at height `altitude` above the origin) -> frame pixels
    ground_to_frame = np.array([
        [f, cx * cp, cx * altitude * sp],
        [0.0, -f * sp + cy * cp, f * altitude * cp + cy * altitude * sp],
        [0.0, cp, altitude * sp],
    ])
    corners = np.array([[0, 0, 1], [width, 0, 1], [width, height, 1], [0, height, 1]], np.float64).T
    ground = np.linalg.inv(ground_to_frame) @ corners
    xs, ys = ground[0] / ground[2], ground[1] / ground[2]
    # canvas pixels a little coarser than the frame's finest (bottom-centre) pixel: the bottom rows
    # are upsampled slightly, and the canvas stays ~1-3x the frame's pixel count
    gsd = 1.6 * math.hypot(altitude, ys[2:].min()) / f
    extent_x, extent_y = xs.max() - xs.min(), ys.max() - ys.min()
    gsd = max(gsd, math.sqrt(extent_x * extent_y / min(_MAX_CANVAS_PIXELS, _MAX_CANVAS_RATIO * width * height)))
    canvas = (int(math.ceil(extent_x / gsd)) + 2, int(math.ceil(extent_y / gsd)) + 2)
    # canvas pixel (col, row) -> ground: row 0 is the far edge
    canvas_to_ground = np.array([[gsd, 0, xs.min() - gsd], [0, -gsd, ys.max() + gsd], [0, 0, 1]])
    return View((width, height), canvas, float(gsd), ground_to_frame @ canvas_to_ground)


def apply_camera(rng: np.random.Generator, image: np.ndarray, camera: str, randomize: float = 0.0) -> np.ndarray:
    """What the sensor and optics do to a rendered frame.

    image: (H, W, 3) float32 sRGB in [0, 1] -> (H, W, 3) uint8 RGB for `rte`, (H, W) uint8 otherwise.
    Exposure and white balance, vignetting, optical and motion blur, noise; JPEG is applied when the
    frame is saved. randomize (0..1) adds colour casts, gamma, defocus and in-camera JPEG at that strength.
    """
    h, w = image.shape[:2]
    if COLOUR[camera]:
        spread = 0.1 + 0.08 * randomize  # white balance, and colour casts of other renderers and dust in the air
        image = image * rng.uniform(1 - spread, 1 + spread, 3).astype(np.float32)
    else:
        image = image @ np.float32([0.299, 0.587, 0.114])  # a panchromatic sensor sees luminance
    image = image * np.float32(rng.uniform(0.75, 1.25))  # exposure
    if camera != "orbital":
        # wide-angle lenses darken towards the corners (cos^4 law); the nav camera's most of all
        strength = rng.uniform(0.3, 0.6) if camera == "nav" else rng.uniform(0.05, 0.25)
        yy, xx = np.ogrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j]
        r2 = (xx * xx + yy * yy * (h / w) ** 2).astype(np.float32)
        falloff = 1 - np.float32(strength) * r2 / 2
        image = image * (falloff[..., None] if image.ndim == 3 else falloff)
    if camera == "nav":
        mean = image.mean()
        image = mean + (image - mean) * np.float32(rng.uniform(0.5, 0.9))  # hazy, low contrast
        image = _motion_blur(rng, image, length=rng.uniform(0, 6) * w / 640)
    # HiRISE softens the pixel scale. sigma 0.4-0.9 px is a compromise measured against the real
    # strips (benchmarks/synth_realism.py): ~1 px matches their spectrum slope, ~0.5 px their gradients
    sigma = rng.uniform(0.4, 0.9) if camera == "orbital" else rng.uniform(0.3, 1.0) * (w / 640 if camera == "rte" else 1) ** 0.5
    if rng.random() < 0.3 * randomize:  # out of focus
        sigma += rng.uniform(0.5, 2.5) * (w / 640) ** 0.5
    image = cv2.GaussianBlur(image, (0, 0), sigma)
    if camera == "orbital":
        # HiRISE products are contrast-stretched: spread the 0.5-99.5 percentiles over the full range
        lo, hi = np.percentile(image[:: 4, :: 4], [0.5, 99.5])
        image = (image - lo) / max(hi - lo, 1e-3) * np.float32(rng.uniform(0.8, 1.0))
    # shot noise grows with brightness (variance ~ gain x signal, in DN), read noise does not
    signal_dn = np.clip(image, 0, 1) * 255
    noise_dn = np.sqrt(np.float32(rng.uniform(0.5, 2.5) ** 2) + np.float32(rng.uniform(0.01, 0.12)) * signal_dn)
    image = signal_dn + noise_dn * rng.standard_normal(image.shape, dtype=np.float32)
    image = np.clip(image + 0.5, 0, 255).astype(np.uint8)
    if randomize > 0:  # another tone curve (gamma), as a table on the 8-bit frame: cheap at 13 MP
        gamma = math.exp(rng.uniform(-0.4, 0.4) * randomize)
        image = cv2.LUT(image, np.round(255 * (np.arange(256) / 255) ** gamma).astype(np.uint8))
    if rng.random() < 0.3 * randomize:  # an earlier lossy save, blockier than the one the frame is written with
        image = cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(20, 70))])[1],
                             cv2.IMREAD_UNCHANGED)
    return image


def _motion_blur(rng: np.random.Generator, image: np.ndarray, length: float) -> np.ndarray:
    if length < 1:
        return image
    size = int(math.ceil(length)) | 1
    kernel = np.zeros((size, size), np.float32)
    kernel[size // 2, :] = 1
    rotation = cv2.getRotationMatrix2D(((size - 1) / 2, (size - 1) / 2), rng.uniform(0, 180), 1.0)
    kernel = cv2.warpAffine(kernel, rotation, (size, size))
    return cv2.filter2D(image, -1, kernel / kernel.sum())
