"""SCP-ECG files (EN 1064 / ISO 11073-91064, "Standard Communications Protocol").

Public format descriptions followed (read to understand the format; no code copied).
The standard's own text (EN 1064 / ISO 11073-91064) is sold, not public; the layout below
comes from the Apache-2.0 C# "ECG Toolkit" (van Ettinger / Erasmus MC: its SCP section
classes and their comments), cross-checked against the Apache-2.0 ``ecgdatakit`` SCP
parser (whose lead codes and flags disagree with the Toolkit and with real files; the
Toolkit was followed) and against the public ``Example.scp`` shipped with the Toolkit,
whose decoded samples equal, sample for sample, those of the HL7 aECG example of the same
recording:

* the file: a CRC (CRC-CCITT, polynomial 0x1021, start 0xFFFF, over every byte after the
  CRC) and the length, then sections that each start with a 16-byte header (CRC over the
  rest of the section, id, length, versions, reserved bytes);
* section 0 (pointers: id, length, 1-based byte index), section 1 (tagged header: tag 4
  age + unit, tag 5 date of birth, tag 8 sex, tag 25 date of acquisition), section 2
  (Huffman tables: 19999 = the standard's default table; otherwise tables of 9-byte
  entries: prefix bits, total bits, table-mode switch, base value, bit-reversed code),
  section 3 (lead definitions: count, flags - bit 0 reference-beat subtraction, bit 2
  simultaneous recording - and per lead: first and last sample number and the lead code),
  section 4 (reference-beat length in ms, fiducial sample in the reference beat, and per
  QRS: type, first/fiducial/last sample; then protected zones), section 5 (reference
  beats) and section 6 (rhythm), which share a header: amplitude value multiplier in nV,
  sample interval in us, difference encoding 0/1/2 (none / first / second differences),
  a byte that section 6 uses as the bimodal-compression flag, one byte count per lead and
  the lead data;
* section 7 (global measurements: per reference-beat type P onset/offset, QRS onset/
  offset, T offset in ms and P/QRS/T axes; average RR/PP; after the pacemaker and QRS-type
  lists the ventricular rate, atrial rate and QTc) and section 8 (textual diagnosis);
* the default Huffman table of the standard: ``0`` -> 0; n ones (n = 1..8), a zero and a
  sign bit -> +/-n; ``1111111110`` + 8 bits and ``1111111111`` + 16 bits -> that value in
  two's complement.

Reconstruction
--------------
Rhythm = decoded residual (+ reference beat, when section 3 flags reference-beat
subtraction, over every type-0 QRS from its first to its last sample, aligned on the
fiducials of section 4). When the rhythm was stored at a lower rate than the reference
beat (uniform decimation by an integer factor 2 to 4, bimodal flag off), the residual is
brought back to the reference-beat rate by linear interpolation (the Toolkit uses a
polynomial interpolator; the residual is smooth there, so the difference is small) before
the reference beat is added; the returned ``fs`` is then the reference-beat rate. Values are 16-bit as
in the standard (difference decoding wraps like the devices' 16-bit arithmetic).

Sample counts: section 3's ``last - first + 1`` is the target, so files numbering samples
from 0 or from 1 are both read right. The data are decoded only up to that count, and a
lead whose data hold exactly one sample fewer is accepted (writers that number from 0 but
state an exclusive end; this is visible only in raw data, because with Huffman coding
the padding bits at the end of a lead decode as extra zero values).
When section 2 is absent, the data are taken as raw 16-bit values if the byte counts fit
that exactly, else as coded with the default Huffman table.

Limits (checked before anything is allocated): at most ``MAX_SAMPLES_PER_LEAD``
samples per lead and ``MAX_TOTAL_SAMPLES`` samples over all leads (= 60 s of 12 leads
at 1000 Hz), at most 255 leads (the format's own limit), files up to
the upload limit (all three in :mod:`hfviz.ecg.io._common`).

Not supported (raise ``ECGFormatError``): bimodal compression, leads that were not
recorded simultaneously (different first/last samples), rhythm stored at a higher rate
than the reference beat or at a non-integer / >4 decimation factor, difference encodings
other than 0/1/2, Huffman tables whose codes need more than 56 bits.
Sections 9-11 and manufacturer sections are ignored. Section 7 and 8 (device
measurements, interpretation) are read leniently: a malformed section yields no
measurements / an empty text instead of an error. CRC mismatches (file or section) raise
unless :func:`decode` is called with ``verify_crc=False``.
The codecs are in :mod:`._scp_codec`, the metadata sections in :mod:`._scp_meta`.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import LEAD_CODES, MAX_SAMPLES_PER_LEAD, MAX_TOTAL_SAMPLES, NamedBytes, clean_meta
from hfviz.ecg.io._scp_codec import HuffmanTable, build_table, crc_ccitt, default_tables, huffman_decode, undifference
from hfviz.ecg.io._scp_meta import section1, section7, section8
from hfviz.ecg.record import ECGRecord, make_record

__all__ = ["read", "LEAD_NAMES"]

#: Longest accepted reference beat, in samples per lead.
MAX_MEDIAN_SAMPLES = 20_000
#: Most QRS complexes accepted in section 4.
MAX_QRS = 5_000

#: Lead codes of section 3 (EN 1064 table of lead identifiers; common ones).
LEAD_NAMES = LEAD_CODES

# --------------------------------------------------------------------------- file structure


def _u16(b: bytes, o: int) -> int:
    return struct.unpack_from("<H", b, o)[0]


def _sections(data: bytes, name: str, verify_crc: bool) -> dict[int, bytes]:
    """Return {section id: section bytes after its 16-byte header}."""
    if len(data) < 6 + 16:
        raise ECGFormatError(f"{name}: the file is too short to be an SCP-ECG file.")
    stored_crc, length = struct.unpack_from("<HI", data, 0)
    sec0_id, sec0_len = struct.unpack_from("<HI", data, 8)
    if sec0_id != 0 or sec0_len < 16 or length < 6 + 16:
        raise ECGFormatError(f"{name}: this is not an SCP-ECG file (no section 0 at its start).")
    if length > len(data):
        raise ECGFormatError(f"{name}: the SCP-ECG file is truncated ({len(data):,} of {length:,} bytes).")
    data = data[:length]
    if verify_crc and crc_ccitt(data[2:]) != stored_crc:
        raise ECGFormatError(f"{name}: the SCP-ECG file's checksum does not match its content; the file is damaged.")
    if sec0_len > length - 6:
        raise ECGFormatError(f"{name}: section 0 of the SCP-ECG file is longer than the file; the file is corrupt.")
    if verify_crc and crc_ccitt(data[8 : 6 + sec0_len]) != _u16(data, 6):
        raise ECGFormatError(f"{name}: the checksum of section 0 does not match; the file is damaged.")
    out: dict[int, bytes] = {}
    n_ptr = (sec0_len - 16) // 10
    for k in range(n_ptr):
        o = 6 + 16 + 10 * k
        sid, slen, sidx = struct.unpack_from("<HII", data, o)
        if slen == 0 or sidx == 0 or sid == 0:
            continue
        start = sidx - 1
        if slen < 16 or start + slen > length:
            raise ECGFormatError(
                f"{name}: section {sid} lies outside the file; the file is truncated or corrupt."
            )
        hdr_crc, hdr_id, hdr_len = struct.unpack_from("<HHI", data, start)
        if hdr_id != sid or hdr_len != slen:
            raise ECGFormatError(
                f"{name}: the pointer to section {sid} does not match the section found there."
            )
        if verify_crc and crc_ccitt(data[start + 2 : start + slen]) != hdr_crc:
            raise ECGFormatError(
                f"{name}: the checksum of section {sid} does not match; the file is damaged."
            )
        if sid in out:
            raise ECGFormatError(f"{name}: section {sid} appears twice.")
        out[sid] = data[start + 16 : start + slen]
    return out


@dataclass
class _Leads:
    names: list[str]
    start: int
    end: int
    reference_beat: bool


def _section3(s: bytes, name: str) -> _Leads:
    if len(s) < 2:
        raise ECGFormatError(f"{name}: the lead definition (section 3) is truncated.")
    n, flags = s[0], s[1]
    if n == 0:
        raise ECGFormatError(f"{name}: the file defines no leads.")
    if len(s) < 2 + 9 * n:
        raise ECGFormatError(f"{name}: the lead definition (section 3) is truncated.")
    names: list[str] = []
    spans = set()
    for i in range(n):
        first, last, code = struct.unpack_from("<IIB", s, 2 + 9 * i)
        spans.add((first, last))
        label = LEAD_NAMES.get(code, f"lead code {code}")
        if label in names:
            label = f"{label} ({names.count(label) + 1})"
        names.append(label)
    if len(spans) != 1:
        raise ECGFormatError(
            f"{name}: leads recorded at different times (different sample ranges) are not supported."
        )
    first, last = spans.pop()
    if last < first:
        raise ECGFormatError(f"{name}: section 3 gives a last sample before the first one.")
    count = last - first + 1
    if count > MAX_SAMPLES_PER_LEAD or count * n > MAX_TOTAL_SAMPLES:
        raise ECGFormatError(
            f"{name}: the file announces {count:,} samples in each of {n} leads; at most "
            f"{MAX_SAMPLES_PER_LEAD:,} per lead and {MAX_TOTAL_SAMPLES:,} in all "
            "(60 s of 12 leads at 1000 Hz) are accepted."
        )
    return _Leads(names, first, last, bool(flags & 0x01))


def _tables(sections: dict[int, bytes], name: str) -> list[HuffmanTable] | None:
    """Huffman tables, ``[]`` for 'no Huffman', ``None`` when section 2 is absent."""
    s = sections.get(2)
    if s is None:
        return None
    if len(s) < 2:
        raise ECGFormatError(f"{name}: the Huffman section (section 2) is truncated.")
    n = _u16(s, 0)
    if n == 19999:
        return default_tables(name)
    if n == 0:
        return []
    if n > 256:
        raise ECGFormatError(f"{name}: section 2 declares {n} Huffman tables, which is not plausible.")
    o = 2
    tables: list[HuffmanTable] = []
    for _ in range(n):
        if o + 2 > len(s):
            raise ECGFormatError(f"{name}: the Huffman section (section 2) is truncated.")
        m = _u16(s, o)
        o += 2
        if m == 0 or o + 9 * m > len(s):
            raise ECGFormatError(f"{name}: the Huffman section (section 2) is truncated or empty.")
        entries = []
        for k in range(m):
            prefix, total, mode, value, rev = struct.unpack_from("<BBBhI", s, o + 9 * k)
            code = 0
            for _b in range(prefix):  # stored with the first bit in the least significant position
                code = (code << 1) | (rev & 1)
                rev >>= 1
            entries.append((prefix, total, mode, value, code))
        o += 9 * m
        tables.append(build_table(tuple(entries), name))
    return tables


@dataclass
class _Block:
    avm: int  # nV per unit
    interval: int  # us
    diff: int
    flag: int
    data: list[bytes]


def _block(s: bytes, n_leads: int, name: str, what: str) -> _Block:
    head = 6 + 2 * n_leads
    if len(s) < head:
        raise ECGFormatError(f"{name}: the {what} is truncated.")
    avm, interval, diff, flag = struct.unpack_from("<HHBB", s, 0)
    if avm == 0:
        raise ECGFormatError(f"{name}: the {what} has no amplitude scale (multiplier 0).")
    if interval == 0:
        raise ECGFormatError(f"{name}: the {what} has no sampling interval.")
    if diff not in (0, 1, 2):
        raise ECGFormatError(f"{name}: the {what} uses difference encoding {diff}, which does not exist.")
    sizes = struct.unpack_from(f"<{n_leads}H", s, 6)
    o = head
    data = []
    for size in sizes:
        if o + size > len(s):
            raise ECGFormatError(
                f"{name}: the data of the {what} are shorter than their stated size; the file is truncated."
            )
        data.append(s[o : o + size])
        o += size
    return _Block(avm, interval, diff, flag, data)


def _decode_block(
    blk: _Block, n_target: int, tables: list[HuffmanTable] | None, names: list[str], name: str, what: str
) -> np.ndarray:
    """Decode every lead of a section 5/6 block to int16-range int64 values (leads x samples)."""
    rows = []
    for lead, buf in zip(names, blk.data, strict=True):
        use = tables
        if use is None:  # section 2 absent: raw if the size fits exactly, else default Huffman
            use = [] if len(buf) in (2 * n_target, 2 * (n_target - 1)) else default_tables(name)
        if use:
            vals = huffman_decode(buf, n_target, use, name, f"lead {lead} ({what})")
        else:
            vals = np.frombuffer(buf[: 2 * min(n_target, len(buf) // 2)], dtype="<i2").astype(np.int64)
        if vals.size < n_target - 1 or vals.size == 0:
            raise ECGFormatError(
                f"{name}: lead {lead} ({what}) holds {vals.size:,} samples "
                f"but section 3 announces {n_target:,}; "
                "the file is truncated or corrupt."
            )
        rows.append(undifference(vals, blk.diff))
    n = min(r.size for r in rows)
    if n == 0:
        raise ECGFormatError(f"{name}: the {what} holds no samples.")
    return np.stack([r[:n] for r in rows])


def _section4(s: bytes, name: str) -> tuple[int, int, list[tuple[int, int, int, int]]]:
    if len(s) < 6:
        raise ECGFormatError(f"{name}: the QRS-location section (section 4) is truncated.")
    length_ms, fiducial, n_qrs = struct.unpack_from("<HHH", s, 0)
    if n_qrs > MAX_QRS:
        raise ECGFormatError(f"{name}: section 4 lists {n_qrs:,} QRS complexes, which is not plausible.")
    if len(s) < 6 + 14 * n_qrs:
        raise ECGFormatError(f"{name}: the QRS-location section (section 4) is truncated.")
    qrs = [struct.unpack_from("<HIII", s, 6 + 14 * k) for k in range(n_qrs)]
    return length_ms, fiducial, qrs


# --------------------------------------------------------------------------- main entry


def read(files: Sequence[NamedBytes], *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read an SCP-ECG file from memory (file and section CRCs are checked).

    Parameters
    ----------
    files : sequence of (str, bytes)
        One file: its name (for messages) and content.
    fs, units : optional
        Ignored: the file states its sample interval and amplitude multiplier.

    Returns
    -------
    ECGRecord
        ``source_format="scp"``: the rhythm (section 6, reference beats added back when
        subtracted), the reference beats (section 5) as the median beat, age and sex
        (section 1), device measurements (section 7) and interpretation (section 8).
    """
    name, data = files[0]
    decoded = decode(data, name)
    return make_record(
        decoded["leads"],
        decoded["fs"],
        source_format="scp",
        source_name=name,
        median_beats=decoded["median"],
        median_fs_hz=decoded["median_fs"],
        units_note=f"units from the file ({decoded['avm_nv']:g} nV per unit)",
        meta=clean_meta({k: decoded[k] for k in ("age", "sex", "interpretation", "device_measurements")}),
    )


def decode(data: bytes, name: str, *, verify_crc: bool = True) -> dict:
    """Decode an SCP-ECG file held in memory into leads and metadata.

    Parameters
    ----------
    data : bytes
        Whole file content.
    name : str
        File name, used at the start of every error message.
    verify_crc : bool
        Check the file and section CRCs (default); ``False`` skips them.

    Returns
    -------
    dict
        ``leads`` {label: ndarray (n,) in mV}, ``fs`` (Hz), ``avm_nv`` (nV per unit),
        ``median`` {label: ndarray (m,) in mV} or ``None``, ``median_fs`` (Hz) or ``None``,
        ``device_measurements`` {name: {"value", "unit"}}, ``interpretation`` (str),
        ``age`` (years or ``None``), ``sex`` (``"M"``/``"F"``/``None``).

    Raises
    ------
    ECGFormatError
        For anything that is not a decodable SCP-ECG file.
    """
    sections = _sections(bytes(data), name, verify_crc)
    if 3 not in sections:
        raise ECGFormatError(f"{name}: the file has no lead definition (section 3).")
    if 6 not in sections:
        raise ECGFormatError(f"{name}: the file has no rhythm data (section 6).")
    leads = _section3(sections[3], name)
    tables = _tables(sections, name)
    rhythm = _block(sections[6], len(leads.names), name, "rhythm (section 6)")
    if rhythm.flag:
        raise ECGFormatError(f"{name}: the rhythm data use bimodal compression, which is not supported.")
    sec4 = _section4(sections[4], name) if 4 in sections else None
    median_blk, median_counts = _reference_beat(sections, sec4, leads, tables, name)
    if leads.reference_beat:
        signal, fs = _rhythm_with_reference(rhythm, median_blk, median_counts, sec4, leads, tables, name)
    else:
        n_total = leads.end - leads.start + 1
        counts = _decode_block(rhythm, n_total, tables, leads.names, name, "rhythm data")
        fs = 1e6 / rhythm.interval
        signal = counts.astype(np.float64) * (rhythm.avm * 1e-6)
    median = median_fs = None
    if median_counts is not None:
        mscale = median_blk.avm * 1e-6
        median = {lab: median_counts[i].astype(np.float64) * mscale for i, lab in enumerate(leads.names)}
        median_fs = 1e6 / median_blk.interval
    age, sex = section1(sections.get(1, b""))
    return {
        "leads": {lab: signal[i] for i, lab in enumerate(leads.names)},
        "fs": float(fs),
        "avm_nv": float(rhythm.avm),
        "median": median,
        "median_fs": median_fs,
        "device_measurements": section7(sections.get(7, b"")),
        "interpretation": section8(sections.get(8, b"")),
        "age": age,
        "sex": sex,
    }


def _reference_beat(sections, sec4, leads: _Leads, tables, name: str):
    """Section 5 block and its decoded counts (leads x m), or ``None`` for what is absent."""
    if 5 not in sections:
        return None, None
    blk = _block(sections[5], len(leads.names), name, "reference beat (section 5)")
    if sec4 is None:
        return blk, None
    n_med = int(round(sec4[0] * 1000 / blk.interval))
    if n_med > MAX_MEDIAN_SAMPLES:
        raise ECGFormatError(f"{name}: the reference beat is announced as {sec4[0]:,} ms long, which is not plausible.")
    if n_med <= 0:
        return blk, None
    return blk, _decode_block(blk, n_med, tables, leads.names, name, "reference beat")


def _rhythm_with_reference(rhythm, median_blk, median_counts, sec4, leads: _Leads, tables, name: str):
    """Rhythm stored as residual from the reference beat: (signal in mV (leads x n), fs in Hz)."""
    if median_counts is None or sec4 is None:
        raise ECGFormatError(
            f"{name}: the rhythm is stored as a difference from the reference beat, but the reference beat "
            "or the QRS locations (sections 4 and 5) are missing."
        )
    ratio, rem = divmod(rhythm.interval, median_blk.interval)
    if rem or not 1 <= ratio <= 4:
        raise ECGFormatError(
            f"{name}: rhythm sampled every {rhythm.interval} us with a reference beat every "
            f"{median_blk.interval} us is not a supported decimation."
        )
    n_total = leads.end - leads.start + 1
    n_stored = n_total if ratio == 1 else -(-n_total // ratio)
    resid = _decode_block(rhythm, n_stored, tables, leads.names, name, "rhythm data")
    if ratio > 1:
        stored_at = np.arange(resid.shape[1]) * ratio
        full = np.arange(n_total)
        resid = np.stack([np.interp(full, stored_at, r.astype(np.float64)) for r in resid])
    signal = _add_reference_beats(resid, median_counts, rhythm.avm, median_blk.avm, leads.start, sec4, name)
    return signal, 1e6 / median_blk.interval


def _add_reference_beats(
    resid, median, avm_r: int, avm_m: int, lead_start: int, sec4, name: str
) -> np.ndarray:
    """Add the reference beat over every type-0 QRS; returns float64 mV (leads x samples)."""
    _length_ms, fid_ref, qrs = sec4
    same_scale = avm_r == avm_m and resid.dtype.kind == "i"
    if same_scale:
        acc = resid.astype(np.int64).copy()
        med = median
    else:
        acc = resid.astype(np.float64) * avm_r
        med = median.astype(np.float64) * avm_m
    n = acc.shape[1]
    n_med = med.shape[1]
    base = 0 if lead_start == 0 else 1
    for qtype, first, fid, last in qrs:
        if qtype != 0:
            continue
        if last < first:
            raise ECGFormatError(f"{name}: section 4 gives a QRS that ends before it starts.")
        r0 = first - lead_start
        m0 = first - fid + fid_ref - base
        length = last - first + 1
        if r0 < 0:
            length += r0
            m0 -= r0
            r0 = 0
        if m0 < 0:
            length += m0
            r0 -= m0
            m0 = 0
        length = min(length, n - r0, n_med - m0)
        if length <= 0:
            continue
        acc[:, r0 : r0 + length] += med[:, m0 : m0 + length]
    if same_scale:
        return acc.astype(np.float64) * (avm_r * 1e-6)
    return acc * 1e-6


