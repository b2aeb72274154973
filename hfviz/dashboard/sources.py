"""Where the app's ECGs come from, without Streamlit: the bundled examples and upload signatures.

:func:`find_examples` lists the bundled (SYNTHETIC) example ECGs; :func:`source_signature`
names an upload by its bytes, so the session can tell a new upload from a rerun;
:func:`is_synthetic_ecg` says whether an ECG on screen is synthetic.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES_DIR = ROOT / "examples"
#: Start of the on-screen name of a bundled example ECG (every bundled example is synthetic).
EXAMPLE_PREFIX = "synthetic example: "
#: Single-file example formats: suffix -> the kind written in the example's name.
_SINGLE_FILE_KINDS = ((".csv", "CSV"), (".xml", "XML"), (".dcm", "DICOM"), (".npy", "NumPy"), (".npz", "NumPy"))


def source_signature(pairs: Sequence[tuple[str, bytes]]) -> str:
    """sha256 (hex) of ``(file name, bytes)`` pairs, independent of their order."""
    h = hashlib.sha256()
    for name, data in sorted(pairs):
        h.update(name.encode("utf-8", "replace") + b"\0" + hashlib.sha256(data).digest())
    return h.hexdigest()


def _readme_descriptions(directory: Path) -> dict[str, str]:
    """``stem -> description`` from the ``| `stem` | description |`` rows of the folder's README.md."""
    readme = directory / "README.md"
    if not readme.is_file():
        return {}
    rows = re.finditer(r"^\|\s*`([^`]+)`\s*\|\s*([^|]+?)\s*\|", readme.read_text(encoding="utf-8"), re.M)
    return {m.group(1): m.group(2).split(" (")[0].strip() for m in rows}


def find_examples(directory: Path = EXAMPLES_DIR) -> dict[str, list[Path]]:
    """Bundled example ECGs (all SYNTHETIC): display name -> the files to read together.

    A WFDB record is its ``.hea`` with the signal files that share its stem; every other
    supported file (``.csv``, ``.xml``, ``.dcm``, ``.npy``, ``.npz``) is one example, except a
    CSV twin of a WFDB record. Names carry the description from the folder's ``README.md``
    table (``| `stem` | description |``) when there is one.
    """
    d = Path(directory)
    if not d.is_dir():
        return {}
    described = _readme_descriptions(d)

    def name(stem: str, kind: str) -> str:
        return f"{described[stem]} ({stem}, {kind})" if stem in described else f"{stem} ({kind})"

    out: dict[str, list[Path]] = {}
    for hea in sorted(d.glob("*.hea")):
        sig = [p for p in sorted(d.glob(hea.stem + ".*")) if p.suffix.lower() in (".dat", ".mat")]
        out[name(hea.stem, "WFDB")] = [hea, *sig]
    for ext, kind in _SINGLE_FILE_KINDS:
        for p in sorted(d.glob(f"*{ext}")):
            if p.name.startswith(".") or (ext == ".csv" and (d / f"{p.stem}.hea").exists()):
                continue
            out.setdefault(name(p.stem, kind), [p])
    return out


def read_example(files: Sequence[Path]) -> list[tuple[str, bytes]]:
    """The files of one example as ``(name, bytes)`` pairs, as an upload would bring them."""
    return [(p.name, p.read_bytes()) for p in files]


def is_synthetic_ecg(prepared: Any, label: str | None) -> bool:
    """Whether an ECG is synthetic: flagged in its metadata or its interpretation text, simulated, or a
    bundled example (by its label)."""
    record = prepared.record
    return bool(record.meta.get("synthetic") or record.source_format == "simulated"
                or "synthetic" in str(record.meta.get("interpretation", "")).lower()
                or str(label).startswith(EXAMPLE_PREFIX))
