"""Development experiment (NOT the evaluation cohorts): compare fine-tuning strategies on independently
simulated cohorts (simulator seed 1: data/dev-mi, data/dev-hyp), so that choosing the strategy never
sees the evaluation cohorts or their test folds.

    PYTHONPATH=. python scripts/dev/strategies.py data/dev-mi runs/pretrain_infonce_pretrain_5ep.pt lp,lpft1e-4,lpft3e-4,lpft1e-3,full 4

Strategies: lp (probe head only), lpft<lr> (probe head, then fine-tuning at lr), full (official 3-unit
head, random init, lr 1e-3). The last argument is "N" (first N CV folds) or "A:B" (folds A..B-1).
"""
import sys
import time

import numpy as np
import torch

from hfviz.evaluate import cv_folds, fit_measurement_cox, inner_split, load_cohort, measurement_table
from hfviz.survival import concordance_index
from hfviz.train import FinetuneConfig, finetune, load_pretrained, predict

torch.set_num_threads(1)
data, ckpt, strategies = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
lo, _, hi = sys.argv[4].rpartition(":")  # "N" = the first N folds, "A:B" = folds A..B-1
c = load_cohort(data)
t, e = c.time, c.event
feats = measurement_table(c.beats_mv, c.table)
for seed, k, tr, te in cv_folds(e)[int(lo or 0):int(hi)]:
    fit, val = inner_split(tr, e, seed)
    trainval = np.concatenate([fit, val])
    cox = fit_measurement_cox(feats.iloc[trainval], t[trainval], e[trainval])
    print(f"fold {seed}/{k} meas-cox {concordance_index(t[te], cox(feats.iloc[te]), e[te]):.3f} "
          f"oracle_ecg {concordance_index(t[te], c.table['ecg_log_hazard'].to_numpy(float)[te], e[te]):.3f}", flush=True)
    for s in strategies:
        t0 = time.perf_counter()
        torch.manual_seed(seed)
        if s == "lp":
            ft = FinetuneConfig(epochs=0, seed=seed)
        elif s.startswith("lpft"):
            ft = FinetuneConfig(epochs=10, seed=seed, lr=float(s[4:]))
        elif s == "full":  # the paper's recipe: official head, random init, lr 1e-3
            ft = FinetuneConfig(epochs=10, seed=seed, head_init="none")
        else:
            raise SystemExit(f"unknown strategy {s!r}")
        net = load_pretrained(ckpt, risk_head="mlp" if s == "full" else "linear")
        h = finetune(net, c.x[fit], t[fit], e[fit], c.x[val], t[val], e[val], ft, desc=s)
        ct = concordance_index(t[te], predict(net, c.x[te]), e[te])
        print(f"fold {seed}/{k} {s}: test C {ct:.3f} val {h['best_val_c']:.3f} @{h['best_epoch']} "
              f"probe-val {h.get('probe_val_c', float('nan')):.3f} [{time.perf_counter() - t0:.0f} s]", flush=True)
