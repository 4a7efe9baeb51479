"""A review queue: the frames of a labelling run that a person should correct first.

A box's uncertainty is 1 - 2|score - 0.5|, clipped to [0, 1], for scores from the run's `conf`
up to UNSURE_HIGH, and 0 outside: a box scoring 0.5 is a coin toss (1), one at 0.9 is nearly
settled (0.2), and above 0.9 the model is sure enough that checking it rarely changes it. A
frame's score is the sum over its boxes, so a frame of several borderline boxes, where one look
fixes the most, comes first; a frame of confident boxes only, or of none, scores 0. Boxes the
model missed leave no score to rank by: the queue finds doubtful boxes, not missed objects.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from debris.formats.run_folder import RunFolder
from debris.formats.writers import read_frame_json, write_labelstudio
from debris.io.files import write_text_atomic
from debris.labels import DatasetError, ImageLabels, Problem

UNSURE_HIGH = 0.9  # boxes scoring above this are taken as right


@dataclass(frozen=True)
class Ranked:
    """One frame of the run with its review score: the sum of its boxes' uncertainties."""

    image: ImageLabels
    score: float
    uncertain: int  # boxes with a non-zero uncertainty


@dataclass(frozen=True)
class Run:
    """What the queue needs from a labelling run's folder."""

    classes: list[str]
    conf: float  # the run's score threshold: the lowest score any box has
    model: str  # Label Studio's model_version
    image_prefix: str
    frames: list[ImageLabels]


def box_uncertainty(scores: np.ndarray, low: float, high: float = UNSURE_HIGH) -> np.ndarray:
    """(N,) scores -> (N,) uncertainties: 1 - 2|score - 0.5| clipped to [0, 1] in [low, high], else 0."""
    scores = np.asarray(scores, dtype=np.float64)
    uncertainty = np.clip(1 - 2 * np.abs(scores - 0.5), 0, 1)
    return np.where((scores >= low) & (scores <= high), uncertainty, 0.0)


def rank_frames(frames: list[ImageLabels], low: float) -> list[Ranked]:
    """Every frame, the most uncertain first; ties in file-name order, so the ranking is reproducible."""
    ranked = []
    for image in frames:
        uncertainty = box_uncertainty(image.labels.scores, low)
        ranked.append(Ranked(image, float(uncertainty.sum()), int((uncertainty > 0).sum())))
    return sorted(ranked, key=lambda r: (-r.score, r.image.file_name))


def read_run(path: str | Path) -> Run:
    """The classes, settings and frame records of a `debris label` output folder; DatasetError if it is not one."""
    run = RunFolder(Path(path))
    if not RunFolder.holds_run(run.root):
        raise DatasetError([Problem(str(run.root), "folder", "not a `debris label` output folder (no run.json and frames/)")])
    try:
        record = json.loads(run.run_json.read_text(encoding="utf-8"))
        settings = record["settings"]
        classes, conf, model = record["classes"], float(settings["conf"]), str(record["model"])
        image_prefix = str(settings.get("image_prefix") or "")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DatasetError([Problem(str(run.run_json), "file", f"not a run.json written by debris label ({e!r})")]) from e
    frames, problems = [], []
    for path in run.records():
        try:
            frames.append(read_frame_json(path))
        except ValueError as e:
            problems.append(Problem(str(path), "file", str(e)))
    if problems:
        raise DatasetError(problems)
    return Run(classes, conf, model, image_prefix, frames)


def write_review(ranked: list[Ranked], run: Run, top: int, out: Path, image_prefix: str) -> Path:
    """The top `top` frames as Label Studio tasks with predictions in `out`, the full ranking in a CSV beside it.

    The CSV (columns file_name, score, boxes, uncertain_boxes; one row per frame, best first) is
    named after `out`: review.labelstudio.json -> review.csv. Both are written atomically.
    Returns the CSV's path.
    """
    write_labelstudio(out, run.classes, [r.image for r in ranked[:top]], run.model, image_prefix)
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    writer.writerow(["file_name", "score", "boxes", "uncertain_boxes"])
    for r in ranked:
        writer.writerow([r.image.file_name, round(r.score, 5), len(r.image.labels), r.uncertain])
    csv_path = out.with_name(out.name.removesuffix(".json").removesuffix(".labelstudio") + ".csv")
    write_text_atomic(csv_path, table.getvalue())
    return csv_path
