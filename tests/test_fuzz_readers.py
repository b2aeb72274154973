"""Property-based fuzzing of every reader: the outcome is a valid record or ECGFormatError, nothing else.

Seeds are the real files in ``../shared/ecg-samples`` (when present), the project's own
``examples/`` files (when present) and small SYNTHETIC CSV / NumPy files made here. Hypothesis
then truncates them, flips bits, overwrites blocks, empties or drops files, and changes the
fields readers depend on: sampling rate (0, negative, NaN, huge), gains (negative, zero, NaN),
declared sample and channel counts (0, huge, off by one), lead counts and names, amplitude
units, numbers in the sample lists (NaN, inf, text), CSV cells and columns, NumPy headers and
``.npz`` entries.

Every case must end in either a valid :class:`~hfviz.ecg.record.ECGRecord` or
:class:`~hfviz.errors.ECGFormatError` with a one-line message. ``read_ecg`` has a last line of
defence that turns any other exception into a generic ECGFormatError ("could not be read …
(KeyError)"); reaching it means a reader missed a case, so it counts as a failure here.
Each case's peak traced memory (``tracemalloc``) must stay under :data:`MAX_PEAK_BYTES`; its
wall time is recorded but not asserted (see ``tests/fuzz_report.py`` and
``docs/fuzz_report.md`` for the numbers).

Hypothesis runs derandomised with a fixed ``max_examples`` per format, so CI is deterministic.
"""

from __future__ import annotations

import collections
import dataclasses
import io
import re
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import fuzz_clinic
from ecg_signals import synthetic_ecg
from hfviz.errors import ECGFormatError
from hfviz.ecg.io import FORMATS, read_ecg
from hfviz.ecg.record import LEADS, MAX_ABS_MV, MIN_DURATION_S, MIN_FS_HZ, ECGRecord

ROOT = Path(__file__).resolve().parents[1]
SAMPLES_DIR = ROOT.parent / "shared" / "ecg-samples"
EXAMPLES_DIR = ROOT / "examples"

#: Peak memory one read may trace ("a few hundred MB").
MAX_PEAK_BYTES = 300 * 2**20
#: Cases per format in the test suite (tests/fuzz_report.py runs more).
CI_EXAMPLES = {
    "wfdb": 150, "cardiosoft": 60, "muse": 120, "aecg": 60, "dicom": 80, "csv": 100, "npy": 150, "npz": 150,
    "philips": 200, "scp": 200, "matlab": 100,
}
#: Messages of read_ecg's last line of defence: a reader let an unexpected exception through.
_FALLBACK = re.compile(r"could not be read; it may be corrupt or not an ECG|too large to read into memory|"
                       r"nested too deeply to read")

Files = tuple[tuple[str, bytes], ...]


@dataclasses.dataclass(frozen=True)
class Seed:
    """A valid input to mutate: its files and the read_ecg keywords it needs."""

    fmt: str
    label: str
    files: Files
    kw: tuple[tuple[str, object], ...] = ()

    def __repr__(self) -> str:  # hypothesis prints draws: names and sizes, not megabytes of bytes
        return f"Seed({self.label!r}, {[(n, len(d)) for n, d in self.files]}, kw={dict(self.kw)})"


@dataclasses.dataclass(frozen=True)
class Case:
    """One fuzz input: what was done to which seed, the files, and read_ecg keywords."""

    label: str
    files: Files
    kw: dict

    def __repr__(self) -> str:
        return f"Case({self.label!r}, {[(n, len(d)) for n, d in self.files]}, kw={self.kw})"


@dataclasses.dataclass
class FuzzStats:
    """What happened in the cases of one format."""

    fmt: str
    cases: int = 0
    records: int = 0
    errors: int = 0
    max_time_s: float = 0.0
    max_time_case: str = ""
    max_peak_bytes: int = 0
    max_peak_case: str = ""
    total_time_s: float = 0.0
    ops: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    failures: list = dataclasses.field(default_factory=list)
    #: The few slowest cases as (seconds, Case), for re-timing without tracemalloc in reports.
    slowest: list = dataclasses.field(default_factory=list)

    def row(self) -> dict:
        return {
            "format": self.fmt, "cases": self.cases, "records": self.records, "errors": self.errors,
            "max_time_s": round(self.max_time_s, 3), "max_time_case": self.max_time_case,
            "max_peak_mb": round(self.max_peak_bytes / 2**20, 1), "max_peak_case": self.max_peak_case,
            "mean_time_s": round(self.total_time_s / max(self.cases, 1), 4),
        }


#: Statistics of every format fuzzed in this process (printed at the end of the module).
STATS: dict[str, FuzzStats] = {}


# --- checking one case ----------------------------------------------------------------------------


def check_record(rec: ECGRecord) -> None:
    """The invariants every record handed to the rest of the app satisfies."""
    assert isinstance(rec, ECGRecord)
    sig = rec.signal_mv
    assert sig.ndim == 2 and sig.shape[0] == 12 and sig.dtype == np.float64
    assert np.all(np.isfinite(sig)) and float(np.max(np.abs(sig))) <= MAX_ABS_MV
    assert rec.fs_hz >= MIN_FS_HZ and np.isfinite(rec.fs_hz)
    assert rec.duration_s >= MIN_DURATION_S
    assert rec.source_format in FORMATS
    assert "/" not in rec.source_name and "\\" not in rec.source_name
    assert rec.leads == LEADS
    if rec.median_beat_mv is not None:
        med = rec.median_beat_mv
        assert med.shape[0] == 12 and np.all(np.isfinite(med)) and rec.median_fs_hz >= MIN_FS_HZ


def check_error(exc: ECGFormatError, case: Case) -> None:
    """A library error: one non-empty line, from a reader that recognised the problem."""
    msg = str(exc)
    assert msg.strip(), f"{case.label}: empty error message"
    assert "\n" not in msg and "\r" not in msg, f"{case.label}: multi-line error message {msg!r}"
    assert not _FALLBACK.search(msg), (
        f"{case.label}: a reader let {type(exc.__context__).__name__} through to read_ecg's last line "
        f"of defence: {msg!r} (original: {exc.__context__!r})"
    )


def run_case(case: Case, stats: FuzzStats) -> None:
    """Read one fuzz input under tracemalloc and check the outcome; update ``stats``."""
    files = [(n, bytes(d)) for n, d in case.files]
    source: object = files
    tracemalloc.start()
    t0 = time.perf_counter()
    outcome: object
    try:
        outcome = read_ecg(source, **case.kw)
    except ECGFormatError as exc:
        outcome = exc
    except Exception as exc:  # the failure this test looks for
        outcome = exc
    finally:
        elapsed = time.perf_counter() - t0
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    stats.cases += 1
    stats.total_time_s += elapsed
    stats.ops[case.label.split(":", 1)[0]] += 1
    if elapsed > stats.max_time_s:
        stats.max_time_s, stats.max_time_case = elapsed, case.label
    if len(stats.slowest) < 3 or elapsed > stats.slowest[-1][0]:
        stats.slowest = sorted([*stats.slowest, (elapsed, case)], key=lambda t: -t[0])[:3]
    if peak > stats.max_peak_bytes:
        stats.max_peak_bytes, stats.max_peak_case = peak, case.label
    try:
        assert peak <= MAX_PEAK_BYTES, f"{case.label}: peak traced memory {peak / 2**20:.0f} MB"
        if isinstance(outcome, ECGRecord):
            stats.records += 1
            check_record(outcome)
        elif isinstance(outcome, ECGFormatError):
            stats.errors += 1
            check_error(outcome, case)
        else:
            raise AssertionError(f"{case.label}: {type(outcome).__name__} escaped read_ecg: {outcome}")
    except AssertionError as err:
        stats.failures.append(str(err))
        raise


# --- seeds ----------------------------------------------------------------------------------------


def _csv_bytes(x: np.ndarray, names: Sequence[str], *, sep: str = ",", time_col: float | None = None,
               fmt: str = "%.4f", decimal_comma: bool = False) -> bytes:
    cols = list(names)
    data = x.T
    if time_col is not None:
        cols = ["time"] + cols
        data = np.column_stack([np.arange(x.shape[1]) / time_col, data])
    buf = io.StringIO()
    np.savetxt(buf, data, fmt=fmt, delimiter=sep)
    body = buf.getvalue()
    if decimal_comma:
        body = body.replace(".", ",")
    return (sep.join(cols) + "\n" + body).encode()


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _npz_bytes(entries: dict, *, compressed: bool = False) -> bytes:
    buf = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buf, **entries)
    return buf.getvalue()


def synthetic_seeds() -> list[Seed]:
    """SYNTHETIC CSV, NumPy and npz files in the layouts the readers accept."""
    x = synthetic_ecg(fs=500.0, seconds=6.0, hr_bpm=72.0)
    x8 = x[[0, 1, 6, 7, 8, 9, 10, 11]]
    rows_per_lead = "\n".join(
        lead + "," + ",".join(f"{v:.4f}" for v in row) for lead, row in zip(LEADS, x)
    ).encode()
    return [
        Seed("csv", "csv-time-mV", (("syn.csv", _csv_bytes(x, LEADS, time_col=500.0)),)),
        Seed("csv", "csv-uV-fs", (("syn_uv.csv", _csv_bytes(x * 1000, [lead.lower() for lead in LEADS],
                                                            fmt="%.1f")),), (("fs", 500.0),)),
        Seed("csv", "tsv-8-leads", (("syn.tsv", _csv_bytes(x, LEADS, sep="\t")),), (("fs", 500.0),)),
        Seed("csv", "csv-semicolon-comma", (("syn_eu.csv", _csv_bytes(x, LEADS, sep=";", decimal_comma=True)),),
             (("fs", 500.0), ("units", "mV"))),
        Seed("csv", "csv-rows-per-lead", (("rows.csv", rows_per_lead),), (("fs", 500.0),)),
        Seed("npy", "npy-12xn-f4", (("syn.npy", _npy_bytes(x.astype(np.float32))),), (("fs", 500.0),)),
        Seed("npy", "npy-nx12-uV-f8", (("syn_t.npy", _npy_bytes(np.ascontiguousarray(x.T * 1000))),),
             (("fs", 500.0),)),
        Seed("npy", "npy-8xn-i2", (("syn8.npy", _npy_bytes((x8 * 200).astype(np.int16))),),
             (("fs", 500.0), ("units", "uV"))),
        Seed("npz", "npz-signal-fs-leads", (("syn.npz", _npz_bytes(
            {"signal": x.astype(np.float32), "fs": np.array(500.0), "leads": np.array(LEADS), "units": np.array("mV")})),)),
        Seed("npz", "npz-per-lead", (("per_lead.npz", _npz_bytes(
            {**{lead: x[i] for i, lead in enumerate(LEADS)}, "fs": np.array(500.0)}, compressed=True)),)),
        Seed("npz", "npz-no-fs", (("nofs.npz", _npz_bytes({"ecg": x.T.astype(np.float32)})),), (("fs", 500.0),)),
    ]


def _wfdb_group(hea: Path) -> list[Path]:
    files = [hea]
    for line in hea.read_text(encoding="latin-1").splitlines()[1:]:
        if line.strip() and not line.startswith("#"):
            f = hea.parent / line.split()[0]
            if f.is_file() and f not in files:
                files.append(f)
    return files


def _read(paths: Sequence[Path]) -> Files:
    return tuple((p.name, p.read_bytes()) for p in paths)


def sample_seeds(directory: Path = SAMPLES_DIR) -> list[Seed]:
    """Seeds from the real public ECG files (empty when the folder is absent)."""
    d = Path(directory)
    if not d.is_dir():
        return []
    seeds = []
    for rel in ("wfdb/1.hea", "wfdb/HR06000.hea", "wfdb/JS20003.hea", "wfdb/s0010_re.hea"):
        if (d / rel).is_file():
            seeds.append(Seed("wfdb", Path(rel).stem, _read(_wfdb_group(d / rel))))
    for fmt, rel in (("cardiosoft", "cardiosoft/example-XML1.xml"), ("muse", "muse/example1.xml"),
                     ("muse", "muse/example2.xml"), ("aecg", "aecg/HL7_Example_aECG.xml"),
                     ("dicom", "dicom/example-DICOM1.dcm")):
        if (d / rel).is_file():
            seeds.append(Seed(fmt, Path(rel).name, _read([d / rel])))
    return seeds


def example_seeds(directory: Path = EXAMPLES_DIR) -> list[Seed]:
    """Seeds from the project's own example files, classified by what read_ecg makes of them."""
    d = Path(directory)
    if not d.is_dir():
        return []
    groups: list[list[Path]] = [_wfdb_group(h) for h in sorted(d.glob("*.hea"))]
    for ext in (".csv", ".tsv", ".xml", ".dcm", ".npy", ".npz"):
        groups += [[p] for p in sorted(d.glob(f"*{ext}")) if p.stem.lower() not in ("index", "readme")]
    seeds = []
    for paths in groups:
        files = _read(paths)
        try:
            rec = read_ecg(list(files))
            kw: tuple = ()
        except ECGFormatError:
            try:  # tables and arrays without a stored rate
                rec = read_ecg(list(files), fs=500.0)
                kw = (("fs", 500.0),)
            except ECGFormatError:
                continue
        seeds.append(Seed(rec.source_format, f"example {paths[0].name}", files, kw))
    return seeds


_SEED_CACHE: dict[str, list[Seed]] = {}


def seeds_for(fmt: str) -> list[Seed]:
    """Every seed of one format (real samples, examples, synthetic)."""
    if not _SEED_CACHE:
        for s in sample_seeds() + example_seeds() + synthetic_seeds() + fuzz_clinic.clinic_seeds(SAMPLES_DIR):
            _SEED_CACHE.setdefault(s.fmt, []).append(s)
    return _SEED_CACHE.get(fmt, [])


# --- generic mutations ----------------------------------------------------------------------------

Draw = Callable  # data.draw


def _pick(data, files: Files, label: str = "file", pred=None) -> int:
    idx = [i for i, (n, _) in enumerate(files) if pred is None or pred(n)]
    if not idx:
        idx = list(range(len(files)))
    return data.draw(st.sampled_from(idx), label=label)


def _replace(files: Files, i: int, new: bytes) -> Files:
    return tuple((n, new if j == i else d) for j, (n, d) in enumerate(files))


def generic(data, seed: Seed, kw: dict) -> Case:
    """Byte-level damage that applies to any file."""
    files = seed.files
    ops = ["truncate", "bitflip", "bitflip-head", "block", "empty"] + (["drop-file"] if len(files) > 1 else [])
    op = data.draw(st.sampled_from(ops), label="op")
    i = _pick(data, files)
    name, d = files[i]
    if op == "truncate":
        cut = data.draw(st.integers(0, len(d) - 1), label="cut")
        new = d[:cut]
        what = f"{cut}/{len(d)}"
    elif op in ("bitflip", "bitflip-head"):
        hi = len(d) - 1 if op == "bitflip" else min(len(d) - 1, 1023)
        pos = data.draw(st.lists(st.tuples(st.integers(0, hi), st.integers(0, 7)), min_size=1, max_size=24),
                        label="flips")
        b = bytearray(d)
        for p, bit in pos:
            b[p] ^= 1 << bit
        new = bytes(b)
        what = f"{len(pos)} bits"
    elif op == "block":
        pos = data.draw(st.integers(0, len(d) - 1), label="pos")
        junk = data.draw(st.binary(min_size=1, max_size=64), label="junk")
        new = d[:pos] + junk + d[pos + len(junk):]
        what = f"{len(junk)} bytes at {pos}"
    elif op == "empty":
        new, what = b"", ""
    else:
        return Case(f"drop-file:{seed.label}:{name}", tuple(f for j, f in enumerate(files) if j != i), kw)
    return Case(f"{op}:{seed.label}:{name} {what}", _replace(files, i, new), kw)


FS_KW = [None, 0, -500, float("nan"), float("inf"), 50, 99.99, 100, 250, 1000, 1e9, "abc", "500"]
UNITS_KW = [None, "mV", "uV", "µV", "V", "furlong", ""]


def keywords(data, seed: Seed) -> dict:
    """The seed's keywords, sometimes with the sampling rate or units swapped for bad ones."""
    kw = dict(seed.kw)
    choice = data.draw(st.sampled_from(["keep", "keep", "keep", "fs", "units"]), label="kw")
    if choice == "fs":
        kw["fs"] = data.draw(st.sampled_from(FS_KW), label="fs")
    elif choice == "units":
        kw["units"] = data.draw(st.sampled_from(UNITS_KW), label="units")
    return {k: v for k, v in kw.items() if v is not None}


# --- text helpers (XML and headers) ---------------------------------------------------------------

NUM_VALUES = ["0", "-1", "-500", "1", "2", "50", "99.9", "100", "500", "1e308", "1e-308", "nan", "NaN", "inf",
              "-inf", "abc", "", " ", "1,5", "0x1F4", "4999", "5001", "600001", "99999999999999999999"]
TOKEN_VALUES = ["nan", "NaN", "inf", "-inf", "1e400", "abc", "--", "1e999999", "0x10", "9" * 40, "-32768"]


def _occurrences(text: str, pattern: str) -> list[re.Match]:
    return list(re.finditer(pattern, text, flags=re.S))


def xml_set_text(data, text: str, tag: str, values: Sequence[str]) -> tuple[str, str]:
    occ = _occurrences(text, rf"(<{tag}\b[^>/]*>)([^<]*)(</{tag}>)")
    if not occ:
        return text, f"no <{tag}>"
    m = occ[data.draw(st.integers(0, len(occ) - 1), label=f"{tag} occurrence")]
    value = data.draw(st.sampled_from(values), label=f"{tag} value")
    return text[: m.start(2)] + value + text[m.end(2):], f"<{tag}>={value!r}"


def xml_set_attr(data, text: str, tag: str, attr: str, values: Sequence[str]) -> tuple[str, str]:
    occ = _occurrences(text, rf'(<{tag}\b[^>]*?\b{attr}=")([^"]*)(")')
    if not occ:
        return text, f"no <{tag} {attr}>"
    m = occ[data.draw(st.integers(0, len(occ) - 1), label=f"{tag}@{attr} occurrence")]
    value = data.draw(st.sampled_from(values), label=f"{tag}@{attr} value")
    return text[: m.start(2)] + value + text[m.end(2):], f"<{tag} {attr}={value!r}>"


def xml_remove(data, text: str, tag: str) -> tuple[str, str]:
    occ = _occurrences(text, rf"<{tag}\b[^>]*?/>|<{tag}\b[^>]*>.*?</{tag}>")
    if not occ:
        return text, f"no <{tag}>"
    k = data.draw(st.integers(0, len(occ) - 1), label=f"remove {tag}")
    m = occ[k]
    return text[: m.start()] + text[m.end():], f"-<{tag}>#{k}"


def xml_token(data, text: str, tag: str) -> tuple[str, str]:
    """Replace some numbers inside a sample list with NaN, inf, text …"""
    occ = _occurrences(text, rf"(<{tag}\b[^>/]*>)([^<]*)(</{tag}>)")
    if not occ:
        return text, f"no <{tag}>"
    m = occ[data.draw(st.integers(0, len(occ) - 1), label=f"{tag} occurrence")]
    tokens = re.split(r"(\s+|,)", m.group(2))
    num_idx = [i for i, t in enumerate(tokens) if t.strip() and t != ","]
    if not num_idx:
        return text, f"empty <{tag}>"
    value = data.draw(st.sampled_from(TOKEN_VALUES), label="token value")
    count = data.draw(st.sampled_from([1, 3, max(1, len(num_idx) // 50), len(num_idx)]), label="tokens")
    start = data.draw(st.integers(0, len(num_idx) - 1), label="first token")
    for i in num_idx[start: start + count]:
        tokens[i] = value
    return text[: m.start(2)] + "".join(tokens) + text[m.end(2):], f"<{tag}> {count} tokens={value!r}"


def xml_case(data, seed: Seed, ops: dict[str, Callable]) -> Case:
    name, raw = seed.files[0]
    text = raw.decode("latin-1")
    op = data.draw(st.sampled_from(sorted(ops)), label="field op")
    new, what = ops[op](data, text)
    return Case(f"{op}:{seed.label} {what}", ((name, new.encode("latin-1")),), dict(seed.kw))


# --- format-specific mutations --------------------------------------------------------------------

LEAD_NAMES = ["I", "II", "V1", "aVR", "AVF", "x", "vx", "", "-aVR", "MDC_ECG_LEAD_V6", "lead II", "I\nII"]


def cardiosoft_ops() -> dict[str, Callable]:
    return {
        "rate": lambda d, t: xml_set_text(d, t, "SampleRate", NUM_VALUES),
        "resolution": lambda d, t: xml_set_text(d, t, "Resolution", NUM_VALUES),
        "declared-count": lambda d, t: xml_set_text(d, t, "ChannelSampleCountTotal", NUM_VALUES),
        "units": lambda d, t: xml_set_attr(d, t, "Resolution", "units",
                                           ["uVperLsb", "mVperLsb", "VperLsb", "nVperLsb", "furlongperLsb", ""]),
        "lead-name": lambda d, t: xml_set_attr(d, t, "WaveformData", "lead", LEAD_NAMES),
        "lead-removed": lambda d, t: xml_remove(d, t, "WaveformData"),
        "block-removed": lambda d, t: xml_remove(d, t, d.draw(st.sampled_from(
            ["StripData", "MedianSamples", "SampleRate", "Resolution", "PatientInfo", "ChannelSampleCountTotal"]))),
        "samples": lambda d, t: xml_token(d, t, "WaveformData"),
    }


_B64 = ["", "AAAA", "!!!", "AAE=", "AA==", "////", "=" * 8, "QUJD" * 3]


def _muse_saturate(data, text: str) -> tuple[str, str]:
    import base64

    occ = _occurrences(text, r"(<WaveFormData>)([^<]*)(</WaveFormData>)")
    if not occ:
        return text, "no <WaveFormData>"
    m = occ[data.draw(st.integers(0, len(occ) - 1), label="lead")]
    n = len(base64.b64decode("".join(m.group(2).split()))) // 2
    value = data.draw(st.sampled_from([32767, -32768, 0]), label="level")
    new = base64.b64encode(np.full(n, value, dtype="<i2").tobytes()).decode()
    return text[: m.start(2)] + new + text[m.end(2):], f"lead at {value}"


def muse_ops() -> dict[str, Callable]:
    return {
        "rate": lambda d, t: xml_set_text(d, t, "SampleBase", NUM_VALUES),
        "exponent": lambda d, t: xml_set_text(d, t, "SampleExponent", ["-4", "-3", "0", "3", "4", "x", "1.5", ""]),
        "declared-count": lambda d, t: xml_set_text(d, t, "LeadSampleCountTotal", NUM_VALUES),
        "resolution": lambda d, t: xml_set_text(d, t, "LeadAmplitudeUnitsPerBit", NUM_VALUES),
        "units": lambda d, t: xml_set_text(d, t, "LeadAmplitudeUnits",
                                           ["MICROVOLTS", "MILLIVOLTS", "VOLTS", "mV", "furlongs", ""]),
        "sample-size": lambda d, t: xml_set_text(d, t, "LeadSampleSize", ["1", "2", "4", "0", "x", ""]),
        "lead-name": lambda d, t: xml_set_text(d, t, "LeadID", LEAD_NAMES),
        "waveform-type": lambda d, t: xml_set_text(d, t, "WaveformType", ["Rhythm", "Median", "x", ""]),
        "base64": lambda d, t: xml_set_text(d, t, "WaveFormData", _B64),
        "saturate": _muse_saturate,
        "lead-removed": lambda d, t: xml_remove(d, t, "LeadData"),
        "block-removed": lambda d, t: xml_remove(d, t, d.draw(st.sampled_from(
            ["Waveform", "SampleBase", "WaveFormData", "LeadID", "PatientDemographics"]))),
    }


def aecg_ops() -> dict[str, Callable]:
    return {
        "increment": lambda d, t: xml_set_attr(d, t, "increment", "value", NUM_VALUES),
        "time-unit": lambda d, t: xml_set_attr(d, t, "increment", "unit", ["s", "ms", "us", "h", "", "furlong"]),
        "scale": lambda d, t: xml_set_attr(d, t, "scale", "value", NUM_VALUES),
        "units": lambda d, t: xml_set_attr(d, t, "scale", "unit", ["uV", "mV", "V", "nV", "furlong", ""]),
        "origin": lambda d, t: xml_set_attr(d, t, "origin", "value", NUM_VALUES),
        "lead-code": lambda d, t: xml_set_attr(d, t, "code", "code",
                                               ["MDC_ECG_LEAD_I", "MDC_ECG_LEAD_X", "TIME_ABSOLUTE", "RHYTHM", "",
                                                "REPRESENTATIVE_BEAT", "MDC_ECG_LEAD_AVR"]),
        "lead-removed": lambda d, t: xml_remove(d, t, "sequence"),
        "block-removed": lambda d, t: xml_remove(d, t, d.draw(st.sampled_from(
            ["digits", "increment", "series", "derivedSeries", "sequenceSet", "value"]))),
        "samples": lambda d, t: xml_token(d, t, "digits"),
    }


def xml_mutator(ops_factory: Callable[[], dict]) -> Callable:
    ops = ops_factory()

    def mutate(data, seed: Seed) -> Case:
        kind = data.draw(st.sampled_from(["field", "field", "field", "generic"]), label="kind")
        if kind == "generic":
            return generic(data, seed, dict(seed.kw))
        return xml_case(data, seed, ops)

    return mutate


# WFDB -------------------------------------------------------------------------------------------

WFDB_RECORD_FIELDS = {
    1: ["0", "1", "11", "13", "64", "65", "999999", "-12", "x"],  # number of signals
    2: ["0", "-500", "0.0001", "50", "99.9", "100", "1e308", "nan", "inf", "abc", "500/2", "500(1)", "1e-320"],
    3: ["0", "1", "-1", "999", "4999", "5001", "600001", "999999999999", str(2**63), "abc", "1e4"],  # samples
}
WFDB_SIGNAL_FIELDS = {
    0: ["missing.dat", "../../../etc/passwd", "", "x.mat"],  # file name
    1: ["8", "16", "24", "32", "61", "80", "160", "212", "310", "311", "999", "16x2", "16:5", "16+99999999",
        "0", "abc"],  # storage format
    2: ["-1000(0)/mV", "0", "1e-300", "1e300", "nan", "inf", "-inf", "200(99999999999999999999)", "1000(0)/uV",
        "1000(0)/V", "1000(0)/nV", "1000(0)/furlong", "abc", "1000(0)/", "1000(x)"],  # gain(baseline)/units
    3: ["0", "-16", "abc", "99999999999999999999"],  # ADC resolution
    4: ["0", "-99999", "abc", "1e5"],  # ADC zero
    5: ["0", "abc", "-99999999999"],  # initial value
}


def _wfdb_header(data, seed: Seed) -> Case:
    i = _pick(data, seed.files, "header", lambda n: n.lower().endswith(".hea"))
    name, raw = seed.files[i]
    lines = raw.decode("latin-1").splitlines()
    body = [k for k, ln in enumerate(lines) if ln.strip() and not ln.startswith("#")]
    op = data.draw(st.sampled_from(["record-field", "signal-field", "signal-field", "lead-name", "line-removed",
                                    "lead-removed", "line-added"]), label="header op")
    if op == "record-field":
        field = data.draw(st.sampled_from(sorted(WFDB_RECORD_FIELDS)), label="record field")
        value = data.draw(st.sampled_from(WFDB_RECORD_FIELDS[field]), label="value")
        parts = lines[body[0]].split()
        while len(parts) <= field:
            parts.append("0")
        parts[field] = value
        lines[body[0]] = " ".join(parts)
        what = f"record field {field}={value!r}"
    elif op in ("signal-field", "lead-name"):
        k = body[data.draw(st.integers(1, len(body) - 1), label="signal line")]
        parts = lines[k].split(maxsplit=8)
        if op == "lead-name":
            field, value = 8, data.draw(st.sampled_from(LEAD_NAMES[:-1]), label="lead name")
        else:
            field = data.draw(st.sampled_from(sorted(WFDB_SIGNAL_FIELDS)), label="signal field")
            value = data.draw(st.sampled_from(WFDB_SIGNAL_FIELDS[field]), label="value")
        while len(parts) <= field:
            parts.append("0")
        parts[field] = value if value else "-"
        lines[k] = " ".join(parts)
        what = f"line {k} field {field}={value!r}"
    elif op == "line-removed":  # signal count unchanged: the header lies about its lines
        k = body[data.draw(st.integers(1, len(body) - 1), label="line")]
        del lines[k]
        what = f"line {k}"
    elif op == "lead-removed":  # consistent header with one lead fewer than the signal file holds
        k = body[data.draw(st.integers(1, len(body) - 1), label="line")]
        del lines[k]
        parts = lines[body[0]].split()
        parts[1] = str(max(int(parts[1]) - 1, 0))
        lines[body[0]] = " ".join(parts)
        what = f"line {k}, count {parts[1]}"
    else:
        k = body[data.draw(st.integers(1, len(body) - 1), label="line")]
        lines.insert(k, lines[k])
        what = f"duplicate line {k}"
    new = ("\n".join(lines) + "\n").encode("latin-1")
    return Case(f"{op}:{seed.label} {what}", _replace(seed.files, i, new), dict(seed.kw))


def _mat4_header(data, seed: Seed) -> Case:
    i = _pick(data, seed.files, "mat", lambda n: n.lower().endswith(".mat"))
    name, raw = seed.files[i]
    if not name.lower().endswith(".mat") or len(raw) < 20:
        return generic(data, seed, dict(seed.kw))
    field = data.draw(st.integers(0, 4), label="mat field")  # mopt, mrows, ncols, imagf, namlen
    value = data.draw(st.sampled_from([0, -1, 1, 11, 12, 13, 64, 65, 1000, 5000, 4999, 2**31 - 1, 10**9]),
                      label="mat value")
    hdr = np.frombuffer(raw[:20], dtype="<i4").copy()
    hdr[field] = value
    new = hdr.tobytes() + raw[20:]
    return Case(f"mat-header:{seed.label} field {field}={value}", _replace(seed.files, i, new), dict(seed.kw))


def wfdb_mutator(data, seed: Seed) -> Case:
    kind = data.draw(st.sampled_from(["header", "header", "header", "mat", "generic", "generic"]), label="kind")
    if kind == "header":
        return _wfdb_header(data, seed)
    if kind == "mat" and any(n.lower().endswith(".mat") for n, _ in seed.files):
        return _mat4_header(data, seed)
    return generic(data, seed, dict(seed.kw))


# DICOM ------------------------------------------------------------------------------------------

_DICOM_GROUP_FIELDS = {
    "SamplingFrequency": ["0", "-500", "nan", "inf", "1e308", "50", "99.9", "1000"],
    "NumberOfWaveformSamples": [0, 1, 599, 4999, 5001, 600001, 2**32 - 1],
    "NumberOfWaveformChannels": [0, 1, 8, 11, 13, 64, 65, 65535],
    "WaveformBitsAllocated": [0, 8, 12, 32, 64],
    "WaveformSampleInterpretation": ["SB", "UB", "US", "MB", "AB", "XX"],
}
_DICOM_CHANNEL_FIELDS = {
    "ChannelSensitivity": ["-4.88", "0", "nan", "inf", "1e300", "1e-300", "4880"],
    "ChannelBaseline": ["nan", "1e308", "-1e6", "inf"],
    "ChannelSensitivityCorrectionFactor": ["0", "-1", "nan", "1e6"],
}


def dicom_mutator(data, seed: Seed) -> Case:
    import pydicom
    import pydicom.config

    kind = data.draw(st.sampled_from(["field", "field", "field", "generic"]), label="kind")
    if kind == "generic":
        return generic(data, seed, dict(seed.kw))
    name, raw = seed.files[0]
    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    pydicom.config.settings.writing_validation_mode = pydicom.config.IGNORE
    ds = pydicom.dcmread(io.BytesIO(raw))
    groups = ds.WaveformSequence
    gi = data.draw(st.integers(0, len(groups) - 1), label="group")
    g = groups[gi]
    chans = g.ChannelDefinitionSequence
    op = data.draw(st.sampled_from(["group-field", "group-field", "channel-field", "units", "lead-name",
                                    "lead-removed", "lead-removed-consistent", "data-truncated", "group-removed"]),
                   label="dicom op")
    if op == "group-field":
        field = data.draw(st.sampled_from(sorted(_DICOM_GROUP_FIELDS)), label="field")
        value = data.draw(st.sampled_from(_DICOM_GROUP_FIELDS[field]), label="value")
        setattr(g, field, value)
        what = f"{field}={value!r}"
    elif op == "channel-field":
        j = data.draw(st.integers(0, len(chans) - 1), label="channel")
        field = data.draw(st.sampled_from(sorted(_DICOM_CHANNEL_FIELDS)), label="field")
        value = data.draw(st.sampled_from(_DICOM_CHANNEL_FIELDS[field]), label="value")
        setattr(chans[j], field, value)
        what = f"channel {j} {field}={value!r}"
    elif op == "units":
        j = data.draw(st.integers(0, len(chans) - 1), label="channel")
        value = data.draw(st.sampled_from(["mV", "V", "nV", "uV", "furlong", ""]), label="unit")
        chans[j].ChannelSensitivityUnitsSequence[0].CodeValue = value
        what = f"channel {j} unit={value!r}"
    elif op == "lead-name":
        j = data.draw(st.integers(0, len(chans) - 1), label="channel")
        value = data.draw(st.sampled_from(LEAD_NAMES), label="lead")
        chans[j].ChannelSourceSequence[0].CodeMeaning = value
        chans[j].ChannelSourceSequence[0].CodeValue = value
        what = f"channel {j} lead={value!r}"
    elif op.startswith("lead-removed"):
        j = data.draw(st.integers(0, len(chans) - 1), label="channel")
        del chans[j]
        if op == "lead-removed-consistent":
            g.NumberOfWaveformChannels = len(chans)
        what = f"channel {j}"
    elif op == "data-truncated":
        frac = data.draw(st.floats(0.0, 0.999), label="fraction")
        g.WaveformData = bytes(g.WaveformData)[: int(len(g.WaveformData) * frac) // 2 * 2]
        what = f"to {frac:.2f}"
    else:
        del groups[gi]
        what = f"group {gi}"
    buf = io.BytesIO()
    ds.save_as(buf)
    return Case(f"{op}:{seed.label} g{gi} {what}", ((name, buf.getvalue()),), dict(seed.kw))


# CSV --------------------------------------------------------------------------------------------

CELL_VALUES = ["abc", "nan", "NaN", "inf", "-inf", "1e400", "", "--", "1,5", "0x10", "None", "  ", "1e308",
               "\"quoted\"", "9" * 400]
HEADER_VALUES = ["X", "i", "AVR", "lead ii", "MDC_ECG_LEAD_V1", "II (uV)", "II (mV)", "II_uv", "time", "t", "ms",
                 "", "\"a\nb\"", "I", "V6 [V]"]


def csv_mutator(data, seed: Seed) -> Case:
    kw = keywords(data, seed)
    kind = data.draw(st.sampled_from(["cell", "cells", "column", "header", "rows", "text", "generic"]),
                     label="csv op")
    if kind == "generic":
        return generic(data, seed, kw)
    name, raw = seed.files[0]
    text = raw.decode("latin-1")
    lines = text.split("\n")
    sep = "\t" if "\t" in lines[0] else ";" if ";" in lines[0] else ","
    grid = [ln.split(sep) for ln in lines]
    n_rows = len(grid) - 1
    ncol = len(grid[0])
    if kind == "cell":
        r = data.draw(st.integers(1, max(n_rows - 1, 1)), label="row")
        c = data.draw(st.integers(0, ncol - 1), label="col")
        value = data.draw(st.sampled_from(CELL_VALUES), label="value")
        if r < len(grid) and c < len(grid[r]):
            grid[r][c] = value
        what = f"cell ({r},{c})={value!r}"
    elif kind == "cells":  # many cells of one column: more than the 1 % that can be repaired
        c = data.draw(st.integers(0, ncol - 1), label="col")
        value = data.draw(st.sampled_from(["nan", "inf", "", "abc"]), label="value")
        step = data.draw(st.sampled_from([2, 37, 150]), label="every")
        for row in grid[1::step]:
            if c < len(row):
                row[c] = value
        what = f"col {c} every {step}th={value!r}"
    elif kind == "column":
        c = data.draw(st.integers(0, ncol - 1), label="col")
        n_drop = data.draw(st.integers(1, 3), label="n cols")
        for row in grid:
            del row[c: c + n_drop]
        what = f"cols {c}..{c + n_drop - 1} removed"
    elif kind == "header":
        c = data.draw(st.integers(0, ncol - 1), label="col")
        value = data.draw(st.sampled_from(HEADER_VALUES), label="header")
        grid[0][c] = value
        what = f"header {c}={value!r}"
    elif kind == "rows":
        op = data.draw(st.sampled_from(["ragged", "short", "reversed-time", "blank-and-comments", "duplicate-rows"]),
                       label="rows op")
        if op == "ragged":
            r = data.draw(st.integers(1, max(n_rows - 1, 1)), label="row")
            grid[r] = grid[r][: data.draw(st.integers(0, ncol + 3), label="cells")] or ["1"] * (ncol + 2)
        elif op == "short":
            grid = grid[: data.draw(st.integers(1, 1200), label="rows")]
        elif op == "reversed-time":
            grid = grid[:1] + grid[1:][::-1]
        elif op == "blank-and-comments":
            grid.insert(1, ["# comment"])
            grid.insert(3, [""])
        else:
            grid = grid[:1] + [row for row in grid[1:] for _ in (0, 1)]
        what = op
    else:
        op = data.draw(st.sampled_from(["delimiter", "bom", "crlf", "latin1", "utf16", "decimal-comma"]),
                       label="text op")
        body = "\n".join(sep.join(row) for row in grid)
        if op == "delimiter":
            new_sep = data.draw(st.sampled_from([";", "\t", " ", "|"]), label="sep")
            body = body.replace(sep, new_sep)
        elif op == "decimal-comma":
            body = body.replace(".", ",")
        out = body.encode("utf-16") if op == "utf16" else body.encode("latin-1" if op == "latin1" else "utf-8")
        if op == "bom":
            out = b"\xef\xbb\xbf" + out
        elif op == "crlf":
            out = out.replace(b"\n", b"\r\n")
        elif op == "latin1":
            out = out.replace(b"I", b"\xcf", 1)
        return Case(f"text-{op}:{seed.label}", ((name, out),), kw)
    body = "\n".join(sep.join(row) for row in grid)
    return Case(f"{kind}:{seed.label} {what}", ((name, body.encode("utf-8")),), kw)


# NumPy ------------------------------------------------------------------------------------------

NPY_SHAPES = [(12,), (12, 0), (0, 12), (12, 10**12), (10**6, 10**6), (13, 3000), (11, 3000), (1, 12, 3000),
              (2, 12, 3000), (12, 3000, 1), (12, 999), (3000, 8), (), (12, 2**62)]
NPY_DESCRS = ["<f8", "<c16", "|O", "<U8", "|b1", "<M8[s]", "|V8", ">f4", "<f2", "<i8", "|u1", "|S4"]


def _npy_with_header(raw: bytes, *, descr=None, shape=None, fortran=None) -> bytes:
    fobj = io.BytesIO(raw)
    np.lib.format.read_magic(fobj)
    old_shape, old_fortran, old_dtype = np.lib.format.read_array_header_1_0(fobj)
    payload = raw[fobj.tell():]
    d = {"descr": descr if descr is not None else np.lib.format.dtype_to_descr(old_dtype),
         "fortran_order": old_fortran if fortran is None else fortran,
         "shape": old_shape if shape is None else shape}
    header = repr(d).encode("latin-1")
    pad = 64 - (10 + len(header) + 1) % 64
    header = header + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header + payload


def _array_damage(data, arr: np.ndarray) -> tuple[np.ndarray, str]:
    arr = np.array(arr, dtype=np.float64 if arr.dtype.kind == "f" else arr.dtype)
    op = data.draw(st.sampled_from(["nan", "inf", "huge", "rows-removed", "constant"]), label="array op")
    flat = arr.reshape(-1) if arr.ndim else arr.reshape(1)
    if op in ("nan", "inf") and arr.dtype.kind == "f":
        count = data.draw(st.sampled_from([1, 10, flat.size // 50, flat.size]), label="count")
        start = data.draw(st.integers(0, max(flat.size - 1, 0)), label="start")
        flat[start: start + count] = np.nan if op == "nan" else np.inf
        return arr, f"{op} x{count}"
    if op == "huge":
        flat[: max(1, flat.size // 3)] = np.iinfo(arr.dtype).max if arr.dtype.kind in "iu" else 1e6
        return arr, op
    if op == "rows-removed" and arr.ndim == 2:
        k = data.draw(st.integers(1, 4), label="rows")
        axis = 0 if arr.shape[0] < arr.shape[1] else 1
        return np.delete(arr, range(k), axis=axis), f"{k} leads removed"
    return np.zeros_like(arr), "constant"


def npy_mutator(data, seed: Seed) -> Case:
    kw = keywords(data, seed)
    kind = data.draw(st.sampled_from(["shape", "descr", "fortran", "array", "array", "generic", "generic"]),
                     label="npy op")
    name, raw = seed.files[0]
    if kind == "generic":
        return generic(data, seed, kw)
    if kind == "shape":
        shape = data.draw(st.sampled_from(NPY_SHAPES), label="shape")
        return Case(f"npy-shape:{seed.label} {shape}", ((name, _npy_with_header(raw, shape=shape)),), kw)
    if kind == "descr":
        descr = data.draw(st.sampled_from(NPY_DESCRS), label="descr")
        return Case(f"npy-descr:{seed.label} {descr}", ((name, _npy_with_header(raw, descr=descr)),), kw)
    if kind == "fortran":
        return Case(f"npy-fortran:{seed.label}", ((name, _npy_with_header(raw, fortran=True)),), kw)
    arr, what = _array_damage(data, np.load(io.BytesIO(raw)))
    return Case(f"npy-array:{seed.label} {what}", ((name, _npy_bytes(arr)),), kw)


NPZ_FS = [np.array(0.0), np.array(-500.0), np.array(np.nan), np.array(np.inf), np.array("abc"), np.array([]),
          np.zeros((2, 2)), np.array(500 + 1j), np.array(True), np.array([500.0, 250.0]), np.array(50.0)]
NPZ_UNITS = [np.array("furlong"), np.array(""), np.array("uV"), np.array("V"), np.array(5), np.array([])]
NPZ_LEADS = [np.array(LEADS[:11]), np.array(["x"] * 12), np.array(LEADS).reshape(3, 4), np.array([]),
             np.array(LEADS[::-1]), np.arange(12), np.array(["I"] * 12)]


def npz_mutator(data, seed: Seed) -> Case:
    kw = keywords(data, seed)
    kind = data.draw(st.sampled_from(["entry", "entry", "entry", "remove", "extra", "signal", "zip", "generic"]),
                     label="npz op")
    name, raw = seed.files[0]
    if kind == "generic":
        return generic(data, seed, kw)
    with zipfile.ZipFile(io.BytesIO(raw)) as zf:
        entries = {i.filename.removesuffix(".npy"): np.load(io.BytesIO(zf.read(i)), allow_pickle=False)
                   for i in zf.infolist()}
    if kind == "entry":
        key = data.draw(st.sampled_from(["fs", "units", "leads"]), label="entry")
        pool = {"fs": NPZ_FS, "units": NPZ_UNITS, "leads": NPZ_LEADS}[key]
        entries[key] = pool[data.draw(st.integers(0, len(pool) - 1), label="value")]
        what = f"{key}={entries[key]!r}"[:60]
    elif kind == "remove":
        key = data.draw(st.sampled_from(sorted(entries)), label="entry")
        del entries[key]
        what = f"-{key}"
    elif kind == "extra":
        key = data.draw(st.sampled_from(["x", "data", "other", "II", "V9", "signal2"]), label="extra")
        entries[key] = data.draw(st.sampled_from([np.zeros((12, 10)), np.zeros(3000), np.zeros((3, 3, 3)),
                                                  np.array("text")]), label="extra value")
        what = f"+{key}"
    elif kind == "signal":
        key = data.draw(st.sampled_from(sorted(k for k in entries if entries[k].ndim >= 1 and
                                               entries[k].dtype.kind == "f")), label="signal")
        entries[key], what = _array_damage(data, entries[key])
        what = f"{key} {what}"
    else:  # zip-level structure
        op = data.draw(st.sampled_from(["non-npy-entry", "empty-zip", "stored-vs-deflated", "dir-entry"]),
                       label="zip op")
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            if op != "empty-zip":
                for k, v in entries.items():
                    zf.writestr(k + ".npy", _npy_bytes(v),
                                compress_type=zipfile.ZIP_STORED if op == "stored-vs-deflated" else None)
            if op == "non-npy-entry":
                zf.writestr("notes.txt", "hello")
            if op == "dir-entry":
                zf.writestr("sub/", "")
        return Case(f"zip-{op}:{seed.label}", ((name, buf.getvalue()),), kw)
    try:
        out = _npz_bytes(entries)
    except ValueError:  # e.g. object arrays; not a case the readers see from np.savez without pickle
        out = raw
    return Case(f"npz-{kind}:{seed.label} {what}", ((name, out),), kw)


MUTATORS: dict[str, Callable] = {
    "wfdb": wfdb_mutator,
    "cardiosoft": xml_mutator(cardiosoft_ops),
    "muse": xml_mutator(muse_ops),
    "aecg": xml_mutator(aecg_ops),
    "dicom": dicom_mutator,
    "csv": csv_mutator,
    "npy": npy_mutator,
    "npz": npz_mutator,
    "philips": fuzz_clinic.philips_mutator,
    "scp": fuzz_clinic.scp_mutator,
    "matlab": fuzz_clinic.matlab_mutator,
}


# --- driver ---------------------------------------------------------------------------------------


def _warm_up(seeds: Sequence[Seed]) -> None:
    """Read each seed and a tiny CSV once, so one-off imports (pandas, pydicom) are not timed as a case."""
    for s in seeds:
        read_ecg(list(s.files), **dict(s.kw))
    with pytest.raises(ECGFormatError):
        read_ecg([("warm.csv", b"I,II\n0,1\n")], fs=500)


def fuzz_format(fmt: str, max_examples: int, seeds: Sequence[Seed] | None = None) -> FuzzStats:
    """Run ``max_examples`` derandomised hypothesis cases of one format; return their statistics.

    Raises the first failing case's AssertionError (after hypothesis has shrunk it).
    """
    seeds = list(seeds if seeds is not None else seeds_for(fmt))
    _warm_up(seeds)
    stats = FuzzStats(fmt)
    STATS[fmt] = stats
    mutate = MUTATORS[fmt]
    by_label = {s.label: s for s in seeds}

    @settings(max_examples=max_examples, derandomize=True, deadline=None, database=None, print_blob=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink),
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one_case(data) -> None:
        # draw the label, not the Seed: hypothesis would print megabytes of file bytes on failure
        seed = by_label[data.draw(st.sampled_from(sorted(by_label)), label="seed")]
        run_case(mutate(data, seed), stats)

    one_case()
    return stats


def _fuzz_test(fmt: str) -> FuzzStats:
    seeds = seeds_for(fmt)
    if not seeds:
        pytest.skip(f"no {fmt} seed files: real samples not found at {SAMPLES_DIR} and none in {EXAMPLES_DIR}")
    stats = fuzz_format(fmt, CI_EXAMPLES[fmt], seeds)
    assert not stats.failures
    # hypothesis stops early only when it has exhausted the input space; ours is far larger
    assert stats.cases >= CI_EXAMPLES[fmt] * 0.9, f"only {stats.cases} {fmt} cases ran"
    return stats


@pytest.fixture(scope="module", autouse=True)
def _report_cases_per_format(request):
    yield
    if not STATS:
        return
    tr = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    lines = ["fuzz cases per format (format: cases, records/errors, max time s, max peak MB):"]
    for s in STATS.values():
        r = s.row()
        lines.append(f"  {r['format']}: {r['cases']} ({r['records']}/{r['errors']}), {r['max_time_s']}, "
                     f"{r['max_peak_mb']}")
    if tr is None or capture is None:  # pragma: no cover - plugins disabled
        return
    with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
        tr.write_line("")
        for line in lines:
            tr.write_line(line)


@pytest.mark.parametrize("fmt", list(MUTATORS))
def test_damaged_files_give_a_valid_record_or_the_library_error(fmt):
    stats = _fuzz_test(fmt)
    assert stats.records + stats.errors == stats.cases


def test_every_unmodified_seed_reads_as_a_valid_record():
    """The mutations start from valid files (otherwise the fuzzing proves little)."""
    all_seeds = [s for fmt in MUTATORS for s in seeds_for(fmt)]
    assert all_seeds
    for s in all_seeds:
        rec = read_ecg(list(s.files), **dict(s.kw))
        check_record(rec)
        assert rec.source_format == s.fmt, s.label


def test_empty_and_whitespace_files_of_every_kind_give_the_library_error():
    stats = FuzzStats("empty")
    for name in ("x.hea", "x.dat", "x.mat", "x.xml", "x.dcm", "x.csv", "x.tsv", "x.npy", "x.npz", "x", "x.txt"):
        for content in (b"", b" ", b"\n\n", b"\xef\xbb\xbf", b"\x00" * 200, b"<", b"#\n"):
            run_case(Case(f"empty:{name}:{content[:4]!r}", ((name, content),), {}), stats)
            run_case(Case(f"empty-fs:{name}:{content[:4]!r}", ((name, content),), {"fs": 500}), stats)
    assert stats.records == 0 and stats.errors == stats.cases == 154


def test_npy_and_npz_near_the_size_limit_stay_within_the_memory_bound():
    """Large but accepted arrays: the biggest allocations a 50 MB upload can cause."""
    from hfviz.ecg.io._common import MAX_FILE_BYTES, MAX_SAMPLES_PER_LEAD

    stats = FuzzStats("large")
    n = (MAX_FILE_BYTES - 1024) // (12 * 4)  # float32 (12, n) just under 50 MB: over the sample cap
    big = np.zeros((12, n), dtype=np.float32)
    run_case(Case("large:npy-over-sample-cap", (("big.npy", _npy_bytes(big)),), {"fs": 1000}), stats)
    ok = np.tile(synthetic_ecg(fs=1000.0, seconds=1.0, hr_bpm=72.0), (1, MAX_SAMPLES_PER_LEAD // 1000)).astype(np.float32)
    run_case(Case("large:npy-at-sample-cap", (("cap.npy", _npy_bytes(ok)),), {"fs": 1000}), stats)
    bomb = _npz_bytes({"signal": np.zeros((12, 2_000_000), dtype=np.float64), "fs": np.array(1000.0)},
                      compressed=True)  # 192 MB of zeros, about 200 kB compressed
    run_case(Case("large:npz-expanding-to-192MB", (("bomb.npz", bomb),), {}), stats)
    assert stats.cases == 3 and stats.records == 1
