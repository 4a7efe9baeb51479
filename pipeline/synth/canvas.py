"""Canvases in metres on which hardware is drawn, and the small drawing helpers every renderer shares.

An object is drawn on a square canvas centred on it, `k` canvas pixels per metre, supersampled for small
objects (a 3 px sprite averages a real shape) and coarser than the frame for big ones (bounded time and
memory). Canvases are channel-first: colours (3, px, px), coverages (px, px).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

MIN_DRAW_PX = 128  # an object is drawn at least this wide, so a 3 px sprite averages a real shape, not a blob
MAX_SUPERSAMPLE = 8
MAX_CANVAS_PX = 512  # bigger objects are drawn coarser and interpolated up: bounds time and memory
MAX_DECAL_PX = 384
MAX_PAD_PX = 256  # a shadow or decal reaching further beyond the object is cut, fading over BORDER_PX
BORDER_PX = 12


def rgb(r: float, g: float, b: float) -> np.ndarray:
    """A colour as a (3, 1, 1) float32 array, to broadcast over (3, px, px) canvases."""
    return np.array([r, g, b], np.float32)[:, None, None]


@dataclass(frozen=True)
class Canvas:
    """A square of `out_px` frame pixels centred on the object, drawn on `px` canvas pixels, `k` per metre."""

    gsd_m: float
    out_px: int
    px: int
    k: float

    def grid(self, angle: float) -> tuple[np.ndarray, np.ndarray]:
        """(px, px) float32 u, v: metres from the centre along the object's axes, turned by angle (rad)."""
        t = (np.arange(self.px, dtype=np.float32) - (self.px - 1) / 2) / self.k
        c, s = np.float32(math.cos(angle)), np.float32(math.sin(angle))
        return t[None] * c + t[:, None] * s, t[:, None] * c - t[None] * s

    def points(self, polys: list[np.ndarray], angle: float) -> list[np.ndarray]:
        """(n, 2) polygons in object metres -> int32 canvas points with 4 fractional bits (cv2 shift=4)."""
        c, s = math.cos(angle), math.sin(angle)
        to_px = np.array([[c, s], [-s, c]]) * self.k
        return [np.round((p @ to_px + (self.px - 1) / 2) * 16).astype(np.int32) for p in polys]

    def mask(self, polys: list[np.ndarray], angle: float, width_m: float = 0.0) -> np.ndarray:
        """(px, px) float32 coverage of (n, 2) polygons in object metres; open polylines width_m wide if > 0."""
        pts, m = self.points(polys, angle), np.zeros((self.px, self.px), np.uint8)
        if width_m > 0:  # a line thinner than a pixel is drawn 1 px wide and fainter: same ink per metre
            cv2.polylines(m, pts, False, 255, max(1, round(width_m * self.k)), cv2.LINE_AA, 4)
            return m.astype(np.float32) * (min(1.0, width_m * self.k) / 255)
        cv2.fillPoly(m, pts, 255, cv2.LINE_AA, 4)
        return m.astype(np.float32) / 255

    def edge(self, inside_m: np.ndarray) -> np.ndarray:
        """Antialiased coverage from a signed distance to an edge (m, positive inside)."""
        return np.clip(inside_m * self.k + 0.5, 0, 1)


def canvases(gsd_m: float, width_m: float, radius_m: float, reach_m: float) -> tuple[Canvas, Canvas]:
    """Canvases for an object width_m wide reaching radius_m from its centre, and for its decal reaching reach_m
    (cut at MAX_PAD_PX beyond the object); all in metres. The soft decal is drawn at half the resolution."""

    def canvas(half_m: float, max_px: int, scale: float) -> Canvas:
        out = 2 * (math.ceil(half_m / gsd_m) + 2) + 1
        px = max(4, round(out * min(scale, max_px / out)))
        return Canvas(gsd_m, out, px, px / (out * gsd_m))

    scale = float(np.clip(MIN_DRAW_PX * gsd_m / width_m, 1, MAX_SUPERSAMPLE))
    decal_m = min(reach_m, radius_m + MAX_PAD_PX * gsd_m)
    return canvas(radius_m, MAX_CANVAS_PX, scale), canvas(decal_m, MAX_DECAL_PX, scale / 2)


def noise(rng: np.random.Generator, n: int, cell_px: float, octaves: int = 1) -> np.ndarray:
    """(n, n) float32 smooth noise, roughly unit spread, blobs ~cell_px wide (finer octaves added at half weight)."""
    out = np.zeros((n, n), np.float32)
    for i in range(octaves):  # each octave interpolated straight to n: a two-step upsampling shades in stripes
        g = max(2, round(n / (cell_px / 2**i)) + 2)
        out += 0.5**i * cv2.resize(rng.standard_normal((g, g), dtype=np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    return out


def blob(rng: np.random.Generator, radius_m: float, rough: float, jag: float, aspect=1.0, n=48) -> np.ndarray:
    """(n, 2) closed irregular outline (m) within semi-axes radius_m * sqrt(aspect) and radius_m / sqrt(aspect):
    a few random lobes (rough) and per-vertex jitter (jag)."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = np.arange(1, 6)[:, None]
    lobes = (rng.standard_normal((5, 1)) / k * np.cos(k * th + rng.uniform(0, 2 * np.pi, (5, 1)))).sum(0)
    r = np.clip(1 + rough * lobes + jag * rng.uniform(-1, 1, n), 0.2, None)
    r *= radius_m / r.max()
    return np.stack([r * np.cos(th) * math.sqrt(aspect), r * np.sin(th) / math.sqrt(aspect)], 1)


def rays(rng: np.random.Generator, th: np.ndarray, rho: np.ndarray, count: int, reach_m: float) -> np.ndarray:
    """(px, px) in [0, 1]: count streaks of random width from the centre, each ~reach_m long; th, rho polar (rad, m)."""
    a = np.linspace(0, 2 * np.pi, 720, endpoint=False)[:, None]
    d = np.angle(np.exp(1j * (a - rng.uniform(0, 2 * np.pi, count))))  # wrapped angular distance to each ray
    w = np.exp(-((d / rng.uniform(0.01, 0.08, count)) ** 2)) * rng.uniform(0.3, 1.0, count)
    strength = w.max(1).astype(np.float32)
    length = (reach_m * rng.uniform(0.4, 1.3, count)[w.argmax(1)]).astype(np.float32)
    i = np.minimum((th * (720 / (2 * np.pi))).astype(np.int32), 719)  # th from cv2.cartToPolar: [0, 2 pi]
    return strength[i] * np.sqrt(np.clip(1 - rho / length[i], 0, 1))


def paint(decal: np.ndarray, colour: np.ndarray, a: np.ndarray) -> None:
    """Paint colour (3, 1, 1) with coverage a (px, px) over the premultiplied RGBA decal (4, px, px), in place."""
    decal *= 1 - a
    decal[:3] += colour * a
    decal[3] += a


def fade(plane: np.ndarray, c: Canvas) -> None:
    """Fade a (px, px) plane of canvas c to 0 over its outer BORDER_PX frame pixels, in place: what the patch
    cuts (a long shadow or decal) then ends softly instead of in a straight edge."""
    ramp = np.clip(np.minimum(np.arange(c.px), np.arange(c.px)[::-1]) * (c.out_px / c.px) / BORDER_PX, 0, 1)
    plane *= np.minimum.outer(ramp, ramp).astype(np.float32)


def bleed(colour: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(3, px, px) colour, set to its alpha-weighted mean where alpha (px, px) is 0: resizing then mixes edge
    pixels with the object's own colour rather than with black."""
    mean = (colour.reshape(3, -1) @ alpha.ravel() / max(float(alpha.sum()), 1e-6))[:, None, None]
    return np.where(alpha > 0, colour, mean)
