"""One synthetic frame: ground, hardware, camera, and the boxes of what is visible.

The ground (rendered terrain, or a crop of a real image) is a nadir canvas; sprites from
`hardware.py` are pasted on it in three passes (ground decals, shadows, objects) while an instance
map records which object owns each pixel, so later objects occlude earlier ones (debris lying on a
parachute). The canvas and the instance map then go through the camera's geometry together, and
every box is the tight box of its object's pixels in the final instance map: occlusion,
perspective and clipping at the frame edge are all in it. Objects with too little left visible
are dropped from the labels (they stay drawn, as they would in a real frame); see `_labels` for the rule.
Every object and the frame's ground draw a named family (families.py), recorded for the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from debris.config import SynthConfig
from debris.detections import Detections
from debris.synth.cameras import COLOUR, View, apply_camera, sample_view
from debris.synth.families import draw_family
from debris.synth.hardware import Sprite, render_sprite
from debris.synth.negatives import draw_helicopter_shadow
from debris.synth.real_terrain import real_patch
from debris.synth.sun import Sun
from debris.synth.terrain import render_terrain

# Flat ground marks first, small things last: debris lies on a parachute, never under it.
DRAW_ORDER = ("descent_stage", "parachute", "heat_shield", "backshell", "debris")
_ANCHORS = ("parachute", "backshell")  # debris falls around and onto these
_TYPICAL_REGOLITH = 0.38  # mean sRGB luminance of rendered terrain (0.28-0.47): what sprites are drawn against
_PLACEMENT_TRIES = 8  # a frame meant to hold objects is re-placed until one is visible enough
# Largest extent of each class, metres (DESIGN.md). An object over ten times the frame's ground is one flat
# colour in it, nothing a person would recognise, so it is not drawn (sprites are clipped to the canvas, so
# size costs no memory: a close-range parachute can still fill the frame).
_EXTENT_M = {"parachute": 21.5, "backshell": 4.5, "heat_shield": 4.5, "descent_stage": 30.0, "debris": 1.0}
_CLIP_PAD_PX = 2


@dataclass(frozen=True)
class _Placed:
    class_id: int
    sprite: Sprite
    x: float  # canvas pixels: the object's placement point (the sprite's origin)
    y: float
    family: str


def render_frame(
    seed: int, camera: str, size: tuple[int, int], classes: list[str], config: SynthConfig,
    background: np.ndarray | None = None,
) -> tuple[np.ndarray, Detections, dict]:
    """Draw one frame and its labels; the same arguments always give the same bytes.

    size: (width, height) of the frame.
    background: (H, W, 3) uint8 RGB real terrain to draw on instead of rendered terrain, or None.
    Returns the frame, (H, W, 3) uint8 RGB for colour cameras or (H, W) uint8, its labels (scores 1,
    class ids index `classes`; an empty frame, config.empty_fraction, has none) and the families drawn:
    {"terrain": name, "objects": [[class name, family], ...]} for every object drawn, labelled or not.
    """
    rng = np.random.default_rng(seed)
    r, allowed = config.randomize, config.families or {}
    sun = Sun.random(rng, r)
    view = sample_view(rng, camera, size, r)
    width, height = view.canvas_size
    terrain = "real_patch" if background is not None else draw_family(rng, "terrain", r, allowed.get("terrain"))
    if terrain != "real_patch":
        ground, gain = render_terrain(rng, height, width, view.gsd_m, sun, terrain, r), 1.0
    else:
        ground = _background_crop(rng, real_patch(rng) if background is None else background, width, height)
        gain = float(ground.mean()) / _TYPICAL_REGOLITH  # sprites as bright, relative to the ground, as on rendered terrain
    if camera == "nav" and rng.random() < 0.4:
        draw_helicopter_shadow(ground, rng, view.gsd_m, sun)

    canvas, instance, labels, placed = ground, np.zeros((height, width), np.uint16), Detections.empty(), []
    if rng.random() >= config.empty_fraction:
        for _ in range(_PLACEMENT_TRIES):
            placed = _place(rng, classes, config, view, sun)
            canvas, instance = _composite(ground, placed, gain)
            if terrain == "real_patch":
                canvas = _match_noise(rng, canvas, ground, instance > 0)
            frame_instance = _to_frame(instance, view, cv2.INTER_NEAREST)
            labels = _labels(placed, instance, frame_instance, view, config)
            if len(labels):
                break
    frame = _to_frame(canvas, view, cv2.INTER_LINEAR)
    drawn = {"terrain": terrain, "objects": [[classes[p.class_id], p.family] for p in placed]}
    if background is None:  # rendered ground, or a small real patch enlarged: the camera's effects are missing
        return apply_camera(rng, frame, camera, r), labels, drawn
    # a real image already carries its sensor's blur, noise and stretch: only convert it
    if not COLOUR[camera]:
        frame = frame @ np.float32([0.299, 0.587, 0.114])
    return np.clip(frame * 255 + 0.5, 0, 255).astype(np.uint8), labels, drawn


def _place(rng: np.random.Generator, classes: list[str], config: SynthConfig, view: View, sun: Sun) -> list[_Placed]:
    """Sample the objects of one frame and where they lie, in draw order."""
    weights = np.array([config.class_weights.get(name, 1.0) for name in classes])
    lo, hi = config.objects_per_frame
    ids = rng.choice(len(classes), size=int(rng.integers(lo, hi + 1)), p=weights / weights.sum())
    too_big = 10 * max(view.canvas_size) * view.gsd_m
    # one landing leaves one of each large piece; only debris comes in numbers
    ids = [i for n, i in enumerate(ids) if classes[i] == "debris" or i not in ids[:n]]
    ids = sorted((i for i in ids if _EXTENT_M[classes[i]] <= too_big), key=lambda i: DRAW_ORDER.index(classes[i]))
    to_canvas = None if view.homography is None else np.linalg.inv(view.homography)
    frame_w, frame_h = view.frame_size
    placed: list[_Placed] = []
    canvas_w, canvas_h = view.canvas_size
    for class_id in ids:
        name = classes[class_id]
        family = draw_family(rng, name, config.randomize, (config.families or {}).get(name))
        anchors = [p for p in placed if classes[p.class_id] in _ANCHORS]
        if name == "debris" and anchors and rng.random() < 0.5:
            anchor = anchors[int(rng.integers(len(anchors)))]
            spread = 0.6 * max(anchor.sprite.alpha.shape)
            x, y = anchor.x + rng.normal(0, spread), anchor.y + rng.normal(0, spread)
        else:
            # uniform over the frame (a little beyond its edges, so objects are cut by them too)
            u, v = rng.uniform(-0.1, 1.1) * frame_w, rng.uniform(-0.1, 1.1) * frame_h
            x, y = (u, v) if to_canvas is None else _apply(to_canvas, u, v)
        # only the part of the object over the canvas is drawn: pixels around the placement point
        clip = (-round(x) - _CLIP_PAD_PX, -round(y) - _CLIP_PAD_PX,
                canvas_w - round(x) + _CLIP_PAD_PX, canvas_h - round(y) + _CLIP_PAD_PX)
        sprite = render_sprite(rng, name, view.gsd_m, sun, family, clip)
        placed.append(_Placed(int(class_id), sprite, x, y, family))
    return placed


def _composite(ground: np.ndarray, placed: list[_Placed], gain: float) -> tuple[np.ndarray, np.ndarray]:
    """Paste every sprite onto a copy of `ground` (H, W, 3) float32.

    Returns the canvas and the (H, W) uint16 instance map: 0 ground, k the k-th placed object.
    """
    canvas, instance = ground.copy(), np.zeros(ground.shape[:2], np.uint16)
    for p in placed:  # ground marks lie under every object
        dst, src = _overlap(canvas.shape, p.sprite, p.x, p.y)
        if dst:
            decal = p.sprite.decal[src]
            canvas[dst] += (decal[..., :3] * gain - canvas[dst]) * decal[..., 3:]
    for p in placed:
        dst, src = _overlap(canvas.shape, p.sprite, p.x, p.y)
        if dst:
            canvas[dst] *= 1 - p.sprite.shadow[src][..., None]
    for k, p in enumerate(placed, 1):
        dst, src = _overlap(canvas.shape, p.sprite, p.x, p.y)
        if dst:
            alpha = p.sprite.alpha[src]
            canvas[dst] += (p.sprite.rgb[src] * gain - canvas[dst]) * alpha[..., None]
            instance[dst][alpha >= 0.5] = k
    return np.clip(canvas, 0, 1), instance


def _labels(
    placed: list[_Placed], instance: np.ndarray, frame_instance: np.ndarray, view: View, config: SynthConfig,
) -> Detections:
    """Tight boxes of the visible pixels of the objects a person would still box.

    An object cut by the frame edge or partly hidden is labelled with the box of its VISIBLE pixels when
    it has at least config.min_visible_pixels of them (below ~16 px nothing is recognisable) AND either
    config.min_visible_fraction of its ground area is visible or its visible pixels cover at least
    config.min_frame_fraction of the frame: a person recognises a canopy from a piece filling 1% of the
    frame, and leaving such a piece unlabelled would teach the model that hardware is ground.
    """
    n = len(placed) + 1
    full = np.array([0.0] + [p.sprite.full_area() for p in placed])
    # the share still visible is counted on the ground, where every object pixel weighs the same
    in_frame = instance if view.homography is None else instance[_footprint(view)]
    visible = np.bincount(in_frame.ravel(), minlength=n)[:n]
    pixels = np.bincount(frame_instance.ravel(), minlength=n)[:n]
    big_enough = pixels >= config.min_frame_fraction * frame_instance.size
    boxes, class_ids = [], []
    for k, where in enumerate(ndimage.find_objects(frame_instance, max_label=n - 1), 1):
        if where is None or pixels[k] < config.min_visible_pixels:
            continue
        if visible[k] < config.min_visible_fraction * full[k] and not big_enough[k]:
            continue
        rows, cols = where
        boxes.append([cols.start, rows.start, cols.stop, rows.stop])  # pixel edges: column x spans [x, x + 1)
        class_ids.append(placed[k - 1].class_id)
    return Detections.from_labels(np.array(boxes, np.float32).reshape(-1, 4), np.array(class_ids, np.int64))


def _to_frame(canvas: np.ndarray, view: View, interpolation: int) -> np.ndarray:
    if view.homography is None:
        return canvas
    return cv2.warpPerspective(canvas, view.homography, view.frame_size, flags=interpolation, borderMode=cv2.BORDER_REPLICATE)


def _footprint(view: View) -> np.ndarray:
    """(H, W) bool on the canvas: the ground the frame sees."""
    w, h = view.frame_size
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], np.float64)
    points = cv2.perspectiveTransform(corners[None], np.linalg.inv(view.homography))[0]
    mask = np.zeros(view.canvas_size[::-1], np.uint8)
    cv2.fillPoly(mask, [np.round(points).astype(np.int32)], 1)
    return mask.astype(bool)


def _apply(homography: np.ndarray, x: float, y: float) -> tuple[float, float]:
    u, v, w = homography @ np.array([x, y, 1.0])
    return float(u / w), float(v / w)


def _overlap(canvas_shape: tuple[int, ...], sprite: Sprite, x: float, y: float):
    """Slices (canvas, sprite) where a sprite with its origin at (x, y) overlaps the canvas; (None, None) if nowhere."""
    (h, w), (cx, cy) = sprite.alpha.shape, sprite.centre()
    top, left = int(round(y - cy)), int(round(x - cx))
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, canvas_shape[0]), min(left + w, canvas_shape[1])
    if y0 >= y1 or x0 >= x1:
        return None, None
    return (slice(y0, y1), slice(x0, x1)), (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))


def _background_crop(rng: np.random.Generator, image: np.ndarray, width: int, height: int) -> np.ndarray:
    """A random (height, width, 3) float32 [0, 1] window of a real image, turned and flipped at random."""
    image = np.rot90(image, int(rng.integers(4)))
    if rng.random() < 0.5:
        image = image[:, ::-1]
    scale = max(width / image.shape[1], height / image.shape[0], 1.0)
    if scale > 1:  # too small for the frame: enlarge (the real pixels stay the finest detail)
        image = cv2.resize(np.ascontiguousarray(image), None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    top = int(rng.integers(image.shape[0] - height + 1))
    left = int(rng.integers(image.shape[1] - width + 1))
    return image[top : top + height, left : left + width].astype(np.float32) / 255


def _match_noise(rng: np.random.Generator, canvas: np.ndarray, ground: np.ndarray, painted: np.ndarray) -> np.ndarray:
    """Give the clean sprite pixels the real image's noise, so they do not stand out by smoothness."""
    # noise sigma from the median absolute Laplacian: robust to edges and texture
    lap = cv2.Laplacian(ground.mean(axis=2), cv2.CV_32F)
    sigma = float(np.median(np.abs(lap))) / 0.6745 / np.sqrt(20)
    noise = rng.standard_normal(canvas.shape[:2], dtype=np.float32) * np.float32(sigma)
    return np.clip(canvas + (noise * painted)[..., None], 0, 1)
