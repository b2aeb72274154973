"""Recalibration and calibration metrics on data with a known proportional-hazards truth."""

import numpy as np
import pytest

from hfviz.risk.calibration import calibration_metrics, fit_recalibration


def _cohort(n=4000, seed=0, scale=100.0):
    """Exponential event times with hazard exp(lp) / scale, uniform censoring over 0-84 months."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(0.0, 1.0, n)
    t_event = rng.exponential(scale * np.exp(-lp))
    t_cens = rng.uniform(20.0, 84.0, n)
    return lp, np.minimum(t_event, t_cens), (t_event <= t_cens).astype(int)


def test_recalibration_recovers_a_doubled_log_risk_scale():
    lp, time, event = _cohort()
    recal = fit_recalibration(2.0 * lp, time, event)  # a model whose log-risk is twice too steep
    assert recal.slope == pytest.approx(0.5, abs=0.05)
    assert recal.events == int(event.sum())


def test_true_model_is_calibrated_and_a_too_steep_one_is_not():
    lp_cal, t_cal, e_cal = _cohort(seed=1)
    lp_val, t_val, e_val = _cohort(seed=2)
    recal = fit_recalibration(2.0 * lp_cal, t_cal, e_cal)
    good = calibration_metrics(recal.predict_survival_function, 2.0 * lp_val, t_val, e_val)
    assert good["slope"] == pytest.approx(1.0, abs=0.1)
    assert good["at"][60.0]["ici"] < 0.02
    assert abs(good["at"][60.0]["citl"]) < 0.03

    # the same steep model with the baseline of the well-scaled one: predictions too extreme
    bad_recal = fit_recalibration(lp_cal, t_cal, e_cal)
    bad = calibration_metrics(bad_recal.predict_survival_function, 2.0 * lp_val, t_val, e_val)
    assert bad["slope"] == pytest.approx(0.5, abs=0.07)
    assert bad["at"][60.0]["ici"] > 2 * good["at"][60.0]["ici"]


def test_recalibration_round_trips_through_its_card_form():
    from hfviz.risk.calibration import Recalibration

    lp, time, event = _cohort(n=500)
    recal = fit_recalibration(lp, time, event)
    again = Recalibration.from_dict(recal.to_dict())
    s1 = recal.predict_survival_function(lp[:5], [12.0, 60.0])
    assert np.array_equal(s1, again.predict_survival_function(lp[:5], [12.0, 60.0]))
