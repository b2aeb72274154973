"""Real-browser tests: ``streamlit run app.py`` driven by Debian's Chromium via playwright.

Nothing is downloaded: the browser is ``/usr/bin/chromium`` (``apt-get install chromium``; the
tests skip with that reason when it is absent) and the models are the stand-ins written by
``dashboard_fixtures``. One server and one browser serve the whole module (a few minutes in
all); each test opens its own browser context (its own Streamlit session). Uploads go through
the real file input, pages are followed through the real ``st.navigation`` links, and every
request the page makes is checked to stay on the app's own host.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

import pytest

from dashboard_fixtures import build_model_dir, wfdb_pair
from hfviz.bench_browser import CHROMIUM, choose, launch_chromium, open_page, plot_title_js, streamlit_app, \
    text_js, wait_drawn
from hfviz.risk.explain import METHODS

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium); "
                    "the real-browser tests need it and never download a browser")
    tmp = tmp_path_factory.mktemp("browser")
    models = build_model_dir(tmp / "models", cohorts=("mi",), n=120)
    with streamlit_app(env={"HFVIZ_MODELS_DIR": str(models)}, log_path=tmp / "streamlit.log") as url:
        yield url


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture()
def page(browser, server):
    """A fresh session on the Patient page, with every request to another host recorded and refused."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    own = urlparse(server).netloc
    pg.external = []

    def route(r):
        if urlparse(r.request.url).scheme in ("http", "https", "ws", "wss") and urlparse(r.request.url).netloc != own:
            pg.external.append(r.request.url)
            r.abort()
        else:
            r.continue_()

    pg.route("**/*", route)
    pg.goto(server, timeout=60_000)
    wait_drawn(pg, marker_js=text_js("How to start"), timeout_s=90)
    open_page(pg, "Patient")
    pg.locator("input[type=file]").first.wait_for(state="attached", timeout=60_000)
    yield pg
    ctx.close()


def _files(tmp_path: Path, pairs) -> list[str]:
    out = []
    for name, data in pairs:
        (tmp_path / name).write_bytes(data)  # the test's own synthetic files, for the file chooser
        out.append(str(tmp_path / name))
    return out


def _upload(page, paths: list[str], marker: str) -> None:
    page.locator("input[type=file]").first.set_input_files(paths)
    wait_drawn(page, marker_js=text_js(marker), timeout_s=120)


def _errors(page) -> list[str]:
    return [t for t in page.locator('[data-testid="stAlert"]').all_inner_texts() if t.strip()]


def _main_text(page) -> str:
    return page.locator('[data-testid="stMain"]').inner_text() + page.locator('[data-testid="stSidebar"]').inner_text()


def test_upload_a_then_b_shows_only_b_without_error(page, tmp_path):
    _upload(page, _files(tmp_path, wfdb_pair(1, record="recorda")), "recorda.hea")
    assert "log-risk" in _main_text(page)
    _upload(page, _files(tmp_path, wfdb_pair(2, record="recordb")), "recordb.hea")
    wait_drawn(page, marker_js=text_js("log-risk"), min_charts=3)
    heading = page.locator('[data-testid="stMain"] h3').first.inner_text()
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text()
    titles = " ".join(page.locator('[data-testid="stPlotlyChart"] .gtitle').all_text_contents())
    for shown in (heading, sidebar, titles):  # the heading, the sidebar and the ECG's title name B only
        assert "recordb.hea" in shown and "recorda" not in shown, shown
    assert not [e for e in _errors(page) if "recordb" in e or "recorda" in e]
    assert page.locator("text=Traceback").count() == 0
    uploader = page.locator('[data-testid="stFileUploader"]').first.inner_text()
    assert "recorda" not in uploader and "recordb" not in uploader, uploader  # no list of earlier files


@pytest.mark.parametrize("width", [1600, 390])
def test_measurements_table_fits_its_column(page, tmp_path, width):
    page.set_viewport_size({"width": width, "height": 1000})
    _upload(page, _files(tmp_path, wfdb_pair(5, record=f"meas{width}")), f"meas{width}.hea")
    wait_drawn(page, marker_js=text_js("log-risk"), min_charts=3)
    table = page.locator('[data-testid="stTable"]', has=page.get_by_text("measurement", exact=True)).first
    fits = table.evaluate("""t => { const box = t.parentElement.getBoundingClientRect();
        const cells = Array.from(t.querySelectorAll('th, td'));
        return cells.length > 0 && cells.every(c => { const b = c.getBoundingClientRect();
            return b.left >= box.left - 1 && b.right <= box.right + 1 && c.scrollWidth <= c.clientWidth + 1; }); }""")
    assert fits  # every column is inside the page's column and no cell is cut off


def test_at_phone_width_no_plotly_tool_bar_lies_over_a_figure_title(page, tmp_path):
    page.set_viewport_size({"width": 390, "height": 844})
    _upload(page, _files(tmp_path, wfdb_pair(6, record="phone01")), "phone01.hea")
    wait_drawn(page, marker_js=text_js("log-risk"), min_charts=3)
    charts = page.locator('[data-testid="stPlotlyChart"]')
    for k in range(charts.count()):
        charts.nth(k).hover()
        shown = charts.nth(k).evaluate("""c => Array.from(c.querySelectorAll('.modebar-container'))
            .some(m => getComputedStyle(m).display !== 'none' && m.getBoundingClientRect().width > 0)""")
        assert not shown, f"chart {k}"


def test_two_unrelated_files_give_one_sentence_and_keep_the_previous_ecg(page, tmp_path):
    _upload(page, _files(tmp_path, wfdb_pair(1, record="recorda")), "recorda.hea")
    paths = _files(tmp_path, wfdb_pair(2, record="recordb") + [("notes.csv", b"I,II\n1,2\n")])
    _upload(page, paths, "does not belong")
    errors = [e for e in _errors(page) if "does not belong" in e]
    assert len(errors) == 1 and errors[0].count(". ") == 0  # one sentence
    text = _main_text(page)
    assert "recorda.hea" in text and "Current ECG" in text and "log-risk" in text  # the previous ECG stays


def test_full_tour_of_every_page_makes_no_request_to_another_host(page, tmp_path):
    _upload(page, _files(tmp_path, wfdb_pair(3, record="tour01")), "tour01.hea")
    wait_drawn(page, marker_js=text_js("log-risk"), min_charts=3)
    open_page(page, "Interpretability")
    wait_drawn(page, marker_js=plot_title_js(METHODS["integrated_gradients"]), min_charts=1)
    for view in ("Attention", "Compare methods"):
        page.get_by_text(view, exact=True).first.click()
        wait_drawn(page, marker_js=text_js("Cross-lead attention" if view == "Attention" else "Compute all four"))
    for name, marker in (("Cohort", "Kaplan"), ("Model card", "Weights and integrity"), ("Home", "How to start")):
        open_page(page, name)
        wait_drawn(page, marker_js=text_js(marker))
    assert page.external == []


def test_interpretability_page_renders_each_attribution_method(page, tmp_path):
    _upload(page, _files(tmp_path, wfdb_pair(4, record="interp01")), "interp01.hea")
    open_page(page, "Interpretability")
    wait_drawn(page, marker_js=plot_title_js(METHODS["integrated_gradients"]), min_charts=1, timeout_s=120)
    assert "IG completeness gap" in _main_text(page)
    for key in ("saliency", "occlusion", "gradient_shap", "integrated_gradients"):
        choose(page, "Attribution method", METHODS[key])
        wait_drawn(page, marker_js=plot_title_js(METHODS[key]), min_charts=1, timeout_s=120)
        assert not _errors(page), _errors(page)
        assert ("Integrated Gradients steps" in _main_text(page)) == (key == "integrated_gradients")
    assert page.locator("text=Traceback").count() == 0


def test_downloaded_patient_report_holds_what_the_model_reads(page, tmp_path):
    _upload(page, _files(tmp_path, wfdb_pair(7, record="report01")), "report01.hea")
    wait_drawn(page, marker_js=text_js("log-risk"), min_charts=3)
    with page.expect_download(timeout=180_000) as download:  # built when clicked, outside the script run
        page.get_by_text("Download HTML report", exact=False).first.click()
    html = Path(download.value.path()).read_text(encoding="utf-8")
    assert "report01.hea" in html and "What the model reads" in html and "not an interpretation" in html
    assert "held-out AUROC" in html and "statement reader" not in html  # the stand-in reader's statements, no problem
    assert page.locator("text=Traceback").count() == 0
