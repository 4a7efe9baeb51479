"""Inference: a frame in, `Detections` out. Labelling, evaluation, training's validation and the benchmarks share it.

`Detector` is built from its parts, in the order a frame meets them, as torchvision's detection
models are:

    frame -> preprocessing stages -> tiler (windows) -> network (batches of windows)
          -> decoder (each window's boxes) -> merger (one set in frame pixels) -> Detections

    from debris import Detector
    detector = Detector.load()               # the shipped checkpoint, settings from configs/default.yaml
    dets = detector.predict("frame.jpg")     # or detector(image) with an (H, W, 3) uint8 RGB array

The network is a torch DetectorNet (a .pt checkpoint) or an onnxruntime session (a .onnx file from
`debris export`, debris.io.onnx_file.OnnxNet) with the same call. The ONNX path decodes in numpy and
never imports torch, so this module imports torch only when a torch network runs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from debris.config import ConfigError, LabelConfig, load_config, validate
from debris.detections import Detections
from debris.infer.postprocess import Decoder, Merger
from debris.infer.tiler import Tiler, Window
from debris.io.onnx_file import OnnxNet
from debris.io.reader import DEFAULT_MAX_PIXELS, read_frame
from debris.models import DEFAULT_WEIGHTS, decode_np
from debris.preprocess import Stage, parse_stages, preprocess

if TYPE_CHECKING:
    import torch

    from debris.models.detector import DetectorNet

_points = functools.lru_cache(maxsize=16)(decode_np.points)  # a few window sizes per run; callers only read it


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
    import torch

    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float().div_(255)
    return batch.contiguous(memory_format=torch.channels_last)


def to_array(images: list[np.ndarray], stride: int) -> np.ndarray:
    """N (H, W, 3) uint8 RGB of one size -> (N, 3, H', W') float32 in [0, 1], zero-padded to multiples of stride.

    The same values as to_tensor + F.pad, for the onnxruntime network.
    """
    h, w = images[0].shape[:2]
    batch = np.zeros((len(images), 3, h + -h % stride, w + -w % stride), np.float32)
    batch[:, :, :h, :w] = np.stack(images).transpose(0, 3, 1, 2) / np.float32(255)
    return batch


def class_ids(wanted: list[str | int] | None, classes: list[str]) -> tuple[int, ...] | None:
    """label.classes (names or ids) as ids of `classes`; None keeps all. ConfigError names what is unknown."""
    if wanted is None:
        return None
    ids = [classes.index(c) if isinstance(c, str) and c in classes else c for c in wanted]
    bad = [c for c, i in zip(wanted, ids) if not isinstance(i, int) or not 0 <= i < len(classes)]
    if bad:
        raise ConfigError(f"label.classes: {bad} not among this model's classes {classes} (ids 0..{len(classes) - 1})")
    return tuple(ids)


@dataclass
class Detector:
    """A trained network with every step around it; `detector(image)` runs them all.

    stages: preprocessing recorded in the checkpoint (or the .onnx file); net: a torch DetectorNet or
    an OnnxNet; tiler, decoder, merger: from the label settings; classes: class id i is classes[i];
    settings: the label settings the parts were built from (a labelling run records them); version:
    what produced the boxes (model file and epoch), written as Label Studio's model_version.
    """

    stages: list[Stage]
    tiler: Tiler
    net: DetectorNet | OnnxNet
    decoder: Decoder
    merger: Merger
    classes: list[str]
    settings: LabelConfig
    version: str

    @classmethod
    def build(cls, net: DetectorNet | OnnxNet, classes: list[str], stages: list[Stage], settings: LabelConfig, version: str) -> Detector:
        """The parts from label settings; class names or ids in settings.classes are resolved here, once."""
        if not isinstance(net, OnnxNet):
            import torch

            net = net.to(memory_format=torch.channels_last).eval()
        return cls(
            stages=list(stages),
            tiler=Tiler(settings.tile, settings.overlap, settings.full_size),
            net=net,
            decoder=Decoder(settings.conf, settings.iou, settings.max_det, class_ids(settings.classes, classes)),
            merger=Merger(settings.iou, settings.max_det),
            classes=list(classes), settings=settings, version=version,
        )

    @classmethod
    def load(cls, path: str | Path | None = None, settings: LabelConfig | None = None, **overrides: Any) -> Detector:
        """The checkpoint at `path` (default: the shipped one) with settings from configs/default.yaml.

        path: a .pt checkpoint (torch) or a .onnx file from `debris export` (onnxruntime, no torch).
        overrides: label settings by name, e.g. Detector.load(conf=0.4, tile=512).
        """
        path = Path(path) if path is not None else DEFAULT_WEIGHTS
        settings = settings or load_config().label
        if overrides:
            settings = validate(LabelConfig, {**settings.model_dump(), **overrides}, f"Detector.load overrides {overrides}")
        if path.suffix.lower() == ".onnx":
            onnx = OnnxNet.load(path)
            net, classes, stages, epoch = onnx, onnx.meta["classes"], onnx.meta["preprocess"], onnx.meta["epoch"]
        else:
            from debris.io.checkpoint import Checkpoint
            from debris.models.detector import DetectorNet

            checkpoint = Checkpoint.load(path)
            net = DetectorNet(**checkpoint.model)
            net.load_state_dict(checkpoint.state_dict)
            classes, stages, epoch = checkpoint.classes, checkpoint.preprocess, checkpoint.epoch
        version = path.stem + (f"-epoch{epoch}" if epoch is not None else "")
        return cls.build(net, classes, parse_stages(stages), settings, version)

    @property
    def bf16(self) -> bool:
        return use_bf16(self.settings.bf16)

    def __call__(self, image: np.ndarray) -> Detections:
        """Detections in one (H, W, 3) uint8 RGB frame, boxes in the frame's pixels, best score first."""
        image = preprocess(image, self.stages)
        h, w = image.shape[:2]
        windows = self.tiler.windows(w, h)
        batches = self.batches(windows)
        crops = ([self.tiler.crop(image, windows[i]) for i in batch] for batch in batches)
        return self.merger(windows, self.detect_batches(batches, crops, len(windows)), w, h)

    def batches(self, windows: list[Window]) -> list[list[int]]:
        """Indices of `windows` grouped as the network sees them: one window size per batch, at most
        label.batch windows each, in order. Every engine batches alike, so boxes come out bit for bit equal."""
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, window in enumerate(windows):
            by_size.setdefault(window.size, []).append(i)
        step = self.settings.batch
        return [indices[k : k + step] for indices in by_size.values() for k in range(0, len(indices), step)]

    def detect_batches(self, batches: list[list[int]], crops: Iterable[list[np.ndarray]], windows: int) -> list[Detections]:
        """Each window's boxes, in its network pixels; windows of no batch given get none.

        batches: window indices per batch (Detector.batches, or some of them); crops: per batch, its
        windows' pixels at the network's scale, (h, w, 3) uint8 RGB of one size; windows: how many there are.
        """
        results: list[Detections] = [Detections.empty()] * windows
        for batch, pixels in zip(batches, crops, strict=True):
            raw, height, width = self._forward(pixels)
            for i, dets in zip(batch, self.decoder(raw, _points(tuple(self.net.strides), height, width))):
                results[i] = dets
        return results

    def _forward(self, crops: list[np.ndarray]) -> tuple[Any, int, int]:
        """N (h, w, 3) uint8 crops of one size -> raw (N, A, 4 + C) (np.ndarray from onnxruntime, else
        torch.Tensor), and the input's height and width after padding to the coarsest stride."""
        stride = max(self.net.strides)
        if isinstance(self.net, OnnxNet):
            x = to_array(crops, stride)
            return self.net(x), x.shape[2], x.shape[3]
        import torch
        import torch.nn.functional as F

        self.net.eval()
        h, w = crops[0].shape[:2]
        with torch.no_grad():
            x = to_tensor(crops)
            if w % stride or h % stride:  # to a multiple of the coarsest stride (F.pad copies even when padding 0)
                x = F.pad(x, (0, -w % stride, 0, -h % stride))
            with torch.autocast("cpu", torch.bfloat16, enabled=self.bf16):
                raw = self.net(x)
        return raw, x.shape[2], x.shape[3]

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
        return self(image)
