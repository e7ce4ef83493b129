"""Classes described by their findings (Bi-CPL v3): a class's prompts read into (entity, attribute) findings by the
report parser, so that a model with `config.zero_shot_scoring="findings"` scores a class it never trained on from the
findings its region head detects (`modeling_bicpl_regions.scored_from_findings`), whoever wrote the prompt: the
knowledge base, the benchmark's paraphrases or a user.

An English prompt is read by `english_prompts.english_findings` into the same findings ("fluid in the middle ear with
an air-fluid level"), the knowledge base's English names masked first. A prompt that states no finding but names one
disease of the knowledge base (a coded disease term the parser reads, not negated, e.g. "胆脂瘤", "考虑胆脂瘤可能", or one
of the disease's English names, "otitis media with effusion") is read as the knowledge base's description of that
disease, the prompts a candidate label gets: a name is scored as the knowledge base describes it, whichever words
name it. A prompt that states no finding and names no such disease keeps its text prototype, and `class_findings_of`
reports it rather than guessing.

Example:
    >>> sorted(prompt_findings(["上鼓室软组织影，盾板骨质破坏"]))
    [('epitympanum', 'soft_tissue'), ('scutum', 'bone_erosion')]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from ..knowledge.finding_vocabulary import ear_findings
from ..knowledge.knowledge_base import KnowledgeBase, class_prompts, load_knowledge_base
from ..processing.report_parser import ParsedReport, parse_report
from .english_prompts import english_disease_names, english_findings, is_english

logger = logging.getLogger(__name__)

_CONCLUSION = "检查结论："


def prompt_findings(prompts: Sequence[str], knowledge_base: KnowledgeBase | None = None) -> set[tuple[str, str]]:
    """The non-negated findings the prompts state (a sentence naming no side is about the ear being scored; an English
    prompt read by [`english_findings`], with `knowledge_base`'s English names masked); with a `knowledge_base`, a
    prompt that states none but names one of its diseases gives that disease's findings ([`named_disease_findings`])."""
    found: set[tuple[str, str]] = set()
    english_names = list(_english_owner(knowledge_base)) if knowledge_base is not None else []
    for index, prompt in enumerate(prompts):
        findings, _, impression = str(prompt).partition(_CONCLUSION)
        parsed = parse_report(findings=findings, impression=impression, source=f"prompt {index}")
        stated = ear_findings(parsed.triples, "left")[0]
        if not stated and is_english(str(prompt)):
            stated = english_findings(str(prompt), english_names)
        if not stated and knowledge_base is not None:
            stated = named_disease_findings(str(prompt), parsed, knowledge_base)
        found |= stated
    return found


def named_disease_findings(prompt: str, parsed: ParsedReport, knowledge_base: KnowledgeBase) -> set[tuple[str, str]]:
    """The findings of the knowledge base's prompts for the ONE disease `prompt` names: the whole prompt is one of its
    names (any language), or else the report parser read one coded disease term in it (`parsed`), not negated; empty
    when it names none or several (a differential diagnosis is not one class's description)."""
    name = prompt.strip().rstrip("。.；;，, ")
    if name in knowledge_base:
        keys = [name]
    elif is_english(prompt):
        owner = _english_owner(knowledge_base)
        keys = sorted({owner[n] for n, negated in english_disease_names(prompt, owner) if not negated})
    else:
        keys = sorted({m.code for m in parsed.disease_mentions if not m.negated and m.code is not None})
    if len(keys) != 1 or keys[0] not in knowledge_base:
        return set()
    disease = knowledge_base.get(keys[0])
    key = disease.code if disease.code is not None else disease.name_zh
    return prompt_findings(class_prompts(knowledge_base, [key])[str(key)])


def _english_owner(knowledge_base: KnowledgeBase) -> dict[str, str]:
    """English name (lower case) -> the `name_zh` of its disease, for the diseases with a lesion of their own: not a
    normal ear (no findings) nor a catch-all class other entries are filed under ("normal" and "other" are everyday
    English words)."""
    catch_all = {disease.parent_code for disease in knowledge_base if disease.parent_code is not None}
    return {name: disease.name_zh for disease in knowledge_base
            if disease.profile.location and disease.code not in catch_all for name in disease.names_en}


def class_findings_of(prompts_by_class: Mapping, knowledge_base: KnowledgeBase | None = None
                      ) -> dict[str, list[list[str]]]:
    """`{code: [[entity, attribute], ...]}` of every class whose prompts state findings, or name a disease of
    `knowledge_base` (`BiCPLConfig.class_findings`); a class whose prompts give none is left out, with a log line
    naming it."""
    table = {}
    for code, prompts in prompts_by_class.items():
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        findings = sorted(prompt_findings(prompts, knowledge_base))
        if findings:
            table[str(code)] = [list(f) for f in findings]
        else:
            logger.info("class %s: its prompts state no finding and name no known disease; it is scored by its text "
                        "prototype", code)
    return table


def untrained_class_findings(config, prompts_by_class: Mapping[int, Sequence[str]],
                             knowledge_base: KnowledgeBase | None = None) -> list | None:
    """For classes given as prompts to a model that scores zero-shot classes from findings: per class (in the order of
    `prompts_by_class`), its findings when it has no trained prototype in the model (a new code, or a frozen one), else
    None (its prototype scores it, as the benchmark scores a trained class). None for a prototype-scored model. A
    prompt naming a disease reads it in `knowledge_base` (default: the package's)."""
    if getattr(config, "zero_shot_scoring", "prototypes") != "findings":
        return None
    trained = set(config.class_codes) - set(config.frozen_prototype_codes)
    untrained = {code: prompts for code, prompts in prompts_by_class.items() if int(code) not in trained}
    if not untrained:
        return [None] * len(prompts_by_class)
    table = class_findings_of(untrained, knowledge_base if knowledge_base is not None else load_knowledge_base())
    return [table.get(str(code)) for code in prompts_by_class]


__all__ = ["class_findings_of", "named_disease_findings", "prompt_findings", "untrained_class_findings"]
