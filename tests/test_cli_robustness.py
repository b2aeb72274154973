"""The command line under damaged and hostile input: exit code 2 and one ``error:`` line, never a traceback.

Most cases call :func:`hfviz.cli.main` in-process (fast) and read stdout/stderr with ``capsys``;
a few run ``python -m hfviz`` in a subprocess to check what a user's terminal really shows.
The damaged files come from the same hypothesis mutators as ``test_fuzz_readers.py`` (real
samples when present, the project's examples, SYNTHETIC files), written to a temporary folder
because the CLI reads paths.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import warnings
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from hfviz.cli import main
from test_fuzz_readers import MUTATORS, _csv_bytes, seeds_for, synthetic_ecg

ROOT = Path(__file__).resolve().parents[1]
#: Damaged files per format run through ``info`` (fixed in CI; tests/fuzz_report.py may raise it).
CLI_EXAMPLES = int(os.environ.get("HFVIZ_CLI_FUZZ_EXAMPLES", "12"))
LEADS12 = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
BILLION_LAUGHS_XML = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">]>
<CardiologyXML><PatientInfo><Age>&lol9;</Age></PatientInfo></CardiologyXML>"""
EXTERNAL_ENTITY_XML = b"""<?xml version="1.0"?>
<!DOCTYPE RestingECG [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<RestingECG><MuseInfo><MuseVersion>&xxe;</MuseVersion></MuseInfo></RestingECG>"""


def assert_clean_outcome(code: int, out: str, err: str, *, private: str | None = None) -> str:
    """Either success with JSON on stdout, or exit 2 with exactly one ``error:`` line on stderr.

    Returns ``"ok"`` or ``"error"``. ``private`` is a folder path that must not appear in the
    message (messages name files, not where they live).
    """
    assert "Traceback" not in err and "Traceback" not in out
    if code == 0:
        json.loads(out)
        assert err == ""
        return "ok"
    assert code == 2, f"exit code {code}; stderr {err!r}"
    lines = err.splitlines()
    assert len(lines) == 1, f"expected one error line, got {lines!r}"
    assert lines[0].startswith("error: ") and len(lines[0]) > len("error: ") + 5
    assert "unexpected" not in lines[0], f"a non-library exception reached the CLI: {lines[0]}"
    assert out == ""
    if private:
        assert private not in err
    assert all(ch.isprintable() for ch in lines[0]), f"control characters in {lines[0]!r}"
    return "error"


def run_main(argv: list[str], capsys) -> tuple[int, str, str]:
    """``main(argv)`` in-process; warnings and WARNING log records count as terminal output.

    Run from a shell, a warning that escapes ``main`` and a log record with no handler configured
    (logging's last resort) both print to stderr, so both are added to the returned stderr.
    """
    capsys.readouterr()
    handler = _Collect()
    logging.getLogger().addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            code = main(argv)
    finally:
        logging.getLogger().removeHandler(handler)
    cap = capsys.readouterr()
    extra = [f"{w.category.__name__}: {w.message}" for w in caught]
    extra += [f"{r.levelname}:{r.name}:{r.getMessage()}" for r in handler.records if r.levelno >= logging.WARNING]
    err = "".join(line + "\n" for line in extra) + cap.err
    return code, cap.out, err


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _write(folder: Path, files) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, data in files:
        p = folder / (name or "unnamed")
        p.write_bytes(data)
        paths.append(p)
    return paths


def _cli_args(kw: dict) -> list[str] | None:
    """read_ecg keywords as CLI options; None when argparse itself would refuse them."""
    args = []
    if "fs" in kw:
        try:
            args += ["--fs", repr(float(kw["fs"]))]
        except (TypeError, ValueError):
            return None
    if "units" in kw:
        if kw["units"] not in ("mV", "uV"):
            return None
        args += ["--units", kw["units"]]
    return args


@pytest.mark.parametrize("fmt", list(MUTATORS))
def test_info_on_damaged_files_prints_json_or_one_error_line(fmt, tmp_path, capsys):
    seeds = seeds_for(fmt)
    if not seeds:
        pytest.skip(f"no {fmt} seed files (real samples absent and none in examples/)")
    by_label = {s.label: s for s in seeds}
    outcomes = {"ok": 0, "error": 0}
    counter = iter(range(10**6))

    @settings(max_examples=CLI_EXAMPLES, derandomize=True, deadline=None, database=None, print_blob=False,
              phases=(Phase.explicit, Phase.generate, Phase.shrink), suppress_health_check=list(HealthCheck))
    @given(st.data())
    def one_case(data):
        seed = by_label[data.draw(st.sampled_from(sorted(by_label)), label="seed")]
        case = MUTATORS[fmt](data, seed)
        extra = _cli_args(case.kw)
        if extra is None or not case.files:
            return
        folder = tmp_path / f"case{next(counter)}"
        paths = _write(folder, case.files)
        code, out, err = run_main(["info", *map(str, paths), *extra], capsys)
        outcomes[assert_clean_outcome(code, out, err, private=str(tmp_path))] += 1

    one_case()
    assert sum(outcomes.values()) >= CLI_EXAMPLES // 2, outcomes


def test_missing_folder_empty_and_oversized_files_give_one_error_line(tmp_path, capsys):
    from hfviz.ecg.io import MAX_FILE_BYTES

    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    big = tmp_path / "big.xml"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: no 50 MB written
    cases = {
        "missing": [str(tmp_path / "nope.xml")],
        "folder": [str(tmp_path)],
        "empty": [str(empty)],
        "oversized": [str(big)],
        "dat without header": [str(_write(tmp_path / "d", [("rec.dat", b"\x00\x01" * 6000)])[0])],
        "two headers": [str(p) for p in _write(tmp_path / "h", [("a.hea", b"a 1 500 10\na.dat 16 200 0 0 0 0 0 I\n"),
                                                                ("b.hea", b"b 1 500 10\nb.dat 16 200 0 0 0 0 0 I\n")])],
    }
    messages = {}
    for label, paths in cases.items():
        code, out, err = run_main(["info", *paths], capsys)
        assert assert_clean_outcome(code, out, err, private=str(tmp_path)) == "error", label
        messages[label] = err
    assert "not found" in messages["missing"] and "folder" in messages["folder"]
    assert "empty" in messages["empty"] and "limit" in messages["oversized"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root can read a file without permissions")
def test_unreadable_file_gives_one_error_line(tmp_path, capsys):
    p = tmp_path / "secret.csv"
    p.write_bytes(b"I,II\n0,1\n")
    p.chmod(0)
    try:
        code, out, err = run_main(["info", str(p), "--fs", "500"], capsys)
    finally:
        p.chmod(0o600)
    assert assert_clean_outcome(code, out, err) == "error"


def test_control_characters_in_file_names_and_headers_stay_on_one_line(tmp_path, capsys):
    """A file name or CSV header with a newline or terminal escape cannot forge extra output lines."""
    x = synthetic_ecg(seconds=4.0)
    hostile_names = ["two\nlines.csv", "esc\x1b[2J.csv", "bell\x07.csv", "tab\tname.csv"]
    for name in hostile_names:
        p = tmp_path / name
        p.write_bytes(_csv_bytes(x[:2], ("I", "II")))  # too few leads: an error naming the file
        code, out, err = run_main(["info", str(p), "--fs", "500"], capsys)
        assert assert_clean_outcome(code, out, err) == "error"
        assert "\x1b" not in err and "\x07" not in err
    quoted = tmp_path / "quoted.csv"
    quoted.write_bytes(b'"first\nsecond\rthird",other\n1,2\n3,4\n')  # header cell with line breaks
    code, out, err = run_main(["info", str(quoted), "--fs", "500"], capsys)
    assert assert_clean_outcome(code, out, err) == "error"
    assert "first second" in err


@pytest.mark.parametrize("payload", [BILLION_LAUGHS_XML, EXTERNAL_ENTITY_XML], ids=["laughs", "xxe"])
def test_hostile_xml_gives_one_error_line(payload, tmp_path, capsys):
    p = tmp_path / "evil.xml"
    p.write_bytes(payload)
    code, out, err = run_main(["info", str(p)], capsys)
    assert assert_clean_outcome(code, out, err) == "error"
    assert "refused" in err


@pytest.mark.parametrize("fs", ["0", "-5", "nan", "inf", "1e400", "49"])
def test_bad_sampling_rate_option_gives_one_error_line(fs, tmp_path, capsys):
    p = tmp_path / "syn.csv"
    p.write_bytes(_csv_bytes(synthetic_ecg(seconds=4.0), LEADS12))
    code, out, err = run_main(["info", str(p), "--fs", fs], capsys)
    assert assert_clean_outcome(code, out, err) == "error"


@pytest.mark.parametrize("argv", [["info"], ["info", "x.csv", "--fs", "abc"], ["info", "x.csv", "--units", "V"],
                                  ["nonsense"], []])
def test_usage_errors_exit_2_without_a_traceback(argv, capsys):
    code, out, err = run_main(argv, capsys)
    assert code == 2
    assert "Traceback" not in err and out == ""
    assert err.strip().splitlines()[-1].split(": ", 2)[1] == "error"  # "prog: error: …" from argparse


def test_ecg_given_through_a_pipe_is_read_whole(tmp_path, capsys):
    """A pipe reports size 0; the reader must not stop after the first byte."""
    if not hasattr(os, "mkfifo"):
        pytest.skip("no named pipes on this platform")
    data = _csv_bytes(synthetic_ecg(seconds=4.0), LEADS12, time_col=500.0)
    fifo = tmp_path / "ecg.csv"
    os.mkfifo(fifo)
    writer = threading.Thread(target=lambda: fifo.write_bytes(data), daemon=True)
    writer.start()
    code, out, err = run_main(["info", str(fifo)], capsys)
    writer.join(timeout=10)
    assert assert_clean_outcome(code, out, err) == "ok"
    assert json.loads(out)["n_samples"] == 2000


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "hfviz", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=180)


def test_real_terminal_shows_one_error_line_for_a_damaged_file_and_a_hostile_name(tmp_path):
    """Through a real process: what the user's terminal shows."""
    x = synthetic_ecg(seconds=4.0)
    truncated = tmp_path / "cut.csv"
    truncated.write_bytes(_csv_bytes(x, LEADS12, time_col=500.0)[:300])
    hostile = tmp_path / "a\nb\x1b[31m.xml"
    hostile.write_bytes(EXTERNAL_ENTITY_XML)
    for path in (truncated, hostile, tmp_path / "missing.hea"):
        proc = _run(["info", str(path)], cwd=tmp_path)
        assert assert_clean_outcome(proc.returncode, proc.stdout, proc.stderr, private=str(tmp_path)) == "error"
