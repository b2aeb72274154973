"""Independent validation: recalibration written into the card, validation predictions shipped and loaded."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from hfviz.data.dataset import save_dataset
from hfviz.risk.model import load_risk_model, model_files
from hfviz.training.validation import attach_validation

ROOT = Path(__file__).resolve().parents[1]


def _fake_cohort(path, n, seed, model):
    """Random beats whose outcome follows the model's own log-risk (so slope and C are known to be > 0)."""
    from hfviz.training.train import normalise_beats

    rng = np.random.default_rng(seed)
    beats = rng.normal(0, 0.3, (n, 12, 608)).astype(np.float32)
    lr = model.predict_log_risk(normalise_beats(beats))
    lp = (lr - lr.mean()) / (lr.std() + 1e-9)
    t_event = rng.exponential(200.0 * np.exp(-lp))
    t_cens = rng.uniform(30.0, 84.0, n)
    table = pd.DataFrame({"id": [f"s{i}" for i in range(n)], "age": 60, "sex": "M",
                          "time_months": np.minimum(t_event, t_cens), "event": (t_event <= t_cens).astype(int),
                          "report": "", "scp_codes": "{}", "true_log_hazard": lp, "ecg_log_hazard": lp,
                          "phenotype": "normal"})
    save_dataset(path, beats, table, {"source": "synthetic", "note": "test cohort"})
    return path


def test_attach_validation_writes_checksummed_predictions_and_a_recalibration(tmp_path):
    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models)
    model = load_risk_model("mi", models)
    cal = _fake_cohort(tmp_path / "cal", 400, 2, model)
    val = _fake_cohort(tmp_path / "val", 400, 3, model)
    report = attach_validation("mi", cal, val, models)

    assert report["validation_cohort"]["n"] == 400 and report["c_index"] > 0.6
    assert abs(report["oracle_c_index"] - report["c_index"]) < 0.02  # the truth is the model's own risk here
    card = json.loads((models / "mi.card.json").read_text())
    assert model_files("mi")["validation"] in card["sha256"]
    again = load_risk_model("mi", models)
    assert again.recalibration is not None and len(again.validation_predictions) == 400
    assert again.recalibration.slope > 0
    # absolute risk now comes from the recalibration; the log-risk itself is unchanged
    lr = again.validation_predictions["log_risk"].to_numpy()[:3]
    assert np.allclose(again.predict_survival_function(lr, [60.0]),
                       again.recalibration.predict_survival_function(lr, [60.0]))
    assert "Independent validation" in (models / "mi.card.md").read_text()


def test_a_tampered_validation_file_is_refused(tmp_path):
    from hfviz.errors import ModelFileError

    models = tmp_path / "models"
    shutil.copytree(ROOT / "models", models)
    model = load_risk_model("mi", models)
    attach_validation("mi", _fake_cohort(tmp_path / "c", 200, 2, model), _fake_cohort(tmp_path / "v", 200, 3, model),
                      models)
    with open(models / "mi_validation.csv", "a") as fh:
        fh.write("x,0,1,0,0,0\n")
    try:
        load_risk_model("mi", models)
    except ModelFileError as exc:
        assert "sha256" in str(exc)
    else:
        raise AssertionError("a modified validation file was accepted")
