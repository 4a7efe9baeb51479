"""Fine-tuning: a run starts from a checkpoint's weights, classes matched by name, and says so."""

from __future__ import annotations

import pytest
import torch

from debris.cli import EXIT_OK, main
from debris.config import load_config
from debris.io.checkpoint import Checkpoint, file_sha256
from debris.models.detector import DetectorNet
from debris.synth.generate import generate_dataset
from debris.train.finetune import BOX_VALUES, load_weights

TINY = ["model.width=0.25", "train.batch=4", "train.imgsz=128", "train.workers=0", "train.deterministic=true",
        "train.warmup_epochs=0.5", "train.lr=0.003", "train.max_det=50", "synth.splits={train: 0.75, val: 0.25}",
        "synth.empty_fraction=0", "train.bf16=false"]


def checkpoint(classes: list[str], seed: int) -> Checkpoint:
    torch.manual_seed(seed)
    net = DetectorNet(len(classes), 0.25)
    for p in net.parameters():  # weights no fresh network would have
        p.data.normal_()
    return Checkpoint(model={"num_classes": len(classes), "width": 0.25}, classes=classes,
                      preprocess=[{"name": "percentile_stretch", "low": 0.5, "high": 99.5}], state_dict=net.state_dict())


def test_a_class_the_checkpoint_knows_keeps_its_rows_bit_for_bit():
    parent = checkpoint(["a", "b"], seed=1)
    torch.manual_seed(2)
    net = DetectorNet(2, 0.25)
    fresh = {k: v.clone() for k, v in net.state_dict().items()}
    transfer = load_weights(net, parent, ["b", "c"])
    assert (transfer.kept, transfer.new, transfer.dropped) == (["b"], ["c"], ["a"])
    state, old = net.state_dict(), parent.state_dict
    for key in ("pred.weight", "pred.bias"):
        assert torch.equal(state[key][:BOX_VALUES], old[key][:BOX_VALUES])
        assert torch.equal(state[key][BOX_VALUES + 0], old[key][BOX_VALUES + 1])  # b: row 1 of the checkpoint -> row 0
        assert torch.equal(state[key][BOX_VALUES + 1], fresh[key][BOX_VALUES + 1])  # c: as the network was built
    for key in old:
        if not key.startswith("pred."):
            assert torch.equal(state[key], old[key]), key


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    out = tmp_path_factory.mktemp("data") / "synth"
    return generate_dataset(out, n=16, seed=5, config=load_config(overrides=TINY + ["synth.camera=nav"]), size=(160, 160))


def first_loss(run) -> float:
    import csv

    return float(next(csv.DictReader((run / "metrics.csv").open()))["train_loss"])


def test_fine_tuning_starts_below_scratch_and_records_its_parent(data, tmp_path, capsys):
    args = [*TINY, "train.epochs=2", "train.patience=100"]
    assert main(["train", str(data), "--out", str(tmp_path / "scratch"), *args]) == EXIT_OK
    capsys.readouterr()
    parent = tmp_path / "scratch" / "last.pt"
    assert main(["train", str(data), "--out", str(tmp_path / "tuned"), "--weights", str(parent), *args]) == EXIT_OK
    assert "classes from the checkpoint: parachute, backshell, heat_shield, descent_stage, debris" in capsys.readouterr().out
    assert first_loss(tmp_path / "tuned") < first_loss(tmp_path / "scratch")
    best = Checkpoint.load(tmp_path / "tuned" / "best.pt")
    assert best.parent == {"path": str(parent), "sha256": file_sha256(parent)}
    # last.pt carries it too: --resume reads the parent from there
    assert Checkpoint.load(tmp_path / "tuned" / "last.pt").parent == best.parent
