"""Labelling on a Ray cluster (`debris label --engine ray`): label_frames' run, its boxes found by Ray actors.

This process, the driver, does all that debris.infer.label.label_frames does except run the network,
through the same functions (open_run, write_frame, finish_run), so a run writes the same files
whichever engine labels it. The network runs in a pool of Ray actors, one Detector each, fed by Ray
Data; an actor only reads frames and finds boxes, and sends back plain data (Found).

Work goes out in tasks. Ordinary frames go a few to a task and are labelled whole. A product too
large to decode whole (debris.io.product) is cut into parts of BATCHES_PER_PART batches of its
windows, one part to a task, so its windows spread over every actor; the batches are
Detector.batches', as in one process, so the boxes are the same bit for bit. When all of a product's
parts are back the driver joins them (windowed.merge_product) and writes the product. Results stream
back as tasks end: the driver holds only the products still in parts, whatever the number of frames.
With --save-overlays the driver decodes each ordinary frame again to draw on it.

A killed actor is restarted and its unfinished tasks run again: Ray Data gives an actor pool
max_restarts=-1 and max_task_retries=-1 unless told otherwise. A result that then comes twice is
ignored: each frame is written once. Frames, the model and OUT must lie on storage every node sees,
at the same paths.
"""

from __future__ import annotations

import logging
import pickle
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from debris.config import LabelConfig
from debris.detections import Detections
from debris.errors import MissingPackage, UserError
from debris.geo import GeoRef
from debris.infer.detector import Detector
from debris.infer.label import LabelRun, LabelSummary, finish_run, open_run, write_frame
from debris.infer.windowed import detect_product_batches, merge_product, product_header, product_plan
from debris.io.onnx_file import OnnxNet
from debris.io.product import is_product
from debris.io.reader import DEFAULT_MAX_PIXELS, FrameError, read_frame
from debris.labels import ImageLabels

ACTOR_THREADS = 1  # torch threads (and Ray CPUs) per actor: over many frames one process per core is fastest
BATCHES_PER_PART = 16  # a product's batches per task: 128 windows at batch 8, seconds of work, so parts spread
FRAMES_PER_TASK = 8  # ordinary frames per task at most: Ray's cost per task is milliseconds, a frame's ~0.1 s
TASKS_PER_ACTOR = 4  # fewer frames per task when there are few frames, so that no actor waits at the end
WHOLE = -1  # Work.first of a frame labelled whole


class ClusterError(UserError):
    """No Ray cluster answers at --address, or none lets this process in."""


@dataclass(frozen=True)
class Work:
    """A frame to label whole (first == WHOLE), or batches first..stop-1 of a product's windows.

    path: the frame's, absolute, as every node reads it; name: its output name (label.frame_names).
    """

    path: str
    name: str
    first: int = WHOLE
    stop: int = WHOLE


@dataclass(frozen=True)
class Found:
    """An actor's answer to one Work: the reason it could not be read, or its boxes.

    boxes: a whole frame: {WHOLE: its Detections, frame pixels}, and width, height are the frame's;
    a product's part: {window index: Detections, that window's network pixels} (windowed.detect_product_batches).
    """

    work: Work
    width: int
    height: int
    boxes: dict[int, Detections]
    error: str | None = None


@dataclass
class _Product:
    """A product whose parts are coming back: its header and the parts so far, by Work.first."""

    width: int
    height: int
    geo: GeoRef | None
    parts: int
    found: dict[int, Found] = field(default_factory=dict)


class Labeller:
    """A Ray actor's Detector. Ray Data calls it with a batch of rows, each row one task: {"work": pickled [Work]}.

    Returns {"found": object array of pickled Found, one per Work}.
    """

    def __init__(self, model: str | None, settings: LabelConfig, max_pixels: int):
        self.detector = Detector.load(model, settings)
        self.max_pixels = max_pixels
        if not isinstance(self.detector.net, OnnxNet):
            import torch

            torch.set_num_threads(ACTOR_THREADS)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        found = [pickle.dumps(self.label(work)) for task in batch["work"] for work in pickle.loads(task)]
        return {"found": np.array(found, dtype=object)}

    def label(self, work: Work) -> Found:
        try:
            if work.first == WHOLE:
                frame = read_frame(work.path, self.max_pixels)
                return Found(work, frame.width, frame.height, {WHOLE: self.detector(frame.image)})
            return Found(work, 0, 0, detect_product_batches(self.detector, work.path, list(range(work.first, work.stop))))
        except FrameError as e:
            return Found(work, 0, 0, {}, e.reason)


def label_frames_ray(
    model: str | Path | None, settings: LabelConfig, paths: list[Path], out: str | Path, save_overlays: bool = False,
    resume: bool = False, max_pixels: int | None = None, actors: int | None = None, address: str | None = None,
) -> LabelSummary:
    """Label every frame in `paths` into the folder `out`, as label_frames does, on Ray.

    model: checkpoint or .onnx (None: the shipped one), which every actor loads; settings: label settings.
    actors: Detectors working at once (default: the cluster's CPUs / ACTOR_THREADS).
    address: a running cluster's (ray.init's address); None starts a local Ray on this machine's
    cores. Within a Ray already initialised (a notebook, a test) that one is used, and left running.
    """
    ray = _import_ray()
    if address:
        _check_reachable(address)
    detector = Detector.load(model, settings)  # what run.json records, and products' windows; its network never runs
    run = open_run(detector, paths, out, save_overlays, resume)
    max_pixels = max_pixels or DEFAULT_MAX_PIXELS
    bar = tqdm(total=len(run.todo), desc="labelling", unit="frame", disable=None)
    frames, parts, products = _plan(run, detector, max_pixels, bar)
    if frames or parts:
        started = _connect(ray, address)
        try:
            actors = actors or max(1, int(ray.cluster_resources().get("CPU", 1)) // ACTOR_THREADS)
            found = _run(ray, _tasks(frames, parts, actors), actors,
                         {"model": str(Path(model).resolve()) if model else None, "settings": settings, "max_pixels": max_pixels})
            _write(run, detector, found, products, max_pixels, bar)
        finally:
            if started:
                ray.shutdown()
    bar.close()
    return finish_run(run)


def _plan(run: LabelRun, detector: Detector, max_pixels: int, bar: tqdm) -> tuple[list[Work], list[Work], dict[str, _Product]]:
    """The ordinary frames to label, the parts of the products, and each product's header, by name.

    A product whose header cannot be read is listed as failed here, as label_frames lists it.
    """
    frames, parts, products = [], [], {}
    for path, name in run.todo:
        if not is_product(path, max_pixels):
            frames.append(Work(str(path.resolve()), name))
            continue
        try:
            width, height, geo = product_header(path)
        except FrameError as e:
            run.failed[name] = (str(path), e.reason)
            bar.update()
            continue
        _, batches = product_plan(detector, width, height)
        starts = range(0, len(batches), BATCHES_PER_PART)
        parts += [Work(str(path.resolve()), name, k, min(k + BATCHES_PER_PART, len(batches))) for k in starts]
        products[name] = _Product(width, height, geo, len(starts))
    return frames, parts, products


def _tasks(frames: list[Work], parts: list[Work], actors: int) -> list[list[Work]]:
    """Products' parts one to a task, first (the longest work starts first); then the frames, FRAMES_PER_TASK
    to a task, or fewer so that each actor gets TASKS_PER_ACTOR tasks."""
    size = max(1, min(FRAMES_PER_TASK, len(frames) // (actors * TASKS_PER_ACTOR)))
    return [[part] for part in parts] + [frames[k : k + size] for k in range(0, len(frames), size)]


def _run(ray: Any, tasks: list[list[Work]], actors: int, labeller: dict[str, Any]) -> Iterator[Found]:
    """Yield a Found for every Work of `tasks` as actors finish them (some twice, after a retry).

    labeller: Labeller's arguments. One Ray Data block per task, so a task is one actor call.
    """
    # the driver's bar counts frames: Ray Data's bars, and its notes on its plan and on their absence, are noise here
    ray.data.DataContext.get_current().enable_progress_bars = False
    logging.getLogger("ray.data").setLevel(logging.ERROR)
    rows = [{"work": pickle.dumps(task)} for task in tasks]
    dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
        Labeller, fn_constructor_kwargs=labeller, batch_size=1,
        compute=ray.data.ActorPoolStrategy(size=actors), num_cpus=ACTOR_THREADS,
    )
    for row in dataset.iter_rows():
        yield pickle.loads(row["found"])


def _write(run: LabelRun, detector: Detector, found: Iterator[Found], products: dict[str, _Product], max_pixels: int,
           bar: tqdm) -> None:
    """Write each frame's outputs once its result is whole: a frame's Found, or all of a product's parts."""
    paths = {name: path for path, name in run.todo}  # as given, for errors.csv
    written: set[str] = set()
    for answer in found:
        name = answer.work.name
        if name in written:
            continue  # a retried task's answer for a frame already written
        if answer.work.first == WHOLE:
            error = answer.error or _write_whole(run, answer, paths[name], max_pixels)
        else:
            product = products[name]
            product.found.setdefault(answer.work.first, answer)
            if len(product.found) < product.parts:
                continue  # more of its parts to come
            error = _write_product(run, detector, name, products.pop(name))
        if error is not None:
            run.failed[name] = (str(paths[name]), error)
        written.add(name)
        bar.update()


def _write_whole(run: LabelRun, answer: Found, path: Path, max_pixels: int) -> str | None:
    """Write a frame labelled whole (decoding it again for its overlay); the reason it failed, or None."""
    try:
        image = read_frame(path, max_pixels).image if run.save_overlays else None
    except FrameError as e:
        return e.reason
    write_frame(run, ImageLabels(answer.work.name, answer.width, answer.height, answer.boxes[WHOLE]), image)
    return None


def _write_product(run: LabelRun, detector: Detector, name: str, product: _Product) -> str | None:
    """Join a product's parts and write it; the reason it failed, or None.

    A product unreadable in several parts fails with the first part's reason: the one label_frames,
    reading its batches in order, meets first.
    """
    parts = [product.found[first] for first in sorted(product.found)]
    errors = [part.error for part in parts if part.error is not None]
    if errors:
        return errors[0]
    boxes = {i: dets for part in parts for i, dets in part.boxes.items()}
    dets = merge_product(detector, product.width, product.height, boxes)
    write_frame(run, ImageLabels(name, product.width, product.height, dets, product.geo))
    return None


def _connect(ray: Any, address: str | None) -> bool:
    """Join the cluster at `address`, or start a local Ray; True when this call started Ray and must end it."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address or "local", include_dashboard=False, logging_level=logging.WARNING)
    except ConnectionError as e:
        if not address:
            raise
        # ray.init joins an explicit address without the token that `ray start` clusters demand by default
        raise ClusterError(f"--address {address}: {e}; a cluster with token authentication also needs "
                           "RAY_AUTH_MODE=token here, and its token in ~/.ray/auth_token or RAY_AUTH_TOKEN") from None
    return True


def _check_reachable(address: str) -> None:
    """Fail at once where no cluster answers at `address` (HEAD:PORT, or ray://HEAD:PORT): ray.init would
    retry for minutes. Other forms ("auto") are left to ray.init."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return
    try:
        socket.create_connection((host, int(port)), timeout=10).close()
    except OSError as e:
        raise ClusterError(f"--address {address}: no Ray cluster answers there ({e.strerror or e}); "
                           "start one with `ray start --head` on that node") from None


def _import_ray() -> Any:
    try:
        import ray
        import ray.data
    except ImportError:
        raise MissingPackage("--engine ray needs Ray Data, which is not installed: pip install 'debris[ray]'") from None
    return ray
