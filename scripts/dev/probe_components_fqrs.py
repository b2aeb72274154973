"""Which phenotypes stay off with many events, and is that the probe's size or the encoder? (#18, development check)

Fits the learning curve's MI-only Cox probe (the shipped head's penalizer, ``ReproduceConfig``) on the whole
development cohort (seed 1; ``scripts/fidelity_learning_curve.py``'s 16,000 subjects, ~640 events) with 16, 32
and 64 principal components of the shipped MI model's frozen embedding, and prints, on the validation cohort
(seed 3): Spearman with the true ECG log-hazard, phenotypes within ±10 percentile points, and every phenotype
outside them (model − true mean percentile). Named after its first question (does QRS fragmentation's
under-ranking move with more components?); the learning curve's diagnostic rows (a ridge on the true ECG
log-hazard) show what the encoder itself carries. Last, whether the Cox probes could be learning age and
sex through the ECG: the correlation, on the validation cohort, of a ridge of the demographic log-hazard on
the same embedding (PCA 16) with that log-hazard.

    PYTHONPATH=. python scripts/dev/probe_components_fqrs.py   # data as in scripts/fidelity_learning_curve.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from hfviz.data.dataset import load_dataset
from hfviz.risk.model import load_risk_model
from hfviz.training.config import ReproduceConfig
from hfviz.training.fidelity import PERCENTILE_TOLERANCE, phenotype_table, spearman
from hfviz.training.protocol import load_training_set
from hfviz.training.train import embed, fit_probe, normalise_beats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # scripts/
from fidelity_learning_curve import fit_truth_ridge  # noqa: E402


def main() -> None:
    model = load_risk_model("mi", "models")
    dev, val = load_training_set("data/r18/dev-mi-s1-16k"), load_dataset("data/r18/validation-mi")
    emb_dev = embed(model.net, dev.x)
    emb_val = embed(model.net, normalise_beats(np.asarray(val.beats, np.float32)))
    truth = val.table["ecg_log_hazard"].to_numpy(float)
    print(f"{len(dev.x):,} development subjects, {int(dev.event.sum())} events")
    for k in (16, 32, 64):
        w, b = fit_probe(emb_dev, dev.time, dev.event, n_components=k, penalizer=ReproduceConfig().probe_penalizer)
        lr = emb_val @ w + b
        off = phenotype_table(val.table["phenotype"], truth, {"s": lr}).set_index("phenotype")["s − true"]
        outside = ", ".join(f"{ph} {d:+.1f}" for ph, d in off.items() if abs(d) > PERCENTILE_TOLERANCE) or "none"
        print(f"PCA {k}: Spearman {spearman(lr, truth):.3f}, within ±10: "
              f"{int((off.abs() <= PERCENTILE_TOLERANCE).sum())} of {len(off)}; outside: {outside}")
    w, b = fit_truth_ridge(emb_dev, dev.table["demo_log_hazard"].to_numpy(float), 16)
    r = np.corrcoef(emb_val @ w + b, val.table["demo_log_hazard"].to_numpy(float))[0, 1]
    print(f"demographic log-hazard from the embedding (ridge, PCA 16): r = {r:.3f}")


if __name__ == "__main__":
    main()
