# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Knowledge and report semantics for Bi-CPL: the otology knowledge base, per-ear report summaries,
abnormality-dictionary hard negatives and attribute-overlap soft labels.

- `knowledge_base`: diseases over a fixed CT attribute taxonomy (`otology_kb.yaml`), prompt ensembles,
  knowledge-bank texts, zero-shot class adding.
- `summaries`: normalised per-ear summaries (BrgSA) and the text each ear is aligned with.
- `hard_negatives`: one-edit negatives of an ear's text (CT-GLIP).
- `soft_labels`: multi-hot finding vectors, Jaccard overlap and soft contrastive targets (Ultrasound-CLIP).

Example:
    >>> from bicpl_hf.knowledge import class_prompts, load_knowledge_base
    >>> prompts = class_prompts(load_knowledge_base(), [1, 2, 3, 4, 5, 6])
    >>> len(prompts["2"])
    4
"""

from .hard_negatives import HardNegativeEdit, hard_negatives, hard_negatives_with_edits
from .knowledge_base import (
    ATTRIBUTE_TEXTS,
    DEFAULT_KNOWLEDGE_BASE,
    LOCATIONS,
    MAX_PROMPTS,
    TAXONOMY,
    Disease,
    DiseaseProfile,
    KnowledgeBase,
    KnowledgeBaseError,
    add_disease_to_model,
    attribute_texts,
    class_prompts,
    disease_from_mapping,
    disease_from_profile,
    load_knowledge_base,
    prompts_for,
)
from .soft_labels import ATTRIBUTE_VOCABULARY, attribute_overlap, attribute_vector, side_findings, soft_targets
from .summaries import side_texts_for, summarize_report, summarize_side

__all__ = [
    "ATTRIBUTE_TEXTS",
    "ATTRIBUTE_VOCABULARY",
    "DEFAULT_KNOWLEDGE_BASE",
    "Disease",
    "DiseaseProfile",
    "HardNegativeEdit",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "LOCATIONS",
    "MAX_PROMPTS",
    "TAXONOMY",
    "add_disease_to_model",
    "attribute_overlap",
    "attribute_texts",
    "attribute_vector",
    "class_prompts",
    "disease_from_mapping",
    "disease_from_profile",
    "hard_negatives",
    "hard_negatives_with_edits",
    "load_knowledge_base",
    "prompts_for",
    "side_findings",
    "side_texts_for",
    "soft_targets",
    "summarize_report",
    "summarize_side",
]
