"""What the model reads in an ECG: the statement reader, its build from a checkpoint, and ``describe``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from dashboard_fixtures import add_statement_reader, wfdb_pair
from hfviz.cli import main
from hfviz.data.scp import statement_prompt
from hfviz.errors import ModelFileError
from hfviz.risk.network import DualAttentionNet, ModelConfig
from hfviz.risk.statements import READER_WEIGHTS, load_statement_reader
from hfviz.training.config import PretrainConfig
from hfviz.training.pretrain import pretrain
from hfviz.training.statement_table import reader_from_checkpoint, zero_shot_auroc

ROOT = Path(__file__).resolve().parents[1]
TINY = ModelConfig(block_channels=(4, 8, 8, 8, 8), lead_heads=2, lead_mlp_ratio=1, embed_dim=32,
                   decoder_channels=8, dropout=0.0, head_dropout=0.0, risk_hidden=8)


def _fake_encode(texts: list[str]) -> np.ndarray:
    """A deterministic stand-in for the sentence encoder: 16-d vectors seeded by each text."""
    return np.stack([np.random.default_rng(int(hashlib.sha256(t.encode()).hexdigest()[:8], 16)).normal(size=16)
                     for t in texts]).astype(np.float32)


def _checkpoint(tmp_path: Path, align: str = "infonce") -> tuple[Path, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(16, 12, 608)).astype(np.float32)
    text = _fake_encode([statement_prompt(c) for c in ["NORM", "AFIB", "CLBBB", "LVH"] * 4])
    ck = tmp_path / f"{align}.pt"
    pretrain(DualAttentionNet(TINY), x, text if align != "none" else None,
             PretrainConfig(epochs=1, batch_size=8, align=align), checkpoint=ck)
    return ck, x


def test_reader_scores_are_the_cosine_of_projected_ecg_and_statement_and_survive_saving(tmp_path):
    ck, x = _checkpoint(tmp_path)
    reader = reader_from_checkpoint(ck, codes=["NORM", "AFIB", "CLBBB"], encode=_fake_encode)
    s = reader.scores(x[:3])
    assert s.shape == (3, 3) and np.all(np.abs(s) <= 1 + 1e-6)
    e = reader.embed(x[:3])
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    np.testing.assert_allclose(s, e @ reader.table.T, atol=1e-6)
    top = reader.top(x[0], k=2)
    assert [t.score for t in top] == sorted((t.score for t in top), reverse=True) and len(top) == 2
    assert top[0].text in {"normal ECG", "atrial fibrillation", "complete left bundle branch block"}
    from hfviz.risk.statements import save_statement_reader

    save_statement_reader(tmp_path / "m", reader.net, reader.proj_e, reader.codes, reader.texts, reader.table, {})
    loaded = load_statement_reader(tmp_path / "m")
    assert loaded.card["synthetic"] is True and loaded.codes == reader.codes
    np.testing.assert_allclose(loaded.scores(x[:3]), s, atol=0.02)  # the encoder ships as float16


def test_a_checkpoint_pretrained_without_text_cannot_build_a_reader(tmp_path):
    ck, _ = _checkpoint(tmp_path, "none")
    with pytest.raises(ValueError, match="without text alignment"):
        reader_from_checkpoint(ck, encode=_fake_encode)


def test_a_tampered_reader_file_is_refused_by_its_checksum(tmp_path):
    add_statement_reader(tmp_path)
    load_statement_reader(tmp_path)
    data = bytearray((tmp_path / READER_WEIGHTS).read_bytes())
    data[-10] ^= 0xFF
    (tmp_path / READER_WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        load_statement_reader(tmp_path)
    with pytest.raises(ModelFileError, match="reader.card.json"):
        load_statement_reader(tmp_path / "nowhere")


def test_zero_shot_auroc_is_one_when_the_scores_separate_the_labels_and_skips_rare_statements():
    class Fixed:
        codes = ["AFIB", "CLBBB"]

        def scores(self, x):
            return np.stack([x[:, 0, 0], -x[:, 0, 0]], axis=1)

    x = np.zeros((60, 12, 608), np.float32)
    x[:30, 0, 0] = 1.0
    table = pd.DataFrame({"scp_codes": [json.dumps({"AFIB": 100.0})] * 30 + ["{}"] * 25
                          + [json.dumps({"CLBBB": 100.0})] * 5})
    res = zero_shot_auroc(Fixed(), x, table)
    assert res["auroc"] == {"AFIB": 1.0} and res["positives"] == {"AFIB": 30}  # CLBBB: 5 cases < 20
    assert res["macro_auroc"] == 1.0 and res["ecgs"] == 60


def test_describe_prints_the_top_statements_per_ecg_as_json_and_names_a_bad_file(tmp_path, capsys):
    add_statement_reader(tmp_path / "models")
    files = []
    for name, data in wfdb_pair(3, record="desc1"):
        (tmp_path / name).write_bytes(data)
        files.append(str(tmp_path / name))
    (tmp_path / "junk.xml").write_bytes(b"not an ecg")
    rc = main(["describe", *files, str(tmp_path / "junk.xml"), "--top", "3", "--json", "--models", str(tmp_path / "models")])
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    assert rc == 2 and "junk.xml" in captured.err  # one file was bad; the others are still described
    assert out["synthetic_model"] is True and len(out["results"]) == 1
    r = out["results"][0]
    assert r["file"].endswith("desc1.hea") and len(r["statements"]) == 3
    assert set(r["statements"][0]) >= {"code", "text", "score"}
    scores = [s["score"] for s in r["statements"]]
    assert scores == sorted(scores, reverse=True)
    rc = main(["describe", str(tmp_path / "junk.xml"), "--models", str(tmp_path / "models")])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error: junk.xml") and "Traceback" not in err


def test_the_shipped_reader_reads_the_bundled_examples_as_what_they_are():
    """The shipped encoder names each bundled example's defining statement among the five the page shows."""
    if not (ROOT / "models" / READER_WEIGHTS).is_file():
        pytest.skip("models/reader.safetensors not built (python -m hfviz build-reader)")
    from hfviz.risk.assess import prepare_source

    reader = load_statement_reader()
    expected = {"synthetic_lbbb": "CLBBB", "synthetic_af": "AFIB", "synthetic_normal": "NORM",
                "synthetic_lvh": "LVH", "synthetic_anterior_mi": "AMI", "synthetic_long_qt": "LNGQT"}
    missed = {}
    for stem, code in expected.items():
        prepared = prepare_source(str(ROOT / "examples" / f"{stem}.hea"))
        top = [s.code for s in reader.top(prepared.model_input, 5)]
        if code not in top:
            missed[stem] = top
    assert not missed, missed


def test_the_shipped_model_files_stay_under_20_mb_in_total():
    total = sum(f.stat().st_size for f in (ROOT / "models").iterdir() if f.is_file())
    assert total < 20e6, f"models/ holds {total / 1e6:.1f} MB"
