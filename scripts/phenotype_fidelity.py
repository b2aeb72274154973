"""Per-phenotype fidelity of the shipped models on their independent SYNTHETIC validation cohorts (#18).

For each cohort (mi, hyp): re-simulates nothing itself — it reads dataset folders written by
``python -m hfviz simulate`` — and

1. scores the validation cohort (seed 3, the one shipped as ``models/<cohort>_validation.csv``;
   the log-risks are checked against that file, so the folder is the shipped cohort) with the
   shipped model and with the measurement-Cox baseline fitted on the shipped model's own training
   half (training cohort seed 0, CV seed 42 fold 0 — what ``reproduce`` fits on);
2. tabulates the mean percentile of the true ECG log-hazard and of each score per phenotype, and
   the Spearman correlation of each score with the true ECG log-hazard;
3. diagnoses: events per phenotype in the cohort's own training half; how well a linear probe on
   the frozen network embedding separates each phenotype (AUROC, 5-fold CV on the validation
   cohort) — if a phenotype is separable but mis-ranked, the risk head is the problem, not the
   representation.

Writes ``models/phenotype_fidelity.json``, a section of ``models/evaluation.md`` and a
``phenotype_fidelity`` entry in each model card. Nothing is fitted on the validation cohort except
the diagnostic probes (which touch no shipped number). Made by (2-core VM, ~30 min simulation):

    python -m hfviz simulate --preset mi  --seed 0 --out data/r18/mi-s0
    python -m hfviz simulate --preset hyp --seed 0 --out data/r18/hyp-s0
    python -m hfviz simulate --preset mi  --n 20000 --seed 3 --out data/r18/validation-mi
    python -m hfviz simulate --preset hyp --n 20000 --seed 3 --out data/r18/validation-hyp
    python scripts/phenotype_fidelity.py --data data/r18 --models models
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hfviz.data.dataset import load_dataset
from hfviz.jsonutil import json_default
from hfviz.risk.model import card_markdown, load_risk_model, model_files
from hfviz.training.fidelity import (
    PHENOTYPE_NAMES,
    fidelity_summary,
    phenotype_membership,
    phenotype_table,
    replace_markdown_section,
)
from hfviz.training.protocol import cv_folds, fit_measurement_cox, load_training_set, measurement_table
from hfviz.training.train import embed, normalise_beats
from hfviz.training.validation import score_dataset

COHORT_WORDS = {"mi": "MI-like", "hyp": "HYP-like"}
SECTION = "## Per-phenotype fidelity on the validation cohorts (SYNTHETIC)"


def probe_auroc(emb: np.ndarray, member: np.ndarray) -> float:
    """5-fold cross-validated AUROC of a logistic-regression probe for one phenotype, on standardised embeddings."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, C=1.0))
    p = cross_val_predict(clf, emb, member.astype(int), cv=StratifiedKFold(5, shuffle=True, random_state=0),
                          method="predict_proba")[:, 1]
    return float(roc_auc_score(member, p))


def analyse(cohort: str, data: Path, models: Path) -> dict:
    model = load_risk_model(cohort, models)
    train = load_training_set(data / f"{cohort}-s0")
    val_dir = data / f"validation-{cohort}"
    val = load_dataset(val_dir)
    scored = score_dataset(model, val_dir)
    shipped = pd.read_csv(models / model_files(cohort)["validation"])
    same = (len(shipped) == len(scored) and (shipped["id"].astype(str).to_numpy() == scored["id"].to_numpy()).all()
            and np.abs(shipped["log_risk"].to_numpy() - scored["log_risk"].to_numpy()).max() < 1e-4)
    if not same:
        raise SystemExit(f"{val_dir} is not the shipped {cohort} validation cohort (ids or log-risks differ)")

    _, _, tr, _ = cv_folds(train.event)[0]
    feats = measurement_table(train.beats_mv, train.table)
    cox = fit_measurement_cox(feats.iloc[tr], train.time[tr], train.event[tr])
    cox_lr = cox(measurement_table(np.asarray(val.beats, np.float32), val.table))
    truth = val.table["ecg_log_hazard"].to_numpy(float)
    scores = {"network": scored["log_risk"].to_numpy(float), "measurement Cox": cox_lr}
    event = val.table["event"].to_numpy(int)
    table = phenotype_table(val.table["phenotype"], truth, scores, event=event)
    summary = fidelity_summary(table, truth, scores)

    # diagnosis 1: what the training half can teach — events per phenotype
    tr_members = phenotype_membership(train.table["phenotype"].iloc[tr].reset_index(drop=True))
    tr_event = train.event[tr]
    train_events = {PHENOTYPE_NAMES.get(k, k): {"n": int(m.sum()), "events": int(tr_event[m].sum())}
                    for k, m in tr_members.items()}
    # diagnosis 2: is the phenotype in the frozen embedding of the shipped network?
    emb = embed(model.net, normalise_beats(np.asarray(val.beats, np.float32)))
    probes = {}
    for k, m in phenotype_membership(val.table["phenotype"]).items():
        if k != "normal" and m.sum() >= 20:
            probes[PHENOTYPE_NAMES.get(k, k)] = round(probe_auroc(emb, m), 3)
    table["embedding probe AUROC"] = table["phenotype"].map(probes)
    table["training events"] = table["phenotype"].map(lambda p: train_events.get(p, {}).get("events"))
    return {"cohort": cohort, "n": len(val.table), "events": int(event.sum()), "seed": int(val.meta.get("seed", 3)),
            "training_half": {"n": len(tr), "events": int(tr_event.sum())},
            "table": table.to_dict(orient="records"), "summary": summary, "training_events": train_events}


def _md(df: pd.DataFrame) -> str:
    """A DataFrame as a GitHub markdown table (missing values as "–")."""
    cells = [[("–" if pd.isna(v) else f"{v:g}" if isinstance(v, float) else str(v)) for v in row]
             for row in df.itertuples(index=False)]
    return "\n".join(["| " + " | ".join(df.columns) + " |", "|" + "---|" * len(df.columns)]
                     + ["| " + " | ".join(c) + " |" for c in cells])


def markdown(results: list[dict]) -> str:
    lines = [SECTION, "",
             ("Mean percentile (within the validation cohort) of the true ECG log-hazard and of each score among the "
             "subjects with each phenotype; a faithful score puts every phenotype where the truth does (target: within "
             "±10 points) and has a Spearman correlation ≥ 0.70 with the true ECG log-hazard. Measurement Cox: fitted on "
             "the shipped model's own training half. Embedding probe: 5-fold CV AUROC of a logistic regression on the "
             "shipped network's frozen embedding (diagnostic only). Training events: events among the subjects with the "
             "phenotype in the cohort's own training half (the shipped head is fitted on both cohorts' training halves "
              "together)."), ""]
    for r in results:
        df = pd.DataFrame(r["table"])
        lines += [(f"### {COHORT_WORDS[r['cohort']]} model: {r['n']:,} subjects, {r['events']} events "
                  f"(validation seed {r['seed']}; training half {r['training_half']['n']} subjects, "
                  f"{r['training_half']['events']} events)"), ""]
        for s, v in r["summary"].items():
            lines.append(f"- {s}: Spearman {v['spearman_with_true_ecg_log_hazard']:.3f} with the true ECG log-hazard; "
                         f"{v['phenotypes_within_10_points']} phenotypes within ±10 points; largest offset "
                         f"{v['largest_offset']}")
        lines += ["", _md(df), ""]
    lines += [("Made by `python scripts/phenotype_fidelity.py --data data/r18 --models models` (the simulate "
              "commands are in the script's docstring)."), ""]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "r18")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--cohorts", nargs="+", default=["mi", "hyp"])
    args = ap.parse_args()
    results = []
    for cohort in args.cohorts:
        print(f"{cohort}: scoring and probing…", flush=True)
        results.append(analyse(cohort, args.data, args.models))
        print(pd.DataFrame(results[-1]["table"]).to_string(index=False), flush=True)
        print(json.dumps(results[-1]["summary"], indent=1), flush=True)
    (args.models / "phenotype_fidelity.json").write_text(json.dumps(results, indent=1, default=json_default))
    ev = args.models / "evaluation.md"
    ev.write_text(replace_markdown_section(ev.read_text(encoding="utf-8"), SECTION, markdown(results)), encoding="utf-8")
    for r in results:
        names = model_files(r["cohort"])
        path = args.models / names["card"]
        card = json.loads(path.read_text(encoding="utf-8"))
        card["phenotype_fidelity"] = {"cohort": f"validation cohort, {r['n']:,} subjects (seed {r['seed']})",
                                      **r["summary"], "table": "models/evaluation.md, models/phenotype_fidelity.json"}
        path.write_text(json.dumps(card, indent=1, default=json_default), encoding="utf-8")
        (args.models / names["card_md"]).write_text(card_markdown(card), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
