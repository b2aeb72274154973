"""What one upload is: files that belong together, and unsupported formats named in clinicians' words."""

from __future__ import annotations

from pathlib import Path

import pytest
from dashboard_fixtures import wfdb_pair

from hfviz.dashboard import uploads

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "ecg-samples"


def _sample(rel: str) -> tuple[str, bytes]:
    path = SAMPLES / rel
    if not path.is_file():
        pytest.skip(f"sample {rel} is not available")
    return path.name, path.read_bytes()


def test_a_wfdb_header_with_its_own_signal_file_is_one_upload():
    assert uploads.upload_problem(wfdb_pair(0, record="rec01")) is None


def test_a_single_file_is_one_upload():
    assert uploads.upload_problem([("a.csv", b"I,II\n1,2\n")]) is None


def test_two_wfdb_records_are_refused_in_one_sentence_naming_both():
    msg = uploads.upload_problem(wfdb_pair(0, record="reca") + wfdb_pair(1, record="recb"))
    assert msg is not None and "reca" in msg and "recb" in msg and "one record" in msg
    assert msg.count(". ") == 0 and msg.endswith(".")


def test_a_wfdb_record_with_an_unrelated_xml_is_refused_naming_the_stranger():
    msg = uploads.upload_problem(wfdb_pair(0, record="reca") + [("muse.xml", b"<RestingECG/>")])
    assert msg is not None and msg.startswith("muse.xml does not belong to the WFDB record reca")


def test_two_single_file_ecgs_are_refused():
    msg = uploads.upload_problem([("a.xml", b"<RestingECG/>"), ("b.csv", b"I,II\n1,2\n")])
    assert msg is not None and "2 separate ECG files" in msg


def test_an_unsupported_vendor_xml_is_named_in_clinicians_words():
    data = b'<?xml version="1.0"?><MortaraECG></MortaraECG>'
    reader_error = "trace.xml: XML with root element <MortaraECG> is not a supported ECG format (GE …)."
    msg = uploads.unsupported_format_sentence([("trace.xml", data)], reader_error)
    assert msg == "trace.xml is Mortara XML, which is not supported yet."


def test_a_failed_read_of_a_supported_format_keeps_the_readers_sentence():
    name, data = _sample("philips/129DYPRG.XML")
    reader_error = f"{name}: the Philips waveform of lead V2 is truncated."
    assert uploads.unsupported_format_sentence([(name, data)], reader_error) == reader_error


def test_utf16_philips_xml_is_recognised():
    assert uploads.format_name("x.xml", _sample("philips/3191723_ZZDEMOPTONLY_1-04_orig.xml")[1]) == \
        "Philips PageWriter XML"


def test_scp_file_is_named_by_its_format():
    assert uploads.format_name("Example.scp", b"\x12\x34" + bytes(200)) == "SCP-ECG"


def test_a_readers_own_sentence_is_kept_for_a_corrupt_file_of_a_known_format():
    err = "a.xml: the file is truncated (XML ends early)."
    assert uploads.unsupported_format_sentence([("a.xml", b"<RestingECG>")], err) == err


def test_unrecognised_content_keeps_the_readers_sentence():
    err = "blob.bin: unknown file format; supported are WFDB, …"
    assert uploads.unsupported_format_sentence([("blob.bin", bytes(range(256)))], err) == err


def test_every_format_the_readers_return_has_words_and_those_formats_keep_the_readers_sentence():
    from hfviz.ecg.io import FORMATS

    assert set(FORMATS) <= set(uploads.FORMAT_WORDS)
    assert uploads.format_words("cardiosoft") == "GE CardioSoft XML" and uploads.format_words("odd") == "odd"
    reader_error = "a.xml: the CardioSoft strip has no samples."
    assert uploads.unsupported_format_sentence([("a.xml", b"<CardiologyXML/>")], reader_error) == reader_error
