"""Where one user's server CPU goes (#14): one scripted session, sampled across every thread.

Runs the path a load-test user takes — upload on Patient, Interpretability, back to Patient — in
Streamlit's ``AppTest`` (no browser, the shipped models), ``--sessions`` times with fresh sessions
(the first fills the process caches and is not counted), while a sampling thread records every
thread's Python stack every 2 ms. Prints the functions with the most samples on the stack
(inclusive) and on top (exclusive), and the CPU seconds per session.

    PYTHONPATH=. python scripts/dev/profile_session.py --file examples/synthetic_lbbb.hea examples/synthetic_lbbb.dat
"""

from __future__ import annotations

import argparse
import collections
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def sample(stop: threading.Event, inclusive: collections.Counter, exclusive: collections.Counter) -> None:
    me = threading.get_ident()  # the sampler leaves itself out
    while not stop.is_set():
        for tid, frame in sys._current_frames().items():
            if tid == me:
                continue
            seen = set()
            top = True
            while frame is not None:
                code = frame.f_code
                key = f"{Path(code.co_filename).name}:{code.co_name}"
                if top:
                    exclusive[key] += 1
                    top = False
                if key not in seen:
                    inclusive[key] += 1
                    seen.add(key)
                frame = frame.f_back
        time.sleep(0.002)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", nargs="+", required=True)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--top", type=int, default=35)
    args = ap.parse_args()
    from hfviz.dashboard import ui
    from hfviz.dashboard.settings import configure_torch

    configure_torch()
    upload = [(Path(f).name, Path(f).read_bytes()) for f in args.file]

    def one_session():
        at = ui.scripted_session(ROOT, upload)
        at.switch_page("pages/2_Interpretability.py").run(timeout=120)
        at.switch_page("pages/1_Patient.py").run(timeout=120)
        assert not at.exception, [e.value for e in at.exception]

    one_session()  # caches
    inclusive, exclusive = collections.Counter(), collections.Counter()
    stop = threading.Event()
    th = threading.Thread(target=sample, args=(stop, inclusive, exclusive), daemon=True)
    cpu0, t0 = time.process_time(), time.perf_counter()
    th.start()
    for _ in range(args.sessions):
        one_session()
    stop.set()
    th.join()
    cpu = (time.process_time() - cpu0) / args.sessions
    print(f"CPU per session {cpu:.2f} s, wall per session {(time.perf_counter() - t0) / args.sessions:.2f} s")
    total = max(1, exclusive.total())
    print("\ninclusive (share of samples with the function on the stack)")
    for k, v in inclusive.most_common(args.top):
        print(f"{100 * v / total:6.1f} %  {k}")
    print("\nexclusive (share of samples with the function on top)")
    for k, v in exclusive.most_common(args.top):
        print(f"{100 * v / total:6.1f} %  {k}")


if __name__ == "__main__":
    main()
