"""The fixed frame sets benchmarks measure on: rendered once by `debris synth`, then reused.

Seeds 5000+ are used nowhere else (training 0, test 1000, samples 2000-2001), so no benchmark frame
was seen in training. Each set is a COCO data set with one `test` split.
"""

from __future__ import annotations

import sys
from pathlib import Path

from debris.config import load_config
from debris.synth.generate import generate_dataset

ROOT = Path(__file__).resolve().parent.parent / "datasets" / "bench"

# name: (camera, (width, height), frames, seed)
SETS = {
    "nav": ("nav", (640, 480), 1000, 5000),
    "rte13mp": ("rte", (4208, 3120), 20, 5001),
    "orbital": ("orbital", (1024, 1024), 100, 5002),
}


def frame_set(name: str, n: int | None = None, root: Path = ROOT) -> Path:
    """The folder of set `name` under `root` (its first n frames if n is given: a smaller set, rendered separately)."""
    camera, size, full, seed = SETS[name]
    n = n or full
    return rendered(root / (name if n == full else f"{name}_{n}"), n, seed,
                    [f"synth.camera={camera}", "synth.splits={test: 1.0}"], size)


def rendered(out: Path, n: int, seed: int, overrides: list[str], size: tuple[int, int] | None = None,
             config: Path | None = None) -> Path:
    """`out`, rendered by the data engine (n frames, seed, config file and overrides, size) unless it already holds a data set.

    Split COCO files are written once every frame is rendered, so one being there means it finished.
    """
    if not any((out / f"{split}.json").exists() for split in ("train", "val", "test")):
        print(f"rendering {n} frames (seed {seed}, {config or ''} {' '.join(overrides) or 'default config'}) into {out}", file=sys.stderr)
        generate_dataset(out, n, seed, load_config(config, overrides), size=size, workers=2)
    return out


if __name__ == "__main__":
    for set_name in sys.argv[1:] or SETS:
        print(frame_set(set_name))
