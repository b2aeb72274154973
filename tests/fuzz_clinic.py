"""Fuzz seeds and mutations for the clinic export readers: Philips XML, SCP-ECG, CPSC MATLAB structs.

Used by ``tests/test_fuzz_readers.py`` (which owns the driver, :class:`Seed`, :class:`Case` and
the generic byte damage; they are imported from there when a mutation runs). Seeds are SYNTHETIC
files written by the test writers, plus the real samples when ``../shared/ecg-samples`` exists.
"""

from __future__ import annotations

import base64
import io
import re
import struct
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hypothesis import strategies as st

from ecg_signals import synthetic_ecg
from hfviz.ecg.record import LEADS
from writers_philips import encode_philips_xli
from writers_scp import encode_scp, fix_scp_crcs

#: Real sample files used as seeds, per format.
REAL_SEEDS = {
    "philips": ("philips/129DYPRG.XML", "philips/3191723_ZZDEMOPTONLY_1-04_orig.xml"),
    "scp": ("scp/Example.scp",),
    "matlab": ("cpsc2018/A1980.mat",),
}


def _f():
    import test_fuzz_readers  # the driver module (imported lazily: it imports this one)

    return test_fuzz_readers


def _counts(uv_per_count: float) -> dict[str, np.ndarray]:
    x = synthetic_ecg(fs=500.0, seconds=4.0, hr_bpm=72.0)
    return {lead: np.rint(x[i] * 1000 / uv_per_count).astype(np.int64) for i, lead in enumerate(LEADS)}


def _cpsc(data: np.ndarray, *, compress: bool = True, **fields) -> bytes:
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, {"ECG": {"sex": "Male", "age": 60, "data": data, **fields}}, do_compression=compress)
    return buf.getvalue()


def clinic_seeds(samples_dir: Path) -> list:
    """SYNTHETIC Philips/SCP/MATLAB seeds, then the real samples of these formats when present."""
    Seed = _f().Seed
    c = _counts(5.0)
    med = {k: v[:300] for k, v in c.items()}
    seeds = [
        Seed("philips", "philips-xli-1.04", (("syn.xml", encode_philips_xli(
            c, 500, resolution_uv=5, median=med, age=60, sex="M", measurements={"heartrate": 72},
            statements=[("SINUS RHYTHM", "")])),)),
        Seed("philips", "philips-xli-1.03", (("syn103.xml", encode_philips_xli(c, 500, resolution_uv=5, version="1.03")),)),
        Seed("philips", "philips-plain", (("plain.xml", encode_philips_xli(c, 500, resolution_uv=5, compression="none")),)),
        Seed("scp", "scp-default-huffman", (("syn.scp", encode_scp(_counts(2.5), 500, avm_nv=2500, age=60, sex="F",
                                                                     statements=["SYNTHETIC"])),)),
        Seed("scp", "scp-raw-first-diff", (("raw.scp", encode_scp(_counts(5.0), 500, avm_nv=5000, difference=1,
                                                                   huffman="none")),)),
        Seed("matlab", "cpsc-compressed", (("A0001.mat", _cpsc(synthetic_ecg(fs=500.0, seconds=4.0, hr_bpm=70.0))),)),
        Seed("matlab", "cpsc-plain-fs", (("A0002.mat", _cpsc(synthetic_ecg(fs=250.0, seconds=4.0, hr_bpm=70.0),
                                                             compress=False)),), (("fs", 250.0),)),
    ]
    for fmt, rels in REAL_SEEDS.items():
        for rel in rels:
            if (samples_dir / rel).is_file():
                seeds.append(Seed(fmt, Path(rel).name, ((Path(rel).name, (samples_dir / rel).read_bytes()),)))
    return seeds


# --- Philips --------------------------------------------------------------------------------------


def _xli_payload_damage(data, text: str) -> tuple[str, str]:
    """Flip bytes inside the decoded waveform payload (the XLI stream) and re-encode it."""
    m = re.search(r"(<parsedwaveforms\b[^>]*>)([^<]*)(</parsedwaveforms>)", text)
    if not m:
        return text, "no <parsedwaveforms>"
    raw = bytearray(base64.b64decode("".join(m.group(2).split())))
    if not raw:
        return text, "empty payload"
    flips = data.draw(st.lists(st.tuples(st.integers(0, len(raw) - 1), st.integers(0, 255)), min_size=1,
                               max_size=8), label="payload bytes")
    for pos, value in flips:
        raw[pos] = value
    new = base64.b64encode(bytes(raw)).decode()
    return text[: m.start(2)] + new + text[m.end(2):], f"{len(flips)} payload bytes"


def philips_ops() -> dict[str, Callable]:
    F = _f()
    nums = F.NUM_VALUES
    pw = "parsedwaveforms"
    return {
        "duration": lambda d, t: F.xml_set_attr(d, t, pw, "durationperchannel", nums + ["11000", "60001"]),
        "rate": lambda d, t: F.xml_set_attr(d, t, pw, "samplespersecond", nums),
        "rate-text": lambda d, t: F.xml_set_text(d, t, "samplingrate", nums),
        "resolution": lambda d, t: F.xml_set_attr(d, t, pw, "resolution", nums),
        "compression": lambda d, t: F.xml_set_attr(d, t, pw, "compression", ["XLI", "None", "ZIP", "", "xli"]),
        "lead-count": lambda d, t: F.xml_set_attr(d, t, pw, "numberofleads", ["0", "1", "8", "12", "13", "64", "x"]),
        "lead-labels": lambda d, t: F.xml_set_attr(d, t, pw, "leadlabels", ["I II", "I I", "", "V1 V2 V3", "x y z"]),
        "bits": lambda d, t: F.xml_set_attr(d, t, pw, "bitspersample", ["8", "12", "16", "32", "x"]),
        "payload-base64": lambda d, t: F.xml_set_text(d, t, pw, F._B64),
        "payload-bytes": _xli_payload_damage,
        "median": lambda d, t: F.xml_set_text(d, t, "waveform", F._B64),
        "block-removed": lambda d, t: F.xml_remove(d, t, d.draw(st.sampled_from(
            ["parsedwaveforms", "repbeats", "signalcharacteristics", "interpretations", "patient"]))),
    }


def philips_mutator(data, seed):
    return _f().xml_mutator(philips_ops)(data, seed)


# --- SCP-ECG --------------------------------------------------------------------------------------


def scp_mutator(data, seed):
    """Generic damage, or damage inside the structure with every CRC recomputed (so parsing goes deep)."""
    F = _f()
    kind = data.draw(st.sampled_from(["generic", "fixed-crc", "fixed-crc", "field"]), label="kind")
    kw = F.keywords(data, seed)
    if kind == "generic":
        return F.generic(data, seed, kw)
    name, raw = seed.files[0]
    b = bytearray(raw)
    if kind == "fixed-crc":
        flips = data.draw(st.lists(st.tuples(st.integers(6, len(b) - 1), st.integers(0, 255)), min_size=1,
                                   max_size=8), label="bytes")
        for pos, value in flips:
            b[pos] = value
        what = f"{len(flips)} bytes"
    else:  # a 16- or 32-bit field set to an extreme value
        pos = data.draw(st.integers(6, len(b) - 4), label="field at")
        fmt, value = data.draw(st.sampled_from([("<H", 0), ("<H", 0xFFFF), ("<H", 19999), ("<I", 0),
                                                ("<I", 0xFFFFFFFF), ("<I", 600_001), ("<I", 1)]), label="value")
        struct.pack_into(fmt, b, pos, value)
        what = f"{fmt}={value} at {pos}"
    return F.Case(f"scp-{kind}:{seed.label} {what}", ((name, fix_scp_crcs(bytes(b))),), kw)


# --- CPSC MATLAB ----------------------------------------------------------------------------------


def matlab_mutator(data, seed):
    """Generic damage, or a re-written struct with odd shapes, types and missing fields."""
    F = _f()
    kw = F.keywords(data, seed)
    if data.draw(st.booleans(), label="generic"):
        return F.generic(data, seed, kw)
    x = synthetic_ecg(fs=500.0, seconds=3.0, hr_bpm=70.0)
    variants = {
        "transposed": lambda: _cpsc(x.T),
        "8-leads": lambda: _cpsc(x[:8]),
        "one-sample": lambda: _cpsc(x[:, :1]),
        "int16": lambda: _cpsc((x * 1000).astype(np.int16)),
        "uV": lambda: _cpsc(x * 1000),
        "nan": lambda: _cpsc(np.where(np.arange(x.shape[1]) % 7 == 0, np.nan, x)),
        "text-data": lambda: _cpsc(np.array(["a", "b"])),
        "no-data": lambda: _cpsc_without_data(),
        "huge-age": lambda: _cpsc(x, age=np.array([[1e9]])),
        "empty": lambda: _cpsc(np.zeros((12, 0))),
    }
    key = data.draw(st.sampled_from(sorted(variants)), label="variant")
    return F.Case(f"mat-{key}:{seed.label}", ((seed.files[0][0], variants[key]()),), kw)


def _cpsc_without_data() -> bytes:
    import scipy.io

    buf = io.BytesIO()
    scipy.io.savemat(buf, {"ECG": {"sex": "Male", "age": 60}}, do_compression=True)
    return buf.getvalue()
