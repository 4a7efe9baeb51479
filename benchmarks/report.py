"""Write one benchmark's section of BENCHMARKS.md, leaving the other sections as they are."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import time
from pathlib import Path

import numpy as np

from debris.io.files import write_text_atomic

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nWritten by the scripts in `benchmarks/`; each section says the command that made it.\n"


def matmul_gflops() -> float:
    """numpy fp32 matmul speed of 2048² matrices, GFLOP/s: this CPU's practical peak, measured now."""
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    a @ a
    start = time.perf_counter()
    for _ in range(3):
        a @ a
    return 3 * 2 * 2048**3 / (time.perf_counter() - start) / 1e9


def machine() -> str:
    """One line naming the machine, and its measured fp32 matmul speed: the anchor for every time quoted."""
    gflops = matmul_gflops()
    cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
    return f"{cpu or platform.processor()}, {len(os.sched_getaffinity(0))} cores, numpy fp32 matmul 2048²: {gflops:.0f} GFLOP/s"


def update_section(title: str, body: str, path: Path = BENCHMARKS_MD) -> None:
    """Replace (or append) the section `## title` of the Markdown file at `path` with `body`."""
    text = path.read_text(encoding="utf-8") if path.exists() else HEADER
    section = f"## {title}\n\n{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    write_text_atomic(path, text.rstrip("\n") + "\n")
