"""How close `orbital` synthetic frames come to real HiRISE terrain, in three simple statistics.

    python benchmarks/synth_realism.py [--quick] [--sheet runs/realism.png]

Real: 512x512 crops of the three strips in data/real_mars. Synthetic: orbital frames of 512x512.
For each statistic, the synthetic-vs-real distance is quoted beside the real-vs-real distance (one
strip's crops against the other strips'), which is how much real terrain differs from itself:
  - intensity histogram: earth mover's distance between the 8-bit value distributions, DN;
  - gradient magnitude: earth mover's distance between Sobel magnitude distributions, DN/px;
  - radial power spectrum: the log-log slope over 1/64..1/4 cycles per pixel.
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import wasserstein_distance

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.report import update_section  # noqa: E402
from debris.config import load_config  # noqa: E402
from debris.viz.draw import contact_sheet  # noqa: E402
from debris.io.reader import read_frame  # noqa: E402
from debris.synth.generate import generate_dataset  # noqa: E402

REAL = Path(__file__).resolve().parent.parent / "data" / "real_mars"
CROP = 512


def real_crops() -> dict[str, list[np.ndarray]]:
    crops = {}
    for path in sorted(REAL.glob("*.jpg")):
        gray = read_frame(path).image[..., 0]
        crops[path.stem] = [gray[y : y + CROP] for y in range(0, gray.shape[0] - CROP + 1, CROP)]
    return crops


def synthetic_crops(n: int) -> list[np.ndarray]:
    config = load_config(overrides=["synth.camera=orbital"])
    with tempfile.TemporaryDirectory() as tmp:
        out = generate_dataset(Path(tmp) / "orbital", n=n, seed=777, config=config, size=(CROP, CROP), workers=2)
        return [read_frame(p).image[..., 0] for p in sorted(out.glob("images/*/*.png"))]


def gradient(gray: np.ndarray) -> np.ndarray:
    g = gray.astype(np.float32)
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)) / 8


def spectrum_slope(gray: np.ndarray) -> float:
    g = gray.astype(np.float64) - gray.mean()
    window = np.outer(np.hanning(g.shape[0]), np.hanning(g.shape[1]))
    power = np.abs(np.fft.fftshift(np.fft.fft2(g * window))) ** 2
    yy, xx = np.indices(power.shape)
    radius = np.hypot(yy - g.shape[0] // 2, xx - g.shape[1] // 2).astype(int)
    radial = np.bincount(radius.ravel(), power.ravel()) / np.bincount(radius.ravel())
    freqs = np.arange(len(radial)) / g.shape[0]
    band = (freqs >= 1 / 64) & (freqs <= 1 / 4)
    return float(np.polyfit(np.log(freqs[band]), np.log(radial[band]), 1)[0])


def distances(a: list[np.ndarray], b: list[np.ndarray]) -> tuple[float, float]:
    """(intensity EMD, gradient EMD) between two sets of crops, on a subsample of pixels each."""
    sample = lambda xs, f: np.concatenate([f(x)[::4, ::4].ravel() for x in xs])  # noqa: E731
    identity = lambda x: x.astype(np.float32)  # noqa: E731
    return (wasserstein_distance(sample(a, identity), sample(b, identity)),
            wasserstein_distance(sample(a, gradient), sample(b, gradient)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="6 synthetic frames instead of 18")
    parser.add_argument("--sheet", default="runs/realism.png", help="where to write real (top) vs synthetic crops")
    args = parser.parse_args()
    real = real_crops()
    synth = synthetic_crops(6 if args.quick else 18)
    all_real = [c for crops in real.values() for c in crops]

    real_vs_real = [distances(crops, [c for k, cs in real.items() if k != name for c in cs]) for name, crops in real.items()]
    synth_vs_real = distances(synth, all_real)
    real_slopes, synth_slopes = [spectrum_slope(c) for c in all_real], [spectrum_slope(c) for c in synth]
    rows = [
        ("intensity histogram EMD (DN)", f"{np.mean([d[0] for d in real_vs_real]):.1f} (max {max(d[0] for d in real_vs_real):.1f})", f"{synth_vs_real[0]:.1f}"),
        ("gradient magnitude EMD (DN/px)", f"{np.mean([d[1] for d in real_vs_real]):.2f} (max {max(d[1] for d in real_vs_real):.2f})", f"{synth_vs_real[1]:.2f}"),
        ("median gradient (DN/px)", f"{np.median(np.concatenate([gradient(c).ravel() for c in all_real])):.2f}", f"{np.median(np.concatenate([gradient(c).ravel() for c in synth])):.2f}"),
        ("power spectrum slope", f"{np.mean(real_slopes):.2f} ± {np.std(real_slopes):.2f}", f"{np.mean(synth_slopes):.2f} ± {np.std(synth_slopes):.2f}"),
        ("mean / std intensity (DN)", f"{np.mean(all_real):.0f} / {np.std(np.stack(all_real)):.0f}", f"{np.mean(synth):.0f} / {np.std(np.stack(synth)):.0f}"),
    ]
    body = "\n".join([
        f"`python benchmarks/synth_realism.py{' --quick' if args.quick else ''}` on {datetime.date.today()}: "
        f"{len(all_real)} real 512² crops of the HiRISE strips in data/real_mars vs {len(synth)} synthetic `orbital` frames of 512².",
        "Real-vs-real compares each strip with the other two: the spread of real terrain itself.",
        "",
        "| statistic | real vs real | synthetic vs real (or synthetic) |",
        "|---|---|---|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
    ])
    update_section("Synthetic data engine: realism of orbital frames", body)
    print(body)
    Path(args.sheet).parent.mkdir(parents=True, exist_ok=True)
    picks = all_real[::3][:6] + synth[:6]
    cv2.imwrite(args.sheet, contact_sheet(picks, columns=6, cell=(256, 256)))
    print(f"real (top row) vs synthetic (bottom row): {args.sheet}")


if __name__ == "__main__":
    main()
