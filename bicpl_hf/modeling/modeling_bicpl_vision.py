# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Siamese 3D ear encoder of Bi-CPL: one backbone for both ears, an A3B block comparing the ears after each stage."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from .modeling_bicpl_backbones import look_up_backbone, look_up_option

if TYPE_CHECKING:
    from .configuration_bicpl import BiCPLVisionConfig

# Fourier frequencies per axis of the cross-attention position code: periods from 2 ROIs down to 1/8 of the ROI, so
# neighbouring voxels of the coarsest grid the block attends on still get distinct codes.
POSITION_FREQUENCIES = 4


def split_ears(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a Siamese batch laid out `[left_0, right_0, left_1, right_1, ...]` into (left, right)."""
    paired = features.unflatten(0, (-1, 2))
    return paired[:, 0], paired[:, 1]


def merge_ears(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Inverse of [`split_ears`]."""
    return torch.stack((left, right), dim=1).flatten(0, 1)


def partner_ears(features: torch.Tensor) -> torch.Tensor:
    """For every ear of a Siamese batch, the other ear of its exam: `[right_0, left_0, right_1, left_1, ...]`."""
    return features.unflatten(0, (-1, 2)).flip(1).flatten(0, 1)


class AsymmetryAwareAttention(nn.Module):
    r"""The v1 A3B block (`BiCPLVisionConfig.a3b_mode="gate"`), kept so that checkpoints saved with it still load.

    Compares each ear's features with those of the other (mirrored) ear at the same location:
    `D = conv(F_self - F_other)`, `M = sigmoid(D)`, `F' = F ⊙ (1 + M)`, for both sides with one shared convolution.
    Regions that differ between the ears are amplified, and because each side sees the difference from its own
    point of view, swapping the two ears swaps the outputs exactly (no side is privileged).

    Args:
        channels (`int`):
            Feature channels of the stage.
        kernel_size (`int`, *optional*, defaults to 3):
            Kernel of the difference convolution.

    Returns `(features, maps)` with `maps` of shape `(batch, 2, d, h, w)`: index 0 = left ear, 1 = right ear.
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        self.difference_conv = nn.Conv3d(channels, 1, kernel_size, padding=kernel_size // 2)

    @classmethod
    def from_config(cls, channels: int, config: BiCPLVisionConfig) -> AsymmetryAwareAttention:
        return cls(channels, config.a3b_kernel_size)

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        left, right = split_ears(features)
        # Both directions in one convolution call: [L - R, R - L] interleaved like the input batch.
        attention = torch.sigmoid(self.difference_conv(merge_ears(left - right, right - left)))
        maps = attention.squeeze(1).unflatten(0, (-1, 2))
        return features * (1.0 + attention), maps


def attention_grid(size: tuple[int, int, int], max_tokens: int) -> tuple[int, int, int]:
    """The grid `ceil(size / f)` for the smallest power of two `f` that leaves at most `max_tokens` voxels."""
    factor = 1
    while math.prod(math.ceil(s / factor) for s in size) > max_tokens and any(s > factor for s in size):
        factor *= 2
    return tuple(math.ceil(s / factor) for s in size)


def fourier_positions(size: tuple[int, int, int], device, dtype) -> torch.Tensor:
    """`(d*h*w, 6 * POSITION_FREQUENCIES)` sin/cos codes of the voxel centres of a `size` grid, in ROI units (so
    a pooled grid and the full grid code the same place alike, and the mirrored right ear shares the left's frame)."""
    frequencies = math.pi * torch.logspace(0, 4, POSITION_FREQUENCIES, base=2.0, device=device, dtype=dtype)
    axes = [(torch.arange(n, device=device, dtype=dtype) + 0.5) / n for n in size]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1).reshape(-1, 3)  # (N, 3) in (0, 1)
    angles = (grid[:, :, None] * frequencies).flatten(1)  # (N, 3 * POSITION_FREQUENCIES)
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class BilateralCrossAttention(nn.Module):
    r"""A3B as the Bi-CPL proposal describes it (`BiCPLVisionConfig.a3b_mode="cross_attention"`): each ear's voxels
    attend to the voxels of the other (mirrored) ear, and a gate on their difference decides how much of that
    message enters the ear's features.

    With `x = LayerNorm(F)` (tokens = voxels) and `P` a learned projection of a 3D Fourier position code:

    - `m = W_o MultiHeadAttention(q = x_self + P, k = x_other + P, v = x_other)`;
    - `g = sigmoid(W_g [x_self - x_other, |x_self - x_other|])`, per channel and voxel;
    - `F' = F + γ ⊙ g ⊙ m`, with the per-channel `γ` initialised to zero.

    At initialisation the block is the identity, so a bilateral model starts as the single-ear model and the
    comparison can only be added by training. The gate starts as `sigmoid(|x_self - x_other| - 2)` (about 0.12
    where the ears agree, rising with their difference), and its channel mean is the A3B map. Both directions use
    the same weights in one batched call, so swapping the two ears swaps the outputs exactly.

    Attention costs `O(tokens²)`: when a stage has more than `max_tokens` voxels, queries, keys and values are
    average-pooled by the smallest power of two that fits, and the message is trilinearly upsampled back (the gate
    and the residual stay at full resolution).

    Args:
        channels (`int`):
            Feature channels of the stage (divisible by `num_heads`).
        num_heads (`int`, *optional*, defaults to 2):
            Attention heads.
        max_tokens (`int`, *optional*, defaults to 2048):
            Most voxels per ear that attention runs on.

    Returns `(features, maps)` with `maps` of shape `(batch, 2, d, h, w)`: index 0 = left ear, 1 = right ear.
    """

    def __init__(self, channels: int, num_heads: int = 2, max_tokens: int = 2048):
        super().__init__()
        if channels % num_heads:
            raise ValueError(f"BilateralCrossAttention: channels ({channels}) must be divisible by num_heads "
                             f"({num_heads})")
        self.num_heads = num_heads
        self.max_tokens = max_tokens
        self.norm = nn.LayerNorm(channels)
        self.position = nn.Linear(6 * POSITION_FREQUENCIES, channels)
        self.query = nn.Linear(channels, channels)
        self.key = nn.Linear(channels, channels)
        self.value = nn.Linear(channels, channels)
        self.output = nn.Linear(channels, channels)
        self.gate = nn.Linear(2 * channels, channels)
        self.layer_scale = nn.Parameter(torch.zeros(channels))

    @classmethod
    def from_config(cls, channels: int, config: BiCPLVisionConfig) -> BilateralCrossAttention:
        return cls(channels, config.a3b_heads, config.a3b_max_tokens)

    def _attend(self, tokens: torch.Tensor, partner: torch.Tensor, grid: tuple[int, int, int]) -> torch.Tensor:
        """Multi-head cross-attention of `tokens` `(n, N, C)` on `partner`, both on `grid`; returns `(n, N, C)`."""
        n, length, channels = tokens.shape
        position = self.position(fourier_positions(grid, tokens.device, tokens.dtype))

        def heads(x: torch.Tensor) -> torch.Tensor:
            return x.view(n, length, self.num_heads, channels // self.num_heads).transpose(1, 2)

        attended = F.scaled_dot_product_attention(
            heads(self.query(tokens + position)), heads(self.key(partner + position)), heads(self.value(partner))
        )
        return self.output(attended.transpose(1, 2).reshape(n, length, channels))

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n, channels, *size = features.shape
        size = tuple(size)
        tokens = self.norm(features.flatten(2).transpose(1, 2))  # (2B, N, C), ears interleaved
        partner = partner_ears(tokens)
        difference = tokens - partner
        gate = torch.sigmoid(self.gate(torch.cat([difference, difference.abs()], dim=-1)))
        grid = attention_grid(size, self.max_tokens)
        if grid == size:
            message = self._attend(tokens, partner, size)
        else:
            coarse = F.adaptive_avg_pool3d(tokens.transpose(1, 2).reshape(n, channels, *size), grid)
            coarse = coarse.flatten(2).transpose(1, 2)
            message = self._attend(coarse, partner_ears(coarse), grid).transpose(1, 2).reshape(n, channels, *grid)
            message = F.interpolate(message, size=size, mode="trilinear", align_corners=False)
            message = message.flatten(2).transpose(1, 2)
        update = (self.layer_scale * gate * message).transpose(1, 2).reshape(features.shape)
        maps = gate.mean(-1).view(-1, 2, *size)
        return features + update, maps


# `BiCPLVisionConfig.a3b_mode` -> its block; every block is built by `from_config(channels, config)` and returns
# `(features, maps)`.
A3B_BLOCKS: dict[str, type[nn.Module]] = {"cross_attention": BilateralCrossAttention, "gate": AsymmetryAwareAttention}


def look_up_a3b_block(mode: str) -> type[nn.Module]:
    """The [`A3B_BLOCKS`] entry called `mode`; a `ValueError` listing the known modes otherwise."""
    return look_up_option(mode, A3B_BLOCKS, "BiCPLVisionConfig.a3b_mode")


class BiCPLSiameseEncoder(nn.Module):
    r"""
    ONE 3D backbone run on both ears as a batch of `2 * batch_size`, with an A3B block ([`BilateralCrossAttention`],
    or the v1 [`AsymmetryAwareAttention`], as `config.a3b_mode` says) after each stage that `config.a3b_stages`
    marks.

    Input `pixel_values` `(batch, 2, channels, D, H, W)` (index 0 = left ear, 1 = mirrored right ear); output the
    pooled per-ear features `(batch, 2, hidden_size)`, the last feature map and the A3B maps of every stage.

    Args:
        config ([`BiCPLVisionConfig`]):
            The encoder; `config.backbone` names the [`BACKBONES`] entry that builds the stem and stages.
        bilateral (`bool`, *optional*, defaults to `True`):
            `False` drops the A3B blocks, so each ear is encoded alone.
    """

    def __init__(self, config: BiCPLVisionConfig, bilateral: bool = True):
        super().__init__()
        self.config = config
        self.bilateral = bilateral
        # Keys `stem.*` and `stages.*` are those of every checkpoint saved so far: keep the attribute names.
        self.stem, self.stages, channels = look_up_backbone(config.backbone).build(config)
        block = look_up_a3b_block(config.a3b_mode)
        use_a3b = [flag and bilateral for flag in config.a3b_stages]
        self.asymmetry_blocks = nn.ModuleList(
            block.from_config(c, config) if flag else nn.Identity() for c, flag in zip(channels, use_a3b)
        )
        self.pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        batch_size = pixel_values.shape[0]
        # [left_0, right_0, left_1, right_1, ...]: one backbone call for both ears (weights shared by construction).
        hidden_states = self.stem(pixel_values.flatten(0, 1))
        maps = []
        for stage, a3b in zip(self.stages, self.asymmetry_blocks):
            hidden_states = stage(hidden_states)
            if not isinstance(a3b, nn.Identity):
                hidden_states, attention = a3b(hidden_states)
                maps.append(attention)
        pooled = self.pool(hidden_states).flatten(1).view(batch_size, 2, -1)
        return pooled, hidden_states, tuple(maps)


__all__ = [
    "A3B_BLOCKS",
    "AsymmetryAwareAttention",
    "BiCPLSiameseEncoder",
    "BilateralCrossAttention",
    "attention_grid",
    "look_up_a3b_block",
    "merge_ears",
    "partner_ears",
    "split_ears",
]
