"""Where the weaker simulated phenotypes fail their criteria (SYNTHETIC, development seed 1 only).

Re-simulates the same ECGs as ``scripts/phenotype_criteria.py`` (its ``draw``: ECG ``i`` of condition
``k`` uses ``numpy.random.default_rng([1, k, i])``) for fragmented QRS, sinus tachycardia and normal, and prints
the fraction meeting the condition's own criterion by tertile of the drawn fragmentation index and
heart rate, by the fragmentation's territory, and the reasons the normal ECGs fail. These are the
figures quoted in ``docs/simulator_vs_real.md`` and ``tests/test_phenotype_criteria.py``::

    PYTHONPATH=. python scripts/dev/criteria_breakdown.py [--n 100]
"""

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/: the same ECGs as phenotype_criteria.py

from hfviz.ecg.criteria import evaluate_criteria  # noqa: E402
from hfviz.ecg.prepare import prepare  # noqa: E402
from hfviz.synthetic.simulate import simulate_ecg  # noqa: E402
from phenotype_criteria import draw  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100)
    n = ap.parse_args().n
    for phen, key in (("fragmented_qrs", "fqrs_index"), ("sinus_tachycardia", "hr_set_bpm"), ("normal", None)):
        rows = []
        for i in range(n):
            params, rng = draw(phen, i)
            record, truth = simulate_ecg(params, rng, noise="default")
            res = evaluate_criteria(prepare(record), sex=truth["sex"])[phen]
            rows.append((params[key] if key else 0.0, bool(res.met), params["fqrs_territory"], res.evidence))
        met = np.array([r[1] for r in rows])
        print(f"{phen}: {met.mean():.0%} of {n}")
        if key:
            v = np.array([r[0] for r in rows])
            edges = np.quantile(v, [0, 1 / 3, 2 / 3, 1])
            for lo, hi in zip(edges[:-1], edges[1:]):
                sel = (v >= lo) & (v <= hi)
                print(f"  {key} {lo:.2f}-{hi:.2f}: {met[sel].mean():.0%} of {sel.sum()}")
        if phen == "fragmented_qrs":
            for terr in ("inferior", "anterior", "lateral"):
                sel = np.array([r[2] == terr for r in rows])
                print(f"  {terr} scar: {met[sel].mean():.0%} of {sel.sum()}")
        if phen == "normal":
            for why, k in collections.Counter(r[3] for r in rows if not r[1]).most_common():
                print(f"  not met ({k}): {why}")


if __name__ == "__main__":
    main()
