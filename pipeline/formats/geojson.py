"""GeoJSON of a map-projected product's boxes: one feature per box, in the product's own map projection.

Each box is a polygon of its four corners in projected map metres, with properties class, class_id,
score, the pixel box (x1, y1, x2, y2) and the centre in map metres (x_map, y_map) and, where the
projection has a geographic counterpart, in planetocentric degrees (lon 0..360 east, lat).

RFC 7946 GeoJSON allows only WGS 84 longitude and latitude on the Earth, which cannot describe Mars;
so the file names its CRS with the older (2008) GeoJSON "crs" member, {"type": "name", "properties":
{"name": <the product's WKT>}}, which GDAL, and so QGIS, read (OGRGeoJSONReadSpatialReference passes
the name to SetFromUserInput, which takes WKT): the boxes then lie over the product in QGIS. Every
product has its own projection (a HiRISE product's centre longitude is its own), so each has its own file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from debris.io.files import write_text_atomic
from debris.io.product import to_lonlat
from debris.labels import ImageLabels


def write_geojson(path: str | Path, image: ImageLabels, classes: list[str]) -> None:
    """A FeatureCollection of image's boxes; image.geo must be set (ValueError otherwise)."""
    if image.geo is None:
        raise ValueError(f"{image.file_name}: not map-projected; GeoJSON needs a GeoRef")
    boxes = image.labels.xyxy.astype(np.float64)
    x1, y1, x2, y2 = boxes.T
    corner_x, corner_y = image.geo.to_map(np.stack([x1, x2, x2, x1], 1), np.stack([y2, y2, y1, y1], 1))
    centre_x, centre_y = image.geo.to_map((x1 + x2) / 2, (y1 + y2) / 2)
    lonlat = to_lonlat(image.geo, centre_x, centre_y)
    features = []
    for i in range(len(boxes)):
        ring = [[float(x), float(y)] for x, y in zip(corner_x[i], corner_y[i])]
        if _signed_area(ring) < 0:  # RFC 7946: outer rings run counter-clockwise, whatever the transform's signs
            ring.reverse()
        ring.append(ring[0])
        properties = {
            "file_name": image.file_name, "class": classes[int(image.labels.class_ids[i])],
            "class_id": int(image.labels.class_ids[i]), "score": round(float(image.labels.scores[i]), 5),
            **{k: round(float(v), 4) for k, v in zip(("x1", "y1", "x2", "y2"), boxes[i])},
            "x_map": round(float(centre_x[i]), 3), "y_map": round(float(centre_y[i]), 3),
        }
        if lonlat is not None:
            properties |= {"lon": round(float(lonlat[0][i]), 8), "lat": round(float(lonlat[1][i]), 8)}
        features.append({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]}, "properties": properties})
    collection = {"type": "FeatureCollection", "name": Path(image.file_name).stem,
                  "crs": {"type": "name", "properties": {"name": image.geo.crs_wkt}}, "features": features}
    write_text_atomic(path, json.dumps(collection, ensure_ascii=False, allow_nan=False) + "\n")


def _signed_area(ring: list[list[float]]) -> float:
    """Shoelace area of an open ring: positive when it runs counter-clockwise (x east, y north)."""
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, ring[1:] + ring[:1])) / 2
