import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from debris.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, THREAD_ENV, main
from tests.builders import CLASSES, untrained_checkpoint

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "real_mars" / "negatives.json"


def write_coco(folder: Path, annotations: list[dict]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(folder / "a.png"), np.full((40, 60, 3), 120, np.uint8))
    coco = {
        "images": [{"id": 1, "file_name": "a.png", "width": 60, "height": 40}],
        "annotations": annotations,
        "categories": [{"id": 1, "name": "parachute"}, {"id": 2, "name": "debris"}],
    }
    path = folder / "labels.json"
    path.write_text(json.dumps(coco))
    return path


def test_console_script_info_reports_versions_cores_and_paths():
    debris = Path(sys.executable).parent / "debris"
    out = subprocess.run([str(debris), "info"], capture_output=True, text=True, check=True).stdout
    for text in ["torch", "torchvision", "opencv-python-headless", "cpu cores", "configs", "model"]:
        assert text in out


@pytest.mark.parametrize("argv", [["--help"], ["info"], ["check", str(SAMPLE)], ["convert", str(SAMPLE), "{tmp}/out", "--to", "yolo"]])
def test_commands_that_never_run_the_network_do_not_import_torch(argv, tmp_path):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code = ("import sys\nfrom debris.cli import main\ntry:\n    main(%r)\nexcept SystemExit:\n    pass\n"
            "heavy = sorted(m for m in ('torch', 'torchvision') if m in sys.modules)\nassert not heavy, heavy\n" % argv)
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


@pytest.mark.parametrize("preset", [None, "ACTIVE"])
def test_label_sets_the_thread_environment_before_torch_loads_unless_the_user_did(preset, tmp_path):
    # OpenMP reads its wait policy once, when torch loads it: what counts is the value at torch's import
    code = ("import os, sys\nseen = []\n"
            "sys.addaudithook(lambda event, args: seen.append(os.environ.get('OMP_WAIT_POLICY')) "
            "if event == 'import' and args[0] == 'torch' and not seen else None)\n"
            "from debris.cli import main\nassert main(%r) == 0\nprint(seen)\n"
            % ["label", str(ROOT / "data" / "samples" / "nav_000001.png"), "--out", str(tmp_path / "out"), "formats=[coco]"])
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    if preset:
        env["OMP_WAIT_POLICY"] = preset
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, env=env).stdout
    assert out.strip().splitlines()[-1] == repr([preset or THREAD_ENV["OMP_WAIT_POLICY"]])


def test_check_shipped_sample_is_clean(capsys):
    assert main(["check", str(SAMPLE)]) == EXIT_OK
    assert "OK (train: 3 images; 0 boxes" in capsys.readouterr().out


def test_check_lists_problems_and_exits_non_zero(tmp_path, capsys):
    path = write_coco(tmp_path, [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 20]},
        {"id": 2, "image_id": 1, "category_id": 9, "bbox": [10, 10, 20, 20]},
        {"id": 3, "image_id": 1, "category_id": 2, "bbox": [50, 30, 30, 30]},
    ])
    assert main(["check", str(path)]) == EXIT_PROBLEMS
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith(str(path)) for line in lines)
    assert "annotations[1]" in lines[0] and "annotations[2]" in lines[1]


def test_bad_override_exits_with_usage_error_naming_the_key(capsys):
    assert main(["check", str(SAMPLE), "reader.max_pixel=10"]) == EXIT_USAGE
    assert "unknown key 'reader.max_pixel'" in capsys.readouterr().err


def test_pixel_limit_override_reaches_the_reader(capsys):
    assert main(["check", str(SAMPLE), "reader.max_pixels=1000"]) == EXIT_PROBLEMS
    assert "too large" in capsys.readouterr().out


def test_convert_coco_to_yolo_and_back_passes_check(tmp_path):
    src = write_coco(tmp_path / "src", [{"id": 7, "image_id": 1, "category_id": 2, "bbox": [5.5, 6.25, 20, 10]}])
    before = src.read_bytes()
    assert main(["convert", str(src), str(tmp_path / "yolo"), "--to", "yolo"]) == EXIT_OK
    assert main(["check", str(tmp_path / "yolo")]) == EXIT_OK
    assert main(["convert", str(tmp_path / "yolo" / "data.yaml"), str(tmp_path / "coco"), "--to", "coco"]) == EXIT_OK
    coco_files = sorted((tmp_path / "coco").glob("*.json"))
    assert len(coco_files) == 1 and main(["check", str(coco_files[0])]) == EXIT_OK
    back = json.loads(coco_files[0].read_text())
    assert back["annotations"][0]["bbox"] == [5.5, 6.25, 20, 10]
    assert [c["name"] for c in back["categories"]] == ["parachute", "debris"]
    assert src.read_bytes() == before


def test_convert_refuses_a_data_set_with_problems(tmp_path, capsys):
    src = write_coco(tmp_path / "src", [{"id": 1, "image_id": 5, "category_id": 1, "bbox": [1, 1, 2, 2]}])
    assert main(["convert", str(src), str(tmp_path / "out"), "--to", "yolo"]) == EXIT_USAGE
    assert "annotations[0]" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv,names", [
    (["label", "/no/such/dir", "--out", "{tmp}/o"], "/no/such/dir: missing"),
    (["label", str(SAMPLE.parent), "--out", "{tmp}/o", "--config", "/no/such.yaml"], "/no/such.yaml: config file not found"),
    (["check", "/no/such.json"], "/no/such.json: file: no such file or folder"),
    (["convert", "/no/such.json", "{tmp}/o", "--to", "yolo"], "/no/such.json"),
    (["train", "/no/such.json", "--out", "{tmp}/run"], "/no/such.json"),
    (["eval", "--gt", "/no/such.json", "--pred", "{tmp}"], "/no/such.json"),
])
def test_a_user_error_is_one_line_naming_the_path_with_exit_2(argv, names, tmp_path):
    debris = Path(sys.executable).parent / "debris"
    done = subprocess.run([str(debris), *(a.replace("{tmp}", str(tmp_path)) for a in argv)], capture_output=True, text=True)
    assert done.returncode == EXIT_USAGE
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0] and "Traceback" not in done.stderr, done.stderr


# --- every mistake of issue 14 through the real command line: one line, the right exit code ---

LOW_CONF = ["conf=0.005", "max_det=5"]  # an untrained network scores near its prior: a low conf makes it report boxes


def cli(*argv, check_rc: int | None = None, **kwargs) -> subprocess.CompletedProcess:
    """`debris ARGV` in a new process: this checkout's package, as the tests' python imports it."""
    env = {**os.environ, "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    env.pop("DEBRIS_DEBUG", None)
    done = subprocess.run([sys.executable, "-m", "debris.cli", *map(str, argv)], capture_output=True, text=True, env=env,
                          **kwargs)
    if check_rc is not None:
        assert done.returncode == check_rc, done.stderr
    return done


def one_line(done: subprocess.CompletedProcess, rc: int, text: str) -> str:
    lines = done.stderr.strip().splitlines()
    assert done.returncode == rc and len(lines) == 1 and text in lines[0] and "Traceback" not in done.stderr, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    return untrained_checkpoint(tmp_path_factory.mktemp("model") / "tiny.pt")


@pytest.fixture(scope="module")
def small_frames(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("frames")
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f"f{i}.png"), rng.integers(0, 256, (64, 96, 3), dtype=np.uint8))
    return folder


@pytest.fixture(scope="module")
def label_run(tmp_path_factory, model, small_frames) -> Path:
    """A label run of the small frames, made under umask 022, with every output format."""
    out = tmp_path_factory.mktemp("label") / "run"
    cli("label", small_frames, *LOW_CONF, "--model", model, "--out", out, "--save-overlays",
        "formats=[coco,yolo,csv,labelstudio]", check_rc=EXIT_OK, preexec_fn=lambda: os.umask(0o022))
    return out


@pytest.mark.parametrize("source", ["nope.png", "*.tif"])
def test_label_a_missing_frame_or_glob_is_one_line(source, small_frames, tmp_path):
    one_line(cli("label", small_frames / source, "--out", tmp_path / "o"), EXIT_USAGE, f"{source}: missing")


def test_debug_shows_the_traceback(small_frames, tmp_path):
    done = cli("label", small_frames / "nope.png", "--out", tmp_path / "o", "--debug")
    assert "Traceback" in done.stderr and "FrameError" in done.stderr


def test_out_naming_a_file_is_one_line(small_frames, tmp_path):
    (tmp_path / "file").touch()
    one_line(cli("label", small_frames, "--out", tmp_path / "file"), EXIT_USAGE, "file: is a file; --out needs a folder")


def test_settings_stand_anywhere_and_bare_ones_reach_their_section(label_run, small_frames, model, tmp_path):
    record = json.loads((label_run / "run.json").read_text())
    assert record["settings"]["conf"] == 0.005 and record["images"] == str(small_frames.resolve())
    cli("label", small_frames, "conf=0.5", "--out", tmp_path / "o", "--model", model, "classes=parachute",
        check_rc=EXIT_OK)
    settings = json.loads((tmp_path / "o" / "run.json").read_text())["settings"]
    assert settings["conf"] == 0.5 and settings["classes"] == ["parachute"]


@pytest.mark.parametrize("argv,usage,text", [
    (["label", "{frames}", "--out", "{tmp}/o", "--conf", "0.3"], "usage: debris label",
     "unrecognized arguments: --conf 0.3; settings are key=value: conf=0.3"),
    (["label", "{frames}", "--out", "{tmp}/o", "--con", "x.yaml"], "usage: debris label", "unrecognized arguments: --con"),
    (["train", "{frames}", "--out", "{tmp}/r", "--epochs", "2"], "usage: debris train", "settings are key=value: epochs=2"),
    (["synth", "--out", "{tmp}/s", "--n", "0"], "usage: debris synth", "expected a whole number above 0, got '0'"),
])
def test_options_are_never_abbreviated_and_errors_show_the_command_usage(argv, usage, text, small_frames, tmp_path):
    done = cli(*(a.replace("{frames}", str(small_frames)).replace("{tmp}", str(tmp_path)) for a in argv))
    assert done.returncode == EXIT_USAGE and done.stderr.startswith(usage) and text in done.stderr, done.stderr


@pytest.mark.parametrize("argv,text", [
    (["train", "{sample}", "--out", "{tmp}/r", "epoch=2"], "unknown setting 'epoch' in 'epoch=2'; did you mean epochs?"),
    (["label", "{frames}", "--out", "{tmp}/o", "cnf=0.2"], "did you mean conf?"),
    (["overlay", "{sample}", "conf=0.2"], "overlay takes no key=value settings"),
    (["label", "{frames_parent}", "--out", "{tmp}/o"], "its sub-folders hold some: add reader.recursive=true"),
    (["label", "{frames}", "--out", "{tmp}/o", "--model", "{frame}"], "f0.png: not a debris checkpoint, nor any PyTorch file"),
    (["overlay", "{sample}", "--out", "{tmp}/o", "--video", "{tmp}/v.gif"], "v.gif: unknown video suffix"),
    (["check", "{tmp}/nothere.json"], "nothere.json: file: no such file or folder"),
    (["train", "{empty}", "--out", "{tmp}/r"], "hold no boxes at all"),
    (["train", "--resume", "--out", "{tmp}/r"], "no run to resume (no last.pt)"),
    (["check", "{sample}", "--config", "{tmp}"], "is a folder; --config takes a YAML file"),
    (["synth", "--out", "/proc/no/such", "--n", "1"], "/proc/no: No such file or directory"),  # an OSError
])
def test_a_mistake_is_one_line_with_exit_2(argv, text, small_frames, tmp_path):
    empty = write_coco(tmp_path / "empty", [])
    (tmp_path / "empty" / "val.json").write_text(empty.read_text())
    empty.rename(tmp_path / "empty" / "train.json")
    values = {"{sample}": str(SAMPLE), "{frames_parent}": str(small_frames.parent), "{frames}": str(small_frames),
              "{frame}": str(small_frames / "f0.png"), "{empty}": str(tmp_path / "empty"), "{tmp}": str(tmp_path)}
    for key, value in values.items():
        argv = [a.replace(key, value) for a in argv]
    one_line(cli(*argv), EXIT_USAGE, text)


def test_version():
    done = cli("--version", check_rc=EXIT_OK)
    assert done.stdout.startswith("debris ")


def test_the_same_frame_given_twice_is_labelled_once(small_frames, model, tmp_path):
    done = cli("label", small_frames, small_frames / "f0.png", (small_frames / "f1.png").resolve(), "--model", model,
               "--out", tmp_path / "o", check_rc=EXIT_OK)
    assert "labelled 3 of 3 frames" in done.stdout


def test_a_label_run_is_a_data_set_the_other_commands_read(label_run, tmp_path):
    for source in (label_run, label_run / "predictions.coco.json"):
        done = cli("overlay", source, "--out", tmp_path / source.name, check_rc=EXIT_OK)
        assert "drew 3 of 3 frames" in done.stdout
    cli("convert", label_run, tmp_path / "yolo", "--to", "yolo", check_rc=EXIT_OK)
    assert cli("check", tmp_path / "yolo", check_rc=EXIT_OK).stdout.count("OK") == 1


def test_resume_with_other_outputs_is_refused_naming_them(label_run, small_frames, model):
    done = cli("label", small_frames, *LOW_CONF, "formats=[coco]", "--model", model, "--out", label_run, "--resume")
    line = one_line(done, EXIT_USAGE, "save_overlays (run: True, now: False)")
    assert "label.formats (run: ['coco', 'yolo', 'csv', 'labelstudio'], now: ['coco'])" in line


def test_label_outputs_honour_the_umask(label_run):
    modes = {p.relative_to(label_run).as_posix(): p.stat().st_mode & 0o777 for p in label_run.rglob("*") if p.is_file()}
    assert "overlays/f0.jpg" in modes and "predictions.coco.json" in modes
    assert set(modes.values()) == {0o644}, modes


def interrupt_when(done_path: Path, argv: list) -> subprocess.CompletedProcess:
    """Run `debris ARGV`, press Ctrl-C once `done_path` exists, and return the finished process."""
    # a suite started in the background of a non-interactive shell inherits SIGINT ignored, and so would
    # the child: Ctrl-C is what is tested, so the child gets the default disposition back
    process = subprocess.Popen([sys.executable, "-m", "debris.cli", *map(str, argv)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ},
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not done_path.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(argv, process.returncode, out, err)


def test_ctrl_c_in_label_exits_130_naming_the_resume_command(model, tmp_path):
    rng = np.random.default_rng(1)
    for i in range(60):
        cv2.imwrite(str(tmp_path / f"f{i:02d}.png"), rng.integers(0, 256, (256, 256, 3), dtype=np.uint8))
    out = tmp_path / "run"
    done = interrupt_when(out / "run.json", ["label", tmp_path, "--model", model, "--out", out])
    line = one_line(done, 130, "debris label: interrupted; resume with: debris label")
    assert line.endswith(f"--out {out} --resume")


TINY = ["model.width=0.25", "batch=4", "imgsz=128", "workers=0", "deterministic=true", "warmup_epochs=0.5",
        "max_det=50", "patience=100"]


@pytest.fixture(scope="module")
def train_data(tmp_path_factory) -> Path:
    """16 small generated frames: 12 train, 4 val."""
    from debris.config import load_config
    from debris.synth.generate import generate_dataset

    config = load_config(overrides=["synth.splits={train: 0.75, val: 0.25}", "synth.empty_fraction=0", "synth.camera=nav"])
    return generate_dataset(tmp_path_factory.mktemp("data") / "synth", n=16, seed=5, config=config, size=(128, 128))


def test_resume_extends_with_epochs_refuses_other_changes_and_says_when_finished(train_data, tmp_path):
    run = tmp_path / "run"
    cli("train", train_data, *TINY, "epochs=1", "--out", run, check_rc=EXIT_OK, preexec_fn=lambda: os.umask(0o022))
    modes = {p.name: p.stat().st_mode & 0o777 for p in run.iterdir() if p.is_file()}
    assert {"best.pt", "last.pt", "metrics.csv", "results.png"} <= set(modes) and set(modes.values()) == {0o644}, modes

    done = cli("train", "--resume", "--out", run)
    assert done.returncode == EXIT_OK and "the run has finished (1 of 1 epochs, done)" in done.stdout + done.stderr
    one_line(cli("train", "--resume", "--out", run, "lr=0.1", "epochs=2"), EXIT_USAGE,
             "train.lr=0.1 cannot change (only train.epochs can, to extend the run)")
    cli("train", "--resume", "--out", run, "epochs=2", check_rc=EXIT_OK)
    assert len((run / "metrics.csv").read_text().splitlines()) == 3  # header and two epochs


def test_ctrl_c_in_train_exits_130_naming_the_resume_command(train_data, tmp_path):
    run = tmp_path / "run"
    done = interrupt_when(run / "last.pt", ["train", train_data, *TINY, "epochs=50", "--out", run])
    one_line(done, 130, f"debris train: interrupted; resume with: debris train --resume --out {run}")


def write_gt(folder: Path, splits: dict[str, list[str]]) -> Path:
    """A COCO ground truth without boxes, one file per split, of 96x64 frames named as given."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, names in splits.items():
        images = [{"id": i + 1, "file_name": name, "width": 96, "height": 64} for i, name in enumerate(names)]
        categories = [{"id": i + 1, "name": name} for i, name in enumerate(CLASSES)]
        (folder / f"{split}.json").write_text(json.dumps({"images": images, "annotations": [], "categories": categories}))
    return folder


def test_eval_refuses_predictions_without_scores_unless_allowed(label_run, tmp_path):
    gt = write_gt(tmp_path / "gt", {"train": ["f0.png", "f1.png", "f2.png"]})
    one_line(cli("eval", "--gt", gt, "--pred", label_run / "labels"), EXIT_USAGE,
             "the predictions carry no confidences (every box scores 1")
    done = cli("eval", "--gt", gt, "--pred", label_run / "labels", "--allow-no-scores", check_rc=EXIT_OK)
    assert "warning: the predictions carry no confidences" in done.stderr


def test_eval_names_frames_without_predictions_and_leaves_them_out_of_false_alarms(label_run, tmp_path):
    gt = write_gt(tmp_path / "gt", {"train": ["f0.png", "f1.png", "f2.png"], "test": [f"g{i}.png" for i in range(4)]})
    done = cli("eval", "--gt", gt, "--pred", label_run, "--out", tmp_path / "report", check_rc=EXIT_OK)
    assert "4 of 7 ground-truth frames have no predictions" in done.stderr and "g0.png" in done.stderr
    assert "--split NAME" in done.stderr
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    assert report["settings"]["frames_without_predictions"] == [f"g{i}.png" for i in range(4)]
    assert report["false_alarms_per_mp"]["frames"] == 3
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "report").iterdir()} == {0o666 & ~current_umask()}


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_overlay_with_no_frame_found_hints_at_images(tmp_path):
    labels = write_coco(tmp_path / "elsewhere", [])
    (tmp_path / "elsewhere" / "a.png").unlink()
    done = cli("overlay", labels, "--out", tmp_path / "o")
    assert done.returncode == EXIT_PROBLEMS and "pass --images DIR" in done.stderr.splitlines()[-1], done.stderr
