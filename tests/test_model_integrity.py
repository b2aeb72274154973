"""Model files: weights only (nothing unpickled), sha256 from the card checked before parsing, clear errors.

Tiny SYNTHETIC models are written to temporary folders with :func:`hfviz.risk.model.save_risk_model`.
"Consistent tampering" below means a file is changed and its sha256 in the card updated to
match (someone who can write the model folder can do both): the checksum then passes, and it is
the weights-only loader and the structural checks that must refuse the file.
"""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from hfviz.errors import ModelFileError
from hfviz.risk.network import DualAttentionNet, ModelConfig
from hfviz.risk.model import SHARED_WEIGHTS, load_risk_model, model_files, save_risk_model, share_identical_weights
from hfviz.risk.survival import breslow_baseline
from test_cli_robustness import LEADS12, assert_clean_outcome, run_main
from test_fuzz_readers import _csv_bytes, synthetic_ecg

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
TINY = ModelConfig(block_channels=(4, 8, 8, 8, 8), lead_heads=2, lead_mlp_ratio=1, embed_dim=32, decoder_channels=8)
NAMES = model_files("mi")


def write_tiny_model(d: Path, *, cfg: ModelConfig = TINY, seed: int = 0, cohort: str = "mi") -> Path:
    """A complete shipped-model folder for ``cohort`` with random weights (SYNTHETIC cohort)."""
    torch.manual_seed(seed)
    net = DualAttentionNet(cfg).eval()
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(30, 12, 608)).astype(np.float32)
    with torch.no_grad():
        lr = net(torch.from_numpy(x)).log_risk.numpy().astype(float)
    t = rng.exponential(40, 30)
    e = (rng.random(30) < 0.5).astype(int)
    preds = pd.DataFrame({"id": [f"SYN{i}" for i in range(30)], "log_risk": lr, "time_months": t, "event": e})
    save_risk_model(d, cohort, net, baseline=breslow_baseline(t, lr, e), train_log_risk=lr, predictions=preds,
                    card={"intended_use": "tests only", "training_data": "SYNTHETIC"}, beats=x[:4])
    return d


@pytest.fixture(scope="module")
def template_model(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("template") / "models")


@pytest.fixture()
def model_dir(template_model, tmp_path) -> Path:
    """A fresh copy of the tiny model for each test to damage."""
    return Path(shutil.copytree(template_model, tmp_path / "models"))


def card_of(d: Path) -> dict:
    return json.loads((d / NAMES["card"]).read_text())


def write_card(d: Path, card) -> None:
    (d / NAMES["card"]).write_text(json.dumps(card))


def rehash(d: Path, fname: str) -> None:
    """Consistent tampering: record the file's current sha256 in the card."""
    card = card_of(d)
    card["sha256"][fname] = hashlib.sha256((d / fname).read_bytes()).hexdigest()
    write_card(d, card)


def load_error(d: Path) -> str:
    with pytest.raises(ModelFileError) as info:
        load_risk_model("mi", d)
    msg = str(info.value)
    assert msg and "\n" not in msg
    return msg


class _Trap:
    """Unpickling this creates a marker file: proof that a loader executed code from a model file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


# --- weights only ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["weights", "beats"])
@pytest.mark.parametrize("kind", ["pickle", "torch.save"])
def test_model_file_holding_a_pickle_is_refused_without_running_it(model_dir, tmp_path, role, kind):
    marker = tmp_path / "code-ran"
    payload = {"net.weight": _Trap(marker)}
    path = model_dir / NAMES[role]
    if kind == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    rehash(model_dir, NAMES[role])
    with pytest.raises(ModelFileError) as info:
        load_risk_model("mi", model_dir)
    assert NAMES[role] in str(info.value)
    assert not marker.exists(), "a model file was unpickled"


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            kw = {k.arg: k.value for k in node.keywords}
            yield owner, name, kw, node.lineno


def test_no_code_path_can_unpickle_a_file():
    """torch.load only with weights_only=True; no pickle/joblib loads; np.load never with allow_pickle."""
    files = [*ROOT.glob("hfviz/**/*.py"), *ROOT.glob("pages/*.py"), *ROOT.glob("scripts/*.py"), ROOT / "app.py"]
    bad = []
    for f in files:
        if not f.is_file():
            continue
        for owner, name, kw, line in _calls(ast.parse(f.read_text(encoding="utf-8"))):
            where = f"{f.relative_to(ROOT)}:{line}"
            if owner == "torch" and name == "load":
                wo = kw.get("weights_only")
                if not (isinstance(wo, ast.Constant) and wo.value is True):
                    bad.append(f"{where} torch.load without weights_only=True")
            if owner in ("pickle", "joblib", "dill", "cloudpickle") and name in ("load", "loads"):
                bad.append(f"{where} {owner}.{name}")
            if name == "load" and "allow_pickle" in kw:
                ap = kw["allow_pickle"]
                if not (isinstance(ap, ast.Constant) and ap.value is False):
                    bad.append(f"{where} np.load with allow_pickle")
            if owner == "pd" and name == "read_pickle":
                bad.append(f"{where} pd.read_pickle")
    assert files and not bad, bad


# --- sha256 checked before anything is parsed -----------------------------------------------------


@pytest.mark.parametrize("role", ["weights", "predictions", "beats"])
def test_checksum_is_verified_before_any_file_is_parsed(model_dir, role, monkeypatch):
    import safetensors.numpy
    import safetensors.torch

    parsed = []
    monkeypatch.setattr(safetensors.torch, "load_file", lambda *a, **k: parsed.append(a) or {})
    monkeypatch.setattr(safetensors.numpy, "load_file", lambda *a, **k: parsed.append(a) or {})
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: parsed.append(a) or pd.DataFrame())
    path = model_dir / NAMES[role]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    path.write_bytes(bytes(data))
    msg = load_error(model_dir)
    assert NAMES[role] in msg and "sha256" in msg and "model card" in msg
    assert parsed == [], "a file was parsed before its checksum was checked"


@pytest.mark.parametrize("damage", ["missing", "truncated", "appended"])
@pytest.mark.parametrize("role", ["weights", "predictions", "beats"])
def test_missing_or_changed_file_names_the_file_and_the_problem(model_dir, role, damage):
    path = model_dir / NAMES[role]
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    else:
        path.write_bytes(path.read_bytes() + b"\x00")
    msg = load_error(model_dir)
    assert msg.startswith(NAMES[role])
    assert ("missing" in msg) if damage == "missing" else ("sha256 does not match" in msg)


@pytest.mark.parametrize("damage", ["missing", "truncated", "not json", "a list", "sha256 not a mapping",
                                    "no sha256 for weights", "config of another network"])
def test_damaged_model_card_gives_model_file_error(model_dir, damage):
    card_path = model_dir / NAMES["card"]
    card = card_of(model_dir)
    if damage == "missing":
        card_path.unlink()
    elif damage == "truncated":
        card_path.write_text(card_path.read_text()[:200])
    elif damage == "not json":
        card_path.write_bytes(b"\x89PNG\r\n\x1a\n")
    elif damage == "a list":
        write_card(model_dir, [card])
    elif damage == "sha256 not a mapping":
        card["sha256"] = 12345
        write_card(model_dir, card)
    elif damage == "no sha256 for weights":
        del card["sha256"][NAMES["weights"]]
        write_card(model_dir, card)
    else:
        card["config"]["embed_dim"] = 64
        write_card(model_dir, card)
    msg = load_error(model_dir)
    assert NAMES["card"] in msg or NAMES["weights"] in msg


# --- consistent tampering: the checksum passes, the structure must not ------------------------------


def _safetensors_bytes(tensors: dict[str, torch.Tensor]) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in tensors.items()})


@pytest.mark.parametrize("damage", ["truncated", "header length 2**62", "weights of another network",
                                    "a tensor missing", "an extra tensor", "NaN weights", "empty file"])
def test_consistently_tampered_weights_are_refused(model_dir, damage):
    from safetensors.torch import load_file

    path = model_dir / NAMES["weights"]
    state = load_file(str(path))
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:5000])
    elif damage == "header length 2**62":
        path.write_bytes((2**62).to_bytes(8, "little") + path.read_bytes()[8:])
    elif damage == "weights of another network":
        other = DualAttentionNet(ModelConfig(block_channels=(4, 8, 8, 8, 16), lead_heads=2, lead_mlp_ratio=1,
                                             embed_dim=32, decoder_channels=8))
        path.write_bytes(_safetensors_bytes(other.state_dict()))
    elif damage == "a tensor missing":
        state.pop(sorted(state)[0])
        path.write_bytes(_safetensors_bytes(state))
    elif damage == "an extra tensor":
        state["backdoor.weight"] = torch.zeros(3)
        path.write_bytes(_safetensors_bytes(state))
    elif damage == "NaN weights":
        key = next(k for k, v in state.items() if v.is_floating_point() and v.numel() > 1)
        state[key] = torch.full_like(state[key], float("nan"))
        path.write_bytes(_safetensors_bytes(state))
    else:
        path.write_bytes(b"")
    rehash(model_dir, NAMES["weights"])
    msg = load_error(model_dir)
    assert msg.startswith(NAMES["weights"]) and "cannot be loaded" in msg


@pytest.mark.parametrize("damage", ["no beats entry", "predictions without log_risk", "empty risk distribution"])
def test_consistently_tampered_tables_are_refused(model_dir, damage):
    from safetensors.numpy import save_file

    if damage == "no beats entry":
        save_file({"other": np.zeros((2, 12, 608), dtype=np.float16)}, str(model_dir / NAMES["beats"]))
        rehash(model_dir, NAMES["beats"])
    elif damage == "predictions without log_risk":
        p = pd.read_csv(model_dir / NAMES["predictions"]).drop(columns="log_risk")
        p.to_csv(model_dir / NAMES["predictions"], index=False)
        rehash(model_dir, NAMES["predictions"])
    else:
        card = card_of(model_dir)
        card["risk_distribution"] = []
        write_card(model_dir, card)
    load_error(model_dir)


def test_intact_model_loads_read_only(model_dir):
    rm = load_risk_model("mi", model_dir)
    assert not rm.net.training and not any(p.requires_grad for p in rm.net.parameters())
    assert set(rm.card["sha256"]) == {NAMES["weights"], NAMES["predictions"], NAMES["beats"]}


# --- the command line and the app ---------------------------------------------------------------


def _good_csv(tmp_path: Path) -> Path:
    p = tmp_path / "synthetic.csv"
    p.write_bytes(_csv_bytes(synthetic_ecg(seconds=10.0), LEADS12, time_col=500.0))
    return p


@pytest.mark.parametrize("damage", ["no model folder", "weights missing", "weights truncated", "weights tampered",
                                    "card not json"])
def test_predict_with_a_bad_model_exits_2_with_one_error_line(model_dir, tmp_path, capsys, damage):
    w = model_dir / NAMES["weights"]
    folder = model_dir
    if damage == "no model folder":
        folder = tmp_path / "nowhere"
    elif damage == "weights missing":
        w.unlink()
    elif damage == "weights truncated":
        w.write_bytes(w.read_bytes()[:1000])
    elif damage == "weights tampered":
        data = bytearray(w.read_bytes())
        data[-10] ^= 0xFF
        w.write_bytes(bytes(data))
    else:
        (model_dir / NAMES["card"]).write_text("{")
    code, out, err = run_main(["predict", str(_good_csv(tmp_path)), "--cohort", "mi", "--models", str(folder)],
                              capsys)
    assert assert_clean_outcome(code, out, err) == "error"
    assert "mi." in err


def test_predict_with_an_intact_model_scores_the_ecg(model_dir, tmp_path, capsys):
    code, out, err = run_main(["predict", str(_good_csv(tmp_path)), "--cohort", "mi", "--models", str(model_dir),
                               "--json"], capsys)
    assert code == 0 and err == ""
    assert len(json.loads(out)["results"]) == 1


def test_predict_with_a_tampered_model_in_a_real_process(model_dir, tmp_path):
    import subprocess
    import sys

    w = model_dir / NAMES["weights"]
    w.write_bytes(w.read_bytes()[:-1])
    proc = subprocess.run([sys.executable, "-m", "hfviz", "predict", str(_good_csv(tmp_path)), "--cohort", "mi",
                           "--models", str(model_dir)], capture_output=True, text=True, cwd=tmp_path, timeout=180,
                          env={**__import__("os").environ, "PYTHONPATH": str(ROOT)})
    assert assert_clean_outcome(proc.returncode, proc.stdout, proc.stderr) == "error"
    assert "sha256" in proc.stderr


def test_app_with_a_tampered_model_shows_one_sentence_and_no_traceback(model_dir, monkeypatch):
    pytest.importorskip("streamlit")
    from streamlit.testing.v1 import AppTest

    from hfviz.dashboard import ui

    if not (ROOT / "pages" / "1_Patient.py").is_file():
        pytest.skip("the Patient page does not exist yet")
    w = model_dir / NAMES["weights"]
    data = bytearray(w.read_bytes())
    data[-1] ^= 0x01
    w.write_bytes(bytes(data))
    monkeypatch.setenv(ui.MODELS_DIR_ENV, str(model_dir))
    at = AppTest.from_file(str(ROOT / "pages" / "1_Patient.py"), default_timeout=120).run()
    files = [(n, _csv_bytes(synthetic_ecg(seconds=10.0), LEADS12, time_col=500.0), "text/csv")
             for n in ["synthetic.csv"]]
    at.file_uploader(key=ui.K_UPLOAD).set_value(files).run()
    assert not at.exception, at.exception
    errors = [e.value for e in at.error]
    assert any("sha256" in e and NAMES["weights"] in e for e in errors), errors
    assert not at.metric, "a risk was shown from a model that failed its checksum"


def test_identical_networks_are_stored_once_and_both_models_load_them(tmp_path):
    d = write_tiny_model(write_tiny_model(tmp_path / "m", seed=0, cohort="mi"), seed=0, cohort="hyp")
    assert share_identical_weights(d)
    assert sorted(p.name for p in d.glob("*.safetensors") if "beats" not in p.name) == [SHARED_WEIGHTS]
    mi, hyp = load_risk_model("mi", d), load_risk_model("hyp", d)
    for a, b in zip(mi.net.state_dict().values(), hyp.net.state_dict().values()):
        assert torch.equal(a, b)
    assert mi.card["files"]["weights"] == SHARED_WEIGHTS and SHARED_WEIGHTS in mi.card["sha256"]
    assert "mi.safetensors" not in mi.card["sha256"] and SHARED_WEIGHTS in (d / "hyp.card.md").read_text()
    data = bytearray((d / SHARED_WEIGHTS).read_bytes())
    data[-1] ^= 0x01
    (d / SHARED_WEIGHTS).write_bytes(bytes(data))
    for cohort in ("mi", "hyp"):  # one damaged file: both models refuse to load
        with pytest.raises(ModelFileError, match="sha256 does not match"):
            load_risk_model(cohort, d)


def test_different_networks_keep_their_own_files_and_a_stale_shared_file_goes(tmp_path):
    d = write_tiny_model(write_tiny_model(tmp_path / "m", seed=0, cohort="mi"), seed=0, cohort="hyp")
    assert share_identical_weights(d)
    write_tiny_model(d, seed=1, cohort="hyp")  # hyp retrained alone: its own file again, mi still on the shared one
    assert not share_identical_weights(d)
    assert sorted(p.name for p in d.glob("*.safetensors") if "beats" not in p.name) == ["hyp.safetensors",
                                                                                        "mi.safetensors"]
    assert load_risk_model("mi", d).card["files"]["weights"] == "mi.safetensors"
    assert load_risk_model("hyp", d).card["files"]["weights"] == "hyp.safetensors"


@pytest.mark.parametrize("name", ["../mi.safetensors", "/etc/passwd", "mi.pt", 7])
def test_a_card_naming_a_weights_file_outside_its_folder_or_not_safetensors_is_refused(model_dir, name):
    card = card_of(model_dir)
    card["files"]["weights"] = name
    write_card(model_dir, card)
    assert "model card is unreadable or incomplete" in load_error(model_dir)
