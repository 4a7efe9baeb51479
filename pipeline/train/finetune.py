"""Fine-tuning: starting a run from a checkpoint's weights (`debris train --weights`), frozen parts, synth mix.

Classes are matched by name, as a user's annotations rarely list them in the checkpoint's order:
a class the checkpoint knows keeps its row of the prediction layer, a class it does not know gets
the fresh row the network was built with, and a checkpoint class the data set lacks is dropped.
Every other weight (backbone, neck, head convolutions, box regression) is copied as it is.

A checkpoint can also be widened (`model.width` above its own): each layer's channels go first in the
wider layer and the new input channels of every old channel start at zero weight, so the wider
network computes exactly what the checkpoint did (Net2Net's function-preserving widening, Chen et al.
2016) and training adds capacity without starting over. The new channels start from the network's
random initialisation and learn from the first step.

`train.freeze` keeps parts of the network fixed; `train.synth_mix` fills a share of every batch
with frames the data engine renders on the fly, so a small data set that shows a few classes does
not teach the model that the others never occur.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from debris.config import Config, ConfigError, FreezePart
from debris.io.checkpoint import Checkpoint
from debris.labels import Dataset, ImageLabels
from debris.models.detector import DetectorNet
from debris.synth.hardware import CLASS_NAMES

BOX_VALUES = 4  # the prediction layer's first rows: box values; then one row per class


@dataclass(frozen=True)
class Transfer:
    """Which classes kept the checkpoint's weights, which start fresh, and which were dropped."""

    kept: list[str]
    new: list[str]
    dropped: list[str]

    def __str__(self) -> str:
        return (f"classes from the checkpoint: {', '.join(self.kept) or 'none'}; new: {', '.join(self.new) or 'none'}; "
                f"dropped: {', '.join(self.dropped) or 'none'}")


def load_weights(net: DetectorNet, parent: Checkpoint, classes: list[str]) -> Transfer:
    """Copy `parent`'s weights into `net` (built for `classes`, at the parent's width or wider), class rows matched by name."""
    own = net.state_dict()
    widened = widen(parent.state_dict, own)
    state = {k: v for k, v in widened.items() if not k.startswith("pred.")}
    old = {name: i for i, name in enumerate(parent.classes)}
    weight, bias = own["pred.weight"].clone(), own["pred.bias"].clone()
    weight[:BOX_VALUES], bias[:BOX_VALUES] = widened["pred.weight"][:BOX_VALUES], widened["pred.bias"][:BOX_VALUES]
    for i, name in enumerate(classes):
        if name in old:
            weight[BOX_VALUES + i] = widened["pred.weight"][BOX_VALUES + old[name]]
            bias[BOX_VALUES + i] = widened["pred.bias"][BOX_VALUES + old[name]]
    net.load_state_dict({**state, "pred.weight": weight, "pred.bias": bias})
    return Transfer(kept=[c for c in classes if c in old], new=[c for c in classes if c not in old],
                    dropped=[c for c in parent.classes if c not in classes])


def widen(old: dict[str, torch.Tensor], new: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """`old` (a DetectorNet state dict) at the widths of `new` (a wider DetectorNet's own, freshly initialised).

    A weight's old output channels (dim 0) and input channels (dim 1 of a convolution) keep their
    values in the wider tensor; old output channels read zero from the new input channels; everything
    new keeps `new`'s initialisation. A CSP block splits its channels into halves and concatenates
    them again, so there the old channels sit at the start of each half, where the halves are cut.
    The pred layer's rows are box values and classes, not channels: only its inputs widen, and its
    rows stay the checkpoint's (load_weights matches the classes by name).
    """
    out = {}
    for key, value in old.items():
        target = new[key]
        if key.startswith("pred."):
            target = target.new_zeros((value.shape[0], *target.shape[1:]))
        if value.shape == target.shape:
            out[key] = value.clone()
            continue
        wide = target.clone()
        rows = _channels(value.shape[0], target.shape[0], halves=".split." in key)
        if value.ndim == 1:  # BatchNorm weight, bias and running statistics
            wide[rows] = value
        else:  # a convolution: (out, in, k, k)
            cols = _channels(value.shape[1], target.shape[1], halves=".merge." in key)
            wide[rows] = 0.0  # the old channels' rows read nothing from the new inputs ...
            wide[rows[:, None], cols] = value  # ... and what they read before from the old ones
        out[key] = wide
    return out


def _channels(old: int, new: int, halves: bool) -> torch.Tensor:
    """(old,) where each of `old` channels lies among `new`: the first ones, or the first of each half."""
    if not halves:
        return torch.arange(old)
    return torch.cat([torch.arange(old // 2), new // 2 + torch.arange(old // 2)])


# train.freeze names -> DetectorNet's top-level modules; `pred` (box values and class logits) is in none
PARTS: dict[FreezePart, tuple[str, ...]] = {
    "backbone": ("stem", "s4", "s8", "s16", "s32"),
    "neck": ("lateral", "down64"),
    "head": ("head", "head_bn"),
}


def freeze(net: DetectorNet, parts: list[FreezePart]) -> None:
    """Keep `parts` fixed: no gradients, so the optimizer (built from the trainable parameters) never sees them."""
    for part in parts:
        for name in PARTS[part]:
            getattr(net, name).requires_grad_(False)


def train_mode(net: DetectorNet, parts: list[FreezePart]) -> None:
    """net.train(), except that the frozen parts stay in eval mode.

    In train mode BatchNorm normalises by the batch's statistics and updates its running ones, gradients
    or not: a frozen backbone would still drift to the statistics of a few dozen user frames (and of
    small, noisy batches), which is the forgetting freezing is meant to prevent. In eval mode it keeps
    the checkpoint's statistics, so a frozen part computes exactly what it did in the checkpoint.
    """
    net.train()
    for part in parts:
        for name in PARTS[part]:
            getattr(net, name).eval()


def engine_classes(dataset: Dataset, config: Config) -> Dataset:
    """`dataset` with the engine's classes (config.classes), its class ids remapped by name, for train.synth_mix.

    Mixed batches need one class list: the engine draws config.classes, so the data set's classes must
    all be among them; the engine's other classes are what the mix keeps the model from forgetting.
    """
    undrawable = [name for name in config.classes if name not in CLASS_NAMES]
    if undrawable:
        raise ConfigError(f"train.synth_mix: the data engine cannot draw classes {undrawable} of the config's `classes`; "
                          f"it draws {list(CLASS_NAMES)}")
    missing = [name for name in dataset.classes if name not in config.classes]
    if missing:
        raise ConfigError(f"{dataset.root}: train.synth_mix: the data set's classes {missing} are not among the data "
                          f"engine's {config.classes} (the config's `classes`); rename them, or train with train.synth_mix=0")
    new_id = np.array([config.classes.index(name) for name in dataset.classes], np.int64)

    def remap(image: ImageLabels) -> ImageLabels:
        labels = dataclasses.replace(image.labels, class_ids=new_id[image.labels.class_ids])
        return dataclasses.replace(image, labels=labels)

    splits = {split: [remap(image) for image in images] for split, images in dataset.splits.items()}
    return dataclasses.replace(dataset, classes=list(config.classes), splits=splits)


def engine_boxes(config: Config, frames: int) -> np.ndarray:
    """Expected boxes per class of config.classes in `frames` engine frames, for the auto class weights.

    An estimate from the engine's settings (non-empty share x mean objects per frame x each class's
    draw share): the frames are rendered during training, after the weights are set. It overcounts the
    classes the engine draws once per frame at most, which only softens their weight a little.
    """
    synth = config.synth
    draw = np.array([synth.class_weights.get(name, 1.0) for name in config.classes])
    per_frame = (1 - synth.empty_fraction) * np.mean(synth.objects_per_frame)
    return frames * per_frame * draw / draw.sum()


@dataclass(frozen=True)
class Mix:
    """How each batch is shared between the data set's frames and the engine's (train.synth_mix)."""

    user: int  # data set frames per batch
    engine: int  # engine frames per batch
    steps: int  # batches per epoch: one pass over the data set's training frames

    @classmethod
    def plan(cls, frames: int, batch: int, synth_mix: float) -> Mix:
        """frames: training frames of the data set (or rendered per epoch, for synth:N)."""
        engine = round(batch * synth_mix)  # the config check keeps 0 < engine < batch when synth_mix > 0
        if frames < batch - engine:  # batches are whole: an epoch would have no step, and the run would learn nothing
            raise ConfigError(f"{frames} training frames make no batch of {batch - engine} "
                              f"(train.batch {batch}{f', train.synth_mix {synth_mix}' if engine else ''}); lower train.batch")
        return cls(user=batch - engine, engine=engine, steps=frames // (batch - engine))


class MixedFrames(torch.utils.data.Dataset):
    """The data set's training crops (indices below len(user)), then the engine's (`engine`, e.g. SynthFrames).

    `batches()` gives each epoch's batches: the data set's frames shuffled from (seed, epoch), each batch
    completed by the next engine frames, so engine frame i of epoch e is drawn from (seed, e, i).
    """

    def __init__(self, user: torch.utils.data.Dataset, engine: torch.utils.data.Dataset, mix: Mix, seed: int):
        self.user, self.engine, self.mix, self.seed = user, engine, mix, seed
        self._epoch = 0

    @property
    def epoch(self) -> int:
        return self._epoch

    @epoch.setter
    def epoch(self, epoch: int) -> None:  # both draw their crops from the epoch
        self._epoch = self.user.epoch = self.engine.epoch = epoch

    def __len__(self) -> int:
        return len(self.user) + self.mix.steps * self.mix.engine

    def __getitem__(self, i: int) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        return self.user[i] if i < len(self.user) else self.engine[i - len(self.user)]

    def batches(self) -> list[list[int]]:
        """This epoch's batches of indices: `mix.user` shuffled data set frames, then `mix.engine` engine frames."""
        order = torch.randperm(len(self.user), generator=torch.Generator().manual_seed(self.seed * 1000 + self._epoch)).tolist()
        user, engine, n = self.mix.user, self.mix.engine, len(self.user)
        return [order[b * user:(b + 1) * user] + [n + b * engine + j for j in range(engine)] for b in range(self.mix.steps)]
