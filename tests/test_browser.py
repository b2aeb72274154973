"""One real-browser test: ``streamlit run app.py`` driven by Debian's Chromium via playwright.

Nothing is downloaded: the browser is ``/usr/bin/chromium`` (``apt-get install chromium``; the
test skips with that reason when it is absent) and the models are the stand-ins written by
``dashboard_fixtures``. The test uploads a WFDB pair through the real file input (the true
browser upload, multi-file), waits for the risk and the ECG plot, follows the real
``st.navigation`` to the Interpretability page with the ECG still loaded, and saves
screenshots in its temporary folder.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from dashboard_fixtures import build_model_dir, wfdb_pair

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--headless"]

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError("streamlit did not become healthy")


@pytest.fixture()
def server(tmp_path):
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium); "
                    "the real-browser test needs it and never downloads a browser")
    models = build_model_dir(tmp_path / "models", cohorts=("mi",), n=120)
    port = _free_port()
    env = dict(os.environ, HFVIZ_MODELS_DIR=str(models))
    log = open(tmp_path / "streamlit.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def test_upload_in_a_real_browser_shows_risk_and_the_ecg_plot(server, tmp_path):
    from playwright.sync_api import sync_playwright

    files = []
    for name, data in wfdb_pair(3, record="browser01"):
        (tmp_path / name).write_bytes(data)  # the test's own synthetic files, for the file chooser
        files.append(str(tmp_path / name))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.goto(server, timeout=60_000)
            page.get_by_text("How to start").wait_for(timeout=60_000)
            page.get_by_role("link", name="Patient").click()
            page.locator("input[type=file]").first.wait_for(state="attached", timeout=60_000)
            page.locator("input[type=file]").first.set_input_files(files)
            page.get_by_text("Predicted risk higher than").wait_for(timeout=90_000)
            page.get_by_text("log-risk", exact=True).wait_for(timeout=10_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            assert page.locator(".js-plotly-plot").count() >= 3  # ECG, median beats, survival
            assert page.get_by_text("browser01.hea — 12-lead ECG (cleaned)").count() >= 1
            assert page.locator("text=Traceback").count() == 0
            page.screenshot(path=str(tmp_path / "patient.png"), full_page=True)

            page.get_by_role("link", name="Interpretability").click()
            page.get_by_text("IG completeness gap").wait_for(timeout=120_000)
            page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
            page.wait_for_timeout(1500)
            assert page.get_by_text("Current ECG:").count() >= 1  # the sidebar still names the loaded ECG
            page.screenshot(path=str(tmp_path / "interpretability.png"), full_page=True)
        finally:
            browser.close()
    assert (tmp_path / "patient.png").stat().st_size > 10_000
    assert (tmp_path / "interpretability.png").stat().st_size > 10_000
