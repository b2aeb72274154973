"""Run the reader fuzzers with a bigger budget and write docs/fuzz_report.md.

It lives beside the fuzzers it runs (tests/test_fuzz_readers.py), so no script reaches into tests/.

Usage::

    .venv/bin/python tests/fuzz_report.py [--examples 400] [--cli-examples 40] [--out docs/fuzz_report.md]

Uses the same seeds and mutations as ``tests/test_fuzz_readers.py`` (real samples from
``../shared/ecg-samples`` when present, ``examples/``, SYNTHETIC CSV/NumPy files) and the same
checks: every case must end in a valid record or ``ECGFormatError`` (not the generic last-line
message), with peak traced memory under 300 MB. Times are measured under ``tracemalloc``
(which slows Python-heavy code); the slowest cases of each format are then re-timed without
tracing. The CLI fuzz test (``tests/test_cli_robustness.py``) is run once with a larger budget
in a subprocess. Derandomised: the same budget gives the same cases.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository root; this file sits beside the fuzzers it runs

import torch  # noqa: E402

torch.set_num_threads(1)

import test_fuzz_readers as fz  # noqa: E402

from hfviz.errors import ECGFormatError  # noqa: E402
from hfviz.ecg.io import read_ecg  # noqa: E402


def retime(case, repeats: int = 3) -> float:
    """Best-of-``repeats`` wall time of one case without tracemalloc, seconds."""
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        try:
            read_ecg([(n, bytes(d)) for n, d in case.files], **case.kw)
        except ECGFormatError:
            pass
        best = min(best, time.perf_counter() - t0)
    return best


def cli_fuzz(n: int) -> tuple[str, float]:
    """Run the CLI fuzz test with ``n`` cases per format; returns pytest's summary line and seconds."""
    env = {**os.environ, "HFVIZ_CLI_FUZZ_EXAMPLES": str(n)}
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "tests/test_cli_robustness.py", "-k", "damaged"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    lines = [ln for ln in proc.stdout.splitlines() if re.search(r"\d+ (passed|failed)", ln)]
    return (lines[-1] if lines else proc.stdout[-300:]), time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=400, help="hypothesis cases per format (default 400)")
    ap.add_argument("--cli-examples", type=int, default=40, help="CLI cases per format (default 40; 0 skips)")
    ap.add_argument("--out", default=str(ROOT / "docs" / "fuzz_report.md"))
    args = ap.parse_args(argv)

    t_start = time.perf_counter()
    rows, failures, slow = fuzz_formats(args.examples)
    extra = size_limit_cases()
    reader_s = time.perf_counter() - t_start

    cli_line, cli_s = ("skipped", 0.0)
    if args.cli_examples > 0:
        cli_line, cli_s = cli_fuzz(args.cli_examples)
        print("CLI:", cli_line, flush=True)

    lines = report_lines(args, rows, failures, slow, extra, reader_s, (cli_line, cli_s))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {args.out}")
    return 1 if failures or "failed" in cli_line else 0


def fuzz_formats(examples: int) -> tuple[list, list[str], list]:
    """Fuzz every format: rows (format, stats, seed labels, seconds), failures, slowest cases re-timed."""
    rows, failures, slow = [], [], []
    for fmt in fz.MUTATORS:
        seeds = fz.seeds_for(fmt)
        if not seeds:
            rows.append((fmt, None, [], 0.0))
            continue
        t0 = time.perf_counter()
        try:
            stats = fz.fuzz_format(fmt, examples, seeds)
        except AssertionError as exc:  # the failing case, after shrinking
            stats = fz.STATS[fmt]
            failures.append(f"{fmt}: {str(exc).splitlines()[0][:300]}")
        untraced = [(retime(case), case.label) for _, case in stats.slowest]
        slow += [(fmt, t, label) for t, label in untraced]
        rows.append((fmt, stats, [s.label for s in seeds], time.perf_counter() - t0))
        print(f"{fmt}: {stats.cases} cases, max {stats.max_time_s:.3f} s traced, "
              f"{max((t for t, _ in untraced), default=0):.3f} s untraced, {stats.max_peak_bytes / 2**20:.1f} MB",
              flush=True)
    return rows, failures, slow


def size_limit_cases() -> fz.FuzzStats:
    """Empty files of every kind and files at or over the size limits."""
    extra = fz.FuzzStats("empty/large")
    for name in ("x.hea", "x.dat", "x.xml", "x.dcm", "x.csv", "x.npy", "x.npz", "x"):
        for content in (b"", b" ", b"\x00" * 200):
            fz.run_case(fz.Case(f"empty:{name}", ((name, content),), {}), extra)
    import numpy as np

    from hfviz.ecg.io._common import MAX_FILE_BYTES, MAX_SAMPLES_PER_LEAD

    n = (MAX_FILE_BYTES - 1024) // (12 * 4)
    fz.run_case(fz.Case("large: .npy just under 50 MB (over the sample cap)",
                        (("big.npy", fz._npy_bytes(np.zeros((12, n), dtype=np.float32))),), {"fs": 1000}), extra)
    cap = np.tile(fz.synthetic_ecg(fs=1000.0, seconds=1.0), (1, MAX_SAMPLES_PER_LEAD // 1000)).astype(np.float32)
    fz.run_case(fz.Case("large: .npy at the 600k-sample cap", (("cap.npy", fz._npy_bytes(cap)),), {"fs": 1000}),
                extra)
    fz.run_case(fz.Case("large: .npz expanding to 192 MB", (("bomb.npz", fz._npz_bytes(
        {"signal": np.zeros((12, 2_000_000)), "fs": np.array(1000.0)}, compressed=True)),), {}), extra)
    big_csv = fz._csv_bytes(np.tile(fz.synthetic_ecg(fs=1000.0, seconds=1.0), (1, 300)), fz.LEADS, time_col=1000.0)
    fz.run_case(fz.Case(f"large: CSV of {len(big_csv) / 2**20:.0f} MB (300 s at 1 kHz)", (("big.csv", big_csv),), {}),
                extra)
    return extra


def report_lines(args, rows, failures, slow, extra, reader_s: float, cli: tuple[str, float]) -> list[str]:
    """The Markdown report, one list item per line."""
    cli_line, cli_s = cli
    total = sum(s.cases for _, s, _, _ in rows if s) + extra.cases
    worst_t = max(slow, default=("-", 0.0, "-"), key=lambda r: r[1])
    worst_m = max((s for _, s, _, _ in rows if s), key=lambda s: s.max_peak_bytes)
    lines = [
        "# Fuzz report: readers and command line under damaged input",
        "",
        f"Generated by `tests/fuzz_report.py --examples {args.examples} --cli-examples {args.cli_examples}` on "
        f"{dt.date.today().isoformat()} ({platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPU cores "
        "shared with other work, so times are upper bounds). Hypothesis runs derandomised: the same budget gives "
        "the same cases. The test suite (`tests/test_fuzz_readers.py`) runs the same fuzzers with 60–150 cases "
        "per format.",
        "",
        "Every case must end in a valid `ECGRecord` (12 finite leads in mV, rate >= 100 Hz, >= 2 s) or "
        "`ECGFormatError` with a one-line message written by the reader that met the problem (read_ecg's "
        "generic last-line message counts as a failure), with peak traced memory <= 300 MB. "
        f"**{total} cases in {reader_s:.0f} s; {len(failures)} failures.**",
        "",
        "Seeds: real files from `../shared/ecg-samples` (when present), the project's `examples/`, and SYNTHETIC "
        "CSV / NumPy files made by the test module. Mutations: truncation, bit flips (anywhere and in the first "
        "kB), overwritten blocks, emptied or dropped files; header fields (sampling rate 0 / negative / NaN / huge, "
        "gains negative / zero / NaN, declared sample and channel counts 0 / off by one / huge, storage formats), "
        "leads removed or renamed, units swapped (file units and the `fs`/`units` arguments), numbers in sample "
        "lists replaced by NaN / inf / text, CSV cells, columns, delimiters and encodings, NumPy headers "
        "(shape, dtype, order) and `.npz` entries.",
        "",
        "| format | cases | valid records | library errors | max time, traced (s) | max time, untraced (s) "
        "| mean time, traced (s) | max peak memory (MB) | seeds |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for fmt, s, seeds, _ in rows:
        if s is None:
            lines.append(f"| {fmt} | 0 | – | – | – | – | – | – | no seed files |")
            continue
        untraced = max((t for f, t, _ in slow if f == fmt), default=0.0)
        lines.append(f"| {fmt} | {s.cases} | {s.records} | {s.errors} | {s.max_time_s:.3f} | {untraced:.3f} | "
                     f"{s.total_time_s / max(s.cases, 1):.4f} | {s.max_peak_bytes / 2**20:.1f} | {len(seeds)} |")
    lines += [
        f"| empty files + size limits | {extra.cases} | {extra.records} | {extra.errors} | {extra.max_time_s:.3f} | "
        f"– | {extra.total_time_s / max(extra.cases, 1):.4f} | {extra.max_peak_bytes / 2**20:.1f} | – |",
        "",
        f"Worst time without tracing: **{worst_t[1]:.3f} s** ({worst_t[0]}: `{worst_t[2]}`). "
        f"Worst peak memory of a fuzz case: **{worst_m.max_peak_bytes / 2**20:.1f} MB** "
        f"({worst_m.fmt}: `{worst_m.max_peak_case}`); of the size-limit cases: "
        f"**{extra.max_peak_bytes / 2**20:.1f} MB** (`{extra.max_peak_case}`, {extra.max_time_s:.2f} s traced).",
        "",
        "Slowest cases per format (re-timed without tracemalloc, best of 3):",
        "",
    ]
    lines += [f"- {fmt}: {t:.3f} s — `{label}`" for fmt, t, label in sorted(slow, key=lambda r: -r[1])[:12]]
    lines += ["", "Mutations run per format (first word of the case label):", ""]
    for fmt, s, _, _ in rows:
        if s:
            lines.append(f"- {fmt}: " + ", ".join(f"{op} {c}" for op, c in s.ops.most_common()))
    lines += ["", "## Command line", "",
              f"`python -m hfviz info` on {args.cli_examples} damaged files per format (in-process, warnings and "
              "log records counted as terminal output): exit 0 with JSON, or exit 2 with exactly one `error:` line "
              f"and no traceback. Result: `{cli_line}` ({cli_s:.0f} s).", ""]
    lines += ["## Failures", ""] + ([f"- {f}" for f in failures] or ["None."]) + [""]
    return lines


if __name__ == "__main__":
    raise SystemExit(main())
