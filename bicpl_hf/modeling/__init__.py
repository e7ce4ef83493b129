"""Bi-CPL model: configuration, Siamese 3D encoder with A3B, text tower, prototypes and losses.

Kept flat with same-folder relative imports so `save_pretrained` can ship these files as remote code. Names are
loaded on first use, so the configuration (what `AutoConfig` registers) comes without torch's model stack and MONAI.
"""

from __future__ import annotations

from .._lazy_exports import lazy_exports

# Public name -> the submodule that owns it.
_EXPORTS = {
    **dict.fromkeys(("BiCPLConfig", "BiCPLVisionConfig"), "configuration_bicpl"),
    "IGNORE_INDEX": "ear_classes",
    **dict.fromkeys(("BiCPLImageFeaturesOutput", "BiCPLModel", "BiCPLOutput", "BiCPLPreTrainedModel"), "modeling_bicpl"),
    **dict.fromkeys(("BACKBONES", "BiCPLBackbone"), "modeling_bicpl_backbones"),
    "BiCPLPrototypeHead": "modeling_bicpl_heads",
    **dict.fromkeys(("AsymmetryAwareAttention", "BiCPLSiameseEncoder", "BilateralCrossAttention"),
                    "modeling_bicpl_vision"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

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
