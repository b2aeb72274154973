"""Nothing uploaded touches the disk, and no patient identifier reaches a log.

* A full upload -> predict -> explain flow (library functions, then the Streamlit app through
  ``AppTest``) runs while a ``sys.addaudithook`` hook records every file opened for writing,
  every directory or temp file created, every file renamed or removed, every subprocess and
  every socket connection; afterwards the temp folder and the working tree are compared with
  snapshots taken before (caches ``__pycache__``, ``.pytest_cache``, ``.hypothesis`` ignored).
* The real CardioSoft, aECG, DICOM (and MUSE, WFDB) files are read with logging captured at
  DEBUG -- once as they are, once with distinctive made-up "canary" names and IDs written into
  their patient fields -- and neither the logs, the warnings, stdout/stderr, the record's
  metadata nor the error messages of damaged copies contain a name or an identifier.
"""

from __future__ import annotations

import io
import logging
import os
import re
import sys
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from hfviz.errors import ECGFormatError
from hfviz.ecg.io import read_ecg
from test_fuzz_readers import SAMPLES_DIR, _csv_bytes, synthetic_ecg
from test_model_integrity import write_tiny_model

torch.set_num_threads(1)  # 2 shared cores: thread oversubscription makes attributions 10-50x slower
ROOT = Path(__file__).resolve().parents[1]
IGNORED_PARTS = {"__pycache__", ".pytest_cache", ".hypothesis", ".git", ".ruff_cache"}
#: Git-ignored outputs of the project's own training commands (written by other processes, e.g. a
#: `reproduce` run beside the tests); this process's writes there are still caught by the audit hook.
IGNORED_TOP = {".venv", "data", "runs", "logs"}
LEADS12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")

#: Made-up identifiers written into the patient fields of the real files.
CANARY_FAMILY = "Zyxwvutsson"
CANARY_GIVEN = "Quuxbertina"
CANARY_ID = "PID-CANARY-31415926"
CANARIES = (CANARY_FAMILY, CANARY_GIVEN, CANARY_ID)


# --- watching the file system ---------------------------------------------------------------------


class DiskWatch:
    """Audit hook: records writes, creations, removals, subprocesses and connections while active.

    ``sys.addaudithook`` hooks cannot be removed, so one instance is installed per process and
    switched on and off; only events from the watched threads are kept (AppTest's script thread
    is a child of the test thread and is watched by switching ``all_threads`` on).
    """

    _WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    _EVENTS = {"os.mkdir", "os.rename", "os.replace", "os.remove", "os.rmdir", "os.symlink", "os.link",
               "os.truncate", "os.chmod", "shutil.copyfile", "shutil.copytree", "shutil.move", "shutil.rmtree",
               "tempfile.mkstemp", "tempfile.mkdtemp", "subprocess.Popen", "os.system", "os.posix_spawn",
               "os.exec", "os.fork", "os.startfile", "socket.connect", "socket.bind", "sqlite3.connect",
               "ftplib.connect", "http.client.connect", "urllib.Request", "mmap.__new__"}
    _instance: DiskWatch | None = None

    def __init__(self) -> None:
        self.active = False
        self.events: list[str] = []
        self._lock = threading.Lock()

    @classmethod
    def get(cls) -> DiskWatch:
        if cls._instance is None:
            cls._instance = cls()
            sys.addaudithook(cls._instance)
        return cls._instance

    def __call__(self, event: str, args: tuple) -> None:
        if not self.active:
            return
        if event == "open":
            path, mode, flags = (tuple(args) + (None, None, None))[:3]
            if isinstance(path, int) or str(path) == os.devnull:
                return
            writing = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
                isinstance(flags, int) and flags & self._WRITE_FLAGS)
            if writing and "__pycache__" not in str(path):
                self._add(f"open for writing: {path} ({mode or flags})")
        elif event in self._EVENTS:
            if event == "mmap.__new__" and len(args) > 1 and args[1] == -1:
                return  # anonymous memory map: memory, not a file
            self._add(f"{event}: {args!r}"[:300])

    def _add(self, text: str) -> None:
        with self._lock:
            self.events.append(text)

    def __enter__(self) -> DiskWatch:
        self.events = []
        self.active = True
        return self

    def __exit__(self, *exc) -> None:
        self.active = False


def tree(root: Path) -> set[str]:
    """Every file and folder under ``root`` (relative paths), caches left out."""
    out = set()
    for dirpath, dirnames, filenames in os.walk(root, onerror=lambda e: None):
        rel = Path(dirpath).relative_to(root)
        dirnames[:] = [d for d in dirnames if d not in IGNORED_PARTS and not (rel == Path(".") and d in IGNORED_TOP)]
        out.update(str(rel / n) for n in dirnames + filenames if not n.endswith(".log"))
    return out


@pytest.fixture()
def private_tmp(tmp_path, monkeypatch) -> Path:
    """A fresh, empty temp folder that ``tempfile`` (and anything honouring TMPDIR) uses during the test."""
    d = tmp_path / "tmp-for-the-flow"
    d.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(d))
    for var in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(var, str(d))
    return d


def test_disk_watch_sees_writes_temp_files_and_subprocesses(tmp_path, private_tmp):
    """The instrument itself: otherwise "no events" below would prove nothing."""
    import subprocess

    import pandas as pd

    with DiskWatch.get() as watch:
        (tmp_path / "a.txt").write_text("x")
        pd.DataFrame({"a": [1]}).to_csv(tmp_path / "b.csv")
        np.save(tmp_path / "c.npy", np.zeros(2))
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"x")
        tempfile.mkdtemp()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        (tmp_path / "a.txt").read_text()  # reading is fine
    text = "\n".join(watch.events)
    for expected in ("a.txt", "b.csv", "c.npy", "tempfile.mkstemp", "tempfile.mkdtemp", "subprocess.Popen"):
        assert expected in text, (expected, watch.events)
    assert len(tree(private_tmp)) == 1  # the mkdtemp folder; NamedTemporaryFile removed itself


# --- the upload -> predict -> explain flow --------------------------------------------------------


def _uploads() -> list[list[tuple[str, bytes]]]:
    """Uploads as a browser gives them: (file name, bytes) pairs; real samples when present."""
    x = synthetic_ecg(seconds=10.0)
    ups = [[("synthetic upload.csv", _csv_bytes(x, LEADS12, time_col=500.0))]]
    for rel in ("cardiosoft/example-XML1.xml", "dicom/example-DICOM1.dcm"):
        if (SAMPLES_DIR / rel).is_file():
            ups.append([(Path(rel).name, (SAMPLES_DIR / rel).read_bytes())])
    hea = SAMPLES_DIR / "wfdb" / "HR06000.hea"
    if hea.is_file():
        ups.append([(hea.name, hea.read_bytes()), ("HR06000.mat", hea.with_suffix(".mat").read_bytes())])
    return ups


def _library_flow(upload, models_dir: Path) -> None:
    from hfviz.risk import explain
    from hfviz.risk import explain_summary
    from hfviz.dashboard import ecg_figures
    from hfviz.dashboard import risk_figures
    from hfviz.dashboard import report as report
    from hfviz.risk import assess as risk_assess
    from hfviz.ecg.prepare import prepare
    from hfviz.risk.model import load_risk_model

    prepared = prepare(read_ecg(upload))
    model = load_risk_model("mi", models_dir)
    risk = risk_assess.assess(model, prepared.model_input)
    assert np.isfinite(risk.log_risk)
    attrs = explain.attribute_all(model, prepared.model_input, n_steps=8, cohort_beats=model.cohort_beats)
    assert set(attrs) == set(explain.METHODS)
    html = report.patient_report_html(
                               title="upload", record_info=report.record_summary(prepared), risk=risk,
                               ecg_figure=ecg_figures.ecg_paper_figure(prepared.strip_mv, prepared.fs_hz, title="ECG"),
                               survival_figure=risk_figures.survival_figure(risk.times_months, risk.survival),
                               measurements=report.measurements_frame(prepared.measurements),
                               top_attributions=explain_summary.top_segments(attrs["integrated_gradients"].values),
                               attribution_label="IG", model_info={})
    assert "<html" in html.lower()  # built in memory, offered as a download, never saved


def test_upload_predict_explain_writes_nothing_to_disk(tmp_path, private_tmp):
    models = write_tiny_model(tmp_path / "models")
    uploads = _uploads()
    _library_flow(uploads[0], models)  # warm-up: imports and one-off caches are not the flow's doing
    temp_before, repo_before = tree(private_tmp), tree(ROOT)
    system_tmp = Path(tempfile.gettempdir())
    assert system_tmp == private_tmp
    with DiskWatch.get() as watch:
        for upload in uploads:
            _library_flow(upload, models)
    assert watch.events == [], watch.events
    assert tree(private_tmp) == temp_before == set()
    new_in_repo = tree(ROOT) - repo_before
    assert not new_in_repo, f"new files in the working tree: {sorted(new_in_repo)}"


def test_app_upload_predict_explain_writes_nothing_to_disk(tmp_path, private_tmp, monkeypatch):
    pytest.importorskip("streamlit")
    if not (ROOT / "pages" / "2_Interpretability.py").is_file():
        pytest.skip("the dashboard pages do not exist yet")
    from streamlit.testing.v1 import AppTest

    from hfviz.dashboard import ui

    monkeypatch.setenv(ui.MODELS_DIR_ENV, str(write_tiny_model(tmp_path / "models")))

    def session(upload):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180).run()
        at.switch_page("pages/1_Patient.py").run()
        at.file_uploader(key=ui.K_UPLOAD).set_value([(n, b, "application/octet-stream") for n, b in upload]).run()
        assert not at.exception and at.metric, [e.value for e in at.error]
        at.switch_page("pages/2_Interpretability.py").run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        return at

    uploads = _uploads()
    session(uploads[0])  # warm-up
    temp_before, repo_before = tree(private_tmp), tree(ROOT)
    with DiskWatch.get() as watch:
        session(uploads[-1])
    assert watch.events == [], watch.events
    assert tree(private_tmp) == temp_before
    new_in_repo = tree(ROOT) - repo_before
    assert not new_in_repo, f"new files in the working tree: {sorted(new_in_repo)}"


# --- identifiers never reach the logs -------------------------------------------------------------


def _dicom_with(raw: bytes, family: str, given: str, pid: str) -> bytes:
    import pydicom

    ds = pydicom.dcmread(io.BytesIO(raw))
    ds.PatientName = f"{family}^{given}"
    ds.PatientID = pid
    ds.OtherPatientIDs = pid
    ds.PatientBirthDate = "19650101"
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def _sub(data: bytes, pattern: bytes, repl: bytes) -> bytes:
    new, n = re.subn(pattern, repl, data)
    assert n, pattern
    return new


def named_files() -> list[tuple[str, list[tuple[str, bytes]], tuple[str, ...]]]:
    """(label, upload, identifiers in it): the real files as they are and with canary identifiers."""
    d = SAMPLES_DIR
    out = []
    fam, giv, pid = (c.encode() for c in CANARIES)
    p = d / "cardiosoft/example-XML1.xml"
    if p.is_file():
        raw = p.read_bytes()
        out.append(("cardiosoft", [(p.name, raw)], ("1532006361",)))
        can = _sub(raw, rb"<FamilyName>1532006361</FamilyName>", b"<FamilyName>" + fam + b"</FamilyName>")
        can = _sub(can, rb"<GivenName>ACE</GivenName>", b"<GivenName>" + giv + b"</GivenName>")
        can = _sub(can, rb"<PID>1532006361</PID>", b"<PID>" + pid + b"</PID>")
        out.append(("cardiosoft+canary", [(p.name, can)], CANARIES))
    p = d / "aecg/HL7_Example_aECG.xml"
    if p.is_file():
        raw = p.read_bytes()
        out.append(("aecg", [(p.name, raw)], ("Clark", "SBJ-123", "John Smith")))
        can = _sub(raw, rb"<name>Clark</name>", b"<name>" + fam + b" " + giv + b"</name>")
        can = _sub(can, rb'extension="SBJ-123"', b'extension="' + pid + b'"')
        out.append(("aecg+canary", [(p.name, can)], CANARIES))
    p = d / "dicom/example-DICOM1.dcm"
    if p.is_file():
        import pydicom

        raw = p.read_bytes()
        ds = pydicom.dcmread(io.BytesIO(raw))
        real = tuple(str(v) for v in (ds.get("PatientName"), ds.get("PatientID")) if v and len(str(v)) >= 4)
        out.append(("dicom", [(p.name, raw)], real))
        out.append(("dicom+canary", [(p.name, _dicom_with(raw, *CANARIES))], CANARIES))
    p = d / "muse/example1.xml"
    if p.is_file():
        raw = p.read_bytes()
        demo = (b"<PatientDemographics><PatientID>" + pid + b"</PatientID><PatientLastName>" + fam +
                b"</PatientLastName><PatientFirstName>" + giv + b"</PatientFirstName><PatientAge>53</PatientAge>"
                b"<Gender>MALE</Gender></PatientDemographics>")
        can = _sub(raw, rb"<PatientDemographics>.*?</PatientDemographics>", demo) if b"<PatientDemographics>" in raw \
            else _sub(raw, rb"(<RestingECG>)", rb"\1" + demo)
        out.append(("muse+canary", [(p.name, can)], CANARIES))
    p = d / "wfdb/HR06000.hea"
    if p.is_file():
        hea = p.read_bytes() + b"# Name: " + fam + b" " + giv + b"\n# Patient ID: " + pid + b"\n"
        out.append(("wfdb+canary", [(p.name, hea), ("HR06000.mat", p.with_suffix(".mat").read_bytes())], CANARIES))
    return out


def _leaks(text: str, identifiers) -> list[str]:
    low = text.lower()
    return [i for i in identifiers if i.lower() in low]


@pytest.fixture()
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("hfviz", "pydicom", "streamlit", "defusedxml", "numpy", "pandas"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_reading_files_that_carry_names_logs_no_identifier(debug_logs, capsys):
    from hfviz.ecg.prepare import prepare

    files = named_files()
    if not files:
        pytest.skip(f"real ECG samples not found at {SAMPLES_DIR}")
    assert any(label.endswith("canary") for label, _, _ in files)
    for label, upload, identifiers in files:
        debug_logs.clear()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            rec = read_ecg(upload)
            prepare(rec)
        out, err = capsys.readouterr()
        seen = "\n".join([debug_logs.text, out, err, repr(dict(rec.meta)), rec.units_note, rec.source_name,
                          *(str(w.message) for w in caught)])
        assert not _leaks(seen, identifiers), f"{label}: {_leaks(seen, identifiers)} in logs, output or metadata"
        assert rec.meta.keys() <= {"age", "sex", "device", "interpretation", "acquired", "device_measurements",
                                   "pacemaker"}, f"{label}: unexpected metadata keys {sorted(rec.meta)}"


def test_error_messages_of_damaged_named_files_quote_no_identifier(debug_logs):
    files = [f for f in named_files() if f[0].endswith("canary")]
    if not files:
        pytest.skip(f"real ECG samples not found at {SAMPLES_DIR}")
    checked = 0
    for label, upload, identifiers in files:
        name, data = upload[0]
        pos = [m.start() for c in identifiers for m in re.finditer(re.escape(c.encode()), data)]
        cuts = sorted({int(len(data) * f) for f in (0.05, 0.3, 0.6, 0.95)} | {p + 3 for p in pos} | {p - 1 for p in pos})
        for cut in cuts:
            debug_logs.clear()
            try:
                read_ecg([(name, data[:cut]), *upload[1:]])
                msg = ""
            except ECGFormatError as exc:
                msg = str(exc)
            assert not _leaks(msg + debug_logs.text, identifiers), f"{label} cut at {cut}: {msg!r}"
            checked += 1
    assert checked >= 4 * len(files)


def test_uploaded_file_names_are_not_logged(debug_logs, tmp_path, monkeypatch):
    """File names are shown to the user who chose them but never logged (they often carry names)."""
    pytest.importorskip("streamlit")
    if not (ROOT / "pages" / "1_Patient.py").is_file():
        pytest.skip("the Patient page does not exist yet")
    from streamlit.testing.v1 import AppTest

    from hfviz.dashboard import ui

    monkeypatch.setenv(ui.MODELS_DIR_ENV, str(write_tiny_model(tmp_path / "models")))
    good = f"{CANARY_FAMILY}_{CANARY_GIVEN}.csv"
    bad = f"{CANARY_ID}.xml"
    at = AppTest.from_file(str(ROOT / "pages" / "1_Patient.py"), default_timeout=180).run()
    x = synthetic_ecg(seconds=10.0)
    at.file_uploader(key=ui.K_UPLOAD).set_value([(good, _csv_bytes(x, LEADS12, time_col=500.0), "text/csv")]).run()
    assert at.metric and not at.exception
    at.file_uploader(key=ui.K_UPLOAD).set_value([(bad, b"<RestingECG><broken", "text/xml")]).run()
    assert any(CANARY_ID in e.value for e in at.error)  # the user sees which file failed …
    assert not _leaks(debug_logs.text, CANARIES), _leaks(debug_logs.text, CANARIES)  # … the log does not


def test_app_upload_limit_matches_the_library_limit():
    """The browser refuses what the library would refuse: both limits are 50 MB per file."""
    import tomllib

    from hfviz.ecg.io import MAX_FILE_BYTES

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["maxUploadSize"] * 2**20 == MAX_FILE_BYTES
    assert config["client"]["showErrorDetails"] is False  # no tracebacks in the browser
    assert config["browser"]["gatherUsageStats"] is False  # nothing about users is sent anywhere
