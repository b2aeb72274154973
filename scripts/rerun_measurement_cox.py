"""Re-run only the measurement-Cox rows of the CV table with the current (IEC 60601-2-25) measurements (#12).

The measurement-Cox baseline reads ``hfviz.ecg.measure`` intervals; those changed after the table
in ``models/evaluation.md`` was made. This re-runs that one row on the same cohorts and the same
folds (2-fold CV x 5 seeds) — nothing else is retrained — and rewrites the row in
``models/evaluation.json`` / ``evaluation.md``, keeping the previous figures beside it. Paired
differences against measurement Cox need the other rows' per-fold C-indices, which the table does
not keep; they stay as computed with the earlier measurements, and the notes say so.

    python -m hfviz simulate --preset mi  --seed 0 --out data/fidelity/mi_s0    # the evaluation cohorts
    python -m hfviz simulate --preset hyp --seed 0 --out data/fidelity/hyp_s0
    python scripts/rerun_measurement_cox.py --data data/fidelity
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hfviz.training.config import FinetuneConfig
from hfviz.training.protocol import Variant, evaluate_cohort, load_training_set, summarise
from hfviz.risk.model import card_markdown, model_files
from hfviz.training.reproduce import _attach_to_cards, _evaluation_markdown

NAME = "measurement Cox"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "fidelity")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    args = ap.parse_args()
    path = args.models / "evaluation.json"
    ev = json.loads(path.read_text())
    changes = []
    for cohort, res in ev["results"].items():
        c = load_training_set(args.data / f"{cohort}_s0")
        if (len(c.event), int(c.event.sum())) != (res["n_subjects"], res["n_events"]):
            raise SystemExit(f"{cohort}: {args.data / f'{cohort}_s0'} is not the evaluation cohort")
        v = Variant(NAME, "cox")
        with tempfile.TemporaryDirectory() as tmp:
            rows = evaluate_cohort(c, [v], out_jsonl=Path(tmp) / "rows.jsonl", ft=FinetuneConfig(), folds={})
        new = summarise(rows, c, [v])["variants"][0]
        i = next(k for k, e in enumerate(res["variants"]) if e["name"] == NAME)
        old = res["variants"][i]
        before = old.get("before_iec_measurements") or {k: old[k] for k in ("c_index", "auc_60", "ibs")}
        new["before_iec_measurements"] = before  # a second run keeps the original figures
        res["variants"][i] = new
        changes.append(f"{cohort.upper()}-like C {before['c_index']['mean']:.3f} ± {before['c_index']['sd']:.3f} → "
                       f"{new['c_index']['mean']:.3f} ± {new['c_index']['sd']:.3f}")
        print(changes[-1], flush=True)
    note = ("measurement Cox re-run with the IEC 60601-2-25 global measurements (`scripts/rerun_measurement_cox.py`, "
            "same cohorts and folds): " + "; ".join(changes) + ". The paired differences against measurement Cox "
            "were computed with the earlier measurements (the other rows' per-fold C-indices are not kept).")
    ev["notes"] = [n for n in ev["notes"] if not n.startswith("measurement Cox re-run")] + [note]
    path.write_text(json.dumps(ev, indent=1))
    md = args.models / "evaluation.md"
    text = md.read_text(encoding="utf-8")
    rest = text.split("\n## ", 2)  # [tables, "Notes…", later sections]
    tail = "\n## " + rest[2] if len(rest) > 2 else ""
    md.write_text(_evaluation_markdown(ev["results"], ev["notes"]).rstrip() + "\n" + tail, encoding="utf-8")
    _attach_to_cards(args.models, ev["results"], ev.get("config"))
    for cohort in ev["results"]:
        card_path = args.models / model_files(cohort)["card"]
        card = json.loads(card_path.read_text())
        card["comparison"]["measurement Cox re-run"] = note
        card_path.write_text(json.dumps(card, indent=1))
        (args.models / model_files(cohort)["card_md"]).write_text(card_markdown(card))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
