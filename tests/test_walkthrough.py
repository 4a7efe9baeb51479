"""The README's "Retraining on your own frames": every command it shows runs, in order, at a tiny size.

The commands are read from the README itself, so the walkthrough cannot drift from what runs. The
sample frames stand in for a flight, the Label Studio exports made from them on a real server
(tests/fixtures/labelstudio/) for the user's corrections, and an untrained width-0.25 checkpoint for
the shipped one; training gets a tiny size on top of the recipe.
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path

from debris.cli import EXIT_OK, main
from tests.builders import untrained_checkpoint

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "labelstudio"
TINY_TRAIN = ["train.epochs=1", "train.imgsz=128", "train.batch=2"]  # 4 corrected frames: 3 to train on, 1 to validate


def walkthrough_commands() -> list[list[str]]:
    """The `debris` commands of the README section, in order, split as a shell would."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Retraining on your own frames", 1)[1].split("\n## ", 1)[0]
    blocks = [block.split("```", 1)[0] for block in section.split("```bash\n")[1:]]
    return [shlex.split(line) for block in blocks for line in block.splitlines() if line.startswith("debris ")]


def test_the_walkthrough_runs_in_order(tmp_path, monkeypatch):
    samples = REPO / "data" / "samples"
    (tmp_path / "flight26").mkdir()
    for image in samples.glob("*.*g"):  # the five frames, not their ground truth
        shutil.copy(image, tmp_path / "flight26" / image.name)
    (tmp_path / "flight27").mkdir()
    for name in ("nav_000001.png", "nav_000007.png"):
        shutil.copy(samples / name, tmp_path / "flight27" / name)
    untrained_checkpoint(tmp_path / "models" / "weights" / "debris.pt")
    (tmp_path / "configs").mkdir()
    shutil.copy(REPO / "configs" / "finetune.yaml", tmp_path / "configs" / "finetune.yaml")
    shutil.copy(FIXTURES / "export_json.json", tmp_path / "flight26-export.json")  # 4 annotated frames, 1 skipped
    shutil.copy(FIXTURES / "export_json_min.json", tmp_path / "test-export.json")
    monkeypatch.chdir(tmp_path)

    # what each command writes, and the next step reads
    writes = ["outputs/flight26/frames/nav_000001.json", "outputs/flight26/review.labelstudio.json",
              "flight26_corrected/data.yaml", "flight26_test/data.yaml", "outputs/eval_before/report.json",
              "runs/flight26/last.pt", "outputs/eval_after/report.json", "outputs/flight27/frames/nav_000001.json",
              "outputs/flight27/review.labelstudio.json"]
    commands = walkthrough_commands()
    assert [argv[1] for argv in commands] == ["label", "review", "convert", "convert", "eval", "train", "eval", "label", "review"]
    for argv, output in zip(commands, writes, strict=True):
        args = argv[1:] + (TINY_TRAIN if argv[1] == "train" else [])
        assert main(args) == EXIT_OK, shlex.join(argv)
        assert (tmp_path / output).is_file(), f"{shlex.join(argv)} did not write {output}"
