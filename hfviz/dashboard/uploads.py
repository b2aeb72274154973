"""What a file upload means, without Streamlit: one ECG per upload, a batch, and formats in clinicians' words.

The Patient page treats every choice in the file dialog as *one* upload that replaces the
ECG on screen. Before anything is read, :func:`upload_problem` checks that the chosen files
can be one ECG (one file, or one WFDB header with its own signal files); after a failed read,
:func:`unsupported_format_sentence` names a recognised-but-unsupported format ("Philips
PageWriter XML is not supported yet") instead of the reader's technical reason.

The Batch page takes many files at once, or ``.zip`` archives of them: :func:`expand_batch_upload`
opens the archives in memory (:mod:`zipfile` on :class:`io.BytesIO`), bounded in entries
(:data:`MAX_ZIP_ENTRIES`) and in expanded bytes (:data:`MAX_BATCH_BYTES`: the sizes the archive
declares are checked before anything is decompressed, and no more than the declared bytes are
ever read), skipping folders, ``__MACOSX`` and hidden entries. :data:`FORMAT_WORDS` says a
reader's format code in the same words as :func:`format_name`.

The list of *unsupported* formats is only consulted when reading failed, so a format that
gains a reader (in :mod:`hfviz.ecg.io`) stops being reported as unsupported without any
change here.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import PurePath

from hfviz.ecg.io import MAX_FILE_BYTES, sniff_format
from hfviz.risk.batch import NOT_ECG_SUFFIXES

#: Every format the dashboard can name, as a clinician knows it, by how the file starts.
#: XML root element (lower case, namespace stripped) -> name.
_XML_NAMES = {
    "restingecgdata": "Philips PageWriter XML",
    "restingecg": "GE MUSE XML",
    "cardiologyxml": "GE CardioSoft XML",
    "annotatedecg": "HL7 aECG XML",
    "mortaraecg": "Mortara XML",
    "schillerecg": "Schiller XML",
    "examdescript": "Schiller XML",
    "sierraecg": "Philips Sierra XML",
    "ecgdocument": "Mindray XML",
}
#: The formats hfviz.ecg.io reads (``record.source_format``) in the words of :data:`_XML_NAMES`.
FORMAT_WORDS = {
    "wfdb": "WFDB",
    "cardiosoft": "GE CardioSoft XML",
    "muse": "GE MUSE XML",
    "aecg": "HL7 aECG XML",
    "dicom": "DICOM ECG",
    "philips": "Philips PageWriter XML",
    "scp": "SCP-ECG",
    "matlab": "MATLAB file (CPSC 2018)",
    "csv": "CSV table",
    "npy": "NumPy array",
    "npz": "NumPy archive",
    "simulated": "simulated (synthetic)",
}
#: Names of the formats hfviz.ecg.io reads: a failed read of one of these keeps the reader's own sentence.
_READ_FORMATS = set(FORMAT_WORDS.values())
#: (file-name suffix, name) of binary formats recognised by extension.
_SUFFIX_NAMES = (
    (".scp", "SCP-ECG"),
    (".ecg", "ISHNE Holter"),
    (".edf", "EDF"),
    (".mwf", "MFER"),
    (".pdf", "a PDF printout (ECG as a picture)"),
    (".png", "an image of an ECG"),
    (".jpg", "an image of an ECG"),
    (".jpeg", "an image of an ECG"),
)
_WFDB_SIGNAL_SUFFIXES = (".dat", ".mat")


def _xml_root(data: bytes) -> str | None:
    """Local name of the first XML element, lower case, from the first 8 kB (no full parse)."""
    utf16 = data[:2] in (b"\xff\xfe", b"\xfe\xff")
    head = data[:8192].decode("utf-16" if utf16 else "utf-8", "replace")
    for m in re.finditer(r"<([A-Za-z_][\w.\-:]*)", head):
        tag = m.group(1)
        if tag.lower() in ("xml", "!doctype"):
            continue
        return tag.split(":")[-1].lower()
    return None


def format_name(name: str, data: bytes) -> str | None:
    """The format of one file in words a clinician knows, or ``None`` when it is not recognised.

    Parameters
    ----------
    name : str
        File name (only its suffix is used).
    data : bytes
        The file's bytes (only the first few kB are looked at).
    """
    kind = sniff_format(name, data)
    if kind == "xml":
        root = _xml_root(data)
        return _XML_NAMES.get(root or "", None)
    if data[:8] == b"ISHNE1.0":
        return "ISHNE Holter"
    if data[:8] == b"0       " and name.lower().endswith((".edf", ".rec")):
        return "EDF"
    suffix = PurePath(name).suffix.lower()
    return next((label for s, label in _SUFFIX_NAMES if s == suffix), None)


def unsupported_format_sentence(pairs: Sequence[tuple[str, bytes]], reader_error: str) -> str:
    """The sentence to show when reading an upload failed.

    When the upload is one file in a recognised format the readers do not handle (the
    reader's error then says "not a supported" / "unknown file format"), the format is named:
    ``"trace.xml is Mortara XML, which is not supported yet."``. Otherwise the
    reader's own sentence is kept (it already names the file and the problem).

    Parameters
    ----------
    pairs : sequence of (str, bytes)
        The uploaded files.
    reader_error : str
        The message of the :class:`~hfviz.errors.ECGFormatError` that reading raised.
    """
    unsupported = "not a supported" in reader_error or "unknown file format" in reader_error
    if len(pairs) == 1 and unsupported:
        name, data = pairs[0]
        label = format_name(name, data)
        if label and label not in _READ_FORMATS:
            return f"{name} is {label}, which is not supported yet."
    return reader_error


def upload_problem(pairs: Sequence[tuple[str, bytes]]) -> str | None:
    """Why the chosen files cannot be one ECG, in one sentence, or ``None`` when they can.

    One upload is either a single ECG file, or one WFDB record: its ``.hea`` header with the
    signal file(s) it names (files of the same record stem are accepted too).

    Parameters
    ----------
    pairs : sequence of (str, bytes)
        The files chosen together in the file dialog.
    """
    if len(pairs) <= 1:
        return None
    names = [n for n, _ in pairs]
    listed = ", ".join(names)
    headers = [(n, d) for n, d in pairs if sniff_format(n, d) == "wfdb-header"]
    if len(headers) > 1:
        stems = ", ".join(PurePath(n).stem for n, _ in headers)
        return (f"{listed}: these are {len(headers)} different WFDB records ({stems}); choose one record "
                "(its .hea with its signal file) at a time.")
    if not headers:
        return (f"{listed}: these are {len(pairs)} separate ECG files; choose one file, or a WFDB .hea "
                "together with its signal file.")
    hname, hdata = headers[0]
    stem = PurePath(hname).stem
    wanted = {n.lower() for n in _header_signal_files(hdata)}
    strangers = [n for n, _ in pairs if n != hname and n.lower() not in wanted
                 and not (PurePath(n).stem == stem and PurePath(n).suffix.lower() in _WFDB_SIGNAL_SUFFIXES)]
    if strangers:
        return (f"{', '.join(strangers)} does not belong to the WFDB record {stem} ({hname}); choose the .hea "
                "with its own signal file, or one ECG file on its own.")
    return None


def _header_signal_files(data: bytes) -> list[str]:
    """File names on the signal lines of a WFDB header (first token of each line after the record line, any suffix)."""
    lines = [ln.strip() for ln in data.decode("latin-1", "replace").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    return [ln.split()[0] for ln in lines[1:] if ln.split()]


def format_words(code: str) -> str:
    """A reader's format code (``record.source_format``, e.g. ``"muse"``) in words: ``"GE MUSE XML"``."""
    return FORMAT_WORDS.get(code, code)


# --- a batch: many files, or zip archives of them ----------------------------------------------------

#: Largest number of entries one zip archive may list (folders and skipped files included).
MAX_ZIP_ENTRIES = 2000
#: Largest number of bytes a batch may expand to: uploaded files plus every archive's declared contents.
MAX_BATCH_BYTES = 256 * 1024 * 1024
#: Largest number of ECGs scored in one batch (the rest are named as left out).
MAX_BATCH_ECGS = 500
#: File names inside an archive that are never ECGs (operating-system clutter), lower case.
_JUNK_NAMES = {"thumbs.db", "desktop.ini"}


@dataclass
class BatchFiles:
    """The files of a batch upload, archives opened, ready to be grouped into ECGs.

    Attributes
    ----------
    files : list of (str, bytes)
        Every file to read: an uploaded file under its own name, an archived one as
        ``"archive.zip/folder/name"``.
    problems : list of (str, str)
        (file, one sentence) for archive entries that could not be taken: too large,
        password-protected, stored in a way that cannot be unpacked, or themselves archives.
    refused : list of (str, str)
        (archive, one sentence) for archives that were not opened at all: not a zip, too many
        entries, too large once expanded, or holding something other than they declare.
    skipped : int
        Archive entries left out because they are not ECGs (folders, ``__MACOSX``, hidden files,
        documents and pictures beside the ECGs).
    """

    files: list[tuple[str, bytes]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    skipped: int = 0


def is_zip_archive(name: str, data: bytes) -> bool:
    """Whether an uploaded file is a ``.zip`` archive of ECG files (a NumPy ``.npz``, also a zip, is not)."""
    return name.lower().endswith(".zip") and data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def is_junk_entry(path: str) -> bool:
    """Whether an archive entry is clutter rather than an ECG: macOS resource forks, hidden files, documents."""
    parts = [p for p in re.split(r"[\\/]", path) if p]
    if not parts:
        return True
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return True
    return parts[-1].lower() in _JUNK_NAMES or PurePath(parts[-1]).suffix.lower() in NOT_ECG_SUFFIXES


def _mb(n: int) -> str:
    return f"{n / 2**20:,.0f} MB" if n >= 2**20 else f"{n / 1024:,.0f} kB"


#: Bytes of the archive's entry list (central directory) allowed per permitted entry (46-byte record + name).
_DIRECTORY_BYTES_PER_ENTRY = 1024


def _declared_directory(data: bytes) -> tuple[int, int] | None:
    """(entries, bytes) of the archive's entry list as its end record declares them (zip64 too), or ``None``.

    Read before :class:`zipfile.ZipFile` parses the entry list, which builds one object per entry
    (and reads as many bytes of entries as the end record's size says, whatever its count): an
    archive declaring a huge list is refused without building it.
    """
    k = data.rfind(b"PK\x05\x06", max(0, len(data) - 22 - 65535))
    if k < 0 or k + 22 > len(data):
        return None
    count, size = struct.unpack_from("<HI", data, k + 10)
    z = data.rfind(b"PK\x06\x06", 0, k)  # zip64 end of central directory
    if z >= 0 and z + 56 <= len(data):
        z_count, z_size = struct.unpack_from("<QQ", data, z + 32)
        count, size = max(count, z_count), max(size, z_size)
    return count, size


def expand_zip(name: str, data: bytes, *, budget: int = MAX_BATCH_BYTES, max_entries: int = MAX_ZIP_ENTRIES,
               max_file_bytes: int = MAX_FILE_BYTES) -> BatchFiles:
    """Open one zip archive in memory: its ECG files, bounded before memory is spent.

    The archive is refused as a whole (one sentence in ``refused``, no files) when it lists
    more than ``max_entries`` entries (read from its end record before the entry list is parsed), when the sizes it declares for its files add up to more
    than ``budget`` bytes (checked before anything is decompressed), or when an entry turns out
    to hold something other than it declares (CPython stops at the declared size and checks the
    CRC; at most declared + 1 bytes are read per entry). Single entries larger than
    ``max_file_bytes``, password-protected or themselves archives are named in ``problems`` and
    left out. Folders may be nested; clutter (:func:`is_junk_entry`) is skipped.

    Parameters
    ----------
    name : str
        The archive's file name (used in sentences and as the prefix of its files' names).
    data : bytes
        The archive.
    budget : int
        Bytes the archive may expand to.
    max_entries, max_file_bytes : int
        Caps on the entry count and on one file's size.

    Returns
    -------
    BatchFiles
        ``files`` named ``"name/inner/path"``.
    """
    out = BatchFiles()
    count, size = _declared_directory(data) or (0, 0)
    if count > max_entries:
        return BatchFiles(refused=[(name, (f"{name} lists {count:,} entries; the limit is {max_entries:,} per "
                                           "archive, so it was not opened."))])
    if size > max_entries * _DIRECTORY_BYTES_PER_ENTRY:
        return BatchFiles(refused=[(name, (f"{name} has a {_mb(size)} list of entries, more than {max_entries:,} "
                                           "entries can need, so it was not opened."))])
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError):
        return BatchFiles(refused=[(name, f"{name} is not a readable zip archive.")])
    with zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            return BatchFiles(refused=[(name, (f"{name} lists {len(infos):,} entries; the limit is {max_entries:,} "
                                               "per archive, so it was not opened."))])
        entries = [i for i in infos if not i.is_dir() and not is_junk_entry(i.filename)]
        declared = sum(i.file_size for i in entries)  # as the archive declares them: nothing decompressed yet
        if declared > budget:
            return BatchFiles(refused=[(name, (f"{name} would expand to {_mb(declared)}; the limit is {_mb(budget)} "
                                               "for a batch, so it was not opened."))])
        out.skipped = len(infos) - len(entries)
        keep = []
        for info in entries:
            inner = f"{name}/{info.filename.lstrip('/')}"
            if info.flag_bits & 0x1:
                out.problems.append((inner, f"{inner} is password-protected and cannot be read."))
            elif info.file_size > max_file_bytes:
                out.problems.append((inner, (f"{inner} is {_mb(info.file_size)}; the limit is {_mb(max_file_bytes)} "
                                            "per file.")))
            elif info.filename.lower().endswith(".zip"):
                out.problems.append((inner, (f"{inner} is a zip inside the zip, which is not opened; put its files "
                                            "in the outer archive instead.")))
            else:
                keep.append((inner, info))
        for inner, info in keep:
            try:
                with zf.open(info) as fh:
                    content = fh.read(info.file_size + 1)  # never more than declared (+1 to notice a lie)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError):
                content = None
            except (NotImplementedError, RuntimeError):  # unsupported compression method, encryption
                out.problems.append((inner, (f"{inner} is stored in a way this app cannot unpack (compression "
                                            "method or encryption).")))
                continue
            if content is None or len(content) != info.file_size:
                return BatchFiles(refused=[(name, (f"{name}: {info.filename} does not hold what the archive "
                                                   "declares (damaged, or made to expand without limit), so the "
                                                   "archive was refused."))])
            out.files.append((inner, content))
    return out


def expand_batch_upload(pairs: Sequence[tuple[str, bytes]], *, budget: int = MAX_BATCH_BYTES,
                        max_entries: int = MAX_ZIP_ENTRIES) -> BatchFiles:
    """The files of a batch upload: plain files as they are, ``.zip`` archives opened (:func:`expand_zip`).

    Every archive expands within what is left of ``budget`` after the plain files and the
    archives before it; nothing is written to disk.

    Parameters
    ----------
    pairs : sequence of (str, bytes)
        The uploaded files, as the browser sent them.
    budget : int
        Bytes the whole batch may expand to.
    max_entries : int
        Entries one archive may list.
    """
    out = BatchFiles()
    plain = [(PurePath(n).name, d) for n, d in pairs if not is_zip_archive(n, d)]
    out.files.extend(plain)
    left = budget - sum(len(d) for _, d in plain)
    for name, data in pairs:
        if not is_zip_archive(name, data):
            continue
        part = expand_zip(PurePath(name).name, data, budget=max(left, 0), max_entries=max_entries)
        out.files.extend(part.files)
        out.problems.extend(part.problems)
        out.refused.extend(part.refused)
        out.skipped += part.skipped
        left -= sum(len(d) for _, d in part.files)
    return out
