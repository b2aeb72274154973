"""Streamlit-free ECG sources of the app (hfviz.dashboard.sources)."""

from __future__ import annotations

from types import SimpleNamespace

from hfviz.dashboard import sources


def test_source_signature_ignores_order_and_sees_names_and_bytes():
    a, b = ("a.hea", b"1"), ("a.dat", b"2")
    assert sources.source_signature([a, b]) == sources.source_signature([b, a])
    assert sources.source_signature([a]) != sources.source_signature([("a.hea", b"3")])
    assert sources.source_signature([a]) != sources.source_signature([("b.hea", b"1")])


def test_read_example_gives_name_and_bytes_pairs(tmp_path):
    (tmp_path / "x.csv").write_bytes(b"1,2")
    assert sources.read_example([tmp_path / "x.csv"]) == [("x.csv", b"1,2")]


def test_is_synthetic_ecg_from_metadata_simulator_or_example_label():
    def prepared(meta=None, fmt="csv"):
        return SimpleNamespace(record=SimpleNamespace(meta=meta or {}, source_format=fmt))

    assert sources.is_synthetic_ecg(prepared({"synthetic": True}), "upload.csv")
    assert sources.is_synthetic_ecg(prepared(fmt="simulated"), "upload.csv")
    assert sources.is_synthetic_ecg(prepared(), sources.EXAMPLE_PREFIX + "normal (rec1, WFDB)")
    assert not sources.is_synthetic_ecg(prepared(), "upload.csv")
    assert not sources.is_synthetic_ecg(prepared(), None)
