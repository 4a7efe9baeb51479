"""How fast `debris synth` renders, end to end (render, camera, encode, write), per camera.

    python benchmarks/synth_speed.py [--quick]

Target (issue 3): 1,000 training tiles of 640x640 in under 2 minutes with 2 workers.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine, update_section  # noqa: E402
from debris.config import load_config  # noqa: E402
from debris.synth.generate import generate_dataset  # noqa: E402

# (what, camera, (width, height), frames, frames with --quick, workers)
CASES = [
    ("nav 640x480", "nav", (640, 480), 100, 20, 1),
    ("orbital 1024x1024", "orbital", (1024, 1024), 40, 8, 1),
    ("rte 4208x3120 (full colour frame)", "rte", (4208, 3120), 4, 1, 1),
    ("mixed 640x640 training tiles", "mixed", (640, 640), 1000, 100, 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the frames")
    args = parser.parse_args()
    rows, seconds_per_frame = [], 0.0
    for what, camera, size, n, n_quick, workers in CASES:
        n = n_quick if args.quick else n
        config = load_config(overrides=[f"synth.camera={camera}"])
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            generate_dataset(Path(tmp) / "out", n=n, seed=123, config=config, size=size, workers=workers)
            seconds = time.perf_counter() - start
        rows.append(f"| {what} | {workers} | {n} | {seconds:.1f} | {n / seconds:.2f} | {seconds / n * 1000:.0f} |")
        print(rows[-1], flush=True)
        seconds_per_frame = seconds / n  # the last case is the target's: mixed 640x640 tiles, 2 workers
    per_1000 = seconds_per_frame * 1000
    body = "\n".join([
        f"`python benchmarks/synth_speed.py{' --quick' if args.quick else ''}` on {datetime.date.today()}; {machine()}.",
        "",
        "| frames | workers | n | seconds | frames/s | ms/frame |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"1,000 mixed 640x640 tiles with 2 workers: {per_1000:.0f} s (target: under 120 s; ratio {120 / per_1000:.2f}x the target speed).",
    ])
    update_section("Synthetic data engine: speed", body)
    print(body)


if __name__ == "__main__":
    main()
