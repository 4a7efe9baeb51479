"""Ultralytics YOLO data sets (data.yaml, images/ and labels/ folders) <-> `Dataset`.

data.yaml gives `path` (the root; relative to the yaml's folder, the yaml's folder if absent),
`train` / `val` / `test` (folders of images under the root, or lists of them) and `names`
(a list, or {id: name}). The labels of root/.../images/.../x.jpg are in
root/.../labels/.../x.txt (the last `images` folder becomes `labels`), one box a line:
`class cx cy w h`, normalised by the image size, optionally followed by the confidence in
[0, 1] (Ultralytics' save_conf; without it the box is ground truth, score 1). No label file
means no objects. The image size comes from the image header, so each image is opened but
never decoded.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePosixPath

import numpy as np
import yaml

from debris.boxes import xyxy_to_yolo, yolo_to_xyxy
from debris.labels import SPLITS, Dataset, ImageLabels, Problem, read_text
from debris.detections import Detections
from debris.io.files import write_text_atomic
from debris.io.reader import IMAGE_SUFFIXES, FrameError, read_header

# Normalised amount a box may stick out of its image: float rounding by whatever wrote the
# file, no more. Boxes within it are clipped, so every box in memory lies inside its image.
COORD_TOLERANCE = 1e-6


def read_yolo(yaml_path: Path) -> tuple[Dataset, list[Problem]]:
    """The data set a data.yaml describes; invalid lines, images and folders are skipped and reported."""
    file = str(yaml_path)
    empty = Dataset(yaml_path.parent, [], {})
    text, problem = read_text(yaml_path)
    if problem:
        return empty, [problem]
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        return empty, [Problem(file, where, f"invalid YAML: {getattr(e, 'problem', None) or e}")]
    if not isinstance(config, dict):
        return empty, [Problem(file, "top level", f"not a mapping of keys but {type(config).__name__}")]
    root = config.get("path") or ""
    if not isinstance(root, str):
        return empty, [Problem(file, "path", f"must be a folder, got {root!r}")]
    names, error = _names(config.get("names"))
    if error:
        return empty, [Problem(file, "names", error)]

    dataset, problems = Dataset(yaml_path.parent / root, names, {}), []
    nc = config.get("nc")
    if nc is not None and nc != len(names):
        problems.append(Problem(file, "nc", f"is {nc!r} but names lists {len(names)} classes"))
    for split in SPLITS:
        folders = config.get(split)
        if folders is None:
            continue
        dataset.splits[split] = []
        listed = isinstance(folders, list)
        for j, folder in enumerate(folders if listed else [folders]):
            where = f"{split}[{j}]" if listed else split
            images, found = _read_folder(dataset.root, folder, len(names), file, where)
            dataset.splits[split] += images
            problems += found
    if not dataset.splits:
        problems.append(Problem(file, "top level", f"no image folders: none of {', '.join(SPLITS)} is given"))
    return dataset, problems


def write_yolo(root: Path, classes: list[str], splits: dict[str, list[ImageLabels]]) -> Path:
    """Write a label file for every image (empty when it has no boxes), then root/data.yaml.

    The images must already be at root/images/{split}/ (save_dataset puts them there).
    Returns the data.yaml path.
    """
    for images in splits.values():
        for image in images:
            write_text_atomic(root / label_path(image.file_name), yolo_lines(image))
    # No `path` key: Ultralytics resolves a relative `path` against its own datasets folder, not
    # the yaml's, while with none it uses the yaml's folder, as read_yolo does.
    config = {**{split: f"images/{split}" for split in splits}, "nc": len(classes), "names": list(classes)}
    yaml_path = root / "data.yaml"
    # allow_unicode=False: escaped, every name reads back as written (PyYAML folds a raw U+0085 to a space)
    write_text_atomic(yaml_path, yaml.safe_dump(config, sort_keys=False, allow_unicode=False))
    return yaml_path


def yolo_lines(image: ImageLabels, scores: bool = False) -> str:
    """The label file of one image: a line `class cx cy w h` per box ("" for none).

    scores: append each box's confidence (5 decimals), as Ultralytics' save_conf does.
    """
    labels = image.labels
    cxcywh = xyxy_to_yolo(labels.xyxy, image.width, image.height)
    lines = []
    for class_id, (cx, cy, w, h), score in zip(labels.class_ids.tolist(), cxcywh.tolist(), labels.scores.tolist()):
        # 8 decimals: 5e-9 of a 100k px side is 5e-4 px, so a round trip keeps boxes within 1e-3 px
        line = f"{class_id} {cx:.8f} {cy:.8f} {w:.8f} {h:.8f}"
        lines.append(f"{line} {score:.5f}\n" if scores else f"{line}\n")
    return "".join(lines)


def label_path(file_name: str) -> str:
    """images/train/a/x.jpg -> labels/train/a/x.txt: the last `images` folder becomes `labels`."""
    return PurePosixPath(_swap_images_folder(file_name)).with_suffix(".txt").as_posix()


def _read_folder(
    root: Path, folder: object, nc: int, yaml_file: str, where: str
) -> tuple[list[ImageLabels], list[Problem]]:
    """The images under one split folder, with their labels; `where` names the folder's entry in data.yaml."""

    def refuse(message: str) -> tuple[list[ImageLabels], list[Problem]]:
        return [], [Problem(yaml_file, where, message)]

    if not isinstance(folder, str) or not folder:
        return refuse(f"expected a folder of images, got {folder!r}")
    if folder.lower().endswith(".txt"):
        return refuse(f"{folder}: lists of image files are not supported; give a folder of images")
    relative = Path(os.path.relpath(root / folder, root)).as_posix()
    if relative == ".." or relative.startswith("../"):
        return refuse(f"folder {folder} is outside the data set root {root}")
    if not (root / relative).is_dir():
        return refuse(f"folder {folder} does not exist (looked for {root / relative})")
    if "images" not in PurePosixPath(relative).parts:
        return refuse(f"folder {folder} is not inside an 'images' folder, so its labels folder cannot be found")

    images, problems = [], []
    owner: dict[str, str] = {}  # label file -> the image it belongs to
    for path in sorted(p for p in (root / relative).rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()):
        file_name = path.relative_to(root).as_posix()
        label = label_path(file_name)
        if label in owner:
            problems.append(Problem(str(path), "image", f"shares its label file {label} with {owner[label]}"))
            continue
        owner[label] = file_name
        try:
            width, height, _ = read_header(path)
        except FrameError as e:
            problems.append(Problem(str(path), "image", f"cannot read the image size ({e.reason})"))
            continue
        labels, found = read_labels(root / label, width, height, nc)
        images.append(ImageLabels(file_name, width, height, labels))
        problems += found
    for txt in sorted((root / _swap_images_folder(relative)).rglob("*.txt")):
        if txt.relative_to(root).as_posix() not in owner:
            problems.append(Problem(str(txt), "file", f"orphan label file: no image under {folder} has its name"))
    return images, problems


def read_labels(path: Path, width: int, height: int, nc: int) -> tuple[Detections, list[Problem]]:
    """The boxes of one label file (none if there is no file) and the problems of its lines."""
    if not path.is_file():
        return Detections.empty(), []
    text, problem = read_text(path)
    if problem:
        return Detections.empty(), [problem]
    rows, scores, class_ids, problems = [], [], [], []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue  # blank lines are harmless
        error = _line_error(fields, nc)
        if error:
            problems.append(Problem(str(path), f"line {n}", error))
            continue
        class_ids.append(int(float(fields[0])))
        rows.append([float(v) for v in fields[1:5]])
        scores.append(float(fields[5]) if len(fields) == 6 else 1.0)
    xyxy = yolo_to_xyxy(np.array(rows, dtype=np.float64).reshape(-1, 4), width, height)
    # boxes overhang by at most COORD_TOLERANCE here; clipping keeps every later stage inside the image
    xyxy = np.clip(xyxy, 0, [width, height, width, height])
    return Detections(xyxy, scores, class_ids), problems


def _line_error(fields: list[str], nc: int) -> str:
    """What is wrong with one label line `class cx cy w h` or `class cx cy w h conf`, or ""."""
    if len(fields) not in (5, 6):
        hint = "; segmentation polygons are not supported" if len(fields) > 6 else ""
        return f"expected 5 fields 'class cx cy w h', found {len(fields)}{hint}"
    try:
        values = [float(v) for v in fields]
    except ValueError:
        values = [math.nan]
    if not all(map(math.isfinite, values)):
        return f"fields must be finite numbers, got {' '.join(fields)!r}"
    class_id, cx, cy, w, h = values[:5]
    if len(values) == 6 and not 0 <= values[5] <= 1:
        return f"confidence {fields[5]!r} (the 6th field) must lie in [0, 1]"
    if class_id != int(class_id):
        return f"class id {fields[0]!r} is not an integer"
    if not 0 <= class_id < nc:
        return f"class id {int(class_id)} is not in names, which has {nc} classes (0..{nc - 1})"
    if w <= 0 or h <= 0:
        return f"zero-area box (w {fields[3]}, h {fields[4]})"
    x1, y1, x2, y2 = yolo_to_xyxy(np.array([cx, cy, w, h]), 1, 1)[0]
    if min(x1, y1) < -COORD_TOLERANCE or max(x2, y2) > 1 + COORD_TOLERANCE:
        return f"box outside the image: corners x1 y1 x2 y2 = {x1:.6g} {y1:.6g} {x2:.6g} {y2:.6g} must lie in [0, 1]"
    return ""


def _names(value: object) -> tuple[list[str], str]:
    """Class names from `names` (a list, or {id: name} with ids 0..n-1), or [] and what is wrong."""
    if isinstance(value, dict):
        # YAML reads `0: a` with an int key and `"0": a` with a str key; both mean class 0
        ids = [int(k) if isinstance(k, str) and k.isdigit() else k for k in value]
        if sorted(k for k in ids if type(k) is int) != list(range(len(ids))):
            return [], f"keys must be the class ids 0..{len(ids) - 1}, got {list(value)}"
        value = [name for _, name in sorted(zip(ids, value.values()))]
    if not isinstance(value, list):
        return [], f"must be a list of class names or an {{id: name}} mapping, got {value!r}"
    bad = [name for name in value if not isinstance(name, str) or not name]
    if bad:
        return [], f"class names must be non-empty strings, got {bad} (quote names YAML reads as numbers or booleans)"
    duplicates = sorted({name for name in value if value.count(name) > 1})
    if duplicates:
        return [], f"class names must be unique, got {duplicates} more than once"
    return value, ""


def _swap_images_folder(relative: str) -> str:
    parts = list(PurePosixPath(relative).parts)
    i = len(parts) - 1 - parts[::-1].index("images")
    return PurePosixPath(*parts[:i], "labels", *parts[i + 1 :]).as_posix()
