"""SYNTHETIC ECGs written as real-format files: GE CardioSoft XML (UK Biobank) and WFDB (PTB-XL).

For benchmarks and tests of the file readers at cohort scale (``python -m hfviz bench --only
scale``): the simulator's 10-s strips are written the way the devices and PhysioNet write them
(CardioSoft: integer samples at 5 µV per LSB, no device median beat; WFDB: format 16 at 1000
ADC units per mV), so reading them back runs the same code as real files. Every file says
SYNTHETIC in its interpretation text or header comment.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from hfviz.ecg.record import LEADS

#: Amplitude resolution of the written CardioSoft files (UK Biobank: 5 µV per LSB).
CARDIOSOFT_UV_PER_LSB = 5.0
#: Conditions cycled through when writing a cohort of files.
FILE_CONDITIONS = ("normal", "lbbb", "mi_anterior", "lvh", "af", "rbbb", "mi_inferior")


def cardiosoft_xml(signal_mv: np.ndarray, fs_hz: float, *, age: int = 60, sex: str = "M",
                   note: str = "SYNTHETIC ECG (hfviz simulator)") -> bytes:
    """A minimal GE CardioSoft XML document holding a 12-lead strip.

    Parameters
    ----------
    signal_mv : ndarray (12, n)
        Leads I, II, III, aVR, aVL, aVF, V1-V6 in mV.
    fs_hz : float
        Sampling rate.

    Returns
    -------
    bytes
        UTF-8 XML with ``PatientInfo``, ``Interpretation`` and ``StripData`` (integer samples).
    """
    counts = np.round(np.asarray(signal_mv) * 1000.0 / CARDIOSOFT_UV_PER_LSB).astype(np.int64)  # (12, n)
    waves = "".join(f'<WaveformData lead="{lead}">{",".join(map(str, row))}</WaveformData>\n'
                    for lead, row in zip(LEADS, counts))
    gender = "MALE" if str(sex).upper().startswith("M") else "FEMALE"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<CardiologyXML>\n'
        f'<PatientInfo><Age units="years">{int(age)}</Age><Gender>{gender}</Gender></PatientInfo>\n'
        f'<Interpretation><Diagnosis><DiagnosisText>{escape(note)}</DiagnosisText></Diagnosis></Interpretation>\n'
        f'<StripData><NumberOfLeads>12</NumberOfLeads><SampleRate units="Hz">{fs_hz:g}</SampleRate>'
        f'<ChannelSampleCountTotal>{counts.shape[1]}</ChannelSampleCountTotal>'
        f'<Resolution units="uVperLsb">{CARDIOSOFT_UV_PER_LSB:g}</Resolution>\n{waves}</StripData>\n'
        '</CardiologyXML>\n'
    ).encode("utf-8")


def write_wfdb(folder: Path, record: str, signal_mv: np.ndarray, fs_hz: float) -> list[Path]:
    """Write a WFDB record (format 16, 1000 ADC units per mV) with ``wfdb.wrsamp``; return [.hea, .dat]."""
    import wfdb

    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(record, fs=fs_hz, units=["mV"] * 12, sig_name=list(LEADS), p_signal=np.asarray(signal_mv).T,
                fmt=["16"] * 12, adc_gain=[1000.0] * 12, baseline=[0] * 12, write_dir=str(folder),
                comments=["SYNTHETIC ECG (hfviz simulator)"])
    return [folder / f"{record}.hea", folder / f"{record}.dat"]


def write_ecg_files(folder: str | Path, n: int, *, seed: int = 0, formats=("cardiosoft", "wfdb"),
                    distinct: int = 50, prefix: str = "SYN") -> list[Path]:
    """Write ``n`` SYNTHETIC ECG files into ``folder``, alternating ``formats``; return the files to score.

    ``distinct`` strips are simulated (conditions cycled, seeds ``seed``…) and re-used with a
    small per-file amplitude change, so writing thousands of files stays quick while no two
    files are identical. Files are named ``{prefix}{i:06d}``. A WFDB record counts as one ECG (its .hea is returned; the .dat sits beside it).
    """
    from hfviz.synthetic.simulate import simulate

    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    strips = []
    for k in range(min(n, distinct)):
        rec, truth = simulate(FILE_CONDITIONS[k % len(FILE_CONDITIONS)], seed=seed + k)
        strips.append((rec.signal_mv, rec.fs_hz, int(truth["age"]), str(truth["sex"])))
    files = []
    for i in range(n):
        sig, fs, age, sex = strips[i % len(strips)]
        sig = sig * (1.0 + 0.001 * (i // len(strips)))
        fmt = formats[i % len(formats)]
        name = f"{prefix}{i:06d}"
        if fmt == "cardiosoft":
            p = out / f"{name}.xml"
            p.write_bytes(cardiosoft_xml(sig, fs, age=age, sex=sex))
            files.append(p)
        elif fmt == "wfdb":
            files.append(write_wfdb(out, name, sig, fs)[0])
        else:
            raise ValueError(f"unknown format {fmt!r}; expected 'cardiosoft' or 'wfdb'")
    return files
