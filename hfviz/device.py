"""Where the network runs: ``--device auto|cpu|cuda[:N]``, ``--precision fp32|bf16``, and the torchrun process group.

One function, :func:`resolve_device`, turns the user's words into a :class:`torch.device`
(``auto`` = the first CUDA device when one is available, else the CPU) and refuses an
unavailable device with one sentence. :func:`autocast` is the mixed-precision context of the
training loops: bfloat16 autocast on CUDA only, a no-op otherwise. Nothing here needs a GPU.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np
import torch
import torch.distributed as dist

from hfviz.errors import HfvizError

#: Accepted ``--device`` words (``cuda:N`` selects GPU N).
DEVICE_CHOICES_HELP = "auto (CUDA when available, else CPU), cpu, cuda or cuda:N"
#: Accepted ``--precision`` values: float32 everywhere, or bfloat16 autocast on CUDA.
PRECISIONS = ("fp32", "bf16")


def resolve_device(spec: str | torch.device | None = "auto") -> torch.device:
    """The torch device named by ``spec``.

    Parameters
    ----------
    spec : {"auto", "cpu", "cuda", "cuda:N"} or torch.device or None
        ``"auto"`` (and None) pick CUDA when available, else the CPU. Under ``torchrun``
        (``LOCAL_RANK`` set) ``"auto"`` and a bare ``"cuda"`` mean this process's GPU,
        ``cuda:LOCAL_RANK``.

    Returns
    -------
    torch.device

    Raises
    ------
    HfvizError
        The spec is not a device name, or names a CUDA device this machine does not have.
    """
    if isinstance(spec, torch.device):
        spec = str(spec)
    word = (spec or "auto").strip().lower()
    local = os.environ.get("LOCAL_RANK")
    if word == "auto":
        if not torch.cuda.is_available():
            return torch.device("cpu")
        word = "cuda"
    if word == "cpu":
        return torch.device("cpu")
    if word == "cuda" and local is not None:
        word = f"cuda:{int(local)}"
    if word != "cuda" and not (word.startswith("cuda:") and word[5:].isdigit()):
        raise HfvizError(f"--device {spec!r} is not a device; use {DEVICE_CHOICES_HELP}.")
    if not torch.cuda.is_available():
        raise HfvizError(f"--device {spec}: no CUDA device is available on this machine (use --device cpu or auto).")
    dev = torch.device(word)
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise HfvizError(f"--device {spec}: this machine has {torch.cuda.device_count()} CUDA device(s) "
                         f"(cuda:0 … cuda:{torch.cuda.device_count() - 1}).")
    return dev


def place(module: torch.nn.Module, device) -> torch.device:
    """Resolve ``device`` (:func:`resolve_device`) and move ``module`` there; return the device."""
    dev = resolve_device(device)
    module.to(dev)
    return dev


def check_precision(precision: str, device: torch.device) -> str:
    """``precision`` if it can run on ``device``; bf16 needs CUDA.

    Raises
    ------
    HfvizError
        Unknown precision, or bf16 asked for on a non-CUDA device.
    """
    if precision not in PRECISIONS:
        raise HfvizError(f"--precision {precision!r} is not one of {', '.join(PRECISIONS)}.")
    if precision == "bf16" and device.type != "cuda":
        raise HfvizError(f"--precision bf16 needs a CUDA device; this run is on {device} (use fp32).")
    return precision


def autocast(device: torch.device, precision: str = "fp32"):
    """Mixed-precision context for a forward pass: bfloat16 autocast on CUDA with ``"bf16"``, else a no-op.

    Losses that need full precision (the Cox partial likelihood) cast their inputs back to float32.
    """
    if precision == "bf16" and device.type == "cuda":
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


# --- process group (torchrun) ------------------------------------------------------------------


def launched_by_torchrun() -> bool:
    """True when this process was started by ``torchrun`` (``RANK`` and ``WORLD_SIZE`` in the environment)."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def is_distributed() -> bool:
    """True inside an initialised process group of more than one process."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank_world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    """True on rank 0 (and in a single process): the one process that writes files, logs and progress."""
    return rank_world()[0] == 0


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


@contextlib.contextmanager
def distributed_session(device: torch.device):
    """Join the torchrun process group for the duration of a command; a no-op without torchrun.

    The backend is NCCL for CUDA devices and gloo otherwise; a CUDA process binds to its device.
    """
    if not launched_by_torchrun() or (dist.is_available() and dist.is_initialized()):
        yield
        return
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    try:
        yield
    finally:
        dist.destroy_process_group()


@contextlib.contextmanager
def main_first():
    """Rank 0 runs the block first (e.g. fills a cache), then the others: avoids two writers on one file."""
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def sum_over_ranks(values) -> np.ndarray:
    """Element-wise sum of a small float vector over all ranks (identity in one process)."""
    v = torch.as_tensor(np.asarray(values, np.float64))
    if is_distributed():
        if dist.get_backend() == "nccl":
            v = v.cuda()
        dist.all_reduce(v)
    return v.cpu().numpy()
