"""What the model reads in an ECG: the SCP statements its embedding is closest to (words as an explanation).

The pretraining aligned each ECG's embedding with the text of its report statements (projected
into a shared 128-d space). The *statement reader* ships that pretrained encoder, its ECG
projection and a table of the statements' projected text embeddings, computed once at build
time (:func:`hfviz.training.statement_table.build_statement_reader`), so scoring an ECG needs no
text encoder: one forward pass and a (S, 128) matrix product.

Files in ``models/``:

- ``reader.safetensors``  encoder weights (``net.*``, stored as float16), ECG projection
                          (``proj_e.*``) and ``statements`` (S, 128) unit vectors
- ``reader.card.json``    codes and prompts of the statements, configs, provenance, held-out
                          zero-shot AUROC per statement, and the sha256 of the weights (checked
                          on every load)

Everything here is SYNTHETIC: the encoder was pretrained on simulated ECGs with simulated
reports; its statements are a research view, not an interpretation.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from hfviz.errors import ModelFileError
from hfviz.jsonutil import json_default
from hfviz.risk.model import DEFAULT_MODELS_DIR, sha256_file
from hfviz.risk.network import DualAttentionNet, ModelConfig

READER_WEIGHTS = "reader.safetensors"
READER_CARD = "reader.card.json"


class Projection(nn.Module):
    """Two-layer projection ``d_in -> hidden -> d_out`` into the shared ECG-text space (both sides)."""

    def __init__(self, d_in: int, d_out: int = 128, hidden: int = 256):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(d_in, hidden), nn.GELU(), nn.Linear(hidden, d_out))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)

    @classmethod
    def from_state(cls, state: dict) -> Projection:
        """A projection with the sizes and weights of a saved ``state_dict``."""
        w1, w2 = state["net.0.weight"], state["net.2.weight"]
        proj = cls(w1.shape[1], w2.shape[0], w1.shape[0])
        proj.load_state_dict(state)
        return proj


@dataclass(frozen=True)
class StatementScore:
    """One statement and how close the ECG's embedding is to it.

    Attributes
    ----------
    code : str
        SCP-ECG code, e.g. ``"CLBBB"``.
    text : str
        The statement's description, e.g. ``"complete left bundle branch block"``.
    score : float
        Cosine similarity in [-1, 1] between the projected ECG and statement embeddings.
    auroc : float or None
        Zero-shot AUROC of this statement on held-out SYNTHETIC ECGs (how far the score can be
        trusted to separate ECGs with and without it); None when not measured.
    """

    code: str
    text: str
    score: float
    auroc: float | None = None


@dataclass
class StatementReader:
    """Pretrained encoder + ECG projection + statement table.

    Attributes
    ----------
    net : DualAttentionNet
        Pretrained encoder (eval mode, no gradients); only its ``embedding`` is used.
    proj_e : Projection
        ECG projection ``embed_dim -> 128``.
    codes : list of str
        Statement codes, S of them, in the row order of ``table``.
    texts : list of str
        Their descriptions.
    table : ndarray (S, 128) float32
        Unit-length projected text embeddings of the statement prompts.
    card : dict
        The reader card (``reader.card.json``).
    """

    net: DualAttentionNet
    proj_e: Projection
    codes: list[str]
    texts: list[str]
    table: np.ndarray
    card: dict

    def embed(self, x: np.ndarray) -> np.ndarray:
        """Unit-length projected ECG embeddings.

        Parameters
        ----------
        x : ndarray (B, 12, 608) or (12, 608) float32
            Normalised model inputs (:attr:`hfviz.ecg.prepare.PreparedECG.model_input`).

        Returns
        -------
        ndarray (B, 128) float32
        """
        t = torch.from_numpy(np.array(x, dtype=np.float32))  # a copy: inputs may be read-only
        if t.ndim == 2:
            t = t[None]
        with torch.no_grad():
            e = self.proj_e(self.net.encode(t)[0])  # the embedding only: no decoder, no risk head
        return torch.nn.functional.normalize(e, dim=-1).numpy()

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Cosine similarity of each ECG with each statement, (B, S) float32 in [-1, 1]."""
        return self.embed(x) @ self.table.T

    def top(self, x: np.ndarray, k: int = 5) -> list[StatementScore]:
        """The ``k`` statements closest to one ECG (model input (12, 608)), highest score first."""
        s = self.scores(x)[0]
        auroc = self.card.get("zero_shot", {}).get("auroc", {})
        order = np.argsort(-s, kind="stable")[: max(1, int(k))]
        return [StatementScore(self.codes[i], self.texts[i], round(float(s[i]), 4), auroc.get(self.codes[i]))
                for i in order]


def load_statement_reader(models_dir: str | Path | None = None) -> StatementReader:
    """Load the shipped statement reader after checking its weights' sha256.

    Raises
    ------
    ModelFileError
        Card or weights missing, unreadable, or not matching the card's checksum.
    """
    d = Path(models_dir) if models_dir is not None else DEFAULT_MODELS_DIR
    card_path, weights_path = d / READER_CARD, d / READER_WEIGHTS
    try:
        card = json.loads(card_path.read_text(encoding="utf-8"))
        codes, texts = list(card["codes"]), list(card["texts"])
        cfg = ModelConfig.from_dict(card["config"])
        proj = card["projection"]
        expected = card["sha256"][READER_WEIGHTS]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{card_path.name}: statement reader card is missing or unreadable ({type(exc).__name__}).") from None
    if not weights_path.is_file():
        raise ModelFileError(f"{weights_path.name}: file is missing.")
    if sha256_file(weights_path) != expected:
        raise ModelFileError(f"{weights_path.name}: sha256 does not match the reader card (file truncated or modified).")
    try:
        from safetensors.torch import load_file

        state = {k: v.float() for k, v in load_file(str(weights_path)).items()}
        net = DualAttentionNet(cfg)
        missing, unexpected = net.load_state_dict({k[4:]: v for k, v in state.items() if k.startswith("net.")}, strict=False)
        if unexpected or any(not k.startswith("head.") for k in missing):
            raise ValueError("encoder weights do not match the network")
        proj_e = Projection.from_state({k[7:]: v for k, v in state.items() if k.startswith("proj_e.")})
        table = state["statements"].numpy().astype(np.float32)
        if table.shape != (len(codes), proj["dim"]) or len(texts) != len(codes):
            raise ValueError(f"statement table {tuple(table.shape)} does not match {len(codes)} codes")
    except Exception as exc:  # noqa: BLE001 - any failure here means an unusable weights file
        detail = " ".join(str(exc).split())[:200]
        raise ModelFileError(f"{weights_path.name}: statement reader cannot be loaded ({type(exc).__name__}: {detail}).") from None
    for m in (net, proj_e):
        m.eval().requires_grad_(False)
    return StatementReader(net, proj_e, codes, texts, table, card)


def save_statement_reader(models_dir: str | Path, net: DualAttentionNet, proj_e: Projection, codes: list[str],
                          texts: list[str], table: np.ndarray, card: dict) -> dict:
    """Write ``reader.safetensors`` and ``reader.card.json``; returns the full card.

    The encoder (all but the untrained risk head) is stored as float16 (half the size); the
    projection and the statement table as float32.
    """
    from safetensors.torch import save_file

    d = Path(models_dir)
    d.mkdir(parents=True, exist_ok=True)
    state = {f"net.{k}": v.detach().to(torch.float16 if v.is_floating_point() else v.dtype).contiguous().clone()
             for k, v in net.state_dict().items() if not k.startswith("head.")}
    state.update({f"proj_e.{k}": v.detach().float().contiguous().clone() for k, v in proj_e.state_dict().items()})
    state["statements"] = torch.from_numpy(np.ascontiguousarray(table, np.float32))
    save_file(state, str(d / READER_WEIGHTS))
    hidden, dim = proj_e.net[0].out_features, proj_e.net[2].out_features
    full = dict(card, synthetic=True, codes=list(codes), texts=list(texts), config=net.cfg.to_dict(),
                projection={"dim": dim, "hidden": hidden}, files=[READER_WEIGHTS],
                sha256={READER_WEIGHTS: sha256_file(d / READER_WEIGHTS)})
    (d / READER_CARD).write_text(json.dumps(full, indent=1, default=json_default), encoding="utf-8")
    return full


def _device_interpretation(prepared) -> dict:
    """The file's own interpretation text (module level: it travels to worker processes)."""
    return {"device_interpretation": prepared.record.meta.get("interpretation") or None}


def describe_sources(reader: StatementReader, sources, *, top: int = 5, fs: float | None = None,
                     units: str | None = None) -> tuple[list[dict], list[str]]:
    """The top statements of each ECG, as ``describe --json`` prints them.

    Parameters
    ----------
    sources : sequence of :class:`hfviz.risk.batch.Source`
        From :func:`hfviz.risk.batch.collect_sources` (a WFDB header travels with its signal file).
    top : int
        Statements per ECG.

    Returns
    -------
    results : list of dict
        ``{"file", "statements": [{"code", "text", "score", "heldout_auroc"}], "device_interpretation"}``
        per readable ECG, in input order.
    errors : list of str
        One sentence per file that could not be read, naming it.
    """
    from hfviz.risk.batch import prepare_described

    results, errors = [], []
    for src in sources:
        x, details, err = prepare_described((src, fs, units, _device_interpretation))
        if err is not None:
            errors.append(err)
            continue
        statements = [{"code": s.code, "text": s.text, "score": s.score, "heldout_auroc": s.auroc}
                      for s in reader.top(x, top)]
        results.append({"file": src.files[0], "statements": statements, **details})
    return results, errors
