"""Clinic exports through ``read_ecg``: Philips XML, SCP-ECG, DICOM coded leads, CPSC MATLAB structs,
amplitude plausibility flags and GE MUSE statement text.

Synthetic files come from the SYNTHETIC test writers (``writers_philips``, ``writers_scp``) and
from ``ecg_signals.synthetic_ecg``; real files from ``../shared/ecg-samples`` (skipped when absent).
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import numpy as np
import pytest

from ecg_signals import synthetic_ecg
from hfviz.cli import main as cli_main
from hfviz.ecg.io import read_ecg, sniff_format
from hfviz.ecg.io.muse import statement_lines
from hfviz.ecg.record import LEADS, make_record, normalise_lead_name
from hfviz.errors import ECGFormatError
from writers_philips import encode_philips_xli
from writers_scp import encode_scp

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "ecg-samples"
REAL_12_LEAD = [
    ("philips/129DYPRG.XML", "philips"),
    ("philips/3191723_ZZDEMOPTONLY_1-04_orig.xml", "philips"),
    ("scp/Example.scp", "scp"),
    ("dicom/example-DICOM1.dcm", "dicom"),
    ("cpsc2018/A1980.mat", "matlab"),
]


def _sample(rel: str) -> Path:
    if not (SAMPLES / rel).is_file():
        pytest.skip(f"sample file {rel} is not available (../shared/ecg-samples absent)")
    return SAMPLES / rel


def _counts(seconds: float = 10.0, fs: int = 500, uv_per_count: float = 5.0) -> dict[str, np.ndarray]:
    x = synthetic_ecg(fs=float(fs), seconds=seconds, hr_bpm=70.0)
    return {lead: np.rint(x[i] * 1000 / uv_per_count).astype(np.int64) for i, lead in enumerate(LEADS)}


# --- real files --------------------------------------------------------------------------------


@pytest.mark.parametrize("rel, fmt", REAL_12_LEAD)
def test_real_clinic_exports_read_as_12_leads_obeying_einthoven(rel, fmt):
    rec = read_ecg(_sample(rel))
    assert rec.source_format == fmt and rec.fs_hz == 500.0 and rec.duration_s == 10.0
    assert rec.derived_leads == ()  # every lead read from the file
    L = {lead: rec.lead(lead) for lead in LEADS}
    tol = 0.011  # two units of 5 µV: device rounding of stored limb leads
    assert np.abs(L["III"] - (L["II"] - L["I"])).max() <= tol
    assert np.abs(L["aVR"] + (L["I"] + L["II"]) / 2).max() <= tol
    assert np.abs(L["aVF"] - (L["II"] - L["I"] / 2)).max() <= tol
    assert rec.quality == ()


def test_real_philips_and_scp_carry_device_measurements_interpretation_and_median_beats():
    phil = read_ecg(_sample("philips/3191723_ZZDEMOPTONLY_1-04_orig.xml"))
    assert phil.median_beat_mv is not None and phil.median_beat_mv.shape == (12, 600)
    assert phil.meta["device_measurements"]["VentricularRate"]["value"] == 84
    assert phil.meta["interpretation"].startswith("SINUS RHYTHM (normal P axis, V-rate 60-99); ")
    assert phil.meta["device"] == "PageWriter Touch" and phil.meta["age"] == 60
    scp = read_ecg(_sample("scp/Example.scp"))
    assert scp.median_beat_mv is not None and scp.median_fs_hz == 500.0
    assert scp.meta["device_measurements"]["QRSDuration"] == {"value": 120, "unit": "ms"}


def test_utf16_philips_file_is_sniffed_as_xml_with_or_without_its_byte_order_mark():
    data = _sample("philips/3191723_ZZDEMOPTONLY_1-04_orig.xml").read_bytes()
    assert data[:2] == b"\xff\xfe"
    assert sniff_format("x.xml", data) == "xml"
    assert sniff_format("x.xml", data[2:]) == "xml"  # UTF-16 LE without BOM: "<\0?\0"
    assert read_ecg([("x.xml", data)]).source_format == "philips"


# --- sniffing and dispatch of synthetic files -------------------------------------------------


def test_scp_is_recognised_by_its_structure_whatever_the_file_is_called():
    data = encode_scp(_counts(uv_per_count=1.0), 500)
    assert sniff_format("export.bin", data) == "scp"
    rec = read_ecg([("export.bin", data)])
    assert rec.source_format == "scp" and rec.n_samples == 5000


def test_a_damaged_scp_file_named_scp_gets_the_scp_readers_sentence():
    with pytest.raises(ECGFormatError, match=r"^junk\.scp: .*SCP-ECG"):
        read_ecg([("junk.scp", b"\x01" * 100)])


def test_synthetic_philips_file_reads_with_median_beats_and_metadata():
    counts = _counts()
    data = encode_philips_xli(
        counts, 500, resolution_uv=5, median={k: v[:600] for k, v in counts.items()}, age=61, sex="F",
        measurements={"heartrate": 70}, statements=[("SINUS RHYTHM", "")], severity="- NORMAL ECG -",
    )
    rec = read_ecg([("syn.xml", data)])
    assert rec.source_format == "philips" and rec.n_samples == 5000
    np.testing.assert_allclose(rec.lead("V2"), counts["V2"] * 0.005, atol=1e-12)
    assert rec.median_beat_mv.shape == (12, 600)
    assert rec.meta["interpretation"] == "SINUS RHYTHM; - NORMAL ECG -" and rec.meta["sex"] == "F"


# --- DICOM coded leads -------------------------------------------------------------------------


@pytest.mark.parametrize("label, expected", [
    ("Lead I (Einthoven)", "I"), ("Lead aVR (Goldberger)", "aVR"), ("V1 (Wilson)", "V1"),
    ("MDC_ECG_LEAD_AVF", "aVF"), ("  lead  II ", "II"), ("-aVR", None), ("vx", None),
])
def test_one_lead_name_normaliser_ignores_trailing_qualifiers(label, expected):
    assert normalise_lead_name(label) == expected


def _dicom_with_channel_sources(meanings: list[str], codes: list[str], scheme: str) -> bytes:
    from pydicom import dcmread

    ds = dcmread(_sample("dicom/example-DICOM1.dcm"))
    for group in ds.WaveformSequence:
        for ch, meaning, code in zip(group.ChannelDefinitionSequence, meanings, codes):
            src = ch.ChannelSourceSequence[0]
            src.CodeMeaning, src.CodeValue, src.CodingSchemeDesignator = meaning, code, scheme
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


_SCP_CODES = [1, 2, 61, 62, 63, 64, 3, 4, 5, 6, 7, 8]


def test_dicom_channels_are_mapped_by_scp_ecg_code_before_display_text():
    original = read_ecg(_sample("dicom/example-DICOM1.dcm"))
    meanings = [f"Lead {lead} (Einthoven)" for lead in LEADS]
    meanings.reverse()  # the display text lies; the code is right
    data = _dicom_with_channel_sources(meanings, [f"5.6.3-9-{c}" for c in _SCP_CODES], "SCPECG")
    rec = read_ecg([("coded.dcm", data)])
    np.testing.assert_array_equal(rec.signal_mv, original.signal_mv)


def test_dicom_channels_are_mapped_by_mdc_code_and_by_qualified_text_when_codes_are_unknown():
    original = read_ecg(_sample("dicom/example-DICOM1.dcm"))
    mdc = _dicom_with_channel_sources(["?"] * 12, [f"2:{c}" for c in _SCP_CODES], "MDC")
    np.testing.assert_array_equal(read_ecg([("mdc.dcm", mdc)]).signal_mv, original.signal_mv)
    text = _dicom_with_channel_sources([f"Lead {lead} (Einthoven)" for lead in LEADS], ["x"] * 12, "99LOCAL")
    np.testing.assert_array_equal(read_ecg([("text.dcm", text)]).signal_mv, original.signal_mv)


# --- CPSC MATLAB struct ------------------------------------------------------------------------


def _cpsc_mat(data: np.ndarray, **extra) -> bytes:
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, {"ECG": {"sex": "Female", "age": 47, "data": data, **extra}}, do_compression=True)
    return buf.getvalue()


def test_cpsc_struct_defaults_to_500_hz_and_mv_and_says_so():
    x = synthetic_ecg(fs=500.0, seconds=8.0, hr_bpm=65.0)
    rec = read_ecg([("A0001.mat", _cpsc_mat(x))])
    assert rec.source_format == "matlab" and rec.fs_hz == 500.0 and rec.n_samples == 4000
    np.testing.assert_allclose(rec.signal_mv, x)
    assert "500 Hz assumed" in rec.units_note and "mV" in rec.units_note
    assert rec.meta == {"sex": "F", "age": 47}


def test_cpsc_struct_takes_the_given_rate_and_units():
    x = synthetic_ecg(fs=1000.0, seconds=5.0, hr_bpm=65.0)
    rec = read_ecg([("A0002.mat", _cpsc_mat(x * 1000))], fs=1000, units="uV")
    assert rec.fs_hz == 1000.0 and "given as 1000 Hz" in rec.units_note
    np.testing.assert_allclose(rec.signal_mv, x)


def test_real_cpsc_file_reads_with_its_age_and_sex():
    rec = read_ecg(_sample("cpsc2018/A1980.mat"))
    assert rec.meta == {"sex": "M", "age": 52} and rec.n_samples == 5000


def test_matlab_file_without_the_struct_names_what_is_missing():
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, {"val": np.zeros((12, 5000))})
    with pytest.raises(ECGFormatError, match=r"^plain\.mat: no struct with a 12 x N numeric 'data' field"):
        read_ecg([("plain.mat", buf.getvalue())])


def test_matlab_zlib_bomb_is_refused_with_bounded_memory():
    import time
    import tracemalloc

    head = _cpsc_mat(np.zeros((12, 10)))[:128]
    payload = zlib.compress(b"\x00" * (200 * 2**20), 9)  # 200 MB of zeros in ~200 kB
    element = (15).to_bytes(4, "little") + len(payload).to_bytes(4, "little") + payload
    tracemalloc.start()
    t0 = time.process_time()
    with pytest.raises(ECGFormatError, match="expands beyond"):
        read_ecg([("bomb.mat", head + element)])
    elapsed = time.process_time() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert elapsed < 1.0 and peak < 32 * 2**20


# --- plausibility flags ------------------------------------------------------------------------


def _wfdb(signal_mv: np.ndarray, gain_written: float, true_gain: float = 200.0) -> list[tuple[str, bytes]]:
    digital = np.rint(signal_mv.T * true_gain).astype("<i2")
    lines = [f"rec 12 500 {signal_mv.shape[1]}"]
    lines += [f"rec.dat 16 {gain_written:g}/mV 16 0 0 0 0 {lead}" for lead in LEADS]
    return [("rec.hea", ("\n".join(lines) + "\n").encode()), ("rec.dat", digital.tobytes())]


def test_wfdb_header_with_a_gain_five_times_too_small_is_flagged_not_refused():
    x = synthetic_ecg(fs=500.0, seconds=10.0, hr_bpm=70.0)
    good = read_ecg(_wfdb(x, 200.0))
    assert not any("implausibly large" in f for f in good.quality)
    bad = read_ecg(_wfdb(x, 40.0))  # the header says 40 ADC units per mV; the data use 200
    flags = [f for f in bad.quality if "implausibly large" in f]
    assert flags and all("gain or the amplitude units" in f for f in flags)
    assert any(f.startswith(("I:", "II:")) and "limb lead" in f for f in flags)


def test_amplitude_normalised_export_is_flagged():
    x = synthetic_ecg(fs=500.0, seconds=10.0, hr_bpm=70.0)
    x = x / np.ptp(x, axis=1, keepdims=True)  # every lead scaled to 1 mV peak-to-peak
    rec = make_record(dict(zip(LEADS, x)), 500.0, source_format="npy")
    assert any(f.startswith("all leads: identical peak-to-peak") for f in rec.quality)


def test_large_but_real_chest_voltages_are_not_flagged():
    x = synthetic_ecg(fs=500.0, seconds=10.0, hr_bpm=70.0)
    x[6:] *= 6.0 / np.ptp(x[6:], axis=1, keepdims=True)  # 6 mV precordial leads, as in severe LVH
    rec = make_record(dict(zip(LEADS, x)), 500.0, source_format="npy")
    assert rec.quality == ()


def test_cli_info_prints_the_plausibility_flag(tmp_path, capsys):
    x = synthetic_ecg(fs=500.0, seconds=10.0, hr_bpm=70.0)
    for name, data in _wfdb(x, 40.0):
        (tmp_path / name).write_bytes(data)
    assert cli_main(["info", str(tmp_path / "rec.hea")]) == 0
    assert "implausibly large" in capsys.readouterr().out


# --- GE MUSE statements ------------------------------------------------------------------------


def _diagnosis(*stmts: tuple[str, bool]) -> object:
    from defusedxml.ElementTree import fromstring

    parts = "".join(
        f"<DiagnosisStatement>{'<StmtFlag>ENDSLINE</StmtFlag>' if ends else ''}<StmtText>{text}</StmtText>"
        "</DiagnosisStatement>" for text, ends in stmts
    )
    return fromstring(f"<Diagnosis><Modality>RESTING</Modality>{parts}</Diagnosis>")


def test_muse_statements_are_joined_as_the_device_prints_them():
    diag = _diagnosis(
        ("Sinus rhythm", True), ("Septal infarct", False), (", age undetermined", True),
        ("Questionable change in", False), ("QRS axis", True), ("Abnormal ECG", True),
    )
    text = "; ".join(statement_lines(diag))
    assert text == "Sinus rhythm; Septal infarct, age undetermined; Questionable change in QRS axis; Abnormal ECG"
    assert "; ," not in text


def test_muse_file_interpretation_uses_the_joined_lines():
    data = _sample("muse/example1.xml").read_bytes()
    diag = (b"<Diagnosis><DiagnosisStatement><StmtText>Normal sinus rhythm</StmtText></DiagnosisStatement>"
            b"<DiagnosisStatement><StmtFlag>ENDSLINE</StmtFlag><StmtText>, rate 72</StmtText></DiagnosisStatement>"
            b"</Diagnosis>")
    data = data.replace(b"</RestingECG>", diag + b"</RestingECG>")
    assert read_ecg([("m.xml", data)]).meta["interpretation"] == "Normal sinus rhythm, rate 72"
