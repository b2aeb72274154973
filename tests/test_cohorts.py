"""Synthetic cohorts: the hazard model, outcomes, oracle C-index, determinism, CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hfviz.synthetic import cohorts as co
from hfviz.synthetic import simulate as sim
from hfviz.cli import main
from hfviz.data.dataset import load_dataset


def _truth(**kw):
    base = {"conditions": [], "qrs_ms": 95.0, "lvh_strain": False, "mi_territories": [], "qtc_bazett_ms": 420.0,
            "hr_bpm": 68.0, "fqrs_index": 0.0, "t_inversion": False, "mi_t_inversion": {}}
    base.update(kw)
    return base


@pytest.mark.parametrize(
    "change",
    [
        {"qrs_ms": 150.0},
        {"conditions": ["lbbb"]},
        {"conditions": ["lvh"]},
        {"conditions": ["af"]},
        {"mi_territories": ["anterior"]},
        {"qtc_bazett_ms": 500.0},
        {"hr_bpm": 105.0},
        {"conditions": ["low_voltage"]},
        {"fqrs_index": 0.8},
        {"t_inversion": True},
    ],
)
def test_every_risk_feature_raises_the_ecg_log_hazard(change):
    assert co.ecg_log_hazard(_truth(**change)) > co.ecg_log_hazard(_truth()) == 0.0


def test_older_age_and_male_sex_raise_the_demographic_log_hazard():
    assert co.demographic_log_hazard(70, "F") > co.demographic_log_hazard(60, "F")
    assert co.demographic_log_hazard(60, "M") > co.demographic_log_hazard(60, "F")


def test_outcomes_follow_the_target_event_rate_and_censoring_design():
    rng = np.random.default_rng(0)
    eta = rng.normal(0, 0.8, size=20000)
    time, event, info = co.draw_outcomes(eta, 0.04, rng)
    assert abs(event.mean() - 0.04) < 0.006
    assert time.max() <= 84.0 and time.min() > 0
    assert 50 <= np.median(time) <= 56
    # higher log-hazard -> events more often (the proportional-hazards direction)
    hi = eta > np.quantile(eta, 0.9)
    lo = eta < np.quantile(eta, 0.1)
    assert event[hi].mean() > 3 * event[lo].mean()
    assert info["weibull_shape"] == co.WEIBULL_SHAPE and info["weibull_lambda"] > 0


def _ecg_hazards(preset, n, seed=0):
    """True log-hazards of n subjects of a preset (strip truth only; no median beats needed)."""
    p = co.PRESETS[preset]
    subjects = co.draw_subjects(p, n, np.random.default_rng(seed))
    out = []
    for i, s in enumerate(subjects):
        rng = np.random.default_rng([seed, i, 0])
        params = sim.sample_params(rng, s["conditions"], age=s["age"], sex=s["sex"])
        _, truth = sim.simulate_ecg(params, rng, noise=0.0)
        out.append(co.ecg_log_hazard(truth) + co.demographic_log_hazard(s["age"], s["sex"]))
    return np.array(out)


@pytest.mark.parametrize("preset", ["mi", "hyp"])
def test_oracle_c_index_of_a_medium_cohort_is_between_070_and_080(preset):
    p = co.PRESETS[preset]
    tl = _ecg_hazards(preset, 500)
    cs = []
    for rep in range(8):  # average over outcome draws: a single small cohort's C is noisy
        rng = np.random.default_rng([rep, 1])
        u = rng.normal(0, p.sigma_u, size=tl.size)
        t, e, _ = co.draw_outcomes(tl + u, max(p.event_rate, 0.04), rng)
        cs.append(co.concordance(t, tl, e))
    assert 0.70 <= float(np.mean(cs)) <= 0.82


def test_generate_cohort_is_deterministic_and_independent_of_workers():
    b1, t1, m1 = co.generate_cohort("mi", n=27, seed=7)
    b2, t2, m2 = co.generate_cohort("mi", n=27, seed=7, workers=2)  # two chunks in two processes
    b3, _, _ = co.generate_cohort("mi", n=27, seed=8)
    assert np.array_equal(b1, b2) and t1.equals(t2)
    assert not np.array_equal(b1, b3)
    assert m1.get("oracle_cindex") == m2.get("oracle_cindex")


def test_mi_cohort_rows_carry_outcomes_truth_and_reports():
    beats, table, meta = co.generate_cohort("mi", n=40, seed=1)
    assert beats.shape == (40, 12, 608) and beats.dtype == np.float32
    assert np.all(beats[:, :, :4] == 0) and np.all(beats[:, :, -4:] == 0)
    assert table["id"].is_unique and set(table["event"]) <= {0, 1}
    assert table["time_months"].between(0, 84).all()
    np.testing.assert_allclose(table["true_log_hazard"], table["ecg_log_hazard"] + table["demo_log_hazard"], atol=1e-5)
    # every MI subject has an infarct or (non-Q infarct) at most T changes; reports are non-empty
    assert table["report"].str.len().min() > 5
    assert all(isinstance(json.loads(s), dict) for s in table["scp_codes"])
    assert meta["source"] == "synthetic" and meta["preset"] == "mi" and meta["hazard_model"]["sigma_u"] == 1.0
    assert meta["hazard_model"]["ecg_coefficients"] == co.ECG_COEF
    assert (table["phenotype"].str.contains("mi_")).mean() > 0.6


def test_pretrain_corpus_has_reports_and_no_outcomes():
    beats, table, meta = co.generate_cohort("pretrain", n=20, seed=2)
    assert table["time_months"].isna().all() and table["event"].isna().all()
    assert "oracle_cindex" not in meta and table["report"].str.endswith(".").all()


def test_simulate_cli_writes_a_loadable_synthetic_dataset_with_progress_on_stderr(tmp_path, capsys):
    out = tmp_path / "mi"
    assert main(["simulate", "--preset", "mi", "--n", "12", "--seed", "3", "--out", str(out)]) == 0
    cap = capsys.readouterr()
    summary = json.loads(cap.out)
    assert summary["n"] == 12 and summary["source"] == "synthetic"
    assert "simulate mi" in cap.err  # tqdm progress bar
    ds = load_dataset(out)
    assert ds.n == 12 and ds.has_outcomes and ds.meta["synthetic"] is True


def test_simulate_cli_rejects_a_non_positive_n(tmp_path, capsys):
    assert main(["simulate", "--preset", "hyp", "--n", "0", "--out", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err.startswith("error:")
