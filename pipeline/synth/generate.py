"""`debris synth`: render a whole synthetic data set, in parallel, reproducibly.

Frame i of a run with seed S is drawn from its own seed, derived from (S, i) alone, so the data
set is the same bytes whatever the number of workers, and a frame can be re-rendered on its own.
Frames are split into train/val/test by index, so no seed is shared between splits; a test set
that must never overlap training is a run with another --seed. Layout (what `debris check` and
`load_dataset` read):
    OUT/{split}.json               COCO, file_name relative to OUT
    OUT/images/{split}/NNNNNN_<camera>.jpg|png   colour frames as JPEG, grayscale as PNG
    OUT/manifest.json              seed, config, and per frame its seed, camera, size and the families drawn:
                                   "families": {"terrain": name, "objects": [[class, family], ...]}
    OUT/preview.png                with --preview: the first frames with their boxes
    OUT/yolo/                      with --yolo: the same data set in YOLO layout
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from debris.formats.coco import write_coco
from debris.config import Config, ConfigError
from debris.formats.dataset import load_dataset, save_dataset
from debris.labels import ImageLabels
from debris.detections import Detections
from debris.viz.draw import contact_sheet, draw_detections
from debris.io.files import write_bytes_atomic, write_text_atomic
from debris.io.reader import list_frames, read_frame
from debris.synth.cameras import CAMERAS, COLOUR
from debris.synth.hardware import CLASS_NAMES
from debris.synth.scene import render_frame

PREVIEW_FRAMES = 16


@dataclass(frozen=True)
class FrameJob:
    index: int
    seed: int
    split: str
    camera: str
    size: tuple[int, int]  # (width, height)
    jpeg_quality: int
    file_name: str  # relative to the output folder


def plan_frames(n: int, seed: int, config: Config, size: tuple[int, int] | None = None) -> list[FrameJob]:
    """What each of the n frames will be; depends only on (n, seed, config, size)."""
    cuts = np.cumsum([round(share * n) for share in config.synth.splits.values()])
    splits = [list(config.synth.splits)[min(int(np.searchsorted(cuts, i, side="right")), len(cuts) - 1)] for i in range(n)]
    return [frame_job([seed, i], i, splits[i], config, size) for i in range(n)]


def frame_job(entropy: list[int], index: int, split: str, config: Config, size: tuple[int, int] | None = None) -> FrameJob:
    """One frame's camera, seed and JPEG quality, drawn from `entropy` (e.g. [seed, index]) alone."""
    synth = config.synth
    names = [name for name in CAMERAS if synth.camera in (name, "mixed")]
    weights = np.array([synth.camera_weights.get(name, 1.0) if synth.camera == "mixed" else 1.0 for name in names])
    rng = np.random.default_rng(entropy)
    camera = names[int(rng.choice(len(names), p=weights / weights.sum()))]
    suffix = ".jpg" if COLOUR[camera] else ".png"
    seed = int(rng.integers(2**63))
    sizes, size_weights = synth.size_choices(camera)
    drawn_size = sizes[int(rng.choice(len(sizes), p=np.array(size_weights) / sum(size_weights)))]
    return FrameJob(
        index=index, seed=seed, split=split, camera=camera,
        size=size or drawn_size, jpeg_quality=int(rng.integers(synth.jpeg_quality[0], synth.jpeg_quality[1] + 1)),
        file_name=f"images/{split}/{index:06d}_{camera}{suffix}",
    )


def generate_dataset(
    out: str | Path, n: int, seed: int, config: Config, size: tuple[int, int] | None = None,
    backgrounds: str | Path | None = None, workers: int = 1, preview: bool = False, yolo: bool = False,
) -> Path:
    """Render n frames into `out` (which must be new or empty); returns `out`."""
    out = Path(out)
    _check_classes(config)
    if out.exists() and any(out.iterdir()):
        raise ConfigError(f"{out}: output folder is not empty")
    background_paths = [str(p) for p in list_frames([backgrounds])] if backgrounds else []
    if backgrounds and not background_paths:
        raise ConfigError(f"{backgrounds}: no background images found")
    jobs = plan_frames(n, seed, config, size)
    args = [(job, out, config, background_paths) for job in jobs]
    pool = multiprocessing.get_context("spawn").Pool(workers, initializer=_init_worker) if workers > 1 else None
    with pool or contextlib.nullcontext():
        mapped = pool.imap(_render_job, args, chunksize=2) if pool else map(_render_job, args)
        results, drawn = zip(*tqdm(mapped, total=n, desc="synth", unit="frame", disable=None)) if n else ((), ())

    for split in config.synth.splits:
        images = [image for job, image in zip(jobs, results) if job.split == split]
        if images:
            write_coco(out / f"{split}.json", config.classes, images)
    manifest = {"seed": seed, "n": n, "size": size, "backgrounds": background_paths, "config": config.model_dump(),
                "frames": [{**asdict(job), "families": families} for job, families in zip(jobs, drawn)]}
    write_text_atomic(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    if preview:
        write_preview(out, jobs[:PREVIEW_FRAMES], results[:PREVIEW_FRAMES], config.classes)
    if yolo:
        save_dataset(load_dataset(out), out / "yolo", "yolo")
    return out


def write_preview(out: Path, jobs: list[FrameJob], images: list[ImageLabels], classes: list[str]) -> None:
    """OUT/preview.png: the frames scaled to contact-sheet cells, boxes drawn at that scale so labels stay legible."""
    # cells shaped like the frames (their median aspect): square frames in 4:3 cells wasted a quarter of the sheet
    aspect = float(np.median([image.width / image.height for image in images])) if images else 4 / 3
    cell = (400, max(16, round(400 / aspect)))
    tiles = []
    for job, labels in zip(jobs, images):
        frame = read_frame(out / job.file_name).image
        scale = min(cell[0] / frame.shape[1], cell[1] / frame.shape[0])
        small = cv2.resize(frame, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        boxes = Detections(labels.labels.xyxy * scale, labels.labels.scores, labels.labels.class_ids)
        tiles.append(draw_detections(small, boxes, classes, show_scores=False))
    sheet = contact_sheet(tiles, columns=4, cell=cell)
    ok, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    write_bytes_atomic(out / "preview.png", png.tobytes())


def _check_classes(config: Config) -> None:
    unknown = [name for name in config.classes if name not in CLASS_NAMES]
    if unknown:
        raise ConfigError(f"classes: the generator cannot draw {unknown}; it draws {list(CLASS_NAMES)}")
    unknown = sorted(set(config.synth.class_weights) - set(CLASS_NAMES))
    if unknown:
        raise ConfigError(f"synth.class_weights: unknown classes {unknown}; expected some of {list(CLASS_NAMES)}")


def _render_job(args: tuple[FrameJob, Path, Config, list[str]]) -> tuple[ImageLabels, dict]:
    job, out, config, background_paths = args
    background = None
    if background_paths:
        # the frame's own seed picks its background, so workers need not agree on anything
        pick = np.random.default_rng([job.seed, 1]).integers(len(background_paths))
        background = read_frame(background_paths[pick]).image
    data, labels, drawn = render_file(job, config, background)
    write_bytes_atomic(out / job.file_name, data)
    return labels, drawn


def render_file(job: FrameJob, config: Config, background: np.ndarray | None = None) -> tuple[bytes, ImageLabels, dict]:
    """One frame encoded as its file (JPEG for colour cameras, PNG for gray), its labels and the families drawn."""
    image, labels, drawn = render_frame(job.seed, job.camera, job.size, config.classes, config.synth, background)
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 else image
    params = [cv2.IMWRITE_JPEG_QUALITY, job.jpeg_quality] if job.file_name.endswith(".jpg") else []
    ok, data = cv2.imencode(Path(job.file_name).suffix, bgr, params)
    return data.tobytes(), ImageLabels(job.file_name, image.shape[1], image.shape[0], labels), drawn


def _init_worker() -> None:
    # one thread per worker process: the workers are the parallelism, oversubscription only slows them
    cv2.setNumThreads(1)
    os.environ["OMP_NUM_THREADS"] = "1"
