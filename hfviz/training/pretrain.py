"""Pretraining: reconstruction + ECG-text alignment, single-process or data-parallel under torchrun.

:func:`pretrain` takes normalised model inputs ``x`` (N, 12, 608) float32 and optional text
embeddings, uses AdamW with a linear warm-up + cosine schedule and writes a resumable checkpoint
every epoch (rank 0 only in a process group). Shared helpers (masking, schedule, progress) are in
:mod:`hfviz.training.train`, which also re-exports this module's public names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hfviz.device import autocast, check_precision, is_main, place, rank_world, sum_over_ranks
from hfviz.jsonutil import plain_dict
from hfviz.risk.network import DualAttentionNet, ModelConfig
from hfviz.risk.statements import Projection
from hfviz.training.config import PretrainConfig
from hfviz.training.distributed import (
    check_global_batch,
    full_precision,
    gather_rows,
    is_distributed,
    restore_batchnorm,
    shard,
    shard_mse,
    use_global_batchnorm,
    wrap_ddp,
)
from hfviz.training.train import _log_main, _progress, lead_keep_mask, warmup_cosine


#: Temperature of the soft targets of ``align="soft"``, over cosines of the frozen text embeddings.
#: Fixed a priori (MiniLM cosines of different statement sets lie ~0.05-0.3 apart), not tuned.
SOFT_TARGET_TEMPERATURE = 0.05


def alignment_loss(e: torch.Tensor, t: torch.Tensor, kind: str, temperature: float = 0.1,
                   text: torch.Tensor | None = None) -> torch.Tensor:
    """ECG-text alignment between projected ECG ``e`` (B, d) and text ``t`` (B, d).

    ``"cosine"``: mean (1 - cos(e_i, t_i)) over positive pairs (the authors' loss).
    ``"infonce"``: symmetric CLIP cross-entropy; rows whose texts are identical count as
    positives of each other (templated reports repeat), with the target mass split among them.
    ``"soft"``: the same cross-entropy with label-aware soft targets,
    ``softmax_j(cos(text_i, text_j) / SOFT_TARGET_TEMPERATURE)`` over the frozen text
    embeddings ``text`` (B, D): an ECG whose statements nearly match another's (same findings,
    other likelihoods or wording) is no longer a full negative of it.
    """
    if kind == "cosine":
        return (1 - F.cosine_similarity(e, t, dim=-1)).mean()
    if kind not in ("infonce", "soft"):
        raise ValueError(f"unknown alignment {kind!r}")
    en, tn = F.normalize(e, dim=-1), F.normalize(t, dim=-1)
    logits = en @ tn.T / temperature  # (B, B)
    if kind == "soft":
        if text is None:
            raise ValueError('align="soft" needs the frozen text embeddings')
        raw = F.normalize(text, dim=-1)
        target = (raw @ raw.T / SOFT_TARGET_TEMPERATURE).softmax(1)  # symmetric similarity: rows = columns
    else:
        same = (tn @ tn.T > 0.9999).float()  # (B, B) identical texts are positives
        target = same / same.sum(1, keepdim=True)
    return 0.5 * (-(target * logits.log_softmax(1)).sum(1).mean() - (target * logits.log_softmax(0)).sum(0).mean())


@dataclass
class _Pretraining:
    """What one pretraining run updates: the network, both projections, optimiser, schedule and RNG."""

    net: DualAttentionNet
    proj_e: Projection
    proj_t: Projection | None  # None without alignment
    opt: torch.optim.Optimizer
    sched: torch.optim.lr_scheduler.LambdaLR
    gen: torch.Generator
    statement_head: nn.Linear | None = None  # None without the auxiliary statement objective

    def load(self, state: dict) -> None:
        """Restore from a checkpoint dict written by :meth:`state`."""
        self.net.load_state_dict(state["model"])
        self.proj_e.load_state_dict(state["proj_e"])
        if self.proj_t is not None and "proj_t" in state:
            self.proj_t.load_state_dict(state["proj_t"])
        if self.statement_head is not None:
            self.statement_head.load_state_dict(state["statement_head"])
        self.opt.load_state_dict(state["opt"])
        self.sched.load_state_dict(state["sched"])
        self.gen.set_state(state["gen"])

    def state(self, epoch: int, hist: dict, cfg: PretrainConfig) -> dict:
        """Checkpoint dict (tensors, numbers, lists: loadable with ``weights_only=True``)."""
        state = {
            "model": self.net.state_dict(), "proj_e": self.proj_e.state_dict(), "opt": self.opt.state_dict(),
            "sched": self.sched.state_dict(), "gen": self.gen.get_state(), "epoch": epoch, "history": hist,
            "model_config": self.net.cfg.to_dict(), "pretrain_config": plain_dict(cfg),
        }
        if self.proj_t is not None:
            state["proj_t"] = self.proj_t.state_dict()
        if self.statement_head is not None:
            state["statement_head"] = self.statement_head.state_dict()
        return state


class _PretrainStep(nn.Module):
    """The forward pass of a pretraining step as one module, so that DistributedDataParallel can wrap it.

    ``x`` (b, 12, 608) masked inputs; with ``m`` (b,) bool (rows with text) also the projected ECG
    and text embeddings of those rows. Returns (reconstruction (b, 12, 608), e (k, d) or None, t (k, d) or None,
    statement logits (b, K) or None — the latter with a statement head).
    """

    def __init__(self, net: DualAttentionNet, proj_e: nn.Module, proj_t: nn.Module | None,
                 statement_head: nn.Module | None = None):
        super().__init__()
        self.net, self.proj_e, self.proj_t, self.statement_head = net, proj_e, proj_t, statement_head

    def forward(self, x: torch.Tensor, t: torch.Tensor | None = None, m: torch.Tensor | None = None):
        out = self.net(x)
        logits = self.statement_head(out.embedding) if self.statement_head is not None else None
        if m is None:
            return out.recon, None, None, logits
        return out.recon, self.proj_e(out.embedding[m]), self.proj_t(t[m]), logits


def _start_pretraining(net: DualAttentionNet, text_dim: int | None, cfg: PretrainConfig,
                       steps: int, n_statements: int | None = None) -> tuple[_Pretraining, list[nn.Parameter]]:
    """Seeded projections (the text one only with ``text_dim``, both on the net's device), AdamW and the schedule.

    With ``n_statements`` also a linear statement head (embedding -> one logit per statement),
    initialised after the projections so that runs without it draw exactly as before.
    Returns the run and the parameters it optimises (network, projections, then the head).
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    dev = next(net.parameters()).device
    proj_e = Projection(net.cfg.embed_dim, cfg.proj_dim).to(dev)
    proj_t = Projection(text_dim, cfg.proj_dim).to(dev) if text_dim else None
    head = nn.Linear(net.cfg.embed_dim, n_statements).to(dev) if n_statements else None
    params = [p for m in (net, proj_e, proj_t, head) if m is not None for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.epochs * steps, cfg.warmup_frac))
    return _Pretraining(net, proj_e, proj_t, opt, sched, gen, head), params


def _pretrain_epoch(run: _Pretraining, step: nn.Module, params: list, xt: torch.Tensor, tt: torch.Tensor | None,
                    cfg: PretrainConfig, steps: int, desc: str,
                    st: torch.Tensor | None = None) -> tuple[float, float, float]:
    """One pass over ``steps`` shuffled batches of ``xt`` (N, 12, 608); mean (reconstruction, alignment,
    statement) loss.

    ``tt`` (N, D) holds the text embeddings (None: no alignment); zero rows are ECGs without text,
    left out of the alignment term. ``st`` (N, K) holds the statement targets in [0, 1] (None: no
    statement term); the term is the binary cross-entropy of the statement head's logits. ``step`` is :class:`_PretrainStep`, DDP-wrapped in a process
    group: every rank draws the same permutation and lead masks, runs its shard (rows ``r::W``) of
    each global batch, and computes the alignment on the gathered global batch; the returned losses
    are those of the global batches.
    """
    rank, world = rank_world()
    dev = next(run.net.parameters()).device
    has_text = (tt.abs().sum(1) > 0) if tt is not None else None
    perm = torch.randperm(len(xt), generator=run.gen)
    sums = np.zeros(3)
    for s in _progress(range(steps), steps, desc):
        idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
        keep = shard(lead_keep_mask(len(idx), xt.shape[1], run.gen, cfg.mask_keep))  # drawn for the global batch
        mine = shard(idx)
        xb = xt[mine].to(dev)
        m = has_text[mine].to(dev) if tt is not None and has_text[idx].sum() > 1 else None
        with autocast(dev, cfg.precision):
            recon_out, e, t, logits = step(xb * keep.to(dev, xb.dtype)[:, :, None], tt[mine].to(dev, xb.dtype) if m is not None else None, m)
        recon = shard_mse(recon_out, xb, len(idx), world)
        align = torch.zeros((), device=dev)
        if m is not None:
            raw = gather_rows(tt[mine][m.cpu()].to(dev)) if cfg.align == "soft" else None
            align = alignment_loss(gather_rows(full_precision(e)), gather_rows(full_precision(t)), cfg.align,
                                   cfg.temperature, raw)
        stat = torch.zeros((), device=dev)
        if st is not None:  # mean over this shard; DDP averages the shards' gradients
            lg = full_precision(logits)
            stat = F.binary_cross_entropy_with_logits(lg, st[mine].to(dev, lg.dtype))
        loss = recon + cfg.align_weight * align + cfg.statement_weight * stat
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        run.opt.step()
        run.sched.step()
        sums += [float(recon.detach()) / world, float(align.detach()), float(stat.detach()) / world]
    sums[[0, 2]] = sum_over_ranks(sums[[0, 2]])  # the global batches' reconstruction MSE and statement BCE
    return float(sums[0] / steps), float(sums[1] / steps), float(sums[2] / steps)


def _save_checkpoint(path: Path, state: dict) -> None:
    """``torch.save`` through a temporary file, so an interrupted write never leaves a broken checkpoint."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def pretrain(
    net: DualAttentionNet,
    x: np.ndarray,
    text_emb: np.ndarray | None,
    cfg: PretrainConfig,
    *,
    checkpoint: str | Path | None = None,
    resume: bool = True,
    statement_targets: np.ndarray | None = None,
) -> dict:
    """Pretrain ``net`` in place on ``cfg.device``: reconstruction MSE + ``align_weight`` x alignment
    (+ ``statement_weight`` x statement cross-entropy).

    Under ``torchrun`` (an initialised process group) this is data-parallel: ``cfg.batch_size`` is the
    global batch, split over the ranks; rank 0 alone logs and writes the checkpoint, every rank
    resumes from it.

    Parameters
    ----------
    x : ndarray (N, 12, 608) float32, normalised.
    text_emb : ndarray (N, D) or None
        Text embeddings per ECG (zero rows = no text: masked out of the alignment).
    statement_targets : ndarray (N, K) float in [0, 1], optional
        Per ECG, each statement's likelihood / 100 (:func:`hfviz.training.text.statement_targets`);
        needed when ``cfg.statement_weight > 0``, ignored otherwise.
    checkpoint : path, optional
        Written after every epoch; with ``resume`` an existing one is continued.

    Returns
    -------
    dict
        History: per-epoch mean losses (``recon``, ``align``, and ``statements`` with the statement
        term) and wall time (``seconds``).
    """
    use_align = cfg.align != "none" and text_emb is not None
    use_statements = cfg.statement_weight > 0
    if use_statements and (statement_targets is None or len(statement_targets) != len(x)
                           or np.shape(statement_targets)[1] == 0):
        raise ValueError("statement_weight > 0 needs statement_targets, one row per ECG and at least one statement")
    steps = max(1, len(x) // cfg.batch_size)
    check_global_batch(cfg.batch_size)
    dev = place(net, cfg.device)
    check_precision(cfg.precision, dev)
    run, params = _start_pretraining(net, text_emb.shape[1] if use_align else None, cfg, steps,
                                     statement_targets.shape[1] if use_statements else None)
    hist = {"epoch": [], "recon": [], "align": [], "seconds": []} | ({"statements": []} if use_statements else {})
    start = 0
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt and resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=True, map_location="cpu")  # the RNG state must stay on the CPU
        run.load(state)
        hist, start = state["history"], int(state["epoch"])
        _log_main(f"pretrain: resumed from {ckpt.name} at epoch {start}")
    xt = torch.from_numpy(x)
    tt = torch.from_numpy(np.asarray(text_emb, np.float32)) if use_align else None
    st = torch.from_numpy(np.asarray(statement_targets, np.float32)) if use_statements else None
    net.train()
    changed = use_global_batchnorm(net) if is_distributed() else []
    step = wrap_ddp(_PretrainStep(net, run.proj_e, run.proj_t, run.statement_head))
    try:
        for epoch in range(start, cfg.epochs):
            t0 = time.perf_counter()
            recon, align, stat = _pretrain_epoch(run, step, params, xt, tt, cfg, steps,
                                                 f"pretrain {epoch + 1}/{cfg.epochs}", st)
            for key, value in zip(("epoch", "recon", "align", "statements", "seconds"),
                                  (epoch + 1, recon, align, stat, time.perf_counter() - t0)):
                if key in hist:
                    hist[key].append(value)
            _log_main(f"pretrain epoch {epoch + 1}/{cfg.epochs}: recon {recon:.4f} "
                      f"align({cfg.align}) {align:.4f}" + (f" statements {stat:.4f}" if use_statements else "")
                      + f" [{hist['seconds'][-1]:.0f} s]")
            if ckpt and is_main():
                _save_checkpoint(ckpt, run.state(epoch + 1, hist, cfg))
    finally:
        restore_batchnorm(changed)
    net.eval()
    return hist


def load_pretrained(path: str | Path, *, risk_activation: str | None = None, risk_head: str | None = None) -> DualAttentionNet:
    """Network from a pretraining checkpoint (``torch.load(weights_only=True)``).

    Pretraining never trains the risk head (its loss is reconstruction + alignment), so the head is
    a fine-tuning choice: ``risk_head`` and ``risk_activation`` (default: the current ``ModelConfig``
    defaults) replace whatever the checkpoint's config says, and the head starts freshly initialised.
    """
    state = torch.load(Path(path), weights_only=True, map_location="cpu")
    d = dict(state["model_config"])
    d["risk_activation"] = risk_activation or ModelConfig.risk_activation
    d["risk_head"] = risk_head or ModelConfig.risk_head
    net = DualAttentionNet(ModelConfig.from_dict(d))
    weights = {k: v for k, v in state["model"].items() if not k.startswith("head.")}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise ValueError(f"{path}: pretraining checkpoint does not match the network (missing {missing}, unexpected {unexpected})")
    return net
