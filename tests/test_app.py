"""The Streamlit app, driven headless with ``streamlit.testing.v1.AppTest``.

Stand-in models (random weights, synthetic cohorts) are written once per session by
``dashboard_fixtures.build_model_dir`` and selected with ``HFVIZ_MODELS_DIR``, so these tests
never depend on the trained models in ``models/``. Uploads use AppTest's own file-uploader
support (``set_value`` with (name, bytes, mime) tuples). Note: AppTest runs a file of
``pages/`` on its own (legacy pages-folder mode) rather than through ``app.py``'s
``st.navigation``; every page therefore sets up its own sidebar (``ui.page_setup``) and the
real navigation is exercised by the browser test.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard_fixtures import build_model_dir, predictions_csv, wfdb_pair
from hfviz.risk import explain
from hfviz.dashboard import report, sources, ui
from hfviz.risk.groups import COHORTS
from hfviz.risk.model import load_risk_model

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
PAGES = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))
PATIENT = "pages/1_Patient.py"
TIMEOUT = 120


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture()
def app(models_dir, monkeypatch) -> AppTest:
    monkeypatch.setenv(ui.MODELS_DIR_ENV, str(models_dir))
    return AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()


def _upload(at: AppTest, files: list[tuple[str, bytes]]) -> AppTest:
    at.switch_page(PATIENT).run()
    at.file_uploader(key=ui.K_UPLOAD).set_value([(n, b, "application/octet-stream") for n, b in files]).run()
    return at


def _metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def _chart_titles(at: AppTest) -> list[str]:
    out = []
    for chart in at.get("plotly_chart"):
        title = json.loads(chart.proto.spec)["layout"].get("title", {})
        out.append(title.get("text", "") if isinstance(title, dict) else str(title))
    return out


def _assert_patient_view(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    metrics = _metrics(at)
    assert {"log-risk", "percentile", "risk group"} <= set(metrics)
    float(metrics["log-risk"])
    titles = _chart_titles(at)
    assert any("12-lead ECG" in t for t in titles)
    assert any("heart-failure-free survival" in t for t in titles)
    assert any("median beats" in t.lower() for t in titles)
    assert any("higher than" in m.value and "synthetic" in m.value for m in at.markdown)


def test_pages_folder_is_discovered():
    assert PATIENT in PAGES and len(PAGES) >= 4


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_without_an_ecg(app, page):
    app.switch_page(page).run()
    assert not app.exception, app.exception
    assert app.sidebar.selectbox(key=ui.K_COHORT).value == "mi"


def test_home_page_states_synthetic_and_not_for_clinical_use(app):
    assert not app.exception
    text = " ".join(w.value for w in app.warning)
    assert "not for clinical use" in text.lower() and "synthetic" in text.lower()
    summary = " ".join(m.value for m in app.markdown)
    assert "C-index on the cross-validation held-out fold: 0.600 (95 % CI 0.500–0.700)" in summary and "SYNTHETIC" in summary


def test_upload_of_a_wfdb_pair_shows_risk_ecg_and_survival(app):
    _upload(app, wfdb_pair())
    _assert_patient_view(app)
    assert "test01.hea" in app.session_state[ui.K_ECG_LABEL]


def test_upload_of_real_cardiosoft_xml_shows_risk_ecg_and_device_median(app, samples):
    path = samples / "cardiosoft" / "example-XML1.xml"
    _upload(app, [(path.name, path.read_bytes())])
    _assert_patient_view(app)
    assert any("device median beats" in t.lower() for t in _chart_titles(app))


def test_patient_measurements_show_the_devices_values_and_flag_differences_in_words(app, samples):
    path = samples / "cardiosoft" / "example-XML1.xml"
    _upload(app, [(path.name, path.read_bytes())])
    table = next(t.value for t in app.table if "measurement" in t.value.columns)
    assert {"value", "from the file", "difference"} <= set(table.columns)
    pr = table[table["measurement"] == "PR interval"].iloc[0]
    assert pr["from the file"] == "174" and pr["difference"] == f"{int(pr['value']) - 174:+d}"
    flags = [w.value for w in app.warning if "differs from the device" in w.value]
    assert flags and any("P duration" in f for f in flags)  # 16 ms off here (docs/measurements_vs_device.md)
    assert "note" not in table.columns  # sentences go under the table, where no narrow screen cuts them off
    assert all(re.search(r"differs from the device by \d+ ms; check ", f) for f in flags)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_runs_with_an_ecg_loaded(app, page):
    _upload(app, wfdb_pair())
    app.switch_page(page).run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    assert app.session_state[ui.K_ECG] is not None  # the ECG stays loaded across pages


def test_every_bundled_example_loads_and_is_labelled_synthetic(app):
    examples = sources.find_examples()
    if not examples:
        pytest.skip("no bundled examples in examples/")
    app.switch_page(PATIENT).run()
    app.radio(key=ui.K_SOURCE).set_value("Bundled example").run()
    for name in examples:
        app.selectbox(key=ui.K_EXAMPLE).set_value(name).run()
        assert not app.exception, (name, app.exception)
        assert not app.error, (name, [e.value for e in app.error])
        assert app.session_state[ui.K_ECG_LABEL] == sources.EXAMPLE_PREFIX + name
        assert any("synthetic" in c.value.lower() for c in app.caption)
        assert "percentile" in _metrics(app)


def test_examples_are_found_by_record_with_readme_descriptions(tmp_path):
    (tmp_path / "README.md").write_text("| name | what |\n|---|---|\n| `rec1` | normal sinus rhythm (NSR) |\n")
    for f in ("rec1.hea", "rec1.dat", "rec1.csv", "other.csv", "notes.txt"):
        (tmp_path / f).write_bytes(b"x")
    found = sources.find_examples(tmp_path)
    assert found == {"normal sinus rhythm (rec1, WFDB)": [tmp_path / "rec1.hea", tmp_path / "rec1.dat"],
                     "other (CSV)": [tmp_path / "other.csv"]}


def test_random_bytes_give_one_error_sentence_and_no_exception(app):
    junk = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    _upload(app, [("mystery.bin", junk)])
    assert not app.exception
    assert len(app.error) == 1
    message = app.error[0].value
    assert "mystery.bin" in message and "Traceback" not in message
    assert app.session_state[ui.K_ECG] is None
    assert not _metrics(app)


def test_switching_cohort_changes_percentile_consistently(app, models_dir):
    _upload(app, wfdb_pair())
    shown = {}
    for cohort in ("mi", "hyp", "mi"):
        app.sidebar.selectbox(key=ui.K_COHORT).set_value(cohort).run()
        assert not app.exception
        m = _metrics(app)
        model = load_risk_model(cohort, models_dir)
        log_risk = float(model.predict_log_risk(app.session_state[ui.K_ECG].model_input[None])[0])
        assert float(m["log-risk"]) == pytest.approx(log_risk, abs=5e-4)
        assert float(m["percentile"]) == pytest.approx(model.percentile(log_risk), abs=0.5)
        sentence = next(md.value for md in app.markdown if "higher than" in md.value)
        assert COHORTS[cohort] in sentence
        shown.setdefault(cohort, []).append((m["log-risk"], m["percentile"]))
    assert shown["mi"][0] == shown["mi"][1]  # back to the first cohort: the same numbers
    assert shown["mi"][0] != shown["hyp"][0]


def test_cohort_choice_survives_a_page_switch(app):
    app.sidebar.selectbox(key=ui.K_COHORT).set_value("hyp").run()
    for page in PAGES:
        app.switch_page(page).run()
        assert app.sidebar.selectbox(key=ui.K_COHORT).value == "hyp"


def test_cohort_page_with_an_uploaded_predictions_csv(app):
    app.switch_page("pages/3_Cohort.py").run()
    app.radio(key="cohort.source").set_value("upload").run()
    app.file_uploader(key=ui.K_PRED_UPLOAD).set_value(("mine.csv", predictions_csv(), "text/csv")).run()
    assert not app.exception and not app.error
    titles = _chart_titles(app)
    assert any("Your predictions" in t for t in titles)
    assert re.fullmatch(r"0\.\d{3}", _metrics(app)["C-index (95 % CI)"])
    specs = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
    km = next(s for s in specs if "Kaplan" in str(s["layout"]))
    assert sum((tr.get("meta") or {}).get("role") == "km" for tr in km["data"]) == 3  # tertiles
    app.radio(key="cohort.scheme").set_value("top_k").run()
    assert "HR top 10% vs lower 90%" in _metrics(app)


def test_cohort_page_names_the_missing_column_of_a_bad_csv(app):
    app.switch_page("pages/3_Cohort.py").run()
    app.radio(key="cohort.source").set_value("upload").run()
    bad = b"id,score_x,time,event\n" + b"".join(f"{i},{i},{i + 1},{i % 2}\n".encode() for i in range(20))
    app.file_uploader(key=ui.K_PRED_UPLOAD).set_value(("bad.csv", bad, "text/csv")).run()
    assert not app.exception
    assert len(app.error) == 1 and "bad.csv" in app.error[0].value and "risk" in app.error[0].value


def test_interpretability_page_computes_ig_with_a_small_completeness_gap(app, models_dir):
    _upload(app, wfdb_pair())
    app.switch_page("pages/2_Interpretability.py").run()
    assert not app.exception and not app.error
    m = _metrics(app)
    assert abs(float(m["IG completeness gap"])) < 1e-3
    assert any("Integrated Gradients · baseline: zeros · 64 steps" in t for t in _chart_titles(app))
    app.selectbox(key="interp.baseline").set_value("cohort_median").run()
    app.radio(key="interp.method").set_value("occlusion").run()
    assert not app.exception
    assert any("Occlusion · baseline: cohort median beat" in t for t in _chart_titles(app))
    app.radio(key="interp.view").set_value("Compare methods").run()
    app.selectbox(key="interp.compare_baseline").set_value("cohort_median").run()
    app.toggle(key="interp.compare").set_value(True).run()
    assert not app.exception and not app.error
    agreement = next(t.value for t in app.table if "Spearman ρ" in t.value.columns)
    names = [explain.METHODS[m] for m in explain.METHODS]
    names += ["cross-lead attention"] if any("attention" in p for p in agreement["methods"]) else []
    assert len(agreement) == len(names) * (len(names) - 1) // 2  # each pair once, no method with itself
    assert f"{names[0]} and {names[1]}" in list(agreement["methods"])
    assert all(-1 <= float(v) <= 1 for v in agreement["Spearman ρ"] if v != "—")
    shared = ui._load_model("mi", str(models_dir))
    assert explain.hook_count(shared.net) == 0
    assert all(p.grad is None for p in shared.net.parameters())


def test_interpretability_shows_what_the_model_reads_next_to_the_devices_own_interpretation(app, samples):
    path = samples / "cardiosoft" / "example-XML1.xml"
    _upload(app, [(path.name, path.read_bytes())])
    app.switch_page("pages/2_Interpretability.py").run()
    assert not app.exception and not app.error
    assert any("What the model reads in this ECG" in m.value for m in app.markdown)
    table = next(t.value for t in app.table if "similarity" in t.value.columns)
    assert len(table) == 5 and list(table.columns) == ["statement", "similarity", "held-out AUROC"]
    scores = [float(v) for v in table["similarity"]]
    assert scores == sorted(scores, reverse=True)
    assert any("Sinus bradycardia" in m.value for m in app.markdown)  # the device's own words, beside the model's
    assert any(c.value == report.READING_CAPTION and "SYNTHETIC ECGs and reports" in c.value for c in app.caption)


def test_interpretability_without_a_statement_reader_says_so_and_keeps_the_attributions(app, models_dir, tmp_path,
                                                                                         monkeypatch):
    import shutil

    bare = tmp_path / "models"
    shutil.copytree(models_dir, bare)
    for f in bare.glob("reader.*"):
        f.unlink()
    monkeypatch.setenv(ui.MODELS_DIR_ENV, str(bare))
    _upload(app, wfdb_pair())
    app.switch_page("pages/2_Interpretability.py").run()
    assert not app.exception and not app.error
    assert any("statement reader" in i.value for i in app.info)
    assert any("This file carries no interpretation" in m.value for m in app.markdown)
    assert any("Integrated Gradients" in t for t in _chart_titles(app))


def test_interpretability_shows_each_control_only_for_the_method_that_uses_it(app):
    _upload(app, wfdb_pair())
    app.switch_page("pages/2_Interpretability.py").run()
    for method, baseline, steps in (("integrated_gradients", True, True), ("saliency", False, False),
                                    ("occlusion", True, False), ("gradient_shap", True, False)):
        app.radio(key="interp.method").set_value(method).run()
        assert not app.exception and not app.error
        keys = {w.key for w in app.selectbox} | {w.key for w in app.select_slider}
        assert ("interp.baseline" in keys) == baseline and ("interp.steps" in keys) == steps, method
        assert ("IG completeness gap" in _metrics(app)) == (method == "integrated_gradients")
        assert any(explain.METHODS[method] in t for t in _chart_titles(app))


def test_a_new_upload_replaces_the_ecg_and_never_combines_with_the_previous_one(app):
    _upload(app, wfdb_pair(0, record="first01"))
    _upload(app, wfdb_pair(1, record="second01"))
    assert not app.exception and not app.error
    assert app.session_state[ui.K_ECG_LABEL] == "second01.hea + second01.dat"
    assert any("second01.hea" in s.value for s in app.subheader)
    assert any("second01.hea" in c.value for c in app.sidebar.caption)


def test_the_uploader_is_emptied_after_each_upload_so_it_never_lists_earlier_files(app):
    _upload(app, wfdb_pair(0, record="first01"))
    assert not app.file_uploader(key=ui.K_UPLOAD).value  # the ECG is loaded; the widget no longer lists A
    _upload(app, wfdb_pair(1, record="second01"))
    assert not app.exception and not app.error and not app.file_uploader(key=ui.K_UPLOAD).value
    assert app.session_state[ui.K_ECG_LABEL] == "second01.hea + second01.dat"
    _upload(app, wfdb_pair(1, record="reca") + wfdb_pair(2, record="recb"))  # refused: one sentence, B stays
    assert len(app.error) == 1 and not app.file_uploader(key=ui.K_UPLOAD).value
    assert app.session_state[ui.K_ECG_LABEL] == "second01.hea + second01.dat"
    _upload(app, wfdb_pair(0, record="first01"))  # the same file chosen again is a new upload
    assert not app.error and app.session_state[ui.K_ECG_LABEL] == "first01.hea + first01.dat"


def test_files_that_are_not_one_ecg_keep_the_previous_ecg_and_say_why_in_one_sentence(app):
    _upload(app, wfdb_pair(0, record="first01"))
    _upload(app, wfdb_pair(1, record="reca") + wfdb_pair(2, record="recb"))
    assert not app.exception
    assert len(app.error) == 1 and "reca" in app.error[0].value and "recb" in app.error[0].value
    assert app.session_state[ui.K_ECG_LABEL] == "first01.hea + first01.dat"
    assert "log-risk" in _metrics(app)


def test_unsupported_format_is_named_in_clinicians_words_and_the_previous_ecg_stays(app):
    _upload(app, wfdb_pair(0, record="first01"))
    philips = b'<?xml version="1.0"?><restingecgdata xmlns="http://www3.medical.philips.com"></restingecgdata>'
    _upload(app, [("pagewriter.xml", philips)])
    assert not app.exception
    messages = [e.value for e in app.error]
    if any("not supported yet" in m for m in messages):  # once a Philips reader exists the file is read instead
        assert messages == ["pagewriter.xml is Philips PageWriter XML, which is not supported yet."]
    assert app.session_state[ui.K_ECG_LABEL] == "first01.hea + first01.dat" or not messages


def test_cohort_page_always_has_one_predictions_source_selected_after_a_cohort_switch(app):
    app.switch_page("pages/3_Cohort.py").run()
    # stand-ins: MI ships a validation cohort, HYP does not
    for cohort, expected in (("hyp", "shipped"), ("mi", "shipped"), ("hyp", "shipped")):
        app.sidebar.selectbox(key=ui.K_COHORT).set_value(cohort).run()
        assert not app.exception
        sources_shown = [r for r in app.radio if r.key == "cohort.source"]
        assert len(sources_shown) == 1 and sources_shown[0].value == expected
        assert any("Kaplan" in t for t in _chart_titles(app))
    app.radio(key="cohort.source").set_value("upload").run()
    app.sidebar.selectbox(key=ui.K_COHORT).set_value("mi").run()
    assert app.radio(key="cohort.source").value == "upload"  # a valid choice is kept across cohorts


def test_cohort_page_defaults_to_the_validation_cohort_and_still_offers_the_held_out_fold(app, models_dir):
    card = load_risk_model("mi", models_dir).card
    val = load_risk_model("mi", models_dir).validation_predictions
    app.switch_page("pages/3_Cohort.py").run()
    assert not app.exception and not app.error
    choice = app.radio(key="cohort.source")
    assert choice.value == "validation"
    labels = " | ".join(choice.options)
    assert "Independent validation cohort (synthetic; 600 people" in labels
    assert "held-out fold (synthetic; 240" in labels
    assert _metrics(app)["people / events"] == f"{len(val):,} / {int(val['event'].sum()):,}"
    c, (lo, hi) = card["validation"]["c_index"], card["validation"]["c_index_ci"]
    assert _metrics(app)["C-index (95 % CI)"] == f"{c:.3f}"
    assert any(cap.value == f"{lo:.3f}–{hi:.3f}" for cap in app.caption)
    assert any("Kaplan" in t and "independent validation cohort" in t for t in _chart_titles(app))
    assert any("recalibrated on an independent synthetic calibration cohort" in cap.value for cap in app.caption)
    choice.set_value("shipped").run()
    assert not app.exception and not app.error
    assert _metrics(app)["people / events"].startswith("240 / ")
    assert _metrics(app)["C-index (95 % CI)"] == "0.600"
    assert any("held-out fold" in t for t in _chart_titles(app))


def test_cohort_page_of_a_model_without_a_validation_cohort_shows_its_held_out_fold(app):
    app.sidebar.selectbox(key=ui.K_COHORT).set_value("hyp").run()
    app.switch_page("pages/3_Cohort.py").run()
    assert not app.exception and not app.error
    choice = app.radio(key="cohort.source")
    assert choice.value == "shipped" and not any("Independent validation" in o for o in choice.options)
    assert any("held-out fold" in t for t in _chart_titles(app))
    assert any("not recalibrated" in cap.value for cap in app.caption)


def test_model_card_shows_validation_and_calibration_before_and_after_only_when_the_model_has_them(app, models_dir):
    card = load_risk_model("mi", models_dir).card
    app.switch_page("pages/4_Model_card.py").run()
    assert not app.exception and not app.error
    text = " ".join(str(t.value) for t in app.table)
    c, (lo, hi) = card["validation"]["c_index"], card["validation"]["c_index_ci"]
    assert f"{c:.3f} (95 % CI {lo:.3f}–{hi:.3f})" in text and "Oracle C-index" in text
    assert "after recalibration" in text and "_" not in " ".join(map(str, app.table[-2].value.index.names))
    calib = next(json.loads(ch.proto.spec) for ch in app.get("plotly_chart")
                 if "Calibration at 60 months" in str(json.loads(ch.proto.spec)["layout"].get("title")))
    series = [tr["meta"]["series"] for tr in calib["data"] if (tr.get("meta") or {}).get("role") == "calibration"]
    assert series == ["before recalibration", "after recalibration"]
    app.sidebar.selectbox(key=ui.K_COHORT).set_value("hyp").run()
    assert not app.exception and not app.error
    assert not any("Calibration at 60 months" in t for t in _chart_titles(app))
    assert not any("Independent validation" in m.value for m in app.markdown)


def test_patient_page_says_whether_absolute_risk_was_recalibrated(app):
    _upload(app, wfdb_pair())
    captions = " ".join(c.value for c in app.caption)
    assert "recalibrated on an independent synthetic cohort" in captions and "uncalibrated" not in captions
    app.sidebar.selectbox(key=ui.K_COHORT).set_value("hyp").run()
    captions = " ".join(c.value for c in app.caption)
    assert "uncalibrated" in captions and "recalibrated" not in captions


def test_c_index_and_its_ci_are_the_same_on_home_cohort_and_model_card(app):
    shown = "0.600"
    home = " ".join(m.value for m in app.markdown)
    assert "C-index on the cross-validation held-out fold: 0.600 (95 % CI 0.500–0.700)" in home
    app.switch_page("pages/3_Cohort.py").run()
    app.radio(key="cohort.source").set_value("shipped").run()
    assert _metrics(app)["C-index (95 % CI)"] == shown
    assert any(c.value == "0.500–0.700" for c in app.caption)
    app.switch_page("pages/4_Model_card.py").run()
    assert any("0.600 (95 % CI 0.500–0.700)" in m.value for m in app.markdown)


def test_patient_page_says_risk_group_as_a_position_in_a_synthetic_cohort_and_the_horizon(app):
    _upload(app, wfdb_pair())
    metrics = _metrics(app)
    assert metrics["risk group"] in ("bottom third", "middle third", "top third")
    assert "HF-free at 60 months" in metrics
    captions = " ".join(c.value for c in app.caption)
    assert "cohort Kaplan–Meier" in captions and "synthetic" in captions and "Calibration" in captions
    surv = next(json.loads(c.proto.spec) for c in app.get("plotly_chart")
                if "heart-failure-free survival" in str(json.loads(c.proto.spec)["layout"].get("title")))
    assert surv["layout"]["meta"]["mark"]["months"] == 60


def test_missing_model_files_give_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv(ui.MODELS_DIR_ENV, str(tmp_path))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    assert not at.exception
    _upload(at, wfdb_pair())
    assert not at.exception
    assert any("cannot be used" in e.value and "mi.card.json" in e.value for e in at.error)
    assert any("12-lead ECG" in t for t in _chart_titles(at))  # the ECG is still drawn
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)


def _guarded_script():
    import streamlit as st

    from hfviz.dashboard import ui
    from hfviz.errors import ECGFormatError

    with ui.guard("Reading"):
        raise ECGFormatError("x.xml: the file is truncated.")
    metadata = {"name": "Jane " + "Doe"}  # as if read from a file
    with ui.guard("Drawing"):
        raise RuntimeError(f"bad value for {metadata['name']}")
    st.write("the page goes on")


def test_guard_shows_one_sentence_and_logs_no_message_text(caplog):
    at = AppTest.from_function(_guarded_script).run()
    assert not at.exception
    assert [e.value for e in at.error][0] == "x.xml: the file is truncated."
    assert "RuntimeError" in at.error[1].value and "Jane Doe" not in at.error[1].value
    assert at.markdown[-1].value == "the page goes on"
    assert "Jane Doe" not in caplog.text and "RuntimeError" in caplog.text


def test_phone_layout_stacks_the_interpretability_panels_and_fits_the_ecg_to_a_narrow_screen(app):
    _upload(app, wfdb_pair())
    heights = {}
    for phone in (False, True):
        app.sidebar.toggle(key=ui.K_COMPACT).set_value(phone).run()
        assert not app.exception
        ecg = next(json.loads(c.proto.spec) for c in app.get("plotly_chart")
                   if "12-lead ECG" in str(json.loads(c.proto.spec)["layout"].get("title")))
        heights[phone] = ecg["layout"]["height"]
    assert heights[True] < heights[False] / 2  # the ECG's height follows the phone's width
    app.switch_page("pages/2_Interpretability.py").run()
    assert app.sidebar.toggle(key=ui.K_COMPACT).value is True  # the choice survives a page switch
    for view in ("Attributions", "Attention"):
        app.radio(key="interp.view").set_value(view).run()
        assert not app.exception and not app.error, view
        specs = [json.loads(c.proto.spec) for c in app.get("plotly_chart")]
        overlay = next(s for s in specs if (s["layout"].get("meta") or {}).get("columns") is not None)
        assert overlay["layout"]["meta"]["columns"] == 2
