"""The dashboard as a person meets it: ``streamlit run app.py`` timed in a real Chromium.

``python -m hfviz bench --only browser`` starts the app on a free localhost port, drives
Debian's ``/usr/bin/chromium`` with playwright (nothing is downloaded; no ``playwright
install``) and reports medians over fresh browser sessions of what a user waits for:

* ``upload_to_risk_s`` — file chosen in the uploader -> the risk metrics are on screen;
* ``patient_figures_s`` — file chosen -> every Patient figure drawn and the run finished;
* ``report_download_s`` — click on "Download HTML report" -> the file has arrived;
* ``interpretability_first_s`` — click on the Interpretability link -> attribution overlay drawn;
* ``method_<name>_s`` — choose Saliency, Occlusion, then Integrated Gradients again -> drawn;
* ``ig64_recompute_s`` — change the baseline while IG (64 steps) is shown: a fresh IG run;
* ``page_switch_s`` — Cohort, Model card, Home and back to Patient with the ECG loaded.

"Drawn" means: the step's own marker is on the page (a metric, a plot title, a page title),
the script run has finished (``data-test-script-state="notRunning"`` on Streamlit's app root),
no element is stale, and every plotly chart on the page has its SVG. The shared helpers
(:func:`free_port`, :func:`streamlit_app`,
:func:`launch_chromium`, :func:`wait_drawn`) are used by ``tests/test_browser.py`` too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
#: Headless Chromium without sandbox, GPU, background traffic or first-run pages.
CHROMIUM_ARGS = ("--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--headless")
SAMPLES = ROOT.parent / "shared" / "ecg-samples"

#: JavaScript: ``null`` while Streamlit is busy or a chart is undrawn, else the number of drawn charts.
_IDLE_JS = """() => {
  const app = document.querySelector('[data-testid="stApp"]');
  const state = app ? app.getAttribute('data-test-script-state') : null;
  if (state !== 'notRunning') return null;
  if (document.querySelector('[data-stale="true"]')) return null;
  if (document.querySelector('[data-testid="stSpinner"]')) return null;
  const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
  for (const c of charts) { if (!c.querySelector('.main-svg')) return null; }
  return charts.length;
}"""


#: url -> pid of the ``streamlit run`` process :func:`streamlit_app` started (for :func:`server_cpu_s`).
_SERVER_PIDS: dict[str, int] = {}


def server_cpu_s(url: str) -> float:
    """CPU seconds (user + system, all threads) the app server at ``url`` has used so far; NaN if unknown.

    Differences over a step are what the step cost the server, whatever else loads the machine
    (the wall-clock times are only comparable on a quiet machine).
    """
    try:
        fields = Path(f"/proc/{_SERVER_PIDS[url]}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (KeyError, OSError, IndexError, ValueError):
        return float("nan")


class _BrowserCpu:
    """CPU seconds of the page's main thread (Chrome DevTools ``Performance.getMetrics`` ``ThreadTime``)."""

    def __init__(self, page: Any):
        self.cdp = page.context.new_cdp_session(page)
        self.cdp.send("Performance.enable")

    def __call__(self) -> float:
        metrics = self.cdp.send("Performance.getMetrics")["metrics"]
        return next((m["value"] for m in metrics if m["name"] == "ThreadTime"), float("nan"))


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError("streamlit did not become healthy")


@contextlib.contextmanager
def streamlit_app(*, env: Mapping[str, str] | None = None, log_path: Path | None = None,
                  root: Path = ROOT) -> Iterator[str]:
    """``streamlit run app.py`` on a free 127.0.0.1 port for the duration of the block.

    Parameters
    ----------
    env : mapping, optional
        Extra environment variables (e.g. ``HFVIZ_MODELS_DIR``).
    log_path : Path, optional
        Where the server's output goes (default: discarded).
    root : Path
        Folder holding ``app.py``.

    Yields
    ------
    str
        The app's URL, e.g. ``"http://127.0.0.1:8765"``.
    """
    port = free_port()
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=root, env=dict(os.environ, **(env or {})), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    _SERVER_PIDS[url] = proc.pid
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        _SERVER_PIDS.pop(url, None)
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if log_path:
            log.close()


def launch_chromium(playwright: Any) -> Any:
    """Debian's Chromium (``/usr/bin/chromium``), headless, through a playwright instance."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))


def wait_drawn(page: Any, *, marker_js: str = "() => true", min_charts: int = 0, timeout_s: float = 120.0,
               settle_s: float = 0.3) -> float:
    """Wait until the page is drawn after an action; returns the time (``perf_counter``) it first was.

    Parameters
    ----------
    page : playwright Page
    marker_js : str
        JavaScript function returning true once the action's own result is on the page (so an
        idle page from *before* the action does not count).
    min_charts : int
        At least this many plotly charts must be drawn.
    timeout_s : float
        Give up after this long (``TimeoutError``).
    settle_s : float
        The drawn state must last this long (not counted in the returned time) — Streamlit can
        pause between reruns.
    """
    deadline = time.perf_counter() + timeout_s
    first = None
    while time.perf_counter() < deadline:
        now = time.perf_counter()
        ok = False
        with contextlib.suppress(Exception):  # the page may be navigating
            n = page.evaluate(_IDLE_JS)
            ok = n is not None and n >= min_charts and bool(page.evaluate(marker_js))
        if ok:
            first = first if first is not None else now
            if now - first >= settle_s:
                return first
        else:
            first = None
        time.sleep(0.03)
    raise TimeoutError(f"page not drawn within {timeout_s:.0f} s (marker {marker_js!r})")


def text_js(text: str) -> str:
    """JavaScript marker: ``text`` appears in the page's visible text."""
    return f"() => document.body.innerText.includes({text!r})"


def plot_title_js(text: str) -> str:
    """JavaScript marker: a plotly chart title contains ``text`` (it was redrawn for this choice)."""
    return ("() => Array.from(document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .gtitle'))"
            f".some(e => e.textContent.includes({text!r}))")


def choose(page: Any, widget_label: str, option: str) -> None:
    """Pick ``option`` in the radio, segmented control or selectbox labelled ``widget_label``."""
    box = page.locator('[data-testid="stRadio"], [data-testid="stButtonGroup"], [data-testid="stSelectbox"]',
                       has=page.get_by_text(widget_label, exact=True)).first
    testid = box.get_attribute("data-testid")
    if testid == "stSelectbox":
        box.click()
        page.get_by_role("option", name=option, exact=True).click()
    elif testid == "stRadio":
        box.get_by_text(option, exact=True).click()
    else:
        box.get_by_role("button", name=option, exact=True).click()


def open_page(page: Any, name: str) -> None:
    """Follow the sidebar navigation link ``name``."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name, exact=True).click()


# --- one session -----------------------------------------------------------------------------


class _Bytes:
    """Bytes the browser received over Streamlit's websocket (the figures travel there)."""

    def __init__(self, page: Any):
        self.n = 0
        page.on("websocket", lambda ws: ws.on("framereceived", self._frame))

    def _frame(self, payload: Any) -> None:
        self.n += len(payload)

    def take(self) -> int:
        n, self.n = self.n, 0
        return n


def _session(browser: Any, url: str, files: list[str], viewport: tuple[int, int]) -> tuple[dict, dict, dict]:
    """One fresh browser session over the whole tour.

    Returns (seconds per step, websocket bytes per step, CPU seconds per Interpretability step
    as ``{"<step>": {"browser": s, "server": s}}``).
    """
    from hfviz.risk.explain import BASELINES, METHODS

    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, accept_downloads=True)
    page = ctx.new_page()
    got = _Bytes(page)
    cpu = _BrowserCpu(page)
    t: dict[str, float] = {}
    b: dict[str, int] = {}
    c: dict[str, dict] = {}
    try:
        page.goto(url, timeout=120_000)
        wait_drawn(page, marker_js=text_js("How to start"))
        open_page(page, "Patient")
        page.locator("input[type=file]").first.wait_for(state="attached", timeout=120_000)
        wait_drawn(page)
        got.take()

        t0 = time.perf_counter()
        page.locator("input[type=file]").first.set_input_files(files)
        t["upload_to_risk_s"] = wait_drawn(page, marker_js=text_js("log-risk"), settle_s=0.0) - t0
        t["patient_figures_s"] = wait_drawn(page, marker_js=text_js("log-risk"), min_charts=3) - t0
        b["patient"] = got.take()

        t0 = time.perf_counter()
        try:
            with page.expect_download(timeout=60_000) as dl:
                page.get_by_role("button", name="Download HTML report").first.click()
            dl.value.path()
            t["report_download_s"] = time.perf_counter() - t0
        except Exception:  # noqa: BLE001 - a missed download is reported, not fatal to the other steps
            t["report_download_s"] = float("nan")
        wait_drawn(page)
        got.take()

        t0 = time.perf_counter()
        open_page(page, "Interpretability")
        ig = METHODS["integrated_gradients"]
        t["interpretability_first_s"] = wait_drawn(page, marker_js=plot_title_js(ig), min_charts=1) - t0
        b["interpretability_first"] = got.take()
        for key in ("saliency", "occlusion", "integrated_gradients"):
            c0, s0, t0 = cpu(), server_cpu_s(url), time.perf_counter()
            choose(page, "Attribution method", METHODS[key])
            t[f"method_{key}_s"] = wait_drawn(page, marker_js=plot_title_js(METHODS[key]), min_charts=1) - t0
            c[f"method_{key}"] = {"browser": cpu() - c0, "server": server_cpu_s(url) - s0}
            b[f"method_{key}"] = got.take()
        t0 = time.perf_counter()
        choose(page, "Baseline (reference ECG)", BASELINES["lead_mean"])
        t["ig64_recompute_s"] = wait_drawn(page, marker_js=plot_title_js(ig), min_charts=1) - t0
        b["ig64_recompute"] = got.take()

        switches = []
        for name, marker in (("Cohort", "Kaplan"), ("Model card", "Weights and integrity"),
                             ("Home", "How to start"), ("Patient", "log-risk")):
            t0 = time.perf_counter()
            open_page(page, name)
            switches.append(wait_drawn(page, marker_js=text_js(marker)) - t0)
            b[f"page_{name}"] = got.take()
        t["page_switch_s"] = statistics.median(switches)
        t["page_switch_max_s"] = max(switches)
    finally:
        ctx.close()
    return t, b, c


def _default_upload() -> tuple[list[str], str]:
    """The real CardioSoft sample when present, else a SYNTHETIC CSV written to a temporary file."""
    sample = SAMPLES / "cardiosoft" / "example-XML1.xml"
    if sample.is_file():
        return [str(sample)], "CardioSoft XML sample (real, 10 s, 500 Hz, 12 leads)"
    from hfviz.bench import _app_upload

    [(name, data)], _ = _app_upload(ROOT)
    path = Path(tempfile.mkdtemp(prefix="hfviz-bench-")) / name
    path.write_bytes(data)
    return [str(path)], "SYNTHETIC simulated ECG as CSV (10 s, 500 Hz)"


def bench_browser(*, repeats: int = 5, viewport: tuple[int, int] = (1600, 1000)) -> dict:
    """Median seconds per user step over ``repeats`` fresh browser sessions (see the module docstring).

    Parameters
    ----------
    repeats : int
        Browser sessions (each a full tour with a new upload); 5 for the README, fewer for a
        quick check.
    viewport : (int, int)
        Browser window in CSS pixels.

    Returns
    -------
    dict
        ``steps_s``: per step ``{"median_s", "min_s", "max_s", "repeats"}``; ``ws_kb``: median
        kB received over the websocket per step; ``cpu_s``: median CPU seconds of each method
        switch in the browser's main thread and the app server; ``targets_s``; the conditions
        (models, input, cores, load).
    """
    from playwright.sync_api import sync_playwright

    files, described = _default_upload()
    runs: list[dict] = []
    sizes: list[dict] = []
    cpus: list[dict] = []
    failed: list[str] = []
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        from hfviz.bench import _bench_models_dir

        mdir, models_described = _bench_models_dir(tmp)
        env = {"HFVIZ_MODELS_DIR": mdir} if mdir else {}
        with streamlit_app(env=env, log_path=Path(tmp) / "streamlit.log") as url, sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                for i in range(repeats):
                    print(f"bench browser: session {i + 1}/{repeats}", file=sys.stderr)
                    try:
                        t, b, c = _session(browser, url, files, viewport)
                    except Exception as exc:  # noqa: BLE001 - a failed session is counted, the others still count
                        failed.append(f"session {i + 1}: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
                        continue
                    runs.append(t)
                    sizes.append(b)
                    cpus.append(c)
            finally:
                browser.close()
    if not runs:
        return {"failed_sessions": failed}
    steps = {}
    for k in runs[0]:
        vals = [r[k] for r in runs if r[k] == r[k]]  # NaN: the step failed in that session
        steps[k] = ({"median_s": round(statistics.median(vals), 3), "min_s": round(min(vals), 3),
                     "max_s": round(max(vals), 3), "repeats": len(vals)} if vals else {"repeats": 0})
    return {
        "conditions": (f"Debian Chromium headless via playwright, viewport {viewport[0]}x{viewport[1]}, app and "
                       f"browser on the same machine, {os.cpu_count()} cores, load average {load0:.1f} at start"),
        "input": described,
        "models": models_described,
        "steps_s": steps,
        "ws_kb": {k: round(statistics.median(s[k] for s in sizes) / 1024, 1) for k in sizes[0]},
        # what each method switch cost in CPU (browser main thread; app server, all threads): unlike
        # the wall-clock times these hardly change with the machine's load
        "cpu_s": {k: {side: round(statistics.median(c[k][side] for c in cpus), 3) for side in ("browser", "server")}
                  for k in cpus[0]},
        "failed_sessions": failed,
        "targets_s": {"upload_to_risk_s": 1.5, "patient_figures_s": 3.0, "interpretability_first_s": 2.0,
                      "method_saliency_s": 1.0, "method_occlusion_s": 1.0, "ig64_recompute_s": 2.5,
                      "page_switch_s": 1.0, "report_download_s": 2.0},
    }
