"""Bi-CPL: bilateral contrastive prototype learning for temporal-bone CT and Chinese reports, HuggingFace-native.

Importing the package registers `BiCPLConfig` / `BiCPLModel` (and the processors, when present) with the
transformers Auto classes; registering again is a no-op.
"""

from transformers import AutoConfig, AutoModel

from .modeling import (
    AsymmetryAwareAttention,
    BiCPLConfig,
    BiCPLImageFeaturesOutput,
    BiCPLModel,
    BiCPLOutput,
    BiCPLPreTrainedModel,
    BiCPLSiameseEncoder,
    BiCPLVisionConfig,
)

__version__ = "0.1.0"


def register_auto_classes() -> None:
    """Register the Bi-CPL classes with the transformers Auto factories (idempotent)."""
    AutoConfig.register(BiCPLConfig.model_type, BiCPLConfig, exist_ok=True)
    AutoConfig.register(BiCPLVisionConfig.model_type, BiCPLVisionConfig, exist_ok=True)
    AutoModel.register(BiCPLConfig, BiCPLModel, exist_ok=True)


register_auto_classes()

__all__ = [
    "AsymmetryAwareAttention",
    "BiCPLConfig",
    "BiCPLImageFeaturesOutput",
    "BiCPLModel",
    "BiCPLOutput",
    "BiCPLPreTrainedModel",
    "BiCPLSiameseEncoder",
    "BiCPLVisionConfig",
    "register_auto_classes",
]
