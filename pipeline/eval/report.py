"""`debris eval`'s report: COCO numbers, confusion matrix and false alarms, as text, JSON and plots.

OUT/
  report.json           every number below, the settings, and the warnings about the inputs
  pr_curves.png         precision-recall at IoU 0.5, one curve per class
  confusion_matrix.png  counts at the confidence threshold, true class x predicted class
Plots are drawn on a bare matplotlib Figure (rendered by Agg, no pyplot state, no display) into
memory, and every file is written atomically.
"""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from debris.labels import ImageLabels
from debris.detections import Detections
from debris.eval.coco_eval import MISSING, RECALLS, Evaluation, evaluate
from debris.io.files import write_bytes_atomic, write_text_atomic
from debris.eval.metrics import AlarmRate, confusion_matrix, false_alarms, unmatched_predictions

BACKGROUND = "background"  # the confusion matrix's extra row and column: no box there
LINE_STYLES = ["-", "--", "-.", ":"]
MARKERS = ["o", "s", "^", "D", "v", "x"]


@dataclass(frozen=True)
class Report:
    """Everything `debris eval` tells about one set of predictions on one set of frames."""

    classes: list[str]
    evaluation: Evaluation  # COCO, every prediction ranked by score
    confusion: np.ndarray  # (K + 1, K + 1) counts at conf and iou, see metrics.confusion_matrix
    false_alarms: AlarmRate  # boxes kept on frames without ground truth
    unmatched: AlarmRate  # the confusion matrix's background row, over every frame
    settings: dict[str, Any]  # conf, iou, max_dets, frames, and where the inputs came from
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The COCO table, the two alarm rates and the confusion matrix, for a terminal."""
        conf, iou = self.settings["conf"], self.settings["iou"]
        lines = [self.evaluation.table(), ""]
        lines.append(f"false alarms per MP (frames with predictions and without ground truth, score >= {conf}): "
                     f"{_rate(self.false_alarms)}")
        lines.append(f"unmatched predictions per MP (frames with predictions, score >= {conf}; the matrix's background "
                     f"row): {_rate(self.unmatched)}")
        lines += ["", f"confusion matrix at score >= {conf}, IoU >= {iou} (rows: true class, columns: predicted class)"]
        names = [*self.classes, BACKGROUND]
        width = max(map(len, names)) + 2
        lines.append(f"{'':<{width}}" + "".join(f"{name:>{width}}" for name in names))
        for name, row in zip(names, self.confusion.tolist()):
            lines.append(f"{name:<{width}}" + "".join(f"{count:>{width}}" for count in row))
        lines[-1] = lines[-1][: -width] + f"{'-':>{width}}"  # background x background counts nothing
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """report.json: numbers as in text(), null where COCO has nothing to measure (no ground truth)."""
        names = [*self.classes, BACKGROUND]
        pr50 = {name: (None if (row == MISSING).all() else np.round(row, 4).tolist())
                for name, row in zip(self.classes, self.evaluation.pr50)}
        return {
            "settings": self.settings,
            "stats": {name: _number(v) for name, v in self.evaluation.stats.items()},
            "per_class": {name: {k: _number(v) for k, v in c.items()} for name, c in self.evaluation.per_class.items()},
            "false_alarms_per_mp": _alarms(self.false_alarms, "boxes scoring >= conf on frames with predictions and "
                                           "without ground truth, per megapixel of those frames; null when there are none"),
            "unmatched_predictions_per_mp": _alarms(self.unmatched, "boxes scoring >= conf that match no ground-truth "
                                                    "box (the confusion matrix's background row), per megapixel of the "
                                                    "frames with predictions"),
            "confusion_matrix": {"conf": self.settings["conf"], "iou": self.settings["iou"], "rows": names, "columns": names,
                                 "counts": self.confusion.tolist()},
            "pr_curves": {"iou": 0.5, "recall": np.round(RECALLS, 2).tolist(), "precision": pr50},
            "warnings": self.warnings,
        }


def build_report(
    gt: Sequence[ImageLabels], predictions: Sequence[Detections], classes: Sequence[str], conf: float,
    iou: float = 0.5, max_dets: int = 100, settings: dict[str, Any] | None = None, warnings: Sequence[str] = (),
    missing: Sequence[int] = (),
) -> Report:
    """Evaluate predictions[i] against gt[i] (class ids indexing `classes`); settings: extra entries for report.json.

    missing: indices of the frames no prediction file names. COCO counts their boxes as missed;
    the alarm rates leave them out, as no model looked at them.
    """
    matrix = confusion_matrix(gt, predictions, len(classes), conf, iou)
    seen = [i for i in range(len(gt)) if i not in set(missing)]
    seen_gt, seen_predictions = [gt[i] for i in seen], [predictions[i] for i in seen]
    return Report(
        list(classes), evaluate(gt, predictions, classes, max_dets), matrix,
        false_alarms(seen_gt, seen_predictions, conf), unmatched_predictions(seen_gt, matrix),
        {**(settings or {}), "conf": conf, "iou": iou, "max_dets": max_dets, "frames": len(gt),
         "frames_without_predictions": [gt[i].file_name for i in missing]}, list(warnings),
    )


def write_report(report: Report, out: str | Path) -> list[Path]:
    """OUT/report.json, OUT/pr_curves.png and OUT/confusion_matrix.png; returns their paths."""
    out = Path(out)
    paths = [out / "report.json", out / "pr_curves.png", out / "confusion_matrix.png"]
    write_text_atomic(paths[0], json.dumps(report.to_json(), indent=1, allow_nan=False) + "\n")
    write_bytes_atomic(paths[1], _png(pr_figure(report)))
    write_bytes_atomic(paths[2], _png(confusion_figure(report)))
    return paths


def pr_figure(report: Report) -> Figure:
    """Precision against recall at IoU 0.5 per class with ground truth, and their mean (mAP50 is its area)."""
    fig = Figure(figsize=(9, 5.5))
    ax = fig.subplots()
    measured = [k for k, row in enumerate(report.evaluation.pr50) if not (row == MISSING).all()]
    for n, k in enumerate(measured):
        c = report.evaluation.per_class[report.classes[k]]
        # a style and marker per class, markers at staggered recalls: curves that coincide stay visible
        ax.plot(RECALLS, report.evaluation.pr50[k], linewidth=1.5, linestyle=LINE_STYLES[n % len(LINE_STYLES)],
                marker=MARKERS[n % len(MARKERS)], markevery=(n * 3 % 10, 10), markersize=6,
                label=f"{report.classes[k]}: AP50 {c['AP50']:.3f} ({_count(c['n_gt'], 'box')})")
    if measured:
        ax.plot(RECALLS, report.evaluation.pr50[measured].mean(axis=0), color="black", linewidth=3,
                label=f"all classes: mAP50 {report.evaluation.stats['mAP50']:.3f}")
    else:
        ax.text(0.5, 0.5, "no ground-truth box in these frames:\nnothing to rank", ha="center", va="center")
    for name, c in report.evaluation.per_class.items():
        if c["n_gt"] == 0:
            ax.plot([], [], " ", label=f"{name}: no ground truth")  # says why the class has no curve
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="recall", ylabel="precision",
           title=f"Precision-recall at IoU 0.5 ({_count(report.settings['frames'], 'frame')}, "
                 f"up to {report.settings['max_dets']} boxes per frame)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), fontsize=9, frameon=False)
    fig.tight_layout()
    return fig


def confusion_figure(report: Report) -> Figure:
    """The confusion matrix as a grid of counts, shaded by each count's share of its row.

    Shading by row keeps a class's few boxes readable beside a background row of hundreds of
    false alarms; background x background counts nothing and is left blank.
    """
    names = [*report.classes, BACKGROUND]
    counts = report.confusion
    n = len(names)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    blank = np.zeros((n, n), bool)
    blank[-1, -1] = True
    fig = Figure(figsize=(1.1 * n + 3, 0.9 * n + 2.2))
    ax = fig.subplots()
    image = ax.imshow(np.ma.masked_array(share, mask=blank), cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of the row (true class)", fraction=0.046, pad=0.04)
    for (i, j), count in np.ndenumerate(counts):
        if not blank[i, j]:
            ax.text(j, i, str(count), ha="center", va="center", fontsize=11,
                    color="white" if share[i, j] > 0.6 else "black")
    ax.set_xticks(range(n), names, rotation=35, ha="right")
    ax.set_yticks(range(n), names)
    ax.set(xlabel="predicted class", ylabel="true class",
           title=f"Confusion matrix (boxes): {_count(report.settings['frames'], 'frame')}, "
                 f"score ≥ {report.settings['conf']}, IoU ≥ {report.settings['iou']}")
    fig.tight_layout()
    return fig


def _png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _rate(rate: AlarmRate) -> str:
    if rate.per_megapixel is None:
        return "- (no such frame)"
    return f"{rate.per_megapixel:.3f} = {_count(rate.boxes, 'box')} / {rate.megapixels:.2f} MP of {_count(rate.frames, 'frame')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}es" if noun.endswith("x") else f"{n} {noun}s"


def _alarms(rate: AlarmRate, note: str) -> dict[str, Any]:
    value = None if rate.per_megapixel is None else round(rate.per_megapixel, 6)
    return {"value": value, "boxes": rate.boxes, "frames": rate.frames, "megapixels": round(rate.megapixels, 6), "note": note}


def _number(value: float) -> float | int | None:
    return None if value == MISSING else value
