"""Private copies of a shared, read-only torch model, hook clean-up, and the parallel-work limit.

Used by :func:`hfviz.risk.explain.attribute` so that many users of one app process can explain
their ECGs at the same time without ever touching the shared model:

* :func:`private_copy` lends a deep copy of the shared eval-mode net for one call (~6 MB for the
  shipped model). Idle copies are pooled per shared model, keyed by its identity and the in-place
  version counters of its parameters and buffers — a changed model gets fresh copies. A copy is
  returned to the pool only when the call succeeded and no hook is left on it.
* :func:`no_leftover_hooks` removes every module and parameter hook added during a block (also
  when it fails). Process-global hook registries are not cleaned: calls run concurrently, and one
  call's clean-up must never remove another's hooks.
* :func:`compute_slot` admits at most :data:`MAX_PARALLEL` computations at once (the cores; more
  would only slow each other down); :func:`load` says how many compute and how many wait.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import os
import threading
import weakref
from collections.abc import Iterator
from typing import Any

from torch import nn

#: Environment variable that sets :data:`MAX_PARALLEL` (a positive integer).
SLOTS_ENV = "HFVIZ_ATTRIBUTION_SLOTS"
#: Attributions computing at the same time in one process (the others wait their turn): one per core by
#: default, or ``$HFVIZ_ATTRIBUTION_SLOTS``.
MAX_PARALLEL = max(1, int(os.environ.get(SLOTS_ENV) or os.cpu_count() or 1))
#: Idle model copies kept per shared model (more are made under load and dropped afterwards).
MAX_IDLE_COPIES = MAX_PARALLEL
_SLOTS = threading.BoundedSemaphore(MAX_PARALLEL)
_POOL_LOCK = threading.Lock()
_POOL: dict[int, tuple[weakref.ref, tuple, list[nn.Module]]] = {}  # id(net) -> (net, fingerprint, idle copies)
_LOAD_LOCK = threading.Lock()
_LOAD = {"computing": 0, "waiting": 0}


_TENSOR_HOOK_ATTRS = ("_backward_hooks", "_post_accumulate_grad_hooks")


def _hook_dicts(model: nn.Module, *, include_global: bool = True) -> list[dict]:
    """Every hook registry reachable from ``model``: its modules', its parameters', global ones."""
    out = []
    for m in model.modules():
        for name, val in vars(m).items():
            if "hook" in name and isinstance(val, dict):
                out.append(val)
    for p in model.parameters():
        for attr in _TENSOR_HOOK_ATTRS:
            hooks = getattr(p, attr, None)
            if isinstance(hooks, dict):
                out.append(hooks)
    if not include_global:
        return out
    from torch.nn.modules import module as _mod

    for name in dir(_mod):
        val = getattr(_mod, name)
        if name.startswith("_global") and "hook" in name and isinstance(val, dict):
            out.append(val)
    return out


def hook_count(model: nn.Module) -> int:
    """Number of hooks registered on ``model``'s modules and parameters (and globally)."""
    return sum(len(d) for d in _hook_dicts(model))


@contextlib.contextmanager
def no_leftover_hooks(model: nn.Module) -> Iterator[None]:
    """Remove, on exit (normal or not), every hook added to ``model``'s modules and parameters inside the block.

    The process-global registries are left alone: several calls run at once, and one call's
    clean-up must never remove another's hooks (none of the four methods registers global hooks).
    """
    dicts = _hook_dicts(model, include_global=False)
    before = [set(d.keys()) for d in dicts]
    params = list(model.parameters())
    tensor_before = [{a: getattr(p, a, None) is None for a in _TENSOR_HOOK_ATTRS} for p in params]
    try:
        yield
    finally:
        for d, keys in zip(dicts, before):
            for k in [k for k in list(d.keys()) if k not in keys]:
                d.pop(k, None)
        for p, was_none in zip(params, tensor_before):
            for attr, none_before in was_none.items():
                if none_before and getattr(p, attr, None) is not None:
                    setattr(p, attr, None)  # a registry created during the call goes again


def _fingerprint(net: nn.Module) -> tuple:
    """Identity and in-place version of every parameter and buffer: changes whenever the weights do."""
    return tuple((id(t), t._version) for t in itertools.chain(net.parameters(), net.buffers()))


def _fresh_copy(net: nn.Module) -> nn.Module:
    """A deep copy of ``net`` without any of its module or parameter hooks (gradients off, eval mode)."""
    dup = copy.deepcopy(net)
    for d in _hook_dicts(dup, include_global=False):
        d.clear()
    for p in dup.parameters():
        for attr in _TENSOR_HOOK_ATTRS:
            if getattr(p, attr, None) is not None:
                setattr(p, attr, None)
    return dup


@contextlib.contextmanager
def private_copy(net: nn.Module) -> Iterator[nn.Module]:
    """Borrow a copy of the shared ``net`` for one call; it goes back to the pool only when clean."""
    key, fp = id(net), _fingerprint(net)
    with _POOL_LOCK:
        for k in [k for k, (ref, _, _) in _POOL.items() if ref() is None]:
            del _POOL[k]  # shared models that no longer exist
        entry = _POOL.get(key)
        if entry is None or entry[0]() is not net or entry[1] != fp:
            entry = (weakref.ref(net), fp, [])
            _POOL[key] = entry
        dup = entry[2].pop() if entry[2] else None
    if dup is None:
        dup = _fresh_copy(net)
    clean = False
    try:
        with no_leftover_hooks(dup):
            yield dup
        clean = True
    finally:
        if clean and hook_count_local(dup) == 0 and not dup.training:
            with _POOL_LOCK:
                if _POOL.get(key) is entry and len(entry[2]) < MAX_IDLE_COPIES:
                    entry[2].append(dup)


def hook_count_local(model: nn.Module) -> int:
    """Hooks on ``model``'s own modules and parameters (the process-global registries not counted)."""
    return sum(len(d) for d in _hook_dicts(model, include_global=False))


def idle_copies(model: Any) -> int:
    """How many idle private copies of ``model`` (a module or an object with ``.net``) the pool holds."""
    net = model if isinstance(model, nn.Module) else getattr(model, "net", None)
    with _POOL_LOCK:
        entry = _POOL.get(id(net))
        return len(entry[2]) if entry is not None and entry[0]() is net else 0


def load() -> dict[str, int]:
    """Attributions of this process now computing and waiting for a free slot, and the slots.

    Returns
    -------
    dict
        ``{"computing": int, "waiting": int, "slots": MAX_PARALLEL}``.
    """
    with _LOAD_LOCK:
        return {**_LOAD, "slots": MAX_PARALLEL}


@contextlib.contextmanager
def compute_slot() -> Iterator[None]:
    """One of the :data:`MAX_PARALLEL` compute slots, waited for in turn."""
    with _LOAD_LOCK:
        _LOAD["waiting"] += 1
    try:
        _SLOTS.acquire()
    finally:
        with _LOAD_LOCK:
            _LOAD["waiting"] -= 1
    with _LOAD_LOCK:
        _LOAD["computing"] += 1
    try:
        yield
    finally:
        with _LOAD_LOCK:
            _LOAD["computing"] -= 1
        _SLOTS.release()
