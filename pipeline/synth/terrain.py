"""Synthetic Martian ground seen from above, at any scale from rover close-ups to orbit.

The ground is a height field in metres (fractal relief, craters, ripples or dunes, bedrock plates, rocks, wheel
tracks, hard negatives) plus an albedo map, sampled at gsd_m metres per pixel, then lit by the Sun with the one
light model of lighting.py. Sizes follow Mars statistics (Golombek rock abundance, crater counts
N(>D) ~ D^-2), so every scale shows the same world. The terrain family (families.py) picks the ground's kind.
"""

from __future__ import annotations

import cv2
import numpy as np

from debris.synth.lighting import cast_shadow, shade, slopes
from debris.synth.negatives import add_hard_negatives, add_tracks
from debris.synth.relief import add_rocks, fractal, unit, window
from debris.synth.sun import Sun

# sRGB regolith from dusty butterscotch through ochre and reddish brown to dark basaltic sand
PALETTE = np.array([[0.66, 0.50, 0.36], [0.62, 0.45, 0.32], [0.56, 0.40, 0.27], [0.45, 0.30, 0.22],
                    [0.38, 0.30, 0.25], [0.33, 0.28, 0.25]], np.float32)

def _add_craters(rng: np.random.Generator, height: np.ndarray, lum: np.ndarray, gsd_m: float) -> np.ndarray:
    """Craters 0.5-60 m across, N(>D) ~ D^-2, each degraded its own amount, into `height` (m) and `lum`, in place.
    Returns (H, W) in [0, 1]: the floors of old, filled craters, where wind-blown sand gathers into ripples."""
    (h, w), floor = height.shape, np.zeros_like(height)
    d_min, d_max, pad = max(0.5, 4 * gsd_m), 60.0, 30.0 / gsd_m  # big craters centred off-frame still show rims
    per_m2 = np.exp(rng.uniform(np.log(1e-3), np.log(1e-2)))  # craters wider than 1 m; ~3e-3 at Ares Vallis
    n = min(rng.poisson(per_m2 * (w + 2 * pad) * (h + 2 * pad) * gsd_m**2 * (d_min**-2 - d_max**-2)), 6000)
    diam = np.sort((d_min**-2 - rng.random(n) * (d_min**-2 - d_max**-2)) ** -0.5)[::-1]  # young small ones on top
    centres = rng.uniform([-pad, -pad], [w + pad, h + pad], (n, 2))
    draws = rng.random((n, 6)).tolist()  # python floats keep the float32 maths below in float32
    # an irregular outline: radius times 1 + harmonics 2..6 of the azimuth, tabulated per crater
    azimuths = np.linspace(-np.pi, np.pi, 65)
    shapes = np.cos(np.outer(np.arange(2, 7), azimuths)[None] + rng.uniform(0, 2 * np.pi, (n, 5, 1)))
    shapes = 1 + np.einsum("nk,nka->na", rng.uniform(0, 0.12, (n, 5)) / np.arange(1, 6), shapes)
    for d, (cx, cy), shape, (fresh, e, spin, flat, fill, dust) in zip(diam.tolist(), centres.tolist(), shapes, draws):
        r_px, m = d / 2 / gsd_m, int(d / gsd_m * 1.25) + 2
        if (win := window(int(cx) - m, int(cy) - m, 2 * m + 1, (h, w))) is None:
            continue
        (rows, cols), c, s = win[0], np.cos(spin * np.pi) / r_px, np.sin(spin * np.pi) / r_px
        dy = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None] - cy
        dx = np.arange(cols.start, cols.stop, dtype=np.float32) - cx
        u, v = dx * c + dy * s, (dy * c - dx * s) / (0.8 + 0.2 * e)
        r = np.sqrt(u * u + v * v) / np.interp(np.arctan2(v, u), azimuths, shape).astype(np.float32)
        depth, rim = d * (0.02 + 0.18 * fresh), d * (0.004 + 0.036 * fresh)  # fresh: depth/D 0.2, rim/D 0.04
        flat *= 1 - fresh  # old craters have flat, partly filled floors
        bowl = (depth + rim) * r * r * (1 - flat + flat * r * r) - depth
        bowl = np.maximum(bowl, -depth * (fresh + (1 - fresh) * fill))
        ejecta = np.clip(2.2 - r, 0, 1.2) * (1 / 1.2)
        height[rows, cols] += np.where(r < 1, bowl, rim * ejecta * ejecta * ejecta)
        inner = np.clip(1 - r, 0, 1 / 3) * (3 * (1 - fresh))
        lum[rows, cols] *= 1 + 0.25 * dust * inner  # old floors trap bright dust
        np.maximum(floor[rows, cols], inner, out=floor[rows, cols])
    return floor


def _add_ripples(rng: np.random.Generator, height: np.ndarray, lum: np.ndarray, gsd_m: float, floor: np.ndarray,
                 dunes: bool = False):
    """Sinuous, sharp-crested wind ripples in sand patches and on old crater floors (`floor`, (H, W)), in place.
    Wavelength 5 cm (sand at a rover's wheels) to 5 m (megaripples seen from orbit), kept between 6 px (finer
    ones alias) and a sixth of the frame so that a few crests always show. dunes: everywhere, long and tall."""
    h, w = height.shape
    shortest, longest = max(0.05, 6 * gsd_m), max(min(5.0, max(h, w) * gsd_m / 6), 6 * gsd_m)
    if dunes:
        shortest, longest = max(shortest, longest / 3), max(longest, min(40.0, max(h, w) * gsd_m / 3))
    wavelength = np.exp(rng.uniform(np.log(shortest), np.log(longest))) / gsd_m
    octave = int(np.log2(wavelength * 2))  # patches and bends span wavelengths: any finer, and crests curl up
    where = np.clip(unit(fractal(rng, h, w, 1.0, octave + 3)) * rng.uniform(1, 3) + rng.uniform(-2.5, 0.5), 0, 1)
    if dunes:
        where = np.ones_like(where)
    heading = rng.uniform(0, np.pi)
    phase = np.add.outer(np.arange(h, dtype=np.float32) * np.float32(np.sin(heading) / wavelength),
                         np.arange(w, dtype=np.float32) * np.float32(np.cos(heading) / wavelength))
    phase += np.float32(rng.uniform(0.3, 0.7)) * unit(fractal(rng, h, w, 0.5, octave + 1))  # bends and forks
    crest = (0.5 + 0.5 * np.cos(np.float32(2 * np.pi) * phase)) ** 2 * np.maximum(where, floor)
    height += np.float32(wavelength * gsd_m * rng.uniform(0.05, 0.1) * (2 if dunes else 1)) * crest
    lum *= 1 + np.float32(rng.uniform(-0.05, 0.1)) * crest  # coarse grains gather on the crests


def _add_plates(rng: np.random.Generator, height: np.ndarray, albedo: np.ndarray, gsd_m: float, bare: np.ndarray):
    """Bedrock: polygonal plates 0.5-4 m across (24 px at least: finer, they read as noise, not rock), each its
    own tone and lift, split by dark fractures, showing where `bare` (H, W) is high; into height (m) and albedo
    (H, W, 3), in place."""
    h, w = height.shape
    plate_px = max(24.0, rng.uniform(0.5, 4.0) / gsd_m)
    n = int(min(4000, h * w / plate_px**2)) + 2
    seeds = np.full((h, w), 255, np.uint8)
    seeds[rng.integers(0, h, n), rng.integers(0, w, n)] = 0
    _, labels = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
    tone, lift = rng.uniform(0.94, 1.1, n + 1).astype(np.float32), rng.uniform(0, 0.03, n + 1).astype(np.float32)
    labels = np.minimum(labels, n)  # Voronoi cells of the seeds
    f = labels.astype(np.float32)
    crack = (cv2.dilate(f, np.ones((3, 3), np.uint8)) != cv2.erode(f, np.ones((3, 3), np.uint8))).astype(np.float32)
    albedo *= ((1 + bare * (tone[labels] - 1)) * (1 - 0.15 * crack * bare))[..., None]  # fractures hold dark sand
    height += bare * lift[labels] * np.float32(plate_px * gsd_m) - np.float32(0.02 * plate_px * gsd_m) * crack * bare


def render_terrain(rng: np.random.Generator, height: int, width: int, gsd_m: float, sun: Sun, family: str = "rendered",
                   randomize: float = 0.0) -> np.ndarray:
    """(height, width, 3) float32 RGB in [0, 1]: nadir view of Martian ground at gsd_m metres per pixel.
    family: rendered, dunes, bedrock or gravel (families.py). randomize > 0 adds 1 + Poisson(5 randomize) hard
    negatives (negatives.py) and more rover tracks."""
    hurst = rng.uniform(0.7, 0.9)  # Mars topography is self-affine with H ~ 0.8, and so are the real HiRISE strips
    roughness = np.exp(rng.uniform(np.log(0.08), np.log(0.4)))  # rms slope over 1 m baselines, 5-22 deg
    roughness = min(roughness, 0.4 * gsd_m ** (1 - hurst))  # but soil is not gravel at the pixel scale
    relief = fractal(rng, height, width, hurst, 1) * np.float32(roughness * gsd_m**hurst)
    # dust gathers in the lows, so part of the albedo follows the relief
    mix = rng.uniform(0.1, 0.9) + rng.uniform(0.02, 0.15) * unit(fractal(rng, height, width, 0.8, 3))
    mix = np.clip(mix - np.float32(rng.uniform(0.0, 0.3)) * unit(relief), 0, 1)
    if family == "dunes":  # dark basaltic sand, little dust
        mix *= np.float32(rng.uniform(0.1, 0.5))
    # grain-to-grain contrast averages out in big pixels: ~10% at 3 mm/px, ~3% from orbit
    lum = 1 + np.float32(rng.uniform(0.02, 0.05) * (gsd_m / 0.3) ** -0.25) * unit(fractal(rng, height, width, 0.15))
    floor = _add_craters(rng, relief, lum, gsd_m)
    if family == "dunes" or rng.random() < 0.45:
        _add_ripples(rng, relief, lum, gsd_m, floor, dunes=family == "dunes")
    if rng.random() < 0.2 + 0.3 * randomize:
        add_tracks(rng, relief, lum, gsd_m)
    t = rng.uniform(0.0, 3.0)  # dust from butterscotch to reddish brown; sand a darker, greyer shade of the palette
    dust, dark = (np.float32([np.interp(x, np.arange(len(PALETTE)), c) * rng.uniform(0.97, 1.03) for c in PALETTE.T])
                  for x in (t, rng.uniform(t + 1, len(PALETTE) - 1)))
    albedo = np.multiply.outer(mix, dust - dark)
    albedo += dark
    albedo *= lum[..., None]
    if family == "bedrock":
        _add_plates(rng, relief, albedo, gsd_m, np.clip(1.5 - 1.5 * mix, 0, 1))
    abundance = (0.1, 0.3) if family == "gravel" else (0.02, 0.25)  # gravel: a pavement of pebbles and cobbles
    add_rocks(rng, relief, albedo, gsd_m, dust, bare=1 - 0.7 * mix, abundance=abundance)  # dust mantles hide rocks
    if randomize > 0:
        add_hard_negatives(rng, relief, albedo, gsd_m, 1 + int(rng.poisson(5 * randomize)))
    gx, gy = slopes(relief, gsd_m)
    light = shade(gx, gy, sun, rng.uniform(0.15, 0.35), rng.uniform(0.4, 0.9), cast_shadow(relief, gsd_m, sun))
    albedo *= np.sqrt(light)[..., None]  # sRGB ~ irradiance^(1/2.2): the root is that gamma
    return np.clip(albedo, 0, 1, out=albedo)
