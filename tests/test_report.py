"""Patient risk assessment and the offline HTML report (hfviz.report)."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from hfviz.dashboard import ecg_figures
from hfviz.dashboard import risk_figures
from hfviz.dashboard import report
from hfviz.risk import assess as risk_assess
from hfviz.risk.network import DualAttentionNet, ModelConfig
from hfviz.ecg.measure import Measurement


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
    r = risk_assess.assess(FakeModel(), np.zeros((12, 608), np.float32))
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
    assert risk_assess.model_is_synthetic(m) is synthetic


def test_measurements_table_explains_missing_values_and_shows_device_values():
    meas = {"heart_rate_bpm": Measurement(61.0, "bpm"), "pr_ms": Measurement(None, "ms", "no P waves detected")}
    df = report.measurements_frame(meas, {"VentricularRate": {"value": 60.0, "unit": "BPM"}})
    assert df.loc[0, "value"] == "61" and df.loc[0, "from the file"] == "60"
    assert df.loc[1, "value"] == "—" and df.loc[1, "note"] == "no P waves detected"
    assert "from the file" not in report.measurements_frame(meas, None).columns


def test_measurements_table_flags_intervals_beyond_the_iec_tolerance_in_words():
    meas = {"pr_ms": Measurement(220.0, "ms"), "qrs_ms": Measurement(96.0, "ms"),
            "heart_rate_bpm": Measurement(75.0, "bpm"), "sokolow_lyon_mv": Measurement(2.345, "mV")}
    device = {"PRInterval": {"value": 144, "unit": "ms"}, "QRSDuration": {"value": 100, "unit": "ms"},
              "VentricularRate": {"value": 90, "unit": "BPM"}}
    df = report.measurements_frame(meas, device).set_index("measurement")
    assert df.loc["PR interval", "note"].startswith("PR differs from the device by 76 ms; check the P wave")
    assert df.loc["PR interval", "difference"] == "+76" and df.loc["PR interval", "from the file"] == "144"
    assert df.loc["QRS duration", "note"] == ""  # 4 ms: within the IEC mean tolerance of 6 ms
    assert df.loc["Heart rate", "note"] == "" and df.loc["Heart rate", "difference"] == "-15"  # no IEC bound
    assert df.loc["Sokolow-Lyon (SV1 + RV5/6)", "value"] == "2.35" and df.loc["Sokolow-Lyon (SV1 + RV5/6)", "from the file"] == ""


def test_html_report_is_self_contained_and_labelled_synthetic():
    r = risk_assess.assess(FakeModel(), np.zeros((12, 608), np.float32))
    t = np.arange(2500) / 500
    ecg = ecg_figures.ecg_paper_figure(np.tile(np.sin(2 * np.pi * t), (12, 1)) * 0.5, 500.0)
    surv = risk_figures.survival_figure(r.times_months, r.survival)
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


class _Net:
    def __init__(self, n):
        import torch

        self._p = torch.nn.Parameter(torch.zeros(n))

    def parameters(self):
        return iter([self._p])


def test_model_info_names_the_cohort_parameters_data_and_weights_hash():
    m = FakeModel()
    m.net = _Net(1234)
    m.card = {"training_data": "SYNTHETIC cohort", "sha256": {"weights.safetensors": "abc123"}}
    r = risk_assess.assess(m, np.zeros((12, 608), np.float32))
    info = report.model_info(m, r)
    assert info == {"model": "MI-like cohort (synthetic) dual-attention network", "parameters": "1,234",
                    "training data": "SYNTHETIC cohort", "weights sha256": "abc123"}
    m.card = {}
    assert report.model_info(m, r)["weights sha256"] == "—"


def test_record_caption_joins_the_summary_fields():
    summary = {"format": "wfdb", "sampling rate": "500 Hz", "duration": "10.0 s", "median beat": "computed",
               "units": "mV", "derived leads": "none"}
    assert report.record_caption(summary) == "wfdb · 500 Hz · 10.0 s · computed · units: mV · derived leads: none"


def test_card_sections_turn_each_field_into_blocks_in_page_order():
    card = {"limitations": ["synthetic only", "small"], "intended_use": "research",
            "metrics": {"c_index": {"estimate": 0.6}, "brier": {"estimate": 0.1}},
            "training": {"epochs": 30, "optimiser": {"lr": 1e-3}}, "comparison": [{"model": "a", "c": 0.6}],
            "baseline": [1, 2]}
    sections = report.card_sections(card)
    assert [h for h, _ in sections] == ["Intended use", "Training", "Held-out metrics (with 95 % CI)",
                                        "Baselines and ablations", "Limitations"]
    blocks = dict(sections)
    assert blocks["Intended use"] == [("markdown", "research")]
    assert blocks["Limitations"] == [("markdown", "- synthetic only\n- small")]
    (kind, df), = blocks["Held-out metrics (with 95 % CI)"]
    assert kind == "indexed_table" and list(df.index) == ["C-index", "Brier"]  # human labels, not keys
    (k1, fields), = blocks["Training"]  # nested dicts flattened into labelled rows, never shown raw
    rows = dict(zip(fields["field"], fields["value"]))
    assert k1 == "fields" and rows == {"Epochs": "30", "Optimiser · Learning rate": "0.001"}
    (kind, df), = blocks["Baselines and ablations"]
    assert kind == "table" and list(df.columns) == ["Model", "C"]
    assert report.card_field_blocks(3) == [("value", 3)] and report.card_field_blocks(None) == []


def test_card_sha256_table_and_json_leave_out_the_large_arrays():
    card = {"sha256": {"w.safetensors": "ab", "card.json": "cd"}, "baseline": [1] * 100,
            "risk_distribution": [0.1], "config": {"d": 64}}
    assert report.card_sha256_table(card).to_dict("list") == {"file": ["w.safetensors", "card.json"],
                                                             "sha256": ["ab", "cd"]}
    assert report.card_sha256_table({}).empty
    assert json.loads(report.card_json(card)) == {"sha256": card["sha256"], "config": {"d": 64}}


def test_cohort_subtitle_states_logrank_hazard_ratio_and_c_index():
    from types import SimpleNamespace

    s = SimpleNamespace(logrank_p=0.0012, hazard_ratio={"hr": 2.5, "lower": 1.5, "upper": 4.0}, high_label="high",
                        low_label="low", c_index=(0.61, 0.55, 0.66))
    assert report.cohort_subtitle(s) == ("log-rank p = 0.0012 · HR high vs low 2.50 (1.50–4.00) · "
                                         "C-index 0.610 (0.550–0.660)")
    s.hazard_ratio = {"hr": float("nan"), "lower": float("nan"), "upper": float("nan")}
    assert "HR high vs low not estimable" in report.cohort_subtitle(s)
