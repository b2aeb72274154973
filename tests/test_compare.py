"""Comparing two ECGs: the library (:mod:`hfviz.risk.compare`) and the Compare page (AppTest).

Stand-in models (random weights, synthetic cohorts) from ``dashboard_fixtures``; ECGs are the
bundled SYNTHETIC examples, the fixtures' WFDB records and, when present, a real GE MUSE file
from ``../shared/ecg-samples``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from dashboard_fixtures import build_model_dir, wfdb_pair
from streamlit.testing.v1 import AppTest

from hfviz.dashboard import compare_figures, sources, ui
from hfviz.ecg.measure import MEASUREMENT_KEYS, Measurement, measure_global
from hfviz.ecg.signal import FS_HZ, MODEL_LEN, PAD, R_OFFSET
from hfviz.risk import compare
from hfviz.risk.assess import assess, prepare_source
from hfviz.risk.explain import attribute
from hfviz.risk.model import load_risk_model

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
COMPARE = "pages/5_Compare.py"
PATIENT = "pages/1_Patient.py"
TIMEOUT = 180


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("models"), cohorts=("mi",), n=120)


@pytest.fixture(scope="module")
def model(models_dir):
    return load_risk_model("mi", models_dir)


def _example(stem: str):
    found = {name: files for name, files in sources.find_examples().items() if f"({stem}, " in name}
    if not found:
        pytest.skip(f"bundled example {stem} not found in examples/")
    name, files = next(iter(found.items()))
    return name, prepare_source(sources.read_example(files))


@pytest.fixture(scope="module")
def normal():
    return _example("synthetic_normal")[1]


@pytest.fixture(scope="module")
def lbbb():
    return _example("synthetic_lbbb")[1]


# --- library ---------------------------------------------------------------------------------------
def test_risk_change_is_the_difference_of_the_two_assessments(model, normal, lbbb):
    change = compare.risk_change(model, normal, lbbb, horizon_months=60)
    ra, rb = assess(model, normal.model_input), assess(model, lbbb.model_input)
    assert change.a.log_risk == ra.log_risk and change.b.log_risk == rb.log_risk
    assert change.delta_log_risk == pytest.approx(rb.log_risk - ra.log_risk, abs=1e-12)
    assert change.hazard_ratio == pytest.approx(math.exp(rb.log_risk - ra.log_risk))
    assert change.delta_percentile == pytest.approx(rb.percentile - ra.percentile)
    assert change.survival_a == ra.survival_at(60) and change.survival_b == rb.survival_at(60)
    assert change.delta_survival == pytest.approx(rb.survival_at(60) - ra.survival_at(60))
    assert change.delta_log_risk != 0
    # the sentence's words follow the sign, and a difference below 5e-4 reads "the same as" (the random
    # stand-in model may score the two examples almost alike)
    for delta, words in ((0.2, "higher than"), (-0.2, "lower than"), (1e-4, "the same as")):
        assert words in dataclasses.replace(change, delta_log_risk=delta).sentence


def test_identical_ecgs_give_zero_deltas_and_zero_attribution_difference(model, normal):
    c = compare.compare_ecgs(model, normal, normal, method="integrated_gradients", baseline="zeros", n_steps=16)
    assert (c.risk.delta_log_risk, c.risk.delta_percentile, c.risk.delta_survival) == (0, 0, 0)
    assert c.risk.hazard_ratio == 1 and "the same as" in c.risk.sentence
    assert np.abs(c.attributions.by_segment_a).sum() > 0  # there is something to cancel
    assert np.all(c.attributions.by_segment_change == 0) and np.all(c.attributions.by_lead_change == 0)
    assert c.attributions.ranking().empty and "the same" in c.attributions.sentence()
    assert all(m.change in (0, None) for m in c.measurements)


def test_attribution_cells_add_up_to_the_change_in_log_risk_with_integrated_gradients(model, normal, lbbb):
    c = compare.compare_ecgs(model, normal, lbbb, method="integrated_gradients", baseline="zeros", n_steps=64)
    att = c.attributions
    # every sample belongs to exactly one part of the beat: the cells hold the whole attribution
    assert att.by_segment_a.sum() == pytest.approx(float(att.attribution_a.values.astype(np.float64).sum()), rel=1e-9)
    assert att.by_segment_b.sum(axis=1) == pytest.approx(att.attribution_b.values.astype(np.float64).sum(axis=1))
    gaps = abs(att.attribution_a.delta) + abs(att.attribution_b.delta)
    assert abs(att.total_change - c.risk.delta_log_risk) <= gaps + 1e-4
    np.testing.assert_allclose(att.by_lead_change, att.by_segment_change.sum(axis=1))
    top = att.ranking(5)
    assert list(top.columns) == ["Lead", "Part of the beat", "ECG A", "ECG B", "Change (B − A)", "Effect"]
    assert list(top["Change (B − A)"].abs()) == sorted(top["Change (B − A)"].abs(), reverse=True)
    assert np.abs(att.by_segment_change).max() == pytest.approx(abs(top["Change (B − A)"].iloc[0]))
    assert set(top["Effect"]) <= {"raised B's risk", "lowered B's risk"}


def test_both_ecgs_are_explained_with_the_same_method_and_baseline(model, normal, lbbb):
    att = compare.attribution_change(model, normal, lbbb, method="occlusion", baseline="zeros")
    assert att.attribution_a.method == att.attribution_b.method == "occlusion"
    assert att.attribution_a.baseline == att.attribution_b.baseline == "zeros"
    own = attribute(model, lbbb.model_input, method="occlusion", baseline="zeros")
    np.testing.assert_array_equal(att.attribution_b.values, own.values)
    ig = attribute(model, normal.model_input, method="integrated_gradients", baseline="zeros", n_steps=16)
    with pytest.raises(ValueError, match="same method"):
        compare.attribution_change_from(normal, lbbb, ig, own)


def test_parts_of_the_beat_follow_each_ecgs_own_fiducials(normal, lbbb):
    for prepared in (normal, lbbb):
        seg = compare.beat_segments(prepared)
        rr = float(np.mean(np.diff(prepared.r_peaks))) * 1000 / FS_HZ
        _, fid = measure_global(prepared.median_beat_mv, FS_HZ, r_index=R_OFFSET, rr_ms=rr)
        assert seg.nominal == ()
        assert [lo for lo, _ in seg.bounds] == [0, round(fid["qrs_onset"]) + PAD, round(fid["qrs_offset"]) + PAD,
                                               round(fid["t_end"]) + PAD]
        assert seg.bounds[-1][1] == MODEL_LEN
        assert all(seg.bounds[i][1] == seg.bounds[i + 1][0] for i in range(3))  # contiguous
    qrs_ms = [np.diff(compare.beat_segments(p).ms()[1])[0] for p in (normal, lbbb)]
    assert qrs_ms[1] > qrs_ms[0] + 30  # a bundle-branch block's QRS part is wider


def test_a_beat_without_a_qrs_gets_nominal_parts_said_in_words(normal):
    flat = dataclasses.replace(normal, median_beat_mv=np.zeros_like(normal.median_beat_mv))
    seg = compare.beat_segments(flat)
    assert seg.nominal == ("QRS onset and end", "T end")
    lo, hi = seg.bounds[1]
    assert (lo - PAD, hi - PAD) == (R_OFFSET - 25, R_OFFSET + 25)  # R peak ±50 ms
    values = np.ones((12, MODEL_LEN))
    np.testing.assert_allclose(compare.segment_sums(values, seg).sum(axis=1), MODEL_LEN)


def _meas(**values) -> dict:
    units = {"heart_rate_bpm": "bpm", "qrs_axis_deg": "deg", "sokolow_lyon_mv": "mV"}
    return {k: (Measurement(None, units.get(k, "ms"), v) if isinstance(v, str) else
                Measurement(v, units.get(k, "ms"))) for k, v in values.items()}


def test_measurement_differences_are_b_minus_a_with_units_and_axes_wrapped():
    a = _meas(qtc_bazett_ms=412.0, qrs_axis_deg=170.0, pr_ms="no P wave found", sokolow_lyon_mv=2.1,
              heart_rate_bpm=60.0)
    b = _meas(qtc_bazett_ms=444.0, qrs_axis_deg=-170.0, pr_ms=160.0, sokolow_lyon_mv=3.55, heart_rate_bpm=60.0)
    changes = {c.key: c for c in compare.measurement_changes(a, b)}
    assert changes["qtc_bazett_ms"].change == 32.0
    assert changes["qrs_axis_deg"].change == 20.0  # 170° -> -170° is 20° round, not -340°
    assert changes["pr_ms"].change is None and changes["pr_ms"].note == "A: no P wave found"
    assert changes["sokolow_lyon_mv"].change == pytest.approx(1.45)
    assert [c.key for c in compare.measurement_changes(a, b)] == [k for k in MEASUREMENT_KEYS if k in a]
    frame = compare.measurement_change_frame(tuple(changes.values()), names={"qtc_bazett_ms": "QTc (Bazett)"})
    assert list(frame.columns) == ["Measurement", "ECG A", "ECG B", "Change (B − A)", "Note"]
    rows = frame.set_index("Measurement")
    assert tuple(rows.loc["QTc (Bazett)", ["ECG A", "ECG B", "Change (B − A)"]]) == ("412 ms", "444 ms", "+32 ms")
    assert rows.loc["qrs_axis_deg", "Change (B − A)"] == "+20°"
    assert rows.loc["pr_ms", "ECG A"] == "—" and rows.loc["pr_ms", "Change (B − A)"] == "—"
    assert rows.loc["sokolow_lyon_mv", "Change (B − A)"] == "+1.45 mV"
    assert rows.loc["heart_rate_bpm", "Change (B − A)"] == "0 bpm"
    assert compare.measurement_change_frame((compare.MeasurementChange("qt_ms", "ms", 400, 380, -20),)).iloc[0][
        "Change (B − A)"] == "−20 ms"


def test_measurement_comparison_of_real_ecgs_matches_their_own_measurements(normal, lbbb):
    for c in compare.measurement_changes(normal.measurements, lbbb.measurements):
        a, b = normal.measurements[c.key].value, lbbb.measurements[c.key].value
        assert (c.a, c.b) == (a, b)
        if a is not None and b is not None and c.unit != "deg":
            assert c.change == pytest.approx(b - a)


def test_segment_change_heatmap_shows_every_lead_part_and_lead_total(model, normal, lbbb):
    att = compare.attribution_change(model, normal, lbbb, method="saliency")
    fig = compare_figures.segment_change_heatmap(att)
    (trace,) = [t for t in fig.data if (t.meta or {}).get("role") == "compare-heatmap"]
    z = np.asarray(trace.z, dtype=float)
    assert z.shape == (12, len(compare.SEGMENTS) + 1) and next(iter(trace.y)) == "I"
    assert list(trace.x) == [*compare.SEGMENTS, compare_figures.WHOLE_LEAD]
    np.testing.assert_allclose(z[:, -1], att.by_lead_change, atol=1e-3)
    assert trace.zmin == -trace.zmax and trace.zmax == pytest.approx(np.abs(z).max(), rel=1e-3)
    assert "Saliency" in fig.layout.title.text
    assert compare_figures.segment_change_heatmap(att, phone=True).data[0].colorbar.orientation == "h"


# --- the Compare page --------------------------------------------------------------------------------
@pytest.fixture()
def app(models_dir, monkeypatch) -> AppTest:
    monkeypatch.setenv(ui.MODELS_DIR_ENV, str(models_dir))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    return at.switch_page(COMPARE).run()


def _choose_example(at: AppTest, side: str, stem: str) -> None:
    name = next((n for n in sources.find_examples() if f"({stem}, " in n), None)
    if name is None:
        pytest.skip(f"bundled example {stem} not found")
    at.radio(key=ui.side_key(side, "source")).set_value("Bundled example").run()
    at.selectbox(key=ui.side_key(side, "example")).set_value(name).run()


def _upload(at: AppTest, side: str, pairs) -> None:
    at.file_uploader(key=ui.side_key(side, "upload")).set_value(
        [(n, d, "application/octet-stream") for n, d in pairs]).run()


def _metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    return {m.label: (m.value, m.delta) for m in at.metric}


def _charts(at: AppTest) -> list[dict]:
    return [json.loads(c.proto.spec) for c in at.get("plotly_chart")]


def _assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


def test_two_bundled_examples_show_the_change_in_risk_both_ecgs_and_measurements(app, model):
    _choose_example(app, "A", "synthetic_normal")
    _choose_example(app, "B", "synthetic_long_qt")
    _assert_clean(app)
    a, b = app.session_state[ui.side_key("A", "ecg")], app.session_state[ui.side_key("B", "ecg")]
    expected = compare.risk_change(model, a, b)
    metrics = _metrics(app)
    assert metrics["log-risk of B"] == (f"{expected.b.log_risk:+.3f}", f"{expected.delta_log_risk:+.3f} vs A")
    assert metrics["percentile of B"][1] == f"{expected.delta_percentile:+.0f} points"
    assert metrics["HF-free at 60 months, B"][1] == f"{100 * expected.delta_survival:+.1f} points"
    assert metrics["hazard ratio B / A"][0] == f"{expected.hazard_ratio:.2f}"
    assert any(expected.sentence in md.value for md in app.markdown)
    papers = [c for c in _charts(app) if c["layout"].get("meta", {}).get("speed_mm_s")]
    assert len(papers) == 2  # both ECGs on paper, at one speed and gain and the same paper size
    assert {(p["layout"]["meta"]["speed_mm_s"], p["layout"]["meta"]["gain_mm_mv"]) for p in papers} == {(25.0, 10.0)}
    assert papers[0]["layout"]["xaxis"]["range"] == papers[1]["layout"]["xaxis"]["range"]
    assert [p["layout"]["title"]["text"].split(":")[0] for p in papers] == ["ECG A", "ECG B"]
    table = next(d.value for d in app.dataframe if "Measurement" in d.value.columns)
    qt = table.set_index("Measurement").loc["QT interval"]
    dqt = b.measurements["qt_ms"].value - a.measurements["qt_ms"].value
    assert qt["Change (B − A)"] == f"{dqt:+.0f} ms".replace("-", "−") and dqt > 30  # long QT is longer
    assert any("synthetic" in c.value.lower() for c in app.caption)  # the notice and the examples' label
    assert not any(c["data"] and c["data"][0].get("meta", {}).get("role") == "compare-heatmap" for c in _charts(app))
    assert any("compare report" in d.proto.label for d in app.get("download_button"))


def test_attributions_are_computed_on_request_and_cached_per_pair_and_method(app):
    _choose_example(app, "A", "synthetic_normal")
    _choose_example(app, "B", "synthetic_lbbb")
    app.selectbox(key=ui.K_COMPARE_METHOD).set_value("saliency").run()
    assert not [k for k in app.session_state[ui.K_COMPARE_CACHE] if k[0] == "attribution"]  # nothing yet
    app.button(key="compare.explain").click().run()
    _assert_clean(app)
    roles = [c["data"][0].get("meta", {}).get("role") for c in _charts(app) if c["data"]]
    assert "compare-heatmap" in roles
    ranking = next(d.value for d in app.dataframe if "Part of the beat" in d.value.columns)
    assert len(ranking) == compare.TOP_K and set(ranking["Part of the beat"]) <= set(compare.SEGMENTS)
    assert any("Largest changes (B − A)" in md.value for md in app.markdown)
    cached = [k for k in app.session_state[ui.K_COMPARE_CACHE] if k[0] == "attribution"]
    assert len(cached) == 2 and {k[3] for k in cached} == {"saliency"}
    app.toggle(key="compare.per_sample").set_value(True).run()  # a rerun: kept, not recomputed
    assert "compare-heatmap" in [c["data"][0].get("meta", {}).get("role") for c in _charts(app) if c["data"]]
    assert len([k for k in app.session_state[ui.K_COMPARE_CACHE] if k[0] == "attribution"]) == 2
    overlay = next(c for c in _charts(app) if c["layout"].get("meta", {}).get("method", "").startswith("B − A"))
    roles = {(t.get("meta") or {}).get("role") for t in overlay["data"]}
    assert {"overlay", "beat", "reference"} <= roles  # B's beat, A's beat dashed, the difference as colour


def test_a_bad_file_on_one_side_gives_one_sentence_and_keeps_both_ecgs(app):
    _choose_example(app, "A", "synthetic_normal")
    _upload(app, "B", wfdb_pair(1, record="lastyear"))
    _assert_clean(app)
    label_a = app.session_state[ui.side_key("A", "label")]
    junk = np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes()
    _upload(app, "B", [("mystery.bin", junk)])
    assert not app.exception
    assert len(app.error) == 1
    message = app.error[0].value
    assert "mystery.bin" in message and "Traceback" not in message and message.count(". ") == 0
    assert app.session_state[ui.side_key("A", "label")] == label_a  # the other side stays
    assert app.session_state[ui.side_key("B", "label")] == "lastyear.hea + lastyear.dat"  # and B's previous ECG
    assert "log-risk of B" in _metrics(app)


def test_a_mix_of_formats_real_muse_xml_and_wfdb_can_be_compared(app, samples):
    muse = samples / "muse" / "example1.xml"
    if not muse.is_file():
        pytest.skip(f"{muse} not found")
    _upload(app, "A", [(muse.name, muse.read_bytes())])
    _upload(app, "B", wfdb_pair(2, record="today"))
    _assert_clean(app)
    assert app.session_state[ui.side_key("A", "ecg")].record.source_format != \
        app.session_state[ui.side_key("B", "ecg")].record.source_format
    assert {"log-risk of B", "percentile of B", "HF-free at 60 months, B"} <= set(_metrics(app))
    table = next(d.value for d in app.dataframe if "Measurement" in d.value.columns)
    assert (table["Change (B − A)"] != "—").sum() >= 5


def test_the_patient_pages_ecg_can_be_taken_as_a(app):
    app.switch_page(PATIENT).run()
    app.file_uploader(key=ui.K_UPLOAD).set_value(
        [(n, d, "application/octet-stream") for n, d in wfdb_pair(3, record="patient01")]).run()
    app.switch_page(COMPARE).run()
    _choose_example(app, "A", "synthetic_normal")
    app.button(key="compare.take_patient").click().run()
    _assert_clean(app)
    assert app.session_state[ui.side_key("A", "label")] == app.session_state[ui.K_ECG_LABEL]
    assert app.session_state[ui.side_key("A", "token")] == app.session_state[ui.K_ECG_TOKEN]
    app.run()  # the example still shown in A's box does not come back over the Patient page's ECG
    assert app.session_state[ui.side_key("A", "label")] == app.session_state[ui.K_ECG_LABEL]
    assert app.session_state[ui.side_key("B", "ecg")] is None
    assert any("Load both ECGs" in i.value for i in app.info)
