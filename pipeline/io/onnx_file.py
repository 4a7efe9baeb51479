"""Exported ONNX models (`debris export`): the network run by onnxruntime, and what labelling needs from the file.

The file carries its own metadata (ONNX metadata_props, one JSON string per key, as Ultralytics
does), so a .onnx alone labels like the checkpoint it came from: classes, preprocessing stages,
strides, the network's config, the decoder's settings at export, and the checkpoint's epoch.
Reading it needs onnxruntime only: no torch, no onnx package.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from debris.errors import MissingPackage, UserError

FORMAT = "debris-onnx"
VERSION = 1
INPUT, OUTPUT = "images", "raw"  # the graph's input (B, 3, H, W) and output (B, A, 4 + C) names
# metadata_props keys, every value a JSON string
# onnxruntime's intra-op threads spin between operators, as OpenMP's do for torch, and stall beside a
# busy process; "0" lets them sleep (benchmarks/busy.py measured both)
SPINNING = "0"
KEYS = ("format", "version", "classes", "preprocess", "strides", "model", "decoder", "epoch", "checkpoint", "debris")


class OnnxModelError(UserError, ValueError):
    """A file that is not a debris ONNX model, or one onnxruntime cannot run."""


@dataclass
class OnnxNet:
    """An onnxruntime session with DetectorNet's call: (B, 3, H, W) float32 RGB in [0, 1] -> raw (B, A, 4 + C).

    H, W: multiples of max(strides). meta: the file's metadata, decoded (keys: KEYS).
    """

    session: Any  # onnxruntime.InferenceSession
    meta: dict[str, Any]

    @property
    def strides(self) -> tuple[int, ...]:
        return tuple(self.meta["strides"])

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: images})[0]

    @classmethod
    def load(cls, path: str | Path) -> OnnxNet:
        """The model at `path`; OnnxModelError names the file and what is wrong."""
        try:
            import onnxruntime as ort  # the torch-free backend's one dependency, imported when used
        except ImportError:
            raise MissingPackage(f"{path}: running an ONNX model needs onnxruntime: pip install 'debris[onnx]'") from None

        path = Path(path)
        if not path.is_file():
            raise OnnxModelError(f"{path}: no such ONNX model file")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only: its optimiser's notes are not the user's business
        options.add_session_config_entry("session.intra_op.allow_spinning", SPINNING)
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for a broken or foreign file
            first_line = (str(e).splitlines() or [""])[0][:200]
            raise OnnxModelError(f"{path}: onnxruntime cannot load it ({type(e).__name__}: {first_line})") from None
        return cls(session, read_metadata(path, session.get_modelmeta().custom_metadata_map))


def read_metadata(path: Path, props: dict[str, str]) -> dict[str, Any]:
    """metadata_props -> {key: value}; OnnxModelError if it is not a debris export of a readable version."""
    if props.get("format") != json.dumps(FORMAT):
        raise OnnxModelError(f"{path}: not a debris ONNX model (no '{FORMAT}' format tag); make one with `debris export`")
    try:
        meta = {key: json.loads(props[key]) for key in KEYS}
    except (KeyError, json.JSONDecodeError) as e:
        raise OnnxModelError(f"{path}: broken debris metadata ({type(e).__name__}: {e})") from None
    if meta["version"] != VERSION:
        raise OnnxModelError(f"{path}: debris ONNX version {meta['version']!r}; this debris reads version {VERSION}: re-export it")
    # what Detector.load builds from: wrong types here would fail later, far from the file's name
    checks = {"classes": _list_of(meta["classes"], str), "strides": _list_of(meta["strides"], int) and meta["strides"] != [],
              "preprocess": _list_of(meta["preprocess"], dict), "epoch": meta["epoch"] is None or type(meta["epoch"]) is int}
    bad = [key for key, ok in checks.items() if not ok]
    if bad:
        raise OnnxModelError(f"{path}: broken debris metadata: {', '.join(f'{k}={meta[k]!r}' for k in bad)}")
    return meta


def _list_of(value: Any, kind: type) -> bool:
    return isinstance(value, list) and all(type(v) is kind for v in value)
