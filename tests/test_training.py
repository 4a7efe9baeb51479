"""Training end to end at a tiny size: loss falls, resume is exact, checkpoints are safe, formats agree."""

import csv
import pickle
import time

import numpy as np
import pytest
import torch

from debris.models.detector import DetectorNet
from debris.models.loss import DetectionLoss
from debris.train import loop as training
from debris.train.augment import AugmentConfig
from debris.io.checkpoint import Checkpoint, CheckpointError
from debris.preprocess import parse_stages
from debris.cli import EXIT_OK, main
from debris.config import load_config
from debris.formats.dataset import load_dataset, save_dataset
from debris.synth.generate import generate_dataset

TINY = ["model.width=0.25", "train.batch=4", "train.imgsz=128", "train.workers=0", "train.deterministic=true",
        "train.warmup_epochs=0.5", "train.lr=0.003", "train.max_det=50", "synth.splits={train: 0.75, val: 0.25}",
        "synth.empty_fraction=0"]


@pytest.fixture(scope="module")
def frames(tmp_path_factory):
    """16 small generated frames: 12 train, 4 val."""
    out = tmp_path_factory.mktemp("data") / "synth"
    return generate_dataset(out, n=16, seed=5, config=load_config(overrides=TINY + ["synth.camera=nav"]), size=(160, 160))


def losses(run) -> list[float]:
    return [float(row["train_loss"]) for row in csv.DictReader((run / "metrics.csv").open())]


def test_tiny_training_run_loss_falls_and_writes_its_files(frames, tmp_path):
    config = load_config(overrides=TINY + ["train.epochs=16", "train.lr=0.01", "train.patience=100"])
    best = training.train(config, frames, tmp_path / "run")
    history = losses(tmp_path / "run")
    assert len(history) == 16 and np.mean(history[-3:]) < 0.93 * np.mean(history[:3])
    for name in ("last.pt", "best.pt", "metrics.csv", "results.png"):
        assert (tmp_path / "run" / name).stat().st_size > 0
    state = Checkpoint.load(best)
    assert state.classes == load_dataset(frames).classes
    assert parse_stages(state.preprocess) == config.preprocess and state.model["width"] == 0.25
    assert "mAP50-95" in state.metrics and state.train_state is None


def test_resumed_run_ends_with_the_same_weights(frames, tmp_path, monkeypatch):
    config = load_config(overrides=TINY + ["train.epochs=2"])
    training.train(config, frames, tmp_path / "straight")

    real_plot, calls = training.plot_metrics, []

    def killed_after_first_epoch(*args):
        real_plot(*args)
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C right after last.pt was written

    monkeypatch.setattr(training, "plot_metrics", killed_after_first_epoch)
    with pytest.raises(KeyboardInterrupt):
        training.train(config, frames, tmp_path / "resumed")
    assert main(["train", "--resume", "--out", str(tmp_path / "resumed")]) == EXIT_OK

    straight, resumed = (Checkpoint.load(tmp_path / run / "last.pt") for run in ("straight", "resumed"))
    for key, tensor in straight.state_dict.items():
        assert torch.equal(tensor, resumed.state_dict[key]), key
    for key, tensor in straight.train_state["model"].items():
        assert torch.equal(tensor, resumed.train_state["model"][key]), key
    assert losses(tmp_path / "straight") == losses(tmp_path / "resumed")


def test_the_time_limit_counts_the_time_spent_saving(frames, tmp_path, monkeypatch):
    real_plot = training.plot_metrics

    def slow_bookkeeping(*args):  # checkpoints and plot after an epoch, as slow as on a busy disk
        real_plot(*args)
        time.sleep(2.0)

    monkeypatch.setattr(training, "plot_metrics", slow_bookkeeping)
    config = load_config(overrides=TINY + ["train.epochs=50", "train.patience=100", "train.time_limit_min=0.1"])
    training.train(config, frames, tmp_path / "run")
    # 6 s hold at most three epochs of >= 2 s each; counting only training and validation (well under a
    # second an epoch at this size) planned ten or more
    assert len(losses(tmp_path / "run")) <= 4


def test_new_run_refuses_to_overwrite_a_run(frames, tmp_path, capsys):
    (tmp_path / "run").mkdir()
    Checkpoint(model={}, classes=[], preprocess=[], state_dict={}).save(tmp_path / "run" / "last.pt")
    assert main(["train", str(frames), "--out", str(tmp_path / "run")] + TINY) == 2
    assert "--resume" in capsys.readouterr().err


class Payload:
    def __reduce__(self):
        return (print, ("this ran while loading",))


def test_checkpoint_with_a_pickled_object_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "debris-checkpoint", "version": 1, "payload": Payload()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        Checkpoint.load(path)


def test_files_that_are_not_checkpoints_are_named_and_explained(tmp_path):
    (tmp_path / "text.pt").write_text("hello")
    torch.save({"weights": torch.zeros(2)}, tmp_path / "other.pt")
    torch.save({"format": "debris-checkpoint", "version": 99}, tmp_path / "future.pt")
    (tmp_path / "pickle.pt").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="text.pt: not a debris checkpoint"):
        Checkpoint.load(tmp_path / "text.pt")
    with pytest.raises(CheckpointError, match="no 'debris-checkpoint' format tag"):
        Checkpoint.load(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        Checkpoint.load(tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        Checkpoint.load(tmp_path / "absent.pt")


def first_batch_loss(data) -> float:
    dataset = load_dataset(data)
    train_images, _ = training.split_data(dataset)
    frames = training.Frames(dataset.root, train_images, load_config().preprocess, AugmentConfig(size=128), seed=0)
    images, targets = training.collate([frames[i] for i in range(4)])
    torch.manual_seed(0)
    model = DetectorNet(len(dataset.classes), 0.25)
    criterion = DetectionLoss(len(dataset.classes), model.strides)
    return criterion(model(images), targets, image_size=(128, 128))["loss"].item()


def test_yolo_and_coco_copies_of_a_data_set_give_the_same_first_batch_loss(frames, tmp_path):
    yolo = save_dataset(load_dataset(frames), tmp_path / "yolo", "yolo")
    assert first_batch_loss(yolo) == pytest.approx(first_batch_loss(frames), rel=1e-4)


def test_class_weights_favour_rare_classes(frames):
    dataset = load_dataset(frames)
    images = dataset.splits["train"]
    weights = training.class_weights(load_config(), dataset, images)
    counts = np.bincount(np.concatenate([im.labels.class_ids for im in images]), minlength=len(dataset.classes))
    present = np.flatnonzero(counts)
    rare, common = present[np.argmin(counts[present])], present[np.argmax(counts[present])]
    assert weights[rare] >= weights[common]
    assert weights[present].mean().item() == pytest.approx(1.0)


SMALL_FRAMES = ["synth.sizes={rte: [160, 120], nav: [160, 120], orbital: [128, 128]}"]


def test_training_on_frames_rendered_on_the_fly(tmp_path):
    config = load_config(overrides=TINY + SMALL_FRAMES + ["train.epochs=2", "train.bf16=false"])
    best = training.train(config, "synth:8", tmp_path / "run")
    assert len(losses(tmp_path / "run")) == 2 and all(np.isfinite(losses(tmp_path / "run")))
    assert Checkpoint.load(best).data == "synth:8"
    assert len(load_dataset(tmp_path / "run" / "synth_val").splits["val"]) == 50
    # frame i of epoch e is the same whoever renders it, and epochs differ
    dataset = training.SynthFrames(8, config, AugmentConfig(size=128), seed=0)
    first = dataset[3][0]
    np.testing.assert_array_equal(first, training.SynthFrames(8, config, AugmentConfig(size=128), seed=0)[3][0])
    dataset.epoch = 1
    assert not np.array_equal(first, dataset[3][0])


@pytest.mark.parametrize("data", ["synth:0", "synth:many"])
def test_bad_on_the_fly_data_is_refused(data, tmp_path):
    with pytest.raises(training.ConfigError, match="synth:N"):
        training.train(load_config(overrides=TINY), data, tmp_path / "run")
