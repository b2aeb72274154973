"""CV table of the shipped recipe on the shipped models' own training cohorts (SYNTHETIC, current simulator).

The paper-protocol table of ``python -m hfviz evaluate`` (``models/evaluation.md``, first section) was
measured on cohorts simulated before the LBBB waveform was redrawn, with the previous recipe (LP-FT
from an InfoNCE checkpoint). This script measures, on the same protocol (2-fold stratified CV x 5
seeds = 10 folds, :func:`hfviz.training.protocol.cv_folds`) but on the cohorts the shipped models are
trained on now (simulator seed 0, current simulator), the rows that need no fine-tuning:

- the shipped recipe: the frozen encoder + one penalised-Cox probe fitted on the training
  halves of BOTH cohorts of the same fold, stratified by cohort (``ReproduceConfig.risk_fit =
  "joint-probe"``);
- the same probe on the cohort's own training half (``"probe"``);
- the measurement-Cox baseline, and the oracle (the ECG part of the true log-hazard).

Also Spearman with the true ECG log-hazard on each test fold. Writes ``models/cv_shipped_recipe.json``
and a section of ``models/evaluation.md``. Made by (2-core VM, ~10 min):

    python -m hfviz simulate --preset mi  --seed 0 --out data/r18/mi-s0
    python -m hfviz simulate --preset hyp --seed 0 --out data/r18/hyp-s0
    PYTHONPATH=. python scripts/cv_shipped_recipe.py --mi data/r18/mi-s0 --hyp data/r18/hyp-s0 \\
        --checkpoint data/text/ckpt-s0/soft.pt
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hfviz.jsonutil import json_default
from hfviz.risk.survival import concordance_index
from hfviz.training.config import ReproduceConfig
from hfviz.training.fidelity import replace_markdown_section, spearman
from hfviz.training.pretrain import load_pretrained
from hfviz.training.protocol import cv_folds, fit_measurement_cox, load_training_set, measurement_table
from hfviz.training.train import embed, fit_joint_probe

SECTION = "## CV of the shipped recipe on the current training cohorts (SYNTHETIC)"
COHORT_WORDS = {"mi": "MI-like", "hyp": "HYP-like"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mi", required=True)
    ap.add_argument("--hyp", required=True)
    ap.add_argument("--checkpoint", required=True, help="the pretraining checkpoint the shipped models use")
    ap.add_argument("--models", default=str(ROOT / "models"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rc = ReproduceConfig()
    sets = {"mi": load_training_set(args.mi), "hyp": load_training_set(args.hyp)}
    net = load_pretrained(args.checkpoint)
    emb = {k: embed(net, c.x) for k, c in sets.items()}
    feats = {k: measurement_table(c.beats_mv, c.table) for k, c in sets.items()}
    folds = {k: cv_folds(c.event) for k, c in sets.items()}
    rows = []
    for i in range(len(folds["mi"])):
        tr = {k: folds[k][i][2] for k in sets}
        te = {k: folds[k][i][3] for k in sets}
        parts = {k: (emb[k][tr[k]], c.time[tr[k]], c.event[tr[k]]) for k, c in sets.items()}
        joint = fit_joint_probe(parts, n_bags=rc.probe_bags, n_components=rc.probe_components,
                                penalizer=rc.probe_penalizer, seed=rc.seed)
        for k, c in sets.items():
            t, e = c.time, c.event
            own = fit_joint_probe({k: parts[k]}, n_bags=rc.probe_bags, n_components=rc.probe_components,
                                  penalizer=rc.probe_penalizer, seed=rc.seed)
            truth = c.table["ecg_log_hazard"].to_numpy(float)[te[k]]
            scores = {
                "oracle, ECG part of the true hazard": truth,
                "shipped recipe: joint probe (both cohorts, stratified)": emb[k][te[k]] @ joint[0] + joint[1],
                "probe on the cohort's own training half": emb[k][te[k]] @ own[0] + own[1],
                "measurement Cox": fit_measurement_cox(feats[k].iloc[tr[k]], t[tr[k]], e[tr[k]])(feats[k].iloc[te[k]]),
            }
            for name, lr in scores.items():
                rows.append({"cohort": k, "fold": i, "row": name, "events_test": int(e[te[k]].sum()),
                             "c_index": float(concordance_index(t[te[k]], lr, e[te[k]])),
                             "spearman": spearman(lr, truth)})
        print(f"fold {i} done", flush=True)
    out = Path(args.models)
    (out / "cv_shipped_recipe.json").write_text(json.dumps({"rows": rows, "cohorts": {
        k: {"n": len(c.event), "events": int(c.event.sum()), "seed": c.meta.get("seed")} for k, c in sets.items()}},
        indent=1, default=json_default))
    md = out / "evaluation.md"
    md.write_text(replace_markdown_section(md.read_text(), SECTION, section(rows, sets)))
    print(section(rows, sets))


def section(rows: list[dict], sets: dict) -> str:
    import pandas as pd

    d = pd.DataFrame(rows)
    lines = [SECTION, "",
             "The rows that need no fine-tuning, on the cohorts the shipped models are trained on now (simulator "
             "seed 0, current simulator; 10 folds = 2-fold stratified CV × 5 seeds, the paper protocol). Mean ± SD "
             "over folds; Spearman is with the true ECG log-hazard on each test fold. The shipped models are this "
             "recipe fitted on fold 0 of seed 42. Made by `python scripts/cv_shipped_recipe.py` (commands in its "
             "docstring).", ""]
    head = "| row | " + " | ".join(f"{COHORT_WORDS[k]} ({len(c.event):,}, {int(c.event.sum())} events): C | "
                                     f"{COHORT_WORDS[k]}: Spearman" for k, c in sets.items()) + " |"
    lines += [head, "|---|" + "---|" * (2 * len(sets))]
    for name in dict.fromkeys(d["row"]):
        cells = []
        for k in sets:
            r = d[(d["row"] == name) & (d["cohort"] == k)]
            cells += [f"{r['c_index'].mean():.3f} ± {r['c_index'].std():.3f}", f"{r['spearman'].mean():.3f} ± {r['spearman'].std():.3f}"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
