"""Parser for Chinese temporal-bone CT reports (影像所见 findings + 检查结论 impression).

It turns a report into what Bi-CPL trains on: sentences and clauses with their laterality, negation
and hedging, entity–attribute–side triples (听小骨 + 骨质吸收 + left), the text about each ear for
ear-level image–text alignment, and weak per-ear codes read from the impression.

Rules the rest of the package relies on (see also `report_lexicon.py` for the word lists):

* **Normalisation** first: traditional → simplified characters, NFKC (full-width digits, letters and
  spaces), then canonical Chinese punctuation (`,` → `，`, `;` → `；`, `:` → `：`, a `.` that is not a
  decimal point → `。`), spaces between Chinese characters removed, list numbers (`1、` `①`) dropped.
* **Sentences** end at 。；！？ or a line break; **clauses** are separated by ，. A clause that names two
  different sides without a comma (左侧鼓室积液、右侧鼓室清晰) is cut where the new side starts, so every
  `ReportClause` has exactly one side.
* **Laterality**: 左/左侧/左耳, 右/右侧/右耳, 双/双侧/两侧/双耳/左右两侧/左、右侧/左右对称 (bilateral), 对侧 (the
  opposite of the current side). Non-ear uses (中线结构左移, 偏左, 左心, 右侧卧位, "5mm左右") are masked first.
  A side carries over to the following clauses of the same sentence until a clause names a new one.
  A sentence with no side cue at all is *general* (side `None`) and is given to both ears; it never
  inherits the side of the previous sentence.
* **Negation** scope is the clause, forward from the cue (未见积液), or backward for 不明显 / 可能性小.
* **Hedges**: 可能/不除外/待排/疑/可疑/似/？ hedge their clause; 考虑/倾向 hedge their clause and the rest of
  the sentence; 结合临床/随诊/建议…检查 hedge the whole sentence.
* **Weak codes** come from the impression; only when the impression is empty are the findings used.
  Negated disease names are ignored, hedged ones are kept and flagged. 未见(明显)异常 / 正常 about the
  ear or its middle ear (not about the inner ear or facial canal alone) gives code 5. A side that is
  never mentioned stays `None`. A disease named without a side is not assigned to either ear; a
  normal statement without a side counts for both ears only when the impression names no side at all
  (the whole exam is normal). Several codes on one side: `CODE_PRIORITY` (2 > 4 > 6 > 1 > 3 > 5) picks
  the more specific one and the choice is written to `weak_code_notes`, except that a differential with no
  side of its own (左侧慢性中耳乳突炎，胆脂瘤待排) yields to the diagnosis it qualifies, and a sentence that says
  which diagnosis is more likely (胆脂瘤或慢性中耳炎，前者/后者可能性大; 以…可能性大; 倾向于…) makes the others
  differentials (`report_preference.py`).
* **Only ear text** gives codes: a report naming no ear or temporal-bone structure (`EAR_TERM_PATTERN`; a
  symptom such as 耳鸣/无耳鸣 is none) gets none (`is_ear_report` False, with a note), and in an ear report a
  clause about another organ or a neighbouring structure (颅内未见异常, 右侧腮腺占位) gives none, nor does a
  following clause of its sentence that names no structure (右侧扁桃体肿大，考虑占位), nor a sentence about
  the history (既往…病史).
* **Normal variant**: a side whose mastoid is poorly pneumatised or diploic (乳突气化不良, 乳突呈板障型), with
  no lesion on it and nothing else coding it, is code 5.
* **Explicitly normal side**: an ear the impression leaves unnamed is code 5 when the findings call it
  normal (右侧中耳乳突未见异常, 左侧未见明确异常, 对侧颞骨未见异常, or 清晰/气化良好/完整 on two middle-ear
  structures) and show no lesion on it; 余颞骨未见异常 in the impression covers the ears nothing else names.
* **Header-less** ear text is read as findings (with a note in `notes`); text over `MAX_REPORT_CHARS` or of
  punctuation only is refused.

Example:
    >>> report = parse_report(findings="左侧鼓室内见软组织影，听小骨骨质吸收。右侧鼓室清晰。",
    ...                       impression="左侧中耳胆脂瘤可能；右侧中耳未见明显异常。")
    >>> report.weak_codes, report.weak_code_uncertain["left"]
    ({'left': 2, 'right': 5}, True)
    >>> "软组织影" in report.side_texts["right"]
    False
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from .ear_classes import NORMAL_CODE
from .report_codes import EAR_SIDES, normal_in_findings, weak_codes_of
from .report_lexicon import (
    ATTRIBUTE_KEYS,
    BACKWARD_NEGATION_CUES,
    DIFFERENTIAL_CUES,
    DISEASE_CODES,
    EAR_TERM_PATTERN,
    ENTITY_KEYS,
    FINDINGS_HEADERS,
    HEDGE_CLAUSE_CUES,
    HEDGE_FORWARD_CUES,
    HEDGE_MASK,
    HEDGE_SENTENCE_PATTERN,
    HISTORY_PATTERN,
    IMPRESSION_HEADERS,
    INLINE_FINDINGS_CUE,
    NEGATION_CUES,
    NEGATION_MASK,
    NON_EAR_ORGAN_PATTERN,
    NON_EAR_SIDE_PATTERN,
    NORMAL_STATEMENT,
    OTHER_HEADERS,
    REST_NORMAL_CUE,
    SIDE_CUE_PATTERN,
    longest_first_pattern,
    to_simplified,
)
from .report_preference import prefer_stated
from .report_triples import is_negated_at, pairs

Side = Literal["left", "right", "bilateral"]
Section = Literal["findings", "impression"]


class ReportParseError(ValueError):
    """A report that cannot be parsed; the message names the source (file/row) and what was expected."""


@dataclass
class ReportClause:
    """One clause (text between ，) with a single side; `normal_statement` marks 未见明显异常-style text."""

    text: str
    side: Side | None
    negated: bool
    uncertain: bool
    normal_statement: bool = False


@dataclass
class ReportSentence:
    """One sentence. `side` summarises the clauses (left and right clauses together → "bilateral");
    `negated` is True when every clause is negated, `uncertain` when any clause is hedged."""

    text: str
    section: Section
    side: Side | None
    negated: bool
    uncertain: bool
    clauses: list[ReportClause] = field(default_factory=list)


@dataclass
class Finding:
    """An entity–attribute–side triple found in one clause, e.g. 听小骨 + 骨质吸收 + left.

    `entity`/`attribute` are the words as written; `entity_key`/`attribute_key` group synonyms
    (骨质吸收, 骨质破坏, 侵蚀 → "bone_erosion").
    """

    entity: str
    attribute: str
    side: Side | None
    negated: bool
    uncertain: bool
    sentence_index: int
    clause_index: int
    entity_key: str
    attribute_key: str


@dataclass
class DiseaseMention:
    """A disease name and the ear code it maps to, with the side/negation/hedge of its clause."""

    term: str
    code: int
    side: Side | None
    negated: bool
    uncertain: bool
    section: Section
    sentence_index: int
    clause_index: int
    differential: bool = False


@dataclass
class ParsedReport:
    """Everything the parser extracts; `dataclasses.asdict(report)` is JSON-serialisable."""

    findings: str
    impression: str
    normalized_text: str
    sentences: list[ReportSentence]
    triples: list[Finding]
    disease_mentions: list[DiseaseMention]
    side_texts: dict[str, str]
    weak_codes: dict[str, int | None]
    weak_code_uncertain: dict[str, bool]
    weak_code_source: Section | None
    weak_code_notes: list[str]
    other_sections: dict[str, str]
    source: str | None = None
    is_ear_report: bool = True
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# --------------------------------------------------------------------------------------------------
# Normalisation
_CJK = "\u4e00-\u9fff，。；：！？、（）【】“”"
_CIRCLED_NUMBER = re.compile("[\u2460-\u2473\u2776-\u277f]")  # ①..⑳, ❶..❿ start a list item
_LIST_NUMBER = re.compile(r"(^|[\n。；;：:】\]])[ \t]*[（(]?\d{1,2}[ \t]*[)）、.](?!\d)")
_TERMINATORS = "。；！？"
MAX_REPORT_CHARS = 100_000  # a radiology report is a few hundred characters; far more is a wrong column or file


def normalize_report_text(text: str) -> str:
    r"""Canonical form of a report: simplified characters, half-width digits, Chinese punctuation.

    Example:
        >>> normalize_report_text("左側鼓室內見軟組織影, 聽小骨破壞.  結論:1、左側中耳膽脂瘤")
        '左侧鼓室内见软组织影，听小骨破坏。\n结论：左侧中耳胆脂瘤'
    """
    text = _CIRCLED_NUMBER.sub("\n", text)
    text = to_simplified(unicodedata.normalize("NFKC", text))
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _LIST_NUMBER.sub(r"\1", text)
    for ascii_mark, chinese_mark in ((",", "，"), (";", "；"), ("!", "！"), ("?", "？"), ("(", "（"), (")", "）")):
        text = text.replace(ascii_mark, chinese_mark)
    text = re.sub(r"(?<!\d):|:(?!\d)", "：", text)  # keep 12:30
    text = re.sub(r"(?<!\d)\.|\.(?!\d)", "。", text)  # keep 0.6mm
    text = _SPACE_BEFORE_HEADER.sub("\n", text)
    text = re.sub(r"[^\S\n]+", " ", text)
    text = re.sub(rf" +(?=[{_CJK}])|(?<=[{_CJK}]) +", "", text)
    text = re.sub(r" *\n[ \n]*", "\n", text)
    text = re.sub(r"[，、 ]+(?=[。；！？\n]|$)|(?<=[。；！？\n])[，、 ]+|^[，、 ]+", "", text)
    text = re.sub(r"，{2,}", "，", text)
    text = re.sub(r"[。；！？]{2,}", lambda m: "？" if "？" in m.group() else m.group()[0], text)
    return text.strip()


# --------------------------------------------------------------------------------------------------
# Sections
_HEADER_KIND = {
    **{h: "other" for h in OTHER_HEADERS},
    **{h: "findings" for h in FINDINGS_HEADERS},
    **{h: "impression" for h in IMPRESSION_HEADERS},
}
_HEADER_WORDS = "|".join(re.escape(h) for h in sorted(_HEADER_KIND, key=len, reverse=True))
_HEADER_PATTERN = re.compile(
    rf"(?:【[ \t]*(?P<bracket>{_HEADER_WORDS})[ \t]*】|\[[ \t]*(?P<square>{_HEADER_WORDS})[ \t]*\]"
    rf"|(?:^|(?<=[\n。；！？】\]]))[ \t]*(?:(?P<colon>{_HEADER_WORDS})[ \t]*：|(?P<line>{_HEADER_WORDS})[ \t]*(?=\n)))"
    rf"[ \t]*：?"
)
# A space before "诊断：" marks a section start; it becomes a line break before spaces are dropped.
_SPACE_BEFORE_HEADER = re.compile(rf"[^\S\n]+(?=(?:{_HEADER_WORDS})[ \t]*：)")


def _where(source: str | None) -> str:
    return source if source else "report"


def _split_sections(text: str, source: str | None, notes: list[str]) -> tuple[str, str, dict[str, str]]:
    """Split a normalised single-text report into (findings, impression, other sections).

    Text with no header and no inline cue is read as findings when it is about the ear (a note says so).
    """
    headers = list(_HEADER_PATTERN.finditer(text))
    other: dict[str, str] = {}
    if not headers:
        cue = INLINE_FINDINGS_CUE.search(text)
        if cue is None:
            if EAR_TERM_PATTERN.search(text) is None:
                raise ReportParseError(
                    f"{_where(source)}: no report section found, and the text is not about the ear (no word such "
                    f"as 中耳, 鼓室, 乳突, 听小骨 or 颞骨); looked for the findings headers {list(FINDINGS_HEADERS)} "
                    f"and the impression headers {list(IMPRESSION_HEADERS)} (written as '影像所见：', '【影像所见】' "
                    f"or '[影像所见]') and for an inline cue such as '颞骨CT示'"
                )
            notes.append("no section header found; the whole text was read as findings (影像所见)")
            return text, "", other
        preamble = text[: cue.start()].strip("，。；\n ")
        if preamble:
            other["preamble"] = preamble
        return text[cue.end():].strip(), "", other

    bodies: dict[str, list[str]] = {"findings": [], "impression": []}
    for current, following in zip(headers, headers[1:] + [None]):
        word = current.group("bracket") or current.group("square") or current.group("colon") or current.group("line")
        body = text[current.end(): following.start() if following else len(text)].strip()
        kind = _HEADER_KIND[word]
        if kind == "other":
            other[word] = "\n".join(filter(None, [other.get(word, ""), body]))
        elif body:
            bodies[kind].append(body)
    leading = text[: headers[0].start()].strip()
    if leading:
        # "左侧鼓室…。诊断：…" — text before the first header is the findings when no findings header exists.
        if bodies["findings"]:
            other["preamble"] = leading
        else:
            cue = INLINE_FINDINGS_CUE.search(leading)
            if cue is not None and cue.start() > 0:
                other["preamble"] = leading[: cue.start()].strip("，。；\n ")
            bodies["findings"].insert(0, leading[cue.end():] if cue is not None else leading)
    return "\n".join(bodies["findings"]).strip(), "\n".join(bodies["impression"]).strip(), other


def _check_length(value: str, name: str, source: str | None) -> None:
    if len(value) > MAX_REPORT_CHARS:
        raise ReportParseError(f"{_where(source)}: {name} is {len(value):,} characters long; a report is expected to "
                               f"be under {MAX_REPORT_CHARS:,} (is this the right column or file?)")


def _column_text(value: object, name: str, header_kind: str, source: str | None) -> str:
    """Normalise one export column; a pandas NaN (empty cell) counts as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if not isinstance(value, str):
        raise ReportParseError(f"{_where(source)}: {name} must be a str or None, got {type(value).__name__} {value!r}")
    _check_length(value, name, source)
    text = normalize_report_text(value)
    if not re.search(r"\w", text):  # only punctuation: nothing to read
        return ""
    header = _HEADER_PATTERN.match(text)
    if header is not None:
        word = header.group("bracket") or header.group("square") or header.group("colon") or header.group("line")
        if _HEADER_KIND[word] == header_kind:  # a column that repeats its own header
            text = text[header.end():].strip()
    return text


# --------------------------------------------------------------------------------------------------
# Sentences and clauses
_ENTITY_PATTERN = longest_first_pattern(ENTITY_KEYS)
_DISEASE_PATTERN = longest_first_pattern(DISEASE_CODES)
_NEGATION_PATTERN = longest_first_pattern(NEGATION_CUES)
_BACKWARD_NEGATION_PATTERN = longest_first_pattern(BACKWARD_NEGATION_CUES)
_OPPOSITE = {"left": "right", "right": "left"}


def _mask(text: str, pattern: re.Pattern[str]) -> str:
    """Replace the spans of `pattern` with □ so that positions stay aligned with `text`."""
    return pattern.sub(lambda m: "□" * len(m.group()), text)


def _split_by_side(clause: str, carried: Side | None, reference: Side | None) -> list[tuple[str, Side | None]]:
    """Cut a clause where it switches side; returns [(segment text, side)].

    `reference` is the last side named before this sentence; only 对侧 ("the other side") uses it.
    """
    masked = _mask(clause, NON_EAR_SIDE_PATTERN)
    segments: list[tuple[int, Side | None]] = [(0, carried)]
    has_cue = False
    for cue in SIDE_CUE_PATTERN.finditer(masked):
        current = segments[-1][1]
        if cue.lastgroup == "opposite":
            side = _OPPOSITE.get(current or reference or "")  # type: ignore[assignment]
        else:
            side = cue.lastgroup
        if not has_cue:  # the first cue names the side of everything before it in the clause
            segments[-1] = (0, side)
            has_cue = True
        elif side != current:
            segments.append((cue.start(), side))
    bounds = [start for start, _ in segments[1:]] + [len(clause)]
    pieces = [(clause[start:end].strip("、 "), side) for (start, side), end in zip(segments, bounds)]
    return [(text, side) for text, side in pieces if text]


def _split_sentences(section_text: str) -> list[str]:
    sentences = []
    for piece in re.findall(rf"[^{_TERMINATORS}\n]+[{_TERMINATORS}]?", section_text):
        sentence = piece.rstrip("。；！").strip("，、 ")
        if sentence and sentence != "？":
            sentences.append(sentence)
    return sentences


@dataclass
class _SentenceAnalysis:
    sentence: ReportSentence
    triples: list[Finding]
    mentions: list[DiseaseMention]
    entity_keys: list[set[str]]  # entity keys per clause, for the normal-statement rule
    non_ear_clauses: set[int] = field(default_factory=set)  # clauses about another organ (颅内未见异常)
    history: bool = False  # a sentence about the patient's history (既往左耳中耳炎病史) gives no code
    notes: list[str] = field(default_factory=list)  # which diagnosis a differential prefers (前者可能性大)


def _analyse_sentence(
    text: str, section: Section, sentence_index: int, reference_side: Side | None = None
) -> _SentenceAnalysis:
    sentence_hedged = HEDGE_SENTENCE_PATTERN.search(text) is not None
    forward_hedge_seen = False
    carried_side: Side | None = None
    carried_entities: list[re.Match[str]] = []
    carried_entity_side: Side | None = None
    clauses: list[ReportClause] = []
    triples: list[Finding] = []
    mentions: list[DiseaseMention] = []
    entity_keys: list[set[str]] = []
    non_ear_clauses: set[int] = set()
    other_topic = False  # the last clause that named a structure named one that is not the ear

    for comma_clause in filter(None, (c.strip("、 ") for c in text.split("，"))):
        hedge_text = _mask(comma_clause, HEDGE_MASK)
        forward_hedge_seen |= any(cue in hedge_text for cue in HEDGE_FORWARD_CUES)
        clause_hedged = sentence_hedged or forward_hedge_seen or any(cue in hedge_text for cue in HEDGE_CLAUSE_CUES)
        # A differential with no side of its own (左侧中耳乳突炎，胆脂瘤待排) qualifies the diagnosis before it.
        differential = any(cue in hedge_text for cue in DIFFERENTIAL_CUES) and not SIDE_CUE_PATTERN.search(
            _mask(comma_clause, NON_EAR_SIDE_PATTERN))
        for segment, side in _split_by_side(comma_clause, carried_side, reference_side):
            carried_side = side
            clause_index = len(clauses)
            if EAR_TERM_PATTERN.search(segment):
                other_topic = False
            elif NON_EAR_ORGAN_PATTERN.search(segment):
                other_topic = True
            if other_topic and not (REST_NORMAL_CUE.search(segment) and not NON_EAR_ORGAN_PATTERN.search(segment)):
                non_ear_clauses.add(clause_index)  # 右侧扁桃体肿大，考虑占位: both clauses are about the tonsil
            negation_text = _mask(segment, NEGATION_MASK)
            forward = [m.start() for m in _NEGATION_PATTERN.finditer(negation_text)]
            backward = [m.start() for m in _BACKWARD_NEGATION_PATTERN.finditer(negation_text)]
            clauses.append(
                ReportClause(
                    text=segment,
                    side=side,
                    negated=bool(forward or backward),
                    uncertain=clause_hedged,
                    normal_statement=NORMAL_STATEMENT.search(segment) is not None,
                )
            )
            entities = list(_ENTITY_PATTERN.finditer(segment))
            entity_keys.append({ENTITY_KEYS[m.group()] for m in entities})
            carried = carried_entities if not entities and carried_entity_side == side else []
            for entity, attribute, negated in pairs(segment, entities, carried, forward, backward):
                triples.append(
                    Finding(
                        entity=entity,
                        attribute=attribute,
                        side=side,
                        negated=negated,
                        uncertain=clause_hedged,
                        sentence_index=sentence_index,
                        clause_index=clause_index,
                        entity_key=ENTITY_KEYS[entity],
                        attribute_key=ATTRIBUTE_KEYS[attribute],
                    )
                )
            if entities:  # a later clause without an entity (…，未见骨质破坏) refers to these
                carried_entities, carried_entity_side = entities, side
            for disease in _DISEASE_PATTERN.finditer(segment):
                mentions.append(
                    DiseaseMention(
                        term=disease.group(),
                        code=DISEASE_CODES[disease.group()],
                        side=side,
                        negated=is_negated_at(disease.start(), disease.end(), forward, backward),
                        uncertain=clause_hedged,
                        section=section,
                        sentence_index=sentence_index,
                        clause_index=clause_index,
                        differential=differential,
                    )
                )

    sides = {c.side for c in clauses if c.side is not None}
    summary_side: Side | None
    if not sides:
        summary_side = None
    elif len(sides) == 1:
        summary_side = next(iter(sides))
    else:
        summary_side = "bilateral"
    sentence = ReportSentence(
        text=text,
        section=section,
        side=summary_side,
        negated=bool(clauses) and all(c.negated for c in clauses),
        uncertain=any(c.uncertain for c in clauses),
        clauses=clauses,
    )
    history = HISTORY_PATTERN.search(text) is not None
    notes = prefer_stated(sentence, mentions)
    return _SentenceAnalysis(sentence, triples, mentions, entity_keys, non_ear_clauses, history, notes)


# --------------------------------------------------------------------------------------------------
# Side texts and weak codes
def _side_texts(sentences: list[ReportSentence]) -> dict[str, str]:
    texts: dict[str, str] = {}
    for ear in EAR_SIDES:
        kept_sentences = []
        for sentence in sentences:  # findings come before impression in `sentences`
            kept = [c.text for c in sentence.clauses if c.side in (ear, "bilateral", None)]
            if kept:
                joined = "，".join(kept)
                kept_sentences.append(joined if joined.endswith("？") else joined + "。")
        texts[ear] = "".join(kept_sentences)
    return texts


# --------------------------------------------------------------------------------------------------
def parse_report(
    text: str | None = None,
    *,
    findings: str | None = None,
    impression: str | None = None,
    source: str | None = None,
) -> ParsedReport:
    """Parse one report given either as a single `text` with headers or as the two export columns.

    Args:
        text: the whole report; sections are found by headers (影像所见：…检查结论：…, 【影像所见】, [诊断])
            or, with no header, by an inline cue such as 颞骨CT示 (then it is all findings).
        findings: the 影像所见 column (used with `impression` instead of `text`).
        impression: the 检查结论 column.
        source: where the report comes from (e.g. "row 17 of export.xlsx"), named in every error.

    Returns:
        A `ParsedReport` (see the module docstring for the rules).

    Raises:
        ReportParseError: empty report, no recognisable section, both or neither input forms given,
            or a non-text value.

    Example:
        >>> r = parse_report("影像所见：双侧外耳道通畅。左侧鼓室及鼓窦内见软组织密度影。检查结论：左侧中耳乳突炎。")
        >>> [(t.entity, t.attribute, t.side) for t in r.triples]
        [('外耳道', '通畅', 'bilateral'), ('鼓室', '软组织密度影', 'left'), ('鼓窦', '软组织密度影', 'left')]
        >>> r.weak_codes
        {'left': 1, 'right': None}
    """
    where = _where(source)
    if text is not None and (findings is not None or impression is not None):
        raise ReportParseError(f"{where}: pass either `text` or the `findings`/`impression` columns, not both")
    other_sections: dict[str, str] = {}
    notes: list[str] = []
    if text is not None or (findings is None and impression is None):
        if text is not None and not isinstance(text, str):
            raise ReportParseError(f"{where}: text must be a str, got {type(text).__name__} {text!r}")
        _check_length(text or "", "the report text", source)
        normalized = normalize_report_text(text or "")
        if not re.search(r"\w", normalized):
            raise ReportParseError(f"{where}: empty report (no text{', only punctuation' if normalized else ''})")
        findings_text, impression_text, other_sections = _split_sections(normalized, source, notes)
    else:
        findings_text = _column_text(findings, "findings (影像所见)", "findings", source)
        impression_text = _column_text(impression, "impression (检查结论)", "impression", source)
        normalized = "\n".join(
            f"{header}：{body}" for header, body in (("影像所见", findings_text), ("检查结论", impression_text)) if body
        )
    if not findings_text and not impression_text:
        written = any(isinstance(v, str) and v.strip() for v in (findings, impression))
        raise ReportParseError(f"{where}: empty report (both 影像所见 and 检查结论 are empty"
                               f"{'; they hold only punctuation' if written else ''})")

    analyses: list[_SentenceAnalysis] = []
    for section, body in (("findings", findings_text), ("impression", impression_text)):
        last_side: Side | None = None  # what 对侧 in a later sentence refers to
        for sentence_text in _split_sentences(body):
            analysis = _analyse_sentence(sentence_text, section, len(analyses), last_side)  # type: ignore[arg-type]
            analyses.append(analysis)
            named = [c.side for c in analysis.sentence.clauses if c.side is not None]
            last_side = named[-1] if named else last_side
    sentences = [a.sentence for a in analyses]
    code_section: Section = "impression" if impression_text else "findings"
    is_ear_report = EAR_TERM_PATTERN.search(f"{findings_text}\n{impression_text}") is not None
    if is_ear_report:
        weak_codes, weak_uncertain, code_notes = weak_codes_of(analyses, code_section)
    else:
        weak_codes, weak_uncertain = dict.fromkeys(EAR_SIDES, None), dict.fromkeys(EAR_SIDES, False)
        code_notes = ["not an ear report: it names no ear or temporal-bone structure (such as 中耳, 鼓室, 乳突, "
                      "听小骨, 内耳 or 颞骨); no weak code is given"]
    if code_section == "findings":
        code_notes.insert(0, "impression is empty; weak codes read from the findings")
    elif is_ear_report:
        for ear in EAR_SIDES:
            why = normal_in_findings(analyses, ear) if weak_codes[ear] is None else None
            if why is not None:
                weak_codes[ear], weak_uncertain[ear] = NORMAL_CODE, False
                code_notes.append(f"{ear}: the impression does not name this side; code {NORMAL_CODE} because {why}")
    return ParsedReport(
        findings=findings_text,
        impression=impression_text,
        normalized_text=normalized,
        sentences=sentences,
        triples=[t for a in analyses for t in a.triples],
        disease_mentions=[m for a in analyses for m in a.mentions],
        side_texts=_side_texts(sentences),
        weak_codes=weak_codes,
        weak_code_uncertain=weak_uncertain,
        weak_code_source=code_section,
        weak_code_notes=code_notes,
        other_sections=other_sections,
        source=source,
        is_ear_report=is_ear_report,
        notes=notes,
    )
