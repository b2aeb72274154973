"""The dipole ECG simulator: lead relations, recovered intervals, phenotype morphology, reports.

Measured values come from the same pipeline as an upload (``hfviz.ecg.prepare``), and R peaks
are cross-checked with neurokit2. Stated tolerances (truth definitions in hfviz.synthetic.simulate):
heart rate +-2 bpm, QRS +-16 ms, QT +-25 ms, PR +-25 ms. The pipeline's QRS/QT run a few ms
short of the truth on average (velocity-threshold onset on smooth waves, tangent T end).
"""

from __future__ import annotations

import numpy as np
import pytest

from hfviz.ecg import signal as ecg_signal
from hfviz.ecg import measure as ecg_measure
from hfviz.ecg import prepare as ecg_prepare
from hfviz.data.scp import STATEMENTS
from hfviz.synthetic import reports
from hfviz.synthetic import simulate as sim
from hfviz.synthetic import waves
from hfviz.ecg.record import LEADS

L = {name: i for i, name in enumerate(LEADS)}


def _prep(conditions, seed, **kw):
    rec, truth = sim.simulate(conditions, seed=seed, **kw)
    return rec, truth, ecg_prepare.prepare(rec)


def _qrs_window(prepared):
    """QRS onset/offset (samples) of the prepared median beat, and the baseline-corrected beat."""
    _, d = ecg_measure.measure_global(prepared.median_beat_mv, prepared.fs_hz, r_index=ecg_signal.R_OFFSET)
    on, off = int(round(d["qrs_onset"])), int(round(d["qrs_offset"]))
    beat = prepared.median_beat_mv
    base = np.median(beat[:, on - 10 : on - 2], axis=1, keepdims=True)
    return on, off, beat - base


# --- the record and lead relations ---------------------------------------------------------
@pytest.mark.parametrize("conditions", ["normal", "lbbb", "af", ("mi_inferior", "lvh")])
def test_limb_leads_obey_einthoven_and_goldberger_to_float_precision(conditions):
    rec, _ = sim.simulate(conditions, seed=3, noise="high")
    x = rec.signal_mv
    i, ii = x[L["I"]], x[L["II"]]
    np.testing.assert_allclose(x[L["III"]], ii - i, rtol=0, atol=1e-12)
    np.testing.assert_allclose(x[L["aVR"]], -(i + ii) / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(x[L["aVL"]], i - ii / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(x[L["aVF"]], ii - i / 2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(x[L["aVR"]] + x[L["aVL"]] + x[L["aVF"]], 0.0, atol=1e-12)


def test_simulated_record_is_a_500hz_10s_record_labelled_synthetic():
    rec, truth = sim.simulate("normal", seed=1)
    assert rec.signal_mv.shape == (12, 5000) and rec.fs_hz == 500.0
    assert rec.source_format == "simulated" and rec.meta["synthetic"] is True and truth["synthetic"] is True
    assert "synthetic" in rec.source_name and rec.derived_leads == () and rec.quality == ()


def test_same_seed_gives_identical_ecg_and_truth_and_another_seed_does_not():
    a, ta = sim.simulate(("lbbb", "af"), seed=11)
    b, tb = sim.simulate(("lbbb", "af"), seed=11)
    c, _ = sim.simulate(("lbbb", "af"), seed=12)
    assert np.array_equal(a.signal_mv, b.signal_mv) and ta == tb
    assert not np.array_equal(a.signal_mv, c.signal_mv)


def test_unknown_phenotype_is_rejected():
    with pytest.raises(ValueError, match="unknown phenotype"):
        sim.simulate("brugada", seed=0)


def test_dower_projection_gives_normal_precordial_r_progression():
    """Normal: R grows from V1 to V4/V5 and S shrinks from V2 to V6 (median over subjects)."""
    r, s = [], []
    for seed in range(8):
        t, beat = sim.clean_beat(sim.sample_params(np.random.default_rng(seed), ["normal"]))
        q = (t >= 0) & (t <= 110)
        r.append([beat[L[v], q].max() for v in ("V1", "V2", "V3", "V4", "V5", "V6")])
        s.append([-beat[L[v], q].min() for v in ("V1", "V2", "V3", "V4", "V5", "V6")])
    r, s = np.median(r, axis=0), np.median(s, axis=0)
    assert r[0] < r[1] < r[2] < max(r[3], r[4]) and r[0] < 0.4
    assert max(s[:3]) > s[3] > s[5] and s[5] < 0.4  # deepest S in V1-V3, shrinking towards V6
    assert all(s[k] > r[k] for k in (0, 1)) and all(r[k] > s[k] for k in (4, 5))


# --- measured intervals recover the truth ----------------------------------------------------
@pytest.mark.parametrize("cond", [p for p in sim.PHENOTYPES])
def test_pipeline_recovers_heart_rate_qrs_and_qt_within_tolerance(cond):
    for seed in (0, 1):
        rec, truth, prep = _prep(cond, seed)
        m = prep.measurements
        assert abs(m["heart_rate_bpm"].value - truth["hr_bpm"]) <= 2.0
        assert abs(m["qrs_ms"].value - truth["qrs_ms"]) <= 16.0
        if cond == "t_flat" and m["qt_ms"].value is None:
            continue  # a flat T wave may have no measurable end, as on a real ECG
        assert abs(m["qt_ms"].value - truth["qt_ms"]) <= 25.0
        if truth["rhythm"] == "sinus" and cond != "sinus_tachycardia":
            if m["pr_ms"].value is None:  # allowed only for the faintest P waves, with the reason
                assert truth["p_amp"] < 0.7 and "P wave" in m["pr_ms"].reason
                continue
            assert abs(m["pr_ms"].value - truth["pr_ms"]) <= 25.0


def test_neurokit2_finds_the_true_r_peaks():
    import neurokit2 as nk

    for cond in ("normal", "af", "lbbb"):
        rec, truth = sim.simulate(cond, seed=5)
        lead = nk.ecg_clean(rec.signal_mv[L["II"]], sampling_rate=500)
        _, info = nk.ecg_peaks(lead, sampling_rate=500)
        found = np.asarray(info["ECG_R_Peaks"])
        true = np.asarray(truth["r_peaks"])
        assert abs(found.size - true.size) <= 1
        # every true R peak away from the strip ends has a detection within 40 ms
        inner = true[(true > 150) & (true < 4850)]
        # within the QRS complex (neurokit2 may pick the other notch of an LBBB complex)
        tol = 20 if cond != "lbbb" else int(truth["qrs_ms"] / 2 / 2)
        assert np.max(np.min(np.abs(inner[:, None] - found[None, :]), axis=1)) <= tol


def test_rate_and_av_conduction_phenotypes_have_their_defining_values():
    assert _prep("sinus_bradycardia", 2)[2].measurements["heart_rate_bpm"].value < 60
    assert _prep("sinus_tachycardia", 2)[2].measurements["heart_rate_bpm"].value > 100
    assert _prep("av_block_1", 2)[2].measurements["pr_ms"].value > 200
    assert _prep("long_qt", 2)[2].measurements["qtc_bazett_ms"].value >= 460
    assert _prep("left_axis", 2)[2].measurements["qrs_axis_deg"].value < -30


# --- morphology -------------------------------------------------------------------------------
@pytest.mark.parametrize("cond", ["lbbb", "rbbb"])
def test_bundle_branch_blocks_have_measured_qrs_of_at_least_120_ms(cond):
    for seed in range(4):
        assert _prep(cond, seed)[2].measurements["qrs_ms"].value >= 120


def _extrema(x, floor=0.05):
    """Signs of the successive local extrema larger than ``floor`` mV in |x|."""
    dx = np.diff(x)
    idx = np.flatnonzero(np.sign(dx[:-1]) != np.sign(dx[1:])) + 1
    return [int(np.sign(x[i])) for i in idx if abs(x[i]) > floor]


def test_lbbb_has_qs_in_v1_and_broad_upright_r_without_septal_q_in_i_and_v6():
    for seed in range(3):
        _, _, prep = _prep("lbbb", seed)
        on, off, beat = _qrs_window(prep)
        v1, v6, i = beat[L["V1"], on:off], beat[L["V6"], on:off], beat[L["I"], on:off]
        assert -v1.min() > 3 * max(v1.max(), 0.05)  # QS / rS
        for lead in (v6, i):
            assert lead.max() > 2 * max(-lead.min(), 0.05)
            assert _extrema(lead)[0] == 1  # first deflection upright: no septal q


def test_rbbb_has_rsr_prime_in_v1_and_terminal_s_in_i_and_v6():
    for seed in range(3):
        t, beat = sim.clean_beat(sim.sample_params(np.random.default_rng(seed), ["rbbb"]))
        q = (t >= 0) & (t <= 160)
        assert _extrema(beat[L["V1"], q], 0.02)[-3:] == [1, -1, 1]  # r, S, R'
        for lead in ("I", "V6"):
            ext = _extrema(beat[L[lead], q])
            assert ext[-1] == -1  # terminal (slurred) S


def test_lvh_meets_sokolow_lyon_and_normals_do_not():
    def sokolow(prep):
        on, off, beat = _qrs_window(prep)
        return -beat[L["V1"], on:off].min() + max(beat[L["V5"], on:off].max(), beat[L["V6"], on:off].max())

    for seed in range(3):
        assert sokolow(_prep("lvh", seed)[2]) >= 3.5
        assert sokolow(_prep("normal", seed)[2]) < 3.5


def test_lvh_strain_inverts_lateral_t_waves():
    rng = np.random.default_rng(0)
    p = sim.sample_params(rng, ["lvh"])
    p["lvh_strain"] = True
    t, beat = sim.clean_beat(p)
    late = t > p["qrs_ms"] + 60
    for lead in ("V5", "V6"):
        assert beat[L[lead], late].min() < -0.05 and beat[L[lead], late].max() < 0.05
    assert min(beat[L["I"], late].min(), beat[L["aVL"], late].min()) < -0.05


def _q_wave(x_ms_1khz):
    """Depth (mV) and duration (ms) of an initial negative deflection of a 1 kHz QRS."""
    x = x_ms_1khz
    start = int(np.argmax(np.abs(x) > 0.02))
    if x[start] > 0:
        return 0.0, 0.0
    back = np.flatnonzero(x[start:] >= 0)
    end = start + int(back[0]) if back.size else x.size  # no return to zero: a QS complex
    return float(-x[start:end].min()), float(end - start)


@pytest.mark.parametrize(
    "territory,leads",
    [("inferior", ("II", "III", "aVF")), ("anterior", ("V1", "V2", "V3", "V4")), ("lateral", ("I", "aVL", "V5", "V6"))],
)
def test_prior_infarct_leaves_pathological_q_waves_in_its_territory(territory, leads):
    """Q >= 30 ms and >= 0.1 mV deep in two leads of the territory (universal definition of prior MI)."""
    for seed in range(3):
        p = sim.sample_params(np.random.default_rng(seed), [f"mi_{territory}"])
        t = np.arange(0.0, p["qrs_ms"], 1.0)
        qrs = [w for w in waves.build_waves(p) if w[0].startswith("QRS")]
        beat = waves.twelve_from_eight(waves.project(waves.dipole(qrs, t), p["precordial_gain"]))
        qs = [_q_wave(beat[L[lead]]) for lead in leads]
        pathological = [d >= 0.1 and dur >= 30 for d, dur in qs]
        assert sum(pathological) >= 2, (territory, seed, qs)
    # and a normal ECG has none of them
    p = sim.sample_params(np.random.default_rng(0), ["normal"])
    t = np.arange(0.0, p["qrs_ms"], 1.0)
    beat = waves.twelve_from_eight(waves.project(waves.dipole(waves.build_waves(p), t), p["precordial_gain"]))
    assert not any(_q_wave(beat[L[lead]])[1] >= 30 for lead in leads)


def _atrial_consistency(rec, truth):
    """Mean correlation across beats of lead II in the 300-20 ms before each QRS onset."""
    x = ecg_signal.clean(rec.signal_mv, 500.0)
    onsets = ecg_signal.detect_r_peaks(x, 500.0) - int(round(truth["r_peak_ms"] / 2))
    segs = np.array([x[L["II"], k - 150 : k - 10] for k in onsets if k >= 150])
    c = np.corrcoef(segs - segs.mean(axis=1, keepdims=True))
    return float(c[np.triu_indices(len(segs), 1)].mean())


def test_af_has_no_p_waves_and_an_irregularly_irregular_rhythm():
    for seed in range(4):
        for conds in (["af"], ["af", "lbbb"]):
            rec, truth = sim.simulate(conds, seed=seed)
            assert _atrial_consistency(rec, truth) < 0.5  # no atrial wave locked to the QRS
            r = ecg_signal.detect_r_peaks(ecg_signal.clean(rec.signal_mv, 500.0), 500.0)
            rr = np.diff(r)
            assert rr.std() / rr.mean() > 0.1
            assert not any(w[0].startswith("P") for w in sim.build_waves(truth))
        rec, truth = sim.simulate("normal", seed=seed)
        assert _atrial_consistency(rec, truth) > 0.6
        rr = np.diff(ecg_signal.detect_r_peaks(ecg_signal.clean(rec.signal_mv, 500.0), 500.0))
        assert rr.std() / rr.mean() < 0.06


def test_low_voltage_keeps_every_limb_qrs_under_half_a_millivolt():
    for seed in range(3):
        on, off, beat = _qrs_window(_prep("low_voltage", seed)[2])
        assert np.ptp(beat[:6, on:off], axis=1).max() < 0.5


def test_t_wave_inversion_and_flattening_change_the_lateral_t_wave():
    p = sim.sample_params(np.random.default_rng(4), ["normal"])
    t, normal = sim.clean_beat(p)
    _, inverted = sim.clean_beat(dict(p, t_inversion=True, conditions=["t_inversion"]))
    _, flat = sim.clean_beat(dict(p, t_amp=0.15, conditions=["t_flat"]))
    late = t > p["qrs_ms"] + 60
    for lead in ("I", "V5", "V6"):
        assert normal[L[lead], late].max() > 0.1
        assert inverted[L[lead], late].min() < -0.05 and inverted[L[lead], late].max() < 0.05
        assert np.abs(flat[L[lead], late]).max() < 0.1


def test_qrs_fragmentation_adds_notches_but_leaves_measured_intervals_unchanged():
    for seed in range(3):
        plain = _prep("normal", seed, fqrs_index=0.0)
        frag = _prep("normal", seed, fqrs_index=1.0)
        mp, mf = plain[2].measurements, frag[2].measurements
        assert abs(mp["qrs_ms"].value - mf["qrs_ms"].value) <= 15
        assert abs(mp["qt_ms"].value - mf["qt_ms"].value) <= 15
        t, bp = sim.clean_beat(plain[1])
        _, bf = sim.clean_beat(frag[1])
        q = (t >= 0) & (t <= plain[1]["qrs_ms"])
        n_ext = lambda x: int(np.sum(np.diff(np.sign(np.diff(x))) != 0))  # noqa: E731
        more = sum(n_ext(bf[k, q]) > n_ext(bp[k, q]) for k in range(12))
        assert more >= 4  # notches seen in several leads


# --- noise --------------------------------------------------------------------------------
def test_noise_is_additive_and_controllable():
    clean, _ = sim.simulate("normal", seed=8, noise="none")
    pl, _ = sim.simulate("normal", seed=8, noise={"baseline_mv": 0, "powerline_mv": 0.05, "muscle_mv": 0, "gain_sd": 0})
    resid = pl.signal_mv[L["II"]] - clean.signal_mv[L["II"]]
    spec = np.abs(np.fft.rfft(resid))
    f = np.fft.rfftfreq(resid.size, 1 / 500)
    assert f[np.argmax(spec)] in (50.0, 60.0)
    levels = []
    for level in (0.0, 0.5, 1.0, 2.0):
        noisy, _ = sim.simulate("normal", seed=8, noise=level)
        levels.append(float(np.std(noisy.signal_mv - clean.signal_mv)))
    assert levels[0] == 0.0 and levels[1] < levels[2] < levels[3]


# --- reports -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "conds,code,phrase",
    [
        ("normal", "NORM", "sinus rhythm"),
        ("lbbb", "CLBBB", "left bundle branch block"),
        ("rbbb", "CRBBB", "right bundle branch block"),
        ("af", "AFIB", "atrial fibrillation"),
        ("mi_inferior", "IMI", "inferior"),
        ("long_qt", "LNGQT", "qt"),
        ("low_voltage", "LVOLT", "voltage"),
        ("av_block_1", "1AVB", "av block"),
    ],
)
def test_report_text_and_scp_codes_follow_the_truth(conds, code, phrase):
    for seed in range(3):
        _, truth = sim.simulate(conds, seed=seed)
        text, codes = reports.make_report(truth, np.random.default_rng(seed))
        assert code in codes and phrase in text
        assert text == text.lower() and text.endswith(".")
        assert set(codes) <= set(reports.EMITTED_CODES) <= set(STATEMENTS)
        assert all(0 < v <= 100 for v in codes.values())
        if conds == "af":
            assert "SR" not in codes and "sinus" not in text


def test_lvh_report_likelihood_grows_with_voltage():
    _, truth = sim.simulate("lvh", seed=0)
    low = reports.make_report(dict(truth, sokolow_lyon_mv=3.6), np.random.default_rng(0))[1]["LVH"]
    high = reports.make_report(dict(truth, sokolow_lyon_mv=5.2), np.random.default_rng(0))[1]["LVH"]
    assert low < high == 100.0


def test_report_wording_varies_between_ecgs_with_the_same_diagnosis():
    texts = {reports.make_report(sim.simulate("lbbb", seed=s)[1], np.random.default_rng(s))[0] for s in range(12)}
    assert len(texts) >= 3


# --- bundled examples ------------------------------------------------------------------------
def test_bundled_examples_are_labelled_synthetic_and_regenerate_identically(tmp_path):
    import importlib.util
    from pathlib import Path

    from hfviz.ecg.io import read_ecg

    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("make_examples", root / "scripts" / "make_examples.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    name = "synthetic_lbbb"
    mod.write_example(tmp_path, name, *mod.EXAMPLES[name])
    for ext in (".hea", ".dat", ".csv"):
        assert (tmp_path / f"{name}{ext}").read_bytes() == (root / "examples" / f"{name}{ext}").read_bytes()
    for stem in mod.EXAMPLES:
        assert stem.startswith("synthetic_")
        wf, csv = read_ecg(root / "examples" / f"{stem}.hea"), read_ecg(root / "examples" / f"{stem}.csv")
        assert wf.fs_hz == 500.0 and wf.signal_mv.shape == (12, 5000)
        np.testing.assert_allclose(wf.signal_mv, csv.signal_mv, atol=1e-9)
        assert "SYNTHETIC" in (root / "examples" / f"{stem}.hea").read_text()
