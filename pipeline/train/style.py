"""Low-frequency style swap with unlabelled real terrain, after Fourier Domain Adaptation (Yang & Soatto 2020).

A crop keeps the phase of its spectrum (where edges and objects are) and takes, in a narrow band of
the lowest frequencies, the amplitude of a real terrain image: its overall colour, brightness and
large-scale shading. Only that band changes, so the swap is computed on a 4x smaller copy of the crop
and the low-frequency difference is upsampled and added (~1 ms, against ~20 ms for full-size FFTs).
No pixel moves, so boxes are unchanged.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from debris.io.reader import list_frames, read_frame

STYLE_SIDE = 128  # side of the in-memory copies; their Nyquist (64 cycles) is far above the widest band
BETA = (0.01, 0.05)  # half-width of the swapped band as a share of the crop side (FDA's L; 21 cycles at 416)


def load_styles(list_file: str | Path) -> np.ndarray:
    """(N, STYLE_SIDE, STYLE_SIDE, 3) uint8 RGB: the images of a frame list, in square pieces, shrunk.

    Paths in the list are relative to the list's folder (as every `debris` command reads lists).
    A long image (a 512x3072 HiRISE strip) gives one piece per square of its shorter side, so no
    piece is squashed. Loaded once per training run; ~50 kB per piece.
    """
    pieces = []
    for path in list_frames([list_file]):
        image = read_frame(path).image
        h, w = image.shape[:2]
        side = min(h, w)
        for i in range(max(h, w) // side):
            piece = image[i * side : (i + 1) * side] if h > w else image[:, i * side : (i + 1) * side]
            pieces.append(cv2.resize(piece, (STYLE_SIDE, STYLE_SIDE), interpolation=cv2.INTER_AREA))
    return np.stack(pieces)


def style_swap(image: np.ndarray, style: np.ndarray, gray: bool, rng: np.random.Generator) -> np.ndarray:
    """(S, S, 3) uint8 crop -> (S, S, 3) uint8: low-frequency amplitude moved towards `style`'s, phase kept.

    style: (STYLE_SIDE, STYLE_SIDE, 3) uint8 from load_styles. The band is |ky|, |kx| <= beta * S
    cycles per crop, beta drawn from BETA; the amplitude moves a random 50-100% of the way, so the
    crop's mean colour (the DC term) does too. A gray crop takes the style's luminance and stays gray.
    With norm="forward" a coefficient depends on cycles per image, not on pixel count, which is why
    the small copies of crop and style can be compared directly.
    """
    size = image.shape[0]
    small_side = max(16, size // 4)  # a whole factor for multiples of 4: INTER_AREA is then a fast box average
    b = int(min(max(1, round(rng.uniform(*BETA) * size)), small_side // 2 - 1))
    mix = rng.uniform(0.5, 1.0)
    small = cv2.resize(image, (small_side, small_side), interpolation=cv2.INTER_AREA)
    if gray:
        small, style = small[..., :1], cv2.cvtColor(style, cv2.COLOR_RGB2GRAY)[..., None]
    rows = np.r_[0 : b + 1, -b:0]  # the band's frequencies, negative ones at the end as the FFT stores them
    crop_f = np.fft.rfft2(small.astype(np.float32), axes=(0, 1), norm="forward")[rows, : b + 1]
    style_f = np.fft.rfft2(style.astype(np.float32), axes=(0, 1), norm="forward")[rows, : b + 1]
    amplitude = (1 - mix) * np.abs(crop_f) + mix * np.abs(style_f)
    delta = np.zeros((small_side, small_side // 2 + 1, small.shape[2]), np.complex128)
    delta[rows, : b + 1] = amplitude * np.exp(1j * np.angle(crop_f)) - crop_f
    low = np.fft.irfft2(delta, s=(small_side, small_side), axes=(0, 1), norm="forward").astype(np.float32)
    low = cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)  # smooth: the band is far below Nyquist
    if gray:
        low = cv2.cvtColor(low, cv2.COLOR_GRAY2RGB)
    return cv2.add(image, low, dtype=cv2.CV_8U)
