"""Windowed readers for huge orbital products, measured: time for random windows and an overview, and peak memory.

    nice -n 10 python benchmarks/readers.py [--work DIR] [--side 12288] [--windows 200] [--repeats 3]

Builds, in --work (kept, and reused by the next run with the same --side) or else a temporary
folder: a side x side 8-bit gray GeoTIFF of synthetic terrain, 512² tiles, deflate, internal
overviews 2..32 (how HiRISE and CTX mosaics come as GeoTIFF), and a JPEG 2000 of it (GDAL's
JP2OpenJPEG defaults: lossy, 1024² tiles, resolution levels). Each case then runs in a process of
its own, so its peak RSS (VmHWM) is that reader's alone: open the file, read the same N random
640x640 windows, then one overview with its longest side <= 1024 px from the file's overviews or
resolution levels. One decoding thread everywhere (GDAL_NUM_THREADS=1, glymur lib.num_threads=1,
tifffile one worker), as labelling runs one reader per worker. The cases take turns, --repeats
times; each time is the fastest of the repeats (the others lost the CPU to something else), each
peak the highest.

glymur (`pip install glymur`, for this comparison only) brings no libopenjp2 and finds none on a
machine without a system OpenJPEG; it is pointed at the one in rasterio's wheel. Writes the section
"Windowed readers (benchmarks/readers.py)" of BENCHMARKS.md and prints it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report  # noqa: E402

WINDOW = 640
OVERVIEW = 1024
TILE = 512
# what a case opens a file into: window(x0, y0) -> the 640x640 window, overview() -> the reduced view
Reader = tuple[Callable[[int, int], np.ndarray], Callable[[], np.ndarray]]


def build(work: Path, side: int) -> tuple[Path, Path]:
    """The GeoTIFF and JPEG 2000 under `work`, written band by band (memory flat), unless already there."""
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.shutil import copy
    from rasterio.transform import Affine

    tif, jp2 = work / f"terrain{side}.tif", work / f"terrain{side}.jp2"
    if not tif.exists():
        rng = np.random.default_rng(0)
        phases = rng.uniform(0, 2 * np.pi, 3)
        crs = 'PROJCS["Mars equirectangular",GEOGCS["Mars",DATUM["D_Mars",SPHEROID["Mars",3396190,0]],PRIMEM["Reference_Meridian",0],' \
              'UNIT["degree",0.0174532925199433]],PROJECTION["Equirectangular"],PARAMETER["standard_parallel_1",0],' \
              'PARAMETER["central_meridian",0],PARAMETER["false_easting",0],PARAMETER["false_northing",0],UNIT["metre",1]]'
        partial = tif.with_suffix(".partial.tif")
        with rasterio.open(partial, "w", driver="GTiff", width=side, height=side, count=1, dtype="uint8", crs=crs,
                           transform=Affine(0.25, 0, 0, 0, -0.25, 0), tiled=True, blockxsize=TILE, blockysize=TILE,
                           compress="deflate", BIGTIFF="IF_SAFER") as ds:
            x = np.arange(side, dtype=np.float32)[None]
            for y0 in range(0, side, TILE):
                y = np.arange(y0, min(y0 + TILE, side), dtype=np.float32)[:, None]
                # slopes at three scales plus grain: deflate gets ~1.5x out of it, as out of real orbital frames
                terrain = (128 + 45 * np.sin(x / 310 + phases[0]) * np.cos(y / 470 + phases[1])
                           + 20 * np.sin((x + y) / 57 + phases[2]) + rng.normal(0, 7, (len(y), side)))
                ds.write(np.clip(terrain, 0, 255).astype(np.uint8)[None], window=((y0, y0 + len(y)), (0, side)))
            ds.build_overviews([2, 4, 8, 16, 32], Resampling.average)
        partial.rename(tif)
    if not jp2.exists():
        copy(tif, jp2.with_suffix(".partial.jp2"), driver="JP2OpenJPEG")
        jp2.with_suffix(".partial.jp2").rename(jp2)
    return tif, jp2


def rasterio_reader(path: Path) -> Reader:
    import rasterio
    from rasterio.enums import Resampling
    from rasterio.windows import Window

    ds = rasterio.open(path)
    scale = OVERVIEW / max(ds.width, ds.height)
    shape = (round(ds.height * scale), round(ds.width * scale))
    return (lambda x, y: ds.read(1, window=Window(x, y, WINDOW, WINDOW)),
            lambda: ds.read(1, out_shape=shape, resampling=Resampling.average))


def product_reader(path: Path) -> Reader:
    from debris.io.product import open_product

    product = open_product(path)
    return lambda x, y: product.read(x, y, WINDOW, WINDOW), lambda: product.overview(OVERVIEW)


def tifffile_reader(path: Path) -> Reader:
    """Windows from the tiles they cover, each read and decoded alone; the overview from the smallest
    overview page at least OVERVIEW px wide, area-averaged down to it."""
    import cv2
    import tifffile

    tif = tifffile.TiffFile(path)
    page = tif.pages[0]
    across = -(-page.imagewidth // page.tilewidth)

    def window(x0: int, y0: int) -> np.ndarray:
        out = np.empty((WINDOW, WINDOW), page.dtype)
        th, tw = page.tilelength, page.tilewidth
        for ty in range(y0 // th, (y0 + WINDOW - 1) // th + 1):
            for tx in range(x0 // tw, (x0 + WINDOW - 1) // tw + 1):
                index = ty * across + tx
                tif.filehandle.seek(page.dataoffsets[index])
                tile = page.decode(tif.filehandle.read(page.databytecounts[index]), index)[0].reshape(th, tw)
                top, left = max(y0, ty * th), max(x0, tx * tw)
                bottom, right = min(y0 + WINDOW, (ty + 1) * th), min(x0 + WINDOW, (tx + 1) * tw)
                out[top - y0:bottom - y0, left - x0:right - x0] = tile[top - ty * th:bottom - ty * th, left - tx * tw:right - tx * tw]
        return out

    def overview() -> np.ndarray:
        level = min((p for p in tif.pages if max(p.shape[:2]) >= OVERVIEW), key=lambda p: max(p.shape[:2]))
        image = level.asarray(maxworkers=1)
        scale = OVERVIEW / max(page.shape[:2])
        return cv2.resize(image, (round(page.shape[1] * scale), round(page.shape[0] * scale)), interpolation=cv2.INTER_AREA)

    return window, overview


def glymur_reader(path: Path) -> Reader:
    """Windows through OpenJPEG's decode area; the overview from the resolution level at least OVERVIEW px wide."""
    import cv2
    import glymur

    glymur.set_option("lib.num_threads", 1)
    jp2 = glymur.Jp2k(str(path))
    height, width = jp2.shape[:2]
    step = 1
    while max(height, width) // (2 * step) >= OVERVIEW:
        step *= 2
    scale = OVERVIEW / max(height, width)
    return (lambda x, y: jp2[y:y + WINDOW, x:x + WINDOW],
            lambda: cv2.resize(jp2[::step, ::step], (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA))


SMALL_CACHE = {"GDAL_CACHEMAX": "32"}  # MB: below the product's size, so the cap shows in the growth
CASES = [  # (name, reader, file, environment)
    ("rasterio (GDAL GTiff), GDAL's default cache", rasterio_reader, "tif", {}),
    ("tifffile (tiles, zlib)", tifffile_reader, "tif", {}),
    ("debris Product (rasterio), RGB out", product_reader, "tif", {}),
    ("debris Product, GDAL_CACHEMAX=32 MB", product_reader, "tif", SMALL_CACHE),
    ("rasterio (GDAL JP2OpenJPEG), GDAL's default cache", rasterio_reader, "jp2", {}),
    ("glymur (OpenJPEG)", glymur_reader, "jp2", {}),
    ("debris Product (rasterio), RGB out", product_reader, "jp2", {}),
    ("debris Product, GDAL_CACHEMAX=32 MB", product_reader, "jp2", SMALL_CACHE),
]


def status_mb(key: str) -> float:
    """VmRSS or VmHWM (peak RSS) of this process, MB."""
    line = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith(key + ":"))
    return int(line.split()[1]) / 1024


def run_case(case: int, path: Path, windows: list[tuple[int, int]]) -> dict:
    """CASES[case] in this process: seconds to open, per window and for the overview; RSS at open and peak."""
    reader = CASES[case][1]
    start = time.perf_counter()
    window, overview = reader(path)
    opened = time.perf_counter()
    rss_open = status_mb("VmRSS")
    for x, y in windows:
        window(x, y)
    read = time.perf_counter()
    view = overview()
    done = time.perf_counter()
    return {"open_s": opened - start, "window_ms": (read - opened) / len(windows) * 1000, "overview_s": done - read,
            "overview_shape": list(view.shape[:2]), "rss_open_mb": rss_open, "peak_mb": status_mb("VmHWM")}


def measure(case: int, path: Path, windows: list[tuple[int, int]], glymurrc: Path) -> dict | str:
    """run_case in a child process (its own peak RSS); the result, or why the case could not run."""
    env = dict(os.environ, GDAL_NUM_THREADS="1", XDG_CONFIG_HOME=str(glymurrc), **CASES[case][3])
    command = [sys.executable, __file__, "--case", str(case), "--file", str(path), "--windows-json", json.dumps(windows)]
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        return result.stderr.strip().splitlines()[-1] if result.stderr.strip() else f"exit {result.returncode}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def best(runs: list[dict | str]) -> dict | str:
    """Each time the fastest of the runs, each RSS the highest; the failure when a run failed."""
    failed = next((r for r in runs if isinstance(r, str)), None)
    if failed is not None:
        return failed
    return {key: (max if key.endswith("_mb") else min)(r[key] for r in runs) for key in ("open_s", "window_ms", "overview_s", "rss_open_mb", "peak_mb")}


def glymur_config(folder: Path) -> Path:
    """An XDG_CONFIG_HOME whose glymur/glymurrc names the libopenjp2 inside rasterio's wheel."""
    import rasterio

    libs = Path(rasterio.__file__).resolve().parent.parent / "rasterio.libs"
    library = next(libs.glob("libopenjp2*"), None)
    (folder / "glymur").mkdir(parents=True, exist_ok=True)
    (folder / "glymur" / "glymurrc").write_text(f"[library]\nopenjp2: {library}\n" if library else "")
    return folder


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="folder for the test files, kept (default: a temporary one)")
    parser.add_argument("--side", type=int, default=12288, help="the product's width and height, px")
    parser.add_argument("--windows", type=int, default=200, help="random 640x640 windows read per case")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every case; times are the fastest run's")
    parser.add_argument("--case", type=int, help=argparse.SUPPRESS)  # the child process of one case
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--windows-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.case is not None:
        print(json.dumps(run_case(args.case, args.file, [tuple(w) for w in json.loads(args.windows_json)])))
        return

    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        files = dict(zip(("tif", "jp2"), build(work, args.side)))
        print(f"files ready in {time.perf_counter() - start:.0f} s: "
              + ", ".join(f"{p.name} {p.stat().st_size / 1e6:.0f} MB" for p in files.values()), flush=True)
        rng = np.random.default_rng(1)
        windows = [(int(x), int(y)) for x, y in rng.integers(0, args.side - WINDOW + 1, (args.windows, 2))]
        glymurrc = glymur_config(Path(tmp) / "xdg")
        runs: list[list[dict | str]] = [[] for _ in CASES]
        for _ in range(args.repeats):
            for case, (name, _, kind, _) in enumerate(CASES):
                runs[case].append(measure(case, files[kind], windows, glymurrc))
                print(f"{name} on {kind}: {runs[case][-1]}", flush=True)
        results = [best(case_runs) for case_runs in runs]
        sizes = {kind: path.stat().st_size / 1e6 for kind, path in files.items()}

    from debris.io.product import GDAL_CACHE_BYTES  # not at the top: each case's process imports only its own reader

    lines = [
        f"`python benchmarks/readers.py --side {args.side} --windows {args.windows} --repeats {args.repeats}` on {datetime.date.today()}; "
        f"{report.machine()}; run under `nice -n 10` beside a training run on the same cores.",
        "",
        f"A {args.side}×{args.side} ({args.side**2 / 1e6:.0f} MP) 8-bit gray product: GeoTIFF ({TILE}² tiles, deflate, "
        f"internal overviews 2–32; {sizes['tif']:.0f} MB) and JPEG 2000 (GDAL JP2OpenJPEG defaults: lossy, 1024² tiles; "
        f"{sizes['jp2']:.0f} MB). Each case in a process of its own, one decoding thread: open, {args.windows} random "
        f"{WINDOW}×{WINDOW} windows, then one overview ≤ {OVERVIEW} px from the file's overviews or resolution levels; "
        f"times: the fastest of {args.repeats} runs, peaks: the highest. "
        "Open includes importing the library. RSS at open includes Python, numpy and the library; growth = peak − RSS "
        "at open, mostly GDAL's block cache: 5% of the RAM by default, capped by debris at "
        f"{GDAL_CACHE_BYTES >> 20} MB (debris.io.product.GDAL_CACHE_BYTES) unless GDAL_CACHEMAX is set.",
        "",
        "| reader | file | open s | ms/window | overview s | RSS at open MB | peak RSS MB | growth MB |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for (name, _, kind, _), r in zip(CASES, results):
        if isinstance(r, str):
            lines.append(f"| {name} | {kind} | could not run: {r} | | | | | |")
        else:
            lines.append(f"| {name} | {kind} | {r['open_s']:.2f} | {r['window_ms']:.1f} | {r['overview_s']:.2f} | "
                         f"{r['rss_open_mb']:.0f} | {r['peak_mb']:.0f} | {r['peak_mb'] - r['rss_open_mb']:.0f} |")
    body = "\n".join(lines)
    report.update_section("Windowed readers (benchmarks/readers.py)", body)
    print(body)


if __name__ == "__main__":
    main()
