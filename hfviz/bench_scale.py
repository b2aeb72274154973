"""Scale benchmark (``python -m hfviz bench --only scale``): cohort scoring and data-parallel training throughput.

- scoring: ``n`` SYNTHETIC ECG files written in real formats (half GE CardioSoft XML, half WFDB
  format 16; :mod:`hfviz.synthetic.files`) scored end to end by :func:`hfviz.risk.batch.run_batch`
  (read + prepare in ``workers`` processes, model in batches, CSV streamed), with 1 and 2 workers;
- training: pretraining samples per second of the default network with 1 and 2 gloo processes
  launched by ``torch.distributed.run`` (same global batch), on random inputs of the real shape.

Each configuration runs once (they are long); figures are what this machine gave, not targets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bench_scoring(*, n: int = 2000, workers=(1, 2), cohort: str = "hyp", models_dir: str | None = None) -> dict:
    """ECGs per second scoring ``n`` real-format SYNTHETIC files with each worker count in ``workers``."""
    from hfviz.risk.batch import collect_sources, run_batch
    from hfviz.risk.model import load_risk_model
    from hfviz.synthetic.files import write_ecg_files

    model = load_risk_model(cohort, models_dir)
    out: dict = {"n_files": n, "formats": "half GE CardioSoft XML (5 uV/LSB), half WFDB format 16 (.hea + .dat)",
                 "model": f"shipped {cohort} model, CPU, 1 torch thread in the scoring process", "runs": {}}
    with tempfile.TemporaryDirectory(prefix="hfviz-scale-") as tmp:
        t0 = time.perf_counter()
        write_ecg_files(Path(tmp) / "ecgs", n, seed=0)
        out["write_files_s"] = round(time.perf_counter() - t0, 1)
        sources = collect_sources([str(Path(tmp) / "ecgs")])
        for w in workers:
            rep = run_batch(model, Path(tmp) / f"scores_{w}.csv", sources=sources, workers=w)
            out["runs"][f"workers_{w}"] = {"seconds": round(rep.seconds, 1), "scored": rep.scored,
                                           "failed": len(rep.failures),
                                           "ecgs_per_s": round(rep.scored / rep.seconds, 1)}
    return out


def _train_worker(n: int, batch: int, epochs: int) -> None:
    """Body of one training process (run under torch.distributed.run): rank 0 prints the timing JSON."""
    import numpy as np
    import torch

    from hfviz.device import distributed_session, is_main, rank_world
    from hfviz.risk.network import DualAttentionNet, ModelConfig
    from hfviz.training.config import PretrainConfig
    from hfviz.training.pretrain import pretrain

    torch.set_num_threads(1)
    with distributed_session(torch.device("cpu")):
        x = np.random.default_rng(0).normal(size=(n, 12, 608)).astype(np.float32)
        torch.manual_seed(0)
        hist = pretrain(DualAttentionNet(ModelConfig()), x, None,
                        PretrainConfig(epochs=epochs, batch_size=batch, align="none"))
        if is_main():
            steps = n // batch
            later = hist["seconds"][1:] or hist["seconds"]  # the first epoch includes warm-up
            print(json.dumps({"processes": rank_world()[1], "global_batch": batch, "steps_per_epoch": steps,
                              "epoch_seconds": [round(s, 2) for s in hist["seconds"]],
                              "samples_per_s": round(steps * batch / (sum(later) / len(later)), 1)}))


def bench_training(*, n: int = 256, batch: int = 32, epochs: int = 3, processes=(1, 2)) -> dict:
    """Pretraining samples/s (reconstruction only, default network) with 1 and 2 gloo processes on CPU."""
    out: dict = {"inputs": f"{n} random normalised inputs (12 x 608), global batch {batch}, {epochs} epochs; "
                           "samples/s over the epochs after the first", "runs": {}}
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for k in processes:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={k}",
               "-m", "hfviz.bench_scale", "train-worker", str(n), str(batch), str(epochs)]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            out["runs"][f"processes_{k}"] = {"error": proc.stderr.strip().splitlines()[-1:]}
            continue
        out["runs"][f"processes_{k}"] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def bench_scale() -> dict:
    """Both scale benchmarks, with the machine's CPU count (the figures depend on how busy it is)."""
    return {"cpus": os.cpu_count(), "scoring": bench_scoring(), "training": bench_training()}


if __name__ == "__main__" and len(sys.argv) == 5 and sys.argv[1] == "train-worker":
    _train_worker(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
