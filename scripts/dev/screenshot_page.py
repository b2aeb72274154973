"""Screenshots of one dashboard page, a real CardioSoft file loaded, at 1600, 1280 and 390 px (for looking at).

    PYTHONPATH=. python scripts/dev/screenshot_page.py OUTDIR [Interpretability|Cohort] [FILE]
"""

import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from hfviz.bench_browser import launch_chromium, open_page, streamlit_app, text_js, wait_drawn

#: Text that is on each page once it has drawn.
MARKERS = {"Interpretability": "What the model reads", "Cohort": "independent validation cohort"}

out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
name = sys.argv[2] if len(sys.argv) > 2 else "Interpretability"
upload = sys.argv[3] if len(sys.argv) > 3 else str(Path("../shared/ecg-samples/cardiosoft/example-XML1.xml").resolve())
with streamlit_app() as url, sync_playwright() as p:
    browser = launch_chromium(p)
    page = browser.new_context(viewport={"width": 1600, "height": 1000}).new_page()
    page.goto(url, timeout=120_000)
    wait_drawn(page, marker_js=text_js("How to start"))
    open_page(page, "Patient")
    page.locator("input[type=file]").first.wait_for(state="attached", timeout=120_000)
    page.locator("input[type=file]").first.set_input_files([upload])
    wait_drawn(page, marker_js=text_js("HF-free"), min_charts=1)
    t0 = time.perf_counter()
    open_page(page, name)
    wait_drawn(page, marker_js=text_js(MARKERS[name]), min_charts=1)
    print(f"{name} drawn in {time.perf_counter() - t0:.2f} s", flush=True)
    for width, height in ((1600, 1000), (1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        time.sleep(1.5)
        wait_drawn(page, min_charts=1)
        page.screenshot(path=str(out / f"{name.lower()}_{width}.png"), full_page=True)
    browser.close()
