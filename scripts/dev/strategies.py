"""Development experiment (NOT the evaluation cohorts): compare fine-tuning strategies on independently
simulated cohorts (simulator seed 1: data/dev-mi, data/dev-hyp), so that choosing the strategy never
sees the evaluation cohorts or their test folds. This is how the shipped recipe (LP-FT, lr 3e-4) was
picked; see models/README.md, "Why this recipe".

    python -m hfviz simulate --preset mi --seed 1 --out data/dev-mi
    PYTHONPATH=. python scripts/dev/strategies.py data/dev-mi runs/pretrain_infonce_pretrain_5ep.pt lp,lpft1e-4,lpft3e-4,lpft1e-3,full 4

Strategies: lp (probe head only), lpft<lr> (probe head, then fine-tuning at lr), full (official 3-unit
head, random init, lr 1e-3). The last argument is "N" (first N CV folds) or "A:B" (folds A..B-1).
Prints one line per fold and strategy: test C, best validation C and epoch, the probe's validation C.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from hfviz.risk.survival import concordance_index
from hfviz.training.protocol import cv_folds, fit_measurement_cox, inner_split, load_training_set, measurement_table
from hfviz.training.pretrain import load_pretrained
from hfviz.training.train import FinetuneConfig, finetune, predict


def strategy_config(name: str, seed: int) -> FinetuneConfig:
    """Fine-tuning settings of strategy ``name`` (lp, lpft<lr>, full) on the fold of ``seed``."""
    if name == "lp":
        return FinetuneConfig(epochs=0, seed=seed)
    if name.startswith("lpft"):
        return FinetuneConfig(epochs=10, seed=seed, lr=float(name[4:]))
    if name == "full":  # the paper's recipe: official head, random init, lr 1e-3
        return FinetuneConfig(epochs=10, seed=seed, head_init="none")
    raise SystemExit(f"unknown strategy {name!r}")


def fold_range(spec: str) -> slice:
    """``"N"`` -> the first N folds, ``"A:B"`` -> folds A..B-1."""
    lo, _, hi = spec.rpartition(":")
    return slice(int(lo or 0), int(hi))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("data", help="development dataset folder (simulator seed 1)")
    ap.add_argument("checkpoint", help="pretraining checkpoint")
    ap.add_argument("strategies", help="comma-separated: lp, lpft<lr>, full")
    ap.add_argument("folds", help='"N" (first N CV folds) or "A:B" (folds A..B-1)')
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    c = load_training_set(args.data)
    t, e = c.time, c.event
    feats = measurement_table(c.beats_mv, c.table)
    truth_ecg = c.table["ecg_log_hazard"].to_numpy(float)
    for seed, k, tr, te in cv_folds(e)[fold_range(args.folds)]:
        fit, val = inner_split(tr, e, seed)
        trainval = np.concatenate([fit, val])
        cox = fit_measurement_cox(feats.iloc[trainval], t[trainval], e[trainval])
        print(f"fold {seed}/{k} meas-cox {concordance_index(t[te], cox(feats.iloc[te]), e[te]):.3f} "
              f"oracle_ecg {concordance_index(t[te], truth_ecg[te], e[te]):.3f}", flush=True)
        for s in args.strategies.split(","):
            t0 = time.perf_counter()
            torch.manual_seed(seed)
            ft = strategy_config(s, seed)
            net = load_pretrained(args.checkpoint, risk_head="mlp" if s == "full" else "linear")
            h = finetune(net, c.x[fit], t[fit], e[fit], c.x[val], t[val], e[val], ft, desc=s)
            ct = concordance_index(t[te], predict(net, c.x[te]), e[te])
            print(f"fold {seed}/{k} {s}: test C {ct:.3f} val {h['best_val_c']:.3f} @{h['best_epoch']} "
                  f"probe-val {h.get('probe_val_c', float('nan')):.3f} [{time.perf_counter() - t0:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
