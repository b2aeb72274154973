"""Philips XLI waveform codec: LZW with 10-bit codes, byte de-interleaving, second-order deltas.

Followed the XLI description documented in the MIT-licensed Sierra ECG Tools by C. A. Watford
(``sierraecg`` on PyPI and its Java port ``jsierraecg``); no code copied. Each lead is one
chunk with an 8-byte little-endian header (int32 compressed size, 2 unused bytes, int16 first
residual) followed by an LZW stream of 10-bit codes read most-significant-bit first (codes
0-255 are single bytes, entries 256-1022 are added after every code, the table never resets,
code 1023 ends the stream). The decompressed bytes hold first the high bytes, then the low
bytes of the 16-bit values, which are second-order residuals of the samples.

Decompression is capped: :func:`lzw_decode` raises as soon as its output exceeds the byte
count the caller allows (what the file header promises), so a crafted stream costs at most
a few MB and a fraction of a second.
"""

from __future__ import annotations

import numpy as np

from hfviz.errors import ECGFormatError

__all__ = ["lzw_decode", "xli_decompress_lead", "LZW_SLACK_BYTES"]

#: Extra LZW output tolerated over the header's promise (odd-length padding and the like).
LZW_SLACK_BYTES = 64
_LZW_BITS = 10
_LZW_MAX_CODE = (1 << _LZW_BITS) - 2  # 1022: last code that may be added to the table
_LZW_END = (1 << _LZW_BITS) - 1  # 1023: end of stream


def lzw_decode(chunk: bytes, limit: int, *, name: str = "data", what: str = "a lead") -> bytes:
    """Decompress one XLI LZW stream (10-bit codes, MSB first, no table reset).

    Parameters
    ----------
    chunk : bytes
        The compressed bytes of one lead.
    limit : int
        Largest number of output bytes allowed; exceeding it raises at once.
    name, what : str
        File name and lead description for messages.

    Returns
    -------
    bytes
        The decompressed bytes, at most ``limit`` of them.

    Raises
    ------
    ECGFormatError
        When the output grows past ``limit`` or a code cannot occur in a valid stream.
    """
    table: list[bytes] = [bytes((i,)) for i in range(256)]
    out = bytearray()
    prev = b""
    bitbuf = 0
    nbits = 0
    pos = 0
    n = len(chunk)
    while True:
        while nbits < _LZW_BITS and pos < n:
            bitbuf = (bitbuf << 8) | chunk[pos]
            pos += 1
            nbits += 8
        if nbits < _LZW_BITS:
            break
        nbits -= _LZW_BITS
        code = bitbuf >> nbits
        bitbuf &= (1 << nbits) - 1
        if code == _LZW_END:
            break
        size = len(table)
        if code < size:
            entry = table[code]
        elif code == size and prev:
            entry = prev + prev[:1]
        else:
            raise ECGFormatError(f"{name}: the compressed waveform of {what} is corrupt (invalid code).")
        if prev and size <= _LZW_MAX_CODE:
            table.append(prev + entry[:1])
        out += entry
        if len(out) > limit:
            raise ECGFormatError(
                f"{name}: the compressed waveform of {what} expands beyond the {limit:,} bytes "
                "its header allows; the file is corrupt or crafted."
            )
        prev = entry
    return bytes(out)


def _undelta(values: np.ndarray, first: int) -> np.ndarray:
    """Undo the XLI second-order residual coding; 16-bit wrap-around like the devices."""
    n = values.size
    v = values.astype(np.int64)
    if n <= 2:
        return v.astype(np.int16)
    r = np.empty(n, dtype=np.int64)
    r[2] = first
    r[3:] = v[2:-1] - 64
    e = np.empty(n, dtype=np.int64)
    e[0] = 0
    e[1] = v[1] - v[0]
    e[2:] = -r[2:]
    slope = np.cumsum(e[1:]) & 0xFFFF  # first differences, mod 2**16
    out = np.empty(n, dtype=np.int64)
    out[0] = v[0]
    out[1:] = v[0] + np.cumsum(slope)
    return (((out + 0x8000) & 0xFFFF) - 0x8000).astype(np.int16)


def xli_decompress_lead(
    chunk: bytes, first: int, n_samples: int, *, name: str = "data", what: str = "a lead"
) -> np.ndarray:
    """Decode one XLI lead payload (after its 8-byte header) into int16 samples, shape (n_samples,).

    At most ``n_samples`` samples are returned; fewer samples than promised raise.
    """
    raw = lzw_decode(chunk, 2 * n_samples + LZW_SLACK_BYTES, name=name, what=what)
    if len(raw) % 2:
        raw += b"\x00"
    half = len(raw) // 2
    if half < n_samples:
        raise ECGFormatError(
            f"{name}: {what} holds {half:,} samples but the header promises {n_samples:,}; "
            "the file is truncated or corrupt."
        )
    buf = np.frombuffer(raw, dtype=np.uint8).astype(np.uint16)
    values = ((buf[:half] << 8) | buf[half : 2 * half]).view(np.int16)
    return _undelta(values, first)[:n_samples]
