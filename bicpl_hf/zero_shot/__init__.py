"""Zero-shot diagnosis by text: prompt prototype bundles (`prototypes`) and the diagnosis pipeline (`pipeline`).

Names are loaded on first use, so importing one module of the subpackage does not import the others.
"""

from __future__ import annotations

from .._lazy_exports import lazy_exports

# Public name -> the submodule that owns it.
_EXPORTS = {
    "upsampled_asymmetry_map": "asymmetry_maps",
    **dict.fromkeys(("DEFAULT_PROMPTS_PER_CLASS", "candidate_label_prompts"), "candidate_labels"),
    **dict.fromkeys(("SIDES", "TASK", "EarDiagnosis", "ExamDiagnosis", "ZeroShotEarDiagnosisPipeline", "diagnose",
                     "register_pipeline", "resolve_classes"), "pipeline"),
    **dict.fromkeys(("PROMPT_STYLES", "encode_prompts_as_trained", "model_prompt_style", "prompts_in_model_style"),
                    "prompt_recipe"),
    **dict.fromkeys(("PROMPTS_FILE", "PROTOTYPES_FILE", "PrototypeBundle", "add_class_by_text", "apply_prototypes",
                     "check_model_prototypes", "check_repo_id", "load_prototypes", "prototype_bundle_from_model",
                     "push_prototypes_to_hub", "save_prototypes"), "prototypes"),
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
