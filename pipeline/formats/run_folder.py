"""The folder a `debris label` run writes: the one place its layout is spelled out.

    OUT/
      run.json                      model, settings and outputs (a resumed run must match them), and
                                    "images": the folder the frame names are relative to
      frames/<name>.json            one per labelled frame: file_name, width, height, detections
      labels/<name>.txt             YOLO txt (class cx cy w h [conf]), with classes.txt beside
      geojson/<name>.geojson        boxes in map coordinates, one file per map-projected product
      predictions.coco.json         COCO data set with a score on every box (CVAT: COCO 1.0 import)
      predictions.csv               one row per box
      predictions.labelstudio.json  Label Studio tasks with predictions
      overlays/<name>.jpg           with --save-overlays
      errors.csv                    frames that could not be read, and why (header only when none)

<name> is the frame's path relative to the folder holding all the frames of the run, sub-folders
kept. Labelling (debris.infer.label) writes it; load_dataset reads it as a data set (overlay, convert,
check, eval --pred), finding the frames through run.json's "images".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path, PurePosixPath


@dataclass(frozen=True)
class RunFolder:
    root: Path

    @staticmethod
    def holds_run(path: str | Path) -> bool:
        """Whether `path` is a labelling run's folder (it has run.json and frames/)."""
        return (Path(path) / "run.json").is_file() and (Path(path) / "frames").is_dir()

    @property
    def run_json(self) -> Path:
        return self.root / "run.json"

    @property
    def errors_csv(self) -> Path:
        return self.root / "errors.csv"

    @property
    def classes_txt(self) -> Path:
        return self.root / "classes.txt"

    @property
    def coco(self) -> Path:
        return self.root / "predictions.coco.json"

    @property
    def csv(self) -> Path:
        return self.root / "predictions.csv"

    @property
    def labelstudio(self) -> Path:
        return self.root / "predictions.labelstudio.json"

    def images(self) -> Path | None:
        """The folder the frame names are relative to, as run.json records it (None in runs made before it did)."""
        try:
            folder = json.loads(self.run_json.read_text(encoding="utf-8")).get("images")
        except (OSError, ValueError, AttributeError):
            return None
        return Path(folder) if isinstance(folder, str) else None

    def record(self, name: str) -> Path:
        """The frame's JSON: its result, and the mark that it is done."""
        return self.root / "frames" / with_suffix(name, ".json")

    def yolo_txt(self, name: str) -> Path:
        return self.root / "labels" / with_suffix(name, ".txt")

    def geojson(self, name: str) -> Path:
        return self.root / "geojson" / with_suffix(name, ".geojson")

    def overlay(self, name: str) -> Path:
        return self.root / "overlays" / with_suffix(name, ".jpg")

    def records(self) -> list[Path]:
        """Every frame JSON in the folder, sorted by path."""
        return sorted((self.root / "frames").rglob("*.json"))


def with_suffix(name: str, suffix: str) -> str:
    """A frame name with another suffix: "a/b.png" -> "a/b.json"."""
    return PurePosixPath(name).with_suffix(suffix).as_posix()
