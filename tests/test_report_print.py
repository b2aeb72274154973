"""The reports printed by a real browser: Chromium's "Save as PDF" (``page.pdf``) on A4 and Letter landscape.

Each report is loaded into Debian's Chromium (``/usr/bin/chromium``; the tests skip with that
reason when it is absent) with every request refused and recorded — a self-contained report
makes none. Before printing, every plotly figure must be drawn at a non-zero size; the PDF must
have two to three pages, and every section heading and every figure must be on the page the
layout puts it on, whole: a figure's top text (its title or first label) and its bottom text
(axis title or note) on the same page. The PDF is read with pypdfium2 (skip when missing);
its pages are rendered to PNG under the test's temporary folder (``HFVIZ_REPORT_SHOTS=DIR``
writes them to DIR as well, to look at them).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from test_report import EXAMPLES, build_compare_report, build_patient_report
from test_report import model, model_dir, reader  # noqa: F401 - the same module-scoped stand-in model and reader

from hfviz.bench_browser import CHROMIUM, launch_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

#: Paper sizes "Save as PDF" offers that the print layout must fit, landscape.
FORMATS = ("A4", "Letter")
#: Per report: the texts each printed page must carry (page 1, 2, 3). Every figure is named by a text at its
#: top and one at its bottom, so a figure cut across two pages fails.
PATIENT_PAGES = (
    ("Risk in words", "What was read from the file", "Model and data", "Risk group",
     "Predicted heart-failure-free survival", "months since ECG"),  # the survival figure, top and bottom
    ("12-lead ECG", "aVR", "25 mm/s · 10 mm/mV", "Cleaned strip on ECG paper"),  # the paper, top and bottom
    ("Which leads moved the risk", "The 4 leads with the largest share", "ms in the median beat", "Measurements",
     "Where in the beat", "What the model reads", "not an interpretation"),  # the reading's table and caption
)
COMPARE_PAGES = (
    ("Change in predicted risk", "Hazard ratio B / A", "Measurements", "Model and data"),
    ("The two ECGs", "ECG A: last year.hea", "ECG B: today.hea", "25 mm/s · 10 mm/mV", "ECG A: what was read",
     "ECG B: what was read"),
    ("Which leads and which part of the beat moved the risk", "P wave and PR", "V6", "The largest changes"),
)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (apt-get install chromium); "
                    "the print tests need it and never download a browser")
    pytest.importorskip("pypdfium2", reason="pypdfium2 (requirements-dev.txt) reads the printed PDF")
    pytest.importorskip("playwright", reason="playwright (requirements-dev.txt) drives Chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = launch_chromium(p)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def reports(model, reader):  # noqa: F811 - the patient report as the page builds it: with what the model reads
    return {"patient": build_patient_report(model, EXAMPLES / "synthetic_lbbb.hea", reader=reader),
            "compare": build_compare_report(model, EXAMPLES / "synthetic_normal.hea", EXAMPLES / "synthetic_lbbb.hea")}


def print_pdf(browser, html: str, paper: str) -> tuple[bytes, list[tuple[float, float]], list[str]]:
    """Load ``html`` with every request refused, wait for the plots, print it; (PDF, plot sizes in px, requests)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    requests: list[str] = []

    def refuse(route):
        requests.append(route.request.url)
        route.abort()

    page.route("**/*", refuse)
    page.set_content(html, wait_until="load", timeout=120_000)
    page.wait_for_function("() => window.Plotly && [...document.querySelectorAll('.plotly-graph-div')]"
                           ".every(d => d.querySelector('.main-svg'))", timeout=120_000)
    sizes = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')]"
                          ".map(d => [d.getBoundingClientRect().width, d.getBoundingClientRect().height])")
    page.emulate_media(media="print")
    overflow = page.evaluate("() => { const body = document.body.getBoundingClientRect().right;"
                             " return [...document.querySelectorAll('table, .js-plotly-plot')]"
                             ".filter(e => e.getBoundingClientRect().right > body + 1).map(e => e.textContent.slice(0, 60)); }")
    assert overflow == [], f"wider than the printed page (cut at its edge): {overflow}"
    pdf = page.pdf(format=paper, landscape=True, print_background=True)
    ctx.close()
    return pdf, sizes, requests


def pdf_pages(pdf: bytes, shots: Path, name: str) -> list[str]:
    """The text of every page of ``pdf`` (whitespace collapsed); each page rendered to ``shots/name_pN.png``."""
    import pypdfium2 as pdfium

    doc = pdfium.PdfDocument(pdf)
    texts = []
    for i in range(len(doc)):
        page = doc[i]
        textpage = page.get_textpage()
        texts.append(" ".join(textpage.get_text_range().split()))
        image = page.render(scale=1.0).to_pil()
        assert image.convert("L").getextrema()[0] < 100, f"page {i + 1} of {name} is blank"
        image.save(shots / f"{name}_p{i + 1}.png")
    return texts


def check_printed(browser, html: str, paper: str, pages: tuple, shots: Path, name: str, n_plots: int = 3) -> None:
    """Print ``html`` on ``paper``; the page count, the plots drawn and each page's texts are as the layout says."""
    pdf, sizes, requests = print_pdf(browser, html, paper)
    assert requests == []  # self-contained: nothing fetched, from any host
    assert len(sizes) == n_plots and all(w > 100 and h > 100 for w, h in sizes), sizes
    texts = pdf_pages(pdf, shots, name)
    assert 2 <= len(texts) <= 3 and len(texts) == len(pages), [t[:80] for t in texts]
    for number, (text, wanted) in enumerate(zip(texts, pages), start=1):
        missing = [w for w in wanted if w not in text]
        assert not missing, f"{name}, page {number}: {missing} not on it"
    assert "SYNTHETIC" in texts[0] and "Not a medical device" in texts[-1]


def shots_dir(tmp_path: Path) -> Path:
    shots = Path(os.environ.get("HFVIZ_REPORT_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    return shots


@pytest.mark.parametrize("paper", FORMATS)
@pytest.mark.parametrize("kind, pages", [("patient", PATIENT_PAGES), ("compare", COMPARE_PAGES)])
def test_report_prints_on_three_landscape_pages_with_every_figure_whole(browser, reports, tmp_path, kind, pages,
                                                                        paper):
    check_printed(browser, reports[kind], paper, pages, shots_dir(tmp_path), f"{kind}_{paper}")


@pytest.mark.parametrize("paper", FORMATS)
def test_report_of_a_real_file_with_device_values_and_metadata_prints_on_three_pages(browser, model, reader,  # noqa: F811
                                                                                     samples, tmp_path, paper):
    html = build_patient_report(model, samples / "cardiosoft" / "example-XML1.xml",  # UK Biobank's format
                                reader=reader)
    pages = (PATIENT_PAGES[0] + ("Interpretation in the file", "Age"), PATIENT_PAGES[1],
             PATIENT_PAGES[2] + ("Device", "Difference", "Notes on the measurements"))
    check_printed(browser, html, paper, pages, shots_dir(tmp_path), f"cardiosoft_{paper}")
