"""Labelled data sets: one in-memory form for COCO, YOLO and Label Studio files.

`read_dataset` detects the format, keeps every valid entry and reports each invalid one as a
`Problem`, so `debris check` can list them all at once; `load_dataset` is the strict form.
`save_dataset` writes either format with the images linked (or copied) beside the labels, so
the output folder is self-contained. The formats themselves live in `debris.formats.coco`,
`debris.formats.yolo` and `debris.formats.labelstudio` (read only); boxes are xyxy pixels here
and meet the file formats only there.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Literal

from debris.formats import coco, labelstudio, yolo
from debris.formats.run_folder import RunFolder
from debris.formats.writers import read_frame_json
from debris.io.files import write_bytes_atomic
from debris.labels import SPLITS, Dataset, DatasetError, ImageLabels, Problem


def read_dataset(
    path: str | Path, images: str | Path | None = None, classes: list[str] | None = None
) -> tuple[Dataset, list[Problem]]:
    """Read a data set, skipping every invalid entry and reporting it. Never decodes an image.

    path: a `debris label` run folder (one split, train: every frame record, with its scores);
          a COCO .json file (one split: its name if that is train/val/test, else train);
          a Label Studio JSON or JSON_MIN export (a .json whose top level is a list of tasks;
          one split, named as a COCO file's);
          a YOLO data.yaml (or .yml), or a folder holding data.yaml;
          a folder holding COCO train.json / val.json / test.json (what save_dataset writes).
    images: a label run (or a file in one): the frames' folder (default: the one run.json records);
            COCO and Label Studio: the folder to find the images under, by path or base name
            (default: file_names relative to the JSON's folder for COCO, the export's folder for
            Label Studio); the data set's root becomes this folder.
    classes: Label Studio: the class list to keep when it holds every label used (our config's).
    COCO never opens an image; YOLO reads each image's header for its size, Label Studio only
    that of an annotated frame without boxes.
    """
    path = Path(path)
    images = Path(images) if images is not None else None
    if RunFolder.holds_run(path):
        return _read_run(RunFolder(path), images)
    dataset, problems = _read_file(path, images, classes)
    run = RunFolder(path.parent)
    if images is None and RunFolder.holds_run(run.root) and run.images() is not None:
        dataset.root = run.images()  # a label run's files name frames relative to the frames' folder, not the run's
    return dataset, problems


def _read_file(path: Path, images: Path | None, classes: list[str] | None) -> tuple[Dataset, list[Problem]]:
    if path.is_dir() and (path / "data.yaml").is_file():
        path = path / "data.yaml"
    if path.suffix.lower() in (".yaml", ".yml"):
        if images is not None:
            return Dataset(path.parent, [], {}), [Problem(str(path), "file", "--images applies to COCO and Label "
                                                          "Studio files; a YOLO data set finds its images by data.yaml")]
        return yolo.read_yolo(path)
    if path.suffix.lower() == ".json" and coco.is_results_list(path):
        return Dataset(path.parent, [], {}), [Problem(str(path), "file", "a COCO results list holds predictions, not a "
                                                      "data set: give the COCO file it refers to as --gt (debris eval --pred "
                                                      "it --gt FILE, debris overlay it --gt FILE)")]
    if path.suffix.lower() == ".json" and labelstudio.is_labelstudio(path):
        return labelstudio.read_labelstudio(path, images, classes)
    if path.suffix.lower() == ".json":
        return _read_coco_files({path.stem if path.stem in SPLITS else "train": path}, path.parent, images)
    files = {split: path / f"{split}.json" for split in SPLITS if (path / f"{split}.json").is_file()}
    if files:
        return _read_coco_files(files, path, images)
    reason = "no such file or folder" if not path.exists() else (
        "not a data set: expected a COCO .json, a YOLO data.yaml, a folder holding data.yaml "
        "or COCO train/val/test.json files, or a `debris label` run folder"
    )
    return Dataset(path, [], {}), [Problem(str(path), "file", reason)]


def load_dataset(path: str | Path, images: str | Path | None = None, classes: list[str] | None = None) -> Dataset:
    """read_dataset, raising DatasetError if anything in the data set is invalid."""
    dataset, problems = read_dataset(path, images, classes)
    if problems:
        raise DatasetError(problems)
    return dataset


def load_results(path: str | Path, gt: str | Path | None, images: str | Path | None = None) -> Dataset:
    """A COCO results list as a one-split (train) data set of predictions, DatasetError if anything is invalid.

    Frames and classes come from the ground-truth COCO file `gt` its ids refer to (coco.read_results);
    the data set's root is `images`, else gt's folder. A missing or non-COCO `gt` is a DatasetError.
    """
    if gt is None or Path(gt).suffix.lower() != ".json":
        raise DatasetError([Problem(str(path), "file", "a COCO results list names images and categories by id: "
                                    "give the COCO ground-truth file they come from as --gt")])
    gt = Path(gt)
    classes, frames, problems = coco.read_results(Path(path), gt)
    if problems:
        raise DatasetError(problems)
    return Dataset(Path(images) if images is not None else gt.parent, classes, {"train": frames})


def save_dataset(ds: Dataset, out_dir: str | Path, fmt: Literal["coco", "yolo"]) -> Path:
    """Write `ds` as `fmt` into `out_dir` (new or empty), images included; returns the path for load_dataset.

    Layout, both formats: out_dir/images/{split}/<base name of the source image> (a clash gets
    a suffix: x.png, x_1.png), plus
      coco: out_dir/{split}.json; returns that file, or out_dir when there are several splits
      yolo: out_dir/labels/{split}/<stem>.txt and out_dir/data.yaml; returns data.yaml
    Images are hard links to the sources when the file system allows, else copies; the sources
    are never changed. Writers replace files rather than edit them, so a link stays safe. The
    label files are written after the images, so an interrupted save has no index to load.
    Raises DatasetError if out_dir is not empty, a split name is not one of SPLITS, or a source
    image is missing.
    """
    if fmt not in ("coco", "yolo"):
        raise ValueError(f"unknown data set format {fmt!r}: expected 'coco' or 'yolo'")
    out_dir = Path(out_dir)
    problems = _save_problems(ds, out_dir)
    if problems:
        raise DatasetError(problems)
    placed = {split: _place_images(ds, split, out_dir) for split in ds.splits}
    if fmt == "yolo":
        return yolo.write_yolo(out_dir, ds.classes, placed)
    for split, images in placed.items():
        coco.write_coco(out_dir / f"{split}.json", ds.classes, images)
    return out_dir / f"{next(iter(placed))}.json" if len(placed) == 1 else out_dir


def _read_coco_files(files: dict[str, Path], root: Path, images_dir: Path | None) -> tuple[Dataset, list[Problem]]:
    """One split per COCO file; every file must list the same categories as the first."""
    dataset, problems = Dataset(images_dir if images_dir is not None else root, [], {}), []
    for i, (split, path) in enumerate(files.items()):
        classes, images, found = coco.read_coco(path, images_dir)
        problems += found
        if i == 0:
            dataset.classes = classes
        elif classes != dataset.classes:
            # class ids index one list, so splits with different categories cannot share a data set
            first = next(iter(files.values())).name
            problems.append(Problem(str(path), "categories", f"{classes} differ from {dataset.classes} in {first}"))
            continue
        dataset.splits[split] = images
    return dataset, problems


def _read_run(run: RunFolder, images: Path | None) -> tuple[Dataset, list[Problem]]:
    """A label run's frame records as one split; file names are relative to the frames' folder."""
    root = images or run.images() or run.root
    try:
        classes = json.loads(run.run_json.read_text(encoding="utf-8"))["classes"]
        frames = [read_frame_json(path) for path in run.records()]
    except (OSError, ValueError, KeyError, TypeError) as e:
        return Dataset(root, [], {}), [Problem(str(run.root), "label output", str(e))]
    problems = [Problem(str(run.root), frame.file_name, f"has a class id past the {len(classes)} classes of run.json")
                for frame in frames if len(frame.labels) and frame.labels.class_ids.max() >= len(classes)]
    return Dataset(root, classes, {"train": frames}), problems


def _save_problems(ds: Dataset, out_dir: Path) -> list[Problem]:
    """Why `ds` cannot be saved into `out_dir`, checked before anything is written."""
    if not ds.splits:
        return [Problem(str(out_dir), "data set", "has no splits: nothing to save")]
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        # mixing with old files would leave stale images that a YOLO reader would pick up
        return [Problem(str(out_dir), "folder", "exists and is not an empty folder; save into a new one")]
    problems = [
        Problem(str(out_dir), f"split {split!r}", f"split names must be one of {', '.join(SPLITS)}")
        for split in ds.splits
        if split not in SPLITS
    ]
    for images in ds.splits.values():
        for image in images:
            if not (ds.root / image.file_name).is_file():
                problems.append(Problem(str(ds.root / image.file_name), "image", "missing (no such file)"))
    return problems


def _place_images(ds: Dataset, split: str, out_dir: Path) -> list[ImageLabels]:
    """Link or copy the images of one split to out_dir/images/{split}/; returns them renamed."""
    images = ds.splits[split]
    placed = []
    for image, name in zip(images, _unique_names([image.file_name for image in images])):
        file_name = f"images/{split}/{name}"
        _link_or_copy(ds.root / image.file_name, out_dir / file_name)
        placed.append(dataclasses.replace(image, file_name=file_name))
    return placed


def _unique_names(file_names: list[str]) -> list[str]:
    """Base names that can share one folder, in order: a/x.png, b/x.png -> x.png, x_1.png.

    Stems are compared without case: YOLO names label files by stem (x.png and x.jpg would
    share x.txt), and some file systems ignore case.
    """
    taken: set[str] = set()
    names = []
    for file_name in file_names:
        path = PurePosixPath(file_name)
        stem, n = path.stem, 0
        while stem.lower() in taken:
            n += 1
            stem = f"{path.stem}_{n}"
        taken.add(stem.lower())
        names.append(stem + path.suffix)
    return names


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:  # another file system, or one without hard links (FAT, some network shares)
        write_bytes_atomic(dst, src.read_bytes())
