"""The paper's evaluation protocol: folds, baselines, ablations, per-fold metrics and the summary table.

Protocol (Chen et al.): 2-fold stratified CV x 5 seeds (42, 2021, 2022, 2023, 2024) = 10 test
folds; inside each training half an 80/20 stratified split, the model kept at its best
validation C-index; Harrell's C (lifelines convention) on the test half. Everything runs on
the same folds: the network fine-tuned from a pretrained checkpoint, from scratch, ablations,
and a penalised Cox model on ECG measurements. Per-fold results are appended to a JSONL file
as they finish, so a long run can be resumed and a partial table is always available.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from hfviz.data.dataset import Dataset, load_dataset
from hfviz.risk import survival as sv
from hfviz.risk.network import DualAttentionNet, ModelConfig
from hfviz.training.pretrain import load_pretrained
from hfviz.training.train import (
    FinetuneConfig,
    finetune,
    init_head_from_probe,
    log,
    normalise_beats,
    predict,
)

SEEDS = (42, 2021, 2022, 2023, 2024)
TD_TIMES = (12.0, 36.0, 60.0)
#: Time grid (months) of the integrated Brier score.
IBS_GRID = np.arange(6.0, 73.0, 3.0)


# --- data ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class TrainingSet:
    """A :class:`~hfviz.data.dataset.Dataset` next to what training needs: its normalised model inputs.

    Attributes
    ----------
    dataset : Dataset
        The dataset as loaded (beats in mV, ``cohort.csv``, ``meta.json``).
    x : ndarray (N, 12, 608) float32
        ``normalise_beats(dataset.beats)``: per-lead z-scored model inputs.
    """

    dataset: Dataset
    x: np.ndarray

    @classmethod
    def of(cls, dataset: Dataset) -> "TrainingSet":
        """Wrap ``dataset`` and normalise its beats once."""
        return cls(dataset, normalise_beats(dataset.beats))

    @property
    def beats_mv(self) -> np.ndarray:
        """Padded median beats (N, 12, 608) float32 in mV (not normalised)."""
        return np.asarray(self.dataset.beats, np.float32)

    @property
    def table(self) -> pd.DataFrame:
        """``cohort.csv``, one row per ECG."""
        return self.dataset.table

    @property
    def meta(self) -> dict:
        """``meta.json``."""
        return self.dataset.meta

    @property
    def time(self) -> np.ndarray:
        """Follow-up (N,) float64 in months."""
        return self.dataset.outcomes()[0]

    @property
    def event(self) -> np.ndarray:
        """Event indicator (N,) int64 (0/1)."""
        return self.dataset.outcomes()[1]


def load_training_set(directory: str | Path) -> TrainingSet:
    """Read a dataset folder with :func:`hfviz.data.dataset.load_dataset` and normalise its beats."""
    return TrainingSet.of(load_dataset(directory))


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

    Global intervals, QRS axis and voltages from :func:`hfviz.ecg.measure.measure_global`
    (the same measurement as :func:`hfviz.ecg.measure.measure`; RR from the table's heart rate
    when it has one); T and ST levels and the deepest Q from the beat at its fiducials. Heart
    rate comes from the cohort table when it has a ``heart_rate_bpm`` column (a median beat
    alone does not carry it). Missing values are NaN.
    """
    from hfviz.ecg.measure import measure_global
    from hfviz.ecg.record import LEADS
    from hfviz.ecg.signal import FS_HZ, PAD, R_OFFSET

    L = {n: i for i, n in enumerate(LEADS)}
    hr = _table_column(table, "heart_rate_bpm", len(beats_mv))
    rows = []
    for b, bpm in zip(beats_mv, hr):
        beat = b[:, PAD : PAD + 600].astype(np.float64)
        r = dict.fromkeys(MEASUREMENT_FEATURES, np.nan)
        try:
            m, fid = measure_global(beat, FS_HZ, r_index=R_OFFSET, rr_ms=60000.0 / bpm if bpm > 0 else None)
        except ValueError:  # non-finite beat: NaNs, imputed later
            rows.append(r)
            continue
        for key in ("qrs_ms", "pr_ms", "qt_ms", "qrs_axis_deg", "sokolow_lyon_mv", "cornell_mv"):
            r[key] = np.nan if m[key].value is None else m[key].value
        qon, qoff, tpk = fid["qrs_onset"], fid["qrs_offset"], fid["t_peak"]
        if qon is not None and qoff is not None:
            qon, qoff = int(round(qon)), int(round(qoff))
            base = np.median(beat[:, max(qon - 10, 0) : max(qon - 2, 1)], axis=-1)  # (12,) PR level
            y = beat - base[:, None]
            p2p = np.ptp(y[:, qon : qoff + 1], axis=1)
            r["qrs_p2p_max_mv"] = float(p2p.max())
            r["low_voltage"] = float(p2p[:6].max() < 0.5)
            r["q_depth_max_mv"] = float(-y[:, qon : qon + 20].min())
            r["st_v5_mv"] = float(y[L["V5"], min(qoff + 30, 599)])
            if tpk is not None:
                r["t_amp_ii_mv"] = float(y[L["II"], int(round(tpk))])
                r["t_amp_v5_mv"] = float(y[L["V5"], int(round(tpk))])
        rows.append(r)
    df = pd.DataFrame(rows, columns=list(MEASUREMENT_FEATURES))
    if table is not None:
        # device-style measurements of the 10-s strip (hfviz.ecg.measure.measure), when the dataset has them
        for col in ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qrs_axis_deg"):
            for src in (f"meas_{col}", col):
                if src in table:
                    df[col] = pd.to_numeric(table[src], errors="coerce").to_numpy(np.float64)
                    break
    return df


def _table_column(table: pd.DataFrame | None, col: str, n: int) -> np.ndarray:
    """``meas_<col>`` (else ``col``) of the cohort table as float (NaN when absent), shape (n,)."""
    for src in (f"meas_{col}", col):
        if table is not None and src in table:
            return pd.to_numeric(table[src], errors="coerce").to_numpy(np.float64)
    return np.full(n, np.nan)


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
    kind: str  # "net" (fine-tuned network), "cox" (measurement Cox) or "probe" (frozen encoder + probe head)
    pretrained: str | None = None  # path of a pretraining checkpoint (None = from scratch)
    model: dict | None = None  # ModelConfig overrides (ablations)
    epochs: int | None = None  # fine-tuning epochs (None = FinetuneConfig default)
    risk_head: str = "linear"  # "linear" (probe-initialised, the default) or "mlp" (official head, random init)


class VariantResult(NamedTuple):
    """What every kind of variant returns for one fold."""

    log_risk_train: np.ndarray  # (len(fit) + len(val),) log-risk of the training half, fit then val order
    log_risk_test: np.ndarray  # (len(test),) log-risk of the test half
    info: dict  # training details (best epoch, validation C, seconds); empty for the fitted-once rows


def run_variant(v: Variant, c: TrainingSet, fit, val, test, ft: FinetuneConfig, feats: pd.DataFrame | None,
                seed: int) -> VariantResult:
    """Train variant ``v`` on ``fit`` (+ ``val`` for early stopping) and score the training half and ``test``.

    ``feats`` is :func:`measurement_table` of the cohort (needed by ``kind="cox"`` only).
    """
    t, e = c.time, c.event
    trainval = np.concatenate([fit, val])
    if v.kind == "cox":
        f = fit_measurement_cox(feats.iloc[trainval], t[trainval], e[trainval])
        return VariantResult(f(feats.iloc[trainval]), f(feats.iloc[test]), {})
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
    return VariantResult(predict(net, c.x[trainval]), predict(net, c.x[test]), info)


def _linear_probe(v: Variant, c: TrainingSet, trainval, test, seed: int) -> VariantResult:
    """Frozen encoder (pretrained or random init) + the probe head fitted on the whole training half.

    The head is :func:`hfviz.training.train.init_head_from_probe` (embedding -> PCA(16) -> penalised Cox), the
    same fit that starts every fine-tuning, here on fit + validation subjects and without any
    fine-tuning or early stopping: what the frozen representation alone carries.
    """
    torch.manual_seed(seed)
    net = load_pretrained(v.pretrained) if v.pretrained else DualAttentionNet(ModelConfig())
    net.eval()
    init_head_from_probe(net, c.x[trainval], c.time[trainval], c.event[trainval], seed=seed)
    return VariantResult(predict(net, c.x[trainval]), predict(net, c.x[test]), {})


def fold_rows(c: TrainingSet, feats: pd.DataFrame | None, i: int, variants: list[Variant], ft: FinetuneConfig,
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
        lr_tr, lr_te, info = run_variant(v, c, fit, val, te, ft, feats, seed)
        m = fold_metrics(t[trainval], e[trainval], lr_tr, t[te], e[te], lr_te)
        row = {
            "variant": v.name, "seed": seed, "fold": k, "n_test": len(te), "events_test": int(e[te].sum()),
            "oracle_c": sv.concordance_index(t[te], truth[te], e[te]) if truth is not None else None,
            "oracle_ecg_c": sv.concordance_index(t[te], truth_ecg[te], e[te]) if truth_ecg is not None else None,
            **m, "test_idx": te.tolist(), "log_risk": lr_te.tolist(), "wall_s": time.perf_counter() - t0, **info,
        }
        rows.append(row)
        oracle = f" (oracle {row['oracle_c']:.3f})" if row["oracle_c"] is not None else ""
        log(f"{v.name} seed {seed} fold {k}: C {m['c_index']:.3f}{oracle} [{row['wall_s']:.0f} s]")
    return rows


def finished_keys(out_jsonl: Path) -> set:
    """(variant, seed, fold) of the rows already in ``out_jsonl`` (empty when there is no file)."""
    return {(r["variant"], r["seed"], r["fold"]) for r in read_rows(out_jsonl)} if out_jsonl.is_file() else set()


def append_rows(out_jsonl: Path, rows: list[dict]) -> None:
    """Append ``rows`` to the JSONL log, one JSON object per line."""
    with open(out_jsonl, "a") as fh:
        for row in rows:
            fh.write(json.dumps(row) + "\n")


def evaluate_cohort(
    c: TrainingSet,
    variants: list[Variant],
    *,
    out_jsonl: Path,
    ft: FinetuneConfig,
    folds: dict[str, int],
) -> list[dict]:
    """Run each variant on its first ``folds[name]`` folds (fold-major order), appending to ``out_jsonl``.

    Already-finished (variant, seed, fold) rows in ``out_jsonl`` are skipped (resumable).
    """
    done = finished_keys(out_jsonl)
    feats = measurement_table(c.beats_mv, c.table) if any(v.kind == "cox" for v in variants) else None
    for i in range(len(cv_folds(c.event))):
        append_rows(out_jsonl, fold_rows(c, feats, i, variants, ft, folds, done))
    return read_rows(out_jsonl) if out_jsonl.is_file() else []


_WORKER_CACHE: dict = {}


def fold_task(directory: str, i: int, variants: list[Variant], ft: FinetuneConfig, folds: dict[str, int],
               done: set, threads: int) -> tuple[str, list[dict]]:
    """Worker-process task: fold ``i`` of the cohort in ``directory`` (loaded once per process)."""
    torch.set_num_threads(threads)
    if directory not in _WORKER_CACHE:
        c = load_training_set(directory)
        feats = measurement_table(c.beats_mv, c.table) if any(v.kind == "cox" for v in variants) else None
        _WORKER_CACHE[directory] = (c, feats)
    c, feats = _WORKER_CACHE[directory]
    return directory, fold_rows(c, feats, i, variants, ft, folds, done)


def read_rows(path: Path) -> list[dict]:
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


def summarise(rows: list[dict], c: TrainingSet, variants: list[Variant]) -> dict:
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
