"""Bi-CPL: bilateral contrastive prototype learning for temporal-bone CT and Chinese reports, HuggingFace-native.

`import bicpl_hf` is light: each public name loads its module on first use, and the Bi-CPL classes are registered
with the transformers Auto classes and the pipeline factory as soon as transformers loads those (see
`bicpl_hf/_auto_registration.py`), so `AutoModel.from_pretrained(folder)` needs no `trust_remote_code`.
"""

from . import _auto_registration, _moved_modules
from ._lazy_exports import lazy_exports

_moved_modules.install()  # before the subpackages: modeling's same-folder import of the class table goes through it

__version__ = "0.1.0"

# Public name -> the submodule that owns it.
_EXPORTS = {
    **dict.fromkeys(("BiCPLConfig", "BiCPLVisionConfig"), "modeling.configuration_bicpl"),
    **dict.fromkeys(("BiCPLImageFeaturesOutput", "BiCPLModel", "BiCPLOutput", "BiCPLPreTrainedModel"),
                    "modeling.modeling_bicpl"),
    **dict.fromkeys(("AsymmetryAwareAttention", "BiCPLSiameseEncoder", "BilateralCrossAttention"),
                    "modeling.modeling_bicpl_vision"),
    "BiCPLProcessor": "processing.processing_bicpl",
    "BiCPLVolumeProcessor": "processing.image_processing_bicpl",
    **dict.fromkeys(("ParsedReport", "ReportParseError", "parse_report"), "processing.report_parser"),
    **dict.fromkeys(("VolumeReadError", "read_volume"), "processing.volume_io"),
    **dict.fromkeys(("make_model_card", "push_bundle", "push_dataset", "save_bundle"), "publishing.hub"),
    "calibrate_unseen_class_offset": "training.calibration",
    **dict.fromkeys(("EarDiagnosis", "ExamDiagnosis", "ZeroShotEarDiagnosisPipeline", "diagnose",
                     "register_pipeline"), "zero_shot.pipeline"),
    **dict.fromkeys(("PrototypeBundle", "add_class_by_text", "apply_prototypes", "load_prototypes",
                     "push_prototypes_to_hub", "save_prototypes"), "zero_shot.prototypes"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)


def register_auto_classes() -> None:
    """Register every Bi-CPL class with the transformers Auto factories and the pipeline task now (idempotent).

    `import bicpl_hf` already registers each one as soon as transformers loads the Auto class it extends; this
    imports them all at once.
    """
    _auto_registration.register_all()


__all__ = sorted({*_EXPORTS, "register_auto_classes"} - {"register_pipeline"})

_auto_registration.install()  # last: what transformers is already loaded for is registered now, from subpackages
