"""Text-tower tools: a character-level tokenizer for Chinese reports (`tokenization`), LoRA on the text tower
(`lora`, loads `peft` on first use) and offline pretraining on a local corpus (`pretraining`)."""

from __future__ import annotations

from .._lazy_exports import lazy_exports

_EXPORTS = {
    "SPECIAL_TOKENS": "tokenization",
    "build_char_tokenizer": "tokenization",
    "LORA_BASE_FOLDER": "lora",
    "NON_TEXT_MODULES": "lora",
    "TEXT_ATTENTION_TARGETS": "lora",
    "apply_text_lora": "lora",
    "load_lora_checkpoint": "lora",
    "merge_text_lora": "lora",
    "PretrainingCorpus": "pretraining",
    "pretraining_corpus": "pretraining",
    "pretrain_text_tower": "pretraining",
}


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
