"""Every training setting in one place: the config dataclasses, their defaults and their command-line options.

:class:`PretrainConfig` (pretraining loop), :class:`FinetuneConfig` (Cox fine-tuning loop) and
:class:`ReproduceConfig` (``python -m hfviz reproduce`` / ``evaluate`` / ``finetune``) are the only
place a default is written. :func:`add_config_options` turns their fields into argparse options:
the flag's default is the field's default and its help is the field's comment in this file (a
comment block above a field, then the comment on its line). This module imports no torch, so the
command line builds its parser quickly.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import inspect
import json
import re
import types
import typing
from dataclasses import dataclass, field

#: Whole-lead masking: number of leads kept (12 = no masking), chosen uniformly per ECG.
MASK_KEEP = (2, 3, 4, 6, 8, 12)
#: ECG-text alignments of the pretraining ("none" = reconstruction only, no text).
ALIGNMENTS = ("cosine", "infonce", "soft", "none")
#: Ways of fitting the shipped models' risk head (ReproduceConfig.risk_fit).
RISK_FITS = ("joint-probe", "probe", "finetune")
#: Linear-probe head initialisation, fixed a priori (not tuned): PCA components and lifelines penalizer.
PROBE_COMPONENTS = 16
PROBE_PENALIZER = 0.1


@dataclass
class PretrainConfig:
    """Pretraining settings (stored in the checkpoint)."""

    epochs: int = 8  # paper: 300 on a GPU; CPU budget here (see README)
    batch_size: int = 128  # paper: 128
    lr: float = 1e-3  # paper: AdamW 1e-3
    betas: tuple[float, float] = (0.9, 0.95)  # AdamW betas (paper)
    weight_decay: float = 1e-2  # AdamW decoupled weight decay
    warmup_frac: float = 0.2  # paper: 20 % warm-up then cosine
    align: str = "cosine"  # "cosine" (paper, positives only), "infonce" (CLIP-style), "soft" (InfoNCE, soft targets) or "none"
    align_weight: float = 1.0  # weight of the alignment term next to reconstruction MSE
    # weight of the auxiliary statement term: a linear head on the embedding predicts every SCP statement's
    # likelihood / 100 (binary cross-entropy, the reports' codes as soft labels); 0 = off (the shipped recipe)
    statement_weight: float = 0.0
    temperature: float = 0.1  # InfoNCE temperature
    proj_dim: int = 128  # shared projection space (paper: 512 -> 256 -> 128)
    mask_keep: tuple[int, ...] = MASK_KEEP  # whole-lead masking choices (leads kept per ECG)
    seed: int = 0  # RNG seed (init, shuffling, masking)
    grad_clip: float = 1.0  # max gradient norm
    device: str = "auto"  # where to train: auto (CUDA when available, else CPU), cpu, cuda or cuda:N
    precision: str = "fp32"  # fp32, or bf16 autocast (CUDA only; losses in float32)


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
    weight_decay: float = 1e-2  # AdamW weight decay (paper)
    warmup_frac: float = 0.1  # linear warm-up share of all steps, then cosine
    cox_weight: float = 0.5  # paper: 0.5 x Cox NLL (per event)
    recon_weight: float = 0.5  # paper: + 0.5 x reconstruction MSE
    ties: str = "efron"  # tie handling of the Cox loss
    min_events: int = 2  # events guaranteed in every batch by the stratified sampler
    patience: int = 4  # early stopping: epochs without a better validation C-index
    grad_clip: float = 1.0  # max gradient norm
    mask_leads: bool = False  # whole-lead masking during fine-tuning
    seed: int = 0  # RNG seed
    device: str = "auto"  # where to train: auto (CUDA when available, else CPU), cpu, cuda or cuda:N
    precision: str = "fp32"  # fp32, or bf16 autocast (CUDA only; the Cox loss in float32)


#: Defaults of ``python -m hfviz evaluate``: folds of the CV table (2-fold CV x 5 seeds) per kind of row,
#: and the pretraining alignments compared (one pretraining each), in table order.
ALL_FOLDS = 10
EVAL_ALIGNS = ("soft", "infonce", "cosine", "none")
#: PretrainConfig / FinetuneConfig fields that ReproduceConfig sets itself (its own fields, or derived).
PRETRAIN_SET_BY_REPRODUCE = ("epochs", "align", "seed", "device", "precision", "statement_weight")
FINETUNE_SET_BY_REPRODUCE = ("epochs", "lr", "seed", "head_init", "device", "precision")


@dataclass
class ReproduceConfig:
    """Sizes and epochs of ``python -m hfviz reproduce`` and ``evaluate`` (chosen for 2 CPU cores: see the README)."""

    data_dir: str = "data"  # simulated datasets (data/pretrain, data/mi, data/hyp)
    models_dir: str = "models"  # shipped outputs
    runs_dir: str = "runs"  # pretraining checkpoints and per-fold logs (not shipped)
    # ECGs in the simulated pretraining corpus (None = preset default, 20,000, in data/pretrain;
    # an int n uses data/pretrain-n)
    pretrain_n: int | None = None
    pretrain_epochs: int = 5  # pretraining epochs (paper: 300 on a GPU)
    # alignment of the shipped models' encoder: soft-target InfoNCE (docs/text_alignment.md; the encoder the
    # statement reader uses too; the paper's positive-only cosine collapses to one embedding direction)
    pretrain_align: str = "soft"
    # fine-tuning epochs (early stopping on validation C; paper: 100): sized so that the
    # full 10-fold table fits ~90 min on 2 CPU cores
    finetune_epochs: int = 6
    mi_n: int | None = None  # size of the MI cohort (None = preset default)
    hyp_n: int | None = None  # size of the HYP cohort (None = preset default)
    data_seed: int = 0  # simulator seed
    seed: int = 0  # training seed
    threads: int = 1  # torch intra-op threads; 1 is far faster than 2 when the cores are shared (OpenMP spin-waits)
    workers: int = 2  # processes for independent jobs (the two pretrainings, CV folds, the two shipped models)
    # "linear": Cox-linear head started from the penalised-Cox probe fit (LP-FT);
    # "mlp": the official 3-unit head (LeakyReLU), randomly initialised as in the paper
    risk_head: str = "linear"
    # how the shipped models' linear head is fitted (chosen on the development cohorts: scripts/dev/risk_levers.py):
    # "joint-probe": one penalised-Cox probe on the frozen encoder's embeddings of BOTH cohorts' training halves,
    # stratified by cohort (shared ECG coefficients, a baseline hazard per cohort); "probe": the same on the
    # cohort's own training half; "finetune": the probe, then Cox fine-tuning with early stopping (LP-FT)
    risk_fit: str = "joint-probe"
    # weight of the auxiliary statement objective in every pretraining reproduce runs (PretrainConfig.statement_weight;
    # 0 = without it; 1.0 won the #18 development study: scripts/dev/risk_levers.py)
    pretrain_statement_weight: float = 1.0
    probe_bags: int = 1  # bootstrap resamples averaged by the probe (1 = one fit on the data as given)
    # PCA components of the embedding the probe's Cox model sees, chosen on the development cohorts with the shipped
    # encoder (scripts/dev/risk_levers.py; the best number moves with the encoder: 8 for the previous simulator's,
    # 16 for the current one, as PROBE_COMPONENTS elsewhere, e.g. evaluate's probes)
    probe_components: int = 16
    # lifelines penalizer of that probe (lifelines multiplies it by the number of subjects), chosen in the same
    # study's fifth round over three pretraining draws; the a-priori 0.1 over-shrank a fit of ~45 events
    probe_penalizer: float = 0.001
    finetune_lr: float = 3e-4  # AdamW learning rate of the fine-tuning (after the probe initialisation)
    device: str = "auto"  # where to train: auto (CUDA when available, else CPU), cpu, cuda or cuda:N
    precision: str = "fp32"  # fp32, or bf16 autocast (CUDA only; the Cox loss in float32)
    # other PretrainConfig fields, only those that differ from its defaults (e.g. {"batch_size": 64})
    pretrain_options: dict = field(default_factory=dict)
    # other FinetuneConfig fields, only those that differ from its defaults (e.g. {"patience": 2})
    finetune_options: dict = field(default_factory=dict)

    def pretrain_config(self, align: str) -> PretrainConfig:
        """Pretraining settings for ``align``: epochs, seed and device from here, the rest from ``pretrain_options``."""
        _check_options(self.pretrain_options, PretrainConfig, PRETRAIN_SET_BY_REPRODUCE)
        return PretrainConfig(**self.pretrain_options, epochs=self.pretrain_epochs, align=align, seed=self.seed,
                              device=self.device, precision=self.precision,
                              statement_weight=self.pretrain_statement_weight)

    def finetune_config(self) -> FinetuneConfig:
        """Fine-tuning settings: epochs, learning rate, the head initialisation that goes with ``risk_head``,
        and ``finetune_options``."""
        _check_options(self.finetune_options, FinetuneConfig, FINETUNE_SET_BY_REPRODUCE)
        return FinetuneConfig(**self.finetune_options, epochs=self.finetune_epochs, lr=self.finetune_lr,
                              seed=self.seed, head_init="probe" if self.risk_head == "linear" else "none",
                              device=self.device, precision=self.precision)

    @property
    def pretrain_corpus_n(self) -> int:
        """ECGs in the pretraining corpus (20,000 = the ``pretrain`` preset default when ``pretrain_n`` is None)."""
        return 20000 if self.pretrain_n is None else self.pretrain_n

    def options_tag(self, which: str = "both") -> str:
        """``""`` with default loop options, else ``"_opt<8 hex>"`` naming them (``which``: pretrain, finetune, both).

        File names of checkpoints and per-fold logs carry it, so different settings never share a file.
        """
        opts = {"pretrain": self.pretrain_options, "finetune": self.finetune_options}
        chosen = {k: v for k, v in opts.items() if v and which in (k, "both")}
        if not chosen:
            return ""
        return "_opt" + hashlib.sha256(json.dumps(chosen, sort_keys=True).encode()).hexdigest()[:8]


def _check_options(options: dict, cls, set_elsewhere: tuple[str, ...]) -> None:
    names = {f.name for f in dataclasses.fields(cls)}
    bad = [k for k in options if k not in names or k in set_elsewhere]
    if bad:
        raise ValueError(f"{cls.__name__} options {bad} are unknown or set by ReproduceConfig itself")


def non_default(cls, values: dict) -> dict:
    """The entries of ``values`` ({field: value}) that differ from ``cls``'s field defaults."""
    defaults = {f.name: f.default for f in dataclasses.fields(cls)}
    return {k: v for k, v in values.items() if v != defaults[k]}


# --- command-line options from the fields ---------------------------------------------------------


def field_help(cls) -> dict[str, str]:
    """{field: comment} of a dataclass, read from its source (comment block above + comment on the line)."""
    try:
        lines = inspect.getsource(cls).splitlines()[1:]
    except (OSError, TypeError):  # no source (frozen application): options without help
        return {}
    names = {f.name for f in dataclasses.fields(cls)}
    out, pending = {}, []
    for line in lines:
        text = line.strip()
        if text.startswith("#"):
            pending.append(text.lstrip("#").strip())
            continue
        m = re.match(r"\s*(\w+)\s*:[^#]*(?:#\s*(.*))?$", line)
        if m and m.group(1) in names:
            out[m.group(1)] = " ".join(pending + ([m.group(2)] if m.group(2) else []))
        pending = []
    return out


def _argparse_type(tp) -> dict:
    """argparse keywords for a field type (bool, int, float, str, X | None, tuple[X, ...], tuple[X, X])."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is bool:
        return {"action": argparse.BooleanOptionalAction}
    if origin is tuple:
        return {"type": args[0], "nargs": "+" if args[-1] is Ellipsis else len(args)}
    if origin in (typing.Union, types.UnionType):
        return {"type": next(a for a in args if a is not type(None))}
    return {"type": tp}


def option_dest(prefix: str, name: str) -> str:
    """Attribute name on the parsed arguments of field ``name`` added with ``prefix``."""
    return (prefix + name).replace("-", "_")


def add_config_options(parser, cls, *, prefix: str = "", only=None, exclude=(), flags: dict | None = None,
                       defaults: dict | None = None, choices: dict | None = None) -> None:
    """Add one option per field of dataclass ``cls`` to ``parser``.

    Parameters
    ----------
    prefix : str
        Flag and destination prefix, e.g. ``"pretrain-"`` gives ``--pretrain-batch-size``.
    only, exclude : iterable of str
        Fields to add (default: all with a plain default) and fields to leave out.
    flags : dict
        Flag per field where it is not ``--<prefix><field>`` (e.g. ``{"data_dir": "--data"}``).
    defaults : dict
        Defaults taken from another config's field (e.g. the shipped models' pretraining epochs).
    choices : dict
        Allowed values per field.
    """
    helps, hints = field_help(cls), typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if (only is not None and f.name not in only) or f.name in exclude or f.default is dataclasses.MISSING:
            continue
        kwargs = _argparse_type(hints[f.name])
        if choices and f.name in choices:
            kwargs["choices"] = list(choices[f.name])
        flag = (flags or {}).get(f.name, "--" + (prefix + f.name).replace("_", "-"))
        if "type" in kwargs and "choices" not in kwargs:
            kwargs["metavar"] = flag.lstrip("-").replace("-", "_").upper()
        text = helps.get(f.name, "").replace("%", "%%")
        parser.add_argument(flag, dest=option_dest(prefix, f.name), default=(defaults or {}).get(f.name, f.default),
                            help=f"{text} (default: %(default)s)".lstrip(), **kwargs)


def config_values(args, cls, *, prefix: str = "", only=None, exclude=()) -> dict:
    """{field: value} of the options :func:`add_config_options` added (lists back to tuples)."""
    out = {}
    for f in dataclasses.fields(cls):
        dest = option_dest(prefix, f.name)
        if (only is not None and f.name not in only) or f.name in exclude or not hasattr(args, dest):
            continue
        value = getattr(args, dest)
        out[f.name] = tuple(value) if isinstance(value, list) else value
    return out
