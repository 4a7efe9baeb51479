"""A drawn object ready to paste: `finish` lights a renderer's canvases, casts the shadow and resizes to frame pixels.

Resizing is area-averaged from a supersampled canvas (a 3 px object keeps its mean brightness and a blurry shape)
or interpolated up for big objects drawn coarser. A close-range object can be many times the frame: `clip` then
asks for only the window of it that the frame's canvas can show, so memory follows the frame, not the object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from debris.synth.canvas import BORDER_PX, MAX_PAD_PX, Canvas, bleed, fade, rgb
from debris.synth.lighting import SKYLIGHT, cast_shadow, glint, shade, shadow_darkening, slopes
from debris.synth.sun import Sun

DUST = rgb(0.66, 0.50, 0.36)
SOIL = rgb(0.30, 0.22, 0.16)  # fresh, darker ground from under the dust
_SHADOW_GRID_PX = 320  # shadows are soft: cast on a grid at most this fine
_MAX_SLOPE = 1.7  # steeper walls (an object's sides) shade like 60 degree slopes, not as black or white rims


@dataclass(frozen=True)
class Sprite:
    """One object drawn in nadir view at the frame's ground sample distance; every array is (h, w[, c]) float32 and
    the same h, w. Unclipped sprites have odd h, w, centred on the object's placement point."""

    rgb: np.ndarray  # (h, w, 3) colour of the object, sRGB [0, 1]
    alpha: np.ndarray  # (h, w) coverage in [0, 1]; the object's visible pixels (its box) are alpha >= 0.5
    shadow: np.ndarray  # (h, w) in [0, 1]: how much the cast shadow darkens the ground (ground *= 1 - shadow)
    decal: np.ndarray  # (h, w, 4) straight-alpha RGBA painted on the ground under and around the object
    area_px: float = 0.0  # pixels the WHOLE object covers (alpha >= 0.5), clipped parts too; 0: count alpha
    origin: tuple[int, int] | None = None  # (x, y) array pixel on the placement point; None: the centre

    def full_area(self) -> float:
        return self.area_px or float((self.alpha >= 0.5).sum())

    def centre(self) -> tuple[float, float]:
        """(x, y) in array pixel units (pixel i spans [i, i + 1)) of the placement point."""
        h, w = self.alpha.shape
        return (w / 2, h / 2) if self.origin is None else (self.origin[0] + 0.5, self.origin[1] + 0.5)


def finish(sun: Sun, cv: Canvas, albedo: np.ndarray, alpha: np.ndarray, height: np.ndarray, dc: Canvas,
           decal: np.ndarray, shine: float | np.ndarray = 0.0, clip: tuple[int, int, int, int] | None = None) -> Sprite:
    """Light, shadow and resize one object. On canvas cv: albedo (3, px, px) sRGB, alpha (px, px) coverage, height
    (px, px) m above ground, shine (glints of foil and metal). On canvas dc: decal (4, px, px) premultiplied RGBA.
    clip: (x0, y0, x1, y1) frame pixels around the placement point (0, 0) to produce; None: all of it."""
    gx, gy = slopes(cv2.GaussianBlur(height, (0, 0), 1.0), 1 / cv.k, _MAX_SLOPE)  # smoothed: no staircase facets
    lit = albedo * np.sqrt(shade(gx, gy, sun, SKYLIGHT, lunar=0.0)) + shine * glint(gx, gy, sun)
    colour = cv2.merge(list(bleed(np.clip(lit, 0, 1), alpha)))
    if cv.px < cv.out_px:  # to be interpolated up: soften hard colour edges first, or they turn into stairs
        colour = cv2.GaussianBlur(colour, (0, 0), 0.6)
    paint = cv2.merge([*bleed(decal[:3] / np.maximum(decal[3], 1e-6), decal[3]), decal[3]])
    shadow_px = math.hypot(*sun.shadow_offset(float(height.max()), cv.gsd_m))
    half = max(cv.out_px // 2 + min(math.ceil(shadow_px), MAX_PAD_PX) + BORDER_PX, dc.out_px // 2)
    size = 2 * half + 1
    x0, y0, x1, y1 = (0, 0, size, size) if clip is None else (
        min(max(half + clip[0], 0), size - 1), min(max(half + clip[1], 0), size - 1),
        max(min(half + clip[2], size), 1), max(min(half + clip[3], size), 1))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)

    def paste(field: np.ndarray, c: Canvas) -> np.ndarray:
        """A canvas field resized to its frame pixels, centred in the (size, size[, ch]) patch, cut to the window."""
        n, o, field = c.out_px, half - c.out_px // 2, field.astype(np.float32, copy=False)
        if c.px > n:  # area averaging can round a hair past 1
            field, s = np.clip(cv2.resize(field, (n, n), interpolation=cv2.INTER_AREA), 0, 1), 1.0
        else:  # linear interpolation never overshoots
            s = n / c.px
        shift = np.float32([[s, 0, (s - 1) / 2 + o - x0], [0, s, (s - 1) / 2 + o - y0]])  # canvas px -> window px
        return cv2.warpAffine(field, shift, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)

    m = min(size, _SHADOW_GRID_PX)
    grid = Canvas(cv.gsd_m, size, m, m / (size * cv.gsd_m))
    wm = max(1, round(cv.out_px * m / size))
    h = np.zeros((m, m), np.float32)
    inset = (m - wm) // 2
    h[inset : inset + wm, inset : inset + wm] = cv2.resize(height, (wm, wm), interpolation=cv2.INTER_AREA)
    shadow = cv2.GaussianBlur(cast_shadow(h, 1 / grid.k, sun) * np.float32(shadow_darkening()), (0, 0), 0.7)
    fade(shadow, grid)
    fade(paint[..., 3], dc)
    sprite_alpha = paste(alpha, cv)
    area = 0.0 if clip is None else float((alpha >= 0.5).sum()) * (cv.out_px / cv.px) ** 2
    return Sprite(paste(colour, cv), sprite_alpha, paste(shadow, grid), paste(paint, dc), area, (half - x0, half - y0))
