# Copyright 2026 The bicpl-hf authors. Licensed under the Apache License, Version 2.0.
"""Abnormality-dictionary hard negatives for one ear's text (CT-GLIP).

A hard negative is the positive text with exactly ONE thing changed, so the contrastive loss must look
at that thing:

- `attribute`: one finding flipped — an antonym (破坏 ↔ 完整, 硬化 ↔ 气化良好, 软组织影 ↔ 液体密度影,
  清晰 ↔ 混浊, 通畅 ↔ 狭窄 …) or its negation (见 ↔ 未见, 积液 ↔ 未见积液, 未见明显异常 → 见异常);
- `side`: every 左 ↔ 右 side word swapped (双侧 sentences stay), so the text is about the other ear;
- `disease`: one disease name swapped for another class's (胆脂瘤 ↔ 胆固醇肉芽肿 ↔ 慢性化脓性中耳炎 …).

Candidates are produced by string rules and then CHECKED with the report parser: an attribute edit is
kept only when exactly one entity–attribute triple differs (same structure and side, another attribute
or negation) and nothing else; a side edit only when every sided triple and disease mention moved to
the other ear and nothing else changed; a disease edit only when exactly one disease mention changed
its code. A rule whose result the parser reads differently (e.g. a negation that would also negate the
next finding of the clause) is dropped, never returned.

The texts are normalised first (`normalize_report_text`), so the negatives are in canonical form.

Example:
    >>> negatives = hard_negatives_with_edits("左侧鼓室内见软组织影，听小骨骨质破坏。左侧中耳胆脂瘤。", "left", n=3, rng=0)
    >>> sorted({edit.kind for _, edit in negatives})
    ['attribute', 'disease', 'side']
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from ..processing.report_lexicon import (
    ATTRIBUTE_KEYS,
    BACKWARD_NEGATION_CUES,
    DISEASE_CODES,
    NEGATION_CUES,
    NON_EAR_SIDE_PATTERN,
    SIDE_CUE_PATTERN,
    longest_first_pattern,
)
from ..processing.report_parser import EAR_SIDES, ParsedReport, normalize_report_text, parse_report

EditKind = Literal["attribute", "side", "disease"]

# Antonyms of attribute words (surface term -> replacement); every replacement is a lexicon term.
ATTRIBUTE_ANTONYMS: dict[str, str] = {
    "骨质破坏": "骨质完整", "骨质吸收": "骨质完整", "骨质侵蚀": "骨质完整", "骨质侵蚀性破坏": "骨质完整",
    "骨质缺损": "骨质完整", "破坏": "完整", "吸收": "完整", "侵蚀": "完整", "完整": "破坏",
    "硬化型": "气化型", "硬化": "气化良好", "气化良好": "硬化", "气化型": "硬化型", "板障型": "气化型",
    "气化不良": "气化良好", "气化差": "气化良好",
    "软组织密度影": "液体密度影", "软组织影": "液体密度影", "软组织密度": "液体密度", "液体密度影": "软组织密度影",
    "液体密度": "软组织密度", "积液": "软组织影",
    "边缘光滑": "边缘毛糙", "通畅": "狭窄", "狭窄": "通畅", "清晰": "混浊", "清楚": "混浊", "混浊": "清晰",
    "骨壁变薄": "骨壁增厚", "骨质变薄": "骨质增厚", "变薄": "增厚", "增厚": "变薄", "扩大": "狭窄", "增宽": "狭窄",
}
# Words that state a normal or a habitus (听骨链完整, 乳突气化良好): flipped by antonym only, since
# "未见完整" is not Chinese.
STATE_TERMS = frozenset({"完整", "通畅", "清晰", "清楚", "气化良好", "气化型", "硬化型", "板障型", "气化不良", "气化差",
                         "硬化", "骨质硬化", "边缘光滑", "毛糙", "异常"})
# Removing a negation cue: cue -> what replaces it.
NEGATION_REMOVALS: dict[str, str] = {
    "未见明显": "见", "未见确切": "见", "未见异常": "见异常", "未见": "见", "未显示": "显示", "未发现": "发现", "未示": "示",
    "未累及": "累及", "无明显": "见", "无": "见", "不伴": "伴", "没有": "有",
}
# One name per class for disease swaps (code 6 has two common tumours).
DISEASE_SWAP_NAMES: tuple[tuple[int, str], ...] = (
    (1, "慢性化脓性中耳炎"), (2, "中耳胆脂瘤"), (3, "分泌性中耳炎"), (4, "胆固醇肉芽肿"), (6, "面神经鞘瘤"), (6, "颈静脉球瘤"),
)
_OTHER_SIDE = {"left": "right", "right": "left"}
_SIDE_CHARACTER = {"左": "右", "右": "左"}
_ATTRIBUTE_PATTERN = longest_first_pattern(ATTRIBUTE_KEYS)
_DISEASE_PATTERN = longest_first_pattern(DISEASE_CODES)
_NEGATION_PATTERN = longest_first_pattern(NEGATION_CUES)
_BACKWARD_PATTERN = longest_first_pattern(BACKWARD_NEGATION_CUES)
_CLAUSE_BREAKS = "，。；！？\n"


@dataclass(frozen=True)
class HardNegativeEdit:
    """What one hard negative changed.

    Attributes:
        kind: "attribute", "side" or "disease".
        rule: the string rule applied, e.g. "破坏→完整", "见→未见", "+未见", "左→右", "中耳胆脂瘤→胆固醇肉芽肿".
        start: offset of the (first) edited span in the normalised positive text.
        detail: the change as the parser reads it, e.g. "ossicles: bone_erosion → intact".
    """

    kind: EditKind
    rule: str
    start: int
    detail: str


def _triples(parsed: ParsedReport) -> list[tuple]:
    return [(t.entity_key, t.attribute_key, t.side, t.negated) for t in parsed.triples]


def _mentions(parsed: ParsedReport) -> list[tuple]:
    return [(m.code, m.side, m.negated) for m in parsed.disease_mentions]


def _parse(text: str) -> ParsedReport:
    return parse_report(findings=text, source="hard negative")


def _clauses(text: str):
    """(start offset, clause text) of each clause (text between ，。；！？ and line breaks)."""
    start = 0
    for i, character in enumerate(text + "\n"):
        if character in _CLAUSE_BREAKS:
            if i > start:
                yield start, text[start:i]
            start = i + 1


def _attribute_candidates(text: str) -> list[tuple[int, int, str, str]]:
    """(start, end, replacement, rule) string edits, one finding at a time, before parser checking."""
    edits: list[tuple[int, int, str, str]] = []
    for offset, clause in _clauses(text):
        forward = [(m.start(), m.group()) for m in _NEGATION_PATTERN.finditer(clause)]
        backward = [(m.start(), m.group()) for m in _BACKWARD_PATTERN.finditer(clause)]
        previous_end = 0
        for attribute in _ATTRIBUTE_PATTERN.finditer(clause):
            term, a_start, a_end = attribute.group(), attribute.start(), attribute.end()
            cues_before = [(s, cue) for s, cue in forward if s <= a_start]
            cues_after = [(s, cue) for s, cue in backward if s >= a_end]
            if cues_before or cues_after:  # negated: remove the cue
                if cues_before:
                    s, cue = cues_before[-1]
                    if cue in NEGATION_REMOVALS:
                        replacement = NEGATION_REMOVALS[cue]
                        edits.append((offset + s, offset + s + len(cue), replacement, f"{cue}→{replacement}"))
                else:
                    s, cue = cues_after[0]
                    edits.append((offset + s, offset + s + len(cue), "", f"{cue}→"))
            else:
                if term in ATTRIBUTE_ANTONYMS:
                    edits.append((offset + a_start, offset + a_end, ATTRIBUTE_ANTONYMS[term],
                                  f"{term}→{ATTRIBUTE_ANTONYMS[term]}"))
                seen = clause.rfind("见", previous_end, a_start)
                if seen > 0 and clause[seen - 1] == "可":
                    edits.append((offset + seen - 1, offset + seen + 1, "未见", "可见→未见"))
                elif seen >= 0:
                    edits.append((offset + seen, offset + seen, "未", "见→未见"))
                elif term not in STATE_TERMS:
                    edits.append((offset + a_start, offset + a_start, "未见", "+未见"))
            previous_end = a_end
    return edits


def _apply(text: str, start: int, end: int, replacement: str) -> str:
    return text[:start] + replacement + text[end:]


def _check_attribute(positive: ParsedReport, negative: ParsedReport) -> str | None:
    """The one changed triple as "entity: before → after", or None when the edit is not exactly one triple."""
    before, after = _triples(positive), _triples(negative)
    if len(before) != len(after) or _mentions(positive) != _mentions(negative):
        return None
    changed = [i for i, (b, a) in enumerate(zip(before, after)) if b != a]
    if len(changed) != 1:
        return None
    b, a = before[changed[0]], after[changed[0]]
    if b[0] != a[0] or b[2] != a[2]:  # same structure, same side
        return None
    word = lambda triple: ("not " if triple[3] else "") + triple[1]  # noqa: E731
    return f"{b[0]}: {word(b)} → {word(a)}"


def _side_swap(text: str) -> tuple[str, int]:
    """The text with every left/right side cue swapped (bilateral cues and non-ear 左/右 kept); first offset."""
    masked = NON_EAR_SIDE_PATTERN.sub(lambda m: "□" * len(m.group()), text)
    characters, first = list(text), -1
    for cue in SIDE_CUE_PATTERN.finditer(masked):
        if cue.lastgroup in ("left", "right"):
            for i in range(cue.start(), cue.end()):
                if characters[i] in _SIDE_CHARACTER:
                    characters[i] = _SIDE_CHARACTER[characters[i]]
                    first = i if first < 0 else first
    return "".join(characters), first


def _check_side(positive: ParsedReport, negative: ParsedReport, side: str) -> bool:
    swap = lambda s: _OTHER_SIDE.get(s, s)  # noqa: E731
    before_t, before_m = _triples(positive), _mentions(positive)
    expected_t = [(e, a, swap(s), n) for e, a, s, n in before_t]
    expected_m = [(c, swap(s), n) for c, s, n in before_m]
    moved = any(item[-2] == side for item in before_t + before_m)
    return moved and _triples(negative) == expected_t and _mentions(negative) == expected_m


def _check_disease(positive: ParsedReport, negative: ParsedReport) -> bool:
    before, after = _mentions(positive), _mentions(negative)
    if _triples(positive) != _triples(negative) or len(before) != len(after):
        return False
    changed = [(b, a) for b, a in zip(before, after) if b != a]
    return len(changed) == 1 and changed[0][0][1:] == changed[0][1][1:] and changed[0][0][0] != changed[0][1][0]


@lru_cache(maxsize=8192)
def _verified_negatives(text: str, side: str) -> tuple[tuple[str, HardNegativeEdit], ...]:
    """Every parser-checked hard negative of a normalised text, in a fixed order.

    Cached, since the same side texts come back every epoch.
    """
    positive = _parse(text)
    found: list[tuple[str, HardNegativeEdit]] = []
    seen = {text}

    def keep(negative: str, edit: HardNegativeEdit) -> None:
        if negative not in seen:
            seen.add(negative)
            found.append((negative, edit))

    for start, end, replacement, rule in _attribute_candidates(text):
        negative = _apply(text, start, end, replacement)
        detail = _check_attribute(positive, _parse(negative)) if negative.strip() else None
        if detail is not None:
            keep(negative, HardNegativeEdit("attribute", rule, start, detail))

    swapped, first = _side_swap(text)
    if first >= 0 and _check_side(positive, _parse(swapped), side):
        other = _OTHER_SIDE[side]
        rule = "左→右" if side == "left" else "右→左"
        keep(swapped, HardNegativeEdit("side", rule, first, f"{side} → {other}"))

    for mention in _DISEASE_PATTERN.finditer(text):
        code = DISEASE_CODES[mention.group()]
        for other_code, name in DISEASE_SWAP_NAMES:
            if other_code == code:
                continue
            negative = _apply(text, mention.start(), mention.end(), name)
            if _check_disease(positive, _parse(negative)):
                keep(negative, HardNegativeEdit("disease", f"{mention.group()}→{name}", mention.start(),
                                                f"code {code} → {other_code}"))
    return tuple(found)


def hard_negatives_with_edits(
    text: str, side: str, n: int = 3, rng: np.random.Generator | int | None = None
) -> list[tuple[str, HardNegativeEdit]]:
    """Up to `n` hard negatives of one ear's text, each with the single edit that made it.

    Args:
        text: the text about ear `side` (e.g. `ParsedReport.side_texts[side]` or a summary).
        side: "left" or "right": the ear the text is about (a side edit moves it to the other ear).
        n: how many negatives. FEWER are returned when the text admits fewer checked edits (an empty
            text has none); the positive itself is never returned, and no negative twice.
        rng: a `numpy.random.Generator` or a seed (`numpy.random.default_rng` semantics; None draws fresh
            entropy). The same seed gives the same negatives.

    Returns:
        `[(negative text, HardNegativeEdit)]`; the edit kinds are interleaved (in an order drawn from
        `rng`) so a small `n` still mixes attribute, side and disease edits.

    Example:
        >>> [edit.kind for _, edit in hard_negatives_with_edits("右侧鼓室积液。", "right", n=5, rng=1)]
        ['attribute', 'side', 'attribute']
    """
    if side not in EAR_SIDES:
        raise ValueError(f"hard_negatives: side must be one of {EAR_SIDES}, got {side!r}")
    if not isinstance(text, str):
        raise TypeError(f"hard_negatives: text must be a str, got {type(text).__name__}")
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"hard_negatives: n must be a non-negative integer, got {n!r}")
    normalized = normalize_report_text(text)
    if not normalized or n == 0:
        return []
    generator = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    by_kind: dict[str, list[tuple[str, HardNegativeEdit]]] = {}
    for negative, edit in _verified_negatives(normalized, side):
        by_kind.setdefault(edit.kind, []).append((negative, edit))
    kinds = sorted(by_kind)
    kinds = [kinds[i] for i in generator.permutation(len(kinds))]
    queues = [[by_kind[k][i] for i in generator.permutation(len(by_kind[k]))] for k in kinds]
    chosen: list[tuple[str, HardNegativeEdit]] = []
    while len(chosen) < n and any(queues):
        for queue in queues:
            if queue and len(chosen) < n:
                chosen.append(queue.pop(0))
    return chosen


def hard_negatives(text: str, side: str, n: int = 3, rng: np.random.Generator | int | None = None) -> list[str]:
    """Up to `n` hard-negative texts for one ear's text; see `hard_negatives_with_edits` (same seed, same texts).

    Example:
        >>> hard_negatives("左侧乳突气化良好。", "left", n=2, rng=0)
        ['左侧乳突硬化。', '右侧乳突气化良好。']
    """
    return [negative for negative, _ in hard_negatives_with_edits(text, side, n, rng)]
