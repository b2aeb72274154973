"""Tiny stand-in shipped models and synthetic files for the dashboard tests.

The real models in ``models/`` are trained by the project's own command; tests must not depend
on them, so these helpers write small but complete model folders (weights, card with sha256,
held-out predictions, beats) with :func:`hfviz.risk.model.save_risk_model`. Everything here is
synthetic and deterministic.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hfviz.risk.network import DualAttentionNet, ModelConfig, count_parameters
from hfviz.ecg.signal import model_input
from hfviz.risk.model import save_risk_model
from hfviz.risk.survival import breslow_baseline

FS = 500.0


def synthetic_beat(rng: np.random.Generator) -> np.ndarray:
    """A plausible 12-lead median beat (12, 600) mV with the R peak near sample 238."""
    t = np.arange(600) / FS
    amps = np.array([0.8, 1.2, 0.4, -0.9, 0.3, 0.8, -0.6, 0.3, 0.9, 1.5, 1.3, 1.0]) * rng.uniform(0.6, 1.4, 12)
    beat = np.stack([a * np.exp(-((t - 0.476) / 0.014) ** 2)
                     + 0.2 * abs(a) * np.exp(-((t - 0.76) / 0.05) ** 2)
                     + 0.08 * np.exp(-((t - 0.31) / 0.025) ** 2) for a in amps])
    return beat + 0.005 * rng.standard_normal(beat.shape)


def build_model_dir(models_dir: Path, *, cohorts=("mi", "hyp"), n: int = 240, validated=("mi",)) -> Path:
    """Write complete stand-in shipped models for ``cohorts`` into ``models_dir``.

    The cohorts in ``validated`` also get a recalibration and an independent validation cohort
    (:func:`add_validation`), as the shipped MI model has; the others have none.
    """
    models_dir = Path(models_dir)
    for k, cohort in enumerate(cohorts):
        rng = np.random.default_rng(100 + k)
        torch.manual_seed(100 + k)
        net = DualAttentionNet(ModelConfig()).eval()
        beats = np.stack([model_input(synthetic_beat(rng)) for _ in range(n)])  # (n, 12, 608)
        with torch.no_grad():
            lr = net(torch.as_tensor(beats)).log_risk.numpy().astype(float)
        z = (lr - lr.mean()) / (lr.std() + 1e-12)
        time = rng.exponential(400.0 / np.exp(1.2 * z))
        cens = rng.uniform(24.0, 84.0, n)
        event = (time <= cens).astype(int)
        time = np.minimum(time, cens)
        if event.sum() < 5:
            event[np.argsort(-z)[:5]] = 1
        preds = pd.DataFrame({"id": [f"SYN{cohort}{i:04d}" for i in range(n)], "log_risk": lr,
                              "time_months": time, "event": event})
        card = {
            "synthetic": True,
            "training_data": {"source": "SYNTHETIC (test stand-in, random weights)", "n_subjects": n,
                              "n_events": int(event.sum())},
            "intended_use": "Tests of the dashboard only.",
            "limitations": ["Random weights; predictions carry no meaning."],
            "metrics": {"c_index_heldout": "0.600 (95 % CI 0.500-0.700)"},
            "metrics_raw": {"c_index": [0.6, 0.5, 0.7]},
            "comparison": {"scratch": "C 0.580 ± 0.020", "measurement Cox": "C 0.540 ± 0.030"},
            "n_parameters": count_parameters(net),
        }
        save_risk_model(models_dir, cohort, net, baseline=breslow_baseline(time, lr, event), train_log_risk=lr,
                        predictions=preds, card=card, beats=beats[:16])
        if cohort in validated:
            add_validation(models_dir, cohort, seed=200 + k)
    add_statement_reader(models_dir)
    return models_dir


def add_statement_reader(models_dir: Path, *, seed: int = 300) -> dict:
    """A stand-in statement reader (random encoder, projection and statement table; SYNTHETIC)."""
    from hfviz.data.scp import STATEMENTS
    from hfviz.risk.statements import Projection, save_statement_reader
    from hfviz.synthetic.reports import EMITTED_CODES

    torch.manual_seed(seed)
    net = DualAttentionNet(ModelConfig()).eval()
    table = torch.nn.functional.normalize(torch.randn(len(EMITTED_CODES), 128), dim=-1).numpy()
    codes = list(EMITTED_CODES)
    card = {"name": "statement reader (test stand-in, random weights)",
            "zero_shot": {"auroc": {c: 0.5 for c in codes[:3]}}}
    return save_statement_reader(models_dir, net, Projection(net.cfg.embed_dim), codes,
                                 [STATEMENTS[c].description for c in codes], table, card)


def _synthetic_predictions(rng: np.random.Generator, n: int, cohort: str, tag: str) -> pd.DataFrame:
    """SYNTHETIC scored cohort: log-risk, true log-hazards and survival outcomes (months)."""
    true = rng.normal(size=n)
    lr = 0.5 * true + 0.5 * rng.normal(size=n)
    time = rng.exponential(300.0 / np.exp(true))
    cens = rng.uniform(24.0, 84.0, n)
    return pd.DataFrame({"id": [f"SYN-{cohort}-{tag}-{i:05d}" for i in range(n)], "log_risk": lr,
                         "time_months": np.minimum(time, cens), "event": (time <= cens).astype(int),
                         "true_log_hazard": true, "ecg_log_hazard": 0.8 * true})


def add_validation(models_dir: Path, cohort: str, *, seed: int = 0, n: int = 600) -> dict:
    """Give a stand-in model a recalibration and an independent SYNTHETIC validation cohort.

    Writes ``<cohort>_validation.csv`` (checksummed) and the card's ``recalibration`` and
    ``validation`` entries the way :func:`hfviz.training.validation.attach_validation` does,
    from two simulated scored cohorts instead of dataset folders. Returns the card.
    """
    import json

    from hfviz.jsonutil import json_default
    from hfviz.risk.model import load_risk_model, model_files, sha256_file
    from hfviz.training.validation import validation_report

    rng = np.random.default_rng(seed)
    model = load_risk_model(cohort, models_dir)
    cal, val = _synthetic_predictions(rng, n, cohort, "cal"), _synthetic_predictions(rng, n, cohort, "val")
    report = validation_report(model, cal, val)
    names = model_files(cohort)
    val.to_csv(Path(models_dir) / names["validation"], index=False, float_format="%.6g")
    card_path = Path(models_dir) / names["card"]
    card = json.loads(card_path.read_text(encoding="utf-8"))
    card["recalibration"] = report.pop("recalibration")
    card["validation"] = report
    card["sha256"][names["validation"]] = sha256_file(Path(models_dir) / names["validation"])
    card_path.write_text(json.dumps(card, indent=1, default=json_default), encoding="utf-8")
    return card


def wfdb_pair(rng_seed: int = 0, *, record: str = "test01") -> list[tuple[str, bytes]]:
    """A 10-s WFDB record (format 16, mV) as (name, bytes) pairs, written in memory via a temp dir."""
    import tempfile

    import wfdb

    rng = np.random.default_rng(rng_seed)
    beat = synthetic_beat(rng)
    n = int(10 * FS)
    sig = np.zeros((12, n))
    for start in range(100, n - 600, 430):
        sig[:, start:start + 600] += beat - beat[:, :1]
    sig += 0.01 * rng.standard_normal(sig.shape)
    names = ["I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"]
    with tempfile.TemporaryDirectory() as d:
        wfdb.wrsamp(record, fs=FS, units=["mV"] * 12, sig_name=names, p_signal=sig.T, fmt=["16"] * 12,
                    adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=d)
        return [(f"{record}.hea", (Path(d) / f"{record}.hea").read_bytes()),
                (f"{record}.dat", (Path(d) / f"{record}.dat").read_bytes())]


def predictions_csv(n: int = 120, seed: int = 0) -> bytes:
    """A researcher-style predictions CSV (id, risk, time, event) as bytes."""
    rng = np.random.default_rng(seed)
    risk = rng.normal(size=n)
    t = rng.exponential(300.0 / np.exp(risk))
    c = rng.uniform(12, 84, n)
    buf = io.StringIO()
    pd.DataFrame({"id": np.arange(n), "risk": risk, "time": np.minimum(t, c), "event": (t <= c).astype(int)}
                 ).to_csv(buf, index=False)
    return buf.getvalue().encode()
