"""Tests of the dual-attention network (hfviz.model)."""

from __future__ import annotations

import pytest
import torch

from hfviz.risk.network import (
    INFERENCE_CHUNK,
    DualAttentionNet,
    ModelConfig,
    TimeBlock,
    _max_pool_time,
    count_parameters,
    permute_leads,
)

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def net() -> DualAttentionNet:
    torch.manual_seed(0)
    model = DualAttentionNet(ModelConfig())
    # give BatchNorm non-trivial running statistics so eval mode is not an identity
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 12, 608))
    return model.eval()


@pytest.fixture(scope="module")
def x() -> torch.Tensor:
    return torch.randn(3, 12, 608, generator=torch.Generator().manual_seed(1))


def test_forward_shapes_match_interface(net, x):
    with torch.no_grad():
        out = net(x)
    assert out.log_risk.shape == (3,)
    assert out.recon.shape == (3, 12, 608)
    assert out.embedding.shape == (3, 512)
    assert out.lead_attention.shape == (3, 12, 12)
    assert out.temporal_attention.shape == (3, 12, 19, 19)


def test_attention_rows_sum_to_one(net, x):
    with torch.no_grad():
        out = net(x)
    torch.testing.assert_close(out.lead_attention.sum(-1), torch.ones(3, 12))
    torch.testing.assert_close(out.temporal_attention.sum(-1), torch.ones(3, 12, 19))
    assert (out.lead_attention >= 0).all() and (out.temporal_attention >= 0).all()


def test_default_model_is_lightweight():
    assert count_parameters(DualAttentionNet(ModelConfig())) <= 1_500_000


def test_changing_one_input_lead_leaves_other_leads_features_unchanged(net, x):
    """Before the cross-lead attention each lead's features depend on that lead only."""
    x2 = x.clone()
    x2[:, 4] = torch.randn(3, 608)
    with torch.no_grad():
        f1, f2 = net.lead_features(x), net.lead_features(x2)  # (B, 12, 19, 16)
    others = [i for i in range(12) if i != 4]
    torch.testing.assert_close(f1[:, others], f2[:, others], rtol=0, atol=1e-6)
    assert (f1[:, 4] - f2[:, 4]).abs().max() > 1e-3


@pytest.mark.parametrize("lead_pe", [True, False])
def test_permuting_leads_permutes_attention_and_keeps_risk(lead_pe, x):
    torch.manual_seed(2)
    model = DualAttentionNet(ModelConfig(lead_position_encoding=lead_pe)).eval()
    perm = torch.tensor([1, 0, 2, 3, 4, 5, 11, 7, 8, 9, 10, 6])  # swap I<->II and V1<->V6
    with torch.no_grad():
        a = model(x)
        b = permute_leads(model, perm)(x[:, perm])
    torch.testing.assert_close(b.lead_attention, a.lead_attention[:, perm][:, :, perm], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b.temporal_attention, a.temporal_attention[:, perm], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b.recon, a.recon[:, perm], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(b.log_risk, a.log_risk, atol=1e-5, rtol=1e-4)


def test_swapping_inputs_without_permuting_weights_changes_attention(net, x):
    """The lead-specific weights are really lead-specific (a sanity check of the test above)."""
    perm = torch.tensor([1, 0, *range(2, 12)])
    with torch.no_grad():
        a, b = net(x), net(x[:, perm])
    assert not torch.allclose(b.lead_attention, a.lead_attention[:, perm][:, :, perm], atol=1e-4)


@pytest.mark.parametrize(
    "lead,temporal", [(False, True), (True, False), (False, False)], ids=["no-lead", "no-temporal", "neither"]
)
def test_ablations_run_and_drop_their_attention(lead, temporal, x):
    model = DualAttentionNet(ModelConfig(use_lead_attention=lead, use_temporal_attention=temporal)).eval()
    with torch.no_grad():
        out = model(x)
    assert out.log_risk.shape == (3,)
    assert (out.lead_attention is None) != lead
    assert (out.temporal_attention is None) != temporal
    assert count_parameters(model) < count_parameters(DualAttentionNet(ModelConfig()))


def test_eval_folds_batchnorm_into_conv_exactly():
    torch.manual_seed(3)
    block = TimeBlock(4, 8, 5)
    with torch.no_grad():
        for bn in (block.bn1, block.bn2, block.bn_s):
            bn.running_mean.uniform_(-1, 1)
            bn.running_var.uniform_(0.5, 2)
            bn.weight.uniform_(0.5, 1.5)
            bn.bias.uniform_(-0.5, 0.5)
    block.eval()
    xb = torch.randn(2, 4, 12, 64)
    with torch.no_grad():
        folded = block(xb)
        h = torch.nn.functional.leaky_relu(block.bn1(block.conv1(xb)), 0.01)
        s = block.bn_s(block.short(torch.nn.functional.max_pool2d(xb, (1, 2), ceil_mode=True)))
        plain = torch.nn.functional.leaky_relu(block.bn2(block.conv2(h)) + s, 0.01)
    torch.testing.assert_close(folded, plain, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length", [38, 19, 1])
def test_time_max_pool_equals_max_pool2d_with_ceil_mode(length):
    xb = torch.randn(2, 3, 12, length).contiguous(memory_format=torch.channels_last)
    ref = torch.nn.functional.max_pool2d(xb, (1, 2), ceil_mode=True)
    torch.testing.assert_close(_max_pool_time(xb), ref, rtol=0, atol=0)


def test_large_inference_batch_is_chunked_with_identical_results(net):
    xb = torch.randn(INFERENCE_CHUNK * 2 + 5, 12, 608, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        chunked = net(xb)
        risk = net.predict_log_risk(xb)
    whole = net(xb)  # grad enabled: one pass over the whole batch, no chunking
    assert chunked.log_risk.shape == (len(xb),) and chunked.recon.shape == xb.shape
    for a, b in [(chunked.log_risk, whole.log_risk), (risk, whole.log_risk), (chunked.embedding, whole.embedding),
                 (chunked.lead_attention, whole.lead_attention), (chunked.temporal_attention, whole.temporal_attention),
                 (chunked.recon, whole.recon)]:
        torch.testing.assert_close(a, b.detach(), atol=1e-5, rtol=1e-5)


def test_config_round_trips_through_dict():
    cfg = ModelConfig(block_channels=(4, 8, 8, 8, 8), use_lead_attention=False)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg


def test_wrong_input_shape_is_rejected(net):
    with pytest.raises(ValueError, match="shape"):
        net(torch.zeros(2, 12, 600))


def test_predict_log_risk_equals_forward_log_risk(net, x):
    with torch.no_grad():
        torch.testing.assert_close(net.predict_log_risk(x), net(x).log_risk, rtol=0, atol=0)


def test_risk_head_defaults_to_linear_and_old_configs_rebuild_the_official_relu_mlp_head():
    head = DualAttentionNet(ModelConfig()).head
    assert isinstance(head[-1], torch.nn.Linear) and head[-1].in_features == 512 and len(head) == 2
    assert isinstance(DualAttentionNet(ModelConfig(risk_head="mlp")).head[3], torch.nn.LeakyReLU)
    old = ModelConfig().to_dict()
    del old["risk_activation"], old["risk_head"]  # a card written before the fields existed
    cfg = ModelConfig.from_dict(old)
    assert (cfg.risk_activation, cfg.risk_head) == ("relu", "mlp")
    assert isinstance(DualAttentionNet(cfg).head[3], torch.nn.ReLU)
    with pytest.raises(ValueError):
        DualAttentionNet(ModelConfig(risk_head="mlp", risk_activation="tanhh"))
    with pytest.raises(ValueError):
        DualAttentionNet(ModelConfig(risk_head="deep"))


def test_leaky_head_gives_distinct_risks_where_relu_head_has_a_floor():
    torch.manual_seed(0)
    relu = DualAttentionNet(ModelConfig(risk_head="mlp", risk_activation="relu")).eval()
    leaky = DualAttentionNet(ModelConfig(risk_head="mlp", risk_activation="leaky_relu")).eval()
    leaky.load_state_dict(relu.state_dict())  # same weights, only the activation differs
    lin = relu.head[2]
    with torch.no_grad():
        lin.bias.fill_(-5.0)  # every hidden pre-activation negative: ReLU outputs all zero
        leaky.head[2].bias.fill_(-5.0)
        x = torch.randn(16, 12, 608, generator=torch.Generator().manual_seed(3))
        r_relu, r_leaky = relu.predict_log_risk(x), leaky.predict_log_risk(x)
    assert torch.unique(r_relu).numel() == 1  # the floor: all tied
    assert torch.unique(r_leaky).numel() == 16
