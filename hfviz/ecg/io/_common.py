"""Helpers shared by the readers: limits, units, safe XML, number parsing, metadata.

Nothing here touches the disk; every reader works on ``(file name, bytes)`` pairs.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from typing import Any
from xml.etree.ElementTree import Element, ParseError  # types only: parsing goes through defusedxml

import numpy as np

from hfviz.errors import ECGFormatError

#: Largest accepted size of one file, in bytes (the app's upload limit is the same).
MAX_FILE_BYTES = 50 * 1024 * 1024
#: Largest accepted number of samples per lead (10 min at 1000 Hz); keeps memory bounded (~200 MB).
MAX_SAMPLES_PER_LEAD = 600_000
#: Largest number of samples over all leads of a compressed waveform (60 s of 12 leads at 1000 Hz):
#: caps what Philips XLI and SCP-ECG decoders may produce before anything is decompressed.
MAX_TOTAL_SAMPLES = 60 * 12 * 1000
#: Largest number of channels a file may declare.
MAX_CHANNELS = 64

#: Lead codes shared by SCP-ECG (section 3; DICOM code values ``5.6.3-9-<n>``) and ISO/IEEE
#: 11073 MDC (DICOM code values ``2:<n>``, CID 3001): code -> lead label.
LEAD_CODES: dict[int, str] = {
    1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 9: "V7", 10: "V2R",
    11: "V3R", 12: "V4R", 13: "V5R", 14: "V6R", 15: "V7R", 16: "X", 17: "Y", 18: "Z", 19: "CC5",
    20: "CM5", 21: "LA", 22: "RA", 23: "LL", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF", 65: "-aVR",
    66: "V8", 67: "V9", 68: "V8R", 69: "V9R",
}

#: Files as the readers receive them: file name (no directories) and content.
NamedBytes = tuple[str, bytes]

_UNIT_TO_MV = {
    "mv": 1.0, "millivolt": 1.0, "millivolts": 1.0,
    "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "microvolt": 1e-3, "microvolts": 1e-3,
    "v": 1e3, "volt": 1e3, "volts": 1e3,
    "nv": 1e-6, "nanovolt": 1e-6, "nanovolts": 1e-6,
}


def unit_scale_to_mv(unit: str | None, name: str, *, what: str = "signal") -> float:
    """Factor that converts values in ``unit`` to millivolts.

    Parameters
    ----------
    unit : str or None
        Unit label as found in a file or given by the user (``"mV"``, ``"uV"``, ``"µV"``,
        ``"MICROVOLTS"``, ``"V"``; any case).
    name : str
        File name used in the error message.
    what : str
        What carries the unit (for the message), e.g. ``"lead V1"``.

    Returns
    -------
    float
        Multiply values by this to get mV.

    Raises
    ------
    ECGFormatError
        When the unit is not a voltage unit.
    """
    key = (unit or "").strip().lower().replace(" ", "")
    if key in _UNIT_TO_MV:
        return _UNIT_TO_MV[key]
    raise ECGFormatError(f"{name}: unknown amplitude unit {unit!r} for the {what} (expected mV or uV).")


def lead_from_code(code_value: str | None) -> str | None:
    """Lead label for a coded lead (``"5.6.3-9-61"`` SCP-ECG, ``"2:61"`` MDC -> ``"III"``); else ``None``."""
    m = re.fullmatch(r"\s*(?:5\.6\.3-9-|2:)(\d{1,3})\s*", str(code_value or ""))
    return LEAD_CODES.get(int(m.group(1))) if m else None


def check_size(name: str, data: bytes) -> None:
    """Raise when a file is empty or larger than :data:`MAX_FILE_BYTES`."""
    if len(data) == 0:
        raise ECGFormatError(f"{name}: the file is empty.")
    if len(data) > MAX_FILE_BYTES:
        raise ECGFormatError(
            f"{name}: the file is {len(data) / 2**20:.0f} MB; the limit is {MAX_FILE_BYTES / 2**20:.0f} MB per file."
        )


def check_samples(name: str, n: int, *, what: str = "signal") -> None:
    """Raise when a declared or found sample count is unusable (<= 0 or above the limit)."""
    if n <= 0:
        raise ECGFormatError(f"{name}: the {what} has no samples.")
    if n > MAX_SAMPLES_PER_LEAD:
        raise ECGFormatError(
            f"{name}: the {what} has {n:,} samples per lead; at most {MAX_SAMPLES_PER_LEAD:,} are accepted "
            "(upload a resting ECG, not a long-term recording)."
        )


def positive_float(text: Any, name: str, what: str) -> float:
    """Parse a finite, strictly positive number or raise :class:`ECGFormatError`."""
    try:
        value = float(str(text).strip())
    except (TypeError, ValueError):
        raise ECGFormatError(f"{name}: {what} {text!r} is not a number.") from None
    if not np.isfinite(value) or value <= 0:
        raise ECGFormatError(f"{name}: {what} {value:g} is not a positive number.")
    return value


def parse_xml(name: str, data: bytes) -> Element:
    """Parse XML safely (defusedxml) and return the root element.

    A ``<!DOCTYPE>`` line is tolerated (GE MUSE files carry one) but entity declarations,
    external entities and external DTD fetches are refused, so billion-laughs and
    external-entity files fail fast.

    Raises
    ------
    ECGFormatError
        Malformed XML or a forbidden construct.
    """
    import defusedxml.ElementTree as SafeET
    from defusedxml import DefusedXmlException

    try:
        return SafeET.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise ECGFormatError(
            f"{name}: the XML declares entities or external references, which are refused for safety."
        ) from None
    except ParseError as exc:
        raise ECGFormatError(f"{name}: the XML is malformed or truncated ({exc}).") from None
    except LookupError:
        raise ECGFormatError(f"{name}: the XML declares an unknown text encoding.") from None


def xml_root_tag(name: str, data: bytes) -> str:
    """Local name of the root element of an XML file, parsing only up to that element.

    The format of an XML file follows from its root tag alone, so the whole document is not
    parsed twice (once to choose the reader, once to read it). Problems before the root
    element are reported exactly as :func:`parse_xml` reports them.
    """
    import defusedxml.ElementTree as SafeET

    try:
        events = SafeET.iterparse(
            io.BytesIO(data), events=("start",), forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
        for _event, element in events:
            return local(element.tag)
    except Exception:  # noqa: BLE001 - the full parse below says what is wrong
        pass
    return local(parse_xml(name, data).tag)


def local(tag: str) -> str:
    """XML tag without its ``{namespace}`` prefix."""
    return tag.rsplit("}", 1)[-1]


def parse_numbers(text: str | None, name: str, what: str, *, sep: str | None = None) -> np.ndarray:
    """Parse a comma- or whitespace-separated list of numbers into float64.

    Parameters
    ----------
    text : str or None
        The list as found in the file.
    name, what : str
        File name and what the numbers are (for messages), e.g. ``"lead V1 of the strip"``.
    sep : str, optional
        Separator; ``None`` splits on commas and whitespace.

    Returns
    -------
    ndarray, shape (n,), float64
    """
    if not text or not text.strip():
        raise ECGFormatError(f"{name}: {what} has no samples.")
    items = text.replace(",", " ").split() if sep is None else [t for t in text.split(sep)]
    try:
        return np.array(items, dtype=np.float64)
    except ValueError:
        bad = next((t for t in items if not is_number(t)), "?")
        raise ECGFormatError(f"{name}: {what} contains a non-numeric value {bad.strip()[:20]!r}.") from None


def is_number(token: str) -> bool:
    """Whether ``float(token)`` succeeds."""
    try:
        float(token)
    except ValueError:
        return False
    return True


def amplitude_units(
    values: Iterable[np.ndarray], units: str | None, name: str
) -> tuple[float, str]:
    """Decide the mV scale of unlabelled amplitudes (CSV, NumPy).

    Parameters
    ----------
    values : iterable of ndarray
        Per-lead signals in the file's (unknown) units.
    units : str or None
        Units given by the user (``"mV"`` or ``"uV"``); ``None`` infers them.
    name : str
        File name for messages.

    Returns
    -------
    scale : float
        Multiply by this to get mV.
    note : str
        Sentence saying how the units were decided (shown to the user).
    """
    if units is not None:
        scale = unit_scale_to_mv(units, name)
        return scale, f"units given as {units}"
    p2p = []
    for v in values:
        v = np.asarray(v, dtype=np.float64)
        v = v[np.isfinite(v)]
        if v.size:
            lo, hi = np.percentile(v, [0.5, 99.5])
            p2p.append(hi - lo)
    typical = float(np.median(p2p)) if p2p else 0.0
    if typical > 50.0:
        return 1e-3, (
            f"units inferred as µV from the amplitudes (median lead peak-to-peak {typical:.0f}); "
            "give units='mV' if that is wrong"
        )
    return 1.0, (
        f"units inferred as mV from the amplitudes (median lead peak-to-peak {typical:.2f}); "
        "give units='uV' if that is wrong"
    )


_NAME_KEYS = re.compile(r"name|initial|address|phone|mrn|patientid|pid|birth", re.I)


def clean_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Drop empty values and anything that looks like a personal identifier.

    Keeps the documented keys (``age``, ``sex``, ``device``, ``interpretation``,
    ``acquired``, ``device_measurements``) and other non-identifying extras.
    """
    out: dict[str, Any] = {}
    for key, value in meta.items():
        if _NAME_KEYS.search(key):
            continue
        if value is None or value == "" or value == [] or value == {}:
            continue
        out[key] = value
    return out


def sex_code(text: str | None) -> str | None:
    """Map ``"MALE"``, ``"m"``, ``"Female"``, ``"F"`` … to ``"M"``/``"F"``; else ``None``."""
    if not text:
        return None
    t = text.strip().lower()
    if t in ("m", "male", "man", "1"):
        return "M"
    if t in ("f", "female", "woman", "2"):
        return "F"
    return None


def age_years(text: Any) -> float | None:
    """Parse an age like ``"53"``, ``"053Y"``, ``"46 a"``; ``None`` when absent or implausible."""
    if text is None:
        return None
    m = re.match(r"\s*(\d+(?:\.\d+)?)\s*([ymwd]?)", str(text), re.I)
    if not m:
        return None
    value = float(m.group(1))
    unit = m.group(2).lower()
    value = {"m": value / 12, "w": value / 52.18, "d": value / 365.25}.get(unit, value)
    if not 0 <= value <= 130:
        return None
    return int(value) if value == int(value) else round(value, 1)
