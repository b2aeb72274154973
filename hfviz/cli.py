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

from hfviz import cli_research
from hfviz.errors import HfvizError
from hfviz.jsonutil import print_json as _print_json


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


# --- model: predict / merge-predictions (research commands: hfviz.cli_research) ------------
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


# --- bench ------------------------------------------------------------------------------
_BENCHES = ("read", "simulate", "model", "reader", "app", "cohort", "scale", "browser", "load", "batch-view")


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
             "model": bench.bench_model, "reader": bench.bench_reader, "app": bench.bench_app, "cohort": bench.bench_cohort, "scale": bench_scale,
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


# --- describe ---------------------------------------------------------------------------
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


# --- registry ---------------------------------------------------------------------------
_COMMANDS = [_add_info, *cli_research.DATA_COMMANDS, *cli_research.MODEL_COMMANDS, _add_predict, _add_merge_predictions,
             _add_describe, _add_bench]


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
