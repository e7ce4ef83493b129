# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""transformers' zero-shot dialect for Bi-CPL: `candidate_labels` (disease names) -> prompt ensembles.

`pipeline("zero-shot-image-classification")` users name the classes (`candidate_labels=["cat", "dog"]`) and give a
`hypothesis_template` ("This is a photo of {}."). Bi-CPL's text tower reads Chinese radiology reports, so a bare
name is a poor prompt: each label is looked up in the otology knowledge base (Chinese name, synonym or English
name) and replaced by that disease's report-style prompt ensemble (`prompts_for`); `resolve_classes` then encodes the
ensemble as the model was trained to score a prompt (`prompt_recipe.encode_prompts_as_trained`).

`hypothesis_template` adds ONE prompt per class, the template filled with the Chinese name, to the ensemble (e.g.
"检查结论：{}。" gives "检查结论：中耳胆脂瘤。"); it must be a Chinese sentence with one `{}`, because an English
template would put English words into a Chinese-report text tower.

Example:
    >>> prompts, names = candidate_label_prompts(["胆脂瘤", "cholesterol granuloma"], hypothesis_template="检查结论：{}。")
    >>> names, prompts[2][-1]
    ({2: '中耳胆脂瘤', 4: '胆固醇肉芽肿'}, '检查结论：中耳胆脂瘤。')
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# The module, not the package: this file ships flat as the pipeline's remote code (`publishing.hub`).
from ..knowledge.knowledge_base import KnowledgeBase, load_knowledge_base, prompts_for

__all__ = ["DEFAULT_PROMPTS_PER_CLASS", "candidate_label_prompts"]

# Ensemble size per class: as many prompts as the training recipe's knowledge-base prompts (`class_prompts`).
DEFAULT_PROMPTS_PER_CLASS = 4
_CJK = re.compile(r"[\u4e00-\u9fff]")


def _check_template(template: str | None) -> None:
    if template is None:
        return
    if not isinstance(template, str) or template.count("{}") != 1:
        raise ValueError(f"hypothesis_template must be a string with exactly one '{{}}' for the disease name, got "
                         f"{template!r} (e.g. '检查结论：{{}}。')")
    if not _CJK.search(template.replace("{}", "")):
        raise ValueError(f"hypothesis_template {template!r} has no Chinese text: Bi-CPL's text tower reads Chinese "
                         "reports, so write the template as a report sentence, e.g. '检查结论：{}。'")


def candidate_label_prompts(
    candidate_labels: Sequence[str] | str,
    hypothesis_template: str | None = None,
    knowledge_base: KnowledgeBase | None = None,
    prompts_per_class: int = DEFAULT_PROMPTS_PER_CLASS,
) -> tuple[dict[int, list[str]], dict[int, str]]:
    """`(class code -> prompts, class code -> Chinese name)` for disease names resolved through the knowledge base.

    A disease with an export code keeps it; a disease without one (e.g. 面神经鞘瘤) gets the next free code above
    every code of the knowledge base, in the order given.

    Raises:
        ValueError: an unknown name (the message lists every known name), an empty or repeated label, or a bad
            `hypothesis_template`.
    """
    labels = [candidate_labels] if isinstance(candidate_labels, str) else list(candidate_labels)
    if not labels:
        raise ValueError("candidate_labels is empty: give at least one disease name, e.g. ['胆脂瘤', '正常']")
    _check_template(hypothesis_template)
    kb = knowledge_base if knowledge_base is not None else load_knowledge_base()
    next_code = max(kb.codes, default=0) + 1
    prompts: dict[int, list[str]] = {}
    names: dict[int, str] = {}
    for label in labels:
        if not isinstance(label, str) or not label.strip():
            raise ValueError(f"candidate_labels must be disease names (strings), got {label!r}")
        try:
            disease = kb.get(label)
        except KeyError:
            known = "; ".join(f"{d.name_zh} ({d.name_en})" + (f" = {', '.join(d.synonyms)}" if d.synonyms else "")
                              for d in kb)
            raise ValueError(f"candidate label {label!r} is not a disease of the knowledge base. Known names: "
                             f"{known}. For free text use class_prompts={{code: [prompt, ...]}} instead") from None
        if disease.name_zh in names.values():
            raise ValueError(f"candidate label {label!r} names {disease.name_zh!r}, which is already a candidate")
        if disease.code is not None:
            code = disease.code
        else:
            code, next_code = next_code, next_code + 1
        ensemble = prompts_for(disease, prompts_per_class)
        if hypothesis_template is not None:
            ensemble.append(hypothesis_template.format(disease.name_zh))
        prompts[code], names[code] = ensemble, disease.name_zh
    return prompts, names
