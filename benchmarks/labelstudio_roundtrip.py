"""Round trip through a real Label Studio server: our predictions in, reviewers' annotations out, same boxes.

    python benchmarks/labelstudio_roundtrip.py [--label-studio PATH] [--timeout 300] [--keep]

An optional check: it needs Label Studio, which is never a dependency of this project. Install it
into a venv of its own (it pins Django and many packages of its own) and point the script at it:

    python3 -m venv .venv-ls && .venv-ls/bin/pip install label-studio==1.23.2
    .venv/bin/python benchmarks/labelstudio_roundtrip.py --label-studio .venv-ls/bin/label-studio

Without --label-studio, `label-studio` is looked for beside sys.executable, then on PATH; if it is
nowhere, the script says how to install it and exits 0 ("skipped").

What it does, against a local server it starts and always stops:
1. copies data/samples/ into a temporary document root under names that need URL encoding
   (`+`, `%`, `#`, `&`, a space, a sub-folder with a space; one plain name), adds a flat grey
   frame (no boxes: an annotation with an empty result must come back as an empty frame), and runs
   `debris label FRAMES --out RUN "image_prefix=/data/local-files/?d=frames/" conf=0.3 reader.recursive=true`;
2. starts `label-studio start` on 127.0.0.1 (free port, temporary data dir, local files served
   from the document root, a user and API token made from LABEL_STUDIO_USERNAME / _PASSWORD /
   _USER_TOKEN), waits for /health/;
3. creates a project whose labelling config names the tags as our writer does, a Local files
   storage on the frames (never synced: it only lets the server serve them), imports
   RUN/predictions.labelstudio.json, and checks every task came in with its one prediction and
   that every task's image URL returns that very file (what proves the `?d=` encoding);
4. accepts each prediction as the task's annotation through the API, as a reviewer's Submit would;
5. exports JSON, JSON_MIN and COCO, runs `debris convert EXPORT OUT --to coco --images FRAMES` on
   each, and compares the result with the run (load_dataset on both): same frames, same class per
   box, corners within 1e-3 px.
Prints a short report; exit 0 when everything matched (or skipped), 1 on any mismatch or failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.command import DEBRIS  # noqa: E402
from debris.formats.dataset import load_dataset  # noqa: E402
from debris.labels import Dataset, DatasetError, ImageLabels  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "data" / "samples"
TOLERANCE_PX = 1e-3  # what README promises for a round trip through convert
FRAMES = "frames"  # the frames' folder under the document root, and so the start of every `?d=` path
PREFIX = f"/data/local-files/?d={FRAMES}/"
# sample -> name in the copy: each character that `?d=` must carry encoded, and one plain name
NAMES = {
    "nav_000001.png": "nav_000001.png",
    "nav_000007.png": "nav+000007.png",  # '+' would decode to a space
    "orbital_1024.jpg": "orbital%201024.jpg",  # a literal '%20' would decode to a space
    "rte_1052x780.jpg": "rte#1052 x780.jpg",  # '#' would end the URL; and a space
    "rte_4208x3120.jpg": "flight 26/rte&d=4208x3120.jpg",  # '&d=' would start another parameter; a folder with a space
}
EMPTY = "empty frame.png"  # a flat grey frame: the model finds nothing, so its annotation's result is []
EXPORTS = ("JSON", "JSON_MIN", "COCO")
INSTALL = ("python3 -m venv .venv-ls && .venv-ls/bin/pip install label-studio==1.23.2\n"
           "then: .venv/bin/python benchmarks/labelstudio_roundtrip.py --label-studio .venv-ls/bin/label-studio")


class Failure(Exception):
    """A step of the round trip that did not do what it should; the message says which and how."""


# --- finding and running Label Studio -------------------------------------------------------------

def find_label_studio(given: str | None) -> list[str] | None:
    """The command that runs Label Studio, or None when it is not installed anywhere we look."""
    if given:
        return [given] if Path(given).is_file() else None
    beside = Path(sys.executable).parent / "label-studio"
    if beside.is_file():
        return [str(beside)]
    on_path = shutil.which("label-studio")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("label_studio") is not None:
        return [sys.executable, "-m", "label_studio.server"]
    return None


def free_port() -> int:
    """A TCP port nobody listens on now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(command: list[str], port: int, data_dir: Path, doc_root: Path, token: str, log: Path) -> subprocess.Popen:
    """`label-studio start` in its own process group, so that stop_server ends it and every child."""
    env = dict(os.environ)
    env.update({
        "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir),  # its sqlite database and media: thrown away after
        "LABEL_STUDIO_LOCAL_FILES_SERVING_ENABLED": "true",
        "LABEL_STUDIO_LOCAL_FILES_DOCUMENT_ROOT": str(doc_root),
        # `start` makes this user (a superuser) only when both USERNAME and PASSWORD are set, and
        # then overwrites the user's API token with USER_TOKEN (which must be longer than 5 characters)
        "LABEL_STUDIO_USERNAME": "roundtrip@example.com",  # Label Studio's users are e-mail addresses
        "LABEL_STUDIO_PASSWORD": secrets.token_hex(12),
        "LABEL_STUDIO_USER_TOKEN": token,
        # a fixed token is a "legacy" token: the organisation must allow those, or the API answers 401
        "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
        "LATEST_VERSION_CHECK": "false",  # no PyPI look-up at start (the machine may be offline)
        "COLLECT_ANALYTICS": "false",
    })
    args = command + ["start", "--no-browser", "--internal-host", "127.0.0.1", "--port", str(port),
                      "--enable-legacy-api-token", "--log-level", "WARNING"]
    with open(log, "wb") as out:  # the child keeps its own handle
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (it has workers), SIGKILL after 20 s."""
    if server.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(server.pid, sig)
        except ProcessLookupError:
            return
        try:
            server.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_ready(base: str, server: subprocess.Popen, log: Path, timeout: float) -> float:
    """Seconds until /health/ answers 200; Failure with the log's tail if the server dies or is too slow."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if server.poll() is not None:
            raise Failure(f"label-studio exited with code {server.returncode} before answering:\n{tail(log)}")
        try:
            with urllib.request.urlopen(base + "/health/", timeout=5) as r:
                if r.status == 200:
                    return time.monotonic() - start
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass  # not listening yet: migrations of a fresh database take most of a minute
        time.sleep(2)
    raise Failure(f"label-studio did not answer {base}/health/ within {timeout:.0f} s "
                  f"(raise --timeout on a busy machine):\n{tail(log)}")


def tail(log: Path, lines: int = 30) -> str:
    text = log.read_text(encoding="utf-8", errors="replace") if log.is_file() else ""
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


# --- the API --------------------------------------------------------------------------------------

class Api:
    """Label Studio's REST API with a token; every call that does not answer 2xx raises Failure."""

    def __init__(self, base: str, token: str) -> None:
        self.base, self.token = base, token

    def raw(self, method: str, path: str, body: object = None, timeout: float = 120) -> tuple[int, bytes, str]:
        """(status, body, content type) of one request; `body` is sent as JSON."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        request.add_header("Authorization", f"Token {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), e.headers.get("Content-Type", "")

    def json(self, method: str, path: str, body: object = None) -> object:
        status, content, _ = self.raw(method, path, body)
        if not 200 <= status < 300:
            raise Failure(f"{method} {path}: HTTP {status}: {content[:500].decode(errors='replace')}")
        return json.loads(content) if content else None


def label_config(classes: list[str]) -> str:
    """The labelling config README gives: tag names as write_labelstudio's results name them."""
    labels = "".join(f'<Label value="{name}"/>' for name in classes)
    return (f'<View><Image name="image" value="$image"/>'
            f'<RectangleLabels name="label" toName="image">{labels}</RectangleLabels></View>')


def create_project(api: Api, classes: list[str], frames: Path) -> int:
    """A project with our config and a Local files storage on the frames (not synced: tasks come from the import)."""
    project = api.json("POST", "/api/projects/", {"title": "debris round trip", "label_config": label_config(classes)})
    # without a storage whose path holds the file, /data/local-files/ answers 404 even for the owner
    api.json("POST", "/api/storages/localfiles/", {"project": project["id"], "title": "frames", "path": str(frames),
                                                   "use_blob_urls": True})
    return project["id"]


def import_tasks(api: Api, project: int, tasks: list[dict]) -> dict:
    """POST the predictions file as is; Failure unless every task and prediction was created."""
    answer = api.json("POST", f"/api/projects/{project}/import", tasks)
    if answer.get("task_count") != len(tasks) or answer.get("prediction_count") != len(tasks):
        raise Failure(f"import of {len(tasks)} tasks with one prediction each answered {answer}")
    return answer


def project_tasks(api: Api, project: int) -> list[dict]:
    """Every task of the project, in id order (the order of the import)."""
    answer = api.json("GET", f"/api/tasks/?project={project}&page_size=1000")
    tasks = answer["tasks"] if isinstance(answer, dict) else answer
    return sorted(tasks, key=lambda t: t["id"])


def check_tasks(api: Api, project: int, imported: list[dict], doc_root: Path) -> list[tuple[dict, dict]]:
    """(task, its prediction) of every task; Failure if one is missing, differs from the file, or its image is not served."""
    tasks = project_tasks(api, project)
    by_image = {t["data"]["image"]: t for t in tasks}
    if len(tasks) != len(imported) or set(by_image) != {t["data"]["image"] for t in imported}:
        raise Failure(f"the project has tasks for {sorted(by_image)}, the file had {[t['data']['image'] for t in imported]}")
    pairs = []
    for sent in imported:
        task = by_image[sent["data"]["image"]]
        predictions = api.json("GET", f"/api/predictions/?task={task['id']}")
        if len(predictions) != 1:
            raise Failure(f"task {task['id']} ({task['data']['image']}) has {len(predictions)} predictions, expected 1")
        prediction = predictions[0]
        if strip_result(prediction["result"]) != strip_result(sent["predictions"][0]["result"]):
            raise Failure(f"task {task['id']}: the server's prediction differs from the file's:\n"
                          f"  sent {sent['predictions'][0]['result']}\n  got  {prediction['result']}")
        check_image(api, task["data"]["image"], doc_root)
        pairs.append((task, prediction))
    return pairs


def strip_result(result: list[dict]) -> list[dict]:
    """The regions without keys the server may add or reorder; boxes and labels compared exactly."""
    keep = ("id", "type", "from_name", "to_name", "original_width", "original_height", "value")
    return [{k: region.get(k) for k in keep} for region in result]


def check_image(api: Api, url: str, doc_root: Path) -> None:
    """The server serves the task's image URL, and what it serves is the file the URL names."""
    # unquote, not Django's query parsing, names the file independently of our reader (image_paths)
    expected = doc_root / unquote(url.split("?d=", 1)[1])
    status, content, _ = api.raw("GET", url)
    if status != 200:
        raise Failure(f"GET {url} answered HTTP {status} (the `?d=` path does not name a served file)")
    if content != expected.read_bytes():
        raise Failure(f"GET {url} served {len(content)} bytes that are not {expected}")


def accept_predictions(api: Api, pairs: list[tuple[dict, dict]]) -> None:
    """Each task's annotation made from its prediction's result, as Submit on an untouched task does."""
    for task, prediction in pairs:
        api.json("POST", f"/api/tasks/{task['id']}/annotations/", {
            "result": prediction["result"], "parent_prediction": prediction["id"],
            "was_cancelled": False, "ground_truth": False, "lead_time": 1.0,
        })


def export(api: Api, project: int, kind: str, out_dir: Path) -> Path:
    """The project's export of `kind` saved under out_dir; a zip (COCO) is unpacked, its JSON returned."""
    status, content, content_type = api.raw("GET", f"/api/projects/{project}/export?exportType={kind}", timeout=300)
    if status != 200:
        raise Failure(f"export {kind}: HTTP {status}: {content[:500].decode(errors='replace')}")
    if content[:2] == b"PK":  # COCO and YOLO come as a zip of result.json (or labels) and images/
        folder = out_dir / f"export_{kind.lower()}"
        with zipfile.ZipFile(io.BytesIO(content)) as z:
            z.extractall(folder)
        found = sorted(folder.rglob("*.json"))
        if len(found) != 1:
            raise Failure(f"export {kind} ({content_type}): expected one .json in the zip, found {[str(p) for p in found]}")
        return found[0]
    path = out_dir / f"export_{kind.lower()}.json"
    path.write_bytes(content)
    return path


# --- our side -------------------------------------------------------------------------------------

def copy_frames(frames: Path) -> None:
    """data/samples/ under names that each need URL encoding after `?d=` (NAMES), and an empty frame."""
    for sample, name in NAMES.items():
        (frames / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(SAMPLES / sample, frames / name)
    cv2.imwrite(str(frames / EMPTY), np.full((240, 320), 128, np.uint8))


def debris(*args: str) -> None:
    """One debris command in a child process; Failure with its output if it does not exit 0."""
    env = dict(os.environ)
    # README "Busy machines": with another busy process on 2 cores, spinning OpenMP threads stall
    env.setdefault("OMP_NUM_THREADS", "1")
    done = subprocess.run(DEBRIS + list(args), env=env, capture_output=True, text=True)
    if done.returncode != 0:
        raise Failure(f"debris {' '.join(args)} exited {done.returncode}:\n{done.stdout}{done.stderr}")


def compare(run: Dataset, converted: Dataset) -> tuple[int, int, float, list[str]]:
    """(frames, boxes, worst corner difference in px, mismatches) of a converted export against the run.

    Frames are matched by base name (convert puts every image under images/<split>/<base name>),
    boxes within a frame by class and nearest corners, so the order of regions does not matter.
    """
    ours = {PurePosixPath(f.file_name).name: f for f in run.splits["train"]}
    theirs = {PurePosixPath(f.file_name).name: f for frames in converted.splits.values() for f in frames}
    problems = []
    if set(ours) != set(theirs):
        problems.append(f"frames differ: only in the run {sorted(set(ours) - set(theirs))}, "
                        f"only in the export {sorted(set(theirs) - set(ours))}")
    worst, boxes = 0.0, 0
    for name in sorted(set(ours) & set(theirs)):
        a, b = ours[name], theirs[name]
        if (a.width, a.height) != (b.width, b.height):
            problems.append(f"{name}: size {a.width}x{a.height} in the run, {b.width}x{b.height} in the export")
        diff, why = match_boxes(boxes_of(a, run.classes), boxes_of(b, converted.classes))
        if why:
            problems.append(f"{name}: {why}")
        worst = max(worst, diff)
        boxes += len(a.labels)
    if worst > TOLERANCE_PX:
        problems.append(f"worst corner difference {worst:.6f} px is over {TOLERANCE_PX} px")
    return len(ours), boxes, worst, problems


def boxes_of(frame: ImageLabels, classes: list[str]) -> list[tuple[str, list[float]]]:
    """(class name, [x1, y1, x2, y2]) of every box: class names, since the exports renumber classes."""
    return [(classes[c], xyxy) for c, xyxy in zip(frame.labels.class_ids.tolist(), frame.labels.xyxy.tolist())]


def match_boxes(ours: list[tuple[str, list[float]]], theirs: list[tuple[str, list[float]]]) -> tuple[float, str]:
    """(worst corner difference of the pairs, "" or what does not match): each box paired with the nearest of its class."""
    if sorted(c for c, _ in ours) != sorted(c for c, _ in theirs):
        return 0.0, f"classes {sorted(c for c, _ in ours)} in the run, {sorted(c for c, _ in theirs)} in the export"
    left, worst = list(theirs), 0.0
    for name, box in ours:
        candidates = [(max(abs(p - q) for p, q in zip(box, other)), i) for i, (c, other) in enumerate(left) if c == name]
        diff, i = min(candidates)
        worst = max(worst, diff)
        left.pop(i)
    return worst, ""


# --- the round trip -------------------------------------------------------------------------------

def round_trip(command: list[str], work: Path, timeout: float) -> tuple[list[str], list[str]]:
    """Run every step; (report lines, failures). Failure stops at the step that failed."""
    doc_root, frames, run_dir = work / "root", work / "root" / FRAMES, work / "run"
    copy_frames(frames)
    debris("label", str(frames), "--out", str(run_dir), f"image_prefix={PREFIX}", "conf=0.3", "reader.recursive=true")
    run = load_dataset(run_dir)
    imported = json.loads((run_dir / "predictions.labelstudio.json").read_text(encoding="utf-8"))
    empty = sum(len(f.labels) == 0 for f in run.splits["train"])
    lines = [f"run: {len(run.splits['train'])} frames ({empty} without boxes), "
             f"{sum(len(f.labels) for f in run.splits['train'])} boxes, image URLs:"]
    lines += [f"  {t['data']['image']}" for t in imported]

    port, token, log = free_port(), secrets.token_hex(20), work / "label-studio.log"
    server = start_server(command, port, work / "ls-data", doc_root, token, log)
    failures: list[str] = []
    try:
        base = f"http://127.0.0.1:{port}"
        took = wait_ready(base, server, log, timeout)
        api = Api(base, token)
        version = api.json("GET", "/api/version/")
        lines.append(f"server: Label Studio {version.get('release') or version.get('label-studio-os-package', {}).get('version')}"
                     f" on {base}, up in {took:.0f} s")
        project = create_project(api, run.classes, frames)
        answer = import_tasks(api, project, imported)
        pairs = check_tasks(api, project, imported, doc_root)
        lines.append(f"import: {answer['task_count']} tasks, {answer['prediction_count']} predictions, "
                     f"every prediction as sent, every image URL served (200, same bytes)")
        accept_predictions(api, pairs)
        for kind in EXPORTS:
            failures += check_export(api, project, kind, work, frames, run, lines)
    except Failure as e:
        failures.append(str(e))
    finally:
        stop_server(server)
    errors = server_errors(log)
    if errors:  # the server takes broken predictions with 201 and only logs why (see the fixtures' README)
        failures.append("the server logged errors:\n" + "\n".join("    " + e for e in errors[:20]))
    return lines, failures


def server_errors(log: Path) -> list[str]:
    """Each [ERROR] record of the server's log with its continuation lines (the details come on those)."""
    errors: list[str] = []
    inside = False
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("["):  # a new record: "[time] [logger::function::line] [LEVEL] message"
            inside = "] [ERROR] " in line
            if inside:
                errors.append(line)
        elif inside and line.strip():
            errors[-1] += " | " + line.strip()
    return [e if len(e) <= 600 else e[:600] + " ..." for e in errors]  # a traceback's first lines say enough


def check_export(api: Api, project: int, kind: str, work: Path, frames: Path, run: Dataset, lines: list[str]) -> list[str]:
    """Export `kind`, convert it to COCO with debris, compare with the run; the failures, if any."""
    try:
        path = export(api, project, kind, work)
        out = work / f"converted_{kind.lower()}"
        debris("convert", str(path), str(out), "--to", "coco", "--images", str(frames))
        n_frames, n_boxes, worst, problems = compare(run, load_dataset(out))
    except (Failure, DatasetError) as e:  # DatasetError: convert wrote a data set that does not load back
        lines.append(f"{kind}: FAILED")
        return [f"{kind}: {e}"]
    lines.append(f"{kind}: {'passed' if not problems else 'FAILED'}: {n_frames} frames, {n_boxes} boxes, "
                 f"worst corner difference {worst:.2e} px")
    return [f"{kind}: {p}" for p in problems]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--label-studio", metavar="PATH", help="the label-studio executable (default: beside "
                        "this Python, then on PATH)")
    parser.add_argument("--timeout", type=float, default=300, help="seconds to wait for the server to answer")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (frames, run, exports, server log)")
    args = parser.parse_args()

    command = find_label_studio(args.label_studio)
    if command is None:
        where = args.label_studio or f"beside {sys.executable} or on PATH"
        print(f"label-studio not found ({where}); install it into a venv of its own:\n{INSTALL}\nskipped")
        return 0
    work = Path(tempfile.mkdtemp(prefix="ls-roundtrip-"))
    try:
        lines, failures = round_trip(command, work, args.timeout)
    except Failure as e:  # a step before the server started (labelling)
        lines, failures = [], [str(e)]
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("Label Studio round trip (" + " ".join(command) + ")")
    for line in lines:
        print("  " + line)
    if args.keep:
        print(f"  work folder kept: {work}")
    if failures:
        print("FAILED:")
        for failure in failures:
            print("  " + failure)
        return 1
    print("passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
