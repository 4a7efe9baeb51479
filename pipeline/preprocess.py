"""Preprocessing stages: colour and contrast normalisation applied to every frame, in training and labelling alike.

Each stage is a small typed config (validated at load like every other key) that is also callable:
`stage(image)` maps (H, W, 3) uint8 RGB to (H, W, 3) uint8 RGB. A stage that measures the frame (its
gray-world means, its percentiles) splits in two: `stage.fit(sample)` measures and returns the fixed
mapping, which then applies to any image. A frame fits itself; a product too large to decode whole
(debris.io.product) fits its overview and maps every window with the same numbers, so its windows are
prepared as one frame would be. The config lists the stages in order
(`preprocess:` in configs/default.yaml); a checkpoint records the list it was trained with, and
labelling runs exactly that list, so the network never sees frames prepared differently from its
training frames.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal, Union

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class _Stage(BaseModel):
    # the same rules as every config section: a typo is an error, "5" is not silently a number
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def fit(self, sample: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """The stage's mapping with whatever it measures taken from `sample`, (H, W, 3) uint8 RGB."""
        raise NotImplementedError

    def __call__(self, image: np.ndarray) -> np.ndarray:
        """The stage on one frame, measured on the frame itself."""
        return self.fit(image)(image)


class GrayWorld(_Stage):
    """White balance by the gray-world assumption: scale each channel to the frame's mean gray.

    Removes the reddish dust cast of the Martian sky that varies from frame to frame; a gray frame
    is returned unchanged.
    """

    name: Literal["gray_world"]

    def fit(self, sample: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        means = sample.reshape(-1, 3).mean(axis=0)
        gains = (means.mean() / np.maximum(means, 1e-3)).astype(np.float32)
        return lambda image: np.clip(image * gains + 0.5, 0, 255).astype(np.uint8)


class PercentileStretch(_Stage):
    """Map the frame's low..high luminance percentiles to 0..255 (same gain for every channel).

    Undoes exposure differences between flights and cameras; the same gain on all channels keeps
    colours. Percentiles come from every 4th pixel: the same answer at a 16th of the cost.
    """

    name: Literal["percentile_stretch"]
    low: float = Field(0.5, ge=0, lt=100, description="percentile mapped to 0")
    high: float = Field(99.5, gt=0, le=100, description="percentile mapped to 255")

    def fit(self, sample: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        luminance = sample[::4, ::4].mean(axis=2)
        lo, hi = np.percentile(luminance, [self.low, self.high])
        scale = 255.0 / max(hi - lo, 1.0)
        lut = np.clip((np.arange(256) - lo) * scale + 0.5, 0, 255).astype(np.uint8)
        return lambda image: cv2.LUT(image, lut)


class Clahe(_Stage):
    """Contrast-limited adaptive histogram equalisation of the lightness channel (Lab), colours kept."""

    name: Literal["clahe"]
    clip_limit: float = Field(2.0, gt=0, description="contrast limit per tile")
    grid: int = Field(8, ge=1, le=64, description="tiles per side")

    def fit(self, sample: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return self.apply  # local by nature: each tile of CLAHE's grid equalises its own neighbourhood

    def apply(self, image: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
        equalise = cv2.createCLAHE(clipLimit=self.clip_limit, tileGridSize=(self.grid, self.grid))
        lab[..., 0] = equalise.apply(np.ascontiguousarray(lab[..., 0]))
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)


class Denoise(_Stage):
    """Edge-preserving bilateral filter: takes sensor noise off flat regolith, keeps hardware edges."""

    name: Literal["denoise"]
    sigma_space: float = Field(3.0, gt=0, description="pixels")
    sigma_color: float = Field(12.0, gt=0, description="grey levels")

    def fit(self, sample: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return self.apply  # local: a pixel's neighbourhood, whatever frame it lies in

    def apply(self, image: np.ndarray) -> np.ndarray:
        return cv2.bilateralFilter(image, d=0, sigmaColor=self.sigma_color, sigmaSpace=self.sigma_space)


# name -> stage: the list of what the config allows
STAGES: dict[str, type[_Stage]] = {"gray_world": GrayWorld, "percentile_stretch": PercentileStretch, "clahe": Clahe, "denoise": Denoise}
Stage = Annotated[Union[GrayWorld, PercentileStretch, Clahe, Denoise], Field(discriminator="name")]
_STAGES = TypeAdapter(list[Stage])


def parse_stages(stages: Sequence[dict[str, Any]]) -> list[Stage]:
    """Stages from plain dicts (a checkpoint's record): [{"name": "clahe", "grid": 4}] -> [Clahe(...)].

    Raises pydantic's ValidationError naming the stage and key; the config loader turns it into a
    ConfigError.
    """
    return _STAGES.validate_python(list(stages))


def stage_records(stages: Sequence[Stage]) -> list[dict[str, Any]]:
    """Stages as plain dicts, every parameter spelled out: what a checkpoint and run.json record."""
    return [stage.model_dump() for stage in stages]


def preprocess(image: np.ndarray, stages: Sequence[Stage]) -> np.ndarray:
    """Run the stages in order on an (H, W, 3) uint8 RGB frame."""
    for stage in stages:
        image = stage(image)
    return image


def fit_preprocess(stages: Sequence[Stage], sample: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """The stages fitted on `sample` (each on what the stages before it made of it), as one mapping.

    fit_preprocess(stages, image)(image) == preprocess(image, stages).
    """
    fitted = []
    for stage in stages:
        fitted.append(stage.fit(sample))
        sample = fitted[-1](sample)

    def run(image: np.ndarray) -> np.ndarray:
        for mapping in fitted:
            image = mapping(image)
        return image

    return run
