# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""One zero-shot computation: a user's prompts are scored the way the model was trained to score a prompt.

A model's `config.prompt_style` says how its class prompts were written when it was trained (`"report"`: as written;
`"findings"`: each prompt rewritten as its findings; `"composed"`: a class's prompts split into one prompt per
distinct finding, the prototype being the mean of their embeddings, Bi-CPL v2). Every path that turns prompts into
prototypes goes through [`prompts_in_model_style`] / [`encode_prompts_as_trained`]: the pipeline's `class_prompts`
and `candidate_labels`, `diagnose()`, `bicpl diagnose --labels/--prompts`, `add_class_by_text` and the benchmark
(`bicpl_hf.training.evaluation.prompt_cosines`, the Bi-CPL v2 variant's own prompts).

`config.class_prompts` always holds prompts already in the model's style (the benchmark rewrites them before it
builds the model; `add_class_by_text` rewrites a new class's prompts before storing them), so re-encoding them
(`BiCPLModel.initialize_prototypes`, after the text tower changes or a reload) gives the same prototypes. Rewriting is
idempotent: prompts already in the style are unchanged.

Example:
    >>> prompts_in_model_style({2: ["上鼓室软组织密度影，盾板骨质破坏。检查结论：中耳胆脂瘤。", "胆脂瘤"]}, "composed")
    {2: ['上鼓室软组织影', '盾板骨质破坏', '胆脂瘤']}
    >>> prompts_in_model_style({2: "胆脂瘤"}, "report")
    {2: ['胆脂瘤']}
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

from ..modeling.configuration_bicpl import PROMPT_STYLES

__all__ = ["PROMPT_STYLES", "encode_prompts_as_trained", "model_prompt_style", "prompts_in_model_style"]


def model_prompt_style(model_or_config) -> str:
    """The `prompt_style` of a model (or its config); `"report"` for a config saved before the field existed."""
    config = getattr(model_or_config, "config", model_or_config)
    return getattr(config, "prompt_style", None) or "report"


def prompts_in_model_style(prompts: Mapping, prompt_style: str) -> dict:
    """`{code: [prompt, ...]}` rewritten as a model of `prompt_style` encodes them (codes kept as given, a single
    string counts as one prompt, repeated texts dropped): `"report"` as written, `"findings"` with
    `bicpl_hf.knowledge.finding_vocabulary.finding_prompts`, `"composed"` with `composed_prompts`. A prompt that
    states no finding and not a normal ear (a disease name alone, English, a hedged diagnosis) is kept as written.

    Raises:
        ValueError: an unknown style, or a class without prompts.
    """
    if prompt_style not in PROMPT_STYLES:
        raise ValueError(f"prompt_style must be one of {', '.join(map(repr, PROMPT_STYLES))}, got {prompt_style!r}")
    rewrite = None
    if prompt_style != "report":
        from ..knowledge.finding_vocabulary import composed_prompts, finding_prompts

        rewrite = finding_prompts if prompt_style == "findings" else composed_prompts
    out = {}
    for code, texts in prompts.items():
        texts = [texts] if isinstance(texts, str) else list(texts)
        if not texts or not all(isinstance(t, str) and t.strip() for t in texts):
            raise ValueError(f"class {code!r} needs a non-empty list of prompt strings, got {texts!r}")
        out[code] = list(dict.fromkeys(rewrite(texts) if rewrite is not None else [str(t) for t in texts]))
    return out


@torch.no_grad()
def encode_prompts_as_trained(model, tokenizer, class_prompts: Mapping) -> torch.Tensor:
    """Text prototypes `(len(class_prompts), projection_dim)` of `{code: [prompt, ...]}`, the prompts rewritten in
    the model's `config.prompt_style` first ([`prompts_in_model_style`]), in the order of `class_prompts`."""
    style = model_prompt_style(model)
    return model.encode_class_prompts(tokenizer, prompts_in_model_style(class_prompts, style))
