"""The Sun over a synthetic frame: where the light comes from and where shadows fall."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sun:
    azimuth_deg: float  # where the light comes FROM, in image coordinates: 0 = from the top (-y), 90 = from the right
    elevation_deg: float  # above the horizon, 5..85

    def direction(self) -> tuple[float, float, float]:
        """Unit vector (x right, y down, z up) from the ground towards the Sun: the one light direction that the
        ground's and the hardware's shading and shadows all use."""
        az, el = math.radians(self.azimuth_deg), math.radians(self.elevation_deg)
        return math.cos(el) * math.sin(az), -math.cos(el) * math.cos(az), math.sin(el)

    def shadow_offset(self, height_m: float, gsd_m: float) -> tuple[float, float]:
        """(dx, dy) pixels from an object's top to the tip of its shadow on flat ground."""
        x, y, z = self.direction()
        return float(-x / z * height_m / gsd_m), float(-y / z * height_m / gsd_m)

    @classmethod
    def random(cls, rng: np.random.Generator, randomize: float = 0.0) -> "Sun":
        """Azimuth uniform over the full circle; elevation U(10, 60) degrees, widened towards U(5, 85) as
        randomize goes to 1 (long low-sun shadows and nearly shadowless noon frames)."""
        return cls(float(rng.uniform(0.0, 360.0)), float(rng.uniform(10.0 - 5 * randomize, 60.0 + 25 * randomize)))
