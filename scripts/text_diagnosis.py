"""Why does the text add nothing? Evidence from the corpus and the text encoder (no ECG model needed).

Writes ``docs/text_alignment.json`` (key ``diagnosis``). Everything is measured on the
DEVELOPMENT corpus (simulator seed 1), never on evaluation data:

    python -m hfviz simulate --preset pretrain --n 8000 --seed 1 --workers 2 --out data/text/dev-corpus-s1
    PYTHONPATH=. python scripts/text_diagnosis.py --corpus data/text/dev-corpus-s1

1. False negatives in a batch: how many other ECGs of a 128-ECG batch have the identical text
   (the InfoNCE here already counts those as positives), the same statement set with other
   likelihoods, or a text embedding within cosine 0.95 (both counted as negatives).
2. The text encoder: cosine similarities of the statement prompts under three prompt forms, the
   nearest neighbour of each statement, and how far adding one finding moves an ECG's text.
3. What the text carries: for each term of the simulator's true hazard, how often an ECG that has
   it carries a statement naming it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hfviz.data.dataset import load_dataset
from hfviz.data.scp import STATEMENTS, parse_scp_codes, statement_prompt
from hfviz.synthetic.reports import EMITTED_CODES
from hfviz.training.text import embed_table, load_encoder

#: Hazard terms of the simulator (``hfviz.synthetic.cohorts.ECG_COEF``) -> (how to find the ECGs
#: that have them in cohort.csv, the statements that name them).
HAZARD_TERMS = {
    "left bundle branch block": ("phenotype:lbbb", ("CLBBB",)),
    "left ventricular hypertrophy": ("phenotype:lvh", ("LVH", "VCLVH")),
    "atrial fibrillation": ("phenotype:af", ("AFIB",)),
    "anterior MI": ("phenotype:mi_anterior", ("AMI", "ASMI", "ALMI")),
    "inferior MI": ("phenotype:mi_inferior", ("IMI", "ILMI")),
    "lateral MI": ("phenotype:mi_lateral", ("LMI", "ILMI", "ALMI")),
    "low QRS voltage": ("phenotype:low_voltage", ("LVOLT",)),
    "QRS fragmentation": ("column:true_fqrs_index>0", ("ABQRS",)),
    "T-wave inversion": ("phenotype:t_inversion", ("INVT",)),
    "flat T waves": ("phenotype:t_flat", ("LOWT", "NT_")),
    "QTc > 440 ms": ("column:true_qtc_bazett_ms>440", ("LNGQT",)),
    "heart rate > 90 bpm": ("column:true_hr_bpm>90", ("STACH",)),
    "QRS > 120 ms": ("column:true_qrs_ms>120", ("CLBBB", "CRBBB", "IVCD")),
}

NAMED_PAIRS = [("CLBBB", "CRBBB"), ("AMI", "IMI"), ("ASMI", "ILMI"), ("AMI", "ASMI"), ("LVH", "LVOLT"),
               ("SBRAD", "STACH"), ("AFIB", "SR"), ("1AVB", "LPR"), ("INVT", "LOWT"), ("NORM", "ABQRS")]


def false_negatives(codes: list[dict], text: np.ndarray, batch: int, n_batches: int, seed: int = 0) -> dict:
    """Per anchor in random batches: other rows with identical text, same statement set, or text cosine > 0.95."""
    rng = np.random.default_rng(seed)
    keys = np.array([hash(frozenset(c)) for c in codes])
    tn = text / np.maximum(np.linalg.norm(text, axis=1, keepdims=True), 1e-12)
    ident, sameset, near = [], [], []
    for _ in range(n_batches):
        idx = rng.choice(len(tn), batch, replace=False)
        cos = tn[idx] @ tn[idx].T
        np.fill_diagonal(cos, -1)
        same_text = cos > 0.9999
        same_set = (keys[idx][:, None] == keys[idx][None, :]) & ~np.eye(batch, dtype=bool)
        ident.append(same_text.sum(1))
        sameset.append((same_set & ~same_text).sum(1))
        near.append(((cos > 0.95) & ~same_text).sum(1))
    ident, sameset, near = (np.concatenate(a) for a in (ident, sameset, near))
    return {
        "batch_size": batch, "batches": n_batches,
        "distinct_texts": int(len(np.unique(np.round(tn, 5), axis=0))),
        "distinct_statement_sets": int(len(set(keys.tolist()))), "ecgs": len(codes),
        "identical_text_per_anchor": round(float(ident.mean()), 2),
        "anchors_with_an_identical_text": round(float((ident > 0).mean()), 3),
        "same_statements_other_likelihoods_per_anchor": round(float(sameset.mean()), 2),
        "near_duplicate_cos095_per_anchor": round(float(near.mean()), 2),
        "anchors_with_a_false_negative": round(float(((sameset + near) > 0).mean()), 3),
    }


def prompt_forms(codes: list[str]) -> dict[str, list[str]]:
    """Three offline prompt forms per statement: description, group + description (used), category + description."""
    return {
        "description": [STATEMENTS[c].description for c in codes],
        "group: description (used)": [statement_prompt(c) for c in codes],
        "PTB-XL category: description": [f"{STATEMENTS[c].category or STATEMENTS[c].group}: {STATEMENTS[c].description}"
                                         for c in codes],
    }


def encoder_separation(encode, codes: list[str]) -> dict:
    """Similarity statistics of the statement prompts per prompt form."""
    out = {}
    for form, texts in prompt_forms(codes).items():
        v = encode(texts)
        v = v / np.linalg.norm(v, axis=1, keepdims=True)
        cos = v @ v.T
        off = cos[~np.eye(len(codes), dtype=bool)]
        np.fill_diagonal(cos, -1)
        nn = cos.argmax(1)
        pos = {c: i for i, c in enumerate(codes)}
        out[form] = {
            "mean_offdiagonal_cos": round(float(off.mean()), 3), "max_offdiagonal_cos": round(float(off.max()), 3),
            "min_offdiagonal_cos": round(float(off.min()), 3),
            "nearest": {c: [codes[int(nn[i])], round(float(cos[i, nn[i]]), 3)] for i, c in enumerate(codes)},
            "pairs": {f"{a}-{b}": round(float(cos[pos[a], pos[b]]), 3) for a, b in NAMED_PAIRS},
        }
    return out


def one_finding_shift(encode, codes: list[str]) -> dict:
    """Cosine between the text of "sinus rhythm" and of "sinus rhythm + one finding" (mode "scp", equal weights)."""
    base = statement_prompt("SR")
    vecs = encode([base] + [statement_prompt(c) for c in codes])
    sr = vecs[0]
    out = {}
    for c, v in zip(codes, vecs[1:]):
        if c in ("SR", "NORM"):
            continue
        mix = (sr + v) / 2
        out[c] = round(float(mix @ sr / np.linalg.norm(mix) / np.linalg.norm(sr)), 3)
    return out


def hazard_terms_in_text(table) -> dict:
    """Per hazard term: ECGs that have it, and the fraction whose statements / report name it."""
    codes = [parse_scp_codes(s, python_literal=True) for s in table["scp_codes"]]
    pheno = table["phenotype"].fillna("").str.split("+")
    out = {}
    for term, (where, names) in HAZARD_TERMS.items():
        kind, rule = where.split(":")
        if kind == "phenotype":
            has = pheno.apply(lambda p, r=rule: r in p).to_numpy()
        else:
            col, thr = rule.split(">")
            has = (table[col].astype(float) > float(thr)).to_numpy()
        named = np.array([any(n in c for n in names) for c in codes])
        out[term] = {"ecgs": int(has.sum()), "statements_name_it": round(float(named[has].mean()), 3) if has.any() else None,
                     "codes": list(names)}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", default="data/text/dev-corpus-s1")
    ap.add_argument("--out", default="docs/text_alignment.json")
    ap.add_argument("--batches", type=int, default=300)
    args = ap.parse_args()
    ds = load_dataset(args.corpus)
    table = ds.table
    text = embed_table(table, mode="scp", cache_dir=args.corpus)
    codes = [parse_scp_codes(s, python_literal=True) for s in table["scp_codes"]]
    encode = load_encoder()
    emitted = list(EMITTED_CODES)
    diagnosis = {
        "corpus": {"path": args.corpus, "seed": 1, "ecgs": len(table), "synthetic": True},
        "false_negatives": false_negatives(codes, text, 128, args.batches),
        "encoder": encoder_separation(encode, emitted),
        "one_finding_shift_from_sinus_rhythm": one_finding_shift(encode, emitted),
        "hazard_terms_in_text": hazard_terms_in_text(table),
    }
    out = Path(args.out)
    doc = json.loads(out.read_text()) if out.is_file() else {}
    doc["diagnosis"] = diagnosis
    out.write_text(json.dumps(doc, indent=1))
    print(json.dumps(diagnosis["false_negatives"], indent=1))
    print(json.dumps({k: {kk: vv for kk, vv in v.items() if kk != "nearest"} for k, v in diagnosis["encoder"].items()}, indent=1))
    print(json.dumps(diagnosis["hazard_terms_in_text"], indent=1))
    print(json.dumps(diagnosis["one_finding_shift_from_sinus_rhythm"]))


if __name__ == "__main__":
    main()
