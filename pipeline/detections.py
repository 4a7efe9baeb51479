"""`Detections`: the one type that carries boxes through the whole pipeline.

Ground-truth labels, model output, every writer and the overlay use it, like supervision's
`Detections`. Boxes are xyxy in the original frame's pixels; file formats convert at their
boundary through `debris.boxes`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    """Boxes of one frame.

    xyxy:      (N, 4) float32, pixels of the original frame, x1 <= x2, y1 <= y2
    scores:    (N,)   float32, confidence in [0, 1]; 1.0 for ground truth
    class_ids: (N,)   int64, index into the class list of the model or data set
    Empty is N = 0, never None.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray

    def __post_init__(self) -> None:
        xyxy = np.asarray(self.xyxy, dtype=np.float32).reshape(-1, 4)
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        class_ids = np.asarray(self.class_ids, dtype=np.int64).reshape(-1)
        if not len(xyxy) == len(scores) == len(class_ids):
            raise ValueError(
                f"Detections: xyxy has {len(xyxy)} rows, scores {len(scores)}, class_ids {len(class_ids)}"
            )
        # frozen dataclass: normalise dtypes and shapes once, here
        object.__setattr__(self, "xyxy", xyxy)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "class_ids", class_ids)

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4)), np.zeros(0), np.zeros(0))

    @classmethod
    def from_labels(cls, xyxy: np.ndarray, class_ids: np.ndarray) -> Detections:
        """Ground truth: every score is 1."""
        return cls(xyxy, np.ones(len(np.asarray(class_ids).reshape(-1))), class_ids)

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice) -> Detections:
        """Select rows with a boolean mask, an index array or a slice."""
        return Detections(self.xyxy[index], self.scores[index], self.class_ids[index])
