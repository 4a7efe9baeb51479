"""The two sides of an evaluation: ground-truth frames, and the predictions made on them.

Predictions come from files (a COCO file with scores, a YOLO data set or a folder of YOLO txt
files with a confidence on each line, the output folder of `debris label`) or from a checkpoint
run on the frames. Whatever the source, they come out as one `Detections` per ground-truth frame
in the ground truth's class ids: frames are paired by file name and classes by name, so the
prediction files may order their classes differently or name frames from another folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
from tqdm import tqdm

from debris.formats import coco, yolo
from debris.formats.dataset import load_dataset, load_results
from debris.labels import SPLITS, Dataset, DatasetError, ImageLabels, Problem
from debris.detections import Detections
from debris.infer.detector import Detector
from debris.io.reader import DEFAULT_MAX_PIXELS, FrameError
from debris.formats.run_folder import RunFolder

MAX_NAMED = 5  # frame names quoted in a warning; the count says how many there are


@dataclass
class Predictions:
    """detections[i]: the boxes predicted in ground-truth frame i, in its class ids (empty if none)."""

    detections: list[Detections]
    warnings: list[str] = field(default_factory=list)  # for the user: prediction frames ignored, and why
    missing: list[int] = field(default_factory=list)  # ground-truth frames that no prediction file names

    @property
    def scored(self) -> bool:
        """Whether the boxes carry confidences: files without them (YOLO txt without save_conf, COCO
        without "score") read as score 1 on every box, which no detector gives every box it keeps."""
        return any(bool((dets.scores != 1).any()) for dets in self.detections) or not any(len(d) for d in self.detections)

    def missing_warning(self, gt: Sequence[ImageLabels], splits: int) -> str | None:
        """The warning that ground-truth frames have no predictions, or None; hints at --split when most lack them."""
        if not self.missing:
            return None
        hint = ("; most frames lack predictions: were they made on one split? evaluate it alone with --split NAME"
                if 2 * len(self.missing) > len(gt) and splits > 1 else "")
        return (f"{len(self.missing)} of {len(gt)} ground-truth frames have no predictions (no box predicted, or not "
                f"labelled at all) and count as missed: {_some([gt[i].file_name for i in self.missing])}{hint}")


def gt_frames(dataset: Dataset, split: str | None = None) -> list[ImageLabels]:
    """The frames of one split, or of every split pooled; DatasetError if pooling repeats a file name."""
    if split is not None and split not in dataset.splits:
        raise DatasetError([Problem(str(dataset.root), "split", f"no split {split!r} (has {', '.join(dataset.splits)})")])
    frames = dataset.splits[split] if split else [im for images in dataset.splits.values() for im in images]
    seen: set[str] = set()
    for frame in frames:
        if frame.file_name in seen:
            raise DatasetError([Problem(str(dataset.root), frame.file_name, "is in several splits; pick one with --split")])
        seen.add(frame.file_name)
    return frames


def read_predictions(
    path: str | Path, gt: Sequence[ImageLabels], classes: Sequence[str], gt_source: str | Path | None = None
) -> Predictions:
    """Predictions for the frames `gt` (whose class ids index `classes`) read from `path`:

    - a COCO results list ([{"image_id", "category_id", "bbox", "score"}, ...], what detectron2,
      MMDetection, Ultralytics and SAHI write), whose ids resolve through the ground-truth COCO file
      `gt_source` (the --gt file);
    - a `debris label` output folder: its predictions.coco.json, else its frames/*.json;
    - a folder of YOLO txt files `class cx cy w h conf`, named after the frames (Ultralytics'
      predict with save_txt and save_conf); class names from classes.txt in it or beside it,
      else the ground truth's classes are assumed;
    - anything load_dataset reads (COCO .json with "score"s, YOLO data.yaml), every split pooled.
    DatasetError for an unreadable file, a box of a class the ground truth lacks, or a frame
    whose size differs from the ground truth's.
    """
    path = Path(path)
    if path.suffix.lower() == ".json" and coco.is_results_list(path):
        results = load_results(path, gt_source)
        return _pair(gt, classes, results.classes, results.splits["train"], str(path))
    if RunFolder(path).coco.is_file():
        path = RunFolder(path).coco
    elif path.is_dir() and not _is_dataset_folder(path) and not RunFolder.holds_run(path):
        return _yolo_txt(path, gt, classes)
    dataset = load_dataset(path)
    return _pair(gt, classes, dataset.classes, gt_frames(dataset), str(path))


def predict_frames(
    detector: Detector, root: Path, gt: Sequence[ImageLabels], classes: Sequence[str], max_pixels: int = DEFAULT_MAX_PIXELS
) -> Predictions:
    """Run `detector` on every frame root / gt[i].file_name; DatasetError if a frame cannot be read.

    Every class the detector keeps must be among `classes` (checked before the first frame):
    restrict it with its settings' classes to evaluate on a data set with fewer classes.
    """
    kept = detector.decoder.class_ids
    unknown = [detector.classes[i] for i in (range(len(detector.classes)) if kept is None else kept)
               if detector.classes[i] not in classes]
    if unknown:
        raise DatasetError([Problem(f"model {detector.version}", "classes", f"predicts {unknown}, which the ground truth "
                                    f"lacks ({list(classes)}); keep the others with classes=[...]")])
    lookup = _class_lookup(detector.classes, classes)
    detections = []
    for frame in tqdm(gt, desc="predicting", unit="frame", disable=None):
        try:
            dets = detector.predict(root / frame.file_name, max_pixels)
        except FrameError as e:
            raise DatasetError([Problem(e.path, "image", e.reason)]) from None
        detections.append(_remap(dets, lookup, detector.classes, classes, f"model {detector.version}"))
    return Predictions(detections)


def match_names(gt_names: Sequence[str], names: Sequence[str]) -> tuple[dict[int, int], list[str]]:
    """Pair prediction frame names with ground-truth file names: ({index in names: index in gt_names}, warnings).

    A name pairs with the ground-truth name equal to it, else with the one ground-truth name
    sharing its longest run of trailing path parts (a `debris label` run names frames from the
    folder holding them, a data set from its root: f.png is images/test/f.png). A name that
    pairs with nothing, or with several frames equally well, is left out with a warning; two
    names pairing with one frame are a DatasetError.
    """
    exact = {name: i for i, name in enumerate(gt_names)}
    by_suffix: dict[tuple[str, ...], list[int]] = {}
    for i, name in enumerate(gt_names):
        parts = PurePosixPath(name).parts
        for k in range(1, len(parts) + 1):
            by_suffix.setdefault(parts[-k:], []).append(i)
    pairs, claimed_by, unmatched, ambiguous = {}, {}, [], []
    for p, name in enumerate(names):
        parts = PurePosixPath(name).parts
        found = [exact[name]] if name in exact else next(
            (by_suffix[parts[-k:]] for k in range(len(parts), 0, -1) if parts[-k:] in by_suffix), [])
        if len(found) != 1:
            (ambiguous if found else unmatched).append(name)
            continue
        if found[0] in claimed_by:
            raise DatasetError([Problem(name, "file name", f"pairs with the ground-truth frame {gt_names[found[0]]}, "
                                        f"as {claimed_by[found[0]]} does; rename one")])
        claimed_by[found[0]] = name
        pairs[p] = found[0]
    warnings = []
    if unmatched:
        warnings.append(f"{len(unmatched)} prediction frame(s) are not in the ground truth and are ignored: {_some(unmatched)}")
    if ambiguous:
        warnings.append(f"{len(ambiguous)} prediction frame(s) match several ground-truth frames by name and are "
                        f"ignored: {_some(ambiguous)}")
    return pairs, warnings


def _pair(gt: Sequence[ImageLabels], classes: Sequence[str], found_classes: Sequence[str], found: Sequence[ImageLabels],
          source: str) -> Predictions:
    """Predictions in gt's order and class ids, from frames `found` whose class ids index found_classes."""
    lookup = _class_lookup(found_classes, classes)
    pairs, warnings = match_names([frame.file_name for frame in gt], [frame.file_name for frame in found])
    detections = [Detections.empty() for _ in gt]
    missing = sorted(set(range(len(gt))) - set(pairs.values()))
    for p, g in pairs.items():
        frame, truth = found[p], gt[g]
        if (frame.width, frame.height) != (truth.width, truth.height):
            raise DatasetError([Problem(source, frame.file_name, f"is {frame.width}x{frame.height} but the ground truth's "
                                        f"{truth.file_name} is {truth.width}x{truth.height}")])
        detections[g] = _remap(frame.labels, lookup, found_classes, classes, source)
    return Predictions(detections, warnings, missing)


def _class_lookup(found_classes: Sequence[str], classes: Sequence[str]) -> np.ndarray:
    """(len(found_classes),) int64: the id in classes of each name in found_classes, -1 where classes lacks it."""
    return np.array([list(classes).index(n) if n in classes else -1 for n in found_classes], dtype=np.int64)


def _remap(dets: Detections, lookup: np.ndarray, found_classes: Sequence[str], classes: Sequence[str],
           source: str) -> Detections:
    """dets with class ids translated by lookup; DatasetError naming any predicted class that classes lacks."""
    ids = lookup[dets.class_ids]
    if (ids < 0).any():
        # a class listed but never predicted is harmless: a model may know more classes than a data set
        unknown = sorted({found_classes[i] for i in dets.class_ids[ids < 0].tolist()})
        raise DatasetError([Problem(source, "classes", f"boxes of class {unknown} are predicted, but the ground truth's "
                                    f"classes are {list(classes)}")])
    return Detections(dets.xyxy, dets.scores, ids)


def _yolo_txt(folder: Path, gt: Sequence[ImageLabels], classes: Sequence[str]) -> Predictions:
    """A folder of YOLO txt files named after the frames (x.txt for images/x.png); sizes come from gt."""
    names_file = next((p for p in (folder / "classes.txt", folder.parent / "classes.txt") if p.is_file()), None)
    files = sorted(p for p in folder.rglob("*.txt") if p != names_file)
    if not files:
        raise DatasetError([Problem(str(folder), "folder", "holds no predictions: expected a COCO .json, a YOLO data.yaml, "
                                    "a folder of YOLO .txt files, or a `debris label` output folder")])
    found_classes = ([line.strip() for line in names_file.read_text(encoding="utf-8").splitlines() if line.strip()]
                     if names_file else list(classes))
    stems = [PurePosixPath(frame.file_name).with_suffix("").as_posix() for frame in gt]
    pairs, warnings = match_names(stems, [p.relative_to(folder).with_suffix("").as_posix() for p in files])
    if not names_file:
        warnings.append(f"{folder}: no classes.txt, so its class ids are taken to be the ground truth's: {list(classes)}")
    frames, problems = [], []
    for p, g in pairs.items():
        labels, found = yolo.read_labels(files[p], gt[g].width, gt[g].height, len(found_classes))
        frames.append(ImageLabels(gt[g].file_name, gt[g].width, gt[g].height, labels))
        problems += found
    if problems:
        raise DatasetError(problems)
    predictions = _pair(gt, classes, found_classes, frames, str(folder))
    return Predictions(predictions.detections, warnings, predictions.missing)


def _is_dataset_folder(folder: Path) -> bool:
    return (folder / "data.yaml").is_file() or any((folder / f"{split}.json").is_file() for split in SPLITS)


def _some(names: list[str]) -> str:
    return ", ".join(names[:MAX_NAMED]) + (f" and {len(names) - MAX_NAMED} more" if len(names) > MAX_NAMED else "")
