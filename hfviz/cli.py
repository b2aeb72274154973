"""The command line: ``python -m hfviz <command> …``.

Each command is a small function ``_cmd_<name>(args) -> int`` registered in
:func:`build_parser`. Library errors (:class:`~hfviz.errors.HfvizError`) become one line
``error: …`` on stderr and exit code 2; no traceback ever reaches the user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Sequence

from hfviz.errors import HfvizError


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")


# --- info -------------------------------------------------------------------------------
def _add_info(sub) -> None:
    p = sub.add_parser("info", help="read an ECG file and print what was parsed as JSON")
    p.add_argument("files", nargs="+", help="one ECG file, or a WFDB .hea with its signal file")
    p.add_argument("--fs", type=float, default=None, help="sampling rate in Hz (CSV/NumPy)")
    p.add_argument("--units", choices=["mV", "uV"], default=None, help="amplitude units (CSV/NumPy)")
    p.set_defaults(func=_cmd_info)


def info_dict(record, prepared) -> dict:
    """The JSON object ``info`` prints for a record and its preprocessing result."""
    import numpy as np

    from hfviz.ecg.record import LEADS

    p2p = np.ptp(record.signal_mv, axis=1)
    return {
        "file": record.source_name,
        "format": record.source_format,
        "leads": list(LEADS),
        "fs_hz": record.fs_hz,
        "n_samples": record.n_samples,
        "duration_s": round(record.duration_s, 4),
        "derived_leads": list(record.derived_leads),
        "device_median_beat": record.median_beat_mv is not None,
        "median_source": prepared.median_source,
        "units_note": record.units_note,
        "amplitude_mv": {lead: round(float(v), 3) for lead, v in zip(LEADS, p2p)},
        "measurements": {
            key: {"value": None if m.value is None else round(float(m.value), 1), "unit": m.unit, "reason": m.reason}
            for key, m in prepared.measurements.items()
        },
        "quality": list(record.quality),
        "meta": dict(record.meta),
    }


def _cmd_info(args) -> int:
    from hfviz.ecg.io import read_ecg
    from hfviz.ecg.prepare import prepare

    source = args.files[0] if len(args.files) == 1 else list(args.files)
    record = read_ecg(source, fs=args.fs, units=args.units)
    _print_json(info_dict(record, prepare(record)))
    return 0


# --- model: pretrain / finetune / evaluate / reproduce / predict (helper "model") ----------
# Training options are generated from the config dataclasses (hfviz.training.config): one source of defaults.
_DIR_FLAGS = {"data_dir": "--data", "models_dir": "--models", "runs_dir": "--runs"}


def _add_model_common(p) -> None:
    """ReproduceConfig's options, then every other pretraining (--pretrain-*) and fine-tuning (--finetune-*) setting."""
    from hfviz.training import config as tc

    tc.add_config_options(p, tc.ReproduceConfig, flags=_DIR_FLAGS,
                          choices={"pretrain_align": ("infonce", "cosine"), "risk_head": ("linear", "mlp"),
                                   "precision": ("fp32", "bf16")})
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
    # epochs and alignment default to the shipped models' (ReproduceConfig), the rest to PretrainConfig's
    tc.add_config_options(p, tc.PretrainConfig, choices={"align": tc.ALIGNMENTS, "precision": ("fp32", "bf16")},
                          defaults={"epochs": tc.ReproduceConfig.pretrain_epochs, "align": tc.ReproduceConfig.pretrain_align})
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
    from hfviz.training.text import embed_table, load_precomputed
    from hfviz.training.pretrain import pretrain

    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    check_precision(args.precision, device)
    with distributed_session(device):
        c = load_training_set(args.corpus)
        if args.align == "none":
            text = None
        elif args.text_emb:
            ids = c.table["id"] if "id" in c.table else range(len(c.table))
            text = load_precomputed(args.text_emb, args.text_ids or "", ids)
        else:
            with main_first():  # rank 0 fills the text-embedding cache, the others read it
                text = embed_table(c.table, mode=args.text_mode, cache_dir=args.corpus)
        cfg = PretrainConfig(**config_values(args, PretrainConfig))
        hist = pretrain(DualAttentionNet(ModelConfig()), c.x, text, cfg, checkpoint=args.out, resume=not args.no_resume)
        if is_main():
            _print_json({"checkpoint": args.out, "history": hist})
    return 0


def _add_finetune(sub) -> None:
    p = sub.add_parser("finetune", help="fine-tune on a survival cohort (Cox + reconstruction) and write a shipped model")
    p.add_argument("--cohort-dir", required=True, help="dataset folder with time_months and event columns")
    p.add_argument("--name", choices=["mi", "hyp"], required=True, help="model name to write in --models")
    p.add_argument("--pretrained", default=None, help="pretraining checkpoint; omit to train from scratch")
    _add_model_common(p)
    p.set_defaults(func=_cmd_finetune)


def _cmd_finetune(args) -> int:
    from pathlib import Path

    import torch

    from hfviz.device import distributed_session, is_main, resolve_device
    from hfviz.training.reproduce import build_shipped_model

    torch.set_num_threads(args.threads)
    rc = _reproduce_config(args)
    with distributed_session(resolve_device(rc.device)):  # data-parallel under torchrun; rank 0 writes the model
        card = build_shipped_model(args.name, rc, Path(args.pretrained) if args.pretrained else None,
                                   data=Path(args.cohort_dir))
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


def _add_predict(sub) -> None:
    p = sub.add_parser("predict", help="score ECGs with a shipped model: log-risk, percentile, group, S(t); "
                                       "files, folders, list files or a dataset folder, streamed to CSV/Parquet")
    p.add_argument("files", nargs="*", help="ECG files, folders (searched recursively) or @LIST.txt (one path a "
                                            "line); a WFDB .hea is grouped with its signal file")
    p.add_argument("--list", default=None, metavar="FILE", help="also score the paths listed in FILE, one a line")
    p.add_argument("--dataset", default=None, metavar="DIR",
                   help="score a dataset folder (median_beats.npy + cohort.csv) instead of files; its outcomes are kept")
    p.add_argument("--cohort", choices=["mi", "hyp"], required=True)
    p.add_argument("--models", default=None, help="models folder (default: the repository's models/)")
    p.add_argument("--scheme", choices=["tertiles", "quartiles", "top_k"], default="tertiles",
                   help="risk groups within the training cohort (default: tertiles)")
    p.add_argument("--top-k", type=float, default=10.0, help="percent in the high-risk group for --scheme top_k")
    p.add_argument("--fs", type=float, default=None, help="sampling rate in Hz (CSV/NumPy files without one)")
    p.add_argument("--units", choices=["mV", "uV"], default=None, help="amplitude units (CSV/NumPy)")
    p.add_argument("--workers", type=int, default=1, help="processes reading and preparing files (default 1)")
    p.add_argument("--batch-size", type=int, default=256, help="ECGs per model batch (default 256)")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--resume", action="store_true", help="keep the rows already in --out and skip their IDs")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--json", action="store_true", help="print JSON instead of a table")
    g.add_argument("--out", "--csv", dest="out", default=None, metavar="OUT",
                   help="stream the results to this .csv (or .parquet, when pyarrow is installed) instead of printing")
    p.set_defaults(func=_cmd_predict)


def _cmd_predict(args) -> int:
    """Print a table/JSON, or stream to --out; under torchrun each rank scores its shard and rank 0 merges."""
    from hfviz.device import distributed_session, is_main, launched_by_torchrun, resolve_device
    from hfviz.risk import batch
    from hfviz.risk.assess import model_is_synthetic
    from hfviz.risk.model import load_risk_model

    if not (args.files or args.list or args.dataset) or (args.dataset and (args.files or args.list)):
        raise HfvizError("predict needs ECG files, folders or --list, or else one --dataset folder.")
    if (launched_by_torchrun() or args.resume) and not args.out:
        raise HfvizError("--resume and torchrun runs need --out FILE to write the results to.")
    device = resolve_device(args.device)
    rm = load_risk_model(args.cohort, args.models)
    rm.net.to(device)
    sources = None if args.dataset else batch.collect_sources(args.files, list_file=args.list)
    kw = dict(sources=sources, dataset=args.dataset, workers=max(1, args.workers), batch_size=max(1, args.batch_size),
              fs=args.fs, units=args.units, scheme=args.scheme, top_k=args.top_k,
              on_error=lambda msg: print(f"error: {msg}", file=sys.stderr))  # messages name the file
    if args.out:
        with distributed_session(device):
            rep = batch.run_batch(rm, args.out, resume=args.resume, **kw)
            if is_main():
                print(f"predict: {rep.scored} ECG(s) scored, {rep.skipped} already in {args.out}, "
                      f"{rep.failed_total} failed [{rep.seconds:.1f} s]", file=sys.stderr)
        return 2 if rep.failed_total else 0  # bad input anywhere -> 2, as for every command
    rows, failed = batch.score_in_memory(rm, **kw)
    records = json.loads(rows.to_json(orient="records", double_precision=15))  # plain Python values
    if args.json:
        _print_json({"cohort": args.cohort, "synthetic_model": model_is_synthetic(rm), "results": records})
    elif records:
        print("\t".join(rows.columns))
        for r in records:
            print("\t".join(str(v) for v in r.values()))
    return 2 if failed else 0


def _add_merge_predictions(sub) -> None:
    p = sub.add_parser("merge-predictions", help="join the per-rank part files of a torchrun predict into OUT")
    p.add_argument("out", help="the --out of the predict run (parts: OUT-stem.part-R-of-W.csv beside it)")
    p.add_argument("--remove-parts", action="store_true", help="delete the part files after merging")
    p.set_defaults(func=_cmd_merge_predictions)


def _cmd_merge_predictions(args) -> int:
    from hfviz.risk.batch import merge_parts

    n = merge_parts(args.out, keep_parts=not args.remove_parts)
    print(f"merge-predictions: {n} rows in {args.out}", file=sys.stderr)
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


# --- bench ------------------------------------------------------------------------------
_BENCHES = ("read", "simulate", "model", "app", "scale", "browser", "load", "batch-view")


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="measure speed (read+preprocess, simulator, model forward, app paths)")
    p.add_argument("--only", nargs="+", choices=_BENCHES, default=list(_BENCHES), help="which benchmarks to run")
    p.add_argument("--out", default=None, help="also write the JSON results to this file")
    p.add_argument("--repeats", type=int, default=5, help="browser sessions of --only browser (median of 5; fewer for a "
                                                          "quick check)")
    p.set_defaults(func=_cmd_bench)


def _cmd_bench(args) -> int:
    import platform

    from hfviz import bench

    from hfviz.bench_browser import bench_browser
    from hfviz.bench_load import bench_load
    from hfviz.bench_scale import bench_scale

    funcs = {"read": bench.bench_read_preprocess, "simulate": bench.bench_simulate,
             "model": bench.bench_model, "app": bench.bench_app, "scale": bench_scale,
             "browser": lambda: bench_browser(repeats=max(1, args.repeats)), "load": bench_load,
             "batch-view": bench.bench_batch_view}
    results = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                           "processor": platform.machine()}}
    for name in args.only:
        print(f"bench: {name} …", file=sys.stderr)
        results[name] = funcs[name]()
    _print_json(results)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=2, default=str)
    return 0


# --- registry ---------------------------------------------------------------------------
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


def _add_describe(sub) -> None:
    p = sub.add_parser("describe", help="what the model reads in each ECG: the SCP statements its embedding is "
                                        "closest to (encoder pretrained on SYNTHETIC reports)")
    p.add_argument("files", nargs="+", help="ECG files or folders; a WFDB .hea is grouped with its signal file")
    p.add_argument("--top", type=int, default=5, help="statements per ECG (default 5)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--models", default=None, help="models folder (default: the repository's models/)")
    p.add_argument("--fs", type=float, default=None, help="sampling rate in Hz (CSV/NumPy files without one)")
    p.add_argument("--units", choices=["mV", "uV"], default=None, help="amplitude units (CSV/NumPy)")
    p.set_defaults(func=_cmd_describe)


def _cmd_describe(args) -> int:
    from hfviz.risk.batch import collect_sources
    from hfviz.risk.statements import describe_sources, load_statement_reader

    if args.top < 1:
        raise HfvizError("--top must be at least 1.")
    reader = load_statement_reader(args.models)
    results, errors = describe_sources(reader, collect_sources(args.files), top=args.top, fs=args.fs, units=args.units)
    for msg in errors:
        print(f"error: {msg}", file=sys.stderr)
    if args.json:
        _print_json({"synthetic_model": True, "results": results})
    else:
        for r in results:
            for s in r["statements"]:
                print(f"{r['file']}\t{s['code']}\t{s['score']:.3f}\t{s['text']}")
    return 2 if errors else 0


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


_COMMANDS = [_add_info]
_COMMANDS += [_add_simulate, _add_import_ukb, _add_import_ptbxl]  # simulate
_COMMANDS += [_add_pretrain, _add_finetune, _add_evaluate, _add_reproduce, _add_predict, _add_merge_predictions, _add_validate]  # model
_COMMANDS += [_add_describe, _add_build_reader, _add_bench]


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every registered sub-command."""
    parser = argparse.ArgumentParser(prog="python -m hfviz", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 2 bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed a one-line usage error
        return int(exc.code or 0)
    try:
        with warnings.catch_warnings():  # NaN/inf arithmetic on damaged input is not news for the terminal
            warnings.simplefilter("ignore", RuntimeWarning)
            return int(args.func(args) or 0)
    except HfvizError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # last line of defence: never a traceback in front of a user
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
