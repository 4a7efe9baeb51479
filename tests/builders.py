"""Small files the tests build data sets from."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def png(path: Path, width: int, height: int) -> Path:
    """A black gray-scale PNG of width x height: YOLO reads the size from its header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((height, width), np.uint8))
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path
