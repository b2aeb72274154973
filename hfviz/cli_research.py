"""The research commands of the command line: make data, pretrain, fine-tune, evaluate, validate, build the reader.

Registered by :mod:`hfviz.cli` (``DATA_COMMANDS``, ``MODEL_COMMANDS``), which also turns any
:class:`~hfviz.errors.HfvizError` into one ``error: …`` line and exit code 2. The commands that
score ECGs (``info``, ``predict``, ``describe``) and ``bench`` stay in :mod:`hfviz.cli`.
"""

from __future__ import annotations

import sys

from hfviz.errors import HfvizError
from hfviz.jsonutil import print_json as _print_json

# --- model: pretrain / finetune / evaluate / reproduce / predict (helper "model") ----------
# Training options are generated from the config dataclasses (hfviz.training.config): one source of defaults.
_DIR_FLAGS = {"data_dir": "--data", "models_dir": "--models", "runs_dir": "--runs"}


def _add_model_common(p) -> None:
    """ReproduceConfig's options, then every other pretraining (--pretrain-*) and fine-tuning (--finetune-*) setting."""
    from hfviz.training import config as tc

    tc.add_config_options(p, tc.ReproduceConfig, flags=_DIR_FLAGS,
                          choices={"pretrain_align": ("soft", "infonce", "cosine"), "risk_head": ("linear", "mlp"),
                                   "risk_fit": tc.RISK_FITS, "precision": ("fp32", "bf16")})
    tc.add_config_options(p.add_argument_group("pretraining (PretrainConfig)"), tc.PretrainConfig, prefix="pretrain-",
                          exclude=tc.PRETRAIN_SET_BY_REPRODUCE)
    tc.add_config_options(p.add_argument_group("fine-tuning (FinetuneConfig; the head initialisation follows "
                                               "--risk-head)"), tc.FinetuneConfig, prefix="finetune-",
                          exclude=tc.FINETUNE_SET_BY_REPRODUCE, choices={"ties": ("efron", "breslow")})


def _reproduce_config(args):
    from hfviz.training import config as tc

    from hfviz.device import check_precision, resolve_device

    values = tc.config_values(args, tc.ReproduceConfig)
    values["workers"] = max(1, values["workers"])
    check_precision(values["precision"], resolve_device(values["device"]))  # an unavailable device: error now
    pre = tc.config_values(args, tc.PretrainConfig, prefix="pretrain-", exclude=tc.PRETRAIN_SET_BY_REPRODUCE)
    fin = tc.config_values(args, tc.FinetuneConfig, prefix="finetune-", exclude=tc.FINETUNE_SET_BY_REPRODUCE)
    return tc.ReproduceConfig(**values, pretrain_options=tc.non_default(tc.PretrainConfig, pre),
                              finetune_options=tc.non_default(tc.FinetuneConfig, fin))


def _add_pretrain(sub) -> None:
    from hfviz.training import config as tc

    p = sub.add_parser("pretrain", help="pretrain the network on ECGs + report text (reconstruction + alignment)")
    p.add_argument("--corpus", required=True, help="dataset folder (median_beats.npy, cohort.csv with report/scp_codes)")
    p.add_argument("--out", required=True, help="checkpoint file to write (resumed if it exists)")
    # epochs, alignment and statement weight default to the shipped models' (ReproduceConfig), the rest to PretrainConfig's
    tc.add_config_options(p, tc.PretrainConfig, choices={"align": tc.ALIGNMENTS, "precision": ("fp32", "bf16")},
                          defaults={"epochs": tc.ReproduceConfig.pretrain_epochs, "align": tc.ReproduceConfig.pretrain_align,
                                    "statement_weight": tc.ReproduceConfig.pretrain_statement_weight})
    p.add_argument("--text-mode", choices=["scp", "report", "both"], default="scp")
    p.add_argument("--text-emb", default=None, help="precomputed text embeddings .npy (N, D) instead of MiniLM")
    p.add_argument("--text-ids", default=None, help="ids for --text-emb, one per line or CSV with an id column")
    p.add_argument("--no-resume", action="store_true", help="start over even if --out exists")
    tc.add_config_options(p, tc.ReproduceConfig, only=("threads",))
    p.set_defaults(func=_cmd_pretrain)


def _cmd_pretrain(args) -> int:
    """Single process, or data-parallel under ``torchrun`` (rank 0 alone writes, logs and prints)."""
    import torch

    from hfviz.device import check_precision, distributed_session, is_main, main_first, resolve_device
    from hfviz.risk.network import DualAttentionNet, ModelConfig
    from hfviz.training.config import PretrainConfig, config_values
    from hfviz.training.protocol import load_training_set
    from hfviz.errors import DataFormatError
    from hfviz.training.pretrain import pretrain
    from hfviz.training.text import embed_table, load_precomputed, statement_targets
    from hfviz.training.train import _log_main

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    check_precision(args.precision, device)
    with distributed_session(device):
        c = load_training_set(args.corpus)
        codes, targets = statement_targets(c.table["scp_codes"]) if args.statement_weight > 0 else ([], None)
        if args.statement_weight > 0 and not codes:  # said before minutes of text embedding
            raise DataFormatError(f"{args.corpus}: no SCP code in cohort.csv's scp_codes column is stated for enough "
                                  "ECGs to train the statement objective (--statement-weight 0 pretrains without it).")
        if args.align == "none":
            text = None
        elif args.text_emb:
            ids = c.table["id"] if "id" in c.table else range(len(c.table))
            text = load_precomputed(args.text_emb, args.text_ids or "", ids)
        else:
            with main_first():  # rank 0 fills the text-embedding cache, the others read it
                text = embed_table(c.table, mode=args.text_mode, cache_dir=args.corpus)
        cfg = PretrainConfig(**config_values(args, PretrainConfig))
        if targets is not None:
            _log_main(f"pretrain: {len(codes)} statements as auxiliary targets")
        torch.manual_seed(cfg.seed)  # the network's initial weights, as reproduce draws them
        hist = pretrain(DualAttentionNet(ModelConfig()), c.x, text, cfg, checkpoint=args.out, resume=not args.no_resume,
                        statement_targets=targets)
        if is_main():
            _print_json({"checkpoint": args.out, "history": hist})
    return 0


def _add_finetune(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune on a survival cohort (Cox + reconstruction) and write a shipped model")
    p.add_argument("--cohort-dir", required=True, help="dataset folder with time_months and event columns")
    p.add_argument("--name", choices=["mi", "hyp"], required=True, help="model name to write in --models")
    p.add_argument("--pretrained", default=None, help="pretraining checkpoint; omit to train from scratch")
    p.add_argument("--joint-with", default=None,
                   help="with --risk-fit joint-probe: the other cohort's dataset folder, whose training half the head shares")
    _add_model_common(p)
    p.set_defaults(func=_cmd_finetune, risk_fit="finetune")


def _cmd_finetune(args) -> int:
    from pathlib import Path

    import torch

    from hfviz.device import distributed_session, is_main, resolve_device
    from hfviz.training.reproduce import build_shipped_model

    torch.set_num_threads(args.threads)
    rc = _reproduce_config(args)
    with distributed_session(resolve_device(rc.device)):  # data-parallel under torchrun; rank 0 writes the model
        if rc.risk_fit == "joint-probe" and not args.joint_with:
            print("error: --risk-fit joint-probe needs --joint-with, the other cohort's dataset folder.", file=sys.stderr)
            return 2
        card = build_shipped_model(args.name, rc, Path(args.pretrained) if args.pretrained else None,
                                   data=Path(args.cohort_dir), joint_with=Path(args.joint_with) if args.joint_with else None)
        if is_main():
            _print_json({"model": args.name, "metrics": card["metrics"]})
    return 0


def _add_evaluate(sub) -> None:
    from hfviz.training.config import ALL_FOLDS, EVAL_ALIGNS

    p = sub.add_parser("evaluate", help="paper protocol (2-fold CV x 5 seeds): network, baselines, ablations")
    p.add_argument("--cohorts", nargs="+", choices=["mi", "hyp"], default=["mi", "hyp"])
    p.add_argument("--main-folds", type=int, default=ALL_FOLDS,
                   help="folds (of 10) for pretrained (--pretrain-align) / scratch / measurement Cox")
    p.add_argument("--extra-folds", type=int, default=ALL_FOLDS, help="folds for the ablations and the other alignment")
    p.add_argument("--probe-folds", type=int, default=ALL_FOLDS, help="folds for the frozen-embedding probe rows")
    p.add_argument("--aligns", nargs="+", choices=list(EVAL_ALIGNS), default=list(EVAL_ALIGNS),
                   help="pretraining alignments to compare, 'none' = reconstruction only (each pretrains once)")
    _add_model_common(p)
    p.set_defaults(func=_cmd_evaluate)


def _cmd_evaluate(args) -> int:
    from hfviz.training.reproduce import run_evaluation

    _refuse_torchrun("evaluate")
    rc = _reproduce_config(args)
    if rc.pretrain_align not in args.aligns:
        raise HfvizError(f"--pretrain-align {rc.pretrain_align} must be one of --aligns {' '.join(args.aligns)}.")
    run_evaluation(rc, tuple(args.cohorts), main_folds=args.main_folds, extra_folds=args.extra_folds,
                   probe_folds=args.probe_folds, aligns=tuple(args.aligns))
    print(f"wrote {rc.models_dir}/evaluation.md and {rc.models_dir}/evaluation.json")
    return 0


def _refuse_torchrun(command: str) -> None:
    from hfviz.device import launched_by_torchrun

    if launched_by_torchrun():
        raise HfvizError(f"{command} runs its own worker processes (--workers); launch it without torchrun "
                         "(pretrain, finetune and predict are the data-parallel commands).")


def _add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="simulate -> pretrain -> fine-tune MI and HYP -> models/ with cards")
    _add_model_common(p)
    p.set_defaults(func=_cmd_reproduce)


def _cmd_reproduce(args) -> int:
    from hfviz.training.reproduce import reproduce

    _refuse_torchrun("reproduce")
    cards = reproduce(_reproduce_config(args))
    _print_json({c: card["metrics"] for c, card in cards.items()})
    return 0


# --- data: simulate / import-ukb / import-ptbxl (helper "simulate") ------------------------
def _add_simulate(sub) -> None:
    p = sub.add_parser("simulate", help="write a SYNTHETIC dataset (median beats, reports, HF outcomes)")
    p.add_argument("--preset", required=True, choices=["mi", "hyp", "pretrain"],
                   help="mi: prior-MI cohort (800); hyp: hypertension cohort (3000); pretrain: 20000 ECGs, no outcomes")
    p.add_argument("--n", type=int, default=None, help="number of ECGs (default: the preset's)")
    p.add_argument("--seed", type=int, default=0, help="master seed (same preset + n + seed -> identical data)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (output does not depend on it)")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.set_defaults(func=_cmd_simulate)


def _progress_bar(total: int, desc: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="ECG", file=sys.stderr, dynamic_ncols=True)


def _cmd_simulate(args) -> int:
    from hfviz.training.simulated import preset_size, simulate_dataset

    n = preset_size(args.preset, args.n)
    if n < 1:
        raise HfvizError("--n must be at least 1")
    with _progress_bar(n, f"simulate {args.preset} (synthetic)") as bar:
        out, meta = simulate_dataset(args.preset, args.out, n=n, seed=args.seed, workers=args.workers,
                                     progress=bar.update)
    summary = {k: meta[k] for k in ("source", "preset", "seed", "n", "event_rate", "n_events", "median_followup_months",
                                    "oracle_cindex", "oracle_cindex_ecg_only") if k in meta}
    summary["out"] = str(out)
    _print_json(summary)
    return 0


def _add_import_ukb(sub) -> None:
    p = sub.add_parser("import-ukb", help="UK Biobank CardioSoft XML folder + outcomes CSV -> dataset folder")
    p.add_argument("--xml-dir", required=True, help="folder of CardioSoft XML files (field 20205), searched recursively")
    p.add_argument("--outcomes", required=True, help="CSV with columns id (or eid), time (months), event (0/1)")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.set_defaults(func=_cmd_import_ukb)


def _cmd_import_ukb(args) -> int:
    from hfviz.data.dataset import save_dataset
    from hfviz.data.importers import import_ukb

    from pathlib import Path

    from hfviz.errors import DataFormatError

    if not Path(args.xml_dir).is_dir():
        raise DataFormatError(f"{args.xml_dir}: XML folder not found.")
    files = [p for p in Path(args.xml_dir).rglob("*") if p.is_file() and p.suffix.lower() == ".xml"]
    with _progress_bar(len(files), "import-ukb") as bar:
        beats, table, meta = import_ukb(args.xml_dir, args.outcomes, progress=bar.update)
    save_dataset(args.out, beats, table, meta)
    _print_json({k: meta[k] for k in ("source", "n", "n_events", "skipped_files", "without_outcome") if k in meta}
                | {"out": args.out})
    return 0


def _add_import_ptbxl(sub) -> None:
    p = sub.add_parser("import-ptbxl", help="PTB-XL folder (ptbxl_database.csv, scp_statements.csv, records500/) -> dataset")
    p.add_argument("--root", required=True, help="PTB-XL folder")
    p.add_argument("--out", required=True, help="output dataset folder")
    p.add_argument("--rate", type=int, choices=[500, 100], default=500, help="use records500 (default) or records100")
    p.add_argument("--limit", type=int, default=None, help="import only the first N records")
    p.set_defaults(func=_cmd_import_ptbxl)


def _cmd_import_ptbxl(args) -> int:
    from hfviz.data.dataset import save_dataset
    from hfviz.data.importers import import_ptbxl

    bar = None

    def progress(k: int, total: int | None = None) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress_bar(total or 0, "import-ptbxl")
        bar.update(k)

    try:
        beats, table, meta = import_ptbxl(args.root, rate=args.rate, limit=args.limit, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    save_dataset(args.out, beats, table, meta)
    _print_json({k: meta[k] for k in ("source", "n", "skipped_records") if k in meta} | {"out": args.out})
    return 0


# --- validation and the statement reader ----------------------------------------------
def _add_validate(sub) -> None:
    p = sub.add_parser("validate", help="recalibrate a shipped model and validate it on independent SYNTHETIC cohorts")
    p.add_argument("--cohort", choices=["mi", "hyp"], required=True)
    p.add_argument("--calibration", required=True, help="dataset folder of the calibration cohort (simulator seed 2)")
    p.add_argument("--validation", required=True, help="dataset folder of the validation cohort (simulator seed 3)")
    p.add_argument("--models", default="models", help="models folder whose card is updated (default: models)")
    p.set_defaults(func=_cmd_validate)


def _cmd_validate(args) -> int:
    from hfviz.training.validation import attach_validation

    report = attach_validation(args.cohort, args.calibration, args.validation, args.models)
    _print_json({k: report[k] for k in ("validation_cohort", "c_index", "c_index_ci", "oracle_c_index",
                                         "oracle_c_index_ecg_part", "before", "after")})
    return 0


def _add_build_reader(sub) -> None:
    p = sub.add_parser("build-reader", help="statement reader for `describe` from a text-aligned pretraining "
                                            "checkpoint: embed the statements once, measure zero-shot AUROC")
    p.add_argument("--checkpoint", required=True, help="pretraining checkpoint with text alignment")
    p.add_argument("--heldout", required=True, help="labelled SYNTHETIC dataset not used in pretraining "
                                                    "(e.g. simulate --preset pretrain --seed 4)")
    p.add_argument("--models", default="models", help="folder to write reader.safetensors and reader.card.json")
    p.set_defaults(func=_cmd_build_reader)


def _cmd_build_reader(args) -> int:
    from hfviz.training.statement_table import build_statement_reader

    card = build_statement_reader(args.checkpoint, args.heldout, args.models)
    _print_json({k: card[k] for k in ("checkpoint", "zero_shot", "sha256")})
    return 0


DATA_COMMANDS = [_add_simulate, _add_import_ukb, _add_import_ptbxl]
MODEL_COMMANDS = [_add_pretrain, _add_finetune, _add_evaluate, _add_reproduce, _add_validate, _add_build_reader]
