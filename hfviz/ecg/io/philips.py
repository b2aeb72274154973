"""Philips PageWriter / IntelliSpace / TraceMasterVue resting-ECG XML (``<restingecgdata>``).

The files have a ``<restingecgdata>`` root in the ``http://www3.medical.philips.com``
namespace and come as UTF-8 or UTF-16 (with byte-order mark). Two schema generations
are handled: ``SierraECG`` 1.03 and ``PhilipsECG`` 1.04 (1.04.01 and 1.04.02 have the
same waveform layout and are accepted too).

Public format descriptions followed (read to understand the format; no code copied):

* the XLI chunk layout, LZW parameters and delta scheme as documented in the MIT-licensed
  Sierra ECG Tools by C. A. Watford (``sierraecg`` on PyPI and its Java port
  ``jsierraecg``): each lead is one chunk with an 8-byte little-endian header
  (int32 compressed size, 2 unused bytes, int16 first residual), followed by an LZW
  stream of 10-bit codes read most-significant-bit first (codes 0-255 are single bytes,
  new entries 256-1022 are added after every code, the table never resets, code 1023
  ends the stream);
* the decompressed bytes hold first the high bytes, then the low bytes of the 16-bit
  values; the values are second-order residuals of the samples (first two values are the
  first two samples; residuals after that are stored offset by +64 and shifted by one
  position, with the first one in the chunk header);
* in XLI files leads III, aVR, aVL and aVF are stored as residuals against the value
  derived from I and II (Einthoven/Goldberger): III = II - I - r3,
  aVR = -r4 - floor((I + II) / 2), aVL = floor((I - III) / 2) - r5,
  aVF = floor((II + III) / 2) - r6;
* the element and attribute names of the SierraECG 1.03 / PhilipsECG 1.04 schemas as
  they appear in the public sample files shipped with those tools (``parsedwaveforms``
  with ``durationperchannel``, ``compressmethod``/``compression``, ``repbeats``,
  ``globalmeasurements``, ``interpretation`` statements);
* the Apache-2.0 ``ecgdatakit`` Sierra parser, only to confirm the same field meanings.

Design notes
------------
* :func:`read` works on bytes in memory and touches no file; the XML is parsed through the
  project's defusedxml path (:func:`hfviz.ecg.io._common.parse_xml`). The XLI codec lives in
  :mod:`hfviz.ecg.io._xli`.
* Every problem ends in :class:`hfviz.errors.ECGFormatError` whose message starts with the
  file name and says in one sentence what is wrong.
* Decompression is capped: the LZW decoder stops and raises as soon as one lead's output
  exceeds what the header promises (``durationperchannel`` x sampling rate x 2 bytes plus
  :data:`LZW_SLACK_BYTES`), and the promise itself is capped at
  ``MAX_SAMPLES_PER_LEAD`` per lead and ``MAX_TOTAL_SAMPLES`` over all leads (:mod:`._common`)
  (60 s of 12 leads at 1000 Hz). A crafted stream therefore costs at most a few MB and a
  fraction of a second. Only as many XLI chunks as there are leads are decoded (devices
  append a few extra, empty chunks; they are ignored).
* Philips stores the last second of ``durationperchannel`` as a trailer: residual
  signal, then all leads at 0 and a 1 mV calibration pulse (identical in every lead).
  When such a trailer (at least 0.1 s where all leads carry the same value, up to the
  end) is found inside the final second, that final second is dropped; a longer all-equal
  tail (zero padding) is cut where it starts.
* Uncompressed (``Base64`` without XLI) waveforms are stored lead after lead as int16
  little-endian. Public descriptions do not say whether the limb leads are residuals
  there too, so the decoder checks the data: if stored III is closer to 0 than to II - I,
  the limb leads are treated as residuals and rebuilt as for XLI; otherwise they are
  used as stored.
* Median beats (``repbeats``) are read when they are uncompressed Base64 int16; fill
  values (32767 / -32768) at the end of each beat are dropped. Medians in another
  encoding are skipped (``median`` is ``None``), not an error.

Not supported (raise ``ECGFormatError``): other document types/versions, data encodings
other than Base64, compression other than XLI, bits per sample other than 16, unsigned
samples or a non-zero signal offset.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections.abc import Sequence
from typing import Any
from xml.etree.ElementTree import Element  # the type only: parsing goes through defusedxml

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import (
    MAX_CHANNELS,
    MAX_SAMPLES_PER_LEAD,
    MAX_TOTAL_SAMPLES,
    NamedBytes,
    clean_meta,
    local,
    parse_xml,
    sex_code,
)
from hfviz.ecg.io._philips_meta import age, device, acquired, interpretation, measurements
from hfviz.ecg.io._xli import xli_decompress_lead
from hfviz.ecg.record import ECGRecord, make_record

#: Fill values that pad median beats.
_FILL_VALUES = (32767, -32768)
_STANDARD_12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
_KNOWN_DOCS = {"SIERRAECG", "PHILIPSECG"}


# --------------------------------------------------------------------------- XML helpers


def _parse(name: str, data: bytes) -> Element:
    """Parse safely and drop XML namespaces from tags and attribute names."""
    root = parse_xml(name, data)
    for el in root.iter():
        if isinstance(el.tag, str):
            el.tag = local(el.tag)
        if el.attrib and any(k.startswith("{") for k in el.attrib):
            el.attrib = {local(k): v for k, v in el.attrib.items()}
    return root


def _text(el: Element | None) -> str:
    return (el.text or "").strip() if el is not None else ""


def _find(root: Element | None, path: str) -> Element | None:
    return root.find(path) if root is not None else None


def _number(text: Any) -> float | None:
    if text is None:
        return None
    try:
        v = float(str(text).strip())
    except ValueError:
        return None
    return v if math.isfinite(v) else None


def _positive(text: Any, name: str, what: str, *, upper: float) -> float:
    v = _number(text)
    if v is None or not 0 < v <= upper:
        raise ECGFormatError(f"{name}: the {what} ({text!r}) is missing or not a usable number.")
    return v


def _attr(el: Element, *keys: str) -> str | None:
    lower = {k.lower(): v for k, v in el.attrib.items()}
    for k in keys:
        if k.lower() in lower:
            return lower[k.lower()].strip()
    return None


def _b64(text: str, name: str, what: str) -> bytes:
    compact = re.sub(r"\s+", "", text or "")
    if not compact:
        raise ECGFormatError(f"{name}: the {what} is empty.")
    try:
        return base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ECGFormatError(f"{name}: the {what} is not valid Base64 text.") from None


# --------------------------------------------------------------------------- main entry


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read a Philips resting-ECG XML file (UTF-8 or UTF-16) from memory.

    Parameters
    ----------
    files : sequence of (str, bytes)
        One file: its name (for messages) and content, an XML document with root
        ``<restingecgdata>``.
    fs, units : optional
        Ignored: the file states its sampling rate and resolution.

    Returns
    -------
    ECGRecord
        ``source_format="philips"``: the strip trimmed to the recorded signal (the calibration
        trailer dropped), median beats from ``repbeats`` when stored uncompressed, device
        measurements and interpretation statements in ``meta``.
    """
    name, data = files[0]
    decoded = decode(data, name)
    return make_record(
        decoded["leads"],
        decoded["fs"],
        source_format="philips",
        source_name=name,
        median_beats=decoded["median"],
        median_fs_hz=decoded["median_fs"],
        units_note=f"units from the file ({decoded['resolution_uv']:g} µV per unit)",
        meta=clean_meta({k: decoded[k] for k in _META_KEYS}),
    )


_META_KEYS = ("age", "sex", "device", "acquired", "interpretation", "device_measurements")


def decode(data: bytes, name: str) -> dict:
    """Decode a Philips resting-ECG XML file held in memory into leads and metadata.

    Parameters
    ----------
    data : bytes
        Whole file content (UTF-8, or UTF-16 with a byte-order mark).
    name : str
        File name, used at the start of every error message.

    Returns
    -------
    dict
        ``leads`` {label: ndarray (n,) in mV} in file order, trimmed to the recorded signal;
        ``fs`` (Hz); ``resolution_uv`` (µV per unit); ``median`` {label: ndarray (m,) in mV}
        or ``None``; ``median_fs`` (Hz) or ``None``; ``device_measurements`` {name: {"value",
        "unit"}}; ``interpretation`` (statements joined by "; "); ``age`` (years or ``None``);
        ``sex`` (``"M"``/``"F"``/``None``); ``device``; ``acquired`` (ISO date and time).

    Raises
    ------
    ECGFormatError
        For anything that is not a decodable Philips resting ECG.
    """
    root = _parse(name, bytes(data))
    leads, fs_hz, res_uv = _strip(root, name)
    median, median_fs = _medians(root, fs_hz, res_uv, name)
    return {
        "leads": leads,
        "fs": fs_hz,
        "resolution_uv": res_uv,
        "median": median,
        "median_fs": median_fs,
        "age": age(root),
        "sex": sex_code(_text(root.find(".//patient/generalpatientdata/sex"))),
        "device": device(root),
        "acquired": acquired(root),
        "interpretation": interpretation(root),
        "device_measurements": measurements(root),
    }


def _strip(root: Element, name: str) -> tuple[dict[str, np.ndarray], float, float]:
    """The rhythm strip: leads in mV (trailer dropped), sampling rate (Hz), resolution (µV per unit)."""
    _check_document(root, name)
    wf = root.find(".//waveforms/parsedwaveforms")
    if wf is None:
        wf = root.find(".//parsedwaveforms")
    if wf is None:
        raise ECGFormatError(f"{name}: the file contains no waveform (<parsedwaveforms> is missing).")
    sig = root.find(".//dataacquisition/signalcharacteristics")
    fs, res_uv = _sample_format(wf, sig, name)
    duration_ms = _positive(_attr(wf, "durationperchannel"), name, "duration per channel (ms)", upper=1e9)
    n_declared = int(round(duration_ms * fs / 1000.0))
    if n_declared <= 0:
        raise ECGFormatError(f"{name}: the stated duration holds no samples.")
    if n_declared > MAX_SAMPLES_PER_LEAD:
        raise ECGFormatError(
            f"{name}: the header announces {n_declared:,} samples per lead; "
            f"at most {MAX_SAMPLES_PER_LEAD:,} are accepted."
        )
    labels = _lead_labels(wf, sig, name)
    if n_declared * len(labels) > MAX_TOTAL_SAMPLES:
        raise ECGFormatError(
            f"{name}: the header announces {len(labels)} leads of {n_declared:,} samples; at most "
            f"{MAX_TOTAL_SAMPLES:,} samples in all (60 s of 12 leads at 1000 Hz) are accepted."
        )
    xli = _is_xli(wf, name)
    payload = _b64(wf.text or "", name, "waveform data")
    if xli:
        counts = _decode_xli_block(payload, len(labels), n_declared, name, labels)
    else:
        counts = _split_raw(payload, len(labels), n_declared, name)
    counts = _rebuild_limb_leads(counts, labels, True if xli else None)  # None: decided from the data
    counts = counts[:, : _signal_length(counts, int(round(fs)))]
    scale = res_uv / 1000.0
    return {lab: counts[i].astype(np.float64) * scale for i, lab in enumerate(labels)}, float(fs), res_uv


def _check_document(root: Element, name: str) -> None:
    if root.tag.lower() != "restingecgdata":
        raise ECGFormatError(f"{name}: this is not a Philips resting-ECG XML file (no <restingecgdata> root).")
    doc_type = _text(_find(root, "documentinfo/documenttype"))
    doc_ver = _text(_find(root, "documentinfo/documentversion"))
    if doc_type and doc_type.upper() not in _KNOWN_DOCS:
        raise ECGFormatError(
            f"{name}: Philips document type {doc_type[:40]!r} is not supported (SierraECG or PhilipsECG expected)."
        )
    if doc_ver and not re.fullmatch(r"1\.0[34](\.0[12])?", doc_ver):
        raise ECGFormatError(f"{name}: Philips XML version {doc_ver[:20]!r} is not supported (1.03 to 1.04.02 are).")


def _sample_format(wf: Element, sig: Element | None, name: str) -> tuple[float, float]:
    """Sampling rate (Hz) and resolution (µV per unit); refuse sample formats not supported."""
    fs = _positive(
        _attr(wf, "samplespersecond") or _text(_find(sig, "samplingrate")), name, "sampling rate", upper=20_000
    )
    res_uv = _positive(
        _attr(wf, "resolution") or _text(_find(sig, "resolution")) or _text(_find(sig, "signalresolution")),
        name,
        "amplitude resolution (µV per unit)",
        upper=1e6,
    )
    bits = _attr(wf, "bitspersample", "nbitspersample") or _text(_find(sig, "bitspersample"))
    if bits and _number(bits) != 16:
        raise ECGFormatError(f"{name}: waveforms with {bits[:20]} bits per sample are not supported (16 expected).")
    signed = _attr(wf, "signalsigned") or _text(_find(sig, "signalsigned"))
    if signed and signed.lower() == "false":
        raise ECGFormatError(f"{name}: unsigned waveform samples are not supported.")
    offset = _attr(wf, "signaloffset") or _text(_find(sig, "signaloffset"))
    if offset and _number(offset) not in (0.0, None):
        raise ECGFormatError(f"{name}: a signal offset of {offset[:20]} is not supported.")
    return fs, res_uv


def _is_xli(wf: Element, name: str) -> bool:
    """Whether the waveform is XLI-compressed (``False``: plain Base64 int16)."""
    encoding = (_attr(wf, "dataencoding") or "Base64").strip()
    if encoding.lower() != "base64":
        raise ECGFormatError(f"{name}: waveform data encoding {encoding[:20]!r} is not supported (Base64 expected).")
    method = (_attr(wf, "compression", "compressmethod") or "").strip().upper()
    flag = (_attr(wf, "compressflag") or "").strip().lower()
    if flag == "false" or method in ("", "NONE", "UNCOMPRESSED"):
        return False
    if method == "XLI":
        return True
    raise ECGFormatError(f"{name}: waveform compression {method[:20]!r} is not supported (XLI or none expected).")


# --------------------------------------------------------------------------- waveform parts


def _lead_labels(wf: Element, sig: Element | None, name: str) -> list[str]:
    raw = _attr(wf, "leadlabels")
    if raw:
        labels = raw.split()
        count = _number(_attr(wf, "numberofleads"))
        if count is not None:
            if not 0 < count <= len(labels):
                raise ECGFormatError(
                    f"{name}: the number of leads ({count:g}) does not match the lead labels."
                )
            labels = labels[: int(count)]
    else:
        count = _number(_text(_find(sig, "numberchannelsallocated"))) or _number(
            _text(_find(sig, "numberchannelsvalid"))
        )
        kind = (_text(_find(sig, "acquisitiontype")) or _text(_find(sig, "leadset"))).upper()
        if count is None:
            count = 12.0 if kind in ("STD-12", "10-WIRE") else None
        if count is None or count != int(count) or not 0 < count <= MAX_CHANNELS:
            raise ECGFormatError(f"{name}: the file does not say how many leads it stores.")
        count = int(count)
        if kind not in ("STD-12", "10-WIRE", "") and count != 12:
            raise ECGFormatError(f"{name}: lead set {kind!r} with {count} channels is not supported.")
        if count > 12:
            raise ECGFormatError(f"{name}: {count} channels without lead labels are not supported.")
        labels = list(_STANDARD_12[:count])
    if not 0 < len(labels) <= MAX_CHANNELS:
        raise ECGFormatError(f"{name}: the file declares {len(labels)} leads; 1 to {MAX_CHANNELS} are accepted.")
    if len(set(labels)) != len(labels):
        raise ECGFormatError(f"{name}: a lead name appears twice in the lead labels.")
    return labels


def _decode_xli_block(
    payload: bytes, n_leads: int, n_samples: int, name: str, labels: list[str]
) -> np.ndarray:
    out = np.empty((n_leads, n_samples), dtype=np.int64)
    pos = 0
    total = len(payload)
    for i in range(n_leads):
        what = f"lead {labels[i]}"
        if pos + 8 > total:
            raise ECGFormatError(
                f"{name}: the compressed waveform stops after {i} of {n_leads} leads; the file is truncated."
            )
        size = int.from_bytes(payload[pos : pos + 4], "little", signed=True)
        first = int.from_bytes(payload[pos + 6 : pos + 8], "little", signed=True)
        pos += 8
        if size <= 0 or pos + size > total:
            raise ECGFormatError(
                f"{name}: the compressed block of {what} has an impossible size; "
                "the file is truncated or corrupt."
            )
        out[i] = xli_decompress_lead(payload[pos : pos + size], first, n_samples, name=name, what=what)
        pos += size
    return out


def _split_raw(payload: bytes, n_leads: int, n_samples: int, name: str) -> np.ndarray:
    need = n_leads * n_samples * 2
    if len(payload) < need:
        raise ECGFormatError(
            f"{name}: the waveform holds {len(payload):,} bytes but {n_leads} leads "
            f"of {n_samples:,} samples need {need:,}."
        )
    arr = np.frombuffer(payload[:need], dtype="<i2").astype(np.int64)
    return arr.reshape(n_leads, n_samples)


def _rebuild_limb_leads(counts: np.ndarray, labels: list[str], residual: bool | None) -> np.ndarray:
    """Turn stored residuals of III, aVR, aVL, aVF into the leads (see module notes)."""
    if [lab.upper() for lab in labels[:6]] != ["I", "II", "III", "AVR", "AVL", "AVF"]:
        return counts
    i, ii, r3, r4, r5, r6 = (counts[k] for k in range(6))
    if residual is None:
        residual = bool(np.mean(np.abs(r3)) < np.mean(np.abs(r3 - (ii - i))))
    if not residual:
        return counts
    out = counts.copy()
    iii = ii - i - r3
    out[2] = iii
    out[3] = -r4 - np.floor_divide(i + ii, 2)
    out[4] = np.floor_divide(i - iii, 2) - r5
    out[5] = np.floor_divide(ii + iii, 2) - r6
    return out


def _signal_length(counts: np.ndarray, fs: int) -> int:
    """Samples to keep: drop the Philips trailer (see module notes)."""
    n_leads, n = counts.shape
    if n_leads < 2 or n == 0:
        return n
    same = np.all(counts == counts[0], axis=0)
    differing = np.flatnonzero(~same)
    start = int(differing[-1]) + 1 if differing.size else 0
    tail = n - start
    if tail < max(1, fs // 10):
        return n
    if tail <= fs and n - fs > 0:
        return n - fs
    return max(start, 1)


def _medians(
    root: Element, fs: float, res_uv: float, name: str
) -> tuple[dict[str, np.ndarray] | None, float | None]:
    reps = root.find(".//waveforms/repbeats")
    if reps is None:
        reps = root.find(".//repbeats")
    if reps is None:
        return None, None
    encoding = (_attr(reps, "dataencoding") or "Base64").lower()
    method = (_attr(reps, "compression", "compressmethod") or "").upper()
    flag = (_attr(reps, "compressflag") or "").lower()
    if encoding != "base64" or (method not in ("", "NONE", "UNCOMPRESSED") and flag != "false"):
        return None, None  # optional part in an encoding this reader does not handle
    mfs = _number(_attr(reps, "samplespersec", "samplespersecond")) or fs
    mres = _number(_attr(reps, "resolution")) or res_uv
    if not (0 < mfs <= 20_000 and 0 < mres <= 1e6):
        raise ECGFormatError(f"{name}: the median beats have an unusable sampling rate or resolution.")
    beats: dict[str, np.ndarray] = {}
    for rb in reps.findall("repbeat"):
        lead = _attr(rb, "leadname")
        if not lead:
            continue
        node = rb.find("waveform")
        text = (node.text if node is not None else rb.text) or ""
        if not text.strip():
            continue
        raw = _b64(text, name, f"median beat of lead {lead}")
        if len(raw) // 2 > MAX_SAMPLES_PER_LEAD:
            raise ECGFormatError(f"{name}: the median beat of lead {lead} is implausibly long.")
        vals = np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2").astype(np.int64)
        keep = vals.size
        while keep and vals[keep - 1] in _FILL_VALUES:
            keep -= 1
        vals = vals[:keep]
        if keep == 0 or np.isin(vals, _FILL_VALUES).any():
            return None, None
        beats[lead] = vals
    if not beats:
        return None, None
    n = min(v.size for v in beats.values())
    scale = mres / 1000.0
    return {k: v[:n].astype(np.float64) * scale for k, v in beats.items()}, float(mfs)
