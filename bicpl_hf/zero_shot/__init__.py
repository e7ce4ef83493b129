"""Zero-shot diagnosis by text: prompt prototype bundles (`prototypes`) and the diagnosis pipeline (`pipeline`)."""

from .asymmetry_maps import upsampled_asymmetry_map
from .candidate_labels import DEFAULT_PROMPTS_PER_CLASS, candidate_label_prompts
from .pipeline import (
    SIDES,
    TASK,
    EarDiagnosis,
    ExamDiagnosis,
    ZeroShotEarDiagnosisPipeline,
    diagnose,
    register_pipeline,
    resolve_classes,
)
from .prompt_recipe import PROMPT_STYLES, encode_prompts_as_trained, model_prompt_style, prompts_in_model_style
from .prototypes import (
    PROMPTS_FILE,
    PROTOTYPES_FILE,
    PrototypeBundle,
    add_class_by_text,
    apply_prototypes,
    check_model_prototypes,
    check_repo_id,
    load_prototypes,
    prototype_bundle_from_model,
    push_prototypes_to_hub,
    save_prototypes,
)

__all__ = [
    "DEFAULT_PROMPTS_PER_CLASS",
    "EarDiagnosis",
    "ExamDiagnosis",
    "PROMPTS_FILE",
    "PROMPT_STYLES",
    "PROTOTYPES_FILE",
    "PrototypeBundle",
    "SIDES",
    "TASK",
    "ZeroShotEarDiagnosisPipeline",
    "add_class_by_text",
    "apply_prototypes",
    "check_model_prototypes",
    "candidate_label_prompts",
    "check_repo_id",
    "diagnose",
    "encode_prompts_as_trained",
    "load_prototypes",
    "model_prompt_style",
    "prototype_bundle_from_model",
    "prompts_in_model_style",
    "push_prototypes_to_hub",
    "register_pipeline",
    "resolve_classes",
    "save_prototypes",
    "upsampled_asymmetry_map",
]
