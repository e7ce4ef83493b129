"""Weak per-ear codes from a parsed report (the rules are listed in `report_parser.py`'s docstring).

`weak_codes_of` reads the codes from one section (the impression, or the findings when the impression
is empty); `normal_in_findings` tells whether the findings call an ear the impression leaves unnamed
normal. Both take the parser's per-sentence analyses and only read them.

Example:
    >>> from bicpl_hf.processing.report_parser import parse_report
    >>> parse_report(findings="左侧鼓室积液。右侧中耳乳突未见异常。", impression="左侧分泌性中耳炎。").weak_codes
    {'left': 3, 'right': 5}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .ear_classes import NORMAL_CODE
from .report_lexicon import (
    CODE_PRIORITY,
    LESION_ATTRIBUTE_KEYS,
    MIDDLE_EAR_SCOPE_KEYS,
    NORMAL_DESCRIPTOR_KEYS,
    NORMAL_VARIANT_KEYS,
    REST_NORMAL_CUE,
)

if TYPE_CHECKING:
    from .report_parser import Section, _SentenceAnalysis

__all__ = ["EAR_SIDES", "normal_in_findings", "weak_codes_of"]

EAR_SIDES: tuple[str, str] = ("left", "right")

# A code named only as the differential of another diagnosis of that side yields to it (see DIFFERENTIAL_CUES).
_STATED, _DIFFERENTIAL = 0, 1
_NORMAL_DESCRIBED_KEYS = frozenset({"middle_ear", "tympanic_cavity", "epitympanum", "antrum", "mastoid", "ossicles"})


def _lesion_sides(analyses: list[_SentenceAnalysis], section: Section) -> set[str]:
    """Ears with a non-negated lesion or disease in an ear clause of `section`; a side-less one counts for both."""
    sides: set[str] = set()
    for analysis in analyses:
        if analysis.sentence.section != section or analysis.history:
            continue
        found = [t.side for t in analysis.triples if not t.negated and t.attribute_key in LESION_ATTRIBUTE_KEYS
                 and t.clause_index not in analysis.non_ear_clauses]
        found += [m.side for m in analysis.mentions if not m.negated and m.code != NORMAL_CODE
                  and m.clause_index not in analysis.non_ear_clauses]
        for side in found:
            sides.update(EAR_SIDES if side in (None, "bilateral") else (side,))
    return sides


def _is_ear_clause(analysis: _SentenceAnalysis, clause_index: int) -> bool:
    return not analysis.history and clause_index not in analysis.non_ear_clauses


def _is_normal_variant(analysis: _SentenceAnalysis, clause_index: int) -> bool:
    """The clause calls a mastoid poorly pneumatised or diploic (乳突气化不良, 乳突呈板障型)."""
    return any(t.clause_index == clause_index and not t.negated and t.entity_key == "mastoid"
               and t.attribute_key in NORMAL_VARIANT_KEYS for t in analysis.triples)


def weak_codes_of(
    analyses: list[_SentenceAnalysis], section: Section
) -> tuple[dict[str, int | None], dict[str, bool], list[str]]:
    """Weak per-ear codes read from `section`, whether each is hedged, and notes on every choice made."""
    # (code, rank, term, hedged) per ear
    candidates: dict[str, list[tuple[int, int, str, bool]]] = {ear: [] for ear in EAR_SIDES}
    sideless: list[tuple[int, int, str, bool]] = []
    rest_normal: list[tuple[int, int, str, bool]] = []
    variants: list[tuple[str | None, str]] = []  # (side, clause) of a normal-variant mastoid
    lesions = _lesion_sides(analyses, section) if section == "findings" else set()
    notes: list[str] = []
    for analysis in analyses:
        if analysis.sentence.section != section:
            continue
        if not analysis.history:
            notes.extend(f"{section}: {note}" for note in analysis.notes)
        for clause_index, clause in enumerate(analysis.sentence.clauses):
            if not _is_ear_clause(analysis, clause_index):
                continue
            if _is_normal_variant(analysis, clause_index):
                variants.append((clause.side, clause.text))
            clause_mentions = [m for m in analysis.mentions if m.clause_index == clause_index]
            found = [(m.code, _DIFFERENTIAL if m.differential else _STATED, m.term, m.uncertain)
                     for m in clause_mentions if not m.negated]
            keys = analysis.entity_keys[clause_index]
            if clause.normal_statement and not clause_mentions and (not keys or keys & MIDDLE_EAR_SCOPE_KEYS):
                normal = (NORMAL_CODE, _STATED, clause.text, clause.uncertain)
                if REST_NORMAL_CUE.search(clause.text):  # 余颞骨未见异常: the ears nothing else names
                    rest_normal.append(normal)
                    continue
                ears = EAR_SIDES if clause.side in (None, "bilateral") else (clause.side,)
                if not any(ear in lesions for ear in ears):  # findings: a side with a lesion is not normal
                    found.append(normal)
            if clause.side is None:
                sideless.extend(found)
            else:
                for ear in EAR_SIDES if clause.side == "bilateral" else (clause.side,):
                    candidates[ear].extend(found)

    if sideless:
        names_a_side = any(
            c.side is not None for a in analyses if a.sentence.section == section for c in a.sentence.clauses
        )
        if not names_a_side and all(c[0] == NORMAL_CODE for c in sideless):
            notes.append(f"{section} states the exam is normal without naming a side; both ears get code {NORMAL_CODE}")
            for ear in EAR_SIDES:
                candidates[ear].extend(sideless)
        else:
            terms = "、".join(c[2] for c in sideless)
            notes.append(f"{section} names {terms!r} without a side; not assigned to either ear")
    for ear in EAR_SIDES:
        if rest_normal and not candidates[ear]:
            notes.append(f"{ear}: code {NORMAL_CODE} from {rest_normal[0][2]!r} (the rest of the exam is normal)")
            candidates[ear].extend(rest_normal)
    _add_normal_variants(analyses, section, variants, candidates, notes)

    codes: dict[str, int | None] = {}
    uncertain: dict[str, bool] = {}
    for ear in EAR_SIDES:
        if not candidates[ear]:
            codes[ear], uncertain[ear] = None, False
            continue
        best = min(c[1] for c in candidates[ear])
        present = {c[0] for c in candidates[ear] if c[1] == best}
        chosen = min(present, key=CODE_PRIORITY.index)
        codes[ear] = chosen
        uncertain[ear] = all(c[3] for c in candidates[ear] if c[0] == chosen and c[1] == best)
        if len(present) > 1:
            priority = " > ".join(str(c) for c in CODE_PRIORITY)
            notes.append(f"{ear}: codes {sorted(present)} mentioned; chose {chosen} by priority {priority}")
        differentials = {c[0] for c in candidates[ear]} - present
        if differentials:
            notes.append(f"{ear}: chose {chosen}; {sorted(differentials)} named only as a differential diagnosis")
    return codes, uncertain, notes


def _add_normal_variants(analyses: list[_SentenceAnalysis], section: Section, variants: list[tuple[str | None, str]],
                         candidates: dict[str, list[tuple[int, int, str, bool]]], notes: list[str]) -> None:
    """Code 5 for an ear nothing else codes whose mastoid `section` calls a normal variant, with no lesion on that
    side in the findings or in `section` (a side-less variant counts for both ears when `section` names no side)."""
    if not variants:
        return
    names_a_side = any(c.side is not None for a in analyses if a.sentence.section == section for c in a.sentence.clauses)
    lesions = _lesion_sides(analyses, "findings") | _lesion_sides(analyses, section)
    for ear in EAR_SIDES:
        texts = [text for side, text in variants
                 if side in (ear, "bilateral") or (side is None and not names_a_side)]
        if texts and not candidates[ear] and ear not in lesions:
            notes.append(f"{ear}: code {NORMAL_CODE} from {texts[0]!r} (a normal variant of the mastoid, no lesion)")
            candidates[ear].append((NORMAL_CODE, _STATED, texts[0], False))


def normal_in_findings(analyses: list[_SentenceAnalysis], ear: str) -> str | None:
    """Why the findings call `ear` normal, or None: a 未见异常-style statement about that side (or both
    sides) of the middle ear, a normal-variant mastoid (乳突气化不良, 板障型), or normal descriptors (清晰,
    气化良好, 完整) on two middle-ear structures; in each case with no lesion on that side."""
    if ear in _lesion_sides(analyses, "findings"):
        return None
    described: set[str] = set()
    for analysis in analyses:
        if analysis.sentence.section != "findings" or analysis.history:
            continue
        for clause_index, clause in enumerate(analysis.sentence.clauses):
            if clause.side not in (ear, "bilateral") or not _is_ear_clause(analysis, clause_index):
                continue
            keys = analysis.entity_keys[clause_index]
            if clause.normal_statement and (not keys or keys & MIDDLE_EAR_SCOPE_KEYS):
                return f"the findings state {clause.text!r}"
            if _is_normal_variant(analysis, clause_index):
                return f"the findings state {clause.text!r}, a normal variant of the mastoid, and no lesion"
        described |= {t.entity_key for t in analysis.triples
                      if t.side in (ear, "bilateral") and not t.negated and t.attribute_key in NORMAL_DESCRIPTOR_KEYS
                      and t.entity_key in _NORMAL_DESCRIBED_KEYS}
    if len(described) >= 2:
        return f"the findings describe its {'、'.join(sorted(described))} as normal and no lesion"
    return None
