"""Tests for debris.io.product: every product is written in tmp_path by rasterio (GDAL), tifffile or by hand (PDS3 labels)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import Affine  # noqa: E402

from debris.errors import MissingPackage  # noqa: E402
from debris.geo import GeoRef  # noqa: E402
from debris.io.product import is_product, open_product, to_lonlat  # noqa: E402
from debris.io.reader import FrameError, to_rgb8  # noqa: E402

MARS_R = 3396190.0
LAT_TS, LON_0 = 20.0, 100.0
EQUIRECTANGULAR = (
    f'PROJCS["Mars equirectangular",GEOGCS["Mars",DATUM["D_Mars",SPHEROID["Mars",{MARS_R},0]],'
    'PRIMEM["Reference_Meridian",0],UNIT["degree",0.0174532925199433]],PROJECTION["Equirectangular"],'
    f'PARAMETER["standard_parallel_1",{LAT_TS}],PARAMETER["central_meridian",{LON_0}],'
    'PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1]]'
)


def north_up(left: float, top: float) -> Affine:
    """0.25 m pixels, north up, the top-left corner at (left, top) metres."""
    return Affine(0.25, 0.0, left, 0.0, -0.25, top)


def terrain(height: int, width: int, dtype: str = "uint8", seed: int = 0) -> np.ndarray:
    """(H, W) smooth ramps plus noise over the dtype's whole range: windows and overviews both have something to compare."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:height, :width]
    top = np.iinfo(dtype).max
    smooth = (np.sin(x / 37.0) + np.cos(y / 23.0) + 2) / 4 * top
    return np.clip(smooth + rng.normal(0, top / 50, (height, width)), 0, top).astype(dtype)


def geotiff(path: Path, array: np.ndarray, tiled: bool = True, overviews: tuple[int, ...] = (2, 4), **options) -> Path:
    """array (H, W) or (B, H, W) -> a deflate GeoTIFF on the Mars equirectangular CRS, 256² tiles (or strips), with overviews."""
    bands = array[None] if array.ndim == 2 else array
    layout = dict(tiled=True, blockxsize=256, blockysize=256) if tiled else dict(tiled=False)
    with rasterio.open(path, "w", driver="GTiff", width=bands.shape[2], height=bands.shape[1], count=bands.shape[0],
                       dtype=bands.dtype, crs=EQUIRECTANGULAR, transform=north_up(-5000.0, 8000.0),
                       compress="deflate", **layout, **options) as ds:
        ds.write(bands)
        if overviews:
            ds.build_overviews(list(overviews), rasterio.enums.Resampling.average)
    return path


VALID_10_BIT = "  SAMPLE_BIT_MASK = 2#0000011111111111#\n  VALID_MINIMUM = 0\n  VALID_MAXIMUM = 1023\n  SCALING_FACTOR = 0.5\n  OFFSET = 3.0\n"


def image_object(height: int, width: int, keywords: str) -> str:
    """A PDS3 IMAGE object of big-endian 16-bit samples, with `keywords` (lines of KEY = VALUE) about its DN."""
    return (f"OBJECT = IMAGE\n  LINES = {height}\n  LINE_SAMPLES = {width}\n  BANDS = 1\n  SAMPLE_TYPE = MSB_UNSIGNED_INTEGER\n"
            f"  SAMPLE_BITS = 16\n{keywords}END_OBJECT = IMAGE\n")


def pds3_label(image_name: str, height: int, width: int, projection: str, keywords: str = VALID_10_BIT) -> str:
    """A PDS3 label for a detached image, map-projected on Mars: equirectangular or north polar stereographic."""
    centre = (f"CENTER_LATITUDE = {LAT_TS} <DEG>\n  CENTER_LONGITUDE = {LON_0} <DEG>" if projection == "EQUIRECTANGULAR"
              else "CENTER_LATITUDE = 90.0 <DEG>\n  CENTER_LONGITUDE = 0.0 <DEG>")
    return f"""PDS_VERSION_ID = PDS3
RECORD_TYPE = FIXED_LENGTH
RECORD_BYTES = {2 * width}
FILE_RECORDS = {height}
^IMAGE = "{image_name}"
{image_object(height, width, keywords)}OBJECT = IMAGE_MAP_PROJECTION
  MAP_PROJECTION_TYPE = "{projection}"
  A_AXIS_RADIUS = 3396.19 <KM>
  B_AXIS_RADIUS = 3396.19 <KM>
  C_AXIS_RADIUS = 3396.19 <KM>
  COORDINATE_SYSTEM_NAME = PLANETOCENTRIC
  POSITIVE_LONGITUDE_DIRECTION = EAST
  {centre}
  MAP_PROJECTION_ROTATION = 0.0
  MAP_SCALE = 0.25 <METERS/PIXEL>
  LINE_PROJECTION_OFFSET = 40000.0 <PIXEL>
  SAMPLE_PROJECTION_OFFSET = -20000.0 <PIXEL>
END_OBJECT = IMAGE_MAP_PROJECTION
END
"""


def pds3(folder: Path, dn: np.ndarray, projection: str = "EQUIRECTANGULAR", keywords: str = VALID_10_BIT) -> tuple[Path, Path]:
    """dn (H, W) uint16 -> x.IMG (raw big-endian samples) and its detached label x.LBL."""
    image, label = folder / "x.IMG", folder / "x.LBL"
    dn.astype(">u2").tofile(image)
    label.write_text(pds3_label(image.name, *dn.shape, projection, keywords))
    return image, label


def gray3(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., None], 3, axis=2)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_tiled_geotiff_windows_are_the_pixels_written(tmp_path, dtype):
    array = terrain(700, 900, dtype)
    with open_product(geotiff(tmp_path / "p.tif", array)) as product:
        assert (product.width, product.height, product.bands, product.bit_depth) == (900, 700, 1, 8 * array.itemsize)
        assert product.dn_range == (0.0, float(np.iinfo(dtype).max))  # the sample type's range, as read_frame
        for x0, y0, w, h in [(0, 0, 640, 640), (250, 30, 640, 640), (260, 60, 640, 640), (899, 699, 1, 1)]:
            window = product.read(x0, y0, w, h)
            assert window.shape == (h, w, 3) and window.dtype == np.uint8
            np.testing.assert_array_equal(window, to_rgb8(array[y0:y0 + h, x0:x0 + w]))


def test_overview_comes_from_the_files_overviews_and_resembles_the_product(tmp_path):
    array = terrain(700, 900)
    path = geotiff(tmp_path / "p.tif", array, overviews=(2, 4, 8))
    with open_product(path) as product:
        view = product.overview(100)
        assert view.shape == (78, 100, 3)
        expected = cv2.resize(array, (100, 78), interpolation=cv2.INTER_AREA)
        assert np.abs(view[..., 0].astype(int) - expected).mean() < 2
        assert (view[..., 0] == view[..., 1]).all() and (view[..., 1] == view[..., 2]).all()
        reduced = product.read(100, 50, 640, 640, out_size=(160, 160))
        assert reduced.shape == (160, 160, 3)
    # Full resolution rewritten, overviews left as they were: overview() must show the old content.
    with rasterio.open(path, "r+") as ds:
        ds.write(np.zeros_like(array), 1)
    with open_product(path) as product:
        assert product.overview(100).mean() > 50
        assert product.read(0, 0, 900, 700, out_size=(450, 350)).mean() > 50  # a 2x reduced view, from overview 2
        assert product.read(0, 0, 64, 64).max() == 0


def test_striped_tiff_without_overviews_reads_windows_and_an_overview(tmp_path):
    array = terrain(300, 500)
    with open_product(geotiff(tmp_path / "p.tif", array, tiled=False, overviews=())) as product:
        np.testing.assert_array_equal(product.read(123, 45, 200, 100), gray3(array[45:145, 123:323]))
        view = product.overview(1000)  # never upsampled: the whole product
        np.testing.assert_array_equal(view, gray3(array))


def test_first_three_bands_are_rgb(tmp_path):
    array = np.stack([terrain(64, 80, seed=s) for s in range(4)])
    with open_product(geotiff(tmp_path / "p.tif", array, overviews=())) as product:
        assert product.bands == 4
        np.testing.assert_array_equal(product.read(5, 6, 40, 30), np.moveaxis(array[:3, 6:36, 5:45], 0, -1))


def test_lossless_jpeg2000_windows_and_resolution_levels(tmp_path):
    array = terrain(600, 800)
    path = tmp_path / "p.jp2"
    with rasterio.open(path, "w", driver="JP2OpenJPEG", width=800, height=600, count=1, dtype="uint8", crs=EQUIRECTANGULAR,
                       transform=north_up(0.0, 0.0), REVERSIBLE="YES", QUALITY=100, BLOCKXSIZE=256, BLOCKYSIZE=256) as ds:
        ds.write(array, 1)
    with open_product(path) as product:
        assert product._ds.overviews(1)  # the resolution levels, which overview() reads
        np.testing.assert_array_equal(product.read(300, 200, 400, 300), gray3(array[200:500, 300:700]))
        view = product.overview(200)
        assert view.shape == (150, 200, 3)
        # resolution level 2 is the wavelet's low-pass, near but not equal to an area average
        assert np.abs(view[..., 0].astype(int) - cv2.resize(array, (200, 150), interpolation=cv2.INTER_AREA)).mean() < 5
        assert product.geo is not None and "3396190" in product.geo.crs_wkt


@pytest.mark.parametrize("projection", ["EQUIRECTANGULAR", "POLAR STEREOGRAPHIC"])
def test_pds3_detached_label_dn_range_and_map_projection(tmp_path, projection):
    dn = (np.arange(60 * 80).reshape(60, 80) % 1100).astype(np.uint16)  # a few DN above VALID_MAXIMUM
    image, label = pds3(tmp_path, dn, projection)
    for path in (label, image):  # the .IMG has no label of its own: the .LBL beside it is read
        with open_product(path) as product:
            assert product.path == path
            assert (product.width, product.height, product.bit_depth) == (80, 60, 16)
            assert product.dn_range == (0.0, 1023.0)  # VALID_MAXIMUM, not SAMPLE_BIT_MASK's 2047 or 65535
            window = product.read(10, 20, 50, 30)[..., 0]
            expected = np.clip(np.rint(dn[20:50, 10:60] * 255.0 / 1023), 0, 255)
            np.testing.assert_array_equal(window, expected)
            geo = product.geo
    assert f"{MARS_R:.0f}" in geo.crs_wkt
    # The label's offsets place the centre of the first pixel: X = -SAMPLE_PROJECTION_OFFSET x scale.
    np.testing.assert_allclose(geo.to_map(0.5, 0.5), (20000 * 0.25, 40000 * 0.25))
    x, y = np.array([0.0, 40.5, 80.0]), np.array([0.0, 30.5, 60.0])
    X, Y = geo.to_map(x, y)
    lon, lat = to_lonlat(geo, X, Y)
    if projection == "EQUIRECTANGULAR":
        closed_lon = np.degrees(X / (MARS_R * math.cos(math.radians(LAT_TS)))) + LON_0
        closed_lat = np.degrees(Y / MARS_R)
    else:  # north polar stereographic, true scale at the pole, on a sphere
        closed_lon = np.degrees(np.arctan2(X, -Y))
        closed_lat = 90 - 2 * np.degrees(np.arctan(np.hypot(X, Y) / (2 * MARS_R)))
    np.testing.assert_allclose(lon, closed_lon, rtol=0, atol=1e-6)
    np.testing.assert_allclose(lat, closed_lat, rtol=0, atol=1e-6)


@pytest.mark.parametrize("keywords, dn_range", [
    (VALID_10_BIT, (0.0, 1023.0)),  # VALID_* win over SAMPLE_BIT_MASK
    ("  SCALING_FACTOR = 0.5\n  OFFSET = 3.0\n  DERIVED_MINIMUM = 3.0\n  DERIVED_MAXIMUM = 253.0\n", (0.0, 500.0)),
    ("  SAMPLE_BIT_MASK = 2#0000000111111111#\n", (0.0, 511.0)),
    ("", (0.0, 65535.0)),
])
def test_pds3_dn_range_sources(tmp_path, keywords, dn_range):
    _, label = pds3(tmp_path, np.zeros((4, 6), np.uint16), keywords=keywords)
    with open_product(label) as product:
        assert product.dn_range == dn_range


def test_hirise_style_label_of_a_10_bit_jpeg2000(tmp_path):
    """A HiRISE RDR: a PDS3 .LBL describing the 16-bit image inside a .JP2 whose samples are 10-bit."""
    dn = (np.arange(300 * 400).reshape(300, 400) % 1024).astype(np.uint16)
    with rasterio.open(tmp_path / "H.JP2", "w", driver="JP2OpenJPEG", width=400, height=300, count=1, dtype="uint16",
                       NBITS=10, REVERSIBLE="YES", QUALITY=100) as ds:
        ds.write(dn, 1)
    image = image_object(300, 400, "  SAMPLE_BIT_MASK = 2#0000001111111111#\n  CORE_NULL = 0\n")
    (tmp_path / "H.LBL").write_text(f"""PDS_VERSION_ID = PDS3
RECORD_TYPE = UNDEFINED
^IMAGE = "H.JP2"
OBJECT = COMPRESSED_FILE
  FILE_NAME = "H.JP2"
  RECORD_TYPE = UNDEFINED
  ENCODING_TYPE = "JP2"
  INTERCHANGE_FORMAT = BINARY
  UNCOMPRESSED_FILE_NAME = "H.IMG"
END_OBJECT = COMPRESSED_FILE
OBJECT = UNCOMPRESSED_FILE
  FILE_NAME = "H.IMG"
  RECORD_TYPE = FIXED_LENGTH
  ^IMAGE = "H.IMG"
{image}END_OBJECT = UNCOMPRESSED_FILE
END
""")
    expected = np.clip(np.rint(dn[10:50, 20:80] * 255.0 / 1023), 0, 255)
    for path in (tmp_path / "H.LBL", tmp_path / "H.JP2"):  # the label's SAMPLE_BIT_MASK; the JPEG 2000's own precision
        with open_product(path) as product:
            assert product.dn_range == (0.0, 1023.0) and product.bit_depth == 16
            np.testing.assert_array_equal(product.read(20, 10, 60, 40)[..., 0], expected)
            assert product.overview(100).shape == (75, 100, 3)


def test_pds4_product_and_its_labels_valid_range(tmp_path):
    dn = (np.arange(50 * 70).reshape(50, 70) * 7 % 1024).astype(np.uint16)
    path = tmp_path / "p.xml"
    with rasterio.open(path, "w", driver="PDS4", width=70, height=50, count=1, dtype="uint16", crs=EQUIRECTANGULAR,
                       transform=north_up(1000.0, 2000.0), nodata=0) as ds:
        ds.write(dn, 1)
    with open_product(path) as product:
        assert product.dn_range == (0.0, 65535.0)
        np.testing.assert_array_equal(product.read(3, 4, 60, 40), to_rgb8(dn[4:44, 3:63]))
        assert product.geo.transform == (0.25, 0.0, 1000.0, 0.0, -0.25, 2000.0)
    text = path.read_text()
    assert "</missing_constant>" in text
    path.write_text(text.replace("</missing_constant>", "</missing_constant><valid_maximum>1023</valid_maximum>"
                                 "<valid_minimum>1</valid_minimum>", 1))
    with open_product(path) as product:
        assert product.dn_range == (1.0, 1023.0)
        window = product.read(0, 0, 70, 50)[..., 0]
        np.testing.assert_array_equal(window, np.where(dn == 0, 0, np.clip(np.rint((dn - 1.0) * 255 / 1022), 0, 255)))


def test_dn_range_from_the_files_statistics_sample_values_or_bit_depth_and_nodata_maps_to_0(tmp_path):
    import tifffile

    dn = (np.arange(64 * 64).reshape(64, 64) % 1000).astype(np.uint16)
    with open_product(geotiff(tmp_path / "nbits.tif", dn, overviews=(), NBITS=10)) as product:
        assert product.dn_range == (0.0, 1023.0)
    path = geotiff(tmp_path / "stats.tif", dn, overviews=(), NBITS=10, nodata=500)
    with rasterio.open(path, "r+") as ds:
        ds.update_tags(1, STATISTICS_MINIMUM=100, STATISTICS_MAXIMUM=900)
    with open_product(path) as product:
        assert product.dn_range == (100.0, 900.0)  # statistics win over NBITS
        window = product.read(0, 0, 64, 64)[..., 0]
    expected = np.clip(np.rint((dn - 100.0) * 255 / 800), 0, 255)
    np.testing.assert_array_equal(window, np.where(dn == 500, 0, expected))
    tifffile.imwrite(tmp_path / "smin.tif", dn, extratags=[(340, "H", 1, 7, True), (341, "H", 1, 990, True)])
    with open_product(tmp_path / "smin.tif") as product:
        assert product.dn_range == (7.0, 990.0) and product.geo is None


def test_float_product_range_is_taken_from_its_overview(tmp_path):
    values = np.linspace(-2.0, 6.0, 40 * 50, dtype=np.float32).reshape(40, 50)
    values[0, 0] = np.nan
    with open_product(geotiff(tmp_path / "f.tif", values, overviews=())) as product:
        assert product.dn_range == (pytest.approx(float(values[0, 1])), 6.0)
        window = product.read(0, 0, 50, 40)
    assert window[0, 0, 0] == 0 and window[-1, -1, 0] == 255


def test_georef_maps_pixel_corners_and_knows_when_there_is_no_body():
    geo = GeoRef(EQUIRECTANGULAR, tuple(north_up(-5000.0, 8000.0))[:6])
    X, Y = geo.to_map(np.array([0, 4]), np.array([0, 8]))
    np.testing.assert_allclose(X, [-5000.0, -4999.0])
    np.testing.assert_allclose(Y, [8000.0, 7998.0])
    lon, lat = to_lonlat(geo, 0.0, MARS_R * math.radians(10))
    assert lon == pytest.approx(LON_0, abs=1e-9) and lat == pytest.approx(10.0, abs=1e-9)
    local = 'LOCAL_CS["pixels",LOCAL_DATUM["none",32767],UNIT["metre",1],AXIS["X",EAST],AXIS["Y",NORTH]]'
    assert to_lonlat(GeoRef(local, geo.transform), 0.0, 0.0) is None


def test_planetocentric_latitude_on_an_ellipsoid():
    a, b = 3396190.0, 3376200.0
    wkt = (f'GEOGCS["Mars 2000",DATUM["D_Mars_2000",SPHEROID["Mars_2000_IAU_IAG",{a},{a / (a - b)}]],'
           'PRIMEM["Reference_Meridian",0],UNIT["degree",0.0174532925199433]]')
    lon, lat = to_lonlat(GeoRef(wkt, (1.0, 0.0, 0.0, 0.0, -1.0, 0.0)), 30.0, 45.0)
    assert lon == pytest.approx(30.0) and lat == pytest.approx(math.degrees(math.atan((b / a) ** 2)), abs=1e-9)


def test_unreadable_products_raise_frame_errors_that_name_the_file(tmp_path):
    tif = geotiff(tmp_path / "whole.tif", terrain(512, 512), overviews=())
    truncated = tmp_path / "truncated.tif"
    truncated.write_bytes(tif.read_bytes()[: tif.stat().st_size // 2])
    garbage = tmp_path / "garbage.jp2"
    garbage.write_bytes(b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(range(256)) * 8)
    lonely = tmp_path / "lonely.IMG"
    lonely.write_bytes(bytes(4096))
    empty = tmp_path / "empty.tif"
    empty.touch()
    for path in [garbage, lonely, empty, tmp_path / "missing.jp2", tmp_path]:
        with pytest.raises(FrameError) as error:
            open_product(path)
        assert str(error.value).startswith(f"{path}: ")
    with open_product(truncated) as product, pytest.raises(FrameError) as error:
        product.read(256, 256, 256, 256)
    assert str(error.value).startswith(f"{truncated}: truncated or corrupt (")


def test_missing_rasterio_is_named(tmp_path, monkeypatch):
    path = geotiff(tmp_path / "p.tif", terrain(32, 32), overviews=())
    for name in ("rasterio", "rasterio.warp"):  # importing them now raises ImportError
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingPackage, match=r"debris\[archive\]"):
        open_product(path)
    with pytest.raises(MissingPackage, match=r"debris\[archive\]"):
        to_lonlat(GeoRef(EQUIRECTANGULAR, tuple(north_up(0.0, 0.0))[:6]), 0.0, 0.0)


def test_windows_outside_the_product_are_value_errors(tmp_path):
    with open_product(geotiff(tmp_path / "p.tif", terrain(100, 120), overviews=())) as product:
        for window in [(-1, 0, 10, 10), (0, 0, 121, 10), (115, 95, 10, 10), (0, 0, 0, 10)]:
            with pytest.raises(ValueError, match="not inside"):
                product.read(*window)


def test_is_product_rule(tmp_path):
    tif = geotiff(tmp_path / "p.tif", terrain(100, 120), overviews=())
    assert not is_product(tif, 100 * 120) and is_product(tif, 100 * 120 - 1)  # TIFFs over the limit only
    for name in ["a.jp2", "b.J2K", "c.jpx", "d.IMG", "e.lbl", "f.xml"]:
        assert is_product(tmp_path / name, 10**12)  # by suffix: not even opened
    (tmp_path / "bad.tif").write_bytes(b"not a tiff")
    assert not is_product(tmp_path / "bad.tif", 1)  # left to read_frame, which reports it
    assert not is_product(tmp_path / "x.png", 1)
