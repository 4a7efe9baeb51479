"""The labelled-data types every part of the pipeline shares: a frame's boxes, a data set, a problem found in one.

Boxes are xyxy pixels here (in `Detections`); the COCO and YOLO files meet them only in
`debris.formats`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from debris.detections import Detections
from debris.geo import GeoRef
from debris.errors import UserError

SPLITS = ("train", "val", "test")  # the split names YOLO's data.yaml knows; COCO files use them too
MAX_SHOWN = 5  # problems quoted in a DatasetError message; `debris check` lists them all


@dataclass
class ImageLabels:
    """One image and its boxes: labels.xyxy (N, 4) pixels inside the image.

    labels.scores are 1 for ground truth and the model's confidence for predictions.
    """

    file_name: str  # posix path relative to Dataset.root
    width: int
    height: int
    labels: Detections
    geo: GeoRef | None = None  # where the pixels lie on Mars, for a map-projected product


@dataclass
class Dataset:
    root: Path  # the folder that file_names are relative to
    classes: list[str]  # class id i is classes[i]
    splits: dict[str, list[ImageLabels]]  # split name (one of SPLITS) -> its images
    notes: list[str] = field(default_factory=list)  # what the reader left out on purpose, to tell the user; not problems


@dataclass(frozen=True)
class Problem:
    """One invalid entry: the file it is in, where in that file, and what is wrong."""

    file: str
    where: str  # e.g. "annotations[12] (id 57)", "line 4"; "file" or "image" for the whole file
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.where}: {self.message}"


class DatasetError(UserError):
    """A data set that cannot be used as it is; `.problems` lists every reason."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems[:MAX_SHOWN]]
        if len(self.problems) > MAX_SHOWN:
            lines.append(f"... and {len(self.problems) - MAX_SHOWN} more")
        one = len(self.problems) == 1  # one problem reads best as one line
        super().__init__(lines[0] if one else f"{len(self.problems)} problem(s):\n  " + "\n  ".join(lines))


def read_text(path: Path) -> tuple[str, Problem | None]:
    """The text of a label or index file, or "" and the Problem saying why it cannot be read."""
    try:
        # utf-8-sig: files saved by Windows editors may start with a byte-order mark
        return path.read_text(encoding="utf-8-sig"), None
    except OSError as e:
        return "", Problem(str(path), "file", f"cannot read ({e.strerror or e})")
    except UnicodeDecodeError as e:
        return "", Problem(str(path), "file", f"not UTF-8 text (bad byte at offset {e.start})")


def read_json(path: Path) -> tuple[object, Problem | None]:
    """The parsed JSON of a file, or None and the Problem saying why it cannot be read (naming the line)."""
    text, problem = read_text(path)
    if problem:
        return None, problem
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return None, Problem(str(path), f"line {e.lineno} column {e.colno}", f"invalid JSON: {e.msg}")
