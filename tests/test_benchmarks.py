"""The benchmark runner at test size: everything runs end to end and the report is well formed."""

from __future__ import annotations

import re

from benchmarks import run


def test_tiny_benchmark_run_writes_a_complete_summary(tmp_path):
    report = tmp_path / "BENCHMARKS.md"
    run.main(["--tiny", "--no-references", "--sets", str(tmp_path / "sets"), "--report", str(report)])
    text = report.read_text()
    assert text.startswith("# Benchmarks\n")
    section = text.split("## Summary (benchmarks/run.py --tiny)\n", 1)[1]
    rows = re.findall(r"^\| (.+?) \| (.+?) \| (.+?) \|$", section, re.M)
    figures = {name: value for name, value, _ in rows[1:]}  # after the header
    assert len(figures) == 10
    for name in ["mAP50-95, synthetic test split", "mAP50", "nav 640×480, frames/s (`debris label`)", "4208×3120 colour, s/frame"]:
        assert 0 <= float(figures[name]) < 1e4, (name, figures[name])
    assert re.match(r"\d+\.\d\d GB$", next(v for k, v in figures.items() if k.startswith("peak RSS")))
    assert "AMD" in section or "cores" in section  # the machine line
