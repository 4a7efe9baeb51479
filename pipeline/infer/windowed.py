"""Products too large to decode whole (debris.io.product): the detector's windows read from the file.

The tiler plans the same windows as for any frame. The whole-frame view comes from the product's
own reduced-resolution levels; the native tiles are read a batch at a time, one batch ahead in a
thread, so the network does not wait on the decoder and memory holds two batches whatever the
product's size. Preprocessing measures a sample of the product at full resolution, SAMPLE_GRID x
SAMPLE_GRID windows spread evenly over it, and maps every window with those numbers
(debris.preprocess.fit_preprocess): the windows are prepared as one frame would be. Not the
reduced view: averaging pixels narrows the histogram, and a stretch fitted on it over-stretches
every tile (measured: it hid hardware the ordinary path finds at 0.4, benchmarks/archive.py).

A product's batches can be split between workers (the Ray engine): each runs `detect_product_batches`
on its share, and `merge_product` joins what they return into the product's detections, the same
boxes, bit for bit, as one process running all of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from debris.detections import Detections
from debris.geo import GeoRef
from debris.infer.detector import Detector
from debris.infer.tiler import Window
from debris.io.product import Product, open_product
from debris.labels import ImageLabels
from debris.preprocess import fit_preprocess

SAMPLE_GRID, SAMPLE_SIDE = 4, 256  # the measuring stages' sample: a 4 x 4 mosaic of 256 px full-resolution windows


def product_plan(detector: Detector, width: int, height: int) -> tuple[list[Window], list[list[int]]]:
    """The windows of a width x height product and their batches (Detector.batches)."""
    windows = detector.tiler.windows(width, height)
    return windows, detector.batches(windows)


def detect_product_batches(detector: Detector, path: str | Path, only: list[int] | None = None) -> dict[int, Detections]:
    """Boxes of the windows in batches `only` (indices into product_plan's batches; None: all) of the product
    at `path`, per window index, in that window's network pixels. Raises FrameError for an unreadable product."""
    with open_product(path) as product:
        return _detect(detector, product, only)


def merge_product(detector: Detector, width: int, height: int, results: dict[int, Detections]) -> Detections:
    """The product's detections, in product pixels, from every window's boxes (detect_product_batches' dicts, joined)."""
    windows, _ = product_plan(detector, width, height)
    return detector.merger(windows, [results.get(i, Detections.empty()) for i in range(len(windows))], width, height)


def detect_product(detector: Detector, path: str | Path, name: str | None = None) -> ImageLabels:
    """All of a product's boxes, with its size and georeference; file_name: `name`, else the file's name.
    Raises FrameError for an unreadable product."""
    with open_product(path) as product:
        dets = merge_product(detector, product.width, product.height, _detect(detector, product, None))
        return ImageLabels(name or Path(path).name, product.width, product.height, dets, product.geo)


def product_header(path: str | Path) -> tuple[int, int, GeoRef | None]:
    """A product's width, height and georeference (None if not map-projected); FrameError if it cannot be read."""
    with open_product(path) as product:
        return product.width, product.height, product.geo


def _detect(detector: Detector, product: Product, only: list[int] | None) -> dict[int, Detections]:
    """detect_product_batches on an open product."""
    windows, batches = product_plan(detector, product.width, product.height)
    chosen = [batches[k] for k in (range(len(batches)) if only is None else only)]
    results = detector.detect_batches(chosen, _read_ahead(product, detector, windows, chosen), len(windows))
    return {i: results[i] for batch in chosen for i in batch}


def _read_ahead(product: Product, detector: Detector, windows: list[Window], batches: list[list[int]]) -> Iterator[list[np.ndarray]]:
    """Per batch, its windows' pixels prepared for the network; the next batch is read while this one runs.

    One reading thread: a product's file handle serves one thread at a time.
    """
    prepare = fit_preprocess(detector.stages, full_resolution_sample(product))

    def read(batch: list[int]) -> list[np.ndarray]:
        crops = []
        for i in batch:
            w = windows[i]
            crops.append(prepare(product.read(w.x0, w.y0, w.width, w.height, out_size=None if w.scale == 1 else w.size)))
        return crops

    with ThreadPoolExecutor(1, thread_name_prefix="product") as reader:
        pending = reader.submit(read, batches[0]) if batches else None
        for k in range(len(batches)):
            crops = pending.result()
            if k + 1 < len(batches):
                pending = reader.submit(read, batches[k + 1])
            yield crops


def full_resolution_sample(product: Product) -> np.ndarray:
    """(h, w, 3) uint8 RGB: the product itself if it is small, else a SAMPLE_GRID x SAMPLE_GRID mosaic of
    SAMPLE_SIDE px windows at full resolution, spread evenly from corner to corner."""
    side = SAMPLE_GRID * SAMPLE_SIDE
    if product.width <= side and product.height <= side:
        return product.read(0, 0, product.width, product.height)
    w, h = min(SAMPLE_SIDE, product.width), min(SAMPLE_SIDE, product.height)
    xs = np.linspace(0, product.width - w, SAMPLE_GRID).round().astype(int)
    ys = np.linspace(0, product.height - h, SAMPLE_GRID).round().astype(int)
    return np.concatenate([np.concatenate([product.read(x, y, w, h) for x in xs], 1) for y in ys], 0)
