"""Data-parallel training with ``torch.distributed`` (launched by ``torchrun``), and its single-process twin.

``torchrun --nproc_per_node=N -m hfviz pretrain …`` starts N processes with ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` in their environment; :func:`hfviz.device.distributed_session` sees
those, joins the process group (gloo on CPU, NCCL on CUDA) and leaves it at the end. Without
them the same code runs as one process and every helper here is the identity.

How a global batch is split (the loops in :mod:`hfviz.training.pretrain` and :mod:`hfviz.training.train`):

- every rank draws the same global batches from the same seeded generator (the generator
  advances once per epoch on every rank: the ``DistributedSampler.set_epoch`` reseeding, with
  the state saved in checkpoints so a resumed run continues the same sequence), and rank r keeps
  rows ``r::W`` of each (:func:`shard`): disjoint shards, whose union is the global batch;
- losses that couple subjects are computed on the global batch: the Cox partial likelihood
  (:func:`global_cox_nll`) and the ECG-text alignment gather their inputs from all ranks with an
  autograd-aware ``all_gather``, so the gradient equals that of one process on the whole batch;
- BatchNorm normalises with the statistics of the global batch (:class:`GlobalBatchNorm`,
  which also runs on CPU/gloo where ``torch.nn.SyncBatchNorm`` refuses to);
- dropout draws differ between ranks and a single process (per-rank RNG streams); with dropout
  on, a data-parallel run is statistically, not bitwise, the same as a single-process one.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from hfviz.device import (  # noqa: F401 - the process-group basics live in hfviz.device (risk uses them too)
    barrier,
    distributed_session,
    is_distributed,
    is_main,
    launched_by_torchrun,
    main_first,
    rank_world,
    sum_over_ranks,
)
from hfviz.risk.survival import cox_nll

# torch 2.13 marks the autograd collectives deprecated in favour of a private API; they are still the
# documented autograd-aware collectives, and the warning would repeat on every training step.
warnings.filterwarnings("ignore", message=r".*torch\.distributed\.nn\.functional\.\w+ is deprecated",
                        category=FutureWarning)


def shard(indices, rank: int | None = None, world: int | None = None):
    """Rank ``rank``'s rows of a global index batch: ``indices[rank::world]`` (disjoint across ranks)."""
    r, w = rank_world()
    return indices[(r if rank is None else rank)::(w if world is None else world)]


def full_precision(t: torch.Tensor) -> torch.Tensor:
    """``t`` in at least float32 (bf16/fp16 autocast outputs are upcast; float64 stays float64)."""
    return t.float() if t.dtype in (torch.bfloat16, torch.float16) else t


def gather_rows(t: torch.Tensor) -> torch.Tensor:
    """Concatenate every rank's rows of ``t`` (n_r, ...) in rank order, keeping the autograd graph.

    Ranks may hold different numbers of rows: they are padded to the largest for the
    ``all_gather`` and trimmed afterwards. The backward pass sums each row's gradient over all
    ranks' losses (``torch.distributed.nn.functional.all_gather``). Identity in one process.
    """
    if not is_distributed():
        return t
    from torch.distributed.nn.functional import all_gather

    n = torch.tensor([t.shape[0]], device=t.device)
    sizes = [torch.zeros_like(n) for _ in range(dist.get_world_size())]
    dist.all_gather(sizes, n)
    sizes = [int(s) for s in sizes]
    pad = max(sizes) - t.shape[0]
    padded = torch.cat([t, t.new_zeros((pad, *t.shape[1:]))]) if pad else t
    parts = all_gather(padded.contiguous())
    return torch.cat([p[:k] for p, k in zip(parts, sizes)])


def global_cox_nll(log_risk: torch.Tensor, time, event, *, ties: str = "efron") -> torch.Tensor:
    """Cox negative log partial likelihood (mean per event) of the GLOBAL batch, on every rank.

    Log-risks (with their graph), follow-up times and event indicators are gathered from all
    ranks (:func:`gather_rows`), so the risk sets are those of the whole global batch, not of one
    rank's shard: the loss value equals :func:`hfviz.risk.survival.cox_nll` on the
    concatenated batch, and since each rank back-propagates the same global loss and
    ``DistributedDataParallel`` averages the ranks' gradients, the update is that of one process
    on the global batch. The loss is computed in at least float32 (also under bf16 autocast).

    Parameters
    ----------
    log_risk : Tensor (n_r,)
        This rank's predicted log-risks.
    time, event : array-like (n_r,)
        This rank's follow-up (months) and event indicators (0/1).

    Returns
    -------
    Tensor ()
    """
    lr = full_precision(log_risk).reshape(-1)
    if not is_distributed():
        return cox_nll(lr, time, event, ties=ties)
    t = torch.as_tensor(np.asarray(time, np.float64), device=lr.device)
    e = torch.as_tensor(np.asarray(event, np.float64), device=lr.device)
    return cox_nll(gather_rows(lr), gather_rows(t).cpu().numpy(), gather_rows(e).cpu().numpy(), ties=ties)


def shard_mse(pred: torch.Tensor, target: torch.Tensor, n_global: int, world: int) -> torch.Tensor:
    """This rank's share of the global batch's mean squared error, scaled so that DDP's gradient average is exact.

    One process: ``F.mse_loss``. W ranks: sum of squared errors x W / (global elements); the mean of
    these over the ranks is the MSE of the global batch. Computed in at least float32.
    """
    if world == 1:
        return F.mse_loss(full_precision(pred), target)
    return F.mse_loss(full_precision(pred), target, reduction="sum") * world / (n_global * target[0].numel())



def check_global_batch(batch_size: int) -> None:
    """A global batch must give every rank at least one row."""
    world = rank_world()[1]
    if batch_size < world:
        raise ValueError(f"batch size {batch_size} is smaller than the {world} data-parallel processes")


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm whose training statistics are those of the global batch across all ranks.

    Same parameters, buffers and state-dict keys as ``nn.BatchNorm1d/2d``; in eval mode, or in a
    single process, it *is* the ordinary BatchNorm. In training under a process group it computes
    the per-channel mean (one ``all_reduce`` of sums and counts) and the biased variance (a second
    ``all_reduce`` of squared deviations: two passes, for float accuracy) over every rank's rows,
    with autograd-aware collectives, and updates the running statistics with the unbiased global
    variance, as one process holding the whole batch would. Works on gloo (CPU) and NCCL alike.
    """

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2-D input, got {x.dim()}-D")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        x = full_precision(x)  # as nn.BatchNorm under autocast: statistics and output in float32
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = x.new_full((1,), x.numel() // x.shape[1])
        s = all_reduce(torch.cat([x.sum(dims), count]))
        n = s[-1].detach()
        mean = s[:-1] / n  # (C,)
        dev = x - mean.view(shape)
        var = all_reduce((dev * dev).sum(dims)) / n  # (C,) biased, for the normalisation
        y = dev * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * (n / (n - 1)), alpha=m)
        return y


_BN_CLASSES = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def use_global_batchnorm(module: nn.Module) -> list[tuple[nn.Module, type]]:
    """Switch every BatchNorm in ``module`` to :class:`GlobalBatchNorm` in place; return what to undo.

    Only the class changes (parameters, buffers and optimiser references stay the same objects),
    so :func:`restore_batchnorm` gives back exactly the original modules.
    """
    changed = []
    for m in module.modules():
        if type(m) in _BN_CLASSES:
            changed.append((m, type(m)))
            m.__class__ = GlobalBatchNorm
    return changed


def restore_batchnorm(changed: list[tuple[nn.Module, type]]) -> None:
    """Undo :func:`use_global_batchnorm`."""
    for m, cls in changed:
        m.__class__ = cls


def wrap_ddp(module: nn.Module) -> nn.Module:
    """``DistributedDataParallel(module)`` inside a process group of > 1 process, else ``module`` itself.

    ``find_unused_parameters=True``: the pretraining never uses the risk head and a batch without
    text skips the projections; parameters unused on every rank keep ``grad=None`` (AdamW skips
    them), as in one process.
    """
    if not is_distributed():
        return module
    dev = next(module.parameters()).device
    return nn.parallel.DistributedDataParallel(
        module, device_ids=[dev.index] if dev.type == "cuda" else None, find_unused_parameters=True)
