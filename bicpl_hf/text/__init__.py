"""Text-tower tools: a character-level tokenizer for Chinese reports (`tokenization`) and LoRA on the text tower
(`lora`, loads `peft` on first use)."""

from __future__ import annotations

import importlib

_EXPORTS = {
    "SPECIAL_TOKENS": "tokenization",
    "build_char_tokenizer": "tokenization",
    "NON_TEXT_MODULES": "lora",
    "TEXT_ATTENTION_TARGETS": "lora",
    "apply_text_lora": "lora",
    "merge_text_lora": "lora",
}


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


__all__ = sorted(_EXPORTS)
