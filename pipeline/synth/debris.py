"""Debris: a 5 cm to 1.5 m piece of hardware in one of its families (see families.py)."""

from __future__ import annotations

import math

import numpy as np

from debris.synth.canvas import blob, canvases, noise, rgb
from debris.synth.sprite import Sprite, finish
from debris.synth.sun import Sun

_FOIL = (rgb(0.90, 0.72, 0.38), rgb(0.82, 0.83, 0.85), rgb(0.92, 0.91, 0.88))  # gold, silver, white


def debris(rng: np.random.Generator, gsd_m: float, sun: Sun, family: str, clip=None) -> Sprite:
    """A piece of crinkled thermal blanket (`foil`: gold, silver or white), a wad of `netting`, a bent `metal_strip`,
    a matte `white_blanket` sheet, an angular `dark_composite` shard or a glinting `metal_chunk`; with a small
    shadow. The original three are 0.1-1 m; the others 5 cm to 1.5 m."""
    classic = family in ("foil", "netting", "metal_strip")
    size = rng.uniform(0.1, 1.0) if classic else math.exp(rng.uniform(math.log(0.05), math.log(1.5)))
    angle = rng.uniform(0, 2 * np.pi)
    cv, dc = canvases(gsd_m, size, 0.55 * size, 0.0)
    n, (u, v) = cv.px, cv.grid(angle)
    crinkle = np.abs(noise(rng, n, 0.04 * cv.k, 2))  # creases a few cm apart, whatever the piece's size
    aspect = rng.uniform(1, 2)
    if family == "metal_strip":  # a few straight runs at random bends
        heading = np.cumsum(rng.normal(0, 0.6, 4))
        path = np.cumsum(np.stack([np.cos(heading), np.sin(heading)], 1) * size / 4, 0)
        alpha = cv.mask([path - path.mean(0)], angle, width_m=size * rng.uniform(0.08, 0.2))
        colour, shine, crinkle = rgb(*[rng.uniform(0.55, 0.8)] * 3), 0.5, 0.3 * crinkle  # dented, not crinkled
    elif family in ("dark_composite", "metal_chunk"):  # angular: few corners, straight broken edges
        alpha = cv.mask([blob(rng, size / 2 / math.sqrt(aspect), 0.2, 0.5, aspect, n=int(rng.integers(4, 8)))], angle)
        dark = family == "dark_composite"
        grey = rng.uniform(0.08, 0.25) if dark else rng.uniform(0.5, 0.85)
        colour, shine, crinkle = rgb(grey, grey * 0.97, grey * 0.94), 0.1 if dark else 0.7, 0.2 * crinkle
    else:
        alpha = cv.mask([blob(rng, size / 2 / math.sqrt(aspect), 0.35, 0.25, aspect)], angle)
        colour, shine = _FOIL[rng.integers(3)], 0.4
        if family == "white_blanket":  # matte multi-layer insulation, dust on it
            colour, shine = rgb(*(rng.uniform(0.75, 0.92) * np.array([1.0, 0.97, 0.92]))), 0.05
        if family == "netting":  # cords every few cm, bunched thick enough to stay mostly opaque
            mesh = (np.abs(np.sin(np.pi * (u + v) / 0.05)) < 0.3) | (np.abs(np.sin(np.pi * (u - v) / 0.05)) < 0.3)
            alpha *= 0.6 + 0.4 * mesh
            colour, shine = rgb(0.85, 0.82, 0.76), 0.0
    height = alpha * (0.1 * size + 0.015 * crinkle)
    albedo = colour * (0.9 + 0.1 * crinkle)
    return finish(sun, cv, albedo, alpha, height, dc, np.zeros((4, dc.px, dc.px), np.float32), shine, clip=clip)
