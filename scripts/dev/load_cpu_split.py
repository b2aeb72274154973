"""Where the CPU of an 8-user round goes, and whether cheaper explanations would shorten it (#14).

Runs the load benchmark's N-session round (:func:`hfviz.bench_load.bench_load`) ``--repeats`` times in
each of two conditions, alternating:

* ``as shipped``: Integrated Gradients with the default 64 steps;
* ``IG 2 steps``: the server's :func:`hfviz.risk.explain.attribute` forced to 2 steps (a
  ``sitecustomize`` put on the server's ``PYTHONPATH`` for this run only) — about what the server
  would spend if explanations cost nothing or ran elsewhere.

Prints, per round, the latencies and the CPU split: the server process's CPU seconds per session
and everything else the machine did (the Chromium processes, Playwright) per session
(``other_cpu_s_per_session``, from ``/proc/stat``). Writes the rounds as JSON lines to ``--out``.

    PYTHONPATH=. HFVIZ_TORCH_THREADS=1 python scripts/dev/load_cpu_split.py --out /tmp/load_cpu_split.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

CHEAP_IG = '''import os
if os.environ.get("HFVIZ_DEV_IG_STEPS"):
    import hfviz.risk.explain as _explain
    _attribute = _explain.attribute

    def attribute(*args, **kwargs):
        kwargs["n_steps"] = int(os.environ["HFVIZ_DEV_IG_STEPS"])
        return _attribute(*args, **kwargs)

    _explain.attribute = attribute
'''

KEYS = ("time_to_risk", "time_to_explanations", "server_cpu_s_per_session", "other_cpu_s_per_session",
        "round_wall_s", "isolation_ok")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    from hfviz.bench_load import bench_load

    root = str(Path(__file__).resolve().parents[2])
    with tempfile.TemporaryDirectory() as tmp, args.out.open("a") as out:
        (Path(tmp) / "sitecustomize.py").write_text(CHEAP_IG)
        for rep in range(args.repeats):
            for cond, steps in (("as shipped", None), ("IG 2 steps", "2")):
                env_before = dict(os.environ)
                if steps:  # the server inherits this process's environment
                    os.environ["HFVIZ_DEV_IG_STEPS"] = steps
                    os.environ["PYTHONPATH"] = os.pathsep.join([tmp, root, os.environ.get("PYTHONPATH", "")])
                try:
                    res = bench_load(ns=(args.sessions,))
                finally:
                    os.environ.clear()
                    os.environ.update(env_before)
                row = {"condition": cond, "repeat": rep, "conditions": res["conditions"],
                       **{k: res["rounds"][0][k] for k in KEYS}}
                out.write(json.dumps(row) + "\n")
                out.flush()
                print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
