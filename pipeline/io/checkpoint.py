"""Checkpoints: one file with everything needed to use a model, or to resume training it.

Saved with torch.save and loaded with `weights_only=True`, so loading runs no pickled code: the
file holds only tensors, numbers, strings, lists and dicts. Written atomically (temp + rename),
so an interrupted save never leaves a broken `last.pt`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from debris.io.files import write_bytes_atomic

FORMAT = "debris-checkpoint"
VERSION = 1
REQUIRED = ("format", "version", "model", "classes", "preprocess", "state_dict")


class CheckpointError(ValueError):
    """A file that is not a debris checkpoint, or one this version cannot read."""


def save_checkpoint(path: str | Path, content: dict[str, Any]) -> None:
    """Write content (model config, classes, preprocess, state_dict, ...) plus the format tag, atomically."""
    buffer = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **content}, buffer)
    write_bytes_atomic(path, buffer.getvalue())


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint without executing any pickled code; CheckpointError says what is wrong."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises UnpicklingError, RuntimeError or EOFError depending on the damage
        reason = "contains objects other than tensors and plain data (refused)" if "weights_only" in str(e) else "unreadable"
        raise CheckpointError(f"{path}: not a debris checkpoint: {reason} ({type(e).__name__})") from None
    if not isinstance(content, dict) or content.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a debris checkpoint (no '{FORMAT}' format tag)")
    if content.get("version") != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {content.get('version')!r}; this debris reads version {VERSION}")
    missing = [key for key in REQUIRED if key not in content]
    if missing:
        raise CheckpointError(f"{path}: checkpoint lacks {missing}")
    return content
