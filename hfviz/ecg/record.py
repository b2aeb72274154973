"""The ECG record: one validated 12-lead recording in millivolts.

Every reader in :mod:`hfviz.ecg.io` ends by calling :func:`make_record`, which normalises
lead names, derives missing limb leads from I and II, checks rate, length, finiteness
and amplitude, and computes quality flags. An :class:`ECGRecord` that exists is valid.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from hfviz.errors import ECGFormatError

#: Standard lead order of every record and of the model input.
LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LIMB_DERIVED: tuple[str, ...] = ("III", "aVR", "aVL", "aVF")

MIN_FS_HZ = 100.0
MIN_DURATION_S = 2.0
#: Largest fraction of non-finite samples per lead that is repaired by interpolation.
MAX_NONFINITE_FRACTION = 0.01
#: Largest absolute amplitude (mV) a surface ECG can plausibly reach after unit handling.
MAX_ABS_MV = 30.0
#: Lead peak-to-peak (mV) below which a lead is called flat.
FLAT_P2P_MV = 0.02
#: Typical peak-to-peak (mV; median over 2-s windows) above which a limb lead is implausible
#: for a resting ECG: limb QRS rarely exceeds 2.5 mV even in LVH (the real samples reach 2.1).
LIMB_IMPLAUSIBLE_P2P_MV = 3.0
#: The same for chest leads: LVH precordial voltages reach 6-7 mV (a real LVH sample: 7.2 mV in
#: V4) and electrode artefacts 9-10 mV, so only more than this points to a gain or units error.
CHEST_IMPLAUSIBLE_P2P_MV = 10.0
#: Relative spread of stored leads' peak-to-peak below which they count as identical
#: (amplitude-normalised exports scale every lead to the same range).
IDENTICAL_P2P_SPREAD = 0.01

_ALIASES = {
    "i": "I", "ii": "II", "iii": "III", "avr": "aVR", "avl": "aVL", "avf": "aVF",
    "v1": "V1", "v2": "V2", "v3": "V3", "v4": "V4", "v5": "V5", "v6": "V6",
    "lead i": "I", "lead ii": "II", "lead iii": "III", "ml1": "I", "ml2": "II",
    "-avr": None,  # inverted aVR (Cabrera) is not accepted as aVR
}


def normalise_lead_name(name: str) -> str | None:
    """Map a lead label in any common spelling to its standard name.

    Parameters
    ----------
    name : str
        Label as found in a file, e.g. ``"AVR"``, ``"avr"``, ``"Lead II"``, ``"MDC_ECG_LEAD_V1"``,
        ``"Lead I (Einthoven)"`` (a trailing parenthesised qualifier is ignored).

    Returns
    -------
    str or None
        One of :data:`LEADS`, or ``None`` when the label is not a standard 12-lead name
        (e.g. Frank leads ``vx``).
    """
    key = " ".join(name.strip().lower().replace("_", " ").split())
    key = re.sub(r"\s*\([^()]*\)$", "", key)  # a trailing qualifier: "(Einthoven)", "(Goldberger)", "(Wilson)"
    key = re.sub(r"^(mdc ecg lead |lead )", "", key).strip()
    if key in _ALIASES:
        return _ALIASES[key]
    return None


@dataclasses.dataclass(frozen=True, eq=False)
class ECGRecord:
    """A validated 12-lead ECG.

    Create records with :func:`make_record`; the constructor validates too.

    Attributes
    ----------
    signal_mv : ndarray, shape (12, n), float64
        Surface potentials in millivolts, leads in :data:`LEADS` order.
    fs_hz : float
        Sampling rate of ``signal_mv`` in Hz (>= 100).
    source_format : str
        Format the record was read from, e.g. ``"wfdb"``, ``"cardiosoft"``, ``"simulated"``.
    source_name : str
        File name (never a full path to anything uploaded) used in messages.
    median_beat_mv : ndarray, shape (12, m), or None
        The device's median (representative) beats in mV, when the file carries them.
    median_fs_hz : float or None
        Sampling rate of ``median_beat_mv`` in Hz.
    derived_leads : tuple of str
        Leads computed from I and II rather than read from the file.
    units_note : str
        How amplitude units were decided (from the file, given, or inferred).
    meta : dict
        Metadata the file carries: ``age`` (years), ``sex`` (``"M"``/``"F"``), ``device``,
        ``interpretation`` (diagnosis text), ``acquired`` (ISO time), ``device_measurements``.
    quality : tuple of str
        Quality flags such as ``"V3: flat"`` or ``"II: saturated"``; empty when clean.
    """

    signal_mv: np.ndarray
    fs_hz: float
    source_format: str
    source_name: str = "ECG"
    median_beat_mv: np.ndarray | None = None
    median_fs_hz: float | None = None
    derived_leads: tuple[str, ...] = ()
    units_note: str = ""
    meta: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    quality: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        name = self.source_name
        sig = np.asarray(self.signal_mv)
        if sig.ndim != 2 or sig.shape[0] != 12:
            raise ECGFormatError(f"{name}: expected 12 leads, got an array of shape {sig.shape}.")
        if not np.issubdtype(sig.dtype, np.floating):
            sig = sig.astype(np.float64)
        fs = float(self.fs_hz)
        if not np.isfinite(fs) or fs < MIN_FS_HZ:
            raise ECGFormatError(
                f"{name}: sampling rate {self.fs_hz:g} Hz is below the {MIN_FS_HZ:g} Hz minimum."
            )
        duration = sig.shape[1] / fs
        if duration < MIN_DURATION_S:
            raise ECGFormatError(
                f"{name}: recording is {duration:.2f} s long; at least {MIN_DURATION_S:g} s is needed."
            )
        if not np.all(np.isfinite(sig)):
            raise ECGFormatError(f"{name}: signal contains NaN or infinite values.")
        peak = float(np.max(np.abs(sig)))
        if peak > MAX_ABS_MV:
            raise ECGFormatError(
                f"{name}: amplitudes up to {peak:.0f} mV are implausible for a surface ECG "
                "(are the units microvolts or raw ADC counts?)."
            )
        sig.setflags(write=False)
        object.__setattr__(self, "signal_mv", sig)
        object.__setattr__(self, "fs_hz", fs)
        if self.median_beat_mv is not None:
            med = np.asarray(self.median_beat_mv, dtype=np.float64)
            if med.ndim != 2 or med.shape[0] != 12 or med.shape[1] < 10:
                raise ECGFormatError(f"{name}: device median beats have shape {med.shape}, expected (12, m).")
            if self.median_fs_hz is None or not float(self.median_fs_hz) >= MIN_FS_HZ:
                raise ECGFormatError(f"{name}: device median beats have no valid sampling rate.")
            if not np.all(np.isfinite(med)) or float(np.max(np.abs(med))) > MAX_ABS_MV:
                raise ECGFormatError(f"{name}: device median beats contain invalid values.")
            med.setflags(write=False)
            object.__setattr__(self, "median_beat_mv", med)
            object.__setattr__(self, "median_fs_hz", float(self.median_fs_hz))
        object.__setattr__(self, "meta", dict(self.meta))

    @property
    def n_samples(self) -> int:
        """Number of samples per lead."""
        return int(self.signal_mv.shape[1])

    @property
    def duration_s(self) -> float:
        """Recording length in seconds."""
        return self.n_samples / self.fs_hz

    @property
    def leads(self) -> tuple[str, ...]:
        """Lead names in row order (always :data:`LEADS`)."""
        return LEADS

    def lead(self, name: str) -> np.ndarray:
        """Return one lead, shape (n,), in mV."""
        return self.signal_mv[LEADS.index(name)]


def _interpolate_nonfinite(x: np.ndarray, lead: str, source_name: str) -> np.ndarray:
    bad = ~np.isfinite(x)
    if not bad.any():
        return x
    frac = bad.mean()
    if frac > MAX_NONFINITE_FRACTION:
        raise ECGFormatError(
            f"{source_name}: lead {lead} has {frac:.0%} missing or non-finite samples "
            f"(at most {MAX_NONFINITE_FRACTION:.0%} can be repaired)."
        )
    idx = np.arange(x.size)
    out = x.copy()
    out[bad] = np.interp(idx[bad], idx[~bad], x[~bad])
    return out


def quality_flags(
    signal_mv: np.ndarray, *, derived: tuple[str, ...] = (), fs_hz: float | None = None
) -> tuple[str, ...]:
    """Flag flat, saturated and implausibly large leads, and amplitude-normalised exports.

    The flags are soft: the record stays valid and the flags are shown with it.

    Parameters
    ----------
    signal_mv : ndarray, shape (12, n)
        Signal in mV, :data:`LEADS` order.
    derived : tuple of str
        Leads derived from others; their flags follow from their sources and are skipped.
    fs_hz : float, optional
        Sampling rate in Hz; the typical peak-to-peak of a lead is the median over 2-s windows
        (robust to one artefact or ectopic beat). Without it, the whole lead's peak-to-peak.

    Returns
    -------
    tuple of str
        Flags like ``"V2: flat (peak-to-peak 0.004 mV)"``, ``"I: saturated (12% of samples at
        the rail)"``, ``"II: implausibly large for a resting ECG (typical peak-to-peak 5.1 mV in a
        limb lead; check the gain or the units)"``, ``"all leads: identical peak-to-peak …"``.
    """
    flags = []
    stored_p2p = []
    for i, lead in enumerate(LEADS):
        if lead in derived:
            continue
        x = signal_mv[i]
        p2p = float(np.ptp(x))
        stored_p2p.append(p2p)
        if p2p < FLAT_P2P_MV:
            flags.append(f"{lead}: flat (peak-to-peak {p2p:.3f} mV)")
            continue
        at_rail = float(np.mean((x >= x.max()) | (x <= x.min())))
        if at_rail > 0.02:
            flags.append(f"{lead}: saturated ({at_rail:.0%} of samples at the rail)")
        limb = lead in LEADS[:6]
        limit = LIMB_IMPLAUSIBLE_P2P_MV if limb else CHEST_IMPLAUSIBLE_P2P_MV
        typical = _typical_p2p(x, fs_hz)
        if typical > limit:
            flags.append(
                f"{lead}: implausibly large for a resting ECG (typical peak-to-peak {typical:.1f} mV in a "
                f"{'limb' if limb else 'chest'} lead, above {limit:g} mV; check the gain or the amplitude units)"
            )
    p2p = np.array(stored_p2p)
    if p2p.size >= 8 and np.median(p2p) >= FLAT_P2P_MV and np.ptp(p2p) <= IDENTICAL_P2P_SPREAD * np.median(p2p):
        flags.append(
            f"all leads: identical peak-to-peak ({np.median(p2p):.2f} mV in each stored lead); the export looks "
            "amplitude-normalised, so amplitudes (and amplitude-based measurements) are not in true mV"
        )
    return tuple(flags)


def _typical_p2p(x: np.ndarray, fs_hz: float | None) -> float:
    """Median peak-to-peak (mV) over consecutive 2-s windows of one lead, shape (n,)."""
    width = int(2 * fs_hz) if fs_hz is not None and np.isfinite(fs_hz) and fs_hz > 0 else 0
    n_win = x.size // width if width else 0
    if n_win == 0:
        return float(np.ptp(x))
    return float(np.median(np.ptp(x[: n_win * width].reshape(n_win, width), axis=1)))


def make_record(
    leads: Mapping[str, np.ndarray],
    fs_hz: float,
    *,
    source_format: str,
    source_name: str = "ECG",
    median_beats: Mapping[str, np.ndarray] | None = None,
    median_fs_hz: float | None = None,
    units_note: str = "",
    meta: Mapping[str, Any] | None = None,
) -> ECGRecord:
    """Build a validated record from named leads in millivolts.

    Lead names are normalised (any case, ``MDC_ECG_LEAD_`` prefixes); non-standard channels
    (e.g. Frank ``vx vy vz``) are ignored; missing limb leads III, aVR, aVL, aVF are derived
    from I and II (Einthoven/Goldberger) and listed in ``derived_leads``; up to 1 % non-finite
    samples per lead are interpolated.

    Parameters
    ----------
    leads : mapping of str to ndarray, each shape (n,)
        Signals in mV keyed by lead label as found in the file.
    fs_hz : float
        Sampling rate in Hz.
    source_format, source_name : str
        Where the record came from (for messages and display).
    median_beats : mapping of str to ndarray, each shape (m,), optional
        Device median beats in mV, keyed like ``leads``.
    median_fs_hz : float, optional
        Sampling rate of ``median_beats``.
    units_note : str
        How the units were decided.
    meta : mapping, optional
        Metadata (see :class:`ECGRecord`).

    Returns
    -------
    ECGRecord

    Raises
    ------
    ECGFormatError
        Missing leads that cannot be derived, unequal lead lengths, too short, rate too low,
        too many non-finite samples, implausible amplitudes.
    """
    std = _standardise(leads, source_name, what="signal")
    n = {v.shape[0] for v in std.values()}
    if len(n) != 1:
        raise ECGFormatError(f"{source_name}: leads have different lengths {sorted(n)}.")
    std = {k: _interpolate_nonfinite(v, k, source_name) for k, v in std.items()}
    std, derived = _derive_limb_leads(std, source_name)
    signal = np.stack([std[lead] for lead in LEADS])
    med = None
    if median_beats:
        med_std = _standardise(median_beats, source_name, what="median beat")
        if len({v.shape[0] for v in med_std.values()}) == 1:
            med_std = {k: np.nan_to_num(v) for k, v in med_std.items()}
            try:
                med_std, _ = _derive_limb_leads(med_std, source_name)
                med = np.stack([med_std[lead] for lead in LEADS])
            except ECGFormatError:
                med = None  # device median beats are optional; the strip is what matters
    fs_checked = float(fs_hz)
    return ECGRecord(
        signal_mv=signal,
        fs_hz=fs_checked,
        source_format=source_format,
        source_name=source_name,
        median_beat_mv=med,
        median_fs_hz=median_fs_hz if med is not None else None,
        derived_leads=derived,
        units_note=units_note,
        meta=dict(meta or {}),
        quality=quality_flags(signal, derived=derived, fs_hz=fs_checked) if np.all(np.isfinite(signal)) else (),
    )


def _standardise(leads: Mapping[str, np.ndarray], source_name: str, *, what: str) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for raw_name, values in leads.items():
        lead = normalise_lead_name(str(raw_name))
        if lead is None or lead in out:
            continue
        arr = np.asarray(values, dtype=np.float64).reshape(-1)
        out[lead] = arr
    if not out:
        raise ECGFormatError(f"{source_name}: no standard ECG leads found in the {what}.")
    return out


def _derive_limb_leads(std: dict[str, np.ndarray], source_name: str) -> tuple[dict[str, np.ndarray], tuple[str, ...]]:
    missing = [lead for lead in LEADS if lead not in std]
    if not missing:
        return std, ()
    have_i_ii = "I" in std and "II" in std
    underivable = [lead for lead in missing if not (have_i_ii and lead in LIMB_DERIVED)]
    if underivable:
        hint = "" if have_i_ii else " (III, aVR, aVL and aVF can be derived only when I and II are present)"
        raise ECGFormatError(f"{source_name}: missing leads {', '.join(underivable)}{hint}.")
    i, ii = std["I"], std["II"]
    formulas = {"III": ii - i, "aVR": -(i + ii) / 2, "aVL": i - ii / 2, "aVF": ii - i / 2}
    out = dict(std)
    for lead in missing:
        out[lead] = formulas[lead]
    return out, tuple(lead for lead in LEADS if lead in missing)
