"""Cox fine-tuning loop and the helpers it shares with pretraining (:mod:`hfviz.training.pretrain`).

Both loops take normalised model inputs ``x`` (N, 12, 608) float32 (see
:func:`normalise_beats`), use AdamW with a linear warm-up + cosine schedule, show a tqdm bar
(or one log line per epoch when not on a terminal), and write resumable checkpoints: a plain
dict of tensors and numbers saved with ``torch.save`` and read back with ``weights_only=True``.

Devices and data parallelism: the configs' ``device`` (``auto``/``cpu``/``cuda[:N]``,
:func:`hfviz.device.resolve_device`) and ``precision`` (``bf16`` = autocast on CUDA, the Cox loss
in float32) choose where a loop runs. Inside a ``torchrun`` process group the same loops run
``DistributedDataParallel`` on strided shards of the same global batches
(:mod:`hfviz.training.distributed`): rank 0 alone logs, shows progress and writes checkpoints.
"""

from __future__ import annotations

import copy
import math
import sys
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from hfviz.device import autocast, check_precision, is_main, place, rank_world, sum_over_ranks
from hfviz.risk.network import DualAttentionNet
from hfviz.risk.survival import concordance_index
from hfviz.training.distributed import (
    check_global_batch,
    global_cox_nll,
    is_distributed,
    restore_batchnorm,
    shard,
    shard_mse,
    use_global_batchnorm,
    wrap_ddp,
)
from hfviz.training.config import MASK_KEEP, PROBE_COMPONENTS, PROBE_PENALIZER, FinetuneConfig, PretrainConfig

__all__ = [  # the configs live in hfviz.training.config; re-exported here next to the loops that use them
    "FinetuneConfig", "PretrainConfig", "PROBE_COMPONENTS", "PROBE_PENALIZER", "MASK_KEEP",
    "normalise_beats", "mask_leads", "warmup_cosine", "log", "predict", "embed", "fit_probe", "fit_bagged_probe",
    "fit_joint_probe", "init_head_from_probe", "set_linear_head",
    "stratified_batches", "finetune",
]

def normalise_beats(beats_mv: np.ndarray) -> np.ndarray:
    """Padded median beats in mV (N, 12, 608) -> per-lead z-scored float32 (N, 12, 608)."""
    from hfviz.ecg.signal import normalise

    return np.ascontiguousarray(normalise(np.asarray(beats_mv)), dtype=np.float32)


def lead_keep_mask(n: int, n_leads: int, generator: torch.Generator, keep_options=MASK_KEEP) -> torch.Tensor:
    """(n, n_leads) float 0/1: each ECG keeps k random leads, k drawn from ``keep_options``.

    Data-parallel loops draw it for the whole global batch on every rank (same generator state) and
    keep their shard's rows, so the masks are those one process would draw.
    """
    k = torch.tensor(keep_options)[torch.randint(len(keep_options), (n,), generator=generator)]  # (n,)
    rank = torch.rand(n, n_leads, generator=generator).argsort(1).argsort(1)  # (n, 12) random rank of each lead
    return (rank < k[:, None]).float()


def mask_leads(x: torch.Tensor, generator: torch.Generator, keep_options=MASK_KEEP) -> torch.Tensor:
    """Zero whole leads: each ECG keeps k random leads, k drawn from ``keep_options``. (B, 12, T) -> same."""
    return x * lead_keep_mask(x.shape[0], x.shape[1], generator, keep_options).to(x.dtype)[:, :, None]


def warmup_cosine(total_steps: int, warmup_frac: float) -> callable:
    """LR multiplier: linear 0 -> 1 over the warm-up steps, then cosine 1 -> 0."""
    warm = max(1, int(round(total_steps * warmup_frac)))

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total_steps - warm))))

    return f


def log(msg: str) -> None:
    """One time-stamped progress line on stderr (``[HH:MM:SS] msg``)."""
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _progress(iterable, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, leave=False, disable=not sys.stderr.isatty() or not is_main())


def _log_main(msg: str) -> None:
    """:func:`log` on rank 0 only (every process in a single-process run)."""
    if is_main():
        log(msg)


@torch.no_grad()
def predict(net: DualAttentionNet, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """Log-risk (N,) of normalised inputs (N, 12, 608) in eval mode (restores the previous mode)."""
    was, dev = net.training, next(net.parameters()).device
    net.eval()
    out = [net.predict_log_risk(torch.from_numpy(x[i : i + batch_size]).to(dev)).cpu()
           for i in range(0, len(x), batch_size)]
    net.train(was)
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)


@torch.no_grad()
def embed(net: DualAttentionNet, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """ECG embeddings (N, 512) float64 of normalised inputs (N, 12, 608) in eval mode (restores the mode)."""
    was, dev = net.training, next(net.parameters()).device
    net.eval()
    out = [net.encode(torch.from_numpy(x[i : i + batch_size]).to(dev))[0].cpu()
           for i in range(0, len(x), batch_size)]
    net.train(was)
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, net.cfg.embed_dim))


def fit_probe(emb: np.ndarray, time_months: np.ndarray, event: np.ndarray, *,
              n_components: int = PROBE_COMPONENTS, penalizer: float = PROBE_PENALIZER,
              strata: np.ndarray | None = None, seed: int = 0) -> tuple[np.ndarray, float]:
    """Penalised Cox fit on frozen embeddings ("linear probe"), as one affine map of the embedding.

    embedding (N, D) -> PCA(``n_components``) -> standardised -> lifelines ``CoxPHFitter(penalizer)``
    (Efron ties), stratified by ``strata`` when given (one baseline hazard per stratum, one shared
    coefficient vector: e.g. two cohorts that share how the ECG carries risk).

    Parameters
    ----------
    emb : ndarray (N, D) float
        Embeddings of the training subjects (:func:`embed`).
    time_months, event : ndarray (N,)
        Follow-up (months) and event indicator.
    strata : ndarray (N,), optional
        Stratum label of each subject (e.g. its cohort).

    Returns
    -------
    w : ndarray (D,) and b : float
        ``log_risk = emb @ w + b``.
    """
    from lifelines import CoxPHFitter
    from sklearn.decomposition import PCA

    if not np.any(event):
        raise ValueError("a linear probe needs at least one event among the training subjects")
    pca = PCA(min(n_components, *emb.shape), random_state=seed).fit(emb)
    pcs = pca.transform(emb)  # (N, k)
    mu, sd = pcs.mean(0), pcs.std(0, ddof=1)
    sd[sd == 0] = 1.0
    cols = [f"pc{i}" for i in range(pcs.shape[1])]
    df = pd.DataFrame((pcs - mu) / sd, columns=cols).assign(T=np.asarray(time_months, float), E=np.asarray(event, int))
    if strata is not None:
        df["stratum"] = np.asarray(strata)
    cph = CoxPHFitter(penalizer=penalizer).fit(df, "T", "E", strata=["stratum"] if strata is not None else None)
    beta = cph.params_[cols].to_numpy()  # (k,)
    w = pca.components_.T @ (beta / sd)  # (D,): log-risk = (emb - pca.mean_) @ V^T @ (beta / sd) - mu @ (beta / sd)
    return w, float(-pca.mean_ @ w - mu @ (beta / sd))


def fit_bagged_probe(emb: np.ndarray, time_months: np.ndarray, event: np.ndarray, *, n_bags: int,
                     n_components: int = PROBE_COMPONENTS, penalizer: float = PROBE_PENALIZER,
                     strata: np.ndarray | None = None, seed: int = 0) -> tuple[np.ndarray, float]:
    """Bootstrap-aggregated :func:`fit_probe`: the mean of ``n_bags`` probes fitted on bootstrap resamples.

    Each probe is affine in the embedding, so their mean is one affine map too (it fits the same
    linear head). With a few dozen events a single probe's coefficients are mostly noise; averaging
    over resamples lowers their variance (Breiman 1996). Resamples are drawn within each
    ``strata`` x event group, so every bag keeps the events of every stratum.

    Parameters
    ----------
    emb, time_months, event, strata : as :func:`fit_probe`
    n_bags : int
        Bootstrap resamples (1 = :func:`fit_probe` on the data as given, no resampling).

    Returns
    -------
    w : ndarray (D,) and b : float
        ``log_risk = emb @ w + b``.
    """
    if n_bags <= 1:
        return fit_probe(emb, time_months, event, n_components=n_components, penalizer=penalizer,
                         strata=strata, seed=seed)
    rng = np.random.default_rng(seed)
    event = np.asarray(event)
    group = event.astype(int) if strata is None else pd.factorize(pd.Series(np.asarray(strata)).astype(str)
                                                                   + ":" + pd.Series(event).astype(str))[0]
    members = [np.nonzero(group == g)[0] for g in np.unique(group)]
    ws, bs = [], []
    for _ in range(n_bags):
        idx = np.concatenate([rng.choice(m, len(m), replace=True) for m in members])
        w, b = fit_probe(emb[idx], np.asarray(time_months)[idx], event[idx], n_components=n_components,
                         penalizer=penalizer, strata=None if strata is None else np.asarray(strata)[idx], seed=seed)
        ws.append(w)
        bs.append(b)
    return np.mean(ws, axis=0), float(np.mean(bs))


def fit_joint_probe(parts: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], *, n_bags: int = 1,
                    n_components: int = PROBE_COMPONENTS, penalizer: float = PROBE_PENALIZER,
                    seed: int = 0) -> tuple[np.ndarray, float]:
    """One probe on several sets (cohorts) together, Cox stratified by set; one set: the plain (bagged) probe.

    The sets are stacked in name order, so the same sets give the same head whichever comes first.

    Parameters
    ----------
    parts : dict of str to (emb (N_k, D), time_months (N_k,), event (N_k,))
        Each set's embeddings and outcomes.
    n_bags, n_components, penalizer, seed : as :func:`fit_bagged_probe`

    Returns
    -------
    w : ndarray (D,) and b : float
        ``log_risk = emb @ w + b``.
    """
    names = sorted(parts)
    strata = np.concatenate([[k] * len(parts[k][1]) for k in names]) if len(names) > 1 else None
    return fit_bagged_probe(*(np.concatenate([parts[k][i] for k in names]) for i in range(3)), n_bags=n_bags,
                            n_components=n_components, penalizer=penalizer, strata=strata, seed=seed)


@torch.no_grad()
def init_head_from_probe(
    net: DualAttentionNet, x: np.ndarray, time_months: np.ndarray, event: np.ndarray, *,
    n_components: int = PROBE_COMPONENTS, penalizer: float = PROBE_PENALIZER, seed: int = 0,
) -> None:
    """Set the linear risk head to :func:`fit_probe` on the frozen embedding ("linear probe").

    The probe is one affine map, written into ``net.head[-1]`` so that
    ``net.predict_log_risk(x) == probe log-risk``. Starting the Cox fine-tuning from this head
    (linear probe, then fine-tune: Kumar et al., ICLR 2022) rather than from a random head keeps the
    first gradient steps from scrambling a pretrained encoder with a head that predicts noise, and
    gives early stopping a sensible epoch-0 candidate.

    Parameters
    ----------
    x : ndarray (N, 12, 608) float32, normalised model inputs of the training subjects.
    time_months, event : ndarray (N,)
        Follow-up (months) and event indicator.
    """
    if net.cfg.risk_head != "linear":
        raise ValueError("a probe initialisation needs the linear risk head (ModelConfig.risk_head='linear')")
    if not np.any(event):
        raise ValueError("a probe initialisation needs at least one event among the training subjects")
    set_linear_head(net, *fit_probe(embed(net, x), time_months, event, n_components=n_components,
                                    penalizer=penalizer, seed=seed))


@torch.no_grad()
def set_linear_head(net: DualAttentionNet, w: np.ndarray, b: float) -> None:
    """Write the affine map ``log_risk = emb @ w + b`` (w: (D,), the embedding width) into the linear head."""
    if net.cfg.risk_head != "linear":
        raise ValueError("an affine head needs the linear risk head (ModelConfig.risk_head='linear')")
    lin = net.head[-1]
    lin.weight.copy_(torch.as_tensor(w, dtype=lin.weight.dtype)[None])
    lin.bias.fill_(b)


# --- fine-tuning -----------------------------------------------------------------------------------


def stratified_batches(event: np.ndarray, batch_size: int, min_events: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Index batches covering every subject once, events spread so each batch gets >= ``min_events``.

    With E events and n_batches = ceil(N / batch_size), events are dealt round-robin; when
    E < min_events * n_batches, events are re-used (sampled again) to top batches up, so every
    batch can form Cox risk sets with events.
    """
    ev = np.nonzero(event)[0]
    ne = np.nonzero(~np.asarray(event, bool))[0]
    n_batches = max(1, int(math.ceil(len(event) / batch_size)))
    ev, ne = rng.permutation(ev), rng.permutation(ne)
    ev_split = np.array_split(ev, n_batches)
    ne_split = np.array_split(ne, n_batches)
    out = []
    for a, b in zip(ev_split, ne_split):
        if len(a) < min_events and len(ev):
            a = np.concatenate([a, rng.choice(ev, min(min_events - len(a), len(ev)), replace=False)])
        out.append(rng.permutation(np.concatenate([a, b])))
    return out


class _FinetuneStep(nn.Module):
    """The forward pass of a fine-tuning step as one module (DDP-wrapped in a process group): (log-risk, reconstruction)."""

    def __init__(self, net: DualAttentionNet):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.net(x)
        return out.log_risk, out.recon


def _finetune_epoch(step: nn.Module, net: DualAttentionNet, opt, sched, gen: torch.Generator, xt: torch.Tensor,
                    time_months: np.ndarray, event: np.ndarray, batches: list[np.ndarray], cfg: FinetuneConfig,
                    desc: str) -> float:
    """One pass over ``batches`` (index arrays into ``xt`` (N, 12, 608)) in train mode; mean training loss.

    Loss = ``cox_weight`` x Cox NLL + ``recon_weight`` x reconstruction MSE; gradients clipped to
    ``cfg.grad_clip``. Batches of fewer than two subjects are skipped (no Cox risk set). In a
    process group the batches are global (the same on every rank, each with events: the
    stratified sampler runs on every rank from the same seed), rank r runs rows ``r::W``, and the
    Cox loss is that of the gathered global batch (:func:`~hfviz.training.distributed.global_cox_nll`).
    """
    rank, world = rank_world()
    dev = next(net.parameters()).device
    net.train()
    tot, recon_part = 0.0, 0.0
    for idx in _progress(batches, len(batches), desc):
        if len(idx) < max(2, world):
            continue
        keep = shard(lead_keep_mask(len(idx), xt.shape[1], gen)) if cfg.mask_leads else None
        mine = shard(idx)
        xb = xt[mine].to(dev)
        with autocast(dev, cfg.precision):
            log_risk, recon_out = step(xb * keep.to(dev, xb.dtype)[:, :, None] if keep is not None else xb)
        cox = global_cox_nll(log_risk, time_months[mine], event[mine], ties=cfg.ties)  # float32
        loss = cfg.cox_weight * cox
        recon = shard_mse(recon_out, xb, len(idx), world) if cfg.recon_weight else None
        if recon is not None:
            loss = loss + cfg.recon_weight * recon
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        if world == 1:
            tot += float(loss.detach())
        else:  # the Cox part is global already; the reconstruction parts add up over the ranks
            tot += cfg.cox_weight * float(cox.detach())
            recon_part += cfg.recon_weight * float(recon.detach()) / world if recon is not None else 0.0
    tot += sum_over_ranks([recon_part])[0] if world > 1 else 0.0
    return float(tot / len(batches))


def finetune(
    net: DualAttentionNet,
    x: np.ndarray,
    time_months: np.ndarray,
    event: np.ndarray,
    x_val: np.ndarray,
    time_val: np.ndarray,
    event_val: np.ndarray,
    cfg: FinetuneConfig,
    *,
    desc: str = "finetune",
) -> dict:
    """Fine-tune ``net`` in place on ``cfg.device``, Cox + reconstruction; keep the weights of the best validation C.

    Under ``torchrun`` (an initialised process group) this is data-parallel over global batches of
    ``cfg.batch_size`` subjects; every rank computes the (identical) validation C, so early
    stopping agrees without communication, and rank 0 alone logs.

    Parameters
    ----------
    x, x_val : ndarray (N, 12, 608), (M, 12, 608) float32
        Normalised model inputs of the fit and the early-stopping validation subjects.
    time_months, event, time_val, event_val : ndarray (N,), (M,)
        Follow-up in months and event indicator (0/1).

    Returns
    -------
    dict
        History (train loss, validation C per epoch), ``best_epoch``, ``best_val_c``.
    """
    check_global_batch(cfg.batch_size)
    check_precision(cfg.precision, place(net, cfg.device))
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    event = np.asarray(event).astype(bool)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_batches = max(1, int(math.ceil(len(x) / cfg.batch_size)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.epochs * n_batches, cfg.warmup_frac))
    xt = torch.from_numpy(x)
    best_c, best_state, best_epoch, bad = -1.0, copy.deepcopy(net.state_dict()), 0, 0
    hist = {"epoch": [], "loss": [], "val_c": [], "seconds": []}
    if cfg.head_init == "probe":
        init_head_from_probe(net, x, time_months, event, seed=cfg.seed)
        best_c, best_state = concordance_index(time_val, predict(net, x_val), event_val), copy.deepcopy(net.state_dict())
        hist["probe_val_c"] = float(best_c)
    elif cfg.head_init != "none":
        raise ValueError(f"unknown head_init {cfg.head_init!r}; expected 'probe' or 'none'")
    changed = use_global_batchnorm(net) if is_distributed() else []
    step = wrap_ddp(_FinetuneStep(net))
    try:
        for epoch in range(cfg.epochs):
            t0 = time.perf_counter()
            batches = stratified_batches(event, cfg.batch_size, cfg.min_events, rng)
            loss = _finetune_epoch(step, net, opt, sched, gen, xt, time_months, event, batches, cfg,
                                   f"{desc} {epoch + 1}/{cfg.epochs}")
            val_c = concordance_index(time_val, predict(net, x_val), event_val)
            hist["epoch"].append(epoch + 1)
            hist["loss"].append(loss)
            hist["val_c"].append(float(val_c))
            hist["seconds"].append(time.perf_counter() - t0)
            if np.isfinite(val_c) and val_c > best_c:
                best_c, best_state, best_epoch, bad = val_c, copy.deepcopy(net.state_dict()), epoch + 1, 0
            else:
                bad += 1
            if bad >= cfg.patience:
                break
    finally:
        restore_batchnorm(changed)
    net.load_state_dict(best_state)
    net.eval()
    hist.update(best_epoch=best_epoch, best_val_c=best_c)
    _log_main(f"{desc}: best validation C {best_c:.3f} at epoch {best_epoch}/{len(hist['epoch'])} "
              f"[{sum(hist['seconds']):.0f} s]")
    return hist
