"""Render ``docs/text_alignment.md`` from ``docs/text_alignment.json`` (diagnosis, study, CV rows, shipped reader).

    PYTHONPATH=. python scripts/text_alignment_report.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LABELS = {"none": "reconstruction only (no text)", "cosine": "cosine, positives only (paper)",
          "infonce": "InfoNCE, identical texts as positives", "soft": "**soft-target InfoNCE (remedy)**"}


def _ms(pair) -> str:
    return "—" if pair is None else f"{pair[0]:.3f} ± {pair[1]:.3f}"


def diagnosis_md(d: dict) -> list[str]:
    fn, out = d["false_negatives"], []
    out += ["## 1. Diagnosis (development corpus, simulator seed 1, 8,000 SYNTHETIC ECGs)", "",
            "### False negatives in a batch", "",
            f"The corpus holds {fn['distinct_statement_sets']} distinct statement sets and {fn['distinct_texts']} distinct "
            f"texts (a set with other likelihoods is another weighted mean) for {fn['ecgs']} ECGs. In random batches of "
            f"{fn['batch_size']} ({fn['batches']} batches), per ECG:", "",
            "| other ECGs in the batch with … | mean per ECG |", "|---|---|",
            f"| the identical text (InfoNCE here already counts them as positives) | {fn['identical_text_per_anchor']} "
            f"({fn['anchors_with_an_identical_text']:.0%} of ECGs have one) |",
            f"| the same statements with other likelihoods (negatives for InfoNCE) | {fn['same_statements_other_likelihoods_per_anchor']} |",
            f"| a text within cosine 0.95 that is not identical (negatives for InfoNCE) | {fn['near_duplicate_cos095_per_anchor']} |",
            "", f"{fn['anchors_with_a_false_negative']:.0%} of ECGs have at least one such near-duplicate among the "
            "negatives of their batch: InfoNCE pushes them away from texts that say nearly the same.", ""]
    enc = d["encoder"]
    pairs = list(next(iter(enc.values()))["pairs"])
    out += ["### The frozen text encoder (all-MiniLM-L6-v2) on the statement prompts", "",
            "Cosine similarity between prompts of the 29 statements the reports use, per prompt form:", "",
            "| prompt form | mean off-diagonal | max | " + " | ".join(pairs) + " |",
            "|---|---|---|" + "---|" * len(pairs)]
    for form, v in enc.items():
        out.append(f"| {form} | {v['mean_offdiagonal_cos']:.2f} | {v['max_offdiagonal_cos']:.2f} | "
                   + " | ".join(f"{v['pairs'][p]:.2f}" for p in pairs) + " |")
    used = enc["group: description (used)"]["nearest"]
    worst = sorted(used.items(), key=lambda kv: -kv[1][1])[:6]
    out += ["", "Closest neighbours under the prompt form in use: "
            + "; ".join(f"{a} → {b} {c:.2f}" for a, (b, c) in worst) + ".", ""]
    shift = d["one_finding_shift_from_sinus_rhythm"]
    out += [f"Adding one finding to \"sinus rhythm\" (equal weights) leaves the text embedding at cosine "
            f"{min(shift.values()):.2f}–{max(shift.values()):.2f} from \"sinus rhythm\" alone "
            f"(median {np.median(list(shift.values())):.2f}).", ""]
    out += ["### What the text carries about the true hazard", "",
            "| term of the simulator's hazard | ECGs | statements name it |", "|---|---|---|"]
    for term, v in d["hazard_terms_in_text"].items():
        named = "—" if v["statements_name_it"] is None else f"{v['statements_name_it']:.0%}"
        out.append(f"| {term} | {v['ecgs']} | {named} ({', '.join(v['codes'])}) |")
    out.append("")
    return out


def study_md(s: dict) -> list[str]:
    out = ["## 2. The representation, measured directly", "",
           f"Checkpoints pretrained on the development corpus (4 objectives × 3 seeds, 5 epochs each). Zero-shot: "
           f"AUROC of the cosine between the projected ECG and each statement prompt, on {s['heldout']['ecgs']} held-out "
           f"SYNTHETIC ECGs (simulator seed {s['heldout']['seed']}), macro over the {len(s['statements'])} statements "
           f"with ≥ 20 positives and negatives. Probes: logistic regression on the frozen 512-d embedding, trained "
           f"on 1 % ({round(0.01 * s['probe_pool']['ecgs'])}) or 10 % ({round(0.1 * s['probe_pool']['ecgs'])}) of a "
           f"separate labelled pool (seed {s['probe_pool']['seed']}), 5 draws, scored on the held-out ECGs. Mean ± sd "
           f"over pretraining seeds.", "",
           "| pretraining objective | seeds | zero-shot macro-AUROC | probe 1 % labels | probe 10 % labels | "
           "alignment / reconstruction gradient norm |", "|---|---|---|---|---|---|"]
    for align in ("none", "cosine", "infonce", "soft"):
        v = s["summary"].get(align)
        if not v:
            continue
        ratios = [r["balance"]["align_over_recon_grad_norm"] for r in s["runs"] if r["align"] == align and "balance" in r]
        ratio = f"{np.mean(ratios):.2f}" if ratios else "—"
        out.append(f"| {LABELS[align]} | {v['seeds']} | {_ms(v.get('zero_shot_macro'))} | {_ms(v.get('probe_1pct'))} | "
                   f"{_ms(v.get('probe_10pct'))} | {ratio} |")
    out += ["", "Zero-shot AUROC per statement (mean over seeds):", ""]
    aligns = [a for a in ("cosine", "infonce", "soft") if a in s["summary"]]
    out += ["| statement | " + " | ".join(LABELS[a].strip("*") for a in aligns) + " |", "|---|" + "---|" * len(aligns)]
    for code in s["statements"]:
        vals = []
        for a in aligns:
            xs = [r["zero_shot"][code] for r in s["runs"] if r["align"] == a and code in r.get("zero_shot", {})]
            vals.append(f"{np.mean(xs):.2f}" if xs else "—")
        out.append(f"| {code} | " + " | ".join(vals) + " |")
    out += ["", "### Real labelled samples (`../shared/ecg-samples`: 5 PTB-XL, 10 Chapman-Shaoxing, 1 LUDB)", "",
            "Zero-shot AUROC over the 16 real records, per statement with at least one positive and one negative "
            "(labels: PTB-XL SCP codes; Chapman SNOMED codes mapped to SCP; LUDB's diagnoses in words). Mean over "
            "seeds; n = positives / negatives. Far too few records for a conclusion; shown so nobody has to guess.", "",
            "| statement | n | " + " | ".join(LABELS[a].strip("*") for a in aligns) + " |", "|---|---|" + "---|" * len(aligns)]
    codes = sorted({c for r in s["runs"] for c in r.get("real_zero_shot", {})})
    for code in codes:
        n = next(r["real_zero_shot"][code] for r in s["runs"] if code in r.get("real_zero_shot", {}))
        vals = []
        for a in aligns:
            xs = [r["real_zero_shot"][code]["auroc"] for r in s["runs"] if r["align"] == a and code in r.get("real_zero_shot", {})]
            vals.append(f"{np.mean(xs):.2f}" if xs else "—")
        out.append(f"| {code} | {n['positives']} / {n['negatives']} | " + " | ".join(vals) + " |")
    out.append("")
    return out


def cv_md(cv: dict) -> list[str]:
    out = ["## 3. Survival: the CV rows (same protocol and folds as `models/evaluation.md`)", "",
           f"Both pretrainings made for this comparison on the 20,000-ECG corpus (seed 0, 5 epochs) and cohorts of "
           f"the simulator before its latest revision (commit 7c2d1d6); fine-tuning: {cv['finetune']}. C-index, "
           "mean ± sd over 10 test folds.", "",
           "| row | MI-like | HYP-like |", "|---|---|---|"]
    names = list(cv["cohorts"]["mi"]["c_index"])
    for n in names:
        out.append(f"| {n} | " + " | ".join(_ms(cv["cohorts"][c]["c_index"].get(n)) for c in ("mi", "hyp")) + " |")
    oracle = [cv["cohorts"][c]["oracle_ecg_c"] for c in ("mi", "hyp")]
    out.append("| oracle, ECG part of the true hazard (ceiling) | "
               + " | ".join(f"{o['mean']:.3f} ± {o['sd']:.3f}" for o in oracle) + " |")
    out += ["", "Paired differences (mean ± sd over the same folds; folds where the first row is better):", "",
            "| difference (per-fold values: `docs/text_cv_rows.csv`) | MI-like | HYP-like |", "|---|---|---|"]
    for key in cv["cohorts"]["mi"]["paired"]:
        cells = []
        for c in ("mi", "hyp"):
            p = cv["cohorts"][c]["paired"][key]
            cells.append(f"{p['mean']:+.3f} ± {p['sd']:.3f} ({p['wins']}/{p['n_folds']})")
        out.append(f"| {key} | " + " | ".join(cells) + " |")
    out.append("")
    return out


def reader_md(card: dict, real: dict | None) -> list[str]:
    zs = card["zero_shot"]
    real_line = [] if not real else [
        "On the 16 real labelled records (positives / negatives): "
        + ", ".join(f"{c} {v['auroc']:.2f} ({v['positives']}/{v['negatives']})" for c, v in sorted(real.items()))
        + ".", ""]
    return ["## 4. The shipped statement reader (`models/reader.safetensors`, `python -m hfviz describe`)", "",
            f"Built from `{card['checkpoint']}` (align `{card['pretrain_config'].get('align')}`, statement objective "
            f"weight {card['pretrain_config'].get('statement_weight', 0.0):g}, seed "
            f"{card['pretrain_config'].get('seed')}; the shipped risk models' encoder) with "
            "`python -m hfviz build-reader`. Zero-shot macro-AUROC on "
            f"{zs['ecgs']} held-out SYNTHETIC ECGs ({zs['heldout']}): **{zs['macro_auroc']:.3f}** over "
            f"{len(zs['auroc'])} statements; per statement: "
            + ", ".join(f"{c} {a:.2f}" for c, a in zs["auroc"].items()) + ".", "", *real_line]


def main() -> None:
    doc = json.loads((ROOT / "docs" / "text_alignment.json").read_text())
    lines = ["# Does the text help? The LLM-informed part, measured", "",
             "Everything here is **SYNTHETIC** (simulated ECGs, simulated reports and outcomes) except the real-sample "
             "table. Settings were chosen on development data (simulator seed 1) only. Generated by "
             "`scripts/text_alignment_report.py` from `docs/text_alignment.json`; commands in each script's docstring "
             "(`scripts/text_diagnosis.py`, `scripts/text_alignment_runs.sh`, `scripts/text_alignment_study.py`, "
             "`scripts/text_cv_rows.py`).", ""]
    verdict = (ROOT / "docs" / "text_alignment_verdict.md")
    if verdict.is_file():
        lines += [verdict.read_text().strip(), ""]
    lines += diagnosis_md(doc["diagnosis"]) if "diagnosis" in doc else []
    lines += study_md(doc["study"]) if "study" in doc else []
    lines += cv_md(doc["cv"]) if "cv" in doc else []
    card = ROOT / "models" / "reader.card.json"
    if card.is_file():
        lines += reader_md(json.loads(card.read_text()), doc.get("study", {}).get("shipped_reader_real_zero_shot"))
    (ROOT / "docs" / "text_alignment.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
