"""The parachute: a 21.5 m disk-gap-band canopy in one of its families (see families.py)."""

from __future__ import annotations

import math

import cv2
import numpy as np

from debris.synth.canvas import blob, canvases, noise, paint, rgb
from debris.synth.sprite import DUST, Sprite, finish
from debris.synth.sun import Sun

_WHITE, _ORANGE, _RED = rgb(0.86, 0.85, 0.81), rgb(0.88, 0.36, 0.12), rgb(0.72, 0.16, 0.12)  # nylon; weathered dyes
_RINGS = (0.12, 0.32, 0.52, 0.74, 0.78)  # canopy radius fractions: white | 3 coded disk rings | gap | coded band
_GAP = 4  # ring index of the gap between disk and band


def _pattern(rng: np.random.Generator, family: str, gores: int) -> tuple[np.ndarray, np.ndarray]:
    """(rings + 1, gores) bool: which panel of each ring is dyed, and the dye colour (3, 1, 1)."""
    rings = len(_RINGS) + 1
    if family == "white":
        return np.zeros((rings, gores), bool), _ORANGE
    if family == "red_white_rings":  # whole rings dyed, alternating
        code = np.repeat((np.arange(rings) % 2 == rng.integers(2))[:, None], gores, 1)
    elif family == "striped":  # every few gores dyed, the same in every ring
        width = int(rng.choice([1, 2, 4]))
        code = np.repeat(((np.arange(gores) // width) % 2 == 0)[None], rings, 0)
    else:  # the binary-coded rings of Mars 2020's canopy
        code = rng.random((rings, gores)) < 0.45
    code[[0, _GAP]] = False
    dye = _RED if family == "red_white_rings" or (family == "striped" and rng.random() < 0.5) else _ORANGE
    return code, dye


def parachute(rng: np.random.Generator, gsd_m: float, sun: Sun, family: str, clip=None) -> Sprite:
    """Disk-gap-band canopy, 21.5 m, white with dyed gores, spread out (round to oval; elongated `edge_on`) or
    folded into a heap (`crumpled`), wrinkled, dusty (`dusty`), `faded`, `torn`, `half_buried`; its suspension
    lines run off one side, converging, in the decal."""
    classic = family == "dgb_orange_white"
    crumpled = family == "crumpled" or (family != "edge_on" and rng.random() < 0.3)
    gores = 80 if classic else int(rng.choice([32, 48, 64, 80, 96]))
    angle, lines_m = rng.uniform(0, 2 * np.pi), rng.uniform(10, 20)
    a = 10.75 * rng.uniform(0.85, 1.15)  # semi-axes a >= b of the spread canopy, m
    b = a / (rng.uniform(2.5, 6.0) if family == "edge_on" else rng.uniform(1.0, 1.7))
    shrink = rng.uniform(0.3, 0.55) if crumpled else 1.0
    cv, dc = canvases(gsd_m, 2 * a * shrink, a * shrink, a * shrink + lines_m)
    n, (u, v) = cv.px, cv.grid(angle)
    rough, jag = (0.25, 0.015) if crumpled else (0.03, 0.003)
    alpha = cv.mask([blob(rng, math.sqrt(a * b) * shrink, rough, jag, a / b, 160)], angle)
    pu = u + 0.04 * a * noise(rng, n, 0.5 * a * shrink * cv.k, 2)  # where on the spread canopy each pixel lies, m
    pv = v + 0.04 * a * noise(rng, n, 0.5 * a * shrink * cv.k, 2)
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
    code, dye = _pattern(rng, family, gores)
    if family == "faded":  # sun-bleached dye, towards the white it was printed on
        dye = dye + rng.uniform(0.4, 0.8) * (_WHITE - dye)
    gore = th * np.float32(gores / (2 * np.pi))
    albedo = np.where(np.take(code, ring * gores + gore.astype(np.int32) % gores), dye, _WHITE)
    albedo *= np.where(np.abs(gore - np.round(gore)) < 0.05, np.float32(0.9), np.float32(1))  # seams between gores
    gap = ring == _GAP  # ground and radial tapes show through between disk and band
    albedo[:, gap] *= 0.85
    alpha *= np.where(gap, np.float32(0.9), np.float32(1))
    if family == "torn":  # ripped panels and holes where the fabric is gone
        alpha *= noise(rng, n, 0.12 * a * shrink * cv.k, 2) < rng.uniform(0.3, 1.0)
    if family == "half_buried":  # drifted sand over one side, a wavy line across the canopy
        w = rng.uniform(0, 2 * np.pi)
        exposed = u * math.cos(w) + v * math.sin(w) + a * shrink * rng.uniform(-0.4, 0.4)
        alpha *= np.clip(0.5 + (exposed + 0.1 * a * noise(rng, n, 0.2 * a * cv.k, 2)) / 0.3, 0, 1)

    # radial folds of a canopy that deflated where it fell, in canopy coordinates so they follow any folding over
    radial = cv2.remap(rng.standard_normal((16, 48), dtype=np.float32), th * (48 / (2 * np.pi)), r * 10,
                       cv2.INTER_CUBIC, borderMode=cv2.BORDER_WRAP)
    crest = np.clip(1 - np.abs(radial) + creases, 0, 1)
    heap = 0.6 * np.clip(1 - np.hypot(u / a, v / b) / shrink, 0, 1) if crumpled else 0
    inset = cv2.distanceTransform((alpha > 0.5).view(np.uint8), cv2.DIST_L2, 3) / np.float32(0.3 * cv.k)
    wrinkles = noise(rng, n, 0.06 * a * cv.k, 2)
    folds = (0.18 if crumpled else 0.25) * np.clip(0.3 + 0.5 * crest + 0.2 * wrinkles, 0.05, None)
    height = alpha * (heap + folds * np.minimum(inset, 1))  # fabric lies flat at its edge, folds rise within 30 cm
    # dust settles in the valleys between folds, the crests stay cleaner
    base = rng.uniform(0.35, 0.7) if family == "dusty" else rng.uniform(-0.3, 0.5)
    dust = np.clip(base + 0.35 * noise(rng, n, 0.3 * a * shrink * cv.k, 2) - 0.3 * crest, 0, 0.85)
    albedo += dust * (DUST - albedo)

    decal = np.zeros((4, dc.px, dc.px), np.float32)
    if classic or rng.random() < 0.7:  # lines cut or buried in some randomised frames
        phi, count = rng.uniform(0, 2 * np.pi), rng.integers(20, 40)
        reach = shrink / math.hypot(math.cos(phi) / a, math.sin(phi) / b) + lines_m  # the confluence, beyond the edge
        tip = reach * np.array([math.cos(phi), math.sin(phi)])
        s, lines = np.linspace(0, 1, 16)[:, None], []
        for p in phi + rng.uniform(0.4, 1.1) * np.linspace(-1, 1, count) + rng.normal(0, 0.03, count):
            start = 0.9 * shrink * np.array([a * math.cos(p), b * math.sin(p)])  # on the skirt
            side = np.array([start[1] - tip[1], tip[0] - start[0]]) / np.linalg.norm(tip - start)
            lines.append(start + s * (tip - start) + np.sin(np.pi * s) * side * rng.normal(0, 0.03 * lines_m))  # sag
        paint(decal, rgb(0.80, 0.78, 0.72), 0.85 * dc.mask(lines, angle, width_m=0.03))
    return finish(sun, cv, albedo, alpha, height, dc, decal, clip=clip)
