"""Fine-tuning: a run starts from a checkpoint's weights, classes matched by name; frozen parts; the synth mix."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from debris.cli import EXIT_OK, main
from debris.config import ConfigError, load_config
from debris.detections import Detections
from debris.formats.dataset import load_dataset, save_dataset
from debris.io.checkpoint import Checkpoint, file_sha256
from debris.labels import Dataset
from debris.models.detector import DetectorNet
from debris.synth.generate import generate_dataset
from debris.train import loop as training_loop
from debris.train.finetune import BOX_VALUES, PARTS, Mix, freeze, load_weights
from debris.train.loop import train
from tests.builders import untrained_checkpoint

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


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_a_widened_checkpoint_computes_what_it_did(mode):
    parent = checkpoint(["a", "b"], seed=3)
    for key, value in parent.state_dict.items():  # BatchNorm statistics no fresh network has
        if key.endswith("running_var"):
            value.uniform_(0.5, 2.0)
    small = DetectorNet(2, 0.25)
    small.load_state_dict(parent.state_dict)
    torch.manual_seed(4)
    wide = DetectorNet(1, 0.5)
    load_weights(wide, parent, ["b"])  # a class dropped as the network widens
    assert sum(p.numel() for p in wide.parameters()) > 2 * sum(p.numel() for p in small.parameters())
    images = torch.rand(2, 3, 64, 96)
    getattr(small, mode)(), getattr(wide, mode)()
    with torch.no_grad():
        expected, got = small(images)[..., [*range(BOX_VALUES), BOX_VALUES + 1]], wide(images)
    assert torch.allclose(got, expected, rtol=1e-4, atol=1e-4 * expected.abs().max().item())
    # and the new channels are there to learn: one step moves the output
    wide.train()
    wide(images).square().mean().backward()
    assert wide.head.weight.grad[:, -1].abs().sum() > 0


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


def test_every_weight_is_in_one_freezable_part_or_the_prediction_layer():
    owner = {name: part for part, names in PARTS.items() for name in names}
    assert sum(len(names) for names in PARTS.values()) == len(owner)  # no module in two parts
    for key in DetectorNet(5, 0.25).state_dict():
        assert key.split(".")[0] in owner or key.startswith("pred."), key


def test_an_unknown_part_is_refused_at_load():
    with pytest.raises(ConfigError, match=r"train\.freeze\.0.*'backbone', 'neck' or 'head'"):
        load_config(overrides=["train.freeze=[pred]"])


def test_a_frozen_backbone_is_the_checkpoints_bit_for_bit_after_training(data, tmp_path):
    parent = untrained_checkpoint(tmp_path / "parent.pt")
    # 12 training frames in batches of 6: two steps
    args = [*TINY, "train.batch=6", "train.epochs=1", "train.freeze=[backbone]"]
    assert main(["train", str(data), "--out", str(tmp_path / "run"), "--weights", str(parent), *args]) == EXIT_OK
    start, last = Checkpoint.load(parent).state_dict, Checkpoint.load(tmp_path / "run" / "last.pt")
    for weights in (last.state_dict, last.train_state["model"]):  # the saved EMA and the raw weights
        for key, tensor in start.items():
            part = key.split(".")[0]
            if part in PARTS["backbone"]:  # BatchNorm statistics included: frozen BatchNorms stay in eval mode
                assert torch.equal(weights[key], tensor), key
            elif part in PARTS["head"] and key.endswith("weight"):
                assert not torch.equal(weights[key], tensor), key
    backbone = sum(p.numel() for name in PARTS["backbone"] for p in getattr(DetectorNet(5, 0.25), name).parameters())
    in_optimizer = sum(len(group["params"]) for group in last.train_state["optimizer"]["param_groups"])
    net = DetectorNet(5, 0.25)
    freeze(net, ["backbone"])
    assert backbone > 0 and in_optimizer == sum(p.requires_grad for p in net.parameters()) < len(list(net.parameters()))


SMALL_FRAMES = ["synth.sizes={rte: [160, 120], nav: [160, 120], orbital: [128, 128]}"]


def one_class(data, out, classes: list[str]):
    """`data` with only its parachute boxes, as a YOLO set of `classes` (parachute first)."""
    dataset = load_dataset(data)
    keep = dataset.classes.index("parachute")

    def parachutes(image):
        mask = image.labels.class_ids == keep
        labels = Detections(image.labels.xyxy[mask], image.labels.scores[mask], np.zeros(int(mask.sum())))
        return dataclasses.replace(image, labels=labels)

    splits = {split: [parachutes(image) for image in images] for split, images in dataset.splits.items()}
    return save_dataset(Dataset(dataset.root, classes, splits), out, "yolo")


def test_synth_mix_brings_the_other_classes_into_every_batch_the_same_for_a_seed(data, tmp_path, monkeypatch):
    yolo = one_class(data, tmp_path / "parachutes", ["parachute"])
    config = load_config(overrides=[*TINY, *SMALL_FRAMES, "train.epochs=1", "train.synth_mix=0.5"])
    runs, collate = [], training_loop.collate

    def recording(batch):
        runs[-1].append(batch)
        return collate(batch)

    monkeypatch.setattr(training_loop, "collate", recording)
    for name in ("a", "b"):
        runs.append([])
        best = train(config, yolo, tmp_path / name)
    assert Checkpoint.load(best).classes == config.classes  # the engine's classes, the data set's mapped by name
    a, b = runs
    assert len(a) == 12 // 2  # one pass over the 12 training frames, 2 of them per batch of 4
    labels = [target["labels"] for batch in a for _, target in batch]
    assert len(set(torch.cat(labels).tolist()) - {config.classes.index("parachute")}) >= 2
    for batch_a, batch_b in zip(a, b, strict=True):
        for (image_a, target_a), (image_b, target_b) in zip(batch_a, batch_b, strict=True):
            np.testing.assert_array_equal(image_a, image_b)
            assert torch.equal(target_a["boxes"], target_b["boxes"]) and torch.equal(target_a["labels"], target_b["labels"])


def test_synth_mix_refuses_a_class_the_engine_does_not_draw(data, tmp_path):
    yolo = one_class(data, tmp_path / "rovers", ["parachute", "rover"])
    config = load_config(overrides=[*TINY, "train.synth_mix=0.5"])
    with pytest.raises(ConfigError, match=r"classes \['rover'\] are not among the data engine's"):
        train(config, yolo, tmp_path / "run")


def test_synth_mix_must_be_whole_frames_of_a_batch():
    with pytest.raises(ConfigError, match="synth_mix 0.1 of a batch of 4 is 0 engine frames"):
        load_config(overrides=["train.batch=4", "train.synth_mix=0.1"])


def test_a_data_set_smaller_than_a_batch_is_refused():
    with pytest.raises(ConfigError, match=r"3 training frames make no batch of 4 \(train.batch 8, train.synth_mix 0.5\)"):
        Mix.plan(3, 8, 0.5)
    assert Mix.plan(12, 4, 0.5) == Mix(user=2, engine=2, steps=6)
