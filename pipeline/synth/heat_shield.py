"""The heat shield: a 4.5 m disc in one of its families (see families.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from debris.synth.canvas import canvases, noise, paint, rays, rgb
from debris.synth.sprite import DUST, SOIL, Sprite, finish
from debris.synth.sun import Sun

_PICA, _STRUCTURE, _TILE_M = rgb(0.40, 0.31, 0.22), rgb(0.64, 0.62, 0.57), 0.45  # heat shield outside, inside


def heat_shield(rng: np.random.Generator, gsd_m: float, sun: Sun, family: str, clip=None) -> Sprite:
    """Heat shield, a 4.5 m shallow cone: charred tan-brown PICA tiles (`outer_face`) or its bright inner structure
    (`inner_face`), round or elliptical when tilted (`low_angle`: nearly on edge), partly buried (`half_buried`:
    mostly), `cracked` with dark cracks and a missing piece; its impact mark (dark ground, ejecta) in the decal."""
    r, mark = 2.25 * rng.uniform(0.85, 1.15), rng.uniform(3, 6)  # m
    tilt = rng.uniform(0.9, 1.3) if family == "low_angle" else rng.uniform(0, 0.7)  # rad
    angle = rng.uniform(0, 2 * np.pi)
    inside_up = family == "inner_face" or (family not in ("outer_face", "inner_face") and rng.random() < 0.3)
    cv, dc = canvases(gsd_m, 2 * r, 1.05 * r, 1.4 * mark)
    n, (u, v) = cv.px, cv.grid(angle)
    y = v / math.cos(tilt)  # the disc's own frame: tilted about u, so v is foreshortened
    rho = np.hypot(u, y) / r
    # its low side dips into the ground: metres along the disc above the wavy line where regolith covers it
    buried = rng.uniform(-0.5, 0.1) if family == "half_buried" else rng.uniform(-0.1, 1.5)
    exposed = y + r * buried + 0.06 * r * noise(rng, n, 0.4 * r * cv.k, 2)
    alpha = cv.edge((1 - rho) * r * math.cos(tilt)) * np.clip(0.5 + exposed / 0.2, 0, 1)
    cone = 0.36 * r * (rho if inside_up else 1 - rho)  # 70 degree sphere-cone: ~0.36 r deep
    lip = 0.04 * r * np.exp(-(((rho - 0.96) / 0.03) ** 2))  # the rim catches light on the sun side
    height = (cone + lip + np.maximum(exposed, 0) * math.sin(tilt)) * alpha

    mottle = 1 + 0.1 * noise(rng, n, 0.3 * r * cv.k, 2)
    if inside_up:  # ribs and rings of the support structure
        rib = (np.abs((np.arctan2(y, u) * (8 / np.pi)) % 1 - 0.5) > 0.47) | (np.abs(rho - 0.6) < 0.02)
        albedo = _STRUCTURE * mottle * np.where(rib, np.float32(0.75), np.float32(1))
    else:  # PICA tiles: each a little different, dark filler between, charred most at the centre
        ix, iy = np.floor(u / _TILE_M).astype(np.int32), np.floor(y / _TILE_M).astype(np.int32)
        shade = 0.95 + 0.08 * (((ix * 73856093) ^ (iy * 19349663)) % 1000).astype(np.float32) / 1000
        to_gap = np.minimum(np.abs(u / _TILE_M - np.round(u / _TILE_M)), np.abs(y / _TILE_M - np.round(y / _TILE_M)))
        shade *= np.where(to_gap * _TILE_M * cv.k < 0.6, np.float32(0.88), np.float32(1)) * (0.8 + 0.2 * rho)
        char = rng.uniform(0.75, 1.3) if family in ("outer_face", "inner_face") else rng.uniform(0.45, 1.3)
        albedo = _PICA * char * mottle * shade
    if family == "cracked":  # broken on impact: dark cracks from a point on the rim, one piece gone
        hit, cracks = rng.uniform(0, 2 * np.pi), []
        for _ in range(rng.integers(3, 8)):
            heading = hit + math.pi + rng.normal(0, 0.6) + np.cumsum(rng.normal(0, 0.3, 8))
            steps = np.stack([np.cos(heading), np.sin(heading)], 1) * r * rng.uniform(0.1, 0.3)
            cracks.append(r * np.array([math.cos(hit), math.sin(hit)]) + np.cumsum(steps, 0))
        crack = cv.mask(cracks, angle, width_m=rng.uniform(0.03, 0.1))
        albedo *= 1 - 0.7 * crack
        edge = 0.2 * noise(rng, n, 0.3 * r * cv.k, 2)  # a ragged break
        gone = (u * math.cos(hit) + v * math.sin(hit)) / r + edge > rng.uniform(0.5, 0.9)
        alpha *= ~gone
        height *= ~gone
    albedo += np.clip(1 - exposed / 0.3, rng.uniform(0, 0.3), 0.8) * (DUST - albedo)  # dusty, most by the buried edge

    du, dv = dc.grid(angle)
    dist, th = cv2.cartToPolar(du, dv)
    decal = np.zeros((4, dc.px, dc.px), np.float32)
    blotch = noise(rng, dc.px, 0.3 * mark * dc.k, 3)
    # smoothstep over the outer 40%: a steeper edge reads as a painted circle, not disturbed ground
    ramp = np.clip((1 - dist / (mark * (1 + 0.35 * blotch))) / 0.4, 0, 1)
    paint(decal, SOIL, 0.45 * ramp * ramp * (3 - 2 * ramp))
    paint(decal, SOIL * 0.9, 0.3 * rays(rng, th, dist, 14, 1.4 * mark) * np.clip(0.6 + 0.6 * blotch, 0, 1))
    paint(decal, DUST * 1.1, 0.25 * rays(rng, th, dist, 8, 1.2 * mark) * np.clip(0.6 - 0.6 * blotch, 0, 1))
    return finish(sun, cv, albedo, alpha, height, dc, decal, clip=clip)
