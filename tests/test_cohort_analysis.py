"""Cohort analysis behind the Cohort page (hfviz.cohort_analysis)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dashboard_fixtures import predictions_csv
from hfviz.risk import cohort, groups
from hfviz.risk import survival
from hfviz.errors import DataFormatError


def _table(n=300, seed=0):
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    t = rng.exponential(200.0 / np.exp(risk))
    c = rng.uniform(12, 84, n)
    return pd.DataFrame({"id": np.arange(n).astype(str), "log_risk": risk, "time_months": np.minimum(t, c),
                         "event": (t <= c).astype(int)})


def test_predictions_csv_is_read_into_canonical_columns():
    df = cohort.read_predictions_csv("mine.csv", predictions_csv(50))
    assert list(df.columns) == list(cohort.PREDICTION_COLUMNS)
    assert df["event"].dtype.kind == "i" and df["log_risk"].dtype.kind == "f" and len(df) == 50


@pytest.mark.parametrize("text, words", [
    ("id,score_x,time,event\n" + "1,2,3,1\n" * 12, "missing column risk"),
    ("id,risk\n" + "1,2\n" * 12, "missing columns time, event"),
    ("id,risk,time,event\n" + "1,0.5,10,1\n" * 5 + "6,high,10,0\n" + "1,0.5,10,1\n" * 6, "row 7 has 'high'"),
    ("id,risk,time,event\n" + "1,0.5,10,1\n" * 5 + "6,0.1,,0\n" + "1,0.5,10,1\n" * 6, "column time must be numeric, but row 7 is empty"),
    ("id,risk,time,event\n" + "1,0.5,-3,1\n" * 12, "negative"),
    ("id,risk,time,event\n" + "1,0.5,3,2\n" * 12, "0 (censored) or 1"),
    ("id,risk,time,event\n" + "1,0.5,3,0\n" * 12, "no events"),
    ("id,risk,time,event\n" + "1,0.5,3,1\n" * 3, "only 3 rows"),
    ("id,risk,time,event\n" + "1,inf,3,1\n" * 12, "column risk must be numeric"),
    ("", "empty"),
])
def test_bad_predictions_csv_names_the_file_and_the_problem(text, words):
    with pytest.raises(DataFormatError) as err:
        cohort.read_predictions_csv("theirs.csv", text.encode())
    assert str(err.value).startswith("theirs.csv: ") and words in str(err.value)


def test_binary_file_is_not_a_predictions_csv():
    with pytest.raises(DataFormatError, match="not a text CSV"):
        cohort.read_predictions_csv("x.csv", bytes(range(256)) * 4)


@pytest.mark.parametrize("scheme, k, sizes", [("tertiles", 10, [100, 100, 100]), ("quartiles", 10, [75] * 4),
                                              ("top_k", 4, [288, 12])])
def test_risk_groups_split_at_quantiles(scheme, k, sizes):
    df = _table()
    g = groups.assign_groups(df.log_risk, scheme, top_k_percent=k)
    assert [int(np.sum(g.labels == name)) for name in g.order] == sizes
    means = [df.log_risk[g.labels == name].mean() for name in g.order]
    assert means == sorted(means)
    assert list(g.cutoffs) == list(g.order[1:])


def test_km_table_matches_the_project_estimator_and_its_band_contains_it():
    df = _table()
    km = cohort.km_table(df.time_months, df.event)
    times, surv = survival.kaplan_meier(df.time_months, df.event)
    np.testing.assert_allclose(km.survival.to_numpy(), survival.step_at(times, surv, km.timeline.to_numpy()), atol=1e-12)
    assert np.all(km.ci_lower <= km.survival + 1e-12) and np.all(km.survival <= km.ci_upper + 1e-12)


def test_at_risk_counts_people_still_followed():
    t = np.array([5, 15, 30, 40, 100.0])
    table = cohort.at_risk_table(t, ["a", "a", "b", "b", "b"], ["a", "b"], [0, 12, 36])
    assert table.loc["a"].tolist() == [2, 1, 0] and table.loc["b"].tolist() == [3, 3, 2]


def test_summary_uses_the_project_c_index_and_finds_the_risk_gradient():
    df = _table()
    g = groups.assign_groups(df.log_risk, "tertiles")
    s = cohort.summarise(df, g, n_boot=50)
    assert s.c_index[0] == pytest.approx(survival.concordance_index(df.time_months, df.log_risk, df.event))
    assert s.c_index[1] < s.c_index[0] < s.c_index[2]
    assert s.hazard_ratio["hr"] > 1 and s.logrank_p < 0.05
    assert (s.high_label, s.low_label) == ("high", "low")


def test_analyse_gives_curves_table_and_calibration_with_ci():
    df = _table()
    a = cohort.analyse(df, scheme="quartiles", horizon_months=48, n_boot=20)
    assert list(a.curves) == list(a.at_risk.index) == list(a.groups.order)
    cal = a.calibration
    assert np.all(cal.observed_lower <= cal.observed + 1e-9) and np.all(cal.observed <= cal.observed_upper + 1e-9)
    assert cal.n.sum() == len(df)


def test_percentile_sentence():
    assert cohort.percentile_sentence(87.4, "MI-like cohort (synthetic)") == "higher than 87 % of the MI-like cohort (synthetic)"


def test_tied_risks_at_a_cut_stay_together_in_the_lower_group():
    r = np.concatenate([np.zeros(60), np.linspace(0.1, 1.0, 40)])  # a saturated floor, as a ReLU head gives
    g = groups.assign_groups(r, "tertiles")
    sizes = {name: int(np.sum(g.labels == name)) for name in g.order}
    assert sizes["low"] == 60 and sizes["intermediate"] > 0 and sizes["high"] > 0
