"""The dataset folder layout: save/load round trip and clear errors for malformed folders."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hfviz.data.dataset import BEATS_FILE, COLUMNS, META_FILE, TABLE_FILE, load_dataset, save_dataset
from hfviz.errors import DataFormatError


def _example(n=5, outcomes=True):
    rng = np.random.default_rng(0)
    beats = rng.normal(size=(n, 12, 608)).astype(np.float32)
    table = pd.DataFrame({
        "id": [f"S{i}" for i in range(n)],
        "age": rng.integers(40, 80, n),
        "sex": ["M", "F"] * (n // 2) + ["M"] * (n % 2),
        "time_months": rng.uniform(1, 84, n).round(3) if outcomes else np.nan,
        "event": rng.integers(0, 2, n) if outcomes else np.nan,
        "report": ["sinus rhythm. normal ecg."] * n,
        "scp_codes": [json.dumps({"NORM": 100.0, "SR": 100.0})] * (n - 1) + [""],
        "true_log_hazard": rng.normal(size=n),
        "phenotype": ["normal"] * n,
        "extra_col": np.arange(n),
    })
    return beats, table, {"source": "synthetic", "preset": "mi", "seed": 0}


def test_save_then_load_returns_the_same_beats_table_and_meta(tmp_path):
    beats, table, meta = _example()
    save_dataset(tmp_path / "ds", beats, table, meta)
    ds = load_dataset(tmp_path / "ds")
    assert ds.beats.dtype == np.float32 and np.array_equal(np.asarray(ds.beats), beats)
    assert list(ds.table.columns[: len(COLUMNS)]) == list(COLUMNS) and "extra_col" in ds.table.columns
    pd.testing.assert_series_equal(ds.table["time_months"], table["time_months"], check_names=False)
    assert list(ds.table["id"]) == list(table["id"])
    assert ds.meta["source"] == "synthetic" and ds.meta["n"] == 5
    assert ds.has_outcomes and ds.outcomes()[1].dtype == np.int64
    assert ds.scp_codes(0) == {"NORM": 100.0, "SR": 100.0} and ds.scp_codes(4) == {}


def test_dataset_without_outcomes_loads_and_says_so(tmp_path):
    beats, table, meta = _example(outcomes=False)
    save_dataset(tmp_path, beats, table.drop(columns=["time_months", "event"]), meta)
    ds = load_dataset(tmp_path)
    assert not ds.has_outcomes
    with pytest.raises(DataFormatError, match="no complete outcome"):
        ds.outcomes()


def test_loading_a_folder_that_does_not_exist_names_it(tmp_path):
    with pytest.raises(DataFormatError, match="not found"):
        load_dataset(tmp_path / "nope")


@pytest.mark.parametrize("missing", [BEATS_FILE, TABLE_FILE, META_FILE])
def test_missing_file_is_a_data_format_error(tmp_path, missing):
    save_dataset(tmp_path, *_example())
    (tmp_path / missing).unlink()
    with pytest.raises(DataFormatError, match=missing):
        load_dataset(tmp_path)


def _broken(tmp_path, how):
    save_dataset(tmp_path, *_example())
    if how == "shape":
        np.save(tmp_path / BEATS_FILE, np.zeros((5, 12, 600), np.float32))
    elif how == "truncated":
        data = (tmp_path / BEATS_FILE).read_bytes()
        (tmp_path / BEATS_FILE).write_bytes(data[: len(data) // 2])
    elif how == "rows":
        t = pd.read_csv(tmp_path / TABLE_FILE)
        t.iloc[:3].to_csv(tmp_path / TABLE_FILE, index=False)
    elif how == "column":
        t = pd.read_csv(tmp_path / TABLE_FILE)
        t.drop(columns=["report"]).to_csv(tmp_path / TABLE_FILE, index=False)
    elif how == "event":
        t = pd.read_csv(tmp_path / TABLE_FILE)
        t.loc[0, "event"] = 3
        t.to_csv(tmp_path / TABLE_FILE, index=False)
    elif how == "duplicate":
        t = pd.read_csv(tmp_path / TABLE_FILE)
        t.loc[1, "id"] = t.loc[0, "id"]
        t.to_csv(tmp_path / TABLE_FILE, index=False)
    elif how == "scp":
        t = pd.read_csv(tmp_path / TABLE_FILE)
        t.loc[0, "scp_codes"] = "{'NORM': 100}"  # a Python literal, not JSON
        t.to_csv(tmp_path / TABLE_FILE, index=False)
    elif how == "meta":
        (tmp_path / META_FILE).write_text("{not json")
    elif how == "meta_source":
        (tmp_path / META_FILE).write_text(json.dumps({"preset": "mi"}))
    elif how == "pickle":
        np.save(tmp_path / BEATS_FILE, np.array([{"a": 1}], dtype=object), allow_pickle=True)


@pytest.mark.parametrize(
    "how,match",
    [
        ("shape", "expected \\(N, 12, 608\\)"),
        ("truncated", "cannot be read"),
        ("rows", "rows but"),
        ("column", "missing column"),
        ("event", "0 or 1"),
        ("duplicate", "duplicate"),
        ("scp", "not JSON"),
        ("meta", "not valid JSON"),
        ("meta_source", "source"),
        ("pickle", "cannot be read"),
    ],
)
def test_malformed_dataset_raises_data_format_error_naming_the_problem(tmp_path, how, match):
    _broken(tmp_path, how)
    with pytest.raises(DataFormatError, match=match):
        load_dataset(tmp_path)


def test_save_rejects_beats_of_the_wrong_shape_or_count(tmp_path):
    beats, table, meta = _example()
    with pytest.raises(DataFormatError, match="shape"):
        save_dataset(tmp_path, beats[:, :, :600], table, meta)
    with pytest.raises(DataFormatError, match="rows"):
        save_dataset(tmp_path, beats[:3], table, meta)
    with pytest.raises(DataFormatError, match="source"):
        save_dataset(tmp_path, beats, table, {})
