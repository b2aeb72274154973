"""Many users at once: one real ``streamlit run`` server, N concurrent Chromium sessions.

``python -m hfviz bench --only load`` starts the app on a free 127.0.0.1 port (nothing else is
contacted), writes one distinct SYNTHETIC ECG per session from the simulator (cycling GE
CardioSoft XML, WFDB ``.hea`` + ``.dat`` and CSV), and for N = 1, 4, 8, 16 runs N sessions at
the same time in one headless Debian Chromium (``/usr/bin/chromium``, one browser context per
session, driven by playwright's asyncio API). Each session

1. opens the app, goes to Patient and uploads its own file -> ``time_to_risk_s`` (file chosen
   -> the log-risk metric drawn);
2. opens Interpretability -> ``time_to_explanations_s`` (click -> the Integrated-Gradients
   overlay drawn);
3. returns to Patient.

Isolation is checked on every page a session sees: its own file name in the sidebar and
nowhere another session's, and its log-risk equal to the library's
:func:`hfviz.risk.assess.assess_ecg` value (the CLI's ``predict``) for its own file. The
server's resident memory (``VmRSS`` from ``/proc``) is sampled throughout: the peak per round,
and the growth per *idle* session (all N contexts still open after they finished, divided by
N). A 60 MB body is then sent straight to the upload endpoint with a live session's
credentials, and the time to the server's refusal is reported.

Bounded: at most :data:`MAX_SESSIONS` sessions, a time budget per round, only localhost.
The browsers run on the same machine as the server, so the timings are upper bounds.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from hfviz.bench_browser import _IDLE_JS, CHROMIUM, CHROMIUM_ARGS, plot_title_js, streamlit_app, text_js

#: Upper bound on the sessions of one round (and on the files written).
MAX_SESSIONS = 16
#: Formats cycled over the sessions' files.
FORMATS = ("cardiosoft", "wfdb", "csv")
_METRICS_JS = """() => Array.from(document.querySelectorAll('[data-testid="stMetric"]')).map(m => [
  (m.querySelector('[data-testid="stMetricLabel"]') || {}).innerText,
  (m.querySelector('[data-testid="stMetricValue"]') || {}).innerText])"""
_SIDEBAR_JS = "() => (document.querySelector('[data-testid=\"stSidebar\"]') || {}).innerText || ''"


# --- inputs --------------------------------------------------------------------------------
def write_session_files(folder: Path, n: int, *, seed: int = 100) -> list[list[Path]]:
    """One distinct SYNTHETIC ECG per session, in the formats of :data:`FORMATS` in turn.

    Returns
    -------
    list of list of Path
        Per session the files to upload together (a WFDB record is its ``.hea`` and ``.dat``).
    """
    from hfviz.ecg.record import LEADS
    from hfviz.synthetic.files import FILE_CONDITIONS, cardiosoft_xml, write_wfdb
    from hfviz.synthetic.simulate import simulate

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        rec, truth = simulate(FILE_CONDITIONS[i % len(FILE_CONDITIONS)], seed=seed + i)
        sig, fs, fmt, name = rec.signal_mv, rec.fs_hz, FORMATS[i % len(FORMATS)], f"synthetic_user{i:02d}"
        if fmt == "cardiosoft":
            path = folder / f"{name}.xml"
            path.write_bytes(cardiosoft_xml(sig, fs, age=int(truth["age"]), sex=str(truth["sex"])))
            out.append([path])
        elif fmt == "wfdb":
            out.append(write_wfdb(folder, name, sig, fs))
        else:
            path = folder / f"{name}.csv"
            t = np.arange(sig.shape[1]) / fs
            np.savetxt(path, np.column_stack([t, np.asarray(sig).T]), fmt="%.5f", delimiter=",",
                       header=",".join(("time", *LEADS)), comments="")
            out.append([path])
    return out


def expected_log_risks(files: list[list[Path]], models_dir: str | None) -> list[str]:
    """The log-risk each file gets from :func:`hfviz.risk.assess.assess_ecg`, as the app writes it (``+0.123``)."""
    from hfviz.risk.assess import assess_ecg
    from hfviz.risk.model import load_risk_model

    model = load_risk_model("mi", models_dir)
    fs = {".csv": 500.0}
    return [f"{assess_ecg([str(p) for p in group], model, fs=fs.get(group[0].suffix)).risk.log_risk:+.3f}"
            for group in files]


# --- the server's memory ---------------------------------------------------------------------
def server_pid(port: int) -> int | None:
    """Process id of the ``streamlit run`` listening on ``port`` (from ``/proc/*/cmdline``)."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                args = (d / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"streamlit" in b" ".join(args) and str(port).encode() in args:
                return int(d.name)
    return None


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` in MB (``VmRSS``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) ``pid`` has used so far (``/proc/<pid>/stat``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_cpu_s() -> float:
    """CPU seconds (every core, user + nice + system) the whole machine has been busy so far (``/proc/stat``)."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return sum(int(fields[i]) for i in (0, 1, 2, 5, 6)) / os.sysconf("SC_CLK_TCK")


class _RssSampler:
    """Samples a process's RSS every 0.2 s in a thread; ``peak`` since the last :meth:`reset`."""

    def __init__(self, pid: int):
        self.pid, self.peak, self._stop = pid, 0.0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.2):
            self.peak = max(self.peak, rss_mb(self.pid))

    def reset(self) -> float:
        self.peak = rss_mb(self.pid)
        return self.peak

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


# --- one session (asyncio playwright) ----------------------------------------------------------
async def _wait(page: Any, marker_js: str = "() => true", *, min_charts: int = 0, timeout_s: float = 300.0,
                settle_s: float = 0.3) -> float:
    """Async twin of :func:`hfviz.bench_browser.wait_drawn`: ``perf_counter`` when the page was first drawn."""
    deadline = time.perf_counter() + timeout_s
    first = None
    while time.perf_counter() < deadline:
        now, ok = time.perf_counter(), False
        try:
            n = await page.evaluate(_IDLE_JS)
            ok = n is not None and n >= min_charts and bool(await page.evaluate(marker_js))
        except Exception:  # noqa: BLE001 - the page may be navigating
            ok = False
        if ok:
            first = first if first is not None else now
            if now - first >= settle_s:
                return first
        else:
            first = None
        await asyncio.sleep(0.05)
    raise TimeoutError(f"page not drawn within {timeout_s:.0f} s (marker {marker_js!r})")


async def _open(page: Any, name: str) -> None:
    await page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=name, exact=True).click()


async def _seen(page: Any) -> dict:
    """What the session shows now: the sidebar's text, the whole page's text and the log-risk metric."""
    metrics = dict(tuple(m) for m in await page.evaluate(_METRICS_JS))
    return {"sidebar": await page.evaluate(_SIDEBAR_JS), "body": await page.evaluate("() => document.body.innerText"),
            "log_risk": metrics.get("log-risk")}


async def _session(browser: Any, url: str, files: list[Path], *, timeout_s: float) -> dict:
    """One user's tour; returns timings and what was seen (the browser context stays open, idle)."""
    from hfviz.risk.explain import METHODS

    ctx = await browser.new_context(viewport={"width": 1400, "height": 900})
    page = await ctx.new_page()
    res: dict[str, Any] = {"ctx": ctx, "seen": []}
    await page.goto(url, timeout=timeout_s * 1000)
    await _wait(page, text_js("How to start"), timeout_s=timeout_s)
    await _open(page, "Patient")
    await page.locator("input[type=file]").first.wait_for(state="attached", timeout=timeout_s * 1000)
    await _wait(page, timeout_s=timeout_s)
    t0 = time.perf_counter()
    await page.locator("input[type=file]").first.set_input_files([str(p) for p in files])
    res["time_to_risk_s"] = await _wait(page, text_js("log-risk"), settle_s=0.0, timeout_s=timeout_s) - t0
    res["seen"].append(await _seen(page))
    t0 = time.perf_counter()
    await _open(page, "Interpretability")
    res["time_to_explanations_s"] = await _wait(page, plot_title_js(METHODS["integrated_gradients"]), min_charts=1,
                                                timeout_s=timeout_s) - t0
    res["seen"].append(await _seen(page))
    await _open(page, "Patient")
    await _wait(page, text_js("log-risk"), timeout_s=timeout_s)
    res["seen"].append(await _seen(page))
    return res


def _isolated(res: dict, label: str, expected: str, others: list[str]) -> list[str]:
    """Problems with what one session saw: another's file name, its own missing, a wrong risk."""
    problems = []
    for k, seen in enumerate(res.get("seen", [])):
        if label not in seen["sidebar"]:
            problems.append(f"view {k}: own file {label!r} not in the sidebar")
        leaked = [o for o in others if o in seen["body"]]
        if leaked:
            problems.append(f"view {k}: shows other sessions' files {leaked}")
        if seen["log_risk"] is not None and seen["log_risk"] != expected:
            problems.append(f"view {k}: log-risk {seen['log_risk']} != {expected} (assess_ecg)")
    if not any(s["log_risk"] == expected for s in res.get("seen", [])):
        problems.append("its own log-risk was never shown")
    return problems


async def _round(url: str, files: list[list[Path]], labels: list[str], expected: list[str], *,
                 timeout_s: float, rss: _RssSampler | None) -> dict:
    """N sessions started together in one Chromium; timings, isolation problems and memory of the round."""
    from playwright.async_api import async_playwright

    n = len(files)
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            rss_before = rss.reset() if rss else float("nan")
            cpu0 = cpu_s(rss.pid) if rss else float("nan")
            machine0, wall0 = machine_cpu_s(), time.perf_counter()
            results = await asyncio.gather(*(_session(browser, url, f, timeout_s=timeout_s)
                                             for f in files), return_exceptions=True)
            await asyncio.sleep(2.0)  # every session idle, its context still open
            rss_idle = rss_mb(rss.pid) if rss else float("nan")
            server_cpu = (cpu_s(rss.pid) - cpu0) if rss else float("nan")
            machine_cpu, wall = machine_cpu_s() - machine0, time.perf_counter() - wall0
            peak = rss.peak if rss else float("nan")
            for r in results:
                if isinstance(r, dict):
                    await r["ctx"].close()
        finally:
            await browser.close()
    ok = [r for r in results if isinstance(r, dict)]
    failed = [f"{labels[i]}: {type(r).__name__}: {str(r).splitlines()[0][:160] if str(r) else ''}"
              for i, r in enumerate(results) if not isinstance(r, dict)]
    problems = {labels[i]: pr for i, r in enumerate(results) if isinstance(r, dict)
                for pr in [_isolated(r, labels[i], expected[i], [o for o in labels if o != labels[i]])] if pr}

    def stats(key: str) -> dict:
        vals = [r[key] for r in ok if key in r]
        return ({"median_s": round(statistics.median(vals), 2), "max_s": round(max(vals), 2), "n": len(vals)}
                if vals else {"n": 0})

    return {"sessions": n, "finished": len(ok), "time_to_risk": stats("time_to_risk_s"),
            "time_to_explanations": stats("time_to_explanations_s"), "server_rss_peak_mb": round(peak, 1),
            "server_rss_before_mb": round(rss_before, 1), "server_rss_idle_mb": round(rss_idle, 1),
            "rss_growth_per_idle_session_mb": round((rss_idle - rss_before) / n, 1),
            "server_cpu_s_per_session": round(server_cpu / n, 2),
            "other_cpu_s_per_session": round((machine_cpu - server_cpu) / n, 2),
            "round_wall_s": round(wall, 1),
            "isolation_ok": not problems and not failed, "isolation_problems": problems, "failed": failed}


def oversized_upload(url: str, credentials: list, *, mb: int = 60, timeout_s: float = 120.0,
                     chunked: bool = False) -> dict:
    """Send a ``mb``-MB body straight to the upload endpoint; how fast and how does the server refuse?

    Uses the URL, cookie and XSRF header of a real upload of a live session (``credentials``), so
    the refusal tested is the size limit, not a missing token. The body is streamed in 1-MB
    chunks; sending stops at the server's answer (or a closed connection). ``chunked``: no
    Content-Length (``Transfer-Encoding: chunked``), so the server cannot refuse from the header.
    """
    if not credentials:
        return {"skipped": "no upload of a live session was seen"}
    up_url, headers = credentials[-1]
    host, port = url.split("//", 1)[1].split(":")
    path = "/" + up_url.split("//", 1)[1].split("/", 1)[1]
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout_s)
    boundary = "hfvizbench"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    total = len(head) + mb * 2**20 + len(tail)
    t0 = time.perf_counter()
    sent = 0
    try:
        conn.putrequest("PUT", path)
        conn.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        if chunked:
            conn.putheader("Transfer-Encoding", "chunked")
        else:
            conn.putheader("Content-Length", str(total))
        for k in ("cookie", "x-xsrftoken"):
            if k in headers:
                conn.putheader(k, headers[k])
        conn.endheaders()
        conn.sock.settimeout(0.5)
        chunk = b"0" * 2**20
        frame = (lambda b: f"{len(b):x}\r\n".encode() + b + b"\r\n") if chunked else (lambda b: b)
        conn.send(frame(head))
        for _ in range(mb):
            try:
                conn.send(frame(chunk))
                sent += len(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
        conn.sock.settimeout(timeout_s)
        resp = conn.getresponse()
        status, body = resp.status, resp.read(200).decode("utf-8", "replace")
    except (OSError, http.client.HTTPException) as exc:
        status, body = None, f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
    return {"body_mb": mb, "chunked": chunked, "status": status, "answer": body.strip()[:120], "seconds_to_answer": round(time.perf_counter() - t0, 2),
            "mb_sent_before_answer": round(sent / 2**20, 1)}


def bench_load(*, ns: tuple[int, ...] = (1, 4, 8, 16), timeout_s: float = 300.0) -> dict:
    """Median/max time to risk and to explanations, server RSS and isolation for N concurrent sessions.

    Parameters
    ----------
    ns : tuple of int
        Session counts, one round each (at most :data:`MAX_SESSIONS`).
    timeout_s : float
        Per step of a session; a session that exceeds it counts as not finished.

    Returns
    -------
    dict
        ``rounds``: one entry per N; ``oversized_upload``; the conditions.
    """
    from hfviz.dashboard.settings import models_dir

    if not CHROMIUM.exists():
        return {"skipped": f"Chromium is not installed at {CHROMIUM}"}
    ns = tuple(min(int(n), MAX_SESSIONS) for n in ns)
    load0 = os.getloadavg()
    rounds, probe, warm = [], {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        files = write_session_files(Path(tmp) / "ecgs", max(ns))
        labels = [" + ".join(p.name for p in group) for group in files]
        expected = expected_log_risks(files, models_dir())
        with streamlit_app(log_path=Path(tmp) / "streamlit.log") as url:
            pid = server_pid(int(url.rsplit(":", 1)[1]))
            rss = _RssSampler(pid) if pid else None
            try:
                print("bench load: warm-up session (model loaded, imports done; not counted)", file=sys.stderr)
                warm = asyncio.run(_round(url, files[-1:], labels[-1:], expected[-1:], timeout_s=timeout_s, rss=rss))
                for n in ns:
                    print(f"bench load: {n} concurrent sessions", file=sys.stderr)
                    rounds.append(asyncio.run(_round(url, files[:n], labels[:n], expected[:n], timeout_s=timeout_s,
                                                     rss=rss)))
                    print(f"bench load: {rounds[-1]}", file=sys.stderr)
                probe = _probe_with_live_session(url, files[0], timeout_s)
            finally:
                if rss:
                    rss.stop()
    return {"conditions": (f"one streamlit server (HFVIZ_TORCH_THREADS={os.environ.get('HFVIZ_TORCH_THREADS', '1')}) "
                           f"and one headless Chromium on the same {os.cpu_count()}-core machine; load average "
                           f"{load0[0]:.1f} / {load0[1]:.1f} (1 / 5 min) at start, {os.getloadavg()[0]:.1f} at the end"),
            "input": f"one distinct SYNTHETIC ECG per session, formats {', '.join(FORMATS)} in turn",
            "warm_up": {k: warm[k] for k in ("finished", "server_rss_idle_mb", "isolation_ok")},
            "rounds": rounds, "oversized_upload": probe,
            "targets": {"n8_time_to_risk_max_s": 5.0, "n8_time_to_explanations_max_s": 20.0,
                        "n16_all_finish": True, "rss_growth_per_idle_session_mb": 30.0}}


def _probe_with_live_session(url: str, files: list[Path], timeout_s: float) -> dict:
    """Open one session, upload a small file (to learn the upload URL and tokens), then send 60 MB while it is open."""
    from playwright.sync_api import sync_playwright

    credentials: list = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS))
        try:
            page = browser.new_page()
            page.on("request", lambda r: credentials.append((r.url, r.headers))
                    if "/_stcore/upload_file/" in r.url and r.method == "PUT" else None)
            page.goto(url, timeout=timeout_s * 1000)
            page.get_by_text("How to start").first.wait_for(timeout=timeout_s * 1000)
            page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name="Patient", exact=True).click()
            page.locator("input[type=file]").first.set_input_files([str(f) for f in files], timeout=timeout_s * 1000)
            page.get_by_text("log-risk").first.wait_for(timeout=timeout_s * 1000)
            cookies = page.context.cookies()
            xsrf = [c["value"] for c in cookies if c["name"] == "_streamlit_xsrf"]
            headers = {"cookie": "; ".join(f"{c['name']}={c['value']}" for c in cookies)}
            if xsrf:
                headers["x-xsrftoken"] = xsrf[0]
            creds = [(credentials[-1][0], {**credentials[-1][1], **headers})] if credentials else []
            return {"content_length": oversized_upload(url, creds), "chunked": oversized_upload(url, creds, chunked=True)}
        finally:
            browser.close()
