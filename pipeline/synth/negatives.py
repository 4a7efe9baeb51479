"""What lies on the ground and is no hardware: hard negatives, rover tracks and the helicopter's own shadow.

A detector that has only seen hardware as the one bright, dark, round or square thing in a frame learns that
bright, dark, round or square is hardware. So every randomised frame carries look-alikes of every size: dark
and bright boulders (round ones too), pits, bright square slabs, outcrops, and rover track ribbons.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from debris.synth.relief import stamp_rock, turn, window
from debris.synth.sun import Sun

GROUSER_M = 0.034  # Perseverance's wheels: 48 grousers on a 52.6 cm wheel
KINDS = ("dark_rock", "bright_rock", "pit", "slab", "outcrop")


def add_hard_negatives(rng: np.random.Generator, height: np.ndarray, albedo: np.ndarray, gsd_m: float,
                       count: int) -> None:
    """Stamp `count` look-alikes into height (H, W) m and albedo (H, W, 3), in place, each 4 px to a third of the
    frame (at most 8 m) across, round or lumpy: the sizes where hardware lives at this scale."""
    h, w = height.shape
    for kind in rng.choice(KINDS, count):
        diam_px = math.exp(rng.uniform(math.log(4), math.log(max(5, min(h, w) / 3))))
        r_px = min(diam_px, 8 / gsd_m) / 2
        corners = 4 if kind == "slab" else 16
        th = np.linspace(0, 2 * np.pi, corners, endpoint=False) + (np.pi / 4 if kind == "slab" else 0)
        round_ = kind == "slab" or rng.random() < 0.5  # half of them are round: dark round rocks are no heat shields
        lumpy = 1 + (0 if round_ else 1) * rng.uniform(0, 0.25, corners)
        outline = turn(np.stack([np.cos(th), np.sin(th) * rng.uniform(0.6, 1)], 1) * (r_px * lumpy)[:, None],
                       rng.uniform(0, np.pi))
        r_m = r_px * gsd_m
        tint, rise, plateau = {
            "dark_rock": (rng.uniform(0.3, 0.6), rng.uniform(0.3, 0.7) * r_m, rng.uniform(0.4, 1)),
            "bright_rock": (rng.uniform(1.3, 1.9), rng.uniform(0.3, 0.7) * r_m, rng.uniform(0.4, 1)),
            "pit": (rng.uniform(0.6, 0.9), -rng.uniform(0.2, 0.6) * r_m, rng.uniform(0.3, 0.8)),
            "slab": (rng.uniform(1.4, 2.0), rng.uniform(0.05, 0.15) * r_m, 0.15),
            "outcrop": (rng.uniform(0.8, 1.25), rng.uniform(0.2, 0.5) * r_m, rng.uniform(0.2, 0.4)),
        }[kind]
        stamp_rock(height, albedo, rng.uniform(0, w), rng.uniform(0, h), outline, rise, np.float32([tint] * 3), plateau)


def add_tracks(rng: np.random.Generator, height: np.ndarray, lum: np.ndarray, gsd_m: float) -> None:
    """Rover wheel tracks: two 0.4 m bands 2.7 m apart along a circular arc, grouser treads when resolved, in place."""
    h, w = height.shape
    radius, heading = np.exp(rng.uniform(np.log(40.0), np.log(800.0))) / gsd_m, rng.uniform(0, 2 * np.pi)
    cx, cy = rng.uniform(0, w) - radius * np.sin(heading), rng.uniform(0, h) + radius * np.cos(heading)
    across = (np.hypot(np.arange(h)[:, None] - cy, np.arange(w) - cx) - radius) * gsd_m  # m from the path's middle
    ys, xs = np.nonzero(np.abs(np.abs(across) - 1.35) < 0.3 + gsd_m)
    lateral = np.abs(np.abs(across[ys, xs]) - 1.35)
    band = np.clip((0.2 - lateral) / gsd_m + 0.5, 0, 1)
    dent = rng.uniform(0.01, 0.03) * (band - 0.4 * np.exp(-(((lateral - 0.26) / 0.06) ** 2)))  # and berms
    tread = 0.0
    if gsd_m < GROUSER_M / 3:  # chevrons pressed by the grousers, shaded and a little darker
        along = np.arctan2(ys - cy, xs - cx) * radius * gsd_m
        tread = band * (np.cos(2 * np.pi * (along / GROUSER_M + 2 * lateral)) > 0.3) - 0.5 * band
    height[ys, xs] -= (dent + 0.6 * rng.uniform(0.01, 0.03) * tread).astype(np.float32)
    lum[ys, xs] *= (1 - band * rng.uniform(0.03, 0.12) - 0.08 * tread).astype(np.float32)  # fresh soil is darker


def draw_helicopter_shadow(image: np.ndarray, rng: np.random.Generator, gsd_m: float, sun: Sun) -> None:
    """Darken `image` (H, W, 3) or (H, W) float in place with Ingenuity's shadow somewhere in the frame.
    Ingenuity from above: two coaxial 1.2 m two-bladed rotors, a solar panel on the mast, a 14x20 cm body and
    four splayed legs. Each part's shadow is shifted by its height above the feet and blurred by the penumbra
    of the 0.35 deg Sun seen from the nav camera's altitude (~gsd / 3.8 mrad): ~1.6 px / sin(elevation)."""
    m = int(0.8 / gsd_m + max(np.abs(sun.shadow_offset(0.5, gsd_m)))) + 8  # half the patch, px
    yaw, mask = rng.uniform(0, 2 * np.pi), np.zeros((2 * m + 1, 2 * m + 1), np.uint8)  # cv2 anti-aliases 8-bit only

    def cast(points_m, z_m):  # (N, 2) metres around the mast at height z -> (N, 2) fixed-point px on the patch
        px = turn(np.float64(points_m), yaw) / gsd_m + m + sun.shadow_offset(z_m, gsd_m)
        return np.round(px * 16).astype(np.int32)

    span, chord = np.array([0.6, 0.35, 0.12, 0.04]), np.array([0.04, 0.09, 0.1, 0.03]) / 2
    u, v = np.concatenate([-span, span[::-1]]), np.concatenate([chord, chord[::-1]])
    rotor = np.concatenate([np.stack([u, v], 1), np.stack([u, -v], 1)[::-1]])  # both blades in one outline
    box = np.array([[-0.07, -0.1], [0.07, -0.1], [0.07, 0.1], [-0.07, 0.1]])
    parts = [cast(turn(rotor, rng.uniform(0, np.pi)), z) for z in (0.36, 0.43)]  # lower and upper rotor
    parts += [cv2.convexHull(np.concatenate([cast(box, 0.13), cast(box, 0.29)]))[:, 0], cast(box * [3, 0.8], 0.49)]
    for part in parts:  # body and solar panel too; one call each, as several in one call cancel where they overlap
        cv2.fillPoly(mask, [part], 255, cv2.LINE_AA, shift=4)
    for a, b, z_a, z_b in [((0, 0), (0, 0), 0.29, 0.49)] + [(c, c * 3.5, 0.15, 0.0) for c in box]:  # mast, legs
        cv2.line(mask, cast([a], z_a)[0].tolist(), cast([b], z_b)[0].tolist(), 255, max(1, round(0.03 / gsd_m)),
                 cv2.LINE_AA, shift=4)
    mask = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 0.7 / np.sin(np.radians(sun.elevation_deg)))
    (h, w), x, y = image.shape[:2], rng.random(), rng.random()
    if (win := window(int(x * w) - m, int(y * h) - m, 2 * m + 1, (h, w))) is not None:
        dim = 1 - rng.uniform(0.55, 0.8) * np.clip(mask[win[1]], 0, 1)
        image[win[0]] *= dim[..., None] if image.ndim == 3 else dim
