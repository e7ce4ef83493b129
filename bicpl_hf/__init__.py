"""Bi-CPL: bilateral contrastive prototype learning for temporal-bone CT and Chinese reports, HuggingFace-native.

Importing the package registers `BiCPLConfig` / `BiCPLModel` (and the processors, when present) with the
transformers Auto classes; registering again is a no-op.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoProcessor

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
from .processing import (
    BiCPLProcessor,
    BiCPLVolumeProcessor,
    ParsedReport,
    ReportParseError,
    VolumeReadError,
    parse_report,
    read_volume,
)
from .calibration import calibrate_unseen_class_offset
from .hub import make_model_card, push_bundle, push_dataset, save_bundle
from .prototypes import (
    PrototypeBundle,
    add_class_by_text,
    apply_prototypes,
    load_prototypes,
    push_prototypes_to_hub,
    save_prototypes,
)
from .zero_shot import EarDiagnosis, ExamDiagnosis, ZeroShotEarDiagnosisPipeline, diagnose, register_pipeline

__version__ = "0.1.0"


def register_auto_classes() -> None:
    """Register the Bi-CPL classes with the transformers Auto factories and the pipeline task (idempotent)."""
    AutoConfig.register(BiCPLConfig.model_type, BiCPLConfig, exist_ok=True)
    AutoConfig.register(BiCPLVisionConfig.model_type, BiCPLVisionConfig, exist_ok=True)
    AutoModel.register(BiCPLConfig, BiCPLModel, exist_ok=True)
    AutoImageProcessor.register(BiCPLConfig, image_processor_classes={"pil": BiCPLVolumeProcessor}, exist_ok=True)
    AutoProcessor.register(BiCPLConfig, BiCPLProcessor, exist_ok=True)
    register_pipeline()


register_auto_classes()

__all__ = [
    "AsymmetryAwareAttention",
    "BiCPLProcessor",
    "BiCPLVolumeProcessor",
    "EarDiagnosis",
    "PrototypeBundle",
    "add_class_by_text",
    "calibrate_unseen_class_offset",
    "apply_prototypes",
    "load_prototypes",
    "make_model_card",
    "push_bundle",
    "push_dataset",
    "push_prototypes_to_hub",
    "save_bundle",
    "save_prototypes",
    "ExamDiagnosis",
    "ParsedReport",
    "ReportParseError",
    "VolumeReadError",
    "ZeroShotEarDiagnosisPipeline",
    "diagnose",
    "parse_report",
    "read_volume",
    "BiCPLConfig",
    "BiCPLImageFeaturesOutput",
    "BiCPLModel",
    "BiCPLOutput",
    "BiCPLPreTrainedModel",
    "BiCPLSiameseEncoder",
    "BiCPLVisionConfig",
    "register_auto_classes",
]
