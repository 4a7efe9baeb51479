"""Small files the tests build data sets from."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from debris.models.detector import DetectorNet
from debris.io.checkpoint import Checkpoint

CLASSES = ["parachute", "backshell", "heat_shield", "descent_stage", "debris"]


def png(path: Path, width: int, height: int) -> Path:
    """A black gray-scale PNG of width x height: YOLO reads the size from its header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((height, width), np.uint8))
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def untrained_checkpoint(path: Path, classes: list[str] = CLASSES) -> Path:
    """A real checkpoint of an untrained width-0.25 network: it scores everything near its prior, ~0.01."""
    torch.manual_seed(0)
    net = DetectorNet(len(classes), width=0.25)
    path.parent.mkdir(parents=True, exist_ok=True)
    Checkpoint(model={"num_classes": len(classes), "width": 0.25}, classes=classes,
               preprocess=[{"name": "percentile_stretch", "low": 0.5, "high": 99.5}],
               state_dict=net.state_dict(), metrics={"epoch": 1}).save(path)
    return path
