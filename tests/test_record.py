"""The ECG record is valid when it exists."""

from __future__ import annotations

import numpy as np
import pytest

from hfviz.errors import ECGFormatError
from hfviz.ecg.record import LEADS, make_record, normalise_lead_name


def _leads(n=5000, names=LEADS, amp=1.0):
    t = np.arange(n) / 500.0
    return {name: amp * np.sin(2 * np.pi * (1 + i / 10) * t) for i, name in enumerate(names)}


def test_lead_names_normalised_in_any_case():
    assert normalise_lead_name("AVR") == "aVR"
    assert normalise_lead_name("avl") == "aVL"
    assert normalise_lead_name("MDC_ECG_LEAD_V3") == "V3"
    assert normalise_lead_name("Lead II") == "II"
    assert normalise_lead_name("vx") is None


def test_record_orders_leads_and_ignores_extra_channels():
    leads = _leads()
    shuffled = {k.lower(): leads[k] for k in reversed(LEADS)} | {"vx": np.zeros(5000)}
    rec = make_record(shuffled, 500, source_format="test")
    assert rec.signal_mv.shape == (12, 5000)
    for i, lead in enumerate(LEADS):
        np.testing.assert_array_equal(rec.signal_mv[i], leads[lead])
    assert rec.duration_s == pytest.approx(10.0)


def test_missing_limb_leads_are_derived_and_listed():
    leads = _leads(names=("I", "II", "V1", "V2", "V3", "V4", "V5", "V6"))
    rec = make_record(leads, 500, source_format="test")
    assert rec.derived_leads == ("III", "aVR", "aVL", "aVF")
    i, ii = rec.lead("I"), rec.lead("II")
    np.testing.assert_allclose(rec.lead("III"), ii - i)
    np.testing.assert_allclose(rec.lead("aVR"), -(i + ii) / 2)
    np.testing.assert_allclose(rec.lead("aVL"), i - ii / 2)
    np.testing.assert_allclose(rec.lead("aVF"), ii - i / 2)


def test_missing_precordial_leads_are_named_in_the_error():
    leads = _leads(names=("I", "II", "III"))
    with pytest.raises(ECGFormatError, match=r"x\.csv: missing leads .*V1"):
        make_record(leads, 500, source_format="csv", source_name="x.csv")


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"fs_hz": 50}, "below the 100 Hz minimum"),
        ({"n": 600}, "at least 2 s"),
        ({"amp": 1000.0}, "implausible"),
    ],
)
def test_invalid_records_raise_a_sentence_naming_the_file(kwargs, pattern):
    fs = kwargs.pop("fs_hz", 500)
    with pytest.raises(ECGFormatError, match=pattern) as err:
        make_record(_leads(**kwargs), fs, source_format="t", source_name="bad.npy")
    assert str(err.value).startswith("bad.npy: ")


def test_few_nan_samples_are_interpolated_but_an_all_nan_lead_is_refused():
    leads = _leads()
    leads["V2"] = leads["V2"].copy()
    leads["V2"][100:110] = np.nan
    rec = make_record(leads, 500, source_format="t")
    assert np.all(np.isfinite(rec.signal_mv))
    leads["V3"] = np.full(5000, np.nan)
    with pytest.raises(ECGFormatError, match="lead V3 has 100% missing"):
        make_record(leads, 500, source_format="t")


def test_flat_and_saturated_leads_are_flags_not_errors():
    leads = _leads()
    leads["V4"] = np.zeros(5000)
    leads["V5"] = np.clip(leads["V5"], -0.2, 0.2)
    rec = make_record(leads, 500, source_format="t")
    assert any(f.startswith("V4: flat") for f in rec.quality)
    assert any(f.startswith("V5: saturated") for f in rec.quality)


def test_record_arrays_are_read_only():
    rec = make_record(_leads(), 500, source_format="t")
    with pytest.raises(ValueError):
        rec.signal_mv[0, 0] = 1.0
