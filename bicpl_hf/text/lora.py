"""LoRA on the text tower only, through `peft`.

The vision encoder, the projections, the contrastive temperature and the prototypes stay fully trainable (as peft
`modules_to_save`, so Trainer checkpoints of the PEFT model keep them), and `merge_text_lora` folds the adapters back
into a plain [`BiCPLModel`] whose checkpoint needs no peft.
"""

from __future__ import annotations

from peft import LoraConfig, PeftModel, get_peft_model

from ..modeling import BiCPLModel

# Anchored on the text tower: the BERT-family attention projections and nothing in the vision encoder.
TEXT_ATTENTION_TARGETS = r"^text_model\.encoder\.layer\.\d+\.attention\.(self\.(query|key|value)|output\.dense)$"
NON_TEXT_MODULES = ["vision_model", "visual_projection", "text_projection", "contrastive_head", "prototype_head"]


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


__all__ = ["TEXT_ATTENTION_TARGETS", "apply_text_lora", "merge_text_lora"]
