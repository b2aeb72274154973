"""Patient risk assessment and the offline HTML report (hfviz.report)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd
import pytest

from hfviz.dashboard import ecg_figures, model_card, report, report_html, risk_figures
from hfviz.ecg.measure import Measurement
from hfviz.ecg.record import LEADS
from hfviz.risk import assess as risk_assess
from hfviz.risk.network import DualAttentionNet, ModelConfig


class FakeModel:
    """The RiskModel interface with fixed numbers."""

    cohort = "mi"
    card: ClassVar[dict] = {"training_data": "SYNTHETIC cohort"}

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


def test_html_report_keeps_the_old_call_and_is_self_contained_and_labelled_synthetic():
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
    assert html.count("plotly.js v") == 1  # embedded once
    assert "upload &lt;1&gt;.xml" in html  # escaped
    assert "SYNTHETIC" in html and "Not a medical device" in html
    assert "higher than 87 %" in html and "V5" in html and "raises risk" in html
    assert "−36 to +28 ms" in html  # 440–504 ms from the beat start, the R peak at 476 ms
    assert "Weights SHA-256" in html and "weights sha256" not in html


def test_architecture_table_counts_every_parameter():
    net = DualAttentionNet(ModelConfig())
    df = model_card.architecture_table(net)
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
    assert model_card.card_c_index(card) == expected


def test_card_training_data_line():
    card = {"training_data": {"source": "SYNTHETIC (hfviz simulator)", "n_subjects": 800, "n_events": 32}}
    assert model_card.card_training_data(card) == "SYNTHETIC (hfviz simulator); 800 subjects, 32 events"
    assert model_card.card_training_data({}) == "not stated"


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
    assert info == {"Model": "MI-like cohort (synthetic) dual-attention network", "Parameters": "1,234",
                    "Training data": "SYNTHETIC cohort", "Weights (SHA-256)": "abc123"}
    m.card = {"training_data": {"source": "SYNTHETIC (hfviz simulator)", "n_subjects": 800, "n_events": 38,
                                "cohort_meta": {"seed": 0}}}
    assert report.model_info(m, r)["Training data"] == "SYNTHETIC (hfviz simulator); 800 subjects, 38 events"
    m.card = {}
    assert report.model_info(m, r)["Weights (SHA-256)"] == "—"
    assert report.model_info(m, r)["Training data"] == "synthetic"


def test_record_caption_joins_the_summary_fields():
    summary = {"format": "wfdb", "sampling rate": "500 Hz", "duration": "10.0 s", "median beat": "computed",
               "units": "mV", "derived leads": "none"}
    assert report.record_caption(summary) == "wfdb · 500 Hz · 10.0 s · computed · units: mV · derived leads: none"


def test_card_sections_turn_each_field_into_blocks_in_page_order():
    card = {"limitations": ["synthetic only", "small"], "intended_use": "research",
            "metrics": {"c_index": {"estimate": 0.6}, "brier": {"estimate": 0.1}},
            "training": {"epochs": 30, "optimiser": {"lr": 1e-3}}, "comparison": [{"model": "a", "c": 0.6}],
            "baseline": [1, 2]}
    sections = model_card.card_sections(card)
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
    assert model_card.card_field_blocks(3) == [("value", 3)] and model_card.card_field_blocks(None) == []


def test_card_sha256_table_and_json_leave_out_the_large_arrays():
    card = {"sha256": {"w.safetensors": "ab", "card.json": "cd"}, "baseline": [1] * 100,
            "risk_distribution": [0.1], "config": {"d": 64}}
    assert model_card.card_sha256_table(card).to_dict("list") == {"file": ["w.safetensors", "card.json"],
                                                             "sha256": ["ab", "cd"]}
    assert model_card.card_sha256_table({}).empty
    assert json.loads(model_card.card_json(card)) == {"sha256": card["sha256"], "config": {"d": 64}}


def test_cohort_subtitle_states_logrank_hazard_ratio_and_c_index():
    from types import SimpleNamespace

    s = SimpleNamespace(logrank_p=0.0012, hazard_ratio={"hr": 2.5, "lower": 1.5, "upper": 4.0}, high_label="high",
                        low_label="low", c_index=(0.61, 0.55, 0.66))
    assert report.cohort_subtitle(s) == ("log-rank p = 0.0012 · HR high vs low 2.50 (1.50–4.00) · "
                                         "C-index 0.610 (0.550–0.660)")
    s.hazard_ratio = {"hr": float("nan"), "lower": float("nan"), "upper": float("nan")}
    assert "HR high vs low not estimable" in report.cohort_subtitle(s)


# --- the printed reports, built as the Patient and Compare pages build them ---------------------------
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
#: Section headings of the Patient report, in page order (page 1, 2, 3).
PATIENT_SECTIONS = ("Risk in words", "What was read from the file", "Model and data", "12-lead ECG",
                    "Which leads moved the risk, and the measurements", "Measurements", "Where in the beat")
#: Section headings of the Compare report.
COMPARE_SECTIONS = ("Change in predicted risk (B − A)", "Measurements", "Model and data", "The two ECGs",
                    "ECG A: what was read", "ECG B: what was read", ("Which leads and which part of the beat moved "
                    "the risk"), "The largest changes")


def stand_in_model(tmp_dir: Path):
    """A small stand-in shipped model (random weights, SYNTHETIC cohort; its card's training data is a dict)."""
    from dashboard_fixtures import build_model_dir

    from hfviz.risk.model import load_risk_model

    return load_risk_model("mi", build_model_dir(tmp_dir, cohorts=("mi",), n=60))


def stand_in_reader(tmp_dir: Path):
    """The stand-in statement reader :func:`stand_in_model` wrote beside the model in ``tmp_dir``."""
    from hfviz.risk.statements import load_statement_reader

    return load_statement_reader(tmp_dir)


def build_patient_report(model, source, *, attribution=None, reader=None, reading_problem=None) -> str:
    """The Patient page's report of one ECG file: the page's figures, table and (given a ``reader``) the
    statements the model reads, then :func:`report.patient_report`."""
    from hfviz.risk.cohort import km_table

    prepared = risk_assess.prepare_source(source)
    risk = risk_assess.assess(model, prepared.model_input)
    p = model.cohort_predictions
    km = km_table(p["time_months"], p["event"])
    label = prepared.record.source_name
    ecg = ecg_figures.ecg_paper_figure(prepared.strip_mv, prepared.fs_hz, title=f"{label} — 12-lead ECG (cleaned)")
    surv = risk_figures.survival_figure(risk.times_months, risk.survival, km=km, mark_months=60.0,
                                        cohort_label=f"{risk.cohort_label}, Kaplan–Meier (held-out)")
    meas = report.measurements_frame(prepared.measurements, prepared.record.meta.get("device_measurements"))
    reading = reader.top(prepared.model_input, 5) if reader is not None else None
    return report.patient_report(title=str(label), prepared=prepared, risk=risk, model=model, ecg_figure=ecg,
                                 survival_figure=surv, measurements=meas, attribution=attribution, reading=reading,
                                 reading_problem=reading_problem)


def build_compare_report(model, source_a, source_b, *, explain: bool = True) -> str:
    """The Compare page's report: a comparison without attributions (the page's default), then the report."""
    from hfviz.risk import compare

    a, b = risk_assess.prepare_source(source_a), risk_assess.prepare_source(source_b)
    comparison = compare.compare_ecgs(model, a, b, explain=False)
    return report.compare_report_html(comparison=comparison, a=a, b=b, label_a="last year.hea",
                                      label_b="today.hea", model=model, explain=explain)


def visible_text(html: str) -> str:
    """The document's text as a reader sees it: scripts and styles removed, tags stripped, entities decoded."""
    import html as _html

    body = re.sub(r"<(script|style)[^>]*>.*?</\1>", " ", html, flags=re.DOTALL)
    return _html.unescape(re.sub(r"<[^>]+>", " ", body))


def external_urls(html: str) -> list[str]:
    """Every http(s) URL outside the inline plotly.js library (whose URLs are inert: map tiles, docs links)."""
    scripts = re.findall(r"<script[^>]*>(.*?)</script>", html, flags=re.DOTALL)
    bundle = max(scripts, key=len)
    assert "plotly.js v" in bundle[:2000]
    outside = html.replace(bundle, "")
    return re.findall(r"https?://[^\s\"'<>)]+", outside)


def assert_in_words(html: str, *, allowed: tuple[str, ...] = ()) -> None:
    """No program keys (snake_case), no raw dicts and no external reference in what a reader sees."""
    text = visible_text(html)
    for name in allowed:  # file names may hold underscores
        text = text.replace(name, "")
    assert not re.findall(r"\b[a-z]+_[a-z0-9_]+\b", text), re.findall(r"\b[a-z]+_[a-z0-9_]+\b", text)[:5]
    assert "{" not in text and "}" not in text and "': " not in text  # no raw dict
    headers = re.findall(r"<th>(.*?)</th>", html)
    assert headers and not [h for h in headers if "_" in h]
    assert external_urls(html) == []
    assert not re.search(r"<link|<img|<iframe|\bsrc=|@import|url\(", re.sub(r"<script[^>]*>.*?</script>", "", html,
                                                                       flags=re.DOTALL))


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("report-model")


@pytest.fixture(scope="module")
def model(model_dir):
    return stand_in_model(model_dir)


@pytest.fixture(scope="module")
def reader(model, model_dir):
    return stand_in_reader(model_dir)


@pytest.fixture(scope="module")
def patient_html(model):
    return build_patient_report(model, EXAMPLES / "synthetic_lbbb.hea")


def test_patient_report_has_every_section_figure_and_the_print_layout(patient_html):
    text = visible_text(patient_html)
    for heading in PATIENT_SECTIONS:
        assert f">{heading}" in patient_html, heading
    assert patient_html.count("plotly.js v") == 1 and patient_html.count("Plotly.newPlot") == 3
    assert '"role":"km"' in patient_html and '"role":"patient"' in patient_html  # survival with the cohort curve
    assert '"role":"rhythm"' in patient_html  # the 12-lead paper with its rhythm strip
    assert patient_html.count('"role":"overlay"') == report_html.TOP_LEADS  # the most important leads
    assert "Integrated Gradients · baseline: zeros · 64 steps" in text  # method and baseline named
    assert "of |attribution|" in patient_html and "Time from the R peak" in text  # panel titles, the table
    assert "middle third" in text or "top third" in text or "bottom third" in text  # the group in words
    assert "Heart-failure-free at 60 months" in text and "cohort (Kaplan–Meier)" in text
    assert "No flat or saturated leads." in text  # the recording's quality, under the ECG
    assert "SYNTHETIC" in text and "Not a medical device" in text
    assert "Format WFDB" in " ".join(text.split())  # the reader's format in words
    assert "SYNTHETIC (test stand-in, random weights); 60 subjects" in text  # the card's dict, in words
    assert "size:landscape" in patient_html and "break-before:page" in patient_html
    assert "break-inside:avoid" in patient_html
    assert len(re.findall(r"<section class='page'", patient_html)) == 2  # pages 2 and 3 start on a new page
    widths = [int(w) for w in re.findall(r"<figure class='fig' style='width:(\d+)px'>", patient_html)]
    assert len(widths) == 3 and max(widths) <= report_html.CONTENT_WIDTH_PX


def test_patient_report_is_in_words_and_fetches_nothing(patient_html):
    assert_in_words(patient_html, allowed=("synthetic_lbbb.hea", "synthetic_lbbb"))


def test_patient_report_uses_a_given_attribution_and_names_it(model):
    from hfviz.risk.explain import attribute

    prepared = risk_assess.prepare_source(EXAMPLES / "synthetic_normal.hea")
    saliency = attribute(model, prepared.model_input, method="saliency")
    html = build_patient_report(model, EXAMPLES / "synthetic_normal.hea", attribution=saliency)
    assert "Saliency (signed gradient)" in visible_text(html) and "Integrated Gradients" not in visible_text(html)


def test_patient_report_prints_what_the_model_reads_under_what_was_read_from_the_file(
        model, reader, samples):
    source = samples / "cardiosoft" / "example-XML1.xml"
    prepared = risk_assess.prepare_source(source)
    interpretation = prepared.record.meta.get("interpretation")
    assert interpretation, "the CardioSoft sample stores the device's interpretation"
    html = build_patient_report(model, source, reader=reader)
    text = " ".join(visible_text(html).split())
    reads = text.index("What the model reads")
    for s in reader.top(prepared.model_input, 5):  # the statements the Interpretability page lists, in its words
        auroc = "—" if s.auroc is None else f"{s.auroc:.2f}"
        assert f"{s.text} ({s.code}) {s.score:.2f} {auroc}" in text[reads:]
    assert "not an interpretation" in text[reads:] and "SYNTHETIC ECGs and reports" in text[reads:]  # what it is, and is not
    assert " ".join(interpretation.split()) in text[:reads]  # the device's words, just above
    assert_in_words(html, allowed=("example-XML1.xml",))


def test_patient_report_says_why_the_model_reading_is_missing(model):
    html = build_patient_report(model, EXAMPLES / "synthetic_normal.hea", reading_problem="The reader is missing.")
    assert "What the model reads The reader is missing." in " ".join(visible_text(html).split())


def test_patient_report_shows_the_device_values_and_their_differences(model, samples):
    html = build_patient_report(model, samples / "muse" / "example1.xml")
    text = " ".join(visible_text(html).split())
    assert "<th>Device</th>" in html and "<th>Difference</th>" in html
    assert "Heart rate 48 bpm 48 +0" in text  # ours, unit, the device's, the difference
    assert "Notes on the measurements" in text and "(1) QRS differs from the device" in text
    assert "GE MUSE XML" in text
    assert_in_words(html, allowed=("example1.xml",))


def test_measurement_table_in_words_numbers_its_notes():
    meas = {"heart_rate_bpm": Measurement(61.0, "bpm"), "pr_ms": Measurement(None, "ms", "no P waves detected")}
    table = report.human_table(report.measurements_frame(meas, {"VentricularRate": {"value": 60.0, "unit": "BPM"}}))
    assert list(table.columns) == ["Measurement", "hfviz", "Unit", "Device", "Difference", "Note"]
    numbered, notes = report.numbered_notes(table)
    assert list(numbered["Note"]) == ["", "(1)"] and notes == ["no P waves detected"]
    assert report.numbered_notes(table.drop(columns="Note"))[1] == []
    assert list(report.human_table(pd.DataFrame({"from_ms": [1], "c_index": [{"a_b": 1}]})).columns) == \
        ["From ms", "C-index"]
    assert report.human_table(pd.DataFrame({"x": [{"n_subjects": 3}]}))["X"][0] == "Subjects: 3"


def test_important_leads_figure_draws_the_leads_with_the_largest_share_first():
    from hfviz.risk.explain import Attribution

    values = np.zeros((12, 608), np.float32)
    values[LEADS.index("V5"), 300:340] = 0.02  # V5 carries most, then II, then aVL
    values[LEADS.index("II"), 300:320] = -0.02
    values[LEADS.index("aVL"), 300:305] = 0.02
    values[:, 0] += 1e-4
    attr = Attribution(values, "integrated_gradients", "zeros", 64, 0.5, 0.0, 0.0)
    beat = np.tile(np.sin(np.linspace(0, 6, 600)), (12, 1))
    fig = report_html.important_leads_figure(beat, attr, k=3)
    assert fig.layout.meta["leads"] == ["V5", "II", "aVL"]
    assert fig.layout.meta["share"][0] > fig.layout.meta["share"][1] > fig.layout.meta["share"][2]
    assert [a.text.split("</b>")[0] for a in fig.layout.annotations[:3]] == ["<b>V5", "<b>II", "<b>aVL"]
    assert [(t.meta["lead"], t.xaxis) for t in fig.data if t.meta["role"] == "beat"] == [("V5", "x"), ("II", "x2"),
                                                                                        ("aVL", "x3")]
    assert fig.layout.coloraxis.cmid == 0.0  # the dashboard's one signed scale: red raises the risk


def test_segments_in_words_are_timed_from_the_r_peak():
    top = pd.DataFrame({"lead": ["V5", "II"], "from_ms": [440, 568], "to_ms": [504, 632], "attribution": [0.12, -0.05],
                        "direction": ["raises risk", "lowers risk"]})
    words = report.segments_words(top)
    assert words.to_dict("records") == [
        {"Lead": "V5", "Time from the R peak": "−36 to +28 ms", "Sum of attribution": "+0.120", "Effect": "raises risk"},
        {"Lead": "II", "Time from the R peak": "+92 to +156 ms", "Sum of attribution": "−0.050",
         "Effect": "lowers risk"}]


def test_paper_height_keeps_one_millimetre_square_at_any_width():
    t = np.arange(5000) / 500
    fig = ecg_figures.ecg_paper_figure(np.tile(np.sin(2 * np.pi * t), (12, 1)) * 0.5, 500.0)
    for width in (472, 960):
        h = report_html.paper_height(fig, width)
        m = fig.layout.margin
        plot_w, plot_h = width - m.l - m.r, h - m.t - m.b
        xr, yr = fig.layout.xaxis.range, fig.layout.yaxis.range
        assert plot_h / plot_w == pytest.approx((yr[1] - yr[0]) / (xr[1] - xr[0]), rel=0.01)
    with pytest.raises(ValueError, match="wider than the printed page"):
        report_html.figure_html(fig, width=report_html.CONTENT_WIDTH_PX + 1)


@pytest.fixture(scope="module")
def compare_html(model):
    return build_compare_report(model, EXAMPLES / "synthetic_normal.hea", EXAMPLES / "synthetic_lbbb.hea")


def test_compare_report_has_every_section_and_computes_the_attributions_it_was_not_given(compare_html):
    text = " ".join(visible_text(compare_html).split())
    for heading in COMPARE_SECTIONS:
        assert heading in text, heading
    assert "ECG A: last year.hea → ECG B: today.hea" in text
    assert "Hazard ratio B / A" in text and "percentage points" in text
    assert "Integrated Gradients · baseline: zeros · 64 steps" in text  # computed here, named
    assert "the same method and baseline for both ECGs" in text
    assert compare_html.count("plotly.js v") == 1 and compare_html.count("Plotly.newPlot") == 3  # A, B, heatmap
    assert '"role":"compare-heatmap"' in compare_html
    assert len(re.findall(r"<section class='page'", compare_html)) == 2
    assert "SYNTHETIC" in text and "Not a medical device" in text
    assert_in_words(compare_html, allowed=("synthetic_normal.hea", "synthetic_lbbb.hea", "synthetic_normal",
                                           "synthetic_lbbb"))


def test_compare_report_without_attributions_leaves_out_their_page(model):
    html = build_compare_report(model, EXAMPLES / "synthetic_normal.hea", EXAMPLES / "synthetic_lvh.hea",
                                explain=False)
    assert "Which leads and which part" not in html and html.count("Plotly.newPlot") == 2
    assert len(re.findall(r"<section class='page'", html)) == 1
