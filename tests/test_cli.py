import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from debris.cli import EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, main

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
