"""ONNX export and the onnxruntime backend: the same boxes as torch, metadata inside the file, no torch imported."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.ops import batched_nms as tv_batched_nms

from debris.cli import main
from debris.errors import MissingPackage
from debris.infer.detector import Detector
from debris.io.onnx_file import OnnxModelError
from debris.models import DEFAULT_WEIGHTS, decode_np
from debris.models.decode import decode
from debris.models.detector import points

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
FRAMES = sorted(p for p in SAMPLES.iterdir() if p.suffix in (".png", ".jpg"))


@pytest.fixture(scope="module")
def onnx_path(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "debris.onnx"
    assert main(["export", "--format", "onnx", "--out", str(out)]) == 0
    return out


def test_numpy_points_and_decoding_equal_torch():
    gen = torch.Generator().manual_seed(0)
    pts = decode_np.points((8, 16, 32, 64), 448, 640)
    assert np.array_equal(pts, points((8, 16, 32, 64), 448, 640).numpy())
    raw = torch.randn(3, len(pts), 9, generator=gen) * 2
    raw[..., 2:4] = raw[..., 2:4] * 6  # some log-sizes past MAX_LOG_SIZE: the clamp must match
    # distinct logits for images 0 and 2, whose candidates pass the top-k cut (torch.topk orders equal scores as it likes)
    n = len(pts) * 5
    raw[::2, :, 4:] = (torch.stack([torch.randperm(n, generator=gen) for _ in range(2)]) * 6 / n - 3).view(2, -1, 5)
    # image 1: 40 points tie in every class, so NMS's tie order decides; few enough candidates that the
    # top-k cut (whose order among equal scores torch leaves unspecified) is not used
    raw[1, :, 4:] = -10.0
    raw[1, :40, 4:] = 4.0
    for classes in (None, [1, 3]):
        want = decode(raw, torch.from_numpy(pts), 0.3, 0.5, 100, classes)
        got = decode_np.decode(raw.numpy(), pts, 0.3, 0.5, 100, classes)
        for (wb, ws, wc), (gb, gs, gc) in zip(want, got, strict=True):
            assert len(gb) == len(wb) > 0
            np.testing.assert_allclose(gb, wb.numpy(), atol=1e-3, rtol=0)
            np.testing.assert_allclose(gs, ws.numpy(), atol=1e-6, rtol=0)
            assert np.array_equal(gc, wc.numpy())


def test_numpy_nms_keeps_what_torchvision_keeps():
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(1, 300))
        xy = rng.uniform(0, 200, (n, 2)).astype(np.float32)
        xyxy = np.concatenate([xy, xy + rng.uniform(1, 60, (n, 2)).astype(np.float32)], 1)
        scores = rng.choice(np.linspace(0.1, 1, 7), n).astype(np.float32)  # few values: many ties
        ids = rng.integers(0, 3, n)
        want = tv_batched_nms(torch.from_numpy(xyxy), torch.from_numpy(scores), torch.from_numpy(ids), 0.45).numpy()
        got = decode_np.batched_nms(xyxy, scores, ids, 0.45)
        assert set(got) == set(want)
        assert np.all(np.diff(scores[got]) <= 0)
        assert np.array_equal(decode_np.batched_nms(xyxy, scores, ids, 0.45, limit=5), got[:5])


def _matched(a, b) -> None:
    """Every box of `a` has one in `b` of its class within 1e-3 px and 1e-4 in score, and the counts agree."""
    assert len(a) == len(b)
    for box, score, cls in zip(a.xyxy, a.scores, a.class_ids):
        same = np.flatnonzero(b.class_ids == cls)
        j = same[np.abs(b.xyxy[same] - box).max(1).argmin()]
        assert np.abs(b.xyxy[j] - box).max() <= 1e-3
        assert abs(b.scores[j] - score) <= 1e-4


def test_onnx_and_torch_give_the_same_boxes_on_the_samples(onnx_path):
    torch_detector = Detector.load(DEFAULT_WEIGHTS, bf16=False, conf=0.1)
    onnx_detector = Detector.load(onnx_path, bf16=False, conf=0.1)
    total = 0
    for frame in FRAMES:
        want, got = torch_detector.predict(frame), onnx_detector.predict(frame)
        _matched(want, got)
        total += len(want)
    assert total > 10  # the comparison saw boxes


def test_the_file_carries_what_labelling_needs(onnx_path, tmp_path):
    torch_detector, onnx_detector = Detector.load(), Detector.load(onnx_path)
    assert onnx_detector.classes == torch_detector.classes
    assert onnx_detector.stages == torch_detector.stages
    assert onnx_detector.net.strides == torch_detector.net.strides
    assert onnx_detector.version == torch_detector.version  # same stem, same epoch
    meta = onnx_detector.net.meta
    assert meta["model"] == {"num_classes": 5, "width": 1.0} and meta["decoder"]["conf"] == torch_detector.settings.conf
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(OnnxModelError, match="broken.onnx"):
        Detector.load(broken)
    with pytest.raises(OnnxModelError, match="no such"):
        Detector.load(tmp_path / "missing.onnx")


def test_foreign_onnx_file_is_refused_by_name(onnx_path, tmp_path):
    import onnx

    model = onnx.load(str(onnx_path))
    del model.metadata_props[:]
    foreign = tmp_path / "foreign.onnx"
    onnx.save(model, str(foreign))
    with pytest.raises(OnnxModelError, match="foreign.onnx: not a debris ONNX model"):
        Detector.load(foreign)


def test_labelling_with_onnx_never_imports_torch(onnx_path, tmp_path):
    """The CLI labels the samples through onnxruntime; torch, torchvision and every package the `onnx`
    extra leaves out stay unimported."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = lambda req: req.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower()  # noqa: E731
    left_out = {name(r) for r in project["dependencies"]} - {name(r) for r in project["optional-dependencies"]["onnx"]}
    script = f"""
import sys, json, importlib.metadata as md
from debris.cli import main
from debris.errors import MissingPackage
code = main(["label", {str(SAMPLES)!r}, "--model", {str(onnx_path)!r}, "--out", {str(tmp_path / 'out')!r}])
dists = md.packages_distributions()
print(json.dumps({{"code": code, "torch": sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision")), "dists": sorted({{d.lower() for m in list(sys.modules) for d in dists.get(m.split('.')[0], [])}})}}))
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0
    assert report["torch"] == []
    assert "torch" in left_out and "torchvision" in left_out
    assert sorted(set(report["dists"]) & left_out) == []
    records = sorted((tmp_path / "out" / "frames").glob("*.json"))
    assert len(records) == len(FRAMES)


def test_tampered_metadata_is_refused_by_name(onnx_path, tmp_path):
    import onnx

    model = onnx.load(str(onnx_path))
    for entry in model.metadata_props:
        if entry.key == "strides":
            entry.value = json.dumps(["8"])
    tampered = tmp_path / "tampered.onnx"
    onnx.save(model, str(tampered))
    with pytest.raises(OnnxModelError, match="tampered.onnx: broken debris metadata: strides"):
        Detector.load(tampered)


def test_export_without_the_onnx_package_says_which_extra_brings_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # an import of it now raises ImportError, as when not installed
    assert main(["export", "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    assert "pip install 'debris[onnx]'" in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()


def test_an_onnx_model_without_onnxruntime_says_which_extra_brings_it(tmp_path, monkeypatch):
    model = tmp_path / "m.onnx"
    assert main(["export", "--format", "onnx", "--out", str(model)]) == 0
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(MissingPackage, match=r"m\.onnx: running an ONNX model needs onnxruntime"):
        Detector.load(model)
