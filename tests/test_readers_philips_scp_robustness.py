"""Philips XML (XLI) and SCP-ECG decoders under attack: decompression bombs, absurd headers, fuzzing.

Every damaged input must end in :class:`~hfviz.errors.ECGFormatError` whose message starts with
the file name, or in a valid decode. Bombs are refused in well under a second of CPU time
with bounded traced memory. Fuzz inputs start from SYNTHETIC files made by the test writers
and from the real sample files (when ``../shared/ecg-samples`` is present).
"""

from __future__ import annotations

import base64
import re
import struct
import time
import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hfviz.ecg.io.philips import decode as decode_philips
from hfviz.ecg.io.scp import decode as decode_scp
from hfviz.errors import ECGFormatError
from test_readers_philips_scp import (
    FUZZ,
    PHILIPS_FILES,
    SAMPLES,
    STD12,
    _beat_signal,
    _check_shape,
    _random_leads,
    _sample,
)
from writers_philips import encode_philips_xli
from writers_scp import encode_scp, fix_scp_crcs


# ============================================================================ bombs


def _with_payload(xml: bytes, payload: bytes) -> bytes:
    b64 = base64.b64encode(payload)
    return re.sub(
        rb"(<parsedwaveforms[^>]*>)[^<]*(</parsedwaveforms>)", lambda m: m.group(1) + b64 + m.group(2), xml
    )


def _pack10(codes: list[int]) -> bytes:
    acc = nbits = 0
    out = bytearray()
    for c in codes:
        acc = (acc << 10) | c
        nbits += 10
        while nbits >= 8:
            nbits -= 8
            out.append((acc >> nbits) & 0xFF)
        acc &= (1 << nbits) - 1
    return bytes(out)


def _bounded(fn):
    """Run ``fn``, expect ECGFormatError; return it with the CPU seconds and peak traced bytes."""
    tracemalloc.start()
    t0 = time.process_time()  # CPU time: robust to other load on a shared machine
    try:
        with pytest.raises(ECGFormatError) as info:
            fn()
    finally:
        elapsed = time.process_time() - t0
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return info.value, elapsed, peak


def test_philips_lzw_bomb_is_refused_quickly_with_bounded_memory():
    # 125 kB of codes that would expand to ~77 MB: a growing string, then the longest one repeated.
    codes = [65] + list(range(256, 1023)) + [1022] * 100_000
    stream = _pack10(codes)
    chunk = struct.pack("<iHh", len(stream), 1, 0) + stream
    template = encode_philips_xli(_random_leads(STD12, 5000, 0, 50), 500, calibration_trailer=False)
    bomb = _with_payload(template, chunk * 12)
    err, elapsed, peak = _bounded(lambda: decode_philips(bomb, "bomb.xml"))
    assert str(err).startswith("bomb.xml: ") and "expands beyond" in str(err)
    assert elapsed < 1.0
    assert peak < 32 * 2**20


def test_philips_header_promising_absurd_duration_is_refused_before_decoding():
    template = encode_philips_xli(_random_leads(STD12, 100, 0, 50), 500, calibration_trailer=False)
    crafted = re.sub(rb'durationperchannel="[^"]*"', b'durationperchannel="1000000000"', template)
    err, elapsed, _peak = _bounded(lambda: decode_philips(crafted, "long.xml"))
    assert "at most" in str(err) and elapsed < 1.0


def test_scp_file_claiming_a_billion_samples_is_refused_before_allocating():
    data = bytearray(encode_scp(_random_leads(["I", "II"], 100, 0, 50), 500))
    sec3 = data.index(struct.pack("<IIB", 1, 100, 1))
    for k in range(2):
        struct.pack_into("<I", data, sec3 + 4 + 9 * k, 10**9)
    crafted = fix_scp_crcs(bytes(data))
    err, elapsed, peak = _bounded(lambda: decode_scp(crafted, "huge.scp"))
    assert str(err).startswith("huge.scp: ") and "at most" in str(err)
    assert elapsed < 1.0 and peak < 8 * 2**20


def test_scp_file_with_maximal_huffman_payload_is_decoded_in_bounded_time_and_memory():
    # One lead whose 65,535 data bytes (the most a lead may hold) are 1-bit codes, i.e. 524,280
    # samples, while section 3 announces 600,000: the decoder works through the data, then refuses.
    n = 65_535 * 8
    data = bytearray(encode_scp({"I": np.zeros(n, dtype=np.int64)}, 1000, difference=0))
    sec3 = data.index(struct.pack("<IIB", 1, n, 1))
    struct.pack_into("<I", data, sec3 + 4, 600_000)
    crafted = fix_scp_crcs(bytes(data))
    t0 = time.process_time()
    with pytest.raises(ECGFormatError, match="holds 524,280 samples but section 3 announces 600,000"):
        decode_scp(crafted, "zeros.scp")
    assert time.process_time() - t0 < 3.0  # (memory is not traced here: tracing slows this loop 30-fold)


# ============================================================================ corrupt input


def _only_format_errors(fn, data: bytes, name: str) -> None:
    try:
        rec = fn(data, name)
    except ECGFormatError as exc:
        assert str(exc).startswith(f"{name}: ")
    else:
        _check_shape(rec)


@pytest.fixture(scope="module")
def small_philips() -> bytes:
    return encode_philips_xli(
        _random_leads(STD12, 600, 8, 500),
        500,
        resolution_uv=5,
        median={k: np.arange(100) for k in STD12},
        age=50,
        sex="M",
    )


@pytest.fixture(scope="module")
def small_philips_payload(small_philips) -> bytes:
    m = re.search(rb"<parsedwaveforms[^>]*>([^<]*)</parsedwaveforms>", small_philips)
    return base64.b64decode(m.group(1))


@pytest.fixture(scope="module")
def small_scp() -> bytes:
    sig, beat, qrs, _names = _beat_signal(1500, 3, ramp=False, n_leads=3)
    return encode_scp(
        sig,
        500,
        median=beat,
        median_fiducial=300,
        qrs=qrs,
        subtract_reference=True,
        age=40,
        sex="F",
        statements=["x"],
        global_measurements={"rr": 700},
    )


@FUZZ
@given(data=st.data())
def test_truncated_real_philips_files_raise_only_format_errors(data):
    raw = _sample(data.draw(st.sampled_from(PHILIPS_FILES)))
    cut = data.draw(st.integers(0, len(raw) - 1))
    _only_format_errors(decode_philips, raw[:cut], "cut.xml")


@FUZZ
@given(data=st.data())
def test_byte_flipped_philips_files_raise_only_format_errors(small_philips, data):
    raw = bytearray(small_philips)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _only_format_errors(decode_philips, bytes(raw), "flip.xml")


@FUZZ
@given(data=st.data())
def test_corrupt_xli_payloads_raise_only_format_errors(small_philips, small_philips_payload, data):
    raw = bytearray(small_philips_payload)
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    for _ in range(data.draw(st.integers(0, 8))):
        if raw:
            raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    _only_format_errors(decode_philips, _with_payload(small_philips, bytes(raw)), "xli.xml")


@FUZZ
@given(data=st.data())
def test_truncated_scp_files_raise_only_format_errors(small_scp, data):
    raw = _sample("scp/Example.scp") if data.draw(st.booleans()) and SAMPLES.is_dir() else small_scp
    cut = data.draw(st.integers(0, len(raw) - 1))
    _only_format_errors(decode_scp, raw[:cut], "cut.scp")
    _only_format_errors(lambda d, n: decode_scp(d, n, verify_crc=False), raw[:cut], "cut.scp")


@FUZZ
@given(data=st.data())
def test_byte_flipped_scp_files_raise_only_format_errors(small_scp, data):
    raw = bytearray(small_scp)
    for _ in range(data.draw(st.integers(1, 8))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    raw = bytes(raw)
    _only_format_errors(decode_scp, raw, "flip.scp")  # the CRC catches it
    _only_format_errors(lambda d, n: decode_scp(d, n, verify_crc=False), raw, "flip.scp")
    _only_format_errors(decode_scp, fix_scp_crcs(raw), "flip.scp")  # structure checks catch it


def test_damaged_scp_checksum_is_reported():
    raw = bytearray(encode_scp(_random_leads(["I"], 100, 0, 50), 500))
    raw[-3] ^= 0xFF
    with pytest.raises(ECGFormatError, match="checksum"):
        decode_scp(bytes(raw), "crc.scp")


def test_scp_bimodal_compression_is_refused_in_one_sentence():
    data = encode_scp(_random_leads(["I"], 100, 0, 50), 500, bimodal_flag=1)
    with pytest.raises(
        ECGFormatError, match=r"^bim\.scp: the rhythm data use bimodal compression, which is not supported\.$"
    ):
        decode_scp(data, "bim.scp")


@pytest.mark.parametrize(
    "data, message",
    [
        (b"<notecg/>", "not a Philips"),
        (b'<!DOCTYPE x [<!ENTITY a "b">]><restingecgdata>&a;</restingecgdata>', "refused for safety"),
        (b"<restingecgdata><waveforms/></restingecgdata>", "no waveform"),
        (b"\xff\xfe\x00", "malformed"),
    ],
)
def test_philips_problems_are_one_clear_sentence(data, message):
    with pytest.raises(ECGFormatError, match=message) as info:
        decode_philips(data, "bad.xml")
    assert str(info.value).startswith("bad.xml: ")
