"""The command line: ``python -m hfviz <command> …``.

Each command is a small function ``_cmd_<name>(args) -> int`` registered in
:func:`build_parser`. Library errors (:class:`~hfviz.errors.HfvizError`) become one line
``error: …`` on stderr and exit code 2; no traceback ever reaches the user.
"""

from __future__ import annotations

import argparse
import json
import sys
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

    from hfviz.record import LEADS

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
    from hfviz.io import read_ecg
    from hfviz.preprocess import prepare

    source = args.files[0] if len(args.files) == 1 else list(args.files)
    record = read_ecg(source, fs=args.fs, units=args.units)
    _print_json(info_dict(record, prepare(record)))
    return 0


# --- registry ---------------------------------------------------------------------------
_COMMANDS = [_add_info]


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
