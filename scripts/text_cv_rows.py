"""Survival rows of the CV table for the text-alignment objective chosen on the development data.

Same protocol, cohorts and folds as ``models/evaluation.md`` (2-fold CV x 5 seeds on the MI-like and
HYP-like evaluation cohorts); rows: the network pretrained with reconstruction only and with the
chosen alignment (fine-tuned, and as a frozen-embedding probe), and measurement Cox, so that every
paired difference is on the same folds. Both pretrainings were made for this comparison on a
20,000-ECG corpus (seed 0, 5 epochs, the shipped defaults) of the simulator between the LBBB redraw
and the revision of commit 7c2d1d6; the table's older rows used a corpus from before the LBBB redraw.

    python -m hfviz simulate --preset pretrain --seed 0 --out data/text/corpus-s0
    python -m hfviz pretrain --corpus data/text/corpus-s0 --align none --out data/text/ckpt-s0/none.pt
    python -m hfviz pretrain --corpus data/text/corpus-s0 --align soft --out data/text/ckpt-s0/soft.pt
    PYTHONPATH=. python scripts/text_cv_rows.py --cohort mi  --align soft    # and --cohort hyp, in parallel
    (resumable: finished (row, seed, fold) results in data/text/cv_rows/<cohort>.jsonl are kept; --summarise
    also writes their per-fold C-indices to docs/text_cv_rows.csv, so the paired differences can be checked)
    PYTHONPATH=. python scripts/text_cv_rows.py --summarise --align soft     # -> docs/text_alignment.json ("cv")
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hfviz.training.config import ReproduceConfig
from hfviz.training.protocol import Variant, evaluate_cohort, load_training_set, read_rows, summarise
from hfviz.training.reproduce import ALIGN_LABELS

ROOT = Path(__file__).resolve().parents[1]
LABELS = {**ALIGN_LABELS, "soft": "soft-target InfoNCE"}


def variants(align: str, ckpts: Path) -> list[Variant]:
    out = []
    for a in dict.fromkeys(("none", align)):  # --align none: only the rows every comparison needs
        out.append(Variant(f"pretrained ({LABELS[a]})", "net", pretrained=str(ckpts / f"{a}.pt")))
        out.append(Variant(f"probe: pretrained ({LABELS[a]}) embedding + Cox", "probe", pretrained=str(ckpts / f"{a}.pt")))
    out.append(Variant("measurement Cox", "cox"))
    return out


def paired(rows: list[dict], a: str, b: str) -> dict:
    ra = {(r["seed"], r["fold"]): r["c_index"] for r in rows if r["variant"] == a}
    rb = {(r["seed"], r["fold"]): r["c_index"] for r in rows if r["variant"] == b}
    d = np.array([ra[k] - rb[k] for k in sorted(set(ra) & set(rb))])
    return {"mean": round(float(d.mean()), 4), "sd": round(float(d.std(ddof=1)), 4), "n_folds": len(d),
            "wins": int((d > 0).sum())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cohort", choices=["mi", "hyp"])
    ap.add_argument("--align", default="soft")
    ap.add_argument("--ckpts", type=Path, default=ROOT / "data" / "text" / "ckpt-s0")
    ap.add_argument("--data", type=Path, default=ROOT / "data" / "fidelity")
    ap.add_argument("--rows", type=Path, default=ROOT / "data" / "text" / "cv_rows", help="full per-fold rows (not shipped)")
    ap.add_argument("--summarise", action="store_true")
    args = ap.parse_args()
    vs = variants(args.align, args.ckpts)
    args.rows.mkdir(parents=True, exist_ok=True)
    if not args.summarise:
        torch.set_num_threads(1)
        c = load_training_set(args.data / f"{args.cohort}_s0")
        evaluate_cohort(c, vs, out_jsonl=args.rows / f"{args.cohort}.jsonl", ft=ReproduceConfig().finetune_config(),
                        folds={v.name: 10 for v in vs})
        return
    out = ROOT / "docs" / "text_alignment.json"
    doc = json.loads(out.read_text()) if out.is_file() else {}
    cv = {}
    for cohort in ("mi", "hyp"):
        rows = read_rows(args.rows / f"{cohort}.jsonl")
        c = load_training_set(args.data / f"{cohort}_s0")
        s = summarise(rows, c, vs)
        text, recon = f"pretrained ({LABELS[args.align]})", "pretrained (reconstruction only)"
        ptext, precon = (f"probe: pretrained ({LABELS[a]}) embedding + Cox" for a in (args.align, "none"))
        cv[cohort] = {
            "c_index": {v["name"]: [round(v["c_index"]["mean"], 4), round(v["c_index"]["sd"], 4)] for v in s["variants"]},
            "oracle_ecg_c": s.get("oracle_ecg_c"),
            "paired": {f"{text} - {recon}": paired(rows, text, recon), f"{ptext} - {precon}": paired(rows, ptext, precon),
                       f"{text} - measurement Cox": paired(rows, text, "measurement Cox"),
                       f"{recon} - measurement Cox": paired(rows, recon, "measurement Cox")},
        }
    slim = [{"cohort": cohort, **{k: r[k] for k in ("variant", "seed", "fold", "c_index", "oracle_ecg_c")}}
            for cohort in ("mi", "hyp") for r in read_rows(args.rows / f"{cohort}.jsonl")]
    pd.DataFrame(slim).to_csv(ROOT / "docs" / "text_cv_rows.csv", index=False, float_format="%.4f")
    doc["cv"] = {"align": args.align, "finetune": "ReproduceConfig().finetune_config(): LP-FT, lr 3e-4, 6 epochs (the shipped recipe)", "cohorts": cv}
    out.write_text(json.dumps(doc, indent=1))
    print(json.dumps(cv, indent=1))


if __name__ == "__main__":
    main()
