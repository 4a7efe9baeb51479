"""`debris export`: a checkpoint's network as an ONNX file that labels without torch (debris.io.onnx_file).

The graph's input is (B, 3, H, W) float32 RGB in [0, 1], H and W multiples of 64, and B, H and W
are dynamic: the tiler sends batches of equal tiles and a whole-frame view of another size through
the same network, which one fixed shape cannot serve. The output is DetectorNet's raw (B, A, 4 + C);
decoding and NMS stay outside the graph, in numpy (debris.models.decode_np), so the ONNX and torch
backends share them and the conf/iou/max_det settings stay settings rather than baked-in constants.

--int8 adds static quantisation (onnxruntime.quantization.quantize_static, QDQ, per-channel int8
weights) calibrated on the windows the tiler cuts from frames of a data set.
"""

from __future__ import annotations

import io
import json
import warnings
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch

from debris import __version__
from debris.config import LabelConfig
from debris.formats.dataset import load_dataset
from debris.infer.detector import Detector, to_array
from debris.io.checkpoint import Checkpoint
from debris.io.files import write_bytes_atomic
from debris.io.onnx_file import FORMAT, INPUT, OUTPUT, VERSION
from debris.io.reader import read_frame
from debris.models.detector import DetectorNet
from debris.preprocess import preprocess

OPSET = 17  # LayerNorm-era opset every onnxruntime since 1.14 runs; the network needs nothing newer
CALIBRATION_FRAMES = 16  # frames of the data set whose windows calibrate --int8


def export_onnx(checkpoint_path: str | Path, out: str | Path, label: LabelConfig) -> Path:
    """Write the checkpoint's network to `out` as ONNX, with the metadata labelling needs.

    label: the decoder settings recorded in the file (conf, iou, max_det), for runtimes other than debris.
    """
    import onnx

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


def quantize_int8(fp32: str | Path, out: str | Path, data: str | Path, label: LabelConfig) -> Path:
    """Static int8 quantisation of the exported model `fp32` into `out`, calibrated on frames of the data set `data`.

    The calibration inputs are what labelling feeds the network: the preprocessed frames' windows
    (tiles and whole-frame views), one per batch.
    """
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    detector = Detector.load(fp32, label)
    dataset = load_dataset(data)
    files = [dataset.root / image.file_name for images in dataset.splits.values() for image in images][:CALIBRATION_FRAMES]

    def windows() -> Iterator[dict[str, np.ndarray]]:
        stride = max(detector.net.strides)
        for path in files:
            image = preprocess(read_frame(path).image, detector.stages)
            for window in detector.tiler.windows(image.shape[1], image.shape[0]):
                yield {INPUT: to_array([detector.tiler.crop(image, window)], stride)}

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.inputs = windows()

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self.inputs, None)

    out = Path(out)
    quantize_static(str(fp32), str(out), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    weight_type=QuantType.QInt8, activation_type=QuantType.QUInt8)
    model = onnx.load(str(out))  # quantize_static drops the metadata: copy it over
    set_metadata(model, {**detector.net.meta, "quantized": {"int8": True, "calibration": str(data), "frames": len(files)}})
    write_bytes_atomic(out, model.SerializeToString())
    return out
