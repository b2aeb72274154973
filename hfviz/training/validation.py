"""Independent validation of a shipped model: recalibrate its absolute risk, score a validation cohort.

Two SYNTHETIC cohorts the model never saw, simulated with seeds used neither for training (0)
nor for development (1) nor for the CV protocol:

- a **calibration cohort** (seed 2): the model's log-risk scale and Breslow baseline are
  re-estimated on it (:func:`hfviz.risk.calibration.fit_recalibration`);
- a **validation cohort** (seed 3): C-index (with the oracle C of the true log-hazard beside
  it), calibration slope, calibration-in-the-large and ICI at 12/36/60 months before and after
  recalibration. Its predictions (id, log-risk, time, event, true log-hazards) are shipped with
  the model so the dashboard's Cohort page can plot it.

The CV test folds are never read here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from hfviz.data.dataset import load_dataset
from hfviz.jsonutil import json_default
from hfviz.risk import survival as sv
from hfviz.risk.calibration import CALIBRATION_TIMES, calibration_metrics, fit_recalibration
from hfviz.risk.model import card_markdown, load_risk_model, model_files, sha256_file, validation_markdown
from hfviz.training.fidelity import replace_markdown_section
from hfviz.training.train import normalise_beats

#: Columns of the shipped validation predictions.
VALIDATION_COLUMNS = ("id", "log_risk", "time_months", "event", "true_log_hazard", "ecg_log_hazard")


def score_dataset(model, directory: str | Path, *, batch: int = 256) -> pd.DataFrame:
    """Log-risk of every ECG of a dataset folder with a loaded model.

    Returns
    -------
    DataFrame
        ``id``, ``log_risk`` and every outcome / truth column the dataset has among
        :data:`VALIDATION_COLUMNS`.
    """
    ds = load_dataset(directory)
    lr = np.concatenate([model.predict_log_risk(normalise_beats(ds.beats[i:i + batch]))
                         for i in range(0, len(ds.beats), batch)])
    out = pd.DataFrame({"id": ds.table["id"].astype(str), "log_risk": np.round(lr, 6)})
    for col in VALIDATION_COLUMNS[2:]:
        if col in ds.table:
            out[col] = ds.table[col].to_numpy()
    return out


def _c_index(df: pd.DataFrame, col: str) -> float:
    return float(sv.concordance_index(df["time_months"], df[col], df["event"]))


def validation_report(model, calibration: pd.DataFrame, validation: pd.DataFrame) -> dict:
    """Recalibrate on ``calibration`` and measure discrimination and calibration on ``validation``.

    Parameters
    ----------
    model : RiskModel
        The shipped model (its own Breslow baseline gives the "before" figures).
    calibration, validation : DataFrame
        :func:`score_dataset` outputs of two independent cohorts.

    Returns
    -------
    dict
        ``recalibration`` (card form), ``before`` / ``after`` calibration metrics, C-indices and
        cohort sizes — everything in JSON-safe form.
    """
    recal = fit_recalibration(calibration["log_risk"], calibration["time_months"], calibration["event"])
    v = validation
    c, lo, hi = sv.bootstrap_ci(sv.concordance_index, v["time_months"], v["log_risk"], v["event"])
    report = {
        "recalibration": recal.to_dict(),
        "calibration_cohort": {"n": int(len(calibration)), "events": int(calibration["event"].sum()), "seed": 2},
        "validation_cohort": {"n": int(len(v)), "events": int(v["event"].sum()), "seed": 3},
        "c_index": c,
        "c_index_ci": [lo, hi],
        "oracle_c_index": _c_index(v, "true_log_hazard") if "true_log_hazard" in v else None,
        "oracle_c_index_ecg_part": _c_index(v, "ecg_log_hazard") if "ecg_log_hazard" in v else None,
        "before": calibration_metrics(model.baseline.predict_survival_function, v["log_risk"], v["time_months"],
                                      v["event"], times=CALIBRATION_TIMES),
        "after": calibration_metrics(recal.predict_survival_function, v["log_risk"], v["time_months"], v["event"],
                                     times=CALIBRATION_TIMES),
    }
    surv60 = recal.predict_survival_function(v["log_risk"], [60.0])[:, 0]
    report["calibration_table_60m"] = sv.calibration_table(v["time_months"], v["event"], surv60, t=60.0).to_dict("list")
    return report


def attach_validation(cohort: str, calibration_dir: str | Path, validation_dir: str | Path,
                      models_dir: str | Path = "models") -> dict:
    """Score both cohorts with the shipped model, write its validation predictions and card entries.

    Writes ``models/<cohort>_validation.csv`` (checksummed in the card) and adds
    ``recalibration`` and ``validation`` to ``models/<cohort>.card.json`` (the weights and other
    files are untouched). Returns the validation report.
    """
    d = Path(models_dir)
    model = load_risk_model(cohort, d)
    cal, val = score_dataset(model, calibration_dir), score_dataset(model, validation_dir)
    report = validation_report(model, cal, val)
    names = model_files(cohort)
    val.to_csv(d / names["validation"], index=False, float_format="%.6g")
    card_path = d / names["card"]
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["recalibration"] = report.pop("recalibration")
    card["validation"] = report
    card["sha256"][names["validation"]] = sha256_file(d / names["validation"])
    card_path.write_text(json.dumps(card, indent=1, default=json_default), encoding="utf-8")
    (d / names["card_md"]).write_text(card_markdown(card), encoding="utf-8")
    ev = d / "evaluation.md"
    if ev.is_file():
        ev.write_text(replace_markdown_section(ev.read_text(encoding="utf-8"), _section_heading(cohort),
                                               validation_section(cohort, card, calibration_dir, validation_dir)),
                      encoding="utf-8")
    return report


def _section_heading(cohort: str) -> str:
    return f"## {cohort.upper()}-like model: independent validation and calibration (SYNTHETIC)"


def validation_section(cohort: str, card: dict, calibration_dir: str | Path, validation_dir: str | Path) -> str:
    """The ``evaluation.md`` section of one model's validation: the card's table and the command that made it."""
    lines = validation_markdown(card)[1:]  # the card's own heading replaced by the section's
    return "\n".join([_section_heading(cohort), *lines,
                      f"Made by `python -m hfviz validate --cohort {cohort} --calibration {calibration_dir} "
                      f"--validation {validation_dir}` (the cohorts: `python -m hfviz simulate --preset {cohort} "
                      f"--n N --seed 2|3 --out DIR`).", ""])
