"""A HiRISE-sized test product: real orbital terrain with landing hardware at known map positions.

    python benchmarks/archive_product.py [--out DIR] [--width 24576] [--height 22528] [--seed 0] [--objects 60] [--force]

The defaults make 24576 x 22528 = 553.6 MP at 0.25 m/px (a HiRISE RDR is up to 20,000 x 100,000 px), for
measuring windowed labelling of a whole product. Written into OUT (default datasets/archive/, git-ignored),
once: the script does nothing while OUT/truth.json and the files it names exist, unless --force.
- product.tif  tiled GeoTIFF: 8-bit gray, 512x512 tiles, DEFLATE, internal overviews x2 .. x64;
- product.jp2  JPEG 2000 (JP2OpenJPEG), the same pixels: lossless (reversible 5/3 wavelet), as HiRISE RDR
               JP2 products are (HiRISE PDS DOCUMENT/JP2INFO.TXT), so a reader sees no compression artefacts
               the GeoTIFF lacks; 1024x1024 tiles, 7 resolution levels (x1 .. x64); georeferenced by a GeoJP2
               box (GeoTIFF keys in a UUID box, as HiRISE RDR JP2s carry); no GMLJP2 box, which GDAL 3.10
               writes only for a CRS with an EPSG code, and Mars has none;
- product.LBL + product.IMG  PDS3 detached label and raw image like a HiRISE RDR: uint16 LSB, 10-bit DN
               (VALID_MAXIMUM 1023), IMAGE_MAP_PROJECTION EQUIRECTANGULAR, written so GDAL's PDS driver reads
               the GeoTIFF's size, transform and projection back (checked at the end; see `read_back`);
- truth.json   every placed object (class, box, map and lon/lat position), the CRS, transform and files.

Terrain: only held-out real HiRISE terrain, the strip(s) data/real_mars/heldout.txt names (strip 8 of the Ares
Vallis mosaic, NASA/JPL-Caltech/University of Arizona; never used in training). It is 1.5 MP, so the product is
a mosaic of 384x384 windows of it, centred at random inside a 160 px grid's cells (every pixel lies within
reach of its own cell's window), some upside down. Windows are blended with smooth weights, means linearly and
the detail around them variance-preserving (Heitz & Neyret 2018): a plain average would wash the texture out
along every seam, which a detector could then key on. Seams wander with the random centres; no grid shows.
Rotations and left-right flips are not used: the strip is lit from the west (left), and a turned window would
light its craters from another side than its neighbours and the hardware. A smooth brightness (+-6 %) and
contrast (+-10 %) field over kilometres imitates albedo variation.

Hardware: the data engine's own sprites (debris.synth.hardware.render_sprite; the families of
configs/default.yaml synth), drawn at 0.25 m/px under one sun matching the terrain's lighting, and
composited as `debris.synth.scene` composites on real ground: ground decal, cast shadow, object (its
antialiased coverage is the feathering), in luminance, brightness scaled to the local ground as the engine's
`real_patch` frames do, softened by HiRISE's blur (0.6 px) as the terrain is, with the ground's noise added
where paint replaced it. Classes cycle, so all five are equally many; every 4th object straddles a line of the
640 px grid (configs/default.yaml label.tile) on purpose, the others lie anywhere; footprints, shadows and
decals included, never overlap. A box is the tight box of the object's pixels of coverage >= 0.5 (before the
blur), the engine's rule. Debris pieces are 1 m, a few px here: below synth.min_visible_pixels, so the engine
would not label them; truth.json says which objects it would ("labelled").

Georeferencing: equirectangular on the Mars sphere of IAU 2015 (R 3,396,190 m; IAU_2015:49910 but with a
standard parallel of 19 N, the site's, so pixels are square on the ground there), centred on Mars Pathfinder's
landing site (19.13 N, 326.78 E) in Ares Vallis. Planetocentric: lon = lon0 + X / (R cos lat_ts), lat = Y / R.
Memory and time: the product is made and written in bands of 512 rows, nothing holds the whole image. The
default size peaked at 1.5 GB resident (0.75 GB at any height for this width: the band's work arrays; the rest
GDAL's block cache) and took 7 min on two shared cores (JPEG 2000 encoding 4 of them), writing 0.6 GB of
GeoTIFF, 0.4 GB of JPEG 2000 and 1.1 GB of raw PDS image.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.transform import Affine
from rasterio.windows import Window
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from debris.config import SynthConfig, load_config  # noqa: E402
from debris.io.files import write_text_atomic  # noqa: E402
from debris.synth.families import draw_family  # noqa: E402
from debris.synth.hardware import CLASS_NAMES, Sprite, render_sprite  # noqa: E402
from debris.synth.sun import Sun  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HELDOUT = REPO / "data" / "real_mars" / "heldout.txt"
OUT = REPO / "datasets" / "archive"
FILES = ("product.tif", "product.jp2", "product.LBL", "product.IMG", "truth.json")

GSD_M = 0.25
MARS_RADIUS_M = 3_396_190.0  # IAU 2015 Mars sphere
LAT_TS_DEG, LON0_DEG = 19.0, 0.0  # standard parallel, central meridian
SITE_DEG = (19.13, 326.78)  # Mars Pathfinder landing site: planetocentric latitude, east longitude
CRS_WKT = (
    'PROJCS["Equirectangular Mars, lat_ts 19",GEOGCS["Mars (2015) - Sphere / Ocentric",'
    'DATUM["Mars (2015) - Sphere",SPHEROID["Mars (2015) - Sphere",3396190,0]],PRIMEM["Reference Meridian",0],'
    'UNIT["degree",0.0174532925199433]],PROJECTION["Equirectangular"],PARAMETER["standard_parallel_1",19],'
    'PARAMETER["central_meridian",0],PARAMETER["false_easting",0],PARAMETER["false_northing",0],'
    'UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'
)

BAND = 512  # rows made and written at a time: one row of GeoTIFF tiles
PATCH, STEP = 384, 160  # terrain window side, and the grid whose cells each hold one window centre (< PATCH / 2)
SHARPNESS = 4  # blend weights are the window's raised cosine to this power: higher, narrower seams
FIELD_CELL = 4096  # px between the random knots of the brightness and contrast fields
FIELD_STEP = 32  # the fields are kept at 1/32 resolution and interpolated per band
BRIGHTNESS, CONTRAST = 0.06, 0.10  # relative spread of the low-frequency fields
# The strip's craters have their west inner walls in shadow: light from the west, a little north of it.
SUN = Sun(azimuth_deg=290.0, elevation_deg=40.0)
PSF_SIGMA_PX = 0.6  # HiRISE's blur, within the 0.4-0.9 px debris.synth.cameras gives its orbital frames
TYPICAL_REGOLITH = 0.38  # debris.synth.scene: ground brightness the sprites are drawn for, scaled to real ground
TILE = 640  # the labeller's tile side (configs/default.yaml label.tile)
BORDER_EVERY = 4  # every 4th object straddles a TILE grid line
GAP = 32  # px kept free between object footprints
OVERVIEWS = [2, 4, 8, 16, 32, 64]
JP2_OPTIONS = {"QUALITY": "100", "REVERSIBLE": "YES", "RESOLUTIONS": "7", "BLOCKXSIZE": "1024",
               "BLOCKYSIZE": "1024", "GeoJP2": "YES", "GMLJP2": "NO", "NUM_THREADS": "2"}


# ---------------------------------------------------------------- terrain


def load_sources(listing: Path = HELDOUT) -> tuple[list[np.ndarray], list[str]]:
    """The held-out HiRISE strips the list names: (H, W) float32 gray in [0, 1] each, and their list entries."""
    names = [line.strip() for line in listing.read_text().splitlines() if "strip" in line and not line.startswith("#")]
    if not names:
        raise SystemExit(f"{listing}: names no HiRISE strip")
    return [cv2.imread(str(listing.parent / n), cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255 for n in names], names


@dataclass(frozen=True)
class Patches:
    """Where each terrain window lies in the product and where it comes from; every array is (n,) int."""

    x0: np.ndarray  # product column of the window's left edge
    y0: np.ndarray  # product row of its top edge
    source: np.ndarray  # index of the strip
    sx: np.ndarray  # the window's left edge in the strip
    sy: np.ndarray  # its top edge in the strip
    flip: np.ndarray  # 1: upside down


def plan_patches(rng: np.random.Generator, width: int, height: int, sources: list[np.ndarray]) -> Patches:
    """One window per STEP x STEP cell (and a ring of cells around the product), centred at random in it."""
    gy, gx = np.mgrid[-1 : height // STEP + 2, -1 : width // STEP + 2]
    n = gx.size
    cx, cy = (gx.ravel() + rng.random(n)) * STEP, (gy.ravel() + rng.random(n)) * STEP
    source = rng.integers(len(sources), size=n)
    shapes = np.array([s.shape for s in sources])[source]
    return Patches(
        x0=np.round(cx - PATCH / 2).astype(int), y0=np.round(cy - PATCH / 2).astype(int), source=source,
        sx=(rng.random(n) * (shapes[:, 1] - PATCH + 1)).astype(int),
        sy=(rng.random(n) * (shapes[:, 0] - PATCH + 1)).astype(int), flip=rng.integers(2, size=n),
    )


def blend_weight() -> np.ndarray:
    """(PATCH, PATCH) float32: 1 at the window's centre, falling smoothly to 0 at its edges."""
    ramp = np.sin(np.pi * (np.arange(PATCH) + 0.5) / PATCH) ** 2
    return (np.outer(ramp, ramp) ** SHARPNESS).astype(np.float32)


def smooth_field(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """(height // FIELD_STEP + 2, width // FIELD_STEP + 2) float32: smooth noise, spread ~1, blobs ~FIELD_CELL px."""
    knots = rng.standard_normal((height // FIELD_CELL + 4, width // FIELD_CELL + 4)).astype(np.float32)
    per_knot = FIELD_CELL // FIELD_STEP
    fine = cv2.resize(knots, (knots.shape[1] * per_knot, knots.shape[0] * per_knot), interpolation=cv2.INTER_CUBIC)
    # knots reach past the product's edges: the field there is as lively as in its middle
    return fine[per_knot : per_knot + height // FIELD_STEP + 2, per_knot : per_knot + width // FIELD_STEP + 2]


def field_rows(field: np.ndarray, r0: int, r1: int, width: int) -> np.ndarray:
    """(r1 - r0, width) float32: the low-resolution field bilinearly interpolated at those product rows."""
    y, x = np.arange(r0, r1) / FIELD_STEP, np.arange(width) / FIELD_STEP
    iy, ix = y.astype(int), x.astype(int)
    fy, fx = (y - iy).astype(np.float32)[:, None], (x - ix).astype(np.float32)
    rows = field[iy] * (1 - fy) + field[iy + 1] * fy
    return rows[:, ix] * (1 - fx) + rows[:, ix + 1] * fx


def field_at(field: np.ndarray, x: float, y: float) -> float:
    """The field's value at product pixel (x, y)."""
    return float(field_rows(field, int(y), int(y) + 1, int(x) + 1)[0, -1])


def terrain_band(r0: int, r1: int, width: int, sources: list[np.ndarray], patches: Patches, weight: np.ndarray,
                 brightness: np.ndarray, contrast: np.ndarray) -> np.ndarray:
    """(r1 - r0, width) float32 gray in [0, 1]: product rows r0..r1 of the terrain mosaic.

    Each window contributes its mean with weight w and its detail (pixels minus mean) with weight w / sqrt(sum w^2):
    where one window dominates it shows as it is; where several overlap, their detail keeps its contrast.
    """
    rows = r1 - r0
    mean, detail = np.zeros((rows, width), np.float32), np.zeros((rows, width), np.float32)
    w_sum, w_sq = np.zeros((rows, width), np.float32), np.zeros((rows, width), np.float32)
    overlapping = (patches.y0 < r1) & (patches.y0 + PATCH > r0) & (patches.x0 < width) & (patches.x0 + PATCH > 0)
    for k in np.nonzero(overlapping)[0]:
        x0, y0, sx, sy = patches.x0[k], patches.y0[k], patches.sx[k], patches.sy[k]
        window = sources[patches.source[k]][sy : sy + PATCH, sx : sx + PATCH]
        if patches.flip[k]:
            window = window[::-1]
        m = float(window.mean())
        ys, ye, xs, xe = max(y0, r0), min(y0 + PATCH, r1), max(x0, 0), min(x0 + PATCH, width)
        src = (slice(ys - y0, ye - y0), slice(xs - x0, xe - x0))
        dst = (slice(ys - r0, ye - r0), slice(xs, xe))
        w = weight[src]
        mean[dst] += w * m
        detail[dst] += w * (window[src] - m)
        w_sum[dst] += w
        w_sq[dst] += w * w
    b, c = field_rows(brightness, r0, r1, width), field_rows(contrast, r0, r1, width)
    return np.clip(mean / w_sum * (1 + BRIGHTNESS * b) + detail / np.sqrt(w_sq) * (1 + CONTRAST * c), 0, 1)


def noise_sigma(gray: np.ndarray) -> float:
    """Pixel noise of real terrain (gray in [0, 1]), as debris.synth.scene estimates it: median absolute Laplacian."""
    return float(np.median(np.abs(cv2.Laplacian(gray, cv2.CV_32F)))) / 0.6745 / math.sqrt(20)


# ---------------------------------------------------------------- hardware


@dataclass(frozen=True)
class Placed:
    """One object ready to paint: (h, w) float32 planes whose top-left pixel is product pixel (left, top)."""

    name: str
    family: str
    left: int
    top: int
    paint: np.ndarray  # gray of the object times its coverage (premultiplied), scaled to the local ground
    alpha: np.ndarray  # its coverage
    shadow: np.ndarray  # how much its cast shadow darkens the ground
    decal_paint: np.ndarray  # gray times coverage of the ground mark under and around it
    decal_alpha: np.ndarray  # the mark's coverage
    noise: np.ndarray  # the ground's pixel noise, where paint replaced the ground
    box: tuple[float, float, float, float]  # product pixels x0, y0, x1, y1: pixel edges (column x spans [x, x + 1))
    pixels: int  # pixels of coverage >= 0.5

    @property
    def footprint(self) -> tuple[int, int, int, int]:
        h, w = self.alpha.shape
        return self.left, self.top, self.left + w, self.top + h


def psf(plane: np.ndarray) -> np.ndarray:
    """A sprite plane as HiRISE would see it: the terrain is already soft, a sharp-edged sprite would stand out."""
    return cv2.GaussianBlur(plane, (0, 0), PSF_SIGMA_PX)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) sRGB -> (h, w) gray, as the engine's panchromatic cameras see it."""
    return rgb @ np.float32([0.299, 0.587, 0.114])


def draw_object(seed: int, k: int, name: str, config: SynthConfig) -> tuple[str, Sprite, tuple[int, int, int, int]]:
    """Object k's family, sprite and box (x0, y0, x1, y1, sprite pixels); redrawn until a pixel is covered >= 0.5."""
    rng = np.random.default_rng([seed, 2, k])
    while True:
        family = draw_family(rng, name, config.randomize, (config.families or {}).get(name))
        sprite = render_sprite(rng, name, GSD_M, SUN, family)
        ys, xs = np.nonzero(sprite.alpha >= 0.5)
        if len(xs):  # a faint debris piece can cover no pixel half: nothing to box
            return family, sprite, (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)


def place_objects(seed: int, n: int, width: int, height: int, config: SynthConfig, brightness: np.ndarray,
                  ground_mean: float, sigma: float) -> list[Placed]:
    """n objects of the five classes in turn, at random where their footprints fit the product without touching.

    ground_mean: the terrain's mean gray, before the brightness field; sigma: its pixel noise (gray).
    """
    rng = np.random.default_rng([seed, 1])
    placed: list[Placed] = []
    for k in range(n):
        name = CLASS_NAMES[k % len(CLASS_NAMES)]
        family, sprite, (bx0, by0, bx1, by1) = draw_object(seed, k, name, config)
        h, w = sprite.alpha.shape
        if w + 2 * GAP > width or h + 2 * GAP > height:
            raise SystemExit(f"a {name} ({w}x{h} px with its shadow) does not fit a {width}x{height} product")
        for _ in range(1000):
            left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
            if k % BORDER_EVERY == 0:  # centre the box on a grid line, give or take a quarter of its size
                if rng.random() < 0.5 and width > 2 * TILE:
                    line = TILE * int(rng.integers(1, (width - 1) // TILE + 1))
                    left = int(round(line - (bx0 + bx1) / 2 + rng.uniform(-0.25, 0.25) * (bx1 - bx0)))
                elif height > 2 * TILE:
                    line = TILE * int(rng.integers(1, (height - 1) // TILE + 1))
                    top = int(round(line - (by0 + by1) / 2 + rng.uniform(-0.25, 0.25) * (by1 - by0)))
            inside = 0 <= left <= width - w and 0 <= top <= height - h
            if inside and not any(touching((left, top, left + w, top + h), p.footprint) for p in placed):
                break
        else:
            raise SystemExit(f"no free place for object {k} ({name}): fewer --objects or a larger product")
        # as bright, relative to the ground under it, as on the engine's rendered terrain
        gain = ground_mean * (1 + BRIGHTNESS * field_at(brightness, left + w / 2, top + h / 2)) / TYPICAL_REGOLITH
        alpha, decal_alpha = psf(sprite.alpha), psf(sprite.decal[..., 3])
        painted = 1 - (1 - alpha) * (1 - decal_alpha)
        noise = np.random.default_rng([seed, 3, k]).standard_normal((h, w), dtype=np.float32) * np.float32(sigma)
        placed.append(Placed(
            name, family, left, top, psf(luminance(sprite.rgb) * sprite.alpha * gain), alpha, psf(sprite.shadow),
            psf(luminance(sprite.decal[..., :3]) * sprite.decal[..., 3] * gain), decal_alpha, noise * painted,
            (float(left + bx0), float(top + by0), float(left + bx1), float(top + by1)),
            int((sprite.alpha >= 0.5).sum()),
        ))
    return placed


def touching(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    """Whether rectangles a and b (x0, y0, x1, y1) come closer than GAP px."""
    return a[0] < b[2] + GAP and b[0] < a[2] + GAP and a[1] < b[3] + GAP and b[1] < a[3] + GAP


def composite(band: np.ndarray, r0: int, obj: Placed) -> None:
    """Paint the part of obj that falls in `band` (product rows r0.., gray) in place: decal, shadow, object, noise."""
    h, w = obj.alpha.shape
    ys, ye = max(obj.top, r0), min(obj.top + h, r0 + band.shape[0])
    if ys >= ye:
        return
    s = slice(ys - obj.top, ye - obj.top)
    g = band[ys - r0 : ye - r0, obj.left : obj.left + w]  # a view: painted in place
    g *= 1 - obj.decal_alpha[s]
    g += obj.decal_paint[s]
    g *= 1 - obj.shadow[s]
    g *= 1 - obj.alpha[s]
    g += obj.paint[s]
    g += obj.noise[s]
    np.clip(g, 0, 1, out=g)


# ---------------------------------------------------------------- georeferencing and files


def product_transform(width: int, height: int) -> Affine:
    """Pixel -> map metres, the product centred on SITE_DEG, its corner on the whole-pixel grid of the projection."""
    lat, lon = SITE_DEG
    x = MARS_RADIUS_M * math.cos(math.radians(LAT_TS_DEG)) * math.radians((lon - LON0_DEG + 180) % 360 - 180)
    y = MARS_RADIUS_M * math.radians(lat)
    left, top = round(x / GSD_M - width / 2) * GSD_M, round(y / GSD_M + height / 2) * GSD_M
    return Affine(GSD_M, 0, left, 0, -GSD_M, top)


def lon_lat(x_m: float, y_m: float) -> tuple[float, float]:
    """Map metres -> planetocentric (east longitude in [0, 360), latitude), degrees: the equirectangular inverse."""
    lon = LON0_DEG + math.degrees(x_m / (MARS_RADIUS_M * math.cos(math.radians(LAT_TS_DEG))))
    return lon % 360, math.degrees(y_m / MARS_RADIUS_M)


def pds_label(image_name: str, width: int, height: int, transform: Affine) -> str:
    """A PDS3 detached label for a HiRISE-RDR-like raw image: uint16 LSB, 10-bit DN, EQUIRECTANGULAR.

    GDAL's PDS driver puts the corner of the first pixel at (-(SAMPLE_PROJECTION_OFFSET + 0.5) * MAP_SCALE,
    (LINE_PROJECTION_OFFSET + 0.5) * MAP_SCALE) (the PDS3 standard's pixel-centre offsets), and reads
    CENTER_LATITUDE as the standard parallel, CENTER_LONGITUDE as the central meridian, A_AXIS_RADIUS as the sphere.
    """
    corners = [lon_lat(*(transform * (c, r))) for c, r in ((0, 0), (width, height))]
    (west, north), (east, south) = corners
    radius_km = MARS_RADIUS_M / 1000
    return f"""PDS_VERSION_ID               = PDS3
RECORD_TYPE                  = FIXED_LENGTH
RECORD_BYTES                 = {2 * width}
FILE_RECORDS                 = {height}
^IMAGE                       = ("{image_name}", 1)
TARGET_NAME                  = MARS
PRODUCT_ID                   = "DEBRIS_ARCHIVE_TEST_PRODUCT"
NOTE                         = "Synthetic test product: held-out HiRISE terrain (NASA/JPL-Caltech/University
                                of Arizona) with rendered landing hardware; truth.json holds its positions."
OBJECT                       = IMAGE
  LINES                      = {height}
  LINE_SAMPLES               = {width}
  BANDS                      = 1
  SAMPLE_TYPE                = LSB_UNSIGNED_INTEGER
  SAMPLE_BITS                = 16
  SAMPLE_BIT_MASK            = 2#0000001111111111#
  VALID_MINIMUM              = 0
  VALID_MAXIMUM              = 1023
END_OBJECT                   = IMAGE
OBJECT                       = IMAGE_MAP_PROJECTION
  MAP_PROJECTION_TYPE        = "EQUIRECTANGULAR"
  PROJECTION_LATITUDE_TYPE   = PLANETOCENTRIC
  COORDINATE_SYSTEM_NAME     = PLANETOCENTRIC
  POSITIVE_LONGITUDE_DIRECTION = EAST
  A_AXIS_RADIUS              = {radius_km:.5f} <KM>
  B_AXIS_RADIUS              = {radius_km:.5f} <KM>
  C_AXIS_RADIUS              = {radius_km:.5f} <KM>
  CENTER_LATITUDE            = {LAT_TS_DEG:.1f} <DEG>
  CENTER_LONGITUDE           = {LON0_DEG:.1f} <DEG>
  LINE_FIRST_PIXEL           = 1
  LINE_LAST_PIXEL            = {height}
  SAMPLE_FIRST_PIXEL         = 1
  SAMPLE_LAST_PIXEL          = {width}
  MAP_PROJECTION_ROTATION    = 0.0 <DEG>
  MAP_RESOLUTION             = {math.radians(MARS_RADIUS_M) / GSD_M:.4f} <PIX/DEG>
  MAP_SCALE                  = {GSD_M} <METERS/PIXEL>
  MAXIMUM_LATITUDE           = {north:.6f} <DEG>
  MINIMUM_LATITUDE           = {south:.6f} <DEG>
  EASTERNMOST_LONGITUDE      = {east:.6f} <DEG>
  WESTERNMOST_LONGITUDE      = {west:.6f} <DEG>
  LINE_PROJECTION_OFFSET     = {transform.f / GSD_M - 0.5:.1f}
  SAMPLE_PROJECTION_OFFSET   = {-transform.c / GSD_M - 0.5:.1f}
END_OBJECT                   = IMAGE_MAP_PROJECTION
END
"""


def read_back(path: Path, width: int, height: int, transform: Affine, crs: CRS, window: Window,
              expected: np.ndarray) -> dict:
    """What GDAL reads from `path`: driver, size, transform and CRS against the product's, and one window's pixels."""
    with rasterio.open(path) as src:
        pixels = src.read(1, window=window)
        return {
            "driver": src.driver, "size": [src.width, src.height], "dtype": src.dtypes[0],
            "same_size": (src.width, src.height) == (width, height),
            "same_transform": src.transform.almost_equals(transform, precision=1e-6),
            # the same PROJ parameters: names may differ (GDAL's PDS driver calls it "EQUIRECTANGULAR MARS")
            "same_crs": src.crs is not None and src.crs.to_dict() == crs.to_dict(),
            "crs_read": src.crs.to_wkt() if src.crs else None,
            "same_pixels": bool(pixels.shape == expected.shape and np.array_equal(pixels, expected)),
            "overviews": src.overviews(1),
        }


def on_grid_line(lo: float, hi: float, size: int) -> bool:
    """Whether the span lo..hi (pixel edges) reaches a line of the TILE grid inside the product."""
    line = math.floor(hi / TILE) * TILE
    return 0 < line < size and line >= lo


# ---------------------------------------------------------------- the product


def make_product(out: Path = OUT, width: int = 24576, height: int = 22528, seed: int = 0, objects: int = 60,
                 force: bool = False) -> dict:
    """Write the product into `out` unless it is there (see the module docstring); returns truth.json's content."""
    truth_path = out / "truth.json"
    if truth_path.exists() and not force:
        truth = json.loads(truth_path.read_text())
        if all((out / name).exists() for name in truth["files"]):
            print(f"{out}: product exists (--force to remake it)", file=sys.stderr)
            return truth
    out.mkdir(parents=True, exist_ok=True)
    for name in FILES:
        (out / name).unlink(missing_ok=True)
    start = time.perf_counter()
    seconds = {}

    config = load_config()
    sources, source_names = load_sources()
    rng = np.random.default_rng([seed, 0])
    patches = plan_patches(rng, width, height, sources)
    brightness, contrast = smooth_field(rng, width, height), smooth_field(rng, width, height)
    placed = place_objects(seed, objects, width, height, config.synth, brightness,
                           float(np.mean([s.mean() for s in sources])), noise_sigma(sources[0]))
    seconds["place objects"] = time.perf_counter() - start

    transform, crs = product_transform(width, height), CRS.from_wkt(CRS_WKT)
    tif, img = out / "product.tif", out / "product.IMG"
    profile = dict(driver="GTiff", width=width, height=height, count=1, dtype="uint8", crs=crs, transform=transform,
                   tiled=True, blockxsize=512, blockysize=512, compress="deflate", predictor=2, bigtiff="IF_SAFER")
    weight = blend_weight()
    check = placed[0]  # the window read back from every file: around the first object
    x0, y0, x1, y1 = check.footprint
    check_window = Window(x0, y0, x1 - x0, y1 - y0)
    check_u8, check_dn = np.zeros((y1 - y0, x1 - x0), np.uint8), np.zeros((y1 - y0, x1 - x0), np.uint16)
    t = time.perf_counter()
    with rasterio.open(tif, "w", **profile) as dst, open(img, "wb") as raw:
        for r0 in tqdm(range(0, height, BAND), desc="product", unit="band", disable=None):
            r1 = min(r0 + BAND, height)
            band = terrain_band(r0, r1, width, sources, patches, weight, brightness, contrast)
            for obj in placed:
                composite(band, r0, obj)
            dn = np.round(band * 1023).astype(np.uint16)  # 10-bit, as HiRISE RDR
            u8 = ((dn.astype(np.uint32) * 255 + 511) // 1023).astype(np.uint8)
            dst.write(u8, 1, window=Window(0, r0, width, r1 - r0))
            raw.write(dn.astype("<u2").tobytes())
            ys, ye = max(y0, r0), min(y1, r1)
            if ys < ye:
                check_u8[ys - y0 : ye - y0] = u8[ys - r0 : ye - r0, x0:x1]
                check_dn[ys - y0 : ye - y0] = dn[ys - r0 : ye - r0, x0:x1]
    seconds["terrain, hardware, GeoTIFF and IMG"] = time.perf_counter() - t

    t = time.perf_counter()
    with rasterio.Env(GDAL_TIFF_OVR_BLOCKSIZE=512, COMPRESS_OVERVIEW="DEFLATE", PREDICTOR_OVERVIEW=2):
        with rasterio.open(tif, "r+") as dst:
            dst.build_overviews(OVERVIEWS, Resampling.average)
            dst.update_tags(ns="rio_overview", resampling="average")
    seconds["GeoTIFF overviews"] = time.perf_counter() - t

    t = time.perf_counter()
    rasterio.shutil.copy(tif, out / "product.jp2", driver="JP2OpenJPEG", **JP2_OPTIONS)
    seconds["JPEG 2000"] = time.perf_counter() - t
    write_text_atomic(out / "product.LBL", pds_label(img.name, width, height, transform))

    t = time.perf_counter()
    readback = {
        "product.tif": read_back(tif, width, height, transform, crs, check_window, check_u8),
        "product.jp2": read_back(out / "product.jp2", width, height, transform, crs, check_window, check_u8),
        "product.LBL": read_back(out / "product.LBL", width, height, transform, crs, check_window, check_dn),
    }
    seconds["read back"] = time.perf_counter() - t

    truth = {
        "size": [width, height], "megapixels": width * height / 1e6, "gsd_m": GSD_M, "seed": seed,
        "crs_wkt": crs.to_wkt(), "transform": list(transform.to_gdal()),
        "projection": {"radius_m": MARS_RADIUS_M, "lat_ts_deg": LAT_TS_DEG, "lon0_deg": LON0_DEG,
                       "lon_lat": "lon = lon0 + X / (R cos lat_ts), lat = Y / R (radians; planetocentric, east)"},
        "sun": {"azimuth_deg": SUN.azimuth_deg, "elevation_deg": SUN.elevation_deg},
        "terrain": source_names, "box_format": "xyxy, product pixels, pixel edges (column x spans [x, x + 1))",
        "objects": [],
        "files": {name: (out / name).stat().st_size for name in FILES[:-1]},
        "readback": readback,
        "seconds": {**{k: round(v, 1) for k, v in seconds.items()}, "total": round(time.perf_counter() - start, 1)},
    }
    for k, p in enumerate(placed):
        bx0, by0, bx1, by1 = p.box
        cx, cy = transform @ ((bx0 + bx1) / 2, (by0 + by1) / 2)
        lon, lat = lon_lat(cx, cy)
        truth["objects"].append({
            "id": k, "class": p.name, "class_id": config.classes.index(p.name), "family": p.family,
            "box_xyxy": list(p.box), "pixels": p.pixels, "labelled": p.pixels >= config.synth.min_visible_pixels,
            "on_tile_border": on_grid_line(bx0, bx1, width) or on_grid_line(by0, by1, height),
            "centre_map_m": [cx, cy], "lon_lat_deg": [lon, lat],
        })
    write_text_atomic(truth_path, json.dumps(truth, indent=1) + "\n")
    return truth


def summary(out: Path, truth: dict) -> str:
    """What was made, in a few lines."""
    width, height = truth["size"]
    objects = truth["objects"]
    counts = {c: sum(o["class"] == c for o in objects) for c in CLASS_NAMES}
    lines = [f"{out}: {width} x {height} px = {truth['megapixels']:.1f} MP at {truth['gsd_m']} m/px; "
             f"{len(objects)} objects {counts}, {sum(o['on_tile_border'] for o in objects)} on a {TILE} px tile line, "
             f"{sum(o['labelled'] for o in objects)} big enough to label"]
    lines += [f"  {name}: {size / 2**20:,.1f} MiB" for name, size in truth["files"].items()]
    lines += [f"  read back {name}: " + ", ".join(f"{k} {v}" for k, v in r.items() if k.startswith("same_"))
              for name, r in truth["readback"].items()]
    lines.append("  seconds: " + ", ".join(f"{k} {v}" for k, v in truth["seconds"].items()))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--width", type=int, default=24576)
    parser.add_argument("--height", type=int, default=22528)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--objects", type=int, default=60)
    parser.add_argument("--force", action="store_true", help="remake the product even if it exists")
    args = parser.parse_args(argv)
    truth = make_product(args.out, args.width, args.height, args.seed, args.objects, args.force)
    print(summary(args.out, truth))


if __name__ == "__main__":
    main()
