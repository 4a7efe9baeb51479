"""Read frames: any JPEG, PNG or TIFF on disk -> one (H, W, 3) uint8 RGB array, or a FrameError.

This is the one place where files become pixels, so every later stage can assume RGB order,
uint8 samples and EXIF orientation already applied (boxes refer to the pixels as displayed).
Pillow reads only the header (size, bands) so oversized files are refused before decoding;
OpenCV decodes the pixels.
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO
from pathlib import Path

import cv2
import numpy as np
from PIL import ExifTags, Image, ImageFile, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from debris.errors import UserError

IMAGE_SUFFIXES: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
# Orbital products, read in windows by debris.io.product: listed from folders beside the images. A PDS4
# label (.xml) is taken only when named, as that suffix is too common to pick out of a folder.
PRODUCT_SUFFIXES: tuple[str, ...] = (".jp2", ".j2k", ".jpx", ".img", ".lbl")
NAMED_SUFFIXES: tuple[str, ...] = (".xml",)
LIST_SUFFIXES: tuple[str, ...] = (".txt", ".lst")
DEFAULT_MAX_PIXELS = 200_000_000

# ANYDEPTH keeps 16-bit samples; ANYCOLOR drops alpha and, unlike IMREAD_UNCHANGED, makes OpenCV
# apply the EXIF orientation (JPEG, PNG eXIf and TIFF alike; checked with OpenCV 5.0).
_DECODE_FLAGS = cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
_JPEG_SIGNATURE, _PNG_SIGNATURE = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"
_PLUGINS: dict[bytes, type[ImageFile.ImageFile]] = {
    _JPEG_SIGNATURE: JpegImagePlugin.JpegImageFile,
    _PNG_SIGNATURE: PngImagePlugin.PngImageFile,
    b"II*\x00": TiffImagePlugin.TiffImageFile,
    b"MM\x00*": TiffImagePlugin.TiffImageFile,
    b"II+\x00": TiffImagePlugin.TiffImageFile,  # BigTIFF
    b"MM\x00+": TiffImagePlugin.TiffImageFile,
}
_PNG_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_PADDING = b"\x00 \t\r\n"

# Decoder chatter stays off the user's terminal; why a frame failed goes into its FrameError instead.
# Pillow warns about a corrupt TIFF or EXIF header while reading it; OpenCV logs libtiff's warnings
# (its errors are kept: _quiet_stderr captures them for the FrameError's reason).
warnings.filterwarnings("ignore", module=r"PIL\.")
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
# Pillow also logs some header errors (a TIFF's absurd SamplesPerPixel) before raising; with no handler
# of its own, Python's last-resort handler would print them. A NullHandler, as libraries are meant to
# have, stops that and still lets an application that configures logging see them.
logging.getLogger("PIL").addHandler(logging.NullHandler())


class FrameError(UserError):
    """Every bad input, as one type: `path` (str) and `reason` (str); str(e) == f"{path}: {reason}"."""

    def __init__(self, path: str | Path, reason: str):
        # Both go to Exception.args so the error pickles across DataLoader worker processes.
        super().__init__(str(path), reason)
        self.path, self.reason = str(path), reason

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass(frozen=True, eq=False)  # eq=False: comparing ndarrays has no single truth value
class Frame:
    """One decoded image.

    image: (H, W, 3) uint8 RGB, EXIF orientation applied, alpha dropped.
    bit_depth: bits per sample in the file, 8 or 16.
    channels: bands in the file: 1 gray, 2 gray+alpha, 3 RGB or palette, 4 RGBA (or CMYK).
    """

    image: np.ndarray
    path: Path | None
    bit_depth: int
    channels: int

    @property
    def width(self) -> int:
        return self.image.shape[1]

    @property
    def height(self) -> int:
        return self.image.shape[0]


def read_frame(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> Frame:
    """Decode one JPEG, PNG or TIFF (8 or 16 bit; gray, gray+alpha, RGB, RGBA or palette).

    16-bit samples map linearly 0..65535 -> 0..255 with rounding: never clipped, never stretched
    per frame, because contrast belongs to the preprocessing stages, which must see every frame
    on the same scale. Raises FrameError for anything that is not a whole, supported image.
    """
    path = Path(path)
    try:
        return _read(path, max_pixels)
    except OSError as e:  # permissions, a file vanishing mid-read, I/O errors
        raise FrameError(path, f"unreadable ({e.strerror or e})") from e


def check_file(path: Path) -> None:
    """FrameError unless `path` is an existing, non-empty file: the first thing said about any bad input."""
    if not path.exists():
        raise FrameError(path, "missing (no such file)")
    if not path.is_file():
        raise FrameError(path, "not a file")
    if path.stat().st_size == 0:
        raise FrameError(path, "empty (0 bytes)")


def _read(path: Path, max_pixels: int) -> Frame:
    check_file(path)
    width, height, channels = read_header(path)
    if (n := width * height) > max_pixels:
        raise FrameError(path, f"too large: {width} x {height} = {n} pixels exceeds the limit of {max_pixels}")

    data = np.fromfile(path, np.uint8)
    # OpenCV 4.x decodes a cut-off JPEG without failing (libjpeg pads it with grey; 5.0 refuses
    # it), so a partial download is caught by its missing end marker, whatever the build. Padding
    # past the marker is allowed; 64 KiB of tail is plenty, and a longer run of zeros is itself a
    # sign of a preallocated, unfinished file.
    tail = data[-65536:].tobytes().rstrip(_PADDING)
    head = data[:8].tobytes()
    if head.startswith(_JPEG_SIGNATURE) and not tail.endswith(b"\xff\xd9"):
        raise FrameError(path, "truncated or corrupt (no JPEG end marker FF D9)")
    if head.startswith(_PNG_SIGNATURE) and not tail.endswith(_PNG_IEND):
        raise FrameError(path, "truncated or corrupt (no PNG IEND chunk at the end)")
    image = decode_image(data, path)
    return Frame(to_rgb8(image), path, 8 * image.dtype.itemsize, channels)


def decode_image(data: np.ndarray, path: str | Path) -> np.ndarray:
    """A whole encoded file (uint8 bytes) -> the image as stored: (H, W) gray or (H, W, 3) BGR, uint8 or uint16.

    EXIF orientation is applied. `path` only names the file in the FrameError a bad file raises.
    """
    with _quiet_stderr() as messages:
        try:
            image = cv2.imdecode(data, _DECODE_FLAGS)
        except cv2.error as e:
            raise FrameError(path, f"truncated or corrupt ({' '.join(e.err.split())})") from e
    if image is None:
        said = [line.strip() for text in messages for line in text.splitlines() if line.strip()]
        raise FrameError(path, f"truncated or corrupt ({said[-1] if said else 'decoder failed'})")
    if image.dtype not in (np.uint8, np.uint16):
        raise FrameError(path, f"unsupported sample type {image.dtype}")
    return image


_stderr_lock = threading.Lock()
_stderr_users = 0
_stderr_saved = -1
_stderr_file: IO[bytes] | None = None


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[list[str]]:
    """File descriptor 2 goes to a temporary file for the block; the list receives what was written to it.

    libpng and libjpeg print their warnings and errors straight to file descriptor 2 ("libpng error:
    IDAT: incorrect data check", "Corrupt JPEG data: ..."), past any Python-level redirection and
    any OpenCV setting. Frames decode in several threads at once (debris label), so the first
    thread in redirects and the last one out restores; a frame's messages may then include a
    concurrent frame's, and a progress bar redrawn meanwhile is skipped until its next redraw.
    """
    global _stderr_users, _stderr_saved, _stderr_file
    with _stderr_lock:
        if _stderr_users == 0:
            sys.stderr.flush()
            _stderr_file = tempfile.TemporaryFile()
            _stderr_saved = os.dup(2)
            os.dup2(_stderr_file.fileno(), 2)
        _stderr_users += 1
        file = _stderr_file
        start = file.seek(0, os.SEEK_END)
    messages: list[str] = []
    try:
        yield messages
    finally:
        with _stderr_lock:
            end = file.seek(0, os.SEEK_END)
            file.seek(start)
            messages.append(file.read(end - start).decode(errors="replace"))
            file.seek(0, os.SEEK_END)
            _stderr_users -= 1
            if _stderr_users == 0:
                os.dup2(_stderr_saved, 2)
                os.close(_stderr_saved)
                file.close()


def read_header(path: str | Path) -> tuple[int, int, int]:
    """(width, height, channels) from the file's header alone, without decoding the pixels.

    Width and height are as displayed, i.e. after the EXIF orientation, like read_frame's image.
    Raises FrameError when the file is not a JPEG, PNG or TIFF or its header is unreadable.
    """
    with open(path, "rb") as f:
        head = f.read(8)
    plugin = next((p for sig, p in _PLUGINS.items() if head.startswith(sig)), None)
    if plugin is None:
        raise FrameError(path, f"not an image (starts {head!r}: no JPEG, PNG or TIFF signature)")
    # The format plugin, not Image.open, reads the header: Image.open applies Pillow's global
    # decompression-bomb limit (warns above ~89 MP, fails above ~179 MP), which would overrule
    # max_pixels, and changing Image.MAX_IMAGE_PIXELS would change it for the whole process.
    try:
        with plugin(path) as probe:
            width, height = probe.size
            # A palette file holds colours, so it counts as RGB, not as its single index band.
            channels = 3 if probe.mode == "P" else len(probe.getbands())
            # Image.getexif, not PngImageFile's, which decodes the whole file looking for eXIf
            orientation = Image.Image.getexif(probe).get(ExifTags.Base.Orientation)
    except (SyntaxError, ValueError, OSError) as e:
        raise FrameError(path, f"truncated or corrupt (header: {e})") from e
    # orientations 5-8 turn the image by 90 degrees
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return width, height, channels


def to_rgb8(image: np.ndarray) -> np.ndarray:
    """(H, W) gray or (H, W, 3) BGR, uint8 or uint16 -> (H, W, 3) uint8 RGB."""
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    code = cv2.COLOR_GRAY2RGB if image.ndim == 2 else cv2.COLOR_BGR2RGB
    return cv2.cvtColor(image, code)


def list_frames(sources: Sequence[str | Path], recursive: bool = False) -> list[Path]:
    """Expand image files, list files (.txt/.lst), folders and glob patterns into image paths.

    Folders and globs give images and orbital products (PRODUCT_SUFFIXES; a PDS3 product by its label).

    Order follows `sources`; folders and globs are sorted; each path appears once (first
    occurrence). Paths named in list files are not checked: read_frame reports missing ones,
    so one bad entry does not stop a batch.
    """
    found: dict[Path, Path] = {}  # resolved path -> first spelling: a folder and one of its files name it twice
    for source in sources:
        for path in _expand(source, recursive):
            found.setdefault(path.resolve(), path)
    return list(found.values())


def _expand(source: str | Path, recursive: bool) -> list[Path]:
    path = Path(source)
    if path.is_dir():
        return sorted(p for p in (path.rglob("*") if recursive else path.iterdir()) if _is_image(p))
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in IMAGE_SUFFIXES + PRODUCT_SUFFIXES + NAMED_SUFFIXES:
            return [path]
        if suffix in LIST_SUFFIXES:
            return _read_list(path)
        raise FrameError(source, f"not an image or a list of images (suffix {path.suffix or 'none'})")
    matches = sorted(p for p in map(Path, glob.glob(str(source), recursive=True)) if _is_image(p))
    if not matches:
        raise FrameError(source, "missing: no such file or folder, and no image file matches it as a glob")
    return matches


def _read_list(list_file: Path) -> list[Path]:
    """One path per line; blank lines and # comments skipped; relative to the list's folder."""
    try:
        text = list_file.read_text(encoding="utf-8-sig")  # -sig: lists saved by Windows editors
    except (OSError, UnicodeDecodeError) as e:
        raise FrameError(list_file, f"unreadable list of images ({e})") from e
    lines = [line.strip() for line in text.splitlines()]
    for number, line in enumerate(lines, 1):
        if "\x00" in line:  # no file system takes it; pathlib would raise ValueError
            raise FrameError(list_file, f"line {number}: a path with a NUL character")
    return [list_file.parent / line for line in lines if line and not line.startswith("#")]


def _is_image(path: Path) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".img", ".jp2") and detached_label(path):  # a PDS3 product: listed once, by its label
        return False
    return suffix in IMAGE_SUFFIXES + PRODUCT_SUFFIXES and path.is_file()


def detached_label(path: Path) -> Path | None:
    """The detached PDS3 label beside the file (same stem, .lbl or .LBL), or None."""
    return next((label for label in (path.with_suffix(".lbl"), path.with_suffix(".LBL")) if label.is_file()), None)
