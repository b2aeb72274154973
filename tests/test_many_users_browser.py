"""Four real users at once on one ``streamlit run`` server, each with their own ECG.

Four headless Chromium contexts (Debian's ``/usr/bin/chromium`` through playwright; skipped
without it, nothing is downloaded) start together: each uploads a different SYNTHETIC ECG
(CardioSoft XML, WFDB, CSV, CardioSoft XML) on the Patient page, opens Interpretability and
returns. Every session must finish, show only its own file's name, and show the log-risk the
library's :func:`hfviz.risk.assess.assess_ecg` gives its own file with the shipped model. The
server checks the shared model for hooks after every attribution and logs an error if one is
left; its log must have no such line (and no traceback).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from hfviz import bench_load
from hfviz.bench_browser import CHROMIUM, ROOT, streamlit_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]
N_USERS = 4


def test_four_concurrent_sessions_each_see_only_their_own_file_and_risk(tmp_path: Path):
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium); "
                    "the real-browser tests need it and never download a browser")
    pytest.importorskip("playwright")
    if not (ROOT / "models" / "mi.card.json").is_file():
        pytest.skip("the shipped MI model is not in models/")
    files = bench_load.write_session_files(tmp_path / "ecgs", N_USERS)
    labels = [" + ".join(p.name for p in group) for group in files]
    expected = bench_load.expected_log_risks(files, None)
    assert len(set(expected)) == N_USERS, f"log-risks too alike to tell the sessions apart: {expected}"
    log = tmp_path / "streamlit.log"
    with streamlit_app(env={"HFVIZ_TORCH_THREADS": "1"}, log_path=log) as url:
        result = asyncio.run(bench_load._round(url, files, labels, expected, timeout_s=240.0, rss=None))
    assert result["failed"] == [], result["failed"]
    assert result["finished"] == N_USERS
    assert result["isolation_problems"] == {}, result["isolation_problems"]
    assert result["isolation_ok"]
    text = log.read_text(errors="replace")
    assert "hooks left on the shared model" not in text
    assert "Traceback" not in text, text[-2000:]
