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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from hfviz.model import DualAttentionNet, ModelConfig
from hfviz.survival import concordance_index, cox_nll

#: Whole-lead masking: number of leads kept (12 = no masking), chosen uniformly per ECG.
MASK_KEEP = (2, 3, 4, 6, 8, 12)


def normalise_beats(beats_mv: np.ndarray) -> np.ndarray:
    """Padded median beats in mV (N, 12, 608) -> per-lead z-scored float32 (N, 12, 608)."""
    from hfviz.preprocess import normalise

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


def _log(msg: str) -> None:
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


#: Linear-probe head initialisation, fixed a priori (not tuned): PCA components and lifelines penalizer.
PROBE_COMPONENTS = 16
PROBE_PENALIZER = 0.1


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


@dataclass
class PretrainConfig:
    """Pretraining settings (stored in the checkpoint)."""

    epochs: int = 8  # paper: 300 on a GPU; CPU budget here (see README)
    batch_size: int = 128  # paper: 128
    lr: float = 1e-3  # paper: AdamW 1e-3
    betas: tuple[float, float] = (0.9, 0.95)  # paper
    weight_decay: float = 1e-2  # AdamW decoupled weight decay
    warmup_frac: float = 0.2  # paper: 20 % warm-up then cosine
    align: str = "cosine"  # "cosine" (paper, positives only), "infonce" (CLIP-style) or "none"
    align_weight: float = 1.0  # weight of the alignment term next to reconstruction MSE
    temperature: float = 0.1  # InfoNCE temperature
    proj_dim: int = 128  # shared projection space (paper: 512 -> 256 -> 128)
    mask_keep: tuple[int, ...] = MASK_KEEP  # whole-lead masking choices
    seed: int = 0  # RNG seed (init, shuffling, masking)


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
        History: per-epoch mean losses and wall time.
    """
    torch.manual_seed(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    use_align = cfg.align != "none" and text_emb is not None
    proj_e = Projection(net.cfg.embed_dim, cfg.proj_dim)
    proj_t = Projection(text_emb.shape[1], cfg.proj_dim) if use_align else None
    params = list(net.parameters()) + list(proj_e.parameters()) + (list(proj_t.parameters()) if proj_t else [])
    opt = torch.optim.AdamW(params, lr=cfg.lr, betas=cfg.betas, weight_decay=cfg.weight_decay)
    steps_per_epoch = max(1, len(x) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(cfg.epochs * steps_per_epoch, cfg.warmup_frac))
    hist = {"epoch": [], "recon": [], "align": [], "seconds": []}
    start = 0
    ckpt = Path(checkpoint) if checkpoint else None
    if ckpt and resume and ckpt.is_file():
        state = torch.load(ckpt, weights_only=True)
        net.load_state_dict(state["model"])
        proj_e.load_state_dict(state["proj_e"])
        if proj_t is not None and "proj_t" in state:
            proj_t.load_state_dict(state["proj_t"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        gen.set_state(state["gen"])
        hist = state["history"]
        start = int(state["epoch"])
        _log(f"pretrain: resumed from {ckpt.name} at epoch {start}")
    xt = torch.from_numpy(x)
    tt = torch.from_numpy(np.asarray(text_emb, np.float32)) if use_align else None
    has_text = (tt.abs().sum(1) > 0) if use_align else None
    net.train()
    for epoch in range(start, cfg.epochs):
        t0 = time.perf_counter()
        perm = torch.randperm(len(x), generator=gen)
        sums = np.zeros(2)
        for s in _progress(range(steps_per_epoch), steps_per_epoch, f"pretrain {epoch + 1}/{cfg.epochs}"):
            idx = perm[s * cfg.batch_size : (s + 1) * cfg.batch_size]
            xb = xt[idx]
            out = net(mask_leads(xb, gen, cfg.mask_keep))
            recon = F.mse_loss(out.recon, xb)
            align = torch.zeros(())
            if use_align and has_text[idx].sum() > 1:
                m = has_text[idx]
                align = alignment_loss(proj_e(out.embedding[m]), proj_t(tt[idx][m]), cfg.align, cfg.temperature)
            loss = recon + cfg.align_weight * align
            opt.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            sums += [float(recon.detach()), float(align.detach())]
        hist["epoch"].append(epoch + 1)
        hist["recon"].append(float(sums[0] / steps_per_epoch))
        hist["align"].append(float(sums[1] / steps_per_epoch))
        hist["seconds"].append(time.perf_counter() - t0)
        _log(
            f"pretrain epoch {epoch + 1}/{cfg.epochs}: recon {hist['recon'][-1]:.4f} "
            f"align({cfg.align}) {hist['align'][-1]:.4f} [{hist['seconds'][-1]:.0f} s]"
        )
        if ckpt:
            state = {
                "model": net.state_dict(), "proj_e": proj_e.state_dict(), "opt": opt.state_dict(),
                "sched": sched.state_dict(), "gen": gen.get_state(), "epoch": epoch + 1, "history": hist,
                "model_config": net.cfg.to_dict(), "pretrain_config": _cfg_dict(cfg),
            }
            if proj_t is not None:
                state["proj_t"] = proj_t.state_dict()
            ckpt.parent.mkdir(parents=True, exist_ok=True)
            tmp = ckpt.with_suffix(".tmp")
            torch.save(state, tmp)
            tmp.replace(ckpt)
    net.eval()
    return hist


def _cfg_dict(cfg) -> dict:
    d = asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


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


@dataclass
class FinetuneConfig:
    """Cox fine-tuning settings."""

    epochs: int = 20  # paper: 100 (pretrained) / 400 (scratch) on a GPU; CPU budget here
    batch_size: int = 64  # subjects per batch
    lr: float = 1e-3  # AdamW learning rate
    # "probe": before training, set the linear head to a penalised Cox fit on the frozen embedding of the
    # training ECGs (init_head_from_probe) and let early stopping keep that epoch-0 model if no fine-tuned
    # epoch validates better; "none": train the freshly initialised head with the rest (the paper).
    head_init: str = "probe"
    weight_decay: float = 1e-2  # paper
    warmup_frac: float = 0.1  # linear warm-up share of all steps, then cosine
    cox_weight: float = 0.5  # paper: 0.5 x Cox NLL (per event)
    recon_weight: float = 0.5  # paper: + 0.5 x reconstruction MSE
    ties: str = "efron"  # tie handling of the Cox loss
    min_events: int = 2  # events guaranteed in every batch by the stratified sampler
    patience: int = 4  # early stopping: epochs without a better validation C-index
    grad_clip: float = 1.0  # max gradient norm
    mask_leads: bool = False  # whole-lead masking during fine-tuning
    seed: int = 0  # RNG seed


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
        net.train()
        tot = 0.0
        batches = stratified_batches(event, cfg.batch_size, cfg.min_events, rng)
        for idx in _progress(batches, len(batches), f"{desc} {epoch + 1}/{cfg.epochs}"):
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
        val_c = concordance_index(time_val, predict(net, x_val), event_val)
        hist["epoch"].append(epoch + 1)
        hist["loss"].append(float(tot / len(batches)))
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
    _log(f"{desc}: best validation C {best_c:.3f} at epoch {best_epoch}/{len(hist['epoch'])} "
         f"[{sum(hist['seconds']):.0f} s]")
    return hist
