"""Build the statement reader from a pretraining checkpoint: embed every statement prompt once.

The reader (:mod:`hfviz.risk.statements`) scores an ECG against a fixed table of statements. The
table is made here, at build time, with the text encoder the pretraining used: each statement's
prompt (:func:`hfviz.data.scp.statement_prompt`) goes through all-MiniLM-L6-v2 and the
checkpoint's text projection, and is normalised to unit length. At run time no text encoder is
needed.

The statements are those the synthetic report generator writes
(:data:`hfviz.synthetic.reports.EMITTED_CODES`): the only ones the encoder has seen text for.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from hfviz.data.scp import STATEMENTS, statement_prompt
from hfviz.risk.statements import Projection, StatementReader
from hfviz.synthetic.reports import EMITTED_CODES
from hfviz.training.pretrain import load_pretrained
from hfviz.training.text import load_encoder


def statement_vectors(proj_t: Projection, codes: Sequence[str],
                      encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
    """Unit-length projected text embeddings of the statements' prompts, (S, d) float32."""
    raw = torch.from_numpy(encode([statement_prompt(c) for c in codes]))
    with torch.no_grad():
        return torch.nn.functional.normalize(proj_t(raw), dim=-1).numpy().astype(np.float32)


def reader_from_checkpoint(path: str | Path, *, codes: Sequence[str] = EMITTED_CODES,
                           encode: Callable[[list[str]], np.ndarray] | None = None) -> StatementReader:
    """An in-memory statement reader from a pretraining checkpoint with text alignment.

    Parameters
    ----------
    path : path
        Checkpoint written by :func:`hfviz.training.pretrain.pretrain` (``align`` not ``"none"``).
    codes : sequence of str
        Statements of the table (default: every statement the synthetic reports use).
    encode : callable, optional
        ``texts -> (n, 384)``; default all-MiniLM-L6-v2 (:func:`hfviz.training.text.load_encoder`).

    Raises
    ------
    ValueError
        When the checkpoint was pretrained without text (no text projection to read with).
    """
    state = torch.load(Path(path), weights_only=True, map_location="cpu")
    if "proj_t" not in state:
        raise ValueError(f"{Path(path).name}: pretrained without text alignment; there is no text side to read with.")
    net = load_pretrained(path).eval()
    proj_e, proj_t = Projection.from_state(state["proj_e"]), Projection.from_state(state["proj_t"])
    for m in (net, proj_e, proj_t):
        m.eval().requires_grad_(False)
    table = statement_vectors(proj_t, codes, encode or load_encoder())
    card = {"pretrain_config": state.get("pretrain_config", {}), "pretrain_history": state.get("history", {})}
    return StatementReader(net, proj_e, list(codes), [STATEMENTS[c].description for c in codes], table, card)


def zero_shot_auroc(reader: StatementReader, x: np.ndarray, table, *, min_cases: int = 20) -> dict:
    """Zero-shot AUROC of each statement on a labelled dataset (labels: the statement is in ``scp_codes``).

    Parameters
    ----------
    x : ndarray (N, 12, 608) float32
        Normalised model inputs.
    table : DataFrame
        The dataset's ``cohort.csv`` rows (column ``scp_codes``), N of them.
    min_cases : int
        Statements with fewer positives or negatives are left out.

    Returns
    -------
    dict
        ``{"auroc": {code: AUROC}, "positives": {code: n}, "macro_auroc": mean, "ecgs": N}``.
    """
    from sklearn.metrics import roc_auc_score

    from hfviz.data.scp import parse_scp_codes

    scores = np.concatenate([reader.scores(x[i:i + 256]) for i in range(0, len(x), 256)])
    rows = [parse_scp_codes(s, python_literal=True) for s in table["scp_codes"]]
    auroc, positives = {}, {}
    for j, code in enumerate(reader.codes):
        y = np.array([code in r for r in rows])
        if min_cases <= y.sum() <= len(y) - min_cases:
            auroc[code] = round(float(roc_auc_score(y, scores[:, j])), 3)
            positives[code] = int(y.sum())
    return {"auroc": auroc, "positives": positives, "ecgs": len(x),
            "macro_auroc": round(float(np.mean(list(auroc.values()))), 4) if auroc else None}


def build_statement_reader(checkpoint: str | Path, heldout: str | Path, models_dir: str | Path) -> dict:
    """Write the shipped statement reader and measure it on a held-out labelled SYNTHETIC dataset.

    The zero-shot AUROC is measured with the reader as loaded back from its files (float16 encoder),
    so the card describes exactly what ships.
    """
    from hfviz.risk.model import sha256_file
    from hfviz.risk.statements import READER_CARD, load_statement_reader, save_statement_reader
    from hfviz.training.protocol import load_training_set

    reader = reader_from_checkpoint(checkpoint)
    card = {
        "name": "statement reader",
        "intended_use": "Research view of what a pretrained encoder associates with an ECG. Trained on SYNTHETIC ECGs "
                        "with SYNTHETIC reports; not an interpretation and not for clinical decisions.",
        "checkpoint": Path(checkpoint).name, "checkpoint_sha256": sha256_file(Path(checkpoint)),
        "pretrain_config": reader.card["pretrain_config"],
        "score": "cosine similarity between the projected ECG embedding and the projected embedding of the "
                 "statement's prompt (all-MiniLM-L6-v2, embedded once at build time)",
    }
    save_statement_reader(models_dir, reader.net, reader.proj_e, reader.codes, reader.texts, reader.table, card)
    shipped = load_statement_reader(models_dir)
    held = load_training_set(heldout)
    shipped.card["zero_shot"] = {"heldout": str(heldout), **zero_shot_auroc(shipped, held.x, held.table)}
    (Path(models_dir) / READER_CARD).write_text(json.dumps(shipped.card, indent=1), encoding="utf-8")
    return shipped.card
