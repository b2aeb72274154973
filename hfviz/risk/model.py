"""The shipped risk models: load a checksummed model, score median beats, survival, percentiles.

A shipped model for cohort ``c`` is a set of files in ``models/``:

- ``c.safetensors``          network weights (safetensors: no pickle, nothing executes on load);
                             models whose networks are identical share one file, ``mi_hyp.safetensors``
                             (:func:`share_identical_weights`), which their cards name
- ``c.card.json``            the model card: config, preprocessing settings, Breslow baseline,
                             training risk distribution, metrics, provenance, and the sha256 of
                             every other file (checked on every load)
- ``c.card.md``              the same card for people
- ``c_predictions.csv``      held-out predictions: id, log_risk, time_months, event
- ``c_beats.safetensors``    a few held-out model inputs (optional; baselines for attributions)

``load_risk_model(c)`` needs nothing else: ``DualAttentionNet(ModelConfig(**card["config"]))``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from hfviz.errors import ECGFormatError, ModelFileError
from hfviz.jsonutil import json_default
from hfviz.ecg.prepare import PREPROCESSING
from hfviz.risk.calibration import Recalibration
from hfviz.risk.groups import COHORTS, assign_groups
from hfviz.risk.network import DualAttentionNet, ModelConfig, ModelOutput
from hfviz.risk.survival import BreslowBaseline

#: Where shipped models live: ``<repo>/models``.
DEFAULT_MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_files(cohort: str) -> dict[str, str]:
    """Canonical file names of a shipped model: role -> file name."""
    return {
        "weights": f"{cohort}.safetensors",
        "card": f"{cohort}.card.json",
        "card_md": f"{cohort}.card.md",
        "predictions": f"{cohort}_predictions.csv",
        "beats": f"{cohort}_beats.safetensors",
        "validation": f"{cohort}_validation.csv",
    }


#: The one weights file of cohorts whose networks are identical (the joint probe's shared head).
SHARED_WEIGHTS = "_".join(COHORTS) + ".safetensors"


def _weights_name(card: dict, cohort: str) -> str:
    """The weights file a card names (``files.weights``; default ``<cohort>.safetensors``), a bare file name."""
    name = (card.get("files") or {}).get("weights") or model_files(cohort)["weights"]
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".safetensors"):
        raise ValueError(f"weights file {name!r} is not a .safetensors file beside the card")
    return name


@dataclass
class RiskModel:
    """A loaded, read-only risk model (see :func:`load_risk_model`).

    Attributes
    ----------
    cohort : str
        ``"mi"`` or ``"hyp"``.
    net : DualAttentionNet
        In eval mode with gradients off for its parameters (inputs may still require grad).
    card : dict
        The model card (JSON).
    baseline : BreslowBaseline
        Breslow baseline cumulative hazard of the training cohort (months).
    risk_distribution : ndarray (N,)
        Sorted log-risks of the training cohort (for percentiles and risk groups).
    cohort_predictions : DataFrame
        Held-out predictions: id, log_risk, time_months, event.
    cohort_beats : ndarray (K, 12, 608) float32 or None
        A few held-out model inputs (e.g. attribution baselines).
    recalibration : Recalibration or None
        Slope and baseline re-estimated on an independent calibration cohort; when present it
        gives the absolute risks (:meth:`predict_survival_function`).
    validation_predictions : DataFrame or None
        Predictions on the independent SYNTHETIC validation cohort (id, log_risk, time_months,
        event, true log-hazards).
    """

    cohort: str
    net: DualAttentionNet
    card: dict
    baseline: BreslowBaseline
    risk_distribution: np.ndarray
    cohort_predictions: pd.DataFrame
    cohort_beats: np.ndarray | None = field(default=None, repr=False)
    recalibration: Recalibration | None = None
    validation_predictions: pd.DataFrame | None = field(default=None, repr=False)

    def check_input(self, x: Any) -> torch.Tensor:
        """Model input as a float32 tensor (B, 12, 608); a single (12, 608) beat gets B = 1.

        Raises
        ------
        ECGFormatError
            When the array has another shape or non-finite values.
        """
        t = x.to(torch.float32) if torch.is_tensor(x) else torch.from_numpy(np.array(x, dtype=np.float32))
        if t.ndim == 2:
            t = t[None]
        cfg = self.net.cfg
        if t.ndim != 3 or t.shape[1:] != (cfg.n_leads, cfg.input_len):
            raise ECGFormatError(
                f"model input must be normalised median beats of shape (B, {cfg.n_leads}, {cfg.input_len}), "
                f"got {tuple(t.shape)}."
            )
        if not torch.isfinite(t).all():
            raise ECGFormatError("model input contains NaN or infinite values.")
        return t

    def forward(self, x) -> ModelOutput:
        """Full network output (no gradients, on the network's device): see :class:`hfviz.risk.network.ModelOutput`."""
        with torch.no_grad():
            return self.net(self.check_input(x).to(self.device))

    def predict_log_risk(self, x) -> np.ndarray:
        """(B, 12, 608) float32 normalised median beats -> log-risk ndarray (B,) (decoder skipped; any device)."""
        with torch.no_grad():
            return self.net.predict_log_risk(self.check_input(x).to(self.device)).cpu().numpy().astype(np.float64)

    @property
    def device(self) -> torch.device:
        """Where the network is (CPU after loading; ``model.net.to(device)`` moves it)."""
        return next(self.net.parameters()).device

    def predict_survival_function(self, log_risk, times_months) -> np.ndarray:
        """S(t | ECG) for log-risks (B,) at months (T,) -> (B, T), in [0, 1], non-increasing in t.

        Recalibrated on the independent calibration cohort when the card carries a recalibration;
        otherwise the training half's Breslow baseline.
        """
        if self.recalibration is not None:
            return self.recalibration.predict_survival_function(log_risk, times_months)
        return self.baseline.predict_survival_function(log_risk, times_months)

    def percentile(self, log_risk) -> np.ndarray | float:
        """Percent of the training cohort with a lower log-risk, in [0, 100] (scalar in, scalar out)."""
        lr = np.asarray(log_risk, dtype=np.float64)
        below = np.searchsorted(self.risk_distribution, lr, side="left")
        ties = np.searchsorted(self.risk_distribution, lr, side="right") - below
        pct = 100.0 * (below + 0.5 * ties) / len(self.risk_distribution)
        return float(pct) if pct.ndim == 0 else pct

    def risk_group(self, log_risk, scheme: str = "tertiles", *, top_k_percent: float = 10.0) -> str | list[str]:
        """Risk group of log-risk(s) within the training cohort (:func:`hfviz.risk.groups.assign_groups`).

        A scalar gives a str, an array a list.
        """
        labels = assign_groups(log_risk, scheme, top_k_percent=top_k_percent, reference=self.risk_distribution).labels
        return str(labels[0]) if np.ndim(log_risk) == 0 else [str(s) for s in labels]


def _fail(path: Path, problem: str) -> ModelFileError:
    return ModelFileError(f"{path.name}: {problem}")


def load_risk_model(cohort: str, models_dir: str | Path | None = None) -> RiskModel:
    """Load the shipped model of ``cohort`` after checking every file's sha256.

    Parameters
    ----------
    cohort : {"mi", "hyp"}
    models_dir : path, optional
        Folder with the model files (default ``<repo>/models``).

    Raises
    ------
    ModelFileError
        A file is missing, truncated, tampered with (checksum mismatch) or unreadable.
    """
    if cohort not in COHORTS:
        raise ModelFileError(f"unknown cohort {cohort!r}; shipped models are {', '.join(COHORTS)}.")
    d = Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR
    names = model_files(cohort)
    card_path = d / names["card"]
    if not card_path.is_file():
        raise _fail(card_path, f"model card not found in {d} (run `python -m hfviz reproduce` to build the models).")
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        checksums = dict(card["sha256"])
        names["weights"] = _weights_name(card, cohort)
        cfg = ModelConfig.from_dict(card["config"])
        baseline = BreslowBaseline.from_dict(card["baseline"])
        dist = np.sort(np.asarray(card["risk_distribution"], dtype=np.float64))
        if dist.ndim != 1 or dist.size == 0 or not np.all(np.isfinite(dist)):
            raise ValueError("risk_distribution is empty or not finite")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _fail(card_path, f"model card is unreadable or incomplete ({type(exc).__name__}: {exc}).") from None
    for role in ("weights", "predictions", "beats", "validation"):
        fname = names[role]
        if role in ("beats", "validation") and fname not in checksums:
            continue
        path = d / fname
        if fname not in checksums:
            raise _fail(card_path, f"records no sha256 for {fname}.")
        if not path.is_file():
            raise _fail(path, "file is missing.")
        if sha256_file(path) != checksums[fname]:
            raise _fail(path, "sha256 does not match the model card (file truncated or modified).")
    try:
        from safetensors.torch import load_file

        state = load_file(str(d / names["weights"]))
        net = DualAttentionNet(cfg)
        net.load_state_dict(state, strict=True)
        if not all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point()):
            raise ValueError("some weights are NaN or infinite")
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable weights file
        detail = " ".join(str(exc).split())[:300]  # one line (state-dict errors span several)
        raise _fail(d / names["weights"], f"weights cannot be loaded ({type(exc).__name__}: {detail}).") from None
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)
    try:
        preds = pd.read_csv(d / names["predictions"])
        missing = {"id", "log_risk", "time_months", "event"} - set(preds.columns)
        if missing:
            raise ValueError(f"missing columns {sorted(missing)}")
    except Exception as exc:  # noqa: BLE001
        raise _fail(d / names["predictions"], f"held-out predictions unreadable ({exc}).") from None
    beats = None
    if names["beats"] in checksums:
        from safetensors.numpy import load_file as load_np

        try:
            beats = load_np(str(d / names["beats"]))["beats"].astype(np.float32)
        except Exception as exc:  # noqa: BLE001
            raise _fail(d / names["beats"], f"held-out beats cannot be loaded ({type(exc).__name__}).") from None
    recal = Recalibration.from_dict(card["recalibration"]) if "recalibration" in card else None
    validation = None
    if names["validation"] in checksums:
        try:
            validation = pd.read_csv(d / names["validation"], dtype={"id": str})
        except Exception as exc:  # noqa: BLE001
            raise _fail(d / names["validation"], f"validation predictions unreadable ({exc}).") from None
    return RiskModel(cohort, net, card, baseline, dist, preds, beats, recal, validation)


def save_risk_model(
    models_dir: str | Path,
    cohort: str,
    net: DualAttentionNet,
    *,
    baseline: BreslowBaseline,
    train_log_risk: np.ndarray,
    predictions: pd.DataFrame,
    card: dict,
    beats: np.ndarray | None = None,
) -> dict:
    """Write a shipped model (weights, predictions, beats, card JSON + Markdown) and return the card.

    ``card`` holds the descriptive fields (training data, metrics, intended use…); this function
    adds config, preprocessing, baseline, risk distribution and the sha256 of every file.
    """
    from safetensors.numpy import save_file as save_np
    from safetensors.torch import save_file

    d = Path(models_dir)
    d.mkdir(parents=True, exist_ok=True)
    names = model_files(cohort)
    state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    save_file(state, str(d / names["weights"]))
    predictions[["id", "log_risk", "time_months", "event"]].to_csv(d / names["predictions"], index=False, float_format="%.6g")
    files = [names["weights"], names["predictions"]]
    if beats is not None:
        save_np({"beats": np.ascontiguousarray(beats, dtype=np.float16)}, str(d / names["beats"]))
        files.append(names["beats"])
    full = dict(card)
    full.update(
        cohort=cohort,
        config=net.cfg.to_dict(),
        preprocessing=PREPROCESSING,
        baseline=baseline.to_dict(),
        risk_distribution=np.round(np.sort(np.asarray(train_log_risk, dtype=np.float64)), 6).tolist(),
        files=names,
        sha256={f: sha256_file(d / f) for f in files},
    )
    write_card(d, cohort, full)
    return full


def write_card(models_dir: str | Path, cohort: str, card: dict) -> None:
    """Write ``cohort``'s model card: the JSON (read by :func:`load_risk_model`) and its Markdown for people."""
    names = model_files(cohort)
    (Path(models_dir) / names["card"]).write_text(json.dumps(card, indent=1, default=json_default), encoding="utf-8")
    (Path(models_dir) / names["card_md"]).write_text(card_markdown(card), encoding="utf-8")


def share_identical_weights(models_dir: str | Path, cohorts: tuple[str, ...] = tuple(COHORTS)) -> bool:
    """Store the networks of ``cohorts`` once when their weights files are byte-identical.

    The joint probe gives every cohort the same network (frozen encoder, shared head); its files
    would hold the same 5.8 MB twice. When the cards' weights files have one sha256, it is written
    once as :data:`SHARED_WEIGHTS`, the per-cohort files are deleted and every card names the shared
    file (its card Markdown rewritten too).
    When they differ, each cohort keeps (or gets back) its own file. A shared file that no card
    names any more is deleted.

    Returns
    -------
    bool
        Whether the cohorts now share one weights file.
    """
    d = Path(models_dir)
    cards = {c: json.loads((d / model_files(c)["card"]).read_text(encoding="utf-8")) for c in cohorts}
    names = {c: _weights_name(card, c) for c, card in cards.items()}
    shas = {c: cards[c]["sha256"][names[c]] for c in cohorts}
    shared = len(cohorts) > 1 and len(set(shas.values())) == 1
    for c in cohorts:
        target = SHARED_WEIGHTS if shared else model_files(c)["weights"]
        if names[c] == target:
            continue
        src, dst = d / names[c], d / target
        if not dst.is_file() or sha256_file(dst) != shas[c]:
            dst.write_bytes(src.read_bytes())
        card = cards[c]
        card["sha256"] = {(target if f == names[c] else f): h for f, h in card["sha256"].items()}
        card["files"] = {**card.get("files", {}), "weights": target}
        write_card(d, c, card)
    named = {_weights_name(card, c) for c, card in cards.items()}
    for old in {model_files(c)["weights"] for c in cohorts} | {SHARED_WEIGHTS}:
        if old not in named and (d / old).is_file():
            (d / old).unlink()
    return shared


def card_markdown(card: dict) -> str:
    """Human-readable model card from the card dict (no numbers computed here)."""
    lines = [f"# Model card: HF risk, {card.get('cohort', '?').upper()}-like cohort (SYNTHETIC data)", ""]
    for key, title in [
        ("intended_use", "Intended use"),
        ("training_data", "Training data"),
        ("training", "Training"),
        ("metrics", "Held-out metrics"),
        ("comparison", "Baselines and ablations"),
        ("limitations", "Limitations"),
    ]:
        val = card.get(key)
        if val is None:
            continue
        lines += [f"## {title}", ""]
        if isinstance(val, str):
            lines += [val, ""]
        elif isinstance(val, list):
            lines += [f"- {v}" for v in val] + [""]
        else:
            lines += [f"- **{k}**: {v}" for k, v in val.items()] + [""]
    lines += validation_markdown(card)
    lines += fidelity_markdown(card)
    cfg = card.get("config", {})
    lines += ["## Model", "", f"- parameters: {card.get('n_parameters', '?')}", f"- config: `{json.dumps(cfg)}`", ""]
    lines += ["## Files (sha256)", ""] + [f"- `{f}`: `{h}`" for f, h in card.get("sha256", {}).items()] + [""]
    return "\n".join(lines)


def fidelity_markdown(card: dict) -> list[str]:
    """Markdown lines for the card's per-phenotype fidelity summary (empty when absent)."""
    f = card.get("phenotype_fidelity")
    if not f:
        return []
    lines = [f"## Per-phenotype fidelity ({f['cohort']}, SYNTHETIC)", ""]
    for score, v in f.items():
        if isinstance(v, dict):
            lines.append(f"- {score}: Spearman {v['spearman_with_true_ecg_log_hazard']:.3f} with the true ECG "
                         f"log-hazard; {v['phenotypes_within_10_points']} phenotypes within ±10 percentile points "
                         f"of the truth; largest offset {v['largest_offset']}")
    return [*lines, f"- per-phenotype table: {f['table']}", ""]


def validation_markdown(card: dict) -> list[str]:
    """Markdown lines for the card's independent validation and calibration (empty when absent)."""
    v = card.get("validation")
    if not v:
        return []
    vc, cc = v["validation_cohort"], v["calibration_cohort"]
    lo, hi = v.get("c_index_ci") or (float("nan"), float("nan"))
    lines = ["## Independent validation (SYNTHETIC cohorts the model never saw)", "",
             f"- validation cohort: {vc['n']:,} subjects, {vc['events']} events (simulator seed {vc['seed']})",
             f"- C-index {v['c_index']:.3f} (95 % CI {lo:.3f}–{hi:.3f}); oracle C of the true log-hazard "
             f"{v['oracle_c_index']:.3f} (ECG part alone {v['oracle_c_index_ecg_part']:.3f})",
             f"- absolute risk recalibrated on a calibration cohort of {cc['n']:,} subjects, {cc['events']} events "
             f"(seed {cc['seed']}): log-risk slope {card['recalibration']['slope']:.3f} and a new Breslow baseline",
             "", "| horizon | calibration | slope | predicted risk | observed (KM) | calibration-in-the-large | ICI |",
             "|---|---|---|---|---|---|---|"]
    for label in ("before", "after"):
        m = v[label]
        for t, a in m["at"].items():
            lines.append(f"| {float(t):.0f} months | {label} recalibration | {m['slope']:.2f} | {a['predicted']:.3f} | "
                         f"{a['observed']:.3f} | {a['citl']:+.3f} | {a['ici']:.3f} |")
    lines += ["", "Targets (independent cohort): slope 0.8–1.2, ICI at 60 months ≤ 0.02.", ""]
    return lines
