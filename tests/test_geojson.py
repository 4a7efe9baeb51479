"""GeoJSON of a map-projected product's boxes: corners in map metres, planetocentric centres, the product's own CRS."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

pytest.importorskip("rasterio")

from debris.detections import Detections
from debris.formats.geojson import write_geojson
from debris.formats.run_folder import RunFolder
from debris.formats.sinks import SINKS, SinkContext
from debris.formats.writers import read_frame_json, write_frame_json
from debris.geo import GeoRef
from debris.labels import ImageLabels

R, LAT_TS, LON0 = 3396190.0, 19.0, 326.0
# equirectangular Mars, standard parallel 19 N, central meridian 326 E, on the IAU 2015 sphere
MARS_EQC = (
    'PROJCS["Equirectangular Mars",GEOGCS["Mars 2000",DATUM["D_Mars_2000",SPHEROID["Mars_2000_IAU_IAG",3396190,0]],'
    'PRIMEM["Reference_Meridian",0],UNIT["degree",0.0174532925199433]],PROJECTION["Equirectangular"],'
    f'PARAMETER["standard_parallel_1",{LAT_TS}],PARAMETER["central_meridian",{LON0}],PARAMETER["false_easting",0],'
    'PARAMETER["false_northing",0],UNIT["metre",1]]'
)
GEO = GeoRef(MARS_EQC, (0.25, 0.0, 10_000.0, 0.0, -0.25, 1_134_000.0))  # 0.25 m/px, north up
CLASSES = ["parachute", "backshell"]


def product_labels(geo: GeoRef | None = GEO) -> ImageLabels:
    boxes = Detections(np.array([[100.0, 200.0, 140.0, 260.0], [0.0, 0.0, 8.0, 4.0]]), np.array([0.91, 0.42]), np.array([0, 1]))
    return ImageLabels("orbit/product.tif", 24_576, 22_528, boxes, geo)


def test_each_box_is_a_counter_clockwise_polygon_of_its_corners_in_map_metres(tmp_path):
    write_geojson(tmp_path / "p.geojson", product_labels(), CLASSES)
    data = json.loads((tmp_path / "p.geojson").read_text())
    assert data["type"] == "FeatureCollection" and len(data["features"]) == 2
    ring = data["features"][0]["geometry"]["coordinates"][0]
    # pixel x 100..140 -> X 10025..10035; pixel y 200..260 -> Y 1133950..1133935
    assert sorted({x for x, _ in ring}) == [10_025.0, 10_035.0] and sorted({y for _, y in ring}) == [1_133_935.0, 1_133_950.0]
    assert ring[0] == ring[-1] and len(ring) == 5
    area = sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:])) / 2
    assert area == pytest.approx(10 * 15)  # positive: counter-clockwise, as RFC 7946 asks of outer rings
    props = data["features"][0]["properties"]
    assert (props["class"], props["class_id"], props["score"]) == ("parachute", 0, 0.91)
    assert [props[k] for k in ("x1", "y1", "x2", "y2")] == [100.0, 200.0, 140.0, 260.0]
    assert (props["x_map"], props["y_map"]) == (10_030.0, 1_133_942.5)


def test_the_centre_gets_planetocentric_longitude_and_latitude_on_the_mars_sphere(tmp_path):
    write_geojson(tmp_path / "p.geojson", product_labels(), CLASSES)
    props = json.loads((tmp_path / "p.geojson").read_text())["features"][0]["properties"]
    lon = LON0 + math.degrees(props["x_map"] / (R * math.cos(math.radians(LAT_TS))))
    lat = math.degrees(props["y_map"] / R)
    assert props["lon"] == pytest.approx(lon % 360, abs=1e-7)  # 0..360 east, as Mars maps count
    assert props["lat"] == pytest.approx(lat, abs=1e-7)
    assert 19.0 < props["lat"] < 19.2  # on Mars; the same metres on the Earth's radius would put it at 10.2 N


def test_the_file_names_the_products_own_crs(tmp_path):
    write_geojson(tmp_path / "p.geojson", product_labels(), CLASSES)
    assert json.loads((tmp_path / "p.geojson").read_text())["crs"] == {"type": "name", "properties": {"name": MARS_EQC}}


def test_the_sink_writes_a_file_per_map_projected_frame_and_none_for_others(tmp_path):
    run, ctx = RunFolder(tmp_path), SinkContext(CLASSES, "debris-test", False, "")
    SINKS["geojson"].frame(run, product_labels(), ctx)
    SINKS["geojson"].frame(run, ImageLabels("nav/0001.png", 640, 480, product_labels().labels), ctx)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.geojson")) == ["geojson/orbit/product.geojson"]


def test_the_frame_record_keeps_the_georeference(tmp_path):
    write_frame_json(tmp_path / "a.json", product_labels(), CLASSES)
    assert read_frame_json(tmp_path / "a.json").geo == GEO
    write_frame_json(tmp_path / "b.json", product_labels(geo=None), CLASSES)
    assert "geo" not in json.loads((tmp_path / "b.json").read_text()) and read_frame_json(tmp_path / "b.json").geo is None
