"""`debris label --engine ray` on a local two-CPU Ray: the files of a single-process run, a killed actor, resume."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

ray = pytest.importorskip("ray")

import debris.infer.label  # noqa: E402
from debris.cli import EXIT_INTERRUPTED, EXIT_OK, EXIT_PROBLEMS, main  # noqa: E402
from debris.infer import ray_engine  # noqa: E402
from tests.builders import CLASSES, untrained_checkpoint  # noqa: E402

# an untrained network scores everything near its prior (~0.01): a low conf makes it report boxes;
# batch=1 cuts the product (a TIFF over max_pixels) into several batches, so into several parts
LOW_CONF = ["conf=0.005", "max_det=20"]
SETTINGS = [*LOW_CONF, "batch=1", "reader.recursive=true", "reader.max_pixels=1200000", "--save-overlays"]
ACTOR = b"ray::MapWorker(MapBatches(Labeller))"  # an actor's process title


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)  # never a cluster already running
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return untrained_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt", CLASSES)


@pytest.fixture(scope="module")
def frames(tmp_path_factory) -> Path:
    """Frames of several sizes, colour and gray, a sub-folder, a truncated JPEG, a 1400 x 1000 TIFF over
    reader.max_pixels (a product, labelled window by window) and a TIFF product that cannot be read."""
    folder = tmp_path_factory.mktemp("frames")
    (folder / "sub").mkdir()
    sizes = [(640, 480), (700, 300), (200, 150), (333, 257), (1300, 900), (96, 64)]
    for i, (w, h) in enumerate(sizes):
        name = f"sub/f{i}.png" if i == 3 else f"f{i}.jpg" if i % 2 == 0 else f"f{i}.png"
        image = _noise(w, h, i)
        cv2.imwrite(str(folder / name), image[..., 0] if i == 1 else image)
    (folder / "f9.jpg").write_bytes((folder / "f0.jpg").read_bytes()[:300])
    cv2.imwrite(str(folder / "product.tif"), _noise(1400, 1000, 7))
    (folder / "broken.tif").write_bytes((folder / "product.tif").read_bytes()[:5000])
    return folder


@pytest.fixture(scope="module")
def single_process(model, frames, tmp_path_factory) -> Path:
    """The run folder of `frames` labelled in one process: what the Ray engine must write."""
    out = tmp_path_factory.mktemp("single") / "out"
    assert label(frames, "--out", out, "--model", model, *SETTINGS) == EXIT_PROBLEMS
    return out


@pytest.fixture(scope="module")
def many_frames(tmp_path_factory) -> Path:
    """Eight 1400 x 1000 frames (7 windows each), one to a task: an actor can be killed after the first."""
    folder = tmp_path_factory.mktemp("many")
    for i in range(8):
        cv2.imwrite(str(folder / f"m{i}.jpg"), _noise(1400, 1000, i))
    return folder


def _noise(width: int, height: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (0, 0), 3)


def label(*args: object) -> int:
    return main(["label", *map(str, args)])


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_ray_writes_the_files_of_a_single_process_run(model, frames, single_process, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(ray_engine, "BATCHES_PER_PART", 2)  # the product's 7 batches in 4 parts, over both actors
    on_ray = tmp_path / "ray"
    assert label(frames, "--out", on_ray, "--model", model, "--engine", "ray", *SETTINGS) == EXIT_PROBLEMS
    assert "labelled 7 of 9 frames" in capsys.readouterr().out
    assert files(on_ray) == files(single_process)  # frames/*.json, labels, overlays, collections, run.json, errors.csv
    assert (on_ray / "frames" / "product.json").is_file() and not (on_ray / "overlays" / "product.jpg").exists()
    errors = (on_ray / "errors.csv").read_text().splitlines()
    assert [row.split(",")[0].rsplit("/", 1)[1] for row in errors[1:]] == ["broken.tif", "f9.jpg"]


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the actor's process in /proc (Linux)")
def test_a_killed_actor_loses_no_frame_and_writes_none_twice(model, many_frames, tmp_path, monkeypatch):
    local, on_ray = tmp_path / "local", tmp_path / "ray"
    assert label(many_frames, "--out", local, "--model", model, *LOW_CONF) == EXIT_OK
    written = []
    real = debris.infer.label.write_frame_json
    monkeypatch.setattr(debris.infer.label, "write_frame_json", lambda path, *a: (written.append(path), real(path, *a)))
    codes = []
    run = threading.Thread(target=lambda: codes.append(label(many_frames, "--out", on_ray, "--model", model,
                                                             "--engine", "ray", *LOW_CONF)))
    run.start()
    while not written and run.is_alive():
        time.sleep(0.05)
    killed, done_then = _kill_an_actor(), len(written)
    run.join()
    assert killed and done_then < 8, "the run ended before an actor could be killed mid-run"
    assert codes == [EXIT_OK] and len(written) == len(set(written)) == 8
    assert files(on_ray) == files(local)


def test_a_run_interrupted_in_one_process_resumes_on_ray(model, frames, single_process, tmp_path, monkeypatch, capsys):
    broken = tmp_path / "broken"
    real = debris.infer.label.write_frame_json
    calls = []

    def dies_on_the_fourth_frame(*args):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        real(*args)

    monkeypatch.setattr(debris.infer.label, "write_frame_json", dies_on_the_fourth_frame)
    assert label(frames, "--out", broken, "--model", model, *SETTINGS) == EXIT_INTERRUPTED
    monkeypatch.setattr(debris.infer.label, "write_frame_json", real)
    capsys.readouterr()
    assert label(frames, "--out", broken, "--model", model, "--resume", "--engine", "ray", *SETTINGS) == EXIT_PROBLEMS
    assert "(3 done before, skipped)" in capsys.readouterr().out
    assert files(broken) == files(single_process)


def _kill_an_actor() -> bool:
    """SIGKILL one labelling actor of this process's Ray (its raylet's child); False if none was found."""
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(ACTOR) and _descends_from_us(int(entry.name)):
                os.kill(int(entry.name), signal.SIGKILL)
                return True
        except OSError:  # a process that ended while we looked
            continue
    return False


def _descends_from_us(pid: int) -> bool:
    while pid > 1:
        pid = int((Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])  # the parent's pid
        if pid == os.getpid():
            return True
    return False
