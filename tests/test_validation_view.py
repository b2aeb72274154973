"""What the dashboard says about a model's independent validation and recalibration (hfviz.dashboard.validation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dashboard_fixtures import build_model_dir

from hfviz.dashboard import model_card, validation
from hfviz.risk import survival
from hfviz.risk.model import load_risk_model


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = build_model_dir(tmp_path_factory.mktemp("models"))  # MI validated, HYP not
    return load_risk_model("mi", d), load_risk_model("hyp", d)


def test_sources_start_on_the_validation_cohort_only_when_the_model_ships_one(models):
    mi, hyp = models
    assert list(validation.prediction_sources(mi)) == ["validation", "shipped", "upload"]
    assert validation.default_source(mi) == "validation" and validation.default_source(hyp) == "shipped"
    assert "validation" not in validation.prediction_sources(hyp)
    assert list(validation.prediction_sources(None)) == ["upload"]
    v = mi.validation_predictions
    label = validation.prediction_sources(mi)["validation"]
    assert "synthetic" in label and f"{len(v):,} people, {int(v['event'].sum()):,} events" in label
    assert validation.source_predictions(mi, "validation") is v
    assert validation.source_predictions(mi, "shipped") is mi.cohort_predictions


def test_cohort_page_c_index_is_the_cards_for_each_shipped_source_and_none_for_uploads(models):
    mi, hyp = models
    assert validation.source_c_index(mi, "validation") == validation.validation_c_index(mi.card)
    assert validation.source_c_index(mi, "validation") is not None
    assert validation.source_c_index(mi, "shipped") == model_card.card_c_index(mi.card)
    assert validation.source_c_index(hyp, "validation") is None and validation.source_c_index(mi, "upload") is None


def test_after_table_of_the_card_is_what_the_recalibration_gives_on_the_shipped_validation_predictions(models):
    mi, _ = models
    tables = validation.calibration_tables_60m(mi)
    assert list(tables) == ["before recalibration", "after recalibration"]
    v = mi.validation_predictions
    s60 = mi.recalibration.predict_survival_function(v["log_risk"].to_numpy(float), [60.0])[:, 0]
    again = survival.calibration_table(v["time_months"], v["event"], s60, t=60.0)
    pd.testing.assert_frame_equal(tables["after recalibration"][again.columns], again, check_dtype=False, atol=1e-6)
    # before uses the training baseline: a different prediction for the same people and the same observed risk
    assert not np.allclose(tables["before recalibration"]["predicted"], again["predicted"])
    np.testing.assert_allclose(tables["before recalibration"]["observed"].sum(), again["observed"].sum(), rtol=0.2)


def test_model_without_validation_has_no_tables_and_says_its_risk_is_not_recalibrated(models):
    _, hyp = models
    assert validation.calibration_tables_60m(hyp) == {}
    assert validation.validation_facts(hyp.card) is None and validation.calibration_metrics_frame(hyp.card) is None
    assert validation.validation_c_index(hyp.card) is None and validation.calibration_verdict(hyp.card) is None
    assert "not recalibrated" in validation.absolute_risk_note(hyp)
    assert "uncalibrated" in model_card.card_calibration_status(hyp.card)


def test_validation_tables_have_human_labels_and_the_cards_numbers(models):
    mi, _ = models
    card = mi.card
    facts = validation.validation_facts(card)
    assert list(facts.columns) == ["field", "value"] and not facts["field"].str.contains("_").any()
    text = " ".join(facts["value"])
    c, (lo, hi) = card["validation"]["c_index"], card["validation"]["c_index_ci"]
    assert f"{c:.3f} (95 % CI {lo:.3f}–{hi:.3f})" in text
    assert f"{card['validation']['oracle_c_index']:.3f}" in text
    metrics = validation.calibration_metrics_frame(card)
    assert len(metrics) == 6 and set(metrics["absolute risk"]) == {"before recalibration", "after recalibration"}
    assert not any("_" in col for col in metrics.columns)
    after60 = metrics[(metrics["horizon"] == "60 months") & (metrics["absolute risk"] == "after recalibration")].iloc[0]
    assert after60["ICI"] == f"{card['validation']['after']['at']['60.0']['ici']:.3f}"
    verdict = validation.calibration_verdict(card)
    slope = card["validation"]["after"]["slope"]
    assert f"{slope:.2f}" in verdict and ("within" in verdict) == (0.8 <= slope <= 1.2)


def test_patient_calibration_sentence_says_recalibrated_on_an_independent_synthetic_cohort(models):
    mi, _ = models
    sentence = model_card.card_calibration_status(mi.card)
    cc = mi.card["validation"]["calibration_cohort"]
    assert "recalibrated on an independent synthetic cohort" in sentence
    assert f"{cc['n']:,} people, {cc['events']:,} events" in sentence
    assert "uncalibrated" not in sentence
    assert "recalibrated on an independent synthetic calibration cohort" in validation.absolute_risk_note(mi)
