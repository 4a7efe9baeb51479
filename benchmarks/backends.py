"""Every labelling backend side by side: speed end to end, forward pass against this CPU's peak, and mAP.

    python benchmarks/backends.py [--model CHECKPOINT] [--nav 300] [--big 20]

Backends: torch fp32 (label.bf16=false), torch bf16 autocast (label.bf16=true) and onnxruntime fp32
(`debris export`). (An int8 row, static quantisation calibrated on 50 frames of seed 900, was measured
on 2026-12-02 and dropped with the option: slower than fp32; BENCHMARKS.md keeps that run's table.)
- nav frames/s and seconds per 4208x3120 frame: what `debris label SET --out TMP` reports (decode to
  written outputs, default settings), run as a child process, on benchmarks/sets.py's frames.
- forward: median ms of one batch of 8 640x640 tiles (channels_last for torch), the model's FLOPs
  (torch.utils.flop_counter, a multiply-add = 2) per second as a share of this CPU's peak measured
  in the same run: numpy fp32 matmul for fp32, torch bf16 matmul for bf16.
- mAP on benchmarks/transfer.py's in-domain test split (300 frames), conf 0.001: a backend ships if
  it is within 0.005 of torch fp32.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report, sets, transfer  # noqa: E402
from benchmarks.command import DEBRIS  # noqa: E402
from benchmarks.detector import gflops  # noqa: E402
from debris.infer.detector import Detector  # noqa: E402
from debris.models import DEFAULT_WEIGHTS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BATCH, SIZE = 8, 640


def debris(*args: str) -> str:
    """Run `debris ARGS` as a child process and return its stdout; raise with its stderr if it fails."""
    result = subprocess.run([*DEBRIS, *args], capture_output=True, text=True, cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"debris {' '.join(args)} failed: {result.stderr[-2000:]}")
    return result.stdout


def label_fps(images: Path, model: Path, settings: list[str], out: Path) -> float:
    return float(re.search(r"([\d.]+) frames/s", debris("label", str(images), "--model", str(model), "--out", str(out),
                                                         *settings)).group(1))


def median_ms(run, repeats: int = 10) -> float:
    for _ in range(3):
        run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000


def forward_ms(detector: Detector, bf16: bool) -> float:
    """Median ms of one forward pass of BATCH SIZE x SIZE tiles through the detector's network."""
    x = np.random.default_rng(0).random((BATCH, 3, SIZE, SIZE), dtype=np.float32)
    if not isinstance(detector.net, torch.nn.Module):
        return median_ms(lambda: detector.net(x))
    net, tensor = detector.net, torch.from_numpy(x).contiguous(memory_format=torch.channels_last)

    def run() -> None:
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            net(tensor)
    return median_ms(run)


def bf16_peak() -> float:
    """torch bf16 matmul speed of 2048² matrices, GFLOP/s."""
    a = torch.randn(2048, 2048, dtype=torch.bfloat16)
    return 2 * 2048**3 / median_ms(lambda: a @ a, repeats=5) * 1000 / 1e9


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--nav", type=int, default=300, help="nav frames labelled per backend")
    parser.add_argument("--big", type=int, default=20, help="4208x3120 frames labelled per backend")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    nav = sets.frame_set("nav", args.nav) / "images" / "test"
    big = sets.frame_set("rte13mp", args.big) / "images" / "test"
    test = transfer.test_sets(sets.ROOT, 300)["in-domain"]
    peaks = {"fp32": report.matmul_gflops(), "bf16": bf16_peak()}
    model_gflops = gflops(Detector.load(args.model).net, SIZE) * BATCH

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        onnx = Path(tmp) / "model.onnx"
        debris("export", "--format", "onnx", "--model", str(args.model), "--out", str(onnx))
        backends = {  # name: (model file, label settings, peak it is measured against)
            "torch fp32": (args.model, ["bf16=false"], "fp32"),
            "torch bf16": (args.model, ["bf16=true"], "bf16"),
            "onnxruntime fp32": (onnx, [], "fp32"),
        }
        for i, (name, (model, settings, peak)) in enumerate(backends.items()):
            fps = label_fps(nav, model, settings, Path(tmp) / f"nav{i}")
            big_seconds = 1 / label_fps(big, model, settings, Path(tmp) / f"big{i}")
            detector = Detector.load(model, conf=0.001, bf16=settings == ["bf16=true"])
            ms = forward_ms(detector, bf16=settings == ["bf16=true"])
            stats = transfer.score(detector, test)["eval"].stats
            share = model_gflops / (ms / 1000) / peaks[peak]
            rows.append((name, fps, big_seconds, ms, share, peak, stats))
            print(f"{name}: nav {fps:.1f}/s, 13MP {big_seconds:.2f} s, forward {ms:.0f} ms ({share:.0%} of {peak} peak), "
                  f"mAP50-95 {stats['mAP50-95']:.3f}", flush=True)

    reference = rows[0]
    lines = [
        f"`python benchmarks/backends.py --nav {args.nav} --big {args.big}` on {datetime.date.today()}, "
        f"{(time.perf_counter() - start) / 60:.1f} min; {report.machine()}; torch bf16 matmul 2048²: {peaks['bf16']:.0f} GFLOP/s.",
        "",
        f"`debris label` default settings; forward: {BATCH}×3×{SIZE}×{SIZE}, {model_gflops:.1f} GFLOP; mAP: in-domain test "
        "split, 300 frames, conf 0.001.",
        "",
        "| backend | nav frames/s | 4208×3120 s/frame | forward ms | share of peak | mAP50-95 | mAP50 | ΔmAP50-95 vs torch fp32 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, fps, big_seconds, ms, share, peak, stats in rows:
        delta = stats["mAP50-95"] - reference[6]["mAP50-95"]
        lines.append(f"| {name} | {fps:.1f} | {big_seconds:.2f} | {ms:.0f} | {share:.0%} of {peak} | {stats['mAP50-95']:.3f} "
                     f"| {stats['mAP50']:.3f} | {delta:+.4f} |")
    body = "\n".join(lines)
    report.update_section("Labelling backends (benchmarks/backends.py)", body)
    print(body)


if __name__ == "__main__":
    main()
