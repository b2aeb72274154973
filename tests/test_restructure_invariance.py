"""The shipped models score the bundled examples bit-identically to the recorded log-risks.

``tests/data/example_log_risks.json`` was first recorded before the package was regrouped; it was
re-recorded (same models, torch on 1 thread) when ``scripts/make_examples.py`` regenerated the LBBB,
normal, LVH and anterior-MI examples after the LBBB simulator change, and again each time the models were
retrained (#18; see its ``recorded_from``).
"""

import json
from pathlib import Path

import pytest
import torch

from hfviz.risk.assess import assess_ecg
from hfviz.risk.model import load_risk_model

ROOT = Path(__file__).resolve().parents[1]
RECORDED = json.loads((ROOT / "tests" / "data" / "example_log_risks.json").read_text())


@pytest.mark.parametrize("cohort", ["mi", "hyp"])
def test_bundled_example_log_risks_are_bit_identical_to_the_recorded_ones(cohort):
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the recording's setting: conv sums are reordered by other thread counts
    try:
        model = load_risk_model(cohort)
        for stem, expected in RECORDED["log_risk"][cohort].items():
            hea = ROOT / "examples" / f"{stem}.hea"
            got = assess_ecg([hea, hea.with_suffix(".dat")], model).risk.log_risk
            assert got == expected, f"{stem}: {got!r} != recorded {expected!r}"
    finally:
        torch.set_num_threads(threads)
