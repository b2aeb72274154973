"""Does the text help the representation? Zero-shot statements and few-label probes per pretraining objective.

Reads the checkpoints of ``scripts/text_alignment_runs.sh`` (development corpus, simulator seed 1:
4 objectives x 3 seeds) and measures each on held-out SYNTHETIC ECGs that no checkpoint saw:

* zero-shot statement classification: cosine between the projected ECG embedding and each
  statement prompt's projected text embedding (:mod:`hfviz.risk.statements`), AUROC per statement
  on ``data/text/heldout-s4`` (simulator seed 4, 3,000 ECGs), macro over the statements with
  >= 20 positives and negatives;
* linear probes (logistic regression on the 512-d embedding) trained with 1 % and 10 % of the
  labels of ``data/text/probe-pool-s5`` (seed 5, 3,000 ECGs; 5 draws each), AUROC on seed 4;
* the balance of the two pretraining terms: gradient norm on the encoder of reconstruction vs
  alignment, on 4 batches of the development corpus;
* zero-shot AUROC on the real labelled samples in ``../shared/ecg-samples`` (PTB-XL SCP codes,
  Chapman-Shaoxing SNOMED codes, LUDB diagnoses), with the counts.

    PYTHONPATH=. python scripts/text_alignment_study.py        # -> docs/text_alignment.json ("study")
    PYTHONPATH=. python scripts/text_alignment_study.py --shipped-reader-only   # after the shipped reader changed

Choice rule, fixed before the runs finished: the text objective with the highest mean 10 %-label probe
macro-AUROC over seeds is the one whose survival CV rows are run (``scripts/text_cv_rows.py``) and
whose seed-0 pretraining ships as the statement reader; zero-shot macro-AUROC breaks a tie (means
within one sd).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hfviz.data.scp import parse_scp_codes
from hfviz.synthetic.reports import EMITTED_CODES
from hfviz.training.protocol import load_training_set
from hfviz.training.statement_table import reader_from_checkpoint
from hfviz.training.text import load_encoder

ALIGNS = ("none", "cosine", "infonce", "soft")
SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "ecg-samples"
#: Chapman-Shaoxing SNOMED-CT codes -> the SCP statements of the table that mean the same.
SNOMED_TO_SCP = {"427084000": "STACH", "426177001": "SBRAD", "427393009": "SARRH", "55827005": "LVH",
                 "59931005": "INVT", "698252002": "IVCD", "164889003": "AFIB", "270492004": "1AVB",
                 "164909002": "CLBBB", "59118001": "CRBBB", "251146004": "LVOLT", "111975006": "LNGQT",
                 "426783006": "SR", "445118002": "LAFB", "164917005": "QWAVE"}
#: LUDB free-text diagnoses -> SCP statements (lower-case substrings).
LUDB_TO_SCP = {"sinus bradycardia": "SBRAD", "sinus tachycardia": "STACH", "sinus rhythm": "SR",
               "left ventricular hypertrophy": "LVH", "atrial fibrillation": "AFIB"}


def auroc(y: np.ndarray, s: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, s))


def labels(table: pd.DataFrame, codes) -> np.ndarray:
    """(N, S) 0/1: statement present in the ECG's SCP codes."""
    rows = [parse_scp_codes(s, python_literal=True) for s in table["scp_codes"]]
    return np.array([[c in r for c in codes] for r in rows], dtype=np.int8)


def embeddings(net, x: np.ndarray, batch: int = 256) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([net.encode(torch.from_numpy(x[i:i + batch]))[0].numpy() for i in range(0, len(x), batch)])


def probe_auroc(z_tr, y_tr, z_te, y_te, frac: float, draws: int, seed: int = 0) -> list[float]:
    """Macro-AUROC of per-statement logistic probes trained on ``frac`` of the labelled pool, per draw."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(draws):
        idx = rng.choice(len(z_tr), max(2, int(round(frac * len(z_tr)))), replace=False)
        sc = StandardScaler().fit(z_tr[idx])
        a, b = sc.transform(z_tr[idx]), sc.transform(z_te)
        per = []
        for j in range(y_tr.shape[1]):
            yj = y_tr[idx, j]
            if yj.min() == yj.max():  # no positive (or no negative) among the labelled: nothing to learn
                per.append(0.5)
                continue
            clf = LogisticRegression(C=1.0, max_iter=2000).fit(a, yj)
            per.append(auroc(y_te[:, j], clf.decision_function(b)))
        out.append(float(np.mean(per)))
    return out


def balance(ckpt: Path, corpus, text: np.ndarray, batches: int = 4) -> dict:
    """Gradient norm on the encoder of the reconstruction vs the alignment term (align_weight 1)."""
    from hfviz.risk.statements import Projection
    from hfviz.training.pretrain import alignment_loss, load_pretrained

    state = torch.load(ckpt, weights_only=True, map_location="cpu")
    cfg = state["pretrain_config"]
    net = load_pretrained(ckpt).train()
    proj = {side: Projection.from_state(state[side]) for side in ("proj_e", "proj_t")}
    gen = np.random.default_rng(0)
    ratios = []
    params = [p for n, p in net.named_parameters() if not n.startswith("head.")]
    for _ in range(batches):
        idx = gen.choice(len(corpus.x), 128, replace=False)
        x, t = torch.from_numpy(corpus.x[idx]), torch.from_numpy(text[idx])
        out = net(x)
        recon = ((out.recon - x) ** 2).mean()
        align = alignment_loss(proj["proj_e"](out.embedding), proj["proj_t"](t), cfg["align"], cfg["temperature"], t)
        g_r = torch.autograd.grad(recon, params, retain_graph=True, allow_unused=True)
        g_a = torch.autograd.grad(align, params, allow_unused=True)
        norm = lambda gs: float(torch.sqrt(sum((g ** 2).sum() for g in gs if g is not None)))  # noqa: E731
        ratios.append(norm(g_a) / max(norm(g_r), 1e-12))
    return {"align_over_recon_grad_norm": round(float(np.median(ratios)), 3),
            "final_recon": round(state["history"]["recon"][-1], 4), "final_align": round(state["history"]["align"][-1], 4)}


def real_samples() -> list[tuple[str, set[str]]]:
    """(path, SCP statements) of the labelled real samples: PTB-XL, Chapman-Shaoxing, LUDB."""
    d = SAMPLES.resolve() / "wfdb"
    if not d.is_dir():
        return []
    out = []
    rep = pd.read_csv(d / "ptbxl_reports.csv")
    for _, r in rep.iterrows():
        out.append((str(d / f"{r['record']}.hea"), set(parse_scp_codes(r["scp_codes"], python_literal=True))))
    for hea in sorted(d.glob("JS*.hea")):
        dx = re.search(r"#\s*Dx:\s*([\d,]+)", hea.read_text())
        out.append((str(hea), {SNOMED_TO_SCP[c] for c in dx.group(1).split(",") if c in SNOMED_TO_SCP} if dx else set()))
    ludb = d / "1.hea"
    if ludb.is_file():
        text = ludb.read_text().lower()
        out.append((str(ludb), {code for words, code in LUDB_TO_SCP.items() if words in text}))
    return out


def real_zero_shot(reader, records) -> dict:
    """Zero-shot AUROC per statement over the real labelled records (statements with >= 1 positive and negative)."""
    from hfviz.risk.assess import prepare_source

    x = np.stack([prepare_source(p).model_input for p, _ in records])
    s = reader.scores(x)
    res = {}
    for j, c in enumerate(reader.codes):
        y = np.array([c in lab for _, lab in records], dtype=int)
        if 0 < y.sum() < len(y):
            res[c] = {"auroc": round(auroc(y, s[:, j]), 3), "positives": int(y.sum()), "negatives": int(len(y) - y.sum())}
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ckpts", default="data/text/ckpt")
    ap.add_argument("--heldout", default="data/text/heldout-s4")
    ap.add_argument("--pool", default="data/text/probe-pool-s5")
    ap.add_argument("--corpus", default="data/text/dev-corpus-s1")
    ap.add_argument("--out", default="docs/text_alignment.json")
    ap.add_argument("--draws", type=int, default=5)
    ap.add_argument("--shipped-reader-only", action="store_true",
                    help="only re-measure the shipped reader on the real records (the study rows stay)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.shipped_reader_only:
        from hfviz.risk.statements import load_statement_reader

        out = Path(args.out)
        doc = json.loads(out.read_text())
        doc["study"]["shipped_reader_real_zero_shot"] = real_zero_shot(load_statement_reader(), real_samples())
        out.write_text(json.dumps(doc, indent=1))
        print(json.dumps(doc["study"]["shipped_reader_real_zero_shot"], indent=1))
        return
    held, pool = load_training_set(args.heldout), load_training_set(args.pool)
    y_held_all = labels(held.table, EMITTED_CODES)
    keep = [j for j in range(len(EMITTED_CODES)) if 20 <= y_held_all[:, j].sum() <= len(held.x) - 20]
    codes = [EMITTED_CODES[j] for j in keep]
    y_held, y_pool = y_held_all[:, keep], labels(pool.table, codes)
    corpus = load_training_set(args.corpus)
    from hfviz.training.text import embed_table

    text = embed_table(corpus.table, mode="scp", cache_dir=args.corpus)
    encode = load_encoder()
    records = real_samples()
    runs = []
    cache_dir = Path(args.ckpts) / "study_rows"  # one result per finished checkpoint, reused while it is unchanged
    cache_dir.mkdir(exist_ok=True)
    for ckpt in sorted(Path(args.ckpts).glob("*_s*.pt")):
        align, seed = ckpt.stem.rsplit("_s", 1)
        state = torch.load(ckpt, weights_only=True, map_location="cpu")
        if state["epoch"] < state["pretrain_config"]["epochs"]:
            print(f"{ckpt.name}: still pretraining (epoch {state['epoch']}), left out", flush=True)
            continue
        cached = cache_dir / f"{ckpt.stem}.json"
        key = f"{ckpt.stat().st_size}:{ckpt.stat().st_mtime_ns}"
        if cached.is_file() and json.loads(cached.read_text()).get("key") == key:
            runs.append(json.loads(cached.read_text())["row"])
            continue
        row = {"align": align, "seed": int(seed)}
        if align == "none":
            from hfviz.training.pretrain import load_pretrained

            net = load_pretrained(ckpt).eval()
        else:
            reader = reader_from_checkpoint(ckpt, encode=encode)  # every statement; the held-out ones by column
            net = reader.net
            s = reader.scores(held.x)[:, [reader.codes.index(c) for c in codes]]
            per = {c: round(auroc(y_held[:, j], s[:, j]), 3) for j, c in enumerate(codes)}
            row.update(zero_shot_macro=round(float(np.mean(list(per.values()))), 4), zero_shot=per)
            row["balance"] = balance(ckpt, corpus, text)
            if records:
                row["real_zero_shot"] = real_zero_shot(reader, records)
        z_held, z_pool = embeddings(net, held.x), embeddings(net, pool.x)
        for frac in (0.01, 0.10):
            row[f"probe_{int(frac * 100)}pct"] = [round(v, 4) for v in probe_auroc(z_pool, y_pool, z_held, y_held, frac, args.draws)]
        print(json.dumps({k: v for k, v in row.items() if k not in ("zero_shot", "real_zero_shot")}), flush=True)
        cached.write_text(json.dumps({"key": key, "row": row}))
        runs.append(row)
    summary = {}
    for align in ALIGNS:
        rs = [r for r in runs if r["align"] == align]
        if not rs:
            continue
        summ = {"seeds": len(rs)}
        for key in ("zero_shot_macro", "probe_1pct", "probe_10pct"):
            vals = [np.mean(r[key]) for r in rs if key in r]
            if vals:
                summ[key] = [round(float(np.mean(vals)), 4), round(float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0, 4)]
        summary[align] = summ
    shipped_real = None
    if records and (Path(__file__).resolve().parents[1] / "models" / "reader.safetensors").is_file():
        from hfviz.risk.statements import load_statement_reader

        shipped_real = real_zero_shot(load_statement_reader(), records)  # the reader as it ships
    out = Path(args.out)
    doc = json.loads(out.read_text()) if out.is_file() else {}
    doc["study"] = {"shipped_reader_real_zero_shot": shipped_real, "statements": codes, "heldout": {"path": args.heldout, "seed": 4, "ecgs": len(held.x)},
                    "probe_pool": {"path": args.pool, "seed": 5, "ecgs": len(pool.x)},
                    "real_records": [[Path(p).name, sorted(lab)] for p, lab in records],
                    "runs": runs, "summary": summary}
    out.write_text(json.dumps(doc, indent=1))
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
