"""Pretraining (ECG-text alignment + reconstruction) and Cox fine-tuning loops.

Both loops take normalised model inputs ``x`` (N, 12, 608) float32 (see
:func:`normalise_beats`), use AdamW with a linear warm-up + cosine schedule, show a tqdm bar
(or one log line per epoch when not on a terminal), and write resumable checkpoints: a plain
dict of tensors and numbers saved with ``torch.save`` and read back with ``weights_only=True``.
"""

from __future__ import annotations

import copy
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hfviz.jsonutil import plain_dict
from hfviz.risk.network import DualAttentionNet, ModelConfig
from hfviz.risk.survival import concordance_index, cox_nll
from hfviz.training.config import MASK_KEEP, PROBE_COMPONENTS, PROBE_PENALIZER, FinetuneConfig, PretrainConfig

__all__ = [  # the configs live in hfviz.training.config; re-exported here next to the loops that use them
    "FinetuneConfig", "PretrainConfig", "PROBE_COMPONENTS", "PROBE_PENALIZER", "MASK_KEEP",
    "normalise_beats", "mask_leads", "warmup_cosine", "log", "predict", "embed", "init_head_from_probe",
    "Projection", "alignment_loss", "pretrain", "load_pretrained", "stratified_batches", "finetune",
]


def normalise_beats(beats_mv: np.ndarray) -> np.ndarray:
    """Padded median beats in mV (N, 12, 608) -> per-lead z-scored float32 (N, 12, 608)."""
    from hfviz.ecg.signal import normalise

    return np.ascontiguousarray(normalise(np.asarray(beats_mv)), dtype=np.float32)


def mask_leads(x: torch.Tensor, generator: torch.Generator, keep_options=MASK_KEEP) -> torch.Tensor:
    """Zero whole leads: each ECG keeps k random leads, k drawn from ``keep_options``. (B, 12, T) -> same."""
    B, L, _ = x.shape
    k = torch.tensor(keep_options)[torch.randint(len(keep_options), (B,), generator=generator)]  # (B,)
    rank = torch.rand(B, L, generator=generator).argsort(1).argsort(1)  # (B, 12) random rank of each lead
    return x * (rank < k[:, None]).to(x.dtype)[:, :, None]  # (B, 12, T)


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

    return tqdm(iterable, total=total, desc=desc, leave=False, disable=not sys.stderr.isatty())


@torch.no_grad()
def predict(net: DualAttentionNet, x: np.ndarray, *, batch_size: int = 512) -> np.ndarray:
    """Log-risk (N,) of normalised inputs (N, 12, 608) in eval mode (restores the previous mode)."""
    was = net.training
    net.eval()
    out = [net.predict_log_risk(torch.from_numpy(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    net.train(was)
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros(0)


@torch.no_grad()
def embed(net: DualAttentionNet, x: np.ndarray, *, batch_size: int = 256) -> np.ndarray:
    """ECG embeddings (N, 512) float64 of normalised inputs (N, 12, 608) in eval mode (restores the mode)."""
    was = net.training
    net.eval()
    out = [net.encode(torch.from_numpy(x[i : i + batch_size]))[0] for i in range(0, len(x), batch_size)]
    net.train(was)
    return torch.cat(out).numpy().astype(np.float64) if out else np.zeros((0, net.cfg.embed_dim))


@torch.no_grad()
def init_head_from_probe(
    net: DualAttentionNet, x: np.ndarray, time_months: np.ndarray, event: np.ndarray, *,
    n_components: int = PROBE_COMPONENTS, penalizer: float = PROBE_PENALIZER, seed: int = 0,
) -> None:
    """Set the linear risk head to a penalised Cox fit on the frozen embedding ("linear probe").

    embedding (N, 512) -> PCA(``n_components``) -> standardised -> lifelines ``CoxPHFitter(penalizer)``
    (Efron ties); the composition is one affine map, written into ``net.head[-1]`` so that
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
    from lifelines import CoxPHFitter
    from sklearn.decomposition import PCA

    if net.cfg.risk_head != "linear":
        raise ValueError("a probe initialisation needs the linear risk head (ModelConfig.risk_head='linear')")
    if not np.any(event):
        raise ValueError("a probe initialisation needs at least one event among the training subjects")
    emb = embed(net, x)  # (N, 512)
    pca = PCA(min(n_components, *emb.shape), random_state=seed).fit(emb)
    pcs = pca.transform(emb)  # (N, k)
    mu, sd = pcs.mean(0), pcs.std(0, ddof=1)
    sd[sd == 0] = 1.0
    cols = [f"pc{i}" for i in range(pcs.shape[1])]
    df = pd.DataFrame((pcs - mu) / sd, columns=cols).assign(T=np.asarray(time_months, float), E=np.asarray(event, int))
    beta = CoxPHFitter(penalizer=penalizer).fit(df, "T", "E").params_[cols].to_numpy()  # (k,)
    w = pca.components_.T @ (beta / sd)  # (512,): log-risk = (emb - pca.mean_) @ V^T @ (beta / sd) - mu @ (beta / sd)
    b = -pca.mean_ @ w - mu @ (beta / sd)
    lin = net.head[-1]
    lin.weight.copy_(torch.as_tensor(w, dtype=lin.weight.dtype)[None])
    lin.bias.fill_(float(b))


# --- pretraining ---------------------------------------------------------------------------------


class Projection(nn.Module):
    """Two-layer projection ``d_in -> 256 -> d_out`` used for both ECG and text embeddings."""

    def __init__(self, d_in: int, d_out: int = 128, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, d_out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


def alignment_loss(e: torch.Tensor, t: torch.Tensor, kind: str, temperature: float = 0.1) -> torch.Tensor:
    """ECG-text alignment between projected ECG ``e`` (B, d) and text ``t`` (B, d).

    ``"cosine"``: mean (1 - cos(e_i, t_i)) over positive pairs (the authors' loss).
    ``"infonce"``: symmetric CLIP cross-entropy; rows whose texts are identical count as
    positives of each other (templated reports repeat), with the target mass split among them.
    """
    if kind == "cosine":
        return (1 - F.cosine_similarity(e, t, dim=-1)).mean()
    if kind != "infonce":
        raise ValueError(f"unknown alignment {kind!r}")
    en, tn = F.normalize(e, dim=-1), F.normalize(t, dim=-1)
    logits = en @ tn.T / temperature  # (B, B)
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

    def load(self, state: dict) -> None:
        """Restore from a checkpoint dict written by :meth:`state`."""
        self.net.load_state_dict(state["model"])
        self.proj_e.load_state_dict(state["proj_e"])
        if self.proj_t is not None and "proj_t" in state:
            self.proj_t.load_state_dict(state["proj_t"])
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
        return state


def _start_pretraining(net: DualAttentionNet, text_dim: int | None, cfg: PretrainConfig,
                       steps: int) -> tuple[_Pretraining, list[nn.Parameter]]:
    """Seeded projections (the text one only with ``text_dim``), AdamW and the warm-up + cosine schedule.

    Returns the run and the parameters it optimises (network, then projections).
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    proj_e = Projection(net.cfg.embed_dim, cfg.proj_dim)
    proj_t = Projection(text_dim, cfg.proj_dim) if text_dim else None
    params = [p for m in (net, proj_e, proj_t) if m is not None for p in m.parameters()]
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.epochs * steps, cfg.warmup_frac))
    return _Pretraining(net, proj_e, proj_t, opt, sched, gen), params


def _pretrain_epoch(run: _Pretraining, params: list, xt: torch.Tensor, tt: torch.Tensor | None,
                    cfg: PretrainConfig, steps: int, desc: str) -> tuple[float, float]:
    """One pass over ``steps`` shuffled batches of ``xt`` (N, 12, 608); mean (reconstruction, alignment) loss.

    ``tt`` (N, D) holds the text embeddings (None: no alignment); zero rows are ECGs without text,
    left out of the alignment term.
    """
    has_text = (tt.abs().sum(1) > 0) if tt is not None else None
    perm = torch.randperm(len(xt), generator=run.gen)
    sums = np.zeros(2)
    for s in _progress(range(steps), steps, desc):
        idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
        xb = xt[idx]
        out = run.net(mask_leads(xb, run.gen, cfg.mask_keep))
        recon = F.mse_loss(out.recon, xb)
        align = torch.zeros(())
        if tt is not None and has_text[idx].sum() > 1:
            m = has_text[idx]
            align = alignment_loss(run.proj_e(out.embedding[m]), run.proj_t(tt[idx][m]), cfg.align, cfg.temperature)
        loss = recon + cfg.align_weight * align
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        run.opt.step()
        run.sched.step()
        sums += [float(recon.detach()), float(align.detach())]
    return float(sums[0] / steps), float(sums[1] / steps)


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
) -> dict:
    """Pretrain ``net`` in place: reconstruction MSE + ``align_weight`` x alignment.

    Parameters
    ----------
    x : ndarray (N, 12, 608) float32, normalised.
    text_emb : ndarray (N, D) or None
        Text embeddings per ECG (zero rows = no text: masked out of the alignment).
    checkpoint : path, optional
        Written after every epoch; with ``resume`` an existing one is continued.

    Returns
    -------
    dict
        History: per-epoch mean losses (``recon``, ``align``) and wall time (``seconds``).
    """
    use_align = cfg.align != "none" and text_emb is not None
    steps = max(1, len(x) // cfg.batch_size)
    run, params = _start_pretraining(net, text_emb.shape[1] if use_align else None, cfg, steps)
    hist = {"epoch": [], "recon": [], "align": [], "seconds": []}
    start = 0
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt and resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=True)
        run.load(state)
        hist, start = state["history"], int(state["epoch"])
        log(f"pretrain: resumed from {ckpt.name} at epoch {start}")
    xt = torch.from_numpy(x)
    tt = torch.from_numpy(np.asarray(text_emb, np.float32)) if use_align else None
    net.train()
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        recon, align = _pretrain_epoch(run, params, xt, tt, cfg, steps, f"pretrain {epoch + 1}/{cfg.epochs}")
        for key, value in zip(("epoch", "recon", "align", "seconds"), (epoch + 1, recon, align, time.perf_counter() - t0)):
            hist[key].append(value)
        log(f"pretrain epoch {epoch + 1}/{cfg.epochs}: recon {recon:.4f} "
            f"align({cfg.align}) {align:.4f} [{hist['seconds'][-1]:.0f} s]")
        if ckpt:
            _save_checkpoint(ckpt, run.state(epoch + 1, hist, cfg))
    net.eval()
    return hist


def load_pretrained(path: str | Path, *, risk_activation: str | None = None, risk_head: str | None = None) -> DualAttentionNet:
    """Network from a pretraining checkpoint (``torch.load(weights_only=True)``).

    Pretraining never trains the risk head (its loss is reconstruction + alignment), so the head is
    a fine-tuning choice: ``risk_head`` and ``risk_activation`` (default: the current ``ModelConfig``
    defaults) replace whatever the checkpoint's config says, and the head starts freshly initialised.
    """
    state = torch.load(Path(path), weights_only=True)
    d = dict(state["model_config"])
    d["risk_activation"] = risk_activation or ModelConfig.risk_activation
    d["risk_head"] = risk_head or ModelConfig.risk_head
    net = DualAttentionNet(ModelConfig.from_dict(d))
    weights = {k: v for k, v in state["model"].items() if not k.startswith("head.")}
    missing, unexpected = net.load_state_dict(weights, strict=False)
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise ValueError(f"{path}: pretraining checkpoint does not match the network (missing {missing}, unexpected {unexpected})")
    return net


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


def _finetune_epoch(net: DualAttentionNet, opt, sched, gen: torch.Generator, xt: torch.Tensor, time_months: np.ndarray,
                    event: np.ndarray, batches: list[np.ndarray], cfg: FinetuneConfig, desc: str) -> float:
    """One pass over ``batches`` (index arrays into ``xt`` (N, 12, 608)) in train mode; mean training loss.

    Loss = ``cox_weight`` x Cox NLL + ``recon_weight`` x reconstruction MSE; gradients clipped to
    ``cfg.grad_clip``. Batches of fewer than two subjects are skipped (no Cox risk set).
    """
    net.train()
    tot = 0.0
    for idx in _progress(batches, len(batches), desc):
        if len(idx) < 2:
            continue
        xb = xt[idx]
        out = net(mask_leads(xb, gen) if cfg.mask_leads else xb)
        loss = cfg.cox_weight * cox_nll(out.log_risk, time_months[idx], event[idx], ties=cfg.ties)
        if cfg.recon_weight:
            loss = loss + cfg.recon_weight * F.mse_loss(out.recon, xb)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        tot += float(loss.detach())
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
    """Fine-tune ``net`` in place on Cox + reconstruction; keep the weights of the best validation C.

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
    for epoch in range(cfg.epochs):
        t0 = time.perf_counter()
        batches = stratified_batches(event, cfg.batch_size, cfg.min_events, rng)
        loss = _finetune_epoch(net, opt, sched, gen, xt, time_months, event, batches, cfg,
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
    net.load_state_dict(best_state)
    net.eval()
    hist.update(best_epoch=best_epoch, best_val_c=best_c)
    log(f"{desc}: best validation C {best_c:.3f} at epoch {best_epoch}/{len(hist['epoch'])} "
        f"[{sum(hist['seconds']):.0f} s]")
    return hist
