"""Classes described by their findings (Bi-CPL v3): a class's prompts read into (entity, attribute) findings by the
report parser, so that a model with `config.zero_shot_scoring="findings"` scores a class it never trained on from the
findings its region head detects (`modeling_bicpl_regions.scored_from_findings`), whoever wrote the prompt: the
knowledge base, the benchmark's paraphrases or a user.

A prompt the parser reads no finding from (a disease name alone, English) describes no finding: such a class keeps
its text prototype, and `class_findings_of` reports it rather than guessing.

Example:
    >>> sorted(prompt_findings(["上鼓室软组织影，盾板骨质破坏"]))
    [('epitympanum', 'soft_tissue'), ('scutum', 'bone_erosion')]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from ..knowledge.finding_vocabulary import ear_findings
from ..processing.report_parser import parse_report

logger = logging.getLogger(__name__)

_CONCLUSION = "检查结论："


def prompt_findings(prompts: Sequence[str]) -> set[tuple[str, str]]:
    """The non-negated findings the prompts state (a sentence naming no side is about the ear being scored)."""
    found: set[tuple[str, str]] = set()
    for index, prompt in enumerate(prompts):
        findings, _, impression = str(prompt).partition(_CONCLUSION)
        parsed = parse_report(findings=findings, impression=impression, source=f"prompt {index}")
        found |= ear_findings(parsed.triples, "left")[0]
    return found


def class_findings_of(class_prompts: Mapping) -> dict[str, list[list[str]]]:
    """`{code: [[entity, attribute], ...]}` of every class whose prompts state findings (`BiCPLConfig.class_findings`);
    a class whose prompts state none is left out, with a log line naming it."""
    table = {}
    for code, prompts in class_prompts.items():
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        findings = sorted(prompt_findings(prompts))
        if findings:
            table[str(code)] = [list(f) for f in findings]
        else:
            logger.info("class %s: its prompts state no finding; it is scored by its text prototype", code)
    return table


def untrained_class_findings(config, class_prompts: Mapping[int, Sequence[str]]) -> list | None:
    """For classes given as prompts to a model that scores zero-shot classes from findings: per class (in the order of
    `class_prompts`), its findings when it has no trained prototype in the model (a new code, or a frozen one), else
    None (its prototype scores it, as the benchmark scores a trained class). None for a prototype-scored model."""
    if getattr(config, "zero_shot_scoring", "prototypes") != "findings":
        return None
    trained = set(config.class_codes) - set(config.frozen_prototype_codes)
    table = class_findings_of({code: prompts for code, prompts in class_prompts.items() if int(code) not in trained})
    return [table.get(str(code)) for code in class_prompts]


__all__ = ["class_findings_of", "prompt_findings", "untrained_class_findings"]
