"""Relief and rocks: the building blocks of synthetic Martian ground (terrain.py) and its hard negatives.

Sizes follow Mars statistics (Golombek rock abundance), so every scale shows the same world: a 1 m rock is
200 px at 5 mm/px and 3 px from orbit, and nothing much smaller than a pixel is drawn.
"""

from __future__ import annotations

import cv2
import numpy as np

_MAX_STAMPED = 400  # rocks drawn one by one per frame; the rest of the resolved ones are left out (time)


def fractal(rng: np.random.Generator, height: int, width: int, hurst: float, finest: int = 0) -> np.ndarray:
    """(height, width) float32 noise, power spectrum ~ f^-(2 + 2*hurst): octave 2^k px has std 2^(k*hurst), k >= finest.

    Built coarse to fine with pyrUp (a cubic resize leaves kinks that shading turns into streaks)."""
    levels = max(1, int(np.log2(max(height, width))) - 1)  # 2-4 cells across at the coarsest octave
    field = np.zeros(((height >> levels) + 2, (width >> levels) + 2), np.float32)
    for k in range(levels, -1, -1):
        if k < levels:  # crop as we go: the doubling keeps the grid aligned, and nothing is drawn off-frame
            field = cv2.pyrUp(field)[:(height >> k) + 2, :(width >> k) + 2]
        if k >= min(finest, levels):  # uniform noise is 4x cheaper than normal; the octaves sum to a Gaussian
            field += (rng.random(field.shape, dtype=np.float32) - 0.5) * np.float32(3.46 * 2.0 ** (k * hurst))
    return field[:height, :width]


def unit(field: np.ndarray) -> np.ndarray:
    """`field` scaled to unit std (estimated on a sparse grid: the fields it serves are smooth)."""
    return field / np.float32(field[::4, ::4].std() + 1e-6)


def turn(points: np.ndarray, angle: float) -> np.ndarray:
    """(N, 2) points rotated by angle (radians; clockwise on screen, as y points down)."""
    return points @ np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])


def window(x0: int, y0: int, size: int, shape: tuple) -> tuple | None:
    """(frame slices, patch slices) where a size x size patch with top-left corner (x0, y0) overlaps the frame."""
    ya, yb, xa, xb = max(y0, 0), min(y0 + size, shape[0]), max(x0, 0), min(x0 + size, shape[1])
    return None if ya >= yb or xa >= xb else (np.s_[ya:yb, xa:xb], np.s_[ya - y0:yb - y0, xa - x0:xb - x0])


def rock_diameters(rng: np.random.Generator, area_m2: float, d_min: float, abundance=(0.02, 0.25)) -> np.ndarray:
    """Diameters (m) of the rocks on area_m2 of ground, d_min to 2 m. Golombek & Rapp (1997): rocks wider than D
    cover k*exp(-q D) of the ground; k is the rock abundance (~20% at Ares Vallis; drawn log-uniform within
    `abundance`) and q = 1.79 + 0.152/k."""
    k = np.exp(rng.uniform(np.log(abundance[0]), np.log(abundance[1])))
    q = 1.79 + 0.152 / k
    d = np.geomspace(d_min, 2.0, 64)
    per_m = 4 * k * q * np.exp(-q * d) / (np.pi * d**2)  # rocks per m^2 per metre of diameter
    larger = np.append(np.cumsum(((per_m[1:] + per_m[:-1]) / 2 * np.diff(d))[::-1])[::-1], 0.0)  # N(>d) per m^2
    return np.interp(rng.uniform(0, larger[0], rng.poisson(area_m2 * larger[0])), larger[::-1], d[::-1])


def splat_rocks(height: np.ndarray, albedo: np.ndarray, xs, ys, radius_px, rock_m, colours) -> None:
    """Add rocks under 3.5 px radius to `height` (m) and their (n, 3) colours to `albedo`, in place: impulses on
    the pixels under each (a dome; colour by cover), then one blur anti-aliases all, ~1e5 orbital rocks at once."""
    h, w = height.shape
    impulses = np.zeros((h, w, 4), np.float32)
    ground = albedo[::8, ::8].mean(axis=(0, 1))
    for pick, reach in ((radius_px < 1.5, 2), (radius_px >= 1.5, 4)):
        offsets = np.arange(-reach, reach + 1)
        px, py = xs[pick, None, None].astype(int) + offsets, ys[pick, None, None].astype(int) + offsets[:, None]
        dist = np.hypot(px + 0.5 - xs[pick, None, None], py + 0.5 - ys[pick, None, None])
        r = radius_px[pick, None, None] + 0.5
        dome = rock_m[pick, None, None] * np.sqrt(np.clip(1 - (dist / r) ** 2, 0, 1))
        cover = np.clip(r - dist, 0, 1)[..., None] * (colours[pick, None, None] - ground)
        on = (dist < r) & (px >= 0) & (px < w) & (py >= 0) & (py < h)
        where = np.broadcast_to(py, on.shape)[on], np.broadcast_to(px, on.shape)[on]
        np.add.at(impulses, where, np.concatenate([dome[..., None], cover], -1)[on].astype(np.float32))
    cv2.GaussianBlur(impulses, (0, 0), 0.7, dst=impulses)
    height += impulses[..., 0]
    albedo += impulses[..., 1:]


def stamp_rock(height: np.ndarray, albedo: np.ndarray, x: float, y: float, outline: np.ndarray, rock_m: float,
                tint: np.ndarray, plateau: float) -> None:
    """Add one rock, its (N, 2) outline in px around (x, y) and `rock_m` high, to `height` and `albedo`, in place.
    tint (3,): the rock's albedo over the ground's mean; plateau in (0, 1]: how soon it reaches full height."""
    m = int(np.abs(outline).max() * 1.3) + 3  # room for the blur below to fade out
    mask = np.zeros((2 * m + 1, 2 * m + 1), np.uint8)
    cv2.fillPoly(mask, [np.round((outline + (x % 1 + m, y % 1 + m)) * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
    # the distance to the outline is a roof with creases along its ridges; the root, a flat top (blunt
    # shadows, not shark fins) and a blur round it into a boulder
    dist = cv2.distanceTransform(mask, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    dome = np.sqrt(np.minimum(dist * np.float32(1 / max(dist.max() * plateau, 1e-6)), 1))
    dome = cv2.GaussianBlur(dome, (0, 0), max(0.1 * m, 0.5)) * np.float32(rock_m)
    if (win := window(int(x) - m, int(y) - m, 2 * m + 1, height.shape)) is not None:
        frame, patch = win
        height[frame] += dome[patch]
        ground = albedo[frame]
        ground += (mask[patch][..., None] * np.float32(1 / 255)) * (ground * (tint - 1))  # the grain stays as texture


def add_rocks(rng: np.random.Generator, height: np.ndarray, albedo: np.ndarray, gsd_m: float, dust: np.ndarray,
               bare: np.ndarray, abundance=(0.02, 0.25)) -> None:
    """Rocks from 5 mm (1.5 px at least) to 2 m into `height` (m) and `albedo`, in place, fewer where `bare` is low.
    Most are dark grey-brown basalt under some dust; a few are pale, the natural look-alikes of debris."""
    h, w = height.shape
    diam = rock_diameters(rng, h * w * gsd_m**2, max(0.005, 1.5 * gsd_m), abundance)
    xs, ys = rng.uniform(0, w, len(diam)), rng.uniform(0, h, len(diam))
    keep = rng.random(len(diam)) < bare[ys.astype(int), xs.astype(int)]
    diam, xs, ys, n = diam[keep], xs[keep], ys[keep], int(keep.sum())
    radius_px, rock_m = diam / 2 / gsd_m, diam * rng.uniform(0.25, 0.6, n)
    grey = rng.uniform(0.2, 0.42, (n, 1)) * [1.0, 0.92, 0.84]
    pale = rng.random((n, 1)) < rng.uniform(0.01, 0.06)
    grey = np.where(pale, rng.uniform(0.62, 0.85, (n, 1)) * [1.0, 0.9, 0.8], grey)
    colours = (grey + rng.uniform(0.1, 0.8, (n, 1)) * ~pale * (dust - grey)).astype(np.float32)
    small, big = radius_px < 3.5, np.flatnonzero(radius_px >= 3.5)
    big = big[np.argsort(-radius_px[big], kind="stable")[:_MAX_STAMPED]]  # a gravel pavement up close: the largest
    splat_rocks(height, albedo, xs[small], ys[small], radius_px[small], rock_m[small], colours[small])
    # big ones: 12-gons with jittered corners, lumpy radii (neighbours agree: no spikes), squashed and turned
    angles = (np.arange(12) + 0.7 * rng.random((len(big), 12))) * (2 * np.pi / 12)
    lumps = np.lib.stride_tricks.sliding_window_view(rng.random((len(big), 14)), 3, axis=1).mean(-1)
    outlines = np.stack([np.cos(angles), np.sin(angles) * rng.uniform(0.6, 1.0, (len(big), 1))], -1)
    outlines *= ((0.55 + 0.6 * lumps) * radius_px[big, None])[..., None]
    tints = colours / albedo[::8, ::8].mean(axis=(0, 1))
    for i, outline, angle, plateau in zip(big, outlines, rng.uniform(0, np.pi, len(big)), rng.uniform(0.4, 1, len(big))):
        stamp_rock(height, albedo, xs[i], ys[i], turn(outline, angle), rock_m[i], tints[i], plateau)
