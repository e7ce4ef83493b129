"""LoRA on the text tower only, through `peft`.

The vision encoder, the projections, the contrastive temperature and the prototypes stay fully trainable (as peft
`modules_to_save`, so Trainer checkpoints of the PEFT model keep them), and `merge_text_lora` folds the adapters back
into a plain [`BiCPLModel`] whose checkpoint needs no peft.

A Trainer checkpoint of a LoRA run holds only what training changed (peft's `adapter_model.safetensors`); the text
tower it applies to is the run's base model, whose folder peft records in `adapter_config.json`
(`base_model_name_or_path`). `load_lora_checkpoint` loads such a checkpoint as a plain model.
"""

from __future__ import annotations

import os
from pathlib import Path

from peft import LoraConfig, PeftConfig, PeftModel, get_peft_model

from ..modeling import BiCPLModel

# Anchored on the text tower: the BERT-family attention projections and nothing in the vision encoder.
TEXT_ATTENTION_TARGETS = r"^text_model\.encoder\.layer\.\d+\.attention\.(self\.(query|key|value)|output\.dense)$"
NON_TEXT_MODULES = ["vision_model", "visual_projection", "text_projection", "contrastive_head", "prototype_head"]
LORA_BASE_FOLDER = "lora_base"  # in a LoRA run's output folder: the model its adapters apply to


def apply_text_lora(
    model: BiCPLModel,
    r: int = 8,
    lora_alpha: int = 16,
    lora_dropout: float = 0.05,
    target_modules: str = TEXT_ATTENTION_TARGETS,
) -> PeftModel:
    """Wrap `model` in a `PeftModel` with LoRA on the text tower's attention projections.

    Example:

    ```python
    >>> peft_model = apply_text_lora(model, r=8)
    >>> sorted(peft_model.targeted_module_names)[:1]
    ['text_model.encoder.layer.0.attention.output.dense']
    ```"""
    if not isinstance(model, BiCPLModel):
        raise TypeError(f"apply_text_lora expects a BiCPLModel, got {type(model).__name__}")
    config = LoraConfig(
        r=r,
        lora_alpha=lora_alpha,
        lora_dropout=lora_dropout,
        target_modules=target_modules,
        modules_to_save=list(NON_TEXT_MODULES),
        bias="none",
    )
    peft_model = get_peft_model(model, config)
    not_text = [name for name in peft_model.targeted_module_names if not name.startswith("text_model.")]
    if not peft_model.targeted_module_names or not_text:
        raise ValueError(
            f"LoRA target pattern {target_modules!r} must match text-tower modules only; matched "
            f"{peft_model.targeted_module_names or 'nothing'}"
        )
    return peft_model


def merge_text_lora(peft_model: PeftModel) -> BiCPLModel:
    """Fold the LoRA weights into the text tower and return the plain `BiCPLModel` (saveable without peft)."""
    merged = peft_model.merge_and_unload()
    if not isinstance(merged, BiCPLModel):
        raise TypeError(f"merged model is a {type(merged).__name__}, expected BiCPLModel")
    return merged


def load_lora_checkpoint(path: str | os.PathLike, **kwargs) -> BiCPLModel:
    """A LoRA run's checkpoint (peft's adapter, no config.json) as a plain [`BiCPLModel`]: its base model with the
    adapter merged in, i.e. what the run's `final` folder would hold at that step.

    The base is the folder recorded in `adapter_config.json`, else a `lora_base` folder beside the checkpoint or one
    level up (a run folder moved since training). `kwargs` (e.g. `dtype`) go to `BiCPLModel.from_pretrained`.

    Example:

    ```python
    >>> model = load_lora_checkpoint("runs/bicpl/checkpoint-20")  # doctest: +SKIP
    ```"""
    folder = Path(path)
    if not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} is not a LoRA checkpoint: adapter_config.json is missing")
    recorded = PeftConfig.from_pretrained(folder).base_model_name_or_path
    candidates = [Path(recorded)] if recorded else []
    candidates += [parent / LORA_BASE_FOLDER for parent in folder.resolve().parents[:2]]
    base = next((c for c in candidates if (c / "config.json").is_file()), None)
    if base is None:
        raise FileNotFoundError(f"{folder} is a LoRA checkpoint (adapter only) and the base model it applies to is "
                                f"missing: looked in {', '.join(map(str, dict.fromkeys(candidates)))} (`bicpl train "
                                f"--lora_r` saves it as {LORA_BASE_FOLDER}/ in --output_dir)")
    return merge_text_lora(PeftModel.from_pretrained(BiCPLModel.from_pretrained(base, **kwargs), folder))


__all__ = ["LORA_BASE_FOLDER", "TEXT_ATTENTION_TARGETS", "apply_text_lora", "load_lora_checkpoint",
           "merge_text_lora"]
