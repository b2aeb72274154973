"""Is QRS fragmentation's under-ranking a matter of the probe's size or of the encoder? (#18, development check)

Fits the learning curve's MI-only Cox probe on the whole development cohort (seed 1, 4,000 subjects,
180 events) with 16, 32 and 64 principal components of the shipped MI model's frozen embedding, and
prints, on the validation cohort (seed 3): Spearman with the true ECG log-hazard, phenotypes within
±10 percentile points, and QRS fragmentation's offset (model − true mean percentile). If the offset
does not move with more components, the embedding does not carry what the probe would need.

    PYTHONPATH=. python scripts/dev/probe_components_fqrs.py   # data as in scripts/fidelity_learning_curve.py
"""

from __future__ import annotations

import numpy as np

from hfviz.data.dataset import load_dataset
from hfviz.risk.model import load_risk_model
from hfviz.training.fidelity import PERCENTILE_TOLERANCE, phenotype_table, spearman
from hfviz.training.protocol import load_training_set
from hfviz.training.train import embed, fit_probe, normalise_beats


def main() -> None:
    model = load_risk_model("mi", "models")
    dev, val = load_training_set("data/r18/dev-mi-s1"), load_dataset("data/r18/validation-mi")
    emb_dev = embed(model.net, dev.x)
    emb_val = embed(model.net, normalise_beats(np.asarray(val.beats, np.float32)))
    truth = val.table["ecg_log_hazard"].to_numpy(float)
    for k in (16, 32, 64):
        w, b = fit_probe(emb_dev, dev.time, dev.event, n_components=k)
        lr = emb_val @ w + b
        t = phenotype_table(val.table["phenotype"], truth, {"s": lr}).set_index("phenotype")
        print(f"PCA {k}: Spearman {spearman(lr, truth):.3f}, within ±10: "
              f"{int((t['s − true'].abs() <= PERCENTILE_TOLERANCE).sum())} of {len(t)}, "
              f"QRS fragmentation {t.loc['QRS fragmentation', 's − true']:+.1f} points")


if __name__ == "__main__":
    main()
