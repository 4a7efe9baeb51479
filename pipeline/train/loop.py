"""Training: the loop behind `train.py` and `debris train`.

Frames go through the same reader and preprocessing stages as labelling, then augmentation, then
the detector and its loss. AdamW with linear warm-up and cosine decay; an EMA of the weights is
what gets evaluated (COCO mAP, pycocotools) and saved. Every epoch writes `last.pt` (everything to
resume), `best.pt` when val mAP50-95 improves (always after the first epoch), a row of `metrics.csv`
and `results.png`. A data set without val frames, or without a single box, is refused before
training: best.pt is chosen by val mAP, and a detector cannot learn from no examples. The data
order and every augmentation are drawn from (seed, epoch, frame), so a resumed run repeats the
uninterrupted one exactly (bit for bit on CPU in deterministic mode); that is also why no RNG
state needs saving: nothing random is drawn from a global generator after the model's init.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel
from tqdm import tqdm

from debris.models.detector import DetectorNet
from debris.models.loss import DetectionLoss
from debris.train.augment import AugmentConfig, augment
from debris.io.checkpoint import Checkpoint, file_sha256
from debris.config import Config, ConfigError
from debris.configs import CONFIG_DIR
from debris.formats.dataset import load_dataset
from debris.labels import Dataset, ImageLabels
from debris.eval.coco_eval import Evaluation, evaluate
from debris.infer.detector import Detector, to_tensor, use_bf16
from debris.preprocess import Stage, parse_stages, preprocess, stage_records
from debris.io.reader import decode_image, read_frame, to_rgb8
from debris.train.finetune import Mix, MixedFrames, engine_boxes, engine_classes, freeze, load_weights, train_mode
from debris.train.style import load_styles
from debris.synth.generate import frame_job, generate_dataset, render_file

SYNTH_PREFIX = "synth:"  # DATA = synth:N trains on frames rendered on the fly
METRICS = ["epoch", "train_loss", "lr", "mAP50-95", "mAP50", "mAP_small", "seconds"]


class Frames(torch.utils.data.Dataset):
    """Training crops: frame i of epoch e is augmented with rng (seed, e, i), whichever process loads it."""

    def __init__(self, root: Path, images: list[ImageLabels], stages: list[Stage], aug: AugmentConfig, seed: int,
                 cache: bool = False):
        self.root, self.images, self.stages, self.aug, self.seed = root, images, stages, aug, seed
        self.epoch = 0
        # decoding and preprocessing cost ~6x the augmentation of a frame: do them once
        self.cache = [self._load(i) for i in tqdm(range(len(images)), desc="caching frames", disable=None)] if cache else None

    def _load(self, i: int) -> np.ndarray:
        return preprocess(read_frame(self.root / self.images[i].file_name).image, self.stages)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        image = self.cache[i] if self.cache is not None else self._load(i)
        image, labels = augment(image, self.images[i].labels, np.random.default_rng([self.seed, self.epoch, i]), self.aug)
        return image, {"boxes": torch.from_numpy(labels.xyxy), "labels": torch.from_numpy(labels.class_ids)}


class SynthFrames(torch.utils.data.Dataset):
    """Training crops of frames the data engine renders on the fly: `n` new frames every epoch.

    Frame i of epoch e is drawn from (seed, e, i), whichever process renders it, so a resumed run
    sees the same frames. Each frame is encoded as `debris synth` would write it (JPEG or PNG) and
    decoded by the reader, then preprocessed and augmented like a frame read from disk. Rendering
    costs 50-300 ms a frame, so this pays off with several `train.workers`; on 2 cores, rendering a
    data set once with `debris synth` and training on it is faster.
    """

    def __init__(self, n: int, config: Config, aug: AugmentConfig, seed: int):
        self.n, self.config, self.aug, self.seed = n, config, aug, seed
        self.epoch = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[np.ndarray, dict[str, torch.Tensor]]:
        job = frame_job([self.seed, self.epoch, i], i, "train", self.config)
        data, item, _ = render_file(job, self.config)
        image = preprocess(to_rgb8(decode_image(np.frombuffer(data, np.uint8), job.file_name)), self.config.preprocess)
        image, labels = augment(image, item.labels, np.random.default_rng([self.seed, self.epoch, i, 1]), self.aug)
        return image, {"boxes": torch.from_numpy(labels.xyxy), "labels": torch.from_numpy(labels.class_ids)}


def synth_frames_per_epoch(data: str | Path) -> int | None:
    """N for DATA = "synth:N" (train on N frames rendered on the fly each epoch), else None."""
    text = str(data)
    if not text.startswith(SYNTH_PREFIX):
        return None
    count = text[len(SYNTH_PREFIX):]
    if not count.isdigit() or int(count) < 1:
        raise ConfigError(f"{text!r}: expected {SYNTH_PREFIX}N with N a positive number of frames per epoch")
    return int(count)


def augment_config(config: Config) -> AugmentConfig:
    """The training crops' augmentation: train.* settings, the tiler's views, the style images loaded once."""
    tc = config.train
    styles = None
    if tc.style_swap > 0 and tc.style_sources:
        path = Path(tc.style_sources)
        if not path.is_absolute() and not path.exists():
            path = CONFIG_DIR.parent / path  # the shipped list, when run from elsewhere
        styles = load_styles(path)
    return AugmentConfig(size=tc.imgsz, view=(config.label.tile, config.label.full_size), strength=tc.augment_strength,
                         style=tc.style_swap, styles=styles, gray=tc.gray, erase=tc.erase)


def collate(batch: list[tuple[np.ndarray, dict]]) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """(B, 3, S, S) float32 [0, 1] channels_last, and the B target dicts."""
    return to_tensor([image for image, _ in batch]), [target for _, target in batch]


def ema_update(decay: float):
    """AveragedModel's avg_fn: an EMA whose decay ramps up as (1 + n) / (10 + n) to `decay`.

    A fixed 0.998 from step 0 keeps the average tied to the random init for thousands of steps,
    so early validation (and a short run's checkpoint) would measure mostly noise.
    """

    def update(averaged: torch.Tensor, current: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        d = min(decay, (1 + float(n)) / (10 + float(n)))
        # the average of a constant is that constant: exactly, so frozen weights (train.freeze) stay bit
        # for bit the checkpoint's, where x * d + x * (1 - d) would round them off by an ulp
        return torch.where(averaged == current, current, averaged * d + current * (1 - d))

    return update


@dataclass
class Run:
    """What the loop carries from epoch to epoch; all of it goes into last.pt."""

    epochs: int  # planned epochs: train.epochs, or fewer to fit train.time_limit
    epoch: int = 0  # epochs completed
    best: float = -math.inf  # best val mAP50-95 so far (-1 when the val frames hold no boxes)
    stale: int = 0  # epochs since the best
    seconds: float = 0.0  # wall clock spent in completed epochs


def class_weights(config: Config, dataset: Dataset, images: list[ImageLabels], engine: np.ndarray | None = None) -> torch.Tensor:
    """(C,) per-class weights of the classification loss, normalised to mean 1 over the classes present.

    engine: expected boxes per class of the engine frames mixed in (train.synth_mix), counted with `images`'.
    """
    setting = config.train.class_weights
    if setting == "none":
        return torch.ones(len(dataset.classes))
    if isinstance(setting, dict):
        unknown = sorted(set(setting) - set(dataset.classes))
        if unknown:
            raise ConfigError(f"train.class_weights names {unknown}, not in the data set's classes {dataset.classes}")
        return torch.tensor([float(setting.get(name, 1.0)) for name in dataset.classes])
    counts = np.bincount(np.concatenate([im.labels.class_ids for im in images] + [np.zeros(0, np.int64)]),
                         minlength=len(dataset.classes)).astype(np.float64)
    if engine is not None:
        counts += engine
    # inverse square root: rare classes (heat shields, descent stages) weigh more, without letting
    # a class with three examples dominate the loss
    weights = np.where(counts > 0, 1 / np.sqrt(np.maximum(counts, 1)), 0.0)
    return torch.tensor(weights / weights[counts > 0].mean(), dtype=torch.float32)


def split_data(dataset: Dataset) -> tuple[list[ImageLabels], list[ImageLabels]]:
    """(train, val) frames: the data set's own val split, else every 10th training frame (of fewer than 10, the last).

    ConfigError when no training frame holds a box.
    """
    train = dataset.splits.get("train", [])
    if not train:
        raise ConfigError(f"{dataset.root}: the data set has no train split")
    if dataset.splits.get("val"):
        val = dataset.splits["val"]
    elif len(train) < 10:  # still one frame to validate on: without one no epoch scores, and no best.pt is written
        train, val = train[:-1], train[-1:]
    else:
        train, val = [im for i, im in enumerate(train) if i % 10 != 9], train[9::10]
    if not any(len(im.labels) for im in train):
        raise ConfigError(f"{dataset.root}: the {len(train)} training frames hold no boxes at all; a detector learns "
                          "from labelled examples (`debris check` counts them)")
    return train, val


def validate(model: DetectorNet, root: Path, images: list[ImageLabels], classes: list[str], config: Config) -> Evaluation:
    """COCO evaluation through the labelling path (tiles, merging), at train.val_conf and train.max_det."""
    settings = config.label.model_copy(update={"conf": config.train.val_conf, "max_det": config.train.max_det, "classes": None})
    detector = Detector.build(model, classes, config.preprocess, settings, version="validation")
    predictions = [detector(read_frame(root / im.file_name).image) for im in images]
    return evaluate(images, predictions, classes, max_dets=config.train.max_det)


def train(config: Config, data: str | Path, out: str | Path, resume: bool = False, weights: str | Path | None = None,
          images: str | Path | None = None) -> Path:
    """Train on the COCO/YOLO data set at `data`; write the run into `out`; return the best checkpoint.

    weights: a checkpoint to start from (fine-tuning; debris.train.finetune), else random weights.
    Its preprocessing stages replace the config's: the weights were trained with them. So does its network
    width, unless model.width is wider: then the checkpoint is widened to it (debris.train.finetune.widen).
    images: the folder the data set's frames are under (load_dataset's `images`).
    resume: continue the run in `out`; a train.epochs other than the run's extends (or ends) it there.
    A run resumed when it has finished says so and trains nothing.
    """
    out = Path(out)
    parent = None
    if weights is not None and not resume:
        initial = Checkpoint.load(weights)
        parent = {"path": str(weights), "sha256": file_sha256(weights)}
        width = max(config.model.width, initial.model["width"])
        config = config.model_copy(update={"preprocess": parse_stages(initial.preprocess),
                                           "model": config.model.model_copy(update={"width": width})})
    tc = config.train
    on_the_fly = synth_frames_per_epoch(data)
    if tc.synth_mix and on_the_fly:
        raise ConfigError(f"train.synth_mix mixes engine frames into a data set's; {data} is engine frames only")
    if on_the_fly:
        # validation needs fixed frames: rendered once into the run folder, from seeds training never draws
        val_dir = out / "synth_val"
        if not (val_dir / "val.json").exists():
            val_config = config.model_copy(update={"synth": config.synth.model_copy(update={"splits": {"val": 1.0}})})
            generate_dataset(val_dir, max(50, on_the_fly // 10), tc.seed, val_config, workers=max(1, tc.workers))
        dataset = load_dataset(val_dir)
        # the val frames come from the same generator: their class counts stand in for the training frames'
        train_images, val_images = dataset.splits["val"], dataset.splits["val"]
    else:
        dataset = load_dataset(data, images)
        if tc.synth_mix:
            dataset = engine_classes(dataset, config)
        train_images, val_images = split_data(dataset)
    classes = dataset.classes
    torch.manual_seed(tc.seed)
    torch.use_deterministic_algorithms(tc.deterministic)

    model = DetectorNet(len(classes), config.model.width)
    if parent is not None:
        widened = f", widened from width {initial.model['width']:g} to {width:g}" if width > initial.model["width"] else ""
        tqdm.write(f"starting from {weights}{widened}: {load_weights(model, initial, classes)}")
    freeze(model, tc.freeze)
    model = model.to(memory_format=torch.channels_last)
    ema = AveragedModel(model, avg_fn=ema_update(tc.ema_decay), use_buffers=True)
    mix = Mix.plan(on_the_fly or len(train_images), tc.batch, tc.synth_mix)
    engine = engine_boxes(config, mix.steps * mix.engine) if tc.synth_mix else None
    criterion = DetectionLoss(len(classes), model.strides, class_weights(config, dataset, train_images, engine))
    trainable = [p for p in model.parameters() if p.requires_grad]  # not the frozen parts
    decay = [p for p in trainable if p.ndim > 1]  # conv weights; not norms and biases
    rest = [p for p in trainable if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": tc.weight_decay}, {"params": rest, "weight_decay": 0.0}], lr=tc.lr)
    steps_per_epoch = mix.steps
    warmup = tc.warmup_epochs * steps_per_epoch
    run = Run(epochs=tc.epochs)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        total = run.epochs * steps_per_epoch  # read each step: a time limit may shorten the plan
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    if resume:
        last = Checkpoint.load(out / "last.pt")
        parent = last.parent
        ema.module.load_state_dict(last.state_dict)
        state = last.train_state
        model.load_state_dict(state["model"])
        ema.n_averaged.fill_(state["ema_updates"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        run.__dict__.update(state["run"])  # in place: lr_factor reads this object
        if tc.epochs != last.train_args["train"]["epochs"]:  # train.epochs=N with --resume: a longer (or shorter) plan
            if tc.epochs <= run.epoch:
                raise ConfigError(f"{out}: has trained {run.epoch} epochs already; train.epochs={tc.epochs} would not "
                                  "extend it")
            # the cosine decay stretches to the new end; patience counts afresh, as the user asked for more
            run.epochs, run.stale = tc.epochs, 0
        if run.epoch >= run.epochs or run.stale >= tc.patience:
            why = f"stopped early, no better val mAP50-95 for {run.stale} epochs" if run.epoch < run.epochs else "done"
            tqdm.write(f"{out}: the run has finished ({run.epoch} of {run.epochs} epochs, {why}); nothing to resume. "
                       f"To train on: debris train --resume --out {out} train.epochs={run.epoch + 10}")
            return out / "best.pt"
        _keep_rows(out / "metrics.csv", run.epoch)
    else:
        if (out / "last.pt").exists():
            raise ConfigError(f"{out}: holds a run already; pass --resume to continue it, or choose another folder")
        out.mkdir(parents=True, exist_ok=True)

    aug = augment_config(config)
    bf16 = use_bf16(tc.bf16)
    if on_the_fly:
        frames = SynthFrames(on_the_fly, config, aug, tc.seed)
    else:
        frames = Frames(dataset.root, train_images, config.preprocess, aug, tc.seed, cache=tc.cache)
    if tc.synth_mix:
        frames = MixedFrames(frames, SynthFrames(mix.steps * mix.engine, config, aug, tc.seed), mix, tc.seed)
    lap = time.perf_counter()
    while run.epoch < run.epochs:
        epoch, start = run.epoch, time.perf_counter()
        frames.epoch = epoch
        # the epoch's order, same on resume
        order = ({"batch_sampler": frames.batches()} if tc.synth_mix else
                 {"batch_size": tc.batch, "shuffle": True, "drop_last": True, "generator": torch.Generator().manual_seed(tc.seed * 1000 + epoch)})
        loader = torch.utils.data.DataLoader(frames, num_workers=tc.workers, collate_fn=collate, **order)
        train_mode(model, tc.freeze)
        losses = []
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{run.epochs}", unit="batch", disable=None)
        for images, targets in bar:
            with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
                raw = model(images)
            loss = criterion(raw, targets, image_size=tuple(images.shape[2:]))["loss"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            optimizer.step()
            scheduler.step()
            ema.update_parameters(model)
            losses.append(loss.item())
            bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}", img_s=f"{len(losses) * tc.batch / (time.perf_counter() - start):.1f}")

        result = validate(ema.module, dataset.root, val_images, classes, config)
        score = result.stats["mAP50-95"]
        improved = score > run.best
        seconds = time.perf_counter() - start
        run.epoch, run.best, run.stale = epoch + 1, max(score, run.best), 0 if improved else run.stale + 1
        # the time limit counts wall time: this epoch and the last one's checkpoints and plot, ~0.5 s that
        # 200 short epochs of a small set would otherwise add as 1.5 minutes past the limit
        now = time.perf_counter()
        wall, lap = now - lap, now
        run.seconds += wall
        if tc.time_limit_min:
            # re-plan after every epoch from the last one's time, so the cosine decay ends on time
            # (the first epoch is slow to validate: an untrained model fills max_det with boxes)
            left = int((tc.time_limit_min * 60 - run.seconds) / wall)
            run.epochs = min(tc.epochs, run.epoch + max(0, left))
        row = [epoch + 1, np.mean(losses) if losses else float("nan"), scheduler.get_last_lr()[0],
               score, result.stats["mAP50"], result.stats["mAP_small"], seconds]
        _append_row(out / "metrics.csv", row)
        best = Checkpoint(
            model={"num_classes": len(classes), "width": config.model.width}, classes=classes,
            preprocess=stage_records(config.preprocess), state_dict=ema.module.state_dict(),
            train_args=config.model_dump(mode="json"), data=str(data), metrics={**result.stats, "epoch": epoch + 1},
            parent=parent,
        )
        train_state = {"model": model.state_dict(), "ema_updates": int(ema.n_averaged), "run": dict(vars(run)),
                       "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
        dataclasses.replace(best, train_state=train_state).save(out / "last.pt")
        if improved:
            best.save(out / "best.pt")
        plot_metrics(out / "metrics.csv", out / "results.png")
        tqdm.write(f"epoch {epoch + 1}: loss {row[1]:.3f}  val mAP50-95 {score:.3f}  mAP50 {row[4]:.3f}  ({row[-1]:.0f} s)")
        if run.stale >= tc.patience:
            tqdm.write(f"no better val mAP50-95 for {tc.patience} epochs: stopping early")
            break
    return out / "best.pt"


def _append_row(path: Path, row: list) -> None:
    new = not path.exists()
    with path.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(METRICS)
        writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])


def _keep_rows(path: Path, epochs: int) -> None:
    """Drop metrics rows past the resumed epoch: a run killed after writing them repeats those epochs."""
    if path.exists():
        rows = list(csv.reader(path.open()))
        with path.open("w", newline="") as f:
            csv.writer(f).writerows(rows[: epochs + 1])


def plot_metrics(csv_path: Path, png_path: Path) -> None:
    """results.png: training loss and val mAP per epoch."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a training server
    import matplotlib.pyplot as plt

    from matplotlib.ticker import MaxNLocator

    rows = list(csv.DictReader(csv_path.open()))
    epochs = [int(r["epoch"]) for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(epochs, [float(r["train_loss"]) for r in rows], marker="o")
    left.set(title="training loss", xlabel="epoch", ylabel="loss")
    for key in ("mAP50", "mAP50-95", "mAP_small"):
        right.plot(epochs, [float(r[key]) for r in rows], marker="o", label=key)
    right.set(title="validation (EMA weights)", xlabel="epoch", ylabel="COCO mAP", ylim=(0, 1))
    right.legend()
    for ax in (left, right):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole: no 0.5 ticks on short runs
    fig.tight_layout()
    fig.savefig(png_path, dpi=100)
    plt.close(fig)
