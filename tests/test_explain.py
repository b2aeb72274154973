"""Attributions and attention mapping (hfviz.explain)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from torch import nn

from hfviz.risk import explain

from hfviz.risk import explain_summary
from hfviz.risk.network import DualAttentionNet, ModelConfig
from hfviz.ecg.signal import MODEL_LEN, model_input

METHODS = list(explain.METHODS)


class Linear(nn.Module):
    """f(x) = sum(w * x): every attribution method has a closed form."""

    def __init__(self, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.w = nn.Parameter(torch.randn(12, MODEL_LEN, generator=g))

    def forward(self, x):
        return (x * self.w).sum(dim=(1, 2))  # (B,)


class Smooth(nn.Module):
    """A small non-linear model with a scalar output per example."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(1)
        self.conv = nn.Conv1d(12, 4, 9, padding=4)
        self.lin = nn.Linear(4, 1)

    def forward(self, x):
        return self.lin(torch.tanh(self.conv(x)).mean(-1))[:, 0]


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return DualAttentionNet(ModelConfig()).eval()


@pytest.fixture(scope="module")
def x():
    rng = np.random.default_rng(3)
    t = np.arange(600) / 500
    beat = np.stack([a * np.exp(-((t - 0.476) / 0.015) ** 2) + 0.2 * np.exp(-((t - 0.75) / 0.06) ** 2)
                     for a in rng.uniform(-1.5, 1.5, 12)])
    return model_input(beat + 0.01 * rng.standard_normal(beat.shape))


def test_integrated_gradients_of_linear_model_is_weight_times_input_difference(x):
    m = Linear().eval()
    a = explain.attribute(m, x, method="integrated_gradients", baseline="zeros", n_steps=16)
    np.testing.assert_allclose(a.values, m.w.detach().numpy() * x, rtol=1e-4, atol=1e-5)
    assert abs(a.delta) < 1e-3
    assert a.f_baseline == pytest.approx(0.0, abs=1e-6)


def test_saliency_of_linear_model_is_the_weight(x):
    m = Linear().eval()
    a = explain.attribute(m, x, method="saliency")
    np.testing.assert_allclose(a.values, m.w.detach().numpy(), rtol=1e-6)
    assert a.baseline is None


def test_occlusion_of_linear_model_averages_the_window_sums(x):
    m = Linear().eval()
    a = explain.attribute(m, x, method="occlusion", baseline="zeros")
    contrib = m.w.detach().numpy() * x  # (12, 608): output change per zeroed sample
    w, s = explain.OCCLUSION_WINDOW, explain.OCCLUSION_STRIDE
    total = np.zeros_like(contrib)
    count = np.zeros(MODEL_LEN)
    for start in range(0, MODEL_LEN - w + 1, s):
        total[:, start:start + w] += contrib[:, start:start + w].sum(axis=1, keepdims=True)
        count[start:start + w] += 1
    np.testing.assert_allclose(a.values, total / count, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("method", METHODS)
def test_attribution_has_the_input_shape_single_and_batched(net, x, method):
    single = explain.attribute(net, x, method=method, n_steps=8)
    assert single.values.shape == (12, MODEL_LEN)
    assert np.isfinite(single.values).all()
    batch = explain.attribute(net, np.stack([x, -x]), method=method, n_steps=8)
    assert batch.values.shape == (2, 12, MODEL_LEN)


def test_integrated_gradients_completeness_gap_is_small_on_the_network(net, x):
    a = explain.attribute(net, x, method="integrated_gradients", baseline="zeros", n_steps=64)
    gap = a.f_input - a.f_baseline
    assert float(a.values.sum()) == pytest.approx(gap + a.delta, abs=1e-5)
    assert abs(a.delta) < 2e-3


def test_integrated_gradients_completeness_is_tight_on_a_smooth_model(x):
    a = explain.attribute(Smooth().eval(), x, method="integrated_gradients", n_steps=64)
    assert a.relative_delta < 0.01


@pytest.mark.parametrize("method", METHODS)
def test_attribute_leaves_the_shared_model_untouched(net, x, method):
    before = {k: v.clone() for k, v in net.state_dict().items()}
    x_before = x.copy()
    hooks_before = explain.hook_count(net)
    explain.attribute(net, x, method=method, n_steps=8)
    assert explain.hook_count(net) == hooks_before == 0
    assert not net.training
    assert all(p.grad is None for p in net.parameters())
    for k, v in net.state_dict().items():
        assert torch.equal(v, before[k]), k
    np.testing.assert_array_equal(x, x_before)


class HookThenFail(nn.Module):
    """Registers hooks on itself and a parameter during forward, then fails on a later call."""

    def __init__(self, fail_at: int = 2):
        super().__init__()
        self.inner = nn.Linear(MODEL_LEN, 1)
        self.calls = 0
        self.fail_at = fail_at

    def forward(self, x):
        self.calls += 1
        self.inner.register_forward_hook(lambda *a: None)
        self.inner.weight.register_hook(lambda g: g)
        if self.calls >= self.fail_at:
            raise RuntimeError("boom")
        return self.inner(x).sum(dim=(1, 2))


@pytest.mark.parametrize("method", METHODS)
def test_no_hooks_remain_after_an_error_inside_attribute(x, method):
    m = HookThenFail().eval()
    with pytest.raises(RuntimeError, match="boom"):
        explain.attribute(m, x, method=method, n_steps=4)
    assert explain.hook_count(m) == 0


def test_hooks_added_during_a_successful_call_are_removed(x):
    m = HookThenFail(fail_at=10**9).eval()
    explain.attribute(m, x, method="integrated_gradients", n_steps=4)
    assert explain.hook_count(m) == 0


def test_attribute_refuses_a_model_in_training_mode(x):
    m = Linear().train()
    with pytest.raises(ValueError, match="eval mode"):
        explain.attribute(m, x, method="saliency")
    assert m.training


def test_unknown_method_or_baseline_is_a_clear_value_error(net, x):
    with pytest.raises(ValueError, match="unknown method"):
        explain.attribute(net, x, method="lime")
    with pytest.raises(ValueError, match="unknown baseline"):
        explain.attribute(net, x, method="integrated_gradients", baseline="noise")
    with pytest.raises(ValueError, match="cohort_beats"):
        explain.attribute(net, x, method="integrated_gradients", baseline="cohort_median")


def test_per_lead_mean_baseline_is_the_zero_input_for_normalised_beats(x):
    xt = torch.as_tensor(x)[None]
    ref, name = explain.make_baseline(xt, "lead_mean")
    assert name == "lead_mean"
    np.testing.assert_allclose(ref.numpy(), 0.0, atol=1e-6)


def test_cohort_median_baseline_is_a_normalised_typical_beat(x):
    rng = np.random.default_rng(0)
    cohort = np.stack([x * rng.uniform(0.5, 2.0) for _ in range(9)])  # same shape, other scale
    ref = explain.cohort_median_baseline(cohort)
    assert ref.shape == (12, MODEL_LEN) and ref.dtype == np.float32
    np.testing.assert_allclose(ref, x, atol=1e-4)  # z-scoring removes the scale
    a = explain.attribute(Linear().eval(), x, method="integrated_gradients", baseline="cohort_median",
                          cohort_beats=cohort)
    assert a.baseline == "cohort_median"
    assert np.abs(a.values).max() < 1e-3  # input == baseline -> nothing to attribute


def test_gradient_shap_is_reproducible_and_leaves_global_rng_alone(net, x):
    torch.manual_seed(123)
    np.random.seed(123)
    expect_t, expect_np = torch.rand(1), np.random.rand()
    torch.manual_seed(123)
    np.random.seed(123)
    a = explain.attribute(net, x, method="gradient_shap", seed=7)
    assert torch.equal(torch.rand(1), expect_t) and np.random.rand() == expect_np
    b = explain.attribute(net, x, method="gradient_shap", seed=7)
    np.testing.assert_array_equal(a.values, b.values)


def test_concurrent_attributions_match_sequential_ones(net, x):
    inputs = [x, -x, x[::-1].copy(), np.roll(x, 50, axis=1)]
    expected = [explain.attribute(net, xi, method="integrated_gradients", n_steps=8).values for xi in inputs]
    got: dict[int, np.ndarray] = {}

    def work(i):
        got[i] = explain.attribute(net, inputs[i], method="integrated_gradients", n_steps=8).values

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, e in enumerate(expected):
        np.testing.assert_array_equal(got[i], e)
    assert explain.hook_count(net) == 0


def test_temporal_attention_maps_tokens_onto_their_samples():
    s = 19
    uniform = np.full((12, s, s), 1 / s)
    np.testing.assert_allclose(explain_summary.temporal_attention_to_samples(uniform), 1.0, rtol=1e-6)
    peaked = np.zeros((12, s, s))
    peaked[:, :, 7] = 1.0  # every query attends only to token 7 (samples 224-255)
    out = explain_summary.temporal_attention_to_samples(peaked)
    assert out.shape == (12, MODEL_LEN)
    assert np.all(np.argmax(out, axis=1) // 32 == 7)
    assert out[0, 0] == 0 and out[0, -1] == 0
    batched = explain_summary.temporal_attention_to_samples(np.stack([uniform, peaked]))
    assert batched.shape == (2, 12, MODEL_LEN)


def test_temporal_attention_of_the_network_maps_to_608_samples(net, x):
    with torch.no_grad():
        out = net(torch.as_tensor(x)[None])
    mapped = explain_summary.temporal_attention_to_samples(out.temporal_attention[0])
    assert mapped.shape == (12, MODEL_LEN)
    assert np.all(mapped >= 0)
    np.testing.assert_allclose(mapped.mean(axis=1), 1.0, atol=0.1)
    assert explain_summary.crop_to_beat(mapped).shape == (12, 600)
    imp = explain_summary.lead_attention_importance(out.lead_attention[0])
    assert imp.shape == (12,) and imp.sum() == pytest.approx(1.0)


def test_lead_importance_is_a_share_of_absolute_attribution():
    v = np.zeros((12, 10))
    v[3] = -2.0
    v[5] = 1.0
    imp = explain_summary.lead_importance(v)
    assert imp.sum() == pytest.approx(1.0)
    assert imp[3] == pytest.approx(2 / 3) and imp[5] == pytest.approx(1 / 3)
    np.testing.assert_array_equal(explain_summary.lead_importance(np.zeros((12, 5))), 0.0)


def test_method_agreement_is_spearman_between_importance_vectors():
    a = np.arange(12.0)
    table = explain_summary.method_agreement({"A": a, "B": a ** 2, "C": -a, "D": np.ones(12)})
    assert table.loc["A", "B"] == pytest.approx(1.0)
    assert table.loc["A", "C"] == pytest.approx(-1.0)
    assert np.isnan(table.loc["A", "D"])
    np.testing.assert_array_equal(np.diag(table.to_numpy()), 1.0)
    assert table.equals(table.T)


def test_attributions_frame_has_one_row_per_lead_sample_and_method(net, x):
    attrs = {m: explain.attribute(net, x, method=m, n_steps=4) for m in ("integrated_gradients", "saliency")}
    df = explain_summary.attributions_frame(attrs)
    assert len(df) == 2 * 12 * MODEL_LEN
    assert list(df.columns) == ["method", "baseline", "lead", "sample", "time_ms", "attribution"]
    first = df[(df.lead == "I") & (df.method == "Integrated Gradients")]
    assert first.time_ms.iloc[4] == 0.0
    np.testing.assert_allclose(first.attribution.to_numpy(), attrs["integrated_gradients"].values[0])


def test_top_segments_are_sorted_by_absolute_attribution():
    v = np.zeros((12, MODEL_LEN))
    v[2, 100:132] = -1.0
    v[7, 300:310] = 5.0
    top = explain_summary.top_segments(v, k=2)
    assert list(top.lead) == ["V2", "III"]
    assert list(top.direction) == ["raises risk", "lowers risk"]
    assert top.attribution.iloc[0] == pytest.approx(50.0)


def test_lead_importances_label_every_method_and_add_cross_lead_attention():
    values = np.zeros((12, 608), np.float32)
    values[4] = 1.0
    attr = explain.Attribution(values=values, method="saliency", baseline=None, n_steps=None, f_input=0.0,
                               f_baseline=None, delta=None)
    imp = explain_summary.lead_importances({"saliency": attr}, lead_attention=np.full((12, 12), 1 / 12))
    assert list(imp) == [explain.METHODS["saliency"], "cross-lead attention"]
    assert imp[explain.METHODS["saliency"]][4] == 1.0
    assert list(explain_summary.lead_importances({"saliency": attr})) == [explain.METHODS["saliency"]]
