"""COCO detection JSON <-> classes and `ImageLabels`.

Category ids in a file are arbitrary (often 1-based, sometimes with gaps): they become class
ids in ascending category-id order, and are written back as class id + 1. Boxes are
[x, y, w, h] pixels in the file and xyxy everywhere else. An annotation may carry a "score"
in [0, 1] (predictions, as pycocotools' loadRes reads them); without one it is ground truth,
score 1. file_names are relative to the JSON's folder; absolute ones and ones that climb out
of it with `..` are refused, so a label file cannot point the checker or the converter at
arbitrary files on the disk. Given an images folder instead (`--images`), each file_name is
looked for under it, by the path, else by its tails down to the base name
(debris.formats.image_paths): Label Studio's COCO export writes file_names such as
`../ls/data/samples/a.png`, which only mean something on its server's disk; such a path is
never opened, only its tails under the images folder are.
"""

from __future__ import annotations

import json
import math
import posixpath
from collections.abc import Callable
from pathlib import Path, PureWindowsPath

import numpy as np

from debris import __version__
from debris.boxes import xywh_to_xyxy, xyxy_to_xywh
from debris.formats.image_paths import ImageFinder
from debris.labels import ImageLabels, Problem, read_json
from debris.detections import Detections
from debris.io.files import write_text_atomic

# Pixels a box may stick out of its image: float rounding by whatever wrote the file, no more.
# Boxes within it are clipped to the image, so every box in memory lies inside its image.
BOX_TOLERANCE = 1e-3
Report = Callable[[str, str], None]  # report(where, message)


def read_coco(path: Path, images: Path | None = None) -> tuple[list[str], list[ImageLabels], list[Problem]]:
    """Classes, images and problems of one COCO file; invalid entries are skipped and reported.

    images: a folder to find every file_name under (file_names become relative to it), or None
    for file_names relative to the JSON's folder. An annotation whose image or category entry is
    itself invalid is dropped without a problem of its own: the entry's problem already says
    why. Never opens an image.
    """
    problems: list[Problem] = []

    def report(where: str, message: str) -> None:
        problems.append(Problem(str(path), where, message))

    data, problem = read_json(path)
    if problem:
        return [], [], [problem]
    if not isinstance(data, dict):
        return [], [], [Problem(str(path), "top level", f"not a JSON object but {type(data).__name__}")]
    for key in ("images", "annotations", "categories"):
        if not isinstance(data.get(key), list):
            report("top level", f'"{key}" is missing or not a list')
    if problems:
        return [], [], problems

    categories, bad_categories = _read_categories(data["categories"], report)
    finder = ImageFinder(images) if images is not None else None
    entries, bad_images = _read_images(data["images"], report, finder)
    boxes = _read_annotations(data["annotations"], entries, categories, bad_images, bad_categories, report)

    class_of = {category_id: i for i, category_id in enumerate(sorted(categories))}
    out = []
    for image_id, (file_name, width, height) in entries.items():
        xywh = np.array([box for box, _, _ in boxes[image_id]], dtype=np.float64).reshape(-1, 4)
        # boxes overhang by at most BOX_TOLERANCE here; clipping keeps every later stage inside the image
        xyxy = np.clip(xywh_to_xyxy(xywh), 0, [width, height, width, height])
        scores = [score for _, _, score in boxes[image_id]]
        class_ids = [class_of[category_id] for _, category_id, _ in boxes[image_id]]
        out.append(ImageLabels(file_name, width, height, Detections(xyxy, scores, class_ids)))
    return [categories[i] for i in sorted(categories)], out, problems


def write_coco(path: Path, classes: list[str], images: list[ImageLabels], scores: bool = False) -> None:
    """Write one split as a COCO detection file: ids count from 1, category id = class id + 1.

    scores: give every annotation a "score" (5 decimals), for predictions; CVAT's COCO 1.0
    import and pycocotools' loadRes both accept the extra key.
    """
    annotations = []
    for image_id, image in enumerate(images, 1):
        labels = image.labels
        rows = zip(xyxy_to_xywh(labels.xyxy).tolist(), labels.class_ids.tolist(), labels.scores.tolist())
        for xywh, class_id, score in rows:
            x, y, w, h = (round(v, 4) for v in xywh)  # 1e-4 px is far below any labelling precision
            annotations.append({
                "id": len(annotations) + 1, "image_id": image_id, "category_id": class_id + 1,
                "bbox": [x, y, w, h], "area": round(w * h, 4), "iscrowd": 0,
            })
            if scores:
                annotations[-1]["score"] = round(score, 5)
    data = {
        "info": {"description": f"written by debris {__version__}"},
        "images": [
            {"id": i, "file_name": image.file_name, "width": image.width, "height": image.height}
            for i, image in enumerate(images, 1)
        ],
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": name, "supercategory": "hardware"} for i, name in enumerate(classes)],
    }
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n")


def _read_categories(entries: list, report: Report) -> tuple[dict[int, str], set[int]]:
    """Valid categories {id: name}, and the ids of invalid category entries."""
    names: dict[int, str] = {}
    first_id: dict[int, int] = {}
    first_name: dict[str, int] = {}
    bad: set[int] = set()
    for i, entry in enumerate(entries):
        where = _where("categories", i, entry)
        if not isinstance(entry, dict):
            report(where, "not an object")
            continue
        category_id, name = entry.get("id"), entry.get("name")
        if not _is_int(category_id):
            report(where, f"id must be an integer, got {category_id!r}")
            continue
        if category_id in first_id:
            report(where, f"duplicate category id {category_id} (first at categories[{first_id[category_id]}])")
            continue
        first_id[category_id] = i
        if not isinstance(name, str) or not name:
            report(where, f"name must be a non-empty string, got {name!r}")
            bad.add(category_id)
        elif name in first_name:
            report(where, f"duplicate category name {name!r} (first at categories[{first_name[name]}])")
            bad.add(category_id)
        else:
            names[category_id] = name
            first_name[name] = i
    return names, bad


def _read_images(
    entries: list, report: Report, finder: ImageFinder | None
) -> tuple[dict[int, tuple[str, int, int]], set[int]]:
    """Valid images {id: (file_name, width, height)}, and the ids of invalid image entries.

    finder: file_names are looked for under its folder, by their tails (a `..` path is never
    opened); None: they are relative to the JSON's folder and must stay inside it.
    """
    images: dict[int, tuple[str, int, int]] = {}
    first_id: dict[int, int] = {}
    first_name: dict[str, int] = {}
    bad: set[int] = set()
    for i, entry in enumerate(entries):
        where = _where("images", i, entry)
        if not isinstance(entry, dict):
            report(where, "not an object")
            continue
        image_id = entry.get("id")
        if not _is_int(image_id):
            report(where, f"id must be an integer, got {image_id!r}")
            continue
        if image_id in first_id:
            # the first entry keeps the id, so annotations with it still go to one image
            report(where, f"duplicate image id {image_id} (first at images[{first_id[image_id]}])")
            continue
        first_id[image_id] = i
        file_name, errors = _file_name(entry.get("file_name")) if finder is None else _found(entry.get("file_name"), finder)
        if file_name in first_name:
            errors.append(f"duplicate file_name {file_name!r} (first at images[{first_name[file_name]}])")
        for key in ("width", "height"):
            if not (_is_int(entry.get(key)) and entry[key] > 0):
                errors.append(f"{key} must be a positive integer, got {entry.get(key)!r}")
        for message in errors:
            report(where, message)
        if errors:
            bad.add(image_id)
        else:
            images[image_id] = (file_name, entry["width"], entry["height"])
            first_name[file_name] = i
    return images, bad


def _read_annotations(
    entries: list,
    images: dict[int, tuple[str, int, int]],
    categories: dict[int, str],
    bad_images: set[int],
    bad_categories: set[int],
    report: Report,
) -> dict[int, list[tuple[list[float], int, float]]]:
    """Valid boxes per image id: [([x, y, w, h], category id, score), ...], in file order."""
    boxes: dict[int, list[tuple[list[float], int, float]]] = {image_id: [] for image_id in images}
    first_id: dict[int, int] = {}
    for i, entry in enumerate(entries):
        where = _where("annotations", i, entry)
        if not isinstance(entry, dict):
            report(where, "not an object")
            continue
        image_id, category_id, box = entry.get("image_id"), entry.get("category_id"), entry.get("bbox")
        if (_is_int(image_id) and image_id in bad_images) or (_is_int(category_id) and category_id in bad_categories):
            continue  # its image or category entry is invalid, and reported
        errors = []
        annotation_id = entry.get("id")
        if not _is_int(annotation_id):
            errors.append(f"id must be an integer, got {annotation_id!r}")
        elif annotation_id in first_id:
            errors.append(f"duplicate annotation id {annotation_id} (first at annotations[{first_id[annotation_id]}])")
        else:
            first_id[annotation_id] = i
        if entry.get("iscrowd", 0) != 0:
            # a crowd region is not one object: counting it as a box would skew the evaluation
            errors.append(f"iscrowd={entry['iscrowd']!r} annotations are not supported")
        if not (_is_int(image_id) and image_id in images):
            errors.append(f"unknown image_id {image_id!r}")
        if not (_is_int(category_id) and category_id in categories):
            errors.append(f"unknown category_id {category_id!r}")
        if not (isinstance(box, list) and len(box) == 4 and all(map(_is_number, box))):
            errors.append(f"bbox must be 4 finite numbers [x, y, w, h], got {box!r}")
        elif box[2] <= 0 or box[3] <= 0:
            errors.append(f"bbox {box} has zero or negative size (w {box[2]}, h {box[3]})")
        elif _is_int(image_id) and image_id in images and _outside(box, *images[image_id][1:]):  # a dict id is unhashable
            width, height = images[image_id][1:]
            errors.append(f"bbox {box} lies outside the {width}x{height} image (tolerance {BOX_TOLERANCE} px)")
        score = entry.get("score", 1.0)
        if not (_is_number(score) and 0 <= score <= 1):
            errors.append(f"score must be a number in [0, 1], got {score!r}")
        for message in errors:
            report(where, message)
        if not errors:
            boxes[image_id].append((box, category_id, float(score)))
    return boxes


def _file_name(value: object) -> tuple[str, list[str]]:
    """The file_name as a normalised relative posix path, or "" and why it is refused."""
    if not isinstance(value, str) or not value.strip():
        return "", [f"file_name must be a non-empty string, got {value!r}"]
    name = value.replace("\\", "/")  # written on Windows
    if "\0" in name:
        return "", [f"file_name {value!r} contains a NUL character"]
    if name.startswith("/") or PureWindowsPath(value).drive:
        return "", [f"file_name {value!r} is an absolute path (refused: file_names are relative to the JSON's folder)"]
    name = posixpath.normpath(name)
    if name == ".." or name.startswith("../"):
        # Label Studio's COCO export writes such paths: its images are found by name with --images
        return "", [f"file_name {value!r} escapes the data set folder (refused; --images DIR finds it under DIR by name)"]
    return name, []


def _found(value: object, finder: ImageFinder) -> tuple[str, list[str]]:
    """The file_name's image under the finder's folder, as a relative posix path, or "" and why not."""
    if not isinstance(value, str) or not value.strip() or "\0" in value:
        return "", [f"file_name must be a non-empty string without NUL characters, got {value!r}"]
    file_name, why = finder.find(value)
    return file_name, [f"file_name {value!r}: {why}"] if why else []


def _outside(box: list[float], width: int, height: int) -> bool:
    x, y, w, h = box
    return x < -BOX_TOLERANCE or y < -BOX_TOLERANCE or x + w > width + BOX_TOLERANCE or y + h > height + BOX_TOLERANCE


def _where(key: str, index: int, entry: object) -> str:
    """'annotations[12] (id 57)': the index finds the entry in the file, the id in other tools."""
    if isinstance(entry, dict) and _is_int(entry.get("id")):
        return f"{key}[{index}] (id {entry['id']})"
    return f"{key}[{index}]"


def _is_int(value: object) -> bool:
    # JSON true/false are ints to Python; ints beyond 64 bits are no id or size any tool writes
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _is_number(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))


def is_results_list(path: Path) -> bool:
    """Whether a .json file is a COCO results list: a JSON list whose entries have "image_id" and "bbox"."""
    data, _ = read_json(path)
    return isinstance(data, list) and bool(data) and isinstance(data[0], dict) and {"image_id", "bbox"} <= data[0].keys()


# A results box may lie partly outside its frame, but not a billion pixels away: beyond that it is
# garbage, and x + w or a score would overflow the float32 that Detections holds.
MAX_RESULT_PX = 1e9
MAX_RESULT_SCORE = 1e30


def read_results(path: Path, gt_path: Path) -> tuple[list[str], list[ImageLabels], list[Problem]]:
    """A COCO results list as predictions: classes, one ImageLabels per ground-truth image, problems.

    The list is what pycocotools' loadRes reads and detectron2, MMDetection, Ultralytics
    (save_json) and SAHI write: [{"image_id", "category_id", "bbox": [x, y, w, h], "score"}, ...].
    Its ids mean nothing alone: image and category ids resolve through the ground-truth COCO file
    `gt_path`, whose categories give the class names (in category id order, as read_coco does).
    An image with no result is predicted empty. Invalid entries are skipped and reported.
    """
    problems: list[Problem] = []
    gt, problem = read_json(gt_path)
    if not isinstance(gt, dict) or not all(isinstance(gt.get(k), list) for k in ("images", "categories")):
        return [], [], [problem or Problem(str(gt_path), "top level", "a COCO results list needs a COCO ground-truth "
                                                    "file (with images and categories) to resolve its ids")]
    categories, _ = _read_categories(gt["categories"], lambda where, message: None)  # load_dataset reported these
    entries, _ = _read_images(gt["images"], lambda where, message: None, None)
    results, problem = read_json(path)
    if problem:
        return [], [], [problem]
    if not isinstance(results, list):
        return [], [], [Problem(str(path), "top level", f"not a COCO results list but {type(results).__name__}")]

    def report(where: str, message: str) -> None:
        problems.append(Problem(str(path), where, message))

    found: dict[int, list[tuple[list[float], int, float]]] = {image_id: [] for image_id in entries}
    for i, entry in enumerate(results):
        where = f"results[{i}]"
        if not isinstance(entry, dict):
            report(where, f"not a JSON object but {type(entry).__name__}")
            continue
        image_id, category_id, bbox, score = (entry.get(k) for k in ("image_id", "category_id", "bbox", "score"))
        if not _is_int(image_id) or image_id not in entries:
            report(where, f"image_id {image_id!r} is not an image of {gt_path}")
        elif not _is_int(category_id) or category_id not in categories:
            report(where, f"category_id {category_id!r} is not a category of {gt_path}")
        elif not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_is_number, bbox)) and min(bbox[2:]) >= 0
                  and max(map(abs, bbox)) <= MAX_RESULT_PX):
            report(where, f"bbox {bbox!r} is not [x, y, width, height] with width, height >= 0, "
                          f"every value within ±{MAX_RESULT_PX:g} px")
        elif not (_is_number(score) and abs(score) <= MAX_RESULT_SCORE):
            report(where, f"score {score!r} is not a number within ±{MAX_RESULT_SCORE:g}")
        else:
            found[image_id].append((bbox, category_id, float(score)))
    class_of = {category_id: i for i, category_id in enumerate(sorted(categories))}
    out = []
    for image_id, (file_name, width, height) in entries.items():
        xywh = np.array([box for box, _, _ in found[image_id]], dtype=np.float64).reshape(-1, 4)
        class_ids = [class_of[c] for _, c, _ in found[image_id]]
        scores = [s for _, _, s in found[image_id]]
        out.append(ImageLabels(file_name, width, height, Detections(xywh_to_xyxy(xywh), scores, class_ids)))
    return [categories[i] for i in sorted(categories)], out, problems
