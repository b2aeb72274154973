"""Reproducible results: the pretraining checkpoints, the shipped models and the whole CV table.

``python -m hfviz reproduce`` simulates the synthetic data, pretrains, fine-tunes and writes
the shipped models with their cards; ``python -m hfviz evaluate`` runs every row of the CV
table (:mod:`hfviz.training.protocol`) on every fold and attaches it to the cards.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hfviz.device import is_main
from hfviz.jsonutil import plain_dict
from hfviz.risk import survival as sv
from hfviz.risk.network import DualAttentionNet, ModelConfig, count_parameters
from hfviz.training.config import (
    ALL_FOLDS,
    EVAL_ALIGNS,
    PROBE_COMPONENTS,
    PROBE_PENALIZER,
    RISK_FITS,
    ReproduceConfig,
)
from hfviz.training.protocol import (
    TD_TIMES,
    TrainingSet,
    Variant,
    append_rows,
    cv_folds,
    finished_keys,
    fit_measurement_cox,
    fold_metrics,
    fold_task,
    inner_split,
    load_training_set,
    markdown_table,
    measurement_table,
    read_rows,
    summarise,
)
from hfviz.training.simulated import preset_size, simulate_dataset
from hfviz.training.pretrain import load_pretrained
from hfviz.training.train import embed, finetune, fit_joint_probe, log, predict, set_linear_head

__all__ = ["ReproduceConfig", "ensure_dataset", "pretrain_checkpoint", "build_shipped_model", "reproduce",
           "standard_variants", "pretrain_all", "run_evaluation", "evaluation_config_note"]


# --- simulate / pretrain helpers used by reproduce --------------------------------------------------


def ensure_dataset(preset: str, out: Path, *, n: int | None, seed: int, workers: int = 1) -> Path:
    """Simulate ``preset`` into ``out`` unless it already exists; return ``out``.

    Writes the same files as ``python -m hfviz simulate --preset PRESET --n N --seed SEED --out OUT``
    (both call :func:`hfviz.training.simulated.simulate_dataset`).
    """
    if (out / "cohort.csv").is_file() and (out / "median_beats.npy").is_file():
        return out
    from tqdm.auto import tqdm

    n = n or None  # 0 / None: the preset's size, as the command line treats an absent --n
    total = preset_size(preset, n)
    log(f"simulate {preset}: {total} ECGs, seed {seed} -> {out}")
    with tqdm(total=total, desc=f"simulate {preset} (synthetic)", unit="ECG", leave=False,
              disable=not sys.stderr.isatty()) as bar:
        simulate_dataset(preset, out, n=n, seed=seed, workers=workers, progress=bar.update)
    return out


# --- the shipped models -------------------------------------------------------------------------------

INTENDED_USE = (
    "Research and demonstration of the method (LLM-informed dual-attention ECG network for heart-failure "
    "risk). Trained on SYNTHETIC data only. Not a medical device; not for clinical decisions."
)
LIMITATIONS = [
    "Trained and evaluated on simulated ECGs and simulated outcomes (hfviz.simulate); performance on real "
    "patients is unknown and must not be inferred from these numbers.",
    "Text side: all-MiniLM-L6-v2 on SCP-statement prompts, not Bio_ClinicalBERT as in the paper.",
    "CPU budget: 5 pretraining epochs (the paper: 300 on a GPU). The risk head is a penalised Cox model on the "
    "frozen embedding (chosen on development cohorts over fine-tuning the network), not a fine-tuned network.",
    "Few events (MI-like ~4 %): C-index confidence intervals are wide.",
    "Percentiles and survival curves refer to the synthetic training cohort.",
]


def _corpus_name(rc: ReproduceConfig) -> str:
    return "pretrain" if rc.pretrain_n is None else f"pretrain-{rc.pretrain_n}"


def pretrain_checkpoint_name(rc: ReproduceConfig, align: str) -> str:
    """File name of the pretraining checkpoint for ``rc`` and ``align`` (corpus and epochs in the name)."""
    statements = f"_st{rc.pretrain_statement_weight:g}" if rc.pretrain_statement_weight else ""
    return f"pretrain_{align}_{_corpus_name(rc)}_{rc.pretrain_epochs}ep{statements}{rc.options_tag('pretrain')}.pt"


def _pretrain_dir(rc: ReproduceConfig) -> Path:
    return Path(rc.data_dir) / _corpus_name(rc)


def _pretrain_task(rc: ReproduceConfig, align: str) -> Path:
    torch.set_num_threads(rc.threads)
    return pretrain_checkpoint(rc, align)


def pretrain_checkpoint(rc: ReproduceConfig, align: str) -> Path:
    """Pretrain (or resume / reuse) on the simulated report corpus; return the checkpoint path."""
    from hfviz.training.pretrain import pretrain
    from hfviz.training.text import embed_table, statement_targets

    ckpt = Path(rc.runs_dir) / pretrain_checkpoint_name(rc, align)
    if ckpt.is_file() and int(torch.load(ckpt, weights_only=True, map_location="cpu").get("epoch", 0)) >= rc.pretrain_epochs:
        return ckpt  # finished earlier: no need to load the corpus
    pre_dir = _pretrain_dir(rc)
    ensure_dataset("pretrain", pre_dir, n=rc.pretrain_n, seed=rc.data_seed, workers=rc.workers)
    pre = load_training_set(pre_dir)
    text = embed_table(pre.table, mode="scp", cache_dir=pre_dir) if align != "none" else None
    cfg = rc.pretrain_config(align)
    targets = statement_targets(pre.table["scp_codes"])[1] if cfg.statement_weight > 0 else None
    torch.manual_seed(rc.seed)
    pretrain(DualAttentionNet(ModelConfig()), pre.x, text, cfg, checkpoint=ckpt, statement_targets=targets)
    return ckpt


def shipped_split(c: TrainingSet) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fit, val, test) indices of a shipped model: CV seed 42 fold 0; its training half split 80/20.

    The probe fits use fit + val (the whole training half); fine-tuning uses val for early stopping.
    """
    seed, _, tr, te = cv_folds(c.event)[0]
    fit, val = inner_split(tr, c.event, seed)
    return fit, val, te


def probe_head(rc: ReproduceConfig, net: DualAttentionNet, sets: dict[str, TrainingSet]) -> tuple[np.ndarray, float, dict]:
    """The shipped probe head on ``net``'s frozen embedding of each set's training half.

    :func:`~hfviz.training.train.fit_joint_probe`: one set, its probe; several (``risk_fit="joint-probe"``), one
    probe on all of them, Cox stratified by set (shared ECG coefficients, one baseline hazard each).

    Returns
    -------
    w : ndarray (512,), b : float
        The head, ``log_risk = emb @ w + b``.
    info : dict
        What it was fitted on (subjects and events per set) and with which settings, for the card.
    """
    parts, on = {}, {}
    for name, c in sorted(sets.items()):  # the card lists the sets in name order
        fit, val, _ = shipped_split(c)
        tv = np.concatenate([fit, val])
        parts[name] = (embed(net, c.x[tv]), c.time[tv], c.event[tv])
        on[name] = {"subjects": len(tv), "events": int(c.event[tv].sum())}
    w, b = fit_joint_probe(parts, n_bags=rc.probe_bags, n_components=rc.probe_components, penalizer=rc.probe_penalizer,
                           seed=rc.seed)
    info = {"risk_fit": rc.risk_fit, "fitted_on_training_halves": on, "bags": rc.probe_bags,
            "pca_components": rc.probe_components, "penalizer": rc.probe_penalizer,
            "stratified_by_cohort": len(sets) > 1, "encoder": "frozen (pretrained weights unchanged)"}
    return w, b, info


def build_shipped_model(cohort: str, rc: ReproduceConfig, ckpt: Path | None, *, data: Path | None = None,
                        joint_with: Path | None = None) -> dict:
    """Fit the shipped model of ``cohort`` on the training half of CV seed 42 fold 0 and write it with its card.

    ``rc.risk_fit`` chooses the head: a probe on the frozen encoder (``probe``), one shared with the other
    cohort's training half (``joint-probe``: the other cohort is ``joint_with``, by default the simulated
    one in ``rc.data_dir``), or LP-FT fine-tuning (``finetune``). The held-out predictions are the other
    half of the split (never seen in training or early stopping), so the app's Kaplan-Meier curves are
    honest out-of-sample curves. Every model's Breslow baseline comes from its own cohort's training half.
    """
    from hfviz.risk.model import save_risk_model

    c = load_training_set(Path(data) if data is not None else _cohort_dir(rc, cohort))
    t, e = c.time, c.event
    fit, val, te = shipped_split(c)
    trainval = np.concatenate([fit, val])
    t0 = time.perf_counter()
    torch.manual_seed(rc.seed)
    net = (load_pretrained(ckpt, risk_head=rc.risk_head) if ckpt is not None
           else DualAttentionNet(ModelConfig(risk_head=rc.risk_head)))
    if rc.risk_fit == "finetune":
        ft = rc.finetune_config()
        hist = finetune(net, c.x[fit], t[fit], e[fit], c.x[val], t[val], e[val], ft, desc=f"finetune {cohort}")
        training = {"risk_fit": "finetune", "finetune": plain_dict(ft), "best_epoch": hist["best_epoch"],
                    "best_val_c": round(hist["best_val_c"], 4), "finetune_seconds": round(sum(hist["seconds"]), 1)}
    elif rc.risk_fit in ("probe", "joint-probe"):
        sets = {cohort: c}
        if rc.risk_fit == "joint-probe":
            other = "hyp" if cohort == "mi" else "mi"
            sets[other] = load_training_set(Path(joint_with) if joint_with is not None else _cohort_dir(rc, other))
        w, b, training = probe_head(rc, net, sets)
        set_linear_head(net, w, b)
    else:
        raise ValueError(f"unknown risk_fit {rc.risk_fit!r}; expected one of {RISK_FITS}")
    if not is_main():
        return {}  # a data-parallel (torchrun) fine-tuning: rank 0 alone evaluates and writes the model
    net.eval()
    lr_tv, lr_te = predict(net, c.x[trainval]), predict(net, c.x[te])
    net.cpu()
    base = sv.breslow_baseline(t[trainval], lr_tv, e[trainval])
    card = _model_card(cohort, rc, c, (fit, val, te), _heldout_metrics(c, trainval, te, lr_tv, lr_te),
                       pretrained=ckpt is not None, training=training)
    card["n_parameters"] = count_parameters(net)
    card.update(limitations=LIMITATIONS, reproduce="python -m hfviz reproduce",
                wall_seconds=round(time.perf_counter() - t0, 1))
    ids = c.table["id"].to_numpy() if "id" in c.table else np.arange(len(c.table))
    preds = pd.DataFrame({"id": ids[te], "log_risk": lr_te, "time_months": t[te], "event": e[te]})
    rng = np.random.default_rng(0)
    beats = c.x[te][rng.choice(len(te), min(32, len(te)), replace=False)]
    return save_risk_model(Path(rc.models_dir), cohort, net, baseline=base, train_log_risk=lr_tv,
                           predictions=preds, card=card, beats=beats)


def _heldout_metrics(c: TrainingSet, trainval: np.ndarray, te: np.ndarray, lr_tv: np.ndarray,
                     lr_te: np.ndarray) -> dict:
    """Test-half metrics of a shipped model: fold metrics, bootstrap C-index CIs (500 resamples) of the
    model, of the measurement-Cox baseline and of the oracles (None without truth columns)."""
    t, e = c.time, c.event
    m = fold_metrics(t[trainval], e[trainval], lr_tv, t[te], e[te], lr_te)
    c_ci = sv.bootstrap_ci(sv.concordance_index, t[te], lr_te, e[te], n_boot=500)
    feats = measurement_table(c.beats_mv, c.table)
    cox = fit_measurement_cox(feats.iloc[trainval], t[trainval], e[trainval])
    cox_c = sv.bootstrap_ci(sv.concordance_index, t[te], cox(feats.iloc[te]), e[te], n_boot=500)
    oracles = {}
    for key, col in (("oracle", "true_log_hazard"), ("oracle_ecg", "ecg_log_hazard")):
        truth = c.table[col].to_numpy(float) if col in c.table else None
        oracles[key] = sv.bootstrap_ci(sv.concordance_index, t[te], truth[te], e[te], n_boot=500) if truth is not None else None
    return {"fold": m, "c": c_ci, "cox_c": cox_c, **oracles}


def _model_card(cohort: str, rc: ReproduceConfig, c: TrainingSet, split: tuple, hm: dict, *, pretrained: bool,
                training: dict) -> dict:
    """Card of a shipped model (the first keys; the caller adds parameters, limitations and wall time).

    ``split`` = (fit, val, test) indices; ``hm`` = :func:`_heldout_metrics`; ``training`` = how the head was fitted.
    """
    fit, val, te = split
    e = c.event
    m, oracle, oracle_ecg = hm["fold"], hm["oracle"], hm["oracle_ecg"]
    fmt = lambda x: f"{x[0]:.3f} (95 % CI {x[1]:.3f}-{x[2]:.3f})"  # noqa: E731
    return {
        "name": f"hfviz dual-attention HF risk model, {cohort.upper()}-like (synthetic)",
        "synthetic": True,
        "intended_use": INTENDED_USE,
        "training_data": {
            "source": "SYNTHETIC (hfviz simulator)",
            "cohort_meta": {k2: v for k2, v in c.meta.items() if isinstance(v, (str, int, float, bool))},
            "n_subjects": len(e), "n_events": int(e.sum()),
            "split": ("2-fold stratified CV seed 42, fold 0: train half (80 % fit / 20 % early-stopping validation), "
                      "other half held out") if rc.risk_fit == "finetune" else
                     "2-fold stratified CV seed 42, fold 0: train half (fit + val) fits the head, other half held out",
            "n_fit": len(fit), "n_val": len(val), "n_test": len(te), "events_test": int(e[te].sum()),
            "pretraining": pretraining_words(rc) if pretrained else "none (trained from scratch)",
            "risk_head": rc.risk_head,
        },
        "training": training,
        "metrics": {
            "held-out set": (f"one fold only: the other half of CV seed 42 fold 0 ({len(te)} subjects, "
                             f"{int(e[te].sum())} events); the multi-fold CV table is models/evaluation.md"),
            "c_index_heldout": fmt(hm["c"]),
            "oracle_c_index_heldout (true log-hazard incl. age/sex)": fmt(oracle) if oracle else "n/a",
            "oracle_c_index_heldout (ECG part only: ceiling for an ECG-only model)": fmt(oracle_ecg) if oracle_ecg else "n/a",
            "measurement_cox_c_index_heldout": fmt(hm["cox_c"]),
            **{f"td_auc_{int(tt)}m": round(m[f"auc_{int(tt)}"], 3) for tt in TD_TIMES},
            "integrated_brier_score_6_72m": round(m["ibs"], 4),
        },
        "metrics_raw": {"c_index": list(hm["c"]), "oracle_c": list(oracle) if oracle else None,
                        "oracle_ecg_c": list(oracle_ecg) if oracle_ecg else None,
                        "measurement_cox_c": list(hm["cox_c"]), **{k2: m[k2] for k2 in ("auc_12", "auc_36", "auc_60", "ibs")}},
    }


def pretraining_words(rc: ReproduceConfig) -> str:
    """The model card's one-line account of the pretraining ``rc`` runs (corpus, epochs, objectives, text encoder)."""
    statements = (f" + statement objective (weight {rc.pretrain_statement_weight:g})"
                  if rc.pretrain_statement_weight else "")
    return (f"{rc.pretrain_corpus_n} simulated ECGs with SCP-code text, {rc.pretrain_epochs} epochs, "
            f"{rc.pretrain_align} alignment + reconstruction{statements}, all-MiniLM-L6-v2 text encoder")


def _cohort_dir(rc: ReproduceConfig, cohort: str) -> Path:
    """Simulate the ``cohort`` preset into ``data_dir/cohort`` unless present; return the folder."""
    return ensure_dataset(cohort, Path(rc.data_dir) / cohort, n=rc.mi_n if cohort == "mi" else rc.hyp_n,
                          seed=rc.data_seed)


def _build_task(cohort: str, rc: ReproduceConfig, ckpt: Path | None) -> dict:
    torch.set_num_threads(rc.threads)
    return build_shipped_model(cohort, rc, ckpt)


def reproduce(rc: ReproduceConfig) -> dict:
    """simulate -> pretrain -> fine-tune MI and HYP -> held-out predictions -> model cards.

    With ``rc.workers`` >= 2 the cohorts are simulated while the network pretrains, and the two
    models are fine-tuned at the same time (one torch thread per process).
    """
    t0 = time.perf_counter()
    torch.set_num_threads(rc.threads)
    cohorts = ("mi", "hyp")
    if rc.workers > 1:
        ensure_dataset("pretrain", _pretrain_dir(rc), n=rc.pretrain_n, seed=rc.data_seed, workers=rc.workers)
        with _pool(2) as ex:
            fut_ckpt = ex.submit(_pretrain_task, rc, rc.pretrain_align)
            list(ex.map(_cohort_dir, [rc] * len(cohorts), cohorts))  # on the other core, meanwhile
            ckpt = fut_ckpt.result()
            cards = dict(zip(cohorts, ex.map(_build_task, cohorts, [rc] * len(cohorts), [ckpt] * len(cohorts))))
    else:
        ckpt = pretrain_checkpoint(rc, rc.pretrain_align)
        cards = {c: build_shipped_model(c, rc, ckpt) for c in cohorts}
    from hfviz.risk.model import share_identical_weights

    share_identical_weights(rc.models_dir, cohorts)  # the joint probe's two networks are one file
    jpath = Path(rc.models_dir) / "evaluation.json"
    if jpath.is_file():  # keep the CV table in the new cards, labelled with the configuration it was measured with
        ev = json.loads(jpath.read_text())
        _attach_to_cards(Path(rc.models_dir), {c: r for c, r in ev.get("results", {}).items() if c in cards},
                         ev.get("config"))
    log(f"reproduce finished in {time.perf_counter() - t0:.0f} s")
    return cards


#: Row labels of the pretraining alignments ("none" = reconstruction-only pretraining, no text).
ALIGN_LABELS = {"soft": "soft-target InfoNCE", "infonce": "InfoNCE", "cosine": "cosine", "none": "reconstruction only"}


def standard_variants(ckpts: dict[str, str | Path], *, risk_head: str = "linear") -> list[Variant]:
    """The table's rows: the network pretrained with each alignment in ``ckpts`` ({align: checkpoint}),
    from scratch, the measurement-Cox baseline, the ablations (from scratch) and the frozen-embedding probes."""
    aligns = [a for a in ALIGN_LABELS if a in ckpts]
    vs = [Variant(f"pretrained ({ALIGN_LABELS[a]})", "net", pretrained=str(ckpts[a])) for a in aligns]
    vs += [
        Variant("scratch", "net"),
        Variant("measurement Cox", "cox"),
        Variant("scratch, no lead attention", "net", model={"use_lead_attention": False}),
        Variant("scratch, no temporal attention", "net", model={"use_temporal_attention": False}),
        Variant("scratch, neither attention", "net", model={"use_lead_attention": False, "use_temporal_attention": False}),
    ]
    vs += [Variant(f"probe: pretrained ({ALIGN_LABELS[a]}) embedding + Cox", "probe", pretrained=str(ckpts[a]))
           for a in aligns]
    vs.append(Variant("probe: random-init embedding + Cox", "probe"))
    return [replace(v, risk_head=risk_head) if v.kind == "net" else v for v in vs]


def _pool(workers: int):
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))


def pretrain_all(rc: ReproduceConfig, aligns) -> dict[str, Path]:
    """Pretraining checkpoint per alignment; missing ones are trained (in parallel with ``rc.workers`` > 1)."""
    aligns = list(aligns)
    missing = [a for a in aligns if not (Path(rc.runs_dir) / pretrain_checkpoint_name(rc, a)).is_file()]
    if rc.workers > 1 and len(missing) > 1:
        from hfviz.training.text import embed_table

        pre_dir = _pretrain_dir(rc)
        ensure_dataset("pretrain", pre_dir, n=rc.pretrain_n, seed=rc.data_seed, workers=rc.workers)
        embed_table(load_training_set(pre_dir).table, mode="scp", cache_dir=pre_dir)  # text cache once, before the workers
        with _pool(min(rc.workers, len(aligns))) as ex:
            return dict(zip(aligns, ex.map(_pretrain_task, [rc] * len(aligns), aligns)))
    return {a: pretrain_checkpoint(rc, a) for a in aligns}


def eval_log_name(rc: ReproduceConfig, cohort: str) -> str:
    """Per-fold JSONL log of ``cohort`` under this configuration (different settings never share a log)."""
    return (f"eval_{cohort}_{_corpus_name(rc)}_{rc.pretrain_epochs}ep_{rc.risk_head}_lr{rc.finetune_lr:g}_"
            f"ft{rc.finetune_epochs}_seed{rc.seed}{rc.options_tag()}.jsonl")


def run_evaluation(rc: ReproduceConfig, cohorts=("mi", "hyp"), *, main_folds: int = ALL_FOLDS,
                   extra_folds: int = ALL_FOLDS, probe_folds: int = ALL_FOLDS, aligns=EVAL_ALIGNS) -> dict:
    """The results table for ``cohorts`` (paper protocol, all rows on the same folds).

    Main rows (network pretrained with ``rc.pretrain_align``, scratch, measurement Cox) run on the first
    ``main_folds`` folds, ablations and the other alignment on ``extra_folds``, probes on ``probe_folds``.
    Folds of both cohorts are spread over ``rc.workers`` processes (one torch thread each); every row is
    appended to ``runs/eval_<cohort>_<config>.jsonl`` as it finishes, so an interrupted run resumes.
    Writes ``models/evaluation.json`` and ``evaluation.md`` and copies the rows into the model cards.
    """
    t_start = time.perf_counter()
    torch.set_num_threads(rc.threads)
    runs = Path(rc.runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    variants = standard_variants(pretrain_all(rc, aligns), risk_head=rc.risk_head)
    main = {f"pretrained ({ALIGN_LABELS[rc.pretrain_align]})", "scratch", "measurement Cox"}
    folds = {v.name: (main_folds if v.name in main else probe_folds if v.kind == "probe" else extra_folds)
             for v in variants}
    dirs = {cohort: _cohort_dir(rc, cohort) for cohort in cohorts}
    logs = {cohort: runs / eval_log_name(rc, cohort) for cohort in cohorts}
    loaded = {c: load_training_set(dirs[c]) for c in cohorts}  # events for the fold list here, everything for the summary
    _run_folds(rc, variants, folds, dirs, logs, loaded)
    log(f"evaluate: all folds done in {(time.perf_counter() - t_start) / 60:.1f} min")
    out = Path(rc.models_dir)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "evaluation.json"
    results = json.loads(jpath.read_text()).get("results", {}) if jpath.is_file() else {}  # other cohorts are kept
    for cohort, c in loaded.items():
        results[cohort] = _cohort_summary(rc, c, read_rows(logs[cohort]), variants, (main_folds, extra_folds, probe_folds))
    notes = _evaluation_notes(rc)
    jpath.write_text(json.dumps({"results": results, "notes": notes, "config": plain_dict(rc)}, indent=1, default=float))
    md = out / "evaluation.md"
    md.write_text(_evaluation_markdown(results, notes) + _sections_after_notes(md.read_text() if md.is_file() else ""))
    _attach_to_cards(out, results, plain_dict(rc))
    return results


def _run_folds(rc: ReproduceConfig, variants: list[Variant], folds: dict[str, int], dirs: dict[str, Path],
               logs: dict[str, Path], loaded: dict[str, TrainingSet]) -> None:
    """Run every (cohort, fold) with unfinished rows, in ``rc.workers`` processes; rows go to ``logs[cohort]``."""
    ft = rc.finetune_config()
    cohorts = list(dirs)
    n_folds = max(folds.values())
    # the larger cohort first: its folds are the long tasks (longest-first keeps the workers busy)
    order = sorted(cohorts, key=lambda c: -(dirs[c] / "median_beats.npy").stat().st_size)
    all_folds = {c: cv_folds(loaded[c].event) for c in cohorts}
    todo = {c: {(v.name, all_folds[c][i][0], all_folds[c][i][1]) for v in variants for i in range(folds[v.name])}
            - finished_keys(logs[c]) for c in cohorts}
    tasks = [(c, i) for c in order for i in range(n_folds)
             if any((v.name, *all_folds[c][i][:2]) in todo[c] for v in variants)]
    by_dir = {str(dirs[c]): c for c in cohorts}
    if rc.workers > 1:
        from concurrent.futures import as_completed

        with _pool(rc.workers) as ex:
            futs = [ex.submit(fold_task, str(dirs[c]), i, variants, ft, folds, finished_keys(logs[c]), rc.threads)
                    for c, i in tasks]
            for f in as_completed(futs):
                d, rows = f.result()
                append_rows(logs[by_dir[d]], rows)
    else:
        for c, i in tasks:
            d, rows = fold_task(str(dirs[c]), i, variants, ft, folds, finished_keys(logs[c]), rc.threads)
            append_rows(logs[c], rows)


def _cohort_summary(rc: ReproduceConfig, c: TrainingSet, rows: list[dict], variants: list[Variant],
                    fold_counts: tuple[int, int, int]) -> dict:
    """:func:`~hfviz.training.protocol.summarise` of one cohort's rows plus its size, budget and configuration."""
    s = summarise(rows, c, variants)
    s["wall_seconds_all_folds"] = round(sum(r["wall_s"] for r in rows), 1)
    s["n_subjects"], s["n_events"] = len(c.event), int(c.event.sum())
    s["main_folds"], s["extra_folds"], s["probe_folds"] = fold_counts
    s["finetune_epochs"], s["patience"] = rc.finetune_epochs, rc.finetune_config().patience
    s["config"] = plain_dict(rc)
    return s


def _evaluation_notes(rc: ReproduceConfig) -> list[str]:
    """The protocol notes under the table (evaluation.md / evaluation.json)."""
    return [
        "Protocol: 2-fold stratified CV x seeds 42, 2021, 2022, 2023, 2024 (10 test folds, taken in this order); "
        "inner 80/20 stratified split of the training half; the epoch with the best validation C is kept. "
        "Every row runs on the same folds; nothing was tuned on these cohorts' test folds.",
        f"Network rows: linear risk head started from a penalised Cox fit on the frozen embedding of the fit part "
        f"(PCA({PROBE_COMPONENTS}), lifelines penalizer {PROBE_PENALIZER}), then fine-tuned end to end "
        f"(0.5 x Efron Cox + 0.5 x reconstruction, AdamW lr {rc.finetune_lr:g}, up to {rc.finetune_epochs} epochs, "
        f"early stopping on validation C with the probe-initialised model as epoch 0). This recipe was chosen on "
        f"independently simulated development cohorts (simulator seed 1), not on these cohorts."
        if rc.risk_head == "linear" else
        f"Network rows: the official 3-unit risk head, randomly initialised, fine-tuned end to end "
        f"(AdamW lr {rc.finetune_lr:g}, up to {rc.finetune_epochs} epochs, early stopping on validation C).",
        "Ablations are trained from scratch and compare with the 'scratch' row.",
        "Probe rows: frozen encoder, the same probe head fitted on the whole training half (fit + validation), "
        "no fine-tuning: what the representation alone carries.",
        f"Pretraining: {rc.pretrain_epochs} epochs on {rc.pretrain_corpus_n} simulated ECGs with SCP-prompt text "
        "(all-MiniLM-L6-v2), reconstruction + alignment (InfoNCE or the paper's positive-only cosine) or "
        "reconstruction only (no text), whole-lead masking.",
        "C-index CI: bootstrap of the fold-mean C (test subjects resampled within folds, 200 reps).",
        "AUC: cumulative/dynamic with IPCW; IBS over 6-72 months; both use the fold's training censoring distribution.",
        "measurement Cox: lifelines CoxPHFitter(penalizer=0.1) on preprocess.measure() intervals of the 10-s strip "
        "(rate, PR, QRS, QT, QTc, axis) + median-beat amplitudes (Sokolow-Lyon, Cornell, low voltage, T, ST, Q depth).",
    ]


def _evaluation_markdown(results: dict, notes: list[str]) -> str:
    """evaluation.md: one table per cohort, then the notes."""
    md = ["# Evaluation on the synthetic cohorts (SYNTHETIC data)", "",
          "Made by `python -m hfviz evaluate` (see the README for the exact command and its wall time).", ""]
    for cohort, s in results.items():
        md.append(markdown_table(s, f"{cohort.upper()}-like: {s['n_subjects']} subjects, {s['n_events']} events", [
            f"Folds: main rows {s['main_folds']}, extra rows {s['extra_folds']}, probe rows {s.get('probe_folds', 0)}; "
            f"fine-tuning up to {s['finetune_epochs']} epochs (patience {s['patience']}); summed process time of "
            f"this cohort's rows {s['wall_seconds_all_folds'] / 60:.1f} min (1 torch thread each, "
            f"{s.get('config', {}).get('workers', '?')} worker processes on 2 CPU cores)."]))
    md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(md)


def _sections_after_notes(text: str) -> str:
    """The ``## `` sections of an existing evaluation.md that follow its Notes (validation, fidelity, ... written by
    other commands), so that re-running ``evaluate`` replaces only its own table and notes."""
    parts = text.split("\n## ")
    notes = next((i for i, part in enumerate(parts) if part.startswith("Notes")), None)
    return "".join("\n## " + part for part in parts[notes + 1:]) if notes is not None else ""


def evaluation_config_note(eval_config: dict | None) -> str:
    """One sentence saying which configuration the CV table (evaluation.md/json) was measured with."""
    c = eval_config or {}
    n = c.get("pretrain_n") or 20000
    head = c.get("risk_head", "mlp")  # tables written before the field existed used the official head
    fit = c.get("risk_fit", "finetune")  # tables written before the field existed fine-tuned every network row
    how = (f"{head} risk head fine-tuned at lr {c.get('finetune_lr', 1e-3):g}" if fit == "finetune"
           else f"{head} risk head fitted as a {fit} on the frozen encoder")
    return (f"The CV rows below come from models/evaluation.md (`python -m hfviz evaluate`): pretraining on {n} "
            f"simulated ECGs x {c.get('pretrain_epochs', '?')} epochs (main row: {c.get('pretrain_align', 'infonce')} "
            f"alignment), {how}; when that differs from this model's own configuration they describe the "
            f"method under that configuration, not this model. This model's own held-out numbers (Held-out metrics) "
            f"are from one fold only.")


def _attach_to_cards(models_dir: Path, results: dict, eval_config: dict | None = None) -> None:
    """Copy each cohort's table rows into its model card (card JSON is not checksummed itself)."""
    from hfviz.risk.model import card_markdown, model_files

    for cohort, s in results.items():
        p = models_dir / model_files(cohort)["card"]
        if not p.is_file():
            continue
        card = json.loads(p.read_text())
        comp = {"configuration of these rows": evaluation_config_note(eval_config),
                "oracle C-index, incl. age/sex (CV folds)": f"{s['oracle_c']['mean']:.3f} ± {s['oracle_c']['sd']:.3f}" if s.get("oracle_c") else "n/a"}
        if s.get("oracle_ecg_c"):
            comp["oracle C-index, ECG part only (CV folds)"] = f"{s['oracle_ecg_c']['mean']:.3f} ± {s['oracle_ecg_c']['sd']:.3f}"
        for v in s["variants"]:
            comp[v["name"]] = (f"C {v['c_index']['mean']:.3f} ± {v['c_index']['sd']:.3f} "
                               f"(95 % CI {v['c_index']['ci95'][0]:.3f}-{v['c_index']['ci95'][1]:.3f}, {v['n_folds']} folds)")
        for k, pdiff in s["paired"].items():
            comp[k] = f"{pdiff['mean']:+.3f} ± {pdiff['sd']:.3f} ({pdiff['wins']}/{pdiff['n_folds']} folds better)"
        card["comparison"] = comp
        p.write_text(json.dumps(card, indent=1))
        (models_dir / model_files(cohort)["card_md"]).write_text(card_markdown(card))
