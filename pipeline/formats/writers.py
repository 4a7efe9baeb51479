"""Labelling results in the formats labelling tools read.

Each frame's result is an `ImageLabels` whose labels carry the model's scores. Besides COCO
(`debris.formats.coco.write_coco(..., scores=True)`) and YOLO label files, a batch can be written as
  json:        one small file per frame, which read_frame_json reads back (to resume a batch
               and to build the other files from);
  csv:         one row per box, for spreadsheets and scripts;
  labelstudio: Label Studio's predictions import, a list of tasks, one per frame. Its boxes are
               x, y, width, height in percent of the image size; see "Import pre-annotated data
               into Label Studio", https://labelstud.io/guide/predictions
Every file is written atomically, and the same results always give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from urllib.parse import quote

from debris.boxes import xyxy_to_percent
from debris.labels import ImageLabels
from debris.detections import Detections
from debris.geo import GeoRef
from debris.io.files import write_text_atomic
from debris.formats.yolo import yolo_lines


def write_frame_json(path: str | Path, image: ImageLabels, classes: list[str]) -> None:
    """One frame's boxes: {"file_name", "width", "height", "detections": [...]}, and "geo" ({"crs_wkt",
    "transform": 6 numbers}, debris.geo.GeoRef) for a map-projected product.

    Each detection is {"class_id", "class" (its name), "score" (5 decimals), "xyxy" (pixels,
    4 decimals)}.
    """
    detections = [
        {"class_id": class_id, "class": classes[class_id], "score": score, "xyxy": xyxy}
        for class_id, score, xyxy in _rows(image)
    ]
    data = {"file_name": image.file_name, "width": image.width, "height": image.height, "detections": detections}
    if image.geo is not None:
        data["geo"] = {"crs_wkt": image.geo.crs_wkt, "transform": list(image.geo.transform)}
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, allow_nan=False) + "\n")


def read_frame_json(path: str | Path) -> ImageLabels:
    """The frame write_frame_json wrote; ValueError naming the file if its content is malformed."""
    try:
        return _frame(json.loads(Path(path).read_text(encoding="utf-8")))
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors too
        raise ValueError(f"{path}: not a frame written by write_frame_json: {e}") from e


def write_csv(path: str | Path, classes: list[str], images: list[ImageLabels]) -> None:
    """One row per box: file_name,width,height,class_id,class,score,x1,y1,x2,y2.

    score has 5 decimals, x1 y1 x2 y2 are pixels with 4. A frame without boxes has no row.
    """
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["file_name", "width", "height", "class_id", "class", "score", "x1", "y1", "x2", "y2"])
    for image in images:
        for class_id, score, xyxy in _rows(image):
            writer.writerow([image.file_name, image.width, image.height, class_id, classes[class_id], score, *xyxy])
    write_text_atomic(path, out.getvalue())


def write_labelstudio(
    path: str | Path, classes: list[str], images: list[ImageLabels], model_version: str, image_prefix: str = ""
) -> None:
    """Label Studio tasks, one per frame, each with one prediction holding the frame's boxes.

    The project's labelling config must name its tags as the results do:
    <RectangleLabels name="label" toName="image"> over <Image name="image" value="$image"/>.
    image_prefix + file_name is the task's image, e.g. "/data/local-files/?d=frames/" for files
    Label Studio serves from local storage. After a `?d=` the file name is URL-encoded
    (quote(name, safe="/"), as Label Studio's own storage sync writes it): the server decodes the
    query, so a raw `+`, `%`, `#`, `&` or space would name another file or none. The prediction's
    score, which Label Studio sorts and filters tasks by, is the mean box score (0 for a frame
    without boxes).
    """
    tasks = []
    for i, image in enumerate(images):
        labels = image.labels
        # percent left unrounded: a fixed number of decimals would lose more pixels the larger the frame
        percent = xyxy_to_percent(labels.xyxy, image.width, image.height).tolist()
        result = []
        rows = zip(percent, labels.class_ids.tolist(), labels.scores.tolist())
        for j, ((x, y, w, h), class_id, score) in enumerate(rows):
            result.append({
                "id": f"{i}_{j}",  # unique in the file, as Label Studio requires, and the same on every run
                "type": "rectanglelabels",
                "from_name": "label",
                "to_name": "image",
                "original_width": image.width,
                "original_height": image.height,
                "image_rotation": 0,
                "value": {
                    "x": x, "y": y, "width": w, "height": h, "rotation": 0, "rectanglelabels": [classes[class_id]],
                },
                "score": round(score, 5),
            })
        mean_score = round(float(labels.scores.mean()), 5) if len(labels) else 0
        name = quote(image.file_name, safe="/") if "?d=" in image_prefix else image.file_name
        tasks.append({
            "data": {"image": image_prefix + name},
            "predictions": [{"model_version": model_version, "score": mean_score, "result": result}],
        })
    write_text_atomic(path, json.dumps(tasks, ensure_ascii=False, allow_nan=False) + "\n")


def write_yolo_txt(path: str | Path, image: ImageLabels, scores: bool) -> None:
    """One frame's YOLO label file (empty without boxes); scores adds the confidence as a 6th field."""
    write_text_atomic(path, yolo_lines(image, scores))


def _rows(image: ImageLabels) -> list[tuple[int, float, list[float]]]:
    """(class id, score to 5 decimals, [x1, y1, x2, y2] pixels to 4 decimals) of every box."""
    labels = image.labels
    return [
        (class_id, round(score, 5), [round(v, 4) for v in xyxy])
        for class_id, score, xyxy in zip(labels.class_ids.tolist(), labels.scores.tolist(), labels.xyxy.tolist())
    ]


def _frame(data: object) -> ImageLabels:
    """The ImageLabels of a parsed frame JSON; ValueError saying what is wrong."""
    if not isinstance(data, dict):
        raise ValueError(f"top level is {type(data).__name__}, not an object")
    file_name, width, height, detections = (data.get(k) for k in ("file_name", "width", "height", "detections"))
    if not isinstance(file_name, str) or not file_name:
        raise ValueError(f"file_name must be a non-empty string, got {file_name!r}")
    if not (_is_int(width) and _is_int(height) and width > 0 and height > 0):
        raise ValueError(f"width and height must be positive integers, got {width!r} and {height!r}")
    if not isinstance(detections, list):
        raise ValueError(f'"detections" must be a list, got {detections!r}')
    class_ids, scores, boxes = [], [], []
    for i, detection in enumerate(detections):
        if not isinstance(detection, dict):
            raise ValueError(f"detections[{i}] is not an object")
        class_id, score, xyxy = detection.get("class_id"), detection.get("score"), detection.get("xyxy")
        if not (_is_int(class_id) and class_id >= 0):
            raise ValueError(f"detections[{i}]: class_id must be an integer >= 0, got {class_id!r}")
        if not (_is_number(score) and 0 <= score <= 1):
            raise ValueError(f"detections[{i}]: score must be a number in [0, 1], got {score!r}")
        if not (isinstance(xyxy, list) and len(xyxy) == 4 and all(map(_is_number, xyxy))):
            raise ValueError(f"detections[{i}]: xyxy must be 4 finite numbers [x1, y1, x2, y2], got {xyxy!r}")
        if xyxy[0] > xyxy[2] or xyxy[1] > xyxy[3]:
            raise ValueError(f"detections[{i}]: xyxy {xyxy} has x1 > x2 or y1 > y2")
        class_ids.append(class_id)
        scores.append(score)
        boxes.append(xyxy)
    geo = _geo(data["geo"]) if "geo" in data else None
    return ImageLabels(file_name, width, height, Detections(boxes, scores, class_ids), geo)


def _geo(data: object) -> GeoRef:
    """The GeoRef of a frame JSON's "geo"; ValueError saying what is wrong."""
    if not isinstance(data, dict) or not isinstance(data.get("crs_wkt"), str):
        raise ValueError(f'"geo" must be an object with a "crs_wkt" string, got {data!r}')
    transform = data.get("transform")
    if not (isinstance(transform, list) and len(transform) == 6 and all(map(_is_number, transform))):
        raise ValueError(f'"geo": transform must be 6 finite numbers, got {transform!r}')
    return GeoRef(data["crs_wkt"], tuple(float(v) for v in transform))


def _is_int(value: object) -> bool:
    # JSON true/false load as Python ints; ints beyond 64 bits would overflow the int64 arrays
    return isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63


def _is_number(value: object) -> bool:
    return _is_int(value) or (isinstance(value, float) and math.isfinite(value))
