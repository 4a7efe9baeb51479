"""The output writers of a labelling run, by the name `label.formats` uses: the one list of them.

A sink may write a file per frame as the frame is labelled (`frame`), and writes its collection
from every frame's result at the end of the run (`collection`). The per-frame JSON
(`RunFolder.record`) is not a sink: labelling always writes it, last, as the mark that a frame is
done, and rebuilds every collection from those records, so a resumed run ends with the same files.
The config's allowed `label.formats` are the keys of `SINKS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from debris.formats.coco import write_coco
from debris.formats.geojson import write_geojson
from debris.formats.run_folder import RunFolder
from debris.formats.writers import write_csv, write_labelstudio, write_yolo_txt
from debris.io.files import write_text_atomic
from debris.labels import ImageLabels


@dataclass(frozen=True)
class SinkContext:
    """What a sink needs besides the results: the class names and the settings that shape the files."""

    classes: list[str]
    model_version: str  # Label Studio's model_version
    save_conf: bool  # YOLO txt: append each box's confidence
    image_prefix: str  # Label Studio: prefix of each task's image path


@dataclass(frozen=True)
class Sink:
    frame: Callable[[RunFolder, ImageLabels, SinkContext], None] | None
    collection: Callable[[RunFolder, list[ImageLabels], SinkContext], None]


def _yolo_frame(run: RunFolder, image: ImageLabels, ctx: SinkContext) -> None:
    write_yolo_txt(run.yolo_txt(image.file_name), image, ctx.save_conf)


def _yolo_classes(run: RunFolder, images: list[ImageLabels], ctx: SinkContext) -> None:
    write_text_atomic(run.classes_txt, "".join(f"{name}\n" for name in ctx.classes))


def _geojson_frame(run: RunFolder, image: ImageLabels, ctx: SinkContext) -> None:
    if image.geo is not None:  # a frame without a map projection has no place to put on a map
        write_geojson(run.geojson(image.file_name), image, ctx.classes)


def _no_collection(run: RunFolder, images: list[ImageLabels], ctx: SinkContext) -> None:
    """GeoJSON has no collection: each product has its own projection, so its own file."""


def _coco(run: RunFolder, images: list[ImageLabels], ctx: SinkContext) -> None:
    write_coco(run.coco, ctx.classes, images, scores=True)


def _csv(run: RunFolder, images: list[ImageLabels], ctx: SinkContext) -> None:
    write_csv(run.csv, ctx.classes, images)


def _labelstudio(run: RunFolder, images: list[ImageLabels], ctx: SinkContext) -> None:
    write_labelstudio(run.labelstudio, ctx.classes, images, ctx.model_version, ctx.image_prefix)


SINKS: dict[str, Sink] = {
    "coco": Sink(None, _coco),
    "yolo": Sink(_yolo_frame, _yolo_classes),
    "csv": Sink(None, _csv),
    "labelstudio": Sink(None, _labelstudio),
    "geojson": Sink(_geojson_frame, _no_collection),
}
