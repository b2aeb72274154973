"""Tests for hfviz.preprocess: resampling, cleaning, R peaks, median beat, measurements.

Synthetic ECGs (labelled synthetic) are built here from Gaussian-shaped P, QRS and T waves
projected onto the 12 leads from a frontal-plane direction, so R-peak times, heart rate and
QRS axis are known exactly. Real-file checks use the CardioSoft and MUSE samples.
"""

from __future__ import annotations

import numpy as np
import pytest

from hfviz.ecg import signal as ecg_signal
from hfviz.ecg import measure as ecg_measure
from hfviz.ecg import prepare as ecg_prepare
from hfviz.errors import ECGFormatError
from hfviz.ecg.io import read_ecg
from hfviz.ecg.record import LEADS, make_record

FS = 500.0
# Frontal-plane lead directions (degrees, hexaxial); precordial leads get fixed weights.
_FRONTAL = {"I": 0.0, "II": 60.0, "III": 120.0, "aVR": -150.0, "aVL": -30.0, "aVF": 90.0}
_PRECORDIAL = {"V1": -0.6, "V2": -0.3, "V3": 0.4, "V4": 1.0, "V5": 0.9, "V6": 0.7}


def _gauss(t: np.ndarray, mu: float, sigma: float) -> np.ndarray:
    return np.exp(-0.5 * ((t - mu) / sigma) ** 2)


def _lead_weights(axis_deg: float) -> np.ndarray:
    w = []
    for lead in LEADS:
        if lead in _FRONTAL:
            w.append(np.cos(np.radians(axis_deg - _FRONTAL[lead])))
        else:
            w.append(_PRECORDIAL[lead])
    return np.asarray(w)


def synthetic_ecg(
    r_times_s,
    duration_s: float,
    *,
    fs: float = FS,
    axis_deg: float = 60.0,
    p_wave: bool = True,
    noise_mv: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """Synthetic 12-lead ECG (mV), shape (12, n), with R peaks exactly at ``r_times_s``.

    Each beat: P (0.15 mV, 170 ms before R), QRS (R 1.2 mV with small Q and S, about
    90 ms wide) and T (0.35 mV, 280 ms after R), all along the frontal direction
    ``axis_deg`` (so the true frontal QRS axis is ``axis_deg``).
    """
    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    v = np.zeros(n)
    for r in r_times_s:
        v += 1.2 * _gauss(t, r, 0.010)
        v -= 0.15 * _gauss(t, r - 0.024, 0.007) + 0.25 * _gauss(t, r + 0.026, 0.008)
        v += 0.35 * _gauss(t, r + 0.28, 0.045)
        if p_wave:
            v += 0.15 * _gauss(t, r - 0.17, 0.02)
    x = np.outer(_lead_weights(axis_deg), v)
    if noise_mv:
        x = x + np.random.default_rng(seed).normal(0.0, noise_mv, x.shape)
    return x


def regular_r_times(hr_bpm: float, duration_s: float, first_s: float = 0.5) -> np.ndarray:
    return np.arange(first_s, duration_s - 0.3, 60.0 / hr_bpm)


# --------------------------------------------------------------------------------------
# resample / clean
# --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fs_in", [1000.0, 250.0, 360.0])
def test_resample_to_500_hz_preserves_a_sine(fs_in):
    dur = 4.0
    t_in = np.arange(int(dur * fs_in)) / fs_in
    x = np.tile(np.sin(2 * np.pi * 7.0 * t_in), (12, 1))
    y = ecg_signal.resample(x, fs_in, 500.0)
    assert y.shape == (12, int(dur * 500))
    t_out = np.arange(y.shape[1]) / 500.0
    inner = slice(100, -100)  # away from the filter's edge transients
    expected = np.tile(np.sin(2 * np.pi * 7.0 * t_out), (12, 1))
    np.testing.assert_allclose(y[:, inner], expected[:, inner], atol=0.01)


def test_resample_at_the_same_rate_returns_an_equal_copy():
    x = np.random.default_rng(1).normal(size=(12, 1000))
    y = ecg_signal.resample(x, 500.0, 500.0)
    assert y is not x
    np.testing.assert_array_equal(x, y)


def test_clean_removes_baseline_wander_and_powerline_hum():
    dur = 10.0
    x = synthetic_ecg(regular_r_times(70, dur), dur)
    t = np.arange(x.shape[1]) / FS
    dirty = x + 0.8 * np.sin(2 * np.pi * 0.15 * t + 0.3) + 0.2 * np.sin(2 * np.pi * 50.0 * t)
    cleaned, reference = ecg_signal.clean(dirty, FS), ecg_signal.clean(x, FS)
    inner = slice(500, -500)
    assert np.max(np.abs(cleaned - reference)[:, inner]) < 0.05
    # and the cleaned strip keeps the QRS: peak-to-peak within 10 % of the original's
    p2p_clean, p2p_orig = np.ptp(cleaned[:, inner], axis=1), np.ptp(x[:, inner], axis=1)
    np.testing.assert_allclose(p2p_clean, p2p_orig, rtol=0.1, atol=0.02)


def test_clean_rejects_non_finite_samples_with_the_library_error():
    x = np.zeros((12, 2000))
    x[3, 10] = np.nan
    with pytest.raises(ECGFormatError, match="NaN"):
        ecg_signal.clean(x, FS)


# --------------------------------------------------------------------------------------
# R peaks
# --------------------------------------------------------------------------------------
def test_detect_r_peaks_finds_every_beat_at_its_true_time():
    dur = 10.0
    r_true = regular_r_times(75, dur)
    x = ecg_signal.clean(synthetic_ecg(r_true, dur, noise_mv=0.02), FS)
    r = ecg_signal.detect_r_peaks(x, FS)
    assert r.size == r_true.size
    assert np.max(np.abs(r - np.rint(r_true * FS))) <= 2


def test_detect_r_peaks_is_polarity_free_and_survives_one_noisy_lead():
    dur = 10.0
    r_true = regular_r_times(60, dur)
    x = -synthetic_ecg(r_true, dur, axis_deg=-120.0)  # negative QRS in most leads
    r = ecg_signal.detect_r_peaks(ecg_signal.clean(x, FS), FS)
    assert r.size == r_true.size
    assert np.max(np.abs(r - np.rint(r_true * FS))) <= 2
    x[7] += np.random.default_rng(3).normal(0.0, 1.0, x.shape[1])  # V2 becomes pure noise
    r = ecg_signal.detect_r_peaks(ecg_signal.clean(x, FS), FS)
    assert r.size == r_true.size
    assert np.max(np.abs(r - np.rint(r_true * FS))) <= 10  # the noise moves the magnitude peak


def test_detect_r_peaks_on_a_flat_signal_returns_no_beats():
    assert ecg_signal.detect_r_peaks(np.zeros((12, 5000)), FS).size == 0


# --------------------------------------------------------------------------------------
# median beat
# --------------------------------------------------------------------------------------
def test_median_beat_puts_the_r_peak_at_r_offset():
    dur = 10.0
    x = synthetic_ecg(regular_r_times(64, dur, first_s=0.73), dur)
    beat = ecg_signal.median_beat(x, FS)
    assert beat.shape == (12, ecg_signal.BEAT_LEN)
    assert int(np.argmax(beat[LEADS.index("II")])) == ecg_signal.R_OFFSET
    assert int(np.argmax(np.sqrt((beat**2).sum(0)))) == ecg_signal.R_OFFSET


def test_median_beat_of_a_noisy_signal_with_ectopic_beats_recovers_the_clean_template():
    dur = 10.0
    r_true = regular_r_times(60, dur, first_s=0.61)
    normal = np.delete(r_true, [3, 6])
    clean_x = synthetic_ecg(normal, dur)
    noisy = clean_x + np.random.default_rng(7).normal(0.0, 0.03, clean_x.shape)
    # beats 3 and 6 are ectopic: early, wide, with another axis and no P wave
    t = np.arange(clean_x.shape[1]) / FS
    for r in (r_true[3] - 0.2, r_true[6] - 0.2):
        noisy += np.outer(_lead_weights(-90.0), 1.5 * _gauss(t, r, 0.035) - 0.5 * _gauss(t, r + 0.3, 0.06))
    beat = ecg_signal.median_beat(noisy, FS)
    mid = int(round(r_true[8] * FS))
    template = clean_x[:, mid - ecg_signal.R_OFFSET : mid - ecg_signal.R_OFFSET + ecg_signal.BEAT_LEN]
    for lead in range(12):
        if np.ptp(template[lead]) > 0.6:  # correlation of near-flat leads measures only noise
            assert np.corrcoef(beat[lead], template[lead])[0, 1] > 0.98, LEADS[lead]
    # within noise everywhere: the ectopic beats (1.5 mV) left no trace
    assert np.max(np.abs(beat - template)) < 0.1


def test_median_beat_resamples_other_rates_and_maps_given_r_peaks():
    dur = 10.0
    r_true = regular_r_times(70, dur)
    x1000 = synthetic_ecg(r_true, dur, fs=1000.0)
    beat = ecg_signal.median_beat(x1000, 1000.0, r_peaks=np.rint(r_true * 1000).astype(int))
    assert beat.shape == (12, ecg_signal.BEAT_LEN)
    assert int(np.argmax(np.sqrt((beat**2).sum(0)))) == ecg_signal.R_OFFSET


def test_median_beat_of_a_short_strip_uses_beats_cut_by_its_ends():
    # 2.5 s, three beats, none with a complete 1.2 s window inside the strip
    x = synthetic_ecg([0.3, 1.2, 2.2], 2.5)
    beat = ecg_signal.median_beat(x, FS)
    assert np.all(np.isfinite(beat))
    assert int(np.argmax(np.sqrt((beat**2).sum(0)))) == ecg_signal.R_OFFSET
    mid = int(1.2 * FS)
    np.testing.assert_allclose(beat[:, 150:450], x[:, mid - ecg_signal.R_OFFSET + 150 : mid - ecg_signal.R_OFFSET + 450], atol=1e-9)


def test_median_beat_with_one_beat_raises_an_error_naming_the_record():
    x = synthetic_ecg([1.0], 2.5)
    with pytest.raises(ECGFormatError, match="strip.csv: .*heartbeat"):
        ecg_signal.median_beat(x, FS, name="strip.csv")


def test_median_beat_of_a_flat_signal_raises_the_library_error():
    with pytest.raises(ECGFormatError, match="flat.npy"):
        ecg_signal.median_beat(np.zeros((12, 5000)), FS, name="flat.npy")


# --------------------------------------------------------------------------------------
# model input
# --------------------------------------------------------------------------------------
def test_pad_beat_adds_four_zeros_on_each_side_for_single_and_batched_beats():
    beat = np.ones((12, ecg_signal.BEAT_LEN))
    padded = ecg_signal.pad_beat(beat)
    assert padded.shape == (12, ecg_signal.MODEL_LEN)
    assert np.all(padded[:, :4] == 0) and np.all(padded[:, -4:] == 0) and np.all(padded[:, 4:-4] == 1)
    assert ecg_signal.pad_beat(np.ones((3, 12, ecg_signal.BEAT_LEN))).shape == (3, 12, ecg_signal.MODEL_LEN)
    with pytest.raises(ECGFormatError):
        ecg_signal.pad_beat(np.ones((12, 500)))


def test_normalise_gives_zero_mean_unit_std_per_lead_and_maps_nan_to_zero():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.5, size=(2, 12, 608))
    x[0, 4, 100:110] = np.nan
    x[1, 5, :] = np.nan  # an all-NaN lead
    x[1, 6, :] = 0.7  # a flat lead
    z = ecg_signal.normalise(x)
    assert z.dtype == np.float32 and z.shape == x.shape
    assert np.all(np.isfinite(z))
    assert np.all(z[0, 4, 100:110] == 0)
    assert np.all(z[1, 5] == 0) and np.all(np.abs(z[1, 6]) < 1e-6)
    ok = np.ones((2, 12), dtype=bool)
    ok[1, 5] = ok[1, 6] = False
    good = z[ok]
    good_mask = np.isfinite(x[ok])
    means = [row[m].mean() for row, m in zip(good, good_mask)]
    stds = [row[m].std() for row, m in zip(good, good_mask)]
    np.testing.assert_allclose(means, 0.0, atol=1e-5)
    np.testing.assert_allclose(stds, 1.0, atol=1e-4)


def test_model_input_is_the_normalised_padded_beat():
    beat = synthetic_ecg([0.476], 1.2)
    mi = ecg_signal.model_input(beat)
    assert mi.shape == (12, ecg_signal.MODEL_LEN) and mi.dtype == np.float32
    np.testing.assert_array_equal(mi, ecg_signal.normalise(ecg_signal.pad_beat(beat)))


# --------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------
def test_measure_on_a_synthetic_ecg_gives_rate_axis_and_plausible_intervals():
    dur = 10.0
    x = synthetic_ecg(regular_r_times(72, dur), dur, axis_deg=60.0, noise_mv=0.01)
    m = ecg_measure.measure(x, FS)
    assert set(m) == set(ecg_measure.MEASUREMENT_KEYS)
    assert abs(m["heart_rate_bpm"].value - 72.0) < 3.0
    assert abs(m["qrs_axis_deg"].value - 60.0) < 5.0
    assert 60 <= m["qrs_ms"].value <= 120
    assert 120 <= m["pr_ms"].value <= 220
    assert 360 <= m["qt_ms"].value <= 470
    rr = 60.0 / m["heart_rate_bpm"].value
    assert m["qtc_bazett_ms"].value == pytest.approx(m["qt_ms"].value / np.sqrt(rr), abs=0.2)
    assert m["qtc_fridericia_ms"].value == pytest.approx(m["qt_ms"].value / rr ** (1 / 3), abs=0.2)
    assert all(v.reason is None for v in m.values())
    assert m["heart_rate_bpm"].unit == "bpm" and m["qrs_ms"].unit == "ms" and m["qrs_axis_deg"].unit == "deg"


def test_measure_on_an_irregular_rhythm_without_p_waves_reports_no_pr():
    rng = np.random.default_rng(5)
    dur = 10.0
    rr = rng.uniform(0.45, 1.0, size=30)
    r_times = 0.4 + np.concatenate([[0.0], np.cumsum(rr)])
    r_times = r_times[r_times < dur - 0.4]
    x = synthetic_ecg(r_times, dur, p_wave=False)
    t = np.arange(x.shape[1]) / FS
    # fibrillatory waves, 5-7 Hz, 0.03 mV
    x += 0.03 * np.sin(2 * np.pi * rng.uniform(5, 7, size=(12, 1)) * t + rng.uniform(0, 6, (12, 1)))
    m = ecg_measure.measure(x, FS)
    true_hr = 60.0 / np.mean(np.diff(r_times))
    assert abs(m["heart_rate_bpm"].value - true_hr) < 3.0
    assert m["pr_ms"].value is None and m["pr_ms"].reason.startswith("no P wave found")
    assert m["p_ms"].value is None and m["p_axis_deg"].value is None
    assert m["qrs_ms"].value is not None


def test_measure_on_a_flat_signal_gives_none_with_reasons_instead_of_numbers():
    m = ecg_measure.measure(np.zeros((12, 5000)), FS)
    assert set(m) == set(ecg_measure.MEASUREMENT_KEYS)
    for key, value in m.items():
        assert value.value is None, key
        assert value.reason, key


def test_measure_from_two_beats_gives_the_rate_of_their_interval():
    dur = 10.0
    x = synthetic_ecg(regular_r_times(30, dur), dur)
    m = ecg_measure.measure(x[:, :1400], FS)  # 2.8 s: beats at 0.5 s and 2.5 s only
    assert m["heart_rate_bpm"].value == pytest.approx(30.0, abs=1.0)


def test_a_value_outside_its_plausible_range_becomes_none_with_a_reason():
    out_of_range = ecg_measure._m("qrs_ms", 400.0)
    assert out_of_range.value is None and "implausible" in out_of_range.reason
    assert ecg_measure._m("qrs_ms", 96.0) == ecg_measure.Measurement(96.0, "ms", None)


def test_measure_rejects_a_signal_shorter_than_half_a_second():
    with pytest.raises(ECGFormatError):
        ecg_measure.measure(np.zeros((12, 100)), FS)


# --------------------------------------------------------------------------------------
# prepare
# --------------------------------------------------------------------------------------
def _synthetic_record(fs: float = FS, **med):
    dur = 10.0
    x = synthetic_ecg(regular_r_times(66, dur), dur, fs=fs, noise_mv=0.01)
    leads = {lead: x[i] for i, lead in enumerate(LEADS)}
    return make_record(leads, fs, source_format="simulated", source_name="synthetic-ecg", **med)


def test_prepare_computes_a_median_beat_when_the_file_has_none():
    rec = _synthetic_record(fs=1000.0)
    p = ecg_prepare.prepare(rec)
    assert p.median_source == "computed"
    assert p.fs_hz == 500.0 and p.strip_mv.shape == (12, 5000)
    assert p.median_beat_mv.shape == (12, 600)
    assert p.model_input.shape == (12, 608) and p.model_input.dtype == np.float32
    np.testing.assert_array_equal(p.model_input, ecg_signal.model_input(p.median_beat_mv))
    assert abs(p.measurements["heart_rate_bpm"].value - 66.0) < 3.0
    assert p.record is rec


def test_prepare_prefers_the_device_median_beat_and_can_be_told_not_to():
    beat = synthetic_ecg([ecg_signal.R_OFFSET / FS], 1.2) * 0.9
    rec = _synthetic_record(median_beats={lead: beat[i] for i, lead in enumerate(LEADS)}, median_fs_hz=500.0)
    p = ecg_prepare.prepare(rec)
    assert p.median_source == "device"
    np.testing.assert_array_equal(p.median_beat_mv, rec.median_beat_mv)
    q = ecg_prepare.prepare(rec, prefer_device_median=False)
    assert q.median_source == "computed"
    assert not np.array_equal(q.median_beat_mv, rec.median_beat_mv)


def test_prepare_resamples_and_realigns_a_device_median_beat_from_another_layout():
    # a 1000 Hz device beat of 1.0 s with its R peak at 0.3 s
    beat = synthetic_ecg([0.3], 1.0, fs=1000.0)
    rec = _synthetic_record(median_beats={lead: beat[i] for i, lead in enumerate(LEADS)}, median_fs_hz=1000.0)
    p = ecg_prepare.prepare(rec)
    assert p.median_source == "device" and p.median_beat_mv.shape == (12, 600)
    assert int(np.argmax(np.sqrt((p.median_beat_mv**2).sum(0)))) == ecg_signal.R_OFFSET


def test_prepare_without_usable_beats_raises_an_error_naming_the_record():
    flat = {lead: np.zeros(5000) for lead in LEADS}
    rec = make_record(flat, FS, source_format="simulated", source_name="flat-ecg")
    with pytest.raises(ECGFormatError, match="flat-ecg"):
        ecg_prepare.prepare(rec)


# --------------------------------------------------------------------------------------
# real samples
# --------------------------------------------------------------------------------------
def _spatial_peak(beat: np.ndarray) -> int:
    mag = np.sqrt((beat[:, 150:350] ** 2).sum(0))
    return 150 + int(np.argmax(mag))


def test_cardiosoft_median_from_the_strip_matches_the_device_median_beat(samples, capsys):
    rec = read_ecg(samples / "cardiosoft" / "example-XML1.xml")
    assert rec.median_beat_mv is not None and rec.median_fs_hz == 500.0
    ours = ecg_prepare.prepare(rec, prefer_device_median=False)
    device = rec.median_beat_mv
    corr = np.array([np.corrcoef(ours.median_beat_mv[i], device[i])[0, 1] for i in range(12)])
    with capsys.disabled():
        print("\nCardioSoft median beat, ours vs device, per-lead r:",
              " ".join(f"{lead}={c:.3f}" for lead, c in zip(LEADS, corr)))
    assert np.sum(corr > 0.9) >= 10
    assert corr.min() > 0.8
    # the device's R peak sits where ours is by construction
    assert abs(_spatial_peak(device) - ecg_signal.R_OFFSET) <= 3
    assert _spatial_peak(ours.median_beat_mv) == ecg_signal.R_OFFSET
    lags = range(-20, 21)
    score = [np.sum(np.roll(ours.median_beat_mv, k, axis=1)[:, 30:-30] * device[:, 30:-30]) for k in lags]
    assert abs(list(lags)[int(np.argmax(score))]) <= 2


def test_cardiosoft_heart_rate_matches_the_device_ventricular_rate(samples):
    rec = read_ecg(samples / "cardiosoft" / "example-XML1.xml")
    device_rate = rec.meta["device_measurements"]["VentricularRate"]["value"]
    p = ecg_prepare.prepare(rec)
    assert p.median_source == "device"
    np.testing.assert_array_equal(p.median_beat_mv, rec.median_beat_mv)
    assert abs(p.measurements["heart_rate_bpm"].value - device_rate) <= 5.0


_GE = [
    # file, device keys: PR, QRS, QT
    ("cardiosoft/example-XML1.xml", "PQInterval"),
    ("muse/example1.xml", "PRInterval"),
    ("muse/example2.xml", "PRInterval"),
]


@pytest.mark.parametrize("path,pr_key", _GE)
def test_measurements_on_computed_median_beats_agree_with_ge_device_values(samples, path, pr_key):
    rec = read_ecg(samples / path)
    dev = {k: v["value"] for k, v in rec.meta["device_measurements"].items()}
    m = ecg_prepare.prepare(rec, prefer_device_median=False).measurements
    assert abs(m["heart_rate_bpm"].value - dev["VentricularRate"]) <= 5.0
    assert abs(m["qrs_ms"].value - dev["QRSDuration"]) <= 20.0
    assert abs(m["pr_ms"].value - dev[pr_key]) <= 30.0
    # tangent-method T end: 0-30 ms shorter QT than GE's 12SL on these files
    assert -40.0 <= m["qt_ms"].value - dev["QTInterval"] <= 15.0
    assert abs(m["qrs_axis_deg"].value - dev["RAxis"]) <= 15.0


def test_every_sample_file_prepares_into_a_finite_model_input(samples):
    files = sorted(samples.glob("wfdb/*.hea"))
    files += sorted(p for p in samples.glob("*/*") if p.suffix.lower() in (".xml", ".dcm", ".scp"))
    files += sorted(samples.glob("cpsc2018/*.mat"))
    assert files
    for f in files:
        p = ecg_prepare.prepare(read_ecg(f))
        assert p.model_input.shape == (12, 608) and np.all(np.isfinite(p.model_input)), f.name
        hr = p.measurements["heart_rate_bpm"].value
        assert hr is not None and 30 <= hr <= 200, f.name
