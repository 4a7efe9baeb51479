"""Inference: a frame in, `Detections` out. Labelling, evaluation and training's validation share it.

The frame goes through the checkpoint's preprocessing stages, is cut into windows (pipeline/tiler.py),
the windows go through the network in batches, and their detections are merged into one set in
frame pixels (pipeline/postprocess.py). `Detector` bundles a checkpoint with these settings:

    from debris import Detector
    dets = Detector.load().predict("frame.jpg")   # Detections: xyxy, scores, class_ids
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from debris.models import DEFAULT_WEIGHTS
from debris.models.decode import decode
from debris.models.detector import DetectorNet, points
from debris.io.checkpoint import load_checkpoint
from debris.config import ConfigError, LabelConfig, load_config, validate
from debris.detections import Detections
from debris.infer.postprocess import merge
from debris.preprocess import preprocess
from debris.io.reader import DEFAULT_MAX_PIXELS, read_frame
from debris.infer.tiler import Window, plan_windows


def use_bf16(setting: bool | str) -> bool:
    """The bf16 setting (true, false or "auto") resolved: auto means the CPU has AVX-512 BF16 or AMX.

    Without them autocast emulates bfloat16 and runs slower than fp32.
    """
    return _cpu_has_bf16() if setting == "auto" else bool(setting)


@functools.cache  # read once per process, not once per frame
def _cpu_has_bf16() -> bool:
    """From /proc/cpuinfo's flags, so False where there is none (macOS, Windows)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    """N (H, W, 3) uint8 RGB of one size -> (N, 3, H, W) float32 in [0, 1], channels_last (faster on CPU)."""
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255)
    return batch.contiguous(memory_format=torch.channels_last)


@torch.no_grad()
def predict_frame(
    net: DetectorNet, image: np.ndarray, stages: list[dict[str, Any]], settings: LabelConfig, class_ids: list[int] | None = None
) -> Detections:
    """Detect in one (H, W, 3) uint8 RGB frame; boxes come back in the frame's pixels.

    stages: the preprocessing the network was trained with; settings: conf, iou, max_det, tiling,
    batch and bf16 (settings.classes is ignored here: pass class_ids, the ids to keep, or None).
    """
    net.eval()
    bf16 = use_bf16(settings.bf16)
    image = preprocess(image, stages)
    h, w = image.shape[:2]
    windows = plan_windows(w, h, settings.tile, settings.overlap, settings.full_size)
    results: list[Detections] = [Detections.empty()] * len(windows)
    by_size: dict[tuple[int, int], list[int]] = {}  # all tiles share a size: they go in batches
    for i, window in enumerate(windows):
        by_size.setdefault(window.size, []).append(i)
    stride = max(net.strides)
    for (sw, sh), indices in by_size.items():
        for start in range(0, len(indices), settings.batch):
            chunk = indices[start : start + settings.batch]
            x = to_tensor([_crop(image, windows[i]) for i in chunk])
            if sw % stride or sh % stride:  # to a multiple of the coarsest stride (F.pad copies even when padding 0)
                x = F.pad(x, (0, -sw % stride, 0, -sh % stride))
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                raw = net(x)
            found = decode(raw, points(net.strides, x.shape[2], x.shape[3]), settings.conf, settings.iou, settings.max_det, class_ids)
            for i, (boxes, scores, ids) in zip(chunk, found):
                results[i] = Detections(boxes.numpy(), scores.numpy(), ids.numpy())
    return merge(windows, results, w, h, settings.iou, settings.max_det)


def _crop(image: np.ndarray, window: Window) -> np.ndarray:
    """The window's pixels at the network's scale: (h, w, 3) uint8."""
    region = image[window.y0 : window.y0 + window.height, window.x0 : window.x0 + window.width]
    if window.size != (window.width, window.height):
        region = cv2.resize(region, window.size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(region)


@dataclass
class Detector:
    """A trained network with everything needed to use it: class names, preprocessing, settings."""

    net: DetectorNet
    classes: list[str]
    stages: list[dict[str, Any]]  # preprocessing recorded in the checkpoint, run before the network
    settings: LabelConfig
    version: str  # what produced the boxes (checkpoint file and epoch), written as Label Studio's model_version

    @classmethod
    def load(cls, path: str | Path | None = None, settings: LabelConfig | None = None, **overrides: Any) -> Detector:
        """The checkpoint at `path` (default: the shipped one) with settings from configs/default.yaml.

        overrides: label settings by name, e.g. Detector.load(conf=0.4, tile=512).
        """
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        state = load_checkpoint(path)
        net = DetectorNet(**state["model"])
        net.load_state_dict(state["state_dict"])
        net = net.to(memory_format=torch.channels_last).eval()
        settings = settings or load_config().label
        if overrides:
            settings = validate(LabelConfig, {**settings.model_dump(), **overrides}, f"Detector.load overrides {overrides}")
        epoch = state.get("metrics", {}).get("epoch")
        version = path.stem + (f"-epoch{epoch}" if epoch is not None else "")
        detector = cls(net, list(state["classes"]), state["preprocess"], settings, version)
        detector.class_ids()  # names or ids that the checkpoint lacks fail here, not mid-batch
        return detector

    def class_ids(self) -> list[int] | None:
        """settings.classes as ids of this model's classes (None keeps all)."""
        wanted = self.settings.classes
        if wanted is None:
            return None
        ids = [self.classes.index(c) if isinstance(c, str) and c in self.classes else c for c in wanted]
        bad = [c for c, i in zip(wanted, ids) if not isinstance(i, int) or not 0 <= i < len(self.classes)]
        if bad:
            raise ConfigError(f"label.classes: {bad} not among this model's classes {self.classes} (ids 0..{len(self.classes) - 1})")
        return ids

    def predict(self, source: str | Path | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS) -> Detections:
        """Detections in one frame: a path (read by debris.io.reader) or an (H, W, 3) uint8 RGB / (H, W) gray array."""
        if isinstance(source, (str, Path)):
            image = read_frame(source, max_pixels).image
        else:
            image = np.asarray(source)
            if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
                raise ValueError(f"expected an (H, W, 3) RGB or (H, W) gray uint8 array, got {image.dtype} {image.shape}")
            if image.ndim == 2:
                image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
        return predict_frame(self.net, image, self.stages, self.settings, self.class_ids())
