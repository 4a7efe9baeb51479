"""The Sun over a synthetic frame: where the light comes from and where shadows fall."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Sun:
    azimuth_deg: float  # where the light comes FROM, in image coordinates: 0 = from the top (-y), 90 = from the right
    elevation_deg: float  # above the horizon, 10..60

    def shadow_offset(self, height_m: float, gsd_m: float) -> tuple[float, float]:
        """(dx, dy) pixels from an object's top to the tip of its shadow on flat ground."""
        length_px = height_m / np.tan(np.radians(self.elevation_deg)) / gsd_m
        azimuth = np.radians(self.azimuth_deg)
        # shadows point away from the sun, whose image direction is (sin az, -cos az)
        return float(-length_px * np.sin(azimuth)), float(length_px * np.cos(azimuth))

    @classmethod
    def random(cls, rng: np.random.Generator) -> "Sun":
        """Azimuth uniform over the full circle, elevation U(10, 60) degrees."""
        return cls(float(rng.uniform(0.0, 360.0)), float(rng.uniform(10.0, 60.0)))
