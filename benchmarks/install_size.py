"""Disk size of a labelling install without torch (the `onnx` extra's packages) against the full install.

    python benchmarks/install_size.py

Builds the wheel, then installs it into two fresh virtual environments under a temp folder:
- full: `pip install debris-*.whl` (torch, torchvision and the rest of the base dependencies);
- onnx: `pip install --no-deps debris-*.whl` plus the `onnx` extra's list from pyproject.toml, as
  the README's "Labelling without torch" says; `debris label data/samples --model X.onnx` (exported by
  this checkout's debris) must work there with torch absent.
Size: the bytes of each environment's site-packages (what pip added; the venv's own pip counted in both).
"""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.command import DEBRIS  # noqa: E402
from benchmarks.report import update_section  # noqa: E402

REPO = Path(__file__).resolve().parent.parent


def run(*command: str | Path, cwd: Path = REPO) -> str:
    result = subprocess.run([str(c) for c in command], capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, command))} failed: {result.stderr[-2000:]}")
    return result.stdout


def site_packages_bytes(venv: Path) -> int:
    folder = next((venv / "lib").glob("python3*/site-packages"))
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def main() -> None:
    onnx_extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["onnx"]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", tmp / "dist", REPO)
        wheel = next((tmp / "dist").glob("debris-*.whl"))
        sizes = {}
        for name, installs in {"full": [[wheel]], "onnx": [["--no-deps", wheel], onnx_extra]}.items():
            venv = tmp / name
            run(sys.executable, "-m", "venv", venv)
            for packages in installs:
                run(venv / "bin" / "pip", "install", *packages)
            sizes[name] = site_packages_bytes(venv)
            print(f"{name}: {sizes[name] / 1e9:.2f} GB", flush=True)
        model = tmp / "debris.onnx"
        run(*DEBRIS, "export", "--format", "onnx",
            "--out", model)
        has_torch = subprocess.run([tmp / "onnx" / "bin" / "python", "-c", "import torch"], capture_output=True).returncode == 0
        labelled = run(tmp / "onnx" / "bin" / "debris", "label", REPO / "data" / "samples", "--model", model,
                       "--out", tmp / "out", cwd=tmp).strip().splitlines()[-1]
    body = "\n".join([
        f"`python benchmarks/install_size.py` on {datetime.date.today()} (Python {sys.version.split()[0]}, "
        f"{os.uname().machine}; torch is the CUDA build, the only one pip finds here).",
        "",
        "| install | site-packages | vs full |",
        "|---|---|---|",
        f"| full: `pip install debris` | {sizes['full'] / 1e9:.2f} GB | 1.00× |",
        f"| without torch: `pip install --no-deps debris` + the `onnx` extra's list | {sizes['onnx'] / 1e9:.2f} GB "
        f"| {sizes['onnx'] / sizes['full']:.3f}× |",
        "",
        f"In the torch-free one torch is {'importable (wrong!)' if has_torch else 'absent'}, and "
        f"`debris label data/samples --model debris.onnx` printed: `{labelled}`",
    ])
    update_section("Install size (benchmarks/install_size.py)", body)
    print(body)


if __name__ == "__main__":
    main()
