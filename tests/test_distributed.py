"""Data-parallel training and scoring under torchrun (gloo, 2 CPU processes) against one process.

Each test launches ``python -m torch.distributed.run --nproc_per_node=2`` once on a tiny
SYNTHETIC set (a few steps), so it runs in CI without a GPU. What is compared:

- training (tests/distributed_driver.py, in float64: its docstring says why): 2 processes x global
  batch 8 vs 1 process x batch 8,
  pretraining (reconstruction + InfoNCE alignment, whole-lead masking) then Cox fine-tuning with the
  official MLP head (BatchNorm1d) and masking. Equal within float tolerance because the global batch
  is the same (strided shards of one permutation), the Cox loss and the alignment are computed on
  gathered global batches, BatchNorm uses global statistics and lead masks are drawn for the global
  batch. Dropout is OFF in this configuration: its per-rank random streams cannot match one
  process's, so with dropout on a data-parallel run is equal in distribution only;
- the ``pretrain`` command: rank 0 alone logs, prints and checkpoints, and a 2-process run resumes a
  1-process checkpoint;
- ``predict``: the merged table of 2 ranks is byte-identical to a single-process run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))


def torchrun(args: list[str], cwd: Path, nproc: int = 2, timeout: int = 300) -> subprocess.CompletedProcess:
    """``python -m torch.distributed.run --standalone --nproc_per_node=nproc ARGS`` with one thread per process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def test_two_gloo_processes_train_like_one_process_on_the_same_global_batch(tmp_path):
    from distributed_driver import run

    proc = torchrun([str(ROOT / "tests" / "distributed_driver.py"), str(tmp_path / "ddp.pt")], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ddp = torch.load(tmp_path / "ddp.pt", weights_only=True)
    one = run(None)
    for stage, keys in (("pretrain", ("recon", "align", "statements")), ("finetune", ("loss", "val_c"))):
        for k in keys:
            np.testing.assert_allclose(ddp[stage][k], one[stage][k], rtol=1e-9, atol=1e-12, err_msg=f"{stage} {k}")
    for which in ("pretrained_weights", "final_weights"):
        assert ddp[which].keys() == one[which].keys()
        for name, w in one[which].items():
            if w.is_floating_point():
                np.testing.assert_allclose(ddp[which][name].numpy(), w.numpy(), rtol=1e-8, atol=1e-10,
                                           err_msg=f"{which} {name}")
            else:
                assert torch.equal(ddp[which][name], w), name
    moved = max(float((one["final_weights"][n] - one["pretrained_weights"][n]).abs().max())
                for n in one["final_weights"] if one["final_weights"][n].is_floating_point())
    assert moved > 1e-3  # the fine-tuning did change the weights: the comparison is not of two idle runs


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    from hfviz.data.dataset import save_dataset
    from hfviz.synthetic.cohorts import generate_cohort

    d = tmp_path_factory.mktemp("corpus") / "pretrain"
    beats, table, meta = generate_cohort("pretrain", n=16, seed=5)
    save_dataset(d, beats, table, meta)
    return d


def test_torchrun_pretrain_resumes_a_checkpoint_and_only_rank_zero_writes_logs_and_files(tiny_corpus, tmp_path, capsys):
    from hfviz.cli import main

    out = tmp_path / "runs" / "ckpt.pt"
    common = ["pretrain", "--corpus", str(tiny_corpus), "--out", str(out), "--batch-size", "8", "--align", "none",
              "--device", "cpu"]
    assert main([*common, "--epochs", "1"]) == 0
    capsys.readouterr()
    proc = torchrun(["-m", "hfviz", *common, "--epochs", "2"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr.count("resumed from ckpt.pt at epoch 1") == 1
    assert proc.stderr.count("pretrain epoch 2/2") == 1 and "pretrain epoch 1/2" not in proc.stderr
    printed = json.loads(proc.stdout)  # one JSON document: rank 1 printed nothing
    assert printed["history"]["epoch"] == [1, 2]
    assert sorted(p.name for p in out.parent.iterdir()) == ["ckpt.pt"]
    state = torch.load(out, weights_only=True)
    assert state["epoch"] == 2 and state["history"]["epoch"] == [1, 2]


def test_cli_pretrain_with_the_statement_term_reads_the_corpus_codes_and_keeps_the_head(tiny_corpus, tmp_path, capsys):
    from hfviz.cli import main

    out = tmp_path / "aux.pt"
    assert main(["pretrain", "--corpus", str(tiny_corpus), "--out", str(out), "--batch-size", "8", "--align", "none",
                 "--device", "cpu", "--epochs", "1", "--statement-weight", "1"]) == 0
    history = json.loads(capsys.readouterr().out)["history"]
    assert len(history["statements"]) == 1 and history["statements"][0] > 0
    state = torch.load(out, weights_only=True)
    assert state["pretrain_config"]["statement_weight"] == 1.0 and "statement_head" in state
    torch.rand(1000)  # whatever the process drew before, the network starts from the seed's weights
    again = tmp_path / "again.pt"
    assert main(["pretrain", "--corpus", str(tiny_corpus), "--out", str(again), "--batch-size", "8", "--align", "none",
                 "--device", "cpu", "--epochs", "1", "--statement-weight", "1"]) == 0
    for name, w in torch.load(again, weights_only=True)["model"].items():
        assert torch.equal(w, state["model"][name]), name


def test_cli_pretrain_on_a_corpus_without_statement_codes_says_so_before_embedding_text(tiny_corpus, tmp_path,
                                                                                       capsys, monkeypatch):
    from hfviz.cli import main
    from hfviz.training import text

    corpus = Path(shutil.copytree(tiny_corpus, tmp_path / "reports-only"))
    table = pd.read_csv(corpus / "cohort.csv")
    table.assign(scp_codes="{}").to_csv(corpus / "cohort.csv", index=False)  # reports, but no statement codes
    monkeypatch.setattr(text, "embed_table", lambda *a, **k: pytest.fail("text embedded before the check"))
    out = tmp_path / "ckpt.pt"
    common = ["pretrain", "--corpus", str(corpus), "--out", str(out), "--batch-size", "8", "--device", "cpu",
              "--epochs", "1"]
    assert main(common) == 2  # the shipped recipe's statement objective is on by default
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "no SCP code in cohort.csv's scp_codes column" in err and "--statement-weight 0" in err
    assert not out.exists()
    assert main([*common, "--statement-weight", "0", "--align", "none"]) == 0 and out.is_file()


def test_torchrun_predict_merges_rank_parts_into_the_single_process_table(tmp_path, capsys):
    from hfviz.cli import main
    from hfviz.synthetic.files import write_ecg_files
    from test_batch_predict import write_tiny_model

    models = write_tiny_model(tmp_path / "models")
    ecgs = tmp_path / "ecgs"
    write_ecg_files(ecgs, 7, seed=2, distinct=7)
    (ecgs / "broken.xml").write_text("<CardiologyXML/>")
    args = ["predict", str(ecgs), "--cohort", "mi", "--models", str(models), "--batch-size", "2"]
    assert main([*args, "--out", str(tmp_path / "single.csv")]) == 2  # the broken file
    capsys.readouterr()
    proc = torchrun(["-m", "hfviz", *args, "--out", str(tmp_path / "ddp.csv")], tmp_path)
    assert proc.returncode != 0 and proc.stderr.count("broken.xml") == 1  # the failure is reported once, by its rank
    assert (tmp_path / "ddp.csv").read_bytes() == (tmp_path / "single.csv").read_bytes()
    assert len(pd.read_csv(tmp_path / "ddp.csv")) == 7
    assert (tmp_path / "ddp.part-0-of-2.csv").is_file() and (tmp_path / "ddp.part-1-of-2.csv").is_file()
