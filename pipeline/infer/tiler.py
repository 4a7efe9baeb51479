"""Tiling: which windows of a frame the network looks at.

A frame no larger than a tile is seen whole, at native resolution. A larger one is seen twice over:
one downscaled view of the whole frame, for objects too large for a tile (a parachute close under
the helicopter), and overlapping native-resolution tiles, for objects a few pixels wide that the
downscaled view would shrink away (4 px debris on a 13 MP frame). Training crops (debris/train/augment.py)
are drawn from the same two views. Every tile has the same size, so all of a frame's tiles go
through the network in batches.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Window:
    """A region of the frame and the scale the network sees it at.

    x0, y0, width, height: the region, frame pixels.
    scale: network pixels per frame pixel (1 for native tiles, < 1 for the whole-frame view).
    inner: which of the region's sides (left, top, right, bottom) lie inside the frame: an object
    cut by such a side is seen whole by another window, so boxes touching it are dropped.
    """

    x0: int
    y0: int
    width: int
    height: int
    scale: float = 1.0
    inner: tuple[bool, bool, bool, bool] = (False, False, False, False)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the window as the network sees it, before padding."""
        return max(1, round(self.width * self.scale)), max(1, round(self.height * self.scale))

    @property
    def scales(self) -> tuple[float, float]:
        """(x, y) network pixels per frame pixel after rounding the size: what maps boxes back exactly."""
        w, h = self.size
        return w / self.width, h / self.height


def plan_windows(width: int, height: int, tile: int = 640, overlap: float = 0.2, full_size: int = 640) -> list[Window]:
    """The windows of a width x height frame: [whole-frame view, tiles...], or [whole frame] if it fits a tile.

    tile: side of the native-resolution tiles, pixels; overlap: share of a tile its neighbour
    repeats (an object up to overlap * tile wide lies whole in some tile); full_size: longest side of
    the downscaled whole-frame view.
    """
    if width <= tile and height <= tile:
        return [Window(0, 0, width, height)]
    views = [Window(0, 0, width, height, scale=min(1.0, full_size / max(width, height)))]
    xs, ys = _starts(width, tile, overlap), _starts(height, tile, overlap)
    tw, th = min(tile, width), min(tile, height)
    for y in ys:
        for x in xs:
            inner = (x > 0, y > 0, x + tw < width, y + th < height)
            views.append(Window(x, y, tw, th, inner=inner))
    return views


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    """Tile origins along one axis: evenly spread, the first at 0 and the last flush with the end."""
    if length <= tile:
        return [0]
    n = math.ceil((length - tile) / (tile * (1 - overlap))) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


@dataclass(frozen=True)
class Tiler:
    """The tiling settings of a detector: what `plan_windows` is called with, and the crops it cuts."""

    tile: int = 640
    overlap: float = 0.2
    full_size: int = 512

    def windows(self, width: int, height: int) -> list[Window]:
        return plan_windows(width, height, self.tile, self.overlap, self.full_size)

    @staticmethod
    def crop(image: np.ndarray, window: Window) -> np.ndarray:
        """The window's pixels at the network's scale: (h, w, 3) uint8, h, w = window.size reversed."""
        region = image[window.y0 : window.y0 + window.height, window.x0 : window.x0 + window.width]
        if window.size != (window.width, window.height):
            region = cv2.resize(region, window.size, interpolation=cv2.INTER_AREA)
        return np.ascontiguousarray(region)
