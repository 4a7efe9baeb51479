"""One light model for everything on the ground, terrain and hardware alike.

Irradiance on a surface of slopes (gx, gy) under `Sun.direction()`: lunar-Lambert reflectance (McEwen 1991;
weight `lunar` on its Lommel-Seeliger part, 0 for plain Lambert as on fabric and metal), sky fill `skylight`
where the direct light is blocked, normalised to 1 on flat sunlit ground so that a pixel there shows its
albedo. Cast shadows come from a horizon scan of the height field. Rendered colours are sRGB, so a pixel is
albedo * irradiance^(1/2.2) (the square root below).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from debris.synth.sun import Sun

SKYLIGHT = 0.25  # share of flat-ground light that comes from the dusty sky: lifts unlit slopes and shadows


def slopes(height: np.ndarray, gsd_m: float, max_slope: float = math.inf) -> tuple[np.ndarray, np.ndarray]:
    """(H, W) float32 dz/dx, dz/dy of height (m) sampled every gsd_m metres; steeper than max_slope is clipped
    (an object's near-vertical sides then shade like steep slopes, not as black or white rims)."""
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3, scale=1 / (8 * gsd_m))
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3, scale=1 / (8 * gsd_m))
    if math.isfinite(max_slope):
        steep = np.minimum(1, np.float32(max_slope) / np.maximum(np.sqrt(gx * gx + gy * gy), 1e-6))
        gx, gy = gx * steep, gy * steep
    return gx, gy


def shade(gx: np.ndarray, gy: np.ndarray, sun: Sun, skylight: float = SKYLIGHT, lunar: float = 0.6,
          shadow: np.ndarray | None = None) -> np.ndarray:
    """(H, W) float32 irradiance factor, 1 on flat sunlit ground; shadow (H, W) in [0, 1] blocks the direct part."""
    sx, sy, sz = np.float32(sun.direction())
    mu = 1 / np.sqrt(1 + gx * gx + gy * gy)  # cosine of the emission angle, seen from straight above
    mu0 = np.maximum((sz - gx * sx - gy * sy) * mu, 0)
    flat = 2 * lunar * sz / (sz + 1) + (1 - lunar) * sz
    direct = (np.float32(2 * lunar) * mu0 / (mu0 + mu + 1e-6) + np.float32(1 - lunar) * mu0) / np.float32(flat)
    if shadow is not None:
        direct *= 1 - shadow
    return np.float32(skylight) + np.float32(1 - skylight) * direct


def glint(gx: np.ndarray, gy: np.ndarray, sun: Sun, power: int = 30) -> np.ndarray:
    """(H, W) float32 specular highlight seen by a camera overhead (Blinn-Phong), 1 where a facet mirrors the Sun."""
    sx, sy, sz = sun.direction()
    hx, hy, hz = (c / math.hypot(sx, sy, sz + 1) for c in (sx, sy, sz + 1))  # halfway between sun and camera
    return np.maximum((hz - gx * hx - gy * hy) / np.sqrt(gx * gx + gy * gy + 1), 0) ** power


def shadow_darkening(skylight: float = SKYLIGHT) -> float:
    """How much a full cast shadow darkens sRGB ground: only the skylight is left, seen through the gamma."""
    return 1 - math.sqrt(skylight)


def cast_shadow(height: np.ndarray, gsd_m: float, sun: Sun) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how much direct sunlight each pixel loses to what stands between it and the Sun.
    The field is turned so that light runs along +x: a point is shadowed when an earlier one on its row stands
    above the sun's ray through it, which one cumulative maximum per row finds."""
    h, w = height.shape
    sx, sy, sz = sun.direction()
    ax, ay = -sx / math.hypot(sx, sy), -sy / math.hypot(sx, sy)  # the way shadows point
    turn = np.array([[ax, ay, 0.0], [-ay, ax, 0.0]])
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]]) @ turn.T
    turn[:, 2] = -corners.min(0)
    size = tuple(np.ceil(corners.max(0) - corners.min(0)).astype(int) + 1)
    turned = cv2.warpAffine(height, turn, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    drop = np.float32(gsd_m * sz / math.hypot(sx, sy))  # the ray's fall per pixel, m
    turned += np.arange(size[0], dtype=np.float32) * drop
    depth = np.maximum.accumulate(turned, axis=1)
    depth -= turned
    depth *= 2 / drop  # in half pixels: the shadow's edge is anti-aliased over half a pixel
    return cv2.warpAffine(np.minimum(depth, 1, out=depth), turn, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
