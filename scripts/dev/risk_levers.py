"""Development study of the #18 levers (SYNTHETIC development cohorts, simulator seed 1 only).

Question: with the events the shipped models can learn from (MI-like: a 400-subject training half,
~19 events; HYP-like: 1,500 subjects, ~27 events), which risk head ranks ECGs most like the true ECG
log-hazard? Nothing here reads the training cohorts (seed 0), their CV test folds, the calibration
(seed 2) or the validation cohorts (seed 3).

Design. Each repeat ``r`` draws, from the development cohorts (seed 1: MI-like 4,000, HYP-like 8,000
subjects), a training set the size of a shipped model's training half (400 MI-like, 1,500 HYP-like,
stratified by event) and scores the remaining subjects of each cohort (3,600 / 6,500). Per score:
Spearman with the true ECG log-hazard, phenotypes whose mean percentile lies within ±10 points of the
truth's, and Harrell's C against the simulated outcomes.

Rows (every head sits on a frozen encoder; ``--encoders`` names the pretraining checkpoints):

- ``own probe``: the previous shipped recipe's first step (PCA(16) + penalised Cox on the cohort's own
  training set);
- ``own probe, bagged``: the mean of 20 bootstrap probes (variance reduction);
- ``other cohort's probe (transfer)``: each cohort scored with the own probe of the other cohort
  (what HYP-like data alone teaches about MI-like ECGs, and the reverse); added after the study,
  for the issue's transfer lever;
- ``joint probe[, bagged]``: one probe on both cohorts' training sets together, Cox stratified by
  cohort (shared ECG coefficients, a baseline hazard per cohort) — PCA(16) and PCA(32), and PCA(8),
  added after the first four repeats showed PCA(32) below PCA(16);
- ``own LP-FT`` (``--finetune``): the previous shipped models' recipe, probe then fine-tuning with early
  stopping (80/20 inner split), on the first encoder only, on the first ``--finetune`` repeats;
- ``measurement Cox`` on the cohort's own training set (the baseline the issue compares with);
- ``joint probe, statement logits[, bagged]`` (encoders pretrained with the statement objective): the
  joint probe on the pretraining's statement head's logits (one per SCP statement, linear in the
  embedding) instead of the embedding's first principal components; added after the statement-objective
  encoder was shipped, scored on it (``soft+statements (shipped)``: ``runs/pretrain_soft_pretrain_5ep_st1.pt``);
- ``joint probe, PCA k, penalizer p`` and ``measurement Cox, own, penalizer p`` (``--penalizers``): the same
  heads with another lifelines penalizer than the 0.1 every other row uses (fixed a priori until the fifth
  round). lifelines multiplies it by the number of subjects, not events: 0.1 on the joint training sets
  (1,900 subjects, ~45 events) is a ridge of 190 against a log partial likelihood of ~45 events, so the
  fitted direction is close to the score at zero. Added in the fifth round, on all three pretraining draws.

Choice rule, fixed before the study ran: the row with the highest Spearman averaged over the two
cohorts' evaluation sets and over repeats; a row within 0.01 of it is preferred when it has more
phenotypes within ±10 points (summed over both cohorts), then when it is simpler (own before joint,
unbagged before bagged, fewer components). The fifth round averages each row over the three pretraining
draws of the shipped recipe (seeds 0, 1, 2) before applying the rule, so the choice does not ride on one
encoder's draw, and prefers the larger penalizer among rows within 0.01 that tie on phenotypes.

    python -m hfviz simulate --preset mi  --n 4000 --seed 1 --out data/r18/dev-mi-s1
    python -m hfviz simulate --preset hyp --n 8000 --seed 1 --out data/r18/dev-hyp-s1
    PYTHONPATH=. python scripts/dev/risk_levers.py --mi data/r18/dev-mi-s1 --hyp data/r18/dev-hyp-s1 \\
        --encoders soft=data/text/ckpt-s0/soft.pt none=data/text/ckpt-s0/none.pt --repeats 6 --finetune 2 \\
        --out data/r18/levers.jsonl   # a copy of its rows: docs/risk_levers.jsonl
    # fifth round, once per pretraining draw: seed 0 (below), then seeds 1 and 2 with
    # --encoders "soft+statements (revised simulator, pretraining seed N)=data/r18/draws/st1_seedN.pt"
    # --out data/r18/draws/levers_seedN.jsonl (checkpoints: pretrain --epochs 5 --align soft --statement-weight 1 --seed N)
    PYTHONPATH=. python scripts/dev/risk_levers.py --mi data/r18/dev-mi-s1 --hyp data/r18/dev-hyp-s1 \\
        --encoders "soft+statements (revised simulator)=runs/pretrain_soft_pretrain_5ep_st1.pt" --repeats 6 \\
        --finetune 0 --penalizers 0.001 0.003 0.01 0.03 --out data/r18/levers_rev.jsonl
    PYTHONPATH=. python scripts/dev/risk_levers.py --summary --out docs/risk_levers.jsonl \\
        --pool "soft+statements (revised simulator"   # the fifth round's table, draws pooled

Writes one JSON row per (repeat, encoder, head, cohort) to ``--out`` (resumable; rows written since the
auxiliary-statement encoder was added also carry each phenotype's offset, model − true mean percentile)
and prints the summary table (markdown) that ``models/README.md`` quotes.

The rows in ``docs/risk_levers.jsonl`` were made when the joint rows stacked the cohorts MI first; they
are now stacked in name order (:func:`hfviz.training.train.fit_joint_probe`), so a rerun of a bagged
joint row draws other bootstrap resamples (the unbagged rows do not depend on the order).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from hfviz.risk.survival import concordance_index
from hfviz.training.config import PROBE_PENALIZER, FinetuneConfig
from hfviz.training.fidelity import PERCENTILE_TOLERANCE, phenotype_table, spearman
from hfviz.training.pretrain import load_pretrained
from hfviz.training.protocol import fit_measurement_cox, inner_split, load_training_set, measurement_table
from hfviz.training.train import embed, finetune, fit_joint_probe, predict

TRAIN_N = {"mi": 400, "hyp": 1500}
BAGS = 20
COHORTS = ("mi", "hyp")


def draw_training(event: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Stratified random training set of ``n`` subjects and the rest: (train_idx, eval_idx)."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(event))
    tr, ev = train_test_split(idx, train_size=n, stratify=event, random_state=seed)
    return np.sort(tr), np.sort(ev)


def measure(c, idx: np.ndarray, lr: np.ndarray) -> dict:
    """Fidelity and C of log-risks ``lr`` of subjects ``idx`` of training set ``c``."""
    truth = c.table["ecg_log_hazard"].to_numpy(float)[idx]
    tab = phenotype_table(c.table["phenotype"].iloc[idx].reset_index(drop=True), truth, {"s": lr})
    return {"spearman": spearman(lr, truth),
            "within": int((tab["s − true"].abs() <= PERCENTILE_TOLERANCE).sum()), "phenotypes": len(tab),
            "c": float(concordance_index(c.time[idx], lr, c.event[idx])),
            "offsets": {ph: round(float(d), 1) for ph, d in zip(tab["phenotype"], tab["s − true"])}}


def measurement_tables(sets: dict, cache_dir: Path) -> dict[str, pd.DataFrame]:
    """Each development cohort's ECG measurements (:func:`measurement_table`), cached as CSV in ``cache_dir``."""
    feats = {}
    for k, c in sets.items():
        cache = cache_dir / f"measurements_{k}.csv"
        feats[k] = pd.read_csv(cache) if cache.is_file() else None
        if feats[k] is None or len(feats[k]) != len(c.table):  # none yet, or another cohort's
            feats[k] = measurement_table(c.beats_mv, c.table)
            feats[k].to_csv(cache, index=False)
    return feats


def run(args) -> None:
    out = Path(args.out)
    done = set()
    if out.is_file():
        done = {(r["repeat"], r["encoder"], r["head"]) for r in map(json.loads, out.read_text().splitlines())}
    sets = {"mi": load_training_set(args.mi), "hyp": load_training_set(args.hyp)}
    encoders = dict(e.split("=", 1) for e in args.encoders)
    emb, statement_heads = {}, {}
    for name, path in encoders.items():
        state = torch.load(path, weights_only=True, map_location="cpu")
        if "statement_head" in state:  # the pretraining's statement head: embedding -> one logit per SCP statement
            head = state["statement_head"]
            statement_heads[name] = (head["weight"].double().numpy(), head["bias"].double().numpy())
        net = load_pretrained(path)
        for k, c in sets.items():
            cache = Path(out.parent) / f"emb_{name}_{k}.npy"
            if not cache.is_file():
                t0 = time.perf_counter()
                np.save(cache, embed(net, c.x).astype(np.float32))
                print(f"embedded {k} with {name}: {time.perf_counter() - t0:.0f} s", flush=True)
            emb[name, k] = np.load(cache).astype(np.float64)
    feats = {}  # measurement tables, computed when a measurement-Cox row is still missing

    def write(rep, enc, head, scores):
        rows = [{"repeat": rep, "encoder": enc, "head": head, "cohort": k, **measure(sets[k], ev[k], lr)}
                for k, lr in scores.items()]
        with out.open("a") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)
        print(" | ".join(f"r{rep} {enc} {head} {r['cohort']}: S {r['spearman']:.3f} within {r['within']} "
                         f"C {r['c']:.3f}" for r in rows), flush=True)

    for rep in range(args.repeats):
        tr, ev = {}, {}
        for k, c in sets.items():
            tr[k], ev[k] = draw_training(c.event, TRAIN_N[k], seed=1000 + rep)
        for enc in encoders:
            # head -> (kind, bootstrap bags, PCA components, inputs: "embedding" or "statement logits", penalizer)
            heads = {"own probe": ("own", 1, 16, "embedding", PROBE_PENALIZER),
                     "own probe, bagged": ("own", BAGS, 16, "embedding", PROBE_PENALIZER),
                     "other cohort's probe (transfer)": ("transfer", 1, 16, "embedding", PROBE_PENALIZER)}
            for comps in (8, 16, 32):
                heads[f"joint probe, PCA {comps}"] = ("joint", 1, comps, "embedding", PROBE_PENALIZER)
                heads[f"joint probe, PCA {comps}, bagged"] = ("joint", BAGS, comps, "embedding", PROBE_PENALIZER)
                for pen in args.penalizers:
                    heads[f"joint probe, PCA {comps}, penalizer {pen:g}"] = ("joint", 1, comps, "embedding", pen)
            if enc in statement_heads:  # the statement logits instead of PCA: a report-supervised projection
                n_codes = len(statement_heads[enc][1])
                heads["joint probe, statement logits"] = ("joint", 1, n_codes, "statement logits", PROBE_PENALIZER)
                heads["joint probe, statement logits, bagged"] = ("joint", BAGS, n_codes, "statement logits",
                                                                  PROBE_PENALIZER)
            for head, (kind, bags, comps, inputs, pen) in heads.items():
                if (rep, enc, head) in done:
                    continue
                x = {k: emb[enc, k] for k in COHORTS}
                if inputs == "statement logits":  # emb @ W.T + b: linear in the embedding, still a linear head
                    w_s, b_s = statement_heads[enc]
                    x = {k: v @ w_s.T + b_s for k, v in x.items()}
                parts = {k: (x[k][tr[k]], sets[k].time[tr[k]], sets[k].event[tr[k]]) for k in COHORTS}
                if kind == "joint":
                    w, b = fit_joint_probe(parts, n_bags=bags, n_components=comps, penalizer=pen, seed=rep)
                    wb = {k: (w, b) for k in COHORTS}
                else:
                    wb = {k: fit_joint_probe({k: parts[k]}, n_bags=bags, n_components=comps, penalizer=pen, seed=rep)
                          for k in COHORTS}
                    if kind == "transfer":  # each cohort scored with the probe fitted on the other one
                        wb = {"mi": wb["hyp"], "hyp": wb["mi"]}
                write(rep, enc, head, {k: x[k][ev[k]] @ wb[k][0] + wb[k][1] for k in COHORTS})
        for pen in (PROBE_PENALIZER, *args.penalizers):
            head = "measurement Cox, own" + ("" if pen == PROBE_PENALIZER else f", penalizer {pen:g}")
            if (rep, "-", head) in done:
                continue
            feats = feats or measurement_tables(sets, out.parent)
            write(rep, "-", head, {
                k: fit_measurement_cox(feats[k].iloc[tr[k]], sets[k].time[tr[k]], sets[k].event[tr[k]],
                                       penalizer=pen)(feats[k].iloc[ev[k]])
                for k in COHORTS})
        enc0 = next(iter(encoders))
        if rep < args.finetune and (rep, enc0, "own LP-FT (previous shipped recipe)") not in done:
            scores = {}
            for k, c in sets.items():
                fit, val = inner_split(tr[k], c.event, rep)
                torch.manual_seed(rep)
                net = load_pretrained(encoders[enc0])
                finetune(net, c.x[fit], c.time[fit], c.event[fit], c.x[val], c.time[val], c.event[val],
                         replace(FinetuneConfig(), seed=rep), desc=f"LP-FT {k} r{rep}")
                scores[k] = predict(net, c.x[ev[k]])
            write(rep, enc0, "own LP-FT (previous shipped recipe)", scores)
    print(summary(out))


def summary(out: Path, pool: str | None = None) -> str:
    """Markdown table: mean Spearman / phenotypes within ±10 / C per row and cohort, over repeats.

    ``pool``: only the encoders whose name starts with it (and the measurement rows), pooled per head over
    them (the fifth round's rule: each row averaged over the pretraining draws), with each draw's mean.
    """
    d = pd.DataFrame(map(json.loads, out.read_text().splitlines()))
    per_draw = None
    if pool is not None:
        d = d[d["encoder"].str.startswith(pool) | (d["encoder"] == "-")]
        # one copy of each measurement row: the last study run's (earlier runs of the file used earlier simulators)
        d = d.drop_duplicates(["encoder", "head", "cohort", "repeat"], keep="last")
        per_draw = d[d["encoder"] != "-"].groupby(["head", "encoder"])["spearman"].mean().unstack("encoder")
        d = d.assign(encoder=d["encoder"].where(d["encoder"] == "-", f"{pool}…)"))
    g = d.groupby(["encoder", "head", "cohort"]).agg(
        spearman=("spearman", "mean"), sd=("spearman", "std"), within=("within", "mean"),
        phen=("phenotypes", "mean"), c=("c", "mean"), repeats=("repeat", "size" if pool else "nunique")).reset_index()
    w = g.pivot_table(index=["encoder", "head"], columns="cohort", values=["spearman", "sd", "within", "phen", "c", "repeats"])
    w["mean spearman"] = (w["spearman", "mi"] + w["spearman", "hyp"]) / 2
    w = w.sort_values("mean spearman", ascending=False)
    draws = "" if per_draw is None else " | mean Spearman per draw"
    lines = ["| encoder | head | repeats | MI Spearman | MI within ±10 | MI C | HYP Spearman | HYP within ±10 | HYP C | "
             f"mean Spearman{draws} |", "|---|---|---|---|---|---|---|---|---|---|" + ("---|" if draws else "")]
    for (enc, head), r in w.iterrows():
        each = "" if per_draw is None else " | " + (" / ".join(f"{v:.3f}" for v in per_draw.loc[head])
                                                    if head in per_draw.index else "–")
        lines.append(f"| {enc} | {head} | {int(r['repeats', 'mi'])} | {r['spearman', 'mi']:.3f} ({r['sd', 'mi']:.3f}) | "
                     f"{r['within', 'mi']:.1f} of {r['phen', 'mi']:.0f} | {r['c', 'mi']:.3f} | "
                     f"{r['spearman', 'hyp']:.3f} ({r['sd', 'hyp']:.3f}) | {r['within', 'hyp']:.1f} of {r['phen', 'hyp']:.0f} | "
                     f"{r['c', 'hyp']:.3f} | {r['mean spearman', '']:.3f}{each} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mi")
    ap.add_argument("--hyp")
    ap.add_argument("--encoders", nargs="+", help="name=checkpoint.pt ...")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--finetune", type=int, default=3, help="repeats that also run the shipped LP-FT recipe")
    ap.add_argument("--penalizers", type=float, nargs="*", default=[],
                    help="more lifelines penalizers for the joint probes and measurement Cox (fifth round)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--summary", action="store_true", help="only print the table of an existing --out")
    ap.add_argument("--pool", help="with --summary: pool the encoders whose name starts with this, per head")
    args = ap.parse_args()
    if args.summary:
        print(summary(Path(args.out), args.pool))
    elif not (args.mi and args.hyp and args.encoders):
        ap.error("--mi, --hyp and --encoders are needed unless --summary")
    else:
        torch.set_num_threads(1)
        run(args)


if __name__ == "__main__":
    main()
