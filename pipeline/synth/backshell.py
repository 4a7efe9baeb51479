"""The backshell: a 4.5 m cone in one of its families (see families.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from debris.synth.canvas import blob, canvases, noise, paint, rgb
from debris.synth.sprite import DUST, SOIL, Sprite, finish
from debris.synth.sun import Sun

SHELL, TPS = rgb(0.80, 0.79, 0.76), rgb(0.24, 0.22, 0.20)  # backshell skin; charred thermal protection


def backshell(rng: np.random.Generator, gsd_m: float, sun: Sun, family: str, clip=None) -> Sprite:
    """Backshell, a 4.5 m cone 2.5 m tall, lying `on_side` (a trapezoid ending in its open big end), `upright` with
    its top torn off (a ring round a dark inside), `crushed` flat, or with the parachute's lines still attached
    (`with_lines`); light grey skin streaked with charred thermal protection, broken in on one side, its stringers
    showing; bright fragments and scuffed ground in the decal."""
    sc, angle = rng.uniform(0.85, 1.15), rng.uniform(0, 2 * np.pi)
    on_side = family == "on_side" or (family in ("crushed", "with_lines") and rng.random() < 0.5)
    crushed = family == "crushed"
    rb, rs, length = 2.25 * sc, 0.8 * sc, 2.5 * sc * (rng.uniform(0.3, 0.6) if crushed else 1)  # m
    lines_m = rng.uniform(8, 20) if family == "with_lines" else 0.0
    cv, dc = canvases(gsd_m, 2 * rb, (1.5 if on_side else 1.05) * rb, max(3.2 * rb, lines_m))
    n, (u, v) = cv.px, cv.grid(angle)
    dents = noise(rng, n, 0.4 * rb * cv.k, 2) * (3 if crushed else 1)
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
    if crushed:  # flattened: a wider, lumpier outline, low
        height = 0.5 * height * (1 + 0.3 * dents)
    beta = rng.uniform(0, 2 * np.pi)  # the side that hit first: broken in, its skin partly torn away
    along = (u * math.cos(beta) + v * math.sin(beta)) / rb
    threshold = rng.uniform(0.1, 0.5) if crushed else rng.uniform(0.5, 0.9)  # crushed: broken over most of it
    broken = along + 0.3 * noise(rng, n, 0.3 * rb * cv.k, 2) > threshold
    inside |= broken
    alpha *= 1 - 0.9 * (broken & (noise(rng, n, 0.2 * rb * cv.k) > 0.5))
    height = np.where(inside, 0.5 * height, height) * alpha
    streaks = cv2.remap(rng.standard_normal((8, 96), dtype=np.float32), (seam + 6) * 8, t * 7, cv2.INTER_CUBIC,
                        borderMode=cv2.BORDER_WRAP)  # char streaks run along the cone, the way the entry flow went
    scorch = np.clip((streaks + 0.5 * noise(rng, n, 0.1 * rb * cv.k, 2) - 1.0) * 2, 0, 0.7)
    stringer = np.abs(seam % 1 - 0.5) > 0.46
    albedo = SHELL * (1 + 0.04 * dents) * np.where(stringer, np.float32(0.88), np.float32(1))
    albedo += scorch * (TPS - albedo)
    grime = 0.7 + 0.3 * noise(rng, n, 0.05 * rb * cv.k)
    albedo = np.where(inside, np.where(stringer, SHELL * 0.6, TPS * grime), albedo)  # torn insulation, bare frame
    albedo += rng.uniform(0.05, 0.3) * (DUST - albedo)

    du, dv = dc.grid(angle)
    decal = np.zeros((4, dc.px, dc.px), np.float32)
    scuff = 1 - np.hypot(du, dv) / (1.6 * rb * (1 + 0.25 * noise(rng, dc.px, 0.6 * rb * dc.k, 2)))
    paint(decal, SOIL, 0.25 * np.sqrt(np.clip(scuff, 0, 1)))
    for colour in (SHELL, TPS):  # fragments thrown out mostly on the broken side
        bits = []
        for _ in range(rng.integers(2, 8)):
            d, w = rb * rng.uniform(1.1, 3.0), beta + rng.normal(0, 0.8)
            piece = blob(rng, rng.uniform(0.05, 0.3), 0.4, 0.3, rng.uniform(1, 3))
            bits.append(piece + d * np.array([math.cos(w), math.sin(w)]))
        paint(decal, colour, 0.9 * dc.mask(bits, angle))
    if lines_m:  # the parachute's suspension lines, still tied on, run off to one side and fan out
        phi, s = rng.uniform(0, 2 * np.pi), np.linspace(0, 1, 12)[:, None]
        lines = [s * lines_m * np.array([math.cos(p), math.sin(p)]) + rng.normal(0, 0.05, (12, 2)) * np.sin(np.pi * s)
                 for p in phi + rng.uniform(0.05, 0.3) * np.linspace(-1, 1, int(rng.integers(10, 30)))]
        paint(decal, rgb(0.80, 0.78, 0.72), 0.85 * dc.mask(lines, angle, width_m=0.03))
    return finish(sun, cv, albedo, alpha, height, dc, decal, clip=clip)
