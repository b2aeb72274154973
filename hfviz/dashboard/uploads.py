"""What a file upload means, without Streamlit: one ECG per upload, and formats said in clinicians' words.

The Patient page treats every choice in the file dialog as *one* upload that replaces the
ECG on screen. Before anything is read, :func:`upload_problem` checks that the chosen files
can be one ECG (one file, or one WFDB header with its own signal files); after a failed read,
:func:`unsupported_format_sentence` names a recognised-but-unsupported format ("Philips
PageWriter XML is not supported yet") instead of the reader's technical reason.

The list of *unsupported* formats is only consulted when reading failed, so a format that
gains a reader (in :mod:`hfviz.ecg.io`) stops being reported as unsupported without any
change here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath

from hfviz.ecg.io import sniff_format

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
#: Names of the formats hfviz.ecg.io reads: a failed read of one of these keeps the reader's own sentence.
_READ_FORMATS = {"Philips PageWriter XML", "GE MUSE XML", "GE CardioSoft XML", "HL7 aECG XML", "SCP-ECG"}
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
