"""Archive scale: a ≥ 500 MP orbital product labelled in windows — speed, memory, recall and map error.

    python benchmarks/archive.py [--product DIR] [--work DIR] [--formats tif,jp2,LBL] [--reference-side 4096] [--no-ray]
                                 [--report PATH]

The product is benchmarks/archive_product.py's (made once, reused): 553.6 MP of held-out HiRISE terrain
with 60 rendered pieces of hardware at known map positions, as a tiled GeoTIFF, a JPEG 2000 and a PDS3
product. Each is labelled by `debris label PRODUCT --out DIR conf=0.1 max_det=1000 formats=[geojson]` in
its own process, which is timed and whose peak RSS the kernel reports (wait4).
- seconds per gigapixel and peak RSS, per format;
- the reference: the same pixels as ordinary frames, the GeoTIFF cut into 4096 x 4096 PNGs (one process
  labels them all, same settings); the issue asks the product to come within 20% of their seconds per gigapixel;
- recall of the composited hardware the data engine would label (truth.json "labelled"): a truth box is
  found when a box of its class (or of any class) overlaps it at IoU >= 0.5, at conf 0.6 (label.conf as
  shipped), 0.25 and 0.1; the map error is the distance between the found box's centre in the GeoJSON and
  the truth's;
- the first product on local Ray with 2 workers against the single process, as a wall-clock ratio;
- a paper plan for 50,000 HiRISE-sized products from the measured seconds per gigapixel.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
from torchvision.ops import box_iou

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import archive_product, report  # noqa: E402
from benchmarks.command import DEBRIS  # noqa: E402
from debris.io.files import write_bytes_atomic  # noqa: E402
from debris.io.product import open_product  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
HIRISE_GP = 1.0  # gigapixels of a typical HiRISE RDR (20,000 x 50,000 px); the largest are ~2
PRODUCTS = 50_000
# every box down to conf 0.1, the best 1000 of them (label.max_det bounds a whole product, 300 by default), so recall
# can be read at several thresholds from one run; the reference frames are labelled alike
SETTINGS = ["conf=0.1", "max_det=1000"]
CONFS = (0.6, 0.25, 0.1)


def debris(args: list[str]) -> tuple[float, float]:
    """Run `debris ARGS` in its own process; (wall seconds, peak RSS in GiB) of that process."""
    print("$ debris " + " ".join(args), flush=True)
    start = time.perf_counter()
    process = subprocess.Popen(DEBRIS + args, env={**os.environ, "OMP_WAIT_POLICY": "PASSIVE"})
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"debris {' '.join(args)} failed with exit status {process.returncode}")
    return seconds, usage.ru_maxrss / 2**20  # ru_maxrss is KiB on Linux


def reference_frames(product: Path, out: Path, side: int) -> list[Path]:
    """The product's full side x side squares as PNG files (8-bit gray): ordinary frames of the same pixels."""
    out.mkdir(parents=True, exist_ok=True)
    frames = []
    with open_product(product) as p:
        for y in range(0, p.height - side + 1, side):
            for x in range(0, p.width - side + 1, side):
                path = out / f"ref_{y:05d}_{x:05d}.png"
                if not path.exists():
                    gray = p.read(x, y, side, side)[..., 0]
                    write_bytes_atomic(path, cv2.imencode(".png", gray)[1].tobytes())
                frames.append(path)
    return frames


def recall(wanted: list[dict], boxes: list[dict], conf: float, same_class: bool) -> tuple[int, int, list[float]]:
    """(found, wanted, map errors in metres of the found ones) for the truth objects `wanted`: a truth box is
    found by the box (of its class, or of any class) overlapping it most, at IoU >= 0.5 and score >= conf.
    boxes: GeoJSON feature properties (the map error needs x_map, y_map)."""
    props = [b for b in boxes if b["score"] >= conf]
    found, errors = 0, []
    for o in wanted:
        candidates = [p for p in props if p["class"] == o["class"] or not same_class]
        if not candidates:
            continue
        truth_box = torch.tensor([o["box_xyxy"]], dtype=torch.float64)
        found_boxes = torch.tensor([[p["x1"], p["y1"], p["x2"], p["y2"]] for p in candidates], dtype=torch.float64)
        overlaps = box_iou(truth_box, found_boxes)[0].numpy()
        best = int(overlaps.argmax())
        if overlaps[best] >= 0.5:
            found += 1
            hit = candidates[best]
            if "x_map" in hit:
                errors.append(float(np.hypot(hit["x_map"] - o["centre_map_m"][0], hit["y_map"] - o["centre_map_m"][1])))
    return found, len(wanted), errors


def reference_boxes(run: Path, side: int) -> list[dict]:
    """The reference run's boxes in product pixels, as GeoJSON-like properties (class, score, x1 y1 x2 y2)."""
    boxes = []
    for record in sorted((run / "frames").glob("ref_*.json")):
        y, x = (int(v) for v in record.stem.split("_")[1:])
        for d in json.loads(record.read_text())["detections"]:
            x1, y1, x2, y2 = d["xyxy"]
            boxes.append({"class": d["class"], "score": d["score"], "x1": x1 + x, "y1": y1 + y, "x2": x2 + x, "y2": y2 + y})
    return boxes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--product", type=Path, default=archive_product.OUT, help="archive_product.py's folder (made if missing)")
    parser.add_argument("--work", type=Path, default=REPO / "datasets" / "bench" / "archive", help="labelling runs; replaced")
    parser.add_argument("--formats", default="tif,jp2,LBL", help="product files to label, by suffix")
    parser.add_argument("--reference-side", type=int, default=4096, help="side of the ordinary frames cut for the reference")
    parser.add_argument("--no-ray", action="store_true", help="skip the Ray comparison")
    parser.add_argument("--report", type=Path, default=report.BENCHMARKS_MD)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    truth = archive_product.make_product(args.product, 24576, 22528, 0, 60, False)
    gp = truth["megapixels"] / 1000
    shutil.rmtree(args.work, ignore_errors=True)
    args.work.mkdir(parents=True)

    rows, measured, lowest = [], {}, {}
    for suffix in args.formats.split(","):
        product = args.product / f"product.{suffix}"
        out = args.work / f"label_{suffix}"
        seconds, rss = debris(["label", str(product), "--out", str(out), *SETTINGS, "formats=[geojson]"])
        boxes = [f["properties"] for f in json.loads((out / "geojson" / "product.geojson").read_text())["features"]]
        wanted = [o for o in truth["objects"] if o["labelled"]]
        found = {(conf, same): recall(wanted, boxes, conf, same) for conf in CONFS for same in (True, False)}
        lowest[suffix] = min(b["score"] for b in boxes)
        errors = found[0.1, False][2]
        measured[suffix] = seconds
        rows.append(f"| {product.name} | {seconds:.0f} | {seconds / gp:.0f} | {rss:.2f} | "
                    + " | ".join(f"{found[conf, True][0]} / {found[conf, False][0]} of {found[conf, True][1]}" for conf in CONFS)
                    + f" | {np.median(errors) if errors else float('nan'):.2f} | {max(errors) if errors else float('nan'):.2f} |")
        print(rows[-1], flush=True)

    side = args.reference_side
    frames = reference_frames(args.product / "product.tif", args.work / "reference_frames", side)
    ref_gp = len(frames) * side**2 / 1e9
    ref_seconds, ref_rss = debris(["label", *map(str, frames), "--out", str(args.work / "label_reference"), *SETTINGS,
                                  "formats=[coco]"])
    ref_rate = ref_seconds / ref_gp
    inside = [o for o in truth["objects"] if o["labelled"] and o["box_xyxy"][2] <= (truth["size"][0] // side) * side
              and o["box_xyxy"][3] <= (truth["size"][1] // side) * side]
    ref_boxes = reference_boxes(args.work / "label_reference", side)
    ref_found = {conf: recall(inside, ref_boxes, conf, False) for conf in CONFS}

    ray_line = "Ray: not measured (--no-ray)."
    if not args.no_ray:
        first = next(iter(measured))
        ray_seconds, ray_rss = debris(["label", str(args.product / f"product.{first}"), "--out", str(args.work / "label_ray"),
                                       *SETTINGS, "formats=[geojson]", "--engine", "ray", "--ray-workers", "2"])
        same = (args.work / f"label_{first}" / "frames" / "product.json").read_bytes() == \
            (args.work / "label_ray" / "frames" / "product.json").read_bytes()
        ray_line = (f"Ray, local, 2 workers, product.{first}: {ray_seconds:.0f} s against {measured[first]:.0f} s in one process "
                    f"(**{ray_seconds / measured[first]:.2f}×** the wall time; driver peak RSS {ray_rss:.2f} GiB, actors not "
                    f"included); per-frame JSON byte-identical: {same}.")

    rate = measured.get("jp2", measured.get("tif")) / gp  # s/GP on 2 cores, the archive's own format
    jp2_bytes = (args.product / "product.jp2").stat().st_size / (truth["megapixels"] * 1e6)
    plan = ["| nodes × cores | wall time (compute) | data read | network per node needed to keep up |", "|---|---|---|---|"]
    total_gp = PRODUCTS * HIRISE_GP
    core_seconds = total_gp * rate * 2  # measured on 2 cores
    node64 = total_gp * 1e9 * jp2_bytes / (core_seconds / 64)  # bytes/s a 64-core node reads
    for nodes, cores in [(1, 2), (1, 64), (10, 64), (100, 64)]:
        wall = core_seconds / (nodes * cores)
        per_node = total_gp * 1e9 * jp2_bytes / wall / nodes  # bytes/s each node must read
        plan.append(f"| {nodes} × {cores} | {wall / 3600:,.1f} h | {total_gp * 1e9 * jp2_bytes / 1e12:.0f} TB "
                    f"| {per_node * 8 / 1e6:.0f} Mbit/s |")

    lines = [
        f"`python benchmarks/archive.py` on {datetime.date.today()}, {(time.perf_counter() - start) / 60:.0f} min; {report.machine()}.",
        "",
        f"Product: {truth['size'][0]} x {truth['size'][1]} = {truth['megapixels']:.1f} MP (benchmarks/archive_product.py, "
        f"held-out HiRISE terrain, {len(truth['objects'])} rendered objects, "
        f"{sum(o['labelled'] for o in truth['objects'])} large enough for the data engine to label). One process, 2 cores, "
        f"`debris label PRODUCT {' '.join(SETTINGS)} formats=[geojson]`; a truth box is found by a box at IoU >= 0.5, of its "
        "class or of any class, scoring at least conf; map error (any class, conf 0.1) = distance between the found box's centre (GeoJSON x_map, y_map) "
        "and the truth's.",
        "",
        "| product | wall s | s/GP | peak RSS GiB | found at conf 0.6 (its class / any class) | found at conf 0.25 | found at conf 0.1 "
        "| median map error m | max map error m |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Reference, the same pixels as ordinary frames: {len(frames)} PNGs of {side}² ({ref_gp * 1000:.0f} MP) cut "
        f"from the GeoTIFF, one `debris label`: {ref_seconds:.0f} s = {ref_rate:.0f} s/GP, peak RSS {ref_rss:.2f} GiB. "
        + ", ".join(f"product.{s} / reference: **{measured[s] / gp / ref_rate:.2f}×**" for s in measured) + " (target ≤ 1.2×).",
        "",
        "For comparison, the ordinary path on the reference frames (max_det per 16.7 MP frame) finds, of the "
        f"{len(inside)} objects lying in them (any class), " + ", ".join(
            f"{ref_found[c][0]} at conf {c}" for c in CONFS) + "; on the product, max_det 1000 for the whole product "
        "kept boxes down to score " + ", ".join(f"{lowest[s]:.2f} ({s})" for s in lowest) + ", so the product rows "
        "count only those above it at conf 0.25 and 0.1. At the shipped conf 0.6 neither path finds any: the shipped "
        "model does not carry over to this orbital scene.",
        "",
        ray_line,
        "",
        f"Paper plan: {PRODUCTS:,} HiRISE-sized products of ~{HIRISE_GP:g} GP each ({total_gp:,.0f} GP), at the measured "
        f"{rate:.0f} s/GP on 2 cores ({rate * 2:.0f} core-s/GP, this CPU), JPEG 2000 at {jp2_bytes:.2f} bytes/pixel:",
        "",
        *plan,
        "",
        f"Where the bottleneck moves: compute scales with cores ({rate * 2:.0f} core-s/GP; lossless JPEG 2000 decoding makes "
        f"a pixel cost {measured.get('jp2', rate * gp) / gp / ref_rate:.1f}× an ordinary frame's); a 64-core node reads "
        f"{node64 * 8 / 1e6:.0f} Mbit/s of JPEG 2000 ({node64 * 8 / 1e9:.2f}× a 1 Gbit/s link); 100 such nodes need the "
        f"archive to serve {total_gp * 1e9 * jp2_bytes / 1e12:.0f} TB in {core_seconds / 6400 / 3600:.1f} h "
        f"({total_gp * 1e9 * jp2_bytes / (core_seconds / 6400) / 1e9:.1f} GB/s in all). Start-up (Ray, the model: ~10 s "
        "per actor) is ignored.",
    ]
    body = "\n".join(lines)
    report.update_section("Archive scale: a 554 MP product in windows (benchmarks/archive.py)", body, args.report)
    print(body)


if __name__ == "__main__":
    main()
