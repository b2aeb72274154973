"""Why the model said what it said: attention maps and captum attributions.

Two kinds of explanation of the log-risk ``f(x)`` of one model input ``x`` (12, 608):

* **Attention** the network computed anyway: cross-lead (12, 12) and per-lead temporal
  (12, 19, 19). :func:`temporal_attention_to_samples` maps the 19 time tokens (32 samples =
  64 ms each) back onto the 608 input samples so it can be drawn over the median beat.
* **Attributions** from captum through one verb, :func:`attribute` (``method=`` one of
  :data:`METHODS`). The output always has the input's shape; red/positive means the sample
  pushes the predicted risk up.

The model is shared read-only between all users of the app, and users do not wait for each
other. :func:`attribute` never runs captum on the shared module: each call borrows a private
copy (``copy.deepcopy`` of the eval-mode net, ~6 MB for the shipped model) from a small pool
kept per shared model (:mod:`hfviz.risk.model_copies`) (keyed by its identity and the version counters of its tensors, so a
changed model gets fresh copies). Any hook a method registers lands on the copy and is removed
when the call ends — also when it fails; a copy that still carries a hook is thrown away. The
shared module is never called, switched between modes or hooked, and its parameters and their
gradients are never touched (captum differentiates with respect to a clone of the input only).

Concurrency: at most :data:`MAX_PARALLEL` attributions compute at once in a process (the cores;
more would only slow each other down), the others wait their turn in arrival order —
:func:`attribution_load` tells a caller how many are computing and waiting, so the app can show
"queued". The only serialised part is GradientSHAP's seeded random draws: captum draws them
from the process-global numpy/torch generators, so GradientSHAP calls take turns on
:data:`_GLOBAL_RNG_LOCK` to stay reproducible; the other three methods run fully in parallel.
The copies hold the same weights and run the same operations, so results are bit-identical to
a single user's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from hfviz.ecg.signal import FS_HZ, MODEL_LEN, normalise
from hfviz.ecg.record import LEADS
from hfviz.risk.model_copies import (  # noqa: F401 - hook_count, load, MAX_PARALLEL are part of this API
    MAX_PARALLEL, compute_slot, hook_count, idle_copies, load as attribution_load, private_copy)

#: Attribution methods of :func:`attribute`, with the labels written on plots.
METHODS: dict[str, str] = {
    "integrated_gradients": "Integrated Gradients",
    "saliency": "Saliency (signed gradient)",
    "occlusion": "Occlusion",
    "gradient_shap": "GradientSHAP",
}
#: Named baselines (reference inputs) and how they are described on plots.
BASELINES: dict[str, str] = {
    "zeros": "zeros",
    "lead_mean": "per-lead mean",
    "cohort_median": "cohort median beat",
}
#: Methods that use a baseline.
USES_BASELINE = frozenset({"integrated_gradients", "occlusion", "gradient_shap"})
DEFAULT_IG_STEPS = 64
#: Occlusion window and stride, samples: 64 ms windows side by side, i.e. exactly the model's 19
#: time tokens (608 = 19 x 32), one lead at a time -> 12 x 19 = 228 perturbed inputs.
OCCLUSION_WINDOW = 32
OCCLUSION_STRIDE = 32
#: GradientSHAP: random draws and noise (input units: per-lead z-scores).
SHAP_SAMPLES = 32
SHAP_STDEV = 0.1
SHAP_MAX_REFERENCES = 16

_GLOBAL_RNG_LOCK = threading.Lock()  # GradientSHAP: captum draws from the global RNGs



@dataclasses.dataclass(frozen=True, eq=False)
class Attribution:
    """Result of :func:`attribute`.

    Attributes
    ----------
    values : ndarray, float32, the input's shape ((12, 608) or (B, 12, 608))
        Attribution per input sample, in log-risk units (IG, Occlusion, GradientSHAP) or
        log-risk per unit input (Saliency).
    method : str
        Key of :data:`METHODS`.
    baseline : str or None
        Key of :data:`BASELINES` (``"custom"`` for an array), ``None`` for Saliency.
    n_steps : int or None
        Integration steps (IG) or random draws (GradientSHAP).
    f_input : float or ndarray (B,)
        Model output (log-risk) at the input.
    f_baseline : float or ndarray (B,) or None
        Model output at the baseline.
    delta : float or ndarray (B,) or None
        IG completeness gap ``sum(values) - (f_input - f_baseline)``; ``None`` for other methods.
    """

    values: np.ndarray
    method: str
    baseline: str | None
    n_steps: int | None
    f_input: Any
    f_baseline: Any
    delta: Any = None

    @property
    def label(self) -> str:
        """What to write on a plot, e.g. ``"Integrated Gradients · baseline: zeros · 64 steps"``."""
        parts = [METHODS.get(self.method, self.method)]
        if self.baseline is not None:
            parts.append(f"baseline: {BASELINES.get(self.baseline, self.baseline)}")
        if self.method == "integrated_gradients" and self.n_steps:
            parts.append(f"{self.n_steps} steps")
        if self.method == "occlusion":
            parts.append(f"window {OCCLUSION_WINDOW / FS_HZ * 1000:.0f} ms")
        return " · ".join(parts)

    @property
    def relative_delta(self) -> Any:
        """``|delta| / |f_input - f_baseline|`` (IG only; small means the attributions add up)."""
        if self.delta is None or self.f_baseline is None:
            return None
        gap = np.abs(np.asarray(self.f_input) - np.asarray(self.f_baseline))
        rel = np.abs(np.asarray(self.delta)) / np.maximum(gap, 1e-8)
        return float(rel) if rel.ndim == 0 else rel


def _net(model: Any) -> nn.Module:
    """The torch module behind ``model`` (a module, or an object with ``.net`` such as RiskModel)."""
    net = model if isinstance(model, nn.Module) else getattr(model, "net", None)
    if not isinstance(net, nn.Module):
        raise TypeError(f"expected a torch module or an object with .net, got {type(model).__name__}")
    if net.training:
        raise ValueError("the model must be in eval mode; attribute() never switches modes of a shared model")
    return net


def _forward_fn(net: nn.Module):
    def f(x: torch.Tensor) -> torch.Tensor:
        out = net(x)
        r = out.log_risk if hasattr(out, "log_risk") else out
        if r.ndim == 2 and r.shape[1] == 1:
            r = r[:, 0]  # (B,)
        return r

    return f


def _as_batch(inputs: Any) -> tuple[torch.Tensor, bool]:
    """Float32 (B, 12, T) copy of ``inputs``; also whether the input had no batch axis."""
    if torch.is_tensor(inputs):
        x = inputs.detach().to(torch.float32).clone()
    else:
        x = torch.from_numpy(np.array(inputs, dtype=np.float32, copy=True))
    single = x.ndim == 2
    if single:
        x = x[None]  # (1, 12, T)
    if x.ndim != 3 or x.shape[1] != len(LEADS):
        raise ValueError(f"inputs must be (12, T) or (B, 12, T), got {tuple(x.shape)}")
    return x, single


# --- baselines ---------------------------------------------------------------------------------
def cohort_median_baseline(cohort_beats: np.ndarray) -> np.ndarray:
    """The cohort's median beat as a model input.

    Parameters
    ----------
    cohort_beats : ndarray, shape (N, 12, 608)
        Zero-padded median beats in mV (as in ``median_beats.npy``) or already normalised inputs.

    Returns
    -------
    ndarray, shape (12, 608), float32
        ``normalise(median over N)`` — a typical beat of the cohort, per lead z-scored like
        every model input.
    """
    b = np.asarray(cohort_beats, dtype=np.float64)
    if b.ndim != 3 or b.shape[1:] != (len(LEADS), MODEL_LEN):
        raise ValueError(f"cohort_beats must be (N, 12, {MODEL_LEN}), got {b.shape}")
    return normalise(np.median(b, axis=0))


def make_baseline(x: torch.Tensor, baseline: Any, *, cohort_beats: np.ndarray | None = None
                  ) -> tuple[torch.Tensor, str]:
    """Reference input(s) for ``x`` (B, 12, T).

    ``"zeros"`` is the all-zero input. ``"lead_mean"`` holds each lead at its own mean over
    time; with the per-lead z-scored inputs of the shipped model that *is* the zero input (it
    differs only for un-normalised inputs). ``"cohort_median"`` is
    :func:`cohort_median_baseline` of ``cohort_beats``. An array is used as given.

    Returns
    -------
    (Tensor (B, 12, T), str)
        The baseline broadcast to ``x`` and its name.
    """
    if isinstance(baseline, str):
        if baseline == "zeros":
            return torch.zeros_like(x), "zeros"
        if baseline == "lead_mean":
            return x.mean(dim=-1, keepdim=True).expand_as(x).clone(), "lead_mean"
        if baseline == "cohort_median":
            if cohort_beats is None:
                raise ValueError("baseline 'cohort_median' needs cohort_beats")
            ref = torch.as_tensor(cohort_median_baseline(cohort_beats))  # (12, 608)
            return ref[None].expand_as(x).clone(), "cohort_median"
        raise ValueError(f"unknown baseline {baseline!r}; choose one of {sorted(BASELINES)}")
    ref = torch.as_tensor(np.asarray(baseline, dtype=np.float32))
    if ref.ndim == 2:
        ref = ref[None]
    return ref.expand_as(x).clone(), "custom"


# --- the one entry verb ---------------------------------------------------------------------
def attribute(
    model: Any,
    inputs: Any,
    *,
    method: str = "integrated_gradients",
    baseline: Any = "zeros",
    target: int | None = None,
    n_steps: int = DEFAULT_IG_STEPS,
    cohort_beats: np.ndarray | None = None,
    seed: int = 0,
) -> Attribution:
    """Attribute the model's log-risk to every input sample.

    Parameters
    ----------
    model : torch.nn.Module or object with ``.net``
        The network in eval mode; its forward returns the log-risk (B,) or an object with a
        ``log_risk`` field (:class:`hfviz.risk.network.ModelOutput`). Never modified.
    inputs : array or Tensor, shape (12, T) or (B, 12, T)
        Model input(s) (normalised median beats, T = 608). Copied; the caller's array is not
        touched.
    method : str
        ``"integrated_gradients"`` (Gauss–Legendre path integral, completeness gap returned;
        captum's ``riemann_trapezoid`` is not used because its weights sum to (n-1)/n),
        ``"saliency"`` (signed input gradient), ``"occlusion"`` (replace 64-ms windows of one
        lead by the baseline; the output change spread over the window) or ``"gradient_shap"``
        (expected gradients against random references: cohort beats when ``cohort_beats`` is
        given, else the baseline, plus Gaussian noise).
    baseline : {"zeros", "lead_mean", "cohort_median"} or array (12, T)
        Reference input; ignored by Saliency.
    target : int, optional
        Output column, for models with a (B, k) output. ``None`` for the log-risk.
    n_steps : int
        IG integration steps (default 64).
    cohort_beats : ndarray (N, 12, 608), optional
        Cohort median beats, for ``baseline="cohort_median"`` and GradientSHAP references.
    seed : int
        Seed of GradientSHAP's random draws (results are reproducible).

    Returns
    -------
    Attribution
        ``values`` has the shape of ``inputs``.

    Raises
    ------
    ValueError
        Unknown method or baseline, wrong input shape, model in training mode.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    shared = _net(model)
    x, single = _as_batch(inputs)
    with compute_slot(), private_copy(shared) as net:
        forward = _forward_fn(net)
        ref, base_name = (make_baseline(x, baseline, cohort_beats=cohort_beats) if method in USES_BASELINE
                          else (None, None))
        run = _RUNNERS[method]
        attr, delta, steps, refs_name = run(forward, x, ref, target=target, n_steps=int(n_steps),
                                            cohort_beats=cohort_beats, seed=seed)
        f_x, f_ref = _outputs(forward, x.detach(), ref, target)
    values = attr.detach().numpy().astype(np.float32)
    if single:
        values, f_x = values[0], float(f_x[0])
        f_ref = float(f_ref[0]) if f_ref is not None else None
        delta = float(delta[0]) if delta is not None else None
    return Attribution(values=values, method=method, baseline=refs_name or base_name, n_steps=steps, f_input=f_x,
                       f_baseline=f_ref, delta=delta)


# --- one runner per method: (forward, x (B, 12, T), ref (B, 12, T) or None) -> (values, delta, steps, name) ---
def _run_integrated_gradients(forward, x, ref, *, target, n_steps, **_):
    """Gauss–Legendre IG with its completeness gap (B,) per input."""
    from captum.attr import IntegratedGradients

    attr, delta_t = IntegratedGradients(forward).attribute(
        x, baselines=ref, target=target, n_steps=n_steps, method="gausslegendre", internal_batch_size=n_steps,
        return_convergence_delta=True)
    return attr, delta_t.detach().numpy().astype(np.float64), n_steps, None


def _run_saliency(forward, x, ref, *, target, **_):
    """Signed input gradient; no baseline."""
    from captum.attr import Saliency

    return Saliency(forward).attribute(x.requires_grad_(True), target=target, abs=False), None, None, None


def _run_occlusion(forward, x, ref, *, target, **_):
    """Output change when 64-ms windows of one lead are replaced by the baseline."""
    from captum.attr import Occlusion

    attr = Occlusion(forward).attribute(x, baselines=ref, target=target, sliding_window_shapes=(1, OCCLUSION_WINDOW),
                                        strides=(1, OCCLUSION_STRIDE), perturbations_per_eval=64)
    return attr, None, None, None


def _run_gradient_shap(forward, x, ref, *, target, cohort_beats, seed, **_):
    """Expected gradients against up to 16 cohort beats (else the baseline) plus noise, seeded."""
    from captum.attr import GradientShap

    refs, name = ref[:1], None  # (1, 12, T)
    if cohort_beats is not None:
        rng = np.random.default_rng(seed)
        cb = np.asarray(cohort_beats)
        pick = rng.choice(len(cb), size=min(SHAP_MAX_REFERENCES, len(cb)), replace=False)
        refs, name = torch.as_tensor(normalise(cb[np.sort(pick)])), "cohort beats"  # (K, 12, T)
    with _GLOBAL_RNG_LOCK, _seeded(seed):
        attr = GradientShap(forward).attribute(x, baselines=refs, target=target, n_samples=SHAP_SAMPLES,
                                               stdevs=SHAP_STDEV)
    return attr, None, SHAP_SAMPLES, name


_RUNNERS = {"integrated_gradients": _run_integrated_gradients, "saliency": _run_saliency,
            "occlusion": _run_occlusion, "gradient_shap": _run_gradient_shap}


def _outputs(forward, x: torch.Tensor, ref: torch.Tensor | None, target: int | None):
    """f(x) and f(baseline), float64 (B,); f(baseline) is ``None`` without a baseline."""
    with torch.no_grad():
        f_x = _select(forward(x), target).numpy().astype(np.float64)
        f_ref = _select(forward(ref), target).numpy().astype(np.float64) if ref is not None else None
    return f_x, f_ref


def _select(out: torch.Tensor, target: int | None) -> torch.Tensor:
    return out[:, target] if (target is not None and out.ndim == 2) else out


@contextlib.contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Seed torch and numpy's global generators inside the block and restore them afterwards."""
    np_state = np.random.get_state()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(np_state)


def attribute_all(
    model: Any,
    inputs: Any,
    *,
    baseline: Any = "zeros",
    n_steps: int = DEFAULT_IG_STEPS,
    cohort_beats: np.ndarray | None = None,
    methods: tuple[str, ...] = tuple(METHODS),
    seed: int = 0,
) -> dict[str, Attribution]:
    """:func:`attribute` with every method in ``methods`` for one input and one baseline.

    Returns
    -------
    dict of str to Attribution
        Keyed by method, in the order of ``methods``.
    """
    return {m: attribute(model, inputs, method=m, baseline=baseline, n_steps=n_steps, cohort_beats=cohort_beats,
                         seed=seed) for m in methods}
