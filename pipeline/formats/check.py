"""`debris check`: every problem of a data set, from its label files down to its pixels.

read_dataset finds the problems in the label files; this then decodes every image listed, the
way the pipeline will (read_frame), to find missing, unreadable, oversized and mis-sized ones.
It only reads, so it is safe to run on a data set in use.
"""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from debris.formats.dataset import read_dataset

from debris.labels import Problem
from debris.io.reader import DEFAULT_MAX_PIXELS, FrameError, read_frame


def check_dataset(
    path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, images: str | Path | None = None,
    classes: list[str] | None = None,
) -> list[Problem]:
    """read_dataset's problems, then one for each listed image that read_frame refuses or whose
    decoded size differs from the declared one (COCO width/height, the YOLO image header, Label
    Studio's original_width/original_height). `images` and `classes` go to read_dataset.
    [] means the data set is clean. Writes nothing."""
    dataset, problems = read_dataset(path, images, classes)
    # an image listed in two splits is checked once
    images = {image.file_name: image for split in dataset.splits.values() for image in split}
    for image in tqdm(images.values(), desc="check", unit="image", disable=None):  # None: no bar unless a tty
        file = dataset.root / image.file_name
        try:
            frame = read_frame(file, max_pixels)
        except FrameError as e:
            problems.append(Problem(str(file), "image", e.reason))
            continue
        if (frame.width, frame.height) != (image.width, image.height):
            problems.append(Problem(
                str(file), "size",
                f"declared {image.width}x{image.height} (width x height) but decodes to {frame.width}x{frame.height}",
            ))
    return problems
