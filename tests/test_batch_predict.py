"""Batch scoring of a cohort (hfviz.risk.batch, ``python -m hfviz predict`` on many files).

Everything is SYNTHETIC: ECG files written from the simulator in CardioSoft XML and WFDB
formats, a tiny random-weight model. The checks are about the machinery (one path from file
to score, streaming, failures, resume, workers, sharding + merge), not about risk values.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hfviz.risk.batch import (
    ORDER_COLUMN,
    ResultWriter,
    collect_sources,
    merge_parts,
    part_path,
    read_results,
    run_batch,
    score_dataset,
    score_sources,
)

torch.set_num_threads(1)
TINY = dict(block_channels=(4, 8, 8, 8, 8), lead_heads=2, lead_mlp_ratio=1, embed_dim=32, decoder_channels=8)


def write_tiny_model(d: Path, seed: int = 0) -> Path:
    """A complete shipped-model folder for cohort "mi" with random weights (SYNTHETIC)."""
    from hfviz.risk.model import save_risk_model
    from hfviz.risk.network import DualAttentionNet, ModelConfig
    from hfviz.risk.survival import breslow_baseline

    torch.manual_seed(seed)
    net = DualAttentionNet(ModelConfig(**TINY)).eval()
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(40, 12, 608)).astype(np.float32)
    with torch.no_grad():
        lr = net(torch.from_numpy(x)).log_risk.numpy().astype(float)
    t, e = rng.exponential(40, 40), (rng.random(40) < 0.5).astype(int)
    preds = pd.DataFrame({"id": [f"SYN{i}" for i in range(40)], "log_risk": lr, "time_months": t, "event": e})
    save_risk_model(d, "mi", net, baseline=breslow_baseline(t, lr, e), train_log_risk=lr, predictions=preds,
                    card={"intended_use": "tests only", "training_data": "SYNTHETIC"})
    return d


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from hfviz.risk.model import load_risk_model

    return load_risk_model("mi", write_tiny_model(tmp_path_factory.mktemp("m") / "models"))


@pytest.fixture(scope="module")
def ecg_folder(tmp_path_factory) -> Path:
    """8 SYNTHETIC ECGs (4 CardioSoft XML, 4 WFDB records) in a nested folder, plus one broken file."""
    from hfviz.synthetic.files import write_ecg_files

    root = tmp_path_factory.mktemp("ecgs")
    write_ecg_files(root / "a", 4, seed=0, distinct=4)
    write_ecg_files(root / "b" / "deeper", 4, seed=10, distinct=4, prefix="SYB")
    (root / "b" / "broken.xml").write_text("<CardiologyXML><nothing/></CardiologyXML>")
    return root


def _csv_rows(model, sources, path: Path, **kw) -> pd.DataFrame:
    w = ResultWriter(path)
    _, failures = score_sources(model, sources, w.write, **kw)
    w.close()
    return read_results(path), failures


def test_folders_are_searched_recursively_and_wfdb_pairs_count_once(ecg_folder):
    sources = collect_sources([str(ecg_folder)])
    assert len(sources) == 9  # 8 ECGs + the broken file
    wfdb = [s for s in sources if len(s.files) == 2]
    assert len(wfdb) == 4 and all(s.files[0].endswith(".hea") for s in wfdb)
    assert len({s.id for s in sources}) == 9


def test_a_list_file_and_an_at_list_name_the_same_ecgs(ecg_folder, tmp_path):
    files = sorted(str(p) for p in (ecg_folder / "a").glob("*.xml"))
    lst = tmp_path / "list.txt"
    lst.write_text("# cohort\n" + "\n".join(files) + "\n\n")
    by_at = collect_sources([f"@{lst}"])
    by_list = collect_sources([], list_file=str(lst))
    assert [s.id for s in by_at] == [s.id for s in by_list] == [Path(f).stem for f in files]


def test_the_same_stem_in_two_folders_gets_the_path_as_id(tmp_path):
    for sub in ("x", "y"):
        (tmp_path / sub).mkdir()
        (tmp_path / sub / "ecg.csv").write_text("I\n0\n")
    ids = [s.id for s in collect_sources([str(tmp_path)])]
    assert len(set(ids)) == 2 and all(i.endswith("ecg.csv") and ("x" in i or "y" in i) for i in ids)


def test_a_csv_beside_a_wfdb_record_of_the_same_name_is_its_own_ecg(tmp_path):
    for name in ("rec.hea", "rec.dat", "rec.csv", "README.md"):
        (tmp_path / name).write_text("x")
    sources = collect_sources([str(tmp_path)])
    assert sorted(len(s.files) for s in sources) == [1, 2]  # the README is not an ECG candidate
    assert len({s.id for s in sources}) == 2


def test_batch_scores_equal_the_one_path_assess_ecg_and_failures_do_not_stop_the_run(model, ecg_folder, tmp_path):
    from hfviz.risk.assess import assess_ecg

    sources = collect_sources([str(ecg_folder)])
    seen = []
    rows, failures = _csv_rows(model, sources, tmp_path / "out.csv", batch_size=3, on_error=seen.append)
    assert len(rows) == 8 and len(failures) == 1 and "broken.xml" in failures[0] and seen == failures
    assert list(rows.columns) == ["id", "file", "log_risk", "percentile", "risk_group", "s_12m", "s_36m", "s_60m"]
    for s in sources[:3]:
        row = rows[rows["id"] == s.id]
        if row.empty:
            continue
        risk = assess_ecg(s.read_arg, model).risk
        assert row["log_risk"].item() == pytest.approx(risk.log_risk, abs=1e-4)
        assert row["percentile"].item() == pytest.approx(risk.percentile, abs=0.051)
        assert row["risk_group"].item() == risk.group
        assert row["s_36m"].item() == pytest.approx(risk.survival_at(36), abs=1e-4)


def test_two_reader_processes_give_the_same_table_as_one(model, ecg_folder, tmp_path, monkeypatch):
    import sys
    import types

    # spawned workers re-run the parent's __main__; inside pytest that may be a page script an AppTest
    # left behind, so give them a clean one (under the CLI, multiprocessing skips hfviz.__main__ itself)
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    sources = collect_sources([str(ecg_folder)])
    one, _ = _csv_rows(model, sources, tmp_path / "one.csv")
    two, _ = _csv_rows(model, sources, tmp_path / "two.csv", workers=2)
    pd.testing.assert_frame_equal(one, two)


def test_resume_scores_only_the_ids_not_yet_in_the_output(model, ecg_folder, tmp_path):
    sources = [s for s in collect_sources([str(ecg_folder)]) if "broken" not in s.id]
    out = tmp_path / "out.csv"
    full = run_batch(model, tmp_path / "full.csv", sources=sources)
    first = run_batch(model, out, sources=sources[:3])
    again = run_batch(model, out, sources=sources, resume=True)
    assert (full.scored, first.scored, again.scored, again.skipped) == (8, 3, 5, 3)
    a, b = read_results(out), read_results(tmp_path / "full.csv")
    assert list(a["id"]) == list(b["id"]) and a.equals(b)


def test_a_fresh_run_replaces_an_old_output_file(model, ecg_folder, tmp_path):
    sources = collect_sources([str(ecg_folder / "a")])
    out = tmp_path / "out.csv"
    run_batch(model, out, sources=sources)
    run_batch(model, out, sources=sources)
    assert len(read_results(out)) == len(sources)


def test_shards_written_as_parts_merge_into_the_single_process_file(model, ecg_folder, tmp_path):
    """Ranks simulated in one process: rank r scores sources r::2 with their global order, then the merge."""
    sources = collect_sources([str(ecg_folder)])
    single = tmp_path / "single.csv"
    w = ResultWriter(single)
    score_sources(model, sources, w.write, batch_size=2)
    w.close()
    out = tmp_path / "merged.csv"
    for rank in range(2):
        pos = list(range(len(sources)))[rank::2]
        w = ResultWriter(part_path(out, rank, 2))
        score_sources(model, [sources[k] for k in pos], w.write, batch_size=2, order=pos)
        w.close()
        assert ORDER_COLUMN in read_results(part_path(out, rank, 2))
    assert merge_parts(out) == 8
    assert out.read_bytes() == single.read_bytes()
    assert not part_path(out, 0, 2).exists()


def test_merge_refuses_an_incomplete_set_of_parts(tmp_path):
    from hfviz.errors import DataFormatError

    pd.DataFrame({"id": ["a"], ORDER_COLUMN: [0]}).to_csv(part_path(tmp_path / "o.csv", 0, 2), index=False)
    with pytest.raises(DataFormatError, match="missing"):
        merge_parts(tmp_path / "o.csv")


def test_a_dataset_folder_is_scored_with_its_outcomes(model, tmp_path):
    from hfviz.data.dataset import load_dataset
    from hfviz.ecg.signal import normalise
    from hfviz.synthetic.cohorts import generate_cohort
    from hfviz.data.dataset import save_dataset

    beats, table, meta = generate_cohort("mi", n=12, seed=3)
    save_dataset(tmp_path / "ds", beats, table, meta)
    parts = []
    n = score_dataset(model, tmp_path / "ds", parts.append, batch_size=5)
    rows = pd.concat(parts, ignore_index=True)
    assert n == 12 and list(rows.columns) == ["id", "log_risk", "percentile", "risk_group", "s_12m", "s_36m",
                                              "s_60m", "time_months", "event"]
    ds = load_dataset(tmp_path / "ds")
    ref = model.predict_log_risk(normalise(np.asarray(ds.beats)))
    np.testing.assert_allclose(rows["log_risk"], np.round(ref, 4), atol=1.01e-4)
    assert list(rows["id"]) == list(ds.table["id"].astype(str))
    np.testing.assert_array_equal(rows["event"], ds.table["event"].astype(int))


def test_parquet_output_streams_and_resumes_when_pyarrow_is_installed(model, ecg_folder, tmp_path):
    pytest.importorskip("pyarrow")
    sources = collect_sources([str(ecg_folder / "a")])
    out = tmp_path / "out.parquet"
    run_batch(model, out, sources=sources[:2])
    rep = run_batch(model, out, sources=sources, resume=True)
    table = pd.read_parquet(out)
    assert rep.skipped == 2 and list(table["id"]) == [s.id for s in sources]
    csv = tmp_path / "out.csv"
    run_batch(model, csv, sources=sources)
    pd.testing.assert_frame_equal(table, read_results(csv))


def test_writing_a_copy_of_the_folder_elsewhere_keeps_the_ids(ecg_folder, tmp_path):
    copy = Path(shutil.copytree(ecg_folder / "a", tmp_path / "copy"))
    assert [s.id for s in collect_sources([str(copy)])] == [s.id for s in collect_sources([str(ecg_folder / "a")])]


def test_predict_command_streams_to_a_file_resumes_and_merges_parts(ecg_folder, tmp_path, capsys):
    from hfviz.cli import main

    d = write_tiny_model(tmp_path / "models")
    out = tmp_path / "scores.csv"
    args = ["predict", str(ecg_folder), "--cohort", "mi", "--models", str(d), "--out", str(out)]
    assert main(args) == 2  # the broken file
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "broken.xml" in err and "8 ECG(s) scored" in err
    assert main([*args, "--resume"]) == 2  # the broken file is tried again, nothing else
    assert "0 ECG(s) scored, 8 already in" in capsys.readouterr().err
    assert len(read_results(out)) == 8
    for rank in range(2):  # parts as two torchrun ranks leave them
        t = read_results(out).iloc[rank::2].assign(**{ORDER_COLUMN: range(rank, 8, 2)})
        t.to_csv(part_path(tmp_path / "merged.csv", rank, 2), index=False)
    assert main(["merge-predictions", str(tmp_path / "merged.csv"), "--remove-parts"]) == 0
    assert (tmp_path / "merged.csv").read_bytes() == out.read_bytes()
    assert not list(tmp_path.glob("merged.part-*"))
