"""Side-by-side check of the SYNTHETIC ECG simulator against real ECGs.

Simulated normal ECGs (``hfviz.synthetic.simulate``, condition ``"normal"``, default noise) and the
real 12-lead ECGs in ``../shared/ecg-samples/wfdb`` (PTB-XL HR06000-HR06004, Chapman
JS20000-JS20009, LUDB record 1) go through exactly the same pipeline
(``hfviz.ecg.io.read_ecg`` for the real files, ``hfviz.ecg.prepare.prepare``: cleaning,
R peaks, median beat, delineation). From each median beat we take heart rate, PR, QRS,
QT, QTc (Bazett), frontal axis, and per lead the QRS peak-to-peak and the T-wave amplitude
(largest deflection between QRS offset + 40 ms and T end, signed).

Usage::

    python scripts/compare_simulated_real.py [--n 300] [--seed 0] [--samples DIR] [--out docs/simulator_vs_real.md]

Prints a Markdown report (and writes it with ``--out``). The real files are only read,
never copied.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the repository root (hfviz is not installed); never tests/

from hfviz.ecg.io import read_ecg  # noqa: E402
from hfviz.ecg.measure import measure_global  # noqa: E402
from hfviz.ecg.prepare import PreparedECG, prepare  # noqa: E402
from hfviz.ecg.record import LEADS  # noqa: E402
from hfviz.ecg.signal import R_OFFSET  # noqa: E402
from hfviz.synthetic.simulate import simulate  # noqa: E402

DEFAULT_SAMPLES = ROOT.parent / "shared" / "ecg-samples"
INTERVALS = ("heart_rate_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "qrs_axis_deg")
# real records whose labels say normal (PTB-XL NORM statement / SNOMED sinus rhythm only)
NORMAL_LABELLED = ("HR06000", "HR06002", "HR06003", "HR06004")
# SNOMED-CT codes in the Chapman/PTB-XL headers (CinC 2021 mapping)
SNOMED = {
    "426783006": "sinus rhythm", "427084000": "sinus tachycardia", "426177001": "sinus bradycardia",
    "427393009": "sinus arrhythmia", "284470004": "premature atrial contraction",
    "427172004": "premature ventricular contractions", "164934002": "T-wave abnormality",
    "59931005": "T-wave inversion", "55930002": "ST changes", "698252002": "nonspecific IVCD",
    "55827005": "LVH", "89792004": "RVH", "713426002": "incomplete RBBB", "251187003": "atrial escape",
}


def beat_features(prepared: PreparedECG) -> dict[str, float]:
    """Intervals and per-lead amplitudes of one prepared ECG (NaN where not measurable or flat)."""
    flat = {q.split(":")[0] for q in prepared.record.quality if "flat" in q}
    out = {k: (np.nan if v.value is None else float(v.value)) for k, v in prepared.measurements.items()}
    beat = prepared.median_beat_mv
    hr = out.get("heart_rate_bpm")
    _, d = measure_global(beat, prepared.fs_hz, r_index=R_OFFSET,
                          rr_ms=60000.0 / hr if hr and np.isfinite(hr) else None)
    if d["qrs_onset"] is None or d["qrs_offset"] is None:
        return out
    qon, qoff = int(round(d["qrs_onset"])), int(round(d["qrs_offset"]))
    tend = None if d["t_end"] is None else int(round(d["t_end"]))
    base = np.median(beat[:, max(qon - 10, 0) : qon - 2], axis=1)
    y = beat - base[:, None]
    qrs = y[:, qon : qoff + 1]
    t_hi = tend if tend is not None else min(qoff + 250, beat.shape[1])
    st = y[:, qoff + 20 : t_hi]
    for i, lead in enumerate(LEADS):
        if lead in flat:
            continue  # a missing/flat lead in the file (JS20008 has three) is not data
        out[f"qrs_p2p_{lead}"] = float(np.ptp(qrs[i]))
        out[f"r_{lead}"] = float(qrs[i].max())
        out[f"s_{lead}"] = float(-qrs[i].min())
        if st.shape[1] > 5:
            k = int(np.argmax(np.abs(st[i])))
            out[f"t_{lead}"] = float(st[i, k])
    return out


def real_records(samples: Path) -> list[tuple[str, str, object]]:
    """(name, label text, ECGRecord) for the real 12-lead WFDB samples at 500 Hz."""
    wf = samples / "wfdb"
    names = [f"HR0600{i}" for i in range(5)] + [f"JS2000{i}" for i in range(10)] + ["1"]
    out = []
    for name in names:
        files = [p for p in sorted(wf.glob(name + ".*")) if p.suffix in (".hea", ".mat", ".dat")]
        if not files:
            continue
        rec = read_ecg([str(p) for p in files])
        text = str(rec.meta.get("interpretation", ""))
        if "SNOMED" in text:
            codes = text.split(":", 1)[1].replace(" ", "").split(",")
            text = ", ".join(SNOMED.get(c, c) for c in codes)
        out.append((name, text, rec))
    return out


def _fmt(x: float, nd: int = 0) -> str:
    return "–" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def _summary(vals: np.ndarray, nd: int) -> str:
    v = vals[np.isfinite(vals)]
    if v.size == 0:
        return "–"
    return f"{_fmt(np.median(v), nd)} [{_fmt(v.min(), nd)}, {_fmt(v.max(), nd)}] (n={v.size})"


def _sim_summary(vals: np.ndarray, nd: int) -> str:
    v = vals[np.isfinite(vals)]
    if v.size == 0:
        return "–"
    lo, med, hi = np.percentile(v, [5, 50, 95])
    return f"{_fmt(med, nd)} [{_fmt(lo, nd)}, {_fmt(hi, nd)}]"


def _verdict(real: np.ndarray, simv: np.ndarray) -> str:
    r, s = real[np.isfinite(real)], simv[np.isfinite(simv)]
    if r.size == 0 or s.size == 0:
        return "–"
    lo, hi = np.percentile(s, [5, 95])
    inside = float(np.mean((r >= lo) & (r <= hi)))
    med_in = lo <= np.median(r) <= hi
    if med_in and inside >= 0.6:
        return f"overlap ({inside:.0%} of real inside)"
    side = "higher" if np.median(r) > np.median(s) else "lower"
    return f"**real {side}** ({inside:.0%} of real inside)"


def _col(feats: list[dict[str, float]], k: str) -> np.ndarray:
    return np.array([f.get(k, np.nan) for f in feats], dtype=float)


def _amplitude_tables(keys, norm_feats, all_real, sim_feats) -> list[str]:
    """Markdown tables of QRS peak-to-peak, R, S and T amplitudes per lead."""
    lines = []
    for title, prefix in (
        ("QRS peak-to-peak amplitude per lead (mV)", "qrs_p2p_"),
        ("R amplitude per lead (mV)", "r_"),
        ("S depth per lead (mV)", "s_"),
        ("T-wave amplitude per lead (mV, signed)", "t_"),
    ):
        lines += ["", f"## {title}", "",
                  "| lead | real, normal-labelled | real, all | simulated normals | verdict (vs all real) |",
                  "|---|---|---|---|---|"]
        for lead in LEADS:
            k = prefix + lead
            if k not in keys:
                continue
            lines.append(
                f"| {lead} | {_summary(_col(norm_feats, k), 2)} | {_summary(_col(all_real, k), 2)} | "
                f"{_sim_summary(_col(sim_feats, k), 2)} | {_verdict(_col(all_real, k), _col(sim_feats, k))} |"
            )
    return lines


def _non_overlap(keys, all_real, sim_feats) -> list[str]:
    """Automatic summary: where the real median falls outside the simulated 5-95 % range."""
    outside = []
    for k in keys:
        r, s_ = _col(all_real, k), _col(sim_feats, k)
        r, s_ = r[np.isfinite(r)], s_[np.isfinite(s_)]
        if r.size < 3 or s_.size == 0:
            continue
        lo, hi = np.percentile(s_, [5, 95])
        med = float(np.median(r))
        if not lo <= med <= hi:
            outside.append(f"`{k}` (real median {med:.2f} vs simulated 5-95 % [{lo:.2f}, {hi:.2f}])")
    lines = ["", "## Where they do not overlap (all 16 real ECGs vs simulated normals)", ""]
    lines += [f"- {o}" for o in outside] or ["- nowhere: every real median lies inside the simulated 5-95 % range"]
    return lines


def _real_records_table(reals, real_feats) -> list[str]:
    lines = ["", "## Real records used", "", "| record | labels | HR | QRS | QT | axis |", "|---|---|---|---|---|---|"]
    for name, text, _ in reals:
        f = real_feats[name]
        lines.append(
            f"| {name} | {text[:90]} | {_fmt(f['heart_rate_bpm'])} | {_fmt(f['qrs_ms'])} | "
            f"{_fmt(f['qt_ms'])} | {_fmt(f['qrs_axis_deg'])} |"
        )
    return lines


def build_report(n: int, seed: int, samples: Path) -> str:
    """Simulate ``n`` normals, read the real samples, and return the Markdown report."""
    sim_feats = []
    for i in range(n):
        rec, _ = simulate("normal", seed=seed + i)
        sim_feats.append(beat_features(prepare(rec)))
    reals = real_records(samples)
    real_feats = {name: beat_features(prepare(rec)) for name, _, rec in reals}
    keys = sorted({k for f in sim_feats for k in f})
    norm_feats = [real_feats[n_] for n_ in NORMAL_LABELLED if n_ in real_feats]
    all_real = list(real_feats.values())
    lines = [
        "# Simulated (SYNTHETIC) normal ECGs vs real ECGs",
        "",
        f"Generated by `python scripts/compare_simulated_real.py --n {n} --seed {seed}`. "
        f"{n} synthetic normal ECGs (seeds {seed}..{seed + n - 1}, default noise, ages 40-80) and "
        f"{len(reals)} real 12-lead ECGs from `../shared/ecg-samples/wfdb` went through the same "
        "pipeline (`hfviz.ecg.prepare.prepare`: cleaning, R peaks, median beat, delineation). "
        "Real: median [min, max]; simulated: median [5th, 95th percentile]. The verdict says "
        "whether the real median lies inside the simulated 5-95 % range and how many real "
        "values do.",
        "",
        f"Normal-labelled real ECGs ({len(norm_feats)}): {', '.join(NORMAL_LABELLED)} (PTB-XL `NORM`; "
        "HR06002 also has IRBBB and sinus bradycardia, HR06003 sinus tachycardia). The Chapman "
        "records all carry abnormal labels (premature atrial contractions, ST/T changes, LVH, …) "
        "and LUDB 1 has LVH with left axis deviation, so the 'all real' column is a mixed "
        "population, not normals.",
        "",
        "## Intervals and axis",
        "",
        "| measure | real, normal-labelled | real, all | simulated normals | verdict (vs normal-labelled) |",
        "|---|---|---|---|---|",
    ]
    for k in INTERVALS:
        nd = 0 if k != "heart_rate_bpm" else 1
        lines.append(
            f"| {k} | {_summary(_col(norm_feats, k), nd)} | {_summary(_col(all_real, k), nd)} | "
            f"{_sim_summary(_col(sim_feats, k), nd)} | {_verdict(_col(norm_feats, k), _col(sim_feats, k))} |"
        )
    lines += _amplitude_tables(keys, norm_feats, all_real, sim_feats)
    lines += _non_overlap(keys, all_real, sim_feats)
    lines += [
        "",
        "Notes on reading this: 12 of the 16 real ECGs are not normal (tachycardia in most Chapman "
        "records, T-wave abnormalities, LVH, axis deviation), so heart rate, axis and T-wave "
        "differences against *all* real records are expected. Against the four normal-labelled "
        "PTB-XL records, intervals and limb-lead voltages overlap; the simulated normals have "
        "somewhat lower V3/V4 voltages and deeper S in V1, a narrower spread of frontal axis "
        "(drawn with SD 20 deg) and of V1 T amplitude, and slightly longer QRS/QT (the simulator's "
        "QRS is drawn around 89-94 ms). Four or sixteen real ECGs cannot establish population "
        "ranges; this table checks plausibility, not calibration.",
    ]
    lines += _real_records_table(reals, real_feats)
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=300, help="number of simulated normal ECGs")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--samples", type=Path, default=DEFAULT_SAMPLES)
    ap.add_argument("--out", type=Path, default=None, help="write the Markdown here too")
    args = ap.parse_args(argv)
    if not (args.samples / "wfdb").is_dir():
        print(f"error: real samples not found at {args.samples}", file=sys.stderr)
        return 2
    report = build_report(args.n, args.seed, args.samples)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(report)
    sys.stdout.write(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
