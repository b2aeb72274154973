"""Survival statistics against independent references (lifelines, scikit-learn, naive loops)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from lifelines import CoxPHFitter, KaplanMeierFitter
from lifelines.utils import concordance_index as lifelines_ci
from sklearn.metrics import roc_auc_score

from hfviz.risk import survival as sv


@pytest.fixture(scope="module")
def cohort():
    """Small cohort with tied times and tied risks (fixed seed)."""
    rng = np.random.default_rng(7)
    n = 80
    x = rng.normal(size=(n, 2))
    t = np.round(rng.exponential(30 * np.exp(-0.7 * x[:, 0] + 0.3 * x[:, 1])) + 1)  # integer months: ties
    e = (rng.random(n) < 0.6).astype(int)
    return x, t, e


def _naive_partial_ll(eta, t, e, ties):
    ll = 0.0
    for tk in np.unique(t[e == 1]):
        dk = (t == tk) & (e == 1)
        risk = np.exp(eta[t >= tk]).sum()
        tied = np.exp(eta[dk]).sum()
        d = dk.sum()
        ll += eta[dk].sum()
        if ties == "breslow":
            ll -= d * np.log(risk)
        else:
            ll -= sum(np.log(risk - l / d * tied) for l in range(d))
    return ll


def test_cox_nll_equals_lifelines_log_likelihood_at_its_fit(cohort):
    x, t, e = cohort
    df = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "T": t, "E": e})
    cph = CoxPHFitter().fit(df, "T", "E")  # Efron ties
    eta = torch.tensor(x @ cph.params_.to_numpy(), dtype=torch.float64)
    nll = sv.cox_nll(eta, t, e, ties="efron", reduction="sum")
    assert float(-nll) == pytest.approx(cph.log_likelihood_, rel=1e-8)


@pytest.mark.parametrize("ties", ["efron", "breslow"])
def test_cox_nll_matches_naive_formula(cohort, ties):
    x, t, e = cohort
    eta = x @ np.array([0.4, -0.9]) + 3.0
    nll = sv.cox_nll(torch.tensor(eta), t, e, ties=ties, reduction="mean")
    assert float(nll) == pytest.approx(-_naive_partial_ll(eta, t, e, ties) / e.sum(), rel=1e-10)


def test_cox_nll_gradient_flows_and_no_events_gives_zero():
    eta = torch.zeros(4, requires_grad=True)
    loss = sv.cox_nll(eta, [1, 2, 3, 4], [0, 0, 0, 0])
    loss.backward()
    assert float(loss.detach()) == 0.0 and eta.grad is not None


def test_concordance_index_equals_lifelines(cohort):
    x, t, e = cohort
    risk = np.round(x[:, 0], 1)  # rounded: tied predictions
    assert sv.concordance_index(t, risk, e) == pytest.approx(lifelines_ci(t, -risk, e), abs=1e-12)


def test_breslow_survival_equals_lifelines_prediction(cohort):
    x, t, e = cohort
    df = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "T": t, "E": e})
    cph = CoxPHFitter().fit(df, "T", "E")
    eta = x @ cph.params_.to_numpy()
    base = sv.breslow_baseline(t, eta, e)
    times = np.array([5.0, 12.0, 30.0, 60.0])
    ours = base.predict_survival_function(eta[:5], times)
    ref = cph.predict_survival_function(df.iloc[:5], times=times).to_numpy().T
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-9)


def test_predicted_survival_is_monotone_and_within_unit_interval(cohort):
    x, t, e = cohort
    base = sv.breslow_baseline(t, x[:, 0], e)
    s = base.predict_survival_function(np.array([-3.0, 0.0, 4.0]), np.linspace(0, 200, 101))
    assert ((s >= 0) & (s <= 1)).all()
    assert (np.diff(s, axis=1) <= 1e-15).all()
    assert (s[:, 0] == 1).all()


def test_kaplan_meier_equals_lifelines(cohort):
    _, t, e = cohort
    kt, ks = sv.kaplan_meier(t, e)
    kmf = KaplanMeierFitter().fit(t, e)
    grid = np.array([0.5, 3, 10, 25, 50, 100])
    np.testing.assert_allclose(sv.step_at(kt, ks, grid), kmf.survival_function_at_times(grid).to_numpy(), atol=1e-12)


def test_time_dependent_auc_without_censoring_is_roc_auc():
    rng = np.random.default_rng(3)
    t = rng.exponential(40, 200)
    r = -np.log(t) + rng.normal(0, 1, 200)
    e = np.ones(200, int)
    auc = sv.time_dependent_auc(t, r, e, [12.0, 36.0])
    for a, tau in zip(auc, [12.0, 36.0]):
        assert a == pytest.approx(roc_auc_score(t <= tau, r))


def test_brier_without_censoring_is_mean_squared_error():
    rng = np.random.default_rng(4)
    t = rng.exponential(40, 100)
    e = np.ones(100, int)
    s = rng.random((100, 2))
    bs = sv.brier_scores(t, e, s, [10.0, 30.0])
    np.testing.assert_allclose(bs, [np.mean(((t > 10) - s[:, 0]) ** 2), np.mean(((t > 30) - s[:, 1]) ** 2)])


def test_calibration_table_has_one_row_per_decile(cohort):
    x, t, e = cohort
    s60 = sv.breslow_baseline(t, x[:, 0], e).predict_survival_function(x[:, 0], [60.0])[:, 0]
    tab = sv.calibration_table(t, e, s60, t=60.0, n_groups=10)
    assert list(tab["group"]) == list(range(1, 11)) and tab["n"].sum() == len(t)
    assert tab["predicted"].is_monotonic_increasing


def test_bootstrap_interval_contains_estimate(cohort):
    x, t, e = cohort
    est, lo, hi = sv.bootstrap_ci(sv.concordance_index, t, x[:, 0], e, n_boot=50)
    assert lo <= est <= hi and 0 <= lo < hi <= 1


def test_group_statistics_separate_strong_risk_groups(cohort):
    x, t, e = cohort
    high = x[:, 0] > np.median(x[:, 0])
    hr = sv.hazard_ratio(t, e, high)
    assert hr["lower"] < hr["hr"] < hr["upper"]
    lr = sv.logrank(t, e, np.where(high, "high", "low"))
    assert 0 <= lr["p_value"] <= 1
    curves = sv.km_by_group(t, e, np.where(high, "high", "low"))
    assert set(curves) == {"high", "low"}


def _naive_c(t, r, e):
    correct = tied = pairs = 0.0
    for i in np.nonzero(e)[0]:
        comp = (t > t[i]) | ((t == t[i]) & (e == 0))
        pairs += comp.sum()
        correct += (comp & (r[i] > r)).sum()
        tied += (comp & (r[i] == r)).sum()
    return (correct + 0.5 * tied) / pairs


@pytest.mark.parametrize("n,seed", [(1, 0), (7, 1), (300, 2), (1000, 3)])
def test_concordance_index_equals_a_pair_by_pair_count_with_tied_times_risks_and_duplicates(n, seed):
    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(20, n))  # whole months: tied times, some of them events and censored at once
    r = np.round(rng.normal(0, 1, n), 1)  # tied risks
    e = (rng.random(n) < 0.3).astype(int)
    boot = rng.integers(0, n, n)  # a bootstrap resample: duplicated subjects
    for idx in (np.arange(n), boot):
        want = _naive_c(t[idx], r[idx], e[idx])
        got = sv.concordance_index(t[idx], r[idx], e[idx])
        assert (np.isnan(want) and np.isnan(got)) or got == pytest.approx(want, abs=1e-12)
