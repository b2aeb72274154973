"""Explanations of several users at once: no global queue, same results, an untouched shared model.

Every method is computed once alone (the reference), then by several threads started together
on the same shared model. Each thread must get bit-identical values to the sequential run; the
shared model must carry no hook, hold the same weights (sha256 of the state dict), stay in eval
mode and never be called itself (captum runs on private copies).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

from hfviz.ecg.signal import MODEL_LEN
from hfviz.risk import explain, model_copies
from hfviz.risk.network import DualAttentionNet, ModelConfig

from test_concurrency import leftover_hooks, state_sha256

torch.set_num_threads(1)  # 2 shared cores

SMALL = ModelConfig()  # the shipped architecture


@pytest.fixture(scope="module")
def shared_net():
    torch.manual_seed(3)
    return DualAttentionNet(SMALL).eval().requires_grad_(False)


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(5)
    return [rng.normal(size=(12, MODEL_LEN)).astype(np.float32) for _ in range(4)]


@pytest.fixture(scope="module")
def cohort():
    return np.random.default_rng(9).normal(size=(20, 12, MODEL_LEN)).astype(np.float32)


class _CountCalls(torch.nn.Module):
    """Records whether the shared module's own forward ever runs."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        return self.inner(x)


def _run(net, x, method, cohort):
    return explain.attribute(net, x, method=method, baseline="zeros", n_steps=16, cohort_beats=cohort, seed=1)


@pytest.mark.parametrize("method", list(explain.METHODS))
def test_two_threads_at_once_get_the_sequential_results_and_leave_the_shared_model_untouched(
        shared_net, inputs, cohort, method):
    before = state_sha256(shared_net)
    sequential = [_run(shared_net, x, method, cohort) for x in inputs[:2]]
    barrier = threading.Barrier(2)
    results: dict[int, object] = {}

    def user(k: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[k] = _run(shared_net, inputs[k], method, cohort)
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[k] = exc

    threads = [threading.Thread(target=user, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    for k in range(2):
        got = results[k]
        assert isinstance(got, explain.Attribution), got
        assert np.array_equal(got.values, sequential[k].values), (method, k)
        assert got.f_input == sequential[k].f_input and got.delta == sequential[k].delta
    assert not np.array_equal(sequential[0].values, sequential[1].values)  # the users' results differ
    assert leftover_hooks(shared_net) == []
    assert state_sha256(shared_net) == before
    assert not shared_net.training and all(p.grad is None for p in shared_net.parameters())


_MEET = threading.Barrier(2)
_MET = threading.local()


class _WaitsForTheOtherUser(torch.nn.Module):
    """Its first forward in a thread waits until a second thread's forward has begun as well."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(MODEL_LEN, 1)

    def forward(self, x):
        if not getattr(_MET, "done", False):
            _MET.done = True
            _MEET.wait(timeout=30)  # BrokenBarrierError if the other user's computation cannot start meanwhile
        return self.lin(x).sum(dim=(1, 2))


def test_two_users_compute_at_the_same_time_instead_of_queueing(inputs):
    """Both attributions are inside the model at once: a process-wide lock would break the meeting."""
    if model_copies.MAX_PARALLEL < 2:
        pytest.skip("one core: attributions take turns by design")
    m = _WaitsForTheOtherUser().eval()
    results: dict[int, object] = {}

    def user(k: int) -> None:
        try:
            results[k] = explain.attribute(m, inputs[k], method="saliency")
        except BaseException as exc:  # noqa: BLE001 - reported below
            results[k] = exc

    threads = [threading.Thread(target=user, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert all(isinstance(results[k], explain.Attribution) for k in range(2)), results
    assert explain.attribution_load() == {"computing": 0, "waiting": 0, "slots": model_copies.MAX_PARALLEL}


def test_the_shared_module_itself_is_never_called(inputs):
    torch.manual_seed(0)
    wrapped = _CountCalls(DualAttentionNet(SMALL)).eval()
    for method in explain.METHODS:
        explain.attribute(wrapped, inputs[0], method=method, n_steps=4)
    assert wrapped.calls == 0
    assert explain.idle_copies(wrapped) >= 1  # a copy is kept for the next call


def test_a_changed_model_gets_fresh_copies_not_stale_weights(inputs):
    torch.manual_seed(1)
    net = DualAttentionNet(SMALL).eval()
    first = explain.attribute(net, inputs[0], method="saliency")
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(1.5)  # in place: the copy pool must notice
    second = explain.attribute(net, inputs[0], method="saliency")
    direct = net(torch.as_tensor(inputs[0][None])).log_risk.item()
    assert second.f_input == pytest.approx(direct, abs=1e-6)
    assert not np.array_equal(first.values, second.values)


def test_a_copy_left_with_a_hook_is_not_reused(inputs):
    """A failing call's copy is dropped; the next call starts from a clean copy."""

    class FailOnce(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = torch.nn.Linear(MODEL_LEN, 1)
            self.fail = True

        def forward(self, x):
            self.lin.register_forward_hook(lambda *a: None)
            if self.fail:
                raise RuntimeError("boom")
            return self.lin(x).sum(dim=(1, 2))

    m = FailOnce().eval()
    with pytest.raises(RuntimeError, match="boom"):
        explain.attribute(m, inputs[0], method="saliency")
    assert explain.idle_copies(m) == 0 and explain.hook_count(m) == 0
