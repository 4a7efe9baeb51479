"""Fuzzing every parser a user feeds: each input must end in a value or in debris's own error naming the file.

    python benchmarks/fuzz.py [--n 10000] [--only coco,image]

Inputs are valid files mutated by hypothesis: JSON and YAML documents with subtrees replaced by
arbitrary values (wrong types, NaN, huge numbers, odd text) or deleted, text cut short or made of
invalid UTF-8, images of random size, depth and format with bytes flipped, cut or inserted. An
outcome is a value, a `debris.errors.UserError` (a DatasetError, FrameError or ConfigError) whose
message names the file or override, or a crash: any other exception. The table counts them per
parser; tests/test_fuzz.py runs the same targets with a few hundred inputs each.
Image decoding must also keep libpng/libjpeg/OpenCV chatter off stderr (counted as `chatty`).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report  # noqa: E402
from debris.config import load_config, parse_overrides  # noqa: E402
from debris.errors import UserError  # noqa: E402
from debris.formats.coco import read_results  # noqa: E402
from debris.formats.dataset import load_dataset  # noqa: E402
from debris.formats.yolo import read_labels  # noqa: E402
from debris.io.reader import FrameError, list_frames, read_frame  # noqa: E402

leaves = (st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=True, allow_infinity=True)
          | st.text(max_size=12) | st.sampled_from(["", "a.png", "../x.png", "debris", "0", "1e400", "-1", "\x00"]))
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
                           max_leaves=8)


@st.composite
def mutated(draw, seed: Any, dump: Callable[[Any], str]) -> bytes:
    """`seed` with 1-4 subtrees replaced by arbitrary values or deleted, dumped; sometimes cut short or not UTF-8."""
    doc = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 4))):
        doc = _mutate(draw, doc)
    text = dump(doc).encode()
    damage = draw(st.sampled_from(["none"] * 6 + ["cut", "bytes", "bom"]))
    if damage == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif damage == "bytes":
        at = draw(st.integers(0, len(text)))
        text = text[:at] + draw(st.binary(min_size=1, max_size=4)) + text[at:]
    elif damage == "bom":
        text = b"\xef\xbb\xbf" + text
    return text


def _mutate(draw, node: Any) -> Any:
    """Replace one subtree of `node` (maybe node itself) with an arbitrary value, or delete a dict key."""
    children = list(node.items()) if isinstance(node, dict) else list(enumerate(node)) if isinstance(node, list) else []
    if not children or draw(st.integers(0, 3)) == 0:
        return draw(json_values | st.sampled_from([[], {}, [{}], [[]]]))
    key, child = draw(st.sampled_from(children))
    if isinstance(node, dict) and draw(st.integers(0, 4)) == 0:
        del node[key]
    else:
        node[key] = _mutate(draw, child)
    return node


def _dump_json(doc: Any) -> str:
    return json.dumps(doc)


def _dump_yaml(doc: Any) -> str:
    return yaml.safe_dump(doc, allow_unicode=True)


def tiny_png(path: Path, width: int = 8, height: int = 6) -> None:
    cv2.imwrite(str(path), np.full((height, width, 3), 90, np.uint8))


COCO = {
    "images": [{"id": 1, "file_name": "a.png", "width": 64, "height": 48}, {"id": 2, "file_name": "b.png", "width": 64, "height": 48}],
    "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10], "area": 100, "iscrowd": 0},
                    {"id": 2, "image_id": 2, "category_id": 2, "bbox": [5, 5, 20, 8], "area": 160, "iscrowd": 0}],
    "categories": [{"id": 1, "name": "debris"}, {"id": 2, "name": "parachute"}],
}
RESULTS = [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10], "score": 0.9},
           {"image_id": 2, "category_id": 2, "bbox": [5.5, 5, 20, 8], "score": 0.3}]
_REGION = {"type": "rectanglelabels", "original_width": 8, "original_height": 6,
           "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0, "rectanglelabels": ["debris"]}}
LABELSTUDIO = [
    {"id": 1, "data": {"image": "/data/upload/1/a.png"},
     "annotations": [{"id": 3, "was_cancelled": False, "updated_at": "2026-11-01T10:00:00Z", "result": [_REGION]}]},
    {"id": 2, "data": {"image": "/data/local-files/?d=b.png"}, "annotations": [{"id": 4, "result": []}]},
]
LABELSTUDIO_MIN = [{"image": "/data/upload/1/a.png", "id": 1, "annotation_id": 3, "updated_at": "2026-11-01T10:00:00Z",
                    "label": [{**_REGION["value"], "original_width": 8, "original_height": 6}]}]
YOLO = {"path": ".", "train": "images/train", "val": ["images/train"], "names": {0: "debris", 1: "parachute"}, "nc": 2}
CONFIG = {"classes": ["debris", "parachute"], "label": {"conf": 0.4, "tile": 640, "formats": ["coco"]},
          "reader": {"max_pixels": 1000000}, "preprocess": [{"name": "clahe", "grid": 4}]}


def _coco(data: bytes, folder: Path) -> Any:
    (folder / "data.json").write_bytes(data)
    return load_dataset(folder / "data.json")


def _results(data: bytes, folder: Path) -> Any:
    (folder / "gt.json").write_text(json.dumps(COCO))
    (folder / "results.json").write_bytes(data)
    return read_results(folder / "results.json", folder / "gt.json")


def _labelstudio(data: bytes, folder: Path) -> Any:
    tiny_png(folder / "a.png")
    tiny_png(folder / "b.png")
    (folder / "export.json").write_bytes(data)
    return load_dataset(folder / "export.json", images=folder)


def _yolo_yaml(data: bytes, folder: Path) -> Any:
    (folder / "images" / "train").mkdir(parents=True)
    (folder / "labels" / "train").mkdir(parents=True)
    tiny_png(folder / "images" / "train" / "a.png")
    (folder / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n1 0.3 0.3 0.1 0.1 0.9\n")
    (folder / "data.yaml").write_bytes(data)
    return load_dataset(folder / "data.yaml")


label_lines = st.lists(st.lists(st.sampled_from(["0", "1", "2", "-1", "0.5", "0.2", "1.5", "nan", "inf", "1e999", "1e-320",
                                                 "0x10", "five", "", "٣", "0.5e", "1_0"]) | st.text(max_size=5), max_size=7),
                       max_size=6).map(lambda rows: "\n".join(" ".join(r) for r in rows).encode())


def _yolo_labels(data: bytes, folder: Path) -> Any:
    (folder / "a.txt").write_bytes(data)
    return read_labels(folder / "a.txt", 64, 48, 2)


overrides = st.lists(st.sampled_from(["label.conf", "conf", "label.tile", "classes", "label.formats", "reader", "preprocess",
                                      "label.classes", "synth.camera", "", "a.b.c", "label..conf", "label.conf.x"])
                     .flatmap(lambda key: (st.text(max_size=10) | st.sampled_from(["0.3", "[a, b]", "{x: 1}", "null", "[", "1e999",
                                                                                   "- 1", "&a [*a]"])).map(lambda v: f"{key}={v}"))
                     | st.text(max_size=10), max_size=3)


def _config(data: tuple[bytes, list[str]], folder: Path) -> Any:
    text, items = data
    (folder / "config.yaml").write_bytes(text)
    return load_config(folder / "config.yaml", parse_overrides(items))


list_text = st.lists(st.sampled_from(["a.png", "# comment", "", "missing.jpg", "../a.png", "sub/", "\x00.png", "x" * 300,
                                      "a.png\r", "  a.png  ", "*.png"]) | st.text(max_size=20), max_size=6) \
    .map(lambda lines: "\n".join(lines).encode()) | st.binary(max_size=40)


def _frame_list(data: bytes, folder: Path) -> Any:
    tiny_png(folder / "a.png")
    (folder / "list.txt").write_bytes(data)
    return [read_frame(p) for p in list_frames([folder / "list.txt"])[:3]]


@st.composite
def images(draw) -> bytes:
    """A small PNG, JPEG or TIFF (8/16-bit, gray/RGB/RGBA, odd sizes), then maybe damaged."""
    fmt = draw(st.sampled_from(["png", "jpg", "tif"]))
    w, h = draw(st.integers(1, 33)), draw(st.integers(1, 33))
    channels = draw(st.sampled_from([1, 3, 4] if fmt != "jpg" else [1, 3]))
    depth = np.uint16 if fmt != "jpg" and draw(st.booleans()) else np.uint8
    pixels = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).integers(0, np.iinfo(depth).max, (h, w, channels), endpoint=True)
    ok, encoded = cv2.imencode("." + fmt, pixels.astype(depth).squeeze(-1) if channels == 1 else pixels.astype(depth))
    data = bytearray(encoded.tobytes())
    for _ in range(draw(st.integers(0, 3))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "header"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif data:  # the header's size fields live in the first ~40 bytes of all three formats
            data[min(at, 40) % len(data)] = draw(st.integers(0, 255))
    return bytes(data)


def _image(data: bytes, folder: Path) -> Any:
    (folder / "frame.img").write_bytes(data)
    return read_frame(folder / "frame.img")


@dataclass(frozen=True)
class Target:
    name: str
    inputs: st.SearchStrategy
    parse: Callable[[Any, Path], Any]  # writes the input under a fresh folder and parses it


TARGETS = [
    Target("coco", mutated(COCO, _dump_json), _coco),
    Target("coco_results", mutated(RESULTS, _dump_json), _results),
    Target("labelstudio", mutated(LABELSTUDIO, _dump_json) | mutated(LABELSTUDIO_MIN, _dump_json), _labelstudio),
    Target("yolo_yaml", mutated(YOLO, _dump_yaml), _yolo_yaml),
    Target("yolo_labels", label_lines | st.binary(max_size=60), _yolo_labels),
    Target("config", st.tuples(mutated(CONFIG, _dump_yaml), overrides), _config),
    Target("frame_list", list_text, _frame_list),
    Target("image", images(), _image),
]


def outcome(target: Target, value: Any) -> str:
    """'value' or 'user error', after running the target on one input in a fresh folder; anything else raises.

    A UserError must name the input file (or, for overrides, say which); the reader's decoder chatter
    on stderr (file descriptor 2, where C libraries write) raises too.
    """
    with tempfile.TemporaryDirectory() as tmp, _captured_stderr() as chatter:
        folder = Path(tmp)
        try:
            target.parse(value, folder)
            result = "value"
        except UserError as e:
            # a listed frame's FrameError names that frame ("path: reason"), which may lie anywhere
            if folder.name not in str(e) and "override" not in str(e) and not isinstance(e, FrameError):
                raise AssertionError(f"{target.name}: error does not name the file: {e}") from e
            result = "user error"
    if chatter.getvalue():
        raise AssertionError(f"{target.name}: wrote to stderr: {chatter.getvalue()[:200]!r}")
    return result


class _captured_stderr:
    """Redirect file descriptor 2 to a temporary file for the block; .getvalue() is what was written."""

    def __enter__(self) -> _captured_stderr:
        sys.stderr.flush()
        self.saved, self.file = os.dup(2), tempfile.TemporaryFile()
        os.dup2(self.file.fileno(), 2)
        return self

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.file.seek(0)
        self.text = self.file.read().decode(errors="replace")
        self.file.close()

    def getvalue(self) -> str:
        return getattr(self, "text", "")


def fuzz(target: Target, n: int) -> Counter:
    """Run `target` on n hypothesis inputs; count the outcomes, a crash as 'crash: <exception type>'."""
    counts: Counter = Counter()

    @settings(max_examples=n, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(target.inputs)
    def run(value: Any) -> None:
        try:
            counts[outcome(target, value)] += 1
        except Exception as e:  # what the table is for: every crash, counted by type
            counts[f"crash: {type(e).__name__}: {str(e)[:80]}"] += 1

    run()
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="inputs per parser (default 10,000)")
    parser.add_argument("--only", help="comma-separated parser names (default: all)")
    args = parser.parse_args(argv)
    targets = [t for t in TARGETS if not args.only or t.name in args.only.split(",")]
    lines = ["| parser | inputs | values | user errors | crashes | s |", "|---|---|---|---|---|---|"]
    print("\n".join(lines))
    crashes: Counter = Counter()
    for target in targets:
        start = time.perf_counter()
        counts = fuzz(target, args.n)
        crashed = {k: v for k, v in counts.items() if k.startswith("crash")}
        crashes.update({f"{target.name}: {k}": v for k, v in crashed.items()})
        lines.append(f"| {target.name} | {sum(counts.values())} | {counts['value']} | {counts['user error']} | "
                     f"{sum(crashed.values())} | {time.perf_counter() - start:.0f} |")
        print(lines[-1], flush=True)
    lines += [f"{count:6d}  {name}" for name, count in crashes.most_common()]
    print("\n".join(lines[2 + len(targets):]))
    command = f"python benchmarks/fuzz.py --n {args.n}" + (f" --only {args.only}" if args.only else "")
    report.update_section("Fuzzing (benchmarks/fuzz.py)", f"`{command}` on {datetime.date.today()}:\n\n" + "\n".join(lines))
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
