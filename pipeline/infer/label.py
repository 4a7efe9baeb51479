"""Batch labelling: any number of frames in, boxes with scores out, in the formats labelling tools read.

Frames are decoded ahead of the network by a few threads, never more than a small bounded window
ahead, so memory stays flat however many frames there are. A product too large to decode whole
(debris.io.product.is_product: a JPEG 2000 or PDS product, or a TIFF over reader.max_pixels) is not
decoded by them: debris.infer.windowed reads its windows from the file a batch at a time. Its
overlay is not drawn, for there is no whole image to draw on. Every frame's result is written to its
record, OUT/frames/<name>.json (with its per-frame sink files and overlay, if asked for, written
before it): that JSON is the mark that the frame is done. A frame that cannot be read is listed in
OUT/errors.csv and the batch goes on. At the end the collection files of the sinks in
`label.formats` (debris.formats.sinks) are rebuilt from the frame records, so a run killed at any
moment and resumed ends with exactly the files of an uninterrupted run. Every file is written
atomically. The folder's layout: debris.formats.run_folder.

Every engine writes through the same three functions, so a run's files do not depend on which
engine computed the boxes: `open_run` (start or check the folder, list what is to do),
`write_frame` (one frame's outputs) and `finish_run` (collections and errors.csv). `label_frames`
is the engine of one process; debris.infer.ray_engine is the one of a Ray cluster.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from debris.config import ConfigError
from debris.formats.run_folder import RunFolder, with_suffix
from debris.formats.sinks import SINKS, Sink, SinkContext
from debris.formats.writers import read_frame_json, write_frame_json
from debris.infer.detector import Detector
from debris.infer.windowed import detect_product
from debris.io.files import write_text_atomic
from debris.io.product import is_product
from debris.io.reader import DEFAULT_MAX_PIXELS, Frame, FrameError, read_frame
from debris.labels import ImageLabels
from debris.preprocess import stage_records
from debris.viz.overlay import write_overlay

AHEAD_PER_WORKER = 2  # frames decoded ahead per decoding thread: enough to hide decoding, little memory


@dataclass
class LabelSummary:
    """What a labelling run did. failed: (frame path, reason) of every frame that could not be read."""

    frames: int  # frames found in the sources
    labelled: int  # labelled by this run
    resumed: int  # done by an earlier run and skipped
    boxes: int  # boxes in all labelled frames, resumed ones included
    seconds: float  # wall time of this run
    failed: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class LabelRun:
    """A run's output folder and what is left to do in it; open_run makes it, every engine writes through it."""

    folder: RunFolder
    sinks: list[Sink]
    context: SinkContext
    save_overlays: bool
    names: list[str]  # every frame's name (frame_names), in the order of the paths
    todo: list[tuple[Path, str]]  # (path, name) of the frames no earlier run labelled
    resumed: int  # frames an earlier run labelled
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # name -> (path, reason) of unreadable frames
    started: float = field(default_factory=time.perf_counter)


def frame_names(paths: list[Path]) -> list[str]:
    """Output names of the frames: posix paths relative to the folder that holds them all.

    Sub-folders are kept, so a/0001.jpg and b/0001.jpg stay apart.
    """
    if not paths:
        return []
    root = frames_root(paths)
    return [p.resolve().relative_to(root).as_posix() for p in paths]


def frames_root(paths: list[Path]) -> Path:
    """The folder holding all the frames, that frame_names are relative to."""
    return Path(os.path.commonpath([p.resolve().parent for p in paths]))


def label_frames(
    detector: Detector, paths: list[Path], out: str | Path, save_overlays: bool = False, resume: bool = False,
    max_pixels: int | None = None,
) -> LabelSummary:
    """Label every frame in `paths` into the folder `out` (layout: debris.formats.run_folder), in this process."""
    run = open_run(detector, paths, out, save_overlays, resume)
    max_pixels = max_pixels or DEFAULT_MAX_PIXELS
    workers = detector.settings.workers
    bar = tqdm(total=len(run.todo), desc="labelling", unit="frame", disable=None)
    with ThreadPoolExecutor(workers, thread_name_prefix="decode") as pool:
        for (path, name), future in _read_ahead(pool, run.todo, lambda p: _decode(p, max_pixels), workers * AHEAD_PER_WORKER):
            try:
                frame: Frame | None = future.result()
                if frame is None:
                    write_frame(run, detect_product(detector, path, name))
                else:
                    write_frame(run, ImageLabels(name, frame.width, frame.height, detector(frame.image)), frame.image)
            except FrameError as e:
                run.failed[name] = (str(path), e.reason)
            bar.update()
    bar.close()
    return finish_run(run)


def open_run(
    detector: Detector, paths: list[Path], out: str | Path, save_overlays: bool = False, resume: bool = False,
) -> LabelRun:
    """Start the run folder `out` (or check it is this run's, resuming) and list the frames left to do.

    ConfigError if two frames' outputs would collide, or the folder holds another run.
    """
    names = frame_names(paths)
    stems: dict[str, Path] = {}
    for path, name in zip(paths, names):
        other = stems.setdefault(with_suffix(name, ""), path)
        if other != path:  # a.png and a.jpg would share frames/a.json, labels/a.txt and overlays/a.jpg
            raise ConfigError(f"{other} and {path} differ only in their suffix; their outputs would overwrite each other")
    folder = RunFolder(Path(out))
    _start_run(folder, detector, resume, save_overlays, frames_root(paths) if paths else None)
    done = {name for name in names if folder.record(name).exists()} if resume else set()
    settings = detector.settings
    return LabelRun(
        folder=folder, sinks=[SINKS[name] for name in settings.formats],
        context=SinkContext(detector.classes, detector.version, settings.save_conf, settings.image_prefix),
        save_overlays=save_overlays, names=names,
        todo=[(path, name) for path, name in zip(paths, names) if name not in done], resumed=len(done),
    )


def write_frame(run: LabelRun, result: ImageLabels, image: np.ndarray | None = None) -> None:
    """One frame's outputs: its per-frame sink files, its overlay (with --save-overlays, when `image`,
    its (H, W, 3) uint8 RGB pixels, is given), then its record, last, as the mark that it is done."""
    for sink in run.sinks:
        if sink.frame:
            sink.frame(run.folder, result, run.context)
    if run.save_overlays and image is not None:
        write_overlay(run.folder.overlay(result.file_name), image, result.labels, run.context.classes)
    write_frame_json(run.folder.record(result.file_name), result, run.context.classes)


def finish_run(run: LabelRun) -> LabelSummary:
    """Write the collections from every frame's record, and errors.csv (in the order of the frames)."""
    results = [read_frame_json(run.folder.record(name)) for name in run.names if run.folder.record(name).exists()]
    for sink in run.sinks:
        sink.collection(run.folder, results, run.context)
    failed = [run.failed[name] for _, name in run.todo if name in run.failed]
    _write_errors(run.folder.errors_csv, failed)
    return LabelSummary(len(run.names), len(run.todo) - len(failed), run.resumed, sum(len(r.labels) for r in results),
                        time.perf_counter() - run.started, failed)


def _decode(path: Path, max_pixels: int) -> Frame | None:
    """The decoded frame, or None for a product, which is read window by window instead."""
    return None if is_product(path, max_pixels) else read_frame(path, max_pixels)


def _read_ahead(pool: ThreadPoolExecutor, items: list[tuple[Path, str]], read, ahead: int):
    """Yield (item, future of read(item's path)) in order, with at most `ahead` frames decoding or decoded."""
    pending: deque[tuple[tuple[Path, str], Future]] = deque()
    for item in items:
        pending.append((item, pool.submit(read, item[0])))
        if len(pending) >= ahead:
            yield pending.popleft()
    while pending:
        yield pending.popleft()


def _start_run(run: RunFolder, detector: Detector, resume: bool, save_overlays: bool, images: Path | None) -> None:
    """Write run.json, or check it against this run's when resuming: one folder, one model and set of outputs.

    A resumed run must make the same outputs: frames done before would lack a per-frame output
    added now (overlays, YOLO txt), so a change is refused, naming what changed.
    """
    record = {"model": detector.version, "classes": detector.classes, "preprocess": stage_records(detector.stages),
              "settings": detector.settings.model_dump(mode="json"), "save_overlays": save_overlays}
    if run.run_json.exists():
        if not resume:
            raise ConfigError(f"{run.root}: holds a labelling run already; pass --resume to continue it, or choose another folder")
        before = json.loads(run.run_json.read_text(encoding="utf-8"))
        pairs = [(key, before.get(key, False), record[key]) for key in record if key != "settings"]
        pairs += [(f"label.{key}", before.get("settings", {}).get(key), value) for key, value in record["settings"].items()
                  if key != "workers"]  # decoding threads change the speed, not the outputs
        changed = [f"{key} (run: {was}, now: {now})" for key, was, now in pairs if was != now]
        if changed:
            hint = ("; to draw overlays of a run made without them: debris overlay RUN"
                    if save_overlays and not before.get("save_overlays", False) else "")
            raise ConfigError(f"{run.root}: --resume needs the run's own model and outputs, and these differ: "
                              f"{'; '.join(changed)}; resume with the run's, or choose another folder{hint}")
    record["images"] = str(images) if images else None  # where overlay, convert and eval find the frames
    write_text_atomic(run.run_json, json.dumps(record, indent=1) + "\n")


def _write_errors(path: Path, failed: list[tuple[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["file", "reason"])
    writer.writerows(failed)
    write_text_atomic(path, buffer.getvalue())
