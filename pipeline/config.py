"""Typed configs: YAML in configs/ validated once, at load, into pydantic models.

`configs/default.yaml` is the single source of default values; the models below declare only
types and allowed ranges. A user's YAML file and `key=value` overrides (dotted keys for nesting,
values parsed as YAML) are merged over the defaults, then the whole is validated: an unknown
key, a wrong type or an out-of-range value is a `ConfigError` naming the key, the bad value and
what is allowed.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, Sequence, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from debris.configs import CONFIG_DIR, DEFAULT_CONFIG
from debris.errors import UserError
from debris.formats.sinks import SINKS
from debris.preprocess import STAGES, Stage
from debris.synth.families import unknown_families

M = TypeVar("M", bound=BaseModel)


class ConfigError(UserError, ValueError):
    """A config file or override that cannot be used; the message says which key and why."""


class _Section(BaseModel):
    # strict: "5" is not silently an int; extra="forbid": a typo is an error, not ignored
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ReaderConfig(_Section):
    max_pixels: int = Field(gt=0, description="the most pixels decoded at once: larger JPEG/PNG frames are refused, larger TIFFs read in windows")
    recursive: bool = Field(description="descend into subfolders of folder sources")


CameraName = Literal["rte", "nav", "orbital"]
SplitName = Literal["train", "val", "test"]
FreezePart = Literal["backbone", "neck", "head"]


class SynthConfig(_Section):
    camera: Literal["rte", "nav", "orbital", "mixed"] = Field(description="camera to imitate; mixed draws one per frame")
    camera_weights: dict[CameraName, float] = Field(description="how often each camera is drawn in mixed mode")
    sizes: dict[CameraName, list[int] | list[list[float]]] = Field(
        description="frame [width, height] per camera, or a list of [width, height, weight] drawn per frame; unless --size")
    splits: dict[SplitName, float] = Field(description="share of the frames in each split")
    empty_fraction: float = Field(ge=0, le=1, description="share of frames with no hardware")
    objects_per_frame: list[int] = Field(min_length=2, max_length=2, description="[min, max] objects in a non-empty frame")
    class_weights: dict[str, float] = Field(description="relative frequency of each class; unnamed classes weigh 1")
    min_visible_fraction: float = Field(gt=0, le=1, description="drop the label of an object less visible than this")
    min_visible_pixels: int = Field(ge=1, description="drop the label of an object with fewer visible pixels")
    min_frame_fraction: float = Field(ge=0, le=1, description="label a cut object anyway if its visible pixels cover this share of the frame")
    randomize: float = Field(ge=0, le=1, description="domain randomisation strength: 0 the original look, 1 all families and ranges")
    families: dict[str, list[str] | None] | None = Field(
        description="allowed randomisation families per axis (class name or terrain); null or absent axis: all")
    jpeg_quality: list[int] = Field(min_length=2, max_length=2, description="[min, max] JPEG quality of colour frames")

    def size_choices(self, camera: str) -> tuple[list[tuple[int, int]], list[float]]:
        """The frame sizes (width, height) of `camera` and their weights."""
        entry = self.sizes[camera]
        rows = [entry] if entry and not isinstance(entry[0], list) else entry
        return [(int(r[0]), int(r[1])) for r in rows], [float(r[2]) if len(r) == 3 else 1.0 for r in rows]

    @model_validator(mode="after")
    def _consistent(self) -> "SynthConfig":
        for camera, entry in self.sizes.items():
            rows = [entry] if entry and not isinstance(entry[0], list) else entry
            if not rows or any(len(r) not in (2, 3) or min(r[:2]) < 16 or r[:2] != [int(x) for x in r[:2]]
                               or (len(r) == 3 and r[2] < 0) for r in rows):
                raise ValueError(f"sizes.{camera} must be [width, height] (at least 16 pixels) or a list of "
                                 f"[width, height, weight], got {entry}")
        if self.families is not None and (problems := unknown_families(self.families)):
            raise ValueError("; ".join(problems))
        if not (0.999 < sum(self.splits.values()) < 1.001 and min(self.splits.values()) >= 0):
            raise ValueError(f"splits must be non-negative shares summing to 1, got {self.splits}")
        if not 1 <= self.objects_per_frame[0] <= self.objects_per_frame[1]:
            raise ValueError(f"objects_per_frame must be [min, max] with 1 <= min <= max, got {self.objects_per_frame}")
        if not 1 <= self.jpeg_quality[0] <= self.jpeg_quality[1] <= 100:
            raise ValueError(f"jpeg_quality must be [min, max] within 1..100, got {self.jpeg_quality}")
        if min([*self.camera_weights.values(), *self.class_weights.values()]) < 0:
            raise ValueError("camera_weights and class_weights must be >= 0")
        return self


class ModelConfig(_Section):
    width: float = Field(gt=0, le=4, description="channel multiplier of the detector")


class TrainConfig(_Section):
    epochs: int = Field(ge=1, description="passes over the training frames")
    time_limit_min: float | None = Field(gt=0, description="fit the run into this many minutes: fewer epochs, same schedule shape")
    batch: int = Field(ge=1, description="crops per optimizer step")
    imgsz: int = Field(ge=64, multiple_of=32, description="side of the square training crops, pixels")
    lr: float = Field(gt=0, description="peak AdamW learning rate")
    weight_decay: float = Field(ge=0)
    warmup_epochs: float = Field(ge=0, description="linear warm-up before the cosine decay")
    ema_decay: float = Field(ge=0, lt=1, description="decay of the exponential moving average of the weights")
    patience: int = Field(ge=1, description="stop after this many epochs without a better val mAP50-95")
    workers: int = Field(ge=0, description="data-loading processes")
    cache: bool = Field(description="decode and preprocess every training frame once and keep it in RAM")
    bf16: Literal["auto"] | bool = Field(description="forward pass under bfloat16 autocast; auto: where the CPU has AVX-512 BF16 or AMX")
    class_weights: Literal["auto", "none"] | dict[str, float] = Field(
        description="auto: inverse square root of class frequency; none; or {class: weight}")
    augment_strength: float = Field(ge=0, le=2, description="magnitude of colour jitter, blur, noise and JPEG in training crops")
    gray: float = Field(ge=0, le=1, description="probability that a colour training crop becomes gray")
    erase: float = Field(ge=0, le=1, description="probability of random erasing in a training crop")
    style_swap: float = Field(ge=0, le=1, description="probability of the low-frequency style swap with real terrain")
    style_sources: str | None = Field(description="frame list of unlabelled real terrain for the style swap; null: no swap")
    seed: int
    deterministic: bool = Field(description="deterministic torch algorithms (CPU runs then resume bit-exactly)")
    val_conf: float = Field(ge=0, le=1, description="score threshold of the predictions evaluated each epoch")
    max_det: int = Field(ge=1, description="detections kept per frame")
    freeze: list[FreezePart] = Field(description="parts of the network kept fixed (debris.train.finetune.PARTS); pred always trains")
    synth_mix: float = Field(ge=0, lt=1, description="share of each batch rendered by the data engine, the rest from the data set")

    @model_validator(mode="after")
    def _whole_frames(self) -> "TrainConfig":
        engine = round(self.batch * self.synth_mix)
        if self.synth_mix > 0 and not 0 < engine < self.batch:
            raise ValueError(f"synth_mix {self.synth_mix} of a batch of {self.batch} is {engine} engine frames; "
                             f"it must be at least 1 and leave at least 1 frame of the data set")
        return self


class LabelConfig(_Section):
    conf: float = Field(ge=0, le=1, description="keep detections scoring at least this")
    iou: float = Field(gt=0, le=1, description="NMS IoU threshold, within one class")
    classes: list[str | int] | None = Field(description="keep only these classes (names or ids); null keeps all")
    max_det: int = Field(ge=1, description="detections kept per frame")
    tile: int = Field(ge=64, multiple_of=32, description="side of the native-resolution tiles, pixels")
    overlap: float = Field(ge=0, lt=1, description="share of a tile its neighbour repeats")
    full_size: int = Field(ge=64, multiple_of=32, description="longest side of the downscaled whole-frame view")
    batch: int = Field(ge=1, description="tiles per forward pass")
    bf16: Literal["auto"] | bool = Field(description="forward pass under bfloat16 autocast; auto: where the CPU has AVX-512 BF16 or AMX")
    formats: list[str] = Field(description="outputs to write, names of debris.formats.sinks.SINKS; per-frame JSON is always written")
    save_conf: bool = Field(description="YOLO txt: append each box's confidence")
    image_prefix: str = Field(description="Label Studio: prefix of each task's image path, e.g. /data/local-files/?d=")
    workers: int = Field(ge=1, description="threads decoding frames ahead of the network")

    @field_validator("classes", mode="before")
    @classmethod
    def _one_class(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, int)) else value  # classes=parachute: no brackets for one

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, formats: list[str]) -> list[str]:
        unknown = [name for name in formats if name not in SINKS]
        if unknown:
            raise ValueError(f"unknown formats {unknown}; known: {', '.join(SINKS)}")
        return formats


class Config(_Section):
    classes: list[str] = Field(min_length=1, description="class names; class id i is classes[i]")
    reader: ReaderConfig
    synth: SynthConfig
    preprocess: list[Stage] = Field(description="ordered preprocessing stages, e.g. [{name: clahe, grid: 4}]")
    model: ModelConfig
    train: TrainConfig
    label: LabelConfig

    @field_validator("classes", mode="before")
    @classmethod
    def _one_class(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value  # classes=parachute: no brackets for one

    @field_validator("classes")
    @classmethod
    def _unique_names(cls, names: list[str]) -> list[str]:
        if len(set(names)) != len(names) or not all(names):
            raise ValueError("class names must be unique and non-empty")
        return names


_SECTIONS: dict[str, type[_Section]] = {name: info.annotation for name, info in Config.model_fields.items()
                                         if isinstance(info.annotation, type) and issubclass(info.annotation, _Section)}


def load_config(path: str | Path | None = None, overrides: Sequence[str] = ()) -> Config:
    """Defaults, then the YAML file at `path` (if given), then `key=value` overrides, validated."""
    data = _read_yaml(DEFAULT_CONFIG)
    sources = [str(DEFAULT_CONFIG)]
    if path is not None:
        _merge(data, _read_yaml(Path(path)))
        sources.append(str(path))
    for item in overrides:
        _apply_override(data, item)
    if overrides:
        sources.append("overrides " + " ".join(overrides))
    return validate(Config, data, " + ".join(sources))


def config_from_record(record: dict[str, Any], source: str) -> Config:
    """A config saved in a checkpoint (Config.model_dump), completed with today's defaults for the keys
    added since it was saved, so a run started by an older debris still resumes."""
    data = _read_yaml(DEFAULT_CONFIG)
    for key, value in record.items():  # key by key within a section: a saved mapping (synth.splits) is kept whole
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key].update(value)
        else:
            data[key] = value
    return validate(Config, data, source)


def apply_overrides(config: Config, overrides: Sequence[str]) -> Config:
    """`config` with `key=value` overrides applied, validated as load_config does."""
    data = config.model_dump(mode="json")
    for item in overrides:
        _apply_override(data, item)
    return validate(Config, data, "overrides " + " ".join(overrides))


def expand_bare_keys(section: str, items: Sequence[str]) -> list[str]:
    """`key=value` items with bare keys of `section` made dotted: for train, epochs=2 is train.epochs=2.

    A dotted key, and a top-level key that the section lacks (classes), pass as they are; any
    other bare key is a ConfigError suggesting the nearest known setting.
    """
    fields = _SECTIONS[section].model_fields
    expanded = []
    for item in parse_overrides(items):
        key = item.split("=", 1)[0].strip()
        if key in fields:
            expanded.append(f"{section}.{item.strip()}")
        elif "." in key or key in Config.model_fields:
            expanded.append(item)
        else:
            raise ConfigError(f"unknown setting {key!r} in {item!r}{_nearest(section, key)}")
    return expanded


def _nearest(section: str, key: str) -> str:
    """ '; did you mean ...?' naming the closest setting to the bare `key`, preferring `section`'s, or ''."""
    leaves: dict[str, str] = {}  # bare name -> what to type
    for name, model in reversed(_SECTIONS.items()):
        leaves.update({field: f"{name}.{field}" for field in model.model_fields})
    leaves.update({field: field for field in _SECTIONS[section].model_fields})  # the section's own win
    leaves.update({field: field for field in Config.model_fields if field not in _SECTIONS})
    found = difflib.get_close_matches(key, list(leaves), n=1, cutoff=0.6)
    where = f"bare keys here are {section}.* settings"
    return f"; did you mean {leaves[found[0]]}? ({where})" if found else f" ({where}: {', '.join(sorted(_SECTIONS[section].model_fields))})"


def validate(model: type[M], data: dict[str, Any], source: str) -> M:
    """`data` as a `model` (Config or one of its sections), or a ConfigError naming every bad key."""
    try:
        return model.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(_describe(err, model) for err in e.errors())
        raise ConfigError(f"invalid config ({source}): {problems}") from None


def parse_overrides(args: Sequence[str]) -> list[str]:
    """The `key=value` items of a command line; anything else is an error."""
    bad = [a for a in args if "=" not in a or a.startswith("=")]
    if bad:
        raise ConfigError(f"expected key=value overrides, got {bad!r}")
    return list(args)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder; --config takes a YAML file such as configs/synth_train.yaml") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte {e.start}: {e.reason})") from None
    except OSError as e:  # no permission
        raise ConfigError(f"{path}: unreadable config file ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys at the top level, got {type(data).__name__}")
    return data


def _merge(base: dict[str, Any], update: dict[str, Any]) -> None:
    """Deep-merge `update` into `base`; lists and scalars are replaced, mappings merged."""
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def _apply_override(data: dict[str, Any], item: str) -> None:
    key, _, text = item.partition("=")
    try:
        value = yaml.safe_load(text) if text else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override {item!r}: value is not valid YAML: {e}") from None
    node = data
    *parents, leaf = key.strip().split(".")
    for i, part in enumerate(parents):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override {item!r}: {'.'.join(parents[: i + 1])} is not a section")
        node = child
    node[leaf] = value


def _describe(err: dict[str, Any], root: type[BaseModel]) -> str:
    key = ".".join(str(p) for p in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key '{key}' (allowed here: {', '.join(_allowed_keys(err['loc'][:-1], root))})"
    if err["type"] == "missing":
        return f"missing key '{key}'"
    if isinstance(err["input"], dict):  # a check across a whole section: its message names the values
        return f"section '{key or 'top level'}': {err['msg'].removeprefix('Value error, ')}"
    return f"key '{key}' = {err['input']!r}: {err['msg']}"


def _allowed_keys(loc: tuple, model: type[BaseModel]) -> list[str]:
    if len(loc) >= 3 and loc[0] == "preprocess" and loc[2] in STAGES:  # (preprocess, index, stage name, ...)
        return sorted(STAGES[loc[2]].model_fields)
    for part in loc:
        annotation = model.model_fields[part].annotation
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            break
        model = annotation
    return sorted(model.model_fields)
