"""Cohort analysis behind the dashboard's Cohort page: risk groups, KM curves, summary tests.

Pure functions over a predictions table with the columns ``id``, ``log_risk``, ``time_months``,
``event`` (a shipped model's held-out predictions, or a researcher's own CSV read by
:func:`read_predictions_csv`). The statistics come from :mod:`hfviz.survival` (C-index,
bootstrap CI, log-rank, hazard ratio, Breslow baseline, calibration table); this module adds
what the page needs on top: risk-group assignment (tertiles, quartiles, top k %), Kaplan–Meier
curves with 95 % confidence bands (lifelines, exponential Greenwood), numbers at risk, and
confidence intervals for the calibration bins.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from hfviz.risk import survival
from hfviz.errors import DataFormatError
from hfviz.risk.groups import RiskGroups, assign_groups

PREDICTION_COLUMNS = ("id", "log_risk", "time_months", "event")
#: Column names accepted in an uploaded predictions CSV, mapped to the canonical ones.
_ALIASES = {
    "id": "id", "eid": "id", "patient_id": "id",
    "risk": "log_risk", "log_risk": "log_risk", "score": "log_risk", "log_hazard": "log_risk",
    "time": "time_months", "time_months": "time_months", "months": "time_months",
    "event": "event", "status": "event", "hf": "event",
}
MAX_PREDICTION_ROWS = 200_000


def read_predictions_csv(name: str, data: bytes) -> pd.DataFrame:
    """Read a researcher's predictions CSV (columns id, risk, time, event).

    Parameters
    ----------
    name : str
        File name, used in messages.
    data : bytes
        The file's bytes (never written to disk).

    Returns
    -------
    DataFrame
        Columns ``id`` (str), ``log_risk`` (float, higher = higher risk), ``time_months``
        (float >= 0), ``event`` (int 0/1).

    Raises
    ------
    DataFormatError
        One sentence naming the file and the problem: not a CSV, missing columns, non-numeric
        or missing values (with the first offending row), negative times, events other than
        0/1, too few rows or no events.
    """
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DataFormatError(f"{name}: not a text CSV file (it is not UTF-8 text).") from None
    if not text.strip():
        raise DataFormatError(f"{name}: the file is empty.")
    try:
        df = pd.read_csv(io.StringIO(text), sep=None, engine="python", dtype=str, nrows=MAX_PREDICTION_ROWS + 1)
    except Exception as exc:  # noqa: BLE001 - csv.Error, ParserError, …: all mean "not a CSV we can read"
        reason = "it is empty" if isinstance(exc, pd.errors.EmptyDataError) else "it could not be parsed as CSV"
        raise DataFormatError(f"{name}: not a readable predictions CSV ({reason}).") from None
    if len(df) > MAX_PREDICTION_ROWS:
        raise DataFormatError(f"{name}: more than {MAX_PREDICTION_ROWS} rows; split the file.")
    rename = {}
    for col in df.columns:
        key = str(col).strip().lower()
        if key in _ALIASES and _ALIASES[key] not in rename.values():
            rename[col] = _ALIASES[key]
    df = df.rename(columns=rename)
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        wanted = {"log_risk": "risk", "time_months": "time", "id": "id", "event": "event"}
        raise DataFormatError(
            f"{name}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(wanted[c] for c in missing)} (need id, risk, time, event)."
        )
    df = df[list(PREDICTION_COLUMNS)].copy()
    if len(df) < 10:
        raise DataFormatError(f"{name}: only {len(df)} rows; at least 10 are needed for survival curves.")
    for col, label in (("log_risk", "risk"), ("time_months", "time"), ("event", "event")):
        raw = df[col].str.strip()
        num = pd.to_numeric(raw, errors="coerce")
        bad = num.isna() | ~np.isfinite(num.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            shown = raw.iloc[i]
            what = "is empty" if shown is None or shown == "" or pd.isna(shown) else f"has {str(shown)[:20]!r}"
            raise DataFormatError(
                f"{name}: column {label} must be numeric, but row {i + 2} {what} ({int(bad.sum())} such rows)."
            )
        df[col] = num.astype(float)
    if (df["time_months"] < 0).any():
        raise DataFormatError(f"{name}: column time has negative values (months since the ECG are expected).")
    if not df["event"].isin([0, 1]).all():
        raise DataFormatError(f"{name}: column event must be 0 (censored) or 1 (heart failure).")
    if df["event"].sum() == 0:
        raise DataFormatError(f"{name}: no events (event = 1); survival curves and the C-index need some.")
    df["event"] = df["event"].astype(int)
    df["id"] = df["id"].fillna("").astype(str)
    return df.reset_index(drop=True)


def check_predictions(df: pd.DataFrame, name: str = "predictions") -> pd.DataFrame:
    """Validate an in-memory predictions table (as :func:`read_predictions_csv` returns)."""
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise DataFormatError(f"{name}: missing columns {', '.join(missing)}.")
    return df


def km_table(time: Sequence[float], event: Sequence[int], *, alpha: float = 0.05) -> pd.DataFrame:
    """Kaplan–Meier estimate with a (1 - alpha) pointwise confidence band (lifelines).

    Returns
    -------
    DataFrame
        Columns ``timeline`` (months, starting at 0), ``survival``, ``ci_lower``, ``ci_upper``.
    """
    from lifelines import KaplanMeierFitter

    kmf = KaplanMeierFitter(alpha=alpha).fit(np.asarray(time, float), np.asarray(event, int))
    sf = kmf.survival_function_.iloc[:, 0].to_numpy()
    ci = kmf.confidence_interval_survival_function_.to_numpy()
    return pd.DataFrame({"timeline": kmf.timeline, "survival": sf, "ci_lower": ci[:, 0], "ci_upper": ci[:, 1]})


def at_risk_table(time: Sequence[float], labels: Sequence[str], order: Sequence[str],
                  times: Sequence[float]) -> pd.DataFrame:
    """Numbers still at risk (time >= t) per group at each of ``times``.

    Returns
    -------
    DataFrame
        Index = groups in ``order``, columns = ``times`` (months), integer counts.
    """
    t = np.asarray(time, float)
    lab = np.asarray(labels)
    rows = {g: [int(np.sum((lab == g) & (t >= x))) for x in times] for g in order}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(times))


@dataclass(frozen=True)
class CohortSummary:
    """Numbers shown beside the KM curves.

    Attributes
    ----------
    n, events : int
        People and heart-failure events.
    c_index : tuple of float
        Harrell's C (estimate, lower, upper) with a 95 % bootstrap CI.
    logrank_p : float
        Log-rank p-value across all groups.
    hazard_ratio : dict
        ``hr``, ``lower``, ``upper``, ``p_value`` of the highest vs the lowest group (Cox).
    high_label, low_label : str
        The groups compared by the hazard ratio.
    """

    n: int
    events: int
    c_index: tuple[float, float, float]
    logrank_p: float
    hazard_ratio: dict
    high_label: str
    low_label: str


def summarise(df: pd.DataFrame, groups: RiskGroups, *, n_boot: int = 200, seed: int = 0) -> CohortSummary:
    """C-index with bootstrap CI, log-rank p and high-vs-low hazard ratio of a predictions table.

    Parameters
    ----------
    df : DataFrame
        Columns ``log_risk``, ``time_months``, ``event``.
    groups : RiskGroups
        From :func:`assign_groups` on ``df.log_risk``.
    n_boot : int
        Bootstrap resamples of the C-index CI.
    seed : int
        Bootstrap seed (results are reproducible).
    """
    t = df["time_months"].to_numpy(float)
    e = df["event"].to_numpy(int)
    r = df["log_risk"].to_numpy(float)
    c = survival.bootstrap_ci(survival.concordance_index, t, r, e, n_boot=n_boot, seed=seed)
    present = [g for g in groups.order if np.any(groups.labels == g)]
    lr_p = survival.logrank(t, e, groups.labels)["p_value"] if len(present) > 1 else float("nan")
    low, high = groups.order[0], groups.order[-1]
    keep = (groups.labels == low) | (groups.labels == high)
    hr = {"hr": float("nan"), "lower": float("nan"), "upper": float("nan"), "p_value": float("nan")}
    if keep.any() and e[keep & (groups.labels == high)].sum() + e[keep & (groups.labels == low)].sum() > 0:
        try:
            hr = survival.hazard_ratio(t[keep], e[keep], groups.labels[keep] == high)
        except Exception:  # noqa: BLE001 - a degenerate Cox fit (e.g. no events in one group) -> NaN
            pass
    return CohortSummary(n=len(df), events=int(e.sum()), c_index=c, logrank_p=float(lr_p), hazard_ratio=hr,
                         high_label=high, low_label=low)


def km_curves(df: pd.DataFrame, groups: RiskGroups) -> dict[str, pd.DataFrame]:
    """KM table with CI for every non-empty group, lowest risk first."""
    t = df["time_months"].to_numpy(float)
    e = df["event"].to_numpy(int)
    return {g: km_table(t[groups.labels == g], e[groups.labels == g]) for g in groups.order
            if np.any(groups.labels == g)}


def calibration_with_ci(df: pd.DataFrame, surv_at_t: np.ndarray, *, horizon_months: float, n_groups: int = 5
                        ) -> pd.DataFrame:
    """:func:`hfviz.risk.survival.calibration_table` plus 95 % KM confidence limits per bin.

    Parameters
    ----------
    df : DataFrame
        Columns ``time_months``, ``event``.
    surv_at_t : ndarray (N,)
        Predicted S(horizon | ECG) of every person.
    horizon_months : float
        Horizon of the calibration (months).
    n_groups : int
        Bins of equal size by predicted risk.

    Returns
    -------
    DataFrame
        Columns ``group``, ``n``, ``events``, ``predicted``, ``observed``, ``observed_lower``,
        ``observed_upper`` (probabilities of HF by the horizon).
    """
    t = df["time_months"].to_numpy(float)
    e = df["event"].to_numpy(int)
    table = survival.calibration_table(t, e, surv_at_t, t=horizon_months, n_groups=n_groups)
    pred = 1.0 - np.asarray(surv_at_t, float)
    ranks = pd.Series(pred).rank(method="first").to_numpy()
    grp = np.minimum((ranks - 1) * n_groups // len(pred), n_groups - 1).astype(int) + 1  # as survival.py
    lo, hi = [], []
    for g in table["group"]:
        km = km_table(t[grp == g], e[grp == g])
        row = km[km["timeline"] <= horizon_months].iloc[-1]
        lo.append(1.0 - float(row["ci_upper"]))
        hi.append(1.0 - float(row["ci_lower"]))
    table["observed_lower"] = lo
    table["observed_upper"] = hi
    return table


def percentile_sentence(percentile: float, cohort_label: str) -> str:
    """Plain-language placement, e.g. ``"higher than 87 % of the MI-like cohort (synthetic)"``."""
    p = float(np.clip(percentile, 0, 100))
    return f"higher than {p:.0f} % of the {cohort_label}"


AT_RISK_TIMES = tuple(range(0, 85, 12))


@dataclass(frozen=True)
class CohortAnalysis:
    """Everything the Cohort page draws for one predictions table and grouping."""

    groups: RiskGroups
    curves: dict
    at_risk: pd.DataFrame
    summary: CohortSummary
    calibration: pd.DataFrame
    horizon_months: float


def analyse(df: pd.DataFrame, *, scheme: str = "tertiles", top_k_percent: float = 10.0, horizon_months: float = 60.0,
            survival_at_horizon: np.ndarray | None = None, n_boot: int = 200) -> CohortAnalysis:
    """Risk groups, KM curves with CI, numbers at risk, summary statistics and calibration.

    Parameters
    ----------
    df : DataFrame
        Predictions: ``log_risk``, ``time_months``, ``event``.
    scheme, top_k_percent
        See :func:`assign_groups`.
    horizon_months : float
        Calibration horizon.
    survival_at_horizon : ndarray (N,), optional
        Predicted S(horizon) per person (from the model's Breslow baseline). When absent, a
        Breslow baseline is fitted on ``df`` itself (:func:`hfviz.risk.survival.breslow_baseline`),
        which makes the calibration in-sample.
    n_boot : int
        Bootstrap resamples for the C-index CI.
    """
    df = check_predictions(df)
    groups = assign_groups(df["log_risk"], scheme, top_k_percent=top_k_percent)
    curves = km_curves(df, groups)
    at_risk = at_risk_table(df["time_months"], groups.labels, [g for g in groups.order if g in curves], AT_RISK_TIMES)
    summary = summarise(df, groups, n_boot=n_boot)
    if survival_at_horizon is None:
        base = survival.breslow_baseline(df["time_months"].to_numpy(float), df["log_risk"].to_numpy(float),
                                         df["event"].to_numpy(int))
        survival_at_horizon = base.predict_survival_function(df["log_risk"].to_numpy(float), [horizon_months])[:, 0]
    calib = calibration_with_ci(df, np.asarray(survival_at_horizon, float), horizon_months=horizon_months)
    return CohortAnalysis(groups, curves, at_risk, summary, calib, float(horizon_months))
