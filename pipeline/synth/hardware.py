"""Hardware sprites: the five landing-hardware classes drawn in nadir view at a frame's ground sample distance.

Each class function draws the object's albedo, coverage and height (m) on a canvas in metres centred on it, and
the ground decal around it on a coarser one; `_finish` lights the albedo from the height's slopes, casts the
heights' shadow and resizes to frame pixels: area-averaged from a supersampled canvas (a 3 px object keeps its
mean brightness and a blurry shape), interpolated up for big objects drawn coarser. Canvases are channel-first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from debris.synth.sun import Sun

CLASS_NAMES = ("parachute", "backshell", "heat_shield", "descent_stage", "debris")

_MIN_DRAW_PX = 128  # an object is drawn at least this wide, so a 3 px sprite averages a real shape, not a blob
_MAX_SUPERSAMPLE = 8
_MAX_CANVAS_PX = 640  # bigger objects are drawn coarser and interpolated up: bounds time and memory
_MAX_DECAL_PX = 384
_MAX_PAD_PX = 256  # a shadow or decal reaching further beyond the object is cut, fading over _BORDER_PX
_BORDER_PX = 12
_SHADOW_GRID_PX = 320  # shadows are soft: cast on a grid at most this fine
_AMBIENT = 0.25  # share of flat-ground light that comes from the dusty sky: lifts unlit slopes and shadows
_MAX_SLOPE = 1.7  # steeper walls (an object's sides) shade like 60 degree slopes, not as black or white rims


def _rgb(r: float, g: float, b: float) -> np.ndarray:
    """A colour as a (3, 1, 1) float32 array, to broadcast over (3, px, px) canvases."""
    return np.array([r, g, b], np.float32)[:, None, None]


_DUST = _rgb(0.66, 0.50, 0.36)
_SOIL = _rgb(0.30, 0.22, 0.16)  # fresh, darker ground from under the dust
_WHITE, _ORANGE = _rgb(0.86, 0.85, 0.81), _rgb(0.88, 0.36, 0.12)  # canopy nylon; international orange, weathered
_RINGS = (0.12, 0.32, 0.52, 0.74, 0.78)  # canopy radius fractions: white | 3 coded disk rings | gap | coded band
_SHELL, _TPS = _rgb(0.80, 0.79, 0.76), _rgb(0.24, 0.22, 0.20)  # backshell skin; charred thermal protection
_PICA, _STRUCTURE, _TILE_M = _rgb(0.40, 0.31, 0.22), _rgb(0.64, 0.62, 0.57), 0.45  # heat shield outside, inside
_METALS = np.array([[0.80, 0.80, 0.80], [0.85, 0.67, 0.33], [0.32, 0.31, 0.30]], np.float32)  # bare, foil, char
_FOIL = (_rgb(0.90, 0.72, 0.38), _rgb(0.82, 0.83, 0.85), _rgb(0.92, 0.91, 0.88))  # gold, silver, white


@dataclass(frozen=True)
class Sprite:
    """One object drawn in nadir view at the frame's ground sample distance; every array is (h, w[, c])
    float32 and the same h, w (odd), centred on the object's placement point."""

    rgb: np.ndarray  # (h, w, 3) colour of the object, sRGB [0, 1]
    alpha: np.ndarray  # (h, w) coverage in [0, 1]; the object's visible pixels (its box) are alpha >= 0.5
    shadow: np.ndarray  # (h, w) in [0, 1]: how much the cast shadow darkens the ground (ground *= 1 - shadow)
    decal: np.ndarray  # (h, w, 4) straight-alpha RGBA painted on the ground under and around the object


@dataclass(frozen=True)
class _Canvas:
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


def _canvases(gsd_m: float, width_m: float, radius_m: float, reach_m: float) -> tuple[_Canvas, _Canvas]:
    """Canvases for an object width_m wide reaching radius_m from its centre, and for its decal reaching reach_m
    (cut at _MAX_PAD_PX beyond the object); all in metres. The soft decal is drawn at half the resolution."""

    def canvas(half_m: float, max_px: int, scale: float) -> _Canvas:
        out = 2 * (math.ceil(half_m / gsd_m) + 2) + 1
        px = max(4, round(out * min(scale, max_px / out)))
        return _Canvas(gsd_m, out, px, px / (out * gsd_m))

    scale = float(np.clip(_MIN_DRAW_PX * gsd_m / width_m, 1, _MAX_SUPERSAMPLE))
    decal_m = min(reach_m, radius_m + _MAX_PAD_PX * gsd_m)
    return canvas(radius_m, _MAX_CANVAS_PX, scale), canvas(decal_m, _MAX_DECAL_PX, scale / 2)


def _noise(rng: np.random.Generator, n: int, cell_px: float, octaves: int = 1) -> np.ndarray:
    """(n, n) float32 smooth noise, roughly unit spread, blobs ~cell_px wide (finer octaves added at half weight)."""
    out = np.zeros((n, n), np.float32)
    for i in range(octaves):  # each octave interpolated straight to n: a two-step upsampling shades in stripes
        g = max(2, round(n / (cell_px / 2**i)) + 2)
        out += 0.5**i * cv2.resize(rng.standard_normal((g, g), dtype=np.float32), (n, n), interpolation=cv2.INTER_CUBIC)
    return out


def _blob(rng: np.random.Generator, radius_m: float, rough: float, jag: float, aspect=1.0, n=48) -> np.ndarray:
    """(n, 2) closed irregular outline (m) within semi-axes radius_m * sqrt(aspect) and radius_m / sqrt(aspect):
    a few random lobes (rough) and per-vertex jitter (jag)."""
    th = np.linspace(0, 2 * np.pi, n, endpoint=False)
    k = np.arange(1, 6)[:, None]
    lobes = (rng.standard_normal((5, 1)) / k * np.cos(k * th + rng.uniform(0, 2 * np.pi, (5, 1)))).sum(0)
    r = np.clip(1 + rough * lobes + jag * rng.uniform(-1, 1, n), 0.2, None)
    r *= radius_m / r.max()
    return np.stack([r * np.cos(th) * math.sqrt(aspect), r * np.sin(th) / math.sqrt(aspect)], 1)


def _rays(rng: np.random.Generator, th: np.ndarray, rho: np.ndarray, count: int, reach_m: float) -> np.ndarray:
    """(px, px) in [0, 1]: count streaks of random width from the centre, each ~reach_m long; th, rho polar (rad, m)."""
    a = np.linspace(0, 2 * np.pi, 720, endpoint=False)[:, None]
    d = np.angle(np.exp(1j * (a - rng.uniform(0, 2 * np.pi, count))))  # wrapped angular distance to each ray
    w = np.exp(-((d / rng.uniform(0.01, 0.08, count)) ** 2)) * rng.uniform(0.3, 1.0, count)
    strength = w.max(1).astype(np.float32)
    length = (reach_m * rng.uniform(0.4, 1.3, count)[w.argmax(1)]).astype(np.float32)
    i = np.minimum((th * (720 / (2 * np.pi))).astype(np.int32), 719)  # th from cv2.cartToPolar: [0, 2 pi]
    return strength[i] * np.sqrt(np.clip(1 - rho / length[i], 0, 1))


def _paint(decal: np.ndarray, colour: np.ndarray, a: np.ndarray) -> None:
    """Paint colour (3, 1, 1) with coverage a (px, px) over the premultiplied RGBA decal (4, px, px), in place."""
    decal *= 1 - a
    decal[:3] += colour * a
    decal[3] += a


def _fade(plane: np.ndarray, c: _Canvas) -> None:
    """Fade a (px, px) plane of canvas c to 0 over its outer _BORDER_PX frame pixels, in place: what the patch
    cuts (a long shadow or decal) then ends softly instead of in a straight edge."""
    ramp = np.clip(np.minimum(np.arange(c.px), np.arange(c.px)[::-1]) * (c.out_px / c.px) / _BORDER_PX, 0, 1)
    plane *= np.minimum.outer(ramp, ramp).astype(np.float32)


def _bleed(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """(3, px, px) colour, set to its alpha-weighted mean where alpha (px, px) is 0: resizing then mixes edge
    pixels with the object's own colour rather than with black."""
    mean = (rgb.reshape(3, -1) @ alpha.ravel() / max(float(alpha.sum()), 1e-6))[:, None, None]
    return np.where(alpha > 0, rgb, mean)


def _shade(sun: Sun, cv: _Canvas, albedo: np.ndarray, height: np.ndarray, shine: float | np.ndarray) -> np.ndarray:
    """(3, px, px) albedo lit by the sun on the slopes of height (px, px, m), plus glints where shine > 0."""
    dx, dy = sun.shadow_offset(1.0, 1.0)
    lx, ly, lz = (c / math.hypot(dx, dy, 1.0) for c in (-dx, -dy, 1.0))  # towards the sun (x right, y down, z up)
    hs = cv2.GaussianBlur(height, (0, 0), 1.0)  # slopes of a smoothed surface: no staircase facets
    gx = cv2.Sobel(hs, cv2.CV_32F, 1, 0, ksize=3, scale=cv.k / 8)
    gy = cv2.Sobel(hs, cv2.CV_32F, 0, 1, ksize=3, scale=cv.k / 8)
    steep = np.minimum(1, _MAX_SLOPE / np.maximum(np.sqrt(gx * gx + gy * gy), 1e-6))
    gx, gy = gx * steep, gy * steep
    inv = 1 / np.sqrt(gx * gx + gy * gy + 1)
    flat = _AMBIENT + (1 - _AMBIENT) * lz  # flat ground is the reference: there a pixel shows its albedo
    lit = (_AMBIENT + (1 - _AMBIENT) * np.maximum((lz - gx * lx - gy * ly) * inv, 0)) / flat
    hx, hy, hz = (c / math.hypot(lx, ly, lz + 1) for c in (lx, ly, lz + 1))  # halfway to the camera overhead
    return np.clip(albedo * lit + shine * np.maximum((hz - gx * hx - gy * hy) * inv, 0) ** 30, 0, 1)


def _cast_shadow(sun: Sun, cv: _Canvas, height: np.ndarray, size: int) -> np.ndarray:
    """(m, m) shadow strength over the whole (size, size) patch, m <= _SHADOW_GRID_PX: every height level of the
    object, shifted along the sun's rays by its height; darker when less of the light is skylight."""
    m, top = min(size, _SHADOW_GRID_PX), float(height.max())
    acc = np.zeros((m, m), np.uint8)
    sx, sy = (d * m / size for d in sun.shadow_offset(top, cv.gsd_m))
    steps = int(np.clip(math.hypot(sx, sy) / 1.5, 1, 40))
    if top > 0:
        wm = max(1, round(cv.out_px * m / size))
        o = (m - wm) // 2
        h = np.zeros((m, m), np.float32)
        h[o : o + wm, o : o + wm] = cv2.resize(height, (wm, wm), interpolation=cv2.INTER_AREA)
        for i in range(steps + 1):
            ox, oy = (int(np.clip(round(i / steps * d), 1 - m, m - 1)) for d in (sx, sy))
            src = (h > max(i / steps * top, 0.01)).view(np.uint8)
            dst = acc[max(0, oy) : m - max(0, -oy), max(0, ox) : m - max(0, -ox)]
            np.maximum(dst, src[max(0, -oy) : m - max(0, oy), max(0, -ox) : m - max(0, ox)], out=dst)
    lz = 1 / math.hypot(*sun.shadow_offset(1.0, 1.0), 1.0)
    dark = 1 - _AMBIENT / (_AMBIENT + (1 - _AMBIENT) * lz)
    return cv2.GaussianBlur(acc.astype(np.float32) * np.float32(dark), (0, 0), 0.7 + 0.6 * math.hypot(sx, sy) / steps)


def _finish(sun: Sun, cv: _Canvas, albedo: np.ndarray, alpha: np.ndarray, height: np.ndarray,
            dc: _Canvas, decal: np.ndarray, shine: float | np.ndarray = 0.0) -> Sprite:
    """Light, shadow and resize one object. On canvas cv: albedo (3, px, px) sRGB, alpha (px, px) coverage, height
    (px, px) m above ground, shine (glints of foil and metal). On canvas dc: decal (4, px, px) premultiplied RGBA."""
    rgb = cv2.merge(list(_bleed(_shade(sun, cv, albedo, height, shine), alpha)))
    if cv.px < cv.out_px:  # to be interpolated up: soften hard colour edges first, or they turn into stairs
        rgb = cv2.GaussianBlur(rgb, (0, 0), 0.6)
    paint = cv2.merge([*_bleed(decal[:3] / np.maximum(decal[3], 1e-6), decal[3]), decal[3]])
    shadow_px = math.hypot(*sun.shadow_offset(float(height.max()), cv.gsd_m))
    half = max(cv.out_px // 2 + min(math.ceil(shadow_px), _MAX_PAD_PX) + _BORDER_PX, dc.out_px // 2)
    size = 2 * half + 1

    def paste(field: np.ndarray, c: _Canvas) -> np.ndarray:
        """A canvas field resized to its frame pixels, centred in a (size, size[, ch]) patch of zeros."""
        n, o = c.out_px, half - c.out_px // 2
        full = np.zeros((size, size) + field.shape[2:], np.float32)
        inner = full[o : o + n, o : o + n]
        field = field.astype(np.float32, copy=False)
        if c.px > n:  # area averaging can round a hair past 1
            np.clip(cv2.resize(field, (n, n), interpolation=cv2.INTER_AREA), 0, 1, out=inner)
        else:  # linear interpolation never overshoots
            cv2.resize(field, (n, n), dst=inner, interpolation=cv2.INTER_LINEAR)
        return full

    m = min(size, _SHADOW_GRID_PX)
    grid = _Canvas(cv.gsd_m, size, m, m / (size * cv.gsd_m))
    shadow = _cast_shadow(sun, cv, height, size)
    _fade(shadow, grid)
    _fade(paint[..., 3], dc)
    return Sprite(paste(rgb, cv), paste(alpha, cv), paste(shadow, grid), paste(paint, dc))


def _parachute(rng: np.random.Generator, gsd_m: float, sun: Sun) -> Sprite:
    """Disk-gap-band canopy, 21.5 m: white with orange gores in coded rings, spread out (round to oval) or folded
    into a heap, wrinkled and dusty; its suspension lines run off one side, converging, in the decal."""
    crumpled, angle, lines_m = rng.random() < 0.3, rng.uniform(0, 2 * np.pi), rng.uniform(10, 20)
    a = 10.75 * rng.uniform(0.85, 1.15)  # semi-axes a >= b of the spread canopy, m
    b = a / rng.uniform(1.0, 1.7)
    shrink = rng.uniform(0.3, 0.55) if crumpled else 1.0
    cv, dc = _canvases(gsd_m, 2 * a * shrink, a * shrink, a * shrink + lines_m)
    n, (u, v) = cv.px, cv.grid(angle)
    rough, jag = (0.25, 0.015) if crumpled else (0.03, 0.003)
    alpha = cv.mask([_blob(rng, math.sqrt(a * b) * shrink, rough, jag, a / b, 160)], angle)
    pu = u + 0.04 * a * _noise(rng, n, 0.5 * a * shrink * cv.k, 2)  # where on the spread canopy each pixel lies, m
    pv = v + 0.04 * a * _noise(rng, n, 0.5 * a * shrink * cv.k, 2)
    creases = np.zeros_like(u)
    if crumpled:  # folded over along a few lines like paper: mirrored pieces of the gore pattern, creased
        pu, pv = pu / math.sqrt(shrink) + rng.uniform(-0.3, 0.3) * a, pv / math.sqrt(shrink)
        for _ in range(rng.integers(3, 7)):
            w, c = rng.uniform(0, 2 * np.pi), rng.uniform(-0.4, 0.4) * a
            d = pu * math.cos(w) + pv * math.sin(w) - c
            pu, pv = pu - 2 * np.maximum(d, 0) * math.cos(w), pv - 2 * np.maximum(d, 0) * math.sin(w)
            creases += rng.uniform(-1, 1) * np.exp(-((d / 0.8) ** 2))
    r, th = cv2.cartToPolar(pu / a, pv / b)
    ring = sum((r > e).astype(np.int32) for e in _RINGS)
    code = rng.random((len(_RINGS) + 1, 80)) < 0.45  # each gore of each ring orange or white, as in the binary code
    code[[0, 4]] = False
    gore = th * np.float32(80 / (2 * np.pi))
    albedo = np.where(np.take(code, ring * 80 + gore.astype(np.int32) % 80), _ORANGE, _WHITE)
    albedo *= np.where(np.abs(gore - np.round(gore)) < 0.05, np.float32(0.9), np.float32(1))  # seams between gores
    gap = ring == 4  # ground and radial tapes show through between disk and band
    albedo[:, gap] *= 0.85
    alpha *= np.where(gap, np.float32(0.9), np.float32(1))

    # radial folds of a canopy that deflated where it fell, in canopy coordinates so they follow any folding over
    radial = cv2.remap(rng.standard_normal((16, 48), dtype=np.float32), th * (48 / (2 * np.pi)), r * 10,
                       cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
    crest = np.clip(1 - np.abs(radial) + creases, 0, 1)
    heap = 0.6 * np.clip(1 - np.hypot(u / a, v / b) / shrink, 0, 1) if crumpled else 0
    inset = cv2.distanceTransform((alpha > 0.5).view(np.uint8), cv2.DIST_L2, 3) / np.float32(0.3 * cv.k)
    wrinkles = _noise(rng, n, 0.06 * a * cv.k, 2)
    folds = (0.18 if crumpled else 0.25) * np.clip(0.3 + 0.5 * crest + 0.2 * wrinkles, 0.05, None)
    height = alpha * (heap + folds * np.minimum(inset, 1))  # fabric lies flat at its edge, folds rise within 30 cm
    # dust settles in the valleys between folds, the crests stay cleaner
    dust = np.clip(rng.uniform(-0.3, 0.5) + 0.35 * _noise(rng, n, 0.3 * a * shrink * cv.k, 2) - 0.3 * crest, 0, 0.85)
    albedo += dust * (_DUST - albedo)

    phi, count = rng.uniform(0, 2 * np.pi), rng.integers(20, 40)
    reach = shrink / math.hypot(math.cos(phi) / a, math.sin(phi) / b) + lines_m  # the confluence, beyond the edge
    tip = reach * np.array([math.cos(phi), math.sin(phi)])
    s, lines = np.linspace(0, 1, 16)[:, None], []
    for p in phi + rng.uniform(0.4, 1.1) * np.linspace(-1, 1, count) + rng.normal(0, 0.03, count):
        start = 0.9 * shrink * np.array([a * math.cos(p), b * math.sin(p)])  # on the skirt
        side = np.array([start[1] - tip[1], tip[0] - start[0]]) / np.linalg.norm(tip - start)
        lines.append(start + s * (tip - start) + np.sin(np.pi * s) * side * rng.normal(0, 0.03 * lines_m))  # sag
    decal = np.zeros((4, dc.px, dc.px), np.float32)
    _paint(decal, _rgb(0.80, 0.78, 0.72), 0.85 * dc.mask(lines, angle, width_m=0.03))
    return _finish(sun, cv, albedo, alpha, height, dc, decal)


def _backshell(rng: np.random.Generator, gsd_m: float, sun: Sun) -> Sprite:
    """Backshell, a 4.5 m cone 2.5 m tall, lying on its side (a trapezoid ending in its open big end) or upright
    with its top torn off (a ring round a dark inside); light grey skin streaked with charred thermal protection,
    broken in on one side, its stringers showing; bright fragments and scuffed ground in the decal."""
    sc, on_side, angle = rng.uniform(0.85, 1.15), rng.random() < 0.5, rng.uniform(0, 2 * np.pi)
    rb, rs, length = 2.25 * sc, 0.8 * sc, 2.5 * sc  # big and small end radius, axis length, m
    cv, dc = _canvases(gsd_m, 2 * rb, (1.5 if on_side else 1.05) * rb, 3.2 * rb)
    n, (u, v) = cv.px, cv.grid(angle)
    dents = _noise(rng, n, 0.4 * rb * cv.k, 2)
    if on_side:  # resting on its slant, so the big end's opening tilts up and shows as an ellipse of dark inside
        t = (u + length / 2) / length  # 0 at the big end, 1 at the small end
        r = rb + (rs - rb) * np.clip(t, 0, 1) + 0.05 * rb * dents
        mouth = np.hypot((u + length / 2) / (0.5 * rb), v / rb)
        body = cv.edge(r - np.abs(v)) * cv.edge(np.minimum(t, 1 - t) * length)
        alpha = np.maximum(body, cv.edge((1 - mouth) * 0.5 * rb))
        inside = mouth < 0.85 + 0.05 * dents
        height = 0.2 * r + 0.7 * np.sqrt(np.maximum(r * r - v * v, 0))
        seam = np.arcsin(np.clip(v / r, -1, 1)) * (6 / np.pi)  # 12 stringers round the cone
    else:
        lean = rng.uniform(0, 0.3) * (rb - rs)
        t = np.zeros_like(u)
        for _ in range(3):  # fixed point: which ring of the leaning cone passes over this pixel
            t = np.clip((rb + 0.05 * rb * dents - np.hypot(u - t * lean, v)) / (rb - rs), 0, 1)
        inside = t + 0.06 * dents > rng.uniform(0.6, 0.95)
        alpha, height = cv.edge(rb - np.hypot(u, v)), length * t
        seam = np.arctan2(v, u - t * lean) * (6 / np.pi)
    beta = rng.uniform(0, 2 * np.pi)  # the side that hit first: broken in, its skin partly torn away
    along = (u * math.cos(beta) + v * math.sin(beta)) / rb
    broken = along + 0.3 * _noise(rng, n, 0.3 * rb * cv.k, 2) > rng.uniform(0.5, 0.9)
    inside |= broken
    alpha *= 1 - 0.9 * (broken & (_noise(rng, n, 0.2 * rb * cv.k) > 0.5))
    height = np.where(inside, 0.5 * height, height) * alpha
    streaks = cv2.remap(rng.standard_normal((8, 96), dtype=np.float32), (seam + 6) * 8, t * 7, cv2.INTER_CUBIC,
                        borderMode=cv2.BORDER_WRAP)  # char streaks run along the cone, the way the entry flow went
    scorch = np.clip((streaks + 0.5 * _noise(rng, n, 0.1 * rb * cv.k, 2) - 1.0) * 2, 0, 0.7)
    stringer = np.abs(seam % 1 - 0.5) > 0.46
    albedo = _SHELL * (1 + 0.04 * dents) * np.where(stringer, np.float32(0.88), np.float32(1))
    albedo += scorch * (_TPS - albedo)
    grime = 0.7 + 0.3 * _noise(rng, n, 0.05 * rb * cv.k)
    albedo = np.where(inside, np.where(stringer, _SHELL * 0.6, _TPS * grime), albedo)  # torn insulation, bare frame
    albedo += rng.uniform(0.05, 0.3) * (_DUST - albedo)

    du, dv = dc.grid(angle)
    decal = np.zeros((4, dc.px, dc.px), np.float32)
    scuff = 1 - np.hypot(du, dv) / (1.6 * rb * (1 + 0.25 * _noise(rng, dc.px, 0.6 * rb * dc.k, 2)))
    _paint(decal, _SOIL, 0.25 * np.sqrt(np.clip(scuff, 0, 1)))
    for colour in (_SHELL, _TPS):  # fragments thrown out mostly on the broken side
        bits = []
        for _ in range(rng.integers(2, 8)):
            d, w = rb * rng.uniform(1.1, 3.0), beta + rng.normal(0, 0.8)
            piece = _blob(rng, rng.uniform(0.05, 0.3), 0.4, 0.3, rng.uniform(1, 3))
            bits.append(piece + d * np.array([math.cos(w), math.sin(w)]))
        _paint(decal, colour, 0.9 * dc.mask(bits, angle))
    return _finish(sun, cv, albedo, alpha, height, dc, decal)


def _heat_shield(rng: np.random.Generator, gsd_m: float, sun: Sun) -> Sprite:
    """Heat shield, a 4.5 m shallow cone: tan-brown PICA tiles (or its light inner structure when it lies face
    down), round or elliptical when tilted, partly buried; its impact mark (dark ground, ejecta) in the decal."""
    r, tilt, mark = 2.25 * rng.uniform(0.85, 1.15), rng.uniform(0, 0.7), rng.uniform(3, 6)  # m, rad, m
    angle, inside_up = rng.uniform(0, 2 * np.pi), rng.random() < 0.3
    cv, dc = _canvases(gsd_m, 2 * r, 1.05 * r, 1.4 * mark)
    n, (u, v) = cv.px, cv.grid(angle)
    y = v / math.cos(tilt)  # the disc's own frame: tilted about u, so v is foreshortened
    rho = np.hypot(u, y) / r
    # its low side dips into the ground: metres along the disc above the wavy line where regolith covers it
    exposed = y + r * rng.uniform(-0.1, 1.5) + 0.06 * r * _noise(rng, n, 0.4 * r * cv.k, 2)
    alpha = cv.edge((1 - rho) * r * math.cos(tilt)) * np.clip(0.5 + exposed / 0.2, 0, 1)
    cone = 0.36 * r * (rho if inside_up else 1 - rho)  # 70 degree sphere-cone: ~0.36 r deep
    lip = 0.04 * r * np.exp(-(((rho - 0.96) / 0.03) ** 2))  # the rim catches light on the sun side
    height = (cone + lip + np.maximum(exposed, 0) * math.sin(tilt)) * alpha

    mottle = 1 + 0.1 * _noise(rng, n, 0.3 * r * cv.k, 2)
    if inside_up:  # ribs and rings of the support structure
        rib = (np.abs((np.arctan2(y, u) * (8 / np.pi)) % 1 - 0.5) > 0.47) | (np.abs(rho - 0.6) < 0.02)
        albedo = _STRUCTURE * mottle * np.where(rib, np.float32(0.75), np.float32(1))
    else:  # PICA tiles: each a little different, dark filler between, charred most at the centre
        ix, iy = np.floor(u / _TILE_M).astype(np.int32), np.floor(y / _TILE_M).astype(np.int32)
        shade = 0.95 + 0.08 * (((ix * 73856093) ^ (iy * 19349663)) % 1000).astype(np.float32) / 1000
        to_gap = np.minimum(np.abs(u / _TILE_M - np.round(u / _TILE_M)), np.abs(y / _TILE_M - np.round(y / _TILE_M)))
        shade *= np.where(to_gap * _TILE_M * cv.k < 0.6, np.float32(0.88), np.float32(1)) * (0.8 + 0.2 * rho)
        albedo = _PICA * rng.uniform(0.75, 1.3) * mottle * shade
    albedo += np.clip(1 - exposed / 0.3, rng.uniform(0, 0.3), 0.8) * (_DUST - albedo)  # dusty, most by the buried edge

    du, dv = dc.grid(angle)
    dist, th = cv2.cartToPolar(du, dv)
    decal = np.zeros((4, dc.px, dc.px), np.float32)
    blotch = _noise(rng, dc.px, 0.3 * mark * dc.k, 3)
    # smoothstep over the outer 40%: a steeper edge reads as a painted circle, not disturbed ground
    ramp = np.clip((1 - dist / (mark * (1 + 0.35 * blotch))) / 0.4, 0, 1)
    _paint(decal, _SOIL, 0.45 * ramp * ramp * (3 - 2 * ramp))
    _paint(decal, _SOIL * 0.9, 0.3 * _rays(rng, th, dist, 14, 1.4 * mark) * np.clip(0.6 + 0.6 * blotch, 0, 1))
    _paint(decal, _DUST * 1.1, 0.25 * _rays(rng, th, dist, 8, 1.2 * mark) * np.clip(0.6 - 0.6 * blotch, 0, 1))
    return _finish(sun, cv, albedo, alpha, height, dc, decal)


def _descent_stage(rng: np.random.Generator, gsd_m: float, sun: Sun) -> Sprite:
    """Crashed sky crane: an irregular dark blast zone 10-30 m wide streaked by darker and brighter rays, with ~3 m
    of bright crumpled metal at its centre; the object is the dark core and the metal, the long faint rays decal."""
    zone, angle = rng.uniform(5, 15), rng.uniform(0, 2 * np.pi)  # blast zone radius, m
    cv, dc = _canvases(gsd_m, 2 * zone, 1.3 * zone, 2.6 * zone)
    n, (u, v) = cv.px, cv.grid(angle)
    rho, th = cv2.cartToPolar(u, v)
    blotch, streaky = _noise(rng, n, 0.4 * zone * cv.k, 3), np.clip(0.7 + 0.8 * _noise(rng, n, 0.1 * zone * cv.k), 0, 1)
    dark = _rays(rng, th, rho, 40, 1.0 * zone) * streaky
    bright = _rays(rng, th, rho, 15, 0.8 * zone) * streaky
    # the blotch noise has long tails: keep the radius scale positive, or rho / 0 gives inf and NaN
    core = np.clip(1 - rho / (0.7 * zone * np.maximum(1 + 0.25 * blotch, 0.1)), 0, 1) + 0.3 * dark
    alpha = 0.9 * np.clip(core / 0.3, 0, 1) ** 2  # some ground shows through the darkened soil
    albedo = _SOIL * (0.85 + 0.15 * blotch) * (1 - 0.3 * dark)
    albedo += 0.4 * bright * (_DUST - albedo)

    # crumpled metal within 2.7 m of the centre: jagged sheets, each a creased facet of its own tilt and colour
    count = rng.integers(4, 10)
    sheets = [_blob(rng, rng.uniform(0.2, 0.7), 0.5, 0.3, rng.uniform(1, 3)) + rng.uniform(-1, 1, 2)
              for _ in range(count)]
    label = np.zeros((n, n), np.uint8)
    for i, p in enumerate(cv.points(sheets, angle)):
        cv2.fillPoly(label, [p], i + 1, cv2.LINE_8, 4)
    palette = (_METALS[rng.choice(3, count + 1, p=[0.55, 0.25, 0.2])] * rng.uniform(0.8, 1.1, (count + 1, 1))).T
    plane = rng.normal(0, 0.5, (count + 1, 3)) * [1, 1, 0] + [0, 0, 1] * rng.uniform(0.2, 1.0, (count + 1, 1))
    metal, height = cv.mask(sheets, angle), np.zeros_like(u)
    box = slice(max(0, (n - 1) // 2 - math.ceil(2.7 * cv.k)), (n - 1) // 2 + math.ceil(2.7 * cv.k) + 1)
    lab, m, bu, bv = label[box, box], metal[box, box], u[box, box], v[box, box]
    crease = 0.1 * np.abs(_noise(rng, m.shape[0], 0.3 * cv.k, 2))
    height[box, box] = m * (np.maximum(plane[lab, 0] * bu + plane[lab, 1] * bv + plane[lab, 2], 0.05) + crease)
    albedo[:, box, box] += m * (palette.astype(np.float32)[:, lab] - albedo[:, box, box])

    du, dv = dc.grid(angle)
    dist, dth = cv2.cartToPolar(du, dv)
    decal = np.zeros((4, dc.px, dc.px), np.float32)
    halo = 1 - dist / (1.2 * zone * (1 + 0.2 * _noise(rng, dc.px, 0.4 * zone * dc.k, 2)))
    _paint(decal, _SOIL, 0.35 * np.clip(halo, 0, 1))
    streaky = np.clip(0.7 + 0.8 * _noise(rng, dc.px, 0.15 * zone * dc.k), 0, 1)
    _paint(decal, _SOIL * 0.9, 0.3 * _rays(rng, dth, dist, 25, 2.0 * zone) * streaky)
    return _finish(sun, cv, albedo, np.maximum(alpha, metal), height, dc, decal, shine=0.8 * metal)


def _debris(rng: np.random.Generator, gsd_m: float, sun: Sun) -> Sprite:
    """A 0.1-1 m piece: crinkled thermal blanket (gold, silver or white foil), a wad of netting, or a bent metal
    strip; bright, with a small shadow."""
    size, kind, angle = rng.uniform(0.1, 1.0), rng.integers(3), rng.uniform(0, 2 * np.pi)
    cv, dc = _canvases(gsd_m, size, 0.55 * size, 0.0)
    n, (u, v) = cv.px, cv.grid(angle)
    crinkle = np.abs(_noise(rng, n, 0.04 * cv.k, 2))  # creases a few cm apart, whatever the piece's size
    if kind == 2:  # bent strip: a few straight runs at random bends
        heading = np.cumsum(rng.normal(0, 0.6, 4))
        path = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], 1) * size / 4, 0)
        alpha = cv.mask([path - path.mean(0)], angle, width_m=size * rng.uniform(0.08, 0.2))
        colour, shine, crinkle = _rgb(*[rng.uniform(0.55, 0.8)] * 3), 0.5, 0.3 * crinkle  # dented, not crinkled
    else:
        aspect = rng.uniform(1, 2)
        alpha = cv.mask([_blob(rng, size / 2 / math.sqrt(aspect), 0.35, 0.25, aspect)], angle)
        colour, shine = _FOIL[rng.integers(3)], 0.4
        if kind == 1:  # netting: cords every few cm, bunched thick enough to stay mostly opaque
            mesh = (np.abs(np.sin(np.pi * (u + v) / 0.05)) < 0.3) | (np.abs(np.sin(np.pi * (u - v) / 0.05)) < 0.3)
            alpha *= 0.6 + 0.4 * mesh
            colour, shine = _rgb(0.85, 0.82, 0.76), 0.0
    height = alpha * (0.1 * size + 0.015 * crinkle)
    albedo = colour * (0.9 + 0.1 * crinkle)
    return _finish(sun, cv, albedo, alpha, height, dc, np.zeros((4, dc.px, dc.px), np.float32), shine)


_RENDERERS = dict(zip(CLASS_NAMES, (_parachute, _backshell, _heat_shield, _descent_stage, _debris)))


def render_sprite(rng: np.random.Generator, class_name: str, gsd_m: float, sun: Sun) -> Sprite:
    """Draw one object of class_name at gsd_m metres per pixel, lit by sun. Its state, size (+-15 %) and rotation
    come from rng, so the same rng state and arguments give the same arrays."""
    if class_name not in _RENDERERS:
        raise ValueError(f"unknown hardware class {class_name!r}; expected one of {', '.join(CLASS_NAMES)}")
    if not gsd_m > 0:
        raise ValueError(f"gsd_m must be > 0, got {gsd_m}")
    return _RENDERERS[class_name](rng, gsd_m, sun)
