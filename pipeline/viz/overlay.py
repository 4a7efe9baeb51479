"""Predictions or ground truth drawn onto their frames: one JPEG per frame, a gallery, a video.

Everything here reads frames through `debris.io.reader` and draws through `debris.viz.draw`, so an
overlay shows exactly the pixels and boxes the rest of the pipeline sees. Every output is
written atomically: an interrupted run leaves whole files or none.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import cv2
import numpy as np
from tqdm import tqdm

from debris.errors import UserError
from debris.labels import ImageLabels
from debris.detections import Detections
from debris.viz.draw import contact_sheet, draw_detections
from debris.io.files import FILE_MODE, write_bytes_atomic
from debris.io.reader import FrameError, read_frame

JPEG_QUALITY = 90
# A video's codecs by its file's suffix, best first: (FourCC, what the user gets). The FFmpeg inside the
# opencv-python wheels is an LGPL build without libx264 or OpenH264, so H.264 (avc1) opens only where
# OpenCV was built with an H.264 encoder (or finds a hardware one); VP9 in WebM is what every wheel
# writes that browsers play. mp4v (MPEG-4 Part 2) plays in VLC and ffmpeg, not in browsers.
BROWSERS = "plays in browsers"
CODECS: dict[str, list[tuple[str, str]]] = {
    ".webm": [("VP90", f"VP9, {BROWSERS}"), ("VP80", f"VP8, {BROWSERS}")],
    ".mp4": [("avc1", f"H.264, {BROWSERS}"), ("mp4v", "MPEG-4 Part 2 (this OpenCV has no H.264 encoder): browsers do "
                                                       "not play it, VLC does; name a .webm for VP9")],
    ".mov": [("avc1", "H.264"), ("mp4v", "MPEG-4 Part 2 (this OpenCV has no H.264 encoder)")],
    ".mkv": [("VP90", "VP9"), ("mp4v", "MPEG-4 Part 2")],
    ".avi": [("MJPG", "Motion JPEG")],
}
GAP = 4  # pixels contact_sheet leaves around each image in its cell


class VideoError(UserError):
    """A video that cannot be written (an unknown suffix, no encoder for it, or the file cannot be created)."""


@dataclass
class Overlays:
    """What overlay_frames did, in the order of its `images`."""

    written: list[Path] = field(default_factory=list)  # one JPEG per frame drawn
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file_name, reason) of each frame not read
    tiles: list[np.ndarray] = field(default_factory=list)  # with `gallery_cell`: (h, w, 3) uint8 RGB per written frame


def overlay_frames(
    images: list[ImageLabels],
    image_root: Path,
    classes: list[str],
    out_dir: Path,
    show_scores: bool = True,
    gallery_cell: tuple[int, int] | None = None,
) -> Overlays:
    """Draw each image's boxes on its frame and write out_dir/<file_name>.jpg (sub-folders kept).

    Frames are read from image_root / file_name. One that cannot be read is listed in `failed`
    with the reason and the batch goes on. gallery_cell = (width, height): also keep in `tiles`
    each frame shrunk to fit a write_gallery cell of that size, boxes drawn at the small scale, so
    the gallery's labels are as legible as the full frame's (a shrunk 13 MP overlay has 6-pixel text).
    """
    result = Overlays()
    for image in tqdm(images, desc="overlay", unit="frame", disable=None):  # None: no bar unless a tty
        try:
            frame = read_frame(Path(image_root) / image.file_name).image
        except FrameError as e:
            result.failed.append((image.file_name, e.reason))
            continue
        path = Path(out_dir) / PurePosixPath(image.file_name).with_suffix(".jpg")
        write_overlay(path, frame, image.labels, classes, show_scores)
        result.written.append(path)
        if gallery_cell:
            scale = min((gallery_cell[0] - GAP) / frame.shape[1], (gallery_cell[1] - GAP) / frame.shape[0])
            labels = Detections(image.labels.xyxy * scale, image.labels.scores, image.labels.class_ids)
            result.tiles.append(draw_detections(_resize(frame, scale), labels, classes, show_scores))
    return result


def write_overlay(path: Path, frame: np.ndarray, labels: Detections, classes: list[str], show_scores: bool = True) -> None:
    """One frame ((H, W, 3) uint8 RGB) with its boxes drawn, as a JPEG at `path`, atomically."""
    drawn = draw_detections(frame, labels, classes, show_scores)
    _, jpeg = cv2.imencode(".jpg", cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    write_bytes_atomic(path, jpeg.tobytes())


def write_gallery(
    frames: Sequence[Path | np.ndarray], out_png: Path, columns: int = 4, cell: tuple[int, int] = (400, 300)
) -> Path:
    """A contact sheet of `frames` (image files, or (H, W, 3) uint8 RGB arrays) as one PNG.

    The sheet is columns * cell[0] pixels wide and ceil(len / columns) * cell[1] high; each frame
    is fitted into its cell with its aspect ratio kept (overlay_frames' tiles already are). Files
    are shrunk as they are read, so only the small copies are held in memory.
    """
    fit = (cell[0] - GAP, cell[1] - GAP)
    tiles = [_fit(f if isinstance(f, np.ndarray) else read_frame(f).image, fit) for f in frames]
    sheet = contact_sheet(tiles, columns, cell)
    _, png = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    write_bytes_atomic(out_png, png.tobytes())
    return Path(out_png)


def write_video(frames: Sequence[Path | np.ndarray], out: Path, fps: float = 2.0) -> tuple[Path, str]:
    """A video of `frames` in order (image files, or (H, W, 3) uint8 RGB arrays); returns (path, its codec).

    The container follows the suffix (.webm, .mp4, .mov, .mkv, .avi) and the codec is the best of
    CODECS[suffix] this OpenCV can encode. Its size is the first frame's, rounded down to even
    dimensions (what the encoder's chroma subsampling needs); every other frame is letterboxed into
    it with its aspect ratio kept. Raises VideoError naming the file for an unknown suffix or when no
    writer can be opened, ValueError with no frames.
    """
    if not frames:
        raise ValueError(f"{out}: no frames to write")
    out = Path(out)
    codecs = CODECS.get(out.suffix.lower())
    if codecs is None:
        raise VideoError(f"{out}: unknown video suffix; name a {', '.join(CODECS)} file (.webm plays in browsers)")
    out.parent.mkdir(parents=True, exist_ok=True)
    # OpenCV picks the container from the suffix, so the temporary file must end in it too
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
    os.close(fd)
    writer, codec = None, ""
    try:
        for f in frames:
            rgb = f if isinstance(f, np.ndarray) else read_frame(f).image
            if writer is None:
                size = (rgb.shape[1] // 2 * 2, rgb.shape[0] // 2 * 2)
                writer, codec = _open_writer(tmp, codecs, fps, size)
                if writer is None:
                    raise VideoError(f"{out}: cannot write {' or '.join(c for c, _ in codecs)} video at {size[0]}x{size[1]} "
                                     "(no such encoder in this OpenCV build, or the folder is not writable)")
            # OpenCV writes BGR
            writer.write(cv2.cvtColor(_letterbox(rgb, size), cv2.COLOR_RGB2BGR))
        writer.release()
        os.chmod(tmp, FILE_MODE)  # mkstemp's 0600 would ignore the umask
        os.replace(tmp, out)
    except BaseException:
        if writer is not None:
            writer.release()
        Path(tmp).unlink(missing_ok=True)
        raise
    return out, codec


def _open_writer(path: str, codecs: list[tuple[str, str]], fps: float, size: tuple[int, int]):
    """(an open cv2.VideoWriter, "FOURCC: what it is") with the first codec that opens, else (None, "")."""
    for fourcc, what in codecs:
        with _quiet_stderr():  # FFmpeg and OpenCV print why a codec is missing, or that WebM has no FourCC tags
            writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*fourcc), fps, size)
        if writer.isOpened():
            return writer, f"{fourcc}: {what}"
        writer.release()
    return None, ""


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (C libraries write there directly, past sys.stderr) for the block."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    # INTER_AREA averages the pixels a shrunk one covers (no aliasing); it is blocky when enlarging
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _fit(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Shrink or enlarge `image` to fit inside size = (width, height), aspect ratio kept."""
    return _resize(image, min(size[0] / image.shape[1], size[1] / image.shape[0]))


def _letterbox(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """`image` fitted into a black (height, width, 3) canvas of size = (width, height), centred."""
    if (image.shape[1], image.shape[0]) == size:
        return image
    small = _fit(image, size)
    h, w = small.shape[:2]
    canvas = np.zeros((size[1], size[0], 3), np.uint8)
    top, left = (size[1] - h) // 2, (size[0] - w) // 2
    canvas[top : top + h, left : left + w] = small
    return canvas
