# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Backbones of the Bi-CPL ear encoder, looked up by name: a new backbone is one entry of [`BACKBONES`]."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch
from monai.networks.blocks import Convolution, ResidualUnit
from monai.networks.nets.swin_unetr import SwinTransformer
from torch import nn
from transformers.modeling_layers import GradientCheckpointingLayer

if TYPE_CHECKING:
    from .configuration_bicpl import BiCPLVisionConfig


def look_up_option(value: Any, supported: Mapping[str, Any], name: str) -> Any:
    """`supported[value]`, or a `ValueError` naming the option and listing the known values (MONAI's
    `look_up_option`, with the field named)."""
    if isinstance(value, str) and value in supported:
        return supported[value]
    raise ValueError(f"{name} must be one of {sorted(supported)}, got {value!r}")


def _monai_norm(norm: str, channels: int):
    if norm == "group":
        return ("group", {"num_groups": min(8, channels)})
    return norm


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


class BiCPLBackbone:
    r"""
    One entry of [`BACKBONES`]: how a backbone checks its fields of [`BiCPLVisionConfig`], how wide its stages are
    and how it is built. Subclasses implement `stage_channels` and `build`; `check` is optional.
    """

    @staticmethod
    def check(config: BiCPLVisionConfig) -> None:
        """Raise a `ValueError` naming the field when the backbone's config fields do not fit together."""

    @staticmethod
    def stage_channels(config: BiCPLVisionConfig) -> list[int]:
        """Output channels of each stage (known before building: the config derives `hidden_size` from them)."""
        raise NotImplementedError

    @classmethod
    def build(cls, config: BiCPLVisionConfig) -> tuple[nn.Module, nn.ModuleList, list[int]]:
        """Returns `(stem, stages, stage_channels)`; the encoder runs the stem once, then every stage."""
        raise NotImplementedError


class BiCPLResNetBackbone(BiCPLBackbone):
    """A small 3D ResNet of MONAI `ResidualUnit`s: a strided stem convolution, then one strided stage per width."""

    @staticmethod
    def check(config: BiCPLVisionConfig) -> None:
        if not len(config.hidden_sizes) == len(config.depths) == len(config.stage_strides):
            raise ValueError(
                "BiCPLVisionConfig: hidden_sizes, depths and stage_strides must have one entry per stage, got "
                f"{len(config.hidden_sizes)}, {len(config.depths)} and {len(config.stage_strides)}"
            )

    @staticmethod
    def stage_channels(config: BiCPLVisionConfig) -> list[int]:
        return list(config.hidden_sizes)

    @classmethod
    def build(cls, config: BiCPLVisionConfig) -> tuple[nn.Module, nn.ModuleList, list[int]]:
        stem = Convolution(
            spatial_dims=3,
            in_channels=config.in_channels,
            out_channels=config.stem_channels,
            strides=config.stem_stride,
            kernel_size=3,
            act="RELU",
            norm=_monai_norm(config.norm, config.stem_channels),
        )
        channels = cls.stage_channels(config)
        in_channels = [config.stem_channels] + channels[:-1]
        stages = nn.ModuleList(
            BiCPLResNetStage(c_in, c_out, depth, stride, config.norm)
            for c_in, c_out, depth, stride in zip(in_channels, channels, config.depths, config.stage_strides)
        )
        return stem, stages, channels


class BiCPLSwinBackbone(BiCPLBackbone):
    """MONAI's 3D Swin transformer encoder (patch size 2): its patch embedding is the stem, each `BasicLayer` a
    stage that ends in patch merging (so stage `i` has `swin_feature_size * 2 ** (i + 1)` channels)."""

    @staticmethod
    def check(config: BiCPLVisionConfig) -> None:
        if config.swin_feature_size % 12:
            raise ValueError(f"swin_feature_size must be a multiple of 12, got {config.swin_feature_size}")
        if len(config.swin_depths) != len(config.swin_num_heads):
            raise ValueError("swin_depths and swin_num_heads must have the same length")

    @staticmethod
    def stage_channels(config: BiCPLVisionConfig) -> list[int]:
        return [config.swin_feature_size * 2 ** (i + 1) for i in range(len(config.swin_depths))]

    @classmethod
    def build(cls, config: BiCPLVisionConfig) -> tuple[nn.Module, nn.ModuleList, list[int]]:
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
        stem = nn.Sequential(swin.patch_embed, swin.pos_drop)
        layers = (getattr(swin, f"layers{i + 1}")[0] for i in range(len(config.swin_depths)))
        stages = nn.ModuleList(BiCPLSwinStage(layer) for layer in layers)
        return stem, stages, cls.stage_channels(config)


# `BiCPLVisionConfig.backbone` -> its entry. A new backbone: one `BiCPLBackbone` subclass and one line here.
BACKBONES: dict[str, type[BiCPLBackbone]] = {"resnet": BiCPLResNetBackbone, "swin": BiCPLSwinBackbone}


def look_up_backbone(name: str) -> type[BiCPLBackbone]:
    """The [`BACKBONES`] entry called `name`; a `ValueError` listing the known names otherwise."""
    return look_up_option(name, BACKBONES, "BiCPLVisionConfig.backbone")


__all__ = [
    "BACKBONES",
    "BiCPLBackbone",
    "BiCPLResNetBackbone",
    "BiCPLResNetStage",
    "BiCPLSwinBackbone",
    "BiCPLSwinStage",
    "look_up_backbone",
    "look_up_option",
]
