"""The descent stage: the crashed sky crane in one of its families (see families.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from debris.synth.canvas import blob, canvases, noise, paint, rays
from debris.synth.sprite import DUST, SOIL, Sprite, finish
from debris.synth.sun import Sun

METALS = np.array([[0.80, 0.80, 0.80], [0.85, 0.67, 0.33], [0.32, 0.31, 0.30]], np.float32)  # bare, foil, char


def descent_stage(rng: np.random.Generator, gsd_m: float, sun: Sun, family: str, clip=None) -> Sprite:
    """Crashed sky crane: crumpled bright metal at the centre of an irregular dark `blast_zone` 10-30 m wide streaked
    by darker and brighter rays (the object is the dark core and the metal, the long faint rays decal); or the
    `wreck_only`, no blast zone; or a `scattered` wreck, many more sheets spread wider over a faint zone."""
    zone, angle = rng.uniform(5, 15), rng.uniform(0, 2 * np.pi)  # blast zone radius, m
    spread = {"blast_zone": 1.0, "wreck_only": rng.uniform(1.0, 2.0), "scattered": rng.uniform(2.0, 4.0)}[family]
    if family != "blast_zone":  # the object is the wreck: its canvas fits the metal, not the zone
        zone = 2.7 * spread
    cv, dc = canvases(gsd_m, 2 * zone, 1.3 * zone, 2.6 * zone)
    n, (u, v) = cv.px, cv.grid(angle)
    rho, th = cv2.cartToPolar(u, v)
    blotch, streaky = noise(rng, n, 0.4 * zone * cv.k, 3), np.clip(0.7 + 0.8 * noise(rng, n, 0.1 * zone * cv.k), 0, 1)
    dark = rays(rng, th, rho, 40, 1.0 * zone) * streaky
    bright = rays(rng, th, rho, 15, 0.8 * zone) * streaky
    # the blotch noise has long tails: keep the radius scale positive, or rho / 0 gives inf and NaN
    core = np.clip(1 - rho / (0.7 * zone * np.maximum(1 + 0.25 * blotch, 0.1)), 0, 1) + 0.3 * dark
    alpha = 0.9 * np.clip(core / 0.3, 0, 1) ** 2  # some ground shows through the darkened soil
    if family != "blast_zone":
        alpha *= 0.0
    albedo = SOIL * (0.85 + 0.15 * blotch) * (1 - 0.3 * dark)
    albedo += 0.4 * bright * (DUST - albedo)

    # crumpled metal: jagged sheets, each a creased facet of its own tilt and colour
    count = rng.integers(4, 10) if family == "blast_zone" else rng.integers(6, 20)
    big = 0.7 if family == "blast_zone" else 1.2  # largest sheet radius, m: deck panels stay whole in some wrecks
    sheets = [blob(rng, rng.uniform(0.2, big), 0.5, 0.3, rng.uniform(1, 3)) + rng.uniform(-1, 1, 2) * spread
              for _ in range(count)]
    label = np.zeros((n, n), np.uint8)
    for i, p in enumerate(cv.points(sheets, angle)):
        cv2.fillPoly(label, [p], i + 1, cv2.LINE_8, 4)
    palette = (METALS[rng.choice(3, count + 1, p=[0.55, 0.25, 0.2])] * rng.uniform(0.8, 1.1, (count + 1, 1))).T
    plane = rng.normal(0, 0.5, (count + 1, 3)) * [1, 1, 0] + [0, 0, 1] * rng.uniform(0.2, 1.0, (count + 1, 1))
    metal, height = cv.mask(sheets, angle), np.zeros_like(u)
    reach = (spread + big) * 1.35
    box = slice(max(0, (n - 1) // 2 - math.ceil(reach * cv.k)), (n - 1) // 2 + math.ceil(reach * cv.k) + 1)
    lab, m, bu, bv = label[box, box], metal[box, box], u[box, box], v[box, box]
    crease = 0.1 * np.abs(noise(rng, m.shape[0], 0.3 * cv.k, 2))
    height[box, box] = m * (np.maximum(plane[lab, 0] * bu + plane[lab, 1] * bv + plane[lab, 2], 0.05) + crease)
    albedo[:, box, box] += m * (palette.astype(np.float32)[:, lab] - albedo[:, box, box])

    du, dv = dc.grid(angle)
    dist, dth = cv2.cartToPolar(du, dv)
    decal = np.zeros((4, dc.px, dc.px), np.float32)
    halo = 1 - dist / (1.2 * zone * (1 + 0.2 * noise(rng, dc.px, 0.4 * zone * dc.k, 2)))
    faint = 1.0 if family == "blast_zone" else (0.0 if family == "wreck_only" else 0.5)
    paint(decal, SOIL, 0.35 * faint * np.clip(halo, 0, 1))
    streaky = np.clip(0.7 + 0.8 * noise(rng, dc.px, 0.15 * zone * dc.k), 0, 1)
    paint(decal, SOIL * 0.9, 0.3 * faint * rays(rng, dth, dist, 25, 2.0 * zone) * streaky)
    return finish(sun, cv, albedo, np.maximum(alpha, metal), height, dc, decal, shine=0.8 * metal, clip=clip)
