"""The paper's evaluation protocol, baselines, ablations, and the reproducible shipped models.

Protocol (Chen et al.): 2-fold stratified CV x 5 seeds (42, 2021, 2022, 2023, 2024) = 10 test
folds; inside each training half an 80/20 stratified split, the model kept at its best
validation C-index; Harrell's C (lifelines convention) on the test half. Everything runs on
the same folds: the network fine-tuned from a pretrained checkpoint, from scratch, ablations,
and a penalised Cox model on ECG measurements. Per-fold results are appended to a JSONL file
as they finish, so a long run can be resumed and a partial table is always available.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hfviz import survival as sv
from hfviz.errors import DataFormatError
from hfviz.model import DualAttentionNet, ModelConfig, count_parameters
from hfviz.train import (
    PROBE_COMPONENTS,
    PROBE_PENALIZER,
    FinetuneConfig,
    _log,
    finetune,
    init_head_from_probe,
    load_pretrained,
    normalise_beats,
    predict,
)

SEEDS = (42, 2021, 2022, 2023, 2024)
TD_TIMES = (12.0, 36.0, 60.0)
#: Time grid (months) of the integrated Brier score.
IBS_GRID = np.arange(6.0, 73.0, 3.0)


# --- data ------------------------------------------------------------------------------------------


@dataclass
class Cohort:
    """A cohort in memory: model inputs, outcomes and truth."""

    x: np.ndarray  # (N, 12, 608) float32, normalised
    beats_mv: np.ndarray  # (N, 12, 608) float32 padded median beats in mV
    table: pd.DataFrame  # cohort.csv
    meta: dict

    @property
    def time(self) -> np.ndarray:
        return self.table["time_months"].to_numpy(np.float64)

    @property
    def event(self) -> np.ndarray:
        return self.table["event"].to_numpy().astype(int)


def load_cohort(directory: str | Path) -> Cohort:
    """Read a dataset folder (median_beats.npy, cohort.csv, meta.json) via :mod:`hfviz.dataset`."""
    d = Path(directory)
    try:
        from hfviz.dataset import load_dataset

        ds = load_dataset(d)
        beats, table, meta = np.asarray(ds.beats, np.float32), ds.table, dict(ds.meta)
    except ImportError:  # dataset module absent: read the agreed layout directly
        try:
            beats = np.load(d / "median_beats.npy", allow_pickle=False).astype(np.float32)
            table = pd.read_csv(d / "cohort.csv")
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise DataFormatError(f"{d}: not a dataset folder ({exc}).") from None
    return Cohort(normalise_beats(beats), beats, table.reset_index(drop=True), meta)


def cv_folds(event: np.ndarray, seeds=SEEDS, n_splits: int = 2) -> list[tuple[int, int, np.ndarray, np.ndarray]]:
    """(seed, fold, train_idx, test_idx) of stratified K-fold CV repeated over ``seeds``."""
    from sklearn.model_selection import StratifiedKFold

    out = []
    for seed in seeds:
        skf = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=seed)
        for k, (tr, te) in enumerate(skf.split(np.zeros(len(event)), event)):
            out.append((seed, k, tr, te))
    return out


def inner_split(train_idx: np.ndarray, event: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """80/20 stratified split of ``train_idx`` -> (fit_idx, val_idx)."""
    from sklearn.model_selection import train_test_split

    fit, val = train_test_split(train_idx, test_size=0.2, stratify=event[train_idx], random_state=seed)
    return np.sort(fit), np.sort(val)


# --- measurement baseline -----------------------------------------------------------------------------

MEASUREMENT_FEATURES = (
    "qrs_ms", "pr_ms", "qt_ms", "qrs_axis_deg", "sokolow_lyon_mv", "cornell_mv", "qrs_p2p_max_mv",
    "low_voltage", "t_amp_ii_mv", "t_amp_v5_mv", "st_v5_mv", "q_depth_max_mv", "heart_rate_bpm",
)


def measurement_table(beats_mv: np.ndarray, table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Device-style ECG measurements of padded median beats (N, 12, 608) in mV.

    Intervals and axis from :func:`hfviz.preprocess.delineate_beat` (the same delineation as
    :func:`hfviz.preprocess.measure`); amplitudes (Sokolow-Lyon, Cornell, low voltage, T and ST
    levels, deepest Q) from the beat. Heart rate comes from the cohort table when it has a
    ``heart_rate_bpm`` column (a median beat alone does not carry it). Missing values are NaN.
    """
    from hfviz.preprocess import PAD, delineate_beat

    L = {n: i for i, n in enumerate(("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6"))}
    rows = []
    for b in beats_mv:
        beat = b[:, PAD : PAD + 600].astype(np.float64)
        r = dict.fromkeys(MEASUREMENT_FEATURES, np.nan)
        try:
            d = delineate_beat(beat)
        except Exception:  # noqa: BLE001 - a failed delineation leaves NaNs, imputed later
            d = {}
        qon, qoff, pon, tend, tpk = (d.get(k) for k in ("qrs_onset", "qrs_offset", "p_onset", "t_end", "t_peak"))
        if qon is not None and qoff is not None and qoff > qon:
            base = np.median(beat[:, max(qon - 10, 0) : max(qon - 2, 1)], axis=-1)  # (12,) PR level
            y = beat - base[:, None]
            qrs = y[:, qon:qoff]
            r["qrs_ms"] = (qoff - qon) * 2.0
            r["qrs_axis_deg"] = float(np.degrees(np.arctan2(qrs[L["aVF"]].sum(), qrs[L["I"]].sum())))
            r["sokolow_lyon_mv"] = float(-qrs[L["V1"]].min() + max(qrs[L["V5"]].max(), qrs[L["V6"]].max()))
            r["cornell_mv"] = float(qrs[L["aVL"]].max() - qrs[L["V3"]].min())
            p2p = qrs.max(1) - qrs.min(1)
            r["qrs_p2p_max_mv"] = float(p2p.max())
            r["low_voltage"] = float(p2p[:6].max() < 0.5)
            r["q_depth_max_mv"] = float(-y[:, qon : qon + 20].min())
            st = min(qoff + 30, 599)
            r["st_v5_mv"] = float(y[L["V5"], st])
            if pon is not None:
                r["pr_ms"] = (qon - pon) * 2.0
            if tend is not None:
                r["qt_ms"] = (tend - qon) * 2.0
            if tpk is not None:
                r["t_amp_ii_mv"] = float(y[L["II"], tpk])
                r["t_amp_v5_mv"] = float(y[L["V5"], tpk])
        rows.append(r)
    df = pd.DataFrame(rows, columns=list(MEASUREMENT_FEATURES))
    if table is not None:
        # device-style measurements of the 10-s strip (hfviz.preprocess.measure), when the dataset has them
        for col in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qrs_axis_deg"):
            for src in (f"meas_{col}", col):
                if src in table:
                    df[col] = pd.to_numeric(table[src], errors="coerce").to_numpy(np.float64)
                    break
    return df


def fit_measurement_cox(feats: pd.DataFrame, time, event, *, penalizer: float = 0.1):
    """Penalised lifelines Cox on standardised, median-imputed measurements.

    Returns a function ``feats -> log_risk`` (applies the training medians/scales).
    """
    from lifelines import CoxPHFitter

    usable = [c for c in feats.columns if feats[c].notna().mean() > 0.5 and feats[c].nunique() > 1]
    med = feats[usable].median()
    sd = feats[usable].fillna(med).std().replace(0, 1.0)
    z = ((feats[usable].fillna(med) - med) / sd).assign(T=np.asarray(time, float), E=np.asarray(event, int))
    cph = CoxPHFitter(penalizer=penalizer).fit(z, "T", "E")
    beta = cph.params_[usable].to_numpy()

    def predict_fn(f: pd.DataFrame) -> np.ndarray:
        return (((f[usable].fillna(med) - med) / sd).to_numpy() @ beta).astype(np.float64)

    return predict_fn


# --- metrics -----------------------------------------------------------------------------------


def fold_metrics(time_tr, event_tr, lr_tr, time_te, event_te, lr_te) -> dict:
    """C-index, td-AUC at 12/36/60 months, IBS and 60-month S(t) of one test fold."""
    base = sv.breslow_baseline(time_tr, lr_tr, event_tr)
    surv = base.predict_survival_function(lr_te, IBS_GRID)
    grid_ok = IBS_GRID[IBS_GRID < np.max(time_te)]
    auc = sv.time_dependent_auc(time_te, lr_te, event_te, TD_TIMES, train_time=time_tr, train_event=event_tr)
    ibs = sv.integrated_brier_score(
        time_te, event_te, surv[:, : len(grid_ok)], grid_ok, train_time=time_tr, train_event=event_tr
    )
    return {
        "c_index": sv.concordance_index(time_te, lr_te, event_te),
        **{f"auc_{int(t)}": float(a) for t, a in zip(TD_TIMES, auc)},
        "ibs": ibs,
        "s60": base.predict_survival_function(lr_te, [60.0])[:, 0].tolist(),
    }


# --- variants -----------------------------------------------------------------------------------


@dataclass
class Variant:
    """One row of the results table."""

    name: str
    kind: str  # "net" or "cox"
    pretrained: str | None = None  # path of a pretraining checkpoint (None = from scratch)
    model: dict | None = None  # ModelConfig overrides (ablations)
    epochs: int | None = None  # fine-tuning epochs (None = FinetuneConfig default)
    risk_head: str = "linear"  # "linear" (probe-initialised, the default) or "mlp" (official head, random init)


def run_variant(v: Variant, c: Cohort, fit, val, test, ft: FinetuneConfig, feats: pd.DataFrame | None, seed: int):
    """Train variant ``v`` on ``fit`` (+ ``val`` for early stopping); return (log_risk_train, log_risk_test, info)."""
    t, e = c.time, c.event
    trainval = np.concatenate([fit, val])
    if v.kind == "cox":
        f = fit_measurement_cox(feats.iloc[trainval], t[trainval], e[trainval])
        return f(feats.iloc[trainval]), f(feats.iloc[test]), {}
    if v.kind == "probe":
        return _linear_probe(v, c, trainval, test, seed)
    torch.manual_seed(seed)
    if v.pretrained:
        net = load_pretrained(v.pretrained, risk_head=v.risk_head)
        if v.model:
            raise ValueError("ablations are trained from scratch")
    else:
        net = DualAttentionNet(ModelConfig(**{**(v.model or {}), "risk_head": v.risk_head}))
    cfg = replace(ft, seed=seed, epochs=v.epochs if v.epochs is not None else ft.epochs,
                  head_init="probe" if v.risk_head == "linear" else "none")
    h = finetune(net, c.x[fit], t[fit], e[fit], c.x[val], t[val], e[val], cfg, desc=v.name)
    info = {"best_epoch": h["best_epoch"], "best_val_c": h["best_val_c"], "seconds": float(sum(h["seconds"]))}
    if "probe_val_c" in h:
        info["probe_val_c"] = h["probe_val_c"]
    return predict(net, c.x[trainval]), predict(net, c.x[test]), info, net


def _linear_probe(v: Variant, c: Cohort, trainval, test, seed: int):
    """Frozen encoder (pretrained or random init) + the probe head fitted on the whole training half.

    The head is :func:`hfviz.train.init_head_from_probe` (embedding -> PCA(16) -> penalised Cox), the
    same fit that starts every fine-tuning, here on fit + validation subjects and without any
    fine-tuning or early stopping: what the frozen representation alone carries.
    """
    torch.manual_seed(seed)
    net = load_pretrained(v.pretrained) if v.pretrained else DualAttentionNet(ModelConfig())
    net.eval()
    init_head_from_probe(net, c.x[trainval], c.time[trainval], c.event[trainval], seed=seed)
    return predict(net, c.x[trainval]), predict(net, c.x[test]), {}


def fold_rows(c: Cohort, feats: pd.DataFrame | None, i: int, variants: list[Variant], ft: FinetuneConfig,
              folds: dict[str, int], done: set = frozenset()) -> list[dict]:
    """Result rows of CV fold ``i`` (index into :func:`cv_folds`) for every variant that runs on it.

    A variant runs on the first ``folds[name]`` folds (all when absent); (variant, seed, fold)
    triples in ``done`` are skipped.
    """
    t, e = c.time, c.event
    truth = c.table["true_log_hazard"].to_numpy(np.float64) if "true_log_hazard" in c.table else None
    truth_ecg = c.table["ecg_log_hazard"].to_numpy(np.float64) if "ecg_log_hazard" in c.table else None
    all_folds = cv_folds(e)
    seed, k, tr, te = all_folds[i]
    fit, val = inner_split(tr, e, seed)
    trainval = np.concatenate([fit, val])
    rows = []
    for v in variants:
        if i >= folds.get(v.name, len(all_folds)) or (v.name, seed, k) in done:
            continue
        t0 = time.perf_counter()
        res = run_variant(v, c, fit, val, te, ft, feats, seed)
        lr_tr, lr_te, info = res[0], res[1], res[2]
        m = fold_metrics(t[trainval], e[trainval], lr_tr, t[te], e[te], lr_te)
        row = {
            "variant": v.name, "seed": seed, "fold": k, "n_test": len(te), "events_test": int(e[te].sum()),
            "oracle_c": sv.concordance_index(t[te], truth[te], e[te]) if truth is not None else None,
            "oracle_ecg_c": sv.concordance_index(t[te], truth_ecg[te], e[te]) if truth_ecg is not None else None,
            **m, "test_idx": te.tolist(), "log_risk": lr_te.tolist(), "wall_s": time.perf_counter() - t0, **info,
        }
        rows.append(row)
        oracle = f" (oracle {row['oracle_c']:.3f})" if row["oracle_c"] is not None else ""
        _log(f"{v.name} seed {seed} fold {k}: C {m['c_index']:.3f}{oracle} [{row['wall_s']:.0f} s]")
    return rows


def _done(out_jsonl: Path) -> set:
    return {(r["variant"], r["seed"], r["fold"]) for r in _read_rows(out_jsonl)} if out_jsonl.is_file() else set()


def _append(out_jsonl: Path, rows: list[dict]) -> None:
    with open(out_jsonl, "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def evaluate_cohort(
    c: Cohort,
    variants: list[Variant],
    *,
    out_jsonl: Path,
    ft: FinetuneConfig,
    folds: dict[str, int],
) -> list[dict]:
    """Run each variant on its first ``folds[name]`` folds (fold-major order), appending to ``out_jsonl``.

    Already-finished (variant, seed, fold) rows in ``out_jsonl`` are skipped (resumable).
    """
    done = _done(out_jsonl)
    feats = measurement_table(c.beats_mv, c.table) if any(v.kind == "cox" for v in variants) else None
    for i in range(len(cv_folds(c.event))):
        _append(out_jsonl, fold_rows(c, feats, i, variants, ft, folds, done))
    return _read_rows(out_jsonl) if out_jsonl.is_file() else []


_WORKER_CACHE: dict = {}


def _fold_task(directory: str, i: int, variants: list[Variant], ft: FinetuneConfig, folds: dict[str, int],
               done: set, threads: int) -> tuple[str, list[dict]]:
    """Worker-process task: fold ``i`` of the cohort in ``directory`` (loaded once per process)."""
    torch.set_num_threads(threads)
    if directory not in _WORKER_CACHE:
        c = load_cohort(directory)
        feats = measurement_table(c.beats_mv, c.table) if any(v.kind == "cox" for v in variants) else None
        _WORKER_CACHE[directory] = (c, feats)
    c, feats = _WORKER_CACHE[directory]
    return directory, fold_rows(c, feats, i, variants, ft, folds, done)


def _pretrain_task(rc: "ReproduceConfig", align: str) -> Path:
    torch.set_num_threads(rc.threads)
    return pretrain_checkpoint(rc, align)


def _read_rows(path: Path) -> list[dict]:
    """Per-fold rows of a JSONL log, one per (variant, seed, fold): the first one wins
    (two parallel runs may both have computed a cheap row)."""
    seen, rows = set(), []
    for line in path.read_text().splitlines():
        r = json.loads(line)
        key = (r["variant"], r["seed"], r["fold"])
        if key not in seen:
            seen.add(key)
            rows.append(r)
    return rows


def bootstrap_mean_c(rows: list[dict], time, event, n_boot: int = 200, seed: int = 0) -> tuple[float, float]:
    """95 % CI of the fold-mean C: test subjects resampled within each fold, fold Cs averaged."""
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(n_boot):
        cs = []
        for r in rows:
            idx = np.asarray(r["test_idx"])
            lr = np.asarray(r["log_risk"])
            b = rng.integers(0, len(idx), len(idx))
            cs.append(sv.concordance_index(time[idx[b]], lr[b], event[idx[b]]))
        means.append(np.nanmean(cs))
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(lo), float(hi)


def summarise(rows: list[dict], c: Cohort, variants: list[Variant]) -> dict:
    """Table rows: mean ± sd over folds of every metric, bootstrap CI, paired pretraining effect."""
    out = {"variants": [], "oracle_c": None, "paired": {}}
    by = {v.name: [r for r in rows if r["variant"] == v.name] for v in variants}
    oracle = [r["oracle_c"] for r in rows if r["oracle_c"] is not None]
    if oracle:
        # oracle over the distinct folds only
        uniq = {(r["seed"], r["fold"]): r["oracle_c"] for r in rows if r["oracle_c"] is not None}
        out["oracle_c"] = _mean_sd(list(uniq.values()))
        uniq_e = {(r["seed"], r["fold"]): r.get("oracle_ecg_c") for r in rows if r.get("oracle_ecg_c") is not None}
        out["oracle_ecg_c"] = _mean_sd(list(uniq_e.values())) if uniq_e else None
    for v in variants:
        rs = by[v.name]
        if not rs:
            continue
        entry = {"name": v.name, "n_folds": len(rs)}
        for key in ("c_index", "auc_12", "auc_36", "auc_60", "ibs"):
            vals = np.array([r[key] for r in rs], dtype=float)
            entry[key] = {"mean": float(np.nanmean(vals)), "sd": float(np.nanstd(vals, ddof=1)) if len(vals) > 1 else 0.0}
        entry["c_index"]["ci95"] = bootstrap_mean_c(rs, c.time, c.event)
        entry["oracle_c_same_folds"] = float(np.mean([r["oracle_c"] for r in rs])) if rs[0]["oracle_c"] is not None else None
        if rs[0].get("oracle_ecg_c") is not None:
            entry["oracle_ecg_c_same_folds"] = float(np.mean([r["oracle_ecg_c"] for r in rs]))
        # calibration at 60 months: pooled test predictions of the folds of the first seed
        first = [r for r in rs if r["seed"] == rs[0]["seed"]]
        idx = np.concatenate([r["test_idx"] for r in first])
        s60 = np.concatenate([r["s60"] for r in first])
        entry["calibration_60"] = sv.calibration_table(c.time[idx], c.event[idx], s60, t=60.0, n_groups=10).to_dict("records")
        out["variants"].append(entry)

    def paired(a: str, b: str):
        ra = {(r["seed"], r["fold"]): r["c_index"] for r in by.get(a, [])}
        rb = {(r["seed"], r["fold"]): r["c_index"] for r in by.get(b, [])}
        common = sorted(set(ra) & set(rb))
        if not common:
            return None
        d = np.array([ra[k] - rb[k] for k in common])
        return {"mean": float(d.mean()), "sd": float(d.std(ddof=1)) if len(d) > 1 else 0.0, "n_folds": len(d),
                "wins": int((d > 0).sum())}

    names = [v.name for v in variants]
    recon = "pretrained (reconstruction only)"
    for a, b in [("pretrained (InfoNCE)", "scratch"), ("pretrained (cosine)", "scratch"), (recon, "scratch"),
                 ("pretrained (InfoNCE)", "pretrained (cosine)"), ("pretrained (InfoNCE)", recon),
                 ("pretrained (cosine)", recon), ("pretrained (InfoNCE)", "measurement Cox"),
                 ("pretrained (cosine)", "measurement Cox"), (recon, "measurement Cox"), ("scratch", "measurement Cox"),
                 ("probe: pretrained (cosine) embedding + Cox", "probe: random-init embedding + Cox"),
                 ("probe: pretrained (InfoNCE) embedding + Cox", "probe: random-init embedding + Cox"),
                 ("probe: pretrained (reconstruction only) embedding + Cox", "probe: random-init embedding + Cox")]:
        if a in names and b in names:
            p = paired(a, b)
            if p:
                out["paired"][f"{a} - {b}"] = p
    return out


def _mean_sd(vals) -> dict:
    v = np.asarray(vals, dtype=float)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0, "n_folds": len(v)}


def markdown_table(summary: dict, cohort_name: str, notes: list[str]) -> str:
    """The paper-shaped results table in Markdown."""
    o = summary.get("oracle_c")
    lines = [f"### {cohort_name} (SYNTHETIC cohort)", ""]
    if o:
        lines += [f"Oracle C-index, true log-hazard incl. age/sex (not visible to any model here): "
                  f"**{o['mean']:.3f} ± {o['sd']:.3f}** ({o['n_folds']} folds)", ""]
    oe = summary.get("oracle_ecg_c")
    if oe:
        lines += [f"Oracle C-index, ECG part of the true log-hazard only (the ceiling for an ECG-only model): "
                  f"**{oe['mean']:.3f} ± {oe['sd']:.3f}** ({oe['n_folds']} folds)", ""]
    lines += ["| Model | folds | C-index mean ± sd | 95 % CI (bootstrap) | AUC 12 m | AUC 36 m | AUC 60 m | IBS |",
              "|---|---|---|---|---|---|---|---|"]
    for v in summary["variants"]:
        c = v["c_index"]
        f = lambda k: f"{v[k]['mean']:.3f} ± {v[k]['sd']:.3f}"  # noqa: E731
        lines.append(f"| {v['name']} | {v['n_folds']} | {f('c_index')} | {c['ci95'][0]:.3f}–{c['ci95'][1]:.3f} | "
                     f"{f('auc_12')} | {f('auc_36')} | {f('auc_60')} | {f('ibs')} |")
    if summary["paired"]:
        lines += ["", "Paired differences in C-index on the same folds (mean ± sd, folds where the first is better):", ""]
        for k, p in summary["paired"].items():
            lines.append(f"- {k}: {p['mean']:+.3f} ± {p['sd']:.3f} ({p['wins']}/{p['n_folds']})")
    lines += [""] + [f"- {n}" for n in notes] + [""]
    return "\n".join(lines)


# --- simulate / pretrain helpers used by reproduce --------------------------------------------------


def ensure_dataset(preset: str, out: Path, *, n: int | None, seed: int, workers: int = 1) -> Path:
    """Simulate ``preset`` into ``out`` with ``python -m hfviz simulate`` unless it already exists."""
    if (out / "cohort.csv").is_file() and (out / "median_beats.npy").is_file():
        return out
    cmd = [sys.executable, "-m", "hfviz", "simulate", "--preset", preset, "--seed", str(seed), "--out", str(out),
           "--workers", str(workers)]
    if n:
        cmd += ["--n", str(n)]
    _log("running " + " ".join(cmd[1:]))
    subprocess.run(cmd, check=True)
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
    "CPU budget: few pretraining/fine-tuning epochs compared with the paper (300 / 100 on a GPU).",
    "Few events (MI-like ~4 %): C-index confidence intervals are wide.",
    "Percentiles and survival curves refer to the synthetic training cohort.",
]


@dataclass
class ReproduceConfig:
    """Sizes and epochs of ``python -m hfviz reproduce`` and ``evaluate`` (chosen for 2 CPU cores: see the README)."""

    data_dir: str = "data"  # simulated datasets (data/pretrain, data/mi, data/hyp)
    models_dir: str = "models"  # shipped outputs
    runs_dir: str = "runs"  # pretraining checkpoints and per-fold logs (not shipped)
    pretrain_n: int | None = None  # ECGs in the simulated pretraining corpus (None = preset default, 20,000, in
    # data/pretrain; an int n uses data/pretrain-n)
    pretrain_epochs: int = 5  # pretraining epochs (paper: 300 on a GPU)
    pretrain_align: str = "infonce"  # alignment of the shipped model: CLIP-style InfoNCE (METHOD.md: the stronger
    # choice; the paper's positive-only cosine collapses to one embedding direction)
    finetune_epochs: int = 6  # fine-tuning epochs (early stopping on validation C; paper: 100): sized so that the
    # full 10-fold table fits ~90 min on 2 CPU cores
    mi_n: int | None = None  # cohort sizes (None = preset default)
    hyp_n: int | None = None
    data_seed: int = 0  # simulator seed
    seed: int = 0  # training seed
    threads: int = 1  # torch intra-op threads; 1 is far faster than 2 when the cores are shared (OpenMP spin-waits)
    workers: int = 2  # processes for independent jobs (the two pretrainings, CV folds, the two shipped models)
    risk_head: str = "linear"  # "linear": Cox-linear head started from the penalised-Cox probe fit (LP-FT);
    # "mlp": the official 3-unit head (LeakyReLU), randomly initialised as in the paper
    finetune_lr: float = 3e-4  # AdamW learning rate of the fine-tuning (after the probe initialisation)

    def finetune_config(self) -> FinetuneConfig:
        """Fine-tuning settings: epochs, learning rate, and the head initialisation that goes with ``risk_head``."""
        return FinetuneConfig(epochs=self.finetune_epochs, lr=self.finetune_lr, seed=self.seed,
                              head_init="probe" if self.risk_head == "linear" else "none")

    @property
    def pretrain_corpus_n(self) -> int:
        """ECGs in the pretraining corpus (20,000 = the ``pretrain`` preset default when ``pretrain_n`` is None)."""
        return 20000 if self.pretrain_n is None else self.pretrain_n


def _corpus_name(rc: ReproduceConfig) -> str:
    return "pretrain" if rc.pretrain_n is None else f"pretrain-{rc.pretrain_n}"


def pretrain_checkpoint_name(rc: ReproduceConfig, align: str) -> str:
    """File name of the pretraining checkpoint for ``rc`` and ``align`` (corpus and epochs in the name)."""
    return f"pretrain_{align}_{_corpus_name(rc)}_{rc.pretrain_epochs}ep.pt"


def _pretrain_dir(rc: ReproduceConfig) -> Path:
    return Path(rc.data_dir) / _corpus_name(rc)


def pretrain_checkpoint(rc: ReproduceConfig, align: str) -> Path:
    """Pretrain (or resume / reuse) on the simulated report corpus; return the checkpoint path."""
    from hfviz.text import embed_table
    from hfviz.train import PretrainConfig, pretrain

    ckpt = Path(rc.runs_dir) / pretrain_checkpoint_name(rc, align)
    if ckpt.is_file() and int(torch.load(ckpt, weights_only=True).get("epoch", 0)) >= rc.pretrain_epochs:
        return ckpt  # finished earlier: no need to load the corpus
    pre_dir = _pretrain_dir(rc)
    ensure_dataset("pretrain", pre_dir, n=rc.pretrain_n, seed=rc.data_seed, workers=rc.workers)
    pre = load_cohort(pre_dir)
    text = embed_table(pre.table, mode="scp", cache_dir=pre_dir) if align != "none" else None
    torch.manual_seed(rc.seed)
    cfg = PretrainConfig(epochs=rc.pretrain_epochs, align=align, seed=rc.seed)
    pretrain(DualAttentionNet(ModelConfig()), pre.x, text, cfg, checkpoint=ckpt)
    return ckpt


def build_shipped_model(cohort: str, rc: ReproduceConfig, ckpt: Path | None, *, data: Path | None = None) -> dict:
    """Fine-tune the shipped model of ``cohort`` on CV fold (seed 42, fold 0) and write it with its card.

    The held-out predictions are the other half of that split (never seen in training or
    early stopping), so the app's Kaplan-Meier curves are honest out-of-sample curves.
    """
    from hfviz.risk import save_risk_model

    c = load_cohort(Path(data) if data is not None else _cohort_dir(rc, cohort))
    t, e = c.time, c.event
    seed, k, tr, te = cv_folds(e)[0]
    fit, val = inner_split(tr, e, seed)
    trainval = np.concatenate([fit, val])
    t0 = time.perf_counter()
    torch.manual_seed(rc.seed)
    net = (load_pretrained(ckpt, risk_head=rc.risk_head) if ckpt is not None
           else DualAttentionNet(ModelConfig(risk_head=rc.risk_head)))
    ft = rc.finetune_config()
    hist = finetune(net, c.x[fit], t[fit], e[fit], c.x[val], t[val], e[val], ft, desc=f"finetune {cohort}")
    lr_tv, lr_te = predict(net, c.x[trainval]), predict(net, c.x[te])
    base = sv.breslow_baseline(t[trainval], lr_tv, e[trainval])
    m = fold_metrics(t[trainval], e[trainval], lr_tv, t[te], e[te], lr_te)
    c_est, c_lo, c_hi = sv.bootstrap_ci(sv.concordance_index, t[te], lr_te, e[te], n_boot=500)
    feats = measurement_table(c.beats_mv, c.table)
    cox = fit_measurement_cox(feats.iloc[trainval], t[trainval], e[trainval])
    cox_c = sv.bootstrap_ci(sv.concordance_index, t[te], cox(feats.iloc[te]), e[te], n_boot=500)
    truth = c.table["true_log_hazard"].to_numpy(float) if "true_log_hazard" in c.table else None
    oracle = sv.bootstrap_ci(sv.concordance_index, t[te], truth[te], e[te], n_boot=500) if truth is not None else None
    truth_ecg = c.table["ecg_log_hazard"].to_numpy(float) if "ecg_log_hazard" in c.table else None
    oracle_ecg = (sv.bootstrap_ci(sv.concordance_index, t[te], truth_ecg[te], e[te], n_boot=500)
                  if truth_ecg is not None else None)
    ids = c.table["id"].to_numpy() if "id" in c.table else np.arange(len(c.table))
    preds = pd.DataFrame({"id": ids[te], "log_risk": lr_te, "time_months": t[te], "event": e[te]})
    fmt = lambda x: f"{x[0]:.3f} (95 % CI {x[1]:.3f}-{x[2]:.3f})"  # noqa: E731
    card = {
        "name": f"hfviz dual-attention HF risk model, {cohort.upper()}-like (synthetic)",
        "synthetic": True,
        "intended_use": INTENDED_USE,
        "training_data": {
            "source": "SYNTHETIC (hfviz simulator)",
            "cohort_meta": {k2: v for k2, v in c.meta.items() if isinstance(v, (str, int, float, bool))},
            "n_subjects": len(e), "n_events": int(e.sum()),
            "split": "2-fold stratified CV seed 42, fold 0: train half (80 % fit / 20 % early-stopping validation), "
                     "other half held out",
            "n_fit": len(fit), "n_val": len(val), "n_test": len(te), "events_test": int(e[te].sum()),
            "pretraining": (f"{rc.pretrain_corpus_n} simulated ECGs with SCP-code text, {rc.pretrain_epochs} epochs, "
                            f"{rc.pretrain_align} alignment + reconstruction, all-MiniLM-L6-v2 text encoder")
            if ckpt is not None else "none (trained from scratch)",
            "risk_head": rc.risk_head,
        },
        "training": {"finetune": _asdict_plain(ft), "best_epoch": hist["best_epoch"],
                     "best_val_c": round(hist["best_val_c"], 4), "finetune_seconds": round(sum(hist["seconds"]), 1)},
        "metrics": {
            "held-out set": (f"one fold only: the other half of CV seed 42 fold 0 ({len(te)} subjects, "
                             f"{int(e[te].sum())} events); the multi-fold CV table is models/evaluation.md"),
            "c_index_heldout": fmt((c_est, c_lo, c_hi)),
            "oracle_c_index_heldout (true log-hazard incl. age/sex)": fmt(oracle) if oracle else "n/a",
            "oracle_c_index_heldout (ECG part only: ceiling for an ECG-only model)": fmt(oracle_ecg) if oracle_ecg else "n/a",
            "measurement_cox_c_index_heldout": fmt(cox_c),
            **{f"td_auc_{int(tt)}m": round(m[f"auc_{int(tt)}"], 3) for tt in TD_TIMES},
            "integrated_brier_score_6_72m": round(m["ibs"], 4),
        },
        "metrics_raw": {"c_index": [c_est, c_lo, c_hi], "oracle_c": list(oracle) if oracle else None,
                        "oracle_ecg_c": list(oracle_ecg) if oracle_ecg else None,
                        "measurement_cox_c": list(cox_c), **{k2: m[k2] for k2 in ("auc_12", "auc_36", "auc_60", "ibs")}},
        "n_parameters": count_parameters(net),
        "limitations": LIMITATIONS,
        "reproduce": "python -m hfviz reproduce",
        "wall_seconds": round(time.perf_counter() - t0, 1),
    }
    rng = np.random.default_rng(0)
    beats = c.x[te][rng.choice(len(te), min(32, len(te)), replace=False)]
    return save_risk_model(Path(rc.models_dir), cohort, net, baseline=base, train_log_risk=lr_tv,
                           predictions=preds, card=card, beats=beats)


def _asdict_plain(cfg) -> dict:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()}


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
    jpath = Path(rc.models_dir) / "evaluation.json"
    if jpath.is_file():  # keep the CV table in the new cards, labelled with the configuration it was measured with
        ev = json.loads(jpath.read_text())
        _attach_to_cards(Path(rc.models_dir), {c: r for c, r in ev.get("results", {}).items() if c in cards},
                         ev.get("config"))
    _log(f"reproduce finished in {time.perf_counter() - t0:.0f} s")
    return cards


#: Row labels of the pretraining alignments ("none" = reconstruction-only pretraining, no text).
ALIGN_LABELS = {"infonce": "InfoNCE", "cosine": "cosine", "none": "reconstruction only"}


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
        from hfviz.text import embed_table

        pre_dir = _pretrain_dir(rc)
        ensure_dataset("pretrain", pre_dir, n=rc.pretrain_n, seed=rc.data_seed, workers=rc.workers)
        embed_table(load_cohort(pre_dir).table, mode="scp", cache_dir=pre_dir)  # text cache once, before the workers
        with _pool(min(rc.workers, len(aligns))) as ex:
            return dict(zip(aligns, ex.map(_pretrain_task, [rc] * len(aligns), aligns)))
    return {a: pretrain_checkpoint(rc, a) for a in aligns}


def eval_log_name(rc: ReproduceConfig, cohort: str) -> str:
    """Per-fold JSONL log of ``cohort`` under this configuration (different settings never share a log)."""
    return (f"eval_{cohort}_{_corpus_name(rc)}_{rc.pretrain_epochs}ep_{rc.risk_head}_lr{rc.finetune_lr:g}_"
            f"ft{rc.finetune_epochs}_seed{rc.seed}.jsonl")


def run_evaluation(rc: ReproduceConfig, cohorts=("mi", "hyp"), *, main_folds: int = 10, extra_folds: int = 10,
                   probe_folds: int = 10, aligns=("infonce", "cosine", "none")) -> dict:
    """The results table for ``cohorts`` (paper protocol, all rows on the same folds).

    Main rows (network pretrained with ``rc.pretrain_align``, scratch, measurement Cox) run on the first
    ``main_folds`` folds, ablations and the other alignment on ``extra_folds``, probes on ``probe_folds``.
    Folds of both cohorts are spread over ``rc.workers`` processes (one torch thread each); every row is
    appended to ``runs/eval_<cohort>_<config>.jsonl`` as it finishes, so an interrupted run resumes.
    """
    t_start = time.perf_counter()
    torch.set_num_threads(rc.threads)
    runs = Path(rc.runs_dir)
    runs.mkdir(parents=True, exist_ok=True)
    ckpts = pretrain_all(rc, aligns)
    variants = standard_variants(ckpts, risk_head=rc.risk_head)
    main = {f"pretrained ({ALIGN_LABELS[rc.pretrain_align]})", "scratch", "measurement Cox"}
    folds = {v.name: (main_folds if v.name in main else probe_folds if v.kind == "probe" else extra_folds)
             for v in variants}
    ft = rc.finetune_config()
    dirs, logs = {}, {}
    for cohort in cohorts:
        dirs[cohort] = _cohort_dir(rc, cohort)
        logs[cohort] = runs / eval_log_name(rc, cohort)
    n_folds = max(folds.values())
    # the larger cohort first: its folds are the long tasks (longest-first keeps the workers busy)
    order = sorted(cohorts, key=lambda c: -(dirs[c] / "median_beats.npy").stat().st_size)
    loaded = {c: load_cohort(dirs[c]) for c in cohorts}  # events for the fold list here, everything for the summary
    all_folds = {c: cv_folds(loaded[c].event) for c in cohorts}
    todo = {c: {(v.name, all_folds[c][i][0], all_folds[c][i][1]) for v in variants for i in range(folds[v.name])}
            - _done(logs[c]) for c in cohorts}
    tasks = [(c, i) for c in order for i in range(n_folds)
             if any((v.name, *all_folds[c][i][:2]) in todo[c] for v in variants)]
    by_dir = {str(dirs[c]): c for c in cohorts}
    if rc.workers > 1:
        with _pool(rc.workers) as ex:
            futs = [ex.submit(_fold_task, str(dirs[c]), i, variants, ft, folds, _done(logs[c]), rc.threads)
                    for c, i in tasks]
            from concurrent.futures import as_completed

            for f in as_completed(futs):
                d, rows = f.result()
                _append(logs[by_dir[d]], rows)
    else:
        for c, i in tasks:
            d, rows = _fold_task(str(dirs[c]), i, variants, ft, folds, _done(logs[c]), rc.threads)
            _append(logs[c], rows)
    _log(f"evaluate: all folds done in {(time.perf_counter() - t_start) / 60:.1f} min")
    out = Path(rc.models_dir)
    out.mkdir(parents=True, exist_ok=True)
    jpath = out / "evaluation.json"
    results = json.loads(jpath.read_text()).get("results", {}) if jpath.is_file() else {}  # other cohorts are kept
    for cohort in cohorts:
        c = loaded[cohort]
        rows = _read_rows(logs[cohort])
        s = summarise(rows, c, variants)
        s["wall_seconds_all_folds"] = round(sum(r["wall_s"] for r in rows), 1)
        s["n_subjects"], s["n_events"] = len(c.event), int(c.event.sum())
        s["main_folds"], s["extra_folds"], s["probe_folds"] = main_folds, extra_folds, probe_folds
        s["finetune_epochs"], s["patience"] = rc.finetune_epochs, ft.patience
        s["config"] = _asdict_plain(rc)
        results[cohort] = s
    notes = [
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
        f"Probe rows: frozen encoder, the same probe head fitted on the whole training half (fit + validation), "
        f"no fine-tuning: what the representation alone carries.",
        f"Pretraining: {rc.pretrain_epochs} epochs on {rc.pretrain_corpus_n} simulated ECGs with SCP-prompt text "
        "(all-MiniLM-L6-v2), reconstruction + alignment (InfoNCE or the paper's positive-only cosine) or "
        "reconstruction only (no text), whole-lead masking.",
        "C-index CI: bootstrap of the fold-mean C (test subjects resampled within folds, 200 reps).",
        "AUC: cumulative/dynamic with IPCW; IBS over 6-72 months; both use the fold's training censoring distribution.",
        "measurement Cox: lifelines CoxPHFitter(penalizer=0.1) on preprocess.measure() intervals of the 10-s strip "
        "(rate, PR, QRS, QT, QTc, axis) + median-beat amplitudes (Sokolow-Lyon, Cornell, low voltage, T, ST, Q depth).",
    ]
    md = ["# Evaluation on the synthetic cohorts (SYNTHETIC data)", "",
          "Made by `python -m hfviz evaluate` (see the README for the exact command and its wall time).", ""]
    for cohort, s in results.items():
        md.append(markdown_table(s, f"{cohort.upper()}-like: {s['n_subjects']} subjects, {s['n_events']} events", [
            f"Folds: main rows {s['main_folds']}, extra rows {s['extra_folds']}, probe rows {s.get('probe_folds', 0)}; "
            f"fine-tuning up to {s['finetune_epochs']} epochs (patience {s['patience']}); summed process time of "
            f"this cohort's rows {s['wall_seconds_all_folds'] / 60:.1f} min (1 torch thread each, "
            f"{s.get('config', {}).get('workers', '?')} worker processes on 2 CPU cores)."]))
    md += ["## Notes", ""] + [f"- {n}" for n in notes] + [""]
    jpath.write_text(json.dumps({"results": results, "notes": notes, "config": _asdict_plain(rc)}, indent=1, default=float))
    (out / "evaluation.md").write_text("\n".join(md))
    _attach_to_cards(out, results, _asdict_plain(rc))
    return results


def evaluation_config_note(eval_config: dict | None) -> str:
    """One sentence saying which configuration the CV table (evaluation.md/json) was measured with."""
    c = eval_config or {}
    n = c.get("pretrain_n") or 20000
    head = c.get("risk_head", "mlp")  # tables written before the field existed used the official head
    return (f"The CV rows below come from models/evaluation.md (`python -m hfviz evaluate`): pretraining on {n} "
            f"simulated ECGs x {c.get('pretrain_epochs', '?')} epochs, {head} risk head, fine-tuning lr "
            f"{c.get('finetune_lr', 1e-3):g}; when that differs from this model's own configuration they describe the "
            f"method under that configuration, not this model. This model's own held-out numbers (Held-out metrics) "
            f"are from one fold only.")


def _attach_to_cards(models_dir: Path, results: dict, eval_config: dict | None = None) -> None:
    """Copy each cohort's table rows into its model card (card JSON is not checksummed itself)."""
    from hfviz.risk import card_markdown, model_files

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
