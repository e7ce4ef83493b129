# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Findings as the unit of alignment (Bi-CPL proposal §4.2.2): entity–attribute pairs, their canonical phrases, the
per-ear finding labels of a report, and class prompts written as findings.

A *finding* is an (entity key, attribute key) pair of the report parser, e.g. ("scutum", "bone_erosion"), written as
one canonical phrase ("盾板骨质破坏") with the words of [`summaries`]. An ear's findings are the parser's
non-negated triples about that ear; the findings its report explicitly negates ("未见骨质破坏") are kept apart, so a
negated finding is a negative and never a positive.

A class described by its findings composes from findings seen in other classes: [`finding_prompts`] rewrites a
class prompt as its findings (the style of the ears' own side texts, no disease name, no "检查结论"), and
[`composed_prompts`] splits it into one prompt per finding, so that the class prototype is the mean of its findings'
embeddings (`BiCPLModel.encode_class_prompts` averages a prompt ensemble).

Example:
    >>> from bicpl_hf.processing import parse_report
    >>> parsed = parse_report(findings="左侧上鼓室见软组织影，盾板骨质破坏，未见积液。右侧鼓室清晰。",
    ...                       impression="左侧中耳胆脂瘤。")
    >>> sorted(ear_findings(parsed.triples, "left")[0])
    [('epitympanum', 'soft_tissue'), ('scutum', 'bone_erosion')]
    >>> finding_phrase(("scutum", "bone_erosion"))
    '盾板骨质破坏'
    >>> finding_prompts(["上鼓室软组织密度影，盾板骨质破坏。检查结论：中耳胆脂瘤。"])
    ['上鼓室软组织影，盾板骨质破坏']
    >>> composed_prompts(["上鼓室软组织密度影，盾板骨质破坏。检查结论：中耳胆脂瘤。"])
    ['上鼓室软组织影', '盾板骨质破坏']
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from ..processing.ear_classes import NORMAL_CODE
from ..processing.report_lexicon import NORMAL_DESCRIPTOR_KEYS
from ..processing.report_parser import EAR_SIDES, parse_report
from .summaries import ATTRIBUTE_WORDS, ENTITY_GROUPS, NORMAL_SUMMARY, SIDE_HEADERS, summarize_side

Finding = tuple[str, str]  # (entity key, attribute key)
_ENTITY_WORDS = {key: word for group in ENTITY_GROUPS for key, word in group.items()}
_CONCLUSION = "检查结论："


def _about(triple: Mapping, side: str) -> bool:
    # A sentence that names no side is about both ears, as in `ParsedReport.side_texts`.
    return triple.get("side") in (side, "bilateral", None) and triple.get("attribute_key") in ATTRIBUTE_WORDS


def _get(triple, name: str):
    return triple.get(name) if isinstance(triple, Mapping) else getattr(triple, name)


def ear_findings(triples: Iterable, side: str) -> tuple[set[Finding], set[Finding]]:
    """`(present, negated)` findings of ear `side` from parser triples (`ParsedReport.triples` or the builder's
    `findings_triples` column, dicts with `entity_key`, `attribute_key`, `side`, `negated`). A finding both stated and
    negated about one ear (e.g. one sentence per side of a "bilateral" phrase) counts as present."""
    if side not in EAR_SIDES:
        raise ValueError(f"side must be one of {EAR_SIDES}, got {side!r}")
    present, negated = set(), set()
    for triple in triples:
        item = {name: _get(triple, name) for name in ("entity_key", "attribute_key", "side", "negated")}
        if not _about(item, side):
            continue
        (negated if item["negated"] else present).add((item["entity_key"], item["attribute_key"]))
    return present, negated - present


def finding_phrase(finding: Finding) -> str:
    """The canonical phrase of a finding: entity word + attribute word ("上鼓室" + "软组织影")."""
    entity, attribute = finding
    if attribute not in ATTRIBUTE_WORDS:
        raise ValueError(f"finding {finding}: attribute {attribute!r} is not one of {sorted(ATTRIBUTE_WORDS)}")
    return _ENTITY_WORDS.get(entity, entity) + ATTRIBUTE_WORDS[attribute]


def finding_vocabulary(triples_per_exam: Iterable[Iterable], min_ears: int = 3) -> tuple[Finding, ...]:
    """The findings present in at least `min_ears` ears of a training split, in a fixed order (most frequent first,
    ties by key), from each exam's triples (the `findings_triples` column)."""
    counts: Counter = Counter()
    for triples in triples_per_exam:
        triples = list(triples)
        for side in EAR_SIDES:
            counts.update(ear_findings(triples, side)[0])
    kept = [f for f, n in counts.items() if n >= min_ears]
    if not kept:
        raise ValueError(f"no finding is present in {min_ears} or more ears: cannot build a finding vocabulary")
    return tuple(sorted(kept, key=lambda f: (-counts[f], f)))


def finding_labels(triples: Iterable, vocabulary: Sequence[Finding], ignore_index: float = -100.0) -> np.ndarray:
    """`(2, len(vocabulary))` float32 labels of one exam's ears (left, right): 1 present, 0 negated or not mentioned
    (a report lists what it sees: an unmentioned finding is taken as absent), `ignore_index` never."""
    triples = list(triples)
    index = {finding: i for i, finding in enumerate(vocabulary)}
    labels = np.zeros((2, len(vocabulary)), dtype=np.float32)
    for row, side in enumerate(EAR_SIDES):
        for finding in ear_findings(triples, side)[0]:
            if finding in index:
                labels[row, index[finding]] = 1.0
    return labels


def side_findings_text(summary: str) -> str:
    """The findings of a stored per-ear summary (`summarize_side`) without its side header and conclusion: the
    negation-aware ear text in the style of [`finding_prompts`] ("中耳未见明显异常" when it states no finding)."""
    body = summary
    for header in SIDE_HEADERS.values():
        if body.startswith(header + "："):
            body = body[len(header) + 1 :]
            break
    body = body.split(_CONCLUSION, 1)[0].rstrip("。；， ")
    return body or NORMAL_SUMMARY


def _parse_prompt(prompt: str, index: int):
    """A class prompt ("<findings>检查结论：<impression>") parsed as a report about no particular side."""
    findings, _, impression = prompt.partition(_CONCLUSION)
    return parse_report(findings=findings, impression=impression, source=f"prompt {index}")


def states_normal(parsed) -> bool:
    """Whether a parsed prompt describes a normal ear: a 未见异常-style statement, a normal descriptor (清晰, 气化良好,
    通畅, 完整), a normal impression or weak code, and no disease named without negation. A prompt that states no
    finding and not this (a disease name alone, "考虑胆脂瘤可能", an English sentence) is NOT a normal ear."""
    if any(not m.negated and m.code != NORMAL_CODE for m in parsed.disease_mentions):
        return False
    return (any(clause.normal_statement for sentence in parsed.sentences for clause in sentence.clauses)
            or any(not t.negated and t.attribute_key in NORMAL_DESCRIPTOR_KEYS for t in parsed.triples)
            or any(not m.negated and m.code == NORMAL_CODE for m in parsed.disease_mentions)
            or NORMAL_CODE in parsed.weak_codes.values())


def _states_findings(parsed) -> bool:
    return any(not t.negated and t.attribute_key in ATTRIBUTE_WORDS for t in parsed.triples)


def finding_prompts(prompts: Sequence[str]) -> list[str]:
    """Each class prompt rewritten as its findings, as the side texts of [`side_findings_text`] read: parsed, the
    negated findings and the disease names dropped. A prompt that states no finding becomes "中耳未见明显异常" when it
    describes a normal ear ([`states_normal`]) and is kept as written otherwise (a disease name alone, English, a
    hedged diagnosis: never silently the normal ear's text)."""
    rewritten = []
    for i, prompt in enumerate(prompts):
        parsed = _parse_prompt(prompt, i)
        if not _states_findings(parsed) and not states_normal(parsed):
            rewritten.append(prompt.strip())
        else:
            rewritten.append(side_findings_text(summarize_side(parsed, "left", with_impression=False)))
    return rewritten


def composed_prompts(prompts: Sequence[str]) -> list[str]:
    """The distinct findings of a class's prompts, one phrase per prompt (in order of first mention): the class
    prototype becomes the mean embedding of its findings. A prompt that states no finding adds "中耳未见明显异常" when
    it describes a normal ear ([`states_normal`]) and its own text otherwise (a disease name alone, English, a hedged
    diagnosis are encoded as written, never as the normal ear). Composing composed prompts changes nothing.

    Example:
        >>> composed_prompts(["胆脂瘤", "上鼓室软组织影。", "中耳未见明显异常。"])
        ['胆脂瘤', '上鼓室软组织影', '中耳未见明显异常']
    """
    phrases: list[str] = []
    for i, prompt in enumerate(prompts):
        parsed = _parse_prompt(prompt, i)
        found = [finding_phrase((t.entity_key, t.attribute_key)) for t in parsed.triples
                 if not t.negated and t.attribute_key in ATTRIBUTE_WORDS]
        if not found:
            found = [NORMAL_SUMMARY if states_normal(parsed) else prompt.strip()]
        phrases += [phrase for phrase in found if phrase not in phrases]
    return phrases


__all__ = [
    "Finding",
    "composed_prompts",
    "ear_findings",
    "finding_labels",
    "finding_phrase",
    "finding_prompts",
    "finding_vocabulary",
    "side_findings_text",
    "states_normal",
]
