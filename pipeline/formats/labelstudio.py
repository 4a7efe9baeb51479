"""Label Studio JSON and JSON_MIN exports -> `Dataset`: what reviewers annotated, as ground truth.

A JSON export is a list of tasks: {"id", "data": {"image": URL}, "annotations": [...]}. Each
annotation has a `result`, a list of regions {"type": "rectanglelabels", "original_width",
"original_height", "value": {"x", "y", "width", "height", "rotation", "rectanglelabels": [name]}}
with x, y, width, height in percent of the image size; it also carries a copy of the `prediction`
it started from, which is not what the reviewer made and is never read. A JSON_MIN export is one
flat entry per annotation: the task's data keys, "id" (the task's), "annotation_id", "updated_at",
and the regions under the labelling config's control name (e.g. "label"), each a `value` with
original_width/original_height beside it.

The rules, as Label Studio means them:
  - an annotation with was_cancelled=true (a skipped task) is ignored, though it keeps a result;
  - of several annotations of a task, the most recent non-cancelled one is taken (latest
    updated_at, then highest id);
  - a task with no such annotation was not annotated: it is left out (not an empty frame), and
    Dataset.notes says how many were;
  - an annotation with an empty result is an annotated frame with no objects;
  - a rotated region (rotation != 0) has no axis-aligned box and is refused as a Problem.
Every region's box is ground truth (score 1). Images are found under an images folder by the
path inside the task's URL (debris.formats.image_paths); an annotated empty frame takes its size
from the image header, every other from its regions' original_width/original_height.
"""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import numpy as np

from debris.boxes import percent_to_xyxy
from debris.detections import Detections
from debris.formats.image_paths import ImageFinder, labelstudio_path
from debris.io.reader import FrameError, read_header
from debris.labels import SPLITS, Dataset, ImageLabels, Problem, read_json

BOX_TOLERANCE = 1e-3  # pixels a box may stick out of its image (float rounding), as in debris.formats.coco
Region = tuple[str, dict]  # (where in the file, {"type", "value": {...}, "original_width", "original_height"})
JSON_MIN_META = ("id", "annotator", "annotation_id", "created_at", "updated_at", "lead_time", "drafts")


def is_labelstudio(path: Path) -> bool:
    """Whether a .json file's top level is a list (Label Studio tasks), not an object (COCO)."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            head = f.read(4096).lstrip()
    except (OSError, UnicodeDecodeError):
        return False  # the COCO reader reports why the file cannot be read
    return head.startswith("[")


def read_labelstudio(
    path: Path, images: Path | None = None, classes: list[str] | None = None
) -> tuple[Dataset, list[Problem]]:
    """The annotated tasks of a JSON or JSON_MIN export as one split; invalid tasks are skipped and reported.

    images: the folder the images are found under (default: the export's folder).
    classes: the class list to use when it holds every label used (our config's), so class ids
             match the model's; otherwise the labels used, sorted.
    The split is the file's name if that is train/val/test, else train.
    """
    file = str(path)
    root = images if images is not None else path.parent
    dataset = Dataset(root, [], {})
    data, problem = read_json(path)
    if problem:
        return dataset, [problem]
    if not isinstance(data, list):
        return dataset, [Problem(file, "top level", f"not a list of tasks but {type(data).__name__}")]

    problems: list[Problem] = []
    tasks, left_out = _annotated_tasks(data, file, problems)
    finder = ImageFinder(root)
    frames: list[tuple[str, int, int, list[list[float]], list[str]]] = []  # file_name, w, h, percent boxes, labels
    first_name: dict[str, str] = {}
    for where, image, regions in tasks:
        found = _frame(where, image, regions, finder, file, problems)
        if found is None:
            continue
        if found[0] in first_name:
            problems.append(Problem(file, where, f"image {found[0]!r} is annotated twice (first in {first_name[found[0]]})"))
            continue
        first_name[found[0]] = where
        frames.append(found)

    used = {label for *_, labels in frames for label in labels}
    dataset.classes = list(classes) if classes is not None and used <= set(classes) else sorted(used)
    class_of = {name: i for i, name in enumerate(dataset.classes)}
    split = path.stem if path.stem in SPLITS else "train"
    dataset.splits[split] = [
        ImageLabels(file_name, width, height, Detections.from_labels(
            np.clip(percent_to_xyxy(np.array(boxes).reshape(-1, 4), width, height), 0, [width, height, width, height]),
            np.array([class_of[label] for label in labels], dtype=np.int64),
        ))
        for file_name, width, height, boxes, labels in frames
    ]
    if left_out:
        shown = ", ".join(left_out[:5]) + (", ..." if len(left_out) > 5 else "")
        dataset.notes.append(f"{file}: left out {len(left_out)} task(s) without a non-cancelled annotation "
                             f"(not annotated, so not empty frames either): {shown}")
    return dataset, problems


def _annotated_tasks(data: list, file: str, problems: list[Problem]) -> tuple[list[tuple[str, str, list[Region]]], list[str]]:
    """(where, image URL, regions) of every valid annotated task, and where each task left out is."""
    tasks, left_out = [], []
    latest_min: dict[object, tuple[tuple, int]] = {}  # JSON_MIN: task id -> (recency, index) of its latest entry
    for i, entry in enumerate(data):
        where = f"tasks[{i}]" + (f" (id {entry['id']})" if isinstance(entry, dict) and "id" in entry else "")
        if not isinstance(entry, dict):
            problems.append(Problem(file, where, "not an object"))
        elif "annotations" in entry or "data" in entry:  # JSON: a task with all its annotations
            annotations = entry.get("annotations", [])
            if not isinstance(annotations, list) or not all(isinstance(a, dict) for a in annotations):
                problems.append(Problem(file, where, '"annotations" must be a list of objects'))
            elif not any(not a.get("was_cancelled", False) for a in annotations):
                left_out.append(where)
            else:
                tasks.append(_json_task(where, entry, file, problems))
        else:  # JSON_MIN: one entry per annotation
            task_id = entry.get("id") if isinstance(entry.get("id"), (int, str)) else f"entry {i}"  # no id: a task of its own
            key = _recency(entry.get("updated_at"), entry.get("annotation_id"))
            if task_id not in latest_min or key > latest_min[task_id][0]:
                latest_min[task_id] = (key, i)
    for _, i in sorted(latest_min.values(), key=lambda item: item[1]):
        tasks.append(_json_min_task(f"tasks[{i}] (id {data[i].get('id')})", data[i], file, problems))
    return [task for task in tasks if task is not None], left_out


def _json_task(where: str, task: dict, file: str, problems: list[Problem]) -> tuple[str, str, list[Region]] | None:
    """(where, image, regions) of a JSON export's task from its latest non-cancelled annotation; None if invalid."""
    done = [a for a in task["annotations"] if not a.get("was_cancelled", False)]
    annotation = max(done, key=lambda a: _recency(a.get("updated_at") or a.get("created_at"), a.get("id")))
    where = f"{where} annotation {annotation.get('id')}"
    image, result = _image(task.get("data")), annotation.get("result")
    if image is None:
        problems.append(Problem(file, where, f'"data" names no image: expected {{"image": URL}}, got {task.get("data")!r}'))
        return None
    if not isinstance(result, list) or not all(isinstance(r, dict) for r in result):
        problems.append(Problem(file, where, f'"result" must be a list of regions, got {result!r}'))
        return None
    return where, image, [(_where_region(where, j, r), r) for j, r in enumerate(result)]


def _json_min_task(where: str, entry: dict, file: str, problems: list[Problem]) -> tuple[str, str, list[Region]] | None:
    """(where, image, regions) of a JSON_MIN entry; None if it is invalid."""
    image = entry.get("image")
    if not isinstance(image, str):
        strings = [v for k, v in entry.items() if k not in JSON_MIN_META and isinstance(v, str)]
        image = strings[0] if len(strings) == 1 else None
    if image is None:
        problems.append(Problem(file, where, 'names no image: expected an "image" key'))
        return None
    regions = []
    for key, value in entry.items():
        if key in JSON_MIN_META or not isinstance(value, list):
            continue
        for j, region in enumerate(value):
            if not isinstance(region, dict):
                problems.append(Problem(file, f"{where} {key}[{j}]", "not an object"))
                return None
            # JSON_MIN flattens {"value": {...}, "original_width": ...} into one object per region;
            # its type is the key naming its labels (rectanglelabels, polygonlabels, ...)
            kind = next((k for k in region if k.endswith("labels")), "unknown")
            regions.append((f"{where} {key}[{j}]", {"type": kind, "value": region, **{
                k: region.get(k) for k in ("original_width", "original_height")}}))
    return where, image, regions


def _frame(
    where: str, image: str, regions: list[Region], finder: ImageFinder, file: str, problems: list[Problem]
) -> tuple[str, int, int, list[list[float]], list[str]] | None:
    """(file_name, width, height, percent boxes, labels) of one annotated task, or None if it is invalid."""
    errors: list[Problem] = []
    file_name, why = finder.find(labelstudio_path(image))
    if why:
        errors.append(Problem(file, where, f"image {image!r}: {why}"))
    boxes, labels, sizes = [], [], set()
    for region_where, region in regions:
        value = region.get("value") if isinstance(region.get("value"), dict) else {}
        error = _region_error(region, value)
        if error:
            errors.append(Problem(file, region_where, error))
            continue
        sizes.add((int(region["original_width"]), int(region["original_height"])))
        boxes.append([value[k] for k in ("x", "y", "width", "height")])
        labels.append(value["rectanglelabels"][0])
    if len(sizes) > 1:
        errors.append(Problem(file, where, f"regions give different image sizes {sorted(sizes)} (original_width x original_height)"))
    if errors:
        problems += errors
        return None
    if sizes:
        width, height = sizes.pop()
    else:  # an annotated frame with no objects: only the image knows its size
        try:
            width, height, _ = read_header(finder.root / file_name)
        except FrameError as e:
            problems.append(Problem(str(finder.root / file_name), "image", f"cannot read the image size ({e.reason})"))
            return None
    for (region_where, _), box in zip(regions, boxes):
        if _outside(box, width, height):
            problems.append(Problem(file, region_where, f"box {box} (percent) lies outside the {width}x{height} image "
                                                        f"(tolerance {BOX_TOLERANCE} px)"))
            return None
    return file_name, width, height, boxes, labels


def _region_error(region: dict, value: dict) -> str:
    """What makes a region unusable as an axis-aligned box, or ""."""
    if region.get("type") != "rectanglelabels":
        return f"region type {region.get('type')!r} is not supported (only rectanglelabels boxes)"
    box = [value.get(k) for k in ("x", "y", "width", "height")]
    if not all(map(_is_number, box)):
        return f"x, y, width, height must be finite numbers (percent), got {box}"
    if box[2] <= 0 or box[3] <= 0:
        return f"zero or negative size (width {box[2]}, height {box[3]} percent)"
    if value.get("rotation", 0) != 0:
        return f"rotated by {value['rotation']} degrees: a rotated box has no axis-aligned box (refused)"
    names = value.get("rectanglelabels")
    if not (isinstance(names, list) and len(names) == 1 and isinstance(names[0], str) and names[0]):
        return f"rectanglelabels must hold exactly one class name, got {names!r}"
    size = (region.get("original_width"), region.get("original_height"))
    if not all(_is_number(v) and v == int(v) and v > 0 for v in size):
        return f"original_width and original_height must be positive integers, got {size}"
    return ""


def _image(data: object) -> str | None:
    """The image URL of a task's data: its "image", else its only string."""
    if not isinstance(data, dict):
        return None
    if isinstance(data.get("image"), str):
        return data["image"]
    strings = [v for v in data.values() if isinstance(v, str)]
    return strings[0] if len(strings) == 1 else None


def _recency(timestamp: object, annotation_id: object) -> tuple:
    """Sort key of an annotation: its time (ISO 8601, as Label Studio writes it), then its id."""
    try:
        when = datetime.fromisoformat(str(timestamp).replace("Z", "+00:00")).timestamp()
    except ValueError:
        when = -math.inf
    return when, annotation_id if isinstance(annotation_id, int) else -1


def _where_region(where: str, index: int, region: dict) -> str:
    return f"{where} result[{index}]" + (f" (id {region['id']})" if "id" in region else "")


def _outside(box: list[float], width: int, height: int) -> bool:
    x1, y1, x2, y2 = percent_to_xyxy(np.array(box), width, height)[0]
    return min(x1, y1) < -BOX_TOLERANCE or x2 > width + BOX_TOLERANCE or y2 > height + BOX_TOLERANCE


def _is_number(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)) and math.isfinite(value)
