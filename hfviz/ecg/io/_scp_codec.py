"""SCP-ECG codecs: CRC-CCITT, Huffman tables (incl. the standard's default table), difference decoding.

Layout followed from the Apache-2.0 C# "ECG Toolkit" (van Ettinger / Erasmus MC; its SCP
section classes and their comments); no code copied. See :mod:`hfviz.ecg.io.scp`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hfviz.errors import ECGFormatError

__all__ = ["crc_ccitt", "DEFAULT_HUFFMAN", "huffman_decode", "undifference", "build_table", "default_tables"]

# (prefix bits, total bits, table mode, base value, prefix code) — the standard's default table.
DEFAULT_HUFFMAN: tuple[tuple[int, int, int, int, int], ...] = (
    (1, 1, 1, 0, 0b0),
    (3, 3, 1, 1, 0b100),
    (3, 3, 1, -1, 0b101),
    (4, 4, 1, 2, 0b1100),
    (4, 4, 1, -2, 0b1101),
    (5, 5, 1, 3, 0b11100),
    (5, 5, 1, -3, 0b11101),
    (6, 6, 1, 4, 0b111100),
    (6, 6, 1, -4, 0b111101),
    (7, 7, 1, 5, 0b1111100),
    (7, 7, 1, -5, 0b1111101),
    (8, 8, 1, 6, 0b11111100),
    (8, 8, 1, -6, 0b11111101),
    (9, 9, 1, 7, 0b111111100),
    (9, 9, 1, -7, 0b111111101),
    (10, 10, 1, 8, 0b1111111100),
    (10, 10, 1, -8, 0b1111111101),
    (10, 18, 1, 0, 0b1111111110),
    (10, 26, 1, 0, 0b1111111111),
)


def crc_ccitt(data: bytes) -> int:
    """CRC-CCITT as SCP-ECG uses it (polynomial 0x1021, initial value 0xFFFF, no reflection)."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for b in data:
        crc = ((crc << 8) & 0xFFFF) ^ table[(crc >> 8) ^ b]
    return crc


def _make_crc_table() -> list[int]:
    out = []
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        out.append(c & 0xFFFF)
    return out


_CRC_TABLE = _make_crc_table()


# --------------------------------------------------------------------------- Huffman


@dataclass
class HuffmanTable:
    entries: tuple[tuple[int, int, int, int, int], ...]
    max_prefix: int
    lut: list | None  # index by the next max_prefix bits -> entry, when max_prefix <= 16
    by_code: dict  # (length, code) -> entry


def build_table(entries, name: str) -> HuffmanTable:
    if not entries:
        raise ECGFormatError(f"{name}: a Huffman table in section 2 is empty.")
    by_code: dict[tuple[int, int], tuple] = {}
    max_prefix = 0
    for e in entries:
        prefix, total, mode, value, code = e
        if not 1 <= prefix <= 32 or total < prefix or total - prefix > 24 or total > 56:
            raise ECGFormatError(
                f"{name}: a Huffman table in section 2 has an entry with impossible bit lengths."
            )
        if code >> prefix:
            raise ECGFormatError(
                f"{name}: a Huffman table in section 2 has a code longer than its stated length."
            )
        by_code[(prefix, code)] = e
        max_prefix = max(max_prefix, prefix)
    lut = None
    if max_prefix <= 16:
        lut = [None] * (1 << max_prefix)
        for (prefix, code), e in by_code.items():
            lo = code << (max_prefix - prefix)
            hi = (code + 1) << (max_prefix - prefix)
            for i in range(lo, hi):
                if lut[i] is not None:
                    raise ECGFormatError(
                        f"{name}: a Huffman table in section 2 is ambiguous "
                        "(one code is a prefix of another)."
                    )
                lut[i] = e
    return HuffmanTable(tuple(entries), max_prefix, lut, by_code)


_DEFAULT_TABLE: HuffmanTable | None = None


def default_tables(_name: str = "") -> list[HuffmanTable]:
    global _DEFAULT_TABLE
    if _DEFAULT_TABLE is None:
        _DEFAULT_TABLE = build_table(DEFAULT_HUFFMAN, "default table")
    return [_DEFAULT_TABLE]


_MASK64 = (1 << 64) - 1


def huffman_decode(buf: bytes, n_max: int, tables: list[HuffmanTable], name: str, what: str) -> np.ndarray:
    """Decode at most ``n_max`` values; stops early when the data end (padding ignored)."""
    total_bits = len(buf) * 8
    if total_bits == 0 or n_max <= 0:
        return np.zeros(0, dtype=np.int64)
    raw = np.frombuffer(bytes(buf) + b"\x00" * 8, dtype=np.uint8).astype(np.uint64)
    n_win = len(buf)
    w = np.zeros(n_win, dtype=np.uint64)
    for k in range(8):
        w |= raw[k : k + n_win] << np.uint64(56 - 8 * k)
    win = w.tolist()
    out: list[int] = []
    append = out.append
    pos = 0
    sel = 0
    table = tables[0]
    switches = 0
    while len(out) < n_max and pos < total_bits:
        x = (win[pos >> 3] << (pos & 7)) & _MASK64
        if table.lut is not None:
            entry = table.lut[x >> (64 - table.max_prefix)]
        else:
            entry = None
            for length in range(1, table.max_prefix + 1):
                entry = table.by_code.get((length, x >> (64 - length)))
                if entry is not None:
                    break
        if entry is None:
            raise ECGFormatError(
                f"{name}: the Huffman-coded data of {what} contain a code the table does not define."
            )
        prefix, total, mode, value, _code = entry
        if pos + total > total_bits:
            break  # an incomplete code: end padding
        pos += total
        if mode == 0:
            sel = value - 1
            if not 0 <= sel < len(tables):
                raise ECGFormatError(
                    f"{name}: the Huffman-coded data of {what} switch to a table that does not exist."
                )
            table = tables[sel]
            switches += 1
            continue
        extra = total - prefix
        if extra:
            v = (x >> (64 - total)) & ((1 << extra) - 1)
            if v >> (extra - 1):
                v -= 1 << extra
            value = value + v
        append(value)
    return np.asarray(out, dtype=np.int64)


def undifference(values: np.ndarray, mode: int) -> np.ndarray:
    """Undo 0/1/2 difference encoding with 16-bit wrap-around; returns int64 in int16 range."""
    v = values.astype(np.int64)
    if mode == 0 or v.size == 0:
        out = v
    elif mode == 1:
        out = np.cumsum(v)
    else:
        if v.size <= 2:
            out = v
        else:
            slope = np.empty(v.size - 1, dtype=np.int64)
            slope[0] = v[1] - v[0]
            slope[1:] = v[2:]
            slope = np.cumsum(slope) & 0xFFFF
            out = np.empty_like(v)
            out[0] = v[0]
            out[1:] = v[0] + np.cumsum(slope)
    return ((out + 0x8000) & 0xFFFF) - 0x8000


