"""How fast `debris synth` renders, end to end (render, camera, encode, write), per camera.

    python benchmarks/synth_speed.py [--quick]

Targets: 1,000 training tiles of 640x640 in under 2 minutes with 2 workers (issue 3); the default config
(sizes drawn per frame from synth.sizes, randomize 1) at <= 0.25 s per frame per core, so that ~6,000
training frames render in <= 15 minutes on 2 cores (issue 11).
"""

from __future__ import annotations

import argparse
import datetime
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import machine, update_section  # noqa: E402
from debris.config import load_config  # noqa: E402
from debris.synth.generate import generate_dataset  # noqa: E402

# (what, camera, (width, height) or None for the default sizes drawn per frame, frames, frames with --quick, workers)
CASES = [
    ("nav, default sizes", "nav", None, 60, 12, 1),
    ("orbital, default sizes", "orbital", None, 60, 12, 1),
    ("rte, default sizes", "rte", None, 100, 20, 1),
    ("rte 4208x3120 (full colour frame)", "rte", (4208, 3120), 4, 1, 1),
    ("mixed, default config", "mixed", None, 300, 60, 2),
    ("mixed 640x640 training tiles", "mixed", (640, 640), 1000, 100, 2),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of the frames")
    args = parser.parse_args()
    rows, per_core, cpu_per_frame = [], {}, {}
    for what, camera, size, n, n_quick, workers in CASES:
        n = n_quick if args.quick else n
        config = load_config(overrides=[f"synth.camera={camera}"])
        with tempfile.TemporaryDirectory() as tmp:
            start, cpu_start = time.perf_counter(), _cpu_seconds()
            generate_dataset(Path(tmp) / "out", n=n, seed=123, config=config, size=size, workers=workers)
            seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu_start
        per_core[what], cpu_per_frame[what] = seconds * workers / n, cpu / n
        rows.append(f"| {what} | {workers} | {n} | {seconds:.1f} | {n / seconds:.2f} | {per_core[what]:.3f} | {cpu / n:.3f} |")
        print(rows[-1], flush=True)
    tiles = per_core["mixed 640x640 training tiles"] / 2 * 1000
    default, default_cpu = per_core["mixed, default config"], cpu_per_frame["mixed, default config"]
    body = "\n".join([
        f"`python benchmarks/synth_speed.py{' --quick' if args.quick else ''}` on {datetime.date.today()}; {machine()}.",
        "",
        "| frames | workers | n | seconds | frames/s | s/frame/core | CPU s/frame |",
        "|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"1,000 mixed 640x640 tiles with 2 workers: {tiles:.0f} s (target: under 120 s).",
        f"Default config: {default_cpu:.3f} CPU s/frame, so 6,000 frames on 2 idle cores in "
        f"{default_cpu * 6000 / 2 / 60:.1f} min (wall clock here {default:.3f} s/frame/core, {default * 6000 / 2 / 60:.1f} min; "
        "target: 0.25 s, 15 min).",
        "CPU s/frame counts only this run's processes: on a busy machine it is the fair measure, wall clock is not.",
    ])
    update_section("Synthetic data engine: speed", body)
    print(body)


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished workers (the pool's processes are waited for on close)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


if __name__ == "__main__":
    main()
