"""The Batch page: many ECGs (files, or zip archives of them) scored into one table.

Streamlit-free checks of the zip expansion (bounded in entries and expanded bytes, clutter
skipped, bombs refused before memory is spent) and of the table (grouping, failures, filters,
CSV); then the page driven headless with ``AppTest`` on stand-in models (random weights,
SYNTHETIC cohorts): mixed good and bad files, a zip, a zip bomb, the CSV download, opening a row
in the Patient view and on the Compare page, and the session keeping only a small table.
Every ECG here is SYNTHETIC except the real public samples (skipped when absent).
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_fixtures import build_model_dir
from streamlit.testing.v1 import AppTest

from hfviz.dashboard import batch_table, ui, uploads

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
BATCH = "pages/6_Batch.py"
TIMEOUT = 180


# --- helpers -------------------------------------------------------------------------------------------
def _zip(entries: dict[str, bytes], *, method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _patch_declared_size(data: bytes, size: int) -> bytes:
    """The zip with every entry's declared (uncompressed) size set to ``size``, in local and central headers."""
    out = bytearray(data)
    for sig, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        k = out.find(sig)
        while k >= 0:
            out[k + offset : k + offset + 4] = struct.pack("<I", size)
            k = out.find(sig, k + 4)
    return bytes(out)


def _set_encrypted_flag(data: bytes) -> bytes:
    out = bytearray(data)
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        k = out.find(sig)
        while k >= 0:
            out[k + offset] |= 0x1
            k = out.find(sig, k + 4)
    return bytes(out)


def _synthetic_files(tmp: Path, n: int, *, seed: int = 0, prefix: str = "SYN") -> list[tuple[str, bytes]]:
    """``n`` SYNTHETIC ECGs (CardioSoft XML and WFDB records alternating) as (name, bytes) pairs."""
    from hfviz.synthetic.files import write_ecg_files

    folder = tmp / f"{prefix}{seed}"
    write_ecg_files(folder, n, seed=seed, distinct=n, prefix=prefix)
    return [(p.name, p.read_bytes()) for p in sorted(folder.iterdir())]


def _bomb(n_entries: int = 3, entry_mb: int = 100) -> bytes:
    """A real zip bomb: ``n_entries`` files of ``entry_mb`` MB of zeros each (a few hundred kB zipped)."""
    buf = io.BytesIO()
    chunk = bytes(2**20)
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for k in range(n_entries):
            with zf.open(f"ecgs/zeros{k}.xml", "w") as fh:
                for _ in range(entry_mb):
                    fh.write(chunk)
    return buf.getvalue()


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    return build_model_dir(tmp_path_factory.mktemp("models"), cohorts=("mi",), validated=())


@pytest.fixture(scope="module")
def model(models_dir):
    from hfviz.risk.model import load_risk_model

    return load_risk_model("mi", models_dir)


@pytest.fixture(scope="module")
def ecg_pairs(tmp_path_factory) -> list[tuple[str, bytes]]:
    """4 SYNTHETIC ECGs: 2 CardioSoft XML files and 2 WFDB records (6 files)."""
    return _synthetic_files(tmp_path_factory.mktemp("ecgs"), 4)


# --- zip expansion (Streamlit-free) ---------------------------------------------------------------
def test_a_zip_with_nested_folders_gives_its_files_and_skips_clutter():
    data = _zip({"clinic/2024/a.xml": b"<x/>", "clinic/2024/rec.hea": b"h", "clinic/2024/rec.dat": b"d",
                 "__MACOSX/clinic/._a.xml": b"junk", "clinic/.DS_Store": b"junk", "clinic/README.md": b"notes",
                 "clinic/Thumbs.db": b"junk"})
    out = uploads.expand_zip("list.zip", data)
    assert [n for n, _ in out.files] == ["list.zip/clinic/2024/a.xml", "list.zip/clinic/2024/rec.hea",
                                         "list.zip/clinic/2024/rec.dat"]
    assert dict(out.files)["list.zip/clinic/2024/rec.dat"] == b"d"
    assert out.skipped == 4 and not out.problems and not out.refused


def test_a_zip_declaring_more_than_the_budget_is_refused_before_anything_is_decompressed(monkeypatch):
    data = _patch_declared_size(_zip({"a.xml": b"<x/>" * 10, "b.xml": b"<y/>" * 10}), 3 * 2**30)

    def no_read(*a, **k):
        raise AssertionError("an entry was opened")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_read)
    out = uploads.expand_zip("bomb.zip", data, max_file_bytes=2**40)
    assert out.files == [] and out.refused == [("bomb.zip", out.refused[0][1])]
    sentence = out.refused[0][1]
    assert sentence.startswith("bomb.zip would expand to 6,144 MB; the limit is 256 MB") and sentence.count(". ") == 0 and sentence.endswith(".")


def test_an_entry_that_expands_beyond_its_declared_size_refuses_the_archive_reading_no_more_than_declared():
    data = _patch_declared_size(_zip({"a.xml": bytes(4 * 2**20)}), 1000)  # 4 MB of zeros, declared 1000 bytes
    out = uploads.expand_zip("sly.zip", data)
    assert out.files == [] and len(out.refused) == 1
    assert out.refused[0][1] == ("sly.zip: a.xml does not hold what the archive declares (damaged, or made to expand "
                                 "without limit), so the archive was refused.")


def test_an_archive_with_too_many_entries_is_refused_in_one_sentence():
    out = uploads.expand_zip("many.zip", _zip({f"e{k}.xml": b"<x/>" for k in range(12)}), max_entries=10)
    assert out.files == [] and out.refused == [("many.zip", ("many.zip lists 12 entries; the limit is 10 per "
                                                            "archive, so it was not opened."))]


def test_an_archive_declaring_millions_of_entries_is_refused_before_its_entry_list_is_parsed(monkeypatch):
    many = bytearray(_zip({"a.xml": b"<x/>"}))
    k = many.rfind(b"PK\x05\x06")
    many[k + 8 : k + 12] = struct.pack("<HH", 65000, 65000)  # entries on this disk, entries in all
    long_list = bytearray(_zip({"a.xml": b"<x/>"}))
    k = long_list.rfind(b"PK\x05\x06")
    long_list[k + 12 : k + 16] = struct.pack("<I", 40 * 2**20)  # a 40 MB entry list, whatever the count says

    def no_parse(*a, **k):
        raise AssertionError("the central directory was parsed")

    monkeypatch.setattr(zipfile, "ZipFile", no_parse)
    assert uploads.expand_zip("huge.zip", bytes(many)).refused == [
        ("huge.zip", "huge.zip lists 65,000 entries; the limit is 2,000 per archive, so it was not opened.")]
    assert uploads.expand_zip("long.zip", bytes(long_list)).refused == [
        ("long.zip", "long.zip has a 40 MB list of entries, more than 2,000 entries can need, so it was not opened.")]


def test_entries_too_large_encrypted_or_nested_archives_are_named_and_the_rest_kept():
    plain = _zip({"ok.xml": b"<x/>", "big.xml": b"0" * 5000, "inner.zip": _zip({"x.xml": b"<x/>"})})
    out = uploads.expand_zip("b.zip", plain, max_file_bytes=1000)
    assert [n for n, _ in out.files] == ["b.zip/ok.xml"]
    reasons = dict(out.problems)
    assert reasons["b.zip/big.xml"] == "b.zip/big.xml is 5 kB; the limit is 1 kB per file."
    assert "zip inside the zip" in reasons["b.zip/inner.zip"]
    locked = uploads.expand_zip("c.zip", _set_encrypted_flag(_zip({"x.xml": b"<x/>"})))
    assert locked.problems == [("c.zip/x.xml", "c.zip/x.xml is password-protected and cannot be read.")]


def test_a_file_named_zip_that_is_not_one_is_refused_and_an_npz_is_an_ecg_not_an_archive():
    assert uploads.expand_batch_upload([("x.zip", b"PK\x03\x04garbage")]).refused == [
        ("x.zip", "x.zip is not a readable zip archive.")]
    buf = io.BytesIO()
    np.savez(buf, signal=np.zeros((12, 10)))
    out = uploads.expand_batch_upload([("beats.npz", buf.getvalue())])
    assert [n for n, _ in out.files] == ["beats.npz"] and not out.refused


def test_the_expansion_budget_is_shared_by_the_plain_files_and_every_archive():
    archive = _zip({"a.xml": b"1" * 600})
    out = uploads.expand_batch_upload([("plain.xml", b"0" * 500), ("one.zip", archive), ("two.zip", archive)],
                                      budget=1000)
    assert [n for n, _ in out.files] == ["plain.xml"]
    assert [n for n, _ in out.refused] == ["one.zip", "two.zip"]
    out = uploads.expand_batch_upload([("plain.xml", b"0" * 500), ("one.zip", archive), ("two.zip", archive)],
                                      budget=1200)
    assert [n for n, _ in out.files] == ["plain.xml", "one.zip/a.xml"] and [n for n, _ in out.refused] == ["two.zip"]


def test_format_codes_are_said_in_the_words_of_the_format_names():
    assert uploads.format_words("muse") == "GE MUSE XML" == uploads.format_name("x.xml", b"<RestingECG/>")
    assert uploads.format_words("wfdb") == "WFDB"
    assert uploads.format_words("philips") == uploads.format_name("x.xml", b"<restingecgdata/>")


# --- the table (Streamlit-free) -----------------------------------------------------------------
def test_wfdb_files_are_grouped_per_folder_and_repeated_names_kept_apart():
    files = [("z.zip/a/rec.hea", b"h"), ("z.zip/a/rec.dat", b"d"), ("z.zip/b/rec.hea", b"h2"),
             ("z.zip/b/rec.dat", b"d2"), ("one.xml", b"1"), ("one.xml", b"2")]
    sources = batch_table.batch_sources(files)
    assert [s.id for s in sources] == ["z.zip/a/rec.hea + rec.dat", "z.zip/b/rec.hea + rec.dat", "one.xml",
                                       "one (2).xml"]
    assert batch_table.ecg_files(files, "z.zip/b/rec.hea + rec.dat") == [("z.zip/b/rec.hea", b"h2"),
                                                                         ("z.zip/b/rec.dat", b"d2")]
    assert batch_table.ecg_files(files, "one (2).xml") == [("one (2).xml", b"2")]
    assert batch_table.ecg_files(files, "missing.xml") is None


def test_files_a_wfdb_header_names_join_its_record_whatever_their_suffix():
    from hfviz.risk.batch import group_ecg_files

    files = ["z/s1.hea", "z/s1.dat", "z/s1.xyz", "y/s1.xyz", "z/s1.csv"]
    assert group_ecg_files(files, listed={"z/s1.hea": ["s1.dat", "s1.xyz"]}) == [
        ["z/s1.hea", "z/s1.dat", "z/s1.xyz"], ["y/s1.xyz"], ["z/s1.csv"]]
    assert group_ecg_files(files) == [["z/s1.hea", "z/s1.dat"], ["z/s1.xyz"], ["y/s1.xyz"], ["z/s1.csv"]]  # as before


def test_score_batch_gives_one_row_per_ecg_and_one_sentence_per_failed_file(model, ecg_pairs):
    bad = [("trace.xml", b'<?xml version="1.0"?><MortaraECG></MortaraECG>'), ("lone.dat", bytes(200)),
           ("notes.csv", b"a,b\n1,2\n")]
    batch = uploads.expand_batch_upload(ecg_pairs + bad + [("archive.zip", b"PK\x03\x04broken")])
    seen = []
    result = batch_table.score_batch(model, batch, progress=lambda done, total: seen.append((done, total)))
    assert list(result.table.columns) == list(batch_table.TABLE_COLUMNS)
    assert len(result.table) == 4 and seen[-1] == (7, 7)
    assert sorted(result.table["format"]) == ["GE CardioSoft XML", "GE CardioSoft XML", "WFDB", "WFDB"]
    assert set(result.table["risk group"]) <= {"bottom third", "middle third", "top third"}
    assert result.table["percentile"].between(0, 100).all()
    assert result.table[batch_table.SURVIVAL_COLUMN].between(0, 100).all()
    reasons = dict(zip(result.failures["file"], result.failures["reason"]))
    assert set(reasons) == {"trace.xml", "lone.dat", "notes.csv", "archive.zip"}
    assert reasons["trace.xml"] == "trace.xml is Mortara XML, which is not supported yet."
    assert all(r.startswith(f) and r.endswith(".") for f, r in reasons.items())
    assert result.refused == ["archive.zip is not a readable zip archive."]
    assert result.cohort_label == "MI-like cohort (synthetic)"
    cardiosoft = result.table["format"] == "GE CardioSoft XML"  # their interpretation text says SYNTHETIC
    assert set(result.table.loc[cardiosoft, "synthetic ECG"]) == {"yes"}


def test_the_scores_are_those_of_the_single_ecg_assessment(model, ecg_pairs):
    from hfviz.risk.assess import assess_ecg

    result = batch_table.score_batch(model, uploads.BatchFiles(files=list(ecg_pairs)))
    row = result.table[result.table["format"] == "WFDB"].iloc[0]
    one = assess_ecg(batch_table.ecg_files(ecg_pairs, row["file"]), model).risk
    assert row["log-risk"] == pytest.approx(one.log_risk, abs=1e-4)
    assert row["percentile"] == pytest.approx(one.percentile, abs=0.05)
    assert row[batch_table.SURVIVAL_COLUMN] == pytest.approx(100 * one.survival_at(60), abs=0.01)


def test_ecgs_beyond_the_batch_limit_are_named_not_scored(model, ecg_pairs):
    result = batch_table.score_batch(model, uploads.BatchFiles(files=list(ecg_pairs)), max_ecgs=3)
    assert len(result.table) == 3
    [(file, reason)] = result.failures.itertuples(index=False)
    assert reason == f"{file} was not scored: a batch holds at most 3 ECGs."


def test_quality_flags_reach_the_table(model, ecg_pairs):
    from hfviz.ecg.record import LEADS
    from hfviz.synthetic.simulate import simulate

    rec, _ = simulate("normal", seed=3)
    sig = rec.signal_mv.copy()
    sig[LEADS.index("V3")] = 0.0  # a flat lead
    rows = ["time_s," + ",".join(LEADS)] + [f"{j / rec.fs_hz:.4f}," + ",".join(f"{v:.4f}" for v in sig[:, j])
                                            for j in range(sig.shape[1])]
    result = batch_table.score_batch(model, uploads.BatchFiles(files=[("flat_v3.csv", "\n".join(rows).encode())]))
    assert "V3" in result.table["quality flags"].iloc[0] and "flat" in result.table["quality flags"].iloc[0]


def _table() -> pd.DataFrame:
    return pd.DataFrame({"file": ["a.xml", "B.XML", "c.hea + c.dat"], "format": ["GE MUSE XML", "GE MUSE XML", "WFDB"],
                         "log-risk": [0.1, -0.2, 0.5], "percentile": [50.0, 20.0, 90.0],
                         "risk group": ["middle third", "bottom third", "top third"],
                         batch_table.SURVIVAL_COLUMN: [80.0, 90.5, 60.25], "quality flags": ["", "V3: flat", ""],
                         "synthetic ECG": ["", "", "yes"]})


def test_filters_combine_and_an_empty_filter_keeps_every_row():
    t = _table()
    assert len(batch_table.filter_table(t)) == 3
    assert list(batch_table.filter_table(t, text="b.x")["file"]) == ["B.XML"]
    assert list(batch_table.filter_table(t, groups=["top third", "bottom third"])["file"]) == ["B.XML", "c.hea + c.dat"]
    assert list(batch_table.filter_table(t, formats=["GE MUSE XML"], flagged_only=True)["file"]) == ["B.XML"]
    assert batch_table.filter_table(t, text="zzz").empty


def test_the_csv_holds_the_table_and_says_which_synthetic_cohort_it_refers_to():
    t = _table()
    back = pd.read_csv(io.BytesIO(batch_table.table_csv(t, "MI-like cohort (synthetic)")), keep_default_na=False)
    assert list(back.columns) == [*batch_table.TABLE_COLUMNS, "cohort"]
    assert set(back["cohort"]) == {"MI-like cohort (synthetic)"}
    pd.testing.assert_frame_equal(back[list(t.columns)], t, check_dtype=False)


# --- the page (AppTest) ---------------------------------------------------------------------------------
@pytest.fixture()
def app(models_dir, monkeypatch) -> AppTest:
    monkeypatch.setenv(ui.MODELS_DIR_ENV, str(models_dir))
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT).run()
    return at.switch_page(BATCH).run()


def _upload(at: AppTest, files: list[tuple[str, bytes]]) -> AppTest:
    at.file_uploader(key=ui.K_BATCH_UPLOAD).set_value([(n, b, "application/octet-stream") for n, b in files])
    return at.run()


def _tables(at: AppTest) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    frames = [d.value for d in at.dataframe]
    table = next(f for f in frames if "log-risk" in f.columns)
    failures = next((f for f in frames if list(f.columns) == ["file", "reason"]), None)
    return table, failures


def test_the_page_without_files_explains_itself_and_says_synthetic(app):
    assert not app.exception
    assert any("zip" in i.value for i in app.info)
    assert any("synthetic" in c.value.lower() for c in app.caption)


def test_mixed_good_and_bad_files_give_table_rows_and_named_failures(app, ecg_pairs):
    _upload(app, ecg_pairs + [("trace.xml", b"<MortaraECG/>"), ("empty.csv", b"")])
    assert not app.exception, app.exception
    table, failures = _tables(app)
    assert len(table) == 4 and set(table["format"]) == {"GE CardioSoft XML", "WFDB"}
    reasons = dict(zip(failures["file"], failures["reason"]))
    assert reasons == {"trace.xml": "trace.xml is Mortara XML, which is not supported yet.",
                       "empty.csv": "empty.csv: the file is empty."}
    assert any("4 ECGs scored" in m.value and "synthetic" in m.value for m in app.markdown)
    assert any(s.value == "Could not be scored (2)" for s in app.subheader)
    result = app.session_state[ui.K_BATCH_RESULT]
    assert len(result.table) == 4  # the session keeps the table …
    assert isinstance(app.session_state[ui.K_BATCH_SIG], tuple)  # … and the bytes' signature


def test_a_zip_of_ecgs_gives_one_row_per_ecg(app, ecg_pairs):
    _upload(app, [("clinic.zip", _zip({f"monday/{n}": b for n, b in ecg_pairs} | {"__MACOSX/._x": b"junk"}))])
    assert not app.exception and not app.error
    table, failures = _tables(app)
    assert len(table) == 4 and failures is None
    assert all(f.startswith("clinic.zip/monday/") for f in table["file"])
    assert any("1 archive entry that are not ECGs skipped" in m.value or "skipped" in m.value for m in app.markdown)


def test_a_zip_bomb_is_refused_in_one_sentence_and_the_good_files_are_still_scored(app, ecg_pairs):
    _upload(app, [("bomb.zip", _bomb()), *ecg_pairs[:1]])
    assert not app.exception
    errors = [e.value for e in app.error]
    assert errors == ["bomb.zip would expand to 300 MB; the limit is 256 MB for a batch, so it was not opened."]
    table, failures = _tables(app)
    assert len(table) == 1 and list(failures["file"]) == ["bomb.zip"]


def test_the_csv_download_is_the_table(app, ecg_pairs, monkeypatch):
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    saved = {}
    original = MemoryMediaFileStorage.load_and_get_id

    def spy(self, path_or_data, mimetype, kind, filename=None):
        saved[filename] = path_or_data
        return original(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", spy)
    _upload(app, ecg_pairs)
    table, _ = _tables(app)
    csv = pd.read_csv(io.BytesIO(saved["hfviz-batch.csv"]), keep_default_na=False)
    assert list(csv.columns) == [*batch_table.TABLE_COLUMNS, "cohort"]
    assert list(csv["file"]) == list(table["file"])
    np.testing.assert_allclose(csv["log-risk"], table["log-risk"])
    assert set(csv["cohort"]) == {"MI-like cohort (synthetic)"}


def test_filters_narrow_the_table(app, ecg_pairs):
    _upload(app, ecg_pairs)
    app.multiselect(key=ui.K_FILTER_FORMATS).set_value(["WFDB"]).run()
    table, _ = _tables(app)
    assert len(table) == 2 and set(table["format"]) == {"WFDB"}
    assert any(c.value.startswith("2 of 4 ECGs shown") for c in app.caption)


def test_a_new_batch_starts_without_the_old_filters(app, ecg_pairs):
    _upload(app, ecg_pairs)
    app.multiselect(key=ui.K_FILTER_FORMATS).set_value(["WFDB"]).run()
    assert len(_tables(app)[0]) == 2
    _upload(app, [(n, b) for n, b in ecg_pairs if n.endswith(".xml")])  # CardioSoft only: "WFDB" is no option now
    assert not app.exception
    table, _ = _tables(app)
    assert len(table) == 2 and set(table["format"]) == {"GE CardioSoft XML"}
    assert app.multiselect(key=ui.K_FILTER_FORMATS).value == []


def _select(at: AppTest, row: int) -> AppTest:
    at.session_state[ui.K_BATCH_SELECT] = {"selection": {"rows": [row], "columns": []}}
    return at.run()


def test_a_clicked_row_opens_in_the_patient_view(app, ecg_pairs):
    _upload(app, ecg_pairs)
    table, _ = _tables(app)
    _select(app, 1)
    assert any(m.value == f"**Chosen:** {table['file'][1]}" for m in app.markdown)
    app.button(key="batch.open").click().run()
    assert not app.exception and not app.error
    assert [t.value for t in app.title] == ["Patient"]
    assert app.session_state[ui.K_ECG_LABEL] == table["file"][1]
    assert {"log-risk", "percentile"} <= {m.label for m in app.metric}
    shown = float(next(m.value for m in app.metric if m.label == "log-risk"))
    assert shown == pytest.approx(table["log-risk"][1], abs=1e-3)  # the same number as in the table


def test_a_clicked_row_goes_to_a_side_of_the_compare_page(app, ecg_pairs):
    if not ui.compare_available():
        pytest.skip("the Compare page is not installed")
    _upload(app, ecg_pairs)
    table, _ = _tables(app)
    _select(app, 0)
    app.button(key="batch.compare_B").click().run()
    assert not app.exception and not app.error
    assert app.session_state["compare.B.label"] == table["file"][0]
    assert any("is now ECG B" in s.value for s in app.success)
    assert [t.value for t in app.title] == ["Batch"]  # the batch stays on screen for the next choice


def test_opening_a_row_after_the_files_are_gone_says_so_and_keeps_the_table(app, ecg_pairs):
    _upload(app, ecg_pairs)
    _select(app, 0)
    app.file_uploader(key=ui.K_BATCH_UPLOAD).set_value([]).run()
    _select(app, 0)
    app.button(key="batch.open").click().run()
    assert not app.exception
    assert [t.value for t in app.title] == ["Batch"]
    [error] = [e.value for e in app.error]
    assert "no longer uploaded here; upload them again (the table is kept)" in error
    assert len(_tables(app)[0]) == 4
    assert any(c.value.startswith("This table is kept from the last batch.") for c in app.caption)


def test_the_session_keeps_a_small_table_not_the_prepared_ecgs(app, tmp_path):
    from hfviz.dashboard.footprint import footprint

    _upload(app, _synthetic_files(tmp_path, 12, seed=5))
    state = {k: app.session_state[k] for k in app.session_state._state.filtered_state}
    sizes = footprint(state)
    assert len(app.session_state[ui.K_BATCH_RESULT].table) == 12
    assert sizes[ui.K_BATCH_RESULT] < 50_000  # bytes: ~1 kB per row, no signals
    assert app.session_state[ui.K_ECG] is None  # scoring a batch does not load an ECG


def test_real_samples_of_every_format_are_scored_or_named(app, samples):
    files = [p for p in sorted(samples.rglob("*")) if p.is_file() and p.suffix.lower() not in (".md", ".xsd")]
    pairs = [(p.name, p.read_bytes()) for p in files]
    _upload(app, pairs)
    assert not app.exception
    table, failures = _tables(app)
    failures = failures if failures is not None else pd.DataFrame(columns=["file", "reason"])
    ecgs = batch_table.batch_sources(pairs)  # a WFDB .hea with its signal file is one ECG
    assert len(ecgs) < len(files)
    assert len(table) + len(failures) == len(ecgs)
    assert all(r.startswith(f.split(" + ")[0]) for f, r in zip(failures["file"], failures["reason"]))
    if "s0010_re.xyz" in dict(pairs):  # PTB: the header names a second signal file (Frank leads)
        assert "s0010_re.hea + s0010_re.dat + s0010_re.xyz" in set(table["file"])
    assert {"GE MUSE XML", "WFDB", "GE CardioSoft XML"} <= set(table["format"])


def test_file_names_on_screen_are_not_read_as_markdown():
    assert ui.md_escape("3191723_ZZ_orig.xml") == "3191723\\_ZZ\\_orig.xml"
    assert ui.md_escape("$5 *x* [a](b)") == "\\$5 \\*x\\* \\[a\\](b)"


def test_the_batch_view_benchmark_scores_every_synthetic_file_through_the_pages_functions():
    from hfviz.bench import bench_batch_view

    res = bench_batch_view(n=4, repeats=1)
    assert (res["rows"], res["failures"], res["zip_rows"], res["zip_failures"]) == (4, 0, 4, 0)
    assert "SYNTHETIC" in res["input"] and res["files_s"]["median_s"] > 0 and "load average" in res["conditions"]
