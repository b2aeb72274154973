"""Readers: every real sample loads, uploads equal paths, round trips, and bad input fails cleanly."""

from __future__ import annotations

import builtins
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ecg_signals import synthetic_ecg
from hfviz.errors import ECGFormatError
from hfviz.ecg.io import read_ecg, sniff_format
from hfviz.ecg.io._common import MAX_FILE_BYTES
from hfviz.ecg.record import LEADS

ROOT = Path(__file__).resolve().parents[1]
LIMB = ("III", "aVR", "aVL", "aVF")

# file -> (format, fs_hz, duration_s, derived leads, has device median beat)
SAMPLES = {
    "wfdb/1.hea": ("wfdb", 500.0, 10.0, (), False),
    "wfdb/s0010_re.hea": ("wfdb", 1000.0, 38.4, (), False),
    **{f"wfdb/HR0600{i}.hea": ("wfdb", 500.0, 10.0, (), False) for i in range(5)},
    **{f"wfdb/JS2000{i}.hea": ("wfdb", 500.0, 10.0, (), False) for i in range(10)},
    "cardiosoft/example-XML1.xml": ("cardiosoft", 500.0, 10.0, (), True),
    "muse/example1.xml": ("muse", 500.0, 10.0, LIMB, True),
    "muse/example2.xml": ("muse", 500.0, 10.0, LIMB, True),
    "aecg/HL7_Example_aECG.xml": ("aecg", 500.0, 10.0, (), True),
    "dicom/example-DICOM1.dcm": ("dicom", 500.0, 10.0, (), True),
}


def wfdb_group(samples: Path, hea: str) -> list[Path]:
    """The .hea and the signal files it names."""
    hea_path = samples / hea
    files = [hea_path]
    for line in hea_path.read_text().splitlines()[1:]:
        if line and not line.startswith("#"):
            f = hea_path.parent / line.split()[0]
            if f not in files:
                files.append(f)
    return files


def as_upload(paths: list[Path]) -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in paths]


def assert_fails_cleanly(source, **kw) -> str:
    """read_ecg raises ECGFormatError (never another type); returns the message."""
    try:
        read_ecg(source, **kw)
    except ECGFormatError as exc:
        msg = str(exc)
        assert msg and "\n" not in msg
        return msg
    except Exception as exc:  # pragma: no cover - the failure we are testing against
        pytest.fail(f"{type(exc).__name__} escaped read_ecg: {exc}")
    pytest.fail("read_ecg accepted bad input")


# --- real samples -------------------------------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(SAMPLES))
def test_real_sample_loads_with_12_leads_rate_duration_and_plausible_amplitudes(samples, rel):
    fmt, fs, duration, derived, has_median = SAMPLES[rel]
    rec = read_ecg(samples / rel)
    assert rec.source_format == fmt
    assert rec.leads == LEADS and rec.signal_mv.shape[0] == 12
    assert rec.fs_hz == fs
    assert rec.duration_s == pytest.approx(duration)
    assert rec.derived_leads == derived
    assert (rec.median_beat_mv is not None) == has_median
    p2p = np.ptp(rec.signal_mv, axis=1)
    flagged_flat = {flag.split(":")[0] for flag in rec.quality if "flat" in flag}
    assert flagged_flat == {lead for lead, v in zip(LEADS, p2p) if v < 0.02}  # flat leads are flagged, not hidden
    live = [v for lead, v in zip(LEADS, p2p) if lead not in flagged_flat]
    in_range = sum(0.3 <= v <= 5.0 for v in live)
    assert len(live) >= 9 and in_range >= 2 * len(live) / 3, f"peak-to-peak per lead {np.round(p2p, 2)}"
    assert rec.source_name == Path(rel).name


@pytest.mark.parametrize("rel", sorted(SAMPLES))
def test_upload_bytes_give_the_same_record_as_the_path(samples, rel):
    from_path = read_ecg(samples / rel)
    paths = wfdb_group(samples, rel) if rel.endswith(".hea") else [samples / rel]
    from_upload = read_ecg(as_upload(paths))
    assert np.array_equal(from_path.signal_mv, from_upload.signal_mv)
    assert from_path.fs_hz == from_upload.fs_hz
    assert from_path.meta == from_upload.meta
    assert from_path.derived_leads == from_upload.derived_leads
    if from_path.median_beat_mv is None:
        assert from_upload.median_beat_mv is None
    else:
        assert np.array_equal(from_path.median_beat_mv, from_upload.median_beat_mv)


def test_wfdb_reader_matches_wfdb_python_on_every_record(samples):
    import wfdb

    from hfviz.ecg.record import normalise_lead_name

    for hea in sorted((samples / "wfdb").glob("*.hea")):
        ref = wfdb.rdrecord(str(hea.with_suffix("")))
        names = [normalise_lead_name(n) for n in ref.sig_name]
        expected = ref.p_signal[:, [names.index(lead) for lead in LEADS]].T
        got = read_ecg(hea).signal_mv
        assert np.allclose(got, expected, atol=1e-12, equal_nan=True), hea.name


def test_ptb_record_ignores_frank_leads_and_needs_no_xyz_file(samples):
    rec = read_ecg(as_upload([samples / "wfdb/s0010_re.hea", samples / "wfdb/s0010_re.dat"]))
    assert rec.fs_hz == 1000.0 and rec.n_samples == 38400
    assert rec.meta["age"] == 81 and rec.meta["sex"] == "F"
    assert "infarction" in rec.meta["interpretation"].lower()


def test_wfdb_record_found_from_a_dat_path_or_record_name(samples):
    by_name = read_ecg(samples / "wfdb" / "HR06001")
    by_mat = read_ecg(samples / "wfdb" / "HR06001.mat")
    assert np.array_equal(by_name.signal_mv, by_mat.signal_mv)
    several = read_ecg([samples / "wfdb/HR06001.mat", samples / "wfdb/HR06001.hea"])
    assert np.array_equal(by_name.signal_mv, several.signal_mv)


def test_cardiosoft_reads_strip_median_resolution_and_metadata_without_names(samples):
    path = samples / "cardiosoft/example-XML1.xml"
    rec = read_ecg(path)
    assert rec.median_beat_mv.shape == (12, 600) and rec.median_fs_hz == 500.0
    # 5 µV per unit: every value is a multiple of 0.005 mV
    units = rec.signal_mv / 0.005
    assert np.allclose(units, np.round(units), atol=1e-9)
    assert rec.meta["age"] == 53 and rec.meta["sex"] == "M"
    assert rec.meta["device_measurements"]["VentricularRate"]["value"] == 50.0
    assert "Sinus bradycardia" in rec.meta["interpretation"]
    assert rec.meta["acquired"].startswith("2018-07-19")
    text = json.dumps(rec.meta)
    assert "ACE" not in text and "1532006361" not in text  # GivenName / FamilyName / PID


def test_muse_derives_limb_leads_from_i_and_ii(samples):
    rec = read_ecg(samples / "muse/example1.xml")
    i, ii = rec.lead("I"), rec.lead("II")
    assert np.allclose(rec.lead("III"), ii - i)
    assert np.allclose(rec.lead("aVR"), -(i + ii) / 2)
    assert rec.median_beat_mv.shape == (12, 600)
    assert rec.meta["device_measurements"]["VentricularRate"]["value"] == 48.0


def test_aecg_and_dicom_keep_no_subject_names(samples):
    aecg = read_ecg(samples / "aecg/HL7_Example_aECG.xml")
    assert aecg.meta["age"] == 46 and aecg.meta["sex"] == "M"
    assert "Clark" not in json.dumps(aecg.meta)
    dcm = read_ecg(samples / "dicom/example-DICOM1.dcm")
    assert "12-lead-example" not in json.dumps(dcm.meta)  # the PatientName field
    assert dcm.meta["sex"] == "F"


def test_format_detected_from_content_not_extension(samples):
    data = (samples / "cardiosoft/example-XML1.xml").read_bytes()
    assert read_ecg([("download.bin", data)]).source_format == "cardiosoft"
    dcm = (samples / "dicom/example-DICOM1.dcm").read_bytes()
    assert read_ecg([("scan.xml", dcm)]).source_format == "dicom"
    assert sniff_format("x.csv", (samples / "wfdb/HR06000.hea").read_bytes()) == "wfdb-header"


def test_uploads_never_open_files(samples, monkeypatch):
    uploads = [as_upload(wfdb_group(samples, rel)) if rel.endswith(".hea") else as_upload([samples / rel])
               for rel in ("wfdb/HR06000.hea", "wfdb/1.hea", "cardiosoft/example-XML1.xml", "muse/example1.xml",
                           "aecg/HL7_Example_aECG.xml", "dicom/example-DICOM1.dcm")]
    for up in uploads:  # warm up lazy imports first
        read_ecg(up)

    def refuse(*args, **kwargs):
        raise AssertionError(f"a reader tried to open a file: {args[:1]}")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    for up in uploads:
        assert read_ecg(up).signal_mv.shape[0] == 12


# --- round trips written by the tests --------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["16", "212", "24", "80"])
def test_wfdb_written_by_wfdb_python_reads_back_within_quantisation(tmp_path, fmt):
    import wfdb

    x = synthetic_ecg(fs=250.0).T  # (n, 12) SYNTHETIC
    gain = {"16": 1000.0, "212": 200.0, "24": 10000.0, "80": 40.0}[fmt]
    wfdb.wrsamp("syn", fs=250, units=["mV"] * 12, sig_name=[n.upper() for n in LEADS], p_signal=x,
                fmt=[fmt] * 12, adc_gain=[gain] * 12, baseline=[0] * 12, write_dir=str(tmp_path))
    rec = read_ecg(tmp_path / "syn.hea")
    assert rec.fs_hz == 250.0 and rec.n_samples == x.shape[0]
    assert np.max(np.abs(rec.signal_mv - x.T)) <= 0.5 / gain + 1e-12
    upload = read_ecg(as_upload([tmp_path / "syn.hea", tmp_path / "syn.dat"]))
    assert np.array_equal(upload.signal_mv, rec.signal_mv)


def test_wfdb_units_in_microvolts_are_converted(tmp_path):
    import wfdb

    x = synthetic_ecg().T * 1000.0  # µV, SYNTHETIC
    wfdb.wrsamp("uv", fs=500, units=["uV"] * 12, sig_name=list(LEADS), p_signal=x, fmt=["16"] * 12,
                adc_gain=[1.0] * 12, baseline=[0] * 12, write_dir=str(tmp_path))
    rec = read_ecg(tmp_path / "uv.hea")
    assert np.max(np.abs(rec.signal_mv - x.T / 1000.0)) <= 0.0005 + 1e-12


def test_csv_round_trip_with_time_column_and_any_case_lead_names():
    x = synthetic_ecg()  # SYNTHETIC, mV
    t = np.arange(x.shape[1]) / 500.0
    header = ["time"] + [n.lower() for n in LEADS]
    rows = [",".join(header)] + [",".join([f"{t[j]:.4f}"] + [f"{v:.6f}" for v in x[:, j]]) for j in range(x.shape[1])]
    rec = read_ecg([("syn.csv", "\n".join(rows).encode())])
    assert rec.fs_hz == pytest.approx(500.0)
    assert np.max(np.abs(rec.signal_mv - x)) <= 5e-7
    assert "mV" in rec.units_note and "inferred" in rec.units_note


def test_tsv_in_microvolts_is_inferred_and_reported():
    x = synthetic_ecg() * 1000.0  # SYNTHETIC, µV
    rows = ["\t".join(LEADS)] + ["\t".join(f"{v:.1f}" for v in x[:, j]) for j in range(x.shape[1])]
    rec = read_ecg([("syn.tsv", "\n".join(rows).encode())], fs=500)
    assert np.max(np.abs(rec.signal_mv - x / 1000.0)) <= 5e-5
    assert "inferred as µV" in rec.units_note
    given = read_ecg([("syn.tsv", "\n".join(rows).encode())], fs=500, units="uV")
    assert "given" in given.units_note


def _layout(kind: str, x: np.ndarray) -> bytes:
    n = x.shape[1]
    if kind == "semicolon_decimal_comma":
        rows = [";".join(LEADS)] + [";".join(f"{v:.4f}".replace(".", ",") for v in x[:, j]) for j in range(n)]
    elif kind == "one_row_per_lead":
        rows = [",".join([lead] + [f"{v:.4f}" for v in x[i]]) for i, lead in enumerate(LEADS)]
    elif kind == "units_in_header":
        rows = [",".join(f"{lead} (uV)" for lead in LEADS)] + [
            ",".join(f"{1000 * v:.1f}" for v in x[:, j]) for j in range(n)
        ]
    else:  # whitespace with a sample index column
        rows = ["sample " + " ".join(LEADS)] + [f"{j} " + " ".join(f"{v:.4f}" for v in x[:, j]) for j in range(n)]
    return "\n".join(rows).encode()


@pytest.mark.parametrize("kind", ["semicolon_decimal_comma", "one_row_per_lead", "units_in_header", "whitespace"])
def test_other_table_layouts_read_the_same_signal(kind):
    x = synthetic_ecg()  # SYNTHETIC
    rec = read_ecg([(f"{kind}.txt", _layout(kind, x))], fs=500)
    assert rec.source_format == "csv"
    assert np.max(np.abs(rec.signal_mv - x)) <= 5.1e-5


def test_npy_and_npz_round_trip():
    x = synthetic_ecg().astype(np.float32)  # SYNTHETIC
    buf = io.BytesIO()
    np.save(buf, x.T)  # (n, 12) orientation
    rec = read_ecg([("syn.npy", buf.getvalue())], fs=500, units="mV")
    assert np.array_equal(rec.signal_mv, x.astype(np.float64))
    buf = io.BytesIO()
    order = [3, 0, 1, 2, 4, 5, 6, 7, 8, 9, 10, 11]
    np.savez_compressed(buf, signal=x[order], fs=np.array(500.0), leads=np.array([LEADS[i] for i in order]))
    rec = read_ecg(buf.getvalue())
    assert rec.fs_hz == 500.0 and np.array_equal(rec.signal_mv, x.astype(np.float64))


# --- malformed input -------------------------------------------------------------------------------


def _csv(x: np.ndarray, names=LEADS) -> bytes:
    rows = [",".join(names)] + [",".join(f"{v:.5f}" for v in x[:, j]) for j in range(x.shape[1])]
    return "\n".join(rows).encode()


def test_truncated_and_corrupt_wfdb_files_raise_the_library_error(samples):
    hea = (samples / "wfdb/HR06000.hea").read_bytes()
    mat = (samples / "wfdb/HR06000.mat").read_bytes()
    assert "truncated" in assert_fails_cleanly([("HR06000.hea", hea), ("HR06000.mat", mat[:5000])])
    dat = (samples / "wfdb/1.dat").read_bytes()
    hea1 = (samples / "wfdb/1.hea").read_bytes()
    assert "truncated" in assert_fails_cleanly([("1.hea", hea1), ("1.dat", dat[: len(dat) // 2])])
    assert "1.dat" in assert_fails_cleanly([("1.hea", hea1)])  # signal file missing
    assert_fails_cleanly([("1.dat", dat)])  # signal file without header


@pytest.mark.parametrize(
    "old, new",
    [
        (b"1 12 500 5000", b"1 12 0 5000"),  # sampling rate 0
        (b"1 12 500 5000", b"1 12 50 5000"),  # 50 Hz
        (b"1 12 500 5000", b"1 12 500 999999999"),  # huge sample count
        (b"1 12 500 5000", b"1 13 500 5000"),  # more signals than lines
        (b"1.dat 16 1716(6)/mV", b"1.dat 16 -1716(6)/mV"),  # negative gain
        (b"1.dat 16 1716(6)/mV", b"1.dat 16 1716(6)/furlong"),  # unknown unit
        (b"1.dat 16 1716(6)/mV", b"1.dat 999 1716(6)/mV"),  # unknown format
        (b"0 0 -120 -32198 0 i\n", b"0 0 -120 -32198 0 x\n"),  # lead I missing
    ],
)
def test_wrong_wfdb_header_fields_raise_the_library_error(samples, old, new):
    hea = (samples / "wfdb/1.hea").read_bytes()
    assert old in hea
    dat = (samples / "wfdb/1.dat").read_bytes()
    msg = assert_fails_cleanly([("1.hea", hea.replace(old, new, 1)), ("1.dat", dat)])
    assert msg.startswith("1.")


def test_random_bytes_and_empty_file_raise_the_library_error():
    rng = np.random.default_rng(0)
    assert "empty" in assert_fails_cleanly([("x.bin", b"")])
    assert_fails_cleanly([("x.bin", rng.bytes(4000))])
    assert_fails_cleanly(rng.bytes(300))
    assert_fails_cleanly([("a.xml", b"<?xml version='1.0'?><Nothing/>")])
    assert_fails_cleanly([("a.xml", b"<CardiologyXML><StripData>")])


def test_file_over_the_size_limit_is_refused_before_parsing():
    msg = assert_fails_cleanly([("big.csv", b"I,II\n" + b"0" * MAX_FILE_BYTES)])
    assert "limit" in msg and msg.startswith("big.csv")


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<CardiologyXML><PatientInfo><Age>&lol9;</Age></PatientInfo></CardiologyXML>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE RestingECG [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<RestingECG><MuseInfo><MuseVersion>&xxe;</MuseVersion></MuseInfo></RestingECG>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?>
<!DOCTYPE RestingECG SYSTEM "http://example.invalid/evil.dtd">
<RestingECG><MuseInfo><MuseVersion>&ent;</MuseVersion></MuseInfo></RestingECG>"""


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, EXTERNAL_ENTITY, EXTERNAL_DTD], ids=["laughs", "xxe", "dtd"])
def test_hostile_xml_raises_the_library_error(payload):
    msg = assert_fails_cleanly([("evil.xml", payload)])
    assert msg.startswith("evil.xml")


def test_three_lead_csv_names_the_missing_leads():
    x = synthetic_ecg()[[0, 1, 6]]
    msg = assert_fails_cleanly([("three.csv", _csv(x, ("I", "II", "V1")))], fs=500)
    assert "V2" in msg and "missing" in msg


def test_unparseable_csv_is_explained_in_the_users_words_not_the_parsers():
    header = b"I,II,III,aVR,aVL,aVF,V1,V2,V3,V4,V5,V6\n" + b"1,2,3,4,5,6,7,8,9,10,11,12\n" * 10
    ragged = assert_fails_cleanly([("ragged.csv", header + b"1,2,3,4,5,6,7,8,9,10,11,12,13,14\n")], fs=500)
    assert ragged == ("ragged.csv: line 12 has 14 values where the rows before it have 12; every row needs one value "
                      "per column.")
    quote = assert_fails_cleanly([("quote.csv", b'I,II\n"1,2\n')], fs=500)
    assert quote == "quote.csv: a quotation mark opened on line 2 is never closed."
    utf16 = assert_fails_cleanly([("export.csv", "I,II\n1,2\n".encode("utf-16"))], fs=500)
    assert "binary data" in utf16 and "UTF-8" in utf16
    for msg in (ragged, quote, utf16):
        assert "tokenizing" not in msg and "C error" not in msg and "EOF" not in msg


def test_low_rate_nan_lead_text_cells_and_missing_rate_raise_the_library_error():
    x = synthetic_ecg(fs=50.0, seconds=10)
    assert "50 Hz" in assert_fails_cleanly([("slow.csv", _csv(x))], fs=50)
    y = synthetic_ecg()
    y[4] = np.nan
    assert "aVL" in assert_fails_cleanly([("nan.csv", _csv(y))], fs=500)
    text = _csv(synthetic_ecg()).replace(b"\n0.", b"\nabc", 1)
    assert "non-numeric" in assert_fails_cleanly([("text.csv", text)], fs=500)
    assert "sampling rate" in assert_fails_cleanly([("norate.csv", _csv(synthetic_ecg()))])
    assert "implausible" in assert_fails_cleanly([("uv.csv", _csv(synthetic_ecg() * 1000))], fs=500, units="mV")


def test_short_recording_raises_the_library_error():
    msg = assert_fails_cleanly([("short.csv", _csv(synthetic_ecg(seconds=1.0)))], fs=500)
    assert "at least" in msg


def test_npy_declaring_more_data_than_present_is_refused_before_allocating():
    buf = io.BytesIO()
    np.save(buf, np.zeros((12, 10), dtype=np.float32))
    data = buf.getvalue()
    forged = data[:128].replace(b"(12, 10), }     ", b"(12, 9999999), }") + data[128:]
    assert len(forged) == len(data) and forged != data
    assert "truncated" in assert_fails_cleanly([("big.npy", forged)], fs=500)
    assert "sampling rate" in assert_fails_cleanly([("x.npy", buf.getvalue())])
    assert "object" in assert_fails_cleanly([("o.npy", _object_npy())], fs=500)


def _object_npy() -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    return buf.getvalue()


def test_npz_bomb_and_corrupt_zip_raise_the_library_error(monkeypatch):
    from hfviz.ecg.io import npz

    monkeypatch.setattr(npz, "MAX_FILE_BYTES", 10_000)  # the expanded archive may hold no more
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("signal.npy", b"\x00" * 50_000)
    assert len(buf.getvalue()) < 1_000
    assert "too large" in assert_fails_cleanly([("bomb.npz", buf.getvalue())], fs=500)
    assert_fails_cleanly([("bad.npz", buf.getvalue()[:200])], fs=500)
    other = io.BytesIO()
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("HR06000.hea", "HR06000 12 500 5000\n")
    assert "unpack" in assert_fails_cleanly([("record.zip", other.getvalue())])


def test_corrupted_real_files_fail_only_with_the_library_error(samples):
    """Deterministic truncations and byte flips of every format: a record or ECGFormatError."""
    rng = np.random.default_rng(1)
    cases = 0
    for rel in ("cardiosoft/example-XML1.xml", "muse/example1.xml", "aecg/HL7_Example_aECG.xml",
                "dicom/example-DICOM1.dcm", "wfdb/HR06000.hea", "wfdb/1.hea"):
        group = as_upload(wfdb_group(samples, rel) if rel.endswith(".hea") else [samples / rel])
        for variant in range(12):
            files = [(n, bytearray(d)) for n, d in group]
            k = variant % len(files)
            d = files[k][1]
            if variant < 4:
                del d[int(len(d) * rng.uniform(0.05, 0.95)):]
            else:
                for pos in rng.integers(0, len(d), size=8):
                    d[pos] ^= 1 << int(rng.integers(0, 8))
            try:
                rec = read_ecg([(n, bytes(b)) for n, b in files])
                assert rec.signal_mv.shape[0] == 12
            except ECGFormatError:
                pass
            cases += 1
    assert cases == 72


# --- command line ---------------------------------------------------------------------------------


def test_info_prints_the_documented_json(samples, capsys):
    from hfviz.cli import main

    assert main(["info", str(samples / "muse/example1.xml")]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("format", "leads", "fs_hz", "n_samples", "duration_s", "derived_leads", "device_median_beat",
                "amplitude_mv", "measurements", "quality", "meta"):
        assert key in out
    assert out["format"] == "muse" and out["derived_leads"] == list(LIMB)
    assert out["leads"] == list(LEADS) and out["device_median_beat"] is True
    assert set(out["amplitude_mv"]) == set(LEADS)
    assert "heart_rate_bpm" in out["measurements"]


def test_info_reads_csv_with_fs_and_units(tmp_path, capsys):
    from hfviz.cli import main

    path = tmp_path / "syn.csv"
    path.write_bytes(_csv(synthetic_ecg() * 1000))
    assert main(["info", str(path), "--fs", "500", "--units", "uV"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["format"] == "csv" and out["fs_hz"] == 500.0
    assert 0.3 < out["amplitude_mv"]["V4"] < 5


def test_info_on_a_bad_file_exits_2_with_one_error_line(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_bytes(EXTERNAL_ENTITY)
    proc = subprocess.run([sys.executable, "-m", "hfviz", "info", str(bad)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: bad.xml")
    assert "Traceback" not in proc.stderr and proc.stdout == ""


def test_muse_lead_that_is_not_base64_raises_the_library_error(samples):
    text = (samples / "muse/example1.xml").read_bytes()
    broken = text.replace(b"<WaveFormData>", b"<WaveFormData>!!!")
    assert "base64" in assert_fails_cleanly([("m.xml", broken)])


def test_every_format_is_read_by_one_module_read_with_the_same_signature():
    import importlib
    import inspect

    from hfviz.ecg import io as ecg_io

    assert set(ecg_io._READERS) == set(ecg_io.FORMATS)
    signatures = set()
    for module in ecg_io._READERS.values():
        sig = inspect.signature(importlib.import_module(f"hfviz.ecg.io.{module}").read)
        signatures.add(tuple((p.name, p.kind, p.default) for p in sig.parameters.values()))
    assert len(signatures) == 1


def test_xml_format_errors_keep_their_precedence():
    assert "malformed" in assert_fails_cleanly([("a.xml", b"<foo><a></foo>")])
    assert "not a supported ECG format" in assert_fails_cleanly([("a.xml", b"<foo><a/></foo>")])
    assert "malformed" in assert_fails_cleanly([("a.xml", b"<CardiologyXML><StripData>")])
    bomb = b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa">]><RestingECG>&a;</RestingECG>'
    assert "entities" in assert_fails_cleanly([("a.xml", bomb)])


def test_a_wfdb_header_comment_saying_synthetic_marks_the_record_synthetic(tmp_path):
    from hfviz.synthetic.files import write_ecg_files

    write_ecg_files(tmp_path, 1, seed=0, formats=("wfdb",))
    record = read_ecg(sorted(str(p) for p in tmp_path.iterdir()))
    assert record.meta.get("synthetic") is True
