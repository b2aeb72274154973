"""Per-phenotype fidelity table (#18): a score that equals the truth is faithful; one that mis-ranks a phenotype shows it."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hfviz.training.fidelity import (
    fidelity_summary, percentile_rank, phenotype_membership, phenotype_table, replace_markdown_section)
from hfviz.risk.assess import assess_ecg
from hfviz.risk.model import load_risk_model

ROOT = Path(__file__).resolve().parents[1]


def _cohort(n: int = 400, seed: int = 0) -> tuple[pd.Series, np.ndarray]:
    rng = np.random.default_rng(seed)
    lbbb = rng.random(n) < 0.2
    af = rng.random(n) < 0.2
    pheno = pd.Series(["+".join(p for p, on in (("af", a), ("lbbb", b)) if on) or "normal" for a, b in zip(af, lbbb)])
    truth = 1.5 * lbbb + 0.8 * af + rng.normal(0, 0.3, n)
    return pheno, truth


def test_percentile_rank_is_between_0_and_100_and_monotone():
    p = percentile_rank(np.array([3.0, 1.0, 2.0, 2.0]))
    assert p.tolist() == [100.0, 25.0, 62.5, 62.5]


def test_combined_phenotypes_count_for_each_of_their_parts():
    m = phenotype_membership(pd.Series(["af+lbbb", "normal", "lbbb"]))
    assert m["lbbb"].tolist() == [True, False, True] and m["af"].tolist() == [True, False, False]


def test_a_score_equal_to_the_truth_has_zero_offsets_and_spearman_one():
    pheno, truth = _cohort()
    table = phenotype_table(pheno, truth, {"oracle": truth.copy()})
    assert (table["oracle − true"] == 0).all()
    s = fidelity_summary(table, truth, {"oracle": truth})["oracle"]
    assert s["spearman_with_true_ecg_log_hazard"] == 1.0
    assert s["phenotypes_within_10_points"] == f"{len(table)} of {len(table)}"
    assert list(table["phenotype"])[0] == "left bundle branch block"  # highest true percentile first


def test_a_score_blind_to_lbbb_mis_ranks_lbbb_by_many_points():
    pheno, truth = _cohort()
    blind = truth - 1.5 * phenotype_membership(pheno)["lbbb"]
    table = phenotype_table(pheno, truth, {"blind": blind}).set_index("phenotype")
    assert table.loc["left bundle branch block", "blind − true"] < -20
    assert "left bundle branch block" in fidelity_summary(table.reset_index(), truth, {"blind": blind})["blind"]["largest_offset"]


def test_rare_phenotypes_are_left_out_and_events_are_counted():
    pheno, truth = _cohort()
    pheno.iloc[:3] = "rbbb"
    event = np.zeros(len(truth), int)
    event[pheno.str.contains("af").to_numpy()] = 1
    table = phenotype_table(pheno, truth, {"s": truth}, event=event, min_n=20).set_index("phenotype")
    assert "right bundle branch block" not in table.index
    assert table.loc["atrial fibrillation", "events"] == table.loc["atrial fibrillation", "n"]


def test_replacing_a_markdown_section_keeps_the_sections_around_it():
    text = "# T\n\n## A\n\nold a\n\n## B\n\nb\n"
    assert replace_markdown_section(text, "## A", "## A\n\nnew a") == "# T\n\n## A\n\nnew a\n\n## B\n\nb\n"
    assert replace_markdown_section("# T\n", "## C", "## C\n\nc").endswith("# T\n\n## C\n\nc\n")


@pytest.mark.xfail(strict=True, reason=(
    "Out of reach with the shipped models' training events (#18; learning curve in models/evaluation.md): "
    "truth LBBB > AF > long QT > LVH > anterior MI > normal; both models (one Cox probe, PCA 16, penalizer 0.001, "
    "on 18 MI-like + 26 HYP-like training events) put LVH just above long QT (MI percentiles 50 and 46) and "
    "are otherwise in order. MI-only probes on development cohorts get the exact order in 1 of 3 fits at "
    "3,200 subjects (~124 events) and in 3 of 3 at 8,000 (~323). "
    "Strict: this fails loudly once a retrained model gets the order right."))
@pytest.mark.parametrize("cohort", ["mi", "hyp"])
def test_shipped_models_rank_the_bundled_examples_by_their_true_ecg_hazard(cohort):
    truth = json.loads((ROOT / "examples" / "truth.json").read_text())["examples"]
    model = load_risk_model(cohort)
    risk = {}
    for stem in truth:
        hea = ROOT / "examples" / f"{stem}.hea"
        risk[stem] = assess_ecg([hea, hea.with_suffix(".dat")], model).risk.log_risk
    by_truth = sorted(truth, key=lambda s: truth[s]["ecg_log_hazard"])
    assert sorted(risk, key=risk.get) == by_truth
