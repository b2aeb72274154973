"""import-ukb and import-ptbxl on small trees built from the real public samples."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from hfviz.cli import main
from hfviz.data.dataset import load_dataset
from hfviz.errors import DataFormatError
from hfviz.data.importers import import_ptbxl, import_ukb, read_outcomes, ukb_id_from_filename
from hfviz.data.scp import parse_scp_codes


@pytest.fixture()
def ukb_tree(samples, tmp_path):
    """Two copies of the real CardioSoft XML named like UKB files, one broken XML, outcomes."""
    src = samples / "cardiosoft" / "example-XML1.xml"
    if not src.is_file():
        pytest.skip("CardioSoft sample missing")
    xml = tmp_path / "xml" / "batch1"
    xml.mkdir(parents=True)
    shutil.copy(src, xml / "1000001_20205_2_0.xml")
    shutil.copy(src, xml / "1000002_20205_2_0.xml")
    shutil.copy(src, xml / "1000002_20205_3_0.xml")  # second instance of the same person
    shutil.copy(src, xml / "1000009_20205_2_0.xml")  # no outcome row
    (xml / "1000003_20205_2_0.xml").write_text("<CardiologyXML><broken")
    outcomes = tmp_path / "outcomes.csv"
    pd.DataFrame({"eid": ["1000001", "1000002", "1000003"], "time": [60.5, 12.0, 30.0], "event": [0, 1, 0]}).to_csv(
        outcomes, index=False
    )
    return tmp_path / "xml", outcomes


@pytest.fixture()
def ptbxl_tree(samples, tmp_path):
    """The five PTB-XL records and their report rows laid out as a PTB-XL folder."""
    wf = samples / "wfdb"
    rep = wf / "ptbxl_reports.csv"
    if not rep.is_file() or not (wf / "scp_statements.csv").is_file():
        pytest.skip("PTB-XL report table or statements missing")
    root = tmp_path / "ptbxl"
    rows = pd.read_csv(rep)
    db = []
    for _, r in rows.iterrows():
        folder = root / "records500" / "06000"
        folder.mkdir(parents=True, exist_ok=True)
        for ext in (".hea", ".mat"):
            shutil.copy(wf / f"{r['record']}{ext}", folder / f"{r['record']}{ext}")
        db.append({"ecg_id": int(r["ecg_id"]), "patient_id": 100 + int(r["ecg_id"]), "age": r["age"], "sex": r["sex"],
                   "report": r["report"], "scp_codes": r["scp_codes"], "strat_fold": 1,
                   "filename_lr": f"records100/06000/{r['record']}", "filename_hr": f"records500/06000/{r['record']}"})
    pd.DataFrame(db).to_csv(root / "ptbxl_database.csv", index=False)
    shutil.copy(wf / "scp_statements.csv", root / "scp_statements.csv")
    return root


def test_ukb_id_is_the_participant_number_of_field_20205_files():
    assert ukb_id_from_filename("1234567_20205_2_0.xml") == "1234567"
    assert ukb_id_from_filename("patient42.xml") == "patient42"


def test_import_ukb_keeps_device_median_beats_and_joins_outcomes(ukb_tree):
    xml_dir, outcomes = ukb_tree
    beats, table, meta = import_ukb(xml_dir, outcomes)
    assert beats.shape == (2, 12, 608) and beats.dtype == np.float32
    assert list(table["id"]) == ["1000001", "1000002"]
    assert list(table["event"]) == [0, 1] and list(table["time_months"]) == [60.5, 12.0]
    assert set(table["median_source"]) == {"device"}
    assert meta["source"] == "ukb" and meta["n_skipped_files"] == 1 and meta["without_outcome"] == 1
    assert meta["duplicates"] == 1
    assert "1000003_20205_2_0.xml" in meta["skipped_files"][0]["file"]
    # zero padding: 4 samples each side, the device beat in between
    assert np.all(beats[:, :, :4] == 0) and np.all(beats[:, :, -4:] == 0)


def test_import_ukb_cli_writes_a_loadable_dataset(ukb_tree, tmp_path, capsys):
    xml_dir, outcomes = ukb_tree
    out = tmp_path / "ds"
    assert main(["import-ukb", "--xml-dir", str(xml_dir), "--outcomes", str(outcomes), "--out", str(out)]) == 0
    ds = load_dataset(out)
    assert ds.n == 2 and ds.has_outcomes and ds.meta["source"] == "ukb"


def test_outcomes_without_event_column_is_a_data_format_error(tmp_path):
    bad = tmp_path / "o.csv"
    bad.write_text("eid,time\n1,3\n")
    with pytest.raises(DataFormatError, match="event"):
        read_outcomes(bad)


def test_outcomes_with_event_outside_0_1_is_rejected(tmp_path):
    bad = tmp_path / "o.csv"
    bad.write_text("eid,time,event\n1,3,2\n")
    with pytest.raises(DataFormatError, match="0 or 1"):
        read_outcomes(bad)


def test_import_ukb_cli_on_missing_folder_prints_one_error_line(tmp_path, capsys):
    (tmp_path / "o.csv").write_text("eid,time,event\n1,3,0\n")
    rc = main(["import-ukb", "--xml-dir", str(tmp_path / "nope"), "--outcomes", str(tmp_path / "o.csv"),
               "--out", str(tmp_path / "ds")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:")


def test_import_ptbxl_reads_reports_codes_and_computes_median_beats(ptbxl_tree):
    beats, table, meta = import_ptbxl(ptbxl_tree)
    assert beats.shape == (5, 12, 608) and np.all(np.isfinite(beats))
    assert list(table["id"]) == ["6000", "6001", "6002", "6003", "6004"]
    row = table.set_index("id").loc["6004"]
    assert row["report"] == "sinus rhythm. normal ecg."
    assert json.loads(row["scp_codes"]) == {"NORM": 100.0, "SR": 0.0}
    assert row["sex"] == "M" and row["phenotype"] == "NORM"
    assert table["time_months"].isna().all()
    assert meta["source"] == "ptbxl" and meta["scp_statements"]["IMI"]["description"] == "inferior myocardial infarction"
    # the computed median beat has its R peak where the pipeline puts it
    from hfviz.ecg.signal import R_OFFSET

    lead_ii = beats[4, 1]
    assert abs(int(np.argmax(np.abs(lead_ii[4:-4]))) - R_OFFSET) <= 4


def test_import_ptbxl_cli_round_trips_through_load_dataset(ptbxl_tree, tmp_path):
    out = tmp_path / "ds"
    assert main(["import-ptbxl", "--root", str(ptbxl_tree), "--out", str(out), "--limit", "3"]) == 0
    ds = load_dataset(out)
    assert ds.n == 3 and not ds.has_outcomes and ds.scp_codes(0) == {"NORM": 100.0, "NT_": 0.0, "SR": 0.0}


def test_import_ptbxl_skips_a_missing_record_and_says_why(ptbxl_tree):
    (ptbxl_tree / "records500" / "06000" / "HR06001.hea").unlink()
    beats, table, meta = import_ptbxl(ptbxl_tree)
    assert len(table) == 4 and meta["n_skipped_records"] == 1
    assert "HR06001.hea not found" in meta["skipped_records"][0]["reason"]


def test_import_ptbxl_without_database_is_a_data_format_error(tmp_path):
    with pytest.raises(DataFormatError, match="ptbxl_database.csv"):
        import_ptbxl(tmp_path)


def test_ptbxl_scp_codes_literal_is_parsed_without_eval():
    assert parse_scp_codes("{'NORM': 100.0, 'SR': 0.0}", python_literal=True) == {"NORM": 100.0, "SR": 0.0}
    with pytest.raises(ValueError):
        parse_scp_codes("__import__('os').system('true')", python_literal=True)
