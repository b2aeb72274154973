"""Learning curve of per-phenotype fidelity over cohort size (#18): is 38 events the ceiling?

Fits a linear Cox probe (:func:`hfviz.training.train.fit_probe`: PCA + penalised Cox, with the shipped head's
components and penalizer, ``ReproduceConfig``) on the shipped MI model's frozen encoder, on the MI-like cohort
alone (the shipped head also uses the HYP-like training half), and the measurement-Cox baseline, on random
subsets of growing size of a DEVELOPMENT cohort (simulator seed 1, MI-like preset), and measures each on
the independent validation cohort (seed 3): Spearman with the true ECG log-hazard, phenotypes within ±10
percentile points, C-index; and how each network probe orders the six bundled examples (Kendall's tau with their true ECG log-hazard, and whether
the order is exact: the order test of ``tests/test_fidelity.py``). Nothing here is chosen on the
validation cohort or the examples; it only measures.

One more row, a diagnostic that no real cohort allows: a ridge regression of the simulator's true ECG
log-hazard itself on the same frozen embedding (PCA 16 and 64), fitted on the whole development cohort.
It is the most a linear head on this encoder can reach when every subject, not only every event, tells
it the truth: if it meets the targets, the encoder is not what limits the Cox probe. Made by (2-core VM):

    python -m hfviz simulate --preset mi --n 16000 --seed 1 --workers 2 --out data/r18/dev-mi-s1-16k
    python -m hfviz simulate --preset mi --n 20000 --seed 3 --out data/r18/validation-mi
    python scripts/fidelity_learning_curve.py --dev data/r18/dev-mi-s1-16k --val data/r18/validation-mi

Writes ``models/fidelity_learning_curve.json`` and a section of ``models/evaluation.md``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hfviz.data.dataset import load_dataset
from hfviz.risk.model import load_risk_model
from hfviz.risk.survival import concordance_index
from hfviz.training.config import ReproduceConfig
from hfviz.training.fidelity import PERCENTILE_TOLERANCE, phenotype_table, replace_markdown_section, spearman
from hfviz.training.protocol import fit_measurement_cox, load_training_set, measurement_table
from hfviz.training.train import embed, fit_probe, normalise_beats

SECTION = "## Learning curve of fidelity over cohort size (MI-like, SYNTHETIC)"
#: The diagnostic rows' score name: a head supervised by the simulator's truth, not by events.
CEILING = "diagnostic: ridge on the true ECG log-hazard,"


def _measure(name: str, lr: np.ndarray, val, n: int, rep: int, events: int) -> dict:
    truth = val.table["ecg_log_hazard"].to_numpy(float)
    t, e = val.outcomes()
    table = phenotype_table(val.table["phenotype"], truth, {"s": lr})
    return {"score": name, "n": n, "rep": rep, "training events": events,
            "spearman": spearman(lr, truth), "within 10 points": int((table["s − true"].abs() <= PERCENTILE_TOLERANCE).sum()),
            "phenotypes": len(table), "C-index": float(concordance_index(t, lr, e)),
            "outside 10 points": {ph: round(float(d), 1) for ph, d in zip(table["phenotype"], table["s − true"])
                                  if abs(d) > PERCENTILE_TOLERANCE}}


def _examples() -> tuple[list[str], np.ndarray, np.ndarray]:
    """The bundled examples' names, model inputs (6, 12, 608) through the upload pipeline, true ECG log-hazards."""
    from hfviz.risk.assess import prepare_source

    truth = json.loads((ROOT / "examples" / "truth.json").read_text())["examples"]
    names = sorted(truth)
    x = np.stack([prepare_source([ROOT / "examples" / f"{s}.hea", ROOT / "examples" / f"{s}.dat"]).model_input
                  for s in names]).astype(np.float32)
    return names, x, np.array([truth[s]["ecg_log_hazard"] for s in names])


def _order(names: list[str], lr: np.ndarray, truth: np.ndarray) -> dict:
    """Kendall's tau of the examples' scores with their truth, whether the order is exact, the order (lowest first)."""
    from scipy.stats import kendalltau

    return {"examples kendall tau": float(kendalltau(lr, truth).statistic),
            "examples in true order": bool((np.argsort(lr) == np.argsort(truth)).all()),
            "examples order": [names[i] for i in np.argsort(lr)]}


def fit_truth_ridge(emb: np.ndarray, truth: np.ndarray, n_components: int) -> tuple[np.ndarray, float]:
    """Ridge regression of the true ECG log-hazard (N,) on PCA(``n_components``) of embeddings (N, D).

    The diagnostic ceiling of a linear head on a frozen encoder (module docstring): needs the simulator's
    truth, so it is never a risk model. Returns ``w`` (D,) and ``b`` with ``score = emb @ w + b``.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge

    pca = PCA(n_components, random_state=0).fit(emb)
    pcs = pca.transform(emb)
    sd = pcs.std(0, ddof=1)
    reg = Ridge(alpha=1.0).fit(pcs / sd, truth)
    w = pca.components_.T @ (reg.coef_ / sd)
    return w, float(reg.intercept_ - pca.mean_ @ w)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dev", type=Path, default=ROOT / "data" / "r18" / "dev-mi-s1-16k")
    ap.add_argument("--val", type=Path, default=ROOT / "data" / "r18" / "validation-mi")
    ap.add_argument("--models", type=Path, default=ROOT / "models")
    ap.add_argument("--sizes", type=int, nargs="+", default=[400, 800, 1600, 3200, 8000, 16000])
    args = ap.parse_args()
    rc = ReproduceConfig()
    model = load_risk_model("mi", args.models)
    dev, val = load_training_set(args.dev), load_dataset(args.val)
    print("embedding…", flush=True)
    emb_dev = embed(model.net, dev.x)
    emb_val = embed(model.net, normalise_beats(np.asarray(val.beats, np.float32)))
    names, x_ex, truth_ex = _examples()
    emb_ex = embed(model.net, x_ex)
    f_dev = measurement_table(dev.beats_mv, dev.table)
    f_val = measurement_table(np.asarray(val.beats, np.float32), val.table)
    rng = np.random.default_rng(0)
    rows = []
    for n in args.sizes:
        n = min(n, len(dev.x))
        for rep in range(1 if n >= len(dev.x) else 5 if n <= 1600 else 3):
            idx = rng.choice(len(dev.x), n, replace=False)
            t, e = dev.time[idx], dev.event[idx]
            w, b = fit_probe(emb_dev[idx], t, e, n_components=rc.probe_components, penalizer=rc.probe_penalizer)
            rows.append({**_measure("network probe", emb_val @ w + b, val, n, rep, int(e.sum())),
                         **_order(names, emb_ex @ w + b, truth_ex)})
            cox = fit_measurement_cox(f_dev.iloc[idx], t, e)
            rows.append(_measure("measurement Cox", cox(f_val), val, n, rep, int(e.sum())))
            print(rows[-2], rows[-1], sep="\n", flush=True)
    truth_dev = dev.table["ecg_log_hazard"].to_numpy(float)
    for k in (16, 64):
        w, b = fit_truth_ridge(emb_dev, truth_dev, k)
        rows.append({**_measure(f"{CEILING} PCA {k}", emb_val @ w + b, val, len(dev.x), 0, int(dev.event.sum())),
                     **_order(names, emb_ex @ w + b, truth_ex)})
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    summ = (df.groupby(["score", "n"]).agg(reps=("rep", "size"), events=("training events", "mean"),
                                            spearman=("spearman", "mean"), spearman_sd=("spearman", "std"),
                                            within=("within 10 points", "mean"), phenotypes=("phenotypes", "first"),
                                            c=("C-index", "mean"),
                                            tau=("examples kendall tau", "mean"),
                                            exact=("examples in true order", "sum")).reset_index())
    (args.models / "fidelity_learning_curve.json").write_text(json.dumps(rows, indent=1))
    lines = [SECTION, "",
             (f"A linear Cox probe (PCA {rc.probe_components}, lifelines penalizer {rc.probe_penalizer:g}) on the shipped "
              f"MI model's frozen encoder, fitted on the MI-like cohort alone, and the measurement-Cox baseline, "
              f"fitted on random subsets of a development cohort (seed 1, {len(dev.x):,} subjects) and measured on the validation cohort (seed {val.meta.get('seed', 3)}, "
              f"{len(val.table):,} subjects). Mean over repeats (SD in brackets). The diagnostic rows are no risk model: "
              f"they regress the simulator's true ECG log-hazard of every development subject on the same embedding, "
              f"the most a linear head on this encoder can reach (their events column is the cohort's, unused)."), "",
             "| score | subjects | events (mean) | repeats | Spearman with true ECG log-hazard | phenotypes within ±10 points | C-index "
             "| bundled examples: Kendall τ with truth (repeats in exact order) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in summ.itertuples():
        sd = "" if np.isnan(r.spearman_sd) else f" ({r.spearman_sd:.3f})"
        lines.append(f"| {r.score} | {r.n:,} | {r.events:.0f} | {r.reps} | {r.spearman:.3f}{sd} | "
                     f"{r.within:.1f} of {r.phenotypes} | {r.c:.3f} | "
                     + ("–" if r.score == "measurement Cox" else f"{r.tau:+.2f} ({int(r.exact)} of {r.reps})") + " |")
    probe = df[df["score"] == "network probe"]
    big = probe[probe["n"] >= sorted(probe["n"].unique())[-2]]
    always = set.intersection(*(set(o) for o in big["outside 10 points"]))
    offs = {ph: np.mean([o[ph] for o in big["outside 10 points"]]) for ph in sorted(always)}
    true_order = [names[i] for i in np.argsort(truth_ex)]
    lines += ["", (f"Outside ±10 points in every fit with ≥ {big['n'].min():,} subjects: "
                   + (", ".join(f"{ph} (mean {d:+.1f})" for ph, d in offs.items()) or "none") + ". "
                   f"The examples' true order (lowest ECG log-hazard first): {', '.join(true_order)}; the "
                   f"{probe['n'].max():,}-subject probe's: {', '.join(probe.iloc[-1]['examples order'])}.")]
    for _, r in df[df["score"].str.startswith(CEILING)].iterrows():
        name = r["score"].removeprefix("diagnostic: ")
        lines += ["", (f"{name[0].upper()}{name[1:]} outside ±10 points: "
                       + (", ".join(f"{ph} ({d:+.1f})" for ph, d in r["outside 10 points"].items()) or "none")
                       + f"; examples: {', '.join(r['examples order'])}.")]
    lines += ["", "Made by `python scripts/fidelity_learning_curve.py` (simulate commands in its docstring).", ""]
    ev = args.models / "evaluation.md"
    ev.write_text(replace_markdown_section(ev.read_text(encoding="utf-8"), SECTION, "\n".join(lines)), encoding="utf-8")
    print(summ.to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
