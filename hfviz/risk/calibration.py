"""Absolute-risk calibration: recalibrate a Cox model's survival and measure how well it is calibrated.

A network fine-tuned on few events ranks people well enough but its absolute risk can be off:
its log-risk scale (the slope) and the Breslow baseline were both fitted on the same small
training half. :func:`fit_recalibration` re-estimates both on data the model was not fitted
on (a separately simulated calibration cohort — never the CV test folds):

    S(t | ECG) = exp(-H0_cal(t) * exp(slope * log_risk))

where ``slope`` is the coefficient of a one-covariate Cox model on the model's log-risk and
``H0_cal`` the Breslow baseline of ``slope * log_risk`` on the calibration cohort.

:func:`calibration_metrics` then reports, on another independent cohort, the three figures a
clinical prediction model is judged by (Austin, Harrell & van Klaveren, Stat Med 2020):

- calibration slope: the Cox coefficient of the outcome on the predicted linear predictor
  ``log(-log S(t | x))`` (1 = ideal; < 1 = predictions too extreme);
- calibration-in-the-large at t: observed (Kaplan-Meier) minus mean predicted risk at t;
- ICI at t (integrated calibration index): the mean absolute difference between predicted risk
  at t and the smoothed observed risk — a Cox model of the outcome on a restricted cubic spline
  (3 knots) of ``cloglog(predicted risk at t)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from hfviz.risk.survival import BreslowBaseline, breslow_baseline, kaplan_meier, step_at

#: Horizons (months) at which calibration is reported.
CALIBRATION_TIMES = (12.0, 36.0, 60.0)


@dataclass(frozen=True)
class Recalibration:
    """A recalibrated survival model on top of a network's log-risk.

    Attributes
    ----------
    slope : float
        Multiplier of the network's log-risk (Cox coefficient on the calibration cohort).
    baseline : BreslowBaseline
        Breslow baseline cumulative hazard of ``slope * log_risk`` on the calibration cohort (months).
    n, events : int
        Size of the calibration cohort and its number of events.
    """

    slope: float
    baseline: BreslowBaseline
    n: int
    events: int

    def predict_survival_function(self, log_risk, times) -> np.ndarray:
        """S(t | x) for network log-risks (B,) at months (T,) -> (B, T)."""
        return self.baseline.predict_survival_function(self.slope * np.asarray(log_risk, dtype=np.float64), times)

    def to_dict(self) -> dict:
        """JSON-safe form stored in the model card."""
        return {"slope": self.slope, "baseline": self.baseline.to_dict(), "n": self.n, "events": self.events}

    @classmethod
    def from_dict(cls, d: dict) -> "Recalibration":
        return cls(float(d["slope"]), BreslowBaseline.from_dict(d["baseline"]), int(d["n"]), int(d["events"]))


def _cox_coefficients(covariates: np.ndarray, time, event) -> np.ndarray:
    """Unpenalised Cox coefficients (lifelines, Efron ties) of covariates (N, P) -> (P,)."""
    from lifelines import CoxPHFitter

    x = np.asarray(covariates, dtype=np.float64).reshape(len(time), -1)
    df = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    df["time"], df["event"] = np.asarray(time, dtype=np.float64), np.asarray(event).astype(int)
    fit = CoxPHFitter().fit(df, duration_col="time", event_col="event")
    return fit.params_.to_numpy()


def fit_recalibration(log_risk, time, event) -> Recalibration:
    """Calibration slope and Breslow baseline re-estimated on an independent calibration cohort.

    Parameters
    ----------
    log_risk : array (N,)
        The network's log-risk for each subject of the calibration cohort.
    time : array (N,)
        Follow-up in months.
    event : array (N,)
        1 = heart failure observed.

    Returns
    -------
    Recalibration
    """
    lr = np.asarray(log_risk, dtype=np.float64)
    slope = float(_cox_coefficients(lr[:, None], time, event)[0])
    return Recalibration(slope, breslow_baseline(time, slope * lr, event), len(lr), int(np.sum(event)))


def _spline_basis(x: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Restricted cubic spline basis (Harrell): x and K-2 nonlinear terms, linear beyond the outer knots."""
    k = knots
    scale = (k[-1] - k[0]) ** 2
    cols = [x]
    for j in range(len(k) - 2):
        term = (np.maximum(x - k[j], 0) ** 3
                - np.maximum(x - k[-2], 0) ** 3 * (k[-1] - k[j]) / (k[-1] - k[-2])
                + np.maximum(x - k[-1], 0) ** 3 * (k[-2] - k[j]) / (k[-1] - k[-2]))
        cols.append(term / scale)
    return np.column_stack(cols)


def smoothed_observed_risk(pred_risk_t, time, event, t: float) -> np.ndarray:
    """Observed risk at ``t`` as a smooth function of predicted risk (Austin et al. 2020).

    A Cox model of the outcome on a 3-knot restricted cubic spline of ``cloglog(pred_risk_t)``;
    its survival at ``t`` for each subject gives the observed risk that goes with their
    prediction.

    Returns
    -------
    ndarray (N,)
        Smoothed observed risk at ``t`` for each subject.
    """
    p = np.clip(np.asarray(pred_risk_t, dtype=np.float64), 1e-9, 1 - 1e-9)
    cll = np.log(-np.log(1 - p))
    knots = np.quantile(cll, [0.1, 0.5, 0.9])
    basis = _spline_basis(cll, knots)
    beta = _cox_coefficients(basis, time, event)
    eta = basis @ beta
    base = breslow_baseline(time, eta, event)
    return 1.0 - base.predict_survival_function(eta, [t])[:, 0]


def calibration_metrics(surv_fn, log_risk, time, event, *, times=CALIBRATION_TIMES) -> dict:
    """Calibration slope, calibration-in-the-large and ICI of a survival model on a cohort.

    Parameters
    ----------
    surv_fn : callable
        ``surv_fn(log_risk (N,), times (T,)) -> S (N, T)``, e.g. a RiskModel's or a Recalibration's
        ``predict_survival_function``.
    log_risk : array (N,)
        The network's log-risk on the (independent) evaluation cohort.
    time, event : array (N,)
        Its follow-up (months) and outcomes.
    times : sequence of float
        Horizons in months.

    Returns
    -------
    dict
        ``slope`` (float); ``at`` {horizon: {"predicted", "observed", "citl", "ici", "e50", "e90"}}
        where citl = observed - mean predicted risk and e50/e90 are the median and 90th
        percentile absolute errors.
    """
    time = np.asarray(time, dtype=np.float64)
    event = np.asarray(event).astype(int)
    times = [float(t) for t in times]
    surv = np.asarray(surv_fn(np.asarray(log_risk, dtype=np.float64), times), dtype=np.float64)
    # linear predictor implied by the survival model, as at the last horizon (proportional hazards)
    lp = np.log(-np.log(np.clip(surv[:, -1], 1e-12, 1 - 1e-12)))
    out = {"slope": float(_cox_coefficients(lp[:, None], time, event)[0]), "n": int(len(time)),
           "events": int(event.sum()), "at": {}}
    km_t, km_s = kaplan_meier(time, event)
    for j, t in enumerate(times):
        pred = 1.0 - surv[:, j]
        obs = smoothed_observed_risk(pred, time, event, t)
        err = np.abs(pred - obs)
        observed = float(1.0 - step_at(km_t, km_s, t))
        out["at"][t] = {"predicted": float(pred.mean()), "observed": observed, "citl": observed - float(pred.mean()),
                        "ici": float(err.mean()), "e50": float(np.median(err)), "e90": float(np.quantile(err, 0.9))}
    return out
