"""Where a product's pixels lie on Mars: its map projection and the affine map from pixels to it.

A map-projected orbital product (a GeoTIFF, a JPEG 2000 with a GeoJP2/GML box, a PDS label's
MAP_PROJECTION) says both; debris.io.product reads them into a `GeoRef`, labelling records it with the
frame, and the GeoJSON writer places each box with it. Planetocentric longitude and latitude need the
projection's formulas, which GDAL has (debris.io.product.to_lonlat).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GeoRef:
    """crs_wkt: the projected CRS as the product defines it (WKT, with the body's own radius).
    transform: (a, b, c, d, e, f), pixels -> map metres: X = a x + b y + c, Y = d x + e y + f, where
    (x, y) are pixel coordinates with (0, 0) the top-left corner of the first pixel (rasterio's Affine order).
    """

    crs_wkt: str
    transform: tuple[float, float, float, float, float, float]

    def to_map(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (any shape, float) -> projected map coordinates (X, Y), metres."""
        a, b, c, d, e, f = self.transform
        x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
        return a * x + b * y + c, d * x + e * y + f
