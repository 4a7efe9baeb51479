"""Huge orbital products read window by window: JPEG 2000, PDS3, PDS4 and (Geo)TIFF -> (h, w, 3) uint8 RGB.

HiRISE and CTX products run to 20,000 x 100,000 px, so nothing here decodes a product whole: `read`
decodes one window, `overview` a reduced view from the file's own overviews (JPEG 2000 resolution
levels, TIFF overviews). rasterio does the decoding with the GDAL its wheel brings (drivers GTiff,
JP2OpenJPEG, PDS, PDS4); benchmarks/readers.py measured it against tifffile and glymur.

A Product holds one GDAL dataset handle, and GDAL handles are not thread-safe: use a Product from
one thread only (open one per worker).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import TiffImagePlugin

from debris.errors import MissingPackage
from debris.geo import GeoRef
from debris.io.reader import NAMED_SUFFIXES, PRODUCT_SUFFIXES, FrameError, check_file, detached_label, read_header

_TIFF_SUFFIXES = (".tif", ".tiff")
# The drivers of the product formats (reader.PRODUCT_SUFFIXES and NAMED_SUFFIXES, and TIFF): whatever
# else GDAL's ~150 drivers make of a file (an .xml as some other format) is refused. PDS opens a PDS3
# label that points to a JPEG 2000 (HiRISE) itself.
_DRIVERS = ("GTiff", "JP2OpenJPEG", "PDS", "PDS4", "ISIS3", "VICAR")
# GDAL keeps decoded blocks in one process-wide cache of 5% of the RAM by default (6 GB on a 128 GB
# machine), which a product read window by window fills to the brim. Windows move along a row, so
# what pays to keep is one band of blocks across the product: 640 lines of a 100,000 px wide 16-bit
# striped TIFF are 128 MB. Set GDAL_CACHEMAX in the environment to choose another size.
GDAL_CACHE_BYTES = 256 * 2**20
_OVERVIEW_FOR_RANGE = 256  # longest side of the view a float product's DN range is taken from

# GDAL's messages reach Python's logging through rasterio ("rasterio._env"); without a handler of its
# own, Python's last-resort handler would print its warnings on the user's terminal. Errors come back
# as exceptions, whose text goes into the FrameError's reason.
logging.getLogger("rasterio").addHandler(logging.NullHandler())
# A plain image (no georeferencing) is normal here, not worth a warning.
warnings.filterwarnings("ignore", message="Dataset has no geotransform")


def is_product(path: str | Path, max_pixels: int) -> bool:
    """Whether `path` is for open_product rather than read_frame.

    JPEG 2000, PDS3 (.img, .lbl) and PDS4 (.xml): always. TIFF: only when its header says it has
    more than max_pixels pixels, the ones read_frame refuses as too large, so a TIFF within the
    limit keeps read_frame's output; a TIFF whose header is unreadable is left to read_frame, which
    reports it. Anything else: False.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in _TIFF_SUFFIXES:
        return suffix in PRODUCT_SUFFIXES + NAMED_SUFFIXES
    try:
        width, height, _ = read_header(path)
    except (FrameError, OSError):
        return False
    return width * height > max_pixels


def open_product(path: str | Path) -> Product:
    """Open a product for windowed reading; FrameError names the file when it cannot be read.

    A PDS3 .img whose label is detached opens through the .lbl beside it.
    Raises MissingPackage when rasterio is not installed.
    """
    return Product(path)


def to_lonlat(geo: GeoRef, X: Any, Y: Any) -> tuple[np.ndarray, np.ndarray] | None:
    """Map (X, Y) in geo's CRS -> planetocentric (longitude 0..360 east, latitude) in degrees, float64 of X's shape.

    On the body geo's CRS names (its radius; Mars 3396190 m), east-positive longitude from its prime
    meridian. None when the CRS has no geographic counterpart (a local engineering CRS). Raises
    MissingPackage when rasterio is not installed (a GeoRef read back from JSON needs it too).
    """
    try:
        from rasterio.warp import transform
    except ImportError:
        raise MissingPackage("longitude and latitude on a map projection need rasterio: pip install 'debris[archive]'") from None

    geographic = _geographic(geo.crs_wkt)
    if geographic is None:
        return None
    geogcs, flattening = geographic
    X, Y = np.broadcast_arrays(np.asarray(X, np.float64), np.asarray(Y, np.float64))
    lon, lat = transform(geo.crs_wkt, geogcs, X.ravel(), Y.ravel())
    lon, lat = np.reshape(lon, X.shape), np.reshape(lat, X.shape)
    if flattening:  # on an ellipsoid PROJ's latitude is planetographic (geodetic)
        lat = np.degrees(np.arctan((1 - flattening) ** 2 * np.tan(np.radians(lat))))
    return np.mod(lon, 360.0), lat  # 0..360 east: the planetocentric convention of Mars maps (IAU, PDS)


class Product:
    """One open product; a context manager. Use it from one thread only (see the module's docstring).

    path: the file as given (a PDS3 .img with a detached label is read through the .lbl beside it).
    width, height: pixels at full resolution. bands: bands in the file (1 gray, 3+ colour).
    bit_depth: bits of a stored sample: 8, 16 (also HiRISE's 10-bit DN), 32 for float.
    dn_range: (lo, hi) DN that map to 0 and 255; the first of these that the product states wins:
        1. its PDS label: VALID_MINIMUM / VALID_MAXIMUM (stored DN, as PDS3 and PDS4 define them),
           else DERIVED_MINIMUM / DERIVED_MAXIMUM turned back into DN by SCALING_FACTOR / OFFSET,
           else SAMPLE_BIT_MASK (HiRISE RDR: 10-bit DN in 16-bit samples -> 0..1023);
        2. the file: GDAL's STATISTICS_MINIMUM / STATISTICS_MAXIMUM (nodata excluded; in the file or
           its .aux.xml), else TIFF SMinSampleValue / SMaxSampleValue, else the precision it
           declares (NBITS: a 10-bit JPEG 2000 -> 0..1023);
        3. the sample type's full range (0..255, 0..65535), as read_frame maps 8- and 16-bit
           frames; a float product states none, so its range is the min..max of a 256 px overview.
    geo: the map projection and pixel -> map transform (debris.geo.GeoRef, rasterio's Affine order),
        or None when the file has none; to_lonlat(geo, X, Y) gives longitude and latitude.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ds = _open(self.path)
        try:
            ds = self._ds
            self.width, self.height, self.bands = ds.width, ds.height, ds.count
            dtype = np.dtype(ds.dtypes[0])
            if dtype.kind not in "uif":
                raise FrameError(self.path, f"unsupported sample type {dtype}")
            self.bit_depth = 8 * dtype.itemsize
            self._indexes = [1, 2, 3] if ds.count >= 3 else [1]
            self._nodata = ds.nodatavals[0]
            self._resampling = _average()
            self.geo = GeoRef(ds.crs.to_wkt(), tuple(ds.transform)[:6]) if ds.crs else None
            self.dn_range = _label_range(ds, self.path) or _file_range(ds, self.path) or self._type_range(dtype)
            # 8- and 16-bit DN (nearly every product) go through a table: 4x faster than the arithmetic
            self._table = self._levels(np.arange(2 ** self.bit_depth, dtype=dtype)) if dtype.kind == "u" and dtype.itemsize <= 2 else None
        except BaseException:
            self.close()
            raise

    def read(self, x0: int, y0: int, width: int, height: int, out_size: tuple[int, int] | None = None) -> np.ndarray:
        """The region [x0, x0 + width) x [y0, y0 + height) in full-resolution pixels -> (h, w, 3) uint8 RGB.

        out_size (w, h): the region resampled to that size by area averaging (from the file's
        overviews when they are fine enough), else (h, w) = (height, width). ValueError when the
        region is not inside the product; FrameError when the file cannot deliver it.
        """
        if not (0 <= x0 and 0 <= y0 and width > 0 and height > 0 and x0 + width <= self.width and y0 + height <= self.height):
            raise ValueError(f"window x0={x0} y0={y0} {width} x {height} is not inside {self.path} ({self.width} x {self.height})")
        out_w, out_h = out_size or (width, height)
        return self._to_rgb8(self._read_dn(x0, y0, width, height, out_w, out_h))

    def overview(self, max_side: int) -> np.ndarray:
        """The whole product with its longest side at most max_side -> (h, w, 3) uint8 RGB.

        Read from the file's overviews or resolution levels when it has them; a file without any is
        streamed through at full resolution (GDAL reads it block by block, never whole).
        """
        return self.read(0, 0, self.width, self.height, self._fit(max_side))

    def close(self) -> None:
        self._ds.close()

    def __enter__(self) -> Product:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _fit(self, max_side: int) -> tuple[int, int]:
        """(w, h) of the whole product shrunk to a longest side of max_side px (never enlarged)."""
        scale = min(1.0, max_side / max(self.width, self.height))
        return max(1, round(self.width * scale)), max(1, round(self.height * scale))

    def _read_dn(self, x0: int, y0: int, width: int, height: int, out_w: int, out_h: int) -> np.ndarray:
        """(bands, out_h, out_w) DN as stored: band 1, or bands 1-3."""
        from rasterio.errors import RasterioError
        from rasterio.windows import Window

        try:
            return self._ds.read(self._indexes, window=Window(x0, y0, width, height),
                                 out_shape=(len(self._indexes), out_h, out_w), resampling=self._resampling)
        except RasterioError as e:
            raise FrameError(self.path, f"truncated or corrupt ({_reason(e, self.path)})") from e

    def _to_rgb8(self, dn: np.ndarray) -> np.ndarray:
        """(bands, h, w) DN, 1 or 3 bands -> (h, w, 3) uint8 RGB."""
        levels = np.take(self._table, dn) if self._table is not None else self._levels(dn)  # take: 2x faster than table[dn]
        return cv2.cvtColor(levels[0], cv2.COLOR_GRAY2RGB) if len(levels) == 1 else cv2.merge(list(levels))

    def _levels(self, dn: np.ndarray) -> np.ndarray:
        """DN -> uint8 of the same shape: dn_range linearly onto 0..255, rounded and clipped; nodata and NaN -> 0."""
        lo, hi = self.dn_range
        values = (dn.astype(np.float32) - np.float32(lo)) * np.float32(255 / (hi - lo))
        invalid = np.isnan(dn) if dn.dtype.kind == "f" else np.zeros(dn.shape, bool)
        if self._nodata is not None:
            invalid |= dn == self._nodata
        values[invalid] = 0
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)

    def _type_range(self, dtype: np.dtype) -> tuple[float, float]:
        if dtype.kind in "ui":
            return float(np.iinfo(dtype).min), float(np.iinfo(dtype).max)
        dn = self._read_dn(0, 0, self.width, self.height, *self._fit(_OVERVIEW_FOR_RANGE))
        valid = dn[np.isfinite(dn)]
        valid = valid[valid != self._nodata] if self._nodata is not None else valid
        if valid.size == 0 or valid.min() == valid.max():
            raise FrameError(self.path, "float samples with no value range in the label or file, and no spread to take one from")
        return float(valid.min()), float(valid.max())


def _open(path: Path) -> Any:
    """The rasterio dataset of `path` (or of the .lbl beside a PDS3 .img that has no label of its own)."""
    try:
        import rasterio
    except ImportError:
        raise MissingPackage(f"{path}: reading JPEG 2000, PDS and huge TIFF products needs rasterio: pip install 'debris[archive]'") from None
    from rasterio.errors import RasterioError

    check_file(path)
    _limit_gdal_cache()
    try:
        ds = rasterio.open(path)
    except RasterioError as e:
        label = detached_label(path) if path.suffix.lower() == ".img" else None
        if label is None:
            raise FrameError(path, f"not a readable product ({_reason(e, path)})") from e
        try:
            ds = rasterio.open(label, driver="PDS")
        except RasterioError as e:
            raise FrameError(path, f"no label of its own, and the one beside it, {label.name}, is unreadable ({_reason(e, label)})") from e
    if ds.driver not in _DRIVERS:
        ds.close()
        raise FrameError(path, f"not a product: GDAL reads it as {ds.driver}, not JPEG 2000, PDS3, PDS4 or TIFF")
    return ds


@functools.cache
def _limit_gdal_cache() -> None:
    """Cap GDAL's block cache at GDAL_CACHE_BYTES for the process, unless GDAL_CACHEMAX is set (see GDAL_CACHE_BYTES)."""
    if "GDAL_CACHEMAX" not in os.environ:
        from rasterio.env import set_gdal_config

        set_gdal_config("GDAL_CACHEMAX", GDAL_CACHE_BYTES)  # bytes: rasterio passes it to GDALSetCacheMax64


@functools.cache
def _average() -> Any:
    from rasterio.enums import Resampling

    return Resampling.average


def _reason(e: Exception, path: Path) -> str:
    """GDAL's own message (rasterio chains it as the cause of a generic "Read failed"), less the path it starts with."""
    text = str(e.__cause__ or e)
    for separator in (": ", ", "):
        text = text.removeprefix(f"{path}{separator}")
    return text


def _label_range(ds: Any, path: Path) -> tuple[float, float] | None:
    """The DN range a PDS3 or PDS4 label states (see Product.dn_range), or None."""
    if ds.driver == "PDS4":
        return _pds4_range(path)
    if ds.driver != "PDS":
        return None
    items = ds.tags(ns="json:PDS")
    # GDAL gives the parsed label as one JSON string; rasterio's tags() splits every item at its first
    # ':' as if it were KEY:VALUE, and in this JSON that is the colon after the first key.
    try:
        image = _find_object(json.loads(":".join(next(iter(items.items())))), "IMAGE") if len(items) == 1 else None
    except ValueError:
        return None
    if image is None:
        return None
    valid = _checked(_number(image.get("VALID_MINIMUM")), _number(image.get("VALID_MAXIMUM")))
    scale, offset = _number(image.get("SCALING_FACTOR")) or 1.0, _number(image.get("OFFSET")) or 0.0
    derived = [_number(image.get(key)) for key in ("DERIVED_MINIMUM", "DERIVED_MAXIMUM")]  # physical units
    derived = _checked(*((v - offset) / scale if v is not None else None for v in derived))
    mask = re.fullmatch(r"2#([01]+)#", str(image.get("SAMPLE_BIT_MASK", "")))
    return valid or derived or (_checked(0.0, float(int(mask[1], 2))) if mask else None)


def _find_object(label: dict, name: str) -> dict | None:
    """The first OBJECT `name` in a PDS3 label as JSON, searched depth first (HiRISE nests IMAGE in UNCOMPRESSED_FILE)."""
    for key, value in label.items():
        if isinstance(value, dict):
            found = value if key == name else _find_object(value, name)
            if found is not None:
                return found
    return None


def _pds4_range(path: Path) -> tuple[float, float] | None:
    """valid_minimum / valid_maximum from a PDS4 label's Special_Constants (stored values), or None."""
    try:
        root = ET.parse(path).getroot()
    except (ET.ParseError, OSError):
        return None
    found: dict[str, float | None] = {}
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name in ("valid_minimum", "valid_maximum"):
            found.setdefault(name, _number(element.text))
    return _checked(found.get("valid_minimum"), found.get("valid_maximum"))


def _file_range(ds: Any, path: Path) -> tuple[float, float] | None:
    """The DN range the file states (see Product.dn_range), or None."""
    tags = ds.tags(1)
    stated = _checked(_number(tags.get("STATISTICS_MINIMUM")), _number(tags.get("STATISTICS_MAXIMUM")))
    if stated is None and ds.driver == "GTiff":
        # GDAL does not surface these two TIFF tags; Pillow reads them from the header alone.
        try:
            with TiffImagePlugin.TiffImageFile(path) as tiff:
                low, high = tiff.tag_v2.get(340), tiff.tag_v2.get(341)  # SMinSampleValue, SMaxSampleValue
        except (SyntaxError, ValueError, OSError):
            low = high = None
        stated = _checked(_number(np.min(low)) if low is not None else None, _number(np.max(high)) if high is not None else None)
    bits = _number(ds.tags(1, ns="IMAGE_STRUCTURE").get("NBITS"))
    return stated or (_checked(0.0, 2.0**bits - 1) if bits else None)


def _number(value: Any) -> float | None:
    """A label's or tag's number (PDS3 JSON may wrap it as {"value": ..., "unit": ...}), or None."""
    if isinstance(value, dict):
        value = value.get("value")
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _checked(lo: float | None, hi: float | None) -> tuple[float, float] | None:
    """(lo, hi) when both are given and hi > lo, else None (so the next source decides)."""
    return (lo, hi) if lo is not None and hi is not None and hi > lo else None


@functools.lru_cache(maxsize=16)
def _geographic(crs_wkt: str) -> tuple[str, float] | None:
    """The GEOGCS[...] of a WKT 1 CRS (the whole CRS when it is geographic) and its ellipsoid's flattening.

    None when the CRS has no GEOGCS. The geographic CRS is the projected one's own, so the body and
    its radius are the CRS's: building it from an EPSG code would put the point on the Earth.
    """
    start = crs_wkt.find("GEOGCS[")
    if start < 0:
        return None
    depth, quoted = 0, False
    for end in range(start, len(crs_wkt)):
        char = crs_wkt[end]
        quoted ^= char == '"'
        if not quoted:
            depth += (char == "[") - (char == "]")
            if char == "]" and depth == 0:
                break
    geogcs = crs_wkt[start:end + 1]
    spheroid = re.search(r'SPHEROID\["[^"]*",\s*([-+\d.eE]+),\s*([-+\d.eE]+)', geogcs)
    inverse_flattening = float(spheroid[2]) if spheroid else 0.0
    return geogcs, (1 / inverse_flattening if inverse_flattening else 0.0)
