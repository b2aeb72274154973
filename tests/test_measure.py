"""Global measurements (hfviz.ecg.measure): hand-built beat, simulated phenotypes, real devices.

1. A constructed beat with exactly known wave boundaries (sin^2 bumps) checks fiducials,
   intervals, axes and voltages by hand.
2. SYNTHETIC phenotypes (simulator seed 7, not the tuning seed 1) through the app's own path
   (``prepare``) against the simulator's truth.
3. The real sample files against the device measurements stored in them (skipped without
   ``/work/shared/ecg-samples``); IEC 60601-2-25 bounds are asserted only for the intervals
   that met them in ``docs/measurements_vs_device.md``, the others are strict xfails.
"""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import resample_poly

from hfviz.ecg import measure as M
from hfviz.ecg.delineate import FIDUCIALS
from hfviz.ecg.prepare import prepare
from hfviz.synthetic import waves
from hfviz.synthetic.phenotypes import sample_params
from hfviz.synthetic.simulate import simulate_ecg

FS = 500.0
ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT.parent / "shared" / "ecg-samples"


# --- a hand-built beat with exactly known boundaries ---------------------------------------
def _hann(t_ms: np.ndarray, start: float, stop: float) -> np.ndarray:
    """sin^2 bump: 0 outside [start, stop] (ms), 1 at the centre."""
    u = np.clip((t_ms - start) / (stop - start), 0.0, 1.0)
    return np.sin(np.pi * u) ** 2


def _leads(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """12 leads from frontal x (right to left), y (head to feet) and sagittal z parts (hexaxial)."""
    i, ii = x, 0.5 * x + math.sqrt(3) / 2 * y
    return np.stack([i, ii, ii - i, -(i + ii) / 2, i - ii / 2, ii - i / 2,
                     -z, -0.5 * z, 0.5 * x, x, x + 0.2 * z, x])


def hand_built_beat() -> tuple[np.ndarray, np.ndarray]:
    """600-sample 500 Hz beat: P 100-200 ms (axis 50 deg), QRS 300-390 ms, T 480-700 ms."""
    t = np.arange(600) * 1000.0 / FS
    p = 0.15 * _hann(t, 100, 200)
    q, r, s = -0.1 * _hann(t, 300, 320), 1.2 * _hann(t, 310, 360), -0.4 * _hann(t, 350, 390)
    tw = 0.3 * _hann(t, 480, 700)
    x = p * math.cos(math.radians(50)) + q + r + s + tw
    y = p * math.sin(math.radians(50)) / (math.sqrt(3) / 2) + 0.5 * r + 0.3 * tw
    z = 0.6 * r - 0.5 * s + 0.1 * q
    return _leads(x, y, z), t


def test_hand_built_beat_fiducials_lie_at_the_wave_boundaries():
    beat, _ = hand_built_beat()
    m, fid = M.measure_global(beat, FS, rr_ms=1000.0)
    f = {k: (None if v is None else v * 2.0) for k, v in fid.items()}  # ms
    assert set(fid) == set(FIDUCIALS)
    assert f["p_onset"] == pytest.approx(100, abs=6)
    assert f["p_offset"] == pytest.approx(200, abs=6)
    assert f["qrs_onset"] == pytest.approx(300, abs=5)  # the 40 Hz low-pass moves a sharp q ~4 ms early
    assert f["qrs_offset"] == pytest.approx(390, abs=5)
    assert f["t_end"] == pytest.approx(700, abs=12)
    # tangent at the steepest fall of a sin^2 of half-width 110 ms centred at 590 ms
    assert f["t_end_tangent"] == pytest.approx(590 + (0.5 + 1 / math.pi) * 110, abs=4)
    assert m["pr_ms"].value == pytest.approx(200, abs=8)
    assert m["qrs_ms"].value == pytest.approx(90, abs=6)
    assert m["qt_ms"].value == pytest.approx(400, abs=12)
    assert m["p_ms"].value == pytest.approx(100, abs=10)
    assert all(m[k].unit == "ms" for k in ("pr_ms", "p_ms", "qrs_ms", "qt_ms", "qt_tangent_ms"))


def test_hand_built_beat_axes_and_voltages_match_the_construction():
    beat, _ = hand_built_beat()
    m, _ = M.measure_global(beat, FS, rr_ms=1000.0)
    assert m["p_axis_deg"].value == pytest.approx(50, abs=3)
    assert m["t_axis_deg"].value == pytest.approx(math.degrees(math.atan2(0.866 * 0.09, 0.3)), abs=3)
    qrs_i = (-0.1 * 20 + 1.2 * 50 - 0.4 * 40) / 2  # area of a sin^2 bump = amplitude * width / 2
    qrs_avf = math.sqrt(3) / 2 * 0.5 * 1.2 * 50 / 2
    assert m["qrs_axis_deg"].value == pytest.approx(math.degrees(math.atan2(qrs_avf, qrs_i)), abs=3)
    q = beat[:, 145:200]
    assert m["sokolow_lyon_mv"].value == pytest.approx(max(-q[6].min(), 0) + max(q[10].max(), q[11].max()), abs=0.02)
    assert m["sokolow_lyon_mv"].unit == "mV" and m["qrs_axis_deg"].unit == "deg"
    assert m["heart_rate_bpm"].value == pytest.approx(60.0)
    assert m["qtc_bazett_ms"].value == pytest.approx(m["qt_ms"].value, abs=0.2)  # RR = 1 s


def test_beat_without_a_p_wave_gives_no_pr_with_a_reason_but_keeps_the_qrs():
    beat, t = hand_built_beat()
    beat = beat.copy()
    beat[:, t < 260] = 0.0
    m, _ = M.measure_global(beat, FS, rr_ms=800.0)
    assert m["pr_ms"].value is None and "P wave" in m["pr_ms"].reason
    assert m["p_axis_deg"].value is None and m["qrs_ms"].value is not None


def test_flat_beat_gives_none_everywhere_and_missing_rr_gives_no_qtc():
    m, _ = M.measure_global(np.zeros((12, 600)), FS)
    assert all(m[k].value is None and m[k].reason for k in M.MEASUREMENT_KEYS)
    m, _ = M.measure_global(hand_built_beat()[0], FS)
    assert m["qtc_bazett_ms"].value is None and "heart rate" in m["qtc_bazett_ms"].reason
    assert m["qt_ms"].value is not None


def test_1000_hz_beat_with_a_given_r_index_measures_the_same_intervals():
    b1000 = resample_poly(hand_built_beat()[0], 2, 1, axis=1)
    m, _ = M.measure_global(b1000, 1000.0, r_index=2 * 170, rr_ms=1000.0)
    assert m["qrs_ms"].value == pytest.approx(90, abs=6)
    assert m["pr_ms"].value == pytest.approx(200, abs=8)


@pytest.mark.parametrize("bad", [np.zeros((8, 600)), np.zeros(600), np.full((12, 600), np.nan), np.zeros((12, 100))])
def test_malformed_median_beat_raises_value_error(bad):
    with pytest.raises(ValueError):
        M.measure_global(bad, FS)


def test_measure_beat_without_a_median_beat_gives_every_key_with_the_reason():
    m = M.measure_beat(np.array([100, 600, 1100]), None, "too few beats")
    assert set(m) == set(M.MEASUREMENT_KEYS)
    assert m["heart_rate_bpm"].value == pytest.approx(60.0)
    assert all(m[k].value is None and m[k].reason == "too few beats" for k in M.MEASUREMENT_KEYS if k != "heart_rate_bpm")


def test_device_values_maps_every_vendor_name_to_our_keys():
    dev = {"PRInterval": {"value": 150, "unit": "ms"}, "TIME_PD_QRS": {"value": "96", "unit": "ms"},
           "QTcFridericia": 410, "RAxis": {"value": None}, "PDuration": {"value": "n/a"}}
    assert M.device_values(dev) == {"pr_ms": 150.0, "qrs_ms": 96.0, "qtc_fridericia_ms": 410.0}
    assert M.device_values(None) == {}


# --- SYNTHETIC phenotypes vs the simulator's truth -------------------------------------------
def _frontal_area(wv, prefixes: tuple[str, ...], gain: float) -> tuple[float, float]:
    sel = [w for w in wv if w[0].startswith(prefixes)]
    t = np.arange(-700.0, 1200.0, 0.5)
    leads = waves.twelve_from_eight(waves.project(waves.dipole(sel, t), gain))
    return float(leads[0].sum()), float(leads[5].sum())


def simulator_truth(p: dict) -> dict[str, float | None]:
    """Reference values from the simulator's parameters (times from QRS onset; None where undefined).

    PR = ``pr_ms``, P = ``p_ms``, QRS = ``qrs_ms``, QT (tangent) = ``qt_ms`` (the simulator's
    documented QT), QT (return to baseline) = end of the T wave (centre + fall); the QRS axis
    from the noise-free QRS areas in I and aVF.
    """
    wv = waves.build_waves(p)
    t_wave = next(w for w in wv if w[0] == "T")
    sinus = p["rhythm"] == "sinus"
    a_i, a_f = _frontal_area(wv, ("QRS",), float(p.get("precordial_gain", 1.0)))
    return {"pr_ms": float(p["pr_ms"]) if sinus else None, "p_ms": float(p["p_ms"]) if sinus else None,
            "qrs_ms": float(p["qrs_ms"]), "qt_tangent_ms": float(p["qt_ms"]), "qt_ms": float(t_wave[2] + t_wave[4]),
            "qrs_axis_deg": math.degrees(math.atan2(a_f, a_i))}


TOL = {"pr_ms": 8, "p_ms": 10, "qrs_ms": 6, "qt_ms": 12, "qt_tangent_ms": 8}
#: without an isoelectric TP segment (fast rates) None with a reason is the wanted answer.
MAY_BE_NONE = {"sinus_tachycardia": {"pr_ms", "p_ms"}}


@pytest.mark.parametrize("cond", ["normal", "av_block_1", "lbbb", "rbbb", "long_qt", "lvh", "mi_anterior",
                                  "t_flat", "sinus_tachycardia", "af"])
def test_simulated_phenotype_intervals_match_the_simulator_truth(cond):
    rng = np.random.default_rng(7)
    p = sample_params(rng, [cond])
    rec, _ = simulate_ecg(p, rng, noise="default")
    m = prepare(rec).measurements
    ref = simulator_truth(p)
    for key, tol in TOL.items():
        if ref[key] is None or (key in MAY_BE_NONE.get(cond, ()) and m[key].value is None):
            assert m[key].value is None and m[key].reason, key
        else:
            assert m[key].value == pytest.approx(ref[key], abs=tol), key
    assert m["qrs_axis_deg"].value == pytest.approx(ref["qrs_axis_deg"], abs=10)


# --- real samples vs the devices' own measurements -------------------------------------------
#: (|mean difference|, SD) in ms met by the app's measurement against the devices in
#: docs/measurements_vs_device.md (6 distinct recordings): PR and QT.
IEC_MET = {k: M.IEC_TOLERANCE_MS[k] for k in ("pr_ms", "qt_ms")}
#: not met there: QRS (one Philips file reads 39 ms shorter than its device) and P duration.
IEC_NOT_MET = {k: M.IEC_TOLERANCE_MS[k] for k in ("qrs_ms", "p_ms")}


def _report_script():
    spec = importlib.util.spec_from_file_location("measurements_vs_device", ROOT / "scripts" / "measurements_vs_device.py")
    mvd = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mvd)
    return mvd


@pytest.fixture(scope="module")
def real_rows():
    if not SAMPLES.is_dir():
        pytest.skip(f"real ECG samples not found at {SAMPLES}")
    mvd = _report_script()
    rows = [mvd.analyse(p, SAMPLES) for p in mvd.sample_files(SAMPLES)]
    rows = [r for r in rows if r and "error" not in r]
    dup = mvd.duplicates(rows)
    rows = [r for r in rows if r["name"] not in dup]
    if len(rows) < 2:
        pytest.skip("fewer than two readable samples with device measurements")
    return rows


def _within(rows, key, tol) -> bool:
    d = [r["new_app"][key] - r["device"][key] for r in rows
         if r["device"].get(key) is not None and r["new_app"][key] is not None]
    assert len(d) >= 2
    return abs(float(np.mean(d))) <= tol[0] and float(np.std(d, ddof=1)) <= tol[1]


@pytest.mark.parametrize("key", sorted(IEC_MET))
def test_real_samples_agree_with_the_device_within_iec(real_rows, key):
    assert _within(real_rows, key, IEC_MET[key])


@pytest.mark.parametrize("key", sorted(IEC_NOT_MET))
@pytest.mark.xfail(strict=True, reason="outside the IEC bounds against these devices (docs/measurements_vs_device.md)")
def test_real_samples_outside_iec_for_qrs_and_p_duration(real_rows, key):
    assert _within(real_rows, key, IEC_NOT_MET[key])


def test_real_samples_give_every_value_or_a_reason(real_rows):
    for r in real_rows:
        for key in M.MEASUREMENT_KEYS:
            assert (r["new_app"][key] is None) == (key in r["reasons"]), (r["name"], key)


def test_the_report_compares_simulated_measurements_with_the_simulators_values(tmp_path):
    import pandas as pd

    pd.DataFrame({"meas_qrs_ms": [90.0, 102.0, np.nan], "true_qrs_ms": [88.0, 100.0, 95.0],
                  "meas_pr_ms": [150.0, 160.0, 170.0], "true_pr_ms": [150.0, 160.0, 170.0]}).to_csv(
        tmp_path / "cohort.csv", index=False)
    lines = _report_script().synthetic_section(tmp_path)
    assert "| QRS | +2.0 ± 0.0 | +2.0 | 2.0 | 2 |" in lines  # the ECG without a measurement is left out
    assert "| PR | +0.0 ± 0.0 | +0.0 | 0.0 | 3 |" in lines
    assert not any(line.startswith("| QT") for line in lines)  # no QT columns, no QT row
