"""`debris export`: a checkpoint's network as an ONNX file that labels without torch (debris.io.onnx_file).

The graph's input is (B, 3, H, W) float32 RGB in [0, 1], H and W multiples of 64, and B, H and W
are dynamic: the tiler sends batches of equal tiles and a whole-frame view of another size through
the same network, which one fixed shape cannot serve. The output is DetectorNet's raw (B, A, 4 + C);
decoding and NMS stay outside the graph, in numpy (debris.models.decode_np), so the ONNX and torch
backends share them and the conf/iou/max_det settings stay settings rather than baked-in constants.

Static int8 quantisation (onnxruntime quantize_static, QDQ) was tried and dropped: on this CPU it
ran slower than fp32 (BENCHMARKS.md, "Labelling backends").
"""

from __future__ import annotations

import io
import json
import warnings
from datetime import datetime, timezone
from pathlib import Path

import torch

from debris import __version__
from debris.config import LabelConfig
from debris.errors import MissingPackage
from debris.io.checkpoint import Checkpoint
from debris.io.files import write_bytes_atomic
from debris.io.onnx_file import FORMAT, INPUT, OUTPUT, VERSION
from debris.models.detector import DetectorNet

OPSET = 17  # LayerNorm-era opset every onnxruntime since 1.14 runs; the network needs nothing newer


def export_onnx(checkpoint_path: str | Path, out: str | Path, label: LabelConfig) -> Path:
    """Write the checkpoint's network to `out` as ONNX, with the metadata labelling needs.

    label: the decoder settings recorded in the file (conf, iou, max_det), for runtimes other than debris.
    """
    try:
        import onnx
    except ImportError:
        raise MissingPackage("debris export needs the onnx package: pip install 'debris[onnx]'") from None

    checkpoint_path, out = Path(checkpoint_path), Path(out)
    checkpoint = Checkpoint.load(checkpoint_path)
    net = DetectorNet(**checkpoint.model)
    net.load_state_dict(checkpoint.state_dict)
    net.eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # torch announces the TorchScript exporter's deprecation on every call
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net, torch.zeros(1, 3, 640, 640), buffer, dynamo=False, opset_version=OPSET,
            input_names=[INPUT], output_names=[OUTPUT],
            dynamic_axes={INPUT: {0: "batch", 2: "height", 3: "width"}, OUTPUT: {0: "batch", 1: "points"}},
        )
    model = onnx.load_from_string(buffer.getvalue())
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "classes": checkpoint.classes,
        "preprocess": checkpoint.preprocess,
        "strides": list(net.strides),
        "model": checkpoint.model,
        "decoder": {"conf": label.conf, "iou": label.iou, "max_det": label.max_det, "input": "RGB [0, 1], H, W multiples of 64",
                    "boxes": "debris.models.decode.boxes (centre offset, log size, in strides)"},
        "epoch": checkpoint.epoch,
        "checkpoint": checkpoint_path.name,
        "debris": {"version": __version__, "date": datetime.now(timezone.utc).isoformat(timespec="seconds")},
    }
    set_metadata(model, meta)
    onnx.checker.check_model(model)
    write_bytes_atomic(out, model.SerializeToString())
    return out


def set_metadata(model, meta: dict) -> None:
    """Replace the onnx ModelProto's metadata_props with `meta`, each value as a JSON string."""
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, json.dumps(value)
