"""The detector network and the shipped checkpoint (models/weights/)."""

from pathlib import Path

# The checkpoint `debris` uses when no --model is given; made by train.py (see its model card).
DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "debris.pt"
