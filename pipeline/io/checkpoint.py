"""Checkpoints: one file with everything needed to use a model, or to resume training it.

`Checkpoint` is the only place that knows the file's fields. It is saved with torch.save and
loaded with `weights_only=True`, so loading runs no pickled code: the file holds only tensors,
numbers, strings, lists and dicts. It is written atomically (temp + rename), so an interrupted save
never leaves a broken `last.pt`.

Format versions: 1 (2026-11, no `parent`) loads unchanged; 2 adds `parent`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from debris.errors import UserError
from debris.io.files import write_bytes_atomic

FORMAT = "debris-checkpoint"
VERSION = 2
READABLE = (1, 2)


class CheckpointError(UserError, ValueError):
    """A file that is not a debris checkpoint, or one this version cannot read."""


@dataclass
class Checkpoint:
    """A trained detector and how it was made.

    model: DetectorNet's keyword arguments ({"num_classes": C, "width": w}).
    classes: class id i is classes[i].
    preprocess: the preprocessing stages it was trained with, as plain dicts (debris.preprocess.stage_records).
    state_dict: the network's weights (the EMA ones in a training run).
    train_args: the whole training config (Config.model_dump), or None.
    data: the data set it was trained on, as given.
    metrics: validation metrics, with "epoch".
    parent: {"path", "sha256"} of the checkpoint it was fine-tuned from, or None (trained from scratch).
    train_state: what resuming needs (optimizer, scheduler, raw weights, counters); only in last.pt.
    """

    model: dict[str, Any]
    classes: list[str]
    preprocess: list[dict[str, Any]]
    state_dict: dict[str, torch.Tensor]
    train_args: dict[str, Any] | None = None
    data: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)
    parent: dict[str, str] | None = None
    train_state: dict[str, Any] | None = None

    @property
    def epoch(self) -> int | None:
        return self.metrics.get("epoch")

    def save(self, path: str | Path) -> None:
        """Write the checkpoint atomically; `train_state` only when it has one."""
        content = {"format": FORMAT, "version": VERSION, **dataclasses.asdict(self)}
        if self.train_state is None:
            del content["train_state"]
        buffer = io.BytesIO()
        torch.save(content, buffer)
        write_bytes_atomic(path, buffer.getvalue())

    @classmethod
    def load(cls, path: str | Path) -> Checkpoint:
        """Read a checkpoint without executing any pickled code; CheckpointError says what is wrong."""
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"{path}: no such checkpoint file")
        with path.open("rb") as f:
            head = f.read(4)
        if not head.startswith((b"PK\x03\x04", b"\x80")):  # torch.save writes a zip, torch before 1.6 a pickle
            raise CheckpointError(f"{path}: not a debris checkpoint, nor any PyTorch file; give a .pt file that "
                                  "`debris train` wrote (RUN/best.pt)")
        try:
            content = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
            reason = "contains objects other than tensors and plain data (refused)" if "weights_only" in str(e) else "unreadable"
            raise CheckpointError(f"{path}: not a debris checkpoint: {reason} ({type(e).__name__})") from None
        if not isinstance(content, dict) or content.get("format") != FORMAT:
            raise CheckpointError(f"{path}: not a debris checkpoint (no '{FORMAT}' format tag)")
        if content.get("version") not in READABLE:
            raise CheckpointError(f"{path}: checkpoint version {content.get('version')!r}; this debris reads versions "
                                  f"{', '.join(map(str, READABLE))}: re-save it with the debris that wrote it, or retrain")
        fields = {f.name for f in dataclasses.fields(cls)}
        required = {f.name for f in dataclasses.fields(cls) if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
        body = {k: v for k, v in content.items() if k not in ("format", "version")}
        missing, unknown = sorted(required - set(body)), sorted(set(body) - fields)
        if missing or unknown:
            raise CheckpointError(f"{path}: checkpoint fields missing {missing}, unknown {unknown}")
        return cls(**body)


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file: how a fine-tuned checkpoint names the one it started from."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
