# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Siamese 3D ear encoder of Bi-CPL: one backbone for both ears, asymmetry-aware attention after each stage."""

from __future__ import annotations

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from monai.networks.nets.swin_unetr import SwinTransformer
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

from .configuration_bicpl import BiCPLVisionConfig


def _monai_norm(norm: str, channels: int):
    if norm == "group":
        return ("group", {"num_groups": min(8, channels)})
    return norm


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
        channels (`int`): feature channels of the stage.
        kernel_size (`int`): kernel of the difference convolution.

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


class BiCPLResNetStage(GradientCheckpointingLayer):
    """One stage of the 3D ResNet: MONAI residual units, the first one strided."""

    def __init__(self, in_channels: int, out_channels: int, depth: int, stride: int, norm: str):
        super().__init__()
        units = []
        for i in range(depth):
            units.append(
                ResidualUnit(
                    spatial_dims=3,
                    in_channels=in_channels if i == 0 else out_channels,
                    out_channels=out_channels,
                    strides=stride if i == 0 else 1,
                    subunits=2,
                    act="RELU",
                    norm=_monai_norm(norm, out_channels),
                )
            )
        self.units = nn.Sequential(*units)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.units(hidden_states)


class BiCPLSwinStage(GradientCheckpointingLayer):
    """Wraps one MONAI Swin `BasicLayer` (blocks + patch merging) so it can be checkpointed and followed by A3B."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.layer = layer

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.layer(hidden_states.contiguous())


class BiCPLSiameseEncoder(nn.Module):
    """ONE 3D backbone run on both ears as a batch of `2 * batch_size`, with A3B between the two branches.

    Input `pixel_values` `(batch, 2, channels, D, H, W)` (index 0 = left ear, 1 = mirrored right ear); output the
    pooled per-ear features `(batch, 2, hidden_size)`, the last feature map and the A3B maps of every stage.
    """

    def __init__(self, config: BiCPLVisionConfig, bilateral: bool = True):
        super().__init__()
        self.config = config
        self.bilateral = bilateral
        channels = config.stage_channels
        if config.backbone == "resnet":
            self.stem = Convolution(
                spatial_dims=3,
                in_channels=config.in_channels,
                out_channels=config.stem_channels,
                strides=config.stem_stride,
                kernel_size=3,
                act="RELU",
                norm=_monai_norm(config.norm, config.stem_channels),
            )
            in_channels = [config.stem_channels] + channels[:-1]
            self.stages = nn.ModuleList(
                BiCPLResNetStage(c_in, c_out, depth, stride, config.norm)
                for c_in, c_out, depth, stride in zip(in_channels, channels, config.depths, config.stage_strides)
            )
        else:
            swin = SwinTransformer(
                in_chans=config.in_channels,
                embed_dim=config.swin_feature_size,
                window_size=[config.swin_window_size] * 3,
                patch_size=[2, 2, 2],
                depths=config.swin_depths,
                num_heads=config.swin_num_heads,
                spatial_dims=3,
                drop_path_rate=0.0,
            )
            self.stem = nn.Sequential(swin.patch_embed, swin.pos_drop)
            self.stages = nn.ModuleList(
                BiCPLSwinStage(getattr(swin, f"layers{i + 1}")[0]) for i in range(len(config.swin_depths))
            )
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


__all__ = ["AsymmetryAwareAttention", "BiCPLSiameseEncoder", "split_ears", "merge_ears"]
