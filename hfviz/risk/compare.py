"""Two ECGs side by side: what changed in the predicted risk, where in the beat, and in the measurements.

A clinician compares an ECG with the patient's previous one (a year apart, before and after
treatment). Everything here is Streamlit-free and says "A" for the first (usually earlier) ECG
and "B" for the second; every change is **B − A**.

* :func:`risk_change` — both assessments (:func:`hfviz.risk.assess.assess`) and the change in
  log-risk, percentile (points), HF-free survival at a horizon and the hazard ratio. Cheap.
* :func:`attribution_change` — one attribution method and one baseline for *both* ECGs (the
  same reference, so the difference means something), summed per lead and per part of each
  beat (:data:`SEGMENTS`: before the QRS (P wave, PR), QRS, ST-T, after the T wave, each from
  that ECG's own global fiducials, :func:`hfviz.ecg.measure.measure_global`), and their
  difference B − A ranked: which leads and which part of the beat moved the risk. With
  Integrated Gradients the cells of one ECG add up to f(ECG) − f(baseline), so the difference
  cells add up to the change in log-risk (up to both completeness gaps). Costs two attributions.
* :func:`measurement_changes` — the global measurements of both and their differences (ms, bpm,
  degrees wrapped to ±180, mV); :func:`measurement_change_frame` writes them as a table with
  human column names.
* :func:`compare_ecgs` — all three as one :class:`Comparison`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hfviz.ecg.measure import MEASUREMENT_KEYS, Measurement, measure_global
from hfviz.ecg.prepare import PreparedECG
from hfviz.ecg.record import LEADS
from hfviz.ecg.signal import FS_HZ, MODEL_LEN, PAD, R_OFFSET
from hfviz.risk.assess import PatientRisk, assess
from hfviz.risk.explain import DEFAULT_IG_STEPS, Attribution, attribute

#: Default horizon (months) of the survival change: the app quotes S(60 months).
DEFAULT_HORIZON_MONTHS = 60.0
#: Parts of the beat the attributions are summed over, in time order (on-screen names).
SEGMENTS: tuple[str, ...] = ("P wave and PR", "QRS", "ST-T", "after the T wave")
#: Nominal boundaries used when a fiducial was not found (ms relative to the R peak).
_NOMINAL_QRS_MS = (-50.0, 50.0)
_NOMINAL_QT_MS = 400.0
#: What the attributions of each method are measured in, in words.
ATTRIBUTION_UNIT_WORDS = {
    "integrated_gradients": "log-risk",
    "occlusion": "log-risk",
    "gradient_shap": "log-risk",
    "saliency": "sum of log-risk gradients (per SD of input)",
}
#: Rows of :attr:`AttributionChange.ranking` by default.
TOP_K = 8


# --- risk ----------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class RiskChange:
    """The risk of two ECGs in one cohort and its change B − A.

    Attributes
    ----------
    a, b : PatientRisk
        :func:`hfviz.risk.assess.assess` of ECG A and ECG B (same model).
    horizon_months : float
        Horizon of ``survival_a`` / ``survival_b`` (months).
    delta_log_risk : float
        ``b.log_risk - a.log_risk`` (Cox log partial hazard).
    hazard_ratio : float
        ``exp(delta_log_risk)``: B's predicted hazard as a multiple of A's.
    delta_percentile : float
        ``b.percentile - a.percentile``, percentage points of the cohort (−100 … 100).
    survival_a, survival_b : float
        Predicted HF-free probability at ``horizon_months`` (0–1).
    delta_survival : float
        ``survival_b - survival_a`` (probability; ×100 for percentage points).
    """

    a: PatientRisk
    b: PatientRisk
    horizon_months: float
    delta_log_risk: float
    hazard_ratio: float
    delta_percentile: float
    survival_a: float
    survival_b: float
    delta_survival: float

    @property
    def sentence(self) -> str:
        """e.g. "ECG B's predicted risk is higher than ECG A's (hazard ratio 1.80; percentile 41 → 77, +36 points)."."""
        if abs(self.delta_log_risk) < 5e-4:
            how = "the same as"
        else:
            how = "higher than" if self.delta_log_risk > 0 else "lower than"
        return (f"ECG B's predicted risk is {how} ECG A's (hazard ratio {self.hazard_ratio:.2f}; percentile "
                f"{self.a.percentile:.0f} → {self.b.percentile:.0f}, {self.delta_percentile:+.0f} points of the "
                f"{self.a.cohort_label}).")


def risk_change(model: Any, a: PreparedECG, b: PreparedECG, *,
                horizon_months: float = DEFAULT_HORIZON_MONTHS) -> RiskChange:
    """Assess both ECGs with ``model`` and the change B − A.

    Parameters
    ----------
    model : RiskModel
        A loaded shipped model.
    a, b : PreparedECG
        ECG A (e.g. last year's) and ECG B (e.g. today's); ``model_input`` (12, 608) is scored.
    horizon_months : float
        Where the survival curves are read (months; default 60).

    Returns
    -------
    RiskChange
    """
    ra, rb = assess(model, a.model_input), assess(model, b.model_input)
    sa, sb = ra.survival_at(horizon_months), rb.survival_at(horizon_months)
    d = rb.log_risk - ra.log_risk
    return RiskChange(a=ra, b=rb, horizon_months=float(horizon_months), delta_log_risk=d,
                      hazard_ratio=float(math.exp(d)), delta_percentile=rb.percentile - ra.percentile,
                      survival_a=sa, survival_b=sb, delta_survival=sb - sa)


# --- parts of the beat ---------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class BeatSegments:
    """Where :data:`SEGMENTS` lie in one ECG's model input.

    Attributes
    ----------
    bounds : tuple of (int, int)
        ``(start, stop)`` sample indices into the 608-sample model input (500 Hz, the 4 padding
        samples each side belong to the first and last part), one per :data:`SEGMENTS`,
        contiguous: together they cover 0–608.
    nominal : tuple of str
        The fiducials that were not found and were replaced by nominal ones ("QRS onset and
        end": R peak ±50 ms; "T end": QRS onset + 400 ms); empty when all were measured.
    """

    bounds: tuple[tuple[int, int], ...]
    nominal: tuple[str, ...] = ()

    def ms(self) -> list[tuple[float, float]]:
        """The bounds in ms relative to the start of the 600-sample median beat (the R peak at 476 ms)."""
        return [((lo - PAD) / FS_HZ * 1000.0, (hi - PAD) / FS_HZ * 1000.0) for lo, hi in self.bounds]


def beat_segments(prepared: PreparedECG) -> BeatSegments:
    """The parts of one ECG's median beat, from its own global fiducials.

    QRS onset, QRS end and T end come from :func:`hfviz.ecg.measure.measure_global` on the
    median beat (R peak at :data:`~hfviz.ecg.signal.R_OFFSET`, RR from the strip's R peaks),
    the same delineation as the measurements on screen.

    Parameters
    ----------
    prepared : PreparedECG
        Its ``median_beat_mv`` (12, 600) and ``r_peaks``.

    Returns
    -------
    BeatSegments
    """
    r = np.asarray(prepared.r_peaks)
    rr_ms = float(np.mean(np.diff(r))) * 1000.0 / FS_HZ if r.size >= 2 else None
    fid: Mapping[str, float | None] = {}
    try:
        _, fid = measure_global(prepared.median_beat_mv, FS_HZ, r_index=R_OFFSET, rr_ms=rr_ms)
    except ValueError:
        pass  # an unusable beat: nominal parts
    nominal: list[str] = []
    qon, qoff, tend = fid.get("qrs_onset"), fid.get("qrs_offset"), fid.get("t_end")
    if qon is None or qoff is None:
        qon, qoff = (R_OFFSET + ms * FS_HZ / 1000.0 for ms in _NOMINAL_QRS_MS)
        nominal.append("QRS onset and end")
    if tend is None or tend <= qoff:
        tend = qon + _NOMINAL_QT_MS * FS_HZ / 1000.0
        nominal.append("T end")
    q1 = min(max(round(float(qon)) + PAD, 1), MODEL_LEN - 3)  # every part at least one sample long
    q2 = min(max(round(float(qoff)) + PAD, q1 + 1), MODEL_LEN - 2)
    q3 = min(max(round(float(tend)) + PAD, q2 + 1), MODEL_LEN - 1)
    cuts = (0, q1, q2, q3, MODEL_LEN)
    return BeatSegments(tuple((int(cuts[i]), int(cuts[i + 1])) for i in range(len(SEGMENTS))), tuple(nominal))


def segment_sums(values: np.ndarray, segments: BeatSegments) -> np.ndarray:
    """Attributions summed per lead and part of the beat.

    Parameters
    ----------
    values : ndarray, shape (12, 608)
        Attributions of one model input.
    segments : BeatSegments
        That ECG's parts.

    Returns
    -------
    ndarray, float64, shape (12, len(SEGMENTS))
        Sum over the samples of each part; the row sums are the lead totals.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.shape != (len(LEADS), MODEL_LEN):
        raise ValueError(f"values must be (12, {MODEL_LEN}), got {v.shape}")
    return np.stack([v[:, lo:hi].sum(axis=1) for lo, hi in segments.bounds], axis=1)


# --- attributions -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class AttributionChange:
    """One attribution method and baseline applied to both ECGs, and where the difference lies.

    Attributes
    ----------
    attribution_a, attribution_b : Attribution
        :func:`hfviz.risk.explain.attribute` of each ECG (values (12, 608)), same method,
        baseline and steps.
    segments_a, segments_b : BeatSegments
        The parts of each ECG's own beat.
    by_segment_a, by_segment_b : ndarray, shape (12, 4)
        Attribution summed per lead (rows, :data:`~hfviz.ecg.record.LEADS` order) and part of the
        beat (columns, :data:`SEGMENTS`), in :attr:`unit`.
    by_segment_change : ndarray, shape (12, 4)
        ``by_segment_b - by_segment_a``: positive cells pushed B's predicted risk up relative to A.
    by_lead_change : ndarray, shape (12,)
        Row sums of ``by_segment_change``.
    """

    attribution_a: Attribution
    attribution_b: Attribution
    segments_a: BeatSegments
    segments_b: BeatSegments
    by_segment_a: np.ndarray
    by_segment_b: np.ndarray
    by_segment_change: np.ndarray
    by_lead_change: np.ndarray

    @property
    def method(self) -> str:
        """Key of :data:`hfviz.risk.explain.METHODS`."""
        return self.attribution_a.method

    @property
    def label(self) -> str:
        """Method, baseline and steps in words, e.g. "Integrated Gradients · baseline: zeros · 64 steps"."""
        return self.attribution_a.label

    @property
    def unit(self) -> str:
        """What one cell is measured in, in words ("log-risk" for all methods but Saliency)."""
        return ATTRIBUTION_UNIT_WORDS.get(self.method, "attribution")

    @property
    def total_change(self) -> float:
        """Sum of all cells of :attr:`by_segment_change` (≈ the change in log-risk for Integrated Gradients)."""
        return float(self.by_segment_change.sum())

    def ranking(self, k: int = TOP_K) -> pd.DataFrame:
        """The ``k`` lead × part-of-beat cells that moved the risk most, largest |change| first.

        Returns
        -------
        DataFrame
            Columns "Lead", "Part of the beat", "ECG A", "ECG B", "Change (B − A)" (floats, in
            :attr:`unit`) and "Effect" ("raised B's risk" / "lowered B's risk"); cells with no
            change are left out.
        """
        d = self.by_segment_change
        order = np.argsort(-np.abs(d), axis=None, kind="stable")[:k]
        rows = []
        for flat in order:
            li, si = divmod(int(flat), d.shape[1])
            if d[li, si] == 0:
                continue
            rows.append({"Lead": LEADS[li], "Part of the beat": SEGMENTS[si], "ECG A": float(self.by_segment_a[li, si]),
                         "ECG B": float(self.by_segment_b[li, si]), "Change (B − A)": float(d[li, si]),
                         "Effect": "raised B's risk" if d[li, si] > 0 else "lowered B's risk"})
        return pd.DataFrame(rows, columns=["Lead", "Part of the beat", "ECG A", "ECG B", "Change (B − A)", "Effect"])

    def sentence(self, k: int = 3) -> str:
        """The largest changes in words, e.g. "Most of the change: V2 QRS +0.21, V5 ST-T −0.12, I QRS +0.05 log-risk."."""
        top = self.ranking(k)
        if top.empty:
            return "The attributions of the two ECGs are the same in every lead and part of the beat."
        parts = [f"{r['Lead']} {r['Part of the beat']} " + f"{r['Change (B − A)']:+.3g}".replace("-", "−")
                 for _, r in top.iterrows()]
        return f"Largest changes (B − A): {', '.join(parts)} ({self.unit})."


def attribution_change_from(a: PreparedECG, b: PreparedECG, attribution_a: Attribution,
                            attribution_b: Attribution) -> AttributionChange:
    """:class:`AttributionChange` from attributions already computed (e.g. one at a time under a progress bar).

    Parameters
    ----------
    a, b : PreparedECG
        The two ECGs.
    attribution_a, attribution_b : Attribution
        Their attributions (values (12, 608)); must share method, baseline and steps.

    Raises
    ------
    ValueError
        The two attributions were made with different methods, baselines or steps.
    """
    same = (attribution_a.method, attribution_a.baseline, attribution_a.n_steps)
    if same != (attribution_b.method, attribution_b.baseline, attribution_b.n_steps):
        raise ValueError("both ECGs must be explained with the same method, baseline and steps; got "
                         f"{attribution_a.label!r} and {attribution_b.label!r}")
    sa, sb = beat_segments(a), beat_segments(b)
    ca, cb = segment_sums(attribution_a.values, sa), segment_sums(attribution_b.values, sb)
    change = cb - ca
    return AttributionChange(attribution_a, attribution_b, sa, sb, ca, cb, change, change.sum(axis=1))


def attribution_change(model: Any, a: PreparedECG, b: PreparedECG, *, method: str = "integrated_gradients",
                       baseline: str = "zeros", n_steps: int = DEFAULT_IG_STEPS) -> AttributionChange:
    """Explain both ECGs with one method and baseline and locate the difference.

    Parameters
    ----------
    model : RiskModel
        Shared, read-only; attributions run on private copies (:func:`hfviz.risk.explain.attribute`).
    a, b : PreparedECG
        ECG A and ECG B.
    method : str
        Key of :data:`hfviz.risk.explain.METHODS`.
    baseline : str
        Key of :data:`hfviz.risk.explain.BASELINES` (``"cohort_median"`` needs ``model.cohort_beats``).
    n_steps : int
        Integrated-Gradients steps.

    Returns
    -------
    AttributionChange
    """
    beats = getattr(model, "cohort_beats", None)
    attrs = [attribute(model, p.model_input, method=method, baseline=baseline, n_steps=int(n_steps),
                       cohort_beats=beats) for p in (a, b)]
    return attribution_change_from(a, b, *attrs)


# --- measurements -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class MeasurementChange:
    """One global measurement of both ECGs.

    Attributes
    ----------
    key : str
        One of :data:`hfviz.ecg.measure.MEASUREMENT_KEYS` (e.g. ``"qtc_bazett_ms"``).
    unit : str
        ``"bpm"``, ``"ms"``, ``"deg"`` or ``"mV"``.
    a, b : float or None
        The values (``None`` when not measurable).
    change : float or None
        ``b - a``; for axes (``deg``) wrapped to (−180, 180]; ``None`` unless both were measured.
    note : str
        Why a value is missing ("A: no P wave found …"), else "".
    """

    key: str
    unit: str
    a: float | None
    b: float | None
    change: float | None
    note: str = ""


def measurement_changes(a: Mapping[str, Measurement], b: Mapping[str, Measurement]) -> tuple[MeasurementChange, ...]:
    """Both ECGs' measurements and their differences B − A, in :data:`MEASUREMENT_KEYS` order.

    Parameters
    ----------
    a, b : dict of str to Measurement
        ``PreparedECG.measurements`` of ECG A and ECG B.

    Returns
    -------
    tuple of MeasurementChange
    """
    out = []
    for key in MEASUREMENT_KEYS:
        ma, mb = a.get(key), b.get(key)
        if ma is None and mb is None:
            continue
        va = None if ma is None else ma.value
        vb = None if mb is None else mb.value
        unit = (ma or mb).unit
        change = None
        if va is not None and vb is not None:
            change = float(vb) - float(va)
            if unit == "deg":
                change = -((-change + 180.0) % 360.0 - 180.0)  # (-180, 180]
        notes = [f"{side}: {getattr(m, 'reason', None) or 'not measurable'}"
                 for side, m, v in (("A", ma, va), ("B", mb, vb)) if v is None]
        out.append(MeasurementChange(key, unit, va, vb, change, "; ".join(notes)))
    return tuple(out)


_UNIT_TEXT = {"ms": " ms", "bpm": " bpm", "deg": "°", "mV": " mV"}


def _fmt(value: float | None, unit: str, *, signed: bool = False) -> str:
    if value is None:
        return "—"
    text = f"{value:{'+' if signed else ''}.{2 if unit == 'mV' else 0}f}"
    if signed and float(text) == 0:
        text = text.lstrip("+-")
    return text.replace("-", "−") + _UNIT_TEXT.get(unit, f" {unit}")


def measurement_change_frame(changes: tuple[MeasurementChange, ...], *,
                             names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """The measurements of both ECGs side by side, as a table for a page or a report.

    Parameters
    ----------
    changes : tuple of MeasurementChange
        From :func:`measurement_changes`.
    names : mapping of str to str, optional
        On-screen name of each key (the Patient page's, e.g. ``"QTc (Bazett)"``); default the key.

    Returns
    -------
    DataFrame
        Columns "Measurement", "ECG A", "ECG B", "Change (B − A)", "Note"; values as text with
        their unit ("412 ms", "+32 ms", "−15°", "2.10 mV"), "—" where not measured.
    """
    names = names or {}
    rows = [{"Measurement": names.get(c.key, c.key), "ECG A": _fmt(c.a, c.unit), "ECG B": _fmt(c.b, c.unit),
             "Change (B − A)": _fmt(c.change, c.unit, signed=True), "Note": c.note} for c in changes]
    return pd.DataFrame(rows, columns=["Measurement", "ECG A", "ECG B", "Change (B − A)", "Note"])


# --- everything -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, eq=False)
class Comparison:
    """ECG B against ECG A: risk, attributions and measurements (every change is B − A).

    Attributes
    ----------
    risk : RiskChange
        Both assessments and the change in log-risk, percentile and S(horizon).
    attributions : AttributionChange or None
        One method and baseline for both, per lead and part of the beat; ``None`` when not
        computed (they cost two attributions).
    measurements : tuple of MeasurementChange
        Both ECGs' global measurements and their differences.
    """

    risk: RiskChange
    attributions: AttributionChange | None
    measurements: tuple[MeasurementChange, ...]


def compare_ecgs(model: Any, a: PreparedECG, b: PreparedECG, *, method: str = "integrated_gradients",
                 baseline: str = "zeros", n_steps: int = DEFAULT_IG_STEPS,
                 horizon_months: float = DEFAULT_HORIZON_MONTHS, explain: bool = True) -> Comparison:
    """Compare ECG B with ECG A under one model: risk, attributions (one method and baseline) and measurements.

    Parameters
    ----------
    model : RiskModel
        A loaded shipped model (read-only).
    a, b : PreparedECG
        ECG A (e.g. the previous one) and ECG B; any formats (each was read and prepared on its own).
    method, baseline, n_steps
        The one attribution set-up used for both (see :func:`attribution_change`).
    horizon_months : float
        Horizon of the survival change (months).
    explain : bool
        Compute the attributions (two attribution runs); ``False`` leaves ``attributions`` None.

    Returns
    -------
    Comparison
    """
    attrs = attribution_change(model, a, b, method=method, baseline=baseline, n_steps=n_steps) if explain else None
    return Comparison(risk=risk_change(model, a, b, horizon_months=horizon_months), attributions=attrs,
                      measurements=measurement_changes(a.measurements, b.measurements))
