"""Synthetic Martian ground seen from above, at any scale from rover close-ups to orbit.

The ground is a height field in metres (fractal relief, craters, ripples, rocks, wheel tracks) plus an
albedo map, sampled at gsd_m metres per pixel, then lit by the Sun: lunar-Lambert shading from the
normals, cast shadows from a horizon scan, skylight in the shadows. Sizes follow Mars statistics
(Golombek rock abundance, crater counts N(>D) ~ D^-2), so every scale shows the same world: a 1 m rock is
200 px at 5 mm/px and 3 px from orbit, and nothing much smaller than a pixel is drawn.
"""

from __future__ import annotations

import cv2
import numpy as np

from debris.synth.sun import Sun

# sRGB regolith from dusty butterscotch through ochre and reddish brown to dark basaltic sand
PALETTE = np.array([[0.66, 0.50, 0.36], [0.62, 0.45, 0.32], [0.56, 0.40, 0.27], [0.45, 0.30, 0.22],
                    [0.38, 0.30, 0.25], [0.33, 0.28, 0.25]], np.float32)
GROUSER_M = 0.034  # Perseverance's wheels: 48 grousers on a 52.6 cm wheel


def _fractal(rng: np.random.Generator, height: int, width: int, hurst: float, finest: int = 0) -> np.ndarray:
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


def _unit(field: np.ndarray) -> np.ndarray:
    """`field` scaled to unit std (estimated on a sparse grid: the fields it serves are smooth)."""
    return field / np.float32(field[::4, ::4].std() + 1e-6)


def _turn(points: np.ndarray, angle: float) -> np.ndarray:
    """(N, 2) points rotated by angle (radians; clockwise on screen, as y points down)."""
    return points @ np.array([[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]])


def _window(x0: int, y0: int, size: int, shape: tuple) -> tuple | None:
    """(frame slices, patch slices) where a size x size patch with top-left corner (x0, y0) overlaps the frame."""
    ya, yb, xa, xb = max(y0, 0), min(y0 + size, shape[0]), max(x0, 0), min(x0 + size, shape[1])
    return None if ya >= yb or xa >= xb else (np.s_[ya:yb, xa:xb], np.s_[ya - y0:yb - y0, xa - x0:xb - x0])


def _rock_diameters(rng: np.random.Generator, area_m2: float, d_min: float) -> np.ndarray:
    """Diameters (m) of the rocks on area_m2 of ground, d_min to 2 m. Golombek & Rapp (1997): rocks wider than D
    cover k*exp(-q D) of the ground; k is the rock abundance (~20% at Ares Vallis) and q = 1.79 + 0.152/k."""
    k = np.exp(rng.uniform(np.log(0.02), np.log(0.25)))
    q = 1.79 + 0.152 / k
    d = np.geomspace(d_min, 2.0, 64)
    per_m = 4 * k * q * np.exp(-q * d) / (np.pi * d**2)  # rocks per m^2 per metre of diameter
    larger = np.append(np.cumsum(((per_m[1:] + per_m[:-1]) / 2 * np.diff(d))[::-1])[::-1], 0.0)  # N(>d) per m^2
    return np.interp(rng.uniform(0, larger[0], rng.poisson(area_m2 * larger[0])), larger[::-1], d[::-1])


def _splat_rocks(height: np.ndarray, albedo: np.ndarray, xs, ys, radius_px, rock_m, colours) -> None:
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


def _stamp_rock(height: np.ndarray, albedo: np.ndarray, x: float, y: float, outline: np.ndarray, rock_m: float,
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
    if (window := _window(int(x) - m, int(y) - m, 2 * m + 1, height.shape)) is not None:
        frame, patch = window
        height[frame] += dome[patch]
        ground = albedo[frame]
        ground += (mask[patch][..., None] * np.float32(1 / 255)) * (ground * (tint - 1))  # the grain stays as texture


def _add_rocks(rng: np.random.Generator, height: np.ndarray, albedo: np.ndarray, gsd_m: float, dust: np.ndarray,
               bare: np.ndarray) -> None:
    """Rocks from 5 mm (1.5 px at least) to 2 m into `height` (m) and `albedo`, in place, fewer where `bare` is low.
    Most are dark grey-brown basalt under some dust; a few are pale, the natural look-alikes of debris."""
    h, w = height.shape
    diam = _rock_diameters(rng, h * w * gsd_m**2, max(0.005, 1.5 * gsd_m))
    xs, ys = rng.uniform(0, w, len(diam)), rng.uniform(0, h, len(diam))
    keep = rng.random(len(diam)) < bare[ys.astype(int), xs.astype(int)]
    diam, xs, ys, n = diam[keep], xs[keep], ys[keep], int(keep.sum())
    radius_px, rock_m = diam / 2 / gsd_m, diam * rng.uniform(0.25, 0.6, n)
    grey = rng.uniform(0.2, 0.42, (n, 1)) * [1.0, 0.92, 0.84]
    pale = rng.random((n, 1)) < rng.uniform(0.01, 0.06)
    grey = np.where(pale, rng.uniform(0.62, 0.85, (n, 1)) * [1.0, 0.9, 0.8], grey)
    colours = (grey + rng.uniform(0.1, 0.8, (n, 1)) * ~pale * (dust - grey)).astype(np.float32)
    small, big = radius_px < 3.5, np.flatnonzero(radius_px >= 3.5)
    _splat_rocks(height, albedo, xs[small], ys[small], radius_px[small], rock_m[small], colours[small])
    # big ones: 12-gons with jittered corners, lumpy radii (neighbours agree: no spikes), squashed and turned
    angles = (np.arange(12) + 0.7 * rng.random((len(big), 12))) * (2 * np.pi / 12)
    lumps = np.lib.stride_tricks.sliding_window_view(rng.random((len(big), 14)), 3, axis=1).mean(-1)
    outlines = np.stack([np.cos(angles), np.sin(angles) * rng.uniform(0.6, 1.0, (len(big), 1))], -1)
    outlines *= ((0.55 + 0.6 * lumps) * radius_px[big, None])[..., None]
    tints = colours / albedo[::8, ::8].mean(axis=(0, 1))
    for i, outline, turn, plateau in zip(big, outlines, rng.uniform(0, np.pi, len(big)), rng.uniform(0.4, 1, len(big))):
        _stamp_rock(height, albedo, xs[i], ys[i], _turn(outline, turn), rock_m[i], tints[i], plateau)


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
    for d, (cx, cy), shape, (fresh, e, turn, flat, fill, dust) in zip(diam.tolist(), centres.tolist(), shapes, draws):
        r_px, m = d / 2 / gsd_m, int(d / gsd_m * 1.25) + 2
        if (window := _window(int(cx) - m, int(cy) - m, 2 * m + 1, (h, w))) is None:
            continue
        (rows, cols), c, s = window[0], np.cos(turn * np.pi) / r_px, np.sin(turn * np.pi) / r_px
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


def _add_ripples(rng: np.random.Generator, height: np.ndarray, lum: np.ndarray, gsd_m: float, floor: np.ndarray):
    """Sinuous, sharp-crested wind ripples in sand patches and on old crater floors (`floor`, (H, W)), in place.
    Wavelength 5 cm (sand at a rover's wheels) to 5 m (megaripples seen from orbit), kept between 6 px (finer
    ones alias) and a sixth of the frame so that a few crests always show."""
    h, w = height.shape
    shortest, longest = max(0.05, 6 * gsd_m), max(min(5.0, max(h, w) * gsd_m / 6), 6 * gsd_m)
    wavelength = np.exp(rng.uniform(np.log(shortest), np.log(longest))) / gsd_m
    octave = int(np.log2(wavelength * 2))  # patches and bends span wavelengths: any finer, and crests curl up
    where = np.clip(_unit(_fractal(rng, h, w, 1.0, octave + 3)) * rng.uniform(1, 3) + rng.uniform(-2.5, 0.5), 0, 1)
    turn = rng.uniform(0, np.pi)
    phase = np.add.outer(np.arange(h, dtype=np.float32) * np.float32(np.sin(turn) / wavelength),
                         np.arange(w, dtype=np.float32) * np.float32(np.cos(turn) / wavelength))
    phase += np.float32(rng.uniform(0.3, 0.7)) * _unit(_fractal(rng, h, w, 0.5, octave + 1))  # bends and forks
    crest = (0.5 + 0.5 * np.cos(np.float32(2 * np.pi) * phase)) ** 2 * np.maximum(where, floor)
    height += np.float32(wavelength * gsd_m * rng.uniform(0.05, 0.1)) * crest
    lum *= 1 + np.float32(rng.uniform(-0.05, 0.1)) * crest  # coarse grains gather on the crests


def _add_tracks(rng: np.random.Generator, height: np.ndarray, lum: np.ndarray, gsd_m: float) -> None:
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


def _cast_shadow(height: np.ndarray, gsd_m: float, sun: Sun) -> np.ndarray:
    """(H, W) float32 in [0, 1]: how much direct sunlight each pixel loses to terrain between it and the Sun.
    The frame is turned so that light runs along +x: a point is shadowed when an earlier one on its row stands
    above the sun's ray through it, which one cumulative maximum per row finds."""
    h, w = height.shape
    ax, ay = np.array(sun.shadow_offset(1.0, 1.0)) / np.hypot(*sun.shadow_offset(1.0, 1.0))
    turn = np.array([[ax, ay, 0.0], [-ay, ax, 0.0]])
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]]) @ turn.T
    turn[:, 2] = -corners.min(0)
    size = tuple(np.ceil(corners.max(0) - corners.min(0)).astype(int) + 1)
    turned = cv2.warpAffine(height, turn, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    drop = np.float32(gsd_m * np.tan(np.radians(sun.elevation_deg)))  # the ray's fall per pixel, m
    turned += np.arange(size[0], dtype=np.float32) * drop
    depth = np.maximum.accumulate(turned, axis=1)
    depth -= turned
    depth *= 2 / drop  # in half pixels: the shadow's edge is anti-aliased over half a pixel
    return cv2.warpAffine(np.minimum(depth, 1, out=depth), turn, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)


def _shade(height: np.ndarray, gsd_m: float, sun: Sun, skylight: float = 0.25, lunar: float = 0.6) -> np.ndarray:
    """(H, W) float32 irradiance factor, 1 on flat sunlit ground: lunar-Lambert reflectance (McEwen 1991; weight
    `lunar` on its Lommel-Seeliger part) from the normals of `height` (m), cast shadows, and sky fill."""
    gx = cv2.Sobel(height, cv2.CV_32F, 1, 0, ksize=3, scale=1 / (8 * gsd_m))
    gy = cv2.Sobel(height, cv2.CV_32F, 0, 1, ksize=3, scale=1 / (8 * gsd_m))
    az, el = np.radians(sun.azimuth_deg), np.radians(sun.elevation_deg)
    sx, sy, sz = np.float32([np.cos(el) * np.sin(az), -np.cos(el) * np.cos(az), np.sin(el)])
    mu = 1 / np.sqrt(1 + gx * gx + gy * gy)  # cosine of the emission angle, seen from straight above
    mu0 = np.maximum((sz - gx * sx - gy * sy) * mu, 0)
    flat = 2 * lunar * sz / (sz + 1) + (1 - lunar) * sz
    direct = (np.float32(2 * lunar) * mu0 / (mu0 + mu) + np.float32(1 - lunar) * mu0) / np.float32(flat)
    return np.float32(skylight) + np.float32(1 - skylight) * direct * (1 - _cast_shadow(height, gsd_m, sun))


def render_terrain(rng: np.random.Generator, height: int, width: int, gsd_m: float, sun: Sun) -> np.ndarray:
    """(height, width, 3) float32 RGB in [0, 1]: nadir view of Martian ground at gsd_m metres per pixel."""
    hurst = rng.uniform(0.7, 0.9)  # Mars topography is self-affine with H ~ 0.8, and so are the real HiRISE strips
    roughness = np.exp(rng.uniform(np.log(0.08), np.log(0.4)))  # rms slope over 1 m baselines, 5-22 deg
    roughness = min(roughness, 0.4 * gsd_m ** (1 - hurst))  # but soil is not gravel at the pixel scale
    relief = _fractal(rng, height, width, hurst, 1) * np.float32(roughness * gsd_m**hurst)
    # dust gathers in the lows, so part of the albedo follows the relief
    mix = rng.uniform(0.1, 0.9) + rng.uniform(0.02, 0.15) * _unit(_fractal(rng, height, width, 0.8, 3))
    mix = np.clip(mix - np.float32(rng.uniform(0.0, 0.3)) * _unit(relief), 0, 1)
    # grain-to-grain contrast averages out in big pixels: ~10% at 3 mm/px, ~3% from orbit
    lum = 1 + np.float32(rng.uniform(0.02, 0.05) * (gsd_m / 0.3) ** -0.25) * _unit(_fractal(rng, height, width, 0.15))
    floor = _add_craters(rng, relief, lum, gsd_m)
    if rng.random() < 0.45:
        _add_ripples(rng, relief, lum, gsd_m, floor)
    if rng.random() < 0.2:
        _add_tracks(rng, relief, lum, gsd_m)
    t = rng.uniform(0.0, 3.0)  # dust from butterscotch to reddish brown; sand a darker, greyer shade of the palette
    dust, dark = (np.float32([np.interp(x, np.arange(len(PALETTE)), c) * rng.uniform(0.97, 1.03) for c in PALETTE.T])
                  for x in (t, rng.uniform(t + 1, len(PALETTE) - 1)))
    albedo = np.multiply.outer(mix, dust - dark)
    albedo += dark
    albedo *= lum[..., None]
    _add_rocks(rng, relief, albedo, gsd_m, dust, bare=1 - 0.7 * mix)  # dust mantles hide rocks
    light = _shade(relief, gsd_m, sun, rng.uniform(0.15, 0.35), rng.uniform(0.4, 0.9))
    albedo *= np.sqrt(light)[..., None]  # sRGB ~ irradiance^(1/2.2): the root is that gamma
    return np.clip(albedo, 0, 1, out=albedo)


def draw_helicopter_shadow(image: np.ndarray, rng: np.random.Generator, gsd_m: float, sun: Sun) -> None:
    """Darken `image` (H, W, 3) or (H, W) float in place with Ingenuity's shadow somewhere in the frame.
    Ingenuity from above: two coaxial 1.2 m two-bladed rotors, a solar panel on the mast, a 14x20 cm body and
    four splayed legs. Each part's shadow is shifted by its height above the feet and blurred by the penumbra
    of the 0.35 deg Sun seen from the nav camera's altitude (~gsd / 3.8 mrad): ~1.6 px / sin(elevation)."""
    m = int(0.8 / gsd_m + max(np.abs(sun.shadow_offset(0.5, gsd_m)))) + 8  # half the patch, px
    yaw, mask = rng.uniform(0, 2 * np.pi), np.zeros((2 * m + 1, 2 * m + 1), np.uint8)  # cv2 anti-aliases 8-bit only

    def cast(points_m, z_m):  # (N, 2) metres around the mast at height z -> (N, 2) fixed-point px on the patch
        px = _turn(np.float64(points_m), yaw) / gsd_m + m + sun.shadow_offset(z_m, gsd_m)
        return np.round(px * 16).astype(np.int32)

    span, chord = np.array([0.6, 0.35, 0.12, 0.04]), np.array([0.04, 0.09, 0.1, 0.03]) / 2
    u, v = np.concatenate([-span, span[::-1]]), np.concatenate([chord, chord[::-1]])
    rotor = np.concatenate([np.stack([u, v], 1), np.stack([u, -v], 1)[::-1]])  # both blades in one outline
    box = np.array([[-0.07, -0.1], [0.07, -0.1], [0.07, 0.1], [-0.07, 0.1]])
    parts = [cast(_turn(rotor, rng.uniform(0, np.pi)), z) for z in (0.36, 0.43)]  # lower and upper rotor
    parts += [cv2.convexHull(np.concatenate([cast(box, 0.13), cast(box, 0.29)]))[:, 0], cast(box * [3, 0.8], 0.49)]
    for part in parts:  # body and solar panel too; one call each, as several in one call cancel where they overlap
        cv2.fillPoly(mask, [part], 255, cv2.LINE_AA, shift=4)
    for a, b, z_a, z_b in [((0, 0), (0, 0), 0.29, 0.49)] + [(c, c * 3.5, 0.15, 0.0) for c in box]:  # mast, legs
        cv2.line(mask, cast([a], z_a)[0].tolist(), cast([b], z_b)[0].tolist(), 255, max(1, round(0.03 / gsd_m)),
                 cv2.LINE_AA, shift=4)
    mask = cv2.GaussianBlur(mask.astype(np.float32) / 255, (0, 0), 0.7 / np.sin(np.radians(sun.elevation_deg)))
    (h, w), x, y = image.shape[:2], rng.random(), rng.random()
    if (window := _window(int(x * w) - m, int(y * h) - m, 2 * m + 1, (h, w))) is not None:
        dim = 1 - rng.uniform(0.55, 0.8) * np.clip(mask[window[1]], 0, 1)
        image[window[0]] *= dim[..., None] if image.ndim == 3 else dim
