# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Prompt paraphrases per ear class (DESIGN.md §7, "prompt wording"): how much does a zero-shot score depend on the
words of its prompt?

`prompt_paraphrases.json` holds, per class code 1-6, prompts written apart from the knowledge base's prompt
ensembles and the synthetic report generator's templates, of five kinds: `name` (the disease name alone),
`english`, `hedged` (考虑…可能, 不除外, 待除外), `descriptive` (the CT findings of the disease as a radiologist
writes them, in other words) and `long` (a full findings paragraph). The benchmark scores each paraphrase as one
prompt set (`bicpl_hf.training.evaluation.prompt_cosines`) and reports mean, sd and minimum.

Example:
    >>> paraphrases = load_prompt_paraphrases()
    >>> sorted(paraphrases)
    [1, 2, 3, 4, 5, 6]
    >>> paraphrases[2][0]
    {'text': '胆脂瘤', 'kind': 'name'}
"""

from __future__ import annotations

import json
import os
from pathlib import Path

PARAPHRASES_FILE = Path(__file__).with_name("prompt_paraphrases.json")
PARAPHRASE_KINDS = ("name", "english", "hedged", "descriptive", "long")

__all__ = ["PARAPHRASES_FILE", "PARAPHRASE_KINDS", "load_prompt_paraphrases"]


def load_prompt_paraphrases(path: str | os.PathLike | None = None) -> dict[int, list[dict[str, str]]]:
    """`{code: [{"text": ..., "kind": ...}, ...]}` from `prompt_paraphrases.json` (or `path`, same format).

    Raises:
        ValueError: a malformed file (the message names it and the entry), an unknown kind or an empty text.
    """
    path = Path(path) if path is not None else PARAPHRASES_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error
    classes = data.get("classes") if isinstance(data, dict) else None
    if not isinstance(classes, dict) or not classes:
        raise ValueError(f"{path} must hold an object with a non-empty 'classes' object of code -> paraphrases")
    out: dict[int, list[dict[str, str]]] = {}
    for key, items in classes.items():
        if not str(key).lstrip("-").isdigit():
            raise ValueError(f"{path}: class key {key!r} is not an integer code")
        if not isinstance(items, list) or not items:
            raise ValueError(f"{path}: class {key} needs a non-empty list of paraphrases")
        entries = []
        for i, item in enumerate(items):
            text, kind = (item.get("text"), item.get("kind")) if isinstance(item, dict) else (None, None)
            if not isinstance(text, str) or not text.strip():
                raise ValueError(f"{path}: class {key} paraphrase {i} needs a non-empty 'text', got {item!r}")
            if kind not in PARAPHRASE_KINDS:
                raise ValueError(f"{path}: class {key} paraphrase {i} has kind {kind!r}; expected one of "
                                 f"{', '.join(PARAPHRASE_KINDS)}")
            entries.append({"text": text.strip(), "kind": kind})
        out[int(key)] = entries
    return out
