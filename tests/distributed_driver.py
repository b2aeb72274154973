"""A few steps of pretraining (with the auxiliary statement term) then fine-tuning on a tiny SYNTHETIC set, for
tests/test_distributed.py.

Run as ``python -m torch.distributed.run --nproc_per_node=2 tests/distributed_driver.py OUT``
(data-parallel, gloo) or call :func:`run` in one process; rank 0 saves the loss histories and
the final weights to ``OUT`` (``torch.save``). Dropout is off (per-rank RNG streams would differ
from one process); whole-lead masking is on (it is drawn for the global batch, so it matches).

The run is in float64. The data-parallel arithmetic is exact but not bit-identical: BatchNorm's
global statistics are summed over two ranks where one process uses one fused kernel, and this
network amplifies those float32 rounding differences (~1e-7) to ~0.5 % of some gradient entries
after one step (measured; in float64 they stay below 1e-7), which AdamW then carries forward. In
float64 the comparison checks the algorithm, not float32 rounding.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

TINY = dict(block_channels=(4, 8, 8, 8, 8), lead_heads=2, lead_mlp_ratio=1, embed_dim=32, decoder_channels=8,
            dropout=0.0, head_dropout=0.0)


def data(n: int = 40, seed: int = 0):
    """Random model inputs (n, 12, 608), text embeddings (n, 16) with some empty rows, times and events.

    (The statement targets, drawn after these, are :func:`statements`.)
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12, 608))  # float64: see the module docstring
    text = rng.normal(size=(n, 16))
    text[::5] = 0.0  # ECGs without a report
    t = rng.exponential(30.0, n)
    t[::7] = t[1]  # some tied times (Efron)
    e = (rng.random(n) < 0.4).astype(int)
    return x, text, t, e


def statements(n: int = 40, k: int = 5, seed: int = 1) -> np.ndarray:
    """Soft statement targets (n, k) in [0, 1], some of them 0 (statement not in the report)."""
    rng = np.random.default_rng(seed)
    return rng.choice([0.0, 0.35, 0.5, 0.8, 1.0], size=(n, k))


def run(out: str | None, *, risk_head: str = "mlp") -> dict:
    """Pretrain 2 epochs (global batch 8) then fine-tune 2 epochs (global batch 8); return what rank 0 saves."""
    from hfviz.device import is_main
    from hfviz.risk.network import DualAttentionNet, ModelConfig
    from hfviz.training.pretrain import pretrain
    from hfviz.training.train import FinetuneConfig, PretrainConfig, finetune

    torch.set_num_threads(1)
    x, text, t, e = data()
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # see the module docstring
    try:
        torch.manual_seed(0)
        net = DualAttentionNet(ModelConfig(**TINY, risk_head=risk_head))
        hp = pretrain(net, x[:32], text[:32], PretrainConfig(epochs=2, batch_size=8, align="infonce", proj_dim=16,
                                                             statement_weight=0.5),
                      statement_targets=statements()[:32])
        pre_state = {k: v.clone() for k, v in net.state_dict().items()}
        hf = finetune(net, x[:32], t[:32], e[:32], x[32:], t[32:], e[32:],
                      FinetuneConfig(epochs=2, batch_size=8, head_init="none", patience=9, mask_leads=True))
    finally:
        torch.set_default_dtype(before)
    result = {"pretrain": {k: hp[k] for k in ("recon", "align", "statements")}, "finetune": {k: hf[k] for k in ("loss", "val_c")},
              "pretrained_weights": pre_state, "final_weights": net.state_dict()}
    if out and is_main():
        torch.save(result, out)
    return result


if __name__ == "__main__":
    from hfviz.device import distributed_session

    with distributed_session(torch.device("cpu")):
        run(sys.argv[1])
