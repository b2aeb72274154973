"""Read an ECG file in any supported format into a validated :class:`~hfviz.ecg.record.ECGRecord`.

One entry point, :func:`read_ecg`. The format is detected from the content (XML root tag,
the DICOM ``DICM`` marker, WFDB header text, the NumPy magic, a zip archive, CSV text) and
only then from the file extension; then the format's module (one table, ``_READERS``) reads
it, every one through the same ``read(files, *, fs=None, units=None) -> ECGRecord``. Uploaded bytes are parsed in memory and never written to
disk. Every problem with the input ends in :class:`~hfviz.errors.ECGFormatError` with one
sentence naming the file and what was wrong.

Supported formats
-----------------
``wfdb``        PhysioNet WFDB: ``.hea`` + ``.dat`` (formats 8, 16, 24, 32, 61, 80, 160, 212) or ``.mat``
``cardiosoft``  GE CardioSoft XML (UK Biobank), strip + ``MedianSamples``
``muse``        GE MUSE XML, rhythm + median, 8 stored leads (limb leads derived)
``aecg``        HL7 v3 annotated ECG XML
``dicom``       DICOM 12-lead / general ECG waveform
``philips``     Philips PageWriter / IntelliSpace XML (``<restingecgdata>``, XLI-compressed, UTF-8/16)
``scp``         SCP-ECG (EN 1064) binary, Huffman / difference / reference-beat coded
``matlab``      CPSC 2018 MATLAB v5 struct ``ECG{sex, age, data}`` (12 x N in mV; 500 Hz unless ``fs``)
``csv``         CSV/TSV with a header of lead names (``fs`` or a time column needed; module ``tabular``)
``npy``/``npz`` NumPy arrays (``fs`` needed unless the ``.npz`` stores it)
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Union

from hfviz.errors import ECGFormatError
from hfviz.ecg.io._common import MAX_FILE_BYTES, NamedBytes, check_size, parse_xml, xml_root_tag
from hfviz.ecg.io._wfdb_header import looks_like_header, signal_file_names
from hfviz.ecg.record import ECGRecord

__all__ = ["read_ecg", "sniff_format", "FORMATS", "MAX_FILE_BYTES"]

#: Formats :func:`read_ecg` can return in ``record.source_format``.
FORMATS = ("wfdb", "cardiosoft", "muse", "aecg", "dicom", "philips", "scp", "matlab", "csv", "npy", "npz")

PathLike = Union[str, os.PathLike]
Source = Union[PathLike, bytes, Sequence[PathLike], Sequence[NamedBytes]]

_XML_ROOTS = {"CardiologyXML": "cardiosoft", "RestingECG": "muse", "AnnotatedECG": "aecg", "restingecgdata": "philips"}
#: UTF-16 XML without a byte-order mark starts with "<?" in 16-bit characters.
_UTF16_XML_STARTS = (b"<\x00?\x00", b"\x00<\x00?")


def read_ecg(source: Source, *, fs: float | None = None, units: str | None = None) -> ECGRecord:
    """Read one ECG from files on disk or from uploaded bytes.

    Parameters
    ----------
    source : path, list of paths, bytes, or list of (filename, bytes)
        * a path to one ECG file; a WFDB ``.hea`` path also loads the signal files it names
          from the same folder (a ``.dat``/``.mat`` path or a record name without extension
          finds its ``.hea``);
        * several paths: a WFDB header with its signal files;
        * raw bytes of one file (named ``"uploaded file"`` in messages);
        * ``(filename, bytes)`` pairs as a browser upload gives them — never written to disk;
          only the base name is used in messages.
    fs : float, optional
        Sampling rate in Hz for formats that carry none (CSV without a time column, NumPy).
        Ignored by formats that store their own rate.
    units : {"mV", "uV"}, optional
        Amplitude units for formats that do not state them (CSV, NumPy); inferred from the
        amplitudes when omitted (the inference is written to ``record.units_note``). Ignored
        by formats that state their units.

    Returns
    -------
    ECGRecord
        12 leads in mV in standard order, with ``source_format`` one of :data:`FORMATS`.

    Raises
    ------
    ECGFormatError
        For any problem with the input (unknown format, truncated or corrupt file, file over
        :data:`MAX_FILE_BYTES`, missing leads or sampling rate, implausible amplitudes …).
        No other exception type escapes for bad input.
    """
    name = "ECG"
    try:
        files = _collect(source)
        name = files[0][0]
        if units is not None and str(units).strip().lower() not in ("mv", "uv", "µv", "μv"):
            raise ECGFormatError(f"{name}: units must be 'mV' or 'uV', not {units!r}.")
        if fs is not None:
            try:
                fs = float(fs)
            except (TypeError, ValueError):
                raise ECGFormatError(f"{name}: sampling rate {fs!r} is not a number.") from None
        return _dispatch(files, fs=fs, units=units)
    except ECGFormatError as exc:
        text = str(exc)
        if any(ch in text for ch in "\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"):  # text from the file
            raise ECGFormatError(" ".join(text.split())) from None  # one line, whatever the file held
        raise
    except MemoryError:
        raise ECGFormatError(f"{name}: the file is too large to read into memory.") from None
    except RecursionError:
        raise ECGFormatError(f"{name}: the file is nested too deeply to read.") from None
    except Exception as exc:  # last line of defence: a clear sentence, never a traceback
        raise ECGFormatError(
            f"{name}: the file could not be read; it may be corrupt or not an ECG ({type(exc).__name__})."
        ) from None


# --- gathering input ---------------------------------------------------------------------------


def _base_name(name: object) -> str:
    """File name without any directory part (uploads may carry client paths)."""
    text = str(name) if name is not None else ""
    text = re.split(r"[\\/]", text)[-1].strip()
    text = "".join(ch for ch in text if ch.isprintable())
    return text[:120] or "uploaded file"


def _read_path(path: Path) -> NamedBytes:
    name = _base_name(path.name)  # no control characters from file names in messages
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ECGFormatError(f"{name}: file not found.") from None
    except OSError as exc:
        raise ECGFormatError(f"{name}: the file cannot be opened ({exc.strerror or type(exc).__name__}).") from None
    if path.is_dir():
        raise ECGFormatError(f"{name}: is a folder, not a file.")
    if size > MAX_FILE_BYTES:
        raise ECGFormatError(
            f"{name}: the file is {size / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES / 2**20:.0f} MB per file."
        )
    try:
        with open(path, "rb") as f:
            data = f.read(min(size, MAX_FILE_BYTES) + 1)  # not a 50 MB buffer for every small file
            if len(data) > size:  # a pipe (size 0) or a file that grew: read on up to the limit
                data += f.read(MAX_FILE_BYTES + 1 - len(data))
    except OSError as exc:
        raise ECGFormatError(f"{name}: the file cannot be read ({exc.strerror or type(exc).__name__}).") from None
    return name, data


def _wfdb_siblings(path: Path, data: bytes) -> list[NamedBytes]:
    """Signal files named by a WFDB header, read from the header's folder (base names only)."""
    out = []
    for fname in signal_file_names(data.decode("latin-1")):
        sib = path.parent / _base_name(fname)
        if sib.is_file():
            out.append(_read_path(sib))
    return out


def _expand_single_path(path: Path) -> list[NamedBytes]:
    """One path as the files to read: a WFDB header (found from a record, .dat or .mat path) with its signal files."""
    if not path.exists():
        hea = path.with_name(path.name + ".hea")
        if hea.is_file():  # a WFDB record name such as "data/HR06000"
            path = hea
    elif path.suffix.lower() in (".dat", ".mat") and path.with_suffix(".hea").is_file():
        path = path.with_suffix(".hea")
    first = _read_path(path)
    if looks_like_header(first[1]):
        return [first] + [f for f in _wfdb_siblings(path, first[1]) if f[0] != first[0]]
    return [first]


def _collect(source: Source) -> list[NamedBytes]:
    """Normalise every accepted ``source`` form to a list of (base name, bytes)."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        return [("uploaded file", bytes(source))]
    if isinstance(source, (str, os.PathLike)):
        return _expand_single_path(Path(source))
    if isinstance(source, tuple) and len(source) == 2 and isinstance(source[1], (bytes, bytearray, memoryview)):
        return [(_base_name(source[0]), bytes(source[1]))]
    if isinstance(source, Sequence) and not isinstance(source, str):
        items = list(source)
        if not items:
            raise ECGFormatError("ECG: no file was given.")
        out: list[NamedBytes] = []
        for item in items:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], (bytes, bytearray, memoryview)):
                out.append((_base_name(item[0]), bytes(item[1])))
            elif isinstance(item, (str, os.PathLike)):
                p = Path(item)
                out.append(_read_path(p) if len(items) > 1 else _expand_single_path(p)[0])
            elif hasattr(item, "name") and hasattr(item, "getvalue"):  # a Streamlit UploadedFile
                out.append((_base_name(item.name), bytes(item.getvalue())))
            else:
                raise ECGFormatError(f"ECG: cannot read an item of type {type(item).__name__}.")
        if len(items) == 1 and isinstance(items[0], (str, os.PathLike)):
            return _expand_single_path(Path(items[0]))
        return out
    if hasattr(source, "name") and hasattr(source, "getvalue"):
        return [(_base_name(source.name), bytes(source.getvalue()))]
    raise ECGFormatError(f"ECG: cannot read a source of type {type(source).__name__}.")


# --- format detection --------------------------------------------------------------------------


def sniff_format(name: str, data: bytes) -> str:
    """Guess a file's format from its content (and only then its extension).

    Returns
    -------
    str
        One of ``"dicom"``, ``"scp"``, ``"npy"``, ``"npz"``, ``"xml"``, ``"wfdb-header"``, ``"mat"``,
        ``"csv"``, ``"binary"`` (unrecognised bytes, e.g. a WFDB ``.dat`` signal file).
    """
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "dicom"
    if _looks_like_scp(data):
        return "scp"
    if data[:6] == b"\x93NUMPY":
        return "npy"
    if data[:4] == b"PK\x03\x04" or data[:4] == b"PK\x05\x06":
        return "npz"
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] == b"<" or head[:4] in _UTF16_XML_STARTS or _utf16_bom_then_tag(head):
        return "xml"
    if data[:10].startswith(b"MATLAB 5.0") or name.lower().endswith(".mat"):
        return "mat"
    if looks_like_header(data):
        return "wfdb-header"
    if name.lower().endswith(".hea") and _looks_like_text(data):
        return "wfdb-header"  # malformed header: let the WFDB parser say what is wrong
    if name.lower().endswith(".scp"):
        return "scp"  # structure not recognised: let the SCP reader say what is wrong
    if _looks_like_text(data):
        return "csv"
    if name.lower().endswith((".csv", ".tsv", ".txt")):
        return "csv"
    return "binary"


def _utf16_bom_then_tag(head: bytes) -> bool:
    """UTF-16 with a byte-order mark whose first character (after blanks) is ``<`` (XML, not a UTF-16 table)."""
    codec = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}.get(head[:2])
    return codec is not None and head[2:66].decode(codec, errors="ignore").lstrip().startswith("<")


def _looks_like_scp(data: bytes) -> bool:
    """SCP-ECG by structure: section 0 at byte 6 (id 0) whose first pointer points at itself.

    The section 0 header carries ``SCPECG`` in its reserved bytes (file bytes 16-21) in files
    of protocol version 2 and later; older files are recognised by the pointer alone.
    """
    if len(data) < 32 or data[8:10] != b"\x00\x00":
        return False
    sec0_len = int.from_bytes(data[10:14], "little")
    if not 16 <= sec0_len <= len(data):
        return False
    if data[16:22] == b"SCPECG":
        return True
    self_pointer = data[22:24] == b"\x00\x00" and int.from_bytes(data[28:32], "little") == 7
    return self_pointer and int.from_bytes(data[24:28], "little") == sec0_len


def _looks_like_text(data: bytes) -> bool:
    head = data[:8192]
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the end
            try:
                head.decode("latin-1")
            except UnicodeDecodeError:  # pragma: no cover
                return False
            printable = sum(32 <= b < 127 or b in (9, 10, 13) for b in head)
            return printable / max(len(head), 1) > 0.95
    return True


_SUPPORTED = (
    "WFDB (.hea with .dat/.mat), GE CardioSoft XML, GE MUSE XML, HL7 aECG XML, DICOM ECG, "
    "Philips XML, SCP-ECG, CPSC MATLAB struct, CSV/TSV with lead names, NumPy .npy/.npz"
)


#: The one reader table: format -> module of :mod:`hfviz.ecg.io` whose ``read`` reads it. Every
#: module's ``read(files, *, fs=None, units=None) -> ECGRecord`` takes the files the format needs
#: (a WFDB header first, then its signal files; one file otherwise). Modules are imported on
#: first use (pydicom, pandas and scipy.io are slow to import).
_READERS = {
    "wfdb": "wfdb",
    "cardiosoft": "cardiosoft",
    "muse": "muse",
    "aecg": "aecg",
    "dicom": "dicom",
    "philips": "philips",
    "scp": "scp",
    "matlab": "matlab",
    "csv": "tabular",
    "npy": "npy",
    "npz": "npz",
}


def _dispatch(files: list[NamedBytes], *, fs: float | None, units: str | None) -> ECGRecord:
    for name, data in files:
        check_size(name, data)
    fmt, files = _detect(files)
    reader = importlib.import_module(f"{__name__}.{_READERS[fmt]}")
    return reader.read(files, fs=fs, units=units)


def _detect(files: list[NamedBytes]) -> tuple[str, list[NamedBytes]]:
    """The format of the given files (one of :data:`FORMATS`) and the files in reader order.

    Raises
    ------
    ECGFormatError
        Several WFDB headers, several files without a header, an unsupported XML root, a
        lone MATLAB or WFDB signal file, or unrecognised content.
    """
    kinds = [sniff_format(n, d) for n, d in files]
    headers = [f for f, k in zip(files, kinds) if k == "wfdb-header"]
    if headers:
        if len(headers) > 1:
            raise ECGFormatError(
                f"{headers[0][0]}: several WFDB headers were given ({', '.join(h[0] for h in headers)}); "
                "read one record at a time."
            )
        return "wfdb", headers + [f for f, k in zip(files, kinds) if k != "wfdb-header"]
    if len(files) > 1:
        raise ECGFormatError(
            f"{files[0][0]}: {len(files)} files were given but none is a WFDB header (.hea); "
            "give one ECG file, or a .hea with its signal files."
        )
    (name, data), kind = files[0], kinds[0]
    if kind == "xml":
        tag = xml_root_tag(name, data)
        if tag not in _XML_ROOTS:
            parse_xml(name, data)  # a malformed file is reported as malformed, not as unsupported
            raise ECGFormatError(
                f"{name}: XML with root element <{tag[:40]}> is not a supported ECG format "
                "(GE CardioSoft, GE MUSE, HL7 aECG or Philips)."
            )
        return _XML_ROOTS[tag], files
    if kind in ("dicom", "scp", "npy", "npz", "csv"):
        return kind, files
    if kind == "mat":
        return "matlab", files  # a CPSC-style struct; the reader says what is missing otherwise
    if name.lower().endswith((".dat", ".xyz")):
        raise ECGFormatError(f"{name}: a WFDB signal file needs its .hea header; upload both together.")
    raise ECGFormatError(f"{name}: unknown file format; supported are {_SUPPORTED}.")
