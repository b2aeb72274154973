"""Figure builders (hfviz.dashboard.ecg_figures, attribution_figures, risk_figures): structure and scaling, no rendering."""

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
    assert high[-1] - high[0] == pytest.approx(499 / FS * 25.0)  # 1 s -> 25 mm
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
    assert len(rhythm.x) == 5000
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
