# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Siamese 3D ear encoder of Bi-CPL: one backbone for both ears, asymmetry-aware attention after each stage."""

from __future__ import annotations

import torch
from torch import nn

from .configuration_bicpl import BiCPLVisionConfig
from .modeling_bicpl_backbones import look_up_backbone


def split_ears(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a Siamese batch laid out `[left_0, right_0, left_1, right_1, ...]` into (left, right)."""
    paired = features.unflatten(0, (-1, 2))
    return paired[:, 0], paired[:, 1]


def merge_ears(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
    """Inverse of [`split_ears`]."""
    return torch.stack((left, right), dim=1).flatten(0, 1)


class AsymmetryAwareAttention(nn.Module):
    r"""Asymmetry-aware attention block (A3B).

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

    def forward(self, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        left, right = split_ears(features)
        # Both directions in one convolution call: [L - R, R - L] interleaved like the input batch.
        attention = torch.sigmoid(self.difference_conv(merge_ears(left - right, right - left)))
        maps = attention.squeeze(1).unflatten(0, (-1, 2))
        return features * (1.0 + attention), maps


class BiCPLSiameseEncoder(nn.Module):
    r"""
    ONE 3D backbone run on both ears as a batch of `2 * batch_size`, with an [`AsymmetryAwareAttention`] block after
    each stage that `config.a3b_stages` marks.

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
        use_a3b = [flag and bilateral for flag in config.a3b_stages]
        self.asymmetry_blocks = nn.ModuleList(
            AsymmetryAwareAttention(c, config.a3b_kernel_size) if flag else nn.Identity()
            for c, flag in zip(channels, use_a3b)
        )
        self.pool = nn.AdaptiveAvgPool3d(1)

    def forward(self, pixel_values: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...]]:
        batch_size = pixel_values.shape[0]
        # [left_0, right_0, left_1, right_1, ...]: one backbone call for both ears (weights shared by construction).
        hidden_states = self.stem(pixel_values.flatten(0, 1))
        maps = []
        for stage, a3b in zip(self.stages, self.asymmetry_blocks):
            hidden_states = stage(hidden_states)
            if isinstance(a3b, AsymmetryAwareAttention):
                hidden_states, attention = a3b(hidden_states)
                maps.append(attention)
        pooled = self.pool(hidden_states).flatten(1).view(batch_size, 2, -1)
        return pooled, hidden_states, tuple(maps)


__all__ = ["AsymmetryAwareAttention", "BiCPLSiameseEncoder", "merge_ears", "split_ears"]
