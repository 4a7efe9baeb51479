"""Every parser a user feeds ends each input in a value or in debris's own error naming the file (benchmarks/fuzz.py
runs 10,000 inputs per parser; CI runs a few hundred)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from benchmarks.fuzz import TARGETS, Target, outcome
from debris.io.reader import FrameError, read_frame

# pytest resets the warning filters per test, undoing the reader's silencing of Pillow's header warnings
pytestmark = pytest.mark.filterwarnings(r"ignore::UserWarning:PIL\..*")
EXAMPLES = 300  # per parser: the whole file in about 30 s on 2 cores


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_parser_ends_every_input_in_a_value_or_its_own_error(target: Target):
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(target.inputs)
    def run(value):
        assert outcome(target, value) in ("value", "user error")

    run()


def test_a_corrupt_png_fails_with_libpngs_reason_and_nothing_on_the_terminal(tmp_path, capfd):
    ok, encoded = cv2.imencode(".png", np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8))
    data = bytearray(encoded.tobytes())
    data[60:70] = bytes(10)  # inside the IDAT chunk: the header reads, the pixels do not
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    with pytest.raises(FrameError, match="bad.png") as caught:
        read_frame(path)
    assert "libpng" in caught.value.reason or "decoder failed" in caught.value.reason
    out, err = capfd.readouterr()
    assert err == ""
