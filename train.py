"""Train the detector: the same function as `debris train`.

    python train.py DATASET [--out runs/train] [--resume] [--config FILE] [key=value ...]

DATASET is a COCO .json (or a folder of train/val/test .json files) or a YOLO data.yaml, e.g. a
folder written by `debris synth`. See README.md, "debris train".
"""

import sys

from debris.cli import main

if __name__ == "__main__":
    sys.exit(main(["train", *sys.argv[1:]]))
