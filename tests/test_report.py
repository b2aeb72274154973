"""Patient risk assessment and the offline HTML report (hfviz.report)."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from hfviz import plots, report
from hfviz.model import DualAttentionNet, ModelConfig
from hfviz.preprocess import Measurement


class FakeModel:
    """The RiskModel interface with fixed numbers."""

    cohort = "mi"
    card = {"training_data": "SYNTHETIC cohort"}

    def predict_log_risk(self, x):
        return np.array([0.7] * len(x))

    def percentile(self, lr):
        return 87.4

    def risk_group(self, lr, scheme="tertiles"):
        return "high"

    def predict_survival_function(self, lr, times):
        return np.exp(-np.asarray(times)[None] / 300.0) * np.ones((len(lr), 1))


def test_assess_reports_percentile_group_and_survival_in_plain_words():
    r = report.assess(FakeModel(), np.zeros((12, 608), np.float32))
    assert r.log_risk == pytest.approx(0.7) and r.group == "high"
    assert r.sentence == "Predicted risk higher than 87 % of the MI-like cohort (synthetic) — high tertile."
    assert r.times_months[0] == 0 and r.times_months[-1] == 84
    assert r.survival_at(60) == pytest.approx(np.exp(-0.2))


@pytest.mark.parametrize("card, synthetic", [({}, True), ({"training_data": "UK Biobank MI cohort"}, False),
                                             ({"training_data": "synthetic UKB-like"}, True),
                                             ({"synthetic": False, "training_data": "x"}, False)])
def test_synthetic_label_follows_the_model_card(card, synthetic):
    m = FakeModel()
    m.card = card
    assert report.model_is_synthetic(m) is synthetic


def test_measurements_table_explains_missing_values_and_shows_device_values():
    meas = {"heart_rate_bpm": Measurement(61.0, "bpm"), "pr_ms": Measurement(None, "ms", "no P waves detected")}
    df = report.measurements_frame(meas, {"VentricularRate": {"value": 60.0, "unit": "BPM"}})
    assert df.loc[0, "value"] == "61" and df.loc[0, "from the file"] == "60"
    assert df.loc[1, "value"] == "—" and df.loc[1, "note"] == "no P waves detected"
    assert "from the file" not in report.measurements_frame(meas, None).columns


def test_html_report_is_self_contained_and_labelled_synthetic():
    r = report.assess(FakeModel(), np.zeros((12, 608), np.float32))
    t = np.arange(2500) / 500
    ecg = plots.ecg_paper_figure(np.tile(np.sin(2 * np.pi * t), (12, 1)) * 0.5, 500.0)
    surv = plots.survival_figure(r.times_months, r.survival)
    top = pd.DataFrame({"lead": ["V5"], "from_ms": [440], "to_ms": [504], "attribution": [0.12],
                        "direction": ["raises risk"]})
    html = report.patient_report_html(title="upload <1>.xml", record_info={"format": "wfdb"}, risk=r, ecg_figure=ecg,
                                      survival_figure=surv, measurements=pd.DataFrame({"a": [1]}),
                                      top_attributions=top, attribution_label="IG · baseline: zeros",
                                      model_info={"weights sha256": "abc"})
    assert html.startswith("<!DOCTYPE html>")
    assert "<script src" not in html.lower() and "<link" not in html.lower()  # nothing fetched
    assert len(re.findall(r"<script[^>]*>", html)) >= 3 and len(html) > 3_000_000  # plotly.js inline
    assert html.count("plotly.js v") >= 1 or "Plotly" in html
    assert "upload &lt;1&gt;.xml" in html  # escaped
    assert "SYNTHETIC" in html and "Not a medical device" in html
    assert "higher than 87 %" in html and "V5" in html and "raises risk" in html


def test_architecture_table_counts_every_parameter():
    net = DualAttentionNet(ModelConfig())
    df = report.architecture_table(net)
    total = int(df.loc[df.module == "total", "parameters"].iloc[0])
    assert total == sum(p.numel() for p in net.parameters())
    assert df.loc[df.module != "total", "parameters"].sum() == total
    assert {"stem", "temporal", "cross", "head", "decoder"} <= set(df.module)


@pytest.mark.parametrize("card, expected", [
    ({"metrics_raw": {"c_index": [0.61, 0.55, 0.66]}}, (0.61, 0.55, 0.66)),
    ({"metrics": {"c_index": {"estimate": 0.6, "lower": 0.5, "upper": 0.7}}}, (0.6, 0.5, 0.7)),
    ({"metrics": {"c_index_heldout": "0.6 (...)"}}, None),
])
def test_card_c_index_reads_either_layout(card, expected):
    assert report.card_c_index(card) == expected


def test_card_training_data_line():
    card = {"training_data": {"source": "SYNTHETIC (hfviz simulator)", "n_subjects": 800, "n_events": 32}}
    assert report.card_training_data(card) == "SYNTHETIC (hfviz simulator); 800 subjects, 32 events"
    assert report.card_training_data({}) == "not stated"
