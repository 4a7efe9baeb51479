"""Tests for debris.io.reader: every input is built in tmp_path with cv2, Pillow and numpy."""

from __future__ import annotations

import io
import pickle
import struct
import warnings
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from debris.io.reader import DEFAULT_MAX_PIXELS, Frame, FrameError, list_frames, read_frame


def asymmetric_rgb(height: int = 48, width: int = 64) -> np.ndarray:
    """(H, W, 3) uint8 RGB with smooth ramps (JPEG-friendly) and a block in one corner only."""
    y, x = np.mgrid[:height, :width]
    image = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), np.full_like(x, 40)], axis=-1)
    image[: height // 3, : width // 4, 2] = 230
    return image.astype(np.uint8)


def write_bytes(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def cut_off_png(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, cut off after its first rows: a partial download."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(bytes(1000)))


def assert_frame_error(path: Path, reason_start: str, **kwargs) -> FrameError:
    with pytest.raises(FrameError) as info:
        read_frame(path, **kwargs)
    assert info.value.path == str(path)
    assert info.value.reason.startswith(reason_start), info.value.reason
    assert str(info.value) == f"{path}: {info.value.reason}"
    return info.value


# --- pixels --------------------------------------------------------------------------------


def test_png_round_trip_is_exact_and_rgb(tmp_path):
    red_bgr = np.zeros((5, 7, 3), np.uint8)
    red_bgr[..., 2] = 255
    cv2.imwrite(str(tmp_path / "red.png"), red_bgr)
    rgb = asymmetric_rgb()
    Image.fromarray(rgb).save(tmp_path / "ramp.png")

    red = read_frame(tmp_path / "red.png")
    assert isinstance(red, Frame) and red.image.dtype == np.uint8 and red.image.shape == (5, 7, 3)
    assert (red.image == [255, 0, 0]).all()
    assert (red.width, red.height, red.bit_depth, red.channels) == (7, 5, 8, 3)
    assert red.path == tmp_path / "red.png"
    np.testing.assert_array_equal(read_frame(str(tmp_path / "ramp.png")).image, rgb)


def test_gray_png_is_replicated_to_three_channels(tmp_path):
    gray = asymmetric_rgb()[..., 0]
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    frame = read_frame(tmp_path / "gray.png")
    assert (frame.channels, frame.bit_depth) == (1, 8)
    for c in range(3):
        np.testing.assert_array_equal(frame.image[..., c], gray)


def test_16bit_gray_png_maps_every_value_linearly(tmp_path):
    every_value = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    cv2.imwrite(str(tmp_path / "g16.png"), every_value)
    frame = read_frame(tmp_path / "g16.png")
    assert (frame.bit_depth, frame.channels) == (16, 1)
    expected = np.round(every_value.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(frame.image[..., 0], expected)
    assert frame.image[0, 0, 0] == 0 and frame.image[-1, -1, 0] == 255
    k = np.arange(256)
    np.testing.assert_array_equal(frame.image[..., 1].ravel()[257 * k], k)  # 257*k -> k


def test_16bit_rgb_tiff_is_scaled_not_stretched(tmp_path):
    # A dim frame stays dim: no per-frame stretch, 257*k -> k in each channel.
    rgb16 = np.zeros((4, 6, 3), np.uint16)
    rgb16[..., 0], rgb16[..., 1], rgb16[..., 2] = 257 * 10, 257 * 20, 257 * 30
    rgb16[0, 0] = (65535, 0, 257)
    cv2.imwrite(str(tmp_path / "rgb16.tif"), rgb16[..., ::-1])  # cv2 writes BGR
    frame = read_frame(tmp_path / "rgb16.tif")
    assert (frame.bit_depth, frame.channels) == (16, 3)
    assert frame.image[0, 0].tolist() == [255, 0, 1]
    assert (frame.image[1:] == [10, 20, 30]).all()


def test_rgba_png_drops_alpha(tmp_path):
    rgba = np.dstack([asymmetric_rgb(), np.linspace(0, 255, 64, dtype=np.uint8)[None, :].repeat(48, 0)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    frame = read_frame(tmp_path / "rgba.png")
    assert (frame.channels, frame.bit_depth) == (4, 8)
    np.testing.assert_array_equal(frame.image, rgba[..., :3])


def test_gray_alpha_and_palette_pngs(tmp_path):
    gray = asymmetric_rgb()[..., 0]
    Image.fromarray(np.dstack([gray, gray]), "LA").save(tmp_path / "la.png")
    rgb = asymmetric_rgb()
    Image.fromarray(rgb).quantize(256).save(tmp_path / "palette.png")

    la = read_frame(tmp_path / "la.png")
    assert la.channels == 2
    np.testing.assert_array_equal(la.image, np.dstack([gray, gray, gray]))
    palette = read_frame(tmp_path / "palette.png")
    assert (palette.channels, palette.bit_depth) == (3, 8)
    np.testing.assert_array_equal(palette.image, np.asarray(Image.open(tmp_path / "palette.png").convert("RGB")))


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
@pytest.mark.parametrize("orientation, quarter_turns", [(3, 2), (6, -1), (8, 1)])  # counter-clockwise
def test_exif_orientation_is_applied(tmp_path, suffix, orientation, quarter_turns):
    rgb = asymmetric_rgb()
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(rgb).save(tmp_path / f"rotated{suffix}", exif=exif)
    frame = read_frame(tmp_path / f"rotated{suffix}")
    expected = np.rot90(rgb, quarter_turns)
    assert frame.image.shape == expected.shape
    assert (frame.width, frame.height) == (expected.shape[1], expected.shape[0])
    assert np.abs(frame.image.astype(int) - expected).mean() < 3
    # the orientation must be the right one, not merely some rotation of the right shape
    assert np.abs(frame.image.astype(int) - np.rot90(expected, 2)).mean() > 30


def test_unicode_path_with_spaces(tmp_path):
    path = tmp_path / "Flug 26 — Jezero" / "frame é.png"
    path.parent.mkdir()
    rgb = asymmetric_rgb()
    Image.fromarray(rgb).save(path)
    np.testing.assert_array_equal(read_frame(path).image, rgb)
    assert list_frames([path.parent]) == [path]


# --- bad inputs -----------------------------------------------------------------------------


def jpeg_bytes() -> bytes:
    ok, encoded = cv2.imencode(".jpg", asymmetric_rgb(240, 320))
    assert ok
    return encoded.tobytes()


def test_missing_file_and_folder(tmp_path):
    assert_frame_error(tmp_path / "nope.png", "missing")
    assert_frame_error(tmp_path, "not a file")


def test_empty_file(tmp_path):
    assert_frame_error(write_bytes(tmp_path / "empty.png", b""), "empty (0 bytes)")


def test_text_named_jpg(tmp_path):
    assert_frame_error(write_bytes(tmp_path / "notes.jpg", b"landing ellipse notes\n"), "not an image")


def test_truncated_jpeg(tmp_path):
    data = jpeg_bytes()
    # the end marker, not the decoder, must catch it: some OpenCV builds decode a cut-off JPEG
    reason = "truncated or corrupt (no JPEG end marker FF D9)"
    assert_frame_error(write_bytes(tmp_path / "half.jpg", data[: len(data) // 2]), reason)
    # padding after the end marker is what some writers do; that file is whole
    padded = write_bytes(tmp_path / "padded.jpg", data + b"\x00" * 100 + b"\r\n")
    assert read_frame(padded).image.shape == (240, 320, 3)


def test_truncated_png(tmp_path):
    Image.fromarray(asymmetric_rgb()).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    reason = "truncated or corrupt (no PNG IEND chunk at the end)"
    assert_frame_error(write_bytes(tmp_path / "cut.png", data[: len(data) // 2]), reason)
    assert_frame_error(write_bytes(tmp_path / "no_iend.png", data[:-12]), reason)


def test_corrupt_and_truncated_tiff(tmp_path):
    Image.fromarray(asymmetric_rgb()).save(tmp_path / "whole.tif")
    data = (tmp_path / "whole.tif").read_bytes()
    assert_frame_error(write_bytes(tmp_path / "zeros.tif", data[:8] + bytes(len(data) - 8)), "truncated or corrupt")
    assert_frame_error(write_bytes(tmp_path / "half.tif", data[: len(data) // 2]), "truncated or corrupt")


def test_too_many_pixels_refused_before_decoding(tmp_path):
    Image.fromarray(asymmetric_rgb()).save(tmp_path / "frame.png")
    error = assert_frame_error(tmp_path / "frame.png", "too large", max_pixels=1000)
    assert error.reason == "too large: 64 x 48 = 3072 pixels exceeds the limit of 1000"
    assert read_frame(tmp_path / "frame.png", max_pixels=3072).width == 64


def test_our_limit_not_pillows_decides(tmp_path):
    # 200 MP is past Pillow's own bomb limit (~179 MP); only max_pixels may judge it, and
    # without a DecompressionBombWarning. Past the limit, the file then fails as truncated.
    path = write_bytes(tmp_path / "huge.png", cut_off_png(20_000, 10_000))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert_frame_error(path, "too large: 20000 x 10000", max_pixels=DEFAULT_MAX_PIXELS - 1)
        assert_frame_error(path, "truncated or corrupt", max_pixels=DEFAULT_MAX_PIXELS)


def test_float_and_int32_tiff_unsupported(tmp_path):
    Image.fromarray(np.full((4, 5), 0.5, np.float32), "F").save(tmp_path / "float.tif")
    Image.fromarray(np.full((4, 5), 7, np.int32), "I").save(tmp_path / "int.tif")
    assert_frame_error(tmp_path / "float.tif", "unsupported sample type float32")
    assert_frame_error(tmp_path / "int.tif", "unsupported sample type int32")


def test_frame_error_pickles():
    error = pickle.loads(pickle.dumps(FrameError("a b.png", "empty (0 bytes)")))
    assert (error.path, error.reason, str(error)) == ("a b.png", "empty (0 bytes)", "a b.png: empty (0 bytes)")


# --- list_frames ---------------------------------------------------------------------------


@pytest.fixture
def tree(tmp_path):
    """tmp_path/flight with images at three depths and non-images beside them (contents unread)."""
    for name in ["b.png", "a.JPG", "c.tiff", "readme.md", "sub/d.jpg", "sub/deeper/e.png", "sub/x.csv"]:
        write_bytes(tmp_path / "flight" / name, b"not checked here")
    return tmp_path / "flight"


def test_folder_sorted_images_only(tree):
    assert list_frames([tree]) == [tree / "a.JPG", tree / "b.png", tree / "c.tiff"]


def test_folder_recursive(tree):
    expected = ["a.JPG", "b.png", "c.tiff", "sub/d.jpg", "sub/deeper/e.png"]
    assert list_frames([str(tree)], recursive=True) == [tree / name for name in expected]


def test_glob(tree):
    assert list_frames([str(tree / "*.png")]) == [tree / "b.png"]
    assert list_frames([str(tree / "**" / "*.png")]) == [tree / "b.png", tree / "sub/deeper/e.png"]
    assert list_frames([str(tree / "sub" / "*")]) == [tree / "sub/d.jpg"]  # x.csv and deeper/ skipped


def test_list_file(tree, tmp_path):
    listing = "# frames to check\n\nb.png\n  sub/d.jpg  \n# sub/deeper/e.png\nmissing.png\n" + str(tmp_path / "abs.jpg")
    (tree / "frames.txt").write_text(listing + "\n", encoding="utf-8")
    expected = [tree / "b.png", tree / "sub/d.jpg", tree / "missing.png", tmp_path / "abs.jpg"]
    assert list_frames([tree / "frames.txt"]) == expected  # missing.png is read_frame's to report


def test_single_image_and_duplicates(tree):
    (tree / "frames.lst").write_text("c.tiff\nb.png\n", encoding="utf-8")
    sources = [tree / "c.tiff", tree, tree / "frames.lst", str(tree / "*.png")]
    assert list_frames(sources) == [tree / "c.tiff", tree / "a.JPG", tree / "b.png"]


def test_bad_sources(tree):
    with pytest.raises(FrameError) as info:
        list_frames([tree / "a.JPG", tree / "nowhere" / "*.png"])
    assert info.value.path == str(tree / "nowhere" / "*.png") and info.value.reason.startswith("missing")
    with pytest.raises(FrameError) as info:
        list_frames([tree / "sub" / "x.csv"])
    assert info.value.reason == "not an image or a list of images (suffix .csv)"


def test_a_tiff_with_absurd_samples_per_pixel_is_refused_without_a_word_on_stderr(tmp_path, capfd):
    # Pillow logs "More samples per pixel than can be decoded" before raising; found by benchmarks/fuzz.py
    buffer = io.BytesIO()
    Image.fromarray(np.full((5, 7, 3), 90, np.uint8)).save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack("<I", data[4:8])[0]
    for i in range(struct.unpack("<H", data[ifd : ifd + 2])[0]):
        entry = ifd + 2 + 12 * i
        if struct.unpack("<H", data[entry : entry + 2])[0] == 277:  # SamplesPerPixel
            data[entry + 8 : entry + 10] = struct.pack("<H", 788)
    path = tmp_path / "bad.tif"
    path.write_bytes(data)
    with pytest.raises(FrameError, match="bad.tif: truncated or corrupt \\(header: Invalid value for samples per pixel\\)"):
        read_frame(path)
    assert capfd.readouterr().err == ""


def test_folders_list_orbital_products_and_a_pds3_product_once_by_its_label(tmp_path):
    for name in ["a.png", "b.jp2", "c.IMG", "c.LBL", "d.img", "e.xml", "notes.txt.bak"]:
        (tmp_path / name).write_bytes(b"x")
    # c.IMG is the image of the detached label c.LBL: one product; d.img has no label beside it
    assert [p.name for p in list_frames([tmp_path])] == ["a.png", "b.jp2", "c.LBL", "d.img"]
    assert list_frames([tmp_path / "e.xml"]) == [tmp_path / "e.xml"]  # a PDS4 label is taken when named
