"""Bi-CPL model: configuration, Siamese 3D encoder with A3B, text tower, prototypes and losses.

Kept flat with same-folder relative imports so `save_pretrained` can ship these files as remote code.
"""

from .configuration_bicpl import BiCPLConfig, BiCPLVisionConfig
from .ear_classes import IGNORE_INDEX
from .modeling_bicpl import BiCPLImageFeaturesOutput, BiCPLModel, BiCPLOutput, BiCPLPreTrainedModel
from .modeling_bicpl_backbones import BACKBONES, BiCPLBackbone
from .modeling_bicpl_heads import BiCPLPrototypeHead
from .modeling_bicpl_vision import AsymmetryAwareAttention, BiCPLSiameseEncoder, BilateralCrossAttention

__all__ = [
    "BACKBONES",
    "IGNORE_INDEX",
    "AsymmetryAwareAttention",
    "BiCPLBackbone",
    "BiCPLConfig",
    "BiCPLImageFeaturesOutput",
    "BiCPLModel",
    "BiCPLOutput",
    "BiCPLPreTrainedModel",
    "BiCPLPrototypeHead",
    "BiCPLSiameseEncoder",
    "BiCPLVisionConfig",
    "BilateralCrossAttention",
]
