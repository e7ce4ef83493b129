"""Entity–attribute pairs of one clause, for `report_parser` (which turns them into `Finding` triples).

Example:
    >>> import re
    >>> from bicpl_hf.processing.report_lexicon import ENTITY_KEYS, longest_first_pattern
    >>> segment = "鼓室及鼓窦内见软组织影"
    >>> pairs(segment, list(longest_first_pattern(ENTITY_KEYS).finditer(segment)), [], [], [])
    [('鼓室', '软组织影', False), ('鼓窦', '软组织影', False)]
"""

from __future__ import annotations

import re

from .report_lexicon import ATTRIBUTE_KEYS, longest_first_pattern

__all__ = ["is_negated_at", "pairs"]

_ATTRIBUTE_PATTERN = longest_first_pattern(ATTRIBUTE_KEYS)
_ENTITY_CONNECTOR = re.compile(r"[内腔区部]?(?:及其|以及|及|和|与|、|或|并)?[内腔区部]?")


def is_negated_at(position: int, end: int, forward: list[int], backward: list[int]) -> bool:
    """Whether a term at [position, end) is negated by a forward cue before it or a backward cue after it."""
    return any(cue <= position for cue in forward) or any(cue >= end for cue in backward)


def pairs(
    segment: str,
    entities: list[re.Match[str]],
    carried: list[re.Match[str]],
    forward: list[int],
    backward: list[int],
) -> list[tuple[str, str, bool]]:
    """(entity, attribute, negated) for each attribute of a clause; `carried` serves a clause with no entity."""
    pairs: list[tuple[str, str, bool]] = []
    seen: set[tuple[str, str, bool]] = set()
    for attribute in _ATTRIBUTE_PATTERN.finditer(segment):
        negated = is_negated_at(attribute.start(), attribute.end(), forward, backward)
        for entity in _entities_for(attribute, entities, segment) or carried:
            key = (entity.group(), ATTRIBUTE_KEYS[attribute.group()], negated)  # 骨质吸收破坏 → one triple
            if key not in seen:
                seen.add(key)
                pairs.append((entity.group(), attribute.group(), negated))
    return pairs


def _entities_for(attribute: re.Match[str], entities: list[re.Match[str]], segment: str) -> list[re.Match[str]]:
    """The entity group an attribute describes: the nearest group before it, else the first after it.

    Entities joined only by 及/和/与/、 form one group (鼓室及鼓窦内见软组织影 → both).
    """
    groups: list[list[re.Match[str]]] = []
    for entity in entities:
        if groups and _ENTITY_CONNECTOR.fullmatch(segment[groups[-1][-1].end(): entity.start()]):
            groups[-1].append(entity)
        else:
            groups.append([entity])
    before = [g for g in groups if g[-1].end() <= attribute.start()]
    if before:
        return before[-1]
    after = [g for g in groups if g[0].start() >= attribute.end()]
    return after[0] if after else []
