"""Patches of real Mars terrain as ground: the `real_patch` terrain family.

Only the files named in `data/real_mars/train.txt` are ever read here; `heldout.txt` is where false alarms on
real terrain are measured, so the engine must never draw from it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

TRAIN_LIST = Path(__file__).resolve().parents[2] / "data" / "real_mars" / "train.txt"


@lru_cache(maxsize=1)
def train_paths(listing: Path = TRAIN_LIST) -> tuple[Path, ...]:
    """The image files the list names (relative to its folder), comments and blank lines skipped."""
    if listing.name != "train.txt":
        raise ValueError(f"{listing}: real terrain comes from a train.txt list only")
    lines = (line.strip() for line in listing.read_text().splitlines())
    return tuple(listing.parent / line for line in lines if line and not line.startswith("#"))


@lru_cache(maxsize=64)
def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FileNotFoundError(f"{path}: cannot read real terrain patch")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def real_patch(rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 RGB: one real terrain image from the training list; grey orbital crops are tinted with a
    random regolith colour (a colour camera would see one), colour ground views kept."""
    paths = train_paths()
    image = _read(paths[int(rng.integers(len(paths)))])
    if np.array_equal(image[..., 0], image[..., 2]):
        tint = np.array([0.66, 0.50, 0.36]) * rng.uniform(0.8, 1.15, 3) / 0.53
        image = np.clip(image.astype(np.float32) * tint.astype(np.float32), 0, 255).astype(np.uint8)
    return image
