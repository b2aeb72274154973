"""Writer of small, valid SCP-ECG files for tests (Huffman / difference / reference-beat coding).

Used to test :mod:`hfviz.ecg.io.scp` (round trips, crafted edge cases, fuzz seeds). Takes
integer sample values ("counts"); the physical value of a count is ``avm_nv`` nanovolts.
Returns ``bytes``; nothing is written to disk. Files made here are SYNTHETIC test data.
"""

from __future__ import annotations

import datetime as _dt
import struct
from collections.abc import Mapping, Sequence

import numpy as np

from hfviz.ecg.io._common import LEAD_CODES as LEAD_NAMES
from hfviz.ecg.io._scp_codec import DEFAULT_HUFFMAN, crc_ccitt

__all__ = ["encode_scp", "fix_scp_crcs", "huffman_encode"]


# --------------------------------------------------------------------------- SCP-ECG

_LEAD_CODES = {v: k for k, v in LEAD_NAMES.items()}
HuffEntry = tuple[int, int, int, int, int]


def _bits_of(value: int, width: int) -> str:
    return format(value & ((1 << width) - 1), f"0{width}b")


def huffman_encode(
    values: np.ndarray, tables: Sequence[Sequence[HuffEntry]], switch_at: int | None = None
) -> bytes:
    """Code int values with SCP Huffman tables.

    The first table is used; with ``switch_at`` its table-switch code is emitted before that
    sample and the second table is used from there on.
    """
    bits: list[str] = []
    sel = 0
    for idx, v in enumerate(np.asarray(values, dtype=np.int64).tolist()):
        if switch_at is not None and idx == switch_at:
            sw = next(e for e in tables[sel] if e[2] == 0 and e[3] == 2)
            bits.append(_bits_of(sw[4], sw[0]) + "0" * (sw[1] - sw[0]))
            sel = 1
        entry = None
        for e in tables[sel]:
            prefix, total, mode, base, code = e
            if mode == 0:
                continue
            extra = total - prefix
            if extra == 0 and base == v:
                entry = e
                break
            if extra > 0 and -(1 << (extra - 1)) <= v - base < (1 << (extra - 1)):
                entry = e
                break
        if entry is None:
            raise ValueError(f"value {v} cannot be coded with the table")
        prefix, total, _mode, base, code = entry
        bits.append(_bits_of(code, prefix) + (_bits_of(v - base, total - prefix) if total > prefix else ""))
    s = "".join(bits)
    s += "0" * (-len(s) % 8)
    return int(s, 2).to_bytes(len(s) // 8, "big") if s else b""


def _differences(x: np.ndarray, mode: int) -> np.ndarray:
    x = np.asarray(x, dtype=np.int64)
    d = x.copy()
    if mode == 1 and x.size > 1:
        d[1:] = x[1:] - x[:-1]
    elif mode == 2 and x.size > 2:
        d[2:] = x[2:] - 2 * x[1:-1] + x[:-2]
    return ((d + 0x8000) & 0xFFFF) - 0x8000


def _section(sid: int, body: bytes, *, reserved: bytes = b"\x00" * 6) -> bytes:
    if len(body) % 2:
        body += b"\x00"
    length = 16 + len(body)
    rest = struct.pack("<HIBB6s", sid, length, 20, 20, reserved) + body
    return struct.pack("<H", crc_ccitt(rest)) + rest


def _table_bytes(tables: Sequence[Sequence[HuffEntry]]) -> bytes:
    out = [struct.pack("<H", len(tables))]
    for t in tables:
        out.append(struct.pack("<H", len(t)))
        for prefix, total, mode, value, code in t:
            rev = int(_bits_of(code, prefix)[::-1], 2)
            out.append(struct.pack("<BBBhI", prefix, total, mode, value, rev))
    return b"".join(out)


def encode_scp(
    leads: Mapping[str, np.ndarray],
    fs: float,
    *,
    avm_nv: int = 1000,
    difference: int = 2,
    huffman: str = "default",
    huffman_tables: Sequence[Sequence[HuffEntry]] | None = None,
    switch_table_at: int | None = None,
    first_sample: int = 1,
    end_exclusive: bool = False,
    median: Mapping[str, np.ndarray] | None = None,
    median_avm_nv: int | None = None,
    median_fiducial: int | None = None,
    qrs: Sequence[tuple[int, int, int]] = (),
    subtract_reference: bool = False,
    decimation: int = 1,
    age: int | None = None,
    sex: str | None = None,
    birth_date: _dt.date | None = None,
    acquired: _dt.date | None = None,
    global_measurements: Mapping[str, int] | None = None,
    statements: Sequence[str] = (),
    bimodal_flag: int = 0,
) -> bytes:
    """Build an SCP-ECG file.

    Parameters
    ----------
    leads : {name: int array}
        Counts per lead (names from :data:`scp.LEAD_NAMES`), all the same length.
    fs : float
        Sampling rate in Hz (of the full-rate signal).
    avm_nv : int
        Nanovolts per count (amplitude value multiplier).
    difference : 0, 1 or 2
        Difference encoding of sections 5 and 6.
    huffman : "default", "none" (section 2 with 0 tables), "absent" (no section 2,
        data raw) , "absent-default" (no section 2, data default-Huffman coded) or "custom"
        (``huffman_tables`` written to section 2; ``switch_table_at`` switches to table 2).
    first_sample : int
        First sample number written to section 3 (1 as the standard counts; 0 for files
        that count from 0).
    end_exclusive : bool
        Write ``first + n`` as the last sample (a quirk of some writers) instead of
        ``first + n - 1``.
    median, median_avm_nv, median_fiducial
        Reference beat counts per lead (section 5) and its fiducial sample (1-based).
    qrs : [(first, fiducial, last)]
        QRS complexes (1-based sample numbers) for section 4, all of type 0.
    subtract_reference : bool
        Store rhythm minus reference beat (section 3 flag bit 0).
    decimation : int
        With ``subtract_reference``: store the residual every ``decimation`` samples.
    age, sex, birth_date, acquired
        Section 1 tags 4, 8, 5, 25.
    global_measurements : {"p_on", "p_off", "qrs_on", "qrs_off", "t_off", "p_axis",
        "qrs_axis", "t_axis", "rr", "vent_rate", "atrial_rate", "qtc"}
        Section 7 content.
    statements : [str]
        Section 8 statements.
    bimodal_flag : int
        Written as section 6's bimodal-compression byte (to test rejection).
    """
    names = list(leads)
    counts = [np.asarray(leads[k], dtype=np.int64) for k in names]
    sizes = {c.size for c in counts}
    if len(sizes) != 1:
        raise ValueError("all leads must have the same length")
    n = sizes.pop()
    if huffman == "custom":
        tables = [list(t) for t in (huffman_tables or [])]
    elif huffman in ("default", "absent-default"):
        tables = [list(DEFAULT_HUFFMAN)]
    else:
        tables = []

    def code(values: np.ndarray) -> bytes:
        d = _differences(values, difference)
        if tables:
            return huffman_encode(d, tables, switch_table_at if huffman == "custom" else None)
        return d.astype("<i2").tobytes()

    rhythm_counts = counts
    med_counts = None
    if median is not None:
        med_counts = [np.asarray(median[k], dtype=np.int64) for k in names]
    if subtract_reference:
        if med_counts is None or median_fiducial is None:
            raise ValueError("reference-beat subtraction needs median and median_fiducial")
        rhythm_counts = [c.copy() for c in counts]
        base = 0 if first_sample == 0 else 1
        for first, fid, last in qrs:
            for c, m in zip(rhythm_counts, med_counts, strict=True):
                for t in range(first, last + 1):
                    ri = t - first_sample
                    mi = t - fid + median_fiducial - base
                    if 0 <= ri < n and 0 <= mi < m.size:
                        c[ri] -= m[mi]
        if decimation > 1:
            rhythm_counts = [c[::decimation] for c in rhythm_counts]

    sections: dict[int, bytes] = {}
    # section 1
    tags = []
    if age is not None:
        tags.append(struct.pack("<BHHB", 4, 3, int(age), 1))
    if birth_date is not None:
        tags.append(struct.pack("<BHHBB", 5, 4, birth_date.year, birth_date.month, birth_date.day))
    if sex is not None:
        tags.append(struct.pack("<BHB", 8, 1, {"M": 1, "F": 2}.get(sex.upper()[:1], 0)))
    if acquired is not None:
        tags.append(struct.pack("<BHHBB", 25, 4, acquired.year, acquired.month, acquired.day))
    tags.append(struct.pack("<BH", 255, 0))
    sections[1] = b"".join(tags)
    if huffman == "default":
        sections[2] = struct.pack("<H", 19999)
    elif huffman == "none":
        sections[2] = struct.pack("<H", 0)
    elif huffman == "custom":
        sections[2] = _table_bytes(tables)
    flags = (0x01 if subtract_reference else 0) | 0x04 | ((min(len(names), 31)) << 3)
    s3 = [struct.pack("<BB", len(names), flags)]
    last_sample = first_sample + n - (0 if end_exclusive else 1)
    for k in names:
        s3.append(struct.pack("<IIB", first_sample, last_sample, _LEAD_CODES.get(k, 0)))
    sections[3] = b"".join(s3)
    interval = int(round(1e6 / fs))
    if med_counts is not None:
        mlen = med_counts[0].size
        s4 = [struct.pack("<HHH", int(round(mlen * 1000 / fs)), median_fiducial or 1, len(qrs))]
        for first, fid, last in qrs:
            s4.append(struct.pack("<HIII", 0, first, fid, last))
        for first, _fid, last in qrs:
            s4.append(struct.pack("<II", first, last))
        sections[4] = b"".join(s4)
        coded = [code(m) for m in med_counts]
        sections[5] = (
            struct.pack("<HHBB", median_avm_nv or avm_nv, interval, difference, 0)
            + struct.pack(f"<{len(coded)}H", *(len(c) for c in coded))
            + b"".join(coded)
        )
    coded = [code(c) for c in rhythm_counts]
    r_interval = interval * (decimation if subtract_reference else 1)
    sections[6] = (
        struct.pack("<HHBB", avm_nv, r_interval, difference, bimodal_flag)
        + struct.pack(f"<{len(coded)}H", *(len(c) for c in coded))
        + b"".join(coded)
    )
    if global_measurements is not None:
        g = dict(global_measurements)
        nv = 29999
        s7 = struct.pack("<BBHH", 1, 0, g.get("rr", nv), nv)
        s7 += struct.pack(
            "<5H3h",
            g.get("p_on", nv),
            g.get("p_off", nv),
            g.get("qrs_on", nv),
            g.get("qrs_off", nv),
            g.get("t_off", nv),
            g.get("p_axis", nv),
            g.get("qrs_axis", nv),
            g.get("t_axis", nv),
        )
        s7 += struct.pack("<H", 0)
        s7 += struct.pack("<3HBH", g.get("vent_rate", nv), g.get("atrial_rate", nv), g.get("qtc", nv), 0, 0)
        sections[7] = s7
    if statements:
        s8 = struct.pack("<BHBBBBBB", 0, 2024, 1, 15, 10, 0, 0, len(statements))
        for i, text in enumerate(statements, 1):
            b = text.encode("latin-1") + b"\x00"
            s8 += struct.pack("<BH", i, len(b)) + b
        sections[8] = s8

    # lay out: header (6) + section 0 + the others in id order
    ids = list(range(0, 12))
    body_sections = {sid: _section(sid, sections[sid]) for sid in sorted(sections)}
    sec0_len = 16 + 10 * len(ids)
    offset = 6 + sec0_len
    pointers = []
    for sid in ids:
        if sid == 0:
            pointers.append(struct.pack("<HII", 0, sec0_len, 7))
        elif sid in body_sections:
            pointers.append(struct.pack("<HII", sid, len(body_sections[sid]), offset + 1))
            offset += len(body_sections[sid])
        else:
            pointers.append(struct.pack("<HII", sid, 0, 0))
    sec0 = _section(0, b"".join(pointers), reserved=b"SCPECG")
    rest = sec0 + b"".join(body_sections[sid] for sid in sorted(body_sections))
    total = 6 + len(rest)
    head_rest = struct.pack("<I", total) + rest
    return struct.pack("<H", crc_ccitt(head_rest)) + head_rest


def fix_scp_crcs(data: bytes) -> bytes:
    """Recompute every section CRC and the file CRC of an SCP-ECG byte string (for crafted files).

    Sections are found through the pointers of section 0; pointers that lead outside the
    data are left alone.
    """
    buf = bytearray(data)
    if len(buf) < 22:
        return bytes(buf)
    sec0_len = struct.unpack_from("<I", buf, 10)[0]
    spans = [(6, sec0_len)]
    for k in range((sec0_len - 16) // 10):
        o = 22 + 10 * k
        if o + 10 > len(buf):
            break
        _sid, slen, sidx = struct.unpack_from("<HII", buf, o)
        if slen >= 16 and sidx and sidx - 1 + slen <= len(buf):
            spans.append((sidx - 1, slen))
    for start, slen in spans[1:] + spans[:1]:
        if start + slen <= len(buf):
            struct.pack_into("<H", buf, start, crc_ccitt(bytes(buf[start + 2 : start + slen])))
    struct.pack_into("<H", buf, 0, crc_ccitt(bytes(buf[2:])))
    return bytes(buf)
