"""Labelling speed on an idle machine and beside one busy process, for each threading mechanism.

    python benchmarks/busy.py [--model CHECKPOINT] [--frames 300] [--rows NAME,NAME]

torch's OpenMP threads spin while they wait for each other; beside a process that keeps one core
busy, the spinning thread takes the core its partner needs and labelling collapses. Each row runs
`debris label` on the same 640x480 nav frames (benchmarks/sets.py, seed 5000) as a child process,
twice: alone, and beside `python -c "while True: pass"`. frames/s is the one the command reports
(decode to written outputs). Rows:
- libgomp's own default: OpenMP initialised before debris sets anything (torch imported first),
  what `debris label` did before it chose a wait policy;
- environment settings a user could make (OMP_WAIT_POLICY, GOMP_SPINCOUNT, OMP_NUM_THREADS);
- `debris label` as shipped (its own default: debris.cli.THREAD_ENV);
- the same through onnxruntime (`debris export`), with its threads spinning (onnxruntime's
  default) and not (debris.io.onnx_file.SPINNING, as shipped).
The idle and busy runs of a row follow each other, so both see the same machine.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.command import DEBRIS, MAIN  # noqa: E402
from benchmarks.report import machine, update_section  # noqa: E402
from benchmarks.sets import frame_set  # noqa: E402
from debris.cli import THREAD_ENV  # noqa: E402
from debris.models import DEFAULT_WEIGHTS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
TORCH_FIRST = "import sys, torch; from debris.cli import main; sys.exit(main())"  # OpenMP starts before debris sets anything
ORT_SPINNING = "import sys; from debris.io import onnx_file; onnx_file.SPINNING = '1'; from debris.cli import main; sys.exit(main())"

# name: (python -c program, environment settings, model: "pt" or "onnx")
ROWS = {
    "libgomp default (before)": (TORCH_FIRST, {}, "pt"),
    "OMP_WAIT_POLICY=PASSIVE": (TORCH_FIRST, {"OMP_WAIT_POLICY": "PASSIVE"}, "pt"),
    "GOMP_SPINCOUNT=10000": (TORCH_FIRST, {"GOMP_SPINCOUNT": "10000"}, "pt"),
    "GOMP_SPINCOUNT=1000": (TORCH_FIRST, {"GOMP_SPINCOUNT": "1000"}, "pt"),
    "OMP_NUM_THREADS=1": (TORCH_FIRST, {"OMP_NUM_THREADS": "1"}, "pt"),
    "debris default": (MAIN, {}, "pt"),
    "onnxruntime default (threads spin)": (ORT_SPINNING, {}, "onnx"),
    "debris default .onnx (threads sleep)": (MAIN, {}, "onnx"),
}


def label_fps(program: str, env: dict[str, str], images: Path, model: Path, out: Path) -> float:
    """frames/s that `debris label images` reports, run as a child with `env` over a clean thread environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_", "MKL_"))}
    result = subprocess.run([sys.executable, "-c", program, "label", str(images), "--out", str(out), "--model", str(model)],
                            env={**base, **env}, capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"debris label failed: {result.stderr[-2000:]}")
    return float(re.search(r"([\d.]+) frames/s", result.stdout).group(1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--frames", type=int, default=300)
    parser.add_argument("--rows", help="comma-separated row names to run (default: all); ratios are to the first")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    images = frame_set("nav", args.frames) / "images" / "test"
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx = Path(tmp) / "model.onnx"
        subprocess.run([*DEBRIS, "export", "--format", "onnx", "--model", str(args.model),
                        "--out", str(onnx)], check=True, capture_output=True, cwd=REPO)
        models = {"pt": args.model, "onnx": onnx}
        chosen = args.rows.split(",") if args.rows else list(ROWS)
        for i, name in enumerate(chosen):
            program, env, kind = ROWS[name]
            idle = label_fps(program, env, images, models[kind], Path(tmp) / f"idle{i}")
            spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            try:
                busy = label_fps(program, env, images, models[kind], Path(tmp) / f"busy{i}")
            finally:
                spinner.kill()
                spinner.wait()
            rows.append((name, env, idle, busy))
            print(f"{name}: idle {idle:.1f}, busy {busy:.1f} frames/s", flush=True)

    reference = rows[0][2]
    shipped = " ".join(f"{k}={v}" for k, v in THREAD_ENV.items())
    lines = [
        f"`python benchmarks/busy.py --frames {args.frames}" + (f" --rows '{args.rows}'" if args.rows else "") + f"` on {datetime.date.today()}, "
        f"{(time.perf_counter() - start) / 60:.1f} min; {machine()}.",
        "",
        f"`debris label` of {args.frames} nav frames (640×480), default settings otherwise; busy: beside one "
        f"`python -c \"while True: pass\"`. debris default = `{shipped}` set by the CLI before torch starts "
        "(unless the environment sets it).",
        "",
        f"| mechanism | idle frames/s | idle vs {rows[0][0]} | busy frames/s | busy / idle |",
        "|---|---|---|---|---|",
    ]
    for name, _, idle, busy in rows:
        lines.append(f"| {name} | {idle:.1f} | {idle / reference:.2f}× | {busy:.1f} | {busy / idle:.0%} |")
    body = "\n".join(lines)
    update_section("Labelling on a busy machine (benchmarks/busy.py)", body)
    print(body)


if __name__ == "__main__":
    main()
