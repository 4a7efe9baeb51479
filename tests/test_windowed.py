"""Products read in windows (debris.infer.windowed): the same tiles as an in-memory frame, split work that merges
back bit for bit, and the shipped model finding rendered hardware on a small map-projected product."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

rasterio = pytest.importorskip("rasterio")

from benchmarks.archive_product import make_product  # noqa: E402
from debris.detections import Detections  # noqa: E402
from debris.infer.detector import Detector  # noqa: E402
from debris.infer.label import label_frames  # noqa: E402
from debris.infer.windowed import (  # noqa: E402
    SAMPLE_GRID, SAMPLE_SIDE, detect_product, detect_product_batches, full_resolution_sample, merge_product, product_plan,
)
from debris.io.product import open_product  # noqa: E402
from tests.builders import untrained_checkpoint  # noqa: E402


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    """A 2048 x 1536 HiRISE-like product with 6 rendered objects at known positions (benchmarks/archive_product.py)."""
    out = tmp_path_factory.mktemp("product")
    return out, make_product(out, 2048, 1536, seed=0, objects=6, force=False)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """An untrained network at conf 0.001: boxes on every window, their exact values depend on every pixel."""
    path = untrained_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt")
    return Detector.load(path, conf=0.001, tile=512, batch=4)


def same(a: Detections, b: Detections) -> bool:
    return np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.scores, b.scores) and np.array_equal(a.class_ids, b.class_ids)


def test_native_tiles_of_a_product_give_the_boxes_of_the_same_tiles_in_memory(product, tiny):
    folder, _ = product
    detector = dataclasses.replace(tiny, stages=[])  # no measuring stage: the pixels alone decide
    with open_product(folder / "product.tif") as p:
        image = p.read(0, 0, p.width, p.height)
    windows, batches = product_plan(detector, image.shape[1], image.shape[0])
    crops = ([detector.tiler.crop(image, windows[i]) for i in batch] for batch in batches)
    in_memory = detector.detect_batches(batches, crops, len(windows))
    windowed = detect_product_batches(detector, folder / "product.tif")
    assert len(windows) > 10 and sum(len(d) for d in in_memory) > 0
    assert all(same(windowed[i], in_memory[i]) for i in range(1, len(windows)))  # 0, the whole view, comes from overviews


def test_batches_split_over_workers_merge_to_the_same_boxes(product, tiny):
    folder, _ = product
    path = folder / "product.jp2"
    labels = detect_product(tiny, path)
    whole, width, height = labels.labels, labels.width, labels.height
    _, batches = product_plan(tiny, width, height)
    parts = [detect_product_batches(tiny, path, only=list(range(k, len(batches), 3))) for k in range(3)]
    merged = merge_product(tiny, width, height, {i: d for part in parts for i, d in part.items()})
    assert len(whole) > 0 and same(merged, whole)


@pytest.mark.parametrize("name", ["product.tif", "product.jp2", "product.LBL"])
def test_the_shipped_model_finds_the_hardware_on_the_map(product, tmp_path, name):
    folder, truth = product
    summary = label_frames(Detector.load(formats=["geojson"], conf=0.25), [folder / name], tmp_path / "out",
                           max_pixels=1_000_000)  # the 3 MP TIFF is a product too at this limit
    assert summary.labelled == 1 and not summary.failed
    stem = name.rsplit(".", 1)[0]
    features = json.loads((tmp_path / "out" / "geojson" / f"{stem}.geojson").read_text())["features"]
    record = json.loads((tmp_path / "out" / "frames" / f"{stem}.json").read_text())
    assert (record["width"], record["height"]) == (2048, 1536) and record["geo"]["transform"] == [
        truth["transform"][1], truth["transform"][2], truth["transform"][0],
        truth["transform"][4], truth["transform"][5], truth["transform"][3]]  # truth has GDAL's order
    # the parachutes, the largest objects: a box of any class (the model calls the canopy seen from above a
    # backshell as often as a parachute) centred within 5 m of the truth, and its longitude and latitude
    found = 0
    for o in (o for o in truth["objects"] if o["class"] == "parachute"):
        hits = [f["properties"] for f in features
                if abs(f["properties"]["x_map"] - o["centre_map_m"][0]) < 5 and abs(f["properties"]["y_map"] - o["centre_map_m"][1]) < 5]
        if hits:
            found += 1
            assert hits[0]["lon"] == pytest.approx(o["lon_lat_deg"][0], abs=1e-4)  # 5 m on Mars is 8e-5 degrees
            assert hits[0]["lat"] == pytest.approx(o["lon_lat_deg"][1], abs=1e-4)
    assert found == 2


def test_the_preprocessing_sample_is_full_resolution_pixels_not_the_narrower_reduced_view(product):
    folder, _ = product
    with open_product(folder / "product.tif") as p:
        whole = p.read(0, 0, p.width, p.height)[..., 0].astype(float)
        sample = full_resolution_sample(p)[..., 0].astype(float)
        reduced = p.overview(64)[..., 0].astype(float)  # 32x reduced, as a 512 px view of a 16k px product
        x, y = int(np.linspace(0, p.width - SAMPLE_SIDE, SAMPLE_GRID)[1].round()), 0
        np.testing.assert_array_equal(sample[:SAMPLE_SIDE, SAMPLE_SIDE : 2 * SAMPLE_SIDE], whole[y : y + SAMPLE_SIDE, x : x + SAMPLE_SIDE])
    spread = lambda a: np.subtract(*np.percentile(a, [99.5, 0.5]))  # noqa: E731  what percentile_stretch maps to 0..255
    assert abs(spread(sample) - spread(whole)) < 0.1 * spread(whole)
    assert spread(reduced) < 0.8 * spread(whole)  # averaging narrows the histogram: a stretch fitted there over-stretches
