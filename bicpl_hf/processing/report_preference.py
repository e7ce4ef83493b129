"""Which diagnosis a differential prefers, for `report_parser` (the cues are in `report_lexicon.py`).

A sentence such as 考虑胆脂瘤或慢性中耳炎，前者可能性大 names two diagnoses of one ear and says which is more
likely. `prefer_stated` marks the other diagnoses of that sentence (on the same side) as differentials
(`DiseaseMention.differential`), so that the ear's weak code is the preferred one rather than the one
`CODE_PRIORITY` ranks first. Cues: 前者/后者可能性大 (or 可能性小, 倾向于前者), 以X可能性大 / 以X为主,
倾向(于)X, X可能性较大/更大.

Example:
    >>> from bicpl_hf.processing.report_parser import parse_report
    >>> parse_report(impression="左侧中耳考虑胆脂瘤或慢性中耳炎，后者可能性大。").weak_codes
    {'left': 1, 'right': None}
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .report_lexicon import (
    DISEASE_CODES,
    PREFERRED_AFTER,
    PREFERRED_BEFORE,
    PREFERRED_NAMED,
    REFERENT_PREFERRED,
    REFERENT_UNLIKELY,
    longest_first_pattern,
)

if TYPE_CHECKING:
    from .report_parser import DiseaseMention, ReportSentence

__all__ = ["prefer_stated"]

_DISEASE = longest_first_pattern(DISEASE_CODES)
_REFERENT, _NAMED = 1, 0  # at the same place, a 前者/后者 cue outranks a named one


def _overlap(a: str | None, b: str | None) -> bool:
    return a is None or b is None or a == b or "bilateral" in (a, b)


def _referent(live: list[tuple[tuple[int, int], DiseaseMention]], at: tuple[int, int], word: str,
              unlikely: bool) -> DiseaseMention | None:
    """The mention 前者/后者 at `at` prefers: of the last two diagnoses (codes) named before it."""
    last: dict[int, DiseaseMention] = {}
    for position, mention in live:
        if position < at:
            last.pop(mention.code, None)
            last[mention.code] = mention  # ordered by last occurrence
    if len(last) < 2:
        return None
    former, latter = list(last.values())[-2:]
    named, other = (former, latter) if word == "前者" else (latter, former)
    return other if unlikely else named


def prefer_stated(sentence: ReportSentence, mentions: list[DiseaseMention]) -> list[str]:
    """Mark the diagnoses `sentence` calls less likely as differentials; returns a note per preference made."""
    live_mentions = [m for m in mentions if not m.negated]
    if len({m.code for m in live_mentions}) < 2:
        return []
    live: list[tuple[tuple[int, int], DiseaseMention]] = []
    for index, clause in enumerate(sentence.clauses):
        in_clause = [m for m in mentions if m.clause_index == index]
        for mention, match in zip(in_clause, _DISEASE.finditer(clause.text)):
            if not mention.negated:
                live.append(((index, match.start()), mention))
    choices: list[tuple[tuple[int, int, int], DiseaseMention, str]] = []
    for index, clause in enumerate(sentence.clauses):
        here = [(position[1], m) for position, m in live if position[0] == index]
        for pattern, unlikely in ((REFERENT_UNLIKELY, True), (REFERENT_PREFERRED, False)):
            for cue in pattern.finditer(clause.text):
                chosen = _referent(live, (index, cue.start()), cue.group("a") or cue.group("b"), unlikely)
                if chosen is not None:
                    choices.append(((index, cue.end(), _REFERENT), chosen, cue.group()))
        for cue in PREFERRED_NAMED.finditer(clause.text):
            inside = [m for start, m in here if cue.start("named") <= start < cue.end("named")]
            if inside:
                choices.append(((index, cue.end(), _NAMED), inside[0], cue.group()))
        for cue in PREFERRED_AFTER.finditer(clause.text):
            after = [m for start, m in here if start >= cue.end()]
            if after:
                choices.append(((index, cue.end(), _NAMED), after[0], cue.group() + after[0].term))
        for cue in PREFERRED_BEFORE.finditer(clause.text):
            before = [m for start, m in here if start < cue.start()]
            if before:
                choices.append(((index, cue.end(), _NAMED), before[-1], before[-1].term + cue.group()))
    if not choices:
        return []
    _, preferred, cue_text = max(choices, key=lambda choice: choice[0])  # the last cue of the sentence
    demoted: set[int] = set()
    for mention in live_mentions:
        if not _overlap(mention.side, preferred.side):
            continue
        if mention.code == preferred.code:
            mention.differential = False
        else:
            mention.differential = True
            demoted.add(mention.code)
    if not demoted:
        return []
    return [f"{cue_text!r} prefers {preferred.term} (code {preferred.code}) to code(s) {sorted(demoted)} "
            f"named in {sentence.text!r}"]
