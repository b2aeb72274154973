"""The load benchmark's own instruments: distinct input files, the isolation check, /proc readings.

The benchmark (``python -m hfviz bench --only load``) and the four-user browser test rely on
these to say "isolated": the checker must flag another session's file name, a missing own
name and a wrong risk.
"""

from __future__ import annotations

import os

from hfviz import bench_load


def test_each_session_gets_a_distinct_file_in_the_formats_in_turn(tmp_path):
    files = bench_load.write_session_files(tmp_path, 4)
    assert [g[0].suffix for g in files] == [".xml", ".hea", ".csv", ".xml"]
    assert [p.suffix for p in files[1]] == [".hea", ".dat"]
    contents = [b"".join(p.read_bytes() for p in g) for g in files]
    assert len(set(contents)) == 4
    assert all(b"SYNTHETIC" in c for c in contents[:2])  # CardioSoft and WFDB files say so


def _seen(sidebar: str, body: str, risk: str | None) -> dict:
    return {"sidebar": sidebar, "body": body, "log_risk": risk}


def test_the_isolation_check_flags_leaks_missing_names_and_wrong_risks():
    own, other = "a.xml", "b.csv"
    clean = {"seen": [_seen(f"Current ECG: {own}", f"{own} log-risk +0.100", "+0.100")]}
    assert bench_load._isolated(clean, own, "+0.100", [other]) == []
    leak = {"seen": [_seen(f"Current ECG: {own}", f"{own} and {other}", "+0.100")]}
    assert any("other sessions' files" in p for p in bench_load._isolated(leak, own, "+0.100", [other]))
    missing = {"seen": [_seen("Current ECG: something else", "", "+0.100")]}
    assert any("not in the sidebar" in p for p in bench_load._isolated(missing, own, "+0.100", [other]))
    wrong = {"seen": [_seen(f"Current ECG: {own}", own, "+0.200")]}
    problems = bench_load._isolated(wrong, own, "+0.100", [other])
    assert any("!= +0.100" in p for p in problems) and "its own log-risk was never shown" in problems


def test_the_memory_and_cpu_readings_of_a_process_are_plausible():
    pid = os.getpid()
    assert 10 < bench_load.rss_mb(pid) < 100_000
    assert bench_load.cpu_s(pid) > 0


def test_the_machine_cpu_reading_counts_this_process_busy_time():
    pid = os.getpid()
    machine0, own0 = bench_load.machine_cpu_s(), bench_load.cpu_s(pid)
    x = 0
    for i in range(3_000_000):  # ~0.2 s of busy Python
        x += i * i
    own = bench_load.cpu_s(pid) - own0
    assert own > 0.05
    assert bench_load.machine_cpu_s() - machine0 >= 0.8 * own  # the machine was busy at least while we were
