"""Figure builders (hfviz.dashboard.ecg_figures, attribution_figures, risk_figures): structure and scaling.

No rendering here (the browser draws them in tests/test_browser.py).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from hfviz.dashboard import attribution_figures
from hfviz.dashboard import ecg_figures
from hfviz.dashboard import risk_figures
from hfviz.ecg.record import LEADS

FS = 500.0


def _strip(seconds: float = 10.0, fs: float = FS) -> np.ndarray:
    t = np.arange(int(seconds * fs)) / fs
    sig = np.zeros((12, t.size))
    for i in range(12):
        sig[i] = 0.1 * np.sin(2 * np.pi * 1.2 * t) + 0.01 * i
    return sig


def _roles(fig, role):
    return [tr for tr in fig.data if (tr.meta or {}).get("role") == role]


def test_ecg_paper_figure_has_13_ecg_traces_plus_grid_and_calibration():
    fig = ecg_figures.ecg_paper_figure(_strip(), FS, title="t")
    leads = _roles(fig, "lead")
    assert len(leads) == 12 and sorted(tr.meta["lead"] for tr in leads) == sorted(LEADS)
    assert len(_roles(fig, "rhythm")) == 1 and _roles(fig, "rhythm")[0].meta["lead"] == "II"
    assert len(leads) + len(_roles(fig, "rhythm")) == 13
    assert len(_roles(fig, "calibration")) == 1
    grid = [s for s in fig.layout.shapes if s.name in ("grid 1 mm", "grid 5 mm")]
    assert len(grid) == 2
    texts = " ".join(a.text for a in fig.layout.annotations)
    assert "25 mm/s" in texts and "10 mm/mV" in texts
    assert all(f"<b>{lead}</b>" in texts for lead in LEADS)


def test_ecg_paper_figure_scales_time_at_25_mm_per_s_and_amplitude_at_10_mm_per_mv():
    sig = np.zeros((12, 5000))
    sig[LEADS.index("II"), 1000:1500] = 1.0  # a 1 mV step lasting 1 s
    fig = ecg_figures.ecg_paper_figure(sig, FS)
    rhythm = _roles(fig, "rhythm")[0]
    x, y = np.asarray(rhythm.x), np.asarray(rhythm.y)
    assert x[-1] - x[0] == pytest.approx(4999 / FS * 25.0)
    assert y.max() - y.min() == pytest.approx(10.0)  # 1 mV -> 10 mm
    high = x[y > y.min() + 5]
    assert high[-1] - high[0] == pytest.approx(499 / FS * 25.0, abs=0.2)  # 1 s -> 25 mm (decimated: ±2 samples)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis.scaleratio == 1
    cal = _roles(fig, "calibration")[0]
    cy = np.array([v for v in cal.y if v is not None], dtype=float)
    assert cy[:6].max() - cy[:6].min() == pytest.approx(10.0)  # 1 mV calibration pulse


def test_ecg_paper_columns_show_consecutive_quarters_of_the_strip():
    fig = ecg_figures.ecg_paper_figure(_strip(), FS)
    by_lead = {tr.meta["lead"]: np.asarray(tr.x) for tr in _roles(fig, "lead")}
    for c, lead in enumerate(("I", "aVR", "V1", "V4")):
        assert by_lead[lead][0] == pytest.approx(c * 62.5)
        assert by_lead[lead][-1] < (c + 1) * 62.5
    for r, row in enumerate(ecg_figures.LAYOUT_3X4):
        for lead in row:
            tr = next(t for t in _roles(fig, "lead") if t.meta["lead"] == lead)
            assert np.median(tr.y) == pytest.approx(-ecg_figures.ROW_PITCH_MM * r, abs=2)


def test_grid_lines_are_1_mm_and_5_mm_apart():
    fig = ecg_figures.ecg_paper_figure(_strip(), FS)
    for shape, step in (("grid 1 mm", 1.0), ("grid 5 mm", 5.0)):
        path = next(s.path for s in fig.layout.shapes if s.name == shape)
        xs = np.array([float(v) for v in re.findall(r"M(-?[\d.]+),-?[\d.]+V", path)])
        np.testing.assert_allclose(np.diff(xs), step, atol=1e-6)


def test_long_record_draws_first_10_s_and_says_so():
    fig = ecg_figures.ecg_paper_figure(_strip(38.4), FS)
    rhythm = _roles(fig, "rhythm")[0]
    assert rhythm.x[-1] == pytest.approx(4999 / FS * 25.0, abs=0.01)  # 10 s at 25 mm/s
    assert len(rhythm.x) <= 5000  # decimated to what the paper's pixels show
    assert any("first 10.0 s of 38.4 s" in a.text for a in fig.layout.annotations)


def test_ecg_paper_figure_rejects_wrong_shape():
    with pytest.raises(ValueError):
        ecg_figures.ecg_paper_figure(np.zeros((8, 100)), FS)


@pytest.mark.parametrize("source, words", [("device", "device median beats"), ("computed", "computed from the strip")])
def test_median_beats_figure_says_where_the_beats_come_from(source, words):
    fig = ecg_figures.median_beats_figure(np.zeros((12, 600)), FS, source=source, r_index=238)
    assert words in fig.layout.title.text.lower()
    assert len(_roles(fig, "median")) == 12
    assert fig.layout.yaxis.scaleanchor == "x"


def test_signed_overlay_uses_a_symmetric_diverging_scale_with_legend_and_method_label():
    vals = np.linspace(-1, 3, 600)[None].repeat(12, axis=0)
    fig = attribution_figures.beat_overlay_figure(np.zeros((12, 600)), vals, FS, method_label="IG · baseline: zeros")
    ca = fig.layout.coloraxis
    assert ca.cmin == pytest.approx(-ca.cmax) and ca.cmid == 0
    assert ca.colorscale[0][1] != ca.colorscale[-1][1]
    assert "raises risk" in ca.colorbar.title.text and "lowers risk" in ca.colorbar.title.text
    assert fig.layout.title.text == "IG · baseline: zeros"
    assert len(_roles(fig, "overlay")) == 12


def test_unsigned_overlay_starts_at_zero():
    fig = attribution_figures.beat_overlay_figure(np.zeros((12, 600)), np.ones((12, 600)), FS, method_label="attention",
                                    signed=False)
    assert fig.layout.coloraxis.cmin == 0


def test_lead_attention_heatmap_names_leads_on_both_axes():
    fig = attribution_figures.lead_attention_heatmap(np.full((12, 12), 1 / 12))
    hm = fig.data[0]
    assert list(hm.x) == list(LEADS) and list(hm.y) == list(LEADS)


def _km(n=5, drop=0.1):
    t = np.linspace(0, 84, n)
    s = 1 - drop * t / 84
    return pd.DataFrame({"timeline": t, "survival": s, "ci_lower": s - 0.02, "ci_upper": np.minimum(1, s + 0.02)})


def test_km_groups_figure_has_one_curve_per_group_and_an_at_risk_table():
    curves = {"low": _km(drop=0.02), "middle": _km(drop=0.05), "high": _km(drop=0.2)}
    at_risk = pd.DataFrame([[100, 90, 80], [100, 85, 70], [100, 70, 40]], index=list(curves), columns=[0, 36, 72])
    fig = risk_figures.km_groups_figure(curves, at_risk, title="MI-like (synthetic)", subtitle="log-rank p = 0.001")
    km = _roles(fig, "km")
    assert [tr.meta["group"] for tr in km] == ["low", "middle", "high"]
    assert len(_roles(fig, "km_ci")) == 3
    table = _roles(fig, "at_risk")
    assert len(table) == 3
    assert list(table[2].text) == ["100", "70", "40"]
    assert list(table[0].x) == [0, 36, 72]
    assert "synthetic" in fig.layout.title.text and "log-rank" in fig.layout.title.text


def test_survival_figure_draws_patient_and_cohort_curves():
    t = np.linspace(0, 84, 85)
    fig = risk_figures.survival_figure(t, np.exp(-t / 500), km=_km(), cohort_label="MI-like (synthetic) KM")
    assert len(_roles(fig, "patient")) == 1 and len(_roles(fig, "km")) == 1
    assert fig.layout.xaxis.range[1] == 84


def test_risk_histogram_marks_the_patient():
    fig = risk_figures.risk_histogram_figure(np.random.default_rng(0).normal(size=200), patient_log_risk=1.5,
                                      cutoffs={"T2": 0.0})
    assert fig.layout.meta["patient_log_risk"] == 1.5
    assert any(s.x0 == 1.5 for s in fig.layout.shapes)
    assert len(_roles(fig, "histogram")) == 1


def test_calibration_figure_has_ideal_line_and_bins_with_ci():
    table = pd.DataFrame({"predicted": [0.01, 0.05, 0.1], "observed": [0.02, 0.04, 0.12],
                          "observed_lower": [0.0, 0.02, 0.08], "observed_upper": [0.04, 0.06, 0.16], "n": [10, 10, 10]})
    fig = risk_figures.calibration_figure(table, horizon_months=60)
    assert len(_roles(fig, "ideal")) == 1
    cal = _roles(fig, "calibration")[0]
    np.testing.assert_allclose(cal.error_y.array, [0.02, 0.02, 0.04])


def test_importance_and_agreement_figures():
    fig = attribution_figures.lead_importance_figure({"IG": np.full(12, 1 / 12), "Saliency": np.arange(12) / 66})
    assert len(_roles(fig, "importance")) == 2
    m = pd.DataFrame(np.eye(2), index=["IG", "Saliency"], columns=["IG", "Saliency"])
    fig2 = attribution_figures.agreement_figure(m)
    assert fig2.data[0].zmin == -1 and fig2.data[0].zmax == 1


# --- small figures, readable pictures (issue #11) ---------------------------------------------------
#: Budgets (bytes of plotly JSON, as Streamlit sends it) for a 10-s 500 Hz ECG and a 600-sample median beat.
#: Before the decimation and band overlays: overlay 616 kB, strip overlay 427 kB, 12-lead paper 488 kB,
#: median beats 351 kB (measured on the CardioSoft sample).
OVERLAY_BUDGET = 120_000
STRIP_OVERLAY_BUDGET = 80_000
PAPER_BUDGET = 260_000
MEDIAN_BUDGET = 120_000


def _noisy(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape)  # worst case for decimation: no smooth stretches


def test_attribution_overlay_figure_stays_under_its_byte_budget():
    fig = attribution_figures.beat_overlay_figure(_noisy((12, 600)), _noisy((12, 600), 1), FS, method_label="IG",
                                                  colorbar_title=attribution_figures.ATTRIBUTION_UNITS["saliency"])
    assert len(fig.to_json()) < OVERLAY_BUDGET
    strip = attribution_figures.strip_overlay_figure(_noisy((12, 5000)), _noisy((12, 5000), 2), FS, method_label="IG")
    assert len(strip.to_json()) < STRIP_OVERLAY_BUDGET


def test_ecg_paper_and_median_figures_stay_under_their_byte_budgets():
    assert len(ecg_figures.ecg_paper_figure(_noisy((12, 5000)), FS).to_json()) < PAPER_BUDGET
    assert len(ecg_figures.median_beats_figure(_noisy((12, 600)), FS, source="computed").to_json()) < MEDIAN_BUDGET


def test_decimation_keeps_every_peak_of_the_ecg():
    sig = _noisy((12, 5000)) * 0.1
    sig[LEADS.index("II"), 2345] = 3.0  # one sharp 1-sample spike
    sig[LEADS.index("II"), 3456] = -2.0
    rhythm = _roles(ecg_figures.ecg_paper_figure(sig, FS), "rhythm")[0]
    y_mv = (np.asarray(rhythm.y) - np.median(rhythm.y)) / 10.0
    assert y_mv.max() == pytest.approx(3.0, abs=0.05) and y_mv.min() == pytest.approx(-2.0, abs=0.05)


def test_overlay_draws_values_as_bands_behind_the_beat_with_units_and_one_mv_range_per_row():
    beat = np.zeros((12, 600))
    beat[LEADS.index("V4")] = np.linspace(-0.2, 2.3, 600)
    fig = attribution_figures.beat_overlay_figure(beat, np.ones((12, 600)), FS, method_label="IG",
                                                  colorbar_title="Δ log-risk<br>per sample")
    bands = _roles(fig, "overlay")
    assert len(bands) == 12 and all(b.type == "heatmap" for b in bands)
    assert all(np.asarray(b.z).shape == (1, 120) for b in bands)  # 10-ms bands of a 1.2-s beat
    assert "Δ log-risk" in fig.layout.coloraxis.colorbar.title.text
    beats = {tr.meta["lead"]: tr for tr in _roles(fig, "beat")}
    assert [tr.mode for tr in beats.values()] == ["lines"] * 12
    ranges = {ld: tuple(fig.layout[tr.yaxis.replace("y", "yaxis")].range) for ld, tr in beats.items()}
    for row in ecg_figures.LAYOUT_3X4:  # one mV scale per row
        assert len({ranges[ld] for ld in row}) == 1
    assert ranges["V4"][1] >= 2.3 and ranges["I"] == ranges["V4"]
    assert fig.layout.xaxis.dtick == 200 and fig.layout.xaxis.minor.dtick == 40  # 5 mm / 1 mm at 25 mm/s
    assert fig.layout.yaxis.dtick == 0.5 and fig.layout.yaxis.minor.dtick == 0.1  # 5 mm / 1 mm at 10 mm/mV


def test_overlay_uses_a_given_shared_range_and_draws_the_reference_beat():
    ref = np.full((12, 600), 0.1)
    fig = attribution_figures.beat_overlay_figure(np.zeros((12, 600)), np.ones((12, 600)), FS, method_label="IG",
                                                  vmax=0.5, reference_mv=ref)
    assert fig.layout.coloraxis.cmax == 0.5 and fig.layout.coloraxis.cmin == -0.5
    assert len(_roles(fig, "reference")) == 12


def test_reference_beat_of_the_zero_input_is_each_leads_own_mean():
    beat = np.tile(np.linspace(0.0, 1.0, 600), (12, 1)) + np.arange(12)[:, None]
    ref = attribution_figures.reference_beat_mv(beat, np.zeros((12, 608)))
    padded_mean = (beat.sum(axis=1) / 608.0)[:, None]  # the model's z-score is over the zero-padded beat
    np.testing.assert_allclose(ref, np.broadcast_to(padded_mean, ref.shape), atol=1e-9)


def test_lead_attention_heatmap_numbers_are_at_least_11_px():
    fig = attribution_figures.lead_attention_heatmap(np.full((12, 12), 1 / 12))
    assert fig.data[0].textfont.size >= 11
    assert fig.data[0].colorbar.x <= 1.05  # colour bar right beside the map


def _step_value(xs, ys, t):
    """Value at t of the polyline (xs, ys) drawn as the figure draws it (right-continuous at jumps)."""
    k = np.searchsorted(xs, t, side="right") - 1
    return ys[max(k, 0)]


def _km_with_events():
    t = np.array([0.0, 5.0, 9.0, 9.5, 20.0, 33.0, 60.0])
    s = np.array([1.0, 1.0, 0.97, 0.97, 0.93, 0.90, 0.90])
    return pd.DataFrame({"timeline": t, "survival": s, "ci_lower": np.where(s < 1, s - 0.04, 1.0),
                         "ci_upper": np.where(s < 1, np.minimum(1, s + 0.02), 1.0)})


@pytest.mark.parametrize("build", ["survival", "groups"])
def test_km_band_vertices_coincide_with_the_step_curve(build):
    km = _km_with_events()
    if build == "survival":
        fig = risk_figures.survival_figure(np.linspace(0, 84, 85), np.linspace(1, 0.8, 85), km=km)
    else:
        fig = risk_figures.km_groups_figure({"low": km, "high": km}, pd.DataFrame([[10], [10]], index=["low", "high"],
                                                                                 columns=[0]), title="t")
    curve, band = _roles(fig, "km")[0], _roles(fig, "km_ci")[0]
    assert curve.mode == "lines" and curve.line.shape in (None, "linear")  # steps are in the vertices, no markers
    cx, cy = np.asarray(curve.x, float), np.asarray(curve.y, float)
    bx, by = np.asarray(band.x, float), np.asarray(band.y, float)
    half = len(bx) // 2
    ux, uy, lx, ly = bx[:half], by[:half], bx[half:][::-1], by[half:][::-1]
    np.testing.assert_allclose(ux, cx, atol=1e-4)  # the band's corners are the curve's corners
    np.testing.assert_allclose(lx, cx, atol=1e-4)
    for t in np.linspace(0, 60, 241):
        s, lo, hi = (_step_value(x, y, t) for x, y in ((cx, cy), (lx, ly), (ux, uy)))
        assert lo - 1e-4 <= s <= hi + 1e-4, t
    before_first_event = cx < 9.0
    assert np.all(ly[before_first_event] > 0.9999)  # the band does not dip below 100 % before the first event


def test_km_at_risk_numbers_sit_under_the_time_ticks():
    at_risk = pd.DataFrame([[100, 90, 80]], index=["low"], columns=[0, 36, 72])
    fig = risk_figures.km_groups_figure({"low": _km()}, at_risk, title="t")
    assert list(fig.layout.xaxis.tickvals) == list(fig.layout.xaxis2.tickvals) == [0, 36, 72]
    assert tuple(fig.layout.xaxis.range) == tuple(fig.layout.xaxis2.range)
    assert list(_roles(fig, "at_risk")[0].x) == [0, 36, 72]


def test_survival_figure_marks_the_quoted_horizon_on_both_curves():
    t = np.linspace(0, 84, 85)
    km = _km_with_events()
    fig = risk_figures.survival_figure(t, np.exp(-t / 500), km=km, mark_months=60)
    mark = fig.layout.meta["mark"]
    assert mark["months"] == 60 and mark["patient"] == pytest.approx(np.exp(-60 / 500), abs=1e-6)
    assert mark["cohort"] == pytest.approx(0.90)  # the KM step in force at 60 months
    assert list(_roles(fig, "mark")[0].x) == [60, 60]
    assert any("60 months" in a.text and "90.0%" in a.text for a in fig.layout.annotations)


def test_bin_mean_averages_finite_values_and_keeps_a_last_partial_bin():
    from hfviz.dashboard.plot_data import bin_mean, minmax_indices

    v = np.array([1.0, 3.0, np.nan, np.nan, 5.0])
    np.testing.assert_allclose(bin_mean(v, 2), [2.0, np.nan, 5.0])
    y = np.sin(np.linspace(0, 20, 1000))
    idx = minmax_indices(1000, y, 100)
    assert idx[0] == 0 and idx[-1] == 999 and len(idx) <= 102 and np.all(np.diff(idx) > 0)
    assert y[idx].max() == y.max() and y[idx].min() == y.min()


def test_minmax_decimation_keeps_each_buckets_first_minimum_and_maximum_like_a_per_bucket_loop():
    from hfviz.dashboard.plot_data import minmax_indices

    def per_bucket(n, y, n_out):
        edges = np.linspace(0, n, n_out // 2 + 1).astype(int)
        yy = np.where(np.isfinite(y), y, 0.0)
        keep = [0, n - 1]
        for lo, hi in zip(edges[:-1], edges[1:]):
            if hi > lo:
                keep += [lo + int(np.argmin(yy[lo:hi])), lo + int(np.argmax(yy[lo:hi]))]
        return np.unique(keep)

    rng = np.random.default_rng(0)
    for n, n_out in [(5000, 1200), (600, 100), (1000, 999), (37, 10), (5000, 4), (10, 4)]:
        for y in (rng.normal(size=n), np.round(rng.normal(size=n)), np.zeros(n),
                  np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n))):
            np.testing.assert_array_equal(minmax_indices(n, y, n_out), per_bucket(n, y, n_out))


# --- phone layout, histogram labels, calibration before/after (#11, #12) ---------------------------
def _panel_boxes(fig):
    """Lead -> (x domain, y domain) of its overlay panel."""
    out = {}
    for tr in _roles(fig, "beat"):
        xa, ya = fig.layout[tr.xaxis.replace("x", "xaxis")], fig.layout[tr.yaxis.replace("y", "yaxis")]
        out[tr.meta["lead"]] = (tuple(xa.domain), tuple(ya.domain))
    return out


@pytest.mark.parametrize("columns", [2, 1])
def test_phone_overlay_stacks_the_leads_in_rows_of_columns_panels_with_one_mv_range_per_row(columns):
    beat = np.zeros((12, 600))
    beat[LEADS.index("V2")] = np.linspace(-0.2, 2.3, 600)
    fig = attribution_figures.beat_overlay_figure(beat, np.ones((12, 600)), FS, method_label="IG · baseline: zeros",
                                                  colorbar_title="Δ log-risk<br>per sample", columns=columns)
    rows = attribution_figures.overlay_rows(columns)
    assert len(rows) == 12 // columns and sorted(ld for r in rows for ld in r) == sorted(LEADS)
    boxes = _panel_boxes(fig)
    for row in rows:
        assert len({boxes[ld][1] for ld in row}) == 1  # a row shares its vertical band
        ranges = {tuple(fig.layout[tr.yaxis.replace("y", "yaxis")].range) for tr in _roles(fig, "beat")
                  if tr.meta["lead"] in row}
        assert len(ranges) == 1
    widths = {round(b[0][1] - b[0][0], 3) for b in boxes.values()}
    assert min(widths) > 0.4 if columns == 2 else min(widths) > 0.95  # each panel spans half / all the width
    assert fig.layout.coloraxis.colorbar.orientation == "h"  # the colour bar goes under the panels
    assert "<br>" in fig.layout.title.text and fig.layout.meta["method"] == "IG · baseline: zeros"
    assert len(_roles(fig, "overlay")) == 12


def test_desktop_overlay_keeps_the_clinical_3x4_layout():
    fig = attribution_figures.beat_overlay_figure(np.zeros((12, 600)), np.ones((12, 600)), FS, method_label="IG")
    boxes = _panel_boxes(fig)
    for row in ecg_figures.LAYOUT_3X4:
        assert len({boxes[ld][1] for ld in row}) == 1
    assert len({b[1] for b in boxes.values()}) == 3
    with pytest.raises(ValueError):
        attribution_figures.overlay_rows(5)


@pytest.mark.parametrize("build", [
    lambda w: ecg_figures.ecg_paper_figure(_strip(), FS, fit_width_px=w),
    lambda w: ecg_figures.median_beats_figure(_strip(1.2), FS, source="computed", fit_width_px=w)])
def test_ecg_figure_height_follows_the_width_it_is_fitted_to(build):
    phone, desk = build(ecg_figures.PHONE_WIDTH_PX), build(1250)
    assert phone.layout.height < desk.layout.height / 2
    # the paper keeps its aspect: plot height / plot width is the same at both widths
    ratio = [(f.layout.height - 60) / (w - 20) for f, w in ((phone, ecg_figures.PHONE_WIDTH_PX), (desk, 1250))]
    assert ratio[0] == pytest.approx(ratio[1], rel=0.02)
    assert phone.layout.width is None  # the page still gives it its whole width


@pytest.mark.parametrize("patient", [-2.5, 0.05, 2.5])
def test_histogram_patient_label_sits_inside_the_plot_and_cutoff_labels_above_it(patient):
    v = np.random.default_rng(0).normal(size=400)
    fig = risk_figures.risk_histogram_figure(v, patient_log_risk=patient, cutoffs={"middle": -0.4, "high": 0.0},
                                             patient_label="current ECG", patient_name="x" * 60)
    cut = [a for a in fig.layout.annotations if a.name == "cutoff"]
    pat = [a for a in fig.layout.annotations if a.name == "patient"]
    assert len(cut) == 2 and len(pat) == 1
    assert all(a.y == 1.0 and a.yanchor == "bottom" for a in cut)  # above the plot area
    assert pat[0].y < 1.0 and pat[0].yanchor == "top"  # inside it: never on the cut-off labels
    assert {a.yshift for a in cut} == {2, 15}  # two close cut-offs are staggered
    assert "…" in pat[0].text and pat[0].hovertext == "x" * 60
    # the label is written on the side of the line with more room
    assert pat[0].xanchor == ("left" if patient < 1.0 else "right")


def test_calibration_figure_draws_one_series_per_table_on_one_range():
    before = pd.DataFrame({"predicted": [0.02, 0.1, 0.3], "observed": [0.01, 0.05, 0.12], "n": [5, 5, 5]})
    after = pd.DataFrame({"predicted": [0.01, 0.05, 0.13], "observed": [0.01, 0.05, 0.12], "n": [5, 5, 5]})
    fig = risk_figures.calibration_figure({"before recalibration": before, "after recalibration": after},
                                          horizon_months=60)
    series = _roles(fig, "calibration")
    assert [s.meta["series"] for s in series] == ["before recalibration", "after recalibration"]
    assert series[0].marker.color != series[1].marker.color
    assert fig.layout.xaxis.range[1] == pytest.approx(0.33) and fig.layout.yaxis.range == fig.layout.xaxis.range


def test_phone_lead_attention_heatmap_keeps_values_on_hover_and_the_colour_bar_under_the_map():
    a = np.full((12, 12), 1 / 12)
    desk, phone = (attribution_figures.lead_attention_heatmap(a, phone=c) for c in (False, True))
    assert desk.data[0].texttemplate and not phone.data[0].texttemplate
    assert phone.data[0].colorbar.orientation == "h" and "%{z" in phone.data[0].hovertemplate


# --- the overlay on one sheet of ECG paper (the Interpretability page; #11 method switch < 1 s) ----------
#: The Interpretability overlay as JSON. Before (12 subplots, made by make_subplots): 82 kB, 24 traces
#: in 12 plot areas, ~0.8-1.7 s to build and ~0.8 s for plotly.js to draw on the busy 2-core machine;
#: now one plot area, 2 traces: ~76 kB (~106 kB with the reference beat), ~40 ms to build, ~0.2 s to draw.
PAPER_OVERLAY_BUDGET = 90_000
PAPER_OVERLAY_MAX_TRACES = 3  # bands, reference, beat


def _paper(beat=None, vals=None, **kw):
    beat = np.zeros((12, 600)) if beat is None else beat
    vals = np.ones((12, 600)) if vals is None else vals
    label = kw.pop("method_label", "IG")
    return attribution_figures.beat_overlay_paper_figure(beat, vals, FS, method_label=label, **kw)


def _band_at(fig, lead, t_ms):
    """The colour value the bands show for ``lead`` at ``t_ms`` into its beat, and the hover's ms there."""
    (bands,) = _roles(fig, "overlay")
    p = fig.layout.meta["panels"][lead]
    x, y = np.asarray(bands.x), np.asarray(bands.y)
    col = int(np.searchsorted(x, p["x0"] + t_ms, side="right")) - 1
    row = int(np.searchsorted(y, p["y0"] + 1e-6, side="right")) - 1
    return np.asarray(bands.z)[row, col], bands.customdata[row][col]


def test_paper_overlay_stays_under_its_byte_budget_in_one_plot_area_with_three_traces_at_most():
    for columns, ref in ((4, None), (2, None), (4, _noisy((12, 600), 2))):
        fig = _paper(_noisy((12, 600)), _noisy((12, 600), 1), columns=columns, reference_mv=ref,
                     colorbar_title=attribution_figures.ATTRIBUTION_UNITS["saliency"])
        assert len(fig.to_json()) < (PAPER_OVERLAY_BUDGET if ref is None else OVERLAY_BUDGET)  # + a dashed line
        assert len(fig.data) <= PAPER_OVERLAY_MAX_TRACES
        assert not any(k.startswith(("xaxis2", "yaxis2")) for k in fig.layout.to_plotly_json())  # one plot area


@pytest.mark.parametrize("columns", [4, 2, 1])
def test_paper_overlay_places_every_lead_in_its_panel_with_its_own_bands(columns):
    vals = np.arange(12, dtype=float)[:, None].repeat(600, axis=1)  # lead i has the value i everywhere
    vals[LEADS.index("V2"), 300:305] = 50.0  # one 10-ms band at 600 ms
    fig = _paper(vals=vals, columns=columns)
    rows = attribution_figures.overlay_rows(columns)
    panels = fig.layout.meta["panels"]
    assert sorted(panels) == sorted(LEADS)
    for r, row in enumerate(rows):
        for c, lead in enumerate(row):
            assert (panels[lead]["row"], panels[lead]["col"]) == (r, c)
            value, ms = _band_at(fig, lead, 105.0)
            assert value == pytest.approx(LEADS.index(lead)) and ms == 105  # the band's centre
    assert _band_at(fig, "V2", 603.0)[0] == pytest.approx(50.0)
    (bands,) = _roles(fig, "overlay")
    assert np.isnan(np.asarray(bands.z)).any()  # gaps between the panels stay empty


def test_paper_overlay_draws_each_beat_in_its_panel_on_one_mv_scale_with_whole_5_mm_rows():
    beat = np.zeros((12, 600))
    beat[LEADS.index("V4")] = np.linspace(-0.2, 2.3, 600)
    fig = _paper(beat, colorbar_title="Δ log-risk<br>per sample", reference_mv=np.full((12, 600), 0.1))
    panels = fig.layout.meta["panels"]
    for row in ecg_figures.LAYOUT_3X4:  # one mV range per row, in whole 0.5-mV (5 mm) squares
        assert len({(panels[ld]["lo"], panels[ld]["hi"]) for ld in row}) == 1
        assert all(panels[ld]["lo"] % 0.5 == 0 and panels[ld]["hi"] % 0.5 == 0 for ld in row)
    assert panels["V4"]["hi"] >= 2.3 and panels["I"]["hi"] == panels["V4"]["hi"]
    (line,) = _roles(fig, "beat")
    x, y = np.asarray(line.x, dtype=float), np.asarray(line.y, dtype=float)
    p = panels["V4"]
    inside = (x >= p["x0"]) & (x <= p["x0"] + 1200) & (y >= p["y0"] - 1e-3) & (y <= p["y0"] + p["hi"] - p["lo"] + 1e-3)
    mv = y[inside] - p["y0"] + p["lo"]
    assert mv.max() == pytest.approx(2.3, abs=0.01) and mv.min() == pytest.approx(-0.2, abs=0.01)
    assert np.isnan(y).sum() == 12  # one break after each lead: no line joins two panels
    assert len(_roles(fig, "reference")) == 1
    assert "Δ log-risk" in fig.layout.coloraxis.colorbar.title.text


def _path_lines(path: str, kind: str) -> list[float]:
    """Sorted positions of the vertical (``"V"``: x) or horizontal (``"H"``: y) lines of an SVG grid path."""
    pattern = r"M(-?[\d.]+),-?[\d.]+V" if kind == "V" else r"M-?[\d.]+,(-?[\d.]+)H"
    return sorted({float(v) for v in re.findall(pattern, path)})


def test_paper_overlay_grid_is_1_mm_and_5_mm_of_ecg_paper_and_panels_start_on_5_mm_lines():
    fig = _paper()
    paths = {s.name: s.path for s in fig.layout.shapes}
    assert np.allclose(np.diff(_path_lines(paths["grid 1 mm"], "V")), 40.0)  # ms between vertical lines
    assert np.allclose(np.diff(_path_lines(paths["grid 5 mm"], "V")), 200.0)
    assert np.allclose(np.diff(_path_lines(paths["grid 1 mm"], "H")), 0.1, atol=0.011)  # mV between horizontal ones
    assert np.allclose(np.diff(_path_lines(paths["grid 5 mm"], "H")), 0.5)
    for p in fig.layout.meta["panels"].values():
        assert p["x0"] % 200 == 0 and round(p["y0"] * 2, 6) % 1 == 0


def test_paper_overlay_keeps_the_colour_scale_rules_of_the_subplot_overlay():
    signed = _paper(vals=np.linspace(-1, 3, 600)[None].repeat(12, axis=0), vmax=None)
    assert signed.layout.coloraxis.cmin == pytest.approx(-signed.layout.coloraxis.cmax)
    assert "raises risk" in signed.layout.coloraxis.colorbar.title.text
    assert _paper(vmax=0.5).layout.coloraxis.cmax == 0.5
    assert _paper(signed=False).layout.coloraxis.cmin == 0
    phone = _paper(method_label="IG · baseline: zeros", columns=2)
    assert phone.layout.coloraxis.colorbar.orientation == "h" and "<br>" in phone.layout.title.text
    with pytest.raises(ValueError):
        _paper(vals=np.ones((12, 500)))


def test_km_figure_at_phone_width_puts_each_part_of_the_title_on_its_own_line_and_never_clips_at_risk_numbers():
    curves = {"low": _km(drop=0.02), "high": _km(drop=0.2)}
    at_risk = pd.DataFrame([[834, 820, 0], [833, 818, 0]], index=list(curves), columns=[0, 36, 84])
    kw = dict(title="Kaplan–Meier by predicted risk<br>MI-like cohort (synthetic): independent validation",
              subtitle="log-rank p = 0.0026 · HR high vs low 2.28 (1.32–3.91) · C-index 0.616 (0.537–0.681)")
    desk, phone = risk_figures.km_groups_figure(curves, at_risk, **kw), risk_figures.km_groups_figure(
        curves, at_risk, phone=True, **kw)
    assert desk.layout.title.text.count("<br>") == 2 and phone.layout.title.text.count("<br>") == 5
    assert phone.layout.height > desk.layout.height  # the extra lines get their room
    assert all(tr.cliponaxis is False for tr in _roles(phone, "at_risk") + _roles(desk, "at_risk"))
