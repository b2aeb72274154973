"""Our global intervals vs the device's own measurements stored in the real sample files.

For every file in ``../shared/ecg-samples`` that :func:`hfviz.ecg.io.read_ecg` reads and
whose record carries device measurements (GE MUSE / CardioSoft, HL7 aECG, Philips XML,
SCP-ECG section 7), per interval: the device's value, ours, and the difference -- for

* **new, own median**: :func:`hfviz.ecg.measure.measure_beat` on the median beat computed
  from the strip;
* **new, app**: what the Patient page shows (:func:`hfviz.ecg.prepare.prepare`, which uses
  the file's own median beat when it stores one);
* **old, own median**: the previous delineation (``delineate_beat``), loaded read-only from
  the git commit :data:`OLD_COMMIT` (omitted when git or the commit is unavailable);
* **neurokit2 cwt**: ``nk.ecg_delineate(method="cwt")`` on every lead of the strip with our
  R peaks, median over beats, then over leads (``--no-nk`` skips it; slow).

Then mean difference +- SD per interval against IEC 60601-2-25
(:data:`hfviz.ecg.measure.IEC_TOLERANCE_MS`), and where a device disagrees with itself
(its stored fiducials vs its stored intervals, its QTc vs its QT and rate). The settings of
the measurement were fixed on simulated data before this comparison; nothing is tuned on
these files. With ``--synthetic DIR`` (a simulated dataset folder: ``python -m hfviz simulate``)
it adds the same measurement against the simulator's own parameters -- a reference that knows
where each wave was drawn -- from the ``meas_*`` and ``true_*`` columns of its ``cohort.csv``.
Usage::

    python scripts/measurements_vs_device.py [--samples DIR] [--out docs/measurements_vs_device.md] [--no-nk]
        [--synthetic data/r18/validation-mi]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository root (hfviz is not installed)

from hfviz.ecg.io import read_ecg  # noqa: E402
from hfviz.ecg.io._common import local, parse_xml  # noqa: E402
from hfviz.ecg.measure import IEC_TOLERANCE_MS, device_values, measure_beat  # noqa: E402
from hfviz.ecg.prepare import prepare  # noqa: E402
from hfviz.ecg.signal import FS_HZ, clean, detect_r_peaks, median_beat_from_peaks, resample  # noqa: E402

DEFAULT_SAMPLES = ROOT.parent / "shared" / "ecg-samples"
#: The last commit with the previous measurement (``delineate_beat``), for the "old" column.
OLD_COMMIT = "c0c6866217ee3c6418d53ad9b943180ac80e876d"
ROWS = ("heart_rate_bpm", "pr_ms", "p_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qtc_fridericia_ms",
        "p_axis_deg", "qrs_axis_deg", "t_axis_deg")
COLS = (("new_own", "new, own median"), ("new_app", "new, app"), ("old_own", "old, own median"),
        ("nk", "neurokit2 cwt"))
#: GE fiducials stored in RestingECGMeasurements (sample indices of the 500 Hz median beat).
GE_FIDUCIALS = ("POnset", "POffset", "QOnset", "QOffset", "TOffset")


def old_measure_beat():
    """``measure_beat`` of :data:`OLD_COMMIT`'s ``hfviz/ecg/measure.py``, or None (read-only git)."""
    try:
        src = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD_COMMIT}:hfviz/ecg/measure.py"],
                             capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    mod = types.ModuleType("hfviz_old_measure")
    sys.modules[mod.__name__] = mod  # its dataclass looks itself up there
    exec(compile(src, f"{OLD_COMMIT[:7]}:hfviz/ecg/measure.py", "exec"), mod.__dict__)  # noqa: S102
    return mod.measure_beat


def nk_cwt(strip: np.ndarray, r: np.ndarray) -> dict[str, float | None]:
    """PR, P, QRS, QT (ms) by neurokit2 ``cwt`` per lead: median over beats, then over leads."""
    import neurokit2 as nk

    r = r[(r > int(0.5 * FS_HZ)) & (r < strip.shape[1] - int(0.8 * FS_HZ))]
    names = {"p_on": "ECG_P_Onsets", "p_off": "ECG_P_Offsets", "q_on": "ECG_R_Onsets",
             "q_off": "ECG_R_Offsets", "t_off": "ECG_T_Offsets"}
    win = {"p_on": (-450, -20), "p_off": (-300, 0), "q_on": (-150, 0), "q_off": (0, 200), "t_off": (80, 800)}
    per_lead = []
    for lead in strip:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _, w = nk.ecg_delineate(lead, rpeaks=r, sampling_rate=int(FS_HZ), method="cwt")
        except Exception:  # noqa: BLE001 - neurokit2 raises many kinds on odd leads
            continue
        f = {}
        for k, name in names.items():  # nearest fiducial within the window of each beat
            vals = np.asarray(w.get(name, []), dtype=float)
            vals = vals[np.isfinite(vals)]
            col = np.full(r.size, np.nan)
            for b, rb in enumerate(r):
                d = (vals - rb) * 2.0
                ok = (d > win[k][0]) & (d < win[k][1])
                if ok.any():
                    col[b] = vals[ok][np.argmin(np.abs(d[ok]))]
            f[k] = col
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            per_lead.append({"pr_ms": np.nanmedian(f["q_on"] - f["p_on"]) * 2, "p_ms": np.nanmedian(f["p_off"] - f["p_on"]) * 2,
                             "qrs_ms": np.nanmedian(f["q_off"] - f["q_on"]) * 2, "qt_ms": np.nanmedian(f["t_off"] - f["q_on"]) * 2})
    out = {}
    for key in ("pr_ms", "p_ms", "qrs_ms", "qt_ms"):
        v = np.array([d[key] for d in per_lead], dtype=float)
        v = v[np.isfinite(v)]
        out[key] = float(np.median(v)) if v.size else None
    return out


def ge_fiducials(path: Path) -> dict[str, float]:
    """GE MUSE / CardioSoft fiducials stored in the file (sample indices at 500 Hz)."""
    try:
        root = parse_xml(path.name, path.read_bytes())
    except Exception:  # noqa: BLE001 - not XML: no stored fiducials
        return {}
    m = next((e for e in root.iter() if local(e.tag) == "RestingECGMeasurements"), None)
    out = {}
    for el in [] if m is None else list(m):
        if local(el.tag) in GE_FIDUCIALS and (el.text or "").strip():
            value = float(el.text)
            out[local(el.tag)] = value / 2.0 if el.get("units") == "ms" else value
    return out


def philips_groups(path: Path) -> list[dict[str, float]]:
    """Philips per-beat-group measurements (``groupmeasurement``): PR, QRS, QT in ms."""
    try:
        root = parse_xml(path.name, path.read_bytes())
    except Exception:  # noqa: BLE001 - not XML
        return []
    tags = {"meanprint": "pr_ms", "meanqrsdur": "qrs_ms", "meanqtint": "qt_ms"}
    out = []
    for g in (e for e in root.iter() if local(e.tag) == "groupmeasurement"):
        vals = {}
        for el in g:
            if local(el.tag) in tags:
                try:
                    vals[tags[local(el.tag)]] = float(el.text)
                except (TypeError, ValueError):
                    pass
        if vals:
            out.append(vals)
    return out


def _values(meas) -> dict[str, float | None]:
    return {k: m.value for k, m in meas.items()}


def analyse(path: Path, samples: Path, *, old=None, nk: bool = False) -> dict | None:
    """Device values and ours for one file; None without device measurements, ``error`` when unreadable."""
    name = str(path.relative_to(samples))
    try:
        rec = read_ecg(path)
    except Exception as exc:  # noqa: BLE001 - an unreadable sample is listed, not measured
        return {"name": name, "error": f"{type(exc).__name__}: {str(exc)[:120]}"}
    dev = device_values(rec.meta.get("device_measurements"))
    if not dev:
        return None
    x = clean(resample(rec.signal_mv, rec.fs_hz, FS_HZ), FS_HZ)
    r = detect_r_peaks(x, FS_HZ)
    own = median_beat_from_peaks(x, r, path.name)
    app = prepare(rec)
    res = {"name": name, "fmt": rec.source_format, "n_beats": int(r.size), "device": dev,
           "rr_ms": float(np.mean(np.diff(r))) * 2.0, "median": app.median_source,
           "new_own": _values(measure_beat(r, own, None)), "new_app": _values(app.measurements),
           "reasons": {k: m.reason for k, m in app.measurements.items() if m.reason}}
    if old is not None:
        res["old_own"] = _values(old(r, own, None))
    if nk:
        res["nk"] = nk_cwt(x, r)
    res["ge_fid"] = ge_fiducials(path) if rec.source_format in ("muse", "cardiosoft") else {}
    res["groups"] = philips_groups(path) if rec.source_format == "philips" else []
    return res


def _f(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{v:.0f}"


def _d(a, b) -> str:
    return "–" if a is None or b is None else f"{a - b:+.0f}"


def file_table(res: dict, cols) -> list[str]:
    out = [f"### {res['name']} ({res['fmt']}; {res['n_beats']} beats, mean RR {res['rr_ms']:.0f} ms; "
           f"app median: {res['median']})", "",
           "| measure | device | " + " | ".join(c[1] for c in cols) + " | " + " | ".join(f"Δ {c[1]}" for c in cols) + " |",
           "|---" * (2 + 2 * len(cols)) + "|"]
    for key in ROWS:
        dv = res["device"].get(key)
        vals = [(res.get(c) or {}).get(key) for c, _ in cols]
        if dv is None and all(v is None for v in vals):
            continue
        out.append(f"| {key} | {_f(dv)} | " + " | ".join(_f(v) for v in vals) + " | " + " | ".join(_d(v, dv) for v in vals) + " |")
    if res["reasons"]:
        out += ["", "Not measured (app): " + "; ".join(f"{k}: {v}" for k, v in res["reasons"].items())]
    return out + [""]


def self_consistency(rows: list[dict]) -> tuple[list[str], set[tuple[str, str]]]:
    """Where a device's stored values disagree with its own fiducials or with each other.

    Returns the sentences and the (file, interval) pairs whose device value is in doubt.
    """
    out, doubt = [], set()
    for res in rows:
        dv, fid = res["device"], res["ge_fid"]
        if {"QOnset", "POnset"} <= fid.keys() and dv.get("pr_ms") is not None:
            pr = (fid["QOnset"] - fid["POnset"]) * 2
            if abs(pr - dv["pr_ms"]) > 2:
                out.append(f"- {res['name']}: stored fiducials give PR {pr:.0f} ms, stored PR is {dv['pr_ms']:.0f} ms.")
        if {"QOnset", "TOffset"} <= fid.keys() and dv.get("qt_ms") is not None:
            qt = (fid["TOffset"] - fid["QOnset"]) * 2
            if abs(qt - dv["qt_ms"]) > 2:
                out.append(f"- {res['name']}: stored fiducials give QT {qt:.0f} ms, stored QT is {dv['qt_ms']:.0f} ms.")
        qt, qtc, hr = dv.get("qt_ms"), dv.get("qtc_bazett_ms"), dv.get("heart_rate_bpm")
        if qt and qtc and hr:
            expect = qt / math.sqrt(60.0 / hr)
            if abs(expect - qtc) > 10:
                out.append(f"- {res['name']}: device QTc {qtc:.0f} ms, but its QT {qt:.0f} ms and rate {hr:.0f} bpm "
                           f"give Bazett {expect:.0f} ms (the device corrects with another RR or formula).")
        for k, g in enumerate(res["groups"]):
            for key, v in g.items():
                if dv.get(key) is not None and abs(v - dv[key]) > 10:
                    doubt.add((res["name"], key))
                    out.append(f"- {res['name']}: the device's global {key} is {dv[key]:.0f} ms, but its own "
                               f"measurement of beat group {k + 1} gives {v:.0f} ms.")
        if dv.get("p_ms") and dv.get("pr_ms") and dv["p_ms"] > dv["pr_ms"]:
            doubt.add((res["name"], "p_ms"))
            out.append(f"- {res['name']}: device P duration {dv['p_ms']:.0f} ms is longer than its PR interval "
                       f"{dv['pr_ms']:.0f} ms (P onset to QRS onset), which cannot both be right.")
        if hr and abs(60000.0 / res["rr_ms"] - hr) > 3:
            out.append(f"- {res['name']}: device rate {hr:.0f} bpm, the strip's mean RR gives {60000.0 / res['rr_ms']:.0f} bpm.")
    return out or ["- none found (stored fiducials match stored intervals within 2 ms; QTc within 10 ms of Bazett)."], doubt


def duplicates(rows: list[dict]) -> dict[str, str]:
    """Files that are the same recording as an earlier one (same device values and same new measurements)."""
    seen: dict[tuple, str] = {}
    dup = {}
    for r in rows:
        key = (tuple(sorted(r["device"].items())), tuple(sorted(r["new_own"].items(), key=lambda kv: kv[0])))
        if key in seen:
            dup[r["name"]] = seen[key]
        else:
            seen[key] = r["name"]
    return dup


def summary_table(rows: list[dict], cols, doubt: set[tuple[str, str]] = frozenset(), header: bool = True) -> list[str]:
    out = ["| method | " + " | ".join(f"{k} (IEC ±{m:g}/{s:g})" for k, (m, s) in IEC_TOLERANCE_MS.items()) + " |",
           "|---" * (1 + len(IEC_TOLERANCE_MS)) + "|"] if header else []
    for col, label in cols:
        cells = []
        for key, (m_tol, s_tol) in IEC_TOLERANCE_MS.items():
            d = [r[col][key] - r["device"][key] for r in rows if (r["name"], key) not in doubt
                 and r["device"].get(key) is not None and (r.get(col) or {}).get(key) is not None]
            if not d:
                cells.append("–")
                continue
            mean = float(np.mean(d))
            sd = float(np.std(d, ddof=1)) if len(d) > 1 else float("nan")
            ok = abs(mean) <= m_tol and len(d) > 1 and sd <= s_tol
            cells.append(f"{mean:+.1f} ± {sd:.1f} (n={len(d)}) {'within' if ok else 'OUTSIDE'}")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return out + ([""] if header else [])


def sample_files(samples: Path) -> list[Path]:
    """Candidate ECG files (one per WFDB record; schemas and readmes skipped)."""
    return sorted(p for p in samples.rglob("*") if p.is_file()
                  and p.suffix.lower() not in (".md", ".csv", ".xsd", ".dat")
                  and not (p.suffix == ".mat" and p.with_suffix(".hea").exists()))


#: (our column, the simulator's column, label): the simulator's QT is its T wave's tangent end
SYNTHETIC_PAIRS = (("meas_pr_ms", "true_pr_ms", "PR"), ("meas_qrs_ms", "true_qrs_ms", "QRS"),
                   ("meas_qt_tangent_ms", "true_qt_ms", "QT, tangent end (the simulator's definition)"),
                   ("meas_qt_ms", "true_qt_ms", "QT, return to baseline (ours, IEC) vs the tangent end"))


def synthetic_section(folder: Path) -> list[str]:
    """Our measurements against the simulator's parameters on a simulated dataset (mean ± SD, ms)."""
    import pandas as pd

    table = pd.read_csv(folder / "cohort.csv")
    seed = ""
    meta = folder / "meta.json"
    if meta.exists():
        import json

        seed = f", seed {json.loads(meta.read_text()).get('seed')}"
    lines = [f"## Against the simulator's own values (SYNTHETIC, `{folder.name}`: {len(table):,} ECGs{seed})", "",
             "The same measurement on simulated ECGs (noisy 10-s strips through the upload pipeline), against "
             "the parameters the simulator drew them with. Not a device and not biological ECGs; it shows "
             "whether a difference from the devices comes from the delineator or from the definition.", "",
             "| interval | mean ± SD (ms) | median | 95th percentile of the absolute difference | n |",
             "|---|---|---|---|---|"]
    for ours, truth, label in SYNTHETIC_PAIRS:
        if ours not in table or truth not in table:
            continue
        d = (table[ours] - table[truth]).dropna().to_numpy(float)
        lines.append(f"| {label} | {d.mean():+.1f} ± {d.std(ddof=1):.1f} | {np.median(d):+.1f} | "
                     f"{np.percentile(np.abs(d), 95):.1f} | {len(d):,} |")
    return lines + [""]


def report(samples: Path, nk: bool = True, synthetic: Path | None = None) -> str:
    warnings.filterwarnings("ignore")
    old = old_measure_beat()
    rows, unread = [], []
    for p in sample_files(samples):
        res = analyse(p, samples, old=old, nk=nk)
        if res is not None:
            (unread if "error" in res else rows).append(res)
    cols = [c for c in COLS if any(c[0] in r for r in rows)]
    lines = ["# Our measurements vs the device's own (real sample files)", "",
             "Generated by `python scripts/measurements_vs_device.py`. The measurement's settings were fixed on "
             "SYNTHETIC data (simulator, seed 1) before it was run on these files; nothing was tuned on them. "
             "Columns: *new, own median* = `hfviz.ecg.measure` on the median beat computed from the strip; "
             "*new, app* = what the Patient page shows (the file's own median beat when it stores one); "
             f"*old, own median* = the previous delineation (commit {OLD_COMMIT[:7]}); *neurokit2 cwt* = "
             "`nk.ecg_delineate(method='cwt')` per lead with our R peaks, median over beats then leads. "
             "Δ = ours − device (ms, bpm or degrees). Our QT ends where T returns to baseline (the IEC definition).", ""]
    dup = duplicates(rows)
    unique = [r for r in rows if r["name"] not in dup]
    lines += [f"**n = {len(unique)} distinct recordings** ({len(rows)} files"
              + "".join(f"; {a} is the same recording as {b} -- identical device values and measurements -- "
                        "and is counted once" for a, b in dup.items())
              + "). That is far too few for the IEC 60601-2-25 test (which uses 100+ "
              "reference ECGs): the summary below is indicative only, and the devices are not a gold standard.", ""]
    consistency, doubt = self_consistency(unique)
    table = summary_table(unique, cols)
    if doubt:
        table = table[:-1] + summary_table(unique, [(c, f"{t}, without device values in doubt*") for c, t in cols
                                                    if c in ("new_app", "old_own")], doubt, header=False)
        table += ["", "\\* leaving out " + ", ".join(f"{k} of {n}" for n, k in sorted(doubt))
                  + ": the device disagrees with itself there (next section). A sensitivity check chosen after "
                  "seeing the data; the rows above, with every file, are the primary result.", ""]
    lines += ["## Mean difference ± SD (ours − device, ms) against IEC 60601-2-25", ""] + table
    lines += ["## Where a device disagrees with itself", ""] + consistency + [""]
    if synthetic is not None:
        lines += synthetic_section(synthetic)
    lines += ["## Per file", ""]
    for res in rows:
        lines += file_table(res, cols)
    if unread:
        lines += ["Files that could not be read (not measured): "
                  + "; ".join(f"{r['name']} ({r['error']})" for r in unread), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown report here")
    ap.add_argument("--no-nk", action="store_true", help="skip the (slow) neurokit2 column")
    ap.add_argument("--synthetic", type=Path, default=None,
                    help="a simulated dataset folder: add our measurements against the simulator's values")
    args = ap.parse_args(argv)
    if args.synthetic is not None and not (args.synthetic / "cohort.csv").is_file():
        print(f"error: {args.synthetic} has no cohort.csv (make one with python -m hfviz simulate)", file=sys.stderr)
        return 2
    if not args.samples.is_dir():
        print(f"error: sample folder {args.samples} not found", file=sys.stderr)
        return 2
    text = report(args.samples, nk=not args.no_nk, synthetic=args.synthetic)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
