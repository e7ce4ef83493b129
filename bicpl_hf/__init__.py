"""Bi-CPL: bilateral contrastive prototype learning for temporal-bone CT and Chinese reports, HuggingFace-native.

Importing the package registers `BiCPLConfig` / `BiCPLModel` (and the processors, when present) with the
transformers Auto classes; registering again is a no-op.
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoProcessor

from . import _moved_modules

_moved_modules.install()  # before the subpackages: modeling's same-folder import of the class table goes through it

from .modeling import (  # noqa: E402
    AsymmetryAwareAttention,
    BiCPLConfig,
    BiCPLImageFeaturesOutput,
    BiCPLModel,
    BiCPLOutput,
    BiCPLPreTrainedModel,
    BiCPLSiameseEncoder,
    BiCPLVisionConfig,
    BilateralCrossAttention,
)
from .processing import (  # noqa: E402
    BiCPLProcessor,
    BiCPLVolumeProcessor,
    ParsedReport,
    ReportParseError,
    VolumeReadError,
    parse_report,
    read_volume,
)
from .publishing.hub import make_model_card, push_bundle, push_dataset, save_bundle  # noqa: E402
from .training.calibration import calibrate_unseen_class_offset  # noqa: E402
from .zero_shot import (  # noqa: E402
    EarDiagnosis,
    ExamDiagnosis,
    PrototypeBundle,
    ZeroShotEarDiagnosisPipeline,
    add_class_by_text,
    apply_prototypes,
    diagnose,
    load_prototypes,
    push_prototypes_to_hub,
    register_pipeline,
    save_prototypes,
)

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
    "BilateralCrossAttention",
    "register_auto_classes",
]
