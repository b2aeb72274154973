"""``python -m hfviz bench`` measures and reports; it never asserts speed."""

from __future__ import annotations

import json

from hfviz.cli import main


def test_bench_read_reports_median_timings_as_json(tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--only", "read", "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(out.read_text())
    assert printed == saved
    assert saved["machine"]["cpus"] >= 1
    assert saved["read"]["read_prepare_s"]["median_s"] > 0
    assert "simulate" not in saved and "model" not in saved


def test_bench_rejects_an_unknown_benchmark_with_exit_2(capsys):
    assert main(["bench", "--only", "gpu"]) == 2
    assert "invalid choice" in capsys.readouterr().err
