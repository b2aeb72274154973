"""Writer of small, valid Philips resting-ECG XML files (XLI-compressed or plain) for tests.

Used to test :mod:`hfviz.ecg.io.philips` (round trips, crafted edge cases, fuzz seeds). Takes
integer sample values ("counts"); the physical value of a count is ``resolution_uv``. Returns
``bytes``; nothing is written to disk. Files made here are SYNTHETIC test data.
"""

from __future__ import annotations

import base64
import datetime as _dt
import struct
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape, quoteattr

import numpy as np

__all__ = ["encode_philips_xli", "lzw_encode", "xli_encode_lead"]

_LIMB = ("I", "II", "III", "aVR", "aVL", "aVF")


# --------------------------------------------------------------------------- Philips XLI


def lzw_encode(data: bytes) -> bytes:
    """LZW with 10-bit MSB-first codes, table 256..1022 without reset (the XLI variant)."""
    table: dict[bytes, int] = {bytes((i,)): i for i in range(256)}
    next_code = 256
    codes: list[int] = []
    w = b""
    for byte in data:
        wc = w + bytes((byte,))
        if wc in table:
            w = wc
            continue
        codes.append(table[w])
        if next_code <= 1022:
            table[wc] = next_code
            next_code += 1
        w = bytes((byte,))
    if w:
        codes.append(table[w])
    acc = 0
    nbits = 0
    out = bytearray()
    for c in codes:
        acc = (acc << 10) | c
        nbits += 10
        while nbits >= 8:
            nbits -= 8
            out.append((acc >> nbits) & 0xFF)
        acc &= (1 << nbits) - 1
    if nbits:
        out.append((acc << (8 - nbits)) & 0xFF)
    return bytes(out)


def xli_encode_lead(samples: np.ndarray) -> bytes:
    """One XLI chunk (8-byte header + LZW data) for int samples (16-bit wrap-around)."""
    s = np.asarray(samples, dtype=np.int64)
    n = s.size
    d = np.zeros(n, dtype=np.int64)
    first = 0
    if n:
        d[: min(n, 2)] = s[: min(n, 2)]
    if n >= 3:
        r = np.zeros(n, dtype=np.int64)
        r[2:] = 2 * s[1:-1] - s[:-2] - s[2:]
        first = int(r[2])
        d[2 : n - 1] = r[3:n] + 64
        d[n - 1] = 64
    d &= 0xFFFF
    first = ((first + 0x8000) & 0xFFFF) - 0x8000
    raw = bytes(((d >> 8) & 0xFF).astype(np.uint8)) + bytes((d & 0xFF).astype(np.uint8))
    body = lzw_encode(raw)
    return struct.pack("<iHh", len(body), 1, first) + body


def _limb_residuals(c: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    i, ii, iii = c["I"], c["II"], c["III"]
    out = dict(c)
    out["III"] = ii - i - iii
    out["aVR"] = -c["aVR"] - np.floor_divide(i + ii, 2)
    out["aVL"] = np.floor_divide(i - iii, 2) - c["aVL"]
    out["aVF"] = np.floor_divide(ii + iii, 2) - c["aVF"]
    for k in _LIMB[2:]:
        if out[k].size and (out[k].min() < -32768 or out[k].max() > 32767):
            raise ValueError(f"lead {k}: the stored residual does not fit in 16 bits")
    return out


def _fmt(x: float) -> str:
    return str(int(x)) if float(x) == int(x) else repr(float(x))


def encode_philips_xli(
    leads: Mapping[str, np.ndarray],
    fs: float,
    *,
    resolution_uv: float = 1.0,
    version: str = "1.04",
    compression: str = "XLI",
    store_residuals: bool | None = None,
    calibration_trailer: bool = True,
    median: Mapping[str, np.ndarray] | None = None,
    median_fs: float | None = None,
    median_resolution_uv: float | None = None,
    measurements: Mapping[str, float] | None = None,
    statements: Sequence[tuple[str, str]] = (),
    severity: str = "",
    age: int | None = None,
    sex: str | None = None,
    text_encoding: str = "utf-8",
) -> bytes:
    """Build a Philips resting-ECG XML file.

    Parameters
    ----------
    leads : {name: int array}
        Counts per lead (all the same length). With ``version="1.03"`` the leads must be
        the standard 12 in the standard order (the schema has no lead labels).
    fs : float
        Sampling rate in Hz.
    resolution_uv : float
        Microvolts per count.
    version : "1.03" or "1.04"
        SierraECG 1.03 or PhilipsECG 1.04 element/attribute names.
    compression : "XLI" or "none"
    store_residuals : bool or None
        Store III/aVR/aVL/aVF as residuals (XLI always does; default for "none": no).
    calibration_trailer : bool
        Append one second shaped like the devices' trailer (signal, zeros, 1 mV pulse).
    median, median_fs, median_resolution_uv
        Optional median beats (counts), stored uncompressed and padded with 32767.
    measurements : {tag: value}
        Written under ``interpretation/globalmeasurements`` (1.04) or
        ``interpretationmeasurements`` (1.03), e.g. ``{"heartrate": 60, "qrsdur": 90}``.
    statements : [(left, right)], severity : str
        Interpretation statements.
    age, sex
        ``age`` in years, ``sex`` ``"M"``/``"F"``.
    text_encoding : "utf-8" or "utf-16"
    """
    names = list(leads)
    counts = {k: np.asarray(v, dtype=np.int64) for k, v in leads.items()}
    n = {v.size for v in counts.values()}
    if len(n) != 1:
        raise ValueError("all leads must have the same length")
    n_sig = n.pop()
    fs_int = int(round(fs))
    if calibration_trailer:
        tail_keep = min(n_sig, int(0.34 * fs_int))
        pulse = int(round(1000.0 / resolution_uv))
        for k in names:
            t = np.zeros(fs_int, dtype=np.int64)
            if tail_keep:
                t[:tail_keep] = counts[k][n_sig - tail_keep :]
            t[int(0.7 * fs_int) : int(0.9 * fs_int)] = pulse
            counts[k] = np.concatenate([counts[k], t])
    n_total = n_sig + (fs_int if calibration_trailer else 0)
    xli = compression.upper() == "XLI"
    residual = xli if store_residuals is None else store_residuals
    if xli and not residual:
        raise ValueError("XLI always stores the limb leads as residuals")
    if residual and names[:6] == list(_LIMB):
        counts = _limb_residuals(counts)
    if xli:
        payload = b"".join(xli_encode_lead(counts[k]) for k in names)
    else:
        for k in names:
            if counts[k].min(initial=0) < -32768 or counts[k].max(initial=0) > 32767:
                raise ValueError(f"lead {k} does not fit in 16 bits")
        payload = b"".join(counts[k].astype("<i2").tobytes() for k in names)
    b64 = base64.b64encode(payload).decode("ascii")
    duration_ms = _fmt(n_total * 1000.0 / fs)

    v103 = version == "1.03"
    if v103 and names != ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]:
        raise ValueError("version 1.03 files carry no lead labels: give the standard 12 leads in order")
    parts = [f'<?xml version="1.0" encoding="{text_encoding}"?>']
    parts.append(
        '<restingecgdata xmlns="http://www3.medical.philips.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
    )
    parts.append(
        "<documentinfo><documenttype>%s</documenttype><documentversion>%s</documentversion></documentinfo>"
        % (("SierraECG", "1.03") if v103 else ("PhilipsECG", "1.04"))
    )
    today = _dt.date(2024, 1, 15)
    res_tag = "signalresolution" if v103 else "resolution"
    parts.append(
        f'<dataacquisition date="{today.isoformat()}" time="10:00:00"><signalcharacteristics>'
        f"<samplingrate>{_fmt(fs)}</samplingrate><{res_tag}>{_fmt(resolution_uv)}</{res_tag}>"
        f"<acquisitiontype>STD-12</acquisitiontype><bitspersample>16</bitspersample>"
        f"<signaloffset>0</signaloffset><signalsigned>True</signalsigned>"
        f"<numberchannelsallocated>{len(names)}</numberchannelsallocated>"
        f"<numberchannelsvalid>{len(names)}</numberchannelsvalid></signalcharacteristics></dataacquisition>"
    )
    pat = []
    if age is not None:
        pat.append(f"<age><years>{int(age)}</years></age>")
    if sex:
        pat.append(f"<sex>{'Male' if sex.upper().startswith('M') else 'Female'}</sex>")
    parts.append(f"<patient><generalpatientdata>{''.join(pat)}</generalpatientdata></patient>")
    meas = "".join(f"<{k}>{escape(_fmt(v))}</{k}>" for k, v in (measurements or {}).items())
    meas_tag = "interpretationmeasurements" if v103 else "globalmeasurements"
    stmts = "".join(
        f"<statement><statementcode/><leftstatement>{escape(a)}</leftstatement>"
        f"<rightstatement>{escape(b)}</rightstatement></statement>"
        for a, b in statements
    )
    sev = f'<severity code="AB">{escape(severity)}</severity>' if severity else ""
    parts.append(
        f"<interpretations><interpretation><{meas_tag}>{meas}</{meas_tag}>{sev}{stmts}</interpretation></interpretations>"
    )
    parts.append("<waveforms>")
    if v103:
        comp = 'compressflag="True" compressmethod="XLI"' if xli else 'compressflag="False"'
        parts.append(
            f'<parsedwaveforms {comp} dataencoding="Base64" durationperchannel="{duration_ms}" '
            f'nbitspersample="16">{b64}</parsedwaveforms>'
        )
    else:
        comp = "XLI" if xli else "None"
        parts.append(
            f'<parsedwaveforms dataencoding="Base64" compression="{comp}" numberofleads="{len(names)}" '
            f'leadlabels={quoteattr(" ".join(names))} durationperchannel="{duration_ms}" '
            f'samplespersecond="{_fmt(fs)}" resolution="{_fmt(resolution_uv)}" signaloffset="0" '
            f'signalsigned="True" bitspersample="16">{b64}</parsedwaveforms>'
        )
    if median:
        mfs = median_fs or fs
        mres = median_resolution_uv or resolution_uv
        parts.append(
            f'<repbeats dataencoding="Base64" samplespersec="{_fmt(mfs)}" resolution="{_fmt(mres)}">'
        )
        for k, v in median.items():
            v = np.asarray(v, dtype=np.int64)
            padded = np.concatenate([v, np.full(v.size, 32767, dtype=np.int64)]).astype("<i2")
            data = base64.b64encode(padded.tobytes()).decode("ascii")
            dur = _fmt(padded.size * 1000.0 / mfs)
            if v103:
                parts.append(f'<repbeat leadname={quoteattr(k)} duration="{dur}">{data}</repbeat>')
            else:
                parts.append(
                    f'<repbeat leadname={quoteattr(k)}><waveform duration="{dur}">{data}</waveform></repbeat>'
                )
        parts.append("</repbeats>")
    parts.append("</waveforms></restingecgdata>")
    return "\n".join(parts).encode(text_encoding)


