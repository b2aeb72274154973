"""Tests of the shipped-model API (hfviz.risk) on a tiny model written to a tmp dir."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from hfviz.errors import ECGFormatError, ModelFileError
from hfviz.risk.network import DualAttentionNet, ModelConfig
from hfviz.risk.model import load_risk_model, model_files, save_risk_model
from hfviz.risk.survival import breslow_baseline

torch.set_num_threads(1)
TINY = ModelConfig(block_channels=(4, 8, 8, 8, 8), lead_heads=2, lead_mlp_ratio=1, embed_dim=32, decoder_channels=8)


@pytest.fixture()
def shipped(tmp_path):
    torch.manual_seed(0)
    net = DualAttentionNet(TINY)
    net.train()
    with torch.no_grad():
        net(torch.randn(8, 12, 608))  # non-trivial BatchNorm statistics
    net.eval()
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 12, 608)).astype(np.float32)
    with torch.no_grad():
        lr = net(torch.from_numpy(x)).log_risk.numpy()
    t = rng.exponential(40, 40)
    e = (rng.random(40) < 0.5).astype(int)
    preds = pd.DataFrame({"id": np.arange(40), "log_risk": lr, "time_months": t, "event": e})
    save_risk_model(
        tmp_path, "mi", net, baseline=breslow_baseline(t, lr, e), train_log_risk=lr, predictions=preds,
        card={"intended_use": "test"}, beats=x[:4],
    )
    return tmp_path, net, x


def test_round_trip_gives_identical_predictions(shipped):
    d, net, x = shipped
    rm = load_risk_model("mi", d)
    with torch.no_grad():
        ref = net(torch.from_numpy(x[:5])).log_risk.numpy()
    np.testing.assert_array_equal(rm.predict_log_risk(x[:5]), ref)
    assert rm.cohort_beats.shape == (4, 12, 608)
    assert list(rm.cohort_predictions.columns) == ["id", "log_risk", "time_months", "event"]


def test_survival_and_percentiles_are_well_formed(shipped):
    d, _, x = shipped
    rm = load_risk_model("mi", d)
    lr = rm.predict_log_risk(x[:3])
    s = rm.predict_survival_function(lr, [0, 12, 36, 60, 120])
    assert s.shape == (3, 5) and ((s >= 0) & (s <= 1)).all() and (np.diff(s, axis=1) <= 0).all()
    assert rm.percentile(rm.risk_distribution[-1] + 1) == 100.0
    assert rm.percentile(rm.risk_distribution[0] - 1) == 0.0
    assert rm.risk_group(rm.risk_distribution[-1] + 1) == "high"
    assert rm.risk_group(rm.risk_distribution[0] - 1, scheme="quartiles") == "Q1 (lowest)"
    assert rm.risk_group(np.array([rm.risk_distribution[-1] + 1]), scheme="top_k") == ["top 10%"]


def test_tampered_weights_raise_model_file_error(shipped):
    d, _, _ = shipped
    w = d / model_files("mi")["weights"]
    data = bytearray(w.read_bytes())
    data[-1] ^= 0xFF
    w.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        load_risk_model("mi", d)


@pytest.mark.parametrize("role", ["weights", "predictions", "card"])
def test_missing_or_truncated_file_raises_model_file_error(shipped, role):
    d, _, _ = shipped
    p = d / model_files("mi")[role]
    p.write_bytes(p.read_bytes()[:20])
    with pytest.raises(ModelFileError):
        load_risk_model("mi", d)
    p.unlink()
    with pytest.raises(ModelFileError):
        load_risk_model("mi", d)


def test_card_records_checksums_and_everything_prediction_needs(shipped):
    d, _, _ = shipped
    card = json.loads((d / "mi.card.json").read_text())
    assert {"config", "preprocessing", "baseline", "risk_distribution", "sha256"} <= set(card)
    assert set(card["sha256"]) == {"mi.safetensors", "mi_predictions.csv", "mi_beats.safetensors"}


def test_bad_input_shape_raises_ecg_format_error(shipped):
    d, _, _ = shipped
    rm = load_risk_model("mi", d)
    with pytest.raises(ECGFormatError):
        rm.predict_log_risk(np.zeros((2, 12, 500), np.float32))


def test_unknown_cohort_raises_model_file_error(tmp_path):
    with pytest.raises(ModelFileError):
        load_risk_model("xyz", tmp_path)


def test_predict_command_scores_good_files_and_reports_bad_ones(shipped, tmp_path, capsys):
    from hfviz.cli import main
    from hfviz.ecg.record import LEADS

    d, _, _ = shipped
    t = np.arange(5000) / 500.0
    phase = t % 0.8
    beat = np.exp(-((phase - 0.3) / 0.012) ** 2) + 0.25 * np.exp(-((phase - 0.55) / 0.05) ** 2)
    sig = np.outer(np.linspace(0.5, 1.5, 12), beat)  # (12, 5000) mV, SYNTHETIC
    good = tmp_path / "synthetic.csv"
    good.write_text("\n".join([",".join(LEADS)] + [",".join(f"{v:.4f}" for v in sig[:, j]) for j in range(5000)]))
    bad = tmp_path / "broken.csv"
    bad.write_text("not,an\necg,file\n")
    code = main(["predict", str(good), str(bad), "--cohort", "mi", "--models", str(d), "--fs", "500", "--units", "mV", "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    res = json.loads(out)["results"]
    assert len(res) == 1 and res[0]["file"].endswith("synthetic.csv")
    assert 0 <= res[0]["percentile"] <= 100 and 1 >= res[0]["s_12m"] >= res[0]["s_36m"] >= res[0]["s_60m"] >= 0
    assert err.count("error:") == 1 and err.count("broken.csv") == 1
