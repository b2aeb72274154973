"""The dual-attention network: median beat (B, 12, 608) -> log-risk, embedding, attention maps.

Architecture after Chen et al. (IEEE Trans. Big Data 2025) as read from the authors' code, with
one deliberate fix: **every lead's features stay its own until the cross-lead attention**.

1. Stem: two grouped convolutions per lead (``groups=12``) with per-lead ``GroupNorm`` -> 4
   channels per lead. (The official second stem conv mixes all leads and its reshape does not map channels
   back to their lead; here channel block ``4*i : 4*i+4`` *is* lead ``i``.)
2. Five residual time-only blocks (``Conv2d`` with (1, 5) kernels, stride (1, 2), so they never
   mix leads): 608 -> 19 time steps, channels 4 -> 8 -> 16 -> 16 -> 16 -> 16.
3. Twelve lead-specific temporal attention blocks with **separate weights per lead**, computed
   together as one batched matrix product per layer (weights stacked as ``(12, d_in, d_out)``),
   not as a Python loop over twelve modules.
4. One cross-lead attention block over 12 lead tokens (16 x 19 = 304-d each).
5. Branches summed; two 1x1 convs (192 -> 256) average- and max-pooled -> 512-d embedding.
6. Risk head: by default dropout -> Linear(512, 1), a Cox-linear head on the embedding that
   fine-tuning starts from a penalised Cox fit on the frozen embedding; the official head
   (BN -> dropout -> 512 -> 3 -> ReLU -> BN -> 3 -> 1) stays available (``risk_head="mlp"``).
   A light decoder reconstructs the (normalised) median beat.

Exact permutation property (tested): for a lead permutation ``p`` with lead position encoding
off *or* permuted along, ``permute_leads(net, p)(x[:, p])`` returns cross-lead attention
``A[:, p][:, :, p]``, temporal attention ``T[:, p]``, reconstruction ``recon[:, p]`` and the
*same* log-risk and embedding as ``net(x)`` (in eval mode). Permuting only the input of the same
network cannot give an exact permutation, because the stem and temporal weights are
lead-specific by design; what is exact is that changing input lead ``j`` leaves every other
lead's features before the cross-lead attention untouched (also tested).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

N_LEADS = 12
INPUT_LEN = 608
INFERENCE_CHUNK = 64  # largest batch one eval-mode, no-grad forward processes at once (see _inference_chunks)


@dataclass
class ModelConfig:
    """Constructor arguments of :class:`DualAttentionNet` (stored in every checkpoint)."""

    n_leads: int = 12  # input leads, order hfviz.ecg.record.LEADS
    input_len: int = 608  # samples per median beat after zero padding (500 Hz, 1.216 s)
    stem_channels: int = 4  # feature channels per lead after the stem (official: 48 / 12)
    stem_kernel: int = 5  # stem conv kernel (samples)
    block_channels: tuple[int, ...] = (8, 16, 16, 16, 16)  # output channels of the 5 residual blocks
    block_kernel: int = 5  # residual block kernel along time (1 x k, never across leads)
    temporal_heads: int = 2  # heads of each lead's temporal attention (dim 16 -> 8 per head)
    temporal_mlp_ratio: int = 4  # temporal MLP 16 -> 64 -> 16
    lead_heads: int = 4  # heads of the cross-lead attention (304 -> 76 per head)
    lead_mlp_ratio: int = 4  # cross-lead MLP 304 -> 1216 -> 304
    dropout: float = 0.2  # dropout in the attention blocks (official 0.2)
    head_dropout: float = 0.2  # dropout in the risk head
    embed_dim: int = 512  # ECG embedding (avg-pooled half + max-pooled half)
    risk_hidden: int = 3  # width of the risk head's hidden layer (official 3)
    # Activation of the risk head's hidden layer: "leaky_relu" (slope 0.1, default) or "relu" (official).
    # With 3 ReLU units every ECG whose three pre-activations are all <= 0 gets the same floor log-risk
    # (41 % of the training half of the first shipped MI model); LeakyReLU is strictly monotone, so it has
    # no floor and no zero gradient, and is otherwise the official ReLU. Checkpoints written before this
    # field existed load with "relu" (see from_dict).
    risk_activation: str = "leaky_relu"
    # Risk head: "linear" (default: dropout -> Linear(512, 1), the Cox-linear head on the embedding, which
    # fine-tuning initialises with a penalised Cox fit on the frozen embedding; see hfviz.training.train.init_head_from_probe)
    # or "mlp" (official: BN -> dropout -> 512 -> risk_hidden -> activation -> BN -> 1). Checkpoints written
    # before this field existed load with "mlp" (see from_dict).
    risk_head: str = "linear"
    decoder_channels: int = 32  # channels of the light reconstruction decoder
    use_lead_attention: bool = True  # ablation switch: cross-lead attention branch
    use_temporal_attention: bool = True  # ablation switch: lead-specific temporal branch
    lead_position_encoding: bool = True  # learned per-lead position code added to lead tokens

    @property
    def time_steps(self) -> int:
        """Time steps after the five stride-2 blocks (608 -> 19)."""
        t = self.input_len
        for _ in self.block_channels:
            t = (t + 1) // 2
        return t

    @property
    def feat_dim(self) -> int:
        """Per-lead channels entering the attention blocks (16)."""
        return self.block_channels[-1]

    def to_dict(self) -> dict:
        """JSON-safe dict; ``ModelConfig.from_dict(cfg.to_dict()) == cfg``."""
        from hfviz.jsonutil import plain_dict

        return plain_dict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``TypeError``.

        A stored config without ``risk_activation`` predates that field and was trained with the
        official ReLU head, so it is rebuilt with ``"relu"``; one without ``risk_head`` had the
        official MLP head (``"mlp"``).
        """
        d = dict(d)
        d.setdefault("risk_activation", "relu")
        d.setdefault("risk_head", "mlp")
        if "block_channels" in d:
            d["block_channels"] = tuple(d["block_channels"])
        return cls(**d)


@dataclass
class ModelOutput:
    """Everything one forward pass returns.

    Attributes
    ----------
    log_risk : Tensor (B,)
        Cox log partial hazard (higher = higher risk), arbitrary offset.
    recon : Tensor (B, 12, 608)
        Reconstructed normalised median beat.
    embedding : Tensor (B, 512)
        ECG embedding used by the risk head and the text alignment.
    lead_attention : Tensor (B, 12, 12) or None
        Cross-lead attention, head-averaged; row i = how lead i attends to each lead; rows sum to 1.
        ``None`` when the cross-lead branch is disabled (ablation).
    temporal_attention : Tensor (B, 12, 19, 19) or None
        Per-lead temporal attention over the 19 time tokens (each ~64 ms), head-averaged,
        rows sum to 1. ``None`` when the temporal branch is disabled.
    """

    log_risk: torch.Tensor
    recon: torch.Tensor
    embedding: torch.Tensor
    lead_attention: torch.Tensor | None
    temporal_attention: torch.Tensor | None


def sinusoidal_encoding(n_pos: int, dim: int) -> torch.Tensor:
    """Standard transformer sine/cosine position code, shape (n_pos, dim)."""
    pos = torch.arange(n_pos, dtype=torch.float32)[:, None]
    i = torch.arange(0, dim, 2, dtype=torch.float32)
    div = torch.exp(-math.log(10000.0) * i / dim)
    pe = torch.zeros(n_pos, dim)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: pe[:, 1::2].shape[1]])
    return pe


class Stem(nn.Module):
    """Per-lead stem: (B, 12, 608) -> (B, C, 12, 608) channels-last; grouped convs never mix leads.

    Two grouped convolutions (``groups=12``: output channels ``C*i : C*i+C`` see only lead ``i``),
    each followed by a GroupNorm whose groups are the leads, then GELU.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        L, C, k = cfg.n_leads, cfg.stem_channels, cfg.stem_kernel
        self.n_leads, self.c = L, C
        self.conv1 = nn.Conv2d(L, L * C, (1, k), padding=(0, k // 2), groups=L)
        self.norm1 = nn.GroupNorm(L, L * C)  # one group = one lead's C channels
        self.conv2 = nn.Conv2d(L * C, L * C, (1, k), padding=(0, k // 2), groups=L)
        self.norm2 = nn.GroupNorm(L, L * C)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, L, T = x.shape
        # The grouped convs run in the default (B, C, 1, T) memory format, about 1.5x faster on CPU
        # than channels-last for these 12 groups of 4 channels; only the output changes format.
        h = x.view(B, L, 1, T)  # (B, 12, 1, T)
        h = F.gelu(self.norm1(self.conv1(h)))  # (B, 12*C, 1, T), channels lead-major
        h = F.gelu(self.norm2(self.conv2(h)))  # (B, 12*C, 1, T)
        h = h.view(B, L, self.c, T).transpose(1, 2)  # (B, C, 12, T)
        return h.contiguous(memory_format=torch.channels_last)  # (B, C, 12, T), memory (B, 12, T, C)


class TimeBlock(nn.Module):
    """Residual block along time only on (B, C_in, 12, T): every kernel is (1, k), so leads never mix.

    Main path conv(1xk, stride (1, 2)) -> BN -> LeakyReLU -> conv(1xk) -> BN; shortcut
    max-pool(1x2) -> 1x1 conv -> BN; sum -> LeakyReLU. Run in channels-last memory format,
    which is several times faster on CPU for these few-channel convolutions.
    """

    def __init__(self, c_in: int, c_out: int, k: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, (1, k), stride=(1, 2), padding=(0, k // 2), bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, (1, k), padding=(0, k // 2), bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.short = nn.Conv2d(c_in, c_out, 1, bias=False)
        self.bn_s = nn.BatchNorm2d(c_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            h = F.leaky_relu(self.bn1(self.conv1(x)), 0.01)  # (B, C_out, 12, ceil(T/2))
            h = self.bn2(self.conv2(h))  # (B, C_out, 12, ceil(T/2))
            s = self.bn_s(self.short(_max_pool_time(x)))  # (B, C_out, 12, ceil(T/2))
            return F.leaky_relu(h + s, 0.01)
        # eval: the same arithmetic with each BatchNorm folded into its conv (saves three passes
        # over the largest activations); exact up to float rounding.
        h = F.leaky_relu(_conv_bn(x, self.conv1, self.bn1), 0.01)  # (B, C_out, 12, ceil(T/2))
        s = _conv_bn(_max_pool_time(x), self.short, self.bn_s)  # (B, C_out, 12, ceil(T/2))
        return F.leaky_relu(_conv_bn(h, self.conv2, self.bn2) + s, 0.01)


def _max_pool_time(x: torch.Tensor) -> torch.Tensor:
    """``F.max_pool2d(x, (1, 2), ceil_mode=True)`` on (B, C, 12, T) -> (B, C, 12, ceil(T/2)).

    Written as the maximum of the even and odd samples: identical values, and 4-7x faster on CPU
    than ``max_pool2d``, which also computes (unused) argmax indices for channels-last input.
    """
    if x.shape[-1] % 2:
        x = F.pad(x, (0, 1), value=float("-inf"))  # ceil_mode: the last odd sample pools alone
    return torch.maximum(x[..., 0::2], x[..., 1::2])


def _conv_bn(x: torch.Tensor, conv: nn.Conv2d, bn: nn.BatchNorm2d) -> torch.Tensor:
    """``bn(conv(x))`` for a bias-free conv and a BatchNorm in eval mode, as one convolution."""
    scale = bn.weight * torch.rsqrt(bn.running_var + bn.eps)  # (C_out,)
    w = conv.weight * scale[:, None, None, None]  # (C_out, C_in, 1, k)
    b = bn.bias - bn.running_mean * scale  # (C_out,)
    return F.conv2d(x, w, b, conv.stride, conv.padding)


class LeadTemporalAttention(nn.Module):
    """Twelve pre-LN transformer blocks over time tokens, one per lead, weights NOT shared.

    Every weight is stacked along a leading lead axis (12, d_in, d_out) and applied with one
    ``baddbmm`` per layer, so the twelve modules cost one batched matmul, not twelve calls.
    Input/output (B, 12, T, D); attention (B, 12, T, T) head-averaged.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        L, D, T = cfg.n_leads, cfg.feat_dim, cfg.time_steps
        M = D * cfg.temporal_mlp_ratio
        self.n_heads = cfg.temporal_heads
        self.D = D
        if D % self.n_heads:
            raise ValueError(f"temporal dim {D} is not divisible by {self.n_heads} heads")
        self.register_buffer("pos", sinusoidal_encoding(T, D), persistent=False)  # (T, D)

        def w(d_in, d_out):
            return nn.Parameter(torch.randn(L, d_in, d_out) * d_in**-0.5)

        self.ln1_w, self.ln1_b = nn.Parameter(torch.ones(L, 1, D)), nn.Parameter(torch.zeros(L, 1, D))
        self.w_qkv, self.b_qkv = w(D, 3 * D), nn.Parameter(torch.zeros(L, 1, 3 * D))
        self.w_o, self.b_o = w(D, D), nn.Parameter(torch.zeros(L, 1, D))
        self.ln2_w, self.ln2_b = nn.Parameter(torch.ones(L, 1, D)), nn.Parameter(torch.zeros(L, 1, D))
        self.w_1, self.b_1 = w(D, M), nn.Parameter(torch.zeros(L, 1, M))
        self.w_2, self.b_2 = w(M, D), nn.Parameter(torch.zeros(L, 1, D))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, L, T, D = h.shape
        H, dh = self.n_heads, D // self.n_heads
        x = (h + self.pos).transpose(0, 1).reshape(L, B * T, D)  # (L, B*T, D)
        a = F.layer_norm(x, (D,)) * self.ln1_w + self.ln1_b  # (L, B*T, D)
        qkv = torch.baddbmm(self.b_qkv, a, self.w_qkv)  # (L, B*T, 3D)
        qkv = qkv.view(L, B, T, 3, H, dh).permute(3, 0, 1, 4, 2, 5)  # (3, L, B, H, T, dh)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (L, B, H, T, dh)
        att = torch.softmax(q @ k.transpose(-1, -2) * dh**-0.5, dim=-1)  # (L, B, H, T, T)
        y = self.drop(att) @ v  # (L, B, H, T, dh)
        y = y.permute(0, 1, 3, 2, 4).reshape(L, B * T, D)  # (L, B*T, D)
        x = x + self.drop(torch.baddbmm(self.b_o, y, self.w_o))  # (L, B*T, D)
        m = F.layer_norm(x, (D,)) * self.ln2_w + self.ln2_b  # (L, B*T, D)
        m = torch.baddbmm(self.b_2, F.gelu(torch.baddbmm(self.b_1, m, self.w_1)), self.w_2)  # (L, B*T, D)
        x = x + self.drop(m)  # (L, B*T, D)
        out = x.view(L, B, T, D).transpose(0, 1)  # (B, L, T, D)
        return out, att.mean(dim=2).transpose(0, 1)  # (B, L, T, D), (B, L, T, T)


class CrossLeadAttention(nn.Module):
    """One pre-LN transformer block over the 12 lead tokens (each D*T = 304-d).

    Input/output (B, 12, E); attention (B, 12, 12) head-averaged. Permutation-equivariant in
    the leads apart from the optional learned lead position code.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        E = cfg.feat_dim * cfg.time_steps
        self.n_heads = cfg.lead_heads
        if E % self.n_heads:
            raise ValueError(f"lead token dim {E} is not divisible by {self.n_heads} heads")
        self.lead_pos = nn.Parameter(torch.randn(cfg.n_leads, E) * 0.02) if cfg.lead_position_encoding else None
        self.ln1 = nn.LayerNorm(E)
        self.qkv = nn.Linear(E, 3 * E)
        self.proj = nn.Linear(E, E)
        self.ln2 = nn.LayerNorm(E)
        self.mlp = nn.Sequential(nn.Linear(E, cfg.lead_mlp_ratio * E), nn.GELU(), nn.Linear(cfg.lead_mlp_ratio * E, E))
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, tok: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        B, L, E = tok.shape
        H, dh = self.n_heads, E // self.n_heads
        x = tok + self.lead_pos if self.lead_pos is not None else tok  # (B, L, E)
        qkv = self.qkv(self.ln1(x)).view(B, L, 3, H, dh).permute(2, 0, 3, 1, 4)  # (3, B, H, L, dh)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, H, L, dh)
        att = torch.softmax(q @ k.transpose(-1, -2) * dh**-0.5, dim=-1)  # (B, H, L, L)
        y = (self.drop(att) @ v).transpose(1, 2).reshape(B, L, E)  # (B, L, E)
        x = x + self.drop(self.proj(y))  # (B, L, E)
        x = x + self.drop(self.mlp(self.ln2(x)))  # (B, L, E)
        return x, att.mean(dim=1)  # (B, L, E), (B, L, L)


class Decoder(nn.Module):
    """Light decoder: embedding (B, 512) -> normalised median beat (B, 12, 608)."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        C, T = cfg.decoder_channels, cfg.time_steps
        self.c0, self.t0, self.out_len = cfg.feat_dim, T, cfg.input_len
        self.fc = nn.Linear(cfg.embed_dim, cfg.feat_dim * T)
        chans = [cfg.feat_dim] + [C] * len(cfg.block_channels)
        self.ups = nn.ModuleList(
            nn.Sequential(nn.Conv1d(a, b, 5, padding=2), nn.GroupNorm(4, b), nn.GELU()) for a, b in zip(chans[:-1], chans[1:])
        )
        self.out = nn.Conv1d(C, cfg.n_leads, 5, padding=2)  # output channel i = lead i

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.fc(z).view(z.shape[0], self.c0, self.t0)  # (B, 16, 19)
        for up in self.ups:
            y = up(F.interpolate(y, scale_factor=2, mode="linear", align_corners=False))  # (B, C, 2T)
        y = self.out(y)  # (B, 12, 19 * 32 = 608)
        if y.shape[-1] != self.out_len:
            y = F.interpolate(y, size=self.out_len, mode="linear", align_corners=False)  # (B, 12, 608)
        return y


RISK_ACTIVATIONS = ("leaky_relu", "relu")


def _head_activation(name: str) -> nn.Module:
    """Hidden activation of the risk head: ``"leaky_relu"`` (slope 0.1) or ``"relu"`` (official)."""
    if name == "leaky_relu":
        return nn.LeakyReLU(0.1)
    if name == "relu":
        return nn.ReLU()
    raise ValueError(f"unknown risk_activation {name!r}; expected one of {RISK_ACTIVATIONS}")


RISK_HEADS = ("linear", "mlp")


def _risk_head(cfg: ModelConfig) -> nn.Sequential:
    """Embedding (B, 512) -> log-risk (B, 1): ``"linear"`` (dropout + one affine map) or ``"mlp"`` (official)."""
    if cfg.risk_head == "linear":
        return nn.Sequential(nn.Dropout(cfg.head_dropout), nn.Linear(cfg.embed_dim, 1))
    if cfg.risk_head != "mlp":
        raise ValueError(f"unknown risk_head {cfg.risk_head!r}; expected one of {RISK_HEADS}")
    return nn.Sequential(
        nn.BatchNorm1d(cfg.embed_dim),
        nn.Dropout(cfg.head_dropout),
        nn.Linear(cfg.embed_dim, cfg.risk_hidden),
        _head_activation(cfg.risk_activation),
        nn.BatchNorm1d(cfg.risk_hidden),
        nn.Linear(cfg.risk_hidden, 1),
    )


class DualAttentionNet(nn.Module):
    """The LLM-informed dual-attention ECG network (see module docstring).

    Parameters
    ----------
    cfg : ModelConfig
        All sizes and switches; ``DualAttentionNet(ModelConfig(**ckpt_config))`` rebuilds a checkpoint.
    """

    def __init__(self, cfg: ModelConfig | None = None):
        super().__init__()
        cfg = cfg or ModelConfig()
        self.cfg = cfg
        self.stem = Stem(cfg)
        chans = [cfg.stem_channels, *cfg.block_channels]
        self.blocks = nn.Sequential(*(TimeBlock(a, b, cfg.block_kernel) for a, b in zip(chans[:-1], chans[1:])))
        self.temporal = LeadTemporalAttention(cfg) if cfg.use_temporal_attention else None
        self.cross = CrossLeadAttention(cfg) if cfg.use_lead_attention else None
        half = cfg.embed_dim // 2
        self.pool_avg = nn.Linear(cfg.n_leads * cfg.feat_dim, half)  # 1x1 conv; input = lead * 16 + c
        self.pool_max = nn.Linear(cfg.n_leads * cfg.feat_dim, half)
        self.head = _risk_head(cfg)
        self.decoder = Decoder(cfg)

    def lead_features(self, x: torch.Tensor) -> torch.Tensor:
        """Per-lead features before any lead mixing: (B, 12, 608) -> tokens (B, 12, 19, 16)."""
        h = self.blocks(self.stem(x))  # (B, 16, 12, 19) channels-last
        return h.permute(0, 2, 3, 1)  # (B, 12, 19, 16), contiguous thanks to channels-last

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
        """(B, 12, 608) -> embedding (B, 512), lead attention (B, 12, 12), temporal (B, 12, 19, 19)."""
        if x.ndim != 3 or x.shape[1] != self.cfg.n_leads or x.shape[2] != self.cfg.input_len:
            raise ValueError(
                f"model input must have shape (B, {self.cfg.n_leads}, {self.cfg.input_len}), got {tuple(x.shape)}"
            )
        h = self.lead_features(x)  # (B, 12, 19, 16)
        B, L, T, D = h.shape
        t_att = l_att = None
        if self.temporal is None and self.cross is None:
            out = h  # both branches ablated: features go straight to pooling
        else:
            out = torch.zeros_like(h)
        if self.temporal is not None:
            t_out, t_att = self.temporal(h)  # (B, 12, 19, 16), (B, 12, 19, 19)
            out = out + t_out
        if self.cross is not None:
            c_out, l_att = self.cross(h.reshape(B, L, T * D))  # (B, 12, 304), (B, 12, 12)
            out = out + c_out.view(B, L, T, D)  # (B, 12, 19, 16)
        z = out.transpose(1, 2).reshape(B, T, L * D)  # (B, 19, 192), feature = lead * 16 + c
        emb = torch.cat([self.pool_avg(z).mean(1), self.pool_max(z).amax(1)], dim=1)  # (B, 512)
        return emb, l_att, t_att

    def _inference_chunks(self, x: torch.Tensor) -> tuple[torch.Tensor, ...] | None:
        """Split a large eval-mode, no-grad batch into chunks of :data:`INFERENCE_CHUNK` ECGs, else ``None``.

        Results are identical (eval mode has no batch coupling); a batch of 256 runs about 1.3x
        faster as four chunks of 64, whose activations (<= 8 MB) stay cache- and allocator-friendly
        instead of 30 MB buffers that are freshly mapped and page-faulted on every call.
        """
        if self.training or torch.is_grad_enabled() or x.shape[0] <= INFERENCE_CHUNK:
            return None
        return x.split(INFERENCE_CHUNK)

    def predict_log_risk(self, x: torch.Tensor) -> torch.Tensor:
        """Log-risk only (B,): the forward pass without the decoder (what risk prediction needs)."""
        chunks = self._inference_chunks(x)
        if chunks is not None:
            return torch.cat([self.predict_log_risk(c) for c in chunks])
        return self.head(self.encode(x)[0]).squeeze(-1)  # (B,)

    def forward(self, x: torch.Tensor) -> ModelOutput:
        """Full pass: (B, 12, 608) float32 normalised median beats -> :class:`ModelOutput`."""
        chunks = self._inference_chunks(x)
        if chunks is not None:
            parts = [self(c) for c in chunks]
            return ModelOutput(
                *(
                    None if getattr(parts[0], f.name) is None else torch.cat([getattr(o, f.name) for o in parts])
                    for f in dataclasses.fields(ModelOutput)
                )
            )
        emb, l_att, t_att = self.encode(x)
        log_risk = self.head(emb).squeeze(-1)  # (B,)
        recon = self.decoder(emb)  # (B, 12, 608)
        return ModelOutput(log_risk, recon, emb, l_att, t_att)


def count_parameters(net: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of scalar parameters of ``net``."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def permute_leads(net: DualAttentionNet, perm) -> DualAttentionNet:
    """Copy of ``net`` whose lead-specific parameters are re-indexed by ``perm``.

    ``permute_leads(net, p)(x[:, p])`` equals ``net(x)`` with every lead axis re-indexed by ``p``
    (exact in eval mode): the stem groups, the twelve temporal blocks, the lead position code,
    the pooling convs' input channels and the decoder's output channels all follow their lead.
    This is the property that names leads in the attention maps; it would fail for the official
    code, whose stem mixes leads.
    """
    import copy

    perm = torch.as_tensor(list(perm), dtype=torch.long)
    L = net.cfg.n_leads
    if sorted(perm.tolist()) != list(range(L)):
        raise ValueError(f"perm must be a permutation of 0..{L - 1}")
    new = copy.deepcopy(net)
    C = net.cfg.stem_channels
    ch = (perm[:, None] * C + torch.arange(C)).reshape(-1)  # stem channel order
    s = new.stem
    s.conv1.weight.copy_(s.conv1.weight[ch])  # grouped: in-channels are local to the group
    s.conv1.bias.copy_(s.conv1.bias[ch])
    s.conv2.weight.copy_(s.conv2.weight[ch])
    s.conv2.bias.copy_(s.conv2.bias[ch])
    for gn in (s.norm1, s.norm2):
        gn.weight.copy_(gn.weight[ch])
        gn.bias.copy_(gn.bias[ch])
    if new.temporal is not None:
        for name, p in new.temporal.named_parameters():
            p.copy_(p[perm])
    if new.cross is not None and new.cross.lead_pos is not None:
        new.cross.lead_pos.copy_(new.cross.lead_pos[perm])
    D = net.cfg.feat_dim
    zc = (perm[:, None] * D + torch.arange(D)).reshape(-1)  # pooled channel order
    for lin in (new.pool_avg, new.pool_max):
        lin.weight.copy_(lin.weight[:, zc])
    new.decoder.out.weight.copy_(new.decoder.out.weight[perm])
    new.decoder.out.bias.copy_(new.decoder.out.bias[perm])
    return new
